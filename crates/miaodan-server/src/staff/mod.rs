//! Staff accounts and their console sessions: passwords hashed with argon2id, sign-in with a
//! throttle, sessions carried by an HttpOnly cookie, and what a session may do
//! ([`permissions`]), checked with its CSRF token and written to the audit log by the HTTP
//! layer's session gate (`http::session_gate`). Nothing here speaks HTTP: refusals are
//! [`SignInRefusal`] and [`SessionRefusal`], which the HTTP layer answers.
//!
//! **Invariants:**
//! - Only SHA-256 of a session's secret is stored; the secret lives in the member's cookie.
//! - A session is refused once revoked, once [`SESSION_IDLE_SECONDS`] passed since its last
//!   use, once [`SESSION_ABSOLUTE_SECONDS`] passed since it began, or once its member is
//!   disabled: every request reads the session from the store (the console's traffic is
//!   small; the flash-sale path carries tokens and never reaches this code).
//! - A wrong password, an unknown login and a disabled member answer alike, in body and in
//!   time (an unknown login is checked against a dummy hash).
//! - The sign-in throttle is in memory: a restart forgets the failures, and each process of
//!   a (not supported) multi-process deployment would count its own.

pub mod permissions;

use crate::app::AppState;
use crate::tokens::sha256_hex;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use miaodan_domain::Timestamp;
use miaodan_domain::staff::StaffRole;
use miaodan_store::{StaffMember, StaffSession, StoreError};
use rand::RngCore;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use crate::auth::Principal;

/// The cookie that carries a session's secret.
pub const SESSION_COOKIE: &str = "miaodan_session";
/// The header a session's mutations carry its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// A session unused for this long ends.
pub const SESSION_IDLE_SECONDS: i64 = 12 * 3600;
/// A session ends this long after sign-in, however much it is used.
pub const SESSION_ABSOLUTE_SECONDS: i64 = 7 * 24 * 3600;
/// A session's last use is written at most this often (its idle clock is this much coarse).
pub const SESSION_TOUCH_SECONDS: i64 = 60;
/// Failed sign-ins for one login within [`SIGN_IN_WINDOW_SECONDS`] before further ones are
/// refused (429) until the oldest leaves the window.
pub const SIGN_IN_FAILURES_MAX: usize = 5;
pub const SIGN_IN_WINDOW_SECONDS: i64 = 15 * 60;
/// Logins whose failures the throttle remembers; past this, logins with no failure in the
/// window are forgotten first, then the map is cleared (a flood of made-up logins cannot grow
/// memory without bound; it can only reset the counts).
pub const THROTTLED_LOGINS_MAX: usize = 100_000;
const SECRET_BYTES: usize = 32;

/// argon2id with 19 MiB of memory, 2 passes, 1 lane: the OWASP password-storage minimum. The
/// argon2 crates are compiled optimised in debug builds too (`[profile.dev.package]`), so a
/// hash takes tens of milliseconds in tests as in production.
pub const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
pub const ARGON2_PASSES: u32 = 2;
const ARGON2_LANES: u32 = 1;

fn hasher() -> Argon2<'static> {
    let params = Params::new(ARGON2_MEMORY_KIB, ARGON2_PASSES, ARGON2_LANES, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The hasher failed (it does not for a password within the length limit): an operating
/// error, answered 503.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the password could not be hashed")]
pub struct HashFailed;

/// The PHC string of `password` under a fresh salt (CPU-heavy: run it off the async threads).
pub fn hash_password(password: &str) -> Result<String, HashFailed> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|_| HashFailed)?;
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|_| HashFailed)
}

/// Whether `password` is the one `phc` was made from.
pub fn verify_password(phc: &str, password: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|hash| hasher().verify_password(password.as_bytes(), &hash).is_ok())
}

/// Runs a hash or a verification on the blocking pool.
pub async fn off_thread<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, HashFailed> {
    tokio::task::spawn_blocking(work).await.map_err(|_| HashFailed)
}

