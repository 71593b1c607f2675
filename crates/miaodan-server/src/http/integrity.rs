//! Merchant integrity over HTTP: `GET /v1/quality-index` is a shop's quality index (秒单质量指数)
//! over the last `days` days with every dimension's figures, score, weight and what cost it
//! most, and its percentile among the shops of its category; `GET /v1/quality-index/ranking`
//! lists a category's shops by index (operators only). A merchant reads their own shop's
//! index; an operator any shop's; a buyer none. Another shop's index reads as not found.
//!
//! `GET /v1/integrity/fake-stock` judges each flash sale that ended in the period for fake
//! stock (库存虚标); `GET /v1/integrity/promises` breaks the broken promises down by warehouse
//! and by warehouse and carrier service (each with its parcels and promise-kept rate). Both are read like the index: a merchant's own shop, an operator's
//! named one.
//!
//! The index is computed when asked, from tables the platform already keeps (see the store's
//! `integrity` module): nothing is stored, so it always reflects the figures as they are.

use super::diagnosis::{BilingualView, FigureView};
use super::extract::QueryParams;
use super::page::{ListQuery, Page, PageQuery};
use super::problem::{ApiError, Problem};
use super::shop_reports::shop_reported_to;
use crate::app::AppState;
use crate::auth::{Admin, Principal};
use crate::clock::rfc3339;
use axum::Json;
use axum::extract::State;
use miaodan_domain::Timestamp;
use miaodan_domain::catalog::{Shop, ShopCategory};
use miaodan_domain::diagnosis::{Bilingual, Figure};
use miaodan_domain::integrity::fake_stock::{DISPATCH_GRACE_HOURS, STOCK_PULL_WINDOW_HOURS, Verdict, assess_sale};
use miaodan_domain::integrity::promises::{PromiseFigures, assess};
use miaodan_domain::integrity::quality::{
    DimensionScore, MeasureScore, QualityIndex, category_percentile, quality_index,
};
use miaodan_store::{EndedSale, PromiseBreakdown};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The period when a request names none.
pub const INDEX_DAYS_DEFAULT: i64 = 30;
/// The longest period an index covers (a quarter).
pub const INDEX_DAYS_MAX: i64 = 92;
/// The most shops of a category compared (percentile and ranking); a larger category is
/// compared over its first shops by id, and the answer says how many were.
pub const CATEGORY_SHOPS_MAX: i64 = 500;
const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_quality_index))
        .routes(routes!(quality_ranking))
        .routes(routes!(fake_stock))
        .routes(routes!(promises))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IndexQuery {
    /// The period: the last `days` days up to now (1 to 92); absent: 30.
    #[param(schema_with = crate::http::schema::optional_integer::<1, 92>)]
    pub days: Option<i64>,
    /// Operators only (and required of them): the shop. A merchant's own shop when absent.
    #[param(schema_with = crate::http::schema::id)]
    pub shop_id: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RankingQuery {
    /// The category ranked.
    #[param(schema_with = crate::http::schema::shop_category)]
    pub category: String,
    /// The period: the last `days` days up to now (1 to 92); absent: 30.
    #[param(schema_with = crate::http::schema::optional_integer::<1, 92>)]
    pub days: Option<i64>,
}

/// One scored figure of a dimension.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeasureView {
    /// `quality_return_rate`, `late_delivery_rate`, `mean_response_minutes`, … (README).
    pub measure: String,
    /// The rate in basis points (10 000 = 100 %), or minutes for a time.
    pub value: i64,
    /// `bps`, or `minutes` for a time.
    pub unit: String,
    /// 0–100, from the measure's curve.
    pub score: i64,
    /// Its share of the dimension, out of 100.
    pub weight: i64,
    /// Points of the dimension this measure cost.
    pub lost_points: i64,
    pub explanation: BilingualView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DimensionView {
    /// `product_quality`, `logistics_timeliness` or `after_sales_service`.
    pub dimension: String,
    pub name: BilingualView,
    /// Its share of the total, out of 100.
    pub weight: i64,
    /// `scored` or `insufficient_data` (too small a sample; not in the total).
    pub status: String,
    /// 0–100; `null` with `insufficient_data`.
    pub score: Option<i64>,
    pub figures: Vec<FigureView>,
    pub measures: Vec<MeasureView>,
    /// The one or two measures that cost most points, most first.
    pub losses: Vec<MeasureView>,
    pub summary: BilingualView,
}

/// A shop's quality index over a period.
#[derive(Debug, Serialize, ToSchema)]
pub struct QualityIndexView {
    pub shop_id: i64,
    pub shop_name: String,
    #[schema(schema_with = crate::http::schema::shop_category)]
    pub category: String,
    pub days: i64,
    /// The period, from (inclusive) …
    pub from: String,
    /// … to (exclusive): the moment asked.
    pub to: String,
    /// 0–100 over the scored dimensions; `null` when none is.
    pub total: Option<i64>,
    /// The dimensions' weights the total is over (100 when all are scored).
    pub scored_weight: i64,
    /// Percent of the category's scored shops at or below this one (100: the best); `null`
    /// below 3 other scored shops, or when this shop has no total.
    pub category_percentile: Option<i64>,
    /// Other shops of the category with a total.
    pub peer_shops: i64,
    pub dimensions: Vec<DimensionView>,
}

/// A shop in its category's ranking.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RankingEntry {
    /// 1 for the best index; shops without one come last.
    pub rank: i64,
    pub shop_id: i64,
    pub shop_name: String,
    pub total: Option<i64>,
    pub product_quality: Option<i64>,
    pub logistics_timeliness: Option<i64>,
    pub after_sales_service: Option<i64>,
}

