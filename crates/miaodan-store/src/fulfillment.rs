//! Fulfillment on disk: how merchants configured their warehouses, the dispatch decision of
//! each paid order (with the line allocations it moved) and the capacity booked per
//! warehouse hour; and what a starting shard reads back of them.
//!
//! Settings, decisions and promises are JSON documents in TEXT columns, as the versioned
//! storage types of [`stored`] (see [`crate::json`]): always read and written whole, never
//! filtered on. Within one batch a later effect for the same key supersedes an earlier one, so
//! each key costs one row write with its final value.

pub(crate) mod stored;

use crate::orders::{
    LINE_COLUMNS, ORDER_COLUMN_COUNT, ORDER_COLUMNS, attach_lines, encode_allocations, line, order_head,
};
use crate::sql::{Row, ShardOf, Statement, Value, id, ms};
use crate::{Store, StoreError};
use miaodan_domain::fulfillment::{DispatchDecision, FulfillmentSettings};
use miaodan_domain::orders::{Order, OrderLine};
use miaodan_domain::shard::Fulfilling;
use miaodan_domain::{OrderId, ShopId, Timestamp, WarehouseId};
use std::collections::BTreeMap;
use stored::{decode_decision, decode_settings, encode_decision, encode_settings};
pub(crate) use stored::{decode_promise, encode_promise};

const UPSERT_SETTINGS: &str = "INSERT INTO warehouse_fulfillment (warehouse_id, shop_id, settings_json)
    VALUES ($1, $2, $3) ON CONFLICT (warehouse_id{SPREAD_BY shop_id}) DO UPDATE SET settings_json = excluded.settings_json";
const UPSERT_DISPATCH: &str = "INSERT INTO order_dispatches (order_id, shop_id, decided_at, decision_json)
    VALUES ($1, $2, $3, $4) ON CONFLICT (order_id{SPREAD_BY shop_id}) DO UPDATE SET decided_at = excluded.decided_at,
    decision_json = excluded.decision_json";
const UPDATE_LINE_ALLOCATIONS: &str =
    "UPDATE order_lines SET allocations = $1 WHERE order_id = $2 AND line_no = $3 AND shop_id = $4";
const UPSERT_CAPACITY: &str =
    "INSERT INTO warehouse_capacity (warehouse_id, hour_ms, orders, shop_id) VALUES ($1, $2, $3, $4)
    ON CONFLICT (warehouse_id, hour_ms{SPREAD_BY shop_id}) DO UPDATE SET orders = excluded.orders";

/// The fulfillment effects of one batch, coalesced per key until they become statements.
#[derive(Default)]
pub(crate) struct FulfillmentWrites<'a> {
    settings: BTreeMap<WarehouseId, (ShopId, &'a FulfillmentSettings)>,
    dispatches: BTreeMap<OrderId, (&'a Order, &'a DispatchDecision)>,
    capacity: BTreeMap<(WarehouseId, Timestamp), (ShopId, u32)>,
}

impl<'a> FulfillmentWrites<'a> {
    pub(crate) fn configured(&mut self, shop: ShopId, warehouse: WarehouseId, settings: &'a FulfillmentSettings) {
        self.settings.insert(warehouse, (shop, settings));
    }

    pub(crate) fn dispatched(&mut self, order: &'a Order, decision: &'a DispatchDecision) {
        self.dispatches.insert(order.id, (order, decision));
    }

    /// `orders` is the hour's new absolute count, not an increment.
    pub(crate) fn booked(&mut self, shop: ShopId, warehouse: WarehouseId, hour: Timestamp, orders: u32) {
        self.capacity.insert((warehouse, hour), (shop, orders));
    }

    /// Appended after the batch's order inserts, so a dispatch rewrites lines that exist even
    /// when its order was placed in the same batch.
    pub(crate) fn push_statements(self, statements: &mut Vec<Statement>) {
        for (warehouse, (shop, settings)) in self.settings {
            statements.push(Statement::new(
                UPSERT_SETTINGS,
                vec![
                    Value::I64(warehouse.get()),
                    Value::I64(shop.get()),
                    Value::Text(encode_settings(settings)),
                ],
            ));
        }
        for (order, decision) in self.dispatches.into_values() {
            push_dispatch(statements, order, decision);
        }
        for ((warehouse, hour), (shop, orders)) in self.capacity {
            statements.push(Statement::new(
                UPSERT_CAPACITY,
                vec![
                    Value::I64(warehouse.get()),
                    Value::I64(hour.unix_ms()),
                    Value::I64(i64::from(orders)),
                    Value::I64(shop.get()),
                ],
            ));
        }
    }
}

