//! Outgoing webhooks over HTTP on both backends, against a receiver on 127.0.0.1 that fails on
//! demand (500s, 503s, answers slower than the timeout, a port with no one listening) and
//! deduplicates on the event id: every subscribed event of the shop arrives at least once, in
//! order per object, signed (checked by Python's `hmac`, not by the crate that signed);
//! nothing else arrives; retries succeed once the faults clear, also across a restart; an
//! endpoint failing for 3 days is disabled with its reason; a replay sends again; another
//! shop's endpoints read as missing.

use super::common;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use common::{Backend, TestApp, eventually};
use miaodan_domain::webhooks::RetrySchedule;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

both_backends!(
    subscribed_events_arrive_signed_once_deduplicated_in_order_per_object_and_nothing_else_does,
    a_failing_endpoint_is_retried_until_it_answers_then_disabled_after_three_days_and_replay_resends,
    pending_deliveries_are_resumed_after_a_restart,
    another_shops_endpoints_and_deliveries_read_as_missing_and_buyers_are_forbidden,
);

const WAIT: Duration = Duration::from_secs(30);
/// The receivers' timeout in these tests: a slow answer takes longer.
const TIMEOUT_MS: u64 = 300;

#[derive(Clone, Copy, Debug)]
enum Fault {
    Status(u16),
    /// Answers 200, but only after this many ms (past the timeout: the sender gives up first).
    Slow(u64),
}

/// One request as the receiver saw it.
#[derive(Clone, Debug)]
struct Got {
    event_id: String,
    topic: String,
    signature: String,
    body: String,
    /// Whether the receiver processed it (answered 2xx, however late).
    accepted: bool,
}

#[derive(Default)]
struct Log {
    faults: VecDeque<Fault>,
    always: Option<Fault>,
    got: Vec<Got>,
}

#[derive(Clone, Default)]
struct Receiver {
    log: Arc<Mutex<Log>>,
    url: String,
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: String) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let fault = {
        let mut log = receiver.log.lock().unwrap();
        let fault = log.faults.pop_front().or(log.always);
        log.got.push(Got {
            event_id: header("miaodan-event-id"),
            topic: header("miaodan-topic"),
            signature: header("miaodan-signature"),
            body,
            accepted: !matches!(fault, Some(Fault::Status(_))),
        });
        fault
    };
    match fault {
        Some(Fault::Status(code)) => StatusCode::from_u16(code).unwrap(),
        Some(Fault::Slow(ms)) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            StatusCode::OK
        }
        None => StatusCode::OK,
    }
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let receiver = Receiver {
            url: format!("http://{}/hook", listener.local_addr().unwrap()),
            ..Receiver::default()
        };
        let router = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        receiver
    }

    fn fail_next(&self, faults: &[Fault]) {
        self.log.lock().unwrap().faults.extend(faults);
    }

    fn fail_always(&self, fault: Option<Fault>) {
        self.log.lock().unwrap().always = fault;
    }

    fn got(&self) -> Vec<Got> {
        self.log.lock().unwrap().got.clone()
    }

    /// The events processed, once each (receiver-side deduplication on the event id), in the
    /// order they were first processed.
    fn events(&self) -> Vec<Value> {
        let mut seen = BTreeSet::new();
        self.got()
            .into_iter()
            .filter(|g| g.accepted && seen.insert(g.event_id.clone()))
            .map(|g| serde_json::from_str(&g.body).unwrap())
            .collect()
    }
}

/// A URL on loopback where no one listens: connections are refused.
async fn refusing_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{address}/hook")
}

async fn spawn(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |config| {
        config.webhooks.timeout_ms = TIMEOUT_MS;
        config.webhooks.poll_ms = 50;
        config.webhooks.schedule = RetrySchedule {
            first_ms: 50,
            ceiling_ms: 200,
            window_ms: RetrySchedule::DEFAULT.window_ms,
        };
    })
    .await
}

