//! The figures of the merchant quality index, read from tables the platform already keeps:
//! paid orders from `compass_hours`, parcels from `compass_warehouses` (both keyed by shop and
//! hour), alerts from `package_alerts` (by shop and raise time), and after-sales requests from
//! `after_sales_requests` (by shop and opening time), their timelines read by the core.
//!
//! The same logistics figures, grouped by warehouse and by warehouse and carrier service (parcels
//! from `compass_carriers`), are the broken promises' breakdown ([`Store::promise_figures`]); a shop's ended flash sales with their
//! orders' fates, and the stock its merchant moved around each, are the fake-stock figures
//! ([`Store::fake_stock_figures`], [`Store::stock_moved_around`], from the `stock_movements`
//! ledger).
//!
//! Every query is bounded by one shop and the period through an index whose first columns are
//! the shop and the time; requests are read in pages of [`REQUESTS_PAGE_ROWS`].

use crate::after_sales::request_page_row;
use crate::catalog::{SHOP_COLUMNS, shop};
use crate::compass_dimensions::CarrierFigures;
use crate::sql::{Statement, Value};
use crate::{Store, StoreError};
use miaodan_domain::catalog::{Shop, ShopCategory};
use miaodan_domain::integrity::fake_stock::SaleFigures;
use miaodan_domain::integrity::quality::QualityFigures;
use miaodan_domain::{ShopId, Timestamp};

/// Requests read per query while a shop's period is counted.
pub const REQUESTS_PAGE_ROWS: i64 = 1_000;

impl Store {
    /// `shop`'s figures for the quality index over `[from, to)`.
    pub async fn quality_figures(
        &self,
        shop: ShopId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<QualityFigures, StoreError> {
        let bounds = || {
            vec![
                Value::I64(shop.get()),
                Value::I64(from.unix_ms()),
                Value::I64(to.unix_ms()),
            ]
        };
        let mut figures = QualityFigures::default();
        let paid = Statement::new(
            "SELECT CAST(COALESCE(SUM(paid_orders), 0) AS BIGINT) FROM compass_hours WHERE shop_id = $1 AND hour_ms >= $2 AND hour_ms < $3",
            bounds(),
        );
        figures.paid_orders = self
            .query_row(paid, |r| r.i64(0), || "a sum without a row".into())
            .await?;
        let logistics = self.promise_figures(shop, from, to).await?;
        for w in &logistics.warehouses {
            figures.parcels_shipped += w.shipped;
            figures.parcels_delivered += w.delivered;
            figures.parcels_late += w.delivered_late;
        }
        for a in &logistics.alerts {
            figures.alerts_raised += a.raised;
            figures.alerts_open += a.open;
        }
        self.count_requests(shop, from, to, &mut figures).await?;
        Ok(figures)
    }

    async fn count_requests(
        &self,
        shop: ShopId,
        from: Timestamp,
        to: Timestamp,
        figures: &mut QualityFigures,
    ) -> Result<(), StoreError> {
        let mut after = (from.unix_ms(), 0);
        loop {
            let page = Statement::new(
                "SELECT id, body, opened_at FROM after_sales_requests
                 WHERE shop_id = $1 AND opened_at < $2 AND (opened_at > $3 OR (opened_at = $3 AND id > $4))
                 ORDER BY opened_at, id LIMIT $5",
                vec![
                    Value::I64(shop.get()),
                    Value::I64(to.unix_ms()),
                    Value::I64(after.0),
                    Value::I64(after.1),
                    Value::I64(REQUESTS_PAGE_ROWS),
                ],
            );
            let rows = self.query(page, request_page_row).await?;
            for (saved, opened_at) in &rows {
                figures.add_request(&saved.request);
                after = (*opened_at, saved.id.get());
            }
            if i64::try_from(rows.len()).unwrap_or(i64::MAX) < REQUESTS_PAGE_ROWS {
                return Ok(());
            }
        }
    }

    /// The shops of `category`, by id, at most `limit` after `after`.
    pub async fn shops_in_category(
        &self,
        category: ShopCategory,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Shop>, StoreError> {
        let statement = Statement::owned(
            format!("SELECT {SHOP_COLUMNS} FROM shops WHERE category = $1 AND id > $2 ORDER BY id LIMIT $3"),
            vec![
                Value::Text(category.as_str().into()),
                Value::I64(after),
                Value::I64(limit),
            ],
        );
        self.query(statement, shop).await
    }
}

/// One warehouse's parcels over a period (from the compass's hourly rows).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WarehouseParcels {
    pub warehouse: i64,
    pub shipped: i64,
    pub delivered: i64,
    pub delivered_late: i64,
}

/// One warehouse's parcels with one carrier service over a period (from the compass's hourly
/// rows per carrier, counted since migration 0024).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CarrierParcels {
    pub warehouse: i64,
    pub carrier: String,
    pub shipped: i64,
    pub delivered: i64,
    pub delivered_late: i64,
}

