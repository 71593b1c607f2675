//! `Idempotency-Key` on every mutating endpoint, scoped to the caller.
//!
//! - The first response of a request that ran (errors included: a refusal decided by the state)
//!   is stored and replayed byte for byte to every retry with the same request, also after a
//!   restart; keys are kept at least 24 h. A request refused before it ran (it did not decode,
//!   a value broke a rule, the token was refused, the shard was full) stores nothing, as at
//!   Stripe, so it may be corrected and sent again with the same key. Risk's
//!   `428 risk_challenge` is not stored either (the request held nothing), so a retry after
//!   the buyer stepped up is decided afresh.
//! - The same key with a different request (method, path or body) is refused 422
//!   `idempotency_key_reused` and changes nothing.
//! - Two concurrent requests with one key execute once: the second waits for the first
//!   under a per-key lock, then finds its stored response.
//! - Where a request is decided by a shard, the response is stored in the same transaction
//!   as its effects (see [`Idempotency::recorder`]), so no crash can separate the two.
//! - A caller may read the answer stored for one of its own keys ([`stored_answer`], served
//!   at `GET /v1/idempotency-keys/{key}`); another caller's key is never found.

use crate::app::AppState;
use crate::auth::Principal;
use crate::clock::Clock;
use crate::http::problem::{ApiError, PROBLEM_CONTENT_TYPE};
use crate::sequencer::Recorder;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use miaodan_domain::Timestamp;
use miaodan_domain::risk::Verdict;
use miaodan_domain::shard::{Outcome, Rejection, ShardCommand};
use miaodan_store::records::IdempotencyRecord;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
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
    /// Where the response is stored (see [`IdempotencyLocks`]).
    pub id: i64,
    pub scope: String,
    pub key: String,
    pub request_sha256: String,
    /// The platform's clock, which stamps the stored response.
    pub clock: Clock,
}

impl Idempotency {
    pub fn record(&self, reply: &Reply) -> IdempotencyRecord {
        self.clone().into_record(reply.clone())
    }

    /// [`Idempotency::record`] of a context and a reply used for nothing else.
    fn into_record(self, reply: Reply) -> IdempotencyRecord {
        IdempotencyRecord {
            id: self.id,
            created_at: self.clock.now(),
            scope: self.scope,
            key: self.key,
            request_sha256: self.request_sha256,
            status: reply.status.as_u16(),
            body: reply.body,
        }
    }

    /// A recorder for the shard's batch: renders the outcome exactly as the handler will.
    fn recorder(self, render: impl FnOnce(&Outcome) -> Reply + Send + 'static) -> Recorder {
        Box::new(move |outcome| match outcome {
            // A retry that found the order its key already placed: the answer is rebuilt by the
            // handler from that order, and the first answer, if stored, stays the stored one.
            Outcome::OrderAlreadyPlaced(_) => None,
            // A challenge is not the key's answer: the request held nothing, and once the buyer
            // stepped up the same request is decided afresh (see `http::risk::challenges`).
            Outcome::Rejected(Rejection::Risk(refusal)) if refusal.verdict == Verdict::Challenge => None,
            outcome => Some(self.into_record(render(outcome))),
        })
    }

    /// A recorder for one command's answer: renders it exactly as the handler will.
    pub fn recorder_of<C: ShardCommand>(
        self,
        render: impl FnOnce(&Result<C::Answer, Rejection>) -> Reply + Send + 'static,
    ) -> Recorder {
        self.recorder(move |outcome| render(&C::answer(outcome.clone())))
    }

    /// A reference unique to this caller, key and `part` (e.g. one shop of a checkout).
    ///
    /// Its formula is fixed: orders store their reference, and a retry must find the order an
    /// earlier attempt placed, also one placed before an upgrade. So it stays SHA-256 over
    /// `scope\nkey\nrequest_sha256\npart`, hashed here without building that string.
    pub fn request_ref(&self, part: &str) -> String {
        // The request's own fingerprint is part of it: a key reused with another body after a
        // failed first attempt does not find the first attempt's orders.
        let digest = Sha256::new()
            .chain_update(&self.scope)
            .chain_update(b"\n")
            .chain_update(&self.key)
            .chain_update(b"\n")
            .chain_update(&self.request_sha256)
            .chain_update(b"\n")
            .chain_update(part)
            .finalize();
        hex::encode(digest)
    }
}

