//! How each warehouse fulfils, per hour (`compass_warehouses`): paid orders dispatched with a
//! parcel from it (split ones, and ones whose delivery promise the dispatch could keep), parcels
//! handed to carriers, delivered, and delivered after their promise, and package-center alerts
//! raised and resolved about its parcels. The parcels are also counted per warehouse and carrier
//! service (`compass_carriers`), for broken promises per carrier.
//!
//! A shipment's events carry its whole state; a delivery counts once, when the reader first sees
//! the parcel delivered (a late scan of a delivered parcel saves it again, still delivered). An
//! alert names its shipment, whose warehouse the reader remembers from the shipment's events
//! (alerts of a shipment it never saw count under warehouse 0).

use super::dimensions::Folding;
use miaodan_store::{CarrierFigures, CompassDimensions, ShipmentMemory, WarehouseFigures};
use serde::Deserialize;
use std::collections::BTreeSet;

fn add(folding: &Folding<'_>, dimensions: &mut CompassDimensions, warehouse: i64, figures: &WarehouseFigures) {
    let key = (folding.event.shop, folding.hour, warehouse);
    dimensions.warehouses.entry(key).or_default().add(figures);
}

#[derive(Deserialize)]
struct DispatchBody {
    warehouses: Vec<i64>,
    split: bool,
    promise_kept: bool,
}

/// An order dispatched: once per warehouse a parcel leaves from.
pub(super) fn fold_dispatch(folding: &Folding<'_>, dimensions: &mut CompassDimensions) {
    if folding.action() != "dispatched" {
        return;
    }
    let Some(dispatch) = folding.body::<DispatchBody>() else {
        return;
    };
    let figures = WarehouseFigures {
        dispatched: 1,
        split_orders: i64::from(dispatch.split),
        promise_kept: i64::from(dispatch.promise_kept),
        ..WarehouseFigures::default()
    };
    let warehouses: BTreeSet<i64> = dispatch.warehouses.into_iter().collect();
    for warehouse in warehouses {
        add(folding, dimensions, warehouse, &figures);
    }
}

#[derive(Deserialize)]
struct ShipmentBody {
    warehouse: i64,
    // A body without it still counts for its warehouse (under carrier "").
    #[serde(default)]
    carrier: String,
    state: String,
    promised_by: Option<i64>,
    delivered_at: Option<i64>,
    version: i64,
}

/// A shipment saved: handed over when created (no carrier event applied yet), delivered the
/// first time it reads delivered.
pub(super) fn fold_shipment(folding: &Folding<'_>, dimensions: &mut CompassDimensions) {
    let Some(shipment) = folding.body::<ShipmentBody>() else {
        return;
    };
    let remembered = dimensions
        .memory
        .shipments
        .entry(folding.event.subject)
        .or_insert(ShipmentMemory {
            warehouse: shipment.warehouse,
            delivered: false,
        });
    let delivered_now = shipment.state == "delivered" && !remembered.delivered;
    remembered.delivered |= delivered_now;
    let late = match (shipment.delivered_at, shipment.promised_by) {
        (Some(delivered_at), Some(promised_by)) => delivered_at > promised_by,
        _ => false,
    };
    let figures = WarehouseFigures {
        shipped: i64::from(shipment.version == 0),
        delivered: i64::from(delivered_now),
        delivered_late: i64::from(delivered_now && late),
        ..WarehouseFigures::default()
    };
    if figures != WarehouseFigures::default() {
        add(folding, dimensions, shipment.warehouse, &figures);
        let key = (folding.event.shop, folding.hour, (shipment.warehouse, shipment.carrier));
        dimensions.carriers.entry(key).or_default().add(&CarrierFigures {
            shipped: figures.shipped,
            delivered: figures.delivered,
            delivered_late: figures.delivered_late,
        });
    }
}

/// An alert raised or resolved, under its shipment's warehouse.
pub(super) fn fold_alert(folding: &Folding<'_>, dimensions: &mut CompassDimensions) {
    let figures = match folding.action() {
        "raised" => WarehouseFigures {
            alerts_raised: 1,
            ..WarehouseFigures::default()
        },
        "resolved" => WarehouseFigures {
            alerts_resolved: 1,
            ..WarehouseFigures::default()
        },
        _ => return,
    };
    let shipment = dimensions.memory.shipments.get(&folding.event.subject);
    let warehouse = shipment.map_or(0, |s| s.warehouse);
    add(folding, dimensions, warehouse, &figures);
}

