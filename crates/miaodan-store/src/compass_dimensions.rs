//! The compass's breadth on disk (migration 0012): per shop and hour, figures per region
//! (`compass_regions`), per SKU (`compass_skus`), per warehouse (`compass_warehouses`), per
//! warehouse and carrier service (`compass_carriers`, migration 0024: parcels only) and per
//! after-sales kind and reason (`compass_after_sales`), added to by the compass reader in the
//! transaction that moves its cursor (see [`Store::record_compass_with`]).
//!
//! The reader also keeps a small memory here (`compass_stock_rows`, `compass_shipments`,
//! `compass_requests`): an event carries an object's state after a change, not the change, so
//! telling "this stock row just ran out" or "this parcel was just delivered" from a repeat of
//! the same state takes the state the reader last saw. The memory is written in the same
//! transaction as the figures, so it never disagrees with them.

use crate::sql::{Conditions, Row, Statement, Value, id_list};
use crate::{Store, StoreError};
use miaodan_domain::{ShopId, Timestamp};
use std::collections::BTreeMap;

/// Counters of one kind: a struct of `i64` fields named as their columns.
macro_rules! counters {
    ($(#[$doc:meta])* $name:ident { $($(#[$field_doc:meta])* $field:ident),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct $name { $($(#[$field_doc])* pub $field: i64),* }

        impl $name {
            const COLUMNS: &'static [&'static str] = &[$(stringify!($field)),*];

            pub fn add(&mut self, other: &$name) {
                $(self.$field += other.$field;)*
            }

            fn values(&self) -> Vec<i64> {
                vec![$(self.$field),*]
            }

            pub(crate) fn from_row(r: &dyn Row, first: usize) -> Result<$name, StoreError> {
                let mut column = first;
                let mut next = || {
                    column += 1;
                    column - 1
                };
                Ok($name { $($field: r.i64(next())?),* })
            }
        }
    };
}

counters!(
    /// What buyers of one region ordered and paid.
    RegionFigures { orders, units, gmv_fen, paid_orders, paid_fen }
);

counters!(
    /// What one SKU sold, gave back and ran out of.
    SkuFigures {
        orders,
        units,
        gmv_fen,
        paid_units,
        /// After-sales requests refunded, counted against the request's first SKU.
        refunds,
        refunded_fen,
        /// Times one of its stock rows reached 0 available units.
        stock_outs,
    }
);

counters!(
    /// How one warehouse fulfilled.
    WarehouseFigures {
        /// Paid orders dispatched with a parcel from it; split ones among them; the promise kept.
        dispatched,
        split_orders,
        promise_kept,
        /// Parcels handed to a carrier, delivered, and delivered after the promise.
        shipped,
        delivered,
        delivered_late,
        alerts_raised,
        alerts_resolved,
    }
);

counters!(
    /// How one warehouse's parcels with one carrier service went: handed over, delivered, and
    /// delivered after the promise.
    CarrierFigures { shipped, delivered, delivered_late }
);

counters!(
    /// What after-sales requests of one kind and reason came to.
    AfterSalesFigures { requested, approved, rejected, refunded, refunded_fen }
);

/// A shop, an hour (UTC epoch ms at its start) and what is counted in it.
pub type HourKey<K> = (ShopId, i64, K);

/// What the reader remembers of one shipment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShipmentMemory {
    pub warehouse: i64,
    pub delivered: bool,
}

/// The reader's memory of the objects a run of events is about (see the module's header), and
/// which product each SKU belongs to (read from the catalog: a SKU never changes product).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompassMemory {
    /// `(sku, warehouse)`: the available units the reader last saw.
    pub stock: BTreeMap<(i64, i64), i64>,
    pub shipments: BTreeMap<i64, ShipmentMemory>,
    /// After-sales request: how many steps of its timeline are counted.
    pub requests: BTreeMap<i64, i64>,
    pub products: BTreeMap<i64, i64>,
}

/// Which objects' memory a run of events needs.
#[derive(Clone, Debug, Default)]
pub struct MemoryKeys {
    pub stock_skus: Vec<i64>,
    pub shipments: Vec<i64>,
    pub requests: Vec<i64>,
    pub skus: Vec<i64>,
}

