//! A change of delivery address (改址): what the buyer asked, and how it was carried out.
//!
//! Where the order's parcels are decides how (see [`Whereabouts`]):
//! - **no waybill yet**: the order is planned again for the new address in the command that
//!   approves the change — promise re-computed, warehouses ranked again, units and capacity
//!   moved when the choice changes ([`crate::fulfillment::FulfillmentBook::plan_readdress`]);
//! - **waybills issued, nothing collected**: the parcels are packed, so the warehouses stay;
//!   the approved request waits in `approved` while the shell asks each carrier to take the
//!   new address on its waybill, and [`RecordRedirected`](super::commands::RecordRedirected)
//!   (or [`RecordRedirectRefused`](super::commands::RecordRedirectRefused)) closes it;
//! - **a carrier has collected a parcel**: the rules refuse (`already_picked_up`).
//!
//! Checked before the rules, in this order: the order is delivered
//! ([`AddressRefusal::Delivered`]); no new address was given ([`AddressRefusal::Missing`]); it
//! is the address the order has ([`AddressRefusal::Unchanged`]); no warehouse — or, once
//! packed, no service of the parcel's carrier — reaches it ([`AddressRefusal::NotServed`]).
//! A refusal opens nothing and changes nothing.

use crate::fulfillment::network::CarrierId;
use crate::ids::WarehouseId;
use crate::logistics::LogisticsBook;
use crate::logistics::shipment::Waybill;
use crate::orders::{Address, Order};
use crate::time::Timestamp;

/// The buyer's change of address, kept with the request: the address the order had and the
/// one asked for, and once carried out, what came of it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AddressChange {
    pub from: Address,
    pub to: Address,
    /// The promise's instant before the change (`None` for an order sold without one).
    pub promised_by_before: Option<Timestamp>,
    pub outcome: Option<AddressOutcome>,
}

/// What an approved change of address did.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AddressOutcome {
    /// No parcel had a waybill: the order was dispatched again for the new address.
    Redispatched {
        warehouses_before: Vec<WarehouseId>,
        warehouses_after: Vec<WarehouseId>,
        promised_by: Option<Timestamp>,
    },
    /// The carriers took the new address on the parcels' waybills.
    Redirected {
        waybills: Vec<Waybill>,
        promised_by: Option<Timestamp>,
    },
    /// Approved, but by then it could no longer be carried out; the order kept its address.
    NotCarriedOut(AddressRefusal),
}

/// Why an address change is refused (or, approved late, could not be carried out).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AddressRefusal {
    /// The order was delivered: there is nothing left to send elsewhere.
    Delivered,
    /// No new address was given.
    Missing,
    /// The new address is the order's address.
    Unchanged,
    /// No warehouse of the shop (once packed: no service of the parcel's carrier) delivers there.
    NotServed,
    /// A carrier collected a parcel before the change could reach it.
    PickedUp,
}

impl AddressRefusal {
    pub const ALL: [AddressRefusal; 5] = [
        AddressRefusal::Delivered,
        AddressRefusal::Missing,
        AddressRefusal::Unchanged,
        AddressRefusal::NotServed,
        AddressRefusal::PickedUp,
    ];

    pub const fn code(self) -> &'static str {
        match self {
            AddressRefusal::Delivered => "order_already_delivered",
            AddressRefusal::Missing => "invalid_field",
            AddressRefusal::Unchanged => "same_address",
            AddressRefusal::NotServed => "address_not_served",
            AddressRefusal::PickedUp => "already_picked_up",
        }
    }
}

/// A parcel a carrier has a waybill for and has not collected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaitingParcel {
    pub waybill: Waybill,
    pub warehouse: WarehouseId,
    pub carrier: CarrierId,
    pub planned_pickup_at: Timestamp,
}

/// Where an order's parcels are, as an address change sees them. Unlike a cancellation (for
/// which a waybill already counts as collected), a change of address can still reach a
/// parcel the carrier has only a waybill for: only the carrier's first scan stops it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Whereabouts {
    /// No parcel has a waybill.
    InWarehouses,
    /// Waybills issued, no parcel collected.
    Waybilled(Vec<WaitingParcel>),
    /// A carrier has collected a parcel.
    Collected,
}

/// Where `order`'s parcels are, by the shard's logistics book.
pub fn whereabouts(order: &Order, logistics: &LogisticsBook) -> Whereabouts {
    let mut waiting = Vec::new();
    for shipment in logistics.shipments_of(order.id) {
        if shipment.picked_up_at.is_some() {
            return Whereabouts::Collected;
        }
        waiting.push(WaitingParcel {
            waybill: shipment.waybill.clone(),
            warehouse: shipment.warehouse,
            carrier: shipment.carrier,
            planned_pickup_at: shipment.planned_pickup_at,
        });
    }
    if waiting.is_empty() {
        Whereabouts::InWarehouses
    } else {
        Whereabouts::Waybilled(waiting)
    }
}

impl WaitingParcel {
    /// What the fulfillment book re-promises from.
    pub fn leg(&self) -> (WarehouseId, CarrierId, Timestamp) {
        (self.warehouse, self.carrier, self.planned_pickup_at)
    }
}
