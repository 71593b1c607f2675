//! The payment worker: resolves what the request path could not finish, by asking the provider.
//!
//! - At start, every intent that could have had an attempt in flight when the process stopped
//!   is looked up under its next reference; until then its shard will not let it expire (nor
//!   begin another attempt: `payment_in_progress`). The same again, for its intents, after a
//!   shard rebuilt its state from the tables (a commit failed: the database went away), which
//!   restores them just as a start does: else they could be neither paid nor expired until the
//!   next start.
//! - Every second: `processing` intents (unknown outcome) are looked up; `authorized` ones are
//!   captured (or voided past their deadline); captured ones with an order still to mark paid
//!   in another shard, or a refund the provider has not confirmed, are settled.
//!
//! - Every second: after-sales requests left in `refunding` are refunded (once, keyed by the
//!   request; see `flows::after_sales`).
//!
//! Nothing here guesses: each step is a provider answer fed to the intent's shard, and each is
//! safe to repeat (references make provider calls idempotent; the core ignores stale answers).

use super::{PROVIDER_CALL_TIMEOUT, read_intent, record_charge, settle, within_deadline};
use crate::app::AppState;
use miaodan_domain::ShopId;
use miaodan_domain::payments::{ChargeOutcome, EXPIRY_GRACE_MS, IntentStatus, PaymentIntent};
use std::time::Duration;
use tokio::task::JoinHandle;

/// How long a `processing` attempt waits before "the provider has no such charge" is believed:
/// a request may still be on its way to the provider right after our timeout.
const NOT_FOUND_AFTER_MS: i64 = 2 * PROVIDER_CALL_TIMEOUT.as_millis() as i64;
const BATCH: i64 = 500;

/// Runs the worker for the intents whose home shop is in a shard this process holds (a member
/// sharing the shards with others resolves its own: each intent is resolved once, by its home
/// shard's holder); the after-sales passes, platform-wide, run at shard 0's holder only.
pub fn spawn(state: AppState) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut swept = state.shards.rebuilds();
        while let Err(error) = sweep_possible_attempts(&state, |shop| held_here(&state, shop)).await {
            tracing::warn!(%error, "start-up payment sweep failed; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let mut every_second = tokio::time::interval(Duration::from_secs(1));
        loop {
            every_second.tick().await;
            sweep_rebuilt_shards(&state, &mut swept).await;
            if let Err(error) = resolve_unsettled(&state).await {
                tracing::warn!(%error, "payment worker pass failed");
            }
            if !state.shards.holds(0) {
                continue;
            }
            if let Err(error) = crate::flows::after_sales::resume_refunds(&state).await {
                tracing::warn!(%error, "after-sales refund pass failed");
            }
            if let Err(error) = crate::flows::after_sales::resume_pickups(&state).await {
                tracing::warn!(%error, "return pickup pass failed");
            }
        }
    })
}

/// Runs one pass now (tests and the CLI use it to avoid waiting for the tick).
pub async fn run_once(state: &AppState) -> anyhow::Result<()> {
    resolve_unsettled(state).await?;
    crate::flows::after_sales::resume_refunds(state).await?;
    crate::flows::after_sales::resume_pickups(state).await?;
    Ok(())
}

/// Sweeps the intents of every shard that rebuilt its state since the sweep that saw `swept`
/// (each shard's count of rebuilds), as the start-up sweep does.
async fn sweep_rebuilt_shards(state: &AppState, swept: &mut Vec<u64>) {
    let rebuilds = state.shards.rebuilds();
    if rebuilds == *swept {
        return;
    }
    let rebuilt = |shop: ShopId| {
        let shard = state.shards.shard_of(shop);
        rebuilds.get(shard) != swept.get(shard) && state.shards.holds(shard)
    };
    match sweep_possible_attempts(state, rebuilt).await {
        Ok(()) => *swept = rebuilds,
        Err(error) => tracing::warn!(%error, "payment sweep after a shard rebuild failed; retrying"),
    }
}

/// Looks up the next attempt of every intent open to payment whose home shop `sweeps` names.
async fn sweep_possible_attempts(state: &AppState, sweeps: impl Fn(ShopId) -> bool) -> anyhow::Result<()> {
    let intents = state.store.intents_accepting_attempts().await?;
    for intent in intents.into_iter().filter(|intent| sweeps(intent.home_shop)) {
        let attempt = intent.attempts + 1;
        let lookup = state.payments.provider.lookup_charge(intent.reference(attempt));
        match within_deadline(lookup).await {
            Ok(outcome) => {
                record_charge(
                    state,
                    intent.home_shop,
                    intent.id,
                    attempt,
                    outcome,
                    Some(intent.orders.len()),
                )
                .await?;
            }
            Err(error) => anyhow::bail!("lookup of {}: {error}", intent.id),
        }
    }
    Ok(())
}

/// Whether `shop`'s shard is held by this process: its intents are this worker's to resolve.
fn held_here(state: &AppState, shop: ShopId) -> bool {
    state.shards.holds(state.shards.shard_of(shop))
}

async fn resolve_unsettled(state: &AppState) -> anyhow::Result<()> {
    let held: Vec<u32> = (0..state.shards.count())
        .filter(|s| state.shards.holds(*s as usize))
        .collect();
    if held.is_empty() {
        return Ok(());
    }
    let shards = (held.len() < state.shards.count() as usize).then_some((held.as_slice(), state.shards.count()));
    let intents = state.store.unsettled_intents(BATCH, shards).await?;
    for intent in intents.into_iter().filter(|intent| held_here(state, intent.home_shop)) {
        if let Err(error) = resolve(state, intent).await {
            tracing::warn!(%error, "could not resolve a payment yet");
        }
    }
    Ok(())
}

async fn resolve(state: &AppState, intent: PaymentIntent) -> anyhow::Result<()> {
    let now = state.clock.now();
    let provider = &state.payments.provider;
    let orders = Some(intent.orders.len());
    match intent.status {
        IntentStatus::Processing => {
            let attempt = intent.attempts;
            let outcome = within_deadline(provider.lookup_charge(intent.reference(attempt))).await?;
            if outcome == ChargeOutcome::NotFound && now.unix_ms() - intent.updated_at.unix_ms() < NOT_FOUND_AFTER_MS {
                return Ok(());
            }
            let recorded = record_charge(state, intent.home_shop, intent.id, attempt, outcome, orders).await?;
            settle(state, recorded).await?;
        }
        IntentStatus::Authorized => {
            let Some(charge) = &intent.charge else {
                return Ok(());
            };
            let attempt = intent.attempts;
            let outcome = if now.unix_ms() < intent.pay_by.unix_ms() + EXPIRY_GRACE_MS {
                within_deadline(provider.capture(charge.reference.clone())).await?
            } else {
                within_deadline(provider.void(charge.reference.clone())).await?
            };
            let recorded = record_charge(state, intent.home_shop, intent.id, attempt, outcome, orders).await?;
            settle(state, recorded).await?;
        }
        status if status.is_final() => {
            // Read again: the request path may have settled it since the list was read.
            let fresh = read_intent(state, intent.id).await?;
            if !fresh.is_settled() {
                settle(state, fresh).await?;
            }
        }
        _ => {}
    }
    Ok(())
}
