//! The state one shard owns and the one `match` that applies a command to it.
//!
//! A shard owns a set of shops: their catalog, warehouses, stock and open (unpaid) orders.
//! [`ShardState::apply`] decides one [`Command`] at a time, in arrival order, and appends the
//! [`Effect`]s the shell must make durable; it never does IO and never fails for business
//! reasons: a refusal is an [`Outcome::Rejected`] with a named [`Rejection`].
//!
//! A broken invariant (negative stock, a stock move that changes a total, a snapshot whose
//! reservations disagree with its open orders) is an `assert!`: the shard stops rather than
//! corrupt stock or money.

use crate::catalog::{
    Gtin, ListingStatus, NewSku, PRODUCT_SKUS_MAX, Product, ProductChanges, ProductDescription, ProductTitle, Shop,
    ShopName, Sku, SkuChanges,
};
use crate::flash_sale::{
    FLASH_DURATION_SECONDS_MAX, FLASH_UNITS_MAX, FlashSale, FlashSaleBook, FlashSaleId, TapRefusal,
};
use crate::geo::Adcode;
use crate::ids::{BuyerId, CheckoutId, OrderId, ProductId, ShopId, SkuId, WarehouseId};
use crate::inventory::{Allocation, Inventory, STOCK_UNITS_MAX, StockLevel, Warehouse, WarehouseName};
use crate::money::Fen;
use crate::orders::{Address, CancelReason, InvalidTransition, ORDER_LINES_MAX, Order, OrderLine, OrderState};
use crate::payments::{
    ChargeApplied, ChargeOutcome, IntentOrder, IntentStatus, PaymentIntent, PaymentIntentId, PaymentRefusal, Refund,
    RefundId, RefundOutcome, RefundReason, SETTLED_INTENT_RETENTION_MS, Settlement,
};
use crate::quantity::Quantity;
use crate::time::Timestamp;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

mod fulfillment_commands;
mod logistics_commands;
mod payment_commands;
use crate::fulfillment::dispatch::DispatchDecision;
use crate::fulfillment::network::FulfillmentSettings;
use crate::ids::ShipmentId;
use crate::logistics::shipment::{EventOutcome, EventRefusal, Shipment, TrackingEvent};
use crate::logistics::sla::{Alert, AlertBook, SlaRules};
pub use fulfillment_commands::{DeliveryChoice, Fulfilling};
pub use logistics_commands::{NewShipment, ShortageNotice};
pub use payment_commands::NewRefund;

/// The most payment-timeout cancellations one `ExpireDue` performs; the rest wait for the
/// next tick, so a backlog after downtime cannot make one batch unbounded.
pub const EXPIRIES_PER_COMMAND_MAX: usize = 5_000;

/// An opaque, caller-scoped reference to the request that placed an order (derived by the
/// shell from the caller and its `Idempotency-Key`). A retried checkout that carries the same
/// reference gets the order placed the first time instead of a second one.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestRef(pub String);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderLineRequest {
    pub sku: SkuId,
    pub quantity: Quantity,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlaceOrder {
    pub id: OrderId,
    pub checkout: CheckoutId,
    pub shop: ShopId,
    pub buyer: BuyerId,
    pub lines: Vec<OrderLineRequest>,
    pub address: Address,
    pub payment_timeout_seconds: i64,
    pub request: Option<RequestRef>,
    /// The delivery the buyer chose (checked against what can be kept now).
    pub delivery: Option<DeliveryChoice>,
}

/// A merchant's flash sale as scheduled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleFlashSale {
    pub id: FlashSaleId,
    pub shop: ShopId,
    pub sku: SkuId,
    pub warehouse: WarehouseId,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub price: Fen,
    pub units: i64,
    pub per_buyer_limit: i64,
    pub payment_timeout_seconds: i64,
}

/// One buyer's tap on a flash sale: an order at the flash price if the sale allows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tap {
    pub sale: FlashSaleId,
    pub order: OrderId,
    pub checkout: CheckoutId,
    pub buyer: BuyerId,
    pub quantity: Quantity,
    pub address: Address,
    pub request: Option<RequestRef>,
}

/// One order of a checkout, as the shell read it when opening the checkout's payment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntentOrderRequest {
    pub order: OrderId,
    pub shop: ShopId,
    pub amount: Fen,
    pub payment_due_at: Timestamp,
}

/// Opens the payment of a checkout in the shard of its first order's shop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenPaymentIntent {
    pub id: PaymentIntentId,
    pub checkout: CheckoutId,
    pub buyer: BuyerId,
    pub orders: Vec<IntentOrderRequest>,
    pub one_tap: bool,
}

/// Who asks for a cancellation; a buyer may only cancel its own orders.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Canceller {
    Buyer(BuyerId),
    Platform,
}

