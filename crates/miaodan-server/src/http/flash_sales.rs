//! Flash sales (秒单): merchants schedule a deal on a SKU; buyers tap once to order at the
//! flash price. A tap is decided in memory by the shard owning the sale, in arrival order, and
//! answered `ordered` (201 with the order) or 409 `not_started` / `ended` / `limit_reached` /
//! `sold_out`. Under overload the shard's bounded inbox answers 429 with `Retry-After`. The
//! sale's merchant may end it early or top up its units ([`controls`]).

pub mod batch;
pub mod controls;
pub mod dto;
pub mod live;

use super::extract::{PathIds, RawBody, optional_json};
use super::orders::dto::OrderView;
use super::page::{ListQuery, NoFilter, Page, PageQuery};
use super::problem::{ApiError, LimitFigures};
use super::problem::{grouped, refused};
use super::risk::Client;
use super::validate;
use crate::app::AppState;
use crate::auth::{Buyer, Merchant, Principal};
use crate::clock::{self, Clock};
use crate::flows::flash_sale::{self, TapError, TapRequest};
use crate::idempotency::{self, Idempotency, Reply};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use dto::{FlashSaleView, NewFlashSale, TapInput, TapView};
use miaodan_domain::flash_sale::FlashSale;
use miaodan_domain::flash_sale::{ControlRefusal, FLASH_PAYMENT_TIMEOUT_SECONDS_DEFAULT, FlashSaleId, TapRefusal};
use miaodan_domain::flash_sale::{
    FLASH_DURATION_SECONDS_MAX, FLASH_PAYMENT_TIMEOUT_SECONDS_MAX, FLASH_UNITS_MAX, ScheduleProblem,
};
use miaodan_domain::orders::Order;
use miaodan_domain::quantity::LINE_QUANTITY_MAX;
use miaodan_domain::risk::{ClientSignals, Verdict};
use miaodan_domain::shard::{Placement, Tap};
use miaodan_domain::shard::{Rejection, RequestRef, ScheduleFlashSale};
use miaodan_domain::{BuyerId, Quantity, SkuId, WarehouseId};
use miaodan_store::ChallengeKind;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The flash sales' routes, registered once for the router and the OpenAPI document.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(schedule, list))
        .routes(routes!(get))
        .routes(routes!(tap))
        .routes(routes!(batch::tap_batch))
        .routes(routes!(controls::end))
        .routes(routes!(controls::top_up))
        .routes(routes!(live::live))
        .routes(routes!(live::live_stream))
}

/// How the flash sales' refusals are answered (the `code` is the core's [`Rejection::code`]).
pub fn refusal(rejection: &Rejection) -> ApiError {
    let code = rejection.code();
    match rejection {
        Rejection::UnknownFlashSale => ApiError::new(StatusCode::NOT_FOUND, code, "no such flash sale"),
        Rejection::Tap(refusal) => tap_refusal(code, *refusal),
        Rejection::FlashSaleControl(refusal) => ApiError::new(StatusCode::CONFLICT, code, control_refusal(*refusal)),
        Rejection::InvalidFlashSale(problem) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, schedule_problem(*problem))
        }
        other => super::problem::misrouted(other),
    }
}

fn render_sale(answer: &Result<FlashSale, Rejection>, clock: &Clock) -> Reply {
    match answer {
        Ok(sale) => Reply::json(StatusCode::CREATED, &FlashSaleView::new(sale, clock.now())),
        // The units a sale holds are the request's `units`.
        Err(rejection @ Rejection::InsufficientStock { .. }) => {
            let mut error = ApiError::from(rejection);
            error.field = Some("units".into());
            error.into()
        }
        Err(rejection) => refused(rejection),
    }
}

fn instant(raw: &str, field: &str) -> Result<miaodan_domain::Timestamp, ApiError> {
    clock::parse_rfc3339(raw).ok_or_else(|| {
        ApiError::invalid(
            "invalid_field",
            field,
            "an RFC 3339 instant, e.g. 2026-11-22T20:00:00+08:00",
        )
    })
}

