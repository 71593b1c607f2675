//! `miaodan bench compass`: what the outbox's readers cost the write path, how far behind the
//! compass runs while a flash sale sells, and how fast it answers over a year of a busy shop.
//!
//! 1. **Write path, with and without readers.** The flash-sale scenario through the engine, on a
//!    fresh database each time, in rounds alternating the order of the two runs (the machine is
//!    shared and noisy: only runs side by side compare). In the run *with* readers the compass
//!    reader folds the outbox every quarter second, as `serve` runs it; without, nothing reads
//!    the outbox until the run is over.
//! 2. **Lag.** For every event the reader folds: the time from its batch's commit to the
//!    commit of the figures it adds.
//! 3. **Audit.** After each run the reader catches up and the compass's totals must equal the
//!    orders and refunds tables' own, to the fen.
//! 4. **Queries over a year.** A fresh database gets a year of minute figures for one shop
//!    adding up to `--history-orders` orders; then series by the day over the year, by the hour
//!    over a month and by the minute over a day, from random places in the year.

use super::env::Env;
use super::report::{Latency, Summary, histogram};
use super::{CompassArgs, Mode, Tally, flash_sale, median, progress};
use hdrhistogram::Histogram;
use miaodan_domain::{ShopId, Timestamp};
use miaodan_store::{COMPASS_READER, CompassFigures};
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
/// The reader's pause when it has caught up, as `serve` runs it.
const READER_POLL: Duration = Duration::from_millis(250);

/// What `bench compass` measures besides what every scenario does.
#[derive(Debug, Default, Serialize, Clone)]
pub struct CompassBenchFigures {
    /// Committed orders/s of each run, in the order they ran.
    pub without_readers_orders_per_s: Vec<f64>,
    pub with_readers_orders_per_s: Vec<f64>,
    /// Median with / median without.
    pub with_over_without: f64,
    /// Commit of an event's batch → commit of the compass figures it adds, in ms.
    pub lag_ms: Latency,
    pub events_folded: u64,
    /// Orders the year of aggregates adds up to, and its minute rows.
    pub history_orders: i64,
    pub history_minutes: i64,
    /// Per query kind (`day × 366`, `hour × 720`, `minute × 1440`), in µs.
    pub query_us: BTreeMap<String, Latency>,
}

impl CompassBenchFigures {
    pub fn rows(&self) -> Vec<(&'static str, String)> {
        let runs = |v: &[f64]| v.iter().map(|x| format!("{x:.0}")).collect::<Vec<_>>().join(", ");
        let mut rows = vec![
            (
                "orders/s, no readers",
                format!(
                    "median {:.0} (runs: {})",
                    median(&self.without_readers_orders_per_s),
                    runs(&self.without_readers_orders_per_s)
                ),
            ),
            (
                "orders/s, compass reading",
                format!(
                    "median {:.0} (runs: {})",
                    median(&self.with_readers_orders_per_s),
                    runs(&self.with_readers_orders_per_s)
                ),
            ),
            ("with / without", format!("{:.3}", self.with_over_without)),
            (
                "projection lag ms",
                format!(
                    "p50 {}  p99 {}  max {} ({} events folded)",
                    self.lag_ms.p50, self.lag_ms.p99, self.lag_ms.max, self.events_folded
                ),
            ),
            (
                "history",
                format!(
                    "{} orders in {} minutes of one shop",
                    self.history_orders, self.history_minutes
                ),
            ),
        ];
        for (kind, latency) in &self.query_us {
            let label: &'static str = match kind.as_str() {
                "day" => "query µs, a year by day",
                "hour" => "query µs, a month by hour",
                _ => "query µs, a day by minute",
            };
            rows.push((
                label,
                format!("p50 {}  p99 {}  max {}", latency.p50, latency.p99, latency.max),
            ));
        }
        rows
    }
}

/// One flash-sale run: what clients saw, how long, and (with readers) the lag of each event.
struct Run {
    tally: Tally,
    duration: f64,
    lag_us: Histogram<u64>,
    checks: Vec<(bool, String)>,
}

