//! The package center's (包裹中心) service-level rules: which shipments are late at what, and
//! the alerts that tell the merchant (and, for a promise at risk, the buyer).
//!
//! Two layers:
//! - [`conditions`] is a pure reading of one shipment at one instant: which rules hold and how
//!   far (warning, then timed out). [`next_check`] says when that reading can next change by
//!   the passing of time alone, so the shell can sleep until then instead of polling.
//! - [`AlertBook`] turns those readings into alerts with a stable identity ([`AlertKey`]):
//!   raised once, escalated in place, resolved once. Reconciling the same shipment again at
//!   the same reading changes nothing, which is what makes retries and restarts safe.
//!
//! All arithmetic is integer milliseconds; a threshold at p % of a window is reached when
//! `elapsed × 100 ≥ window × p`, exactly, with no rounding.

use crate::ids::{OrderId, ShipmentId, ShopId};
use crate::logistics::shipment::{EXCEPTION_DELAY_MS, Shipment, ShipmentState, ms_between, plus_ms};
use crate::logistics::work::{AlertAction, AlertWork, WorkAlert, WorkRefusal, Worked, apply_to_open};
use crate::time::Timestamp;
use std::collections::BTreeMap;
use std::fmt;

/// The shortest allowed time of any rule: shorter would alert on every parcel.
pub const SLA_LIMIT_SECONDS_MIN: i64 = 60;
/// The longest allowed time of any rule (30 days): longer would never alert.
pub const SLA_LIMIT_SECONDS_MAX: i64 = 30 * 24 * 60 * 60;

/// One service-level rule of the package center.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum AlertRule {
    /// The carrier has not collected the parcel in time since the waybill was created.
    NotPickedUp,
    /// Collected, but it has not left the origin in time.
    NotDeparted,
    /// Collected, but no scan for too long: the parcel may be lost.
    Stalled,
    /// The order's delivery promise is running out or will be (or was) missed.
    PromiseAtRisk,
}

impl AlertRule {
    pub const ALL: [AlertRule; 4] = [
        AlertRule::NotPickedUp,
        AlertRule::NotDeparted,
        AlertRule::Stalled,
        AlertRule::PromiseAtRisk,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            AlertRule::NotPickedUp => "not_picked_up",
            AlertRule::NotDeparted => "not_departed",
            AlertRule::Stalled => "stalled",
            AlertRule::PromiseAtRisk => "promise_at_risk",
        }
    }

    pub fn parse(raw: &str) -> Option<AlertRule> {
        AlertRule::ALL.into_iter().find(|r| r.as_str() == raw)
    }
}

/// How far a rule has gone. Ordered: `Warning < TimedOut`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum AlertLevel {
    /// The warning share of the allowed time has passed.
    Warning,
    /// All of the allowed time has passed (for a promise: it is or will be missed).
    TimedOut,
}

impl AlertLevel {
    pub const ALL: [AlertLevel; 2] = [AlertLevel::Warning, AlertLevel::TimedOut];

    pub const fn as_str(self) -> &'static str {
        match self {
            AlertLevel::Warning => "warning",
            AlertLevel::TimedOut => "timed_out",
        }
    }

    pub fn parse(raw: &str) -> Option<AlertLevel> {
        AlertLevel::ALL.into_iter().find(|l| l.as_str() == raw)
    }
}

/// The allowed times of a package center. Check them with [`SlaRules::validate`] where they
/// enter the system; the functions here assume valid rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SlaRules {
    /// From waybill creation to the carrier's pickup.
    pub not_picked_up_within_s: i64,
    /// From pickup to departure from the origin.
    pub not_departed_within_s: i64,
    /// The longest time without a scan once picked up.
    pub stalled_after_s: i64,
    /// At which share of an allowed time a warning is raised.
    pub warn_at_percent: u8,
}

impl Default for SlaRules {
    fn default() -> Self {
        SlaRules {
            not_picked_up_within_s: 24 * 60 * 60,
            not_departed_within_s: 12 * 60 * 60,
            stalled_after_s: 24 * 60 * 60,
            warn_at_percent: 80,
        }
    }
}

