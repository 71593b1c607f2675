//! `miaodan bench after-sales`: a busy evening of after-sales requests (售后) among new orders.
//!
//! Before the evening (not measured), buyers placed and paid orders in several shops. Some
//! were handed to a carrier nine days ago and never moved since (stalled), some were delivered
//! nine days ago (their no-reason window has closed), some were shipped or delivered today, and
//! most still wait in their warehouse. During the evening the clients open requests on those
//! orders — cancellations before shipment, refunds only for goods lost, never arrived or
//! damaged, a no-reason refund too late — while other buyers place and pay new orders (and some
//! cancel them at once). The rules approve, refuse or pass each request to the merchant; the
//! merchant (the same client, right after) approves or refuses what it was passed. Every refund
//! goes through the simpay simulator.
//!
//! Measured: the rules alone, in a tight in-process loop over prepared facts; each request's
//! round trip, apart for those the rules decided; the share decided automatically; and, from
//! the database, the time from each rule-approved request to its refund settled by the
//! provider. The audit reads the database: refunds never above what an order or a payment took
//! in, one refund per request and of its amount, each request decided once, stock conserved.

use super::checkout::{buyers_with_tokens, pay, pay_over_http};
use super::env::{Connection, Env, Response, problem_code};
use super::report::{AfterSalesFigures, Latency, Summary, histogram};
use super::{AfterSalesArgs, Merge, Mode, Tally, progress};
use super::{id, text};
use bytes::Bytes;
use hdrhistogram::Histogram;
use miaodan_domain::after_sales::commands::SavedRequest;
use miaodan_domain::after_sales::policy::{AfterSalesPolicy, ExemptGoods};
use miaodan_domain::after_sales::request::{Actor, RequestLine, Stage};
use miaodan_domain::after_sales::rules::{self, BuyerRecord, Facts, Parcels, RuleMode, Verdict};
use miaodan_domain::after_sales::{Reason, RequestKind};
use miaodan_domain::catalog::NewSku;
use miaodan_domain::geo::Adcode;
use miaodan_domain::ids::AfterSalesId;
use miaodan_domain::logistics::{ShipmentState, TrackingEvent};
use miaodan_domain::orders::{Address, Order};
use miaodan_domain::shard::{ApproveRequest, Decider, OrderLineRequest, PlaceOrder, Placement, RecordTracking};
use miaodan_domain::shard::{CreateProduct, CreateShop, CreateWarehouse, RefuseRequest, SetStock};
use miaodan_domain::{BuyerId, Fen, OrderId, Quantity, ShopId, SkuId, Timestamp, WarehouseId};
use miaodan_server::PaymentsConfig;
use miaodan_server::carriers::CarriersConfig;
use miaodan_server::flows::after_sales::{self as flow, Ask};
use miaodan_server::flows::shipments::{ShipParcel, ship};
use miaodan_server::http::problem::ApiError;
use miaodan_server::tokens::TokenRequest;
use miaodan_store::AfterSalesFilter;
use miaodan_store::records::{Keyset, Role};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const STOCK_PER_SKU: i64 = 1_000_000;
const HOUR_MS: i64 = 3_600_000;
/// How long before the evening the "long ago" parcels were shipped or delivered: past the
/// rules' 72 h without movement, and past the 7-day no-reason window.
const HISTORY_MS: i64 = 9 * 24 * HOUR_MS;
/// The target: a rule-approved request's refund settles within this of the request.
const REFUND_WITHIN_MS: i64 = 60_000;
/// How long the run waits, after the evening, for refunds still with the provider.
const REFUNDS_WAIT: Duration = Duration::from_secs(120);
/// Clients placing and paying the orders of before the evening.
const PREPARE_WORKERS: usize = 16;
/// ¥39.90 a unit (up to three in an order: under the ¥500 the rules approve alone) and
/// ¥299.00 (two in an order: over it).
const CHEAP_FEN: i64 = 3_990;
const DEAR_FEN: i64 = 29_900;
/// Facts the rules loop cycles through.
const FACTS: usize = 1_024;

fn address() -> anyhow::Result<Address> {
    Ok(Address {
        adcode: Adcode::parse("310101000000").ok_or_else(|| anyhow::anyhow!("adcode"))?,
        detail: text("南京东路 1 号")?,
    })
}

/// A shop of the evening: one warehouse, a cheap SKU and a dear one.
struct ShopWorld {
    id: ShopId,
    warehouse: WarehouseId,
    cheap: SkuId,
    dear: SkuId,
    /// Its merchant's token (http mode).
    merchant: String,
}

/// What an earlier order's buyer asks this evening, and what the rules make of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Story {
    /// Cancel an order still in its warehouse: approved (`not_yet_picked_up`).
    CancelUnshipped,
    /// One unit of an unshipped order refunded: approved.
    RefundUnshipped,
    /// Cancel an order of ¥598: over the ceiling, the merchant decides.
    CancelDear,
    /// A parcel still for nine days, never arrived: approved (`stalled_past_promise`).
    RefundStalled,
    /// Cancel an order a carrier already has: refused (`already_picked_up`).
    CancelShipped,
    /// A parcel shipped today "never arrived": the merchant decides.
    RefundMoving,
    /// A no-reason refund nine days after delivery: refused (`no_reason_window_closed`).
    NoReasonLate,
    /// Arrived damaged today: the merchant decides.
    RefundDamaged,
}

