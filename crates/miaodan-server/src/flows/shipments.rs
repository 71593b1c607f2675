//! Handing a parcel to a carrier: find the parcel the order's dispatch sends from the
//! warehouse (and its planned carrier), ask the carrier for a waybill unless the merchant
//! brings one, then create the shipment in the shop's shard. The carrier keeps one waybill per
//! parcel reference, so a retry gets the same waybill.

use crate::app::AppState;
use crate::carriers::CarrierError;
use crate::sequencer::{Recorder, ShardError};
use miaodan_domain::fulfillment::CarrierId;
use miaodan_domain::ids::ShipmentId;
use miaodan_domain::logistics::Shipment;
use miaodan_domain::logistics::shipment::{Waybill, parse_waybill};
use miaodan_domain::orders::Order;
use miaodan_domain::shard::{CreateShipment, Rejection};
use miaodan_domain::{ShopId, WarehouseId};

/// Why no shipment command reached the shard.
#[derive(Debug, thiserror::Error)]
pub enum ShipmentError {
    /// The order's dispatch sends no parcel from that warehouse (not paid, or another one).
    #[error("the order sends no parcel from that warehouse")]
    NoParcelAtWarehouse,
    #[error("the id space is exhausted")]
    IdsExhausted,
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
    let id = ShipmentId::new(state.ids.shipment()).ok_or(ShipmentError::IdsExhausted)?;
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

/// Asks the planned carrier (unless another is named) for the parcel's waybill.
async fn issue_waybill(
    state: &AppState,
    shop: ShopId,
    order: &Order,
    warehouse: WarehouseId,
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
    let reference = format!("mdn-{shop}-{}-{warehouse}", order.id);
    let origin = origin.unwrap_or(order.address.adcode);
    let issued = state
        .carriers
        .create_waybill(carrier, &reference, origin, order.address.adcode)
        .await?;
    parse_waybill(&issued).ok_or(ShipmentError::UnusableWaybill)
}
