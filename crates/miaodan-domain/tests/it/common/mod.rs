//! Shared helpers of the integration tests: id constructors, a builder that sets up a shard
//! through `ShardState::apply` (time passed explicitly), and a model store that makes the
//! emitted `Effect`s "durable" the way the real store does, so a test can restart a shard
//! from what it wrote.
//!
//! Each module of the test binary uses a different subset of these helpers.
#![allow(dead_code)]

use miaodan_domain::after_sales::policy::ShopPolicy;
use miaodan_domain::after_sales::request::AfterSalesRequest;
use miaodan_domain::catalog::{
    ListingStatus, NewSku, Product, ProductChanges, ProductTitle, Shop, ShopName, Sku, SkuChanges, SkuName,
};
use miaodan_domain::flash_sale::{FlashSale, FlashSaleId};
use miaodan_domain::fulfillment::{DispatchDecision, FulfillmentSettings};
use miaodan_domain::geo::Adcode;
use miaodan_domain::ids::AfterSalesId;
use miaodan_domain::ids::ShipmentId;
use miaodan_domain::inventory::{StockLevel, Warehouse, WarehouseName};
use miaodan_domain::logistics::{Alert, AlertKey, Shipment, SlaRules};
use miaodan_domain::orders::{Address, AddressDetail, Order, OrderState, PAYMENT_TIMEOUT_SECONDS_DEFAULT};
use miaodan_domain::payments::{PaymentIntent, PaymentIntentId, Refund, RefundId};
use miaodan_domain::shard::{
    Command, Effect, Fulfilling, OrderLineRequest, Outcome, PlaceOrder, RequestRef, ShardHorizons, ShardSnapshot,
    ShardState, ShortageNotice,
};
use miaodan_domain::shard::{CreateProduct, CreateShop, CreateWarehouse, SetStock, UpdateProduct, UpdateSku};
use miaodan_domain::{BuyerId, CheckoutId, Fen, OrderId, ProductId, Quantity, ShopId, SkuId, Timestamp, WarehouseId};
use std::collections::BTreeMap;

/// The instant every test world starts at (2023-11-14T22:13:20Z).
pub const T0: Timestamp = Timestamp::from_unix_ms(1_700_000_000_000);

pub fn shop_id(n: i64) -> ShopId {
    ShopId::new(n).expect("positive shop id")
}
pub fn warehouse_id(n: i64) -> WarehouseId {
    WarehouseId::new(n).expect("positive warehouse id")
}
pub fn product_id(n: i64) -> ProductId {
    ProductId::new(n).expect("positive product id")
}
pub fn sku_id(n: i64) -> SkuId {
    SkuId::new(n).expect("positive sku id")
}
pub fn order_id(n: i64) -> OrderId {
    OrderId::new(n).expect("positive order id")
}
pub fn buyer_id(n: i64) -> BuyerId {
    BuyerId::new(n).expect("positive buyer id")
}
pub fn checkout_id(n: i64) -> CheckoutId {
    CheckoutId::new(n).expect("positive checkout id")
}
pub fn intent_id(n: i64) -> PaymentIntentId {
    PaymentIntentId::new(n).expect("positive payment intent id")
}
pub fn refund_id(n: i64) -> RefundId {
    RefundId::new(n).expect("positive refund id")
}
pub fn fen(n: i64) -> Fen {
    Fen::price(n).expect("a valid price")
}
pub fn quantity(n: i64) -> Quantity {
    Quantity::new(n).expect("a valid quantity")
}
pub fn level(available: i64, reserved: i64, sold: i64) -> StockLevel {
    StockLevel {
        available,
        reserved,
        sold,
    }
}

/// 黄浦区, Shanghai: a division the reference table knows.
pub fn address() -> Address {
    Address {
        adcode: Adcode::parse("310101000000").expect("黄浦区 is a known division"),
        detail: AddressDetail::parse("南京东路1号").expect("valid street detail"),
    }
}

/// A place-order request for `lines` of `(sku, quantity)`, with the default payment timeout,
/// no request reference, and the order id doubling as the checkout id.
pub fn place(order: i64, shop: i64, buyer: i64, lines: &[(i64, i64)]) -> PlaceOrder {
    PlaceOrder {
        id: order_id(order),
        checkout: checkout_id(order),
        shop: shop_id(shop),
        buyer: buyer_id(buyer),
        lines: lines
            .iter()
            .map(|&(sku, units)| OrderLineRequest {
                sku: sku_id(sku),
                quantity: quantity(units),
            })
            .collect(),
        address: address(),
        payment_timeout_seconds: PAYMENT_TIMEOUT_SECONDS_DEFAULT,
        request: None,
        client: Default::default(),
        delivery: None,
    }
}

