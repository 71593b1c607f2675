//! Batches of taps from a trusted edge gateway over real HTTP: each tap answered as it would
//! have been alone and in order, its key its buyer's (retried in a batch or alone), the edge
//! token good for the batch only, and the batch's bounds.
#![allow(clippy::unwrap_used)]

use crate::common;

use common::{Backend, TestApp, World};
use serde_json::{Value, json};

both_backends!(
    each_tap_of_a_batch_gets_what_it_would_have_got_alone_in_order,
    a_retried_batch_gets_the_same_answers_and_places_nothing_new,
    a_taps_key_is_its_buyers_alone_or_in_a_batch,
    only_an_edge_token_sends_a_batch_and_it_sends_nothing_else,
    a_batch_carries_one_to_a_thousand_taps_on_a_sale_that_exists,
);

fn rfc3339_in(seconds: i64) -> String {
    (jiff::Timestamp::now() + jiff::SignedDuration::from_secs(seconds)).to_string()
}

/// A sale of `units` on the world's first SKU, live since a minute, one unit per buyer.
async fn sale(app: &TestApp, w: &World, units: i64) -> i64 {
    let body = json!({
        "sku_id": w.skus[0], "warehouse_id": w.warehouses[0],
        "starts_at": rfc3339_in(-60), "ends_at": rfc3339_in(3600),
        "price_fen": 990, "units": units,
    });
    let sale = app.post("/v1/flash-sales", &w.merchant, body).await;
    sale.assert_status(201)["id"].as_i64().unwrap()
}

/// An edge gateway's token, issued by the platform's admin.
async fn edge_token(app: &TestApp) -> String {
    let issued = app
        .post("/v1/edge-tokens", &app.admin, json!({ "label": "edge-sh-1" }))
        .await;
    let issued = issued.assert_status(201);
    assert_eq!(issued["role"], "edge");
    issued["token"].as_str().unwrap().to_string()
}

fn batch_path(sale: i64) -> String {
    format!("/v1/flash-sales/{sale}/taps/batch")
}

fn tap(buyer: i64, key: &str) -> Value {
    json!({ "buyer_id": buyer, "idempotency_key": key })
}

/// (status, code or `ordered`) of each result, in order.
fn outcomes(results: &Value) -> Vec<(u64, String)> {
    results["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let code = r["body"]["code"].as_str().or(r["body"]["result"].as_str());
            (r["status"].as_u64().unwrap(), code.unwrap().to_string())
        })
        .collect()
}

fn expected(rows: &[(u64, &str)]) -> Vec<(u64, String)> {
    rows.iter().map(|(s, c)| (*s, c.to_string())).collect()
}

async fn orders_listed(app: &TestApp) -> usize {
    let listed = app.get("/v1/orders?limit=200", &app.admin).await;
    listed.assert_status(200)["items"].as_array().unwrap().len()
}

