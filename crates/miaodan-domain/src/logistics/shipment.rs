//! Shipments: one carrier waybill of an order, leaving one warehouse, and the tracking events
//! the carrier reports about it.
//!
//! Carriers deliver their events at least once and in no particular order: the same scan may
//! be pushed twice, and a "delivered" scan may overtake the "in transit" one that preceded it.
//! A [`Shipment`] therefore keeps every applied event, sorted in event time, and derives its
//! state and milestones from that sorted list alone. Invariants, asserted on every change:
//! - the shipment is a function of the *set* of its applied events (event ids are the identity):
//!   the same events applied in any order, with any duplicates, give an identical shipment;
//! - `events` is strictly sorted by [`TrackingEvent::sort_key`] and holds each `event_id` once;
//! - `version` is the number of applied events, so it too is order-independent;
//! - a terminal state (delivered or returned) is final in event time: nothing after it moves
//!   the shipment back.

use crate::catalog::Text;
use crate::fulfillment::network::CarrierId;
use crate::ids::{OrderId, ShipmentId, ShopId, WarehouseId};
use crate::time::Timestamp;

/// How far in the future (relative to `now`) an event may claim to have happened. Carrier
/// scanners' clocks drift a little; an event further ahead is a broken clock, and accepting it
/// would freeze the shipment's state behind an instant that has not come yet.
pub const EVENT_CLOCK_SKEW_MS: i64 = 5 * 60 * 1000;
/// How long before the shipment was created an event may claim to have happened. The waybill
/// is sometimes printed and scanned a little before our record of it is committed; anything
/// older belongs to another parcel (a reused waybill) and is refused.
pub const EVENT_BEFORE_SHIPMENT_MS: i64 = 60 * 60 * 1000;
/// How much later than now a parcel in an exception is expected, at the least: an exception
/// (damaged label, failed delivery attempt, customs hold) costs the carrier about a day.
pub const EXCEPTION_DELAY_MS: i64 = 24 * 60 * 60 * 1000;
/// The longest carrier event id accepted.
pub const EVENT_ID_CHARS_MAX: usize = 64;
/// The most events one shipment keeps. A real parcel has a few dozen scans; a carrier that
/// sends more is looping, and its further events are refused ([`EventRefusal::TooManyEvents`])
/// so that one shipment cannot grow without bound. Past this limit, which events were kept
/// depends on their arrival order — the one place where order independence gives way.
pub const EVENTS_PER_SHIPMENT_MAX: usize = 200;
/// The shortest waybill number accepted.
pub const WAYBILL_CHARS_MIN: usize = 6;
/// The longest waybill number accepted (the size of [`Waybill`]).
pub const WAYBILL_CHARS_MAX: usize = 40;

/// A carrier's waybill number (运单号). Build it with [`parse_waybill`].
pub type Waybill = Text<WAYBILL_CHARS_MAX>;
/// Free text a carrier attaches to an event, such as the sorting center it was scanned at.
pub type TrackingNote = Text<200>;

/// Whether `raw` is a waybill number: 6 to 40 ASCII letters, digits and dashes. Every carrier
/// we integrate with uses a subset of these; anything else is a typo or an injection attempt.
pub fn valid_waybill(raw: &str) -> bool {
    (WAYBILL_CHARS_MIN..=WAYBILL_CHARS_MAX).contains(&raw.len())
        && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Parses a waybill number ([`valid_waybill`]).
pub fn parse_waybill(raw: &str) -> Option<Waybill> {
    if !valid_waybill(raw) {
        return None;
    }
    Waybill::parse(raw).ok()
}

/// Whether `raw` is a carrier event id: 1 to 64 visible ASCII characters. Spaces are refused
/// too: the id is the dedup key, and `"a1"` and `"a1 "` must not be two events.
pub fn valid_event_id(raw: &str) -> bool {
    (1..=EVENT_ID_CHARS_MAX).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic())
}

/// Where a parcel is. `Created` is the state before the carrier has reported anything; every
/// other state is reported by a [`TrackingEvent`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ShipmentState {
    /// The waybill exists; the carrier has not collected the parcel yet.
    Created,
    /// The carrier collected the parcel from the warehouse (揽收).
    PickedUp,
    /// The parcel left the origin sorting center (发出).
    Departed,
    InTransit,
    /// A courier has the parcel for the last mile (派送中).
    OutForDelivery,
    Delivered,
    /// Something went wrong on the way; the parcel is stuck until the carrier resolves it.
    Exception,
    /// The parcel went back to the warehouse (退回).
    Returned,
}

