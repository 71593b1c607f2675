//! Extractors that turn every malformed request into a problem+json answer: a JSON body
//! (which also keeps the raw bytes, for idempotency fingerprints), path ids and query strings.
//! Axum's own rejections are plain text; none of them reaches a client.

use super::admission::BodyDeadline;
use super::problem::ApiError;
use crate::limits::BODY_READ_TIMEOUT_DEFAULT;
use axum::body::{BodyDataStream, Bytes};
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Request};
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

/// A body that is not JSON: 400 `malformed_json`, saying where, in words.
fn malformed(error: &serde_json::Error, what: &str) -> ApiError {
    let detail = match error.classify() {
        serde_json::error::Category::Eof if error.line() <= 1 && error.column() == 0 => {
            "the body is empty; send a JSON object".to_string()
        }
        serde_json::error::Category::Eof => "the body ends before its JSON value does".to_string(),
        _ => format!("the body {what} (line {}, column {})", error.line(), error.column()),
    };
    ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", detail)
}

/// serde's message without the position it appends (` at line 1 column 23`).
fn without_position(message: &str) -> &str {
    message.rfind(" at line ").map_or(message, |at| &message[..at])
}

/// What a value is, in words, from serde's `expected …` (`i64`, `a string`, `struct X`).
fn in_words(expected: &str) -> &'static str {
    const INTEGERS: [&str; 8] = ["i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64"];
    if INTEGERS.iter().any(|t| expected.contains(t)) || expected.contains("integer") {
        "an integer (a number without a fraction, within 64 bits)"
    } else if expected.contains("string") {
        "a string"
    } else if expected.contains("boolean") {
        "true or false"
    } else if expected.contains("sequence") {
        "an array"
    } else {
        "an object"
    }
}

/// The JSON path of the field `name` that serde reported at `path`: at its parent for a
/// missing field, at itself (or at the parent, for the body's own fields) for an unknown one.
fn child(path: &str, name: &str) -> String {
    if path == "." {
        name.to_string()
    } else if path == name || path.ends_with(&format!(".{name}")) {
        path.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// The first `…`-quoted name in a serde message.
fn quoted(message: &str) -> &str {
    message.split('`').nth(1).unwrap_or("")
}

/// JSON of the wrong shape for the operation (serde's data errors): 400, naming the field in
/// words and never with the parser's own text.
fn shape_error(path: &str, message: &str) -> ApiError {
    let message = without_position(message);
    let field = if path == "." { None } else { Some(path.to_string()) };
    let (code, field, detail) = if message.starts_with("missing field") {
        let name = child(path, quoted(message));
        ("missing_field", Some(name.clone()), format!("`{name}` is required"))
    } else if message.starts_with("unknown field") {
        let name = child(path, quoted(message));
        let expected = message.split_once(", ").map_or("", |(_, rest)| rest);
        let detail = format!("`{name}` is not a field of this body ({expected})");
        ("unknown_field", Some(name), detail)
    } else if message.starts_with("duplicate field") {
        let name = child(path, quoted(message));
        (
            "duplicate_field",
            Some(name.clone()),
            format!("`{name}` is given twice"),
        )
    } else {
        let expected = message.rsplit_once("expected ").map_or("", |(_, e)| e);
        let detail = match &field {
            None => "the body must be a JSON object".to_string(),
            Some(name) if message.starts_with("invalid value: integer") => {
                format!("`{name}` must be an integer within 64 bits")
            }
            Some(name) => format!("`{name}` must be {}", in_words(expected)),
        };
        ("wrong_type", field, detail)
    };
    let error = ApiError::new(StatusCode::BAD_REQUEST, code, detail);
    match field {
        Some(field) => error.field(field),
        None => error,
    }
}

fn json_error(error: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = error.path().to_string();
    let inner = error.into_inner();
    if inner.is_data() {
        shape_error(&path, &inner.to_string())
    } else {
        malformed(&inner, "is not valid JSON")
    }
}

/// An integer field of a body: a JSON number without a fraction, written as an integer
/// (`756`) or not (`756.0`, `7.56e2`: JSON Schema's `integer` is any number whose fraction is
/// zero), within 64 bits. Anything else is the wrong type.
pub fn integer<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    deserializer.deserialize_any(IntegerVisitor)
}

/// [`integer`], or `null` (absent).
pub fn optional_integer<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    deserializer.deserialize_any(OptionalInteger)
}

