//! Payments: one payment intent per checkout, the provider charge that pays it, and refunds.
//!
//! ```text
//!   requires_confirmation ──confirm──► processing (outcome unknown) ──┐
//!         │   ▲                                                      │ reconciliation asks
//!         │   └── failed (declined; the buyer may try again) ◄───────┤ the provider
//!         │                                                          ▼
//!         ├──provider authorized──► authorized ──capture──► captured ──► refunds (partial or full)
//!         │                              └──void──► voided
//!         └──payment timeout──► expired
//! ```
//!
//! The money rules live here, as checks on one [`PaymentIntent`]:
//! - captured ≤ authorized ≤ the intent's amount;
//! - Σ refunds that did not fail ≤ captured, and per order ≤ that order's share;
//! - a capture is recorded once: the same provider charge again is a duplicate, a second,
//!   different charge is refused (and listed by reconciliation), never booked twice.
//!
//! An intent never guesses an outcome: a provider timeout leaves it `processing` until the
//! provider itself answers (a notification or a reconciliation lookup).
//!
//! Every attempt to charge carries a provider-side reference derived from the intent and the
//! attempt number ([`attempt_reference`]). The provider keeps one charge per reference, so a
//! retried confirmation, or one made again after a crash between the provider call and the
//! commit, finds the charge of the first try instead of charging twice.

mod book;

pub(crate) use book::CaptureBooks;
pub use book::{
    BeginPaymentAttempt, Command, IntentOrderRequest, OpenPaymentIntent, PaymentBook, RecordCharge, RecordRefund,
    RequestRefund, SettleRemoteOrder,
};

use crate::ids::{BuyerId, CheckoutId, OrderId, ShopId};
use crate::money::Fen;
use crate::time::Timestamp;

pub use crate::ids::{PaymentIntentId, RefundId};

/// How long a finished intent stays in a shard's memory, so that late notifications and
/// lookups about it are decided there; afterwards the shell supplies it from storage.
pub const SETTLED_INTENT_RETENTION_MS: i64 = 10 * 60 * 1000;
/// How long after its payment deadline an unpaid intent expires. The provider refuses charges
/// past the deadline itself (the charge carries it), so the grace only lets answers that were
/// already on their way be recorded first.
pub const EXPIRY_GRACE_MS: i64 = 60 * 1000;

/// The provider-side reference of attempt `attempt` to charge `intent` (homed in `shop`).
/// The shop is part of it so a notification names the shard that owns the intent.
pub fn attempt_reference(shop: ShopId, intent: PaymentIntentId, attempt: i64) -> String {
    format!("mdn-{shop}-{intent}-{attempt}")
}

/// The provider-side reference of a refund.
pub fn refund_reference(shop: ShopId, intent: PaymentIntentId, refund: RefundId) -> String {
    format!("mdn-{shop}-{intent}-r{refund}")
}

/// What a provider reference names, parsed back from a notification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReferenceTarget {
    Attempt {
        shop: ShopId,
        intent: PaymentIntentId,
        attempt: i64,
    },
    Refund {
        shop: ShopId,
        intent: PaymentIntentId,
        refund: RefundId,
    },
}

