//! `miaodan bench fulfillment`: how fast the core computes delivery promises and dispatch
//! decisions, in-process (no store, no HTTP): the rules themselves are the figure.
//!
//! The world is real reference data: warehouses in eight large cities, buyers at addresses
//! drawn from all 3 511 divisions, carts of one to three lines from 200 SKUs, the official
//! holiday calendar, capacity booked as dispatch takes it. Each thread owns its copy of the
//! world (the shard does the same: one writer per shard, no locks on the hot path).

use super::progress;
use clap::Args;
use hdrhistogram::Histogram;
use miaodan_domain::fulfillment::calendar::Calendar;
use miaodan_domain::fulfillment::capacity::CapacityBook;
use miaodan_domain::fulfillment::dispatch::{DispatchInput, decide_dispatch};
use miaodan_domain::fulfillment::network::{
    CutoffRegion, CutoffTime, FulfillmentSettings, OperatingHours, ServiceLevel, WarehouseSite,
};
use miaodan_domain::fulfillment::promise::{Destination, Promise, PromiseContext, delivery_options};
use miaodan_domain::geo::{Adcode, divisions};
use miaodan_domain::{SkuId, Timestamp, WarehouseId};
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::collections::HashMap;
use std::time::Instant;

#[derive(Args, Clone)]
pub struct FulfillmentArgs {
    /// Delivery-option computations (a whole cart's options each).
    #[arg(long, default_value_t = 4_000_000)]
    promises: u64,
    /// Dispatch decisions (each books capacity and moves stock).
    #[arg(long, default_value_t = 1_000_000)]
    dispatches: u64,
    /// Worker threads, each with its own world.
    #[arg(long, default_value_t = 2)]
    threads: u64,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Also write the summary as JSON to this file.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

#[derive(Debug, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p99: f64,
}

#[derive(Debug, Serialize)]
pub struct FulfillmentSummary {
    pub scenario: &'static str,
    pub threads: u64,
    pub warehouses: usize,
    pub promises: u64,
    pub promise_per_s: f64,
    pub promise_latency_us: Percentiles,
    /// Options offered per cart, on average (what a promise computes).
    pub options_per_promise: f64,
    pub dispatches: u64,
    pub dispatch_per_s: f64,
    pub dispatch_latency_us: Percentiles,
    /// Dispatch decisions that split an order, and that kept its promise.
    pub split_share: f64,
    pub promise_kept_share: f64,
}

const CITIES: [&str; 8] = [
    "310115000000", // 上海 浦东新区
    "110105000000", // 北京 朝阳区
    "440106000000", // 广州 天河区
    "440305000000", // 深圳 南山区
    "510107000000", // 成都 武侯区
    "420106000000", // 武汉 武昌区
    "330106000000", // 杭州 西湖区
    "610113000000", // 西安 雁塔区
];
const SKUS: i64 = 200;

struct World {
    sites: Vec<WarehouseSite>,
    stock: HashMap<(SkuId, WarehouseId), i64>,
    capacity: CapacityBook,
    destinations: Vec<Destination>,
}

fn world(seed: u64) -> anyhow::Result<World> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut sites = Vec::new();
    for (i, code) in CITIES.iter().enumerate() {
        let adcode = Adcode::parse(code).ok_or_else(|| anyhow::anyhow!("unknown adcode {code}"))?;
        let mut settings = FulfillmentSettings::standard();
        settings.orders_per_hour = 50_000;
        settings.orders_per_day = 1_000_000;
        if i % 2 == 0 {
            // A front warehouse: around the clock, with one-hour delivery in its city.
            settings.hours = OperatingHours::around_the_clock();
            settings.cutoffs.push(CutoffTime {
                level: ServiceLevel::OneHour,
                region: CutoffRegion::SameCity,
                minute: 22 * 60,
            });
        }
        let id = WarehouseId::new(i as i64 + 1).ok_or_else(|| anyhow::anyhow!("id"))?;
        sites.push(WarehouseSite::new(id, adcode, settings).ok_or_else(|| anyhow::anyhow!("no point for {code}"))?);
    }
    let mut stock = HashMap::new();
    for sku in 1..=SKUS {
        for site in &sites {
            // Most SKUs in most warehouses; some missing, so splits and choices happen.
            if rng.random_range(0..100) < 70 {
                let sku = SkuId::new(sku).ok_or_else(|| anyhow::anyhow!("id"))?;
                stock.insert((sku, site.id), 1_000_000_000);
            }
        }
    }
    let destinations = divisions()
        .keys()
        .filter_map(|adcode| Destination::of(*adcode))
        .collect();
    Ok(World {
        sites,
        stock,
        capacity: CapacityBook::default(),
        destinations,
    })
}

