//! The daily reconciliation report: for one Asia/Shanghai day and one provider, the money the
//! ledger says moved (captured − refunded) against what the orders say was paid, and the
//! provider's own statement against the ledger, line by line. Every difference is listed;
//! the report never corrects anything by itself.

use crate::app::AppState;
use miaodan_domain::Timestamp;
use miaodan_domain::payments::{IntentStatus, RefundReason, RefundStatus, Settlement, refund_reference};
use miaodan_domain::time::shanghai::{self, LocalDate};
use miaodan_store::{PaidOrder, Store, StoreError};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use utoipa::ToSchema;

#[derive(Clone, Debug, Serialize, ToSchema, PartialEq, Eq)]
pub struct Mismatch {
    /// What disagrees: `capture_missing_in_ledger`, `capture_missing_at_provider`,
    /// `capture_amount_differs`, `refund_missing_in_ledger`, `refund_missing_at_provider`,
    /// `refund_amount_differs`, `paid_without_capture`, `order_not_settled`,
    /// `capture_not_covered`, `settlement_pending`, `refund_not_completed`.
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_intent_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<i64>,
    pub detail: String,
}

#[derive(Clone, Debug, Serialize, ToSchema, PartialEq, Eq)]
pub struct ReconciliationReport {
    /// The Asia/Shanghai calendar day, `YYYY-MM-DD`.
    pub date: String,
    pub provider: String,
    pub captures: i64,
    pub captured_fen: i64,
    pub refunds: i64,
    pub refunded_fen: i64,
    /// captured − refunded, by the ledger.
    pub net_fen: i64,
    pub paid_orders: i64,
    /// Σ totals of the orders paid that day.
    pub paid_orders_fen: i64,
    /// Σ refunds of paid orders (merchant or after-sales refunds) settled that day.
    pub paid_orders_refunded_fen: i64,
    /// paid − refunded, by the orders.
    pub orders_net_fen: i64,
    /// The provider's statement: captured and refunded that day.
    pub provider_captured_fen: i64,
    pub provider_refunded_fen: i64,
    /// No mismatch, and the ledger's net equals the orders' net.
    pub balanced: bool,
    pub mismatches: Vec<Mismatch>,
}

fn mismatch(kind: &str, detail: String) -> Mismatch {
    Mismatch {
        kind: kind.into(),
        reference: None,
        payment_intent_id: None,
        order_id: None,
        detail,
    }
}

/// Parses `YYYY-MM-DD` and gives the day's start and end instants in Asia/Shanghai.
pub fn day_bounds(date: &str) -> Option<(Timestamp, Timestamp)> {
    LocalDate::parse(date).map(shanghai::day_bounds)
}

/// The orders paid in `[from, to)` that money paid. An exchange's replacement order (zero
/// total, no payment intent) is paid by its exchange: no money moved, so the ledger has nothing
/// to match it with.
async fn paid_with_money(store: &Store, from: Timestamp, to: Timestamp) -> Result<Vec<PaidOrder>, StoreError> {
    let mut paid = store.orders_paid_between(from, to).await?;
    paid.retain(|o| o.paid_by.is_some() || o.total != 0);
    Ok(paid)
}

