//! Outgoing webhooks' endpoints and delivery log (`crate::webhooks` delivers): a merchant
//! registers their shop's receivers, an operator any shop's; a buyer may not (403). Another
//! shop's endpoint or delivery answers 404, like a missing one.
//!
//! An endpoint's signing secret (`whsec_…`) is shown once, when it is made or rotated; a
//! retry with the same Idempotency-Key replays that answer with the secret redacted.

use super::extract::{JsonBody, PathIds, RawBody};
use super::page::{ListQuery, Page, PageQuery};
use super::problem::{ApiError, Problem};
use super::validate;
use crate::app::AppState;
use crate::auth::Principal;
use crate::clock::rfc3339;
use crate::idempotency::{self, Idempotency, Reply};
use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use miaodan_domain::ShopId;
use miaodan_domain::webhooks::{Subscription, SubscriptionError};
use miaodan_store::{DeliveryState, WebhookAttempt, WebhookDelivery, WebhookEndpoint};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

const ENDPOINTS: &str = "webhook-endpoints";
const DELIVERIES: &str = "webhook-deliveries";
/// What a replayed answer shows instead of the signing secret.
pub const REDACTED_SECRET: &str = "(shown once; rotate the secret if it was lost)";
/// Why a merchant's `enabled: false` stopped an endpoint.
const DISABLED_BY_OWNER: &str = "disabled by its owner";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_endpoint, list_endpoints))
        .routes(routes!(get_endpoint, update_endpoint, delete_endpoint))
        .routes(routes!(rotate_secret))
        .routes(routes!(list_deliveries))
        .routes(routes!(replay_delivery))
}

/// A merchant or an operator: webhooks are no buyer's business.
pub struct ShopOwner(Principal);

impl FromRequestParts<AppState> for ShopOwner {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Principal::from_request_parts(parts, state).await? {
            Principal::Buyer(_) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "webhooks are for merchants and operators",
            )),
            principal => Ok(ShopOwner(principal)),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhookEndpoint {
    #[schema(schema_with = crate::http::schema::webhook_url)]
    pub url: String,
    #[schema(schema_with = crate::http::schema::webhook_topics)]
    pub topics: Vec<String>,
    /// A note for humans, e.g. `ERP order sync`.
    #[schema(schema_with = crate::http::schema::optional_text::<200>)]
    #[serde(default)]
    pub description: Option<String>,
    /// The shop whose events go there: an operator names it; a merchant's is their own shop
    /// (another shop answers 404).
    #[serde(default, deserialize_with = "crate::http::extract::optional_integer")]
    #[schema(schema_with = crate::http::schema::optional_id)]
    pub shop_id: Option<i64>,
}

/// What changes; what is absent stays.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookEndpointChange {
    #[schema(schema_with = crate::http::schema::optional_webhook_url)]
    #[serde(default)]
    pub url: Option<String>,
    #[schema(schema_with = crate::http::schema::optional_webhook_topics)]
    #[serde(default)]
    pub topics: Option<Vec<String>>,
    #[schema(schema_with = crate::http::schema::optional_text::<200>)]
    #[serde(default)]
    pub description: Option<String>,
    /// `false` stops deliveries (pending ones fail); `true` starts them again, also for an
    /// endpoint the platform disabled.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// An endpoint, never its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEndpointView {
    pub id: i64,
    pub shop_id: i64,
    pub url: String,
    pub topics: Vec<String>,
    pub description: Option<String>,
    /// Whether events are delivered to it.
    pub enabled: bool,
    pub created_at: String,
    /// Since when every attempt failed (`null` after a success): after 3 days of this the
    /// platform disables the endpoint.
    pub failing_since: Option<String>,
    /// When and why it was disabled (by its owner, or by the platform after 3 days of
    /// failures); `null` while enabled.
    pub disabled_at: Option<String>,
    pub disabled_reason: Option<String>,
}

impl From<&WebhookEndpoint> for WebhookEndpointView {
    fn from(e: &WebhookEndpoint) -> WebhookEndpointView {
        WebhookEndpointView {
            id: e.id,
            shop_id: e.shop.get(),
            url: e.url.clone(),
            topics: e.topics.names().to_vec(),
            description: e.description.clone(),
            enabled: e.enabled,
            created_at: rfc3339(e.created_at),
            failing_since: e.failing_since.map(rfc3339),
            disabled_at: e.disabled_at.map(rfc3339),
            disabled_reason: e.disabled_reason.clone(),
        }
    }
}

