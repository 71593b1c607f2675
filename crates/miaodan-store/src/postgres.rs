//! The production backend: PostgreSQL through tokio-postgres. Reads use a deadpool pool;
//! each shard writer has its own connection and pipelines a batch's statements inside one
//! transaction, so a batch costs one round trip per statement kind, not per row.
//!
//! Opening refuses a server that could lose acknowledged commits on power loss
//! (`fsync=off`, `synchronous_commit=off`, `full_page_writes=off`).

use crate::sql::{Row, RowInsert, Statement, Value, runs};
use crate::{Durability, Fence, Mapper, StoreError};
use bytes::BytesMut;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use std::collections::HashMap;
use std::error::Error;
use tokio_postgres::types::{IsNull, ToSql, Type};
use tokio_postgres::{Client, Config, NoTls};

/// Pooled read connections.
const READ_POOL_CONNECTIONS_MAX: usize = 16;

/// How long a connection attempt may take unless the URL says (`connect_timeout=`): without a
/// bound, an attempt to a host that drops packets waits for the operating system to give up,
/// minutes during which a shard rebuilding after a failed commit cannot come back.
const CONNECT_TIMEOUT_SECONDS: u64 = 10;

/// How long the server keeps a transaction of ours whose client sent nothing more
/// (`idle_in_transaction_session_timeout`) before it ends the session. Our transactions send
/// their statements without waiting on anything else, so only a client that stopped (a process
/// paused, or cut off without its connection closing) is idle in one that long; its locks would
/// otherwise hold up whoever takes its shards over (a batch commit holds its lease's row until it
/// commits), for as long as it stays stopped.
const IDLE_IN_TRANSACTION_MS: u64 = 10_000;

/// The connection settings of `url`, with [`CONNECT_TIMEOUT_SECONDS`] unless it sets its own.
fn server_config(url: &str) -> Result<Config, StoreError> {
    let mut config: Config = url.parse()?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(std::time::Duration::from_secs(CONNECT_TIMEOUT_SECONDS));
    }
    Ok(config)
}

/// Sets [`IDLE_IN_TRANSACTION_MS`] on a new connection: by a statement, not a startup option,
/// which a session-mode pooler may refuse or drop.
async fn settle_session(client: &Client) -> Result<(), tokio_postgres::Error> {
    client
        .batch_execute(&format!(
            "SET idle_in_transaction_session_timeout = {IDLE_IN_TRANSACTION_MS}"
        ))
        .await
}

impl ToSql for Value {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        match self {
            Value::I64(v) => v.to_sql(ty, out),
            Value::OptI64(v) => v.to_sql(ty, out),
            Value::Text(v) => v.to_sql(ty, out),
            Value::OptText(v) => v.to_sql(ty, out),
        }
    }

    fn accepts(ty: &Type) -> bool {
        <i64 as ToSql>::accepts(ty) || <String as ToSql>::accepts(ty)
    }

    fn to_sql_checked(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        match self {
            Value::I64(v) => v.to_sql_checked(ty, out),
            Value::OptI64(v) => v.to_sql_checked(ty, out),
            Value::Text(v) => v.to_sql_checked(ty, out),
            Value::OptText(v) => v.to_sql_checked(ty, out),
        }
    }
}

impl Row for tokio_postgres::Row {
    fn opt_i64(&self, idx: usize) -> Result<Option<i64>, StoreError> {
        Ok(self.try_get(idx)?)
    }
    fn opt_text(&self, idx: usize) -> Result<Option<String>, StoreError> {
        Ok(self.try_get(idx)?)
    }
}

