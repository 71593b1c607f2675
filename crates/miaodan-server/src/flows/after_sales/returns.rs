//! Return logistics in the shell: book an approved return's pickup with a carrier, and carry a
//! carrier's tracking event of a return waybill to the request's shard.
//!
//! ```text
//! book:  stage `awaiting_return`, no pickup ─► carrier: quote + waybill (reference
//!        `mdn-return-{id}`: a retry gets the same waybill) ─► shard: BookReturnPickup
//! track: POST /v1/webhooks/carriers (signed) ─► store: request by (carrier, waybill)
//!        ─► shard: RecordReturnTracking (first scan: rules; `refunding` ─► payments at once)
//! ```
//!
//! A pickup the handler could not book (a carrier that did not answer, a return approved by
//! the merchant's silence on the shard's timer) is booked by the payment worker's pass
//! [`resume_pickups`].

use super::{AfterSalesError, delivered_at, refund_if_due};
use crate::app::AppState;
use crate::carriers::CarrierError;
use miaodan_domain::after_sales::RequestKind;
use miaodan_domain::after_sales::commands::SavedRequest;
use miaodan_domain::after_sales::request::Stage;
use miaodan_domain::after_sales::rules::BuyerRecord;
use miaodan_domain::fulfillment::CarrierId;
use miaodan_domain::logistics::TrackingEvent;
use miaodan_domain::logistics::shipment::parse_waybill;
use miaodan_domain::orders::{Order, OrderState};
use miaodan_domain::shard::{BookReturnPickup, RecordReturnTracking, Rejection, ReturnTracked};
use miaodan_domain::{Timestamp, WarehouseId};
use miaodan_store::records::Keyset;

/// What a returned unit is declared to weigh when the carrier prices the parcel: the catalog
/// has no weights yet, so every unit counts as half a kilogram.
pub const RETURN_UNIT_GRAMS_DECLARED: u32 = 500;
/// Returns one worker pass books at most.
const PICKUPS_PER_PASS_MAX: i64 = 100;
/// Parcels of an order read to learn which carrier brought it.
const SHIPMENTS_PER_ORDER_MAX: i64 = 100;
/// Warehouses of a shop read to find where a return goes.
const WAREHOUSES_PER_SHOP_MAX: i64 = 1_000;

/// Whether the request is an approved return whose pickup the platform still has to book.
fn pickup_due(saved: &SavedRequest) -> bool {
    let r = &saved.request;
    r.kind == RequestKind::ReturnAndRefund
        && matches!(r.stage, Stage::AwaitingReturn { .. })
        && r.return_pickup.is_none()
        && r.return_parcel.is_none()
}

/// Books the return pickup of a request the shard just approved, before the caller is
/// answered; what fails here the worker books later (logged, not the caller's error).
pub async fn book_pickup_if_due(state: &AppState, saved: &SavedRequest) {
    if !pickup_due(saved) {
        return;
    }
    if let Err(error) = book_pickup(state, saved).await {
        tracing::warn!(request = %saved.id, %error, "return pickup not booked; the worker retries");
    }
}

/// One pass over the approved returns without a booked pickup.
pub async fn resume_pickups(state: &AppState) -> Result<(), AfterSalesError> {
    for saved in state.store.after_sales_awaiting_pickup(PICKUPS_PER_PASS_MAX).await? {
        if let Err(error) = book_pickup(state, &saved).await {
            tracing::warn!(request = %saved.id, %error, "return pickup not booked yet");
        }
    }
    Ok(())
}

/// Where the units go back to: the warehouse the first requested unit was sold from.
fn return_warehouse(saved: &SavedRequest, order: &Order) -> Option<WarehouseId> {
    let sku = saved.request.lines.first()?.sku;
    let line = order.lines.iter().find(|l| l.sku == sku)?;
    line.allocations.first().map(|a| a.warehouse)
}

/// Asks the carrier that brought the order (ZTO-like when none did) for the return waybill
/// and its price, and records them on the request.
pub async fn book_pickup(state: &AppState, saved: &SavedRequest) -> Result<(), AfterSalesError> {
    let r = &saved.request;
    let Some(order) = state.store.order(r.order).await? else {
        return Err(AfterSalesError::UnknownOrder);
    };
    let Some(warehouse) = return_warehouse(saved, &order) else {
        return Err(AfterSalesError::UnknownOrder);
    };
    let page = Keyset {
        after: None,
        limit: WAREHOUSES_PER_SHOP_MAX,
    };
    let warehouses = state.store.warehouses(r.shop, page).await?;
    let destination = warehouses
        .iter()
        .find(|w| w.id == warehouse)
        .map_or(order.address.adcode, |w| w.location);
    let page = Keyset {
        after: None,
        limit: SHIPMENTS_PER_ORDER_MAX,
    };
    let shipments = state.store.shipments_of_order(order.id, page).await?;
    let carrier = shipments
        .iter()
        .find(|s| s.warehouse == warehouse)
        .or(shipments.first())
        .map_or(CarrierId::Zto, |s| s.carrier);
    let units: i64 = r.lines.iter().map(|l| l.quantity).sum();
    let grams = u32::try_from(units)
        .unwrap_or(u32::MAX)
        .saturating_mul(RETURN_UNIT_GRAMS_DECLARED);
    let (origin, reference) = (order.address.adcode, format!("mdn-return-{}", saved.id));
    let (first_weight, additional) = state.carriers.quote(carrier, origin, destination, grams).await?;
    let issued = state
        .carriers
        .create_waybill(carrier, &reference, origin, destination)
        .await?;
    let waybill = parse_waybill(&issued).ok_or(CarrierError::Refused(format!("unusable waybill {issued:?}")))?;
    let shipment = state.ids.shipment().await?;
    let command = BookReturnPickup {
        id: saved.id,
        shipment,
        carrier,
        waybill,
        warehouse,
        first_weight,
        additional,
    };
    if let Err(rejection) = state.shards.ask(r.shop, command, None).await? {
        // Withdrawn, expired or sent by the buyer meanwhile: nothing to book.
        tracing::debug!(request = %saved.id, code = rejection.code(), "return pickup not recorded");
    }
    Ok(())
}

/// A carrier's event for a booked return waybill, with the facts the rules read at the first
/// scan; a request now `refunding` (refunded on the scan) goes to the payment provider at once.
pub async fn track_return(
    state: &AppState,
    saved: &SavedRequest,
    event: TrackingEvent,
) -> Result<Result<ReturnTracked, Rejection>, AfterSalesError> {
    let r = &saved.request;
    let order_delivered = state
        .store
        .order(r.order)
        .await?
        .is_some_and(|o| o.state == OrderState::Delivered);
    let delivered_at: Option<Timestamp> = match order_delivered {
        true => delivered_at(state, r.order).await?,
        false => None,
    };
    let paid_orders = state.store.buyer_paid_orders(r.buyer).await?;
    let refunded_requests = state.store.after_sales_refunded_count(r.buyer).await?;
    let command = RecordReturnTracking {
        id: saved.id,
        event,
        delivered_at,
        buyer_record: BuyerRecord {
            paid_orders: u32::try_from(paid_orders).unwrap_or(u32::MAX),
            refunded_requests: u32::try_from(refunded_requests).unwrap_or(u32::MAX),
        },
    };
    let answer = state.shards.ask(r.shop, command, None).await?;
    if let Ok(tracked) = &answer {
        refund_if_due(state, &tracked.saved).await;
    }
    Ok(answer)
}