/// Schedule a flash sale on one of the merchant's SKUs.
#[utoipa::path(post, path = "/v1/flash-sales", tag = "flash sales", request_body = NewFlashSale,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = FlashSaleView), (status = 409, body = super::problem::Problem),
        (status = 422, body = super::problem::Problem)),
    security(("bearer" = [])))]
pub async fn schedule(
    State(state): State<AppState>,
    Merchant(shop): Merchant,
    headers: HeaderMap,
    body: super::extract::JsonBody<NewFlashSale>,
) -> Response {
    let request = ("POST", "/v1/flash-sales", &body.raw[..]);
    idempotency::run(&state, Principal::Merchant(shop), &headers, request, |idem| async {
        let input = &body.value;
        let id = state.ids.flash_sale().await?;
        let command = ScheduleFlashSale {
            id,
            shop,
            // An id that cannot exist is answered like one that does not.
            sku: SkuId::new(validate::positive_id(input.sku_id, "sku_id")?)
                .ok_or_else(|| ApiError::invalid("invalid_field", "sku_id", "a positive id"))?,
            warehouse: WarehouseId::new(validate::positive_id(input.warehouse_id, "warehouse_id")?)
                .ok_or_else(|| ApiError::invalid("invalid_field", "warehouse_id", "a positive id"))?,
            starts_at: instant(&input.starts_at, "starts_at")?,
            ends_at: instant(&input.ends_at, "ends_at")?,
            price: validate::price(input.price_fen, "price_fen")?,
            units: input.units,
            per_buyer_limit: input.per_buyer_limit.unwrap_or(1),
            payment_timeout_seconds: input
                .payment_timeout_seconds
                .unwrap_or(FLASH_PAYMENT_TIMEOUT_SECONDS_DEFAULT),
        };
        // A penalty's cap or suspension refuses the sale before the shard is asked.
        super::penalties::sale_allowed(&state, shop, input.units).await?;
        let recorder = idem.map(|i| {
            let clock = state.clock.clone();
            i.recorder_of::<ScheduleFlashSale>(move |answer| render_sale(answer, &clock))
        });
        let answer = state.shards.ask(shop, command, recorder).await?;
        // Only a sale that exists has a shop to find; a refused one stays unknown.
        if let Ok(sale) = &answer {
            state.directory.remember_sale(sale.id, sale.shop);
        }
        Ok(render_sale(&answer, &state.clock))
    })
    .await
}

/// A flash sale: its window, price and the units left (any role).
#[utoipa::path(get, path = "/v1/flash-sales/{flash_sale_id}", tag = "flash sales",
    params(("flash_sale_id" = i64, Path)),
    responses((status = 200, body = FlashSaleView), (status = 404, body = super::problem::Problem)),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    ids: PathIds,
) -> Result<Json<FlashSaleView>, ApiError> {
    let id = FlashSaleId::new(ids.one()).ok_or_else(|| ApiError::not_found("flash sale"))?;
    let sale = state
        .store
        .flash_sale(id)
        .await?
        .ok_or_else(|| ApiError::not_found("flash sale"))?;
    if let Principal::Merchant(shop) = principal
        && shop != sale.shop
    {
        return Err(ApiError::not_found("flash sale"));
    }
    Ok(Json(FlashSaleView::new(&sale, state.clock.now())))
}

/// Flash sales, newest first: a merchant's own, or every shop's for buyers and admins.
#[utoipa::path(get, path = "/v1/flash-sales", tag = "flash sales", params(PageQuery),
    responses((status = 200, body = Page<FlashSaleView>), (status = 400, body = super::problem::Problem)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    query: ListQuery<NoFilter>,
) -> Result<Json<Page<FlashSaleView>>, ApiError> {
    let shop = match principal {
        Principal::Merchant(shop) => Some(shop),
        _ => None,
    };
    let page = query.page;
    let sales = state.store.flash_sales(shop, page.keyset("flash_sales")?).await?;
    let now = state.clock.now();
    Ok(Json(page.page(
        "flash_sales",
        sales,
        |s| s.id.get(),
        |s| FlashSaleView::new(s, now),
    )))
}