/// The package alerts raised over a period on one warehouse's parcels with one carrier
/// service (warehouse 0 and carrier "" for an alert whose shipment is not found).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertGroup {
    pub warehouse: i64,
    pub carrier: String,
    pub raised: i64,
    pub open: i64,
    /// Raised for a parcel not picked up in time.
    pub late_pickups: i64,
    /// Still open a day or more before the period's end.
    pub open_past_day: i64,
}

/// A shop's logistics figures, grouped where a merchant can act on them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PromiseBreakdown {
    /// By warehouse id.
    pub warehouses: Vec<WarehouseParcels>,
    /// By warehouse, then carrier.
    pub carriers: Vec<CarrierParcels>,
    /// By warehouse, then carrier.
    pub alerts: Vec<AlertGroup>,
}

/// An ended flash sale with the figures fake-stock detection reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndedSale {
    pub id: i64,
    pub sku: i64,
    pub warehouse: i64,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub figures: SaleFigures,
}

/// A shop's parcels over a period from one of the compass's hourly parcel tables, summed per
/// `group` (its key columns after the shop and the hour), in `group` order.
fn parcels_statement(table: &str, group: &str, bounds: Vec<Value>) -> Statement {
    Statement::owned(
        format!(
            "SELECT {group}, CAST(SUM(shipped) AS BIGINT), CAST(SUM(delivered) AS BIGINT), CAST(SUM(delivered_late) AS BIGINT)
             FROM {table} WHERE shop_id = $1 AND hour_ms >= $2 AND hour_ms < $3 GROUP BY {group} ORDER BY {group}"
        ),
        bounds,
    )
}

/// The most ended sales one fake-stock report reads (the latest ones of the period).
pub const FAKE_STOCK_SALES_MAX: i64 = 200;
const DAY_MS: i64 = 86_400_000;

