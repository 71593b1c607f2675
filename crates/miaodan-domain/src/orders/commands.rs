//! The orders' commands: place (reserve stock, keep the chosen promise), cancel (give the
//! units back, to the sale if it still runs), pay (and hand the order to dispatch).
//!
//! Each handler names the books it may change in its signature: placing an order reads the
//! catalog and the fulfillment network and changes stock and open orders, nothing else.

use super::{Address, CancelReason, ORDER_LINES_MAX, Order, OrderBook, OrderLine, OrderState};
use crate::catalog::CatalogBook;
use crate::flash_sale::FlashSales;
use crate::fulfillment::{DeliveryChoice, FulfillmentBook};
use crate::ids::{BuyerId, CheckoutId, OrderId, ShopId, SkuId};
use crate::inventory::Inventory;
use crate::money::Fen;
use crate::payments::PaymentIntentId;
use crate::quantity::Quantity;
use crate::risk::{ClientSignals, RiskBook, RiskDecision, RiskMode, RiskRequest, Subject};
use crate::shard::{Effect, Outcome, Rejection};
use crate::time::Timestamp;

/// An opaque, caller-scoped reference to the request that placed an order (derived by the
/// shell from the caller and its `Idempotency-Key`). A retried checkout that carries the same
/// reference gets the order placed the first time instead of a second one.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct RequestRef(pub String);

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OrderLineRequest {
    pub sku: SkuId,
    pub quantity: Quantity,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PlaceOrder {
    pub id: OrderId,
    pub checkout: CheckoutId,
    pub shop: ShopId,
    pub buyer: BuyerId,
    pub lines: Vec<OrderLineRequest>,
    pub address: Address,
    pub payment_timeout_seconds: i64,
    pub request: Option<RequestRef>,
    /// The delivery the buyer chose (checked against what can be kept now).
    pub delivery: Option<DeliveryChoice>,
    /// What the request says of its sender, for risk (boxed: a command travels by value
    /// through the shard's inbox, and checkouts are not the hot path taps are).
    pub client: Box<ClientSignals>,
}

/// Who asks for a cancellation; a buyer may only cancel its own orders, a shop its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Canceller {
    Buyer(BuyerId),
    Shop(ShopId),
    Platform,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CancelOrder {
    pub order: OrderId,
    pub by: Canceller,
    pub reason: CancelReason,
}

/// Marks an open order paid by the capture of `intent` (sent to the order's shard).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PayOrder {
    pub order: OrderId,
    pub intent: PaymentIntentId,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Command {
    Place(PlaceOrder),
    Cancel(CancelOrder),
    Pay(PayOrder),
}

/// The books an order command may read or change.
pub(crate) struct OrderBooks<'a> {
    pub catalog: &'a CatalogBook,
    pub inventory: &'a mut Inventory,
    pub orders: &'a mut OrderBook,
    pub flash: &'a mut FlashSales,
    pub fulfillment: &'a mut FulfillmentBook,
    pub risk: &'a mut RiskBook,
}

