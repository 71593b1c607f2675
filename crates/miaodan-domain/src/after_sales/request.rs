//! One after-sales request's life, as a state machine whose every step is kept on a timeline.
//!
//! ```text
//!  opened ──rules approve──────────────────────────────► approved ─┬─► refunding ──► refunded
//!    │                                                      ▲      ├─► awaiting return ──scan──► return in transit
//!    └──rules pass it on──► with merchant ──agrees/silent───┘      │        │ (window)      │ (rules may refund now)
//!                              │                                   │        ▼               ▼
//!                              └──refuses──► refused ──buyer asks──► with platform     received ──inspect──► refunding
//!                                               │ (final if not)        │ admin decides
//!                                               ▼                       ▼
//!                                             closed ◄─────────── approved | closed
//! ```
//!
//! A return's pickup booked by the platform ([`ReturnPickup`]) is tracked like an outbound
//! parcel (a [`Shipment`]: events kept as a set sorted by event time). Its first scan moves the
//! request to `return in transit` (and, when the rules trust the buyer, to `refunding` at once:
//! 闪电退款); its delivered scan is the parcel's arrival at the warehouse (`received`, or a step
//! recorded on a request already refunding or refunded, which the merchant still inspects); a
//! return in transit that stops moving for the shop's stalled hours goes to the platform.
//! An exchange (换货) runs the return's path; once its parcel is received and inspected it is
//! `exchanged`: its replacement left in a zero-price order of its own (`replacement_order`).
//!
//! Invariants: a request is decided once (its first decision is never rewritten, later steps
//! are appended); money moves only from `approved`, `received` or the carrier's first scan of a
//! return, once; a closed request takes no further step, and a refunded one only records its
//! parcel's arrival and inspection.

use super::address::{AddressChange, AddressOutcome};
use super::policy::ReturnShipping;
use super::rules::{Decision, Verdict};
use super::{Reason, RequestKind};
use crate::fulfillment::network::CarrierId;
use crate::inventory::Allocation;
use crate::logistics::shipment::{EventOutcome, EventRefusal, Shipment, TrackingEvent, Waybill};
use crate::{BuyerId, Fen, OrderId, ShopId, SkuId, Timestamp};

/// Units of one order line the request covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RequestLine {
    pub sku: SkuId,
    pub quantity: i64,
}

impl RequestLine {
    /// Every unit of the order, line by line.
    pub fn whole(order: &crate::orders::Order) -> Vec<RequestLine> {
        order
            .lines
            .iter()
            .map(|l| RequestLine {
                sku: l.sku,
                quantity: l.quantity.get(),
            })
            .collect()
    }
}

/// One line of an exchange: `quantity` units of the order's `returned` SKU go back and as many
/// of `sku` (another SKU of the same product, at the same price) come instead.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Replacement {
    pub returned: SkuId,
    pub sku: SkuId,
    pub quantity: i64,
    /// Where the replacement units are held (reserved, so nobody else buys them) while the
    /// exchange is open; empty once they were released or sold to the replacement order.
    pub held: Vec<Allocation>,
}

/// Where a request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Stage {
    /// The rules passed it on; the merchant answers by `due_at` or is deemed to agree.
    WithMerchant {
        due_at: Timestamp,
    },
    /// Agreed (by the rules, the merchant, its silence or the platform); what follows depends
    /// on the kind.
    Approved,
    /// The buyer sends the goods back by `expires_at`.
    AwaitingReturn {
        expires_at: Timestamp,
    },
    /// The carrier has the return parcel.
    ReturnInTransit,
    /// The warehouse has it; the merchant inspects.
    Received,
    /// The merchant refused; the buyer may ask the platform to step in until `appeal_by`.
    Refused {
        appeal_by: Timestamp,
    },
    /// The platform (an admin) decides.
    WithPlatform,
    /// The refund is with the payment provider.
    Refunding,
    Refunded,
    /// An exchange's goods came back and its replacement left in an order of its own: the
    /// returned units are taken for good, like refunded ones.
    Exchanged,
    /// Nothing more happens: withdrawn, refused for good, an unused return expired, or an
    /// approved request with no money to move (an address change, an exchange).
    Closed,
}

impl Stage {
    /// Every stage's name, in the order of [`Stage::as_str`].
    pub const NAMES: [&'static str; 11] = [
        "with_merchant",
        "approved",
        "awaiting_return",
        "return_in_transit",
        "received",
        "refused",
        "with_platform",
        "refunding",
        "refunded",
        "exchanged",
        "closed",
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Stage::WithMerchant { .. } => "with_merchant",
            Stage::Approved => "approved",
            Stage::AwaitingReturn { .. } => "awaiting_return",
            Stage::ReturnInTransit => "return_in_transit",
            Stage::Received => "received",
            Stage::Refused { .. } => "refused",
            Stage::WithPlatform => "with_platform",
            Stage::Refunding => "refunding",
            Stage::Refunded => "refunded",
            Stage::Exchanged => "exchanged",
            Stage::Closed => "closed",
        }
    }

    /// Whether the request still holds its units (a second request for them is refused).
    pub const fn is_open(self) -> bool {
        !matches!(self, Stage::Refunded | Stage::Exchanged | Stage::Closed)
    }
}

/// Who took a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Actor {
    Buyer,
    Rules,
    Merchant,
    /// The merchant's deadline passed: silence is consent.
    Deadline,
    Platform,
    Carrier,
    Warehouse,
    Provider,
}

/// What a merchant's inspection of a returned parcel found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Inspection {
    /// Back on the shelf as sellable stock.
    Restock,
    /// Damaged: written off, not sellable.
    WriteOff,
}

impl Inspection {
    pub const ALL: [Inspection; 2] = [Inspection::Restock, Inspection::WriteOff];

    pub const fn as_str(self) -> &'static str {
        match self {
            Inspection::Restock => "restock",
            Inspection::WriteOff => "write_off",
        }
    }

    pub fn parse(raw: &str) -> Option<Inspection> {
        Inspection::ALL.into_iter().find(|i| i.as_str() == raw)
    }
}

