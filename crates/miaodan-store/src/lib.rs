//! Durable storage for miaodan: SQLite (embedded, the default) and PostgreSQL (production),
//! with one behaviour.
//!
//! - [`Store`] is the handle for reads and for the few platform-level writes (buyers, tokens,
//!   idempotent responses of non-shard requests). Every query is written once and runs on
//!   either backend.
//! - [`Writer`] is a shard's own connection: [`Writer::commit_batch`] makes all the effects of
//!   one batch durable in ONE transaction (group commit), or none of them.
//! - [`Store::load_shard`] reads back what a starting shard needs to rebuild its memory.
//!
//! Persistence is cut by capability, like the domain: `catalog`, `inventory`, `orders`,
//! `flash_sale`, `payments`, `fulfillment`, `logistics`, `after_sales` and `platform` (buyers, tokens,
//! idempotent responses) each own their statements, their writer of a batch's effects, their
//! part of [`Store::load_shard`] and their read queries. `batch` routes each effect to its
//! capability; `sql` is the plumbing they share.
//!
//! **Durability invariant:** a store only opens in a mode that survives power loss (SQLite
//! `synchronous=FULL`; PostgreSQL `fsync=on`, `synchronous_commit` not `off`,
//! `full_page_writes=on`) unless [`Durability::AcceptDataLossOnPowerFailure`] says otherwise.

mod after_sales;
pub use after_sales::{AfterSalesAudit, AfterSalesFilter, RequestRefund};
mod batch;
mod catalog;
pub mod cluster;
mod compass;
pub use compass::{COMPASS_READER, CompassFigures};
mod compass_dimensions;
pub use compass_dimensions::{
    AfterSalesFigures, COMPASS_GROUPS_MAX, CarrierFigures, CompassDimensions, CompassMemory, HourKey, MemoryKeys,
    RegionFigures, RegionLevel, ShipmentMemory, SkuFigures, SkuLabel, SkuRanking, WarehouseFigures,
};
mod compass_flash_sales;
pub use compass_flash_sales::{FlashSaleFigures, FlashSaleFold, ProvinceFigures, SaleFigures};
mod diagnosis;
pub mod distribution;
pub use diagnosis::{DiagnosisDimension, DiagnosisScope, DimensionDay, REPORTS_LISTED_MAX, StoredReport};
mod flash_sale;
pub use flash_sale::FlashSaleAudit;
mod fulfillment;
pub mod id_blocks;
mod integrity;
pub use integrity::{
    AlertGroup, CarrierParcels, EndedSale, FAKE_STOCK_SALES_MAX, PromiseBreakdown, REQUESTS_PAGE_ROWS, StockAround,
    WarehouseParcels,
};
mod inventory;
pub use inventory::StockAudit;
mod json;
mod logistics;
pub use logistics::{PackageCenterEntry, shortage_level};
mod migrations;
mod orders;
mod outbox;
pub use outbox::{EventFilter, OrderBodyV1, OrderLineBodyV1, StoredEvent, TopicFilter};
mod payments;
mod penalties;
pub use payments::{LedgerCapture, LedgerRefund, LoggedNotification, PaidOrder, PaymentAudit};
pub use penalties::{DepositEntry, NewDepositEntry, PenaltyFilter, StoredPenalty, insert_penalty, update_penalty};
mod platform;
mod postgres;
mod risk;
pub use risk::{DecisionFilter, Review, SALE_RULES_READ_MAX, SaleDecisionCounts, StoredDecision, StoredRuleSet};
mod assistant;
mod risk_challenges;
pub use assistant::{Author, Handover, StoredConversation, StoredMessage};
pub use risk_challenges::{ChallengeKind, ChallengeState, StoredChallenge};
pub mod records;
pub mod sql;
mod sqlite;
mod staff;
pub mod throwaway;
pub use staff::{AuditEntry, AuditFilter, SessionFilter, StaffMember, StaffSession};
mod webhooks;
pub use webhooks::{AfterAttempt, DeliveryState, WEBHOOKS_READER, WebhookAttempt, WebhookDelivery, WebhookEndpoint};

