//! Risk's step-up over real HTTP: a challenged tap is answered `428 risk_challenge` with a
//! challenge; a wrong answer is `422 challenge_failed`, a right one gives a pass, and the same
//! tap sent again (with the same `Idempotency-Key`) orders and is kept for review as stepped up.
//! A block stays a block; a challenge is its buyer's alone; an unanswered one expires.
#![allow(clippy::unwrap_used)]

use crate::common;

use common::{Backend, TestApp};
use miaodan_server::app::RiskMode;
use miaodan_server::clock::Clock;
use serde_json::{Value, json};

both_backends!(
    a_buyer_who_answers_the_challenge_has_the_same_tap_taken_and_reviewed_as_stepped_up,
    a_second_refusal_while_a_challenge_is_open_answers_the_same_challenge,
    a_block_stays_a_block_after_a_pass,
    a_challenge_is_its_buyers_alone,
    three_wrong_answers_or_the_expiry_close_a_challenge,
    a_challenged_checkout_steps_up_the_same_way,
    a_pass_outlives_a_restart,
);

/// Rules under which a tap without a device id scores `points` (challenge at 50, block at 80).
fn no_device_scores(points: u32) -> Value {
    json!({
        "note": "演练",
        "rule_set": {
            "rules": [{ "code": "no_device", "signal": "no_device", "threshold": 1, "points": points }],
            "review_at": 30, "challenge_at": 50, "block_at": 80, "strict_percent": 60,
        },
    })
}

async fn risky_app(backend: Backend, clock: Option<Clock>) -> (TestApp, common::World, i64) {
    let app = TestApp::spawn_with(backend, |c| {
        c.risk = RiskMode::On;
        if let Some(clock) = clock {
            c.clock = clock;
        }
    })
    .await;
    let w = app.world().await;
    app.post("/v1/risk/rules", &app.admin, no_device_scores(60))
        .await
        .assert_status(201);
    app.stock(&w.merchant, w.skus[0], w.warehouses[0], 10).await;
    let now = app.state().clock.now().unix_ms();
    let at = |ms: i64| jiff::Timestamp::from_millisecond(ms).unwrap().to_string();
    let body = json!({
        "sku_id": w.skus[0], "warehouse_id": w.warehouses[0],
        "starts_at": at(now - 1_000), "ends_at": at(now + 3_600_000),
        "price_fen": 990, "units": 10, "per_buyer_limit": 1,
    });
    let sale = app.post("/v1/flash-sales", &w.merchant, body).await.assert_status(201)["id"]
        .as_i64()
        .unwrap();
    (app, w, sale)
}

/// A tap of `buyer` on `sale` without a device id, with an `Idempotency-Key` if given.
async fn tap(app: &TestApp, buyer: &str, sale: i64, key: Option<&str>) -> common::Answer {
    let mut request = app
        .http
        .post(app.url(&format!("/v1/flash-sales/{sale}/taps")))
        .bearer_auth(buyer)
        .json(&json!({ "address": { "adcode": "310104000000", "detail": "宜山路1号" } }));
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    app.send(request).await
}

/// The sum a simulated captcha's prompt asks ("7 + 5 = ?"), worked out as a client would.
fn solve(prompt: &str) -> String {
    let terms: Vec<u32> = prompt
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|t| t.parse().ok())
        .collect();
    terms.iter().sum::<u32>().to_string()
}

fn wrong(prompt: &str) -> String {
    (solve(prompt).parse::<u32>().unwrap() + 1).to_string()
}

async fn answer(app: &TestApp, buyer: &str, challenge: &Value, answer: &str) -> common::Answer {
    let url = challenge["answer_url"].as_str().unwrap();
    app.post(url, buyer, json!({ "answer": answer })).await
}