/// The parcel a buyer sends back: the carrier that took it and its waybill number.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReturnParcel {
    pub carrier: CarrierId,
    pub waybill: Waybill,
}

/// The return pickup the platform booked with a carrier, from the buyer's address to the
/// warehouse the units were sold from, and its price as the carrier quoted it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReturnPickup {
    /// The return parcel, tracked as logistics tracks every parcel: its carrier, waybill and
    /// destination warehouse, and the carrier's events as a set sorted by event time.
    pub shipment: Shipment,
    /// The carrier's price for the first weight (首重).
    pub first_weight: Fen,
    /// The carrier's price for the weight above it (续重).
    pub additional: Fen,
    /// How long a moving parcel may go without a scan before the platform steps in: the
    /// shop's stalled hours when the pickup was booked.
    pub stalled_after_ms: i64,
}

impl ReturnPickup {
    /// When the carrier first scanned the parcel.
    pub fn scanned_at(&self) -> Option<Timestamp> {
        self.shipment.picked_up_at
    }

    /// When a parcel on its way counts as stalled: its last scan plus the stalled time. `None`
    /// before the first scan and once it arrived (or went back).
    pub fn stalls_at(&self) -> Option<Timestamp> {
        let s = &self.shipment;
        let moving = s.picked_up_at.is_some() && !s.is_terminal();
        moving.then(|| Timestamp::from_unix_ms(s.last_movement_at.unix_ms().saturating_add(self.stalled_after_ms)))
    }
}

/// One step on a request's timeline.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Step {
    pub at: Timestamp,
    pub actor: Actor,
    pub stage: Stage,
}

/// A step that the request's stage does not allow, reported as data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StepNotAllowed {
    pub stage: Stage,
    pub actor: Actor,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AfterSalesRequest {
    pub shop: ShopId,
    pub buyer: BuyerId,
    pub order: OrderId,
    pub kind: RequestKind,
    pub reason: Reason,
    pub lines: Vec<RequestLine>,
    /// The money asked back; zero for an address change or an exchange.
    pub amount: Fen,
    pub decision: Decision,
    pub stage: Stage,
    /// Who pays the shipping of goods sent back, by the shop's policy when the request was
    /// opened; `None` for a request without goods to send.
    pub return_shipping: Option<ReturnShipping>,
    /// The return parcel, once the buyer has sent it.
    pub return_parcel: Option<ReturnParcel>,
    /// The return pickup the platform booked, once booked.
    pub return_pickup: Option<ReturnPickup>,
    /// What the rules decided at the carrier's first scan of the booked return parcel (the
    /// request's first decision stays as it was).
    pub scan_decision: Option<Decision>,
    pub inspection: Option<Inspection>,
    /// A change of address: from where, to where, and once carried out, what came of it.
    pub address_change: Option<AddressChange>,
    /// An exchange's replacement lines (empty for other kinds).
    pub replacements: Vec<Replacement>,
    /// The zero-price order that sends an exchange's replacement, once the return is in.
    pub replacement_order: Option<OrderId>,
    pub opened_at: Timestamp,
    pub timeline: Vec<Step>,
}

/// How long the steps of a request may take; from the shop's policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadlines {
    pub merchant_answer_ms: i64,
    pub appeal_ms: i64,
    pub return_ms: i64,
}

/// What a buyer asks, before the rules have seen it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ask {
    pub shop: ShopId,
    pub buyer: BuyerId,
    pub order: OrderId,
    pub kind: RequestKind,
    pub reason: Reason,
    pub lines: Vec<RequestLine>,
    pub amount: Fen,
    /// Who pays a return's shipping under the shop's policy.
    pub return_shipping: ReturnShipping,
    /// For a change of address: the order's address and the new one.
    pub address_change: Option<AddressChange>,
    /// An exchange's replacement lines, their units already held.
    pub replacements: Vec<Replacement>,
}

impl AfterSalesRequest {
    /// A request the rules have decided: approved requests proceed at once, the others wait
    /// for the merchant. A refusal opens nothing: the buyer is told why, and nothing changes.
    pub fn open(
        ask: Ask,
        decision: Decision,
        at: Timestamp,
        deadlines: Deadlines,
    ) -> Result<AfterSalesRequest, Decision> {
        let mut request = AfterSalesRequest {
            shop: ask.shop,
            buyer: ask.buyer,
            order: ask.order,
            kind: ask.kind,
            reason: ask.reason,
            lines: ask.lines,
            amount: ask.amount,
            stage: Stage::Closed,
            return_shipping: matches!(ask.kind, RequestKind::ReturnAndRefund | RequestKind::Exchange)
                .then_some(ask.return_shipping),
            return_parcel: None,
            return_pickup: None,
            scan_decision: None,
            inspection: None,
            address_change: ask.address_change,
            replacements: ask.replacements,
            replacement_order: None,
            opened_at: at,
            timeline: Vec::new(),
            decision,
        };
        match request.decision.acted {
            Verdict::Refuse => return Err(request.decision),
            Verdict::Approve => request.proceed(at, Actor::Rules, deadlines),
            Verdict::ToMerchant => {
                let due_at = Timestamp::from_unix_ms(at.unix_ms() + deadlines.merchant_answer_ms);
                request.step(at, Actor::Rules, Stage::WithMerchant { due_at });
            }
        }
        Ok(request)
    }

    fn step(&mut self, at: Timestamp, actor: Actor, stage: Stage) {
        self.stage = stage;
        self.timeline.push(Step { at, actor, stage });
    }

    fn refuse_step(&self, actor: Actor) -> StepNotAllowed {
        StepNotAllowed {
            stage: self.stage,
            actor,
        }
    }

