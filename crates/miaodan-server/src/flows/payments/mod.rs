//! The payment flows: they talk to a provider and feed its answers to the shard that owns the
//! intent. They know no HTTP: they return domain values or a [`PaymentError`], which `http/`
//! maps to problem+json once. The rules (what a capture, a decline or a refund does to an intent and
//! its orders) are the core's (`miaodan_domain::payments`); here is only the order of calls:
//!
//! ```text
//! confirm:  BeginPaymentAttempt ─► provider.charge(reference, deadline) ─► RecordCharge
//!              (attempt number,        (idempotent by reference;           (captured: the
//!               not yet durable)        timeout = unknown outcome)          shard pays its
//!                                                                            orders in the
//!                                                                            same commit)
//!           ─► settle: PayOrder in other shards, SettleRemoteOrder, refunds to the provider
//! ```
//!
//! A crash anywhere in there loses nothing: the attempt's reference is derived from the stored
//! attempt count, so the next try (or the [`worker`]'s lookup at start) reaches the same
//! provider charge, and the worker finishes settlements and refunds that were left half-way.

pub mod one_tap;
pub mod provider;
pub mod reconcile;
pub mod simpay_provider;
pub mod worker;

use crate::app::AppState;
use crate::flows::risk;
use crate::sequencer::ShardError;
use miaodan_domain::payments::{
    ChargeOutcome, IntentStatus, OneTapAgreement, PaymentIntent, PaymentIntentId, PaymentRefusal, ReferenceTarget,
    RefundId, RefundOutcome, RefundReason, RefundStatus, Settlement, parse_reference, refund_reference,
};
use miaodan_domain::risk::{ClientSignals, Screening};
use miaodan_domain::shard::{AttemptBegun, IntentOrderRequest, OpenPaymentIntent, Rejection, ShardCommand};
use miaodan_domain::shard::{
    BeginPaymentAttempt, PayOrder, RecordCharge, RecordRefund, RequestRefund, SettleRemoteOrder,
};
use miaodan_domain::{BuyerId, CheckoutId, Fen, OrderId, ShopId};
use miaodan_store::StoreError;
use one_tap::{OneTap, OneTapRefusal};
use provider::{ChargeRequest, Notification, PaymentProvider, ProviderError, RefundRequest};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The longest the platform waits for a provider's answer before it counts the outcome as
/// unknown (and lets reconciliation ask).
pub const PROVIDER_CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Intents whose home the shell remembers without a database read; past this it forgets all.
const HOMES_CACHED_MAX: usize = 200_000;

pub struct Payments {
    pub provider: Arc<dyn PaymentProvider>,
    pub one_tap: OneTap,
    /// Intent → (home shop, buyer, orders): which shard to ask, whose it is, and how many
    /// refund ids a capture needs ready.
    homes: Mutex<HashMap<PaymentIntentId, (ShopId, BuyerId, usize)>>,
}

