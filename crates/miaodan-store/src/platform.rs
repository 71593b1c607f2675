//! Platform-level records on disk, outside any shard: buyers, API tokens, stored idempotent
//! responses, and the highest id in use per table (so a restarted process allocates above).
//!
//! Idempotent responses of shard requests ride their batch ([`idempotency_statement`] is the
//! last group of [`crate::batch::batch_statements`]); the rest are written here on their own.

use crate::records::{IdMaxima, IdempotencyRecord, Role, TokenFilter, TokenRecord, TokenScope};
use crate::sql::{Conditions, Row, Statement, Value, id, ms};
use crate::{Store, StoreError};
use miaodan_domain::buyers::Buyer;
use miaodan_domain::catalog::Text;
use miaodan_domain::geo::Adcode;
use miaodan_domain::orders::Address;
use miaodan_domain::{BuyerId, Timestamp};

const INSERT_IDEMPOTENCY: &str = "INSERT INTO idempotency_responses
    (id, scope, idempotency_key, request_sha256, status, body, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT (id) DO NOTHING";
const INSERT_BUYER: &str = "INSERT INTO buyers (id, name, default_adcode, default_address_detail, created_at)
    VALUES ($1, $2, $3, $4, $5)";
const INSERT_TOKEN: &str = "INSERT INTO api_tokens
    (id, role, subject_id, secret_sha256, label, created_at, revoked_at, expires_at, last_used_at, scope)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
/// A revocation takes the next number of the counter (its row lock orders concurrent
/// revocations on PostgreSQL), so the numbers grow in commit order.
const COUNT_REVOCATION: &str = "UPDATE token_revocation_counter SET value = value + 1";
const REVOKE_TOKEN: &str = "UPDATE api_tokens SET revoked_at = $1,
    revocation = (SELECT value FROM token_revocation_counter) WHERE id = $2 AND revoked_at IS NULL";
const RECORD_TOKEN_USE: &str = "UPDATE api_tokens SET last_used_at = $1
    WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $1)";

pub(crate) fn idempotency_statement(record: &IdempotencyRecord) -> Statement {
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

fn insert_buyer(buyer: &Buyer) -> Statement {
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

fn insert_token(token: &TokenRecord) -> Statement {
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
            Value::I64(token.expires_at.unix_ms()),
            Value::OptI64(token.last_used_at.map(Timestamp::unix_ms)),
            Value::Text(token.scope.as_str().into()),
        ],
    )
}

