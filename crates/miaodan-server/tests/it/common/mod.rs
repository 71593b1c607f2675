//! The test harness: a real server on a free loopback port over a fresh database, on either
//! backend, driven over real HTTP. `both_backends!` runs each test on SQLite and PostgreSQL.
//!
//! PostgreSQL tests need `MIAODAN_TEST_POSTGRES_URL` (set by `scripts/test`, which starts a
//! server). Without it they fail, unless `MIAODAN_SKIP_POSTGRES=1` says to skip them.
#![allow(dead_code, clippy::unwrap_used)]

use miaodan_server::clock::Clock;
use miaodan_server::{AppState, Config, PaymentsConfig, Running};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::common::Backend::Sqlite).await
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if super::common::skip_postgres() {
                        return;
                    }
                    super::$name(super::common::Backend::Postgres).await
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

/// What keeps a fresh database alive: a SQLite directory, or a PostgreSQL database dropped with it.
pub enum DatabaseGuard {
    Sqlite(tempfile::TempDir),
    Postgres(miaodan_store::throwaway::ThrowawayDatabase),
    /// Another app's database, kept by that app ([`TestApp::beside`]).
    Borrowed,
}

/// A fresh, empty database URL for `backend`, and the guard that removes the database on drop.
pub async fn fresh_database(backend: Backend) -> (String, DatabaseGuard) {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("miaodan.db");
            (path.to_str().unwrap().to_string(), DatabaseGuard::Sqlite(dir))
        }
        Backend::Postgres => {
            let admin_url = std::env::var("MIAODAN_TEST_POSTGRES_URL").unwrap();
            let name = format!(
                "miaodan_test_{}_{}_{}",
                std::process::id(),
                DATABASES.fetch_add(1, Ordering::Relaxed),
                rand_suffix()
            );
            let database = miaodan_store::throwaway::ThrowawayDatabase::create(&admin_url, &name)
                .await
                .unwrap();
            (database.url().to_string(), DatabaseGuard::Postgres(database))
        }
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
}

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub admin: String,
    pub config: Config,
    /// The simpay this test serves over loopback HTTP (see [`TestApp::spawn_with_remote_simpay`]);
    /// `None` when the platform runs its own simpay in process.
    remote_simpay: Option<simpay::SimPay>,
    running: Option<Running>,
    _database: DatabaseGuard,
}

/// The webhook secret shared with a simpay the test serves itself.
pub const WEBHOOK_SECRET: &[u8] = b"whsec_miaodan_tests";
/// A wallet credential simpay approves (any credential but its test credentials is approved).
pub const WALLET: &str = "sim-wallet-approved";

/// Sends a request and reads its answer; usable from a spawned task.
pub async fn answer(request: reqwest::RequestBuilder) -> Answer {
    answer_of(request.send().await.unwrap()).await
}