pub fn parse_reference(reference: &str) -> Option<ReferenceTarget> {
    let mut parts = reference.strip_prefix("mdn-")?.split('-');
    let shop = ShopId::new(parts.next()?.parse().ok()?)?;
    let intent = PaymentIntentId::new(parts.next()?.parse().ok()?)?;
    let last = parts.next()?;
    if parts.next().is_some() {
        return None;
    }
    match last.strip_prefix('r') {
        Some(refund) => Some(ReferenceTarget::Refund {
            shop,
            intent,
            refund: RefundId::new(refund.parse().ok()?)?,
        }),
        None => {
            let attempt: i64 = last.parse().ok()?;
            (attempt > 0).then_some(ReferenceTarget::Attempt { shop, intent, attempt })
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum IntentStatus {
    RequiresConfirmation,
    /// An attempt's outcome is unknown (the provider did not answer in time).
    Processing,
    Authorized,
    Captured,
    /// The last attempt was declined; another attempt may follow until the deadline.
    Failed,
    Expired,
    Voided,
}

impl IntentStatus {
    pub const ALL: [IntentStatus; 7] = [
        IntentStatus::RequiresConfirmation,
        IntentStatus::Processing,
        IntentStatus::Authorized,
        IntentStatus::Captured,
        IntentStatus::Failed,
        IntentStatus::Expired,
        IntentStatus::Voided,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IntentStatus::RequiresConfirmation => "requires_confirmation",
            IntentStatus::Processing => "processing",
            IntentStatus::Authorized => "authorized",
            IntentStatus::Captured => "captured",
            IntentStatus::Failed => "failed",
            IntentStatus::Expired => "expired",
            IntentStatus::Voided => "voided",
        }
    }

    pub fn parse(raw: &str) -> Option<IntentStatus> {
        IntentStatus::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Whether a new attempt to charge may start.
    pub fn accepts_attempt(self) -> bool {
        matches!(self, IntentStatus::RequiresConfirmation | IntentStatus::Failed)
    }

    /// Whether no money movement can follow (other than refunds of a capture).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            IntentStatus::Captured | IntentStatus::Expired | IntentStatus::Voided
        )
    }
}

/// Why a provider declined (or never processed) an attempt; stable wire codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum DeclineCode {
    InsufficientFunds,
    SuspectedFraud,
    ExpiredCredential,
    /// The attempt reached the provider after the intent's payment deadline.
    RequestExpired,
    /// The provider has no record of an attempt whose outcome was unknown.
    NotProcessed,
    /// A decline reason this platform does not know by name.
    Other,
}

impl DeclineCode {
    pub const ALL: [DeclineCode; 6] = [
        DeclineCode::InsufficientFunds,
        DeclineCode::SuspectedFraud,
        DeclineCode::ExpiredCredential,
        DeclineCode::RequestExpired,
        DeclineCode::NotProcessed,
        DeclineCode::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeclineCode::InsufficientFunds => "insufficient_funds",
            DeclineCode::SuspectedFraud => "suspected_fraud",
            DeclineCode::ExpiredCredential => "expired_credential",
            DeclineCode::RequestExpired => "request_expired",
            DeclineCode::NotProcessed => "not_processed",
            DeclineCode::Other => "declined",
        }
    }

    pub fn parse(raw: &str) -> DeclineCode {
        DeclineCode::ALL
            .into_iter()
            .find(|c| c.as_str() == raw)
            .unwrap_or(DeclineCode::Other)
    }
}

/// Where one order of the intent stands with respect to the money.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Settlement {
    /// Nothing captured yet.
    Unpaid,
    /// Captured; the order lives in another shard and has not been marked paid yet.
    Pending,
    /// The order is paid by this intent's capture.
    Paid,
    /// Captured, but the order had closed (expired or cancelled): its share is refunded.
    Refunded,
}

