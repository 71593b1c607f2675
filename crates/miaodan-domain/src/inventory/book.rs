//! The inventory book: a shard's warehouses and the stock of each SKU in each, moved only by
//! `reserve` / `release` / `commit` / `uncommit` (one closure over `shift` each, under the
//! conservation asserts) and counted by `set_available`.

use super::{Allocation, STOCK_UNITS_MAX, StockLevel, Warehouse};
use crate::ids::{ShopId, SkuId, WarehouseId};
use crate::shard::Effect;
use std::collections::BTreeMap;

/// Stock of every SKU of a shard, by SKU then warehouse. `BTreeMap`s keep every iteration,
/// and so every allocation decision, deterministic.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inventory {
    pub(super) warehouses: BTreeMap<WarehouseId, Warehouse>,
    levels: BTreeMap<SkuId, BTreeMap<WarehouseId, StockLevel>>,
}

impl Inventory {
    /// Restores a warehouse read back from storage.
    pub fn restore_warehouse(&mut self, warehouse: Warehouse) {
        self.warehouses.insert(warehouse.id, warehouse);
    }

    pub fn warehouse(&self, id: WarehouseId) -> Option<&Warehouse> {
        self.warehouses.get(&id)
    }

    /// The shop's warehouses, in id order.
    pub fn warehouses_of(&self, shop: ShopId) -> impl Iterator<Item = &Warehouse> + '_ {
        self.warehouses.values().filter(move |w| w.shop == shop)
    }

    /// `Ok` when the warehouse is the shop's, `unknown_warehouse` otherwise.
    pub fn owned_warehouse(&self, id: WarehouseId, shop: ShopId) -> Result<&Warehouse, crate::shard::Rejection> {
        self.warehouses
            .get(&id)
            .filter(|w| w.shop == shop)
            .ok_or(crate::shard::Rejection::UnknownWarehouse)
    }

    pub fn level(&self, sku: SkuId, warehouse: WarehouseId) -> StockLevel {
        self.levels
            .get(&sku)
            .and_then(|by_warehouse| by_warehouse.get(&warehouse))
            .copied()
            .unwrap_or_default()
    }

    /// Every warehouse's level for one SKU, in warehouse order.
    pub fn levels_of(&self, sku: SkuId) -> impl Iterator<Item = (WarehouseId, StockLevel)> + '_ {
        self.levels
            .get(&sku)
            .into_iter()
            .flat_map(|by_warehouse| by_warehouse.iter().map(|(w, l)| (*w, *l)))
    }

    pub fn available_total(&self, sku: SkuId) -> i64 {
        self.levels_of(sku).map(|(_, level)| level.available).sum()
    }

    /// Appends the current level of every row an allocation names, for the store to write.
    pub fn record_rows(&self, shop: ShopId, sku: SkuId, allocations: &[Allocation], effects: &mut Vec<Effect>) {
        for allocation in allocations {
            effects.push(Effect::StockChanged {
                shop,
                sku,
                warehouse: allocation.warehouse,
                level: self.level(sku, allocation.warehouse),
            });
        }
    }

    /// Restores a level read back from storage.
    pub fn restore(&mut self, sku: SkuId, warehouse: WarehouseId, level: StockLevel) {
        level.assert_valid();
        self.levels.entry(sku).or_default().insert(warehouse, level);
    }

    /// The merchant's stock count: sets what may still be reserved. Reserved and sold units
    /// are untouched, so open orders keep what they hold.
    pub fn set_available(&mut self, sku: SkuId, warehouse: WarehouseId, available: i64) -> StockLevel {
        assert!(
            (0..=STOCK_UNITS_MAX).contains(&available),
            "unchecked stock count {available}"
        );
        let level = self.levels.entry(sku).or_default().entry(warehouse).or_default();
        level.available = available;
        *level
    }

    /// Plans a reservation of `quantity` units of `sku` without changing anything: takes from
    /// the warehouse with the most available units first (ties: lowest warehouse id), so a
    /// line is split across warehouses only when no single one holds it. `None` when the shop
    /// holds fewer than `quantity` available units in all.
    pub fn plan_reservation(&self, sku: SkuId, quantity: i64) -> Option<Vec<Allocation>> {
        let mut candidates: Vec<(WarehouseId, i64)> = self
            .levels_of(sku)
            .filter(|(_, level)| level.available > 0)
            .map(|(warehouse, level)| (warehouse, level.available))
            .collect();
        candidates.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut remaining = quantity;
        let mut plan = Vec::new();
        for (warehouse, available) in candidates {
            if remaining == 0 {
                break;
            }
            let take = available.min(remaining);
            plan.push(Allocation {
                warehouse,
                quantity: take,
            });
            remaining -= take;
        }
        (remaining == 0).then_some(plan)
    }

    /// Moves planned units from available to reserved.
    pub fn reserve(&mut self, sku: SkuId, plan: &[Allocation]) {
        for allocation in plan {
            self.shift(sku, allocation, |level, units| {
                level.available -= units;
                level.reserved += units;
            });
        }
    }

    /// Returns reserved units to available (an order was cancelled or expired).
    pub fn release(&mut self, sku: SkuId, plan: &[Allocation]) {
        for allocation in plan {
            self.shift(sku, allocation, |level, units| {
                level.reserved -= units;
                level.available += units;
            });
        }
    }

    /// Turns reserved units into sold ones (the order was paid).
    pub fn commit(&mut self, sku: SkuId, plan: &[Allocation]) {
        for allocation in plan {
            self.shift(sku, allocation, |level, units| {
                level.reserved -= units;
                level.sold += units;
            });
        }
    }

    /// Turns sold units back into reserved ones (a paid order's parcel leaves the warehouse
    /// before shipping: re-dispatch after a shortage).
    pub fn uncommit(&mut self, sku: SkuId, plan: &[Allocation]) {
        for allocation in plan {
            self.shift(sku, allocation, |level, units| {
                level.sold -= units;
                level.reserved += units;
            });
        }
    }

    /// Units a buyer sent back and the merchant found sellable: from sold back to available.
    /// Never more than were sold from that warehouse (a count the merchant reset meanwhile
    /// keeps what it says).
    pub fn restock_returned(&mut self, sku: SkuId, warehouse: WarehouseId, units: i64) -> StockLevel {
        let level = self.levels.entry(sku).or_default().entry(warehouse).or_default();
        let back = units.clamp(0, level.sold);
        level.sold -= back;
        level.available = (level.available + back).min(STOCK_UNITS_MAX);
        *level
    }

    fn shift(&mut self, sku: SkuId, allocation: &Allocation, mv: impl Fn(&mut StockLevel, i64)) {
        assert!(allocation.quantity > 0, "empty allocation {allocation:?}");
        let level = self
            .levels
            .get_mut(&sku)
            .and_then(|by_warehouse| by_warehouse.get_mut(&allocation.warehouse))
            .unwrap_or_else(|| panic!("allocation of {sku} in unknown stock row {allocation:?}"));
        let total_before = level.total();
        mv(level, allocation.quantity);
        level.assert_valid();
        assert_eq!(level.total(), total_before, "a stock move changed the total");
    }
}
