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
//!
//! An edge gateway's token names no [`Principal`]: it is a [`Caller::Edge`], accepted only by
//! the [`Edge`] extractor (the batch of taps) and refused 403 `forbidden` everywhere else, before
//! the body is read. The gateway vouches for the buyers whose taps it carries.

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

/// Who a token names: a tenant or the platform ([`Principal`]), or an edge gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller {
    Principal(Principal),
    /// An edge gateway, by its token's id.
    Edge(i64),
}

fn caller_of(record: &TokenRecord) -> Option<Caller> {
    let principal = match (record.role, record.subject) {
        (Role::Admin, _) => Principal::Admin,
        (Role::Merchant, Some(shop)) => Principal::Merchant(ShopId::new(shop)?),
        (Role::Buyer, Some(buyer)) => Principal::Buyer(BuyerId::new(buyer)?),
        (Role::Edge, None) => return Some(Caller::Edge(record.id)),
        _ => return None,
    };
    Some(Caller::Principal(principal))
}

fn unauthorized(detail: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
}

/// The caller a presented token names, and what the token may do. Only a caller who holds the
/// secret learns that a token expired or was revoked; anyone else hears that it is invalid.
pub async fn authenticate(state: &AppState, presented: &str) -> Result<(Caller, TokenScope), ApiError> {
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
    let caller = caller_of(record).ok_or_else(invalid)?;
    token.used_at(now);
    Ok((caller, record.scope))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(header) = parts.headers.get(header::AUTHORIZATION) else {
            // A console session the gate (`crate::http::session_gate`) resolved and let through.
            if let Some(signed) = parts.extensions.get::<crate::staff::SignedIn>() {
                return Ok(Caller::Principal(signed.principal()));
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
        let (caller, scope) = authenticate(state, token.trim()).await?;
        if scope == TokenScope::ReadOnly && ![Method::GET, Method::HEAD].contains(&parts.method) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                "this token is read-only: it may only read (GET)",
            ));
        }
        Ok(caller)
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Caller::from_request_parts(parts, state).await? {
            Caller::Principal(principal) => Ok(principal),
            Caller::Edge(_) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "an edge token may only send batches of taps (POST /v1/flash-sales/{flash_sale_id}/taps/batch)",
            )),
        }
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
/// A trusted edge gateway, by its token's id.
pub struct Edge(pub i64);

impl Edge {
    /// The gateway's namespace for the `Idempotency-Key` of a whole batch (each tap's own key
    /// lives in its buyer's namespace).
    pub fn scope(&self) -> String {
        format!("edge:{}", self.0)
    }
}

impl FromRequestParts<AppState> for Edge {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Caller::from_request_parts(parts, state).await? {
            Caller::Edge(token) => Ok(Edge(token)),
            Caller::Principal(_) => Err(forbidden("trusted edge")),
        }
    }
}

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