    /// After approval: a return waits for its parcel; a refund without return goes to the
    /// provider; a change of address stays approved until it is carried out (in the same
    /// command, or once the carriers have taken it); anything else without money closes.
    fn proceed(&mut self, at: Timestamp, actor: Actor, deadlines: Deadlines) {
        // Money already due (a refund the provider failed, approved again by the platform)
        // goes straight back to the provider: the goods, if any, are back already.
        let money_was_due = self.timeline.iter().any(|s| s.stage == Stage::Refunding);
        self.step(at, actor, Stage::Approved);
        // A return the carrier already has (the platform approving a stalled one) is refunded:
        // the buyer sent it, the carrier holds it.
        let carrier_has_return = self.kind == RequestKind::ReturnAndRefund
            && self.return_pickup.as_ref().is_some_and(|p| p.scanned_at().is_some());
        if self.kind == RequestKind::ChangeAddress {
            return;
        }
        let next = match self.kind {
            _ if money_was_due || carrier_has_return => Stage::Refunding,
            RequestKind::ReturnAndRefund | RequestKind::Exchange => Stage::AwaitingReturn {
                expires_at: Timestamp::from_unix_ms(at.unix_ms() + deadlines.return_ms),
            },
            RequestKind::CancelBeforeShipment | RequestKind::RefundOnly if self.amount > Fen::ZERO => Stage::Refunding,
            _ => Stage::Closed,
        };
        self.step(at, actor, next);
    }

    /// The merchant agrees, or the platform decides for the buyer.
    pub fn approve(&mut self, actor: Actor, at: Timestamp, deadlines: Deadlines) -> Result<(), StepNotAllowed> {
        match (self.stage, actor) {
            (Stage::WithMerchant { .. }, Actor::Merchant) | (Stage::WithPlatform, Actor::Platform) => {
                self.proceed(at, actor, deadlines);
                Ok(())
            }
            _ => Err(self.refuse_step(actor)),
        }
    }

    /// The merchant refuses (the buyer may appeal), or the platform refuses for good.
    pub fn refuse(&mut self, actor: Actor, at: Timestamp, deadlines: Deadlines) -> Result<(), StepNotAllowed> {
        match (self.stage, actor) {
            (Stage::WithMerchant { .. }, Actor::Merchant) => {
                let appeal_by = Timestamp::from_unix_ms(at.unix_ms() + deadlines.appeal_ms);
                self.step(at, actor, Stage::Refused { appeal_by });
                Ok(())
            }
            (Stage::WithPlatform, Actor::Platform) => {
                self.step(at, actor, Stage::Closed);
                Ok(())
            }
            _ => Err(self.refuse_step(actor)),
        }
    }

    /// The buyer asks the platform to step in after a merchant's refusal (平台介入).
    pub fn appeal(&mut self, at: Timestamp) -> Result<(), StepNotAllowed> {
        match self.stage {
            Stage::Refused { appeal_by } if at < appeal_by => {
                self.step(at, Actor::Buyer, Stage::WithPlatform);
                Ok(())
            }
            _ => Err(self.refuse_step(Actor::Buyer)),
        }
    }

    /// The buyer withdraws a request nobody has acted on yet.
    pub fn withdraw(&mut self, at: Timestamp) -> Result<(), StepNotAllowed> {
        match self.stage {
            Stage::WithMerchant { .. } | Stage::AwaitingReturn { .. } | Stage::Refused { .. } | Stage::WithPlatform => {
                self.step(at, Actor::Buyer, Stage::Closed);
                Ok(())
            }
            _ => Err(self.refuse_step(Actor::Buyer)),
        }
    }

    /// Time passed: a silent merchant is deemed to agree, an unused appeal or return lapses.
    /// Returns whether the request moved.
    pub fn on_time(&mut self, now: Timestamp, deadlines: Deadlines) -> bool {
        match self.stage {
            Stage::WithMerchant { due_at } if now >= due_at => self.proceed(now, Actor::Deadline, deadlines),
            Stage::Refused { appeal_by } if now >= appeal_by => self.step(now, Actor::Deadline, Stage::Closed),
            Stage::AwaitingReturn { expires_at } if now >= expires_at => self.step(now, Actor::Deadline, Stage::Closed),
            Stage::ReturnInTransit if self.due_at().is_some_and(|due| now >= due) => {
                self.step(now, Actor::Deadline, Stage::WithPlatform);
            }
            _ => return false,
        }
        true
    }

    /// A return whose money went out before its parcel came back (refunded on the carrier's
    /// first scan) and whose parcel has still not reached the warehouse `grace_ms` after the
    /// refund: what a buyer returning empty or fake parcels leaves behind (risk's
    /// `returns_without_parcel`).
    pub fn refunded_without_parcel(&self, now: Timestamp, grace_ms: i64) -> bool {
        if self.kind != RequestKind::ReturnAndRefund || self.timeline.iter().any(|s| s.actor == Actor::Warehouse) {
            return false;
        }
        let refunded_at = self
            .timeline
            .iter()
            .find(|s| matches!(s.stage, Stage::Refunding | Stage::Refunded))
            .map(|s| s.at.unix_ms());
        refunded_at.is_some_and(|at| now.unix_ms() - at >= grace_ms)
    }

    /// Whether nothing can happen to the request any more: closed, or refunded with no
    /// returned parcel still to inspect (a return refunded early on the carrier's scan is
    /// received and inspected after its refund). A settled request holds no deadline, and the
    /// shard's memory keeps it only for a while ([`super::book::SETTLED_REQUEST_RETENTION_MS`]).
    pub fn is_settled(&self) -> bool {
        let awaits_inspection =
            matches!(self.kind, RequestKind::ReturnAndRefund | RequestKind::Exchange) && self.inspection.is_none();
        match self.stage {
            Stage::Closed | Stage::Exchanged => true,
            Stage::Refunded => !awaits_inspection,
            _ => false,
        }
    }

    /// When the request settled: its last step, once it is settled.
    pub fn settled_at(&self) -> Option<Timestamp> {
        if !self.is_settled() {
            return None;
        }
        Some(self.timeline.last().map_or(self.opened_at, |step| step.at))
    }