fn bilingual(b: &Bilingual) -> BilingualView {
    BilingualView {
        zh: b.zh.clone(),
        en: b.en.clone(),
    }
}

fn figure_view(f: &Figure) -> FigureView {
    FigureView {
        name: f.name.clone(),
        value: f.value,
        unit: f.unit.as_str().into(),
    }
}

fn measure_view(m: &MeasureScore) -> MeasureView {
    MeasureView {
        measure: m.measure.code().into(),
        value: m.value,
        unit: m.unit.as_str().into(),
        score: m.score,
        weight: m.weight,
        lost_points: m.lost_points,
        explanation: bilingual(&m.explanation),
    }
}

fn dimension_view(d: &DimensionScore) -> DimensionView {
    DimensionView {
        dimension: d.dimension.code().into(),
        name: bilingual(&d.dimension.name()),
        weight: d.weight,
        status: if d.score.is_some() {
            "scored"
        } else {
            "insufficient_data"
        }
        .into(),
        score: d.score,
        figures: d.figures.iter().map(figure_view).collect(),
        measures: d.measures.iter().map(measure_view).collect(),
        losses: d.losses.iter().map(measure_view).collect(),
        summary: bilingual(&d.summary),
    }
}

/// The period `[now − days, now)`.
fn period(days: Option<i64>, now: Timestamp) -> Result<(i64, Timestamp, Timestamp), ApiError> {
    let days = days.unwrap_or(INDEX_DAYS_DEFAULT);
    if !(1..=INDEX_DAYS_MAX).contains(&days) {
        return Err(ApiError::invalid(
            "invalid_field",
            "days",
            format!("an index covers 1 to {INDEX_DAYS_MAX} days"),
        ));
    }
    let from = Timestamp::from_unix_ms(now.unix_ms() - days * DAY_MS);
    Ok((days, from, now))
}

