//! Wire shapes of the API (the only place that knows JSON layouts) and their conversion from
//! domain types. Requests are parsed into domain types in the handlers, in one place each.

use crate::clock::rfc3339;
use miaodan_domain::buyers::Buyer;
use miaodan_domain::catalog::{Product, Shop, Sku};
use miaodan_domain::inventory::{StockLevel, Warehouse};
use miaodan_domain::orders::{Address, Order};
use miaodan_domain::{Timestamp, WarehouseId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressInput {
    /// 12-digit administrative division code, e.g. `310101000000` (上海市黄浦区).
    #[schema(pattern = "^[0-9]{12}$")]
    pub adcode: String,
    /// Street, number, building and room; 1–200 characters.
    #[schema(min_length = 1, max_length = 200)]
    pub detail: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AddressView {
    pub adcode: String,
    /// Name of the division, e.g. `黄浦区`.
    pub division: Option<String>,
    pub detail: String,
}

impl From<&Address> for AddressView {
    fn from(address: &Address) -> Self {
        AddressView {
            adcode: address.adcode.as_text(),
            division: address.adcode.division().map(|d| d.name.clone()),
            detail: address.detail.as_str().to_string(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewShop {
    /// 1–60 characters.
    #[schema(min_length = 1, max_length = 60)]
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ShopView {
    pub id: i64,
    pub name: String,
    pub created_at: String,
}

impl From<&Shop> for ShopView {
    fn from(shop: &Shop) -> Self {
        ShopView {
            id: shop.id.get(),
            name: shop.name.as_str().into(),
            created_at: rfc3339(shop.created_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBuyer {
    #[schema(min_length = 1, max_length = 60)]
    pub name: String,
    pub default_address: Option<AddressInput>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BuyerView {
    pub id: i64,
    pub name: String,
    pub default_address: Option<AddressView>,
    pub created_at: String,
}

impl From<&Buyer> for BuyerView {
    fn from(buyer: &Buyer) -> Self {
        BuyerView {
            id: buyer.id.get(),
            name: buyer.name.as_str().into(),
            default_address: buyer.default_address.as_ref().map(AddressView::from),
            created_at: rfc3339(buyer.created_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// A note for humans, e.g. `checkout service`.
    #[schema(min_length = 1, max_length = 60)]
    pub label: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedToken {
    pub token_id: i64,
    /// The bearer token. Shown once; only its hash is stored. A retry with the same
    /// Idempotency-Key replays this answer with the secret redacted.
    pub token: String,
    pub role: String,
    pub shop_id: Option<i64>,
    pub buyer_id: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWarehouse {
    #[schema(min_length = 1, max_length = 60)]
    pub name: String,
    /// 12-digit administrative division code of the warehouse's location.
    #[schema(pattern = "^[0-9]{12}$")]
    pub adcode: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WarehouseView {
    pub id: i64,
    pub shop_id: i64,
    pub name: String,
    pub adcode: String,
    pub division: Option<String>,
    pub created_at: String,
}

impl From<&Warehouse> for WarehouseView {
    fn from(w: &Warehouse) -> Self {
        WarehouseView {
            id: w.id.get(),
            shop_id: w.shop.get(),
            name: w.name.as_str().into(),
            adcode: w.location.as_text(),
            division: w.location.division().map(|d| d.name.clone()),
            created_at: rfc3339(w.created_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSkuInput {
    /// Variant name, e.g. `500g装` or `黑色 M码`; 1–60 characters.
    #[schema(min_length = 1, max_length = 60)]
    pub name: String,
    /// Price in fen (1/100 yuan), 0 to 10 000 000 000.
    #[schema(minimum = 0, maximum = 10_000_000_000_i64)]
    pub price_fen: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProduct {
    #[schema(min_length = 1, max_length = 120)]
    pub title: String,
    #[schema(min_length = 1, max_length = 2000)]
    pub description: Option<String>,
    /// GTIN-8/12/13/14 with a valid check digit; the same GTIN across shops is the same product.
    #[schema(pattern = "^([0-9]{8}|[0-9]{12,14})$")]
    pub gtin: Option<String>,
    /// 1 to 100 SKUs.
    #[schema(min_items = 1, max_items = 100)]
    pub skus: Vec<NewSkuInput>,
}

/// Fields to change; an absent field is left as it is, `null` clears an optional one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductPatch {
    #[schema(min_length = 1, max_length = 120)]
    pub title: Option<String>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub gtin: Option<Option<String>>,
    /// `active` or `archived`.
    pub status: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SkuPatch {
    #[schema(min_length = 1, max_length = 60)]
    pub name: Option<String>,
    #[schema(minimum = 0, maximum = 10_000_000_000_i64)]
    pub price_fen: Option<i64>,
    /// `active` or `archived`.
    pub status: Option<String>,
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
mod double_option {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
        Option::<String>::deserialize(d).map(Some)
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SkuView {
    pub id: i64,
    pub product_id: i64,
    pub name: String,
    pub price_fen: i64,
    pub status: String,
}

impl From<&Sku> for SkuView {
    fn from(s: &Sku) -> Self {
        SkuView {
            id: s.id.get(),
            product_id: s.product.get(),
            name: s.name.as_str().into(),
            price_fen: s.price.get(),
            status: s.status.as_str().into(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProductView {
    pub id: i64,
    pub shop_id: i64,
    pub title: String,
    pub description: Option<String>,
    pub gtin: Option<String>,
    pub status: String,
    pub skus: Vec<SkuView>,
    pub created_at: String,
    pub updated_at: String,
}

impl ProductView {
    pub fn new(p: &Product, skus: &[Sku]) -> Self {
        ProductView {
            id: p.id.get(),
            shop_id: p.shop.get(),
            title: p.title.as_str().into(),
            description: p.description.as_ref().map(|d| d.as_str().into()),
            gtin: p.gtin.as_ref().map(|g| g.as_str().into()),
            status: p.status.as_str().into(),
            skus: skus.iter().map(SkuView::from).collect(),
            created_at: rfc3339(p.created_at),
            updated_at: rfc3339(p.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProductPage {
    pub items: Vec<ProductView>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StockInput {
    /// Units that may be reserved from now on (reserved and sold units are kept).
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub available: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StockView {
    pub sku_id: i64,
    pub warehouse_id: i64,
    pub available: i64,
    pub reserved: i64,
    pub sold: i64,
}

impl StockView {
    pub fn new(sku: i64, warehouse: WarehouseId, level: StockLevel) -> Self {
        StockView {
            sku_id: sku,
            warehouse_id: warehouse.get(),
            available: level.available,
            reserved: level.reserved,
            sold: level.sold,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutLineInput {
    #[schema(minimum = 1)]
    pub sku_id: i64,
    /// 1 to 10 000.
    #[schema(minimum = 1, maximum = 10_000)]
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
pub struct DeliveryChoiceInput {
    pub shop_id: i64,
    /// `one_hour`, `same_day`, `next_day` or `standard`.
    pub level: String,
    /// `sf`, `jd` or `zto`.
    pub carrier: String,
    /// A later two-hour window to deliver in (预约配送), for schedulable options.
    pub scheduled_window: Option<ScheduledWindowInput>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ScheduledWindowInput {
    /// Shanghai date, `YYYY-MM-DD`.
    pub date: String,
    /// 9, 11, 13, 15, 17 or 19: the window is two hours from then.
    pub start_hour: u16,
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
    pub cancelled_at: Option<String>,
    /// `buyer_cancelled`, `payment_timeout` or `checkout_failed`.
    pub cancel_reason: Option<String>,
    /// The delivery promise it was sold with (its price is part of `total_fen`).
    pub promise: Option<super::fulfillment::PromiseView>,
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
            paid_at: opt_time(o.paid_at),
            cancelled_at: opt_time(o.cancelled_at),
            cancel_reason: o.cancel_reason.map(|r| r.as_str().into()),
            promise: o.promise.as_ref().map(super::fulfillment::PromiseView::from),
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

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderPage {
    pub items: Vec<OrderView>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: String,
    pub backend: String,
    pub shards: u32,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFlashSale {
    #[schema(minimum = 1)]
    pub sku_id: i64,
    /// The warehouse whose stock the units are taken from.
    #[schema(minimum = 1)]
    pub warehouse_id: i64,
    /// RFC 3339 instant.
    #[schema(format = DateTime)]
    pub starts_at: String,
    /// RFC 3339 instant; at most 7 days after `starts_at`.
    #[schema(format = DateTime)]
    pub ends_at: String,
    #[schema(minimum = 0, maximum = 10_000_000_000_i64)]
    pub price_fen: i64,
    /// Units allotted to the sale (moved out of the warehouse's available stock).
    #[schema(minimum = 1, maximum = 100_000_000)]
    pub units: i64,
    /// Units one buyer may hold in open or paid orders of this sale (default 1).
    #[schema(minimum = 1)]
    pub per_buyer_limit: Option<i64>,
    /// Unpaid flash orders are cancelled, their units back in the sale, after this long (default 300).
    #[schema(minimum = 1, maximum = 86_400)]
    pub payment_timeout_seconds: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FlashSaleView {
    pub id: i64,
    pub shop_id: i64,
    pub sku_id: i64,
    pub warehouse_id: i64,
    pub starts_at: String,
    pub ends_at: String,
    pub price_fen: i64,
    pub units: i64,
    /// Units not held by an open or paid order (as of the last committed batch).
    pub remaining: i64,
    pub per_buyer_limit: i64,
    pub payment_timeout_seconds: i64,
    /// `scheduled`, `live`, `sold_out` or `ended`, at the time of the answer.
    pub status: String,
}

impl FlashSaleView {
    pub fn new(sale: &miaodan_domain::flash_sale::FlashSale, now: Timestamp) -> Self {
        let status = if sale.closed || now >= sale.ends_at {
            "ended"
        } else if now < sale.starts_at {
            "scheduled"
        } else if sale.remaining == 0 {
            "sold_out"
        } else {
            "live"
        };
        FlashSaleView {
            id: sale.id.get(),
            shop_id: sale.shop.get(),
            sku_id: sale.sku.get(),
            warehouse_id: sale.warehouse.get(),
            starts_at: rfc3339(sale.starts_at),
            ends_at: rfc3339(sale.ends_at),
            price_fen: sale.price.get(),
            units: sale.allotted,
            remaining: sale.remaining,
            per_buyer_limit: sale.per_buyer_limit,
            payment_timeout_seconds: sale.payment_timeout_seconds,
            status: status.into(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct TapInput {
    /// Units to order (default 1), within the per-buyer limit.
    #[schema(minimum = 1, maximum = 10_000)]
    pub quantity: Option<i64>,
    /// Where to deliver; defaults to the buyer's default address.
    pub address: Option<AddressInput>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TapView {
    /// Always `ordered`; refusals are problem+json with code `not_started`, `ended`,
    /// `limit_reached` or `sold_out`.
    pub result: String,
    pub order: OrderView,
}
