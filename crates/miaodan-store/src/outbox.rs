//! The outbox: every batch's effects, written again as events in the same transaction, in a
//! sequence per shard, and the durable cursors of the readers that consume them
//! (`outbox_cursors`).
//!
//! **Packs.** A batch's events of one shop are stored as one row of `outbox_packs` (migration
//! 0015) holding consecutive numbers, one event per line. The write path pays one insert per
//! batch and shop, not one per event: in a flash sale a batch of hundreds of orders adds one
//! row to its transaction (see BENCHMARKS.md, "The outbox in packs"). Readers get events one
//! by one ([`StoredEvent`]) and never see a pack.
//!
//! An event's `body` is a small JSON document about its subject (`OrderBodyV1` for orders, a
//! few named members for the others): enough for a reader to count, chart or notify without
//! reading the tables. Like every stored document it is versioned (see [`crate::json`]).
//!
//! **Coalescing.** Effects that a later effect of the same batch supersedes for the same key
//! (a stock row, a flash sale, a booked hour) are not stored, so they are not published either:
//! the event of such a key carries the batch's last state, at the position of its last effect.
//! A sale's tap counts (`flash_sale.tapped`) are deltas, so they are never coalesced here: the
//! shard publishes at most one per sale and batch, already summed.
//!
//! **Retention.** Events older than the retention the server is given are deleted by
//! [`Store::prune_outbox`], whatever the readers' cursors say: a reader that falls further
//! behind than the retention resumes at the oldest event kept (and says so).

use crate::json;
use crate::sql::{Conditions, Row, Statement, Value};
use crate::{Store, StoreError};
use miaodan_domain::after_sales::commands::SavedRequest;
use miaodan_domain::events::Event;
use miaodan_domain::flash_sale::{FlashSale, FlashSaleId, TapCounts};
use miaodan_domain::orders::Order;
use miaodan_domain::shard::Effect;
use miaodan_domain::{ShopId, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{HashMap, HashSet};

const INSERT_PACK: &str = "INSERT INTO outbox_packs (shard, last_seq, first_seq, at_ms, shop_id, events)
    VALUES ($1, $2, $3, $4, $5, $6)";

/// One stored event, as readers get it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEvent {
    pub shard: u32,
    /// Its place in its shard's sequence: 1, 2, 3, … without gaps, in commit order.
    pub seq: i64,
    pub at: Timestamp,
    pub shop: ShopId,
    /// `family.action`, e.g. `order.paid`.
    pub topic: String,
    /// The id of the object the event is about.
    pub subject: i64,
    /// The JSON document about the subject.
    pub body: String,
}

/// An order as events carry it: what a reader counts and charts without the tables.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct OrderBodyV1 {
    pub order: i64,
    pub checkout: i64,
    pub buyer: i64,
    pub state: String,
    pub total: i64,
    pub adcode: i64,
    pub flash_sale: Option<i64>,
    pub lines: Vec<OrderLineBodyV1>,
    pub created_at: i64,
    pub paid_at: Option<i64>,
    pub cancel_reason: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct OrderLineBodyV1 {
    pub sku: i64,
    pub quantity: i64,
    pub unit_price: i64,
}

impl From<&Order> for OrderBodyV1 {
    fn from(order: &Order) -> OrderBodyV1 {
        OrderBodyV1 {
            order: order.id.get(),
            checkout: order.checkout.get(),
            buyer: order.buyer.get(),
            state: order.state.as_str().into(),
            total: order.total.get(),
            adcode: order.address.adcode.get(),
            flash_sale: order.flash_sale.map(|s| s.get()),
            lines: order
                .lines
                .iter()
                .map(|l| OrderLineBodyV1 {
                    sku: l.sku.get(),
                    quantity: l.quantity.get(),
                    unit_price: l.unit_price.get(),
                })
                .collect(),
            created_at: order.created_at.unix_ms(),
            paid_at: order.paid_at.map(Timestamp::unix_ms),
            cancel_reason: order.cancel_reason.map(|r| r.as_str().into()),
        }
    }
}