fn params(statement: &Statement) -> Vec<&(dyn ToSql + Sync)> {
    statement.params.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

/// A column of a run's rows, sent as one array parameter.
type Param = Box<dyn ToSql + Sync + Send>;

/// What a statement the writer sends is bound to: a statement's own values, or the columns of
/// a run of rows.
enum Args<'a> {
    Row(&'a Statement),
    Columns(Vec<Param>),
}

pub struct PgStore {
    config: Config,
    pool: Pool,
    /// The leases the platform's own writes are made under (see [`crate::Store::hold`]).
    pub(crate) lease: std::sync::RwLock<crate::HeldLeases>,
}

pub struct PgWriter {
    client: Client,
    prepared: HashMap<String, tokio_postgres::Statement>,
    /// The server process behind this connection, to end it if a commit's fate is unknown.
    pub(crate) fence: Fence,
}

/// The server processes a [`Fence`] names: its PID, started when it says. After a restart of
/// the database server the PID may be another process's (one of another role shows no
/// `backend_start` at all), and that one is left alone.
const FENCED: &str = "FROM pg_stat_activity WHERE pid = $1
    AND (extract(epoch FROM backend_start) * 1000000)::int8 = $2";

async fn connect(config: &Config) -> Result<Client, StoreError> {
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::warn!(%error, "postgres connection closed");
        }
    });
    settle_session(&client).await?;
    Ok(client)
}

async fn check_durability(client: &Client, durability: Durability) -> Result<(), StoreError> {
    let mut weak = Vec::new();
    for (setting, unsafe_value) in [
        ("fsync", "off"),
        ("synchronous_commit", "off"),
        ("full_page_writes", "off"),
    ] {
        let value: String = client.query_one(&format!("SHOW {setting}"), &[]).await?.try_get(0)?;
        if value == unsafe_value {
            weak.push(format!("{setting}={value}"));
        }
    }
    match (weak.is_empty(), durability) {
        (true, _) => Ok(()),
        (false, Durability::AcceptDataLossOnPowerFailure) => {
            tracing::warn!(settings = %weak.join(", "), "PostgreSQL may lose acknowledged orders on power failure");
            Ok(())
        }
        (false, Durability::PowerLossSafe) => Err(StoreError::NotDurable(format!(
            "the PostgreSQL server runs with {}; fix the server or pass --accept-data-loss-on-power-failure",
            weak.join(", ")
        ))),
    }
}

/// The `application_name` prefix of a serving process's connections (see
/// [`PgStore::open_to_serve`]).
const SERVING_NAME_PREFIX: &str = "miaodan serve/";

impl PgStore {
    pub async fn open(url: &str, durability: Durability) -> Result<PgStore, StoreError> {
        PgStore::open_named(url, durability, None).await
    }

