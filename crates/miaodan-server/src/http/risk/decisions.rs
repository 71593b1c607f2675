//! Risk's decisions over HTTP. For platform operators: the review queue
//! (`GET /v1/risk/decisions`), a person's review of one (`POST /v1/risk/decisions/{id}/review`)
//! and a buyer's links and history (`GET /v1/risk/buyers/{id}`). For a sale's merchant (and
//! operators): the sale's risk report (`GET /v1/flash-sales/{id}/risk`) and its strict mode
//! (`PUT /v1/flash-sales/{id}/risk-mode`).
//!
//! The decisions are the ones the shards kept (see `RiskBook::screen`): a tap, a checkout's
//! part, a payment attempt or an after-sales request refused (an after-sales request is never
//! refused: it goes to its merchant instead of a flash refund), let through for review, or one
//! a rule in shadow would have answered otherwise — a tap's or a checkout's at most once a
//! minute per buyer while its verdict stays the same.

use crate::app::AppState;
use crate::auth::{Admin, Principal};
use crate::clock::rfc3339;
use crate::http::extract::{JsonBody, PathIds};
use crate::http::flash_sales::controls::{SaleManager, managed_shop};
use crate::http::page::{ListQuery, Page, PageQuery};
use crate::http::problem::{ApiError, Problem};
use crate::http::validate;
use crate::idempotency::{self, Reply};
use crate::risk_policy::announce_strict;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use miaodan_domain::BuyerId;
use miaodan_domain::risk::{FiredRule, Subject, Verdict};
use miaodan_domain::shard::{RiskCluster, RiskClusterQuestion};
use miaodan_store::records::Keyset;
use miaodan_store::{DecisionFilter, Review, StoredDecision};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

/// The buyers of a cluster listed at most (its size is always given).
pub const CLUSTER_MEMBERS_MAX: usize = 50;
/// A buyer's newest decisions shown with its links.
pub const BUYER_DECISIONS_SHOWN: i64 = 20;

/// A verdict, as a filter.
#[derive(Clone, Copy, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RiskVerdictName {
    Allow,
    Review,
    Challenge,
    Block,
}

impl From<RiskVerdictName> for Verdict {
    fn from(name: RiskVerdictName) -> Verdict {
        match name {
            RiskVerdictName::Allow => Verdict::Allow,
            RiskVerdictName::Review => Verdict::Review,
            RiskVerdictName::Challenge => Verdict::Challenge,
            RiskVerdictName::Block => Verdict::Block,
        }
    }
}

/// What a decision is about, as a filter.
#[derive(Clone, Copy, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RiskSubjectKind {
    Tap,
    Checkout,
    Payment,
    AfterSales,
}

impl RiskSubjectKind {
    fn as_str(self) -> &'static str {
        let index = match self {
            RiskSubjectKind::Tap => 0,
            RiskSubjectKind::Checkout => 1,
            RiskSubjectKind::Payment => 2,
            RiskSubjectKind::AfterSales => 3,
        };
        Subject::KINDS[index]
    }
}

/// Where a decision's review stands, as a filter.
#[derive(Clone, Copy, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RiskReviewName {
    Open,
    Cleared,
    Confirmed,
}