/// The document an event carries about its subject.
fn body_of(effect: &Effect) -> String {
    let value = match effect {
        Effect::OrderCreated { order, .. } | Effect::OrderTransitioned(order) | Effect::OrderReaddressed(order) => {
            return json::encode(&OrderBodyV1::from(order));
        }
        Effect::OrderDispatched { order, decision } => json!({
            "order": order.id.get(),
            "warehouses": decision.parcels.iter().map(|p| p.warehouse.get()).collect::<Vec<_>>(),
            "split": decision.split,
            "promise_kept": decision.promise_kept,
        }),
        Effect::StockChanged {
            sku, warehouse, level, ..
        } => json!({
            "sku": sku.get(), "warehouse": warehouse.get(),
            "available": level.available, "reserved": level.reserved, "sold": level.sold,
        }),
        Effect::StockMoved(m) => json!({
            "sku": m.sku.get(), "warehouse": m.warehouse.get(), "delta": m.delta,
            "available_after": m.available_after, "cause": m.cause.as_str(),
        }),
        Effect::FlashSaleSaved(_)
        | Effect::FlashSaleEnded { .. }
        | Effect::FlashSaleToppedUp { .. }
        | Effect::FlashSaleTapsCounted { .. } => flash_sale_body(effect),
        Effect::PaymentIntentSaved(intent) => json!({
            "payment_intent": intent.id.get(), "buyer": intent.buyer.get(),
            "amount": intent.amount.get(), "status": intent.status.as_str(),
            "orders": intent.orders.iter().map(|o| o.order.get()).collect::<Vec<_>>(),
        }),
        Effect::RefundSaved { refund, .. } => json!({
            "refund": refund.id.get(), "payment_intent": refund.intent.get(), "order": refund.order.get(),
            "amount": refund.amount.get(), "status": refund.status.as_str(), "reason": refund.reason.as_str(),
        }),
        Effect::ShipmentSaved(s) => json!({
            "shipment": s.id.get(), "order": s.order.get(), "warehouse": s.warehouse.get(),
            "carrier": s.carrier.as_str(), "waybill": s.waybill.as_str(), "state": s.state.as_str(),
            "promised_by": s.promised_by.map(Timestamp::unix_ms),
            "delivered_at": s.delivered_at.map(Timestamp::unix_ms), "version": s.version,
        }),
        Effect::AlertSaved(_) | Effect::AlertWorked { .. } => alert_body(effect),
        Effect::ShortageNoticed(n) => json!({
            "order": n.order.get(), "warehouse": n.warehouse.get(), "sku": n.sku.get(),
            "redispatched_to": n.redispatched_to.iter().map(|w| w.get()).collect::<Vec<_>>(),
        }),
        Effect::AfterSalesSaved(saved) => after_sales_body(saved),
        Effect::RiskDecided(d) => json!({
            "decision": d.id.get(), "kind": d.subject.kind(), "flash_sale": d.subject.sale().map(|s| s.get()),
            "subject": d.subject.other_id(), "buyer": d.buyer.get(),
            "verdict": d.assessment.verdict.as_str(), "shadow_verdict": d.assessment.shadow_verdict.as_str(),
            "score": d.assessment.score, "enforced": d.enforced, "ordered": d.ordered,
            "rules": d.assessment.fired.iter().map(|f| f.code.as_str()).collect::<Vec<_>>(),
        }),
        Effect::CapacityBooked {
            warehouse,
            hour,
            orders,
            ..
        } => json!({"warehouse": warehouse.get(), "hour": hour.unix_ms(), "orders": orders}),
        Effect::ShopSaved(_)
        | Effect::WarehouseSaved(_)
        | Effect::ProductSaved(_)
        | Effect::SkuSaved(_)
        | Effect::FulfillmentConfigured { .. }
        | Effect::SlaRulesSaved { .. }
        | Effect::AfterSalesPolicySaved { .. } => json!({}),
    };
    value.to_string()
}

