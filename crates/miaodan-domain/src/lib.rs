//! The pure domain core of miaodan.
//!
//! Everything in this crate is synchronous and deterministic: no IO, no clock, no randomness,
//! no `await`. Time ([`Timestamp`]) and identifiers come in with each [`shard::Command`]; a
//! command plus the current [`shard::ShardState`] gives an [`shard::Outcome`] and a list of
//! [`shard::Effect`]s that the shell makes durable in one transaction per batch.
//!
//! Map of the crate, one module per capability:
//! - [`after_sales`]: buyer requests after payment and the flash-refund rules that decide them.
//! - [`buyers`]: buyer accounts and their default address.
//! - [`catalog`]: shops, products, SKUs, prices, GTIN identity across shops.
//! - [`diagnosis`]: explainable rules that turn a shop's daily figures into findings (经营诊断).
//! - [`events`]: what each committed effect means to readers outside the shard (the outbox).
//! - [`flash_sale`]: scheduled deals on one SKU, one-tap orders, per-buyer limits.
//! - [`integrity`]: merchant integrity: the quality index (秒单质量指数) from a shop's figures.
//! - [`inventory`]: warehouses and stock per SKU and warehouse (available / reserved / sold).
//! - [`orders`]: the order and its state machine (`pending_payment` → `paid` | `cancelled`).
//! - [`payments`]: payment intents, provider charges, refunds, one-tap agreements.
//! - [`risk`]: the pure signals of buyer risk: address keys per flat, the transaction network.
//! - [`shard`]: the closed `Command` / `Outcome` / `Effect` enums and the one `match` that
//!   applies a command to the state a shard owns.
//! - [`geo`]: Chinese administrative divisions (adcodes) for addresses and warehouses.
//! - [`ids`], [`money`], [`time`], [`quantity`]: value types with their invariants.
//!
//! **Architecture invariant:** this crate depends on nothing but `serde`, and uses it only for the
//! ids and [`Timestamp`] (which `shard::ShortageNotice` still derives serde over; an id
//! deserialises through its positive check). It never knows SQL, HTTP or JSON layouts: the
//! store and the HTTP layer convert to and from their own types.

pub mod after_sales;
pub mod buyers;
pub mod catalog;
pub mod diagnosis;
pub mod events;
pub mod flash_sale;
pub mod fulfillment;
pub mod geo;
pub mod ids;
pub mod integrity;
pub mod inventory;
pub mod logistics;
pub mod money;
pub mod orders;
pub mod payments;
pub mod quantity;
pub mod risk;
pub mod shard;
pub mod staff;
pub mod time;
pub mod webhooks;

pub use ids::{BuyerId, CheckoutId, OrderId, ProductId, ShopId, SkuId, WarehouseId};
pub use money::Fen;
pub use quantity::Quantity;
pub use time::Timestamp;
