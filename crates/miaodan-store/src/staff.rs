//! Staff accounts, their console sessions and the audit log on disk. None of it belongs to a
//! shard: each write is its own small transaction (with the idempotent response of the request
//! that made it, when there is one).
//!
//! A session row holds only the SHA-256 of its cookie's secret; a member row only the argon2id
//! PHC string of the password.

use crate::platform::idempotency_statement;
use crate::records::IdempotencyRecord;
use crate::sql::{Conditions, Row, Statement, Value, ms};
use crate::{Store, StoreError};
use miaodan_domain::staff::{Login, StaffRole};
use miaodan_domain::{ShopId, Timestamp};

/// A staff member as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaffMember {
    pub id: i64,
    /// `None` for a platform admin.
    pub shop: Option<ShopId>,
    pub login: Login,
    pub name: String,
    pub role: StaffRole,
    /// The argon2id PHC string.
    pub password_hash: String,
    pub created_at: Timestamp,
    pub disabled_at: Option<Timestamp>,
}

/// A console session as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaffSession {
    pub id: i64,
    pub staff: i64,
    /// The member's shop (copied, so that a shop's sessions list without a join).
    pub shop: Option<ShopId>,
    pub secret_sha256: String,
    pub csrf_token: String,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    /// The absolute end of the session, whatever its use.
    pub expires_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// One line of the audit log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: i64,
    /// `None`: a platform action (a platform admin's, or made with an admin token).
    pub shop: Option<ShopId>,
    /// `None`: made with an API token.
    pub staff: Option<i64>,
    pub method: String,
    /// The matched route template, e.g. `/v1/orders/{order_id}/cancel`.
    pub route: String,
    /// The path as requested.
    pub path: String,
    pub status: u16,
    pub at: Timestamp,
}

/// Which lines of the audit log to read, newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// `None`: every shop's and the platform's lines.
    pub shop: Option<ShopId>,
    pub staff: Option<i64>,
    pub before: Option<i64>,
    pub limit: i64,
}

/// Which sessions to read, newest first: those still usable at `now` (not revoked, not past
/// their absolute expiry, used within `idle_since`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionFilter {
    pub shop: Option<ShopId>,
    pub staff: Option<i64>,
    pub now: Timestamp,
    pub idle_since: Timestamp,
    pub before: Option<i64>,
    pub limit: i64,
}

const MEMBER_COLUMNS: &str = "id, shop_id, login, name, role, password_hash, created_at, disabled_at";
const SESSION_COLUMNS: &str =
    "id, staff_id, shop_id, secret_sha256, csrf_token, created_at, last_seen_at, expires_at, revoked_at";
const AUDIT_COLUMNS: &str = "id, shop_id, staff_id, method, route, path, status, at_ms";

fn shop_of(raw: Option<i64>) -> Result<Option<ShopId>, StoreError> {
    raw.map(|raw| crate::sql::id(raw, ShopId::new)).transpose()
}

fn member_row(row: &dyn Row) -> Result<StaffMember, StoreError> {
    let role = row.text(4)?;
    Ok(StaffMember {
        id: row.i64(0)?,
        shop: shop_of(row.opt_i64(1)?)?,
        login: Login::from_stored(row.text(2)?),
        name: row.text(3)?,
        role: StaffRole::parse(&role).ok_or_else(|| StoreError::corrupt(format!("unknown staff role {role}")))?,
        password_hash: row.text(5)?,
        created_at: ms(row.i64(6)?),
        disabled_at: row.opt_i64(7)?.map(ms),
    })
}

fn session_row(row: &dyn Row) -> Result<StaffSession, StoreError> {
    Ok(StaffSession {
        id: row.i64(0)?,
        staff: row.i64(1)?,
        shop: shop_of(row.opt_i64(2)?)?,
        secret_sha256: row.text(3)?,
        csrf_token: row.text(4)?,
        created_at: ms(row.i64(5)?),
        last_seen_at: ms(row.i64(6)?),
        expires_at: ms(row.i64(7)?),
        revoked_at: row.opt_i64(8)?.map(ms),
    })
}

fn audit_row(row: &dyn Row) -> Result<AuditEntry, StoreError> {
    let status = row.i64(6)?;
    Ok(AuditEntry {
        id: row.i64(0)?,
        shop: shop_of(row.opt_i64(1)?)?,
        staff: row.opt_i64(2)?,
        method: row.text(3)?,
        route: row.text(4)?,
        path: row.text(5)?,
        status: u16::try_from(status).map_err(|_| StoreError::corrupt(format!("status {status}")))?,
        at: ms(row.i64(7)?),
    })
}

