//! Diagnosis on disk: the daily figures a report's rules read, loaded from the compass's
//! aggregates (never from the orders tables) one function per dimension, and the reports
//! written (`diagnosis_reports`, migration 0014).
//!
//! Loaded today: shop totals per Shanghai day from `compass_minutes`, for the shop and for its
//! category's other shops. The other dimensions (provinces, warehouses, SKUs, after-sales by
//! reason) get one loader each here when their hourly compass tables exist; the rules already
//! read them from [`miaodan_domain::diagnosis::Dimensions`].

use crate::sql::{Row, Statement, Value};
use crate::{Store, StoreError};
use miaodan_domain::catalog::ShopCategory;
use miaodan_domain::diagnosis::{Period, ShopDay};
use miaodan_domain::time::shanghai::{DAY_MS, LocalDate, SHANGHAI_OFFSET_MS};
use miaodan_domain::{ShopId, Timestamp};
use std::collections::BTreeMap;

/// The most reports one list answers, newest first (a year of daily reports and then some).
pub const REPORTS_LISTED_MAX: i64 = 500;

/// A report as written: the server's rendering of it is `body` (opaque to the store).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredReport {
    pub id: i64,
    pub shop: ShopId,
    /// `daily` (the background job's, one per shop and day) or `on_demand`.
    pub kind: String,
    pub period: Period,
    pub created_at: Timestamp,
    pub body: String,
}

const DAY_FIGURES: &str = "CAST(SUM(orders) AS BIGINT), CAST(SUM(units) AS BIGINT), CAST(SUM(gmv_fen) AS BIGINT),
    CAST(SUM(paid_orders) AS BIGINT), CAST(SUM(paid_fen) AS BIGINT), CAST(SUM(expired_orders) AS BIGINT),
    CAST(SUM(refunds) AS BIGINT), CAST(SUM(refunded_fen) AS BIGINT)";

fn day_row(r: &dyn Row) -> Result<(LocalDate, ShopDay), StoreError> {
    let day = i32::try_from(r.i64(0)?).map_err(|_| StoreError::corrupt("a compass day out of range".to_string()))?;
    Ok((
        LocalDate::from_days_since_epoch(day),
        ShopDay {
            orders: r.i64(1)?,
            units: r.i64(2)?,
            gmv_fen: r.i64(3)?,
            paid_orders: r.i64(4)?,
            paid_fen: r.i64(5)?,
            expired_orders: r.i64(6)?,
            refunds: r.i64(7)?,
            refunded_fen: r.i64(8)?,
        },
    ))
}

/// `[from, to)` of a run of days in Unix milliseconds.
fn bounds(first: LocalDate, end: LocalDate) -> (i64, i64) {
    (first.start().unix_ms(), end.start().unix_ms())
}

const REPORT_COLUMNS: &str = "id, shop_id, kind, first_day, days, created_at, report_json";

fn report(r: &dyn Row) -> Result<StoredReport, StoreError> {
    let day = |raw: i64| i32::try_from(raw).map_err(|_| StoreError::corrupt("a report's day out of range".to_string()));
    Ok(StoredReport {
        id: r.i64(0)?,
        shop: ShopId::new(r.i64(1)?).ok_or_else(|| StoreError::corrupt("a report without its shop".to_string()))?,
        kind: r.text(2)?,
        period: Period {
            first: LocalDate::from_days_since_epoch(day(r.i64(3)?)?),
            days: day(r.i64(4)?)?,
        },
        created_at: Timestamp::from_unix_ms(r.i64(5)?),
        body: r.text(6)?,
    })
}

impl Store {
    /// A shop's totals per Shanghai day from `first` up to (not including) `end`; days without
    /// figures are absent.
    pub async fn diagnosis_shop_totals(
        &self,
        shop: ShopId,
        first: LocalDate,
        end: LocalDate,
    ) -> Result<BTreeMap<LocalDate, ShopDay>, StoreError> {
        let (from, to) = bounds(first, end);
        let statement = Statement::owned(
            format!(
                "SELECT (minute_ms + $1) / $2 AS day, {DAY_FIGURES} FROM compass_minutes
                 WHERE shop_id = $3 AND minute_ms >= $4 AND minute_ms < $5 GROUP BY day ORDER BY day"
            ),
            vec![
                Value::I64(SHANGHAI_OFFSET_MS),
                Value::I64(DAY_MS),
                Value::I64(shop.get()),
                Value::I64(from),
                Value::I64(to),
            ],
        );
        Ok(self.query(statement, day_row).await?.into_iter().collect())
    }

