//! The live view of a flash sale (直播间大屏): `GET /v1/flash-sales/{id}/live` and its
//! Server-Sent Events stream `…/live/stream`, for the merchant owning the sale and operators.
//!
//! The sale itself (units left, status: ended early or topped up), the unpaid orders and the
//! earliest of their payment deadlines come from the shard's memory (what the next tap sees); taps of the last seconds from the compass
//! reader's memory; everything else from the compass's tables. The stream wakes when the
//! compass reader's pass changed the figures (never by polling the database per client),
//! sends the view when it differs from the last one sent, at most [`STREAM_UPDATES_PER_SECOND_MAX`]
//! times a second, and refreshes the taps of the last seconds from memory every second.

use super::dto::FlashSaleView;
use crate::app::AppState;
use crate::auth::Principal;
use crate::clock::rfc3339;
use crate::http::extract::{PathIds, QueryParams};
use crate::http::problem::{ApiError, Problem};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{Stream, StreamExt};
use miaodan_domain::flash_sale::{FlashSale, FlashSaleId};
use miaodan_domain::geo::Adcode;
use miaodan_domain::{ShopId, Timestamp};
use miaodan_store::FlashSaleFigures;
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::time::Duration;
use utoipa::{IntoParams, ToSchema};

/// The most provinces a live view lists (those with the most orders).
pub const LIVE_PROVINCES_MAX: i64 = 10;
/// The most minutes a live view lists (the latest).
pub const LIVE_MINUTES_MAX: i64 = 60;
/// A live stream sends at most this many views a second.
pub const STREAM_UPDATES_PER_SECOND_MAX: u64 = 4;

#[derive(Debug, Serialize, ToSchema, Clone, PartialEq)]
pub struct LiveSecondView {
    /// The second's start (RFC 3339).
    pub start: String,
    pub taps: i64,
}

/// What happened in one minute of the sale (or over its life, for `totals`).
#[derive(Debug, Serialize, ToSchema, Clone, PartialEq)]
pub struct LiveFiguresView {
    /// Taps answered, and how.
    pub taps: i64,
    pub ordered: i64,
    pub sold_out: i64,
    pub limit_reached: i64,
    /// `not_started` and `ended`.
    pub refused_other: i64,
    /// Orders placed, their units and value (GMV).
    pub orders: i64,
    pub units: i64,
    pub gmv_fen: i64,
    pub paid_orders: i64,
    pub paid_fen: i64,
    /// Paid orders per order placed, in basis points (0 when none was placed).
    pub paid_share_bps: i64,
}

impl From<&FlashSaleFigures> for LiveFiguresView {
    fn from(f: &FlashSaleFigures) -> LiveFiguresView {
        LiveFiguresView {
            taps: f.taps,
            ordered: f.ordered,
            sold_out: f.sold_out,
            limit_reached: f.limit_reached,
            refused_other: f.refused_other,
            orders: f.orders,
            units: f.units,
            gmv_fen: f.gmv_fen,
            paid_orders: f.paid_orders,
            paid_fen: f.paid_fen,
            paid_share_bps: (f.paid_orders * 10_000).checked_div(f.orders).unwrap_or(0),
        }
    }
}

#[derive(Debug, Serialize, ToSchema, Clone, PartialEq)]
pub struct LiveMinuteView {
    /// The minute's start (RFC 3339).
    pub start: String,
    #[serde(flatten)]
    pub figures: LiveFiguresView,
}

/// Where a sale's buyers are: one province, with its name and a point for the map.
#[derive(Debug, Serialize, ToSchema, Clone, PartialEq)]
pub struct LiveProvinceView {
    /// The province's 12-digit adcode.
    pub adcode: String,
    pub name: Option<String>,
    /// A representative point, in millionths of a degree (absent where the reference has none).
    pub longitude_micro_degrees: Option<i64>,
    pub latitude_micro_degrees: Option<i64>,
    pub orders: i64,
    pub units: i64,
    pub gmv_fen: i64,
}