/// Where an earlier order stands when the evening begins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum History {
    Waiting,
    ShippedLongAgo,
    DeliveredLongAgo,
    ShippedToday,
    DeliveredToday,
}

impl Story {
    /// The evening's mix, in percent.
    const MIX: [(Story, u32); 8] = [
        (Story::CancelUnshipped, 30),
        (Story::RefundUnshipped, 15),
        (Story::CancelDear, 10),
        (Story::RefundStalled, 10),
        (Story::CancelShipped, 10),
        (Story::RefundMoving, 5),
        (Story::NoReasonLate, 10),
        (Story::RefundDamaged, 10),
    ];

    fn draw(rng: &mut StdRng) -> Story {
        let mut left = rng.random_range(0..100);
        for (story, percent) in Story::MIX {
            if left < percent {
                return story;
            }
            left -= percent;
        }
        Story::CancelUnshipped
    }

    fn history(self) -> History {
        match self {
            Story::CancelUnshipped | Story::RefundUnshipped | Story::CancelDear => History::Waiting,
            Story::RefundStalled => History::ShippedLongAgo,
            Story::CancelShipped | Story::RefundMoving => History::ShippedToday,
            Story::NoReasonLate => History::DeliveredLongAgo,
            Story::RefundDamaged => History::DeliveredToday,
        }
    }

    fn kind_and_reason(self) -> (RequestKind, Reason) {
        match self {
            Story::CancelUnshipped | Story::CancelDear | Story::CancelShipped => {
                (RequestKind::CancelBeforeShipment, Reason::ChangedMind)
            }
            Story::RefundUnshipped => (RequestKind::RefundOnly, Reason::ChangedMind),
            Story::RefundStalled => (RequestKind::RefundOnly, Reason::Lost),
            Story::RefundMoving => (RequestKind::RefundOnly, Reason::NeverArrived),
            Story::NoReasonLate => (RequestKind::RefundOnly, Reason::NoReason),
            Story::RefundDamaged => (RequestKind::RefundOnly, Reason::ArrivedDamaged),
        }
    }
}

/// An order placed and paid before the evening, and the request its buyer makes.
struct Earlier {
    story: Story,
    order: Order,
    shop: usize,
    merchant_approves: bool,
    /// Sent twice with one Idempotency-Key (http mode).
    retry: bool,
}

impl Earlier {
    fn ask(&self) -> Ask {
        let (kind, reason) = self.story.kind_and_reason();
        let line = &self.order.lines[0];
        let units = match self.story {
            Story::RefundStalled => line.quantity.get(),
            _ => 1,
        };
        let lines = match kind {
            RequestKind::CancelBeforeShipment => vec![],
            _ => vec![RequestLine {
                sku: line.sku,
                quantity: units,
            }],
        };
        Ask {
            buyer: self.order.buyer,
            order: self.order.id,
            kind,
            reason,
            lines,
            new_address: None,
            exchange_for: vec![],
            client: None,
        }
    }
}

/// One client step of the evening.
#[derive(Clone, Copy)]
enum Job {
    /// The request of `Earlier` number `.0`.
    Ask(usize),
    /// A new order, placed and paid, and perhaps cancelled at once.
    Buy { buyer: i64, shop: usize, cancel: bool },
}

/// The order placed before the evening: (story, buyer, shop, units, merchant approves, retry).
type Plan = (Story, i64, usize, i64, bool, bool);

fn plans(args: &AfterSalesArgs, rng: &mut StdRng) -> Vec<Plan> {
    (0..args.requests)
        .map(|_| {
            let story = Story::draw(rng);
            let units = if story == Story::CancelDear {
                2
            } else {
                rng.random_range(1..=3)
            };
            (
                story,
                rng.random_range(1..=args.buyers as i64),
                rng.random_range(0..args.shops as usize),
                units,
                rng.random_bool(0.5),
                rng.random_range(0..100) < 5,
            )
        })
        .collect()
}

fn jobs(args: &AfterSalesArgs, requests: usize, rng: &mut StdRng) -> Vec<Job> {
    let mut jobs: Vec<Job> = (0..requests).map(Job::Ask).collect();
    jobs.extend((0..args.orders).map(|_| Job::Buy {
        buyer: rng.random_range(1..=args.buyers as i64),
        shop: rng.random_range(0..args.shops as usize),
        cancel: rng.random_range(0..100) < 20,
    }));
    jobs.shuffle(rng);
    jobs
}