/// Why a payment flow did not end with an intent (a decline is not one of these: it is an
/// intent whose status is `failed`).
#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    #[error("no such payment intent")]
    UnknownIntent,
    /// No such checkout, or not the buyer's.
    #[error("no such checkout")]
    UnknownCheckout,
    #[error("no such order")]
    UnknownOrder,
    /// No order of the checkout awaits payment (paid, cancelled or expired).
    #[error("no order of this checkout awaits payment")]
    NothingToPay,
    /// The orders awaiting payment add up to an amount the provider does not charge (nothing,
    /// or more than its maximum): asking it would only be refused.
    #[error("the provider does not charge {amount_fen} fen")]
    AmountNotPayable { amount_fen: i64 },
    /// A refund of an order no capture paid.
    #[error("the order has no captured payment to refund")]
    OrderNotPaid,
    /// The intent's shard refused the command (a payment refusal, an order no longer open…).
    #[error("refused by the shard: {}", .0.code())]
    Refused(Rejection),
    /// One-tap pay cannot pay this (no agreement, over a limit); nothing was charged.
    #[error(transparent)]
    OneTap(#[from] OneTapRefusal),
    /// The provider refused the request itself; nothing was charged.
    #[error("the payment provider refused the request: {0}")]
    ProviderRefused(String),
    #[error(transparent)]
    Shard(#[from] ShardError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How the buyer pays an intent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PayWith {
    /// A credential from the provider's client SDK (a wallet or card token).
    Credential(String),
    /// The buyer's one-tap agreement: no confirmation, within its limits.
    OneTap,
}

impl Payments {
    pub fn new(provider: Arc<dyn PaymentProvider>, one_tap: OneTap) -> Payments {
        Payments {
            provider,
            one_tap,
            homes: Mutex::new(HashMap::new()),
        }
    }

    fn remember_home(&self, intent: &PaymentIntent) {
        let mut homes = self.homes.lock().unwrap_or_else(|p| p.into_inner());
        if homes.len() >= HOMES_CACHED_MAX {
            homes.clear();
        }
        homes.insert(intent.id, (intent.home_shop, intent.buyer, intent.orders.len()));
    }

    fn cached_home(&self, intent: PaymentIntentId) -> Option<(ShopId, BuyerId)> {
        self.cached(intent).map(|(home, buyer, _)| (home, buyer))
    }

    /// How many orders an intent covers (fixed when it opens).
    fn cached_orders(&self, intent: PaymentIntentId) -> Option<usize> {
        self.cached(intent).map(|(_, _, orders)| orders)
    }

    fn cached(&self, intent: PaymentIntentId) -> Option<(ShopId, BuyerId, usize)> {
        self.homes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&intent)
            .copied()
    }
}

fn payment_metric(outcome: &ChargeOutcome) -> &'static str {
    match outcome {
        ChargeOutcome::Authorized { .. } => "authorized",
        ChargeOutcome::Captured { .. } => "captured",
        ChargeOutcome::Voided { .. } => "voided",
        ChargeOutcome::Declined(_) => "declined",
        ChargeOutcome::Unknown => "unknown",
        ChargeOutcome::NotFound => "not_found",
    }
}

/// Runs a provider call with the platform's deadline; no answer in time is an unknown outcome.
async fn within_deadline<T>(call: impl Future<Output = Result<T, ProviderError>>) -> Result<T, ProviderError> {
    match tokio::time::timeout(PROVIDER_CALL_TIMEOUT, call).await {
        Ok(result) => result,
        Err(_) => Err(ProviderError::Unknown("no answer within the deadline".into())),
    }
}

/// Asks an intent's home shard; if the intent has left the shard's memory, reads it from
/// storage and asks again with it. A refusal is [`PaymentError::Refused`].
async fn ask_about_intent<C: ShardCommand>(
    state: &AppState,
    home: ShopId,
    intent: PaymentIntentId,
    command: impl Fn(Option<Box<PaymentIntent>>) -> C,
) -> Result<C::Answer, PaymentError> {
    match state.shards.ask(home, command(None), None).await? {
        Err(Rejection::PaymentIntentNotLoaded) => {}
        answer => return answer.map_err(PaymentError::Refused),
    }
    let stored = state
        .store
        .payment_intent(intent)
        .await?
        .ok_or(PaymentError::UnknownIntent)?;
    let answer = state.shards.ask(home, command(Some(Box::new(stored))), None).await?;
    answer.map_err(PaymentError::Refused)
}

/// The home shop and owner of an intent.
pub async fn home_of(state: &AppState, intent: PaymentIntentId) -> Result<(ShopId, BuyerId), PaymentError> {
    if let Some(home) = state.payments.cached_home(intent) {
        return Ok(home);
    }
    let stored = state
        .store
        .payment_intent(intent)
        .await?
        .ok_or(PaymentError::UnknownIntent)?;
    state.payments.remember_home(&stored);
    Ok((stored.home_shop, stored.buyer))
}

