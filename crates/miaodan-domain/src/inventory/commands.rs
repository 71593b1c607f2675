//! Inventory's commands: a warehouse opens, a merchant counts stock. Stock moves caused by
//! orders, sales and dispatch are made by those capabilities through [`Inventory`]'s
//! `reserve` / `release` / `commit` / `uncommit`, never here, so only a count here is a
//! merchant's [`StockMovement`] (the ledger fake-stock detection reads).

use super::{Inventory, MovementCause, STOCK_UNITS_MAX, StockMovement, Warehouse, WarehouseName};
use crate::catalog::CatalogBook;
use crate::fulfillment::FulfillmentBook;
use crate::geo::Adcode;
use crate::ids::{ShopId, SkuId, WarehouseId};
use crate::shard::{Effect, Outcome, Rejection};
use crate::time::Timestamp;

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CreateWarehouse {
    pub id: WarehouseId,
    pub shop: ShopId,
    pub name: WarehouseName,
    pub location: Adcode,
}

/// The merchant's count of what may be sold from one warehouse.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SetStock {
    pub shop: ShopId,
    pub sku: SkuId,
    pub warehouse: WarehouseId,
    pub available: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Command {
    CreateWarehouse(CreateWarehouse),
    SetStock(SetStock),
}

impl Command {
    /// A new warehouse joins its shop's fulfillment network at once (`fulfillment`); a stock
    /// count only reads the catalog.
    pub(crate) fn apply(
        self,
        catalog: &CatalogBook,
        inventory: &mut Inventory,
        fulfillment: &mut FulfillmentBook,
        now: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Result<Outcome, Rejection> {
        match self {
            Command::CreateWarehouse(c) => {
                catalog.known_shop(c.shop)?;
                if inventory.warehouses.contains_key(&c.id) {
                    return Err(Rejection::IdInUse);
                }
                let warehouse = Warehouse {
                    id: c.id,
                    shop: c.shop,
                    name: c.name,
                    location: c.location,
                    created_at: now,
                };
                inventory.warehouses.insert(warehouse.id, warehouse.clone());
                fulfillment.refresh_sites(c.shop, inventory.warehouses_of(c.shop));
                effects.push(Effect::WarehouseSaved(warehouse.clone()));
                Ok(Outcome::WarehouseCreated(warehouse))
            }
            Command::SetStock(c) => {
                catalog.owned_sku(c.sku, c.shop)?;
                inventory.owned_warehouse(c.warehouse, c.shop)?;
                if !(0..=STOCK_UNITS_MAX).contains(&c.available) {
                    return Err(Rejection::InvalidStock);
                }
                let before = inventory.level(c.sku, c.warehouse).available;
                let level = inventory.set_available(c.sku, c.warehouse, c.available);
                effects.push(Effect::StockChanged {
                    shop: c.shop,
                    sku: c.sku,
                    warehouse: c.warehouse,
                    level,
                });
                if level.available != before {
                    effects.push(Effect::StockMoved(StockMovement {
                        shop: c.shop,
                        sku: c.sku,
                        warehouse: c.warehouse,
                        delta: level.available - before,
                        available_after: level.available,
                        at: now,
                        cause: MovementCause::MerchantSet,
                    }));
                }
                Ok(Outcome::StockSet {
                    sku: c.sku,
                    warehouse: c.warehouse,
                    level,
                })
            }
        }
    }
}
