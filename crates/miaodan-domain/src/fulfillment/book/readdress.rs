//! A paid order moved to a new delivery address (改址, asked for through after-sales).
//!
//! **Before any parcel has a waybill** the order is planned again as if just paid: the promise
//! is re-computed for the new address with the same rules a checkout's options come from
//! ([`delivery_options`]), and dispatch ranks the shop's warehouses again for it
//! ([`decide_dispatch`]). In both the order's own units count as available to it and its
//! booked hours as free, since it gives them back when it moves. The plan is worked out
//! before anything changes ([`FulfillmentBook::plan_readdress`]), so an address no warehouse
//! can serve is refused with nothing changed; carrying it out
//! ([`FulfillmentBook::readdress`]) moves the units (sold → available where they leave,
//! available → sold where they go, stock conserved), frees and books capacity and records the
//! new decision with why, all in the one command.
//!
//! **Once parcels have waybills** they are packed: the warehouses stay and the carrier takes
//! the new address on its waybills. The promise becomes the carrier's transit from each
//! parcel's warehouse to the new address ([`FulfillmentBook::redirect_promise`]).
//!
//! The promise keeps the service level, carrier and price the buyer paid for when that
//! service still reaches the new address (else the fastest offered); a booked window is kept
//! when the new option can still keep it.

use super::{FulfillmentBook, take_parcel};
use crate::fulfillment::calendar::{Calendar, LocalDate};
use crate::fulfillment::dispatch::{Candidate, DispatchDecision, DispatchInput, decide_dispatch};
use crate::fulfillment::network::{CARRIER_SERVICES, CarrierId, CarrierService, WarehouseSite, great_circle_km};
use crate::fulfillment::promise::{
    Destination, Promise, PromiseContext, ScheduledWindow, delivery_date, delivery_options,
};
use crate::ids::{OrderId, SkuId, WarehouseId};
use crate::inventory::Inventory;
use crate::orders::{Address, Order};
use crate::shard::Effect;
use crate::time::Timestamp;
use crate::time::shanghai::local_minute;
use std::collections::{BTreeMap, BTreeSet};

/// No warehouse of the shop (or, once packed, no carrier service on the waybill) can deliver
/// the order to the address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddressNotServed;

/// A re-dispatch worked out against the books, not yet carried out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReaddressPlan {
    order: OrderId,
    to: Address,
    promise: Option<Promise>,
    decision: DispatchDecision,
    /// Whether the units may change warehouse (a flash sale's stay in the sale's warehouse).
    movable: bool,
}

/// What a change of address did to an order's dispatch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Readdressed {
    pub order: Order,
    pub warehouses_before: Vec<WarehouseId>,
    pub warehouses_after: Vec<WarehouseId>,
}

/// Units of each SKU per warehouse the order holds.
fn held_units(order: &Order) -> BTreeMap<(SkuId, WarehouseId), i64> {
    let mut held = BTreeMap::new();
    for line in &order.lines {
        for a in &line.allocations {
            *held.entry((line.sku, a.warehouse)).or_default() += a.quantity;
        }
    }
    held
}

fn warehouses_of(order: &Order) -> Vec<WarehouseId> {
    let set: BTreeSet<WarehouseId> = held_units(order).keys().map(|(_, w)| *w).collect();
    set.into_iter().collect()
}

/// The order's units per SKU (an order may list one SKU on several lines).
fn units_per_sku(order: &Order) -> Vec<(SkuId, i64)> {
    let mut units: BTreeMap<SkuId, i64> = BTreeMap::new();
    for line in &order.lines {
        *units.entry(line.sku).or_default() += line.quantity.get();
    }
    units.into_iter().collect()
}

/// The promise an order sold with `old` gets at a new destination: the same service if it is
/// offered there, else the same level, else the fastest option; the buyer's booked window if
/// the option can keep it; always the price paid.
fn repromise<S: Fn(SkuId, WarehouseId) -> i64>(
    old: &Promise,
    lines: &[(SkuId, i64)],
    destination: &Destination,
    context: &PromiseContext<'_, S>,
) -> Option<Promise> {
    let options = delivery_options(lines, destination, context);
    let option = options
        .iter()
        .find(|o| o.level == old.level && o.carrier == old.carrier)
        .or_else(|| options.iter().find(|o| o.level == old.level))
        .or_else(|| options.first())?;
    let window = old.window_starts_at.map(|starts_at| ScheduledWindow {
        date: LocalDate::of(starts_at),
        start_hour: local_minute(starts_at) / 60,
    });
    let promise = window
        .and_then(|w| Promise::of(option, Some(w)))
        .or_else(|| Promise::of(option, None))?;
    Some(Promise {
        price: old.price,
        ..promise
    })
}

