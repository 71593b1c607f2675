//! The world of `bench assistant`: shops, products, warehouses, a buyer and the buyer's orders
//! in named states at a given Shanghai time, read from JSON (`crates/miaodan/assistant/FORMAT.md`)
//! and seeded through the platform's own flows and shard commands — checkout, payment with the
//! simpay simulator, shipments with carrier waybills, tracking events, after-sales requests —
//! as the demo's after-sales stories are. Nothing is written around them.
//!
//! Every conversation gets its own buyer with its own copy of the world's orders: a
//! conversation that cancels an order must not change the next one's world. The platform's
//! clock only moves forward (shards keep their time monotonic), so the copies are seeded
//! together: every step of every copy, merged in time order, the clock moved to each step's
//! time before the steps due then are taken.

use super::super::env::Env;
use super::super::{progress, text};
use futures::{StreamExt, TryStreamExt};
use miaodan_domain::after_sales::policy::ExemptGoods;
use miaodan_domain::after_sales::request::{RequestLine, Stage};
use miaodan_domain::after_sales::{Reason, RequestKind};
use miaodan_domain::buyers::Buyer;
use miaodan_domain::catalog::{NewSku, ShopCategory};
use miaodan_domain::geo::Adcode;
use miaodan_domain::ids::AfterSalesId;
use miaodan_domain::logistics::{Shipment, ShipmentState, TrackingEvent};
use miaodan_domain::orders::{Address, CancelReason, Order, OrderState};
use miaodan_domain::payments::Settlement;
use miaodan_domain::shard::{ApproveRequest, CancelOrder, Canceller, Decider, OrderLineRequest, RecordTracking};
use miaodan_domain::shard::{CreateProduct, CreateShop, CreateWarehouse, SetStock};
use miaodan_domain::time::shanghai::{LocalDate, local_minute};
use miaodan_domain::{BuyerId, Fen, OrderId, Quantity, ShopId, SkuId, Timestamp};
use miaodan_server::flows::after_sales::{self, Ask};
use miaodan_server::flows::checkout::{self, CheckoutRequest};
use miaodan_server::flows::payments::{self, PayWith};
use miaodan_server::flows::shipments;
use miaodan_store::AfterSalesFilter;
use miaodan_store::records::Keyset;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const DAY_MS: i64 = 24 * HOUR_MS;
/// The credential every buyer pays with (simpay approves it).
const WALLET: &str = "wallet-eval";
/// Steps of one time taken at once (they belong to different orders or buyers).
const SEED_CONCURRENCY: usize = 32;
/// How old the buyers' accounts are: regulars, as risk control would see them.
const ACCOUNT_AGE_MS: i64 = 365 * DAY_MS;
/// Requests one buyer's world may hold, read back in one page.
pub const REQUESTS_PER_BUYER_MAX: i64 = 1_000;

