//! Extractors that turn every malformed request into a problem+json answer: a JSON body
//! (which also keeps the raw bytes, for idempotency fingerprints), path ids and query strings.
//! Axum's own rejections are plain text; none of them reaches a client.

use super::admission::BodyDeadline;
use super::problem::ApiError;
use crate::limits::BODY_READ_TIMEOUT_DEFAULT;
use axum::body::{BodyDataStream, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Query, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use bytes::BytesMut;
use futures::StreamExt;
use serde::de::DeserializeOwned;
use std::time::Duration;
use tokio::time::Instant;

/// The largest request body accepted; larger ones are answered 413 `payload_too_large`.
pub const REQUEST_BODY_BYTES_MAX: usize = 256 * 1024;
/// How much of an oversized body is read and discarded before the 413 answer. A server that
/// answers and closes while the client is still sending resets the connection, and the client
/// sees a broken pipe instead of the answer; reading the rest first lets it see the 413.
/// Beyond this the connection is cut (and the client may see only the reset).
pub const OVERSIZED_BODY_DRAIN_BYTES_MAX: usize = 64 * 1024 * 1024;
/// The longest time spent draining an oversized body.
pub const OVERSIZED_BODY_DRAIN_MS_MAX: u64 = 5_000;

/// A JSON request body, parsed into `T`, with the bytes it came from.
pub struct JsonBody<T> {
    pub value: T,
    pub raw: Bytes,
}

fn json_error(error: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = error.path().to_string();
    let inner = error.into_inner();
    let message = inner.to_string();
    if !inner.is_data() {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the body is not valid JSON: {message}"),
        );
    }
    let code = if message.starts_with("unknown field") {
        "unknown_field"
    } else if message.starts_with("missing field") {
        "missing_field"
    } else {
        "invalid_field"
    };
    let error = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message.clone());
    let field = match code {
        // serde reports a missing field at its parent; name the field itself.
        "missing_field" => message.split('`').nth(1).map(|name| {
            if path == "." {
                name.to_string()
            } else {
                format!("{path}.{name}")
            }
        }),
        _ if path == "." => None,
        _ => Some(path),
    };
    match field {
        Some(field) => error.field(field),
        None => error,
    }
}

/// Parses JSON bytes into `T`, naming the offending field on failure.
pub fn parse_json<T: DeserializeOwned>(raw: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(raw);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(json_error)?;
    deserializer.end().map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("trailing data after the JSON value: {e}"),
        )
    })?;
    Ok(value)
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        require_json_content_type(request.headers())?;
        let RawBody(raw) = RawBody::from_request(request, state).await?;
        let value = parse_json(&raw)?;
        Ok(JsonBody { value, raw })
    }
}

/// Refuses a body that is not sent as `application/json` (415 `unsupported_media_type`).
pub fn require_json_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as Content-Type: application/json",
        ))
    }
}

/// An optional JSON body: none (or only whitespace) is `T::default()`, and so is `null`; one
/// that is sent is JSON like every other body, Content-Type included.
pub fn optional_json<T: DeserializeOwned + Default>(headers: &HeaderMap, raw: &[u8]) -> Result<T, ApiError> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    require_json_content_type(headers)?;
    Ok(parse_json::<Option<T>>(raw)?.unwrap_or_default())
}

/// A request body as bytes, bounded by [`REQUEST_BODY_BYTES_MAX`] and by the request's
/// [`BodyDeadline`]: a body announced larger than the drain limit is refused 413 at once, one
/// found too large is drained and refused 413, and one that does not arrive in time is
/// answered 408 `request_timeout`.
pub struct RawBody(pub Bytes);

fn unreadable(error: axum::Error) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "unreadable_body",
        format!("the body could not be read: {error}"),
    )
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the body exceeds {REQUEST_BODY_BYTES_MAX} bytes"),
    )
}

fn too_slow() -> ApiError {
    ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "request_timeout",
        "the body did not arrive in time; send it again, all at once",
    )
}

/// Reads and discards the rest of an oversized body, within the drain limits.
async fn drain(mut stream: BodyDataStream) {
    let discard = async {
        let mut drained = 0usize;
        while let Some(Ok(chunk)) = stream.next().await {
            drained = drained.saturating_add(chunk.len());
            if drained > OVERSIZED_BODY_DRAIN_BYTES_MAX {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_millis(OVERSIZED_BODY_DRAIN_MS_MAX), discard).await;
}

/// The body length the client announced (`Content-Length`), if it did.
fn announced_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// Reads the body up to the size limit: the bytes, or the rest of the stream (unread) when the
/// body exceeds the limit.
async fn read_capped(mut stream: BodyDataStream) -> Result<Result<Bytes, BodyDataStream>, ApiError> {
    let mut raw = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(unreadable)?;
        if raw.len() + chunk.len() > REQUEST_BODY_BYTES_MAX {
            return Ok(Err(stream));
        }
        raw.extend_from_slice(&chunk);
    }
    Ok(Ok(raw.freeze()))
}

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, _: &S) -> Result<Self, ApiError> {
        // A body announced beyond what would be drained is refused before any of it is read:
        // waiting for a gigabyte that may never come holds the connection for nothing.
        if announced_length(request.headers()).is_some_and(|n| n > OVERSIZED_BODY_DRAIN_BYTES_MAX as u64) {
            return Err(too_large());
        }
        let deadline = request
            .extensions()
            .get::<BodyDeadline>()
            .map(|d| d.0)
            .unwrap_or_else(|| Instant::now() + BODY_READ_TIMEOUT_DEFAULT);
        let stream = request.into_body().into_data_stream();
        match tokio::time::timeout_at(deadline, read_capped(stream)).await {
            Ok(Ok(Ok(raw))) => Ok(RawBody(raw)),
            Ok(Ok(Err(rest))) => {
                drain(rest).await;
                Err(too_large())
            }
            Ok(Err(error)) => Err(error),
            Err(_) => Err(too_slow()),
        }
    }
}

/// The raw id segments of the path, in order. A segment that is not a positive integer names
/// nothing, so it answers 404 like any unknown id.
pub struct PathIds(pub Vec<i64>);

impl<S: Send + Sync> FromRequestParts<S> for PathIds {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::not_found("resource"))?;
        let ids = params
            .iter()
            .map(|(_, value)| {
                value
                    .parse::<i64>()
                    .ok()
                    .filter(|id| *id > 0)
                    .ok_or_else(|| ApiError::not_found("resource"))
            })
            .collect::<Result<_, _>>()?;
        Ok(PathIds(ids))
    }
}

impl PathIds {
    pub fn one(&self) -> i64 {
        self.0.first().copied().unwrap_or(0)
    }
    pub fn two(&self) -> (i64, i64) {
        (
            self.0.first().copied().unwrap_or(0),
            self.0.get(1).copied().unwrap_or(0),
        )
    }
}

/// A query string parsed into `T`; a bad parameter is a 400 `invalid_query`.
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(value) = Query::<T>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", rejection.body_text()))?;
        Ok(QueryParams(value))
    }
}
