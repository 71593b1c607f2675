//! Payment intents, refunds, one-tap agreements and provider notifications on disk, what a
//! starting shard reads back (intents not yet settled or changed recently, with their refunds),
//! and the day's figures a reconciliation compares.
//!
//! An intent's orders are one text column of `order:shop:amount:settlement` entries separated
//! by `;`: a checkout has a few shops, and the entries are always read and written whole.

use crate::records::{Keyset, PaymentFilter};
use crate::sql::{Conditions, Row, ShardOf, Statement, Value, fen, id, ms};
use crate::{Store, StoreError};
use miaodan_domain::payments::{
    Charge, DeclineCode, IntentOrder, IntentStatus, OneTapAgreement, PaymentIntent, PaymentIntentId, Refund, RefundId,
    RefundReason, RefundStatus, Settlement,
};
use miaodan_domain::{BuyerId, CheckoutId, OrderId, ShopId, Timestamp};
use std::borrow::Cow;
use std::collections::BTreeMap;

const UPSERT_INTENT: &str = "INSERT INTO payment_intents (id, checkout_id, buyer_id, home_shop_id, amount_fen, orders,
    status, attempts, one_tap, charge_reference, provider_charge_id, authorized_fen, captured_fen, authorized_at,
    captured_at, decline_code, settled, pay_by, created_at, updated_at, version)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)
    ON CONFLICT (id{SPREAD_BY checkout_id}) DO UPDATE SET orders = excluded.orders, status = excluded.status, attempts = excluded.attempts,
    charge_reference = excluded.charge_reference, provider_charge_id = excluded.provider_charge_id,
    authorized_fen = excluded.authorized_fen, captured_fen = excluded.captured_fen,
    authorized_at = excluded.authorized_at, captured_at = excluded.captured_at, decline_code = excluded.decline_code,
    settled = excluded.settled, updated_at = excluded.updated_at, version = excluded.version";

const UPSERT_REFUND: &str = "INSERT INTO refunds (id, intent_id, order_id, amount_fen, reason, status,
    provider_refund_id, failure, created_at, settled_at, request_ref) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
    ON CONFLICT (id{SPREAD_BY intent_id}) DO UPDATE SET status = excluded.status, provider_refund_id = excluded.provider_refund_id,
    failure = excluded.failure, settled_at = excluded.settled_at";

const INTENT_COLUMNS: &str = "id, checkout_id, buyer_id, home_shop_id, amount_fen, orders, status, attempts, one_tap,
    charge_reference, provider_charge_id, authorized_fen, captured_fen, authorized_at, captured_at, decline_code,
    pay_by, created_at, updated_at, version";

const REFUND_COLUMNS: &str = "id, intent_id, order_id, amount_fen, reason, status, provider_refund_id, failure, created_at, settled_at, request_ref";

const AGREEMENT_COLUMNS: &str =
    "id, buyer_id, provider, credential, per_order_limit_fen, per_day_limit_fen, created_at, revoked_at";

/// The payment effects of one batch, coalesced per intent and per refund: the batch's last
/// state of each is the one written.
#[derive(Default)]
pub(crate) struct PaymentWrites<'a> {
    intents: BTreeMap<PaymentIntentId, &'a PaymentIntent>,
    refunds: BTreeMap<RefundId, &'a Refund>,
}

impl<'a> PaymentWrites<'a> {
    pub(crate) fn intent_saved(&mut self, intent: &'a PaymentIntent) {
        self.intents.insert(intent.id, intent);
    }

    pub(crate) fn refund_saved(&mut self, refund: &'a Refund) {
        self.refunds.insert(refund.id, refund);
    }

    pub(crate) fn push_statements(self, statements: &mut Vec<Statement>) {
        statements.extend(self.intents.into_values().map(upsert_intent));
        statements.extend(self.refunds.into_values().map(upsert_refund));
    }
}

