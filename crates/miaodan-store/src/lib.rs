//! Durable storage for miaodan: SQLite (embedded, the default) and PostgreSQL (production),
//! with one behaviour.
//!
//! - [`Store`] is the handle for reads and for the few platform-level writes (buyers, tokens,
//!   idempotent responses of non-shard requests). Every query is written once, in [`sql`],
//!   and runs on either backend.
//! - [`Writer`] is a shard's own connection: [`Writer::commit_batch`] makes all the effects of
//!   one batch durable in ONE transaction (group commit), or none of them.
//! - [`Store::load_shard`] reads back what a starting shard needs to rebuild its memory.
//!
//! **Durability invariant:** a store only opens in a mode that survives power loss (SQLite
//! `synchronous=FULL`; PostgreSQL `fsync=on`, `synchronous_commit` not `off`,
//! `full_page_writes=on`) unless [`Durability::AcceptDataLossOnPowerFailure`] says otherwise.

mod fulfillment;
mod logistics;
pub use logistics::LogisticsSnapshot;
mod payments;
pub use payments::{LedgerCapture, LedgerRefund, LoggedNotification, PaidOrder, PaymentAudit};
mod postgres;
pub mod records;
mod schema;
pub mod sql;
mod sqlite;

use miaodan_domain::buyers::Buyer;
use miaodan_domain::catalog::{Product, Shop, Sku};
use miaodan_domain::flash_sale::{FlashSale, FlashSaleId};
use miaodan_domain::inventory::{StockLevel, Warehouse};
use miaodan_domain::orders::Order;
use miaodan_domain::shard::{Effect, RequestRef, ShardSnapshot};
use miaodan_domain::{BuyerId, OrderId, ProductId, ShopId, SkuId, Timestamp, WarehouseId};
use records::{IdMaxima, IdempotencyRecord, OrderFilter, ProductFilter, TokenRecord};
use sql::{Row, Statement, Value};
use std::borrow::Cow;

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

/// A shard's dedicated connection for its batch commits.
pub enum Writer {
    Sqlite(sqlite::SqliteWriter),
    Postgres(postgres::PgWriter),
}

impl Writer {
    /// What [`Store::fence`] needs to settle a failed commit of this writer.
    pub fn fence(&self) -> Option<i32> {
        match self {
            Writer::Sqlite(_) => None,
            Writer::Postgres(writer) => Some(writer.backend_pid),
        }
    }

    /// Writes the effects of one batch and the idempotent responses of its requests in one
    /// transaction. Returns only once the transaction is durable (or failed as a whole).
    pub async fn commit_batch(
        &mut self,
        effects: &[Effect],
        idempotency: &[IdempotencyRecord],
    ) -> Result<(), StoreError> {
        let statements = sql::batch_statements(effects, idempotency);
        if statements.is_empty() {
            return Ok(());
        }
        match self {
            Writer::Sqlite(w) => w.execute_atomically(statements).await,
            Writer::Postgres(w) => w.execute_atomically(statements).await,
        }
    }
}

type Mapper<T> = fn(&dyn Row) -> Result<T, StoreError>;