pub async fn report(state: &AppState, date: &str) -> anyhow::Result<ReconciliationReport> {
    let (from, to) = day_bounds(date).ok_or_else(|| anyhow::anyhow!("not a date: {date}"))?;
    let store = &state.store;
    let provider = &state.payments.provider;
    let captures = store.captures_between(from, to).await?;
    let refunds = store.refunds_settled_between(from, to).await?;
    let paid = paid_with_money(store, from, to).await?;
    let statement = super::within_deadline(provider.statement(date.to_string()))
        .await
        .map_err(|e| anyhow::anyhow!("provider statement: {e}"))?;
    let mut mismatches = Vec::new();

    // The provider's statement against the ledger, line by line.
    let ours_captured: BTreeMap<&str, i64> = captures.iter().map(|c| (c.reference.as_str(), c.amount)).collect();
    let ours_refunded: BTreeMap<String, i64> = refunds
        .iter()
        .map(|r| (refund_reference(r.home_shop, r.intent, r.refund), r.amount))
        .collect();
    let mut seen_captures = BTreeSet::new();
    let mut seen_refunds = BTreeSet::new();
    let (mut provider_captured, mut provider_refunded) = (0i64, 0i64);
    for line in &statement {
        let (ours, seen, kind) = if line.capture {
            provider_captured += line.amount.get();
            (
                ours_captured.get(line.reference.as_str()).copied(),
                &mut seen_captures,
                "capture",
            )
        } else {
            provider_refunded += line.amount.get();
            (ours_refunded.get(&line.reference).copied(), &mut seen_refunds, "refund")
        };
        seen.insert(line.reference.clone());
        match ours {
            None => mismatches.push(Mismatch {
                reference: Some(line.reference.clone()),
                ..mismatch(
                    &format!("{kind}_missing_in_ledger"),
                    format!(
                        "the provider reports a {kind} of {} fen the ledger does not have",
                        line.amount.get()
                    ),
                )
            }),
            Some(amount) if amount != line.amount.get() => mismatches.push(Mismatch {
                reference: Some(line.reference.clone()),
                ..mismatch(
                    &format!("{kind}_amount_differs"),
                    format!("ledger {amount} fen, provider {} fen", line.amount.get()),
                )
            }),
            Some(_) => {}
        }
    }
    for capture in &captures {
        if !seen_captures.contains(&capture.reference) {
            mismatches.push(Mismatch {
                reference: Some(capture.reference.clone()),
                payment_intent_id: Some(capture.intent.get()),
                ..mismatch(
                    "capture_missing_at_provider",
                    format!(
                        "the ledger has a capture of {} fen the provider does not report",
                        capture.amount
                    ),
                )
            });
        }
    }
    for (reference, amount) in &ours_refunded {
        if !seen_refunds.contains(reference) {
            mismatches.push(Mismatch {
                reference: Some(reference.clone()),
                ..mismatch(
                    "refund_missing_at_provider",
                    format!("the ledger has a refund of {amount} fen the provider does not report"),
                )
            });
        }
    }

    // The ledger against the orders: each paid order's capture, each capture's orders.
    let mut intent_ids: BTreeSet<_> = captures.iter().map(|c| c.intent).collect();
    intent_ids.extend(paid.iter().filter_map(|o| o.paid_by));
    let ids: Vec<_> = intent_ids.into_iter().collect();
    let intents: BTreeMap<_, _> = store
        .payment_intents_by_ids(&ids)
        .await?
        .into_iter()
        .map(|i| (i.id, i))
        .collect();
    for order in &paid {
        let intent = order.paid_by.and_then(|id| intents.get(&id));
        match intent {
            Some(intent) if intent.status == IntentStatus::Captured => {
                let settled = intent
                    .orders
                    .iter()
                    .any(|o| o.order == order.order && o.settlement == Settlement::Paid);
                if !settled {
                    mismatches.push(Mismatch {
                        payment_intent_id: Some(intent.id.get()),
                        order_id: Some(order.order.get()),
                        ..mismatch(
                            "order_not_settled",
                            "the order is paid but its payment does not say so".into(),
                        )
                    });
                }
            }
            _ => mismatches.push(Mismatch {
                order_id: Some(order.order.get()),
                payment_intent_id: order.paid_by.map(|i| i.get()),
                ..mismatch(
                    "paid_without_capture",
                    "the order is paid but no capture paid it".into(),
                )
            }),
        }
    }
    for capture in &captures {
        let Some(intent) = intents.get(&capture.intent) else {
            continue;
        };
        let covered: i64 = intent
            .orders
            .iter()
            .filter(|o| matches!(o.settlement, Settlement::Paid | Settlement::Refunded))
            .map(|o| o.amount.get())
            .sum();
        if intent.orders.iter().any(|o| o.settlement == Settlement::Pending) {
            mismatches.push(Mismatch {
                payment_intent_id: Some(intent.id.get()),
                reference: Some(capture.reference.clone()),
                ..mismatch(
                    "settlement_pending",
                    "an order of this capture is not marked paid yet".into(),
                )
            });
        } else if covered != capture.amount {
            mismatches.push(Mismatch {
                payment_intent_id: Some(intent.id.get()),
                reference: Some(capture.reference.clone()),
                ..mismatch(
                    "capture_not_covered",
                    format!("captured {} fen, orders account for {covered} fen", capture.amount),
                )
            });
        }
        for refund in &intent.refunds {
            if refund.reason == RefundReason::OrderClosed && refund.status != RefundStatus::Succeeded {
                mismatches.push(Mismatch {
                    payment_intent_id: Some(intent.id.get()),
                    order_id: Some(refund.order.get()),
                    ..mismatch(
                        "refund_not_completed",
                        format!(
                            "{} fen captured for a closed order is not refunded ({})",
                            refund.amount.get(),
                            refund.status.as_str()
                        ),
                    )
                });
            }
        }
    }

    let captured_fen: i64 = captures.iter().map(|c| c.amount).sum();
    let refunded_fen: i64 = refunds.iter().map(|r| r.amount).sum();
    let paid_orders_fen: i64 = paid.iter().map(|o| o.total).sum();
    // Refunds of paid orders: everything but the automatic refunds of closed orders' shares.
    let paid_orders_refunded_fen: i64 = refunds
        .iter()
        .filter(|r| r.reason == RefundReason::Requested)
        .map(|r| r.amount)
        .sum();
    let closed_shares_refunded = refunded_fen - paid_orders_refunded_fen;
    let net_fen = captured_fen - refunded_fen;
    let orders_net_fen = paid_orders_fen - paid_orders_refunded_fen;
    // Shares of closed orders captured and refunded the same day cancel out; one not refunded
    // yet shows up as a difference (and as `refund_not_completed` above).
    let balanced = mismatches.is_empty() && net_fen == orders_net_fen;
    if mismatches.is_empty() && net_fen != orders_net_fen {
        mismatches.push(mismatch(
            "net_differs",
            format!(
                "captured − refunded = {net_fen} fen but paid − refunded orders = {orders_net_fen} fen \
                 (closed orders' shares refunded: {closed_shares_refunded} fen)"
            ),
        ));
    }
    Ok(ReconciliationReport {
        date: date.to_string(),
        provider: provider.name().to_string(),
        captures: captures.len() as i64,
        captured_fen,
        refunds: refunds.len() as i64,
        refunded_fen,
        net_fen,
        paid_orders: paid.len() as i64,
        paid_orders_fen,
        paid_orders_refunded_fen,
        orders_net_fen,
        provider_captured_fen: provider_captured,
        provider_refunded_fen: provider_refunded,
        balanced,
        mismatches,
    })
}
