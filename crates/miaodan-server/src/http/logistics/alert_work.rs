//! People working the package center's alerts over HTTP: acknowledge, assign, note, resolve
//! (`POST /v1/package-center/alerts/{alert_id}/…`). The merchant of the alert's shop or an
//! admin; another shop's alert is 404. Each is a command to the shard that owns the alert, so
//! an action and the rules' own changes are decided one at a time, in order; each commits an
//! `alert.*` event and reaches the alerts stream like any change of an alert.

use super::AlertView;
use crate::app::AppState;
use crate::auth::Principal;
use crate::http::extract::{JsonBody, RawBody, optional_json};
use crate::http::problem::{ApiError, Problem, refused};
use crate::http::validate;
use crate::idempotency::{self, Reply};
use axum::extract::FromRequestParts;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use miaodan_domain::logistics::work::ALERT_NOTE_CHARS_MAX;
use miaodan_domain::logistics::{Alert, AlertAction, AlertKey, StaffRef, WorkAlert, WorkRefusal, Worker};
use miaodan_domain::shard::Rejection;
use serde::Deserialize;
use utoipa::ToSchema;

/// The alert id of the path (`/v1/package-center/alerts/{alert_id}/…`), as sent; it is parsed
/// where it is looked up, so that one naming nothing is 404 like an unknown alert.
pub struct AlertIdPath(String);

impl<S: Send + Sync> FromRequestParts<S> for AlertIdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let segment = parts.uri.path().split('/').nth(4).unwrap_or_default();
        Ok(AlertIdPath(segment.to_string()))
    }
}

