//! The shard's side of payments: an intent lives in the shard of its checkout's first order,
//! so for a one-shop checkout (every flash order) the capture and the paid orders are decided
//! by one command and made durable in one transaction.

use super::*;

/// A refund as requested (by a merchant, an operator, later after-sales rules).
pub struct NewRefund {
    pub id: RefundId,
    pub order: OrderId,
    pub amount: Fen,
    pub reason: RefundReason,
    pub request: Option<RequestRef>,
}

impl ShardState {
    /// Keeps an intent in memory, with the timer its state calls for.
    pub(super) fn keep_intent(&mut self, intent: PaymentIntent, in_flight: Option<i64>) {
        let id = intent.id;
        if let Some(old) = self.intents.remove(&id)
            && let Some(at) = old.timer
        {
            self.intent_timers.remove(&(at, id));
        }
        let timer = if in_flight.is_some() {
            None
        } else if intent.status.accepts_attempt() {
            Some(Timestamp::from_unix_ms(
                intent.pay_by.unix_ms() + crate::payments::EXPIRY_GRACE_MS,
            ))
        } else if intent.is_settled() {
            Some(Timestamp::from_unix_ms(
                intent.updated_at.unix_ms() + SETTLED_INTENT_RETENTION_MS,
            ))
        } else {
            None
        };
        if let Some(at) = timer {
            self.intent_timers.insert((at, id));
        }
        self.intent_of_checkout.insert(intent.checkout, id);
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
    fn intent_slot(
        &mut self,
        id: PaymentIntentId,
        snapshot: Option<Box<PaymentIntent>>,
    ) -> Result<IntentSlot, Rejection> {
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

    fn save_intent(&mut self, slot: IntentSlot, effects: &mut Vec<Effect>) -> PaymentIntent {
        slot.intent.assert_consistent();
        let intent = slot.intent.clone();
        effects.push(Effect::PaymentIntentSaved(intent.clone()));
        self.keep_intent(slot.intent, slot.in_flight);
        intent
    }

    pub(super) fn open_payment_intent(
        &mut self,
        open: OpenPaymentIntent,
        now: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Result<Outcome, Rejection> {
        if let Some(existing) = self
            .intent_of_checkout
            .get(&open.checkout)
            .and_then(|id| self.intents.get(id))
        {
            return Ok(Outcome::PaymentIntent(existing.intent.clone()));
        }
        let first = open.orders.first().ok_or(Rejection::OrderNotOpen)?;
        if !self.shops.contains_key(&first.shop) {
            return Err(Rejection::UnknownShop);
        }
        if self.intents.contains_key(&open.id) {
            return Err(Rejection::IdInUse);
        }
        let mut orders = Vec::with_capacity(open.orders.len());
        let mut amount = Fen::ZERO;
        let mut pay_by = first.payment_due_at;
        for request in &open.orders {
            // The orders this shard owns are checked here; the others were read as open by
            // the shell, and a capture that finds one closed refunds its share.
            if self.shops.contains_key(&request.shop) {
                let order = self.open_orders.get(&request.order).ok_or(Rejection::OrderNotOpen)?;
                if order.buyer != open.buyer || order.checkout != open.checkout || order.total != request.amount {
                    return Err(Rejection::OrderNotOpen);
                }
            }
            amount = amount.checked_add(request.amount).expect("bounded checkout total");
            pay_by = pay_by.min(request.payment_due_at);
            orders.push(IntentOrder {
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
            orders,
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
        Ok(Outcome::PaymentIntent(self.save_intent(slot, effects)))
    }

    pub(super) fn begin_payment_attempt(
        &mut self,
        id: PaymentIntentId,
        one_tap: bool,
        snapshot: Option<Box<PaymentIntent>>,
    ) -> Result<Outcome, Rejection> {
        let mut slot = self.intent_slot(id, snapshot)?;
        if slot.in_flight.is_some() {
            return Err(Rejection::Payment(PaymentRefusal::AttemptInFlight));
        }
        let attempt = slot.intent.begin_attempt().map_err(Rejection::Payment)?;
        slot.in_flight = Some(attempt);
        // Written with the attempt's outcome: an attempt that may have charged counts.
        slot.intent.one_tap |= one_tap;
        let intent = slot.intent.clone();
        // Nothing durable yet: the reference is only used once the provider has it, and a
        // restart re-derives the same number from the stored attempts.
        self.keep_intent(slot.intent, slot.in_flight);
        Ok(Outcome::AttemptBegun { intent, attempt })
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn record_charge(
        &mut self,
        id: PaymentIntentId,
        attempt: i64,
        outcome: ChargeOutcome,
        refunds: Vec<RefundId>,
        snapshot: Option<Box<PaymentIntent>>,
        now: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Result<Outcome, Rejection> {
        let mut slot = self.intent_slot(id, snapshot)?;
        // Any answer about the attempt in flight (or a later one) ends its flight; an unknown
        // outcome leaves the intent `processing`, which does not expire either.
        if slot.in_flight.is_some_and(|in_flight| attempt >= in_flight) {
            slot.in_flight = None;
        }
        let applied = match slot.intent.record_charge(attempt, &outcome, now) {
            Ok(applied) => applied,
            Err(refusal) => {
                // The refusal is the answer, but the in-flight mark must still clear.
                self.keep_intent(slot.intent, slot.in_flight);
                return Err(Rejection::Payment(refusal));
            }
        };
        if applied == ChargeApplied::Captured {
            let mut refund_ids = refunds.into_iter();
            for index in 0..slot.intent.orders.len() {
                let share = slot.intent.orders[index].clone();
                let settlement = if !self.shops.contains_key(&share.shop) {
                    Settlement::Pending
                } else if self.open_orders.contains_key(&share.order) {
                    self.pay_order(share.order, id, now, effects)?;
                    Settlement::Paid
                } else {
                    let refund = refund_ids.next().expect("the shell gives one refund id per order");
                    self.refund_closed_share(&mut slot.intent, &share, refund, now, effects);
                    Settlement::Refunded
                };
                slot.intent.orders[index].settlement = settlement;
            }
        }
        if applied == ChargeApplied::Unchanged && !self.intents.contains_key(&id) {
            // A duplicate about an intent that had left memory: nothing to write.
            return Ok(Outcome::PaymentIntent(slot.intent));
        }
        if applied == ChargeApplied::Unchanged {
            let intent = slot.intent.clone();
            self.keep_intent(slot.intent, slot.in_flight);
            return Ok(Outcome::PaymentIntent(intent));
        }
        Ok(Outcome::PaymentIntent(self.save_intent(slot, effects)))
    }

    /// The money for an order arrived after it closed: its whole share goes back.
    fn refund_closed_share(
        &mut self,
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
        effects.push(Effect::RefundSaved(opened));
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn settle_remote_order(
        &mut self,
        id: PaymentIntentId,
        order: OrderId,
        paid: bool,
        refund: RefundId,
        snapshot: Option<Box<PaymentIntent>>,
        now: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Result<Outcome, Rejection> {
        let mut slot = self.intent_slot(id, snapshot)?;
        let index = slot
            .intent
            .orders
            .iter()
            .position(|o| o.order == order)
            .ok_or(Rejection::Payment(PaymentRefusal::NotInIntent))?;
        let share = slot.intent.orders[index].clone();
        if share.settlement != Settlement::Pending {
            return Ok(Outcome::PaymentIntent(slot.intent));
        }
        slot.intent.orders[index].settlement = if paid {
            Settlement::Paid
        } else {
            self.refund_closed_share(&mut slot.intent, &share, refund, now, effects);
            Settlement::Refunded
        };
        slot.intent.updated_at = now;
        slot.intent.version += 1;
        Ok(Outcome::PaymentIntent(self.save_intent(slot, effects)))
    }

    pub(super) fn request_refund(
        &mut self,
        id: PaymentIntentId,
        new: NewRefund,
        snapshot: Option<Box<PaymentIntent>>,
        now: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Result<Outcome, Rejection> {
        let NewRefund {
            id: refund,
            order,
            amount,
            reason,
            request,
        } = new;
        let mut slot = self.intent_slot(id, snapshot)?;
        if let Some(request) = &request
            && slot
                .intent
                .refunds
                .iter()
                .any(|r| r.request.as_ref() == Some(&request.0))
        {
            return Ok(Outcome::PaymentIntent(slot.intent));
        }
        if slot.intent.refunds.iter().any(|r| r.id == refund) {
            return Err(Rejection::IdInUse);
        }
        if slot
            .intent
            .orders
            .iter()
            .any(|o| o.order == order && o.settlement != Settlement::Paid)
        {
            // Only a paid order has money of its own to give back (a closed one was refunded).
            return Err(Rejection::Payment(PaymentRefusal::RefundExceedsCaptured {
                refundable: Fen::ZERO,
            }));
        }
        let mut opened = slot
            .intent
            .open_refund(refund, order, amount, reason, now)
            .map_err(Rejection::Payment)?;
        if let Some(request) = request {
            opened.request = Some(request.0);
            if let Some(kept) = slot.intent.refunds.iter_mut().find(|r| r.id == refund) {
                kept.request = opened.request.clone();
            }
        }
        effects.push(Effect::RefundSaved(opened));
        Ok(Outcome::PaymentIntent(self.save_intent(slot, effects)))
    }

    pub(super) fn record_refund(
        &mut self,
        id: PaymentIntentId,
        refund: RefundId,
        outcome: RefundOutcome,
        snapshot: Option<Box<PaymentIntent>>,
        now: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Result<Outcome, Rejection> {
        let mut slot = self.intent_slot(id, snapshot)?;
        match slot
            .intent
            .record_refund(refund, &outcome, now)
            .map_err(Rejection::Payment)?
        {
            Some(settled) => {
                effects.push(Effect::RefundSaved(settled));
                Ok(Outcome::PaymentIntent(self.save_intent(slot, effects)))
            }
            None => Ok(Outcome::PaymentIntent(slot.intent)),
        }
    }

    /// Expires unpaid intents past their deadline and lets settled ones leave memory.
    pub(super) fn run_intent_timers(&mut self, now: Timestamp, effects: &mut Vec<Effect>) {
        let due: Vec<(Timestamp, PaymentIntentId)> = self
            .intent_timers
            .iter()
            .take_while(|(at, _)| *at <= now)
            .take(EXPIRIES_PER_COMMAND_MAX)
            .copied()
            .collect();
        for (at, id) in due {
            self.intent_timers.remove(&(at, id));
            let Some(mut slot) = self.intents.remove(&id) else {
                continue;
            };
            slot.timer = None;
            if slot.intent.is_settled() {
                if self.intent_of_checkout.get(&slot.intent.checkout) == Some(&id) {
                    self.intent_of_checkout.remove(&slot.intent.checkout);
                }
                continue;
            }
            if slot.in_flight.is_none() && slot.intent.expire(now) {
                self.save_intent(slot, effects);
            } else {
                self.keep_intent(slot.intent, slot.in_flight);
            }
        }
    }
}
