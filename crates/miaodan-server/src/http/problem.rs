//! The one HTTP error type. Every refusal leaves as `application/problem+json` (RFC 9457) with
//! a stable machine `code`, a human `detail` and, where one field is at fault, its `field`.
//! Operating errors (database down) are logged with their cause and answered 503 without it.

use crate::sequencer::ShardError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use miaodan_domain::shard::Rejection;
use miaodan_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// The problem+json body.
#[derive(Clone, Debug, Serialize, ToSchema, PartialEq, Eq)]
pub struct Problem {
    /// A URI naming the problem kind: `https://miaodan.dev/problems/{code}`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// Stable machine-readable code, e.g. `insufficient_stock`.
    pub code: String,
    pub detail: String,
    /// The request field at fault, as a JSON path (`lines[0].quantity`), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// `limit_reached` only: the most units of the flash sale one buyer may hold…
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_buyer_limit: Option<i64>,
    /// …and how many more this buyer may still take (0 once they hold the limit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining_allowed: Option<i64>,
    /// `refused_by_rules` only: every rule that fired, explained.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rules: Option<Vec<Explanation>>,
    /// `risk_challenge` only: the challenge the buyer answers to step up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub challenge: Option<ChallengeOffer>,
    /// `challenge_failed` only: wrong answers the challenge still takes (0: it is now closed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts_left: Option<i64>,
}

/// A risk challenge as a `428 risk_challenge` offers it: show a prompt, send the buyer's answer
/// to `answer_url` before `expires_at`, then ask again.
#[derive(Clone, Debug, Serialize, ToSchema, PartialEq, Eq)]
pub struct ChallengeOffer {
    pub id: i64,
    pub prompt_en: String,
    pub prompt_zh: String,
    /// RFC 3339.
    pub expires_at: String,
    /// `/v1/risk/challenges/{id}/answer`.
    pub answer_url: String,
}

/// The extension members of a problem that few refusals carry (kept boxed in [`ApiError`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Extension {
    /// `refused_by_rules`: the rules of the refusal, explained (the `rules` member).
    Rules(Vec<Explanation>),
    /// `risk_challenge`: the challenge to answer (the `challenge` member).
    Challenge(ChallengeOffer),
    /// `challenge_failed`: the wrong answers the challenge still takes (`attempts_left`).
    AttemptsLeft(i64),
}

/// A rule of a decision, explained to people in English and Chinese.
#[derive(Clone, Debug, Serialize, ToSchema, PartialEq, Eq)]
pub struct Explanation {
    /// The rule's stable code, e.g. `not_yet_picked_up`.
    pub code: String,
    pub en: String,
    pub zh: String,
}

/// The figures of a refusal over a per-buyer limit, sent as extension members of the problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimitFigures {
    pub per_buyer_limit: i64,
    pub remaining_allowed: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    pub field: Option<String>,
    /// Seconds the client should wait before retrying (sent as `Retry-After`).
    pub retry_after_seconds: Option<u64>,
    pub limit: Option<LimitFigures>,
    /// The rules of a refusal explained, or risk's step-up members ([`Extension`]).
    /// Boxed: an error travels in every `Result` of the handlers, and rarely carries one.
    pub extension: Option<Box<Extension>>,
    /// The shard another member holds that the request needed, nothing decided: the edge sends
    /// the whole request there ([`super::cluster::route`]). (A `u16`, as shards are at most 64:
    /// it fits beside the status, and the error stays small.)
    pub held_elsewhere: Option<u16>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> ApiError {
        debug_assert_eq!(
            super::errors::status_of(code),
            Some(status.as_u16()),
            "the error code `{code}` is not in http/errors.rs::ERRORS with status {status}: add it, with its meaning, and to the README's table"
        );
        ApiError {
            status,
            code,
            detail: detail.into(),
            field: None,
            retry_after_seconds: None,
            limit: None,
            extension: None,
            held_elsewhere: None,
        }
    }

    pub fn field(mut self, field: impl Into<String>) -> ApiError {
        self.field = Some(field.into());
        self
    }

    pub fn invalid(code: &'static str, field: &str, detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail).field(field)
    }

    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no such {what}"))
    }

    pub fn unavailable(detail: impl Into<String>) -> ApiError {
        let mut error = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail);
        error.retry_after_seconds = Some(1);
        error
    }

    pub fn problem(&self) -> Problem {
        Problem {
            kind: format!("https://miaodan.dev/problems/{}", self.code),
            title: self.status.canonical_reason().unwrap_or("Error").to_string(),
            status: self.status.as_u16(),
            code: self.code.to_string(),
            detail: self.detail.clone(),
            field: self.field.clone(),
            per_buyer_limit: self.limit.map(|l| l.per_buyer_limit),
            remaining_allowed: self.limit.map(|l| l.remaining_allowed),
            rules: match self.extension.as_deref() {
                Some(Extension::Rules(rules)) => Some(rules.clone()),
                _ => None,
            },
            challenge: match self.extension.as_deref() {
                Some(Extension::Challenge(offer)) => Some(offer.clone()),
                _ => None,
            },
            attempts_left: match self.extension.as_deref() {
                Some(Extension::AttemptsLeft(left)) => Some(*left),
                _ => None,
            },
        }
    }

    /// The body as stored for idempotent replay and as sent.
    pub fn body(&self) -> String {
        serde_json::to_string(&self.problem()).unwrap_or_else(|_| String::from("{}"))
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        tracing::error!(%error, "storage error");
        ApiError::unavailable("storage is unavailable; retry with the same Idempotency-Key")
    }
}

