//! Orders: checkout (one order per shop under one checkout id), reading and listing orders,
//! and a buyer's cancellation. Orders are paid through payment intents (`payments`).
//!
//! The checkout saga (split per shop, place, cancel the placed parts on a refusal) is
//! `flows::checkout`; here the request is parsed, each shop's part gets a reference derived
//! from the `Idempotency-Key` (so a retry after a crash or a 503 finds the orders already
//! placed instead of placing them twice), and the answer is rendered and stored.

pub mod dto;
mod export;

use super::extract::{JsonBody, PathIds, RawBody};
use super::page::{ListQuery, Page, PageQuery, invalid_cursor};
use super::problem::ApiError;
use super::problem::refused;
use super::risk::Client;
use super::validate;
use crate::app::AppState;
use crate::auth::{Buyer, Principal};
use crate::clock;
use crate::flows::checkout::{self, CheckoutError, CheckoutRequest, ShopPart};
use crate::idempotency::{self, Idempotency, Reply};
use crate::sequencer::Recorder;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use dto::{CheckoutInput, CheckoutView, OrderView};
use miaodan_domain::flash_sale::FlashSaleId;
use miaodan_domain::orders::{CancelReason, ORDER_LINES_MAX, Order, OrderState};
use miaodan_domain::quantity::LINE_QUANTITY_MAX;
use miaodan_domain::risk::{ClientSignals, Verdict};
use miaodan_domain::shard::CancelOrder;
use miaodan_domain::shard::ShardCommand;
use miaodan_domain::shard::{Canceller, OrderLineRequest, Outcome, Rejection, RequestRef};
use miaodan_domain::{BuyerId, OrderId, Quantity, ShopId, SkuId, Timestamp, WarehouseId};
use miaodan_store::ChallengeKind;
use miaodan_store::records::{Keyset, OrderFilter};
use serde::Deserialize;
use std::collections::BTreeMap;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The orders' routes, registered once for the router and the OpenAPI document.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(checkout))
        .routes(routes!(list_orders))
        .routes(routes!(export::export_orders))
        .routes(routes!(get_order))
        .routes(routes!(cancel_order))
}

/// How the orders' refusals are answered (the `code` is the core's [`Rejection::code`]).
pub fn refusal(rejection: &Rejection) -> ApiError {
    let code = rejection.code();
    match rejection {
        Rejection::OrderNotOpen => ApiError::new(StatusCode::CONFLICT, code, "the order is no longer awaiting payment"),
        Rejection::InvalidTransition(t) => ApiError::new(
            StatusCode::CONFLICT,
            code,
            format!("an order cannot go from {} to {}", t.from.as_str(), t.to.as_str()),
        ),
        Rejection::TooManyLines => {
            ApiError::invalid(code, "lines", format!("an order needs 1 to {ORDER_LINES_MAX} lines"))
        }
        other => super::problem::misrouted(other),
    }
}

/// Place an order for one or more SKUs, of one or several shops. Stock is reserved at once;
/// unpaid orders are cancelled after the payment timeout.
#[utoipa::path(post, path = "/v1/checkouts", tag = "orders", request_body = CheckoutInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses((status = 201, body = CheckoutView),
        (status = 403, description = "`risk_blocked`: risk control refused the checkout (nothing is held)", body = super::problem::Problem),
        (status = 409, body = super::problem::Problem),
        (status = 422, body = super::problem::Problem),
        (status = 428, description = "`risk_challenge`, with the `challenge` to answer: the buyer steps up, then checks out again (nothing is held)", body = super::problem::Problem),
        (status = 429, body = super::problem::Problem)),
    security(("bearer" = [])))]
pub async fn checkout(
    State(state): State<AppState>,
    Buyer(buyer): Buyer,
    Client(client): Client,
    headers: HeaderMap,
    body: JsonBody<CheckoutInput>,
) -> Response {
    let request = ("POST", "/v1/checkouts", &body.raw[..]);
    idempotency::run(&state, Principal::Buyer(buyer), &headers, request, |idem| {
        place_checkout(&state, (buyer, client), &body.value, idem)
    })
    .await
}