/// What a run of events adds to the compass's breadth, and the reader's memory after it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompassDimensions {
    /// Keyed by city-level adcode.
    pub regions: BTreeMap<HourKey<i64>, RegionFigures>,
    /// Keyed by SKU, with its product.
    pub skus: BTreeMap<HourKey<i64>, (i64, SkuFigures)>,
    pub warehouses: BTreeMap<HourKey<i64>, WarehouseFigures>,
    /// Keyed by (warehouse, carrier service).
    pub carriers: BTreeMap<HourKey<(i64, String)>, CarrierFigures>,
    /// Keyed by (first SKU, kind, reason).
    pub after_sales: BTreeMap<HourKey<(i64, String, String)>, AfterSalesFigures>,
    pub memory: CompassMemory,
}

/// `INSERT … ON CONFLICT (keys) DO UPDATE SET c = table.c + excluded.c` for each counter;
/// `labels` (a SKU's product) are written with a new row and left as they are after.
fn add_counters(table: &str, keys: &[&str], labels: &[&str], counters: &[&str], params: Vec<Value>) -> Statement {
    let columns: Vec<&str> = keys.iter().chain(labels).chain(counters).copied().collect();
    let placeholders: Vec<String> = (1..=columns.len()).map(|n| format!("${n}")).collect();
    let sums: Vec<String> = counters
        .iter()
        .map(|c| format!("{c} = {table}.{c} + excluded.{c}"))
        .collect();
    Statement::owned(
        format!(
            "INSERT INTO {table} ({}) VALUES ({}) ON CONFLICT ({}) DO UPDATE SET {}",
            columns.join(", "),
            placeholders.join(", "),
            keys.join(", "),
            sums.join(", ")
        ),
        params,
    )
}

/// The parameters of a row: its shop and hour, then `rest` (further keys and labels), then
/// its counters.
fn row_params(shop: ShopId, hour_ms: i64, rest: Vec<Value>, counters: Vec<i64>) -> Vec<Value> {
    let mut params = vec![Value::I64(shop.get()), Value::I64(hour_ms)];
    params.extend(rest);
    params.extend(counters.into_iter().map(Value::I64));
    params
}

impl CompassDimensions {
    pub fn is_empty(&self) -> bool {
        self.regions.is_empty()
            && self.skus.is_empty()
            && self.warehouses.is_empty()
            && self.carriers.is_empty()
            && self.after_sales.is_empty()
    }

    /// The statements that add these figures and keep the memory (for
    /// [`Store::record_compass_with`], in the transaction of the reader's cursor).
    pub fn statements(&self) -> Vec<Statement> {
        let mut statements = Vec::new();
        for ((shop, hour, adcode), f) in &self.regions {
            let params = row_params(*shop, *hour, vec![Value::I64(*adcode)], f.values());
            let keys = ["shop_id", "hour_ms", "adcode"];
            statements.push(add_counters(
                "compass_regions",
                &keys,
                &[],
                RegionFigures::COLUMNS,
                params,
            ));
        }
        for ((shop, hour, sku), (product, f)) in &self.skus {
            let params = row_params(*shop, *hour, vec![Value::I64(*sku), Value::I64(*product)], f.values());
            let keys = ["shop_id", "hour_ms", "sku"];
            statements.push(add_counters(
                "compass_skus",
                &keys,
                &["product"],
                SkuFigures::COLUMNS,
                params,
            ));
        }
        for ((shop, hour, warehouse), f) in &self.warehouses {
            let params = row_params(*shop, *hour, vec![Value::I64(*warehouse)], f.values());
            let (table, keys) = ("compass_warehouses", ["shop_id", "hour_ms", "warehouse"]);
            statements.push(add_counters(table, &keys, &[], WarehouseFigures::COLUMNS, params));
        }
        for ((shop, hour, (warehouse, carrier)), f) in &self.carriers {
            let rest = vec![Value::I64(*warehouse), Value::Text(carrier.clone())];
            let params = row_params(*shop, *hour, rest, f.values());
            let (table, keys) = ("compass_carriers", ["shop_id", "hour_ms", "warehouse", "carrier"]);
            statements.push(add_counters(table, &keys, &[], CarrierFigures::COLUMNS, params));
        }
        for ((shop, hour, (sku, kind, reason)), f) in &self.after_sales {
            let rest = vec![Value::I64(*sku), Value::Text(kind.clone()), Value::Text(reason.clone())];
            let params = row_params(*shop, *hour, rest, f.values());
            let (table, keys) = ("compass_after_sales", ["shop_id", "hour_ms", "sku", "kind", "reason"]);
            statements.push(add_counters(table, &keys, &[], AfterSalesFigures::COLUMNS, params));
        }
        statements.extend(self.memory.statements());
        statements
    }
}

