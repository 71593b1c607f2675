//! The carriers' books: waybills, their scripts, the events they have reported and the schedule of
//! timed events. Pure and synchronous: the time, the drawn scenario and the drawn delays come in as
//! arguments, so the same calls give the same books.
//!
//! Invariants:
//! - A reference is bound to its first request forever: a replay gets the same waybill, a request
//!   with other parameters `reference_conflict`.
//! - A waybill's script is played in order, each step once, by the clock or by `advance`;
//!   `emit` adds events outside the script and never moves it.
//! - A waybill goes to its request's destination until it is redirected (only before the
//!   carrier's first event); the request itself never changes, so a creation replays as before.
//! - In timed mode a waybill with steps left has exactly one schedule entry, due
//!   `delay × scale` after its previous scripted event (or its creation); in manual mode none.

use crate::cities::city_of;
use crate::error::SimCarrierError;
use crate::model::{
    Carrier, CreateWaybill, REFERENCE_CHARS_MAX, Scenario, TimeScale, Tracking, TrackingEvent, TrackingState, Waybill,
    rfc3339,
};
use crate::numbers::waybill_no;
use crate::script::{self, Delays, Step};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The most waybills one simulator holds; creating another is refused with `full`.
pub const WAYBILLS_MAX: usize = 1_000_000;
/// The most events `emit` may add to one waybill; another is refused with `invalid_state`.
pub const UNSCRIPTED_EVENTS_PER_WAYBILL_MAX: u32 = 32;
/// In manual mode, the real milliseconds of a simulated minute when `advance` spreads events
/// before its time: a minute is a minute.
const MANUAL_MS_PER_SIM_MINUTE: TimeScale = TimeScale::REAL_TIME;

/// Whether a creation made the waybill or found it already there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Creation {
    New,
    Replay,
}

pub(crate) struct Book {
    seed: u64,
    time_scale: TimeScale,
    waybills: BTreeMap<String, Entry>,
    by_reference: HashMap<String, String>,
    /// Waybills issued per carrier: the next number's counter.
    issued: BTreeMap<Carrier, u64>,
    /// `(due_at_ms, waybill_no)` of every timed step to come.
    schedule: BTreeSet<(i64, String)>,
}

struct Entry {
    request: CreateWaybill,
    waybill: Waybill,
    scenario: Scenario,
    script: Vec<Step>,
    /// The index of the first script step not yet played.
    next_step: usize,
    /// When the last scripted event happened, or the creation: the base of the next step's due time.
    last_at_ms: i64,
    /// The next step's schedule entry, if any.
    due_at_ms: Option<i64>,
    events: Vec<TrackingEvent>,
    unscripted: u32,
    /// The destination the sender changed it to before pickup, if any.
    redirected_to: Option<String>,
}

impl Book {
    pub(crate) fn new(seed: u64, time_scale: TimeScale) -> Book {
        Book {
            seed,
            time_scale,
            waybills: BTreeMap::new(),
            by_reference: HashMap::new(),
            issued: BTreeMap::new(),
            schedule: BTreeSet::new(),
        }
    }

