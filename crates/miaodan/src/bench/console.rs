//! `miaodan bench console`: what the merchant console costs the order path, how fresh its live
//! room is, and how fast its pages get their data from a shop with many orders.
//!
//! 1. **A live room's cost.** The flash-sale scenario over HTTP, on a fresh database each run, in
//!    rounds alternating a run *without* anyone watching and a run *with* one live room open: a
//!    client reading the sale's live stream (`/v1/flash-sales/{id}/live/stream`) exactly as the
//!    console's live room page does. Only runs side by side compare (the machine is shared).
//! 2. **Freshness.** In the runs with the room open: each view the stream pushes says how many
//!    units are left, so how many were sold; the clients note when each order was acknowledged.
//!    A view showing `k` sold is measured against the moment the `k`-th order was acknowledged.
//! 3. **Page data with many orders.** One shop gets `--orders` orders (flash-sale taps through the
//!    engine), then every request the console's pages make is sent `--queries` times over HTTP,
//!    one at a time, with the shop's token: p50 and p99 per request.

use super::env::{Connection, Env};
use super::flash_sale::{self, Acknowledged, Sale};
use super::report::{Latency, Summary, histogram};
use super::{ConsoleArgs, Mode, median};
use hdrhistogram::Histogram;
use http_body_util::BodyExt;
use miaodan_server::tokens::TokenRequest;
use miaodan_store::records::Role;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

/// What `bench console` measures besides what every scenario does.
#[derive(Debug, Default, Serialize, Clone)]
pub struct ConsoleBenchFigures {
    /// Committed orders/s of each run, in the order they ran.
    pub unwatched_orders_per_s: Vec<f64>,
    pub watched_orders_per_s: Vec<f64>,
    /// Median watched / median unwatched.
    pub watched_over_unwatched: f64,
    /// The `k`-th order acknowledged → the live room's first view showing `k` sold, in ms.
    pub freshness_ms: Latency,
    pub views: u64,
    /// Orders of the shop the pages were read from.
    pub orders_in_store: u64,
    /// Per console request, in µs.
    pub page_data_us: BTreeMap<&'static str, Latency>,
}

impl ConsoleBenchFigures {
    pub fn rows(&self) -> Vec<(&'static str, String)> {
        let runs = |v: &[f64]| v.iter().map(|x| format!("{x:.0}")).collect::<Vec<_>>().join(", ");
        let mut rows = vec![
            (
                "orders/s, no live room",
                format!(
                    "median {:.0} (runs: {})",
                    median(&self.unwatched_orders_per_s),
                    runs(&self.unwatched_orders_per_s)
                ),
            ),
            (
                "orders/s, live room open",
                format!(
                    "median {:.0} (runs: {})",
                    median(&self.watched_orders_per_s),
                    runs(&self.watched_orders_per_s)
                ),
            ),
            ("watched / unwatched", format!("{:.3}", self.watched_over_unwatched)),
            (
                "live room freshness ms",
                format!(
                    "p50 {}  p99 {}  max {} ({} views)",
                    self.freshness_ms.p50, self.freshness_ms.p99, self.freshness_ms.max, self.views
                ),
            ),
            ("orders in the store", self.orders_in_store.to_string()),
        ];
        for (request, latency) in &self.page_data_us {
            rows.push((
                request,
                format!("µs p50 {}  p99 {}  max {}", latency.p50, latency.p99, latency.max),
            ));
        }
        rows
    }
}

pub async fn run(args: &ConsoleArgs) -> anyhow::Result<Summary> {
    let mut sale_args = args.sale.clone();
    sale_args.common.mode = Mode::Http;
    let mut figures = ConsoleBenchFigures::default();
    let mut freshness_us = histogram();
    let mut last = None;
    for round in 0..args.rounds.max(1) {
        let order = if round % 2 == 0 { [false, true] } else { [true, false] };
        for watched in order {
            eprintln!(
                "round {} of {}: the sale {}",
                round + 1,
                args.rounds.max(1),
                if watched {
                    "with a live room open"
                } else {
                    "with nobody watching"
                }
            );
            let (summary, run_freshness, views) = sale_run(&sale_args, watched).await?;
            let per_s = summary.orders_per_s;
            if watched {
                figures.watched_orders_per_s.push(per_s);
                freshness_us.add(&run_freshness)?;
                figures.views += views;
            } else {
                figures.unwatched_orders_per_s.push(per_s);
            }
            if !summary.audit_passed {
                anyhow::bail!("the run's audit failed: {:?}", summary.audit);
            }
            last = Some(summary);
        }
    }
    let unwatched = median(&figures.unwatched_orders_per_s);
    figures.watched_over_unwatched = if unwatched > 0.0 {
        median(&figures.watched_orders_per_s) / unwatched
    } else {
        0.0
    };
    figures.freshness_ms = in_ms(Latency::of(&freshness_us));
    let (orders, page_data) = page_data(args).await?;
    figures.orders_in_store = orders;
    figures.page_data_us = page_data;
    let mut summary = last.unwrap_or_default();
    summary.scenario = "console".into();
    summary.console = Some(figures);
    Ok(summary)
}