pub async fn run(args: &CompassArgs) -> anyhow::Result<Summary> {
    let mut sale = args.sale.clone();
    sale.common.mode = Mode::Engine;
    let mut figures = CompassBenchFigures::default();
    let mut lag_us = histogram();
    let mut checks = Vec::new();
    let mut last = None;
    for round in 0..args.rounds.max(1) {
        let order = if round % 2 == 0 { [false, true] } else { [true, false] };
        for readers in order {
            eprintln!(
                "round {} of {}: the sale {} readers",
                round + 1,
                args.rounds.max(1),
                if readers { "with" } else { "without" }
            );
            let run = sale_run(&sale, readers).await?;
            let per_s = run.tally.ordered as f64 / run.duration;
            if readers {
                figures.with_readers_orders_per_s.push(per_s);
                lag_us.add(&run.lag_us)?;
            } else {
                figures.without_readers_orders_per_s.push(per_s);
            }
            checks.extend(run.checks);
            last = Some((run.tally, run.duration));
        }
    }
    figures.with_over_without =
        median(&figures.with_readers_orders_per_s) / median(&figures.without_readers_orders_per_s);
    figures.events_folded = lag_us.len();
    let ms = |us: u64| us / 1_000;
    let lag = Latency::of(&lag_us);
    figures.lag_ms = Latency {
        p50: ms(lag.p50),
        p99: ms(lag.p99),
        p999: ms(lag.p999),
        max: ms(lag.max),
    };
    history(&sale, args, &mut figures).await?;
    let (tally, duration) = last.ok_or_else(|| anyhow::anyhow!("no run"))?;
    let env_backend = match sale.common.backend {
        super::BackendArg::Sqlite => "sqlite",
        super::BackendArg::Postgres => "postgres",
    };
    Ok(Summary {
        compass: Some(figures),
        ..Summary::of_run("compass", &sale.common, env_backend, &tally, duration, checks)
    })
}

/// The sale on a fresh database, the compass reader running beside it or not; then the reader
/// catches up and its totals are audited against the tables.
async fn sale_run(sale: &super::FlashSaleArgs, readers: bool) -> anyhow::Result<Run> {
    let env = Env::open(&sale.common, 300).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let reader = readers.then(|| {
        let (state, stop) = (env.state.clone(), stop.clone());
        tokio::spawn(async move {
            let mut lag_us = histogram();
            while !stop.load(Ordering::Relaxed) {
                fold_observing(&state, &mut lag_us).await?;
                tokio::time::sleep(READER_POLL).await;
            }
            anyhow::Ok(lag_us)
        })
    });
    let (tally, duration) = flash_sale::engine_sale(&env, sale).await?;
    stop.store(true, Ordering::Relaxed);
    let mut lag_us = match reader {
        Some(reader) => reader.await??,
        None => histogram(),
    };
    // Whatever is left (everything, without readers) is folded now, outside the measurement.
    let mut untimed = histogram();
    fold_observing(&env.state, if readers { &mut lag_us } else { &mut untimed }).await?;
    let checks = audit(&env, readers).await?;
    Ok(Run {
        tally,
        duration,
        lag_us,
        checks,
    })
}

async fn fold_observing(state: &miaodan_server::AppState, lag_us: &mut Histogram<u64>) -> anyhow::Result<()> {
    let clock = state.clock.clone();
    miaodan_server::compass::catch_up_observed(state, &mut |events| {
        let now = clock.now().unix_ms();
        for event in events {
            let micros = u64::try_from((now - event.at.unix_ms()).max(0) * 1_000)
                .unwrap_or(0)
                .max(1);
            let _ = lag_us.record(micros.min(lag_us.high()));
        }
    })
    .await?;
    Ok(())
}

/// The compass's totals (every shop, the whole run) against the tables'.
async fn audit(env: &Env, readers: bool) -> anyhow::Result<Vec<(bool, String)>> {
    let store = &env.state.store;
    let heads = store.outbox_heads().await?;
    let cursor: BTreeMap<u32, i64> = store.outbox_cursor(COMPASS_READER).await?.into_iter().collect();
    let behind: i64 = heads
        .iter()
        .map(|(shard, head)| head - cursor.get(shard).copied().unwrap_or(0))
        .sum();
    let now = env.state.clock.now();
    let mut counted = CompassFigures::default();
    for (_, figures) in store
        .compass_series(None, now.plus_seconds(-2 * 86_400), now.plus_seconds(86_400), DAY_MS)
        .await?
    {
        counted.add(&figures);
    }
    let tables = store.compass_audit_totals().await?;
    let run = if readers { "with readers" } else { "without readers" };
    Ok(vec![
        (
            behind == 0,
            format!("{run}: the compass read every event ({behind} left)"),
        ),
        (
            counted == tables,
            format!(
                "{run}: the compass's totals = the tables' (orders {} / {}, units {} / {}, GMV {} / {} fen, paid {} / {} fen, refunds {} / {} fen)",
                counted.orders,
                tables.orders,
                counted.units,
                tables.units,
                counted.gmv_fen,
                tables.gmv_fen,
                counted.paid_fen,
                tables.paid_fen,
                counted.refunded_fen,
                tables.refunded_fen
            ),
        ),
    ])
}

