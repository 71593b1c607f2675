//! The HTTP contract of every operation of `/openapi.json`, over real HTTP on both backends:
//! - every refusal is `application/problem+json` with a stable `code` (and the `field` at
//!   fault), never a 5xx, and changes nothing that any read endpoint shows;
//! - a missing or bad token is 401, a wrong role 403, and another tenant's object answers
//!   exactly like a missing one (404);
//! - every mutating endpoint honours `Idempotency-Key` (but the providers' webhooks, which
//!   deduplicate by event id, and revoking a one-tap agreement or a token, which is idempotent
//!   itself);
//! - the payment provider's and the carriers' webhooks read no token: each refuses every
//!   notification whose signature does not verify, and every signed body it cannot read;
//! - delivery options are public: they read no token;
//! - the happy paths the order tests do not cover, and the system endpoints.
//!
//! Every server here pays through a simpay and ships through a simcarrier that the test serves
//! itself, so that the tests know both webhook secrets and can sign notifications. The
//! simcarrier runs in manual time: no parcel moves unless a test says so.
//!
//! One module per capability (its rows of `endpoints()`, its malformed bodies, its tenant pairs,
//! its happy paths) and one per concern that spans them (`input`, `access`, `idempotency`,
//! `routes`); `support` holds what they share.
#![allow(clippy::unwrap_used)]

mod access;
mod after_sales;
mod assistant;
mod catalog;
mod events;
mod flash_sales;
mod fulfillment;
mod idempotency;
mod input;
mod lists;
mod logistics;
mod orders;
mod payments;
mod penalties;
mod platform;
mod routes;
mod staff;
mod support;
mod tokens;
mod webhooks;
