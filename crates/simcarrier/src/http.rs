//! The HTTP face of [`SimCarrier`] for running it as its own process. Each route calls the method
//! of the same name, so both transports share one semantics. Errors leave as
//! `{"error": "<code>", "message": "..."}` with the status below.
//!
//! | route                            | method                                     |
//! |----------------------------------|--------------------------------------------|
//! | `POST /waybills`                 | `create_waybill`                           |
//! | `POST /quotes`                   | `quote`, body `{carrier, origin_adcode, …}`|
//! | `GET  /waybills/{no}`            | `tracking` (404 when none)                 |
//! | `POST /waybills/{no}/advance`    | `advance`, body `{state, at?}`             |
//! | `POST /waybills/{no}/events`     | `emit`, body `{state, occurred_at}`        |
//! | `PUT  /config/faults`            | `set_faults`                               |
//! | `PUT  /config/webhook`           | `set_webhook_url`, body `{url}`            |
//! | `GET  /deliveries`               | `delivery_attempts`                        |
//! | `GET  /deliveries/stats`         | `delivery_stats`                           |
//! | `GET  /health`                   | `{"status": "ok"}`                         |
//!
//! Times in the bodies are RFC 3339 (`2024-06-18T16:00:00Z`); an `advance` without `at` happens
//! now.

use crate::error::SimCarrierError;
use crate::model::{
    AdvanceRequest, Config, CreateWaybill, DeliveryAttempt, DeliveryStats, EmitRequest, Faults, RedirectRequest,
    Tracking, TrackingEvent, Waybill,
};
use crate::simulator::SimCarrier;
use crate::webhook::unix_ms;
use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::net::SocketAddr;
use tokio::net::TcpListener;

/// The largest request body read; a larger one is answered 413 unread.
pub const REQUEST_BODY_BYTES_MAX: usize = 64 * 1024;

/// The error body of every refusal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ErrorBody {
    pub error: String,
    pub message: String,
}

/// The body of `PUT /config/webhook`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct WebhookConfig {
    pub url: Option<String>,
}

/// The body of `GET /health`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Health {
    pub status: String,
}

pub fn router(simcarrier: SimCarrier) -> Router {
    Router::new()
        .route("/waybills", post(create_waybill))
        .route("/quotes", post(quote))
        .route("/waybills/{no}", get(tracking))
        .route("/waybills/{no}/advance", post(advance))
        .route("/waybills/{no}/events", post(emit))
        .route("/waybills/{no}/redirect", post(redirect))
        .route("/config/faults", put(set_faults))
        .route("/config/webhook", put(set_webhook))
        .route("/deliveries", get(delivery_attempts))
        .route("/deliveries/stats", get(delivery_stats))
        .route("/health", get(health))
        .layer(DefaultBodyLimit::max(REQUEST_BODY_BYTES_MAX))
        .with_state(simcarrier)
}

/// Serves the API on `listener` until the process ends.
pub async fn serve(simcarrier: SimCarrier, listener: TcpListener) -> std::io::Result<()> {
    axum::serve(listener, router(simcarrier)).await
}

/// Binds `addr`, announces the bound address on stdout as one line (a launcher waiting for the
/// process reads it to learn the port when `addr` has port 0), and serves until the process ends.
pub async fn run_standalone(addr: SocketAddr, config: Config) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    announce(bound)?;
    serve(SimCarrier::new(config), listener).await
}

/// Synchronous so that the stdout lock never lives across an await (the future stays `Send`).
fn announce(bound: SocketAddr) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "simcarrier (carrier simulator) listening on http://{bound}")?;
    stdout.flush()
}

/// A refusal on its way out.
struct ApiError(SimCarrierError);