impl Store {
    /// Opens (and migrates) the database named by `url`: a path or `sqlite://PATH` for the
    /// embedded store, `postgres://…` / `postgresql://…` for PostgreSQL.
    pub async fn open(url: &str, durability: Durability) -> Result<Store, StoreError> {
        let store = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Store::Postgres(Box::new(postgres::PgStore::open(url, durability).await?))
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

    pub fn backend_name(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// Makes the outcome of a failed commit final before the shard reloads. On PostgreSQL the
    /// server process behind the failed writer ([`Writer::fence`]) is ended: a COMMIT it already
    /// received then either happened or never will. SQLite's call returned, so its outcome is
    /// final already (`None`).
    pub async fn fence(&self, fence: Option<i32>) -> Result<(), StoreError> {
        match (self, fence) {
            (Store::Postgres(store), Some(backend_pid)) => store.fence(backend_pid).await,
            _ => Ok(()),
        }
    }

    pub async fn writer(&self) -> Result<Writer, StoreError> {
        Ok(match self {
            Store::Sqlite(s) => Writer::Sqlite(s.writer().await?),
            Store::Postgres(p) => Writer::Postgres(p.writer().await?),
        })
    }

    async fn query<T: Send + 'static>(&self, statement: Statement, map: Mapper<T>) -> Result<Vec<T>, StoreError> {
        match self {
            Store::Sqlite(s) => s.query(statement, map).await,
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

    async fn execute_atomically(&self, statements: Vec<Statement>) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.execute_atomically(statements).await,
            Store::Postgres(p) => p.execute_atomically(statements).await,
        }
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let sqlite = matches!(self, Store::Sqlite(_));
        let statements = schema::for_backend(sqlite)
            .into_iter()
            .map(|ddl| Statement {
                sql: Cow::Owned(ddl),
                params: vec![],
            })
            .collect();
        self.execute_atomically(statements).await?;
        let versions = self
            .query(Statement::new("SELECT version FROM schema_version", vec![]), |r| {
                r.i64(0)
            })
            .await?;
        match versions.as_slice() {
            [] => {
                let insert = "INSERT INTO schema_version (version) VALUES ($1)";
                self.execute_atomically(vec![Statement::new(insert, vec![Value::I64(schema::SCHEMA_VERSION)])])
                    .await
            }
            [v] if *v == schema::SCHEMA_VERSION => Ok(()),
            [v] if *v < schema::SCHEMA_VERSION && *v >= 1 => {
                let mut statements: Vec<Statement> = schema::MIGRATIONS
                    .iter()
                    .filter(|(to, _)| to > v)
                    .flat_map(|(_, ddl)| ddl.iter().map(|sql| Statement::new(sql, vec![])))
                    .collect();
                statements.push(Statement::new(
                    "UPDATE schema_version SET version = $1",
                    vec![Value::I64(schema::SCHEMA_VERSION)],
                ));
                self.execute_atomically(statements).await
            }
            other => Err(StoreError::Corrupt(format!("unsupported schema version {other:?}"))),
        }
    }

    // ---- shard recovery ---------------------------------------------------------------

    /// Everything shard `index` of `count` owns (shops with `id % count == index`), plus the
    /// request references of orders placed since `requests_since`, the payment intents not
    /// settled or changed since `intents_changed_since`, and the warehouse capacity booked in
    /// hours from `capacity_since` on (the start of today in Asia/Shanghai: a day's limit
    /// counts the whole day).
    pub async fn load_shard(
        &self,
        index: u32,
        count: u32,
        requests_since: Timestamp,
        intents_changed_since: Timestamp,
        capacity_since: Timestamp,
    ) -> Result<ShardSnapshot, StoreError> {
        let of_shard = |columns: &str, table: &str, column: &str| -> Statement {
            Statement {
                sql: Cow::Owned(format!(
                    "SELECT {columns} FROM {table} WHERE {column} % $1 = $2 ORDER BY 1"
                )),
                params: vec![Value::I64(i64::from(count)), Value::I64(i64::from(index))],
            }
        };
        let shops = self
            .query(of_shard(sql::SHOP_COLUMNS, "shops", "id"), sql::shop)
            .await?;
        let warehouses = self
            .query(
                of_shard(sql::WAREHOUSE_COLUMNS, "warehouses", "shop_id"),
                sql::warehouse,
            )
            .await?;
        let products = self
            .query(of_shard(sql::PRODUCT_COLUMNS, "products", "shop_id"), sql::product)
            .await?;
        let skus = self
            .query(of_shard(sql::SKU_COLUMNS, "skus", "shop_id"), sql::sku)
            .await?;
        let stock = self
            .query(of_shard(sql::STOCK_COLUMNS, "stock", "shop_id"), sql::stock)
            .await?;
        let open = Statement {
            sql: Cow::Owned(format!(
                "SELECT {} FROM orders WHERE state = 'pending_payment' AND shop_id % $1 = $2 ORDER BY id",
                sql::ORDER_COLUMNS
            )),
            params: vec![Value::I64(i64::from(count)), Value::I64(i64::from(index))],
        };
        let mut open_orders = self.query(open, sql::order_head).await?;
        self.attach_lines(&mut open_orders).await?;
        let requests = Statement::new(
            "SELECT request_ref, id, created_at FROM orders WHERE request_ref IS NOT NULL AND created_at >= $1
             AND shop_id % $2 = $3",
            vec![
                Value::I64(requests_since.unix_ms()),
                Value::I64(i64::from(count)),
                Value::I64(i64::from(index)),
            ],
        );
        let recent_requests = self
            .query(requests, |r| {
                let order = r.i64(1)?;
                let order = OrderId::new(order).ok_or_else(|| StoreError::corrupt(format!("order {order}")))?;
                Ok((RequestRef(r.text(0)?), order, Timestamp::from_unix_ms(r.i64(2)?)))
            })
            .await?;
        let mut flash_sales = Vec::new();
        for sale in self
            .query(
                of_shard(sql::FLASH_SALE_COLUMNS, "flash_sales", "shop_id"),
                sql::flash_sale,
            )
            .await?
        {
            let bought = if sale.closed {
                Vec::new()
            } else {
                self.flash_buyers(sale.id).await?
            };
            flash_sales.push((sale, bought));
        }
        let payment_intents = self.load_shard_intents(index, count, intents_changed_since).await?;
        let fulfillment = self.load_shard_fulfillment(index, count, capacity_since).await?;
        let logistics = self.load_logistics(index, count).await?;
        Ok(ShardSnapshot {
            shops,
            warehouses,
            products,
            skus,
            stock,
            open_orders,
            recent_requests,
            flash_sales,
            payment_intents,
            warehouse_settings: fulfillment.warehouse_settings,
            capacity: fulfillment.capacity,
            fulfilling: fulfillment.fulfilling,
            shipments: logistics.shipments,
            alerts: logistics.alerts,
            sla_rules: logistics.sla_rules,
        })
    }

    /// Units each buyer holds in open or paid orders of a flash sale.
    async fn flash_buyers(&self, sale: FlashSaleId) -> Result<Vec<(BuyerId, i64)>, StoreError> {
        let statement = Statement::new(
            "SELECT o.buyer_id, CAST(SUM(l.quantity) AS BIGINT) FROM orders o JOIN order_lines l ON l.order_id = o.id
             WHERE o.flash_sale_id = $1 AND o.state <> 'cancelled' GROUP BY o.buyer_id",
            vec![Value::I64(sale.get())],
        );
        self.query(statement, |r| {
            let buyer = r.i64(0)?;
            let buyer = BuyerId::new(buyer).ok_or_else(|| StoreError::corrupt(format!("buyer {buyer}")))?;
            Ok((buyer, r.i64(1)?))
        })
        .await
    }

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
            (SELECT COALESCE(MAX(id), 0) FROM shipments)";
        self.query_row(
            Statement::new(sql, vec![]),
            |r| {
                Ok(IdMaxima {
                    shop: r.i64(0)?,
                    buyer: r.i64(1)?,
                    product: r.i64(2)?,
                    sku: r.i64(3)?,
                    warehouse: r.i64(4)?,
                    order: r.i64(5)?,
                    checkout: r.i64(6)?,
                    token: r.i64(7)?,
                    flash_sale: r.i64(8)?,
                    idempotency_response: r.i64(9)?,
                    payment_intent: r.i64(10)?,
                    refund: r.i64(11)?,
                    one_tap_agreement: r.i64(12)?,
                    notification: r.i64(13)?,
                    shipment: r.i64(14)?,
                })
            },
            || "no id maxima row".into(),
        )
        .await
    }

