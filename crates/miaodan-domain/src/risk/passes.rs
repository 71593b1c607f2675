//! Step-up passes: a buyer who answered a challenge (a captcha, a confirmation in the app) holds
//! a pass until an expiry, and the next request of theirs that risk would challenge goes through
//! as a review instead — once: the pass is used up by the request it lets through. A pass never
//! turns a block into anything else.
//!
//! **Bound.** At most [`PASSES_MAX`] buyers hold a pass in one book. Granting one more to a full
//! map drops the pass that expires first (an expired one, if any has: the core reads no clock,
//! and what expires first is what is or soon will be worthless); a buyer who lost an unexpired
//! pass that way is challenged again and answers again, which costs them a moment and the
//! platform nothing. Granting is rare (a person answering a question), so the O(n) scan of a
//! full map is not on the tap's path; a tap only looks its buyer up, and only when its verdict
//! is a challenge. A pass is dropped when used or found expired.

use super::RiskMap;
use super::hash::{RiskHashKey, RiskHashing};
use crate::ids::BuyerId;
use crate::time::Timestamp;

/// Buyers holding a pass in one book, at most.
pub const PASSES_MAX: usize = 1 << 16;

/// Each buyer's pass expiry (Unix ms), bounded by a maximum number of buyers.
#[derive(Clone, Debug)]
pub struct Passes {
    // Looked up, and swept when full; never iterated into output.
    until_ms: RiskMap<BuyerId, i64>,
    max: usize,
}

impl Default for Passes {
    fn default() -> Self {
        Passes::keyed(PASSES_MAX, RiskHashKey::FIXED)
    }
}

impl Passes {
    /// An empty map of at most `max` passes (at least 1), hashed under `key`.
    pub fn keyed(max: usize, key: RiskHashKey) -> Passes {
        Passes {
            until_ms: RiskMap::with_hasher(RiskHashing::new(key)),
            max: max.max(1),
        }
    }

    /// Gives `buyer` a pass until `until` (a later grant replaces an earlier one).
    pub fn grant(&mut self, buyer: BuyerId, until: Timestamp) {
        if self.until_ms.len() >= self.max && !self.until_ms.contains_key(&buyer) {
            self.drop_first_to_expire();
        }
        self.until_ms.insert(buyer, until.unix_ms());
    }

    /// Uses up `buyer`'s pass if it holds one that has not expired at `now`; whether it did.
    /// An expired pass is dropped either way.
    pub fn take(&mut self, buyer: BuyerId, now: Timestamp) -> bool {
        if self.until_ms.is_empty() {
            return false;
        }
        self.until_ms.remove(&buyer).is_some_and(|until| now.unix_ms() < until)
    }

    /// Whether `buyer` holds an unexpired pass at `now` (without using it).
    pub fn holds(&self, buyer: BuyerId, now: Timestamp) -> bool {
        self.until_ms.get(&buyer).is_some_and(|until| now.unix_ms() < *until)
    }

    /// Passes held now (expired ones not yet dropped included).
    pub fn len(&self) -> usize {
        self.until_ms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.until_ms.is_empty()
    }

    /// Drops the pass that expires first (the smallest buyer id among equals, so the same map
    /// drops the same pass).
    fn drop_first_to_expire(&mut self) {
        let first = self
            .until_ms
            .iter()
            .min_by_key(|(buyer, until)| (**until, buyer.get()))
            .map(|(buyer, _)| *buyer);
        if let Some(buyer) = first {
            self.until_ms.remove(&buyer);
        }
    }
}
