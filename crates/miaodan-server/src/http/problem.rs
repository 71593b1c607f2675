//! The one HTTP error type. Every refusal leaves as `application/problem+json` (RFC 9457) with
//! a stable machine `code`, a human `detail` and, where one field is at fault, its `field`.
//! Operating errors (database down) are logged with their cause and answered 503 without it.

use crate::sequencer::ShardError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use miaodan_domain::flash_sale::TapRefusal;
use miaodan_domain::payments::PaymentRefusal;
use miaodan_domain::shard::Rejection;
use miaodan_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// The problem+json body.
#[derive(Clone, Debug, Serialize, ToSchema, PartialEq, Eq)]
pub struct Problem {
    /// A URI naming the problem kind: `https://miaodan.dev/problems/{code}`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// Stable machine-readable code, e.g. `insufficient_stock`.
    pub code: String,
    pub detail: String,
    /// The request field at fault, as a JSON path (`lines[0].quantity`), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    pub field: Option<String>,
    /// Seconds the client should wait before retrying (sent as `Retry-After`).
    pub retry_after_seconds: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            detail: detail.into(),
            field: None,
            retry_after_seconds: None,
        }
    }

    pub fn field(mut self, field: impl Into<String>) -> ApiError {
        self.field = Some(field.into());
        self
    }

    pub fn invalid(code: &'static str, field: &str, detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail).field(field)
    }

    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no such {what}"))
    }

    pub fn unavailable(detail: impl Into<String>) -> ApiError {
        let mut error = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail);
        error.retry_after_seconds = Some(1);
        error
    }

    pub fn problem(&self) -> Problem {
        Problem {
            kind: format!("https://miaodan.dev/problems/{}", self.code),
            title: self.status.canonical_reason().unwrap_or("Error").to_string(),
            status: self.status.as_u16(),
            code: self.code.to_string(),
            detail: self.detail.clone(),
            field: self.field.clone(),
        }
    }

    /// The body as stored for idempotent replay and as sent.
    pub fn body(&self) -> String {
        serde_json::to_string(&self.problem()).unwrap_or_else(|_| String::from("{}"))
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        tracing::error!(%error, "storage error");
        ApiError::unavailable("storage is unavailable; retry with the same Idempotency-Key")
    }
}

/// A shard that could not answer: 429 `overloaded` with `Retry-After` when its inbox is full,
/// otherwise 503 `unavailable` (retry with the same Idempotency-Key).
impl From<ShardError> for ApiError {
    fn from(error: ShardError) -> ApiError {
        match error {
            ShardError::Overloaded { retry_after_seconds } => {
                let mut error = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "overloaded",
                    "the shard's queue is full; retry shortly with the same Idempotency-Key",
                );
                error.retry_after_seconds = Some(retry_after_seconds);
                error
            }
            ShardError::Stopping => ApiError::unavailable("the server is stopping"),
            ShardError::Stopped => ApiError::unavailable("the shard stopped"),
            ShardError::CommitFailed => ApiError::unavailable("the batch could not be committed; retry"),
            ShardError::NoConnection => ApiError::unavailable("the shard has no database connection; retry"),
        }
    }
}

