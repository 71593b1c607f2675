//! The session gate every `/v1` request passes (a middleware on the router, where the matched route
//! is known):
//!
//! - A request with `Authorization` is a program's: it goes on untouched (one header lookup on
//!   the flash-sale path), except that a mutation of staff or sessions is audited.
//! - A request without it that carries the session cookie is a console's: its session must be
//!   usable, a mutation must carry the session's CSRF token (and, when it says where it comes
//!   from, an `Origin` of this host), and the route's permission must be the role's. Then the
//!   handler sees the session's principal ([`crate::auth::Principal`] reads it from the
//!   request's extensions).
//! - Every mutation a session attempts, accepted or refused, is appended to the audit log
//!   once its status is known, before the response leaves. A crash after the handler's commit
//!   and before that append loses the line (the change stays): the audit log is not in the
//!   shards' transactions.

use crate::app::AppState;
use crate::auth::{Caller, Principal, authenticate};
use crate::http::problem::ApiError;
use crate::staff::permissions::{Permission, allows, permission};
use crate::staff::{CSRF_HEADER, SESSION_COOKIE, SessionRefusal, SignInRefusal, SignedIn, resolve};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use miaodan_store::AuditEntry;
use subtle::ConstantTimeEq;

/// What one attempted mutation was, for its line in the audit log.
struct Attempt {
    method: Method,
    route: String,
    path: String,
}

pub async fn gate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(route) = request.extensions().get::<MatchedPath>().cloned() else {
        return next.run(request).await;
    };
    let route = route.as_str();
    if !route.starts_with("/v1/") {
        return next.run(request).await;
    }
    if request.headers().contains_key(header::AUTHORIZATION) {
        // The flash-sale path ends here: a header lookup and a prefix test, no table lookup.
        let managed = route.starts_with("/v1/staff")
            || route.starts_with("/v1/sessions")
            || route.starts_with("/v1/penalties")
            || route.starts_with("/v1/deposits/");
        if managed && is_mutation(request.method()) {
            let needed = permission(request.method().as_str(), route);
            if needed.is_some_and(Permission::audited_for_tokens) {
                return audited_token_request(&state, request, next).await;
            }
        }
        return next.run(request).await;
    }
    let Some(secret) = session_secret(request.headers()) else {
        return next.run(request).await;
    };
    let needed = permission(request.method().as_str(), route);
    if needed == Some(Permission::NotForSessions) {
        return next.run(request).await;
    }
    let signed = match resolve(&state, &secret).await {
        Ok(signed) => signed,
        Err(refusal) => return ApiError::from(refusal).into_response(),
    };
    session_request(&state, signed, needed, request, next).await
}

async fn session_request(
    state: &AppState,
    signed: SignedIn,
    needed: Option<Permission>,
    mut request: Request,
    next: Next,
) -> Response {
    let attempt = Attempt::of(&request);
    let mutation = is_mutation(request.method());
    let refusal = match mutation {
        true => check_csrf(request.headers(), &signed),
        false => Ok(()),
    }
    .and_then(|()| check_role(&signed, needed));
    let response = match refusal {
        Err(error) => error.into_response(),
        Ok(()) => {
            request.extensions_mut().insert(signed.clone());
            next.run(request).await
        }
    };
    if mutation {
        let staff = Some(signed.member.id);
        record(state, signed.member.shop, staff, attempt, response.status()).await;
    }
    response
}

async fn audited_token_request(state: &AppState, request: Request, next: Next) -> Response {
    let attempt = Attempt::of(&request);
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(|token| token.trim().to_string());
    let caller = match token {
        Some(token) => match authenticate(state, &token).await {
            Ok((Caller::Principal(principal), _)) => Some(principal),
            // An edge gateway is refused these routes: nothing to audit.
            _ => None,
        },
        None => None,
    };
    let response = next.run(request).await;
    let shop = match caller {
        Some(Principal::Merchant(shop)) => Some(shop),
        Some(Principal::Admin) => None,
        // An unknown caller's refused request names no one to audit; a buyer's is refused.
        _ => return response,
    };
    record(state, shop, None, attempt, response.status()).await;
    response
}

impl Attempt {
    fn of(request: &Request) -> Attempt {
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map(|p| p.as_str().to_string());
        Attempt {
            method: request.method().clone(),
            route: route.unwrap_or_default(),
            path: request.uri().path().to_string(),
        }
    }
}

