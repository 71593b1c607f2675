//! Shipping many orders in one request (`POST /v1/shipments/bulk`), as the console's "ship
//! selected" does: each paid order's unshipped parcels leave as dispatch planned them, all of
//! an order's parcels in one shard command (never half an order), one result per order.
//!
//! A business refusal of one order (not paid, a cancellation requested, another shop's) is
//! that order's result; an operating error (the carrier or the store unavailable) fails the
//! whole request, unremembered, and a retry converges: an order shipped by the failed attempt
//! answers `shipped` with its shipments.

use super::super::extract::JsonBody;
use super::super::problem::ApiError;
use crate::app::AppState;
use crate::auth::{Merchant, Principal};
use crate::flows::shipments;
use crate::idempotency::{self, Reply};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use miaodan_domain::orders::OrderState;
use miaodan_domain::{OrderId, ShopId};
use miaodan_store::records::Keyset;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The most orders one bulk shipment names (a page of the console's order list is 100).
pub const BULK_SHIP_ORDERS_MAX: usize = 100;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkShipInput {
    /// 1 to 100 distinct ids of the shop's orders.
    #[schema(schema_with = crate::http::schema::order_ids_to_ship)]
    pub order_ids: Vec<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BulkShipView {
    /// One per order, in the request's order.
    pub results: Vec<BulkShipResult>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BulkShipResult {
    pub order_id: i64,
    /// `shipped` or `refused`.
    pub result: String,
    /// `shipped`: the shipments made (or, for an order already shipped, the order's).
    pub shipment_ids: Vec<i64>,
    /// `refused`: the code a single shipment of the order would be refused with
    /// (`order_not_dispatched`, `not_found`, `cancellation_requested`, …).
    pub code: Option<String>,
    pub detail: Option<String>,
}

impl BulkShipResult {
    fn shipped(order: OrderId, shipment_ids: Vec<i64>) -> BulkShipResult {
        BulkShipResult {
            order_id: order.get(),
            result: "shipped".into(),
            shipment_ids,
            code: None,
            detail: None,
        }
    }

    fn refused(order_id: i64, refusal: &ApiError) -> BulkShipResult {
        BulkShipResult {
            order_id,
            result: "refused".into(),
            shipment_ids: Vec::new(),
            code: Some(refusal.code.into()),
            detail: Some(refusal.detail.clone()),
        }
    }
}

/// Ship the unshipped parcels of up to 100 paid orders of the shop, each order whole or not
/// at all; answers one result per order (`shipped`, or `refused` with the refusal's code).
#[utoipa::path(post, path = "/v1/shipments/bulk", tag = "logistics", request_body = BulkShipInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses((status = 200, body = BulkShipView), (status = 400, body = super::super::problem::Problem),
        (status = 422, body = super::super::problem::Problem), (status = 503, body = super::super::problem::Problem)),
    security(("bearer" = [])))]
pub async fn bulk_ship(
    State(state): State<AppState>,
    Merchant(shop): Merchant,
    headers: HeaderMap,
    body: JsonBody<BulkShipInput>,
) -> Response {
    let request = ("POST", "/v1/shipments/bulk", &body.raw[..]);
    idempotency::run(&state, Principal::Merchant(shop), &headers, request, |idem| async {
        let ids = order_ids(&body.value)?;
        state.shards.decide_here(shop)?;
        let mut results = Vec::with_capacity(ids.len());
        for id in ids {
            results.push(ship_one(&state, shop, id).await?);
        }
        let reply = Reply::json(StatusCode::OK, &BulkShipView { results });
        idempotency::remember(&state, shop, idem, reply).await
    })
    .await
}

fn order_ids(input: &BulkShipInput) -> Result<Vec<i64>, ApiError> {
    let ids = &input.order_ids;
    if ids.is_empty() || ids.len() > BULK_SHIP_ORDERS_MAX {
        let detail = format!("1 to {BULK_SHIP_ORDERS_MAX} order ids");
        return Err(ApiError::invalid("invalid_field", "order_ids", detail));
    }
    for (i, id) in ids.iter().enumerate() {
        let field = format!("order_ids[{i}]");
        super::super::validate::positive_id(*id, &field)?;
        if ids[..i].contains(id) {
            return Err(ApiError::invalid("invalid_field", &field, "each order once"));
        }
    }
    Ok(ids.clone())
}

async fn ship_one(state: &AppState, shop: ShopId, id: i64) -> Result<BulkShipResult, ApiError> {
    let order = match super::super::orders::visible_order(state, Principal::Merchant(shop), id).await {
        Ok(order) => order,
        Err(missing) if missing.status == StatusCode::NOT_FOUND => return Ok(BulkShipResult::refused(id, &missing)),
        Err(error) => return Err(error),
    };
    if matches!(order.state, OrderState::Shipped | OrderState::Delivered) {
        let page = Keyset {
            after: None,
            limit: i64::try_from(BULK_SHIP_ORDERS_MAX).unwrap_or(i64::MAX),
        };
        let shipped = state.store.shipments_of_order(order.id, page).await?;
        return Ok(BulkShipResult::shipped(
            order.id,
            shipped.iter().map(|s| s.id.get()).collect(),
        ));
    }
    match shipments::ship_order(state, shop, &order).await? {
        Ok(made) => Ok(BulkShipResult::shipped(
            order.id,
            made.iter().map(|s| s.id.get()).collect(),
        )),
        Err(rejection) => Ok(BulkShipResult::refused(id, &ApiError::from(&rejection))),
    }
}
