//! The HTTP API (axum): routing, the system endpoints (landing page, health, metrics, OpenAPI)
//! and request metrics. Each resource module owns its handlers; this module merges them.
//!
//! **API boundary:** only this module knows HTTP and JSON. Handlers parse wire data into
//! domain values (see `validate`), send a command to the owning shard or read the store, and
//! render the outcome; they hold no business rules.

pub mod catalog;
pub mod dto;
pub mod extract;
pub mod flash_sales;
pub mod fulfillment;
pub mod inventory;
pub mod logistics;
pub mod openapi;
pub mod orders;
pub mod payments;
pub mod platform;
pub mod problem;
pub mod validate;

use crate::app::AppState;
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{delete, get, patch, post, put};
use dto::Health;
use problem::ApiError;
use std::time::Instant;
use utoipa::OpenApi;

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/v1/shops", post(platform::create_shop).get(platform::list_shops))
        .route("/v1/shops/{shop_id}", get(platform::get_shop))
        .route("/v1/shops/{shop_id}/tokens", post(platform::issue_merchant_token))
        .route("/v1/buyers", post(platform::create_buyer))
        .route("/v1/buyers/{buyer_id}", get(platform::get_buyer))
        .route("/v1/buyers/{buyer_id}/tokens", post(platform::issue_buyer_token))
        .route(
            "/v1/warehouses",
            post(inventory::create_warehouse).get(inventory::list_warehouses),
        )
        .route(
            "/v1/products",
            post(catalog::create_product).get(catalog::list_products),
        )
        .route(
            "/v1/products/{product_id}",
            get(catalog::get_product).patch(catalog::update_product),
        )
        .route("/v1/products/{product_id}/skus", post(catalog::add_sku))
        .route("/v1/skus/{sku_id}", patch(catalog::update_sku))
        .route("/v1/skus/{sku_id}/stock", get(inventory::get_stock))
        .route("/v1/skus/{sku_id}/stock/{warehouse_id}", put(inventory::set_stock))
        .route("/v1/checkouts", post(orders::checkout))
        .route("/v1/orders", get(orders::list_orders))
        .route("/v1/orders/{order_id}", get(orders::get_order))
        .route("/v1/orders/{order_id}/cancel", post(orders::cancel_order))
        .route("/v1/payment-intents", post(payments::open_intent))
        .route("/v1/payment-intents/{payment_intent_id}", get(payments::get_intent))
        .route(
            "/v1/payment-intents/{payment_intent_id}/confirm",
            post(payments::confirm),
        )
        .route(
            "/v1/orders/{order_id}/refunds",
            post(payments::refund_order).get(payments::list_refunds),
        )
        .route(
            "/v1/one-tap-agreements",
            post(payments::create_agreement).get(payments::list_agreements),
        )
        .route(
            "/v1/one-tap-agreements/{agreement_id}",
            delete(payments::revoke_agreement),
        )
        .route("/v1/webhooks/simpay", post(payments::simpay_webhook))
        .route("/v1/reconciliation", get(payments::reconciliation))
        .route("/v1/flash-sales", post(flash_sales::schedule).get(flash_sales::list))
        .route("/v1/flash-sales/{flash_sale_id}", get(flash_sales::get))
        .route("/v1/flash-sales/{flash_sale_id}/taps", post(flash_sales::tap))
        .route("/v1/delivery-options", get(fulfillment::delivery_options))
        .route(
            "/v1/warehouses/{warehouse_id}/fulfillment",
            get(fulfillment::get_settings).put(fulfillment::put_settings),
        )
        .route(
            "/v1/warehouses/{warehouse_id}/shortages",
            post(fulfillment::report_shortage),
        )
        .route("/v1/orders/{order_id}/dispatch", get(fulfillment::explain_dispatch))
        .route(
            "/v1/orders/{order_id}/shipments",
            post(logistics::create_shipment).get(logistics::list_shipments),
        )
        .route("/v1/shipments/{shipment_id}", get(logistics::get_shipment))
        .route("/v1/webhooks/carriers", post(logistics::carrier_webhook))
        .route(
            "/v1/package-center/sla-rules",
            get(logistics::get_sla_rules).put(logistics::put_sla_rules),
        )
        .route("/v1/package-center/alerts", get(logistics::list_alerts))
        .route("/v1/package-center/alerts/stream", get(logistics::stream_alerts));
    let system = Router::new()
        .route("/", get(landing))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .route("/openapi.json", get(openapi_json));
    api.merge(system)
        .merge(utoipa_swagger_ui::SwaggerUi::new("/docs").url("/openapi-docs.json", openapi::ApiDoc::openapi()))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(extract::REQUEST_BODY_BYTES_MAX))
        .layer(middleware::from_fn(record_request))
        .layer(middleware::from_fn(run_to_completion))
        .with_state(state)
}

async fn not_found() -> ApiError {
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
/// up. A handler dropped half-way would release its Idempotency-Key while its command still
/// commits; the client's retry would then run the request a second time.
async fn run_to_completion(request: Request, next: Next) -> Response {
    match tokio::spawn(next.run(request)).await {
        Ok(response) => response,
        Err(error) => {
            tracing::error!(%error, "a request handler failed");
            ApiError::unavailable("the request could not be completed; retry").into_response()
        }
    }
}

/// Counts requests by route and status and times them.
async fn record_request(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("miaodan_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("miaodan_http_request_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
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

/// Prometheus metrics: requests, batch sizes, commit latency, orders by state.
#[utoipa::path(get, path = "/metrics", tag = "system", responses((status = 200, content_type = "text/plain")))]
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

async fn openapi_json() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(openapi::ApiDoc::openapi())
}

async fn landing(State(state): State<AppState>) -> Html<String> {
    Html(include_str!("landing.html").replace("{{backend}}", state.store.backend_name()))
}
