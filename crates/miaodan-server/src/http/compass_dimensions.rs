//! The compass's breadth over HTTP: `GET /v1/compass/regions`, `/skus`, `/fulfillment` and
//! `/after-sales`, summed from the hourly figures the compass reader folds (see
//! `crate::compass::dimensions`), never from the orders, shipments or after-sales tables. Each
//! takes `from` and `to` like `/v1/compass/series` and counts the hours that begin between them
//! (at most [`RANGE_DAYS_MAX`] days); a merchant reads their shop's, an operator every shop's
//! summed or one shop's (`shop_id`); a buyer may not.

use super::compass::{instants, shop_of};
use super::problem::{ApiError, Problem};
use super::validate;
use crate::app::AppState;
use crate::auth::Principal;
use crate::clock::rfc3339;
use crate::compass::regions;
use axum::Json;
use axum::extract::State;
use miaodan_domain::geo::MicroDegrees;
use miaodan_domain::{ShopId, Timestamp};
use miaodan_store::{AfterSalesFigures, RegionFigures, RegionLevel, SkuFigures, SkuRanking, WarehouseFigures};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The longest range one answer covers: a year of hours, leap day included.
pub const RANGE_DAYS_MAX: i64 = 366;
/// Top SKUs: how many by default, and at most.
pub const SKUS_DEFAULT: i64 = 20;
pub const SKUS_MAX: i64 = 100;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(compass_regions))
        .routes(routes!(compass_skus))
        .routes(routes!(compass_fulfillment))
        .routes(routes!(compass_after_sales))
}

/// Whose figures over which hours: checked for every breadth endpoint alike.
struct Scope {
    shop: Option<ShopId>,
    from: Timestamp,
    to: Timestamp,
}

fn scope(principal: Principal, shop_id: Option<i64>, from: &str, to: &str) -> Result<Scope, ApiError> {
    let shop = shop_of(principal, shop_id)?;
    let (from, to) = instants(from, to)?;
    if to.unix_ms() - from.unix_ms() > RANGE_DAYS_MAX * 86_400_000 {
        return Err(ApiError::invalid(
            "invalid_field",
            "to",
            format!("at most {RANGE_DAYS_MAX} days from `from`"),
        ));
    }
    Ok(Scope { shop, from, to })
}

/// `part` per `whole`, in basis points (0 when `whole` is 0).
fn bps(part: i64, whole: i64) -> i64 {
    (part * 10_000).checked_div(whole).unwrap_or(0)
}

/// Micro-degrees as decimal degrees, for maps (the digits are written, not computed).
fn degrees(micro: i64) -> f64 {
    let sign = if micro < 0 { "-" } else { "" };
    let (whole, fraction) = (micro.abs() / 1_000_000, micro.abs() % 1_000_000);
    format!("{sign}{whole}.{fraction:06}").parse().unwrap_or_default()
}

// ---- regions ---------------------------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RegionsQuery {
    /// The first instant counted (RFC 3339).
    #[param(schema_with = crate::http::schema::instant)]
    pub from: String,
    /// The instant after the last one counted (RFC 3339), after `from`, at most 366 days on.
    #[param(schema_with = crate::http::schema::instant)]
    pub to: String,
    /// `province` or `city` (the default).
    #[param(schema_with = crate::http::schema::compass_region_level)]
    pub level: Option<String>,
    /// Operators only: one shop's figures (else every shop's, summed).
    #[param(schema_with = crate::http::schema::id)]
    pub shop_id: Option<i64>,
}