// ---- the file ----------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WorldFile {
    now: String,
    shops: Vec<ShopSpec>,
    products: Vec<ProductSpec>,
    warehouses: Vec<WarehouseSpec>,
    buyer: BuyerSpec,
    orders: Vec<OrderSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShopSpec {
    name: String,
    title: String,
    #[serde(default)]
    category: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProductSpec {
    name: String,
    shop: String,
    title: String,
    #[serde(default)]
    goods_class: Option<String>,
    skus: Vec<SkuSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SkuSpec {
    name: String,
    title: String,
    price_fen: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WarehouseSpec {
    name: String,
    shop: String,
    title: String,
    adcode: String,
    /// Units per SKU name, for each conversation's copy of the world.
    stock: BTreeMap<String, i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BuyerSpec {
    name: String,
    address: AddressSpec,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddressSpec {
    adcode: String,
    detail: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrderSpec {
    name: String,
    shop: String,
    lines: Vec<LineSpec>,
    placed_ago: String,
    state: String,
    #[serde(default)]
    shipped_ago: Option<String>,
    #[serde(default)]
    tracking: Vec<EventSpec>,
    #[serde(default)]
    stalled_days: Option<i64>,
    #[serde(default)]
    delivered_ago: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LineSpec {
    sku: String,
    quantity: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventSpec {
    state: String,
    ago: String,
    #[serde(default)]
    location: Option<String>,
}

// ---- the world, parsed -------------------------------------------------------------------------

/// Where an order of the world stands when the conversations begin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Named {
    Unpaid,
    Paid,
    /// The waybill is issued; no carrier has collected the parcel.
    Dispatched,
    InTransit,
    /// No tracking event for `stalled_days`.
    Stalled,
    Delivered,
    /// Delivered; the buyer will say it arrived broken.
    Damaged,
    /// Unpaid, then cancelled by the buyer.
    Cancelled,
    /// Delivered, then refunded in full: a refund only the merchant approved.
    Refunded,
}

impl Named {
    pub const ALL: [Named; 9] = [
        Named::Unpaid,
        Named::Paid,
        Named::Dispatched,
        Named::InTransit,
        Named::Stalled,
        Named::Delivered,
        Named::Damaged,
        Named::Cancelled,
        Named::Refunded,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Named::Unpaid => "unpaid",
            Named::Paid => "paid",
            Named::Dispatched => "dispatched",
            Named::InTransit => "in_transit",
            Named::Stalled => "stalled",
            Named::Delivered => "delivered",
            Named::Damaged => "damaged",
            Named::Cancelled => "cancelled",
            Named::Refunded => "refunded",
        }
    }

    fn parse(raw: &str) -> Option<Named> {
        Named::ALL.into_iter().find(|n| n.as_str() == raw)
    }

    /// The order's state on the platform.
    pub const fn order_state(self) -> OrderState {
        match self {
            Named::Unpaid => OrderState::PendingPayment,
            Named::Paid => OrderState::Paid,
            Named::Dispatched | Named::InTransit | Named::Stalled => OrderState::Shipped,
            Named::Delivered | Named::Damaged | Named::Refunded => OrderState::Delivered,
            Named::Cancelled => OrderState::Cancelled,
        }
    }

    const fn shipped(self) -> bool {
        matches!(self.order_state(), OrderState::Shipped | OrderState::Delivered)
    }

    const fn delivered(self) -> bool {
        matches!(self.order_state(), OrderState::Delivered)
    }
}

/// One step of an order's story, taken at its time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Place,
    Pay,
    Cancel,
    Ship,
    Track {
        state: ShipmentState,
        location: Option<String>,
    },
    OpenRefund,
    ApproveRefund,
}

impl Step {
    fn name(&self) -> &'static str {
        match self {
            Step::Place => "placed",
            Step::Pay => "paid",
            Step::Cancel => "cancelled",
            Step::Ship => "shipped",
            Step::Track { state, .. } => state.as_str(),
            Step::OpenRefund => "refund asked",
            Step::ApproveRefund => "refund approved",
        }
    }
}

pub struct Shop {
    pub name: String,
    title: String,
    category: ShopCategory,
}

pub struct Sku {
    pub name: String,
    title: String,
    price: Fen,
}

pub struct Product {
    shop: usize,
    title: String,
    goods_class: Option<ExemptGoods>,
    pub skus: Vec<Sku>,
}

pub struct Warehouse {
    shop: usize,
    title: String,
    location: Adcode,
    stock: Vec<(String, i64)>,
}

pub struct WorldOrder {
    pub name: String,
    pub shop: usize,
    /// (SKU name, quantity).
    pub lines: Vec<(String, Quantity)>,
    pub state: Named,
    stalled_days: i64,
    pub timeline: Vec<(Timestamp, Step)>,
}

/// A world read from its file, every name resolved and every order's story in time order.
pub struct World {
    pub now: Timestamp,
    pub shops: Vec<Shop>,
    pub products: Vec<Product>,
    warehouses: Vec<Warehouse>,
    buyer_name: String,
    address: Address,
    pub orders: Vec<WorldOrder>,
}

/// An error in the world's file: where (`orders[3] ("pan_dispatched"): state`) and what.
fn problem(at: impl std::fmt::Display, what: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("world: {at}: {what}")
}

/// `2026-12-05T15:00`, Shanghai time.
fn parse_local(raw: &str) -> Option<Timestamp> {
    let (date, time) = raw.split_once('T')?;
    let (hh, mm) = time.split_once(':')?;
    if hh.len() != 2 || mm.len() != 2 || !time.bytes().all(|b| b.is_ascii_digit() || b == b':') {
        return None;
    }
    let (hh, mm): (u16, u16) = (hh.parse().ok()?, mm.parse().ok()?);
    (hh < 24 && mm < 60).then_some(())?;
    Some(LocalDate::parse(date)?.at_minute(hh * 60 + mm))
}

/// Shanghai time, for people: `12-04 10:00`.
pub fn local(at: Timestamp) -> String {
    let (_, month, day) = LocalDate::of(at).ymd();
    let minute = local_minute(at);
    format!("{month:02}-{day:02} {:02}:{:02}", minute / 60, minute % 60)
}

/// A span back from now: `3d`, `5h`, `30m`, `2d4h`, `1d12h30m`; in ms.
pub fn parse_ago(raw: &str) -> Option<i64> {
    let mut total = 0i64;
    let mut digits = String::new();
    let mut units_seen = 0;
    for c in raw.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            'd' => DAY_MS,
            'h' => HOUR_MS,
            'm' => MINUTE_MS,
            _ => return None,
        };
        let n: i64 = digits.parse().ok()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
        digits.clear();
        units_seen += 1;
    }
    (digits.is_empty() && units_seen > 0).then_some(total)
}

fn ago(now: Timestamp, raw: &str, at: &str, field: &str) -> anyhow::Result<Timestamp> {
    let ms = parse_ago(raw).ok_or_else(|| {
        problem(
            format!("{at}: {field}"),
            format!("{raw:?} is not a span back from now (3d, 5h, 30m, 2d4h)"),
        )
    })?;
    Ok(Timestamp::from_unix_ms(now.unix_ms() - ms))
}

fn checked_text<const N: usize>(raw: &str, at: &str) -> anyhow::Result<miaodan_domain::catalog::Text<N>> {
    text::<N>(raw).map_err(|e| problem(at, e))
}

impl World {
    /// Reads a world from its JSON; an error names the field (`orders[3] ("x"): state`).
    pub fn parse(json: &str) -> anyhow::Result<World> {
        let mut reader = serde_json::Deserializer::from_str(json);
        let file: WorldFile = serde_path_to_error::deserialize(&mut reader).map_err(|e| {
            let path = e.path().to_string();
            problem(if path == "." { "the file".to_string() } else { path }, e.into_inner())
        })?;
        let now = parse_local(&file.now).ok_or_else(|| {
            problem(
                "now",
                format!("{:?} is not a Shanghai time like \"2026-12-05T15:00\"", file.now),
            )
        })?;
        let shops = parse_shops(&file.shops)?;
        let shop_of = |name: &str, at: &str| {
            shops
                .iter()
                .position(|s| s.name == name)
                .ok_or_else(|| problem(format!("{at}: shop"), format!("no shop named {name:?}")))
        };
        let products = parse_products(&file.products, &shop_of)?;
        let warehouses = parse_warehouses(&file.warehouses, &products, &shop_of)?;
        for (s, shop) in shops.iter().enumerate() {
            if !warehouses.iter().any(|w| w.shop == s) {
                return Err(problem(format!("shops ({:?})", shop.name), "the shop has no warehouse"));
            }
        }
        let address = Address {
            adcode: adcode(&file.buyer.address.adcode, "buyer.address.adcode")?,
            detail: checked_text(&file.buyer.address.detail, "buyer.address.detail")?,
        };
        checked_text::<60>(&file.buyer.name, "buyer.name")?;
        let mut orders = Vec::new();
        for (i, spec) in file.orders.iter().enumerate() {
            let at = format!("orders[{i}] ({:?})", spec.name);
            if orders.iter().any(|o: &WorldOrder| o.name == spec.name) {
                return Err(problem(format!("{at}: name"), "another order has this name"));
            }
            orders.push(parse_order(spec, &at, now, &products, &shop_of)?);
        }
        Ok(World {
            now,
            shops,
            products,
            warehouses,
            buyer_name: file.buyer.name,
            address,
            orders,
        })
    }

    /// When seeding starts: an hour before the earliest step.
    pub fn start(&self) -> Timestamp {
        let earliest = self
            .orders
            .iter()
            .flat_map(|o| o.timeline.first())
            .map(|(at, _)| *at)
            .min()
            .unwrap_or(self.now);
        Timestamp::from_unix_ms(earliest.min(self.now).unix_ms() - HOUR_MS)
    }

    pub fn order(&self, name: &str) -> Option<&WorldOrder> {
        self.orders.iter().find(|o| o.name == name)
    }
}

fn adcode(raw: &str, at: &str) -> anyhow::Result<Adcode> {
    Adcode::parse(raw).ok_or_else(|| problem(at, format!("{raw:?} is not a 12-digit division code")))
}

fn parse_shops(specs: &[ShopSpec]) -> anyhow::Result<Vec<Shop>> {
    let mut shops: Vec<Shop> = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let at = format!("shops[{i}] ({:?})", spec.name);
        if shops.iter().any(|s| s.name == spec.name) {
            return Err(problem(format!("{at}: name"), "another shop has this name"));
        }
        checked_text::<100>(&spec.title, &format!("{at}: title"))?;
        let category = match &spec.category {
            None => ShopCategory::default(),
            Some(raw) => ShopCategory::parse(raw).ok_or_else(|| {
                problem(
                    format!("{at}: category"),
                    format!("{raw:?} is not one of {}", ShopCategory::NAMES.join(", ")),
                )
            })?,
        };
        shops.push(Shop {
            name: spec.name.clone(),
            title: spec.title.clone(),
            category,
        });
    }
    Ok(shops)
}

type ShopOf<'a> = dyn Fn(&str, &str) -> anyhow::Result<usize> + 'a;

fn parse_products(specs: &[ProductSpec], shop_of: &ShopOf<'_>) -> anyhow::Result<Vec<Product>> {
    let mut products: Vec<Product> = Vec::new();
    let mut sku_names = BTreeSet::new();
    for (i, spec) in specs.iter().enumerate() {
        let at = format!("products[{i}] ({:?})", spec.name);
        let shop = shop_of(&spec.shop, &at)?;
        checked_text::<200>(&spec.title, &format!("{at}: title"))?;
        let goods_class = match &spec.goods_class {
            None => None,
            Some(raw) => Some(
                ExemptGoods::parse(raw)
                    .ok_or_else(|| problem(format!("{at}: goods_class"), format!("{raw:?} is not a goods class")))?,
            ),
        };
        if spec.skus.is_empty() {
            return Err(problem(format!("{at}: skus"), "a product has at least one SKU"));
        }
        let mut skus = Vec::new();
        for (j, sku) in spec.skus.iter().enumerate() {
            let at = format!("{at}: skus[{j}] ({:?})", sku.name);
            if !sku_names.insert(sku.name.clone()) {
                return Err(problem(format!("{at}: name"), "another SKU has this name"));
            }
            checked_text::<100>(&sku.title, &format!("{at}: title"))?;
            let price = Fen::price(sku.price_fen).ok_or_else(|| {
                problem(
                    format!("{at}: price_fen"),
                    format!("{} is not a price in fen", sku.price_fen),
                )
            })?;
            skus.push(Sku {
                name: sku.name.clone(),
                title: sku.title.clone(),
                price,
            });
        }
        products.push(Product {
            shop,
            title: spec.title.clone(),
            goods_class,
            skus,
        });
    }
    Ok(products)
}

fn parse_warehouses(
    specs: &[WarehouseSpec],
    products: &[Product],
    shop_of: &ShopOf<'_>,
) -> anyhow::Result<Vec<Warehouse>> {
    let mut warehouses = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let at = format!("warehouses[{i}] ({:?})", spec.name);
        let shop = shop_of(&spec.shop, &at)?;
        checked_text::<100>(&spec.title, &format!("{at}: title"))?;
        let location = adcode(&spec.adcode, &format!("{at}: adcode"))?;
        for (sku, units) in &spec.stock {
            let owner = products.iter().find(|p| p.skus.iter().any(|s| &s.name == sku));
            match owner {
                None => return Err(problem(format!("{at}: stock"), format!("no SKU named {sku:?}"))),
                Some(p) if p.shop != shop => {
                    return Err(problem(
                        format!("{at}: stock"),
                        format!("SKU {sku:?} is another shop's"),
                    ));
                }
                Some(_) if *units < 0 => {
                    return Err(problem(format!("{at}: stock.{sku}"), "units are 0 or more"));
                }
                Some(_) => {}
            }
        }
        warehouses.push(Warehouse {
            shop,
            title: spec.title.clone(),
            location,
            stock: spec.stock.iter().map(|(k, v)| (k.clone(), *v)).collect(),
        });
    }
    Ok(warehouses)
}

