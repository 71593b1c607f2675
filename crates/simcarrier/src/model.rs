//! The simulated carriers' objects as they cross the wire: waybills, tracking events (the webhook
//! body), the requests that create and move them, the scenario odds, the time scale and the fault
//! knobs. Times are unix milliseconds inside the simulator and in its own API objects, and RFC 3339
//! UTC strings where a carrier would send text (`occurred_at` in a tracking event, `at` and
//! `occurred_at` in the manual-control requests).

use serde::{Deserialize, Serialize};
use std::fmt;

/// References with a scripted scenario, like a payment provider's test card numbers: a reference
/// that *starts with* one of these follows that scenario unless the request names one. A prefix
/// (not the whole reference) so that many shipments of a test can share a scenario and still each
/// have their own idempotency key: `sim_returned-1`, `sim_returned-2`.
pub mod references {
    pub const NORMAL: &str = "sim_normal";
    pub const NEVER_PICKED_UP: &str = "sim_never_picked_up";
    pub const STALL_AFTER_PICKUP: &str = "sim_stall_after_pickup";
    pub const STUCK_BEFORE_DEPARTURE: &str = "sim_stuck_before_departure";
    pub const EXCEPTION_THEN_DELIVERED: &str = "sim_exception_then_delivered";
    pub const RETURNED: &str = "sim_returned";
}

/// The longest shipment reference accepted.
pub const REFERENCE_CHARS_MAX: usize = 64;

/// A simulated express company. None of them is the real one: the names only say whose habits
/// (waybill number shapes) the simulation borrows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Carrier {
    /// SF-like express (simulated): waybills `SF` + 12 digits.
    Sf,
    /// JD-like logistics (simulated): waybills `JDV` + 12 digits.
    Jd,
    /// ZTO-like express (simulated): waybills of 12 digits starting with `7`.
    Zto,
}

impl Carrier {
    pub const ALL: [Carrier; 3] = [Carrier::Sf, Carrier::Jd, Carrier::Zto];

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Carrier::Sf => "sf",
            Carrier::Jd => "jd",
            Carrier::Zto => "zto",
        }
    }

    pub fn parse(raw: &str) -> Option<Carrier> {
        Carrier::ALL.into_iter().find(|carrier| carrier.as_str() == raw)
    }

    /// A display name that says it is a simulation.
    pub fn display_name(self) -> &'static str {
        match self {
            Carrier::Sf => "SF-like express (simulated)",
            Carrier::Jd => "JD-like logistics (simulated)",
            Carrier::Zto => "ZTO-like express (simulated)",
        }
    }
}

/// What a tracking event reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackingState {
    /// The courier collected the parcel from the sender (揽收).
    PickedUp,
    /// The parcel left the origin sorting centre (发出).
    Departed,
    /// The parcel is on the line haul between cities (运输中).
    InTransit,
    /// A courier is on the way to the recipient (派送中).
    OutForDelivery,
    /// The recipient signed for it (签收). Final.
    Delivered,
    /// Something went wrong: address, weather, refusal (异常).
    Exception,
    /// The parcel went back to the sender (退回). Final.
    Returned,
}

impl TrackingState {
    pub const ALL: [TrackingState; 7] = [
        TrackingState::PickedUp,
        TrackingState::Departed,
        TrackingState::InTransit,
        TrackingState::OutForDelivery,
        TrackingState::Delivered,
        TrackingState::Exception,
        TrackingState::Returned,
    ];

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TrackingState::PickedUp => "picked_up",
            TrackingState::Departed => "departed",
            TrackingState::InTransit => "in_transit",
            TrackingState::OutForDelivery => "out_for_delivery",
            TrackingState::Delivered => "delivered",
            TrackingState::Exception => "exception",
            TrackingState::Returned => "returned",
        }
    }

    pub fn parse(raw: &str) -> Option<TrackingState> {
        TrackingState::ALL.into_iter().find(|state| state.as_str() == raw)
    }
}

