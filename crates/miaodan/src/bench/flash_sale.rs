//! `miaodan bench flash-sale`: one hot SKU, U units, B buyers tapping once each (some retrying
//! with the same idempotency key), C concurrent clients; then an audit of the DATABASE.

use super::env::{Connection, Env, problem_code};
use super::report::Summary;
use super::{FlashSaleArgs, Mode, Tally, progress};
use super::{id, text};
use bytes::Bytes;
use indicatif::ProgressBar;
use miaodan_domain::buyers::Buyer;
use miaodan_domain::catalog::NewSku;
use miaodan_domain::flash_sale::FlashSaleId;
use miaodan_domain::geo::Adcode;
use miaodan_domain::orders::Address;
use miaodan_domain::risk::{ClientSignals, address_key, fingerprint};
use miaodan_domain::shard::{Command, Outcome, RequestRef, ScheduleFlashSale, Tap};
use miaodan_domain::shard::{CreateProduct, CreateShop, CreateWarehouse, SetStock};
use miaodan_domain::{BuyerId, Fen, ProductId, Quantity, ShopId, SkuId, WarehouseId};
use miaodan_server::http::risk::DEVICE_TAG;
use miaodan_server::tokens::TokenRequest;
use miaodan_store::records::Role;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// One buyer's plan: tap once, and maybe retry with the same key.
#[derive(Clone, Copy)]
pub(super) struct Plan {
    pub(super) buyer: i64,
    pub(super) retry: bool,
}

impl Plan {
    /// Requests the plan sends: the tap, and its retry if any.
    pub(super) fn taps(&self) -> u64 {
        if self.retry { 2 } else { 1 }
    }
}

pub(super) struct Sale {
    pub(super) id: FlashSaleId,
    pub(super) shop: ShopId,
    pub(super) sku: SkuId,
    pub(super) warehouse: WarehouseId,
}

fn address() -> anyhow::Result<Address> {
    Ok(Address {
        adcode: Adcode::parse("330106000000").ok_or_else(|| anyhow::anyhow!("adcode"))?,
        detail: text("文三路 90 号 东部软件园 2 号楼")?,
    })
}

/// The sale's product: one SKU at ¥99.
pub(super) fn cup(product: i64, shop: ShopId, sku: SkuId) -> anyhow::Result<Command> {
    Ok(Command::from(CreateProduct {
        id: id(product, ProductId::new)?,
        shop,
        title: text("直播间爆款 保温杯 316 不锈钢 500ml")?,
        description: None,
        gtin: None,
        goods_class: None,
        skus: vec![NewSku {
            id: sku,
            name: text("雾霾蓝")?,
            price: Fen::price(9_900).ok_or_else(|| anyhow::anyhow!("price"))?,
        }],
    }))
}

pub(super) async fn set_up_sale(env: &Env, units: i64) -> anyhow::Result<Sale> {
    let ids = &env.state.ids;
    let shop = ids.shop().await?;
    env.setup(
        shop,
        Command::from(CreateShop {
            id: shop,
            name: text("秒单直播间")?,
            category: Default::default(),
        }),
    )
    .await?;
    let warehouse = ids.warehouse().await?;
    let location = Adcode::parse("330110000000").ok_or_else(|| anyhow::anyhow!("adcode"))?;
    env.setup(
        shop,
        Command::from(CreateWarehouse {
            id: warehouse,
            shop,
            name: text("杭州余杭仓")?,
            location,
        }),
    )
    .await?;
    let sku = ids.sku().await?;
    let product = cup(ids.product().await?.get(), shop, sku)?;
    env.setup(shop, product).await?;
    env.setup(
        shop,
        Command::from(SetStock {
            shop,
            sku,
            warehouse,
            available: units,
        }),
    )
    .await?;
    let now = env.state.clock.now();
    let sale = ids.flash_sale().await?;
    let schedule = ScheduleFlashSale {
        id: sale,
        shop,
        sku,
        warehouse,
        starts_at: now.plus_seconds(-1),
        ends_at: now.plus_seconds(3600),
        price: Fen::price(990).ok_or_else(|| anyhow::anyhow!("price"))?,
        units,
        per_buyer_limit: 1,
        payment_timeout_seconds: 3600,
    };
    env.setup(shop, Command::from(schedule)).await?;
    Ok(Sale {
        id: sale,
        shop,
        sku,
        warehouse,
    })
}

