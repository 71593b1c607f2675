//! The after-sales commands a shard applies: a buyer opens, withdraws or appeals a request; a
//! merchant or the platform approves or refuses it; the shell reports its refund settled; the
//! timer runs its deadlines.
//!
//! A request's facts come from two places. What the shard knows best it reads itself: an
//! order still on its way (paid or shipped) and its parcels are the fulfillment and logistics
//! books' own, so a parcel collected a moment ago is seen. What only the database still holds
//! (a delivered order and when it arrived, the payment's refundable amount, the buyer's
//! history) the shell gathers and sends with the command.
//!
//! **Cross-capability steps:** an approved cancellation closes the order's fulfillment in the
//! same command (units back to stock, booked hours freed, the order `cancelled`); while a
//! cancellation is open, the shard refuses to create a shipment for the order
//! ([`AfterSalesRefusal::CancellationRequested`]). A cancelled flash order gives its buyer's
//! flash allowance back, as an unpaid flash order's cancellation does. Money moves in the shell, through the
//! payment flow, keyed by the request id; [`RecordRefunded`] closes the request's account.

use super::address::{self, AddressChange, AddressOutcome, AddressRefusal, Whereabouts};
use super::book::{AfterSalesBook, OpenRefusal, SETTLED_REQUEST_RETENTION_MS};
use super::policy::{ExemptGoods, PolicyProblem, ShopPolicy};
use super::request::{
    Actor, AfterSalesRequest, Ask, Inspection, Replacement, RequestLine, ReturnParcel, Stage, StepNotAllowed,
};
use super::return_logistics::{self, BookReturnPickup, RecordReturnTracking};
use super::rules::{self, BuyerRecord, Facts, Parcels};
use super::{Reason, RequestKind};
use crate::catalog::CatalogBook;
use crate::flash_sale::FlashSales;
use crate::fulfillment::FulfillmentBook;
use crate::ids::AfterSalesId;
use crate::inventory::Inventory;
use crate::logistics::LogisticsBook;
use crate::orders::{Address, Order, OrderLine, OrderState, RequestRef};
use crate::risk::{RiskBook, RiskDecision, RiskMode, RiskRequest, Screening, Subject};
use crate::shard::{Effect, Outcome, Rejection};
use crate::{BuyerId, CheckoutId, Fen, OrderId, Quantity, ShopId, SkuId, Timestamp};

/// A buyer's request on one of their orders.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OpenRequest {
    pub id: AfterSalesId,
    pub buyer: BuyerId,
    pub kind: RequestKind,
    pub reason: Reason,
    /// The units asked about; ignored for a cancellation (it covers the whole order).
    pub lines: Vec<RequestLine>,
    /// The order as stored. An order still on its way is read from the shard's memory instead.
    pub stored_order: Box<Order>,
    /// When the last parcel of a delivered order arrived, as the carrier reported it.
    pub delivered_at: Option<Timestamp>,
    /// What the order's payment can still give back.
    pub refundable: Fen,
    pub buyer_record: BuyerRecord,
    /// The order's requests as stored, closed ones left out: the shard keeps settled requests
    /// only for a while, and refunded units must stay taken.
    pub earlier_requests: Vec<(AfterSalesId, AfterSalesRequest)>,
    /// For a change of address: where the order goes now (`None` for other kinds).
    pub new_address: Option<Address>,
    /// For an exchange, per line: the line's SKU and the SKU wanted instead.
    pub exchange_for: Vec<(SkuId, SkuId)>,
    /// Risk screens the request (`None` while risk is off). It never refuses one — a buyer
    /// may always ask — but a request risk would look at is no flash refund: its score goes
    /// to the rules, which send it to the merchant.
    pub screening: Option<Box<Screening>>,
}

/// Who decides a request the rules passed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Decider {
    /// The shop's merchant (only for its own shop's requests).
    Merchant(ShopId),
    /// An operator of the platform, after the buyer's appeal.
    Platform,
}

impl Decider {
    fn actor(self) -> Actor {
        match self {
            Decider::Merchant(_) => Actor::Merchant,
            Decider::Platform => Actor::Platform,
        }
    }