pub async fn run(args: &AfterSalesArgs) -> anyhow::Result<Summary> {
    anyhow::ensure!(
        args.shops >= 1 && args.buyers >= 1,
        "--shops and --buyers are at least 1"
    );
    let rules = rule_decisions(args.decisions, args.common.seed);
    let env = Env::open_with(&args.common, 900, |config| {
        // Parcels move only when the benchmark says so: "stalled" must stay still.
        config.carriers = CarriersConfig::manual();
        // The platform's clock moves nine days ahead, and the server checks a provider
        // notification's signature time against that clock: every one would be refused as
        // stale. Payments and refunds are answered in the call; the notifications only repeat it.
        config.payments = PaymentsConfig::InProcessSimpay {
            seed: 7,
            faults: simpay::Faults::default(),
            webhooks: false,
        };
    })
    .await?;
    let shops = set_up_shops(&env, args.shops).await?;
    let tokens = buyers_with_tokens(&env, args.buyers as i64).await?;
    let mut rng = StdRng::seed_from_u64(args.common.seed);
    let plans = plans(args, &mut rng);
    let earlier = Arc::new(prepare(&env, &shops, &plans).await?);
    let jobs = Arc::new(jobs(args, earlier.len(), &mut rng));
    let world = Arc::new(World { shops, tokens, earlier });
    let units_initial = STOCK_PER_SKU * 2 * args.shops as i64;
    let (evening, duration) = match args.common.mode {
        Mode::Engine => {
            let gathered = engine(&env, world, jobs, args.common.concurrency).await?;
            settle_refunds(&env).await;
            gathered
        }
        Mode::Http => http(&env, world, jobs, args.common.concurrency).await?,
        Mode::Edge => anyhow::bail!("--mode edge is the flash sale's (batches of taps)"),
    };
    audit(&env, args, evening, duration, units_initial, rules).await
}

// ---- the rules alone -------------------------------------------------------------------------

/// Facts of every kind the rules see: parcels waiting, moving, still or delivered, reasons,
/// amounts around the ceiling, buyers with and without a history, exempt goods, risk scores.
fn random_facts<'a>(
    rng: &mut StdRng,
    policy: &'a AfterSalesPolicy,
    goods: &'a [ExemptGoods],
    now: Timestamp,
) -> Facts<'a> {
    let ago = |rng: &mut StdRng, hours_max: i64| now.plus_seconds(-rng.random_range(0..hours_max * 3_600));
    let kinds = [
        RequestKind::CancelBeforeShipment,
        RequestKind::RefundOnly,
        RequestKind::ReturnAndRefund,
    ];
    let parcels = match rng.random_range(0..3) {
        0 => Parcels::NotPickedUp,
        1 => Parcels::OnTheWay {
            picked_up_at: ago(rng, 200),
            last_movement_at: ago(rng, 120),
            promised_by: rng.random_bool(0.5).then(|| ago(rng, 96)),
        },
        _ => Parcels::Delivered {
            delivered_at: ago(rng, 300),
        },
    };
    let kind = kinds[rng.random_range(0..kinds.len())];
    Facts {
        kind,
        reason: Reason::ALL[rng.random_range(0..Reason::ALL.len())],
        amount: Fen::from_const(rng.random_range(100..80_000)),
        parcels,
        goods: if rng.random_range(0..10) == 0 { goods } else { &[] },
        return_scanned_at: (kind == RequestKind::ReturnAndRefund && rng.random_bool(0.3)).then(|| ago(rng, 48)),
        buyer: BuyerRecord {
            paid_orders: rng.random_range(0..40),
            refunded_requests: rng.random_range(0..8),
        },
        risk_score: rng.random_bool(0.2).then(|| rng.random_range(0..1000)),
        policy,
        now,
    }
}

/// Decides `n` requests in a tight loop on one thread; the rate of decisions per second.
fn rule_decisions(n: u64, seed: u64) -> (u64, f64) {
    let policy = AfterSalesPolicy::default();
    let perishable = [ExemptGoods::Perishable];
    let now = Timestamp::from_unix_ms(1_795_397_400_000);
    let mut rng = StdRng::seed_from_u64(seed);
    let facts: Vec<Facts<'_>> = (0..FACTS)
        .map(|_| random_facts(&mut rng, &policy, &perishable, now))
        .collect();
    let bar = progress(n, "rule decisions");
    let started = Instant::now();
    let mut approved = 0u64;
    for i in 0..n {
        let decision = rules::decide(std::hint::black_box(&facts[i as usize % FACTS]), RuleMode::Enforced);
        approved += u64::from(decision.acted == Verdict::Approve);
        if i % 65_536 == 0 {
            bar.set_position(i);
        }
    }
    let seconds = started.elapsed().as_secs_f64().max(1e-9);
    bar.finish_and_clear();
    std::hint::black_box(approved);
    (n, n as f64 / seconds)
}

// ---- before the evening ----------------------------------------------------------------------

async fn set_up_shops(env: &Env, shops: u64) -> anyhow::Result<Vec<ShopWorld>> {
    let ids = &env.state.ids;
    let mut world = Vec::new();
    for s in 0..shops {
        let shop = ids.shop().await?;
        let name = text(&format!("售后店铺{s}"))?;
        env.setup(
            shop,
            CreateShop {
                id: shop,
                name,
                category: Default::default(),
            }
            .into(),
        )
        .await?;
        let warehouse = ids.warehouse().await?;
        let location = Adcode::parse("330110000000").ok_or_else(|| anyhow::anyhow!("adcode"))?;
        let name = text("杭州余杭仓")?;
        let create = CreateWarehouse {
            id: warehouse,
            shop,
            name,
            location,
        };
        env.setup(shop, create.into()).await?;
        let (cheap, dear) = (ids.sku().await?, ids.sku().await?);
        let sku = |id, name: &str, fen| -> anyhow::Result<NewSku> {
            let price = Fen::price(fen).ok_or_else(|| anyhow::anyhow!("price"))?;
            Ok(NewSku {
                id,
                name: text(name)?,
                price,
            })
        };
        let product = CreateProduct {
            id: ids.product().await?,
            shop,
            title: text("保温杯 316 不锈钢")?,
            description: None,
            gtin: None,
            goods_class: None,
            skus: vec![sku(cheap, "500ml", CHEAP_FEN)?, sku(dear, "礼盒装", DEAR_FEN)?],
        };
        env.setup(shop, product.into()).await?;
        for sku in [cheap, dear] {
            let stock = SetStock {
                shop,
                sku,
                warehouse,
                available: STOCK_PER_SKU,
            };
            env.setup(shop, stock.into()).await?;
        }
        let (_, merchant) = env
            .state
            .issue_token(TokenRequest::new(Role::Merchant, Some(shop.get())))
            .await?;
        world.push(ShopWorld {
            id: shop,
            warehouse,
            cheap,
            dear,
            merchant,
        });
    }
    Ok(world)
}

