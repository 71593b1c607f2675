#![allow(clippy::float_arithmetic)] // rates and timings, never money or stock

//! `miaodan bench risk`: risk's rules scored against labelled traffic. Each evening — drawn by
//! the crowd simulator (`simcrowd`) from a seed, or read from a JSONL file (`--traffic`) — is
//! replayed tap by tap, in time order and at its own times, through a shard's
//! `ShardState::apply` (the same code a served tap runs) twice: with risk off and with risk on.
//! Only the scoring reads the labels.
//!
//! Per strategy and overall: recall (scalper accounts refused at least once), precision (of the
//! accounts refused, the scalpers), honest accounts challenged and blocked, and the share of the
//! sale's units that reached scalpers with risk off and on. Then the decision's cost: every tap
//! of the evenings assessed by a fresh `RiskBook`, timed.

use super::{BackendArg, Common, FlashSaleArgs, KeysArg, Mode, RiskArg, id, median, progress, text};
use miaodan_domain::flash_sale::FlashSaleId;
use miaodan_domain::geo::Adcode;
use miaodan_domain::orders::{Address, AddressDetail};
use miaodan_domain::risk::{
    Assessment, ClientSignals, RiskBook, RiskMode, RiskRequest, RuleSet, Subject, Verdict, address_key, fingerprint,
};
use miaodan_domain::shard::{Command, Outcome, Rejection, ScheduleFlashSale, ShardState, Tap};
use miaodan_domain::shard::{CreateShop, CreateWarehouse, SetStock};
use miaodan_domain::{BuyerId, CheckoutId, Fen, OrderId, Quantity, ShopId, SkuId, Timestamp, WarehouseId};
use miaodan_server::http::risk::{CREDENTIAL_TAG, DEVICE_TAG, ip_prefix};
use serde::Serialize;
use simcrowd::{CrowdSpec, Evening, Label, RingSpec, SaleSpec, Strategy};
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

#[derive(clap::Args, Clone)]
pub struct RiskArgs {
    /// Seeds of the evenings to draw. The standard rules were tuned on seed 1 only: the
    /// others are the honest figures.
    #[arg(long, value_delimiter = ',', default_values_t = [1u64, 2, 3])]
    seeds: Vec<u64>,
    /// Honest buyers per evening.
    #[arg(long, default_value_t = 20_000)]
    honest: u32,
    /// Accounts per scalper ring (one ring of each strategy).
    #[arg(long, default_value_t = 60)]
    ring_accounts: u32,
    /// Units of the evening's flash sale.
    #[arg(long, default_value_t = 2_000)]
    units: u32,
    /// Score the labelled traffic in this JSONL file (simcrowd's format) instead of drawing.
    #[arg(long)]
    traffic: Option<std::path::PathBuf>,
    /// Buyers of the flash sale run through the engine (SQLite, committed) with risk off and
    /// on, twice each, alternating: what scoring costs the tap path. 0 skips it.
    #[arg(long, default_value_t = 100_000)]
    throughput_buyers: u64,
    /// Also write the summary as JSON to this file.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

/// What happened to one kind of account in one replay.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Outcomes {
    pub accounts: u64,
    /// Accounts with at least one tap challenged (and none blocked).
    pub challenged: u64,
    /// Accounts with at least one tap blocked.
    pub blocked: u64,
    pub units: u64,
}

/// One evening's replay, by label (`honest` or the strategy's name).
type ByLabel = BTreeMap<String, Outcomes>;

#[derive(Debug, Serialize)]
pub struct EveningScore {
    pub source: String,
    pub taps: usize,
    pub units: u64,
    pub risk_off: ByLabel,
    pub risk_on: ByLabel,
    /// The rules that fired in refused taps, by label.
    pub refused_because: BTreeMap<String, BTreeMap<String, u64>>,
}

#[derive(Debug, Serialize)]
pub struct RiskSummary {
    pub scenario: &'static str,
    pub rule_set_version: u32,
    pub evenings: Vec<EveningScore>,
    pub decisions_timed: u64,
    pub decision_ns_mean: f64,
    /// Committed orders/s of the engine's flash sale, per run.
    pub orders_per_s_risk_off: Vec<f64>,
    pub orders_per_s_risk_on: Vec<f64>,
}

fn label_name(label: Label) -> String {
    match label {
        Label::Honest => "honest".into(),
        Label::Scalper(strategy) => format!("{strategy:?}"),
    }
}

const SHOP: i64 = 1;
const WAREHOUSE: i64 = 1;
const SKU: i64 = 1;
const SALE: i64 = 1;

