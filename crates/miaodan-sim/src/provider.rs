//! A payment provider as the platform meets it: it charges an attempt's reference once (the
//! same reference again is the same charge), and tells the platform by notifications that
//! arrive late, twice, out of order, or never.

use miaodan_domain::payments::{
    ChargeOutcome, DeclineCode, PaymentIntent, PaymentIntentId, Refund, RefundOutcome, attempt_reference,
    refund_reference,
};
use miaodan_domain::{Fen, Timestamp};
use rand::Rng;
use std::collections::{BTreeMap, BTreeSet};

/// A notification the provider will deliver at `due_step` (and again until it is answered).
#[derive(Clone, Debug)]
pub struct Notification {
    pub due_step: u32,
    /// The intent's home shop (whose shard the notification goes to).
    pub shop: miaodan_domain::ShopId,
    pub intent: PaymentIntentId,
    pub attempt: i64,
    pub outcome: ChargeOutcome,
}

#[derive(Default)]
pub struct Provider {
    /// Every charge by its reference, with its outcome.
    charges: BTreeMap<String, ChargeOutcome>,
    /// The references captured per intent: more than one is a buyer charged twice.
    pub captured: BTreeMap<PaymentIntentId, BTreeSet<String>>,
    pub queue: Vec<Notification>,
    /// Money given back, by refund reference, per intent.
    pub refunded: BTreeMap<PaymentIntentId, BTreeMap<String, i64>>,
    /// Money captured per intent.
    pub captured_amount: BTreeMap<PaymentIntentId, i64>,
}

impl Provider {
    /// The platform asks to charge attempt `attempt` of `intent` and hears the outcome; the
    /// notifications of it follow later. The same reference again is the same charge.
    pub fn charge(
        &mut self,
        rng: &mut impl Rng,
        intent: &PaymentIntent,
        attempt: i64,
        now: Timestamp,
        step: u32,
    ) -> ChargeOutcome {
        let reference = attempt_reference(intent.home_shop, intent.id, attempt);
        let outcome = match self.charges.get(&reference) {
            Some(outcome) => outcome.clone(),
            None => {
                let outcome = decide(rng, intent.amount, now > intent.pay_by, &reference);
                if let ChargeOutcome::Captured { amount, .. } = &outcome {
                    self.captured.entry(intent.id).or_default().insert(reference.clone());
                    *self.captured_amount.entry(intent.id).or_default() += amount.get();
                }
                self.charges.insert(reference, outcome.clone());
                outcome
            }
        };
        // Delivered never (rarely), once, or twice; each after its own delay, so that two
        // intents' notifications cross.
        let deliveries = match rng.random_range(0..20) {
            0 => 0,
            1..=15 => 1,
            _ => 2,
        };
        for _ in 0..deliveries {
            self.queue.push(Notification {
                due_step: step + rng.random_range(0..25),
                shop: intent.home_shop,
                intent: intent.id,
                attempt,
                outcome: outcome.clone(),
            });
        }
        outcome
    }

    /// Gives back `refund` of `intent`: once per reference (asking again answers the first).
    pub fn refund(&mut self, intent: &PaymentIntent, refund: &Refund) -> RefundOutcome {
        let reference = refund_reference(intent.home_shop, intent.id, refund.id);
        self.refunded
            .entry(intent.id)
            .or_default()
            .entry(reference.clone())
            .or_insert(refund.amount.get());
        RefundOutcome::Succeeded {
            provider_refund_id: format!("sim_{reference}"),
        }
    }

    /// What the provider says of an attempt's reference when asked: its charge, or none.
    pub fn look_up(&self, intent: &PaymentIntent, attempt: i64) -> ChargeOutcome {
        let reference = attempt_reference(intent.home_shop, intent.id, attempt);
        self.charges.get(&reference).cloned().unwrap_or(ChargeOutcome::NotFound)
    }

    /// Takes one queued notification of `attempt` off the queue, to deliver it now: a webhook
    /// that overtakes the provider's own answer to the call.
    pub fn overtaking(&mut self, intent: PaymentIntentId, attempt: i64) -> Option<Notification> {
        let at = self
            .queue
            .iter()
            .position(|n| n.intent == intent && n.attempt == attempt)?;
        Some(self.queue.remove(at))
    }

    /// The notifications due at `step`, taken off the queue (an unanswered one is queued again
    /// by whoever sent it).
    pub fn due(&mut self, step: u32) -> Vec<Notification> {
        let (due, later) = std::mem::take(&mut self.queue)
            .into_iter()
            .partition(|n| n.due_step <= step);
        self.queue = later;
        due
    }
}

fn decide(rng: &mut impl Rng, amount: Fen, late: bool, reference: &str) -> ChargeOutcome {
    if late {
        return ChargeOutcome::Declined(DeclineCode::RequestExpired);
    }
    if rng.random_ratio(1, 6) {
        return ChargeOutcome::Declined(DeclineCode::InsufficientFunds);
    }
    ChargeOutcome::Captured {
        provider_charge_id: format!("sim_{reference}"),
        amount,
    }
}