/// Places one order of `units` of `sku` and pays it through the server's own payment code;
/// the order as paid, or `None` (its refusal counted in `tally`).
async fn place_and_pay(
    env: &Env,
    tally: &mut Tally,
    buyer: i64,
    shop: &ShopWorld,
    (sku, units): (SkuId, i64),
) -> anyhow::Result<Option<Order>> {
    let buyer = id(buyer, BuyerId::new)?;
    let place = PlaceOrder {
        id: env.state.ids.order().await?,
        checkout: env.state.ids.checkout().await?,
        shop: shop.id,
        buyer,
        lines: vec![OrderLineRequest {
            sku,
            quantity: Quantity::new(units).ok_or_else(|| anyhow::anyhow!("quantity"))?,
        }],
        address: address()?,
        payment_timeout_seconds: env.state.config.payment_timeout_seconds,
        request: None,
        delivery: None,
        client: Default::default(),
    };
    let sent = Instant::now();
    let answer = env.state.shards.ask(shop.id, place, None).await;
    tally.record(sent.elapsed());
    let order = match answer {
        Ok(Ok(Placement::Placed(order))) => order,
        Ok(Ok(Placement::AlreadyPlaced(_))) => return Ok(None),
        Ok(Err(rejection)) => {
            tally.refuse(rejection.code());
            return Ok(None);
        }
        Err(error) => {
            tally.refuse(ApiError::from(error).code);
            return Ok(None);
        }
    };
    tally.ordered += 1;
    let paid = tally.paid;
    pay(env, tally, buyer, order.checkout).await;
    Ok((tally.paid > paid).then_some(order))
}

/// Places and pays every planned order (`PREPARE_WORKERS` at a time), then hands some to the
/// carrier and has some delivered: first those of nine days ago, then (the clock moved on)
/// today's.
async fn prepare(env: &Env, shops: &[ShopWorld], plans: &[Plan]) -> anyhow::Result<Vec<Earlier>> {
    let next = AtomicUsize::new(0);
    let bar = progress(plans.len() as u64, "orders before the evening");
    let workers = (0..PREPARE_WORKERS).map(|_| async {
        let mut placed = Vec::new();
        let mut tally = Tally::default();
        while let Some(plan) = plans.get(next.fetch_add(1, Ordering::Relaxed)) {
            let &(story, buyer, shop, units, merchant_approves, retry) = plan;
            let sku = if story == Story::CancelDear {
                shops[shop].dear
            } else {
                shops[shop].cheap
            };
            let order = place_and_pay(env, &mut tally, buyer, &shops[shop], (sku, units))
                .await?
                .ok_or_else(|| anyhow::anyhow!("an order before the evening was refused: {:?}", tally.refusals))?;
            placed.push(Earlier {
                story,
                order,
                shop,
                merchant_approves,
                retry,
            });
            bar.inc(1);
        }
        anyhow::Ok(placed)
    });
    let mut earlier = Vec::new();
    for placed in futures::future::join_all(workers).await {
        earlier.extend(placed?);
    }
    bar.finish_and_clear();
    hand_over(
        env,
        shops,
        &earlier,
        [History::ShippedLongAgo, History::DeliveredLongAgo],
    )
    .await?;
    env.state.clock.advance(HISTORY_MS);
    hand_over(env, shops, &earlier, [History::ShippedToday, History::DeliveredToday]).await?;
    Ok(earlier)
}