/// The intent as stored (every answer about it was given after its commit).
pub async fn read_intent(state: &AppState, intent: PaymentIntentId) -> Result<PaymentIntent, PaymentError> {
    state
        .store
        .payment_intent(intent)
        .await?
        .ok_or(PaymentError::UnknownIntent)
}

/// Opens the payment of a checkout (or finds the one already open): one intent per checkout,
/// covering its orders that await payment.
pub async fn open_intent(
    state: &AppState,
    buyer: BuyerId,
    checkout: CheckoutId,
    one_tap: bool,
) -> Result<PaymentIntent, PaymentError> {
    if let Some(existing) = state.store.payment_intent_of_checkout(checkout).await? {
        if existing.buyer != buyer {
            return Err(PaymentError::UnknownCheckout);
        }
        // Answered where the intent's shard is, like every request about it.
        state.shards.decide_here(existing.home_shop)?;
        state.payments.remember_home(&existing);
        return Ok(existing);
    }
    let orders = state.store.checkout_orders(checkout).await?;
    if orders.is_empty() || orders.iter().any(|o| o.buyer != buyer) {
        return Err(PaymentError::UnknownCheckout);
    }
    let pending: Vec<IntentOrderRequest> = orders
        .iter()
        .filter(|o| o.state == miaodan_domain::orders::OrderState::PendingPayment)
        .map(|o| IntentOrderRequest {
            order: o.id,
            shop: o.shop,
            amount: o.total,
            payment_due_at: o.payment_due_at,
        })
        .collect();
    let Some(first) = pending.first() else {
        return Err(PaymentError::NothingToPay);
    };
    let amount_fen = pending.iter().fold(0_i64, |sum, o| sum.saturating_add(o.amount.get()));
    if !state.payments.provider.amount_fen_range().contains(&amount_fen) {
        return Err(PaymentError::AmountNotPayable { amount_fen });
    }
    let home = first.shop;
    // Decided, and its answer stored, where the intent's home is (a member sharing the shards
    // sends the request there): a retry at any member reaches the same one.
    state.shards.decide_here(home)?;
    let id = state.ids.payment_intent().await?;
    let command = OpenPaymentIntent {
        id,
        checkout,
        buyer,
        orders: pending,
        one_tap,
    };
    let intent = state
        .shards
        .ask(home, command, None)
        .await?
        .map_err(PaymentError::Refused)?;
    state.payments.remember_home(&intent);
    Ok(intent)
}

