//! Flash sales (秒单): a scheduled deal on one SKU, with units allotted from one warehouse, a
//! flash price and a per-buyer limit; one tap places an order.
//!
//! Units: scheduling a sale moves `allotted` units of the warehouse's stock from available to
//! reserved — the sale holds them. A tap hands units from the sale to a new order (they stay
//! reserved, now held by the order); payment turns them sold as for any order. If a flash
//! order is cancelled or expires while the sale runs, its units go back to the sale (and the
//! buyer's count down), so buyers who never pay cannot drain it. When the sale ends, the units
//! it still holds are released to available.
//!
//! The live room's two controls ([`controls`]): the merchant may end a sale early (it closes
//! at once, exactly as at its end) or top up its units (more moved from available to reserved,
//! held by the sale, as when it was scheduled).
//!
//! A tap is decided in this order (the first that applies is the answer):
//! `not_started` → `ended` → `limit_reached` → `sold_out` → `ordered`; a sale its merchant
//! ended answers `ended` whenever it is tapped.

mod book;
pub mod controls;

pub use book::{Command, FlashSales, ScheduleFlashSale, Tap};
pub use controls::{ControlRefusal, EndFlashSale, TopUpFlashSale};

/// How a sale's taps were answered since the shard last published them: counted in memory
/// (a refusal writes nothing, so counting it must cost no more than an increment) and
/// published as one [`crate::shard::Effect::FlashSaleTapsCounted`] per sale with a batch the
/// shard commits anyway. A crash loses the counts not yet committed; never units.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TapCounts {
    /// Every tap answered (the sum of the others).
    pub taps: i64,
    pub ordered: i64,
    pub sold_out: i64,
    pub limit_reached: i64,
    /// `not_started` and `ended`.
    pub other: i64,
}

impl TapCounts {
    /// Counts one answer.
    pub fn count(&mut self, answer: Result<(), TapRefusal>) {
        self.taps += 1;
        match answer {
            Ok(()) => self.ordered += 1,
            Err(TapRefusal::SoldOut) => self.sold_out += 1,
            Err(TapRefusal::LimitReached { .. }) => self.limit_reached += 1,
            Err(TapRefusal::NotStarted | TapRefusal::Ended) => self.other += 1,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.taps == 0
    }
}

use crate::ids::{BuyerId, ShopId, SkuId, WarehouseId};
use crate::money::Fen;
use crate::time::Timestamp;
use std::collections::HashMap;
use std::fmt;

/// How long an unpaid flash order holds its units unless the merchant says otherwise.
pub const FLASH_PAYMENT_TIMEOUT_SECONDS_DEFAULT: i64 = 5 * 60;
/// The most units one sale may allot.
pub const FLASH_UNITS_MAX: i64 = 100_000_000;
/// The longest a sale may run.
pub const FLASH_DURATION_SECONDS_MAX: i64 = 7 * 24 * 3600;
/// The longest a merchant may let an unpaid flash order hold its units.
pub const FLASH_PAYMENT_TIMEOUT_SECONDS_MAX: i64 = 24 * 3600;

/// Why a flash sale's schedule makes no sense, checked in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ScheduleProblem {
    /// `ends_at` is not after `starts_at`.
    EndsBeforeStart,
    /// It would run longer than [`FLASH_DURATION_SECONDS_MAX`].
    LastsTooLong,
    /// It would already have ended.
    AlreadyEnded,
    /// The units are not 1 to [`FLASH_UNITS_MAX`].
    UnitsOutOfRange,
    /// The per-buyer limit is not 1 to the units allotted.
    LimitOutOfRange,
    /// The payment timeout is not 1 s to [`FLASH_PAYMENT_TIMEOUT_SECONDS_MAX`].
    PaymentTimeoutOutOfRange,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct FlashSaleId(i64);

impl TryFrom<i64> for FlashSaleId {
    type Error = crate::ids::InvalidId;