/// What the durable store holds after absorbing effects: rows upserted by key, last write
/// wins, exactly as the shell's one-transaction-per-batch write does.
#[derive(Clone, Debug, Default)]
pub struct Store {
    pub shops: BTreeMap<ShopId, Shop>,
    pub warehouses: BTreeMap<WarehouseId, Warehouse>,
    pub products: BTreeMap<ProductId, Product>,
    pub skus: BTreeMap<SkuId, Sku>,
    pub stock: BTreeMap<(SkuId, WarehouseId), StockLevel>,
    /// The stock ledger: merchants' movements, in order.
    pub movements: Vec<miaodan_domain::inventory::StockMovement>,
    pub orders: BTreeMap<OrderId, Order>,
    pub requests: BTreeMap<RequestRef, OrderId>,
    pub flash_sales: BTreeMap<FlashSaleId, FlashSale>,
    /// Intent rows as last saved; their refunds live in `refunds`, as in the real schema.
    pub payment_intents: BTreeMap<PaymentIntentId, PaymentIntent>,
    pub refunds: BTreeMap<RefundId, Refund>,
    pub warehouse_settings: BTreeMap<WarehouseId, FulfillmentSettings>,
    pub capacity: BTreeMap<(WarehouseId, Timestamp), u32>,
    pub dispatches: BTreeMap<OrderId, DispatchDecision>,
    pub shipments: BTreeMap<ShipmentId, Shipment>,
    pub alerts: BTreeMap<AlertKey, Alert>,
    pub sla_rules: BTreeMap<ShopId, SlaRules>,
    pub shortages: Vec<ShortageNotice>,
    pub risk_decisions: Vec<miaodan_domain::risk::RiskDecision>,
    pub after_sales: BTreeMap<AfterSalesId, AfterSalesRequest>,
    pub after_sales_policies: BTreeMap<ShopId, ShopPolicy>,
}

impl Store {
    pub fn absorb(&mut self, effects: &[Effect]) {
        for effect in effects {
            match effect.clone() {
                Effect::ShopSaved(shop) => {
                    self.shops.insert(shop.id, shop);
                }
                Effect::WarehouseSaved(warehouse) => {
                    self.warehouses.insert(warehouse.id, warehouse);
                }
                Effect::ProductSaved(product) => {
                    self.products.insert(product.id, product);
                }
                Effect::SkuSaved(sku) => {
                    self.skus.insert(sku.id, sku);
                }
                Effect::StockChanged {
                    sku, warehouse, level, ..
                } => {
                    self.stock.insert((sku, warehouse), level);
                }
                Effect::StockMoved(movement) => self.movements.push(movement),
                Effect::OrderCreated { order, request } => {
                    if let Some(request) = request {
                        self.requests.insert(request, order.id);
                    }
                    self.orders.insert(order.id, order);
                }
                Effect::OrderTransitioned(order) | Effect::OrderReaddressed(order) => {
                    self.orders.insert(order.id, order);
                }
                Effect::FlashSaleSaved(sale)
                | Effect::FlashSaleEnded { sale, .. }
                | Effect::FlashSaleToppedUp { sale, .. } => {
                    self.flash_sales.insert(sale.id, sale);
                }
                // Counts, not state: nothing a restart reads back.
                Effect::FlashSaleTapsCounted { .. } => {}
                Effect::PaymentIntentSaved(intent) => {
                    self.payment_intents.insert(intent.id, intent);
                }
                Effect::RefundSaved { refund, .. } => {
                    self.refunds.insert(refund.id, refund);
                }
                Effect::FulfillmentConfigured {
                    warehouse, settings, ..
                } => {
                    self.warehouse_settings.insert(warehouse, settings);
                }
                Effect::OrderDispatched { order, decision } => {
                    self.dispatches.insert(order.id, decision);
                    self.orders.insert(order.id, order);
                }
                Effect::CapacityBooked {
                    warehouse,
                    hour,
                    orders,
                    ..
                } => {
                    self.capacity.insert((warehouse, hour), orders);
                }
                Effect::ShipmentSaved(shipment) => {
                    self.shipments.insert(shipment.id, shipment);
                }
                Effect::AlertSaved(alert) => {
                    self.alerts.insert(alert.key, alert);
                }
                Effect::AlertWorked { alert, .. } => {
                    self.alerts.insert(alert.key, *alert);
                }
                Effect::SlaRulesSaved { shop, rules } => {
                    self.sla_rules.insert(shop, rules);
                }
                Effect::ShortageNoticed(notice) => self.shortages.push(notice),
                Effect::RiskDecided(decision) => self.risk_decisions.push(*decision),
                Effect::AfterSalesSaved(saved) => {
                    self.after_sales.insert(saved.id, saved.request);
                }
                Effect::AfterSalesPolicySaved { shop, policy } => {
                    self.after_sales_policies.insert(shop, policy);
                }
            }
        }
    }

