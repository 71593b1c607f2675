//! Flash sales over real HTTP: the tap answers, limits, expiry giving units back, the end of a
//! sale returning stock, thousands of simultaneous taps, counts surviving a restart, and the
//! live room's controls (end a sale now, top up its units).
#![allow(clippy::unwrap_used)]

use crate::common;

use common::{Backend, TestApp, World};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

both_backends!(
    a_tap_orders_at_the_flash_price_until_the_units_are_gone,
    a_tap_over_the_limit_says_how_many_more_units_the_buyer_may_take,
    taps_before_the_start_and_after_the_end_are_refused_and_the_end_returns_stock,
    an_unpaid_flash_order_expires_and_its_unit_goes_back_to_the_sale,
    thousands_of_simultaneous_taps_sell_each_unit_exactly_once,
    units_sold_and_per_buyer_counts_survive_a_restart,
    a_keyed_tap_replays_after_a_restart_and_finds_its_order_once_its_answer_is_purged,
    scheduling_refuses_nonsense_and_more_units_than_the_warehouse_has,
    an_order_names_the_flash_sale_it_was_tapped_from,
    an_ended_sale_refuses_taps_returns_its_units_and_keeps_its_orders,
    a_top_up_takes_available_stock_and_a_sold_out_sale_sells_again,
    only_the_sales_merchant_or_an_operator_may_end_or_top_up_a_sale,
);

fn rfc3339_in(seconds: i64) -> String {
    let at = jiff::Timestamp::now() + jiff::SignedDuration::from_millis(seconds * 1000);
    at.to_string()
}