impl ShipmentState {
    pub const ALL: [ShipmentState; 8] = [
        ShipmentState::Created,
        ShipmentState::PickedUp,
        ShipmentState::Departed,
        ShipmentState::InTransit,
        ShipmentState::OutForDelivery,
        ShipmentState::Delivered,
        ShipmentState::Exception,
        ShipmentState::Returned,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            ShipmentState::Created => "created",
            ShipmentState::PickedUp => "picked_up",
            ShipmentState::Departed => "departed",
            ShipmentState::InTransit => "in_transit",
            ShipmentState::OutForDelivery => "out_for_delivery",
            ShipmentState::Delivered => "delivered",
            ShipmentState::Exception => "exception",
            ShipmentState::Returned => "returned",
        }
    }

    pub fn parse(raw: &str) -> Option<ShipmentState> {
        ShipmentState::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Delivered and returned parcels are done: no later event changes their state.
    pub const fn is_terminal(self) -> bool {
        matches!(self, ShipmentState::Delivered | ShipmentState::Returned)
    }

    /// How far along the journey the state is. Two events at the same instant are ordered by
    /// it, so "picked up" and "departed" scanned in the same second read in journey order. An
    /// exception happens on the way, so it ranks with "in transit".
    pub const fn stage_rank(self) -> u8 {
        match self {
            ShipmentState::Created => 0,
            ShipmentState::PickedUp => 1,
            ShipmentState::Departed => 2,
            ShipmentState::InTransit | ShipmentState::Exception => 3,
            ShipmentState::OutForDelivery => 4,
            ShipmentState::Delivered | ShipmentState::Returned => 5,
        }
    }

    /// Whether an event in this state shows that the parcel has left the origin. An exception
    /// may happen before departure, and a parcel may be returned without ever leaving.
    const fn implies_departure(self) -> bool {
        matches!(
            self,
            ShipmentState::Departed
                | ShipmentState::InTransit
                | ShipmentState::OutForDelivery
                | ShipmentState::Delivered
        )
    }
}

/// One scan or status report of the carrier about a shipment.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TrackingEvent {
    /// The carrier's own id of the event: the dedup key ([`valid_event_id`]).
    pub event_id: String,
    /// The state the event reports; never `Created`.
    pub state: ShipmentState,
    /// When it happened, by the carrier's clock.
    pub occurred_at: Timestamp,
    pub location: Option<TrackingNote>,
    /// When we received it. Only informative: ordering is by `occurred_at`.
    pub received_at: Timestamp,
}

impl TrackingEvent {
    /// The order of events in a shipment: event time, then journey stage, then the event id,
    /// so that the order is total and the same whatever order the events arrived in.
    pub fn sort_key(&self) -> (Timestamp, u8, &str) {
        (self.occurred_at, self.state.stage_rank(), &self.event_id)
    }
}

/// What applying an event did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum EventOutcome {
    /// Recorded, and it now decides the shipment's state (it is the newest event, or the
    /// first terminal one).
    Applied,
    /// The same `event_id` was applied before: nothing changes (even if this copy differs).
    Duplicate,
    /// Recorded and its milestones filled, but it does not decide the state: it is older
    /// than the newest event, or it comes after the shipment was already delivered or returned.
    LateApplied,
}

/// Why an event was refused, in the order the checks are made (after the duplicate check:
/// an event applied before is a [`EventOutcome::Duplicate`] whatever else is true of it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum EventRefusal {
    /// `Created` is the state before any event; a carrier cannot report it.
    CreatedIsNotAnEvent,
    /// `occurred_at` is more than [`EVENT_CLOCK_SKEW_MS`] after `now`.
    InTheFuture,
    /// `occurred_at` is more than [`EVENT_BEFORE_SHIPMENT_MS`] before the shipment was created.
    BeforeShipment,
    /// The event id is not 1 to 64 visible ASCII characters.
    BadEventId,
    /// The shipment already holds [`EVENTS_PER_SHIPMENT_MAX`] events.
    TooManyEvents,
}

