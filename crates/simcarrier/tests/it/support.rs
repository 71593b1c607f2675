//! The harness: a fresh simulator per test behind the transport under test, request builders, and
//! a webhook receiver on loopback that verifies and records what it is sent.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use simcarrier::signature::{TOLERANCE_SECONDS_DEFAULT, verify};
use simcarrier::{
    Carrier, Config, CreateWaybill, DeliveryStats, Faults, SIGNATURE_HEADER, Scenario, ScenarioOdds, SignatureError,
    SimCarrier, SimCarrierClient, TimeScale, TrackingEvent, TrackingState,
};
use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;

pub const SECRET: &[u8] = b"whsec_carrier_integration";
/// 上海市 嘉定区, where the warehouse is.
pub const ORIGIN: &str = "310114000000";
/// 广东省 深圳市 南山区, where the buyer is.
pub const DESTINATION: &str = "440305000000";
/// 2024-06-18T16:00:00Z, a whole second.
pub const AT_MS: i64 = 1_718_726_400_000;
/// How long any wait in these tests may take before it fails.
pub const DEADLINE: Duration = Duration::from_secs(10);

pub fn config() -> Config {
    Config {
        seed: 42,
        secret: SECRET.to_vec(),
        webhook_url: None,
        time_scale: TimeScale::MANUAL,
        odds: ScenarioOdds::default(),
        faults: Faults::default(),
    }
}

pub fn shipment(carrier: Carrier, reference: &str) -> CreateWaybill {
    CreateWaybill {
        carrier,
        reference: reference.to_string(),
        origin_adcode: ORIGIN.to_string(),
        destination_adcode: DESTINATION.to_string(),
        scenario: None,
    }
}

pub fn shipment_with(scenario: Scenario, reference: &str) -> CreateWaybill {
    CreateWaybill {
        scenario: Some(scenario),
        ..shipment(Carrier::Sf, reference)
    }
}

pub fn states(events: &[TrackingEvent]) -> Vec<TrackingState> {
    events.iter().map(|event| event.state).collect()
}

pub fn ids(events: &[TrackingEvent]) -> Vec<String> {
    events.iter().map(|event| event.event_id.clone()).collect()
}

/// One simulator and a client reaching it through one transport; `simcarrier` is the same
/// instance, kept to inspect what the client's calls did.
pub struct Harness {
    pub transport: &'static str,
    pub simcarrier: SimCarrier,
    pub client: SimCarrierClient,
}

/// A fresh simulator per transport, both made from `config`.
pub async fn transports(config: Config) -> Vec<Harness> {
    vec![
        in_process(config.clone()),
        over_http(config, Duration::from_secs(5)).await,
    ]
}

pub fn in_process(config: Config) -> Harness {
    let simcarrier = SimCarrier::new(config);
    Harness {
        transport: "in process",
        client: SimCarrierClient::in_process(simcarrier.clone()),
        simcarrier,
    }
}

pub async fn over_http(config: Config, request_timeout: Duration) -> Harness {
    let simcarrier = SimCarrier::new(config);
    let addr = spawn_server(simcarrier.clone()).await;
    Harness {
        transport: "http",
        client: SimCarrierClient::http(format!("http://{addr}"), request_timeout).unwrap(),
        simcarrier,
    }
}

pub async fn spawn_server(simcarrier: SimCarrier) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(simcarrier::serve(simcarrier, listener));
    addr
}

pub fn now_ms() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

pub fn now_s() -> i64 {
    now_ms() / 1_000
}

/// Polls `probe` every 5 ms until it gives a value, failing the test after [`DEADLINE`].
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(started.elapsed() < DEADLINE, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits until no webhook delivery is owed, and returns the counters then.
pub async fn settled(simcarrier: &SimCarrier) -> DeliveryStats {
    eventually("deliveries to settle", || async {
        let stats = simcarrier.delivery_stats();
        (stats.pending == 0).then_some(stats)
    })
    .await
}

/// One request as the receiver saw it.
#[derive(Clone, Debug)]
pub struct Received {
    pub signature: Option<String>,
    pub body: Bytes,
    /// The receiver's own check, made on arrival with its clock.
    pub verified: Result<(), SignatureError>,
    pub answered: StatusCode,
    pub at: Instant,
}

impl Received {
    pub fn event(&self) -> TrackingEvent {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// The platform's webhook endpoint on loopback: verifies each signature with [`SECRET`], records
/// every request, and answers 500 to the first `failures_first` requests, 200 afterwards.
pub struct Receiver {
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

#[derive(Clone)]
struct ReceiverState {
    received: Arc<Mutex<Vec<Received>>>,
    requests: Arc<AtomicUsize>,
    failures_first: usize,
}

impl Receiver {
    pub async fn spawn() -> Receiver {
        Receiver::failing_first(0).await
    }

    pub async fn failing_first(failures_first: usize) -> Receiver {
        let received = Arc::new(Mutex::new(Vec::new()));
        let state = ReceiverState {
            received: received.clone(),
            requests: Arc::new(AtomicUsize::new(0)),
            failures_first,
        };
        let app = Router::new()
            .route("/webhooks/carrier", post(receive))
            .with_state(state);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver {
            url: format!("http://{addr}/webhooks/carrier"),
            received,
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The events of every request, in arrival order.
    pub fn events(&self) -> Vec<TrackingEvent> {
        self.received().iter().map(Received::event).collect()
    }

    /// Waits until `count` requests have arrived and returns their events.
    pub async fn wait_for(&self, count: usize) -> Vec<TrackingEvent> {
        eventually(&format!("{count} webhook requests"), || async {
            let events = self.events();
            (events.len() >= count).then_some(events)
        })
        .await
    }

    /// Event ids in arrival order, per waybill.
    pub fn ids_by_waybill(&self) -> BTreeMap<String, Vec<String>> {
        let mut arrivals: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for event in self.events() {
            arrivals.entry(event.waybill_no).or_default().push(event.event_id);
        }
        arrivals
    }

    /// States in arrival order, per waybill.
    pub fn states_by_waybill(&self) -> BTreeMap<String, Vec<TrackingState>> {
        let mut arrivals: BTreeMap<String, Vec<TrackingState>> = BTreeMap::new();
        for event in self.events() {
            arrivals.entry(event.waybill_no).or_default().push(event.state);
        }
        arrivals
    }
}

async fn receive(State(state): State<ReceiverState>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let seen_before = state.requests.fetch_add(1, Ordering::SeqCst);
    let answered = if seen_before < state.failures_first {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    let signature = headers
        .get(SIGNATURE_HEADER)
        .map(|value| value.to_str().unwrap().to_string());
    let verified = verify(SECRET, signature.as_deref(), &body, now_s(), TOLERANCE_SECONDS_DEFAULT);
    state.received.lock().unwrap().push(Received {
        signature,
        body,
        verified,
        answered,
        at: Instant::now(),
    });
    answered
}
