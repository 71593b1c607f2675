//! `miaodan bench checkout`: an ordinary busy hour. Many SKUs across shops; each buyer's
//! checkout has 1–4 lines (sometimes of several shops); most checkouts are then paid (a payment
//! intent confirmed with the simpay simulator), some cancelled, the rest left to expire.
//! Audited for stock conservation and for payments (every paid order has its checkout's one
//! capture; captured money = paid orders + refunds of closed orders) afterwards.

use super::env::{Connection, Env, problem_code};
use super::report::Summary;
use super::{CheckoutArgs, Mode, Tally, progress};
use super::{id, text};
use bytes::Bytes;
use miaodan_domain::catalog::NewSku;
use miaodan_domain::geo::Adcode;
use miaodan_domain::orders::{Address, CancelReason};
use miaodan_domain::payments::Settlement;
use miaodan_domain::shard::{CancelOrder, CreateProduct, CreateShop, CreateWarehouse, SetStock};
use miaodan_domain::shard::{Canceller, Command, OrderLineRequest, Outcome, PlaceOrder};
use miaodan_domain::{BuyerId, CheckoutId, Fen, Quantity, ShopId, SkuId};
use miaodan_server::flows::payments::PayWith;
use miaodan_server::http::problem::ApiError;
use miaodan_server::tokens::TokenRequest;
use miaodan_store::records::Role;
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

const STOCK_PER_SKU: i64 = 1_000_000;

/// What to do with an order once placed.
#[derive(Clone, Copy)]
enum Then {
    Pay,
    Cancel,
    LeaveUnpaid,
}

struct Basket {
    buyer: i64,
    lines: Vec<(ShopId, SkuId, i64)>,
    then: Then,
}

const CITIES: [&str; 4] = ["310114000000", "440111000000", "510116000000", "420112000000"];

async fn set_up(env: &Env, args: &CheckoutArgs) -> anyhow::Result<Vec<(ShopId, Vec<SkuId>)>> {
    let ids = &env.state.ids;
    let mut shops = Vec::new();
    for s in 0..args.shops {
        let shop = ids.shop().await?;
        env.setup(
            shop,
            Command::from(CreateShop {
                id: shop,
                name: text(&format!("店铺{s}"))?,
                category: Default::default(),
            }),
        )
        .await?;
        let mut warehouses = Vec::new();
        for city in CITIES.iter().take(2) {
            let warehouse = ids.warehouse().await?;
            let location = Adcode::parse(city).ok_or_else(|| anyhow::anyhow!("adcode"))?;
            env.setup(
                shop,
                Command::from(CreateWarehouse {
                    id: warehouse,
                    shop,
                    name: text(&format!("仓{city}"))?,
                    location,
                }),
            )
            .await?;
            warehouses.push(warehouse);
        }
        let mut skus = Vec::new();
        for p in 0..args.skus_per_shop {
            let sku = ids.sku().await?;
            let price = Fen::price(1_990 + (p as i64 % 50) * 100).ok_or_else(|| anyhow::anyhow!("price"))?;
            let product = Command::from(CreateProduct {
                id: ids.product().await?,
                shop,
                title: text(&format!("商品{s}-{p}"))?,
                description: None,
                gtin: None,
                goods_class: None,
                skus: vec![NewSku {
                    id: sku,
                    name: text("标准款")?,
                    price,
                }],
            });
            env.setup(shop, product).await?;
            for warehouse in &warehouses {
                env.setup(
                    shop,
                    Command::from(SetStock {
                        shop,
                        sku,
                        warehouse: *warehouse,
                        available: STOCK_PER_SKU / 2,
                    }),
                )
                .await?;
            }
            skus.push(sku);
        }
        shops.push((shop, skus));
    }
    Ok(shops)
}

fn baskets(args: &CheckoutArgs, shops: &[(ShopId, Vec<SkuId>)]) -> Vec<Basket> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.common.seed);
    (0..args.checkouts)
        .map(|_| {
            let mut lines: Vec<(ShopId, SkuId, i64)> = Vec::new();
            for _ in 0..rng.random_range(1..=4) {
                let (shop, skus) = &shops[rng.random_range(0..shops.len())];
                let sku = skus[rng.random_range(0..skus.len())];
                // A checkout names each SKU once (the API refuses duplicates).
                if lines.iter().all(|(_, s, _)| *s != sku) {
                    lines.push((*shop, sku, rng.random_range(1..=3)));
                }
            }
            let then = match rng.random_range(0..100) {
                0..60 => Then::Pay,
                60..75 => Then::Cancel,
                _ => Then::LeaveUnpaid,
            };
            Basket {
                buyer: rng.random_range(1..=args.buyers as i64),
                lines,
                then,
            }
        })
        .collect()
}

