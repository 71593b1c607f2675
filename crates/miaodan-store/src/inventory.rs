//! Inventory on disk: warehouses and the stock rows (available / reserved / sold per SKU and
//! warehouse), what a starting shard reads back of them, and the stock audit.
//!
//! The `CHECK (… >= 0)` constraints on `stock` repeat the core's "never negative" invariant at
//! the disk boundary; [`Store::audit_stock`] lets a benchmark or a test check conservation.

use crate::records::Keyset;
use crate::sql::{Conditions, Row, ShardOf, Statement, Value, id, ms};
use crate::{Store, StoreError};
use miaodan_domain::catalog::Text;
use miaodan_domain::geo::Adcode;
use miaodan_domain::inventory::{StockLevel, StockMovement, Warehouse};
use miaodan_domain::{ShopId, SkuId, WarehouseId};
use std::collections::BTreeMap;

const UPSERT_WAREHOUSE: &str = "INSERT INTO warehouses (id, shop_id, name, adcode, created_at)
    VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id{SPREAD_BY shop_id}) DO UPDATE SET name = excluded.name, adcode = excluded.adcode";
const INSERT_MOVEMENT: &str =
    "INSERT INTO stock_movements (shop_id, sku_id, warehouse_id, delta, available_after, at_ms, cause)
    VALUES ($1, $2, $3, $4, $5, $6, $7)";
const UPSERT_STOCK: &str = "INSERT INTO stock (sku_id, warehouse_id, shop_id, available, reserved, sold)
    VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (sku_id, warehouse_id{SPREAD_BY shop_id}) DO UPDATE SET
    available = excluded.available, reserved = excluded.reserved, sold = excluded.sold";

/// The inventory effects of one batch. Warehouses are upserted in effect order; stock rows are
/// coalesced: a hot SKU touched by a thousand orders in a batch costs one row write, with its
/// final level. Merchants' movements are ledger lines, each appended, never coalesced.
#[derive(Default)]
pub(crate) struct InventoryWrites {
    warehouses: Vec<Statement>,
    movements: Vec<Statement>,
    stock: BTreeMap<(SkuId, WarehouseId), (ShopId, StockLevel)>,
}

impl InventoryWrites {
    pub(crate) fn warehouse_saved(&mut self, w: &Warehouse) {
        self.warehouses.push(Statement::new(
            UPSERT_WAREHOUSE,
            vec![
                Value::I64(w.id.get()),
                Value::I64(w.shop.get()),
                Value::Text(w.name.as_str().into()),
                Value::I64(w.location.get()),
                Value::I64(w.created_at.unix_ms()),
            ],
        ));
    }

    /// `level` is the row's new level, not a change.
    pub(crate) fn stock_changed(&mut self, shop: ShopId, sku: SkuId, warehouse: WarehouseId, level: StockLevel) {
        self.stock.insert((sku, warehouse), (shop, level));
    }

    pub(crate) fn stock_moved(&mut self, m: &StockMovement) {
        self.movements.push(Statement::new(
            INSERT_MOVEMENT,
            vec![
                Value::I64(m.shop.get()),
                Value::I64(m.sku.get()),
                Value::I64(m.warehouse.get()),
                Value::I64(m.delta),
                Value::I64(m.available_after),
                Value::I64(m.at.unix_ms()),
                Value::Text(m.cause.as_str().into()),
            ],
        ));
    }

    pub(crate) fn push_statements(self, statements: &mut Vec<Statement>) {
        statements.extend(self.warehouses);
        statements.extend(self.movements);
        for ((sku, warehouse), (shop, level)) in self.stock {
            statements.push(Statement::new(
                UPSERT_STOCK,
                vec![
                    Value::I64(sku.get()),
                    Value::I64(warehouse.get()),
                    Value::I64(shop.get()),
                    Value::I64(level.available),
                    Value::I64(level.reserved),
                    Value::I64(level.sold),
                ],
            ));
        }
    }
}

const WAREHOUSE_COLUMNS: &str = "id, shop_id, name, adcode, created_at";
fn warehouse(row: &dyn Row) -> Result<Warehouse, StoreError> {
    Ok(Warehouse {
        id: id(row.i64(0)?, WarehouseId::new)?,
        shop: id(row.i64(1)?, ShopId::new)?,
        name: Text::from_stored(row.text(2)?),
        location: Adcode::from_stored(row.i64(3)?),
        created_at: ms(row.i64(4)?),
    })
}

const STOCK_COLUMNS: &str = "sku_id, warehouse_id, available, reserved, sold";
fn stock(row: &dyn Row) -> Result<(SkuId, WarehouseId, StockLevel), StoreError> {
    Ok((
        id(row.i64(0)?, SkuId::new)?,
        id(row.i64(1)?, WarehouseId::new)?,
        StockLevel {
            available: row.i64(2)?,
            reserved: row.i64(3)?,
            sold: row.i64(4)?,
        },
    ))
}