/// A flash sale's events: the sale as saved, with what ending it returned or a top-up added; or
/// the taps a shard counted.
fn flash_sale_body(effect: &Effect) -> serde_json::Value {
    match effect {
        Effect::FlashSaleEnded { sale, returned } => {
            let mut body = sale_body(sale);
            body["returned"] = json!(returned);
            body
        }
        Effect::FlashSaleToppedUp { sale, units } => {
            let mut body = sale_body(sale);
            body["units"] = json!(units);
            body
        }
        Effect::FlashSaleTapsCounted { sale, counts, .. } => tap_counts_body(*sale, counts),
        Effect::FlashSaleSaved(sale) => sale_body(sale),
        _ => json!({}),
    }
}

/// An alert's events: the rule's fields as `AlertSaved` carries them (the compass reads the
/// same), and for `AlertWorked` what the people's side now says.
fn alert_body(effect: &Effect) -> serde_json::Value {
    match effect {
        Effect::AlertSaved(a) => json!({
            "order": a.order.get(), "shipment": a.shipment.get(), "rule": a.rule.as_str(),
            "level": a.level.as_str(), "deadline": a.deadline.unix_ms(),
        }),
        Effect::AlertWorked { alert: a, .. } => json!({
            "order": a.order.get(), "shipment": a.shipment.get(), "rule": a.rule.as_str(),
            "level": a.level.as_str(), "deadline": a.deadline.unix_ms(), "alert": a.key.to_string(),
            "acknowledged": a.work.acknowledged.is_some(),
            "assignee": a.work.assignee.map(|s| s.get()),
            "notes": a.work.notes.len(), "open": a.is_open(),
        }),
        _ => json!({}),
    }
}

/// An after-sales request as events carry it: with its lines (the compass counts a request
/// under its first SKU) and the stages of its timeline (the compass counts the steps it has
/// not seen); bodies written before these two lack them.
fn after_sales_body(saved: &SavedRequest) -> serde_json::Value {
    let r = &saved.request;
    json!({
        "request": saved.id.get(), "order": r.order.get(), "buyer": r.buyer.get(),
        "kind": r.kind.as_str(), "reason": r.reason.as_str(), "stage": r.stage.as_str(),
        "amount": r.amount.get(),
        "lines": r.lines.iter().map(|l| json!({"sku": l.sku.get(), "quantity": l.quantity})).collect::<Vec<_>>(),
        "steps": r.timeline.iter().map(|s| s.stage.as_str()).collect::<Vec<_>>(),
    })
}

/// A sale as `flash_sale.saved` carries it (`ended` adds the units `returned` to stock,
/// `topped_up` the `units` added).
fn sale_body(sale: &FlashSale) -> serde_json::Value {
    json!({
        "flash_sale": sale.id.get(), "sku": sale.sku.get(), "allotted": sale.allotted,
        "remaining": sale.remaining, "closed": sale.closed,
        "starts_at": sale.starts_at.unix_ms(), "ends_at": sale.ends_at.unix_ms(),
    })
}

/// How a sale's taps were answered since its last `flash_sale.tapped` event.
fn tap_counts_body(sale: FlashSaleId, counts: &TapCounts) -> serde_json::Value {
    json!({
        "flash_sale": sale.get(), "taps": counts.taps, "ordered": counts.ordered,
        "sold_out": counts.sold_out, "limit_reached": counts.limit_reached, "other": counts.other,
    })
}

/// The key under which a later effect of a batch supersedes an earlier one, if it can.
fn superseding_key(effect: &Effect) -> Option<(u8, i64, i64)> {
    match effect {
        Effect::StockChanged { sku, warehouse, .. } => Some((0, sku.get(), warehouse.get())),
        Effect::FlashSaleSaved(sale) => Some((1, sale.id.get(), 0)),
        Effect::CapacityBooked { warehouse, hour, .. } => Some((2, warehouse.get(), hour.unix_ms())),
        _ => None,
    }
}