async fn a_buyer_who_answers_the_challenge_has_the_same_tap_taken_and_reviewed_as_stepped_up(backend: Backend) {
    let (app, w, sale) = risky_app(backend, None).await;
    let (buyer_id, buyer) = app.buyer("甲").await;
    let refused = tap(&app, &buyer, sale, Some("tap-1")).await;
    refused.assert_problem(428, "risk_challenge");
    let challenge = refused.body["challenge"].clone();
    let id = challenge["id"].as_i64().unwrap();
    assert_eq!(challenge["answer_url"], format!("/v1/risk/challenges/{id}/answer"));
    assert!(challenge["prompt_zh"].as_str().unwrap().contains('加'), "{challenge}");
    let prompt = challenge["prompt_en"].as_str().unwrap().to_string();
    // Read back as its buyer sees it: open, three attempts, no answer in sight.
    let read = app.get(&format!("/v1/risk/challenges/{id}"), &buyer).await;
    let read = read.assert_status(200).clone();
    assert_eq!(
        (&read["state"], &read["attempts_left"], &read["kind"]),
        (&json!("open"), &json!(3), &json!("tap"))
    );
    assert_eq!(read["flash_sale_id"], sale);
    assert!(!read.to_string().contains("check_state") && !read.to_string().contains("digest"));
    let missed = answer(&app, &buyer, &challenge, &wrong(&prompt)).await;
    missed.assert_problem(422, "challenge_failed");
    assert_eq!(missed.body["attempts_left"], 2);
    answer(&app, &buyer, &challenge, "")
        .await
        .assert_problem(422, "challenge_failed");
    let long = "9".repeat(65);
    let too_long = answer(&app, &buyer, &challenge, &long).await;
    too_long.assert_problem(422, "invalid_field");
    assert_eq!(too_long.body["field"], "answer");
    let passed = answer(&app, &buyer, &challenge, &solve(&prompt)).await;
    let passed = passed.assert_status(200).clone();
    assert_eq!(passed["state"], "passed");
    assert!(passed["pass_until"].as_str().is_some(), "{passed}");
    // The tap sent again with its key is decided afresh (the 428 was not stored) and orders.
    let taken = tap(&app, &buyer, sale, Some("tap-1")).await;
    assert_eq!(taken.assert_status(201)["result"], "ordered");
    let order = taken.body["order"]["id"].as_i64().unwrap();
    let status = app.get(&format!("/v1/flash-sales/{sale}"), &w.merchant).await;
    assert_eq!(
        status.assert_status(200)["remaining"],
        9,
        "the stepped-up tap holds its unit"
    );
    // Its retry replays the order; the decision is in the review queue, stepped up.
    let replayed = tap(&app, &buyer, sale, Some("tap-1")).await;
    assert_eq!(replayed.assert_status(201)["order"]["id"], order);
    let queue = app
        .get(
            &format!("/v1/risk/decisions?buyer_id={buyer_id}&verdict=review"),
            &app.admin,
        )
        .await;
    let items = queue.assert_status(200)["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(
        (&items[0]["id"], &items[0]["stepped_up"], &items[0]["ordered"]),
        (&json!(order), &json!(true), &json!(true))
    );
    // The pass is used up: the buyer's next challenged request is challenged again.
    tap(&app, &buyer, sale, Some("tap-2"))
        .await
        .assert_problem(428, "risk_challenge");
    app.shutdown().await;
}

async fn a_second_refusal_while_a_challenge_is_open_answers_the_same_challenge(backend: Backend) {
    let (app, _w, sale) = risky_app(backend, None).await;
    let (_, buyer) = app.buyer("乙").await;
    let first = tap(&app, &buyer, sale, None).await;
    let second = tap(&app, &buyer, sale, None).await;
    second.assert_problem(428, "risk_challenge");
    assert_eq!(first.body["challenge"], second.body["challenge"]);
    app.shutdown().await;
}

async fn a_block_stays_a_block_after_a_pass(backend: Backend) {
    let (app, _w, sale) = risky_app(backend, None).await;
    let (_, buyer) = app.buyer("丙").await;
    let refused = tap(&app, &buyer, sale, None).await;
    let challenge = refused.body["challenge"].clone();
    let prompt = challenge["prompt_en"].as_str().unwrap().to_string();
    answer(&app, &buyer, &challenge, &solve(&prompt))
        .await
        .assert_status(200);
    // The operators now block what they challenged.
    app.post("/v1/risk/rules", &app.admin, no_device_scores(100))
        .await
        .assert_status(201);
    let blocked = tap(&app, &buyer, sale, None).await;
    blocked.assert_problem(403, "risk_blocked");
    assert!(blocked.body.get("challenge").is_none(), "{:?}", blocked.body);
    app.shutdown().await;
}

async fn a_challenge_is_its_buyers_alone(backend: Backend) {
    let (app, w, sale) = risky_app(backend, None).await;
    let (_, buyer) = app.buyer("丁").await;
    let (_, other) = app.buyer("戊").await;
    let refused = tap(&app, &buyer, sale, None).await;
    let challenge = refused.body["challenge"].clone();
    let id = challenge["id"].as_i64().unwrap();
    let prompt = challenge["prompt_en"].as_str().unwrap().to_string();
    let path = format!("/v1/risk/challenges/{id}");
    app.get(&path, &other).await.assert_problem(404, "not_found");
    answer(&app, &other, &challenge, &solve(&prompt))
        .await
        .assert_problem(404, "not_found");
    app.get(&path, &w.merchant).await.assert_problem(403, "forbidden");
    answer(&app, &w.merchant, &challenge, &solve(&prompt))
        .await
        .assert_problem(403, "forbidden");
    app.get(&path, &app.admin).await.assert_problem(403, "forbidden");
    app.get("/v1/risk/challenges/999999", &buyer)
        .await
        .assert_problem(404, "not_found");
    app.get("/v1/risk/challenges/abc", &buyer).await.assert_status(400);
    // None of it touched the challenge.
    let read = app.get(&path, &buyer).await;
    assert_eq!(
        (&read.assert_status(200)["state"], &read.body["attempts_left"]),
        (&json!("open"), &json!(3))
    );
    app.shutdown().await;
}