async fn record(
    state: &AppState,
    shop: Option<miaodan_domain::ShopId>,
    staff: Option<i64>,
    attempt: Attempt,
    status: StatusCode,
) {
    let id = match state.ids.audit_entry().await {
        Ok(id) => id,
        Err(error) => {
            tracing::error!(%error, method = %attempt.method, path = attempt.path, "no id for an audit entry");
            return;
        }
    };
    let entry = AuditEntry {
        id,
        shop,
        staff,
        method: attempt.method.to_string(),
        route: attempt.route,
        path: attempt.path,
        status: status.as_u16(),
        at: state.clock.now(),
    };
    if let Err(error) = state.store.append_audit(&entry).await {
        tracing::error!(%error, ?entry, "could not append to the audit log");
    }
}

fn is_mutation(method: &Method) -> bool {
    *method != Method::GET && *method != Method::HEAD
}

/// The session cookie's secret, if the request carries one.
pub fn session_secret(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, secret)| secret.trim().to_string())
}

fn csrf_invalid(detail: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "csrf_token_invalid", detail.to_string())
}

/// The CSRF token must be the session's, and a stated origin this host.
fn check_csrf(headers: &HeaderMap, signed: &SignedIn) -> Result<(), ApiError> {
    let presented = headers
        .get(CSRF_HEADER)
        .map(|value| value.as_bytes())
        .unwrap_or_default();
    let expected = signed.session.csrf_token.as_bytes();
    let matches: bool = presented.ct_eq(expected).into();
    if !matches {
        return Err(csrf_invalid(
            "send the session's csrf_token (from sign-in or GET /v1/sessions/current) as X-CSRF-Token",
        ));
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        let origin_host = origin
            .to_str()
            .ok()
            .and_then(|o| o.split_once("://"))
            .map(|(_, rest)| rest);
        if host.is_none() || origin_host != host {
            return Err(csrf_invalid("the request's Origin is not this server"));
        }
    }
    Ok(())
}

fn check_role(signed: &SignedIn, needed: Option<Permission>) -> Result<(), ApiError> {
    let role = signed.role();
    match needed {
        Some(permission) if allows(role, permission) => Ok(()),
        Some(permission) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden_for_role",
            format!(
                "the role {} lacks the permission `{}`",
                role.as_str(),
                permission.as_str()
            ),
        )),
        None => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden_for_role",
            "this operation is not open to console sessions",
        )),
    }
}

impl From<SessionRefusal> for ApiError {
    fn from(refusal: SessionRefusal) -> ApiError {
        match refusal {
            SessionRefusal::Store(error) => error.into(),
            refusal => ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", refusal.to_string()),
        }
    }
}

impl From<SignInRefusal> for ApiError {
    fn from(refusal: SignInRefusal) -> ApiError {
        match refusal {
            SignInRefusal::Failed => ApiError::new(StatusCode::UNAUTHORIZED, "sign_in_failed", refusal.to_string()),
            SignInRefusal::Throttled { retry_after_seconds } => {
                let mut error = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "sign_in_throttled",
                    "5 failed sign-ins for this login within 15 minutes: wait Retry-After seconds",
                );
                error.retry_after_seconds = Some(retry_after_seconds);
                error
            }
            SignInRefusal::Hash(error) => ApiError::from(error),
            SignInRefusal::Store(error) => error.into(),
        }
    }
}

impl From<crate::staff::HashFailed> for ApiError {
    fn from(error: crate::staff::HashFailed) -> ApiError {
        ApiError::unavailable(format!("{error}; retry"))
    }
}

#[cfg(test)]
mod tests {
    use crate::staff::permissions::permission;

    #[test]
    fn every_route_of_the_api_has_a_permission() {
        let (_, document) = super::super::api().split_for_parts();
        let mut missing = Vec::new();
        for (path, item) in &document.paths.paths {
            if !path.starts_with("/v1/") {
                continue;
            }
            let methods = [
                ("GET", item.get.is_some()),
                ("POST", item.post.is_some()),
                ("PUT", item.put.is_some()),
                ("PATCH", item.patch.is_some()),
                ("DELETE", item.delete.is_some()),
            ];
            for (method, present) in methods {
                if present && permission(method, path).is_none() {
                    missing.push(format!("{method} {path}"));
                }
            }
        }
        assert!(missing.is_empty(), "routes without a permission: {missing:?}");
    }
}