    /// Issues the waybill for `request.reference`, or returns the one already there. The scenario is
    /// the request's, else the reference's magic prefix's, else `drawn`.
    pub(crate) fn create(
        &mut self,
        request: &CreateWaybill,
        now_ms: i64,
        drawn: Scenario,
        delays: &Delays,
    ) -> Result<(Waybill, Creation), SimCarrierError> {
        check_request(request)?;
        if let Some(number) = self.by_reference.get(&request.reference) {
            let entry = &self.waybills[number];
            if entry.request != *request {
                return Err(SimCarrierError::ReferenceConflict);
            }
            return Ok((entry.waybill.clone(), Creation::Replay));
        }
        if self.waybills.len() >= WAYBILLS_MAX {
            return Err(SimCarrierError::Full);
        }

        let scenario = request
            .scenario
            .or_else(|| Scenario::from_reference(&request.reference))
            .unwrap_or(drawn);
        let counter = self.issued.entry(request.carrier).or_insert(0);
        let number = waybill_no(request.carrier, self.seed, *counter);
        *counter += 1;
        let waybill = Waybill {
            carrier: request.carrier,
            waybill_no: number.clone(),
            reference: request.reference.clone(),
            created_at_ms: now_ms,
        };
        let entry = Entry {
            request: request.clone(),
            waybill: waybill.clone(),
            scenario,
            script: script::steps(scenario, delays),
            next_step: 0,
            last_at_ms: now_ms,
            due_at_ms: None,
            events: Vec::new(),
            unscripted: 0,
            redirected_to: None,
        };
        assert!(
            self.waybills.insert(number.clone(), entry).is_none(),
            "waybill number {number} issued twice"
        );
        self.by_reference.insert(request.reference.clone(), number.clone());
        self.reschedule(&number);
        Ok((waybill, Creation::New))
    }

    /// Plays the script's pending steps through the first one in state `up_to`, the last at `at_ms`
    /// and each earlier one its scripted gap before the next (never before the waybill's previous
    /// scripted event or its creation, nor after `at_ms`). A state the script has already passed
    /// plays nothing; a state the script never reaches (a stall, a return) plays it to its end, so
    /// advancing to `delivered` means "everything this waybill will ever report".
    pub(crate) fn advance(
        &mut self,
        number: &str,
        up_to: TrackingState,
        at_ms: i64,
    ) -> Result<Vec<TrackingEvent>, SimCarrierError> {
        check_time(at_ms)?;
        let time_scale = self.time_scale;
        let entry = self.waybills.get_mut(number).ok_or(SimCarrierError::NotFound)?;
        let (played, pending) = entry.script.split_at(entry.next_step);
        let count = match pending.iter().position(|step| step.state == up_to) {
            Some(index) => index + 1,
            None if played.iter().any(|step| step.state == up_to) => 0,
            None => pending.len(),
        };
        if count == 0 {
            return Ok(Vec::new());
        }
        let steps: Vec<Step> = pending[..count].to_vec();
        let times = spread_before(&steps, at_ms, entry.last_at_ms.min(at_ms), time_scale);
        let mut events = Vec::with_capacity(count);
        for (step, occurred_at_ms) in steps.iter().zip(times) {
            events.push(entry.record(step.state, occurred_at_ms));
        }
        entry.next_step += count;
        entry.last_at_ms = at_ms;
        self.reschedule(number);
        Ok(events)
    }

    /// Sends the parcel to `destination_adcode` instead: only while the carrier has not
    /// collected it (no event yet), else `invalid_state`. The same redirect again is answered
    /// the same; the script plays on unchanged.
    pub(crate) fn redirect(&mut self, number: &str, destination_adcode: &str) -> Result<Tracking, SimCarrierError> {
        check_adcode(destination_adcode, "destination_adcode")?;
        let entry = self.waybills.get_mut(number).ok_or(SimCarrierError::NotFound)?;
        if entry.redirected_to.as_deref() != Some(destination_adcode) {
            if !entry.events.is_empty() {
                return Err(SimCarrierError::InvalidState(format!(
                    "waybill {number} was collected: its destination can no longer change"
                )));
            }
            entry.redirected_to = Some(destination_adcode.to_string());
        }
        Ok(self.tracking(number).expect("redirected above"))
    }

    /// Records one event outside the script, at exactly `occurred_at_ms`.
    pub(crate) fn emit(
        &mut self,
        number: &str,
        state: TrackingState,
        occurred_at_ms: i64,
    ) -> Result<TrackingEvent, SimCarrierError> {
        check_time(occurred_at_ms)?;
        let entry = self.waybills.get_mut(number).ok_or(SimCarrierError::NotFound)?;
        if entry.unscripted >= UNSCRIPTED_EVENTS_PER_WAYBILL_MAX {
            return Err(SimCarrierError::InvalidState(format!(
                "waybill {number} already has {UNSCRIPTED_EVENTS_PER_WAYBILL_MAX} events outside its script"
            )));
        }
        entry.unscripted += 1;
        Ok(entry.record(state, occurred_at_ms))
    }