    pub fn orders_in(&self, state: OrderState) -> impl Iterator<Item = &Order> {
        self.orders.values().filter(move |order| order.state == state)
    }

    /// An intent as the real store reads it back: the saved row with its refunds from the
    /// refund rows, by id.
    pub fn payment_intent(&self, id: PaymentIntentId) -> Option<PaymentIntent> {
        let mut intent = self.payment_intents.get(&id)?.clone();
        intent.refunds = self.refunds.values().filter(|r| r.intent == id).cloned().collect();
        Some(intent)
    }

    /// What a starting shard reads back at `now`: everything, with only the unpaid orders as
    /// open, every request reference remembered (with its order's placement time), and the
    /// intents and after-sales requests that are unsettled or changed (settled) within their
    /// retention windows.
    pub fn snapshot(&self, now: Timestamp) -> ShardSnapshot {
        let horizons = ShardHorizons::at(now);
        let changed_since = horizons.intents_changed_since.unix_ms();
        let requests_settled_after = horizons.after_sales_settled_after.unix_ms();
        ShardSnapshot {
            shops: self.shops.values().cloned().collect(),
            warehouses: self.warehouses.values().cloned().collect(),
            products: self.products.values().cloned().collect(),
            skus: self.skus.values().cloned().collect(),
            stock: self
                .stock
                .iter()
                .map(|(&(sku, warehouse), &level)| (sku, warehouse, level))
                .collect(),
            open_orders: self.orders_in(OrderState::PendingPayment).cloned().collect(),
            recent_requests: self
                .requests
                .iter()
                .map(|(request, order)| (request.clone(), *order, self.orders[order].created_at))
                .collect(),
            flash_sales: self
                .flash_sales
                .values()
                .map(|sale| (sale.clone(), self.flash_buyers(sale)))
                .collect(),
            payment_intents: self
                .payment_intents
                .keys()
                .filter_map(|&id| self.payment_intent(id))
                .filter(|i| !i.is_settled() || i.updated_at.unix_ms() >= changed_since)
                .collect(),
            warehouse_settings: self.warehouse_settings.iter().map(|(w, s)| (*w, s.clone())).collect(),
            capacity: self.capacity.iter().map(|((w, h), n)| (*w, *h, *n)).collect(),
            fulfilling: self
                .dispatches
                .iter()
                .filter_map(|(id, decision)| {
                    let order = self.orders.get(id)?;
                    matches!(order.state, OrderState::Paid | OrderState::Shipped).then(|| Fulfilling {
                        order: order.clone(),
                        decision: decision.clone(),
                    })
                })
                .collect(),
            shipments: self
                .shipments
                .values()
                .filter(|s| {
                    self.orders
                        .get(&s.order)
                        .is_some_and(|o| matches!(o.state, OrderState::Paid | OrderState::Shipped))
                })
                .cloned()
                .collect(),
            alerts: self.alerts.values().cloned().collect(),
            after_sales: self
                .after_sales
                .iter()
                .filter(|(_, r)| r.settled_at().is_none_or(|at| at.unix_ms() > requests_settled_after))
                .map(|(id, r)| (*id, r.clone()))
                .collect(),
            sla_rules: self.sla_rules.iter().map(|(shop, rules)| (*shop, *rules)).collect(),
            after_sales_policies: self
                .after_sales_policies
                .iter()
                .map(|(shop, policy)| (*shop, policy.clone()))
                .collect(),
        }
    }

