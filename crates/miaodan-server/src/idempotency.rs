//! `Idempotency-Key` on every mutating endpoint, scoped to the caller.
//!
//! - The first response to a key (errors included) is stored and replayed byte for byte to
//!   every retry with the same request, also after a restart; keys are kept at least 24 h.
//! - The same key with a different request (method, path or body) is refused 422
//!   `idempotency_key_reused` and changes nothing.
//! - Two concurrent requests with one key execute once: the second waits for the first
//!   under a per-key lock, then finds its stored response.
//! - Where a request is decided by a shard, the response is stored in the same transaction
//!   as its effects (see [`Idempotency::recorder`]), so no crash can separate the two.

use crate::auth::{Principal, sha256_hex};
use crate::clock;
use crate::http::problem::{ApiError, PROBLEM_CONTENT_TYPE};
use crate::sequencer::Recorder;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use miaodan_domain::shard::Outcome;
use miaodan_store::Store;
use miaodan_store::records::IdempotencyRecord;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
pub const IDEMPOTENCY_KEY_CHARS_MAX: usize = 255;
/// Stored responses are purged after this long (the promise is "at least 24 hours").
pub const IDEMPOTENCY_RETENTION_SECONDS: i64 = 48 * 3600;

/// A response as sent and as stored: status and JSON body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub status: StatusCode,
    pub body: String,
}

impl Reply {
    pub fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Reply {
        Reply {
            status,
            body: serde_json::to_string(value).unwrap_or_else(|_| "{}".into()),
        }
    }
}

impl From<ApiError> for Reply {
    fn from(error: ApiError) -> Reply {
        Reply {
            status: error.status,
            body: error.body(),
        }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let content_type = if self.status.is_success() {
            "application/json"
        } else {
            PROBLEM_CONTENT_TYPE
        };
        let mut response = (self.status, self.body).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        response
    }
}

/// The idempotency context of one request that carries a key.
#[derive(Clone, Debug)]
pub struct Idempotency {
    pub scope: String,
    pub key: String,
    pub request_sha256: String,
}

impl Idempotency {
    pub fn record(&self, reply: &Reply) -> IdempotencyRecord {
        IdempotencyRecord {
            scope: self.scope.clone(),
            key: self.key.clone(),
            request_sha256: self.request_sha256.clone(),
            status: reply.status.as_u16(),
            body: reply.body.clone(),
            created_at: clock::now(),
        }
    }

    /// A recorder for the shard: renders the outcome exactly as the handler will.
    pub fn recorder(&self, render: fn(&Outcome) -> Reply) -> Recorder {
        let this = self.clone();
        Box::new(move |outcome| this.record(&render(outcome)))
    }

    /// A reference unique to this caller, key and `part` (e.g. one shop of a checkout).
    pub fn request_ref(&self, part: &str) -> String {
        sha256_hex(format!("{}\n{}\n{}", self.scope, self.key, part).as_bytes())
    }
}

/// A caller's key: (scope, Idempotency-Key).
type ScopedKey = (String, String);

/// Per-(scope, key) locks, held only while a request with that key executes, and the
/// fingerprints of every key that may have a stored response.
///
/// The fingerprints are a negative filter: a key whose fingerprint is absent has certainly
/// never been seen (within the retention window), so its request skips the database lookup —
/// the common case, a fresh key per request. A present fingerprint (a retry, or a rare hash
/// collision) costs one lookup. They are loaded at start (after purging expired responses) and
/// only grow while the server runs: rebuilding them under load could drop a key noted
/// meanwhile and let its retry execute twice.
#[derive(Default)]
pub struct IdempotencyLocks {
    locks: Mutex<HashMap<ScopedKey, Arc<tokio::sync::Mutex<()>>>>,
    fingerprints: Mutex<std::collections::HashSet<u64>>,
}

fn fingerprint(scope: &str, key: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (scope, key).hash(&mut hasher);
    hasher.finish()
}

struct KeyGuard<'a> {
    locks: &'a IdempotencyLocks,
    id: ScopedKey,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        if let Ok(mut locks) = self.locks.locks.lock()
            && locks.get(&self.id).is_some_and(|lock| Arc::strong_count(lock) == 1)
        {
            locks.remove(&self.id);
        }
    }
}

impl IdempotencyLocks {
    /// Replaces the fingerprints with those of the keys the store holds.
    pub fn load_fingerprints(&self, keys: impl IntoIterator<Item = (String, String)>) {
        let set = keys.into_iter().map(|(scope, key)| fingerprint(&scope, &key)).collect();
        *self.fingerprints.lock().unwrap_or_else(|p| p.into_inner()) = set;
    }

    /// Records that `(scope, key)` is in use; true if it may have been seen before.
    fn note(&self, scope: &str, key: &str) -> bool {
        !self
            .fingerprints
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(fingerprint(scope, key))
    }

    async fn acquire(&self, id: ScopedKey) -> KeyGuard<'_> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            locks.entry(id.clone()).or_default().clone()
        };
        let guard = lock.lock_owned().await;
        KeyGuard {
            locks: self,
            id,
            guard: Some(guard),
        }
    }
}

fn parse_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY_HEADER) else {
        return Ok(None);
    };
    let invalid = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_idempotency_key",
            format!("Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_CHARS_MAX} visible ASCII characters"),
        )
        .field("Idempotency-Key")
    };
    let key = value.to_str().map_err(|_| invalid())?;
    let valid = !key.is_empty() && key.len() <= IDEMPOTENCY_KEY_CHARS_MAX && key.bytes().all(|b| b.is_ascii_graphic());
    if !valid {
        return Err(invalid());
    }
    Ok(Some(key.to_string()))
}

fn replay(record: IdempotencyRecord) -> Response {
    let status = StatusCode::from_u16(record.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = Reply {
        status,
        body: record.body,
    }
    .into_response();
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}

/// Runs `execute` at most once per (caller, key): replays a stored response, refuses a key
/// reused for another request, and serialises concurrent requests with one key.
/// `execute` receives the context it must store its response with (or `None` without a key).
pub async fn run<F, Fut>(
    store: &Store,
    locks: &IdempotencyLocks,
    principal: Principal,
    headers: &HeaderMap,
    request: (&str, &str, &[u8]),
    execute: F,
) -> Response
where
    F: FnOnce(Option<Idempotency>) -> Fut,
    Fut: Future<Output = Result<Reply, ApiError>>,
{
    let key = match parse_key(headers) {
        Ok(Some(key)) => key,
        Ok(None) => return execute(None).await.unwrap_or_else(Reply::from).into_response(),
        Err(error) => return error.into_response(),
    };
    let (method, path, body) = request;
    let mut fingerprint = format!("{method} {path}\n").into_bytes();
    fingerprint.extend_from_slice(body);
    let context = Idempotency {
        scope: principal.scope(),
        key,
        request_sha256: sha256_hex(&fingerprint),
    };
    let _guard = locks.acquire((context.scope.clone(), context.key.clone())).await;
    if !locks.note(&context.scope, &context.key) {
        return execute(Some(context)).await.unwrap_or_else(Reply::from).into_response();
    }
    match store.idempotency_record(&context.scope, &context.key).await {
        Ok(Some(stored)) if stored.request_sha256 == context.request_sha256 => return replay(stored),
        Ok(Some(_)) => {
            return ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "this Idempotency-Key was already used for a different request",
            )
            .field("Idempotency-Key")
            .into_response();
        }
        Ok(None) => {}
        Err(error) => return ApiError::from(error).into_response(),
    }
    execute(Some(context)).await.unwrap_or_else(Reply::from).into_response()
}