/// The tracking script a waybill follows. Each one is a way real parcels behave that the platform
/// must notice: a parcel never collected, tracking that goes silent, a detour, a return.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    /// picked_up → departed → in_transit → out_for_delivery → delivered.
    Normal,
    /// No event ever: the courier never comes.
    NeverPickedUp,
    /// picked_up, then the tracking goes silent for good (the parcel is lost to the scans).
    StallAfterPickup,
    /// picked_up, then the parcel sits at the origin outlet and never departs. The events are the
    /// same as `StallAfterPickup`'s; the story differs, and a platform cannot tell them apart from
    /// the tracking alone, which is exactly what its stall detection must cope with.
    StuckBeforeDeparture,
    /// picked_up → departed → in_transit → exception → out_for_delivery → delivered.
    ExceptionThenDelivered,
    /// picked_up → departed → in_transit → exception → returned.
    Returned,
}

impl Scenario {
    pub const ALL: [Scenario; 6] = [
        Scenario::Normal,
        Scenario::NeverPickedUp,
        Scenario::StallAfterPickup,
        Scenario::StuckBeforeDeparture,
        Scenario::ExceptionThenDelivered,
        Scenario::Returned,
    ];

    /// The scenario a magic reference asks for, if it starts with one of [`references`].
    pub fn from_reference(reference: &str) -> Option<Scenario> {
        let table = [
            (references::NORMAL, Scenario::Normal),
            (references::NEVER_PICKED_UP, Scenario::NeverPickedUp),
            (references::STALL_AFTER_PICKUP, Scenario::StallAfterPickup),
            (references::STUCK_BEFORE_DEPARTURE, Scenario::StuckBeforeDeparture),
            (references::EXCEPTION_THEN_DELIVERED, Scenario::ExceptionThenDelivered),
            (references::RETURNED, Scenario::Returned),
        ];
        table
            .into_iter()
            .find(|(prefix, _)| reference.starts_with(prefix))
            .map(|(_, scenario)| scenario)
    }
}

/// The body of `POST /waybills`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateWaybill {
    pub carrier: Carrier,
    /// The platform's shipment reference: the idempotency key. The same reference always gets the
    /// same waybill; with different parameters it is a `reference_conflict`.
    pub reference: String,
    /// Administrative division codes, 6 or 12 digits (`310101` or `310101000000`); their first four
    /// digits name the city that the events' `location` reports.
    pub origin_adcode: String,
    pub destination_adcode: String,
    /// The script to follow; none means the reference's magic prefix or, failing that, a seeded draw
    /// with the configured [`ScenarioOdds`].
    #[serde(default)]
    pub scenario: Option<Scenario>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waybill {
    pub carrier: Carrier,
    /// The carrier's number, e.g. `SF104739201385`.
    pub waybill_no: String,
    pub reference: String,
    pub created_at_ms: i64,
}

/// A tracking event: the webhook body, byte for byte as serialized here.
///
/// ```json
/// {"carrier":"sf","waybill_no":"SF104739201385","event_id":"SF104739201385-1","state":"picked_up",
///  "occurred_at":"2024-06-18T16:00:00Z","location":"上海市"}
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackingEvent {
    pub carrier: Carrier,
    pub waybill_no: String,
    /// `<waybill_no>-<n>`, n counting the waybill's events from 1: unique per event, and the
    /// receiver's deduplication key, since an event may arrive twice.
    pub event_id: String,
    pub state: TrackingState,
    /// When the event happened, which is not when it is delivered.
    #[serde(rename = "occurred_at", with = "rfc3339")]
    pub occurred_at_ms: i64,
    /// The city of the scan, or `null` (on the line haul, or an adcode without a known city).
    pub location: Option<String>,
}

/// What the simulator knows about one waybill, for `GET /waybills/{no}`. A real carrier would not
/// tell the scenario; a simulator's operator needs it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tracking {
    pub waybill: Waybill,
    pub origin_adcode: String,
    pub destination_adcode: String,
    pub scenario: Scenario,
    /// Every event emitted so far, scripted or not, in the order emitted.
    pub events: Vec<TrackingEvent>,
    /// The script's next state, none when the script has ended.
    pub next_state: Option<TrackingState>,
    /// When the clock will emit `next_state`; none in manual mode or at the script's end.
    pub next_due_at_ms: Option<i64>,
}

