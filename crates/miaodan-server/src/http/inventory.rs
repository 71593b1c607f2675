//! Warehouses and stock: a merchant's own warehouses, and the units of each SKU in each.

pub mod dto;

use super::extract::{JsonBody, PathIds};
use super::page::{ListQuery, NoFilter, Page, PageQuery};
use super::problem::ApiError;
use super::problem::refused;
use super::validate;
use crate::app::AppState;
use crate::auth::{Merchant, Principal};
use crate::idempotency::{self, Reply};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use dto::{NewWarehouse, StockInput, StockView, WarehouseView};
use miaodan_domain::inventory::STOCK_UNITS_MAX;
use miaodan_domain::inventory::{StockLevel, Warehouse};
use miaodan_domain::shard::{CreateWarehouse, Rejection, SetStock};
use miaodan_domain::{SkuId, WarehouseId};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Inventory's routes, registered once for the router and the OpenAPI document.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_warehouse, list_warehouses))
        .routes(routes!(get_stock))
        .routes(routes!(set_stock))
}

/// How inventory's refusals are answered (the `code` is the core's [`Rejection::code`]).
pub fn refusal(rejection: &Rejection) -> ApiError {
    let code = rejection.code();
    match rejection {
        Rejection::UnknownWarehouse => {
            ApiError::new(StatusCode::NOT_FOUND, code, "no such warehouse").field("warehouse_id")
        }
        Rejection::InsufficientStock {
            sku,
            requested,
            available,
        } => ApiError::new(
            StatusCode::CONFLICT,
            code,
            format!("SKU {sku}: {requested} requested, {available} available"),
        )
        .field("quantity"),
        Rejection::InvalidStock => ApiError::invalid(
            code,
            "available",
            format!("stock must be 0 to {}", super::problem::grouped(STOCK_UNITS_MAX)),
        ),
        other => super::problem::misrouted(other),
    }
}

fn render_warehouse(answer: &Result<Warehouse, Rejection>) -> Reply {
    match answer {
        Ok(w) => Reply::json(StatusCode::CREATED, &WarehouseView::from(w)),
        Err(rejection) => refused(rejection),
    }
}

fn render_stock(sku: SkuId, warehouse: WarehouseId, answer: &Result<StockLevel, Rejection>) -> Reply {
    match answer {
        Ok(level) => Reply::json(StatusCode::OK, &StockView::new(sku.get(), warehouse, *level)),
        Err(Rejection::UnknownSku { .. }) => ApiError::not_found("SKU").into(),
        Err(rejection) => refused(rejection),
    }
}

/// Create a warehouse of the merchant's shop.
#[utoipa::path(post, path = "/v1/warehouses", tag = "inventory", request_body = NewWarehouse,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = WarehouseView), (status = 422, body = super::problem::Problem)),
    security(("bearer" = [])))]
pub async fn create_warehouse(
    State(state): State<AppState>,
    Merchant(shop): Merchant,
    headers: HeaderMap,
    body: JsonBody<NewWarehouse>,
) -> Response {
    let request = ("POST", "/v1/warehouses", &body.raw[..]);
    idempotency::run(&state, Principal::Merchant(shop), &headers, request, |idem| async {
        let command = CreateWarehouse {
            id: state.ids.warehouse().await?,
            shop,
            name: validate::text::<60>(&body.value.name, "name")?,
            location: validate::adcode(&body.value.adcode, "adcode")?,
        };
        idempotency::ask(&state, shop, command, idem, render_warehouse).await
    })
    .await
}

/// List the merchant's warehouses, by id.
#[utoipa::path(get, path = "/v1/warehouses", tag = "inventory", params(PageQuery),
    responses((status = 200, body = Page<WarehouseView>), (status = 400, body = super::problem::Problem)),
    security(("bearer" = [])))]
pub async fn list_warehouses(
    State(state): State<AppState>,
    Merchant(shop): Merchant,
    query: ListQuery<NoFilter>,
) -> Result<Json<Page<WarehouseView>>, ApiError> {
    let page = query.page;
    let warehouses = state.store.warehouses(shop, page.keyset("warehouses")?).await?;
    Ok(Json(page.page(
        "warehouses",
        warehouses,
        |w| w.id.get(),
        |w| WarehouseView::from(w),
    )))
}

/// Set the units of a SKU available in a warehouse (a stock count). Units reserved by unpaid
/// orders and sold to paid ones are kept.
#[utoipa::path(put, path = "/v1/skus/{sku_id}/stock/{warehouse_id}", tag = "inventory", request_body = StockInput,
    params(("sku_id" = i64, Path), ("warehouse_id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = StockView), (status = 404, body = super::problem::Problem)),
    security(("bearer" = [])))]
pub async fn set_stock(
    State(state): State<AppState>,
    Merchant(shop): Merchant,
    ids: PathIds,
    headers: HeaderMap,
    body: JsonBody<StockInput>,
) -> Response {
    let (sku, warehouse) = ids.two();
    let path = format!("/v1/skus/{sku}/stock/{warehouse}");
    let request = ("PUT", path.as_str(), &body.raw[..]);
    idempotency::run(&state, Principal::Merchant(shop), &headers, request, |idem| async {
        let sku = SkuId::new(sku).ok_or_else(|| ApiError::not_found("SKU"))?;
        let warehouse = WarehouseId::new(warehouse).ok_or_else(|| ApiError::not_found("warehouse"))?;
        let command = SetStock {
            shop,
            sku,
            warehouse,
            available: body.value.available,
        };
        let render = move |answer: &Result<StockLevel, Rejection>| render_stock(sku, warehouse, answer);
        idempotency::ask(&state, shop, command, idem, render).await
    })
    .await
}

/// The stock of one of the merchant's SKUs in each warehouse that holds a stock row of it, by
/// warehouse id.
#[utoipa::path(get, path = "/v1/skus/{sku_id}/stock", tag = "inventory",
    params(("sku_id" = i64, Path), PageQuery),
    responses((status = 200, body = Page<StockView>), (status = 400, body = super::problem::Problem),
        (status = 404, body = super::problem::Problem)),
    security(("bearer" = [])))]
pub async fn get_stock(
    State(state): State<AppState>,
    Merchant(shop): Merchant,
    ids: PathIds,
    query: ListQuery<NoFilter>,
) -> Result<Json<Page<StockView>>, ApiError> {
    let sku = SkuId::new(ids.one()).ok_or_else(|| ApiError::not_found("SKU"))?;
    state
        .store
        .sku(sku)
        .await?
        .filter(|s| s.shop == shop)
        .ok_or_else(|| ApiError::not_found("SKU"))?;
    let page = query.page;
    let levels = state.store.stock_page(sku, page.keyset("stock")?).await?;
    let view = |(w, level): &(WarehouseId, StockLevel)| StockView::new(sku.get(), *w, *level);
    Ok(Json(page.page("stock", levels, |(w, _)| w.get(), view)))
}
