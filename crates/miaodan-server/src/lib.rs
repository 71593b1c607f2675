//! The async shell of miaodan around the pure core (`miaodan-domain`).
//!
//! Map of the crate:
//! - [`app`]: start-up (open the store, rebuild the shards), serving, graceful shutdown.
//! - [`sequencer`]: one writer per shard, batched group commit, replies after durability;
//!   [`sequencer::ShardError`] when a shard cannot answer. Knows no HTTP.
//! - [`flows`]: the operations of several steps (checkout, payments, shipments, a flash-sale
//!   tap then one-tap pay, shortages), over domain values, each with its own error enum.
//!   Knows no HTTP; called by handlers and workers alike.
//! - [`http`]: the axum API under `/v1`, problem+json errors (every shard and flow error is
//!   mapped here, once), OpenAPI, the accept loop and admission, the metrics listener's route.
//! - [`limits`]: the timeouts and caps at the request edge, and their defaults.
//! - [`auth`]: the caller's [`auth::Principal`] from its token (constant-time compared), or
//!   from the console session `http::session_gate` resolved.
//! - [`staff`]: staff accounts, console sessions (cookie + CSRF token) and the role permission
//!   table; `http::session_gate` checks them on each request and writes the audit log.
//! - [`tokens`]: API tokens' lifecycle: minting with a lifetime, the cache, last use, revocation.
//! - [`idempotency`]: `Idempotency-Key` handling, scoped per caller.
//! - [`directory`]: cached facts the hot path needs (default addresses, flash-sale shops).
//! - [`diagnosis`]: diagnosis reports (经营诊断) from the compass's aggregates, and the daily job.
//! - [`demo`]: the demo world loaded by `miaodan serve --demo`.
//! - [`compass`], [`webhooks`]: readers of the outbox beside the shards — the data compass's
//!   figures, and outgoing webhooks (fan-out into deliveries, signed POSTs, retries for 3 days).
//! - [`carriers`]: the carrier adapter (waybills, tracking webhook signatures) over `simcarrier`.
//! - [`language_model`]: the assistant's optional second opinion on a message's intent, from an
//!   OpenAI-compatible model the operator runs; off by default.
//! - [`ids`], [`clock`]: the only sources of ids and of time ([`clock::Clock`], one per app,
//!   in [`AppState`]).
//!
//! A request's path: axum handler → auth extractor → idempotency check → parse into domain
//! values → a flow, or [`sequencer::Shards::submit`] directly, to the shard that owns the
//! shop → the shard decides it in memory with the rest of its batch → one transaction
//! commits the batch → the reply.

pub mod app;
pub mod auth;
pub mod carriers;
pub mod clock;
pub mod cluster;
pub mod compass;
pub mod console;
pub mod demo;
pub mod diagnosis;
pub mod directory;
pub mod flows;
pub mod http;
pub mod idempotency;
pub mod ids;
pub mod language_model;
pub mod limits;
mod metrics_setup;
pub mod risk_policy;
pub mod sequencer;
pub mod staff;
pub mod tokens;
pub mod webhooks;

pub use app::{AppState, Config, PaymentsConfig, Running, serve};