pub(super) fn plans(args: &FlashSaleArgs, seed: u64) -> Vec<Plan> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut plans: Vec<Plan> = (1..=args.buyers as i64)
        .map(|buyer| Plan {
            buyer,
            retry: rng.random_range(0..100) < args.retry_percent,
        })
        .collect();
    plans.shuffle(&mut rng);
    plans
}

pub async fn run(args: &FlashSaleArgs) -> anyhow::Result<Summary> {
    run_within(args, None).await
}

/// [`run`], its clients in http mode taking no new tap after `time_limit` (the figures and the
/// audit are over the taps sent).
pub(super) async fn run_within(args: &FlashSaleArgs, time_limit: Option<Duration>) -> anyhow::Result<Summary> {
    let env = Env::open_with(&args.common, 300, |config| config.risk = args.risk.into()).await?;
    let sale = set_up_sale(&env, args.units).await?;
    let seed = args.common.seed;
    let plans = Arc::new(plans(args, seed));
    let total = plans.iter().map(Plan::taps).sum::<u64>();
    let (tally, duration) = match args.common.mode {
        Mode::Engine => engine(&env, &sale, plans, &args.common, total).await?,
        Mode::Http => http(&env, &sale, plans, args, time_limit).await?,
        Mode::Edge => {
            let buyers: Vec<i64> = plans.iter().map(|p| p.buyer).collect();
            super::edge::run(&env, &sale, plans, &buyers, args, total).await?
        }
    };
    audit(&env, &sale, args, tally, duration).await
}

/// One sale run through the engine on `env`: set up, every buyer's taps; what clients saw and
/// how long it took (the compass benchmark runs it with and without the outbox's readers).
pub(super) async fn engine_sale(env: &Env, args: &FlashSaleArgs) -> anyhow::Result<(Tally, f64)> {
    let sale = set_up_sale(env, args.units).await?;
    let plans = Arc::new(plans(args, args.common.seed));
    let total = plans.iter().map(Plan::taps).sum::<u64>();
    engine(env, &sale, plans, &args.common, total).await
}

/// A buyer's tap from its own phone (a `Device-Id` of its own) to its own flat in the building
/// `address` names: what risk sees of an audience with no ring in it. With risk off the tap
/// carries no signals and the building's address, as the HTTP edge sends it then (working out
/// a flat and its key per tap made this load generator cost more than the decisions it drives).
async fn tap_command(
    env: &Env,
    sale: &Sale,
    buyer: i64,
    address: &Address,
    request: RequestRef,
) -> anyhow::Result<Command> {
    let (address, client) = if env.state.config.risk == miaodan_domain::risk::RiskMode::Off {
        (address.clone(), ClientSignals::default())
    } else {
        let flat = format!("{} {}室", address.detail.as_str(), buyer);
        let key = address_key(address.adcode, &flat);
        let client = ClientSignals {
            device: Some(fingerprint(DEVICE_TAG, &buyer.to_le_bytes())),
            address_key: Some(key),
            ..ClientSignals::default()
        };
        let flat = Address {
            adcode: address.adcode,
            detail: text(&flat)?,
        };
        (flat, client)
    };
    Ok(Command::from(Tap {
        sale: sale.id,
        order: env.state.ids.order().await?,
        checkout: env.state.ids.checkout().await?,
        buyer: id(buyer, BuyerId::new)?,
        quantity: Quantity::new(1).ok_or_else(|| anyhow::anyhow!("quantity"))?,
        address,
        request: Some(request),
        client,
    }))
}