pub async fn run(args: &CheckoutArgs) -> anyhow::Result<Summary> {
    // Unpaid orders expire within the run, so expiry is part of the measured load.
    let env = Env::open(&args.common, 2).await?;
    let shops = set_up(&env, args).await?;
    let baskets = Arc::new(baskets(args, &shops));
    let units_initial = STOCK_PER_SKU * (args.shops * args.skus_per_shop) as i64;
    let (tally, duration) = match args.common.mode {
        Mode::Engine => engine(&env, baskets, args.common.concurrency).await?,
        Mode::Http => http(&env, baskets, args).await?,
        Mode::Edge => anyhow::bail!("--mode edge is the flash sale's (batches of taps)"),
    };
    // Let the expiry sweep cancel the orders left unpaid, then audit.
    tokio::time::sleep(std::time::Duration::from_millis(2_600)).await;
    audit(&env, args, tally, duration, units_initial).await
}

fn address() -> anyhow::Result<Address> {
    Ok(Address {
        adcode: Adcode::parse("310101000000").ok_or_else(|| anyhow::anyhow!("adcode"))?,
        detail: text("南京东路 1 号")?,
    })
}

/// Places each basket as one order per shop through the shards, then pays or cancels it.
async fn engine(env: &Env, baskets: Arc<Vec<Basket>>, concurrency: usize) -> anyhow::Result<(Tally, f64)> {
    let address = address()?;
    let next = Arc::new(AtomicUsize::new(0));
    let bar = progress(baskets.len() as u64, "checkouts");
    let started = Instant::now();
    let workers = (0..concurrency).map(|_| {
        let (next, baskets, bar, address) = (next.clone(), baskets.clone(), bar.clone(), address.clone());
        async move {
            let mut tally = Tally::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(basket) = baskets.get(i) else { break };
                let checkout = env.state.ids.checkout().await?;
                let mut parts: std::collections::BTreeMap<ShopId, Vec<OrderLineRequest>> = Default::default();
                for (shop, sku, quantity) in &basket.lines {
                    let quantity = Quantity::new(*quantity).ok_or_else(|| anyhow::anyhow!("quantity"))?;
                    parts
                        .entry(*shop)
                        .or_default()
                        .push(OrderLineRequest { sku: *sku, quantity });
                }
                let mut placed_any = false;
                for (shop, lines) in parts {
                    let buyer = id(basket.buyer, BuyerId::new)?;
                    let place = place_part(env, (checkout, shop, buyer), lines, &address).await?;
                    let (sent, command) = (Instant::now(), Command::from(place));
                    let answer = env.state.shards.submit(shop, command, None).await;
                    tally.record(sent.elapsed());
                    let order = match answer {
                        Ok(Outcome::OrderPlaced(order)) => order,
                        Ok(Outcome::Rejected(rejection)) => {
                            tally.refuse(rejection.code());
                            continue;
                        }
                        Ok(_) => {
                            tally.errors += 1;
                            continue;
                        }
                        Err(error) => {
                            tally.refuse(ApiError::from(error).code);
                            continue;
                        }
                    };
                    tally.ordered += 1;
                    let follow_up = match basket.then {
                        Then::Cancel => Command::from(CancelOrder {
                            order: order.id,
                            by: Canceller::Buyer(order.buyer),
                            reason: CancelReason::BuyerCancelled,
                        }),
                        Then::Pay => {
                            placed_any = true;
                            continue;
                        }
                        Then::LeaveUnpaid => continue,
                    };
                    let (sent, answer) = (Instant::now(), env.state.shards.submit(shop, follow_up, None));
                    let answer = answer.await;
                    tally.record(sent.elapsed());
                    match answer {
                        Ok(Outcome::OrderCancelled(_)) => {}
                        Ok(Outcome::Rejected(rejection)) => tally.refuse(rejection.code()),
                        _ => tally.errors += 1,
                    }
                }
                if placed_any {
                    pay(env, &mut tally, id(basket.buyer, BuyerId::new)?, checkout).await;
                }
                bar.inc(1);
            }
            anyhow::Ok(tally)
        }
    });
    super::gather(workers, started, &bar).await
}

/// One shop's part of a basket's checkout, as the checkout flow would send it.
async fn place_part(
    env: &Env,
    (checkout, shop, buyer): (CheckoutId, ShopId, BuyerId),
    lines: Vec<OrderLineRequest>,
    address: &Address,
) -> anyhow::Result<PlaceOrder> {
    Ok(PlaceOrder {
        id: env.state.ids.order().await?,
        checkout,
        shop,
        buyer,
        lines,
        address: address.clone(),
        payment_timeout_seconds: env.state.config.payment_timeout_seconds,
        request: None,
        delivery: None,
        client: Default::default(),
    })
}