/// An endpoint with its signing secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEndpointWithSecret {
    #[serde(flatten)]
    pub endpoint: WebhookEndpointView,
    /// Keys the `Miaodan-Signature` HMAC (all of it, `whsec_` included). Shown once; a retry
    /// with the same Idempotency-Key replays this answer with the secret redacted.
    pub secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookAttemptView {
    /// 1 for the first.
    pub attempt: i64,
    pub at: String,
    /// The receiver's HTTP status; `null` when it did not answer.
    pub status: Option<i64>,
    pub latency_ms: i64,
    /// What went wrong (`null` when delivered).
    pub error: Option<String>,
}

impl From<&WebhookAttempt> for WebhookAttemptView {
    fn from(a: &WebhookAttempt) -> WebhookAttemptView {
        WebhookAttemptView {
            attempt: a.attempt,
            at: rfc3339(a.at),
            status: a.status,
            latency_ms: a.latency_ms,
            error: a.error.clone(),
        }
    }
}

/// One event for one endpoint, with every attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookDeliveryView {
    pub id: i64,
    pub endpoint_id: i64,
    /// The event's id (`<shard>-<seq>`), as the receiver gets it: the same for every retry.
    pub event_id: String,
    pub topic: String,
    pub subject: i64,
    pub occurred_at: String,
    /// `pending`, `delivered` or `failed` (given up after 3 days, or its endpoint disabled).
    pub state: String,
    pub attempt_count: i64,
    /// When it is tried next (`null` unless pending).
    pub next_attempt_at: Option<String>,
    pub delivered_at: Option<String>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub last_latency_ms: Option<i64>,
    /// Every attempt, first first.
    pub attempts: Vec<WebhookAttemptView>,
}

