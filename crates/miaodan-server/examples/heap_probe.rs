//! What a burst of flash-sale taps leaves in the server's heap, and when it is given back.
//!
//! ```sh
//! cargo run -p miaodan-server --example heap_probe -- 2000 3   # taps per burst, bursts
//! ```
//!
//! A real server on 127.0.0.1 over a fresh SQLite database, driven over HTTP: 20 buyers tap
//! one sale after another, each tap with its own `Idempotency-Key` (as the security run did),
//! from a client that closes its connections after each burst. The heap is counted by dhat
//! (every Rust allocation, not SQLite's page cache); RSS is the process's as Linux reports
//! it. Printed per phase: the live heap, its growth over the baseline (after a warm-up burst
//! and its expiry) per tap, and RSS.
#![allow(clippy::unwrap_used)]

use anyhow::Context;
use miaodan_server::clock::Clock;
use miaodan_server::{AppState, Config};
use serde_json::{Value, json};
use std::time::Duration;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

const BUYERS: usize = 20;
/// Bursts after the warm-up when the command line names none.
const BURSTS_DEFAULT: usize = 3;
/// The flash sales' payment timeout: unpaid orders expire this long after the tap.
const PAYMENT_TIMEOUT_SECONDS: i64 = 60;

struct Api {
    base: String,
    admin: String,
}

impl Api {
    async fn post(&self, http: &reqwest::Client, path: &str, token: &str, body: Value) -> anyhow::Result<Value> {
        let response = http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await?;
        anyhow::ensure!(response.status().is_success(), "{path}: {}", response.status());
        Ok(response.json().await?)
    }
}

fn live_heap() -> i64 {
    dhat::HeapStats::get().curr_bytes as i64
}

/// A figure of `/proc/self/status` in KiB (`RssAnon`: heap and SQLite's page cache;
/// `RssFile`, `RssShmem`: the memory-mapped database and its WAL index, pages the kernel may
/// reclaim).
fn status_kib(field: &str) -> i64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap_or("- 0 kB");
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// The database's files (main file and write-ahead log), in MiB.
fn database_mib(dir: &std::path::Path) -> u64 {
    let files = std::fs::read_dir(dir).into_iter().flatten().flatten();
    files.filter_map(|f| f.metadata().ok()).map(|m| m.len()).sum::<u64>() >> 20
}

/// One row: the live heap, its growth over the baseline (per tap so far), RSS (anonymous;
/// mapped files), the database's size.
fn report(phase: &str, baseline: i64, taps: usize, dir: &std::path::Path) {
    let heap = live_heap();
    let per_tap = (heap - baseline) / taps.max(1) as i64;
    let mapped = status_kib("RssFile:") + status_kib("RssShmem:");
    println!(
        "| {phase} | {} KiB | {} KiB ({per_tap} B) | {} MiB | {} MiB | {} MiB |",
        heap / 1024,
        (heap - baseline) / 1024,
        status_kib("RssAnon:") / 1024,
        mapped / 1024,
        database_mib(dir)
    );
}

/// A shop with stock, `sales` running flash sales and the buyers' tokens.
async fn world(api: &Api, sales: usize) -> anyhow::Result<(Vec<i64>, Vec<String>)> {
    let http = reqwest::Client::new();
    let shop = api
        .post(&http, "/v1/shops", &api.admin, json!({ "name": "probe" }))
        .await?;
    let shop = shop["id"].as_i64().context("shop id")?;
    let merchant = api
        .post(&http, &format!("/v1/shops/{shop}/tokens"), &api.admin, json!({}))
        .await?;
    let merchant = merchant["token"].as_str().context("token")?.to_string();
    let warehouse = json!({ "name": "w", "adcode": "330110000000" });
    let warehouse = api.post(&http, "/v1/warehouses", &merchant, warehouse).await?["id"].clone();
    let product = json!({ "title": "p", "skus": [{ "name": "s", "price_fen": 9900 }] });
    let sku = api.post(&http, "/v1/products", &merchant, product).await?["skus"][0]["id"].clone();
    let stock = http
        .put(format!("{}/v1/skus/{sku}/stock/{warehouse}", api.base))
        .bearer_auth(&merchant)
        .json(&json!({ "available": 10_000_000 }))
        .send()
        .await?;
    anyhow::ensure!(stock.status().is_success(), "stock: {}", stock.status());
    let starts_at = (jiff::Timestamp::now() - jiff::SignedDuration::from_secs(1)).to_string();
    let ends_at = (jiff::Timestamp::now() + jiff::SignedDuration::from_secs(86_000)).to_string();
    let mut ids = Vec::new();
    for _ in 0..sales {
        let sale = json!({ "sku_id": sku, "warehouse_id": warehouse, "starts_at": starts_at, "ends_at": ends_at,
            "price_fen": 990, "units": 200_000, "per_buyer_limit": 200_000,
            "payment_timeout_seconds": PAYMENT_TIMEOUT_SECONDS });
        ids.push(
            api.post(&http, "/v1/flash-sales", &merchant, sale).await?["id"]
                .as_i64()
                .context("sale")?,
        );
    }
    let mut buyers = Vec::new();
    for n in 0..BUYERS {
        let address = json!({ "adcode": "310101000000", "detail": "南京东路1号" });
        let buyer = json!({ "name": format!("buyer {n}"), "default_address": address });
        let buyer = api.post(&http, "/v1/buyers", &api.admin, buyer).await?["id"].clone();
        let token = api
            .post(&http, &format!("/v1/buyers/{buyer}/tokens"), &api.admin, json!({}))
            .await?;
        buyers.push(token["token"].as_str().context("token")?.to_string());
    }
    Ok((ids, buyers))
}

