//! The state one shard owns and the one `match` that applies a command to it.
//!
//! A shard owns a set of shops: their catalog, warehouses, stock, open orders, flash sales,
//! payment intents, orders on their way and their shipments. Each capability keeps its state
//! in a book of its own with private fields ([`CatalogBook`], [`Inventory`], [`OrderBook`],
//! [`FlashSales`], [`PaymentBook`], [`FulfillmentBook`], [`LogisticsBook`]); the shard
//! composes them. [`ShardState::apply`] decides one [`Command`] at a time, in arrival order,
//! and appends the [`Effect`]s the shell must make durable; it never does IO and never fails
//! for business reasons: a refusal is an [`Outcome::Rejected`] with a named [`Rejection`].
//!
//! A step that crosses capabilities is an explicit call that names the books it may change
//! (a capture pays orders through `orders::pay`, which hands them to
//! `FulfillmentBook::dispatch_paid_order` with the inventory): a handler that is not given
//! `&mut Inventory` cannot move stock.
//!
//! A broken invariant (negative stock, a stock move that changes a total, a snapshot whose
//! reservations disagree with its open orders) is an `assert!`: the shard stops rather than
//! corrupt stock or money.

use crate::after_sales::book::AfterSalesBook;
use crate::after_sales::commands::{AfterSalesBooks, AfterSalesRefusal, SavedRequest};
use crate::after_sales::policy::ShopPolicy;
use crate::after_sales::request::AfterSalesRequest;
use crate::after_sales::{self};
use crate::catalog::{self, CatalogBook, Product, Shop, Sku};
use crate::flash_sale::{
    self, ControlRefusal, FlashSale, FlashSaleBook, FlashSaleId, FlashSales, ScheduleProblem, TapCounts, TapRefusal,
};
use crate::fulfillment::dispatch::DispatchDecision;
use crate::fulfillment::network::{FulfillmentSettings, SettingsProblem};
use crate::fulfillment::promise::{DeliveryOption, Destination};
use crate::fulfillment::{self, CapacityBook, FulfillmentBook, WarehouseSite};
use crate::ids::{AfterSalesId, BuyerId, OrderId, ShipmentId, ShopId, SkuId, WarehouseId};
use crate::inventory::{self, Inventory, StockLevel, StockMovement, Warehouse};
use crate::logistics::shipment::{EventOutcome, EventRefusal, Shipment};
use crate::logistics::sla::{Alert, SlaRules, SlaRulesProblem};
use crate::logistics::work::{WorkRefusal, Worked};
use crate::logistics::{self, LogisticsBook};
use crate::orders::{self, CancelReason, InvalidTransition, Order, OrderBook};
use crate::payments::{self, PaymentBook, PaymentIntent, PaymentIntentId, PaymentRefusal, Refund};
use crate::time::Timestamp;
use std::collections::BTreeMap;

mod questions;
pub use questions::{
    Answer, DeliveryOptionsAnswer, DeliveryOptionsQuestion, Question, RiskChange, RiskCluster, RiskClusterQuestion,
    ShardQuestion, ShopDeliveryOptions,
};

pub use crate::after_sales::commands::{
    AppealRequest, ApproveRequest, Decider, OpenRequest, ReceiveReturn, RecordRedirectRefused, RecordRedirected,
    RecordRefundFailed, RecordRefunded, RefuseRequest, SetPolicy, ShipReturn, WithdrawRequest,
};
pub use crate::after_sales::return_logistics::{BookReturnPickup, RecordReturnTracking, ReturnTracked};
pub use crate::catalog::{AddSku, CreateProduct, CreateShop, UpdateProduct, UpdateShop, UpdateSku};
pub use crate::flash_sale::{EndFlashSale, ScheduleFlashSale, Tap, TopUpFlashSale};
pub use crate::fulfillment::{ConfigureFulfillment, DeliveryChoice, Fulfilling, ReportShortage, ShortageNotice};
pub use crate::inventory::{CreateWarehouse, SetStock};
pub use crate::logistics::{CreateShipment, ParcelWaybill, RecordTracking, SetSlaRules, ShipOrder, WorkAlert};
pub use crate::orders::{CancelOrder, Canceller, OrderLineRequest, PayOrder, PlaceOrder, RequestRef};
pub use crate::payments::{
    BeginPaymentAttempt, IntentOrderRequest, OpenPaymentIntent, RecordCharge, RecordRefund, RequestRefund,
    SettleRemoteOrder,
};

/// The most timer-driven changes (payment-timeout cancellations, intent expiries, SLA
/// checks) one `ExpireDue` performs of each kind; the rest wait for the next tick, so a
/// backlog after downtime cannot make one batch unbounded.
pub const EXPIRIES_PER_COMMAND_MAX: usize = 5_000;