fn cart(rng: &mut rand::rngs::StdRng) -> Vec<(SkuId, i64)> {
    let lines = rng.random_range(1..=3);
    let mut cart: Vec<(SkuId, i64)> = Vec::with_capacity(lines);
    while cart.len() < lines {
        let sku = SkuId::new(rng.random_range(1..=SKUS)).unwrap_or_else(|| unreachable!("positive"));
        if cart.iter().all(|(s, _)| *s != sku) {
            cart.push((sku, rng.random_range(1..=3)));
        }
    }
    cart
}

fn nanos() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).unwrap_or_else(|_| unreachable!("valid bounds"))
}

struct ThreadResult {
    promise_latency: Histogram<u64>,
    dispatch_latency: Histogram<u64>,
    options: u64,
    splits: u64,
    kept: u64,
}

/// Monday 2026-11-23 09:30 in Shanghai, plus `ms`: a working morning, before every cutoff.
fn clock(ms: u64) -> Timestamp {
    Timestamp::from_unix_ms(1_795_397_400_000 + ms as i64)
}

fn run_thread(seed: u64, promises: u64, dispatches: u64, bar: &indicatif::ProgressBar) -> anyhow::Result<ThreadResult> {
    let mut world = world(42)?;
    let calendar = Calendar::official();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut result = ThreadResult {
        promise_latency: nanos(),
        dispatch_latency: nanos(),
        options: 0,
        splits: 0,
        kept: 0,
    };
    // Pre-drawn so the random generator stays out of the measured time.
    let carts: Vec<(Vec<(SkuId, i64)>, usize)> = (0..4096)
        .map(|_| (cart(&mut rng), rng.random_range(0..world.destinations.len())))
        .collect();
    for i in 0..promises {
        let (lines, destination) = &carts[(i % 4096) as usize];
        let stock = &world.stock;
        let context = PromiseContext {
            sites: &world.sites,
            available: |s: SkuId, w: WarehouseId| stock.get(&(s, w)).copied().unwrap_or(0),
            capacity: &world.capacity,
            calendar,
            now: clock(i / 1000),
        };
        let started = Instant::now();
        let options = delivery_options(lines, &world.destinations[*destination], &context);
        let elapsed = started.elapsed().as_nanos() as u64;
        let _ = result.promise_latency.record(elapsed.max(1));
        result.options += options.len() as u64;
        if i % 10_000 == 0 {
            bar.inc(10_000);
        }
    }
    for i in 0..dispatches {
        let (lines, destination) = &carts[(i % 4096) as usize];
        let destination = world.destinations[*destination];
        let now = clock(i / 100);
        // The promise the cart was sold with: its cheapest option (as most buyers choose).
        let promise = {
            let stock = &world.stock;
            let context = PromiseContext {
                sites: &world.sites,
                available: |s: SkuId, w: WarehouseId| stock.get(&(s, w)).copied().unwrap_or(0),
                capacity: &world.capacity,
                calendar,
                now,
            };
            delivery_options(lines, &destination, &context)
                .iter()
                .min_by_key(|o| o.price)
                .and_then(|o| Promise::of(o, None))
        };
        let decision_started = Instant::now();
        let input = DispatchInput {
            lines,
            destination,
            promise,
            now,
        };
        let stock = &world.stock;
        let available = |s: SkuId, w: WarehouseId| stock.get(&(s, w)).copied().unwrap_or(0);
        let decision = decide_dispatch(&input, &world.sites, &available, &world.capacity, calendar);
        if let Some(decision) = decision {
            for parcel in &decision.parcels {
                world.capacity.book(parcel.warehouse, parcel.slot_hour);
                for (sku, quantity) in &parcel.lines {
                    if let Some(units) = world.stock.get_mut(&(*sku, parcel.warehouse)) {
                        *units -= quantity;
                    }
                }
            }
            result.splits += u64::from(decision.split);
            result.kept += u64::from(decision.promise_kept);
        }
        let elapsed = decision_started.elapsed().as_nanos() as u64;
        let _ = result.dispatch_latency.record(elapsed.max(1));
        if i % 10_000 == 0 {
            bar.inc(10_000);
        }
    }
    Ok(result)
}