impl CompassMemory {
    fn statements(&self) -> Vec<Statement> {
        let stock = self.stock.iter().map(|((sku, warehouse), available)| {
            Statement::new(
                "INSERT INTO compass_stock_rows (sku, warehouse, available) VALUES ($1, $2, $3)
                 ON CONFLICT (sku, warehouse) DO UPDATE SET available = excluded.available",
                vec![Value::I64(*sku), Value::I64(*warehouse), Value::I64(*available)],
            )
        });
        let shipments = self.shipments.iter().map(|(shipment, m)| {
            Statement::new(
                "INSERT INTO compass_shipments (shipment, warehouse, delivered) VALUES ($1, $2, $3)
                 ON CONFLICT (shipment) DO UPDATE SET warehouse = excluded.warehouse, delivered = excluded.delivered",
                vec![
                    Value::I64(*shipment),
                    Value::I64(m.warehouse),
                    Value::I64(i64::from(m.delivered)),
                ],
            )
        });
        let requests = self.requests.iter().map(|(request, steps)| {
            Statement::new(
                "INSERT INTO compass_requests (request, steps) VALUES ($1, $2)
                 ON CONFLICT (request) DO UPDATE SET steps = excluded.steps",
                vec![Value::I64(*request), Value::I64(*steps)],
            )
        });
        stock.chain(shipments).chain(requests).collect()
    }
}

/// How finely regions are told apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionLevel {
    Province,
    City,
}

/// What top SKUs are ranked by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkuRanking {
    Gmv,
    Units,
    Refunds,
}

/// A SKU's label from the catalog: its product, the product's title and the SKU's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkuLabel {
    pub sku: i64,
    pub product: i64,
    pub title: String,
    pub name: String,
}

/// The most groups one breadth query answers (regions, warehouses, kinds and reasons): more
/// than there are cities, and than any shop has warehouses.
pub const COMPASS_GROUPS_MAX: i64 = 5_000;