/// Everything a shard can be asked to do. Closed: a new capability adds variants here and
/// arms to the one `match` in [`ShardState::apply`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    CreateShop {
        id: ShopId,
        name: ShopName,
    },
    CreateWarehouse {
        id: WarehouseId,
        shop: ShopId,
        name: WarehouseName,
        location: Adcode,
    },
    CreateProduct {
        id: ProductId,
        shop: ShopId,
        title: ProductTitle,
        description: Option<ProductDescription>,
        gtin: Option<Gtin>,
        skus: Vec<NewSku>,
    },
    UpdateProduct {
        id: ProductId,
        shop: ShopId,
        changes: ProductChanges,
    },
    AddSku {
        shop: ShopId,
        product: ProductId,
        sku: NewSku,
    },
    UpdateSku {
        shop: ShopId,
        sku: SkuId,
        changes: SkuChanges,
    },
    SetStock {
        shop: ShopId,
        sku: SkuId,
        warehouse: WarehouseId,
        available: i64,
    },
    /// How a warehouse works: hours, capacity, cutoffs.
    ConfigureFulfillment {
        shop: ShopId,
        warehouse: WarehouseId,
        settings: FulfillmentSettings,
    },
    /// A warehouse found fewer units than the books say: its unshipped orders move elsewhere.
    ReportShortage {
        shop: ShopId,
        warehouse: WarehouseId,
        sku: SkuId,
        missing: i64,
    },
    CreateShipment(NewShipment),
    /// A carrier's tracking event for a shipment of this shard.
    RecordTracking {
        shipment: ShipmentId,
        event: TrackingEvent,
    },
    SetSlaRules {
        shop: ShopId,
        rules: SlaRules,
    },
    PlaceOrder(PlaceOrder),
    CancelOrder {
        order: OrderId,
        by: Canceller,
        reason: CancelReason,
    },
    /// Marks an open order paid by the capture of `intent` (sent to the order's shard).
    PayOrder {
        order: OrderId,
        intent: PaymentIntentId,
    },
    OpenPaymentIntent(OpenPaymentIntent),
    /// Reserves the next attempt number of an intent for a provider call. `one_tap` marks the
    /// intent as paid under the buyer's one-tap agreement (it counts toward the day's limit).
    BeginPaymentAttempt {
        intent: PaymentIntentId,
        one_tap: bool,
        snapshot: Option<Box<PaymentIntent>>,
    },
    /// What the provider says about an attempt. `refunds` are ids for the refunds the shard
    /// opens by itself when the money arrives for an order that has closed (one per order).
    RecordCharge {
        intent: PaymentIntentId,
        attempt: i64,
        outcome: ChargeOutcome,
        refunds: Vec<RefundId>,
        snapshot: Option<Box<PaymentIntent>>,
    },
    /// Whether another shard marked one of the intent's orders paid (`paid`) or found it closed.
    SettleRemoteOrder {
        intent: PaymentIntentId,
        order: OrderId,
        paid: bool,
        refund: RefundId,
        snapshot: Option<Box<PaymentIntent>>,
    },
    /// Opens a refund. A `request` reference already on one of the intent's refunds answers
    /// that refund instead (a retried request after a crash refunds once).
    RequestRefund {
        intent: PaymentIntentId,
        refund: RefundId,
        order: OrderId,
        amount: Fen,
        reason: RefundReason,
        request: Option<RequestRef>,
        snapshot: Option<Box<PaymentIntent>>,
    },
    RecordRefund {
        intent: PaymentIntentId,
        refund: RefundId,
        outcome: RefundOutcome,
        snapshot: Option<Box<PaymentIntent>>,
    },
    ScheduleFlashSale(ScheduleFlashSale),
    Tap(Tap),
    /// Cancels unpaid orders whose payment is due at or before `now`, and closes flash sales
    /// that have ended (their remaining units return to stock).
    ExpireDue,
}