fn upsert_intent(intent: &PaymentIntent) -> Statement {
    let charge = intent.charge.as_ref();
    Statement::new(
        UPSERT_INTENT,
        vec![
            Value::I64(intent.id.get()),
            Value::I64(intent.checkout.get()),
            Value::I64(intent.buyer.get()),
            Value::I64(intent.home_shop.get()),
            Value::I64(intent.amount.get()),
            Value::Text(encode_orders(&intent.orders)),
            Value::Text(intent.status.as_str().into()),
            Value::I64(intent.attempts),
            Value::I64(i64::from(intent.one_tap)),
            Value::OptText(charge.map(|c| c.reference.clone())),
            Value::OptText(charge.map(|c| c.provider_charge_id.clone())),
            Value::OptI64(charge.map(|c| c.authorized.get())),
            Value::OptI64(charge.map(|c| c.captured.get())),
            Value::OptI64(charge.map(|c| c.authorized_at.unix_ms())),
            Value::OptI64(charge.and_then(|c| c.captured_at).map(Timestamp::unix_ms)),
            Value::OptText(intent.decline.map(|d| d.as_str().into())),
            Value::I64(i64::from(intent.is_settled())),
            Value::I64(intent.pay_by.unix_ms()),
            Value::I64(intent.created_at.unix_ms()),
            Value::I64(intent.updated_at.unix_ms()),
            Value::I64(intent.version),
        ],
    )
}

fn upsert_refund(refund: &Refund) -> Statement {
    Statement::new(
        UPSERT_REFUND,
        vec![
            Value::I64(refund.id.get()),
            Value::I64(refund.intent.get()),
            Value::I64(refund.order.get()),
            Value::I64(refund.amount.get()),
            Value::Text(refund.reason.as_str().into()),
            Value::Text(refund.status.as_str().into()),
            Value::OptText(refund.provider_refund_id.clone()),
            Value::OptText(refund.failure.clone()),
            Value::I64(refund.created_at.unix_ms()),
            Value::OptI64(refund.settled_at.map(Timestamp::unix_ms)),
            Value::OptText(refund.request.clone()),
        ],
    )
}

fn encode_orders(orders: &[IntentOrder]) -> String {
    orders
        .iter()
        .map(|o| format!("{}:{}:{}:{}", o.order, o.shop, o.amount.get(), o.settlement.as_str()))
        .collect::<Vec<_>>()
        .join(";")
}

fn decode_orders(raw: &str) -> Result<Vec<IntentOrder>, StoreError> {
    raw.split(';')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut fields = part.split(':');
            let parsed = (|| {
                Some(IntentOrder {
                    order: OrderId::new(fields.next()?.parse().ok()?)?,
                    shop: ShopId::new(fields.next()?.parse().ok()?)?,
                    amount: miaodan_domain::Fen::from_stored(fields.next()?.parse().ok()?)?,
                    settlement: Settlement::parse(fields.next()?)?,
                })
            })();
            parsed.ok_or_else(|| StoreError::corrupt(format!("bad intent order {part:?}")))
        })
        .collect()
}

fn intent_head(row: &dyn Row) -> Result<PaymentIntent, StoreError> {
    let status = row.text(6)?;
    let charge = match (row.opt_text(9)?, row.opt_text(10)?) {
        (Some(reference), Some(provider_charge_id)) => Some(Charge {
            reference,
            provider_charge_id,
            authorized: fen(row.i64(11)?)?,
            captured: fen(row.i64(12)?)?,
            authorized_at: ms(row.i64(13)?),
            captured_at: row.opt_i64(14)?.map(ms),
        }),
        _ => None,
    };
    Ok(PaymentIntent {
        id: id(row.i64(0)?, PaymentIntentId::new)?,
        checkout: id(row.i64(1)?, CheckoutId::new)?,
        buyer: id(row.i64(2)?, BuyerId::new)?,
        home_shop: id(row.i64(3)?, ShopId::new)?,
        amount: fen(row.i64(4)?)?,
        orders: decode_orders(&row.text(5)?)?,
        status: IntentStatus::parse(&status).ok_or_else(|| StoreError::corrupt(format!("bad status {status}")))?,
        attempts: row.i64(7)?,
        one_tap: row.i64(8)? != 0,
        charge,
        decline: row.opt_text(15)?.map(|raw| DeclineCode::parse(&raw)),
        refunds: Vec::new(),
        pay_by: ms(row.i64(16)?),
        created_at: ms(row.i64(17)?),
        updated_at: ms(row.i64(18)?),
        version: row.i64(19)?,
    })
}