/// The body of `POST /waybills/{no}/redirect`: deliver the parcel to this division instead
/// (refused once the carrier has collected it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedirectRequest {
    pub destination_adcode: String,
}

/// The body of `POST /waybills/{no}/advance`: play the script up to `state`, the last event at
/// `at` (RFC 3339; the simulator's clock when absent).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdvanceRequest {
    pub state: TrackingState,
    #[serde(default, with = "rfc3339::option", skip_serializing_if = "Option::is_none")]
    pub at: Option<i64>,
}

/// The body of `POST /waybills/{no}/events`: one event outside the script.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmitRequest {
    pub state: TrackingState,
    #[serde(with = "rfc3339")]
    pub occurred_at: i64,
}

/// How simulated time maps to real time. Script delays are in simulated minutes; a timed event is
/// due `delay × real_ms_per_sim_minute` real milliseconds after the previous one. Zero is manual
/// mode: nothing happens until `advance` or `emit` says so.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeScale {
    pub real_ms_per_sim_minute: u64,
}

impl TimeScale {
    /// Only `advance` and `emit` make events.
    pub const MANUAL: TimeScale = TimeScale {
        real_ms_per_sim_minute: 0,
    };
    /// A simulated minute is a minute: a parcel takes a day or two, as a real one does.
    pub const REAL_TIME: TimeScale = TimeScale {
        real_ms_per_sim_minute: 60_000,
    };

    pub fn is_manual(self) -> bool {
        self.real_ms_per_sim_minute == 0
    }

    /// The real milliseconds of `minutes` simulated minutes, saturating.
    pub fn real_ms(self, minutes: u32) -> i64 {
        let ms = self.real_ms_per_sim_minute.saturating_mul(u64::from(minutes));
        i64::try_from(ms).unwrap_or(i64::MAX)
    }
}

/// How often a waybill without a requested or magic scenario draws each troubled scenario, in whole
/// percent; the rest is `Normal`. The draws are taken in the order of the fields, so if they add up
/// to more than 100 the later ones get what is left (possibly nothing).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioOdds {
    #[serde(default)]
    pub never_picked_up_percent: u8,
    #[serde(default)]
    pub stall_after_pickup_percent: u8,
    #[serde(default)]
    pub stuck_before_departure_percent: u8,
    #[serde(default)]
    pub exception_then_delivered_percent: u8,
    #[serde(default)]
    pub returned_percent: u8,
}

/// Webhook misbehaviour injected on purpose, drawn from the seeded RNG. Percentages are whole
/// numbers; above 100 acts as 100. All zero (the default) delivers every event once, in the order
/// of each waybill's events, as soon as it is made.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Faults {
    /// Share of events delivered twice (the second copy after the first is done), same `event_id`.
    #[serde(default)]
    pub duplicate_percent: u8,
    /// Share of events held back and delivered after the waybill's next event. A held event waits
    /// at most `REORDER_HOLD_MS_MAX` for that next event, then goes on its own: events made
    /// together (one `advance`, or a fast time scale) arrive swapped, while events far apart in
    /// real time arrive late but in order.
    #[serde(default)]
    pub reorder_percent: u8,
    /// Each delivery waits a random 0..=this before its first attempt (capped at
    /// `DELIVERY_DELAY_MS_MAX`). Events of a waybill still keep their order.
    #[serde(default)]
    pub delay_ms_max: u64,
}

#[derive(Clone)]
pub struct Config {
    /// Seeds waybill numbers, scenario draws, script delays and faults: the same seed and the same
    /// calls give the same simulation.
    pub seed: u64,
    /// The webhook signing secret shared with the platform.
    pub secret: Vec<u8>,
    /// Where events are POSTed; none means events are recorded but not delivered.
    pub webhook_url: Option<String>,
    pub time_scale: TimeScale,
    pub odds: ScenarioOdds,
    pub faults: Faults,
}

impl fmt::Debug for Config {
    // The secret stays out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("seed", &self.seed)
            .field("secret", &"<redacted>")
            .field("webhook_url", &self.webhook_url)
            .field("time_scale", &self.time_scale)
            .field("odds", &self.odds)
            .field("faults", &self.faults)
            .finish()
    }
}

