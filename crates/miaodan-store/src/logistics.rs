//! Shipments, package-center alerts, SLA rules and shortage notices on disk.
//!
//! A shipment's events and an alert's fields are kept as one JSON document each (the versioned
//! storage types of [`stored`], see [`crate::json`]), next to the columns they are looked up
//! by: a shipment is read whole, by id, order or waybill, and is never queried by an event's
//! field.

mod alert_work;
pub(crate) mod stored;

use crate::records::{AlertFilter, AlertKinds, AlertPosition, AlertWorkFilter, Assignee, Keyset};
use crate::sql::{Conditions, Row, ShardOf, Statement, Value};
use crate::{Store, StoreError};
use miaodan_domain::fulfillment::CarrierId;
use miaodan_domain::ids::ShipmentId;
use miaodan_domain::logistics::{Alert, AlertKey, AlertLevel, AlertRule, Shipment, SlaRules};
use miaodan_domain::shard::ShortageNotice;
use miaodan_domain::{OrderId, ShopId};
use std::collections::BTreeMap;

const UPSERT_SHIPMENT: &str = "INSERT INTO shipments (id, shop_id, order_id, warehouse_id, carrier, waybill, state,
    created_at, version, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
    ON CONFLICT (id{SPREAD_BY shop_id}) DO UPDATE SET state = excluded.state, version = excluded.version, body = excluded.body";

const UPSERT_ALERT: &str = "INSERT INTO package_alerts (alert_key, shop_id, order_id, shipment_id, rule, is_open,
    raised_at, body, alert_level, assignee_staff_id, acknowledged_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
    ON CONFLICT (alert_key{SPREAD_BY shop_id}) DO UPDATE SET is_open = excluded.is_open, body = excluded.body,
    alert_level = excluded.alert_level, assignee_staff_id = excluded.assignee_staff_id,
    acknowledged_at = excluded.acknowledged_at";

const INSERT_SHORTAGE: &str = "INSERT INTO shortage_notices (shop_id, order_id, warehouse_id, sku_id, noticed_at, body)
    VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (order_id, warehouse_id, sku_id, noticed_at{SPREAD_BY shop_id}) DO NOTHING";

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
            Value::Text(a.level.as_str().into()),
            Value::OptI64(a.work.assignee.map(|s| s.get())),
            Value::OptI64(a.work.acknowledged.as_ref().map(|ack| ack.at.unix_ms())),
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

/// An entry of a shop's package center: an SLA alert, or a warehouse's shortage notice.
#[derive(Clone, Debug, PartialEq)]
pub enum PackageCenterEntry {
    Sla(Alert),
    Shortage(ShortageNotice),
}

impl PackageCenterEntry {
    /// Where the entry stands in the newest-first listing.
    pub fn position(&self) -> AlertPosition {
        match self {
            PackageCenterEntry::Sla(alert) => AlertPosition::Sla {
                at: alert.raised_at,
                key: alert.key.to_string(),
            },
            PackageCenterEntry::Shortage(notice) => shortage_position(notice),
        }
    }
}

fn shortage_position(notice: &ShortageNotice) -> AlertPosition {
    AlertPosition::Shortage {
        at: notice.at,
        order: notice.order.get(),
        warehouse: notice.warehouse.get(),
        sku: notice.sku.get(),
    }
}

/// A shortage notice's level: timed out while no other warehouse took the parcel over.
pub fn shortage_level(notice: &ShortageNotice) -> AlertLevel {
    if notice.redispatched_to.is_empty() {
        AlertLevel::TimedOut
    } else {
        AlertLevel::Warning
    }
}

fn work_conditions(conditions: &mut Conditions, work: &AlertWorkFilter) {
    match work.assignee {
        None => {}
        Some(Assignee::Nobody) => conditions.and("assignee_staff_id IS NULL", vec![]),
        Some(Assignee::Staff(staff)) => conditions.and("assignee_staff_id = ?", vec![Value::I64(staff.get())]),
    }
    match work.acknowledged {
        None => {}
        Some(true) => conditions.and("acknowledged_at IS NOT NULL", vec![]),
        Some(false) => conditions.and("acknowledged_at IS NULL", vec![]),
    }
}