/// A year of one busy shop's minutes, then queries over it.
async fn history(
    sale: &super::FlashSaleArgs,
    args: &CompassArgs,
    figures: &mut CompassBenchFigures,
) -> anyhow::Result<()> {
    let env = Env::open(&sale.common, 300).await?;
    let shop = ShopId::new(1).ok_or_else(|| anyhow::anyhow!("shop"))?;
    let now = env.state.clock.now().unix_ms();
    // The year ends at the last whole hour; days begin at midnight in Shanghai.
    let end = now - now.rem_euclid(HOUR_MS);
    let start = end - 365 * DAY_MS;
    let mut rng = rand::rngs::StdRng::seed_from_u64(sale.common.seed);
    figures.history_orders = seed_year(&env, shop, start, end, args.history_orders, &mut rng).await?;
    figures.history_minutes = (end - start) / MINUTE_MS;
    let kinds = [
        ("day", DAY_MS, 366 * DAY_MS),
        ("hour", HOUR_MS, 30 * DAY_MS),
        ("minute", MINUTE_MS, DAY_MS),
    ];
    let bar = progress(u64::from(args.queries) * kinds.len() as u64, "queries");
    for (kind, bucket, span) in kinds {
        let mut latency = histogram();
        for _ in 0..args.queries {
            let hours = (end - start - span.min(end - start)) / HOUR_MS;
            let from = start + rng.random_range(0..=hours) * HOUR_MS;
            let (from, to) = (
                Timestamp::from_unix_ms(from),
                Timestamp::from_unix_ms((from + span).min(end)),
            );
            let sent = Instant::now();
            let series = env.state.store.compass_series(Some(shop), from, to, bucket).await?;
            let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX).max(1);
            let _ = latency.record(micros.min(latency.high()));
            anyhow::ensure!(!series.is_empty(), "a {kind} query answered nothing");
            bar.inc(1);
        }
        figures.query_us.insert(kind.to_string(), Latency::of(&latency));
    }
    bar.finish_and_clear();
    Ok(())
}

/// Writes `shop`'s minute figures from `start` to `end`, adding up to about `orders` orders,
/// through the compass's own writes (so its hours too); answers the orders written.
async fn seed_year(
    env: &Env,
    shop: ShopId,
    start: i64,
    end: i64,
    orders: i64,
    rng: &mut rand::rngs::StdRng,
) -> anyhow::Result<i64> {
    const BY_HOUR_OF_DAY: [i64; 24] = [
        2, 1, 1, 1, 1, 1, 2, 4, 6, 8, 9, 10, 12, 11, 10, 10, 11, 12, 14, 18, 24, 26, 20, 8,
    ];
    let minutes = (end - start) / MINUTE_MS;
    let bar = progress(minutes as u64, "a year of minutes");
    let mean_weight = BY_HOUR_OF_DAY.iter().sum::<i64>() as f64 / 24.0;
    let mut written = 0_i64;
    let mut chunk = BTreeMap::new();
    for i in 0..minutes {
        // Orders follow the day: few at 4 a.m., most in the evening's live streams.
        let minute_ms = start + i * MINUTE_MS;
        let hour_of_day = ((minute_ms + 8 * HOUR_MS).rem_euclid(DAY_MS) / HOUR_MS) as usize;
        let expected = orders as f64 * BY_HOUR_OF_DAY[hour_of_day] as f64 / (minutes as f64 * mean_weight);
        // Rounded at random, so that small expectations still add up to the total.
        let drawn = expected * rng.random_range(0.5..1.5);
        let n = drawn.floor() as i64 + i64::from(rng.random_bool(drawn.fract()));
        written += n;
        chunk.insert((shop, minute_ms), minute_of(n));
        if chunk.len() == 10_000 || i == minutes - 1 {
            let rows = chunk.len() as u64;
            // A shard no server has: the history's cursor stands apart from the real readers'.
            env.state
                .store
                .record_compass(9_999, i, &std::mem::take(&mut chunk))
                .await?;
            bar.inc(rows);
        }
    }
    bar.finish_and_clear();
    Ok(written)
}

/// A minute of `orders` orders at ¥129: nine in ten paid, one in fifty cancelled, one in forty
/// refunded.
fn minute_of(orders: i64) -> CompassFigures {
    let paid = orders * 9 / 10;
    CompassFigures {
        orders,
        units: orders + orders / 4,
        gmv_fen: orders * 12_900,
        paid_orders: paid,
        paid_fen: paid * 12_900,
        cancelled_orders: orders / 50,
        expired_orders: orders - paid - orders / 50,
        refunds: orders / 40,
        refunded_fen: orders / 40 * 12_900,
    }
}