/// Maps a business refusal of the core to its status and field.
impl From<&Rejection> for ApiError {
    fn from(rejection: &Rejection) -> ApiError {
        let code = rejection.code();
        match rejection {
            Rejection::UnknownShop => ApiError::new(StatusCode::NOT_FOUND, code, "no such shop"),
            Rejection::ShopExists => ApiError::new(StatusCode::CONFLICT, code, "the shop already exists"),
            Rejection::UnknownProduct => ApiError::new(StatusCode::NOT_FOUND, code, "no such product"),
            Rejection::UnknownSku { sku } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, format!("no such SKU: {sku}")).field("sku_id")
            }
            Rejection::UnknownWarehouse => ApiError::new(StatusCode::NOT_FOUND, code, "no such warehouse"),
            Rejection::SkuUnavailable { sku } => ApiError::new(
                StatusCode::CONFLICT,
                code,
                format!("SKU {sku} (or its product) is archived and cannot be ordered"),
            )
            .field("sku_id"),
            Rejection::InsufficientStock {
                sku,
                requested,
                available,
            } => ApiError::new(
                StatusCode::CONFLICT,
                code,
                format!("SKU {sku}: {requested} requested, {available} available"),
            )
            .field("quantity"),
            Rejection::OrderNotOpen => ApiError::new(
                StatusCode::CONFLICT,
                "invalid_transition",
                "the order is no longer awaiting payment",
            ),
            Rejection::InvalidTransition(t) => ApiError::new(
                StatusCode::CONFLICT,
                code,
                format!("an order cannot go from {} to {}", t.from.as_str(), t.to.as_str()),
            ),
            Rejection::TooManySkus => ApiError::invalid(code, "skus", "a product has too many SKUs"),
            Rejection::TooManyLines => ApiError::invalid(code, "lines", "an order needs 1 to 100 lines"),
            Rejection::InvalidStock => ApiError::invalid(code, "available", "stock must be 0 to 1 000 000 000"),
            Rejection::UnknownFlashSale => ApiError::new(StatusCode::NOT_FOUND, code, "no such flash sale"),
            Rejection::Tap(refusal) => {
                let detail = match refusal {
                    TapRefusal::NotStarted => "the flash sale has not started yet",
                    TapRefusal::Ended => "the flash sale has ended",
                    TapRefusal::LimitReached => "you already hold as many units of this sale as one buyer may",
                    TapRefusal::SoldOut => "sold out",
                };
                ApiError::new(StatusCode::CONFLICT, code, detail)
            }
            Rejection::InvalidFlashSale(problem) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, *problem),
            Rejection::IdInUse => ApiError::unavailable("an allocated id was already in use; retry"),
            Rejection::Payment(refusal) => payment_refusal(refusal),
            Rejection::PaymentIntentNotLoaded => ApiError::not_found("payment intent"),
            Rejection::InvalidFulfillmentSettings(problem) | Rejection::InvalidSlaRules(problem) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, *problem)
            }
            Rejection::DeliveryOptionUnavailable => ApiError::new(
                StatusCode::CONFLICT,
                code,
                "the chosen delivery option cannot be kept for this cart now; ask GET /v1/delivery-options again",
            )
            .field("deliveries"),
            Rejection::DeliveryWindowUnavailable => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                code,
                "the scheduled window does not suit the chosen option (schedulable options only, a two-hour window starting 9, 11, 13, 15, 17 or 19 o'clock, after the earliest arrival and within 7 days of it)",
            )
            .field("deliveries"),
            Rejection::OrderNotDispatched => ApiError::new(
                StatusCode::CONFLICT,
                code,
                "the order is not paid and awaiting shipment",
            ),
            Rejection::NoParcelAtWarehouse => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                code,
                "the order sends no parcel from that warehouse (see GET /v1/orders/{id}/dispatch)",
            )
            .field("warehouse_id"),
            Rejection::ShipmentExists => ApiError::new(StatusCode::CONFLICT, code, "that parcel has a shipment already"),
            Rejection::WaybillInUse => ApiError::new(StatusCode::CONFLICT, code, "the waybill is on another shipment")
                .field("waybill_no"),
            Rejection::UnknownShipment => ApiError::not_found("shipment"),
            Rejection::TrackingRefused(refusal) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                code,
                format!("the tracking event was refused: {}", refusal.as_str()),
            ),
        }
    }
}

fn payment_refusal(refusal: &PaymentRefusal) -> ApiError {
    let detail = match refusal {
        PaymentRefusal::IntentState(status) => format!("the payment is {}", status.as_str()),
        PaymentRefusal::AttemptInFlight => "a payment attempt for this intent is in progress; retry shortly".into(),
        PaymentRefusal::ConflictingCapture => "the intent was already captured by another charge".into(),
        PaymentRefusal::AmountMismatch { expected, captured } => {
            format!(
                "the provider captured {} fen, not {} fen",
                captured.get(),
                expected.get()
            )
        }
        PaymentRefusal::NotInIntent => "the order is not part of this payment".into(),
        PaymentRefusal::RefundExceedsCaptured { refundable } => {
            format!("at most {} fen of this order can still be refunded", refundable.get())
        }
        PaymentRefusal::UnknownRefund => "no such refund".into(),
    };
    let mut error = ApiError::new(StatusCode::CONFLICT, refusal.code(), detail);
    match refusal {
        PaymentRefusal::AttemptInFlight => error.retry_after_seconds = Some(1),
        PaymentRefusal::RefundExceedsCaptured { .. } => error = error.field("amount_fen"),
        _ => {}
    }
    error
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body()).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_CONTENT_TYPE));
        if let Some(seconds) = self.retry_after_seconds {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