impl From<RiskReviewName> for Review {
    fn from(name: RiskReviewName) -> Review {
        match name {
            RiskReviewName::Open => Review::Open,
            RiskReviewName::Cleared => Review::Cleared,
            RiskReviewName::Confirmed => Review::Confirmed,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RiskDecisionsQuery {
    /// Only decisions with this verdict (`review`: the taps let through for a person to look at).
    #[param(inline)]
    pub verdict: Option<RiskVerdictName>,
    /// Only decisions whose review stands so (`open`: nobody has looked yet).
    #[param(inline)]
    pub review: Option<RiskReviewName>,
    /// Only decisions about taps, checkouts, payments or after-sales requests.
    #[param(inline)]
    pub kind: Option<RiskSubjectKind>,
    #[param(schema_with = crate::http::schema::id)]
    pub shop_id: Option<i64>,
    #[param(schema_with = crate::http::schema::id)]
    pub flash_sale_id: Option<i64>,
    #[param(schema_with = crate::http::schema::id)]
    pub buyer_id: Option<i64>,
}

/// A rule that fired in a decision, with the value it fired on.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RiskFiredRuleView {
    pub code: String,
    /// The signal it read (README "Risk control").
    pub signal: String,
    pub value: i64,
    pub threshold: i64,
    /// Added to the score (0 for a rule in shadow).
    pub points: u32,
    pub shadow: bool,
}

/// A kept decision and where its review stands.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RiskDecisionView {
    /// The decision's id, drawn from the order ids: a tap's or a checkout's is the id of its
    /// order (placed when `ordered`, never used otherwise); a payment's and an after-sales
    /// request's is one of their own.
    pub id: i64,
    /// `tap` (a flash sale's), `checkout` (one shop's part of a checkout), `payment` (an attempt
    /// to pay an intent) or `after_sales` (a buyer's request).
    pub kind: String,
    pub shop_id: i64,
    /// The tap's sale; `null` for anything else.
    pub flash_sale_id: Option<i64>,
    /// The payment intent, for a payment.
    pub payment_intent_id: Option<i64>,
    /// The after-sales request, for one.
    pub after_sales_id: Option<i64>,
    pub buyer_id: i64,
    /// The request went ahead: its order placed (id `id`; a tap's units were there), its
    /// payment attempt begun, its after-sales request opened.
    pub ordered: bool,
    /// `allow`, `review`, `challenge` or `block`.
    pub verdict: String,
    /// The verdict had the rules in shadow counted too.
    pub shadow_verdict: String,
    pub score: u32,
    pub rule_set_version: u32,
    /// Risk was on: a challenge or block refused the tap. `false`: risk ran in shadow.
    pub enforced: bool,
    /// The sale was in strict mode.
    pub strict: bool,
    /// A challenge let through as a review because the buyer had stepped up (answered a
    /// challenge: `POST /v1/risk/challenges/{id}/answer`).
    pub stepped_up: bool,
    pub fired: Vec<RiskFiredRuleView>,
    pub at: String,
    /// `open`, `cleared` (honest) or `confirmed` (a scalper or a fraud).
    pub review: String,
    pub reviewed_at: Option<String>,
    pub review_note: Option<String>,
}

fn fired_view(f: &FiredRule) -> RiskFiredRuleView {
    RiskFiredRuleView {
        code: f.code.clone(),
        signal: f.signal.as_str().into(),
        value: f.value,
        threshold: f.threshold,
        points: f.points,
        shadow: f.shadow,
    }
}

fn decision_view(stored: &StoredDecision) -> RiskDecisionView {
    let d = &stored.decision;
    RiskDecisionView {
        id: d.id.get(),
        shop_id: d.shop.get(),
        kind: d.subject.kind().into(),
        flash_sale_id: d.subject.sale().map(|s| s.get()),
        payment_intent_id: match d.subject {
            Subject::Payment { intent } => Some(intent.get()),
            _ => None,
        },
        after_sales_id: match d.subject {
            Subject::AfterSales { request } => Some(request.get()),
            _ => None,
        },
        buyer_id: d.buyer.get(),
        ordered: d.ordered,
        verdict: d.assessment.verdict.as_str().into(),
        shadow_verdict: d.assessment.shadow_verdict.as_str().into(),
        score: d.assessment.score,
        rule_set_version: d.assessment.rule_set_version,
        enforced: d.enforced,
        strict: d.strict,
        stepped_up: d.assessment.stepped_up,
        fired: d.assessment.fired.iter().map(fired_view).collect(),
        at: rfc3339(d.at),
        review: stored.review.as_str().into(),
        reviewed_at: stored.reviewed_at.map(rfc3339),
        review_note: stored.review_note.clone(),
    }
}

/// The review queue: kept decisions, newest first, filtered.
#[utoipa::path(get, path = "/v1/risk/decisions", tag = "risk", params(RiskDecisionsQuery, PageQuery),
    responses((status = 200, body = Page<RiskDecisionView>), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn list_decisions(
    State(state): State<AppState>,
    _: Admin,
    ListQuery { page, filter: query }: ListQuery<RiskDecisionsQuery>,
) -> Result<Json<Page<RiskDecisionView>>, ApiError> {
    let filter = DecisionFilter {
        shop: id_of(query.shop_id, "shop_id", miaodan_domain::ShopId::new)?,
        sale: id_of(
            query.flash_sale_id,
            "flash_sale_id",
            miaodan_domain::flash_sale::FlashSaleId::new,
        )?,
        buyer: id_of(query.buyer_id, "buyer_id", BuyerId::new)?,
        verdict: query.verdict.map(Verdict::from),
        review: query.review.map(Review::from),
        kind: query.kind.map(RiskSubjectKind::as_str),
    };
    let keyset = page.keyset::<i64>("risk_decisions")?;
    let rows = state.store.risk_decisions(&filter, keyset).await?;
    Ok(Json(page.page(
        "risk_decisions",
        rows,
        |d| d.decision.id.get(),
        decision_view,
    )))
}

/// A filter's id, refused when it names nothing (never read as no filter).
fn id_of<T>(raw: Option<i64>, field: &str, make: fn(i64) -> Option<T>) -> Result<Option<T>, ApiError> {
    raw.map(|raw| make(raw).ok_or_else(|| ApiError::invalid("invalid_field", field, "a positive id")))
        .transpose()
}

/// A person's review of a decision.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RiskReviewInput {
    /// `cleared` (the buyer is honest) or `confirmed` (a scalper or a fraud).
    pub outcome: RiskReviewOutcome,
    /// What the reviewer found.
    #[schema(schema_with = crate::http::schema::text::<500>)]
    pub note: String,
}

#[derive(Clone, Copy, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RiskReviewOutcome {
    Cleared,
    Confirmed,
}