async fn schedule(app: &TestApp, w: &World, units: i64, extra: Value) -> i64 {
    let mut body = json!({
        "sku_id": w.skus[0], "warehouse_id": w.warehouses[0],
        "starts_at": rfc3339_in(-1), "ends_at": rfc3339_in(3600),
        "price_fen": 990, "units": units,
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let sale = app.post("/v1/flash-sales", &w.merchant, body).await;
    sale.assert_status(201)["id"].as_i64().unwrap()
}

async fn tap(app: &TestApp, buyer: &str, sale: i64) -> common::Answer {
    app.send(
        app.http
            .post(app.url(&format!("/v1/flash-sales/{sale}/taps")))
            .bearer_auth(buyer),
    )
    .await
}

async fn a_tap_orders_at_the_flash_price_until_the_units_are_gone(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = app.world().await;
    let sale = schedule(&app, &w, 2, json!({ "per_buyer_limit": 1 })).await;
    // The units are held by the sale: out of available, into reserved.
    assert_eq!(app.level(&w.merchant, w.skus[0], w.warehouses[0]).await, (3, 2, 0));

    let ordered = tap(&app, &w.buyer_token, sale).await;
    let body = ordered.assert_status(201);
    assert_eq!(body["result"], "ordered");
    assert_eq!(body["order"]["total_fen"], 990);
    assert_eq!(body["order"]["lines"][0]["unit_price_fen"], 990);
    assert_eq!(
        body["order"]["address"]["adcode"], "310101000000",
        "the buyer's default address"
    );
    tap(&app, &w.buyer_token, sale)
        .await
        .assert_problem(409, "limit_reached");

    let (_, second) = app.buyer("李四").await;
    let (_, third) = app.buyer("王五").await;
    tap(&app, &second, sale).await.assert_status(201);
    tap(&app, &third, sale).await.assert_problem(409, "sold_out");
    let view = app.get(&format!("/v1/flash-sales/{sale}"), &third).await;
    assert_eq!(view.assert_status(200)["remaining"], 0);
    assert_eq!(view.body["status"], "sold_out");
    // Paying turns the unit sold; stock stays conserved.
    let order = body["order"]["id"].as_i64().unwrap();
    app.pay_order(&w.buyer_token, order).await;
    assert_eq!(app.level(&w.merchant, w.skus[0], w.warehouses[0]).await, (3, 1, 1));
    app.shutdown().await;
}

async fn tap_for(app: &TestApp, buyer: &str, sale: i64, quantity: i64) -> common::Answer {
    app.send(
        app.http
            .post(app.url(&format!("/v1/flash-sales/{sale}/taps")))
            .bearer_auth(buyer)
            .json(&json!({ "quantity": quantity })),
    )
    .await
}

async fn a_tap_over_the_limit_says_how_many_more_units_the_buyer_may_take(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = app.world().await;
    let sale = schedule(&app, &w, 5, json!({ "per_buyer_limit": 2 })).await;
    tap(&app, &w.buyer_token, sale).await.assert_status(201);
    // Holding 1 of 2, the buyer asks for 2: one more is allowed, and the answer says so.
    let over = tap_for(&app, &w.buyer_token, sale, 2).await;
    over.assert_problem(409, "limit_reached");
    assert_eq!(
        (
            &over.body["detail"],
            &over.body["per_buyer_limit"],
            &over.body["remaining_allowed"]
        ),
        (
            &json!("you may buy 1 more unit of this sale (limit 2 per buyer)"),
            &json!(2),
            &json!(1)
        ),
        "{}",
        over.raw
    );
    tap_for(&app, &w.buyer_token, sale, 1).await.assert_status(201);
    // Holding the limit, nothing more is allowed.
    let full = tap(&app, &w.buyer_token, sale).await;
    full.assert_problem(409, "limit_reached");
    assert_eq!(
        (
            &full.body["detail"],
            &full.body["per_buyer_limit"],
            &full.body["remaining_allowed"]
        ),
        (
            &json!("you already hold the 2 units of this sale one buyer may buy"),
            &json!(2),
            &json!(0)
        ),
        "{}",
        full.raw
    );
    app.shutdown().await;
}

async fn taps_before_the_start_and_after_the_end_are_refused_and_the_end_returns_stock(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = app.world().await;
    let later = schedule(
        &app,
        &w,
        1,
        json!({ "starts_at": rfc3339_in(600), "ends_at": rfc3339_in(1200) }),
    )
    .await;
    tap(&app, &w.buyer_token, later)
        .await
        .assert_problem(409, "not_started");
    let short = schedule(&app, &w, 2, json!({ "ends_at": rfc3339_in(2) })).await;
    assert_eq!(app.level(&w.merchant, w.skus[0], w.warehouses[0]).await, (2, 3, 0));
    tap(&app, &w.buyer_token, short).await.assert_status(201);
    tokio::time::sleep(Duration::from_millis(2600)).await;
    tap(&app, &w.buyer_token, short).await.assert_problem(409, "ended");
    // The unsold unit of the ended sale is back in available; the later sale still holds 1
    // and the order holds 1.
    assert_eq!(app.level(&w.merchant, w.skus[0], w.warehouses[0]).await, (3, 2, 0));
    tap(&app, &w.buyer_token, 999_999)
        .await
        .assert_problem(404, "not_found");
    app.shutdown().await;
}

async fn an_unpaid_flash_order_expires_and_its_unit_goes_back_to_the_sale(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = app.world().await;
    let sale = schedule(&app, &w, 1, json!({ "payment_timeout_seconds": 1 })).await;
    let order = tap(&app, &w.buyer_token, sale).await.assert_status(201)["order"]["id"]
        .as_i64()
        .unwrap();
    let (_, patient) = app.buyer("李四").await;
    tap(&app, &patient, sale).await.assert_problem(409, "sold_out");
    let mut answer = None;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let retry = tap(&app, &patient, sale).await;
        if retry.status == 201 {
            answer = Some(retry);
            break;
        }
    }
    assert!(answer.is_some(), "the expired order's unit went back to the sale");
    let expired = app.get(&format!("/v1/orders/{order}"), &w.buyer_token).await;
    assert_eq!(expired.body["cancel_reason"], "payment_timeout");
    // The sale's unit moved from one order to another: still reserved, never available.
    assert_eq!(app.level(&w.merchant, w.skus[0], w.warehouses[0]).await, (4, 1, 0));
    app.shutdown().await;
}

async fn thousands_of_simultaneous_taps_sell_each_unit_exactly_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, merchant) = app.shop("直播间").await;
    let warehouse = app.warehouse(&merchant, "杭州仓", "330110000000").await;
    let sku = app.product(&merchant, "爆款", &[9900]).await[0];
    app.stock(&merchant, sku, warehouse, 500).await;
    let w = World {
        shop: 0,
        merchant: merchant.clone(),
        warehouses: [warehouse, warehouse],
        skus: vec![sku],
        buyer: 0,
        buyer_token: String::new(),
    };
    let sale = schedule(&app, &w, 300, json!({ "per_buyer_limit": 2 })).await;
    let mut buyers = Vec::new();
    for i in 0..200 {
        buyers.push(app.buyer(&format!("观众{i}")).await.1);
    }
    // 2 000 taps from 200 buyers, at most 2 units each: 300 units must sell exactly once.
    let taps: Vec<_> = (0..2000).map(|i| tap(&app, &buyers[i % buyers.len()], sale)).collect();
    let mut ordered = Vec::new();
    let stream = futures::stream::iter(taps);
    use futures::StreamExt;
    let answers: Vec<_> = stream.buffer_unordered(256).collect().await;
    for answer in &answers {
        match answer.status.as_u16() {
            201 => ordered.push(answer.body["order"]["id"].as_i64().unwrap()),
            409 => assert!(["sold_out", "limit_reached"].contains(&answer.code()), "{}", answer.raw),
            other => panic!("unexpected {other}: {}", answer.raw),
        }
    }
    assert_eq!(ordered.len(), 300);
    assert_eq!(ordered.iter().collect::<BTreeSet<_>>().len(), 300, "no order id twice");
    assert_eq!(app.level(&merchant, sku, warehouse).await, (200, 300, 0));
    let mut per_buyer = std::collections::BTreeMap::new();
    for answer in answers.iter().filter(|a| a.status == 201) {
        *per_buyer
            .entry(answer.body["order"]["buyer_id"].as_i64().unwrap())
            .or_insert(0) += 1;
    }
    assert!(
        per_buyer.values().all(|n| *n <= 2),
        "per-buyer limit held: {per_buyer:?}"
    );
    app.shutdown().await;
}

