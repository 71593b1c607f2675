//! Webhook delivery: one background task per event, so the call or clock tick that made the event
//! never waits for the platform. A task waits its random delay, then its turn in its waybill's
//! lane, then POSTs the event's bytes, freshly signed on every attempt, retrying failures with
//! doubling backoff until it is acknowledged or gives up; a duplicated event then sends its second
//! copy the same way. Every attempt is recorded.
//!
//! **Lanes keep each waybill's events in order** unless the reorder fault says otherwise: a
//! delivery starts only when the waybill's previous delivery has finished, so random delays and
//! retries delay events but never swap them. The reorder fault holds an event back until the
//! waybill's next event has finished (or `REORDER_HOLD_MS_MAX` has passed, so the last event of a
//! script is never held forever), and the event after that waits for the held one: exactly one
//! adjacent pair arrives swapped. A lane is head-of-line blocking by design, as a carrier's push
//! queue is: a receiver that is down delays a waybill's later events until the earlier ones give up.
//!
//! Bounds: a copy ends within `DELIVERY_ATTEMPTS_MAX` × `DELIVERY_ATTEMPT_TIMEOUT_MS` + the backoffs
//! (12.7 s) = 36.7 s; an event within its delay (`DELIVERY_DELAY_MS_MAX`), its hold
//! (`REORDER_HOLD_MS_MAX`), two copies and its predecessors in the lane. At most
//! `DELIVERY_ATTEMPTS_IN_FLIGHT_MAX` attempts are in flight at once, which caps the sockets the
//! simulator opens; `DELIVERY_ATTEMPTS_RECORDED_MAX` attempts are kept, the oldest dropped first.

use crate::model::{DeliveryAttempt, DeliveryStats, TrackingEvent};
use crate::signature::{SIGNATURE_HEADER, sign};
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{Semaphore, oneshot, watch};

/// Attempts per copy, the first included; then the copy is counted in `gave_up`.
pub const DELIVERY_ATTEMPTS_MAX: u32 = 8;
/// The wait after the first failed attempt; each later wait doubles it (100, 200, … 6 400 ms).
pub const RETRY_BACKOFF_FIRST_MS: u64 = 100;
/// One attempt without a response in this time counts as failed.
pub const DELIVERY_ATTEMPT_TIMEOUT_MS: u64 = 3_000;
/// The largest random delay before a first attempt; a larger `delay_ms_max` acts as this.
pub const DELIVERY_DELAY_MS_MAX: u64 = 20_000;
/// The longest an event held by the reorder fault waits for its waybill's next event.
pub const REORDER_HOLD_MS_MAX: u64 = 1_000;
/// Attempts in flight at once; further attempts wait for a slot.
pub const DELIVERY_ATTEMPTS_IN_FLIGHT_MAX: usize = 256;
/// Attempts kept in the record; older ones are dropped.
pub const DELIVERY_ATTEMPTS_RECORDED_MAX: usize = 10_000;

/// The faults drawn for one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Draw {
    pub duplicate: bool,
    pub hold: bool,
    pub delay_ms: u64,
}

/// One event on its way to one URL, with its place in its waybill's lane.
pub(crate) struct Delivery {
    url: String,
    event_id: String,
    waybill_no: String,
    /// The serialized event, identical for every copy and every attempt.
    body: Bytes,
    delay_ms: u64,
    duplicate: bool,
    /// Finished when the delivery this one follows has finished.
    after: Option<watch::Receiver<bool>>,
    /// Set by the reorder fault: fires when the waybill's next event has finished.
    hold: Option<oneshot::Receiver<()>>,
    /// Fired when this one has finished, to let a held event go.
    release: Option<oneshot::Sender<()>>,
    done: watch::Sender<bool>,
}

/// The waybills' lanes. Lives with the RNG under the simulator's lock, so that planning an event's
/// place happens in the order the events were made.
#[derive(Default)]
pub(crate) struct Lanes {
    lanes: HashMap<String, Lane>,
}

