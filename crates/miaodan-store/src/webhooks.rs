//! Outgoing webhooks on disk (migration 0011): a shop's endpoints, the deliveries the webhooks
//! reader of the outbox makes of each subscribed event, and every attempt to deliver one.
//!
//! **Invariants.** A delivery is made once per endpoint and event (a unique index on
//! `(endpoint_id, shard, seq)`), in the same transaction as the reader's cursor moves
//! ([`Store::record_webhook_fanout`]), so a crash neither loses nor doubles one. An attempt's
//! row, the delivery's new state and the endpoint's failing streak commit together
//! ([`Store::record_webhook_attempt`]). A pending delivery waits while an earlier delivery of the
//! same endpoint about the same object (family and subject) is pending
//! ([`Store::due_webhook_deliveries`]): per-object order.

use crate::platform::idempotency_statement;
use crate::records::IdempotencyRecord;
use crate::sql::{Row, Statement, Value};
use crate::{Store, StoreError, json};
use miaodan_domain::webhooks::Subscription;
use miaodan_domain::{ShopId, Timestamp};

/// The reader's name in `outbox_cursors`.
pub const WEBHOOKS_READER: &str = "webhooks";

/// A shop's receiver of events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookEndpoint {
    pub id: i64,
    pub shop: ShopId,
    pub url: String,
    pub topics: Subscription,
    pub description: Option<String>,
    /// The signing secret (`whsec_…`), shown to the merchant once.
    pub secret: String,
    pub enabled: bool,
    pub created_at: Timestamp,
    /// Since when every attempt failed (`None` after a success).
    pub failing_since: Option<Timestamp>,
    pub disabled_at: Option<Timestamp>,
    pub disabled_reason: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryState {
    /// Not delivered yet: tried again at `next_attempt_at`.
    Pending,
    Delivered,
    /// Given up: the retry window passed, or the endpoint was disabled or changed.
    Failed,
}

impl DeliveryState {
    pub const ALL: [DeliveryState; 3] = [DeliveryState::Pending, DeliveryState::Delivered, DeliveryState::Failed];

    pub const fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Option<DeliveryState> {
        DeliveryState::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

/// One event for one endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookDelivery {
    pub id: i64,
    pub endpoint: i64,
    pub shop: ShopId,
    pub shard: u32,
    pub seq: i64,
    /// When the event's batch was decided.
    pub at: Timestamp,
    pub topic: String,
    pub subject: i64,
    /// The event's document.
    pub body: String,
    pub state: DeliveryState,
    pub attempts: i64,
    pub next_attempt_at: Timestamp,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub last_latency_ms: Option<i64>,
    pub delivered_at: Option<Timestamp>,
}

/// One try to deliver: the receiver's status (none when there was no answer), how long it
/// took, and what went wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookAttempt {
    pub delivery: i64,
    /// 1 for the first.
    pub attempt: i64,
    pub at: Timestamp,
    pub status: Option<i64>,
    pub latency_ms: i64,
    pub error: Option<String>,
}

/// What became of a delivery after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterAttempt {
    Delivered,
    RetryAt(Timestamp),
    GiveUp,
}

const ENDPOINT_COLUMNS: &str = "id, shop_id, url, topics, description, secret, enabled, created_at_ms,
    failing_since_ms, disabled_at_ms, disabled_reason";
const DELIVERY_COLUMNS: &str = "id, endpoint_id, shop_id, shard, seq, at_ms, topic, subject, body, state, attempts,
    next_attempt_at_ms, last_status, last_error, last_latency_ms, delivered_at_ms";

const INSERT_ENDPOINT: &str = "INSERT INTO webhook_endpoints (id, shop_id, url, topics, description, secret, enabled,
    created_at_ms, failing_since_ms, disabled_at_ms, disabled_reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
const UPDATE_ENDPOINT: &str = "UPDATE webhook_endpoints SET url = $1, topics = $2, description = $3, secret = $4,
    enabled = $5, failing_since_ms = $6, disabled_at_ms = $7, disabled_reason = $8 WHERE id = $9";