    fn try_from(raw: i64) -> Result<Self, crate::ids::InvalidId> {
        Self::new(raw).ok_or(crate::ids::InvalidId(raw))
    }
}

impl From<FlashSaleId> for i64 {
    fn from(id: FlashSaleId) -> i64 {
        id.0
    }
}

impl FlashSaleId {
    pub fn new(raw: i64) -> Option<Self> {
        (raw > 0).then_some(Self(raw))
    }
    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for FlashSaleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FlashSale {
    pub id: FlashSaleId,
    pub shop: ShopId,
    pub sku: SkuId,
    pub warehouse: WarehouseId,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub price: Fen,
    /// Units given to the sale when it was scheduled.
    pub allotted: i64,
    /// Units the sale still holds: not in an open or paid order, not yet returned to stock.
    pub remaining: i64,
    pub per_buyer_limit: i64,
    pub payment_timeout_seconds: i64,
    /// Set when the sale has ended and returned its remaining units to stock.
    pub closed: bool,
    pub created_at: Timestamp,
}

/// What a tap was answered, when it did not order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TapRefusal {
    NotStarted,
    Ended,
    /// The tap would take the buyer over the sale's per-buyer limit: `remaining_allowed`
    /// more units (0 when the buyer already holds the limit) are all they may still take.
    LimitReached {
        per_buyer_limit: i64,
        remaining_allowed: i64,
    },
    SoldOut,
}

impl TapRefusal {
    pub fn code(self) -> &'static str {
        match self {
            TapRefusal::NotStarted => "not_started",
            TapRefusal::Ended => "ended",
            TapRefusal::LimitReached { .. } => "limit_reached",
            TapRefusal::SoldOut => "sold_out",
        }
    }
}

/// A live sale and how many units each buyer holds in open or paid orders of it. A buyer
/// holding none has no entry, and a closed sale keeps none (it refuses every tap as `ended`
/// before it looks at a buyer's count), so the book holds only what a running sale needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlashSaleBook {
    pub sale: FlashSale,
    /// Lookups only, never iterated into output, so a `HashMap` keeps the core deterministic.
    bought: HashMap<BuyerId, i64>,
    /// Taps answered since the shard last published them (see [`TapCounts`]).
    counted: TapCounts,
}

impl FlashSaleBook {
    pub fn new(sale: FlashSale, bought: impl IntoIterator<Item = (BuyerId, i64)>) -> FlashSaleBook {
        let bought = if sale.closed {
            HashMap::default()
        } else {
            bought.into_iter().filter(|(_, units)| *units > 0).collect()
        };
        FlashSaleBook {
            sale,
            bought,
            counted: TapCounts::default(),
        }
    }

    /// How many buyers hold units of this sale (none once it closed).
    pub fn buyers_holding(&self) -> usize {
        self.bought.len()
    }

    /// The taps answered since the shard last published them.
    pub fn counted(&self) -> TapCounts {
        self.counted
    }

    /// Hands over the taps counted since the last publication, and starts again from zero.
    pub(crate) fn take_counted(&mut self) -> TapCounts {
        std::mem::take(&mut self.counted)
    }

    pub fn bought_by(&self, buyer: BuyerId) -> i64 {
        self.bought.get(&buyer).copied().unwrap_or(0)
    }

    /// Decides a tap for `quantity` units; on success the units and the buyer's count are
    /// taken. Every answer is counted (see [`TapCounts`]).
    pub fn take(&mut self, buyer: BuyerId, quantity: i64, now: Timestamp) -> Result<(), TapRefusal> {
        let answer = self.decide(buyer, quantity, now);
        self.counted.count(answer);
        answer
    }

    fn decide(&mut self, buyer: BuyerId, quantity: i64, now: Timestamp) -> Result<(), TapRefusal> {
        let sale = &self.sale;
        // Checked first so that a sale ended before its start answers `ended`, not `not_started`.
        if sale.closed {
            return Err(TapRefusal::Ended);
        }
        if now < sale.starts_at {
            return Err(TapRefusal::NotStarted);
        }
        if now >= sale.ends_at {
            return Err(TapRefusal::Ended);
        }
        let bought = self.bought_by(buyer);
        if bought + quantity > sale.per_buyer_limit {
            return Err(TapRefusal::LimitReached {
                per_buyer_limit: sale.per_buyer_limit,
                remaining_allowed: (sale.per_buyer_limit - bought).max(0),
            });
        }
        if sale.remaining < quantity {
            return Err(TapRefusal::SoldOut);
        }
        self.sale.remaining -= quantity;
        self.bought.insert(buyer, bought + quantity);
        Ok(())
    }

    /// An open flash order of `buyer` was cancelled or expired while the sale runs: its units
    /// return to the sale and the buyer may tap again.
    pub fn give_back(&mut self, buyer: BuyerId, quantity: i64) {
        let bought = self.bought_by(buyer);
        assert!(
            bought >= quantity,
            "buyer {buyer} gives back {quantity} of {bought} flash units"
        );
        assert!(!self.sale.closed, "units given back to a closed sale");
        self.sale.remaining += quantity;
        assert!(
            self.sale.remaining <= self.sale.allotted,
            "a sale holds more than it was allotted"
        );
        if bought == quantity {
            self.bought.remove(&buyer);
        } else {
            self.bought.insert(buyer, bought - quantity);
        }
    }

