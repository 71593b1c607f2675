//! What the store's integration tests share: a fresh database per test on either backend, raw
//! SQL beside the store (as an older release or an operator would run it), and the macro that
//! runs one test body on both backends.
//!
//! PostgreSQL tests need `MIAODAN_TEST_POSTGRES_URL` (set by `scripts/test`, which starts a
//! server). Without it they fail, unless `MIAODAN_SKIP_POSTGRES=1` says to skip them.
#![allow(dead_code)]

use miaodan_store::throwaway::ThrowawayDatabase;
use miaodan_store::{Durability, Store};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each named `async fn name(backend: Backend)` of the including file once per backend.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Backend::Sqlite).await
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if $crate::support::skip_postgres() {
                        return;
                    }
                    super::$name($crate::support::Backend::Postgres).await
                }
            )*
        }
    };
}

pub fn skip_postgres() -> bool {
    if std::env::var("MIAODAN_TEST_POSTGRES_URL").is_ok() {
        return false;
    }
    if std::env::var("MIAODAN_SKIP_POSTGRES").as_deref() == Ok("1") {
        eprintln!("skipping a PostgreSQL test: MIAODAN_SKIP_POSTGRES=1");
        return true;
    }
    panic!("set MIAODAN_TEST_POSTGRES_URL (scripts/test does) or MIAODAN_SKIP_POSTGRES=1");
}

static DATABASES: AtomicU64 = AtomicU64::new(0);

fn unique_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .subsec_nanos();
    format!(
        "miaodan_store_test_{}_{}_{nanos}",
        std::process::id(),
        DATABASES.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fresh, empty database; a SQLite one lives in a directory, a PostgreSQL one is dropped, on drop.
pub struct Database {
    pub backend: Backend,
    pub url: String,
    dir: Option<PathBuf>,
    _postgres: Option<ThrowawayDatabase>,
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Database {
    pub async fn fresh(backend: Backend) -> Database {
        let name = unique_name();
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(name);
                std::fs::create_dir_all(&dir).expect("temp dir");
                let url = dir.join("miaodan.db").to_str().expect("utf-8 path").to_string();
                Database {
                    backend,
                    url,
                    dir: Some(dir),
                    _postgres: None,
                }
            }
            Backend::Postgres => {
                let admin_url = std::env::var("MIAODAN_TEST_POSTGRES_URL").expect("checked by skip_postgres");
                let database = ThrowawayDatabase::create(&admin_url, &name)
                    .await
                    .expect("postgres creates a database");
                Database {
                    backend,
                    url: database.url().to_string(),
                    dir: None,
                    _postgres: Some(database),
                }
            }
        }
    }

    pub async fn open(&self) -> Store {
        Store::open(&self.url, Durability::PowerLossSafe)
            .await
            .expect("store opens")
    }

    /// Runs raw SQL beside the store, as an older release or an operator would.
    pub async fn execute(&self, sql: &str) {
        match self.backend {
            Backend::Sqlite => rusqlite::Connection::open(&self.url)
                .expect("sqlite opens")
                .execute_batch(sql)
                .expect("sql runs"),
            Backend::Postgres => admin_execute(&self.url, sql).await,
        }
    }

    /// The text columns of every row `sql` answers, read beside the store.
    pub async fn texts(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        match self.backend {
            Backend::Sqlite => {
                let connection = rusqlite::Connection::open(&self.url).expect("sqlite opens");
                let mut statement = connection.prepare(sql).expect("sql prepares");
                let columns = statement.column_count();
                statement
                    .query_map([], |row| (0..columns).map(|i| row.get(i)).collect())
                    .expect("sql runs")
                    .map(|row| row.expect("a row"))
                    .collect()
            }
            Backend::Postgres => {
                let (client, connection) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls)
                    .await
                    .expect("postgres connects");
                tokio::spawn(connection);
                client
                    .query(sql, &[])
                    .await
                    .expect("sql runs")
                    .iter()
                    .map(|row| (0..row.len()).map(|i| row.get(i)).collect())
                    .collect()
            }
        }
    }

    pub async fn schema_version(&self) -> i64 {
        let sql = "SELECT version FROM schema_version";
        match self.backend {
            Backend::Sqlite => rusqlite::Connection::open(&self.url)
                .expect("sqlite opens")
                .query_row(sql, [], |r| r.get(0))
                .expect("one version row"),
            Backend::Postgres => {
                let (client, connection) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls)
                    .await
                    .expect("postgres connects");
                tokio::spawn(connection);
                client.query_one(sql, &[]).await.expect("one version row").get(0)
            }
        }
    }
}

pub async fn admin_execute(url: &str, sql: &str) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("postgres connects");
    tokio::spawn(connection);
    client.batch_execute(sql).await.expect("sql runs");
}
