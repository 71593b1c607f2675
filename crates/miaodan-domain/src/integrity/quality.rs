//! The merchant quality index (秒单质量指数): a shop's figures over a period turned into three
//! dimension scores (product quality, logistics timeliness, after-sales service) and a total,
//! every point of it explained.
//!
//! Each dimension is made of measures; each measure is a rate (or a time) scored by a curve
//! given as data ([`Anchor`] tables below): linear between its anchors, flat beyond the first
//! and the last. A dimension's score is its measures' scores weighted; the total is the scored
//! dimensions' scores weighted. Every score is an integer 0–100, rounded toward zero.
//!
//! **Invariants:** every curve is non-increasing in its rate (more late parcels never score
//! more), so every score is monotone in the bad figures; a dimension below its minimum sample
//! is [`DimensionScore::score`] `None` (insufficient data) and the total is over the others'
//! weights only; the index reads no clock and iterates only vectors in a fixed order.

use crate::after_sales::request::{Actor, AfterSalesRequest, Stage};
use crate::after_sales::{Reason, RequestKind};
use crate::diagnosis::{Bilingual, Figure, Unit, rate_bps};

/// One point of a scoring curve: a rate of `at` (basis points, or minutes for a time) scores
/// `score`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Anchor {
    pub at: i64,
    pub score: i64,
}

const fn anchor(at: i64, score: i64) -> Anchor {
    Anchor { at, score }
}

/// Quality-related returns and refunds per paid order: 0.5 % scores 100, 2 % 60, 5 % 0.
pub const QUALITY_RETURN_ANCHORS: [Anchor; 3] = [anchor(50, 100), anchor(200, 60), anchor(500, 0)];
/// No-reason returns (七天无理由, a change of mind, a wrong size) per paid order: buyers' own
/// choice weighs less, so the curve is flatter: 3 % scores 100, 10 % 60, 25 % 0.
pub const NO_REASON_RETURN_ANCHORS: [Anchor; 3] = [anchor(300, 100), anchor(1_000, 60), anchor(2_500, 0)];
/// Parcels delivered after their promise per parcel delivered: 0.5 % scores 100, 10 % 0.
pub const LATE_DELIVERY_ANCHORS: [Anchor; 2] = [anchor(50, 100), anchor(1_000, 0)];
/// Package alerts (late pickups, SLA breaches) raised per parcel shipped: 1 % scores 100, 20 % 0.
pub const ALERTS_PER_PARCEL_ANCHORS: [Anchor; 2] = [anchor(100, 100), anchor(2_000, 0)];
/// The share of the period's alerts still open: none scores 100, half of them 0.
pub const UNRESOLVED_ALERT_ANCHORS: [Anchor; 2] = [anchor(0, 100), anchor(5_000, 0)];
/// The merchant's mean time to decide a request, in minutes: 2 hours scores 100, 24 hours 60,
/// 48 hours (past every policy's deadline) 0.
pub const RESPONSE_MINUTES_ANCHORS: [Anchor; 3] = [anchor(120, 100), anchor(1_440, 60), anchor(2_880, 0)];
/// The share of the merchant's refusals the platform overturned on appeal: none scores 100,
/// a quarter 0.
pub const OVERTURNED_REFUSAL_ANCHORS: [Anchor; 2] = [anchor(0, 100), anchor(2_500, 0)];

/// Paid orders the product-quality dimension needs before it is scored.
pub const PRODUCT_ORDERS_MIN: i64 = 30;
/// Parcels delivered the logistics dimension needs before it is scored.
pub const LOGISTICS_PARCELS_MIN: i64 = 30;
/// Requests the merchant decided that the after-sales dimension needs before it is scored.
pub const AFTER_SALES_DECISIONS_MIN: i64 = 5;
/// A shop is placed in its category only among at least this many other scored shops, so a
/// percentile never reveals one other shop's index.
pub const PEER_SHOPS_MIN: usize = 3;
/// The losses each dimension names: the ones that cost it most.
pub const LOSSES_NAMED_MAX: usize = 2;

/// What a curve's `at` is measured in.
fn anchors_unit(measure: Measure) -> Unit {
    match measure {
        Measure::ResponseMinutes => Unit::Minutes,
        _ => Unit::Bps,
    }
}

