//! Flash refunds (闪电退款): a versioned rule set that decides a buyer's request from facts
//! about the order, its parcels, its payment and the buyer, in well under a millisecond.
//!
//! Every rule is evaluated and every rule that fired is recorded with the facts that made it
//! fire, so a decision can be explained to the buyer and the merchant (the shell renders the
//! explanation in Chinese and English from [`Fired`]). The verdict follows one documented
//! precedence, like a flash sale's refusals:
//!
//! 1. a **refusing** rule (the window is closed, the goods are exempt, the parcel is already
//!    on its way, or a return of goods not yet delivered) refuses, whatever else fired;
//! 2. otherwise an **escalating** rule (over the shop's ceiling, a buyer who refunds too often,
//!    a high risk score) sends the request to the merchant;
//! 3. otherwise an **approving** rule approves;
//! 4. otherwise no rule approves and the merchant decides.
//!
//! A rule set in [`RuleMode::Shadow`] decides and records as if enforced, but what is acted on
//! is the merchant's queue: a new rule set earns trust on real traffic before it moves money.

use super::policy::{AfterSalesPolicy, BUYER_ORDERS_FOR_RATE_MIN, ExemptGoods};
use super::{Reason, RequestKind};
use crate::{Fen, Timestamp};

/// The version of [`decide`]'s rules. Bump it when a rule or its precedence changes: stored
/// decisions keep the version they were made under.
///
/// Version 2 refuses a return of goods not yet delivered. Version 3 approves exchanges (a
/// delivered order's exchange within the no-reason window, or for the wrong size, the wrong
/// item, a quality issue or damage on arrival); before it every exchange went to the merchant.
pub const RULE_SET_VERSION: u32 = 3;
/// A risk score (0–1000) at or above which the merchant decides.
pub const RISK_SCORE_ESCALATE_MIN: u16 = 700;

const HOUR_MS: i64 = 3_600_000;

/// Where the order's goods are, as far as the request is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parcels {
    /// No carrier has collected anything yet.
    NotPickedUp,
    /// On the way; `last_movement_at` is the carrier's latest event.
    OnTheWay {
        picked_up_at: Timestamp,
        last_movement_at: Timestamp,
        promised_by: Option<Timestamp>,
    },
    /// Every parcel was delivered; the last one at `delivered_at`.
    Delivered { delivered_at: Timestamp },
}

/// What the buyer's past says: paid orders and refunded requests over the platform's
/// look-back period.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BuyerRecord {
    pub paid_orders: u32,
    pub refunded_requests: u32,
}

impl BuyerRecord {
    /// Refunded requests per paid order, in basis points; `None` while too few orders say
    /// anything.
    pub fn refund_rate_bps(self) -> Option<u32> {
        if self.paid_orders < BUYER_ORDERS_FOR_RATE_MIN {
            return None;
        }
        let rate = u64::from(self.refunded_requests) * 10_000 / u64::from(self.paid_orders);
        Some(u32::try_from(rate).unwrap_or(u32::MAX))
    }
}

/// Everything a decision may look at, gathered by the shell from the books.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts<'a> {
    pub kind: RequestKind,
    pub reason: Reason,
    pub amount: Fen,
    pub parcels: Parcels,
    /// The exempt classes among the requested lines' goods.
    pub goods: &'a [ExemptGoods],
    /// For a return: when the carrier first scanned the return parcel.
    pub return_scanned_at: Option<Timestamp>,
    pub buyer: BuyerRecord,
    /// The risk capability's score, 0–1000, once it exists.
    pub risk_score: Option<u16>,
    pub policy: &'a AfterSalesPolicy,
    pub now: Timestamp,
}

