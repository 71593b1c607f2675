//! The payment intents a shard holds, and the payment commands. An intent lives in the shard
//! of its checkout's first order, so for a one-shop checkout (every flash order) the capture
//! and the paid orders are decided by one command and made durable in one transaction.
//!
//! An intent stays in memory while it is unsettled (and [`SETTLED_INTENT_RETENTION_MS`]
//! after); a command about an intent that left memory carries it as stored (`snapshot`).

use super::{
    ChargeApplied, ChargeOutcome, EXPIRY_GRACE_MS, IntentOrder, IntentStatus, PaymentIntent, PaymentIntentId,
    PaymentRefusal, Refund, RefundId, RefundOutcome, RefundReason, SETTLED_INTENT_RETENTION_MS, Settlement,
};
use crate::catalog::CatalogBook;
use crate::fulfillment::FulfillmentBook;
use crate::ids::{BuyerId, CheckoutId, OrderId, ShopId};
use crate::inventory::Inventory;
use crate::money::Fen;
use crate::orders::{OrderBook, PayOrder, RequestRef};
use crate::risk::{RiskBook, RiskMode, RiskRequest, Screening, Subject};
use crate::shard::{EXPIRIES_PER_COMMAND_MAX, Effect, Outcome, Rejection};
use crate::time::Timestamp;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// One order of a checkout, as the shell read it when opening the checkout's payment.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IntentOrderRequest {
    pub order: OrderId,
    pub shop: ShopId,
    pub amount: Fen,
    pub payment_due_at: Timestamp,
}

/// Opens the payment of a checkout in the shard of its first order's shop.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OpenPaymentIntent {
    pub id: PaymentIntentId,
    pub checkout: CheckoutId,
    pub buyer: BuyerId,
    pub orders: Vec<IntentOrderRequest>,
    pub one_tap: bool,
}

/// Reserves the next attempt number of an intent for a provider call. `one_tap` marks the
/// intent as paid under the buyer's one-tap agreement (it counts toward the day's limit).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BeginPaymentAttempt {
    pub intent: PaymentIntentId,
    pub one_tap: bool,
    pub snapshot: Option<Box<PaymentIntent>>,
    /// Risk screens the attempt before it begins (`None` while risk is off): a refused attempt
    /// never reaches the provider.
    pub screening: Option<Box<Screening>>,
}

/// What the provider says about an attempt. `refunds` are ids for the refunds the shard
/// opens by itself when the money arrives for an order that has closed (one per order).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RecordCharge {
    pub intent: PaymentIntentId,
    pub attempt: i64,
    pub outcome: ChargeOutcome,
    pub refunds: Vec<RefundId>,
    pub snapshot: Option<Box<PaymentIntent>>,
}

/// Whether another shard marked one of the intent's orders paid (`paid`) or found it closed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SettleRemoteOrder {
    pub intent: PaymentIntentId,
    pub order: OrderId,
    pub paid: bool,
    pub refund: RefundId,
    pub snapshot: Option<Box<PaymentIntent>>,
}

/// Opens a refund. A `request` reference already on one of the intent's refunds answers
/// that refund instead (a retried request after a crash refunds once).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RequestRefund {
    pub intent: PaymentIntentId,
    pub refund: RefundId,
    pub order: OrderId,
    pub amount: Fen,
    pub reason: RefundReason,
    pub request: Option<RequestRef>,
    pub snapshot: Option<Box<PaymentIntent>>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RecordRefund {
    pub intent: PaymentIntentId,
    pub refund: RefundId,
    pub outcome: RefundOutcome,
    pub snapshot: Option<Box<PaymentIntent>>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Command {
    OpenIntent(OpenPaymentIntent),
    BeginAttempt(BeginPaymentAttempt),
    RecordCharge(RecordCharge),
    SettleRemoteOrder(SettleRemoteOrder),
    RequestRefund(RequestRefund),
    RecordRefund(RecordRefund),
}

/// A payment intent in memory, with what only memory knows about it.
#[derive(Clone, Debug)]
struct IntentSlot {
    intent: PaymentIntent,
    /// The attempt with the provider right now (or, after a restart, the one that may have
    /// been): the intent does not expire while it is unresolved.
    in_flight: Option<i64>,
    /// When the intent next needs the shard's attention (expiry, or leaving memory).
    timer: Option<Timestamp>,
}

#[derive(Clone, Debug, Default)]
pub struct PaymentBook {
    intents: BTreeMap<PaymentIntentId, IntentSlot>,
    /// Looked up, never iterated into output.
    by_checkout: HashMap<CheckoutId, PaymentIntentId>,
    timers: BTreeSet<(Timestamp, PaymentIntentId)>,
}

/// The books a capture may change besides the payment book: it pays the orders this shard
/// owns (and dispatches them) in the same command.
pub(crate) struct CaptureBooks<'a> {
    pub catalog: &'a CatalogBook,
    pub orders: &'a mut OrderBook,
    pub fulfillment: &'a mut FulfillmentBook,
    pub inventory: &'a mut Inventory,
    pub risk: &'a mut RiskBook,
}