/// Charges an intent: one attempt with the provider, its answer recorded by the intent's shard
/// (and the orders paid with it), then the settlement of anything left.
///
/// Risk screens a buyer's attempt first (`client`: what the request said of its sender; the
/// credential it will be charged with is added): a refused attempt never reaches the provider.
/// `None`: not a buyer's request (a one-tap payment after its screened tap, the demo's own),
/// not screened.
pub async fn confirm(
    state: &AppState,
    buyer: BuyerId,
    intent_id: PaymentIntentId,
    pay_with: PayWith,
    client: Option<ClientSignals>,
) -> Result<PaymentIntent, PaymentError> {
    let (home, owner) = home_of(state, intent_id).await?;
    if owner != buyer {
        return Err(PaymentError::UnknownIntent);
    }
    state.shards.decide_here(home)?;
    let one_tap = pay_with == PayWith::OneTap;
    let screening = screening_of(state, buyer, &pay_with, client).await?;
    let begun = ask_about_intent(state, home, intent_id, |snapshot| BeginPaymentAttempt {
        intent: intent_id,
        one_tap,
        snapshot,
        screening: screening.clone(),
    })
    .await?;
    let AttemptBegun { intent, attempt } = begun;
    let now = state.clock.now();
    let (credential, one_tap): (String, Option<OneTapAgreement>) = match pay_with {
        PayWith::Credential(credential) => (credential, None),
        PayWith::OneTap => match state.payments.one_tap.reserve(buyer, intent.amount, now) {
            Ok(agreement) => (agreement.credential.clone(), Some(agreement)),
            Err(refusal) => {
                abandon_attempt(state, home, intent_id, attempt).await;
                return Err(refusal.into());
            }
        },
    };
    let request = ChargeRequest {
        reference: intent.reference(attempt),
        amount: intent.amount,
        credential,
        capture: true,
        expires_at: intent.pay_by,
    };
    let started = std::time::Instant::now();
    let outcome = match within_deadline(state.payments.provider.charge(request)).await {
        Ok(outcome) => outcome,
        Err(ProviderError::Unknown(detail)) => {
            tracing::warn!(intent = %intent_id, attempt, %detail, "payment outcome unknown; reconciliation will ask");
            ChargeOutcome::Unknown
        }
        Err(ProviderError::Refused(detail)) => {
            abandon_attempt(state, home, intent_id, attempt).await;
            if one_tap.is_some() {
                state.payments.one_tap.release(buyer, intent.amount, now);
            }
            tracing::error!(intent = %intent_id, %detail, "the provider refused a charge request");
            return Err(PaymentError::ProviderRefused(detail));
        }
    };
    metrics::histogram!("miaodan_provider_call_seconds", "call" => "charge").record(started.elapsed().as_secs_f64());
    metrics::counter!("miaodan_payment_attempts_total", "outcome" => payment_metric(&outcome)).increment(1);
    if one_tap.is_some() && matches!(outcome, ChargeOutcome::Declined(_) | ChargeOutcome::NotFound) {
        state.payments.one_tap.release(buyer, intent.amount, now);
    }
    let recorded = record_charge(state, home, intent_id, attempt, outcome, Some(intent.orders.len())).await?;
    settle(state, recorded).await
}

/// Risk's screening of a buyer's attempt, with the credential it will be charged with (the one
/// given, or the one-tap agreement's); `None` for a request that is not a buyer's.
async fn screening_of(
    state: &AppState,
    buyer: BuyerId,
    pay_with: &PayWith,
    client: Option<ClientSignals>,
) -> Result<Option<Box<Screening>>, StoreError> {
    let Some(client) = client else {
        return Ok(None);
    };
    let credential = match pay_with {
        PayWith::Credential(credential) => Some(risk::credential_fingerprint(credential)),
        PayWith::OneTap => state
            .payments
            .one_tap
            .with_credential(buyer, risk::credential_fingerprint),
    };
    risk::screening(state, buyer, client, credential, None).await
}

/// Confirms; a second confirmation of an intent already captured shows it instead of failing.
/// The refusal is answered after the commit it rests on (see `sequencer`), so storage already
/// shows that capture.
pub async fn confirm_or_show_paid(
    state: &AppState,
    buyer: BuyerId,
    id: PaymentIntentId,
    pay_with: PayWith,
    client: Option<ClientSignals>,
) -> Result<PaymentIntent, PaymentError> {
    match confirm(state, buyer, id, pay_with, client).await {
        Err(error @ PaymentError::Refused(Rejection::Payment(PaymentRefusal::IntentState(_)))) => {
            let intent = read_intent(state, id).await?;
            if intent.status == IntentStatus::Captured && intent.buyer == buyer {
                Ok(intent)
            } else {
                Err(error)
            }
        }
        other => other,
    }
}

/// A flash order of a buyer with a one-tap agreement is paid right after the tap, with no
/// confirmation, when it is within the agreement's limits; otherwise it waits for the buyer.
pub fn pay_by_one_tap_in_background(state: &AppState, buyer: BuyerId, checkout: CheckoutId) {
    if state.payments.one_tap.agreement(buyer).is_none() {
        return;
    }
    let state = state.clone();
    tokio::spawn(async move {
        let paid = async {
            let intent = open_intent(&state, buyer, checkout, true).await?;
            // Not the buyer's request: its tap was screened, with the agreement's credential.
            confirm(&state, buyer, intent.id, PayWith::OneTap, None).await
        };
        match paid.await {
            Ok(intent) => tracing::debug!(intent = %intent.id, status = intent.status.as_str(), "one-tap payment"),
            Err(error) => tracing::info!(%checkout, %error, "one-tap payment not made; the buyer confirms"),
        }
    });
}

