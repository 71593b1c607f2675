//! Inventory: warehouses and the stock of each SKU in each warehouse.
//!
//! A [`StockLevel`] splits the units of one SKU in one warehouse into `available` (may be
//! reserved), `reserved` (held by an unpaid order) and `sold` (held by a paid order, until
//! fulfillment ships it). Invariants, asserted on every change:
//! - no count is ever negative;
//! - `available + reserved + sold` changes only through an explicit stock change
//!   ([`Inventory::set_available`]); reserve, release and commit move units between buckets.
//!
//! A reservation of an order line may take units from several warehouses of the shop; the
//! [`Allocation`]s it returns are exactly what a release or a commit later moves back or on.

mod book;
mod commands;

pub use book::Inventory;
pub use commands::{Command, CreateWarehouse, SetStock};

use crate::catalog::Text;
use crate::geo::Adcode;
use crate::ids::{ShopId, SkuId, WarehouseId};
use crate::time::Timestamp;

pub type WarehouseName = Text<60>;

/// The most units a merchant may declare available for one SKU in one warehouse.
pub const STOCK_UNITS_MAX: i64 = 1_000_000_000;

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Warehouse {
    pub id: WarehouseId,
    pub shop: ShopId,
    pub name: WarehouseName,
    pub location: Adcode,
    pub created_at: Timestamp,
}

/// Why a merchant moved stock. Sales, reservations, dispatch and returns move units between
/// buckets or out of the warehouse for the platform's own reasons and are never movements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MovementCause {
    /// The merchant's count of what may be sold ([`SetStock`]).
    MerchantSet,
}

impl MovementCause {
    pub fn as_str(self) -> &'static str {
        match self {
            MovementCause::MerchantSet => "merchant_set",
        }
    }

    pub fn parse(text: &str) -> Option<MovementCause> {
        match text {
            "merchant_set" => Some(MovementCause::MerchantSet),
            _ => None,
        }
    }
}

/// One change a merchant made to the units available of a SKU in a warehouse: the stock
/// ledger's line. A count that changes nothing is not a movement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StockMovement {
    pub shop: ShopId,
    pub sku: SkuId,
    pub warehouse: WarehouseId,
    /// Units added (positive) or removed (negative).
    pub delta: i64,
    /// Units available after the movement.
    pub available_after: i64,
    pub at: Timestamp,
    pub cause: MovementCause,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StockLevel {
    pub available: i64,
    pub reserved: i64,
    pub sold: i64,
}

impl StockLevel {
    pub fn total(&self) -> i64 {
        self.available + self.reserved + self.sold
    }

    pub(super) fn assert_valid(&self) {
        assert!(
            self.available >= 0 && self.reserved >= 0 && self.sold >= 0,
            "stock went negative: {self:?}"
        );
    }
}

/// Units of one order line taken from one warehouse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Allocation {
    pub warehouse: WarehouseId,
    pub quantity: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::SkuId;

    fn sku(n: i64) -> SkuId {
        SkuId::new(n).expect("positive")
    }
    fn wh(n: i64) -> WarehouseId {
        WarehouseId::new(n).expect("positive")
    }

    #[test]
    fn a_line_comes_from_the_fullest_warehouse_and_splits_only_when_it_must() {
        let mut inventory = Inventory::default();
        inventory.set_available(sku(1), wh(1), 3);
        inventory.set_available(sku(1), wh(2), 5);
        let whole = inventory.plan_reservation(sku(1), 4).expect("enough");
        assert_eq!(
            whole,
            vec![Allocation {
                warehouse: wh(2),
                quantity: 4
            }]
        );
        let split = inventory.plan_reservation(sku(1), 7).expect("enough in all");
        assert_eq!(
            split,
            vec![
                Allocation {
                    warehouse: wh(2),
                    quantity: 5
                },
                Allocation {
                    warehouse: wh(1),
                    quantity: 2
                }
            ]
        );
        assert_eq!(inventory.plan_reservation(sku(1), 9), None);
    }

    #[test]
    fn reserve_release_and_commit_move_units_without_changing_the_total() {
        let mut inventory = Inventory::default();
        inventory.set_available(sku(1), wh(1), 10);
        let plan = inventory.plan_reservation(sku(1), 4).expect("enough");
        inventory.reserve(sku(1), &plan);
        assert_eq!(
            inventory.level(sku(1), wh(1)),
            StockLevel {
                available: 6,
                reserved: 4,
                sold: 0
            }
        );
        inventory.commit(sku(1), &plan);
        assert_eq!(
            inventory.level(sku(1), wh(1)),
            StockLevel {
                available: 6,
                reserved: 0,
                sold: 4
            }
        );
        let plan = inventory.plan_reservation(sku(1), 6).expect("enough");
        inventory.reserve(sku(1), &plan);
        inventory.release(sku(1), &plan);
        assert_eq!(
            inventory.level(sku(1), wh(1)),
            StockLevel {
                available: 6,
                reserved: 0,
                sold: 4
            }
        );
    }

    #[test]
    #[should_panic(expected = "stock went negative")]
    fn releasing_more_than_was_reserved_is_a_broken_invariant() {
        let mut inventory = Inventory::default();
        inventory.set_available(sku(1), wh(1), 1);
        inventory.release(
            sku(1),
            &[Allocation {
                warehouse: wh(1),
                quantity: 1,
            }],
        );
    }
}