/// Ships the earlier orders of the `[shipped, delivered]` histories (the carrier simulator
/// issues each waybill) and reports the delivered ones' parcels delivered, as the carrier's
/// webhook would.
async fn hand_over(
    env: &Env,
    shops: &[ShopWorld],
    earlier: &[Earlier],
    [shipped, delivered]: [History; 2],
) -> anyhow::Result<()> {
    let chosen: Vec<&Earlier> = earlier
        .iter()
        .filter(|e| [shipped, delivered].contains(&e.story.history()))
        .collect();
    let bar = progress(chosen.len() as u64, "parcels");
    for e in chosen {
        let shop = &shops[e.shop];
        let parcel = ShipParcel {
            shop: shop.id,
            order: e.order.clone(),
            warehouse: shop.warehouse,
            carrier: None,
            waybill: None,
        };
        let shipment = ship(&env.state, parcel, None)
            .await?
            .map_err(|r| anyhow::anyhow!("shipment refused: {}", r.code()))?;
        if e.story.history() == delivered {
            let now = env.state.clock.now();
            let event = TrackingEvent {
                event_id: format!("bench-{}-delivered", shipment.id),
                state: ShipmentState::Delivered,
                occurred_at: now,
                location: None,
                received_at: now,
            };
            let tracked = RecordTracking {
                shipment: shipment.id,
                event,
            };
            env.setup(shop.id, tracked.into()).await?;
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(())
}

// ---- the evening -----------------------------------------------------------------------------

struct World {
    shops: Vec<ShopWorld>,
    /// Buyer tokens by buyer id.
    tokens: Vec<String>,
    earlier: Arc<Vec<Earlier>>,
}

/// What the platform answered a new request.
enum Opened {
    Approved,
    RefusedByRules,
    /// With the merchant: the request's id.
    ToMerchant(i64),
    Other(String),
}

/// What one client saw of the evening.
struct Evening {
    tally: Tally,
    requests: u64,
    approved_by_rules: u64,
    refused_by_rules: u64,
    to_merchant: u64,
    merchant_approved: u64,
    merchant_refused: u64,
    automatic: Histogram<u64>,
    /// The approved ones among `automatic`: their refund is started before the answer.
    approved: Histogram<u64>,
    to_merchant_latency: Histogram<u64>,
}

impl Default for Evening {
    fn default() -> Evening {
        Evening {
            tally: Tally::default(),
            requests: 0,
            approved_by_rules: 0,
            refused_by_rules: 0,
            to_merchant: 0,
            merchant_approved: 0,
            merchant_refused: 0,
            automatic: histogram(),
            approved: histogram(),
            to_merchant_latency: histogram(),
        }
    }
}

impl Merge for Evening {
    fn merge(&mut self, other: Evening) {
        self.tally.merge(other.tally);
        self.requests += other.requests;
        self.approved_by_rules += other.approved_by_rules;
        self.refused_by_rules += other.refused_by_rules;
        self.to_merchant += other.to_merchant;
        self.merchant_approved += other.merchant_approved;
        self.merchant_refused += other.merchant_refused;
        let _ = self.automatic.add(&other.automatic);
        let _ = self.approved.add(&other.approved);
        let _ = self.to_merchant_latency.add(&other.to_merchant_latency);
    }
}

impl Evening {
    /// Counts a request's answer and its round trip `elapsed`.
    fn opened(&mut self, opened: &Opened, elapsed: Duration) {
        self.tally.record(elapsed);
        self.requests += 1;
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX).max(1);
        let latency = match opened {
            Opened::Approved => {
                self.approved_by_rules += 1;
                let _ = self.approved.record(micros.min(self.approved.high()));
                &mut self.automatic
            }
            Opened::RefusedByRules => {
                self.refused_by_rules += 1;
                &mut self.automatic
            }
            Opened::ToMerchant(_) => {
                self.to_merchant += 1;
                &mut self.to_merchant_latency
            }
            Opened::Other(code) => {
                self.tally.refuse(code);
                return;
            }
        };
        let _ = latency.record(micros.min(latency.high()));
    }

    fn merchant_decided(&mut self, approved: bool, answer: Result<(), String>, elapsed: Duration) {
        self.tally.record(elapsed);
        match answer {
            Ok(()) if approved => self.merchant_approved += 1,
            Ok(()) => self.merchant_refused += 1,
            Err(code) => self.tally.refuse(&code),
        }
    }
}

fn opened_of(saved: &SavedRequest) -> Opened {
    match saved.request.decision.acted {
        Verdict::Approve => Opened::Approved,
        _ => Opened::ToMerchant(saved.id.get()),
    }
}

/// Opens a request as the handler does (facts from the store, the shard's decision, the
/// refund started before the answer), without HTTP.
async fn open_in_engine(env: &Env, ask: Ask) -> Opened {
    let state = &env.state;
    let (shop, command) = match flow::prepare_open(state, ask).await {
        Ok(prepared) => prepared,
        Err(error) => return Opened::Other(ApiError::from(error).code.into()),
    };
    match state.shards.ask(shop, command, None).await {
        Ok(Ok(saved)) => {
            flow::refund_if_due(state, &saved).await;
            opened_of(&saved)
        }
        Ok(Err(rejection)) if rejection.code() == "refused_by_rules" => Opened::RefusedByRules,
        Ok(Err(rejection)) => Opened::Other(rejection.code().into()),
        Err(error) => Opened::Other(ApiError::from(error).code.into()),
    }
}

async fn merchant_in_engine(env: &Env, shop: ShopId, request: i64, approve: bool) -> Result<(), String> {
    let state = &env.state;
    let id = AfterSalesId::new(request).ok_or_else(|| "unknown_after_sales_request".to_string())?;
    let by = Decider::Merchant(shop);
    let answer = if approve {
        state.shards.ask(shop, ApproveRequest { id, by }, None).await
    } else {
        state.shards.ask(shop, RefuseRequest { id, by }, None).await
    };
    match answer {
        Ok(Ok(saved)) => {
            flow::refund_if_due(state, &saved).await;
            Ok(())
        }
        Ok(Err(rejection)) => Err(rejection.code().into()),
        Err(error) => Err(ApiError::from(error).code.into()),
    }
}

/// A request in engine mode, and the merchant's answer if the rules passed it on.
async fn ask_in_engine(env: &Env, evening: &mut Evening, shop: ShopId, ask: Ask, merchant_approves: bool) {
    let sent = Instant::now();
    let opened = open_in_engine(env, ask).await;
    evening.opened(&opened, sent.elapsed());
    if let Opened::ToMerchant(request) = opened {
        let sent = Instant::now();
        let answer = merchant_in_engine(env, shop, request, merchant_approves).await;
        evening.merchant_decided(merchant_approves, answer, sent.elapsed());
    }
}

fn cancel_of(order: &Order) -> Ask {
    Ask {
        buyer: order.buyer,
        order: order.id,
        kind: RequestKind::CancelBeforeShipment,
        reason: Reason::ChangedMind,
        lines: vec![],
        new_address: None,
        exchange_for: vec![],
        client: None,
    }
}

async fn engine_job(env: &Env, world: &World, job: Job, evening: &mut Evening) -> anyhow::Result<()> {
    match job {
        Job::Ask(i) => {
            let e = &world.earlier[i];
            let shop = world.shops[e.shop].id;
            ask_in_engine(env, evening, shop, e.ask(), e.merchant_approves).await;
        }
        Job::Buy { buyer, shop, cancel } => {
            let shop = &world.shops[shop];
            let order = place_and_pay(env, &mut evening.tally, buyer, shop, (shop.cheap, 1)).await?;
            if let Some(order) = order.filter(|_| cancel) {
                ask_in_engine(env, evening, shop.id, cancel_of(&order), true).await;
            }
        }
    }
    Ok(())
}

/// Runs the jobs through the platform's flows and shards in-process (no HTTP).
async fn engine(
    env: &Env,
    world: Arc<World>,
    jobs: Arc<Vec<Job>>,
    concurrency: usize,
) -> anyhow::Result<(Evening, f64)> {
    let next = Arc::new(AtomicUsize::new(0));
    let bar = progress(jobs.len() as u64, "evening");
    let started = Instant::now();
    let workers = (0..concurrency.max(1)).map(|_| {
        let (next, jobs, bar, world) = (next.clone(), jobs.clone(), bar.clone(), world.clone());
        async move {
            let mut evening = Evening::default();
            while let Some(job) = jobs.get(next.fetch_add(1, Ordering::Relaxed)) {
                engine_job(env, &world, *job, &mut evening).await?;
                bar.inc(1);
            }
            anyhow::Ok(evening)
        }
    });
    super::gather(workers, started, &bar).await
}

fn ask_body(ask: &Ask) -> anyhow::Result<Bytes> {
    let lines: Vec<serde_json::Value> = ask
        .lines
        .iter()
        .map(|l| serde_json::json!({ "sku_id": l.sku.get(), "quantity": l.quantity }))
        .collect();
    let body = serde_json::json!({
        "order_id": ask.order.get(),
        "kind": ask.kind.as_str(),
        "reason": ask.reason.as_str(),
        "lines": lines,
    });
    Ok(Bytes::from(serde_json::to_vec(&body)?))
}

fn opened_over_http(response: &Response) -> Opened {
    let code = problem_code(&response.body);
    match response.status {
        201 => {
            let view: serde_json::Value = serde_json::from_slice(&response.body).unwrap_or_default();
            match (view["decision"]["acted"].as_str(), view["id"].as_i64()) {
                (Some("approve"), _) => Opened::Approved,
                (_, Some(id)) => Opened::ToMerchant(id),
                _ => Opened::Other("unreadable_answer".into()),
            }
        }
        409 if code == "refused_by_rules" => Opened::RefusedByRules,
        _ => Opened::Other(if code.is_empty() {
            format!("http_{}", response.status)
        } else {
            code
        }),
    }
}

/// One keep-alive client of the evening over HTTP, with the tokens of every party.
struct Client<'a> {
    connection: Connection,
    world: &'a World,
    evening: Evening,
}