    /// The next instant [`AfterSalesRequest::on_time`] would move the request, if any.
    pub fn due_at(&self) -> Option<Timestamp> {
        match self.stage {
            Stage::WithMerchant { due_at } => Some(due_at),
            Stage::Refused { appeal_by } => Some(appeal_by),
            Stage::AwaitingReturn { expires_at } => Some(expires_at),
            Stage::ReturnInTransit => self.return_pickup.as_ref().and_then(ReturnPickup::stalls_at),
            _ => None,
        }
    }

    /// The platform booked the return's pickup with a carrier: only while the return is
    /// awaited and the buyer has sent nothing; the same waybill booked again changes nothing.
    pub fn book_pickup(&mut self, pickup: ReturnPickup) -> Result<(), StepNotAllowed> {
        if let Some(booked) = &self.return_pickup {
            let same = booked.shipment.carrier == pickup.shipment.carrier
                && booked.shipment.waybill == pickup.shipment.waybill;
            return if same {
                Ok(())
            } else {
                Err(self.refuse_step(Actor::Platform))
            };
        }
        if !matches!(self.stage, Stage::AwaitingReturn { .. }) || self.return_parcel.is_some() {
            return Err(self.refuse_step(Actor::Platform));
        }
        self.return_pickup = Some(pickup);
        Ok(())
    }

    /// A carrier's event on the booked return waybill, applied once in event-time order. The
    /// first scan of an awaited return asks `decide` (the rules, given when the carrier first
    /// scanned it) whether to refund now; the delivered scan records the parcel's arrival at
    /// the warehouse. The caller checked that the request has a pickup.
    pub fn track_return(
        &mut self,
        event: TrackingEvent,
        now: Timestamp,
        decide: impl FnOnce(Timestamp) -> Decision,
    ) -> Result<EventOutcome, EventRefusal> {
        let pickup = self.return_pickup.as_mut().expect("a tracked return has a pickup");
        let arrived_before = pickup.shipment.delivered_at.is_some();
        let applied = pickup.shipment.apply_event(event, now)?;
        if applied == EventOutcome::Duplicate {
            return Ok(applied);
        }
        let (scanned_at, arrived) = (pickup.scanned_at(), pickup.shipment.delivered_at.is_some());
        if let (Some(scanned_at), Stage::AwaitingReturn { .. }) = (scanned_at, self.stage) {
            let decision = decide(scanned_at);
            let refund_now = decision.acted == Verdict::Approve;
            self.scan_decision = Some(decision);
            self.return_scanned(now, refund_now).expect("the return is awaited");
        }
        if arrived && !arrived_before {
            self.return_delivered(now);
        }
        Ok(applied)
    }

    /// The carrier delivered the return parcel to the warehouse: the merchant inspects it next.
    fn return_delivered(&mut self, at: Timestamp) {
        match self.stage {
            Stage::ReturnInTransit => self.step(at, Actor::Carrier, Stage::Received),
            // Refunded on the carrier's scan: the arrival is recorded, the money already left.
            Stage::Refunding | Stage::Refunded => self.timeline.push(Step {
                at,
                actor: Actor::Carrier,
                stage: self.stage,
            }),
            // Withdrawn, expired, or received by the merchant before the carrier said so.
            _ => {}
        }
    }

    /// The carrier scanned the return parcel. With `refund_now` (the rules trust the buyer)
    /// the money goes before the parcel arrives.
    pub fn return_scanned(&mut self, at: Timestamp, refund_now: bool) -> Result<(), StepNotAllowed> {
        if !matches!(self.stage, Stage::AwaitingReturn { .. }) {
            return Err(self.refuse_step(Actor::Carrier));
        }
        self.step(at, Actor::Carrier, Stage::ReturnInTransit);
        if refund_now && self.kind == RequestKind::ReturnAndRefund {
            self.step(at, Actor::Rules, Stage::Refunding);
        }
        Ok(())
    }

    /// The buyer handed the return parcel to a carrier. Only a carrier's own scan (through its
    /// signed tracking webhook) may let the rules refund before the parcel arrives; the
    /// buyer's word moves the request on, not the money.
    pub fn return_shipped(&mut self, parcel: ReturnParcel, at: Timestamp) -> Result<(), StepNotAllowed> {
        if !matches!(self.stage, Stage::AwaitingReturn { .. }) {
            return Err(self.refuse_step(Actor::Buyer));
        }
        self.return_parcel = Some(parcel);
        self.step(at, Actor::Buyer, Stage::ReturnInTransit);
        Ok(())
    }

    /// The shop's warehouse received the return parcel and the merchant inspected it, in one
    /// step: a return and refund goes to the provider whatever the inspection found.
    pub fn receive(&mut self, inspection: Inspection, at: Timestamp) -> Result<(), StepNotAllowed> {
        // Only a return has goods coming back: "receiving" a cancellation or a refund while
        // its money is with the provider would put another order's sold units back on sale.
        if !matches!(self.kind, RequestKind::ReturnAndRefund | RequestKind::Exchange) {
            return Err(self.refuse_step(Actor::Merchant));
        }
        let received = matches!(
            self.stage,
            Stage::AwaitingReturn { .. }
                | Stage::ReturnInTransit
                | Stage::Received
                | Stage::Refunding
                | Stage::Refunded
        );
        if !received || self.inspection.is_some() {
            return Err(self.refuse_step(Actor::Merchant));
        }
        // The carrier's delivered scan already put it in `received`.
        if self.stage != Stage::Received {
            self.return_received(at)?;
        }
        self.inspect(inspection, at)
    }

