//! Staff accounts and the audit log. An admin (token or platform-admin session) manages any
//! shop's members and platform admins; a merchant token or an owner's session manages its own
//! shop's members only, and never makes a platform admin. Another shop's member answers 404.

use super::extract::{JsonBody, PathIds};
use super::page::{ListQuery, Page, PageQuery};
use super::problem::{ApiError, Problem};
use super::validate;
use crate::app::AppState;
use crate::auth::Principal;
use crate::clock::rfc3339;
use crate::idempotency::{self, Reply};
use crate::staff::{hash_password, off_thread};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use miaodan_domain::ShopId;
use miaodan_domain::staff::{Login, PasswordRefusal, StaffRole, check_new_password};
use miaodan_store::{AuditEntry, AuditFilter, StaffMember};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

const MEMBERS: &str = "staff";
const AUDIT: &str = "audit-log";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_member, list_members))
        .routes(routes!(update_member))
        .routes(routes!(audit_log))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStaffMember {
    /// The member's shop; absent for a platform admin. A merchant's is its own shop.
    #[serde(default, deserialize_with = "crate::http::extract::optional_integer")]
    #[schema(schema_with = crate::http::schema::optional_id)]
    pub shop_id: Option<i64>,
    /// Unique across the platform.
    #[schema(schema_with = crate::http::schema::login)]
    pub login: String,
    #[schema(schema_with = crate::http::schema::text::<60>)]
    pub name: String,
    /// `owner`, `operator`, `customer_service`, `finance` (a shop's) or `platform_admin`.
    #[schema(schema_with = crate::http::schema::staff_role)]
    pub role: String,
    /// At least 10 characters; stored as an argon2id hash only.
    #[schema(schema_with = crate::http::schema::new_password)]
    pub password: String,
}

/// What changes; what is absent stays.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffChange {
    #[serde(default)]
    #[schema(schema_with = crate::http::schema::optional_staff_role)]
    pub role: Option<String>,
    #[serde(default)]
    #[schema(schema_with = crate::http::schema::optional_text::<60>)]
    pub name: Option<String>,
    #[serde(default)]
    #[schema(schema_with = crate::http::schema::optional_new_password)]
    pub password: Option<String>,
    /// `true` disables the member and ends its sessions at once; `false` enables it again.
    #[serde(default)]
    pub disabled: Option<bool>,
}

/// A staff member, never its password.
#[derive(Debug, Serialize, ToSchema)]
pub struct StaffView {
    pub id: i64,
    /// `null` for a platform admin.
    pub shop_id: Option<i64>,
    pub login: String,
    pub name: String,
    pub role: String,
    pub created_at: String,
    /// When it was disabled; `null` while it may sign in.
    pub disabled_at: Option<String>,
}

impl From<&StaffMember> for StaffView {
    fn from(m: &StaffMember) -> StaffView {
        StaffView {
            id: m.id,
            shop_id: m.shop.map(ShopId::get),
            login: m.login.as_str().into(),
            name: m.name.clone(),
            role: m.role.as_str().into(),
            created_at: rfc3339(m.created_at),
            disabled_at: m.disabled_at.map(rfc3339),
        }
    }
}

/// One attempted mutation, as the audit log keeps it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryView {
    pub id: i64,
    /// `null`: a platform action.
    pub shop_id: Option<i64>,
    /// The member whose session made it; `null` when made with an API token.
    pub staff_id: Option<i64>,
    pub method: String,
    /// The route template, e.g. `/v1/orders/{order_id}/cancel`.
    pub route: String,
    /// The path as requested.
    pub path: String,
    /// The answer's HTTP status: refusals are kept too.
    pub status: u16,
    pub at: String,
}

