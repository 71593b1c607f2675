//! The HTTP API (axum): routing, the system endpoints (landing page, health, OpenAPI), request
//! metrics and admission (`admission`, `listener`: the limits of `crate::limits`). Metrics are
//! served apart, on their own listener (`metrics_router`), never on the API's. Each capability module owns its handlers, its wire types and its
//! `router()`; this module merges those routers, and the OpenAPI document comes from the same
//! registrations.
//!
//! **API boundary:** only this module knows HTTP and JSON. Handlers parse wire data into
//! domain values (see `validate`), send a command to the owning shard or read the store, and
//! render the outcome; they hold no business rules.

pub mod admission;
pub mod after_sales;
pub mod assistant;
pub mod catalog;
pub mod chat_page;
pub mod cluster;
pub mod compass;
pub mod compass_dimensions;
pub mod compass_stream;
pub mod diagnosis;
pub mod dto;
pub mod errors;
pub mod events;
pub mod extract;
pub mod flash_sales;
pub mod fulfillment;
pub mod idempotency_keys;
pub mod integrity;
pub mod inventory;
pub mod listener;
pub mod logistics;
pub mod malformed;
pub mod openapi;
pub mod orders;
pub mod page;
pub mod payments;
pub mod penalties;
pub mod platform;
pub mod problem;
pub mod risk;
pub mod schema;
pub mod session_gate;
pub mod sessions;
pub mod shop_reports;
pub mod staff;
pub mod strict;
pub mod validate;
pub mod webhooks;

use crate::app::AppState;
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use problem::ApiError;
use serde::Serialize;
use std::time::Instant;
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Every documented route: each capability's `router()` and the system endpoints. Each route
/// is registered once (`utoipa_axum::routes!`), for the axum router and the OpenAPI document
/// alike, so the two cannot disagree.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(platform::router())
        .merge(diagnosis::router())
        .merge(integrity::router())
        .merge(risk::router())
        .merge(penalties::router())
        .merge(inventory::router())
        .merge(catalog::router())
        .merge(orders::router())
        .merge(payments::router())
        .merge(flash_sales::router())
        .merge(fulfillment::router())
        .merge(logistics::router())
        .merge(after_sales::router())
        .merge(assistant::router())
        .merge(events::router())
        .merge(compass::router())
        .merge(webhooks::router())
        .merge(compass_dimensions::router())
        .merge(compass_stream::router())
        .merge(idempotency_keys::router())
        .merge(staff::router())
        .merge(sessions::router())
        .merge(cluster::router())
        .routes(routes!(healthz))
        .routes(routes!(error_codes))
}

pub fn router(state: AppState) -> Router {
    let (api, document) = api().split_for_parts();
    let document = openapi::finish(document);
    let served = Bytes::from(serde_json::to_vec(&document).unwrap_or_default());
    let openapi_json = move || async move { ([(header::CONTENT_TYPE, "application/json")], served) };
    // Not documented: the landing page, the document itself, the docs page that renders it, the
    // pages for people (the console, the buyer's chat), and the members' own endpoint.
    let routes = api
        .route("/", get(landing))
        .route(cluster::members::PATH, axum::routing::post(cluster::members::serve))
        .route("/openapi.json", get(openapi_json))
        .merge(utoipa_swagger_ui::SwaggerUi::new("/docs").url("/openapi-docs.json", document))
        .merge(crate::console::router())
        .merge(chat_page::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(extract::REQUEST_BODY_BYTES_MAX))
        .layer(middleware::from_fn_with_state(state.clone(), session_gate::gate))
        .layer(middleware::from_fn_with_state(
            state.admission.clone(),
            admission::admit,
        ));
    // A member sharing the shards sends a request that needs another's shard there.
    let routes = match cluster::route::ToHolders::of(&state) {
        Ok(Some(to)) => routes.layer(middleware::from_fn_with_state(to, cluster::route::to_holder)),
        Ok(None) => routes,
        Err(error) => {
            tracing::error!(%error, "could not set up the routing to the other members' shards");
            routes
        }
    };
    routes.layer(middleware::from_fn(run_to_completion)).with_state(state)
}

async fn not_found() -> ApiError {
    no_such_endpoint()
}

/// The answer to a route this process does not serve.
pub(crate) fn no_such_endpoint() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint; see /openapi.json",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method",
    )
}

/// Runs every request's handler to its end in a task of its own, even if the client hangs
/// up, and counts it by route and status and times it. A handler dropped half-way would
/// release its Idempotency-Key while its command still commits; the client's retry would then
/// run the request a second time. The count is taken in that task too, so a request whose
/// client hung up is still counted. (One layer, not two: every layer boxes and moves the
/// request's future once more.)
async fn run_to_completion(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = request.method().to_string();
    let counted = async move {
        let started = Instant::now();
        let response = next.run(request).await;
        record_request(method, route, response.status(), started);
        response
    };
    match tokio::spawn(counted).await {
        Ok(response) => response,
        Err(error) => {
            tracing::error!(%error, "a request handler failed");
            ApiError::unavailable("the request could not be completed; retry").into_response()
        }
    }
}

/// Counts a request by route and status and times it.
fn record_request(method: String, route: String, status: StatusCode, started: Instant) {
    let status = status.as_u16().to_string();
    metrics::counter!("miaodan_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("miaodan_http_request_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: String,
    pub backend: String,
    pub shards: u32,
}

/// Liveness and the store in use.
#[utoipa::path(get, path = "/healthz", tag = "system", responses((status = 200, body = Health)))]
pub async fn healthz(State(state): State<AppState>) -> axum::Json<Health> {
    axum::Json(Health {
        status: "ok".into(),
        backend: state.store.backend_name().into(),
        shards: state.shards.count(),
    })
}

/// Every `code` a problem+json answer can carry, with its one status and meaning (the
/// README's table of errors).
#[utoipa::path(get, path = "/errors", tag = "system", responses((status = 200, body = [errors::ErrorCode])))]
pub async fn error_codes() -> axum::Json<&'static [errors::ErrorCode]> {
    axum::Json(errors::ERRORS)
}

/// The metrics listener's routes: `GET /metrics` and nothing else. Its figures are
/// platform-wide (orders placed and paid, payments), so it is served apart from the API, on
/// an address of its own (loopback by default, `Config::metrics_listen`).
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .fallback(not_found)
        .with_state(state)
}

/// Prometheus metrics: requests, batch sizes, commit latency, orders by state.
pub async fn metrics_text(State(state): State<AppState>) -> Response {
    match state.store.order_counts_by_state().await {
        Ok(counts) => {
            for (order_state, count) in counts {
                metrics::gauge!("miaodan_orders", "state" => order_state).set(count as f64);
            }
        }
        Err(error) => tracing::warn!(%error, "could not count orders by state"),
    }
    let mut response = state.metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

async fn landing(State(state): State<AppState>) -> Html<String> {
    Html(include_str!("landing.html").replace("{{backend}}", state.store.backend_name()))
}
