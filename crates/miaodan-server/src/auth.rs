//! API tokens and the caller's identity.
//!
//! A token reads `mdn_<id>_<secret>`. Only SHA-256 of the secret is stored; a presented
//! secret's hash is compared with the stored one in constant time. Every request carries
//! `Authorization: Bearer <token>`; the [`Principal`] it resolves to is the tenant boundary:
//! a merchant sees only its shop, a buyer only its own orders, and another tenant's object
//! answers 404 so that nothing about it leaks.

use crate::app::AppState;
use crate::http::problem::ApiError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use miaodan_domain::{BuyerId, ShopId, Timestamp};
use miaodan_store::records::{Role, TokenRecord};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::RwLock;
use subtle::ConstantTimeEq;

const TOKEN_PREFIX: &str = "mdn_";
const SECRET_BYTES: usize = 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Principal {
    Admin,
    Merchant(ShopId),
    Buyer(BuyerId),
}

impl Principal {
    /// The caller's namespace for idempotency keys.
    pub fn scope(&self) -> String {
        match self {
            Principal::Admin => "admin".to_string(),
            Principal::Merchant(shop) => format!("shop:{shop}"),
            Principal::Buyer(buyer) => format!("buyer:{buyer}"),
        }
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A freshly minted token: the record to store and the one-time plaintext for the caller.
pub fn mint(id: i64, role: Role, subject: Option<i64>, label: Option<String>, now: Timestamp) -> (TokenRecord, String) {
    let mut secret = [0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut secret);
    let secret = hex::encode(secret);
    let record = TokenRecord {
        id,
        role,
        subject,
        secret_sha256: sha256_hex(secret.as_bytes()),
        label,
        created_at: now,
        revoked_at: None,
    };
    (record, format!("{TOKEN_PREFIX}{id}_{secret}"))
}

fn principal_of(record: &TokenRecord) -> Option<Principal> {
    match (record.role, record.subject) {
        (Role::Admin, _) => Some(Principal::Admin),
        (Role::Merchant, Some(shop)) => ShopId::new(shop).map(Principal::Merchant),
        (Role::Buyer, Some(buyer)) => BuyerId::new(buyer).map(Principal::Buyer),
        _ => None,
    }
}

/// Token records by id, read through to the store on a miss (tokens made by the CLI while
/// the server runs are found on first use).
#[derive(Default)]
pub struct TokenCache {
    records: RwLock<HashMap<i64, TokenRecord>>,
}

impl TokenCache {
    pub fn remember(&self, record: TokenRecord) {
        if let Ok(mut records) = self.records.write() {
            records.insert(record.id, record);
        }
    }

    fn cached(&self, id: i64) -> Option<TokenRecord> {
        self.records.read().ok()?.get(&id).cloned()
    }
}

fn unauthorized(detail: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
}

pub async fn authenticate(state: &AppState, presented: &str) -> Result<Principal, ApiError> {
    let invalid = || unauthorized("the API token is invalid");
    let rest = presented.strip_prefix(TOKEN_PREFIX).ok_or_else(invalid)?;
    let (id, secret) = rest.split_once('_').ok_or_else(invalid)?;
    let id: i64 = id.parse().map_err(|_| invalid())?;
    let record = match state.tokens.cached(id) {
        Some(record) => record,
        None => {
            let record = state.store.token(id).await?.ok_or_else(invalid)?;
            state.tokens.remember(record.clone());
            record
        }
    };
    let presented_hash = sha256_hex(secret.as_bytes());
    let matches: bool = presented_hash.as_bytes().ct_eq(record.secret_sha256.as_bytes()).into();
    if !matches || record.revoked_at.is_some() {
        return Err(invalid());
    }
    principal_of(&record).ok_or_else(invalid)
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| unauthorized("send Authorization: Bearer <token>"))?;
        let value = header
            .to_str()
            .map_err(|_| unauthorized("the Authorization header is not ASCII"))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| unauthorized("the Authorization header must be Bearer <token>"))?;
        authenticate(state, token.trim()).await
    }
}

fn forbidden(role: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!("this endpoint needs a {role} token"),
    )
}

/// A platform operator.
pub struct Admin;
/// A shop's merchant.
pub struct Merchant(pub ShopId);
/// A buyer.
pub struct Buyer(pub BuyerId);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Principal::from_request_parts(parts, state).await? {
            Principal::Admin => Ok(Admin),
            _ => Err(forbidden("platform (admin)")),
        }
    }
}

impl FromRequestParts<AppState> for Merchant {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Principal::from_request_parts(parts, state).await? {
            Principal::Merchant(shop) => Ok(Merchant(shop)),
            _ => Err(forbidden("merchant")),
        }
    }
}

impl FromRequestParts<AppState> for Buyer {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Principal::from_request_parts(parts, state).await? {
            Principal::Buyer(buyer) => Ok(Buyer(buyer)),
            _ => Err(forbidden("buyer")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minted_token_stores_only_the_hash_of_its_secret() {
        let (record, token) = mint(7, Role::Buyer, Some(3), None, Timestamp::from_unix_ms(0));
        assert!(token.starts_with("mdn_7_"));
        let secret = token.trim_start_matches("mdn_7_");
        assert_eq!(secret.len(), SECRET_BYTES * 2);
        assert!(!record.secret_sha256.contains(secret));
        assert_eq!(record.secret_sha256, sha256_hex(secret.as_bytes()));
        assert_eq!(principal_of(&record), BuyerId::new(3).map(Principal::Buyer));
    }
}