    // ---- reads ------------------------------------------------------------------------

    async fn attach_lines(&self, orders: &mut [Order]) -> Result<(), StoreError> {
        if orders.is_empty() {
            return Ok(());
        }
        // Bounded by the page size (or the open orders of one shard), one round trip.
        let ids: Vec<String> = orders.iter().map(|o| o.id.get().to_string()).collect();
        let statement = Statement {
            sql: Cow::Owned(format!(
                "SELECT {} FROM order_lines WHERE order_id IN ({}) ORDER BY order_id, line_no",
                sql::LINE_COLUMNS,
                ids.join(",")
            )),
            params: vec![],
        };
        let lines = self.query(statement, sql::line).await?;
        sql::attach_lines(orders, lines);
        Ok(())
    }

    pub async fn order(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        let statement = Statement {
            sql: Cow::Owned(format!("SELECT {} FROM orders WHERE id = $1", sql::ORDER_COLUMNS)),
            params: vec![Value::I64(id.get())],
        };
        let mut orders = self.query(statement, sql::order_head).await?;
        self.attach_lines(&mut orders).await?;
        Ok(orders.pop())
    }

    pub async fn orders(&self, filter: &OrderFilter) -> Result<Vec<Order>, StoreError> {
        let mut conditions = Vec::new();
        let mut params = Vec::new();
        let mut push = |condition: &str, value: Value| {
            params.push(value);
            conditions.push(condition.replace('?', &format!("${}", params.len())));
        };
        if let Some(shop) = filter.shop {
            push("shop_id = ?", Value::I64(shop.get()));
        }
        if let Some(buyer) = filter.buyer {
            push("buyer_id = ?", Value::I64(buyer.get()));
        }
        if let Some(state) = filter.state {
            push("state = ?", Value::Text(state.as_str().into()));
        }
        if let Some(from) = filter.created_from {
            push("created_at >= ?", Value::I64(from.unix_ms()));
        }
        if let Some(before) = filter.created_before {
            push("created_at < ?", Value::I64(before.unix_ms()));
        }
        if let Some((created_at, id)) = filter.after {
            push("created_at <= ?", Value::I64(created_at.unix_ms()));
            let n = params.len();
            params.push(Value::I64(id.get()));
            conditions.push(format!("(created_at < ${n} OR id < ${})", n + 1));
        }
        params.push(Value::I64(filter.limit));
        let where_clause = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let statement = Statement {
            sql: Cow::Owned(format!(
                "SELECT {} FROM orders {where_clause} ORDER BY created_at DESC, id DESC LIMIT ${}",
                sql::ORDER_COLUMNS,
                params.len()
            )),
            params,
        };
        let mut orders = self.query(statement, sql::order_head).await?;
        self.attach_lines(&mut orders).await?;
        Ok(orders)
    }

