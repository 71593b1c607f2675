//! Fake stock (库存虚标): a flash sale announced with units the merchant could not ship. Each
//! ended sale's figures become findings, one per signal, and a verdict.
//!
//! The signals are shares of the units the sale sold (paid for): units of orders a warehouse
//! reported short after the sale, units of paid orders the shop cancelled, and units of paid
//! orders never dispatched past [`DISPATCH_GRACE_HOURS`]. A signal's share is judged against
//! its row of [`SIGNAL_THRESHOLDS`]; a sale's verdict is its worst finding's. A sale needs
//! [`UNITS_SHORT_MIN`] units short before it is called anything but clean, so one lost parcel
//! in a small sale accuses no one.
//!
//! Stock added to the sale's warehouse just before the start and removed just after the end
//! is not a signal here: the platform keeps a SKU's current level only, and its `stock.changed`
//! events are kept a week and read in sequence order, not by time, so no figure of it can be
//! read for a past sale without inventing one.
//!
//! **Invariants:** a verdict is monotone in every signal (more units short never reads
//! cleaner); the scoring reads no clock; findings are listed in [`Signal`] order.

use crate::diagnosis::{Bilingual, Figure, Unit, rate_bps};

/// Hours after payment within which a paid order is expected to leave its warehouse; past
/// them, an order still waiting counts as never dispatched.
pub const DISPATCH_GRACE_HOURS: i64 = 72;
/// Units short a sale needs (over all signals) before it is suspicious or worse.
pub const UNITS_SHORT_MIN: i64 = 3;

/// What a sale is judged to be, from best to worst.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    Clean,
    Suspicious,
    FakeStock,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Clean => "clean",
            Verdict::Suspicious => "suspicious",
            Verdict::FakeStock => "fake_stock",
        }
    }
}

/// The signals, in the order their findings are listed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Signal {
    ShortageAfterSale,
    ShopCancelled,
    NeverDispatched,
}

impl Signal {
    pub fn code(self) -> &'static str {
        match self {
            Signal::ShortageAfterSale => "shortage_after_sale",
            Signal::ShopCancelled => "shop_cancelled",
            Signal::NeverDispatched => "never_dispatched",
        }
    }

    fn units(self, f: &SaleFigures) -> i64 {
        match self {
            Signal::ShortageAfterSale => f.units_reported_short,
            Signal::ShopCancelled => f.units_shop_cancelled,
            Signal::NeverDispatched => f.units_never_dispatched,
        }
    }

    fn words(self) -> (&'static str, &'static str) {
        match self {
            Signal::ShortageAfterSale => ("售后报缺货", "reported short after the sale"),
            Signal::ShopCancelled => ("商家取消已付款订单", "paid orders cancelled by the shop"),
            Signal::NeverDispatched => ("付款后超时未发货", "never dispatched after payment"),
        }
    }
}

/// A signal's thresholds, as shares of the units sold (basis points).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignalThreshold {
    pub signal: Signal,
    /// At or above this share the sale is suspicious.
    pub suspicious_bps: i64,
    /// At or above this share the sale announced stock it did not have.
    pub fake_stock_bps: i64,
}

/// The thresholds of every signal. Shortages and cancellations by the shop are the merchant
/// admitting the units were not there; an order merely late to leave may still go, hence
/// its higher bar.
pub const SIGNAL_THRESHOLDS: [SignalThreshold; 3] = [
    SignalThreshold {
        signal: Signal::ShortageAfterSale,
        suspicious_bps: 300,
        fake_stock_bps: 1_500,
    },
    SignalThreshold {
        signal: Signal::ShopCancelled,
        suspicious_bps: 300,
        fake_stock_bps: 1_500,
    },
    SignalThreshold {
        signal: Signal::NeverDispatched,
        suspicious_bps: 500,
        fake_stock_bps: 2_500,
    },
];