/// A rule that fired, with the facts that made it fire.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Fired {
    // ---- refusing
    NoReasonWindowClosed {
        closed_at: Timestamp,
    },
    NoReasonExemptGoods {
        goods: ExemptGoods,
    },
    AlreadyPickedUp {
        picked_up_at: Timestamp,
    },
    /// A return of goods the carrier has not reported delivered: the buyer cannot send back
    /// what they have not received (since rule set 2).
    NotYetDelivered,
    // ---- escalating
    OverAutoApproveCeiling {
        amount: Fen,
        ceiling: Fen,
    },
    BuyerRefundsOften {
        rate_bps: u32,
        max_bps: u32,
    },
    RiskScoreHigh {
        score: u16,
    },
    // ---- approving
    NotYetPickedUp,
    StalledPastPromise {
        hours_without_movement: i64,
    },
    NoReasonReturnInWindow {
        closes_at: Timestamp,
    },
    ReturnScannedByCarrier {
        scanned_at: Timestamp,
    },
    /// A delivered order's exchange for a reason the goods themselves give (wrong size, wrong
    /// item, quality issue, arrived damaged).
    ExchangeForFault {
        reason: Reason,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Weight {
    Approves,
    Escalates,
    Refuses,
}

impl Fired {
    /// The stable code of the rule, for storage, metrics and the explanation's template.
    pub const fn code(&self) -> &'static str {
        match self {
            Fired::NoReasonWindowClosed { .. } => "no_reason_window_closed",
            Fired::NoReasonExemptGoods { .. } => "no_reason_exempt_goods",
            Fired::AlreadyPickedUp { .. } => "already_picked_up",
            Fired::NotYetDelivered => "not_yet_delivered",
            Fired::OverAutoApproveCeiling { .. } => "over_auto_approve_ceiling",
            Fired::BuyerRefundsOften { .. } => "buyer_refunds_often",
            Fired::RiskScoreHigh { .. } => "risk_score_high",
            Fired::NotYetPickedUp => "not_yet_picked_up",
            Fired::StalledPastPromise { .. } => "stalled_past_promise",
            Fired::NoReasonReturnInWindow { .. } => "no_reason_return_in_window",
            Fired::ReturnScannedByCarrier { .. } => "return_scanned_by_carrier",
            Fired::ExchangeForFault { .. } => "exchange_for_fault",
        }
    }

    fn weight(&self) -> Weight {
        match self {
            Fired::NoReasonWindowClosed { .. }
            | Fired::NoReasonExemptGoods { .. }
            | Fired::AlreadyPickedUp { .. }
            | Fired::NotYetDelivered => Weight::Refuses,
            Fired::OverAutoApproveCeiling { .. } | Fired::BuyerRefundsOften { .. } | Fired::RiskScoreHigh { .. } => {
                Weight::Escalates
            }
            Fired::NotYetPickedUp
            | Fired::StalledPastPromise { .. }
            | Fired::NoReasonReturnInWindow { .. }
            | Fired::ReturnScannedByCarrier { .. }
            | Fired::ExchangeForFault { .. } => Weight::Approves,
        }
    }
}

/// What the rules conclude.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Verdict {
    Approve,
    /// The merchant decides, by a deadline.
    ToMerchant,
    Refuse,
}