impl From<&AuditEntry> for AuditEntryView {
    fn from(e: &AuditEntry) -> AuditEntryView {
        AuditEntryView {
            id: e.id,
            shop_id: e.shop.map(ShopId::get),
            staff_id: e.staff,
            method: e.method.clone(),
            route: e.route.clone(),
            path: e.path.clone(),
            status: e.status,
            at: rfc3339(e.at),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StaffQuery {
    /// Admins: one shop's members (absent: everyone, platform admins included).
    #[param(schema_with = crate::http::schema::id)]
    pub shop_id: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Admins: one shop's lines (absent: every line).
    #[param(schema_with = crate::http::schema::id)]
    pub shop_id: Option<i64>,
    /// One member's lines.
    #[param(schema_with = crate::http::schema::id)]
    pub staff_id: Option<i64>,
}

fn forbidden_to_buyers() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        "staff are managed by a shop's merchant or owner, or the platform",
    )
}

/// The shop a listing is narrowed to: a merchant's own (another shop answers 404), an admin's
/// choice (`None`: everyone's).
pub fn listed_shop(principal: Principal, asked: Option<i64>) -> Result<Option<ShopId>, ApiError> {
    let asked = asked.map(|raw| validate::positive_id(raw, "shop_id")).transpose()?;
    match principal {
        Principal::Merchant(own) if asked.is_none_or(|a| a == own.get()) => Ok(Some(own)),
        Principal::Merchant(_) => Err(ApiError::not_found("shop")),
        Principal::Admin => Ok(asked.and_then(ShopId::new)),
        Principal::Buyer(_) => Err(forbidden_to_buyers()),
    }
}

/// The member `id` if the caller may manage it; else 404, like a missing one.
pub async fn visible_member(state: &AppState, principal: Principal, id: i64) -> Result<StaffMember, ApiError> {
    let found = state.store.staff_member(id).await?;
    found
        .filter(|m| match principal {
            Principal::Admin => true,
            Principal::Merchant(shop) => m.shop == Some(shop),
            Principal::Buyer(_) => false,
        })
        .ok_or_else(|| ApiError::not_found("staff member"))
}

fn role(raw: &str) -> Result<StaffRole, ApiError> {
    StaffRole::parse(raw).ok_or_else(|| {
        ApiError::invalid(
            "invalid_field",
            "role",
            "role is owner, operator, customer_service, finance or platform_admin",
        )
    })
}

fn new_password(raw: &str) -> Result<(), ApiError> {
    check_new_password(raw).map_err(|refusal| {
        let detail = match refusal {
            PasswordRefusal::TooShort => "a password has at least 10 characters",
            PasswordRefusal::TooLong => "a password has at most 256 characters",
        };
        ApiError::invalid("invalid_field", "password", detail)
    })
}

/// The shop and role of a new member, as the caller may make them.
async fn placement(
    state: &AppState,
    principal: Principal,
    asked: Option<i64>,
    role: StaffRole,
) -> Result<Option<ShopId>, ApiError> {
    let asked = asked.map(|raw| validate::positive_id(raw, "shop_id")).transpose()?;
    let shop = match (principal, asked) {
        (Principal::Merchant(own), None) => Some(own),
        (Principal::Merchant(own), Some(raw)) if raw == own.get() => Some(own),
        (Principal::Merchant(_), Some(_)) => return Err(ApiError::not_found("shop")),
        (Principal::Admin, asked) => asked
            .map(|raw| ShopId::new(raw).ok_or_else(|| ApiError::not_found("shop")))
            .transpose()?,
        (Principal::Buyer(_), _) => return Err(forbidden_to_buyers()),
    };
    if !role.fits(shop.is_some()) {
        let detail = match principal {
            Principal::Merchant(_) => "a shop's member is owner, operator, customer_service or finance",
            _ => "a platform_admin has no shop_id, and every other role names one",
        };
        return Err(ApiError::invalid("invalid_field", "role", detail));
    }
    if let Some(shop) = shop {
        state
            .store
            .shop(shop)
            .await?
            .ok_or_else(|| ApiError::not_found("shop"))?;
    }
    Ok(shop)
}

fn login_taken() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "login_taken",
        "another staff member has this login",
    )
    .field("login")
}

/// Add a staff member to a shop (or a platform admin). Its password is stored as an argon2id
/// hash only.
#[utoipa::path(post, path = "/v1/staff", tag = "staff", request_body = NewStaffMember,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = StaffView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = []), ("session" = [])))]
pub async fn create_member(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: JsonBody<NewStaffMember>,
) -> Response {
    let request = ("POST", "/v1/staff", &body.raw[..]);
    idempotency::run(&state, principal, &headers, request, |idem| async {
        let input = &body.value;
        if let Principal::Buyer(_) = principal {
            return Err(forbidden_to_buyers());
        }
        let login = Login::parse(&input.login).ok_or_else(|| {
            ApiError::invalid("invalid_field", "login", "a login is 3 to 64 visible ASCII characters")
        })?;
        let name = validate::text::<60>(&input.name, "name")?;
        let role = role(&input.role)?;
        new_password(&input.password)?;
        let shop = placement(&state, principal, input.shop_id, role).await?;
        let password = input.password.clone();
        let password_hash = off_thread(move || hash_password(&password)).await??;
        let _creating = state.staff.creating.lock().await;
        if state.store.staff_member_by_login(login.as_str()).await?.is_some() {
            return Err(login_taken());
        }
        let member = StaffMember {
            id: state.ids.staff_member().await?,
            shop,
            login,
            name: name.as_str().to_string(),
            role,
            password_hash,
            created_at: state.clock.now(),
            disabled_at: None,
        };
        let reply = Reply::json(StatusCode::CREATED, &StaffView::from(&member));
        let stored = idem.map(|i| i.record(&reply));
        state.store.insert_staff_member(&member, stored.as_ref()).await?;
        Ok(reply)
    })
    .await
}

