//! What a caller's `Idempotency-Key` produced: the answer stored for it (status and body, as
//! every retry with the key gets it), for the caller's own keys only. A key another caller
//! used, one never used, one whose request is still in flight or was refused before it was
//! decided (nothing is stored then), and one older than the retention all answer 404.

use super::problem::ApiError;
use crate::app::AppState;
use crate::auth::Principal;
use crate::clock::rfc3339;
use crate::idempotency;
use axum::Json;
use axum::extract::{FromRequestParts, RawPathParams, State};
use axum::http::request::Parts;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The route, registered once for the router and the OpenAPI document.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_stored_answer))
}

/// The answer stored for an `Idempotency-Key`.
#[derive(Debug, Serialize, ToSchema)]
pub struct StoredAnswerView {
    /// The key, as it was sent.
    pub key: String,
    /// The status of the answer (and of every retry's).
    pub status: u16,
    /// The answer's body as it was sent: what was created, or a problem.
    #[schema(value_type = Object)]
    pub body: serde_json::Value,
    /// When the answer was stored; it is kept at least 24 hours.
    pub stored_at: String,
}

/// The key in the path, percent-decoded, checked like the header.
struct KeyInPath(String);

impl<S: Send + Sync> FromRequestParts<S> for KeyInPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let invalid = || idempotency::invalid_key("key");
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| invalid())?;
        let key = params.iter().next().map(|(_, value)| value).unwrap_or_default();
        if !idempotency::is_valid_key(key) {
            return Err(invalid());
        }
        Ok(KeyInPath(key.to_string()))
    }
}

/// What one of the caller's `Idempotency-Key`s produced: the stored answer, replayed to every
/// retry with the key. Percent-encode the key in the path (`/` as `%2F`). Another caller's key
/// answers 404 like an unknown one; so does a key whose request is still in flight, or was
/// refused before it was decided (a malformed request: nothing is stored).
#[utoipa::path(get, path = "/v1/idempotency-keys/{key}", tag = "platform",
    params(("key" = String, Path, description = "The Idempotency-Key, percent-encoded", min_length = 1, max_length = 255)),
    responses((status = 200, body = StoredAnswerView), (status = 400, body = super::problem::Problem),
        (status = 404, body = super::problem::Problem)),
    security(("bearer" = [])))]
async fn get_stored_answer(
    State(state): State<AppState>,
    principal: Principal,
    KeyInPath(key): KeyInPath,
) -> Result<Json<StoredAnswerView>, ApiError> {
    let record = idempotency::stored_answer(&state, principal, &key)
        .await?
        .ok_or_else(|| ApiError::not_found("stored answer for this Idempotency-Key"))?;
    let body = serde_json::from_str(&record.body).unwrap_or(serde_json::Value::String(record.body));
    Ok(Json(StoredAnswerView {
        key: record.key,
        status: record.status,
        body,
        stored_at: rfc3339(record.created_at),
    }))
}
