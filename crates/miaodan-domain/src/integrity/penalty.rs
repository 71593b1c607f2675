//! Penalties an operator issues to a shop, the merchant's appeal and the operator's decision,
//! what an in-force penalty forbids, and the shop's deposit (保证金) ledger.
//!
//! A penalty's life: `in_force` → (merchant appeals once) `appealed` → (operator decides)
//! `upheld` | `revoked`. An operator may also revoke an `in_force` penalty without an appeal
//! (a mistake corrected). A suspension ends by itself: past its `until` it reads `expired`,
//! whatever it was stored as, unless it was revoked. An appealed penalty still bites until it
//! is decided: an appeal is no way around a cap.
//!
//! **Invariants:** a deposit balance is never negative and always equals the sum of the
//! shop's entries (deposits and refunds add, deductions subtract): [`next_balance`] is the
//! only way a balance moves, and it refuses a deduction larger than the balance. Refusals are
//! named facts with stable codes, checked in the order their enums list them.

use crate::{Fen, Timestamp};

/// The longest text of an appeal, a reason or a decision note, in characters.
pub const PENALTY_TEXT_CHARS_MAX: usize = 2_000;
/// The largest flash-sale cap a penalty sets (a cap above every sale's units caps nothing).
pub const FLASH_UNITS_CAP_MAX: i64 = 1_000_000;

/// What a penalty does to the shop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PenaltyKind {
    /// A recorded warning: nothing is forbidden.
    Warning,
    /// No flash sale of more than `units` may be scheduled.
    FlashUnitsCap { units: i64 },
    /// No new sale may be scheduled before `until`.
    NewSalesSuspended { until: Timestamp },
    /// `amount` was taken from the shop's deposit when the penalty was issued.
    DepositDeduction { amount: Fen },
}

impl PenaltyKind {
    pub fn code(self) -> &'static str {
        match self {
            PenaltyKind::Warning => "warning",
            PenaltyKind::FlashUnitsCap { .. } => "flash_units_cap",
            PenaltyKind::NewSalesSuspended { .. } => "new_sales_suspended",
            PenaltyKind::DepositDeduction { .. } => "deposit_deduction",
        }
    }
}

/// Where a penalty stands, as stored (`expired` is read from the time, never stored).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PenaltyState {
    InForce,
    Appealed,
    Upheld,
    Revoked,
    Expired,
}

impl PenaltyState {
    pub const ALL: [PenaltyState; 5] = [
        PenaltyState::InForce,
        PenaltyState::Appealed,
        PenaltyState::Upheld,
        PenaltyState::Revoked,
        PenaltyState::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PenaltyState::InForce => "in_force",
            PenaltyState::Appealed => "appealed",
            PenaltyState::Upheld => "upheld",
            PenaltyState::Revoked => "revoked",
            PenaltyState::Expired => "expired",
        }
    }

    pub fn parse(raw: &str) -> Option<PenaltyState> {
        PenaltyState::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

/// An operator's answer to an appeal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Uphold,
    Revoke,
}

impl Decision {
    pub fn parse(raw: &str) -> Option<Decision> {
        match raw {
            "uphold" => Some(Decision::Uphold),
            "revoke" => Some(Decision::Revoke),
            _ => None,
        }
    }
}

/// A penalty as the core reasons about it (the store keeps its texts and who did what).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Penalty {
    pub kind: PenaltyKind,
    /// As stored: never `Expired`.
    pub state: PenaltyState,
}

/// Why an appeal or a decision is refused, in the order checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PenaltyRefusal {
    /// Only an in-force penalty is appealed, and only once.
    NotAppealable,
    /// Upholding needs an appeal; nothing decided or expired is decided again.
    NotDecidable,
}

impl PenaltyRefusal {
    pub fn code(self) -> &'static str {
        match self {
            PenaltyRefusal::NotAppealable => "penalty_not_appealable",
            PenaltyRefusal::NotDecidable => "penalty_not_decidable",
        }
    }
}

impl Penalty {
    /// Its state at `now`: a suspension past its `until` has expired unless it was revoked.
    pub fn state_at(&self, now: Timestamp) -> PenaltyState {
        match (self.state, self.kind) {
            (PenaltyState::Revoked, _) => PenaltyState::Revoked,
            (_, PenaltyKind::NewSalesSuspended { until }) if until <= now => PenaltyState::Expired,
            (state, _) => state,
        }
    }