use miaodan_domain::Timestamp;
use miaodan_domain::shard::{Effect, ShardHorizons, ShardSnapshot};
use records::IdempotencyRecord;
use sql::{Row, ShardOf, Statement, Value};

/// Whether the store may run in a mode that can lose acknowledged writes on power loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Refuse to open unless every commit is on stable storage before it returns.
    PowerLossSafe,
    /// Run even where commits may be lost on power failure (never for real orders).
    AcceptDataLossOnPowerFailure,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("postgres pool: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error("refusing to run without power-loss durability: {0}")]
    NotDurable(String),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    #[error("unsupported database url {0:?}: use a file path, sqlite://PATH or postgres://…")]
    BadUrl(String),
    #[error("storage worker failed: {0}")]
    Worker(String),
    /// A guarded transaction's guard changed no row (see [`cluster`]): this process no longer
    /// holds what it wrote under (a shard's lease), so nothing was written.
    #[error("fenced: the lease this write depends on is held by another process ({0})")]
    Fenced(String),
}

impl StoreError {
    pub(crate) fn corrupt(detail: String) -> StoreError {
        StoreError::Corrupt(detail)
    }
}

pub enum Store {
    Sqlite(sqlite::SqliteStore),
    Postgres(Box<postgres::PgStore>),
}

/// A shard's dedicated connection for its batch commits, and its place in the shard's outbox
/// sequence.
pub struct Writer {
    connection: Connection,
    sequence: outbox::Sequence,
    /// The shard's lease this writer commits under, checked in every commit's transaction
    /// (see [`cluster`]); `None` for a writer outside a serving process (tools, tests).
    lease: Option<cluster::ShardLease>,
}

enum Connection {
    Sqlite(sqlite::SqliteWriter),
    Postgres(postgres::PgWriter),
}

/// The PostgreSQL server process behind a writer, as [`Store::fence`] ends it: its PID, and
/// when it started. The PID alone is not enough: once that process ended (with the database
/// server, which then restarted), the same PID may be given to another one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fence {
    pub backend_pid: i32,
    /// The process's `backend_start`, in microseconds since the Unix epoch.
    pub backend_started_us: i64,
}

impl Writer {
    /// What [`Store::fence`] needs to settle a failed commit of this writer.
    pub fn fence(&self) -> Option<Fence> {
        match &self.connection {
            Connection::Sqlite(_) => None,
            Connection::Postgres(writer) => Some(writer.fence),
        }
    }

    /// This writer, committing only while `lease` is its shard's lease: each commit checks the
    /// lease's epoch in its own transaction and fails [`StoreError::Fenced`] once another
    /// process took the lease.
    pub fn holding(mut self, lease: cluster::ShardLease) -> Writer {
        self.lease = Some(lease);
        self
    }

    /// The last number this writer's shard has written to the outbox.
    pub fn outbox_head(&self) -> i64 {
        self.sequence.last
    }

    /// Writes the effects of one batch, their events (stamped `at`, numbered after the
    /// shard's last) and the idempotent responses of its requests in one transaction. Returns
    /// only once the transaction is durable (or failed as a whole: then the writer is replaced
    /// and its successor reads the sequence back from the table).
    pub async fn commit_batch(
        &mut self,
        effects: &[Effect],
        idempotency: &[IdempotencyRecord],
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.commit_batch_with(effects, idempotency, Vec::new(), at).await
    }

    /// [`Writer::commit_batch`] with `rows` that ride along: rows of no shard's state (a
    /// provider notification's log line) that would otherwise cost a commit of their own.
    pub async fn commit_batch_with(
        &mut self,
        effects: &[Effect],
        idempotency: &[IdempotencyRecord],
        rows: Vec<Statement>,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut statements = batch::batch_statements(effects, idempotency);
        statements.extend(rows);
        // A batch of tap counts alone writes no table row, only its events.
        let (events, last) = self.sequence.statements(effects, at);
        statements.extend(events);
        if statements.is_empty() {
            return Ok(());
        }
        let dialect = match &self.connection {
            Connection::Sqlite(_) => migrations::Dialect::Sqlite,
            Connection::Postgres(_) => migrations::Dialect::Postgres,
        };
        let guard = self.lease.map(|lease| lease.guard(dialect));
        let statements = sql::spelled(statements, dialect);
        match &mut self.connection {
            Connection::Sqlite(w) => w.execute_atomically(guard.into_iter().collect(), statements).await?,
            Connection::Postgres(w) => w.execute_atomically(guard, statements).await?,
        }
        self.sequence.last = last;
        Ok(())
    }
}