/// Everything a shard can be asked to do, one variant per capability. Closed: a new
/// capability adds a variant here, its own `Command` enum, and one arm to the `match` in
/// [`ShardState::apply`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Command {
    Catalog(catalog::Command),
    Inventory(inventory::Command),
    Orders(orders::Command),
    FlashSale(flash_sale::Command),
    Payments(payments::Command),
    Fulfillment(fulfillment::Command),
    Logistics(logistics::Command),
    AfterSales(after_sales::Command),
    /// Cancels unpaid orders whose payment is due at or before `now`, closes flash sales
    /// that have ended (their remaining units return to stock), expires unpaid payment
    /// intents, runs the package center's SLA checks that are due and the after-sales
    /// deadlines (a silent merchant is deemed to agree).
    ExpireDue,
}

/// `Command::from(PlaceOrder { .. })`: each capability's command struct becomes a shard
/// command without naming its capability twice.
macro_rules! into_command {
    ($($capability:ident :: $variant:ident ($command:ty) => $outer:ident;)*) => {
        $(impl From<$command> for Command {
            fn from(command: $command) -> Command {
                Command::$outer($capability::Command::$variant(command))
            }
        })*
    };
}

into_command! {
    catalog::CreateShop(CreateShop) => Catalog;
    catalog::UpdateShop(UpdateShop) => Catalog;
    catalog::CreateProduct(CreateProduct) => Catalog;
    catalog::UpdateProduct(UpdateProduct) => Catalog;
    catalog::AddSku(AddSku) => Catalog;
    catalog::UpdateSku(UpdateSku) => Catalog;
    inventory::CreateWarehouse(CreateWarehouse) => Inventory;
    inventory::SetStock(SetStock) => Inventory;
    orders::Place(PlaceOrder) => Orders;
    orders::Cancel(CancelOrder) => Orders;
    orders::Pay(PayOrder) => Orders;
    flash_sale::Schedule(ScheduleFlashSale) => FlashSale;
    flash_sale::Tap(Tap) => FlashSale;
    flash_sale::End(EndFlashSale) => FlashSale;
    flash_sale::TopUp(TopUpFlashSale) => FlashSale;
    payments::OpenIntent(OpenPaymentIntent) => Payments;
    payments::BeginAttempt(BeginPaymentAttempt) => Payments;
    payments::RecordCharge(RecordCharge) => Payments;
    payments::SettleRemoteOrder(SettleRemoteOrder) => Payments;
    payments::RequestRefund(RequestRefund) => Payments;
    payments::RecordRefund(RecordRefund) => Payments;
    fulfillment::Configure(ConfigureFulfillment) => Fulfillment;
    fulfillment::ReportShortage(ReportShortage) => Fulfillment;
    logistics::CreateShipment(CreateShipment) => Logistics;
    logistics::ShipOrder(ShipOrder) => Logistics;
    logistics::RecordTracking(RecordTracking) => Logistics;
    logistics::SetSlaRules(SetSlaRules) => Logistics;
    logistics::WorkAlert(WorkAlert) => Logistics;
    after_sales::Open(OpenRequest) => AfterSales;
    after_sales::Approve(ApproveRequest) => AfterSales;
    after_sales::Refuse(RefuseRequest) => AfterSales;
    after_sales::Appeal(AppealRequest) => AfterSales;
    after_sales::Withdraw(WithdrawRequest) => AfterSales;
    after_sales::ShipReturn(ShipReturn) => AfterSales;
    after_sales::ReceiveReturn(ReceiveReturn) => AfterSales;
    after_sales::Refunded(RecordRefunded) => AfterSales;
    after_sales::SetPolicy(SetPolicy) => AfterSales;
    after_sales::RefundFailed(RecordRefundFailed) => AfterSales;
    after_sales::BookReturnPickup(BookReturnPickup) => AfterSales;
    after_sales::TrackReturn(RecordReturnTracking) => AfterSales;
    after_sales::Redirected(RecordRedirected) => AfterSales;
    after_sales::RedirectRefused(RecordRedirectRefused) => AfterSales;
}

/// A command whose answer the shell holds as its own type: [`ShardCommand::answer`] narrows
/// the shard's [`Outcome`] to it. `apply` answers each command with its own outcome or a
/// refusal, so any other outcome is a broken invariant (a panic), not a case to handle; the
/// shell never needs an "unexpected outcome" branch.
pub trait ShardCommand: Into<Command> {
    type Answer;
    fn answer(outcome: Outcome) -> Result<Self::Answer, Rejection>;
}

/// An order placed by a checkout or a tap, or the one its request placed before.
// Moved once per request, never stored in bulk: boxing the order would cost an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Placement {
    Placed(Order),
    AlreadyPlaced(OrderId),
}

/// A product as saved, with all its SKUs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavedProduct {
    pub product: Product,
    pub skus: Vec<Sku>,
}

/// An attempt number reserved for a provider call, with the intent as it stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptBegun {
    pub intent: PaymentIntent,
    pub attempt: i64,
}

/// Where a shortage sent the orders it reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShortageHandled {
    pub redispatched: Vec<OrderId>,
    pub unfulfillable: Vec<OrderId>,
}

/// A tracking event as applied (or found a duplicate), with the shipment after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tracked {
    pub shipment: Box<Shipment>,
    pub applied: EventOutcome,
}