fn parse_order(
    spec: &OrderSpec,
    at: &str,
    now: Timestamp,
    products: &[Product],
    shop_of: &ShopOf<'_>,
) -> anyhow::Result<WorldOrder> {
    let shop = shop_of(&spec.shop, at)?;
    let state = Named::parse(&spec.state).ok_or_else(|| {
        let names: Vec<&str> = Named::ALL.iter().map(|n| n.as_str()).collect();
        problem(
            format!("{at}: state"),
            format!("{:?} is not a state (one of {})", spec.state, names.join(", ")),
        )
    })?;
    if spec.lines.is_empty() {
        return Err(problem(format!("{at}: lines"), "an order has at least one line"));
    }
    let mut lines = Vec::new();
    for (j, line) in spec.lines.iter().enumerate() {
        let owner = products.iter().find(|p| p.skus.iter().any(|s| s.name == line.sku));
        match owner {
            None => {
                return Err(problem(
                    format!("{at}: lines[{j}].sku"),
                    format!("no SKU named {:?}", line.sku),
                ));
            }
            Some(p) if p.shop != shop => {
                return Err(problem(
                    format!("{at}: lines[{j}].sku"),
                    format!("SKU {:?} is not shop {:?}'s", line.sku, spec.shop),
                ));
            }
            Some(_) => {}
        }
        let quantity = Quantity::new(line.quantity)
            .ok_or_else(|| problem(format!("{at}: lines[{j}].quantity"), "a quantity is 1 or more"))?;
        lines.push((line.sku.clone(), quantity));
    }
    check_fields_of_state(spec, state, at)?;
    let timeline = timeline(spec, state, at, now)?;
    Ok(WorldOrder {
        name: spec.name.clone(),
        shop,
        lines,
        state,
        stalled_days: spec.stalled_days.unwrap_or(0),
        timeline,
    })
}