/// The database's account of stock: rows with a negative count, and totals.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StockAudit {
    pub negative_rows: i64,
    pub available: i64,
    pub reserved: i64,
    pub sold: i64,
    /// Units held by pending orders (should equal `reserved` minus what open sales and open
    /// exchanges hold).
    pub units_in_pending_orders: i64,
    /// Units of orders paid for: paid, shipped or delivered (shipping does not un-sell them).
    pub units_in_paid_orders: i64,
    pub units_held_by_open_sales: i64,
}

/// What a starting shard holds of inventory.
pub(crate) struct ShardInventory {
    pub warehouses: Vec<Warehouse>,
    pub stock: Vec<(SkuId, WarehouseId, StockLevel)>,
}

impl Store {
    pub(crate) async fn load_shard_inventory(&self, shard: ShardOf) -> Result<ShardInventory, StoreError> {
        Ok(ShardInventory {
            warehouses: self
                .query(shard.select(WAREHOUSE_COLUMNS, "warehouses", "shop_id"), warehouse)
                .await?,
            stock: self
                .query(shard.select(STOCK_COLUMNS, "stock", "shop_id"), stock)
                .await?,
        })
    }

    /// A page of a shop's warehouses, by id.
    pub async fn warehouses(&self, shop: ShopId, page: Keyset<i64>) -> Result<Vec<Warehouse>, StoreError> {
        let mut conditions = Conditions::default();
        conditions.and("shop_id = ?", vec![Value::I64(shop.get())]);
        if let Some(after) = page.after {
            conditions.and("id > ?", vec![Value::I64(after)]);
        }
        let head = format!("{WAREHOUSE_COLUMNS} FROM warehouses");
        self.query(conditions.select(&head, "ORDER BY id", page.limit), warehouse)
            .await
    }

    /// A page of a SKU's stock rows, by warehouse id.
    pub async fn stock_page(
        &self,
        sku: SkuId,
        page: Keyset<i64>,
    ) -> Result<Vec<(WarehouseId, StockLevel)>, StoreError> {
        let mut conditions = Conditions::default();
        conditions.and("sku_id = ?", vec![Value::I64(sku.get())]);
        if let Some(after) = page.after {
            conditions.and("warehouse_id > ?", vec![Value::I64(after)]);
        }
        let head = format!("{STOCK_COLUMNS} FROM stock");
        let rows = self
            .query(conditions.select(&head, "ORDER BY warehouse_id", page.limit), stock)
            .await?;
        Ok(rows.into_iter().map(|(_, w, l)| (w, l)).collect())
    }

    /// Every stock row of a SKU, by warehouse id.
    pub async fn stock_of(&self, sku: SkuId) -> Result<Vec<(WarehouseId, StockLevel)>, StoreError> {
        let statement = Statement::owned(
            format!("SELECT {STOCK_COLUMNS} FROM stock WHERE sku_id = $1 ORDER BY warehouse_id"),
            vec![Value::I64(sku.get())],
        );
        Ok(self
            .query(statement, stock)
            .await?
            .into_iter()
            .map(|(_, w, l)| (w, l))
            .collect())
    }

    pub async fn audit_stock(&self) -> Result<StockAudit, StoreError> {
        let sql = "SELECT
              (SELECT COUNT(*) FROM stock WHERE available < 0 OR reserved < 0 OR sold < 0),
              (SELECT COALESCE(CAST(SUM(available) AS BIGINT), 0) FROM stock),
              (SELECT COALESCE(CAST(SUM(reserved) AS BIGINT), 0) FROM stock),
              (SELECT COALESCE(CAST(SUM(sold) AS BIGINT), 0) FROM stock),
              (SELECT COALESCE(CAST(SUM(l.quantity) AS BIGINT), 0) FROM orders o JOIN order_lines l ON l.order_id = o.id AND l.shop_id = o.shop_id
                 WHERE o.state = 'pending_payment'),
              (SELECT COALESCE(CAST(SUM(l.quantity) AS BIGINT), 0) FROM orders o JOIN order_lines l ON l.order_id = o.id AND l.shop_id = o.shop_id
                 WHERE o.state IN ('paid', 'shipped', 'delivered')),
              (SELECT COALESCE(CAST(SUM(remaining) AS BIGINT), 0) FROM flash_sales WHERE closed = 0)";
        self.query_row(
            Statement::new(sql, vec![]),
            |r| {
                Ok(StockAudit {
                    negative_rows: r.i64(0)?,
                    available: r.i64(1)?,
                    reserved: r.i64(2)?,
                    sold: r.i64(3)?,
                    units_in_pending_orders: r.i64(4)?,
                    units_in_paid_orders: r.i64(5)?,
                    units_held_by_open_sales: r.i64(6)?,
                })
            },
            || "no stock audit row".into(),
        )
        .await
    }
}
