//! Risk's step-up over HTTP. A buyer's tap or checkout risk challenges is answered
//! `428 risk_challenge` with a `challenge` member ([`challenged`]); the buyer reads it
//! (`GET /v1/risk/challenges/{id}`) and answers it (`POST /v1/risk/challenges/{id}/answer`): a
//! right answer passes it (200, with the pass's end), a wrong one is `422 challenge_failed` with
//! the attempts left, and a passed, failed or expired challenge is `409 challenge_closed`.
//! Only the buyer who was challenged sees the challenge: another buyer's is 404, and merchants
//! and operators are refused (403) — the check is the buyer's to answer.
//!
//! **Idempotency.** A `428` is never stored for an `Idempotency-Key`: the request it refused held
//! nothing and changed nothing but risk's memory, so the same request sent again with the same
//! key after stepping up is decided afresh (and goes through). Every other answer to a tap or a
//! checkout, a block included, is stored and replayed as before.

use crate::app::AppState;
use crate::auth::{Buyer, Principal};
use crate::clock::rfc3339;
use crate::flows::risk_challenges::{self, ANSWER_CHARS_MAX, AnswerError, CHALLENGE_ATTEMPTS_MAX};
use crate::http::extract::{JsonBody, PathIds};
use crate::http::problem::{ApiError, ChallengeOffer, Extension, Problem};
use crate::idempotency::{self, Reply};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use miaodan_domain::BuyerId;
use miaodan_domain::flash_sale::FlashSaleId;
use miaodan_store::{ChallengeKind, StoredChallenge};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A challenge as its buyer sees it (never what verifies the answer).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RiskChallengeView {
    pub id: i64,
    /// `tap` or `checkout`: the request that was challenged.
    pub kind: String,
    /// The tap's sale; `null` for a checkout.
    pub flash_sale_id: Option<i64>,
    pub prompt_en: String,
    pub prompt_zh: String,
    /// `open`, `passed`, `failed` or `expired`.
    pub state: String,
    /// Wrong answers it still takes while open.
    pub attempts_left: i64,
    pub created_at: String,
    pub expires_at: String,
    pub passed_at: Option<String>,
    /// Until when the pass lets the buyer's next challenged tap or checkout through (passed only).
    pub pass_until: Option<String>,
    pub answer_url: String,
}

fn answer_url(id: i64) -> String {
    format!("/v1/risk/challenges/{id}/answer")
}

fn challenge_view(c: &StoredChallenge) -> RiskChallengeView {
    RiskChallengeView {
        id: c.id,
        kind: c.kind.as_str().into(),
        flash_sale_id: c.sale.map(|s| s.get()),
        prompt_en: c.prompt_en.clone(),
        prompt_zh: c.prompt_zh.clone(),
        state: c.state.as_str().into(),
        attempts_left: (CHALLENGE_ATTEMPTS_MAX - c.attempts).max(0),
        created_at: rfc3339(c.created_at),
        expires_at: rfc3339(c.expires_at),
        passed_at: c.passed_at.map(rfc3339),
        pass_until: c.pass_until.map(rfc3339),
        answer_url: answer_url(c.id),
    }
}

/// The `428 risk_challenge` for `buyer`'s refused request, carrying the challenge to answer (the
/// buyer's open one, or a new one). A store that cannot open one leaves the plain `428`.
pub async fn challenged(
    state: &AppState,
    refusal: ApiError,
    buyer: BuyerId,
    (kind, sale): (ChallengeKind, Option<FlashSaleId>),
) -> ApiError {
    match risk_challenges::offer(state, buyer, kind, sale).await {
        Ok(c) => ApiError {
            extension: Some(Box::new(Extension::Challenge(ChallengeOffer {
                id: c.id,
                prompt_en: c.prompt_en.clone(),
                prompt_zh: c.prompt_zh.clone(),
                expires_at: rfc3339(c.expires_at),
                answer_url: answer_url(c.id),
            }))),
            ..refusal
        },
        Err(error) => {
            tracing::error!(%error, "a risk challenge could not be opened");
            refusal
        }
    }
}