/// Drives the shards directly: no HTTP, the durable store still commits every batch. Each
/// client hands its taps to the shard in bundles of `bundle` (see `Shards::submit_bundle`);
/// retries follow in the next bundle, after their first answer.
pub(super) async fn engine(
    env: &Env,
    sale: &Sale,
    plans: Arc<Vec<Plan>>,
    common: &super::Common,
    total: u64,
) -> anyhow::Result<(Tally, f64)> {
    let address = address()?;
    let next = Arc::new(AtomicUsize::new(0));
    let bar = progress(total, "taps");
    let bundle = common.bundle.max(1);
    let started = Instant::now();
    let workers = (0..common.concurrency).map(|_| {
        let (next, plans, bar, address) = (next.clone(), plans.clone(), bar.clone(), address.clone());
        async move {
            let mut tally = Tally::default();
            loop {
                let from = next.fetch_add(bundle, Ordering::Relaxed);
                let chunk: Vec<Plan> = plans.iter().skip(from).take(bundle).copied().collect();
                if chunk.is_empty() {
                    break;
                }
                let request = |plan: &Plan| RequestRef(format!("bench-tap-{}", plan.buyer));
                let mut firsts = Vec::with_capacity(chunk.len());
                for plan in &chunk {
                    firsts.push(tap_command(env, sale, plan.buyer, &address, request(plan)).await?);
                }
                let first_answers = tally.bundle(env, sale.shop, firsts, &bar).await;
                let mut placed = Vec::new();
                for (plan, answer) in chunk.iter().zip(&first_answers) {
                    match answer {
                        Some(Outcome::OrderPlaced(order)) => {
                            tally.ordered += 1;
                            placed.push((plan.buyer, Some(order.id)));
                        }
                        Some(Outcome::Rejected(rejection)) => {
                            tally.refuse(rejection.code());
                            placed.push((plan.buyer, None));
                        }
                        _ => tally.errors += 1,
                    }
                }
                let retries: Vec<&Plan> = chunk.iter().filter(|p| p.retry).collect();
                if retries.is_empty() {
                    continue;
                }
                let mut again = Vec::with_capacity(retries.len());
                for plan in &retries {
                    again.push(tap_command(env, sale, plan.buyer, &address, request(plan)).await?);
                }
                let answers = tally.bundle(env, sale.shop, again, &bar).await;
                for (plan, answer) in retries.iter().zip(answers) {
                    let first = placed
                        .iter()
                        .find(|(buyer, _)| *buyer == plan.buyer)
                        .and_then(|(_, order)| *order);
                    match (first, answer) {
                        (Some(original), Some(Outcome::OrderAlreadyPlaced(order))) if original == order => {}
                        (None, Some(Outcome::Rejected(_))) => {}
                        (_, Some(Outcome::OrderPlaced(_))) => tally.duplicates += 1,
                        (_, None) => tally.errors += 1,
                        _ => tally.duplicates += 1,
                    }
                }
            }
            anyhow::Ok(tally)
        }
    });
    super::gather(workers, started, &bar).await
}