/// A merchant token for `sale`'s shop, stored and known to the running platform.
async fn merchant_token(env: &Env, sale: &Sale) -> anyhow::Result<String> {
    let now = env.state.clock.now();
    let request = TokenRequest::new(Role::Merchant, Some(sale.shop.get()));
    let (record, token) = miaodan_server::tokens::mint(env.state.ids.token().await?, request, now)?;
    env.state.store.insert_token(&record, None).await?;
    env.state.tokens.remember(record);
    Ok(token)
}

/// One flash sale over HTTP; with `watched`, a live room reads the sale's stream meanwhile.
/// Gives the run's summary, and (watched) the freshness of each view in µs and the views seen.
async fn sale_run(args: &super::FlashSaleArgs, watched: bool) -> anyhow::Result<(Summary, Histogram<u64>, u64)> {
    let env = Env::open(&args.common, 300).await?;
    let sale = flash_sale::set_up_sale(&env, args.units).await?;
    let plans = Arc::new(flash_sale::plans(args, args.common.seed));
    let total = plans.iter().map(flash_sale::Plan::taps).sum::<u64>();
    let buyers: Vec<i64> = plans.iter().map(|p| p.buyer).collect();
    let tokens = Arc::new(flash_sale::buyers_with_tokens(&env, &buyers).await?);
    let merchant = merchant_token(&env, &sale).await?;
    let running = miaodan_server::serve(env.state.clone()).await?;
    let acknowledged = Arc::new(Acknowledged::default());
    let seen = Arc::new(Seen::new((histogram(), 0)));
    let room = watched.then(|| {
        let path = format!("/v1/flash-sales/{}/live/stream", sale.id);
        let watching = live_room(
            running.address,
            path,
            merchant,
            args.units,
            acknowledged.clone(),
            seen.clone(),
        );
        tokio::spawn(watching)
    });
    let taps = flash_sale::HttpTaps {
        address: running.address,
        path: flash_sale::tap_path(sale.id),
        plans,
        tokens,
        total,
        time_limit: None,
    };
    let taps = flash_sale::taps_over_http(taps, args, Some(acknowledged.clone()));
    let (tally, duration) = taps.await?;
    // The room sees the last orders of the sale, then is closed as a merchant closes the page.
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    if let Some(room) = room {
        room.abort();
        if let Ok(Err(error)) = room.await {
            anyhow::bail!("the live room failed: {error:#}");
        }
    }
    let (freshness, views) = seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
    running.shutdown().await;
    let summary = flash_sale::audit(&env, &sale, args, tally, duration).await?;
    Ok((summary, freshness, views))
}

/// What the live room saw: the freshness of each view that showed more sold (µs), and views.
type Seen = std::sync::Mutex<(Histogram<u64>, u64)>;

/// The live room: reads the stream's views until the run ends it; for each view showing more
/// units sold than the one before, how long ago the clients were told of the order that brings
/// the count there.
async fn live_room(
    address: std::net::SocketAddr,
    path: String,
    token: String,
    units: i64,
    acknowledged: Arc<Acknowledged>,
    seen: Arc<Seen>,
) -> anyhow::Result<()> {
    let mut connection = Connection::open(address).await?;
    let response = connection.get_streaming(&path, &token).await?;
    anyhow::ensure!(
        response.status() == 200,
        "the live stream answered {}",
        response.status()
    );
    let mut body = response.into_body();
    let mut pending = String::new();
    let mut shown_sold = 0i64;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else { continue };
        pending.push_str(&String::from_utf8_lossy(&data));
        while let Some(end) = pending.find("\n\n") {
            let event: String = pending.drain(..end + 2).collect();
            let Some(sold) = sold_in(&event, units) else { continue };
            let arrived = Instant::now();
            let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
            seen.1 += 1;
            if sold > shown_sold {
                shown_sold = sold;
                let told = acknowledged.lock().unwrap_or_else(|p| p.into_inner());
                // A view ahead of the clients' answers is as fresh as can be.
                let lag = told
                    .get(usize::try_from(sold - 1).unwrap_or(0))
                    .map_or(0, |at| arrived.saturating_duration_since(*at).as_micros());
                let _ = seen.0.record(u64::try_from(lag).unwrap_or(u64::MAX).max(1));
            }
        }
    }
    Ok(())
}

/// Units sold that a `live` event shows, from its `units_left`.
fn sold_in(event: &str, units: i64) -> Option<i64> {
    if !event.lines().any(|line| line == "event: live") {
        return None;
    }
    let data = event.lines().find_map(|line| line.strip_prefix("data: "))?;
    let view: serde_json::Value = serde_json::from_str(data).ok()?;
    Some(units - view.get("units_left")?.as_i64()?)
}

fn in_ms(us: Latency) -> Latency {
    Latency {
        p50: us.p50 / 1_000,
        p99: us.p99 / 1_000,
        p999: us.p999 / 1_000,
        max: us.max / 1_000,
    }
}

