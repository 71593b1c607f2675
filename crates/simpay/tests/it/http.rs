//! What only the HTTP transport has: client-side timeouts, unreachable servers, the error body
//! on the wire, path encoding of references, and the standalone entry point.

use crate::support::{config, hold, over_http, sale, spawn_server};
use reqwest::StatusCode;
use serde_json::{Value, json};
use simpay::{ChargeStatus, Faults, SimPay, SimpayClient, SimpayError, credentials};
use std::time::Duration;

#[tokio::test]
async fn an_answer_slower_than_the_client_timeout_is_a_timeout_but_the_charge_is_made() {
    let h = over_http(config(), Duration::from_millis(200)).await;
    h.simpay.set_faults(Faults {
        latency_ms: 600,
        ..Faults::default()
    });

    let answer = h.client.authorize(sale("order", 1_000)).await;

    assert_eq!(answer, Err(SimpayError::Timeout));
    h.simpay.set_faults(Faults::default());
    let made = h.client.charge("order").await.unwrap().unwrap();
    assert_eq!(made.status, ChargeStatus::Captured);
}

#[tokio::test]
async fn an_unreachable_simpay_is_a_transport_error() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let client = SimpayClient::http(format!("http://{addr}"), Duration::from_secs(2)).unwrap();

    let answer = client.authorize(sale("order", 1_000)).await;

    assert!(matches!(answer, Err(SimpayError::Transport(_))), "{answer:?}");
}

#[tokio::test]
async fn a_base_url_that_is_not_http_is_refused() {
    for base_url in ["", "not a url", "ftp://127.0.0.1:1", "http://127.0.0.1:1/?q=1"] {
        let client = SimpayClient::http(base_url.to_string(), Duration::from_secs(1));
        assert!(matches!(client, Err(SimpayError::InvalidRequest(_))), "{base_url:?}");
    }
}

#[tokio::test]
async fn refusals_are_json_with_a_stable_code_and_status() {
    let simpay = SimPay::new(config());
    let base = format!("http://{}", spawn_server(simpay.clone()).await);
    let http = reqwest::Client::new();
    simpay.authorize(hold("voided", 100)).await.unwrap();
    simpay.void("voided").await.unwrap();
    simpay.authorize(sale("order", 100)).await.unwrap();
    let lost = json!({"reference": "lost", "amount_fen": 100, "credential": credentials::TIMEOUT, "capture": true});

    let table: [(reqwest::RequestBuilder, StatusCode, &str); 7] = [
        (
            http.post(format!("{base}/v1/charges")).body("{not json"),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            http.post(format!("{base}/v1/charges"))
                .json(&json!({"reference": "order", "amount_fen": 5, "credential": "x"})),
            StatusCode::CONFLICT,
            "reference_conflict",
        ),
        (
            http.get(format!("{base}/v1/charges/nobody")),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            http.get(format!("{base}/v1/refunds/nobody")),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            http.post(format!("{base}/v1/charges/voided/capture")),
            StatusCode::CONFLICT,
            "invalid_state",
        ),
        (
            http.post(format!("{base}/v1/charges")).json(&lost),
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
        ),
        (
            http.get(format!("{base}/v1/statements/yesterday")),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ];
    for (request, status, code) in table {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), status, "{code}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], code);
        assert!(
            body["message"].as_str().is_some_and(|message| !message.is_empty()),
            "{body}"
        );
    }
    assert_eq!(
        simpay.charge("lost").await.unwrap().unwrap().status,
        ChargeStatus::Captured,
        "504 after processing"
    );
}

#[tokio::test]
async fn a_capture_without_a_body_captures_everything() {
    let simpay = SimPay::new(config());
    let base = format!("http://{}", spawn_server(simpay.clone()).await);
    simpay.authorize(hold("order", 4_200)).await.unwrap();

    let response = reqwest::Client::new()
        .post(format!("{base}/v1/charges/order/capture"))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        (body["status"].clone(), body["captured_fen"].clone()),
        (json!("captured"), json!(4_200))
    );
}

#[tokio::test]
async fn a_reference_with_any_characters_stays_one_path_segment() {
    let h = over_http(config(), Duration::from_secs(5)).await;
    for reference in ["a/b", "a.b", "...", "订单 1", "x?y#z", "100%", "%2E%2E"] {
        h.client.authorize(hold(reference, 100)).await.unwrap();

        let found = h.client.charge(reference).await.unwrap().unwrap();
        let captured = h.client.capture(reference, None).await.unwrap();

        assert_eq!(found.reference, reference);
        assert_eq!(
            (captured.reference.as_str(), captured.status),
            (reference, ChargeStatus::Captured)
        );
    }
}

#[tokio::test]
async fn events_stats_and_the_webhook_url_are_reachable_over_http() {
    let h = over_http(config(), Duration::from_secs(5)).await;
    h.client.authorize(sale("order", 100)).await.unwrap();

    h.client
        .set_webhook_url(Some("http://127.0.0.1:9/unused".to_string()))
        .await
        .unwrap();

    assert_eq!(h.client.events().await.unwrap(), h.simpay.events());
    assert_eq!(h.client.delivery_stats().await.unwrap(), h.simpay.delivery_stats());
    h.client.set_webhook_url(None).await.unwrap();
}

#[tokio::test]
async fn run_standalone_serves_the_api_on_the_given_address() {
    let probe = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    tokio::spawn(simpay::run_standalone(addr, config()));
    let client = SimpayClient::http(format!("http://{addr}"), Duration::from_secs(2)).unwrap();

    let charge = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match client.authorize(sale("order", 100)).await {
                Err(SimpayError::Transport(_)) => tokio::time::sleep(Duration::from_millis(20)).await,
                answer => return answer,
            }
        }
    })
    .await
    .expect("the standalone simpay answers within 5 s");

    assert_eq!(charge.unwrap().status, ChargeStatus::Captured);
}
