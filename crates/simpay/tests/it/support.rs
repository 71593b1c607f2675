//! The harness: a fresh simpay per test behind the transport under test, request builders, and a
//! webhook receiver that records what it is sent.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use simpay::{AuthorizeRequest, Config, DeliveryStats, Faults, RefundRequest, SIGNATURE_HEADER, SimPay, SimpayClient};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;

pub const SECRET: &[u8] = b"whsec_integration";
pub const GOOD_CREDENTIAL: &str = "wallet-of-a-good-buyer";

pub fn config() -> Config {
    Config {
        seed: 42,
        secret: SECRET.to_vec(),
        webhook_url: None,
        faults: Faults::default(),
    }
}

/// One simpay and a client reaching it through one transport; `simpay` is the same instance,
/// kept to inspect what the client's calls did.
pub struct Harness {
    pub transport: &'static str,
    pub simpay: SimPay,
    pub client: SimpayClient,
}

/// A fresh simpay per transport.
pub async fn transports() -> Vec<Harness> {
    vec![in_process(config()), over_http(config(), Duration::from_secs(5)).await]
}

pub fn in_process(config: Config) -> Harness {
    let simpay = SimPay::new(config);
    Harness {
        transport: "in process",
        client: SimpayClient::in_process(simpay.clone()),
        simpay,
    }
}

pub async fn over_http(config: Config, request_timeout: Duration) -> Harness {
    let simpay = SimPay::new(config);
    let addr = spawn_server(simpay.clone()).await;
    Harness {
        transport: "http",
        client: SimpayClient::http(format!("http://{addr}"), request_timeout).unwrap(),
        simpay,
    }
}

pub async fn spawn_server(simpay: SimPay) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(simpay::serve(simpay, listener));
    addr
}

/// An authorization captured in the same step.
pub fn sale(reference: &str, amount_fen: i64) -> AuthorizeRequest {
    AuthorizeRequest {
        reference: reference.to_string(),
        amount_fen,
        credential: GOOD_CREDENTIAL.to_string(),
        capture: true,
        expires_at_ms: None,
    }
}

/// An authorization left for a later capture or void.
pub fn hold(reference: &str, amount_fen: i64) -> AuthorizeRequest {
    AuthorizeRequest {
        capture: false,
        ..sale(reference, amount_fen)
    }
}

pub fn refund(reference: &str, charge_reference: &str, amount_fen: i64) -> RefundRequest {
    RefundRequest {
        reference: reference.to_string(),
        charge_reference: charge_reference.to_string(),
        amount_fen,
    }
}

pub fn now_ms() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

pub fn now_s() -> i64 {
    now_ms() / 1000
}

/// Waits (at most 10 s) until no webhook delivery is owed, and returns the counters then.
pub async fn wait_until_deliveries_settle(simpay: &SimPay) -> DeliveryStats {
    let settled = async {
        loop {
            let stats = simpay.delivery_stats();
            if stats.pending == 0 {
                return stats;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), settled)
        .await
        .expect("webhook deliveries settle within 10 s")
}

/// One request as the receiver saw it.
#[derive(Clone, Debug)]
pub struct Received {
    pub signature: Option<String>,
    pub body: Bytes,
    pub answered: StatusCode,
}

/// A merchant's webhook endpoint on loopback that records every request and answers 500 to the
/// first `failures_first` of them and 200 afterwards, after `answer_delay`.
pub struct Receiver {
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

#[derive(Clone)]
struct ReceiverState {
    received: Arc<Mutex<Vec<Received>>>,
    requests: Arc<AtomicUsize>,
    failures_first: usize,
    answer_delay: Duration,
}

impl Receiver {
    pub async fn spawn(failures_first: usize, answer_delay: Duration) -> Receiver {
        let received = Arc::new(Mutex::new(Vec::new()));
        let state = ReceiverState {
            received: received.clone(),
            requests: Arc::new(AtomicUsize::new(0)),
            failures_first,
            answer_delay,
        };
        let app = Router::new().route("/webhooks/simpay", post(receive)).with_state(state);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver {
            url: format!("http://{addr}/webhooks/simpay"),
            received,
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

async fn receive(State(state): State<ReceiverState>, headers: HeaderMap, body: Bytes) -> StatusCode {
    tokio::time::sleep(state.answer_delay).await;
    let seen_before = state.requests.fetch_add(1, Ordering::SeqCst);
    let answered = if seen_before < state.failures_first {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    let signature = headers
        .get(SIGNATURE_HEADER)
        .map(|value| value.to_str().unwrap().to_string());
    state.received.lock().unwrap().push(Received {
        signature,
        body,
        answered,
    });
    answered
}