    fn may_see(self, request: &AfterSalesRequest) -> bool {
        match self {
            Decider::Merchant(shop) => request.shop == shop,
            Decider::Platform => true,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ApproveRequest {
    pub id: AfterSalesId,
    pub by: Decider,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RefuseRequest {
    pub id: AfterSalesId,
    pub by: Decider,
}

/// A shop sets its after-sales policy (and whether its rules act or run in shadow). Requests
/// already open keep their deadlines; the next decision uses the new policy.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SetPolicy {
    pub shop: ShopId,
    pub policy: ShopPolicy,
}

/// The buyer asks the platform to step in after a merchant's refusal (平台介入).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AppealRequest {
    pub id: AfterSalesId,
    pub buyer: BuyerId,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WithdrawRequest {
    pub id: AfterSalesId,
    pub buyer: BuyerId,
}

/// The buyer sent the return parcel of an approved return.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ShipReturn {
    pub id: AfterSalesId,
    pub buyer: BuyerId,
    pub parcel: ReturnParcel,
}

/// The shop's warehouse received a return parcel and the merchant inspected it. Restocked
/// units go back on sale in the warehouses the order line was sold from.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReceiveReturn {
    pub id: AfterSalesId,
    pub shop: ShopId,
    pub inspection: Inspection,
    /// The request's order as stored: where its lines' units were sold from.
    pub stored_order: Box<Order>,
    /// Ids for the order that sends an exchange's replacement (unused by a return).
    pub replacement_order: OrderId,
    pub replacement_checkout: CheckoutId,
}

/// The carriers took an approved change of address on the order's waybills: the order gets
/// its new address and the promise of the carriers' transit there.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RecordRedirected {
    pub id: AfterSalesId,
}

/// A carrier refused an approved change of address (it had collected the parcel by then): the
/// order keeps its address and the request closes saying so.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RecordRedirectRefused {
    pub id: AfterSalesId,
}

/// The payment provider failed the request's refund: the platform steps in.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RecordRefundFailed {
    pub id: AfterSalesId,
}

/// The payment provider settled the request's refund.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RecordRefunded {
    pub id: AfterSalesId,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Command {
    Open(OpenRequest),
    Approve(ApproveRequest),
    Refuse(RefuseRequest),
    Appeal(AppealRequest),
    Withdraw(WithdrawRequest),
    ShipReturn(ShipReturn),
    ReceiveReturn(ReceiveReturn),
    Refunded(RecordRefunded),
    RefundFailed(RecordRefundFailed),
    SetPolicy(SetPolicy),
    BookReturnPickup(BookReturnPickup),
    TrackReturn(RecordReturnTracking),
    Redirected(RecordRedirected),
    RedirectRefused(RecordRedirectRefused),
}

/// A request as it stands after a command, with its id.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SavedRequest {
    pub id: AfterSalesId,
    pub request: AfterSalesRequest,
}

/// Why an after-sales command was refused, with its wire code.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AfterSalesRefusal {
    /// No such order of this buyer (another buyer's order reads as none).
    UnknownOrder,
    /// No such request for this caller (another tenant's request reads as none).
    UnknownRequest,
    /// The order moved on since the shell read it (delivered or cancelled meanwhile): retry.
    OrderChanged,
    /// A check before the rules, or the rules themselves, refused to open the request.
    Open(OpenRefusal),
    /// The request's stage does not allow this step (already decided, closed, too late).
    StepNotAllowed(StepNotAllowed),
    /// A shipment for an order whose cancellation is open: the merchant answers it first.
    CancellationRequested { request: AfterSalesId },
    /// A policy outside the law's window or the platform's limits.
    InvalidPolicy(PolicyProblem),
    /// A change of address refused before the rules (see [`address`]).
    Address(AddressRefusal),
}

impl AfterSalesRefusal {
    pub const fn code(&self) -> &'static str {
        match self {
            AfterSalesRefusal::UnknownOrder => "unknown_order",
            AfterSalesRefusal::UnknownRequest => "unknown_after_sales_request",
            AfterSalesRefusal::OrderChanged => "order_changed",
            AfterSalesRefusal::Open(refusal) => refusal.code(),
            AfterSalesRefusal::StepNotAllowed(_) => "after_sales_step_not_allowed",
            AfterSalesRefusal::CancellationRequested { .. } => "cancellation_requested",
            AfterSalesRefusal::InvalidPolicy(_) => "invalid_after_sales_policy",
            AfterSalesRefusal::Address(refusal) => refusal.code(),
        }
    }
}

fn refused(refusal: AfterSalesRefusal) -> Rejection {
    Rejection::AfterSales(refusal)
}

/// The books an after-sales command may change besides its own: an approved cancellation
/// closes the order's fulfillment (and gives its units back) and, for a flash order, gives
/// the buyer's flash allowance back; parcels are read from logistics.
pub(crate) struct AfterSalesBooks<'a> {
    /// Read for the requested lines' goods classes and an exchange's replacement SKUs.
    pub catalog: &'a CatalogBook,
    pub fulfillment: &'a mut FulfillmentBook,
    pub inventory: &'a mut Inventory,
    pub logistics: &'a LogisticsBook,
    pub flash: &'a mut FlashSales,
    pub risk: &'a mut RiskBook,
}