/// Refuses the fields that mean nothing in the order's state, and asks for those it needs.
fn check_fields_of_state(spec: &OrderSpec, state: Named, at: &str) -> anyhow::Result<()> {
    let name = state.as_str();
    if !state.shipped() && (spec.shipped_ago.is_some() || !spec.tracking.is_empty()) {
        return Err(problem(at, format!("a {name} order has no shipped_ago or tracking")));
    }
    match (state, spec.stalled_days) {
        (Named::Stalled, None) => return Err(problem(format!("{at}: stalled_days"), "a stalled order needs it")),
        (Named::Stalled, Some(days)) if days < 1 => {
            return Err(problem(format!("{at}: stalled_days"), "at least 1"));
        }
        (Named::Stalled, Some(_)) | (_, None) => {}
        (_, Some(_)) => {
            return Err(problem(
                format!("{at}: stalled_days"),
                format!("a {name} order is not stalled"),
            ));
        }
    }
    match (state.delivered(), &spec.delivered_ago) {
        (true, None) => Err(problem(
            format!("{at}: delivered_ago"),
            format!("a {name} order needs it"),
        )),
        (false, Some(_)) => Err(problem(
            format!("{at}: delivered_ago"),
            format!("a {name} order was not delivered"),
        )),
        _ if state == Named::InTransit && spec.tracking.is_empty() => Err(problem(
            format!("{at}: tracking"),
            "an in_transit order needs its tracking events",
        )),
        _ => Ok(()),
    }
}

/// The order's story: placed, then paid or cancelled, shipped, its tracking events, its
/// delivery and refund — each at its time, strictly in order, none after `now`.
fn timeline(spec: &OrderSpec, state: Named, at: &str, now: Timestamp) -> anyhow::Result<Vec<(Timestamp, Step)>> {
    let placed = ago(now, &spec.placed_ago, at, "placed_ago")?;
    let after = |t: Timestamp, ms: i64| Timestamp::from_unix_ms(t.unix_ms() + ms);
    let mut steps = vec![(placed, Step::Place)];
    match state {
        Named::Unpaid => {}
        Named::Cancelled => steps.push((after(placed, 10 * MINUTE_MS), Step::Cancel)),
        _ => steps.push((after(placed, 2 * MINUTE_MS), Step::Pay)),
    }
    if state.shipped() {
        let shipped = match &spec.shipped_ago {
            Some(raw) => ago(now, raw, at, "shipped_ago")?,
            None => after(placed, HOUR_MS),
        };
        steps.push((shipped, Step::Ship));
        let mut events = Vec::new();
        for (j, e) in spec.tracking.iter().enumerate() {
            let field = format!("tracking[{j}]");
            let state = ShipmentState::parse(&e.state)
                .filter(|s| !matches!(s, ShipmentState::Created | ShipmentState::Delivered))
                .ok_or_else(|| {
                    problem(
                        format!("{at}: {field}.state"),
                        format!(
                            "{:?} is not one of picked_up, departed, in_transit, out_for_delivery, exception, returned (delivered_ago says when it arrived)",
                            e.state
                        ),
                    )
                })?;
            if let Some(location) = &e.location {
                checked_text::<200>(location, &format!("{at}: {field}.location"))?;
            }
            let location = e.location.clone();
            events.push((
                ago(now, &e.ago, at, &format!("{field}.ago"))?,
                Step::Track { state, location },
            ));
        }
        // A dispatched parcel has no event: no carrier has it yet.
        if events.is_empty() && state != Named::Dispatched {
            events = default_events(spec, state, shipped, now);
        }
        steps.extend(events);
    }
    if state.delivered() {
        let raw = spec.delivered_ago.as_deref().unwrap_or_default();
        let delivered = ago(now, raw, at, "delivered_ago")?;
        steps.push((
            delivered,
            Step::Track {
                state: ShipmentState::Delivered,
                location: None,
            },
        ));
        if state == Named::Refunded {
            steps.push((after(delivered, HOUR_MS), Step::OpenRefund));
            steps.push((after(delivered, 2 * HOUR_MS), Step::ApproveRefund));
        }
    }
    check_order_of(&steps, spec, at, now)?;
    Ok(steps)
}