impl SlaRules {
    pub fn validate(&self) -> Result<(), SlaRulesProblem> {
        let limits = [
            (self.not_picked_up_within_s, SlaRulesProblem::NotPickedUpWithin),
            (self.not_departed_within_s, SlaRulesProblem::NotDepartedWithin),
            (self.stalled_after_s, SlaRulesProblem::StalledAfter),
        ];
        for (limit, problem) in limits {
            if !(SLA_LIMIT_SECONDS_MIN..=SLA_LIMIT_SECONDS_MAX).contains(&limit) {
                return Err(problem);
            }
        }
        if !(1..=99).contains(&self.warn_at_percent) {
            return Err(SlaRulesProblem::WarnAtPercent);
        }
        Ok(())
    }
}

/// Which SLA rule is out of range, checked in this order: the three limits must be
/// [`SLA_LIMIT_SECONDS_MIN`] to [`SLA_LIMIT_SECONDS_MAX`], the warning 1 to 99 %.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SlaRulesProblem {
    NotPickedUpWithin,
    NotDepartedWithin,
    StalledAfter,
    WarnAtPercent,
}

/// A rule that holds for a shipment now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Condition {
    pub rule: AlertRule,
    pub level: AlertLevel,
    /// When the clock for this rule started.
    pub since: Timestamp,
    /// When it times out (for a promise: the promised instant).
    pub deadline: Timestamp,
}

/// A rule's clock on one shipment: started at `since`, warns from `warn_at`, times out at
/// `deadline`.
#[derive(Clone, Copy, Debug)]
struct Clock {
    since: Timestamp,
    warn_at: Timestamp,
    deadline: Timestamp,
}

impl Clock {
    fn new(since: Timestamp, deadline: Timestamp, warn_at_percent: u8) -> Clock {
        Clock {
            since,
            warn_at: plus_ms(since, share_ms(ms_between(since, deadline), warn_at_percent)),
            deadline,
        }
    }

    fn of_seconds(since: Timestamp, limit_s: i64, warn_at_percent: u8) -> Clock {
        Clock::new(since, since.plus_seconds(limit_s), warn_at_percent)
    }

    /// The level of a rule that times out at its deadline (all but the promise).
    fn level(&self, now: Timestamp) -> Option<AlertLevel> {
        if now >= self.deadline {
            Some(AlertLevel::TimedOut)
        } else if now >= self.warn_at {
            Some(AlertLevel::Warning)
        } else {
            None
        }
    }
}

/// The smallest whole number of milliseconds that is at least `percent` % of `window_ms`, so
/// that "elapsed ≥ share" is exactly "elapsed × 100 ≥ window × percent". A negative window
/// (a promise made before the shipment existed) has no time to share.
fn share_ms(window_ms: i64, percent: u8) -> i64 {
    let scaled = window_ms.max(0).saturating_mul(i64::from(percent));
    scaled.saturating_add(99) / 100
}

/// The clock of `rule` on `shipment`, if the rule applies to it at all (whatever the time).
/// Terminal shipments have no clocks.
fn clock(shipment: &Shipment, rules: &SlaRules, rule: AlertRule) -> Option<Clock> {
    if shipment.is_terminal() {
        return None;
    }
    let percent = rules.warn_at_percent;
    match rule {
        AlertRule::NotPickedUp => (shipment.state == ShipmentState::Created)
            .then(|| Clock::of_seconds(shipment.created_at, rules.not_picked_up_within_s, percent)),
        AlertRule::NotDeparted => match (shipment.picked_up_at, shipment.departed_at) {
            (Some(picked_up_at), None) => Some(Clock::of_seconds(picked_up_at, rules.not_departed_within_s, percent)),
            _ => None,
        },
        AlertRule::Stalled => shipment
            .picked_up_at
            .map(|_| Clock::of_seconds(shipment.last_movement_at, rules.stalled_after_s, percent)),
        AlertRule::PromiseAtRisk => shipment
            .promised_by
            .map(|promised_by| Clock::new(shipment.created_at, promised_by, percent)),
    }
}