/// The request's lines as domain values, one per SKU (the checks that need no lookup).
fn parse_lines(input: &CheckoutInput) -> Result<Vec<OrderLineRequest>, ApiError> {
    if input.lines.is_empty() || input.lines.len() > ORDER_LINES_MAX {
        return Err(ApiError::invalid(
            "invalid_field",
            "lines",
            format!("a checkout has 1 to {ORDER_LINES_MAX} lines"),
        ));
    }
    let mut lines = Vec::with_capacity(input.lines.len());
    for (i, line) in input.lines.iter().enumerate() {
        let quantity = Quantity::new(line.quantity).ok_or_else(|| {
            ApiError::invalid(
                "invalid_quantity",
                &format!("lines[{i}].quantity"),
                format!("a quantity is 1 to {}", super::problem::grouped(LINE_QUANTITY_MAX)),
            )
        })?;
        let field = format!("lines[{i}].sku_id");
        let sku = SkuId::new(validate::positive_id(line.sku_id, &field)?)
            .ok_or_else(|| ApiError::invalid("invalid_field", &field, "a positive id"))?;
        // A refusal of the core names a SKU, not a line: with one line per SKU it points at
        // exactly one line of the request.
        if lines.iter().any(|earlier: &OrderLineRequest| earlier.sku == sku) {
            return Err(ApiError::invalid(
                "duplicate_sku",
                &format!("lines[{i}].sku_id"),
                format!("SKU {sku} is on an earlier line; order it once with the whole quantity"),
            ));
        }
        lines.push(OrderLineRequest { sku, quantity });
    }
    Ok(lines)
}

/// The buyer's delivery choice per shop of the checkout.
fn parse_deliveries(
    input: &CheckoutInput,
    parts: &[ShopPart],
) -> Result<BTreeMap<ShopId, miaodan_domain::shard::DeliveryChoice>, ApiError> {
    use miaodan_domain::fulfillment::promise::SCHEDULED_WINDOW_START_HOURS;
    use miaodan_domain::fulfillment::{CarrierId, LocalDate, ScheduledWindow, ServiceLevel};
    let mut choices = BTreeMap::new();
    for (i, choice) in input.deliveries.iter().flatten().enumerate() {
        let field = |name: &str| format!("deliveries[{i}].{name}");
        let shop = ShopId::new(validate::positive_id(choice.shop_id, &field("shop_id"))?)
            .filter(|shop| parts.iter().any(|p| p.shop == *shop))
            .ok_or_else(|| {
                // A reference to no part of this checkout: valid by the document, refused by
                // what the lines' SKUs belong to.
                let detail = "no line of this checkout is of that shop";
                ApiError::new(StatusCode::NOT_FOUND, "unknown_shop", detail).field(field("shop_id"))
            })?;
        let level = ServiceLevel::parse(&choice.level).ok_or_else(|| {
            ApiError::invalid(
                "invalid_field",
                &field("level"),
                "one_hour, same_day, next_day or standard",
            )
        })?;
        let carrier = CarrierId::parse(&choice.carrier)
            .ok_or_else(|| ApiError::invalid("invalid_field", &field("carrier"), "sf, jd or zto"))?;
        let window = match &choice.scheduled_window {
            None => None,
            Some(w) => Some(ScheduledWindow {
                date: LocalDate::parse(&w.date).ok_or_else(|| {
                    ApiError::invalid("invalid_field", &field("scheduled_window.date"), "a date is YYYY-MM-DD")
                })?,
                start_hour: u16::try_from(w.start_hour)
                    .ok()
                    .filter(|hour| SCHEDULED_WINDOW_START_HOURS.contains(hour))
                    .ok_or_else(|| {
                        let detail = "a window starts at 9, 11, 13, 15, 17 or 19 o'clock";
                        ApiError::invalid("invalid_field", &field("scheduled_window.start_hour"), detail)
                    })?,
            }),
        };
        let chosen = miaodan_domain::shard::DeliveryChoice { level, carrier, window };
        if choices.insert(shop, chosen).is_some() {
            return Err(ApiError::invalid(
                "invalid_field",
                &field("shop_id"),
                "one delivery per shop",
            ));
        }
    }
    Ok(choices)
}

