//! simpay: a payment provider simulator that behaves like Alipay, WeChat Pay or a card processor,
//! so that miaodan's payment code meets the provider's real habits in tests: answers that time out
//! after the money moved, declines, partial captures and refunds, idempotency by the merchant's
//! reference, a daily settlement statement, and webhooks that arrive late, out of order, twice, or
//! only after retries, each signed.
//!
//! It runs in the platform's process by default ([`SimPay`]) and as a separate process on loopback
//! in tests ([`run_standalone`], reached through [`SimpayClient::http`]). Both transports share one
//! implementation, so they answer the same.
//!
//! # Map
//! - [`model`]: the wire objects (`Charge`, `Refund`, `Event`, …) and the fault knobs.
//! - `ledger`: the books and their rules, pure: time and random draws come in as arguments.
//! - `gateway`: [`SimPay`], the async shell: clock, seeded faults, latency, starting deliveries.
//! - `webhook`: background delivery with delays, duplicates, retries and counters.
//! - [`signature`]: the `Simpay-Signature` header, signing and verifying.
//! - `http`: the HTTP API ([`router`], [`serve`], [`run_standalone`]).
//! - `client`: [`SimpayClient`], one type over both transports.
//! - [`calendar`]: Asia/Shanghai settlement days.
//!
//! # Invariants
//! - A reference is bound to its first request forever: a retry gets the same object, a request
//!   with a different amount gets `reference_conflict`, and money never moves twice for it.
//! - For every charge, `refunded_fen <= captured_fen <= amount_fen`; a call that would break this
//!   stops the simulator rather than record it.
//! - A call's effects are applied before its answer is decided, so a timeout never means "nothing
//!   happened".
//! - Delivering a webhook never blocks the call that caused it.
//!
//! ```
//! use simpay::{AuthorizeRequest, ChargeStatus, Config, Faults, SimPay};
//!
//! # tokio::runtime::Runtime::new().expect("a runtime").block_on(async {
//! let simpay = SimPay::new(Config { seed: 7, secret: b"whsec".to_vec(), webhook_url: None, faults: Faults::default() });
//! let request = AuthorizeRequest {
//!     reference: "order-1".to_string(),
//!     amount_fen: 9_900,
//!     credential: "buyer-wallet".to_string(),
//!     capture: true,
//!     expires_at_ms: None,
//! };
//! let charge = simpay.authorize(request.clone()).await.expect("approved");
//! assert_eq!(charge.status, ChargeStatus::Captured);
//! assert_eq!(simpay.authorize(request).await.expect("replayed").id, charge.id);
//! # });
//! ```

pub mod calendar;
mod client;
mod error;
mod gateway;
mod http;
mod ledger;
pub mod model;
pub mod signature;
mod webhook;

pub use client::SimpayClient;
pub use error::SimpayError;
pub use gateway::{LATENCY_MS_MAX, SimPay};
pub use http::{REQUEST_BODY_BYTES_MAX, router, run_standalone, serve};
pub use model::{
    AuthorizeRequest, CaptureRequest, Charge, ChargeStatus, Config, DeclineCode, DeliveryStats, EntryKind, Event,
    EventData, EventType, Faults, Refund, RefundRequest, RefundStatus, StatementEntry, credentials, refund_failures,
};
pub use signature::{SIGNATURE_HEADER, SignatureError};
pub use webhook::{
    DELIVERY_ATTEMPT_TIMEOUT_MS, DELIVERY_ATTEMPTS_IN_FLIGHT_MAX, DELIVERY_ATTEMPTS_MAX, NOTIFY_DELAY_MS_MAX,
    RETRY_BACKOFF_FIRST_MS,
};