#[cfg(test)]
mod tests {
    use super::super::dimensions::{fold, test_support::*};
    use super::*;
    use miaodan_store::CompassMemory;
    use serde_json::{Value, json};

    fn shipment(state: &str, version: i64, delivered_at: Option<i64>) -> Value {
        json!({"shipment": 40, "order": 1, "warehouse": 3, "carrier": "sf", "waybill": "SF1", "state": state,
               "promised_by": HOUR + 1_000, "delivered_at": delivered_at, "version": version})
    }

    #[test]
    fn a_dispatch_counts_once_in_every_warehouse_a_parcel_leaves_from() {
        let events = [
            event(
                1,
                1,
                "order.dispatched",
                1,
                json!({"order": 1, "warehouses": [3, 4, 3], "split": true, "promise_kept": false}),
            ),
            event(
                2,
                2,
                "order.dispatched",
                2,
                json!({"order": 2, "warehouses": [3], "split": false, "promise_kept": true}),
            ),
        ];
        let d = fold(&events, CompassMemory::default());
        let three = WarehouseFigures {
            dispatched: 2,
            split_orders: 1,
            promise_kept: 1,
            ..WarehouseFigures::default()
        };
        let four = WarehouseFigures {
            dispatched: 1,
            split_orders: 1,
            ..WarehouseFigures::default()
        };
        assert_eq!(d.warehouses.get(&(shop(), HOUR, 3)), Some(&three));
        assert_eq!(d.warehouses.get(&(shop(), HOUR, 4)), Some(&four));
    }

    #[test]
    fn a_parcel_is_shipped_once_and_delivered_once_late_when_after_its_promise_per_warehouse_and_carrier() {
        let events = [
            event(1, 1, "shipment.created", 40, shipment("created", 0, None)),
            event(2, 2, "shipment.picked_up", 40, shipment("picked_up", 1, None)),
            event(
                3,
                3,
                "shipment.delivered",
                40,
                shipment("delivered", 2, Some(HOUR + 2_000)),
            ),
            event(
                4,
                4,
                "shipment.delivered",
                40,
                shipment("delivered", 3, Some(HOUR + 2_000)),
            ),
        ];
        let d = fold(&events, CompassMemory::default());
        let figures = WarehouseFigures {
            shipped: 1,
            delivered: 1,
            delivered_late: 1,
            ..WarehouseFigures::default()
        };
        assert_eq!(d.warehouses.get(&(shop(), HOUR, 3)), Some(&figures));
        let by_carrier = CarrierFigures {
            shipped: 1,
            delivered: 1,
            delivered_late: 1,
        };
        assert_eq!(
            d.carriers.get(&(shop(), HOUR, (3, "sf".to_string()))),
            Some(&by_carrier)
        );
        assert_eq!(d.carriers.len(), 1, "{:?}", d.carriers);
        let remembered = ShipmentMemory {
            warehouse: 3,
            delivered: true,
        };
        assert_eq!(d.memory.shipments.get(&40), Some(&remembered));
    }

    #[test]
    fn alerts_count_under_the_warehouse_of_their_shipment() {
        let memory = CompassMemory {
            shipments: [(
                40,
                ShipmentMemory {
                    warehouse: 3,
                    delivered: false,
                },
            )]
            .into(),
            ..CompassMemory::default()
        };
        let alert = json!({"order": 1, "shipment": 40, "rule": "pickup_overdue", "level": "warning", "deadline": HOUR});
        let events = [
            event(1, 1, "alert.raised", 40, alert.clone()),
            event(2, 2, "alert.escalated", 40, alert.clone()),
            event(3, 3, "alert.resolved", 40, alert.clone()),
            event(4, 4, "alert.raised", 41, alert),
        ];
        let d = fold(&events, memory);
        let three = WarehouseFigures {
            alerts_raised: 1,
            alerts_resolved: 1,
            ..WarehouseFigures::default()
        };
        assert_eq!(d.warehouses.get(&(shop(), HOUR, 3)), Some(&three));
        let unknown = WarehouseFigures {
            alerts_raised: 1,
            ..WarehouseFigures::default()
        };
        assert_eq!(d.warehouses.get(&(shop(), HOUR, 0)), Some(&unknown));
        assert!(d.carriers.is_empty(), "alerts are no parcels: {:?}", d.carriers);
    }
}