/// The level a rule has reached on `shipment` at `now`, given its clock.
fn level(shipment: &Shipment, rule: AlertRule, clock: &Clock, now: Timestamp) -> Option<AlertLevel> {
    match rule {
        // A promise is kept by a delivery at the promised instant itself, and is already lost
        // when the estimate says the parcel will come later.
        AlertRule::PromiseAtRisk => {
            if now > clock.deadline || shipment.estimated_delivery(now) > clock.deadline {
                Some(AlertLevel::TimedOut)
            } else if now >= clock.warn_at {
                Some(AlertLevel::Warning)
            } else {
                None
            }
        }
        AlertRule::NotPickedUp | AlertRule::NotDeparted | AlertRule::Stalled => clock.level(now),
    }
}

/// The conditions true for a shipment now: at most one per rule, at the highest level
/// reached, in [`AlertRule::ALL`] order. Terminal shipments have none.
pub fn conditions(shipment: &Shipment, rules: &SlaRules, now: Timestamp) -> Vec<Condition> {
    debug_assert!(rules.validate().is_ok(), "SLA rules are validated at the edge");
    AlertRule::ALL
        .into_iter()
        .filter_map(|rule| {
            let clock = clock(shipment, rules, rule)?;
            let level = level(shipment, rule, &clock, now)?;
            Some(Condition {
                rule,
                level,
                since: clock.since,
                deadline: clock.deadline,
            })
        })
        .collect()
}

/// The next instant after `now` at which [`conditions`] could change by time alone (a
/// warning or a timeout threshold of a rule not yet timed out), or `None` if only a new event
/// can change them. Levels only rise with time, so a timed-out rule has no further threshold.
pub fn next_check(shipment: &Shipment, rules: &SlaRules, now: Timestamp) -> Option<Timestamp> {
    AlertRule::ALL
        .into_iter()
        .filter_map(|rule| {
            let clock = clock(shipment, rules, rule)?;
            (level(shipment, rule, &clock, now) != Some(AlertLevel::TimedOut))
                .then(|| thresholds(shipment, rule, &clock))
        })
        .flatten()
        .flatten()
        .filter(|at| *at > now)
        .min()
}

/// Every instant at which a rule's level may rise. For a promise these are the warning, the
/// first instant past the promise, and the first instant the estimate passes it: before
/// pickup the estimate slips with every moment of pickup delay, and in an exception it is
/// never sooner than [`EXCEPTION_DELAY_MS`] from now.
fn thresholds(shipment: &Shipment, rule: AlertRule, clock: &Clock) -> [Option<Timestamp>; 4] {
    match rule {
        AlertRule::PromiseAtRisk => {
            let promised_by = clock.deadline;
            let not_picked_up = (shipment.picked_up_at.is_none()).then(|| {
                let slack_ms = ms_between(shipment.planned_delivery_by, promised_by);
                plus_ms(shipment.planned_pickup_at, slack_ms.saturating_add(1))
            });
            let in_exception = (shipment.state == ShipmentState::Exception)
                .then(|| plus_ms(promised_by, 1_i64.saturating_sub(EXCEPTION_DELAY_MS)));
            [
                Some(clock.warn_at),
                Some(plus_ms(promised_by, 1)),
                not_picked_up,
                in_exception,
            ]
        }
        AlertRule::NotPickedUp | AlertRule::NotDeparted | AlertRule::Stalled => {
            [Some(clock.warn_at), Some(clock.deadline), None, None]
        }
    }
}

/// The identity of an alert: the `occurrence`-th time `rule` held for `shipment`. Written
/// `"{shipment}-{rule}-{occurrence}"`, e.g. `12-stalled-1`, which is also its id on the wire
/// and the dedup key of the notifications it causes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct AlertKey {
    pub shipment: ShipmentId,
    pub rule: AlertRule,
    /// 1 for the first time; +1 each time the rule holds again after it was resolved.
    pub occurrence: u32,
}