fn delivery_view(d: &WebhookDelivery, attempts: &[WebhookAttempt]) -> WebhookDeliveryView {
    WebhookDeliveryView {
        id: d.id,
        endpoint_id: d.endpoint,
        event_id: format!("{}-{}", d.shard, d.seq),
        topic: d.topic.clone(),
        subject: d.subject,
        occurred_at: rfc3339(d.at),
        state: d.state.as_str().into(),
        attempt_count: d.attempts,
        next_attempt_at: (d.state == DeliveryState::Pending).then(|| rfc3339(d.next_attempt_at)),
        delivered_at: d.delivered_at.map(rfc3339),
        last_status: d.last_status,
        last_error: d.last_error.clone(),
        last_latency_ms: d.last_latency_ms,
        attempts: attempts
            .iter()
            .filter(|a| a.delivery == d.id)
            .map(WebhookAttemptView::from)
            .collect(),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EndpointsQuery {
    /// Operators only: one shop's endpoints.
    #[param(schema_with = crate::http::schema::id)]
    pub shop_id: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// Only deliveries in this state.
    #[param(schema_with = crate::http::schema::webhook_delivery_state)]
    pub state: Option<String>,
}

/// The endpoint `id` if the caller may see it; else 404, like a missing one.
async fn visible_endpoint(state: &AppState, principal: Principal, id: i64) -> Result<WebhookEndpoint, ApiError> {
    let found = state.store.webhook_endpoint(id).await?;
    found
        .filter(|e| match principal {
            Principal::Admin => true,
            Principal::Merchant(shop) => e.shop == shop,
            Principal::Buyer(_) => false,
        })
        .ok_or_else(|| ApiError::not_found("webhook endpoint"))
}

fn subscription(raw: &[String], field: &str) -> Result<Subscription, ApiError> {
    Subscription::parse(raw).map_err(|error| {
        let detail = match error {
            SubscriptionError::Empty => "name at least one topic or family".to_string(),
            SubscriptionError::TooMany => {
                format!("at most {} topics", miaodan_domain::webhooks::SUBSCRIPTION_TOPICS_MAX)
            }
            SubscriptionError::Unknown(name) => {
                format!("`{name}` is no event family (`order`) or topic (`order.paid`); GET /openapi.json lists them")
            }
            SubscriptionError::Duplicate(name) => format!("`{name}` is named twice"),
        };
        ApiError::invalid("invalid_field", field, detail)
    })
}

/// An `http://` URL (the document's pattern), to a host this server may send to.
fn target(state: &AppState, raw: &str, field: &str) -> Result<String, ApiError> {
    let rest = raw.strip_prefix("http://").or_else(|| raw.strip_prefix("https://"));
    let shaped = rest.is_some_and(|r| !r.is_empty() && !r.starts_with(['/', '?', '#']))
        && raw.chars().count() <= super::schema::WEBHOOK_URL_CHARS_MAX
        && !raw.chars().any(|c| c.is_control() || c == ' ');
    let not_a_url = || ApiError::invalid("invalid_field", field, "an http:// URL with a host");
    if !shaped {
        return Err(not_a_url());
    }
    let url = reqwest::Url::parse(raw).map_err(|_| not_a_url())?;
    let refused = |detail: &str| ApiError::invalid("webhook_target_not_allowed", field, detail);
    if url.scheme() != "http" {
        return Err(refused("this build sends webhooks over plain http:// only"));
    }
    let host = url.host_str().ok_or_else(not_a_url)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback =
        host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback && !state.config.webhooks.allow_any_host {
        return Err(refused(
            "only loopback hosts (127.0.0.0/8, ::1, localhost) unless the server runs with --webhooks-allow-any-host",
        ));
    }
    Ok(raw.to_string())
}

/// A fresh signing secret: `whsec_` and 32 random bytes in hex.
fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    format!("whsec_{}", hex::encode(bytes))
}

/// The answer showing the secret, and the one stored for a retry (secret redacted).
fn with_secret(
    status: StatusCode,
    endpoint: &WebhookEndpoint,
    idem: Option<Idempotency>,
) -> (Reply, Option<miaodan_store::records::IdempotencyRecord>) {
    let view = |secret: String| WebhookEndpointWithSecret {
        endpoint: endpoint.into(),
        secret,
    };
    let reply = Reply::json(status, &view(endpoint.secret.clone()));
    let stored = idem.map(|i| i.record(&Reply::json(status, &view(REDACTED_SECRET.into()))));
    (reply, stored)
}

/// The shop a new endpoint is for.
async fn shop_for(state: &AppState, principal: Principal, asked: Option<i64>) -> Result<ShopId, ApiError> {
    let asked = asked.map(|raw| validate::positive_id(raw, "shop_id")).transpose()?;
    let shop = match (principal, asked) {
        (Principal::Merchant(own), None) => return Ok(own),
        (Principal::Merchant(own), Some(raw)) if raw == own.get() => return Ok(own),
        (Principal::Admin, Some(raw)) => ShopId::new(raw),
        (Principal::Admin, None) => {
            return Err(ApiError::invalid(
                "invalid_field",
                "shop_id",
                "an operator names the shop",
            ));
        }
        _ => None,
    };
    let shop = shop.ok_or_else(|| ApiError::not_found("shop"))?;
    state
        .store
        .shop(shop)
        .await?
        .ok_or_else(|| ApiError::not_found("shop"))?;
    Ok(shop)
}

/// Register a webhook endpoint for a shop's events. Its signing secret is shown once.
#[utoipa::path(post, path = "/v1/webhook-endpoints", tag = "webhooks", request_body = NewWebhookEndpoint,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = WebhookEndpointWithSecret), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn create_endpoint(
    State(state): State<AppState>,
    ShopOwner(principal): ShopOwner,
    headers: HeaderMap,
    body: JsonBody<NewWebhookEndpoint>,
) -> Response {
    let request = ("POST", "/v1/webhook-endpoints", &body.raw[..]);
    idempotency::run(&state, principal, &headers, request, |idem| async {
        let input = &body.value;
        let url = target(&state, &input.url, "url")?;
        let topics = subscription(&input.topics, "topics")?;
        let description = input
            .description
            .as_deref()
            .map(|d| validate::text::<200>(d, "description").map(|t| t.as_str().to_string()))
            .transpose()?;
        let shop = shop_for(&state, principal, input.shop_id).await?;
        let endpoint = WebhookEndpoint {
            id: state.ids.webhook_endpoint().await?,
            shop,
            url,
            topics,
            description,
            secret: new_secret(),
            enabled: true,
            created_at: state.clock.now(),
            failing_since: None,
            disabled_at: None,
            disabled_reason: None,
        };
        let (reply, stored) = with_secret(StatusCode::CREATED, &endpoint, idem);
        state.store.insert_webhook_endpoint(&endpoint, stored.as_ref()).await?;
        Ok(reply)
    })
    .await
}