    /// Opens the store for the process that will serve from it, after ending every connection
    /// a previous serving process left on this database. A process killed mid-commit leaves
    /// its server processes running: a COMMIT they already received may land after this one
    /// read the ids in use and rebuilt its shards, and the next id given would then collide
    /// with a row nobody here knows. Ending them first (as [`PgStore::fence`] does for one
    /// failed writer) makes every earlier commit final before anything is read.
    pub async fn open_to_serve(url: &str, durability: Durability) -> Result<PgStore, StoreError> {
        let started_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_millis());
        let name = format!("{SERVING_NAME_PREFIX}{}-{started_ms}", std::process::id());
        PgStore::open_named(url, durability, Some(name)).await
    }

    async fn open_named(url: &str, durability: Durability, serving: Option<String>) -> Result<PgStore, StoreError> {
        let mut config = server_config(url)?;
        if let Some(name) = &serving {
            config.application_name(name);
        }
        let client = connect(&config).await?;
        check_durability(&client, durability).await?;
        if let Some(name) = &serving {
            end_previous_serving_connections(&client, name).await?;
        }
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let settled = deadpool_postgres::Hook::async_fn(|client: &mut deadpool_postgres::ClientWrapper, _| {
            Box::pin(async move {
                settle_session(client)
                    .await
                    .map_err(deadpool_postgres::HookError::Backend)
            })
        });
        let pool = Pool::builder(manager)
            .max_size(READ_POOL_CONNECTIONS_MAX)
            .post_create(settled)
            .build()
            .map_err(|e| StoreError::Worker(e.to_string()))?;
        Ok(PgStore {
            config,
            pool,
            lease: std::sync::RwLock::new(crate::HeldLeases::default()),
        })
    }

    pub async fn writer(&self) -> Result<PgWriter, StoreError> {
        let client = connect(&self.config).await?;
        let own = client
            .query_one(
                "SELECT pid, (extract(epoch FROM backend_start) * 1000000)::int8
                 FROM pg_stat_activity WHERE pid = pg_backend_pid()",
                &[],
            )
            .await?;
        let fence = Fence {
            backend_pid: own.try_get(0)?,
            backend_started_us: own.try_get(1)?,
        };
        Ok(PgWriter {
            client,
            prepared: HashMap::new(),
            fence,
        })
    }

    pub async fn query<T: Send + 'static>(&self, statement: Statement, map: Mapper<T>) -> Result<Vec<T>, StoreError> {
        let client = self.pool.get().await?;
        let prepared = client.prepare_cached(&statement.sql).await?;
        let rows = client.query(&prepared, &params(&statement)).await?;
        rows.iter().map(|row| map(row)).collect()
    }

    pub async fn execute_atomically(
        &self,
        guards: Vec<Statement>,
        statements: Vec<Statement>,
    ) -> Result<(), StoreError> {
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await?;
        for guard in &guards {
            let prepared = transaction.prepare_cached(&guard.sql).await?;
            if rows_held(&transaction, &prepared, &params(guard)).await? != 1 {
                return Err(StoreError::Fenced(guard.sql.to_string()));
            }
        }
        for statement in &statements {
            if statement.params.is_empty() {
                transaction.batch_execute(&statement.sql).await?;
            } else {
                let prepared = transaction.prepare_cached(&statement.sql).await?;
                transaction.execute(&prepared, &params(statement)).await?;
            }
        }
        transaction.commit().await?;
        Ok(())
    }
}

/// The advisory lock migrations take (any number the platform uses for nothing else).
const MIGRATION_LOCK: i64 = 0x006d_6961_6f64_616e;

impl PgStore {
    /// A connection of its own holding the database's migration lock, waited for if another
    /// process holds it; the lock goes when the connection is dropped.
    pub(crate) async fn migration_lock(&self) -> Result<Client, StoreError> {
        let client = connect(&self.config).await?;
        client
            .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        Ok(client)
    }

    /// A connection of its own holding advisory lock `key` (of this crate's two-key space), or
    /// `None` if another session holds it: the lock goes when the connection does, with the
    /// process that holds it.
    pub(crate) async fn session_lock(&self, key: (i32, i32)) -> Result<Option<Client>, StoreError> {
        let client = connect(&self.config).await?;
        let taken: bool = client
            .query_one("SELECT pg_try_advisory_lock($1, $2)", &[&key.0, &key.1])
            .await?
            .try_get(0)?;
        Ok(taken.then_some(client))
    }

    /// Whether nobody holds advisory lock `key`: taken and let go at once to find out.
    pub(crate) async fn session_lock_free(&self, key: (i32, i32)) -> Result<bool, StoreError> {
        let client = self.pool.get().await?;
        let sql = "SELECT CASE WHEN pg_try_advisory_lock($1, $2) THEN pg_advisory_unlock($1, $2) ELSE false END";
        Ok(client.query_one(sql, &[&key.0, &key.1]).await?.try_get(0)?)
    }