macro_rules! answers {
    ($($command:ty => $answer:ty { $($pattern:pat => $value:expr),+ $(,)? })*) => {
        $(impl ShardCommand for $command {
            type Answer = $answer;
            fn answer(outcome: Outcome) -> Result<$answer, Rejection> {
                match outcome {
                    $($pattern => Ok($value),)+
                    Outcome::Rejected(rejection) => Err(rejection),
                    other => unreachable!("{} was answered {other:?}", stringify!($command)),
                }
            }
        })*
    };
}

answers! {
    CreateShop => Shop { Outcome::ShopCreated(shop) => shop }
    UpdateShop => Shop { Outcome::ShopUpdated(shop) => shop }
    CreateProduct => SavedProduct { Outcome::ProductSaved { product, skus } => SavedProduct { product, skus } }
    UpdateProduct => SavedProduct { Outcome::ProductSaved { product, skus } => SavedProduct { product, skus } }
    AddSku => Sku { Outcome::SkuSaved(sku) => sku }
    UpdateSku => Sku { Outcome::SkuSaved(sku) => sku }
    CreateWarehouse => Warehouse { Outcome::WarehouseCreated(warehouse) => warehouse }
    SetStock => StockLevel { Outcome::StockSet { level, .. } => level }
    PlaceOrder => Placement {
        Outcome::OrderPlaced(order) => Placement::Placed(order),
        Outcome::OrderAlreadyPlaced(id) => Placement::AlreadyPlaced(id),
    }
    Tap => Placement {
        Outcome::OrderPlaced(order) => Placement::Placed(order),
        Outcome::OrderAlreadyPlaced(id) => Placement::AlreadyPlaced(id),
    }
    CancelOrder => Order { Outcome::OrderCancelled(order) => order }
    PayOrder => Order { Outcome::OrderPaid(order) => order }
    ScheduleFlashSale => FlashSale { Outcome::FlashSaleScheduled(sale) => sale }
    EndFlashSale => FlashSale { Outcome::FlashSaleEnded(sale) => sale }
    TopUpFlashSale => FlashSale { Outcome::FlashSaleToppedUp(sale) => sale }
    OpenPaymentIntent => PaymentIntent { Outcome::PaymentIntent(intent) => intent }
    BeginPaymentAttempt => AttemptBegun { Outcome::AttemptBegun { intent, attempt } => AttemptBegun { intent, attempt } }
    RecordCharge => PaymentIntent { Outcome::PaymentIntent(intent) => intent }
    SettleRemoteOrder => PaymentIntent { Outcome::PaymentIntent(intent) => intent }
    RequestRefund => PaymentIntent { Outcome::PaymentIntent(intent) => intent }
    RecordRefund => PaymentIntent { Outcome::PaymentIntent(intent) => intent }
    ConfigureFulfillment => FulfillmentSettings { Outcome::FulfillmentConfigured { settings, .. } => settings }
    ReportShortage => ShortageHandled {
        Outcome::ShortageHandled { redispatched, unfulfillable } => ShortageHandled { redispatched, unfulfillable },
    }
    CreateShipment => Shipment { Outcome::ShipmentSaved(shipment) => shipment }
    ShipOrder => Vec<Shipment> { Outcome::OrderShipped(shipments) => shipments }
    RecordTracking => Tracked { Outcome::TrackingRecorded { shipment, applied } => Tracked { shipment, applied } }
    SetSlaRules => SlaRules { Outcome::SlaRulesSaved(rules) => rules }
    WorkAlert => Alert { Outcome::AlertWorked(alert) => *alert }
    OpenRequest => SavedRequest { Outcome::AfterSales(saved) => *saved }
    ApproveRequest => SavedRequest { Outcome::AfterSales(saved) => *saved }
    RefuseRequest => SavedRequest { Outcome::AfterSales(saved) => *saved }
    AppealRequest => SavedRequest { Outcome::AfterSales(saved) => *saved }
    WithdrawRequest => SavedRequest { Outcome::AfterSales(saved) => *saved }
    ShipReturn => SavedRequest { Outcome::AfterSales(saved) => *saved }
    ReceiveReturn => SavedRequest { Outcome::AfterSales(saved) => *saved }
    RecordRefunded => SavedRequest { Outcome::AfterSales(saved) => *saved }
    SetPolicy => ShopPolicy { Outcome::AfterSalesPolicy(policy) => policy }
    RecordRefundFailed => SavedRequest { Outcome::AfterSales(saved) => *saved }
    BookReturnPickup => SavedRequest { Outcome::AfterSales(saved) => *saved }
    RecordReturnTracking => ReturnTracked { Outcome::ReturnTracked(tracked) => *tracked }
    RecordRedirected => SavedRequest { Outcome::AfterSales(saved) => *saved }
    RecordRedirectRefused => SavedRequest { Outcome::AfterSales(saved) => *saved }
}

