//! [`SimCarrier`], the in-process simulator: the async shell around the [`Book`]. It reads the
//! clock, draws scenarios, delays and faults from one seeded RNG, applies a call to the book under
//! one lock, plans the webhook deliveries of the events that call made (under the same lock, so
//! lanes see events in the order they were made), and starts them after releasing it.
//!
//! In timed mode a background clock task plays the scripts: it sleeps until the book's next due
//! step, plays every step due, and delivers their events. It starts with the first waybill, is
//! woken whenever a call may have moved the next due time, and ends when the last handle is
//! dropped (it holds only a weak reference, and its wake-up channel closes with the state).

use crate::book::{Book, Creation};
use crate::error::SimCarrierError;
use crate::model::{
    Config, CreateWaybill, DeliveryAttempt, DeliveryStats, Faults, Scenario, ScenarioOdds, TimeScale, Tracking,
    TrackingEvent, TrackingState, Waybill,
};
use crate::script::Delays;
use crate::webhook::{DELIVERY_DELAY_MS_MAX, Delivery, Dispatcher, Draw, Lanes, unix_ms};
use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;
use tokio::sync::mpsc;

/// A handle on one simulator of the three carriers. Clones share it. Its async methods must be
/// awaited inside a tokio runtime, because webhook deliveries and the clock are spawned tasks.
#[derive(Clone)]
pub struct SimCarrier {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    dispatcher: Dispatcher,
}

struct State {
    book: Book,
    rng: StdRng,
    time_scale: TimeScale,
    odds: ScenarioOdds,
    faults: Faults,
    webhook_url: Option<String>,
    lanes: Lanes,
    /// The clock task's wake-up line, once it runs. Capacity one: a full line already holds a wake-up.
    clock: Option<mpsc::Sender<()>>,
}

impl SimCarrier {
    pub fn new(config: Config) -> SimCarrier {
        let state = State {
            book: Book::new(config.seed, config.time_scale),
            rng: StdRng::seed_from_u64(config.seed),
            time_scale: config.time_scale,
            odds: config.odds,
            faults: config.faults,
            webhook_url: config.webhook_url,
            lanes: Lanes::default(),
            clock: None,
        };
        SimCarrier {
            shared: Arc::new(Shared {
                state: Mutex::new(state),
                dispatcher: Dispatcher::new(config.secret),
            }),
        }
    }

    /// The price of a parcel ([`crate::tariff`]): the same for every seed and every call.
    pub fn quote(&self, request: &crate::tariff::QuoteRequest) -> Result<crate::tariff::Quote, SimCarrierError> {
        crate::tariff::quote(request)
    }

    /// Issues a waybill for `request.reference`, or returns the one already issued for it (the
    /// same parameters are required).
    pub async fn create_waybill(&self, request: CreateWaybill) -> Result<Waybill, SimCarrierError> {
        let now_ms = unix_ms();
        let mut state = self.lock();
        // Both draws happen on every request, so the RNG stream does not depend on the outcome.
        let drawn = state.draw_scenario();
        let delays = Delays::draw(&mut state.rng);
        let (waybill, creation) = state.book.create(&request, now_ms, drawn, &delays)?;
        if creation == Creation::New && !state.time_scale.is_manual() {
            self.start_or_wake_clock(&mut state);
        }
        Ok(waybill)
    }

    /// Plays the waybill's pending script steps through the first one in state `up_to`, and
    /// delivers their events. The last event happens at `at_ms`, each earlier one its scripted gap
    /// before the next (a simulated minute counting as a real one in manual mode), never before the
    /// waybill's previous scripted event or its creation. A state the script has already passed
    /// plays nothing (the answer is empty); a state the script never reaches (a stall, a return)
    /// plays it to its end, so advancing to `delivered` plays everything the waybill will ever
    /// report. In timed mode the clock carries on from `at_ms`.
    pub async fn advance(
        &self,
        waybill_no: &str,
        up_to: TrackingState,
        at_ms: i64,
    ) -> Result<Vec<TrackingEvent>, SimCarrierError> {
        let (events, deliveries) = {
            let mut state = self.lock();
            let events = state.book.advance(waybill_no, up_to, at_ms)?;
            let deliveries = state.plan_deliveries(&events);
            if !state.time_scale.is_manual() {
                self.start_or_wake_clock(&mut state);
            }
            (events, deliveries)
        };
        self.shared.dispatcher.dispatch(deliveries);
        Ok(events)
    }

    /// Emits one event outside the script (any state, any time) and delivers it. The script does
    /// not move: a test can report a `delivered` that the script will contradict later.
    pub async fn emit(
        &self,
        waybill_no: &str,
        state: TrackingState,
        occurred_at_ms: i64,
    ) -> Result<TrackingEvent, SimCarrierError> {
        let (event, deliveries) = {
            let mut guard = self.lock();
            let event = guard.book.emit(waybill_no, state, occurred_at_ms)?;
            let deliveries = guard.plan_deliveries(std::slice::from_ref(&event));
            (event, deliveries)
        };
        self.shared.dispatcher.dispatch(deliveries);
        Ok(event)
    }