/// Tracking the file did not spell out: picked up two hours after shipping; a stalled parcel's
/// last event `stalled_days` ago.
fn default_events(spec: &OrderSpec, state: Named, shipped: Timestamp, now: Timestamp) -> Vec<(Timestamp, Step)> {
    let mut events = vec![(
        Timestamp::from_unix_ms(shipped.unix_ms() + 2 * HOUR_MS),
        Step::Track {
            state: ShipmentState::PickedUp,
            location: None,
        },
    )];
    if state == Named::Stalled {
        let days = spec.stalled_days.unwrap_or(1);
        events.push((
            Timestamp::from_unix_ms(now.unix_ms() - days * DAY_MS),
            Step::Track {
                state: ShipmentState::InTransit,
                location: None,
            },
        ));
    }
    events
}

fn check_order_of(steps: &[(Timestamp, Step)], spec: &OrderSpec, at: &str, now: Timestamp) -> anyhow::Result<()> {
    for pair in steps.windows(2) {
        let ((before, first), (then, second)) = (&pair[0], &pair[1]);
        if then <= before {
            return Err(problem(
                at,
                format!(
                    "its story goes back in time: {} at {} is not after {} at {} (see placed_ago, shipped_ago, tracking, delivered_ago)",
                    second.name(),
                    local(*then),
                    first.name(),
                    local(*before)
                ),
            ));
        }
    }
    if let Some((last, step)) = steps.last().filter(|(t, _)| *t > now) {
        return Err(problem(
            at,
            format!("{} at {} is after now ({})", step.name(), local(*last), local(now)),
        ));
    }
    if let Some(days) = spec.stalled_days {
        let quiet_since = steps.iter().rev().find(|(_, s)| matches!(s, Step::Track { .. }));
        if quiet_since.is_some_and(|(t, _)| now.unix_ms() - t.unix_ms() < days * DAY_MS) {
            return Err(problem(
                format!("{at}: tracking"),
                format!("the last event is less than stalled_days ({days}) ago"),
            ));
        }
    }
    Ok(())
}

// ---- seeding -----------------------------------------------------------------------------------

/// The platform's ids of the world's shops and SKUs.
struct Catalogue {
    shops: Vec<ShopId>,
    skus: BTreeMap<String, SkuId>,
}

/// The seeded platform's view of the world: each conversation's copy, and the SKUs' ids by
/// name (the same for every copy).
pub struct Seeded {
    pub copies: Vec<BuyerWorld>,
    /// Read by the evaluation set's check of its scripts (`oracle.rs`), which asks for
    /// exchanges itself.
    #[cfg_attr(not(test), allow(dead_code))]
    pub skus: BTreeMap<String, SkuId>,
}

/// One buyer's copy of the world: the buyer and the ids of its orders by name.
#[derive(Clone, Debug)]
pub struct BuyerWorld {
    pub buyer: BuyerId,
    pub orders: BTreeMap<String, OrderId>,
}

/// How long an unpaid order waits for its payment. The simulated provider declines a charge
/// past its deadline by the wall clock, not the platform's moved one: the window covers the
/// distance from the world's first order to the wall clock, and a week beyond.
pub fn payment_timeout_seconds(world: &World) -> i64 {
    let wall_ms = jiff::Timestamp::now().as_millisecond();
    let behind_ms = (wall_ms - world.start().unix_ms()).max(0);
    behind_ms / 1_000 + 7 * DAY_MS / 1_000
}