    pub async fn shop(&self, id: ShopId) -> Result<Option<Shop>, StoreError> {
        let statement = Statement {
            sql: Cow::Owned(format!("SELECT {} FROM shops WHERE id = $1", sql::SHOP_COLUMNS)),
            params: vec![Value::I64(id.get())],
        };
        Ok(self.query(statement, sql::shop).await?.pop())
    }

    pub async fn shops(&self) -> Result<Vec<Shop>, StoreError> {
        let statement = Statement {
            sql: Cow::Owned(format!("SELECT {} FROM shops ORDER BY id", sql::SHOP_COLUMNS)),
            params: vec![],
        };
        self.query(statement, sql::shop).await
    }

    pub async fn warehouses(&self, shop: ShopId) -> Result<Vec<Warehouse>, StoreError> {
        let statement = Statement {
            sql: Cow::Owned(format!(
                "SELECT {} FROM warehouses WHERE shop_id = $1 ORDER BY id",
                sql::WAREHOUSE_COLUMNS
            )),
            params: vec![Value::I64(shop.get())],
        };
        self.query(statement, sql::warehouse).await
    }

    pub async fn product(&self, id: ProductId) -> Result<Option<(Product, Vec<Sku>)>, StoreError> {
        let statement = Statement {
            sql: Cow::Owned(format!("SELECT {} FROM products WHERE id = $1", sql::PRODUCT_COLUMNS)),
            params: vec![Value::I64(id.get())],
        };
        let Some(product) = self.query(statement, sql::product).await?.pop() else {
            return Ok(None);
        };
        let skus = self.skus_of(&[product.id]).await?;
        Ok(Some((product, skus)))
    }

    async fn skus_of(&self, products: &[ProductId]) -> Result<Vec<Sku>, StoreError> {
        if products.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = products.iter().map(|p| p.get().to_string()).collect();
        let statement = Statement {
            sql: Cow::Owned(format!(
                "SELECT {} FROM skus WHERE product_id IN ({}) ORDER BY product_id, id",
                sql::SKU_COLUMNS,
                ids.join(",")
            )),
            params: vec![],
        };
        self.query(statement, sql::sku).await
    }