fn refund(row: &dyn Row) -> Result<Refund, StoreError> {
    let reason = row.text(4)?;
    let status = row.text(5)?;
    Ok(Refund {
        id: id(row.i64(0)?, RefundId::new)?,
        intent: id(row.i64(1)?, PaymentIntentId::new)?,
        order: id(row.i64(2)?, OrderId::new)?,
        amount: fen(row.i64(3)?)?,
        reason: RefundReason::parse(&reason).ok_or_else(|| StoreError::corrupt(format!("bad reason {reason}")))?,
        status: RefundStatus::parse(&status).ok_or_else(|| StoreError::corrupt(format!("bad status {status}")))?,
        provider_refund_id: row.opt_text(6)?,
        failure: row.opt_text(7)?,
        created_at: ms(row.i64(8)?),
        settled_at: row.opt_i64(9)?.map(ms),
        request: row.opt_text(10)?,
    })
}

fn agreement(row: &dyn Row) -> Result<OneTapAgreement, StoreError> {
    Ok(OneTapAgreement {
        id: row.i64(0)?,
        buyer: id(row.i64(1)?, BuyerId::new)?,
        provider: row.text(2)?,
        credential: row.text(3)?,
        per_order_limit: fen(row.i64(4)?)?,
        per_day_limit: fen(row.i64(5)?)?,
        created_at: ms(row.i64(6)?),
        revoked_at: row.opt_i64(7)?.map(ms),
    })
}

/// Narrows a listing to rows created within the filter's bounds.
fn created_between(conditions: &mut Conditions, filter: &PaymentFilter) {
    if let Some(from) = filter.created_from {
        conditions.and("created_at >= ?", vec![Value::I64(from.unix_ms())]);
    }
    if let Some(before) = filter.created_before {
        conditions.and("created_at < ?", vec![Value::I64(before.unix_ms())]);
    }
}

/// A provider notification as received, and what it did (`applied`, `unknown_reference`, …).
pub struct LoggedNotification<'a> {
    pub id: i64,
    pub provider: &'a str,
    pub event_id: &'a str,
    pub event_type: &'a str,
    pub reference: &'a str,
    pub received_at: Timestamp,
    pub outcome: &'a str,
}

/// A provider's text as the log keeps it: without NUL characters, which PostgreSQL's text
/// refuses. The line rides a shard's batch, and a line the database refuses would fail the
/// batch's orders with it.
fn loggable(text: &str) -> String {
    text.replace('\0', "\u{fffd}")
}

impl LoggedNotification<'_> {
    /// The notification's log line; a repeated event id is logged once. Written with a shard's
    /// next batch (it is no shard's state, but a commit of its own would cost an fsync).
    pub fn row(&self) -> Statement {
        let insert = "INSERT INTO provider_notifications (id, provider, event_id, event_type, reference, received_at,
            outcome) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (provider, event_id) DO NOTHING";
        Statement::new(
            insert,
            vec![
                Value::I64(self.id),
                Value::Text(loggable(self.provider)),
                Value::Text(loggable(self.event_id)),
                Value::Text(loggable(self.event_type)),
                Value::Text(loggable(self.reference)),
                Value::I64(self.received_at.unix_ms()),
                Value::Text(loggable(self.outcome)),
            ],
        )
    }
}

/// One line of the platform's own account of a day, for reconciliation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerCapture {
    pub intent: PaymentIntentId,
    pub reference: String,
    pub amount: i64,
    pub at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerRefund {
    pub refund: RefundId,
    pub intent: PaymentIntentId,
    pub order: OrderId,
    pub home_shop: ShopId,
    pub amount: i64,
    pub reason: RefundReason,
    pub at: Timestamp,
}

/// A paid order as reconciliation sees it: its total and what paid it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaidOrder {
    pub order: OrderId,
    pub total: i64,
    pub paid_by: Option<PaymentIntentId>,
    pub paid_at: Timestamp,
}