impl Verdict {
    pub const fn as_str(self) -> &'static str {
        match self {
            Verdict::Approve => "approve",
            Verdict::ToMerchant => "to_merchant",
            Verdict::Refuse => "refuse",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum RuleMode {
    #[default]
    Enforced,
    /// Decide and record, but act as if no rule approved (the merchant decides).
    Shadow,
}

/// A decision, kept with the request: what the rules concluded, what was acted on, and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Decision {
    pub rule_set_version: u32,
    pub mode: RuleMode,
    /// The rules' verdict.
    pub verdict: Verdict,
    /// What the platform does: the verdict when enforced; in shadow mode always the merchant's
    /// queue, since a rule on trial may neither move money nor turn a buyer away.
    pub acted: Verdict,
    /// Every rule that fired, in evaluation order.
    pub fired: Vec<Fired>,
}

/// Decides a request under rule set [`RULE_SET_VERSION`].
pub fn decide(facts: &Facts<'_>, mode: RuleMode) -> Decision {
    let mut fired = Vec::new();
    refusing(facts, &mut fired);
    escalating(facts, &mut fired);
    approving(facts, &mut fired);
    let verdict = match fired.iter().map(Fired::weight).max() {
        Some(Weight::Refuses) => Verdict::Refuse,
        Some(Weight::Approves) => Verdict::Approve,
        Some(Weight::Escalates) | None => Verdict::ToMerchant,
    };
    let acted = match mode {
        RuleMode::Enforced => verdict,
        RuleMode::Shadow => Verdict::ToMerchant,
    };
    Decision {
        rule_set_version: RULE_SET_VERSION,
        mode,
        verdict,
        acted,
        fired,
    }
}

fn picked_up_at(parcels: Parcels) -> Option<Timestamp> {
    match parcels {
        Parcels::NotPickedUp | Parcels::Delivered { .. } => None,
        Parcels::OnTheWay { picked_up_at, .. } => Some(picked_up_at),
    }
}

fn refusing(facts: &Facts<'_>, fired: &mut Vec<Fired>) {
    let before_shipment = matches!(
        facts.kind,
        RequestKind::CancelBeforeShipment | RequestKind::ChangeAddress
    );
    if before_shipment && let Some(picked_up_at) = picked_up_at(facts.parcels) {
        fired.push(Fired::AlreadyPickedUp { picked_up_at });
    }
    let delivered = matches!(facts.parcels, Parcels::Delivered { .. });
    if facts.kind == RequestKind::ReturnAndRefund && !delivered {
        fired.push(Fired::NotYetDelivered);
    }
    if facts.reason != Reason::NoReason {
        return;
    }
    if let Parcels::Delivered { delivered_at } = facts.parcels {
        let closed_at = facts.policy.no_reason_window_closes(delivered_at);
        if facts.now >= closed_at {
            fired.push(Fired::NoReasonWindowClosed { closed_at });
        }
    }
    if let Some(&goods) = facts.goods.iter().find(|g| facts.policy.is_exempt(**g)) {
        fired.push(Fired::NoReasonExemptGoods { goods });
    }
}

fn escalating(facts: &Facts<'_>, fired: &mut Vec<Fired>) {
    let ceiling = facts.policy.auto_approve_ceiling;
    if facts.amount > ceiling {
        fired.push(Fired::OverAutoApproveCeiling {
            amount: facts.amount,
            ceiling,
        });
    }
    let max_bps = facts.policy.buyer_refund_rate_bps_max;
    if let Some(rate_bps) = facts.buyer.refund_rate_bps()
        && rate_bps > max_bps
    {
        fired.push(Fired::BuyerRefundsOften { rate_bps, max_bps });
    }
    if let Some(score) = facts.risk_score
        && score >= RISK_SCORE_ESCALATE_MIN
    {
        fired.push(Fired::RiskScoreHigh { score });
    }
}

fn approving(facts: &Facts<'_>, fired: &mut Vec<Fired>) {
    match (facts.kind, facts.parcels) {
        (
            RequestKind::CancelBeforeShipment | RequestKind::RefundOnly | RequestKind::ChangeAddress,
            Parcels::NotPickedUp,
        ) => {
            fired.push(Fired::NotYetPickedUp);
        }
        (RequestKind::RefundOnly, Parcels::OnTheWay { .. }) if facts.reason.says_not_arrived() => {
            if let Some(hours_without_movement) = stalled_hours(facts) {
                fired.push(Fired::StalledPastPromise { hours_without_movement });
            }
        }
        (RequestKind::Exchange, Parcels::Delivered { delivered_at }) => {
            if matches!(
                facts.reason,
                Reason::WrongSize | Reason::WrongItem | Reason::QualityIssue | Reason::ArrivedDamaged
            ) {
                fired.push(Fired::ExchangeForFault { reason: facts.reason });
            } else if facts.reason == Reason::NoReason {
                let closes_at = facts.policy.no_reason_window_closes(delivered_at);
                if facts.now < closes_at {
                    fired.push(Fired::NoReasonReturnInWindow { closes_at });
                }
            }
        }
        (RequestKind::ReturnAndRefund, Parcels::Delivered { delivered_at }) => {
            if let Some(scanned_at) = facts.return_scanned_at {
                fired.push(Fired::ReturnScannedByCarrier { scanned_at });
            } else if facts.reason == Reason::NoReason {
                let closes_at = facts.policy.no_reason_window_closes(delivered_at);
                if facts.now < closes_at {
                    fired.push(Fired::NoReasonReturnInWindow { closes_at });
                }
            }
        }
        _ => {}
    }
}

/// Hours the parcel has not moved, when it is past its promise (or, sold without one, simply
/// still) and has not moved for the policy's stalled hours.
fn stalled_hours(facts: &Facts<'_>) -> Option<i64> {
    let Parcels::OnTheWay {
        last_movement_at,
        promised_by,
        ..
    } = facts.parcels
    else {
        return None;
    };
    if promised_by.is_some_and(|promised_by| facts.now < promised_by) {
        return None;
    }
    let hours = (facts.now.unix_ms() - last_movement_at.unix_ms()) / HOUR_MS;
    (hours >= i64::from(facts.policy.stalled_hours)).then_some(hours)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::shanghai::LocalDate;

    fn at(d: u32, hh: u16) -> Timestamp {
        LocalDate::from_ymd(2026, 12, d)
            .expect("a December day")
            .at_minute(hh * 60)
    }

    struct Case {
        name: &'static str,
        kind: RequestKind,
        reason: Reason,
        amount_fen: i64,
        parcels: Parcels,
        goods: &'static [ExemptGoods],
        return_scanned_at: Option<Timestamp>,
        buyer: BuyerRecord,
        risk_score: Option<u16>,
        now: Timestamp,
        verdict: Verdict,
        fired: &'static [&'static str],
    }