/// List webhook endpoints, newest first: a merchant's shop's, or (operators) every shop's or
/// one shop's.
#[utoipa::path(get, path = "/v1/webhook-endpoints", tag = "webhooks", params(EndpointsQuery, PageQuery),
    responses((status = 200, body = Page<WebhookEndpointView>), (status = 400, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn list_endpoints(
    State(state): State<AppState>,
    ShopOwner(principal): ShopOwner,
    ListQuery { page, filter }: ListQuery<EndpointsQuery>,
) -> Result<Json<Page<WebhookEndpointView>>, ApiError> {
    let asked = filter
        .shop_id
        .map(|raw| validate::positive_id(raw, "shop_id"))
        .transpose()?;
    let shop = match principal {
        Principal::Merchant(own) if asked.is_none_or(|a| a == own.get()) => Some(own),
        Principal::Admin => asked.and_then(ShopId::new),
        _ => return Err(ApiError::not_found("shop")),
    };
    let rows = state
        .store
        .webhook_endpoints(shop, page.after::<i64>(ENDPOINTS)?, page.fetch())
        .await?;
    Ok(Json(page.page(
        ENDPOINTS,
        rows,
        |e| e.id,
        |e| WebhookEndpointView::from(e),
    )))
}

/// Read a webhook endpoint: its subscription, and whether (and why not) it is enabled.
#[utoipa::path(get, path = "/v1/webhook-endpoints/{endpoint_id}", tag = "webhooks",
    params(("endpoint_id" = i64, Path)),
    responses((status = 200, body = WebhookEndpointView), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_endpoint(
    State(state): State<AppState>,
    ShopOwner(principal): ShopOwner,
    ids: PathIds,
) -> Result<Json<WebhookEndpointView>, ApiError> {
    let endpoint = visible_endpoint(&state, principal, ids.one()).await?;
    Ok(Json((&endpoint).into()))
}

/// Change an endpoint's URL, topics or description, or disable or re-enable it.
#[utoipa::path(patch, path = "/v1/webhook-endpoints/{endpoint_id}", tag = "webhooks", request_body = WebhookEndpointChange,
    params(("endpoint_id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = WebhookEndpointView), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn update_endpoint(
    State(state): State<AppState>,
    ShopOwner(principal): ShopOwner,
    ids: PathIds,
    headers: HeaderMap,
    body: JsonBody<WebhookEndpointChange>,
) -> Response {
    let path = format!("/v1/webhook-endpoints/{}", ids.one());
    let request = ("PATCH", path.as_str(), &body.raw[..]);
    idempotency::run(&state, principal, &headers, request, |idem| async {
        let input = &body.value;
        let url = input.url.as_deref().map(|u| target(&state, u, "url")).transpose()?;
        let topics = input.topics.as_deref().map(|t| subscription(t, "topics")).transpose()?;
        let description = input
            .description
            .as_deref()
            .map(|d| validate::text::<200>(d, "description").map(|t| t.as_str().to_string()))
            .transpose()?;
        let mut endpoint = visible_endpoint(&state, principal, ids.one()).await?;
        endpoint.url = url.unwrap_or(endpoint.url);
        endpoint.topics = topics.unwrap_or(endpoint.topics);
        endpoint.description = description.or(endpoint.description);
        let mut fail_pending = None;
        match input.enabled {
            Some(true) if !endpoint.enabled => {
                endpoint.enabled = true;
                (endpoint.failing_since, endpoint.disabled_at, endpoint.disabled_reason) = (None, None, None);
            }
            Some(false) if endpoint.enabled => {
                endpoint.enabled = false;
                endpoint.disabled_at = Some(state.clock.now());
                endpoint.disabled_reason = Some(DISABLED_BY_OWNER.into());
                fail_pending = Some(DISABLED_BY_OWNER);
            }
            _ => {}
        }
        let reply = Reply::json(StatusCode::OK, &WebhookEndpointView::from(&endpoint));
        let stored = idem.map(|i| i.record(&reply));
        state
            .store
            .save_webhook_endpoint(&endpoint, fail_pending, stored.as_ref())
            .await?;
        Ok(reply)
    })
    .await
}

/// Remove an endpoint with its delivery log; nothing more is sent to it.
#[utoipa::path(delete, path = "/v1/webhook-endpoints/{endpoint_id}", tag = "webhooks",
    params(("endpoint_id" = i64, Path)),
    responses((status = 200, body = WebhookEndpointView), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn delete_endpoint(
    State(state): State<AppState>,
    ShopOwner(principal): ShopOwner,
    ids: PathIds,
) -> Result<Json<WebhookEndpointView>, ApiError> {
    let endpoint = visible_endpoint(&state, principal, ids.one()).await?;
    state.store.delete_webhook_endpoint(endpoint.id, None).await?;
    Ok(Json((&endpoint).into()))
}

/// Replace an endpoint's signing secret; the old one stops signing at once. The new secret is
/// shown once.
#[utoipa::path(post, path = "/v1/webhook-endpoints/{endpoint_id}/rotate-secret", tag = "webhooks",
    params(("endpoint_id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = WebhookEndpointWithSecret), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    ShopOwner(principal): ShopOwner,
    ids: PathIds,
    headers: HeaderMap,
    RawBody(raw): RawBody,
) -> Response {
    let path = format!("/v1/webhook-endpoints/{}/rotate-secret", ids.one());
    idempotency::run(&state, principal, &headers, ("POST", &path, &raw), |idem| async {
        let mut endpoint = visible_endpoint(&state, principal, ids.one()).await?;
        endpoint.secret = new_secret();
        let (reply, stored) = with_secret(StatusCode::OK, &endpoint, idem);
        state
            .store
            .save_webhook_endpoint(&endpoint, None, stored.as_ref())
            .await?;
        Ok(reply)
    })
    .await
}

/// An endpoint's delivery log, newest first, with each attempt's status, latency and error.
#[utoipa::path(get, path = "/v1/webhook-endpoints/{endpoint_id}/deliveries", tag = "webhooks",
    params(("endpoint_id" = i64, Path), DeliveriesQuery, PageQuery),
    responses((status = 200, body = Page<WebhookDeliveryView>), (status = 400, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn list_deliveries(
    State(state): State<AppState>,
    ShopOwner(principal): ShopOwner,
    ids: PathIds,
    ListQuery { page, filter }: ListQuery<DeliveriesQuery>,
) -> Result<Json<Page<WebhookDeliveryView>>, ApiError> {
    let wanted = filter
        .state
        .as_deref()
        .map(|raw| {
            DeliveryState::parse(raw)
                .ok_or_else(|| ApiError::invalid("invalid_field", "state", "state is pending, delivered or failed"))
        })
        .transpose()?;
    let after = page.after::<i64>(DELIVERIES)?;
    let endpoint = visible_endpoint(&state, principal, ids.one()).await?;
    let rows = state
        .store
        .webhook_deliveries(endpoint.id, wanted, after, page.fetch())
        .await?;
    let shown: Vec<i64> = rows.iter().take(page.limit() as usize).map(|d| d.id).collect();
    let attempts = state.store.webhook_attempts(&shown).await?;
    Ok(Json(page.page(
        DELIVERIES,
        rows,
        |d| d.id,
        |d| delivery_view(d, &attempts),
    )))
}

/// Send a delivery again now (delivered, failed or pending alike); the receiver gets the same
/// event id.
#[utoipa::path(post, path = "/v1/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/replay", tag = "webhooks",
    params(("endpoint_id" = i64, Path), ("delivery_id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = WebhookDeliveryView), (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn replay_delivery(
    State(state): State<AppState>,
    ShopOwner(principal): ShopOwner,
    ids: PathIds,
    headers: HeaderMap,
    RawBody(raw): RawBody,
) -> Response {
    let (endpoint_id, delivery_id) = ids.two();
    let path = format!("/v1/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/replay");
    idempotency::run(&state, principal, &headers, ("POST", &path, &raw), |idem| async {
        let endpoint = visible_endpoint(&state, principal, endpoint_id).await?;
        let mut delivery = state
            .store
            .webhook_delivery(delivery_id)
            .await?
            .filter(|d| d.endpoint == endpoint.id)
            .ok_or_else(|| ApiError::not_found("webhook delivery"))?;
        if !endpoint.enabled {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "webhook_endpoint_disabled",
                "the endpoint is disabled: enable it (PATCH enabled: true) first",
            ));
        }
        let now = state.clock.now();
        delivery.state = DeliveryState::Pending;
        delivery.next_attempt_at = now;
        let attempts = state.store.webhook_attempts(&[delivery.id]).await?;
        let reply = Reply::json(StatusCode::OK, &delivery_view(&delivery, &attempts));
        let stored = idem.map(|i| i.record(&reply));
        state
            .store
            .replay_webhook_delivery(delivery.id, now, stored.as_ref())
            .await?;
        state.webhooks.wake();
        Ok(reply)
    })
    .await
}