async fn each_tap_of_a_batch_gets_what_it_would_have_got_alone_in_order(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = app.world().await;
    let sale = sale(&app, &w, 2).await;
    let edge = edge_token(&app).await;
    let (second, _) = app.buyer("李四").await;
    let (third, _) = app.buyer("王五").await;
    let taps = json!({ "taps": [
        tap(w.buyer, "a-1"),
        // The same buyer again, as a second single tap: over the per-buyer limit.
        tap(w.buyer, "a-2"),
        tap(999_999, "ghost-1"),
        tap(second, "b-1"),
        tap(third, "c-1"),
        tap(third, ""),
        { "buyer_id": second, "idempotency_key": "b-2", "quantity": 0 },
        { "buyer_id": second, "idempotency_key": "b-3", "device_id": "d".repeat(129) },
        { "buyer_id": second, "idempotency_key": "b-4", "address": { "adcode": "999999999999", "detail": "1号" } },
    ] });
    let answer = app.post(&batch_path(sale), &edge, taps).await;
    let results = answer.assert_status(200).clone();
    assert_eq!(answer.content_type, "application/json");
    assert_eq!(
        outcomes(&results),
        expected(&[
            (201, "ordered"),
            (409, "limit_reached"),
            (404, "not_found"),
            (201, "ordered"),
            (409, "sold_out"),
            (400, "invalid_idempotency_key"),
            (422, "invalid_quantity"),
            (422, "invalid_field"),
            (404, "unknown_adcode"),
        ])
    );
    let first = &results["results"][0];
    assert_eq!(first["idempotency_key"], "a-1");
    assert_eq!(first["body"]["order"]["total_fen"], 990);
    assert_eq!(first["body"]["order"]["address"]["adcode"], "310101000000");
    assert_eq!(results["results"][1]["body"]["remaining_allowed"], 0);
    assert_eq!(results["results"][2]["body"]["field"], "buyer_id");
    // Two orders, both units held by them.
    assert_eq!(orders_listed(&app).await, 2);
    let view = app.get(&format!("/v1/flash-sales/{sale}"), &w.buyer_token).await;
    assert_eq!(view.assert_status(200)["remaining"], 0);
    app.shutdown().await;
}

async fn a_retried_batch_gets_the_same_answers_and_places_nothing_new(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = app.world().await;
    let sale = sale(&app, &w, 1).await;
    let edge = edge_token(&app).await;
    let (second, _) = app.buyer("李四").await;
    let taps = json!({ "taps": [tap(w.buyer, "r-1"), tap(second, "r-2"), tap(w.buyer, "r-1")] });
    let first = app.post(&batch_path(sale), &edge, taps.clone()).await;
    let first = first.assert_status(200).clone();
    // The third tap repeats the first's key: it gets the first's answer, as a retry would.
    assert_eq!(
        outcomes(&first),
        expected(&[(201, "ordered"), (409, "sold_out"), (201, "ordered")])
    );
    assert_eq!(first["results"][0]["body"], first["results"][2]["body"]);
    let again = app.post(&batch_path(sale), &edge, taps).await;
    assert_eq!(again.assert_status(200), &first, "every tap gets its first answer");
    // With the batch's own key too, the whole answer is replayed.
    let keyed = json!({ "taps": [tap(w.buyer, "r-1")] });
    let once = app
        .post_with_key(&batch_path(sale), &edge, "batch-1", keyed.clone())
        .await;
    let twice = app.post_with_key(&batch_path(sale), &edge, "batch-1", keyed).await;
    assert!(twice.replayed);
    assert_eq!(once.raw, twice.raw);
    assert_eq!(orders_listed(&app).await, 1, "nothing new was placed");
    app.shutdown().await;
}

async fn a_taps_key_is_its_buyers_alone_or_in_a_batch(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = app.world().await;
    let sale = sale(&app, &w, 3).await;
    let edge = edge_token(&app).await;
    let taps_path = format!("/v1/flash-sales/{sale}/taps");
    let batched = app
        .post(&batch_path(sale), &edge, json!({ "taps": [tap(w.buyer, "k-1")] }))
        .await;
    let order = batched.assert_status(200)["results"][0]["body"].clone();
    // The buyer retries alone with the key (no body: the tap had no quantity or address).
    let alone = app
        .send(
            app.http
                .post(app.url(&taps_path))
                .bearer_auth(&w.buyer_token)
                .header("Idempotency-Key", "k-1"),
        )
        .await;
    assert!(alone.replayed);
    assert_eq!(alone.assert_status(201), &order);
    // Another tap with the key, alone or in a batch, is a reused key.
    app.post_with_key(&taps_path, &w.buyer_token, "k-1", json!({ "quantity": 2 }))
        .await
        .assert_problem(422, "idempotency_key_reused");
    let reused = json!({ "taps": [{ "buyer_id": w.buyer, "idempotency_key": "k-1", "quantity": 2 }] });
    let reused = app.post(&batch_path(sale), &edge, reused).await;
    assert_eq!(
        outcomes(reused.assert_status(200)),
        expected(&[(422, "idempotency_key_reused")])
    );
    // A single tap's key carried later in a batch gets the single tap's answer.
    let (second, second_token) = app.buyer("李四").await;
    let single = app
        .post_with_key(&taps_path, &second_token, "s-1", json!({ "quantity": 1 }))
        .await;
    let single = single.assert_status(201).clone();
    let carried = json!({ "taps": [{ "buyer_id": second, "idempotency_key": "s-1", "quantity": 1 }] });
    let carried = app.post(&batch_path(sale), &edge, carried).await;
    assert_eq!(carried.assert_status(200)["results"][0]["body"], single);
    // Keys are per buyer: another buyer's tap with the same key is its own.
    let other = app
        .post(&batch_path(sale), &edge, json!({ "taps": [tap(second, "k-1")] }))
        .await;
    assert_eq!(outcomes(other.assert_status(200)), expected(&[(409, "limit_reached")]));
    assert_eq!(orders_listed(&app).await, 2);
    app.shutdown().await;
}