    pub async fn products(&self, filter: &ProductFilter) -> Result<Vec<(Product, Vec<Sku>)>, StoreError> {
        let mut conditions = Vec::new();
        let mut params = Vec::new();
        if let Some(shop) = filter.shop {
            params.push(Value::I64(shop.get()));
            conditions.push(format!("shop_id = ${}", params.len()));
        }
        if filter.active_only {
            conditions.push(
                "status = 'active' AND EXISTS (SELECT 1 FROM skus WHERE skus.product_id = products.id
                 AND skus.status = 'active')"
                    .to_string(),
            );
        }
        if let Some(query) = &filter.query {
            let escaped = query.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            params.push(Value::Text(format!("%{}%", escaped.to_lowercase())));
            conditions.push(format!("LOWER(title) LIKE ${} ESCAPE '\\'", params.len()));
        }
        if let Some(gtin) = &filter.gtin {
            params.push(Value::Text(gtin.clone()));
            conditions.push(format!("gtin = ${}", params.len()));
        }
        if let Some(after) = filter.after {
            params.push(Value::I64(after));
            conditions.push(format!("id > ${}", params.len()));
        }
        params.push(Value::I64(filter.limit));
        let where_clause = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let statement = Statement {
            sql: Cow::Owned(format!(
                "SELECT {} FROM products {where_clause} ORDER BY id LIMIT ${}",
                sql::PRODUCT_COLUMNS,
                params.len()
            )),
            params,
        };
        let products = self.query(statement, sql::product).await?;
        let ids: Vec<ProductId> = products.iter().map(|p| p.id).collect();
        let mut skus = self.skus_of(&ids).await?;
        Ok(products
            .into_iter()
            .map(|p| {
                let (mine, rest): (Vec<Sku>, Vec<Sku>) = skus.drain(..).partition(|s| s.product == p.id);
                skus = rest;
                (p, mine)
            })
            .collect())
    }

    pub async fn sku(&self, id: SkuId) -> Result<Option<Sku>, StoreError> {
        let statement = Statement {
            sql: Cow::Owned(format!("SELECT {} FROM skus WHERE id = $1", sql::SKU_COLUMNS)),
            params: vec![Value::I64(id.get())],
        };
        Ok(self.query(statement, sql::sku).await?.pop())
    }

    /// Which shop owns each of these SKUs (unknown ones are absent).
    pub async fn sku_shops(&self, skus: &[SkuId]) -> Result<Vec<(SkuId, ShopId)>, StoreError> {
        if skus.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = skus.iter().map(|s| s.get().to_string()).collect();
        let statement = Statement {
            sql: Cow::Owned(format!("SELECT id, shop_id FROM skus WHERE id IN ({})", ids.join(","))),
            params: vec![],
        };
        self.query(statement, |r| {
            let (sku, shop) = (r.i64(0)?, r.i64(1)?);
            match (SkuId::new(sku), ShopId::new(shop)) {
                (Some(sku), Some(shop)) => Ok((sku, shop)),
                _ => Err(StoreError::corrupt(format!("sku {sku} shop {shop}"))),
            }
        })
        .await
    }

    pub async fn stock_of(&self, sku: SkuId) -> Result<Vec<(WarehouseId, StockLevel)>, StoreError> {
        let statement = Statement {
            sql: Cow::Owned(format!(
                "SELECT {} FROM stock WHERE sku_id = $1 ORDER BY warehouse_id",
                sql::STOCK_COLUMNS
            )),
            params: vec![Value::I64(sku.get())],
        };
        Ok(self
            .query(statement, sql::stock)
            .await?
            .into_iter()
            .map(|(_, w, l)| (w, l))
            .collect())
    }

    // ---- buyers, tokens and idempotency (platform level, not sharded) -------------------

    pub async fn buyer(&self, id: BuyerId) -> Result<Option<Buyer>, StoreError> {
        let statement = Statement {
            sql: Cow::Owned(format!("SELECT {} FROM buyers WHERE id = $1", sql::BUYER_COLUMNS)),
            params: vec![Value::I64(id.get())],
        };
        Ok(self.query(statement, sql::buyer).await?.pop())
    }

    pub async fn buyers(&self) -> Result<Vec<Buyer>, StoreError> {
        let statement = Statement {
            sql: Cow::Owned(format!("SELECT {} FROM buyers ORDER BY id", sql::BUYER_COLUMNS)),
            params: vec![],
        };
        self.query(statement, sql::buyer).await
    }

    /// Inserts a buyer and, in the same transaction, the idempotent response that announces it.
    pub async fn insert_buyer(&self, buyer: &Buyer, response: Option<&IdempotencyRecord>) -> Result<(), StoreError> {
        let mut statements = vec![sql::insert_buyer(buyer)];
        statements.extend(response.map(sql::idempotency_statement));
        self.execute_atomically(statements).await
    }

    pub async fn insert_token(
        &self,
        token: &TokenRecord,
        response: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        let mut statements = vec![sql::insert_token(token)];
        statements.extend(response.map(sql::idempotency_statement));
        self.execute_atomically(statements).await
    }

    pub async fn token(&self, id: i64) -> Result<Option<TokenRecord>, StoreError> {
        let statement = Statement {
            sql: Cow::Owned(format!("SELECT {} FROM api_tokens WHERE id = $1", sql::TOKEN_COLUMNS)),
            params: vec![Value::I64(id)],
        };
        Ok(self.query(statement, sql::token).await?.pop())
    }

    pub async fn count_admin_tokens(&self) -> Result<i64, StoreError> {
        let statement = Statement::new(
            "SELECT COUNT(*) FROM api_tokens WHERE role = 'admin' AND revoked_at IS NULL",
            vec![],
        );
        Ok(self.query(statement, |r| r.i64(0)).await?.pop().unwrap_or(0))
    }

    /// The stored response with this id, if it was stored (and not yet purged).
    pub async fn idempotency_record(&self, id: i64) -> Result<Option<IdempotencyRecord>, StoreError> {
        let statement = Statement {
            sql: Cow::Owned(format!(
                "SELECT {} FROM idempotency_responses WHERE id = $1",
                sql::IDEMPOTENCY_COLUMNS
            )),
            params: vec![Value::I64(id)],
        };
        Ok(self.query(statement, sql::idempotency).await?.pop())
    }

    /// The id, scope and key of every stored response.
    pub async fn idempotency_keys(&self) -> Result<Vec<(i64, String, String)>, StoreError> {
        let statement = Statement::new("SELECT id, scope, idempotency_key FROM idempotency_responses", vec![]);
        self.query(statement, |r| Ok((r.i64(0)?, r.text(1)?, r.text(2)?))).await
    }

    /// Forgets idempotent responses created before `before`.
    pub async fn purge_idempotency_records(&self, before: Timestamp) -> Result<(), StoreError> {
        let statement = Statement::new(
            "DELETE FROM idempotency_responses WHERE created_at < $1",
            vec![Value::I64(before.unix_ms())],
        );
        self.execute_atomically(vec![statement]).await
    }

    pub async fn flash_sale(&self, id: FlashSaleId) -> Result<Option<FlashSale>, StoreError> {
        let statement = Statement {
            sql: Cow::Owned(format!(
                "SELECT {} FROM flash_sales WHERE id = $1",
                sql::FLASH_SALE_COLUMNS
            )),
            params: vec![Value::I64(id.get())],
        };
        Ok(self.query(statement, sql::flash_sale).await?.pop())
    }

    /// Flash sales, newest first: of one shop, or (`None`) of every shop.
    pub async fn flash_sales(&self, shop: Option<ShopId>, limit: i64) -> Result<Vec<FlashSale>, StoreError> {
        let (condition, mut params) = match shop {
            Some(shop) => ("WHERE shop_id = $1", vec![Value::I64(shop.get())]),
            None => ("", vec![]),
        };
        params.push(Value::I64(limit));
        let statement = Statement {
            sql: Cow::Owned(format!(
                "SELECT {} FROM flash_sales {condition} ORDER BY id DESC LIMIT ${}",
                sql::FLASH_SALE_COLUMNS,
                params.len()
            )),
            params,
        };
        self.query(statement, sql::flash_sale).await
    }

    /// Units per order state, for the `orders by state` gauge.
    pub async fn order_counts_by_state(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let statement = Statement::new(
            "SELECT state, COUNT(*) FROM orders GROUP BY state ORDER BY state",
            vec![],
        );
        self.query(statement, |r| Ok((r.text(0)?, r.i64(1)?))).await
    }
}

