//! Risk's rules over HTTP, for platform operators: `GET /v1/risk/rules` is the rule set in
//! force with risk's mode; `POST /v1/risk/rules` writes the next version, checked, stored and
//! announced to every shard — the taps after the answer are screened by it. Versions are
//! numbered by the server, never changed and never reused; the set miaodan ships with is
//! version 1.

use crate::app::AppState;
use crate::auth::{Admin, Principal};
use crate::clock::rfc3339;
use crate::http::extract::JsonBody;
use crate::http::problem::{ApiError, Problem};
use crate::http::validate;
use crate::idempotency::{self, Reply};
use crate::risk_policy::{RiskRuleSetDocument, announce_rules, rule_set_of, rules_in_force};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use miaodan_domain::risk::{RULES_PER_SET_MAX, RuleSet, RuleSetProblem};
use miaodan_store::StoredRuleSet;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Written one at a time: the next version is the newest plus one.
static RULE_SET_WRITER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The rule set in force.
#[derive(Debug, Serialize, ToSchema)]
pub struct RiskRuleSetView {
    pub version: u32,
    /// Why it was written (empty for version 1).
    pub note: String,
    /// When it was written; `null` for version 1, which miaodan ships with.
    pub created_at: Option<String>,
    /// Risk's mode on this server (`miaodan serve --risk`): `on` refuses what the rules
    /// challenge or block, `shadow` only records, `off` scores nothing.
    pub mode: String,
    pub rule_set: RiskRuleSetDocument,
}

/// A new version of the rules.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRiskRuleSet {
    /// Why: what changed and what it was measured on.
    #[schema(schema_with = crate::http::schema::text::<500>)]
    pub note: String,
    pub rule_set: RiskRuleSetDocument,
}

fn view(set: &RuleSet, stored: Option<&StoredRuleSet>, state: &AppState) -> RiskRuleSetView {
    RiskRuleSetView {
        version: set.version,
        note: stored.map(|s| s.note.clone()).unwrap_or_default(),
        created_at: stored.map(|s| rfc3339(s.created_at)),
        mode: state.config.risk.as_str().into(),
        rule_set: RiskRuleSetDocument::of(set),
    }
}

/// The rule set in force and risk's mode.
#[utoipa::path(get, path = "/v1/risk/rules", tag = "risk",
    responses((status = 200, body = RiskRuleSetView), (status = 403, body = Problem)),
    security(("bearer" = [])))]
pub async fn current_rules(State(state): State<AppState>, _: Admin) -> Result<Json<RiskRuleSetView>, ApiError> {
    let stored = state.store.current_risk_rule_set().await?;
    let set = rule_set_of(stored.as_ref())?;
    Ok(Json(view(&set, stored.as_ref(), &state)))
}

/// Write the next version of the rules: checked (`invalid_rule_set` names what is wrong and
/// changes nothing), stored, then in force in every shard before the answer. Start a new rule
/// with `shadow: true` to watch what it would do (`GET /v1/risk/decisions`).
#[utoipa::path(post, path = "/v1/risk/rules", tag = "risk", request_body = NewRiskRuleSet,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, description = "the new version, in force", body = RiskRuleSetView),
        (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn write_rules(
    State(state): State<AppState>,
    _: Admin,
    headers: HeaderMap,
    body: JsonBody<NewRiskRuleSet>,
) -> Response {
    let request = ("POST", "/v1/risk/rules", &body.raw[..]);
    idempotency::run(&state, Principal::Admin, &headers, request, |idem| async {
        let note = validate::text::<500>(&body.value.note, "note")?.as_str().to_string();
        let _one_at_a_time = RULE_SET_WRITER.lock().await;
        let newest = rules_in_force(&state.store).await?.version;
        let version = newest
            .checked_add(1)
            .ok_or_else(|| ApiError::invalid("invalid_rule_set", "rule_set", "no version number is left"))?;
        let set = body.value.rule_set.rule_set(version);
        set.check().map_err(rule_set_problem)?;
        let stored = StoredRuleSet {
            version: i64::from(version),
            document: serde_json::to_string(&body.value.rule_set).unwrap_or_default(),
            note,
            created_at: state.clock.now(),
        };
        let reply = Reply::json(StatusCode::CREATED, &view(&set, Some(&stored), &state));
        let record = idem.map(|i| i.record(&reply));
        state.store.save_risk_rule_set(&stored, record.as_ref()).await?;
        announce_rules(&state.shards, &set).await?;
        Ok(reply)
    })
    .await
}

fn rule_set_problem(problem: RuleSetProblem) -> ApiError {
    let invalid = |field: String, detail: String| ApiError::invalid("invalid_rule_set", &field, detail);
    match problem {
        RuleSetProblem::TooManyRules => invalid("rules".into(), format!("at most {RULES_PER_SET_MAX} rules")),
        RuleSetProblem::InvalidCode(i) => invalid(
            format!("rules[{i}].code"),
            "a rule's code is 1 to 40 of a-z, 0-9 and _".into(),
        ),
        RuleSetProblem::DuplicateCode(code) => invalid("rules".into(), format!("two rules are named {code}")),
        RuleSetProblem::ThresholdsOutOfOrder => invalid(
            "review_at".into(),
            "the scores must rise: 0 < review_at ≤ challenge_at ≤ block_at".into(),
        ),
        RuleSetProblem::StrictPercentOutOfRange => invalid(
            "strict_percent".into(),
            "strict mode keeps 1 to 100 % of each score".into(),
        ),
        RuleSetProblem::ThresholdOutOfRange(i) => invalid(
            format!("rules[{i}].threshold"),
            "a threshold is 0 to 1 000 000 000".into(),
        ),
        RuleSetProblem::PointsOutOfRange(i) => {
            invalid(format!("rules[{i}].points"), "a rule adds 0 to 1 000 points".into())
        }
    }
}