async fn units_sold_and_per_buyer_counts_survive_a_restart(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let w = app.world().await;
    let sale = schedule(&app, &w, 3, json!({ "per_buyer_limit": 1 })).await;
    tap(&app, &w.buyer_token, sale).await.assert_status(201);
    let (_, second) = app.buyer("李四").await;
    app.restart().await;
    tap(&app, &w.buyer_token, sale)
        .await
        .assert_problem(409, "limit_reached");
    tap(&app, &second, sale).await.assert_status(201);
    let (_, third) = app.buyer("王五").await;
    tap(&app, &third, sale).await.assert_status(201);
    let (_, fourth) = app.buyer("赵六").await;
    tap(&app, &fourth, sale).await.assert_problem(409, "sold_out");
    assert_eq!(app.level(&w.merchant, w.skus[0], w.warehouses[0]).await, (2, 3, 0));
    app.shutdown().await;
}

async fn keyed_tap(app: &TestApp, buyer: &str, sale: i64, key: &str) -> common::Answer {
    app.send(
        app.http
            .post(app.url(&format!("/v1/flash-sales/{sale}/taps")))
            .bearer_auth(buyer)
            .header("Idempotency-Key", key),
    )
    .await
}

async fn a_keyed_tap_replays_after_a_restart_and_finds_its_order_once_its_answer_is_purged(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let w = app.world().await;
    let sale = schedule(&app, &w, 3, json!({ "per_buyer_limit": 3 })).await;
    let first = keyed_tap(&app, &w.buyer_token, sale, "tap-1").await;
    let order = first.assert_status(201)["order"]["id"].as_i64().unwrap();
    // The key's index is rebuilt at start (under a new process secret): the stored answer is
    // found and replayed byte for byte.
    app.restart().await;
    let replayed = keyed_tap(&app, &w.buyer_token, sale, "tap-1").await;
    assert_eq!(
        (replayed.status, replayed.raw.clone(), replayed.replayed),
        (first.status, first.raw.clone(), true)
    );
    // With the stored answer gone, the retry still finds the order its request placed, by the
    // request reference the order holds, and places no second one.
    app.restart_after(|database| async move {
        let store = miaodan_store::Store::open(&database, miaodan_store::Durability::PowerLossSafe)
            .await
            .unwrap();
        let later = miaodan_domain::Timestamp::from_unix_ms(i64::MAX / 2);
        store.purge_idempotency_records(later).await.unwrap();
    })
    .await;
    let retried = keyed_tap(&app, &w.buyer_token, sale, "tap-1").await;
    assert!(!retried.replayed);
    assert_eq!(retried.assert_status(201)["order"]["id"].as_i64(), Some(order));
    let other = keyed_tap(&app, &w.buyer_token, sale, "tap-2").await;
    assert_ne!(other.assert_status(201)["order"]["id"].as_i64(), Some(order));
    assert_eq!(app.level(&w.merchant, w.skus[0], w.warehouses[0]).await, (2, 3, 0));
    app.shutdown().await;
}

