//! The interface between the platform and a payment provider. A real gateway (Alipay, WeChat
//! Pay, UnionPay, a card processor) implements [`PaymentProvider`]; `simpay` is the built-in
//! simulator behind the same trait.
//!
//! What the platform needs from any provider, and what the trait promises:
//! - **Idempotency by our reference.** Charging twice with one reference yields one charge
//!   (Alipay's `out_trade_no`, WeChat Pay's `out_trade_no`, a card processor's idempotency key).
//! - **A deadline on the charge** (`expires_at`): the provider refuses to charge after it
//!   (Alipay/WeChat `time_expire`), so an intent that expired cannot be paid later.
//! - **Lookups** by reference, so an unknown outcome is settled by asking, never by guessing.
//! - **Signed notifications**, verified here before anything is applied.

use miaodan_domain::Fen;
use miaodan_domain::Timestamp;
use miaodan_domain::payments::{ChargeOutcome, RefundOutcome};
use std::future::Future;
use std::pin::Pin;

pub type ProviderFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, ProviderError>> + Send + 'a>>;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChargeRequest {
    pub reference: String,
    pub amount: Fen,
    /// The buyer's payment credential (a wallet token, an agreement's credential).
    pub credential: String,
    /// Capture at once (a sale) rather than only authorize.
    pub capture: bool,
    pub expires_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundRequest {
    pub reference: String,
    pub charge_reference: String,
    pub amount: Fen,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProviderError {
    /// No answer in time: the request may or may not have been carried out.
    Unknown(String),
    /// The provider refused the request itself; nothing happened.
    Refused(String),
}

impl std::error::Error for ProviderError {}

impl std::fmt::Display for ProviderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProviderError::Unknown(detail) => write!(f, "outcome unknown: {detail}"),
            ProviderError::Refused(detail) => write!(f, "refused: {detail}"),
        }
    }
}

/// One line of the provider's settlement statement for a day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatementLine {
    pub capture: bool,
    /// Our charge reference (for a capture) or our refund reference (for a refund).
    pub reference: String,
    pub amount: Fen,
    pub at: Timestamp,
}

/// A verified notification, in the platform's terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notification {
    Charge {
        event_id: String,
        event_type: String,
        reference: String,
        outcome: ChargeOutcome,
    },
    Refund {
        event_id: String,
        event_type: String,
        reference: String,
        outcome: RefundOutcome,
    },
}

impl Notification {
    pub fn event_id(&self) -> &str {
        match self {
            Notification::Charge { event_id, .. } | Notification::Refund { event_id, .. } => event_id,
        }
    }

    pub fn event_type(&self) -> &str {
        match self {
            Notification::Charge { event_type, .. } | Notification::Refund { event_type, .. } => event_type,
        }
    }

    pub fn reference(&self) -> &str {
        match self {
            Notification::Charge { reference, .. } | Notification::Refund { reference, .. } => reference,
        }
    }
}

/// Why a notification was not accepted; each has a stable wire code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotificationError {
    MissingSignature,
    MalformedSignature,
    BadSignature,
    /// Signed too long ago (or in the future): a replay.
    StaleSignature,
    /// Signed correctly but not a notification we can read.
    MalformedBody,
}

impl NotificationError {
    pub fn code(self) -> &'static str {
        match self {
            NotificationError::MissingSignature => "missing_signature",
            NotificationError::MalformedSignature => "malformed_signature",
            NotificationError::BadSignature => "bad_signature",
            NotificationError::StaleSignature => "stale_signature",
            NotificationError::MalformedBody => "malformed_notification",
        }
    }
}

pub trait PaymentProvider: Send + Sync + 'static {
    /// The provider's name in URLs, reports and the notification log (`simpay`).
    fn name(&self) -> &'static str;

    /// The amounts the provider charges, in fen (a provider refuses 0 and has a maximum).
    fn amount_fen_range(&self) -> std::ops::RangeInclusive<i64>;

    /// Authorizes (and with `capture`, captures) a charge; idempotent by reference.
    fn charge(&self, request: ChargeRequest) -> ProviderFuture<'_, ChargeOutcome>;

    /// Captures an authorized charge in full.
    fn capture(&self, reference: String) -> ProviderFuture<'_, ChargeOutcome>;

    /// Releases an authorized charge.
    fn void(&self, reference: String) -> ProviderFuture<'_, ChargeOutcome>;

    /// What the provider knows of a reference ([`ChargeOutcome::NotFound`] if nothing).
    fn lookup_charge(&self, reference: String) -> ProviderFuture<'_, ChargeOutcome>;

    /// Refunds part of a captured charge; idempotent by the refund's reference.
    fn refund(&self, request: RefundRequest) -> ProviderFuture<'_, RefundOutcome>;

    /// The provider's statement of one Asia/Shanghai day (`YYYY-MM-DD`).
    fn statement(&self, day: String) -> ProviderFuture<'_, Vec<StatementLine>>;

    /// The request header a notification's signature travels in.
    fn signature_header(&self) -> &'static str;

    /// Checks a notification's signature (the raw value of [`Self::signature_header`], if
    /// the request had one) and freshness, then reads it.
    fn verify_notification(
        &self,
        signature: Option<&[u8]>,
        body: &[u8],
        now: Timestamp,
    ) -> Result<Notification, NotificationError>;
}