impl Store {
    /// `shop`'s parcels by warehouse and by warehouse and carrier, and alerts by warehouse and
    /// carrier, over `[from, to)`.
    pub async fn promise_figures(
        &self,
        shop: ShopId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<PromiseBreakdown, StoreError> {
        let bounds = vec![
            Value::I64(shop.get()),
            Value::I64(from.unix_ms()),
            Value::I64(to.unix_ms()),
        ];
        let parcels = parcels_statement("compass_warehouses", "warehouse", bounds.clone());
        let warehouses = self
            .query(parcels, |r| {
                Ok(WarehouseParcels {
                    warehouse: r.i64(0)?,
                    shipped: r.i64(1)?,
                    delivered: r.i64(2)?,
                    delivered_late: r.i64(3)?,
                })
            })
            .await?;
        let parcels = parcels_statement("compass_carriers", "warehouse, carrier", bounds.clone());
        let carriers = self
            .query(parcels, |r| {
                // The statement's sums are the carrier counters, in their order.
                let f = CarrierFigures::from_row(r, 2)?;
                Ok(CarrierParcels {
                    warehouse: r.i64(0)?,
                    carrier: r.text(1)?,
                    shipped: f.shipped,
                    delivered: f.delivered,
                    delivered_late: f.delivered_late,
                })
            })
            .await?;
        // Placeholders are numbered in order of first use: the cutoff comes first.
        let mut params = vec![Value::I64(to.unix_ms() - DAY_MS)];
        params.extend(bounds);
        let alerts = Statement::new(
            "SELECT COALESCE(s.warehouse_id, 0), COALESCE(s.carrier, ''), COUNT(*),
               CAST(COALESCE(SUM(CASE WHEN a.is_open <> 0 THEN 1 ELSE 0 END), 0) AS BIGINT),
               CAST(COALESCE(SUM(CASE WHEN a.rule = 'not_picked_up' THEN 1 ELSE 0 END), 0) AS BIGINT),
               CAST(COALESCE(SUM(CASE WHEN a.is_open <> 0 AND a.raised_at <= $1 THEN 1 ELSE 0 END), 0) AS BIGINT)
             FROM package_alerts a LEFT JOIN shipments s ON s.id = a.shipment_id AND s.shop_id = a.shop_id
             WHERE a.shop_id = $2 AND a.raised_at >= $3 AND a.raised_at < $4
             GROUP BY COALESCE(s.warehouse_id, 0), COALESCE(s.carrier, '') ORDER BY 1, 2",
            params,
        );
        let alerts = self
            .query(alerts, |r| {
                Ok(AlertGroup {
                    warehouse: r.i64(0)?,
                    carrier: r.text(1)?,
                    raised: r.i64(2)?,
                    open: r.i64(3)?,
                    late_pickups: r.i64(4)?,
                    open_past_day: r.i64(5)?,
                })
            })
            .await?;
        Ok(PromiseBreakdown {
            warehouses,
            carriers,
            alerts,
        })
    }

    /// `shop`'s flash sales that ended in `[from, to)` (or were ended early then), latest
    /// first, at most [`FAKE_STOCK_SALES_MAX`], each with its orders' fates and the stock moved
    /// around it within `pull_window_ms` ([`Store::stock_moved_around`]); an order paid
    /// `dispatch_grace_ms` before `to` and still waiting to ship counts as never dispatched.
    pub async fn fake_stock_figures(
        &self,
        shop: ShopId,
        (from, to): (Timestamp, Timestamp),
        dispatch_grace_ms: i64,
        pull_window_ms: i64,
    ) -> Result<Vec<EndedSale>, StoreError> {
        let sales = Statement::new(
            "SELECT id, sku_id, warehouse_id, starts_at, ends_at, allotted FROM flash_sales
             WHERE shop_id = $1 AND ends_at >= $2 AND ends_at < $3 ORDER BY ends_at DESC, id DESC LIMIT $4",
            vec![
                Value::I64(shop.get()),
                Value::I64(from.unix_ms()),
                Value::I64(to.unix_ms()),
                Value::I64(FAKE_STOCK_SALES_MAX),
            ],
        );
        let mut sales = self
            .query(sales, |r| {
                Ok(EndedSale {
                    id: r.i64(0)?,
                    sku: r.i64(1)?,
                    warehouse: r.i64(2)?,
                    starts_at: Timestamp::from_unix_ms(r.i64(3)?),
                    ends_at: Timestamp::from_unix_ms(r.i64(4)?),
                    figures: SaleFigures {
                        units_announced: r.i64(5)?,
                        ..SaleFigures::default()
                    },
                })
            })
            .await?;
        let dispatch_cutoff = to.unix_ms() - dispatch_grace_ms;
        for sale in &mut sales {
            self.count_sale_orders(sale, dispatch_cutoff).await?;
            let around = self
                .stock_moved_around(sale.sku, sale.warehouse, (sale.starts_at, sale.ends_at), pull_window_ms)
                .await?;
            sale.figures.units_added_before = around.added_before;
            sale.figures.units_removed_after = around.removed_after;
        }
        Ok(sales)
    }

    async fn count_sale_orders(&self, sale: &mut EndedSale, dispatch_cutoff: i64) -> Result<(), StoreError> {
        // Each order is classified once per signal; `short` is any of them.
        let counts = Statement::new(
            "SELECT
               CAST(COALESCE(SUM(l.quantity), 0) AS BIGINT),
               CAST(COALESCE(SUM(CASE WHEN x.shortage = 1 THEN l.quantity ELSE 0 END), 0) AS BIGINT),
               CAST(COALESCE(SUM(CASE WHEN x.cancelled = 1 THEN l.quantity ELSE 0 END), 0) AS BIGINT),
               CAST(COALESCE(SUM(CASE WHEN x.waiting = 1 THEN l.quantity ELSE 0 END), 0) AS BIGINT),
               CAST(COALESCE(SUM(CASE WHEN x.shortage + x.cancelled + x.waiting > 0 THEN l.quantity ELSE 0 END), 0) AS BIGINT)
             FROM (SELECT o.id, o.shop_id,
                     CASE WHEN EXISTS (SELECT 1 FROM shortage_notices n WHERE n.order_id = o.id AND n.shop_id = o.shop_id) THEN 1 ELSE 0 END AS shortage,
                     CASE WHEN o.state = 'cancelled' AND o.cancel_reason = 'shop_cancelled' THEN 1 ELSE 0 END AS cancelled,
                     CASE WHEN o.state = 'paid' AND o.paid_at <= $1 THEN 1 ELSE 0 END AS waiting
                   FROM orders o WHERE o.flash_sale_id = $2 AND o.paid_at IS NOT NULL) x
             JOIN order_lines l ON l.order_id = x.id AND l.shop_id = x.shop_id",
            vec![Value::I64(dispatch_cutoff), Value::I64(sale.id)],
        );
        let (sold, short_reported, cancelled, waiting, short) = self
            .query_row(
                counts,
                |r| Ok((r.i64(0)?, r.i64(1)?, r.i64(2)?, r.i64(3)?, r.i64(4)?)),
                || "a sum without a row".into(),
            )
            .await?;
        sale.figures.units_sold = sold;
        sale.figures.units_reported_short = short_reported;
        sale.figures.units_shop_cancelled = cancelled;
        sale.figures.units_never_dispatched = waiting;
        sale.figures.units_short = short;
        Ok(())
    }
}

/// What merchants moved of one SKU in one warehouse around a sale, from the stock ledger.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StockAround {
    /// Units added in the window before the start.
    pub added_before: i64,
    /// Units removed from the end through the window after it.
    pub removed_after: i64,
}

