//! Wire shapes of flash sales: scheduling a sale, its view, a top-up, a tap and its answer.

use crate::clock::rfc3339;
use crate::http::dto::AddressInput;
use crate::http::orders::dto::OrderView;
use miaodan_domain::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFlashSale {
    #[serde(deserialize_with = "crate::http::extract::integer")]
    #[schema(schema_with = crate::http::schema::id)]
    pub sku_id: i64,
    /// The warehouse whose stock the units are taken from.
    #[serde(deserialize_with = "crate::http::extract::integer")]
    #[schema(schema_with = crate::http::schema::id)]
    pub warehouse_id: i64,
    /// RFC 3339 instant.
    #[schema(schema_with = crate::http::schema::instant)]
    pub starts_at: String,
    /// RFC 3339 instant; at most 7 days after `starts_at`.
    #[schema(schema_with = crate::http::schema::instant)]
    pub ends_at: String,
    #[serde(deserialize_with = "crate::http::extract::integer")]
    #[schema(schema_with = crate::http::schema::integer::<0, 10_000_000_000>)]
    pub price_fen: i64,
    /// Units allotted to the sale (moved out of the warehouse's available stock).
    #[serde(deserialize_with = "crate::http::extract::integer")]
    #[schema(schema_with = crate::http::schema::integer::<1, 100_000_000>)]
    pub units: i64,
    /// Units one buyer may hold in open or paid orders of this sale (default 1).
    #[serde(default, deserialize_with = "crate::http::extract::optional_integer")]
    #[schema(schema_with = crate::http::schema::optional_integer::<1, { i64::MAX }>)]
    pub per_buyer_limit: Option<i64>,
    /// Unpaid flash orders are cancelled, their units back in the sale, after this long (default 300).
    #[serde(default, deserialize_with = "crate::http::extract::optional_integer")]
    #[schema(schema_with = crate::http::schema::optional_integer::<1, 86_400>)]
    pub payment_timeout_seconds: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
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

/// Units to add to a running sale.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopUpInput {
    /// Units moved from the warehouse's available stock to the sale (1 to 100 000 000, and
    /// at most 100 000 000 allotted in all).
    #[serde(deserialize_with = "crate::http::extract::integer")]
    #[schema(schema_with = crate::http::schema::integer::<1, 100_000_000>)]
    pub units: i64,
}

#[derive(Debug, Deserialize, Serialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct TapInput {
    /// Units to order (default 1), within the per-buyer limit.
    #[serde(default, deserialize_with = "crate::http::extract::optional_integer")]
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::http::schema::optional_integer::<1, 10_000>)]
    pub quantity: Option<i64>,
    /// Where to deliver; defaults to the buyer's default address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<AddressInput>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TapView {
    /// Always `ordered`; refusals are problem+json with code `not_started`, `ended`,
    /// `limit_reached` or `sold_out`.
    pub result: String,
    pub order: OrderView,
}

/// Taps of many buyers on one sale, from a trusted edge gateway (1 to 1 000).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TapBatchInput {
    #[schema(min_items = 1, max_items = 1000)]
    pub taps: Vec<EdgeTapInput>,
}

/// One buyer's tap, as the edge gateway that authenticated the buyer carries it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EdgeTapInput {
    /// The buyer who tapped (the gateway vouches for it); an unknown one is this tap's 404.
    #[serde(deserialize_with = "crate::http::extract::integer")]
    #[schema(schema_with = crate::http::schema::id)]
    pub buyer_id: i64,
    /// The buyer's own `Idempotency-Key` for this tap: it is the key of the single tap
    /// `POST /v1/flash-sales/{flash_sale_id}/taps` by that buyer whose body is this tap's
    /// `quantity` and `address` as compact JSON in that order (no body when it has neither).
    #[schema(min_length = 1, max_length = 255)]
    pub idempotency_key: String,
    /// Units to order (default 1), within the per-buyer limit.
    #[serde(default, deserialize_with = "crate::http::extract::optional_integer")]
    #[schema(schema_with = crate::http::schema::optional_integer::<1, 10_000>)]
    pub quantity: Option<i64>,
    /// Where to deliver; defaults to the buyer's default address.
    pub address: Option<AddressInput>,
    /// The buyer's device as the gateway knows it (what a single tap sends as `Device-Id`),
    /// for risk control; 1 to 128 bytes.
    #[schema(min_length = 1, max_length = 128)]
    pub device_id: Option<String>,
}

/// One result per tap, in the batch's order.
#[derive(Debug, Serialize, ToSchema)]
pub struct TapBatchView {
    pub results: Vec<TapResult>,
}

/// What one tap of a batch got: what it would have got alone.
#[derive(Debug, Serialize, ToSchema)]
pub struct TapResult {
    /// The tap's `idempotency_key`, as sent.
    pub idempotency_key: String,
    /// 201 for an order placed; otherwise the problem's status.
    pub status: u16,
    /// The single tap's answer: a `TapView` (201) or a `Problem`.
    #[schema(value_type = Object)]
    pub body: serde_json::Value,
}