/// Where an order ships: the address given, or else the buyer's default address.
pub(super) async fn delivery_address(
    state: &AppState,
    buyer: BuyerId,
    given: Option<&super::dto::AddressInput>,
) -> Result<miaodan_domain::orders::Address, ApiError> {
    match given {
        Some(address) => validate::address(address, "address"),
        None => state
            .directory
            .default_address(&state.store, buyer)
            .await?
            .ok_or_else(|| {
                ApiError::invalid(
                    "no_address",
                    "address",
                    "no `address` was given and the buyer has no default address",
                )
            }),
    }
}

async fn place_checkout(
    state: &AppState,
    (buyer, client): (BuyerId, ClientSignals),
    input: &CheckoutInput,
    idem: Option<Idempotency>,
) -> Result<Reply, ApiError> {
    let parts = checkout::split(state, parse_lines(input)?).await?;
    let address = delivery_address(state, buyer, input.address.as_ref()).await?;
    let client = super::risk::signals_of(state, buyer, &address, client).await?;
    let deliveries = parse_deliveries(input, &parts)?;
    let shop = parts
        .first()
        .map(|p| p.shop)
        .ok_or_else(|| ApiError::unavailable("a checkout without parts"))?;
    state.shards.decide_here(shop)?;
    let requests = idem.as_ref().map(|i| {
        parts
            .iter()
            .map(|p| (p.shop, RequestRef(i.request_ref(&p.shop.to_string()))))
            .collect()
    });
    let one_shop = parts.len() == 1;
    let recorder = idem
        .as_ref()
        .filter(|_| one_shop)
        .map(|i| one_shop_recorder(i, parts[0].clone()));
    let request = CheckoutRequest {
        buyer,
        parts,
        address,
        deliveries,
        requests,
        client,
    };
    let result = checkout::place_recorded(state, request, recorder).await;
    let recorded = match &result {
        Ok(placed) => placed.recorded,
        Err(CheckoutError::Refused { .. }) => one_shop && idem.is_some(),
        Err(_) => false,
    };
    let reply = match result {
        Ok(placed) => placed_reply(&placed),
        // A challenge is not this key's answer: the same request is decided afresh once the buyer
        // stepped up (see `risk::challenges`).
        Err(CheckoutError::Refused {
            rejection: rejection @ Rejection::Risk(refusal),
            ..
        }) if refusal.verdict == Verdict::Challenge => {
            let refusal = ApiError::from(&rejection);
            return Err(
                super::risk::challenges::challenged(state, refusal, buyer, (ChallengeKind::Checkout, None)).await,
            );
        }
        // Decided: the refusal is the answer to this key, replayed to its retries.
        Err(refused @ (CheckoutError::Refused { .. } | CheckoutError::EarlierAttemptCancelled)) => {
            Reply::from(ApiError::from(refused))
        }
        Err(error) => return Err(error.into()),
    };
    if recorded {
        return Ok(reply);
    }
    idempotency::remember(state, shop, idem, reply).await
}

fn placed_reply(placed: &checkout::PlacedCheckout) -> Reply {
    Reply::json(
        StatusCode::CREATED,
        &CheckoutView {
            checkout_id: placed.checkout.get(),
            total_fen: placed.orders.iter().map(|o| o.total.get()).sum(),
            orders: placed.orders.iter().map(OrderView::from).collect(),
        },
    )
}

