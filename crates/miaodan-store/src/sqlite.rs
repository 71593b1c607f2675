//! The embedded backend: one SQLite file in WAL mode with `synchronous=FULL`, so a commit is
//! on stable storage before it returns. Each shard writer has its own connection; readers
//! share a small pool. SQLite calls block, so they run on tokio's blocking threads.

use crate::sql::{Row, RowInsert, Statement, Value, runs};
use crate::{Durability, Mapper, StoreError};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Prepared statements kept per connection: a batch uses a few dozen shapes (every writer's
/// statements, and each table's multi-row inserts in [`ROWS_PER_INSERT`] sizes); SQLite's
/// default of 16 would re-prepare some of them in every batch.
const STATEMENTS_CACHED: usize = 128;
/// How long a connection waits for another writer's lock before reporting busy.
const BUSY_TIMEOUT_MS: u64 = 10_000;
/// Pooled connections for reads and platform writes. A request beyond this waits for one
/// rather than opening (and soon closing) a connection of its own, which costs far more
/// than the wait.
const IDLE_READERS_MAX: usize = 8;
/// Page cache per connection (negative = KiB). The default 2 MiB makes a busy writer re-read
/// index pages from the OS on every batch.
const CACHE_KIB: i64 = 65_536;
/// What SQLite may hold on the heap in this process, all connections' page caches together:
/// past it SQLite recycles cached pages instead of growing (a soft limit: a single statement
/// may still exceed it). Without it the caches could reach `CACHE_KIB` per connection.
const SQLITE_HEAP_SOFT_LIMIT_BYTES: i64 = 256 << 20;
/// The database file is memory-mapped for reads up to this size, shared by all connections.
const MMAP_BYTES: i64 = 1 << 30;
/// Pages of WAL before a commit checkpoints it into the database file. Larger than SQLite's
/// 1 000 so that big batches do not checkpoint every time.
const WAL_AUTOCHECKPOINT_PAGES: i64 = 16_384;

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::I64(v) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Value::OptI64(Some(v)) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Value::Text(v) | Value::OptText(Some(v)) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Value::OptI64(None) | Value::OptText(None) => ToSqlOutput::Borrowed(ValueRef::Null),
        })
    }
}

impl Row for rusqlite::Row<'_> {
    fn opt_i64(&self, idx: usize) -> Result<Option<i64>, StoreError> {
        Ok(self.get(idx)?)
    }
    fn opt_text(&self, idx: usize) -> Result<Option<String>, StoreError> {
        Ok(self.get(idx)?)
    }
}

pub struct SqliteStore {
    path: PathBuf,
    durability: Durability,
    idle_readers: Arc<Mutex<Vec<Connection>>>,
    readers: Arc<tokio::sync::Semaphore>,
    write_turn: WriteTurn,
    /// The leases the platform's own writes are made under (see [`crate::Store::hold`]).
    pub(crate) lease: std::sync::RwLock<crate::HeldLeases>,
}

/// One SQLite file admits one writing transaction at a time. The shards' writers (and the
/// platform's own writes) take turns on this lock in the process instead of meeting SQLite's
/// busy handler, which sleeps 1, 2, 5, 10 … ms between retries: a commit waiting its turn
/// starts the moment the previous one ends.
type WriteTurn = Arc<Mutex<()>>;

fn take_turn(turn: &WriteTurn) -> std::sync::MutexGuard<'_, ()> {
    turn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub struct SqliteWriter {
    connection: Option<Connection>,
    write_turn: WriteTurn,
}