    /// Settles the fate of a commit that failed with the connection: a COMMIT already sent may
    /// still complete on the server after the client saw an error. Ending that server process
    /// (and waiting until it is gone) makes the outcome final, so a reload that follows reads
    /// the truth rather than a state the late commit then changes. If the database server
    /// restarted meanwhile, the process is gone already, and whatever now has its PID is not
    /// touched.
    pub async fn fence(&self, fence: Fence) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        let named: [&(dyn ToSql + Sync); 2] = [&fence.backend_pid, &fence.backend_started_us];
        client
            .execute(&format!("SELECT pg_terminate_backend(pid) {FENCED}"), &named)
            .await?;
        for _ in 0..FENCE_POLLS_MAX {
            let alive: i64 = client
                .query_one(&format!("SELECT COUNT(*) {FENCED}"), &named)
                .await?
                .try_get(0)?;
            if alive == 0 {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(FENCE_POLL_MS)).await;
        }
        Err(StoreError::Worker(format!("backend {} did not end", fence.backend_pid)))
    }
}

/// Ends the connections of every other serving process on this database and waits until they
/// are gone.
async fn end_previous_serving_connections(client: &Client, ours: &str) -> Result<(), StoreError> {
    let others = "FROM pg_stat_activity WHERE datname = current_database()
        AND starts_with(application_name, $1) AND application_name <> $2";
    let prefix = SERVING_NAME_PREFIX.to_string();
    let ours = ours.to_string();
    let ended = client
        .query(&format!("SELECT pg_terminate_backend(pid) {others}"), &[&prefix, &ours])
        .await?;
    if !ended.is_empty() {
        tracing::warn!(
            connections = ended.len(),
            "ended a previous serving process's connections"
        );
    }
    for _ in 0..FENCE_POLLS_MAX {
        let alive: i64 = client
            .query_one(&format!("SELECT COUNT(*) {others}"), &[&prefix, &ours])
            .await?
            .try_get(0)?;
        if alive == 0 {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(FENCE_POLL_MS)).await;
    }
    Err(StoreError::Worker(
        "a previous serving process's connections did not end".into(),
    ))
}

/// How long `fence` waits for the old server process to end: 100 polls of 50 ms.
const FENCE_POLLS_MAX: u32 = 100;
const FENCE_POLL_MS: u64 = 50;

impl PgStore {
    /// Runs one statement on its own (the database commits it whatever the client does after
    /// sending it) and gives how many rows it changed.
    pub async fn execute_alone(&self, statement: &Statement) -> Result<u64, StoreError> {
        let client = self.pool.get().await?;
        let prepared = client.prepare_cached(&statement.sql).await?;
        Ok(client.execute(&prepared, &params(statement)).await?)
    }
}