/// A business refusal: a named fact with a stable wire code ([`Rejection::code`]).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
    /// Risk refused the request (challenge or block): it holds nothing.
    Risk(crate::risk::RiskRefusal),
    /// A flash sale's times, units or limit make no sense.
    InvalidFlashSale(ScheduleProblem),
    /// Ending or topping up a sale that cannot be (see [`ControlRefusal`]).
    FlashSaleControl(ControlRefusal),
    /// A payment rule refused the command.
    Payment(PaymentRefusal),
    /// The intent is not in this shard's memory: the shell resends the command with the
    /// intent as stored (`snapshot`).
    PaymentIntentNotLoaded,
    InvalidFulfillmentSettings(SettingsProblem),
    InvalidSlaRules(SlaRulesProblem),
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
    /// An after-sales command was refused (see [`AfterSalesRefusal`]).
    AfterSales(AfterSalesRefusal),
    /// A person's action on a package-center alert was refused.
    AlertWork(WorkRefusal),
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
            // The wire has always said `invalid_transition` here: the order left
            // `pending_payment`, so the asked transition no longer applies.
            Rejection::OrderNotOpen => "invalid_transition",
            Rejection::InvalidTransition(_) => "invalid_transition",
            Rejection::TooManySkus => "too_many_skus",
            Rejection::TooManyLines => "too_many_lines",
            Rejection::InvalidStock => "invalid_stock",
            Rejection::IdInUse => "id_in_use",
            Rejection::UnknownFlashSale => "unknown_flash_sale",
            Rejection::Tap(refusal) => refusal.code(),
            Rejection::Risk(refusal) => refusal.code(),
            Rejection::InvalidFlashSale(_) => "invalid_flash_sale",
            Rejection::FlashSaleControl(refusal) => refusal.code(),
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
            Rejection::AfterSales(refusal) => refusal.code(),
            Rejection::AlertWork(refusal) => refusal.code(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Outcome {
    ShopCreated(Shop),
    ShopUpdated(Shop),
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
    /// The sale as its merchant ended it.
    FlashSaleEnded(FlashSale),
    /// The sale with the units added.
    FlashSaleToppedUp(FlashSale),
    FulfillmentConfigured {
        warehouse: WarehouseId,
        settings: FulfillmentSettings,
    },
    ShortageHandled {
        redispatched: Vec<OrderId>,
        unfulfillable: Vec<OrderId>,
    },
    ShipmentSaved(Shipment),
    /// Every parcel of a bulk shipment of one order, shipped together.
    OrderShipped(Vec<Shipment>),
    TrackingRecorded {
        shipment: Box<Shipment>,
        applied: EventOutcome,
    },
    SlaRulesSaved(SlaRules),
    /// An alert as it stands after a person's action.
    AlertWorked(Box<Alert>),
    /// An after-sales request as it stands after the command.
    AfterSales(Box<SavedRequest>),
    /// A shop's after-sales policy as it now stands.
    AfterSalesPolicy(ShopPolicy),
    /// A return waybill's tracking event: the request as it stands, and whether the event was new.
    ReturnTracked(Box<ReturnTracked>),
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
    /// A merchant's change to the units available (a line of the stock ledger, never
    /// superseded); written next to its row's [`Effect::StockChanged`].
    StockMoved(StockMovement),
    OrderCreated {
        order: Order,
        request: Option<RequestRef>,
    },
    /// The order's state fields after a transition.
    OrderTransitioned(Order),
    /// A paid order's new delivery address and promise (an approved change of address).
    OrderReaddressed(Order),
    /// The new state of a flash sale (later effects on the same sale supersede earlier ones).
    FlashSaleSaved(FlashSale),
    /// A sale its merchant ended early, as it now stands (closed), and the units it returned
    /// to available stock. Written like [`Effect::FlashSaleSaved`]; its event is `flash_sale.ended`.
    FlashSaleEnded {
        sale: FlashSale,
        returned: i64,
    },
    /// A sale its merchant topped up by `units`, as it now stands. Written like
    /// [`Effect::FlashSaleSaved`]; its event is `flash_sale.topped_up`.
    FlashSaleToppedUp {
        sale: FlashSale,
        units: i64,
    },
    /// How a sale's taps were answered since the last such effect (at most one per sale and
    /// batch: see [`ShardState::publish_tap_counts`]). Written only as an event.
    FlashSaleTapsCounted {
        shop: ShopId,
        sale: FlashSaleId,
        counts: TapCounts,
    },
    /// A tap's risk decision worth keeping (refused, let through for review, or one a rule in
    /// shadow would change): written to the review queue, whatever the tap's outcome.
    RiskDecided(Box<crate::risk::RiskDecision>),
    /// The new state of a payment intent (later effects on the same intent supersede earlier ones).
    PaymentIntentSaved(PaymentIntent),
    /// A refund opened or settled, of an order of `shop`.
    RefundSaved {
        shop: ShopId,
        refund: Refund,
    },
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
        shop: ShopId,
        warehouse: WarehouseId,
        hour: Timestamp,
        orders: u32,
    },
    /// A shipment created or changed by a tracking event (its events included).
    ShipmentSaved(Shipment),
    /// A package-center alert raised, escalated or resolved by the rules.
    AlertSaved(Alert),
    /// A person acknowledged, assigned, noted or resolved an alert (it is saved whole).
    AlertWorked {
        alert: Box<Alert>,
        worked: Worked,
    },
    SlaRulesSaved {
        shop: ShopId,
        rules: SlaRules,
    },
    /// A warehouse came up short for a paid order (and where its parcel went).
    ShortageNoticed(ShortageNotice),
    /// An after-sales request opened or moved (later effects on the same request supersede
    /// earlier ones).
    AfterSalesSaved(Box<SavedRequest>),
    AfterSalesPolicySaved {
        shop: ShopId,
        policy: ShopPolicy,
    },
}