/// `POST …/acknowledge` takes no body (or an empty object).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcknowledgeInput {}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignInput {
    /// The staff member to assign the alert to, or `null` to unassign it. Staff ids are not
    /// checked against accounts yet.
    #[serde(deserialize_with = "crate::http::extract::optional_integer")]
    #[schema(schema_with = crate::http::schema::optional_id, required = true)]
    pub staff_id: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteInput {
    /// 1 to 500 characters.
    #[schema(schema_with = crate::http::schema::text::<ALERT_NOTE_CHARS_MAX>)]
    pub text: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveInput {
    /// Why it is resolved: 1 to 500 characters.
    #[schema(schema_with = crate::http::schema::text::<ALERT_NOTE_CHARS_MAX>)]
    pub note: String,
}

/// Acknowledge an open alert: someone is on it. Once only (409 `alert_already_acknowledged`).
#[utoipa::path(post, path = "/v1/package-center/alerts/{alert_id}/acknowledge", tag = "logistics",
    params(("alert_id" = String, Path, pattern = "^[1-9][0-9]{0,18}-(not_picked_up|not_departed|stalled|promise_at_risk)-[1-9][0-9]{0,9}$",
            description = "An SLA alert's id, e.g. `12-stalled-1`; one naming no alert of the caller's is 404."),
        ("Idempotency-Key" = Option<String>, Header)),
    request_body(content = Option<AcknowledgeInput>, description = "No body, or `{}`."),
    responses((status = 200, body = AlertView), (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn acknowledge_alert(
    State(state): State<AppState>,
    caller: Caller,
    AlertIdPath(id): AlertIdPath,
    headers: HeaderMap,
    RawBody(raw): RawBody,
) -> Response {
    let action = optional_json::<AcknowledgeInput>(&headers, &raw).map(|_| AlertAction::Acknowledge);
    work(&state, caller, &id, "acknowledge", &headers, &raw, action).await
}

/// Assign an open alert to a staff member (`staff_id`), or to nobody (`null`).
#[utoipa::path(post, path = "/v1/package-center/alerts/{alert_id}/assign", tag = "logistics",
    request_body = AssignInput,
    params(("alert_id" = String, Path, pattern = "^[1-9][0-9]{0,18}-(not_picked_up|not_departed|stalled|promise_at_risk)-[1-9][0-9]{0,9}$",
            description = "An SLA alert's id, e.g. `12-stalled-1`; one naming no alert of the caller's is 404."),
        ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = AlertView), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn assign_alert(
    State(state): State<AppState>,
    caller: Caller,
    AlertIdPath(id): AlertIdPath,
    headers: HeaderMap,
    body: JsonBody<AssignInput>,
) -> Response {
    let action = match body.value.staff_id {
        None => Ok(AlertAction::Assign(None)),
        Some(raw) => StaffRef::new(raw)
            .map(|staff| AlertAction::Assign(Some(staff)))
            .ok_or_else(|| ApiError::invalid("invalid_field", "staff_id", "a positive staff id, or null")),
    };
    work(&state, caller, &id, "assign", &headers, &body.raw, action).await
}

/// Add a note to an open alert (append-only; at most 50 notes: 409 `alert_notes_full`).
#[utoipa::path(post, path = "/v1/package-center/alerts/{alert_id}/notes", tag = "logistics",
    request_body = NoteInput,
    params(("alert_id" = String, Path, pattern = "^[1-9][0-9]{0,18}-(not_picked_up|not_departed|stalled|promise_at_risk)-[1-9][0-9]{0,9}$",
            description = "An SLA alert's id, e.g. `12-stalled-1`; one naming no alert of the caller's is 404."),
        ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = AlertView), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn note_alert(
    State(state): State<AppState>,
    caller: Caller,
    AlertIdPath(id): AlertIdPath,
    headers: HeaderMap,
    body: JsonBody<NoteInput>,
) -> Response {
    let action = validate::text(&body.value.text, "text").map(AlertAction::Note);
    work(&state, caller, &id, "notes", &headers, &body.raw, action).await
}

/// Resolve an open alert, saying why. If its rule still holds, the rules leave that condition
/// be: they raise the next occurrence (a new id) only when it gets worse (a warning times out)
/// or a new episode starts (a stalled parcel moves, then stalls again). A resolved alert
/// cannot be worked again (409 `alert_resolved`).
#[utoipa::path(post, path = "/v1/package-center/alerts/{alert_id}/resolve", tag = "logistics",
    request_body = ResolveInput,
    params(("alert_id" = String, Path, pattern = "^[1-9][0-9]{0,18}-(not_picked_up|not_departed|stalled|promise_at_risk)-[1-9][0-9]{0,9}$",
            description = "An SLA alert's id, e.g. `12-stalled-1`; one naming no alert of the caller's is 404."),
        ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = AlertView), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn resolve_alert(
    State(state): State<AppState>,
    caller: Caller,
    AlertIdPath(id): AlertIdPath,
    headers: HeaderMap,
    body: JsonBody<ResolveInput>,
) -> Response {
    let action = validate::text(&body.value.note, "note").map(AlertAction::Resolve);
    work(&state, caller, &id, "resolve", &headers, &body.raw, action).await
}

/// Who works an alert: the caller, and the staff member when it is a console session.
pub struct Caller {
    principal: Principal,
    staff: Option<StaffRef>,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        let principal = Principal::from_request_parts(parts, state).await?;
        let staff = parts
            .extensions
            .get::<crate::staff::SignedIn>()
            .and_then(|signed_in| StaffRef::new(signed_in.member.id));
        Ok(Caller { principal, staff })
    }
}

/// Who the caller is to the alert: a merchant works its own shop's alerts, an admin any; a console
/// session works one as its staff member, a token as the shop or the platform.
fn worker(principal: Principal, staff: Option<StaffRef>, alert: &Alert) -> Result<Worker, ApiError> {
    match (principal, staff) {
        (Principal::Merchant(shop), _) if shop != alert.shop => Err(ApiError::not_found("alert")),
        (Principal::Merchant(_) | Principal::Admin, Some(staff)) => Ok(Worker::Staff(staff)),
        (Principal::Merchant(_), None) => Ok(Worker::ShopToken),
        (Principal::Admin, None) => Ok(Worker::PlatformAdmin),
        (Principal::Buyer(_), _) => Err(worker_refused()),
    }
}

fn render_alert(answer: &Result<Alert, Rejection>) -> Reply {
    match answer {
        Ok(alert) => Reply::json(StatusCode::OK, &AlertView::from(alert)),
        Err(rejection) => refused(rejection),
    }
}

async fn work(
    state: &AppState,
    Caller { principal, staff }: Caller,
    raw_id: &str,
    verb: &str,
    headers: &HeaderMap,
    raw: &[u8],
    action: Result<AlertAction, ApiError>,
) -> Response {
    if let Principal::Buyer(_) = principal {
        return axum::response::IntoResponse::into_response(worker_refused());
    }
    let path = format!("/v1/package-center/alerts/{raw_id}/{verb}");
    let request = ("POST", path.as_str(), raw);
    idempotency::run(state, principal, headers, request, |idem| async move {
        let action = action?;
        let key = AlertKey::parse(raw_id).ok_or_else(|| ApiError::not_found("alert"))?;
        let alert = state
            .store
            .package_alert(key)
            .await?
            .ok_or_else(|| ApiError::not_found("alert"))?;
        let by = worker(principal, staff, &alert)?;
        if !alert.is_open() {
            return Ok(refused(&Rejection::AlertWork(WorkRefusal::AlertResolved)));
        }
        let command = WorkAlert {
            shop: alert.shop,
            alert: key,
            by,
            action,
        };
        idempotency::ask(state, alert.shop, command, idem, render_alert).await
    })
    .await
}

fn worker_refused() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        "this endpoint needs a merchant or admin token",
    )
}