    const fn base(name: &'static str, kind: RequestKind, reason: Reason, parcels: Parcels) -> Case {
        Case {
            name,
            kind,
            reason,
            amount_fen: 12_900,
            parcels,
            goods: &[],
            return_scanned_at: None,
            buyer: BuyerRecord {
                paid_orders: 20,
                refunded_requests: 1,
            },
            risk_score: None,
            now: Timestamp::from_unix_ms(0),
            verdict: Verdict::Approve,
            fired: &[],
        }
    }

    fn on_the_way(picked_up: Timestamp, last_movement: Timestamp, promised: Option<Timestamp>) -> Parcels {
        Parcels::OnTheWay {
            picked_up_at: picked_up,
            last_movement_at: last_movement,
            promised_by: promised,
        }
    }

    fn cases() -> Vec<Case> {
        use Reason::*;
        use RequestKind::*;
        let delivered = Parcels::Delivered {
            delivered_at: at(1, 23),
        };
        vec![
            Case {
                now: at(1, 3),
                fired: &["not_yet_picked_up"],
                ..base(
                    "a cancellation before pickup is approved at 3 a.m.",
                    CancelBeforeShipment,
                    ChangedMind,
                    Parcels::NotPickedUp,
                )
            },
            Case {
                now: at(2, 9),
                verdict: Verdict::Refuse,
                fired: &["already_picked_up"],
                ..base(
                    "a cancellation after pickup is refused",
                    CancelBeforeShipment,
                    ChangedMind,
                    on_the_way(at(2, 8), at(2, 8), None),
                )
            },
            Case {
                now: at(2, 9),
                verdict: Verdict::Refuse,
                fired: &["already_picked_up"],
                ..base(
                    "an address change after pickup is refused",
                    ChangeAddress,
                    WrongAddress,
                    on_the_way(at(2, 8), at(2, 8), None),
                )
            },
            Case {
                now: at(1, 9),
                fired: &["not_yet_picked_up"],
                ..base(
                    "an address change before pickup is approved",
                    ChangeAddress,
                    WrongAddress,
                    Parcels::NotPickedUp,
                )
            },
            Case {
                now: at(8, 12),
                fired: &["stalled_past_promise"],
                ..base(
                    "a parcel still for 72 h past its promise is refunded",
                    RefundOnly,
                    NeverArrived,
                    on_the_way(at(2, 8), at(5, 10), Some(at(4, 0))),
                )
            },
            Case {
                now: at(7, 12),
                verdict: Verdict::ToMerchant,
                fired: &[],
                ..base(
                    "a parcel still for less than 72 h goes to the merchant",
                    RefundOnly,
                    NeverArrived,
                    on_the_way(at(2, 8), at(5, 10), Some(at(4, 0))),
                )
            },
            Case {
                now: at(9, 12),
                verdict: Verdict::ToMerchant,
                fired: &[],
                ..base(
                    "a parcel still long ago but not yet past its promise goes to the merchant",
                    RefundOnly,
                    Lost,
                    on_the_way(at(2, 8), at(2, 8), Some(at(10, 0))),
                )
            },
            Case {
                now: at(8, 12),
                verdict: Verdict::ToMerchant,
                fired: &[],
                ..base(
                    "a stalled parcel with a reason other than not arriving goes to the merchant",
                    RefundOnly,
                    QualityIssue,
                    on_the_way(at(2, 8), at(2, 8), None),
                )
            },
            Case {
                now: at(8, 23),
                fired: &["no_reason_return_in_window"],
                ..base(
                    "a no-reason return on the 7th day after delivery is approved",
                    ReturnAndRefund,
                    NoReason,
                    delivered,
                )
            },
            Case {
                now: at(9, 0),
                verdict: Verdict::Refuse,
                fired: &["no_reason_window_closed"],
                ..base(
                    "a no-reason return after the window is refused",
                    ReturnAndRefund,
                    NoReason,
                    delivered,
                )
            },
            Case {
                now: at(3, 0),
                verdict: Verdict::Refuse,
                goods: &[ExemptGoods::Perishable],
                fired: &["no_reason_exempt_goods", "no_reason_return_in_window"],
                ..base(
                    "a no-reason return of perishable goods is refused",
                    ReturnAndRefund,
                    NoReason,
                    delivered,
                )
            },
            Case {
                now: at(3, 0),
                verdict: Verdict::ToMerchant,
                goods: &[ExemptGoods::Perishable],
                fired: &[],
                ..base(
                    "a damaged perishable good goes to the merchant",
                    ReturnAndRefund,
                    ArrivedDamaged,
                    delivered,
                )
            },
            Case {
                now: at(20, 0),
                return_scanned_at: Some(at(4, 10)),
                fired: &["return_scanned_by_carrier"],
                ..base(
                    "a return the carrier has scanned is refunded before it arrives",
                    ReturnAndRefund,
                    QualityIssue,
                    delivered,
                )
            },
            Case {
                now: at(3, 0),
                amount_fen: 80_000,
                verdict: Verdict::ToMerchant,
                fired: &["over_auto_approve_ceiling", "no_reason_return_in_window"],
                ..base(
                    "a return over the shop's ceiling goes to the merchant",
                    ReturnAndRefund,
                    NoReason,
                    delivered,
                )
            },
            Case {
                now: at(1, 9),
                buyer: BuyerRecord {
                    paid_orders: 10,
                    refunded_requests: 4,
                },
                verdict: Verdict::ToMerchant,
                fired: &["buyer_refunds_often", "not_yet_picked_up"],
                ..base(
                    "a buyer who refunds 4 orders in 10 goes to the merchant",
                    RefundOnly,
                    ChangedMind,
                    Parcels::NotPickedUp,
                )
            },
            Case {
                now: at(1, 9),
                buyer: BuyerRecord {
                    paid_orders: 2,
                    refunded_requests: 2,
                },
                fired: &["not_yet_picked_up"],
                ..base(
                    "a new buyer's refund rate says nothing",
                    RefundOnly,
                    ChangedMind,
                    Parcels::NotPickedUp,
                )
            },
            Case {
                now: at(1, 9),
                risk_score: Some(850),
                verdict: Verdict::ToMerchant,
                fired: &["risk_score_high", "not_yet_picked_up"],
                ..base(
                    "a risky request goes to the merchant",
                    CancelBeforeShipment,
                    ChangedMind,
                    Parcels::NotPickedUp,
                )
            },
            Case {
                now: at(9, 0),
                amount_fen: 80_000,
                verdict: Verdict::Refuse,
                fired: &["no_reason_window_closed", "over_auto_approve_ceiling"],
                ..base(
                    "a refusing rule outranks an escalating one",
                    ReturnAndRefund,
                    NoReason,
                    delivered,
                )
            },
            Case {
                now: at(1, 9),
                verdict: Verdict::Refuse,
                fired: &["not_yet_delivered"],
                ..base(
                    "a return of an order not yet picked up is refused",
                    ReturnAndRefund,
                    QualityIssue,
                    Parcels::NotPickedUp,
                )
            },
            Case {
                now: at(3, 9),
                verdict: Verdict::Refuse,
                fired: &["not_yet_delivered"],
                ..base(
                    "a no-reason return of a parcel still on its way is refused",
                    ReturnAndRefund,
                    NoReason,
                    on_the_way(at(2, 8), at(2, 20), None),
                )
            },
            Case {
                now: at(3, 0),
                amount_fen: 0,
                fired: &["exchange_for_fault"],
                ..base(
                    "an exchange of a delivered order for the wrong size is approved",
                    Exchange,
                    WrongSize,
                    delivered,
                )
            },
            Case {
                now: at(20, 0),
                amount_fen: 0,
                fired: &["exchange_for_fault"],
                ..base(
                    "an exchange for a quality issue is approved after the no-reason window too",
                    Exchange,
                    QualityIssue,
                    delivered,
                )
            },
            Case {
                now: at(8, 23),
                amount_fen: 0,
                fired: &["no_reason_return_in_window"],
                ..base(
                    "a no-reason exchange within the window is approved",
                    Exchange,
                    NoReason,
                    delivered,
                )
            },
            Case {
                now: at(9, 0),
                amount_fen: 0,
                verdict: Verdict::Refuse,
                fired: &["no_reason_window_closed"],
                ..base(
                    "a no-reason exchange after the window is refused",
                    Exchange,
                    NoReason,
                    delivered,
                )
            },
            Case {
                now: at(3, 0),
                amount_fen: 0,
                verdict: Verdict::ToMerchant,
                fired: &[],
                ..base(
                    "an exchange because the buyer changed their mind goes to the merchant",
                    Exchange,
                    ChangedMind,
                    delivered,
                )
            },
            Case {
                now: at(2, 9),
                amount_fen: 0,
                verdict: Verdict::ToMerchant,
                fired: &[],
                ..base(
                    "an exchange of an order still on its way goes to the merchant",
                    Exchange,
                    WrongSize,
                    on_the_way(at(2, 8), at(2, 8), None),
                )
            },
            Case {
                now: at(3, 0),
                amount_fen: 0,
                verdict: Verdict::Refuse,
                goods: &[ExemptGoods::Perishable],
                fired: &["no_reason_exempt_goods", "no_reason_return_in_window"],
                ..base(
                    "a no-reason exchange of perishable goods is refused",
                    Exchange,
                    NoReason,
                    delivered,
                )
            },
        ]
    }