    /// Plays every timed step due at or before `now_ms`, each at its due time, in due order.
    pub(crate) fn emit_due(&mut self, now_ms: i64) -> Vec<TrackingEvent> {
        let mut events = Vec::new();
        while let Some((due_at_ms, number)) = self.schedule.first().cloned() {
            if due_at_ms > now_ms {
                break;
            }
            let entry = self.waybills.get_mut(&number).expect("a scheduled waybill exists");
            let step = entry.script[entry.next_step];
            events.push(entry.record(step.state, due_at_ms));
            entry.next_step += 1;
            entry.last_at_ms = due_at_ms;
            self.reschedule(&number);
        }
        events
    }

    /// When the next timed step is due, if any.
    pub(crate) fn next_due_ms(&self) -> Option<i64> {
        self.schedule.first().map(|(due_at_ms, _)| *due_at_ms)
    }

    pub(crate) fn tracking(&self, number: &str) -> Option<Tracking> {
        let entry = self.waybills.get(number)?;
        Some(Tracking {
            waybill: entry.waybill.clone(),
            origin_adcode: entry.request.origin_adcode.clone(),
            destination_adcode: entry.destination().to_string(),
            scenario: entry.scenario,
            events: entry.events.clone(),
            next_state: entry.script.get(entry.next_step).map(|step| step.state),
            next_due_at_ms: entry.due_at_ms,
        })
    }

    /// Replaces the waybill's schedule entry by one for its next step (none in manual mode or at
    /// the script's end).
    fn reschedule(&mut self, number: &str) {
        let time_scale = self.time_scale;
        let entry = self.waybills.get_mut(number).expect("rescheduling an existing waybill");
        if let Some(due_at_ms) = entry.due_at_ms.take() {
            assert!(
                self.schedule.remove(&(due_at_ms, number.to_string())),
                "schedule entry of {number} missing"
            );
        }
        let Some(step) = entry.script.get(entry.next_step) else {
            return;
        };
        if time_scale.is_manual() {
            return;
        }
        let due_at_ms = entry.last_at_ms.saturating_add(time_scale.real_ms(step.delay_minutes));
        entry.due_at_ms = Some(due_at_ms);
        self.schedule.insert((due_at_ms, number.to_string()));
    }
}

impl Entry {
    /// Where the parcel goes: its redirection's destination, else its request's.
    fn destination(&self) -> &str {
        self.redirected_to
            .as_deref()
            .unwrap_or(&self.request.destination_adcode)
    }

    fn record(&mut self, state: TrackingState, occurred_at_ms: i64) -> TrackingEvent {
        let number = &self.waybill.waybill_no;
        let event = TrackingEvent {
            carrier: self.waybill.carrier,
            waybill_no: number.clone(),
            event_id: format!("{number}-{}", self.events.len() + 1),
            state,
            occurred_at_ms,
            location: location(state, &self.request.origin_adcode, self.destination()).map(str::to_string),
        };
        self.events.push(event.clone());
        event
    }
}

/// Where a scan of `state` happens: at the origin until the parcel leaves it (and when it comes
/// back), nowhere on the line haul, at the destination from then on.
fn location(state: TrackingState, origin: &str, destination: &str) -> Option<&'static str> {
    match state {
        TrackingState::PickedUp | TrackingState::Departed | TrackingState::Returned => city_of(origin),
        TrackingState::InTransit => None,
        TrackingState::OutForDelivery | TrackingState::Delivered | TrackingState::Exception => city_of(destination),
    }
}