/// A shard's place in its sequence, kept by its writer.
#[derive(Debug)]
pub(crate) struct Sequence {
    pub shard: u32,
    /// The last number written (0 before the first event).
    pub last: i64,
}

/// One shop's events of one batch, on their way to one row.
struct Pack {
    shop: ShopId,
    count: i64,
    lines: String,
}

impl Sequence {
    /// The statements that store a batch's events, numbered after `self.last`, and the last
    /// number they use (to keep once the batch commits).
    ///
    /// A batch's events are grouped by shop, each group one row (a pack) numbered
    /// consecutively: one insert per batch and shop rather than per event. Grouping reorders
    /// only events of different shops that commit in the same transaction; one shop's events
    /// (so one subject's) keep the order of their effects.
    pub(crate) fn statements(&self, effects: &[Effect], at: Timestamp) -> (Vec<Statement>, i64) {
        let mut seen = HashSet::new();
        let mut kept: Vec<&Effect> = effects
            .iter()
            .rev()
            .filter(|e| superseding_key(e).is_none_or(|key| seen.insert(key)))
            .collect();
        kept.reverse();
        let mut packs: Vec<Pack> = Vec::new();
        let mut pack_of_shop: HashMap<ShopId, usize> = HashMap::new();
        // Room for the events up front: a flash sale's pack holds thousands of lines, and
        // growing it by doubling copied it over and over into freshly mapped memory.
        let room = kept.len() * LINE_BYTES_TYPICAL;
        for effect in kept {
            let event = Event::of(effect);
            let index = *pack_of_shop.entry(event.shop).or_insert_with(|| {
                packs.push(Pack {
                    shop: event.shop,
                    count: 0,
                    lines: String::with_capacity(if packs.is_empty() { room } else { 0 }),
                });
                packs.len() - 1
            });
            let pack = &mut packs[index];
            pack.count += 1;
            push_line(&mut pack.lines, &event, effect);
        }
        let mut seq = self.last;
        let statements = packs
            .into_iter()
            .map(|pack| {
                let first = seq + 1;
                seq += pack.count;
                Statement::new(
                    INSERT_PACK,
                    vec![
                        Value::I64(i64::from(self.shard)),
                        Value::I64(seq),
                        Value::I64(first),
                        Value::I64(at.unix_ms()),
                        Value::I64(pack.shop.get()),
                        Value::Text(pack.lines),
                    ],
                )
            })
            .collect();
        (statements, seq)
    }
}

/// About what an order's event line takes (`order.created`, ids, a line, the times).
const LINE_BYTES_TYPICAL: usize = 240;

/// Appends `<topic> <subject> <body>\n`. Compact JSON escapes every control character, so a
/// body never breaks its line.
fn push_line(lines: &mut String, event: &Event, effect: &Effect) {
    use std::fmt::Write;
    let _ = write!(lines, "{} {} ", event.topic, event.subject);
    lines.push_str(&body_of(effect));
    lines.push('\n');
}

/// Which events a reader wants.
#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    pub shop: Option<ShopId>,
    pub topic: Option<TopicFilter>,
}