impl Store {
    async fn intents_with_refunds(
        &self,
        where_clause: &str,
        params: Vec<Value>,
    ) -> Result<Vec<PaymentIntent>, StoreError> {
        let heads = Statement {
            sql: Cow::Owned(format!(
                "SELECT {INTENT_COLUMNS} FROM payment_intents WHERE {where_clause} ORDER BY id"
            )),
            params: params.clone(),
        };
        let mut intents = self.query(heads, intent_head).await?;
        if intents.is_empty() {
            return Ok(intents);
        }
        let refunds = Statement {
            sql: Cow::Owned(format!(
                "SELECT {REFUND_COLUMNS} FROM refunds WHERE intent_id IN
                 (SELECT id FROM payment_intents WHERE {where_clause}) ORDER BY id"
            )),
            params,
        };
        let mut by_intent: BTreeMap<PaymentIntentId, Vec<Refund>> = BTreeMap::new();
        for refund in self.query(refunds, refund).await? {
            by_intent.entry(refund.intent).or_default().push(refund);
        }
        for intent in &mut intents {
            intent.refunds = by_intent.remove(&intent.id).unwrap_or_default();
        }
        Ok(intents)
    }

    /// The intents a starting shard keeps in memory: every unsettled one and those changed
    /// since `changed_since`.
    pub(crate) async fn load_shard_intents(
        &self,
        shard: ShardOf,
        changed_since: Timestamp,
    ) -> Result<Vec<PaymentIntent>, StoreError> {
        let mut params = shard.params();
        params.push(Value::I64(changed_since.unix_ms()));
        self.intents_with_refunds("home_shop_id % $1 = $2 AND (settled = 0 OR updated_at >= $3)", params)
            .await
    }

    pub async fn payment_intent(&self, intent: PaymentIntentId) -> Result<Option<PaymentIntent>, StoreError> {
        Ok(self
            .intents_with_refunds("id = $1", vec![Value::I64(intent.get())])
            .await?
            .pop())
    }

    pub async fn payment_intent_of_checkout(&self, checkout: CheckoutId) -> Result<Option<PaymentIntent>, StoreError> {
        Ok(self
            .intents_with_refunds("checkout_id = $1", vec![Value::I64(checkout.get())])
            .await?
            .pop())
    }

