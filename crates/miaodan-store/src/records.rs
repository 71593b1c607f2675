//! Records the store keeps besides the shard effects: tokens, stored idempotent responses,
//! and the filters of the read queries.

use miaodan_domain::flash_sale::FlashSaleId;
use miaodan_domain::logistics::{AlertLevel, AlertRule, StaffRef};
use miaodan_domain::orders::OrderState;
use miaodan_domain::{BuyerId, OrderId, ShopId, SkuId, Timestamp, WarehouseId};

/// The role an API token grants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Admin,
    Merchant,
    Buyer,
    /// A trusted edge gateway that carries many buyers' taps in one request (it authenticated
    /// them itself); it may call nothing else.
    Edge,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Merchant => "merchant",
            Role::Buyer => "buyer",
            Role::Edge => "edge",
        }
    }

    pub fn parse(raw: &str) -> Option<Role> {
        [Role::Admin, Role::Merchant, Role::Buyer, Role::Edge]
            .into_iter()
            .find(|r| r.as_str() == raw)
    }
}

/// What an API token may do on top of its role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenScope {
    /// Everything its role may do.
    ReadWrite,
    /// Reads only (GET).
    ReadOnly,
}

impl TokenScope {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::ReadWrite => "read_write",
            TokenScope::ReadOnly => "read_only",
        }
    }

    pub fn parse(raw: &str) -> Option<TokenScope> {
        [TokenScope::ReadWrite, TokenScope::ReadOnly]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

/// An API token as stored: never the secret itself, only its SHA-256.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: i64,
    pub role: Role,
    /// The shop of a merchant token, the buyer of a buyer token, none for admin.
    pub subject: Option<i64>,
    pub secret_sha256: String,
    pub label: Option<String>,
    pub scope: TokenScope,
    pub created_at: Timestamp,
    /// The token stops working at this instant.
    pub expires_at: Timestamp,
    /// When a request last presented it, as last written (the server writes it at most once
    /// a minute per token).
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

/// Which tokens to list, newest first. Every field narrows the result.
#[derive(Clone, Debug, Default)]
pub struct TokenFilter {
    pub role: Option<Role>,
    /// With `role`: the shop of merchant tokens, the buyer of buyer tokens.
    pub subject: Option<i64>,
    /// Continue below this token id (the last of the previous page).
    pub before: Option<i64>,
    pub limit: i64,
}

/// The first response given to a caller's `Idempotency-Key`, replayed for every retry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// Allocated by the server when the key is first seen; responses are stored in id order.
    pub id: i64,
    /// Who the key belongs to, e.g. `buyer:7`; keys of different callers never meet.
    pub scope: String,
    pub key: String,
    /// SHA-256 of method, path and body, to refuse a reused key with a different request.
    pub request_sha256: String,
    pub status: u16,
    pub body: String,
    pub created_at: Timestamp,
}

/// Which orders to list, newest first. Every field narrows the result.
#[derive(Clone, Debug, Default)]
pub struct OrderFilter {
    pub shop: Option<ShopId>,
    pub buyer: Option<BuyerId>,
    pub state: Option<OrderState>,
    pub created_from: Option<Timestamp>,
    pub created_before: Option<Timestamp>,
    pub flash_sale: Option<FlashSaleId>,
    /// Orders with a line of this SKU.
    pub sku: Option<SkuId>,
    /// Orders with units allocated in this warehouse, or a shipment leaving it.
    pub warehouse: Option<WarehouseId>,
    /// Only orders the package center holds an open `promise_at_risk` alert for (the rule
    /// that watches late parcels against the order's promise).
    pub promise_at_risk_only: bool,
    /// A number searched for: the order with that id, or the orders of the buyer with it.
    pub order_or_buyer: Option<i64>,
    /// Continue after this `(created_at, id)` position of the previous page.
    pub after: Option<(Timestamp, OrderId)>,
    pub limit: i64,
}

/// Which products to list, by id. Every field narrows the result.
#[derive(Clone, Debug, Default)]
pub struct ProductFilter {
    pub shop: Option<ShopId>,
    /// Only active products with at least one active SKU (what buyers see).
    pub active_only: bool,
    /// Case-insensitive substring of the title, or an exact GTIN.
    pub query: Option<String>,
    pub gtin: Option<String>,
    pub after: Option<i64>,
    pub limit: i64,
}

/// A page of a list read by keyset: at most `limit` rows after the position `after` (the key of
/// the last row of the page before) in the list's order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keyset<K> {
    pub after: Option<K>,
    pub limit: i64,
}

/// Whose payment intents or refunds to list. Every field narrows the result.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PaymentFilter {
    /// Those of this buyer's checkouts.
    pub buyer: Option<BuyerId>,
    /// Those with an order of this shop (intents), or of this shop's orders (refunds).
    pub shop: Option<ShopId>,
    /// Created at or after this instant…
    pub created_from: Option<Timestamp>,
    /// …and before this one (a Shanghai day's bounds).
    pub created_before: Option<Timestamp>,
}

/// Which of a shop's package-center entries to list, newest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertFilter {
    pub shop: ShopId,
    /// Only open SLA alerts (shortage notices are filtered by the caller, from their content).
    pub open_only: bool,
    /// Which kinds of entry to read.
    pub kinds: AlertKinds,
    /// Only entries of this level (severity).
    pub level: Option<AlertLevel>,
    /// Narrowing by what people did: any of it lists SLA alerts only (a shortage notice is
    /// not worked).
    pub work: AlertWorkFilter,
}

/// Which worked (or unworked) SLA alerts to list; the default narrows nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AlertWorkFilter {
    pub assignee: Option<Assignee>,
    /// Only acknowledged alerts (`true`) or unacknowledged ones (`false`).
    pub acknowledged: Option<bool>,
}

impl AlertWorkFilter {
    pub fn narrows(&self) -> bool {
        *self != AlertWorkFilter::default()
    }
}

/// Whom an alert is assigned to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Assignee {
    Staff(StaffRef),
    Nobody,
}

/// The kinds of package-center entry a listing reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertKinds {
    /// SLA alerts and shortage notices.
    All,
    /// SLA alerts of one rule only.
    Sla(AlertRule),
    /// Shortage notices only.
    Shortages,
}

/// The position of a package-center entry in the newest-first listing: raised (or noticed) at
/// `at`; at one instant SLA alerts come before shortage notices, each kind in the order of
/// its key (an SLA alert's key, in the database's text order; a notice's order, warehouse and
/// SKU). Only the database compares two SLA keys, so its collation decides their order alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AlertPosition {
    Sla {
        at: Timestamp,
        key: String,
    },
    Shortage {
        at: Timestamp,
        order: i64,
        warehouse: i64,
        sku: i64,
    },
}

/// The highest id in use per table, so a restarted process allocates above them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IdMaxima {
    pub shop: i64,
    pub buyer: i64,
    pub product: i64,
    pub sku: i64,
    pub warehouse: i64,
    pub order: i64,
    pub checkout: i64,
    pub token: i64,
    pub flash_sale: i64,
    pub idempotency_response: i64,
    pub payment_intent: i64,
    pub refund: i64,
    pub one_tap_agreement: i64,
    pub notification: i64,
    pub shipment: i64,
    pub after_sales: i64,
    pub diagnosis_report: i64,
    pub staff_member: i64,
    pub staff_session: i64,
    pub audit_entry: i64,
    pub penalty: i64,
    pub risk_challenge: i64,
    pub conversation: i64,
    pub webhook_endpoint: i64,
    pub webhook_delivery: i64,
}
