//! Orders on disk: the order rows, their lines (with where each line's units are allocated),
//! the open orders and recent request references a starting shard reads back, and the order
//! read queries.
//!
//! An order's delivery promise is kept in `orders.promise_json` (a fulfillment storage type,
//! see [`crate::fulfillment`]); a line's allocations are `warehouse:units` pairs separated by
//! `;`, always read and written with their line.

use crate::records::OrderFilter;
use crate::sql::{Conditions, Row, ShardOf, Statement, Value, fen, id, id_list, ms};
use crate::{Store, StoreError};
use miaodan_domain::catalog::Text;
use miaodan_domain::flash_sale::FlashSaleId;
use miaodan_domain::geo::Adcode;
use miaodan_domain::inventory::Allocation;
use miaodan_domain::orders::{Address, CancelReason, Order, OrderLine, OrderState};
use miaodan_domain::payments::PaymentIntentId;
use miaodan_domain::shard::RequestRef;
use miaodan_domain::{BuyerId, CheckoutId, OrderId, Quantity, ShopId, SkuId, Timestamp, WarehouseId};
use std::collections::BTreeMap;

const INSERT_ORDER: &str = "INSERT INTO orders (id, checkout_id, shop_id, buyer_id, state, version, total_fen,
    adcode, address_detail, created_at, payment_due_at, paid_at, cancelled_at, cancel_reason, request_ref, flash_sale_id,
    paid_by_intent_id, promise_json) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)";
const INSERT_ORDER_LINE: &str =
    "INSERT INTO order_lines (order_id, line_no, sku_id, quantity, unit_price_fen, allocations, shop_id)
    VALUES ($1, $2, $3, $4, $5, $6, $7)";
const UPDATE_ORDER_STATE: &str = "UPDATE orders SET state = $1, version = $2, paid_at = $3, cancelled_at = $4,
    cancel_reason = $5, paid_by_intent_id = $6 WHERE id = $7 AND shop_id = $8";
const UPDATE_ORDER_ADDRESS: &str = "UPDATE orders SET version = $1, adcode = $2, address_detail = $3, promise_json = $4
    WHERE id = $5 AND shop_id = $6";

/// The order effects of one batch: the new orders' rows, then their lines, then the updates in
/// effect order. An order's insert precedes the updates of its transitions, and the inserts of
/// one table follow each other, so the backend writes them as one statement (see
/// [`crate::sql::RowInsert`]).
#[derive(Default)]
pub(crate) struct OrderWrites {
    orders: Vec<Statement>,
    lines: Vec<Statement>,
    statements: Vec<Statement>,
}

impl OrderWrites {
    pub(crate) fn created(&mut self, order: &Order, request: Option<&RequestRef>) {
        self.orders.push(Statement::new(
            INSERT_ORDER,
            vec![
                Value::I64(order.id.get()),
                Value::I64(order.checkout.get()),
                Value::I64(order.shop.get()),
                Value::I64(order.buyer.get()),
                Value::Text(order.state.as_str().into()),
                Value::I64(order.version),
                Value::I64(order.total.get()),
                Value::I64(order.address.adcode.get()),
                Value::Text(order.address.detail.as_str().into()),
                Value::I64(order.created_at.unix_ms()),
                Value::I64(order.payment_due_at.unix_ms()),
                Value::OptI64(order.paid_at.map(Timestamp::unix_ms)),
                Value::OptI64(order.cancelled_at.map(Timestamp::unix_ms)),
                Value::OptText(order.cancel_reason.map(|r| r.as_str().into())),
                Value::OptText(request.map(|r| r.0.clone())),
                Value::OptI64(order.flash_sale.map(FlashSaleId::get)),
                Value::OptI64(order.paid_by.map(PaymentIntentId::get)),
                Value::OptText(order.promise.as_ref().map(crate::fulfillment::encode_promise)),
            ],
        ));
        for (line_no, line) in order.lines.iter().enumerate() {
            self.lines.push(Statement::new(
                INSERT_ORDER_LINE,
                vec![
                    Value::I64(order.id.get()),
                    Value::I64(line_no as i64),
                    Value::I64(line.sku.get()),
                    Value::I64(line.quantity.get()),
                    Value::I64(line.unit_price.get()),
                    Value::Text(encode_allocations(&line.allocations)),
                    Value::I64(order.shop.get()),
                ],
            ));
        }
    }

