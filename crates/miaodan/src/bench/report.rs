//! The benchmark's summary: a table for people, JSON (`--json FILE`) for machines.

use hdrhistogram::Histogram;
use serde::Serialize;

#[derive(Debug, Default, Serialize, Clone, Copy)]
pub struct Latency {
    pub p50: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

impl Latency {
    pub fn of(histogram: &Histogram<u64>) -> Latency {
        Latency {
            p50: histogram.value_at_quantile(0.50),
            p99: histogram.value_at_quantile(0.99),
            p999: histogram.value_at_quantile(0.999),
            max: histogram.max(),
        }
    }
}

/// A latency histogram in microseconds, 1 µs to 60 s at 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3)
        .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!()))
}

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub scenario: String,
    pub mode: String,
    pub backend: String,
    pub shards: u32,
    pub concurrency: usize,
    pub requests: u64,
    pub orders_created: u64,
    pub units_initial: i64,
    pub units_sold: i64,
    pub oversold: i64,
    pub duplicate_orders: i64,
    pub limit_violations: i64,
    pub errors: u64,
    /// Refusals by code (`sold_out`, `limit_reached`, `insufficient_stock`, `overloaded`, …).
    pub refusals: std::collections::BTreeMap<String, u64>,
    pub throughput_per_s: f64,
    pub orders_per_s: f64,
    pub latency_us: Latency,
    /// Payment confirmations (checkout scenario): in engine mode measured around the server's
    /// own confirmation code (provider call and commits), in http mode around the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_confirm_latency_us: Option<Latency>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paid_orders: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paid_orders_per_s: Option<f64>,
    /// The after-sales scenario's own figures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_sales: Option<AfterSalesFigures>,
    /// The compass scenario's own figures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compass: Option<super::compass::CompassBenchFigures>,
    /// The console scenario's own figures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console: Option<super::console::ConsoleBenchFigures>,
    /// `bench http-baseline --against-flash-sale`'s rounds: the bare endpoint beside the sale.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_baseline: Option<super::http_baseline::HttpBaselineFigures>,
    pub duration_s: f64,
    pub audit_passed: bool,
    pub audit: Vec<String>,
    pub machine: String,
}

/// What `bench after-sales` measures besides what every scenario does.
#[derive(Debug, Default, Serialize, Clone)]
pub struct AfterSalesFigures {
    /// Rule decisions of the in-process loop (one thread, prepared facts), and their rate.
    pub rule_decisions: u64,
    pub rule_decisions_per_s: f64,
    /// Requests opened or refused (first sends; a retry with the same key is not counted).
    pub requests: u64,
    pub approved_by_rules: u64,
    pub refused_by_rules: u64,
    pub to_merchant: u64,
    pub merchant_approved: u64,
    pub merchant_refused: u64,
    /// (approved + refused by the rules) / requests.
    pub automatic_share: f64,
    /// A request's round trip when the rules decided it (approved: refund included, as the
    /// handler starts it before it answers; or refused).
    pub automatic_latency_us: Latency,
    /// The approved ones among them (the refund's commits and provider call included).
    pub approved_by_rules_latency_us: Latency,
    /// A request's round trip when the rules passed it to the merchant.
    pub to_merchant_latency_us: Latency,
    /// Rule-approved requests whose refund the provider settled, and how many of them within
    /// a minute of the request (database times: the request's opening, the refund's settling).
    pub rule_approved_refunded: u64,
    pub refunded_within_a_minute: u64,
    pub refund_delay_ms: Latency,
}

impl AfterSalesFigures {
    fn rows(&self) -> Vec<(&'static str, String)> {
        let l = |l: &Latency| format!("p50 {}  p99 {}  p99.9 {}  max {}", l.p50, l.p99, l.p999, l.max);
        vec![
            (
                "rule decisions",
                format!(
                    "{:.0}/s in-process ({} decisions, 1 thread)",
                    self.rule_decisions_per_s, self.rule_decisions
                ),
            ),
            (
                "after-sales requests",
                format!(
                    "{}: {} approved and {} refused by the rules, {} to the merchant ({} approved, {} refused)",
                    self.requests,
                    self.approved_by_rules,
                    self.refused_by_rules,
                    self.to_merchant,
                    self.merchant_approved,
                    self.merchant_refused
                ),
            ),
            (
                "decided automatically",
                format!("{:.1} %", self.automatic_share * 100.0),
            ),
            ("automatic decision µs", l(&self.automatic_latency_us)),
            ("  of which approved µs", l(&self.approved_by_rules_latency_us)),
            ("to the merchant µs", l(&self.to_merchant_latency_us)),
            (
                "rule-approved refunds",
                format!(
                    "{} of {} settled within a minute; request → refund ms {}",
                    self.refunded_within_a_minute,
                    self.rule_approved_refunded,
                    l(&self.refund_delay_ms)
                ),
            ),
        ]
    }
}

