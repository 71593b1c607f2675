//! The shard's logistics book: shipments of its dispatched orders, the package center's SLA
//! rules per shop, its alerts and their timers.
//!
//! A shipment lives in the shard of its order's shop until the order is delivered, so an
//! event, the order's state that follows it and the alerts it raises or resolves are one
//! command and one commit. SLA timers run with the expiry tick, like payment deadlines.

use super::shipment::{EventOutcome, Shipment, ShipmentState, TrackingEvent, Waybill};
use super::sla::{Alert, AlertBook, SlaRules, next_check};
use super::work::{WorkAlert, WorkRefusal};
use crate::catalog::CatalogBook;
use crate::fulfillment::{CarrierId, FulfillmentBook, ParcelPlan};
use crate::ids::{OrderId, ShipmentId, ShopId, WarehouseId};
use crate::orders::{Order, OrderState};
use crate::shard::{EXPIRIES_PER_COMMAND_MAX, Effect, Outcome, Rejection};
use crate::time::Timestamp;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// A shipment to create for one parcel of a dispatched order.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CreateShipment {
    pub id: ShipmentId,
    pub shop: ShopId,
    pub order: OrderId,
    pub warehouse: WarehouseId,
    /// Defaults to the carrier dispatch planned for the parcel.
    pub carrier: Option<CarrierId>,
    pub waybill: Waybill,
}

/// Shipments for several parcels of one dispatched order, created together or not at all: a
/// bulk shipment never leaves an order half-shipped by its own doing.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ShipOrder {
    pub shop: ShopId,
    pub order: OrderId,
    /// One per parcel, each with the carrier dispatch planned for it.
    pub parcels: Vec<ParcelWaybill>,
}

/// A parcel of [`ShipOrder`]: the new shipment's id, where it leaves from, its waybill.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ParcelWaybill {
    pub id: ShipmentId,
    pub warehouse: WarehouseId,
    pub waybill: Waybill,
}