    /// The warehouse received the return parcel (also one the buyer brought without a
    /// waybill, while the return is still awaited).
    pub fn return_received(&mut self, at: Timestamp) -> Result<(), StepNotAllowed> {
        match self.stage {
            Stage::ReturnInTransit | Stage::AwaitingReturn { .. } => {
                self.step(at, Actor::Warehouse, Stage::Received);
                Ok(())
            }
            // Refunded early on the carrier's scan: the parcel still has to be inspected, but
            // the money is already on its way.
            Stage::Refunding | Stage::Refunded if self.inspection.is_none() => {
                self.timeline.push(Step {
                    at,
                    actor: Actor::Warehouse,
                    stage: self.stage,
                });
                Ok(())
            }
            _ => Err(self.refuse_step(Actor::Warehouse)),
        }
    }

    /// The merchant inspected the returned units.
    pub fn inspect(&mut self, inspection: Inspection, at: Timestamp) -> Result<(), StepNotAllowed> {
        if self.inspection.is_some() {
            return Err(self.refuse_step(Actor::Merchant));
        }
        match self.stage {
            Stage::Received => {
                self.inspection = Some(inspection);
                let next = match self.kind {
                    RequestKind::ReturnAndRefund => Stage::Refunding,
                    RequestKind::Exchange => Stage::Exchanged,
                    _ => Stage::Closed,
                };
                self.step(at, Actor::Merchant, next);
                Ok(())
            }
            Stage::Refunding | Stage::Refunded if self.timeline.iter().any(|s| s.actor == Actor::Warehouse) => {
                self.inspection = Some(inspection);
                Ok(())
            }
            _ => Err(self.refuse_step(Actor::Merchant)),
        }
    }

    /// The units an open exchange holds, per replacement SKU.
    pub fn held(&self) -> impl Iterator<Item = (SkuId, &Allocation)> {
        self.replacements
            .iter()
            .flat_map(|r| r.held.iter().map(move |a| (r.sku, a)))
    }

    /// Hands the held units over (to be released or sold): the replacement lines, each with
    /// the units it held; the request holds nothing after.
    pub fn take_held(&mut self) -> Vec<Replacement> {
        self.replacements
            .iter_mut()
            .map(|r| Replacement {
                held: std::mem::take(&mut r.held),
                ..r.clone()
            })
            .collect()
    }

    /// The provider failed the refund (it refused to pay it out): the platform steps in and
    /// an operator decides — approve (a new refund) or refuse.
    pub fn refund_failed(&mut self, at: Timestamp) -> Result<(), StepNotAllowed> {
        if self.stage != Stage::Refunding {
            return Err(self.refuse_step(Actor::Provider));
        }
        self.step(at, Actor::Provider, Stage::WithPlatform);
        Ok(())
    }

    /// Which refund of the request this is: 1 for the first, one more each time a failed
    /// refund was approved again (its provider reference must be new).
    pub fn refund_attempt(&self) -> usize {
        // Steps into `refunding`; a step that records something without moving the request
        // (the warehouse receiving a parcel already being refunded) is not one.
        let mut previous = None;
        let mut attempts = 0;
        for step in &self.timeline {
            if step.stage == Stage::Refunding && previous != Some(Stage::Refunding) {
                attempts += 1;
            }
            previous = Some(step.stage);
        }
        attempts
    }

    /// An approved change of address was carried out (or could no longer be): the request
    /// closes with what came of it.
    pub fn address_changed(
        &mut self,
        outcome: AddressOutcome,
        actor: Actor,
        at: Timestamp,
    ) -> Result<(), StepNotAllowed> {
        let waiting = self.address_change.as_ref().is_some_and(|c| c.outcome.is_none());
        if self.stage != Stage::Approved || !waiting {
            return Err(self.refuse_step(actor));
        }
        if let Some(change) = self.address_change.as_mut() {
            change.outcome = Some(outcome);
        }
        self.step(at, actor, Stage::Closed);
        Ok(())
    }

    /// An approved change of address still to be carried out (by the carriers).
    pub fn awaits_address_change(&self) -> bool {
        self.stage == Stage::Approved && self.address_change.as_ref().is_some_and(|c| c.outcome.is_none())
    }

    /// The provider settled the refund.
    pub fn refunded(&mut self, at: Timestamp) -> Result<(), StepNotAllowed> {
        if self.stage != Stage::Refunding {
            return Err(self.refuse_step(Actor::Provider));
        }
        self.step(at, Actor::Provider, Stage::Refunded);
        Ok(())
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::after_sales::rules::{RULE_SET_VERSION, RuleMode};

    const HOUR_MS: i64 = 3_600_000;

    #[test]
    fn every_stage_is_named_once_in_the_list_filters_and_topics_read() {
        let at = Timestamp::from_unix_ms(0);
        let stages = [
            Stage::WithMerchant { due_at: at },
            Stage::Approved,
            Stage::AwaitingReturn { expires_at: at },
            Stage::ReturnInTransit,
            Stage::Received,
            Stage::Refused { appeal_by: at },
            Stage::WithPlatform,
            Stage::Refunding,
            Stage::Refunded,
            Stage::Exchanged,
            Stage::Closed,
        ];
        let names: Vec<&str> = stages.iter().map(|s| s.as_str()).collect();
        assert_eq!(names, Stage::NAMES);
    }
    /// The default policy's deadlines (the book's tests use them too).
    pub(in crate::after_sales) const DEADLINES: Deadlines = Deadlines {
        merchant_answer_ms: 48 * HOUR_MS,
        appeal_ms: 72 * HOUR_MS,
        return_ms: 7 * 24 * HOUR_MS,
    };

    fn at(hours: i64) -> Timestamp {
        Timestamp::from_unix_ms(1_800_000_000_000 + hours * HOUR_MS)
    }

    fn request(kind: RequestKind, amount_fen: i64, stage: Stage) -> AfterSalesRequest {
        AfterSalesRequest {
            shop: ShopId::new(1).expect("a positive id"),
            buyer: BuyerId::new(1).expect("a positive id"),
            order: OrderId::new(1).expect("a positive id"),
            kind,
            reason: Reason::QualityIssue,
            lines: vec![RequestLine {
                sku: SkuId::new(1).expect("a positive id"),
                quantity: 1,
            }],
            amount: Fen::from_const(amount_fen),
            decision: decision(Verdict::ToMerchant),
            stage,
            return_shipping: None,
            return_parcel: None,
            return_pickup: None,
            scan_decision: None,
            inspection: None,
            address_change: None,
            replacements: vec![],
            replacement_order: None,
            opened_at: at(0),
            timeline: vec![],
        }
    }

    fn with_merchant(kind: RequestKind, amount_fen: i64) -> AfterSalesRequest {
        request(kind, amount_fen, Stage::WithMerchant { due_at: at(48) })
    }

    fn stages(r: &AfterSalesRequest) -> Vec<&'static str> {
        r.timeline.iter().map(|s| s.stage.as_str()).collect()
    }