/// Renders a one-shop checkout's answer inside its order's batch, exactly as the handler
/// will, so the answer commits with the order. Stores nothing for an order found placed by an
/// earlier attempt (the handler answers from it) or for a challenge (not the key's answer).
fn one_shop_recorder(idem: &Idempotency, part: ShopPart) -> Recorder {
    let idem = idem.clone();
    Box::new(move |outcome| {
        let reply = match outcome {
            Outcome::OrderPlaced(order) => placed_reply(&checkout::PlacedCheckout {
                checkout: order.checkout,
                orders: vec![order.clone()],
                recorded: true,
            }),
            Outcome::Rejected(Rejection::Risk(refusal)) if refusal.verdict == Verdict::Challenge => return None,
            Outcome::Rejected(rejection) => Reply::from(ApiError::from(checkout::refused(&part, rejection.clone()))),
            _ => return None,
        };
        Some(idem.record(&reply))
    })
}

fn visible_to(order: &Order, principal: Principal) -> bool {
    match principal {
        Principal::Admin => true,
        Principal::Merchant(shop) => order.shop == shop,
        Principal::Buyer(buyer) => order.buyer == buyer,
    }
}

/// Read one order.
#[utoipa::path(get, path = "/v1/orders/{order_id}", tag = "orders",
    params(("order_id" = i64, Path)),
    responses((status = 200, body = OrderView), (status = 404, body = super::problem::Problem)),
    security(("bearer" = [])))]
pub async fn get_order(
    State(state): State<AppState>,
    principal: Principal,
    ids: PathIds,
) -> Result<Json<OrderView>, ApiError> {
    let order = visible_order(&state, principal, ids.one()).await?;
    Ok(Json(OrderView::from(&order)))
}

pub(super) async fn visible_order(state: &AppState, principal: Principal, raw_id: i64) -> Result<Order, ApiError> {
    let id = OrderId::new(raw_id).ok_or_else(|| ApiError::not_found("order"))?;
    state
        .store
        .order(id)
        .await?
        .filter(|o| visible_to(o, principal))
        .ok_or_else(|| ApiError::not_found("order"))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OrderQuery {
    /// `pending_payment`, `paid`, `shipped`, `delivered` or `cancelled`.
    #[param(schema_with = crate::http::schema::optional_order_state)]
    pub state: Option<String>,
    /// Orders created at or after this instant (RFC 3339).
    #[param(schema_with = crate::http::schema::instant)]
    pub created_from: Option<String>,
    /// Orders created before this instant (RFC 3339).
    #[param(schema_with = crate::http::schema::instant)]
    pub created_to: Option<String>,
    /// Only orders of this flash sale.
    #[param(schema_with = crate::http::schema::id)]
    pub flash_sale_id: Option<i64>,
    /// Only orders with a line of this SKU.
    #[param(schema_with = crate::http::schema::id)]
    pub sku_id: Option<i64>,
    /// Only this buyer's orders.
    #[param(schema_with = crate::http::schema::id)]
    pub buyer_id: Option<i64>,
    /// Only orders with units allocated in this warehouse or a shipment leaving it.
    #[param(schema_with = crate::http::schema::id)]
    pub warehouse_id: Option<i64>,
    /// `true`: only orders with an open `promise_at_risk` alert in the package center (the
    /// rule that watches a parcel against the order's promise, late shipments included).
    #[param(schema_with = crate::http::schema::stream_once)]
    pub promise_at_risk: Option<String>,
    /// An order id (`123` or `#123`) or a buyer id: the order with that id, and the orders of
    /// the buyer with it. Buyers have no phone number on the platform, so there is no phone
    /// search.
    #[param(schema_with = crate::http::schema::order_search)]
    pub q: Option<String>,
}

fn instant(raw: Option<&str>, field: &str) -> Result<Option<Timestamp>, ApiError> {
    raw.map(|r| {
        clock::parse_rfc3339(r)
            .ok_or_else(|| ApiError::invalid("invalid_field", field, "an RFC 3339 instant, e.g. 2026-11-22T08:00:00Z"))
    })
    .transpose()
}

/// A positive id of a query's filter, made into its domain type.
fn filter_id<T>(raw: Option<i64>, field: &str, make: fn(i64) -> Option<T>) -> Result<Option<T>, ApiError> {
    raw.map(|raw| {
        make(raw).ok_or_else(|| ApiError::invalid("invalid_field", field, format!("`{field}` is a positive id")))
    })
    .transpose()
}

/// The number `q` searches for: digits, with or without a leading `#`.
fn search_number(raw: Option<&str>) -> Result<Option<i64>, ApiError> {
    raw.map(|raw| {
        let digits = raw.strip_prefix('#').unwrap_or(raw);
        super::schema::number(digits).ok_or_else(|| {
            ApiError::invalid(
                "invalid_field",
                "q",
                "`q` is an order id (`123` or `#123`) or a buyer id",
            )
        })
    })
    .transpose()
}

impl OrderQuery {
    /// The filter this query asks for, before the page and the caller's tenancy are added.
    pub fn filter(&self) -> Result<OrderFilter, ApiError> {
        let state = self
            .state
            .as_deref()
            .map(|s| {
                OrderState::parse(s).ok_or_else(|| {
                    let detail = "state is pending_payment, paid, shipped, delivered or cancelled";
                    ApiError::invalid("invalid_field", "state", detail)
                })
            })
            .transpose()?;
        let promise_at_risk_only = match self.promise_at_risk.as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => return Err(ApiError::invalid("invalid_field", "promise_at_risk", "true or false")),
        };
        Ok(OrderFilter {
            state,
            created_from: instant(self.created_from.as_deref(), "created_from")?,
            created_before: instant(self.created_to.as_deref(), "created_to")?,
            flash_sale: filter_id(self.flash_sale_id, "flash_sale_id", FlashSaleId::new)?,
            sku: filter_id(self.sku_id, "sku_id", SkuId::new)?,
            buyer: filter_id(self.buyer_id, "buyer_id", BuyerId::new)?,
            warehouse: filter_id(self.warehouse_id, "warehouse_id", WarehouseId::new)?,
            promise_at_risk_only,
            order_or_buyer: search_number(self.q.as_deref())?,
            ..OrderFilter::default()
        })
    }
}

