//! The after-sales flows: gather the facts a request is decided on, and carry out the refund
//! of an approved request through the payment flow.
//!
//! ```text
//! open:    store (order, delivered_at, refundable, buyer history, the order's requests)
//!          ─► shard: OpenRequest
//!          (checks, rules, stage; an approved cancellation closes fulfillment in the same commit)
//! address: approved with waybills issued, nothing collected ─► carriers.redirect(each waybill)
//!          ─► shard: RecordRedirected (order readdressed, promise re-computed; `closed`)
//!                └─ collected ─► shard: RecordRedirectRefused (`closed`, nothing changed)
//! refund:  stage `refunding` ─► payments::refund_order(order, amount, "after-sales:{id}")
//!          ─► provider ─► shard: RecordRefunded (stage `refunded`)
//!                       └─ failed ─► shard: RecordRefundFailed (stage `with_platform`: an
//!                          operator approves a new refund, `after-sales:{id}:2`, or refuses)
//! ```
//!
//! **Money exactly once:** the refund is keyed by the request (`after-sales:{id}` as the
//! refund's request reference), so a retry, a second worker pass or a restart between the
//! provider's answer and its commit finds the refund already opened and the provider call is
//! idempotent by the refund's reference. The [`resume_refunds`] pass of the payment worker
//! carries on every request left in `refunding` (after a deadline, a crash or a provider
//! outage).
//!
//! Return logistics (booking a return's pickup with a carrier, its tracking events) live in
//! `returns.rs`.

pub mod explain;
mod returns;
pub use returns::{RETURN_UNIT_GRAMS_DECLARED, book_pickup, book_pickup_if_due, resume_pickups, track_return};

use crate::app::AppState;
use crate::flows::payments::{self, PaymentError};
use crate::flows::risk;
use crate::sequencer::ShardError;
use miaodan_domain::after_sales::commands::SavedRequest;
use miaodan_domain::after_sales::request::{RequestLine, Stage};
use miaodan_domain::after_sales::rules::BuyerRecord;
use miaodan_domain::after_sales::{Reason, RequestKind};
use miaodan_domain::ids::AfterSalesId;
use miaodan_domain::orders::{Address, OrderState};
use miaodan_domain::payments::RefundStatus;
use miaodan_domain::risk::ClientSignals;
use miaodan_domain::shard::{
    OpenRequest, RecordRedirectRefused, RecordRedirected, RecordRefundFailed, RecordRefunded, RequestRef,
};
use miaodan_domain::{BuyerId, Fen, OrderId, ShopId, SkuId, Timestamp};
use miaodan_store::StoreError;
use miaodan_store::records::Keyset;

/// Requests one worker pass carries on at most.
const REFUNDS_PER_PASS_MAX: i64 = 500;
/// Parcels of one order read to learn when it was delivered.
const SHIPMENTS_PER_ORDER_MAX: i64 = 100;

