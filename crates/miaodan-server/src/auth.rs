//! The caller's identity.
//!
//! Every request carries `Authorization: Bearer <token>` (see [`crate::tokens`] for what a
//! token is and how it lives). A presented secret's hash is compared with the stored one in
//! constant time; a revoked or expired token is refused. The [`Principal`] it resolves to is
//! the tenant boundary: a merchant sees only its shop, a buyer only its own orders, and another
//! tenant's object answers 404 so that nothing about it leaks. A read-only token is refused
//! every method but GET and HEAD.
//!
//! A request without `Authorization` may carry a console session instead (the
//! `miaodan_session` cookie): `crate::http::session_gate` resolves it, checks its CSRF token and role,
//! and leaves it in the request's extensions, where [`Principal`] finds it: a shop's member
//! acts as its shop's merchant, a platform admin as the admin.

use crate::app::AppState;
use crate::clock::rfc3339;
use crate::http::problem::ApiError;
use crate::tokens::{TOKEN_PREFIX, TokenState, sha256_hex};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use miaodan_domain::{BuyerId, ShopId};
use miaodan_store::records::{Role, TokenRecord, TokenScope};
use subtle::ConstantTimeEq;

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

    /// Whether this caller may see (and revoke) a token: an admin every token, a merchant its
    /// shop's, a buyer its own.
    pub fn sees_token(&self, record: &TokenRecord) -> bool {
        match self {
            Principal::Admin => true,
            Principal::Merchant(shop) => record.role == Role::Merchant && record.subject == Some(shop.get()),
            Principal::Buyer(buyer) => record.role == Role::Buyer && record.subject == Some(buyer.get()),
        }
    }
}

fn principal_of(record: &TokenRecord) -> Option<Principal> {
    match (record.role, record.subject) {
        (Role::Admin, _) => Some(Principal::Admin),
        (Role::Merchant, Some(shop)) => ShopId::new(shop).map(Principal::Merchant),
        (Role::Buyer, Some(buyer)) => BuyerId::new(buyer).map(Principal::Buyer),
        _ => None,
    }
}

fn unauthorized(detail: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
}

/// The caller a presented token names, and what the token may do. Only a caller who holds the
/// secret learns that a token expired or was revoked; anyone else hears that it is invalid.
pub async fn authenticate(state: &AppState, presented: &str) -> Result<(Principal, TokenScope), ApiError> {
    let invalid = || unauthorized("the API token is invalid");
    let rest = presented.strip_prefix(TOKEN_PREFIX).ok_or_else(invalid)?;
    let (id, secret) = rest.split_once('_').ok_or_else(invalid)?;
    let id: i64 = id.parse().map_err(|_| invalid())?;
    let token = state.tokens.get(&state.store, id).await?.ok_or_else(invalid)?;
    let record = &token.record;
    let presented_hash = sha256_hex(secret.as_bytes());
    let matches: bool = presented_hash.as_bytes().ct_eq(record.secret_sha256.as_bytes()).into();
    if !matches {
        return Err(invalid());
    }
    let now = state.clock.now();
    match TokenState::of(record, now) {
        TokenState::Active => {}
        TokenState::Revoked => return Err(unauthorized("the API token was revoked")),
        TokenState::Expired => {
            return Err(unauthorized(format!(
                "the API token expired at {}; ask for a new one",
                rfc3339(record.expires_at)
            )));
        }
    }
    let principal = principal_of(record).ok_or_else(invalid)?;
    token.used_at(now);
    Ok((principal, record.scope))
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(header) = parts.headers.get(header::AUTHORIZATION) else {
            // A console session the gate (`crate::http::session_gate`) resolved and let through.
            if let Some(signed) = parts.extensions.get::<crate::staff::SignedIn>() {
                return Ok(signed.principal());
            }
            return Err(unauthorized("send Authorization: Bearer <token>"));
        };
        let value = header
            .to_str()
            .map_err(|_| unauthorized("the Authorization header is not ASCII"))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| unauthorized("the Authorization header must be Bearer <token>"))?;
        let (principal, scope) = authenticate(state, token.trim()).await?;
        if scope == TokenScope::ReadOnly && ![Method::GET, Method::HEAD].contains(&parts.method) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                "this token is read-only: it may only read (GET)",
            ));
        }
        Ok(principal)
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
