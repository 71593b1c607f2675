//! The flash sales a shard runs, and their commands: schedule (the sale takes its units from
//! the warehouse), tap (an order at the flash price), and the end of a sale (what it still
//! holds goes back to the warehouse). The merchant's controls are in [`super::controls`].

use super::controls::{EndFlashSale, TopUpFlashSale};
use super::{
    FLASH_DURATION_SECONDS_MAX, FLASH_PAYMENT_TIMEOUT_SECONDS_MAX, FLASH_UNITS_MAX, FlashSale, FlashSaleBook,
    FlashSaleId, ScheduleProblem,
};
use crate::catalog::CatalogBook;
use crate::ids::{BuyerId, CheckoutId, OrderId, ShopId, SkuId, WarehouseId};
use crate::inventory::{Allocation, Inventory};
use crate::money::Fen;
use crate::orders::{Address, Order, OrderBook, OrderLine, OrderState, RequestRef};
use crate::quantity::Quantity;
use crate::risk::{ClientSignals, RiskBook, RiskMode, RiskRequest, Subject};
use crate::shard::{Effect, Outcome, Rejection};
use crate::time::Timestamp;
use std::collections::BTreeMap;

/// A merchant's flash sale as scheduled.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ScheduleFlashSale {
    pub id: FlashSaleId,
    pub shop: ShopId,
    pub sku: SkuId,
    pub warehouse: WarehouseId,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub price: Fen,
    pub units: i64,
    pub per_buyer_limit: i64,
    pub payment_timeout_seconds: i64,
}

/// One buyer's tap on a flash sale: an order at the flash price if the sale allows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Tap {
    pub sale: FlashSaleId,
    pub order: OrderId,
    pub checkout: CheckoutId,
    pub buyer: BuyerId,
    pub quantity: Quantity,
    pub address: Address,
    pub request: Option<RequestRef>,
    /// What the request says of its sender, for risk.
    pub client: ClientSignals,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Command {
    Schedule(ScheduleFlashSale),
    Tap(Tap),
    End(EndFlashSale),
    TopUp(TopUpFlashSale),
}

/// Every sale of the shard, live or closed.
#[derive(Clone, Debug, Default)]
pub struct FlashSales {
    pub(super) sales: BTreeMap<FlashSaleId, FlashSaleBook>,
    /// Some sale answered a tap since the counts were last published.
    counted: bool,
}

impl Command {
    pub(crate) fn apply(
        self,
        catalog: &CatalogBook,
        inventory: &mut Inventory,
        flash: &mut FlashSales,
        (orders, risk): (&mut OrderBook, &mut RiskBook),
        now: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Result<Outcome, Rejection> {
        match self {
            Command::Schedule(c) => flash.schedule(c, catalog, inventory, now, effects),
            Command::Tap(c) => flash.tap(c, orders, risk, now, effects),
            Command::End(c) => flash.end(c, inventory, now, effects),
            Command::TopUp(c) => flash.top_up(c, inventory, now, effects),
        }
    }
}

impl FlashSales {
    /// Sales with the units each buyer holds in their open or paid orders, as stored.
    pub fn restore(sales: Vec<(FlashSale, Vec<(BuyerId, i64)>)>) -> FlashSales {
        FlashSales {
            sales: sales
                .into_iter()
                .map(|(sale, bought)| (sale.id, FlashSaleBook::new(sale, bought)))
                .collect(),
            counted: false,
        }
    }

    pub fn get(&self, id: FlashSaleId) -> Option<&FlashSaleBook> {
        self.sales.get(&id)
    }

    /// The units each running sale holds, by its stock row (for the reservation cross-check).
    pub fn holdings(&self) -> impl Iterator<Item = ((SkuId, WarehouseId), i64)> + '_ {
        self.sales
            .values()
            .filter(|b| !b.sale.closed)
            .map(|b| ((b.sale.sku, b.sale.warehouse), b.sale.remaining))
    }