/// A shard with one shop selling the evening's units from one warehouse, risk in `mode`.
fn shard(evening: &Evening, mode: RiskMode) -> anyhow::Result<ShardState> {
    let mut state = ShardState::default();
    let shop = id(SHOP, ShopId::new)?;
    let start = Timestamp::from_unix_ms(evening.sale.starts_at_ms);
    let mut setup = |command: Command| -> anyhow::Result<()> {
        let outcome = state.apply(command, start.plus_seconds(-3_600), &mut Vec::new());
        anyhow::ensure!(!matches!(outcome, Outcome::Rejected(_)), "setup refused: {outcome:?}");
        Ok(())
    };
    setup(Command::from(CreateShop {
        id: shop,
        name: text("秒单直播间")?,
        category: Default::default(),
    }))?;
    setup(Command::from(CreateWarehouse {
        id: id(WAREHOUSE, WarehouseId::new)?,
        shop,
        name: text("杭州余杭仓")?,
        location: Adcode::parse("330110000000").ok_or_else(|| anyhow::anyhow!("adcode"))?,
    }))?;
    setup(super::flash_sale::cup(1, shop, id(SKU, SkuId::new)?)?)?;
    setup(Command::from(SetStock {
        shop,
        sku: id(SKU, SkuId::new)?,
        warehouse: id(WAREHOUSE, WarehouseId::new)?,
        available: i64::from(evening.sale.units),
    }))?;
    setup(Command::from(ScheduleFlashSale {
        id: id(SALE, FlashSaleId::new)?,
        shop,
        sku: id(SKU, SkuId::new)?,
        warehouse: id(WAREHOUSE, WarehouseId::new)?,
        starts_at: start,
        ends_at: start.plus_seconds(3_600),
        price: Fen::price(990).ok_or_else(|| anyhow::anyhow!("price"))?,
        units: i64::from(evening.sale.units),
        per_buyer_limit: i64::from(evening.sale.per_buyer_limit),
        payment_timeout_seconds: 3_600,
    }))?;
    state.set_risk_policy(RuleSet::standard(), mode);
    Ok(state)
}

/// A tap as the shard gets it: the address parsed, what the request says of its sender hashed
/// as the HTTP edge hashes it, the account's opening from the account line.
struct Prepared {
    at: Timestamp,
    buyer: BuyerId,
    address: Address,
    client: ClientSignals,
}

fn prepare(evening: &Evening) -> anyhow::Result<Vec<Prepared>> {
    let opened: HashMap<u64, i64> = evening.accounts.iter().map(|a| (a.buyer, a.created_at_ms)).collect();
    evening
        .taps
        .iter()
        .map(|tap| {
            let ip: std::net::IpAddr = tap.ip.parse()?;
            let detail = AddressDetail::parse(&tap.detail).map_err(|e| anyhow::anyhow!("{e}"))?;
            let adcode = Adcode::parse(&tap.adcode).ok_or_else(|| anyhow::anyhow!("adcode {}", tap.adcode))?;
            Ok(Prepared {
                at: Timestamp::from_unix_ms(tap.at_ms),
                buyer: id(i64::try_from(tap.buyer)?, BuyerId::new)?,
                address: Address { adcode, detail },
                client: ClientSignals {
                    device: tap.device.as_ref().map(|d| fingerprint(DEVICE_TAG, d.as_bytes())),
                    ip_prefix: Some(ip_prefix(ip)),
                    credential: tap
                        .credential
                        .as_ref()
                        .map(|c| fingerprint(CREDENTIAL_TAG, c.as_bytes())),
                    account_opened_at: opened.get(&tap.buyer).map(|&ms| Timestamp::from_unix_ms(ms)),
                    // As the HTTP edge does, before the shard.
                    address_key: Some(address_key(adcode, &tap.detail)),
                    history: None,
                },
            })
        })
        .collect()
}

/// Replays the taps through a shard with risk in `mode`: what each kind of account got.
fn replay(evening: &Evening, taps: &[Prepared], mode: RiskMode) -> anyhow::Result<ByLabel> {
    let mut state = shard(evening, mode)?;
    let label_of: HashMap<u64, Label> = evening.accounts.iter().map(|a| (a.buyer, a.label)).collect();
    let mut worst: HashMap<u64, Verdict> = HashMap::new();
    let mut units: HashMap<u64, u64> = HashMap::new();
    let mut effects = Vec::new();
    for (n, tap) in taps.iter().enumerate() {
        let order = i64::try_from(n + 1)?;
        let command = Command::from(Tap {
            sale: id(SALE, FlashSaleId::new)?,
            order: id(order, OrderId::new)?,
            checkout: id(order, CheckoutId::new)?,
            buyer: tap.buyer,
            quantity: Quantity::new(1).ok_or_else(|| anyhow::anyhow!("quantity"))?,
            address: tap.address.clone(),
            request: None,
            client: tap.client,
        });
        effects.clear();
        let buyer = u64::try_from(tap.buyer.get())?;
        match state.apply(command, tap.at, &mut effects) {
            Outcome::OrderPlaced(_) => *units.entry(buyer).or_default() += 1,
            Outcome::Rejected(Rejection::Risk(refusal)) => {
                let seen = worst.entry(buyer).or_insert(Verdict::Allow);
                *seen = (*seen).max(refusal.verdict);
            }
            _ => {}
        }
    }
    let mut by_label = ByLabel::new();
    for account in &evening.accounts {
        let outcome = by_label.entry(label_name(label_of[&account.buyer])).or_default();
        outcome.accounts += 1;
        outcome.units += units.get(&account.buyer).copied().unwrap_or(0);
        match worst.get(&account.buyer) {
            Some(Verdict::Block) => outcome.blocked += 1,
            Some(Verdict::Challenge) => outcome.challenged += 1,
            _ => {}
        }
    }
    Ok(by_label)
}