/// Seeds `copies` buyers, each with its own copy of the world's orders, and leaves the clock at
/// the world's `now`. The platform's clock must read [`World::start`] when it is called.
pub async fn seed(env: &Env, world: &World, copies: usize) -> anyhow::Result<Seeded> {
    let catalogue = set_up(env, world, copies).await?;
    let mut seeds = Vec::new();
    let mut buyers = Vec::new();
    for _ in 0..copies {
        let buyer = insert_buyer(env, world).await?;
        buyers.push(buyer);
        seeds.extend((0..world.orders.len()).map(|order| OrderSeed::new(buyer, order)));
    }
    let times: BTreeSet<Timestamp> = world
        .orders
        .iter()
        .flat_map(|o| o.timeline.iter().map(|(t, _)| *t))
        .collect();
    let steps: usize = world.orders.iter().map(|o| o.timeline.len()).sum();
    let bar = progress((steps * copies) as u64, "seeding the world");
    for at in times {
        if at > env.state.clock.now() {
            env.state.clock.travel_to(at);
        }
        let due: Vec<&mut OrderSeed> = seeds.iter_mut().filter(|s| s.next_at(world) == Some(at)).collect();
        let n = due.len() as u64;
        futures::stream::iter(due.into_iter().map(|s| s.take_step(env, world, &catalogue)))
            .buffer_unordered(SEED_CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        bar.inc(n);
    }
    bar.finish_and_clear();
    if world.now > env.state.clock.now() {
        env.state.clock.travel_to(world.now);
    }
    let copies = buyers
        .into_iter()
        .enumerate()
        .map(|(copy, buyer)| BuyerWorld {
            buyer,
            orders: seeds[copy * world.orders.len()..(copy + 1) * world.orders.len()]
                .iter()
                .filter_map(|s| s.placed.as_ref().map(|o| (world.orders[s.order].name.clone(), o.id)))
                .collect(),
        })
        .collect();
    Ok(Seeded {
        copies,
        skus: catalogue.skus,
    })
}

/// Shops, warehouses, products and stock: each warehouse holds its stock once per copy.
async fn set_up(env: &Env, world: &World, copies: usize) -> anyhow::Result<Catalogue> {
    let ids = &env.state.ids;
    let mut shops = Vec::new();
    for shop in &world.shops {
        let id = ids.shop().await?;
        let create = CreateShop {
            id,
            name: text(&shop.title)?,
            category: shop.category,
        };
        env.setup(id, create.into()).await?;
        shops.push(id);
    }
    let mut skus = BTreeMap::new();
    for product in &world.products {
        let shop = shops[product.shop];
        let mut new = Vec::new();
        for sku in &product.skus {
            let sku_id = ids.sku().await?;
            skus.insert(sku.name.clone(), sku_id);
            new.push(NewSku {
                id: sku_id,
                name: text(&sku.title)?,
                price: sku.price,
            });
        }
        let create = CreateProduct {
            id: ids.product().await?,
            shop,
            title: text(&product.title)?,
            description: None,
            gtin: None,
            goods_class: product.goods_class,
            skus: new,
        };
        env.setup(shop, create.into()).await?;
    }
    for warehouse in &world.warehouses {
        let shop = shops[warehouse.shop];
        let id = ids.warehouse().await?;
        let create = CreateWarehouse {
            id,
            shop,
            name: text(&warehouse.title)?,
            location: warehouse.location,
        };
        env.setup(shop, create.into()).await?;
        for (sku, units) in &warehouse.stock {
            let stock = SetStock {
                shop,
                sku: skus[sku],
                warehouse: id,
                available: units * copies as i64,
            };
            env.setup(shop, stock.into()).await?;
        }
    }
    Ok(Catalogue { shops, skus })
}

async fn insert_buyer(env: &Env, world: &World) -> anyhow::Result<BuyerId> {
    let buyer = Buyer {
        id: env.state.ids.buyer().await?,
        name: text(&world.buyer_name)?,
        default_address: Some(world.address.clone()),
        created_at: Timestamp::from_unix_ms(world.start().unix_ms() - ACCOUNT_AGE_MS),
    };
    env.state.store.insert_buyer(&buyer, None).await?;
    Ok(buyer.id)
}

/// One buyer's copy of one world order, as far as its story has been told.
struct OrderSeed {
    buyer: BuyerId,
    order: usize,
    next: usize,
    placed: Option<Order>,
    shipments: Vec<Shipment>,
    request: Option<AfterSalesId>,
}

impl OrderSeed {
    fn new(buyer: BuyerId, order: usize) -> OrderSeed {
        OrderSeed {
            buyer,
            order,
            next: 0,
            placed: None,
            shipments: Vec::new(),
            request: None,
        }
    }

    fn next_at(&self, world: &World) -> Option<Timestamp> {
        world.orders[self.order].timeline.get(self.next).map(|(t, _)| *t)
    }

    async fn take_step(&mut self, env: &Env, world: &World, catalogue: &Catalogue) -> anyhow::Result<()> {
        let spec = &world.orders[self.order];
        let (_, step) = &spec.timeline[self.next];
        self.next += 1;
        let shop = catalogue.shops[spec.shop];
        let buyer = self.buyer;
        let what = || format!("seeding order {:?} of buyer {buyer}: {}", spec.name, step.name());
        let taken = match step {
            Step::Place => self.place(env, world, catalogue).await,
            Step::Pay => self.pay(env).await,
            Step::Cancel => self.cancel(env, shop).await,
            Step::Ship => self.ship(env, shop).await,
            Step::Track { state, location } => self.track(env, shop, *state, location.as_deref()).await,
            Step::OpenRefund => self.open_refund(env, shop).await,
            Step::ApproveRefund => self.approve_refund(env, shop).await,
        };
        taken.map_err(|e| anyhow::anyhow!("{}: {e:#}", what()))
    }

    fn order(&self) -> anyhow::Result<&Order> {
        self.placed
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("the order was not placed"))
    }

    async fn place(&mut self, env: &Env, world: &World, catalogue: &Catalogue) -> anyhow::Result<()> {
        let lines = world.orders[self.order]
            .lines
            .iter()
            .map(|(sku, quantity)| OrderLineRequest {
                sku: catalogue.skus[sku],
                quantity: *quantity,
            })
            .collect();
        let parts = checkout::split(&env.state, lines).await?;
        let request = CheckoutRequest {
            buyer: self.buyer,
            parts,
            address: world.address.clone(),
            deliveries: Default::default(),
            requests: None,
            client: Default::default(),
        };
        let placed = checkout::place(&env.state, request).await?;
        self.placed = placed.orders.into_iter().next();
        self.order().map(|_| ())
    }

    async fn pay(&mut self, env: &Env) -> anyhow::Result<()> {
        let order = self.order()?.clone();
        let intent = payments::open_intent(&env.state, self.buyer, order.checkout, false).await?;
        let wallet = PayWith::Credential(WALLET.into());
        let paid = payments::confirm(&env.state, self.buyer, intent.id, wallet, None).await?;
        let settled = paid
            .orders
            .iter()
            .any(|o| o.order == order.id && o.settlement == Settlement::Paid);
        anyhow::ensure!(settled, "the payment did not settle the order");
        Ok(())
    }

    async fn cancel(&mut self, env: &Env, shop: ShopId) -> anyhow::Result<()> {
        let cancel = CancelOrder {
            order: self.order()?.id,
            by: Canceller::Buyer(self.buyer),
            reason: CancelReason::BuyerCancelled,
        };
        env.setup(shop, cancel.into()).await?;
        Ok(())
    }

    async fn ship(&mut self, env: &Env, shop: ShopId) -> anyhow::Result<()> {
        let id = self.order()?.id;
        // As dispatch left it at payment (its allocations rewritten).
        let order = env
            .state
            .store
            .order(id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("order {id} is not in the store"))?;
        self.shipments = shipments::ship_order(&env.state, shop, &order)
            .await?
            .map_err(|r| anyhow::anyhow!("refused: {}", r.code()))?;
        anyhow::ensure!(!self.shipments.is_empty(), "no parcel was shipped");
        Ok(())
    }

    async fn track(
        &mut self,
        env: &Env,
        shop: ShopId,
        state: ShipmentState,
        location: Option<&str>,
    ) -> anyhow::Result<()> {
        let now = env.state.clock.now();
        let location = location.map(text).transpose()?;
        for shipment in &self.shipments {
            let event = TrackingEvent {
                event_id: format!("eval-{}-{}", shipment.id, self.next),
                state,
                occurred_at: now,
                location: location.clone(),
                received_at: now,
            };
            let tracked = RecordTracking {
                shipment: shipment.id,
                event,
            };
            env.setup(shop, tracked.into()).await?;
        }
        Ok(())
    }

    /// A refund of everything, for a quality issue: the rules pass it to the merchant.
    async fn open_refund(&mut self, env: &Env, shop: ShopId) -> anyhow::Result<()> {
        let order = self.order()?;
        let ask = Ask {
            buyer: self.buyer,
            order: order.id,
            kind: RequestKind::RefundOnly,
            reason: Reason::QualityIssue,
            lines: RequestLine::whole(order),
            new_address: None,
            exchange_for: vec![],
            client: None,
        };
        let (_, command) = after_sales::prepare_open(&env.state, ask).await?;
        let saved = env
            .state
            .shards
            .ask(shop, command, None)
            .await?
            .map_err(|r| anyhow::anyhow!("refused: {}", r.code()))?;
        after_sales::refund_if_due(&env.state, &saved).await;
        self.request = Some(saved.id);
        Ok(())
    }

    async fn approve_refund(&mut self, env: &Env, shop: ShopId) -> anyhow::Result<()> {
        let id = self.request.ok_or_else(|| anyhow::anyhow!("no refund was asked"))?;
        let approve = ApproveRequest {
            id,
            by: Decider::Merchant(shop),
        };
        let saved = env
            .state
            .shards
            .ask(shop, approve, None)
            .await?
            .map_err(|r| anyhow::anyhow!("refused: {}", r.code()))?;
        after_sales::refund_if_due(&env.state, &saved).await;
        Ok(())
    }
}

