#![allow(clippy::float_arithmetic)] // throughput and latency figures, never money or stock

//! `miaodan bench`: measures the platform as its users would, with a live progress bar, a
//! summary table, `--json FILE`, and an audit of the database after every run (non-zero exit
//! if it fails).
//!
//! `--mode engine` drives the shards and the durable store in-process (the engine's own
//! ceiling); `--mode http` drives the real HTTP server over loopback with keep-alive
//! connections. Every acknowledged order is committed (`synchronous=FULL` / `fsync=on`)
//! before its answer, in both modes.

mod after_sales;
mod assistant;
mod checkout;
mod cluster;
mod compass;
mod console;
mod edge;
mod env;
mod flash_sale;
mod fulfillment;
mod http_baseline;
mod report;
mod restart;
mod risk;

use clap::{Args, Subcommand, ValueEnum};
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    scenario: Scenario,
}

impl BenchArgs {
    /// Whether the scenario's own report would drown in the platform's info lines (it opens
    /// the platform again and again).
    pub fn quiet(&self) -> bool {
        matches!(self.scenario, Scenario::Restart(_))
    }
}

#[derive(Subcommand)]
enum Scenario {
    /// One hot SKU, many buyers tapping once (some retrying with the same key).
    FlashSale(FlashSaleArgs),
    /// The flash sale's taps over HTTP against a bare endpoint on the same HTTP stack (no
    /// store, no auth): the ceiling `--mode http` is measured against; with
    /// `--against-flash-sale`, both alternately and miaodan / bare per round.
    HttpBaseline(HttpBaselineArgs),
    /// An ordinary busy hour: many SKUs across shops, multi-line checkouts, payments,
    /// cancellations and expiries.
    Checkout(CheckoutArgs),
    /// Delivery promises and dispatch decisions computed in-process (no store, no HTTP).
    Fulfillment(fulfillment::FulfillmentArgs),
    /// A busy evening of after-sales requests among new orders: the flash-refund rules
    /// in-process, each request's decision, the merchant's queue, refunds through simpay.
    AfterSales(AfterSalesArgs),
    /// The flash sale with and without the outbox's readers (write-path cost, the compass's
    /// lag, its totals audited against the tables), then compass queries over a year of a
    /// busy shop's figures.
    Compass(CompassArgs),
    /// What the merchant console costs the flash sale (one live room open, or none), how soon
    /// its live room shows an order, and how fast its pages get their data with many orders.
    Console(ConsoleArgs),
    /// Risk's rules scored on labelled evenings of honest buyers and scalper rings (drawn by
    /// the crowd simulator, or read from a file): recall, precision, honest buyers refused,
    /// units that reached scalpers with risk off and on; and the cost of a decision.
    Risk(risk::RiskArgs),
    /// Restart time as history grows: stored answers and open orders added in steps, the
    /// platform opened afresh at each and timed to its first answer, phase by phase.
    Restart(restart::RestartArgs),
    /// `miaodan serve --cluster` processes sharing the shards of one PostgreSQL database: the
    /// load sent to each shop's holder and to any member with 1, 2, … members (what sending on
    /// costs), and the failover time when a shard's holder is killed.
    Cluster(cluster::ClusterArgs),
    /// The customer-service assistant on scripted conversations against a seeded world (the
    /// built-in evaluation set, or `--world FILE --conversations FILE`): resolution rate,
    /// intent and slot accuracy, wrong actions, hand-over rate, reply latency.
    Assistant(assistant::AssistantArgs),
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Mode {
    Engine,
    Http,
    /// The flash sale only: an edge gateway's batches of taps over HTTP (`--batch` a request).
    Edge,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Engine => "engine",
            Mode::Http => "http",
            Mode::Edge => "edge",
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum BackendArg {
    Sqlite,
    Postgres,
}

#[derive(Args, Clone)]
pub struct Common {
    #[arg(long, value_enum, default_value = "http")]
    mode: Mode,
    #[arg(long, value_enum, default_value = "sqlite")]
    backend: BackendArg,
    /// For `--backend postgres`: a server URL; a fresh database is created on it.
    #[arg(long)]
    database: Option<String>,
    /// Concurrent clients (keep-alive connections in http mode).
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    #[arg(long, default_value_t = 2)]
    shards: u32,
    /// Engine mode: commands a client hands to a shard at once (a gateway coalescing
    /// requests); 1 sends each command on its own.
    #[arg(long, default_value_t = 64)]
    bundle: usize,
    /// Seed of the workload (which buyers retry, which lines a checkout has).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Also write the summary as JSON to this file.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

#[derive(Args, Clone)]
pub struct FlashSaleArgs {
    #[command(flatten)]
    common: Common,
    /// Units allotted to the sale.
    #[arg(long, default_value_t = 10_000)]
    units: i64,
    /// Distinct buyers, each tapping once.
    #[arg(long, default_value_t = 200_000)]
    buyers: u64,
    /// Percent of buyers who send their tap a second time with the same Idempotency-Key.
    #[arg(long, default_value_t = 5)]
    retry_percent: u32,
    /// Which taps carry an Idempotency-Key (http mode): every tap, or only those of buyers
    /// who retry. Each keyed answer is stored, refusals included.
    #[arg(long, value_enum, default_value = "all")]
    keys: KeysArg,
    /// Risk control on the taps (engine mode): each buyer taps from its own device and flat,
    /// so `on` costs the scoring without refusing anyone.
    #[arg(long, value_enum, default_value = "off")]
    risk: RiskArg,
    /// Edge mode: taps an edge gateway carries in one request (1 to 1 000).
    #[arg(long, default_value_t = 256)]
    batch: usize,
}

#[derive(Args, Clone)]
pub struct HttpBaselineArgs {
    /// The taps sent: the flash sale's buyers, retries, keys and connections (`--mode` is
    /// ignored: always over HTTP; the sale's own options count with `--against-flash-sale`).
    #[command(flatten)]
    sale: FlashSaleArgs,
    /// Also run the flash sale over HTTP, alternately with the bare endpoint, and report
    /// miaodan / bare requests/s per round and its median.
    #[arg(long)]
    against_flash_sale: bool,
    /// Pairs of runs with `--against-flash-sale`, alternating which goes first.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Clients take no new tap after this many seconds of a run (its figures are over the
    /// taps sent).
    #[arg(long, default_value_t = 60)]
    run_seconds_max: u64,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum RiskArg {
    Off,
    Shadow,
    On,
}

impl From<RiskArg> for miaodan_domain::risk::RiskMode {
    fn from(arg: RiskArg) -> Self {
        match arg {
            RiskArg::Off => Self::Off,
            RiskArg::Shadow => Self::Shadow,
            RiskArg::On => Self::On,
        }
    }
}

#[derive(Args, Clone)]
pub struct CompassArgs {
    /// The sale each run places (always through the engine: `--mode` is ignored).
    #[command(flatten)]
    sale: FlashSaleArgs,
    /// Pairs of runs (without readers, with them), alternating which goes first.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Orders a year of one shop's minute figures adds up to, for the query figures.
    #[arg(long, default_value_t = 10_000_000)]
    history_orders: i64,
    /// Queries of each kind (a year by day, a month by hour, a day by minute).
    #[arg(long, default_value_t = 200)]
    queries: u32,
}

#[derive(Args, Clone)]
pub struct ConsoleArgs {
    /// The sale each run places over HTTP (`--mode` is ignored).
    #[command(flatten)]
    sale: FlashSaleArgs,
    /// Pairs of runs (nobody watching, a live room open), alternating which goes first.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Orders of the shop the pages are read from.
    #[arg(long, default_value_t = 1_000_000)]
    orders: i64,
    /// Times each page request is sent per measured pass (two passes after a warm-up).
    #[arg(long, default_value_t = 200)]
    queries: u32,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum KeysArg {
    All,
    Retrying,
}

#[derive(Args, Clone)]
pub struct CheckoutArgs {
    #[command(flatten)]
    common: Common,
    /// Checkouts to place.
    #[arg(long, default_value_t = 50_000)]
    checkouts: u64,
    #[arg(long, default_value_t = 3)]
    shops: u64,
    #[arg(long, default_value_t = 100)]
    skus_per_shop: u64,
    #[arg(long, default_value_t = 2_000)]
    buyers: u64,
}

#[derive(Args, Clone)]
pub struct AfterSalesArgs {
    #[command(flatten)]
    common: Common,
    /// After-sales requests on orders placed and paid before the evening (some since shipped
    /// or delivered).
    #[arg(long, default_value_t = 2_000)]
    requests: u64,
    /// Orders placed and paid during the evening (some then cancelled by their buyer).
    #[arg(long, default_value_t = 1_000)]
    orders: u64,
    #[arg(long, default_value_t = 4)]
    shops: u64,
    #[arg(long, default_value_t = 2_000)]
    buyers: u64,
    /// Rule decisions in the in-process loop over prepared facts.
    #[arg(long, default_value_t = 2_000_000)]
    decisions: u64,
}

/// What clients saw, added up over clients.
trait Merge: Default {
    fn merge(&mut self, other: Self);
}

/// What one client saw.
pub struct Tally {
    requests: u64,
    ordered: u64,
    errors: u64,
    duplicates: u64,
    refusals: BTreeMap<String, u64>,
    latency: Histogram<u64>,
    /// Orders paid by a capture, and how long each payment confirmation took.
    paid: u64,
    confirm_latency: Histogram<u64>,
}

impl Default for Tally {
    fn default() -> Tally {
        Tally {
            requests: 0,
            ordered: 0,
            errors: 0,
            duplicates: 0,
            refusals: BTreeMap::new(),
            latency: report::histogram(),
            paid: 0,
            confirm_latency: report::histogram(),
        }
    }
}

impl Tally {
    fn record(&mut self, elapsed: Duration) {
        self.requests += 1;
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX).max(1);
        let _ = self.latency.record(micros.min(self.latency.high()));
    }

    /// A payment confirmation: a request like any other, and a sample of its own latency.
    fn record_confirm(&mut self, elapsed: Duration) {
        self.record(elapsed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX).max(1);
        let _ = self.confirm_latency.record(micros.min(self.confirm_latency.high()));
    }

    /// Hands `commands` to the shard of `shop` as one bundle; every command's latency is the
    /// bundle's round trip. `None` answers mean the bundle failed (counted as refusals).
    async fn bundle(
        &mut self,
        env: &env::Env,
        shop: miaodan_domain::ShopId,
        commands: Vec<miaodan_domain::shard::Command>,
        bar: &ProgressBar,
    ) -> Vec<Option<miaodan_domain::shard::Outcome>> {
        let n = commands.len();
        let sent = std::time::Instant::now();
        let answer = env.state.shards.submit_bundle(shop, commands).await;
        let elapsed = sent.elapsed();
        for _ in 0..n {
            self.record(elapsed);
        }
        bar.inc(n as u64);
        match answer {
            Ok(outcomes) => outcomes.into_iter().map(Some).collect(),
            Err(error) => {
                for _ in 0..n {
                    self.refuse(miaodan_server::http::problem::ApiError::from(error.clone()).code);
                }
                vec![None; n]
            }
        }
    }

    fn refuse(&mut self, code: &str) {
        *self
            .refusals
            .entry(if code.is_empty() {
                "unknown".into()
            } else {
                code.to_string()
            })
            .or_default() += 1;
    }
}

impl Merge for Tally {
    fn merge(&mut self, other: Tally) {
        self.requests += other.requests;
        self.ordered += other.ordered;
        self.errors += other.errors;
        self.duplicates += other.duplicates;
        for (code, n) in other.refusals {
            *self.refusals.entry(code).or_default() += n;
        }
        let _ = self.latency.add(&other.latency);
        self.paid += other.paid;
        let _ = self.confirm_latency.add(&other.confirm_latency);
    }
}

/// [`gather`] with each client a task of its own, so the load generator runs on every worker
/// thread instead of the one that awaits it.
async fn gather_spawned<T, F>(
    clients: impl IntoIterator<Item = F>,
    started: std::time::Instant,
    bar: &ProgressBar,
) -> anyhow::Result<(T, f64)>
where
    T: Merge + Send + 'static,
    F: std::future::Future<Output = anyhow::Result<T>> + Send + 'static,
{
    // join_all polls every wrapper at once, so every client is spawned at the start.
    let spawned = clients.into_iter().map(|client| async { tokio::spawn(client).await? });
    gather(spawned, started, bar).await
}

/// Runs the clients to the end and adds up what they saw; the duration runs from `started`
/// until the last client is done.
async fn gather<T, F>(
    clients: impl IntoIterator<Item = F>,
    started: std::time::Instant,
    bar: &ProgressBar,
) -> anyhow::Result<(T, f64)>
where
    T: Merge,
    F: std::future::Future<Output = anyhow::Result<T>>,
{
    let results = futures::future::join_all(clients).await;
    let duration = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let mut tally = T::default();
    for result in results {
        tally.merge(result?);
    }
    Ok((tally, duration))
}

/// The middle of `values` (the upper middle of an even count); 0 for none.
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
}

fn progress(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    let template = format!("{{spinner}} {what} [{{bar:40}}] {{pos}}/{{len}} {{per_sec}} eta {{eta}}");
    bar.set_style(ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_bar()));
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// A scenario's id, made by its type's constructor (`ShopId::new`, …).
fn id<T>(raw: i64, make: fn(i64) -> Option<T>) -> anyhow::Result<T> {
    make(raw).ok_or_else(|| anyhow::anyhow!("id {raw}"))
}

/// A scenario's text, with why it was refused if it was.
fn text<const N: usize>(raw: &str) -> anyhow::Result<miaodan_domain::catalog::Text<N>> {
    miaodan_domain::catalog::Text::parse(raw).map_err(|e| anyhow::anyhow!("{raw:?} {}", text_refusal(e)))
}

/// Why a scenario's text was refused, for a person: "is empty", "is longer than 200 characters"…
fn text_refusal(error: miaodan_domain::catalog::TextError) -> String {
    use miaodan_domain::catalog::TextError;
    match error {
        TextError::Empty => "is empty".into(),
        TextError::TooLong { max_chars } => format!("is longer than {max_chars} characters"),
        TextError::ControlCharacter => "contains a control character".into(),
    }
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if let Scenario::Fulfillment(args) = &args.scenario {
        return fulfillment::run(args);
    }
    if let Scenario::Risk(args) = &args.scenario {
        return risk::run(args).await;
    }
    if let Scenario::Assistant(args) = &args.scenario {
        return assistant::run(args).await;
    }
    if let Scenario::Restart(args) = &args.scenario {
        return restart::run(args).await;
    }
    if let Scenario::Cluster(args) = &args.scenario {
        return cluster::run(args).await;
    }
    let (summary, json) = match args.scenario {
        Scenario::FlashSale(args) => (flash_sale::run(&args).await?, args.common.json.clone()),
        Scenario::HttpBaseline(args) => (http_baseline::run(&args).await?, args.sale.common.json.clone()),
        Scenario::Checkout(args) => (checkout::run(&args).await?, args.common.json.clone()),
        Scenario::AfterSales(args) => (after_sales::run(&args).await?, args.common.json.clone()),
        Scenario::Compass(args) => (compass::run(&args).await?, args.sale.common.json.clone()),
        Scenario::Console(args) => (console::run(&args).await?, args.sale.common.json.clone()),
        Scenario::Fulfillment(_)
        | Scenario::Risk(_)
        | Scenario::Assistant(_)
        | Scenario::Restart(_)
        | Scenario::Cluster(_) => {
            unreachable!("answered above")
        }
    };
    summary.print_table();
    if let Some(path) = json {
        std::fs::write(&path, serde_json::to_string_pretty(&summary)?)?;
        println!("\n  summary written to {}", path.display());
    }
    anyhow::ensure!(summary.audit_passed, "the audit of the database failed");
    Ok(())
}