struct IntegerVisitor;

impl serde::de::Visitor<'_> for IntegerVisitor {
    type Value = i64;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("an integer")
    }

    fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<i64, E> {
        Ok(value)
    }

    fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<i64, E> {
        i64::try_from(value).map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(value), &self))
    }

    /// 2⁶³ as a float: the first value past `i64::MAX`.
    #[allow(clippy::float_arithmetic, clippy::cast_possible_truncation)]
    fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<i64, E> {
        const LIMIT: f64 = 9_223_372_036_854_775_808.0;
        if value.fract() == 0.0 && (-LIMIT..LIMIT).contains(&value) {
            Ok(value as i64)
        } else {
            Err(E::invalid_type(serde::de::Unexpected::Float(value), &self))
        }
    }
}

struct OptionalInteger;

impl<'de> serde::de::Visitor<'de> for OptionalInteger {
    type Value = Option<i64>;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("an integer or null")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Option<i64>, E> {
        Ok(None)
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Option<i64>, E> {
        Ok(None)
    }

    fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<Option<i64>, E> {
        IntegerVisitor.visit_i64(value).map(Some)
    }

    fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<Option<i64>, E> {
        IntegerVisitor.visit_u64(value).map(Some)
    }

    fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<Option<i64>, E> {
        IntegerVisitor.visit_f64(value).map(Some)
    }
}

/// Parses JSON bytes into `T`, naming the offending field on failure.
pub fn parse_json<T: DeserializeOwned>(raw: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(raw);
    let value = serde_path_to_error::deserialize(super::strict::Strict(&mut deserializer)).map_err(json_error)?;
    deserializer
        .end()
        .map_err(|e| malformed(&e, "has data after its JSON value"))?;
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

/// The id segments of the path, in order. A segment that is not an integer from 1 to
/// 2⁶³−1 cannot name anything: 400 `invalid_id`, naming the path parameter.
pub struct PathIds(pub Vec<i64>);

fn invalid_id(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_id",
        format!("`{name}` must be an integer from 1 to 9223372036854775807"),
    )
    .field(name)
}

/// A path id: ASCII digits only once percent-decoded (no sign, no spaces), 1 to 2⁶³−1.
fn path_id(segment: &str) -> Option<i64> {
    let mut digits = String::with_capacity(segment.len());
    let bytes = segment.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let byte = match (bytes[i], bytes.get(i + 1..i + 3)) {
            (b'%', Some(hex)) => {
                i += 3;
                u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?
            }
            (byte, _) => {
                i += 1;
                byte
            }
        };
        if !byte.is_ascii_digit() {
            return None;
        }
        digits.push(char::from(byte));
    }
    digits.parse::<i64>().ok().filter(|id| *id > 0)
}

impl<S: Send + Sync> FromRequestParts<S> for PathIds {
    type Rejection = ApiError;