impl Command {
    pub(crate) fn apply(
        self,
        book: &mut AfterSalesBook,
        mut b: AfterSalesBooks<'_>,
        now: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Result<Outcome, Rejection> {
        // A return's tracking event answers with whether it was new, not the request alone.
        let command = match self {
            Command::TrackReturn(c) => return return_logistics::track_return(book, c, b, now, effects),
            command => command,
        };
        let (id, before) = match &command {
            Command::SetPolicy(c) => return set_policy(book, c, effects),
            Command::TrackReturn(_) => unreachable!("answered above"),
            Command::Open(c) => (c.id, 0),
            Command::Approve(ApproveRequest { id, .. })
            | Command::Refuse(RefuseRequest { id, .. })
            | Command::Appeal(AppealRequest { id, .. })
            | Command::Withdraw(WithdrawRequest { id, .. })
            | Command::ShipReturn(ShipReturn { id, .. })
            | Command::ReceiveReturn(ReceiveReturn { id, .. })
            | Command::Refunded(RecordRefunded { id })
            | Command::RefundFailed(RecordRefundFailed { id })
            | Command::BookReturnPickup(BookReturnPickup { id, .. })
            | Command::Redirected(RecordRedirected { id })
            | Command::RedirectRefused(RecordRedirectRefused { id }) => {
                (*id, book.request(*id).map_or(0, |r| r.timeline.len()))
            }
        };
        match command {
            Command::Open(c) => open(book, c, &mut b, now, effects)?,
            Command::Approve(c) => {
                let deadlines = deadlines_of(book, c.id);
                decide(book, c.id, c.by, |r| r.approve(c.by.actor(), now, deadlines))?;
            }
            Command::Refuse(c) => {
                let deadlines = deadlines_of(book, c.id);
                decide(book, c.id, c.by, |r| r.refuse(c.by.actor(), now, deadlines))?;
            }
            Command::Appeal(c) => by_buyer(book, c.id, c.buyer, |r| r.appeal(now))?,
            Command::Withdraw(c) => by_buyer(book, c.id, c.buyer, |r| r.withdraw(now))?,
            Command::ShipReturn(c) => by_buyer(book, c.id, c.buyer, |r| r.return_shipped(c.parcel, now))?,
            Command::ReceiveReturn(c) => receive_return(book, &c, &mut b, now, effects)?,
            Command::SetPolicy(_) => unreachable!("answered above"),
            Command::BookReturnPickup(c) => return_logistics::book_pickup(book, c, now)?,
            Command::TrackReturn(_) => unreachable!("answered above"),
            Command::RefundFailed(c) => by_the_system(book, c.id, |r| r.refund_failed(now))?,
            Command::Refunded(c) => by_the_system(book, c.id, |r| r.refunded(now))?,
            Command::Redirected(c) => address_redirected(book, c.id, &mut b, now, effects)?,
            Command::RedirectRefused(c) => {
                let outcome = AddressOutcome::NotCarriedOut(AddressRefusal::PickedUp);
                by_the_system(book, c.id, |r| r.address_changed(outcome, Actor::Carrier, now))?;
            }
        }
        Ok(Outcome::AfterSales(Box::new(settle_step(
            book, id, before, b, now, effects,
        ))))
    }
}

/// Saves a request after a step, and carries out what its approval means beyond the book:
/// an approved cancellation closes the order's fulfillment in the same command; an approved
/// change of address re-dispatches the order (or waits for the carriers); an exchange that
/// closed without its goods coming back releases the replacement units it held.
pub(crate) fn settle_step(
    book: &mut AfterSalesBook,
    id: AfterSalesId,
    steps_before: usize,
    mut b: AfterSalesBooks<'_>,
    now: Timestamp,
    effects: &mut Vec<Effect>,
) -> SavedRequest {
    let closed_holding = book
        .request(id)
        .is_some_and(|r| r.stage == Stage::Closed && r.held().next().is_some());
    if closed_holding {
        let (held, request) = book.step(id, AfterSalesRequest::take_held).expect("in the book");
        release(&held, request.shop, b.inventory, effects);
    }
    let request = book.request(id).expect("a stepped request is in the book").clone();
    let approved_now = request.timeline[steps_before..]
        .iter()
        .any(|step| step.stage == Stage::Approved);
    if approved_now && request.kind == RequestKind::CancelBeforeShipment {
        // Shipments were refused while the cancellation was open, so the order is still
        // waiting in its warehouses.
        let cancelled = b
            .fulfillment
            .cancel_paid_order(request.order, b.inventory, now, effects);
        if let Some(order) = cancelled {
            b.flash.forget_paid(&order);
        }
    }
    let request = if approved_now && request.kind == RequestKind::ChangeAddress {
        change_address(book, id, &request, &mut b, now, effects)
    } else {
        request
    };
    let saved = SavedRequest { id, request };
    effects.push(Effect::AfterSalesSaved(Box::new(saved.clone())));
    saved
}

/// Carries out an approved change of address in the command that approved it. Before any
/// waybill the order is dispatched again for the new address and the request closes; with
/// waybills it stays approved while the shell asks the carriers; if it can no longer be done
/// (collected meanwhile, no longer served, the order moved on) it closes saying why.
fn change_address(
    book: &mut AfterSalesBook,
    id: AfterSalesId,
    request: &AfterSalesRequest,
    b: &mut AfterSalesBooks<'_>,
    now: Timestamp,
    effects: &mut Vec<Effect>,
) -> AfterSalesRequest {
    let to = &request
        .address_change
        .as_ref()
        .expect("a change of address carries its addresses")
        .to;
    let whereabouts = b
        .fulfillment
        .fulfilling(request.order)
        .map(|f| address::whereabouts(&f.order, b.logistics));
    let outcome = match whereabouts {
        None => AddressOutcome::NotCarriedOut(AddressRefusal::Delivered),
        Some(Whereabouts::Collected) => AddressOutcome::NotCarriedOut(AddressRefusal::PickedUp),
        Some(Whereabouts::Waybilled(_)) => return request.clone(),
        Some(Whereabouts::InWarehouses) => match b.fulfillment.plan_readdress(request.order, to, b.inventory, now) {
            Err(_) => AddressOutcome::NotCarriedOut(AddressRefusal::NotServed),
            Ok(plan) => {
                let done = b.fulfillment.readdress(plan, b.inventory, effects);
                AddressOutcome::Redispatched {
                    warehouses_before: done.warehouses_before,
                    warehouses_after: done.warehouses_after,
                    promised_by: done.order.promise.map(|p| p.promised_by),
                }
            }
        },
    };
    let actor = match outcome {
        AddressOutcome::Redispatched { .. } => Actor::Warehouse,
        _ => Actor::Rules,
    };
    let (stepped, request) = book
        .step(id, |r| r.address_changed(outcome, actor, now))
        .expect("a settled request is in the book");
    assert!(
        stepped.is_ok(),
        "an approved change of address {id} could not close: {stepped:?}"
    );
    request.clone()
}

/// The carriers took the change on their waybills: the order gets the new address and the
/// promise of their transit there.
fn address_redirected(
    book: &mut AfterSalesBook,
    id: AfterSalesId,
    b: &mut AfterSalesBooks<'_>,
    now: Timestamp,
    effects: &mut Vec<Effect>,
) -> Result<(), Rejection> {
    let request = book.request(id).ok_or(refused(AfterSalesRefusal::UnknownRequest))?;
    if !request.awaits_address_change() {
        return Err(refused(AfterSalesRefusal::StepNotAllowed(StepNotAllowed {
            stage: request.stage,
            actor: Actor::Carrier,
        })));
    }
    let order = request.order;
    let to = request.address_change.as_ref().expect("awaiting its change").to.clone();
    let legs: Vec<_> = b
        .logistics
        .shipments_of(order)
        .map(|s| (s.warehouse, s.carrier, s.planned_pickup_at))
        .collect();
    let waybills = b.logistics.shipments_of(order).map(|s| s.waybill.clone()).collect();
    let old_promise = b.fulfillment.fulfilling(order).and_then(|f| f.order.promise);
    let promise = b
        .fulfillment
        .redirect_promise(order, &to, &legs, now)
        .unwrap_or(old_promise);
    let outcome = match b.fulfillment.redirected(order, to, promise, effects) {
        Some(readdressed) => AddressOutcome::Redirected {
            waybills,
            promised_by: readdressed.promise.map(|p| p.promised_by),
        },
        None => AddressOutcome::NotCarriedOut(AddressRefusal::Delivered),
    };
    let (stepped, _) = book
        .step(id, |r| r.address_changed(outcome, Actor::Carrier, now))
        .expect("checked above");
    stepped.map_err(|e| refused(AfterSalesRefusal::StepNotAllowed(e)))
}

/// The checks of a change of address before the rules (see [`address`]), and where its
/// parcels are as the rules see them: not collected while only waybills exist.
fn check_address_change(
    c: &OpenRequest,
    order: &Order,
    b: &AfterSalesBooks<'_>,
    now: Timestamp,
) -> Result<(Parcels, AddressChange), Rejection> {
    let refuse = |r| refused(AfterSalesRefusal::Address(r));
    if order.state == OrderState::Delivered {
        return Err(refuse(AddressRefusal::Delivered));
    }
    let to = c.new_address.clone().ok_or(refuse(AddressRefusal::Missing))?;
    if to == order.address {
        return Err(refuse(AddressRefusal::Unchanged));
    }
    let parcels = match address::whereabouts(order, b.logistics) {
        Whereabouts::InWarehouses => {
            b.fulfillment
                .plan_readdress(order.id, &to, b.inventory, now)
                .map_err(|_| refuse(AddressRefusal::NotServed))?;
            Parcels::NotPickedUp
        }
        Whereabouts::Waybilled(waiting) => {
            let legs: Vec<_> = waiting.iter().map(address::WaitingParcel::leg).collect();
            b.fulfillment
                .redirect_promise(order.id, &to, &legs, now)
                .map_err(|_| refuse(AddressRefusal::NotServed))?;
            Parcels::NotPickedUp
        }
        Whereabouts::Collected => on_their_way(order, b.logistics),
    };
    let change = AddressChange {
        from: order.address.clone(),
        to,
        promised_by_before: order.promise.map(|p| p.promised_by),
        outcome: None,
    };
    Ok((parcels, change))
}

/// The deadlines of the policy of the shop a request belongs to (the default for none).
fn deadlines_of(book: &AfterSalesBook, id: AfterSalesId) -> super::request::Deadlines {
    let shop = book.request(id).map(|r| r.shop);
    shop.map_or_else(ShopPolicy::default, |shop| book.policy_of(shop))
        .policy
        .deadlines()
}

fn set_policy(book: &mut AfterSalesBook, c: &SetPolicy, effects: &mut Vec<Effect>) -> Result<Outcome, Rejection> {
    c.policy
        .policy
        .check()
        .map_err(|problem| refused(AfterSalesRefusal::InvalidPolicy(problem)))?;
    book.set_policy(c.shop, c.policy.clone());
    effects.push(Effect::AfterSalesPolicySaved {
        shop: c.shop,
        policy: c.policy.clone(),
    });
    Ok(Outcome::AfterSalesPolicy(c.policy.clone()))
}

/// Receives and inspects a return; restocked units move from sold back to available, in the
/// warehouses the order line's units were sold from (first allocations first).
fn receive_return(
    book: &mut AfterSalesBook,
    c: &ReceiveReturn,
    b: &mut AfterSalesBooks<'_>,
    now: Timestamp,
    effects: &mut Vec<Effect>,
) -> Result<(), Rejection> {
    let order = c.stored_order.as_ref();
    if book.request(c.id).is_none_or(|r| r.order != order.id) {
        return Err(refused(AfterSalesRefusal::UnknownRequest));
    }
    decide(book, c.id, Decider::Merchant(c.shop), |r| r.receive(c.inspection, now))?;
    if book.request(c.id).is_some_and(|r| r.kind == RequestKind::Exchange) {
        send_replacement(book, c, b, now, effects);
    }
    if c.inspection == Inspection::WriteOff {
        return Ok(());
    }
    let inventory = &mut *b.inventory;
    let request = book.request(c.id).expect("decided above");
    for line in &request.lines {
        let Some(sold) = order.lines.iter().find(|l| l.sku == line.sku) else {
            continue;
        };
        let mut units = line.quantity;
        for allocation in &sold.allocations {
            let back = units.min(allocation.quantity);
            if back <= 0 {
                break;
            }
            let level = inventory.restock_returned(line.sku, allocation.warehouse, back);
            units -= back;
            effects.push(Effect::StockChanged {
                shop: order.shop,
                sku: line.sku,
                warehouse: allocation.warehouse,
                level,
            });
        }
    }
    Ok(())
}

/// Gives held replacement units back to available stock.
fn release(held: &[Replacement], shop: ShopId, inventory: &mut Inventory, effects: &mut Vec<Effect>) {
    for replacement in held.iter().filter(|r| !r.held.is_empty()) {
        inventory.release(replacement.sku, &replacement.held);
        inventory.record_rows(shop, replacement.sku, &replacement.held, effects);
    }
}

/// Places the order that sends an exchange's replacement: zero price, paid by the exchange
/// (no payment intent: no money moves), to the original order's address, its lines holding
/// the units the exchange held; then dispatches it like any paid order (the nearest warehouse
/// that can send it, the held units counted as available to it), so it ships, is tracked and
/// explained like any order.
fn send_replacement(
    book: &mut AfterSalesBook,
    c: &ReceiveReturn,
    b: &mut AfterSalesBooks<'_>,
    now: Timestamp,
    effects: &mut Vec<Effect>,
) {
    let (held, request) = book.step(c.id, AfterSalesRequest::take_held).expect("received above");
    let lines: Vec<OrderLine> = held
        .into_iter()
        .map(|r| {
            assert!(
                !r.held.is_empty(),
                "exchange {} received without its replacement held",
                c.id
            );
            OrderLine {
                sku: r.sku,
                quantity: Quantity::new(r.quantity).expect("a requested quantity"),
                unit_price: Fen::ZERO,
                allocations: r.held,
            }
        })
        .collect();
    let order = Order {
        id: c.replacement_order,
        checkout: c.replacement_checkout,
        shop: request.shop,
        buyer: request.buyer,
        lines,
        total: Fen::ZERO,
        address: c.stored_order.address.clone(),
        state: OrderState::Paid,
        version: 1,
        created_at: now,
        payment_due_at: now,
        paid_at: Some(now),
        paid_by: None,
        cancelled_at: None,
        cancel_reason: None,
        flash_sale: None,
        promise: None,
    };
    effects.push(Effect::OrderCreated {
        order: order.clone(),
        request: Some(RequestRef(format!("exchange:{}", c.id))),
    });
    b.fulfillment.dispatch_paid_order(order, b.inventory, now, effects);
    book.step(c.id, |r| r.replacement_order = Some(c.replacement_order))
        .expect("received above");
}

fn decide(
    book: &mut AfterSalesBook,
    id: AfterSalesId,
    by: Decider,
    step: impl FnOnce(&mut AfterSalesRequest) -> Result<(), StepNotAllowed>,
) -> Result<(), Rejection> {
    if book.request(id).is_none_or(|r| !by.may_see(r)) {
        return Err(refused(AfterSalesRefusal::UnknownRequest));
    }
    let (stepped, _) = book.step(id, step).expect("checked above");
    stepped.map_err(|e| refused(AfterSalesRefusal::StepNotAllowed(e)))
}

/// A step reported by the platform's own parts (the payment provider's answer, a carrier's).
fn by_the_system(
    book: &mut AfterSalesBook,
    id: AfterSalesId,
    step: impl FnOnce(&mut AfterSalesRequest) -> Result<(), StepNotAllowed>,
) -> Result<(), Rejection> {
    let (stepped, _) = book.step(id, step).ok_or(refused(AfterSalesRefusal::UnknownRequest))?;
    stepped.map_err(|e| refused(AfterSalesRefusal::StepNotAllowed(e)))
}

fn by_buyer(
    book: &mut AfterSalesBook,
    id: AfterSalesId,
    buyer: BuyerId,
    step: impl FnOnce(&mut AfterSalesRequest) -> Result<(), StepNotAllowed>,
) -> Result<(), Rejection> {
    if book.request(id).is_none_or(|r| r.buyer != buyer) {
        return Err(refused(AfterSalesRefusal::UnknownRequest));
    }
    let (stepped, _) = book.step(id, step).expect("checked above");
    stepped.map_err(|e| refused(AfterSalesRefusal::StepNotAllowed(e)))
}

/// The order and its parcels as the request sees them: from memory while it is on its way,
/// from the shell's reading once delivered.
fn order_and_parcels<'a>(c: &'a OpenRequest, b: &'a AfterSalesBooks<'_>) -> Result<(&'a Order, Parcels), Rejection> {
    let stored = c.stored_order.as_ref();
    if let Some(fulfilling) = b.fulfillment.fulfilling(stored.id) {
        let order = &fulfilling.order;
        let parcels = on_their_way(order, b.logistics);
        return Ok((order, parcels));
    }
    match (stored.state, c.delivered_at) {
        (OrderState::Delivered, Some(delivered_at)) => Ok((stored, Parcels::Delivered { delivered_at })),
        // Paid or shipped by the database but no longer on its way here: it moved on since.
        (OrderState::Paid | OrderState::Shipped | OrderState::Delivered, _) => {
            Err(refused(AfterSalesRefusal::OrderChanged))
        }
        (state, _) => Err(refused(AfterSalesRefusal::Open(OpenRefusal::OrderNotPaid { state }))),
    }
}