impl Command {
    pub(crate) fn apply(
        self,
        payments: &mut PaymentBook,
        b: CaptureBooks<'_>,
        now: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Result<Outcome, Rejection> {
        match self {
            Command::OpenIntent(c) => payments.open(c, b.catalog, b.orders, now, effects),
            Command::BeginAttempt(c) => payments.begin_attempt(c, b.risk, now, effects),
            Command::RecordCharge(c) => payments.record_charge(c, b, now, effects),
            Command::SettleRemoteOrder(c) => payments.settle_remote_order(c, now, effects),
            Command::RequestRefund(c) => payments.request_refund(c, now, effects),
            Command::RecordRefund(c) => payments.record_refund(c, now, effects),
        }
    }
}

impl PaymentBook {
    /// Intents as stored. Whether the last attempt of an intent open to payment reached the
    /// provider before the restart is unknown until the shell has asked: until then the
    /// intent must not expire.
    pub fn restore(intents: Vec<PaymentIntent>) -> PaymentBook {
        let mut book = PaymentBook::default();
        for intent in intents {
            intent.assert_consistent();
            let in_flight = intent.status.accepts_attempt().then_some(intent.attempts + 1);
            book.keep(intent, in_flight);
        }
        book
    }

    pub fn get(&self, id: PaymentIntentId) -> Option<&PaymentIntent> {
        self.intents.get(&id).map(|slot| &slot.intent)
    }

    /// Intents whose outcome the shell must find out from the provider: those processing
    /// (an unknown outcome), authorized (to capture or void), captured with orders still
    /// to settle in other shards or refunds to confirm, and any attempt possibly in flight
    /// at a restart.
    pub fn needing_provider(&self) -> impl Iterator<Item = (&PaymentIntent, Option<i64>)> {
        self.intents.values().filter_map(|slot| {
            let i = &slot.intent;
            let needs = slot.in_flight.is_some()
                || matches!(i.status, IntentStatus::Processing | IntentStatus::Authorized)
                || (i.status.is_final() && !i.is_settled());
            needs.then_some((i, slot.in_flight))
        })
    }

    /// Keeps an intent in memory, with the timer its state calls for.
    fn keep(&mut self, intent: PaymentIntent, in_flight: Option<i64>) {
        let id = intent.id;
        if let Some(old) = self.intents.remove(&id)
            && let Some(at) = old.timer
        {
            self.timers.remove(&(at, id));
        }
        let timer = if in_flight.is_some() {
            None
        } else if intent.status.accepts_attempt() {
            Some(Timestamp::from_unix_ms(intent.pay_by.unix_ms() + EXPIRY_GRACE_MS))
        } else if intent.is_settled() {
            Some(Timestamp::from_unix_ms(
                intent.updated_at.unix_ms() + SETTLED_INTENT_RETENTION_MS,
            ))
        } else {
            None
        };
        if let Some(at) = timer {
            self.timers.insert((at, id));
        }
        self.by_checkout.insert(intent.checkout, id);
        self.intents.insert(
            id,
            IntentSlot {
                intent,
                in_flight,
                timer,
            },
        );
    }

