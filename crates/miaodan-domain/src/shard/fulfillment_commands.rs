//! The shard's side of fulfillment: warehouse settings, the promise an order is sold with,
//! and smart dispatch when it is paid — stock and warehouse capacity are taken in the same
//! command as the decision, so they commit (or not) together.
//!
//! A paid order stays in memory (`fulfilling`) until it is delivered: a stock shortage at
//! its warehouse re-dispatches it, and its shipments follow it.

use super::*;
use crate::fulfillment::calendar::Calendar;
use crate::fulfillment::dispatch::{DispatchDecision, DispatchInput, ParcelPlan, decide_dispatch};
use crate::fulfillment::network::{CarrierId, FulfillmentSettings, ServiceLevel, WarehouseSite};
use crate::fulfillment::promise::{
    DeliveryOption, Destination, Promise, PromiseContext, ScheduledWindow, delivery_options,
};

/// The delivery a buyer chose at checkout for one shop's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeliveryChoice {
    pub level: ServiceLevel,
    pub carrier: CarrierId,
    pub window: Option<ScheduledWindow>,
}

/// A paid order on its way, with the dispatch decision that placed its parcels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fulfilling {
    pub order: Order,
    pub decision: DispatchDecision,
}

impl ShardState {
    /// The warehouses of a shop as the fulfillment rules see them.
    pub fn sites_of(&self, shop: ShopId) -> &[WarehouseSite] {
        self.sites.get(&shop).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn capacity(&self) -> &crate::fulfillment::CapacityBook {
        &self.capacity
    }

    pub fn fulfilling(&self, order: OrderId) -> Option<&Fulfilling> {
        self.fulfilling.get(&order)
    }

    pub fn fulfilling_orders(&self) -> impl Iterator<Item = &Fulfilling> {
        self.fulfilling.values()
    }

    /// Rebuilds a shop's sites from its warehouses and their settings.
    pub(super) fn refresh_sites(&mut self, shop: ShopId) {
        let sites: Vec<WarehouseSite> = self
            .warehouses
            .values()
            .filter(|w| w.shop == shop)
            .filter_map(|w| {
                let settings = self
                    .warehouse_settings
                    .get(&w.id)
                    .cloned()
                    .unwrap_or_else(FulfillmentSettings::standard);
                WarehouseSite::new(w.id, w.location, settings)
            })
            .collect();
        self.sites.insert(shop, sites);
    }

    pub(super) fn configure_fulfillment(
        &mut self,
        shop: ShopId,
        warehouse: WarehouseId,
        settings: FulfillmentSettings,
        effects: &mut Vec<Effect>,
    ) -> Result<Outcome, Rejection> {
        if !self.shops.contains_key(&shop) {
            return Err(Rejection::UnknownShop);
        }
        if self.warehouses.get(&warehouse).is_none_or(|w| w.shop != shop) {
            return Err(Rejection::UnknownWarehouse);
        }
        settings.validate().map_err(Rejection::InvalidFulfillmentSettings)?;
        self.warehouse_settings.insert(warehouse, settings.clone());
        self.refresh_sites(shop);
        effects.push(Effect::FulfillmentConfigured {
            shop,
            warehouse,
            settings: settings.clone(),
        });
        Ok(Outcome::FulfillmentConfigured { warehouse, settings })
    }

    /// What the shop can promise for these lines to `destination` now. Refuses unknown or
    /// archived SKUs the way an order would.
    pub fn delivery_options(
        &self,
        shop: ShopId,
        lines: &[(SkuId, i64)],
        destination: &Destination,
        now: Timestamp,
    ) -> Result<Vec<DeliveryOption>, Rejection> {
        if !self.shops.contains_key(&shop) {
            return Err(Rejection::UnknownShop);
        }
        for (sku, _) in lines {
            self.active_sku(*sku, shop)?;
        }
        Ok(self.options_for(shop, lines, destination, now))
    }

    fn options_for(
        &self,
        shop: ShopId,
        lines: &[(SkuId, i64)],
        destination: &Destination,
        now: Timestamp,
    ) -> Vec<DeliveryOption> {
        let inventory = &self.inventory;
        let context = PromiseContext {
            sites: self.sites_of(shop),
            available: |sku: SkuId, warehouse: WarehouseId| inventory.level(sku, warehouse).available,
            capacity: &self.capacity,
            calendar: Calendar::official(),
            now,
        };
        delivery_options(lines, destination, &context)
    }

    /// The promise of a buyer's choice, checked against what can be kept right now (before the
    /// order reserves anything). The named option must be offered; a window must suit it.
    pub(super) fn promise_for_choice(
        &self,
        shop: ShopId,
        lines: &[OrderLineRequest],
        address: &Address,
        choice: DeliveryChoice,
        now: Timestamp,
    ) -> Result<Promise, Rejection> {
        let destination = Destination::of(address.adcode).ok_or(Rejection::DeliveryOptionUnavailable)?;
        let lines: Vec<(SkuId, i64)> = lines.iter().map(|l| (l.sku, l.quantity.get())).collect();
        let option = self
            .options_for(shop, &lines, &destination, now)
            .into_iter()
            .find(|o| o.level == choice.level && o.carrier == choice.carrier)
            .ok_or(Rejection::DeliveryOptionUnavailable)?;
        Promise::of(&option, choice.window).ok_or(Rejection::DeliveryWindowUnavailable)
    }

    /// Decides where a just-paid order ships from, and takes its stock (reserved → sold, moved
    /// to the chosen warehouses) and one order of capacity per parcel, in this command.
    pub(super) fn dispatch_paid_order(&mut self, mut order: Order, now: Timestamp, effects: &mut Vec<Effect>) -> Order {
        // Per SKU: an order may list one SKU on several lines.
        let mut units: BTreeMap<SkuId, i64> = BTreeMap::new();
        for line in &order.lines {
            *units.entry(line.sku).or_default() += line.quantity.get();
        }
        let lines: Vec<(SkuId, i64)> = units.into_iter().collect();
        let destination = Destination::of(order.address.adcode);
        let calendar = Calendar::official();
        let old: Vec<(SkuId, Vec<Allocation>)> = order.lines.iter().map(|l| (l.sku, l.allocations.clone())).collect();
        let movable = order.flash_sale.is_none();
        let mut decision = None;
        if let (Some(destination), true) = (destination, movable) {
            // The order's own reservation counts as available to it.
            for (sku, allocations) in &old {
                self.inventory.release(*sku, allocations);
            }
            let input = DispatchInput {
                lines: &lines,
                destination,
                promise: order.promise,
                now,
            };
            let inventory = &self.inventory;
            let available = |sku: SkuId, warehouse: WarehouseId| inventory.level(sku, warehouse).available;
            decision = decide_dispatch(&input, self.sites_of(order.shop), &available, &self.capacity, calendar);
            if decision.is_none() {
                for (sku, allocations) in &old {
                    self.inventory.reserve(*sku, allocations);
                }
            }
        }
        let decision = match decision {
            Some(decision) => {
                for line in order.lines.iter_mut() {
                    line.allocations.clear();
                }
                for parcel in &decision.parcels {
                    take_parcel(&mut self.inventory, &mut order.lines, parcel);
                }
                decision
            }
            None => {
                for (sku, allocations) in &old {
                    self.inventory.commit(*sku, allocations);
                }
                self.fixed_decision(&order, destination, now)
            }
        };
        // Every stock row the move touched, once each.
        let touched: BTreeSet<(SkuId, WarehouseId)> = old
            .iter()
            .flat_map(|(sku, allocations)| allocations.iter().map(move |a| (*sku, a.warehouse)))
            .chain(
                order
                    .lines
                    .iter()
                    .flat_map(|l| l.allocations.iter().map(move |a| (l.sku, a.warehouse))),
            )
            .collect();
        for (sku, warehouse) in touched {
            effects.push(Effect::StockChanged {
                shop: order.shop,
                sku,
                warehouse,
                level: self.inventory.level(sku, warehouse),
            });
        }
        for parcel in &decision.parcels {
            self.book_slot(parcel.warehouse, parcel.slot_hour, effects);
        }
        effects.push(Effect::OrderDispatched {
            order: order.clone(),
            decision: decision.clone(),
        });
        self.fulfilling.insert(
            order.id,
            Fulfilling {
                order: order.clone(),
                decision,
            },
        );
        order
    }

    /// Takes one order of a warehouse's capacity in `hour`, durably.
    pub(super) fn book_slot(&mut self, warehouse: WarehouseId, hour: Timestamp, effects: &mut Vec<Effect>) {
        self.capacity.book(warehouse, hour);
        self.push_slot(warehouse, hour, effects);
    }

    /// Gives one order of a warehouse's capacity in `hour` back, durably.
    pub(super) fn unbook_slot(&mut self, warehouse: WarehouseId, hour: Timestamp, effects: &mut Vec<Effect>) {
        self.capacity.unbook(warehouse, hour);
        self.push_slot(warehouse, hour, effects);
    }

    fn push_slot(&self, warehouse: WarehouseId, hour: Timestamp, effects: &mut Vec<Effect>) {
        effects.push(Effect::CapacityBooked {
            warehouse,
            hour,
            orders: self.capacity.used_in_hour(warehouse, hour),
        });
    }

    /// The decision for an order whose units cannot move (a flash sale's units are held in
    /// the sale's warehouse): its warehouses as they are, with the best service they run.
    fn fixed_decision(&self, order: &Order, destination: Option<Destination>, now: Timestamp) -> DispatchDecision {
        let mut by_warehouse: BTreeMap<WarehouseId, Vec<(SkuId, i64)>> = BTreeMap::new();
        for line in &order.lines {
            for allocation in &line.allocations {
                by_warehouse
                    .entry(allocation.warehouse)
                    .or_default()
                    .push((line.sku, allocation.quantity));
            }
        }
        let calendar = Calendar::official();
        let mut parcels = Vec::new();
        let mut candidates = Vec::new();
        for (warehouse, parcel_lines) in by_warehouse {
            let site = self.sites_of(order.shop).iter().find(|s| s.id == warehouse);
            let decided = match (site, destination) {
                (Some(site), Some(destination)) => {
                    let input = DispatchInput {
                        lines: &parcel_lines,
                        destination,
                        promise: order.promise,
                        now,
                    };
                    decide_dispatch(
                        &input,
                        std::slice::from_ref(site),
                        &|_, _| i64::MAX,
                        &self.capacity,
                        calendar,
                    )
                }
                _ => None,
            };
            match decided {
                Some(mut d) => {
                    parcels.append(&mut d.parcels);
                    candidates.append(&mut d.candidates);
                }
                None => parcels.push(ParcelPlan {
                    warehouse,
                    lines: parcel_lines,
                    slot_hour: crate::fulfillment::capacity::hour_of(now),
                    level: ServiceLevel::Standard,
                    carrier: CarrierId::Zto,
                    pickup_at: now,
                    estimated_by: now,
                    keeps_promise: false,
                }),
            }
        }
        let promise_kept = parcels.iter().all(|p| p.keeps_promise);
        DispatchDecision {
            decided_at: now,
            split: parcels.len() > 1,
            promise_kept,
            parcels,
            candidates,
            reason: if order.flash_sale.is_some() {
                "a flash sale's units are held in the sale's warehouse, which ships them".into()
            } else {
                "the address has no known location, so the units ship from where they were reserved".into()
            },
        }
    }
}

/// Takes a parcel's units from its warehouse (available → sold) and hands them to the order's
/// lines still short of units, in line order (an order may list one SKU on several lines).
pub(super) fn take_parcel(inventory: &mut Inventory, lines: &mut [OrderLine], parcel: &ParcelPlan) {
    for (sku, quantity) in &parcel.lines {
        let take = [Allocation {
            warehouse: parcel.warehouse,
            quantity: *quantity,
        }];
        inventory.reserve(*sku, &take);
        inventory.commit(*sku, &take);
        let mut left = *quantity;
        for line in lines.iter_mut().filter(|l| l.sku == *sku) {
            let held: i64 = line.allocations.iter().map(|a| a.quantity).sum();
            let give = (line.quantity.get() - held).min(left);
            if give > 0 {
                line.allocations.push(Allocation {
                    warehouse: parcel.warehouse,
                    quantity: give,
                });
                left -= give;
            }
        }
        assert_eq!(left, 0, "a parcel carries more of {sku} than the order's lines hold");
    }
}
