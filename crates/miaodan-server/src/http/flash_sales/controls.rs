//! The live room's controls of a sale: `POST /v1/flash-sales/{id}/end` ends it now,
//! `POST /v1/flash-sales/{id}/top-up` adds units from its warehouse. Both are shard commands
//! (`EndFlashSale`, `TopUpFlashSale`) committed with their batch, for the sale's merchant or an
//! operator; a buyer is refused before anything is read, another shop's sale is not found.

use super::dto::{FlashSaleView, TopUpInput};
use crate::app::AppState;
use crate::auth::Principal;
use crate::clock::Clock;
use crate::http::extract::{JsonBody, PathIds, RawBody};
use crate::http::problem::{ApiError, Problem, grouped, refused};
use crate::idempotency::{self, Idempotency, Reply};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use miaodan_domain::ShopId;
use miaodan_domain::flash_sale::{FLASH_UNITS_MAX, FlashSale, FlashSaleId};
use miaodan_domain::shard::{EndFlashSale, Rejection, TopUpFlashSale};

/// Who may end or top up a sale: its merchant or an operator. A buyer is refused as on every
/// role-restricted endpoint: before the request's key and body are read.
pub struct SaleManager(pub Principal);

impl FromRequestParts<AppState> for SaleManager {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Principal::from_request_parts(parts, state).await? {
            Principal::Buyer(_) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "a sale is ended or topped up by its merchant or an operator",
            )),
            principal => Ok(SaleManager(principal)),
        }
    }
}

/// The shop owning the sale, if the caller may manage it (another shop's sale is not found).
pub async fn managed_shop(state: &AppState, principal: Principal, raw: i64) -> Result<(FlashSaleId, ShopId), ApiError> {
    let sale = FlashSaleId::new(raw).ok_or_else(|| ApiError::not_found("flash sale"))?;
    let shop = state
        .directory
        .sale_shop(&state.store, sale)
        .await?
        .ok_or_else(|| ApiError::not_found("flash sale"))?;
    match principal {
        Principal::Merchant(own) if own != shop => Err(ApiError::not_found("flash sale")),
        _ => Ok((sale, shop)),
    }
}

fn render(answer: &Result<FlashSale, Rejection>, clock: &Clock) -> Reply {
    match answer {
        Ok(sale) => Reply::json(StatusCode::OK, &FlashSaleView::new(sale, clock.now())),
        // The units a top-up asks for are the request's `units`.
        Err(rejection @ Rejection::InsufficientStock { .. }) => {
            let mut error = ApiError::from(rejection);
            error.field = Some("units".into());
            error.into()
        }
        Err(rejection) => refused(rejection),
    }
}

fn renderer(state: &AppState) -> impl Fn(&Result<FlashSale, Rejection>) -> Reply + Clone + Send + 'static {
    let clock = state.clock.clone();
    move |answer| render(answer, &clock)
}

/// End a scheduled or live flash sale now (its merchant or an operator). Taps after it are
/// answered `ended`; orders already placed keep their units and payment deadlines; the units
/// the sale still held return to its warehouse's available stock. Event `flash_sale.ended`.
#[utoipa::path(post, path = "/v1/flash-sales/{flash_sale_id}/end", tag = "flash sales",
    params(("flash_sale_id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "the sale, now `ended`", body = FlashSaleView),
        (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "`ended` (it has ended already) or `sold_out` (it holds no units to return)", body = Problem)),
    security(("bearer" = [])))]
pub async fn end(
    State(state): State<AppState>,
    SaleManager(principal): SaleManager,
    ids: PathIds,
    headers: HeaderMap,
    RawBody(raw): RawBody,
) -> Response {
    let path = format!("/v1/flash-sales/{}/end", ids.one());
    idempotency::run(&state, principal, &headers, ("POST", &path, &raw), |idem| async {
        let (sale, shop) = managed_shop(&state, principal, ids.one()).await?;
        let command = EndFlashSale { sale, shop };
        idempotency::ask(&state, shop, command, idem, renderer(&state)).await
    })
    .await
}

/// Top up a scheduled, live or sold-out flash sale (its merchant or an operator): `units` more
/// are taken from its warehouse's available stock, and a sold-out sale is live again. Event
/// `flash_sale.topped_up`.
#[utoipa::path(post, path = "/v1/flash-sales/{flash_sale_id}/top-up", tag = "flash sales", request_body = TopUpInput,
    params(("flash_sale_id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "the sale with the units added", body = FlashSaleView),
        (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "`ended`, `insufficient_stock` (`field`: `units`), `units_max_reached` or `penalty_flash_units_cap` (a penalty caps the sale's units)", body = Problem),
        (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn top_up(
    State(state): State<AppState>,
    SaleManager(principal): SaleManager,
    ids: PathIds,
    headers: HeaderMap,
    body: JsonBody<TopUpInput>,
) -> Response {
    let path = format!("/v1/flash-sales/{}/top-up", ids.one());
    idempotency::run(&state, principal, &headers, ("POST", &path, &body.raw[..]), |idem| {
        add_units(&state, principal, ids.one(), body.value.units, idem)
    })
    .await
}

async fn add_units(
    state: &AppState,
    principal: Principal,
    sale: i64,
    units: i64,
    idem: Option<Idempotency>,
) -> Result<Reply, ApiError> {
    if !(1..=FLASH_UNITS_MAX).contains(&units) {
        let detail = format!("a top-up adds 1 to {} units", grouped(FLASH_UNITS_MAX));
        return Err(ApiError::invalid("invalid_field", "units", detail));
    }
    let (sale, shop) = managed_shop(state, principal, sale).await?;
    // A penalty's cap bounds the sale's units, topped up or not.
    if let Some(current) = state.store.flash_sale(sale).await? {
        crate::http::penalties::top_up_allowed(state, shop, current.allotted.saturating_add(units)).await?;
    }
    let command = TopUpFlashSale { sale, shop, units };
    idempotency::ask(state, shop, command, idem, renderer(state)).await
}