/// Narrows `filter` to what `principal` may see: a merchant its shop, a buyer their own;
/// `None` when nothing can match (a buyer asking for another buyer's orders).
pub(super) fn tenancy(mut filter: OrderFilter, principal: Principal) -> Option<OrderFilter> {
    match principal {
        Principal::Admin => {}
        Principal::Merchant(shop) => filter.shop = Some(shop),
        Principal::Buyer(buyer) => {
            if filter.buyer.is_some_and(|asked| asked != buyer) {
                return None;
            }
            filter.buyer = Some(buyer);
        }
    }
    Some(filter)
}

/// List orders, newest first: a merchant's shop's, a buyer's own, or (admin) all. The filters
/// combine with AND.
#[utoipa::path(get, path = "/v1/orders", tag = "orders", params(OrderQuery, PageQuery),
    responses((status = 200, body = Page<OrderView>), (status = 400, body = super::problem::Problem),
        (status = 422, body = super::problem::Problem)),
    security(("bearer" = [])))]
pub async fn list_orders(
    State(state): State<AppState>,
    principal: Principal,
    ListQuery { page, filter: query }: ListQuery<OrderQuery>,
) -> Result<Json<Page<OrderView>>, ApiError> {
    let filter = query.filter()?;
    let Keyset { after, limit } = page.keyset::<(i64, i64)>("orders")?;
    let filter = tenancy(
        OrderFilter {
            after: order_position(after)?,
            limit,
            ..filter
        },
        principal,
    );
    let orders = match filter {
        Some(filter) => state.store.orders(&filter).await?,
        None => Vec::new(),
    };
    let key = |o: &Order| (o.created_at.unix_ms(), o.id.get());
    Ok(Json(page.page("orders", orders, key, |o| OrderView::from(o))))
}

