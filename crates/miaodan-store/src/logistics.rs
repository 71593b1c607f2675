//! Shipments, package-center alerts, SLA rules and shortage notices on disk.
//!
//! A shipment's events and an alert's fields are kept as one JSON document each (the versioned
//! storage types of [`stored`], see [`crate::json`]), next to the columns they are looked up
//! by: a shipment is read whole, by id, order or waybill, and is never queried by an event's
//! field.

mod stored;

use crate::sql::{Row, ShardOf, Statement, Value};
use crate::{Store, StoreError};
use miaodan_domain::fulfillment::CarrierId;
use miaodan_domain::ids::ShipmentId;
use miaodan_domain::logistics::{Alert, AlertKey, Shipment, SlaRules};
use miaodan_domain::shard::ShortageNotice;
use miaodan_domain::{OrderId, ShopId};
use std::collections::BTreeMap;

const UPSERT_SHIPMENT: &str = "INSERT INTO shipments (id, shop_id, order_id, warehouse_id, carrier, waybill, state,
    created_at, version, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
    ON CONFLICT (id) DO UPDATE SET state = excluded.state, version = excluded.version, body = excluded.body";

const UPSERT_ALERT: &str = "INSERT INTO package_alerts (alert_key, shop_id, order_id, shipment_id, rule, is_open,
    raised_at, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
    ON CONFLICT (alert_key) DO UPDATE SET is_open = excluded.is_open, body = excluded.body";

const INSERT_SHORTAGE: &str = "INSERT INTO shortage_notices (shop_id, order_id, warehouse_id, sku_id, noticed_at, body)
    VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (order_id, warehouse_id, sku_id, noticed_at) DO NOTHING";

const UPSERT_SLA_RULES: &str = "INSERT INTO sla_rules (shop_id, body) VALUES ($1, $2)
    ON CONFLICT (shop_id) DO UPDATE SET body = excluded.body";

use stored::{
    decode_alert, decode_shipment, decode_shortage, decode_sla_rules, encode_alert, encode_shipment, encode_shortage,
    encode_sla_rules,
};

/// The logistics effects of one batch. Shipments and alerts are coalesced per id and key (a
/// parcel with ten events in a batch costs one row write); SLA rules and shortage notices are
/// written in effect order.
#[derive(Default)]
pub(crate) struct LogisticsWrites<'a> {
    shipments: BTreeMap<ShipmentId, &'a Shipment>,
    alerts: BTreeMap<AlertKey, &'a Alert>,
    in_order: Vec<Statement>,
}

impl<'a> LogisticsWrites<'a> {
    pub(crate) fn shipment_saved(&mut self, shipment: &'a Shipment) {
        self.shipments.insert(shipment.id, shipment);
    }

    pub(crate) fn alert_saved(&mut self, alert: &'a Alert) {
        self.alerts.insert(alert.key, alert);
    }

    pub(crate) fn sla_rules_saved(&mut self, shop: ShopId, rules: &SlaRules) {
        self.in_order.push(upsert_sla_rules(shop, rules));
    }

    pub(crate) fn shortage_noticed(&mut self, notice: &ShortageNotice) {
        self.in_order.push(insert_shortage(notice));
    }

    pub(crate) fn push_statements(self, statements: &mut Vec<Statement>) {
        statements.extend(self.in_order);
        statements.extend(self.shipments.into_values().map(upsert_shipment));
        statements.extend(self.alerts.into_values().map(upsert_alert));
    }
}

fn upsert_shipment(s: &Shipment) -> Statement {
    Statement::new(
        UPSERT_SHIPMENT,
        vec![
            Value::I64(s.id.get()),
            Value::I64(s.shop.get()),
            Value::I64(s.order.get()),
            Value::I64(s.warehouse.get()),
            Value::Text(s.carrier.as_str().into()),
            Value::Text(s.waybill.as_str().into()),
            Value::Text(s.state.as_str().into()),
            Value::I64(s.created_at.unix_ms()),
            Value::I64(s.version),
            Value::Text(encode_shipment(s)),
        ],
    )
}

fn upsert_alert(a: &Alert) -> Statement {
    Statement::new(
        UPSERT_ALERT,
        vec![
            Value::Text(a.key.to_string()),
            Value::I64(a.shop.get()),
            Value::I64(a.order.get()),
            Value::I64(a.shipment.get()),
            Value::Text(a.rule.as_str().into()),
            Value::I64(i64::from(a.is_open())),
            Value::I64(a.raised_at.unix_ms()),
            Value::Text(encode_alert(a)),
        ],
    )
}