/// Pays a checkout through the server's own payment code (open the intent, confirm it with
/// the in-process simpay): the confirmation's time is the server-side payment latency.
pub(super) async fn pay(env: &Env, tally: &mut Tally, buyer: BuyerId, checkout: CheckoutId) {
    let state = &env.state;
    let sent = Instant::now();
    let opened = miaodan_server::flows::payments::open_intent(state, buyer, checkout, false).await;
    tally.record(sent.elapsed());
    let intent = match opened {
        Ok(intent) => intent,
        Err(error) => return tally.refuse(ApiError::from(error).code),
    };
    let sent = Instant::now();
    let confirmed = miaodan_server::flows::payments::confirm(
        state,
        buyer,
        intent.id,
        PayWith::Credential(WALLET.into()),
        Default::default(),
    )
    .await;
    tally.record_confirm(sent.elapsed());
    match confirmed {
        Ok(intent) => {
            tally.paid += intent
                .orders
                .iter()
                .filter(|o| o.settlement == Settlement::Paid)
                .count() as u64
        }
        Err(error) => tally.refuse(ApiError::from(error).code),
    }
}

/// The credential the benchmark's buyers pay with (simpay approves it).
const WALLET: &str = "bench-wallet";

/// Buyers 1 to `buyers`, each with a token (index = buyer id).
pub(super) async fn buyers_with_tokens(env: &Env, buyers: i64) -> anyhow::Result<Vec<String>> {
    let now = env.state.clock.now();
    let mut tokens = vec![String::new(); buyers as usize + 1];
    let mut rows = Vec::new();
    for buyer in 1..=buyers {
        let (record, token) = miaodan_server::tokens::mint(
            env.state.ids.token().await?,
            TokenRequest::new(Role::Buyer, Some(buyer)),
            now,
        )?;
        let person = miaodan_domain::buyers::Buyer {
            id: env.state.ids.buyer().await?,
            name: text(&format!("买家{buyer}"))?,
            default_address: Some(address()?),
            created_at: now,
        };
        tokens[buyer as usize] = token;
        rows.push((person, record));
    }
    env.state.store.insert_buyers_with_tokens(&rows).await?;
    Ok(tokens)
}

/// The same busy hour over HTTP: checkout, then pay (open the payment intent and confirm it) or
/// cancel.
async fn http(env: &Env, baskets: Arc<Vec<Basket>>, args: &CheckoutArgs) -> anyhow::Result<(Tally, f64)> {
    let tokens = Arc::new(buyers_with_tokens(env, args.buyers as i64).await?);
    let running = miaodan_server::serve(env.state.clone()).await?;
    let address = running.address;
    let next = Arc::new(AtomicUsize::new(0));
    let bar = progress(baskets.len() as u64, "checkouts");
    let started = Instant::now();
    let workers = (0..args.common.concurrency).map(|_| {
        let (next, baskets, bar, tokens) = (next.clone(), baskets.clone(), bar.clone(), tokens.clone());
        async move {
            let mut tally = Tally::default();
            let mut connection = Connection::open(address).await?;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(basket) = baskets.get(i) else { break };
                let token = &tokens[basket.buyer as usize];
                let lines: Vec<serde_json::Value> = basket
                    .lines
                    .iter()
                    .map(|(_, sku, quantity)| serde_json::json!({ "sku_id": sku.get(), "quantity": quantity }))
                    .collect();
                let body = Bytes::from(serde_json::to_vec(&serde_json::json!({ "lines": lines }))?);
                let key = format!("checkout-{i}");
                let sent = Instant::now();
                let answer = connection.post("/v1/checkouts", token, Some(&key), body).await;
                tally.record(sent.elapsed());
                bar.inc(1);
                let Ok(response) = answer else {
                    tally.errors += 1;
                    connection = Connection::open(address).await?;
                    continue;
                };
                if response.status != 201 {
                    if response.status >= 500 && response.status != 503 {
                        tally.errors += 1
                    } else {
                        tally.refuse(&problem_code(&response.body))
                    }
                    continue;
                }
                let placed: serde_json::Value = serde_json::from_slice(&response.body)?;
                let orders: Vec<i64> = placed["orders"]
                    .as_array()
                    .map(|o| o.iter().filter_map(|o| o["id"].as_i64()).collect())
                    .unwrap_or_default();
                tally.ordered += orders.len() as u64;
                match basket.then {
                    Then::Pay => {
                        let checkout_id = placed["checkout_id"].as_i64().unwrap_or(0);
                        match pay_over_http(&mut connection, token, checkout_id, &mut tally).await {
                            Ok(()) => {}
                            Err(_) => {
                                tally.errors += 1;
                                connection = Connection::open(address).await?;
                            }
                        }
                    }
                    Then::Cancel => {
                        for order in orders {
                            let path = format!("/v1/orders/{order}/cancel");
                            let sent = Instant::now();
                            let answer = connection.post(&path, token, None, Bytes::new()).await;
                            tally.record(sent.elapsed());
                            match answer {
                                Ok(r) if r.status == 200 => {}
                                Ok(r) => tally.refuse(&problem_code(&r.body)),
                                Err(_) => {
                                    tally.errors += 1;
                                    connection = Connection::open(address).await?;
                                }
                            }
                        }
                    }
                    Then::LeaveUnpaid => {}
                }
            }
            anyhow::Ok(tally)
        }
    });
    let gathered = super::gather_spawned(workers, started, &bar).await;
    running.shutdown().await;
    gathered
}

