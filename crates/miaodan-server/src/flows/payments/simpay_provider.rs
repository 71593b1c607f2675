//! `simpay` behind [`PaymentProvider`]: the built-in simulator, in this process by default or a
//! separate process reached over loopback HTTP. It is named a simulator everywhere it shows:
//! no money moves.

use super::provider::{
    ChargeRequest, Notification, NotificationError, PaymentProvider, ProviderError, ProviderFuture, RefundRequest,
    StatementLine,
};
use miaodan_domain::payments::{ChargeOutcome, DeclineCode, RefundOutcome};
use miaodan_domain::{Fen, Timestamp};
use simpay::{ChargeStatus, EventData, SimpayClient, SimpayError};

/// How far a notification's signing time may be from our clock (replay protection).
pub const SIGNATURE_TOLERANCE_SECONDS: i64 = 300;

pub struct SimpayProvider {
    client: SimpayClient,
    secret: Vec<u8>,
}

impl SimpayProvider {
    pub fn new(client: SimpayClient, secret: Vec<u8>) -> SimpayProvider {
        SimpayProvider { client, secret }
    }

    pub fn client(&self) -> &SimpayClient {
        &self.client
    }
}

fn provider_error(error: SimpayError) -> ProviderError {
    match error {
        SimpayError::Timeout | SimpayError::Transport(_) => ProviderError::Unknown(error.to_string()),
        other => ProviderError::Refused(other.to_string()),
    }
}

fn fen(raw: i64) -> Fen {
    Fen::from_stored(raw).unwrap_or(Fen::ZERO)
}

fn decline(code: Option<simpay::DeclineCode>) -> DeclineCode {
    match code {
        Some(simpay::DeclineCode::InsufficientFunds) => DeclineCode::InsufficientFunds,
        Some(simpay::DeclineCode::SuspectedFraud) => DeclineCode::SuspectedFraud,
        Some(simpay::DeclineCode::ExpiredCredential) => DeclineCode::ExpiredCredential,
        Some(simpay::DeclineCode::RequestExpired) => DeclineCode::RequestExpired,
        None => DeclineCode::Other,
    }
}

/// A charge as simpay reports it, in our terms.
fn outcome(charge: &simpay::Charge) -> ChargeOutcome {
    match charge.status {
        ChargeStatus::Authorized => ChargeOutcome::Authorized {
            provider_charge_id: charge.id.clone(),
            amount: fen(charge.amount_fen),
        },
        ChargeStatus::Captured => ChargeOutcome::Captured {
            provider_charge_id: charge.id.clone(),
            amount: fen(charge.captured_fen),
        },
        ChargeStatus::Voided => ChargeOutcome::Voided {
            provider_charge_id: charge.id.clone(),
        },
        ChargeStatus::Declined => ChargeOutcome::Declined(decline(charge.decline_code)),
    }
}

fn refund_outcome(refund: &simpay::Refund) -> RefundOutcome {
    match refund.status {
        simpay::RefundStatus::Succeeded => RefundOutcome::Succeeded {
            provider_refund_id: refund.id.clone(),
        },
        simpay::RefundStatus::Failed => RefundOutcome::Failed {
            reason: refund.failure.clone().unwrap_or_else(|| "failed".into()),
        },
    }
}

impl PaymentProvider for SimpayProvider {
    fn name(&self) -> &'static str {
        "simpay"
    }

    fn amount_fen_range(&self) -> std::ops::RangeInclusive<i64> {
        1..=simpay::model::AMOUNT_FEN_MAX
    }

    fn charge(&self, request: ChargeRequest) -> ProviderFuture<'_, ChargeOutcome> {
        Box::pin(async move {
            let request = simpay::AuthorizeRequest {
                reference: request.reference,
                amount_fen: request.amount.get(),
                credential: request.credential,
                capture: request.capture,
                expires_at_ms: Some(request.expires_at.unix_ms()),
            };
            match self.client.authorize(request).await {
                Ok(charge) => Ok(outcome(&charge)),
                Err(error) => Err(provider_error(error)),
            }
        })
    }

    fn capture(&self, reference: String) -> ProviderFuture<'_, ChargeOutcome> {
        Box::pin(async move {
            let charge = self.client.capture(&reference, None).await.map_err(provider_error)?;
            Ok(outcome(&charge))
        })
    }

    fn void(&self, reference: String) -> ProviderFuture<'_, ChargeOutcome> {
        Box::pin(async move {
            let charge = self.client.void(&reference).await.map_err(provider_error)?;
            Ok(outcome(&charge))
        })
    }

    fn lookup_charge(&self, reference: String) -> ProviderFuture<'_, ChargeOutcome> {
        Box::pin(async move {
            match self.client.charge(&reference).await {
                Ok(Some(charge)) => Ok(outcome(&charge)),
                Ok(None) | Err(SimpayError::NotFound) => Ok(ChargeOutcome::NotFound),
                Err(error) => Err(provider_error(error)),
            }
        })
    }

    fn refund(&self, request: RefundRequest) -> ProviderFuture<'_, RefundOutcome> {
        Box::pin(async move {
            let request = simpay::RefundRequest {
                reference: request.reference,
                charge_reference: request.charge_reference,
                amount_fen: request.amount.get(),
            };
            let refund = self.client.refund(request).await.map_err(provider_error)?;
            Ok(refund_outcome(&refund))
        })
    }

    fn statement(&self, day: String) -> ProviderFuture<'_, Vec<StatementLine>> {
        Box::pin(async move {
            let entries = self.client.statement(&day).await.map_err(provider_error)?;
            Ok(entries
                .into_iter()
                .map(|entry| StatementLine {
                    capture: entry.kind == simpay::EntryKind::Capture,
                    reference: entry.reference,
                    amount: fen(entry.amount_fen),
                    at: Timestamp::from_unix_ms(entry.at_ms),
                })
                .collect())
        })
    }

    fn signature_header(&self) -> &'static str {
        simpay::SIGNATURE_HEADER
    }

    fn verify_notification(
        &self,
        signature: Option<&[u8]>,
        body: &[u8],
        now: Timestamp,
    ) -> Result<Notification, NotificationError> {
        simpay::signature::verify_raw(
            &self.secret,
            signature,
            body,
            now.unix_ms().div_euclid(1000),
            SIGNATURE_TOLERANCE_SECONDS,
        )
        .map_err(|error| match error {
            simpay::SignatureError::Missing => NotificationError::MissingSignature,
            simpay::SignatureError::Malformed => NotificationError::MalformedSignature,
            simpay::SignatureError::Mismatch => NotificationError::BadSignature,
            simpay::SignatureError::Stale => NotificationError::StaleSignature,
        })?;
        let event: simpay::Event = serde_json::from_slice(body).map_err(|_| NotificationError::MalformedBody)?;
        let event_type = serde_json::to_value(event.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        Ok(match event.data {
            EventData::Charge(charge) => Notification::Charge {
                event_id: event.id,
                event_type,
                outcome: outcome(&charge),
                reference: charge.reference,
            },
            EventData::Refund(refund) => Notification::Refund {
                event_id: event.id,
                event_type,
                outcome: refund_outcome(&refund),
                reference: refund.reference,
            },
        })
    }
}