/// Frees an attempt number that never reached the provider.
async fn abandon_attempt(state: &AppState, home: ShopId, intent: PaymentIntentId, attempt: i64) {
    let command = RecordCharge {
        intent,
        attempt,
        outcome: ChargeOutcome::NotFound,
        refunds: Vec::new(),
        snapshot: None,
    };
    if let Err(error) = state.shards.ask(home, command, None).await {
        tracing::warn!(%intent, %error, "could not release a payment attempt");
    }
}

/// Feeds the provider's word about one attempt to the intent's shard.
pub async fn record_charge(
    state: &AppState,
    home: ShopId,
    intent: PaymentIntentId,
    attempt: i64,
    outcome: ChargeOutcome,
    orders: Option<usize>,
) -> Result<PaymentIntent, PaymentError> {
    // Refund ids for orders that closed before the money arrived: one per order at most.
    let refunds: Vec<RefundId> = if matches!(outcome, ChargeOutcome::Captured { .. }) {
        let orders = match orders.or_else(|| state.payments.cached_orders(intent)) {
            Some(orders) => orders,
            None => read_intent(state, intent).await?.orders.len(),
        };
        let mut refunds = Vec::with_capacity(orders);
        for _ in 0..orders {
            refunds.push(state.ids.refund().await?);
        }
        refunds
    } else {
        Vec::new()
    };
    ask_about_intent(state, home, intent, |snapshot| RecordCharge {
        intent,
        attempt,
        outcome: outcome.clone(),
        refunds: refunds.clone(),
        snapshot,
    })
    .await
}

/// Finishes what a captured intent still owes: its orders in other shards, and refunds the
/// provider has not confirmed. Safe to run any number of times, concurrently too.
pub async fn settle(state: &AppState, mut intent: PaymentIntent) -> Result<PaymentIntent, PaymentError> {
    let home = intent.home_shop;
    for share in intent.orders.clone() {
        if share.settlement != Settlement::Pending {
            continue;
        }
        let paid = match state
            .shards
            .ask(
                share.shop,
                PayOrder {
                    order: share.order,
                    intent: intent.id,
                },
                None,
            )
            .await?
        {
            Ok(_) => true,
            Err(Rejection::OrderNotOpen) => state
                .store
                .order(share.order)
                .await?
                .is_some_and(|order| order.paid_by == Some(intent.id)),
            Err(rejection) => return Err(PaymentError::Refused(rejection)),
        };
        let refund = state.ids.refund().await?;
        let id = intent.id;
        intent = ask_about_intent(state, home, id, |snapshot| SettleRemoteOrder {
            intent: id,
            order: share.order,
            paid,
            refund,
            snapshot,
        })
        .await?;
    }
    for refund in intent.refunds.clone() {
        if refund.status == RefundStatus::Pending {
            intent = execute_refund(state, &intent, refund.id).await?;
        }
    }
    Ok(intent)
}

/// Asks the provider to carry out a recorded refund and records its answer.
async fn execute_refund(
    state: &AppState,
    intent: &PaymentIntent,
    refund: RefundId,
) -> Result<PaymentIntent, PaymentError> {
    let Some(pending) = intent.refunds.iter().find(|r| r.id == refund) else {
        return Ok(intent.clone());
    };
    let Some(charge) = &intent.charge else {
        return Ok(intent.clone());
    };
    let request = RefundRequest {
        reference: refund_reference(intent.home_shop, intent.id, refund),
        charge_reference: charge.reference.clone(),
        amount: pending.amount,
    };
    let outcome = match within_deadline(state.payments.provider.refund(request)).await {
        Ok(outcome) => outcome,
        Err(error) => {
            tracing::warn!(intent = %intent.id, %refund, %error, "refund outcome unknown; the worker retries");
            RefundOutcome::Unknown
        }
    };
    metrics::counter!("miaodan_refunds_total", "outcome" => match &outcome {
        RefundOutcome::Succeeded { .. } => "succeeded",
        RefundOutcome::Failed { .. } => "failed",
        RefundOutcome::Unknown => "unknown",
    })
    .increment(1);
    record_refund(state, intent.home_shop, intent.id, refund, outcome).await
}