/// Opens the checkout's payment intent and confirms it; the confirmation is timed apart.
pub(super) async fn pay_over_http(
    connection: &mut Connection,
    token: &str,
    checkout_id: i64,
    tally: &mut Tally,
) -> anyhow::Result<()> {
    let body = Bytes::from(serde_json::to_vec(&serde_json::json!({ "checkout_id": checkout_id }))?);
    let sent = Instant::now();
    let opened = connection.post("/v1/payment-intents", token, None, body).await?;
    tally.record(sent.elapsed());
    if opened.status != 201 {
        tally.refuse(&problem_code(&opened.body));
        return Ok(());
    }
    let intent: serde_json::Value = serde_json::from_slice(&opened.body)?;
    let path = format!("/v1/payment-intents/{}/confirm", intent["id"].as_i64().unwrap_or(0));
    let body = Bytes::from(serde_json::to_vec(&serde_json::json!({ "credential": WALLET }))?);
    let sent = Instant::now();
    let confirmed = connection.post(&path, token, None, body).await?;
    tally.record_confirm(sent.elapsed());
    if confirmed.status != 200 {
        tally.refuse(&problem_code(&confirmed.body));
        return Ok(());
    }
    let intent: serde_json::Value = serde_json::from_slice(&confirmed.body)?;
    let paid = intent["orders"]
        .as_array()
        .map(|orders| orders.iter().filter(|o| o["settlement"] == "paid").count())
        .unwrap_or(0);
    tally.paid += paid as u64;
    Ok(())
}

async fn audit(
    env: &Env,
    args: &CheckoutArgs,
    tally: Tally,
    duration: f64,
    units_initial: i64,
) -> anyhow::Result<Summary> {
    let stock = env.state.store.audit_stock().await?;
    let total = stock.available + stock.reserved + stock.sold;
    let mut checks: Vec<(bool, String)> = vec![
        (
            stock.negative_rows == 0,
            format!("stock rows with a negative count: {}", stock.negative_rows),
        ),
        (
            total == units_initial,
            format!("available + reserved + sold = {total}, initially {units_initial}"),
        ),
        (
            stock.reserved == stock.units_in_pending_orders + stock.units_held_by_open_sales,
            format!(
                "reserved {} = units of unpaid orders {}",
                stock.reserved, stock.units_in_pending_orders
            ),
        ),
        (
            stock.sold == stock.units_in_paid_orders,
            format!(
                "sold {} = units of paid orders {}",
                stock.sold, stock.units_in_paid_orders
            ),
        ),
    ];
    let payments = env.state.store.audit_payments().await?;
    checks.extend([
        (
            payments.paid_without_capture == 0,
            format!(
                "paid orders without a capture of their checkout: {} (of {} paid)",
                payments.paid_without_capture, payments.paid_orders
            ),
        ),
        (
            payments.checkouts_with_two_intents == 0,
            format!(
                "checkouts with more than one payment: {}",
                payments.checkouts_with_two_intents
            ),
        ),
        (
            payments.captured_fen == payments.paid_orders_fen + payments.refunded_closed_orders_fen,
            format!(
                "captured {} fen = paid orders {} fen + refunded shares of closed orders {} fen",
                payments.captured_fen, payments.paid_orders_fen, payments.refunded_closed_orders_fen
            ),
        ),
    ]);
    checks.push((
        tally.errors == 0,
        format!("transport or server errors: {}", tally.errors),
    ));
    Ok(Summary {
        units_initial,
        units_sold: stock.sold,
        ..Summary::of_run("checkout", &args.common, &env.backend, &tally, duration, checks)
    })
}
