//! Returns (退货退款): once a return is approved the buyer sends the parcel back and says
//! which carrier took it (`return-parcel`); the shop's warehouse receives it and the merchant
//! inspects it (`receive`): sellable units go back on sale where they were sold from, damaged
//! ones are written off, and the refund goes to the payment provider either way. An exchange's
//! receipt sends its replacement instead, in a zero-price order of its own.

use super::{AfterSalesView, Problem, step, visible_request};
use crate::app::AppState;
use crate::auth::{Buyer, Merchant, Principal};
use crate::http::extract::{JsonBody, PathIds};
use crate::http::problem::ApiError;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use miaodan_domain::after_sales::request::{Inspection, ReturnParcel};
use miaodan_domain::fulfillment::network::CarrierId;
use miaodan_domain::logistics::shipment::parse_waybill;
use miaodan_domain::shard::{ReceiveReturn, ShipReturn};
use serde::Deserialize;
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnParcelInput {
    /// The carrier that took the parcel: `sf`, `jd` or `zto`.
    #[schema(schema_with = crate::http::schema::carrier)]
    pub carrier: String,
    /// Its waybill number: 6 to 40 letters, digits or `-`.
    #[schema(schema_with = crate::http::schema::waybill)]
    pub waybill: String,
}

/// The buyer sent the return parcel of an approved return: the request is `return_in_transit`
/// and no longer expires. The money waits for the shop to receive it.
#[utoipa::path(post, path = "/v1/after-sales/{request_id}/return-parcel", tag = "after-sales",
    request_body = ReturnParcelInput,
    params(("request_id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = AfterSalesView), (status = 400, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn send_return_parcel(
    State(state): State<AppState>,
    Buyer(buyer): Buyer,
    ids: PathIds,
    headers: HeaderMap,
    body: JsonBody<ReturnParcelInput>,
) -> Response {
    let carrier = CarrierId::parse(&body.value.carrier)
        .ok_or_else(|| ApiError::invalid("invalid_field", "carrier", "carrier is sf, jd or zto"));
    let waybill = parse_waybill(&body.value.waybill).ok_or_else(|| {
        ApiError::invalid(
            "invalid_field",
            "waybill",
            "a waybill is 6 to 40 letters, digits or `-`",
        )
    });
    let parcel = match (carrier, waybill) {
        (Ok(carrier), Ok(waybill)) => ReturnParcel { carrier, waybill },
        (Err(refusal), _) | (_, Err(refusal)) => return refusal.into_response(),
    };
    let path = format!("/v1/after-sales/{}/return-parcel", ids.one());
    step(
        &state,
        Principal::Buyer(buyer),
        ids.one(),
        &headers,
        (path, &body.raw),
        |id| ShipReturn { id, buyer, parcel },
    )
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiveInput {
    /// `restock` (sellable: back on sale) or `write_off` (damaged).
    #[schema(schema_with = crate::http::schema::inspection)]
    pub inspection: String,
}

/// The shop's warehouse received a return parcel and the merchant inspected it: `restock`
/// puts the units back on sale in the warehouses they were sold from, `write_off` keeps them
/// off sale. The refund goes to the payment provider either way; an exchange instead sends its
/// replacement in a zero-price order of its own (`replacement_order_id`, stage `exchanged`). A
/// parcel the buyer brought without a waybill may be received while the return is still awaited.
#[utoipa::path(post, path = "/v1/after-sales/{request_id}/receive", tag = "after-sales",
    request_body = ReceiveInput,
    params(("request_id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = AfterSalesView), (status = 400, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn receive_return(
    State(state): State<AppState>,
    Merchant(shop): Merchant,
    ids: PathIds,
    headers: HeaderMap,
    body: JsonBody<ReceiveInput>,
) -> Response {
    let Some(inspection) = Inspection::parse(&body.value.inspection) else {
        let refusal = ApiError::invalid("invalid_field", "inspection", "inspection is restock or write_off");
        return refusal.into_response();
    };
    // Where the units were sold from is the stored order's; the shard checks it is the
    // request's own.
    let principal = Principal::Merchant(shop);
    let order = match visible_request(&state, principal, ids.one()).await {
        Ok(saved) => state.store.order(saved.request.order).await,
        Err(refusal) => return refusal.into_response(),
    };
    let stored_order = match order {
        Ok(Some(order)) => Box::new(order),
        Ok(None) => return ApiError::not_found("after-sales request").into_response(),
        Err(error) => return ApiError::from(error).into_response(),
    };
    // An exchange's replacement leaves in an order of its own; its ids are the shell's to give.
    let replacement =
        async { Ok::<_, miaodan_store::StoreError>((state.ids.order().await?, state.ids.checkout().await?)) };
    let (replacement_order, replacement_checkout) = match replacement.await {
        Ok(ids) => ids,
        Err(error) => return ApiError::from(error).into_response(),
    };
    let path = format!("/v1/after-sales/{}/receive", ids.one());
    step(&state, principal, ids.one(), &headers, (path, &body.raw), |id| {
        ReceiveReturn {
            id,
            shop,
            inspection,
            stored_order,
            replacement_order,
            replacement_checkout,
        }
    })
    .await
}