/// One ended flash sale's figures, as the store counts them. An order counts once per signal
/// it shows, and once in `units_short` whatever it shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SaleFigures {
    /// The units the sale offered (its allotment, top-ups included).
    pub units_announced: i64,
    /// Units of the sale's orders that were paid for.
    pub units_sold: i64,
    pub units_reported_short: i64,
    pub units_shop_cancelled: i64,
    pub units_never_dispatched: i64,
    /// Units of paid orders that showed any signal.
    pub units_short: i64,
}

/// One signal's figures and what they mean.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StockFinding {
    pub signal: Signal,
    pub verdict: Verdict,
    pub figures: Vec<Figure>,
    pub message: Bilingual,
}

/// A sale's findings (every signal, clean ones included) and its verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaleAssessment {
    pub verdict: Verdict,
    pub figures: Vec<Figure>,
    pub findings: Vec<StockFinding>,
    pub summary: Bilingual,
}

fn figure(name: &str, value: i64, unit: Unit) -> Figure {
    Figure {
        name: name.into(),
        value,
        unit,
    }
}

fn verdict_of(threshold: &SignalThreshold, share_bps: i64, enough: bool) -> Verdict {
    if !enough || share_bps < threshold.suspicious_bps {
        Verdict::Clean
    } else if share_bps < threshold.fake_stock_bps {
        Verdict::Suspicious
    } else {
        Verdict::FakeStock
    }
}

fn finding(threshold: &SignalThreshold, f: &SaleFigures) -> StockFinding {
    let units = threshold.signal.units(f);
    let share = rate_bps(units, f.units_sold);
    let verdict = verdict_of(threshold, share, f.units_short >= UNITS_SHORT_MIN);
    let (zh_what, en_what) = threshold.signal.words();
    let (pct, tenths) = (share / 100, share % 100 / 10);
    let message = Bilingual {
        zh: format!("已售 {} 件中 {units} 件{zh_what}（{pct}.{tenths}%）", f.units_sold),
        en: format!(
            "{units} of {} units sold were {en_what} ({pct}.{tenths} %)",
            f.units_sold
        ),
    };
    StockFinding {
        signal: threshold.signal,
        verdict,
        figures: vec![
            figure("units", units, Unit::Count),
            figure("share_of_sold", share, Unit::Bps),
            figure("suspicious_at", threshold.suspicious_bps, Unit::Bps),
            figure("fake_stock_at", threshold.fake_stock_bps, Unit::Bps),
        ],
        message,
    }
}

/// The findings and verdict of one ended sale.
pub fn assess_sale(f: &SaleFigures) -> SaleAssessment {
    let findings: Vec<StockFinding> = SIGNAL_THRESHOLDS.iter().map(|t| finding(t, f)).collect();
    let verdict = findings.iter().map(|x| x.verdict).max().unwrap_or(Verdict::Clean);
    let summary = match verdict {
        Verdict::Clean => Bilingual {
            zh: "未发现库存虚标迹象".into(),
            en: "No sign of announced stock that was not there".into(),
        },
        Verdict::Suspicious => Bilingual {
            zh: format!("{} 件已售商品未能履约，疑似库存虚标", f.units_short),
            en: format!("{} units sold were not fulfilled: suspected fake stock", f.units_short),
        },
        Verdict::FakeStock => Bilingual {
            zh: format!("{} 件已售商品未能履约：库存虚标", f.units_short),
            en: format!(
                "{} units sold were not fulfilled: the sale announced stock it did not have",
                f.units_short
            ),
        },
    };
    SaleAssessment {
        verdict,
        figures: vec![
            figure("units_announced", f.units_announced, Unit::Count),
            figure("units_sold", f.units_sold, Unit::Count),
            figure("units_short", f.units_short, Unit::Count),
            figure("short_share_of_sold", rate_bps(f.units_short, f.units_sold), Unit::Bps),
        ],
        findings,
        summary,
    }
}
