//! The compass (电商罗盘): a reader of the outbox that folds orders, payments and refunds into
//! per-shop, per-minute figures (`compass_minutes`), which `GET /v1/compass/series` sums into
//! minutes, hours or Shanghai days without ever reading the orders tables.
//!
//! The reader runs beside the shards and never holds them up: every quarter second it reads
//! each shard's events after its cursor and writes the figures they add together with the
//! cursor's new place, in one transaction — so a crash or restart neither loses an event nor
//! counts one twice (at-least-once delivery, made exactly-once by the shared commit).

mod after_sales;
mod dimensions;
pub mod flash_sales;
mod fulfillment;
pub mod regions;
mod skus;

use crate::app::AppState;
use miaodan_domain::ShopId;
use miaodan_store::{COMPASS_READER, CompassFigures, OrderBodyV1, StoredEvent};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::task::JoinHandle;

/// How often the reader looks for new events when it has caught up.
const POLL_MS: u64 = 250;
/// The most events one transaction of the reader folds.
const EVENTS_PER_PASS: i64 = 10_000;
const MINUTE_MS: i64 = 60_000;

pub fn spawn(state: AppState) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_millis(POLL_MS));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if let Err(error) = catch_up(&state).await {
                tracing::warn!(%error, "the compass could not read the outbox; retrying");
            }
        }
    })
}

/// Folds every shard's events up to its head (as it was when this pass began).
pub async fn catch_up(state: &AppState) -> Result<(), miaodan_store::StoreError> {
    catch_up_observed(state, &mut |_| {}).await
}

/// [`catch_up`], showing `observe` each run of events once its figures are committed (the
/// compass benchmark measures the projection's lag with it).
pub async fn catch_up_observed(
    state: &AppState,
    observe: &mut (dyn FnMut(&[StoredEvent]) + Send),
) -> Result<(), miaodan_store::StoreError> {
    let cursor: BTreeMap<u32, i64> = state.store.outbox_cursor(COMPASS_READER).await?.into_iter().collect();
    let mut changed = false;
    for (shard, head) in state.store.outbox_heads().await? {
        let mut at = cursor.get(&shard).copied().unwrap_or(0);
        while at < head {
            let events = state.store.outbox_after(shard, at, EVENTS_PER_PASS).await?;
            let Some(last) = events.last().map(|e| e.seq) else {
                break;
            };
            let mut also = dimensions::fold_from(&state.store, &events).await?.statements();
            also.extend(flash_sales::fold(&events).statements());
            state
                .store
                .record_compass_with(shard, last, &fold(&events), also)
                .await?;
            state.compass_live.record(&events);
            observe(&events);
            (changed, at) = (true, last);
        }
        metrics::gauge!("miaodan_outbox_lag", "reader" => COMPASS_READER, "shard" => shard.to_string())
            .set((head - at) as f64);
    }
    if changed {
        state.compass_live.changed();
    }
    Ok(())
}

/// At a member of a cluster that does not hold shard 0 (whose holder runs the reader): follows
/// the reader's cursor every quarter second, notes the events it folded since the last look (the
/// sales' recent taps, which `GET /v1/flash-sales/{id}/live` reads too), and tells this member's
/// live streams, so that they move here as they do there. The first look starts from where the
/// reader is.
pub fn follow(state: AppState) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_millis(POLL_MS));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut seen = None;
        loop {
            every.tick().await;
            let mut noted = false;
            let looked = follow_once(&state, &mut seen, &mut noted).await;
            // What was noted before an error is told too; a look that noted nothing tells
            // nobody (a database down would otherwise wake every stream at every look).
            if noted {
                state.compass_live.changed();
            }
            if let Err(error) = looked {
                tracing::warn!(%error, "could not follow the compass; retrying");
            }
        }
    })
}

/// One look of [`follow`]: from the cursor `seen` last (per shard, moved as the events are
/// noted) to the reader's now; `noted` is set once events were noted.
async fn follow_once(
    state: &AppState,
    seen: &mut Option<BTreeMap<u32, i64>>,
    noted: &mut bool,
) -> Result<(), miaodan_store::StoreError> {
    let cursor: BTreeMap<u32, i64> = state.store.outbox_cursor(COMPASS_READER).await?.into_iter().collect();
    let Some(seen) = seen.as_mut() else {
        *seen = Some(cursor);
        return Ok(());
    };
    for (shard, to) in cursor {
        let at = seen.entry(shard).or_insert(0);
        // A reader set back (its database restored) is followed back.
        *at = (*at).min(to);
        while *at < to {
            let wanted = (to - *at).min(EVENTS_PER_PASS);
            let mut events = state.store.outbox_after(shard, *at, wanted).await?;
            events.retain(|event| event.seq <= to);
            let Some(last) = events.last().map(|e| e.seq) else {
                *at = to;
                break;
            };
            state.compass_live.record(&events);
            (*noted, *at) = (true, last);
        }
    }
    Ok(())
}

/// What a run of events adds to each shop's minutes.
pub fn fold(events: &[StoredEvent]) -> BTreeMap<(ShopId, i64), CompassFigures> {
    let mut minutes: BTreeMap<(ShopId, i64), CompassFigures> = BTreeMap::new();
    for event in events {
        let Some(added) = figures_of(event) else { continue };
        let minute = event.at.unix_ms() - event.at.unix_ms().rem_euclid(MINUTE_MS);
        minutes.entry((event.shop, minute)).or_default().add(&added);
    }
    minutes
}

/// What one event adds, if it counts.
fn figures_of(event: &StoredEvent) -> Option<CompassFigures> {
    let order = || serde_json::from_str::<OrderBodyV1>(&event.body).ok();
    let figures = match event.topic.as_str() {
        "order.placed" => {
            let order = order()?;
            CompassFigures {
                orders: 1,
                units: order.lines.iter().map(|l| l.quantity).sum(),
                gmv_fen: order.total,
                ..CompassFigures::default()
            }
        }
        "order.paid" => CompassFigures {
            paid_orders: 1,
            paid_fen: order()?.total,
            ..CompassFigures::default()
        },
        "order.cancelled" => CompassFigures {
            cancelled_orders: 1,
            ..CompassFigures::default()
        },
        "order.expired" => CompassFigures {
            expired_orders: 1,
            ..CompassFigures::default()
        },
        "refund.succeeded" => {
            let body: serde_json::Value = serde_json::from_str(&event.body).ok()?;
            CompassFigures {
                refunds: 1,
                refunded_fen: body["amount"].as_i64()?,
                ..CompassFigures::default()
            }
        }
        _ => return None,
    };
    Some(figures)
}
