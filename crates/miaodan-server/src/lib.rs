//! The async shell of miaodan around the pure core (`miaodan-domain`).
//!
//! Map of the crate:
//! - [`app`]: start-up (open the store, rebuild the shards), serving, graceful shutdown.
//! - [`sequencer`]: one writer per shard, batched group commit, replies after durability.
//! - [`http`]: the axum API under `/v1`, problem+json errors, OpenAPI, metrics endpoints.
//! - [`auth`]: API tokens (hashed, constant-time compared) and the caller's [`auth::Principal`].
//! - [`idempotency`]: `Idempotency-Key` handling, scoped per caller.
//! - [`directory`]: cached facts the hot path needs (default addresses, flash-sale shops).
//! - [`payments`]: payment flows against a provider (`simpay` built in), the payment worker,
//!   one-tap budgets, reconciliation.
//! - [`demo`]: the demo world loaded by `miaodan serve --demo`.
//! - [`ids`], [`clock`]: the only sources of ids and wall-clock time.
//!
//! A request's path: axum handler → auth extractor → idempotency check → parse into domain
//! values → [`sequencer::Shards::submit`] to the shard that owns the shop → the shard decides
//! it in memory with the rest of its batch → one transaction commits the batch → the reply.

pub mod app;
pub mod auth;
pub mod carriers;
pub mod clock;
pub mod demo;
pub mod directory;
pub mod flows;
pub mod http;
pub mod idempotency;
pub mod ids;
mod metrics_setup;
pub mod sequencer;

pub use app::{AppState, Config, PaymentsConfig, Running, serve};
