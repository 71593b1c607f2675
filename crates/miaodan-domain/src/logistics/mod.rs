//! Logistics: what happens to a parcel after dispatch, until it is delivered or returned.
//!
//! Dispatch ([`crate::fulfillment`]) decides the warehouse, the carrier and the plan (pickup
//! and arrival); from then on the carrier is the source of truth, and it speaks through
//! tracking events that come late, twice, or out of order. This module turns them into:
//! - [`shipment`]: one [`Shipment`] per waybill, whose state and milestones are a function of
//!   the *set* of events received, whatever their arrival order, and its delivery estimate;
//! - [`sla`]: the package center's (包裹中心) rules — not picked up, not departed, stalled,
//!   promise at risk — read as [`Condition`]s at an instant, and the [`AlertBook`] that turns
//!   them into deduplicated alerts for merchants and buyers;
//! - [`work`]: people working those alerts (acknowledge, assign, note, resolve), kept on the
//!   alert so that the shard stays its one owner.
//!
//! **Architecture invariant:** like the rest of the core, nothing here reads a clock or does
//! IO. `now` is an argument; the shell feeds carrier events in, schedules the next SLA check
//! at [`sla::next_check`], and persists and publishes the alerts [`AlertBook::reconcile`]
//! returns.
//!
//! Glossary: the *promise* (`promised_by`) is what the buyer was told at checkout and never
//! moves; the *estimate* ([`Shipment::estimated_delivery`]) is our current belief and moves
//! with every delay.

mod book;
pub mod shipment;
pub mod sla;
pub mod work;

pub use book::{Command, CreateShipment, LogisticsBook, ParcelWaybill, RecordTracking, SetSlaRules, ShipOrder};
pub use shipment::{
    EventOutcome, EventRefusal, Shipment, ShipmentState, TrackingEvent, TrackingNote, Waybill, parse_waybill,
    valid_waybill,
};
pub use sla::{Alert, AlertBook, AlertKey, AlertLevel, AlertRule, Condition, SlaRules, conditions, next_check};
pub use work::{AlertAction, AlertWork, NoteText, StaffRef, WorkAlert, WorkRefusal, Worked, Worker};
