//! The shard's side of logistics: shipments of its dispatched orders, carrier tracking
//! events, the package center's SLA alerts, and re-dispatch when a warehouse comes up short.
//!
//! A shipment lives in the shard of its order's shop until the order is delivered, so an
//! event, the order's state that follows it and the alerts it raises or resolves are one
//! command and one commit. SLA timers run with the expiry tick, like payment deadlines.

use super::fulfillment_commands::take_parcel;
use super::*;
use crate::fulfillment::calendar::Calendar;
use crate::fulfillment::dispatch::{DispatchInput, decide_dispatch};
use crate::fulfillment::network::CarrierId;
use crate::fulfillment::promise::Destination;
use crate::ids::ShipmentId;
use crate::logistics::shipment::{EventOutcome, Shipment, ShipmentState, TrackingEvent, Waybill};
use crate::logistics::sla::{Alert, SlaRules, next_check};

/// A merchant-facing notice about dispatch: a warehouse came up short for a paid order.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ShortageNotice {
    pub shop: ShopId,
    pub order: OrderId,
    pub warehouse: WarehouseId,
    pub sku: SkuId,
    /// Where the order's parcel goes now; empty when no warehouse could take it.
    pub redispatched_to: Vec<WarehouseId>,
    pub at: Timestamp,
}

/// A shipment to create for one parcel of a dispatched order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewShipment {
    pub id: ShipmentId,
    pub shop: ShopId,
    pub order: OrderId,
    pub warehouse: WarehouseId,
    /// Defaults to the carrier dispatch planned for the parcel.
    pub carrier: Option<CarrierId>,
    pub waybill: Waybill,
}

impl ShardState {
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

    /// Keeps a shipment in memory with its next SLA check scheduled.
    pub(super) fn keep_shipment(&mut self, shipment: Shipment, now: Timestamp) {
        if let Some(at) = self.shipment_timers.remove(&shipment.id) {
            self.sla_timers.remove(&(at, shipment.id));
        }
        let rules = self.sla_rules(shipment.shop);
        if let Some(at) = next_check(&shipment, &rules, now) {
            self.sla_timers.insert((at, shipment.id));
            self.shipment_timers.insert(shipment.id, at);
        }
        self.shipments_by_order.insert((shipment.order, shipment.id));
        self.waybills.insert((shipment.carrier, shipment.waybill.clone()));
        self.shipments.insert(shipment.id, shipment);
    }

