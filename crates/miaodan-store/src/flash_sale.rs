//! Flash sales on disk: each sale with its remaining units, what a starting shard reads back
//! (open sales with the units each buyer already holds), the sale read queries and the audit.
//!
//! A sale's window and allotment change too (a merchant ends it early or tops it up), so a
//! save writes them with its units.
//!
//! `CHECK (remaining >= 0 AND remaining <= allotted)` repeats the sale's "never oversold"
//! invariant at the disk boundary.

use crate::records::Keyset;
use crate::sql::{Conditions, Row, ShardOf, Statement, Value, fen, id, ms};
use crate::{Store, StoreError};
use miaodan_domain::flash_sale::{FlashSale, FlashSaleId};
use miaodan_domain::{BuyerId, ShopId, SkuId, WarehouseId};
use std::collections::BTreeMap;

const UPSERT_FLASH_SALE: &str = "INSERT INTO flash_sales (id, shop_id, sku_id, warehouse_id, starts_at, ends_at,
    price_fen, allotted, remaining, per_buyer_limit, payment_timeout_seconds, closed, created_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
    ON CONFLICT (id{SPREAD_BY shop_id}) DO UPDATE SET starts_at = excluded.starts_at, ends_at = excluded.ends_at,
        allotted = excluded.allotted, remaining = excluded.remaining, closed = excluded.closed";

/// The flash-sale effects of one batch, coalesced per sale: a sale tapped ten thousand times
/// in a batch costs one row write, with its final remaining units.
#[derive(Default)]
pub(crate) struct FlashSaleWrites<'a> {
    sales: BTreeMap<FlashSaleId, &'a FlashSale>,
}

impl<'a> FlashSaleWrites<'a> {
    pub(crate) fn saved(&mut self, sale: &'a FlashSale) {
        self.sales.insert(sale.id, sale);
    }

    pub(crate) fn push_statements(self, statements: &mut Vec<Statement>) {
        for sale in self.sales.into_values() {
            statements.push(Statement::new(
                UPSERT_FLASH_SALE,
                vec![
                    Value::I64(sale.id.get()),
                    Value::I64(sale.shop.get()),
                    Value::I64(sale.sku.get()),
                    Value::I64(sale.warehouse.get()),
                    Value::I64(sale.starts_at.unix_ms()),
                    Value::I64(sale.ends_at.unix_ms()),
                    Value::I64(sale.price.get()),
                    Value::I64(sale.allotted),
                    Value::I64(sale.remaining),
                    Value::I64(sale.per_buyer_limit),
                    Value::I64(sale.payment_timeout_seconds),
                    Value::I64(i64::from(sale.closed)),
                    Value::I64(sale.created_at.unix_ms()),
                ],
            ));
        }
    }
}

const FLASH_SALE_COLUMNS: &str = "id, shop_id, sku_id, warehouse_id, starts_at, ends_at, price_fen, allotted,
    remaining, per_buyer_limit, payment_timeout_seconds, closed, created_at";
fn flash_sale(row: &dyn Row) -> Result<FlashSale, StoreError> {
    Ok(FlashSale {
        id: id(row.i64(0)?, FlashSaleId::new)?,
        shop: id(row.i64(1)?, ShopId::new)?,
        sku: id(row.i64(2)?, SkuId::new)?,
        warehouse: id(row.i64(3)?, WarehouseId::new)?,
        starts_at: ms(row.i64(4)?),
        ends_at: ms(row.i64(5)?),
        price: fen(row.i64(6)?)?,
        allotted: row.i64(7)?,
        remaining: row.i64(8)?,
        per_buyer_limit: row.i64(9)?,
        payment_timeout_seconds: row.i64(10)?,
        closed: row.i64(11)? != 0,
        created_at: ms(row.i64(12)?),
    })
}

/// What an auditor reads back about a flash sale: the database's own account of it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlashSaleAudit {
    pub allotted: i64,
    pub remaining: i64,
    pub closed: bool,
    /// Orders of the sale that are not cancelled, and their units.
    pub orders: i64,
    pub units_in_orders: i64,
    /// Buyers holding more units of the sale than its per-buyer limit.
    pub buyers_over_limit: i64,
    /// Request references carried by more than one order.
    pub duplicate_requests: i64,
}