type Mapper<T> = fn(&dyn Row) -> Result<T, StoreError>;

impl Store {
    /// Opens (and migrates) the database named by `url`: a path or `sqlite://PATH` for the
    /// embedded store, `postgres://…` / `postgresql://…` for PostgreSQL.
    pub async fn open(url: &str, durability: Durability) -> Result<Store, StoreError> {
        Store::open_for(url, durability, false).await
    }

    /// Opens the store for the one process that serves from it: on PostgreSQL, the connections
    /// a previous serving process left behind (killed, its commits possibly still landing) are
    /// ended first, so everything read at start is final. One serving process per database.
    pub async fn open_to_serve(url: &str, durability: Durability) -> Result<Store, StoreError> {
        Store::open_for(url, durability, true).await
    }

    async fn open_for(url: &str, durability: Durability, serving: bool) -> Result<Store, StoreError> {
        let store = if Store::names_postgres(url) {
            let store = match serving {
                true => postgres::PgStore::open_to_serve(url, durability).await?,
                false => postgres::PgStore::open(url, durability).await?,
            };
            Store::Postgres(Box::new(store))
        } else {
            let path = url
                .strip_prefix("sqlite://")
                .or_else(|| url.strip_prefix("sqlite:"))
                .unwrap_or(url);
            if path.is_empty() || path.contains("://") {
                return Err(StoreError::BadUrl(url.to_string()));
            }
            Store::Sqlite(sqlite::SqliteStore::open(path, durability).await?)
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Whether `url` names a PostgreSQL database (`postgres://…` or `postgresql://…`) rather
    /// than an embedded SQLite file.
    pub fn names_postgres(url: &str) -> bool {
        url.starts_with("postgres://") || url.starts_with("postgresql://")
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// Makes the outcome of a failed commit final before the shard reloads. On PostgreSQL the
    /// server process behind the failed writer ([`Writer::fence`]) is ended, if it still runs: a
    /// COMMIT it already received then either happened or never will. SQLite's call returned,
    /// so its outcome is final already (`None`).
    pub async fn fence(&self, fence: Option<Fence>) -> Result<(), StoreError> {
        match (self, fence) {
            (Store::Postgres(store), Some(fence)) => store.fence(fence).await,
            _ => Ok(()),
        }
    }

    /// Shard `shard`'s writer. Only one may exist per shard at a time (the previous one
    /// failed and was fenced, or there was none): it continues the shard's outbox sequence.
    pub async fn writer(&self, shard: u32) -> Result<Writer, StoreError> {
        let connection = match self {
            Store::Sqlite(s) => Connection::Sqlite(s.writer().await?),
            Store::Postgres(p) => Connection::Postgres(p.writer().await?),
        };
        let last = self.outbox_head(shard).await?;
        Ok(Writer {
            connection,
            sequence: outbox::Sequence { shard, last },
            lease: None,
        })
    }

    async fn query<T: Send + 'static>(&self, statement: Statement, map: Mapper<T>) -> Result<Vec<T>, StoreError> {
        match self {
            Store::Sqlite(s) => s.query(statement, map).await,
            Store::Postgres(p) => p.query(statement, map).await,
        }
    }

    /// One writing statement that answers rows (`… RETURNING`), committed on its own and
    /// outside any lease: only for writes any process may make at any time (see
    /// [`Store::reserve_ids`]).
    async fn execute_returning<T: Send + 'static>(
        &self,
        statement: Statement,
        map: Mapper<T>,
    ) -> Result<Vec<T>, StoreError> {
        match self {
            Store::Sqlite(s) => s.execute_returning(statement, map).await,
            // Outside a transaction, PostgreSQL commits the statement on its own.
            Store::Postgres(p) => p.query(statement, map).await,
        }
    }

    /// A query that answers exactly one row (an aggregate); no row means a broken store.
    async fn query_row<T: Send + 'static>(
        &self,
        statement: Statement,
        map: Mapper<T>,
        missing: impl FnOnce() -> String,
    ) -> Result<T, StoreError> {
        self.query(statement, map)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::corrupt(missing()))
    }

    /// Writes `statements` in one transaction, under the lease this store holds, if any
    /// ([`Store::hold`]).
    async fn execute_atomically(&self, statements: Vec<Statement>) -> Result<(), StoreError> {
        self.execute_guarded(self.lease_guards(false), statements).await
    }

    /// The guards of the leases this store's writes are made under: [`Store::hold`]'s, and for
    /// an outbox reader's (`for_readers`) [`Store::hold_for_readers`]'s too, in the order of the
    /// shards, as a taking of several leases locks their rows.
    pub(crate) fn lease_guards(&self, for_readers: bool) -> Vec<Statement> {
        let held = *self.held_leases().read().unwrap_or_else(|p| p.into_inner());
        let readers = held
            .readers
            .filter(|readers| for_readers && Some(*readers) != held.writes);
        let mut leases: Vec<cluster::ShardLease> = held.writes.into_iter().chain(readers).collect();
        leases.sort_by_key(|lease| lease.shard);
        leases.iter().map(|lease| lease.guard(self.dialect())).collect()
    }

    /// Makes every write of this store outside the shards' writers (buyers, tokens, webhooks,
    /// the compass, …) a write under `lease` (a serving process's lease of shard 0): once another
    /// process took it, they are refused ([`StoreError::Fenced`]) like the shards' commits, so a
    /// former owner cannot write a row under an id the new one hands out too. Set again when the
    /// process gives that lease back while it runs (a member handing a shard over) and holds
    /// another.
    pub fn hold(&self, lease: cluster::ShardLease) {
        self.held_leases().write().unwrap_or_else(|p| p.into_inner()).writes = Some(lease);
    }

    /// The lease this store's writes are made under ([`Store::hold`]), if any.
    pub fn held_lease(&self) -> Option<cluster::ShardLease> {
        self.held_leases().read().unwrap_or_else(|p| p.into_inner()).writes
    }

    /// Makes the outbox readers' writes (the compass's figures, the webhooks' deliveries, with
    /// their cursors: [`Store::advance_outbox_cursor`]) writes under `lease` too: shard 0's,
    /// whose holder runs them. Kept when shard 0 moves away, so a reader still running there (a
    /// member resumed after a pause, or a pass under way as it gave the shard back) is refused
    /// once the next holder took it, and no event is folded twice.
    pub fn hold_for_readers(&self, lease: cluster::ShardLease) {
        self.held_leases().write().unwrap_or_else(|p| p.into_inner()).readers = Some(lease);
    }

    fn held_leases(&self) -> &std::sync::RwLock<HeldLeases> {
        match self {
            Store::Sqlite(s) => &s.lease,
            Store::Postgres(p) => &p.lease,
        }
    }

    pub(crate) fn dialect(&self) -> migrations::Dialect {
        match self {
            Store::Sqlite(_) => migrations::Dialect::Sqlite,
            Store::Postgres(_) => migrations::Dialect::Postgres,
        }
    }

    /// [`Store::execute_atomically`] after `guards`, each of which must find (a `SELECT`) or
    /// change exactly one row, in the same transaction; otherwise nothing is written
    /// ([`StoreError::Fenced`]).
    async fn execute_guarded(&self, guards: Vec<Statement>, statements: Vec<Statement>) -> Result<(), StoreError> {
        let statements = sql::spelled(statements, self.dialect());
        match self {
            Store::Sqlite(s) => s.execute_atomically(guards, statements).await,
            Store::Postgres(p) => p.execute_atomically(guards, statements).await,
        }
    }

    /// Brings the database to [`migrations::SCHEMA_VERSION`]: the migrations after its
    /// version run in order, each in its own transaction with the version it reaches. A
    /// database of a later version than this build knows is refused.
    async fn migrate(&self) -> Result<(), StoreError> {
        // Members of a cluster started together migrate one after another: the first brings the
        // schema up to date, the others find it so. (Two `CREATE TABLE`s of one name at once
        // fail on PostgreSQL even with `IF NOT EXISTS`.) The lock is the connection's, released
        // when it closes, however the migration ends.
        let _lock = match self {
            Store::Postgres(p) => Some(p.migration_lock().await?),
            Store::Sqlite(_) => None,
        };
        self.migrate_unlocked().await
    }

    async fn migrate_unlocked(&self) -> Result<(), StoreError> {
        let dialect = self.dialect();
        self.execute_atomically(vec![Statement::new(migrations::CREATE_VERSION_TABLE, vec![])])
            .await?;
        let versions = self
            .query(Statement::new("SELECT version FROM schema_version", vec![]), |r| {
                r.i64(0)
            })
            .await?;
        let version = match versions.as_slice() {
            [] => 0,
            [v] if (1..=migrations::SCHEMA_VERSION).contains(v) => *v,
            other => {
                return Err(StoreError::Corrupt(format!(
                    "unsupported schema version {other:?}: this build knows 1 to {}",
                    migrations::SCHEMA_VERSION
                )));
            }
        };
        for migration in migrations::pending(version) {
            let mut statements: Vec<Statement> = migration
                .statements(dialect)
                .into_iter()
                .map(|ddl| Statement::owned(ddl, vec![]))
                .collect();
            statements.push(Statement::new("DELETE FROM schema_version", vec![]));
            statements.push(Statement::new(
                "INSERT INTO schema_version (version) VALUES ($1)",
                vec![Value::I64(migration.version)],
            ));
            self.execute_atomically(statements).await?;
            tracing::info!(migration = migration.name, "schema migrated");
        }
        Ok(())
    }

    // ---- shard recovery ---------------------------------------------------------------

    /// Everything shard `index` of `count` owns (shops with `id % count == index`), plus what a
    /// running shard keeps for a while, as far back as `horizons` say: the request references
    /// of recent orders, the payment intents and after-sales requests settled lately, and the
    /// warehouse capacity booked from today on. Each capability reads its own part.
    pub async fn load_shard(
        &self,
        index: u32,
        count: u32,
        horizons: ShardHorizons,
    ) -> Result<ShardSnapshot, StoreError> {
        let shard = ShardOf { index, count };
        let catalog = self.load_shard_catalog(shard).await?;
        let inventory = self.load_shard_inventory(shard).await?;
        let orders = self.load_shard_orders(shard, horizons.requests_since).await?;
        let flash_sales = self.load_shard_flash_sales(shard).await?;
        let payment_intents = self.load_shard_intents(shard, horizons.intents_changed_since).await?;
        let fulfillment = self.load_shard_fulfillment(shard, horizons.capacity_since).await?;
        let logistics = self.load_shard_logistics(shard).await?;
        let after_sales = self
            .load_shard_after_sales(shard, horizons.after_sales_settled_after)
            .await?;
        let after_sales_policies = self.load_shard_after_sales_policies(shard).await?;
        Ok(ShardSnapshot {
            shops: catalog.shops,
            warehouses: inventory.warehouses,
            products: catalog.products,
            skus: catalog.skus,
            stock: inventory.stock,
            open_orders: orders.open_orders,
            recent_requests: orders.recent_requests,
            flash_sales,
            payment_intents,
            warehouse_settings: fulfillment.warehouse_settings,
            capacity: fulfillment.capacity,
            fulfilling: fulfillment.fulfilling,
            shipments: logistics.shipments,
            alerts: logistics.alerts,
            sla_rules: logistics.sla_rules,
            after_sales,
            after_sales_policies,
        })
    }
}

/// The leases a store's writes are made under: every write outside the shards' writers under
/// `writes` ([`Store::hold`]), the outbox readers' also under `readers` ([`Store::hold_for_readers`]).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct HeldLeases {
    pub(crate) writes: Option<cluster::ShardLease>,
    pub(crate) readers: Option<cluster::ShardLease>,
}