/// How long an order placed with a request reference dedupes a retried checkout.
pub const REQUEST_RETENTION_MS: i64 = 48 * 3600 * 1000;

/// How far back a shard starting (or rebuilding) at some instant reads what a running shard
/// keeps in memory only for a while: computed in one place, so that every loader (the server's
/// sequencer, the simulator) rebuilds exactly what a shard that had run on would hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShardHorizons {
    /// The request references of orders placed since then ([`REQUEST_RETENTION_MS`]).
    pub requests_since: Timestamp,
    /// The payment intents not settled, or changed since then.
    pub intents_changed_since: Timestamp,
    /// The after-sales requests not settled, or settled after then.
    pub after_sales_settled_after: Timestamp,
    /// Warehouse capacity booked in hours from then on: the start of the day in Asia/Shanghai
    /// (a day's limit counts the whole day).
    pub capacity_since: Timestamp,
}

impl ShardHorizons {
    /// The horizons of a shard starting at `now`.
    pub fn at(now: Timestamp) -> ShardHorizons {
        // Every retention is whole seconds.
        let before = |ms: i64| now.plus_seconds(-ms / 1000);
        ShardHorizons {
            requests_since: ShardHorizons::requests_since(now),
            intents_changed_since: before(payments::SETTLED_INTENT_RETENTION_MS),
            after_sales_settled_after: before(after_sales::book::SETTLED_REQUEST_RETENTION_MS),
            capacity_since: fulfillment::LocalDate::of(now).start(),
        }
    }

    /// The request references a shard keeps at `now`: of orders placed since then. Also the
    /// running shard's cutoff, so it reads this one horizon alone, every expiry tick.
    pub fn requests_since(now: Timestamp) -> Timestamp {
        now.plus_seconds(-REQUEST_RETENTION_MS / 1000)
    }
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
    /// After-sales requests not yet settled, and those settled within the retention (older
    /// closed and refunded ones stay in storage: a new request brings its order's refunded ones
    /// along).
    pub after_sales: Vec<(AfterSalesId, AfterSalesRequest)>,
    /// The after-sales policies shops set.
    pub after_sales_policies: Vec<(ShopId, ShopPolicy)>,
}

#[derive(Clone, Debug, Default)]
pub struct ShardState {
    catalog: CatalogBook,
    inventory: Inventory,
    orders: OrderBook,
    flash: FlashSales,
    payments: PaymentBook,
    fulfillment: FulfillmentBook,
    logistics: LogisticsBook,
    after_sales: AfterSalesBook,
    risk: crate::risk::RiskBook,
}

impl ShardState {
    /// Replaces risk's rules and mode (at start, and when an admin changes them).
    pub fn set_risk_policy(&mut self, rules: crate::risk::RuleSet, mode: crate::risk::RiskMode) {
        self.risk.set_policy(rules, mode);
    }

    /// Risk's memory and its rules, to change them (an admin's new rule set, a sale's strict
    /// mode): nothing else in the shard is touched.
    pub fn risk_mut(&mut self) -> &mut crate::risk::RiskBook {
        &mut self.risk
    }

    /// Risk's memory and verdicts, for metrics and tests.
    pub fn risk(&self) -> &crate::risk::RiskBook {
        &self.risk
    }

    /// Rebuilds the working set from storage and checks it against itself: the units
    /// reserved in each stock row must equal what the open orders, running sales and open
    /// exchanges hold.
    pub fn from_snapshot(snapshot: ShardSnapshot) -> ShardState {
        let catalog = CatalogBook::restore(snapshot.shops, snapshot.products, snapshot.skus);
        let mut inventory = Inventory::default();
        for warehouse in snapshot.warehouses {
            inventory.restore_warehouse(warehouse);
        }
        for (sku, warehouse, level) in snapshot.stock {
            inventory.restore(sku, warehouse, level);
        }
        let mut fulfillment =
            FulfillmentBook::restore(snapshot.warehouse_settings, snapshot.capacity, snapshot.fulfilling);
        for shop in catalog.shop_ids() {
            fulfillment.refresh_sites(shop, inventory.warehouses_of(shop));
        }
        let on_their_way: Vec<Shipment> = snapshot
            .shipments
            .into_iter()
            .filter(|s| fulfillment.fulfilling(s.order).is_some())
            .collect();
        let logistics = LogisticsBook::restore(snapshot.sla_rules, snapshot.alerts, on_their_way.into_iter());
        let state = ShardState {
            catalog,
            inventory,
            orders: OrderBook::restore(snapshot.open_orders, snapshot.recent_requests),
            flash: FlashSales::restore(snapshot.flash_sales),
            payments: PaymentBook::restore(snapshot.payment_intents),
            fulfillment,
            logistics,
            after_sales: AfterSalesBook::restore(snapshot.after_sales, snapshot.after_sales_policies),
            risk: crate::risk::RiskBook::default(),
        };
        state.assert_reservations_match_open_orders();
        state
    }

