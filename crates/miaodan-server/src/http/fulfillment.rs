//! Fulfillment over HTTP: delivery promises before an order, how a warehouse works (hours,
//! capacity, cutoffs), why a paid order went where it went, and stock shortages.

use super::extract::{JsonBody, PathIds, QueryParams};
use super::problem::ApiError;
use crate::app::AppState;
use crate::auth::{Merchant, Principal};
use crate::clock;
use crate::flows::shortage::{self, Shortage, ShortageError};
use crate::idempotency::{self, Reply};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use miaodan_domain::fulfillment::calendar::{LocalDate, MINUTES_PER_DAY, local_minute};
use miaodan_domain::fulfillment::network::{CUTOFFS_MAX, ORDERS_PER_HOUR_MAX, SettingsProblem};
use miaodan_domain::fulfillment::network::{
    CarrierId, CutoffRegion, CutoffTime, FulfillmentSettings, OperatingHours, ServiceLevel, Shift,
};
use miaodan_domain::fulfillment::promise::{
    DeliveryOption, Destination, Promise, SCHEDULED_DAYS_AHEAD_MAX, SCHEDULED_WINDOW_START_HOURS,
};
use miaodan_domain::fulfillment::{CapacityBook, DispatchDecision};
use miaodan_domain::orders::ORDER_LINES_MAX;
use miaodan_domain::quantity::LINE_QUANTITY_MAX;
use miaodan_domain::shard::ConfigureFulfillment;
use miaodan_domain::shard::Rejection;
use miaodan_domain::shard::{DeliveryOptionsQuestion, ShopDeliveryOptions};
use miaodan_domain::shard::{ReportShortage, ShortageHandled};
use miaodan_domain::{OrderId, ShopId, SkuId, Timestamp, WarehouseId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Fulfillment's routes, registered once for the router and the OpenAPI document.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(delivery_options))
        .routes(routes!(get_settings, put_settings))
        .routes(routes!(report_shortage))
        .routes(routes!(explain_dispatch))
}

/// How fulfillment's refusals are answered (the `code` is the core's [`Rejection::code`]).
pub fn refusal(rejection: &Rejection) -> ApiError {
    let code = rejection.code();
    match rejection {
        Rejection::InvalidFulfillmentSettings(problem) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, settings_problem(*problem))
        }
        Rejection::DeliveryOptionUnavailable => ApiError::new(
            StatusCode::CONFLICT,
            code,
            "the chosen delivery option cannot be kept for this cart now; ask GET /v1/delivery-options again",
        )
        .field("deliveries"),
        Rejection::DeliveryWindowUnavailable => ApiError::new(
            StatusCode::CONFLICT,
            code,
            "the scheduled window does not suit the chosen option (schedulable options only, a two-hour window starting 9, 11, 13, 15, 17 or 19 o'clock, after the earliest arrival and within 7 days of it)",
        )
        .field("deliveries"),
        Rejection::OrderNotDispatched => ApiError::new(
            StatusCode::CONFLICT,
            code,
            "the order is not paid and awaiting shipment",
        ),
        Rejection::NoParcelAtWarehouse => ApiError::new(
            StatusCode::CONFLICT,
            code,
            "the order sends no parcel from that warehouse (see GET /v1/orders/{id}/dispatch)",
        )
        .field("warehouse_id"),
        other => super::problem::misrouted(other),
    }
}

/// `HH:MM` (00:00 to 24:00) → minutes after local midnight.
pub fn parse_local_time(raw: &str) -> Option<u16> {
    let (h, m) = raw.split_once(':')?;
    // Digits only: `parse` would also take a sign ("+8:00").
    if h.len() != 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    let minute = h.checked_mul(60)?.checked_add(m)?;
    (m < 60 && minute <= MINUTES_PER_DAY).then_some(minute)
}

pub fn format_local_time(minute: u16) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

/// An instant as Shanghai wall-clock text, e.g. `2026-11-23 21:00`.
pub fn shanghai(at: Timestamp) -> String {
    format!("{} {}", LocalDate::of(at), format_local_time(local_minute(at)))
}

