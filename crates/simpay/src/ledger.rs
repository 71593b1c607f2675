//! The provider's books: charges, refunds, the settlement journal and the event log, with the rules
//! that change them. Pure and synchronous: the time and every random draw come in as arguments, so
//! the same calls give the same books.
//!
//! Invariants, checked after every change to a charge:
//! - `0 <= refunded_fen <= captured_fen <= amount_fen`;
//! - `captured_fen > 0` exactly when the status is `captured`.
//!
//! Every change of state appends exactly one event, and every movement of money (a capture, a
//! succeeded refund) one journal entry.

use crate::error::SimpayError;
use crate::model::{
    AMOUNT_FEN_MAX, AuthorizeRequest, Charge, ChargeStatus, DeclineCode, EntryKind, Event, EventData, EventType,
    REFERENCE_CHARS_MAX, Refund, RefundRequest, RefundStatus, StatementEntry, credentials, refund_failures,
};
use std::collections::HashMap;

/// Whether an authorization created the charge or found it already there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Creation {
    New,
    Replay,
}

#[derive(Default)]
pub(crate) struct Ledger {
    charges: HashMap<String, Charge>,
    refunds: HashMap<String, Refund>,
    journal: Vec<StatementEntry>,
    events: Vec<Event>,
}

impl Ledger {
    /// Creates the charge for `request.reference`, or returns the one already there.
    ///
    /// The outcome of a new charge is decided in this order: the merchant's deadline
    /// (`request_expired`), the scripted credentials, then `random_decline` (the fault the caller
    /// drew); otherwise it is approved.
    pub(crate) fn authorize(
        &mut self,
        request: &AuthorizeRequest,
        now_ms: i64,
        random_decline: Option<DeclineCode>,
    ) -> Result<(Charge, Creation), SimpayError> {
        check_reference("reference", &request.reference)?;
        check_amount(request.amount_fen)?;
        if let Some(existing) = self.charges.get(&request.reference) {
            if existing.amount_fen != request.amount_fen {
                return Err(SimpayError::ReferenceConflict);
            }
            return Ok((existing.clone(), Creation::Replay));
        }

        let expired = request.expires_at_ms.is_some_and(|deadline_ms| now_ms > deadline_ms);
        let decline_code = if expired {
            Some(DeclineCode::RequestExpired)
        } else {
            scripted_decline(&request.credential).or(random_decline)
        };
        let (status, captured_fen, kind) = match (decline_code, request.capture) {
            (Some(_), _) => (ChargeStatus::Declined, 0, EventType::ChargeDeclined),
            (None, true) => (ChargeStatus::Captured, request.amount_fen, EventType::ChargeCaptured),
            (None, false) => (ChargeStatus::Authorized, 0, EventType::ChargeAuthorized),
        };
        let charge = Charge {
            id: format!("ch_{}", self.charges.len() + 1),
            reference: request.reference.clone(),
            amount_fen: request.amount_fen,
            captured_fen,
            refunded_fen: 0,
            credential: request.credential.clone(),
            status,
            decline_code,
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
        };
        self.record_charge(&charge, kind);
        Ok((charge, Creation::New))
    }

    /// Captures an authorization, all of it or `amount_fen` of it. Capturing a captured charge
    /// returns it unchanged, whatever the amount, because a retry must not fail.
    pub(crate) fn capture(
        &mut self,
        reference: &str,
        amount_fen: Option<i64>,
        now_ms: i64,
    ) -> Result<Charge, SimpayError> {
        let charge = self.charges.get(reference).ok_or(SimpayError::NotFound)?;
        match charge.status {
            ChargeStatus::Captured => return Ok(charge.clone()),
            ChargeStatus::Voided | ChargeStatus::Declined => {
                return Err(SimpayError::InvalidState(format!(
                    "a {} charge cannot be captured",
                    charge.status.as_str()
                )));
            }
            ChargeStatus::Authorized => {}
        }
        let captured_fen = amount_fen.unwrap_or(charge.amount_fen);
        if !(1..=charge.amount_fen).contains(&captured_fen) {
            return Err(SimpayError::InvalidRequest(format!(
                "amount_fen {captured_fen} is not in 1..={} (the authorized amount)",
                charge.amount_fen
            )));
        }
        let mut charge = charge.clone();
        charge.status = ChargeStatus::Captured;
        charge.captured_fen = captured_fen;
        charge.updated_at_ms = now_ms;
        self.record_charge(&charge, EventType::ChargeCaptured);
        Ok(charge)
    }

    /// Releases an authorization. Voiding a voided charge returns it unchanged.
    pub(crate) fn void(&mut self, reference: &str, now_ms: i64) -> Result<Charge, SimpayError> {
        let charge = self.charges.get(reference).ok_or(SimpayError::NotFound)?;
        match charge.status {
            ChargeStatus::Voided => return Ok(charge.clone()),
            ChargeStatus::Captured | ChargeStatus::Declined => {
                return Err(SimpayError::InvalidState(format!(
                    "a {} charge cannot be voided",
                    charge.status.as_str()
                )));
            }
            ChargeStatus::Authorized => {}
        }
        let mut charge = charge.clone();
        charge.status = ChargeStatus::Voided;
        charge.updated_at_ms = now_ms;
        self.record_charge(&charge, EventType::ChargeVoided);
        Ok(charge)
    }