async fn register(app: &TestApp, token: &str, url: &str, topics: Value) -> (i64, String) {
    let made = app
        .post("/v1/webhook-endpoints", token, json!({ "url": url, "topics": topics }))
        .await;
    let made = made.assert_status(201);
    let secret = made["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"), "{made}");
    (made["id"].as_i64().unwrap(), secret)
}

async fn deliveries(app: &TestApp, token: &str, endpoint: i64, query: &str) -> Vec<Value> {
    let path = format!("/v1/webhook-endpoints/{endpoint}/deliveries?limit=200{query}");
    let page = app.get(&path, token).await;
    page.assert_status(200)["items"].as_array().unwrap().clone()
}

/// Checks every signature with Python's standard library, apart from the crate that signed.
fn verify_with_python(secret: &str, got: &[Got]) {
    use std::io::Write;
    const VERIFIER: &str = r#"
import hashlib, hmac, json, sys
secret = sys.argv[1].encode()
for line in sys.stdin:
    item = json.loads(line)
    fields = dict(part.split("=", 1) for part in item["signature"].split(","))
    signed = fields["t"].encode() + b"." + item["body"].encode()
    expected = hmac.new(secret, signed, hashlib.sha256).hexdigest()
    print("ok" if hmac.compare_digest(expected, fields["v1"]) else "bad")
"#;
    let mut python = std::process::Command::new("python3")
        .args(["-c", VERIFIER, secret])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut stdin = python.stdin.take().unwrap();
    for g in got {
        let line = json!({ "signature": g.signature, "body": g.body });
        writeln!(stdin, "{line}").unwrap();
    }
    drop(stdin);
    let output = python.wait_with_output().unwrap();
    let verdicts = String::from_utf8(output.stdout).unwrap();
    assert_eq!(verdicts.lines().count(), got.len(), "{verdicts}");
    assert!(verdicts.lines().all(|v| v == "ok"), "{verdicts}");
}

/// The event's place in its shard's sequence, from its id `<shard>-<seq>`.
fn seq_of(event: &Value) -> (i64, i64) {
    let (shard, seq) = event["id"].as_str().unwrap().split_once('-').unwrap();
    (shard.parse().unwrap(), seq.parse().unwrap())
}