/// A parcel handed to a carrier (its waybill issued) counts as collected: from then on the
/// warehouse can no longer stop it.
fn on_their_way(order: &Order, logistics: &LogisticsBook) -> Parcels {
    let mut shipments = logistics.shipments_of(order.id).peekable();
    if shipments.peek().is_none() {
        return Parcels::NotPickedUp;
    }
    let (mut picked_up_at, mut last_movement_at) = (Timestamp::from_unix_ms(i64::MAX), Timestamp::from_unix_ms(0));
    for shipment in shipments {
        picked_up_at = picked_up_at.min(shipment.picked_up_at.unwrap_or(shipment.created_at));
        last_movement_at = last_movement_at.max(shipment.last_movement_at);
    }
    Parcels::OnTheWay {
        picked_up_at,
        last_movement_at,
        promised_by: order.promise.as_ref().map(|p| p.promised_by),
    }
}

/// The money a request asks back: a cancellation all that is left of the payment; otherwise
/// the price of the units asked about.
fn amount_of(kind: RequestKind, lines: &[RequestLine], order: &Order, refundable: Fen) -> Fen {
    match kind {
        RequestKind::CancelBeforeShipment => refundable,
        RequestKind::ChangeAddress | RequestKind::Exchange => Fen::ZERO,
        RequestKind::RefundOnly | RequestKind::ReturnAndRefund => Fen::checked_sum(lines.iter().map(|line| {
            let price = order
                .lines
                .iter()
                .find(|l| l.sku == line.sku)
                .map_or(Fen::ZERO, |l| l.unit_price);
            price.checked_mul(line.quantity).unwrap_or(Fen::from_const(i64::MAX))
        }))
        .unwrap_or(Fen::from_const(i64::MAX)),
    }
}

