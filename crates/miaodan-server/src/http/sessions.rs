//! Console sessions: sign in with a login and password (no token needed), read the current
//! session (a reloaded page gets its CSRF token back), sign out; owners and admins list a
//! shop's active sessions and revoke one. The session's secret travels only in the
//! `miaodan_session` cookie (HttpOnly, Secure, SameSite=Strict).

use super::extract::{JsonBody, PathIds};
use super::page::{ListQuery, Page, PageQuery};
use super::problem::{ApiError, Problem};
use super::staff::listed_shop;
use super::validate;
use crate::app::AppState;
use crate::auth::Principal;
use crate::clock::rfc3339;
use crate::staff::{SESSION_ABSOLUTE_SECONDS, SESSION_COOKIE, SESSION_IDLE_SECONDS, SignedIn, sign_in};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use miaodan_domain::ShopId;
use miaodan_store::{SessionFilter, StaffSession};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

const SESSIONS: &str = "sessions";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_session, list_sessions))
        .routes(routes!(current_session, end_current_session))
        .routes(routes!(revoke_session))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    #[schema(schema_with = crate::http::schema::login)]
    pub login: String,
    #[schema(schema_with = crate::http::schema::presented_password)]
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionSummary {
    pub id: i64,
    /// The session's absolute end (it ends sooner after 12 hours unused).
    pub expires_at: String,
}

/// The signed-in member.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignedInMember {
    pub id: i64,
    /// `null` for a platform admin.
    pub shop_id: Option<i64>,
    pub login: String,
    pub name: String,
    pub role: String,
}

/// A session as its own page sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CurrentSession {
    pub session: SessionSummary,
    pub staff: SignedInMember,
    /// Send as `X-CSRF-Token` with every request but GET and HEAD.
    pub csrf_token: String,
}

impl From<&SignedIn> for CurrentSession {
    fn from(signed: &SignedIn) -> CurrentSession {
        let member = &signed.member;
        CurrentSession {
            session: SessionSummary {
                id: signed.session.id,
                expires_at: rfc3339(signed.session.expires_at),
            },
            staff: SignedInMember {
                id: member.id,
                shop_id: member.shop.map(ShopId::get),
                login: member.login.as_str().into(),
                name: member.name.clone(),
                role: member.role.as_str().into(),
            },
            csrf_token: signed.session.csrf_token.clone(),
        }
    }
}

/// A session as owners and admins list it: never its secret or CSRF token.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    pub id: i64,
    pub staff_id: i64,
    pub shop_id: Option<i64>,
    pub created_at: String,
    pub last_seen_at: String,
    pub expires_at: String,
    /// `null` while it may be used.
    pub revoked_at: Option<String>,
}

impl From<&StaffSession> for SessionView {
    fn from(s: &StaffSession) -> SessionView {
        SessionView {
            id: s.id,
            staff_id: s.staff,
            shop_id: s.shop.map(ShopId::get),
            created_at: rfc3339(s.created_at),
            last_seen_at: rfc3339(s.last_seen_at),
            expires_at: rfc3339(s.expires_at),
            revoked_at: s.revoked_at.map(rfc3339),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SessionsQuery {
    /// Admins: one shop's sessions (absent: every session).
    #[param(schema_with = crate::http::schema::id)]
    pub shop_id: Option<i64>,
    /// One member's sessions.
    #[param(schema_with = crate::http::schema::id)]
    pub staff_id: Option<i64>,
}

fn cookie(value: &str, max_age_seconds: i64) -> HeaderValue {
    let cookie =
        format!("{SESSION_COOKIE}={value}; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age={max_age_seconds}");
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static("miaodan_session=; Max-Age=0"))
}

/// Sign in to the console: a session cookie and the session's CSRF token. A wrong login or
/// password, or a disabled account, answers 401 `sign_in_failed` alike; 5 failures for a login
/// within 15 minutes are followed by 429 `sign_in_throttled`.
#[utoipa::path(post, path = "/v1/sessions", tag = "staff", request_body = SignIn,
    responses((status = 201, body = CurrentSession, headers(("Set-Cookie" = String, description = "miaodan_session=<secret>; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=604800"))),
        (status = 401, body = Problem), (status = 429, body = Problem)))]