impl Client<'_> {
    /// A request, retried once with the same Idempotency-Key when `retry` (the retry must get
    /// the first answer, replayed), and the merchant's answer if the rules passed it on.
    async fn ask(&mut self, shop: usize, ask: &Ask, key: &str, (approve, retry): (bool, bool)) -> anyhow::Result<()> {
        let token = &self.world.tokens[ask.buyer.get() as usize];
        let body = ask_body(ask)?;
        let sent = Instant::now();
        let first = self
            .connection
            .post("/v1/after-sales", token, Some(key), body.clone())
            .await?;
        let opened = opened_over_http(&first);
        self.evening.opened(&opened, sent.elapsed());
        if retry {
            let again = self.connection.post("/v1/after-sales", token, Some(key), body).await?;
            self.evening.tally.record(sent.elapsed());
            if !again.replayed || again.body != first.body || again.status != first.status {
                self.evening.tally.duplicates += 1;
            }
        }
        let Opened::ToMerchant(request) = opened else {
            return Ok(());
        };
        let step = if approve { "approve" } else { "refuse" };
        let path = format!("/v1/after-sales/{request}/{step}");
        let sent = Instant::now();
        let merchant = &self.world.shops[shop].merchant;
        let answer = self.connection.post(&path, merchant, None, Bytes::new()).await?;
        let answer = match answer.status {
            200 => Ok(()),
            _ => Err(problem_code(&answer.body)),
        };
        self.evening.merchant_decided(approve, answer, sent.elapsed());
        Ok(())
    }

    /// A new order over HTTP: checkout, pay, and perhaps cancel at once.
    async fn buy(&mut self, i: usize, buyer: i64, shop: usize, cancel: bool) -> anyhow::Result<()> {
        let token = &self.world.tokens[buyer as usize];
        let sku = self.world.shops[shop].cheap;
        let body = serde_json::json!({ "lines": [{ "sku_id": sku.get(), "quantity": 1 }] });
        let sent = Instant::now();
        let key = format!("evening-{i}");
        let placed = self
            .connection
            .post(
                "/v1/checkouts",
                token,
                Some(&key),
                Bytes::from(serde_json::to_vec(&body)?),
            )
            .await?;
        self.evening.tally.record(sent.elapsed());
        if placed.status != 201 {
            self.evening.tally.refuse(&problem_code(&placed.body));
            return Ok(());
        }
        self.evening.tally.ordered += 1;
        let placed: serde_json::Value = serde_json::from_slice(&placed.body)?;
        let checkout = placed["checkout_id"].as_i64().unwrap_or(0);
        let paid = self.evening.tally.paid;
        pay_over_http(&mut self.connection, token, checkout, &mut self.evening.tally).await?;
        let order = placed["orders"][0]["id"].as_i64().and_then(OrderId::new);
        if let (true, true, Some(order)) = (cancel, self.evening.tally.paid > paid, order) {
            let ask = Ask {
                buyer: id(buyer, BuyerId::new)?,
                order,
                kind: RequestKind::CancelBeforeShipment,
                reason: Reason::ChangedMind,
                lines: vec![],
                new_address: None,
                exchange_for: vec![],
                client: None,
            };
            self.ask(shop, &ask, &format!("evening-cancel-{i}"), (true, false))
                .await?;
        }
        Ok(())
    }

    async fn job(&mut self, i: usize, job: Job) -> anyhow::Result<()> {
        match job {
            Job::Ask(n) => {
                let e = &self.world.earlier[n];
                let key = format!("after-sales-{n}");
                self.ask(e.shop, &e.ask(), &key, (e.merchant_approves, e.retry)).await
            }
            Job::Buy { buyer, shop, cancel } => self.buy(i, buyer, shop, cancel).await,
        }
    }
}