/// Sums of `columns` as BIGINT (PostgreSQL's `SUM` of BIGINT is numeric).
fn sums(columns: &[&str]) -> String {
    columns
        .iter()
        .map(|c| format!("CAST(SUM({c}) AS BIGINT)"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The shop and hour conditions every breadth query shares.
fn range_conditions(shop: Option<ShopId>, from: Timestamp, to: Timestamp) -> Conditions {
    let mut conditions = Conditions::default();
    conditions.and("hour_ms >= ?", vec![Value::I64(from.unix_ms())]);
    conditions.and("hour_ms < ?", vec![Value::I64(to.unix_ms())]);
    if let Some(shop) = shop {
        conditions.and("shop_id = ?", vec![Value::I64(shop.get())]);
    }
    conditions
}

/// Every table the compass reader writes (a test holds it to the migrations' `compass_*` tables).
const COMPASS_TABLES: [&str; 13] = [
    "compass_minutes",
    "compass_hours",
    "compass_regions",
    "compass_skus",
    "compass_warehouses",
    "compass_carriers",
    "compass_after_sales",
    "compass_stock_rows",
    "compass_shipments",
    "compass_requests",
    "compass_flash_sale_minutes",
    "compass_flash_sale_provinces",
    "compass_flash_sales",
];

impl Store {
    /// What the reader remembers of these objects, and the products of these SKUs.
    pub async fn compass_memory(&self, keys: &MemoryKeys) -> Result<CompassMemory, StoreError> {
        let mut memory = CompassMemory::default();
        if !keys.stock_skus.is_empty() {
            let sql = format!(
                "SELECT sku, warehouse, available FROM compass_stock_rows WHERE sku IN ({})",
                id_list(keys.stock_skus.iter().copied())
            );
            let rows = self.query(Statement::owned(sql, vec![]), |r| {
                Ok(((r.i64(0)?, r.i64(1)?), r.i64(2)?))
            });
            memory.stock = rows.await?.into_iter().collect();
        }
        if !keys.shipments.is_empty() {
            let sql = format!(
                "SELECT shipment, warehouse, delivered FROM compass_shipments WHERE shipment IN ({})",
                id_list(keys.shipments.iter().copied())
            );
            let rows = self.query(Statement::owned(sql, vec![]), |r| {
                let (warehouse, delivered) = (r.i64(1)?, r.i64(2)? != 0);
                Ok((r.i64(0)?, ShipmentMemory { warehouse, delivered }))
            });
            memory.shipments = rows.await?.into_iter().collect();
        }
        if !keys.requests.is_empty() {
            let sql = format!(
                "SELECT request, steps FROM compass_requests WHERE request IN ({})",
                id_list(keys.requests.iter().copied())
            );
            let rows = self.query(Statement::owned(sql, vec![]), |r| Ok((r.i64(0)?, r.i64(1)?)));
            memory.requests = rows.await?.into_iter().collect();
        }
        if !keys.skus.is_empty() {
            let sql = format!(
                "SELECT id, product_id FROM skus WHERE id IN ({})",
                id_list(keys.skus.iter().copied())
            );
            let rows = self.query(Statement::owned(sql, vec![]), |r| Ok((r.i64(0)?, r.i64(1)?)));
            memory.products = rows.await?.into_iter().collect();
        }
        Ok(memory)
    }

    /// Forgets everything the compass folded — its minutes, its breadth, its memory — and
    /// its cursor, in one transaction: its reader then folds again every event the outbox
    /// still keeps. Run it while no server is folding (a pass in flight would write figures
    /// of events after the reset's place).
    pub async fn reset_compass(&self) -> Result<(), StoreError> {
        let mut statements: Vec<Statement> = COMPASS_TABLES
            .iter()
            .map(|t| Statement::owned(format!("DELETE FROM {t}"), vec![]))
            .collect();
        statements.push(Statement::new(
            "DELETE FROM outbox_cursors WHERE consumer = $1",
            vec![Value::Text(crate::COMPASS_READER.into())],
        ));
        self.execute_atomically(statements).await
    }

    /// Figures per region over `[from, to)`, most GMV first.
    pub async fn compass_regions(
        &self,
        shop: Option<ShopId>,
        from: Timestamp,
        to: Timestamp,
        level: RegionLevel,
    ) -> Result<Vec<(i64, RegionFigures)>, StoreError> {
        // Cities are stored; a province's code is its cities' with the last ten digits zero.
        let region = match level {
            RegionLevel::City => "adcode",
            RegionLevel::Province => "adcode / 10000000000 * 10000000000",
        };
        let head = format!(
            "{region} AS region, {} FROM compass_regions",
            sums(RegionFigures::COLUMNS)
        );
        let tail = "GROUP BY region ORDER BY 4 DESC, region";
        let statement = range_conditions(shop, from, to).select(&head, tail, COMPASS_GROUPS_MAX);
        self.query(statement, |r| Ok((r.i64(0)?, RegionFigures::from_row(r, 1)?)))
            .await
    }

    /// The `limit` SKUs ranked first by `ranking` over `[from, to)`, with their product.
    pub async fn compass_skus(
        &self,
        shop: Option<ShopId>,
        from: Timestamp,
        to: Timestamp,
        ranking: SkuRanking,
        limit: i64,
    ) -> Result<Vec<(i64, i64, SkuFigures)>, StoreError> {
        let rank = match ranking {
            SkuRanking::Gmv => "SUM(gmv_fen)",
            SkuRanking::Units => "SUM(units)",
            SkuRanking::Refunds => "SUM(refunds)",
        };
        let head = format!("sku, MAX(product), {} FROM compass_skus", sums(SkuFigures::COLUMNS));
        let tail = format!("GROUP BY sku ORDER BY {rank} DESC, sku");
        let statement = range_conditions(shop, from, to).select(&head, &tail, limit);
        self.query(statement, |r| Ok((r.i64(0)?, r.i64(1)?, SkuFigures::from_row(r, 2)?)))
            .await
    }

    /// Figures per warehouse over `[from, to)` (one warehouse's, if asked).
    pub async fn compass_warehouses(
        &self,
        shop: Option<ShopId>,
        from: Timestamp,
        to: Timestamp,
        warehouse: Option<i64>,
    ) -> Result<Vec<(i64, WarehouseFigures)>, StoreError> {
        let mut conditions = range_conditions(shop, from, to);
        if let Some(warehouse) = warehouse {
            conditions.and("warehouse = ?", vec![Value::I64(warehouse)]);
        }
        let head = format!("warehouse, {} FROM compass_warehouses", sums(WarehouseFigures::COLUMNS));
        let statement = conditions.select(&head, "GROUP BY warehouse ORDER BY warehouse", COMPASS_GROUPS_MAX);
        self.query(statement, |r| Ok((r.i64(0)?, WarehouseFigures::from_row(r, 1)?)))
            .await
    }

    /// Alerts open now per warehouse (raised and not resolved, whenever raised).
    pub async fn compass_open_alerts(&self, shop: Option<ShopId>) -> Result<Vec<(i64, i64)>, StoreError> {
        let mut conditions = Conditions::default();
        if let Some(shop) = shop {
            conditions.and("shop_id = ?", vec![Value::I64(shop.get())]);
        }
        let head = "warehouse, CAST(SUM(alerts_raised - alerts_resolved) AS BIGINT) FROM compass_warehouses";
        let statement = conditions.select(head, "GROUP BY warehouse ORDER BY warehouse", COMPASS_GROUPS_MAX);
        self.query(statement, |r| Ok((r.i64(0)?, r.i64(1)?))).await
    }

    /// After-sales figures per kind and reason over `[from, to)`.
    pub async fn compass_after_sales(
        &self,
        shop: Option<ShopId>,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<(String, String, AfterSalesFigures)>, StoreError> {
        let head = format!(
            "kind, reason, {} FROM compass_after_sales",
            sums(AfterSalesFigures::COLUMNS)
        );
        let statement = range_conditions(shop, from, to).select(
            &head,
            "GROUP BY kind, reason ORDER BY kind, reason",
            COMPASS_GROUPS_MAX,
        );
        self.query(statement, |r| {
            Ok((r.text(0)?, r.text(1)?, AfterSalesFigures::from_row(r, 2)?))
        })
        .await
    }

    /// The catalog's labels of these SKUs (unknown ones are absent).
    pub async fn sku_labels(&self, skus: &[i64]) -> Result<Vec<SkuLabel>, StoreError> {
        if skus.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT skus.id, skus.product_id, products.title, skus.name FROM skus
             JOIN products ON products.id = skus.product_id AND products.shop_id = skus.shop_id
             WHERE skus.id IN ({})",
            id_list(skus.iter().copied())
        );
        self.query(Statement::owned(sql, vec![]), |r| {
            Ok(SkuLabel {
                sku: r.i64(0)?,
                product: r.i64(1)?,
                title: r.text(2)?,
                name: r.text(3)?,
            })
        })
        .await
    }
}

#[cfg(test)]
mod reset_tests {
    use super::COMPASS_TABLES;

    #[test]
    fn a_reset_forgets_every_table_the_migrations_give_the_compass() {
        let mut created: Vec<String> = crate::migrations::MIGRATIONS
            .iter()
            .flat_map(|m| m.sql().split("CREATE TABLE IF NOT EXISTS ").skip(1))
            .filter_map(|rest| rest.split_whitespace().next())
            .filter(|name| name.starts_with("compass_"))
            .map(|name| name.trim_end_matches('(').to_string())
            .collect();
        created.sort();
        let mut reset: Vec<String> = COMPASS_TABLES.iter().map(|t| t.to_string()).collect();
        reset.sort();
        assert_eq!(created, reset);
    }
}