    /// The summed totals per day of `category`'s shops other than `except`, and how many of
    /// them had figures in those days (the rules compare peers only when enough did).
    pub async fn diagnosis_peer_totals(
        &self,
        category: ShopCategory,
        except: ShopId,
        first: LocalDate,
        end: LocalDate,
    ) -> Result<(i64, BTreeMap<LocalDate, ShopDay>), StoreError> {
        let (from, to) = bounds(first, end);
        let params = vec![
            Value::I64(SHANGHAI_OFFSET_MS),
            Value::I64(DAY_MS),
            Value::Text(category.as_str().into()),
            Value::I64(except.get()),
            Value::I64(from),
            Value::I64(to),
        ];
        let peers = "FROM compass_minutes JOIN shops ON shops.id = compass_minutes.shop_id
            WHERE shops.category = $3 AND compass_minutes.shop_id <> $4 AND minute_ms >= $5 AND minute_ms < $6";
        let days = Statement::owned(
            format!("SELECT (minute_ms + $1) / $2 AS day, {DAY_FIGURES} {peers} GROUP BY day ORDER BY day"),
            params.clone(),
        );
        let days = self.query(days, day_row).await?.into_iter().collect();
        // The count's statement numbers its placeholders from $1 too.
        let count = Statement::owned(
            "SELECT COUNT(DISTINCT compass_minutes.shop_id) FROM compass_minutes JOIN shops ON shops.id = compass_minutes.shop_id
             WHERE shops.category = $1 AND compass_minutes.shop_id <> $2 AND minute_ms >= $3 AND minute_ms < $4"
                .to_string(),
            params[2..].to_vec(),
        );
        let shops = self
            .query_row(count, |r| r.i64(0), || "a count without a row".into())
            .await?;
        Ok((shops, days))
    }

    /// Writes a report. A `daily` report of a shop and day that exists already is left as it
    /// was (the daily job may run again after a restart): answers whether this one was written.
    pub async fn save_diagnosis_report(&self, report: &StoredReport) -> Result<bool, StoreError> {
        let statement = Statement::new(
            "INSERT INTO diagnosis_reports (id, shop_id, kind, first_day, days, created_at, report_json)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (shop_id, first_day) WHERE kind = 'daily' DO NOTHING",
            vec![
                Value::I64(report.id),
                Value::I64(report.shop.get()),
                Value::Text(report.kind.clone()),
                Value::I64(i64::from(report.period.first.days_since_epoch())),
                Value::I64(i64::from(report.period.days)),
                Value::I64(report.created_at.unix_ms()),
                Value::Text(report.body.clone()),
            ],
        );
        self.execute_atomically(vec![statement]).await?;
        Ok(self.diagnosis_report(report.id).await?.is_some())
    }

    pub async fn diagnosis_report(&self, id: i64) -> Result<Option<StoredReport>, StoreError> {
        let statement = Statement::owned(
            format!("SELECT {REPORT_COLUMNS} FROM diagnosis_reports WHERE id = $1"),
            vec![Value::I64(id)],
        );
        Ok(self.query(statement, report).await?.pop())
    }

    /// Whether the daily report of `shop` for `day` was written.
    pub async fn daily_diagnosis_written(&self, shop: ShopId, day: LocalDate) -> Result<bool, StoreError> {
        let statement = Statement::new(
            "SELECT id FROM diagnosis_reports WHERE shop_id = $1 AND first_day = $2 AND kind = 'daily'",
            vec![Value::I64(shop.get()), Value::I64(i64::from(day.days_since_epoch()))],
        );
        Ok(!self.query(statement, |r| r.i64(0)).await?.is_empty())
    }

    /// Reports of one shop (or every shop) whose period begins from `first` up to (not
    /// including) `end`, newest first, at most [`REPORTS_LISTED_MAX`].
    pub async fn diagnosis_reports(
        &self,
        shop: Option<ShopId>,
        first: LocalDate,
        end: LocalDate,
    ) -> Result<Vec<StoredReport>, StoreError> {
        // Placeholders are numbered in order of first use.
        let mut params = vec![
            Value::I64(i64::from(first.days_since_epoch())),
            Value::I64(i64::from(end.days_since_epoch())),
        ];
        let shop_condition = match shop {
            Some(shop) => {
                params.push(Value::I64(shop.get()));
                " AND shop_id = $3"
            }
            None => "",
        };
        params.push(Value::I64(REPORTS_LISTED_MAX));
        let limit = params.len();
        let statement = Statement::owned(
            format!(
                "SELECT {REPORT_COLUMNS} FROM diagnosis_reports WHERE first_day >= $1 AND first_day < $2{shop_condition}
                 ORDER BY first_day DESC, id DESC LIMIT ${limit}"
            ),
            params,
        );
        self.query(statement, report).await
    }
}