    /// Each `{name}` segment of the matched route, read from the raw path (so a segment that
    /// is not UTF-8 once decoded is refused like any other non-number).
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let template = parts
            .extensions
            .get::<MatchedPath>()
            .map(|matched| matched.as_str().to_string())
            .unwrap_or_default();
        let mut ids = Vec::new();
        for (name, segment) in template.split('/').zip(parts.uri.path().split('/')) {
            let Some(name) = name.strip_prefix('{').and_then(|n| n.strip_suffix('}')) else {
                continue;
            };
            ids.push(path_id(segment).ok_or_else(|| invalid_id(name))?);
        }
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

/// A query string parsed into `T`. One that does not decode is 400 `invalid_query` (not
/// UTF-8, a parameter unknown, repeated or not an integer where one goes), naming the
/// parameter; a required parameter that is absent is 400 `missing_field`.
pub struct QueryParams<T>(pub T);

fn query_error(error: serde_path_to_error::Error<serde_urlencoded::de::Error>) -> ApiError {
    let path = error.path().to_string();
    let message = error.into_inner().to_string();
    let name = if path == "." {
        quoted(&message).to_string()
    } else {
        path
    };
    let (code, detail) = if message.starts_with("missing field") {
        ("missing_field", format!("`{name}` is required"))
    } else if message.starts_with("unknown field") {
        let expected = message.split_once(", ").map_or("", |(_, rest)| rest);
        (
            "invalid_query",
            format!("`{name}` is not a parameter of this operation ({expected})"),
        )
    } else if message.starts_with("duplicate field") {
        ("invalid_query", format!("`{name}` is given twice"))
    } else {
        // Every parameter is a string or an integer, and a string always decodes.
        ("invalid_query", format!("`{name}` must be an integer"))
    };
    ApiError::new(StatusCode::BAD_REQUEST, code, detail).field(name)
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        decode_query(parts.uri.query().unwrap_or("")).map(QueryParams)
    }
}

/// A query string decoded into `T`, refused as [`QueryParams`] says.
pub fn decode_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    if !decodes_to_utf8(query) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "the query string is not UTF-8 once percent-decoded",
        ));
    }
    let pairs = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(pairs).map_err(query_error)
}

/// Whether a query string percent-decodes to UTF-8. The form decoder would replace what does
/// not (an overlong `%C0%AF`, a lone `%FF`) with U+FFFD and carry on; a request that sent
/// such bytes is refused instead.
fn decodes_to_utf8(query: &str) -> bool {
    let bytes = query.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |at: usize| bytes.get(at).and_then(|b| (*b as char).to_digit(16));
        match (bytes[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(high), Some(low)) => {
                decoded.push((high * 16 + low) as u8);
                i += 3;
            }
            (byte, _, _) => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    std::str::from_utf8(&decoded).is_ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::decodes_to_utf8;

    #[derive(serde::Deserialize)]
    struct Amount {
        #[serde(deserialize_with = "super::integer")]
        fen: i64,
    }

    /// Found by fuzzing: without exact float parsing, `1915892963485951.0` read as a number with
    /// a fraction (one unit in the last place off) and a valid request was refused.
    #[test]
    fn an_integer_written_with_a_zero_fraction_is_read_exactly() {
        for (json, fen) in [
            (r#"{"fen": 756.0}"#, 756),
            (r#"{"fen": 7.56e2}"#, 756),
            (r#"{"fen": 1915892963485951.0}"#, 1_915_892_963_485_951),
            (r#"{"fen": -3.0}"#, -3),
            (r#"{"fen": 9223372036854775807}"#, i64::MAX),
        ] {
            assert_eq!(super::parse_json::<Amount>(json.as_bytes()).unwrap().fen, fen, "{json}");
        }
        for json in [
            r#"{"fen": 7.5}"#,
            r#"{"fen": 1e19}"#,
            r#"{"fen": 9223372036854775808}"#,
            r#"{"fen": "7"}"#,
        ] {
            let error = super::parse_json::<Amount>(json.as_bytes()).err().unwrap();
            assert_eq!(
                (error.code, error.field.as_deref()),
                ("wrong_type", Some("fen")),
                "{json}"
            );
        }
    }

    #[test]
    fn a_query_must_percent_decode_to_utf8() {
        for good in ["", "q=%E7%89%9B", "q=a+b&limit=5", "q=100%", "q=%zz", "q=牛"] {
            assert!(decodes_to_utf8(good), "{good}");
        }
        for bad in ["q=%C0%AF", "q=%FF", "q=%E7%89", "a=1&q=%ED%A0%80"] {
            assert!(!decodes_to_utf8(bad), "{bad}");
        }
    }
}
