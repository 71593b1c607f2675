//! The compass's figures per flash sale on disk (migration 0013): per sale and minute
//! (`compass_flash_sale_minutes`), per sale and province (`compass_flash_sale_provinces`) and
//! when a sale first sold out (`compass_flash_sales`). The compass reader adds to them in the
//! transaction that moves its outbox cursor (see [`Store::record_compass_with`]), so they count
//! each event once; the live view of a sale reads them back.

use crate::sql::{Row, Statement, Value};
use crate::{Store, StoreError};
use miaodan_domain::{ShopId, Timestamp};
use std::collections::BTreeMap;

/// What the compass counts of one sale over a span of time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlashSaleFigures {
    /// Taps answered, and how: ordered, sold out, limit reached, other refusals.
    pub taps: i64,
    pub ordered: i64,
    pub sold_out: i64,
    pub limit_reached: i64,
    pub refused_other: i64,
    /// Orders placed, their units and value (GMV, fen).
    pub orders: i64,
    pub units: i64,
    pub gmv_fen: i64,
    pub paid_orders: i64,
    pub paid_fen: i64,
    /// Orders cancelled or expired before they were paid.
    pub unpaid_closed: i64,
}

impl FlashSaleFigures {
    pub fn add(&mut self, other: &FlashSaleFigures) {
        for (mine, theirs) in self.fields_mut().into_iter().zip(other.values()) {
            *mine += theirs;
        }
    }

    /// Orders placed that are neither paid nor closed.
    pub fn unpaid_orders(&self) -> i64 {
        self.orders - self.paid_orders - self.unpaid_closed
    }

    fn values(&self) -> [i64; 11] {
        [
            self.taps,
            self.ordered,
            self.sold_out,
            self.limit_reached,
            self.refused_other,
            self.orders,
            self.units,
            self.gmv_fen,
            self.paid_orders,
            self.paid_fen,
            self.unpaid_closed,
        ]
    }

    fn fields_mut(&mut self) -> [&mut i64; 11] {
        [
            &mut self.taps,
            &mut self.ordered,
            &mut self.sold_out,
            &mut self.limit_reached,
            &mut self.refused_other,
            &mut self.orders,
            &mut self.units,
            &mut self.gmv_fen,
            &mut self.paid_orders,
            &mut self.paid_fen,
            &mut self.unpaid_closed,
        ]
    }

    fn from_row(r: &dyn Row, first: usize) -> Result<FlashSaleFigures, StoreError> {
        let mut figures = FlashSaleFigures::default();
        for (i, field) in figures.fields_mut().into_iter().enumerate() {
            *field = r.i64(first + i)?;
        }
        Ok(figures)
    }
}

/// A sale's figures per minute (oldest first) and over its whole life, read at one instant.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SaleFigures {
    pub minutes: Vec<(Timestamp, FlashSaleFigures)>,
    pub totals: FlashSaleFigures,
}

/// A sale's orders shipping to one province.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProvinceFigures {
    pub orders: i64,
    pub units: i64,
    pub gmv_fen: i64,
}

impl ProvinceFigures {
    pub fn add(&mut self, other: &ProvinceFigures) {
        self.orders += other.orders;
        self.units += other.units;
        self.gmv_fen += other.gmv_fen;
    }
}

/// What a run of events adds to the sales' figures, keyed by (shop, sale, minute or province).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlashSaleFold {
    pub minutes: BTreeMap<(ShopId, i64, i64), FlashSaleFigures>,
    pub provinces: BTreeMap<(ShopId, i64, i64), ProvinceFigures>,
    /// The first time in the run each sale had no units left (Unix ms).
    pub sold_out: BTreeMap<(ShopId, i64), i64>,
}

const ADD_MINUTE: &str = "INSERT INTO compass_flash_sale_minutes (shop_id, flash_sale, minute_ms, taps, ordered,
    sold_out, limit_reached, refused_other, orders, units, gmv_fen, paid_orders, paid_fen, unpaid_closed)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
    ON CONFLICT (shop_id, flash_sale, minute_ms) DO UPDATE SET taps = compass_flash_sale_minutes.taps + excluded.taps,
    ordered = compass_flash_sale_minutes.ordered + excluded.ordered,
    sold_out = compass_flash_sale_minutes.sold_out + excluded.sold_out,
    limit_reached = compass_flash_sale_minutes.limit_reached + excluded.limit_reached,
    refused_other = compass_flash_sale_minutes.refused_other + excluded.refused_other,
    orders = compass_flash_sale_minutes.orders + excluded.orders,
    units = compass_flash_sale_minutes.units + excluded.units,
    gmv_fen = compass_flash_sale_minutes.gmv_fen + excluded.gmv_fen,
    paid_orders = compass_flash_sale_minutes.paid_orders + excluded.paid_orders,
    paid_fen = compass_flash_sale_minutes.paid_fen + excluded.paid_fen,
    unpaid_closed = compass_flash_sale_minutes.unpaid_closed + excluded.unpaid_closed";

const ADD_PROVINCE: &str = "INSERT INTO compass_flash_sale_provinces (shop_id, flash_sale, province_adcode, orders,
    units, gmv_fen) VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (shop_id, flash_sale, province_adcode) DO UPDATE SET
    orders = compass_flash_sale_provinces.orders + excluded.orders,
    units = compass_flash_sale_provinces.units + excluded.units,
    gmv_fen = compass_flash_sale_provinces.gmv_fen + excluded.gmv_fen";

