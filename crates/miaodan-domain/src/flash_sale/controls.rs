//! The live room's controls of a sale: end it early, or top up its units.
//!
//! Both move stock the way the sale's own life does, so stock stays conserved: ending closes
//! the sale at once as its end would (the units it still holds return from reserved to
//! available; units in orders stay with their orders, whose payment clocks run on), and a
//! top-up reserves more of the warehouse's available units for the sale, as scheduling did.
//!
//! Refusals, in this order (the first that applies is the answer):
//! - end: `unknown_flash_sale` (or another shop's) → `ended` → `sold_out` → ended.
//! - top-up: `invalid_flash_sale` (fewer than 1 unit) → `unknown_flash_sale` (or another shop's) → `ended` → `units_max_reached` →
//!   `insufficient_stock` → topped up (a sold-out sale is live again).
//!
//! A sale whose end time passed but which the timer has not closed yet counts as ended: the
//! next `ExpireDue` closes it.

use super::book::close_returning_units;
use super::{FLASH_UNITS_MAX, FlashSaleBook, FlashSaleId, FlashSales, ScheduleProblem};
use crate::ids::ShopId;
use crate::inventory::{Allocation, Inventory};
use crate::shard::{Effect, Outcome, Rejection};
use crate::time::Timestamp;

/// A merchant ends a scheduled or live sale now.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EndFlashSale {
    pub sale: FlashSaleId,
    /// The shop the shell believes owns the sale; another shop's sale is unknown.
    pub shop: ShopId,
}

/// A merchant adds `units` from the sale's warehouse's available stock to a running sale.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TopUpFlashSale {
    pub sale: FlashSaleId,
    pub shop: ShopId,
    pub units: i64,
}

/// Why a control of a sale changed nothing (besides an unknown sale or missing stock).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ControlRefusal {
    /// The sale has ended (early, or its time is up).
    Ended,
    /// Ending: the sale holds no units to return (they are all in orders).
    SoldOut,
    /// Topping up: the sale would be allotted more than [`FLASH_UNITS_MAX`].
    UnitsMaxReached,
}

impl ControlRefusal {
    pub fn code(self) -> &'static str {
        match self {
            ControlRefusal::Ended => "ended",
            ControlRefusal::SoldOut => "sold_out",
            ControlRefusal::UnitsMaxReached => "units_max_reached",
        }
    }
}

impl FlashSales {
    /// The sale if `shop` owns it and it still runs (or waits to), else the refusal.
    fn running(&mut self, sale: FlashSaleId, shop: ShopId, now: Timestamp) -> Result<&mut FlashSaleBook, Rejection> {
        let book = self
            .sales
            .get_mut(&sale)
            .filter(|b| b.sale.shop == shop)
            .ok_or(Rejection::UnknownFlashSale)?;
        if book.sale.closed || now >= book.sale.ends_at {
            return Err(Rejection::FlashSaleControl(ControlRefusal::Ended));
        }
        Ok(book)
    }

    pub(super) fn end(
        &mut self,
        c: EndFlashSale,
        inventory: &mut Inventory,
        now: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Result<Outcome, Rejection> {
        let book = self.running(c.sale, c.shop, now)?;
        if now >= book.sale.starts_at && book.sale.remaining == 0 {
            return Err(Rejection::FlashSaleControl(ControlRefusal::SoldOut));
        }
        book.end_at(now);
        let returned = close_returning_units(book, inventory, effects);
        let sale = book.sale.clone();
        effects.push(Effect::FlashSaleEnded {
            sale: sale.clone(),
            returned,
        });
        Ok(Outcome::FlashSaleEnded(sale))
    }

    pub(super) fn top_up(
        &mut self,
        c: TopUpFlashSale,
        inventory: &mut Inventory,
        now: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Result<Outcome, Rejection> {
        if c.units < 1 {
            return Err(Rejection::InvalidFlashSale(ScheduleProblem::UnitsOutOfRange));
        }
        let book = self.running(c.sale, c.shop, now)?;
        if c.units > FLASH_UNITS_MAX - book.sale.allotted {
            return Err(Rejection::FlashSaleControl(ControlRefusal::UnitsMaxReached));
        }
        let (sku, warehouse) = (book.sale.sku, book.sale.warehouse);
        let available = inventory.level(sku, warehouse).available;
        if available < c.units {
            return Err(Rejection::InsufficientStock {
                sku,
                requested: c.units,
                available,
            });
        }
        let more = [Allocation {
            warehouse,
            quantity: c.units,
        }];
        inventory.reserve(sku, &more);
        inventory.record_rows(book.sale.shop, sku, &more, effects);
        book.top_up(c.units);
        let sale = book.sale.clone();
        effects.push(Effect::FlashSaleToppedUp {
            sale: sale.clone(),
            units: c.units,
        });
        Ok(Outcome::FlashSaleToppedUp(sale))
    }
}