impl EventRefusal {
    pub fn as_str(self) -> &'static str {
        match self {
            EventRefusal::CreatedIsNotAnEvent => "created_is_not_an_event",
            EventRefusal::InTheFuture => "in_the_future",
            EventRefusal::BeforeShipment => "before_shipment",
            EventRefusal::BadEventId => "bad_event_id",
            EventRefusal::TooManyEvents => "too_many_events",
        }
    }
}

/// One parcel of an order on its way, with what dispatch planned for it and what the carrier
/// reported. Everything from `state` to `version` is derived from `events`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shipment {
    pub id: ShipmentId,
    pub order: OrderId,
    pub shop: ShopId,
    pub warehouse: WarehouseId,
    pub carrier: CarrierId,
    pub waybill: Waybill,
    pub state: ShipmentState,
    pub created_at: Timestamp,
    /// When dispatch planned the carrier to collect the parcel.
    pub planned_pickup_at: Timestamp,
    /// Dispatch's estimate of arrival, given a pickup on time.
    pub planned_delivery_by: Timestamp,
    /// The order's delivery promise to the buyer; `None` if it was sold without one.
    pub promised_by: Option<Timestamp>,
    /// The earliest event: any report from the carrier means it has the parcel.
    pub picked_up_at: Option<Timestamp>,
    /// The earliest event showing the parcel left the origin (departed or anything later on
    /// the journey to the buyer).
    pub departed_at: Option<Timestamp>,
    pub delivered_at: Option<Timestamp>,
    pub returned_at: Option<Timestamp>,
    /// The latest `occurred_at` of any event, or `created_at` before the first one.
    pub last_movement_at: Timestamp,
    /// The applied events, strictly sorted by [`TrackingEvent::sort_key`].
    pub events: Vec<TrackingEvent>,
    /// The number of applied events: +1 per event that was not a duplicate.
    pub version: i64,
}