async fn scheduling_refuses_nonsense_and_more_units_than_the_warehouse_has(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = app.world().await;
    let base = json!({
        "sku_id": w.skus[0], "warehouse_id": w.warehouses[0],
        "starts_at": rfc3339_in(-1), "ends_at": rfc3339_in(3600), "price_fen": 990, "units": 1,
    });
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let cases = [
        (with("units", json!(6)), 409, "insufficient_stock"),
        (with("units", json!(0)), 422, "invalid_flash_sale"),
        (with("ends_at", json!(rfc3339_in(-5))), 422, "invalid_flash_sale"),
        (with("per_buyer_limit", json!(2)), 422, "invalid_flash_sale"),
        (with("price_fen", json!(-1)), 422, "invalid_price"),
        (with("starts_at", json!("tomorrow")), 422, "invalid_field"),
        (with("sku_id", json!(987_654)), 404, "unknown_sku"),
        (with("warehouse_id", json!(987_654)), 404, "unknown_warehouse"),
    ];
    for (body, status, code) in cases {
        app.post("/v1/flash-sales", &w.merchant, body)
            .await
            .assert_problem(status, code);
    }
    app.post("/v1/flash-sales", &w.buyer_token, base)
        .await
        .assert_problem(403, "forbidden");
    assert_eq!(
        app.level(&w.merchant, w.skus[0], w.warehouses[0]).await,
        (5, 0, 0),
        "nothing was held"
    );
    app.shutdown().await;
}

async fn an_order_names_the_flash_sale_it_was_tapped_from(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let w = app.world().await;
    let sale = schedule(&app, &w, 2, json!({})).await;
    let tapped = tap(&app, &w.buyer_token, sale).await;
    let tapped = tapped.assert_status(201)["order"].clone();
    assert_eq!(tapped["flash_sale_id"], sale, "{tapped}");
    let checkout = app.checkout(&w.buyer_token, &[(w.skus[1], 1)]).await;
    let ordered = checkout.assert_status(201)["orders"][0].clone();
    assert_eq!(ordered["flash_sale_id"], Value::Null, "{ordered}");
    // Read back, listed, and after a restart (from the table), every view says the same.
    app.restart().await;
    let tapped_id = tapped["id"].as_i64().unwrap();
    assert_eq!(app.order(tapped_id).await["flash_sale_id"], sale);
    let listed = app.get("/v1/orders", &w.merchant).await;
    let by_id = |id: &Value| {
        listed.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| &o["id"] == id)
            .cloned()
            .unwrap()
    };
    listed.assert_status(200);
    assert_eq!(by_id(&tapped["id"])["flash_sale_id"], sale);
    assert_eq!(by_id(&ordered["id"])["flash_sale_id"], Value::Null);
    app.shutdown().await;
}

async fn end(app: &TestApp, token: &str, sale: i64) -> common::Answer {
    app.send(
        app.http
            .post(app.url(&format!("/v1/flash-sales/{sale}/end")))
            .bearer_auth(token),
    )
    .await
}

async fn top_up(app: &TestApp, token: &str, sale: i64, units: i64) -> common::Answer {
    let path = format!("/v1/flash-sales/{sale}/top-up");
    app.post(&path, token, json!({ "units": units })).await
}