/// "2 h 13 min", "45 min", "0 min". Started minutes count as whole ones (rounded up): with
/// 59 s left the buyer still has "1 min", never "0 min" while the option is on offer.
pub fn order_within(seconds: i64) -> String {
    let minutes = seconds.max(0).saturating_add(59) / 60;
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeliveryOptionsQuery {
    /// The delivery address's 12-digit administrative division code, e.g. `310106000000`.
    #[param(schema_with = crate::http::schema::adcode)]
    pub adcode: String,
    /// The cart: `sku_id:quantity` pairs separated by commas, e.g. `1001:2,1002:1`.
    #[param(schema_with = crate::http::schema::items)]
    pub items: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryOptionView {
    /// `one_hour`, `same_day`, `next_day` or `standard`.
    pub level: String,
    /// `sf`, `jd` or `zto` (simulated carriers).
    pub carrier: String,
    pub carrier_name: String,
    /// The warehouse it ships from (the first, if `parcels` > 1).
    pub ships_from_warehouse_id: i64,
    pub parcels: u8,
    /// Shanghai date on which it leaves the warehouse.
    pub ships_on: String,
    /// Delivered by then at the latest (RFC 3339, UTC)…
    pub promised_by: String,
    /// …which is this Shanghai wall-clock time.
    pub promised_by_local: String,
    /// Pay by then to keep this promise.
    pub cutoff_at: String,
    pub order_within_seconds: i64,
    /// "order within 2 h 13 min".
    pub order_within: String,
    pub price_fen: i64,
    /// Whether a later two-hour window may be booked (预约配送) at checkout.
    pub schedulable: bool,
    /// For schedulable options: the Shanghai dates a window may be booked on.
    pub window_dates: Vec<String>,
    pub window_start_hours: Vec<u16>,
}

impl DeliveryOptionView {
    pub fn new(option: &DeliveryOption, now: Timestamp) -> DeliveryOptionView {
        let within = (option.cutoff_at.unix_ms() - now.unix_ms()) / 1000;
        let earliest = LocalDate::of(option.promised_by);
        let window_dates = if option.schedulable {
            (0..=SCHEDULED_DAYS_AHEAD_MAX)
                .map(|d| earliest.plus_days(d).to_string())
                .collect()
        } else {
            Vec::new()
        };
        DeliveryOptionView {
            level: option.level.as_str().into(),
            carrier: option.carrier.as_str().into(),
            carrier_name: option.carrier.display_name().into(),
            ships_from_warehouse_id: option.warehouse.get(),
            parcels: option.parcels,
            ships_on: option.ships_on.to_string(),
            promised_by: clock::rfc3339(option.promised_by),
            promised_by_local: shanghai(option.promised_by),
            cutoff_at: clock::rfc3339(option.cutoff_at),
            order_within_seconds: within.max(0),
            order_within: order_within(within),
            price_fen: option.price.get(),
            schedulable: option.schedulable,
            window_dates,
            window_start_hours: if option.schedulable {
                SCHEDULED_WINDOW_START_HOURS.to_vec()
            } else {
                Vec::new()
            },
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ShopDeliveryView {
    pub shop_id: i64,
    pub items: Vec<ItemView>,
    /// Only options the platform can keep now, fastest first. Empty: the cart cannot be
    /// delivered (not enough stock, or no service reaches the address).
    pub options: Vec<DeliveryOptionView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ItemView {
    pub sku_id: i64,
    pub quantity: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryOptionsView {
    pub computed_at: String,
    pub adcode: String,
    pub address_name: String,
    /// One entry per shop of the cart (each shop's part becomes one order).
    pub shops: Vec<ShopDeliveryView>,
}

/// The cart as the document's pattern writes it (`schema::ITEMS_PATTERN`): 1 to 100 pairs, a
/// SKU and a quantity of 1 to 10 000 each, in digits without leading zeros; a SKU given twice
/// counts its quantities together.
fn parse_items(raw: &str) -> Result<Vec<(SkuId, i64)>, ApiError> {
    if raw.split(',').count() > ORDER_LINES_MAX {
        return Err(ApiError::invalid("invalid_field", "items", "1 to 100 items"));
    }
    let mut items: Vec<(SkuId, i64)> = Vec::new();
    for (i, pair) in raw.split(',').enumerate() {
        let bad = || {
            ApiError::invalid(
                "invalid_field",
                "items",
                format!(
                    "item {i} ({pair:?}) is not sku_id:quantity with a quantity of 1 to {}",
                    super::problem::grouped(LINE_QUANTITY_MAX)
                ),
            )
        };
        let (sku, quantity) = pair.split_once(':').ok_or_else(bad)?;
        let sku = super::schema::number(sku).and_then(SkuId::new).ok_or_else(bad)?;
        let quantity = super::schema::number(quantity)
            .filter(|q| (1..=LINE_QUANTITY_MAX).contains(q))
            .ok_or_else(bad)?;
        match items.iter_mut().find(|(s, _)| *s == sku) {
            Some(item) => item.1 += quantity,
            None => items.push((sku, quantity)),
        }
    }
    if items.is_empty() || items.len() > ORDER_LINES_MAX {
        return Err(ApiError::invalid("invalid_field", "items", "1 to 100 items"));
    }
    Ok(items)
}

/// What the platform can promise for a cart to an address, now.
///
/// Computed from each shop's stock per warehouse, the capacity left in each warehouse's hour
/// and day, cutoffs in Asia/Shanghai, the official holidays and make-up workdays, and the
/// (simulated) carriers' reach and pickup schedules. Public: a buyer asks before signing in.
#[utoipa::path(get, path = "/v1/delivery-options", tag = "fulfillment", params(DeliveryOptionsQuery),
    responses((status = 200, body = DeliveryOptionsView), (status = 409, body = super::problem::Problem),
        (status = 422, body = super::problem::Problem)))]
pub async fn delivery_options(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<DeliveryOptionsQuery>,
) -> Result<Json<DeliveryOptionsView>, ApiError> {
    let adcode = super::validate::adcode(&query.adcode, "adcode")?;
    let destination = Destination::of(adcode);
    let items = parse_items(&query.items)?;
    let count = state.shards.count() as usize;
    let asks = (0..count).map(|index| {
        let question = DeliveryOptionsQuestion {
            items: items.clone(),
            destination,
        };
        state.shards.inquire(index, question)
    });
    let mut shops = Vec::new();
    let mut found = 0;
    let mut computed_at = state.clock.now();
    for answer in futures::future::join_all(asks).await {
        let answer = answer?;
        computed_at = answer.at;
        for ShopDeliveryOptions { shop, lines, options } in answer.shops {
            found += lines.len();
            let options = match options {
                Ok(options) => options,
                Err(Rejection::SkuUnavailable { sku }) => {
                    let detail = format!("SKU {sku} (or its product) is archived and cannot be ordered");
                    return Err(ApiError::new(StatusCode::CONFLICT, "sku_unavailable", detail).field("items"));
                }
                Err(rejection) => return Err(ApiError::from(&rejection)),
            };
            shops.push(ShopDeliveryView {
                shop_id: shop.get(),
                items: lines
                    .iter()
                    .map(|(sku, quantity)| ItemView {
                        sku_id: sku.get(),
                        quantity: *quantity,
                    })
                    .collect(),
                options: options.iter().map(|o| DeliveryOptionView::new(o, answer.at)).collect(),
            });
        }
    }
    if found < items.len() {
        let detail = "an item names no SKU that exists and is on sale";
        return Err(ApiError::new(StatusCode::NOT_FOUND, "unknown_sku", detail).field("items"));
    }
    Ok(Json(DeliveryOptionsView {
        computed_at: clock::rfc3339(computed_at),
        adcode: adcode.as_text(),
        address_name: adcode.division().map(|d| d.name.clone()).unwrap_or_default(),
        shops,
    }))
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShiftInput {
    /// `HH:MM`, Shanghai time.
    #[schema(schema_with = crate::http::schema::local_time)]
    pub start: String,
    /// `HH:MM` (up to `24:00`).
    #[schema(schema_with = crate::http::schema::local_time)]
    pub end: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CutoffInput {
    /// `one_hour`, `same_day`, `next_day` or `standard`.
    #[schema(schema_with = crate::http::schema::level)]
    pub level: String,
    /// `any`, `same_province` or `same_city` (the most specific matching one applies).
    #[schema(schema_with = crate::http::schema::cutoff_region)]
    pub region: String,
    /// `HH:MM`, Shanghai time: an order paid at or before it leaves that day.
    #[schema(schema_with = crate::http::schema::local_time)]
    pub time: String,
}

/// How a warehouse works. A level without a cutoff is not offered from it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FulfillmentSettingsInput {
    #[schema(min_items = 1, max_items = 4)]
    pub shifts: Vec<ShiftInput>,
    #[serde(deserialize_with = "crate::http::extract::integer")]
    #[schema(schema_with = crate::http::schema::integer::<1, 1_000_000>)]
    pub orders_per_hour: i64,
    #[serde(deserialize_with = "crate::http::extract::integer")]
    #[schema(schema_with = crate::http::schema::integer::<1, 24_000_000>)]
    pub orders_per_day: i64,
    #[schema(max_items = 16)]
    pub cutoffs: Vec<CutoffInput>,
    /// Whether it works on public holidays (default true).
    pub works_holidays: Option<bool>,
    /// Carriers that collect here (`sf`, `jd`, `zto`); all when absent or empty.
    #[schema(schema_with = crate::http::schema::optional_carriers)]
    pub carriers: Option<Vec<String>>,
}

impl FulfillmentSettingsInput {
    pub fn parse(&self) -> Result<FulfillmentSettings, ApiError> {
        Ok(FulfillmentSettings {
            hours: OperatingHours { shifts: self.shifts()? },
            orders_per_hour: capacity(self.orders_per_hour, ORDERS_PER_HOUR_MAX, "orders_per_hour")?,
            orders_per_day: capacity(self.orders_per_day, ORDERS_PER_HOUR_MAX * 24, "orders_per_day")?,
            cutoffs: self.cutoffs()?,
            works_holidays: self.works_holidays.unwrap_or(true),
            carriers: self.carriers()?,
        })
    }

    fn shifts(&self) -> Result<Vec<Shift>, ApiError> {
        let mut shifts = Vec::new();
        for (i, shift) in self.shifts.iter().enumerate() {
            let time = |raw: &str, which: &str| {
                parse_local_time(raw).ok_or_else(|| {
                    ApiError::invalid(
                        "invalid_field",
                        &format!("shifts[{i}].{which}"),
                        "a time is HH:MM, 00:00 to 24:00",
                    )
                })
            };
            shifts.push(Shift {
                start_minute: time(&shift.start, "start")?,
                end_minute: time(&shift.end, "end")?,
            });
        }
        Ok(shifts)
    }

    fn cutoffs(&self) -> Result<Vec<CutoffTime>, ApiError> {
        let mut cutoffs = Vec::new();
        for (i, cutoff) in self.cutoffs.iter().enumerate() {
            let field = |name: &str| format!("cutoffs[{i}].{name}");
            cutoffs.push(CutoffTime {
                level: ServiceLevel::parse(&cutoff.level).ok_or_else(|| {
                    ApiError::invalid(
                        "invalid_field",
                        &field("level"),
                        "one_hour, same_day, next_day or standard",
                    )
                })?,
                region: match cutoff.region.as_str() {
                    "any" => CutoffRegion::Any,
                    "same_province" => CutoffRegion::SameProvince,
                    "same_city" => CutoffRegion::SameCity,
                    _ => {
                        return Err(ApiError::invalid(
                            "invalid_field",
                            &field("region"),
                            "any, same_province or same_city",
                        ));
                    }
                },
                minute: parse_local_time(&cutoff.time)
                    .ok_or_else(|| ApiError::invalid("invalid_field", &field("time"), "a time is HH:MM"))?,
            });
        }
        Ok(cutoffs)
    }

    fn carriers(&self) -> Result<Vec<CarrierId>, ApiError> {
        let mut carriers = Vec::new();
        for (i, raw) in self.carriers.iter().flatten().enumerate() {
            let carrier = CarrierId::parse(raw)
                .ok_or_else(|| ApiError::invalid("invalid_field", &format!("carriers[{i}]"), "sf, jd or zto"))?;
            if carriers.contains(&carrier) {
                return Err(ApiError::invalid(
                    "invalid_field",
                    &format!("carriers[{i}]"),
                    "listed twice",
                ));
            }
            carriers.push(carrier);
        }
        Ok(carriers)
    }
}

/// Orders per hour or day: 1 to `max`.
fn capacity(value: i64, max: u32, field: &str) -> Result<u32, ApiError> {
    u32::try_from(value)
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| ApiError::invalid("invalid_field", field, format!("`{field}` must be 1 to {max}")))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HourLoadView {
    /// Start of the hour, Shanghai time `HH:MM`.
    pub hour: String,
    pub orders: u32,
    pub open: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FulfillmentSettingsView {
    pub warehouse_id: i64,
    pub shifts: Vec<ShiftInput>,
    pub orders_per_hour: u32,
    pub orders_per_day: u32,
    pub cutoffs: Vec<CutoffInput>,
    pub works_holidays: bool,
    pub carriers: Vec<String>,
    /// Today (Shanghai): orders booked per hour, for the console's capacity chart.
    pub today: Vec<HourLoadView>,
    pub booked_today: u32,
}

impl FulfillmentSettingsView {
    fn new(warehouse: WarehouseId, settings: &FulfillmentSettings, capacity: &CapacityBook, now: Timestamp) -> Self {
        let today = LocalDate::of(now);
        let hours: Vec<HourLoadView> = (0..24u16)
            .map(|h| HourLoadView {
                hour: format_local_time(h * 60),
                orders: capacity.used_in_hour(warehouse, today.at_minute(h * 60)),
                open: settings.hours.open_in_hour(h * 60),
            })
            .collect();
        FulfillmentSettingsView {
            warehouse_id: warehouse.get(),
            shifts: settings
                .hours
                .shifts
                .iter()
                .map(|s| ShiftInput {
                    start: format_local_time(s.start_minute),
                    end: format_local_time(s.end_minute),
                })
                .collect(),
            orders_per_hour: settings.orders_per_hour,
            orders_per_day: settings.orders_per_day,
            cutoffs: settings
                .cutoffs
                .iter()
                .map(|c| CutoffInput {
                    level: c.level.as_str().into(),
                    region: match c.region {
                        CutoffRegion::Any => "any",
                        CutoffRegion::SameProvince => "same_province",
                        CutoffRegion::SameCity => "same_city",
                    }
                    .into(),
                    time: format_local_time(c.minute),
                })
                .collect(),
            works_holidays: settings.works_holidays,
            carriers: settings.carriers.iter().map(|c| c.as_str().into()).collect(),
            booked_today: capacity.used_on_day(warehouse, today),
            today: hours,
        }
    }
}

async fn settings_view(
    state: &AppState,
    shop: ShopId,
    warehouse: WarehouseId,
) -> Result<FulfillmentSettingsView, ApiError> {
    state
        .shards
        .read(shop, move |shard, now| {
            shard
                .sites_of(shop)
                .iter()
                .find(|site| site.id == warehouse)
                .map(|site| FulfillmentSettingsView::new(warehouse, &site.settings, shard.capacity(), now))
        })
        .await?
        .ok_or_else(|| ApiError::not_found("warehouse"))
}

/// How one of the merchant's warehouses works, with today's booked capacity per hour.
#[utoipa::path(get, path = "/v1/warehouses/{warehouse_id}/fulfillment", tag = "fulfillment",
    params(("warehouse_id" = i64, Path)),
    responses((status = 200, body = FulfillmentSettingsView), (status = 404, body = super::problem::Problem)),
    security(("bearer" = [])))]
pub async fn get_settings(
    State(state): State<AppState>,
    Merchant(shop): Merchant,
    ids: PathIds,
) -> Result<Json<FulfillmentSettingsView>, ApiError> {
    let warehouse = WarehouseId::new(ids.one()).ok_or_else(|| ApiError::not_found("warehouse"))?;
    Ok(Json(settings_view(&state, shop, warehouse).await?))
}

/// Set how a warehouse works: shifts, capacity per hour and day, cutoffs per service level
/// and region, holidays, carriers. Takes effect for the next promise and dispatch.
#[utoipa::path(put, path = "/v1/warehouses/{warehouse_id}/fulfillment", tag = "fulfillment",
    request_body = FulfillmentSettingsInput,
    params(("warehouse_id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = FulfillmentSettingsView), (status = 404, body = super::problem::Problem),
        (status = 422, body = super::problem::Problem)),
    security(("bearer" = [])))]
pub async fn put_settings(
    State(state): State<AppState>,
    Merchant(shop): Merchant,
    ids: PathIds,
    headers: HeaderMap,
    body: JsonBody<FulfillmentSettingsInput>,
) -> Response {
    let path = format!("/v1/warehouses/{}/fulfillment", ids.one());
    let request = ("PUT", path.as_str(), &body.raw[..]);
    idempotency::run(&state, Principal::Merchant(shop), &headers, request, |idem| async {
        let warehouse = WarehouseId::new(ids.one()).ok_or_else(|| ApiError::not_found("warehouse"))?;
        let settings = body.value.parse()?;
        let command = ConfigureFulfillment {
            shop,
            warehouse,
            settings,
        };
        // It reads the shard after deciding: decided where the shard is, or not at all here.
        state.shards.decide_here(shop)?;
        if let Err(rejection) = state.shards.ask(shop, command, None).await? {
            // Decided by the shard, so stored like every such refusal: a retry replays it.
            let refusal = Reply::from(ApiError::from(&rejection));
            return idempotency::remember(&state, shop, idem, refusal).await;
        }
        let view = settings_view(&state, shop, warehouse).await?;
        idempotency::remember(&state, shop, idem, Reply::json(StatusCode::OK, &view)).await
    })
    .await
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PromiseView {
    pub level: String,
    pub carrier: String,
    /// Delivered by then (RFC 3339, UTC).
    pub promised_by: String,
    pub promised_by_local: String,
    /// The start of the booked window (预约配送), if any.
    pub window_starts_at: Option<String>,
    pub price_fen: i64,
}

impl From<&Promise> for PromiseView {
    fn from(p: &Promise) -> PromiseView {
        PromiseView {
            level: p.level.as_str().into(),
            carrier: p.carrier.as_str().into(),
            promised_by: clock::rfc3339(p.promised_by),
            promised_by_local: shanghai(p.promised_by),
            window_starts_at: p.window_starts_at.map(clock::rfc3339),
            price_fen: p.price.get(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CandidateView {
    pub warehouse_id: i64,
    pub rank: u32,
    pub chosen: bool,
    pub distance_km: u32,
    pub holds_every_line: bool,
    pub has_capacity: bool,
    pub keeps_promise: bool,
    pub would_deliver_by: Option<String>,
    /// Orders its processing hour (and day) could still take.
    pub headroom: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ParcelView {
    pub warehouse_id: i64,
    pub items: Vec<ItemView>,
    pub level: String,
    pub carrier: String,
    /// The hour of warehouse capacity it takes.
    pub slot_hour: String,
    pub pickup_at: String,
    pub estimated_by: String,
    pub keeps_promise: bool,
}

/// Why a paid order ships from where it ships: every warehouse considered, ranked.
#[derive(Debug, Serialize, ToSchema)]
pub struct DispatchView {
    pub order_id: i64,
    pub decided_at: String,
    pub promise: Option<PromiseView>,
    pub promise_kept: bool,
    pub split: bool,
    /// The ranking: keeps the promise, then nearest (great-circle), then most headroom.
    pub rule: String,
    pub reason: String,
    pub parcels: Vec<ParcelView>,
    pub candidates: Vec<CandidateView>,
}

impl DispatchView {
    pub fn new(order: OrderId, promise: Option<&Promise>, d: &DispatchDecision) -> DispatchView {
        DispatchView {
            order_id: order.get(),
            decided_at: clock::rfc3339(d.decided_at),
            promise: promise.map(PromiseView::from),
            promise_kept: d.promise_kept,
            split: d.split,
            rule: "keeps the promise, then nearest by great-circle distance, then most capacity headroom; split only when no warehouse holds every line".into(),
            reason: d.reason.clone(),
            parcels: d
                .parcels
                .iter()
                .map(|p| ParcelView {
                    warehouse_id: p.warehouse.get(),
                    items: p
                        .lines
                        .iter()
                        .map(|(sku, quantity)| ItemView {
                            sku_id: sku.get(),
                            quantity: *quantity,
                        })
                        .collect(),
                    level: p.level.as_str().into(),
                    carrier: p.carrier.as_str().into(),
                    slot_hour: clock::rfc3339(p.slot_hour),
                    pickup_at: clock::rfc3339(p.pickup_at),
                    estimated_by: clock::rfc3339(p.estimated_by),
                    keeps_promise: p.keeps_promise,
                })
                .collect(),
            candidates: d
                .candidates
                .iter()
                .map(|c| CandidateView {
                    warehouse_id: c.warehouse.get(),
                    rank: c.rank,
                    chosen: c.chosen,
                    distance_km: c.distance_km,
                    holds_every_line: c.holds_every_line,
                    has_capacity: c.has_capacity,
                    keeps_promise: c.keeps_promise,
                    would_deliver_by: c.would_deliver_by.map(clock::rfc3339),
                    headroom: c.headroom,
                })
                .collect(),
        }
    }
}

/// Explain a paid order's dispatch: the candidates considered and why the winner won.
#[utoipa::path(get, path = "/v1/orders/{order_id}/dispatch", tag = "fulfillment",
    params(("order_id" = i64, Path)),
    responses((status = 200, body = DispatchView), (status = 404, body = super::problem::Problem)),
    security(("bearer" = [])))]
pub async fn explain_dispatch(
    State(state): State<AppState>,
    principal: Principal,
    ids: PathIds,
) -> Result<Json<DispatchView>, ApiError> {
    let order = super::orders::visible_order(&state, principal, ids.one()).await?;
    let (_, decision) = state
        .store
        .dispatch_of(order.id)
        .await?
        .ok_or_else(|| ApiError::not_found("dispatch (the order is not paid)"))?;
    Ok(Json(DispatchView::new(order.id, order.promise.as_ref(), &decision)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShortageInput {
    #[serde(deserialize_with = "crate::http::extract::integer")]
    #[schema(schema_with = crate::http::schema::id)]
    pub sku_id: i64,
    /// Units the warehouse found missing (1 to what it holds, available and sold).
    #[serde(deserialize_with = "crate::http::extract::integer")]
    #[schema(schema_with = crate::http::schema::integer::<1, { i64::MAX }>)]
    pub missing_units: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ShortageView {
    /// Paid orders whose parcel now ships from another warehouse.
    pub redispatched_order_ids: Vec<i64>,
    /// Paid orders no warehouse can serve now: restock or refund them.
    pub unfulfillable_order_ids: Vec<i64>,
}

fn shortage_reply(redispatched: &[OrderId], unfulfillable: &[OrderId]) -> Reply {
    Reply::json(
        StatusCode::OK,
        &ShortageView {
            redispatched_order_ids: redispatched.iter().map(|o| o.get()).collect(),
            unfulfillable_order_ids: unfulfillable.iter().map(|o| o.get()).collect(),
        },
    )
}

/// Renders the shard's answer inside its batch, exactly as the handler answers.
fn render_shortage(answer: &Result<ShortageHandled, Rejection>) -> Reply {
    match answer {
        Ok(handled) => shortage_reply(&handled.redispatched, &handled.unfulfillable),
        Err(Rejection::InvalidStock) => ApiError::from(ShortageError::InvalidShortage).into(),
        Err(rejection) => super::problem::refused(rejection),
    }
}

/// A shortage report's failure as problem+json, once.
impl From<ShortageError> for ApiError {
    fn from(error: ShortageError) -> ApiError {
        match error {
            ShortageError::InvalidShortage => ApiError::new(
                StatusCode::CONFLICT,
                "shortage_exceeds_stock",
                "`missing_units` is more than the warehouse holds and has not handed to a carrier",
            )
            .field("missing_units"),
            ShortageError::Refused(rejection) => ApiError::from(&rejection),
            ShortageError::Shard(error) => ApiError::from(error),
        }
    }
}

/// Report a stock shortage found in a warehouse (a count, damage, a lost pallet). Unsold
/// units absorb it first; paid orders not yet shipped from there are re-dispatched to another
/// warehouse, and the merchant is told in the package center.
#[utoipa::path(post, path = "/v1/warehouses/{warehouse_id}/shortages", tag = "fulfillment",
    request_body = ShortageInput,
    params(("warehouse_id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = ShortageView), (status = 404, body = super::problem::Problem),
        (status = 422, body = super::problem::Problem)),
    security(("bearer" = [])))]
pub async fn report_shortage(
    State(state): State<AppState>,
    Merchant(shop): Merchant,
    ids: PathIds,
    headers: HeaderMap,
    body: JsonBody<ShortageInput>,
) -> Response {
    let path = format!("/v1/warehouses/{}/shortages", ids.one());
    let request = ("POST", path.as_str(), &body.raw[..]);
    idempotency::run(&state, Principal::Merchant(shop), &headers, request, |idem| async {
        let warehouse = WarehouseId::new(ids.one()).ok_or_else(|| ApiError::not_found("warehouse"))?;
        let sku = SkuId::new(super::validate::positive_id(body.value.sku_id, "sku_id")?)
            .ok_or_else(|| ApiError::invalid("invalid_field", "sku_id", "a positive id"))?;
        if body.value.missing_units < 1 {
            let detail = "`missing_units` must be at least 1";
            return Err(ApiError::invalid("invalid_field", "missing_units", detail));
        }
        let reported = Shortage {
            shop,
            warehouse,
            sku,
            missing_units: body.value.missing_units,
        };
        let recorder = idem.map(|i| i.recorder_of::<ReportShortage>(render_shortage));
        let handled = shortage::report(&state, reported, recorder).await?;
        Ok(shortage_reply(&handled.redispatched, &handled.unfulfillable))
    })
    .await
}

fn settings_problem(problem: SettingsProblem) -> String {
    match problem {
        SettingsProblem::Shifts => {
            "shifts must be 1 to 4 non-overlapping [start, end) ranges within the day, in order".into()
        }
        SettingsProblem::OrdersPerHour => format!("orders_per_hour must be 1 to {ORDERS_PER_HOUR_MAX}"),
        SettingsProblem::OrdersPerDay => format!("orders_per_day must be 1 to {}", ORDERS_PER_HOUR_MAX * 24),
        SettingsProblem::TooManyCutoffs => format!("at most {CUTOFFS_MAX} cutoffs"),
        SettingsProblem::CutoffMinute => format!("a cutoff minute must be 0 to {MINUTES_PER_DAY}"),
        SettingsProblem::DuplicateCutoff => "two cutoffs for the same level and region".into(),
        SettingsProblem::DuplicateCarrier => "a carrier is listed twice".into(),
    }
}