/// The score a curve gives `value`: linear between anchors, rounded toward zero, flat beyond.
pub fn score_on(anchors: &[Anchor], value: i64) -> i64 {
    let (Some(first), Some(last)) = (anchors.first(), anchors.last()) else {
        return 100;
    };
    if value <= first.at {
        return first.score;
    }
    for pair in anchors.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if value <= b.at {
            return a.score + (b.score - a.score) * (value - a.at) / (b.at - a.at);
        }
    }
    last.score
}

/// The three dimensions, in the order they are listed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Dimension {
    ProductQuality,
    LogisticsTimeliness,
    AfterSalesService,
}

impl Dimension {
    pub const ALL: [Dimension; 3] = [
        Dimension::ProductQuality,
        Dimension::LogisticsTimeliness,
        Dimension::AfterSalesService,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Dimension::ProductQuality => "product_quality",
            Dimension::LogisticsTimeliness => "logistics_timeliness",
            Dimension::AfterSalesService => "after_sales_service",
        }
    }

    /// The dimension's share of the total, out of 100.
    pub fn weight(self) -> i64 {
        match self {
            Dimension::ProductQuality => 40,
            Dimension::LogisticsTimeliness => 35,
            Dimension::AfterSalesService => 25,
        }
    }

    pub fn name(self) -> Bilingual {
        let (zh, en) = match self {
            Dimension::ProductQuality => ("商品质量", "Product quality"),
            Dimension::LogisticsTimeliness => ("物流时效", "Logistics timeliness"),
            Dimension::AfterSalesService => ("售后服务", "After-sales service"),
        };
        Bilingual {
            zh: zh.into(),
            en: en.into(),
        }
    }

    fn measures(self) -> &'static [Measure] {
        match self {
            Dimension::ProductQuality => &[Measure::QualityReturnRate, Measure::NoReasonReturnRate],
            Dimension::LogisticsTimeliness => &[
                Measure::LateDeliveryRate,
                Measure::AlertsPerParcel,
                Measure::UnresolvedAlertShare,
            ],
            Dimension::AfterSalesService => &[Measure::ResponseMinutes, Measure::OverturnedRefusalShare],
        }
    }
}

/// One scored figure of a dimension.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Measure {
    QualityReturnRate,
    NoReasonReturnRate,
    LateDeliveryRate,
    AlertsPerParcel,
    UnresolvedAlertShare,
    ResponseMinutes,
    OverturnedRefusalShare,
}

impl Measure {
    pub fn code(self) -> &'static str {
        match self {
            Measure::QualityReturnRate => "quality_return_rate",
            Measure::NoReasonReturnRate => "no_reason_return_rate",
            Measure::LateDeliveryRate => "late_delivery_rate",
            Measure::AlertsPerParcel => "alerts_per_parcel",
            Measure::UnresolvedAlertShare => "unresolved_alert_share",
            Measure::ResponseMinutes => "mean_response_minutes",
            Measure::OverturnedRefusalShare => "overturned_refusal_share",
        }
    }

    /// The curve that scores it.
    pub fn anchors(self) -> &'static [Anchor] {
        match self {
            Measure::QualityReturnRate => &QUALITY_RETURN_ANCHORS,
            Measure::NoReasonReturnRate => &NO_REASON_RETURN_ANCHORS,
            Measure::LateDeliveryRate => &LATE_DELIVERY_ANCHORS,
            Measure::AlertsPerParcel => &ALERTS_PER_PARCEL_ANCHORS,
            Measure::UnresolvedAlertShare => &UNRESOLVED_ALERT_ANCHORS,
            Measure::ResponseMinutes => &RESPONSE_MINUTES_ANCHORS,
            Measure::OverturnedRefusalShare => &OVERTURNED_REFUSAL_ANCHORS,
        }
    }

    /// Its share of its dimension's score, out of 100.
    pub fn weight(self) -> i64 {
        match self {
            Measure::QualityReturnRate => 70,
            Measure::NoReasonReturnRate => 30,
            Measure::LateDeliveryRate => 50,
            Measure::AlertsPerParcel => 30,
            Measure::UnresolvedAlertShare => 20,
            Measure::ResponseMinutes => 60,
            Measure::OverturnedRefusalShare => 40,
        }
    }
}