/// The times of `steps` played together: the last at `at_ms`, each earlier one its successor's
/// scripted gap before it, never before `floor_ms`. Non-decreasing.
fn spread_before(steps: &[Step], at_ms: i64, floor_ms: i64, time_scale: TimeScale) -> Vec<i64> {
    let scale = if time_scale.is_manual() {
        MANUAL_MS_PER_SIM_MINUTE
    } else {
        time_scale
    };
    let mut times = vec![at_ms; steps.len()];
    for index in (0..steps.len().saturating_sub(1)).rev() {
        let gap_ms = scale.real_ms(steps[index + 1].delay_minutes);
        times[index] = times[index + 1].saturating_sub(gap_ms).max(floor_ms);
    }
    times
}

fn check_request(request: &CreateWaybill) -> Result<(), SimCarrierError> {
    let chars = request.reference.chars().count();
    if chars == 0 || chars > REFERENCE_CHARS_MAX {
        return Err(SimCarrierError::InvalidRequest(format!(
            "reference must have 1 to {REFERENCE_CHARS_MAX} characters"
        )));
    }
    check_adcode(&request.origin_adcode, "origin_adcode")?;
    check_adcode(&request.destination_adcode, "destination_adcode")
}

fn check_adcode(adcode: &str, field: &str) -> Result<(), SimCarrierError> {
    let digits = adcode.bytes().all(|byte| byte.is_ascii_digit());
    if !digits || !matches!(adcode.len(), 6 | 12) {
        return Err(SimCarrierError::InvalidRequest(format!(
            "{field} must be 6 or 12 digits, got {adcode:?}"
        )));
    }
    Ok(())
}

