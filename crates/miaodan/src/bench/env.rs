//! The benchmark's world: a fresh database on the chosen backend, the platform opened on it
//! (in-process), set-up commands, and a minimal keep-alive HTTP/1 client for `--mode http`.

use super::Common;
use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use miaodan_domain::ShopId;
use miaodan_domain::shard::{Command, Outcome};
use miaodan_server::{AppState, Config};
use miaodan_store::Durability;
use miaodan_store::throwaway::ThrowawayDatabase;
use std::net::SocketAddr;

pub struct Env {
    pub state: AppState,
    pub backend: String,
    _database: BenchDatabase,
}

/// What keeps the bench's database alive for the run and removes it after (held for its drop,
/// never read).
#[allow(dead_code)]
enum BenchDatabase {
    Sqlite { _dir: tempfile::TempDir },
    Postgres { _database: ThrowawayDatabase },
}

impl Env {
    pub async fn open(common: &Common, payment_timeout_seconds: i64) -> anyhow::Result<Env> {
        Env::open_with(common, payment_timeout_seconds, |_| {}).await
    }

    /// [`Env::open`] with the platform's configuration adjusted first (its carriers, its clock).
    pub async fn open_with(
        common: &Common,
        payment_timeout_seconds: i64,
        adjust: impl FnOnce(&mut Config),
    ) -> anyhow::Result<Env> {
        let (database, kept) = match common.backend {
            super::BackendArg::Sqlite => {
                let dir = tempfile::Builder::new().prefix("miaodan-bench-").tempdir()?;
                let path = dir.path().join("bench.db");
                (path.to_string_lossy().into_owned(), BenchDatabase::Sqlite { _dir: dir })
            }
            super::BackendArg::Postgres => {
                let database = fresh_postgres(common).await?;
                (
                    database.url().to_string(),
                    BenchDatabase::Postgres { _database: database },
                )
            }
        };
        let mut config = Config::new("127.0.0.1:0".parse()?, database.clone());
        config.shards = common.shards;
        config.payment_timeout_seconds = payment_timeout_seconds;
        config.durability = Durability::PowerLossSafe;
        adjust(&mut config);
        let state = AppState::open(config)
            .await
            .with_context(|| format!("opening {database}"))?;
        let backend = state.store.backend_name().to_string();
        Ok(Env {
            state,
            backend,
            _database: kept,
        })
    }

    /// Sends a set-up command and insists it succeeds.
    pub async fn setup(&self, shop: ShopId, command: Command) -> anyhow::Result<Outcome> {
        self.state.submit_accepted(shop, command).await
    }
}

/// Creates a database named after this run on the PostgreSQL server of `--database` (or
/// `MIAODAN_BENCH_POSTGRES_URL`, or `MIAODAN_TEST_POSTGRES_URL`); it is dropped when the run ends.
async fn fresh_postgres(common: &Common) -> anyhow::Result<ThrowawayDatabase> {
    let admin = common
        .database
        .clone()
        .or_else(|| std::env::var("MIAODAN_BENCH_POSTGRES_URL").ok())
        .or_else(|| std::env::var("MIAODAN_TEST_POSTGRES_URL").ok())
        .context(
            "--backend postgres needs --database postgres://user@host/db (a server to create the bench database on)",
        )?;
    let name = format!(
        "miaodan_bench_{}_{}",
        std::process::id(),
        jiff::Timestamp::now().as_second()
    );
    ThrowawayDatabase::create(&admin, &name)
        .await
        .with_context(|| format!("creating database {name} on {admin}"))
}

/// One keep-alive HTTP/1 connection.
pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
    host: String,
}

pub struct Response {
    pub status: u16,
    pub replayed: bool,
    pub body: Bytes,
}

impl Connection {
    pub async fn open(address: SocketAddr) -> anyhow::Result<Connection> {
        let stream = tokio::net::TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Connection {
            sender,
            host: address.to_string(),
        })
    }

    pub async fn post(&mut self, path: &str, token: &str, key: Option<&str>, body: Bytes) -> anyhow::Result<Response> {
        let mut request = hyper::Request::post(path)
            .header("host", &self.host)
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json");
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        self.sender.ready().await?;
        let response = self.sender.send_request(request.body(Full::new(body))?).await?;
        let status = response.status().as_u16();
        let replayed = response.headers().contains_key("idempotent-replayed");
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Response { status, replayed, body })
    }
}

impl Connection {
    /// A GET, read to its end.
    pub async fn get(&mut self, path: &str, token: &str) -> anyhow::Result<Response> {
        let response = self.get_streaming(path, token).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Response {
            status,
            replayed: false,
            body,
        })
    }

    /// A GET whose body is read by the caller as it arrives (a Server-Sent Events stream).
    pub async fn get_streaming(
        &mut self,
        path: &str,
        token: &str,
    ) -> anyhow::Result<hyper::Response<hyper::body::Incoming>> {
        let request = hyper::Request::get(path)
            .header("host", &self.host)
            .header("authorization", format!("Bearer {token}"))
            .body(Full::new(Bytes::new()))?;
        self.sender.ready().await?;
        Ok(self.sender.send_request(request).await?)
    }
}

/// The `code` of a problem+json body, or `""`.
pub fn problem_code(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("code").and_then(|c| c.as_str()).map(str::to_string))
        .unwrap_or_default()
}
