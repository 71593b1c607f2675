//! The compass's figures on disk: per shop and minute (`compass_minutes`, migration 0008), added
//! to by the compass reader of the outbox in the same transaction as its cursor moves, and summed
//! into buckets of any size by [`Store::compass_series`].

use crate::sql::{Row, Statement, Value};
use crate::{Store, StoreError};
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

const ADD_MINUTE: &str = "INSERT INTO compass_minutes (shop_id, minute_ms, orders, units, gmv_fen, paid_orders,
    paid_fen, cancelled_orders, expired_orders, refunds, refunded_fen)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
    ON CONFLICT (shop_id, minute_ms) DO UPDATE SET orders = compass_minutes.orders + excluded.orders,
    units = compass_minutes.units + excluded.units, gmv_fen = compass_minutes.gmv_fen + excluded.gmv_fen,
    paid_orders = compass_minutes.paid_orders + excluded.paid_orders,
    paid_fen = compass_minutes.paid_fen + excluded.paid_fen,
    cancelled_orders = compass_minutes.cancelled_orders + excluded.cancelled_orders,
    expired_orders = compass_minutes.expired_orders + excluded.expired_orders,
    refunds = compass_minutes.refunds + excluded.refunds,
    refunded_fen = compass_minutes.refunded_fen + excluded.refunded_fen";

/// The statements that add figures to their minutes.
pub(crate) fn minute_statements(minutes: &BTreeMap<(ShopId, i64), CompassFigures>) -> Vec<Statement> {
    minutes
        .iter()
        .map(|((shop, minute_ms), figures)| {
            let mut params = vec![Value::I64(shop.get()), Value::I64(*minute_ms)];
            params.extend(figures.values().map(Value::I64));
            Statement::new(ADD_MINUTE, params)
        })
        .collect()
}

/// Buckets start at Shanghai midnight (UTC+8, no daylight saving) for days; minutes and hours
/// are the same in both.
const SHANGHAI_OFFSET_MS: i64 = 8 * 3_600_000;

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
        let statement = Statement::owned(
            format!(
                "SELECT minute_ms - ((minute_ms + $1) % $2) AS bucket, CAST(SUM(orders) AS BIGINT), CAST(SUM(units) AS BIGINT), CAST(SUM(gmv_fen) AS BIGINT),
                 CAST(SUM(paid_orders) AS BIGINT), CAST(SUM(paid_fen) AS BIGINT), CAST(SUM(cancelled_orders) AS BIGINT), CAST(SUM(expired_orders) AS BIGINT), CAST(SUM(refunds) AS BIGINT),
                 CAST(SUM(refunded_fen) AS BIGINT) FROM compass_minutes WHERE minute_ms >= $3 AND minute_ms < $4{shop_condition}
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