async fn record_refund(
    state: &AppState,
    home: ShopId,
    intent: PaymentIntentId,
    refund: RefundId,
    outcome: RefundOutcome,
) -> Result<PaymentIntent, PaymentError> {
    ask_about_intent(state, home, intent, |snapshot| RecordRefund {
        intent,
        refund,
        outcome: outcome.clone(),
        snapshot,
    })
    .await
}

/// Refunds `amount` of a paid order's payment (the merchant's or an operator's decision). The
/// answer carries the refund as the provider left it: succeeded, failed, or pending (unknown
/// for now; the worker finishes it).
pub async fn refund_order(
    state: &AppState,
    order: OrderId,
    amount: Fen,
    request: Option<miaodan_domain::shard::RequestRef>,
) -> Result<(PaymentIntent, RefundId), PaymentError> {
    let stored = state.store.order(order).await?.ok_or(PaymentError::UnknownOrder)?;
    let intent_id = stored.paid_by.ok_or(PaymentError::OrderNotPaid)?;
    let (home, _) = home_of(state, intent_id).await?;
    let refund = state.ids.refund().await?;
    let opened = ask_about_intent(state, home, intent_id, |snapshot| RequestRefund {
        intent: intent_id,
        refund,
        order,
        amount,
        reason: RefundReason::Requested,
        request: request.clone(),
        snapshot,
    })
    .await?;
    // A retried request finds the refund its first attempt opened.
    let refund = match &request {
        Some(request) => opened
            .refunds
            .iter()
            .find(|r| r.request.as_ref() == Some(&request.0))
            .map_or(refund, |r| r.id),
        None => refund,
    };
    let settled = execute_refund(state, &opened, refund).await?;
    Ok((settled, refund))
}

/// What a notification did, as logged and counted.
pub async fn apply_notification(state: &AppState, notification: &Notification) -> &'static str {
    let result = match (parse_reference(notification.reference()), notification) {
        (Some(ReferenceTarget::Attempt { shop, intent, attempt }), Notification::Charge { outcome, .. }) => {
            match record_charge(state, shop, intent, attempt, outcome.clone(), None).await {
                Ok(recorded) => {
                    if recorded.status == IntentStatus::Captured && !recorded.is_settled() {
                        let state = state.clone();
                        tokio::spawn(async move {
                            if let Err(error) = settle(&state, recorded).await {
                                tracing::warn!(%error, "settlement after a notification failed; the worker retries");
                            }
                        });
                    }
                    Ok(())
                }
                Err(error) => Err(error),
            }
        }
        (Some(ReferenceTarget::Refund { shop, intent, refund }), Notification::Refund { outcome, .. }) => {
            record_refund(state, shop, intent, refund, outcome.clone())
                .await
                .map(|_| ())
        }
        _ => return "unknown_reference",
    };
    match result {
        Ok(()) => "applied",
        Err(
            PaymentError::UnknownIntent
            | PaymentError::Refused(Rejection::PaymentIntentNotLoaded | Rejection::UnknownShop),
        ) => "unknown_reference",
        Err(PaymentError::Refused(rejection @ (Rejection::Payment(_) | Rejection::OrderNotOpen))) => {
            tracing::error!(
                reference = notification.reference(),
                code = rejection.code(),
                ?rejection,
                "a provider notification contradicts the ledger; reconciliation lists it"
            );
            "conflict"
        }
        Err(_) => "failed",
    }
}