/// The goods classes of the requested lines' products, each once, in a fixed order.
fn goods_of(lines: &[RequestLine], catalog: &CatalogBook) -> Vec<ExemptGoods> {
    let mut goods: Vec<ExemptGoods> = lines.iter().filter_map(|l| catalog.goods_class_of(l.sku)).collect();
    goods.sort();
    goods.dedup();
    goods
}

/// An exchange's replacements, checked against the catalog and the price paid for each line
/// (none for other kinds).
fn replacements_of(c: &OpenRequest, order: &Order, catalog: &CatalogBook) -> Result<Vec<Replacement>, OpenRefusal> {
    if c.kind != RequestKind::Exchange {
        return Ok(Vec::new());
    }
    let mut replacements = Vec::with_capacity(c.lines.len());
    for line in &c.lines {
        let not_exchangeable = OpenRefusal::ReplacementNotExchangeable { sku: line.sku };
        let wanted = c
            .exchange_for
            .iter()
            .find(|(of, _)| *of == line.sku)
            .map(|(_, wanted)| *wanted);
        let wanted = wanted.ok_or(not_exchangeable.clone())?;
        let (Some(returned), Ok(replacement)) = (catalog.sku(line.sku), catalog.active_sku(wanted, order.shop)) else {
            return Err(OpenRefusal::ReplacementNotExchangeable { sku: wanted });
        };
        if replacement.product != returned.product || replacement.id == returned.id {
            return Err(OpenRefusal::ReplacementNotExchangeable { sku: wanted });
        }
        let paid = order.lines.iter().find(|l| l.sku == line.sku).map(|l| l.unit_price);
        if paid != Some(replacement.price) {
            return Err(OpenRefusal::ReplacementPriceDiffers { sku: wanted });
        }
        replacements.push(Replacement {
            returned: line.sku,
            sku: wanted,
            quantity: line.quantity,
            held: Vec::new(),
        });
    }
    Ok(replacements)
}

