//! Outgoing webhooks: every event of a shop that one of its endpoints subscribes to is POSTed
//! to that endpoint, signed, until it answers 2xx — at least once, in order per object.
//!
//! Two loops share one task beside the shards, never holding them up:
//! - the **fan-out** ([`fan_out`]) reads the outbox after its own cursor (`webhooks` in
//!   `outbox_cursors`) and writes one delivery per subscribed endpoint and event, in the same
//!   transaction as its cursor moves (the pattern of `crate::compass`);
//! - the **sender** ([`deliver_due`]) POSTs each due delivery (see `send`), at most
//!   [`DELIVERIES_IN_FLIGHT_MAX`] at once, and records the attempt, the delivery's new state and
//!   the endpoint's failing streak together. A failure is tried again after the
//!   [`RetrySchedule`] (10 s doubling to at most an hour, ±10 % jitter) until the retry window
//!   (3 days after the event) has passed; an endpoint failing without a success for longer than
//!   the window is disabled, with its reason and time, and its pending deliveries fail.
//!
//! **Architecture invariant:** a delivery waits while an earlier delivery of its endpoint about
//! the same object is pending (the store's due query), so a receiver sees `order.placed`
//! before `order.paid` of the same order. Deliveries in flight are remembered, so none is
//! sent twice at once; after a crash, pending deliveries are simply due again (at least once).

mod send;

use crate::app::AppState;
use miaodan_domain::webhooks::RetrySchedule;
use miaodan_store::{StoreError, StoredEvent, WEBHOOKS_READER, WebhookDelivery, WebhookEndpoint};
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;

pub use send::{payload, signature_header};

/// The most events one transaction of the fan-out reads.
const EVENTS_PER_PASS: i64 = 1_000;
/// The most deliveries being sent at once; more wait for the next pass.
pub const DELIVERIES_IN_FLIGHT_MAX: usize = 32;
/// Why the sender disables an endpoint.
pub const DISABLED_FOR_FAILING: &str = "every delivery failed for longer than the retry window";

/// How the platform delivers webhooks.
#[derive(Clone, Debug)]
pub struct WebhooksConfig {
    /// Whether endpoints may be on hosts other than loopback (`serve --webhooks-allow-any-host`).
    pub allow_any_host: bool,
    /// How long a receiver has to answer, in ms; a slower answer is a failure.
    pub timeout_ms: u64,
    pub schedule: RetrySchedule,
    /// How often the loops look for work when nothing woke them.
    pub poll_ms: u64,
}

impl Default for WebhooksConfig {
    fn default() -> WebhooksConfig {
        WebhooksConfig {
            allow_any_host: false,
            timeout_ms: 10_000,
            schedule: RetrySchedule::DEFAULT,
            poll_ms: 250,
        }
    }
}

/// The webhooks' share of the platform: the HTTP client, what is in flight. (Their ids come
/// in blocks with every other kind's: `state.ids`.)
pub struct Webhooks {
    client: reqwest::Client,
    in_flight: Arc<Mutex<HashSet<i64>>>,
    sending: Arc<Semaphore>,
    wake: Arc<Notify>,
}

impl Webhooks {
    pub fn new(config: &WebhooksConfig) -> anyhow::Result<Webhooks> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()?;
        Ok(Webhooks {
            client,
            in_flight: Arc::default(),
            sending: Arc::new(Semaphore::new(DELIVERIES_IN_FLIGHT_MAX)),
            wake: Arc::default(),
        })
    }

    /// Makes the loops look for work now (a replay, a finished attempt).
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

pub fn spawn(state: AppState) -> JoinHandle<()> {
    tokio::spawn(async move {
        let poll = Duration::from_millis(state.config.webhooks.poll_ms);
        loop {
            if let Err(error) = fan_out(&state).await {
                tracing::warn!(%error, "webhooks could not read the outbox; retrying");
            }
            if let Err(error) = deliver_due(&state).await {
                tracing::warn!(%error, "webhooks could not be sent; retrying");
            }
            let _ = tokio::time::timeout(poll, state.webhooks.wake.notified()).await;
        }
    })
}