    /// The order's state fields after a transition.
    pub(crate) fn transitioned(&mut self, order: &Order) {
        self.statements.push(Statement::new(
            UPDATE_ORDER_STATE,
            vec![
                Value::Text(order.state.as_str().into()),
                Value::I64(order.version),
                Value::OptI64(order.paid_at.map(Timestamp::unix_ms)),
                Value::OptI64(order.cancelled_at.map(Timestamp::unix_ms)),
                Value::OptText(order.cancel_reason.map(|r| r.as_str().into())),
                Value::OptI64(order.paid_by.map(PaymentIntentId::get)),
                Value::I64(order.id.get()),
                Value::I64(order.shop.get()),
            ],
        ));
    }

    /// A paid order's new address and promise (an approved change of address).
    pub(crate) fn readdressed(&mut self, order: &Order) {
        self.statements.push(Statement::new(
            UPDATE_ORDER_ADDRESS,
            vec![
                Value::I64(order.version),
                Value::I64(order.address.adcode.get()),
                Value::Text(order.address.detail.as_str().into()),
                Value::OptText(order.promise.as_ref().map(crate::fulfillment::encode_promise)),
                Value::I64(order.id.get()),
                Value::I64(order.shop.get()),
            ],
        ));
    }

    pub(crate) fn push_statements(self, statements: &mut Vec<Statement>) {
        statements.extend(self.orders);
        statements.extend(self.lines);
        statements.extend(self.statements);
    }
}

pub(crate) fn encode_allocations(allocations: &[Allocation]) -> String {
    allocations
        .iter()
        .map(|a| format!("{}:{}", a.warehouse, a.quantity))
        .collect::<Vec<_>>()
        .join(";")
}

fn decode_allocations(raw: &str) -> Result<Vec<Allocation>, StoreError> {
    raw.split(';')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let parsed = part.split_once(':').and_then(|(w, q)| {
                Some(Allocation {
                    warehouse: WarehouseId::new(w.parse().ok()?)?,
                    quantity: q.parse().ok()?,
                })
            });
            parsed.ok_or_else(|| StoreError::corrupt(format!("bad allocation {part:?}")))
        })
        .collect()
}

pub(crate) const ORDER_COLUMNS: &str = "id, checkout_id, shop_id, buyer_id, state, version, total_fen, adcode,
    address_detail, created_at, payment_due_at, paid_at, cancelled_at, cancel_reason, flash_sale_id, paid_by_intent_id,
    promise_json";
/// How many columns [`ORDER_COLUMNS`] names: a query may select more after them.
pub(crate) const ORDER_COLUMN_COUNT: usize = 17;

/// An order without its lines; [`attach_lines`] completes it.
pub(crate) fn order_head(row: &dyn Row) -> Result<Order, StoreError> {
    let state = row.text(4)?;
    let cancel_reason = match row.opt_text(13)? {
        Some(raw) => {
            Some(CancelReason::parse(&raw).ok_or_else(|| StoreError::corrupt(format!("bad cancel reason {raw}")))?)
        }
        None => None,
    };
    Ok(Order {
        id: id(row.i64(0)?, OrderId::new)?,
        checkout: id(row.i64(1)?, CheckoutId::new)?,
        shop: id(row.i64(2)?, ShopId::new)?,
        buyer: id(row.i64(3)?, BuyerId::new)?,
        state: OrderState::parse(&state).ok_or_else(|| StoreError::corrupt(format!("bad state {state}")))?,
        version: row.i64(5)?,
        total: fen(row.i64(6)?)?,
        address: Address {
            adcode: Adcode::from_stored(row.i64(7)?),
            detail: Text::from_stored(row.text(8)?),
        },
        created_at: ms(row.i64(9)?),
        payment_due_at: ms(row.i64(10)?),
        paid_at: row.opt_i64(11)?.map(ms),
        cancelled_at: row.opt_i64(12)?.map(ms),
        cancel_reason,
        flash_sale: row.opt_i64(14)?.map(|raw| id(raw, FlashSaleId::new)).transpose()?,
        paid_by: row.opt_i64(15)?.map(|raw| id(raw, PaymentIntentId::new)).transpose()?,
        promise: row
            .opt_text(16)?
            .map(|raw| crate::fulfillment::decode_promise(&raw))
            .transpose()?,
        lines: Vec::new(),
    })
}