#[derive(Default)]
struct Lane {
    /// Finishes when the lane's last planned (not held) delivery has finished.
    tail: Option<watch::Receiver<bool>>,
    held: Option<Held>,
}

struct Held {
    release: oneshot::Sender<()>,
    done: watch::Receiver<bool>,
}

impl Lanes {
    /// Places `event` in its waybill's lane: after the lane's tail, or before a held event (which
    /// then becomes the tail), or held itself when `draw.hold` and nothing is held already.
    pub(crate) fn plan(&mut self, url: &str, event: &TrackingEvent, body: Bytes, draw: Draw) -> Delivery {
        let lane = self.lanes.entry(event.waybill_no.clone()).or_default();
        let (done, finished) = watch::channel(false);
        let mut delivery = Delivery {
            url: url.to_string(),
            event_id: event.event_id.clone(),
            waybill_no: event.waybill_no.clone(),
            body,
            delay_ms: draw.delay_ms,
            duplicate: draw.duplicate,
            after: lane.tail.clone(),
            hold: None,
            release: None,
            done,
        };
        match lane.held.take() {
            // The held event is still waiting: this one goes first and lets it go.
            Some(held) if !held.release.is_closed() => {
                delivery.release = Some(held.release);
                lane.tail = Some(held.done);
            }
            // The hold ran out and the held event left on its own: follow it.
            Some(held) => {
                delivery.after = Some(held.done);
                lane.tail = Some(finished);
            }
            None if draw.hold => {
                let (release, hold) = oneshot::channel();
                delivery.hold = Some(hold);
                lane.held = Some(Held {
                    release,
                    done: finished,
                });
            }
            None => lane.tail = Some(finished),
        }
        delivery
    }
}

#[derive(Clone)]
pub(crate) struct Dispatcher {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    secret: Vec<u8>,
    attempt_slots: Semaphore,
    attempts: Mutex<VecDeque<DeliveryAttempt>>,
    sent: AtomicU64,
    delivered: AtomicU64,
    duplicates_sent: AtomicU64,
    held: AtomicU64,
    gave_up: AtomicU64,
    pending: AtomicU64,
}

impl Dispatcher {
    pub(crate) fn new(secret: Vec<u8>) -> Dispatcher {
        Dispatcher {
            inner: Arc::new(Inner {
                http: reqwest::Client::new(),
                secret,
                attempt_slots: Semaphore::new(DELIVERY_ATTEMPTS_IN_FLIGHT_MAX),
                attempts: Mutex::new(VecDeque::new()),
                sent: AtomicU64::new(0),
                delivered: AtomicU64::new(0),
                duplicates_sent: AtomicU64::new(0),
                held: AtomicU64::new(0),
                gave_up: AtomicU64::new(0),
                pending: AtomicU64::new(0),
            }),
        }
    }

    /// Starts a task per delivery and returns at once. Must run inside a tokio runtime.
    pub(crate) fn dispatch(&self, deliveries: Vec<Delivery>) {
        for delivery in deliveries {
            // Counted before the task starts, so `pending` is never zero while a delivery is owed.
            self.inner.pending.fetch_add(1, Ordering::SeqCst);
            if delivery.duplicate {
                self.inner.duplicates_sent.fetch_add(1, Ordering::SeqCst);
            }
            if delivery.hold.is_some() {
                self.inner.held.fetch_add(1, Ordering::SeqCst);
            }
            tokio::spawn(self.clone().deliver(delivery));
        }
    }

    pub(crate) fn stats(&self) -> DeliveryStats {
        let inner = &self.inner;
        DeliveryStats {
            sent: inner.sent.load(Ordering::SeqCst),
            delivered: inner.delivered.load(Ordering::SeqCst),
            duplicates_sent: inner.duplicates_sent.load(Ordering::SeqCst),
            held: inner.held.load(Ordering::SeqCst),
            gave_up: inner.gave_up.load(Ordering::SeqCst),
            pending: inner.pending.load(Ordering::SeqCst),
        }
    }

