//! Handing a parcel to a carrier: find the parcel the order's dispatch sends from the
//! warehouse (and its planned carrier), ask the carrier for a waybill unless the merchant
//! brings one, then create the shipment in the shop's shard. The carrier keeps one waybill per
//! parcel reference, so a retry gets the same waybill.

use crate::app::AppState;
use crate::carriers::CarrierError;
use crate::sequencer::{Recorder, ShardError};
use miaodan_domain::fulfillment::CarrierId;
use miaodan_domain::logistics::Shipment;
use miaodan_domain::logistics::shipment::{Waybill, parse_waybill};
use miaodan_domain::orders::Order;
use miaodan_domain::shard::{CreateShipment, ParcelWaybill, Rejection, ShipOrder};
use miaodan_domain::{ShopId, WarehouseId};

/// Why no shipment command reached the shard.
#[derive(Debug, thiserror::Error)]
pub enum ShipmentError {
    /// The order's dispatch sends no parcel from that warehouse (not paid, or another one).
    #[error("the order sends no parcel from that warehouse")]
    NoParcelAtWarehouse,
    #[error(transparent)]
    Store(#[from] miaodan_store::StoreError),
    #[error(transparent)]
    Carrier(#[from] CarrierError),
    /// The carrier's waybill number is not one the platform can track.
    #[error("the carrier issued an unusable waybill")]
    UnusableWaybill,
    #[error(transparent)]
    Shard(#[from] ShardError),
}

/// A parcel of `order` to hand over from `warehouse`.
#[derive(Clone, Debug)]
pub struct ShipParcel {
    pub shop: ShopId,
    pub order: Order,
    pub warehouse: WarehouseId,
    /// Another carrier than the dispatch planned.
    pub carrier: Option<CarrierId>,
    /// A waybill the merchant already has; otherwise the carrier issues one.
    pub waybill: Option<Waybill>,
}

/// Creates the shipment; the answer is the shard's (the shipment, or a refusal). The
/// `recorder`, if any, stores the response in the shard's batch.
pub async fn ship(
    state: &AppState,
    parcel: ShipParcel,
    recorder: Option<Recorder>,
) -> Result<Result<Shipment, Rejection>, ShipmentError> {
    let ShipParcel {
        shop,
        order,
        warehouse,
        carrier,
        waybill,
    } = parcel;
    let id = state.ids.shipment().await?;
    let waybill = match waybill {
        Some(waybill) => waybill,
        None => issue_waybill(state, shop, &order, warehouse, carrier).await?,
    };
    let command = CreateShipment {
        id,
        shop,
        order: order.id,
        warehouse,
        carrier,
        waybill,
    };
    Ok(state.shards.ask(shop, command, recorder).await?)
}

/// Ships every parcel of a paid `order` that has no shipment yet, as dispatch planned them
/// (warehouse and carrier), in one shard command: all of them or none. Each waybill is asked of
/// the carrier first under the parcel's reference, so a retry gets the same waybills.
pub async fn ship_order(
    state: &AppState,
    shop: ShopId,
    order: &Order,
) -> Result<Result<Vec<Shipment>, Rejection>, ShipmentError> {
    let order_id = order.id;
    let unshipped = state
        .shards
        .read(shop, move |shard, _| {
            let fulfilling = shard.fulfilling(order_id)?;
            let mut parcels = Vec::new();
            for parcel in &fulfilling.decision.parcels {
                let shipped = shard
                    .logistics()
                    .shipments_of(order_id)
                    .filter(|s| s.warehouse == parcel.warehouse)
                    .count();
                let before = parcels.iter().filter(|(w, _)| *w == parcel.warehouse).count();
                let nth = fulfilling
                    .decision
                    .parcels
                    .iter()
                    .filter(|p| p.warehouse == parcel.warehouse);
                if before + shipped < nth.count() {
                    parcels.push((parcel.warehouse, before + shipped));
                }
            }
            Some(parcels)
        })
        .await?;
    let Some(unshipped) = unshipped else {
        return Ok(Err(Rejection::OrderNotDispatched));
    };
    let mut parcels = Vec::with_capacity(unshipped.len());
    for (warehouse, nth) in unshipped {
        let id = state.ids.shipment().await?;
        let waybill = issue_nth_waybill(state, shop, order, warehouse, nth).await?;
        parcels.push(ParcelWaybill { id, warehouse, waybill });
    }
    let command = ShipOrder {
        shop,
        order: order.id,
        parcels,
    };
    Ok(state.shards.ask(shop, command, None).await?)
}

/// Asks the planned carrier (unless another is named) for the parcel's waybill.
async fn issue_waybill(
    state: &AppState,
    shop: ShopId,
    order: &Order,
    warehouse: WarehouseId,
    carrier: Option<CarrierId>,
) -> Result<Waybill, ShipmentError> {
    waybill_of_parcel(state, shop, order, (warehouse, 0), carrier).await
}

/// The waybill of the `nth` parcel (from 0) leaving `warehouse` for `order`, by its carrier.
async fn issue_nth_waybill(
    state: &AppState,
    shop: ShopId,
    order: &Order,
    warehouse: WarehouseId,
    nth: usize,
) -> Result<Waybill, ShipmentError> {
    waybill_of_parcel(state, shop, order, (warehouse, nth), None).await
}

async fn waybill_of_parcel(
    state: &AppState,
    shop: ShopId,
    order: &Order,
    (warehouse, nth): (WarehouseId, usize),
    carrier: Option<CarrierId>,
) -> Result<Waybill, ShipmentError> {
    let order_id = order.id;
    let planned = state
        .shards
        .read(shop, move |shard, _| {
            let origin = shard
                .sites_of(shop)
                .iter()
                .find(|s| s.id == warehouse)
                .map(|s| s.location);
            shard.fulfilling(order_id).and_then(|f| {
                f.decision
                    .parcels
                    .iter()
                    .find(|p| p.warehouse == warehouse)
                    .map(|p| (p.carrier, origin))
            })
        })
        .await?;
    let Some((planned_carrier, origin)) = planned else {
        return Err(ShipmentError::NoParcelAtWarehouse);
    };
    let carrier = carrier.unwrap_or(planned_carrier);
    // The first parcel from a warehouse keeps the reference it always had; a later one (after
    // a re-dispatch) needs its own, or the carrier would answer the first one's waybill.
    let reference = match nth {
        0 => format!("mdn-{shop}-{}-{warehouse}", order.id),
        n => format!("mdn-{shop}-{}-{warehouse}-{n}", order.id),
    };
    let origin = origin.unwrap_or(order.address.adcode);
    let issued = state
        .carriers
        .create_waybill(carrier, &reference, origin, order.address.adcode)
        .await?;
    parse_waybill(&issued).ok_or(ShipmentError::UnusableWaybill)
}
