//! Risk: telling scalper rings and fraud from honest buyers in the order path, in memory, per
//! shard, fast enough to sit in front of a flash sale's tap. A flash sale's first enemy is
//! not load but scripts that tap with hundreds of accounts at the start's millisecond and
//! resell; what gives them away is what their accounts share (a device, a flat, a card) and
//! how they tap.
//!
//! Each request gets a verdict — allow, review, challenge or block — with a score and the
//! named rules that fired ([`rules`]: versioned data over a closed set of signals), from what
//! the shard's [`RiskBook`] remembers of recent requests. Its parts:
//! - [`address`]: one key per flat however its address is written (Chinese address variants);
//! - [`links`]: the transaction network: buyers joined into clusters by shared devices,
//!   addresses and payment credentials, bounded in memory;
//! - `book`: velocity per buyer and IP prefix, tap timing and rhythm, and the assessment;
//! - [`passes`]: buyers who stepped up after a challenge, let through once as a review;
//! - [`hash`]: the keyed hashing of every map above.
//!
//! Like the rest of the core they do no IO and read no clock; every bound is a constant or a
//! constructor argument, and what happens when it is hit is documented where it is enforced.

pub mod address;
mod book;
pub mod hash;
pub mod links;
pub mod passes;
pub mod rules;

pub use address::{AddressKey, address_key, canonical_detail};
pub use book::{
    Assessment, BuyerHistory, ClientSignals, DECISION_REPEAT_MS, FiredRule, RETURN_PARCEL_GRACE_MS, RiskBook,
    RiskDecision, RiskRequest, Screened, Screening, Subject,
};
pub use hash::RiskHashKey;
pub use links::{LinkKey, Linked, Links};
pub use passes::{PASSES_MAX, Passes};
pub use rules::{HISTORY_ORDERS_FOR_RATE_MIN, RULES_PER_SET_MAX, Rule, RuleSet, RuleSetProblem, Signal, Verdict};
/// The hash maps of risk's memory: looked up about fifteen times a tap, with keys a client
/// chooses (a device id), so hashed fast but keyed per process ([`hash`]).
pub(crate) type RiskMap<K, V> = std::collections::HashMap<K, V, hash::RiskHashing>;
pub(crate) type RiskSet<K> = std::collections::HashSet<K, hash::RiskHashing>;

/// A stable 64-bit fingerprint (FNV-1a) of what a request says of its sender — a device id, an
/// IP prefix, a credential — under a `tag` that keeps kinds apart: risk keeps fingerprints,
/// never the values.
pub fn fingerprint(tag: u8, bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    std::iter::once(tag)
        .chain(bytes.iter().copied())
        .fold(OFFSET, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(PRIME))
}

/// Whether risk decides requests. A shard starts with risk off: the shell sets its policy
/// (`miaodan serve` turns it on unless told otherwise).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RiskMode {
    /// Nothing is scored (costs nothing).
    #[default]
    Off,
    /// Every request is scored and counted; none is refused.
    Shadow,
    /// Requests whose verdict refuses (challenge, block) are refused.
    On,
}

impl RiskMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RiskMode::Off => "off",
            RiskMode::Shadow => "shadow",
            RiskMode::On => "on",
        }
    }
}

/// A request refused by risk: holds no units and moves no money.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RiskRefusal {
    /// [`Verdict::Challenge`] (the client may step up) or [`Verdict::Block`].
    pub verdict: Verdict,
    pub score: u32,
}

impl RiskRefusal {
    pub fn code(self) -> &'static str {
        match self.verdict {
            Verdict::Block => "risk_blocked",
            _ => "risk_challenge",
        }
    }
}