fn insert_shortage(n: &ShortageNotice) -> Statement {
    Statement::new(
        INSERT_SHORTAGE,
        vec![
            Value::I64(n.shop.get()),
            Value::I64(n.order.get()),
            Value::I64(n.warehouse.get()),
            Value::I64(n.sku.get()),
            Value::I64(n.at.unix_ms()),
            Value::Text(encode_shortage(n)),
        ],
    )
}

fn upsert_sla_rules(shop: ShopId, rules: &SlaRules) -> Statement {
    Statement::new(
        UPSERT_SLA_RULES,
        vec![Value::I64(shop.get()), Value::Text(encode_sla_rules(rules))],
    )
}

fn shipment_row(row: &dyn Row) -> Result<Shipment, StoreError> {
    decode_shipment(&row.text(0)?)
}

fn alert_row(row: &dyn Row) -> Result<Alert, StoreError> {
    decode_alert(&row.text(0)?)
}

/// What a starting shard reads back of logistics.
pub(crate) struct ShardLogistics {
    pub shipments: Vec<Shipment>,
    pub alerts: Vec<Alert>,
    pub sla_rules: Vec<(ShopId, SlaRules)>,
}

impl Store {
    pub async fn shipment(&self, id: ShipmentId) -> Result<Option<Shipment>, StoreError> {
        let statement = Statement::new("SELECT body FROM shipments WHERE id = $1", vec![Value::I64(id.get())]);
        Ok(self.query(statement, shipment_row).await?.into_iter().next())
    }

    pub async fn shipments_of_order(&self, order: OrderId) -> Result<Vec<Shipment>, StoreError> {
        let statement = Statement::new(
            "SELECT body FROM shipments WHERE order_id = $1 ORDER BY id",
            vec![Value::I64(order.get())],
        );
        self.query(statement, shipment_row).await
    }

    /// The newest shipment carrying `waybill` of `carrier`.
    pub async fn shipment_by_waybill(&self, carrier: CarrierId, waybill: &str) -> Result<Option<Shipment>, StoreError> {
        let statement = Statement::new(
            "SELECT body FROM shipments WHERE waybill = $1 AND carrier = $2 ORDER BY id DESC LIMIT 1",
            vec![Value::Text(waybill.into()), Value::Text(carrier.as_str().into())],
        );
        Ok(self.query(statement, shipment_row).await?.into_iter().next())
    }

    /// A shop's alerts, newest first.
    pub async fn alerts_of_shop(&self, shop: ShopId, open_only: bool, limit: i64) -> Result<Vec<Alert>, StoreError> {
        let statement = Statement::new(
            "SELECT body FROM package_alerts WHERE shop_id = $1 AND is_open >= $2 ORDER BY raised_at DESC, alert_key LIMIT $3",
            vec![
                Value::I64(shop.get()),
                Value::I64(i64::from(open_only)),
                Value::I64(limit),
            ],
        );
        self.query(statement, alert_row).await
    }

    /// A shop's shortage notices, newest first.
    pub async fn shortage_notices(&self, shop: ShopId, limit: i64) -> Result<Vec<ShortageNotice>, StoreError> {
        let statement = Statement::new(
            "SELECT body FROM shortage_notices WHERE shop_id = $1 ORDER BY noticed_at DESC LIMIT $2",
            vec![Value::I64(shop.get()), Value::I64(limit)],
        );
        self.query(statement, |row| decode_shortage(&row.text(0)?)).await
    }

    /// The shipments of a shard's paid and shipped orders, their alerts, and its shops' rules.
    pub(crate) async fn load_shard_logistics(&self, shard: ShardOf) -> Result<ShardLogistics, StoreError> {
        let mut shipments = self
            .query(
                Statement::new(
                    "SELECT s.body FROM shipments s JOIN orders o ON o.id = s.order_id
                     WHERE o.state IN ('paid', 'shipped') AND s.shop_id % $1 = $2",
                    shard.params(),
                ),
                shipment_row,
            )
            .await?;
        let alerts = self
            .query(
                Statement::new(
                    "SELECT a.body FROM package_alerts a JOIN orders o ON o.id = a.order_id
                     WHERE o.state IN ('paid', 'shipped') AND a.shop_id % $1 = $2",
                    shard.params(),
                ),
                alert_row,
            )
            .await?;
        shipments.sort_by_key(|s| s.id);
        let sla_rules = self
            .query(
                Statement::new(
                    "SELECT shop_id, body FROM sla_rules WHERE shop_id % $1 = $2",
                    shard.params(),
                ),
                |row| {
                    let shop = row.i64(0)?;
                    let shop = ShopId::new(shop).ok_or_else(|| StoreError::corrupt(format!("shop {shop}")))?;
                    Ok((shop, decode_sla_rules(&row.text(1)?)?))
                },
            )
            .await?;
        Ok(ShardLogistics {
            shipments,
            alerts,
            sla_rules,
        })
    }
}