pub async fn create_session(State(state): State<AppState>, body: JsonBody<SignIn>) -> Result<Response, ApiError> {
    let input = &body.value;
    let (signed, secret) = sign_in(&state, &input.login, &input.password).await?;
    let mut response = (StatusCode::CREATED, Json(CurrentSession::from(&signed))).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cookie(&secret, SESSION_ABSOLUTE_SECONDS));
    Ok(response)
}

fn no_session() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "no console session: sign in (POST /v1/sessions)",
    )
}

/// The current console session, with its CSRF token (for a page that was reloaded).
#[utoipa::path(get, path = "/v1/sessions/current", tag = "staff",
    responses((status = 200, body = CurrentSession), (status = 401, body = Problem)),
    security(("session" = [])))]
pub async fn current_session(signed: Option<Extension<SignedIn>>) -> Result<Json<CurrentSession>, ApiError> {
    let Extension(signed) = signed.ok_or_else(no_session)?;
    Ok(Json(CurrentSession::from(&signed)))
}

/// Sign out: the session ends and its cookie is cleared.
#[utoipa::path(delete, path = "/v1/sessions/current", tag = "staff",
    responses((status = 204), (status = 401, body = Problem)),
    security(("session" = [])))]
pub async fn end_current_session(
    State(state): State<AppState>,
    signed: Option<Extension<SignedIn>>,
) -> Result<Response, ApiError> {
    let Extension(signed) = signed.ok_or_else(no_session)?;
    state
        .store
        .revoke_staff_session(signed.session.id, state.clock.now())
        .await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie("", 0));
    Ok(response)
}

/// List the sessions still usable, newest first: a merchant's (owner's) shop's, or (admins)
/// every one or one shop's; `staff_id` narrows to one member's.
#[utoipa::path(get, path = "/v1/sessions", tag = "staff", params(SessionsQuery, PageQuery),
    responses((status = 200, body = Page<SessionView>), (status = 400, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)),
    security(("bearer" = []), ("session" = [])))]
pub async fn list_sessions(
    State(state): State<AppState>,
    principal: Principal,
    ListQuery { page, filter }: ListQuery<SessionsQuery>,
) -> Result<Json<Page<SessionView>>, ApiError> {
    let shop = listed_shop(principal, filter.shop_id)?;
    let staff = filter
        .staff_id
        .map(|raw| validate::positive_id(raw, "staff_id"))
        .transpose()?;
    let now = state.clock.now();
    let wanted = SessionFilter {
        shop,
        staff,
        now,
        idle_since: now.plus_seconds(-SESSION_IDLE_SECONDS),
        before: page.after::<i64>(SESSIONS)?,
        limit: page.fetch(),
    };
    let rows = state.store.staff_sessions(&wanted).await?;
    Ok(Json(page.page(SESSIONS, rows, |s| s.id, |s| SessionView::from(s))))
}

/// End a session: its next request is refused (401). Revoking an ended session answers it as
/// it is.
#[utoipa::path(delete, path = "/v1/sessions/{session_id}", tag = "staff",
    params(("session_id" = i64, Path)),
    responses((status = 200, body = SessionView), (status = 404, body = Problem)),
    security(("bearer" = []), ("session" = [])))]
pub async fn revoke_session(
    State(state): State<AppState>,
    principal: Principal,
    ids: PathIds,
) -> Result<Json<SessionView>, ApiError> {
    let visible = state.store.staff_session(ids.one()).await?.filter(|s| match principal {
        Principal::Admin => true,
        Principal::Merchant(shop) => s.shop == Some(shop),
        Principal::Buyer(_) => false,
    });
    let mut session = visible.ok_or_else(|| ApiError::not_found("session"))?;
    if session.revoked_at.is_none() {
        let now = state.clock.now();
        state.store.revoke_staff_session(session.id, now).await?;
        session.revoked_at = Some(now);
    }
    Ok(Json(SessionView::from(&session)))
}