/// Review a kept decision (once). A confirmed decision whose tap ordered leaves the order as
/// it is: cancel it with `POST /v1/orders/{id}/cancel` (`platform_cancelled`) if it is unpaid,
/// or through after-sales once paid.
#[utoipa::path(post, path = "/v1/risk/decisions/{decision_id}/review", tag = "risk", request_body = RiskReviewInput,
    params(("decision_id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "the decision, reviewed", body = RiskDecisionView),
        (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "`already_reviewed`", body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn review_decision(
    State(state): State<AppState>,
    _: Admin,
    ids: PathIds,
    headers: HeaderMap,
    body: JsonBody<RiskReviewInput>,
) -> Response {
    let path = format!("/v1/risk/decisions/{}/review", ids.one());
    idempotency::run(
        &state,
        Principal::Admin,
        &headers,
        ("POST", &path, &body.raw[..]),
        |idem| async {
            let note = validate::text::<500>(&body.value.note, "note")?.as_str().to_string();
            let review = match body.value.outcome {
                RiskReviewOutcome::Cleared => Review::Cleared,
                RiskReviewOutcome::Confirmed => Review::Confirmed,
            };
            let id = ids.one();
            let found = state.store.risk_decision(id).await?;
            let decision = found.ok_or_else(|| ApiError::not_found("risk decision"))?;
            if decision.review != Review::Open {
                return Err(already_reviewed(&decision));
            }
            let at = state.clock.now();
            let reviewed = StoredDecision {
                review,
                reviewed_at: Some(at),
                review_note: Some(note.clone()),
                ..decision
            };
            let reply = Reply::json(StatusCode::OK, &decision_view(&reviewed));
            let record = idem.map(|i| i.record(&reply));
            state
                .store
                .review_risk_decision(id, review, &note, at, record.as_ref())
                .await?;
            // Two reviewers at once: the first review stands, the second is told so.
            match state.store.risk_decision(id).await? {
                Some(now) if now.reviewed_at == Some(at) && now.review == review => Ok(reply),
                Some(now) => Err(already_reviewed(&now)),
                None => Err(ApiError::not_found("risk decision")),
            }
        },
    )
    .await
}

fn already_reviewed(decision: &StoredDecision) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "already_reviewed",
        format!("the decision was reviewed already: {}", decision.review.as_str()),
    )
}

/// The buyers one buyer is linked to in one shard's memory.
#[derive(Debug, Serialize, ToSchema)]
pub struct RiskClusterView {
    pub shard: u32,
    /// Buyers linked through shared devices, flats and credentials, this one included.
    pub size: u32,
    /// The first of them by id (at most 50).
    pub buyer_ids: Vec<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BuyerRiskView {
    pub buyer_id: i64,
    /// The clusters it is in (one per shard whose shops it tapped in, with another buyer linked);
    /// empty when no shard links it to anyone. Memory is rebuilt empty at a restart.
    pub clusters: Vec<RiskClusterView>,
    /// Its newest kept decisions (at most 20).
    pub decisions: Vec<RiskDecisionView>,
}

/// A buyer's links and kept decisions: who it shares devices, flats and credentials with.
#[utoipa::path(get, path = "/v1/risk/buyers/{buyer_id}", tag = "risk", params(("buyer_id" = i64, Path)),
    responses((status = 200, body = BuyerRiskView), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn buyer_risk(
    State(state): State<AppState>,
    _: Admin,
    ids: PathIds,
) -> Result<Json<BuyerRiskView>, ApiError> {
    let buyer = BuyerId::new(ids.one()).ok_or_else(|| ApiError::not_found("buyer"))?;
    state
        .store
        .buyer(buyer)
        .await?
        .ok_or_else(|| ApiError::not_found("buyer"))?;
    let mut clusters = Vec::new();
    for shard in 0..state.shards.count() {
        let question = RiskClusterQuestion {
            buyer,
            limit: CLUSTER_MEMBERS_MAX,
        };
        let RiskCluster { size, members } = state.shards.inquire(shard as usize, question).await?;
        if size > 1 {
            let buyer_ids = members.iter().map(|b| b.get()).collect();
            clusters.push(RiskClusterView { shard, size, buyer_ids });
        }
    }
    let filter = DecisionFilter {
        buyer: Some(buyer),
        ..DecisionFilter::default()
    };
    let page = Keyset {
        after: None,
        limit: BUYER_DECISIONS_SHOWN,
    };
    let decisions = state.store.risk_decisions(&filter, page).await?;
    Ok(Json(BuyerRiskView {
        buyer_id: buyer.get(),
        clusters,
        decisions: decisions.iter().map(decision_view).collect(),
    }))
}

/// A sale's kept decisions of one verdict, acted on or in shadow.
#[derive(Debug, Serialize, ToSchema)]
pub struct RiskVerdictCount {
    pub verdict: String,
    /// `true`: risk was on and the verdict acted; `false`: only recorded (risk in shadow).
    pub enforced: bool,
    pub decisions: i64,
    /// Those whose tap still placed an order (a review lets the tap through).
    pub ordered: i64,
    pub buyers: i64,
}

/// How often a rule fired in a sale's kept decisions.
#[derive(Debug, Serialize, ToSchema)]
pub struct RiskRuleCount {
    pub code: String,
    pub shadow: bool,
    pub decisions: i64,
}

/// A flash sale's risk report.
#[derive(Debug, Serialize, ToSchema)]
pub struct SaleRiskView {
    pub flash_sale_id: i64,
    /// The merchant asked for strict mode: the thresholds are lowered for this sale.
    pub strict: bool,
    pub verdicts: Vec<RiskVerdictCount>,
    /// The rules that fired, most first (over the sale's newest 10 000 kept decisions).
    pub rules: Vec<RiskRuleCount>,
}

/// A flash sale's risk report: its kept decisions by verdict and the rules behind them (the
/// sale's merchant or an operator; no buyer is named).
#[utoipa::path(get, path = "/v1/flash-sales/{flash_sale_id}/risk", tag = "risk", params(("flash_sale_id" = i64, Path)),
    responses((status = 200, body = SaleRiskView), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn sale_risk(
    State(state): State<AppState>,
    SaleManager(principal): SaleManager,
    ids: PathIds,
) -> Result<Json<SaleRiskView>, ApiError> {
    let (sale, shop) = managed_shop(&state, principal, ids.one()).await?;
    let counts = state.store.sale_decision_counts(shop, sale).await?;
    let verdicts = counts
        .by_verdict
        .iter()
        .map(|(verdict, enforced, decisions, ordered, buyers)| RiskVerdictCount {
            verdict: verdict.as_str().into(),
            enforced: *enforced,
            decisions: *decisions,
            ordered: *ordered,
            buyers: *buyers,
        })
        .collect();
    let mut by_rule: BTreeMap<(String, bool), i64> = BTreeMap::new();
    // The store read the newest SALE_RULES_READ_MAX decisions' rules, no more.
    for fired in &counts.fired {
        for rule in fired {
            *by_rule.entry((rule.code.clone(), rule.shadow)).or_default() += 1;
        }
    }
    let mut rules: Vec<RiskRuleCount> = by_rule
        .into_iter()
        .map(|((code, shadow), decisions)| RiskRuleCount {
            code,
            shadow,
            decisions,
        })
        .collect();
    rules.sort_by(|a, b| b.decisions.cmp(&a.decisions).then_with(|| a.code.cmp(&b.code)));
    Ok(Json(SaleRiskView {
        flash_sale_id: sale.get(),
        strict: state.store.is_sale_strict(shop, sale).await?,
        verdicts,
        rules,
    }))
}

/// A sale's strict mode.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RiskModeInput {
    /// `true`: every threshold of the rule set is lowered to its `strict_percent` for this sale
    /// (a hot drop); `false`: the rule set as it is.
    pub strict: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SaleRiskModeView {
    pub flash_sale_id: i64,
    pub strict: bool,
}

/// Put a flash sale in strict mode or take it out (its merchant or an operator): the taps
/// after the answer are screened so. Setting what is set already changes nothing.
#[utoipa::path(put, path = "/v1/flash-sales/{flash_sale_id}/risk-mode", tag = "risk", request_body = RiskModeInput,
    params(("flash_sale_id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = SaleRiskModeView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn set_sale_risk_mode(
    State(state): State<AppState>,
    SaleManager(principal): SaleManager,
    ids: PathIds,
    headers: HeaderMap,
    body: JsonBody<RiskModeInput>,
) -> Response {
    let path = format!("/v1/flash-sales/{}/risk-mode", ids.one());
    idempotency::run(
        &state,
        principal,
        &headers,
        ("PUT", &path, &body.raw[..]),
        |idem| async {
            let (sale, shop) = managed_shop(&state, principal, ids.one()).await?;
            let strict = body.value.strict;
            let view = SaleRiskModeView {
                flash_sale_id: sale.get(),
                strict,
            };
            let reply = Reply::json(StatusCode::OK, &view);
            let record = idem.map(|i| i.record(&reply));
            let now = state.clock.now();
            state
                .store
                .set_sale_strict(shop, sale, strict, now, record.as_ref())
                .await?;
            announce_strict(&state.shards, shop, sale, strict).await?;
            Ok(reply)
        },
    )
    .await
}