/// A caller's key, (scope, Idempotency-Key), as the 128-bit fingerprint the index and the
/// locks know it by ([`IdempotencyLocks::fingerprint`]).
type Fingerprint = u128;

/// Hashes a [`Fingerprint`] for a map: it is the output of a keyed hash already, so its own
/// bits are as good as any hash of it (and a client cannot aim them at one bucket).
#[derive(Clone, Copy, Default)]
struct Prehashed;

impl BuildHasher for Prehashed {
    type Hasher = PrehashedHasher;

    fn build_hasher(&self) -> PrehashedHasher {
        PrehashedHasher(0)
    }
}

struct PrehashedHasher(u64);

impl Hasher for PrehashedHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u128` is expected; any other input is still folded in, not dropped.
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(29) ^ u64::from_le_bytes(word);
        }
    }

    fn write_u128(&mut self, fingerprint: u128) {
        self.0 ^= fingerprint as u64 ^ (fingerprint >> 64) as u64;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Per-(scope, key) locks, held only while a request with that key executes, and the index
/// of stored responses.
///
/// Responses are stored in id order (appends, never a random page per response); the index
/// maps a 128-bit fingerprint of (scope, key) to the id given to the key when it was first
/// seen. The fingerprint is a keyed hash under a secret of this process (SipHash-1-3, 128
/// bits), not SHA-256: the index lives in memory only and is rebuilt from the stored (scope,
/// key) at start, so nothing stored depends on it. Two keys must not share a fingerprint (the
/// second would take over the first's entry), and as with 128 bits of SHA-256 before, chance
/// makes that negligible; a client cannot aim for it either, not knowing the secret. The key's
/// lock is found by the same fingerprint. A key not in the index is new (within the retention
/// window): its request goes straight to execution. A known key reads its response by id.
///
/// The index is loaded once, in the background while the server already serves (after
/// purging expired responses): its size grows with the keys stored in the retention window,
/// and a start must not wait for it. Until it is loaded, a keyed request waits (at most
/// [`INDEX_WAIT`], then `503 unavailable` with `Retry-After`), since only the whole index can
/// say a key is new; reads and requests without a key are served at once. A waiting request
/// holds its place among the requests in flight, so at most half of those places may wait
/// (beyond, a keyed request is refused at once, the same way): a burst of keyed retries after
/// a restart cannot crowd out the rest. The index grows by about 40 bytes a key, and is pruned
/// hourly of the keys first seen before the retention cutoff, with their responses: ids only
/// grow, so an hourly checkpoint (time, last id given) says which ids are that old. It is never
/// rebuilt: a rebuild under load could drop a key noted meanwhile and let its retry execute
/// twice.
pub struct IdempotencyLocks {
    locks: Mutex<HashMap<Fingerprint, Arc<tokio::sync::Mutex<()>>, Prehashed>>,
    index: Mutex<HashMap<Fingerprint, i64, Prehashed>>,
    last_id: std::sync::atomic::AtomicI64,
    /// (time, the last id given by then), oldest first: one per hour of the retention window.
    checkpoints: Mutex<VecDeque<(Timestamp, i64)>>,
    /// The secret of the fingerprints, drawn once per process.
    fingerprint_key: [u8; 16],
    /// Whether the index holds every key stored before this process began: read on every keyed
    /// request (an atomic, not the watch's lock), and waited on through `loaded_signal`.
    loaded: std::sync::atomic::AtomicBool,
    loaded_signal: tokio::sync::watch::Sender<bool>,
    /// A place for each keyed request that may wait for the load (the admission's mechanism:
    /// a place is taken without waiting, or the request is refused).
    waiting: tokio::sync::Semaphore,
    /// Keys learnt from other members with ids no higher than this process's last given id when
    /// learnt, with when: the checkpoints go by this process's ids, and would forget such a key
    /// early (another member's block may be older than this process's). Kept a retention after
    /// they were learnt, as every key is after it was first seen.
    learnt_low: Mutex<VecDeque<(Timestamp, Vec<Fingerprint>)>>,
    /// The store's mark taken before the latest read of the stored keys that the index learnt
    /// (the load at start, or the learning when a shard moved here: see
    /// `Store::stored_keys_mark`); `None`: none yet.
    read_mark: Mutex<Option<i64>>,
}

/// How long a keyed request waits for the index to be loaded before it is refused
/// `503 unavailable` (the client retries; nothing was done).
pub const INDEX_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

impl Default for IdempotencyLocks {
    /// An empty index, loaded: nothing was stored before.
    fn default() -> IdempotencyLocks {
        IdempotencyLocks {
            locks: Mutex::default(),
            index: Mutex::default(),
            last_id: std::sync::atomic::AtomicI64::default(),
            checkpoints: Mutex::default(),
            fingerprint_key: rand::random(),
            loaded: std::sync::atomic::AtomicBool::new(true),
            loaded_signal: tokio::sync::watch::Sender::new(true),
            waiting: tokio::sync::Semaphore::new(0),
            learnt_low: Mutex::default(),
            read_mark: Mutex::default(),
        }
    }
}

struct KeyGuard<'a> {
    locks: &'a IdempotencyLocks,
    id: Fingerprint,
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
    /// An index still to be loaded ([`IdempotencyLocks::load_index`]) from a store whose
    /// stored responses end at id `last_id`: until it is, up to `waiting_max` keyed requests
    /// wait for it and any more are refused at once.
    pub fn loading(last_id: i64, waiting_max: usize) -> IdempotencyLocks {
        IdempotencyLocks {
            last_id: std::sync::atomic::AtomicI64::new(last_id),
            loaded: std::sync::atomic::AtomicBool::new(false),
            loaded_signal: tokio::sync::watch::Sender::new(false),
            waiting: tokio::sync::Semaphore::new(waiting_max),
            ..IdempotencyLocks::default()
        }
    }

    /// Loads the index of the responses the store holds, and lets the keyed requests waiting
    /// for it go on; new ids continue after `last_id` (or after the last given, if later).
    /// The loaded keys count as first seen `now` (they are pruned a retention after it).
    pub fn load_index(&self, keys: impl IntoIterator<Item = (i64, String, String)>, last_id: i64, now: Timestamp) {
        let mut loaded: HashMap<Fingerprint, i64, Prehashed> = keys
            .into_iter()
            .map(|(id, scope, key)| (self.fingerprint(&scope, &key), id))
            .collect();
        {
            let mut index = self.index.lock().unwrap_or_else(|p| p.into_inner());
            // No keyed request runs before the index is loaded, so nothing is noted yet; were
            // anything, the entry noted live is the newer and stays.
            loaded.extend(index.drain());
            *index = loaded;
        }
        self.last_id.fetch_max(last_id, std::sync::atomic::Ordering::Relaxed);
        self.checkpoint(now);
        self.loaded.store(true, std::sync::atomic::Ordering::Release);
        self.loaded_signal.send_replace(true);
    }

    /// Learns the keys stored now (a shard moved here: the answers its former holder stored, so
    /// that a retry of one of its keys is replayed here). A stored key's id wins over one noted
    /// here: such a key's request was noted by this process but decided elsewhere (its shard was
    /// held by another member), or decided here under the same id. They count as first seen
    /// `now`.
    pub fn learn_stored(&self, keys: impl IntoIterator<Item = (i64, String, String)>, now: Timestamp) {
        let learnt: Vec<(Fingerprint, i64)> = keys
            .into_iter()
            .map(|(id, scope, key)| (self.fingerprint(&scope, &key), id))
            .collect();
        let given = self.last_id.load(std::sync::atomic::Ordering::Relaxed);
        // In the order the prune takes them (learnt_low, then the index), both held: a prune
        // never sees the key in the index without its note.
        let mut learnt_low = self.learnt_low.lock().unwrap_or_else(|p| p.into_inner());
        let mut index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        let mut low = Vec::new();
        for (fingerprint, id) in learnt {
            // A key indexed under the same id already has its first sighting counted.
            if index.insert(fingerprint, id) != Some(id) && id <= given {
                low.push(fingerprint);
            }
        }
        if !low.is_empty() {
            learnt_low.push_back((now, low));
        }
    }

    /// A read of the stored keys, made after the store gave `mark`, was learnt (or loaded): every
    /// key stored before the mark is in the index.
    pub fn note_read(&self, mark: i64) {
        let mut read_mark = self.read_mark.lock().unwrap_or_else(|p| p.into_inner());
        if read_mark.is_none_or(|before| mark > before) {
            *read_mark = Some(mark);
        }
    }

    /// The database went back (a mark behind the latest noted): the reads start again from
    /// `mark`, taken before a read of every key.
    pub fn restart_reads(&self, mark: i64) {
        *self.read_mark.lock().unwrap_or_else(|p| p.into_inner()) = Some(mark);
    }

    /// From which mark a learning reads the stored keys: the latest read's; `None` (every key)
    /// before the first.
    pub fn learn_from(&self) -> Option<i64> {
        *self.read_mark.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the index holds every key stored before this process began.
    pub fn is_loaded(&self) -> bool {
        self.loaded.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Waits until the index is loaded.
    pub async fn wait_loaded(&self) {
        let mut signal = self.loaded_signal.subscribe();
        // The sender lives as long as `self`, so the wait ends only by the load.
        let _ = signal.wait_for(|loaded| *loaded).await;
    }

    /// Waits until the index is loaded, at most [`INDEX_WAIT`]; refuses the request after it.
    async fn loaded(&self) -> Result<(), ApiError> {
        self.loaded_within(INDEX_WAIT).await
    }

    async fn loaded_within(&self, patience: std::time::Duration) -> Result<(), ApiError> {
        if self.is_loaded() {
            return Ok(());
        }
        let refused = || {
            ApiError::unavailable("the server is still loading the answers stored for Idempotency-Keys; retry shortly")
        };
        let Ok(_waiting) = self.waiting.try_acquire() else {
            return Err(refused());
        };
        tokio::time::timeout(patience, self.wait_loaded())
            .await
            .map_err(|_| refused())
    }

    /// Notes which ids were given by `now`.
    pub fn checkpoint(&self, now: Timestamp) {
        let last_id = self.last_id.load(std::sync::atomic::Ordering::Relaxed);
        let mut checkpoints = self.checkpoints.lock().unwrap_or_else(|p| p.into_inner());
        checkpoints.push_back((now, last_id));
    }

    /// Forgets the keys first seen before `cutoff` (as far as the checkpoints tell: a key is
    /// kept rather than forgotten early), and gives back the room they took.
    pub fn forget_first_seen_before(&self, cutoff: Timestamp) {
        let mut forgotten_up_to = None;
        {
            let mut checkpoints = self.checkpoints.lock().unwrap_or_else(|p| p.into_inner());
            while let Some(&(at, last_id)) = checkpoints.front()
                && at <= cutoff
            {
                forgotten_up_to = Some(last_id);
                checkpoints.pop_front();
            }
        }
        let Some(up_to) = forgotten_up_to else {
            return;
        };
        // Held until the prune is done (see learn_stored).
        let mut learnt = self.learnt_low.lock().unwrap_or_else(|p| p.into_inner());
        while learnt.front().is_some_and(|(at, _)| *at <= cutoff) {
            learnt.pop_front();
        }
        let kept: std::collections::HashSet<Fingerprint, Prehashed> =
            learnt.iter().flat_map(|(_, keys)| keys.iter().copied()).collect();
        let mut index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        index.retain(|fingerprint, id| *id > up_to || kept.contains(fingerprint));
        if index.capacity() > 2 * index.len() {
            index.shrink_to_fit();
        }
    }

    /// How many keys the index holds.
    pub fn indexed_keys(&self) -> usize {
        self.index.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// The fingerprint of `(scope, key)`: 128 bits of SipHash-1-3 under this process's secret.
    fn fingerprint(&self, scope: &str, key: &str) -> Fingerprint {
        let mut hasher = siphasher::sip128::SipHasher13::new_with_key(&self.fingerprint_key);
        // The scope's length first: no two (scope, key) pairs write the same bytes.
        hasher.write_usize(scope.len());
        hasher.write(scope.as_bytes());
        hasher.write(key.as_bytes());
        siphasher::sip128::Hasher128::finish128(&hasher).as_u128()
    }

    /// Registers `fresh` (an id just reserved) as the id of a key not known: the caller holds
    /// the key's lock, so no one registers it meanwhile.
    fn register(&self, fingerprint: Fingerprint, fresh: i64) {
        self.index
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(fingerprint, fresh);
        // This process's ids only grow (its blocks do): the checkpoints go by the last given.
        self.last_id.fetch_max(fresh, std::sync::atomic::Ordering::Relaxed);
    }

    /// The id of a key if it is known; an unknown key stays unknown.
    fn known_id(&self, fingerprint: Fingerprint) -> Option<i64> {
        let index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        index.get(&fingerprint).copied()
    }

    async fn acquire(&self, id: Fingerprint) -> KeyGuard<'_> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            locks.entry(id).or_default().clone()
        };
        let guard = lock.lock_owned().await;
        KeyGuard {
            locks: self,
            id,
            guard: Some(guard),
        }
    }
}

/// The refusal of a key that is not 1 to 255 visible ASCII characters, naming where it was.
pub fn invalid_key(field: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_idempotency_key",
        format!("Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_CHARS_MAX} visible ASCII characters"),
    )
    .field(field)
}

/// Whether `key` can be an `Idempotency-Key`: 1 to 255 visible ASCII characters.
pub fn is_valid_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= IDEMPOTENCY_KEY_CHARS_MAX && key.bytes().all(|b| b.is_ascii_graphic())
}

fn parse_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY_HEADER) else {
        return Ok(None);
    };
    let key = value.to_str().map_err(|_| invalid_key("Idempotency-Key"))?;
    if !is_valid_key(key) {
        return Err(invalid_key("Idempotency-Key"));
    }
    Ok(Some(key.to_string()))
}

/// The answer stored for one of the caller's keys, if there is one. Keys are looked up in the
/// caller's own scope only: another caller's key is never found, whatever its text.
pub async fn stored_answer(
    state: &AppState,
    principal: Principal,
    key: &str,
) -> Result<Option<IdempotencyRecord>, ApiError> {
    let scope = principal.scope();
    let locks = &state.idempotency_locks;
    locks.loaded().await?;
    let Some(id) = locks.known_id(locks.fingerprint(&scope, key)) else {
        return Ok(None);
    };
    let stored = state.store.idempotency_record(id).await?;
    Ok(stored.filter(|record| record.scope == scope && record.key == key))
}

/// A stored answer as it was first sent.
fn stored_reply(record: IdempotencyRecord) -> Reply {
    Reply {
        status: StatusCode::from_u16(record.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        body: record.body,
    }
}

fn replay(record: IdempotencyRecord) -> Response {
    let mut response = stored_reply(record).into_response();
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}

/// Sends one command to the shard owning `shop` and renders its answer, storing that rendering
/// for the caller's key in the command's own batch (so the answer and its replay are one).
pub async fn ask<C: ShardCommand>(
    state: &AppState,
    shop: miaodan_domain::ShopId,
    command: C,
    idem: Option<Idempotency>,
    render: impl Fn(&Result<C::Answer, Rejection>) -> Reply + Clone + Send + 'static,
) -> Result<Reply, ApiError>
where
    C::Answer: 'static,
{
    let recorder = idem.map(|i| i.recorder_of::<C>(render.clone()));
    let answer = state.shards.ask(shop, command, recorder).await?;
    Ok(render(&answer))
}

/// Stores the response to a request that no single shard decided (a checkout across shops, a
/// payment) with the next batch of the shard of `shop`: no transaction of its own.
pub async fn remember(
    state: &AppState,
    shop: miaodan_domain::ShopId,
    idem: Option<Idempotency>,
    reply: Reply,
) -> Result<Reply, ApiError> {
    if let Some(idem) = idem {
        state.shards.store_response(shop, idem.record(&reply)).await?;
    }
    Ok(reply)
}

/// Runs `execute` at most once per (caller, key): replays a stored response, refuses a key
/// reused for another request, and serialises concurrent requests with one key.
/// `execute` receives the context it must store its response with (or `None` without a key).
pub async fn run<F, Fut>(
    state: &AppState,
    principal: Principal,
    headers: &HeaderMap,
    request: (&str, &str, &[u8]),
    execute: F,
) -> Response
where
    F: FnOnce(Option<Idempotency>) -> Fut,
    Fut: Future<Output = Result<Reply, ApiError>>,
{
    run_in_scope(state, principal.scope(), headers, request, execute).await
}

/// [`run`] for a caller that is no [`Principal`] (an edge gateway), in its own `scope`.
pub async fn run_in_scope<F, Fut>(
    state: &AppState,
    scope: String,
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
        Ok(None) => return respond(execute(None).await),
        Err(error) => return error.into_response(),
    };
    if let Err(error) = state.idempotency_locks.loaded().await {
        return error.into_response();
    }
    let request_sha256 = request_sha256(request);
    let fingerprint = state.idempotency_locks.fingerprint(&scope, &key);
    let _guard = state.idempotency_locks.acquire(fingerprint).await;
    match look_up(state, (fingerprint, scope, key), request_sha256).await {
        Ok(Found::Stored(stored)) => replay(stored),
        Ok(Found::Reused) => reused_key().into_response(),
        Ok(Found::Fresh(context)) => respond(execute(Some(context)).await),
        Err(error) => ApiError::from(error).into_response(),
    }
}

/// What a caller's key holds, looked up under its lock.
enum Found {
    /// The answer stored for this same request.
    Stored(IdempotencyRecord),
    /// The key was used for another request.
    Reused,
    /// The key is new (or stored nothing): decide the request with this context.
    Fresh(Idempotency),
}

/// SHA-256 of `METHOD path\nbody`: what tells a retry from another request under the same key.
/// Stored with each answer, so its formula is fixed (a key stored before must still replay).
fn request_sha256((method, path, body): (&str, &str, &[u8])) -> String {
    let digest = Sha256::new()
        .chain_update(method)
        .chain_update(b" ")
        .chain_update(path)
        .chain_update(b"\n")
        .chain_update(body)
        .finalize();
    hex::encode(digest)
}

/// Decides what a request with `key` in `scope` (and its `fingerprint`) gets; the caller holds
/// the key's lock.
async fn look_up(
    state: &AppState,
    (fingerprint, scope, key): (Fingerprint, String, String),
    request_sha256: String,
) -> Result<Found, miaodan_store::StoreError> {
    let locks = &state.idempotency_locks;
    let known = locks.known_id(fingerprint);
    let id = match known {
        Some(id) => id,
        None => fresh_id(state, fingerprint).await?,
    };
    let mut context = Idempotency {
        id,
        scope,
        key,
        request_sha256,
        clock: state.clock.clone(),
    };
    if known.is_some() {
        match state.store.idempotency_record(id).await? {
            Some(stored) if stored.scope == context.scope && stored.key == context.key => {
                if stored.request_sha256 == context.request_sha256 {
                    return Ok(Found::Stored(stored));
                }
                return Ok(Found::Reused);
            }
            // Nothing was stored for it (or it was purged): answer afresh under a new id.
            _ => context.id = fresh_id(state, fingerprint).await?,
        }
    }
    Ok(Found::Fresh(context))
}

/// A new id for a key not known (or whose first request stored nothing, so that its next answer
/// is stored under an id no row has), reserved like every other id: members sharing a database
/// never store two answers under one id.
async fn fresh_id(state: &AppState, fingerprint: Fingerprint) -> Result<i64, miaodan_store::StoreError> {
    let fresh = state.ids.idempotency_response().await?;
    state.idempotency_locks.register(fingerprint, fresh);
    Ok(fresh)
}

/// One keyed request among many sent together (an edge gateway's batch of taps), as its
/// caller would have sent it alone: the caller's scope, its key, and (method, path, body).
pub struct KeyedRequest<'a> {
    pub scope: String,
    pub key: &'a str,
    pub request: (&'a str, &'a str, &'a [u8]),
}

/// What a keyed request of a batch found for its key.
pub enum Claim {
    /// The answer it gets without being decided: the key's stored answer (the same request),
    /// or the refusal of a key reused for another request.
    Answered(Reply),
    /// The key is new (or stored nothing): decide the request with this context.
    Fresh(Idempotency),
    /// The same caller, key and request as the earlier request of the batch at this index: it
    /// gets that request's answer, as a retry would.
    SameAs(usize),
}

/// The per-key locks a batch holds until it has answered.
pub struct BatchKeys<'a> {
    _guards: Vec<KeyGuard<'a>>,
}

fn reused_key() -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
        "this Idempotency-Key was already used for a different request",
    )
    .field("Idempotency-Key")
}

/// Claims the keys of a batch of requests, each exactly as [`run`] would claim it alone: a
/// stored answer is replayed, a key reused for another request is refused, a new key is given
/// its context. The locks are taken in fingerprint order (never in the batch's), so two batches
/// that share keys cannot wait on each other; they are held until the returned [`BatchKeys`]
/// drop.
pub async fn claim_batch<'a>(
    state: &'a AppState,
    requests: &[KeyedRequest<'_>],
) -> (BatchKeys<'a>, Vec<Result<Claim, ApiError>>) {
    let locks = &state.idempotency_locks;
    if let Err(error) = locks.loaded().await {
        let refused = requests.iter().map(|_| Err(error.clone())).collect();
        return (BatchKeys { _guards: Vec::new() }, refused);
    }
    let fingerprints: Vec<Fingerprint> = requests.iter().map(|r| locks.fingerprint(&r.scope, r.key)).collect();
    let mut distinct = fingerprints.clone();
    distinct.sort_unstable();
    distinct.dedup();
    let mut guards = Vec::with_capacity(distinct.len());
    for key in distinct {
        guards.push(locks.acquire(key).await);
    }
    let mut first_of: HashMap<(&str, &str), (usize, String)> = HashMap::new();
    let mut claims = Vec::with_capacity(requests.len());
    for (index, request) in requests.iter().enumerate() {
        let sha256 = request_sha256(request.request);
        let claim = match first_of.get(&(request.scope.as_str(), request.key)) {
            Some((_, first)) if *first != sha256 => Ok(Claim::Answered(reused_key().into())),
            Some((earlier, _)) => Ok(Claim::SameAs(*earlier)),
            None => {
                first_of.insert((request.scope.as_str(), request.key), (index, sha256.clone()));
                let key = (fingerprints[index], request.scope.clone(), request.key.to_string());
                let found = look_up(state, key, sha256).await;
                found.map_err(ApiError::from).map(|found| match found {
                    Found::Stored(stored) => Claim::Answered(stored_reply(stored)),
                    Found::Reused => Claim::Answered(reused_key().into()),
                    Found::Fresh(context) => Claim::Fresh(context),
                })
            }
        };
        claims.push(claim);
    }
    (BatchKeys { _guards: guards }, claims)
}

/// The answer as sent; a refusal keeps its headers (`Retry-After`).
fn respond(result: Result<Reply, ApiError>) -> Response {
    match result {
        Ok(reply) => reply.into_response(),
        Err(error) => error.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hours: i64) -> Timestamp {
        Timestamp::from_unix_ms(1_000_000_000_000 + hours * 3_600_000)
    }

    /// Both are stored (the request's fingerprint with each answer, the reference with each
    /// order), so they must come out as they did when those rows were written: the digests
    /// below are the formulas' own, worked out apart from this code.
    #[test]
    fn the_request_fingerprint_and_reference_keep_the_formulas_stored_rows_were_made_with() {
        let request_sha256 = request_sha256(("POST", "/v1/flash-sales/7/taps", br#"{"quantity":1}"#));
        assert_eq!(
            request_sha256,
            "c4dfc21327c30d6b01b52393d16341e3203a9373dadd2caf61dd95f3f77087c7"
        );
        let context = Idempotency {
            id: 1,
            scope: "buyer:42".into(),
            key: "tap-1".into(),
            request_sha256,
            clock: Clock::system(),
        };
        assert_eq!(
            context.request_ref("tap"),
            "63d7dcf8c1b06784ce56adcd90cd2df200c34daff363c6c27ebab6780a91543f"
        );
    }

    #[test]
    fn a_keys_fingerprint_tells_scopes_and_keys_apart_and_is_the_same_for_the_same_key() {
        let locks = IdempotencyLocks::default();
        let of = |scope: &str, key: &str| locks.fingerprint(scope, key);
        assert_eq!(of("buyer:1", "k"), of("buyer:1", "k"));
        assert_ne!(of("buyer:1", "k"), of("buyer:2", "k"));
        // The same bytes split differently between scope and key are another key.
        assert_ne!(of("buyer:1", "2k"), of("buyer:12", "k"));
        // Another process draws another secret: its fingerprints are its own.
        assert_ne!(
            IdempotencyLocks::default().fingerprint("buyer:1", "k"),
            of("buyer:1", "k")
        );
    }

    /// A learning reads every key until a read was learnt, then from the latest read's mark; an
    /// older read noted late (the load at start, finishing after a learning) does not move it
    /// back.
    #[test]
    fn a_learning_reads_from_the_latest_read_learnt() {
        let locks = IdempotencyLocks::default();
        assert_eq!(locks.learn_from(), None);
        locks.note_read(500);
        assert_eq!(locks.learn_from(), Some(500));
        locks.note_read(300);
        assert_eq!(locks.learn_from(), Some(500));
        locks.note_read(600);
        assert_eq!(locks.learn_from(), Some(600));
        // The database went back: the reads start again from the mark taken then.
        locks.restart_reads(400);
        assert_eq!(locks.learn_from(), Some(400));
    }

    #[tokio::test]
    async fn keyed_requests_wait_for_the_index_and_then_find_the_stored_keys() {
        let locks = Arc::new(IdempotencyLocks::loading(7, 1));
        assert!(!locks.is_loaded());
        // Not loaded, a keyed request is refused after its patience, 503 with Retry-After.
        let refused = locks.loaded_within(std::time::Duration::from_millis(20)).await;
        let refused = refused.expect_err("the index is not loaded");
        assert_eq!(
            (refused.status, refused.code),
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
        );
        assert_eq!(refused.retry_after_seconds, Some(1));
        // One that waits goes on once the index is loaded, and finds the stored keys.
        let waiting = tokio::spawn({
            let locks = locks.clone();
            async move { locks.loaded().await }
        });
        while locks.waiting.available_permits() == 1 {
            tokio::task::yield_now().await;
        }
        assert!(!waiting.is_finished());
        // Only one may wait: a second is refused at once.
        let crowded = locks.loaded_within(std::time::Duration::from_secs(600)).await;
        assert_eq!(crowded.expect_err("one waits already").code, "unavailable");
        locks.load_index([(7, "buyer:1".into(), "stored".into())], 7, at(0));
        waiting.await.expect("the waiting task ends").expect("loaded");
        assert!(locks.is_loaded());
        assert_eq!(locks.known_id(locks.fingerprint("buyer:1", "stored")), Some(7));
        assert_eq!(locks.known_id(locks.fingerprint("buyer:1", "new")), None);
    }

    #[test]
    fn keys_first_seen_before_the_cutoff_leave_the_index_and_later_ones_stay() {
        let locks = IdempotencyLocks::default();
        locks.load_index([(1, "buyer:1".into(), "loaded".into())], 1, at(0));
        let known = |key: &str| locks.known_id(locks.fingerprint("buyer:1", key));
        // Ids as the blocks hand them out: growing.
        let (old, new) = (2, 3);
        locks.register(locks.fingerprint("buyer:1", "old"), old);
        locks.checkpoint(at(1));
        locks.register(locks.fingerprint("buyer:1", "new"), new);
        locks.checkpoint(at(2));

        // Nothing is older than the first checkpoint: everything stays.
        locks.forget_first_seen_before(at(0).plus_seconds(-1));
        assert_eq!(locks.indexed_keys(), 3);
        // The keys seen by hour 1 go; the one seen after it stays, with its id.
        locks.forget_first_seen_before(at(1));
        assert_eq!(locks.indexed_keys(), 1);
        assert_eq!(known("new"), Some(new));
        assert_eq!(known("old"), None, "a forgotten key is new again");
    }

    /// A key learnt from another member whose block is older than this process's ids is kept a
    /// retention after it was learnt, not forgotten with this process's ids of that time.
    #[test]
    fn a_key_learnt_with_an_older_id_is_kept_a_retention_after_it_was_learnt() {
        let locks = IdempotencyLocks::default();
        let known = |key: &str| locks.known_id(locks.fingerprint("buyer:1", key));
        locks.register(locks.fingerprint("buyer:1", "mine"), 100);
        locks.checkpoint(at(1));
        // Learnt at hour 2 from another member's old block (id 50), and one from a newer one.
        locks.learn_stored(
            [
                (50, "buyer:1".into(), "theirs".into()),
                (150, "buyer:1".into(), "newer".into()),
            ],
            at(2),
        );
        locks.checkpoint(at(3));
        // Hour 1's ids go (up to 100), but not the key learnt at hour 2.
        locks.forget_first_seen_before(at(1));
        assert_eq!(known("mine"), None);
        assert_eq!(known("theirs"), Some(50));
        assert_eq!(known("newer"), Some(150));
        // A retention after it was learnt, it goes too.
        locks.forget_first_seen_before(at(3));
        assert_eq!(known("theirs"), None);
    }
}
