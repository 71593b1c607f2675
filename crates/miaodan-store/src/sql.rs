//! SQL shared by both backends: parameter values, a row accessor trait, the statements that
//! make a batch's effects durable, and the mapping of rows back into domain types.
//!
//! **Architecture invariant:** this module and the two backends are the only code that knows
//! SQL. Placeholders are `$1, $2, …` in order of first use, which both SQLite and PostgreSQL
//! read as positional parameters.

use crate::StoreError;
use crate::fulfillment::{FulfillmentWrites, from_json, to_json};
use crate::records::{IdempotencyRecord, Role, TokenRecord};
use miaodan_domain::buyers::Buyer;
use miaodan_domain::catalog::{Gtin, ListingStatus, Product, Shop, Sku, Text};
use miaodan_domain::flash_sale::{FlashSale, FlashSaleId};
use miaodan_domain::geo::Adcode;
use miaodan_domain::inventory::{Allocation, StockLevel, Warehouse};
use miaodan_domain::orders::{Address, CancelReason, Order, OrderLine, OrderState};
use miaodan_domain::payments::{PaymentIntent, PaymentIntentId, Refund, RefundId};
use miaodan_domain::shard::Effect;
use miaodan_domain::{BuyerId, CheckoutId, Fen, OrderId, ProductId, Quantity, ShopId, SkuId, Timestamp, WarehouseId};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// A parameter value; typed even when null, because PostgreSQL checks parameter types.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    I64(i64),
    OptI64(Option<i64>),
    Text(String),
    OptText(Option<String>),
}

pub struct Statement {
    pub sql: Cow<'static, str>,
    pub params: Vec<Value>,
}

impl Statement {
    pub fn new(sql: &'static str, params: Vec<Value>) -> Statement {
        Statement {
            sql: Cow::Borrowed(sql),
            params,
        }
    }
}

/// Column access by position, implemented for both drivers' rows.
pub trait Row {
    fn opt_i64(&self, idx: usize) -> Result<Option<i64>, StoreError>;
    fn opt_text(&self, idx: usize) -> Result<Option<String>, StoreError>;

    fn i64(&self, idx: usize) -> Result<i64, StoreError> {
        self.opt_i64(idx)?
            .ok_or_else(|| StoreError::corrupt(format!("column {idx} is null")))
    }
    fn text(&self, idx: usize) -> Result<String, StoreError> {
        self.opt_text(idx)?
            .ok_or_else(|| StoreError::corrupt(format!("column {idx} is null")))
    }
}

pub(crate) fn id<T>(raw: i64, make: fn(i64) -> Option<T>) -> Result<T, StoreError> {
    make(raw).ok_or_else(|| StoreError::corrupt(format!("invalid id {raw}")))
}

pub(crate) fn ms(raw: i64) -> Timestamp {
    Timestamp::from_unix_ms(raw)
}

fn status(raw: &str) -> Result<ListingStatus, StoreError> {
    ListingStatus::parse(raw).ok_or_else(|| StoreError::corrupt(format!("unknown status {raw}")))
}

pub(crate) fn fen(raw: i64) -> Result<Fen, StoreError> {
    Fen::from_stored(raw).ok_or_else(|| StoreError::corrupt(format!("negative amount {raw}")))
}

// ---- effects → statements -------------------------------------------------------------

const UPSERT_SHOP: &str = "INSERT INTO shops (id, name, created_at) VALUES ($1, $2, $3)
    ON CONFLICT (id) DO UPDATE SET name = excluded.name";
const UPSERT_WAREHOUSE: &str = "INSERT INTO warehouses (id, shop_id, name, adcode, created_at)
    VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET name = excluded.name, adcode = excluded.adcode";
const UPSERT_PRODUCT: &str = "INSERT INTO products (id, shop_id, title, description, gtin, status, created_at, updated_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO UPDATE SET title = excluded.title,
    description = excluded.description, gtin = excluded.gtin, status = excluded.status, updated_at = excluded.updated_at";
const UPSERT_SKU: &str = "INSERT INTO skus (id, product_id, shop_id, name, price_fen, status, created_at, updated_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO UPDATE SET name = excluded.name,
    price_fen = excluded.price_fen, status = excluded.status, updated_at = excluded.updated_at";