    /// Whether it forbids what its kind forbids at `now`.
    pub fn bites_at(&self, now: Timestamp) -> bool {
        matches!(
            self.state_at(now),
            PenaltyState::InForce | PenaltyState::Appealed | PenaltyState::Upheld
        )
    }

    /// The state after the merchant appeals at `now`.
    pub fn appeal(&self, now: Timestamp) -> Result<PenaltyState, PenaltyRefusal> {
        match self.state_at(now) {
            PenaltyState::InForce => Ok(PenaltyState::Appealed),
            _ => Err(PenaltyRefusal::NotAppealable),
        }
    }

    /// The state after an operator's `decision` at `now`.
    pub fn decide(&self, decision: Decision, now: Timestamp) -> Result<PenaltyState, PenaltyRefusal> {
        match (self.state_at(now), decision) {
            (PenaltyState::Appealed, Decision::Uphold) => Ok(PenaltyState::Upheld),
            (PenaltyState::Appealed | PenaltyState::InForce, Decision::Revoke) => Ok(PenaltyState::Revoked),
            _ => Err(PenaltyRefusal::NotDecidable),
        }
    }

    /// What a revocation gives back: a deduction's amount, refunded to the deposit.
    pub fn refund_on_revoke(&self) -> Option<Fen> {
        match self.kind {
            PenaltyKind::DepositDeduction { amount } => Some(amount),
            _ => None,
        }
    }
}

/// Why a sale may not be scheduled, in the order checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaleRefusal {
    /// A suspension bites until `until`.
    SalesSuspended { until: Timestamp },
    /// A cap bites: at most `cap` units per flash sale (the smallest cap in force).
    FlashUnitsCap { cap: i64 },
}

impl SaleRefusal {
    pub fn code(self) -> &'static str {
        match self {
            SaleRefusal::SalesSuspended { .. } => "penalty_sales_suspended",
            SaleRefusal::FlashUnitsCap { .. } => "penalty_flash_units_cap",
        }
    }
}

/// Whether a shop with `penalties` may schedule a flash sale of `units` at `now`.
pub fn check_flash_sale(penalties: &[Penalty], units: i64, now: Timestamp) -> Result<(), SaleRefusal> {
    let biting = || penalties.iter().filter(|p| p.bites_at(now)).map(|p| p.kind);
    let suspended_until = biting()
        .filter_map(|kind| match kind {
            PenaltyKind::NewSalesSuspended { until } => Some(until),
            _ => None,
        })
        .max();
    if let Some(until) = suspended_until {
        return Err(SaleRefusal::SalesSuspended { until });
    }
    let cap = biting()
        .filter_map(|kind| match kind {
            PenaltyKind::FlashUnitsCap { units } => Some(units),
            _ => None,
        })
        .min();
    match cap {
        Some(cap) if units > cap => Err(SaleRefusal::FlashUnitsCap { cap }),
        _ => Ok(()),
    }
}

/// A line of a shop's deposit ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DepositEntryKind {
    /// Money the merchant paid in.
    Deposit,
    /// Money a penalty took.
    Deduction,
    /// A revoked deduction given back.
    Refund,
}

impl DepositEntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DepositEntryKind::Deposit => "deposit",
            DepositEntryKind::Deduction => "deduction",
            DepositEntryKind::Refund => "refund",
        }
    }

    pub fn parse(raw: &str) -> Option<DepositEntryKind> {
        [
            DepositEntryKind::Deposit,
            DepositEntryKind::Deduction,
            DepositEntryKind::Refund,
        ]
        .into_iter()
        .find(|k| k.as_str() == raw)
    }
}

/// Why a ledger entry is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DepositRefusal {
    /// A deduction larger than the balance.
    Insufficient { balance: Fen },
    /// The balance would pass what an amount can hold.
    Overflow,
}

impl DepositRefusal {
    pub fn code(self) -> &'static str {
        match self {
            DepositRefusal::Insufficient { .. } => "deposit_insufficient",
            DepositRefusal::Overflow => "deposit_overflow",
        }
    }
}

/// The balance after an entry of `kind` and `amount` on `balance`.
pub fn next_balance(balance: Fen, kind: DepositEntryKind, amount: Fen) -> Result<Fen, DepositRefusal> {
    match kind {
        DepositEntryKind::Deposit | DepositEntryKind::Refund => {
            balance.checked_add(amount).ok_or(DepositRefusal::Overflow)
        }
        DepositEntryKind::Deduction => balance
            .checked_sub(amount)
            .ok_or(DepositRefusal::Insufficient { balance }),
    }
}