async fn three_wrong_answers_or_the_expiry_close_a_challenge(backend: Backend) {
    let clock = Clock::system();
    let (app, _w, sale) = risky_app(backend, Some(clock.clone())).await;
    let (_, buyer) = app.buyer("己").await;
    let challenge = tap(&app, &buyer, sale, None).await.body["challenge"].clone();
    let prompt = challenge["prompt_en"].as_str().unwrap().to_string();
    let left: Vec<Value> = {
        let mut left = Vec::new();
        for _ in 0..3 {
            left.push(answer(&app, &buyer, &challenge, &wrong(&prompt)).await.body["attempts_left"].clone());
        }
        left
    };
    assert_eq!(left, [json!(2), json!(1), json!(0)]);
    answer(&app, &buyer, &challenge, &solve(&prompt))
        .await
        .assert_problem(409, "challenge_closed");
    // The next refusal opens a new challenge; left unanswered past its expiry, it is closed.
    let fresh = tap(&app, &buyer, sale, None).await.body["challenge"].clone();
    assert_ne!(fresh["id"], challenge["id"]);
    clock.advance(301_000);
    let id = fresh["id"].as_i64().unwrap();
    let read = app.get(&format!("/v1/risk/challenges/{id}"), &buyer).await;
    assert_eq!(read.assert_status(200)["state"], "expired");
    let fresh_prompt = fresh["prompt_en"].as_str().unwrap().to_string();
    answer(&app, &buyer, &fresh, &solve(&fresh_prompt))
        .await
        .assert_problem(409, "challenge_closed");
    let third = tap(&app, &buyer, sale, None).await;
    third.assert_problem(428, "risk_challenge");
    assert_ne!(third.body["challenge"]["id"], fresh["id"]);
    app.shutdown().await;
}

async fn a_challenged_checkout_steps_up_the_same_way(backend: Backend) {
    let (app, w, _sale) = risky_app(backend, None).await;
    let (_, buyer) = app.buyer("庚").await;
    let checkout = || {
        app.http
            .post(app.url("/v1/checkouts"))
            .bearer_auth(&buyer)
            .header("Idempotency-Key", "checkout-1")
            .json(&json!({ "lines": [{ "sku_id": w.skus[0], "quantity": 1 }] }))
    };
    let refused = app.send(checkout()).await;
    refused.assert_problem(428, "risk_challenge");
    let challenge = refused.body["challenge"].clone();
    let id = challenge["id"].as_i64().unwrap();
    let read = app.get(&format!("/v1/risk/challenges/{id}"), &buyer).await;
    let read = read.assert_status(200).clone();
    assert_eq!(
        (&read["kind"], &read["flash_sale_id"]),
        (&json!("checkout"), &Value::Null)
    );
    let prompt = challenge["prompt_en"].as_str().unwrap().to_string();
    answer(&app, &buyer, &challenge, &solve(&prompt))
        .await
        .assert_status(200);
    let placed = app.send(checkout()).await;
    let order = placed.assert_status(201)["orders"][0]["id"].clone();
    let kept = app.get("/v1/risk/decisions?verdict=review", &app.admin).await;
    let items = kept.assert_status(200)["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(
        (&items[0]["id"], &items[0]["kind"], &items[0]["stepped_up"]),
        (&order, &json!("checkout"), &json!(true))
    );
    app.shutdown().await;
}

async fn a_pass_outlives_a_restart(backend: Backend) {
    let (mut app, _w, sale) = risky_app(backend, None).await;
    let (_, buyer) = app.buyer("辛").await;
    let challenge = tap(&app, &buyer, sale, None).await.body["challenge"].clone();
    let prompt = challenge["prompt_en"].as_str().unwrap().to_string();
    answer(&app, &buyer, &challenge, &solve(&prompt))
        .await
        .assert_status(200);
    app.restart().await;
    let taken = tap(&app, &buyer, sale, None).await;
    assert_eq!(taken.assert_status(201)["result"], "ordered");
    app.shutdown().await;
}
