//! The transaction network: buyers joined by what they share (a device, a delivery address,
//! a payment credential) into connected clusters. A ring of scalper accounts looks like many
//! strangers one tap at a time; it shows as one large cluster here.
//!
//! A union-find (path compression, union by size) over buyer slots: every key remembers the
//! first buyer that used it, and a later buyer of the key is joined to that buyer's cluster, so
//! `link` costs O(α(n)) amortised. The maps grow as buyers and keys come, up to the bounds
//! (sizing them to the bounds up front would give every shard hundreds of megabytes it may
//! never use, and a fresh network seconds of page faults).
//!
//! **Bounds and eviction.** At most `max_buyers` buyers, `max_keys` keys and
//! `max_buyers + max_keys` distinct (key, buyer) uses are remembered. When a new buyer, key or
//! use would pass a bound, the oldest quarter of the uses (by first use; a repeated use does
//! not refresh one) is forgotten and the union-find is rebuilt from the uses that remain, in
//! their order. Buyers and keys left without a use are forgotten with them, and a cluster held
//! together only by a forgotten use falls apart. A rebuild costs O(uses) and happens at most
//! once per quarter of the bound, so `link` stays O(α(n)) amortised. Forgetting the oldest
//! first suits a flash sale: the ring tapping now is in the newest uses.
//!
//! Next to each buyer's slot the network keeps the risk book's trail of that buyer's taps
//! ([`Links::trail_of`]): a tap finds its buyer here once instead of once more in a map of its
//! own, and a trail is forgotten with its buyer's last use (a rebuild moves it to the buyer's
//! new slot).
//!
//! **Invariant:** every remembered buyer and key has at least one remembered use, and two
//! buyers are in one cluster exactly when the remembered uses connect them.

use super::address::AddressKey;
use super::book::{MINUTE_MS, Trail, Window};
use super::hash::{RiskHashKey, RiskHashing};
use super::{RiskMap, RiskSet};
use crate::ids::BuyerId;
use std::collections::VecDeque;
use std::collections::hash_map::Entry;

/// What two buyers can share. Devices and credentials are hashed by the shell (a `Device-Id`
/// header, a card fingerprint); the core never sees the raw value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LinkKey {
    Device(u64),
    Address(AddressKey),
    Credential(u64),
}

/// A buyer's place in the union-find.
type Slot = u32;

/// The first keys a buyer used, kept inline (most buyers use two or three).
#[derive(Clone, Copy, Debug, Default)]
struct FirstKeys([Option<LinkKey>; 3]);

impl FirstKeys {
    fn contains(&self, key: LinkKey) -> bool {
        self.0.contains(&Some(key))
    }

    fn is_full(&self) -> bool {
        self.0[2].is_some()
    }

