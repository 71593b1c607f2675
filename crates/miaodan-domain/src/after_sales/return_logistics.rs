//! Return logistics: the platform books an approved return's pickup with a carrier, and the
//! carrier's signed tracking events for that waybill move the request on.
//!
//! The shell asks the carrier for the waybill and its price (IO), then [`BookReturnPickup`]
//! records them on the request. Each event of the return waybill is a
//! [`RecordReturnTracking`]: applied once, in event-time order, through the logistics
//! capability's [`Shipment`] model. At the first scan the flash-refund rules decide again with
//! `return_scanned_at` set (闪电退款: refund now, before the parcel arrives, when they trust the
//! buyer); what only the database holds (when the order was delivered, the buyer's history)
//! comes with the command, the policy is the shard's own.

use super::book::AfterSalesBook;
use super::commands::{AfterSalesBooks, AfterSalesRefusal, SavedRequest, settle_step};
use super::request::{ReturnPickup, Stage};
use super::rules::{self, BuyerRecord, Facts, Parcels};
use crate::fulfillment::network::CarrierId;
use crate::ids::{AfterSalesId, ShipmentId, WarehouseId};
use crate::logistics::shipment::{EventOutcome, Shipment, TrackingEvent, Waybill};
use crate::shard::{Effect, Outcome, Rejection};
use crate::{Fen, Timestamp};

const HOUR_MS: i64 = 3_600_000;

/// The platform booked the pickup of an approved return: the carrier issued `waybill` for a
/// parcel from the buyer's address to `warehouse` and quoted its price.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BookReturnPickup {
    pub id: AfterSalesId,
    /// The id the return parcel is tracked under (from the shipments' id space).
    pub shipment: ShipmentId,
    pub carrier: CarrierId,
    pub waybill: Waybill,
    /// Where the units go back to: the warehouse they were sold from.
    pub warehouse: WarehouseId,
    pub first_weight: Fen,
    pub additional: Fen,
}

/// A carrier's tracking event for a return waybill the platform booked, with the facts the
/// rules read at the carrier's first scan.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RecordReturnTracking {
    pub id: AfterSalesId,
    pub event: TrackingEvent,
    /// When the order's last parcel reached the buyer, as the carrier reported it.
    pub delivered_at: Option<Timestamp>,
    pub buyer_record: BuyerRecord,
}

/// What a return tracking event did: the request as it stands and whether the event was new.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReturnTracked {
    pub saved: SavedRequest,
    pub applied: EventOutcome,
}

fn unknown_request() -> Rejection {
    Rejection::AfterSales(AfterSalesRefusal::UnknownRequest)
}

/// Records the booked pickup on an awaited return (refused once the buyer sent the parcel or
/// the return moved on; the same waybill again changes nothing).
pub(crate) fn book_pickup(book: &mut AfterSalesBook, c: BookReturnPickup, now: Timestamp) -> Result<(), Rejection> {
    let request = book.request(c.id).ok_or_else(unknown_request)?;
    let stalled_hours = book.policy_of(request.shop).policy.stalled_hours;
    let arrives_by = request.due_at().unwrap_or(now).max(now);
    let shipment = Shipment::new(
        c.shipment,
        request.order,
        request.shop,
        c.warehouse,
        c.carrier,
        c.waybill,
        now,
        now,
        arrives_by,
        None,
    );
    let pickup = ReturnPickup {
        shipment,
        first_weight: c.first_weight,
        additional: c.additional,
        stalled_after_ms: i64::from(stalled_hours) * HOUR_MS,
    };
    let (stepped, _) = book.step(c.id, |r| r.book_pickup(pickup)).expect("checked above");
    stepped.map_err(|e| Rejection::AfterSales(AfterSalesRefusal::StepNotAllowed(e)))
}

/// Applies a return waybill's event. A request without a booked pickup, or closed, reads as
/// unknown (the carrier is told the waybill is done with); a duplicate changes nothing.
pub(crate) fn track_return(
    book: &mut AfterSalesBook,
    c: RecordReturnTracking,
    b: AfterSalesBooks<'_>,
    now: Timestamp,
    effects: &mut Vec<Effect>,
) -> Result<Outcome, Rejection> {
    let request = book
        .request(c.id)
        .filter(|r| r.return_pickup.is_some() && r.stage != Stage::Closed)
        .ok_or_else(unknown_request)?;
    let before = request.timeline.len();
    let shop = book.policy_of(request.shop);
    let (kind, reason, amount, opened_at) = (request.kind, request.reason, request.amount, request.opened_at);
    let parcels = match c.delivered_at {
        Some(delivered_at) => Parcels::Delivered { delivered_at },
        None => Parcels::NotPickedUp,
    };
    let decide = |scanned_at| {
        let facts = Facts {
            kind,
            reason,
            amount,
            parcels,
            goods: &[],
            return_scanned_at: Some(scanned_at),
            buyer: c.buyer_record,
            risk_score: None,
            policy: &shop.policy,
            // The no-reason window is judged when the buyer asked, as it was at approval: a
            // parcel handed over after the window closed was still sent back in time.
            now: opened_at,
        };
        rules::decide(&facts, shop.mode)
    };
    let (applied, _) = book
        .step(c.id, |r| r.track_return(c.event, now, decide))
        .expect("checked above");
    let applied = applied.map_err(Rejection::TrackingRefused)?;
    let saved = if applied == EventOutcome::Duplicate {
        let request = book.request(c.id).expect("checked above").clone();
        SavedRequest { id: c.id, request }
    } else {
        settle_step(book, c.id, before, b, now, effects)
    };
    Ok(Outcome::ReturnTracked(Box::new(ReturnTracked { saved, applied })))
}
