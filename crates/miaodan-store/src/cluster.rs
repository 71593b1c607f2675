//! Who serves this database: the processes running on it (members), and which of them owns
//! each shard (leases with fencing epochs).
//!
//! A shard is written by the holder of its lease only. Taking a lease raises its epoch; every
//! batch commit of a shard's [`crate::Writer`] first runs [`ShardLease::guard`] in its own
//! transaction, which changes the lease's row only while the epoch is still the writer's, and
//! holds that row's lock until the commit. So a taking of the lease waits for a commit already
//! under way, and a commit after the taking changes no row and is rolled back
//! ([`crate::StoreError::Fenced`]): a former owner paused past its lease, or cut off from its
//! peers but not from the database, can never commit again. Safety rests on the epoch, not on
//! clocks; `expires_at_ms` only says when another process may take a lease whose holder went
//! silent. It is read and written with the database's clock (`{NOW_MS}`), as the members'
//! heartbeats are: processes on machines whose clocks differ agree on it.

use crate::migrations::Dialect;
use crate::sql::{Statement, Value};
use crate::{Store, StoreError};

/// A shard's lease as its holder knows it: what its writer commits under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShardLease {
    pub shard: u32,
    /// The member holding it ([`Member::id`]).
    pub owner: i64,
    /// Raised by each taking of the lease.
    pub epoch: i64,
}

impl ShardLease {
    /// The statement a write under this lease runs first: it finds the lease's row only while
    /// this lease is still the shard's, and on PostgreSQL holds a share lock on it until the
    /// commit. A taking (an `UPDATE` of the row) therefore waits for every write under way and
    /// is seen by every write after it, while the writes under one lease (a shard's commits,
    /// the platform's own writes) share the lock and never wait on each other. SQLite runs one
    /// writing transaction at a time, so finding the row is enough there.
    pub(crate) fn guard(&self, dialect: Dialect) -> Statement {
        let sql = match dialect {
            Dialect::Sqlite => GUARD,
            Dialect::Postgres => GUARD_FOR_SHARE,
        };
        Statement::new(
            sql,
            vec![
                Value::I64(i64::from(self.shard)),
                Value::I64(self.owner),
                Value::I64(self.epoch),
            ],
        )
    }
}

/// A shard's lease as stored: who holds it, under which epoch, for how long yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredLease {
    pub shard: u32,
    /// 0 when no process ever held it.
    pub owner: i64,
    pub epoch: i64,
    /// How long it lives yet by the database's clock; 0 or less: expired or given back.
    pub expires_in_ms: i64,
}

/// A process serving this database, as it registered itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub id: i64,
    /// Where it takes requests (`http://host:port`).
    pub address: String,
    /// `holder` (it holds a share of the shards' leases) or `joining` (it holds none yet).
    pub role: String,
    /// When it registered, in Unix milliseconds of the database's clock.
    pub started_at_ms: i64,
    /// How long ago it last said it was alive, by the database's clock.
    pub heartbeat_age_ms: i64,
    /// Its wire shape (its build, as members tell builds apart); empty for a member of a build
    /// before migration 30.
    pub wire: String,
}

/// Which leases a taking may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Taking {
    /// Every lease, whoever holds it: the process that is the platform's only one (`miaodan
    /// serve` without `--cluster`). A former holder still running is fenced by the new epochs.
    Whatever,
    /// Only leases given back or expired: a member of a cluster taking over.
    Expired,
    /// Leases given back, expired, or held by this member, whose process is gone
    /// ([`Store::member_gone`]): a member of a cluster taking over from a killed member at once.
    ExpiredOrFrom(i64),
}

/// A member's sign of life that needs no clock (PostgreSQL): a session advisory lock on a
/// connection of its own, which PostgreSQL lets go the moment that connection closes — when the
/// process is killed, its socket is closed by the kernel. So a member sees a killed holder gone
/// at once ([`Store::member_gone`]) instead of after its leases expire. A holder that is paused,
/// or cut off from the database without its connection closing, keeps the lock: then the leases'
/// expiry decides, as without it. Only ever a shortcut to a takeover the epochs make safe anyway.
/// Dropped, the connection closes and the lock goes.
pub struct Liveness {
    connection: Option<tokio_postgres::Client>,
}

impl Liveness {
    /// Whether its connection still answers (within a second). When it does not (the database
    /// restarted, an operator or an idle timeout ended the session), the lock went with it and
    /// must be taken again, or the others take this member for gone.
    pub async fn still_held(&self) -> bool {
        let Some(connection) = &self.connection else {
            return true;
        };
        let asked = connection.simple_query("SELECT 1");
        matches!(
            tokio::time::timeout(std::time::Duration::from_secs(1), asked).await,
            Ok(Ok(_))
        )
    }
}

/// The advisory lock of member `id`: the two-key space (apart from the migration lock's one
/// key), under this crate's namespace, the id folded to 32 bits. Two members whose ids fold alike
/// only lose the shortcut: the second cannot take its sign of life, and a live one's lock makes
/// the other look alive.
fn liveness_key(member: i64) -> (i32, i32) {
    const NAMESPACE: i32 = 0x6d64_6c76; // "mdlv"
    let folded = (member as u64 ^ (member as u64 >> 32)) as u32;
    (NAMESPACE, folded as i32)
}