    /// The intent from memory, or from the snapshot the shell read from storage.
    fn slot(&mut self, id: PaymentIntentId, snapshot: Option<Box<PaymentIntent>>) -> Result<IntentSlot, Rejection> {
        if let Some(slot) = self.intents.get(&id) {
            return Ok(slot.clone());
        }
        let intent = *snapshot.ok_or(Rejection::PaymentIntentNotLoaded)?;
        if intent.id != id {
            return Err(Rejection::PaymentIntentNotLoaded);
        }
        intent.assert_consistent();
        Ok(IntentSlot {
            intent,
            in_flight: None,
            timer: None,
        })
    }

    fn save(&mut self, slot: IntentSlot, effects: &mut Vec<Effect>) -> PaymentIntent {
        slot.intent.assert_consistent();
        let intent = slot.intent.clone();
        effects.push(Effect::PaymentIntentSaved(intent.clone()));
        self.keep(slot.intent, slot.in_flight);
        intent
    }

    fn open(
        &mut self,
        open: OpenPaymentIntent,
        catalog: &CatalogBook,
        orders: &OrderBook,
        now: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Result<Outcome, Rejection> {
        if let Some(existing) = self.by_checkout.get(&open.checkout).and_then(|id| self.intents.get(id)) {
            return Ok(Outcome::PaymentIntent(existing.intent.clone()));
        }
        let first = open.orders.first().ok_or(Rejection::OrderNotOpen)?;
        catalog.known_shop(first.shop)?;
        if self.intents.contains_key(&open.id) {
            return Err(Rejection::IdInUse);
        }
        let mut shares = Vec::with_capacity(open.orders.len());
        let mut amount = Fen::ZERO;
        let mut pay_by = first.payment_due_at;
        for request in &open.orders {
            // The orders this shard owns are checked here; the others were read as open by
            // the shell, and a capture that finds one closed refunds its share.
            if catalog.owns_shop(request.shop) {
                let order = orders.get(request.order).ok_or(Rejection::OrderNotOpen)?;
                if order.buyer != open.buyer || order.checkout != open.checkout || order.total != request.amount {
                    return Err(Rejection::OrderNotOpen);
                }
            }
            amount = amount.checked_add(request.amount).expect("bounded checkout total");
            pay_by = pay_by.min(request.payment_due_at);
            shares.push(IntentOrder {
                order: request.order,
                shop: request.shop,
                amount: request.amount,
                settlement: Settlement::Unpaid,
            });
        }
        let intent = PaymentIntent {
            id: open.id,
            checkout: open.checkout,
            buyer: open.buyer,
            home_shop: first.shop,
            amount,
            orders: shares,
            status: IntentStatus::RequiresConfirmation,
            attempts: 0,
            one_tap: open.one_tap,
            charge: None,
            decline: None,
            refunds: Vec::new(),
            pay_by,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let slot = IntentSlot {
            intent,
            in_flight: None,
            timer: None,
        };
        Ok(Outcome::PaymentIntent(self.save(slot, effects)))
    }

    fn begin_attempt(
        &mut self,
        c: BeginPaymentAttempt,
        risk: &mut RiskBook,
        now: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Result<Outcome, Rejection> {
        let mut slot = self.slot(c.intent, c.snapshot)?;
        if slot.in_flight.is_some() {
            return Err(Rejection::Payment(PaymentRefusal::AttemptInFlight));
        }
        let attempt = slot.intent.begin_attempt().map_err(Rejection::Payment)?;
        // Screened once the intent can be paid (a paid one is answered as paid, not scored);
        // a refusal leaves the book as it was: `slot` is a copy until kept.
        if let Some(screening) = c.screening {
            screen_payment(&slot.intent, &screening, risk, now, effects)?;
        }
        slot.in_flight = Some(attempt);
        // Written with the attempt's outcome: an attempt that may have charged counts.
        slot.intent.one_tap |= c.one_tap;
        let intent = slot.intent.clone();
        // Nothing durable yet: the reference is only used once the provider has it, and a
        // restart re-derives the same number from the stored attempts.
        self.keep(slot.intent, slot.in_flight);
        Ok(Outcome::AttemptBegun { intent, attempt })
    }

    fn record_charge(
        &mut self,
        c: RecordCharge,
        b: CaptureBooks<'_>,
        now: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Result<Outcome, Rejection> {
        let id = c.intent;
        let mut slot = self.slot(id, c.snapshot)?;
        // Any answer about the attempt in flight (or a later one) ends its flight; an unknown
        // outcome leaves the intent `processing`, which does not expire either.
        if slot.in_flight.is_some_and(|in_flight| c.attempt >= in_flight) {
            slot.in_flight = None;
        }
        let applied = match slot.intent.record_charge(c.attempt, &c.outcome, now) {
            Ok(applied) => applied,
            Err(refusal) => {
                // The refusal is the answer, but the in-flight mark must still clear.
                self.keep(slot.intent, slot.in_flight);
                return Err(Rejection::Payment(refusal));
            }
        };
        if applied == ChargeApplied::Captured {
            settle_home_shares(&mut slot.intent, c.refunds, b, now, effects)?;
        }
        if applied == ChargeApplied::Unchanged && !self.intents.contains_key(&id) {
            // A duplicate about an intent that had left memory: nothing to write.
            return Ok(Outcome::PaymentIntent(slot.intent));
        }
        if applied == ChargeApplied::Unchanged {
            let intent = slot.intent.clone();
            self.keep(slot.intent, slot.in_flight);
            return Ok(Outcome::PaymentIntent(intent));
        }
        Ok(Outcome::PaymentIntent(self.save(slot, effects)))
    }

    fn settle_remote_order(
        &mut self,
        c: SettleRemoteOrder,
        now: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Result<Outcome, Rejection> {
        let mut slot = self.slot(c.intent, c.snapshot)?;
        let index = slot
            .intent
            .orders
            .iter()
            .position(|o| o.order == c.order)
            .ok_or(Rejection::Payment(PaymentRefusal::NotInIntent))?;
        let share = slot.intent.orders[index].clone();
        if share.settlement != Settlement::Pending {
            return Ok(Outcome::PaymentIntent(slot.intent));
        }
        slot.intent.orders[index].settlement = if c.paid {
            Settlement::Paid
        } else {
            refund_closed_share(&mut slot.intent, &share, c.refund, now, effects);
            Settlement::Refunded
        };
        slot.intent.updated_at = now;
        slot.intent.version += 1;
        Ok(Outcome::PaymentIntent(self.save(slot, effects)))
    }

    fn request_refund(
        &mut self,
        c: RequestRefund,
        now: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Result<Outcome, Rejection> {
        let mut slot = self.slot(c.intent, c.snapshot)?;
        if let Some(request) = &c.request
            && slot
                .intent
                .refunds
                .iter()
                .any(|r| r.request.as_ref() == Some(&request.0))
        {
            return Ok(Outcome::PaymentIntent(slot.intent));
        }
        if slot.intent.refunds.iter().any(|r| r.id == c.refund) {
            return Err(Rejection::IdInUse);
        }
        if slot
            .intent
            .orders
            .iter()
            .any(|o| o.order == c.order && o.settlement != Settlement::Paid)
        {
            // Only a paid order has money of its own to give back (a closed one was refunded).
            return Err(Rejection::Payment(PaymentRefusal::RefundExceedsCaptured {
                refundable: Fen::ZERO,
            }));
        }
        let mut opened = slot
            .intent
            .open_refund(c.refund, c.order, c.amount, c.reason, now)
            .map_err(Rejection::Payment)?;
        if let Some(request) = c.request {
            opened.request = Some(request.0);
            if let Some(kept) = slot.intent.refunds.iter_mut().find(|r| r.id == c.refund) {
                kept.request = opened.request.clone();
            }
        }
        effects.push(refund_saved(&slot.intent, opened));
        Ok(Outcome::PaymentIntent(self.save(slot, effects)))
    }

    fn record_refund(
        &mut self,
        c: RecordRefund,
        now: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Result<Outcome, Rejection> {
        let mut slot = self.slot(c.intent, c.snapshot)?;
        match slot
            .intent
            .record_refund(c.refund, &c.outcome, now)
            .map_err(Rejection::Payment)?
        {
            Some(settled) => {
                effects.push(refund_saved(&slot.intent, settled));
                Ok(Outcome::PaymentIntent(self.save(slot, effects)))
            }
            None => Ok(Outcome::PaymentIntent(slot.intent)),
        }
    }

    /// Expires unpaid intents past their deadline and lets settled ones leave memory.
    pub(crate) fn run_timers(&mut self, now: Timestamp, effects: &mut Vec<Effect>) {
        let due: Vec<(Timestamp, PaymentIntentId)> = self
            .timers
            .iter()
            .take_while(|(at, _)| *at <= now)
            .take(EXPIRIES_PER_COMMAND_MAX)
            .copied()
            .collect();
        for (at, id) in due {
            self.timers.remove(&(at, id));
            let Some(mut slot) = self.intents.remove(&id) else {
                continue;
            };
            slot.timer = None;
            if slot.intent.is_settled() {
                if self.by_checkout.get(&slot.intent.checkout) == Some(&id) {
                    self.by_checkout.remove(&slot.intent.checkout);
                }
                continue;
            }
            if slot.in_flight.is_none() && slot.intent.expire(now) {
                self.save(slot, effects);
            } else {
                self.keep(slot.intent, slot.in_flight);
            }
        }
    }
}

/// A capture pays the intent's orders this shard owns (and dispatches them) in the same
/// command; the money for one that closed meanwhile goes back. Orders of other shards wait
/// for the shell to settle them (`pending`).
fn settle_home_shares(
    intent: &mut PaymentIntent,
    refunds: Vec<RefundId>,
    b: CaptureBooks<'_>,
    now: Timestamp,
    effects: &mut Vec<Effect>,
) -> Result<(), Rejection> {
    let mut refund_ids = refunds.into_iter();
    for index in 0..intent.orders.len() {
        let share = intent.orders[index].clone();
        let settlement = if !b.catalog.owns_shop(share.shop) {
            Settlement::Pending
        } else if b.orders.contains(share.order) {
            let pay = PayOrder {
                order: share.order,
                intent: intent.id,
            };
            crate::orders::pay(pay, b.orders, b.fulfillment, b.inventory, now, effects)?;
            Settlement::Paid
        } else {
            let refund = refund_ids.next().expect("the shell gives one refund id per order");
            refund_closed_share(intent, &share, refund, now, effects);
            Settlement::Refunded
        };
        intent.orders[index].settlement = settlement;
    }
    Ok(())
}

/// The money for an order arrived after it closed: its whole share goes back.
fn refund_closed_share(
    intent: &mut PaymentIntent,
    share: &IntentOrder,
    refund: RefundId,
    now: Timestamp,
    effects: &mut Vec<Effect>,
) {
    if share.amount == Fen::ZERO {
        return;
    }
    let opened = intent
        .open_refund(refund, share.order, share.amount, RefundReason::OrderClosed, now)
        .expect("a captured share is refundable in full");
    effects.push(Effect::RefundSaved {
        shop: share.shop,
        refund: opened,
    });
}

/// A refund's effect, with the shop of the order it gives money back for.
fn refund_saved(intent: &PaymentIntent, refund: Refund) -> Effect {
    let shop = intent
        .orders
        .iter()
        .find(|share| share.order == refund.order)
        .map_or(intent.home_shop, |share| share.shop);
    Effect::RefundSaved { shop, refund }
}

/// Screens an attempt to pay `intent` with risk (the credential it will be charged with is in
/// the screening's signals); its decision is kept when worth a look. A refused attempt begins
/// nothing.
fn screen_payment(
    intent: &PaymentIntent,
    screening: &Screening,
    risk: &mut RiskBook,
    now: Timestamp,
    effects: &mut Vec<Effect>,
) -> Result<(), Rejection> {
    let request = RiskRequest {
        buyer: intent.buyer,
        subject: Subject::Payment { intent: intent.id },
        sale_starts_at: None,
        strict: false,
        address: None,
        client: &screening.client,
    };
    let screened = risk.screen(&request, now);
    if let Some(assessment) = screened.kept {
        let (ordered, enforced) = (screened.refusal.is_none(), risk.mode() == RiskMode::On);
        let decision = request.decision(assessment, screening.decision, intent.home_shop, ordered, enforced, now);
        effects.push(Effect::RiskDecided(Box::new(decision)));
    }
    screened.refusal.map_or(Ok(()), |refusal| Err(Rejection::Risk(refusal)))
}