/// The rows a guard found (a `SELECT`, whose rows are counted here rather than from the command
/// tag) or changed.
async fn rows_held(
    transaction: &tokio_postgres::Transaction<'_>,
    prepared: &tokio_postgres::Statement,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, tokio_postgres::Error> {
    match prepared.columns().is_empty() {
        true => transaction.execute(prepared, params).await,
        false => Ok(transaction.query(prepared, params).await?.len() as u64),
    }
}

impl PgWriter {
    /// Runs `guard` (if any), then `statements`, in one transaction, pipelined; a guard that
    /// does not find or change exactly one row undoes it all ([`StoreError::Fenced`]), whatever
    /// the statements after it did.
    pub async fn execute_atomically(
        &mut self,
        guard: Option<Statement>,
        statements: Vec<Statement>,
    ) -> Result<(), StoreError> {
        let runs = runs(&statements);
        let mut writes = Vec::with_capacity(runs.len());
        let guarding = match &guard {
            Some(guard) => Some((self.prepare(&guard.sql).await?, guard)),
            None => None,
        };
        for run in runs {
            let statement = &statements[run.first];
            let prepared = self.prepare(&statement.sql).await?;
            if run.rows == 1 {
                writes.push((prepared, Args::Row(statement)));
                continue;
            }
            let rows = &statements[run.first..run.first + run.rows];
            let (sql, columns) = unnest(&statement.sql, prepared.params(), rows)?;
            writes.push((self.prepare(&sql).await?, Args::Columns(columns)));
        }
        let transaction = self.client.transaction().await?;
        // Issued together, the statements are pipelined on the connection and run in order.
        let executions = writes.iter().map(|(prepared, args)| {
            let params: Vec<&(dyn ToSql + Sync)> = match args {
                Args::Row(statement) => params(statement),
                Args::Columns(columns) => columns.iter().map(|c| c.as_ref() as &(dyn ToSql + Sync)).collect(),
            };
            let transaction = &transaction;
            async move { transaction.execute(prepared, &params).await }
        });
        // The guard is issued first, so it runs first; its answer is judged before the
        // statements' errors (a statement may fail because another process owns the shard now).
        let held = async {
            match &guarding {
                Some((prepared, guard)) => rows_held(&transaction, prepared, &params(guard)).await,
                None => Ok(1),
            }
        };
        let (held, done) = futures::future::join(held, futures::future::join_all(executions)).await;
        if held? != 1 {
            // Dropped uncommitted: rolled back.
            let sql = guard.map(|g| g.sql.to_string()).unwrap_or_default();
            return Err(StoreError::Fenced(sql));
        }
        for result in done {
            result?;
        }
        transaction.commit().await?;
        Ok(())
    }

    async fn prepare(&mut self, sql: &str) -> Result<tokio_postgres::Statement, StoreError> {
        if let Some(prepared) = self.prepared.get(sql) {
            return Ok(prepared.clone());
        }
        let prepared = self.client.prepare(sql).await?;
        self.prepared.insert(sql.to_string(), prepared.clone());
        Ok(prepared)
    }
}

/// A run of row inserts of one text ([`RowInsert`]) as ONE statement,
/// `INSERT INTO t (…) SELECT * FROM UNNEST($1::int8[], $2::text[], …)`, with one array per
/// column: the server plans and executes once for the run instead of once per row. The
/// element types are the ones the server gave the single-row statement's parameters.
fn unnest(sql: &str, types: &[Type], rows: &[Statement]) -> Result<(String, Vec<Param>), StoreError> {
    let shape = RowInsert::of(sql).ok_or_else(|| StoreError::Worker("not a row insert".into()))?;
    let arrays: Vec<String> = types
        .iter()
        .enumerate()
        .map(|(i, ty)| format!("${}::{}[]", i + 1, ty.name()))
        .collect();
    let sql = format!(
        "{} SELECT * FROM UNNEST({}) {}",
        shape.head,
        arrays.join(", "),
        shape.on_conflict
    );
    let mut columns: Vec<Param> = Vec::with_capacity(types.len());
    for (column, ty) in types.iter().enumerate() {
        let values = rows.iter().map(|row| &row.params[column]);
        columns.push(if *ty == Type::INT8 {
            let ints: Result<Vec<Option<i64>>, StoreError> = values
                .map(|value| match value {
                    Value::I64(v) => Ok(Some(*v)),
                    Value::OptI64(v) => Ok(*v),
                    other => Err(StoreError::Worker(format!("{other:?} in an int8 column"))),
                })
                .collect();
            Box::new(ints?)
        } else {
            let texts: Result<Vec<Option<String>>, StoreError> = values
                .map(|value| match value {
                    Value::Text(v) => Ok(Some(v.clone())),
                    Value::OptText(v) => Ok(v.clone()),
                    other => Err(StoreError::Worker(format!("{other:?} in a {ty} column"))),
                })
                .collect();
            Box::new(texts?)
        });
    }
    Ok((sql, columns))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_attempt_is_bounded_unless_the_url_bounds_it_itself() {
        let bounded = server_config("postgres://miaodan@127.0.0.1:5432/miaodan").expect("a url");
        let bound = std::time::Duration::from_secs(CONNECT_TIMEOUT_SECONDS);
        assert_eq!(bounded.get_connect_timeout(), Some(&bound));
        let own = server_config("postgres://miaodan@127.0.0.1:5432/miaodan?connect_timeout=2").expect("a url");
        assert_eq!(own.get_connect_timeout(), Some(&std::time::Duration::from_secs(2)));
    }
}