impl Command {
    pub(crate) fn apply(
        self,
        b: OrderBooks<'_>,
        now: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Result<Outcome, Rejection> {
        match self {
            Command::Place(c) => place(c, b, now, effects),
            Command::Cancel(c) => cancel(c, b.orders, b.flash, b.inventory, now, effects).map(Outcome::OrderCancelled),
            Command::Pay(c) => pay(c, b.orders, b.fulfillment, b.inventory, now, effects).map(Outcome::OrderPaid),
        }
    }
}

/// Checks, in this order: the shop, the number of lines, then each line in request
/// order: the SKU belongs to the shop, it is active (and so is its product), and enough
/// units are available. The first failing check is the answer; nothing is reserved then.
/// Screens a checkout's part with risk, then places it: a refused part holds nothing. Its
/// decision is kept (as a tap's is) when worth a person's look.
fn place(c: PlaceOrder, b: OrderBooks<'_>, now: Timestamp, effects: &mut Vec<Effect>) -> Result<Outcome, Rejection> {
    if let Some(existing) = b.orders.placed_by(c.request.as_ref()) {
        return Ok(Outcome::OrderAlreadyPlaced(existing));
    }
    b.catalog.known_shop(c.shop)?;
    let context = RiskRequest {
        buyer: c.buyer,
        subject: Subject::Checkout,
        sale_starts_at: None,
        strict: false,
        address: Some(&c.address),
        client: c.client.as_ref(),
    };
    let screened = b.risk.screen(&context, now);
    let enforced = b.risk.mode() == RiskMode::On;
    let kept = screened
        .kept
        .map(|assessment| context.decision(assessment, c.id, c.shop, false, enforced, now));
    let placed = match screened.refusal {
        Some(refusal) => Err(Rejection::Risk(refusal)),
        None => place_order(c, b.catalog, b.inventory, b.fulfillment, b.orders, now, effects),
    };
    if let Some(decision) = kept {
        let ordered = placed.is_ok();
        effects.push(Effect::RiskDecided(Box::new(RiskDecision { ordered, ..decision })));
    }
    placed
}

fn place_order(
    c: PlaceOrder,
    catalog: &CatalogBook,
    inventory: &mut Inventory,
    fulfillment: &FulfillmentBook,
    orders: &mut OrderBook,
    now: Timestamp,
    effects: &mut Vec<Effect>,
) -> Result<Outcome, Rejection> {
    if let Some(existing) = orders.placed_by(c.request.as_ref()) {
        return Ok(Outcome::OrderAlreadyPlaced(existing));
    }
    catalog.known_shop(c.shop)?;
    if c.lines.is_empty() || c.lines.len() > ORDER_LINES_MAX {
        return Err(Rejection::TooManyLines);
    }
    if orders.contains(c.id) {
        return Err(Rejection::IdInUse);
    }
    assert!(
        c.payment_timeout_seconds > 0,
        "the shell must give a positive payment timeout"
    );
    let promise = match c.delivery {
        Some(choice) => {
            for request in &c.lines {
                catalog.active_sku(request.sku, c.shop)?;
            }
            let wanted: Vec<(SkuId, i64)> = c.lines.iter().map(|l| (l.sku, l.quantity.get())).collect();
            Some(fulfillment.promise_for_choice(c.shop, &wanted, &c.address, choice, inventory, now)?)
        }
        None => None,
    };
    let lines = reserve_lines(c.shop, &c.lines, catalog, inventory)?;
    for line in &lines {
        inventory.record_rows(c.shop, line.sku, &line.allocations, effects);
    }
    let mut total = Fen::ZERO;
    for line in &lines {
        let amount = line
            .unit_price
            .checked_mul(line.quantity.get())
            .expect("bounded price × quantity");
        total = total.checked_add(amount).expect("bounded order total");
    }
    if let Some(promise) = &promise {
        total = total.checked_add(promise.price).expect("bounded order total");
    }
    let order = Order {
        id: c.id,
        checkout: c.checkout,
        shop: c.shop,
        buyer: c.buyer,
        lines,
        total,
        address: c.address,
        state: OrderState::PendingPayment,
        version: 1,
        created_at: now,
        payment_due_at: now.plus_seconds(c.payment_timeout_seconds),
        paid_at: None,
        paid_by: None,
        cancelled_at: None,
        cancel_reason: None,
        flash_sale: None,
        promise,
    };
    orders.open(order.clone(), c.request, effects);
    Ok(Outcome::OrderPlaced(order))
}

/// Reserves every line, or none: a line that cannot be reserved releases the ones before it.
fn reserve_lines(
    shop: ShopId,
    requests: &[OrderLineRequest],
    catalog: &CatalogBook,
    inventory: &mut Inventory,
) -> Result<Vec<OrderLine>, Rejection> {
    let mut lines: Vec<OrderLine> = Vec::with_capacity(requests.len());
    for request in requests {
        match reserve_line(shop, request, catalog, inventory) {
            Ok(line) => lines.push(line),
            Err(rejection) => {
                for line in &lines {
                    inventory.release(line.sku, &line.allocations);
                }
                return Err(rejection);
            }
        }
    }
    Ok(lines)
}

fn reserve_line(
    shop: ShopId,
    request: &OrderLineRequest,
    catalog: &CatalogBook,
    inventory: &mut Inventory,
) -> Result<OrderLine, Rejection> {
    let unit_price = catalog.active_sku(request.sku, shop)?.price;
    let requested = request.quantity.get();
    let Some(plan) = inventory.plan_reservation(request.sku, requested) else {
        return Err(Rejection::InsufficientStock {
            sku: request.sku,
            requested,
            available: inventory.available_total(request.sku),
        });
    };
    inventory.reserve(request.sku, &plan);
    Ok(OrderLine {
        sku: request.sku,
        quantity: request.quantity,
        unit_price,
        allocations: plan,
    })
}

/// Cancels an open order. A flash order's units go back to its sale while the sale runs;
/// otherwise they are released to the warehouse.
pub(crate) fn cancel(
    c: CancelOrder,
    orders: &mut OrderBook,
    flash: &mut FlashSales,
    inventory: &mut Inventory,
    now: Timestamp,
    effects: &mut Vec<Effect>,
) -> Result<crate::orders::Order, Rejection> {
    let order = orders.get(c.order).ok_or(Rejection::OrderNotOpen)?;
    let theirs = match c.by {
        Canceller::Buyer(buyer) => order.buyer == buyer,
        Canceller::Shop(shop) => order.shop == shop,
        Canceller::Platform => true,
    };
    if !theirs {
        return Err(Rejection::OrderNotOpen);
    }
    let order = orders.close(c.order, effects, |order| order.cancel(c.reason, now))?;
    if flash.take_back(&order, effects) {
        // The units stay reserved: the sale holds them again, for another buyer.
        return Ok(order);
    }
    for line in &order.lines {
        inventory.release(line.sku, &line.allocations);
        inventory.record_rows(order.shop, line.sku, &line.allocations, effects);
    }
    Ok(order)
}

/// Pays an open order and dispatches it in the same command (stock sold, capacity booked).
pub(crate) fn pay(
    c: PayOrder,
    orders: &mut OrderBook,
    fulfillment: &mut FulfillmentBook,
    inventory: &mut Inventory,
    now: Timestamp,
    effects: &mut Vec<Effect>,
) -> Result<crate::orders::Order, Rejection> {
    let order = orders.close(c.order, effects, |order| order.pay(c.intent, now))?;
    Ok(fulfillment.dispatch_paid_order(order, inventory, now, effects))
}