const INSERT_DELIVERY: &str = "INSERT INTO webhook_deliveries (id, endpoint_id, shop_id, shard, seq, at_ms, topic, family,
    subject, body, state, attempts, next_attempt_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending', 0, $11)
    ON CONFLICT (endpoint_id, shard, seq{SPREAD_BY shop_id}) DO NOTHING";
const INSERT_ATTEMPT: &str = "INSERT INTO webhook_attempts (delivery_id, attempt, at_ms, status, latency_ms, error)
    VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (delivery_id, attempt) DO NOTHING";
/// A failure does not bring back a delivery failed meanwhile (its endpoint disabled while the
/// attempt was in flight); a success always counts.
const UPDATE_AFTER_ATTEMPT: &str = "UPDATE webhook_deliveries SET state = $1, attempts = $2, next_attempt_at_ms = $3,
    last_status = $4, last_error = $5, last_latency_ms = $6, delivered_at_ms = $7
    WHERE id = $8 AND (state = 'pending' OR $1 = 'delivered')";
/// A pending delivery is due when its time came and no earlier pending delivery of its endpoint
/// is about the same object.
const DUE: &str = "SELECT id, endpoint_id, shop_id, shard, seq, at_ms, topic, subject, body, state, attempts,
    next_attempt_at_ms, last_status, last_error, last_latency_ms, delivered_at_ms FROM webhook_deliveries d
    WHERE d.state = 'pending' AND d.next_attempt_at_ms <= $1 AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e
    WHERE e.endpoint_id = d.endpoint_id AND e.shop_id = d.shop_id AND e.family = d.family AND e.subject = d.subject AND e.state = 'pending'
    AND e.id < d.id) ORDER BY d.next_attempt_at_ms, d.id LIMIT $2";

fn endpoint_row(r: &dyn Row) -> Result<WebhookEndpoint, StoreError> {
    let at = |raw: Option<i64>| raw.map(Timestamp::from_unix_ms);
    Ok(WebhookEndpoint {
        id: r.i64(0)?,
        shop: json::id(r.i64(1)?, ShopId::new, "webhook endpoint shop")?,
        url: r.text(2)?,
        topics: Subscription::from_stored(&r.text(3)?),
        description: r.opt_text(4)?,
        secret: r.text(5)?,
        enabled: r.i64(6)? != 0,
        created_at: Timestamp::from_unix_ms(r.i64(7)?),
        failing_since: at(r.opt_i64(8)?),
        disabled_at: at(r.opt_i64(9)?),
        disabled_reason: r.opt_text(10)?,
    })
}

fn delivery_row(r: &dyn Row) -> Result<WebhookDelivery, StoreError> {
    let state = r.text(9)?;
    Ok(WebhookDelivery {
        id: r.i64(0)?,
        endpoint: r.i64(1)?,
        shop: json::id(r.i64(2)?, ShopId::new, "webhook delivery shop")?,
        shard: u32::try_from(r.i64(3)?).map_err(|_| StoreError::corrupt("webhook delivery shard".into()))?,
        seq: r.i64(4)?,
        at: Timestamp::from_unix_ms(r.i64(5)?),
        topic: r.text(6)?,
        subject: r.i64(7)?,
        body: r.text(8)?,
        state: DeliveryState::parse(&state)
            .ok_or_else(|| StoreError::corrupt(format!("webhook delivery state {state:?}")))?,
        attempts: r.i64(10)?,
        next_attempt_at: Timestamp::from_unix_ms(r.i64(11)?),
        last_status: r.opt_i64(12)?,
        last_error: r.opt_text(13)?,
        last_latency_ms: r.opt_i64(14)?,
        delivered_at: r.opt_i64(15)?.map(Timestamp::from_unix_ms),
    })
}

fn attempt_row(r: &dyn Row) -> Result<WebhookAttempt, StoreError> {
    Ok(WebhookAttempt {
        delivery: r.i64(0)?,
        attempt: r.i64(1)?,
        at: Timestamp::from_unix_ms(r.i64(2)?),
        status: r.opt_i64(3)?,
        latency_ms: r.i64(4)?,
        error: r.opt_text(5)?,
    })
}