impl Settlement {
    pub fn as_str(self) -> &'static str {
        match self {
            Settlement::Unpaid => "unpaid",
            Settlement::Pending => "pending",
            Settlement::Paid => "paid",
            Settlement::Refunded => "refunded",
        }
    }

    pub fn parse(raw: &str) -> Option<Settlement> {
        [
            Settlement::Unpaid,
            Settlement::Pending,
            Settlement::Paid,
            Settlement::Refunded,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IntentOrder {
    pub order: OrderId,
    pub shop: ShopId,
    pub amount: Fen,
    pub settlement: Settlement,
}

/// The provider's charge that an intent points at.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Charge {
    /// Our reference for the attempt ([`attempt_reference`]).
    pub reference: String,
    /// The provider's own id for the charge.
    pub provider_charge_id: String,
    pub authorized: Fen,
    pub captured: Fen,
    pub authorized_at: Timestamp,
    pub captured_at: Option<Timestamp>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum RefundReason {
    /// Asked for by the merchant, an operator or (later) after-sales rules.
    Requested,
    /// The money arrived after the order had closed; the platform gives it back by itself.
    OrderClosed,
}

impl RefundReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundReason::Requested => "requested",
            RefundReason::OrderClosed => "order_closed",
        }
    }

    pub fn parse(raw: &str) -> Option<RefundReason> {
        [RefundReason::Requested, RefundReason::OrderClosed]
            .into_iter()
            .find(|r| r.as_str() == raw)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum RefundStatus {
    /// Recorded; the provider has not confirmed it yet.
    Pending,
    Succeeded,
    Failed,
}

impl RefundStatus {
    pub const ALL: [RefundStatus; 3] = [RefundStatus::Pending, RefundStatus::Succeeded, RefundStatus::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            RefundStatus::Pending => "pending",
            RefundStatus::Succeeded => "succeeded",
            RefundStatus::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Option<RefundStatus> {
        [RefundStatus::Pending, RefundStatus::Succeeded, RefundStatus::Failed]
            .into_iter()
            .find(|r| r.as_str() == raw)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Refund {
    pub id: RefundId,
    pub intent: PaymentIntentId,
    pub order: OrderId,
    pub amount: Fen,
    pub reason: RefundReason,
    pub status: RefundStatus,
    pub provider_refund_id: Option<String>,
    pub failure: Option<String>,
    /// The caller's request that asked for it (from its Idempotency-Key), if any.
    pub request: Option<String>,
    pub created_at: Timestamp,
    pub settled_at: Option<Timestamp>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PaymentIntent {
    pub id: PaymentIntentId,
    pub checkout: CheckoutId,
    pub buyer: BuyerId,
    /// The shop whose shard owns this intent (the shop of the checkout's first order).
    pub home_shop: ShopId,
    pub amount: Fen,
    pub orders: Vec<IntentOrder>,
    pub status: IntentStatus,
    /// Attempts whose reference has been used (and whose outcome is recorded or unknown).
    pub attempts: i64,
    /// Paid under the buyer's one-tap agreement (no per-payment confirmation).
    pub one_tap: bool,
    pub charge: Option<Charge>,
    pub decline: Option<DeclineCode>,
    pub refunds: Vec<Refund>,
    /// The provider must not charge after this instant (the orders' payment deadline).
    pub pay_by: Timestamp,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: i64,
}

/// What the provider says about one attempt (from its answer, a notification or a lookup).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ChargeOutcome {
    Authorized {
        provider_charge_id: String,
        amount: Fen,
    },
    Captured {
        provider_charge_id: String,
        amount: Fen,
    },
    Voided {
        provider_charge_id: String,
    },
    Declined(DeclineCode),
    /// The provider did not answer in time: the attempt may or may not have charged.
    Unknown,
    /// The provider has no charge with the attempt's reference.
    NotFound,
}

/// What the provider says about a refund.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RefundOutcome {
    Succeeded { provider_refund_id: String },
    Failed { reason: String },
    Unknown,
}

/// A payment-specific refusal (wrapped by the shard's `Rejection`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PaymentRefusal {
    /// The intent is in a state where this cannot happen (e.g. confirming a captured intent).
    IntentState(IntentStatus),
    /// Another attempt for this intent is with the provider right now.
    AttemptInFlight,
    /// A second, different capture for an intent that is already captured.
    ConflictingCapture,
    /// The provider captured a different amount than the intent's.
    AmountMismatch {
        expected: Fen,
        captured: Fen,
    },
    NotInIntent,
    /// Σ refunds would exceed what was captured for the order.
    RefundExceedsCaptured {
        refundable: Fen,
    },
    UnknownRefund,
}

impl PaymentRefusal {
    pub fn code(&self) -> &'static str {
        match self {
            PaymentRefusal::IntentState(_) => "payment_intent_state",
            PaymentRefusal::AttemptInFlight => "payment_in_progress",
            PaymentRefusal::ConflictingCapture => "conflicting_capture",
            PaymentRefusal::AmountMismatch { .. } => "capture_amount_mismatch",
            PaymentRefusal::NotInIntent => "order_not_in_payment",
            PaymentRefusal::RefundExceedsCaptured { .. } => "refund_exceeds_captured",
            PaymentRefusal::UnknownRefund => "unknown_refund",
        }
    }
}

impl PaymentIntent {
    /// The attempt's provider reference.
    pub fn reference(&self, attempt: i64) -> String {
        attempt_reference(self.home_shop, self.id, attempt)
    }

    /// Refunds that took or may take money back (not failed).
    pub fn refunded(&self) -> Fen {
        self.refunds
            .iter()
            .filter(|r| r.status != RefundStatus::Failed)
            .fold(Fen::ZERO, |sum, r| sum.checked_add(r.amount).expect("bounded refunds"))
    }

    /// What may still be refunded of one order's share.
    pub fn refundable(&self, order: OrderId) -> Option<Fen> {
        let share = self.orders.iter().find(|o| o.order == order)?;
        if self.status != IntentStatus::Captured {
            return Some(Fen::ZERO);
        }
        let refunded = Fen::checked_sum(
            self.refunds
                .iter()
                .filter(|r| r.order == order && r.status != RefundStatus::Failed)
                .map(|r| r.amount),
        )
        .expect("bounded refunds");
        share.amount.checked_sub(refunded)
    }

    /// Whether nothing is left to do for this intent: no money can move by itself any more.
    pub fn is_settled(&self) -> bool {
        self.status.is_final()
            && self.orders.iter().all(|o| o.settlement != Settlement::Pending)
            && self.refunds.iter().all(|r| r.status != RefundStatus::Pending)
    }

    /// Checks the money rules; a violation is a bug in the core, never a business outcome.
    pub fn assert_consistent(&self) {
        let shares = Fen::checked_sum(self.orders.iter().map(|o| o.amount));
        assert_eq!(
            shares,
            Some(self.amount),
            "intent {} shares disagree with its amount",
            self.id
        );
        if let Some(charge) = &self.charge {
            assert!(
                charge.captured <= charge.authorized,
                "intent {} captured more than authorized",
                self.id
            );
            assert!(
                charge.authorized <= self.amount,
                "intent {} authorized more than its amount",
                self.id
            );
        }
        let captured = self.charge.as_ref().map_or(Fen::ZERO, |c| c.captured);
        assert!(
            self.refunded() <= captured,
            "intent {} refunds exceed the capture",
            self.id
        );
        for order in &self.orders {
            assert!(
                self.refundable(order.order).is_some(),
                "intent {} refunds more than order {}'s share",
                self.id,
                order.order
            );
        }
    }

    fn touch(&mut self, now: Timestamp) {
        self.updated_at = now;
        self.version += 1;
    }

    /// Starts attempt `attempts + 1`; the caller charges the provider with its reference.
    pub fn begin_attempt(&mut self) -> Result<i64, PaymentRefusal> {
        if !self.status.accepts_attempt() {
            return Err(PaymentRefusal::IntentState(self.status));
        }
        Ok(self.attempts + 1)
    }

    /// Applies what the provider says about `attempt`. Returns whether the intent changed
    /// and, when it became captured, that it did (the shard then settles the orders).
    pub fn record_charge(
        &mut self,
        attempt: i64,
        outcome: &ChargeOutcome,
        now: Timestamp,
    ) -> Result<ChargeApplied, PaymentRefusal> {
        let reference = self.reference(attempt);
        let current = attempt >= self.attempts;
        let same_charge =
            |charge: &Option<Charge>, id: &str| charge.as_ref().is_some_and(|c| c.provider_charge_id == id);
        let applied = match outcome {
            ChargeOutcome::Captured {
                provider_charge_id,
                amount,
            } => {
                if self.status == IntentStatus::Captured {
                    if same_charge(&self.charge, provider_charge_id) {
                        return Ok(ChargeApplied::Unchanged);
                    }
                    return Err(PaymentRefusal::ConflictingCapture);
                }
                if *amount != self.amount {
                    return Err(PaymentRefusal::AmountMismatch {
                        expected: self.amount,
                        captured: *amount,
                    });
                }
                let authorized_at = self.charge.as_ref().map_or(now, |c| c.authorized_at);
                self.charge = Some(Charge {
                    reference,
                    provider_charge_id: provider_charge_id.clone(),
                    authorized: *amount,
                    captured: *amount,
                    authorized_at,
                    captured_at: Some(now),
                });
                self.status = IntentStatus::Captured;
                self.decline = None;
                ChargeApplied::Captured
            }
            ChargeOutcome::Authorized {
                provider_charge_id,
                amount,
            } => {
                let open = matches!(
                    self.status,
                    IntentStatus::RequiresConfirmation | IntentStatus::Processing | IntentStatus::Failed
                ) || (self.status == IntentStatus::Expired && self.charge.is_none());
                if !open {
                    return Ok(ChargeApplied::Unchanged);
                }
                if *amount != self.amount {
                    return Err(PaymentRefusal::AmountMismatch {
                        expected: self.amount,
                        captured: *amount,
                    });
                }
                self.charge = Some(Charge {
                    reference,
                    provider_charge_id: provider_charge_id.clone(),
                    authorized: *amount,
                    captured: Fen::ZERO,
                    authorized_at: now,
                    captured_at: None,
                });
                self.status = IntentStatus::Authorized;
                ChargeApplied::Changed
            }
            ChargeOutcome::Voided { provider_charge_id } => {
                if self.status != IntentStatus::Authorized || !same_charge(&self.charge, provider_charge_id) {
                    return Ok(ChargeApplied::Unchanged);
                }
                self.status = IntentStatus::Voided;
                ChargeApplied::Changed
            }
            ChargeOutcome::Declined(code) => {
                let open = matches!(
                    self.status,
                    IntentStatus::RequiresConfirmation | IntentStatus::Processing | IntentStatus::Failed
                );
                // The decline already recorded for this attempt, notified again, is applied once.
                let repeated =
                    self.status == IntentStatus::Failed && attempt == self.attempts && self.decline == Some(*code);
                if !open || !current || repeated {
                    return Ok(ChargeApplied::Unchanged);
                }
                self.status = IntentStatus::Failed;
                self.decline = Some(*code);
                ChargeApplied::Changed
            }
            ChargeOutcome::Unknown => {
                if !matches!(self.status, IntentStatus::RequiresConfirmation | IntentStatus::Failed) || !current {
                    return Ok(ChargeApplied::Unchanged);
                }
                self.status = IntentStatus::Processing;
                ChargeApplied::Changed
            }
            ChargeOutcome::NotFound => {
                if self.status != IntentStatus::Processing || attempt != self.attempts {
                    // Nothing was charged under a reference we were not waiting on.
                    return Ok(ChargeApplied::Unchanged);
                }
                self.status = IntentStatus::Failed;
                self.decline = Some(DeclineCode::NotProcessed);
                ChargeApplied::Changed
            }
        };
        // An attempt the provider knows of (or may know of) uses up its reference.
        if !matches!(outcome, ChargeOutcome::NotFound) {
            self.attempts = self.attempts.max(attempt);
        }
        self.touch(now);
        Ok(applied)
    }

    /// `requires_confirmation` / `failed` past the deadline (and its grace) → `expired`.
    pub fn expire(&mut self, now: Timestamp) -> bool {
        if !self.status.accepts_attempt() || now.unix_ms() < self.pay_by.unix_ms() + EXPIRY_GRACE_MS {
            return false;
        }
        self.status = IntentStatus::Expired;
        self.touch(now);
        true
    }

    /// Opens a refund of `amount` of one order's share; checked against what is left.
    pub fn open_refund(
        &mut self,
        id: RefundId,
        order: OrderId,
        amount: Fen,
        reason: RefundReason,
        now: Timestamp,
    ) -> Result<Refund, PaymentRefusal> {
        if self.status != IntentStatus::Captured {
            return Err(PaymentRefusal::IntentState(self.status));
        }
        let refundable = self.refundable(order).ok_or(PaymentRefusal::NotInIntent)?;
        if amount == Fen::ZERO || amount > refundable {
            return Err(PaymentRefusal::RefundExceedsCaptured { refundable });
        }
        let refund = Refund {
            id,
            intent: self.id,
            order,
            amount,
            reason,
            status: RefundStatus::Pending,
            provider_refund_id: None,
            failure: None,
            request: None,
            created_at: now,
            settled_at: None,
        };
        self.refunds.push(refund.clone());
        self.touch(now);
        Ok(refund)
    }

    /// Applies the provider's answer about a refund; a settled refund does not change again.
    pub fn record_refund(
        &mut self,
        id: RefundId,
        outcome: &RefundOutcome,
        now: Timestamp,
    ) -> Result<Option<Refund>, PaymentRefusal> {
        let refund = self
            .refunds
            .iter_mut()
            .find(|r| r.id == id)
            .ok_or(PaymentRefusal::UnknownRefund)?;
        if refund.status != RefundStatus::Pending {
            return Ok(None);
        }
        match outcome {
            RefundOutcome::Succeeded { provider_refund_id } => {
                refund.status = RefundStatus::Succeeded;
                refund.provider_refund_id = Some(provider_refund_id.clone());
            }
            RefundOutcome::Failed { reason } => {
                refund.status = RefundStatus::Failed;
                refund.failure = Some(reason.clone());
            }
            RefundOutcome::Unknown => return Ok(None),
        }
        refund.settled_at = Some(now);
        let refund = refund.clone();
        self.touch(now);
        Ok(Some(refund))
    }
}

/// Whether recording a charge outcome changed the intent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChargeApplied {
    Unchanged,
    Changed,
    /// The intent just became captured: its orders are to be settled.
    Captured,
}