/// Holds every replacement's units (available → reserved), or none: a line short of stock
/// gives back what the lines before it took.
fn hold(replacements: &mut [Replacement], inventory: &mut Inventory) -> Result<(), OpenRefusal> {
    for i in 0..replacements.len() {
        let (sku, quantity) = (replacements[i].sku, replacements[i].quantity);
        let Some(plan) = inventory.plan_reservation(sku, quantity) else {
            for earlier in &mut replacements[..i] {
                inventory.release(earlier.sku, &std::mem::take(&mut earlier.held));
            }
            let available = inventory.available_total(sku);
            return Err(OpenRefusal::ReplacementOutOfStock { sku, available });
        };
        inventory.reserve(sku, &plan);
        replacements[i].held = plan;
    }
    Ok(())
}

/// The mode the rules decide a request in: the shop's, except that a return of goods not yet
/// delivered is refused on a fact no merchant can overrule (a merchant approving it could
/// restock units still on their way), so a shadow rule set does not pass it on.
fn mode_of(kind: RequestKind, parcels: Parcels, shop: rules::RuleMode) -> rules::RuleMode {
    let returns_undelivered = kind == RequestKind::ReturnAndRefund && !matches!(parcels, Parcels::Delivered { .. });
    if returns_undelivered {
        rules::RuleMode::Enforced
    } else {
        shop
    }
}