pub(super) fn render_tap(answer: &Result<Placement, Rejection>) -> Reply {
    match answer {
        Ok(Placement::Placed(order)) => tap_reply(order),
        // The recorder skips a retry that found its order: the first answer stays stored.
        Ok(Placement::AlreadyPlaced(_)) => ApiError::unavailable("the order is being placed; retry").into(),
        Err(rejection) => refused(rejection),
    }
}

fn tap_reply(order: &Order) -> Reply {
    Reply::json(
        StatusCode::CREATED,
        &TapView {
            result: "ordered".into(),
            order: OrderView::from(order),
        },
    )
}

/// One-tap order (秒单): one unit (or `quantity`) at the flash price, shipped to the buyer's
/// default address unless another is given.
#[utoipa::path(post, path = "/v1/flash-sales/{flash_sale_id}/taps", tag = "flash sales", request_body = Option<TapInput>,
    params(("flash_sale_id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = TapView),
        (status = 403, description = "`risk_blocked`: risk control refused the tap (nothing is held)", body = super::problem::Problem),
        (status = 409, description = "not_started, ended, limit_reached (with per_buyer_limit and remaining_allowed) or sold_out", body = super::problem::Problem),
        (status = 428, description = "`risk_challenge`, with the `challenge` to answer: the buyer steps up, then taps again (nothing is held)", body = super::problem::Problem),
        (status = 429, body = super::problem::Problem)),
    security(("bearer" = [])))]
pub async fn tap(
    State(state): State<AppState>,
    Buyer(buyer): Buyer,
    ids: PathIds,
    Client(client): Client,
    headers: HeaderMap,
    RawBody(raw): RawBody,
) -> Response {
    let path = format!("/v1/flash-sales/{}/taps", ids.one());
    idempotency::run(
        &state,
        Principal::Buyer(buyer),
        &headers,
        ("POST", &path, &raw),
        |idem| async {
            let input = optional_json(&headers, &raw)?;
            place_tap(&state, (buyer, client), ids.one(), input, idem).await
        },
    )
    .await
}

async fn place_tap(
    state: &AppState,
    (buyer, client): (BuyerId, ClientSignals),
    sale: i64,
    input: TapInput,
    idem: Option<Idempotency>,
) -> Result<Reply, ApiError> {
    let sale = FlashSaleId::new(sale).ok_or_else(|| ApiError::not_found("flash sale"))?;
    let request = tap_request(
        state,
        (buyer, sale),
        (input.quantity, input.address.as_ref()),
        client,
        idem.as_ref(),
    )
    .await?;
    let recorder = idem.map(|i| i.recorder_of::<Tap>(render_tap));
    let answer = flash_sale::tap(state, request, recorder).await;
    tap_answer(state, (buyer, sale), answer).await
}

/// A decided tap's answer as its buyer gets it: 201 with the order, or the problem (for a
/// challenge, one opened for the buyer to step up).
pub(super) async fn tap_answer(
    state: &AppState,
    (buyer, sale): (BuyerId, FlashSaleId),
    answer: Result<Order, TapError>,
) -> Result<Reply, ApiError> {
    match answer {
        Ok(order) => Ok(tap_reply(&order)),
        Err(TapError::Refused(rejection @ Rejection::Risk(refusal))) if refusal.verdict == Verdict::Challenge => {
            let refusal = ApiError::from(&rejection);
            Err(super::risk::challenges::challenged(state, refusal, buyer, (ChallengeKind::Tap, Some(sale))).await)
        }
        Err(error) => Err(error.into()),
    }
}

