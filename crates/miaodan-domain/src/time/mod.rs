//! Instants. The core never reads a clock: every command carries `now` as a [`Timestamp`], an
//! instant in UTC with millisecond precision (unix epoch milliseconds).

pub mod shanghai;

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_unix_ms(ms: i64) -> Timestamp {
        Timestamp(ms)
    }

    pub const fn unix_ms(self) -> i64 {
        self.0
    }

    /// This instant plus `seconds`, saturating rather than wrapping at the end of time.
    pub fn plus_seconds(self, seconds: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(seconds.saturating_mul(1000)))
    }
}
