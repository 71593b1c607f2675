//! miaodan-server's integration tests, one binary: a real server over real HTTP on both
//! backends (`common`), the HTTP contract of every documented operation (`contract`), and one
//! module per capability's behaviour over HTTP.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

mod address_change;
mod after_sales;
mod after_sales_returns;
mod alert_work;
mod assistant;
mod chat_page;
mod compass;
mod compass_breadth;
mod console;
mod contract;
mod demo;
mod diagnosis;
mod edge_taps;
mod events;
mod flash_sale_live;
mod flash_sales;
mod fulfillment;
mod language_model;
mod limits;
mod members;
mod order_lists;
mod orders;
mod payments;
mod penalties;
mod quality_index;
mod risk;
mod risk_challenges;
mod staff;
mod tokens;
mod webhooks;