/// Every shop of `category` (up to [`CATEGORY_SHOPS_MAX`]) with its index over the period.
async fn category_indexes(
    state: &AppState,
    category: ShopCategory,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<(Shop, QualityIndex)>, ApiError> {
    let shops = state.store.shops_in_category(category, 0, CATEGORY_SHOPS_MAX).await?;
    let mut indexes = Vec::with_capacity(shops.len());
    for shop in shops {
        let figures = state.store.quality_figures(shop.id, from, to).await?;
        indexes.push((shop, quality_index(&figures)));
    }
    Ok(indexes)
}

/// A shop's merchant quality index (秒单质量指数) over the last `days` days.
#[utoipa::path(get, path = "/v1/quality-index", tag = "integrity", params(IndexQuery),
    responses((status = 200, body = QualityIndexView), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_quality_index(
    State(state): State<AppState>,
    principal: Principal,
    QueryParams(query): QueryParams<IndexQuery>,
) -> Result<Json<QualityIndexView>, ApiError> {
    let shop = shop_reported_to(
        &state,
        principal,
        query.shop_id,
        "the quality index is for merchants and operators",
    )
    .await?;
    let (days, from, to) = period(query.days, state.clock.now())?;
    let category = category_indexes(&state, shop.category, from, to).await?;
    let index = match category.iter().find(|(s, _)| s.id == shop.id) {
        Some((_, index)) => index.clone(),
        // A shop beyond the category's first shops is compared with them all the same.
        None => quality_index(&state.store.quality_figures(shop.id, from, to).await?),
    };
    let peers: Vec<i64> = category
        .iter()
        .filter(|(s, _)| s.id != shop.id)
        .filter_map(|(_, i)| i.total)
        .collect();
    Ok(Json(QualityIndexView {
        shop_id: shop.id.get(),
        shop_name: shop.name.as_str().into(),
        category: shop.category.as_str().into(),
        days,
        from: rfc3339(from),
        to: rfc3339(to),
        total: index.total,
        scored_weight: index.scored_weight,
        category_percentile: index.total.and_then(|t| category_percentile(t, &peers)),
        peer_shops: i64::try_from(peers.len()).unwrap_or(i64::MAX),
        dimensions: index.dimensions.iter().map(dimension_view).collect(),
    }))
}

fn ranking_entry(rank: i64, shop: &Shop, index: &QualityIndex) -> RankingEntry {
    let score = |i: usize| index.dimensions.get(i).and_then(|d| d.score);
    RankingEntry {
        rank,
        shop_id: shop.id.get(),
        shop_name: shop.name.as_str().into(),
        total: index.total,
        product_quality: score(0),
        logistics_timeliness: score(1),
        after_sales_service: score(2),
    }
}

/// A category's shops by quality index, best first (then by shop id; shops without a total last), paged.
#[utoipa::path(get, path = "/v1/quality-index/ranking", tag = "integrity", params(RankingQuery, PageQuery),
    responses((status = 200, body = Page<RankingEntry>), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn quality_ranking(
    State(state): State<AppState>,
    _: Admin,
    ListQuery { page, filter: query }: ListQuery<RankingQuery>,
) -> Result<Json<Page<RankingEntry>>, ApiError> {
    let category = ShopCategory::parse(&query.category)
        .ok_or_else(|| ApiError::invalid("invalid_field", "category", "a shop category"))?;
    let (_, from, to) = period(query.days, state.clock.now())?;
    let after = page.after::<(i64, i64)>("quality_ranking")?;
    let mut ranked: Vec<RankingEntry> = category_indexes(&state, category, from, to)
        .await?
        .iter()
        .map(|(shop, index)| ranking_entry(0, shop, index))
        .collect();
    ranked.sort_by_key(rank_key);
    for (position, entry) in ranked.iter_mut().enumerate() {
        entry.rank = i64::try_from(position).unwrap_or(i64::MAX) + 1;
    }
    // Read by key like every list: a page starts after the previous page's last (total, shop).
    let fetch = usize::try_from(page.fetch()).unwrap_or(usize::MAX);
    let ranked: Vec<RankingEntry> = ranked
        .into_iter()
        .filter(|entry| after.is_none_or(|after| rank_key(entry) > after))
        .take(fetch)
        .collect();
    Ok(Json(page.page(
        "quality_ranking",
        ranked,
        rank_key,
        RankingEntry::clone,
    )))
}

/// Best first, shops without a total last, then by shop id: the ranking's order and its key.
fn rank_key(entry: &RankingEntry) -> (i64, i64) {
    (entry.total.map_or(i64::MAX, |t| -t), entry.shop_id)
}

/// The longest period a fake-stock or promises report covers.
pub const REPORT_DAYS_MAX: i64 = INDEX_DAYS_MAX;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// The period: the last `days` days up to now (1 to 92); absent: 30.
    #[param(schema_with = crate::http::schema::optional_integer::<1, 92>)]
    pub days: Option<i64>,
    /// Operators only (and required of them): the shop. A merchant's own shop when absent.
    #[param(schema_with = crate::http::schema::id)]
    pub shop_id: Option<i64>,
}

/// One signal of a sale, judged.
#[derive(Debug, Serialize, ToSchema)]
pub struct StockFindingView {
    /// `shortage_after_sale`, `shop_cancelled`, `never_dispatched` or `stock_pulled_after_sale`.
    pub signal: String,
    /// `clean`, `suspicious` or `fake_stock`.
    pub verdict: String,
    pub figures: Vec<FigureView>,
    pub message: BilingualView,
}

/// An ended flash sale, judged.
#[derive(Debug, Serialize, ToSchema)]
pub struct SaleStockView {
    pub flash_sale_id: i64,
    pub sku_id: i64,
    pub warehouse_id: i64,
    pub starts_at: String,
    pub ends_at: String,
    /// `clean`, `suspicious` or `fake_stock`: the worst of its findings.
    pub verdict: String,
    pub figures: Vec<FigureView>,
    pub findings: Vec<StockFindingView>,
    pub summary: BilingualView,
}

/// A shop's flash sales that ended in the period, latest first, each judged for fake stock.
#[derive(Debug, Serialize, ToSchema)]
pub struct FakeStockView {
    pub shop_id: i64,
    pub days: i64,
    pub from: String,
    pub to: String,
    pub sales_clean: i64,
    pub sales_suspicious: i64,
    pub sales_fake_stock: i64,
    /// At most 200 sales, the latest.
    pub sales: Vec<SaleStockView>,
}

fn sale_view(sale: &EndedSale) -> SaleStockView {
    let assessed = assess_sale(&sale.figures);
    SaleStockView {
        flash_sale_id: sale.id,
        sku_id: sale.sku,
        warehouse_id: sale.warehouse,
        starts_at: rfc3339(sale.starts_at),
        ends_at: rfc3339(sale.ends_at),
        verdict: assessed.verdict.as_str().into(),
        figures: assessed.figures.iter().map(figure_view).collect(),
        findings: assessed
            .findings
            .iter()
            .map(|f| StockFindingView {
                signal: f.signal.code().into(),
                verdict: f.verdict.as_str().into(),
                figures: f.figures.iter().map(figure_view).collect(),
                message: bilingual(&f.message),
            })
            .collect(),
        summary: bilingual(&assessed.summary),
    }
}

/// Fake stock (库存虚标): a shop's flash sales that ended in the last `days` days, each with
/// its shortages, cancellations by the shop, units never dispatched and stock added just
/// before it and removed just after, and a verdict.
#[utoipa::path(get, path = "/v1/integrity/fake-stock", tag = "integrity", params(ReportQuery),
    responses((status = 200, body = FakeStockView), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn fake_stock(
    State(state): State<AppState>,
    principal: Principal,
    QueryParams(query): QueryParams<ReportQuery>,
) -> Result<Json<FakeStockView>, ApiError> {
    let who = "fake-stock reports are for merchants and operators";
    let shop = shop_reported_to(&state, principal, query.shop_id, who).await?;
    let (days, from, to) = period(query.days, state.clock.now())?;
    let (grace_ms, pull_window_ms) = (DISPATCH_GRACE_HOURS * HOUR_MS, STOCK_PULL_WINDOW_HOURS * HOUR_MS);
    let sales = state
        .store
        .fake_stock_figures(shop.id, (from, to), grace_ms, pull_window_ms)
        .await?;
    let sales: Vec<SaleStockView> = sales.iter().map(sale_view).collect();
    let count = |verdict: Verdict| {
        let n = sales.iter().filter(|s| s.verdict == verdict.as_str()).count();
        i64::try_from(n).unwrap_or(i64::MAX)
    };
    Ok(Json(FakeStockView {
        shop_id: shop.id.get(),
        days,
        from: rfc3339(from),
        to: rfc3339(to),
        sales_clean: count(Verdict::Clean),
        sales_suspicious: count(Verdict::Suspicious),
        sales_fake_stock: count(Verdict::FakeStock),
        sales,
    }))
}

/// A warehouse's, or a warehouse's carrier service's, promises kept and broken.
#[derive(Debug, Serialize, ToSchema)]
pub struct PromiseGroupView {
    pub warehouse_id: i64,
    /// The carrier service; `null` on a warehouse's line (its parcels over every carrier).
    pub carrier: Option<String>,
    /// Parcels handed to the carrier(s), delivered, and delivered after their promise. On a
    /// carrier's line, counted since the compass counts per carrier (version 24 of the
    /// schema); a warehouse's line counts them all.
    pub shipped: i64,
    pub delivered: i64,
    pub delivered_late: i64,
    /// Parcels delivered by their promise per parcel delivered, in basis points; `null` when
    /// none was delivered.
    pub promise_kept_bps: Option<i64>,
    pub late_pickups: i64,
    pub alerts_raised: i64,
    /// Alerts still open a day or more after they were raised.
    pub alerts_unresolved: i64,
    /// `promises_missed`, `late_pickups`, `alerts_left_open`.
    pub broken: Vec<String>,
    pub explanations: Vec<BilingualView>,
}

/// Broken promises per warehouse, then per warehouse and carrier service.
#[derive(Debug, Serialize, ToSchema)]
pub struct PromisesView {
    pub shop_id: i64,
    pub days: i64,
    pub from: String,
    pub to: String,
    pub warehouses: Vec<PromiseGroupView>,
    pub carriers: Vec<PromiseGroupView>,
}

fn promise_group(warehouse: i64, carrier: Option<String>, f: &PromiseFigures) -> PromiseGroupView {
    let assessed = assess(f);
    PromiseGroupView {
        warehouse_id: warehouse,
        carrier,
        shipped: f.shipped,
        delivered: f.delivered,
        delivered_late: f.delivered_late,
        promise_kept_bps: assessed.promise_kept_bps,
        late_pickups: f.late_pickups,
        alerts_raised: f.alerts_raised,
        alerts_unresolved: f.alerts_unresolved,
        broken: assessed.broken.iter().map(|b| b.code().into()).collect(),
        explanations: assessed.explanations.iter().map(bilingual).collect(),
    }
}

/// Broken promises: a shop's promise-kept rate, late pickups and alerts left open past a day,
/// per warehouse and per warehouse and carrier service, over the last `days` days.
#[utoipa::path(get, path = "/v1/integrity/promises", tag = "integrity", params(ReportQuery),
    responses((status = 200, body = PromisesView), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn promises(
    State(state): State<AppState>,
    principal: Principal,
    QueryParams(query): QueryParams<ReportQuery>,
) -> Result<Json<PromisesView>, ApiError> {
    let who = "promise reports are for merchants and operators";
    let shop = shop_reported_to(&state, principal, query.shop_id, who).await?;
    let (days, from, to) = period(query.days, state.clock.now())?;
    let breakdown = state.store.promise_figures(shop.id, from, to).await?;
    let (by_warehouse, by_carrier) = promise_groups(&breakdown);
    Ok(Json(PromisesView {
        shop_id: shop.id.get(),
        days,
        from: rfc3339(from),
        to: rfc3339(to),
        warehouses: by_warehouse.iter().map(|(w, f)| promise_group(*w, None, f)).collect(),
        carriers: by_carrier
            .into_iter()
            .map(|((w, carrier), f)| promise_group(w, Some(carrier), &f))
            .collect(),
    }))
}

type CarrierKey = (i64, String);

/// The breakdown's figures per warehouse and per warehouse and carrier service: each group's
/// parcels from its own rows, and every alert in both its warehouse's and its carrier's group.
fn promise_groups(
    breakdown: &PromiseBreakdown,
) -> (BTreeMap<i64, PromiseFigures>, BTreeMap<CarrierKey, PromiseFigures>) {
    let mut by_warehouse: BTreeMap<i64, PromiseFigures> = BTreeMap::new();
    for w in &breakdown.warehouses {
        let f = by_warehouse.entry(w.warehouse).or_default();
        (f.shipped, f.delivered, f.delivered_late) = (w.shipped, w.delivered, w.delivered_late);
    }
    let mut by_carrier: BTreeMap<CarrierKey, PromiseFigures> = BTreeMap::new();
    for c in &breakdown.carriers {
        let f = by_carrier.entry((c.warehouse, c.carrier.clone())).or_default();
        (f.shipped, f.delivered, f.delivered_late) = (c.shipped, c.delivered, c.delivered_late);
    }
    for a in &breakdown.alerts {
        let groups = [
            by_warehouse.entry(a.warehouse).or_default(),
            by_carrier.entry((a.warehouse, a.carrier.clone())).or_default(),
        ];
        for f in groups {
            f.late_pickups += a.late_pickups;
            f.alerts_raised += a.raised;
            f.alerts_unresolved += a.open_past_day;
        }
    }
    (by_warehouse, by_carrier)
}