/// Creates the buyers with tokens in bulk and warms the server's caches, as a real flash
/// sale's audience (known, logged-in viewers) would find them.
pub(super) async fn buyers_with_tokens(env: &Env, buyers: &[i64]) -> anyhow::Result<Vec<String>> {
    let now = env.state.clock.now();
    let address = address()?;
    let bar = progress(buyers.len() as u64, "buyers");
    let mut tokens = vec![String::new(); buyers.len() + 1];
    for chunk in buyers.chunks(5_000) {
        let mut rows = Vec::with_capacity(chunk.len());
        for &buyer in chunk {
            let buyer_id = id(buyer, BuyerId::new)?;
            let (record, token) = miaodan_server::tokens::mint(
                env.state.ids.token().await?,
                TokenRequest::new(Role::Buyer, Some(buyer)),
                now,
            )?;
            let name = text(&format!("观众{buyer}"))?;
            rows.push((
                Buyer {
                    id: buyer_id,
                    name,
                    default_address: Some(address.clone()),
                    created_at: now,
                },
                record,
            ));
            tokens[buyer as usize] = token;
            env.state.directory.remember_address(buyer_id, Some(address.clone()));
        }
        env.state.store.insert_buyers_with_tokens(&rows).await?;
        for (_, record) in rows {
            env.state.tokens.remember(record);
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok(tokens)
}

/// Drives the real HTTP server over loopback with `concurrency` keep-alive connections.
async fn http(
    env: &Env,
    sale: &Sale,
    plans: Arc<Vec<Plan>>,
    args: &FlashSaleArgs,
    time_limit: Option<Duration>,
) -> anyhow::Result<(Tally, f64)> {
    let buyers: Vec<i64> = plans.iter().map(|p| p.buyer).collect();
    let tokens = Arc::new(buyers_with_tokens(env, &buyers).await?);
    let running = miaodan_server::serve(env.state.clone()).await?;
    let taps = HttpTaps {
        address: running.address,
        path: tap_path(sale.id),
        total: plans.iter().map(Plan::taps).sum(),
        plans,
        tokens,
        time_limit,
    };
    let gathered = taps_over_http(taps, args, None).await;
    running.shutdown().await;
    gathered
}

/// The path a buyer taps to order from `sale`.
pub(super) fn tap_path(sale: FlashSaleId) -> String {
    format!("/v1/flash-sales/{sale}/taps")
}

/// When each order a client was told of was acknowledged, in the order the answers arrived.
pub(super) type Acknowledged = std::sync::Mutex<Vec<Instant>>;

/// The taps of one run over HTTP: where they go, whose they are, and for how long at most.
pub(super) struct HttpTaps {
    pub(super) address: std::net::SocketAddr,
    /// The tap's path (a sale's, [`tap_path`]).
    pub(super) path: String,
    pub(super) plans: Arc<Vec<Plan>>,
    /// Each buyer's token, at the buyer's number.
    pub(super) tokens: Arc<Vec<String>>,
    /// Requests the plans send (for the progress bar).
    pub(super) total: u64,
    /// Clients take no new plan after this long; `None` sends every plan.
    pub(super) time_limit: Option<Duration>,
}

/// Every buyer's taps over `concurrency` keep-alive connections: the load generator of every
/// scenario that taps over HTTP (the flash sale, the console's, the bare endpoint of
/// `bench http-baseline`). With `acknowledged`, each `ordered` answer's arrival is noted there.
pub(super) async fn taps_over_http(
    taps: HttpTaps,
    args: &FlashSaleArgs,
    acknowledged: Option<Arc<Acknowledged>>,
) -> anyhow::Result<(Tally, f64)> {
    let bar = progress(taps.total, "taps");
    let started = Instant::now();
    let run = Arc::new(TapRun {
        deadline: taps.time_limit.map(|limit| started + limit),
        taps,
        keys: args.keys,
        next: AtomicUsize::new(0),
        acknowledged,
        bar: bar.clone(),
    });
    let clients = (0..args.common.concurrency).map(|_| tap_client(run.clone()));
    super::gather(clients, started, &bar).await
}

/// What the clients of one [`taps_over_http`] share.
struct TapRun {
    taps: HttpTaps,
    keys: super::KeysArg,
    /// The next plan to send, for whichever client is free first.
    next: AtomicUsize,
    deadline: Option<Instant>,
    acknowledged: Option<Arc<Acknowledged>>,
    bar: ProgressBar,
}

impl TapRun {
    /// The next plan to send, if any is left and the time limit is not reached.
    fn next_plan(&self) -> Option<Plan> {
        if self.deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            return None;
        }
        self.taps.plans.get(self.next.fetch_add(1, Ordering::Relaxed)).copied()
    }
}

/// One client: one keep-alive connection, plans taken one after the other, each plan's tap
/// and its retry (which must get the first answer back, replayed).
async fn tap_client(run: Arc<TapRun>) -> anyhow::Result<Tally> {
    let address = run.taps.address;
    let mut tally = Tally::default();
    let mut connection = Connection::open(address).await?;
    while let Some(plan) = run.next_plan() {
        let key = format!("tap-{}", plan.buyer);
        let token = &run.taps.tokens[plan.buyer as usize];
        let keyed = plan.retry || run.keys == super::KeysArg::All;
        let mut first: Option<Bytes> = None;
        for _ in 0..plan.taps() {
            let sent = Instant::now();
            let answer = connection
                .post(&run.taps.path, token, keyed.then_some(key.as_str()), Bytes::new())
                .await;
            tally.record(sent.elapsed());
            run.bar.inc(1);
            let response = match answer {
                Ok(response) => response,
                Err(_) => {
                    tally.errors += 1;
                    connection = Connection::open(address).await?;
                    continue;
                }
            };
            if let Some(original) = &first {
                if !response.replayed || response.body != *original {
                    tally.duplicates += 1;
                }
                continue;
            }
            match response.status {
                201 => {
                    tally.ordered += 1;
                    if let Some(log) = &run.acknowledged {
                        log.lock().unwrap_or_else(|p| p.into_inner()).push(Instant::now());
                    }
                }
                409 | 429 | 503 => tally.refuse(&problem_code(&response.body)),
                _ => tally.errors += 1,
            }
            first = Some(response.body);
        }
    }
    Ok(tally)
}

pub(super) async fn audit(
    env: &Env,
    sale: &Sale,
    args: &FlashSaleArgs,
    tally: Tally,
    duration: f64,
) -> anyhow::Result<Summary> {
    let store = &env.state.store;
    let flash = store.audit_flash_sale(sale.id).await?;
    let stock = store.audit_stock().await?;
    let level = store
        .stock_of(sale.sku)
        .await?
        .into_iter()
        .find(|(w, _)| *w == sale.warehouse)
        .map(|(_, l)| l);
    let mut checks: Vec<(bool, String)> = Vec::new();
    let mut check = |ok: bool, what: String| checks.push((ok, what));
    check(
        flash.orders == tally.ordered as i64,
        format!(
            "orders in the database ({}) = orders acknowledged to clients ({})",
            flash.orders, tally.ordered
        ),
    );
    check(
        flash.units_in_orders <= flash.allotted,
        format!(
            "units sold {} ≤ units allotted {}",
            flash.units_in_orders, flash.allotted
        ),
    );
    check(
        flash.units_in_orders + flash.remaining == flash.allotted,
        format!(
            "sold {} + remaining {} = allotted {}",
            flash.units_in_orders, flash.remaining, flash.allotted
        ),
    );
    check(
        flash.buyers_over_limit == 0,
        format!("buyers over the per-buyer limit: {}", flash.buyers_over_limit),
    );
    check(
        flash.duplicate_requests == 0,
        format!(
            "idempotency keys with more than one order: {}",
            flash.duplicate_requests
        ),
    );
    check(
        tally.duplicates == 0,
        format!("retries that did not get their original answer: {}", tally.duplicates),
    );
    check(
        stock.negative_rows == 0,
        format!("stock rows with a negative count: {}", stock.negative_rows),
    );
    let (conserved, what) = conservation(level, args.units);
    check(conserved, what);
    Ok(Summary {
        units_initial: args.units,
        units_sold: flash.units_in_orders,
        oversold: (flash.units_in_orders - flash.allotted).max(0),
        duplicate_orders: flash.duplicate_requests + tally.duplicates as i64,
        limit_violations: flash.buyers_over_limit,
        ..Summary::of_run("flash-sale", &args.common, &env.backend, &tally, duration, checks)
    })
}

/// Whether the sale's SKU still adds up to the units it started with, and how.
fn conservation(level: Option<miaodan_domain::inventory::StockLevel>, units: i64) -> (bool, String) {
    let conserved = level.map(|l| l.total()) == Some(units);
    let how = match level {
        Some(l) => format!(
            "{} available + {} reserved + {} sold = {}",
            l.available,
            l.reserved,
            l.sold,
            l.total()
        ),
        None => "the warehouse has no stock row for it".to_string(),
    };
    (
        conserved,
        format!("available + reserved + sold of the SKU = {units} initially: {how}"),
    )
}