impl Store {
    /// Holds member `member`'s sign of life until the answer is dropped (nothing on SQLite,
    /// which serves one process); `None` while another session holds it (this member's former
    /// connection, not yet ended by the database, or a member whose id folds alike).
    pub async fn hold_liveness(&self, member: i64) -> Result<Option<Liveness>, StoreError> {
        let connection = match self {
            Store::Postgres(p) => match p.session_lock(liveness_key(member)).await? {
                Some(connection) => Some(connection),
                None => return Ok(None),
            },
            Store::Sqlite(_) => None,
        };
        Ok(Some(Liveness { connection }))
    }

    /// Whether member `member`'s sign of life is held by nobody: its process is gone, or it
    /// never took one (a process of an older build), or it is taking it again after losing its
    /// connection. The caller tells these apart (`miaodan_server::cluster::Membership::watch_member`).
    /// Never on SQLite.
    pub async fn member_gone(&self, member: i64) -> Result<bool, StoreError> {
        match self {
            Store::Postgres(p) => p.session_lock_free(liveness_key(member)).await,
            Store::Sqlite(_) => Ok(false),
        }
    }
}

const DRAW_SECRET: &str = "INSERT INTO cluster_secret (id, secret) VALUES (1, $1) ON CONFLICT (id) DO NOTHING";
const SECRET: &str = "SELECT secret FROM cluster_secret WHERE id = 1";

impl Store {
    /// The secret the processes serving this database show each other (migration 30): the one
    /// stored, or `drawn` if none was (the first process to ask draws it).
    pub async fn member_secret(&self, drawn: &str) -> Result<String, StoreError> {
        let draw = Statement::new(DRAW_SECRET, vec![Value::Text(drawn.into())]);
        self.execute_guarded(Vec::new(), vec![draw]).await?;
        self.query_row(
            Statement::new(SECRET, vec![]),
            |r| r.text(0),
            || "no cluster secret stored".into(),
        )
        .await
    }
}

/// The database's clock in Unix milliseconds, in each dialect.
fn now_ms(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)",
        Dialect::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
    }
}

const GUARD: &str = "SELECT 1 FROM shard_leases WHERE shard = $1 AND owner = $2 AND epoch = $3";
const GUARD_FOR_SHARE: &str = "SELECT 1 FROM shard_leases WHERE shard = $1 AND owner = $2 AND epoch = $3 FOR SHARE";
const LEASE_ROW: &str = "INSERT INTO shard_leases (shard, owner, epoch, expires_at_ms) VALUES ($1, 0, 0, 0)
    ON CONFLICT (shard) DO NOTHING";
/// `$4`: 1 to take the lease whoever holds it; `$5`: a member whose leases may be taken (0: none).
const TAKE_LEASE: &str = "UPDATE shard_leases SET owner = $1, epoch = epoch + 1, expires_at_ms = {NOW_MS} + $2
    WHERE shard = $3 AND (CAST($4 AS BIGINT) = 1 OR expires_at_ms <= {NOW_MS} OR owner = CAST($5 AS BIGINT))";
const RENEW_LEASE: &str =
    "UPDATE shard_leases SET expires_at_ms = {NOW_MS} + $1 WHERE shard = $2 AND owner = $3 AND epoch = $4";
const GIVE_BACK_LEASE: &str =
    "UPDATE shard_leases SET expires_at_ms = 0 WHERE shard = $1 AND owner = $2 AND epoch = $3";

impl Store {
    /// A statement of this module's with the database's clock spelled in.
    fn timed(&self, sql: &str, params: Vec<Value>) -> Statement {
        Statement::owned(sql.replace("{NOW_MS}", now_ms(self.dialect())), params)
    }

    /// Takes the leases of `shards` for `owner` for `ttl_ms`, all or none: `None` when one of
    /// them is held by a live process (never with [`Taking::Whatever`]). A commit of the former
    /// holder still under way finishes first; any later one is fenced. The leases come back in
    /// the order of `shards`.
    pub async fn take_leases(
        &self,
        owner: i64,
        shards: &[u32],
        ttl_ms: i64,
        taking: Taking,
    ) -> Result<Option<Vec<ShardLease>>, StoreError> {
        let rows = shards
            .iter()
            .map(|shard| Statement::new(LEASE_ROW, vec![Value::I64(i64::from(*shard))]))
            .collect();
        self.execute_guarded(Vec::new(), rows).await?;
        let whatever = Value::I64(i64::from(taking == Taking::Whatever));
        let from = Value::I64(match taking {
            Taking::ExpiredOrFrom(gone) if gone != owner => gone,
            _ => 0,
        });
        let takings = shards
            .iter()
            .map(|shard| {
                let shard = Value::I64(i64::from(*shard));
                let params = vec![
                    Value::I64(owner),
                    Value::I64(ttl_ms),
                    shard,
                    whatever.clone(),
                    from.clone(),
                ];
                self.timed(TAKE_LEASE, params)
            })
            .collect();
        match self.execute_guarded(takings, Vec::new()).await {
            Ok(()) => {}
            Err(StoreError::Fenced(_)) => return Ok(None),
            Err(error) => return Err(error),
        }
        let held = self.shard_leases().await?;
        let mine: Vec<ShardLease> = shards
            .iter()
            .filter_map(|shard| held.iter().find(|lease| lease.shard == *shard && lease.owner == owner))
            .map(|lease| ShardLease {
                shard: lease.shard,
                owner,
                epoch: lease.epoch,
            })
            .collect();
        if mine.len() != shards.len() {
            return Err(StoreError::corrupt(format!(
                "took {} shard leases but hold {}",
                shards.len(),
                mine.len()
            )));
        }
        Ok(Some(mine))
    }