    /// Adds `key` if there is room; whether there was.
    fn push(&mut self, key: LinkKey) -> bool {
        match self.0.iter_mut().find(|k| k.is_none()) {
            Some(free) => {
                *free = Some(key);
                true
            }
            None => false,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct KeyUse {
    /// The buyer that used the key first (among the remembered uses): later users join it.
    first: Slot,
    /// Distinct remembered buyers of the key.
    buyers: u32,
    /// Its requests over the last minute ([`Links::link_at`]); a rebuild starts it again.
    recent: Window,
}

/// What linking a buyer to a key answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Linked {
    /// The buyer's cluster size after the link.
    pub cluster: u32,
    /// Distinct remembered buyers of the key.
    pub key_buyers: u32,
    /// Requests through the key in the last minute, this one included (0 when not timed).
    pub key_per_minute: u32,
}

/// Buyers joined into clusters by the keys they share, within fixed bounds.
#[derive(Clone, Debug)]
pub struct Links {
    max_buyers: usize,
    max_keys: usize,
    max_uses: usize,
    /// Looked up, never iterated into output.
    slots: RiskMap<BuyerId, Slot>,
    /// Looked up, never iterated into output.
    keys: RiskMap<LinkKey, KeyUse>,
    /// Looked up, never iterated into output: which buyer used which key already, for the
    /// keys past a buyer's first few (those are in `first_keys`).
    uses: RiskSet<(LinkKey, BuyerId)>,
    /// Per slot, the first keys its buyer used: an honest buyer's flat, device and card are
    /// found here, next to its slot, without a lookup in `uses`.
    first_keys: Vec<FirstKeys>,
    /// The remembered uses, oldest first: the eviction order and what a rebuild replays.
    order: VecDeque<(LinkKey, BuyerId)>,
    buyer_of_slot: Vec<BuyerId>,
    parent: Vec<Slot>,
    size: Vec<u32>,
    /// Per slot, the risk book's trail of its buyer's taps; carried over a rebuild.
    trails: Vec<Trail>,
    /// The buyer the last link was for, and its slot: the book reads that buyer's trail
    /// right after linking it, without looking it up again.
    last_linked: Option<(BuyerId, Slot)>,
}

impl Links {
    /// An empty network that remembers at most `max_buyers` buyers and `max_keys` keys (each
    /// at least 1).
    pub fn with_capacity(max_buyers: usize, max_keys: usize) -> Links {
        Links::keyed(max_buyers, max_keys, RiskHashKey::FIXED)
    }

    /// [`Links::with_capacity`], its maps hashed under `key` (a server's own).
    pub fn keyed(max_buyers: usize, max_keys: usize, key: RiskHashKey) -> Links {
        assert!(
            max_buyers >= 1 && max_keys >= 1,
            "a network must hold a buyer and a key"
        );
        assert!(max_buyers <= Slot::MAX as usize, "a buyer slot is a u32");
        let max_uses = max_buyers + max_keys;
        Links {
            max_buyers,
            max_keys,
            max_uses,
            slots: RiskMap::with_hasher(RiskHashing::new(key)),
            keys: RiskMap::with_hasher(RiskHashing::new(key)),
            uses: RiskSet::with_hasher(RiskHashing::new(key)),
            first_keys: Vec::new(),
            order: VecDeque::new(),
            buyer_of_slot: Vec::new(),
            parent: Vec::new(),
            size: Vec::new(),
            trails: Vec::new(),
            last_linked: None,
        }
    }

    /// Records that `buyer` used `key`; joins their clusters. Returns the buyer's cluster size after.
    pub fn link(&mut self, buyer: BuyerId, key: LinkKey) -> u32 {
        self.link_counting(buyer, key).0
    }

    /// [`Links::link`], also answering how many distinct buyers used `key` after it — what
    /// [`Links::buyers_of`] answers, without looking the key up again (a tap links two or
    /// three keys; each lookup saved is a tap's nanoseconds).
    pub fn link_counting(&mut self, buyer: BuyerId, key: LinkKey) -> (u32, u32) {
        let linked = self.link_timed(buyer, key, None);
        (linked.cluster, linked.key_buyers)
    }

    /// [`Links::link_counting`] for a request at `at_ms`, also counting it in the key's
    /// sliding minute (a device, a flat or a card's velocity), in the key's entry the link
    /// touches anyway.
    pub fn link_at(&mut self, buyer: BuyerId, key: LinkKey, at_ms: i64) -> Linked {
        self.link_timed(buyer, key, Some(at_ms))
    }

    fn link_timed(&mut self, buyer: BuyerId, key: LinkKey, at_ms: Option<i64>) -> Linked {
        let known = self.slots.get(&buyer).copied();
        let (slot, key_buyers, key_per_minute) = match known {
            Some(slot) if self.has_use(slot, buyer, key) => {
                let (buyers, per_minute) = match self.keys.get_mut(&key) {
                    Some(used) => (used.buyers, at_ms.map_or(0, |at| used.recent.count(at, MINUTE_MS))),
                    None => (0, 0),
                };
                (slot, buyers, per_minute)
            }
            _ => {
                self.make_room_for(buyer, key);
                self.remember(buyer, key, at_ms)
            }
        };
        self.last_linked = Some((buyer, slot));
        let root = self.find_compressing(slot);
        Linked {
            cluster: self.size[root as usize],
            key_buyers,
            key_per_minute: u32::try_from(key_per_minute).unwrap_or(u32::MAX),
        }
    }

    /// The trail of a remembered buyer's taps (the risk book's; `None` for a buyer with no
    /// remembered use). Forgotten with the buyer's last use.
    pub(crate) fn trail_of(&mut self, buyer: BuyerId) -> Option<&mut Trail> {
        let slot = match self.last_linked {
            Some((last, slot)) if last == buyer => slot,
            _ => *self.slots.get(&buyer)?,
        };
        self.trails.get_mut(slot as usize)
    }

    /// The number of buyers in `buyer`'s cluster: 1 for a buyer never seen (or forgotten).
    pub fn cluster_size(&self, buyer: BuyerId) -> u32 {
        match self.slots.get(&buyer) {
            Some(slot) => self.size[self.find(*slot) as usize],
            None => 1,
        }
    }

    /// How many distinct remembered buyers used `key`.
    pub fn buyers_of(&self, key: LinkKey) -> u32 {
        self.keys.get(&key).map_or(0, |k| k.buyers)
    }

    /// The members of the buyer's cluster, at most `limit`, lowest ids first, for an
    /// explanation (it walks every remembered buyer: not for the hot path).
    pub fn cluster_members(&self, buyer: BuyerId, limit: usize) -> Vec<BuyerId> {
        let Some(slot) = self.slots.get(&buyer) else {
            return if limit == 0 { Vec::new() } else { vec![buyer] };
        };
        let root = self.find(*slot);
        let mut members: Vec<BuyerId> = (0..self.parent.len())
            .filter(|s| self.find(*s as Slot) == root)
            .map(|s| self.buyer_of_slot[s])
            .collect();
        members.sort_unstable();
        members.truncate(limit);
        members
    }

    /// How many buyers are remembered now (never more than `max_buyers`).
    pub fn remembered_buyers(&self) -> usize {
        self.slots.len()
    }

    /// How many keys are remembered now (never more than `max_keys`).
    pub fn remembered_keys(&self) -> usize {
        self.keys.len()
    }

    /// Whether the buyer in `slot` used `key` already.
    fn has_use(&self, slot: Slot, buyer: BuyerId, key: LinkKey) -> bool {
        let first = &self.first_keys[slot as usize];
        first.contains(key) || (first.is_full() && self.uses.contains(&(key, buyer)))
    }

    fn make_room_for(&mut self, buyer: BuyerId, key: LinkKey) {
        // One more buyer, key and use fit: nothing is evicted, and nothing is looked up.
        if self.slots.len() < self.max_buyers && self.keys.len() < self.max_keys && self.order.len() < self.max_uses {
            return;
        }
        let full = |links: &Links| {
            let new_buyer = usize::from(!links.slots.contains_key(&buyer));
            let new_key = usize::from(!links.keys.contains_key(&key));
            links.slots.len() + new_buyer > links.max_buyers
                || links.keys.len() + new_key > links.max_keys
                || links.order.len() + 1 > links.max_uses
        };
        while full(self) {
            let forget = (self.order.len() / 4).max(1);
            self.order.drain(..forget);
            self.rebuild();
        }
    }

    /// Replays the remembered uses into empty maps (which keep their capacity); a buyer still
    /// remembered keeps its trail under its new slot.
    fn rebuild(&mut self) {
        let order = std::mem::take(&mut self.order);
        let old_slots = self.slots.clone();
        let old_trails = std::mem::take(&mut self.trails);
        self.last_linked = None;
        self.slots.clear();
        self.keys.clear();
        self.uses.clear();
        self.first_keys.clear();
        self.buyer_of_slot.clear();
        self.parent.clear();
        self.size.clear();
        for (key, buyer) in &order {
            self.remember_without_order(*buyer, *key, None);
        }
        self.order = order;
        for (slot, buyer) in self.buyer_of_slot.iter().enumerate() {
            if let Some(old) = old_slots.get(buyer) {
                self.trails[slot] = old_trails[*old as usize];
            }
        }
    }

    /// Records a new use; the buyer's slot, the key's buyers after it and its requests this
    /// minute (counted when `at_ms` is given).
    fn remember(&mut self, buyer: BuyerId, key: LinkKey, at_ms: Option<i64>) -> (Slot, u32, i64) {
        let remembered = self.remember_without_order(buyer, key, at_ms);
        self.order.push_back((key, buyer));
        remembered
    }

    /// Records a new use (not in `order`: the caller keeps that); joins `buyer` to `key`'s
    /// first buyer.
    fn remember_without_order(&mut self, buyer: BuyerId, key: LinkKey, at_ms: Option<i64>) -> (Slot, u32, i64) {
        let slot = self.slot_of(buyer);
        if !self.first_keys[slot as usize].push(key) {
            self.uses.insert((key, buyer));
        }
        let used = match self.keys.entry(key) {
            Entry::Occupied(used) => {
                let used = used.into_mut();
                used.buyers += 1;
                used
            }
            Entry::Vacant(new) => new.insert(KeyUse {
                first: slot,
                buyers: 1,
                recent: Window::default(),
            }),
        };
        let per_minute = at_ms.map_or(0, |at| used.recent.count(at, MINUTE_MS));
        let (first, buyers) = (used.first, used.buyers);
        self.union(first, slot);
        (slot, buyers, per_minute)
    }

    fn slot_of(&mut self, buyer: BuyerId) -> Slot {
        let next = self.parent.len() as Slot;
        let slot = *self.slots.entry(buyer).or_insert(next);
        if slot == next {
            self.buyer_of_slot.push(buyer);
            self.parent.push(slot);
            self.size.push(1);
            self.first_keys.push(FirstKeys::default());
            self.trails.push(Trail::default());
        }
        slot
    }

    fn find(&self, mut slot: Slot) -> Slot {
        while self.parent[slot as usize] != slot {
            slot = self.parent[slot as usize];
        }
        slot
    }

    /// The root of `slot`, halving the path on the way (each visited slot skips a level).
    fn find_compressing(&mut self, mut slot: Slot) -> Slot {
        while self.parent[slot as usize] != slot {
            let grandparent = self.parent[self.parent[slot as usize] as usize];
            self.parent[slot as usize] = grandparent;
            slot = grandparent;
        }
        slot
    }

    fn union(&mut self, a: Slot, b: Slot) {
        let (a, b) = (self.find_compressing(a), self.find_compressing(b));
        if a == b {
            return;
        }
        let (big, small) = if self.size[a as usize] >= self.size[b as usize] {
            (a, b)
        } else {
            (b, a)
        };
        self.parent[small as usize] = big;
        self.size[big as usize] += self.size[small as usize];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buyer(n: i64) -> BuyerId {
        BuyerId::new(n).expect("positive")
    }

    #[test]
    fn eviction_and_rebuild_keep_the_storage_within_the_bounds() {
        let mut links = Links::with_capacity(8, 8);
        for n in 1..=200 {
            links.link(buyer(n), LinkKey::Device((n % 5) as u64));
            links.link(buyer(n), LinkKey::Credential(n as u64));
        }
        assert!(links.order.len() <= links.max_uses && links.parent.len() <= links.max_buyers);
        // Grown as buyers came, never past twice what the bounds hold.
        assert!(
            links.order.capacity() <= 2 * links.max_uses,
            "{}",
            links.order.capacity()
        );
        assert!(
            links.parent.capacity() <= 2 * links.max_buyers,
            "{}",
            links.parent.capacity()
        );
    }
}