fn spec(args: &RiskArgs, seed: u64) -> CrowdSpec {
    CrowdSpec {
        seed,
        honest_buyers: args.honest,
        rings: Strategy::ALL
            .into_iter()
            .map(|strategy| RingSpec {
                strategy,
                accounts: args.ring_accounts,
            })
            .collect(),
        sale: SaleSpec {
            starts_at_ms: 1_795_399_200_000,
            units: args.units,
            per_buyer_limit: 1,
        },
    }
}

/// Every tap of an evening assessed by a fresh book, timed, as the shard assesses it (every
/// tap, before the sale's own checks): the assessments and the seconds they took.
fn assess_all(evening: &Evening, taps: &[Prepared]) -> (Vec<Assessment>, f64) {
    let mut book = RiskBook::new(RuleSet::standard(), RiskMode::On);
    let starts_at = Timestamp::from_unix_ms(evening.sale.starts_at_ms);
    let sale = FlashSaleId::new(1).expect("positive");
    let mut assessments = Vec::with_capacity(taps.len());
    let started = Instant::now();
    for tap in taps {
        let context = RiskRequest {
            buyer: tap.buyer,
            subject: Subject::Tap { sale },
            sale_starts_at: Some(starts_at),
            strict: false,
            address: Some(&tap.address),
            client: &tap.client,
        };
        assessments.push(book.assess(&context, tap.at));
    }
    (assessments, started.elapsed().as_secs_f64())
}

/// The rules that fired in the taps risk refused, by label and rule: why each kind of account
/// was refused.
fn reasons(
    evening: &Evening,
    taps: &[Prepared],
    assessments: &[Assessment],
) -> BTreeMap<String, BTreeMap<String, u64>> {
    let label_of: HashMap<u64, Label> = evening.accounts.iter().map(|a| (a.buyer, a.label)).collect();
    let mut reasons: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for (tap, assessment) in taps.iter().zip(assessments) {
        if !assessment.verdict.refuses() {
            continue;
        }
        let label = u64::try_from(tap.buyer.get())
            .ok()
            .and_then(|b| label_of.get(&b).copied());
        let by_rule = reasons.entry(label.map_or("unknown".into(), label_name)).or_default();
        for fired in &assessment.fired {
            *by_rule.entry(fired.code.clone()).or_default() += 1;
        }
    }
    reasons
}

/// The engine's flash sale with risk off and on, alternating which goes first: committed
/// orders/s of each run, (off, on).
async fn throughput(buyers: u64) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let (mut off, mut on) = (Vec::new(), Vec::new());
    if buyers == 0 {
        return Ok((off, on));
    }
    for round in 0..2 {
        let order = if round == 0 {
            [RiskArg::Off, RiskArg::On]
        } else {
            [RiskArg::On, RiskArg::Off]
        };
        for risk in order {
            eprintln!("the flash sale through the engine, risk {risk:?}");
            let args = FlashSaleArgs {
                common: Common {
                    mode: Mode::Engine,
                    backend: BackendArg::Sqlite,
                    database: None,
                    concurrency: 256,
                    shards: 2,
                    bundle: 64,
                    seed: 42,
                    json: None,
                },
                units: i64::try_from(buyers)?,
                buyers,
                retry_percent: 0,
                keys: KeysArg::All,
                risk,
                batch: 256,
            };
            let summary = super::flash_sale::run(&args).await?;
            anyhow::ensure!(summary.audit_passed, "the audit of the database failed");
            anyhow::ensure!(summary.refusals.is_empty(), "refusals: {:?}", summary.refusals);
            match risk {
                RiskArg::On => on.push(summary.orders_per_s),
                _ => off.push(summary.orders_per_s),
            }
        }
    }
    Ok((off, on))
}