/// A business refusal: a named fact with a stable wire code ([`Rejection::code`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    UnknownShop,
    ShopExists,
    UnknownProduct,
    UnknownSku {
        sku: SkuId,
    },
    UnknownWarehouse,
    /// The SKU or its product is archived.
    SkuUnavailable {
        sku: SkuId,
    },
    InsufficientStock {
        sku: SkuId,
        requested: i64,
        available: i64,
    },
    /// The order is not open in this shard (paid, cancelled, or never existed here).
    OrderNotOpen,
    InvalidTransition(InvalidTransition),
    TooManySkus,
    TooManyLines,
    InvalidStock,
    UnknownFlashSale,
    /// A tap that did not order: not started, ended, limit reached, sold out.
    Tap(TapRefusal),
    /// A flash sale's times, units or limit make no sense.
    InvalidFlashSale(&'static str),
    /// A payment rule refused the command.
    Payment(PaymentRefusal),
    /// The intent is not in this shard's memory: the shell resends the command with the
    /// intent as stored (`snapshot`).
    PaymentIntentNotLoaded,
    InvalidFulfillmentSettings(&'static str),
    InvalidSlaRules(&'static str),
    /// The order is not paid and awaiting shipment in this shard.
    OrderNotDispatched,
    /// The order sends no parcel from that warehouse.
    NoParcelAtWarehouse,
    /// That parcel has a shipment already.
    ShipmentExists,
    /// The carrier's waybill is already on another shipment.
    WaybillInUse,
    /// No shipment on its way with this id here (unknown, or its order was delivered).
    UnknownShipment,
    TrackingRefused(EventRefusal),
    /// The chosen delivery option is not one the platform can keep for this cart now.
    DeliveryOptionUnavailable,
    /// The booked window does not suit the chosen option.
    DeliveryWindowUnavailable,
    /// The id the shell allocated is already taken (a shell bug, refused rather than let
    /// one object overwrite another).
    IdInUse,
}

impl Rejection {
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::UnknownShop => "unknown_shop",
            Rejection::ShopExists => "shop_exists",
            Rejection::UnknownProduct => "unknown_product",
            Rejection::UnknownSku { .. } => "unknown_sku",
            Rejection::UnknownWarehouse => "unknown_warehouse",
            Rejection::SkuUnavailable { .. } => "sku_unavailable",
            Rejection::InsufficientStock { .. } => "insufficient_stock",
            Rejection::OrderNotOpen => "order_not_open",
            Rejection::InvalidTransition(_) => "invalid_transition",
            Rejection::TooManySkus => "too_many_skus",
            Rejection::TooManyLines => "too_many_lines",
            Rejection::InvalidStock => "invalid_stock",
            Rejection::IdInUse => "id_in_use",
            Rejection::UnknownFlashSale => "unknown_flash_sale",
            Rejection::Tap(refusal) => refusal.code(),
            Rejection::InvalidFlashSale(_) => "invalid_flash_sale",
            Rejection::Payment(refusal) => refusal.code(),
            Rejection::PaymentIntentNotLoaded => "payment_intent_not_loaded",
            Rejection::InvalidFulfillmentSettings(_) => "invalid_fulfillment_settings",
            Rejection::InvalidSlaRules(_) => "invalid_sla_rules",
            Rejection::OrderNotDispatched => "order_not_dispatched",
            Rejection::NoParcelAtWarehouse => "no_parcel_at_warehouse",
            Rejection::ShipmentExists => "shipment_exists",
            Rejection::WaybillInUse => "waybill_in_use",
            Rejection::UnknownShipment => "unknown_shipment",
            Rejection::TrackingRefused(refusal) => refusal.as_str(),
            Rejection::DeliveryOptionUnavailable => "delivery_option_unavailable",
            Rejection::DeliveryWindowUnavailable => "delivery_window_unavailable",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    ShopCreated(Shop),
    WarehouseCreated(Warehouse),
    ProductSaved {
        product: Product,
        skus: Vec<Sku>,
    },
    SkuSaved(Sku),
    StockSet {
        sku: SkuId,
        warehouse: WarehouseId,
        level: StockLevel,
    },
    OrderPlaced(Order),
    /// The request that carries this reference already placed this order.
    OrderAlreadyPlaced(OrderId),
    OrderCancelled(Order),
    OrderPaid(Order),
    /// The intent as it stands after the command (opened, found open, or changed).
    PaymentIntent(PaymentIntent),
    AttemptBegun {
        intent: PaymentIntent,
        attempt: i64,
    },
    FlashSaleScheduled(FlashSale),
    FulfillmentConfigured {
        warehouse: WarehouseId,
        settings: FulfillmentSettings,
    },
    ShortageHandled {
        redispatched: Vec<OrderId>,
        unfulfillable: Vec<OrderId>,
    },
    ShipmentSaved(Shipment),
    TrackingRecorded {
        shipment: Box<Shipment>,
        applied: EventOutcome,
    },
    SlaRulesSaved(SlaRules),
    Expired {
        orders: Vec<OrderId>,
    },
    Rejected(Rejection),
}

/// A change the shell must make durable. Effects of one batch are written in one transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    ShopSaved(Shop),
    WarehouseSaved(Warehouse),
    ProductSaved(Product),
    SkuSaved(Sku),
    /// The new level of one stock row (later effects on the same row supersede earlier ones).
    StockChanged {
        shop: ShopId,
        sku: SkuId,
        warehouse: WarehouseId,
        level: StockLevel,
    },
    OrderCreated {
        order: Order,
        request: Option<RequestRef>,
    },
    /// The order's state fields after a transition.
    OrderTransitioned(Order),
    /// The new state of a flash sale (later effects on the same sale supersede earlier ones).
    FlashSaleSaved(FlashSale),
    /// The new state of a payment intent (later effects on the same intent supersede earlier ones).
    PaymentIntentSaved(PaymentIntent),
    /// A refund opened or settled.
    RefundSaved(Refund),
    FulfillmentConfigured {
        shop: ShopId,
        warehouse: WarehouseId,
        settings: FulfillmentSettings,
    },
    /// A paid order's dispatch: its lines' allocations now say where its units are sold from.
    OrderDispatched {
        order: Order,
        decision: DispatchDecision,
    },
    /// Orders booked in a warehouse's processing hour (the new count).
    CapacityBooked {
        warehouse: WarehouseId,
        hour: Timestamp,
        orders: u32,
    },
    /// A shipment created or changed by a tracking event (its events included).
    ShipmentSaved(Shipment),
    /// A package-center alert raised, escalated or resolved.
    AlertSaved(Alert),
    SlaRulesSaved {
        shop: ShopId,
        rules: SlaRules,
    },
    /// A warehouse came up short for a paid order (and where its parcel went).
    ShortageNoticed(ShortageNotice),
}

/// What a starting shard reads back from the database.
#[derive(Clone, Debug, Default)]
pub struct ShardSnapshot {
    pub shops: Vec<Shop>,
    pub warehouses: Vec<Warehouse>,
    pub products: Vec<Product>,
    pub skus: Vec<Sku>,
    pub stock: Vec<(SkuId, WarehouseId, StockLevel)>,
    pub open_orders: Vec<Order>,
    /// Request references of recently placed orders (with when they were placed), for
    /// retried checkouts.
    pub recent_requests: Vec<(RequestRef, OrderId, Timestamp)>,
    /// Flash sales with the units each buyer holds in their open or paid orders.
    pub flash_sales: Vec<(FlashSale, Vec<(BuyerId, i64)>)>,
    /// Payment intents homed here that are not settled or changed recently.
    pub payment_intents: Vec<PaymentIntent>,
    /// Warehouses whose merchant configured how they work (the others run the standard).
    pub warehouse_settings: Vec<(WarehouseId, FulfillmentSettings)>,
    /// Capacity booked in hours from today on.
    pub capacity: Vec<(WarehouseId, Timestamp, u32)>,
    /// Paid orders not yet delivered, with their dispatch decisions.
    pub fulfilling: Vec<Fulfilling>,
    /// The shipments of those orders.
    pub shipments: Vec<Shipment>,
    /// Open alerts, and the latest resolved one per shipment and rule of those shipments.
    pub alerts: Vec<Alert>,
    pub sla_rules: Vec<(ShopId, SlaRules)>,
}

/// A payment intent in memory, with what only memory knows about it.
#[derive(Clone, Debug)]
struct IntentSlot {
    intent: PaymentIntent,
    /// The attempt with the provider right now (or, after a restart, the one that may have
    /// been): the intent does not expire while it is unresolved.
    in_flight: Option<i64>,
    /// When the intent next needs the shard's attention (expiry, or leaving memory).
    timer: Option<Timestamp>,
}

#[derive(Clone, Debug, Default)]
pub struct ShardState {
    shops: BTreeMap<ShopId, Shop>,
    warehouses: BTreeMap<WarehouseId, Warehouse>,
    products: BTreeMap<ProductId, Product>,
    skus: BTreeMap<SkuId, Sku>,
    inventory: Inventory,
    open_orders: BTreeMap<OrderId, Order>,
    payment_due: BTreeSet<(Timestamp, OrderId)>,
    /// Looked up, never iterated into output, so hashing keeps decisions deterministic.
    placed_requests: HashMap<RequestRef, (OrderId, Timestamp)>,
    flash_sales: BTreeMap<FlashSaleId, FlashSaleBook>,
    intents: BTreeMap<PaymentIntentId, IntentSlot>,
    intent_of_checkout: HashMap<CheckoutId, PaymentIntentId>,
    intent_timers: BTreeSet<(Timestamp, PaymentIntentId)>,
    warehouse_settings: BTreeMap<WarehouseId, FulfillmentSettings>,
    /// Per shop, its warehouses with their settings (rebuilt when either changes).
    sites: BTreeMap<ShopId, Vec<crate::fulfillment::WarehouseSite>>,
    capacity: crate::fulfillment::CapacityBook,
    fulfilling: BTreeMap<OrderId, Fulfilling>,
    shipments: BTreeMap<ShipmentId, Shipment>,
    /// The shipments of each order, and the waybills in use: looked up on every shipment and
    /// tracking event, so they are indexes rather than scans of every parcel on its way.
    shipments_by_order: BTreeSet<(OrderId, ShipmentId)>,
    waybills: HashSet<(crate::fulfillment::CarrierId, crate::logistics::Waybill)>,
    sla_rules: BTreeMap<ShopId, SlaRules>,
    alerts: AlertBook,
    sla_timers: BTreeSet<(Timestamp, ShipmentId)>,
    shipment_timers: HashMap<ShipmentId, Timestamp>,
}

impl ShardState {
    /// Rebuilds the working set from storage and checks it against itself: the units
    /// reserved in each stock row must equal what the open orders hold there.
    pub fn from_snapshot(snapshot: ShardSnapshot) -> ShardState {
        let mut state = ShardState {
            shops: snapshot.shops.into_iter().map(|s| (s.id, s)).collect(),
            warehouses: snapshot.warehouses.into_iter().map(|w| (w.id, w)).collect(),
            products: snapshot.products.into_iter().map(|p| (p.id, p)).collect(),
            skus: snapshot.skus.into_iter().map(|s| (s.id, s)).collect(),
            ..ShardState::default()
        };
        for (sku, warehouse, level) in snapshot.stock {
            state.inventory.restore(sku, warehouse, level);
        }
        state.warehouse_settings = snapshot.warehouse_settings.into_iter().collect();
        let shops: Vec<ShopId> = state.shops.keys().copied().collect();
        for shop in shops {
            state.refresh_sites(shop);
        }
        for (warehouse, hour, orders) in snapshot.capacity {
            state.capacity.restore(warehouse, hour, orders);
        }
        for fulfilling in snapshot.fulfilling {
            state.fulfilling.insert(fulfilling.order.id, fulfilling);
        }
        state.sla_rules = snapshot.sla_rules.into_iter().collect();
        for alert in snapshot.alerts {
            state.alerts.restore(alert);
        }
        // Every shipment is checked at the first tick after a restart (its first threshold
        // is already due), so what timed out while the shard was down is raised at once.
        for shipment in snapshot.shipments {
            if state.fulfilling.contains_key(&shipment.order) {
                state.keep_shipment(shipment, Timestamp::from_unix_ms(0));
            }
        }
        for order in snapshot.open_orders {
            assert_eq!(order.state, OrderState::PendingPayment, "snapshot holds a closed order");
            state.payment_due.insert((order.payment_due_at, order.id));
            state.open_orders.insert(order.id, order);
        }
        state.placed_requests = snapshot
            .recent_requests
            .into_iter()
            .map(|(request, order, at)| (request, (order, at)))
            .collect();
        state.flash_sales = snapshot
            .flash_sales
            .into_iter()
            .map(|(sale, bought)| (sale.id, FlashSaleBook::new(sale, bought)))
            .collect();
        for intent in snapshot.payment_intents {
            intent.assert_consistent();
            // Whether the last attempt reached the provider before the restart is unknown
            // until the shell has asked: until then the intent must not expire.
            let in_flight = intent.status.accepts_attempt().then_some(intent.attempts + 1);
            state.keep_intent(intent, in_flight);
        }
        state.assert_reservations_match_open_orders();
        state
    }

    fn assert_reservations_match_open_orders(&self) {
        let mut held: BTreeMap<(SkuId, WarehouseId), i64> = BTreeMap::new();
        for order in self.open_orders.values() {
            for line in &order.lines {
                for allocation in &line.allocations {
                    *held.entry((line.sku, allocation.warehouse)).or_default() += allocation.quantity;
                }
            }
        }
        for book in self.flash_sales.values().filter(|b| !b.sale.closed) {
            *held.entry((book.sale.sku, book.sale.warehouse)).or_default() += book.sale.remaining;
        }
        held.retain(|_, units| *units != 0);
        for sku in self.skus.keys() {
            for (warehouse, level) in self.inventory.levels_of(*sku) {
                let expected = held.remove(&(*sku, warehouse)).unwrap_or(0);
                assert_eq!(
                    level.reserved, expected,
                    "reserved units of {sku} in {warehouse} disagree with open orders"
                );
            }
        }
        assert!(
            held.is_empty(),
            "open orders hold units in unknown stock rows: {held:?}"
        );
    }

    pub fn owns_shop(&self, shop: ShopId) -> bool {
        self.shops.contains_key(&shop)
    }

    pub fn inventory(&self) -> &Inventory {
        &self.inventory
    }

    pub fn open_order(&self, id: OrderId) -> Option<&Order> {
        self.open_orders.get(&id)
    }

    pub fn open_orders(&self) -> impl Iterator<Item = &Order> {
        self.open_orders.values()
    }

    pub fn sku(&self, id: SkuId) -> Option<&Sku> {
        self.skus.get(&id)
    }

    pub fn flash_sale(&self, id: FlashSaleId) -> Option<&FlashSaleBook> {
        self.flash_sales.get(&id)
    }

    pub fn payment_intent(&self, id: PaymentIntentId) -> Option<&PaymentIntent> {
        self.intents.get(&id).map(|slot| &slot.intent)
    }

    /// Intents whose outcome the shell must find out from the provider: those processing
    /// (an unknown outcome), authorized (to capture or void), captured with orders still
    /// to settle in other shards or refunds to confirm, and any attempt possibly in flight
    /// at a restart.
    pub fn intents_needing_provider(&self) -> impl Iterator<Item = (&PaymentIntent, Option<i64>)> {
        self.intents.values().filter_map(|slot| {
            let i = &slot.intent;
            let needs = slot.in_flight.is_some()
                || matches!(i.status, IntentStatus::Processing | IntentStatus::Authorized)
                || (i.status.is_final() && !i.is_settled());
            needs.then_some((i, slot.in_flight))
        })
    }

    /// Forgets the request references of orders placed before `cutoff` (the end of the
    /// idempotency window), so the map holds one window of requests, not all history.
    pub fn forget_requests_placed_before(&mut self, cutoff: Timestamp) {
        self.placed_requests.retain(|_, (_, placed_at)| *placed_at >= cutoff);
    }

    /// Decides one command. Business refusals are `Outcome::Rejected`; effects are appended.
    pub fn apply(&mut self, command: Command, now: Timestamp, effects: &mut Vec<Effect>) -> Outcome {
        let result = match command {
            Command::CreateShop { id, name } => self.create_shop(id, name, now, effects),
            Command::CreateWarehouse {
                id,
                shop,
                name,
                location,
            } => self.create_warehouse(
                Warehouse {
                    id,
                    shop,
                    name,
                    location,
                    created_at: now,
                },
                effects,
            ),
            Command::CreateProduct {
                id,
                shop,
                title,
                description,
                gtin,
                skus,
            } => {
                let product = Product {
                    id,
                    shop,
                    title,
                    description,
                    gtin,
                    status: ListingStatus::Active,
                    created_at: now,
                    updated_at: now,
                };
                self.create_product(product, skus, effects)
            }
            Command::UpdateProduct { id, shop, changes } => self.update_product(id, shop, changes, now, effects),
            Command::AddSku { shop, product, sku } => self.add_sku(shop, product, sku, now, effects),
            Command::UpdateSku { shop, sku, changes } => self.update_sku(shop, sku, changes, now, effects),
            Command::SetStock {
                shop,
                sku,
                warehouse,
                available,
            } => self.set_stock(shop, sku, warehouse, available, effects),
            Command::ConfigureFulfillment {
                shop,
                warehouse,
                settings,
            } => self.configure_fulfillment(shop, warehouse, settings, effects),
            Command::ReportShortage {
                shop,
                warehouse,
                sku,
                missing,
            } => self.report_shortage(shop, warehouse, sku, missing, now, effects),
            Command::CreateShipment(new) => self.create_shipment(new, now, effects),
            Command::RecordTracking { shipment, event } => self.record_tracking(shipment, event, now, effects),
            Command::SetSlaRules { shop, rules } => self.set_sla_rules(shop, rules, now, effects),
            Command::PlaceOrder(place) => self.place_order(place, now, effects),
            Command::CancelOrder { order, by, reason } => self.cancel_order(order, by, reason, now, effects),
            Command::PayOrder { order, intent } => self.pay_order(order, intent, now, effects),
            Command::OpenPaymentIntent(open) => self.open_payment_intent(open, now, effects),
            Command::BeginPaymentAttempt {
                intent,
                one_tap,
                snapshot,
            } => self.begin_payment_attempt(intent, one_tap, snapshot),
            Command::RecordCharge {
                intent,
                attempt,
                outcome,
                refunds,
                snapshot,
            } => self.record_charge(intent, attempt, outcome, refunds, snapshot, now, effects),
            Command::SettleRemoteOrder {
                intent,
                order,
                paid,
                refund,
                snapshot,
            } => self.settle_remote_order(intent, order, paid, refund, snapshot, now, effects),
            Command::RequestRefund {
                intent,
                refund,
                order,
                amount,
                reason,
                request,
                snapshot,
            } => self.request_refund(
                intent,
                NewRefund {
                    id: refund,
                    order,
                    amount,
                    reason,
                    request,
                },
                snapshot,
                now,
                effects,
            ),
            Command::RecordRefund {
                intent,
                refund,
                outcome,
                snapshot,
            } => self.record_refund(intent, refund, outcome, snapshot, now, effects),
            Command::ScheduleFlashSale(schedule) => self.schedule_flash_sale(schedule, now, effects),
            Command::Tap(tap) => self.tap(tap, now, effects),
            Command::ExpireDue => Ok(self.expire_due(now, effects)),
        };
        result.unwrap_or_else(Outcome::Rejected)
    }

    fn create_shop(
        &mut self,
        id: ShopId,
        name: ShopName,
        now: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Result<Outcome, Rejection> {
        if self.shops.contains_key(&id) {
            return Err(Rejection::ShopExists);
        }
        let shop = Shop {
            id,
            name,
            created_at: now,
        };
        self.shops.insert(id, shop.clone());
        effects.push(Effect::ShopSaved(shop.clone()));
        Ok(Outcome::ShopCreated(shop))
    }

    fn create_warehouse(&mut self, warehouse: Warehouse, effects: &mut Vec<Effect>) -> Result<Outcome, Rejection> {
        if !self.shops.contains_key(&warehouse.shop) {
            return Err(Rejection::UnknownShop);
        }
        if self.warehouses.contains_key(&warehouse.id) {
            return Err(Rejection::IdInUse);
        }
        self.warehouses.insert(warehouse.id, warehouse.clone());
        self.refresh_sites(warehouse.shop);
        effects.push(Effect::WarehouseSaved(warehouse.clone()));
        Ok(Outcome::WarehouseCreated(warehouse))
    }

    fn create_product(
        &mut self,
        product: Product,
        new_skus: Vec<NewSku>,
        effects: &mut Vec<Effect>,
    ) -> Result<Outcome, Rejection> {
        if !self.shops.contains_key(&product.shop) {
            return Err(Rejection::UnknownShop);
        }
        if new_skus.len() > PRODUCT_SKUS_MAX {
            return Err(Rejection::TooManySkus);
        }
        let mut new_ids: Vec<SkuId> = new_skus.iter().map(|s| s.id).collect();
        new_ids.sort();
        new_ids.dedup();
        if self.products.contains_key(&product.id)
            || new_ids.len() != new_skus.len()
            || new_ids.iter().any(|id| self.skus.contains_key(id))
        {
            return Err(Rejection::IdInUse);
        }
        let skus: Vec<Sku> = new_skus
            .into_iter()
            .map(|new| Sku {
                id: new.id,
                product: product.id,
                shop: product.shop,
                name: new.name,
                price: new.price,
                status: ListingStatus::Active,
                created_at: product.created_at,
                updated_at: product.created_at,
            })
            .collect();
        self.products.insert(product.id, product.clone());
        effects.push(Effect::ProductSaved(product.clone()));
        for sku in &skus {
            self.skus.insert(sku.id, sku.clone());
            effects.push(Effect::SkuSaved(sku.clone()));
        }
        Ok(Outcome::ProductSaved { product, skus })
    }

    fn owned_product(&self, id: ProductId, shop: ShopId) -> Result<&Product, Rejection> {
        self.products
            .get(&id)
            .filter(|p| p.shop == shop)
            .ok_or(Rejection::UnknownProduct)
    }

    fn skus_of(&self, product: ProductId) -> Vec<Sku> {
        self.skus.values().filter(|s| s.product == product).cloned().collect()
    }

    fn update_product(
        &mut self,
        id: ProductId,
        shop: ShopId,
        changes: ProductChanges,
        now: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Result<Outcome, Rejection> {
        let mut product = self.owned_product(id, shop)?.clone();
        if let Some(title) = changes.title {
            product.title = title;
        }
        if let Some(description) = changes.description {
            product.description = description;
        }
        if let Some(gtin) = changes.gtin {
            product.gtin = gtin;
        }
        if let Some(status) = changes.status {
            product.status = status;
        }
        product.updated_at = now;
        self.products.insert(id, product.clone());
        effects.push(Effect::ProductSaved(product.clone()));
        Ok(Outcome::ProductSaved {
            skus: self.skus_of(id),
            product,
        })
    }

    fn add_sku(
        &mut self,
        shop: ShopId,
        product: ProductId,
        new: NewSku,
        now: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Result<Outcome, Rejection> {
        self.owned_product(product, shop)?;
        if self.skus.values().filter(|s| s.product == product).count() >= PRODUCT_SKUS_MAX {
            return Err(Rejection::TooManySkus);
        }
        if self.skus.contains_key(&new.id) {
            return Err(Rejection::IdInUse);
        }
        let sku = Sku {
            id: new.id,
            product,
            shop,
            name: new.name,
            price: new.price,
            status: ListingStatus::Active,
            created_at: now,
            updated_at: now,
        };
        self.skus.insert(sku.id, sku.clone());
        effects.push(Effect::SkuSaved(sku.clone()));
        Ok(Outcome::SkuSaved(sku))
    }

    fn owned_sku(&self, id: SkuId, shop: ShopId) -> Result<&Sku, Rejection> {
        self.skus
            .get(&id)
            .filter(|s| s.shop == shop)
            .ok_or(Rejection::UnknownSku { sku: id })
    }

    fn update_sku(
        &mut self,
        shop: ShopId,
        id: SkuId,
        changes: SkuChanges,
        now: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Result<Outcome, Rejection> {
        let mut sku = self.owned_sku(id, shop)?.clone();
        if let Some(name) = changes.name {
            sku.name = name;
        }
        if let Some(price) = changes.price {
            sku.price = price;
        }
        if let Some(status) = changes.status {
            sku.status = status;
        }
        sku.updated_at = now;
        self.skus.insert(id, sku.clone());
        effects.push(Effect::SkuSaved(sku.clone()));
        Ok(Outcome::SkuSaved(sku))
    }

    fn set_stock(
        &mut self,
        shop: ShopId,
        sku: SkuId,
        warehouse: WarehouseId,
        available: i64,
        effects: &mut Vec<Effect>,
    ) -> Result<Outcome, Rejection> {
        self.owned_sku(sku, shop)?;
        if self.warehouses.get(&warehouse).is_none_or(|w| w.shop != shop) {
            return Err(Rejection::UnknownWarehouse);
        }
        if !(0..=STOCK_UNITS_MAX).contains(&available) {
            return Err(Rejection::InvalidStock);
        }
        let level = self.inventory.set_available(sku, warehouse, available);
        effects.push(Effect::StockChanged {
            shop,
            sku,
            warehouse,
            level,
        });
        Ok(Outcome::StockSet { sku, warehouse, level })
    }

    /// Checks, in this order: the shop, the number of lines, then each line in request
    /// order: the SKU belongs to the shop, it is active (and so is its product), and enough
    /// units are available. The first failing check is the answer; nothing is reserved then.
    fn place_order(
        &mut self,
        place: PlaceOrder,
        now: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Result<Outcome, Rejection> {
        if let Some((existing, _)) = place.request.as_ref().and_then(|r| self.placed_requests.get(r)) {
            return Ok(Outcome::OrderAlreadyPlaced(*existing));
        }
        if !self.shops.contains_key(&place.shop) {
            return Err(Rejection::UnknownShop);
        }
        if place.lines.is_empty() || place.lines.len() > ORDER_LINES_MAX {
            return Err(Rejection::TooManyLines);
        }
        if self.open_orders.contains_key(&place.id) {
            return Err(Rejection::IdInUse);
        }
        assert!(
            place.payment_timeout_seconds > 0,
            "the shell must give a positive payment timeout"
        );
        let promise = match place.delivery {
            Some(choice) => {
                for request in &place.lines {
                    self.active_sku(request.sku, place.shop)?;
                }
                Some(self.promise_for_choice(place.shop, &place.lines, &place.address, choice, now)?)
            }
            None => None,
        };
        let mut lines = Vec::with_capacity(place.lines.len());
        let mut total = Fen::ZERO;
        for request in &place.lines {
            match self.reserve_line(place.shop, request) {
                Ok(line) => {
                    let amount = line
                        .unit_price
                        .checked_mul(line.quantity.get())
                        .expect("bounded price × quantity");
                    total = total.checked_add(amount).expect("bounded order total");
                    lines.push(line);
                }
                Err(rejection) => {
                    for line in &lines {
                        self.inventory.release(line.sku, &line.allocations);
                    }
                    return Err(rejection);
                }
            }
        }
        for line in &lines {
            self.push_stock_rows(place.shop, line.sku, &line.allocations, effects);
        }
        if let Some(promise) = &promise {
            total = total.checked_add(promise.price).expect("bounded order total");
        }
        let order = Order {
            id: place.id,
            checkout: place.checkout,
            shop: place.shop,
            buyer: place.buyer,
            lines,
            total,
            address: place.address,
            state: OrderState::PendingPayment,
            version: 1,
            created_at: now,
            payment_due_at: now.plus_seconds(place.payment_timeout_seconds),
            paid_at: None,
            paid_by: None,
            cancelled_at: None,
            cancel_reason: None,
            flash_sale: None,
            promise,
        };
        Ok(self.record_open_order(order, place.request, effects))
    }

    /// Records a new open order: due for payment, deduplicated by its request, made durable.
    fn record_open_order(&mut self, order: Order, request: Option<RequestRef>, effects: &mut Vec<Effect>) -> Outcome {
        self.payment_due.insert((order.payment_due_at, order.id));
        self.open_orders.insert(order.id, order.clone());
        if let Some(request) = &request {
            self.placed_requests
                .insert(request.clone(), (order.id, order.created_at));
        }
        effects.push(Effect::OrderCreated {
            order: order.clone(),
            request,
        });
        Outcome::OrderPlaced(order)
    }

    /// The SKU if it belongs to the shop and it and its product are on sale.
    fn active_sku(&self, id: SkuId, shop: ShopId) -> Result<&Sku, Rejection> {
        let sku = self.owned_sku(id, shop)?;
        let product_active = self
            .products
            .get(&sku.product)
            .is_some_and(|p| p.status == ListingStatus::Active);
        if sku.status != ListingStatus::Active || !product_active {
            return Err(Rejection::SkuUnavailable { sku: id });
        }
        Ok(sku)
    }

    fn reserve_line(&mut self, shop: ShopId, request: &OrderLineRequest) -> Result<OrderLine, Rejection> {
        let unit_price = self.active_sku(request.sku, shop)?.price;
        let requested = request.quantity.get();
        let Some(plan) = self.inventory.plan_reservation(request.sku, requested) else {
            return Err(Rejection::InsufficientStock {
                sku: request.sku,
                requested,
                available: self.inventory.available_total(request.sku),
            });
        };
        self.inventory.reserve(request.sku, &plan);
        Ok(OrderLine {
            sku: request.sku,
            quantity: request.quantity,
            unit_price,
            allocations: plan,
        })
    }

    fn push_stock_rows(&self, shop: ShopId, sku: SkuId, allocations: &[Allocation], effects: &mut Vec<Effect>) {
        for allocation in allocations {
            let level = self.inventory.level(sku, allocation.warehouse);
            effects.push(Effect::StockChanged {
                shop,
                sku,
                warehouse: allocation.warehouse,
                level,
            });
        }
    }

    fn cancel_order(
        &mut self,
        id: OrderId,
        by: Canceller,
        reason: CancelReason,
        now: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Result<Outcome, Rejection> {
        let order = self.open_orders.get(&id).ok_or(Rejection::OrderNotOpen)?;
        if let Canceller::Buyer(buyer) = by
            && order.buyer != buyer
        {
            return Err(Rejection::OrderNotOpen);
        }
        let order = self.close_order(id, effects, |order| order.cancel(reason, now))?;
        if let Some(book) = order.flash_sale.and_then(|sale| self.flash_sales.get_mut(&sale)) {
            let units: i64 = order.lines.iter().map(|l| l.quantity.get()).sum();
            if !book.sale.closed {
                // The units stay reserved: the sale holds them again, for another buyer.
                book.give_back(order.buyer, units);
                effects.push(Effect::FlashSaleSaved(book.sale.clone()));
                return Ok(Outcome::OrderCancelled(order));
            }
            book.forget(order.buyer, units);
        }
        for line in &order.lines {
            self.inventory.release(line.sku, &line.allocations);
            self.push_stock_rows(order.shop, line.sku, &line.allocations, effects);
        }
        Ok(Outcome::OrderCancelled(order))
    }

    fn pay_order(
        &mut self,
        id: OrderId,
        intent: PaymentIntentId,
        now: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Result<Outcome, Rejection> {
        let order = self.close_order(id, effects, |order| order.pay(intent, now))?;
        let order = self.dispatch_paid_order(order, now, effects);
        Ok(Outcome::OrderPaid(order))
    }

    /// Applies a closing transition to an open order and drops it from the working set.
    fn close_order(
        &mut self,
        id: OrderId,
        effects: &mut Vec<Effect>,
        transition: impl FnOnce(&mut Order) -> Result<(), InvalidTransition>,
    ) -> Result<Order, Rejection> {
        let mut order = self.open_orders.remove(&id).ok_or(Rejection::OrderNotOpen)?;
        if let Err(invalid) = transition(&mut order) {
            unreachable!("an open order refused a closing transition: {invalid:?}");
        }
        self.payment_due.remove(&(order.payment_due_at, id));
        effects.push(Effect::OrderTransitioned(order.clone()));
        Ok(order)
    }

    fn expire_due(&mut self, now: Timestamp, effects: &mut Vec<Effect>) -> Outcome {
        let due: Vec<OrderId> = self
            .payment_due
            .iter()
            .take_while(|(due_at, _)| *due_at <= now)
            .take(EXPIRIES_PER_COMMAND_MAX)
            .map(|(_, id)| *id)
            .collect();
        for id in &due {
            let cancelled = self.cancel_order(*id, Canceller::Platform, CancelReason::PaymentTimeout, now, effects);
            assert!(
                matches!(cancelled, Ok(Outcome::OrderCancelled(_))),
                "a due order was not open"
            );
        }
        self.close_ended_flash_sales(now, effects);
        self.run_intent_timers(now, effects);
        self.run_sla_timers(now, effects);
        Outcome::Expired { orders: due }
    }

    fn schedule_flash_sale(
        &mut self,
        s: ScheduleFlashSale,
        now: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Result<Outcome, Rejection> {
        self.owned_sku(s.sku, s.shop)?;
        if self.warehouses.get(&s.warehouse).is_none_or(|w| w.shop != s.shop) {
            return Err(Rejection::UnknownWarehouse);
        }
        if self.flash_sales.contains_key(&s.id) {
            return Err(Rejection::IdInUse);
        }
        if let Some(problem) = flash_sale_problem(&s, now) {
            return Err(Rejection::InvalidFlashSale(problem));
        }
        let available = self.inventory.level(s.sku, s.warehouse).available;
        if available < s.units {
            return Err(Rejection::InsufficientStock {
                sku: s.sku,
                requested: s.units,
                available,
            });
        }
        let hold = [Allocation {
            warehouse: s.warehouse,
            quantity: s.units,
        }];
        self.inventory.reserve(s.sku, &hold);
        self.push_stock_rows(s.shop, s.sku, &hold, effects);
        let sale = FlashSale {
            id: s.id,
            shop: s.shop,
            sku: s.sku,
            warehouse: s.warehouse,
            starts_at: s.starts_at,
            ends_at: s.ends_at,
            price: s.price,
            allotted: s.units,
            remaining: s.units,
            per_buyer_limit: s.per_buyer_limit,
            payment_timeout_seconds: s.payment_timeout_seconds,
            closed: false,
            created_at: now,
        };
        self.flash_sales.insert(sale.id, FlashSaleBook::new(sale.clone(), []));
        effects.push(Effect::FlashSaleSaved(sale.clone()));
        Ok(Outcome::FlashSaleScheduled(sale))
    }

    /// One-tap order: checked against the sale's window, the buyer's limit and the units left,
    /// all in memory (see the precedence in [`crate::flash_sale`]).
    fn tap(&mut self, tap: Tap, now: Timestamp, effects: &mut Vec<Effect>) -> Result<Outcome, Rejection> {
        if let Some((existing, _)) = tap.request.as_ref().and_then(|r| self.placed_requests.get(r)) {
            return Ok(Outcome::OrderAlreadyPlaced(*existing));
        }
        if self.open_orders.contains_key(&tap.order) {
            return Err(Rejection::IdInUse);
        }
        let book = self.flash_sales.get_mut(&tap.sale).ok_or(Rejection::UnknownFlashSale)?;
        book.take(tap.buyer, tap.quantity.get(), now).map_err(Rejection::Tap)?;
        let sale = &book.sale;
        effects.push(Effect::FlashSaleSaved(sale.clone()));
        let total = sale
            .price
            .checked_mul(tap.quantity.get())
            .expect("bounded flash price × quantity");
        let order = Order {
            id: tap.order,
            checkout: tap.checkout,
            shop: sale.shop,
            buyer: tap.buyer,
            lines: vec![OrderLine {
                sku: sale.sku,
                quantity: tap.quantity,
                unit_price: sale.price,
                allocations: vec![Allocation {
                    warehouse: sale.warehouse,
                    quantity: tap.quantity.get(),
                }],
            }],
            total,
            address: tap.address,
            state: OrderState::PendingPayment,
            version: 1,
            created_at: now,
            payment_due_at: now.plus_seconds(sale.payment_timeout_seconds),
            paid_at: None,
            paid_by: None,
            cancelled_at: None,
            cancel_reason: None,
            flash_sale: Some(sale.id),
            promise: None,
        };
        Ok(self.record_open_order(order, tap.request, effects))
    }

    /// Ended sales give their remaining units back to the warehouse's available stock.
    fn close_ended_flash_sales(&mut self, now: Timestamp, effects: &mut Vec<Effect>) {
        let ended: Vec<FlashSaleId> = self
            .flash_sales
            .values()
            .filter(|b| !b.sale.closed && b.sale.ends_at <= now)
            .map(|b| b.sale.id)
            .collect();
        for id in ended {
            let Some(book) = self.flash_sales.get_mut(&id) else {
                continue;
            };
            let returned = book.sale.remaining;
            book.sale.closed = true;
            book.sale.remaining = 0;
            let closed = book.sale.clone();
            if returned > 0 {
                let back = [Allocation {
                    warehouse: closed.warehouse,
                    quantity: returned,
                }];
                self.inventory.release(closed.sku, &back);
                self.push_stock_rows(closed.shop, closed.sku, &back, effects);
            }
            effects.push(Effect::FlashSaleSaved(closed));
        }
    }
}

/// Why a flash sale's schedule makes no sense, if it does not.
fn flash_sale_problem(s: &ScheduleFlashSale, now: Timestamp) -> Option<&'static str> {
    let duration_ms = s.ends_at.unix_ms() - s.starts_at.unix_ms();
    if duration_ms <= 0 {
        Some("the sale must end after it starts")
    } else if duration_ms > FLASH_DURATION_SECONDS_MAX * 1000 {
        Some("a sale lasts at most 7 days")
    } else if s.ends_at <= now {
        Some("the sale would already have ended")
    } else if !(1..=FLASH_UNITS_MAX).contains(&s.units) {
        Some("a sale allots 1 to 100 000 000 units")
    } else if !(1..=s.units).contains(&s.per_buyer_limit) {
        Some("the per-buyer limit is 1 to the units allotted")
    } else if !(1..=24 * 3600).contains(&s.payment_timeout_seconds) {
        Some("the payment timeout is 1 s to 24 h")
    } else {
        None
    }
}
