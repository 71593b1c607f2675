//! Fake stock (库存虚标): a flash sale announced with units the merchant could not ship. Each
//! ended sale's figures become findings, one per signal, and a verdict.
//!
//! Three signals are shares of the units the sale sold (paid for): units of orders a warehouse
//! reported short after the sale, units of paid orders the shop cancelled, and units of paid
//! orders never dispatched past [`DISPATCH_GRACE_HOURS`]. A sale needs [`UNITS_SHORT_MIN`]
//! units short over them before they call it anything but clean, so one lost parcel in a small
//! sale accuses no one.
//!
//! The fourth is a share of the units the sale announced: units the merchant added to the
//! sale's SKU in its warehouse within [`STOCK_PULL_WINDOW_HOURS`] before the start that were
//! removed within as many hours after the end (the smaller of the two sums, from the stock
//! ledger of merchants' own counts; sales, reservations and returns are not in it). Stock shown
//! for the sale and taken away once it is over was never there to sell; it needs
//! [`UNITS_PULLED_MIN`] units before it calls a sale anything but clean, so a recount that
//! finds a few units missing accuses no one.
//!
//! A signal's share is judged against its row of [`SIGNAL_THRESHOLDS`]; a sale's verdict is
//! its worst finding's.
//!
//! **Invariants:** a verdict is monotone in every signal (more units short, added before or
//! removed after never reads cleaner); the scoring reads no clock; findings are listed in
//! [`Signal`] order.

use crate::diagnosis::{Bilingual, Figure, Unit, rate_bps};

/// Hours after payment within which a paid order is expected to leave its warehouse; past
/// them, an order still waiting counts as never dispatched.
pub const DISPATCH_GRACE_HOURS: i64 = 72;
/// Units short a sale needs (over the orders' signals) before they make it suspicious or worse.
pub const UNITS_SHORT_MIN: i64 = 3;
/// How long before a sale's start an addition, and after its end a removal, counts as stock
/// moved around the sale: a day either side covers the evening before a morning drop and the
/// next morning's count.
pub const STOCK_PULL_WINDOW_HOURS: i64 = 24;
/// Units added before and removed after a sale it needs before that signal makes it
/// suspicious or worse.
pub const UNITS_PULLED_MIN: i64 = 10;

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
    StockPulledAfterSale,
}

