//! Risk on flash-sale taps over real HTTP: accounts tapping from one device (`Device-Id`) are
//! refused once they look like a ring — `428 risk_challenge` or `403 risk_blocked`, holding
//! nothing — while the same taps in shadow mode all order, and honest buyers on their own
//! devices are never refused.
#![allow(clippy::unwrap_used)]

use crate::common;

use common::{Backend, TestApp};
use miaodan_server::app::RiskMode;
use serde_json::json;

both_backends!(
    a_ring_on_one_device_is_refused_and_holds_nothing,
    in_shadow_the_ring_orders_and_nothing_is_refused,
);

/// A sale of 10 units, one per buyer, started a second ago; its id.
async fn sale(app: &TestApp, w: &common::World) -> i64 {
    app.stock(&w.merchant, w.skus[0], w.warehouses[0], 10).await;
    let now = jiff::Timestamp::now();
    let body = json!({
        "sku_id": w.skus[0], "warehouse_id": w.warehouses[0],
        "starts_at": (now - jiff::SignedDuration::from_secs(1)).to_string(),
        "ends_at": (now + jiff::SignedDuration::from_secs(3600)).to_string(),
        "price_fen": 990, "units": 10, "per_buyer_limit": 1,
    });
    app.post("/v1/flash-sales", &w.merchant, body).await.assert_status(201)["id"]
        .as_i64()
        .unwrap()
}

/// Each of `buyers` taps once from `device` (each its own flat): the statuses and codes.
async fn taps_from_one_device(app: &TestApp, sale: i64, buyers: &[String], device: &str) -> Vec<(u16, String)> {
    let mut answers = Vec::new();
    for (i, buyer) in buyers.iter().enumerate() {
        let body = json!({ "address": { "adcode": "310104000000", "detail": format!("漕溪北路{}号", 100 + i) } });
        let answer = app
            .send(
                app.http
                    .post(app.url(&format!("/v1/flash-sales/{sale}/taps")))
                    .bearer_auth(buyer)
                    .header("Device-Id", device)
                    .json(&body),
            )
            .await;
        let code = answer.body["code"].as_str().unwrap_or("ordered").to_string();
        answers.push((answer.status.as_u16(), code));
    }
    answers
}

async fn ring(app: &TestApp) -> Vec<String> {
    let mut tokens = Vec::new();
    for i in 0..8 {
        tokens.push(app.buyer(&format!("号{i}")).await.1);
    }
    tokens
}

async fn a_ring_on_one_device_is_refused_and_holds_nothing(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.risk = RiskMode::On).await;
    let w = app.world().await;
    let sale = sale(&app, &w).await;
    let (_, honest) = app.buyer("路人").await;
    let answers = taps_from_one_device(&app, sale, &ring(&app).await, "emulator-7f3a").await;
    let codes: Vec<&str> = answers.iter().map(|(_, code)| code.as_str()).collect();
    // Every account here is new (15 points). Three on one device pass (a household); the
    // fourth and fifth add a shared device (40): challenged; from the sixth the device's
    // cluster of 6 adds 40 more: blocked.
    assert_eq!(
        codes,
        [
            "ordered",
            "ordered",
            "ordered",
            "risk_challenge",
            "risk_challenge",
            "risk_blocked",
            "risk_blocked",
            "risk_blocked"
        ],
        "{answers:?}"
    );
    assert!(answers[3..5].iter().all(|(status, _)| *status == 428));
    assert!(answers[5..].iter().all(|(status, _)| *status == 403));
    let status = app.get(&format!("/v1/flash-sales/{sale}"), &w.merchant).await;
    assert_eq!(status.assert_status(200)["remaining"], 7, "refused taps hold no units");
    let honest_tap = app
        .send(
            app.http
                .post(app.url(&format!("/v1/flash-sales/{sale}/taps")))
                .bearer_auth(&honest)
                .header("Device-Id", "iphone-of-a-person")
                .json(&json!({})),
        )
        .await;
    assert_eq!(honest_tap.status.as_u16(), 201, "{:?}", honest_tap.body);
    app.shutdown().await;
}

async fn in_shadow_the_ring_orders_and_nothing_is_refused(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.risk = RiskMode::Shadow).await;
    let w = app.world().await;
    let sale = sale(&app, &w).await;
    let answers = taps_from_one_device(&app, sale, &ring(&app).await, "emulator-7f3a").await;
    assert!(answers.iter().all(|(status, _)| *status == 201), "{answers:?}");
    app.shutdown().await;
}
