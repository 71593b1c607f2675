//! The figures of the merchant quality index, read from tables the platform already keeps:
//! paid orders from `compass_hours`, parcels from `compass_warehouses` (both keyed by shop and
//! hour), alerts from `package_alerts` (by shop and raise time), and after-sales requests from
//! `after_sales_requests` (by shop and opening time), their timelines read by the core.
//!
//! Every query is bounded by one shop and the period through an index whose first columns are
//! the shop and the time; requests are read in pages of [`REQUESTS_PAGE_ROWS`].

use crate::after_sales::request_page_row;
use crate::catalog::{SHOP_COLUMNS, shop};
use crate::sql::{Statement, Value};
use crate::{Store, StoreError};
use miaodan_domain::catalog::{Shop, ShopCategory};
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
        let parcels = Statement::new(
            "SELECT CAST(COALESCE(SUM(shipped), 0) AS BIGINT), CAST(COALESCE(SUM(delivered), 0) AS BIGINT), CAST(COALESCE(SUM(delivered_late), 0) AS BIGINT)
             FROM compass_warehouses WHERE shop_id = $1 AND hour_ms >= $2 AND hour_ms < $3",
            bounds(),
        );
        let (shipped, delivered, late) = self
            .query_row(
                parcels,
                |r| Ok((r.i64(0)?, r.i64(1)?, r.i64(2)?)),
                || "a sum without a row".into(),
            )
            .await?;
        (figures.parcels_shipped, figures.parcels_delivered, figures.parcels_late) = (shipped, delivered, late);
        let alerts = Statement::new(
            "SELECT COUNT(*), CAST(COALESCE(SUM(CASE WHEN is_open <> 0 THEN 1 ELSE 0 END), 0) AS BIGINT)
             FROM package_alerts WHERE shop_id = $1 AND raised_at >= $2 AND raised_at < $3",
            bounds(),
        );
        let (raised, open) = self
            .query_row(
                alerts,
                |r| Ok((r.i64(0)?, r.i64(1)?)),
                || "a count without a row".into(),
            )
            .await?;
        (figures.alerts_raised, figures.alerts_open) = (raised, open);
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