    /// Sends a waybill's parcel to `destination_adcode` instead, as a sender may before the
    /// courier collects it: `invalid_state` once the carrier has reported any event. Repeating
    /// the same redirect answers the same.
    pub async fn redirect(&self, waybill_no: &str, destination_adcode: &str) -> Result<Tracking, SimCarrierError> {
        self.lock().book.redirect(waybill_no, destination_adcode)
    }

    pub fn tracking(&self, waybill_no: &str) -> Option<Tracking> {
        self.lock().book.tracking(waybill_no)
    }

    /// Replaces the faults; events already planned keep the faults they were planned with.
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

    pub fn time_scale(&self) -> TimeScale {
        self.lock().time_scale
    }

    pub fn delivery_stats(&self) -> DeliveryStats {
        self.shared.dispatcher.stats()
    }

    /// Every delivery attempt still in the record, oldest first.
    pub fn delivery_attempts(&self) -> Vec<DeliveryAttempt> {
        self.shared.dispatcher.attempts()
    }

    /// Plays the steps due by now and returns when the next one is due.
    fn tick(&self) -> Option<i64> {
        let (deliveries, next_due_ms) = {
            let mut state = self.lock();
            let events = state.book.emit_due(unix_ms());
            (state.plan_deliveries(&events), state.book.next_due_ms())
        };
        self.shared.dispatcher.dispatch(deliveries);
        next_due_ms
    }

    fn start_or_wake_clock(&self, state: &mut State) {
        match &state.clock {
            // A full line already holds a wake-up, which is all a wake-up is.
            Some(wake) => drop(wake.try_send(())),
            None => {
                let (wake, woken) = mpsc::channel(1);
                state.clock = Some(wake);
                tokio::spawn(run_clock(Arc::downgrade(&self.shared), woken));
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Poisoned only if a book invariant assertion fired: the books are suspect, so stop.
        self.shared
            .state
            .lock()
            .expect("simcarrier state lock poisoned by a broken invariant")
    }
}

/// The clock task: play what is due, sleep until the next due step or a wake-up, repeat; end when
/// the simulator is gone.
async fn run_clock(shared: Weak<Shared>, mut woken: mpsc::Receiver<()>) {
    loop {
        let next_due_ms = match shared.upgrade() {
            Some(shared) => SimCarrier { shared }.tick(),
            None => return,
        };
        let until_due = async {
            match next_due_ms {
                Some(due_ms) => {
                    let wait_ms = u64::try_from(due_ms.saturating_sub(unix_ms())).unwrap_or(0);
                    tokio::time::sleep(Duration::from_millis(wait_ms)).await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = until_due => {}
            wake = woken.recv() => {
                if wake.is_none() {
                    return;
                }
            }
        }
    }
}

impl State {
    /// A draw with the configured odds, taken in field order; the rest is `Normal`.
    fn draw_scenario(&mut self) -> Scenario {
        let roll = u32::from(self.rng.random_range(0..100u8));
        let odds = [
            (self.odds.never_picked_up_percent, Scenario::NeverPickedUp),
            (self.odds.stall_after_pickup_percent, Scenario::StallAfterPickup),
            (self.odds.stuck_before_departure_percent, Scenario::StuckBeforeDeparture),
            (
                self.odds.exception_then_delivered_percent,
                Scenario::ExceptionThenDelivered,
            ),
            (self.odds.returned_percent, Scenario::Returned),
        ];
        let mut threshold = 0u32;
        for (percent, scenario) in odds {
            threshold += u32::from(percent);
            if roll < threshold {
                return scenario;
            }
        }
        Scenario::Normal
    }

    /// One delivery per event, in order. Every event draws its three faults, webhook or not, so
    /// the RNG stream does not depend on the URL.
    fn plan_deliveries(&mut self, events: &[TrackingEvent]) -> Vec<Delivery> {
        let mut deliveries = Vec::new();
        for event in events {
            let draw = Draw {
                duplicate: roll_percent(&mut self.rng, self.faults.duplicate_percent),
                hold: roll_percent(&mut self.rng, self.faults.reorder_percent),
                delay_ms: self
                    .rng
                    .random_range(0..=self.faults.delay_ms_max.min(DELIVERY_DELAY_MS_MAX)),
            };
            let Some(url) = &self.webhook_url else {
                continue;
            };
            let body = serde_json::to_vec(event).expect("a tracking event serializes: its times were checked");
            deliveries.push(self.lanes.plan(url, event, Bytes::from(body), draw));
        }
        deliveries
    }
}

/// True with probability `percent`/100; 100 or more is always.
fn roll_percent(rng: &mut StdRng, percent: u8) -> bool {
    rng.random_range(0..100u8) < percent
}