pub async fn run(args: &RiskArgs) -> anyhow::Result<()> {
    let mut evenings = Vec::new();
    match &args.traffic {
        Some(path) => {
            let file = std::io::BufReader::new(std::fs::File::open(path)?);
            let evening = simcrowd::read_jsonl(file).map_err(|e| anyhow::anyhow!("{}: {e:?}", path.display()))?;
            evenings.push((path.display().to_string(), evening));
        }
        None => {
            for &seed in &args.seeds {
                evenings.push((format!("seed {seed}"), simcrowd::evening(&spec(args, seed))));
            }
        }
    }
    let bar = progress(evenings.len() as u64 * 3, "replays");
    let mut scores = Vec::new();
    let (mut decisions_timed, mut seconds) = (0u64, 0.0);
    for (source, evening) in evenings {
        let taps = prepare(&evening)?;
        let risk_off = replay(&evening, &taps, RiskMode::Off)?;
        bar.inc(1);
        let risk_on = replay(&evening, &taps, RiskMode::On)?;
        bar.inc(1);
        let (assessments, took) = assess_all(&evening, &taps);
        bar.inc(1);
        decisions_timed += taps.len() as u64;
        seconds += took;
        scores.push(EveningScore {
            source,
            taps: taps.len(),
            units: u64::from(evening.sale.units),
            risk_off,
            risk_on,
            refused_because: reasons(&evening, &taps, &assessments),
        });
    }
    bar.finish_and_clear();
    let decision_ns_mean = seconds * 1e9 / decisions_timed.max(1) as f64;
    let (orders_per_s_risk_off, orders_per_s_risk_on) = throughput(args.throughput_buyers).await?;
    let summary = RiskSummary {
        scenario: "risk",
        rule_set_version: RuleSet::standard().version,
        evenings: scores,
        decisions_timed,
        decision_ns_mean,
        orders_per_s_risk_off,
        orders_per_s_risk_on,
    };
    print_summary(&summary);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&summary)?)?;
        println!("\n  summary written to {}", path.display());
    }
    Ok(())
}

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "-".into();
    }
    format!("{:.2} %", part as f64 * 100.0 / whole as f64)
}

fn print_summary(summary: &RiskSummary) {
    for evening in &summary.evenings {
        println!(
            "\n  {} — {} taps, {} units",
            evening.source, evening.taps, evening.units
        );
        println!(
            "  {:<18} {:>8} {:>10} {:>10} {:>10} {:>16} {:>16}",
            "accounts", "count", "refused", "challenged", "blocked", "units risk off", "units risk on"
        );
        let mut flagged_scalpers = 0;
        let mut scalpers = 0;
        let mut flagged_all = 0;
        let (mut scalper_units_off, mut scalper_units_on) = (0, 0);
        for (label, on) in &evening.risk_on {
            let off = evening.risk_off.get(label).copied().unwrap_or_default();
            let refused = on.challenged + on.blocked;
            println!(
                "  {:<18} {:>8} {:>10} {:>10} {:>10} {:>16} {:>16}",
                label,
                on.accounts,
                percent(refused, on.accounts),
                percent(on.challenged, on.accounts),
                percent(on.blocked, on.accounts),
                format!("{} ({})", off.units, percent(off.units, evening.units)),
                format!("{} ({})", on.units, percent(on.units, evening.units)),
            );
            flagged_all += refused;
            if label != "honest" {
                flagged_scalpers += refused;
                scalpers += on.accounts;
                scalper_units_off += off.units;
                scalper_units_on += on.units;
            }
        }
        for (label, rules) in &evening.refused_because {
            let rules: Vec<String> = rules.iter().map(|(rule, n)| format!("{rule} {n}")).collect();
            println!("  refused {label} taps fired: {}", rules.join(", "));
        }
        println!(
            "  scalpers: recall {}, precision {}; units to scalpers: risk off {}, risk on {}",
            percent(flagged_scalpers, scalpers),
            percent(flagged_scalpers, flagged_all),
            percent(scalper_units_off, evening.units),
            percent(scalper_units_on, evening.units),
        );
    }
    println!(
        "\n  decision cost: {:.0} ns per tap (mean of {} decisions, every tap of each evening through a fresh book)",
        summary.decision_ns_mean, summary.decisions_timed
    );
    let (off, on) = (&summary.orders_per_s_risk_off, &summary.orders_per_s_risk_on);
    if !off.is_empty() && !on.is_empty() {
        let runs = |runs: &[f64]| runs.iter().map(|r| format!("{r:.0}")).collect::<Vec<_>>().join(", ");
        println!(
            "  the flash sale through the engine (committed orders/s): risk off {:.0} ({}), risk on {:.0} ({}): on / off {:.3}",
            median(off),
            runs(off),
            median(on),
            runs(on),
            median(on) / median(off)
        );
    }
}