// ---- reading it back ---------------------------------------------------------------------------

/// What is wrong with one buyer's copy of the world, read from the store: each order in its
/// named state (its platform state, its parcels, its refund). Empty when all is right.
pub async fn check_seeded(env: &Env, world: &World, copy: &BuyerWorld) -> anyhow::Result<Vec<String>> {
    let store = &env.state.store;
    let filter = AfterSalesFilter {
        buyer: Some(copy.buyer),
        ..AfterSalesFilter::default()
    };
    let page = Keyset {
        after: None,
        limit: REQUESTS_PER_BUYER_MAX,
    };
    let requests = store.after_sales_requests(&filter, page).await?;
    let mut problems = Vec::new();
    for spec in &world.orders {
        let Some(&id) = copy.orders.get(&spec.name) else {
            problems.push(format!("{}: not placed", spec.name));
            continue;
        };
        let Some(order) = store.order(id).await? else {
            problems.push(format!("{}: order {id} not in the store", spec.name));
            continue;
        };
        let page = Keyset {
            after: None,
            limit: 100,
        };
        let parcels = store.shipments_of_order(id, page).await?;
        let refunded = requests
            .iter()
            .any(|r| r.request.order == id && r.request.stage == Stage::Refunded);
        if let Some(wrong) = wrong_with(spec, &order, &parcels, refunded, world.now) {
            problems.push(format!("{} ({}): {wrong}", spec.name, spec.state.as_str()));
        }
    }
    Ok(problems)
}

