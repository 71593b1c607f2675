//! The lifecycle of API tokens: minted with a lifetime their role allows, cached for the hot
//! path, stamped with their last use, revoked.
//!
//! A token reads `mdn_<id>_<secret>`. Only SHA-256 of the secret is stored, and nothing here
//! ever shows it again.
//!
//! **Invariants:**
//! - A token past its `expires_at` or revoked is refused by the next request: expiry is checked
//!   against the platform's clock on every request, and the cache never holds a record that a
//!   revocation made stale for longer than [`REVOCATION_POLL_MS`]. A revocation through this
//!   process (the API) forgets the cached record before it answers; one through another process
//!   (`miaodan token revoke`) is read by [`TokenCache::follow_revocations`], which runs every
//!   [`REVOCATION_POLL_MS`] and reads only the revocations numbered after the last one it saw
//!   (one indexed query that usually returns nothing), so the hot path itself never reads the
//!   database for a cached token.
//! - A request writes nothing: its token's last use is kept in memory and written for all
//!   tokens used since, in one transaction, every [`LAST_USED_WRITE_SECONDS`] and at shutdown.

use miaodan_domain::Timestamp;
use miaodan_store::records::{Role, TokenRecord, TokenScope};
use miaodan_store::{Store, StoreError};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

pub const TOKEN_PREFIX: &str = "mdn_";
const SECRET_BYTES: usize = 32;

/// How often a running server reads the revocations made by other processes.
pub const REVOCATION_POLL_MS: u64 = 1_000;
/// How often the last uses of tokens are written (one transaction for all of them).
pub const LAST_USED_WRITE_SECONDS: u64 = 60;

const DAY_SECONDS: i64 = 86_400;

/// A role's token lifetimes, in days: what a token gets when its creator names none, and the
/// most it may ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lifetime {
    pub default_days: i64,
    pub max_days: i64,
}

/// Buyers' tokens live in phones and browsers: a month, at most a quarter. Merchants' tokens
/// run integrations (an ERP, a live-room assistant): a quarter, at most a year. The platform's
/// admin tokens can do everything: a month, at most a quarter.
pub fn lifetime(role: Role) -> Lifetime {
    match role {
        Role::Buyer => Lifetime {
            default_days: 30,
            max_days: 90,
        },
        Role::Merchant | Role::Edge => Lifetime {
            default_days: 90,
            max_days: 365,
        },
        Role::Admin => Lifetime {
            default_days: 30,
            max_days: 90,
        },
    }
}

/// What a new token is for.
#[derive(Clone, Debug)]
pub struct TokenRequest {
    pub role: Role,
    /// The shop of a merchant token, the buyer of a buyer token, none for admin.
    pub subject: Option<i64>,
    pub label: Option<String>,
    pub scope: TokenScope,
    /// `None`: the role's default lifetime.
    pub lifetime_days: Option<i64>,
}

impl TokenRequest {
    /// A read-write token of the role's default lifetime, without a label.
    pub fn new(role: Role, subject: Option<i64>) -> TokenRequest {
        TokenRequest {
            role,
            subject,
            label: None,
            scope: TokenScope::ReadWrite,
            lifetime_days: None,
        }
    }

    pub fn labelled(mut self, label: impl Into<String>) -> TokenRequest {
        self.label = Some(label.into());
        self
    }
}

/// Why a lifetime is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LifetimeRefusal {
    #[error("a token lives at least 1 day")]
    TooShort,
    #[error("{} token lives at most {max_days} days", with_article(*role))]
    TooLong { role: Role, max_days: i64 },
}

fn with_article(role: Role) -> &'static str {
    match role {
        Role::Admin => "an admin",
        Role::Merchant => "a merchant",
        Role::Buyer => "a buyer",
        Role::Edge => "an edge",
    }
}

/// When a token of `role` asked to live `days` (or the role's default) expires.
pub fn expiry(role: Role, days: Option<i64>, now: Timestamp) -> Result<Timestamp, LifetimeRefusal> {
    let allowed = lifetime(role);
    let days = days.unwrap_or(allowed.default_days);
    if days < 1 {
        return Err(LifetimeRefusal::TooShort);
    }
    if days > allowed.max_days {
        return Err(LifetimeRefusal::TooLong {
            role,
            max_days: allowed.max_days,
        });
    }
    Ok(now.plus_seconds(days * DAY_SECONDS))
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A freshly minted token: the record to store and the one-time plaintext for the caller.
pub fn mint(id: i64, request: TokenRequest, now: Timestamp) -> Result<(TokenRecord, String), LifetimeRefusal> {
    let expires_at = expiry(request.role, request.lifetime_days, now)?;
    let mut secret = [0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut secret);
    let secret = hex::encode(secret);
    let record = TokenRecord {
        id,
        role: request.role,
        subject: request.subject,
        secret_sha256: sha256_hex(secret.as_bytes()),
        label: request.label,
        scope: request.scope,
        created_at: now,
        expires_at,
        last_used_at: None,
        revoked_at: None,
    };
    Ok((record, format!("{TOKEN_PREFIX}{id}_{secret}")))
}

/// Where a token stands at an instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenState {
    Active,
    Expired,
    Revoked,
}

