//! The shard's fulfillment book: how each warehouse works (settings and the sites built from
//! them), the capacity booked per warehouse-hour, and the paid orders on their way with the
//! dispatch decision that placed their parcels.
//!
//! Dispatch takes stock (reserved → sold, moved to the chosen warehouses) and one order of
//! capacity per parcel in the same command as the decision, so they commit (or not)
//! together. A paid order stays here until it is delivered: a shortage at its warehouse
//! re-dispatches it, and logistics moves it to `shipped` and `delivered`.

use super::calendar::Calendar;
use super::capacity::{CapacityBook, hour_of};
use super::dispatch::{DispatchDecision, DispatchInput, ParcelPlan, decide_dispatch};
use super::network::{CarrierId, FulfillmentSettings, ServiceLevel, WarehouseSite};
use super::promise::{DeliveryOption, Destination, Promise, PromiseContext, ScheduledWindow, delivery_options};
use crate::catalog::CatalogBook;
use crate::ids::{OrderId, ShopId, SkuId, WarehouseId};
use crate::inventory::{Allocation, Inventory, Warehouse};
use crate::orders::{Address, InvalidTransition, Order, OrderLine};
use crate::shard::{Effect, Outcome, Rejection};
use crate::time::Timestamp;
use std::collections::{BTreeMap, BTreeSet};

mod readdress;
pub use readdress::{AddressNotServed, ReaddressPlan, Readdressed};

/// The delivery a buyer chose at checkout for one shop's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

/// How a warehouse works: hours, capacity, cutoffs.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConfigureFulfillment {
    pub shop: ShopId,
    pub warehouse: WarehouseId,
    pub settings: FulfillmentSettings,
}

/// A warehouse found fewer units than the books say: its unshipped orders move elsewhere.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReportShortage {
    pub shop: ShopId,
    pub warehouse: WarehouseId,
    pub sku: SkuId,
    pub missing: i64,
}

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

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Command {
    Configure(ConfigureFulfillment),
    ReportShortage(ReportShortage),
}

#[derive(Clone, Debug, Default)]
pub struct FulfillmentBook {
    settings: BTreeMap<WarehouseId, FulfillmentSettings>,
    /// Per shop, its warehouses with their settings (rebuilt when either changes).
    sites: BTreeMap<ShopId, Vec<WarehouseSite>>,
    capacity: CapacityBook,
    fulfilling: BTreeMap<OrderId, Fulfilling>,
}

impl Command {
    /// `shipped` names the (order, warehouse) pairs whose parcel a carrier already has: a
    /// shortage cannot reach those units.
    pub(crate) fn apply(
        self,
        catalog: &CatalogBook,
        inventory: &mut Inventory,
        fulfillment: &mut FulfillmentBook,
        shipped: impl FnOnce() -> BTreeSet<(OrderId, WarehouseId)>,
        now: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Result<Outcome, Rejection> {
        match self {
            Command::Configure(c) => fulfillment.configure(c, catalog, inventory, effects),
            Command::ReportShortage(c) => {
                catalog.owned_sku(c.sku, c.shop)?;
                inventory.owned_warehouse(c.warehouse, c.shop)?;
                fulfillment.report_shortage(c, inventory, &shipped(), now, effects)
            }
        }
    }
}

impl FulfillmentBook {
    /// Settings, booked capacity and orders on their way, as stored. Sites are built by
    /// [`FulfillmentBook::refresh_sites`] once the warehouses are known.
    pub fn restore(
        settings: Vec<(WarehouseId, FulfillmentSettings)>,
        capacity: Vec<(WarehouseId, Timestamp, u32)>,
        fulfilling: Vec<Fulfilling>,
    ) -> FulfillmentBook {
        let mut book = FulfillmentBook {
            settings: settings.into_iter().collect(),
            ..FulfillmentBook::default()
        };
        for (warehouse, hour, orders) in capacity {
            book.capacity.restore(warehouse, hour, orders);
        }
        for f in fulfilling {
            book.fulfilling.insert(f.order.id, f);
        }
        book
    }