    /// A decision whose verdict was acted on as it was.
    pub(in crate::after_sales) fn decision(acted: Verdict) -> Decision {
        Decision {
            rule_set_version: RULE_SET_VERSION,
            mode: RuleMode::Enforced,
            verdict: acted,
            acted,
            fired: vec![],
        }
    }

    #[test]
    fn a_request_opens_where_its_decision_sends_it_and_a_refusal_opens_nothing() {
        let ask = |kind| Ask {
            shop: ShopId::new(1).expect("a positive id"),
            buyer: BuyerId::new(1).expect("a positive id"),
            order: OrderId::new(1).expect("a positive id"),
            kind,
            reason: Reason::ChangedMind,
            lines: vec![],
            amount: Fen::from_const(100),
            return_shipping: ReturnShipping::PlatformFirstWeight,
            address_change: None,
            replacements: vec![],
        };
        let approved = AfterSalesRequest::open(
            ask(RequestKind::RefundOnly),
            decision(Verdict::Approve),
            at(0),
            DEADLINES,
        );
        assert_eq!(approved.map(|r| stages(&r)), Ok(vec!["approved", "refunding"]));
        let queued = AfterSalesRequest::open(
            ask(RequestKind::RefundOnly),
            decision(Verdict::ToMerchant),
            at(0),
            DEADLINES,
        );
        assert_eq!(queued.map(|r| r.stage), Ok(Stage::WithMerchant { due_at: at(48) }));
        let refused = AfterSalesRequest::open(
            ask(RequestKind::RefundOnly),
            decision(Verdict::Refuse),
            at(0),
            DEADLINES,
        );
        assert_eq!(refused.map(|r| r.stage), Err(decision(Verdict::Refuse)));
    }

    #[test]
    fn a_silent_merchant_is_deemed_to_agree_at_the_deadline_and_not_before() {
        let mut r = with_merchant(RequestKind::RefundOnly, 5_990);
        assert!(!r.on_time(at(47), DEADLINES));
        assert!(r.on_time(at(48), DEADLINES));
        assert_eq!(stages(&r), ["approved", "refunding"]);
        assert_eq!(r.timeline[0].actor, Actor::Deadline);
        assert_eq!(r.due_at(), None);
    }

    #[test]
    fn an_approved_request_goes_where_its_kind_leads() {
        let cases = [
            (RequestKind::RefundOnly, 5_990, "refunding"),
            (RequestKind::CancelBeforeShipment, 5_990, "refunding"),
            (RequestKind::ReturnAndRefund, 5_990, "awaiting_return"),
            (RequestKind::Exchange, 0, "awaiting_return"),
            (RequestKind::ChangeAddress, 0, "approved"),
        ];
        for (kind, amount, next) in cases {
            let mut r = with_merchant(kind, amount);
            r.approve(Actor::Merchant, at(1), DEADLINES).expect("with the merchant");
            let expected: &[&str] = match kind {
                // Carried out by the command that approved it, which then closes it.
                RequestKind::ChangeAddress => &["approved"],
                _ => &["approved", next],
            };
            assert_eq!(stages(&r), expected, "{kind:?}");
        }
    }

    #[test]
    fn a_refused_buyer_may_appeal_in_time_and_the_platform_decides() {
        let mut r = with_merchant(RequestKind::RefundOnly, 5_990);
        r.refuse(Actor::Merchant, at(1), DEADLINES).expect("with the merchant");
        assert_eq!(r.appeal(at(1 + 72)).map_err(|e| e.stage.as_str()), Err("refused"));
        r.appeal(at(10)).expect("in time");
        assert_eq!(
            r.approve(Actor::Merchant, at(11), DEADLINES).map_err(|e| e.actor),
            Err(Actor::Merchant),
            "the merchant has had its say"
        );
        r.approve(Actor::Platform, at(12), DEADLINES)
            .expect("the platform decides");
        assert_eq!(stages(&r), ["refused", "with_platform", "approved", "refunding"]);
    }

    #[test]
    fn an_unused_appeal_closes_the_request() {
        let mut r = with_merchant(RequestKind::RefundOnly, 5_990);
        r.refuse(Actor::Merchant, at(1), DEADLINES).expect("with the merchant");
        assert!(r.on_time(at(73), DEADLINES));
        assert_eq!(r.stage, Stage::Closed);
        assert!(!r.stage.is_open());
    }