pub fn run(args: &FulfillmentArgs) -> anyhow::Result<()> {
    anyhow::ensure!((1..=64).contains(&args.threads), "threads must be 1 to 64");
    let per_thread_promises = args.promises / args.threads;
    let per_thread_dispatches = args.dispatches / args.threads;
    let warehouses = world(42)?.sites.len();
    let bar = progress(per_thread_promises * args.threads, "promises");
    let started = Instant::now();
    let promise_results = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..args.threads)
            .map(|t| {
                let bar = &bar;
                scope.spawn(move || run_thread(args.seed + t, per_thread_promises, 0, bar))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("a worker panicked"))))
            .collect::<anyhow::Result<Vec<_>>>()
    })?;
    let promise_seconds = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let bar = progress(per_thread_dispatches * args.threads, "dispatches");
    let started = Instant::now();
    let dispatch_results = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..args.threads)
            .map(|t| {
                let bar = &bar;
                scope.spawn(move || run_thread(args.seed + 100 + t, 0, per_thread_dispatches, bar))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("a worker panicked"))))
            .collect::<anyhow::Result<Vec<_>>>()
    })?;
    let dispatch_seconds = started.elapsed().as_secs_f64();
    bar.finish_and_clear();

    let mut promise_latency = nanos();
    let mut dispatch_latency = nanos();
    let (mut options, mut splits, mut kept) = (0, 0, 0);
    for r in &promise_results {
        let _ = promise_latency.add(&r.promise_latency);
        options += r.options;
    }
    for r in &dispatch_results {
        let _ = dispatch_latency.add(&r.dispatch_latency);
        splits += r.splits;
        kept += r.kept;
    }
    let promises = per_thread_promises * args.threads;
    let dispatches = per_thread_dispatches * args.threads;
    let us = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let summary = FulfillmentSummary {
        scenario: "fulfillment",
        threads: args.threads,
        warehouses,
        promises,
        promise_per_s: promises as f64 / promise_seconds,
        promise_latency_us: Percentiles {
            p50: us(&promise_latency, 0.5),
            p99: us(&promise_latency, 0.99),
        },
        options_per_promise: options as f64 / promises.max(1) as f64,
        dispatches,
        dispatch_per_s: dispatches as f64 / dispatch_seconds,
        dispatch_latency_us: Percentiles {
            p50: us(&dispatch_latency, 0.5),
            p99: us(&dispatch_latency, 0.99),
        },
        split_share: splits as f64 / dispatches.max(1) as f64,
        promise_kept_share: kept as f64 / dispatches.max(1) as f64,
    };
    println!(
        "\n  fulfillment (in-process, {} threads, {} warehouses)",
        summary.threads, summary.warehouses
    );
    println!(
        "  promises     {:>12.0}/s   p50 {:.2} µs  p99 {:.2} µs   {:.1} options per cart",
        summary.promise_per_s,
        summary.promise_latency_us.p50,
        summary.promise_latency_us.p99,
        summary.options_per_promise
    );
    println!(
        "  dispatches   {:>12.0}/s   p50 {:.2} µs  p99 {:.2} µs   {:.1} % split, {:.1} % promise kept",
        summary.dispatch_per_s,
        summary.dispatch_latency_us.p50,
        summary.dispatch_latency_us.p99,
        summary.split_share * 100.0,
        summary.promise_kept_share * 100.0
    );
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&summary)?)?;
        println!("\n  summary written to {}", path.display());
    }
    Ok(())
}