    /// Extends `lease` to `ttl_ms` from now; [`StoreError::Fenced`] if another process took it.
    pub async fn renew_lease(&self, lease: ShardLease, ttl_ms: i64) -> Result<(), StoreError> {
        let renewal = self.timed(
            RENEW_LEASE,
            vec![
                Value::I64(ttl_ms),
                Value::I64(i64::from(lease.shard)),
                Value::I64(lease.owner),
                Value::I64(lease.epoch),
            ],
        );
        // One statement on its own, not a transaction the client commits: a holder paused (or
        // cut off) between a renewal's UPDATE and its COMMIT would keep the lease's row locked,
        // and a member taking over would wait for it to resume.
        match self {
            Store::Postgres(p) => match p.execute_alone(&renewal).await? {
                1 => Ok(()),
                _ => Err(StoreError::Fenced(renewal.sql.to_string())),
            },
            Store::Sqlite(_) => self.execute_guarded(vec![renewal], Vec::new()).await,
        }
    }

    /// Gives `lease` back, so another process may take it at once; a lease taken meanwhile by
    /// another process is left alone.
    pub async fn give_back_lease(&self, lease: ShardLease) -> Result<(), StoreError> {
        let giving = Statement::new(
            GIVE_BACK_LEASE,
            vec![
                Value::I64(i64::from(lease.shard)),
                Value::I64(lease.owner),
                Value::I64(lease.epoch),
            ],
        );
        self.execute_guarded(Vec::new(), vec![giving]).await
    }

    /// Every shard's lease, by shard.
    pub async fn shard_leases(&self) -> Result<Vec<StoredLease>, StoreError> {
        let statement = self.timed(
            "SELECT shard, owner, epoch, expires_at_ms - {NOW_MS} FROM shard_leases ORDER BY shard",
            vec![],
        );
        self.query(statement, |row| {
            Ok(StoredLease {
                shard: u32::try_from(row.i64(0)?).map_err(|e| StoreError::corrupt(e.to_string()))?,
                owner: row.i64(1)?,
                epoch: row.i64(2)?,
                expires_in_ms: row.i64(3)?,
            })
        })
        .await
    }

    /// Registers member `id` (where it takes requests, its role, its wire shape), or says it is
    /// alive and gives its role now.
    pub async fn heartbeat(&self, id: i64, address: &str, role: &str, wire: &str) -> Result<(), StoreError> {
        let statement = self.timed(
            "INSERT INTO cluster_members (id, address, role, started_at_ms, heartbeat_at_ms, wire)
             VALUES ($1, $2, $3, {NOW_MS}, {NOW_MS}, $4)
             ON CONFLICT (id) DO UPDATE SET role = excluded.role, heartbeat_at_ms = excluded.heartbeat_at_ms",
            vec![
                Value::I64(id),
                Value::Text(address.into()),
                Value::Text(role.into()),
                Value::Text(wire.into()),
            ],
        );
        self.execute_guarded(Vec::new(), vec![statement]).await
    }

    /// Removes member `id`: it stopped.
    pub async fn forget_member(&self, id: i64) -> Result<(), StoreError> {
        let statement = Statement::new("DELETE FROM cluster_members WHERE id = $1", vec![Value::I64(id)]);
        self.execute_guarded(Vec::new(), vec![statement]).await
    }

    /// Removes every member silent for more than `silent_ms`.
    pub async fn forget_silent_members(&self, silent_ms: i64) -> Result<(), StoreError> {
        let statement = self.timed(
            "DELETE FROM cluster_members WHERE heartbeat_at_ms < {NOW_MS} - $1",
            vec![Value::I64(silent_ms)],
        );
        self.execute_guarded(Vec::new(), vec![statement]).await
    }

    /// Every registered member, oldest first.
    pub async fn members(&self) -> Result<Vec<Member>, StoreError> {
        let statement = self.timed(
            "SELECT id, address, role, started_at_ms, {NOW_MS} - heartbeat_at_ms, wire FROM cluster_members
             ORDER BY started_at_ms, id",
            vec![],
        );
        self.query(statement, |row| {
            Ok(Member {
                id: row.i64(0)?,
                address: row.text(1)?,
                role: row.text(2)?,
                started_at_ms: row.i64(3)?,
                heartbeat_age_ms: row.i64(4)?,
                wire: row.text(5)?,
            })
        })
        .await
    }
}