    fn schedule(
        &mut self,
        s: ScheduleFlashSale,
        catalog: &CatalogBook,
        inventory: &mut Inventory,
        now: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Result<Outcome, Rejection> {
        catalog.owned_sku(s.sku, s.shop)?;
        inventory.owned_warehouse(s.warehouse, s.shop)?;
        if self.sales.contains_key(&s.id) {
            return Err(Rejection::IdInUse);
        }
        if let Some(problem) = flash_sale_problem(&s, now) {
            return Err(Rejection::InvalidFlashSale(problem));
        }
        let available = inventory.level(s.sku, s.warehouse).available;
        if available < s.units {
            return Err(Rejection::InsufficientStock {
                sku: s.sku,
                requested: s.units,
                available,
            });
        }
        let hold = [Allocation {
            warehouse: s.warehouse,
            quantity: s.units,
        }];
        inventory.reserve(s.sku, &hold);
        inventory.record_rows(s.shop, s.sku, &hold, effects);
        let sale = FlashSale {
            id: s.id,
            shop: s.shop,
            sku: s.sku,
            warehouse: s.warehouse,
            starts_at: s.starts_at,
            ends_at: s.ends_at,
            price: s.price,
            allotted: s.units,
            remaining: s.units,
            per_buyer_limit: s.per_buyer_limit,
            payment_timeout_seconds: s.payment_timeout_seconds,
            closed: false,
            created_at: now,
        };
        self.sales.insert(sale.id, FlashSaleBook::new(sale.clone(), []));
        effects.push(Effect::FlashSaleSaved(sale.clone()));
        Ok(Outcome::FlashSaleScheduled(sale))
    }

    /// One-tap order: checked against the sale's window, the buyer's limit and the units left,
    /// all in memory (see the precedence in [`crate::flash_sale`]).
    fn tap(
        &mut self,
        tap: Tap,
        orders: &mut OrderBook,
        risk: &mut RiskBook,
        now: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Result<Outcome, Rejection> {
        if let Some(existing) = orders.placed_by(tap.request.as_ref()) {
            return Ok(Outcome::OrderAlreadyPlaced(existing));
        }
        if orders.contains(tap.order) {
            return Err(Rejection::IdInUse);
        }
        let book = self.sales.get_mut(&tap.sale).ok_or(Rejection::UnknownFlashSale)?;
        // Risk first, before the sale takes anything: a refused tap holds no units.
        let strict = risk.is_strict(tap.sale);
        let context = RiskRequest {
            buyer: tap.buyer,
            subject: Subject::Tap { sale: tap.sale },
            sale_starts_at: Some(book.sale.starts_at),
            strict,
            address: Some(&tap.address),
            client: &tap.client,
        };
        let screened = risk.screen(&context, now);
        let taken = match screened.refusal {
            Some(refusal) => Err(Rejection::Risk(refusal)),
            None => {
                self.counted = true;
                book.take(tap.buyer, tap.quantity.get(), now).map_err(Rejection::Tap)
            }
        };
        if let Some(assessment) = screened.kept {
            let enforced = risk.mode() == RiskMode::On;
            let decision = context.decision(assessment, tap.order, book.sale.shop, taken.is_ok(), enforced, now);
            effects.push(Effect::RiskDecided(Box::new(decision)));
        }
        taken?;
        let sale = &book.sale;
        effects.push(Effect::FlashSaleSaved(sale.clone()));
        let request = tap.request.clone();
        let order = flash_order(tap, sale, now);
        orders.open(order.clone(), request, effects);
        Ok(Outcome::OrderPlaced(order))
    }

    /// A flash order was cancelled. While its sale runs, the sale takes its units back (they
    /// stay reserved) and `true` is returned; after the sale closed (it counts no buyer's units
    /// any more) the caller releases them.
    pub(crate) fn take_back(&mut self, order: &Order, effects: &mut Vec<Effect>) -> bool {
        let Some(book) = order.flash_sale.and_then(|sale| self.sales.get_mut(&sale)) else {
            return false;
        };
        if book.sale.closed {
            return false;
        }
        let units: i64 = order.lines.iter().map(|l| l.quantity.get()).sum();
        book.give_back(order.buyer, units);
        effects.push(Effect::FlashSaleSaved(book.sale.clone()));
        true
    }

    /// A paid flash order was cancelled after payment: while its sale runs, the buyer's count
    /// drops by its units, as a restart would count it (from the orders not cancelled). A
    /// closed sale counts no buyer's units.
    pub(crate) fn forget_paid(&mut self, order: &Order) {
        let Some(book) = order.flash_sale.and_then(|sale| self.sales.get_mut(&sale)) else {
            return;
        };
        if book.sale.closed {
            return;
        }
        let units: i64 = order.lines.iter().map(|l| l.quantity.get()).sum();
        book.forget_bought(order.buyer, units);
    }

    /// Whether a tap was answered since the counts were last published.
    pub fn taps_counted(&self) -> bool {
        self.counted
    }

    /// One [`Effect::FlashSaleTapsCounted`] per sale with taps answered since the last call,
    /// in sale order; the counts start again from zero. Skips the walk over the sales when
    /// no tap was answered.
    pub(crate) fn publish_tap_counts(&mut self, effects: &mut Vec<Effect>) {
        if !std::mem::take(&mut self.counted) {
            return;
        }
        for book in self.sales.values_mut() {
            let counts = book.take_counted();
            if !counts.is_empty() {
                effects.push(Effect::FlashSaleTapsCounted {
                    shop: book.sale.shop,
                    sale: book.sale.id,
                    counts,
                });
            }
        }
    }

    /// Ended sales give their remaining units back to the warehouse's available stock.
    pub(crate) fn close_ended(&mut self, inventory: &mut Inventory, now: Timestamp, effects: &mut Vec<Effect>) {
        for book in self.sales.values_mut() {
            if book.sale.closed || book.sale.ends_at > now {
                continue;
            }
            close_returning_units(book, inventory, effects);
            effects.push(Effect::FlashSaleSaved(book.sale.clone()));
        }
    }
}

/// Closes a sale and releases the units it still held to the warehouse's available stock (as
/// scheduling reserved them); the units released.
pub(super) fn close_returning_units(
    book: &mut FlashSaleBook,
    inventory: &mut Inventory,
    effects: &mut Vec<Effect>,
) -> i64 {
    let returned = book.sale.remaining;
    book.close();
    let sale = &book.sale;
    if returned > 0 {
        let back = [Allocation {
            warehouse: sale.warehouse,
            quantity: returned,
        }];
        inventory.release(sale.sku, &back);
        inventory.record_rows(sale.shop, sale.sku, &back, effects);
    }
    returned
}

/// Why a flash sale's schedule makes no sense, if it does not.
fn flash_sale_problem(s: &ScheduleFlashSale, now: Timestamp) -> Option<ScheduleProblem> {
    let duration_ms = s.ends_at.unix_ms() - s.starts_at.unix_ms();
    if duration_ms <= 0 {
        Some(ScheduleProblem::EndsBeforeStart)
    } else if duration_ms > FLASH_DURATION_SECONDS_MAX * 1000 {
        Some(ScheduleProblem::LastsTooLong)
    } else if s.ends_at <= now {
        Some(ScheduleProblem::AlreadyEnded)
    } else if !(1..=FLASH_UNITS_MAX).contains(&s.units) {
        Some(ScheduleProblem::UnitsOutOfRange)
    } else if !(1..=s.units).contains(&s.per_buyer_limit) {
        Some(ScheduleProblem::LimitOutOfRange)
    } else if !(1..=FLASH_PAYMENT_TIMEOUT_SECONDS_MAX).contains(&s.payment_timeout_seconds) {
        Some(ScheduleProblem::PaymentTimeoutOutOfRange)
    } else {
        None
    }
}

/// The order a tap that took its units places: one line at the sale's price, from the sale's
/// warehouse, due for payment within the sale's timeout.
fn flash_order(tap: Tap, sale: &FlashSale, now: Timestamp) -> Order {
    let total = sale
        .price
        .checked_mul(tap.quantity.get())
        .expect("bounded flash price × quantity");
    Order {
        id: tap.order,
        checkout: tap.checkout,
        shop: sale.shop,
        buyer: tap.buyer,
        lines: vec![OrderLine {
            sku: sale.sku,
            quantity: tap.quantity,
            unit_price: sale.price,
            allocations: vec![Allocation {
                warehouse: sale.warehouse,
                quantity: tap.quantity.get(),
            }],
        }],
        total,
        address: tap.address,
        state: OrderState::PendingPayment,
        version: 1,
        created_at: now,
        payment_due_at: now.plus_seconds(sale.payment_timeout_seconds),
        paid_at: None,
        paid_by: None,
        cancelled_at: None,
        cancel_reason: None,
        flash_sale: Some(sale.id),
        promise: None,
    }
}
