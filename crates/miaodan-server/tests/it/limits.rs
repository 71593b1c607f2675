//! The limits at the request edge, over raw TCP against a real server on 127.0.0.1: a request
//! head or body that does not arrive in time, a body announced too large, too many connections,
//! too many requests in flight, a full shard queue, and metrics served apart from the API.
//! Each test sets small limits of its own; the edge does not depend on the backend, so these
//! run on SQLite.

use crate::common::{Backend, TestApp, eventually, flash_sale_with_a_buyer, tap};
use miaodan_server::Config;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a test waits for the server to act before it gives up (a bound on a hang, not a
/// measure of speed).
const PATIENCE: Duration = Duration::from_secs(30);

macro_rules! on_sqlite {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(Backend::Sqlite).await
            }
        )*
    };
}

mod on_sqlite {
    use super::Backend;
    on_sqlite!(
        an_unfinished_request_head_is_cut_off_after_the_header_read_timeout,
        a_body_that_does_not_arrive_in_time_is_answered_408,
        a_body_announced_larger_than_the_limit_is_refused_413_without_waiting_for_it,
        a_connection_over_the_cap_is_answered_503_and_the_cap_frees_when_one_closes,
        a_request_over_the_in_flight_cap_is_answered_503_at_once,
        a_tap_on_a_shard_whose_queue_is_full_is_answered_429_with_retry_after,
        metrics_are_served_on_their_own_listener_and_not_on_the_api,
    );
}

async fn spawn(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestApp {
    TestApp::spawn_with(backend, adjust).await
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.address()).await.unwrap()
}

/// Everything the server sends until it closes the connection.
async fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(PATIENCE, async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "the server neither answered nor closed within {PATIENCE:?}"
    );
    received
}

/// A raw HTTP/1.1 answer: status, headers (lower-case names) and body.
#[derive(Debug)]
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Raw {
    fn parse(bytes: &[u8]) -> Raw {
        let text = String::from_utf8_lossy(bytes);
        let (head, body) = text
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("no answer: {text:?}"));
        let mut lines = head.lines();
        let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Raw {
            status,
            headers,
            body: serde_json::from_str(body).unwrap_or(Value::Null),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    #[track_caller]
    fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.body["code"].as_str()),
            (status, Some(code)),
            "{self:?}"
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{self:?}"
        );
    }
}

/// Sends `request` on a new connection and reads the answer to the end.
async fn exchange(app: &TestApp, request: &str) -> Raw {
    let mut stream = connect(app).await;
    stream.write_all(request.as_bytes()).await.unwrap();
    Raw::parse(&read_to_close(&mut stream).await)
}

fn healthz() -> &'static str {
    "GET /healthz HTTP/1.1\r\nHost: miaodan\r\nConnection: close\r\n\r\n"
}

/// The head of `POST /v1/shops` announcing a body of `length` bytes.
fn create_shop_head(app: &TestApp, length: u64) -> String {
    format!(
        "POST /v1/shops HTTP/1.1\r\nHost: miaodan\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n",
        app.admin
    )
}

async fn an_unfinished_request_head_is_cut_off_after_the_header_read_timeout(backend: Backend) {
    let app = spawn(backend, |c| c.limits.header_read_timeout = Duration::from_millis(300)).await;
    let mut slow = connect(&app).await;
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: mia").await.unwrap();
    let answer = read_to_close(&mut slow).await;
    assert!(
        answer.is_empty(),
        "closed without an answer: {}",
        String::from_utf8_lossy(&answer)
    );
    // A whole head is served as before.
    assert_eq!(exchange(&app, healthz()).await.status, 200);
    app.shutdown().await;
}

async fn a_body_that_does_not_arrive_in_time_is_answered_408(backend: Backend) {
    let app = spawn(backend, |c| c.limits.body_read_timeout = Duration::from_millis(300)).await;
    let mut slow = connect(&app).await;
    let head = create_shop_head(&app, 100);
    slow.write_all(format!("{head}{{\"name\":").as_bytes()).await.unwrap();
    let answer = Raw::parse(&read_to_close(&mut slow).await);
    answer.assert_problem(408, "request_timeout");
    app.shutdown().await;
}

async fn a_body_announced_larger_than_the_limit_is_refused_413_without_waiting_for_it(backend: Backend) {
    // The body deadline is far: an answer within PATIENCE cannot have waited for the body.
    let app = spawn(backend, |c| c.limits.body_read_timeout = Duration::from_secs(600)).await;
    let mut greedy = connect(&app).await;
    let head = create_shop_head(&app, 1 << 30);
    greedy
        .write_all(format!("{head}{{\"name\":\"x").as_bytes())
        .await
        .unwrap();
    let answer = Raw::parse(&read_to_close(&mut greedy).await);
    answer.assert_problem(413, "payload_too_large");
    app.shutdown().await;
}