    /// Units each buyer holds in open or paid orders of a sale, as the real store sums them.
    pub fn flash_buyers(&self, sale: &FlashSale) -> Vec<(BuyerId, i64)> {
        if sale.closed {
            return Vec::new();
        }
        let mut bought: BTreeMap<BuyerId, i64> = BTreeMap::new();
        for order in self.orders.values() {
            if order.flash_sale == Some(sale.id) && order.state != OrderState::Cancelled {
                *bought.entry(order.buyer).or_default() += order.lines.iter().map(|l| l.quantity.get()).sum::<i64>();
            }
        }
        bought.into_iter().collect()
    }
}

/// A shard, its clock and its durable store. Every command goes through `apply` at the
/// world's `now`, and its effects are absorbed into the store.
pub struct World {
    pub state: ShardState,
    pub now: Timestamp,
    pub store: Store,
}

impl Default for World {
    fn default() -> Self {
        World {
            state: ShardState::default(),
            now: T0,
            store: Store::default(),
        }
    }
}

impl World {
    /// Applies one command now; returns its outcome and the effects it alone emitted.
    pub fn run(&mut self, command: Command) -> (Outcome, Vec<Effect>) {
        let mut effects = Vec::new();
        let outcome = self.state.apply(command, self.now, &mut effects);
        self.store.absorb(&effects);
        (outcome, effects)
    }

    /// Applies a setup command that must succeed.
    pub fn setup(&mut self, command: Command) -> &mut Self {
        let described = format!("{command:?}");
        let (outcome, _) = self.run(command);
        assert!(
            !matches!(outcome, Outcome::Rejected(_)),
            "setup command {described} was refused: {outcome:?}"
        );
        self
    }

    pub fn shop(&mut self, id: i64) -> &mut Self {
        let name = ShopName::parse(&format!("shop {id}")).expect("valid shop name");
        self.setup(Command::from(CreateShop {
            id: shop_id(id),
            name,
            category: Default::default(),
        }))
    }

    pub fn warehouse(&mut self, id: i64, shop: i64) -> &mut Self {
        self.setup(Command::from(CreateWarehouse {
            id: warehouse_id(id),
            shop: shop_id(shop),
            name: WarehouseName::parse(&format!("warehouse {id}")).expect("valid warehouse name"),
            location: Adcode::parse("310101000000").expect("黄浦区 is a known division"),
        }))
    }

    /// A product with SKUs given as `(sku, price in fen)`.
    pub fn product(&mut self, id: i64, shop: i64, skus: &[(i64, i64)]) -> &mut Self {
        let skus = skus
            .iter()
            .map(|&(sku, price)| NewSku {
                id: sku_id(sku),
                name: SkuName::parse(&format!("sku {sku}")).expect("valid sku name"),
                price: fen(price),
            })
            .collect();
        self.setup(Command::from(CreateProduct {
            id: product_id(id),
            shop: shop_id(shop),
            title: ProductTitle::parse(&format!("product {id}")).expect("valid title"),
            description: None,
            gtin: None,
            goods_class: None,
            skus,
        }))
    }

    pub fn stock(&mut self, shop: i64, sku: i64, warehouse: i64, available: i64) -> &mut Self {
        self.setup(Command::from(SetStock {
            shop: shop_id(shop),
            sku: sku_id(sku),
            warehouse: warehouse_id(warehouse),
            available,
        }))
    }

    pub fn sku_status(&mut self, shop: i64, sku: i64, status: ListingStatus) -> &mut Self {
        let changes = SkuChanges {
            status: Some(status),
            ..SkuChanges::default()
        };
        self.setup(Command::from(UpdateSku {
            shop: shop_id(shop),
            sku: sku_id(sku),
            changes,
        }))
    }

    pub fn product_status(&mut self, shop: i64, product: i64, status: ListingStatus) -> &mut Self {
        let changes = ProductChanges {
            status: Some(status),
            ..ProductChanges::default()
        };
        self.setup(Command::from(UpdateProduct {
            id: product_id(product),
            shop: shop_id(shop),
            changes,
        }))
    }

    pub fn advance_ms(&mut self, ms: i64) -> &mut Self {
        self.now = Timestamp::from_unix_ms(self.now.unix_ms() + ms);
        self
    }

    /// Drops the in-memory state and rebuilds it from the store, as a restarted shard does.
    pub fn restart(&mut self) {
        self.state = ShardState::from_snapshot(self.store.snapshot(self.now));
    }

    pub fn level(&self, sku: i64, warehouse: i64) -> StockLevel {
        self.state.inventory().level(sku_id(sku), warehouse_id(warehouse))
    }

    pub fn open_orders(&self) -> Vec<Order> {
        self.state.open_orders().cloned().collect()
    }
}