impl Store {
    /// The units merchants added to `sku` in `warehouse` in `[start − window, start)` and
    /// removed in `[end, end + window)`: the ledger's movements of the SKU between the two
    /// bounds, read through its `(sku_id, at_ms)` index and summed in the database, so a
    /// merchant counting every minute costs no more rows on the wire.
    pub async fn stock_moved_around(
        &self,
        sku: i64,
        warehouse: i64,
        (start, end): (Timestamp, Timestamp),
        window_ms: i64,
    ) -> Result<StockAround, StoreError> {
        let sums = Statement::new(
            "SELECT
               CAST(COALESCE(SUM(CASE WHEN delta > 0 AND at_ms < $1 THEN delta ELSE 0 END), 0) AS BIGINT),
               CAST(COALESCE(SUM(CASE WHEN delta < 0 AND at_ms >= $2 THEN -delta ELSE 0 END), 0) AS BIGINT)
             FROM stock_movements WHERE sku_id = $3 AND warehouse_id = $4 AND at_ms >= $5 AND at_ms < $6",
            vec![
                Value::I64(start.unix_ms()),
                Value::I64(end.unix_ms()),
                Value::I64(sku),
                Value::I64(warehouse),
                Value::I64(start.unix_ms().saturating_sub(window_ms)),
                Value::I64(end.unix_ms().saturating_add(window_ms)),
            ],
        );
        self.query_row(
            sums,
            |r| {
                Ok(StockAround {
                    added_before: r.i64(0)?,
                    removed_after: r.i64(1)?,
                })
            },
            || "a sum without a row".into(),
        )
        .await
    }
}
