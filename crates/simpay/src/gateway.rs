//! [`SimPay`], the in-process provider: the async shell around the [`Ledger`]. It reads the clock,
//! draws the faults from one seeded RNG, applies a call to the ledger under one lock, starts the
//! webhook deliveries of the events that call made, and only then sleeps the injected latency and
//! answers. Because the call is applied before the latency and the timeout faults, a caller that
//! sees a timeout cannot tell whether anything happened: exactly the uncertainty a real provider
//! gives.
//!
//! Faults apply as follows: `latency_ms` to every call; `timeout_percent` to every state-changing
//! call (authorize, capture, void, refund), whatever its result; `decline_percent` to new
//! authorizations that nothing else declined. Reads never time out, so a caller can always learn
//! an outcome by looking it up.

use crate::calendar::shanghai_day_span_ms;
use crate::error::SimpayError;
use crate::ledger::{Creation, Ledger};
use crate::model::{
    AuthorizeRequest, Charge, Config, DeclineCode, DeliveryStats, Event, Faults, Refund, RefundRequest, StatementEntry,
    credentials,
};
use crate::webhook::{Delivery, Dispatcher, NOTIFY_DELAY_MS_MAX};
use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The largest injected latency; a larger `latency_ms` acts as this, so no call hangs for long.
pub const LATENCY_MS_MAX: u64 = 60_000;

/// A handle on one simulated provider. Clones share it. Its async methods must be awaited inside a
/// tokio runtime, because webhook deliveries are spawned tasks.
#[derive(Clone)]
pub struct SimPay {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    dispatcher: Dispatcher,
}

struct State {
    ledger: Ledger,
    rng: StdRng,
    faults: Faults,
    webhook_url: Option<String>,
}

/// Whether the caller gets to see the result of a call that was applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    Seen,
    Lost,
}

impl SimPay {
    pub fn new(config: Config) -> SimPay {
        let state = State {
            ledger: Ledger::default(),
            rng: StdRng::seed_from_u64(config.seed),
            faults: config.faults,
            webhook_url: config.webhook_url,
        };
        SimPay {
            shared: Arc::new(Shared {
                state: Mutex::new(state),
                dispatcher: Dispatcher::new(config.secret),
            }),
        }
    }

    /// Creates a charge, or returns the one already made for `request.reference` (the same amount
    /// is required). See [`credentials`] for the scripted outcomes; the timeout credential loses
    /// only the answer to the request that created the charge, so a retry learns the outcome.
    pub async fn authorize(&self, request: AuthorizeRequest) -> Result<Charge, SimpayError> {
        self.mutate(|state, now_ms| {
            let random_decline = state.draw_decline();
            let (charge, creation) = state.ledger.authorize(&request, now_ms, random_decline)?;
            let answer = if creation == Creation::New && charge.credential == credentials::TIMEOUT {
                Answer::Lost
            } else {
                Answer::Seen
            };
            Ok((charge, answer))
        })
        .await
    }

    /// Captures an authorized charge, all of it (`None`) or part of it.
    pub async fn capture(&self, reference: &str, amount_fen: Option<i64>) -> Result<Charge, SimpayError> {
        self.mutate(|state, now_ms| Ok((state.ledger.capture(reference, amount_fen, now_ms)?, Answer::Seen)))
            .await
    }

    /// Releases an authorized charge.
    pub async fn void(&self, reference: &str) -> Result<Charge, SimpayError> {
        self.mutate(|state, now_ms| Ok((state.ledger.void(reference, now_ms)?, Answer::Seen)))
            .await
    }

    pub async fn charge(&self, reference: &str) -> Result<Option<Charge>, SimpayError> {
        Ok(self.read(|ledger| ledger.charge(reference)).await)
    }

    /// Refunds part of a captured charge. A refund that cannot be made is recorded as failed, not
    /// refused, and its reference stays bound to that failure.
    pub async fn refund(&self, request: RefundRequest) -> Result<Refund, SimpayError> {
        self.mutate(|state, now_ms| Ok((state.ledger.refund(&request, now_ms)?, Answer::Seen)))
            .await
    }

    pub async fn refund_by_reference(&self, reference: &str) -> Result<Option<Refund>, SimpayError> {
        Ok(self.read(|ledger| ledger.refund_by_reference(reference)).await)
    }

    /// Every capture and succeeded refund made on the Asia/Shanghai day `day` (`YYYY-MM-DD`), in
    /// the order they happened.
    pub async fn statement(&self, day: &str) -> Result<Vec<StatementEntry>, SimpayError> {
        let (start_ms, end_ms) = shanghai_day_span_ms(day)?;
        Ok(self.read(|ledger| ledger.statement(start_ms, end_ms)).await)
    }