#[derive(Debug, thiserror::Error)]
pub enum AfterSalesError {
    /// No such order of this buyer.
    #[error("no such order")]
    UnknownOrder,
    #[error(transparent)]
    Payment(#[from] PaymentError),
    #[error(transparent)]
    Shard(#[from] ShardError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Carrier(#[from] crate::carriers::CarrierError),
    #[error(transparent)]
    Redirect(#[from] crate::carriers::RedirectError),
}

/// What a buyer asks, parsed.
#[derive(Clone, Debug)]
pub struct Ask {
    pub buyer: BuyerId,
    pub order: OrderId,
    pub kind: RequestKind,
    pub reason: Reason,
    pub lines: Vec<RequestLine>,
    /// For a change of address: where the order goes now.
    pub new_address: Option<Address>,
    /// For an exchange, per line: the line's SKU and the SKU wanted instead.
    pub exchange_for: Vec<(SkuId, SkuId)>,
    /// What the buyer's request said of its sender, for risk; `None`: not a buyer's request
    /// (the demo's own), not screened.
    pub client: Option<ClientSignals>,
}

/// The shard command for a buyer's request with the facts only the database holds, and the
/// shop whose shard decides it.
pub async fn prepare_open(state: &AppState, ask: Ask) -> Result<(ShopId, OpenRequest), AfterSalesError> {
    let order = state
        .store
        .order(ask.order)
        .await?
        .filter(|o| o.buyer == ask.buyer)
        .ok_or(AfterSalesError::UnknownOrder)?;
    let refundable = match order.paid_by {
        Some(intent) => payments::read_intent(state, intent)
            .await?
            .refundable(order.id)
            .unwrap_or(Fen::ZERO),
        None => Fen::ZERO,
    };
    let delivered_at = match order.state {
        OrderState::Delivered => delivered_at(state, order.id).await?,
        _ => None,
    };
    let history = state.store.buyer_history(ask.buyer, state.clock.now()).await?;
    let buyer_record = BuyerRecord {
        paid_orders: history.paid_orders,
        refunded_requests: history.refunded_requests,
    };
    let screening = match ask.client {
        Some(client) => risk::screening(state, ask.buyer, client, None, Some(history)).await?,
        None => None,
    };
    // Read after the order: the shard refuses a reading older than what it knows (a request
    // read open that has settled since) as `order_changed`.
    let earlier_requests = state
        .store
        .after_sales_of_order(order.id)
        .await?
        .into_iter()
        .map(|s| (s.id, s.request))
        .collect();
    let id = state.ids.after_sales().await?;
    let shop = order.shop;
    let command = OpenRequest {
        id,
        buyer: ask.buyer,
        kind: ask.kind,
        reason: ask.reason,
        lines: ask.lines,
        stored_order: Box::new(order),
        delivered_at,
        refundable,
        buyer_record,
        earlier_requests,
        new_address: ask.new_address,
        exchange_for: ask.exchange_for,
        screening,
    };
    Ok((shop, command))
}

/// When the order's last parcel arrived, by the carrier's report.
async fn delivered_at(state: &AppState, order: OrderId) -> Result<Option<Timestamp>, StoreError> {
    let page = Keyset {
        after: None,
        limit: SHIPMENTS_PER_ORDER_MAX,
    };
    let shipments = state.store.shipments_of_order(order, page).await?;
    Ok(shipments.iter().filter_map(|s| s.delivered_at).max())
}

/// Refunds a request the shard just sent to `refunding` before the caller is answered (the
/// answer itself was recorded with the command: it says `refunding`). What the provider
/// leaves unfinished (no answer in time, an outage) the worker finishes; it is logged, not
/// the caller's error.
pub async fn refund_if_due(state: &AppState, saved: &SavedRequest) {
    if saved.request.stage != Stage::Refunding {
        return;
    }
    if let Err(error) = refund(state, saved).await {
        tracing::warn!(request = %saved.id, %error, "after-sales refund not finished; the worker retries");
    }
}

/// The refund's request reference: one refund per after-sales request and attempt, whoever
/// asks (`after-sales:{id}` for the first; a refund the provider failed and the platform
/// approved again is a new one, `after-sales:{id}:{attempt}`).
pub fn refund_reference(id: AfterSalesId, attempt: usize) -> RequestRef {
    match attempt {
        0 | 1 => RequestRef(format!("after-sales:{id}")),
        n => RequestRef(format!("after-sales:{id}:{n}")),
    }
}

/// Refunds a request in `refunding` once, and records it refunded when the provider confirms.
pub async fn refund(state: &AppState, saved: &SavedRequest) -> Result<(), AfterSalesError> {
    let r = &saved.request;
    let reference = refund_reference(saved.id, r.refund_attempt());
    let (intent, refund) = payments::refund_order(state, r.order, r.amount, Some(reference)).await?;
    let status = intent.refunds.iter().find(|x| x.id == refund).map(|x| x.status);
    match status {
        Some(RefundStatus::Succeeded) => {
            let answer = state.shards.ask(r.shop, RecordRefunded { id: saved.id }, None).await?;
            if let Err(rejection) = answer {
                // Recorded by an earlier pass meanwhile: nothing left to do.
                tracing::debug!(request = %saved.id, code = rejection.code(), "refund already recorded");
            }
        }
        Some(RefundStatus::Failed) => {
            // Retrying would find the same failed refund: the platform steps in instead.
            tracing::error!(request = %saved.id, %refund, "the provider failed an after-sales refund");
            let answer = state
                .shards
                .ask(r.shop, RecordRefundFailed { id: saved.id }, None)
                .await?;
            if let Err(rejection) = answer {
                tracing::debug!(request = %saved.id, code = rejection.code(), "refund failure already recorded");
            }
        }
        Some(RefundStatus::Pending) | None => {}
    }
    Ok(())
}

/// One pass over the requests left in `refunding` (the payment worker runs it every second),
/// and over approved changes of address still waiting for the carriers.
pub async fn resume_refunds(state: &AppState) -> Result<(), AfterSalesError> {
    for saved in state.store.after_sales_refunding(REFUNDS_PER_PASS_MAX).await? {
        if let Err(error) = refund(state, &saved).await {
            tracing::warn!(request = %saved.id, %error, "after-sales refund not finished yet");
        }
    }
    for saved in state.store.after_sales_redirecting(REFUNDS_PER_PASS_MAX).await? {
        redirect_if_due(state, &saved).await;
    }
    Ok(())
}

/// Carries an approved change of address to the carriers when the shard left it waiting for
/// them (its parcels have waybills). What is left unfinished the worker's pass finishes.
pub async fn redirect_if_due(state: &AppState, saved: &SavedRequest) {
    if !saved.request.awaits_address_change() {
        return;
    }
    if let Err(error) = redirect(state, saved).await {
        tracing::warn!(request = %saved.id, %error, "address change not with the carriers yet; the worker retries");
    }
}

/// Asks the carrier of each of the order's parcels to take the new address, then records the
/// answer in the shard: all taken, or one collected already (the order keeps its address).
async fn redirect(state: &AppState, saved: &SavedRequest) -> Result<(), AfterSalesError> {
    let r = &saved.request;
    let Some(change) = &r.address_change else {
        return Ok(());
    };
    let page = Keyset {
        after: None,
        limit: SHIPMENTS_PER_ORDER_MAX,
    };
    let mut collected = false;
    for shipment in state.store.shipments_of_order(r.order, page).await? {
        match state
            .carriers
            .redirect(shipment.waybill.as_str(), change.to.adcode)
            .await
        {
            Ok(()) => {}
            Err(crate::carriers::RedirectError::Collected) => collected = true,
            Err(error) => return Err(error.into()),
        }
    }
    let answer = if collected {
        state
            .shards
            .ask(r.shop, RecordRedirectRefused { id: saved.id }, None)
            .await?
    } else {
        state
            .shards
            .ask(r.shop, RecordRedirected { id: saved.id }, None)
            .await?
    };
    if let Err(rejection) = answer {
        tracing::debug!(request = %saved.id, code = rejection.code(), "address change already recorded");
    }
    Ok(())
}