/// A shard that could not answer: 429 `overloaded` with `Retry-After` when its inbox is full,
/// otherwise 503 `unavailable` (retry with the same Idempotency-Key).
impl From<ShardError> for ApiError {
    fn from(error: ShardError) -> ApiError {
        match error {
            ShardError::Overloaded { retry_after_seconds } => {
                let mut error = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "overloaded",
                    "the shard's queue is full; retry shortly with the same Idempotency-Key",
                );
                error.retry_after_seconds = Some(retry_after_seconds);
                error
            }
            ShardError::Stopping => ApiError::unavailable("the server is stopping"),
            ShardError::Stopped => ApiError::unavailable("the shard stopped"),
            ShardError::CommitFailed => ApiError::unavailable("the batch could not be committed; retry"),
            ShardError::NoConnection => ApiError::unavailable("the shard has no database connection; retry"),
            ShardError::Rebuilding => {
                ApiError::unavailable("the shard is rebuilding its state from the database; retry")
            }
            ShardError::NotOwner => ApiError::unavailable(
                "this process does not hold the shard's lease; retry with the same Idempotency-Key",
            ),
            ShardError::OwnerUnreachable => ApiError::unavailable(
                "the process that owns a shard of this request could not be asked; retry with the same Idempotency-Key",
            ),
            ShardError::HeldElsewhere { shard } => ApiError {
                held_elsewhere: u16::try_from(shard).ok(),
                ..ApiError::unavailable(
                    "another member of the cluster holds this request's shard; retry with the same Idempotency-Key",
                )
            },
        }
    }
}

/// Sends a business refusal of the core to the capability that answers it. Each capability
/// chooses the status, `detail` and `field` of its own refusals next to its routes
/// (`platform::refusal`, `orders::refusal`, …); the `code` is the core's `Rejection::code()`.
/// The match is exhaustive, so a new refusal must be given to a capability here.
impl From<&Rejection> for ApiError {
    fn from(rejection: &Rejection) -> ApiError {
        use super::{catalog, flash_sales, fulfillment, inventory, logistics, orders, payments, platform};
        match rejection {
            Rejection::UnknownShop | Rejection::ShopExists => platform::refusal(rejection),
            Rejection::UnknownProduct
            | Rejection::UnknownSku { .. }
            | Rejection::SkuUnavailable { .. }
            | Rejection::TooManySkus => catalog::refusal(rejection),
            Rejection::UnknownWarehouse | Rejection::InsufficientStock { .. } | Rejection::InvalidStock => {
                inventory::refusal(rejection)
            }
            Rejection::OrderNotOpen | Rejection::InvalidTransition(_) | Rejection::TooManyLines => {
                orders::refusal(rejection)
            }
            Rejection::UnknownFlashSale
            | Rejection::Tap(_)
            | Rejection::InvalidFlashSale(_)
            | Rejection::FlashSaleControl(_) => flash_sales::refusal(rejection),
            Rejection::Payment(_) | Rejection::PaymentIntentNotLoaded => payments::refusal(rejection),
            Rejection::InvalidFulfillmentSettings(_)
            | Rejection::DeliveryOptionUnavailable
            | Rejection::DeliveryWindowUnavailable
            | Rejection::OrderNotDispatched
            | Rejection::NoParcelAtWarehouse => fulfillment::refusal(rejection),
            Rejection::InvalidSlaRules(_)
            | Rejection::ShipmentExists
            | Rejection::WaybillInUse
            | Rejection::UnknownShipment
            | Rejection::TrackingRefused(_)
            | Rejection::AlertWork(_) => logistics::refusal(rejection),
            Rejection::IdInUse => ApiError::unavailable("an allocated id was already in use; retry"),
            Rejection::AfterSales(_) => super::after_sales::refusal(rejection),
            Rejection::Risk(_) => super::risk::refusal(rejection),
        }
    }
}

/// A limit as people read it: digits in groups of three, a space between (`10 000`).
pub fn grouped(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(digit);
    }
    out
}

/// A refusal of the core as the reply a handler sends (and an idempotent key replays).
pub fn refused(rejection: &Rejection) -> crate::idempotency::Reply {
    ApiError::from(rejection).into()
}

/// What a capability answers for a refusal that is not its own (the routing above sent it the
/// wrong one): a programming error, logged and answered 500 like an unexpected outcome.
pub fn misrouted(rejection: &Rejection) -> ApiError {
    tracing::error!(?rejection, "a refusal reached a capability that does not answer it");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "unexpected refusal")
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body()).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_CONTENT_TYPE));
        if let Some(seconds) = self.retry_after_seconds {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(shard) = self.held_elsewhere {
            // Marked for the routing layer here, and for the member that sent the request on
            // (its holder moved meanwhile).
            headers.insert(super::cluster::route::HELD_ELSEWHERE_HEADER, HeaderValue::from(shard));
            response
                .extensions_mut()
                .insert(super::cluster::route::HeldElsewhere(usize::from(shard)));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::grouped;

    #[test]
    fn limits_are_written_in_groups_of_three_digits() {
        let cases = [
            (0, "0"),
            (100, "100"),
            (10_000, "10 000"),
            (100_000_000, "100 000 000"),
            (-1_000, "-1 000"),
        ];
        for (n, written) in cases {
            assert_eq!(grouped(n), written);
        }
    }
}