    /// Unsettled intents past the buyer's part (an unknown outcome, an authorization, orders or
    /// refunds to settle): the payment worker's to-do list, oldest first; with `shards` (the
    /// shards of a member sharing them, and the shard count), only those whose home shop is in
    /// one of them, so that another member's backlog never hides this one's.
    pub async fn unsettled_intents(
        &self,
        limit: i64,
        shards: Option<(&[u32], u32)>,
    ) -> Result<Vec<PaymentIntent>, StoreError> {
        // Shard numbers, not input: written into the statement.
        let in_shards = match shards {
            Some((shards, count)) => {
                let listed: Vec<String> = shards.iter().map(u32::to_string).collect();
                format!("AND home_shop_id % {count} IN ({})", listed.join(", "))
            }
            None => String::new(),
        };
        self.intents_with_refunds(
            &format!(
                "id IN (SELECT id FROM payment_intents WHERE settled = 0
                   AND status NOT IN ('requires_confirmation', 'failed') {in_shards} ORDER BY id LIMIT $1)"
            ),
            vec![Value::I64(limit)],
        )
        .await
    }

    /// Intents a buyer may still pay: after a restart, each may have had an attempt in flight.
    pub async fn intents_accepting_attempts(&self) -> Result<Vec<PaymentIntent>, StoreError> {
        self.intents_with_refunds("settled = 0 AND status IN ('requires_confirmation', 'failed')", vec![])
            .await
    }

    /// A page of an order's refunds, by id.
    pub async fn refunds_of_order(&self, order: OrderId, page: Keyset<i64>) -> Result<Vec<Refund>, StoreError> {
        let mut conditions = Conditions::default();
        conditions.and("order_id = ?", vec![Value::I64(order.get())]);
        if let Some(after) = page.after {
            conditions.and("id > ?", vec![Value::I64(after)]);
        }
        let head = format!("{REFUND_COLUMNS} FROM refunds");
        self.query(conditions.select(&head, "ORDER BY id", page.limit), refund)
            .await
    }

    /// A page of payment intents (with their refunds), newest first.
    pub async fn payment_intents_page(
        &self,
        filter: &PaymentFilter,
        page: Keyset<i64>,
    ) -> Result<Vec<PaymentIntent>, StoreError> {
        // A buyer's or a shop's intents are found through their orders' indexes (by buyer, by
        // shop) and the intents' index by checkout; intents have no index of their own for it.
        let mut conditions = Conditions::default();
        if let Some(buyer) = filter.buyer {
            let of_buyer = "checkout_id IN (SELECT checkout_id FROM orders WHERE buyer_id = ?)";
            conditions.and(of_buyer, vec![Value::I64(buyer.get())]);
        }
        if let Some(shop) = filter.shop {
            let of_shop = "checkout_id IN (SELECT checkout_id FROM orders WHERE shop_id = ?)";
            conditions.and(of_shop, vec![Value::I64(shop.get())]);
        }
        created_between(&mut conditions, filter);
        if let Some(after) = page.after {
            conditions.and("id < ?", vec![Value::I64(after)]);
        }
        let ids = conditions.select("id FROM payment_intents", "ORDER BY id DESC", page.limit);
        let mut intents = self
            .intents_with_refunds(&format!("id IN ({})", ids.sql), ids.params)
            .await?;
        intents.reverse();
        Ok(intents)
    }

    /// A page of refunds, newest first.
    pub async fn refunds_page(&self, filter: &PaymentFilter, page: Keyset<i64>) -> Result<Vec<Refund>, StoreError> {
        // Found through their orders' indexes (by buyer, by shop) and the refunds' by order.
        let mut conditions = Conditions::default();
        if let Some(buyer) = filter.buyer {
            let of_buyer = "order_id IN (SELECT id FROM orders WHERE buyer_id = ?)";
            conditions.and(of_buyer, vec![Value::I64(buyer.get())]);
        }
        if let Some(shop) = filter.shop {
            conditions.and(
                "order_id IN (SELECT id FROM orders WHERE shop_id = ?)",
                vec![Value::I64(shop.get())],
            );
        }
        created_between(&mut conditions, filter);
        if let Some(after) = page.after {
            conditions.and("id < ?", vec![Value::I64(after)]);
        }
        let head = format!("{REFUND_COLUMNS} FROM refunds");
        self.query(conditions.select(&head, "ORDER BY id DESC", page.limit), refund)
            .await
    }

    // ---- one-tap agreements ----------------------------------------------------------

    pub async fn insert_one_tap_agreement(&self, agreement: &OneTapAgreement) -> Result<(), StoreError> {
        let insert = "INSERT INTO one_tap_agreements (id, buyer_id, provider, credential, per_order_limit_fen,
            per_day_limit_fen, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
        self.execute_atomically(vec![Statement::new(
            insert,
            vec![
                Value::I64(agreement.id),
                Value::I64(agreement.buyer.get()),
                Value::Text(agreement.provider.clone()),
                Value::Text(agreement.credential.clone()),
                Value::I64(agreement.per_order_limit.get()),
                Value::I64(agreement.per_day_limit.get()),
                Value::I64(agreement.created_at.unix_ms()),
                Value::OptI64(agreement.revoked_at.map(Timestamp::unix_ms)),
            ],
        )])
        .await
    }

    pub async fn revoke_one_tap_agreement(&self, id: i64, at: Timestamp) -> Result<(), StoreError> {
        let update = "UPDATE one_tap_agreements SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL";
        self.execute_atomically(vec![Statement::new(
            update,
            vec![Value::I64(at.unix_ms()), Value::I64(id)],
        )])
        .await
    }

    /// Every agreement (at start), or one buyer's (by its index), oldest first.
    pub async fn one_tap_agreements(&self, buyer: Option<BuyerId>) -> Result<Vec<OneTapAgreement>, StoreError> {
        let statement = match buyer {
            None => Statement {
                sql: Cow::Owned(format!(
                    "SELECT {AGREEMENT_COLUMNS} FROM one_tap_agreements ORDER BY id"
                )),
                params: vec![],
            },
            Some(buyer) => Statement {
                sql: Cow::Owned(format!(
                    "SELECT {AGREEMENT_COLUMNS} FROM one_tap_agreements WHERE buyer_id = $1 ORDER BY id"
                )),
                params: vec![Value::I64(buyer.get())],
            },
        };
        self.query(statement, agreement).await
    }

    /// A page of a buyer's agreements, newest first.
    pub async fn one_tap_agreements_page(
        &self,
        buyer: BuyerId,
        page: Keyset<i64>,
    ) -> Result<Vec<OneTapAgreement>, StoreError> {
        let mut conditions = Conditions::default();
        conditions.and("buyer_id = ?", vec![Value::I64(buyer.get())]);
        if let Some(after) = page.after {
            conditions.and("id < ?", vec![Value::I64(after)]);
        }
        let head = format!("{AGREEMENT_COLUMNS} FROM one_tap_agreements");
        self.query(conditions.select(&head, "ORDER BY id DESC", page.limit), agreement)
            .await
    }

    /// Σ one-tap intents per buyer that may have charged since `since` (not failed/expired).
    pub async fn one_tap_spent_since(&self, since: Timestamp) -> Result<Vec<(BuyerId, i64)>, StoreError> {
        let statement = Statement::new(
            "SELECT buyer_id, CAST(SUM(amount_fen) AS BIGINT) FROM payment_intents WHERE one_tap = 1
             AND created_at >= $1 AND status IN ('processing', 'authorized', 'captured') GROUP BY buyer_id",
            vec![Value::I64(since.unix_ms())],
        );
        self.query(statement, |r| Ok((id(r.i64(0)?, BuyerId::new)?, r.i64(1)?)))
            .await
    }

    // ---- provider notifications --------------------------------------------------------

    /// Whether a notification with this event id was logged already.
    pub async fn notification_logged(&self, provider: &str, event_id: &str) -> Result<bool, StoreError> {
        let found = self
            .query(
                Statement::new(
                    "SELECT id FROM provider_notifications WHERE provider = $1 AND event_id = $2",
                    vec![Value::Text(loggable(provider)), Value::Text(loggable(event_id))],
                ),
                |r| r.i64(0),
            )
            .await?;
        Ok(!found.is_empty())
    }

    /// Notifications received per outcome.
    pub async fn notification_outcomes(&self) -> Result<Vec<(String, i64)>, StoreError> {
        self.query(
            Statement::new(
                "SELECT outcome, COUNT(*) FROM provider_notifications GROUP BY outcome ORDER BY outcome",
                vec![],
            ),
            |r| Ok((r.text(0)?, r.i64(1)?)),
        )
        .await
    }

    // ---- reconciliation --------------------------------------------------------------

    pub async fn captures_between(&self, from: Timestamp, to: Timestamp) -> Result<Vec<LedgerCapture>, StoreError> {
        self.query(
            Statement::new(
                "SELECT id, charge_reference, captured_fen, captured_at FROM payment_intents
                 WHERE captured_at >= $1 AND captured_at < $2 ORDER BY captured_at, id",
                vec![Value::I64(from.unix_ms()), Value::I64(to.unix_ms())],
            ),
            |r| {
                Ok(LedgerCapture {
                    intent: id(r.i64(0)?, PaymentIntentId::new)?,
                    reference: r.text(1)?,
                    amount: r.i64(2)?,
                    at: ms(r.i64(3)?),
                })
            },
        )
        .await
    }

    pub async fn refunds_settled_between(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<LedgerRefund>, StoreError> {
        self.query(
            Statement::new(
                "SELECT r.id, r.intent_id, r.order_id, i.home_shop_id, r.amount_fen, r.settled_at, r.reason FROM refunds r
                 JOIN payment_intents i ON i.id = r.intent_id
                 WHERE r.status = 'succeeded' AND r.settled_at >= $1 AND r.settled_at < $2 ORDER BY r.settled_at, r.id",
                vec![Value::I64(from.unix_ms()), Value::I64(to.unix_ms())],
            ),
            |r| {
                Ok(LedgerRefund {
                    refund: id(r.i64(0)?, RefundId::new)?,
                    intent: id(r.i64(1)?, PaymentIntentId::new)?,
                    order: id(r.i64(2)?, OrderId::new)?,
                    home_shop: id(r.i64(3)?, ShopId::new)?,
                    amount: r.i64(4)?,
                    reason: RefundReason::parse(&r.text(6)?)
                        .ok_or_else(|| StoreError::corrupt("bad refund reason".into()))?,
                    at: ms(r.i64(5)?),
                })
            },
        )
        .await
    }

    pub async fn orders_paid_between(&self, from: Timestamp, to: Timestamp) -> Result<Vec<PaidOrder>, StoreError> {
        self.query(
            Statement::new(
                "SELECT id, total_fen, paid_by_intent_id, paid_at FROM orders
                 WHERE paid_at >= $1 AND paid_at < $2 ORDER BY paid_at, id",
                vec![Value::I64(from.unix_ms()), Value::I64(to.unix_ms())],
            ),
            |r| {
                Ok(PaidOrder {
                    order: id(r.i64(0)?, OrderId::new)?,
                    total: r.i64(1)?,
                    paid_by: r.opt_i64(2)?.map(|raw| id(raw, PaymentIntentId::new)).transpose()?,
                    paid_at: ms(r.i64(3)?),
                })
            },
        )
        .await
    }

    /// Intents by id (with their refunds), for checking captures against their orders.
    pub async fn payment_intents_by_ids(&self, ids: &[PaymentIntentId]) -> Result<Vec<PaymentIntent>, StoreError> {
        let mut intents = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let list: Vec<String> = chunk.iter().map(|i| i.get().to_string()).collect();
            intents.extend(
                self.intents_with_refunds(&format!("id IN ({})", list.join(",")), vec![])
                    .await?,
            );
        }
        Ok(intents)
    }

    /// Audit for benchmarks and tests: orders paid more than once by a capture, paid orders
    /// whose intent is not captured, and captured intents that paid no order of theirs. An
    /// exchange's replacement order (zero total, no payment intent) is paid by its exchange,
    /// not by a capture, and is left out.
    pub async fn audit_payments(&self) -> Result<PaymentAudit, StoreError> {
        let sql = "SELECT
              (SELECT COUNT(*) FROM orders WHERE state = 'paid'
                 AND NOT (paid_by_intent_id IS NULL AND total_fen = 0)),
              (SELECT COUNT(*) FROM orders o WHERE o.state = 'paid'
                 AND NOT (o.paid_by_intent_id IS NULL AND o.total_fen = 0) AND NOT EXISTS
                 (SELECT 1 FROM payment_intents i WHERE i.id = o.paid_by_intent_id AND i.status = 'captured'
                  AND i.checkout_id = o.checkout_id)),
              (SELECT COUNT(*) FROM payment_intents WHERE status = 'captured'),
              (SELECT COUNT(*) FROM (SELECT checkout_id FROM payment_intents GROUP BY checkout_id HAVING COUNT(*) > 1) d),
              (SELECT COALESCE(CAST(SUM(captured_fen) AS BIGINT), 0) FROM payment_intents WHERE status = 'captured'),
              (SELECT COALESCE(CAST(SUM(total_fen) AS BIGINT), 0) FROM orders WHERE state = 'paid'),
              (SELECT COALESCE(CAST(SUM(amount_fen) AS BIGINT), 0) FROM refunds WHERE status <> 'failed'
                 AND reason = 'order_closed')";
        self.query_row(
            Statement::new(sql, vec![]),
            |r| {
                Ok(PaymentAudit {
                    paid_orders: r.i64(0)?,
                    paid_without_capture: r.i64(1)?,
                    captured_intents: r.i64(2)?,
                    checkouts_with_two_intents: r.i64(3)?,
                    captured_fen: r.i64(4)?,
                    paid_orders_fen: r.i64(5)?,
                    refunded_closed_orders_fen: r.i64(6)?,
                })
            },
            || "no payment audit row".into(),
        )
        .await
    }
}

/// The database's account of payments (see [`Store::audit_payments`]). Money balances when
/// `captured_fen == paid_orders_fen + refunded_closed_orders_fen`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PaymentAudit {
    pub paid_orders: i64,
    pub paid_without_capture: i64,
    pub captured_intents: i64,
    pub checkouts_with_two_intents: i64,
    pub captured_fen: i64,
    pub paid_orders_fen: i64,
    pub refunded_closed_orders_fen: i64,
}
