//! The HTTP face of [`SimPay`] for running it as its own process. Each route calls the method of
//! the same name, so both transports share one semantics. Errors leave as
//! `{"error": "<code>", "message": "..."}` with the status below; a lost answer (timeout fault,
//! timeout credential) is a 504 sent after the request was processed, like a gateway that gave up
//! waiting for its backend.
//!
//! | route                                   | method                     |
//! |-----------------------------------------|----------------------------|
//! | `POST /v1/charges`                      | `authorize`                |
//! | `GET  /v1/charges/{reference}`          | `charge` (404 when none)   |
//! | `POST /v1/charges/{reference}/capture`  | `capture`                  |
//! | `POST /v1/charges/{reference}/void`     | `void`                     |
//! | `POST /v1/refunds`                      | `refund`                   |
//! | `GET  /v1/refunds/{reference}`          | `refund_by_reference`      |
//! | `GET  /v1/statements/{day}`             | `statement`                |
//! | `PUT  /v1/config/faults`                | `set_faults`               |
//! | `PUT  /v1/config/webhook`               | `set_webhook_url`          |
//! | `GET  /v1/events`                       | `events`                   |
//! | `GET  /v1/deliveries/stats`             | `delivery_stats`           |

use crate::error::SimpayError;
use crate::gateway::SimPay;
use crate::model::{
    AuthorizeRequest, CaptureRequest, Charge, Config, DeliveryStats, Event, Faults, Refund, RefundRequest,
    StatementEntry,
};
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

/// The body of `PUT /v1/config/webhook`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct WebhookConfig {
    pub url: Option<String>,
}

pub fn router(simpay: SimPay) -> Router {
    Router::new()
        .route("/v1/charges", post(authorize))
        .route("/v1/charges/{reference}", get(charge))
        .route("/v1/charges/{reference}/capture", post(capture))
        .route("/v1/charges/{reference}/void", post(void))
        .route("/v1/refunds", post(refund))
        .route("/v1/refunds/{reference}", get(refund_by_reference))
        .route("/v1/statements/{day}", get(statement))
        .route("/v1/config/faults", put(set_faults))
        .route("/v1/config/webhook", put(set_webhook))
        .route("/v1/events", get(events))
        .route("/v1/deliveries/stats", get(delivery_stats))
        .layer(DefaultBodyLimit::max(REQUEST_BODY_BYTES_MAX))
        .with_state(simpay)
}

/// Serves the API on `listener` until the process ends.
pub async fn serve(simpay: SimPay, listener: TcpListener) -> std::io::Result<()> {
    axum::serve(listener, router(simpay)).await
}

/// Binds `addr`, announces the bound address on stdout as one line (a launcher waiting for the
/// process reads it to learn the port when `addr` has port 0), and serves until the process ends.
pub async fn run_standalone(addr: SocketAddr, config: Config) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    announce(bound)?;
    serve(SimPay::new(config), listener).await
}

/// Synchronous so that the stdout lock never lives across an await (the future stays `Send`).
fn announce(bound: SocketAddr) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "simpay listening on http://{bound}")?;
    stdout.flush()
}

/// A refusal on its way out.
struct ApiError(SimpayError);

impl From<SimpayError> for ApiError {
    fn from(error: SimpayError) -> ApiError {
        ApiError(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match self.0 {
            SimpayError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            SimpayError::ReferenceConflict | SimpayError::InvalidState(_) => StatusCode::CONFLICT,
            SimpayError::NotFound => StatusCode::NOT_FOUND,
            SimpayError::Timeout => StatusCode::GATEWAY_TIMEOUT,
            SimpayError::Transport(_) => StatusCode::BAD_GATEWAY,
        };
        let body = ErrorBody {
            error: self.0.code().to_string(),
            message: wire_message(&self.0),
        };
        (status, Json(body)).into_response()
    }
}

/// The message as sent: the detail alone where there is one, so the client rebuilds the same error.
pub(crate) fn wire_message(error: &SimpayError) -> String {
    match error {
        SimpayError::InvalidRequest(detail) | SimpayError::InvalidState(detail) | SimpayError::Transport(detail) => {
            detail.clone()
        }
        other => other.to_string(),
    }
}

/// Parses a JSON body; a bad one is `invalid_request` naming serde's complaint.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|error| ApiError(SimpayError::InvalidRequest(format!("bad JSON body: {error}"))))
}

async fn authorize(State(simpay): State<SimPay>, body: Bytes) -> Result<Json<Charge>, ApiError> {
    let request: AuthorizeRequest = parse(&body)?;
    Ok(Json(simpay.authorize(request).await?))
}

async fn charge(State(simpay): State<SimPay>, Path(reference): Path<String>) -> Result<Json<Charge>, ApiError> {
    let charge = simpay.charge(&reference).await?.ok_or(SimpayError::NotFound)?;
    Ok(Json(charge))
}

async fn capture(
    State(simpay): State<SimPay>,
    Path(reference): Path<String>,
    body: Bytes,
) -> Result<Json<Charge>, ApiError> {
    // An empty body captures everything, as `{}` does.
    let request: CaptureRequest = if body.is_empty() {
        CaptureRequest::default()
    } else {
        parse(&body)?
    };
    Ok(Json(simpay.capture(&reference, request.amount_fen).await?))
}

async fn void(State(simpay): State<SimPay>, Path(reference): Path<String>) -> Result<Json<Charge>, ApiError> {
    Ok(Json(simpay.void(&reference).await?))
}

async fn refund(State(simpay): State<SimPay>, body: Bytes) -> Result<Json<Refund>, ApiError> {
    let request: RefundRequest = parse(&body)?;
    Ok(Json(simpay.refund(request).await?))
}

async fn refund_by_reference(
    State(simpay): State<SimPay>,
    Path(reference): Path<String>,
) -> Result<Json<Refund>, ApiError> {
    let refund = simpay
        .refund_by_reference(&reference)
        .await?
        .ok_or(SimpayError::NotFound)?;
    Ok(Json(refund))
}

async fn statement(
    State(simpay): State<SimPay>,
    Path(day): Path<String>,
) -> Result<Json<Vec<StatementEntry>>, ApiError> {
    Ok(Json(simpay.statement(&day).await?))
}

async fn set_faults(State(simpay): State<SimPay>, body: Bytes) -> Result<Json<Faults>, ApiError> {
    let faults: Faults = parse(&body)?;
    simpay.set_faults(faults);
    Ok(Json(simpay.faults()))
}

async fn set_webhook(State(simpay): State<SimPay>, body: Bytes) -> Result<Json<WebhookConfig>, ApiError> {
    let config: WebhookConfig = parse(&body)?;
    simpay.set_webhook_url(config.url.clone());
    Ok(Json(config))
}

async fn events(State(simpay): State<SimPay>) -> Json<Vec<Event>> {
    Json(simpay.events())
}

async fn delivery_stats(State(simpay): State<SimPay>) -> Json<DeliveryStats> {
    Json(simpay.delivery_stats())
}