impl TokenState {
    pub fn of(record: &TokenRecord, now: Timestamp) -> TokenState {
        if record.revoked_at.is_some() {
            TokenState::Revoked
        } else if now >= record.expires_at {
            TokenState::Expired
        } else {
            TokenState::Active
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TokenState::Active => "active",
            TokenState::Expired => "expired",
            TokenState::Revoked => "revoked",
        }
    }
}

/// A token record as the cache holds it, with its last use not yet written.
pub struct CachedToken {
    pub record: TokenRecord,
    /// The last request's time (ms), 0 if none since it was cached.
    last_used_ms: AtomicI64,
    /// The last use written to the store (ms).
    written_ms: AtomicI64,
}

impl CachedToken {
    fn new(record: TokenRecord) -> CachedToken {
        let written = record.last_used_at.map_or(0, Timestamp::unix_ms);
        CachedToken {
            record,
            last_used_ms: AtomicI64::new(written),
            written_ms: AtomicI64::new(written),
        }
    }

    /// Notes a request that presented this token (memory only).
    pub fn used_at(&self, now: Timestamp) {
        self.last_used_ms.fetch_max(now.unix_ms(), Ordering::Relaxed);
    }

    fn last_used(&self) -> Option<Timestamp> {
        let ms = self.last_used_ms.load(Ordering::Relaxed);
        (ms > 0).then(|| Timestamp::from_unix_ms(ms))
    }

    /// The last use (ms) if it is later than the one written.
    fn unwritten_use(&self) -> Option<i64> {
        let used = self.last_used_ms.load(Ordering::Relaxed);
        (used > self.written_ms.load(Ordering::Relaxed)).then_some(used)
    }
}

/// Token records by id, read through to the store on a miss (tokens made by the CLI while
/// the server runs are found on first use). See the module's invariants for revocation.
#[derive(Default)]
pub struct TokenCache {
    /// Looked up by id; iterated only to write last uses, which are sorted before writing.
    entries: RwLock<HashMap<i64, Arc<CachedToken>>>,
    /// Counts forgets: a record read from the store before a forget is not cached after it
    /// (it may predate the revocation that caused the forget).
    forgets: AtomicU64,
    /// The number of the last revocation [`TokenCache::follow_revocations`] applied.
    revocations_seen: AtomicI64,
    /// Last uses of forgotten tokens not yet written, `(token id, ms)`.
    forgotten_uses: Mutex<Vec<(i64, i64)>>,
}

impl TokenCache {
    /// An empty cache that follows the revocations numbered after the store's latest.
    pub async fn following(store: &Store) -> Result<TokenCache, StoreError> {
        let cache = TokenCache::default();
        cache
            .revocations_seen
            .store(store.revocation_counter().await?, Ordering::SeqCst);
        Ok(cache)
    }

    /// Caches a token just made (nothing can have revoked it yet).
    pub fn remember(&self, record: TokenRecord) {
        if let Ok(mut entries) = self.entries.write() {
            entries.insert(record.id, Arc::new(CachedToken::new(record)));
        }
    }

    fn cached(&self, id: i64) -> Option<Arc<CachedToken>> {
        self.entries.read().ok()?.get(&id).cloned()
    }

    /// The token with this id, from the cache or else the store (then cached).
    pub async fn get(&self, store: &Store, id: i64) -> Result<Option<Arc<CachedToken>>, StoreError> {
        if let Some(entry) = self.cached(id) {
            return Ok(Some(entry));
        }
        let forgets = self.forgets.load(Ordering::SeqCst);
        let Some(record) = store.token(id).await? else {
            return Ok(None);
        };
        let entry = Arc::new(CachedToken::new(record));
        if let Ok(mut entries) = self.entries.write()
            && self.forgets.load(Ordering::SeqCst) == forgets
        {
            entries.entry(id).or_insert_with(|| entry.clone());
        }
        Ok(Some(entry))
    }

    /// Drops a token's record: the next request reads it from the store. Its last use is
    /// still written.
    pub fn forget(&self, id: i64) {
        let Ok(mut entries) = self.entries.write() else {
            return;
        };
        self.forgets.fetch_add(1, Ordering::SeqCst);
        let unwritten = entries.remove(&id).and_then(|entry| entry.unwritten_use());
        if let (Some(used), Ok(mut uses)) = (unwritten, self.forgotten_uses.lock()) {
            uses.push((id, used));
        }
    }

    /// When the token was last used, as this process knows it (fresher than the store).
    pub fn last_used(&self, id: i64) -> Option<Timestamp> {
        let cached = self.cached(id).and_then(|entry| entry.last_used());
        let forgotten = self.forgotten_uses.lock().ok().and_then(|uses| {
            let used = uses
                .iter()
                .filter(|(token, _)| *token == id)
                .map(|(_, used)| *used)
                .max();
            used.map(Timestamp::from_unix_ms)
        });
        cached.max(forgotten)
    }