    impl Case {
        fn facts<'a>(&self, policy: &'a AfterSalesPolicy) -> Facts<'a> {
            Facts {
                kind: self.kind,
                reason: self.reason,
                amount: Fen::from_const(self.amount_fen),
                parcels: self.parcels,
                goods: self.goods,
                return_scanned_at: self.return_scanned_at,
                buyer: self.buyer,
                risk_score: self.risk_score,
                policy,
                now: self.now,
            }
        }
    }

    #[test]
    fn each_request_gets_the_verdict_of_its_rules_in_their_precedence() {
        let policy = AfterSalesPolicy::default();
        for case in cases() {
            let facts = case.facts(&policy);
            let decision = decide(&facts, RuleMode::Enforced);
            let fired: Vec<&str> = decision.fired.iter().map(Fired::code).collect();
            assert_eq!(
                (decision.verdict, &fired[..]),
                (case.verdict, case.fired),
                "{}",
                case.name
            );
            assert_eq!(decision.acted, decision.verdict, "{}", case.name);
        }
    }

    #[test]
    fn a_shadow_rule_set_decides_but_the_merchant_acts() {
        let policy = AfterSalesPolicy::default();
        for case in cases() {
            let facts = case.facts(&policy);
            let shadow = decide(&facts, RuleMode::Shadow);
            let enforced = decide(&facts, RuleMode::Enforced);
            assert_eq!(
                (shadow.verdict, &shadow.fired),
                (enforced.verdict, &enforced.fired),
                "{}",
                case.name
            );
            assert_eq!(shadow.acted, Verdict::ToMerchant, "{}", case.name);
        }
    }

    #[test]
    fn a_shop_that_covers_perishables_approves_their_no_reason_return() {
        let policy = AfterSalesPolicy {
            exempt: vec![ExemptGoods::Customised],
            ..AfterSalesPolicy::default()
        };
        let facts = Facts {
            kind: RequestKind::ReturnAndRefund,
            reason: Reason::NoReason,
            amount: Fen::from_const(3_000),
            parcels: Parcels::Delivered {
                delivered_at: at(1, 12),
            },
            goods: &[ExemptGoods::Perishable],
            return_scanned_at: None,
            buyer: BuyerRecord::default(),
            risk_score: None,
            policy: &policy,
            now: at(2, 12),
        };
        assert_eq!(decide(&facts, RuleMode::Enforced).verdict, Verdict::Approve);
    }
}