    /// Refunds part of a captured charge, or records why it cannot. A refund reference is final
    /// once used: a retry gets the same refund, succeeded or failed.
    pub(crate) fn refund(&mut self, request: &RefundRequest, now_ms: i64) -> Result<Refund, SimpayError> {
        check_reference("reference", &request.reference)?;
        check_reference("charge_reference", &request.charge_reference)?;
        check_amount(request.amount_fen)?;
        if let Some(existing) = self.refunds.get(&request.reference) {
            let same =
                existing.amount_fen == request.amount_fen && existing.charge_reference == request.charge_reference;
            return if same {
                Ok(existing.clone())
            } else {
                Err(SimpayError::ReferenceConflict)
            };
        }
        let charge = self
            .charges
            .get(&request.charge_reference)
            .ok_or(SimpayError::NotFound)?;

        let failure = if charge.status != ChargeStatus::Captured {
            Some(refund_failures::CHARGE_NOT_CAPTURED)
        } else if charge.refunded_fen + request.amount_fen > charge.captured_fen {
            Some(refund_failures::EXCEEDS_CAPTURED)
        } else {
            None
        };
        let refund = Refund {
            id: format!("re_{}", self.refunds.len() + 1),
            reference: request.reference.clone(),
            charge_reference: request.charge_reference.clone(),
            amount_fen: request.amount_fen,
            status: if failure.is_some() {
                RefundStatus::Failed
            } else {
                RefundStatus::Succeeded
            },
            failure: failure.map(str::to_string),
            created_at_ms: now_ms,
        };
        self.refunds.insert(refund.reference.clone(), refund.clone());

        if failure.is_some() {
            self.push_event(EventType::RefundFailed, EventData::Refund(refund.clone()), now_ms);
            return Ok(refund);
        }
        let mut charge = charge.clone();
        charge.refunded_fen += refund.amount_fen;
        charge.updated_at_ms = now_ms;
        check_charge(&charge);
        self.charges.insert(charge.reference.clone(), charge);
        self.journal.push(StatementEntry {
            kind: EntryKind::Refund,
            reference: refund.reference.clone(),
            charge_reference: refund.charge_reference.clone(),
            amount_fen: refund.amount_fen,
            at_ms: now_ms,
        });
        self.push_event(EventType::RefundSucceeded, EventData::Refund(refund.clone()), now_ms);
        Ok(refund)
    }

    pub(crate) fn charge(&self, reference: &str) -> Option<Charge> {
        self.charges.get(reference).cloned()
    }

    pub(crate) fn refund_by_reference(&self, reference: &str) -> Option<Refund> {
        self.refunds.get(reference).cloned()
    }

    /// The money movements in `[start_ms, end_ms)`, in the order they happened.
    pub(crate) fn statement(&self, start_ms: i64, end_ms: i64) -> Vec<StatementEntry> {
        self.journal
            .iter()
            .filter(|entry| (start_ms..end_ms).contains(&entry.at_ms))
            .cloned()
            .collect()
    }

    pub(crate) fn events(&self) -> &[Event] {
        &self.events
    }

    /// Stores a changed charge and appends its event, and its journal entry when it was captured.
    fn record_charge(&mut self, charge: &Charge, kind: EventType) {
        check_charge(charge);
        if kind == EventType::ChargeCaptured {
            self.journal.push(StatementEntry {
                kind: EntryKind::Capture,
                reference: charge.reference.clone(),
                charge_reference: charge.reference.clone(),
                amount_fen: charge.captured_fen,
                at_ms: charge.updated_at_ms,
            });
        }
        self.charges.insert(charge.reference.clone(), charge.clone());
        self.push_event(kind, EventData::Charge(charge.clone()), charge.updated_at_ms);
    }

    fn push_event(&mut self, kind: EventType, data: EventData, now_ms: i64) {
        let id = format!("evt_{}", self.events.len() + 1);
        self.events.push(Event {
            id,
            kind,
            created_at_ms: now_ms,
            data,
        });
    }
}

fn scripted_decline(credential: &str) -> Option<DeclineCode> {
    match credential {
        credentials::INSUFFICIENT_FUNDS => Some(DeclineCode::InsufficientFunds),
        credentials::FRAUD => Some(DeclineCode::SuspectedFraud),
        credentials::EXPIRED => Some(DeclineCode::ExpiredCredential),
        _ => None,
    }
}

fn check_reference(field: &str, reference: &str) -> Result<(), SimpayError> {
    let chars = reference.chars().count();
    if chars == 0 || chars > REFERENCE_CHARS_MAX {
        return Err(SimpayError::InvalidRequest(format!(
            "{field} must be 1..={REFERENCE_CHARS_MAX} characters, got {chars}"
        )));
    }
    // URLs resolve these two as "this directory" and "the parent" (even percent-encoded), so they
    // cannot name an object in the HTTP API; refusing them everywhere keeps the transports alike.
    if reference == "." || reference == ".." {
        return Err(SimpayError::InvalidRequest(format!(
            "{field} {reference:?} is not a usable reference"
        )));
    }
    Ok(())
}

fn check_amount(amount_fen: i64) -> Result<(), SimpayError> {
    if !(1..=AMOUNT_FEN_MAX).contains(&amount_fen) {
        return Err(SimpayError::InvalidRequest(format!(
            "amount_fen must be in 1..={AMOUNT_FEN_MAX}, got {amount_fen}"
        )));
    }
    Ok(())
}

/// A charge that breaks these would mean money was invented or lost: stop rather than record it.
fn check_charge(charge: &Charge) {
    assert!(
        0 <= charge.refunded_fen
            && charge.refunded_fen <= charge.captured_fen
            && charge.captured_fen <= charge.amount_fen,
        "charge {} breaks refunded <= captured <= amount: {charge:?}",
        charge.reference
    );
    assert_eq!(
        charge.captured_fen > 0,
        charge.status == ChargeStatus::Captured,
        "charge {} has captured money exactly when captured: {charge:?}",
        charge.reference
    );
}