async fn an_ended_sale_refuses_taps_returns_its_units_and_keeps_its_orders(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = app.world().await;
    let sale = schedule(&app, &w, 4, json!({ "per_buyer_limit": 2 })).await;
    let unpaid = tap(&app, &w.buyer_token, sale).await.assert_status(201)["order"].clone();
    let (_, second) = app.buyer("李四").await;
    let paid = tap(&app, &second, sale).await.assert_status(201)["order"]["id"]
        .as_i64()
        .unwrap();
    app.pay_order(&second, paid).await;
    assert_eq!(app.level(&w.merchant, w.skus[0], w.warehouses[0]).await, (1, 3, 1));

    let path = format!("/v1/flash-sales/{sale}/end");
    let ended = app.post_with_key(&path, &w.merchant, "end-1", json!({})).await;
    let view = ended.assert_status(200).clone();
    assert_eq!((&view["status"], &view["remaining"]), (&json!("ended"), &json!(0)));
    // The two units the sale held are available again; the orders keep theirs.
    assert_eq!(app.level(&w.merchant, w.skus[0], w.warehouses[0]).await, (3, 1, 1));
    tap(&app, &w.buyer_token, sale).await.assert_problem(409, "ended");
    let (_, third) = app.buyer("王五").await;
    tap(&app, &third, sale).await.assert_problem(409, "ended");
    // The same request again is the same answer; another one is refused.
    let replay = app.post_with_key(&path, &w.merchant, "end-1", json!({})).await;
    assert_eq!((replay.status.as_u16(), &replay.body), (200, &view));
    end(&app, &w.merchant, sale).await.assert_problem(409, "ended");
    top_up(&app, &w.merchant, sale, 1).await.assert_problem(409, "ended");

    // The unpaid order kept its payment clock, and pays as before.
    let order = app.get(&format!("/v1/orders/{}", unpaid["id"]), &w.buyer_token).await;
    let order = order.assert_status(200);
    assert_eq!(
        (&order["state"], &order["payment_due_at"]),
        (&json!("pending_payment"), &unpaid["payment_due_at"])
    );
    app.pay_order(&w.buyer_token, unpaid["id"].as_i64().unwrap()).await;
    assert_eq!(app.level(&w.merchant, w.skus[0], w.warehouses[0]).await, (3, 0, 2));
    let stored = app.get(&format!("/v1/flash-sales/{sale}"), &w.merchant).await;
    assert_eq!(stored.assert_status(200)["status"], "ended");
    app.shutdown().await;
}

async fn a_top_up_takes_available_stock_and_a_sold_out_sale_sells_again(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = app.world().await;
    let sale = schedule(&app, &w, 1, json!({})).await;
    tap(&app, &w.buyer_token, sale).await.assert_status(201);
    let (_, second) = app.buyer("李四").await;
    tap(&app, &second, sale).await.assert_problem(409, "sold_out");
    end(&app, &w.merchant, sale).await.assert_problem(409, "sold_out");
    assert_eq!(app.level(&w.merchant, w.skus[0], w.warehouses[0]).await, (4, 1, 0));

    let short = top_up(&app, &w.merchant, sale, 5).await;
    short.assert_problem(409, "insufficient_stock");
    assert_eq!(short.body["field"], "units");
    top_up(&app, &w.merchant, sale, 0)
        .await
        .assert_problem(422, "invalid_field");
    assert_eq!(app.level(&w.merchant, w.skus[0], w.warehouses[0]).await, (4, 1, 0));

    let topped = top_up(&app, &w.merchant, sale, 2).await;
    let view = topped.assert_status(200);
    assert_eq!(
        (&view["status"], &view["units"], &view["remaining"]),
        (&json!("live"), &json!(3), &json!(2))
    );
    assert_eq!(app.level(&w.merchant, w.skus[0], w.warehouses[0]).await, (2, 3, 0));
    tap(&app, &second, sale).await.assert_status(201);
    let (_, third) = app.buyer("王五").await;
    tap(&app, &third, sale).await.assert_status(201);
    let (_, fourth) = app.buyer("赵六").await;
    tap(&app, &fourth, sale).await.assert_problem(409, "sold_out");
    // Three units in three orders; the rest of the stock untouched.
    assert_eq!(app.level(&w.merchant, w.skus[0], w.warehouses[0]).await, (2, 3, 0));
    app.shutdown().await;
}

async fn only_the_sales_merchant_or_an_operator_may_end_or_top_up_a_sale(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = app.world().await;
    let sale = schedule(&app, &w, 2, json!({})).await;
    let (_, other) = app.shop("别家小店").await;
    end(&app, &other, sale).await.assert_problem(404, "not_found");
    top_up(&app, &other, sale, 1).await.assert_problem(404, "not_found");
    end(&app, &w.buyer_token, sale).await.assert_problem(403, "forbidden");
    top_up(&app, &w.buyer_token, sale, 1)
        .await
        .assert_problem(403, "forbidden");
    end(&app, &w.merchant, 999_999).await.assert_problem(404, "not_found");
    assert_eq!(app.level(&w.merchant, w.skus[0], w.warehouses[0]).await, (3, 2, 0));

    let topped = top_up(&app, &app.admin, sale, 1).await;
    assert_eq!(topped.assert_status(200)["remaining"], 3);
    let ended = end(&app, &app.admin, sale).await;
    assert_eq!(ended.assert_status(200)["status"], "ended");
    assert_eq!(app.level(&w.merchant, w.skus[0], w.warehouses[0]).await, (5, 0, 0));
    app.shutdown().await;
}
