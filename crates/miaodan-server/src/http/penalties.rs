//! Penalties and the deposit (保证金) over HTTP. Operators issue a penalty to a shop
//! (`POST /v1/penalties`), list them (`GET /v1/penalties?shop_id=&state=`), decide an appeal
//! (`POST /v1/penalties/{id}/decision`) and top up a shop's deposit
//! (`POST /v1/deposits/{shop_id}/entries`). A merchant reads its own shop's penalties, appeals
//! one once while it is in force (`POST /v1/penalties/{id}/appeal`) and reads its deposit
//! (`GET /v1/deposit`). Another shop's penalty reads as not found; a buyer is refused 403.
//!
//! A `deposit_deduction` takes its amount from the deposit when it is issued, in the same
//! transaction (refused 409 `deposit_insufficient` over the balance, and then nothing is
//! issued); revoking it refunds the amount. The caps and suspensions bite where flash sales
//! are scheduled ([`sale_allowed`]).

use super::extract::{JsonBody, PathIds, QueryParams};
use super::page::{ListQuery, Page, PageQuery};
use super::problem::{ApiError, Problem};
use super::validate;
use crate::app::AppState;
use crate::auth::{Admin, Merchant, Principal};
use crate::clock::{self, rfc3339};
use crate::idempotency::{self, Idempotency, Reply};
use crate::staff::SignedIn;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::{Extension, Json};
use miaodan_domain::integrity::penalty::{
    Decision, DepositEntryKind, DepositRefusal, FLASH_UNITS_CAP_MAX, PENALTY_TEXT_CHARS_MAX, Penalty, PenaltyKind,
    PenaltyRefusal, PenaltyState, SaleRefusal, check_flash_sale,
};
use miaodan_domain::{ShopId, Timestamp};
use miaodan_store::{DepositEntry, NewDepositEntry, PenaltyFilter, StoredPenalty, insert_penalty, update_penalty};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The entries a deposit's view shows: the latest (a ledger grows by a few entries a year).
pub const DEPOSIT_ENTRIES_SHOWN: i64 = 100;
/// The longest finding code (`fake_stock`, …), in characters.
pub const FINDING_CODE_CHARS_MAX: usize = 64;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(issue_penalty, list_penalties))
        .routes(routes!(get_penalty))
        .routes(routes!(appeal_penalty))
        .routes(routes!(decide_penalty))
        .routes(routes!(top_up_deposit))
        .routes(routes!(get_deposit))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPenalty {
    #[serde(deserialize_with = "crate::http::extract::integer")]
    #[schema(schema_with = crate::http::schema::id)]
    pub shop_id: i64,
    /// `warning`, `flash_units_cap` (with `units`), `new_sales_suspended` (with `until`) or
    /// `deposit_deduction` (with `amount_fen`); a parameter of another kind is refused.
    #[schema(schema_with = crate::http::schema::penalty_kind)]
    pub kind: String,
    /// `flash_units_cap`: the most units a flash sale of the shop may have.
    #[serde(default, deserialize_with = "crate::http::extract::optional_integer")]
    #[schema(schema_with = crate::http::schema::optional_integer::<1, 1_000_000>)]
    pub units: Option<i64>,
    /// `new_sales_suspended`: when the suspension ends (RFC 3339, in the future).
    #[schema(schema_with = crate::http::schema::optional_instant)]
    pub until: Option<String>,
    /// `deposit_deduction`: fen taken from the deposit.
    #[serde(default, deserialize_with = "crate::http::extract::optional_integer")]
    #[schema(schema_with = crate::http::schema::optional_integer::<1, 10_000_000_000>)]
    pub amount_fen: Option<i64>,
    #[schema(schema_with = crate::http::schema::text::<2000>)]
    pub reason: String,
    /// The finding the penalty answers, e.g. `fake_stock`.
    #[schema(schema_with = crate::http::schema::optional_text::<64>)]
    pub finding_code: Option<String>,
    /// What the finding is about, e.g. the flash sale's id.
    #[serde(default, deserialize_with = "crate::http::extract::optional_integer")]
    #[schema(schema_with = crate::http::schema::optional_id)]
    pub finding_subject: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppealInput {
    #[schema(schema_with = crate::http::schema::text::<2000>)]
    pub text: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionInput {
    /// `uphold` (an appealed penalty) or `revoke` (appealed or in force).
    #[schema(schema_with = crate::http::schema::penalty_decision)]
    pub decision: String,
    #[schema(schema_with = crate::http::schema::text::<2000>)]
    pub note: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DepositTopUp {
    #[serde(deserialize_with = "crate::http::extract::integer")]
    #[schema(schema_with = crate::http::schema::integer::<1, 10_000_000_000>)]
    pub amount_fen: i64,
    #[schema(schema_with = crate::http::schema::optional_text::<2000>)]
    pub note: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PenaltyQuery {
    /// Operators: one shop's penalties (a merchant always reads its own).
    #[param(schema_with = crate::http::schema::id)]
    pub shop_id: Option<i64>,
    #[param(schema_with = crate::http::schema::optional_penalty_state)]
    pub state: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DepositQuery {
    /// Operators only (and required of them): the shop.
    #[param(schema_with = crate::http::schema::id)]
    pub shop_id: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PenaltyView {
    pub id: i64,
    pub shop_id: i64,
    /// `warning`, `flash_units_cap`, `new_sales_suspended` or `deposit_deduction`.
    pub kind: String,
    pub units: Option<i64>,
    pub until: Option<String>,
    pub amount_fen: Option<i64>,
    pub reason: String,
    pub finding_code: Option<String>,
    pub finding_subject: Option<i64>,
    /// `in_force`, `appealed`, `upheld`, `revoked` or `expired`, at the time of the answer.
    pub state: String,
    pub issued_at: String,
    pub appeal_text: Option<String>,
    pub appealed_at: Option<String>,
    pub decision_note: Option<String>,
    /// `admin` (an API token) or `staff:<login>` (a console session).
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
}

impl PenaltyView {
    fn new(p: &StoredPenalty, now: Timestamp) -> PenaltyView {
        let (units, until, amount_fen) = match p.penalty.kind {
            PenaltyKind::Warning => (None, None, None),
            PenaltyKind::FlashUnitsCap { units } => (Some(units), None, None),
            PenaltyKind::NewSalesSuspended { until } => (None, Some(rfc3339(until)), None),
            PenaltyKind::DepositDeduction { amount } => (None, None, Some(amount.get())),
        };
        PenaltyView {
            id: p.id,
            shop_id: p.shop.get(),
            kind: p.penalty.kind.code().into(),
            units,
            until,
            amount_fen,
            reason: p.reason.clone(),
            finding_code: p.finding_code.clone(),
            finding_subject: p.finding_subject,
            state: p.penalty.state_at(now).as_str().into(),
            issued_at: rfc3339(p.issued_at),
            appeal_text: p.appeal_text.clone(),
            appealed_at: p.appealed_at.map(rfc3339),
            decision_note: p.decision_note.clone(),
            decided_by: p.decided_by.clone(),
            decided_at: p.decided_at.map(rfc3339),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DepositEntryView {
    /// 1, 2, 3, … per shop, in the order written.
    pub seq: i64,
    /// `deposit`, `deduction` or `refund`.
    pub kind: String,
    pub amount_fen: i64,
    /// The balance after this entry.
    pub balance_fen: i64,
    pub penalty_id: Option<i64>,
    pub note: Option<String>,
    pub at: String,
}

impl From<&DepositEntry> for DepositEntryView {
    fn from(e: &DepositEntry) -> DepositEntryView {
        DepositEntryView {
            seq: e.seq,
            kind: e.kind.as_str().into(),
            amount_fen: e.amount.get(),
            balance_fen: e.balance.get(),
            penalty_id: e.penalty,
            note: e.note.clone(),
            at: rfc3339(e.at),
        }
    }
}

/// A shop's deposit: its balance and its latest entries, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct DepositView {
    pub shop_id: i64,
    pub balance_fen: i64,
    /// At most the latest 100.
    pub entries: Vec<DepositEntryView>,
}

fn conflict(code: &'static str, detail: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, code, detail)
}

fn deposit_refusal(refusal: DepositRefusal) -> ApiError {
    match refusal {
        DepositRefusal::Insufficient { balance } => conflict(
            refusal.code(),
            format!(
                "the deduction is larger than the shop's deposit ({} fen)",
                balance.get()
            ),
        ),
        DepositRefusal::Overflow => conflict(refusal.code(), "the balance would pass what an amount holds"),
    }
}

fn penalty_refusal(refusal: PenaltyRefusal) -> ApiError {
    let detail = match refusal {
        PenaltyRefusal::NotAppealable => "only an in-force penalty is appealed, and only once",
        PenaltyRefusal::NotDecidable => {
            "upholding needs an appeal; a decided, revoked or expired penalty is not decided again"
        }
    };
    conflict(refusal.code(), detail)
}

/// Whether `shop` may schedule a flash sale of `units` now: 409 `penalty_sales_suspended` or
/// `penalty_flash_units_cap` when a penalty forbids it.
pub async fn sale_allowed(state: &AppState, shop: ShopId, units: i64) -> Result<(), ApiError> {
    let now = state.clock.now();
    let penalties = state.store.sale_penalties(shop, now).await?;
    check_flash_sale(&penalties, units, now).map_err(sale_refusal)
}

/// Whether a sale of `shop` may grow to `units_after` by a top-up now: a cap forbids a top-up
/// past it (a suspension forbids new sales, not the units of one already scheduled).
pub async fn top_up_allowed(state: &AppState, shop: ShopId, units_after: i64) -> Result<(), ApiError> {
    let now = state.clock.now();
    let caps: Vec<Penalty> = state
        .store
        .sale_penalties(shop, now)
        .await?
        .into_iter()
        .filter(|p| matches!(p.kind, PenaltyKind::FlashUnitsCap { .. }))
        .collect();
    check_flash_sale(&caps, units_after, now).map_err(sale_refusal)
}

fn sale_refusal(refusal: SaleRefusal) -> ApiError {
    match refusal {
        SaleRefusal::SalesSuspended { until } => conflict(
            refusal.code(),
            format!("a penalty suspends the shop's new sales until {}", rfc3339(until)),
        ),
        SaleRefusal::FlashUnitsCap { cap } => conflict(
            refusal.code(),
            format!("a penalty caps the shop's flash sales at {cap} units"),
        )
        .field("units"),
    }
}

fn text(raw: &str, field: &str) -> Result<String, ApiError> {
    Ok(validate::text::<PENALTY_TEXT_CHARS_MAX>(raw, field)?
        .as_str()
        .to_string())
}

fn unexpected(field: &str, kind: &str) -> ApiError {
    ApiError::invalid(
        "invalid_field",
        field,
        format!("`{field}` does not go with a `{kind}` penalty"),
    )
}

/// The penalty's kind from the body: its own parameter required, the others refused.
fn kind_of(input: &NewPenalty, now: Timestamp) -> Result<PenaltyKind, ApiError> {
    let needs = |field: &str| {
        ApiError::invalid(
            "invalid_field",
            field,
            format!("a `{}` penalty needs `{field}`", input.kind),
        )
    };
    let kind = match input.kind.as_str() {
        "warning" => PenaltyKind::Warning,
        "flash_units_cap" => {
            let units = input.units.ok_or_else(|| needs("units"))?;
            if !(1..=FLASH_UNITS_CAP_MAX).contains(&units) {
                return Err(ApiError::invalid(
                    "invalid_field",
                    "units",
                    format!("1 to {FLASH_UNITS_CAP_MAX}"),
                ));
            }
            PenaltyKind::FlashUnitsCap { units }
        }
        "new_sales_suspended" => {
            let raw = input.until.as_deref().ok_or_else(|| needs("until"))?;
            let until = clock::parse_rfc3339(raw)
                .ok_or_else(|| ApiError::invalid("invalid_field", "until", "an RFC 3339 instant"))?;
            if until <= now {
                return Err(ApiError::invalid(
                    "invalid_field",
                    "until",
                    "a suspension ends in the future",
                ));
            }
            PenaltyKind::NewSalesSuspended { until }
        }
        "deposit_deduction" => {
            let amount = input.amount_fen.ok_or_else(|| needs("amount_fen"))?;
            let amount = validate::price(amount, "amount_fen")?;
            if amount.get() == 0 {
                return Err(ApiError::invalid(
                    "invalid_field",
                    "amount_fen",
                    "a deduction takes at least 1 fen",
                ));
            }
            PenaltyKind::DepositDeduction { amount }
        }
        _ => {
            return Err(ApiError::invalid(
                "invalid_field",
                "kind",
                "warning, flash_units_cap, new_sales_suspended or deposit_deduction",
            ));
        }
    };
    let given = [
        ("units", input.units.is_some(), "flash_units_cap"),
        ("until", input.until.is_some(), "new_sales_suspended"),
        ("amount_fen", input.amount_fen.is_some(), "deposit_deduction"),
    ];
    if let Some((field, _, _)) = given
        .iter()
        .find(|(_, present, owner)| *present && *owner != input.kind)
    {
        return Err(unexpected(field, &input.kind));
    }
    Ok(kind)
}

async fn new_penalty(state: &AppState, input: &NewPenalty, now: Timestamp) -> Result<StoredPenalty, ApiError> {
    let kind = kind_of(input, now)?;
    let shop = ShopId::new(validate::positive_id(input.shop_id, "shop_id")?)
        .ok_or_else(|| ApiError::invalid("invalid_field", "shop_id", "a positive id"))?;
    let finding_code = input
        .finding_code
        .as_deref()
        .map(|c| validate::text::<FINDING_CODE_CHARS_MAX>(c, "finding_code").map(|t| t.as_str().to_string()))
        .transpose()?;
    let finding_subject = input
        .finding_subject
        .map(|s| validate::positive_id(s, "finding_subject"))
        .transpose()?;
    Ok(StoredPenalty {
        id: state.ids.penalty().await?,
        shop,
        penalty: Penalty {
            kind,
            state: PenaltyState::InForce,
        },
        reason: text(&input.reason, "reason")?,
        finding_code,
        finding_subject,
        issued_at: now,
        appeal_text: None,
        appealed_at: None,
        decision_note: None,
        decided_by: None,
        decided_at: None,
    })
}

fn reply_of(
    penalty: &StoredPenalty,
    status: StatusCode,
    now: Timestamp,
    idem: Option<Idempotency>,
) -> (Reply, Option<miaodan_store::records::IdempotencyRecord>) {
    let reply = Reply::json(status, &PenaltyView::new(penalty, now));
    let record = idem.as_ref().map(|i| i.record(&reply));
    (reply, record)
}

/// Issue a penalty to a shop (operators). A deduction is taken from the deposit at once.
#[utoipa::path(post, path = "/v1/penalties", tag = "integrity", request_body = NewPenalty,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = PenaltyView), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn issue_penalty(
    State(state): State<AppState>,
    _: Admin,
    headers: HeaderMap,
    body: JsonBody<NewPenalty>,
) -> Response {
    let request = ("POST", "/v1/penalties", &body.raw[..]);
    idempotency::run(&state, Principal::Admin, &headers, request, |idem| async {
        let now = state.clock.now();
        let penalty = new_penalty(&state, &body.value, now).await?;
        if state.store.shop(penalty.shop).await?.is_none() {
            return Err(ApiError::new(StatusCode::NOT_FOUND, "unknown_shop", "no such shop").field("shop_id"));
        }
        let (reply, record) = reply_of(&penalty, StatusCode::CREATED, now, idem);
        let _writes = state.store.penalty_writes().await;
        let PenaltyKind::DepositDeduction { amount } = penalty.penalty.kind else {
            state.store.issue_penalty(&penalty, record.as_ref()).await?;
            return Ok(reply);
        };
        let entry = NewDepositEntry {
            shop: penalty.shop,
            kind: DepositEntryKind::Deduction,
            amount,
            penalty: Some(penalty.id),
            note: Some(penalty.reason.clone()),
            at: now,
        };
        let with = vec![insert_penalty(&penalty)];
        state
            .store
            .append_deposit_entry(entry, with, |_| record)
            .await?
            .map_err(deposit_refusal)?;
        Ok(reply)
    })
    .await
}

/// The shop whose penalties or deposit `principal` reads: a merchant's own, the one an
/// operator names (`None`: every shop, where `every_shop` allows it).
fn reader_shop(principal: Principal, asked: Option<i64>) -> Result<Option<ShopId>, ApiError> {
    let asked = asked.map(|raw| validate::positive_id(raw, "shop_id")).transpose()?;
    match principal {
        Principal::Buyer(_) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "penalties are for merchants and operators",
        )),
        Principal::Admin => Ok(asked.and_then(ShopId::new)),
        Principal::Merchant(own) if asked.is_none_or(|a| a == own.get()) => Ok(Some(own)),
        Principal::Merchant(_) => Err(ApiError::not_found("shop")),
    }
}

/// Penalties, newest first: a merchant's own shop's; an operator's every shop's or one's.
#[utoipa::path(get, path = "/v1/penalties", tag = "integrity", params(PenaltyQuery, PageQuery),
    responses((status = 200, body = Page<PenaltyView>), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn list_penalties(
    State(state): State<AppState>,
    principal: Principal,
    ListQuery { page, filter: query }: ListQuery<PenaltyQuery>,
) -> Result<Json<Page<PenaltyView>>, ApiError> {
    let shop = reader_shop(principal, query.shop_id)?;
    let wanted = query
        .state
        .as_deref()
        .map(|raw| {
            PenaltyState::parse(raw).ok_or_else(|| {
                ApiError::invalid(
                    "invalid_field",
                    "state",
                    "in_force, appealed, upheld, revoked or expired",
                )
            })
        })
        .transpose()?;
    let now = state.clock.now();
    let filter = PenaltyFilter {
        shop,
        state: wanted,
        now,
        before: page.after::<i64>("penalties")?,
        limit: page.fetch(),
    };
    let found = state.store.penalties(&filter).await?;
    Ok(Json(page.page(
        "penalties",
        found,
        |p| p.id,
        |p| PenaltyView::new(p, now),
    )))
}

/// The penalty `principal` may see: any for an operator, its own shop's for a merchant.
async fn visible_penalty(state: &AppState, principal: Principal, ids: &PathIds) -> Result<StoredPenalty, ApiError> {
    let shop = reader_shop(principal, None)?;
    state
        .store
        .penalty(ids.one())
        .await?
        .filter(|p| shop.is_none_or(|s| s == p.shop))
        .ok_or_else(|| ApiError::not_found("penalty"))
}

/// A penalty: an operator's any, a merchant's own shop's.
#[utoipa::path(get, path = "/v1/penalties/{penalty_id}", tag = "integrity", params(("penalty_id" = i64, Path)),
    responses((status = 200, body = PenaltyView), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_penalty(
    State(state): State<AppState>,
    principal: Principal,
    ids: PathIds,
) -> Result<Json<PenaltyView>, ApiError> {
    let found = visible_penalty(&state, principal, &ids).await?;
    Ok(Json(PenaltyView::new(&found, state.clock.now())))
}

/// Appeal one of the shop's penalties (merchants): once, while it is in force.
#[utoipa::path(post, path = "/v1/penalties/{penalty_id}/appeal", tag = "integrity", request_body = AppealInput,
    params(("penalty_id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = PenaltyView), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn appeal_penalty(
    State(state): State<AppState>,
    Merchant(shop): Merchant,
    ids: PathIds,
    headers: HeaderMap,
    body: JsonBody<AppealInput>,
) -> Response {
    let path = format!("/v1/penalties/{}/appeal", ids.one());
    let principal = Principal::Merchant(shop);
    idempotency::run(
        &state,
        principal,
        &headers,
        ("POST", &path, &body.raw[..]),
        |idem| async {
            let appeal_text = text(&body.value.text, "text")?;
            let _writes = state.store.penalty_writes().await;
            let mut penalty = visible_penalty(&state, principal, &ids).await?;
            let now = state.clock.now();
            penalty.penalty.state = penalty.penalty.appeal(now).map_err(penalty_refusal)?;
            (penalty.appeal_text, penalty.appealed_at) = (Some(appeal_text), Some(now));
            let (reply, record) = reply_of(&penalty, StatusCode::OK, now, idem);
            state.store.save_penalty(&penalty, record.as_ref()).await?;
            Ok(reply)
        },
    )
    .await
}

/// Decide a penalty (operators): uphold an appealed one, or revoke it (a revoked deduction
/// is refunded to the deposit).
#[utoipa::path(post, path = "/v1/penalties/{penalty_id}/decision", tag = "integrity", request_body = DecisionInput,
    params(("penalty_id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = PenaltyView), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn decide_penalty(
    State(state): State<AppState>,
    _: Admin,
    signed: Option<Extension<SignedIn>>,
    ids: PathIds,
    headers: HeaderMap,
    body: JsonBody<DecisionInput>,
) -> Response {
    let path = format!("/v1/penalties/{}/decision", ids.one());
    idempotency::run(
        &state,
        Principal::Admin,
        &headers,
        ("POST", &path, &body.raw[..]),
        |idem| async {
            let decision = Decision::parse(&body.value.decision)
                .ok_or_else(|| ApiError::invalid("invalid_field", "decision", "uphold or revoke"))?;
            let note = text(&body.value.note, "note")?;
            let _writes = state.store.penalty_writes().await;
            let mut penalty = visible_penalty(&state, Principal::Admin, &ids).await?;
            let now = state.clock.now();
            penalty.penalty.state = penalty.penalty.decide(decision, now).map_err(penalty_refusal)?;
            penalty.decision_note = Some(note);
            penalty.decided_by =
                Some(signed.map_or_else(|| "admin".into(), |s| format!("staff:{}", s.member.login.as_str())));
            penalty.decided_at = Some(now);
            let (reply, record) = reply_of(&penalty, StatusCode::OK, now, idem);
            let refund = penalty
                .penalty
                .refund_on_revoke()
                .filter(|_| decision == Decision::Revoke);
            let Some(amount) = refund else {
                state.store.save_penalty(&penalty, record.as_ref()).await?;
                return Ok(reply);
            };
            let entry = NewDepositEntry {
                shop: penalty.shop,
                kind: DepositEntryKind::Refund,
                amount,
                penalty: Some(penalty.id),
                note: penalty.decision_note.clone(),
                at: now,
            };
            state
                .store
                .append_deposit_entry(entry, vec![update_penalty(&penalty)], |_| record)
                .await?
                .map_err(deposit_refusal)?;
            Ok(reply)
        },
    )
    .await
}

/// Record money a shop paid into its deposit (operators).
#[utoipa::path(post, path = "/v1/deposits/{shop_id}/entries", tag = "integrity", request_body = DepositTopUp,
    params(("shop_id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = DepositEntryView), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn top_up_deposit(
    State(state): State<AppState>,
    _: Admin,
    ids: PathIds,
    headers: HeaderMap,
    body: JsonBody<DepositTopUp>,
) -> Response {
    let path = format!("/v1/deposits/{}/entries", ids.one());
    idempotency::run(
        &state,
        Principal::Admin,
        &headers,
        ("POST", &path, &body.raw[..]),
        |idem| async {
            let amount = validate::price(body.value.amount_fen, "amount_fen")?;
            if amount.get() == 0 {
                return Err(ApiError::invalid(
                    "invalid_field",
                    "amount_fen",
                    "a deposit is at least 1 fen",
                ));
            }
            let note = body.value.note.as_deref().map(|n| text(n, "note")).transpose()?;
            let shop = ShopId::new(ids.one()).ok_or_else(|| ApiError::not_found("shop"))?;
            state
                .store
                .shop(shop)
                .await?
                .ok_or_else(|| ApiError::not_found("shop"))?;
            let entry = NewDepositEntry {
                shop,
                kind: DepositEntryKind::Deposit,
                amount,
                penalty: None,
                note,
                at: state.clock.now(),
            };
            let _writes = state.store.penalty_writes().await;
            let reply_of = |written: &DepositEntry| Reply::json(StatusCode::CREATED, &DepositEntryView::from(written));
            // The answer names the entry's number and balance, known once the ledger is read: it
            // is stored with the entry, so a retry after a crash replays it instead of paying in
            // twice.
            let written = state
                .store
                .append_deposit_entry(entry, vec![], |written| idem.map(|i| i.record(&reply_of(written))))
                .await?
                .map_err(deposit_refusal)?;
            Ok(reply_of(&written))
        },
    )
    .await
}

/// A shop's deposit balance and its latest entries, newest first (a merchant's own; an
/// operator names `shop_id`).
#[utoipa::path(get, path = "/v1/deposit", tag = "integrity", params(DepositQuery),
    responses((status = 200, body = DepositView), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_deposit(
    State(state): State<AppState>,
    principal: Principal,
    QueryParams(query): QueryParams<DepositQuery>,
) -> Result<Json<DepositView>, ApiError> {
    let shop = reader_shop(principal, query.shop_id)?
        .ok_or_else(|| ApiError::not_found("shop (an operator names `shop_id`)"))?;
    state
        .store
        .shop(shop)
        .await?
        .ok_or_else(|| ApiError::not_found("shop"))?;
    let entries = state.store.deposit_entries(shop, DEPOSIT_ENTRIES_SHOWN).await?;
    Ok(Json(DepositView {
        shop_id: shop.get(),
        balance_fen: entries.first().map_or(0, |e| e.balance.get()),
        entries: entries.iter().map(DepositEntryView::from).collect(),
    }))
}