/// What an auditor reads back about a flash sale: the database's own account of it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlashSaleAudit {
    pub allotted: i64,
    pub remaining: i64,
    pub closed: bool,
    /// Orders of the sale that are not cancelled, and their units.
    pub orders: i64,
    pub units_in_orders: i64,
    /// Buyers holding more units of the sale than its per-buyer limit.
    pub buyers_over_limit: i64,
    /// Request references carried by more than one order.
    pub duplicate_requests: i64,
}

/// The database's account of stock: rows with a negative count, and totals.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StockAudit {
    pub negative_rows: i64,
    pub available: i64,
    pub reserved: i64,
    pub sold: i64,
    /// Units held by pending orders (should equal `reserved` minus what open sales hold).
    pub units_in_pending_orders: i64,
    /// Units of orders paid for: paid, shipped or delivered (shipping does not un-sell them).
    pub units_in_paid_orders: i64,
    pub units_held_by_open_sales: i64,
}

impl Store {
    /// Inserts many buyers with one token each in one transaction (bulk set-up for benchmarks
    /// and imports).
    pub async fn insert_buyers_with_tokens(&self, rows: &[(Buyer, TokenRecord)]) -> Result<(), StoreError> {
        let mut statements = Vec::with_capacity(rows.len() * 2);
        for (buyer, token) in rows {
            statements.push(sql::insert_buyer(buyer));
            statements.push(sql::insert_token(token));
        }
        self.execute_atomically(statements).await
    }

