//! Webhook delivery: one background task per copy of an event, so the operation that made the
//! event never waits for the merchant. A task waits its random delay (which is what makes events
//! arrive late and out of order), then POSTs the event's bytes, freshly signed on every attempt,
//! retrying failures with doubling backoff until it is acknowledged or gives up.
//!
//! Bounds: a delivery ends within `NOTIFY_DELAY_MS_MAX` + the backoffs (12.7 s) +
//! `DELIVERY_ATTEMPTS_MAX` × `DELIVERY_ATTEMPT_TIMEOUT_MS` = 56.7 s, not counting waits for one of
//! the `DELIVERY_ATTEMPTS_IN_FLIGHT_MAX` attempt slots, which cap the sockets simpay opens at once.

use crate::model::DeliveryStats;
use crate::signature::{SIGNATURE_HEADER, sign};
use bytes::Bytes;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::Semaphore;

/// Attempts per delivery, the first included; then the delivery is counted in `gave_up`.
pub const DELIVERY_ATTEMPTS_MAX: u32 = 8;
/// The wait after the first failed attempt; each later wait doubles it (100, 200, … 6 400 ms).
pub const RETRY_BACKOFF_FIRST_MS: u64 = 100;
/// One attempt without a response in this time counts as failed.
pub const DELIVERY_ATTEMPT_TIMEOUT_MS: u64 = 3_000;
/// The largest random delay before a first attempt; a larger `max_notify_delay_ms` acts as this.
pub const NOTIFY_DELAY_MS_MAX: u64 = 20_000;
/// Attempts in flight at once; further attempts wait for a slot.
pub const DELIVERY_ATTEMPTS_IN_FLIGHT_MAX: usize = 256;

/// One copy of an event on its way to one URL.
pub(crate) struct Delivery {
    pub url: String,
    pub event_id: String,
    /// The serialized event, identical for every copy and every attempt.
    pub body: Bytes,
    pub delay_ms: u64,
    /// An extra copy made by the duplicate fault.
    pub duplicate: bool,
}

#[derive(Clone)]
pub(crate) struct Dispatcher {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    secret: Vec<u8>,
    attempt_slots: Semaphore,
    sent: AtomicU64,
    delivered: AtomicU64,
    duplicates_sent: AtomicU64,
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
                sent: AtomicU64::new(0),
                delivered: AtomicU64::new(0),
                duplicates_sent: AtomicU64::new(0),
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
            tokio::spawn(self.clone().deliver(delivery));
        }
    }

    pub(crate) fn stats(&self) -> DeliveryStats {
        let inner = &self.inner;
        DeliveryStats {
            sent: inner.sent.load(Ordering::SeqCst),
            delivered: inner.delivered.load(Ordering::SeqCst),
            duplicates_sent: inner.duplicates_sent.load(Ordering::SeqCst),
            gave_up: inner.gave_up.load(Ordering::SeqCst),
            pending: inner.pending.load(Ordering::SeqCst),
        }
    }

    async fn deliver(self, delivery: Delivery) {
        tokio::time::sleep(Duration::from_millis(delivery.delay_ms)).await;
        let mut backoff_ms = RETRY_BACKOFF_FIRST_MS;
        for attempt in 1..=DELIVERY_ATTEMPTS_MAX {
            if self.attempt(&delivery).await {
                self.inner.delivered.fetch_add(1, Ordering::SeqCst);
                self.inner.pending.fetch_sub(1, Ordering::SeqCst);
                return;
            }
            if attempt < DELIVERY_ATTEMPTS_MAX {
                tokio::time::sleep(Duration::from_millis(backoff_ms)).await;
                backoff_ms *= 2;
            }
        }
        tracing::warn!(event = %delivery.event_id, url = %delivery.url, "webhook delivery gave up");
        self.inner.gave_up.fetch_add(1, Ordering::SeqCst);
        self.inner.pending.fetch_sub(1, Ordering::SeqCst);
    }

    /// One POST; true when the receiver acknowledged it with a 2xx.
    async fn attempt(&self, delivery: &Delivery) -> bool {
        // The semaphore is never closed, so acquiring only fails if that changes; then do not send.
        let Ok(_slot) = self.inner.attempt_slots.acquire().await else {
            return false;
        };
        self.inner.sent.fetch_add(1, Ordering::SeqCst);
        let signature = sign(&self.inner.secret, unix_seconds(), &delivery.body);
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
        match response {
            Ok(response) if response.status().is_success() => true,
            Ok(response) => {
                tracing::debug!(event = %delivery.event_id, status = %response.status(), "webhook refused");
                false
            }
            Err(error) => {
                tracing::debug!(event = %delivery.event_id, %error, "webhook not delivered");
                false
            }
        }
    }
}

fn unix_seconds() -> i64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX)
}