    #[test]
    fn a_return_is_refunded_after_inspection_or_on_the_carriers_scan_for_a_trusted_buyer() {
        let mut slow = request(RequestKind::ReturnAndRefund, 5_990, Stage::Approved);
        slow.proceed(at(0), Actor::Rules, DEADLINES);
        slow.return_scanned(at(5), false).expect("awaiting");
        slow.return_received(at(30)).expect("in transit");
        slow.inspect(Inspection::Restock, at(31)).expect("received");
        slow.refunded(at(32)).expect("refunding");
        assert_eq!(
            stages(&slow),
            [
                "approved",
                "awaiting_return",
                "return_in_transit",
                "received",
                "refunding",
                "refunded"
            ]
        );

        let mut fast = request(RequestKind::ReturnAndRefund, 5_990, Stage::Approved);
        fast.proceed(at(0), Actor::Rules, DEADLINES);
        fast.return_scanned(at(5), true).expect("awaiting");
        fast.return_received(at(5))
            .expect("arrives while the refund is on its way");
        assert_eq!(fast.refund_attempt(), 1, "receiving the parcel starts no second refund");
        fast.refunded(at(6)).expect("refunding");
        fast.inspect(Inspection::WriteOff, at(31)).expect("and is inspected");
        assert_eq!(fast.stage, Stage::Refunded);
        assert_eq!(fast.inspection, Some(Inspection::WriteOff));
        assert_eq!(
            fast.inspect(Inspection::Restock, at(32)).map_err(|e| e.actor),
            Err(Actor::Merchant),
            "inspected once"
        );
    }

    #[test]
    fn a_return_the_buyer_sends_is_refunded_once_the_merchant_has_received_and_inspected_it() {
        let parcel = ReturnParcel {
            carrier: CarrierId::Zto,
            waybill: crate::logistics::shipment::parse_waybill("ZTO-RET-0001").expect("a waybill"),
        };
        let mut r = request(RequestKind::ReturnAndRefund, 5_990, Stage::Approved);
        assert_eq!(
            r.receive(Inspection::Restock, at(1)).map_err(|e| e.actor),
            Err(Actor::Merchant),
            "nothing to receive before the return is approved"
        );
        r.proceed(at(0), Actor::Rules, DEADLINES);
        r.return_shipped(parcel.clone(), at(2)).expect("awaiting the return");
        assert_eq!(r.return_parcel.as_ref(), Some(&parcel));
        assert_eq!(r.due_at(), None, "a parcel on its way no longer expires");
        assert!(r.return_shipped(parcel, at(3)).is_err(), "sent once");
        r.receive(Inspection::Restock, at(40)).expect("in transit");
        assert_eq!(r.inspection, Some(Inspection::Restock));
        assert!(r.receive(Inspection::WriteOff, at(41)).is_err(), "inspected once");
        assert_eq!(
            stages(&r),
            [
                "approved",
                "awaiting_return",
                "return_in_transit",
                "received",
                "refunding"
            ]
        );

        // A parcel brought back without a waybill is received all the same.
        let mut brought = request(RequestKind::ReturnAndRefund, 5_990, Stage::Approved);
        brought.proceed(at(0), Actor::Rules, DEADLINES);
        brought.receive(Inspection::WriteOff, at(5)).expect("awaited");
        assert_eq!(brought.stage, Stage::Refunding);
    }

    #[test]
    fn a_refund_the_provider_fails_goes_to_the_platform_and_an_approval_refunds_again() {
        let mut r = request(RequestKind::ReturnAndRefund, 5_990, Stage::Approved);
        r.proceed(at(0), Actor::Rules, DEADLINES);
        r.receive(Inspection::Restock, at(5)).expect("awaited");
        assert_eq!(r.refund_attempt(), 1);
        r.refund_failed(at(6)).expect("refunding");
        assert_eq!(r.stage, Stage::WithPlatform);
        assert!(r.refund_failed(at(7)).is_err(), "failed once");
        r.approve(Actor::Platform, at(8), DEADLINES)
            .expect("the platform decides");
        assert_eq!(r.stage, Stage::Refunding, "the goods are back: no second return");
        assert_eq!(r.refund_attempt(), 2);
        r.refunded(at(9)).expect("refunding");
    }

    #[test]
    fn a_return_never_sent_expires() {
        let mut r = request(RequestKind::ReturnAndRefund, 5_990, Stage::Approved);
        r.proceed(at(0), Actor::Rules, DEADLINES);
        assert_eq!(r.due_at(), Some(at(7 * 24)));
        assert!(r.on_time(at(7 * 24), DEADLINES));
        assert_eq!(r.stage, Stage::Closed);
        assert!(r.return_scanned(at(7 * 24 + 1), true).is_err());
    }

    fn pickup(waybill: &str) -> ReturnPickup {
        let shipment = Shipment::new(
            crate::ids::ShipmentId::new(9).expect("a positive id"),
            OrderId::new(1).expect("a positive id"),
            ShopId::new(1).expect("a positive id"),
            crate::WarehouseId::new(1).expect("a positive id"),
            CarrierId::Zto,
            crate::logistics::shipment::parse_waybill(waybill).expect("a waybill"),
            at(0),
            at(0),
            at(7 * 24),
            None,
        );
        ReturnPickup {
            shipment,
            first_weight: Fen::from_const(800),
            additional: Fen::from_const(100),
            stalled_after_ms: 72 * HOUR_MS,
        }
    }

    fn scan(id: &str, state: crate::logistics::ShipmentState, hours: i64) -> TrackingEvent {
        TrackingEvent {
            event_id: id.into(),
            state,
            occurred_at: at(hours),
            location: None,
            received_at: at(hours),
        }
    }

    /// An awaited return with a booked pickup.
    fn booked() -> AfterSalesRequest {
        let mut r = request(RequestKind::ReturnAndRefund, 5_990, Stage::Approved);
        r.proceed(at(0), Actor::Rules, DEADLINES);
        r.book_pickup(pickup("ZTO-RET-0001")).expect("awaited");
        r
    }

    #[test]
    fn a_pickup_is_booked_once_while_the_return_is_awaited() {
        let mut r = booked();
        assert_eq!(r.book_pickup(pickup("ZTO-RET-0001")), Ok(()), "the same waybill again");
        assert!(r.book_pickup(pickup("ZTO-RET-0002")).is_err(), "another waybill");
        let mut sent = request(RequestKind::ReturnAndRefund, 5_990, Stage::Approved);
        assert!(sent.book_pickup(pickup("ZTO-RET-0003")).is_err(), "not yet approved");
        sent.proceed(at(0), Actor::Rules, DEADLINES);
        let parcel = ReturnParcel {
            carrier: CarrierId::Sf,
            waybill: crate::logistics::shipment::parse_waybill("SF-OWN-0001").expect("a waybill"),
        };
        sent.return_shipped(parcel, at(1)).expect("awaited");
        assert!(
            sent.book_pickup(pickup("ZTO-RET-0003")).is_err(),
            "the buyer sent it already"
        );
    }

