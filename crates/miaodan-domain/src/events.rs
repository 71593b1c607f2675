//! The events the outbox publishes: one per effect a shard commits, named for what happened to
//! which object of which shop.
//!
//! An [`Effect`] says what to write; an [`Event`] says what happened, for readers outside the
//! shard (the compass, merchants' webhooks, `GET /v1/events`). Every effect maps to exactly one
//! event ([`Event::of`] matches every variant, so a new effect does not compile until it has
//! one); the store writes the event in the same transaction as the effect, numbered in its
//! shard's sequence.
//!
//! A topic is `family.action`: `order.paid`, `shipment.delivered`, `after_sales.refunded`. The
//! action of an object saved whole (a payment intent, a shipment, an after-sales request) is
//! its state after the change, so a reader learns the transition without reading the object.

use crate::ShopId;
use crate::after_sales::request::Stage;
use crate::logistics::shipment::ShipmentState;
use crate::logistics::work::Worked;
use crate::orders::{CancelReason, OrderState};
use crate::payments::{IntentStatus, RefundStatus};
use crate::shard::Effect;

/// What kind of object an event is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    Shop,
    Warehouse,
    Product,
    Sku,
    Stock,
    Order,
    FlashSale,
    Payment,
    Refund,
    Fulfillment,
    Capacity,
    Shipment,
    Alert,
    SlaRules,
    Shortage,
    AfterSales,
    AfterSalesPolicy,
    Risk,
}

impl Family {
    pub const fn as_str(self) -> &'static str {
        match self {
            Family::Shop => "shop",
            Family::Warehouse => "warehouse",
            Family::Product => "product",
            Family::Sku => "sku",
            Family::Stock => "stock",
            Family::Order => "order",
            Family::FlashSale => "flash_sale",
            Family::Payment => "payment",
            Family::Refund => "refund",
            Family::Fulfillment => "fulfillment",
            Family::Capacity => "capacity",
            Family::Shipment => "shipment",
            Family::Alert => "alert",
            Family::SlaRules => "sla_rules",
            Family::Shortage => "shortage",
            Family::AfterSales => "after_sales",
            Family::AfterSalesPolicy => "after_sales_policy",
            Family::Risk => "risk",
        }
    }

    /// Every action an event of this family may name.
    pub fn actions(self) -> Vec<&'static str> {
        match self {
            Family::Order => vec![
                "placed",
                "paid",
                "shipped",
                "delivered",
                "cancelled",
                "expired",
                "dispatched",
                "readdressed",
            ],
            Family::Payment => IntentStatus::ALL.iter().map(|s| s.as_str()).collect(),
            Family::Refund => RefundStatus::ALL.iter().map(|s| s.as_str()).collect(),
            Family::Shipment => ShipmentState::ALL.iter().map(|s| s.as_str()).collect(),
            Family::Alert => {
                let mut actions = vec!["raised", "escalated"];
                actions.extend(Worked::ALL.iter().map(|w| w.as_str()));
                actions
            }
            Family::Stock => vec!["changed", "moved"],
            Family::Capacity => vec!["booked"],
            Family::Fulfillment => vec!["configured"],
            Family::FlashSale => vec!["saved", "tapped", "ended", "topped_up"],
            Family::Shortage => vec!["noticed"],
            Family::Risk => vec!["decided"],
            Family::AfterSales => Stage::NAMES.to_vec(),
            Family::Shop
            | Family::Warehouse
            | Family::Product
            | Family::Sku
            | Family::SlaRules
            | Family::AfterSalesPolicy => vec!["saved"],
        }
    }

    pub const ALL: [Family; 18] = [
        Family::Shop,
        Family::Warehouse,
        Family::Product,
        Family::Sku,
        Family::Stock,
        Family::Order,
        Family::FlashSale,
        Family::Payment,
        Family::Refund,
        Family::Fulfillment,
        Family::Capacity,
        Family::Shipment,
        Family::Alert,
        Family::SlaRules,
        Family::Shortage,
        Family::AfterSales,
        Family::AfterSalesPolicy,
        Family::Risk,
    ];
}

/// `family.action`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Topic {
    pub family: Family,
    pub action: &'static str,
}

impl Topic {
    const fn new(family: Family, action: &'static str) -> Topic {
        Topic { family, action }
    }

    /// Every topic there is, in family order.
    pub fn all() -> Vec<Topic> {
        Family::ALL
            .into_iter()
            .flat_map(|family| family.actions().into_iter().map(move |action| Topic { family, action }))
            .collect()
    }
}

impl std::fmt::Display for Topic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.family.as_str(), self.action)
    }
}

/// What happened, to which object (`subject`: its id) of which shop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    pub shop: ShopId,
    pub topic: Topic,
    pub subject: i64,
}