/// Webhook delivery counters, cumulative since start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryStats {
    /// HTTP attempts made, retries and duplicates included.
    pub sent: u64,
    /// Copies acknowledged with a 2xx (a duplicate copy counts on its own).
    pub delivered: u64,
    /// Extra copies made by the duplicate fault.
    pub duplicates_sent: u64,
    /// Events held back by the reorder fault.
    pub held: u64,
    /// Copies abandoned after the last retry.
    pub gave_up: u64,
    /// Events planned and not yet delivered or abandoned; zero means the webhook queue is quiet.
    pub pending: u64,
}

/// One HTTP attempt to deliver one copy of one event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryAttempt {
    pub event_id: String,
    pub waybill_no: String,
    /// 1 for the event's first copy, 2 for the duplicate fault's second.
    pub copy: u8,
    /// 1 for the first attempt of the copy, counting retries.
    pub attempt: u32,
    /// When the attempt was answered or failed.
    pub at_ms: i64,
    /// The receiver's HTTP status; none when there was no answer (refused, reset, timed out).
    pub status: Option<u16>,
    pub acknowledged: bool,
}

/// RFC 3339 UTC text for unix milliseconds, as the carriers' JSON spells times, usable with
/// `#[serde(with = "simcarrier::model::rfc3339")]`. Whole seconds print without a fraction
/// (`2024-06-18T16:00:00Z`), others with milliseconds (`2024-06-18T16:00:00.25Z`); both parse back
/// to the same milliseconds.
pub mod rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer};

    /// The text of `ms`, or none outside the years -9999..=9999.
    pub fn format_ms(ms: i64) -> Option<String> {
        let timestamp = jiff::Timestamp::from_millisecond(ms).ok()?;
        Some(timestamp.to_string())
    }

    /// The milliseconds of an RFC 3339 time with any offset; sub-millisecond digits are truncated.
    pub fn parse_ms(text: &str) -> Option<i64> {
        let timestamp: jiff::Timestamp = text.parse().ok()?;
        Some(timestamp.as_millisecond())
    }

    pub fn serialize<S: Serializer>(ms: &i64, serializer: S) -> Result<S::Ok, S::Error> {
        let text = format_ms(*ms).ok_or_else(|| serde::ser::Error::custom("time out of range"))?;
        serializer.serialize_str(&text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_ms(&text).ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 time: {text:?}")))
    }

    /// The same for an optional time; `null` or an absent field is none.
    pub mod option {
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(ms: &Option<i64>, serializer: S) -> Result<S::Ok, S::Error> {
            match ms {
                Some(ms) => super::serialize(ms, serializer),
                None => serializer.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
            match Option::<String>::deserialize(deserializer)? {
                Some(text) => super::parse_ms(&text)
                    .map(Some)
                    .ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 time: {text:?}"))),
                None => Ok(None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_as_rfc3339_utc_and_parse_back_to_the_same_milliseconds() {
        assert_eq!(
            rfc3339::format_ms(1_718_726_400_000).as_deref(),
            Some("2024-06-18T16:00:00Z")
        );
        for ms in [0, 1_718_726_400_250, 1_718_726_400_001, -1] {
            let text = rfc3339::format_ms(ms).expect("in range");
            assert_eq!(rfc3339::parse_ms(&text), Some(ms), "{text}");
        }
        assert_eq!(rfc3339::parse_ms("2024-06-19T00:00:00+08:00"), Some(1_718_726_400_000));
        assert_eq!(rfc3339::parse_ms("yesterday"), None);
    }

    #[test]
    fn a_magic_reference_prefix_names_its_scenario() {
        assert_eq!(Scenario::from_reference("sim_returned-7"), Some(Scenario::Returned));
        assert_eq!(Scenario::from_reference("sim_normal"), Some(Scenario::Normal));
        assert_eq!(
            Scenario::from_reference("sim_stall_after_pickup"),
            Some(Scenario::StallAfterPickup)
        );
        assert_eq!(Scenario::from_reference("shipment-1"), None);
    }
}