/// Turns every shard's events up to its head into deliveries to the endpoints subscribed.
pub async fn fan_out(state: &AppState) -> Result<(), StoreError> {
    let store = &state.store;
    let cursor: BTreeMap<u32, i64> = store.outbox_cursor(WEBHOOKS_READER).await?.into_iter().collect();
    let endpoints = store.enabled_webhook_endpoints().await?;
    for (shard, head) in store.outbox_heads().await? {
        let mut at = cursor.get(&shard).copied().unwrap_or(0);
        while at < head {
            let events = store.outbox_after(shard, at, EVENTS_PER_PASS).await?;
            let Some(last) = events.last().map(|e| e.seq) else {
                break;
            };
            let deliveries = deliveries_of(state, &events, &endpoints).await?;
            store.record_webhook_fanout(shard, last, &deliveries).await?;
            at = last;
        }
        metrics::gauge!("miaodan_outbox_lag", "reader" => WEBHOOKS_READER, "shard" => shard.to_string())
            .set((head - at) as f64);
    }
    Ok(())
}

/// One delivery per event and enabled endpoint of its shop that subscribes to its topic and
/// existed when it was committed.
async fn deliveries_of(
    state: &AppState,
    events: &[StoredEvent],
    endpoints: &[WebhookEndpoint],
) -> Result<Vec<WebhookDelivery>, StoreError> {
    let mut deliveries = Vec::new();
    for event in events {
        let subscribed = endpoints
            .iter()
            .filter(|e| e.shop == event.shop && e.created_at <= event.at && e.topics.matches(&event.topic));
        for endpoint in subscribed {
            deliveries.push(WebhookDelivery {
                id: state.ids.webhook_delivery().await?,
                endpoint: endpoint.id,
                shop: event.shop,
                shard: event.shard,
                seq: event.seq,
                at: event.at,
                topic: event.topic.clone(),
                subject: event.subject,
                body: event.body.clone(),
                state: miaodan_store::DeliveryState::Pending,
                attempts: 0,
                next_attempt_at: event.at,
                last_status: None,
                last_error: None,
                last_latency_ms: None,
                delivered_at: None,
            });
        }
    }
    Ok(deliveries)
}

/// Starts sending every due delivery not already in flight, and disables endpoints failing
/// for longer than the window.
pub async fn deliver_due(state: &AppState) -> Result<(), StoreError> {
    let now = state.clock.now();
    let schedule = state.config.webhooks.schedule;
    let failing_before = miaodan_domain::Timestamp::from_unix_ms(now.unix_ms() - schedule.window_ms);
    for id in state
        .store
        .disable_failing_webhook_endpoints(now, failing_before, DISABLED_FOR_FAILING)
        .await?
    {
        tracing::warn!(endpoint = id, "a webhook endpoint failing for too long was disabled");
    }
    let pending = state.store.pending_webhook_deliveries().await?;
    metrics::gauge!("miaodan_webhook_pending").set(pending as f64);
    if pending == 0 {
        return Ok(());
    }
    let due = state
        .store
        .due_webhook_deliveries(now, DELIVERIES_IN_FLIGHT_MAX as i64 * 2)
        .await?;
    let endpoints: BTreeMap<i64, WebhookEndpoint> = state
        .store
        .enabled_webhook_endpoints()
        .await?
        .into_iter()
        .map(|e| (e.id, e))
        .collect();
    let webhooks = &state.webhooks;
    for delivery in due {
        let Ok(permit) = webhooks.sending.clone().try_acquire_owned() else {
            break;
        };
        let fresh = webhooks
            .in_flight
            .lock()
            .map(|mut f| f.insert(delivery.id))
            .unwrap_or(false);
        if !fresh {
            continue;
        }
        let (state, endpoint) = (state.clone(), endpoints.get(&delivery.endpoint).cloned());
        tokio::spawn(async move {
            let id = delivery.id;
            if let Err(error) = send::attempt(&state, endpoint.as_ref(), delivery).await {
                tracing::warn!(%error, delivery = id, "a webhook attempt could not be recorded");
            }
            if let Ok(mut in_flight) = state.webhooks.in_flight.lock() {
                in_flight.remove(&id);
            }
            drop(permit);
            state.webhooks.wake();
        });
    }
    Ok(())
}