/// Opens a request, screened by risk first when the shell asked; the decision is kept (when
/// worth a look) whether the request opened or not.
fn open(
    book: &mut AfterSalesBook,
    c: OpenRequest,
    b: &mut AfterSalesBooks<'_>,
    now: Timestamp,
    effects: &mut Vec<Effect>,
) -> Result<(), Rejection> {
    if c.stored_order.buyer != c.buyer {
        return Err(refused(AfterSalesRefusal::UnknownOrder));
    }
    let (risk_score, kept) = match &c.screening {
        Some(screening) => screen_request(&c, screening, b.risk, now),
        None => (None, None),
    };
    let opened = open_scored(book, c, risk_score, b, now, effects);
    if let Some(decision) = kept {
        let ordered = opened.is_ok();
        effects.push(Effect::RiskDecided(Box::new(RiskDecision { ordered, ..decision })));
    }
    opened
}

/// Risk's view of a request: the score the rules read (only while risk is on: in shadow it
/// changes nothing), and the decision to keep.
fn screen_request(
    c: &OpenRequest,
    screening: &Screening,
    risk: &mut RiskBook,
    now: Timestamp,
) -> (Option<u16>, Option<RiskDecision>) {
    let request = RiskRequest {
        buyer: c.buyer,
        subject: Subject::AfterSales { request: c.id },
        sale_starts_at: None,
        strict: false,
        address: Some(&c.stored_order.address),
        client: &screening.client,
    };
    let screened = risk.screen(&request, now);
    let enforced = risk.mode() == RiskMode::On;
    let score = enforced.then(|| risk.score_permille(screened.score));
    let shop = c.stored_order.shop;
    let kept = screened
        .kept
        .map(|assessment| request.decision(assessment, screening.decision, shop, false, enforced, now));
    (score, kept)
}

