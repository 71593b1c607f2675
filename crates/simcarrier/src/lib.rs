//! simcarrier: a **carrier simulator** for SF-, JD- and ZTO-like express companies (simulated: the
//! names only say whose habits the simulation borrows), so that miaodan's logistics code meets a
//! carrier's real habits in tests and demos: waybill numbers in the carriers' shapes, idempotency by
//! the platform's shipment reference, tracking that follows a script (or stalls, detours, or goes
//! back to the sender), and tracking webhooks that arrive late, twice, swapped, or only after
//! retries, each signed.
//!
//! It runs in the platform's process ([`SimCarrier`]) or as a separate process
//! ([`run_standalone`], reached through [`SimCarrierClient::http`]). Both transports share one
//! implementation, so they answer the same. It knows nothing of miaodan.
//!
//! # Map
//! - [`model`]: the wire objects (`Waybill`, `TrackingEvent`, …), scenarios, time scale, fault knobs.
//! - `script`: each scenario's events and the simulated minutes between them, pure.
//! - `numbers`: waybill numbers from the seed and a counter, pure.
//! - `book`: waybills, their scripts and the schedule of timed events, pure: time and random draws
//!   come in as arguments.
//! - `simulator`: [`SimCarrier`], the async shell: wall clock, seeded draws, the clock task.
//! - `webhook`: background delivery in per-waybill lanes, with delays, duplicates, reordering,
//!   retries, counters and a record of every attempt.
//! - [`signature`]: the `Carrier-Signature` header, signing and verifying.
//! - `http`: the HTTP API ([`router`], [`serve`], [`run_standalone`]).
//! - `client`: [`SimCarrierClient`], one type over both transports.
//! - `cities`: the city a scan reports, from the first four digits of an adcode.
//! - [`tariff`]: the price list: a parcel's first weight (首重) and the rest (续重), pure.
//!
//! # Time
//! Script delays are simulated minutes; [`TimeScale`] turns them into real milliseconds and the
//! clock task plays each step when it is due, with `occurred_at` the instant it was due. Scale zero
//! is manual mode: events happen only through [`SimCarrier::advance`] (the script up to a state)
//! and [`SimCarrier::emit`] (any one event), at the times the caller gives.
//!
//! # Invariants
//! - A reference is bound to its first request forever: a retry gets the same waybill.
//! - Waybill numbers never repeat within a simulator, and the same seed and calls give the same
//!   numbers, scenarios, delays and faults.
//! - With the faults off, each waybill's events are delivered once each, in the order made.
//! - Delivering a webhook never blocks the call or the clock tick that made the event.
//!
//! ```
//! use simcarrier::{Carrier, Config, CreateWaybill, Faults, ScenarioOdds, SimCarrier, TimeScale, TrackingState};
//!
//! # tokio::runtime::Runtime::new().expect("a runtime").block_on(async {
//! let simcarrier = SimCarrier::new(Config {
//!     seed: 7,
//!     secret: b"whsec".to_vec(),
//!     webhook_url: None,
//!     time_scale: TimeScale::MANUAL,
//!     odds: ScenarioOdds::default(),
//!     faults: Faults::default(),
//! });
//! let request = CreateWaybill {
//!     carrier: Carrier::Sf,
//!     reference: "shipment-1".to_string(),
//!     origin_adcode: "310114000000".to_string(),
//!     destination_adcode: "440305000000".to_string(),
//!     scenario: None,
//! };
//! let waybill = simcarrier.create_waybill(request.clone()).await.expect("issued");
//! assert!(waybill.waybill_no.starts_with("SF"));
//! assert_eq!(simcarrier.create_waybill(request).await.expect("replayed"), waybill);
//!
//! let events = simcarrier
//!     .advance(&waybill.waybill_no, TrackingState::Departed, waybill.created_at_ms + 3_600_000)
//!     .await
//!     .expect("advanced");
//! let states: Vec<TrackingState> = events.iter().map(|event| event.state).collect();
//! assert_eq!(states, [TrackingState::PickedUp, TrackingState::Departed]);
//! assert_eq!(events[0].location.as_deref(), Some("上海市"));
//! # });
//! ```

mod book;
mod cities;
mod client;
mod error;
mod http;
pub mod model;
mod numbers;
mod script;
pub mod signature;
mod simulator;
pub mod tariff;
mod webhook;

pub use book::{UNSCRIPTED_EVENTS_PER_WAYBILL_MAX, WAYBILLS_MAX};
pub use client::SimCarrierClient;
pub use error::SimCarrierError;
pub use http::{REQUEST_BODY_BYTES_MAX, router, run_standalone, serve};
pub use model::{
    AdvanceRequest, Carrier, Config, CreateWaybill, DeliveryAttempt, DeliveryStats, EmitRequest, Faults,
    RedirectRequest, Scenario, ScenarioOdds, TimeScale, Tracking, TrackingEvent, TrackingState, Waybill, references,
};
pub use script::{
    DELIVERY_MINUTES, DEPARTURE_MINUTES, EXCEPTION_MINUTES, LINE_HAUL_MINUTES, OUT_FOR_DELIVERY_MINUTES,
    PICKUP_MINUTES, REDELIVERY_MINUTES, RETURN_MINUTES,
};
pub use signature::{SIGNATURE_HEADER, SignatureError};
pub use simulator::SimCarrier;
pub use tariff::{Quote, QuoteRequest};
pub use webhook::{
    DELIVERY_ATTEMPT_TIMEOUT_MS, DELIVERY_ATTEMPTS_IN_FLIGHT_MAX, DELIVERY_ATTEMPTS_MAX,
    DELIVERY_ATTEMPTS_RECORDED_MAX, DELIVERY_DELAY_MS_MAX, REORDER_HOLD_MS_MAX, RETRY_BACKOFF_FIRST_MS,
};