/// A family's events (`order`) or one topic's (`order.paid`).
#[derive(Clone, Debug)]
pub enum TopicFilter {
    Family(&'static str),
    Exact(String),
}

impl TopicFilter {
    fn admits(&self, topic: &str) -> bool {
        match self {
            TopicFilter::Family(family) => topic.strip_prefix(family).is_some_and(|action| action.starts_with('.')),
            TopicFilter::Exact(exact) => topic == exact,
        }
    }
}

/// One stored pack, as read.
struct StoredPack {
    shard: u32,
    first: i64,
    last: i64,
    at: Timestamp,
    shop: ShopId,
    lines: String,
}

fn pack_row(r: &dyn Row) -> Result<StoredPack, StoreError> {
    Ok(StoredPack {
        shard: shard_of(r.i64(0)?)?,
        last: r.i64(1)?,
        first: r.i64(2)?,
        at: Timestamp::from_unix_ms(r.i64(3)?),
        shop: json::id(r.i64(4)?, ShopId::new, "outbox shop")?,
        lines: r.text(5)?,
    })
}

impl StoredPack {
    /// Its events numbered after `after` that `topic` admits, in order, onto `events`.
    fn unpack_onto(
        &self,
        after: i64,
        topic: Option<&TopicFilter>,
        events: &mut Vec<StoredEvent>,
    ) -> Result<(), StoreError> {
        let corrupt = |seq: i64| {
            StoreError::corrupt(format!(
                "outbox pack {}/{}..{}: bad event {seq}",
                self.shard, self.first, self.last
            ))
        };
        let mut seq = self.first - 1;
        for line in self.lines.lines() {
            seq += 1;
            let mut parts = line.splitn(3, ' ');
            let (Some(name), Some(subject), Some(body)) = (parts.next(), parts.next(), parts.next()) else {
                return Err(corrupt(seq));
            };
            if seq <= after || topic.is_some_and(|t| !t.admits(name)) {
                continue;
            }
            events.push(StoredEvent {
                shard: self.shard,
                seq,
                at: self.at,
                shop: self.shop,
                topic: name.into(),
                subject: subject.parse().map_err(|_| corrupt(seq))?,
                body: body.into(),
            });
        }
        if seq == self.last { Ok(()) } else { Err(corrupt(seq)) }
    }
}

fn shard_of(raw: i64) -> Result<u32, StoreError> {
    u32::try_from(raw).map_err(|_| StoreError::corrupt(format!("outbox shard {raw} out of range")))
}

const PACK_COLUMNS: &str = "shard, last_seq, first_seq, at_ms, shop_id, events";

impl Store {
    /// The last number shard `shard` has written (0 if none).
    pub(crate) async fn outbox_head(&self, shard: u32) -> Result<i64, StoreError> {
        let statement = Statement::new(
            "SELECT COALESCE(MAX(last_seq), 0) FROM outbox_packs WHERE shard = $1",
            vec![Value::I64(i64::from(shard))],
        );
        self.query_row(statement, |r| r.i64(0), || "no outbox head".into())
            .await
    }

    /// Every shard's last number, for readers' lag.
    pub async fn outbox_heads(&self) -> Result<Vec<(u32, i64)>, StoreError> {
        let statement = Statement::new(
            "SELECT shard, MAX(last_seq) FROM outbox_packs GROUP BY shard ORDER BY shard",
            vec![],
        );
        self.query(statement, |r| {
            let shard = shard_of(r.i64(0)?)?;
            Ok((shard, r.i64(1)?))
        })
        .await
    }

    /// Up to `limit` events of shard `shard` after number `after`, in order.
    pub async fn outbox_after(&self, shard: u32, after: i64, limit: i64) -> Result<Vec<StoredEvent>, StoreError> {
        self.events_after(shard, after, &EventFilter::default(), limit).await
    }

    /// Up to `limit` events of shard `shard` after number `after` that pass `filter`, in order.
    /// Packs are read a few at a time (one may hold a whole batch's events), until `limit`
    /// events passed or the shard has no more.
    pub async fn events_after(
        &self,
        shard: u32,
        after: i64,
        filter: &EventFilter,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        const PACKS_PER_READ: i64 = 16;
        let mut events = Vec::new();
        let mut from = after;
        while (events.len() as i64) < limit {
            let mut conditions = Conditions::default();
            if let Some(shop) = filter.shop {
                conditions.and("shop_id = ?", vec![Value::I64(shop.get())]);
            }
            conditions.and("shard = ?", vec![Value::I64(i64::from(shard))]);
            conditions.and("last_seq > ?", vec![Value::I64(from)]);
            let statement = conditions.select(
                &format!("{PACK_COLUMNS} FROM outbox_packs"),
                "ORDER BY last_seq",
                PACKS_PER_READ,
            );
            let packs = self.query(statement, pack_row).await?;
            for pack in &packs {
                pack.unpack_onto(after, filter.topic.as_ref(), &mut events)?;
            }
            match packs.last() {
                Some(pack) if packs.len() as i64 == PACKS_PER_READ => from = pack.last,
                _ => break,
            }
        }
        events.truncate(usize::try_from(limit).unwrap_or(0));
        Ok(events)
    }