pub(crate) const LINE_COLUMNS: &str = "order_id, line_no, sku_id, quantity, unit_price_fen, allocations";
pub(crate) fn line(row: &dyn Row) -> Result<(OrderId, OrderLine), StoreError> {
    let quantity = row.i64(3)?;
    Ok((
        id(row.i64(0)?, OrderId::new)?,
        OrderLine {
            sku: id(row.i64(2)?, SkuId::new)?,
            quantity: Quantity::new(quantity).ok_or_else(|| StoreError::corrupt(format!("bad quantity {quantity}")))?,
            unit_price: fen(row.i64(4)?)?,
            allocations: decode_allocations(&row.text(5)?)?,
        },
    ))
}

/// Puts lines (read in `order_id, line_no` order) onto their orders.
pub(crate) fn attach_lines(orders: &mut [Order], lines: Vec<(OrderId, OrderLine)>) {
    let mut by_order: BTreeMap<OrderId, Vec<OrderLine>> = BTreeMap::new();
    for (order, line) in lines {
        by_order.entry(order).or_default().push(line);
    }
    for order in orders {
        order.lines = by_order.remove(&order.id).unwrap_or_default();
    }
}

/// How an order list finds the orders of one SKU.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum SkuLines {
    /// The SKU's lines are few: read them all by the lines' SKU index and sort their orders.
    Few,
    /// The SKU's lines are many: check each order along the shop's newest-first walk, which
    /// then meets one of them every few orders.
    Many,
}

/// Up to this many lines, a SKU's orders are read through its lines ([`SkuLines::Few`]):
/// sorting 2 000 orders is cheaper than walking a shop's orders to find 50 that match.
const FEW_LINES_OF_A_SKU: i64 = 2_000;

/// The conditions of an order list. The shop's or buyer's `(…, created_at, id)` index walks
/// newest first; a state is read by the shop's state index (`orders_fulfilling`,
/// `orders_cancelled`; unpaid and delivered orders are walked, see [`state_condition`]); a SKU by its lines (see
/// [`SkuLines`]); a warehouse is checked per order walked by the order's own key (its lines,
/// its shipments); a flash sale's orders and a shop's alerts are read by their indexes.
fn order_conditions(filter: &OrderFilter, sku_lines: SkuLines) -> Conditions {
    let mut conditions = Conditions::default();
    let equal = |column: &str| format!("{column} = ?");
    // A SKU with few lines is read by its lines, then its orders by id: the shop's index must
    // not tempt the planner into walking the shop's orders in the list's order instead (SQLite
    // would), and a unary `+` keeps an index from serving a column.
    let shop = match (filter.sku, sku_lines) {
        (Some(_), SkuLines::Few) => "+shop_id",
        _ => "shop_id",
    };
    let pairs = [
        (shop, filter.shop.map(ShopId::get)),
        ("buyer_id", filter.buyer.map(BuyerId::get)),
        ("flash_sale_id", filter.flash_sale.map(FlashSaleId::get)),
    ];
    for (column, value) in pairs {
        if let Some(value) = value {
            conditions.and(&equal(column), vec![Value::I64(value)]);
        }
    }
    if let Some(state) = filter.state {
        let (condition, values) = state_condition(state);
        conditions.and(&condition, values);
    }
    if let Some(from) = filter.created_from {
        conditions.and("created_at >= ?", vec![Value::I64(from.unix_ms())]);
    }
    if let Some(before) = filter.created_before {
        conditions.and("created_at < ?", vec![Value::I64(before.unix_ms())]);
    }
    where_sold(&mut conditions, filter, sku_lines);
    if filter.promise_at_risk_only {
        let open_alerts = "SELECT order_id FROM package_alerts WHERE rule = 'promise_at_risk' AND is_open = 1";
        match filter.shop {
            Some(shop) => conditions.and(
                &format!("id IN ({open_alerts} AND shop_id = ?)"),
                vec![Value::I64(shop.get())],
            ),
            None => conditions.and(&format!("id IN ({open_alerts})"), vec![]),
        }
    }
    if let Some(number) = filter.order_or_buyer {
        conditions.and("(id = ? OR buyer_id = ?)", vec![Value::I64(number), Value::I64(number)]);
    }
    if let Some((created_at, id)) = filter.after {
        let at = Value::I64(created_at.unix_ms());
        conditions.and(
            "(created_at < ? OR (created_at = ? AND id < ?))",
            vec![at.clone(), at, Value::I64(id.get())],
        );
    }
    conditions
}