/// `taps` keyed taps on `sale`, 128 at a time, from a client whose connections close after.
async fn burst(api: &Api, buyers: &[String], sale: i64, taps: usize, tag: &str) -> anyhow::Result<()> {
    use futures::StreamExt;
    // Pooled connections idle for less than the server keeps them (Limits::header_read_timeout).
    let http = reqwest::Client::builder()
        .pool_idle_timeout(Duration::from_secs(5))
        .build()?;
    let requests = (0..taps).map(|n| {
        http.post(format!("{}/v1/flash-sales/{sale}/taps", api.base))
            .bearer_auth(&buyers[n % buyers.len()])
            .header("Idempotency-Key", format!("{tag}-{n}"))
            .send()
    });
    let answers: Vec<_> = futures::stream::iter(requests).buffer_unordered(128).collect().await;
    for answer in answers {
        anyhow::ensure!(answer?.status() == 201, "a tap was refused");
    }
    drop(http);
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok(())
}

/// Moves the platform's clock past the payment timeout and waits until no order is open and
/// the expiry's batches have committed.
async fn expire(clock: &Clock, state: &AppState) {
    clock.advance((PAYMENT_TIMEOUT_SECONDS + 1) * 1000);
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut open = 0;
        for shard in 0..state.shards.count() as usize {
            open += state
                .shards
                .read_shard(shard, |s, _| s.orders().open_count())
                .await
                .unwrap_or(1);
        }
        if open == 0 {
            break;
        }
    }
    tokio::time::sleep(Duration::from_millis(1_000)).await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let taps: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(2_000);
    let bursts: usize = std::env::args()
        .nth(2)
        .and_then(|n| n.parse().ok())
        .unwrap_or(BURSTS_DEFAULT);
    let _profiler = dhat::Profiler::builder().testing().build();
    let dir = tempfile::tempdir()?;
    let clock = Clock::system();
    let mut config = Config::new(
        "127.0.0.1:0".parse()?,
        dir.path().join("probe.db").display().to_string(),
    );
    config.clock = clock.clone();
    let state = AppState::open(config).await?;
    let admin = state.bootstrap_admin_token().await?.context("a fresh database")?;
    let running = miaodan_server::serve(state).await?;
    let api = Api {
        base: format!("http://{}", running.address),
        admin,
    };
    let (sales, buyers) = world(&api, bursts + 1).await?;
    burst(&api, &buyers, sales[0], taps, "warm-up").await?;
    expire(&clock, &running.state).await;
    let baseline = live_heap();
    println!("| phase | live heap | over the baseline (per tap so far) | RSS anon | RSS mapped | database |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    let dir = dir.path();
    report("baseline: after a warm-up burst and its expiry", baseline, taps, dir);
    for (round, sale) in sales[1..].iter().enumerate() {
        burst(&api, &buyers, *sale, taps, &format!("burst-{round}")).await?;
        let so_far = taps * (round + 1);
        report(
            &format!("burst {}: {taps} taps, orders unpaid", round + 1),
            baseline,
            so_far,
            dir,
        );
        expire(&clock, &running.state).await;
        report(
            &format!("burst {}: its orders expired", round + 1),
            baseline,
            so_far,
            dir,
        );
    }
    // 48 h on, the request references and the idempotency keys of the bursts age out too.
    let locks = &running.state.idempotency_locks;
    locks.checkpoint(clock.now());
    clock.advance(49 * 3_600_000);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    locks.forget_first_seen_before(clock.now().plus_seconds(-48 * 3600));
    report("49 h later: retention over", baseline, taps * bursts, dir);
    running.shutdown().await;
    Ok(())
}