/// List staff members by id: a merchant's (or owner's) shop's, or (admins) one shop's or
/// everyone's.
#[utoipa::path(get, path = "/v1/staff", tag = "staff", params(StaffQuery, PageQuery),
    responses((status = 200, body = Page<StaffView>), (status = 400, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)),
    security(("bearer" = []), ("session" = [])))]
pub async fn list_members(
    State(state): State<AppState>,
    principal: Principal,
    ListQuery { page, filter }: ListQuery<StaffQuery>,
) -> Result<Json<Page<StaffView>>, ApiError> {
    let shop = listed_shop(principal, filter.shop_id)?;
    let rows = state
        .store
        .staff_members(shop, page.after::<i64>(MEMBERS)?, page.fetch())
        .await?;
    Ok(Json(page.page(MEMBERS, rows, |m| m.id, |m| StaffView::from(m))))
}

/// Change a member's role, name or password, or disable it (its sessions end at once) or
/// enable it again.
#[utoipa::path(patch, path = "/v1/staff/{staff_id}", tag = "staff", request_body = StaffChange,
    params(("staff_id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = StaffView), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = []), ("session" = [])))]
pub async fn update_member(
    State(state): State<AppState>,
    principal: Principal,
    ids: PathIds,
    headers: HeaderMap,
    body: JsonBody<StaffChange>,
) -> Response {
    let path = format!("/v1/staff/{}", ids.one());
    let request = ("PATCH", path.as_str(), &body.raw[..]);
    idempotency::run(&state, principal, &headers, request, |idem| async {
        let input = &body.value;
        let new_role = input.role.as_deref().map(role).transpose()?;
        let name = input
            .name
            .as_deref()
            .map(|n| validate::text::<60>(n, "name"))
            .transpose()?;
        input.password.as_deref().map(new_password).transpose()?;
        let mut member = visible_member(&state, principal, ids.one()).await?;
        if let Some(new_role) = new_role {
            if !new_role.fits(member.shop.is_some()) {
                return Err(ApiError::invalid(
                    "invalid_field",
                    "role",
                    "a shop's member keeps a shop role; a platform admin stays one",
                ));
            }
            member.role = new_role;
        }
        member.name = name.map_or(member.name, |n| n.as_str().to_string());
        if let Some(password) = input.password.clone() {
            member.password_hash = off_thread(move || hash_password(&password)).await??;
        }
        let now = state.clock.now();
        let end_sessions = match input.disabled {
            Some(true) if member.disabled_at.is_none() => {
                member.disabled_at = Some(now);
                Some(now)
            }
            Some(false) => {
                member.disabled_at = None;
                None
            }
            _ => None,
        };
        // A new password ends the sessions signed in with the old one.
        let end_sessions = end_sessions.or(input.password.as_ref().map(|_| now));
        let reply = Reply::json(StatusCode::OK, &StaffView::from(&member));
        let stored = idem.map(|i| i.record(&reply));
        state
            .store
            .save_staff_member(&member, end_sessions, stored.as_ref())
            .await?;
        Ok(reply)
    })
    .await
}

/// The audit log, newest first: every mutation attempted through a console session (accepted
/// or refused), and staff and session management made with tokens. A merchant's (owner's)
/// shop's lines, or (admins) every line or one shop's.
#[utoipa::path(get, path = "/v1/audit-log", tag = "staff", params(AuditQuery, PageQuery),
    responses((status = 200, body = Page<AuditEntryView>), (status = 400, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)),
    security(("bearer" = []), ("session" = [])))]
pub async fn audit_log(
    State(state): State<AppState>,
    principal: Principal,
    ListQuery { page, filter }: ListQuery<AuditQuery>,
) -> Result<Json<Page<AuditEntryView>>, ApiError> {
    let shop = listed_shop(principal, filter.shop_id)?;
    let staff = filter
        .staff_id
        .map(|raw| validate::positive_id(raw, "staff_id"))
        .transpose()?;
    let wanted = AuditFilter {
        shop,
        staff,
        before: page.after::<i64>(AUDIT)?,
        limit: page.fetch(),
    };
    let rows = state.store.audit_log(&wanted).await?;
    Ok(Json(page.page(AUDIT, rows, |e| e.id, |e| AuditEntryView::from(e))))
}