/// A time must print as RFC 3339, or its event could not be sent.
pub(crate) fn check_time(ms: i64) -> Result<(), SimCarrierError> {
    match rfc3339::format_ms(ms) {
        Some(_) => Ok(()),
        None => Err(SimCarrierError::InvalidRequest(format!(
            "time {ms} ms is outside the years -9999..=9999"
        ))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const AT_MS: i64 = 1_718_726_400_000;
    const MINUTE_MS: i64 = 60_000;

    fn delays() -> Delays {
        Delays {
            pickup: 60,
            departure: 120,
            line_haul: 300,
            out_for_delivery: 400,
            delivery: 30,
            exception: 90,
            redelivery: 800,
            return_to_sender: 2_000,
        }
    }

    fn request(reference: &str) -> CreateWaybill {
        CreateWaybill {
            carrier: Carrier::Sf,
            reference: reference.to_string(),
            origin_adcode: "310114000000".to_string(),
            destination_adcode: "440305".to_string(),
            scenario: None,
        }
    }

    fn states(events: &[TrackingEvent]) -> Vec<TrackingState> {
        events.iter().map(|event| event.state).collect()
    }

    #[test]
    fn the_clock_plays_each_step_its_scaled_delay_after_the_previous_one() {
        let scale = TimeScale {
            real_ms_per_sim_minute: 10,
        };
        let mut book = Book::new(1, scale);
        let (waybill, _) = book.create(&request("r"), AT_MS, Scenario::Normal, &delays()).unwrap();

        assert_eq!(book.next_due_ms(), Some(AT_MS + 600));
        assert!(book.emit_due(AT_MS + 599).is_empty());
        let all = book.emit_due(AT_MS + 100_000);

        let times: Vec<i64> = all.iter().map(|event| event.occurred_at_ms).collect();
        assert_eq!(
            times,
            [AT_MS + 600, AT_MS + 1_800, AT_MS + 4_800, AT_MS + 8_800, AT_MS + 9_100]
        );
        assert_eq!(book.next_due_ms(), None);
        assert_eq!(book.tracking(&waybill.waybill_no).unwrap().next_state, None);
    }

    #[test]
    fn advance_spreads_events_before_its_time_but_not_before_the_creation() {
        let mut book = Book::new(1, TimeScale::MANUAL);
        let (waybill, _) = book.create(&request("r"), AT_MS, Scenario::Normal, &delays()).unwrap();
        assert_eq!(book.next_due_ms(), None, "manual mode schedules nothing");

        let at_ms = AT_MS + 1_000 * MINUTE_MS;
        let events = book
            .advance(&waybill.waybill_no, TrackingState::Delivered, at_ms)
            .unwrap();

        // Each earlier event is the next one's scripted gap before it: delivered 30 minutes after
        // out_for_delivery, which is 400 after in_transit, and so on.
        let minutes: Vec<i64> = events
            .iter()
            .map(|event| (event.occurred_at_ms - AT_MS) / MINUTE_MS)
            .collect();
        assert_eq!(minutes, [150, 270, 570, 970, 1_000]);
        let squeezed = {
            let (waybill, _) = book.create(&request("s"), AT_MS, Scenario::Normal, &delays()).unwrap();
            book.advance(&waybill.waybill_no, TrackingState::Delivered, AT_MS + MINUTE_MS)
                .unwrap()
        };
        let times: Vec<i64> = squeezed.iter().map(|event| event.occurred_at_ms).collect();
        assert_eq!(times, [AT_MS, AT_MS, AT_MS, AT_MS, AT_MS + MINUTE_MS]);
    }

    #[test]
    fn emit_adds_an_event_without_moving_the_script() {
        let mut book = Book::new(1, TimeScale::MANUAL);
        let (waybill, _) = book.create(&request("r"), AT_MS, Scenario::Normal, &delays()).unwrap();

        let exception = book
            .emit(&waybill.waybill_no, TrackingState::Exception, AT_MS + 5)
            .unwrap();
        let played = book
            .advance(&waybill.waybill_no, TrackingState::PickedUp, AT_MS + 9)
            .unwrap();

        assert_eq!(exception.event_id, format!("{}-1", waybill.waybill_no));
        assert_eq!(exception.occurred_at_ms, AT_MS + 5);
        assert_eq!(states(&played), [TrackingState::PickedUp]);
        assert_eq!(played[0].event_id, format!("{}-2", waybill.waybill_no));
    }

    #[test]
    fn advancing_a_stalled_script_plays_what_it_has_and_then_nothing() {
        let mut book = Book::new(1, TimeScale::MANUAL);
        let (waybill, _) = book
            .create(&request("r"), AT_MS, Scenario::StallAfterPickup, &delays())
            .unwrap();

        let first = book
            .advance(&waybill.waybill_no, TrackingState::Delivered, AT_MS)
            .unwrap();
        let second = book
            .advance(&waybill.waybill_no, TrackingState::Delivered, AT_MS)
            .unwrap();

        assert_eq!(states(&first), [TrackingState::PickedUp]);
        assert!(second.is_empty());
    }

    #[test]
    fn locations_follow_the_parcel_from_origin_to_destination() {
        let mut book = Book::new(1, TimeScale::MANUAL);
        let (waybill, _) = book
            .create(&request("r"), AT_MS, Scenario::Returned, &delays())
            .unwrap();

        let events = book
            .advance(&waybill.waybill_no, TrackingState::Returned, AT_MS)
            .unwrap();

        let locations: Vec<Option<&str>> = events.iter().map(|event| event.location.as_deref()).collect();
        assert_eq!(
            locations,
            [Some("上海市"), Some("上海市"), None, Some("深圳市"), Some("上海市")]
        );
    }

    #[test]
    fn a_bad_request_is_refused_and_records_nothing() {
        let mut book = Book::new(1, TimeScale::MANUAL);
        let bad = [
            request(""),
            request(&"x".repeat(REFERENCE_CHARS_MAX + 1)),
            CreateWaybill {
                origin_adcode: "3101".to_string(),
                ..request("r")
            },
            CreateWaybill {
                destination_adcode: "31011400000x".to_string(),
                ..request("r")
            },
        ];
        for request in bad {
            let answer = book.create(&request, AT_MS, Scenario::Normal, &delays());
            assert!(matches!(answer, Err(SimCarrierError::InvalidRequest(_))), "{request:?}");
        }
        assert!(book.waybills.is_empty());
    }
}