/// A dispatch may move units between warehouses: every line's allocations are rewritten
/// (lines keep the `line_no` they were inserted with, their index in `order.lines`).
fn push_dispatch(statements: &mut Vec<Statement>, order: &Order, decision: &DispatchDecision) {
    for (line_no, line) in order.lines.iter().enumerate() {
        statements.push(Statement::new(
            UPDATE_LINE_ALLOCATIONS,
            vec![
                Value::Text(encode_allocations(&line.allocations)),
                Value::I64(order.id.get()),
                Value::I64(line_no as i64),
                Value::I64(order.shop.get()),
            ],
        ));
    }
    statements.push(Statement::new(
        UPSERT_DISPATCH,
        vec![
            Value::I64(order.id.get()),
            Value::I64(order.shop.get()),
            Value::I64(decision.decided_at.unix_ms()),
            Value::Text(encode_decision(decision)),
        ],
    ));
}

fn orders_count(raw: i64) -> Result<u32, StoreError> {
    u32::try_from(raw).map_err(|_| StoreError::corrupt(format!("bad booked orders {raw}")))
}

fn settings_row(row: &dyn Row) -> Result<(WarehouseId, FulfillmentSettings), StoreError> {
    Ok((id(row.i64(0)?, WarehouseId::new)?, decode_settings(&row.text(1)?)?))
}

fn capacity_row(row: &dyn Row) -> Result<(WarehouseId, Timestamp, u32), StoreError> {
    Ok((
        id(row.i64(0)?, WarehouseId::new)?,
        ms(row.i64(1)?),
        orders_count(row.i64(2)?)?,
    ))
}

/// An order head (as [`order_head`]) followed by its dispatch decision.
fn fulfilling_row(row: &dyn Row) -> Result<(Order, DispatchDecision), StoreError> {
    let order = order_head(row)?;
    let decision = decode_decision(&row.text(ORDER_COLUMN_COUNT)?)?;
    Ok((order, decision))
}

/// A line (as [`line`]) with its `line_no`, for sorting.
fn numbered_line(row: &dyn Row) -> Result<(OrderId, i64, OrderLine), StoreError> {
    let (order, line) = line(row)?;
    Ok((order, row.i64(1)?, line))
}

/// What a starting shard holds of fulfillment.
pub(crate) struct ShardFulfillment {
    pub warehouse_settings: Vec<(WarehouseId, FulfillmentSettings)>,
    pub capacity: Vec<(WarehouseId, Timestamp, u32)>,
    pub fulfilling: Vec<Fulfilling>,
}

impl Store {
    /// Shard `index` of `count`'s warehouse settings, capacity booked in hours from
    /// `capacity_since` on, and its dispatched orders not yet delivered, with their lines.
    pub(crate) async fn load_shard_fulfillment(
        &self,
        shard: ShardOf,
        capacity_since: Timestamp,
    ) -> Result<ShardFulfillment, StoreError> {
        let settings = shard.select("warehouse_id, settings_json", "warehouse_fulfillment", "shop_id");
        let warehouse_settings = self.query(settings, settings_row).await?;
        let mut params = shard.params();
        params.push(Value::I64(capacity_since.unix_ms()));
        // Sorted here: an `ORDER BY` would make SQLite walk the whole table in key order
        // instead of reading today's hours by the hour index.
        let capacity = Statement::new(
            "SELECT warehouse_id, hour_ms, orders FROM warehouse_capacity
             WHERE shop_id % $1 = $2 AND hour_ms >= $3",
            params,
        );
        let mut capacity = self.query(capacity, capacity_row).await?;
        capacity.sort_unstable();
        let fulfilling = self.load_fulfilling(shard).await?;
        Ok(ShardFulfillment {
            warehouse_settings,
            capacity,
            fulfilling,
        })
    }