    /// The shipments of one order (in memory while the order is on its way).
    fn shipments_of(&self, order: OrderId) -> impl Iterator<Item = &Shipment> + '_ {
        let first = ShipmentId::new(1).expect("positive");
        self.shipments_by_order
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
        self.keep_shipment(shipment, now);
    }

    pub(super) fn run_sla_timers(&mut self, now: Timestamp, effects: &mut Vec<Effect>) {
        let due: Vec<ShipmentId> = self
            .sla_timers
            .iter()
            .take_while(|(at, _)| *at <= now)
            .take(EXPIRIES_PER_COMMAND_MAX)
            .map(|(_, id)| *id)
            .collect();
        for id in due {
            self.check_sla(id, now, effects);
        }
    }

    pub(super) fn set_sla_rules(
        &mut self,
        shop: ShopId,
        rules: SlaRules,
        now: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Result<Outcome, Rejection> {
        if !self.shops.contains_key(&shop) {
            return Err(Rejection::UnknownShop);
        }
        rules.validate().map_err(Rejection::InvalidSlaRules)?;
        self.sla_rules.insert(shop, rules);
        effects.push(Effect::SlaRulesSaved { shop, rules });
        let of_shop: Vec<ShipmentId> = self
            .shipments
            .values()
            .filter(|s| s.shop == shop && !s.is_terminal())
            .map(|s| s.id)
            .collect();
        for id in of_shop {
            self.check_sla(id, now, effects);
        }
        Ok(Outcome::SlaRulesSaved(rules))
    }

    pub(super) fn create_shipment(
        &mut self,
        new: NewShipment,
        now: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Result<Outcome, Rejection> {
        if self.shipments.contains_key(&new.id) {
            return Err(Rejection::IdInUse);
        }
        let fulfilling = self
            .fulfilling
            .get(&new.order)
            .filter(|f| f.order.shop == new.shop)
            .ok_or(Rejection::OrderNotDispatched)?;
        // A warehouse may send an order more than one parcel (after a re-dispatch): each
        // shipment takes the next parcel of that warehouse.
        let at_warehouse: Vec<&crate::fulfillment::ParcelPlan> = fulfilling
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
        self.keep_shipment(shipment.clone(), now);
        self.check_sla(shipment.id, now, effects);
        let shipments = self.shipments_of(new.order).count();
        if shipments == parcels {
            self.transition_fulfilling(new.order, Order::ship, effects);
        }
        Ok(Outcome::ShipmentSaved(shipment))
    }

    fn transition_fulfilling(
        &mut self,
        order: OrderId,
        transition: impl FnOnce(&mut Order) -> Result<(), InvalidTransition>,
        effects: &mut Vec<Effect>,
    ) {
        let Some(fulfilling) = self.fulfilling.get_mut(&order) else {
            return;
        };
        if transition(&mut fulfilling.order).is_ok() {
            effects.push(Effect::OrderTransitioned(fulfilling.order.clone()));
        }
    }

    pub(super) fn record_tracking(
        &mut self,
        id: ShipmentId,
        event: TrackingEvent,
        now: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Result<Outcome, Rejection> {
        let mut shipment = self.shipments.get(&id).cloned().ok_or(Rejection::UnknownShipment)?;
        let applied = shipment.apply_event(event, now).map_err(Rejection::TrackingRefused)?;
        if applied == EventOutcome::Duplicate {
            return Ok(Outcome::TrackingRecorded {
                shipment: Box::new(shipment),
                applied,
            });
        }
        effects.push(Effect::ShipmentSaved(shipment.clone()));
        self.keep_shipment(shipment.clone(), now);
        self.check_sla(id, now, effects);
        let order = shipment.order;
        let of_order: Vec<&Shipment> = self.shipments_of(order).collect();
        let all_delivered = self.fulfilling.get(&order).is_some_and(|f| {
            f.order.state == OrderState::Shipped
                && of_order.iter().all(|s| s.state == ShipmentState::Delivered)
                && f.decision.parcels.len() == of_order.len()
        });
        if all_delivered {
            self.transition_fulfilling(order, Order::deliver, effects);
            // Delivered: nothing of it needs the shard any more.
            self.fulfilling.remove(&order);
            let done: Vec<ShipmentId> = self.shipments_of(order).map(|s| s.id).collect();
            for id in done {
                self.shipments_by_order.remove(&(order, id));
                if let Some(shipment) = self.shipments.remove(&id) {
                    self.waybills.remove(&(shipment.carrier, shipment.waybill));
                }
                if let Some(at) = self.shipment_timers.remove(&id) {
                    self.sla_timers.remove(&(at, id));
                }
            }
        }
        Ok(Outcome::TrackingRecorded {
            shipment: Box::new(shipment),
            applied,
        })
    }

    /// A warehouse found `missing` fewer units of `sku` than it holds on the books. Unsold
    /// units absorb the loss first; the rest falls on paid orders not yet handed to a carrier
    /// there (newest first), whose parcels are dispatched again — to another warehouse if one
    /// can take them — with a notice to the merchant either way.
    pub(super) fn report_shortage(
        &mut self,
        shop: ShopId,
        warehouse: WarehouseId,
        sku: SkuId,
        missing: i64,
        now: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Result<Outcome, Rejection> {
        self.owned_sku(sku, shop)?;
        if self.warehouses.get(&warehouse).is_none_or(|w| w.shop != shop) {
            return Err(Rejection::UnknownWarehouse);
        }
        let level = self.inventory.level(sku, warehouse);
        if !(1..=level.available + level.sold).contains(&missing) {
            return Err(Rejection::InvalidStock);
        }
        let from_available = missing.min(level.available);
        let mut remaining = missing - from_available;
        // Paid orders holding units of the SKU there, not yet with a carrier, newest first.
        let shipped: BTreeSet<(OrderId, WarehouseId)> =
            self.shipments.values().map(|s| (s.order, s.warehouse)).collect();
        let mut affected: Vec<OrderId> = Vec::new();
        for (id, fulfilling) in self.fulfilling.iter().rev() {
            if remaining == 0 {
                break;
            }
            if fulfilling.order.shop != shop || shipped.contains(&(*id, warehouse)) {
                continue;
            }
            let held: i64 = fulfilling
                .order
                .lines
                .iter()
                .filter(|l| l.sku == sku)
                .flat_map(|l| l.allocations.iter())
                .filter(|a| a.warehouse == warehouse)
                .map(|a| a.quantity)
                .sum();
            if held > 0 {
                affected.push(*id);
                remaining = (remaining - held).max(0);
            }
        }
        if remaining > 0 {
            // The books claim sold units that are with carriers already: not a shortage here.
            return Err(Rejection::InvalidStock);
        }
        // Take the affected parcels' units back from sold, then write the loss off.
        let mut parcels: Vec<(OrderId, Vec<(SkuId, i64)>)> = Vec::new();
        for id in &affected {
            let fulfilling = self.fulfilling.get_mut(id).expect("affected orders are fulfilling");
            let mut lines = Vec::new();
            for line in fulfilling.order.lines.iter_mut() {
                let here: i64 = line
                    .allocations
                    .iter()
                    .filter(|a| a.warehouse == warehouse)
                    .map(|a| a.quantity)
                    .sum();
                if here == 0 {
                    continue;
                }
                let back = [Allocation {
                    warehouse,
                    quantity: here,
                }];
                // sold → reserved → available: the units are free again before the loss.
                self.inventory.uncommit(line.sku, &back);
                self.inventory.release(line.sku, &back);
                line.allocations.retain(|a| a.warehouse != warehouse);
                // Per SKU: an order may list one SKU on several lines.
                match lines.iter_mut().find(|(s, _)| *s == line.sku) {
                    Some((_, units)) => *units += here,
                    None => lines.push((line.sku, here)),
                }
            }
            let freed = fulfilling
                .decision
                .parcels
                .iter()
                .find(|p| p.warehouse == warehouse)
                .map(|p| p.slot_hour);
            fulfilling.decision.parcels.retain(|p| p.warehouse != warehouse);
            if let Some(hour) = freed {
                self.unbook_slot(warehouse, hour, effects);
            }
            parcels.push((*id, lines));
        }
        let level = self.inventory.level(sku, warehouse);
        self.inventory.set_available(sku, warehouse, level.available - missing);
        let mut touched: BTreeSet<(SkuId, WarehouseId)> = BTreeSet::new();
        touched.insert((sku, warehouse));
        let mut redispatched = Vec::new();
        let mut unfulfillable = Vec::new();
        for (id, lines) in parcels {
            let fulfilling = self.fulfilling.get(&id).expect("affected orders are fulfilling");
            let order = fulfilling.order.clone();
            let destination = Destination::of(order.address.adcode);
            let inventory = &self.inventory;
            let available = |s: SkuId, w: WarehouseId| inventory.level(s, w).available;
            let sites = self.sites_of(shop);
            let decision = destination.and_then(|destination| {
                let input = DispatchInput {
                    lines: &lines,
                    destination,
                    promise: order.promise,
                    now,
                };
                decide_dispatch(&input, sites, &available, &self.capacity, Calendar::official())
            });
            let fulfilling = self.fulfilling.get_mut(&id).expect("affected orders are fulfilling");
            let mut to = Vec::new();
            if let Some(decision) = decision {
                for parcel in decision.parcels {
                    take_parcel(&mut self.inventory, &mut fulfilling.order.lines, &parcel);
                    touched.extend(parcel.lines.iter().map(|(line_sku, _)| (*line_sku, parcel.warehouse)));
                    to.push(parcel.warehouse);
                    // A parcel still waiting at the same warehouse takes the units too (and
                    // its booked hour serves them); one already with a carrier cannot, so the
                    // units make a parcel of their own there, with a booking of its own.
                    let waiting = !shipped.contains(&(id, parcel.warehouse));
                    match fulfilling
                        .decision
                        .parcels
                        .iter_mut()
                        .find(|p| waiting && p.warehouse == parcel.warehouse)
                    {
                        Some(existing) => {
                            for (line_sku, quantity) in parcel.lines {
                                match existing.lines.iter_mut().find(|(s, _)| *s == line_sku) {
                                    Some((_, units)) => *units += quantity,
                                    None => existing.lines.push((line_sku, quantity)),
                                }
                            }
                        }
                        None => {
                            self.capacity.book(parcel.warehouse, parcel.slot_hour);
                            effects.push(Effect::CapacityBooked {
                                warehouse: parcel.warehouse,
                                hour: parcel.slot_hour,
                                orders: self.capacity.used_in_hour(parcel.warehouse, parcel.slot_hour),
                            });
                            fulfilling.decision.parcels.push(parcel);
                        }
                    }
                }
                fulfilling.decision.candidates = decision.candidates;
                fulfilling.decision.reason = format!(
                    "re-dispatched after warehouse {warehouse} came up short of SKU {sku}: {}",
                    decision.reason
                );
                fulfilling.decision.decided_at = now;
                fulfilling.decision.split = fulfilling.decision.parcels.len() > 1;
                fulfilling.decision.promise_kept = fulfilling.decision.parcels.iter().all(|p| p.keeps_promise);
                redispatched.push(id);
            } else {
                fulfilling.decision.reason = format!(
                    "warehouse {warehouse} came up short of SKU {sku} and no warehouse can take the parcel: the merchant must restock or refund"
                );
                fulfilling.decision.decided_at = now;
                fulfilling.decision.promise_kept = false;
                unfulfillable.push(id);
            }
            effects.push(Effect::OrderDispatched {
                order: fulfilling.order.clone(),
                decision: fulfilling.decision.clone(),
            });
            effects.push(Effect::ShortageNoticed(ShortageNotice {
                shop,
                order: id,
                warehouse,
                sku,
                redispatched_to: to,
                at: now,
            }));
        }
        for (touched_sku, touched_warehouse) in touched {
            effects.push(Effect::StockChanged {
                shop,
                sku: touched_sku,
                warehouse: touched_warehouse,
                level: self.inventory.level(touched_sku, touched_warehouse),
            });
        }
        Ok(Outcome::ShortageHandled {
            redispatched,
            unfulfillable,
        })
    }
}