/// What buyers of one region ordered and paid.
#[derive(Debug, Serialize, ToSchema)]
pub struct CompassRegionView {
    /// The region's 12-digit adcode (a province's ends in ten zeros, a city's in eight).
    pub adcode: String,
    pub name: String,
    /// The region's point for maps (decimal degrees), where the reference table has one.
    pub lat: Option<f64>,
    pub lng: Option<f64>,
    pub orders: i64,
    pub units: i64,
    pub gmv_fen: i64,
    pub paid_orders: i64,
    pub paid_fen: i64,
    /// Paid orders per placed order, in basis points.
    pub paid_conversion_bps: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CompassRegionsView {
    pub level: String,
    pub from: String,
    pub to: String,
    /// Most GMV first.
    pub regions: Vec<CompassRegionView>,
}

fn region_view(adcode: i64, f: &RegionFigures) -> CompassRegionView {
    let (name, point) = regions::label(adcode);
    CompassRegionView {
        adcode: format!("{adcode:012}"),
        name,
        lat: point.map(|MicroDegrees { latitude, .. }| degrees(latitude)),
        lng: point.map(|MicroDegrees { longitude, .. }| degrees(longitude)),
        orders: f.orders,
        units: f.units,
        gmv_fen: f.gmv_fen,
        paid_orders: f.paid_orders,
        paid_fen: f.paid_fen,
        paid_conversion_bps: bps(f.paid_orders, f.orders),
    }
}

/// Orders, units, GMV and paid conversion per province or city, with names and points for maps.
#[utoipa::path(get, path = "/v1/compass/regions", tag = "compass", params(RegionsQuery),
    responses((status = 200, body = CompassRegionsView), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn compass_regions(
    State(state): State<AppState>,
    principal: Principal,
    super::extract::QueryParams(query): super::extract::QueryParams<RegionsQuery>,
) -> Result<Json<CompassRegionsView>, ApiError> {
    let scope = scope(principal, query.shop_id, &query.from, &query.to)?;
    let level = match query.level.as_deref().unwrap_or("city") {
        "city" => RegionLevel::City,
        "province" => RegionLevel::Province,
        _ => return Err(ApiError::invalid("invalid_field", "level", "level is province or city")),
    };
    let rows = state
        .store
        .compass_regions(scope.shop, scope.from, scope.to, level)
        .await?;
    Ok(Json(CompassRegionsView {
        level: query.level.unwrap_or_else(|| "city".into()),
        from: rfc3339(scope.from),
        to: rfc3339(scope.to),
        regions: rows.iter().map(|(adcode, f)| region_view(*adcode, f)).collect(),
    }))
}

// ---- SKUs ------------------------------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SkusQuery {
    /// The first instant counted (RFC 3339).
    #[param(schema_with = crate::http::schema::instant)]
    pub from: String,
    /// The instant after the last one counted (RFC 3339), after `from`, at most 366 days on.
    #[param(schema_with = crate::http::schema::instant)]
    pub to: String,
    /// How many SKUs: 1 to 100 (20 by default). Named `top`, not `limit`: the answer is a
    /// ranking, not a page of a list.
    #[param(schema_with = crate::http::schema::integer::<1, 100>)]
    pub top: Option<i64>,
    /// Ranked by `gmv` (the default), `units` or `refunds`.
    #[param(schema_with = crate::http::schema::compass_sku_ranking)]
    pub sort: Option<String>,
    /// Operators only: one shop's figures (else every shop's, summed).
    #[param(schema_with = crate::http::schema::id)]
    pub shop_id: Option<i64>,
}

/// What one SKU sold, gave back and ran out of.
#[derive(Debug, Serialize, ToSchema)]
pub struct CompassSkuView {
    pub sku_id: i64,
    pub product_id: i64,
    /// The product's title and the SKU's name, from the catalog.
    pub title: String,
    pub sku_name: String,
    pub orders: i64,
    pub units: i64,
    pub gmv_fen: i64,
    pub paid_units: i64,
    /// After-sales requests refunded (counted against a request's first SKU), and the money.
    pub refunds: i64,
    pub refunded_fen: i64,
    /// Times one of its stock rows reached 0 available units.
    pub stock_outs: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CompassSkusView {
    pub sort: String,
    pub from: String,
    pub to: String,
    /// First by the ranking, then by SKU id.
    pub skus: Vec<CompassSkuView>,
}

/// Top-selling SKUs with their product and title, refunds and stock-outs.
#[utoipa::path(get, path = "/v1/compass/skus", tag = "compass", params(SkusQuery),
    responses((status = 200, body = CompassSkusView), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn compass_skus(
    State(state): State<AppState>,
    principal: Principal,
    super::extract::QueryParams(query): super::extract::QueryParams<SkusQuery>,
) -> Result<Json<CompassSkusView>, ApiError> {
    let scope = scope(principal, query.shop_id, &query.from, &query.to)?;
    let top = query.top.unwrap_or(SKUS_DEFAULT);
    if !(1..=SKUS_MAX).contains(&top) {
        return Err(ApiError::invalid(
            "invalid_field",
            "top",
            format!("top is 1 to {SKUS_MAX}"),
        ));
    }
    let sort = query.sort.unwrap_or_else(|| "gmv".into());
    let ranking = match sort.as_str() {
        "gmv" => SkuRanking::Gmv,
        "units" => SkuRanking::Units,
        "refunds" => SkuRanking::Refunds,
        _ => {
            return Err(ApiError::invalid(
                "invalid_field",
                "sort",
                "sort is gmv, units or refunds",
            ));
        }
    };
    let rows = state
        .store
        .compass_skus(scope.shop, scope.from, scope.to, ranking, top)
        .await?;
    let ids: Vec<i64> = rows.iter().map(|(sku, ..)| *sku).collect();
    let labels: BTreeMap<i64, _> = state
        .store
        .sku_labels(&ids)
        .await?
        .into_iter()
        .map(|l| (l.sku, l))
        .collect();
    let skus = rows
        .iter()
        .map(|(sku, product, f)| sku_view(*sku, *product, labels.get(sku), f))
        .collect();
    Ok(Json(CompassSkusView {
        sort,
        from: rfc3339(scope.from),
        to: rfc3339(scope.to),
        skus,
    }))
}

fn sku_view(sku: i64, product: i64, label: Option<&miaodan_store::SkuLabel>, f: &SkuFigures) -> CompassSkuView {
    CompassSkuView {
        sku_id: sku,
        product_id: label.map_or(product, |l| l.product),
        title: label.map(|l| l.title.clone()).unwrap_or_default(),
        sku_name: label.map(|l| l.name.clone()).unwrap_or_default(),
        orders: f.orders,
        units: f.units,
        gmv_fen: f.gmv_fen,
        paid_units: f.paid_units,
        refunds: f.refunds,
        refunded_fen: f.refunded_fen,
        stock_outs: f.stock_outs,
    }
}

// ---- fulfillment -----------------------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FulfillmentQuery {
    /// The first instant counted (RFC 3339).
    #[param(schema_with = crate::http::schema::instant)]
    pub from: String,
    /// The instant after the last one counted (RFC 3339), after `from`, at most 366 days on.
    #[param(schema_with = crate::http::schema::instant)]
    pub to: String,
    /// One warehouse's figures (a warehouse of another shop shows none).
    #[param(schema_with = crate::http::schema::id)]
    pub warehouse_id: Option<i64>,
    /// Operators only: one shop's figures (else every shop's, summed).
    #[param(schema_with = crate::http::schema::id)]
    pub shop_id: Option<i64>,
}

/// How one warehouse fulfilled.
#[derive(Debug, Serialize, ToSchema)]
pub struct CompassWarehouseView {
    /// 0 gathers alerts about parcels the compass never saw shipped.
    pub warehouse_id: i64,
    /// Paid orders dispatched with a parcel from it, split ones, and their share (bps).
    pub dispatched: i64,
    pub split_orders: i64,
    pub split_share_bps: i64,
    /// Dispatches whose delivery promise could be kept, and their share (bps).
    pub promise_kept: i64,
    pub promise_kept_bps: i64,
    /// Parcels handed to a carrier, delivered, and delivered after their promise.
    pub shipped: i64,
    pub delivered: i64,
    pub delivered_late: i64,
    pub alerts_raised: i64,
    pub alerts_resolved: i64,
    /// Alerts open now, whenever raised.
    pub alerts_open: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CompassFulfillmentView {
    pub from: String,
    pub to: String,
    /// By warehouse id.
    pub warehouses: Vec<CompassWarehouseView>,
}

/// Per warehouse: dispatches, split share, promise kept, late parcels, alerts raised, resolved
/// and open now.
#[utoipa::path(get, path = "/v1/compass/fulfillment", tag = "compass", params(FulfillmentQuery),
    responses((status = 200, body = CompassFulfillmentView), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn compass_fulfillment(
    State(state): State<AppState>,
    principal: Principal,
    super::extract::QueryParams(query): super::extract::QueryParams<FulfillmentQuery>,
) -> Result<Json<CompassFulfillmentView>, ApiError> {
    let scope = scope(principal, query.shop_id, &query.from, &query.to)?;
    let warehouse = query
        .warehouse_id
        .map(|raw| validate::positive_id(raw, "warehouse_id"))
        .transpose()?;
    let rows = state
        .store
        .compass_warehouses(scope.shop, scope.from, scope.to, warehouse)
        .await?;
    let open: BTreeMap<i64, i64> = state.store.compass_open_alerts(scope.shop).await?.into_iter().collect();
    let mut figures: BTreeMap<i64, WarehouseFigures> = rows.into_iter().collect();
    for (id, count) in &open {
        if *count > 0 && warehouse.is_none_or(|w| w == *id) {
            figures.entry(*id).or_default();
        }
    }
    let warehouses = figures
        .iter()
        .map(|(id, f)| warehouse_view(*id, f, open.get(id).copied().unwrap_or(0)))
        .collect();
    Ok(Json(CompassFulfillmentView {
        from: rfc3339(scope.from),
        to: rfc3339(scope.to),
        warehouses,
    }))
}

fn warehouse_view(id: i64, f: &WarehouseFigures, alerts_open: i64) -> CompassWarehouseView {
    CompassWarehouseView {
        warehouse_id: id,
        dispatched: f.dispatched,
        split_orders: f.split_orders,
        split_share_bps: bps(f.split_orders, f.dispatched),
        promise_kept: f.promise_kept,
        promise_kept_bps: bps(f.promise_kept, f.dispatched),
        shipped: f.shipped,
        delivered: f.delivered,
        delivered_late: f.delivered_late,
        alerts_raised: f.alerts_raised,
        alerts_resolved: f.alerts_resolved,
        alerts_open,
    }
}

// ---- after-sales -----------------------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AfterSalesQuery {
    /// The first instant counted (RFC 3339).
    #[param(schema_with = crate::http::schema::instant)]
    pub from: String,
    /// The instant after the last one counted (RFC 3339), after `from`, at most 366 days on.
    #[param(schema_with = crate::http::schema::instant)]
    pub to: String,
    /// Operators only: one shop's figures (else every shop's, summed).
    #[param(schema_with = crate::http::schema::id)]
    pub shop_id: Option<i64>,
}

/// What requests of one kind and reason (or all of them) came to.
#[derive(Debug, Serialize, ToSchema)]
pub struct CompassAfterSalesFiguresView {
    pub requested: i64,
    pub approved: i64,
    pub rejected: i64,
    pub refunded: i64,
    pub refunded_fen: i64,
    /// Approved and refunded requests per request, in basis points.
    pub approval_rate_bps: i64,
    pub refund_rate_bps: i64,
}

impl From<&AfterSalesFigures> for CompassAfterSalesFiguresView {
    fn from(f: &AfterSalesFigures) -> CompassAfterSalesFiguresView {
        CompassAfterSalesFiguresView {
            requested: f.requested,
            approved: f.approved,
            rejected: f.rejected,
            refunded: f.refunded,
            refunded_fen: f.refunded_fen,
            approval_rate_bps: bps(f.approved, f.requested),
            refund_rate_bps: bps(f.refunded, f.requested),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CompassKindReasonView {
    /// The request's kind and reason, as `/v1/after-sales` names them.
    pub kind: String,
    pub reason: String,
    #[serde(flatten)]
    pub figures: CompassAfterSalesFiguresView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CompassAfterSalesView {
    pub from: String,
    pub to: String,
    /// Orders placed in the range, and requests and refunds per order (bps).
    pub orders: i64,
    pub requests_per_order_bps: i64,
    pub refunds_per_order_bps: i64,
    pub totals: CompassAfterSalesFiguresView,
    /// By kind, then reason.
    pub by_kind_and_reason: Vec<CompassKindReasonView>,
}

/// After-sales requests by kind and reason, approval and refund rates against orders, money
/// refunded.
#[utoipa::path(get, path = "/v1/compass/after-sales", tag = "compass", params(AfterSalesQuery),
    responses((status = 200, body = CompassAfterSalesView), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn compass_after_sales(
    State(state): State<AppState>,
    principal: Principal,
    super::extract::QueryParams(query): super::extract::QueryParams<AfterSalesQuery>,
) -> Result<Json<CompassAfterSalesView>, ApiError> {
    let scope = scope(principal, query.shop_id, &query.from, &query.to)?;
    let rows = state
        .store
        .compass_after_sales(scope.shop, scope.from, scope.to)
        .await?;
    let day_ms = 86_400_000;
    let days = state
        .store
        .compass_series(scope.shop, scope.from, scope.to, day_ms)
        .await?;
    let orders: i64 = days.iter().map(|(_, f)| f.orders).sum();
    let mut totals = AfterSalesFigures::default();
    let by_kind_and_reason = rows
        .iter()
        .map(|(kind, reason, f)| {
            totals.add(f);
            CompassKindReasonView {
                kind: kind.clone(),
                reason: reason.clone(),
                figures: f.into(),
            }
        })
        .collect();
    Ok(Json(CompassAfterSalesView {
        from: rfc3339(scope.from),
        to: rfc3339(scope.to),
        orders,
        requests_per_order_bps: bps(totals.requested, orders),
        refunds_per_order_bps: bps(totals.refunded, orders),
        totals: (&totals).into(),
        by_kind_and_reason,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micro_degrees_are_written_as_decimal_degrees() {
        assert_eq!(degrees(121_473_662), 121.473662);
        assert_eq!(degrees(31_000_005), 31.000005);
        assert_eq!(degrees(-500_000), -0.5);
    }
}