/// A flash sale live: units left, taps, orders, payments and buyers by province.
#[derive(Debug, Serialize, ToSchema, Clone, PartialEq)]
pub struct FlashSaleLiveView {
    pub sale: FlashSaleView,
    /// Units the sale still holds, from the shard's memory: what the next tap sees.
    pub units_left: i64,
    /// When the sale first had no units left (RFC 3339), if it did.
    pub sold_out_at: Option<String>,
    /// Taps in each of the last 10 whole seconds, oldest first.
    pub taps_per_second: Vec<LiveSecondView>,
    /// The sale's latest minutes (at most 60) with anything in them, oldest first.
    pub minutes: Vec<LiveMinuteView>,
    pub totals: LiveFiguresView,
    /// Orders of the sale waiting for payment now.
    pub unpaid_orders: i64,
    /// When the earliest of them is cancelled unless paid (RFC 3339).
    pub next_expiry_at: Option<String>,
    /// Seconds until then (0 when due).
    pub next_expiry_in_seconds: Option<i64>,
    /// The provinces with the most orders (at most 10), most first.
    pub provinces: Vec<LiveProvinceView>,
    /// When the view was made (RFC 3339).
    pub as_of: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// `true`: send the current view, then end the stream.
    #[param(schema_with = crate::http::schema::stream_once)]
    pub once: Option<String>,
}

impl StreamQuery {
    /// Whether the stream ends after its first view; anything but `true` or `false` is refused.
    pub fn once(&self) -> Result<bool, ApiError> {
        match self.once.as_deref() {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(_) => Err(ApiError::invalid("invalid_field", "once", "`once` is true or false")),
        }
    }
}