impl Event {
    pub fn of(effect: &Effect) -> Event {
        use Family as F;
        let (shop, topic, subject) = match effect {
            Effect::ShopSaved(shop) => (shop.id, Topic::new(F::Shop, "saved"), shop.id.get()),
            Effect::WarehouseSaved(w) => (w.shop, Topic::new(F::Warehouse, "saved"), w.id.get()),
            Effect::ProductSaved(p) => (p.shop, Topic::new(F::Product, "saved"), p.id.get()),
            Effect::SkuSaved(sku) => (sku.shop, Topic::new(F::Sku, "saved"), sku.id.get()),
            Effect::StockChanged { shop, sku, .. } => (*shop, Topic::new(F::Stock, "changed"), sku.get()),
            Effect::StockMoved(m) => (m.shop, Topic::new(F::Stock, "moved"), m.sku.get()),
            Effect::OrderCreated { order, .. } => (order.shop, Topic::new(F::Order, "placed"), order.id.get()),
            Effect::OrderTransitioned(order) => (
                order.shop,
                Topic::new(F::Order, order_action(order.state, order.cancel_reason)),
                order.id.get(),
            ),
            Effect::OrderReaddressed(order) => (order.shop, Topic::new(F::Order, "readdressed"), order.id.get()),
            Effect::FlashSaleSaved(sale) => (sale.shop, Topic::new(F::FlashSale, "saved"), sale.id.get()),
            Effect::FlashSaleTapsCounted { shop, sale, .. } => (*shop, Topic::new(F::FlashSale, "tapped"), sale.get()),
            Effect::FlashSaleEnded { sale, .. } => (sale.shop, Topic::new(F::FlashSale, "ended"), sale.id.get()),
            Effect::FlashSaleToppedUp { sale, .. } => (sale.shop, Topic::new(F::FlashSale, "topped_up"), sale.id.get()),
            Effect::PaymentIntentSaved(intent) => (
                intent.home_shop,
                Topic::new(F::Payment, intent.status.as_str()),
                intent.id.get(),
            ),
            Effect::RefundSaved { shop, refund } => {
                (*shop, Topic::new(F::Refund, refund.status.as_str()), refund.id.get())
            }
            Effect::FulfillmentConfigured { shop, warehouse, .. } => {
                (*shop, Topic::new(F::Fulfillment, "configured"), warehouse.get())
            }
            Effect::OrderDispatched { order, .. } => (order.shop, Topic::new(F::Order, "dispatched"), order.id.get()),
            Effect::CapacityBooked { shop, warehouse, .. } => {
                (*shop, Topic::new(F::Capacity, "booked"), warehouse.get())
            }
            Effect::ShipmentSaved(s) => (s.shop, Topic::new(F::Shipment, s.state.as_str()), s.id.get()),
            Effect::AlertSaved(alert) => (
                alert.shop,
                Topic::new(F::Alert, alert_action(alert)),
                alert.shipment.get(),
            ),
            // A person's resolution is `alert.resolved` like the rules': readers count one
            // resolution per alert either way.
            Effect::AlertWorked { alert, worked } => {
                (alert.shop, Topic::new(F::Alert, worked.as_str()), alert.shipment.get())
            }
            Effect::SlaRulesSaved { shop, .. } => (*shop, Topic::new(F::SlaRules, "saved"), shop.get()),
            Effect::ShortageNoticed(notice) => (notice.shop, Topic::new(F::Shortage, "noticed"), notice.order.get()),
            Effect::AfterSalesSaved(saved) => (
                saved.request.shop,
                Topic::new(F::AfterSales, saved.request.stage.as_str()),
                saved.id.get(),
            ),
            Effect::AfterSalesPolicySaved { shop, .. } => (*shop, Topic::new(F::AfterSalesPolicy, "saved"), shop.get()),
            Effect::RiskDecided(d) => (d.shop, Topic::new(F::Risk, "decided"), d.id.get()),
        };
        Event { shop, topic, subject }
    }
}

/// An order's transition, named for where it went; a cancellation by the payment timeout is
/// an expiry.
fn order_action(state: OrderState, reason: Option<CancelReason>) -> &'static str {
    match (state, reason) {
        (OrderState::PendingPayment, _) => "placed",
        (OrderState::Paid, _) => "paid",
        (OrderState::Shipped, _) => "shipped",
        (OrderState::Delivered, _) => "delivered",
        (OrderState::Cancelled, Some(CancelReason::PaymentTimeout)) => "expired",
        (OrderState::Cancelled, _) => "cancelled",
    }
}

fn alert_action(alert: &crate::logistics::sla::Alert) -> &'static str {
    if alert.resolved_at.is_some() {
        "resolved"
    } else if alert.escalated_at.is_some() {
        "escalated"
    } else {
        "raised"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_topic_is_named_once() {
        let names: Vec<String> = Topic::all().iter().map(Topic::to_string).collect();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        assert!(names.contains(&"order.paid".to_string()));
        assert!(names.contains(&"shipment.delivered".to_string()));
        assert!(names.contains(&"after_sales.refunded".to_string()));
        assert!(names.contains(&"flash_sale.tapped".to_string()));
        assert!(names.contains(&"flash_sale.ended".to_string()));
        assert!(names.contains(&"flash_sale.topped_up".to_string()));
    }
}