impl AlertKey {
    /// Parses the written form back (rule names contain no dash).
    pub fn parse(raw: &str) -> Option<AlertKey> {
        let mut parts = raw.split('-');
        let shipment = ShipmentId::new(parts.next()?.parse().ok()?)?;
        let rule = AlertRule::parse(parts.next()?)?;
        let occurrence: u32 = parts.next()?.parse().ok()?;
        if parts.next().is_some() || occurrence == 0 {
            return None;
        }
        Some(AlertKey {
            shipment,
            rule,
            occurrence,
        })
    }
}

impl fmt::Display for AlertKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.shipment, self.rule.as_str(), self.occurrence)
    }
}

/// An alert about one shipment breaking one rule, from raised to resolved.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Alert {
    pub key: AlertKey,
    pub shop: ShopId,
    pub order: OrderId,
    pub shipment: ShipmentId,
    pub rule: AlertRule,
    /// The highest level reached; it never goes down while the alert is open.
    pub level: AlertLevel,
    /// When the rule's clock started (see [`Condition::since`]).
    pub since: Timestamp,
    pub raised_at: Timestamp,
    /// When a warning became timed out; `None` if it was raised timed out, or is a warning.
    pub escalated_at: Option<Timestamp>,
    pub resolved_at: Option<Timestamp>,
    pub deadline: Timestamp,
    /// Whether the buyer is told too: only for a promise that is or will be missed (a timed
    /// out [`AlertRule::PromiseAtRisk`]). A warning is the merchant's business.
    pub notify_buyer: bool,
    /// What people did to it: acknowledged, assigned, noted, resolved.
    pub work: AlertWork,
}

impl Alert {
    pub fn is_open(&self) -> bool {
        self.resolved_at.is_none()
    }

    /// Whether a person resolved it (rather than the rules).
    pub fn resolved_by_person(&self) -> bool {
        self.work.resolution.is_some()
    }
}

/// A condition a person resolved while it still held: the rules leave it be until it changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Dismissal {
    occurrence: u32,
    since: Timestamp,
    level: AlertLevel,
}

impl Dismissal {
    /// Whether `condition` is still the one dismissed: same episode, no worse.
    fn covers(&self, condition: &Condition) -> bool {
        condition.since == self.since && condition.level <= self.level
    }
}

/// Whether an alert of `rule` at `level` is told to the buyer.
fn notifies_buyer(rule: AlertRule, level: AlertLevel) -> bool {
    rule == AlertRule::PromiseAtRisk && level == AlertLevel::TimedOut
}

/// The alerts of a package center: the open ones, at most one per shipment and rule, and the
/// last occurrence number used per shipment and rule (so a re-raise gets the next one).
///
/// To rebuild it after a restart, [`AlertBook::restore`] every open alert and, per shipment
/// and rule of a shipment still on its way, the latest resolved one. Reconciling a shipment
/// that has reached a terminal state forgets its occurrence numbers: it can never alert again.
/// The latest alert a person resolved of each shipment and rule is remembered as a dismissal
/// (see [`crate::logistics::work`]), rebuilt by `restore` from that resolved alert.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AlertBook {
    open: BTreeMap<(ShipmentId, AlertRule), Alert>,
    last_occurrence: BTreeMap<(ShipmentId, AlertRule), u32>,
    dismissed: BTreeMap<(ShipmentId, AlertRule), Dismissal>,
}

impl AlertBook {
    /// Takes back an alert read from storage.
    pub fn restore(&mut self, alert: Alert) {
        assert!(
            alert.key.shipment == alert.shipment && alert.key.rule == alert.rule && alert.key.occurrence > 0,
            "alert {} does not match its key",
            alert.key
        );
        let slot = (alert.shipment, alert.rule);
        let last = self.last_occurrence.entry(slot).or_insert(0);
        *last = (*last).max(alert.key.occurrence);
        let last = *last;
        if alert.resolved_by_person() && alert.key.occurrence == last {
            self.dismissed.insert(slot, dismissal(&alert));
        }
        if self.dismissed.get(&slot).is_some_and(|d| d.occurrence < last) {
            self.dismissed.remove(&slot);
        }
        if alert.is_open() {
            if let Some(open) = self.open.get(&slot) {
                assert_eq!(open.key, alert.key, "two open alerts for one shipment and rule");
            }
            self.open.insert(slot, alert);
        }
    }