async fn subscribed_events_arrive_signed_once_deduplicated_in_order_per_object_and_nothing_else_does(backend: Backend) {
    let app = spawn(backend).await;
    let world = app.world().await;
    let (other_shop, other_merchant) = app.shop("别家").await;
    let receiver = Receiver::start().await;
    let (endpoint, secret) = register(
        &app,
        &world.merchant,
        &receiver.url,
        json!(["order", "payment.captured"]),
    )
    .await;
    // Another shop's endpoint, also to this receiver, subscribes to nothing this test makes.
    register(&app, &other_merchant, &receiver.url, json!(["after_sales"])).await;
    receiver.fail_next(&[Fault::Status(500), Fault::Slow(3 * TIMEOUT_MS), Fault::Status(503)]);

    let paid = app.checkout(&world.buyer_token, &[(world.skus[0], 1)]).await;
    let paid = paid.assert_status(201).clone();
    app.pay_checkout(&world.buyer_token, paid["checkout_id"].as_i64().unwrap())
        .await;
    let cancelled = app.checkout(&world.buyer_token, &[(world.skus[1], 1)]).await;
    let cancelled = cancelled.assert_status(201)["orders"][0]["id"].as_i64().unwrap();
    let cancel = app
        .post(&format!("/v1/orders/{cancelled}/cancel"), &world.buyer_token, json!({}))
        .await;
    cancel.assert_status(200);

    // What the shop's feed says happened, of the topics subscribed to (the payment's settle
    // in the background), and what the receiver took: the same events.
    let (expected, events) = eventually(WAIT, "every subscribed event to arrive", || async {
        let feed = app.get("/v1/events?limit=200", &world.merchant).await;
        let expected: BTreeSet<String> = feed.assert_status(200)["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["topic"].as_str().unwrap().starts_with("order.") || e["topic"] == "payment.captured")
            .map(|e| format!("{}-{}", e["shard"], e["seq"]))
            .collect();
        let events = receiver.events();
        let ids: BTreeSet<String> = events.iter().map(|e| e["id"].as_str().unwrap().to_string()).collect();
        let paid = events.iter().any(|e| e["topic"] == "order.paid");
        (paid && ids == expected).then_some((expected, events))
    })
    .await;
    assert!(expected.len() >= 5, "{expected:?}");
    // Only the shop's events of the topics subscribed to; each the same in header and body.
    for event in &events {
        assert_eq!(event["shop_id"], world.shop, "{event}");
        assert!(event["shop_id"] != other_shop);
        let topic = event["topic"].as_str().unwrap();
        assert!(topic.starts_with("order.") || topic == "payment.captured", "{event}");
        assert!(event["occurred_at"].as_str().unwrap().ends_with('Z'));
    }
    // Once the log shows every delivery delivered, no retry is on its way.
    let log = eventually(WAIT, "the log to show every delivery delivered", || async {
        let log = deliveries(&app, &world.merchant, endpoint, "").await;
        log.iter().all(|d| d["state"] == "delivered").then_some(log)
    })
    .await;
    let got = receiver.got();
    for g in &got {
        let body: Value = serde_json::from_str(&g.body).unwrap();
        assert_eq!(
            (g.event_id.as_str(), g.topic.as_str()),
            (body["id"].as_str().unwrap(), body["topic"].as_str().unwrap())
        );
    }
    // Retried after the faults: the slow answer's event came twice, and was taken once.
    assert!(
        got.len() >= events.len() + 3,
        "{} requests for {} events",
        got.len(),
        events.len()
    );
    verify_with_python(&secret, &got);
    // Per object, the events arrive in the order they were committed.
    let mut last: BTreeMap<(String, i64), (i64, i64)> = BTreeMap::new();
    for event in &events {
        let family = event["topic"].as_str().unwrap().split('.').next().unwrap().to_string();
        let key = (family, event["subject"].as_i64().unwrap());
        let at = seq_of(event);
        if let Some(before) = last.insert(key.clone(), at) {
            assert!(before < at, "{key:?}: {before:?} arrived before {at:?}");
        }
    }
    let placed_then_paid: Vec<&str> = events
        .iter()
        .filter(|e| e["subject"] == paid["orders"][0]["id"] && e["topic"].as_str().unwrap().starts_with("order."))
        .map(|e| e["topic"].as_str().unwrap())
        .collect();
    assert_eq!(&placed_then_paid[..2], ["order.placed", "order.paid"]);

    // The log shows every attempt, the failed ones with their status or error.
    assert!(log.len() >= expected.len());
    let attempts: Vec<&Value> = log.iter().flat_map(|d| d["attempts"].as_array().unwrap()).collect();
    assert!(attempts.iter().any(|a| a["status"] == 500 && a["error"].is_string()));
    assert!(
        attempts
            .iter()
            .any(|a| a["status"].is_null() && a["error"].as_str().unwrap().contains("no answer"))
    );
    assert!(attempts.iter().all(|a| a["latency_ms"].as_i64().unwrap() >= 0));
    app.shutdown().await;
}

async fn a_failing_endpoint_is_retried_until_it_answers_then_disabled_after_three_days_and_replay_resends(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let world = app.world().await;
    let receiver = Receiver::start().await;
    let dead = refusing_url().await;
    let (endpoint, _) = register(&app, &world.merchant, &dead, json!(["order.placed"])).await;
    let path = format!("/v1/webhook-endpoints/{endpoint}");
    app.checkout(&world.buyer_token, &[(world.skus[0], 1)])
        .await
        .assert_status(201);
    // Refused connections are retried, and the endpoint is failing.
    let first = eventually(WAIT, "two refused attempts", || async {
        let log = deliveries(&app, &world.merchant, endpoint, "").await;
        log.first()
            .filter(|d| d["attempt_count"].as_i64().unwrap() >= 2)
            .cloned()
    })
    .await;
    assert_eq!(first["state"], "pending");
    assert!(first["last_error"].as_str().unwrap().contains("connect"), "{first}");
    let seen = app.get(&path, &world.merchant).await;
    assert!(seen.assert_status(200)["failing_since"].is_string());
    // Once the endpoint answers, the delivery goes through and the streak ends.
    app.patch(&path, &world.merchant, json!({ "url": receiver.url }))
        .await
        .assert_status(200);
    eventually(WAIT, "the retried delivery", || async {
        (receiver.events().len() == 1).then_some(())
    })
    .await;
    let seen = eventually(WAIT, "the streak to end", || async {
        let seen = app.get(&path, &world.merchant).await.body;
        seen["failing_since"].is_null().then_some(seen)
    })
    .await;
    assert_eq!(seen["enabled"], true);

    // Failing again, for longer than 3 days: the platform disables it, with its reason.
    receiver.fail_always(Some(Fault::Status(500)));
    app.checkout(&world.buyer_token, &[(world.skus[0], 1)])
        .await
        .assert_status(201);
    eventually(WAIT, "a failed attempt", || async {
        let seen = app.get(&path, &world.merchant).await.body;
        seen["failing_since"].is_string().then_some(())
    })
    .await;
    app.config.clock.advance(3 * 24 * 3_600_000 + 60_000);
    let disabled = eventually(WAIT, "the endpoint to be disabled", || async {
        let seen = app.get(&path, &world.merchant).await.body;
        (seen["enabled"] == false).then_some(seen)
    })
    .await;
    assert!(disabled["disabled_at"].is_string(), "{disabled}");
    assert!(
        disabled["disabled_reason"].as_str().unwrap().contains("failed"),
        "{disabled}"
    );
    // An attempt in flight when the endpoint was disabled may land after it: wait for it.
    let log = eventually(WAIT, "the failing delivery to fail", || async {
        let log = deliveries(&app, &world.merchant, endpoint, "").await;
        let states: Vec<&str> = log.iter().map(|d| d["state"].as_str().unwrap()).collect();
        (states == ["failed", "delivered"]).then_some(log)
    })
    .await;
    let (failed, delivered) = (log[0]["id"].as_i64().unwrap(), log[1]["id"].as_i64().unwrap());
    let replay = |delivery: i64| format!("/v1/webhook-endpoints/{endpoint}/deliveries/{delivery}/replay");
    app.post(&replay(failed), &world.merchant, json!({}))
        .await
        .assert_problem(409, "webhook_endpoint_disabled");

    // Enabled again and healthy, a replay sends the failed delivery and the delivered one again.
    receiver.fail_always(None);
    app.patch(&path, &world.merchant, json!({ "enabled": true }))
        .await
        .assert_status(200);
    let before = receiver.got().len();
    for delivery in [failed, delivered] {
        let replayed = app.post(&replay(delivery), &world.merchant, json!({})).await;
        assert_eq!(replayed.assert_status(200)["state"], "pending");
    }
    let got = eventually(WAIT, "both replays", || async {
        let got = receiver.got();
        let fresh: Vec<Got> = got[before..].iter().filter(|g| g.accepted).cloned().collect();
        (fresh.len() >= 2).then_some(fresh)
    })
    .await;
    let ids: BTreeSet<&str> = got.iter().map(|g| g.event_id.as_str()).collect();
    assert_eq!(ids.len(), 2, "the replays carry the events' own ids");
    assert_eq!(
        receiver.events().len(),
        2,
        "deduplicated: the delivered event counts once"
    );
    app.shutdown().await;
}

async fn pending_deliveries_are_resumed_after_a_restart(backend: Backend) {
    let mut app = spawn(backend).await;
    let world = app.world().await;
    let receiver = Receiver::start().await;
    receiver.fail_always(Some(Fault::Status(503)));
    let (endpoint, _) = register(&app, &world.merchant, &receiver.url, json!(["order"])).await;
    let placed = app.checkout(&world.buyer_token, &[(world.skus[0], 1)]).await;
    let order = placed.assert_status(201)["orders"][0]["id"].as_i64().unwrap();
    eventually(WAIT, "a refused attempt", || async {
        (!receiver.got().is_empty()).then_some(())
    })
    .await;
    app.restart().await;
    receiver.fail_always(None);
    let events = eventually(WAIT, "the delivery after the restart", || async {
        let events = receiver.events();
        (!events.is_empty()).then_some(events)
    })
    .await;
    assert_eq!(
        (&events[0]["topic"], &events[0]["subject"]),
        (&json!("order.placed"), &json!(order))
    );
    // The receiver saw it before the server recorded its answer.
    let log = eventually(WAIT, "the log to show it delivered", || async {
        let log = deliveries(&app, &world.merchant, endpoint, "&state=delivered").await;
        (!log.is_empty()).then_some(log)
    })
    .await;
    assert_eq!(log.len(), 1);
    assert!(log[0]["attempt_count"].as_i64().unwrap() >= 2);
    app.shutdown().await;
}

async fn another_shops_endpoints_and_deliveries_read_as_missing_and_buyers_are_forbidden(backend: Backend) {
    let app = spawn(backend).await;
    let world = app.world().await;
    let (_, other) = app.shop("别家").await;
    let receiver = Receiver::start().await;
    let (mine, _) = register(&app, &world.merchant, &receiver.url, json!(["order"])).await;
    let (theirs, _) = register(&app, &other, &receiver.url, json!(["order"])).await;
    app.checkout(&world.buyer_token, &[(world.skus[0], 1)])
        .await
        .assert_status(201);
    let delivery = eventually(WAIT, "a delivery", || async {
        deliveries(&app, &world.merchant, mine, "")
            .await
            .first()
            .map(|d| d["id"].as_i64().unwrap())
    })
    .await;
    for path in [
        format!("/v1/webhook-endpoints/{mine}"),
        format!("/v1/webhook-endpoints/{mine}/deliveries"),
    ] {
        app.get(&path, &other).await.assert_problem(404, "not_found");
        app.get(&path, &world.buyer_token)
            .await
            .assert_problem(403, "forbidden");
    }
    let replay = format!("/v1/webhook-endpoints/{mine}/deliveries/{delivery}/replay");
    app.post(&replay, &other, json!({}))
        .await
        .assert_problem(404, "not_found");
    let foreign = format!("/v1/webhook-endpoints/{theirs}/deliveries/{delivery}/replay");
    app.post(&foreign, &other, json!({}))
        .await
        .assert_problem(404, "not_found");
    app.patch(
        &format!("/v1/webhook-endpoints/{mine}"),
        &other,
        json!({ "enabled": false }),
    )
    .await
    .assert_problem(404, "not_found");
    let listed = app.get("/v1/webhook-endpoints", &world.merchant).await;
    let ids: Vec<i64> = listed.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![mine]);
    assert!(
        listed.body["items"][0].get("secret").is_none(),
        "a list shows no secret"
    );
    let all = app.get("/v1/webhook-endpoints", &app.admin).await;
    assert_eq!(all.assert_status(200)["items"].as_array().unwrap().len(), 2);
    // Targets off loopback are refused unless the server allows them; so is https.
    for url in ["http://example.com/hook", "https://127.0.0.1/hook"] {
        let refused = app
            .post(
                "/v1/webhook-endpoints",
                &world.merchant,
                json!({ "url": url, "topics": ["order"] }),
            )
            .await;
        refused.assert_problem(422, "webhook_target_not_allowed");
    }
    let unknown = app
        .post(
            "/v1/webhook-endpoints",
            &world.merchant,
            json!({ "url": receiver.url, "topics": ["order.teleported"] }),
        )
        .await;
    unknown.assert_problem(422, "invalid_field");
    app.shutdown().await;
}
