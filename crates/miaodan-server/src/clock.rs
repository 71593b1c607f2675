//! The one place the shell reads the wall clock. The core only ever sees the `Timestamp`s
//! handed to it. Per shard, time is kept monotonic (see `sequencer`).

use miaodan_domain::Timestamp;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Added to the wall clock. Zero in production; tests (and a demo that wants to show a cutoff
/// or a timed-out parcel without waiting hours) move the platform's time with [`set_offset`].
/// Shards keep their time monotonic, so moving it back is seen as standing still.
static OFFSET_MS: AtomicI64 = AtomicI64::new(0);

pub fn now() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let wall = i64::try_from(ms).unwrap_or(i64::MAX);
    Timestamp::from_unix_ms(wall.saturating_add(OFFSET_MS.load(Ordering::Relaxed)))
}

/// Makes the platform's clock read `offset_ms` ahead of the wall clock (process-wide).
pub fn set_offset(offset_ms: i64) {
    OFFSET_MS.store(offset_ms, Ordering::Relaxed);
}

/// Moves the platform's clock forward by `ms`.
pub fn advance(ms: i64) {
    OFFSET_MS.fetch_add(ms.max(0), Ordering::Relaxed);
}

/// Makes the platform's clock read `at` now (and run on from there).
pub fn travel_to(at: Timestamp) {
    set_offset(0);
    set_offset(at.unix_ms() - now().unix_ms());
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