fn open_connection(path: &Path, durability: Durability) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(path, flags)?;
    connection.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS))?;
    connection.set_prepared_statement_cache_capacity(STATEMENTS_CACHED);
    let mode: String = connection.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::NotDurable(format!("journal_mode is {mode}, expected wal")));
    }
    let wanted = match durability {
        Durability::PowerLossSafe => "FULL",
        Durability::AcceptDataLossOnPowerFailure => "NORMAL",
    };
    connection.execute_batch(&format!(
        "PRAGMA synchronous = {wanted}; PRAGMA cache_size = -{CACHE_KIB}; PRAGMA mmap_size = {MMAP_BYTES};
         PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}; PRAGMA temp_store = MEMORY;
         PRAGMA soft_heap_limit = {SQLITE_HEAP_SOFT_LIMIT_BYTES};"
    ))?;
    let level: i64 = connection.query_row("PRAGMA synchronous", [], |r| r.get(0))?;
    // 2 = FULL, 3 = EXTRA: the WAL is synced at every commit.
    if durability == Durability::PowerLossSafe && level < 2 {
        return Err(StoreError::NotDurable(format!(
            "PRAGMA synchronous is {level}, expected FULL (2)"
        )));
    }
    Ok(connection)
}

/// Runs `guards`, then `statements`, in one transaction; a guard that does not find (a
/// `SELECT`) or change exactly one row undoes it all ([`StoreError::Fenced`]).
fn execute_in_transaction(
    connection: &mut Connection,
    guards: &[Statement],
    statements: &[Statement],
) -> Result<(), StoreError> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for guard in guards {
        let mut prepared = transaction.prepare_cached(&guard.sql)?;
        let params = rusqlite::params_from_iter(guard.params.iter());
        let held = match prepared.column_count() {
            0 => prepared.execute(params)?,
            _ => prepared.query(params)?.mapped(|_| Ok(())).count(),
        };
        if held != 1 {
            return Err(StoreError::Fenced(guard.sql.to_string()));
        }
    }
    for run in runs(statements) {
        let statement = &statements[run.first];
        if statement.params.is_empty() && statement.sql.trim_start().starts_with("CREATE") {
            transaction.execute_batch(&statement.sql)?;
            continue;
        }
        if run.rows > 1 {
            insert_rows(&transaction, &statements[run.first..run.first + run.rows])?;
            continue;
        }
        let mut prepared = transaction.prepare_cached(&statement.sql)?;
        prepared.execute(rusqlite::params_from_iter(statement.params.iter()))?;
    }
    transaction.commit()?;
    Ok(())
}

/// Rows per multi-row `INSERT`, largest first: a run is written in chunks of these sizes, so a
/// table has at most this many statement shapes in the cache. 64 rows of the widest table
/// (orders, 18 columns) bind 1 152 values, far under SQLite's 32 766.
const ROWS_PER_INSERT: [usize; 4] = [64, 16, 4, 1];

/// A run of row inserts of one text ([`RowInsert`]) as multi-row `INSERT … VALUES (…), (…)`.
fn insert_rows(transaction: &rusqlite::Transaction<'_>, rows: &[Statement]) -> Result<(), StoreError> {
    let Some(shape) = RowInsert::of(&rows[0].sql) else {
        return Err(StoreError::Worker("not a row insert".into()));
    };
    let one_row = format!("({})", vec!["?"; shape.columns].join(", "));
    let mut rest = rows;
    while !rest.is_empty() {
        let chunk = ROWS_PER_INSERT.into_iter().find(|n| *n <= rest.len()).unwrap_or(1);
        let (now, later) = rest.split_at(chunk);
        let rows = vec![one_row.as_str(); chunk].join(", ");
        // OR ROLLBACK: a failed row fails the whole batch anyway, and without it SQLite keeps a
        // statement journal of every page a many-row statement touches, to undo just that
        // statement (it cost more than the rows saved).
        let head = shape.head.replacen("INSERT INTO ", "INSERT OR ROLLBACK INTO ", 1);
        let sql = format!("{head} VALUES {rows} {}", shape.on_conflict);
        let mut prepared = transaction.prepare_cached(&sql)?;
        prepared.execute(rusqlite::params_from_iter(now.iter().flat_map(|s| s.params.iter())))?;
        rest = later;
    }
    Ok(())
}