/// A flash sale live: units left, taps per second and per minute, orders, GMV, the paid
/// share, the unpaid orders and the earliest payment deadline, buyers by province.
#[utoipa::path(get, path = "/v1/flash-sales/{flash_sale_id}/live", tag = "flash sales",
    params(("flash_sale_id" = i64, Path)),
    responses((status = 200, body = FlashSaleLiveView), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn live(
    State(state): State<AppState>,
    principal: Principal,
    ids: PathIds,
) -> Result<Json<FlashSaleLiveView>, ApiError> {
    let sale = watched_sale(&state, principal, ids.one()).await?;
    Ok(Json(live_view(&state, &sale).await?))
}

/// The live view as Server-Sent Events: `event: live` with the view as JSON, first at once,
/// then whenever it changes (within a second of the commit that changed it; at most 4 a
/// second); a comment line every 10 s (`--sse-heartbeat-seconds`) when nothing else is sent.
/// `once=true` ends the stream after the first view. The stream ends when the server stops.
#[utoipa::path(get, path = "/v1/flash-sales/{flash_sale_id}/live/stream", tag = "flash sales",
    params(("flash_sale_id" = i64, Path), StreamQuery),
    responses((status = 200, description = "text/event-stream of live views (`event: live`)", content_type = "text/event-stream"),
        (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn live_stream(
    State(state): State<AppState>,
    principal: Principal,
    ids: PathIds,
    QueryParams(query): QueryParams<StreamQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let sale = watched_sale(&state, principal, ids.one()).await?;
    let once = query.once()?;
    let heartbeat = KeepAlive::new()
        .interval(state.config.limits.sse_heartbeat)
        .text("heartbeat");
    let first = live_view(&state, &sale).await?;
    let views = live_views(state.clone(), sale, first);
    let views = if once { views.take(1).boxed() } else { views.boxed() };
    Ok(Sse::new(crate::http::compass_stream::until_stopping(&state, views)).keep_alive(heartbeat))
}

/// The sale, if the caller may watch it: its merchant or an operator; a buyer is refused,
/// another shop's sale is not found.
async fn watched_sale(state: &AppState, principal: Principal, raw: i64) -> Result<FlashSale, ApiError> {
    if let Principal::Buyer(_) = principal {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "a sale's live view is for its merchant and operators",
        ));
    }
    let id = FlashSaleId::new(raw).ok_or_else(|| ApiError::not_found("flash sale"))?;
    let sale = state
        .store
        .flash_sale(id)
        .await?
        .ok_or_else(|| ApiError::not_found("flash sale"))?;
    match principal {
        Principal::Merchant(shop) if shop != sale.shop => Err(ApiError::not_found("flash sale")),
        _ => Ok(sale),
    }
}

/// What the shard's memory says of a sale now.
struct InMemory {
    /// The sale as the next tap sees it (ended early or topped up since the stream began).
    sale: Option<FlashSale>,
    unpaid_orders: i64,
    next_due: Option<Timestamp>,
}

async fn in_memory(state: &AppState, shop: ShopId, id: FlashSaleId) -> Result<InMemory, ApiError> {
    let read = state
        .shards
        .read(shop, move |shard, _| {
            let (unpaid_orders, next_due) = shard.unpaid_of_flash_sale(id);
            InMemory {
                sale: shard.flash_sale(id).map(|b| b.sale.clone()),
                unpaid_orders: i64::try_from(unpaid_orders).unwrap_or(i64::MAX),
                next_due,
            }
        })
        .await?;
    Ok(read)
}

async fn live_view(state: &AppState, sale: &FlashSale) -> Result<FlashSaleLiveView, ApiError> {
    let now = state.clock.now();
    let (shop, id) = (sale.shop, sale.id.get());
    let memory = in_memory(state, shop, sale.id).await?;
    let sale = memory.sale.as_ref().unwrap_or(sale);
    let since = Timestamp::from_unix_ms(now.unix_ms() - LIVE_MINUTES_MAX * 60_000);
    let figures = state.store.flash_sale_figures(shop, id, since).await?;
    let provinces = state.store.flash_sale_provinces(shop, id, LIVE_PROVINCES_MAX).await?;
    let sold_out_at = state.store.flash_sale_sold_out_at(shop, id).await?;
    Ok(FlashSaleLiveView {
        sale: FlashSaleView::new(sale, now),
        units_left: sale.remaining,
        sold_out_at: sold_out_at.map(rfc3339),
        taps_per_second: taps_per_second(state, id, now),
        minutes: figures
            .minutes
            .iter()
            .map(|(start, f)| LiveMinuteView {
                start: rfc3339(*start),
                figures: f.into(),
            })
            .collect(),
        totals: (&figures.totals).into(),
        unpaid_orders: memory.unpaid_orders,
        next_expiry_at: memory.next_due.map(rfc3339),
        next_expiry_in_seconds: memory
            .next_due
            .map(|due| (due.unix_ms() - now.unix_ms()).max(0).div_euclid(1000)),
        provinces: provinces.iter().map(|(adcode, f)| province_view(*adcode, f)).collect(),
        as_of: rfc3339(now),
    })
}

fn taps_per_second(state: &AppState, sale: i64, now: Timestamp) -> Vec<LiveSecondView> {
    state
        .compass_live
        .taps_per_second(sale, now)
        .into_iter()
        .map(|(second, taps)| LiveSecondView {
            start: rfc3339(Timestamp::from_unix_ms(second * 1000)),
            taps,
        })
        .collect()
}

fn province_view(adcode: i64, f: &miaodan_store::ProvinceFigures) -> LiveProvinceView {
    let code = Adcode::from_stored(adcode);
    let division = code.division();
    let point = division.and_then(|d| d.point);
    LiveProvinceView {
        adcode: code.as_text(),
        name: division.map(|d| d.name.clone()),
        longitude_micro_degrees: point.map(|p| p.longitude),
        latitude_micro_degrees: point.map(|p| p.latitude),
        orders: f.orders,
        units: f.units,
        gmv_fen: f.gmv_fen,
    }
}

/// Whether two views differ in more than their time of making and countdown.
fn differs(a: &FlashSaleLiveView, b: &FlashSaleLiveView) -> bool {
    let strip = |v: &FlashSaleLiveView| FlashSaleLiveView {
        as_of: String::new(),
        next_expiry_in_seconds: None,
        ..v.clone()
    };
    strip(a) != strip(b)
}

fn live_event(view: &FlashSaleLiveView) -> Event {
    Event::default()
        .event("live")
        .json_data(view)
        .unwrap_or_else(|_| Event::default().event("error"))
}

/// The first view, then each view that differs from the last one sent.
fn live_views(state: AppState, sale: FlashSale, first: FlashSaleLiveView) -> impl Stream<Item = Event> {
    let changes = state.compass_live.subscribe();
    let gap = Duration::from_millis(1000 / STREAM_UPDATES_PER_SECOND_MAX);
    let start = (state, sale, changes, None::<FlashSaleLiveView>, Some(first));
    futures::stream::unfold(start, move |(state, sale, mut changes, last, first)| async move {
        if let Some(first) = first {
            let event = live_event(&first);
            return Some((event, (state, sale, changes, Some(first), None)));
        }
        let mut last = last?;
        loop {
            tokio::time::sleep(gap).await;
            // A change of the figures, or a second gone by (the last seconds' taps slide).
            let woke = tokio::time::timeout(Duration::from_secs(1), changes.changed()).await;
            if matches!(woke, Ok(Err(_))) {
                return None;
            }
            let view = if woke.is_ok() {
                match live_view(&state, &sale).await {
                    Ok(view) => view,
                    Err(_) => continue,
                }
            } else {
                FlashSaleLiveView {
                    taps_per_second: taps_per_second(&state, sale.id.get(), state.clock.now()),
                    ..last.clone()
                }
            };
            if differs(&view, &last) {
                last = view;
                let event = live_event(&last);
                return Some((event, (state, sale, changes, Some(last), None)));
            }
        }
    })
}
