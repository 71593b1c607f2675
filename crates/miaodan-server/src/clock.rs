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
    let parsed: jiff::Timestamp = raw.parse().ok()?;
    Some(Timestamp::from_unix_ms(parsed.as_millisecond()))
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