    /// The open alerts, by shipment then rule.
    pub fn open_alerts(&self) -> impl Iterator<Item = &Alert> {
        self.open.values()
    }

    /// The open alert of `rule` on `shipment`, if any.
    pub fn open_alert(&self, shipment: ShipmentId, rule: AlertRule) -> Option<&Alert> {
        self.open.get(&(shipment, rule))
    }

    /// Reconciles one shipment's open alerts with its current conditions:
    /// - a rule that holds without an open alert raises one (the next occurrence);
    /// - an open warning whose rule has timed out escalates, keeping its key; a timed-out
    ///   alert stays timed out even if its condition is back to a warning (never de-escalates);
    /// - an open alert whose rule no longer holds is resolved (and leaves the open set);
    /// - a stalled alert whose clock restarted (the parcel moved) is resolved, and a new one
    ///   raised if the new stall already counts.
    ///
    /// A condition a person dismissed (resolved while it held) raises nothing while it stays
    /// the same episode at the same or a lower level; it raises the next occurrence once it
    /// times out or a new episode starts, and is forgotten once the rule no longer holds.
    ///
    /// Returns every alert that changed, in rule order, for the caller to persist and
    /// publish; nothing if nothing changed, so calling it again is harmless.
    pub fn reconcile(&mut self, shipment: &Shipment, rules: &SlaRules, now: Timestamp) -> Vec<Alert> {
        let current = conditions(shipment, rules, now);
        let mut changed = Vec::new();
        for rule in AlertRule::ALL {
            let slot = (shipment.id, rule);
            let condition = current.iter().find(|c| c.rule == rule);
            let moved_on = self
                .open
                .get(&slot)
                .is_some_and(|open| rule == AlertRule::Stalled && condition.is_some_and(|c| c.since != open.since));
            if condition.is_none() || moved_on {
                changed.extend(self.resolve(slot, now));
            }
            let Some(condition) = condition else {
                self.dismissed.remove(&slot);
                continue;
            };
            if self.dismissed.get(&slot).is_some_and(|d| d.covers(condition)) {
                continue;
            }
            self.dismissed.remove(&slot);
            match self.open.get_mut(&slot) {
                Some(open) => changed.extend(update(open, condition, now)),
                None => changed.push(self.raise(shipment, condition, now)),
            }
        }
        if shipment.is_terminal() {
            self.last_occurrence.retain(|(id, _), _| *id != shipment.id);
            self.dismissed.retain(|(id, _), _| *id != shipment.id);
        }
        changed
    }

    /// A person's action on an open alert of the shop; the alert as it now stands. Resolving
    /// takes it out of the open set and dismisses its condition (see [`Self::reconcile`]).
    pub fn work(&mut self, c: WorkAlert, now: Timestamp) -> Result<(Alert, Worked), WorkRefusal> {
        let slot = (c.alert.shipment, c.alert.rule);
        if self.open.get(&slot).is_some_and(|open| open.shop != c.shop) {
            return Err(WorkRefusal::UnknownAlert);
        }
        let open = self.open.get_mut(&slot).filter(|open| open.key == c.alert);
        let Some(open) = open else {
            // The caller checks that the shipment is the shop's: a later occurrence or none open
            // means this one was resolved.
            let known = self
                .last_occurrence
                .get(&slot)
                .is_some_and(|last| *last >= c.alert.occurrence);
            return Err(if known {
                WorkRefusal::AlertResolved
            } else {
                WorkRefusal::UnknownAlert
            });
        };
        let resolving = matches!(c.action, AlertAction::Resolve(_));
        let worked = apply_to_open(&mut open.work, c.action, c.by, now)?;
        if !resolving {
            return Ok((open.clone(), worked));
        }
        let mut alert = self.open.remove(&slot).expect("the alert was open");
        alert.resolved_at = Some(now);
        self.dismissed.insert(slot, dismissal(&alert));
        Ok((alert, worked))
    }

