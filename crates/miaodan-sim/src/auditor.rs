//! The auditor: a god's view of what the tables must hold, built only from the effects of
//! batches that really committed, and the invariants of TESTING.md checked against it, against
//! each shard's memory, and against what each shard rebuilds from the tables.

use crate::report::Sometimes;
use crate::world;
use miaodan_domain::flash_sale::{FlashSale, FlashSaleId};
use miaodan_domain::inventory::StockLevel;
use miaodan_domain::orders::{Order, OrderState};
use miaodan_domain::payments::{IntentStatus, PaymentIntent, PaymentIntentId, RefundStatus, Settlement};
use miaodan_domain::shard::{Effect, ShardState};
use miaodan_domain::{BuyerId, OrderId, SkuId, WarehouseId};
use std::collections::{BTreeMap, BTreeSet};

/// What a check found wrong: the invariant's name and the particulars.
pub type Broken = (&'static str, String);

#[derive(Default)]
pub struct Auditor {
    /// available + reserved + sold per stock row: moved only by a merchant's count.
    pub totals: BTreeMap<(SkuId, WarehouseId), i64>,
    /// Every order as the last committed batch left it.
    pub orders: BTreeMap<OrderId, Order>,
    pub intents: BTreeMap<PaymentIntentId, PaymentIntent>,
    /// Every stored answer committed: key → (record id, body).
    pub answers: BTreeMap<String, (i64, String)>,
    /// Every flash sale as the last committed batch left it.
    pub sales: BTreeMap<FlashSaleId, FlashSale>,
    /// What committed batches did to sales that the swarm must reach now and then.
    pub noticed: Vec<Sometimes>,
}

impl Auditor {
    /// Takes in a committed batch's effects, checking each order's transition on the way.
    pub fn absorb(&mut self, effects: &[Effect]) -> Result<(), Broken> {
        for effect in effects {
            match effect {
                Effect::StockMoved(movement) => {
                    *self.totals.entry((movement.sku, movement.warehouse)).or_default() += movement.delta;
                }
                Effect::OrderCreated { order, .. } => {
                    if let Some(before) = self.orders.get(&order.id) {
                        return Err((
                            "one effect per key",
                            format!("order {} created twice: {before:?}", order.id),
                        ));
                    }
                    self.orders.insert(order.id, order.clone());
                }
                Effect::OrderTransitioned(order) => {
                    legal_transition(self.orders.get(&order.id), order)?;
                    self.orders.insert(order.id, order.clone());
                }
                // Where a paid order's units are sold from: no transition, the same version.
                Effect::OrderDispatched { order, .. } => {
                    let before = self.orders.get(&order.id).map(|o| (o.state, o.version));
                    if before != Some((OrderState::Paid, order.version)) || order.state != OrderState::Paid {
                        return Err((
                            "legal transitions",
                            format!("order {} dispatched from {before:?}", order.id),
                        ));
                    }
                    self.orders.insert(order.id, order.clone());
                }
                Effect::PaymentIntentSaved(intent) => {
                    self.intents.insert(intent.id, intent.clone());
                }
                Effect::FlashSaleSaved(sale) => {
                    if let Some(before) = self.sales.get(&sale.id).filter(|before| !before.closed) {
                        if sale.closed && before.remaining > 0 {
                            self.noticed.push(Sometimes::SaleEndedWithUnitsLeft);
                        } else if !sale.closed && sale.remaining > before.remaining {
                            self.noticed.push(Sometimes::FlashUnitsBackToSale);
                        }
                    }
                    self.sales.insert(sale.id, sale.clone());
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Units that orders hold per stock row: `(reserved, sold)`.
    fn held(&self) -> BTreeMap<(SkuId, WarehouseId), (i64, i64)> {
        let mut held: BTreeMap<_, (i64, i64)> = BTreeMap::new();
        for order in self.orders.values() {
            for line in &order.lines {
                for allocation in &line.allocations {
                    let entry = held.entry((line.sku, allocation.warehouse)).or_default();
                    match order.state {
                        OrderState::PendingPayment => entry.0 += allocation.quantity,
                        OrderState::Paid | OrderState::Shipped | OrderState::Delivered => {
                            entry.1 += allocation.quantity
                        }
                        OrderState::Cancelled => {}
                    }
                }
            }
        }
        // A running sale holds what it has not sold as reserved.
        for sale in self.sales.values().filter(|sale| !sale.closed) {
            held.entry((sale.sku, sale.warehouse)).or_default().0 += sale.remaining;
        }
        held
    }

    /// Flash sales: never more sold than allotted, never a buyer over the limit, and a running
    /// sale's units either still its own or in the orders taps placed (a paid order cancelled
    /// gave its units to the warehouse, not back to the sale).
    pub fn check_sales(&self) -> Result<(), Broken> {
        for sale in self.sales.values() {
            let units = |order: &Order| order.lines.iter().map(|l| l.quantity.get()).sum::<i64>();
            let of_sale = || self.orders.values().filter(|o| o.flash_sale == Some(sale.id));
            let kept: i64 = of_sale()
                .filter(|o| o.state != OrderState::Cancelled || o.paid_at.is_some())
                .map(units)
                .sum();
            let mut by_buyer: BTreeMap<BuyerId, i64> = BTreeMap::new();
            for order in of_sale().filter(|o| o.state != OrderState::Cancelled) {
                *by_buyer.entry(order.buyer).or_default() += units(order);
            }
            let over_limit = by_buyer.iter().find(|(_, n)| **n > sale.per_buyer_limit);
            let accounted = if sale.closed {
                sale.remaining == 0
            } else {
                sale.remaining + kept == sale.allotted
            };
            if kept > sale.allotted || !accounted || over_limit.is_some() {
                return Err((
                    "flash sales",
                    format!(
                        "sale {}: allotted {}, remaining {}, closed {}, units in orders {kept}, over the limit \
                         of {}: {over_limit:?}",
                        sale.id, sale.allotted, sale.remaining, sale.closed, sale.per_buyer_limit
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Stock conservation and the reservation lifecycle, for every row `state` holds.
    pub fn check_stock(&self, state: &ShardState, rows: &[(SkuId, WarehouseId)]) -> Result<(), Broken> {
        let held = self.held();
        for &(sku, warehouse) in rows {
            let level = state.inventory().level(sku, warehouse);
            let (reserved, sold) = held.get(&(sku, warehouse)).copied().unwrap_or_default();
            let total = self.totals.get(&(sku, warehouse)).copied().unwrap_or_default();
            let expected = StockLevel {
                available: total - reserved - sold,
                reserved,
                sold,
            };
            if level != expected || level.available < 0 {
                return Err((
                    "stock conservation",
                    format!("{sku} in {warehouse}: {level:?}, but committed orders and counts make {expected:?}"),
                ));
            }
        }
        Ok(())
    }

    /// Payments: captured ≤ authorized; an order is paid exactly when a capture paid it.
    pub fn check_payments(&self) -> Result<(), Broken> {
        for intent in self.intents.values() {
            if let Some(charge) = &intent.charge
                && charge.captured.get() > charge.authorized.get()
            {
                return Err((
                    "payments",
                    format!("intent {} captured more than authorized", intent.id),
                ));
            }
            let given: i64 = intent
                .refunds
                .iter()
                .filter(|r| r.status != RefundStatus::Failed)
                .map(|r| r.amount.get())
                .sum();
            let captured = intent.charge.as_ref().map_or(0, |charge| charge.captured.get());
            if given > captured {
                return Err((
                    "payments",
                    format!("intent {}: refunds of {given} exceed {captured} captured", intent.id),
                ));
            }
            let mut requests = BTreeSet::new();
            if let Some(twice) = intent
                .refunds
                .iter()
                .filter_map(|r| r.request.as_ref())
                .find(|r| !requests.insert(*r))
            {
                return Err((
                    "one effect per key",
                    format!("intent {}: request {twice} refunded twice", intent.id),
                ));
            }
            for part in &intent.orders {
                let Some(order) = self.orders.get(&part.order) else {
                    return Err((
                        "payments",
                        format!("intent {} names an order never committed", intent.id),
                    ));
                };
                let paid_by_this = order.paid_by == Some(intent.id) && order.state != OrderState::Cancelled;
                if paid_by_this != (part.settlement == Settlement::Paid) {
                    return Err((
                        "payments",
                        format!(
                            "order {} is {:?} but intent {} says {:?}",
                            order.id, order.state, intent.id, part.settlement
                        ),
                    ));
                }
                if part.settlement == Settlement::Paid && intent.status != IntentStatus::Captured {
                    return Err((
                        "payments",
                        format!("order {} paid by uncaptured intent {}", order.id, intent.id),
                    ));
                }
            }
        }
        for order in self.orders.values() {
            if let Some(intent) = order.paid_by
                && !self.intents.contains_key(&intent)
            {
                return Err((
                    "payments",
                    format!("order {} paid by unknown intent {intent}", order.id),
                ));
            }
        }
        Ok(())
    }

    /// Acknowledged ⇒ durable, from the other side: what a shard rebuilds from the tables is
    /// what it held in memory after its last commit.
    pub fn check_rebuilt(
        memory: &ShardState,
        rebuilt: &ShardState,
        rows: &[(SkuId, WarehouseId)],
    ) -> Result<(), Broken> {
        for &(sku, warehouse) in rows {
            let (held, read) = (
                memory.inventory().level(sku, warehouse),
                rebuilt.inventory().level(sku, warehouse),
            );
            if held != read {
                return Err((
                    "memory equals tables",
                    format!("{sku} in {warehouse}: memory {held:?}, tables {read:?}"),
                ));
            }
        }
        let (held, read) = (sorted_orders(memory), sorted_orders(rebuilt));
        if held != read {
            return Err((
                "memory equals tables",
                format!("open orders: memory {held:?}, tables {read:?}"),
            ));
        }
        Ok(())
    }
}

impl Auditor {
    /// The sales a shard rebuilds from the tables are the ones it held: their units, and what
    /// each buyer holds of them (the limit a restart must still enforce).
    pub fn check_rebuilt_sales(&self, memory: &ShardState, rebuilt: &ShardState) -> Result<(), Broken> {
        for id in self.sales.keys() {
            let (held, read) = (memory.flash_sale(*id), rebuilt.flash_sale(*id));
            let buyers = |book: Option<&miaodan_domain::flash_sale::FlashSaleBook>| {
                book.map(|b| {
                    (1..=world::BUYERS)
                        .map(|n| b.bought_by(world::buyer(n)))
                        .collect::<Vec<_>>()
                })
            };
            if held.map(|b| &b.sale) != read.map(|b| &b.sale) || buyers(held) != buyers(read) {
                return Err((
                    "memory equals tables",
                    format!(
                        "sale {id}: memory {:?} {:?}, tables {:?} {:?}",
                        held.map(|b| &b.sale),
                        buyers(held),
                        read.map(|b| &b.sale),
                        buyers(read)
                    ),
                ));
            }
        }
        Ok(())
    }
}

fn sorted_orders(state: &ShardState) -> Vec<&Order> {
    let mut orders: Vec<&Order> = state.open_orders().collect();
    orders.sort_by_key(|order| order.id);
    orders
}

/// The order state machine: only legal transitions, each with a higher version.
fn legal_transition(before: Option<&Order>, after: &Order) -> Result<(), Broken> {
    let Some(before) = before else {
        return Err((
            "legal transitions",
            format!("order {} changed before it was created", after.id),
        ));
    };
    use OrderState::*;
    let legal = matches!(
        (before.state, after.state),
        (PendingPayment, Paid | Cancelled) | (Paid, Shipped | Cancelled) | (Shipped, Delivered)
    );
    if !legal || after.version <= before.version {
        return Err((
            "legal transitions",
            format!(
                "order {}: {:?} v{} → {:?} v{}",
                after.id, before.state, before.version, after.state, after.version
            ),
        ));
    }
    Ok(())
}