impl FulfillmentBook {
    /// Works out where an order on its way, no parcel of which has a waybill, would ship from
    /// to `to`, and what it would promise. Changes nothing.
    pub(crate) fn plan_readdress(
        &self,
        id: OrderId,
        to: &Address,
        inventory: &Inventory,
        now: Timestamp,
    ) -> Result<ReaddressPlan, AddressNotServed> {
        let fulfilling = self.fulfilling.get(&id).ok_or(AddressNotServed)?;
        let order = &fulfilling.order;
        let destination = Destination::of(to.adcode).ok_or(AddressNotServed)?;
        let held = held_units(order);
        let movable = order.flash_sale.is_none();
        let holds = |w: WarehouseId| held.keys().any(|(_, h)| *h == w);
        if !movable && warehouses_of(order).len() != 1 {
            // A flash order ships whole from its sale's warehouse; anything else is not one
            // this plan knows how to keep.
            return Err(AddressNotServed);
        }
        let sites: Vec<WarehouseSite> = self
            .sites_of(order.shop)
            .iter()
            .filter(|s| movable || holds(s.id))
            .cloned()
            .collect();
        let available = |sku: SkuId, w: WarehouseId| {
            let own = held.get(&(sku, w)).copied().unwrap_or(0);
            if movable {
                inventory.level(sku, w).available + own
            } else {
                own
            }
        };
        let mut capacity = self.capacity.clone();
        for parcel in &fulfilling.decision.parcels {
            capacity.unbook(parcel.warehouse, parcel.slot_hour);
        }
        let lines = units_per_sku(order);
        let context = PromiseContext {
            sites: &sites,
            available,
            capacity: &capacity,
            calendar: Calendar::official(),
            now,
        };
        let promise = match &order.promise {
            None => None,
            Some(old) => Some(repromise(old, &lines, &destination, &context).ok_or(AddressNotServed)?),
        };
        let input = DispatchInput {
            lines: &lines,
            destination,
            promise,
            now,
        };
        let decision = decide_dispatch(&input, &sites, &context.available, &capacity, Calendar::official())
            .ok_or(AddressNotServed)?;
        // Dispatch ships by a fallback service when none reaches the address from the chosen
        // warehouse; an order that has not left may not be sent where no service goes.
        let served = |c: &Candidate| !c.chosen || c.would_deliver_by.is_some();
        if !decision.candidates.iter().all(served) {
            return Err(AddressNotServed);
        }
        Ok(ReaddressPlan {
            order: id,
            to: to.clone(),
            promise,
            decision,
            movable,
        })
    }

    /// Carries out a plan made in this command: the order leaves its warehouses (units back to
    /// available, booked hours freed) and takes the planned ones, with its new address,
    /// promise and decision.
    pub(crate) fn readdress(
        &mut self,
        plan: ReaddressPlan,
        inventory: &mut Inventory,
        effects: &mut Vec<Effect>,
    ) -> Readdressed {
        let id = plan.order;
        let before_order = &self.fulfilling.get(&id).expect("planned for an order on its way").order;
        let shop = before_order.shop;
        let warehouses_before = warehouses_of(before_order);
        let mut rows: BTreeSet<(SkuId, WarehouseId)> = held_units(before_order).into_keys().collect();
        if plan.movable {
            for warehouse in &warehouses_before {
                self.unload_parcel(id, *warehouse, inventory, effects);
            }
            let fulfilling = self.fulfilling.get_mut(&id).expect("on its way");
            for parcel in &plan.decision.parcels {
                take_parcel(inventory, &mut fulfilling.order.lines, parcel);
            }
        } else {
            let fulfilling = self.fulfilling.get_mut(&id).expect("on its way");
            for parcel in std::mem::take(&mut fulfilling.decision.parcels) {
                self.unbook_slot(shop, parcel.warehouse, parcel.slot_hour, effects);
            }
        }
        for parcel in &plan.decision.parcels {
            self.book_slot(shop, parcel.warehouse, parcel.slot_hour, effects);
        }
        let fulfilling = self.fulfilling.get_mut(&id).expect("on its way");
        fulfilling.order.readdress(plan.to, plan.promise);
        let warehouses_after = warehouses_of(&fulfilling.order);
        rows.extend(held_units(&fulfilling.order).into_keys());
        let mut decision = plan.decision;
        decision.reason = readdress_reason(&warehouses_before, &warehouses_after, &decision.reason);
        fulfilling.decision = decision;
        let order = fulfilling.order.clone();
        for (sku, warehouse) in rows {
            effects.push(Effect::StockChanged {
                shop: order.shop,
                sku,
                warehouse,
                level: inventory.level(sku, warehouse),
            });
        }
        effects.push(Effect::OrderReaddressed(order.clone()));
        effects.push(Effect::OrderDispatched {
            order: order.clone(),
            decision: fulfilling.decision.clone(),
        });
        Readdressed {
            order,
            warehouses_before,
            warehouses_after,
        }
    }