fn wrong_with(
    spec: &WorldOrder,
    order: &Order,
    parcels: &[Shipment],
    refunded: bool,
    now: Timestamp,
) -> Option<String> {
    let expected = spec.state.order_state();
    if order.state != expected {
        return Some(format!(
            "the order is {}, not {}",
            order.state.as_str(),
            expected.as_str()
        ));
    }
    let all = |f: &dyn Fn(&Shipment) -> bool| !parcels.is_empty() && parcels.iter().all(f);
    // Each step is stamped by the running clock, a few ms after the time it was moved to.
    let quiet_ms = spec.stalled_days * DAY_MS - MINUTE_MS;
    let right = match spec.state {
        Named::Unpaid | Named::Paid | Named::Cancelled => parcels.is_empty(),
        Named::Dispatched => all(&|s| s.state == ShipmentState::Created),
        Named::InTransit => all(&|s| s.picked_up_at.is_some() && s.delivered_at.is_none()),
        Named::Stalled => {
            all(&|s| s.delivered_at.is_none() && now.unix_ms() - s.last_movement_at.unix_ms() >= quiet_ms)
        }
        Named::Delivered | Named::Damaged => all(&|s| s.delivered_at.is_some()),
        Named::Refunded => all(&|s| s.delivered_at.is_some()) && refunded,
    };
    (!right).then(|| {
        let states: Vec<&str> = parcels.iter().map(|s| s.state.as_str()).collect();
        format!(
            "parcels [{}]{}",
            states.join(", "),
            if spec.state == Named::Refunded && !refunded {
                ", no refunded request"
            } else {
                ""
            }
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TINY: &str = r#"{
      "now": "2026-12-05T15:00",
      "shops": [{"name": "s", "title": "小店"}],
      "products": [{"name": "p", "shop": "s", "title": "纯棉T恤", "skus": [{"name": "white_xl", "title": "白色 XL", "price_fen": 7900}]}],
      "warehouses": [{"name": "w", "shop": "s", "title": "杭州仓", "adcode": "330110000000", "stock": {"white_xl": 10}}],
      "buyer": {"name": "小林", "address": {"adcode": "310115000000", "detail": "张江路 100 号"}},
      "orders": [ORDER]
    }"#;

    fn world_with(order: &str) -> anyhow::Result<World> {
        World::parse(&TINY.replace("ORDER", order))
    }

    fn error_of(order: &str) -> String {
        match world_with(order) {
            Ok(_) => panic!("{order} was accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn spans_back_from_now_read_as_days_hours_and_minutes() {
        assert_eq!(parse_ago("3d"), Some(3 * DAY_MS));
        assert_eq!(parse_ago("2d4h"), Some(2 * DAY_MS + 4 * HOUR_MS));
        assert_eq!(parse_ago("1d12h30m"), Some(DAY_MS + 12 * HOUR_MS + 30 * MINUTE_MS));
        for bad in ["", "3", "d", "3 d", "3w", "-3d"] {
            assert_eq!(parse_ago(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_world_reads_its_orders_stories_in_time_order() {
        let world = world_with(
            r#"{"name": "tee", "shop": "s", "lines": [{"sku": "white_xl", "quantity": 2}], "placed_ago": "5d",
                "state": "refunded", "delivered_ago": "3d"}"#,
        )
        .expect("a valid world");
        let steps: Vec<&str> = world.orders[0].timeline.iter().map(|(_, s)| s.name()).collect();
        assert_eq!(
            steps,
            [
                "placed",
                "paid",
                "shipped",
                "picked_up",
                "delivered",
                "refund asked",
                "refund approved"
            ]
        );
        assert_eq!(local(world.now), "12-05 15:00");
    }

    #[test]
    fn a_world_file_error_names_the_order_and_the_field() {
        let cases = [
            (
                r#"{"name": "x", "shop": "s", "lines": [{"sku": "white_xl", "quantity": 1}], "placed_ago": "1d", "state": "shiped"}"#,
                r#"orders[0] ("x"): state: "shiped" is not a state"#,
            ),
            (
                r#"{"name": "x", "shop": "s", "lines": [{"sku": "black", "quantity": 1}], "placed_ago": "1d", "state": "paid"}"#,
                r#"orders[0] ("x"): lines[0].sku: no SKU named "black""#,
            ),
            (
                r#"{"name": "x", "shop": "s", "lines": [{"sku": "white_xl", "quantity": 1}], "placed_ago": "yesterday", "state": "paid"}"#,
                r#"orders[0] ("x"): placed_ago: "yesterday" is not a span"#,
            ),
            (
                r#"{"name": "x", "shop": "s", "lines": [{"sku": "white_xl", "quantity": 1}], "placed_ago": "1d", "state": "stalled"}"#,
                r#"orders[0] ("x"): stalled_days: a stalled order needs it"#,
            ),
            (
                r#"{"name": "x", "shop": "s", "lines": [{"sku": "white_xl", "quantity": 1}], "placed_ago": "1d", "state": "delivered", "delivered_ago": "2d"}"#,
                r#"orders[0] ("x"): its story goes back in time"#,
            ),
            (
                r#"{"name": "x", "shop": "t", "lines": [{"sku": "white_xl", "quantity": 1}], "placed_ago": "1d", "state": "paid"}"#,
                r#"orders[0] ("x"): shop: no shop named "t""#,
            ),
            (
                r#"{"name": "x", "shop": "s", "lines": [{"sku": "white_xl", "quantity": 1}], "placed_ago": "1d", "state": "paid", "colour": "red"}"#,
                r#"world: orders[0].colour: unknown field `colour`"#,
            ),
        ];
        for (order, expected) in cases {
            let error = error_of(order);
            assert!(error.contains(expected), "{error}\n  does not say\n{expected}");
        }
    }

    #[test]
    fn a_world_without_a_valid_now_is_refused() {
        let error = match World::parse(
            &TINY
                .replace("2026-12-05T15:00", "2026-12-05 15:00")
                .replace("ORDER", ""),
        ) {
            Ok(_) => panic!("accepted"),
            Err(e) => e.to_string(),
        };
        assert!(
            error.contains("world: now: \"2026-12-05 15:00\" is not a Shanghai time"),
            "{error}"
        );
    }
}