async fn a_connection_over_the_cap_is_answered_503_and_the_cap_frees_when_one_closes(backend: Backend) {
    let app = spawn(backend, |c| c.limits.connections_max = 2).await;
    let first = connect(&app).await;
    let _second = connect(&app).await;
    // The kernel hands connections over in the order they came: the third is over the cap.
    let refused = exchange(&app, healthz()).await;
    refused.assert_problem(503, "server_busy");
    assert_eq!(refused.header("retry-after"), Some("1"));
    drop(first);
    eventually(PATIENCE, "a connection served again", || async {
        (exchange(&app, healthz()).await.status == 200).then_some(())
    })
    .await;
    app.shutdown().await;
}

async fn a_request_over_the_in_flight_cap_is_answered_503_at_once(backend: Backend) {
    let app = spawn(backend, |c| {
        c.limits.requests_in_flight_max = 1;
        c.limits.body_read_timeout = Duration::from_secs(600);
    })
    .await;
    // A request whose body is still coming is in flight: the test waits until the server has
    // admitted it, so that the probe below cannot overtake it.
    let mut slow = connect(&app).await;
    let body = json!({ "name": "慢店" }).to_string();
    let head = create_shop_head(&app, body.len() as u64);
    slow.write_all(head.as_bytes()).await.unwrap();
    admitted(&app, &mut slow).await;
    let refused = exchange(&app, healthz()).await;
    refused.assert_problem(503, "server_busy");
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert_eq!(app.state().admission.in_flight(), 1, "the refused probe took no place");
    // The slow request completes; then others are served again.
    slow.write_all(body.as_bytes()).await.unwrap();
    let mut answer = [0u8; 12];
    slow.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"HTTP/1.1 201");
    eventually(PATIENCE, "requests served again", || async {
        (exchange(&app, healthz()).await.status == 200).then_some(())
    })
    .await;
    app.shutdown().await;
}

/// Waits until the server counts the one request in flight; if it never does, fails with what
/// the slow connection received meanwhile, so that a failure says whether the request was
/// answered early or never read.
async fn admitted(app: &TestApp, slow: &mut TcpStream) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while tokio::time::Instant::now() < deadline {
        if app.state().admission.in_flight() == 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut received = vec![0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(1), slow.read(&mut received)).await;
    let received = match read {
        Ok(Ok(n)) => String::from_utf8_lossy(&received[..n]).into_owned(),
        Ok(Err(error)) => format!("a read error: {error}"),
        Err(_) => "nothing".into(),
    };
    panic!("the slow request was not in flight within {PATIENCE:?}; its connection received: {received}")
}

async fn a_tap_on_a_shard_whose_queue_is_full_is_answered_429_with_retry_after(backend: Backend) {
    let app = spawn(backend, |c| {
        c.shards = 1;
        c.limits.shard_queue_max = 1;
    })
    .await;
    let (buyer, sale) = flash_sale_with_a_buyer(&app).await;
    // The shard is held busy by a question that waits for the test, and one message fills its
    // queue.
    let (entered, inside) = tokio::sync::oneshot::channel();
    let (release, held) = std::sync::mpsc::channel::<()>();
    let shards = app.state().clone();
    let busy = tokio::spawn(async move {
        shards
            .shards
            .read_shard(0, move |_, _| {
                let _ = entered.send(());
                let _ = held.recv_timeout(PATIENCE);
            })
            .await
    });
    inside.await.unwrap();
    let state = app.state().clone();
    let queued = tokio::spawn(async move { state.shards.read_shard(0, |_, _| ()).await });
    eventually(PATIENCE, "the shard's queue full", || async {
        (app.state().shards.queued(0) == 1).then_some(())
    })
    .await;

    let refused = tap(&app, &buyer, sale, "tap-1").await;
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "1");
    assert_eq!(refused.headers()["content-type"], "application/problem+json");
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["code"], "overloaded", "{problem}");

    release.send(()).unwrap();
    busy.await.unwrap().unwrap();
    queued.await.unwrap().unwrap();
    // The refused tap changed nothing: its retry with the same key orders now.
    let retried = tap(&app, &buyer, sale, "tap-1").await;
    assert_eq!(retried.status(), 201);
    app.shutdown().await;
}

async fn metrics_are_served_on_their_own_listener_and_not_on_the_api(backend: Backend) {
    let app = spawn(backend, |c| c.metrics_listen = Some("127.0.0.1:0".parse().unwrap())).await;
    app.get("/healthz", &app.admin).await.assert_status(200);
    let metrics = app.http.get(app.metrics_url().unwrap()).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    let content_type = metrics.headers()["content-type"].to_str().unwrap().to_string();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = metrics.text().await.unwrap();
    assert!(text.contains("miaodan_http_requests_total"), "{text}");
    assert!(text.contains("route=\"/healthz\""), "{text}");
    // Not on the API's address, with a token or without.
    app.get("/metrics", &app.admin).await.assert_problem(404, "not_found");
    app.shutdown().await;

    let without = spawn(backend, |_| {}).await;
    assert_eq!(without.metrics_url(), None, "no metrics listener unless configured");
    without.shutdown().await;
}