    /// The shard's dispatched orders in state paid or shipped, with their lines. Both queries
    /// repeat the partial index's condition (`orders_fulfilling`) and leave sorting to Rust: with
    /// an `ORDER BY` and no statistics, SQLite would rather walk every order ever placed in id
    /// order than read that index and sort. Lines are read by the same condition, not by a list
    /// of ids that grows with the orders on their way.
    async fn load_fulfilling(&self, shard: ShardOf) -> Result<Vec<Fulfilling>, StoreError> {
        let heads = Statement::owned(
            format!(
                "SELECT {ORDER_COLUMNS}, d.decision_json FROM orders
                 JOIN (SELECT order_id, shop_id AS decided_shop, decision_json FROM order_dispatches) d
                   ON d.order_id = orders.id AND d.decided_shop = orders.shop_id
                 WHERE state IN ('paid', 'shipped') AND shop_id % $1 = $2"
            ),
            shard.params(),
        );
        let mut heads = self.query(heads, fulfilling_row).await?;
        if heads.is_empty() {
            return Ok(Vec::new());
        }
        heads.sort_by_key(|(order, _)| order.id);
        let (mut orders, decisions): (Vec<Order>, Vec<DispatchDecision>) = heads.into_iter().unzip();
        let lines = Statement::owned(
            format!(
                "SELECT {LINE_COLUMNS} FROM orders o JOIN order_lines ON order_lines.order_id = o.id AND order_lines.shop_id = o.shop_id
                 WHERE o.state IN ('paid', 'shipped') AND o.shop_id % $1 = $2
                 AND EXISTS (SELECT 1 FROM order_dispatches d WHERE d.order_id = o.id AND d.shop_id = o.shop_id)"
            ),
            shard.params(),
        );
        let mut lines = self.query(lines, numbered_line).await?;
        lines.sort_by_key(|(order, line_no, _)| (*order, *line_no));
        let lines = lines.into_iter().map(|(order, _, line)| (order, line)).collect();
        attach_lines(&mut orders, lines);
        Ok(orders
            .into_iter()
            .zip(decisions)
            .map(|(order, decision)| Fulfilling { order, decision })
            .collect())
    }

    /// The latest dispatch decision of an order and its shop; `None` until it was dispatched.
    pub async fn dispatch_of(&self, order: OrderId) -> Result<Option<(ShopId, DispatchDecision)>, StoreError> {
        let statement = Statement::new(
            "SELECT shop_id, decision_json FROM order_dispatches WHERE order_id = $1",
            vec![Value::I64(order.get())],
        );
        let rows = self
            .query(statement, |r| {
                Ok((id(r.i64(0)?, ShopId::new)?, decode_decision(&r.text(1)?)?))
            })
            .await?;
        Ok(rows.into_iter().next())
    }

    /// How the merchant configured a warehouse; `None` when it runs the standard settings.
    pub async fn fulfillment_settings(
        &self,
        warehouse: WarehouseId,
    ) -> Result<Option<FulfillmentSettings>, StoreError> {
        let statement = Statement::new(
            "SELECT warehouse_id, settings_json FROM warehouse_fulfillment WHERE warehouse_id = $1",
            vec![Value::I64(warehouse.get())],
        );
        Ok(self.query(statement, settings_row).await?.pop().map(|(_, s)| s))
    }

    /// Orders booked per processing hour of a warehouse, for hours starting in `[from, to)`,
    /// earliest first. Hours nothing was booked in are absent.
    pub async fn capacity_of(
        &self,
        warehouse: WarehouseId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<(Timestamp, u32)>, StoreError> {
        let statement = Statement::new(
            "SELECT warehouse_id, hour_ms, orders FROM warehouse_capacity
             WHERE warehouse_id = $1 AND hour_ms >= $2 AND hour_ms < $3 ORDER BY hour_ms",
            vec![
                Value::I64(warehouse.get()),
                Value::I64(from.unix_ms()),
                Value::I64(to.unix_ms()),
            ],
        );
        Ok(self
            .query(statement, capacity_row)
            .await?
            .into_iter()
            .map(|(_, hour, orders)| (hour, orders))
            .collect())
    }
}