fn member_values(member: &StaffMember) -> Vec<Value> {
    vec![
        Value::I64(member.id),
        Value::OptI64(member.shop.map(ShopId::get)),
        Value::Text(member.login.as_str().into()),
        Value::Text(member.name.clone()),
        Value::Text(member.role.as_str().into()),
        Value::Text(member.password_hash.clone()),
        Value::I64(member.created_at.unix_ms()),
        Value::OptI64(member.disabled_at.map(Timestamp::unix_ms)),
    ]
}

const INSERT_MEMBER: &str = "INSERT INTO staff_members
    (id, shop_id, login, name, role, password_hash, created_at, disabled_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
/// Parameters are numbered in order of first use (SQLite numbers them so): the id comes last.
const UPDATE_MEMBER: &str = "UPDATE staff_members SET shop_id = $1, login = $2, name = $3, role = $4,
    password_hash = $5, created_at = $6, disabled_at = $7 WHERE id = $8";
const INSERT_SESSION: &str = "INSERT INTO staff_sessions
    (id, staff_id, shop_id, secret_sha256, csrf_token, created_at, last_seen_at, expires_at, revoked_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
const REVOKE_SESSIONS_OF: &str = "UPDATE staff_sessions SET revoked_at = $1 WHERE staff_id = $2 AND revoked_at IS NULL";
const REVOKE_SESSION: &str = "UPDATE staff_sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL";
const TOUCH_SESSION: &str = "UPDATE staff_sessions SET last_seen_at = $1 WHERE id = $2 AND last_seen_at < $1";
const INSERT_AUDIT: &str = "INSERT INTO audit_log (id, shop_id, staff_id, method, route, path, status, at_ms)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

impl Store {
    /// Adds a member; the caller has made sure its login is free.
    pub async fn insert_staff_member(
        &self,
        member: &StaffMember,
        response: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        let mut statements = vec![Statement::new(INSERT_MEMBER, member_values(member))];
        statements.extend(response.map(idempotency_statement));
        self.execute_atomically(statements).await
    }

    /// Saves a member as it now is; `end_sessions_at` revokes all of its sessions too (in the
    /// same transaction: a disabled member has no usable session once this returns).
    pub async fn save_staff_member(
        &self,
        member: &StaffMember,
        end_sessions_at: Option<Timestamp>,
        response: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        let mut values = member_values(member);
        values.rotate_left(1);
        let mut statements = vec![Statement::new(UPDATE_MEMBER, values)];
        statements.extend(end_sessions_at.map(|at| {
            Statement::new(
                REVOKE_SESSIONS_OF,
                vec![Value::I64(at.unix_ms()), Value::I64(member.id)],
            )
        }));
        statements.extend(response.map(idempotency_statement));
        self.execute_atomically(statements).await
    }

    pub async fn staff_member(&self, id: i64) -> Result<Option<StaffMember>, StoreError> {
        let sql = format!("SELECT {MEMBER_COLUMNS} FROM staff_members WHERE id = $1");
        let rows = self
            .query(Statement::owned(sql, vec![Value::I64(id)]), member_row)
            .await?;
        Ok(rows.into_iter().next())
    }

    pub async fn staff_member_by_login(&self, login: &str) -> Result<Option<StaffMember>, StoreError> {
        let sql = format!("SELECT {MEMBER_COLUMNS} FROM staff_members WHERE login = $1");
        let rows = self
            .query(Statement::owned(sql, vec![Value::Text(login.into())]), member_row)
            .await?;
        Ok(rows.into_iter().next())
    }

    /// A shop's members (or, with `None`, everyone's), by id.
    pub async fn staff_members(
        &self,
        shop: Option<ShopId>,
        after: Option<i64>,
        limit: i64,
    ) -> Result<Vec<StaffMember>, StoreError> {
        let mut conditions = Conditions::default();
        if let Some(shop) = shop {
            conditions.and("shop_id = ?", vec![Value::I64(shop.get())]);
        }
        if let Some(after) = after {
            conditions.and("id > ?", vec![Value::I64(after)]);
        }
        let head = format!("{MEMBER_COLUMNS} FROM staff_members");
        self.query(conditions.select(&head, "ORDER BY id", limit), member_row)
            .await
    }

    pub async fn insert_staff_session(&self, session: &StaffSession) -> Result<(), StoreError> {
        let values = vec![
            Value::I64(session.id),
            Value::I64(session.staff),
            Value::OptI64(session.shop.map(ShopId::get)),
            Value::Text(session.secret_sha256.clone()),
            Value::Text(session.csrf_token.clone()),
            Value::I64(session.created_at.unix_ms()),
            Value::I64(session.last_seen_at.unix_ms()),
            Value::I64(session.expires_at.unix_ms()),
            Value::OptI64(session.revoked_at.map(Timestamp::unix_ms)),
        ];
        self.execute_atomically(vec![Statement::new(INSERT_SESSION, values)])
            .await
    }

    /// The session whose secret hashes to `secret_sha256`, with its member.
    pub async fn staff_session_by_secret(
        &self,
        secret_sha256: &str,
    ) -> Result<Option<(StaffSession, StaffMember)>, StoreError> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM staff_sessions WHERE secret_sha256 = $1");
        let sessions = self
            .query(
                Statement::owned(sql, vec![Value::Text(secret_sha256.into())]),
                session_row,
            )
            .await?;
        let Some(session) = sessions.into_iter().next() else {
            return Ok(None);
        };
        let member = self
            .staff_member(session.staff)
            .await?
            .ok_or_else(|| StoreError::corrupt(format!("session {} of no member", session.id)))?;
        Ok(Some((session, member)))
    }

    pub async fn staff_session(&self, id: i64) -> Result<Option<StaffSession>, StoreError> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM staff_sessions WHERE id = $1");
        let rows = self
            .query(Statement::owned(sql, vec![Value::I64(id)]), session_row)
            .await?;
        Ok(rows.into_iter().next())
    }

    /// Notes a session's use (never moves it back).
    pub async fn touch_staff_session(&self, id: i64, at: Timestamp) -> Result<(), StoreError> {
        let values = vec![Value::I64(at.unix_ms()), Value::I64(id)];
        self.execute_atomically(vec![Statement::new(TOUCH_SESSION, values)])
            .await
    }

    /// Ends a session (a second revocation keeps the first one's time).
    pub async fn revoke_staff_session(&self, id: i64, at: Timestamp) -> Result<(), StoreError> {
        let values = vec![Value::I64(at.unix_ms()), Value::I64(id)];
        self.execute_atomically(vec![Statement::new(REVOKE_SESSION, values)])
            .await
    }

    /// The sessions still usable, newest first.
    pub async fn staff_sessions(&self, filter: &SessionFilter) -> Result<Vec<StaffSession>, StoreError> {
        let mut conditions = Conditions::default();
        if let Some(shop) = filter.shop {
            conditions.and("shop_id = ?", vec![Value::I64(shop.get())]);
        }
        if let Some(staff) = filter.staff {
            conditions.and("staff_id = ?", vec![Value::I64(staff)]);
        }
        conditions.and("revoked_at IS NULL", vec![]);
        conditions.and("expires_at > ?", vec![Value::I64(filter.now.unix_ms())]);
        conditions.and("last_seen_at > ?", vec![Value::I64(filter.idle_since.unix_ms())]);
        if let Some(before) = filter.before {
            conditions.and("id < ?", vec![Value::I64(before)]);
        }
        let head = format!("{SESSION_COLUMNS} FROM staff_sessions");
        self.query(conditions.select(&head, "ORDER BY id DESC", filter.limit), session_row)
            .await
    }

    pub async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        let values = vec![
            Value::I64(entry.id),
            Value::OptI64(entry.shop.map(ShopId::get)),
            Value::OptI64(entry.staff),
            Value::Text(entry.method.clone()),
            Value::Text(entry.route.clone()),
            Value::Text(entry.path.clone()),
            Value::I64(i64::from(entry.status)),
            Value::I64(entry.at.unix_ms()),
        ];
        self.execute_atomically(vec![Statement::new(INSERT_AUDIT, values)])
            .await
    }

    /// Lines of the audit log, newest first.
    pub async fn audit_log(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
        let mut conditions = Conditions::default();
        if let Some(shop) = filter.shop {
            conditions.and("shop_id = ?", vec![Value::I64(shop.get())]);
        }
        if let Some(staff) = filter.staff {
            conditions.and("staff_id = ?", vec![Value::I64(staff)]);
        }
        if let Some(before) = filter.before {
            conditions.and("id < ?", vec![Value::I64(before)]);
        }
        let head = format!("{AUDIT_COLUMNS} FROM audit_log");
        self.query(conditions.select(&head, "ORDER BY id DESC", filter.limit), audit_row)
            .await
    }
}