    pub(crate) fn attempts(&self) -> Vec<DeliveryAttempt> {
        self.lock_attempts().iter().cloned().collect()
    }

    async fn deliver(self, mut delivery: Delivery) {
        if delivery.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(delivery.delay_ms)).await;
        }
        if let Some(mut after) = delivery.after.take() {
            // An error means the predecessor's task is gone without finishing: go anyway.
            let _ = after.wait_for(|finished| *finished).await;
        }
        if let Some(hold) = delivery.hold.take() {
            // Either outcome lets the held event go; dropping `hold` tells the lane it has left.
            let _ = tokio::time::timeout(Duration::from_millis(REORDER_HOLD_MS_MAX), hold).await;
        }
        let copies = if delivery.duplicate { 2 } else { 1 };
        for copy in 1..=copies {
            self.deliver_copy(&delivery, copy).await;
        }
        delivery.done.send_replace(true);
        if let Some(release) = delivery.release.take() {
            // The held event may have left already on its timeout; then nobody listens.
            let _ = release.send(());
        }
        self.inner.pending.fetch_sub(1, Ordering::SeqCst);
    }

    async fn deliver_copy(&self, delivery: &Delivery, copy: u8) {
        let mut backoff_ms = RETRY_BACKOFF_FIRST_MS;
        for attempt in 1..=DELIVERY_ATTEMPTS_MAX {
            if self.attempt(delivery, copy, attempt).await {
                self.inner.delivered.fetch_add(1, Ordering::SeqCst);
                return;
            }
            if attempt < DELIVERY_ATTEMPTS_MAX {
                tokio::time::sleep(Duration::from_millis(backoff_ms)).await;
                backoff_ms *= 2;
            }
        }
        tracing::warn!(event = %delivery.event_id, url = %delivery.url, "carrier webhook delivery gave up");
        self.inner.gave_up.fetch_add(1, Ordering::SeqCst);
    }

    /// One POST; true when the receiver acknowledged it with a 2xx.
    async fn attempt(&self, delivery: &Delivery, copy: u8, attempt: u32) -> bool {
        // The semaphore is never closed, so acquiring only fails if that changes; then do not send.
        let Ok(_slot) = self.inner.attempt_slots.acquire().await else {
            return false;
        };
        self.inner.sent.fetch_add(1, Ordering::SeqCst);
        let signature = sign(&self.inner.secret, unix_ms() / 1_000, &delivery.body);
        let response = self
            .inner
            .http
            .post(&delivery.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
            .timeout(Duration::from_millis(DELIVERY_ATTEMPT_TIMEOUT_MS))
            .body(delivery.body.clone())
            .send()
            .await;
        let status = match &response {
            Ok(response) => Some(response.status()),
            Err(error) => {
                tracing::debug!(event = %delivery.event_id, %error, "carrier webhook not delivered");
                None
            }
        };
        let acknowledged = status.is_some_and(|status| status.is_success());
        self.record(DeliveryAttempt {
            event_id: delivery.event_id.clone(),
            waybill_no: delivery.waybill_no.clone(),
            copy,
            attempt,
            at_ms: unix_ms(),
            status: status.map(|status| status.as_u16()),
            acknowledged,
        });
        acknowledged
    }

    fn record(&self, attempt: DeliveryAttempt) {
        let mut attempts = self.lock_attempts();
        if attempts.len() >= DELIVERY_ATTEMPTS_RECORDED_MAX {
            attempts.pop_front();
        }
        attempts.push_back(attempt);
    }

    fn lock_attempts(&self) -> std::sync::MutexGuard<'_, VecDeque<DeliveryAttempt>> {
        // Nothing panics while holding it; a poisoned record is still a record.
        self.inner
            .attempts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The wall clock in unix milliseconds.
pub(crate) fn unix_ms() -> i64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}
