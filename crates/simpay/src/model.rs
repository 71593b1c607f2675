//! The provider's objects as they cross the wire: charges, refunds, statement entries, webhook
//! events, the requests that create them and the fault knobs. Every amount is `i64` fen and every
//! time is unix milliseconds, so the JSON is exactly what a merchant integration would parse.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Credentials with a scripted outcome, like a card processor's test card numbers. Any other
/// credential is approved.
pub mod credentials {
    /// Declined with `insufficient_funds`.
    pub const INSUFFICIENT_FUNDS: &str = "sim_insufficient_funds";
    /// Declined with `suspected_fraud`.
    pub const FRAUD: &str = "sim_fraud";
    /// Declined with `expired_credential`.
    pub const EXPIRED: &str = "sim_expired";
    /// Approved, but the answer to the first request is lost: the caller sees a timeout while the
    /// charge exists. A retry with the same reference gets the charge.
    pub const TIMEOUT: &str = "sim_timeout";
}

/// The longest merchant reference accepted, as Alipay's `out_trade_no`.
pub const REFERENCE_CHARS_MAX: usize = 64;
/// The largest amount of one charge or refund: ten billion yuan.
pub const AMOUNT_FEN_MAX: i64 = 1_000_000_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChargeStatus {
    /// Funds are held; a capture takes them, a void releases them.
    Authorized,
    Captured,
    Voided,
    Declined,
}

impl ChargeStatus {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ChargeStatus::Authorized => "authorized",
            ChargeStatus::Captured => "captured",
            ChargeStatus::Voided => "voided",
            ChargeStatus::Declined => "declined",
        }
    }
}

/// Why a charge was declined. The first three come from the payer's side; `request_expired`
/// means the merchant's own deadline (`expires_at_ms`) had passed when the request arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeclineCode {
    InsufficientFunds,
    SuspectedFraud,
    ExpiredCredential,
    RequestExpired,
}

impl DeclineCode {
    /// The codes a random decline fault picks from: the ones a real payer can cause.
    pub const PAYER_SIDE: [DeclineCode; 3] = [
        DeclineCode::InsufficientFunds,
        DeclineCode::SuspectedFraud,
        DeclineCode::ExpiredCredential,
    ];
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Charge {
    /// The provider's id, `ch_<n>`.
    pub id: String,
    /// The merchant's reference: the idempotency key of the authorization.
    pub reference: String,
    pub amount_fen: i64,
    pub captured_fen: i64,
    pub refunded_fen: i64,
    pub credential: String,
    pub status: ChargeStatus,
    pub decline_code: Option<DeclineCode>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizeRequest {
    pub reference: String,
    pub amount_fen: i64,
    pub credential: String,
    /// Capture in the same step (a "sale"); otherwise the charge stays `authorized`.
    #[serde(default)]
    pub capture: bool,
    /// The merchant's deadline: a request arriving later is declined `request_expired`.
    #[serde(default)]
    pub expires_at_ms: Option<i64>,
}

/// The body of `POST /v1/charges/{reference}/capture`; no amount captures the whole authorization.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureRequest {
    #[serde(default)]
    pub amount_fen: Option<i64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    Succeeded,
    Failed,
}

/// Why a refund failed, as the `failure` field spells it.
pub mod refund_failures {
    /// The charge was never captured (authorized, voided or declined): there is nothing to return.
    pub const CHARGE_NOT_CAPTURED: &str = "charge_not_captured";
    /// The refunds of the charge would add up to more than was captured.
    pub const EXCEEDS_CAPTURED: &str = "exceeds_captured";
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    /// The provider's id, `re_<n>`.
    pub id: String,
    /// The merchant's refund reference: the idempotency key of the refund.
    pub reference: String,
    pub charge_reference: String,
    pub amount_fen: i64,
    pub status: RefundStatus,
    /// One of [`refund_failures`] when `status` is `failed`.
    pub failure: Option<String>,
    pub created_at_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRequest {
    pub reference: String,
    pub charge_reference: String,
    pub amount_fen: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    Capture,
    Refund,
}

/// One line of a daily settlement statement: money that moved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementEntry {
    pub kind: EntryKind,
    /// The charge reference for a capture, the refund reference for a refund.
    pub reference: String,
    pub charge_reference: String,
    pub amount_fen: i64,
    pub at_ms: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "charge.authorized")]
    ChargeAuthorized,
    #[serde(rename = "charge.captured")]
    ChargeCaptured,
    #[serde(rename = "charge.voided")]
    ChargeVoided,
    #[serde(rename = "charge.declined")]
    ChargeDeclined,
    #[serde(rename = "refund.succeeded")]
    RefundSucceeded,
    #[serde(rename = "refund.failed")]
    RefundFailed,
}

/// The object an event reports, as it was when the event was made (not as it is now).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EventData {
    Charge(Charge),
    Refund(Refund),
}

/// A webhook notification. Its `id` is the receiver's deduplication key: the same event may be
/// delivered more than once, late, and out of order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// `evt_<n>`, increasing in the order the events were made.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub created_at_ms: i64,
    pub data: EventData,
}

/// Misbehaviour injected on purpose. Percentages are whole numbers; anything above 100 acts as 100.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Faults {
    /// Added to every answer, after the request has been processed.
    #[serde(default)]
    pub latency_ms: u64,
    /// Share of new authorizations declined at random with a payer-side code.
    #[serde(default)]
    pub decline_percent: u8,
    /// Share of state-changing requests that are processed but answered with a timeout.
    #[serde(default)]
    pub timeout_percent: u8,
    /// Share of events delivered twice.
    #[serde(default)]
    pub duplicate_percent: u8,
    /// Each delivery waits a random 0..=this before its first attempt, so events arrive out of order.
    #[serde(default)]
    pub max_notify_delay_ms: u64,
}

#[derive(Clone)]
pub struct Config {
    /// Seeds the random faults: the same seed and the same sequence of calls give the same faults.
    pub seed: u64,
    /// The webhook signing secret shared with the merchant.
    pub secret: Vec<u8>,
    /// Where events are POSTed; none means events are recorded but not delivered.
    pub webhook_url: Option<String>,
    pub faults: Faults,
}

impl fmt::Debug for Config {
    // The secret stays out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("seed", &self.seed)
            .field("secret", &"<redacted>")
            .field("webhook_url", &self.webhook_url)
            .field("faults", &self.faults)
            .finish()
    }
}

/// Webhook delivery counters, cumulative since start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryStats {
    /// HTTP attempts made, retries and duplicates included.
    pub sent: u64,
    /// Deliveries acknowledged with a 2xx (a duplicate copy counts on its own).
    pub delivered: u64,
    /// Extra copies scheduled by the duplicate fault.
    pub duplicates_sent: u64,
    /// Deliveries abandoned after the last retry.
    pub gave_up: u64,
    /// Deliveries scheduled and not yet delivered or abandoned; zero means the webhook queue is quiet.
    pub pending: u64,
}