/// A buyer's standing permission to be charged without confirming each payment (免密支付).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OneTapAgreement {
    pub id: i64,
    pub buyer: BuyerId,
    pub provider: String,
    pub credential: String,
    pub per_order_limit: Fen,
    pub per_day_limit: Fen,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

impl OneTapAgreement {
    /// Whether `amount` may be charged now, given what was already charged today under it.
    pub fn allows(&self, amount: Fen, spent_today: Fen) -> Result<(), OneTapLimit> {
        if self.revoked_at.is_some() {
            return Err(OneTapLimit::Revoked);
        }
        if amount > self.per_order_limit {
            return Err(OneTapLimit::PerOrder);
        }
        if spent_today
            .checked_add(amount)
            .is_none_or(|total| total > self.per_day_limit)
        {
            return Err(OneTapLimit::PerDay);
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OneTapLimit {
    Revoked,
    PerOrder,
    PerDay,
}

impl OneTapLimit {
    pub fn code(self) -> &'static str {
        match self {
            OneTapLimit::Revoked => "one_tap_revoked",
            OneTapLimit::PerOrder => "one_tap_per_order_limit",
            OneTapLimit::PerDay => "one_tap_per_day_limit",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fen(raw: i64) -> Fen {
        Fen::from_stored(raw).expect("non-negative")
    }

    fn intent() -> PaymentIntent {
        let id = |raw| OrderId::new(raw).expect("positive");
        let shop = ShopId::new(3).expect("positive");
        PaymentIntent {
            id: PaymentIntentId::new(7).expect("positive"),
            checkout: CheckoutId::new(1).expect("positive"),
            buyer: BuyerId::new(2).expect("positive"),
            home_shop: shop,
            amount: fen(1_000),
            orders: vec![
                IntentOrder {
                    order: id(1),
                    shop,
                    amount: fen(600),
                    settlement: Settlement::Unpaid,
                },
                IntentOrder {
                    order: id(2),
                    shop,
                    amount: fen(400),
                    settlement: Settlement::Unpaid,
                },
            ],
            status: IntentStatus::RequiresConfirmation,
            attempts: 0,
            one_tap: false,
            charge: None,
            decline: None,
            refunds: vec![],
            pay_by: Timestamp::from_unix_ms(900_000),
            created_at: Timestamp::from_unix_ms(0),
            updated_at: Timestamp::from_unix_ms(0),
            version: 1,
        }
    }

    fn captured(id: &str) -> ChargeOutcome {
        ChargeOutcome::Captured {
            provider_charge_id: id.into(),
            amount: fen(1_000),
        }
    }

    #[test]
    fn references_round_trip() {
        let shop = ShopId::new(12).expect("positive");
        let intent = PaymentIntentId::new(345).expect("positive");
        let refund = RefundId::new(6).expect("positive");
        assert_eq!(
            parse_reference(&attempt_reference(shop, intent, 2)),
            Some(ReferenceTarget::Attempt {
                shop,
                intent,
                attempt: 2
            })
        );
        assert_eq!(
            parse_reference(&refund_reference(shop, intent, refund)),
            Some(ReferenceTarget::Refund { shop, intent, refund })
        );
        for bad in [
            "",
            "mdn-",
            "mdn-1-2",
            "mdn-1-2-0",
            "mdn-1-2-3-4",
            "x-1-2-3",
            "mdn-1-2-rx",
            "mdn--1-2-3",
        ] {
            assert_eq!(parse_reference(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_capture_is_booked_once_and_a_different_one_is_refused() {
        let mut i = intent();
        let now = Timestamp::from_unix_ms(10);
        assert_eq!(i.begin_attempt(), Ok(1));
        assert_eq!(i.record_charge(1, &captured("ch_1"), now), Ok(ChargeApplied::Captured));
        assert_eq!(i.record_charge(1, &captured("ch_1"), now), Ok(ChargeApplied::Unchanged));
        assert_eq!(
            i.record_charge(2, &captured("ch_2"), now),
            Err(PaymentRefusal::ConflictingCapture)
        );
        assert_eq!(
            i.begin_attempt(),
            Err(PaymentRefusal::IntentState(IntentStatus::Captured))
        );
        i.assert_consistent();
    }

    #[test]
    fn an_unknown_outcome_waits_for_the_provider_and_is_never_guessed() {
        let mut i = intent();
        let now = Timestamp::from_unix_ms(10);
        i.record_charge(1, &ChargeOutcome::Unknown, now).expect("recorded");
        assert_eq!(i.status, IntentStatus::Processing);
        assert_eq!(
            i.begin_attempt(),
            Err(PaymentRefusal::IntentState(IntentStatus::Processing))
        );
        // A stale decline of an older attempt does not touch it.
        i.record_charge(1, &ChargeOutcome::NotFound, now).expect("recorded");
        assert_eq!(i.status, IntentStatus::Failed);
        assert_eq!(i.decline, Some(DeclineCode::NotProcessed));
        assert_eq!(i.begin_attempt(), Ok(2));
    }

    #[test]
    fn a_decline_notified_twice_is_recorded_once() {
        let mut i = intent();
        let declined = ChargeOutcome::Declined(DeclineCode::InsufficientFunds);
        assert_eq!(
            i.record_charge(1, &declined, Timestamp::from_unix_ms(10)),
            Ok(ChargeApplied::Changed)
        );
        let recorded = i.clone();
        assert_eq!(
            i.record_charge(1, &declined, Timestamp::from_unix_ms(20)),
            Ok(ChargeApplied::Unchanged)
        );
        assert_eq!(i, recorded);
        // Another reason for the same attempt is news, and is recorded.
        let fraud = ChargeOutcome::Declined(DeclineCode::SuspectedFraud);
        assert_eq!(
            i.record_charge(1, &fraud, Timestamp::from_unix_ms(30)),
            Ok(ChargeApplied::Changed)
        );
        assert_eq!(i.decline, Some(DeclineCode::SuspectedFraud));
    }

    #[test]
    fn out_of_order_answers_do_not_move_an_intent_backwards() {
        let mut i = intent();
        let now = Timestamp::from_unix_ms(10);
        i.record_charge(1, &captured("ch_1"), now).expect("captured");
        for late in [
            ChargeOutcome::Authorized {
                provider_charge_id: "ch_1".into(),
                amount: fen(1_000),
            },
            ChargeOutcome::Declined(DeclineCode::InsufficientFunds),
            ChargeOutcome::Unknown,
            ChargeOutcome::NotFound,
            ChargeOutcome::Voided {
                provider_charge_id: "ch_1".into(),
            },
        ] {
            assert_eq!(i.record_charge(1, &late, now), Ok(ChargeApplied::Unchanged), "{late:?}");
            assert_eq!(i.status, IntentStatus::Captured);
        }
    }

    #[test]
    fn refunds_never_exceed_an_orders_share_or_the_capture() {
        let mut i = intent();
        let now = Timestamp::from_unix_ms(10);
        let order = OrderId::new(1).expect("positive");
        let refund = |n| RefundId::new(n).expect("positive");
        assert_eq!(
            i.open_refund(refund(1), order, fen(1), RefundReason::Requested, now),
            Err(PaymentRefusal::IntentState(IntentStatus::RequiresConfirmation))
        );
        i.record_charge(1, &captured("ch_1"), now).expect("captured");
        i.open_refund(refund(1), order, fen(250), RefundReason::Requested, now)
            .expect("first");
        i.open_refund(refund(2), order, fen(350), RefundReason::Requested, now)
            .expect("second");
        assert_eq!(
            i.open_refund(refund(3), order, fen(1), RefundReason::Requested, now),
            Err(PaymentRefusal::RefundExceedsCaptured { refundable: fen(0) })
        );
        // A failed refund gives its amount back to what may be refunded.
        let failed = RefundOutcome::Failed { reason: "x".into() };
        assert!(i.record_refund(refund(2), &failed, now).expect("known").is_some());
        assert!(i.record_refund(refund(2), &failed, now).expect("known").is_none());
        assert_eq!(i.refundable(order), Some(fen(350)));
        i.assert_consistent();
    }

    #[test]
    fn expiry_waits_for_the_grace_and_spares_a_paid_intent() {
        let mut i = intent();
        assert!(!i.expire(Timestamp::from_unix_ms(900_000)));
        assert!(i.expire(Timestamp::from_unix_ms(900_000 + EXPIRY_GRACE_MS)));
        assert_eq!(i.status, IntentStatus::Expired);
        let mut paid = intent();
        paid.record_charge(1, &captured("ch"), Timestamp::from_unix_ms(1))
            .expect("captured");
        assert!(!paid.expire(Timestamp::from_unix_ms(i64::MAX / 2)));
    }

    #[test]
    fn one_tap_limits() {
        let agreement = OneTapAgreement {
            id: 1,
            buyer: BuyerId::new(1).expect("positive"),
            provider: "simpay".into(),
            credential: "c".into(),
            per_order_limit: fen(500),
            per_day_limit: fen(1_000),
            created_at: Timestamp::from_unix_ms(0),
            revoked_at: None,
        };
        assert_eq!(agreement.allows(fen(500), fen(500)), Ok(()));
        assert_eq!(agreement.allows(fen(501), fen(0)), Err(OneTapLimit::PerOrder));
        assert_eq!(agreement.allows(fen(500), fen(501)), Err(OneTapLimit::PerDay));
    }
}