/// Polls `probe` every 50 ms until it gives `Some`, for at most `within`; then fails naming `what`.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A response: status, JSON body (or `Value::Null`), and the content type.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
    pub content_type: String,
    pub replayed: bool,
    pub raw: String,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
    pub fn id(&self) -> i64 {
        self.body["id"]
            .as_i64()
            .unwrap_or_else(|| panic!("no id in {:?}", self.body))
    }
    /// Asserts a problem+json answer with this status and code.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "status of {}", self.raw);
        assert_eq!(self.code(), code, "code of {}", self.raw);
        assert_eq!(
            self.content_type, "application/problem+json",
            "content type of {}",
            self.raw
        );
    }
    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "status of {}", self.raw);
        &self.body
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        TestApp::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestApp {
        let (database, dir) = fresh_database(backend).await;
        let mut config = Config::new("127.0.0.1:0".parse().unwrap(), database);
        adjust(&mut config);
        let state = AppState::open(config.clone()).await.unwrap();
        let admin = state
            .bootstrap_admin_token()
            .await
            .unwrap()
            .expect("a fresh database has no admin token");
        let running = miaodan_server::serve(state).await.unwrap();
        TestApp {
            base: format!("http://{}", running.address),
            http: reqwest::Client::new(),
            admin,
            config,
            remote_simpay: None,
            running: Some(running),
            _database: dir,
        }
    }

    /// A second process serving this app's database (which this app keeps: drop the second
    /// first), its configuration this app's adjusted by `adjust`; it shares the admin token.
    pub async fn beside(&self, adjust: impl FnOnce(&mut Config)) -> TestApp {
        let mut config = self.config.clone();
        config.listen = "127.0.0.1:0".parse().unwrap();
        adjust(&mut config);
        let state = AppState::open(config.clone()).await.unwrap();
        let running = miaodan_server::serve(state).await.unwrap();
        TestApp {
            base: format!("http://{}", running.address),
            http: reqwest::Client::new(),
            admin: self.admin.clone(),
            config,
            remote_simpay: None,
            running: Some(running),
            _database: DatabaseGuard::Borrowed,
        }
    }

    /// A server whose provider is a simpay this test serves over loopback HTTP with a known
    /// webhook secret ([`WEBHOOK_SECRET`]), so that tests can sign notifications themselves. The
    /// simpay outlives restarts of the server, books included, and sends its webhooks to it.
    pub async fn spawn_with_remote_simpay(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestApp {
        let simpay = simpay::SimPay::new(simpay::Config {
            seed: 7,
            secret: WEBHOOK_SECRET.to_vec(),
            webhook_url: None,
            faults: simpay::Faults::default(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(simpay::serve(simpay.clone(), listener));
        let mut app = TestApp::spawn_with(backend, |config| {
            config.payments = PaymentsConfig::RemoteSimpay {
                url,
                secret: WEBHOOK_SECRET.to_vec(),
            };
            adjust(config);
        })
        .await;
        simpay.set_webhook_url(Some(app.url("/v1/webhooks/simpay")));
        app.remote_simpay = Some(simpay);
        app
    }

    /// The simulator behind the platform: the test's own (remote) or the in-process one. An
    /// in-process simpay starts with empty books at every restart; a remote one does not.
    pub fn simpay(&self) -> simpay::SimPay {
        match &self.remote_simpay {
            Some(simpay) => simpay.clone(),
            None => self.state().simpay.clone().expect("an in-process simpay"),
        }
    }

    /// The webhook secret, known only when the test serves simpay itself.
    pub fn webhook_secret(&self) -> Option<&'static [u8]> {
        self.remote_simpay.as_ref().map(|_| WEBHOOK_SECRET)
    }

    /// Stops the server gracefully and starts a new process-equivalent on the same database:
    /// every shard rebuilds its memory from the tables.
    pub async fn restart(&mut self) {
        self.restart_after(|_| async {}).await;
    }

    /// Stops the server, runs `between` on its database (as a command-line tool run while the
    /// server is down would), and starts it again.
    pub async fn restart_after<F, Fut>(&mut self, between: F)
    where
        F: FnOnce(String) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
        between(self.config.database.clone()).await;
        let state = AppState::open(self.config.clone()).await.unwrap();
        let running = miaodan_server::serve(state).await.unwrap();
        self.base = format!("http://{}", running.address);
        self.running = Some(running);
        if let Some(simpay) = &self.remote_simpay {
            simpay.set_webhook_url(Some(self.url("/v1/webhooks/simpay")));
        }
    }

    pub fn state(&self) -> &AppState {
        &self.running.as_ref().unwrap().state
    }

    /// `GET /metrics` on the metrics listener, if the config has one.
    pub fn metrics_url(&self) -> Option<String> {
        let address = self.running.as_ref().unwrap().metrics_address?;
        Some(format!("http://{address}/metrics"))
    }

    /// The server's `host:port`, for raw TCP.
    pub fn address(&self) -> String {
        self.base.trim_start_matches("http://").to_string()
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        answer(request).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.send(self.http.get(self.url(path)).bearer_auth(token)).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Answer {
        self.send(self.http.post(self.url(path)).bearer_auth(token).json(&body))
            .await
    }

    pub async fn post_with_key(&self, path: &str, token: &str, key: &str, body: Value) -> Answer {
        self.send(
            self.http
                .post(self.url(path))
                .bearer_auth(token)
                .header("Idempotency-Key", key)
                .json(&body),
        )
        .await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Answer {
        self.send(self.http.patch(self.url(path)).bearer_auth(token).json(&body))
            .await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> Answer {
        self.send(self.http.put(self.url(path)).bearer_auth(token).json(&body))
            .await
    }

    // ---- world building through the public API ------------------------------------

    /// A shop and a merchant token for it.
    pub async fn shop(&self, name: &str) -> (i64, String) {
        let shop = self.post("/v1/shops", &self.admin, json!({ "name": name })).await;
        let id = shop.assert_status(201)["id"].as_i64().unwrap();
        let token = self
            .post(&format!("/v1/shops/{id}/tokens"), &self.admin, json!({}))
            .await;
        (id, token.assert_status(201)["token"].as_str().unwrap().to_string())
    }

    /// A buyer with a default address in 上海市黄浦区, and a buyer token.
    pub async fn buyer(&self, name: &str) -> (i64, String) {
        let buyer = self
            .post(
                "/v1/buyers",
                &self.admin,
                json!({ "name": name, "default_address": { "adcode": "310101000000", "detail": "南京东路1号" } }),
            )
            .await;
        let id = buyer.assert_status(201)["id"].as_i64().unwrap();
        let token = self
            .post(&format!("/v1/buyers/{id}/tokens"), &self.admin, json!({}))
            .await;
        (id, token.assert_status(201)["token"].as_str().unwrap().to_string())
    }

    pub async fn warehouse(&self, merchant: &str, name: &str, adcode: &str) -> i64 {
        self.post("/v1/warehouses", merchant, json!({ "name": name, "adcode": adcode }))
            .await
            .assert_status(201)["id"]
            .as_i64()
            .unwrap()
    }

    /// A product with one SKU per price; returns the SKU ids.
    pub async fn product(&self, merchant: &str, title: &str, prices: &[i64]) -> Vec<i64> {
        let skus: Vec<Value> = prices
            .iter()
            .enumerate()
            .map(|(i, p)| json!({ "name": format!("款式{i}"), "price_fen": p }))
            .collect();
        let product = self
            .post("/v1/products", merchant, json!({ "title": title, "skus": skus }))
            .await;
        product.assert_status(201)["skus"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_i64().unwrap())
            .collect()
    }

    pub async fn stock(&self, merchant: &str, sku: i64, warehouse: i64, available: i64) -> Value {
        self.put(
            &format!("/v1/skus/{sku}/stock/{warehouse}"),
            merchant,
            json!({ "available": available }),
        )
        .await
        .assert_status(200)
        .clone()
    }

    /// The stock of `sku` in `warehouse` as (available, reserved, sold).
    pub async fn level(&self, merchant: &str, sku: i64, warehouse: i64) -> (i64, i64, i64) {
        let levels = self.get(&format!("/v1/skus/{sku}/stock?limit=200"), merchant).await;
        let rows = levels.assert_status(200)["items"].as_array().unwrap().clone();
        let row = rows
            .iter()
            .find(|r| r["warehouse_id"] == warehouse)
            .cloned()
            .unwrap_or(json!({}));
        (
            row["available"].as_i64().unwrap_or(0),
            row["reserved"].as_i64().unwrap_or(0),
            row["sold"].as_i64().unwrap_or(0),
        )
    }

    pub async fn checkout(&self, buyer: &str, lines: &[(i64, i64)]) -> Answer {
        let lines: Vec<Value> = lines
            .iter()
            .map(|(sku, q)| json!({ "sku_id": sku, "quantity": q }))
            .collect();
        self.post("/v1/checkouts", buyer, json!({ "lines": lines })).await
    }

    // ---- payments through the public API ------------------------------------------------

    /// Opens (or finds) the payment intent of a checkout.
    pub async fn open_intent(&self, buyer: &str, checkout: i64) -> Answer {
        self.post("/v1/payment-intents", buyer, json!({ "checkout_id": checkout }))
            .await
    }

    /// Confirms an intent with `body` (`{"credential": …}` or `{"one_tap": true}`).
    pub async fn confirm(&self, buyer: &str, intent: i64, body: Value) -> Answer {
        self.post(&format!("/v1/payment-intents/{intent}/confirm"), buyer, body)
            .await
    }

    /// The intent as an operator sees it.
    pub async fn intent(&self, intent: i64) -> Value {
        self.get(&format!("/v1/payment-intents/{intent}"), &self.admin)
            .await
            .assert_status(200)
            .clone()
    }

    /// The order as an operator sees it.
    pub async fn order(&self, order: i64) -> Value {
        self.get(&format!("/v1/orders/{order}"), &self.admin)
            .await
            .assert_status(200)
            .clone()
    }

    /// Pays a checkout with an approved wallet: opens its intent and confirms it; returns the
    /// captured intent.
    pub async fn pay_checkout(&self, buyer: &str, checkout: i64) -> Value {
        let opened = self.open_intent(buyer, checkout).await;
        let intent = opened.assert_status(201)["id"].as_i64().unwrap();
        let paid = self.confirm(buyer, intent, json!({ "credential": WALLET })).await;
        let paid = paid.assert_status(200).clone();
        assert_eq!(paid["status"], "captured", "{paid}");
        paid
    }

    /// Pays the checkout an order belongs to; returns the captured intent.
    pub async fn pay_order(&self, buyer: &str, order: i64) -> Value {
        let checkout = self.order(order).await["checkout_id"].as_i64().unwrap();
        self.pay_checkout(buyer, checkout).await
    }

    pub async fn shutdown(mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
    }
}

/// A small world: one shop with two warehouses, a product with two SKUs, stock, one buyer.
pub struct World {
    pub shop: i64,
    pub merchant: String,
    pub warehouses: [i64; 2],
    pub skus: Vec<i64>,
    pub buyer: i64,
    pub buyer_token: String,
}

impl TestApp {
    pub async fn world(&self) -> World {
        let (shop, merchant) = self.shop("川味小铺").await;
        let w1 = self.warehouse(&merchant, "成都仓", "510116000000").await;
        let w2 = self.warehouse(&merchant, "上海仓", "310114000000").await;
        let skus = self.product(&merchant, "麻辣牛肉干", &[5990, 10990]).await;
        for sku in &skus {
            self.stock(&merchant, *sku, w1, 5).await;
            self.stock(&merchant, *sku, w2, 3).await;
        }
        let (buyer, buyer_token) = self.buyer("张三").await;
        World {
            shop,
            merchant,
            warehouses: [w1, w2],
            skus,
            buyer,
            buyer_token,
        }
    }
}

// ---- carriers (fulfillment and logistics) -------------------------------------------------

/// The webhook secret shared with a carrier simulator the test serves itself.
pub const CARRIER_WEBHOOK_SECRET: &[u8] = b"whsec_miaodan_carrier_tests";

/// A carrier simulator in manual mode (tracking events happen only when the test advances or
/// emits them), served over loopback HTTP with [`CARRIER_WEBHOOK_SECRET`], so that tests can
/// sign webhooks themselves; returns it and its URL. It outlives restarts of the server, books
/// included: point its webhooks at the server again after each (see
/// [`TestApp::spawn_with_remote_carrier`]).
pub async fn serve_carrier_simulator() -> (simcarrier::SimCarrier, String) {
    let carrier = simcarrier::SimCarrier::new(simcarrier::Config {
        seed: 11,
        secret: CARRIER_WEBHOOK_SECRET.to_vec(),
        webhook_url: None,
        time_scale: simcarrier::TimeScale::MANUAL,
        odds: simcarrier::ScenarioOdds::default(),
        faults: simcarrier::Faults::default(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(simcarrier::serve(carrier.clone(), listener));
    (carrier, url)
}

impl TestApp {
    /// A server on `clock` (the test's own, which it moves) whose carriers are simulated in
    /// process in manual mode: a parcel moves only when the test says so
    /// (`app.carrier().advance(…)` / `emit(…)`).
    pub async fn spawn_with_manual_carriers(backend: Backend, clock: &Clock) -> TestApp {
        TestApp::spawn_with(backend, |config| {
            config.clock = clock.clone();
            config.carriers = miaodan_server::carriers::CarriersConfig::manual();
        })
        .await
    }

    /// A server on `clock` whose carrier is the simulator `carrier` served at `url` (see
    /// [`serve_carrier_simulator`]), with its webhooks pointed at the server.
    pub async fn spawn_with_remote_carrier(
        backend: Backend,
        clock: &Clock,
        carrier: &simcarrier::SimCarrier,
        url: &str,
    ) -> TestApp {
        let app = TestApp::spawn_with(backend, |config| {
            config.clock = clock.clone();
            config.carriers = miaodan_server::carriers::CarriersConfig::Remote {
                url: url.to_string(),
                secret: CARRIER_WEBHOOK_SECRET.to_vec(),
            };
        })
        .await;
        carrier.set_webhook_url(Some(app.url("/v1/webhooks/carriers")));
        app
    }

    /// The in-process carrier simulator (a new one, with empty books, at every restart).
    pub fn carrier(&self) -> simcarrier::SimCarrier {
        self.state()
            .carriers
            .simulator
            .clone()
            .expect("an in-process carrier simulator")
    }
}

/// The password test staff members are made with.
pub const STAFF_PASSWORD: &str = "correct-horse-7";

/// A console session as a browser holds it: the cookie and the CSRF token from sign-in.
#[derive(Clone, Debug)]
pub struct Session {
    /// `miaodan_session=<secret>`, as the `Cookie` header sends it.
    pub cookie: String,
    pub csrf: String,
    /// The sign-in answer.
    pub body: Value,
}

impl TestApp {
    /// A staff member of `shop` (or the platform) with `role` and [`STAFF_PASSWORD`], made
    /// with `token`; its id.
    pub async fn staff_member(&self, token: &str, shop: Option<i64>, login: &str, role: &str) -> i64 {
        let body = json!({ "shop_id": shop, "login": login, "name": login, "role": role, "password": STAFF_PASSWORD });
        self.post("/v1/staff", token, body).await.assert_status(201)["id"]
            .as_i64()
            .unwrap()
    }

    /// Signs in (asserting 201): the session cookie and the CSRF token.
    pub async fn sign_in(&self, login: &str, password: &str) -> Session {
        let response = self
            .http
            .post(self.url("/v1/sessions"))
            .json(&json!({ "login": login, "password": password }))
            .send()
            .await
            .unwrap();
        let set_cookie = response
            .headers()
            .get("set-cookie")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let answer = answer_of(response).await;
        let body = answer.assert_status(201).clone();
        let cookie = set_cookie.split(';').next().unwrap().to_string();
        assert!(cookie.starts_with("miaodan_session="), "{set_cookie}");
        Session {
            cookie,
            csrf: body["csrf_token"].as_str().unwrap().to_string(),
            body,
        }
    }

    /// A request carrying `session`'s cookie and (for mutations) its CSRF token.
    pub fn with_session(&self, method: reqwest::Method, path: &str, session: &Session) -> reqwest::RequestBuilder {
        let request = self
            .http
            .request(method.clone(), self.url(path))
            .header("cookie", &session.cookie);
        match method {
            reqwest::Method::GET | reqwest::Method::HEAD => request,
            _ => request.header("x-csrf-token", &session.csrf),
        }
    }

    pub async fn session_get(&self, path: &str, session: &Session) -> Answer {
        self.send(self.with_session(reqwest::Method::GET, path, session)).await
    }

    pub async fn session_send(&self, method: reqwest::Method, path: &str, session: &Session, body: Value) -> Answer {
        self.send(self.with_session(method, path, session).json(&body)).await
    }
}

async fn answer_of(response: reqwest::Response) -> Answer {
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let replayed = response.headers().get("idempotent-replayed").is_some();
    let raw = response.text().await.unwrap();
    let body = serde_json::from_str(&raw).unwrap_or(Value::Null);
    Answer {
        status,
        body,
        content_type,
        replayed,
        raw,
    }
}

/// A running flash sale of 5 units, one per buyer, on the world's first SKU, and the world's
/// buyer's token.
pub async fn flash_sale_with_a_buyer(app: &TestApp) -> (String, i64) {
    let w = app.world().await;
    let starts_at = (jiff::Timestamp::now() - jiff::SignedDuration::from_secs(1)).to_string();
    let ends_at = (jiff::Timestamp::now() + jiff::SignedDuration::from_secs(3600)).to_string();
    let sale = app
        .post(
            "/v1/flash-sales",
            &w.merchant,
            json!({ "sku_id": w.skus[0], "warehouse_id": w.warehouses[0], "starts_at": starts_at,
                    "ends_at": ends_at, "price_fen": 990, "units": 5, "per_buyer_limit": 1 }),
        )
        .await;
    (w.buyer_token, sale.assert_status(201)["id"].as_i64().unwrap())
}

/// A buyer's tap on a flash sale, under `key`.
pub async fn tap(app: &TestApp, buyer: &str, sale: i64, key: &str) -> reqwest::Response {
    app.http
        .post(app.url(&format!("/v1/flash-sales/{sale}/taps")))
        .bearer_auth(buyer)
        .header("Idempotency-Key", key)
        .send()
        .await
        .unwrap()
}