/// The conditions on where an order's units are sold from: a SKU among its lines, a warehouse
/// among its lines' allocations or its parcels.
fn where_sold(conditions: &mut Conditions, filter: &OrderFilter, sku_lines: SkuLines) {
    if let Some(sku) = filter.sku {
        let condition = match sku_lines {
            SkuLines::Few => "id IN (SELECT order_id FROM order_lines WHERE sku_id = ?)",
            SkuLines::Many => {
                "EXISTS (SELECT 1 FROM order_lines l WHERE l.order_id = orders.id AND l.shop_id = orders.shop_id AND l.sku_id = ?)"
            }
        };
        conditions.and(condition, vec![Value::I64(sku.get())]);
    }
    if let Some(warehouse) = filter.warehouse {
        // An allocation is `warehouse:units` among `;`-separated pairs: a leading `;` makes
        // every pair start with one.
        conditions.and(
            "(EXISTS (SELECT 1 FROM order_lines l WHERE l.order_id = orders.id AND l.shop_id = orders.shop_id AND (';' || l.allocations) LIKE ?)
              OR EXISTS (SELECT 1 FROM shipments s WHERE s.order_id = orders.id AND s.shop_id = orders.shop_id
                 AND s.warehouse_id = ?))",
            vec![Value::Text(format!("%;{warehouse}:%")), Value::I64(warehouse.get())],
        );
    }
}

/// Orders in `state`. Written out, not bound, where a partial index serves the list: the
/// planner uses one only if it sees that the query's rows are the index's (the state is one
/// of the enum's own names); paid and shipped orders share an index, whose condition is
/// repeated for SQLite. Bound for unpaid orders, so that the shop's newest-first walk reads
/// them (they are its newest) rather than their partial index, which is not in the list's
/// order and would be sorted whole.
fn state_condition(state: OrderState) -> (String, Vec<Value>) {
    let name = state.as_str();
    match state {
        OrderState::PendingPayment => ("state = ?".into(), vec![Value::Text(name.into())]),
        OrderState::Paid | OrderState::Shipped => {
            (format!("state IN ('paid', 'shipped') AND state = '{name}'"), vec![])
        }
        OrderState::Delivered | OrderState::Cancelled => (format!("state = '{name}'"), vec![]),
    }
}

/// What a starting shard holds of orders.
pub(crate) struct ShardOrders {
    pub open_orders: Vec<Order>,
    pub recent_requests: Vec<(RequestRef, OrderId, Timestamp)>,
}

impl Store {
    /// The shard's unpaid orders with their lines, and the request references of orders placed
    /// since `requests_since`.
    pub(crate) async fn load_shard_orders(
        &self,
        shard: ShardOf,
        requests_since: Timestamp,
    ) -> Result<ShardOrders, StoreError> {
        let open = Statement::owned(
            format!(
                "SELECT {ORDER_COLUMNS} FROM orders WHERE state = 'pending_payment' AND shop_id % $1 = $2 ORDER BY id"
            ),
            shard.params(),
        );
        let mut open_orders = self.query(open, order_head).await?;
        self.attach_lines(&mut open_orders).await?;
        let requests = Statement::new(
            "SELECT request_ref, id, created_at FROM orders WHERE request_ref IS NOT NULL AND created_at >= $1
             AND shop_id % $2 = $3",
            vec![
                Value::I64(requests_since.unix_ms()),
                Value::I64(i64::from(shard.count)),
                Value::I64(i64::from(shard.index)),
            ],
        );
        let recent_requests = self
            .query(requests, |r| {
                let order = r.i64(1)?;
                let order = OrderId::new(order).ok_or_else(|| StoreError::corrupt(format!("order {order}")))?;
                Ok((RequestRef(r.text(0)?), order, Timestamp::from_unix_ms(r.i64(2)?)))
            })
            .await?;
        Ok(ShardOrders {
            open_orders,
            recent_requests,
        })
    }

