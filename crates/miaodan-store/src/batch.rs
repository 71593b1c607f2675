//! One batch's effects → the statements of its one transaction.
//!
//! Each capability module owns a writer (`…Writes`) that turns its effects into statements,
//! coalescing where a later effect supersedes an earlier one for the same key. This module only
//! routes: one line per [`Effect`] variant, so a new effect is a compile error here until it is
//! given to its capability.
//!
//! The writers' statements follow each other in a fixed order — catalog, inventory, orders,
//! flash sales, payments, fulfillment, logistics, after-sales, risk, then the batch's idempotent responses — and
//! keep effect order within a writer. Fulfillment comes after orders because a dispatch
//! rewrites the lines of an order that may have been placed in the same batch.

use crate::after_sales::AfterSalesWrites;
use crate::catalog::CatalogWrites;
use crate::flash_sale::FlashSaleWrites;
use crate::fulfillment::FulfillmentWrites;
use crate::inventory::InventoryWrites;
use crate::logistics::LogisticsWrites;
use crate::orders::OrderWrites;
use crate::payments::PaymentWrites;
use crate::platform::idempotency_statement;
use crate::records::IdempotencyRecord;
use crate::risk::RiskWrites;
use crate::sql::Statement;
use miaodan_domain::shard::Effect;

/// The statements that make one batch durable.
pub(crate) fn batch_statements(effects: &[Effect], idempotency: &[IdempotencyRecord]) -> Vec<Statement> {
    let mut batch = Batch::default();
    for effect in effects {
        batch.push(effect);
    }
    let mut statements = Vec::with_capacity(effects.len() + idempotency.len());
    batch.push_statements(&mut statements);
    statements.extend(idempotency.iter().map(idempotency_statement));
    statements
}

#[derive(Default)]
struct Batch<'a> {
    catalog: CatalogWrites,
    inventory: InventoryWrites,
    orders: OrderWrites,
    flash_sales: FlashSaleWrites<'a>,
    payments: PaymentWrites<'a>,
    fulfillment: FulfillmentWrites<'a>,
    logistics: LogisticsWrites<'a>,
    after_sales: AfterSalesWrites<'a>,
    risk: RiskWrites<'a>,
}

impl<'a> Batch<'a> {
    fn push(&mut self, effect: &'a Effect) {
        match effect {
            Effect::ShopSaved(shop) => self.catalog.shop_saved(shop),
            Effect::ProductSaved(product) => self.catalog.product_saved(product),
            Effect::SkuSaved(sku) => self.catalog.sku_saved(sku),
            Effect::WarehouseSaved(warehouse) => self.inventory.warehouse_saved(warehouse),
            Effect::StockChanged {
                shop,
                sku,
                warehouse,
                level,
            } => self.inventory.stock_changed(*shop, *sku, *warehouse, *level),
            Effect::StockMoved(movement) => self.inventory.stock_moved(movement),
            Effect::OrderCreated { order, request } => self.orders.created(order, request.as_ref()),
            Effect::OrderTransitioned(order) => self.orders.transitioned(order),
            Effect::OrderReaddressed(order) => self.orders.readdressed(order),
            Effect::FlashSaleSaved(sale)
            | Effect::FlashSaleEnded { sale, .. }
            | Effect::FlashSaleToppedUp { sale, .. } => self.flash_sales.saved(sale),
            // Only an event (the outbox writes it): the compass sums the counts.
            Effect::FlashSaleTapsCounted { .. } => {}
            Effect::PaymentIntentSaved(intent) => self.payments.intent_saved(intent),
            Effect::RefundSaved { refund, .. } => self.payments.refund_saved(refund),
            Effect::FulfillmentConfigured {
                shop,
                warehouse,
                settings,
            } => self.fulfillment.configured(*shop, *warehouse, settings),
            Effect::OrderDispatched { order, decision } => self.fulfillment.dispatched(order, decision),
            Effect::CapacityBooked {
                shop,
                warehouse,
                hour,
                orders,
            } => self.fulfillment.booked(*shop, *warehouse, *hour, *orders),
            Effect::ShipmentSaved(shipment) => self.logistics.shipment_saved(shipment),
            Effect::AlertSaved(alert) => self.logistics.alert_saved(alert),
            Effect::AlertWorked { alert, .. } => self.logistics.alert_saved(alert),
            Effect::SlaRulesSaved { shop, rules } => self.logistics.sla_rules_saved(*shop, rules),
            Effect::ShortageNoticed(notice) => self.logistics.shortage_noticed(notice),
            Effect::AfterSalesSaved(saved) => self.after_sales.saved(saved),
            Effect::AfterSalesPolicySaved { shop, policy } => self.after_sales.policy_saved(*shop, policy),
            Effect::RiskDecided(decision) => self.risk.decided(decision),
        }
    }

    fn push_statements(self, statements: &mut Vec<Statement>) {
        self.catalog.push_statements(statements);
        self.inventory.push_statements(statements);
        self.orders.push_statements(statements);
        self.flash_sales.push_statements(statements);
        self.payments.push_statements(statements);
        self.fulfillment.push_statements(statements);
        self.logistics.push_statements(statements);
        self.after_sales.push_statements(statements);
        self.risk.push_statements(statements);
    }
}