/// The requests the console's pages make, as (name, path) for a shop with `sale`; `order` is an
/// order of the shop, `hour` the start of the current hour (RFC 3339), `day_before` 23 h earlier.
fn page_requests(
    sale: &Sale,
    order: i64,
    hour: &str,
    day_before: &str,
    next_hour: &str,
) -> Vec<(&'static str, String)> {
    let range = format!("from={day_before}&to={next_hour}");
    vec![
        ("console shell", "/console/orders".to_string()),
        ("orders, newest 50", "/v1/orders?limit=50".to_string()),
        (
            "orders, unpaid 50",
            "/v1/orders?state=pending_payment&limit=50".to_string(),
        ),
        // Filters few of the shop's orders match (none here: every order is unpaid and of the
        // sale's SKU), which a list without their indexes answered by walking every order.
        (
            "orders, cancelled 50",
            "/v1/orders?state=cancelled&limit=50".to_string(),
        ),
        (
            "orders of a SKU without orders",
            format!("/v1/orders?sku_id={}&limit=50", sale.sku.get() + 1),
        ),
        (
            "orders of the sale's SKU",
            format!("/v1/orders?sku_id={}&limit=50", sale.sku),
        ),
        (
            "orders, placed this hour",
            format!("/v1/orders?created_from={hour}&limit=50"),
        ),
        ("one order", format!("/v1/orders/{order}")),
        ("one order's parcels", format!("/v1/orders/{order}/shipments?limit=50")),
        ("flash sales", "/v1/flash-sales?limit=20".to_string()),
        ("live room view", format!("/v1/flash-sales/{}/live", sale.id)),
        (
            "compass by hour",
            format!("/v1/compass/series?granularity=hour&{range}"),
        ),
        (
            "compass provinces",
            format!("/v1/compass/regions?level=province&{range}"),
        ),
        ("compass top SKUs", format!("/v1/compass/skus?top=10&{range}")),
        (
            "after-sales inbox",
            "/v1/after-sales?stage=with_merchant&limit=50".to_string(),
        ),
        ("package center", "/v1/package-center/alerts?limit=50".to_string()),
        ("products", "/v1/products?limit=50".to_string()),
    ]
}

/// Passes over the console's requests: one to warm up, then the measured ones.
const PAGE_ROUNDS: u64 = 3;

/// A shop with `--orders` orders, then each console request `--queries` times: p50/p99 in µs.
async fn page_data(args: &ConsoleArgs) -> anyhow::Result<(u64, BTreeMap<&'static str, Latency>)> {
    let mut sale_args = args.sale.clone();
    sale_args.common.mode = Mode::Engine;
    sale_args.units = args.orders;
    sale_args.buyers = u64::try_from(args.orders)?;
    sale_args.retry_percent = 0;
    eprintln!("placing {} orders in one shop", args.orders);
    let env = Env::open(&sale_args.common, 3_600).await?;
    let sale = flash_sale::set_up_sale(&env, sale_args.units).await?;
    let plans = Arc::new(flash_sale::plans(&sale_args, sale_args.common.seed));
    let total = plans.iter().map(flash_sale::Plan::taps).sum::<u64>();
    let (tally, _) = flash_sale::engine(&env, &sale, plans, &sale_args.common, total).await?;
    let merchant = merchant_token(&env, &sale).await?;
    let running = miaodan_server::serve(env.state.clone()).await?;
    let now = jiff::Timestamp::now();
    let hour_s = now.as_second() - now.as_second().rem_euclid(3_600);
    let at = |s: i64| jiff::Timestamp::from_second(s).map(|t| t.to_string());
    let (hour, day_before, next_hour) = (at(hour_s)?, at(hour_s - 23 * 3_600)?, at(hour_s + 3_600)?);
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.sale.common.seed);
    let mut connection = Connection::open(running.address).await?;
    let requests = page_requests(&sale, 1, &hour, &day_before, &next_hour).len() as u64;
    let bar = super::progress(u64::from(args.queries) * PAGE_ROUNDS * requests, "console requests");
    let mut times: BTreeMap<&'static str, Histogram<u64>> = BTreeMap::new();
    // The first round warms the caches; the figures are the later rounds'.
    for round in 0..PAGE_ROUNDS {
        for _ in 0..args.queries {
            let order = rng.random_range(1..=i64::try_from(tally.ordered)?.max(1));
            for (name, path) in page_requests(&sale, order, &hour, &day_before, &next_hour) {
                let sent = Instant::now();
                let answer = connection.get(&path, &merchant).await?;
                let took = u64::try_from(sent.elapsed().as_micros())?.max(1);
                anyhow::ensure!(
                    answer.status == 200,
                    "{path} answered {}: {:?}",
                    answer.status,
                    answer.body
                );
                if round > 0 {
                    times.entry(name).or_insert_with(histogram).record(took)?;
                }
                bar.inc(1);
            }
        }
    }
    let figures = times.into_iter().map(|(name, h)| (name, Latency::of(&h))).collect();
    bar.finish_and_clear();
    running.shutdown().await;
    Ok((tally.ordered, figures))
}
