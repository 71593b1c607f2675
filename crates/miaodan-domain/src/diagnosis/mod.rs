//! Diagnosis (经营诊断): explainable rules over a shop's daily figures, compared with the
//! shop's own previous period and with its category's peers, that write findings a merchant
//! can act on — each with a stable rule code, a severity, the named figures behind it, and a
//! message and suggested action in Chinese and English.
//!
//! The engine is a pure function of a [`History`] (plain daily figures per dimension, loaded
//! by the store from the compass's aggregates, never from the orders tables): [`diagnose`]
//! reads no clock and iterates only ordered maps, so the same history always gives the same
//! findings in the same order.
//!
//! **Invariants:** a rule fires only over its minimum sample (`*_MIN` constants), so a handful of
//! orders never makes a finding; peers are compared only when the category has at least
//! [`PEER_SHOPS_MIN`] other shops, so a category figure never reveals one other shop's figures.
//! Rates are integer basis points and changes integer percents, rounded toward zero.

pub mod rules;

use crate::time::shanghai::LocalDate;
use std::collections::BTreeMap;

/// A run of whole Shanghai days: `days` days from `first`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    pub first: LocalDate,
    pub days: i32,
}

impl Period {
    /// The `days` days that end the day before `end` (the last 7 days before today, say).
    pub fn ending_before(end: LocalDate, days: i32) -> Period {
        Period {
            first: end.plus_days(-days),
            days,
        }
    }

    /// The period of the same length just before this one: the baseline it is compared with.
    pub fn previous(self) -> Period {
        Period {
            first: self.first.plus_days(-self.days),
            days: self.days,
        }
    }

    /// The last day in the period.
    pub fn last(self) -> LocalDate {
        self.first.plus_days(self.days - 1)
    }

    /// The day after the last one.
    pub fn end(self) -> LocalDate {
        self.first.plus_days(self.days)
    }

    pub fn contains(self, day: LocalDate) -> bool {
        day >= self.first && day < self.end()
    }
}

/// Figures that add up across days and shops.
pub trait Tally: Copy + Default {
    fn add(&mut self, other: &Self);
}

macro_rules! tally {
    ($(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* $field:ident),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct $name { $($(#[$fdoc])* pub $field: i64,)* }
        impl Tally for $name {
            fn add(&mut self, other: &Self) {
                $(self.$field += other.$field;)*
            }
        }
    };
}

tally!(
    /// A shop's (or a category's) day: from `compass_minutes`.
    ShopDay { orders, units, gmv_fen, paid_orders, paid_fen, expired_orders, refunds, refunded_fen }
);
tally!(
    /// Buyers in one province on one day: from `compass_regions`.
    RegionDay { orders, gmv_fen, paid_orders, paid_fen }
);
tally!(
    /// One SKU's day: from `compass_skus`. `stock_outs` counts sold-out answers.
    SkuDay { orders, units, gmv_fen, paid_units, refunds, refunded_fen, stock_outs }
);
tally!(
    /// One warehouse's day: from `compass_warehouses`.
    WarehouseDay { dispatched, shipped, delivered, delivered_late, alerts_raised, alerts_resolved }
);
tally!(
    /// After-sales requests for one SKU and reason on one day: from `compass_after_sales`.
    AfterSalesDay { requested, approved, refunded, refunded_fen }
);

/// What a shop's (or its category's) figures are keyed by in each dimension; the keys are the
/// labels a finding names (a province's name, a warehouse's name, a SKU's id or name, a reason).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dimensions {
    pub totals: BTreeMap<LocalDate, ShopDay>,
    pub provinces: BTreeMap<(String, LocalDate), RegionDay>,
    pub warehouses: BTreeMap<(String, LocalDate), WarehouseDay>,
    pub skus: BTreeMap<(String, LocalDate), SkuDay>,
    /// Keyed by (SKU, reason). Peers' SKUs are not the shop's: rules compare a reason's rate.
    pub after_sales: BTreeMap<(String, String, LocalDate), AfterSalesDay>,
}

/// Everything the rules read: the shop's figures, its category peers' summed, and the periods.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct History {
    /// The period the report is about.
    pub current: Period,
    /// What it is compared with (usually [`Period::previous`]).
    pub baseline: Period,
    pub shop: Dimensions,
    /// The other shops of the shop's category, summed.
    pub peers: Dimensions,
    /// How many shops `peers` sums.
    pub peer_shops: i64,
}

impl History {
    /// An empty history of `current` compared with the period before it.
    pub fn new(current: Period) -> History {
        History {
            current,
            baseline: current.previous(),
            shop: Dimensions::default(),
            peers: Dimensions::default(),
            peer_shops: 0,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub const NAMES: [&'static str; 3] = ["info", "warning", "critical"];

    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    pub fn parse(raw: &str) -> Option<Severity> {
        [Severity::Info, Severity::Warning, Severity::Critical]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

/// The rules, in the order their findings are listed within a severity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rule {
    PaidConversionFell,
    ProvinceConversionFell,
    ExpiryRateRose,
    RefundRateAboveCategory,
    SkuRefundRateAboveCategory,
    ReasonAboveCategory,
    LateDeliveriesDoubled,
    TopSellerStockOuts,
    GmvFell,
    GmvBehindCategory,
    AlertsLeftOpen,
}

impl Rule {
    pub const ALL: [Rule; 11] = [
        Rule::PaidConversionFell,
        Rule::ProvinceConversionFell,
        Rule::ExpiryRateRose,
        Rule::RefundRateAboveCategory,
        Rule::SkuRefundRateAboveCategory,
        Rule::ReasonAboveCategory,
        Rule::LateDeliveriesDoubled,
        Rule::TopSellerStockOuts,
        Rule::GmvFell,
        Rule::GmvBehindCategory,
        Rule::AlertsLeftOpen,
    ];

    /// The stable wire code.
    pub fn code(self) -> &'static str {
        match self {
            Rule::PaidConversionFell => "paid_conversion_fell",
            Rule::ProvinceConversionFell => "province_paid_conversion_fell",
            Rule::ExpiryRateRose => "unpaid_expiry_rate_rose",
            Rule::RefundRateAboveCategory => "refund_rate_above_category",
            Rule::SkuRefundRateAboveCategory => "sku_refund_rate_above_category",
            Rule::ReasonAboveCategory => "after_sales_reason_above_category",
            Rule::LateDeliveriesDoubled => "late_deliveries_doubled",
            Rule::TopSellerStockOuts => "top_seller_stock_outs",
            Rule::GmvFell => "gmv_fell_vs_previous_period",
            Rule::GmvBehindCategory => "gmv_behind_category_trend",
            Rule::AlertsLeftOpen => "alerts_left_open",
        }
    }

    pub fn parse(code: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.code() == code)
    }
}

/// What a figure counts, so that it is shown right (fen as yuan, basis points as percent).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Count,
    Fen,
    /// Basis points of a rate: 10 000 is 100 %.
    Bps,
    /// A change in whole percent (−40 is "fell by 40 %").
    Percent,
    /// A duration in whole minutes (the quality index's response time).
    Minutes,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "count",
            Unit::Fen => "fen",
            Unit::Bps => "bps",
            Unit::Percent => "percent",
            Unit::Minutes => "minutes",
        }
    }

    pub fn parse(raw: &str) -> Option<Unit> {
        [Unit::Count, Unit::Fen, Unit::Bps, Unit::Percent, Unit::Minutes]
            .into_iter()
            .find(|u| u.as_str() == raw)
    }
}