    fn assert_reservations_match_open_orders(&self) {
        let mut held: BTreeMap<(SkuId, WarehouseId), i64> = BTreeMap::new();
        for order in self.orders.iter() {
            for line in &order.lines {
                for allocation in &line.allocations {
                    *held.entry((line.sku, allocation.warehouse)).or_default() += allocation.quantity;
                }
            }
        }
        for (row, units) in self.flash.holdings() {
            *held.entry(row).or_default() += units;
        }
        // An open exchange holds its replacement units as reserved until they are sold to its
        // replacement order or released.
        for (row, units) in self.after_sales.holdings() {
            *held.entry(row).or_default() += units;
        }
        held.retain(|_, units| *units != 0);
        for sku in self.catalog.sku_ids() {
            for (warehouse, level) in self.inventory.levels_of(sku) {
                let expected = held.remove(&(sku, warehouse)).unwrap_or(0);
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

    pub fn catalog(&self) -> &CatalogBook {
        &self.catalog
    }

    pub fn inventory(&self) -> &Inventory {
        &self.inventory
    }

    pub fn orders(&self) -> &OrderBook {
        &self.orders
    }

    pub fn flash_sales(&self) -> &FlashSales {
        &self.flash
    }

    pub fn payments(&self) -> &PaymentBook {
        &self.payments
    }

    pub fn fulfillment(&self) -> &FulfillmentBook {
        &self.fulfillment
    }

    pub fn logistics(&self) -> &LogisticsBook {
        &self.logistics
    }

    pub fn after_sales(&self) -> &AfterSalesBook {
        &self.after_sales
    }

    /// The after-sales policy a shop runs: its own, or the platform's default.
    pub fn after_sales_policy(&self, shop: ShopId) -> ShopPolicy {
        self.after_sales.policy_of(shop)
    }

    pub fn owns_shop(&self, shop: ShopId) -> bool {
        self.catalog.owns_shop(shop)
    }

    pub fn open_order(&self, id: OrderId) -> Option<&Order> {
        self.orders.get(id)
    }

    pub fn open_orders(&self) -> impl Iterator<Item = &Order> {
        self.orders.iter()
    }

    /// How many orders of flash sale `sale` wait for payment, and when the first is due.
    pub fn unpaid_of_flash_sale(&self, sale: FlashSaleId) -> (usize, Option<Timestamp>) {
        self.orders.unpaid_of_sale(sale)
    }

    pub fn sku(&self, id: SkuId) -> Option<&Sku> {
        self.catalog.sku(id)
    }

    pub fn flash_sale(&self, id: FlashSaleId) -> Option<&FlashSaleBook> {
        self.flash.get(id)
    }

    pub fn payment_intent(&self, id: PaymentIntentId) -> Option<&PaymentIntent> {
        self.payments.get(id)
    }

    /// See [`PaymentBook::needing_provider`].
    pub fn intents_needing_provider(&self) -> impl Iterator<Item = (&PaymentIntent, Option<i64>)> {
        self.payments.needing_provider()
    }

    pub fn sites_of(&self, shop: ShopId) -> &[WarehouseSite] {
        self.fulfillment.sites_of(shop)
    }

    pub fn capacity(&self) -> &CapacityBook {
        self.fulfillment.capacity()
    }

    pub fn fulfilling(&self, order: OrderId) -> Option<&Fulfilling> {
        self.fulfillment.fulfilling(order)
    }

    pub fn fulfilling_orders(&self) -> impl Iterator<Item = &Fulfilling> {
        self.fulfillment.fulfilling_orders()
    }

    /// What the shop can promise for these lines to `destination` now.
    pub fn delivery_options(
        &self,
        shop: ShopId,
        lines: &[(SkuId, i64)],
        destination: Option<&Destination>,
        now: Timestamp,
    ) -> Result<Vec<DeliveryOption>, Rejection> {
        self.fulfillment
            .delivery_options(shop, lines, destination, &self.catalog, &self.inventory, now)
    }

    pub fn shipment(&self, id: ShipmentId) -> Option<&Shipment> {
        self.logistics.shipment(id)
    }

    pub fn shipments(&self) -> impl Iterator<Item = &Shipment> {
        self.logistics.shipments()
    }

    pub fn sla_rules(&self, shop: ShopId) -> SlaRules {
        self.logistics.sla_rules(shop)
    }

    pub fn open_alerts(&self) -> impl Iterator<Item = &Alert> {
        self.logistics.open_alerts()
    }

    /// Appends one [`Effect::FlashSaleTapsCounted`] per sale whose taps were answered since the
    /// last call. The shell calls it with a batch it commits anyway, or on a short timer when
    /// only refusals (which write nothing) arrived.
    pub fn publish_tap_counts(&mut self, effects: &mut Vec<Effect>) {
        self.flash.publish_tap_counts(effects);
    }

    /// Whether taps were answered since the counts were last published.
    pub fn taps_counted(&self) -> bool {
        self.flash.taps_counted()
    }

    /// Forgets the request references of orders placed before `cutoff` (the end of the
    /// idempotency window), so the map holds one window of requests, not all history.
    pub fn forget_requests_placed_before(&mut self, cutoff: Timestamp) {
        self.orders.forget_requests_placed_before(cutoff);
    }

    /// Decides one command. Business refusals are `Outcome::Rejected`; effects are appended.
    /// One arm per capability; each names the books the capability's commands may change.
    pub fn apply(&mut self, command: Command, now: Timestamp, effects: &mut Vec<Effect>) -> Outcome {
        let ShardState {
            catalog,
            inventory,
            orders,
            flash,
            payments,
            fulfillment,
            logistics,
            after_sales,
            risk,
        } = &mut *self;
        let result = match command {
            Command::Catalog(c) => c.apply(catalog, now, effects),
            Command::Inventory(c) => c.apply(catalog, inventory, fulfillment, now, effects),
            Command::Orders(c) => {
                let books = orders::OrderBooks {
                    catalog,
                    inventory,
                    orders,
                    flash,
                    fulfillment,
                    risk,
                };
                c.apply(books, now, effects)
            }
            Command::FlashSale(c) => c.apply(catalog, inventory, flash, (orders, risk), now, effects),
            Command::Payments(c) => {
                let books = payments::CaptureBooks {
                    catalog,
                    orders,
                    fulfillment,
                    inventory,
                    risk,
                };
                c.apply(payments, books, now, effects)
            }
            Command::Fulfillment(c) => {
                let shipped = || logistics.shipped_parcels();
                c.apply(catalog, inventory, fulfillment, shipped, now, effects)
            }
            Command::Logistics(logistics::Command::CreateShipment(CreateShipment { order, .. }))
            | Command::Logistics(logistics::Command::ShipOrder(ShipOrder { order, .. }))
                if let Some(request) = after_sales.open_cancellation(order) =>
            {
                Err(Rejection::AfterSales(AfterSalesRefusal::CancellationRequested {
                    request,
                }))
            }
            Command::Logistics(c) => c.apply(catalog, fulfillment, logistics, now, effects),
            Command::AfterSales(after_sales::Command::SetPolicy(c)) if !catalog.owns_shop(c.shop) => {
                Err(Rejection::UnknownShop)
            }
            Command::AfterSales(c) => {
                let books = AfterSalesBooks {
                    catalog,
                    fulfillment,
                    inventory,
                    logistics,
                    flash,
                    risk,
                };
                c.apply(after_sales, books, now, effects)
            }
            Command::ExpireDue => Ok(self.expire_due(now, effects)),
        };
        result.unwrap_or_else(Outcome::Rejected)
    }

    fn expire_due(&mut self, now: Timestamp, effects: &mut Vec<Effect>) -> Outcome {
        let due = self.orders.due(now, EXPIRIES_PER_COMMAND_MAX);
        for id in &due {
            let cancel = CancelOrder {
                order: *id,
                by: Canceller::Platform,
                reason: CancelReason::PaymentTimeout,
            };
            let cancelled = orders::cancel(
                cancel,
                &mut self.orders,
                &mut self.flash,
                &mut self.inventory,
                now,
                effects,
            );
            assert!(cancelled.is_ok(), "a due order was not open");
        }
        self.flash.close_ended(&mut self.inventory, now, effects);
        self.payments.run_timers(now, effects);
        self.logistics.run_timers(now, effects);
        let books = AfterSalesBooks {
            catalog: &self.catalog,
            fulfillment: &mut self.fulfillment,
            inventory: &mut self.inventory,
            logistics: &self.logistics,
            flash: &mut self.flash,
            risk: &mut self.risk,
        };
        after_sales::commands::run_timers(&mut self.after_sales, books, now, EXPIRIES_PER_COMMAND_MAX, effects);
        Outcome::Expired { orders: due }
    }
}

/// Members send each other shard commands and their answers as serde values (both ends run
/// the same build): every command, outcome and refusal must come back equal.
#[cfg(test)]
mod wire_tests {
    use super::*;
    use crate::catalog::{NewSku, ShopName, SkuName, Text};
    use crate::geo::Adcode;
    use crate::ids::{CheckoutId, ProductId};
    use crate::money::Fen;
    use crate::orders::Address;
    use crate::quantity::Quantity;
    use crate::risk::ClientSignals;
    use serde::de::DeserializeOwned;
    use std::fmt::Debug;

    const NOW: Timestamp = Timestamp::from_unix_ms(1_700_000_000_000);

    fn round_trip<T: serde::Serialize + DeserializeOwned + PartialEq + Debug>(value: &T) {
        let json = serde_json::to_string(value).expect("serialises");
        let back: T = serde_json::from_str(&json).expect("deserialises");
        assert_eq!(&back, value, "{json}");
    }

    fn shop() -> ShopId {
        ShopId::new(1).expect("positive id")
    }

    fn sku() -> SkuId {
        SkuId::new(11).expect("positive id")
    }

    fn order() -> OrderId {
        OrderId::new(101).expect("positive id")
    }

    fn place(units: i64) -> PlaceOrder {
        PlaceOrder {
            id: order(),
            checkout: CheckoutId::new(201).expect("positive id"),
            shop: shop(),
            buyer: BuyerId::new(301).expect("positive id"),
            lines: vec![OrderLineRequest {
                sku: sku(),
                quantity: Quantity::new(units).expect("a valid quantity"),
            }],
            address: Address {
                adcode: Adcode::parse("310101000000").expect("黄浦区 is a known division"),
                detail: Text::parse("南京东路1号").expect("valid street detail"),
            },
            payment_timeout_seconds: orders::PAYMENT_TIMEOUT_SECONDS_DEFAULT,
            request: Some(RequestRef("buyer-301/checkout-201".to_string())),
            delivery: None,
            client: Box::new(ClientSignals {
                device: Some(u64::MAX),
                ..ClientSignals::default()
            }),
        }
    }

    /// A shard with one shop, one warehouse and 5 units of one SKU at 19.90 yuan.
    fn shard() -> ShardState {
        let warehouse = WarehouseId::new(21).expect("positive id");
        let setup: [Command; 4] = [
            Command::from(CreateShop {
                id: shop(),
                name: ShopName::parse("小店").expect("valid name"),
                category: Default::default(),
            }),
            Command::from(CreateWarehouse {
                id: warehouse,
                shop: shop(),
                name: Text::parse("上海仓").expect("valid name"),
                location: Adcode::parse("310101000000").expect("黄浦区 is a known division"),
            }),
            Command::from(CreateProduct {
                id: ProductId::new(31).expect("positive id"),
                shop: shop(),
                title: Text::parse("茶叶").expect("valid title"),
                description: None,
                gtin: None,
                goods_class: None,
                skus: vec![NewSku {
                    id: sku(),
                    name: SkuName::parse("250克").expect("valid name"),
                    price: Fen::price(1_990).expect("a valid price"),
                }],
            }),
            Command::from(SetStock {
                shop: shop(),
                sku: sku(),
                warehouse,
                available: 5,
            }),
        ];
        let mut state = ShardState::default();
        for command in setup {
            round_trip(&command);
            let outcome = state.apply(command, NOW, &mut Vec::new());
            assert!(!matches!(outcome, Outcome::Rejected(_)), "{outcome:?}");
            round_trip(&outcome);
        }
        state
    }

    #[test]
    fn commands_come_back_equal() {
        round_trip(&Command::from(place(2)));
        round_trip(&Command::from(CancelOrder {
            order: order(),
            by: Canceller::Buyer(BuyerId::new(301).expect("positive id")),
            reason: CancelReason::BuyerCancelled,
        }));
        round_trip(&Command::from(PayOrder {
            order: order(),
            intent: PaymentIntentId::new(401).expect("positive id"),
        }));
        round_trip(&Command::ExpireDue);
    }

    #[test]
    fn a_placed_order_comes_back_equal() {
        let mut state = shard();
        let outcome = state.apply(Command::from(place(2)), NOW, &mut Vec::new());
        let Outcome::OrderPlaced(placed) = &outcome else {
            panic!("the order was not placed: {outcome:?}");
        };
        assert_eq!(placed.lines.len(), 1);
        round_trip(&outcome);
    }

    #[test]
    fn a_refusal_with_its_data_comes_back_equal() {
        let mut state = shard();
        let outcome = state.apply(Command::from(place(6)), NOW, &mut Vec::new());
        let expected = Outcome::Rejected(Rejection::InsufficientStock {
            sku: sku(),
            requested: 6,
            available: 5,
        });
        assert_eq!(outcome, expected);
        round_trip(&outcome);
        round_trip(&Rejection::Risk(crate::risk::RiskRefusal {
            verdict: crate::risk::rules::Verdict::Block,
            score: 90,
        }));
    }

    /// A question every shard is asked, its answer as the shard gives it, and a risk change.
    #[test]
    fn questions_their_answers_and_risk_changes_come_back_equal() {
        let state = shard();
        let destination = Destination::of(Adcode::parse("310104000000").expect("徐汇区 is a known division"));
        let question = Question::from(DeliveryOptionsQuestion {
            items: vec![(sku(), 2)],
            destination,
        });
        round_trip(&question);
        let answer = state.answer(&question, NOW);
        let Answer::DeliveryOptions(options) = &answer else {
            panic!("answered another question: {answer:?}");
        };
        assert_eq!(options.shops.len(), 1, "the shop selling the SKU answers");
        round_trip(&answer);
        let cluster = Question::from(RiskClusterQuestion {
            buyer: BuyerId::new(301).expect("positive id"),
            limit: 10,
        });
        round_trip(&cluster);
        round_trip(&state.answer(&cluster, NOW));
        round_trip(&RiskChange::AdoptRules(crate::risk::RuleSet::standard()));
        round_trip(&RiskChange::GrantPass {
            buyer: BuyerId::new(301).expect("positive id"),
            until: NOW,
        });
    }
}