const UPSERT_STOCK: &str = "INSERT INTO stock (sku_id, warehouse_id, shop_id, available, reserved, sold)
    VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (sku_id, warehouse_id) DO UPDATE SET
    available = excluded.available, reserved = excluded.reserved, sold = excluded.sold";
const INSERT_ORDER: &str = "INSERT INTO orders (id, checkout_id, shop_id, buyer_id, state, version, total_fen,
    adcode, address_detail, created_at, payment_due_at, paid_at, cancelled_at, cancel_reason, request_ref, flash_sale_id,
    paid_by_intent_id, promise_json) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)";
const UPSERT_FLASH_SALE: &str = "INSERT INTO flash_sales (id, shop_id, sku_id, warehouse_id, starts_at, ends_at,
    price_fen, allotted, remaining, per_buyer_limit, payment_timeout_seconds, closed, created_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
    ON CONFLICT (id) DO UPDATE SET remaining = excluded.remaining, closed = excluded.closed";
const INSERT_ORDER_LINE: &str =
    "INSERT INTO order_lines (order_id, line_no, sku_id, quantity, unit_price_fen, allocations)
    VALUES ($1, $2, $3, $4, $5, $6)";
const UPDATE_ORDER_STATE: &str = "UPDATE orders SET state = $1, version = $2, paid_at = $3, cancelled_at = $4,
    cancel_reason = $5, paid_by_intent_id = $6 WHERE id = $7";