    /// The warehouses of a shop as the fulfillment rules see them.
    pub fn sites_of(&self, shop: ShopId) -> &[WarehouseSite] {
        self.sites.get(&shop).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn capacity(&self) -> &CapacityBook {
        &self.capacity
    }

    pub fn fulfilling(&self, order: OrderId) -> Option<&Fulfilling> {
        self.fulfilling.get(&order)
    }

    pub fn fulfilling_orders(&self) -> impl Iterator<Item = &Fulfilling> {
        self.fulfilling.values()
    }

    /// Rebuilds a shop's sites from its warehouses and their settings.
    pub fn refresh_sites<'w>(&mut self, shop: ShopId, warehouses: impl Iterator<Item = &'w Warehouse>) {
        let sites: Vec<WarehouseSite> = warehouses
            .filter_map(|w| {
                let settings = self
                    .settings
                    .get(&w.id)
                    .cloned()
                    .unwrap_or_else(FulfillmentSettings::standard);
                WarehouseSite::new(w.id, w.location, settings)
            })
            .collect();
        self.sites.insert(shop, sites);
    }

    /// Applies a transition to an order on its way (shipped, delivered); an order already
    /// past it is left as it is.
    pub(crate) fn transition(
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

    /// Cancels a paid order no carrier has collected (an approved after-sales cancellation):
    /// its units go back to available stock, its booked hours are freed, and it leaves the
    /// orders on their way, so no shipment can be created for it any more. `None` when the
    /// order is not on its way here.
    pub(crate) fn cancel_paid_order(
        &mut self,
        id: OrderId,
        inventory: &mut Inventory,
        now: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Option<Order> {
        let fulfilling = self.fulfilling.get(&id)?;
        let rows: BTreeSet<(SkuId, WarehouseId)> = fulfilling
            .order
            .lines
            .iter()
            .flat_map(|l| l.allocations.iter().map(move |a| (l.sku, a.warehouse)))
            .collect();
        let warehouses: BTreeSet<WarehouseId> = rows.iter().map(|(_, w)| *w).collect();
        for warehouse in warehouses {
            self.unload_parcel(id, warehouse, inventory, effects);
        }
        let mut fulfilling = self.fulfilling.remove(&id)?;
        for (sku, warehouse) in rows {
            effects.push(Effect::StockChanged {
                shop: fulfilling.order.shop,
                sku,
                warehouse,
                level: inventory.level(sku, warehouse),
            });
        }
        let cancelled = fulfilling.order.cancel_paid(now);
        assert!(cancelled.is_ok(), "an order on its way was not paid: {cancelled:?}");
        effects.push(Effect::OrderTransitioned(fulfilling.order.clone()));
        Some(fulfilling.order)
    }

    /// A delivered order needs the shard no more.
    pub(crate) fn forget(&mut self, order: OrderId) {
        self.fulfilling.remove(&order);
    }

    fn configure(
        &mut self,
        c: ConfigureFulfillment,
        catalog: &CatalogBook,
        inventory: &Inventory,
        effects: &mut Vec<Effect>,
    ) -> Result<Outcome, Rejection> {
        catalog.known_shop(c.shop)?;
        inventory.owned_warehouse(c.warehouse, c.shop)?;
        c.settings.validate().map_err(Rejection::InvalidFulfillmentSettings)?;
        self.settings.insert(c.warehouse, c.settings.clone());
        self.refresh_sites(c.shop, inventory.warehouses_of(c.shop));
        effects.push(Effect::FulfillmentConfigured {
            shop: c.shop,
            warehouse: c.warehouse,
            settings: c.settings.clone(),
        });
        Ok(Outcome::FulfillmentConfigured {
            warehouse: c.warehouse,
            settings: c.settings,
        })
    }

    /// What the shop can promise for these lines to `destination` now. Refuses unknown or
    /// archived SKUs the way an order would.
    pub fn delivery_options(
        &self,
        shop: ShopId,
        lines: &[(SkuId, i64)],
        destination: Option<&Destination>,
        catalog: &CatalogBook,
        inventory: &Inventory,
        now: Timestamp,
    ) -> Result<Vec<DeliveryOption>, Rejection> {
        catalog.known_shop(shop)?;
        for (sku, _) in lines {
            catalog.active_sku(*sku, shop)?;
        }
        // A division without a location (a 市辖区 placeholder) is reached by no service.
        Ok(destination.map_or_else(Vec::new, |d| self.options_for(shop, lines, d, inventory, now)))
    }

    fn options_for(
        &self,
        shop: ShopId,
        lines: &[(SkuId, i64)],
        destination: &Destination,
        inventory: &Inventory,
        now: Timestamp,
    ) -> Vec<DeliveryOption> {
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
    pub(crate) fn promise_for_choice(
        &self,
        shop: ShopId,
        lines: &[(SkuId, i64)],
        address: &Address,
        choice: DeliveryChoice,
        inventory: &Inventory,
        now: Timestamp,
    ) -> Result<Promise, Rejection> {
        let destination = Destination::of(address.adcode).ok_or(Rejection::DeliveryOptionUnavailable)?;
        let option = self
            .options_for(shop, lines, &destination, inventory, now)
            .into_iter()
            .find(|o| o.level == choice.level && o.carrier == choice.carrier)
            .ok_or(Rejection::DeliveryOptionUnavailable)?;
        Promise::of(&option, choice.window).ok_or(Rejection::DeliveryWindowUnavailable)
    }

    /// Decides where a just-paid order ships from, and takes its stock (reserved → sold, moved
    /// to the chosen warehouses) and one order of capacity per parcel, in this command.
    pub(crate) fn dispatch_paid_order(
        &mut self,
        mut order: Order,
        inventory: &mut Inventory,
        now: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Order {
        let old: Vec<(SkuId, Vec<Allocation>)> = order.lines.iter().map(|l| (l.sku, l.allocations.clone())).collect();
        let decision = match self.decide_movable(&order, &old, inventory, now) {
            Some(decision) => {
                for line in order.lines.iter_mut() {
                    line.allocations.clear();
                }
                for parcel in &decision.parcels {
                    take_parcel(inventory, &mut order.lines, parcel);
                }
                decision
            }
            None => {
                for (sku, allocations) in &old {
                    inventory.commit(*sku, allocations);
                }
                self.fixed_decision(&order, Destination::of(order.address.adcode), now)
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
                level: inventory.level(sku, warehouse),
            });
        }
        for parcel in &decision.parcels {
            self.book_slot(order.shop, parcel.warehouse, parcel.slot_hour, effects);
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

    /// The ranking for an order whose units may move (not a flash order, a known address),
    /// counting its own reservation as available to it. `None` leaves the reservation as it
    /// was.
    fn decide_movable(
        &self,
        order: &Order,
        old: &[(SkuId, Vec<Allocation>)],
        inventory: &mut Inventory,
        now: Timestamp,
    ) -> Option<DispatchDecision> {
        let destination = Destination::of(order.address.adcode)?;
        if order.flash_sale.is_some() {
            return None;
        }
        // Per SKU: an order may list one SKU on several lines.
        let mut units: BTreeMap<SkuId, i64> = BTreeMap::new();
        for line in &order.lines {
            *units.entry(line.sku).or_default() += line.quantity.get();
        }
        let lines: Vec<(SkuId, i64)> = units.into_iter().collect();
        for (sku, allocations) in old {
            inventory.release(*sku, allocations);
        }
        let decision = self.rank(order, &lines, destination, inventory, now);
        if decision.is_none() {
            for (sku, allocations) in old {
                inventory.reserve(*sku, allocations);
            }
        }
        decision
    }

    /// Ranks the shop's warehouses for `lines` of `order` against the stock available now (the
    /// dispatch at payment and the re-dispatch after a shortage ask the same question).
    fn rank(
        &self,
        order: &Order,
        lines: &[(SkuId, i64)],
        destination: Destination,
        inventory: &Inventory,
        now: Timestamp,
    ) -> Option<DispatchDecision> {
        let input = DispatchInput {
            lines,
            destination,
            promise: order.promise,
            now,
        };
        let available = |sku: SkuId, warehouse: WarehouseId| inventory.level(sku, warehouse).available;
        decide_dispatch(
            &input,
            self.sites_of(order.shop),
            &available,
            &self.capacity,
            Calendar::official(),
        )
    }

    /// Takes one order of a warehouse's capacity in `hour`, durably.
    fn book_slot(&mut self, shop: ShopId, warehouse: WarehouseId, hour: Timestamp, effects: &mut Vec<Effect>) {
        self.capacity.book(warehouse, hour);
        self.push_slot(shop, warehouse, hour, effects);
    }

    /// Gives one order of a warehouse's capacity in `hour` back, durably.
    fn unbook_slot(&mut self, shop: ShopId, warehouse: WarehouseId, hour: Timestamp, effects: &mut Vec<Effect>) {
        self.capacity.unbook(warehouse, hour);
        self.push_slot(shop, warehouse, hour, effects);
    }

    fn push_slot(&self, shop: ShopId, warehouse: WarehouseId, hour: Timestamp, effects: &mut Vec<Effect>) {
        effects.push(Effect::CapacityBooked {
            shop,
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
                        Calendar::official(),
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
                    slot_hour: hour_of(now),
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

    /// A warehouse found `missing` fewer units of `sku` than it holds on the books. Unsold
    /// units absorb the loss first; the rest falls on paid orders not yet handed to a carrier
    /// there (newest first), whose parcels are dispatched again — to another warehouse if one
    /// can take them — with a notice to the merchant either way.
    fn report_shortage(
        &mut self,
        c: ReportShortage,
        inventory: &mut Inventory,
        shipped: &BTreeSet<(OrderId, WarehouseId)>,
        now: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Result<Outcome, Rejection> {
        let level = inventory.level(c.sku, c.warehouse);
        if !(1..=level.available + level.sold).contains(&c.missing) {
            return Err(Rejection::InvalidStock);
        }
        let from_sold = c.missing - c.missing.min(level.available);
        let affected = self
            .orders_short_of(&c, from_sold, shipped)
            .ok_or(Rejection::InvalidStock)?;
        // Take the affected parcels' units back from sold, then write the loss off.
        let parcels: Vec<(OrderId, Vec<(SkuId, i64)>)> = affected
            .iter()
            .map(|id| (*id, self.unload_parcel(*id, c.warehouse, inventory, effects)))
            .collect();
        let level = inventory.level(c.sku, c.warehouse);
        inventory.set_available(c.sku, c.warehouse, level.available - c.missing);
        let mut touched: BTreeSet<(SkuId, WarehouseId)> = BTreeSet::new();
        touched.insert((c.sku, c.warehouse));
        let mut redispatched = Vec::new();
        let mut unfulfillable = Vec::new();
        for (id, lines) in parcels {
            let to = self.redispatch(id, &c, &lines, inventory, shipped, &mut touched, now, effects);
            if to.is_empty() {
                unfulfillable.push(id);
            } else {
                redispatched.push(id);
            }
            let fulfilling = self.fulfilling.get(&id).expect("affected orders are fulfilling");
            effects.push(Effect::OrderDispatched {
                order: fulfilling.order.clone(),
                decision: fulfilling.decision.clone(),
            });
            effects.push(Effect::ShortageNoticed(ShortageNotice {
                shop: c.shop,
                order: id,
                warehouse: c.warehouse,
                sku: c.sku,
                redispatched_to: to,
                at: now,
            }));
        }
        for (sku, warehouse) in touched {
            effects.push(Effect::StockChanged {
                shop: c.shop,
                sku,
                warehouse,
                level: inventory.level(sku, warehouse),
            });
        }
        Ok(Outcome::ShortageHandled {
            redispatched,
            unfulfillable,
        })
    }

    /// Paid orders of the shop holding units of the SKU at the warehouse, not yet with a
    /// carrier there, newest first, until they cover `short` units. `None` when they cannot:
    /// the books claim sold units that are with carriers already, which is no shortage here.
    fn orders_short_of(
        &self,
        c: &ReportShortage,
        short: i64,
        shipped: &BTreeSet<(OrderId, WarehouseId)>,
    ) -> Option<Vec<OrderId>> {
        let mut remaining = short;
        let mut affected = Vec::new();
        for (id, fulfilling) in self.fulfilling.iter().rev() {
            if remaining == 0 {
                break;
            }
            if fulfilling.order.shop != c.shop || shipped.contains(&(*id, c.warehouse)) {
                continue;
            }
            let held: i64 = fulfilling
                .order
                .lines
                .iter()
                .filter(|l| l.sku == c.sku)
                .flat_map(|l| l.allocations.iter())
                .filter(|a| a.warehouse == c.warehouse)
                .map(|a| a.quantity)
                .sum();
            if held > 0 {
                affected.push(*id);
                remaining = (remaining - held).max(0);
            }
        }
        (remaining == 0).then_some(affected)
    }

    /// Takes an order's units at `warehouse` back (sold → reserved → available), drops its
    /// parcel there and frees the parcel's booked hour. Returns the units per SKU.
    fn unload_parcel(
        &mut self,
        id: OrderId,
        warehouse: WarehouseId,
        inventory: &mut Inventory,
        effects: &mut Vec<Effect>,
    ) -> Vec<(SkuId, i64)> {
        let fulfilling = self.fulfilling.get_mut(&id).expect("affected orders are fulfilling");
        let mut lines: Vec<(SkuId, i64)> = Vec::new();
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
            inventory.uncommit(line.sku, &back);
            inventory.release(line.sku, &back);
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
        let shop = fulfilling.order.shop;
        if let Some(hour) = freed {
            self.unbook_slot(shop, warehouse, hour, effects);
        }
        lines
    }

    /// Dispatches an order's unloaded units again. Returns the warehouses they go to; empty
    /// when no warehouse can take them (the merchant must restock or refund).
    #[allow(clippy::too_many_arguments)]
    fn redispatch(
        &mut self,
        id: OrderId,
        c: &ReportShortage,
        lines: &[(SkuId, i64)],
        inventory: &mut Inventory,
        shipped: &BTreeSet<(OrderId, WarehouseId)>,
        touched: &mut BTreeSet<(SkuId, WarehouseId)>,
        now: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Vec<WarehouseId> {
        let order = &self.fulfilling.get(&id).expect("affected orders are fulfilling").order;
        let decision = Destination::of(order.address.adcode)
            .and_then(|destination| self.rank(order, lines, destination, inventory, now));
        let Some(decision) = decision else {
            let fulfilling = self.fulfilling.get_mut(&id).expect("affected orders are fulfilling");
            fulfilling.decision.reason = format!(
                "warehouse {} came up short of SKU {} and no warehouse can take the parcel: the merchant must restock or refund",
                c.warehouse, c.sku
            );
            fulfilling.decision.decided_at = now;
            fulfilling.decision.promise_kept = false;
            return Vec::new();
        };
        let mut to = Vec::new();
        for parcel in decision.parcels {
            let fulfilling = self.fulfilling.get_mut(&id).expect("affected orders are fulfilling");
            take_parcel(inventory, &mut fulfilling.order.lines, &parcel);
            touched.extend(parcel.lines.iter().map(|(sku, _)| (*sku, parcel.warehouse)));
            to.push(parcel.warehouse);
            // A parcel still waiting at the same warehouse takes the units too (and its
            // booked hour serves them); one already with a carrier cannot, so the units make
            // a parcel of their own there, with a booking of its own.
            let waiting = !shipped.contains(&(id, parcel.warehouse));
            match fulfilling
                .decision
                .parcels
                .iter_mut()
                .find(|p| waiting && p.warehouse == parcel.warehouse)
            {
                Some(existing) => {
                    for (sku, quantity) in parcel.lines {
                        match existing.lines.iter_mut().find(|(s, _)| *s == sku) {
                            Some((_, units)) => *units += quantity,
                            None => existing.lines.push((sku, quantity)),
                        }
                    }
                }
                None => {
                    fulfilling.decision.parcels.push(parcel.clone());
                    let shop = fulfilling.order.shop;
                    self.book_slot(shop, parcel.warehouse, parcel.slot_hour, effects);
                }
            }
        }
        let fulfilling = self.fulfilling.get_mut(&id).expect("affected orders are fulfilling");
        fulfilling.decision.candidates = decision.candidates;
        fulfilling.decision.reason = format!(
            "re-dispatched after warehouse {} came up short of SKU {}: {}",
            c.warehouse, c.sku, decision.reason
        );
        fulfilling.decision.decided_at = now;
        fulfilling.decision.split = fulfilling.decision.parcels.len() > 1;
        fulfilling.decision.promise_kept = fulfilling.decision.parcels.iter().all(|p| p.keeps_promise);
        to
    }
}

/// Takes a parcel's units from its warehouse (available → sold) and hands them to the order's
/// lines still short of units, in line order (an order may list one SKU on several lines).
fn take_parcel(inventory: &mut Inventory, lines: &mut [OrderLine], parcel: &ParcelPlan) {
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