async fn only_an_edge_token_sends_a_batch_and_it_sends_nothing_else(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = app.world().await;
    let sale = sale(&app, &w, 3).await;
    let edge = edge_token(&app).await;
    let body = json!({ "taps": [tap(w.buyer, "x-1")] });
    for token in [&w.buyer_token, &w.merchant, &app.admin] {
        let refused = app.post(&batch_path(sale), token, body.clone()).await;
        refused.assert_problem(403, "forbidden");
    }
    // Only the platform's admin issues edge tokens.
    app.post("/v1/edge-tokens", &w.merchant, json!({}))
        .await
        .assert_problem(403, "forbidden");
    // The edge token is good for nothing else, reads included.
    let taps_path = format!("/v1/flash-sales/{sale}/taps");
    app.post(&taps_path, &edge, json!({}))
        .await
        .assert_problem(403, "forbidden");
    app.post("/v1/checkouts", &edge, json!({}))
        .await
        .assert_problem(403, "forbidden");
    app.post("/v1/edge-tokens", &edge, json!({}))
        .await
        .assert_problem(403, "forbidden");
    for path in [
        "/v1/flash-sales",
        "/v1/orders",
        "/v1/tokens",
        "/v1/idempotency-keys/x-1",
    ] {
        app.get(path, &edge).await.assert_problem(403, "forbidden");
    }
    assert_eq!(orders_listed(&app).await, 0);
    app.shutdown().await;
}

async fn a_batch_carries_one_to_a_thousand_taps_on_a_sale_that_exists(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = app.world().await;
    let sale = sale(&app, &w, 3).await;
    let edge = edge_token(&app).await;
    let many: Vec<Value> = (0..1_001).map(|i| tap(w.buyer, &format!("m-{i}"))).collect();
    let over = app.post(&batch_path(sale), &edge, json!({ "taps": many })).await;
    over.assert_problem(422, "too_many_taps");
    assert_eq!(over.body["field"], "taps");
    let none = app.post(&batch_path(sale), &edge, json!({ "taps": [] })).await;
    none.assert_problem(422, "invalid_field");
    app.post(&batch_path(999_999), &edge, json!({ "taps": [tap(w.buyer, "m-1")] }))
        .await
        .assert_problem(404, "not_found");
    // A thousand taps are one batch: the first of the buyer's orders, the rest over its limit.
    let thousand: Vec<Value> = (0..1_000).map(|i| tap(w.buyer, &format!("t-{i}"))).collect();
    let answer = app.post(&batch_path(sale), &edge, json!({ "taps": thousand })).await;
    let results = outcomes(answer.assert_status(200));
    assert_eq!(results.len(), 1_000);
    assert_eq!(results[0], (201, "ordered".to_string()));
    assert!(results[1..].iter().all(|r| *r == (409, "limit_reached".to_string())));
    assert_eq!(orders_listed(&app).await, 1);
    app.shutdown().await;
}
