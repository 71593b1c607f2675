//! Diagnosis on disk: the daily figures a report's rules read, loaded from the compass's
//! aggregates (never from the orders tables) one function per dimension, and the reports
//! written (`diagnosis_reports`, migration 0014).
//!
//! Shop totals per Shanghai day come from `compass_minutes`, for the shop and for its category's
//! other shops; the other dimensions (cities, warehouses, SKUs, after-sales by SKU and reason)
//! from their hourly tables (migration 0012) through [`Store::diagnosis_dimension`], which the
//! server turns into [`miaodan_domain::diagnosis::Dimensions`] (names of provinces from `geo`).

use crate::sql::{Row, Statement, Value};
use crate::{Store, StoreError};
use miaodan_domain::catalog::ShopCategory;
use miaodan_domain::diagnosis::{Period, ShopDay};
use miaodan_domain::time::shanghai::{DAY_MS, LocalDate, SHANGHAI_OFFSET_MS};
use miaodan_domain::{ShopId, Timestamp};
use std::collections::BTreeMap;

/// A dimension of the compass's hourly breadth, as diagnosis reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiagnosisDimension {
    /// `compass_regions`: key a city's adcode; figures orders, GMV, paid orders, paid fen.
    Cities,
    /// `compass_warehouses`: key the warehouse, text its name; figures dispatched, shipped,
    /// delivered, delivered late, alerts raised, alerts resolved.
    Warehouses,
    /// `compass_skus`: key the SKU; figures orders, units, GMV, paid units, refunds, refunded
    /// fen, stock-outs.
    Skus,
    /// `compass_after_sales`: key the SKU, text the reason; figures requested, approved,
    /// refunded, refunded fen.
    AfterSales,
}

/// Whose figures: one shop's, or a category's other shops' summed.
#[derive(Clone, Copy, Debug)]
pub enum DiagnosisScope {
    Shop(ShopId),
    Peers { category: ShopCategory, except: ShopId },
}

/// One day of one key of a dimension: figures in the order [`DiagnosisDimension`] names them
/// (the rest 0).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DimensionDay {
    pub day: LocalDate,
    pub key: i64,
    pub text: String,
    pub figures: [i64; 7],
}

fn dimension_row(r: &dyn Row) -> Result<DimensionDay, StoreError> {
    let day = i32::try_from(r.i64(0)?).map_err(|_| StoreError::corrupt("a compass day out of range".to_string()))?;
    let mut figures = [0; 7];
    for (i, figure) in figures.iter_mut().enumerate() {
        *figure = r.i64(3 + i)?;
    }
    Ok(DimensionDay {
        day: LocalDate::from_days_since_epoch(day),
        key: r.i64(1)?,
        text: r.text(2)?,
        figures,
    })
}

impl DiagnosisDimension {
    /// The table, the key and text columns, and the summed figures (seven, padded with 0).
    fn select(
        self,
    ) -> (
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        [&'static str; 7],
    ) {
        match self {
            DiagnosisDimension::Cities => (
                "compass_regions t",
                "t.adcode",
                "''",
                "t.adcode",
                ["orders", "gmv_fen", "paid_orders", "paid_fen", "", "", ""],
            ),
            DiagnosisDimension::Warehouses => (
                "compass_warehouses t LEFT JOIN warehouses w ON w.id = t.warehouse AND w.shop_id = t.shop_id",
                "t.warehouse",
                "COALESCE(w.name, '')",
                "t.warehouse, w.name",
                [
                    "dispatched",
                    "shipped",
                    "delivered",
                    "delivered_late",
                    "alerts_raised",
                    "alerts_resolved",
                    "",
                ],
            ),
            DiagnosisDimension::Skus => (
                "compass_skus t",
                "t.sku",
                "''",
                "t.sku",
                [
                    "orders",
                    "units",
                    "gmv_fen",
                    "paid_units",
                    "refunds",
                    "refunded_fen",
                    "stock_outs",
                ],
            ),
            DiagnosisDimension::AfterSales => (
                "compass_after_sales t",
                "t.sku",
                "t.reason",
                "t.sku, t.reason",
                ["requested", "approved", "refunded", "refunded_fen", "", "", ""],
            ),
        }
    }
}

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

    /// A dimension's figures per Shanghai day and key from `first` up to (not including) `end`,
    /// summed from its hourly table (a period's hours, never the orders tables).
    pub async fn diagnosis_dimension(
        &self,
        dimension: DiagnosisDimension,
        scope: DiagnosisScope,
        first: LocalDate,
        end: LocalDate,
    ) -> Result<Vec<DimensionDay>, StoreError> {
        let (from, to) = bounds(first, end);
        let (table, key, text, group, columns) = dimension.select();
        let sums: Vec<String> = columns
            .iter()
            .map(|c| match *c {
                "" => "CAST(0 AS BIGINT)".to_string(),
                c => format!("CAST(SUM(t.{c}) AS BIGINT)"),
            })
            .collect();
        // Placeholders are numbered in order of first use.
        let mut params = vec![Value::I64(SHANGHAI_OFFSET_MS), Value::I64(DAY_MS)];
        let whose = match scope {
            DiagnosisScope::Shop(shop) => {
                params.push(Value::I64(shop.get()));
                "t.shop_id = $3 AND t.hour_ms >= $4 AND t.hour_ms < $5"
            }
            DiagnosisScope::Peers { category, except } => {
                params.push(Value::Text(category.as_str().into()));
                params.push(Value::I64(except.get()));
                "t.shop_id IN (SELECT id FROM shops WHERE category = $3 AND id <> $4) AND t.hour_ms >= $5 AND t.hour_ms < $6"
            }
        };
        params.extend([Value::I64(from), Value::I64(to)]);
        let statement = Statement::owned(
            format!(
                "SELECT (t.hour_ms + $1) / $2 AS day, {key}, {text}, {} FROM {table} WHERE {whose}
                 GROUP BY day, {group} ORDER BY day, {key}",
                sums.join(", ")
            ),
            params,
        );
        self.query(statement, dimension_row).await
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