// The first sell-out wins: events are folded in commit order, and a sale lives in one shard.
const SOLD_OUT: &str = "INSERT INTO compass_flash_sales (shop_id, flash_sale, sold_out_at_ms) VALUES ($1, $2, $3)
    ON CONFLICT (shop_id, flash_sale) DO NOTHING";

const FIGURES: &str = "CAST(SUM(taps) AS BIGINT), CAST(SUM(ordered) AS BIGINT), CAST(SUM(sold_out) AS BIGINT),
    CAST(SUM(limit_reached) AS BIGINT), CAST(SUM(refused_other) AS BIGINT), CAST(SUM(orders) AS BIGINT),
    CAST(SUM(units) AS BIGINT), CAST(SUM(gmv_fen) AS BIGINT), CAST(SUM(paid_orders) AS BIGINT),
    CAST(SUM(paid_fen) AS BIGINT), CAST(SUM(unpaid_closed) AS BIGINT)";

impl FlashSaleFold {
    pub fn is_empty(&self) -> bool {
        self.minutes.is_empty() && self.provinces.is_empty() && self.sold_out.is_empty()
    }

    /// The statements that add the fold to the tables.
    pub fn statements(&self) -> Vec<Statement> {
        let minutes = self.minutes.iter().map(|((shop, sale, minute_ms), figures)| {
            let mut params = vec![Value::I64(shop.get()), Value::I64(*sale), Value::I64(*minute_ms)];
            params.extend(figures.values().map(Value::I64));
            Statement::new(ADD_MINUTE, params)
        });
        let provinces = self.provinces.iter().map(|((shop, sale, province), f)| {
            let params = [shop.get(), *sale, *province, f.orders, f.units, f.gmv_fen];
            Statement::new(ADD_PROVINCE, params.map(Value::I64).to_vec())
        });
        let sold_out = self.sold_out.iter().map(|((shop, sale), at_ms)| {
            let params = [shop.get(), *sale, *at_ms];
            Statement::new(SOLD_OUT, params.map(Value::I64).to_vec())
        });
        minutes.chain(provinces).chain(sold_out).collect()
    }
}

impl Store {
    /// Sale `sale`'s figures per minute from `from` on (oldest first, minutes without any absent)
    /// and over its whole life. One statement reads both, so the minutes always add up to the
    /// totals' share of them even while the compass reader is folding more in.
    pub async fn flash_sale_figures(
        &self,
        shop: ShopId,
        sale: i64,
        from: Timestamp,
    ) -> Result<SaleFigures, StoreError> {
        let statement = Statement::owned(
            format!(
                "SELECT CAST(0 AS BIGINT), minute_ms, taps, ordered, sold_out, limit_reached, refused_other, orders, units,
                 gmv_fen, paid_orders, paid_fen, unpaid_closed FROM compass_flash_sale_minutes
                 WHERE shop_id = $1 AND flash_sale = $2 AND minute_ms >= $3
                 UNION ALL
                 SELECT CAST(1 AS BIGINT), COUNT(*), {FIGURES} FROM compass_flash_sale_minutes WHERE shop_id = $1 AND flash_sale = $2
                 ORDER BY 1, 2"
            ),
            vec![Value::I64(shop.get()), Value::I64(sale), Value::I64(from.unix_ms())],
        );
        let rows = self
            .query(statement, |r| {
                let is_total = r.i64(0)? == 1;
                // The totals of a sale with no minutes are sums over nothing: NULL, read as zero.
                let figures = match (is_total, r.i64(1)?) {
                    (true, 0) => FlashSaleFigures::default(),
                    _ => FlashSaleFigures::from_row(r, 2)?,
                };
                Ok((is_total, r.i64(1)?, figures))
            })
            .await?;
        let mut read = SaleFigures::default();
        for (is_total, minute_ms, figures) in rows {
            match is_total {
                true => read.totals = figures,
                false => read.minutes.push((Timestamp::from_unix_ms(minute_ms), figures)),
            }
        }
        Ok(read)
    }

    /// The `limit` provinces with the most orders of sale `sale` (then by adcode).
    pub async fn flash_sale_provinces(
        &self,
        shop: ShopId,
        sale: i64,
        limit: i64,
    ) -> Result<Vec<(i64, ProvinceFigures)>, StoreError> {
        let statement = Statement::new(
            "SELECT province_adcode, orders, units, gmv_fen FROM compass_flash_sale_provinces
             WHERE shop_id = $1 AND flash_sale = $2 ORDER BY orders DESC, province_adcode LIMIT $3",
            vec![Value::I64(shop.get()), Value::I64(sale), Value::I64(limit)],
        );
        self.query(statement, |r| {
            let figures = ProvinceFigures {
                orders: r.i64(1)?,
                units: r.i64(2)?,
                gmv_fen: r.i64(3)?,
            };
            Ok((r.i64(0)?, figures))
        })
        .await
    }

    /// When sale `sale` first had no units left, if it did.
    pub async fn flash_sale_sold_out_at(&self, shop: ShopId, sale: i64) -> Result<Option<Timestamp>, StoreError> {
        let statement = Statement::new(
            "SELECT sold_out_at_ms FROM compass_flash_sales WHERE shop_id = $1 AND flash_sale = $2",
            vec![Value::I64(shop.get()), Value::I64(sale)],
        );
        let rows = self
            .query(statement, |r| Ok(Timestamp::from_unix_ms(r.i64(0)?)))
            .await?;
        Ok(rows.into_iter().next())
    }
}
