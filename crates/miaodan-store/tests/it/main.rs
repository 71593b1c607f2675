//! miaodan-store's integration tests, one binary.

#[macro_use]
mod support;

mod compass;
mod distribution;
mod fulfillment;
mod id_blocks;
mod idempotency;
mod leases;
mod lists;
mod migrations;
mod notifications;
mod order_lists;
mod outbox;
mod stock_movements;
mod stored_json;
