//! Diagnosis reports (经营诊断) over HTTP: `POST /v1/compass/diagnosis` diagnoses a shop now
//! (a date range, or the last 7 days), `GET /v1/compass/diagnosis` lists the reports written
//! (the daily job's and those asked for), `GET /v1/compass/diagnosis/{report_id}` reads one as
//! JSON (or the printable page with `Accept: text/html`), and `…/report.html` is the page in
//! Chinese or English. A merchant diagnoses and reads their own shop's; an operator any shop's;
//! a buyer none. Another shop's report reads as not found.

mod page;

use super::extract::{JsonBody, PathIds, QueryParams};
use super::problem::{ApiError, Problem};
use super::shop_reports::shop_reported_to;
use super::validate;
use crate::app::AppState;
use crate::auth::Principal;
use crate::clock::rfc3339;
use crate::diagnosis::{self, Diagnosed, Kind, REPORT_DAYS};
use crate::idempotency::{self, Reply};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use miaodan_domain::diagnosis::{Finding, Period};
use miaodan_domain::time::shanghai::LocalDate;
use miaodan_domain::{ShopId, Timestamp};
use miaodan_store::StoredReport;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The longest period one report covers (a quarter); its baseline is as long again.
pub const REPORT_DAYS_MAX: i32 = 92;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_report, list_reports))
        .routes(routes!(get_report))
        .routes(routes!(report_page))
}

/// What to diagnose.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiagnosisRequest {
    /// The shop: required of an operator; a merchant's own shop when absent.
    #[schema(schema_with = crate::http::schema::optional_id)]
    pub shop_id: Option<i64>,
    /// The period's last day (Shanghai); absent: yesterday.
    #[schema(schema_with = crate::http::schema::optional_date)]
    pub last_day: Option<String>,
    /// How many days the period has, ending with `last_day` (1 to 92); absent: 7. The baseline
    /// is as many days just before.
    #[schema(schema_with = crate::http::schema::optional_integer::<1, 92>)]
    pub days: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Reports whose period begins on or after this day (absent: any day).
    #[param(schema_with = crate::http::schema::date)]
    pub from: Option<String>,
    /// … and on or before this one (absent: any day; before `from`: none).
    #[param(schema_with = crate::http::schema::date)]
    pub to: Option<String>,
    /// Operators only: one shop's reports (else every shop's).
    #[param(schema_with = crate::http::schema::id)]
    pub shop_id: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// `zh` or `en`; absent: from `Accept-Language`, Chinese unless English comes first.
    #[param(schema_with = crate::http::schema::report_language)]
    pub lang: Option<String>,
}

/// A run of days.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PeriodView {
    /// `YYYY-MM-DD` (a baseline before year 0 of a period asked for at year 0 reads `-001-…`).
    pub first_day: String,
    /// `YYYY-MM-DD`, inclusive.
    pub last_day: String,
    pub days: i32,
}

impl From<Period> for PeriodView {
    fn from(p: Period) -> PeriodView {
        PeriodView {
            first_day: p.first.to_string(),
            last_day: p.last().to_string(),
            days: p.days,
        }
    }
}

/// A number behind a finding.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FigureView {
    /// `current`, `baseline`, `peers`, `change_pct`, …
    pub name: String,
    pub value: i64,
    /// `count`, `fen`, `bps` (10 000 = 100 %), `percent` or `minutes`.
    pub unit: String,
}

/// A sentence in Chinese and in English.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BilingualView {
    pub zh: String,
    pub en: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FindingView {
    /// The rule's stable code (see the README's table of rules).
    pub rule: String,
    /// `info`, `warning` or `critical`.
    pub severity: String,
    /// The province, SKU or warehouse it is about; `null` for the whole shop.
    pub subject: Option<String>,
    pub figures: Vec<FigureView>,
    pub message: BilingualView,
    /// What to do about it.
    pub action: BilingualView,
}

impl From<&Finding> for FindingView {
    fn from(f: &Finding) -> FindingView {
        FindingView {
            rule: f.rule.code().into(),
            severity: f.severity.as_str().into(),
            subject: f.subject.clone(),
            figures: f
                .figures
                .iter()
                .map(|g| FigureView {
                    name: g.name.clone(),
                    value: g.value,
                    unit: g.unit.as_str().into(),
                })
                .collect(),
            message: BilingualView {
                zh: f.message.zh.clone(),
                en: f.message.en.clone(),
            },
            action: BilingualView {
                zh: f.action.zh.clone(),
                en: f.action.en.clone(),
            },
        }
    }
}