fn open_scored(
    book: &mut AfterSalesBook,
    c: OpenRequest,
    risk_score: Option<u16>,
    b: &mut AfterSalesBooks<'_>,
    now: Timestamp,
    effects: &mut Vec<Effect>,
) -> Result<(), Rejection> {
    if book.request(c.id).is_some() {
        return Err(Rejection::IdInUse);
    }
    let (order, parcels) = order_and_parcels(&c, b)?;
    book.recall(order.id, &c.earlier_requests)
        .map_err(|_| refused(AfterSalesRefusal::OrderChanged))?;
    // A copy: the order may be fulfillment's own, and an exchange changes the inventory below.
    let order = &order.clone();
    let lines = AfterSalesBook::lines_of(c.kind, &c.lines, order);
    let ask = Ask {
        shop: order.shop,
        buyer: c.buyer,
        order: order.id,
        kind: c.kind,
        reason: c.reason,
        amount: amount_of(c.kind, &lines, order, c.refundable),
        lines,
        return_shipping: book.policy_of(order.shop).policy.return_shipping,
        address_change: None,
        replacements: Vec::new(),
    };
    let open_refusal = |r| refused(AfterSalesRefusal::Open(r));
    book.check(&ask, order, c.refundable).map_err(open_refusal)?;
    let (parcels, ask) = match c.kind {
        RequestKind::ChangeAddress => {
            let (parcels, change) = check_address_change(&c, order, b, now)?;
            let address_change = Some(change);
            (parcels, Ask { address_change, ..ask })
        }
        _ => (parcels, ask),
    };
    let mut replacements = replacements_of(&c, order, b.catalog).map_err(open_refusal)?;
    let shop = book.policy_of(ask.shop);
    let goods = goods_of(&ask.lines, b.catalog);
    let facts = Facts {
        kind: ask.kind,
        reason: ask.reason,
        amount: ask.amount,
        parcels,
        goods: &goods,
        return_scanned_at: None,
        buyer: c.buyer_record,
        risk_score,
        policy: &shop.policy,
        now,
    };
    let decision = rules::decide(&facts, mode_of(ask.kind, parcels, shop.mode));
    if decision.acted == rules::Verdict::Refuse {
        return Err(open_refusal(OpenRefusal::RefusedByRules(decision)));
    }
    hold(&mut replacements, b.inventory).map_err(open_refusal)?;
    for replacement in &replacements {
        b.inventory
            .record_rows(order.shop, replacement.sku, &replacement.held, effects);
    }
    let ask = Ask { replacements, ..ask };
    book.open(c.id, ask, decision, now, shop.policy.deadlines())
        .map(|_| ())
        .map_err(open_refusal)
}

/// Runs the deadlines due at `now` (at most `max`): a silent merchant is deemed to agree, an
/// unused appeal lapses. Then forgets the requests settled longer than the retention ago.
/// Returns the requests that moved.
pub(crate) fn run_timers(
    book: &mut AfterSalesBook,
    b: AfterSalesBooks<'_>,
    now: Timestamp,
    max: usize,
    effects: &mut Vec<Effect>,
) -> Vec<AfterSalesId> {
    let due = book.due(now, max);
    for id in &due {
        let before = book.request(*id).map_or(0, |r| r.timeline.len());
        let shop = book.request(*id).expect("a timer names a request in the book").shop;
        let deadlines = book.policy_of(shop).policy.deadlines();
        let (moved, _) = book.step(*id, |r| r.on_time(now, deadlines)).expect("in the book");
        assert!(moved, "a due request {id} did not move at its deadline");
        let books = AfterSalesBooks {
            catalog: b.catalog,
            fulfillment: &mut *b.fulfillment,
            inventory: &mut *b.inventory,
            logistics: b.logistics,
            flash: &mut *b.flash,
            risk: &mut *b.risk,
        };
        settle_step(book, *id, before, books, now, effects);
    }
    book.evict_settled(now.plus_seconds(-SETTLED_REQUEST_RETENTION_MS / 1000));
    due
}