    /// Replaces the faults; calls already running keep the faults they started with.
    pub fn set_faults(&self, faults: Faults) {
        self.lock().faults = faults;
    }

    pub fn faults(&self) -> Faults {
        self.lock().faults.clone()
    }

    /// Where later events go. Events made before are delivered (or not) where they were bound.
    pub fn set_webhook_url(&self, url: Option<String>) {
        self.lock().webhook_url = url;
    }

    pub fn delivery_stats(&self) -> DeliveryStats {
        self.shared.dispatcher.stats()
    }

    /// Every event made so far, in the order it was made.
    pub fn events(&self) -> Vec<Event> {
        self.lock().ledger.events().to_vec()
    }

    /// Applies a state-changing call: draw the timeout fault, change the ledger, plan the
    /// deliveries of the new events, all under the lock; then deliver, wait and answer.
    async fn mutate<T>(
        &self,
        operation: impl FnOnce(&mut State, i64) -> Result<(T, Answer), SimpayError>,
    ) -> Result<T, SimpayError> {
        let now_ms = unix_ms();
        let (result, timed_out, deliveries, latency) = {
            let mut state = self.lock();
            let timeout_percent = state.faults.timeout_percent;
            let timed_out = roll_percent(&mut state.rng, timeout_percent);
            let first_new_event = state.ledger.events().len();
            let result = operation(&mut state, now_ms);
            let deliveries = state.plan_deliveries(first_new_event);
            (result, timed_out, deliveries, state.latency())
        };
        self.shared.dispatcher.dispatch(deliveries);
        pause(latency).await;
        match result {
            _ if timed_out => Err(SimpayError::Timeout),
            Ok((_, Answer::Lost)) => Err(SimpayError::Timeout),
            Ok((value, Answer::Seen)) => Ok(value),
            Err(error) => Err(error),
        }
    }

    async fn read<T>(&self, query: impl FnOnce(&Ledger) -> T) -> T {
        let (value, latency) = {
            let state = self.lock();
            (query(&state.ledger), state.latency())
        };
        pause(latency).await;
        value
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Poisoned only if a ledger invariant assertion fired: the books are suspect, so stop.
        self.shared
            .state
            .lock()
            .expect("simpay state lock poisoned by a broken invariant")
    }
}

impl State {
    fn latency(&self) -> Duration {
        Duration::from_millis(self.faults.latency_ms.min(LATENCY_MS_MAX))
    }

    /// Both draws happen on every authorization, so the RNG stream does not depend on the outcome.
    fn draw_decline(&mut self) -> Option<DeclineCode> {
        let decline_percent = self.faults.decline_percent;
        let declined = roll_percent(&mut self.rng, decline_percent);
        let code = DeclineCode::PAYER_SIDE[self.rng.random_range(0..DeclineCode::PAYER_SIDE.len())];
        declined.then_some(code)
    }

    /// One delivery per event made since `first_new_event`, two when the duplicate fault fires,
    /// each with its own delay. Nothing is planned without a webhook URL.
    fn plan_deliveries(&mut self, first_new_event: usize) -> Vec<Delivery> {
        let Some(url) = &self.webhook_url else {
            return Vec::new();
        };
        let delay_ms_max = self.faults.max_notify_delay_ms.min(NOTIFY_DELAY_MS_MAX);
        let mut deliveries = Vec::new();
        for event in &self.ledger.events()[first_new_event..] {
            let body = Bytes::from(serde_json::to_vec(event).expect("an event serializes: plain structs, string keys"));
            let copies = if roll_percent(&mut self.rng, self.faults.duplicate_percent) {
                2
            } else {
                1
            };
            for copy in 0..copies {
                deliveries.push(Delivery {
                    url: url.clone(),
                    event_id: event.id.clone(),
                    body: body.clone(),
                    delay_ms: self.rng.random_range(0..=delay_ms_max),
                    duplicate: copy > 0,
                });
            }
        }
        deliveries
    }
}

/// True with probability `percent`/100; 100 or more is always.
fn roll_percent(rng: &mut StdRng, percent: u8) -> bool {
    rng.random_range(0..100u8) < percent
}

fn unix_ms() -> i64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

/// Waits the injected latency. No latency means no timer at all: a zero-length tokio sleep
/// still waits for the timer wheel's next tick (about a millisecond), which would make a
/// "zero-latency" provider cost a millisecond per call.
async fn pause(latency: std::time::Duration) {
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
}