const BUYER_COLUMNS: &str = "id, name, default_adcode, default_address_detail, created_at";
fn buyer(row: &dyn Row) -> Result<Buyer, StoreError> {
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

const TOKEN_COLUMNS: &str =
    "id, role, subject_id, secret_sha256, label, created_at, revoked_at, expires_at, last_used_at, scope";
fn token(row: &dyn Row) -> Result<TokenRecord, StoreError> {
    let role = row.text(1)?;
    let scope = row.text(9)?;
    Ok(TokenRecord {
        id: row.i64(0)?,
        role: Role::parse(&role).ok_or_else(|| StoreError::corrupt(format!("unknown role {role}")))?,
        subject: row.opt_i64(2)?,
        secret_sha256: row.text(3)?,
        label: row.opt_text(4)?,
        created_at: ms(row.i64(5)?),
        revoked_at: row.opt_i64(6)?.map(ms),
        expires_at: ms(row.i64(7)?),
        last_used_at: row.opt_i64(8)?.map(ms),
        scope: TokenScope::parse(&scope).ok_or_else(|| StoreError::corrupt(format!("unknown token scope {scope}")))?,
    })
}

const IDEMPOTENCY_COLUMNS: &str = "id, scope, idempotency_key, request_sha256, status, body, created_at";
fn idempotency(row: &dyn Row) -> Result<IdempotencyRecord, StoreError> {
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

impl Store {
    pub async fn buyer(&self, id: BuyerId) -> Result<Option<Buyer>, StoreError> {
        let statement = Statement::owned(
            format!("SELECT {BUYER_COLUMNS} FROM buyers WHERE id = $1"),
            vec![Value::I64(id.get())],
        );
        Ok(self.query(statement, buyer).await?.pop())
    }

    pub async fn buyers(&self) -> Result<Vec<Buyer>, StoreError> {
        let statement = Statement::owned(format!("SELECT {BUYER_COLUMNS} FROM buyers ORDER BY id"), vec![]);
        self.query(statement, buyer).await
    }

    /// Inserts a buyer and, in the same transaction, the idempotent response that announces it.
    pub async fn insert_buyer(&self, buyer: &Buyer, response: Option<&IdempotencyRecord>) -> Result<(), StoreError> {
        let mut statements = vec![insert_buyer(buyer)];
        statements.extend(response.map(idempotency_statement));
        self.execute_atomically(statements).await
    }

    /// Inserts many buyers with one token each in one transaction (bulk set-up for benchmarks
    /// and imports).
    pub async fn insert_buyers_with_tokens(&self, rows: &[(Buyer, TokenRecord)]) -> Result<(), StoreError> {
        let mut statements = Vec::with_capacity(rows.len() * 2);
        for (buyer, token) in rows {
            statements.push(insert_buyer(buyer));
            statements.push(insert_token(token));
        }
        self.execute_atomically(statements).await
    }

    pub async fn insert_token(
        &self,
        token: &TokenRecord,
        response: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        let mut statements = vec![insert_token(token)];
        statements.extend(response.map(idempotency_statement));
        self.execute_atomically(statements).await
    }

    pub async fn token(&self, id: i64) -> Result<Option<TokenRecord>, StoreError> {
        let statement = Statement::owned(
            format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = $1"),
            vec![Value::I64(id)],
        );
        Ok(self.query(statement, token).await?.pop())
    }

    /// Whether an admin token was ever issued (revoked and expired ones count: the first
    /// start's token is issued once).
    pub async fn admin_token_issued(&self) -> Result<bool, StoreError> {
        let statement = Statement::new("SELECT id FROM api_tokens WHERE role = 'admin' LIMIT 1", vec![]);
        Ok(!self.query(statement, |r| r.i64(0)).await?.is_empty())
    }

    /// Tokens, newest first.
    pub async fn tokens(&self, filter: &TokenFilter) -> Result<Vec<TokenRecord>, StoreError> {
        let mut conditions = Conditions::default();
        if let Some(role) = filter.role {
            conditions.and("role = ?", vec![Value::Text(role.as_str().into())]);
        }
        if let Some(subject) = filter.subject {
            conditions.and("subject_id = ?", vec![Value::I64(subject)]);
        }
        if let Some(before) = filter.before {
            conditions.and("id < ?", vec![Value::I64(before)]);
        }
        let head = format!("{TOKEN_COLUMNS} FROM api_tokens");
        let statement = conditions.select(&head, "ORDER BY id DESC", filter.limit);
        self.query(statement, token).await
    }

    /// Revokes a token at `at` (a revoked one keeps its first revocation) and answers it as
    /// it now stands; `None` if there is no such token. The revocation takes the next number
    /// of the revocation counter, which running servers follow ([`Store::revocations_after`]).
    pub async fn revoke_token(&self, id: i64, at: Timestamp) -> Result<Option<TokenRecord>, StoreError> {
        let Some(found) = self.token(id).await? else {
            return Ok(None);
        };
        if found.revoked_at.is_none() {
            self.execute_atomically(vec![
                Statement::new(COUNT_REVOCATION, vec![]),
                Statement::new(REVOKE_TOKEN, vec![Value::I64(at.unix_ms()), Value::I64(id)]),
            ])
            .await?;
        }
        self.token(id).await
    }

    /// The number of the latest revocation (0 before any).
    pub async fn revocation_counter(&self) -> Result<i64, StoreError> {
        self.query_row(
            Statement::new("SELECT value FROM token_revocation_counter", vec![]),
            |r| r.i64(0),
            || "no token_revocation_counter row".into(),
        )
        .await
    }

    /// `(number, token id)` of the revocations numbered after `after`, in number order.
    pub async fn revocations_after(&self, after: i64) -> Result<Vec<(i64, i64)>, StoreError> {
        let statement = Statement::new(
            "SELECT revocation, id FROM api_tokens WHERE revocation > $1 ORDER BY revocation",
            vec![Value::I64(after)],
        );
        self.query(statement, |r| Ok((r.i64(0)?, r.i64(1)?))).await
    }

    /// Records when tokens were last used, `(token id, at)`, in one transaction; a later time
    /// already stored is kept.
    pub async fn record_token_use(&self, uses: &[(i64, Timestamp)]) -> Result<(), StoreError> {
        if uses.is_empty() {
            return Ok(());
        }
        let statements = uses
            .iter()
            .map(|(id, at)| Statement::new(RECORD_TOKEN_USE, vec![Value::I64(at.unix_ms()), Value::I64(*id)]))
            .collect();
        self.execute_atomically(statements).await
    }

    /// The stored response with this id, if it was stored (and not yet purged).
    pub async fn idempotency_record(&self, id: i64) -> Result<Option<IdempotencyRecord>, StoreError> {
        let statement = Statement::owned(
            format!("SELECT {IDEMPOTENCY_COLUMNS} FROM idempotency_responses WHERE id = $1"),
            vec![Value::I64(id)],
        );
        Ok(self.query(statement, idempotency).await?.pop())
    }

    /// The id, scope and key of every stored response.
    pub async fn idempotency_keys(&self) -> Result<Vec<(i64, String, String)>, StoreError> {
        let statement = Statement::new("SELECT id, scope, idempotency_key FROM idempotency_responses", vec![]);
        self.query(statement, |r| Ok((r.i64(0)?, r.text(1)?, r.text(2)?))).await
    }

    /// A mark to read the stored keys from later ([`Store::idempotency_keys_after`]): taken
    /// before a read of them, it lets a later read skip what that one saw. On PostgreSQL, the
    /// oldest transaction still running now: every transaction before it has ended, so a row the
    /// read did not see was written by this one or a later one. `None` on SQLite, which one
    /// process serves: nothing is stored where it cannot see. `None` as well on a distributed
    /// PostgreSQL (Citus): there a row's `xmin` is its node's transaction, not the one the
    /// coordinator's snapshot counts, so only a read of every key is sure to miss none.
    pub async fn stored_keys_mark(&self) -> Result<Option<i64>, StoreError> {
        if let Store::Sqlite(_) = self {
            return Ok(None);
        }
        let statement = Statement::new(
            "SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN NULL \
               ELSE pg_snapshot_xmin(pg_current_snapshot())::text::bigint END",
            vec![],
        );
        self.query_row(statement, |r| r.opt_i64(0), || "no snapshot".into())
            .await
    }

    /// The id, scope and key of every response stored by a transaction at or after `mark` (from
    /// [`Store::stored_keys_mark`]): what a member learns when it takes a shard, beyond the keys
    /// it read before. A row's writer is its `xmin`; a transaction at or after the mark is one
    /// whose age (in transactions, from the same moment) is at most the mark's. A mark too old
    /// for an age (2^31 transactions), or ahead of the database (restored to an earlier point,
    /// or failed over to a replica that lost transactions), reads every key, as does SQLite.
    /// Clock-free: no member's clock, nor the time a response was stamped with, enters. The
    /// mark's age is worked out once (a materialized subquery), not per row.
    pub async fn idempotency_keys_after(&self, mark: i64) -> Result<Vec<(i64, String, String)>, StoreError> {
        if let Store::Sqlite(_) = self {
            return self.idempotency_keys().await;
        }
        let statement = Statement::new(
            "WITH mark AS MATERIALIZED ( \
               SELECT age((($1::bigint) % 4294967296)::text::xid) AS age, \
                 pg_snapshot_xmax(pg_current_snapshot())::text::bigint - $1 AS distance) \
             SELECT id, scope, idempotency_key FROM idempotency_responses, mark \
             WHERE mark.distance NOT BETWEEN 0 AND 2000000000 OR age(idempotency_responses.xmin) <= mark.age",
            vec![Value::I64(mark)],
        );
        self.query(statement, |r| Ok((r.i64(0)?, r.text(1)?, r.text(2)?))).await
    }

    /// Forgets idempotent responses created before `before`, a slice of ids per transaction:
    /// it runs while the shards commit (at start, after a long downtime, it may be millions of
    /// rows), and on SQLite one large delete would hold the write lock they need.
    pub async fn purge_idempotency_records(&self, before: Timestamp) -> Result<(), StoreError> {
        const SLICE: i64 = 10_000;
        let ends = Statement::new(
            "SELECT COALESCE(MIN(id), 0), COALESCE(MAX(id), -1) FROM idempotency_responses WHERE created_at < $1",
            vec![Value::I64(before.unix_ms())],
        );
        let (first, last) = self
            .query_row(ends, |r| Ok((r.i64(0)?, r.i64(1)?)), || "no ends".into())
            .await?;
        let mut from = first;
        while from <= last {
            let to = last.min(from + SLICE - 1);
            self.execute_atomically(vec![Statement::new(
                "DELETE FROM idempotency_responses WHERE id >= $1 AND id <= $2 AND created_at < $3",
                vec![Value::I64(from), Value::I64(to), Value::I64(before.unix_ms())],
            )])
            .await?;
            from = to + 1;
        }
        Ok(())
    }

    /// The highest id in use per table. A capability that allocates ids adds its table here.
    pub async fn id_maxima(&self) -> Result<IdMaxima, StoreError> {
        let sql = "SELECT
            (SELECT COALESCE(MAX(id), 0) FROM shops), (SELECT COALESCE(MAX(id), 0) FROM buyers),
            (SELECT COALESCE(MAX(id), 0) FROM products), (SELECT COALESCE(MAX(id), 0) FROM skus),
            (SELECT COALESCE(MAX(id), 0) FROM warehouses), (SELECT COALESCE(MAX(id), 0) FROM orders),
            (SELECT COALESCE(MAX(checkout_id), 0) FROM orders), (SELECT COALESCE(MAX(id), 0) FROM api_tokens),
            (SELECT COALESCE(MAX(id), 0) FROM flash_sales), (SELECT COALESCE(MAX(id), 0) FROM idempotency_responses),
            (SELECT COALESCE(MAX(id), 0) FROM payment_intents), (SELECT COALESCE(MAX(id), 0) FROM refunds),
            (SELECT COALESCE(MAX(id), 0) FROM one_tap_agreements),
            (SELECT COALESCE(MAX(id), 0) FROM provider_notifications),
            (SELECT COALESCE(MAX(id), 0) FROM shipments),
            (SELECT COALESCE(MAX(id), 0) FROM after_sales_requests),
            (SELECT COALESCE(MAX(id), 0) FROM diagnosis_reports),
            (SELECT COALESCE(MAX(id), 0) FROM staff_members), (SELECT COALESCE(MAX(id), 0) FROM staff_sessions),
            (SELECT COALESCE(MAX(id), 0) FROM audit_log), (SELECT COALESCE(MAX(id), 0) FROM penalties),
            (SELECT COALESCE(MAX(id), 0) FROM risk_decisions), (SELECT COALESCE(MAX(id), 0) FROM risk_challenges),
            (SELECT COALESCE(MAX(id), 0) FROM assistant_conversations),
            (SELECT COALESCE(MAX(id), 0) FROM webhook_endpoints), (SELECT COALESCE(MAX(id), 0) FROM webhook_deliveries)";
        self.query_row(
            Statement::new(sql, vec![]),
            |r| {
                Ok(IdMaxima {
                    shop: r.i64(0)?,
                    buyer: r.i64(1)?,
                    product: r.i64(2)?,
                    sku: r.i64(3)?,
                    warehouse: r.i64(4)?,
                    // A tap's decision carries the id its order would have had: one counter.
                    order: r.i64(5)?.max(r.i64(21)?),
                    checkout: r.i64(6)?,
                    token: r.i64(7)?,
                    flash_sale: r.i64(8)?,
                    idempotency_response: r.i64(9)?,
                    payment_intent: r.i64(10)?,
                    refund: r.i64(11)?,
                    one_tap_agreement: r.i64(12)?,
                    notification: r.i64(13)?,
                    shipment: r.i64(14)?,
                    after_sales: r.i64(15)?,
                    diagnosis_report: r.i64(16)?,
                    staff_member: r.i64(17)?,
                    staff_session: r.i64(18)?,
                    audit_entry: r.i64(19)?,
                    penalty: r.i64(20)?,
                    risk_challenge: r.i64(22)?,
                    conversation: r.i64(23)?,
                    webhook_endpoint: r.i64(24)?,
                    webhook_delivery: r.i64(25)?,
                })
            },
            || "no id maxima row".into(),
        )
        .await
    }
}
