//! What only the HTTP transport has: the routes and their bodies on the wire, error bodies with
//! stable codes, client-side failures, and the standalone entry point.

use crate::support::{AT_MS, Receiver, config, now_ms, over_http, shipment, shipment_with, spawn_server};
use reqwest::StatusCode;
use serde_json::{Value, json};
use simcarrier::{Carrier, Faults, Scenario, SimCarrier, SimCarrierClient, SimCarrierError, TrackingState};
use std::time::Duration;

#[tokio::test]
async fn the_routes_speak_json_with_rfc3339_times() {
    let simcarrier = SimCarrier::new(config());
    let base = format!("http://{}", spawn_server(simcarrier.clone()).await);
    let http = reqwest::Client::new();

    let created: Value = http
        .post(format!("{base}/waybills"))
        .json(&json!({
            "carrier": "zto",
            "reference": "shipment-1",
            "origin_adcode": "310114",
            "destination_adcode": "440305",
            "scenario": "returned",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let no = created["waybill_no"].as_str().unwrap().to_string();
    let advanced: Value = http
        .post(format!("{base}/waybills/{no}/advance"))
        .json(&json!({ "state": "departed", "at": "2024-06-19T00:00:00+08:00" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let emitted: Value = http
        .post(format!("{base}/waybills/{no}/events"))
        .json(&json!({ "state": "exception", "occurred_at": "2024-06-18T17:30:00Z" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tracking: Value = http
        .get(format!("{base}/waybills/{no}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let health: Value = http
        .get(format!("{base}/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert_eq!(
        (created["carrier"].clone(), created["reference"].clone()),
        (json!("zto"), json!("shipment-1"))
    );
    assert!(created["created_at_ms"].is_i64());
    assert_eq!(advanced[1]["state"], "departed");
    assert_eq!(
        advanced[1]["occurred_at"], "2024-06-18T16:00:00Z",
        "`at` in any offset, sent in UTC"
    );
    assert_eq!(emitted["event_id"], format!("{no}-3"));
    assert_eq!(emitted["occurred_at"], "2024-06-18T17:30:00Z");
    assert_eq!(tracking["scenario"], "returned");
    assert_eq!(tracking["next_state"], "in_transit");
    assert_eq!(tracking["events"].as_array().unwrap().len(), 3);
    assert_eq!(health, json!({ "status": "ok" }));
}

#[tokio::test]
async fn an_advance_without_a_time_happens_now() {
    let simcarrier = SimCarrier::new(config());
    let base = format!("http://{}", spawn_server(simcarrier.clone()).await);
    let waybill = simcarrier
        .create_waybill(shipment_with(Scenario::Normal, "shipment"))
        .await
        .unwrap();
    let before_ms = now_ms();

    let response = reqwest::Client::new()
        .post(format!("{base}/waybills/{}/advance", waybill.waybill_no))
        .json(&json!({ "state": "picked_up" }))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    let events: Vec<simcarrier::TrackingEvent> = response.json().await.unwrap();
    assert!((before_ms..=now_ms()).contains(&events[0].occurred_at_ms), "{events:?}");
}

#[tokio::test]
async fn refusals_carry_a_status_and_a_stable_error_code() {
    let simcarrier = SimCarrier::new(config());
    let base = format!("http://{}", spawn_server(simcarrier.clone()).await);
    let waybill = simcarrier.create_waybill(shipment(Carrier::Sf, "taken")).await.unwrap();
    let no = waybill.waybill_no;
    let http = reqwest::Client::new();
    let waybill_json = |carrier: &str, reference: &str| json!({ "carrier": carrier, "reference": reference, "origin_adcode": "310114", "destination_adcode": "440305" });

    let table = [
        (
            http.post(format!("{base}/waybills")).body("{not json"),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            http.post(format!("{base}/waybills")).json(&waybill_json("ups", "r")),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            http.post(format!("{base}/waybills")).json(&waybill_json("jd", "taken")),
            StatusCode::CONFLICT,
            "reference_conflict",
        ),
        (
            http.get(format!("{base}/waybills/SF000000000000")),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            http.post(format!("{base}/waybills/{no}/advance"))
                .json(&json!({ "state": "teleported" })),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            http.post(format!("{base}/waybills/{no}/events"))
                .json(&json!({ "state": "delivered", "occurred_at": "yesterday" })),
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
}

#[tokio::test]
async fn faults_the_webhook_url_and_the_delivery_record_are_reachable_over_http() {
    let h = over_http(config(), Duration::from_secs(5)).await;
    let receiver = Receiver::spawn().await;
    h.client.set_webhook_url(Some(receiver.url.clone())).await.unwrap();
    let faults = Faults {
        duplicate_percent: 100,
        ..Faults::default()
    };
    h.client.set_faults(faults.clone()).await.unwrap();
    let waybill = h
        .client
        .create_waybill(shipment_with(Scenario::Normal, "shipment"))
        .await
        .unwrap();

    h.client
        .emit(&waybill.waybill_no, TrackingState::Exception, AT_MS)
        .await
        .unwrap();
    let events = receiver.wait_for(2).await;
    crate::support::settled(&h.simcarrier).await;

    assert_eq!(h.simcarrier.faults(), faults);
    assert_eq!(events[0], events[1]);
    assert_eq!(h.client.delivery_stats().await.unwrap(), h.simcarrier.delivery_stats());
    assert_eq!(
        h.client.delivery_attempts().await.unwrap(),
        h.simcarrier.delivery_attempts()
    );
    h.client.set_webhook_url(None).await.unwrap();
    h.client
        .emit(&waybill.waybill_no, TrackingState::Exception, AT_MS)
        .await
        .unwrap();
    assert_eq!(h.simcarrier.delivery_stats().pending, 0, "no URL, nothing to deliver");
}

#[tokio::test]
async fn an_unreachable_simulator_is_a_transport_error_and_a_bad_base_url_is_refused() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let client = SimCarrierClient::http(format!("http://{addr}"), Duration::from_secs(2)).unwrap();

    let answer = client.create_waybill(shipment(Carrier::Sf, "shipment")).await;

    assert!(matches!(answer, Err(SimCarrierError::Transport(_))), "{answer:?}");
    for base_url in ["", "not a url", "ftp://127.0.0.1:1", "http://127.0.0.1:1/?q=1"] {
        let client = SimCarrierClient::http(base_url.to_string(), Duration::from_secs(1));
        assert!(
            matches!(client, Err(SimCarrierError::InvalidRequest(_))),
            "{base_url:?}"
        );
    }
}

#[tokio::test]
async fn run_standalone_serves_the_api_on_the_given_address() {
    let probe = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    tokio::spawn(simcarrier::run_standalone(addr, config()));
    let client = SimCarrierClient::http(format!("http://{addr}"), Duration::from_secs(2)).unwrap();

    crate::support::eventually("the standalone simulator to answer", || async {
        client.health().await.ok()
    })
    .await;
    let waybill = client.create_waybill(shipment(Carrier::Jd, "shipment")).await.unwrap();

    assert!(waybill.waybill_no.starts_with("JDV"));
}