impl Signal {
    pub fn code(self) -> &'static str {
        match self {
            Signal::ShortageAfterSale => "shortage_after_sale",
            Signal::ShopCancelled => "shop_cancelled",
            Signal::NeverDispatched => "never_dispatched",
            Signal::StockPulledAfterSale => "stock_pulled_after_sale",
        }
    }

    fn units(self, f: &SaleFigures) -> i64 {
        match self {
            Signal::ShortageAfterSale => f.units_reported_short,
            Signal::ShopCancelled => f.units_shop_cancelled,
            Signal::NeverDispatched => f.units_never_dispatched,
            Signal::StockPulledAfterSale => f.units_pulled(),
        }
    }

    /// The units the signal's share is of, and whether the sale has enough units behind the
    /// signal to be judged at all.
    fn base(self, f: &SaleFigures) -> (i64, bool) {
        match self {
            Signal::ShortageAfterSale | Signal::ShopCancelled | Signal::NeverDispatched => {
                (f.units_sold, f.units_short >= UNITS_SHORT_MIN)
            }
            Signal::StockPulledAfterSale => (f.units_announced, f.units_pulled() >= UNITS_PULLED_MIN),
        }
    }

    fn words(self) -> (&'static str, &'static str) {
        match self {
            Signal::ShortageAfterSale => ("售后报缺货", "reported short after the sale"),
            Signal::ShopCancelled => ("商家取消已付款订单", "paid orders cancelled by the shop"),
            Signal::NeverDispatched => ("付款后超时未发货", "never dispatched after payment"),
            Signal::StockPulledAfterSale => (
                "开售前补入、结束后撤下",
                "added just before the sale and removed just after it",
            ),
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
/// its higher bar. Stock pulled after a sale is a share of the units announced, not sold: a
/// fifth of them shown and taken back is suspicious, half of them is stock that was never
/// there to sell.
pub const SIGNAL_THRESHOLDS: [SignalThreshold; 4] = [
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
    SignalThreshold {
        signal: Signal::StockPulledAfterSale,
        suspicious_bps: 2_000,
        fake_stock_bps: 5_000,
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
    /// Units the merchant added to the sale's SKU in its warehouse within
    /// [`STOCK_PULL_WINDOW_HOURS`] before the start.
    pub units_added_before: i64,
    /// Units the merchant removed from it from the end to [`STOCK_PULL_WINDOW_HOURS`] after.
    pub units_removed_after: i64,
}

impl SaleFigures {
    /// Units both added before the sale and removed after it.
    pub fn units_pulled(&self) -> i64 {
        self.units_added_before.min(self.units_removed_after).max(0)
    }
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
    let signal = threshold.signal;
    let units = signal.units(f);
    let (base, enough) = signal.base(f);
    let share = rate_bps(units, base);
    let verdict = verdict_of(threshold, share, enough);
    let (zh_what, en_what) = signal.words();
    let (pct, tenths) = (share / 100, share % 100 / 10);
    let mut figures = vec![figure("units", units, Unit::Count)];
    let message = if signal == Signal::StockPulledAfterSale {
        figures.push(figure("units_added_before", f.units_added_before, Unit::Count));
        figures.push(figure("units_removed_after", f.units_removed_after, Unit::Count));
        figures.push(figure("share_of_announced", share, Unit::Bps));
        let hours = STOCK_PULL_WINDOW_HOURS;
        Bilingual {
            zh: format!(
                "宣称 {base} 件中 {units} 件为开售前 {hours} 小时内补入、结束后 {hours} 小时内撤下的库存（{pct}.{tenths}%）"
            ),
            en: format!(
                "{units} of {base} units announced were added in the {hours} h before the sale and removed in the {hours} h after it ({pct}.{tenths} %)"
            ),
        }
    } else {
        figures.push(figure("share_of_sold", share, Unit::Bps));
        Bilingual {
            zh: format!("已售 {base} 件中 {units} 件{zh_what}（{pct}.{tenths}%）"),
            en: format!("{units} of {base} units sold were {en_what} ({pct}.{tenths} %)"),
        }
    };
    figures.push(figure("suspicious_at", threshold.suspicious_bps, Unit::Bps));
    figures.push(figure("fake_stock_at", threshold.fake_stock_bps, Unit::Bps));
    StockFinding {
        signal,
        verdict,
        figures,
        message,
    }
}

/// The sale's summary: from its orders when their signals are as bad as its verdict, from the
/// stock moved around it otherwise.
fn summary(verdict: Verdict, orders_verdict: Verdict, f: &SaleFigures) -> Bilingual {
    let (short, pulled) = (f.units_short, f.units_pulled());
    let (zh_pulled, en_pulled) = Signal::StockPulledAfterSale.words();
    match (verdict, orders_verdict == verdict) {
        (Verdict::Clean, _) => Bilingual {
            zh: "未发现库存虚标迹象".into(),
            en: "No sign of announced stock that was not there".into(),
        },
        (Verdict::Suspicious, true) => Bilingual {
            zh: format!("{short} 件已售商品未能履约，疑似库存虚标"),
            en: format!("{short} units sold were not fulfilled: suspected fake stock"),
        },
        (Verdict::FakeStock, true) => Bilingual {
            zh: format!("{short} 件已售商品未能履约：库存虚标"),
            en: format!("{short} units sold were not fulfilled: the sale announced stock it did not have"),
        },
        (Verdict::Suspicious, false) => Bilingual {
            zh: format!("{pulled} 件库存{zh_pulled}，疑似库存虚标"),
            en: format!("{pulled} units were {en_pulled}: suspected fake stock"),
        },
        (Verdict::FakeStock, false) => Bilingual {
            zh: format!("{pulled} 件库存{zh_pulled}：库存虚标"),
            en: format!("{pulled} units were {en_pulled}: the sale announced stock that was not there to sell"),
        },
    }
}

/// The findings and verdict of one ended sale.
pub fn assess_sale(f: &SaleFigures) -> SaleAssessment {
    let findings: Vec<StockFinding> = SIGNAL_THRESHOLDS.iter().map(|t| finding(t, f)).collect();
    let verdict = findings.iter().map(|x| x.verdict).max().unwrap_or(Verdict::Clean);
    let orders_verdict = findings
        .iter()
        .filter(|x| x.signal != Signal::StockPulledAfterSale)
        .map(|x| x.verdict)
        .max()
        .unwrap_or(Verdict::Clean);
    SaleAssessment {
        verdict,
        figures: vec![
            figure("units_announced", f.units_announced, Unit::Count),
            figure("units_sold", f.units_sold, Unit::Count),
            figure("units_short", f.units_short, Unit::Count),
            figure("short_share_of_sold", rate_bps(f.units_short, f.units_sold), Unit::Bps),
            figure("units_pulled", f.units_pulled(), Unit::Count),
        ],
        summary: summary(verdict, orders_verdict, f),
        findings,
    }
}