/// The rows `statement` answers, each mapped by `map`.
fn rows_of<T>(connection: &Connection, statement: &Statement, map: Mapper<T>) -> Result<Vec<T>, StoreError> {
    let mut prepared = connection.prepare_cached(&statement.sql)?;
    let mut rows = prepared.query(rusqlite::params_from_iter(statement.params.iter()))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(map(row)?);
    }
    Ok(out)
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StoreError::Worker(e.to_string()))?
}

impl SqliteStore {
    pub async fn open(path: &str, durability: Durability) -> Result<SqliteStore, StoreError> {
        let path = PathBuf::from(path);
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| StoreError::Worker(format!("{}: {e}", parent.display())))?;
        }
        let first = {
            let path = path.clone();
            blocking(move || open_connection(&path, durability)).await?
        };
        Ok(SqliteStore {
            path,
            durability,
            idle_readers: Arc::new(Mutex::new(vec![first])),
            readers: Arc::new(tokio::sync::Semaphore::new(IDLE_READERS_MAX)),
            write_turn: WriteTurn::default(),
            lease: std::sync::RwLock::new(crate::HeldLeases::default()),
        })
    }

    pub async fn writer(&self) -> Result<SqliteWriter, StoreError> {
        let (path, durability) = (self.path.clone(), self.durability);
        let connection = blocking(move || open_connection(&path, durability)).await?;
        Ok(SqliteWriter {
            connection: Some(connection),
            write_turn: self.write_turn.clone(),
        })
    }

    /// Runs `work` on a pooled connection on a blocking thread and returns it to the pool.
    async fn with_connection<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (path, durability, pool) = (self.path.clone(), self.durability, self.idle_readers.clone());
        let permit = self
            .readers
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| StoreError::Worker(e.to_string()))?;
        blocking(move || {
            let _permit = permit;
            let pooled = pool
                .lock()
                .map_err(|_| StoreError::Worker("reader pool poisoned".into()))?
                .pop();
            let mut connection = match pooled {
                Some(connection) => connection,
                None => open_connection(&path, durability)?,
            };
            let result = work(&mut connection);
            if let Ok(mut idle) = pool.lock()
                && idle.len() < IDLE_READERS_MAX
            {
                idle.push(connection);
            }
            result
        })
        .await
    }

    pub async fn query<T: Send + 'static>(&self, statement: Statement, map: Mapper<T>) -> Result<Vec<T>, StoreError> {
        self.with_connection(move |connection| rows_of(connection, &statement, map))
            .await
    }

    /// One writing statement that answers rows (`… RETURNING`), in its own transaction, in
    /// turn with the shards' writers.
    pub async fn execute_returning<T: Send + 'static>(
        &self,
        statement: Statement,
        map: Mapper<T>,
    ) -> Result<Vec<T>, StoreError> {
        let turn = self.write_turn.clone();
        self.with_connection(move |connection| {
            let _turn = take_turn(&turn);
            rows_of(connection, &statement, map)
        })
        .await
    }

    pub async fn execute_atomically(
        &self,
        guards: Vec<Statement>,
        statements: Vec<Statement>,
    ) -> Result<(), StoreError> {
        let turn = self.write_turn.clone();
        self.with_connection(move |connection| {
            let _turn = take_turn(&turn);
            execute_in_transaction(connection, &guards, &statements)
        })
        .await
    }
}

impl SqliteWriter {
    pub async fn execute_atomically(
        &mut self,
        guards: Vec<Statement>,
        statements: Vec<Statement>,
    ) -> Result<(), StoreError> {
        let mut connection = self
            .connection
            .take()
            .ok_or_else(|| StoreError::Worker("writer connection lost".into()))?;
        let turn = self.write_turn.clone();
        let (connection, result) = tokio::task::spawn_blocking(move || {
            let result = {
                let _turn = take_turn(&turn);
                execute_in_transaction(&mut connection, &guards, &statements)
            };
            (connection, result)
        })
        .await
        .map_err(|e| StoreError::Worker(e.to_string()))?;
        self.connection = Some(connection);
        result
    }
}
