//! `miaodan bench restart`: how long a restart takes as history grows. The database grows in
//! even steps (stored answers of keyed requests, and unpaid orders still open); at each step
//! the platform is opened afresh several times and timed from `AppState::open` to the first
//! answer over HTTP, with the phases start-up reports (`AppState::startup`), and to the moment
//! keyed requests are served (the idempotency index, loaded in the background, is complete).

use super::env::{Connection, Env};
use super::{Common, id, text};
use clap::Args;
use miaodan_domain::catalog::NewSku;
use miaodan_domain::geo::Adcode;
use miaodan_domain::shard::{
    Command, CreateProduct, CreateShop, CreateWarehouse, OrderLineRequest, PlaceOrder, SetStock,
};
use miaodan_domain::{Fen, Quantity, ShopId, SkuId, WarehouseId};
use miaodan_server::AppState;
use miaodan_store::records::IdempotencyRecord;
use std::time::Instant;

#[derive(Args, Clone)]
pub struct RestartArgs {
    #[command(flatten)]
    common: Common,
    /// Stored answers (responses kept for Idempotency-Keys) at the last step.
    #[arg(long, default_value_t = 1_000_000)]
    answers: u64,
    /// Unpaid orders open at the last step.
    #[arg(long, default_value_t = 200_000)]
    open_orders: u64,
    /// Steps the history grows in (each is measured).
    #[arg(long, default_value_t = 4)]
    steps: u64,
    /// Restarts timed at each step; the median is reported.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..))]
    restarts: u16,
}