/// A diagnosis report.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReportView {
    pub id: i64,
    pub shop_id: i64,
    pub shop_name: String,
    /// The shop's category when the report was written.
    #[schema(schema_with = crate::http::schema::shop_category)]
    pub category: String,
    /// `daily` (written after Shanghai midnight) or `on_demand`.
    pub kind: String,
    pub period: PeriodView,
    /// The period compared with: as long, just before.
    pub baseline: PeriodView,
    /// How many other shops of the category had figures (peers are compared from 3 on).
    pub peer_shops: i64,
    pub created_at: String,
    /// The most severe first.
    pub findings: Vec<FindingView>,
}

impl From<&Diagnosed> for ReportView {
    fn from(d: &Diagnosed) -> ReportView {
        ReportView {
            id: d.id,
            shop_id: d.shop.id.get(),
            shop_name: d.shop.name.as_str().into(),
            category: d.shop.category.as_str().into(),
            kind: d.kind.as_str().into(),
            period: d.history.current.into(),
            baseline: d.history.baseline.into(),
            peer_shops: d.history.peer_shops,
            created_at: rfc3339(d.at),
            findings: d.findings.iter().map(FindingView::from).collect(),
        }
    }
}

/// A report as the store keeps it: its JSON answer.
pub fn stored_body(d: &Diagnosed) -> Result<String, String> {
    serde_json::to_string(&ReportView::from(d)).map_err(|e| e.to_string())
}

/// A report in a list: its period and how many findings of each severity.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportSummary {
    pub id: i64,
    pub shop_id: i64,
    pub kind: String,
    pub period: PeriodView,
    pub created_at: String,
    pub critical: usize,
    pub warning: usize,
    pub info: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReportList {
    /// Newest period first; at most 500.
    pub reports: Vec<ReportSummary>,
}

const WHO_READS: &str = "diagnosis reports are for merchants and operators";

fn forbidden() -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", WHO_READS)
}

fn date(raw: &str, field: &str) -> Result<LocalDate, ApiError> {
    LocalDate::parse(raw).ok_or_else(|| ApiError::invalid("invalid_field", field, "a date, YYYY-MM-DD"))
}

/// The period asked for: `days` days ending with `last_day`, by default the 7 days before today.
fn period_of(request: &DiagnosisRequest, now: Timestamp) -> Result<Period, ApiError> {
    let last = match &request.last_day {
        Some(raw) => date(raw, "last_day")?,
        None => LocalDate::of(now).plus_days(-1),
    };
    let days = request.days.unwrap_or(i64::from(REPORT_DAYS));
    let days = i32::try_from(days)
        .ok()
        .filter(|d| (1..=REPORT_DAYS_MAX).contains(d))
        .ok_or_else(|| {
            ApiError::invalid(
                "invalid_field",
                "days",
                format!("a report covers 1 to {REPORT_DAYS_MAX} days"),
            )
        })?;
    Ok(Period::ending_before(last.plus_days(1), days))
}

/// Diagnose a shop now (the report is stored, and listed with the daily ones).
#[utoipa::path(post, path = "/v1/compass/diagnosis", tag = "compass", request_body = DiagnosisRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses((status = 201, body = ReportView), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn create_report(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: JsonBody<DiagnosisRequest>,
) -> Response {
    let request = ("POST", "/v1/compass/diagnosis", &body.raw[..]);
    idempotency::run(&state, principal, &headers, request, |idem| async {
        let shop = shop_reported_to(&state, principal, body.value.shop_id, WHO_READS).await?;
        let period = period_of(&body.value, state.clock.now())?;
        state.shards.decide_here(shop.id)?;
        let report = diagnosis::write(&state, &shop, period, Kind::OnDemand, stored_body)
            .await?
            .ok_or_else(|| ApiError::unavailable("the report could not be stored; retry"))?;
        metrics::counter!("miaodan_diagnosis_reports_total", "kind" => "on_demand").increment(1);
        let reply = Reply::json(StatusCode::CREATED, &ReportView::from(&report));
        // The answer is kept with the shop's shard's next batch: a retry after a crash in
        // between writes a second report of the same figures, which is harmless.
        idempotency::remember(&state, shop.id, idem, reply).await
    })
    .await
}