fn opt_ms(at: Option<Timestamp>) -> Value {
    Value::OptI64(at.map(Timestamp::unix_ms))
}

fn insert_endpoint(e: &WebhookEndpoint) -> Statement {
    Statement::new(
        INSERT_ENDPOINT,
        vec![
            Value::I64(e.id),
            Value::I64(e.shop.get()),
            Value::Text(e.url.clone()),
            Value::Text(e.topics.to_stored()),
            Value::OptText(e.description.clone()),
            Value::Text(e.secret.clone()),
            Value::I64(i64::from(e.enabled)),
            Value::I64(e.created_at.unix_ms()),
            opt_ms(e.failing_since),
            opt_ms(e.disabled_at),
            Value::OptText(e.disabled_reason.clone()),
        ],
    )
}

fn update_endpoint(e: &WebhookEndpoint) -> Statement {
    Statement::new(
        UPDATE_ENDPOINT,
        vec![
            Value::Text(e.url.clone()),
            Value::Text(e.topics.to_stored()),
            Value::OptText(e.description.clone()),
            Value::Text(e.secret.clone()),
            Value::I64(i64::from(e.enabled)),
            opt_ms(e.failing_since),
            opt_ms(e.disabled_at),
            Value::OptText(e.disabled_reason.clone()),
            Value::I64(e.id),
        ],
    )
}

fn insert_delivery(d: &WebhookDelivery) -> Statement {
    let family = d.topic.split_once('.').map_or(d.topic.as_str(), |(family, _)| family);
    Statement::new(
        INSERT_DELIVERY,
        vec![
            Value::I64(d.id),
            Value::I64(d.endpoint),
            Value::I64(d.shop.get()),
            Value::I64(i64::from(d.shard)),
            Value::I64(d.seq),
            Value::I64(d.at.unix_ms()),
            Value::Text(d.topic.clone()),
            Value::Text(family.to_string()),
            Value::I64(d.subject),
            Value::Text(d.body.clone()),
            Value::I64(d.next_attempt_at.unix_ms()),
        ],
    )
}

/// Fails an endpoint's pending deliveries, saying why.
fn fail_pending(endpoint: i64, reason: &str) -> Statement {
    Statement::new(
        "UPDATE webhook_deliveries SET last_error = $1, state = 'failed' WHERE endpoint_id = $2 AND state = 'pending'",
        vec![Value::Text(reason.into()), Value::I64(endpoint)],
    )
}

impl Store {
    pub async fn insert_webhook_endpoint(
        &self,
        endpoint: &WebhookEndpoint,
        response: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        let mut statements = vec![insert_endpoint(endpoint)];
        statements.extend(response.map(idempotency_statement));
        self.execute_atomically(statements).await
    }

    /// Saves an endpoint as it now is; when it is `disabled` (or its url or topics changed),
    /// its pending deliveries fail with `fail_pending_because`.
    pub async fn save_webhook_endpoint(
        &self,
        endpoint: &WebhookEndpoint,
        fail_pending_because: Option<&str>,
        response: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        let mut statements = vec![update_endpoint(endpoint)];
        statements.extend(fail_pending_because.map(|reason| fail_pending(endpoint.id, reason)));
        statements.extend(response.map(idempotency_statement));
        self.execute_atomically(statements).await
    }

    /// Removes an endpoint with its deliveries and their attempts.
    pub async fn delete_webhook_endpoint(
        &self,
        id: i64,
        response: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        let mut statements = vec![
            Statement::new(
                "DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM webhook_deliveries WHERE endpoint_id = $1)",
                vec![Value::I64(id)],
            ),
            Statement::new(
                "DELETE FROM webhook_deliveries WHERE endpoint_id = $1",
                vec![Value::I64(id)],
            ),
            Statement::new("DELETE FROM webhook_endpoints WHERE id = $1", vec![Value::I64(id)]),
        ];
        statements.extend(response.map(idempotency_statement));
        self.execute_atomically(statements).await
    }

    pub async fn webhook_endpoint(&self, id: i64) -> Result<Option<WebhookEndpoint>, StoreError> {
        let statement = Statement::owned(
            format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1"),
            vec![Value::I64(id)],
        );
        Ok(self.query(statement, endpoint_row).await?.pop())
    }