    fn raise(&mut self, shipment: &Shipment, condition: &Condition, now: Timestamp) -> Alert {
        let slot = (shipment.id, condition.rule);
        let last = self.last_occurrence.entry(slot).or_insert(0);
        *last = last
            .checked_add(1)
            .expect("fewer than 2^32 alerts per shipment and rule");
        let alert = Alert {
            key: AlertKey {
                shipment: shipment.id,
                rule: condition.rule,
                occurrence: *last,
            },
            shop: shipment.shop,
            order: shipment.order,
            shipment: shipment.id,
            rule: condition.rule,
            level: condition.level,
            since: condition.since,
            raised_at: now,
            escalated_at: None,
            resolved_at: None,
            deadline: condition.deadline,
            notify_buyer: notifies_buyer(condition.rule, condition.level),
            work: AlertWork::default(),
        };
        self.open.insert(slot, alert.clone());
        alert
    }

    fn resolve(&mut self, slot: (ShipmentId, AlertRule), now: Timestamp) -> Option<Alert> {
        let mut alert = self.open.remove(&slot)?;
        alert.resolved_at = Some(now);
        Some(alert)
    }
}

fn dismissal(alert: &Alert) -> Dismissal {
    Dismissal {
        occurrence: alert.key.occurrence,
        since: alert.since,
        level: alert.level,
    }
}

/// Brings an open alert up to its rule's current condition; the changed alert, if it changed.
/// The clock may move without the episode ending: a late event can show an earlier pickup,
/// and the rules themselves may be changed.
fn update(open: &mut Alert, condition: &Condition, now: Timestamp) -> Option<Alert> {
    let mut changed = false;
    if condition.level > open.level {
        open.level = condition.level;
        open.escalated_at = Some(now);
        open.notify_buyer = notifies_buyer(open.rule, open.level);
        changed = true;
    }
    if (open.since, open.deadline) != (condition.since, condition.deadline) {
        open.since = condition.since;
        open.deadline = condition.deadline;
        changed = true;
    }
    changed.then(|| open.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_is_exact_and_rounds_up_between_milliseconds() {
        assert_eq!(share_ms(86_400_000, 80), 69_120_000);
        assert_eq!(share_ms(1_001, 50), 501);
        assert_eq!(share_ms(-5, 80), 0);
    }

    #[test]
    fn rules_and_levels_round_trip_through_their_wire_names() {
        for rule in AlertRule::ALL {
            assert_eq!(AlertRule::parse(rule.as_str()), Some(rule));
        }
        for level in AlertLevel::ALL {
            assert_eq!(AlertLevel::parse(level.as_str()), Some(level));
        }
        assert_eq!(AlertRule::parse("late"), None);
    }

    #[test]
    fn the_default_rules_are_valid_and_every_bound_is_checked() {
        assert_eq!(SlaRules::default().validate(), Ok(()));
        let broken = [
            SlaRules {
                not_picked_up_within_s: 59,
                ..SlaRules::default()
            },
            SlaRules {
                not_departed_within_s: SLA_LIMIT_SECONDS_MAX + 1,
                ..SlaRules::default()
            },
            SlaRules {
                stalled_after_s: 0,
                ..SlaRules::default()
            },
            SlaRules {
                warn_at_percent: 0,
                ..SlaRules::default()
            },
            SlaRules {
                warn_at_percent: 100,
                ..SlaRules::default()
            },
        ];
        for rules in broken {
            assert!(rules.validate().is_err(), "{rules:?}");
        }
        let edges = SlaRules {
            not_picked_up_within_s: SLA_LIMIT_SECONDS_MIN,
            not_departed_within_s: SLA_LIMIT_SECONDS_MAX,
            stalled_after_s: SLA_LIMIT_SECONDS_MIN,
            warn_at_percent: 99,
        };
        assert_eq!(edges.validate(), Ok(()));
    }
}
