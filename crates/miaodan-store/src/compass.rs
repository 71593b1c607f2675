//! The compass's figures on disk: per shop and minute (`compass_minutes`, migration 0009) and
//! per shop and hour (`compass_hours`, migration 0016), both added to by the compass reader of
//! the outbox in the same transaction as its cursor moves, and summed into buckets of any size
//! by [`Store::compass_series`]: minutes for buckets under an hour, hours otherwise, so a year
//! by the day reads a shop's 8 760 hours, never its half a million minutes.

use crate::sql::{Row, Statement, Value};
use crate::{Store, StoreError};
use miaodan_domain::orders::CancelReason;
use miaodan_domain::payments::RefundStatus;
use miaodan_domain::{ShopId, Timestamp};
use std::collections::BTreeMap;

/// The reader's name in `outbox_cursors`.
pub const COMPASS_READER: &str = "compass";

/// What the compass counts, for one shop and span of time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CompassFigures {
    /// Orders placed, their units and their value (GMV, fen).
    pub orders: i64,
    pub units: i64,
    pub gmv_fen: i64,
    /// Orders paid and what they were paid.
    pub paid_orders: i64,
    pub paid_fen: i64,
    pub cancelled_orders: i64,
    /// Unpaid orders cancelled by the payment timeout.
    pub expired_orders: i64,
    /// Refunds the provider settled, and their amount.
    pub refunds: i64,
    pub refunded_fen: i64,
}

impl CompassFigures {
    pub fn add(&mut self, other: &CompassFigures) {
        self.orders += other.orders;
        self.units += other.units;
        self.gmv_fen += other.gmv_fen;
        self.paid_orders += other.paid_orders;
        self.paid_fen += other.paid_fen;
        self.cancelled_orders += other.cancelled_orders;
        self.expired_orders += other.expired_orders;
        self.refunds += other.refunds;
        self.refunded_fen += other.refunded_fen;
    }

    fn values(&self) -> [i64; 9] {
        [
            self.orders,
            self.units,
            self.gmv_fen,
            self.paid_orders,
            self.paid_fen,
            self.cancelled_orders,
            self.expired_orders,
            self.refunds,
            self.refunded_fen,
        ]
    }

    fn from_row(r: &dyn Row, first: usize) -> Result<CompassFigures, StoreError> {
        Ok(CompassFigures {
            orders: r.i64(first)?,
            units: r.i64(first + 1)?,
            gmv_fen: r.i64(first + 2)?,
            paid_orders: r.i64(first + 3)?,
            paid_fen: r.i64(first + 4)?,
            cancelled_orders: r.i64(first + 5)?,
            expired_orders: r.i64(first + 6)?,
            refunds: r.i64(first + 7)?,
            refunded_fen: r.i64(first + 8)?,
        })
    }
}

const FIGURE_COLUMNS: [&str; 9] = [
    "orders",
    "units",
    "gmv_fen",
    "paid_orders",
    "paid_fen",
    "cancelled_orders",
    "expired_orders",
    "refunds",
    "refunded_fen",
];

/// `INSERT … ON CONFLICT DO UPDATE` adding a row's figures to `table`'s (keyed by shop and
/// `bucket` start).
fn add_statement_sql(table: &str, bucket: &str) -> String {
    let columns = FIGURE_COLUMNS.join(", ");
    let placeholders: Vec<String> = (3..3 + FIGURE_COLUMNS.len()).map(|n| format!("${n}")).collect();
    let sums: Vec<String> = FIGURE_COLUMNS
        .iter()
        .map(|c| format!("{c} = {table}.{c} + excluded.{c}"))
        .collect();
    format!(
        "INSERT INTO {table} (shop_id, {bucket}, {columns}) VALUES ($1, $2, {}) ON CONFLICT (shop_id, {bucket}) DO UPDATE SET {}",
        placeholders.join(", "),
        sums.join(", ")
    )
}

static ADD_MINUTE: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| add_statement_sql("compass_minutes", "minute_ms"));
static ADD_HOUR: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| add_statement_sql("compass_hours", "hour_ms"));

/// The statements that add figures to their minutes, and to the hours those minutes are in.
pub(crate) fn minute_statements(minutes: &BTreeMap<(ShopId, i64), CompassFigures>) -> Vec<Statement> {
    let mut hours: BTreeMap<(ShopId, i64), CompassFigures> = BTreeMap::new();
    for ((shop, minute_ms), figures) in minutes {
        let hour_ms = minute_ms - minute_ms.rem_euclid(HOUR_MS);
        hours.entry((*shop, hour_ms)).or_default().add(figures);
    }
    let add = |sql: &str, ((shop, start), figures): (&(ShopId, i64), &CompassFigures)| {
        let mut params = vec![Value::I64(shop.get()), Value::I64(*start)];
        params.extend(figures.values().map(Value::I64));
        Statement::owned(sql.to_string(), params)
    };
    (minutes.iter().map(|row| add(&ADD_MINUTE, row)))
        .chain(hours.iter().map(|row| add(&ADD_HOUR, row)))
        .collect()
}

/// Buckets start at Shanghai midnight (UTC+8, no daylight saving) for days; minutes and hours
/// are the same in both.
const SHANGHAI_OFFSET_MS: i64 = 8 * HOUR_MS;
const HOUR_MS: i64 = 3_600_000;