    /// The promise of an order whose parcels the carriers have (waybills issued, not yet
    /// collected), once their waybills go to `to`: each parcel leaves its warehouse with its
    /// service at its planned pickup (or now, if later) and arrives after the service's
    /// transit to the new address; the latest arrival is the promise. `parcels` are the
    /// (warehouse, carrier, planned pickup) of the waybills.
    pub(crate) fn redirect_promise(
        &self,
        id: OrderId,
        to: &Address,
        parcels: &[(WarehouseId, CarrierId, Timestamp)],
        now: Timestamp,
    ) -> Result<Option<Promise>, AddressNotServed> {
        let fulfilling = self.fulfilling.get(&id).ok_or(AddressNotServed)?;
        let destination = Destination::of(to.adcode).ok_or(AddressNotServed)?;
        let mut latest: Option<Timestamp> = None;
        for (warehouse, carrier, planned_pickup_at) in parcels {
            let site = self
                .sites_of(fulfilling.order.shop)
                .iter()
                .find(|s| s.id == *warehouse)
                .ok_or(AddressNotServed)?;
            let planned = fulfilling.decision.parcels.iter().find(|p| p.warehouse == *warehouse);
            let km = great_circle_km(site.point, destination.point);
            let reaches = |s: &&CarrierService| {
                s.carrier == *carrier
                    && km <= s.max_km
                    && (!s.same_city_only || site.location.city() == destination.adcode.city())
            };
            let service = CARRIER_SERVICES
                .iter()
                .filter(reaches)
                .find(|s| planned.is_some_and(|p| p.level == s.level))
                .or_else(|| CARRIER_SERVICES.iter().find(reaches))
                .ok_or(AddressNotServed)?;
            let pickup = (*planned_pickup_at).max(now);
            let arrives = delivery_date(service, Calendar::official(), LocalDate::of(pickup), km)
                .at_minute(service.deliver_by_minute);
            latest = Some(latest.map_or(arrives, |l| l.max(arrives)));
        }
        let promised_by = latest.ok_or(AddressNotServed)?;
        Ok(fulfilling.order.promise.map(|old| Promise {
            window_starts_at: None,
            promised_by,
            ..old
        }))
    }

    /// Gives an order whose parcels the carriers redirected its new address and promise.
    pub(crate) fn redirected(
        &mut self,
        id: OrderId,
        to: Address,
        promise: Option<Promise>,
        effects: &mut Vec<Effect>,
    ) -> Option<Order> {
        let fulfilling = self.fulfilling.get_mut(&id)?;
        fulfilling.order.readdress(to, promise);
        effects.push(Effect::OrderReaddressed(fulfilling.order.clone()));
        Some(fulfilling.order.clone())
    }
}

fn list(warehouses: &[WarehouseId]) -> String {
    warehouses
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn readdress_reason(before: &[WarehouseId], after: &[WarehouseId], why: &str) -> String {
    if before == after {
        format!(
            "the buyer changed the delivery address; warehouse {} still ships it: {why}",
            list(after)
        )
    } else {
        format!(
            "re-dispatched from warehouse {} to {} after the buyer changed the delivery address: {why}",
            list(before),
            list(after)
        )
    }
}