impl Summary {
    /// What every scenario fills alike: the run's shape, what its clients saw, and its audit
    /// (`checks`: each a pass/fail and what was checked). Scenario figures are left at zero.
    pub fn of_run(
        scenario: &str,
        common: &super::Common,
        backend: &str,
        tally: &super::Tally,
        duration: f64,
        checks: Vec<(bool, String)>,
    ) -> Summary {
        Summary {
            scenario: scenario.into(),
            mode: common.mode.name().into(),
            backend: backend.into(),
            shards: common.shards,
            concurrency: common.concurrency,
            requests: tally.requests,
            orders_created: tally.ordered,
            errors: tally.errors,
            refusals: tally.refusals.clone(),
            throughput_per_s: tally.requests as f64 / duration,
            orders_per_s: tally.ordered as f64 / duration,
            latency_us: Latency::of(&tally.latency),
            payment_confirm_latency_us: (!tally.confirm_latency.is_empty())
                .then(|| Latency::of(&tally.confirm_latency)),
            paid_orders: (tally.paid > 0).then_some(tally.paid),
            paid_orders_per_s: (tally.paid > 0).then(|| tally.paid as f64 / duration),
            duration_s: duration,
            audit_passed: checks.iter().all(|(ok, _)| *ok),
            audit: checks
                .into_iter()
                .map(|(ok, what)| format!("{} {what}", if ok { "ok  " } else { "FAIL" }))
                .collect(),
            machine: machine(),
            ..Summary::default()
        }
    }

    pub fn print_table(&self) {
        let mut rows: Vec<(&str, String)> = vec![
            (
                "scenario",
                format!(
                    "{} ({} mode, {}, {} shards, concurrency {})",
                    self.scenario, self.mode, self.backend, self.shards, self.concurrency
                ),
            ),
            ("requests", self.requests.to_string()),
            ("orders created", self.orders_created.to_string()),
            (
                "units initial / sold",
                format!("{} / {}", self.units_initial, self.units_sold),
            ),
            ("refusals", refusal_counts(&self.refusals)),
            ("errors", self.errors.to_string()),
            ("throughput", format!("{:.0} requests/s", self.throughput_per_s)),
            ("orders", format!("{:.0} committed orders/s", self.orders_per_s)),
            (
                "latency µs",
                format!(
                    "p50 {}  p99 {}  p99.9 {}  max {}",
                    self.latency_us.p50, self.latency_us.p99, self.latency_us.p999, self.latency_us.max
                ),
            ),
            ("duration", format!("{:.2} s", self.duration_s)),
            (
                "payments",
                match (&self.payment_confirm_latency_us, self.paid_orders_per_s) {
                    (Some(l), Some(per_s)) => format!(
                        "{} orders paid, {per_s:.0} paid orders/s; confirmation µs p50 {}  p99 {}  max {}",
                        self.paid_orders.unwrap_or(0),
                        l.p50,
                        l.p99,
                        l.max
                    ),
                    _ => "none".into(),
                },
            ),
        ];
        rows.extend(self.after_sales.iter().flat_map(AfterSalesFigures::rows));
        rows.extend(self.compass.iter().flat_map(super::compass::CompassBenchFigures::rows));
        rows.extend(self.console.iter().flat_map(super::console::ConsoleBenchFigures::rows));
        rows.extend(
            self.http_baseline
                .iter()
                .flat_map(super::http_baseline::HttpBaselineFigures::rows),
        );
        rows.extend([
            (
                "oversold / duplicates / over limit",
                format!(
                    "{} / {} / {}",
                    self.oversold, self.duplicate_orders, self.limit_violations
                ),
            ),
            (
                "audit of the database",
                if self.audit_passed {
                    "PASSED".to_string()
                } else {
                    "FAILED".to_string()
                },
            ),
        ]);
        print_rows(&rows, &self.audit);
    }
}

/// A report's rows as a two-column table, keys aligned, then the audit's lines.
pub fn print_rows(rows: &[(&str, String)], audit: &[String]) {
    let width = rows.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0);
    println!();
    for (key, value) in rows {
        println!("  {key:<width$}  {value}");
    }
    for line in audit {
        println!("    - {line}");
    }
}

pub fn machine() -> String {
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cpus} cores, {model}")
}

/// `sold_out 190000, limit_reached 12` (or `none`), in code order.
fn refusal_counts(refusals: &std::collections::BTreeMap<String, u64>) -> String {
    if refusals.is_empty() {
        return "none".into();
    }
    let counts: Vec<String> = refusals.iter().map(|(code, n)| format!("{code} {n}")).collect();
    counts.join(", ")
}