impl Store {
    /// Adds what the compass made of shard `shard`'s events up to number `seq`, and moves its
    /// cursor there, in one transaction.
    pub async fn record_compass(
        &self,
        shard: u32,
        seq: i64,
        minutes: &BTreeMap<(ShopId, i64), CompassFigures>,
    ) -> Result<(), StoreError> {
        self.record_compass_with(shard, seq, minutes, Vec::new()).await
    }

    /// [`Store::record_compass`], with more of the compass's figures (`also`) in the same
    /// transaction.
    pub async fn record_compass_with(
        &self,
        shard: u32,
        seq: i64,
        minutes: &BTreeMap<(ShopId, i64), CompassFigures>,
        also: Vec<Statement>,
    ) -> Result<(), StoreError> {
        let mut statements = minute_statements(minutes);
        statements.extend(also);
        self.advance_outbox_cursor(COMPASS_READER, shard, seq, statements).await
    }

    /// The figures of one shop (or every shop) from `from` to `to`, summed per bucket of
    /// `bucket_ms` (a minute, an hour or a Shanghai day); buckets without figures are absent.
    pub async fn compass_series(
        &self,
        shop: Option<ShopId>,
        from: Timestamp,
        to: Timestamp,
        bucket_ms: i64,
    ) -> Result<Vec<(Timestamp, CompassFigures)>, StoreError> {
        // Placeholders are numbered in order of first use.
        let mut params = vec![
            Value::I64(SHANGHAI_OFFSET_MS),
            Value::I64(bucket_ms),
            Value::I64(from.unix_ms()),
            Value::I64(to.unix_ms()),
        ];
        let shop_condition = match shop {
            Some(shop) => {
                params.push(Value::I64(shop.get()));
                " AND shop_id = $5"
            }
            None => "",
        };
        // Hours hold the same figures as their minutes: buckets of whole hours over a range of
        // whole hours read them (a range cut inside an hour needs that hour's minutes).
        let whole_hours = [bucket_ms, from.unix_ms(), to.unix_ms()]
            .iter()
            .all(|ms| ms.rem_euclid(HOUR_MS) == 0);
        let (table, start) = if whole_hours {
            ("compass_hours", "hour_ms")
        } else {
            ("compass_minutes", "minute_ms")
        };
        let statement = Statement::owned(
            format!(
                "SELECT {start} - (({start} + $1) % $2) AS bucket, CAST(SUM(orders) AS BIGINT), CAST(SUM(units) AS BIGINT), CAST(SUM(gmv_fen) AS BIGINT),
                 CAST(SUM(paid_orders) AS BIGINT), CAST(SUM(paid_fen) AS BIGINT), CAST(SUM(cancelled_orders) AS BIGINT), CAST(SUM(expired_orders) AS BIGINT), CAST(SUM(refunds) AS BIGINT),
                 CAST(SUM(refunded_fen) AS BIGINT) FROM {table} WHERE {start} >= $3 AND {start} < $4{shop_condition}
                 GROUP BY bucket ORDER BY bucket"
            ),
            params,
        );
        self.query(statement, |r| {
            Ok((Timestamp::from_unix_ms(r.i64(0)?), CompassFigures::from_row(r, 1)?))
        })
        .await
    }
}

impl Store {
    /// What the compass should have counted, from the tables themselves (every shop): orders
    /// placed with their units and value, paid ones, cancellations and expiries, refunds the
    /// provider settled. An audit's other side; it reads every order, so never on a request.
    pub async fn compass_audit_totals(&self) -> Result<CompassFigures, StoreError> {
        let statement = Statement::new(
            "SELECT COUNT(*), COALESCE(CAST(SUM(total_fen) AS BIGINT), 0),
                 COALESCE(CAST(SUM(CASE WHEN paid_at IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT), 0),
                 COALESCE(CAST(SUM(CASE WHEN paid_at IS NOT NULL THEN total_fen ELSE 0 END) AS BIGINT), 0),
                 COALESCE(CAST(SUM(CASE WHEN state = 'cancelled' AND cancel_reason <> $1 THEN 1 ELSE 0 END) AS BIGINT), 0),
                 COALESCE(CAST(SUM(CASE WHEN cancel_reason = $1 THEN 1 ELSE 0 END) AS BIGINT), 0),
                 (SELECT COALESCE(CAST(SUM(quantity) AS BIGINT), 0) FROM order_lines),
                 (SELECT COUNT(*) FROM refunds WHERE status = $2),
                 (SELECT COALESCE(CAST(SUM(amount_fen) AS BIGINT), 0) FROM refunds WHERE status = $2)
             FROM orders",
            vec![
                Value::Text(CancelReason::PaymentTimeout.as_str().into()),
                Value::Text(RefundStatus::Succeeded.as_str().into()),
            ],
        );
        self.query_row(
            statement,
            |r| {
                Ok(CompassFigures {
                    orders: r.i64(0)?,
                    gmv_fen: r.i64(1)?,
                    paid_orders: r.i64(2)?,
                    paid_fen: r.i64(3)?,
                    cancelled_orders: r.i64(4)?,
                    expired_orders: r.i64(5)?,
                    units: r.i64(6)?,
                    refunds: r.i64(7)?,
                    refunded_fen: r.i64(8)?,
                })
            },
            || "no totals".into(),
        )
        .await
    }
}