/// One restart's figures, in milliseconds.
struct Timed {
    open_ms: f64,
    first_answer_ms: f64,
    keyed_ms: f64,
    phases: Vec<(&'static str, f64)>,
}

pub async fn run(args: &RestartArgs) -> anyhow::Result<()> {
    let env = Env::open(&args.common, 30 * 24 * 3600).await?;
    let shops = set_up(&env, args).await?;
    let mut config = env.state.config.clone();
    config.listen = "127.0.0.1:0".parse()?;
    let mut next_answer = env.state.store.id_maxima().await?.idempotency_response + 1;
    // One serving platform per database: the world is built, so the bench's own steps and
    // restarts open the database from here on.
    env.state.shards.stop().await;
    println!(
        "restart time as history grows ({}, {} shards)",
        env.backend, args.common.shards
    );
    println!(
        "{:>12} {:>12} {:>10} {:>14} {:>12}  phases (median run)",
        "answers", "open orders", "open ms", "1st answer ms", "keyed ms"
    );
    let mut rows = Vec::new();
    for step in 1..=args.steps {
        let answers = args.answers * step / args.steps;
        let orders = args.open_orders * step / args.steps;
        store_answers(&env, &mut next_answer, answers).await?;
        place_orders(&env, &shops, orders).await?;
        let mut runs = Vec::new();
        for _ in 0..args.restarts {
            runs.push(restart_once(&config).await?);
        }
        runs.sort_by(|a, b| a.first_answer_ms.total_cmp(&b.first_answer_ms));
        let median = &runs[runs.len() / 2];
        let phases: Vec<String> = median
            .phases
            .iter()
            .map(|(name, ms)| format!("{name} {ms:.0}"))
            .collect();
        println!(
            "{answers:>12} {orders:>12} {:>10.0} {:>14.0} {:>12.0}  {}",
            median.open_ms,
            median.first_answer_ms,
            median.keyed_ms,
            phases.join(", ")
        );
        rows.push((answers, median.first_answer_ms, median.keyed_ms));
    }
    let first: Vec<(u64, f64)> = rows.iter().map(|&(answers, first, _)| (answers, first)).collect();
    let keyed: Vec<(u64, f64)> = rows.iter().map(|&(answers, _, keyed)| (answers, keyed)).collect();
    let widest = rows.iter().map(|&(_, _, keyed)| keyed).fold(1.0, f64::max);
    chart("time to the first answer after a restart", &first, widest);
    chart(
        "time until keyed requests are served (idempotency index loaded)",
        &keyed,
        widest,
    );
    Ok(())
}

/// One shop per shard, each with a SKU whose stock covers every order the bench places.
async fn set_up(env: &Env, args: &RestartArgs) -> anyhow::Result<Vec<(ShopId, SkuId, WarehouseId)>> {
    let ids = &env.state.ids;
    let per_shop = i64::try_from(args.open_orders)? + 1;
    let mut shops = Vec::new();
    for s in 0..args.common.shards {
        let shop = ids.shop().await?;
        let warehouse = ids.warehouse().await?;
        let sku = ids.sku().await?;
        let location = Adcode::parse("310114000000").ok_or_else(|| anyhow::anyhow!("adcode"))?;
        let product = CreateProduct {
            id: ids.product().await?,
            shop,
            title: text(&format!("商品{s}"))?,
            description: None,
            gtin: None,
            goods_class: None,
            skus: vec![NewSku {
                id: sku,
                name: text("标准款")?,
                price: Fen::price(1_990).ok_or_else(|| anyhow::anyhow!("price"))?,
            }],
        };
        let name = text(&format!("店铺{s}"))?;
        env.setup(
            shop,
            Command::from(CreateShop {
                id: shop,
                name,
                category: Default::default(),
            }),
        )
        .await?;
        let name = text("仓")?;
        env.setup(
            shop,
            Command::from(CreateWarehouse {
                id: warehouse,
                shop,
                name,
                location,
            }),
        )
        .await?;
        env.setup(shop, Command::from(product)).await?;
        env.setup(
            shop,
            Command::from(SetStock {
                shop,
                sku,
                warehouse,
                available: per_shop,
            }),
        )
        .await?;
        shops.push((shop, sku, warehouse));
    }
    Ok(shops)
}

/// Adds stored answers until `total` are stored, in large batches straight through a writer.
async fn store_answers(env: &Env, next: &mut i64, total: u64) -> anyhow::Result<()> {
    let mut writer = env.state.store.writer(0).await?;
    let now = env.state.clock.now();
    let body = format!("{{\"id\":\"{}\",\"state\":\"pending_payment\"}}", "x".repeat(160));
    while u64::try_from(*next - 1)? < total {
        let batch: Vec<IdempotencyRecord> = (0..20_000)
            .map(|i| IdempotencyRecord {
                id: *next + i,
                scope: format!("buyer:{}", (*next + i) % 100_000),
                key: format!(
                    "bench-restart-{:016x}",
                    ((*next + i) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
                ),
                request_sha256: "0".repeat(64),
                status: 201,
                body: body.clone(),
                created_at: now,
            })
            .take(usize::try_from(total - u64::try_from(*next - 1)?)?.min(20_000))
            .collect();
        writer.commit_batch(&[], &batch, now).await?;
        *next += i64::try_from(batch.len())?;
    }
    Ok(())
}

/// Places unpaid orders until `total` are open, through a platform opened on the database.
async fn place_orders(env: &Env, shops: &[(ShopId, SkuId, WarehouseId)], total: u64) -> anyhow::Result<()> {
    let state = AppState::open(env.state.config.clone()).await?;
    let open = state.store.order_counts_by_state().await?;
    let mut placed: u64 = open.iter().map(|(_, n)| u64::try_from(*n).unwrap_or(0)).sum();
    while placed < total {
        for &(shop, sku, _) in shops {
            let mut bundle: Vec<Command> = Vec::new();
            for _ in 0..256.min(total - placed) {
                bundle.push(order(&state, shop, sku).await?);
            }
            let count = bundle.len() as u64;
            state
                .shards
                .submit_bundle(shop, bundle)
                .await
                .map_err(|e| anyhow::anyhow!("shard: {e}"))?;
            placed += count;
        }
    }
    state.shards.stop().await;
    Ok(())
}

async fn order(state: &AppState, shop: ShopId, sku: SkuId) -> anyhow::Result<Command> {
    let order = state.ids.order().await?;
    Ok(Command::from(PlaceOrder {
        id: order,
        checkout: state.ids.checkout().await?,
        shop,
        buyer: id(1 + order.get() % 50_000, miaodan_domain::BuyerId::new)?,
        lines: vec![OrderLineRequest {
            sku,
            quantity: Quantity::new(1).ok_or_else(|| anyhow::anyhow!("quantity"))?,
        }],
        address: miaodan_domain::orders::Address {
            adcode: Adcode::parse("310101000000").ok_or_else(|| anyhow::anyhow!("adcode"))?,
            detail: miaodan_domain::orders::AddressDetail::parse("南京东路1号")
                .map_err(|e| anyhow::anyhow!("{e:?}"))?,
        },
        payment_timeout_seconds: 30 * 24 * 3600,
        request: None,
        delivery: None,
        client: Default::default(),
    }))
}

/// Opens the platform, serves it, asks `/health` once, waits until keyed requests are served,
/// and stops it again.
async fn restart_once(config: &miaodan_server::Config) -> anyhow::Result<Timed> {
    let started = Instant::now();
    let state = AppState::open(config.clone()).await?;
    let open_ms = started.elapsed().as_secs_f64() * 1e3;
    let phases = state
        .startup
        .phases()
        .iter()
        .map(|(name, took)| (*name, took.as_secs_f64() * 1e3))
        .collect();
    let running = miaodan_server::serve(state).await?;
    let mut connection = Connection::open(running.address).await?;
    let health = connection.get("/healthz", "").await?;
    anyhow::ensure!(health.status == 200, "/healthz answered {}", health.status);
    let first_answer_ms = started.elapsed().as_secs_f64() * 1e3;
    let loaded = tokio::time::timeout(
        std::time::Duration::from_secs(600),
        running.state.idempotency_locks.wait_loaded(),
    );
    anyhow::ensure!(
        loaded.await.is_ok(),
        "the idempotency index did not load within 10 minutes"
    );
    let keyed_ms = started.elapsed().as_secs_f64() * 1e3;
    running.state.shards.stop().await;
    running.shutdown().await;
    Ok(Timed {
        open_ms,
        first_answer_ms,
        keyed_ms,
        phases,
    })
}

/// Times against stored answers, as bars on one scale (`widest` ms is the full bar).
fn chart(title: &str, rows: &[(u64, f64)], widest: f64) {
    println!("\n{title}");
    for (answers, ms) in rows {
        let width = (ms / widest * 50.0).round() as usize;
        println!("{:>10} answers |{:<50}| {ms:.0} ms", answers, "█".repeat(width));
    }
}