/// One named number behind a finding (`current`, `baseline`, `peers`, `change_pct`, …).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Figure {
    pub name: String,
    pub value: i64,
    pub unit: Unit,
}

/// A sentence in both languages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bilingual {
    pub zh: String,
    pub en: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub rule: Rule,
    pub severity: Severity,
    /// What the finding is about: a province, SKU, warehouse — `None` for the whole shop.
    pub subject: Option<String>,
    pub figures: Vec<Figure>,
    pub message: Bilingual,
    pub action: Bilingual,
}

impl Finding {
    /// The figure called `name`, if the finding has one.
    pub fn figure(&self, name: &str) -> Option<i64> {
        self.figures.iter().find(|f| f.name == name).map(|f| f.value)
    }
}

/// Every finding the rules make of `history`: the most severe first, then in [`Rule`] order,
/// then by subject.
pub fn diagnose(history: &History) -> Vec<Finding> {
    let mut findings = rules::all(history);
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.rule.cmp(&b.rule))
            .then_with(|| a.subject.cmp(&b.subject))
    });
    findings
}

/// `part` of `whole` in basis points (0 of nothing), rounded toward zero.
pub fn rate_bps(part: i64, whole: i64) -> i64 {
    (part * 10_000).checked_div(whole).unwrap_or(0)
}

/// How much `now` changed from `before`, in whole percent rounded toward zero (0 from nothing).
pub fn change_pct(now: i64, before: i64) -> i64 {
    ((now - before) * 100).checked_div(before).unwrap_or(0)
}

/// The sum of a daily series over `period`.
pub fn total<D: Tally>(series: &BTreeMap<LocalDate, D>, period: Period) -> D {
    let mut sum = D::default();
    for (_, day) in series.range(period.first..period.end()) {
        sum.add(day);
    }
    sum
}

/// The sum of a keyed daily series over `period`, per key.
pub fn per_key<D: Tally>(series: &BTreeMap<(String, LocalDate), D>, period: Period) -> BTreeMap<String, D> {
    let mut sums: BTreeMap<String, D> = BTreeMap::new();
    for ((key, day), figures) in series {
        if period.contains(*day) {
            sums.entry(key.clone()).or_default().add(figures);
        }
    }
    sums
}