/// Narrows shortage notices to those after `after` in the package center's order.
fn shortage_after(conditions: &mut Conditions, after: Option<&AlertPosition>) {
    match after {
        None => {}
        // At one instant the SLA alerts come first: every notice of that instant is still to come.
        Some(AlertPosition::Sla { at, .. }) => conditions.and("noticed_at <= ?", vec![Value::I64(at.unix_ms())]),
        Some(AlertPosition::Shortage {
            at,
            order,
            warehouse,
            sku,
        }) => {
            let (at, order, warehouse) = (Value::I64(at.unix_ms()), Value::I64(*order), Value::I64(*warehouse));
            conditions.and(
                "(noticed_at < ? OR (noticed_at = ? AND (order_id > ? OR (order_id = ? AND
                 (warehouse_id > ? OR (warehouse_id = ? AND sku_id > ?))))))",
                vec![
                    at.clone(),
                    at,
                    order.clone(),
                    order,
                    warehouse.clone(),
                    warehouse,
                    Value::I64(*sku),
                ],
            );
        }
    }
}

/// Merges two newest-first lists, SLA alerts before notices of the same instant, up to `limit`
/// entries. Two SLA alerts are never compared here: their order is the database's.
fn merge_newest_first(sla: Vec<Alert>, shortages: Vec<ShortageNotice>, limit: i64) -> Vec<PackageCenterEntry> {
    let (mut sla, mut shortages) = (sla.into_iter().peekable(), shortages.into_iter().peekable());
    let mut merged = Vec::new();
    while (merged.len() as i64) < limit {
        let sla_next = match (sla.peek(), shortages.peek()) {
            (Some(alert), Some(notice)) => alert.raised_at >= notice.at,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        let entry = if sla_next {
            sla.next().map(PackageCenterEntry::Sla)
        } else {
            shortages.next().map(PackageCenterEntry::Shortage)
        };
        merged.extend(entry);
    }
    merged
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

    /// A page of an order's shipments, by id.
    pub async fn shipments_of_order(&self, order: OrderId, page: Keyset<i64>) -> Result<Vec<Shipment>, StoreError> {
        let mut conditions = Conditions::default();
        conditions.and("order_id = ?", vec![Value::I64(order.get())]);
        if let Some(after) = page.after {
            conditions.and("id > ?", vec![Value::I64(after)]);
        }
        let statement = conditions.select("body FROM shipments", "ORDER BY id", page.limit);
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

    /// One alert, by key (whichever shop's: the caller checks).
    pub async fn package_alert(&self, key: AlertKey) -> Result<Option<Alert>, StoreError> {
        let statement = Statement::new(
            "SELECT body FROM package_alerts WHERE alert_key = $1",
            vec![Value::Text(key.to_string())],
        );
        Ok(self.query(statement, alert_row).await?.into_iter().next())
    }

    /// A page of a shop's package center, newest first: its SLA alerts and shortage notices
    /// merged in the order of [`AlertPosition`].
    pub async fn package_center(
        &self,
        filter: &AlertFilter,
        page: Keyset<AlertPosition>,
    ) -> Result<Vec<PackageCenterEntry>, StoreError> {
        let sla = match filter.kinds {
            AlertKinds::All => self.sla_alerts(filter, None, &page).await?,
            AlertKinds::Sla(rule) => self.sla_alerts(filter, Some(rule), &page).await?,
            AlertKinds::Shortages => Vec::new(),
        };
        let shortages = match filter.kinds {
            _ if filter.work.narrows() => Vec::new(),
            AlertKinds::All | AlertKinds::Shortages => self.shortage_notices(filter, &page).await?,
            AlertKinds::Sla(_) => Vec::new(),
        };
        Ok(merge_newest_first(sla, shortages, page.limit))
    }

    /// A page of a shop's SLA alerts, newest first, then by key.
    async fn sla_alerts(
        &self,
        filter: &AlertFilter,
        rule: Option<AlertRule>,
        page: &Keyset<AlertPosition>,
    ) -> Result<Vec<Alert>, StoreError> {
        let mut conditions = Conditions::default();
        conditions.and("shop_id = ?", vec![Value::I64(filter.shop.get())]);
        conditions.and("is_open >= ?", vec![Value::I64(i64::from(filter.open_only))]);
        if let Some(rule) = rule {
            conditions.and("rule = ?", vec![Value::Text(rule.as_str().into())]);
        }
        if let Some(level) = filter.level {
            conditions.and("alert_level = ?", vec![Value::Text(level.as_str().into())]);
        }
        work_conditions(&mut conditions, &filter.work);
        match &page.after {
            None => {}
            Some(AlertPosition::Sla { at, key }) => {
                let at = Value::I64(at.unix_ms());
                let after = "(raised_at < ? OR (raised_at = ? AND alert_key > ?))";
                conditions.and(after, vec![at.clone(), at, Value::Text(key.clone())]);
            }
            // At one instant the SLA alerts come first: a notice's position is past them all.
            Some(AlertPosition::Shortage { at, .. }) => conditions.and("raised_at < ?", vec![Value::I64(at.unix_ms())]),
        }
        let statement = conditions.select(
            "body FROM package_alerts",
            "ORDER BY raised_at DESC, alert_key",
            page.limit,
        );
        self.query(statement, alert_row).await
    }

    /// A page of a shop's shortage notices, newest first, then by order, warehouse and SKU;
    /// only open ones (those no other warehouse took over) when the filter says so. Openness
    /// is in the notice's body, not a column: rows are read in pages until `limit` are kept.
    async fn shortage_notices(
        &self,
        filter: &AlertFilter,
        page: &Keyset<AlertPosition>,
    ) -> Result<Vec<ShortageNotice>, StoreError> {
        let mut after = page.after.clone();
        let mut kept = Vec::new();
        loop {
            let mut conditions = Conditions::default();
            conditions.and("shop_id = ?", vec![Value::I64(filter.shop.get())]);
            shortage_after(&mut conditions, after.as_ref());
            let statement = conditions.select(
                "body FROM shortage_notices",
                "ORDER BY noticed_at DESC, order_id, warehouse_id, sku_id",
                page.limit,
            );
            let read = self.query(statement, |row| decode_shortage(&row.text(0)?)).await?;
            let exhausted = (read.len() as i64) < page.limit;
            after = read.last().map(shortage_position);
            kept.extend(read.into_iter().filter(|n| {
                (!filter.open_only || n.redispatched_to.is_empty())
                    && filter.level.is_none_or(|l| l == shortage_level(n))
            }));
            if exhausted || kept.len() as i64 >= page.limit {
                kept.truncate(page.limit as usize);
                return Ok(kept);
            }
        }
    }

    /// The shipments of a shard's paid and shipped orders, their alerts, and its shops' rules.
    pub(crate) async fn load_shard_logistics(&self, shard: ShardOf) -> Result<ShardLogistics, StoreError> {
        let mut shipments = self
            .query(
                Statement::new(
                    "SELECT s.body FROM shipments s JOIN orders o ON o.id = s.order_id AND o.shop_id = s.shop_id
                     WHERE o.state IN ('paid', 'shipped') AND s.shop_id % $1 = $2",
                    shard.params(),
                ),
                shipment_row,
            )
            .await?;
        let alerts = self
            .query(
                Statement::new(
                    "SELECT a.body FROM package_alerts a JOIN orders o ON o.id = a.order_id AND o.shop_id = a.shop_id
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