pub const INSERT_IDEMPOTENCY: &str = "INSERT INTO idempotency_responses
    (id, scope, idempotency_key, request_sha256, status, body, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT (id) DO NOTHING";

/// The statements that make one batch durable, in effect order. Stock rows are coalesced:
/// a hot SKU touched by a thousand orders in a batch costs one row write, with its final level.
/// So are flash sales, intents, refunds and the fulfillment effects ([`FulfillmentWrites`]):
/// per key, the batch's last effect is the one written.
pub fn batch_statements(effects: &[Effect], idempotency: &[IdempotencyRecord]) -> Vec<Statement> {
    let mut statements = Vec::with_capacity(effects.len() + idempotency.len());
    let mut stock: BTreeMap<(SkuId, WarehouseId), (ShopId, StockLevel)> = BTreeMap::new();
    let mut flash_sales: BTreeMap<FlashSaleId, &FlashSale> = BTreeMap::new();
    let mut intents: BTreeMap<PaymentIntentId, &PaymentIntent> = BTreeMap::new();
    let mut refunds: BTreeMap<RefundId, &Refund> = BTreeMap::new();
    let mut fulfillment = FulfillmentWrites::default();
    let mut shipments = BTreeMap::new();
    let mut alerts = BTreeMap::new();
    for effect in effects {
        match effect {
            Effect::ShopSaved(shop) => statements.push(Statement::new(
                UPSERT_SHOP,
                vec![
                    Value::I64(shop.id.get()),
                    Value::Text(shop.name.as_str().into()),
                    Value::I64(shop.created_at.unix_ms()),
                ],
            )),
            Effect::WarehouseSaved(w) => statements.push(Statement::new(
                UPSERT_WAREHOUSE,
                vec![
                    Value::I64(w.id.get()),
                    Value::I64(w.shop.get()),
                    Value::Text(w.name.as_str().into()),
                    Value::I64(w.location.get()),
                    Value::I64(w.created_at.unix_ms()),
                ],
            )),
            Effect::ProductSaved(p) => statements.push(Statement::new(
                UPSERT_PRODUCT,
                vec![
                    Value::I64(p.id.get()),
                    Value::I64(p.shop.get()),
                    Value::Text(p.title.as_str().into()),
                    Value::OptText(p.description.as_ref().map(|d| d.as_str().into())),
                    Value::OptText(p.gtin.as_ref().map(|g| g.as_str().into())),
                    Value::Text(p.status.as_str().into()),
                    Value::I64(p.created_at.unix_ms()),
                    Value::I64(p.updated_at.unix_ms()),
                ],
            )),
            Effect::SkuSaved(s) => statements.push(Statement::new(
                UPSERT_SKU,
                vec![
                    Value::I64(s.id.get()),
                    Value::I64(s.product.get()),
                    Value::I64(s.shop.get()),
                    Value::Text(s.name.as_str().into()),
                    Value::I64(s.price.get()),
                    Value::Text(s.status.as_str().into()),
                    Value::I64(s.created_at.unix_ms()),
                    Value::I64(s.updated_at.unix_ms()),
                ],
            )),
            Effect::StockChanged {
                shop,
                sku,
                warehouse,
                level,
            } => {
                stock.insert((*sku, *warehouse), (*shop, *level));
            }
            Effect::OrderCreated { order, request } => {
                push_order(&mut statements, order, request.as_ref().map(|r| r.0.clone()));
            }
            Effect::OrderTransitioned(order) => statements.push(Statement::new(
                UPDATE_ORDER_STATE,
                vec![
                    Value::Text(order.state.as_str().into()),
                    Value::I64(order.version),
                    Value::OptI64(order.paid_at.map(Timestamp::unix_ms)),
                    Value::OptI64(order.cancelled_at.map(Timestamp::unix_ms)),
                    Value::OptText(order.cancel_reason.map(|r| r.as_str().into())),
                    Value::OptI64(order.paid_by.map(PaymentIntentId::get)),
                    Value::I64(order.id.get()),
                ],
            )),
            Effect::FlashSaleSaved(sale) => {
                flash_sales.insert(sale.id, sale);
            }
            Effect::PaymentIntentSaved(intent) => {
                intents.insert(intent.id, intent);
            }
            Effect::RefundSaved(refund) => {
                refunds.insert(refund.id, refund);
            }
            Effect::FulfillmentConfigured {
                shop,
                warehouse,
                settings,
            } => fulfillment.configured(*shop, *warehouse, settings),
            Effect::OrderDispatched { order, decision } => fulfillment.dispatched(order, decision),
            Effect::CapacityBooked {
                warehouse,
                hour,
                orders,
            } => fulfillment.booked(*warehouse, *hour, *orders),
            Effect::ShipmentSaved(shipment) => {
                shipments.insert(shipment.id, shipment);
            }
            Effect::AlertSaved(alert) => {
                alerts.insert(alert.key, alert);
            }
            Effect::SlaRulesSaved { shop, rules } => statements.push(crate::logistics::upsert_sla_rules(*shop, rules)),
            Effect::ShortageNoticed(notice) => statements.push(crate::logistics::insert_shortage(notice)),
        }
    }
    for sale in flash_sales.into_values() {
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
    for ((sku, warehouse), (shop, level)) in stock {
        statements.push(Statement::new(
            UPSERT_STOCK,
            vec![
                Value::I64(sku.get()),
                Value::I64(warehouse.get()),
                Value::I64(shop.get()),
                Value::I64(level.available),
                Value::I64(level.reserved),
                Value::I64(level.sold),
            ],
        ));
    }
    statements.extend(intents.into_values().map(crate::payments::upsert_intent));
    statements.extend(refunds.into_values().map(crate::payments::upsert_refund));
    fulfillment.push_statements(&mut statements);
    statements.extend(shipments.into_values().map(crate::logistics::upsert_shipment));
    statements.extend(alerts.into_values().map(crate::logistics::upsert_alert));
    for record in idempotency {
        statements.push(idempotency_statement(record));
    }
    statements
}

pub fn idempotency_statement(record: &IdempotencyRecord) -> Statement {
    Statement::new(
        INSERT_IDEMPOTENCY,
        vec![
            Value::I64(record.id),
            Value::Text(record.scope.clone()),
            Value::Text(record.key.clone()),
            Value::Text(record.request_sha256.clone()),
            Value::I64(i64::from(record.status)),
            Value::Text(record.body.clone()),
            Value::I64(record.created_at.unix_ms()),
        ],
    )
}

fn push_order(statements: &mut Vec<Statement>, order: &Order, request: Option<String>) {
    statements.push(Statement::new(
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
            Value::OptText(request),
            Value::OptI64(order.flash_sale.map(FlashSaleId::get)),
            Value::OptI64(order.paid_by.map(PaymentIntentId::get)),
            Value::OptText(order.promise.as_ref().map(to_json)),
        ],
    ));
    for (line_no, line) in order.lines.iter().enumerate() {
        statements.push(Statement::new(
            INSERT_ORDER_LINE,
            vec![
                Value::I64(order.id.get()),
                Value::I64(line_no as i64),
                Value::I64(line.sku.get()),
                Value::I64(line.quantity.get()),
                Value::I64(line.unit_price.get()),
                Value::Text(encode_allocations(&line.allocations)),
            ],
        ));
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

// ---- rows → domain ----------------------------------------------------------------------

pub const SHOP_COLUMNS: &str = "id, name, created_at";
pub fn shop(row: &dyn Row) -> Result<Shop, StoreError> {
    Ok(Shop {
        id: id(row.i64(0)?, ShopId::new)?,
        name: Text::from_stored(row.text(1)?),
        created_at: ms(row.i64(2)?),
    })
}

pub const WAREHOUSE_COLUMNS: &str = "id, shop_id, name, adcode, created_at";
pub fn warehouse(row: &dyn Row) -> Result<Warehouse, StoreError> {
    Ok(Warehouse {
        id: id(row.i64(0)?, WarehouseId::new)?,
        shop: id(row.i64(1)?, ShopId::new)?,
        name: Text::from_stored(row.text(2)?),
        location: Adcode::from_stored(row.i64(3)?),
        created_at: ms(row.i64(4)?),
    })
}

pub const PRODUCT_COLUMNS: &str = "id, shop_id, title, description, gtin, status, created_at, updated_at";
pub fn product(row: &dyn Row) -> Result<Product, StoreError> {
    Ok(Product {
        id: id(row.i64(0)?, ProductId::new)?,
        shop: id(row.i64(1)?, ShopId::new)?,
        title: Text::from_stored(row.text(2)?),
        description: row.opt_text(3)?.map(Text::from_stored),
        gtin: row.opt_text(4)?.map(Gtin::from_stored),
        status: status(&row.text(5)?)?,
        created_at: ms(row.i64(6)?),
        updated_at: ms(row.i64(7)?),
    })
}

pub const SKU_COLUMNS: &str = "id, product_id, shop_id, name, price_fen, status, created_at, updated_at";
pub fn sku(row: &dyn Row) -> Result<Sku, StoreError> {
    Ok(Sku {
        id: id(row.i64(0)?, SkuId::new)?,
        product: id(row.i64(1)?, ProductId::new)?,
        shop: id(row.i64(2)?, ShopId::new)?,
        name: Text::from_stored(row.text(3)?),
        price: fen(row.i64(4)?)?,
        status: status(&row.text(5)?)?,
        created_at: ms(row.i64(6)?),
        updated_at: ms(row.i64(7)?),
    })
}

pub const STOCK_COLUMNS: &str = "sku_id, warehouse_id, available, reserved, sold";
pub fn stock(row: &dyn Row) -> Result<(SkuId, WarehouseId, StockLevel), StoreError> {
    Ok((
        id(row.i64(0)?, SkuId::new)?,
        id(row.i64(1)?, WarehouseId::new)?,
        StockLevel {
            available: row.i64(2)?,
            reserved: row.i64(3)?,
            sold: row.i64(4)?,
        },
    ))
}

pub const BUYER_COLUMNS: &str = "id, name, default_adcode, default_address_detail, created_at";
pub fn buyer(row: &dyn Row) -> Result<Buyer, StoreError> {
    let default_address = match (row.opt_i64(2)?, row.opt_text(3)?) {
        (Some(adcode), Some(detail)) => Some(Address {
            adcode: Adcode::from_stored(adcode),
            detail: Text::from_stored(detail),
        }),
        _ => None,
    };
    Ok(Buyer {
        id: id(row.i64(0)?, BuyerId::new)?,
        name: Text::from_stored(row.text(1)?),
        default_address,
        created_at: ms(row.i64(4)?),
    })
}

pub const INSERT_BUYER: &str = "INSERT INTO buyers (id, name, default_adcode, default_address_detail, created_at)
    VALUES ($1, $2, $3, $4, $5)";
pub fn insert_buyer(buyer: &Buyer) -> Statement {
    Statement::new(
        INSERT_BUYER,
        vec![
            Value::I64(buyer.id.get()),
            Value::Text(buyer.name.as_str().into()),
            Value::OptI64(buyer.default_address.as_ref().map(|a| a.adcode.get())),
            Value::OptText(buyer.default_address.as_ref().map(|a| a.detail.as_str().into())),
            Value::I64(buyer.created_at.unix_ms()),
        ],
    )
}

pub const TOKEN_COLUMNS: &str = "id, role, subject_id, secret_sha256, label, created_at, revoked_at";
pub fn token(row: &dyn Row) -> Result<TokenRecord, StoreError> {
    let role = row.text(1)?;
    Ok(TokenRecord {
        id: row.i64(0)?,
        role: Role::parse(&role).ok_or_else(|| StoreError::corrupt(format!("unknown role {role}")))?,
        subject: row.opt_i64(2)?,
        secret_sha256: row.text(3)?,
        label: row.opt_text(4)?,
        created_at: ms(row.i64(5)?),
        revoked_at: row.opt_i64(6)?.map(ms),
    })
}

pub const INSERT_TOKEN: &str =
    "INSERT INTO api_tokens (id, role, subject_id, secret_sha256, label, created_at, revoked_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7)";
pub fn insert_token(token: &TokenRecord) -> Statement {
    Statement::new(
        INSERT_TOKEN,
        vec![
            Value::I64(token.id),
            Value::Text(token.role.as_str().into()),
            Value::OptI64(token.subject),
            Value::Text(token.secret_sha256.clone()),
            Value::OptText(token.label.clone()),
            Value::I64(token.created_at.unix_ms()),
            Value::OptI64(token.revoked_at.map(Timestamp::unix_ms)),
        ],
    )
}

pub const IDEMPOTENCY_COLUMNS: &str = "id, scope, idempotency_key, request_sha256, status, body, created_at";
pub fn idempotency(row: &dyn Row) -> Result<IdempotencyRecord, StoreError> {
    let status = row.i64(4)?;
    Ok(IdempotencyRecord {
        id: row.i64(0)?,
        scope: row.text(1)?,
        key: row.text(2)?,
        request_sha256: row.text(3)?,
        status: u16::try_from(status).map_err(|_| StoreError::corrupt(format!("bad status {status}")))?,
        body: row.text(5)?,
        created_at: ms(row.i64(6)?),
    })
}

pub const ORDER_COLUMNS: &str = "id, checkout_id, shop_id, buyer_id, state, version, total_fen, adcode, address_detail,
    created_at, payment_due_at, paid_at, cancelled_at, cancel_reason, flash_sale_id, paid_by_intent_id, promise_json";
/// How many columns [`ORDER_COLUMNS`] names: a query may select more after them.
pub const ORDER_COLUMN_COUNT: usize = 17;
/// An order without its lines; [`attach_lines`] completes it.
pub fn order_head(row: &dyn Row) -> Result<Order, StoreError> {
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
        flash_sale: row.opt_i64(14)?.map(|id| self::id(id, FlashSaleId::new)).transpose()?,
        paid_by: row
            .opt_i64(15)?
            .map(|id| self::id(id, PaymentIntentId::new))
            .transpose()?,
        promise: row.opt_text(16)?.map(|raw| from_json(&raw, "promise")).transpose()?,
        lines: Vec::new(),
    })
}

pub const FLASH_SALE_COLUMNS: &str = "id, shop_id, sku_id, warehouse_id, starts_at, ends_at, price_fen, allotted,
    remaining, per_buyer_limit, payment_timeout_seconds, closed, created_at";
pub fn flash_sale(row: &dyn Row) -> Result<FlashSale, StoreError> {
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

pub const LINE_COLUMNS: &str = "order_id, line_no, sku_id, quantity, unit_price_fen, allocations";
pub fn line(row: &dyn Row) -> Result<(OrderId, OrderLine), StoreError> {
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
pub fn attach_lines(orders: &mut [Order], lines: Vec<(OrderId, OrderLine)>) {
    let mut by_order: BTreeMap<OrderId, Vec<OrderLine>> = BTreeMap::new();
    for (order, line) in lines {
        by_order.entry(order).or_default().push(line);
    }
    for order in orders {
        order.lines = by_order.remove(&order.id).unwrap_or_default();
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
