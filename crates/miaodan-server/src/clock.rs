//! The one place the shell reads the wall clock. The core only ever sees the `Timestamp`s
//! handed to it. Per shard, time is kept monotonic (see `sequencer`).

use miaodan_domain::Timestamp;
use std::time::{SystemTime, UNIX_EPOCH};

pub fn now() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    Timestamp::from_unix_ms(i64::try_from(ms).unwrap_or(i64::MAX))
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