    pub async fn audit_flash_sale(&self, sale: FlashSaleId) -> Result<FlashSaleAudit, StoreError> {
        let sql = "SELECT s.allotted, s.remaining, s.closed,
              (SELECT COUNT(*) FROM orders o WHERE o.flash_sale_id = s.id AND o.state <> 'cancelled'),
              (SELECT COALESCE(CAST(SUM(l.quantity) AS BIGINT), 0) FROM orders o JOIN order_lines l ON l.order_id = o.id
                 WHERE o.flash_sale_id = s.id AND o.state <> 'cancelled'),
              (SELECT COUNT(*) FROM (SELECT o.buyer_id FROM orders o JOIN order_lines l ON l.order_id = o.id
                 WHERE o.flash_sale_id = s.id AND o.state <> 'cancelled' GROUP BY o.buyer_id
                 HAVING SUM(l.quantity) > s.per_buyer_limit) AS over),
              (SELECT COUNT(*) FROM (SELECT request_ref FROM orders WHERE flash_sale_id = s.id
                 AND request_ref IS NOT NULL GROUP BY request_ref HAVING COUNT(*) > 1) AS dup)
            FROM flash_sales s WHERE s.id = $1";
        self.query_row(
            Statement::new(sql, vec![Value::I64(sale.get())]),
            |r| {
                Ok(FlashSaleAudit {
                    allotted: r.i64(0)?,
                    remaining: r.i64(1)?,
                    closed: r.i64(2)? != 0,
                    orders: r.i64(3)?,
                    units_in_orders: r.i64(4)?,
                    buyers_over_limit: r.i64(5)?,
                    duplicate_requests: r.i64(6)?,
                })
            },
            || format!("no flash sale {sale}"),
        )
        .await
    }

    pub async fn audit_stock(&self) -> Result<StockAudit, StoreError> {
        let sql = "SELECT
              (SELECT COUNT(*) FROM stock WHERE available < 0 OR reserved < 0 OR sold < 0),
              (SELECT COALESCE(CAST(SUM(available) AS BIGINT), 0) FROM stock),
              (SELECT COALESCE(CAST(SUM(reserved) AS BIGINT), 0) FROM stock),
              (SELECT COALESCE(CAST(SUM(sold) AS BIGINT), 0) FROM stock),
              (SELECT COALESCE(CAST(SUM(l.quantity) AS BIGINT), 0) FROM orders o JOIN order_lines l ON l.order_id = o.id
                 WHERE o.state = 'pending_payment'),
              (SELECT COALESCE(CAST(SUM(l.quantity) AS BIGINT), 0) FROM orders o JOIN order_lines l ON l.order_id = o.id
                 WHERE o.state IN ('paid', 'shipped', 'delivered')),
              (SELECT COALESCE(CAST(SUM(remaining) AS BIGINT), 0) FROM flash_sales WHERE closed = 0)";
        self.query_row(
            Statement::new(sql, vec![]),
            |r| {
                Ok(StockAudit {
                    negative_rows: r.i64(0)?,
                    available: r.i64(1)?,
                    reserved: r.i64(2)?,
                    sold: r.i64(3)?,
                    units_in_pending_orders: r.i64(4)?,
                    units_in_paid_orders: r.i64(5)?,
                    units_held_by_open_sales: r.i64(6)?,
                })
            },
            || "no stock audit row".into(),
        )
        .await
    }
}