/// A cursor's `(created_at, id)` as the store's position.
pub(super) fn order_position(after: Option<(i64, i64)>) -> Result<Option<(Timestamp, OrderId)>, ApiError> {
    after
        .map(|(at, id)| {
            Ok((
                Timestamp::from_unix_ms(at),
                OrderId::new(id).ok_or_else(invalid_cursor)?,
            ))
        })
        .transpose()
}

fn render_order(answer: &Result<Order, Rejection>) -> Reply {
    match answer {
        Ok(order) => Reply::json(StatusCode::OK, &OrderView::from(order)),
        Err(rejection) => refused(rejection),
    }
}

async fn transition<C: ShardCommand<Answer = Order>>(
    state: &AppState,
    order: Order,
    command: C,
    idem: Option<Idempotency>,
) -> Result<Reply, ApiError> {
    if order.state != OrderState::PendingPayment {
        let error = ApiError::new(
            StatusCode::CONFLICT,
            Rejection::OrderNotOpen.code(),
            format!("the order is {}, no longer awaiting payment", order.state.as_str()),
        );
        return Ok(error.into());
    }
    idempotency::ask(state, order.shop, command, idem, render_order).await
}

/// Cancel an unpaid order: the buyer's own, (merchant) one of the shop's, or (admin) any, e.g.
/// after a risk review. Its stock is released, or a flash sale's units go back to the sale
/// while it runs. A paid order is cancelled through after-sales instead.
#[utoipa::path(post, path = "/v1/orders/{order_id}/cancel", tag = "orders",
    params(("order_id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = OrderView), (status = 404, body = super::problem::Problem),
        (status = 409, body = super::problem::Problem)),
    security(("bearer" = [])))]
pub async fn cancel_order(
    State(state): State<AppState>,
    principal: Principal,
    ids: PathIds,
    headers: HeaderMap,
    RawBody(raw): RawBody,
) -> Response {
    let (by, reason) = match principal {
        Principal::Buyer(buyer) => (Canceller::Buyer(buyer), CancelReason::BuyerCancelled),
        Principal::Merchant(shop) => (Canceller::Shop(shop), CancelReason::ShopCancelled),
        Principal::Admin => (Canceller::Platform, CancelReason::PlatformCancelled),
    };
    let path = format!("/v1/orders/{}/cancel", ids.one());
    idempotency::run(&state, principal, &headers, ("POST", &path, &raw), |idem| async {
        let order = visible_order(&state, principal, ids.one()).await?;
        let command = CancelOrder {
            order: order.id,
            by,
            reason,
        };
        transition(&state, order, command, idem).await
    })
    .await
}

/// A checkout's failure as problem+json: the one place its variants get a status and code. A
/// refusal that names a SKU points at the request's line (`lines[2].quantity`).
impl From<CheckoutError> for ApiError {
    fn from(error: CheckoutError) -> ApiError {
        match error {
            CheckoutError::UnknownSku { line, sku } => {
                ApiError::new(StatusCode::NOT_FOUND, "unknown_sku", format!("no such SKU: {sku}"))
                    .field(format!("lines[{line}].sku_id"))
            }
            CheckoutError::Refused { line, rejection } => {
                let mut error = ApiError::from(&rejection);
                if checkout::names_sku(&rejection).is_some()
                    && let Some(field) = error.field.take()
                {
                    error = error.field(format!("lines[{line}].{field}"));
                }
                error
            }
            CheckoutError::EarlierAttemptCancelled => ApiError::new(
                StatusCode::CONFLICT,
                "checkout_cancelled",
                "an earlier attempt of this checkout was cancelled; check out again with a new Idempotency-Key",
            ),
            CheckoutError::PlacedOrderNotReadable => {
                ApiError::unavailable("a previously placed order is not readable yet")
            }
            CheckoutError::Shard(error) => ApiError::from(error),
            CheckoutError::Store(error) => ApiError::from(error),
        }
    }
}