    #[test]
    fn a_booked_return_is_in_transit_from_the_first_scan_and_received_at_the_delivered_scan_whatever_the_order() {
        use crate::logistics::ShipmentState::{Delivered, InTransit, PickedUp};
        let orders: [&[(&str, crate::logistics::ShipmentState, i64)]; 2] = [
            &[("e1", PickedUp, 2), ("e2", InTransit, 10), ("e3", Delivered, 30)],
            &[
                ("e3", Delivered, 30),
                ("e1", PickedUp, 2),
                ("e1", PickedUp, 2),
                ("e2", InTransit, 10),
            ],
        ];
        for events in orders {
            let mut r = booked();
            for (id, state, hours) in events {
                r.track_return(scan(id, *state, *hours), at(31), |_| decision(Verdict::ToMerchant))
                    .expect("accepted");
            }
            assert_eq!(stages(&r)[2..], ["return_in_transit", "received"], "{events:?}");
            assert_eq!(r.return_pickup.as_ref().map(|p| p.shipment.events.len()), Some(3));
            assert_eq!(r.scan_decision, Some(decision(Verdict::ToMerchant)));
            r.receive(Inspection::Restock, at(32)).expect("arrived");
            assert_eq!(r.stage, Stage::Refunding, "refunded after inspection");
            assert_eq!(r.refund_attempt(), 1);
        }
    }

    #[test]
    fn a_trusted_buyers_return_is_refunded_at_the_first_scan_once_and_still_inspected_on_arrival() {
        use crate::logistics::ShipmentState::{Delivered, PickedUp};
        let mut r = booked();
        let mut asked = Vec::new();
        let mut approve = |scanned_at| {
            asked.push(scanned_at);
            decision(Verdict::Approve)
        };
        r.track_return(scan("e1", PickedUp, 2), at(3), &mut approve)
            .expect("accepted");
        assert_eq!(r.stage, Stage::Refunding);
        assert_eq!(
            r.track_return(scan("e1", PickedUp, 2), at(3), &mut approve),
            Ok(EventOutcome::Duplicate)
        );
        r.refunded(at(4)).expect("refunding");
        r.track_return(scan("e2", Delivered, 30), at(30), &mut approve)
            .expect("accepted");
        assert_eq!(asked, [at(2)], "the rules decide once, at the first scan");
        assert_eq!(r.stage, Stage::Refunded);
        r.receive(Inspection::WriteOff, at(31)).expect("arrived");
        assert_eq!(r.inspection, Some(Inspection::WriteOff));
        assert_eq!(r.refund_attempt(), 1, "no second refund");
        assert_eq!(
            stages(&r),
            [
                "approved",
                "awaiting_return",
                "return_in_transit",
                "refunding",
                "refunded",
                "refunded",
                "refunded"
            ]
        );
    }

    #[test]
    fn a_booked_return_whose_parcel_never_moves_expires_with_its_window() {
        let mut r = booked();
        assert_eq!(r.due_at(), Some(at(7 * 24)));
        assert!(r.on_time(at(7 * 24), DEADLINES));
        assert_eq!(r.stage, Stage::Closed);
        assert_eq!(r.timeline.last().map(|s| s.actor), Some(Actor::Deadline));
    }

    #[test]
    fn a_return_in_transit_that_stops_moving_goes_to_the_platform_which_refunds_it() {
        use crate::logistics::ShipmentState::{InTransit, PickedUp};
        let mut r = booked();
        let no = |_| decision(Verdict::ToMerchant);
        r.track_return(scan("e1", PickedUp, 2), at(2), no).expect("accepted");
        r.track_return(scan("e2", InTransit, 10), at(10), no).expect("accepted");
        assert_eq!(r.due_at(), Some(at(10 + 72)), "stalled 72 h after the last scan");
        assert!(!r.on_time(at(81), DEADLINES));
        assert!(r.on_time(at(82), DEADLINES));
        assert_eq!(r.stage, Stage::WithPlatform);
        r.approve(Actor::Platform, at(90), DEADLINES)
            .expect("the platform decides");
        assert_eq!(r.stage, Stage::Refunding, "the carrier has the goods: no second return");
    }

    #[test]
    fn no_step_moves_money_twice_or_reopens_a_closed_request() {
        let mut r = with_merchant(RequestKind::RefundOnly, 5_990);
        r.approve(Actor::Merchant, at(1), DEADLINES).expect("with the merchant");
        r.refunded(at(2)).expect("refunding");
        assert!(r.refunded(at(3)).is_err());
        assert!(r.approve(Actor::Platform, at(3), DEADLINES).is_err());
        assert!(r.withdraw(at(3)).is_err());
        assert!(!r.on_time(at(1_000), DEADLINES));
        assert_eq!(stages(&r), ["approved", "refunding", "refunded"]);
    }

    #[test]
    fn only_a_returns_goods_can_be_received_and_inspected() {
        for kind in [RequestKind::RefundOnly, RequestKind::CancelBeforeShipment] {
            let mut r = with_merchant(kind, 5_990);
            r.approve(Actor::Merchant, at(1), DEADLINES).expect("with the merchant");
            assert_eq!(r.stage, Stage::Refunding);
            assert!(
                r.receive(Inspection::Restock, at(2)).is_err(),
                "{kind:?} while refunding"
            );
            r.refunded(at(3)).expect("refunding");
            assert!(r.receive(Inspection::Restock, at(4)).is_err(), "{kind:?} once refunded");
            assert_eq!(
                (r.inspection, stages(&r)),
                (None, vec!["approved", "refunding", "refunded"])
            );
        }
    }
}