    /// Forgets every token revoked, by any process, since the last call.
    pub async fn follow_revocations(&self, store: &Store) -> Result<(), StoreError> {
        let seen = self.revocations_seen.load(Ordering::SeqCst);
        let revoked = store.revocations_after(seen).await?;
        for (_, id) in &revoked {
            self.forget(*id);
        }
        if let Some((number, _)) = revoked.last() {
            self.revocations_seen.fetch_max(*number, Ordering::SeqCst);
        }
        Ok(())
    }

    /// Writes the last use of every token used since the previous write (one transaction),
    /// then drops the records of tokens that can no longer be used, so that the cache holds
    /// live tokens only.
    pub async fn write_last_uses(&self, store: &Store, now: Timestamp) -> Result<(), StoreError> {
        let unwritten: Vec<(Arc<CachedToken>, i64)> = match self.entries.read() {
            Ok(entries) => entries
                .values()
                .filter_map(|entry| entry.unwritten_use().map(|used| (entry.clone(), used)))
                .collect(),
            Err(_) => Vec::new(),
        };
        let forgotten = self.forgotten_uses.lock().map(|mut uses| std::mem::take(&mut *uses));
        let forgotten = forgotten.unwrap_or_default();
        let mut uses: Vec<(i64, Timestamp)> = unwritten
            .iter()
            .map(|(entry, used)| (entry.record.id, *used))
            .chain(forgotten.iter().copied())
            .map(|(id, used)| (id, Timestamp::from_unix_ms(used)))
            .collect();
        uses.sort();
        if let Err(error) = store.record_token_use(&uses).await {
            if let Ok(mut pending) = self.forgotten_uses.lock() {
                pending.extend(forgotten);
            }
            return Err(error);
        }
        for (entry, used) in &unwritten {
            entry.written_ms.fetch_max(*used, Ordering::Relaxed);
        }
        if let Ok(mut entries) = self.entries.write() {
            entries.retain(|_, entry| TokenState::of(&entry.record, now) == TokenState::Active);
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_minted_token_stores_only_the_hash_of_its_secret() {
        let request = TokenRequest::new(Role::Buyer, Some(3));
        let (record, token) = mint(7, request, Timestamp::from_unix_ms(0)).unwrap();
        assert!(token.starts_with("mdn_7_"));
        let secret = token.trim_start_matches("mdn_7_");
        assert_eq!(secret.len(), SECRET_BYTES * 2);
        assert!(!record.secret_sha256.contains(secret));
        assert_eq!(record.secret_sha256, sha256_hex(secret.as_bytes()));
        assert_eq!((record.role, record.subject), (Role::Buyer, Some(3)));
    }

    #[test]
    fn each_role_gets_its_default_lifetime_and_may_ask_for_up_to_its_maximum() {
        let now = Timestamp::from_unix_ms(1_000);
        let days = |n: i64| Timestamp::from_unix_ms(1_000 + n * DAY_SECONDS * 1_000);
        // (role, days asked for, expiry or refusal)
        let cases = [
            (Role::Buyer, None, Ok(days(30))),
            (Role::Buyer, Some(90), Ok(days(90))),
            (
                Role::Buyer,
                Some(91),
                Err(LifetimeRefusal::TooLong {
                    role: Role::Buyer,
                    max_days: 90,
                }),
            ),
            (Role::Merchant, None, Ok(days(90))),
            (Role::Merchant, Some(365), Ok(days(365))),
            (
                Role::Merchant,
                Some(366),
                Err(LifetimeRefusal::TooLong {
                    role: Role::Merchant,
                    max_days: 365,
                }),
            ),
            (Role::Admin, None, Ok(days(30))),
            (Role::Admin, Some(1), Ok(days(1))),
            (
                Role::Admin,
                Some(91),
                Err(LifetimeRefusal::TooLong {
                    role: Role::Admin,
                    max_days: 90,
                }),
            ),
            (Role::Admin, Some(0), Err(LifetimeRefusal::TooShort)),
            (Role::Buyer, Some(-5), Err(LifetimeRefusal::TooShort)),
        ];
        for (role, asked, expected) in cases {
            assert_eq!(expiry(role, asked, now), expected, "{role:?} {asked:?}");
        }
    }

    #[test]
    fn a_token_is_active_until_its_expiry_and_revoked_once_revoked() {
        let (mut record, _) = mint(1, TokenRequest::new(Role::Admin, None), Timestamp::from_unix_ms(0)).unwrap();
        let expiry = record.expires_at;
        assert_eq!(
            TokenState::of(&record, Timestamp::from_unix_ms(expiry.unix_ms() - 1)),
            TokenState::Active
        );
        assert_eq!(TokenState::of(&record, expiry), TokenState::Expired);
        record.revoked_at = Some(Timestamp::from_unix_ms(5));
        assert_eq!(TokenState::of(&record, Timestamp::from_unix_ms(6)), TokenState::Revoked);
    }
}