    async fn attach_lines(&self, orders: &mut [Order]) -> Result<(), StoreError> {
        if orders.is_empty() {
            return Ok(());
        }
        // Bounded by the page size (or the open orders of one shard), one round trip.
        let statement = Statement::owned(
            format!(
                "SELECT {LINE_COLUMNS} FROM order_lines WHERE order_id IN ({}) ORDER BY order_id, line_no",
                id_list(orders.iter().map(|o| o.id.get()))
            ),
            vec![],
        );
        let lines = self.query(statement, line).await?;
        attach_lines(orders, lines);
        Ok(())
    }

    pub async fn order(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        let statement = Statement::owned(
            format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1"),
            vec![Value::I64(id.get())],
        );
        let mut orders = self.query(statement, order_head).await?;
        self.attach_lines(&mut orders).await?;
        Ok(orders.pop())
    }

    /// A page of orders, newest first (by creation, then id).
    pub async fn orders(&self, filter: &OrderFilter) -> Result<Vec<Order>, StoreError> {
        let sku_lines = self.sku_lines(filter).await?;
        let statement = order_conditions(filter, sku_lines).select(
            &format!("{ORDER_COLUMNS} FROM orders"),
            "ORDER BY created_at DESC, id DESC",
            filter.limit,
        );
        let mut orders = self.query(statement, order_head).await?;
        self.attach_lines(&mut orders).await?;
        Ok(orders)
    }

    /// Whether the filter's SKU has few lines or many: counts at most
    /// [`FEW_LINES_OF_A_SKU`]` + 1` entries of the lines' SKU index.
    async fn sku_lines(&self, filter: &OrderFilter) -> Result<SkuLines, StoreError> {
        let Some(sku) = filter.sku else {
            return Ok(SkuLines::Many);
        };
        let statement = Statement::new(
            "SELECT COUNT(*) FROM (SELECT 1 FROM order_lines WHERE sku_id = $1 LIMIT $2) AS lines",
            vec![Value::I64(sku.get()), Value::I64(FEW_LINES_OF_A_SKU + 1)],
        );
        let lines = self.query(statement, |r| r.i64(0)).await?;
        Ok(match lines.first() {
            Some(&n) if n <= FEW_LINES_OF_A_SKU => SkuLines::Few,
            _ => SkuLines::Many,
        })
    }

    /// Whether more than `count` orders match `filter` (its position and limit aside): reads
    /// at most `count + 1` index entries.
    pub async fn orders_exceed(&self, filter: &OrderFilter, count: i64) -> Result<bool, StoreError> {
        let unpaged = OrderFilter {
            after: None,
            ..filter.clone()
        };
        let sku_lines = self.sku_lines(filter).await?;
        let matching = order_conditions(&unpaged, sku_lines).select("id FROM orders", "", count.saturating_add(1));
        let statement = Statement::owned(
            format!("SELECT COUNT(*) FROM ({}) AS matching", matching.sql),
            matching.params,
        );
        let counted = self.query(statement, |r| r.i64(0)).await?;
        Ok(counted.first().is_some_and(|&n| n > count))
    }

    /// The ids and head fields of a checkout's orders, for opening its payment.
    pub async fn checkout_orders(&self, checkout: CheckoutId) -> Result<Vec<Order>, StoreError> {
        let statement = Statement::owned(
            format!("SELECT {ORDER_COLUMNS} FROM orders WHERE checkout_id = $1 ORDER BY id"),
            vec![Value::I64(checkout.get())],
        );
        self.query(statement, order_head).await
    }

    /// Orders per state, for the `orders by state` gauge.
    pub async fn order_counts_by_state(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let statement = Statement::new(
            "SELECT state, COUNT(*) FROM orders GROUP BY state ORDER BY state",
            vec![],
        );
        self.query(statement, |r| Ok((r.text(0)?, r.i64(1)?))).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocations_round_trip_through_their_text_form() {
        let allocations = vec![
            Allocation {
                warehouse: WarehouseId::new(3).expect("positive"),
                quantity: 2,
            },
            Allocation {
                warehouse: WarehouseId::new(11).expect("positive"),
                quantity: 40,
            },
        ];
        let text = encode_allocations(&allocations);
        assert_eq!(text, "3:2;11:40");
        assert_eq!(decode_allocations(&text).expect("valid"), allocations);
        assert!(decode_allocations("3:x").is_err());
        assert!(decode_allocations("0:1").is_err());
    }
}