/// Runs the jobs against the real HTTP server over loopback, then waits for the refunds the
/// provider has not settled yet before the server stops.
async fn http(env: &Env, world: Arc<World>, jobs: Arc<Vec<Job>>, concurrency: usize) -> anyhow::Result<(Evening, f64)> {
    let running = miaodan_server::serve(env.state.clone()).await?;
    let address = running.address;
    let next = Arc::new(AtomicUsize::new(0));
    let bar = progress(jobs.len() as u64, "evening");
    let started = Instant::now();
    let workers = (0..concurrency.max(1)).map(|_| {
        let (next, jobs, bar, world) = (next.clone(), jobs.clone(), bar.clone(), world.clone());
        async move {
            let connection = Connection::open(address).await?;
            let mut client = Client {
                connection,
                world: &world,
                evening: Evening::default(),
            };
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = jobs.get(i) else { break };
                if client.job(i, *job).await.is_err() {
                    client.evening.tally.errors += 1;
                    client.connection = Connection::open(address).await?;
                }
                bar.inc(1);
            }
            anyhow::Ok(client.evening)
        }
    });
    let gathered = super::gather(workers, started, &bar).await;
    settle_refunds(env).await;
    running.shutdown().await;
    gathered
}

/// Carries on the refunds still with the provider (as the payment worker does every second)
/// until none is left, or [`REFUNDS_WAIT`] has passed.
async fn settle_refunds(env: &Env) {
    let deadline = Instant::now() + REFUNDS_WAIT;
    while Instant::now() < deadline {
        match env.state.store.after_sales_refunding(1).await {
            Ok(left) if left.is_empty() => return,
            _ => {}
        }
        let _ = flow::resume_refunds(&env.state).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---- the audit -------------------------------------------------------------------------------

/// Every request in the database, newest first.
async fn all_requests(env: &Env) -> anyhow::Result<Vec<SavedRequest>> {
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = Keyset { after, limit: 1_000 };
        let rows = env
            .state
            .store
            .after_sales_requests(&AfterSalesFilter::default(), page)
            .await?;
        let Some(last) = rows.last() else { break };
        after = Some((last.request.opened_at.unix_ms(), last.id.get()));
        all.extend(rows);
    }
    Ok(all)
}

/// Whether a request's timeline shows one decision: the rules' first, then at most one
/// approval and at most one refund, nothing after it closed or was refunded.
fn decided_once(saved: &SavedRequest) -> bool {
    let timeline = &saved.request.timeline;
    let count = |stage: Stage| timeline.iter().filter(|s| s.stage == stage).count();
    let ended = timeline
        .iter()
        .position(|s| matches!(s.stage, Stage::Refunded | Stage::Closed));
    timeline.first().is_some_and(|s| s.actor == Actor::Rules)
        && count(Stage::Approved) <= 1
        && count(Stage::Refunded) <= 1
        && ended.is_none_or(|at| at + 1 == timeline.len())
}

fn is_rule_approved(saved: &SavedRequest) -> bool {
    saved.request.decision.acted == Verdict::Approve
}

/// The refund figures of rule-approved requests, and the checks on requests and their money.
async fn request_checks(
    env: &Env,
    evening: &Evening,
) -> anyhow::Result<(Vec<(bool, String)>, Histogram<u64>, u64, u64)> {
    let requests = all_requests(env).await?;
    let refunds: BTreeMap<AfterSalesId, _> = env
        .state
        .store
        .after_sales_refunds()
        .await?
        .into_iter()
        .map(|r| (r.request, r))
        .collect();
    let mut delays = histogram();
    let (mut rule_approved, mut refunded, mut within, mut wrong_amount) = (0u64, 0u64, 0u64, 0u64);
    for saved in &requests {
        let refund = refunds.get(&saved.id);
        if refund.is_some_and(|r| r.amount_fen != saved.request.amount.get()) {
            wrong_amount += 1;
        }
        if !is_rule_approved(saved) {
            continue;
        }
        rule_approved += 1;
        if let Some(r) = refund {
            let delay_ms = r.settled_at.unix_ms() - r.opened_at.unix_ms();
            refunded += 1;
            within += u64::from(delay_ms <= REFUND_WITHIN_MS);
            let _ = delays.record((delay_ms.max(1) as u64).min(delays.high()));
        }
    }
    let acknowledged = evening.approved_by_rules + evening.to_merchant;
    let twice = requests.iter().filter(|s| !decided_once(s)).count();
    let checks = vec![
        (
            requests.len() as u64 == acknowledged,
            format!(
                "requests in the database ({}) = requests opened for clients ({acknowledged})",
                requests.len()
            ),
        ),
        (
            twice == 0,
            format!("requests whose timeline shows a second decision: {twice}"),
        ),
        (
            wrong_amount == 0,
            format!("refunds of another amount than their request's: {wrong_amount}"),
        ),
        // Whether they were refunded in time is a figure of the run, not a check: the audit
        // checks what must hold however slow the machine.
        (
            refunded == rule_approved,
            format!("rule-approved requests refunded: {refunded} of {rule_approved}"),
        ),
    ];
    Ok((checks, delays, rule_approved, within))
}

async fn money_and_stock_checks(env: &Env, units_initial: i64) -> anyhow::Result<Vec<(bool, String)>> {
    let store = &env.state.store;
    let stock = store.audit_stock().await?;
    let money = store.audit_after_sales().await?;
    let total = stock.available + stock.reserved + stock.sold;
    Ok(vec![
        (
            stock.negative_rows == 0,
            format!("stock rows with a negative count: {}", stock.negative_rows),
        ),
        (
            total == units_initial,
            format!("available + reserved + sold = {total}, initially {units_initial}"),
        ),
        (
            stock.sold == stock.units_in_paid_orders && stock.reserved == stock.units_in_pending_orders,
            format!(
                "sold {} = units of paid, shipped and delivered orders {}; reserved {} = units of unpaid orders {}",
                stock.sold, stock.units_in_paid_orders, stock.reserved, stock.units_in_pending_orders
            ),
        ),
        (
            money.orders_refunded_above_total == 0 && money.intents_refunded_above_captured == 0,
            format!(
                "orders refunded above their total: {}, payments refunded above their capture: {}",
                money.orders_refunded_above_total, money.intents_refunded_above_captured
            ),
        ),
        (
            money.requests_refunded_twice == 0 && money.refunded_without_money == 0,
            format!(
                "requests refunded twice: {}, requests `refunded` without a refund: {}",
                money.requests_refunded_twice, money.refunded_without_money
            ),
        ),
        (
            money.money_for_unapproved_requests == 0 && money.refunding == 0,
            format!(
                "refunds of requests never approved: {}, requests still refunding: {}",
                money.money_for_unapproved_requests, money.refunding
            ),
        ),
    ])
}

async fn audit(
    env: &Env,
    args: &AfterSalesArgs,
    evening: Evening,
    duration: f64,
    units_initial: i64,
    (rule_decisions, rule_decisions_per_s): (u64, f64),
) -> anyhow::Result<Summary> {
    let mut checks = money_and_stock_checks(env, units_initial).await?;
    let (request_checks, delays, rule_approved, within) = request_checks(env, &evening).await?;
    checks.extend(request_checks);
    checks.push((
        evening.tally.errors == 0 && evening.tally.duplicates == 0,
        format!(
            "transport or server errors: {}, retries that did not get their first answer: {}",
            evening.tally.errors, evening.tally.duplicates
        ),
    ));
    let automatic = evening.approved_by_rules + evening.refused_by_rules;
    let figures = AfterSalesFigures {
        rule_decisions,
        rule_decisions_per_s,
        requests: evening.requests,
        approved_by_rules: evening.approved_by_rules,
        refused_by_rules: evening.refused_by_rules,
        to_merchant: evening.to_merchant,
        merchant_approved: evening.merchant_approved,
        merchant_refused: evening.merchant_refused,
        automatic_share: automatic as f64 / evening.requests.max(1) as f64,
        automatic_latency_us: Latency::of(&evening.automatic),
        approved_by_rules_latency_us: Latency::of(&evening.approved),
        to_merchant_latency_us: Latency::of(&evening.to_merchant_latency),
        rule_approved_refunded: rule_approved,
        refunded_within_a_minute: within,
        refund_delay_ms: Latency::of(&delays),
    };
    let stock = env.state.store.audit_stock().await?;
    Ok(Summary {
        units_initial,
        units_sold: stock.sold,
        after_sales: Some(figures),
        ..Summary::of_run(
            "after-sales",
            &args.common,
            &env.backend,
            &evening.tally,
            duration,
            checks,
        )
    })
}