/// A carrier's tracking event for a shipment of this shard.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RecordTracking {
    pub shipment: ShipmentId,
    pub event: TrackingEvent,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SetSlaRules {
    pub shop: ShopId,
    pub rules: SlaRules,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Command {
    CreateShipment(CreateShipment),
    ShipOrder(ShipOrder),
    RecordTracking(RecordTracking),
    SetSlaRules(SetSlaRules),
    WorkAlert(WorkAlert),
}

#[derive(Clone, Debug, Default)]
pub struct LogisticsBook {
    shipments: BTreeMap<ShipmentId, Shipment>,
    /// The shipments of each order, and the waybills in use: looked up on every shipment and
    /// tracking event, so they are indexes rather than scans of every parcel on its way.
    by_order: BTreeSet<(OrderId, ShipmentId)>,
    /// Looked up, never iterated into output.
    waybills: HashSet<(CarrierId, Waybill)>,
    sla_rules: BTreeMap<ShopId, SlaRules>,
    alerts: AlertBook,
    timers: BTreeSet<(Timestamp, ShipmentId)>,
    /// Each shipment's pending check: looked up, never iterated into output.
    timer_of: HashMap<ShipmentId, Timestamp>,
}

impl Command {
    pub(crate) fn apply(
        self,
        catalog: &CatalogBook,
        fulfillment: &mut FulfillmentBook,
        logistics: &mut LogisticsBook,
        now: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Result<Outcome, Rejection> {
        match self {
            Command::CreateShipment(c) => logistics.create_shipment(c, fulfillment, now, effects),
            Command::ShipOrder(c) => logistics.ship_order(c, fulfillment, now, effects),
            Command::RecordTracking(c) => logistics.record_tracking(c, fulfillment, now, effects),
            Command::SetSlaRules(c) => {
                catalog.known_shop(c.shop)?;
                logistics.set_sla_rules(c, now, effects)
            }
            Command::WorkAlert(c) => {
                catalog.known_shop(c.shop)?;
                logistics.work_alert(c, now, effects)
            }
        }
    }
}

impl LogisticsBook {
    /// Rules, alerts and the shipments of orders still on their way, as stored. Every shipment
    /// is checked at the first tick after a restart (its first threshold is already due), so
    /// what timed out while the shard was down is raised at once.
    pub fn restore(
        sla_rules: Vec<(ShopId, SlaRules)>,
        alerts: Vec<Alert>,
        shipments: impl Iterator<Item = Shipment>,
    ) -> LogisticsBook {
        let mut book = LogisticsBook {
            sla_rules: sla_rules.into_iter().collect(),
            ..LogisticsBook::default()
        };
        for alert in alerts {
            book.alerts.restore(alert);
        }
        for shipment in shipments {
            book.keep(shipment, Timestamp::from_unix_ms(0));
        }
        book
    }

    pub fn shipment(&self, id: ShipmentId) -> Option<&Shipment> {
        self.shipments.get(&id)
    }

    pub fn shipments(&self) -> impl Iterator<Item = &Shipment> {
        self.shipments.values()
    }

    pub fn sla_rules(&self, shop: ShopId) -> SlaRules {
        self.sla_rules.get(&shop).copied().unwrap_or_default()
    }

    pub fn open_alerts(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.open_alerts()
    }

    /// The (order, warehouse) pairs whose parcel a carrier has.
    pub fn shipped_parcels(&self) -> BTreeSet<(OrderId, WarehouseId)> {
        self.shipments.values().map(|s| (s.order, s.warehouse)).collect()
    }

    /// Keeps a shipment in memory with its next SLA check scheduled.
    fn keep(&mut self, shipment: Shipment, now: Timestamp) {
        if let Some(at) = self.timer_of.remove(&shipment.id) {
            self.timers.remove(&(at, shipment.id));
        }
        let rules = self.sla_rules(shipment.shop);
        if let Some(at) = next_check(&shipment, &rules, now) {
            self.timers.insert((at, shipment.id));
            self.timer_of.insert(shipment.id, at);
        }
        self.by_order.insert((shipment.order, shipment.id));
        self.waybills.insert((shipment.carrier, shipment.waybill.clone()));
        self.shipments.insert(shipment.id, shipment);
    }

    /// The shipments of one order (in memory while the order is on its way).
    pub fn shipments_of(&self, order: OrderId) -> impl Iterator<Item = &Shipment> + '_ {
        let first = ShipmentId::new(1).expect("positive");
        self.by_order
            .range((order, first)..)
            .take_while(move |(o, _)| *o == order)
            .filter_map(|(_, id)| self.shipments.get(id))
    }

    /// Raises, escalates and resolves the shipment's alerts for `now`, and reschedules it.
    fn check_sla(&mut self, id: ShipmentId, now: Timestamp, effects: &mut Vec<Effect>) {
        let Some(shipment) = self.shipments.get(&id).cloned() else {
            return;
        };
        let rules = self.sla_rules(shipment.shop);
        for alert in self.alerts.reconcile(&shipment, &rules, now) {
            effects.push(Effect::AlertSaved(alert));
        }
        self.keep(shipment, now);
    }

    pub(crate) fn run_timers(&mut self, now: Timestamp, effects: &mut Vec<Effect>) {
        let due: Vec<ShipmentId> = self
            .timers
            .iter()
            .take_while(|(at, _)| *at <= now)
            .take(EXPIRIES_PER_COMMAND_MAX)
            .map(|(_, id)| *id)
            .collect();
        for id in due {
            self.check_sla(id, now, effects);
        }
    }

    fn set_sla_rules(
        &mut self,
        c: SetSlaRules,
        now: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Result<Outcome, Rejection> {
        c.rules.validate().map_err(Rejection::InvalidSlaRules)?;
        self.sla_rules.insert(c.shop, c.rules);
        effects.push(Effect::SlaRulesSaved {
            shop: c.shop,
            rules: c.rules,
        });
        let of_shop: Vec<ShipmentId> = self
            .shipments
            .values()
            .filter(|s| s.shop == c.shop && !s.is_terminal())
            .map(|s| s.id)
            .collect();
        for id in of_shop {
            self.check_sla(id, now, effects);
        }
        Ok(Outcome::SlaRulesSaved(c.rules))
    }

    /// A person's action on an alert of a shipment on its way; another shop's reads as unknown.
    fn work_alert(&mut self, c: WorkAlert, now: Timestamp, effects: &mut Vec<Effect>) -> Result<Outcome, Rejection> {
        let of_shop = self.shipments.get(&c.alert.shipment).is_some_and(|s| s.shop == c.shop);
        if !of_shop {
            return Err(Rejection::AlertWork(WorkRefusal::UnknownAlert));
        }
        let (alert, worked) = self.alerts.work(c, now).map_err(Rejection::AlertWork)?;
        effects.push(Effect::AlertWorked {
            alert: Box::new(alert.clone()),
            worked,
        });
        Ok(Outcome::AlertWorked(Box::new(alert)))
    }

    fn create_shipment(
        &mut self,
        new: CreateShipment,
        fulfillment: &mut FulfillmentBook,
        now: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Result<Outcome, Rejection> {
        if self.shipments.contains_key(&new.id) {
            return Err(Rejection::IdInUse);
        }
        let fulfilling = fulfillment
            .fulfilling(new.order)
            .filter(|f| f.order.shop == new.shop)
            .ok_or(Rejection::OrderNotDispatched)?;
        // A warehouse may send an order more than one parcel (after a re-dispatch): each
        // shipment takes the next parcel of that warehouse.
        let at_warehouse: Vec<&ParcelPlan> = fulfilling
            .decision
            .parcels
            .iter()
            .filter(|p| p.warehouse == new.warehouse)
            .collect();
        if at_warehouse.is_empty() {
            return Err(Rejection::NoParcelAtWarehouse);
        }
        let shipped_here = self
            .shipments_of(new.order)
            .filter(|s| s.warehouse == new.warehouse)
            .count();
        let Some(parcel) = at_warehouse.get(shipped_here).map(|p| (*p).clone()) else {
            return Err(Rejection::ShipmentExists);
        };
        let carrier = new.carrier.unwrap_or(parcel.carrier);
        if self.waybills.contains(&(carrier, new.waybill.clone())) {
            return Err(Rejection::WaybillInUse);
        }
        let promised_by = fulfilling.order.promise.map(|p| p.promised_by);
        let parcels = fulfilling.decision.parcels.len();
        let shipment = Shipment::new(
            new.id,
            new.order,
            new.shop,
            new.warehouse,
            carrier,
            new.waybill,
            now,
            parcel.pickup_at.max(now),
            parcel.estimated_by.max(now),
            promised_by,
        );
        effects.push(Effect::ShipmentSaved(shipment.clone()));
        self.keep(shipment.clone(), now);
        self.check_sla(shipment.id, now, effects);
        if self.shipments_of(new.order).count() == parcels {
            fulfillment.transition(new.order, Order::ship, effects);
        }
        Ok(Outcome::ShipmentSaved(shipment))
    }

    /// Checks every parcel before creating any shipment, in the order a single shipment checks
    /// them (dispatched, a parcel left at the warehouse, a free waybill), so that each creation
    /// after the checks succeeds.
    fn ship_order(
        &mut self,
        c: ShipOrder,
        fulfillment: &mut FulfillmentBook,
        now: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Result<Outcome, Rejection> {
        let fulfilling = fulfillment
            .fulfilling(c.order)
            .filter(|f| f.order.shop == c.shop)
            .ok_or(Rejection::OrderNotDispatched)?;
        let mut waybills = HashSet::new();
        for (i, parcel) in c.parcels.iter().enumerate() {
            if self.shipments.contains_key(&parcel.id) || c.parcels[..i].iter().any(|p| p.id == parcel.id) {
                return Err(Rejection::IdInUse);
            }
            let planned = fulfilling
                .decision
                .parcels
                .iter()
                .filter(|p| p.warehouse == parcel.warehouse);
            let (planned, carrier) = (planned.clone().count(), planned.map(|p| p.carrier).next());
            let Some(carrier) = carrier else {
                return Err(Rejection::NoParcelAtWarehouse);
            };
            let shipped = self
                .shipments_of(c.order)
                .filter(|s| s.warehouse == parcel.warehouse)
                .count();
            let asked = c.parcels[..=i]
                .iter()
                .filter(|p| p.warehouse == parcel.warehouse)
                .count();
            if shipped + asked > planned {
                return Err(Rejection::ShipmentExists);
            }
            let waybill = (carrier, parcel.waybill.clone());
            if self.waybills.contains(&waybill) || !waybills.insert(waybill) {
                return Err(Rejection::WaybillInUse);
            }
        }
        let mut shipments = Vec::with_capacity(c.parcels.len());
        for parcel in c.parcels {
            let one = CreateShipment {
                id: parcel.id,
                shop: c.shop,
                order: c.order,
                warehouse: parcel.warehouse,
                carrier: None,
                waybill: parcel.waybill,
            };
            let created = self.create_shipment(one, fulfillment, now, effects);
            let Ok(Outcome::ShipmentSaved(shipment)) = created else {
                panic!("a parcel checked for shipping was refused: {created:?}");
            };
            shipments.push(shipment);
        }
        Ok(Outcome::OrderShipped(shipments))
    }

    fn record_tracking(
        &mut self,
        c: RecordTracking,
        fulfillment: &mut FulfillmentBook,
        now: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Result<Outcome, Rejection> {
        let id = c.shipment;
        let mut shipment = self.shipments.get(&id).cloned().ok_or(Rejection::UnknownShipment)?;
        let applied = shipment.apply_event(c.event, now).map_err(Rejection::TrackingRefused)?;
        if applied == EventOutcome::Duplicate {
            return Ok(Outcome::TrackingRecorded {
                shipment: Box::new(shipment),
                applied,
            });
        }
        effects.push(Effect::ShipmentSaved(shipment.clone()));
        self.keep(shipment.clone(), now);
        self.check_sla(id, now, effects);
        let order = shipment.order;
        let of_order: Vec<&Shipment> = self.shipments_of(order).collect();
        let all_delivered = fulfillment.fulfilling(order).is_some_and(|f| {
            f.order.state == OrderState::Shipped
                && of_order.iter().all(|s| s.state == ShipmentState::Delivered)
                && f.decision.parcels.len() == of_order.len()
        });
        if all_delivered {
            fulfillment.transition(order, Order::deliver, effects);
            // Delivered: nothing of it needs the shard any more.
            fulfillment.forget(order);
            self.forget_order(order);
        }
        Ok(Outcome::TrackingRecorded {
            shipment: Box::new(shipment),
            applied,
        })
    }

    fn forget_order(&mut self, order: OrderId) {
        let done: Vec<ShipmentId> = self.shipments_of(order).map(|s| s.id).collect();
        for id in done {
            self.by_order.remove(&(order, id));
            if let Some(shipment) = self.shipments.remove(&id) {
                self.waybills.remove(&(shipment.carrier, shipment.waybill));
            }
            if let Some(at) = self.timer_of.remove(&id) {
                self.timers.remove(&(at, id));
            }
        }
    }
}