    /// A shop's endpoints (every shop's for `None`), newest first, after id `before`.
    pub async fn webhook_endpoints(
        &self,
        shop: Option<ShopId>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<WebhookEndpoint>, StoreError> {
        let mut conditions = crate::sql::Conditions::default();
        if let Some(shop) = shop {
            conditions.and("shop_id = ?", vec![Value::I64(shop.get())]);
        }
        if let Some(before) = before {
            conditions.and("id < ?", vec![Value::I64(before)]);
        }
        let head = format!("{ENDPOINT_COLUMNS} FROM webhook_endpoints");
        let statement = conditions.select(&head, "ORDER BY id DESC", limit);
        self.query(statement, endpoint_row).await
    }

    /// Every enabled endpoint: what the fan-out matches events against.
    pub async fn enabled_webhook_endpoints(&self) -> Result<Vec<WebhookEndpoint>, StoreError> {
        let statement = Statement::owned(
            format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE enabled = 1 ORDER BY id"),
            vec![],
        );
        self.query(statement, endpoint_row).await
    }

    /// Stores the deliveries the webhooks reader made of shard `shard`'s events up to `seq`,
    /// and moves its cursor there, in one transaction.
    pub async fn record_webhook_fanout(
        &self,
        shard: u32,
        seq: i64,
        deliveries: &[WebhookDelivery],
    ) -> Result<(), StoreError> {
        let statements = deliveries.iter().map(insert_delivery).collect();
        self.advance_outbox_cursor(WEBHOOKS_READER, shard, seq, statements)
            .await
    }

    /// Up to `limit` deliveries due at `now`, the earliest first, none waiting on an earlier
    /// one about the same object.
    pub async fn due_webhook_deliveries(&self, now: Timestamp, limit: i64) -> Result<Vec<WebhookDelivery>, StoreError> {
        let statement = Statement::new(DUE, vec![Value::I64(now.unix_ms()), Value::I64(limit)]);
        self.query(statement, delivery_row).await
    }

    /// Records an attempt, what became of its delivery, and the endpoint's failing streak
    /// (ended by a success, begun by a failure), in one transaction.
    pub async fn record_webhook_attempt(
        &self,
        attempt: &WebhookAttempt,
        after: AfterAttempt,
    ) -> Result<(), StoreError> {
        let (state, next, delivered_at) = match after {
            AfterAttempt::Delivered => (DeliveryState::Delivered, attempt.at, Some(attempt.at)),
            AfterAttempt::RetryAt(at) => (DeliveryState::Pending, at, None),
            AfterAttempt::GiveUp => (DeliveryState::Failed, attempt.at, None),
        };
        // The endpoint's row is written only when its failing streak starts or ends, not on
        // every attempt (a copied table on a distributed PostgreSQL writes every node).
        let streak = if after == AfterAttempt::Delivered {
            Statement::new(
                "UPDATE webhook_endpoints SET failing_since_ms = NULL
                 WHERE id = (SELECT endpoint_id FROM webhook_deliveries WHERE id = $1) AND failing_since_ms IS NOT NULL",
                vec![Value::I64(attempt.delivery)],
            )
        } else {
            Statement::new(
                "UPDATE webhook_endpoints SET failing_since_ms = $1
                 WHERE id = (SELECT endpoint_id FROM webhook_deliveries WHERE id = $2) AND failing_since_ms IS NULL",
                vec![Value::I64(attempt.at.unix_ms()), Value::I64(attempt.delivery)],
            )
        };
        let statements = vec![
            Statement::new(
                INSERT_ATTEMPT,
                vec![
                    Value::I64(attempt.delivery),
                    Value::I64(attempt.attempt),
                    Value::I64(attempt.at.unix_ms()),
                    Value::OptI64(attempt.status),
                    Value::I64(attempt.latency_ms),
                    Value::OptText(attempt.error.clone()),
                ],
            ),
            Statement::new(
                UPDATE_AFTER_ATTEMPT,
                vec![
                    Value::Text(state.as_str().into()),
                    Value::I64(attempt.attempt),
                    Value::I64(next.unix_ms()),
                    Value::OptI64(attempt.status),
                    Value::OptText(attempt.error.clone()),
                    Value::I64(attempt.latency_ms),
                    opt_ms(delivered_at),
                    Value::I64(attempt.delivery),
                ],
            ),
            streak,
        ];
        self.execute_atomically(statements).await
    }

    /// Disables every enabled endpoint failing since before `failing_before`, failing its
    /// pending deliveries; answers the endpoints it disabled.
    pub async fn disable_failing_webhook_endpoints(
        &self,
        now: Timestamp,
        failing_before: Timestamp,
        reason: &str,
    ) -> Result<Vec<i64>, StoreError> {
        let statement = Statement::new(
            "SELECT id FROM webhook_endpoints WHERE enabled = 1 AND failing_since_ms < $1 ORDER BY id",
            vec![Value::I64(failing_before.unix_ms())],
        );
        let failing = self.query(statement, |r| r.i64(0)).await?;
        for id in &failing {
            self.execute_atomically(vec![
                Statement::new(
                    "UPDATE webhook_endpoints SET enabled = 0, disabled_at_ms = $1, disabled_reason = $2 WHERE id = $3",
                    vec![Value::I64(now.unix_ms()), Value::Text(reason.into()), Value::I64(*id)],
                ),
                fail_pending(*id, reason),
            ])
            .await?;
        }
        Ok(failing)
    }

    pub async fn webhook_delivery(&self, id: i64) -> Result<Option<WebhookDelivery>, StoreError> {
        let statement = Statement::owned(
            format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = $1"),
            vec![Value::I64(id)],
        );
        Ok(self.query(statement, delivery_row).await?.pop())
    }

    /// An endpoint's deliveries (in one state, if given), newest first, after id `before`.
    pub async fn webhook_deliveries(
        &self,
        endpoint: i64,
        state: Option<DeliveryState>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<WebhookDelivery>, StoreError> {
        let mut conditions = crate::sql::Conditions::default();
        conditions.and("endpoint_id = ?", vec![Value::I64(endpoint)]);
        if let Some(state) = state {
            conditions.and("state = ?", vec![Value::Text(state.as_str().into())]);
        }
        if let Some(before) = before {
            conditions.and("id < ?", vec![Value::I64(before)]);
        }
        let head = format!("{DELIVERY_COLUMNS} FROM webhook_deliveries");
        let statement = conditions.select(&head, "ORDER BY id DESC", limit);
        self.query(statement, delivery_row).await
    }

    /// The attempts of these deliveries, in order of delivery and attempt.
    pub async fn webhook_attempts(&self, deliveries: &[i64]) -> Result<Vec<WebhookAttempt>, StoreError> {
        if deliveries.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (1..=deliveries.len()).map(|i| format!("${i}")).collect();
        let statement = Statement::owned(
            format!(
                "SELECT delivery_id, attempt, at_ms, status, latency_ms, error FROM webhook_attempts
                 WHERE delivery_id IN ({}) ORDER BY delivery_id, attempt",
                placeholders.join(", ")
            ),
            deliveries.iter().map(|d| Value::I64(*d)).collect(),
        );
        self.query(statement, attempt_row).await
    }

    /// Schedules a delivery again at `now`, whatever its state.
    pub async fn replay_webhook_delivery(
        &self,
        id: i64,
        now: Timestamp,
        response: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        let mut statements = vec![Statement::new(
            "UPDATE webhook_deliveries SET state = 'pending', next_attempt_at_ms = $1 WHERE id = $2",
            vec![Value::I64(now.unix_ms()), Value::I64(id)],
        )];
        statements.extend(response.map(idempotency_statement));
        self.execute_atomically(statements).await
    }

    /// How many deliveries wait to be delivered.
    pub async fn pending_webhook_deliveries(&self) -> Result<i64, StoreError> {
        let statement = Statement::new(
            "SELECT COUNT(*) FROM webhook_deliveries WHERE state = 'pending'",
            vec![],
        );
        self.query_row(statement, |r| r.i64(0), || "no count".into()).await
    }
}