    /// A paid flash order of `buyer` was cancelled (after-sales, before shipment) while the sale
    /// runs: the buyer may tap again, as after an unpaid order's cancellation. Its units were
    /// sold, so they go back to the warehouse's available stock with the rest of the order,
    /// not to the sale: the sale's `remaining` is what it still reserves.
    pub fn forget_bought(&mut self, buyer: BuyerId, quantity: i64) {
        let bought = self.bought_by(buyer);
        assert!(
            bought >= quantity,
            "buyer {buyer} forgets {quantity} of {bought} flash units"
        );
        if bought == quantity {
            self.bought.remove(&buyer);
        } else {
            self.bought.insert(buyer, bought - quantity);
        }
    }

    /// Adds `units` to what the sale holds and was allotted (the caller reserved them).
    pub(crate) fn top_up(&mut self, units: i64) {
        assert!(units > 0 && !self.sale.closed, "a top-up of {units} to a closed sale");
        self.sale.allotted += units;
        self.sale.remaining += units;
        assert!(
            self.sale.allotted <= FLASH_UNITS_MAX,
            "a sale allotted beyond FLASH_UNITS_MAX"
        );
    }

    /// Moves a running or scheduled sale's end to `now`; a sale that had not started runs
    /// for no time at all (it starts when it ends). The caller closes it.
    pub(crate) fn end_at(&mut self, now: Timestamp) {
        self.sale.ends_at = now;
        self.sale.starts_at = self.sale.starts_at.min(now);
    }

    /// Closes the sale: it takes no more taps, so what each buyer holds no longer matters.
    pub(crate) fn close(&mut self) {
        self.sale.closed = true;
        self.sale.remaining = 0;
        self.bought = HashMap::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book(remaining: i64, limit: i64) -> FlashSaleBook {
        let id = |n| ShopId::new(n).expect("positive");
        FlashSaleBook::new(
            FlashSale {
                id: FlashSaleId::new(1).expect("positive"),
                shop: id(1),
                sku: SkuId::new(1).expect("positive"),
                warehouse: WarehouseId::new(1).expect("positive"),
                starts_at: Timestamp::from_unix_ms(1_000),
                ends_at: Timestamp::from_unix_ms(2_000),
                price: Fen::price(990).expect("valid"),
                allotted: remaining,
                remaining,
                per_buyer_limit: limit,
                payment_timeout_seconds: 300,
                closed: false,
                created_at: Timestamp::from_unix_ms(0),
            },
            [],
        )
    }

    /// (remaining, limit, already bought, quantity, now) → answer, in precedence order.
    #[test]
    fn taps_are_decided_in_the_documented_precedence() {
        let buyer = BuyerId::new(7).expect("positive");
        type Case = (i64, i64, i64, i64, i64, Result<(), TapRefusal>);
        let cases: [Case; 8] = [
            (5, 1, 0, 1, 999, Err(TapRefusal::NotStarted)),
            (0, 1, 1, 1, 999, Err(TapRefusal::NotStarted)),
            (5, 1, 0, 1, 2_000, Err(TapRefusal::Ended)),
            (0, 1, 1, 1, 2_000, Err(TapRefusal::Ended)),
            (
                0,
                1,
                1,
                1,
                1_500,
                Err(TapRefusal::LimitReached {
                    per_buyer_limit: 1,
                    remaining_allowed: 0,
                }),
            ),
            (0, 2, 1, 1, 1_500, Err(TapRefusal::SoldOut)),
            (1, 3, 0, 2, 1_500, Err(TapRefusal::SoldOut)),
            (1, 1, 0, 1, 1_000, Ok(())),
        ];
        for (remaining, limit, bought, quantity, now, expected) in cases {
            let mut b = book(remaining + bought, limit);
            b.sale.remaining = remaining;
            if bought > 0 {
                b.bought.insert(buyer, bought);
            }
            let answer = b.take(buyer, quantity, Timestamp::from_unix_ms(now));
            assert_eq!(
                answer, expected,
                "remaining {remaining} limit {limit} bought {bought} qty {quantity} at {now}"
            );
            let taken = if answer.is_ok() { quantity } else { 0 };
            assert_eq!(b.sale.remaining, remaining - taken);
            assert_eq!(b.bought_by(buyer), bought + taken);
        }
    }

    #[test]
    fn units_given_back_can_be_tapped_again() {
        let buyer = BuyerId::new(7).expect("positive");
        let mut b = book(1, 1);
        let during = Timestamp::from_unix_ms(1_500);
        assert_eq!(b.take(buyer, 1, during), Ok(()));
        assert_eq!(
            b.take(buyer, 1, during),
            Err(TapRefusal::LimitReached {
                per_buyer_limit: 1,
                remaining_allowed: 0
            })
        );
        b.give_back(buyer, 1);
        assert_eq!((b.sale.remaining, b.bought_by(buyer)), (1, 0));
        assert_eq!(b.take(buyer, 1, during), Ok(()));
    }
}