/// A buyer's tap as the flow takes it, from what the buyer (or the edge gateway for the buyer)
/// sent: the quantity checked, the address resolved, risk's signals, the request reference.
pub(super) async fn tap_request(
    state: &AppState,
    (buyer, sale): (BuyerId, FlashSaleId),
    (quantity, address): (Option<i64>, Option<&crate::http::dto::AddressInput>),
    client: ClientSignals,
    idem: Option<&Idempotency>,
) -> Result<TapRequest, ApiError> {
    let quantity = Quantity::new(quantity.unwrap_or(1)).ok_or_else(|| {
        let detail = format!("a quantity is 1 to {}", grouped(LINE_QUANTITY_MAX));
        ApiError::invalid("invalid_quantity", "quantity", detail)
    })?;
    let address = super::orders::delivery_address(state, buyer, address).await?;
    let client = super::risk::signals_of(state, buyer, &address, client).await?;
    Ok(TapRequest {
        buyer,
        sale,
        quantity,
        address,
        request: idem.map(|i| RequestRef(i.request_ref("tap"))),
        client,
    })
}

/// A tap's failure as problem+json, once (a refusal as the recorder stored it).
impl From<TapError> for ApiError {
    fn from(error: TapError) -> ApiError {
        match error {
            TapError::UnknownSale => ApiError::not_found("flash sale"),
            TapError::Refused(rejection) => ApiError::from(&rejection),
            TapError::OrderNotReadable => ApiError::unavailable("the order is not readable yet"),
            TapError::Shard(error) => ApiError::from(error),
            TapError::Store(error) => ApiError::from(error),
        }
    }
}

/// A flash sale's schedule problem in words, with the limits it names.
fn schedule_problem(problem: ScheduleProblem) -> String {
    match problem {
        ScheduleProblem::EndsBeforeStart => "the sale must end after it starts".into(),
        ScheduleProblem::LastsTooLong => {
            format!("a sale lasts at most {} days", FLASH_DURATION_SECONDS_MAX / 86_400)
        }
        ScheduleProblem::AlreadyEnded => "the sale would already have ended".into(),
        ScheduleProblem::UnitsOutOfRange => format!("a sale allots 1 to {} units", grouped(FLASH_UNITS_MAX)),
        ScheduleProblem::LimitOutOfRange => "the per-buyer limit is 1 to the units allotted".into(),
        ScheduleProblem::PaymentTimeoutOutOfRange => format!(
            "the payment timeout is 1 s to {} h",
            FLASH_PAYMENT_TIMEOUT_SECONDS_MAX / 3_600
        ),
    }
}

fn tap_refusal(code: &'static str, refusal: TapRefusal) -> ApiError {
    let detail = match refusal {
        TapRefusal::NotStarted => "the flash sale has not started yet".to_string(),
        TapRefusal::Ended => "the flash sale has ended".to_string(),
        TapRefusal::LimitReached {
            per_buyer_limit,
            remaining_allowed: 0,
        } => format!(
            "you already hold the {per_buyer_limit} {} of this sale one buyer may buy",
            units(per_buyer_limit)
        ),
        TapRefusal::LimitReached {
            per_buyer_limit,
            remaining_allowed,
        } => format!(
            "you may buy {remaining_allowed} more {} of this sale (limit {per_buyer_limit} per buyer)",
            units(remaining_allowed)
        ),
        TapRefusal::SoldOut => "sold out".to_string(),
    };
    let mut error = ApiError::new(StatusCode::CONFLICT, code, detail);
    if let TapRefusal::LimitReached {
        per_buyer_limit,
        remaining_allowed,
    } = refusal
    {
        error.limit = Some(LimitFigures {
            per_buyer_limit,
            remaining_allowed,
        });
    }
    error
}

fn control_refusal(refusal: ControlRefusal) -> String {
    match refusal {
        ControlRefusal::Ended => "the flash sale has ended".into(),
        ControlRefusal::SoldOut => "the flash sale is sold out: it holds no units to return".into(),
        ControlRefusal::UnitsMaxReached => {
            format!("a sale allots at most {} units in all", grouped(FLASH_UNITS_MAX))
        }
    }
}

fn units(n: i64) -> &'static str {
    if n == 1 { "unit" } else { "units" }
}