/// A challenge of the caller's.
#[utoipa::path(get, path = "/v1/risk/challenges/{challenge_id}", tag = "risk",
    operation_id = "get_risk_challenge",
    params(("challenge_id" = i64, Path)),
    responses((status = 200, body = RiskChallengeView), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_challenge(State(state): State<AppState>, Buyer(buyer): Buyer, ids: PathIds) -> Response {
    match risk_challenges::challenge_of(&state, buyer, ids.one()).await {
        Ok(Some(c)) => Json(challenge_view(&c)).into_response(),
        Ok(None) => ApiError::not_found("risk challenge").into_response(),
        Err(error) => ApiError::from(error).into_response(),
    }
}

/// The buyer's answer to a challenge's prompt.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RiskChallengeAnswer {
    /// What the buyer answered (at most 64 characters; any other answer is checked, and a wrong
    /// one counts as an attempt).
    #[schema(max_length = 64)]
    pub answer: String,
}

/// A right answer: the challenge passed and the pass it gives.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RiskChallengePassed {
    /// `passed`.
    pub state: String,
    /// Until when the buyer's next tap or checkout that risk would challenge goes through (as a
    /// review); a block stays a block.
    pub pass_until: String,
    pub challenge: RiskChallengeView,
}

fn answered(outcome: &Result<StoredChallenge, AnswerError>) -> Reply {
    match outcome {
        Ok(c) => Reply::json(
            StatusCode::OK,
            &RiskChallengePassed {
                state: c.state.as_str().into(),
                pass_until: c.pass_until.map(rfc3339).unwrap_or_default(),
                challenge: challenge_view(c),
            },
        ),
        Err(error) => answer_refusal(error).into(),
    }
}

fn answer_refusal(error: &AnswerError) -> ApiError {
    match error {
        AnswerError::NotFound => ApiError::not_found("risk challenge"),
        AnswerError::Wrong { attempts_left, .. } => ApiError {
            extension: Some(Box::new(Extension::AttemptsLeft(*attempts_left))),
            ..ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "challenge_failed",
                format!("the answer is wrong; {attempts_left} more attempts"),
            )
            .field("answer")
        },
        AnswerError::Closed(c) => ApiError::new(
            StatusCode::CONFLICT,
            "challenge_closed",
            format!("the challenge is {}; ask again to be given a new one", c.state.as_str()),
        ),
        AnswerError::Store(_) => ApiError::unavailable("storage is unavailable; retry with the same Idempotency-Key"),
    }
}

/// Answer a challenge of the caller's. Right: it is passed, and the buyer's next tap or checkout
/// within the pass that risk would challenge goes through as a review.
#[utoipa::path(post, path = "/v1/risk/challenges/{challenge_id}/answer", tag = "risk", request_body = RiskChallengeAnswer,
    operation_id = "answer_risk_challenge",
    params(("challenge_id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "passed", body = RiskChallengePassed), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "`challenge_closed`", body = Problem),
        (status = 422, description = "`challenge_failed` (with `attempts_left`), or an invalid answer", body = Problem)),
    security(("bearer" = [])))]
pub async fn answer_challenge(
    State(state): State<AppState>,
    Buyer(buyer): Buyer,
    ids: PathIds,
    headers: HeaderMap,
    body: JsonBody<RiskChallengeAnswer>,
) -> Response {
    let path = format!("/v1/risk/challenges/{}/answer", ids.one());
    idempotency::run(
        &state,
        Principal::Buyer(buyer),
        &headers,
        ("POST", &path, &body.raw[..]),
        |idem| async {
            let answer = body.value.answer.as_str();
            if answer.chars().count() > ANSWER_CHARS_MAX {
                return Err(ApiError::invalid(
                    "invalid_field",
                    "answer",
                    format!("an answer is at most {ANSWER_CHARS_MAX} characters"),
                ));
            }
            let record = |outcome: &Result<StoredChallenge, AnswerError>| idem.map(|i| i.record(&answered(outcome)));
            let outcome = risk_challenges::answer(&state, (buyer, ids.one()), answer, record).await;
            match outcome {
                Err(AnswerError::Store(error)) => Err(ApiError::from(error)),
                outcome => Ok(answered(&outcome)),
            }
        },
    )
    .await
}