/// A shop's figures over the period, as the store counts them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QualityFigures {
    pub paid_orders: i64,
    /// Refund and return requests for a fault of the goods (damaged, quality, not as described,
    /// wrong item) that were granted.
    pub quality_returns: i64,
    /// Granted requests without a fault of the goods (no reason, changed mind, wrong size).
    pub no_reason_returns: i64,
    pub parcels_shipped: i64,
    pub parcels_delivered: i64,
    pub parcels_late: i64,
    pub alerts_raised: i64,
    /// Of the alerts raised in the period, those still open.
    pub alerts_open: i64,
    /// Requests the merchant decided (or let the deadline decide), and the minutes it took.
    pub merchant_decisions: i64,
    pub response_minutes_total: i64,
    pub merchant_refusals: i64,
    /// Merchant refusals the platform reversed after the buyer's appeal.
    pub refusals_overturned: i64,
}

impl QualityFigures {
    /// Counts one after-sales request opened in the period.
    pub fn add_request(&mut self, request: &AfterSalesRequest) {
        let facts = RequestFacts::of(request);
        if facts.granted {
            match reason_class(request.kind, request.reason) {
                ReasonClass::Quality => self.quality_returns += 1,
                ReasonClass::NoReason => self.no_reason_returns += 1,
                ReasonClass::Other => {}
            }
        }
        if let Some(minutes) = facts.response_minutes {
            self.merchant_decisions += 1;
            self.response_minutes_total += minutes;
        }
        self.merchant_refusals += i64::from(facts.refused_by_merchant);
        self.refusals_overturned += i64::from(facts.overturned);
    }
}

/// Which of the product measures a request's reason counts towards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReasonClass {
    Quality,
    NoReason,
    /// Not the goods' fault (lost, never arrived, a wrong address) nor a return: logistics
    /// counts those through its own figures.
    Other,
}

pub fn reason_class(kind: RequestKind, reason: Reason) -> ReasonClass {
    if matches!(kind, RequestKind::ChangeAddress | RequestKind::CancelBeforeShipment) {
        return ReasonClass::Other;
    }
    match reason {
        Reason::ArrivedDamaged | Reason::QualityIssue | Reason::NotAsDescribed | Reason::WrongItem => {
            ReasonClass::Quality
        }
        Reason::NoReason | Reason::ChangedMind | Reason::WrongSize => ReasonClass::NoReason,
        Reason::Lost | Reason::NeverArrived | Reason::WrongAddress => ReasonClass::Other,
    }
}

/// What a request's timeline says about the merchant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestFacts {
    /// Someone agreed to give money or goods back.
    pub granted: bool,
    /// Minutes from opening to the merchant's first decision (or its deadline's).
    pub response_minutes: Option<i64>,
    pub refused_by_merchant: bool,
    /// The platform granted what the merchant had refused.
    pub overturned: bool,
}

impl RequestFacts {
    pub fn of(request: &AfterSalesRequest) -> RequestFacts {
        let granting = |s: Stage| {
            matches!(
                s,
                Stage::Approved | Stage::AwaitingReturn { .. } | Stage::Refunding | Stage::Refunded | Stage::Exchanged
            )
        };
        let decided = request
            .timeline
            .iter()
            .find(|s| matches!(s.actor, Actor::Merchant | Actor::Deadline));
        let refusal = request
            .timeline
            .iter()
            .position(|s| s.actor == Actor::Merchant && matches!(s.stage, Stage::Refused { .. }));
        let overturned = refusal.is_some_and(|at| {
            request.timeline[at..]
                .iter()
                .any(|s| s.actor == Actor::Platform && granting(s.stage))
        });
        RequestFacts {
            granted: request.timeline.iter().any(|s| granting(s.stage)),
            response_minutes: decided.map(|s| (s.at.unix_ms() - request.opened_at.unix_ms()).max(0) / 60_000),
            refused_by_merchant: refusal.is_some(),
            overturned,
        }
    }
}

