//! The one place the shell reads the wall clock. The core only ever sees the `Timestamp`s
//! handed to it. Per shard, time is kept monotonic (see `sequencer`).
//!
//! A [`Clock`] belongs to one running platform ([`crate::app::Inner::clock`], taken from
//! [`crate::Config::clock`]) and is handed to whoever needs time: the shard tasks, the payment
//! worker, the handlers, the demo and the benchmarks. Tests move *their own* platform's clock
//! ([`Clock::advance`], [`Clock::travel_to`]); another platform in the same process keeps its
//! time, so tests that travel in time run in parallel.

use miaodan_domain::Timestamp;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The wall clock plus an offset. Clones share the offset: moving one moves the platform's
/// time for everything that holds a clone (a restart on the same [`crate::Config`] included).
#[derive(Clone, Default)]
pub struct Clock {
    /// Added to the wall clock, in ms. Zero in production; tests (and a demo that wants to show
    /// a cutoff or a timed-out parcel without waiting hours) move it. Shards keep their time
    /// monotonic, so moving it back is seen as standing still.
    offset_ms: Arc<AtomicI64>,
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clock")
            .field("offset_ms", &self.offset_ms.load(Ordering::Relaxed))
            .finish()
    }
}

impl Clock {
    /// The wall clock, not moved.
    pub fn system() -> Clock {
        Clock::default()
    }

    /// A clock that reads `at` now and runs on from there.
    pub fn starting_at(at: Timestamp) -> Clock {
        let clock = Clock::system();
        clock.travel_to(at);
        clock
    }

    pub fn now(&self) -> Timestamp {
        Timestamp::from_unix_ms(wall_ms().saturating_add(self.offset_ms.load(Ordering::Relaxed)))
    }

    /// Makes this clock read `offset_ms` ahead of the wall clock.
    pub fn set_offset(&self, offset_ms: i64) {
        self.offset_ms.store(offset_ms, Ordering::Relaxed);
    }

    /// Moves this clock forward by `ms` (a negative `ms` does nothing).
    pub fn advance(&self, ms: i64) {
        self.offset_ms.fetch_add(ms.max(0), Ordering::Relaxed);
    }

    /// Makes this clock read `at` now (and run on from there).
    pub fn travel_to(&self, at: Timestamp) {
        self.set_offset(at.unix_ms() - wall_ms());
    }
}

fn wall_ms() -> i64 {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// RFC 3339 in UTC, e.g. `2026-11-22T09:30:00.123Z`.
pub fn rfc3339(at: Timestamp) -> String {
    jiff::Timestamp::from_millisecond(at.unix_ms())
        .map(|t| t.to_string())
        .unwrap_or_default()
}

pub fn parse_rfc3339(raw: &str) -> Option<Timestamp> {
    if !rfc3339_shape(raw.as_bytes()) {
        return None;
    }
    let parsed: jiff::Timestamp = raw.parse().ok()?;
    Some(Timestamp::from_unix_ms(parsed.as_millisecond()))
}

/// Whether `raw` is written as RFC 3339 says (`2026-11-22T20:00:00.5+08:00`), fields in
/// range: what the OpenAPI document's pattern says (`http::schema::INSTANT_PATTERN`). jiff
/// alone would also take a space for the `T`, a missing second or a time-zone annotation.
fn rfc3339_shape(raw: &[u8]) -> bool {
    let number = |at: usize, len: usize| -> Option<u32> {
        let digits = raw.get(at..at + len)?;
        digits
            .iter()
            .all(u8::is_ascii_digit)
            .then(|| digits.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
    };
    let at = |i: usize, byte: u8| raw.get(i) == Some(&byte);
    let date_time = number(0, 4).is_some()
        && at(4, b'-')
        && number(5, 2).is_some_and(|m| (1..=12).contains(&m))
        && at(7, b'-')
        && number(8, 2).is_some_and(|d| (1..=31).contains(&d))
        && at(10, b'T')
        && number(11, 2).is_some_and(|h| h < 24)
        && at(13, b':')
        && number(14, 2).is_some_and(|m| m < 60)
        && at(16, b':')
        && number(17, 2).is_some_and(|s| s < 60);
    if !date_time {
        return false;
    }
    let mut i = 19;
    if at(i, b'.') {
        let digits = raw[i + 1..].iter().take_while(|b| b.is_ascii_digit()).count();
        if !(1..=9).contains(&digits) {
            return false;
        }
        i += 1 + digits;
    }
    match raw.get(i) {
        Some(b'Z') => raw.len() == i + 1,
        Some(b'+' | b'-') => {
            raw.len() == i + 6
                && number(i + 1, 2).is_some_and(|h| h < 24)
                && at(i + 3, b':')
                && number(i + 4, 2).is_some_and(|m| m < 60)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moving_one_clock_leaves_another_where_it_was() {
        let moved = Clock::system();
        let other = Clock::system();
        let at = Timestamp::from_unix_ms(4_102_444_800_000); // 2100-01-01
        moved.travel_to(at);
        assert!(moved.now().unix_ms() >= at.unix_ms());
        assert!(other.now().unix_ms() < at.unix_ms());
        let shared = moved.clone();
        shared.advance(60_000);
        assert!(moved.now().unix_ms() >= at.unix_ms() + 60_000);
    }
}