impl From<SimCarrierError> for ApiError {
    fn from(error: SimCarrierError) -> ApiError {
        ApiError(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match self.0 {
            SimCarrierError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            SimCarrierError::ReferenceConflict | SimCarrierError::InvalidState(_) => StatusCode::CONFLICT,
            SimCarrierError::NotFound => StatusCode::NOT_FOUND,
            SimCarrierError::Full => StatusCode::SERVICE_UNAVAILABLE,
            SimCarrierError::Timeout => StatusCode::GATEWAY_TIMEOUT,
            SimCarrierError::Transport(_) => StatusCode::BAD_GATEWAY,
        };
        let body = ErrorBody {
            error: self.0.code().to_string(),
            message: wire_message(&self.0),
        };
        (status, Json(body)).into_response()
    }
}

/// The message as sent: the detail alone where there is one, so the client rebuilds the same error.
pub(crate) fn wire_message(error: &SimCarrierError) -> String {
    match error {
        SimCarrierError::InvalidRequest(detail)
        | SimCarrierError::InvalidState(detail)
        | SimCarrierError::Transport(detail) => detail.clone(),
        other => other.to_string(),
    }
}

/// Parses a JSON body; a bad one is `invalid_request` naming serde's complaint.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|error| ApiError(SimCarrierError::InvalidRequest(format!("bad JSON body: {error}"))))
}

async fn create_waybill(State(simcarrier): State<SimCarrier>, body: Bytes) -> Result<Json<Waybill>, ApiError> {
    let request: CreateWaybill = parse(&body)?;
    Ok(Json(simcarrier.create_waybill(request).await?))
}

async fn quote(State(simcarrier): State<SimCarrier>, body: Bytes) -> Result<Json<crate::tariff::Quote>, ApiError> {
    let request: crate::tariff::QuoteRequest = parse(&body)?;
    Ok(Json(simcarrier.quote(&request)?))
}

async fn tracking(State(simcarrier): State<SimCarrier>, Path(no): Path<String>) -> Result<Json<Tracking>, ApiError> {
    Ok(Json(simcarrier.tracking(&no).ok_or(SimCarrierError::NotFound)?))
}

async fn advance(
    State(simcarrier): State<SimCarrier>,
    Path(no): Path<String>,
    body: Bytes,
) -> Result<Json<Vec<TrackingEvent>>, ApiError> {
    let request: AdvanceRequest = parse(&body)?;
    let at_ms = request.at.unwrap_or_else(unix_ms);
    Ok(Json(simcarrier.advance(&no, request.state, at_ms).await?))
}

async fn emit(
    State(simcarrier): State<SimCarrier>,
    Path(no): Path<String>,
    body: Bytes,
) -> Result<Json<TrackingEvent>, ApiError> {
    let request: EmitRequest = parse(&body)?;
    Ok(Json(simcarrier.emit(&no, request.state, request.occurred_at).await?))
}

async fn redirect(
    State(simcarrier): State<SimCarrier>,
    Path(no): Path<String>,
    body: Bytes,
) -> Result<Json<Tracking>, ApiError> {
    let request: RedirectRequest = parse(&body)?;
    Ok(Json(simcarrier.redirect(&no, &request.destination_adcode).await?))
}

async fn set_faults(State(simcarrier): State<SimCarrier>, body: Bytes) -> Result<Json<Faults>, ApiError> {
    let faults: Faults = parse(&body)?;
    simcarrier.set_faults(faults);
    Ok(Json(simcarrier.faults()))
}

async fn set_webhook(State(simcarrier): State<SimCarrier>, body: Bytes) -> Result<Json<WebhookConfig>, ApiError> {
    let config: WebhookConfig = parse(&body)?;
    simcarrier.set_webhook_url(config.url.clone());
    Ok(Json(config))
}

async fn delivery_attempts(State(simcarrier): State<SimCarrier>) -> Json<Vec<DeliveryAttempt>> {
    Json(simcarrier.delivery_attempts())
}

async fn delivery_stats(State(simcarrier): State<SimCarrier>) -> Json<DeliveryStats> {
    Json(simcarrier.delivery_stats())
}

async fn health() -> Json<Health> {
    Json(Health {
        status: "ok".to_string(),
    })
}