/// One measure's part in its dimension.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeasureScore {
    pub measure: Measure,
    /// The rate in basis points (minutes for a time).
    pub value: i64,
    pub unit: Unit,
    pub score: i64,
    pub weight: i64,
    /// Points of the dimension's 100 this measure cost.
    pub lost_points: i64,
    /// Why, in a sentence ("18 of 240 parcels late: −22 points").
    pub explanation: Bilingual,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DimensionScore {
    pub dimension: Dimension,
    pub weight: i64,
    /// `None`: too little data to score (see the `*_MIN` constants).
    pub score: Option<i64>,
    pub figures: Vec<Figure>,
    /// Every measure, in its fixed order (empty when the dimension is not scored).
    pub measures: Vec<MeasureScore>,
    /// The measures that cost most, most first; only those that cost anything.
    pub losses: Vec<MeasureScore>,
    pub summary: Bilingual,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QualityIndex {
    pub dimensions: Vec<DimensionScore>,
    /// Weighted over the scored dimensions; `None` when none is.
    pub total: Option<i64>,
    /// The weights the total is over (100 when every dimension is scored).
    pub scored_weight: i64,
}

impl QualityIndex {
    pub fn dimension(&self, dimension: Dimension) -> &DimensionScore {
        let found = self.dimensions.iter().find(|d| d.dimension == dimension);
        found.unwrap_or_else(|| unreachable!("every index lists every dimension"))
    }
}

/// The index of a shop with `figures`.
pub fn quality_index(figures: &QualityFigures) -> QualityIndex {
    let dimensions: Vec<DimensionScore> = Dimension::ALL.iter().map(|d| dimension_score(*d, figures)).collect();
    let scored = || dimensions.iter().filter_map(|d| d.score.map(|s| (s, d.weight)));
    let scored_weight: i64 = scored().map(|(_, w)| w).sum();
    let total = (scored_weight > 0).then(|| scored().map(|(s, w)| s * w).sum::<i64>() / scored_weight);
    QualityIndex {
        dimensions,
        total,
        scored_weight,
    }
}

fn figure(name: &str, value: i64) -> Figure {
    Figure {
        name: name.into(),
        value,
        unit: Unit::Count,
    }
}

fn text(zh: String, en: String) -> Bilingual {
    Bilingual { zh, en }
}

/// The sample a dimension needs, what it has, and the figures it shows.
fn sample(dimension: Dimension, f: &QualityFigures) -> (i64, i64, Vec<Figure>) {
    match dimension {
        Dimension::ProductQuality => (
            PRODUCT_ORDERS_MIN,
            f.paid_orders,
            vec![
                figure("paid_orders", f.paid_orders),
                figure("quality_returns", f.quality_returns),
                figure("no_reason_returns", f.no_reason_returns),
            ],
        ),
        Dimension::LogisticsTimeliness => (
            LOGISTICS_PARCELS_MIN,
            f.parcels_delivered,
            vec![
                figure("parcels_shipped", f.parcels_shipped),
                figure("parcels_delivered", f.parcels_delivered),
                figure("parcels_late", f.parcels_late),
                figure("alerts_raised", f.alerts_raised),
                figure("alerts_open", f.alerts_open),
            ],
        ),
        Dimension::AfterSalesService => (
            AFTER_SALES_DECISIONS_MIN,
            f.merchant_decisions,
            vec![
                figure("merchant_decisions", f.merchant_decisions),
                figure("response_minutes_total", f.response_minutes_total),
                figure("merchant_refusals", f.merchant_refusals),
                figure("refusals_overturned", f.refusals_overturned),
            ],
        ),
    }
}

fn dimension_score(dimension: Dimension, f: &QualityFigures) -> DimensionScore {
    let (needed, has, figures) = sample(dimension, f);
    let name = dimension.name();
    if has < needed {
        return DimensionScore {
            dimension,
            weight: dimension.weight(),
            score: None,
            figures,
            measures: Vec::new(),
            losses: Vec::new(),
            summary: text(
                format!("{}：样本不足（{has}，至少需要 {needed}），不计分。", name.zh),
                format!("{}: too little data ({has}, {needed} needed), not scored.", name.en),
            ),
        };
    }
    let measures: Vec<MeasureScore> = dimension.measures().iter().map(|m| measure_score(*m, f)).collect();
    let score = 100 - measures.iter().map(|m| m.lost_points).sum::<i64>();
    let mut losses: Vec<MeasureScore> = measures.iter().filter(|m| m.lost_points > 0).cloned().collect();
    losses.sort_by(|a, b| b.lost_points.cmp(&a.lost_points).then(a.measure.cmp(&b.measure)));
    losses.truncate(LOSSES_NAMED_MAX);
    let summary = text(
        format!("{}：{score} 分（权重 {}）。", name.zh, dimension.weight()),
        format!("{}: {score} points (weight {}).", name.en, dimension.weight()),
    );
    DimensionScore {
        dimension,
        weight: dimension.weight(),
        score: Some(score),
        figures,
        measures,
        losses,
        summary,
    }
}

/// A measure's count and the whole it is a share of (minutes and decisions for a time).
fn counts(measure: Measure, f: &QualityFigures) -> (i64, i64) {
    match measure {
        Measure::QualityReturnRate => (f.quality_returns, f.paid_orders),
        Measure::NoReasonReturnRate => (f.no_reason_returns, f.paid_orders),
        Measure::LateDeliveryRate => (f.parcels_late, f.parcels_delivered),
        Measure::AlertsPerParcel => (f.alerts_raised, f.parcels_shipped.max(f.parcels_delivered)),
        Measure::UnresolvedAlertShare => (f.alerts_open, f.alerts_raised),
        Measure::ResponseMinutes => (f.response_minutes_total, f.merchant_decisions),
        Measure::OverturnedRefusalShare => (f.refusals_overturned, f.merchant_refusals),
    }
}

fn measure_score(measure: Measure, f: &QualityFigures) -> MeasureScore {
    let (part, whole) = counts(measure, f);
    let unit = anchors_unit(measure);
    let value = match unit {
        Unit::Minutes => part.checked_div(whole).unwrap_or(0),
        _ => rate_bps(part, whole),
    };
    let score = score_on(measure.anchors(), value);
    let lost_points = (100 - score) * measure.weight() / 100;
    MeasureScore {
        measure,
        value,
        unit,
        score,
        weight: measure.weight(),
        lost_points,
        explanation: explain(measure, part, whole, lost_points),
    }
}

fn explain(measure: Measure, part: i64, whole: i64, lost: i64) -> Bilingual {
    match measure {
        Measure::QualityReturnRate => text(
            format!("{whole} 笔支付订单中 {part} 笔因质量问题退款退货：−{lost} 分"),
            format!("{part} of {whole} paid orders refunded or returned for quality: −{lost} points"),
        ),
        Measure::NoReasonReturnRate => text(
            format!("{whole} 笔支付订单中 {part} 笔无理由退款退货：−{lost} 分"),
            format!("{part} of {whole} paid orders returned without a fault: −{lost} points"),
        ),
        Measure::LateDeliveryRate => text(
            format!("{whole} 个已签收包裹中 {part} 个超出承诺时效：−{lost} 分"),
            format!("{part} of {whole} parcels late: −{lost} points"),
        ),
        Measure::AlertsPerParcel => text(
            format!("{whole} 个包裹触发 {part} 条物流预警：−{lost} 分"),
            format!("{part} package alerts over {whole} parcels: −{lost} points"),
        ),
        Measure::UnresolvedAlertShare => text(
            format!("{whole} 条预警中 {part} 条仍未处理：−{lost} 分"),
            format!("{part} of {whole} alerts left unresolved: −{lost} points"),
        ),
        Measure::ResponseMinutes => {
            let mean = part.checked_div(whole).unwrap_or(0);
            text(
                format!("{whole} 个售后申请平均 {mean} 分钟才处理：−{lost} 分"),
                format!("{whole} requests answered in {mean} minutes on average: −{lost} points"),
            )
        }
        Measure::OverturnedRefusalShare => text(
            format!("{whole} 次拒绝中 {part} 次被平台申诉改判：−{lost} 分"),
            format!("{part} of {whole} refusals overturned by the platform on appeal: −{lost} points"),
        ),
    }
}

/// The share (whole percent, rounded toward zero) of the shop's category peers whose index is
/// at most the shop's, the shop included: 100 is the best of its category. `None` with fewer
/// than [`PEER_SHOPS_MIN`] other scored shops.
pub fn category_percentile(total: i64, peers: &[i64]) -> Option<i64> {
    if peers.len() < PEER_SHOPS_MIN {
        return None;
    }
    let at_most = peers.iter().filter(|p| **p <= total).count() + 1;
    let shops = peers.len() + 1;
    i64::try_from(at_most * 100 / shops).ok()
}