/// Why a sign-in is refused. A wrong password, an unknown login and a disabled member are one
/// refusal, so that nobody learns which logins exist.
#[derive(Debug, thiserror::Error)]
pub enum SignInRefusal {
    #[error("the login or the password is wrong, or the account is disabled")]
    Failed,
    #[error("too many failed sign-ins for this login")]
    Throttled { retry_after_seconds: u64 },
    #[error(transparent)]
    Hash(#[from] HashFailed),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a session cookie does not sign its request in.
#[derive(Debug, thiserror::Error)]
pub enum SessionRefusal {
    #[error("the session is not known; sign in")]
    Unknown,
    #[error("the session was ended; sign in again")]
    Ended,
    #[error("the session expired; sign in again")]
    Expired,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A fresh random secret, hex.
pub fn random_secret() -> String {
    let mut secret = [0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut secret);
    hex::encode(secret)
}

/// A signed-in session and its member: what the gate hands to the handlers.
#[derive(Clone, Debug)]
pub struct SignedIn {
    pub session: StaffSession,
    pub member: StaffMember,
}

impl SignedIn {
    /// The principal the session acts as: its shop's merchant, or the platform's admin.
    pub fn principal(&self) -> Principal {
        match self.member.shop {
            Some(shop) => Principal::Merchant(shop),
            None => Principal::Admin,
        }
    }

    pub fn role(&self) -> StaffRole {
        self.member.role
    }
}

/// The staff capability's memory: the sign-in throttle, the dummy hash unknown logins are
/// checked against, and the lock that keeps logins unique.
pub struct Staff {
    failures: Mutex<HashMap<String, VecDeque<Timestamp>>>,
    dummy_hash: String,
    /// Held while a login is checked free and its member inserted (one serving process per
    /// database; the unique index backs it).
    pub creating: tokio::sync::Mutex<()>,
}

impl Staff {
    pub fn new() -> Result<Staff, HashFailed> {
        Ok(Staff {
            failures: Mutex::default(),
            dummy_hash: hash_password(&random_secret())?,
            creating: tokio::sync::Mutex::new(()),
        })
    }

    pub fn dummy_hash(&self) -> String {
        self.dummy_hash.clone()
    }

    /// Refuses a sign-in for `login` while it has too many recent failures.
    pub fn check_throttle(&self, login: &str, now: Timestamp) -> Result<(), SignInRefusal> {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let window_start = now.plus_seconds(-SIGN_IN_WINDOW_SECONDS);
        let Some(recent) = failures.get(login) else {
            return Ok(());
        };
        let in_window: Vec<&Timestamp> = recent.iter().filter(|at| **at > window_start).collect();
        if in_window.len() < SIGN_IN_FAILURES_MAX {
            return Ok(());
        }
        let oldest = in_window[in_window.len() - SIGN_IN_FAILURES_MAX];
        let wait_ms = oldest.plus_seconds(SIGN_IN_WINDOW_SECONDS).unix_ms() - now.unix_ms();
        let retry_after_seconds = u64::try_from(wait_ms.div_euclid(1000) + 1).unwrap_or(1);
        Err(SignInRefusal::Throttled { retry_after_seconds })
    }

    pub fn note_failure(&self, login: &str, now: Timestamp) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if failures.len() >= THROTTLED_LOGINS_MAX && !failures.contains_key(login) {
            let window_start = now.plus_seconds(-SIGN_IN_WINDOW_SECONDS);
            failures.retain(|_, recent| recent.back().is_some_and(|at| *at > window_start));
            if failures.len() >= THROTTLED_LOGINS_MAX {
                failures.clear();
            }
        }
        let recent = failures.entry(login.to_string()).or_default();
        recent.push_back(now);
        while recent.len() > SIGN_IN_FAILURES_MAX {
            recent.pop_front();
        }
    }

    pub fn forget_failures(&self, login: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.remove(login);
    }
}

/// The session a cookie's secret names, if it is still usable at `now`; its use is noted.
pub async fn resolve(state: &AppState, secret: &str) -> Result<SignedIn, SessionRefusal> {
    let found = state
        .store
        .staff_session_by_secret(&sha256_hex(secret.as_bytes()))
        .await?;
    let (session, member) = found.ok_or(SessionRefusal::Unknown)?;
    let now = state.clock.now();
    if session.revoked_at.is_some() || member.disabled_at.is_some() {
        return Err(SessionRefusal::Ended);
    }
    if now >= session.expires_at || now >= session.last_seen_at.plus_seconds(SESSION_IDLE_SECONDS) {
        return Err(SessionRefusal::Expired);
    }
    if now >= session.last_seen_at.plus_seconds(SESSION_TOUCH_SECONDS) {
        state.store.touch_staff_session(session.id, now).await?;
    }
    Ok(SignedIn { session, member })
}

/// Signs `login` in with `password`: a new session and its secret (for the cookie).
pub async fn sign_in(state: &AppState, login: &str, password: &str) -> Result<(SignedIn, String), SignInRefusal> {
    let now = state.clock.now();
    state.staff.check_throttle(login, now)?;
    let member = state.store.staff_member_by_login(login).await?;
    let phc = member
        .as_ref()
        .map_or_else(|| state.staff.dummy_hash(), |m| m.password_hash.clone());
    let presented = password.to_string();
    let verified = off_thread(move || verify_password(&phc, &presented)).await?;
    let member = match member {
        Some(member) if verified && member.disabled_at.is_none() => member,
        _ => {
            state.staff.note_failure(login, now);
            return Err(SignInRefusal::Failed);
        }
    };
    state.staff.forget_failures(login);
    let secret = random_secret();
    let session = StaffSession {
        id: state.ids.staff_session().await?,
        staff: member.id,
        shop: member.shop,
        secret_sha256: sha256_hex(secret.as_bytes()),
        csrf_token: random_secret(),
        created_at: now,
        last_seen_at: now,
        expires_at: now.plus_seconds(SESSION_ABSOLUTE_SECONDS),
        revoked_at: None,
    };
    state.store.insert_staff_session(&session).await?;
    Ok((SignedIn { session, member }, secret))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_own_hash_only() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(verify_password(&hash, "correct horse battery"));
        assert!(!verify_password(&hash, "correct horse battery!"));
        assert!(!verify_password("not a hash", "correct horse battery"));
    }

    #[test]
    fn five_failures_within_the_window_throttle_a_login_until_the_oldest_leaves_it() {
        let staff = Staff::new().unwrap();
        let at = |s: i64| Timestamp::from_unix_ms(1_000_000_000 + s * 1000);
        for i in 0..5 {
            assert!(staff.check_throttle("owner", at(i)).is_ok());
            staff.note_failure("owner", at(i));
        }
        let refused = staff.check_throttle("owner", at(10)).unwrap_err();
        assert!(
            matches!(
                refused,
                SignInRefusal::Throttled {
                    retry_after_seconds: 891
                }
            ),
            "{refused:?}"
        );
        assert!(
            staff.check_throttle("operator", at(10)).is_ok(),
            "another login is not throttled"
        );
        assert!(staff.check_throttle("owner", at(SIGN_IN_WINDOW_SECONDS + 1)).is_ok());
        staff.forget_failures("owner");
        assert!(staff.check_throttle("owner", at(10)).is_ok());
    }
}