fn summary(stored: &StoredReport) -> Result<ReportSummary, ApiError> {
    let view = decoded(stored)?;
    let count = |severity: &str| view.findings.iter().filter(|f| f.severity == severity).count();
    Ok(ReportSummary {
        id: stored.id,
        shop_id: stored.shop.get(),
        kind: stored.kind.clone(),
        period: stored.period.into(),
        created_at: rfc3339(stored.created_at),
        critical: count("critical"),
        warning: count("warning"),
        info: count("info"),
    })
}

fn decoded(stored: &StoredReport) -> Result<ReportView, ApiError> {
    serde_json::from_str(&stored.body).map_err(|error| {
        tracing::error!(%error, report = stored.id, "a stored report does not decode");
        ApiError::unavailable("the report cannot be read")
    })
}

/// List diagnosis reports by the day their period begins.
#[utoipa::path(get, path = "/v1/compass/diagnosis", tag = "compass", params(ListQuery),
    responses((status = 200, body = ReportList), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn list_reports(
    State(state): State<AppState>,
    principal: Principal,
    QueryParams(query): QueryParams<ListQuery>,
) -> Result<Json<ReportList>, ApiError> {
    let asked = query
        .shop_id
        .map(|raw| validate::positive_id(raw, "shop_id"))
        .transpose()?;
    let shop = match principal {
        Principal::Buyer(_) => return Err(forbidden()),
        Principal::Admin => asked.and_then(ShopId::new),
        Principal::Merchant(own) if asked.is_none_or(|a| a == own.get()) => Some(own),
        Principal::Merchant(_) => return Err(ApiError::not_found("shop")),
    };
    let first = match &query.from {
        Some(raw) => date(raw, "from")?,
        None => LocalDate::from_days_since_epoch(i32::MIN / 2),
    };
    let end = match &query.to {
        Some(raw) => date(raw, "to")?.plus_days(1),
        None => LocalDate::from_days_since_epoch(i32::MAX / 2),
    };
    // A range that ends before it begins holds no report.
    let stored = state.store.diagnosis_reports(shop, first, end).await?;
    let reports = stored.iter().map(summary).collect::<Result<_, _>>()?;
    Ok(Json(ReportList { reports }))
}

/// The report `report_id`, if the caller may read it.
async fn readable(state: &AppState, principal: Principal, ids: &PathIds) -> Result<StoredReport, ApiError> {
    if matches!(principal, Principal::Buyer(_)) {
        return Err(forbidden());
    }
    let stored = state.store.diagnosis_report(ids.one()).await?;
    let visible = |r: &StoredReport| principal == Principal::Admin || principal == Principal::Merchant(r.shop);
    stored.filter(visible).ok_or_else(|| ApiError::not_found("report"))
}

/// Read a report: JSON, or the printable page when `Accept` asks for `text/html`.
#[utoipa::path(get, path = "/v1/compass/diagnosis/{report_id}", tag = "compass",
    params(("report_id" = i64, Path), PageQuery),
    responses((status = 200, description = "The report; the printable page for `Accept: text/html`",
            content((ReportView = "application/json"), (String = "text/html"))),
        (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_report(
    State(state): State<AppState>,
    principal: Principal,
    ids: PathIds,
    headers: HeaderMap,
    QueryParams(query): QueryParams<PageQuery>,
) -> Result<Response, ApiError> {
    let language = page::language(query.lang.as_deref(), &headers)?;
    let report = decoded(&readable(&state, principal, &ids).await?)?;
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    if accept.contains("text/html") {
        return Ok(page::render(&report, language));
    }
    Ok(Json(report).into_response())
}

/// A report as a printable HTML page, in Chinese or English.
#[utoipa::path(get, path = "/v1/compass/diagnosis/{report_id}/report.html", tag = "compass",
    params(("report_id" = i64, Path), PageQuery),
    responses((status = 200, body = String, content_type = "text/html"), (status = 400, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn report_page(
    State(state): State<AppState>,
    principal: Principal,
    ids: PathIds,
    headers: HeaderMap,
    QueryParams(query): QueryParams<PageQuery>,
) -> Result<Response, ApiError> {
    let language = page::language(query.lang.as_deref(), &headers)?;
    let report = decoded(&readable(&state, principal, &ids).await?)?;
    Ok(page::render(&report, language))
}