    /// Where reader `consumer` stands in each shard's sequence (shards it never read: 0).
    pub async fn outbox_cursor(&self, consumer: &str) -> Result<Vec<(u32, i64)>, StoreError> {
        let statement = Statement::new(
            "SELECT shard, seq FROM outbox_cursors WHERE consumer = $1 ORDER BY shard",
            vec![Value::Text(consumer.into())],
        );
        self.query(statement, |r| {
            let shard = shard_of(r.i64(0)?)?;
            Ok((shard, r.i64(1)?))
        })
        .await
    }

    /// Moves reader `consumer`'s cursor in shard `shard` to `seq`, in one transaction with
    /// `also` (what the reader made of the events): the reader's work and its place commit
    /// together, so a crash repeats neither.
    pub async fn advance_outbox_cursor(
        &self,
        consumer: &str,
        shard: u32,
        seq: i64,
        also: Vec<Statement>,
    ) -> Result<(), StoreError> {
        let mut statements = also;
        statements.push(Statement::new(
            "INSERT INTO outbox_cursors (consumer, shard, seq) VALUES ($1, $2, $3)
             ON CONFLICT (consumer, shard) DO UPDATE SET seq = excluded.seq",
            vec![
                Value::Text(consumer.into()),
                Value::I64(i64::from(shard)),
                Value::I64(seq),
            ],
        ));
        self.execute_guarded(self.lease_guards(true), statements).await
    }

    /// Deletes events committed before `before`, a slice of each shard's sequence at a time
    /// (so the shards' commits are not held up behind one long delete); answers how many went.
    /// Each shard's newest pack stays, however old: a new writer numbers on from it
    /// ([`Store::writer`]), and a shard that lost it would number from 1 again under readers
    /// whose places are further on.
    pub async fn prune_outbox(&self, before: Timestamp) -> Result<i64, StoreError> {
        const SLICE: i64 = 10_000;
        let ends = Statement::new(
            "SELECT shard, MIN(last_seq), MAX(last_seq) FROM outbox_packs o WHERE at_ms < $1
               AND last_seq < (SELECT MAX(p.last_seq) FROM outbox_packs p WHERE p.shard = o.shard)
             GROUP BY shard",
            vec![Value::I64(before.unix_ms())],
        );
        let ends = self.query(ends, |r| Ok((r.i64(0)?, r.i64(1)?, r.i64(2)?))).await?;
        let mut gone = 0;
        for (shard, first, last) in ends {
            let mut from = first;
            while from <= last {
                let to = last.min(from + SLICE - 1);
                let range = || vec![Value::I64(shard), Value::I64(from), Value::I64(to)];
                let count = Statement::new(
                    "SELECT COALESCE(CAST(SUM(last_seq - first_seq + 1) AS BIGINT), 0) FROM outbox_packs
                     WHERE shard = $1 AND last_seq >= $2 AND last_seq <= $3",
                    range(),
                );
                gone += self.query_row(count, |r| r.i64(0), || "no count".into()).await?;
                self.execute_atomically(vec![Statement::new(
                    "DELETE FROM outbox_packs WHERE shard = $1 AND last_seq >= $2 AND last_seq <= $3",
                    range(),
                )])
                .await?;
                from = to + 1;
            }
        }
        Ok(gone)
    }
}
