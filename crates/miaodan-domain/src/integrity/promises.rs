//! Broken promises, broken down where a merchant can act on them: per warehouse (parcels
//! delivered by their promise) and per warehouse and carrier service (late pickups, alerts
//! left open). The figures are the quality index's logistics figures, grouped instead of
//! summed; here they are judged against [`PROMISE_TARGETS`].
//!
//! **Invariants:** a group is flagged only from its own figures, and a group with nothing
//! delivered has no promise-kept rate (not 100 %, not 0 %).

use crate::diagnosis::{Bilingual, rate_bps};

/// How long an alert may stay open before it counts as left unresolved.
pub const ALERT_UNRESOLVED_AFTER_HOURS: i64 = 24;

/// What a warehouse or a carrier service is expected to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PromiseTargets {
    /// Parcels delivered by their promise, per parcel delivered (basis points).
    pub promise_kept_min_bps: i64,
    /// Late pickups (`not_picked_up` alerts) per parcel shipped (basis points).
    pub late_pickups_max_bps: i64,
    /// Alerts open past a day, in number.
    pub unresolved_alerts_max: i64,
}

/// The targets every group is judged by: the quality index gives full marks below 0.5 % late
/// parcels; 95 % kept is where it has already taken a third of the points.
pub const PROMISE_TARGETS: PromiseTargets = PromiseTargets {
    promise_kept_min_bps: 9_500,
    late_pickups_max_bps: 200,
    unresolved_alerts_max: 0,
};

/// A group's figures over the period (a warehouse, or a warehouse and carrier service).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PromiseFigures {
    pub shipped: i64,
    pub delivered: i64,
    pub delivered_late: i64,
    pub late_pickups: i64,
    pub alerts_raised: i64,
    pub alerts_unresolved: i64,
}

/// A missed target, in the order checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Broken {
    PromisesMissed,
    LatePickups,
    AlertsLeftOpen,
}

impl Broken {
    pub fn code(self) -> &'static str {
        match self {
            Broken::PromisesMissed => "promises_missed",
            Broken::LatePickups => "late_pickups",
            Broken::AlertsLeftOpen => "alerts_left_open",
        }
    }

    fn words(self) -> Bilingual {
        let (zh, en) = match self {
            Broken::PromisesMissed => (
                "准时送达率低于 95%",
                "fewer than 95 % of parcels arrived by their promise",
            ),
            Broken::LatePickups => ("揽收超时过多", "too many parcels were picked up late"),
            Broken::AlertsLeftOpen => ("有异常超过一天未处理", "alerts were left open for more than a day"),
        };
        Bilingual {
            zh: zh.into(),
            en: en.into(),
        }
    }
}

/// A group's rates and the targets it missed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PromiseAssessment {
    /// `None` when nothing was delivered.
    pub promise_kept_bps: Option<i64>,
    pub late_pickup_bps: i64,
    pub broken: Vec<Broken>,
    pub explanations: Vec<Bilingual>,
}

pub fn assess(f: &PromiseFigures) -> PromiseAssessment {
    let kept = (f.delivered > 0).then(|| rate_bps(f.delivered - f.delivered_late, f.delivered));
    let late_pickup_bps = rate_bps(f.late_pickups, f.shipped);
    let mut broken = Vec::new();
    if kept.is_some_and(|k| k < PROMISE_TARGETS.promise_kept_min_bps) {
        broken.push(Broken::PromisesMissed);
    }
    if late_pickup_bps > PROMISE_TARGETS.late_pickups_max_bps {
        broken.push(Broken::LatePickups);
    }
    if f.alerts_unresolved > PROMISE_TARGETS.unresolved_alerts_max {
        broken.push(Broken::AlertsLeftOpen);
    }
    let explanations = broken.iter().map(|b| b.words()).collect();
    PromiseAssessment {
        promise_kept_bps: kept,
        late_pickup_bps,
        broken,
        explanations,
    }
}