impl Shipment {
    // The parameters are the shipment's own facts as dispatch decided them; grouping them in a
    // struct would only rename the same ten fields.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: ShipmentId,
        order: OrderId,
        shop: ShopId,
        warehouse: WarehouseId,
        carrier: CarrierId,
        waybill: Waybill,
        created_at: Timestamp,
        planned_pickup_at: Timestamp,
        planned_delivery_by: Timestamp,
        promised_by: Option<Timestamp>,
    ) -> Shipment {
        Shipment {
            id,
            order,
            shop,
            warehouse,
            carrier,
            waybill,
            state: ShipmentState::Created,
            created_at,
            planned_pickup_at,
            planned_delivery_by,
            promised_by,
            picked_up_at: None,
            departed_at: None,
            delivered_at: None,
            returned_at: None,
            last_movement_at: created_at,
            events: Vec::new(),
            version: 0,
        }
    }

    pub fn is_terminal(&self) -> bool {
        self.state.is_terminal()
    }

    /// Records a carrier event, once, in event-time order, and derives the state and the
    /// milestones again from all the events.
    pub fn apply_event(&mut self, event: TrackingEvent, now: Timestamp) -> Result<EventOutcome, EventRefusal> {
        if self.events.iter().any(|e| e.event_id == event.event_id) {
            return Ok(EventOutcome::Duplicate);
        }
        self.check(&event, now)?;
        let position = self.events.partition_point(|e| e.sort_key() < event.sort_key());
        self.events.insert(position, event);
        self.version += 1;
        self.derive_from_events();
        Ok(if self.deciding_index() == Some(position) {
            EventOutcome::Applied
        } else {
            EventOutcome::LateApplied
        })
    }

    fn check(&self, event: &TrackingEvent, now: Timestamp) -> Result<(), EventRefusal> {
        if event.state == ShipmentState::Created {
            return Err(EventRefusal::CreatedIsNotAnEvent);
        }
        if event.occurred_at > plus_ms(now, EVENT_CLOCK_SKEW_MS) {
            return Err(EventRefusal::InTheFuture);
        }
        if event.occurred_at < plus_ms(self.created_at, -EVENT_BEFORE_SHIPMENT_MS) {
            return Err(EventRefusal::BeforeShipment);
        }
        if !valid_event_id(&event.event_id) {
            return Err(EventRefusal::BadEventId);
        }
        if self.events.len() >= EVENTS_PER_SHIPMENT_MAX {
            return Err(EventRefusal::TooManyEvents);
        }
        Ok(())
    }

    /// The index of the event that decides the state: the first terminal event in event time
    /// (a terminal state is final), otherwise the newest event.
    fn deciding_index(&self) -> Option<usize> {
        self.events
            .iter()
            .position(|e| e.state.is_terminal())
            .or(self.events.len().checked_sub(1))
    }

    /// Recomputes every derived field from the sorted events. Deriving from the whole list,
    /// rather than updating from the last event, is what makes the result independent of the
    /// order the events arrived in.
    fn derive_from_events(&mut self) {
        assert!(
            self.events.windows(2).all(|w| w[0].sort_key() < w[1].sort_key()),
            "shipment {} events out of order or duplicated",
            self.id
        );
        let first_in =
            |wanted: fn(ShipmentState) -> bool| self.events.iter().find(|e| wanted(e.state)).map(|e| e.occurred_at);
        let departed_at = first_in(ShipmentState::implies_departure);
        let delivered_at = first_in(|s| s == ShipmentState::Delivered);
        let returned_at = first_in(|s| s == ShipmentState::Returned);
        self.state = self
            .deciding_index()
            .map_or(ShipmentState::Created, |i| self.events[i].state);
        // Events are sorted by event time first, so the first is the earliest and the last the latest.
        self.picked_up_at = self.events.first().map(|e| e.occurred_at);
        self.last_movement_at = self.events.last().map_or(self.created_at, |e| e.occurred_at);
        self.departed_at = departed_at;
        self.delivered_at = delivered_at;
        self.returned_at = returned_at;
        assert_eq!(
            usize::try_from(self.version).ok(),
            Some(self.events.len()),
            "version counts the events"
        );
    }

    /// When the parcel is expected at the buyer's: when it arrived, once delivered; otherwise
    /// dispatch's plan, late by as much as the pickup was (or, before pickup, is already) late.
    /// A parcel in an exception is expected no sooner than [`EXCEPTION_DELAY_MS`] from now.
    pub fn estimated_delivery(&self, now: Timestamp) -> Timestamp {
        if let (ShipmentState::Delivered, Some(delivered_at)) = (self.state, self.delivered_at) {
            return delivered_at;
        }
        let pickup = self.picked_up_at.unwrap_or(now.max(self.planned_pickup_at));
        let delay_ms = ms_between(self.planned_pickup_at, pickup).max(0);
        let planned = plus_ms(self.planned_delivery_by, delay_ms);
        if self.state == ShipmentState::Exception {
            planned.max(plus_ms(now, EXCEPTION_DELAY_MS))
        } else {
            planned
        }
    }
}

/// `at` moved by `ms` milliseconds (either way), saturating at the ends of time.
pub(crate) fn plus_ms(at: Timestamp, ms: i64) -> Timestamp {
    Timestamp::from_unix_ms(at.unix_ms().saturating_add(ms))
}

/// Milliseconds from `from` to `to` (negative if `to` is earlier), saturating.
pub(crate) fn ms_between(from: Timestamp, to: Timestamp) -> i64 {
    to.unix_ms().saturating_sub(from.unix_ms())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_ranks_follow_the_journey() {
        use ShipmentState::*;
        let journey = [Created, PickedUp, Departed, InTransit, OutForDelivery, Delivered];
        assert!(journey.windows(2).all(|w| w[0].stage_rank() < w[1].stage_rank()));
        assert_eq!(Exception.stage_rank(), InTransit.stage_rank());
        assert_eq!(Returned.stage_rank(), Delivered.stage_rank());
    }

    #[test]
    fn states_round_trip_through_their_wire_names() {
        for state in ShipmentState::ALL {
            assert_eq!(ShipmentState::parse(state.as_str()), Some(state));
        }
        assert_eq!(ShipmentState::parse("lost"), None);
    }

    #[test]
    fn event_ids_are_visible_ascii_without_spaces() {
        assert!(valid_event_id("SF-20261123-0001"));
        assert!(valid_event_id(&"x".repeat(EVENT_ID_CHARS_MAX)));
        assert!(!valid_event_id(""));
        assert!(!valid_event_id(&"x".repeat(EVENT_ID_CHARS_MAX + 1)));
        assert!(!valid_event_id("a b"));
        assert!(!valid_event_id("扫描1"));
    }
}