impl Store {
    /// The shard's flash sales, each open one with the units each buyer holds in it.
    pub(crate) async fn load_shard_flash_sales(
        &self,
        shard: ShardOf,
    ) -> Result<Vec<(FlashSale, Vec<(BuyerId, i64)>)>, StoreError> {
        let mut flash_sales = Vec::new();
        for sale in self
            .query(shard.select(FLASH_SALE_COLUMNS, "flash_sales", "shop_id"), flash_sale)
            .await?
        {
            let bought = if sale.closed {
                Vec::new()
            } else {
                self.flash_buyers(sale.id).await?
            };
            flash_sales.push((sale, bought));
        }
        Ok(flash_sales)
    }

    /// Units each buyer holds in open or paid orders of a flash sale.
    async fn flash_buyers(&self, sale: FlashSaleId) -> Result<Vec<(BuyerId, i64)>, StoreError> {
        let statement = Statement::new(
            "SELECT o.buyer_id, CAST(SUM(l.quantity) AS BIGINT) FROM orders o JOIN order_lines l ON l.order_id = o.id AND l.shop_id = o.shop_id
             WHERE o.flash_sale_id = $1 AND o.state <> 'cancelled' GROUP BY o.buyer_id",
            vec![Value::I64(sale.get())],
        );
        self.query(statement, |r| {
            let buyer = r.i64(0)?;
            let buyer = BuyerId::new(buyer).ok_or_else(|| StoreError::corrupt(format!("buyer {buyer}")))?;
            Ok((buyer, r.i64(1)?))
        })
        .await
    }

    pub async fn flash_sale(&self, id: FlashSaleId) -> Result<Option<FlashSale>, StoreError> {
        let statement = Statement::owned(
            format!("SELECT {FLASH_SALE_COLUMNS} FROM flash_sales WHERE id = $1"),
            vec![Value::I64(id.get())],
        );
        Ok(self.query(statement, flash_sale).await?.pop())
    }

    /// A page of flash sales, newest first: of one shop, or (`None`) of every shop.
    pub async fn flash_sales(&self, shop: Option<ShopId>, page: Keyset<i64>) -> Result<Vec<FlashSale>, StoreError> {
        let mut conditions = Conditions::default();
        if let Some(shop) = shop {
            conditions.and("shop_id = ?", vec![Value::I64(shop.get())]);
        }
        if let Some(after) = page.after {
            conditions.and("id < ?", vec![Value::I64(after)]);
        }
        let head = format!("{FLASH_SALE_COLUMNS} FROM flash_sales");
        self.query(conditions.select(&head, "ORDER BY id DESC", page.limit), flash_sale)
            .await
    }

    pub async fn audit_flash_sale(&self, sale: FlashSaleId) -> Result<FlashSaleAudit, StoreError> {
        let sql = "SELECT s.allotted, s.remaining, s.closed,
              (SELECT COUNT(*) FROM orders o WHERE o.flash_sale_id = s.id AND o.shop_id = s.shop_id
                 AND o.state <> 'cancelled'),
              (SELECT COALESCE(CAST(SUM(l.quantity) AS BIGINT), 0) FROM orders o JOIN order_lines l ON l.order_id = o.id AND l.shop_id = o.shop_id
                 WHERE o.flash_sale_id = s.id AND o.shop_id = s.shop_id AND o.state <> 'cancelled'),
              (SELECT COUNT(*) FROM (SELECT o.buyer_id FROM orders o JOIN order_lines l ON l.order_id = o.id AND l.shop_id = o.shop_id
                 WHERE o.flash_sale_id = s.id AND o.shop_id = s.shop_id AND o.state <> 'cancelled'
                 GROUP BY o.buyer_id
                 HAVING SUM(l.quantity) > s.per_buyer_limit) AS over),
              (SELECT COUNT(*) FROM (SELECT request_ref FROM orders WHERE flash_sale_id = s.id AND shop_id = s.shop_id
                 AND request_ref IS NOT NULL GROUP BY request_ref HAVING COUNT(*) > 1) AS dup)
            FROM flash_sales s WHERE s.id = $1";
        self.query_row(
            Statement::new(sql, vec![Value::I64(sale.get())]),
            |r| {
                Ok(FlashSaleAudit {
                    allotted: r.i64(0)?,
                    remaining: r.i64(1)?,
                    closed: r.i64(2)? != 0,
                    orders: r.i64(3)?,
                    units_in_orders: r.i64(4)?,
                    buyers_over_limit: r.i64(5)?,
                    duplicate_requests: r.i64(6)?,
                })
            },
            || format!("no flash sale {sale}"),
        )
        .await
    }
}
