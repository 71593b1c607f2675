//! Wire shapes of orders: the checkout request, orders with their lines and allocations.

use crate::clock::rfc3339;
use crate::http::dto::{AddressInput, AddressView};
use crate::http::fulfillment::PromiseView;
use miaodan_domain::Timestamp;
use miaodan_domain::orders::Order;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutLineInput {
    #[serde(deserialize_with = "crate::http::extract::integer")]
    #[schema(schema_with = crate::http::schema::id)]
    pub sku_id: i64,
    /// 1 to 10 000.
    #[serde(deserialize_with = "crate::http::extract::integer")]
    #[schema(schema_with = crate::http::schema::integer::<1, 10_000>)]
    pub quantity: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutInput {
    /// 1 to 100 lines, of one or several shops, each of a different SKU.
    #[schema(min_items = 1, max_items = 100)]
    pub lines: Vec<CheckoutLineInput>,
    /// Where to deliver; defaults to the buyer's default address.
    pub address: Option<AddressInput>,
    /// The delivery chosen per shop, from `GET /v1/delivery-options` (at most one per shop).
    /// A shop without one ships by the cheapest service at payment, with no promise.
    pub deliveries: Option<Vec<DeliveryChoiceInput>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveryChoiceInput {
    #[serde(deserialize_with = "crate::http::extract::integer")]
    #[schema(schema_with = crate::http::schema::id)]
    pub shop_id: i64,
    /// `one_hour`, `same_day`, `next_day` or `standard`.
    #[schema(schema_with = crate::http::schema::level)]
    pub level: String,
    /// `sf`, `jd` or `zto`.
    #[schema(schema_with = crate::http::schema::carrier)]
    pub carrier: String,
    /// A later two-hour window to deliver in (预约配送), for schedulable options.
    pub scheduled_window: Option<ScheduledWindowInput>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduledWindowInput {
    /// Shanghai date, `YYYY-MM-DD`.
    #[schema(schema_with = crate::http::schema::date)]
    pub date: String,
    /// 9, 11, 13, 15, 17 or 19: the window is two hours from then.
    #[serde(deserialize_with = "crate::http::extract::integer")]
    #[schema(schema_with = crate::http::schema::window_start_hour)]
    pub start_hour: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AllocationView {
    pub warehouse_id: i64,
    pub quantity: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderLineView {
    pub sku_id: i64,
    pub quantity: i64,
    pub unit_price_fen: i64,
    pub line_total_fen: i64,
    /// Where the units are reserved (or sold from, once paid).
    pub allocations: Vec<AllocationView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderView {
    pub id: i64,
    pub checkout_id: i64,
    pub shop_id: i64,
    pub buyer_id: i64,
    /// `pending_payment`, `paid`, `shipped`, `delivered` or `cancelled`.
    pub state: String,
    /// Increases by one with every transition.
    pub version: i64,
    pub lines: Vec<OrderLineView>,
    pub total_fen: i64,
    pub address: AddressView,
    pub created_at: String,
    /// An unpaid order is cancelled automatically at this instant.
    pub payment_due_at: String,
    pub paid_at: Option<String>,
    /// The payment intent whose capture paid the order.
    pub paid_by_payment_intent_id: Option<i64>,
    /// The flash sale the order was tapped from; `null` for an order of a checkout.
    pub flash_sale_id: Option<i64>,
    pub cancelled_at: Option<String>,
    /// `buyer_cancelled`, `shop_cancelled`, `platform_cancelled`, `payment_timeout`, `checkout_failed` or
    /// `after_sales` (a paid order cancelled by an approved request, refunded).
    pub cancel_reason: Option<String>,
    /// The delivery promise it was sold with (its price is part of `total_fen`).
    pub promise: Option<PromiseView>,
}

fn opt_time(at: Option<Timestamp>) -> Option<String> {
    at.map(rfc3339)
}

impl From<&Order> for OrderView {
    fn from(o: &Order) -> Self {
        OrderView {
            id: o.id.get(),
            checkout_id: o.checkout.get(),
            shop_id: o.shop.get(),
            buyer_id: o.buyer.get(),
            state: o.state.as_str().into(),
            version: o.version,
            lines: o
                .lines
                .iter()
                .map(|l| OrderLineView {
                    sku_id: l.sku.get(),
                    quantity: l.quantity.get(),
                    unit_price_fen: l.unit_price.get(),
                    line_total_fen: l.unit_price.get().saturating_mul(l.quantity.get()),
                    allocations: l
                        .allocations
                        .iter()
                        .map(|a| AllocationView {
                            warehouse_id: a.warehouse.get(),
                            quantity: a.quantity,
                        })
                        .collect(),
                })
                .collect(),
            total_fen: o.total.get(),
            address: AddressView::from(&o.address),
            created_at: rfc3339(o.created_at),
            payment_due_at: rfc3339(o.payment_due_at),
            paid_by_payment_intent_id: o.paid_by.map(|i| i.get()),
            flash_sale_id: o.flash_sale.map(|s| s.get()),
            paid_at: opt_time(o.paid_at),
            cancelled_at: opt_time(o.cancelled_at),
            cancel_reason: o.cancel_reason.map(|r| r.as_str().into()),
            promise: o.promise.as_ref().map(PromiseView::from),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckoutView {
    pub checkout_id: i64,
    /// One order per shop.
    pub orders: Vec<OrderView>,
    pub total_fen: i64,
}
