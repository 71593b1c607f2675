//! Orders over real HTTP: checkout, the state machine, expiry across a restart, idempotency.
#![allow(clippy::unwrap_used)]

use crate::common;

use common::{Backend, TestApp};
use serde_json::json;
use std::time::Duration;

both_backends!(
    a_checkout_reserves_stock_and_payment_sells_it,
    a_checkout_across_shops_is_one_order_per_shop_under_one_checkout,
    a_checkout_across_shops_cut_after_one_part_is_completed_by_its_retry_without_a_second_part,
    a_refused_shop_cancels_the_other_shops_orders_before_the_answer,
    cancelling_an_unpaid_order_releases_its_stock,
    a_shop_cancels_its_own_unpaid_orders_and_the_platform_any,
    an_unpaid_order_expires_and_releases_its_stock_even_across_a_restart,
    an_idempotent_checkout_is_replayed_after_a_restart_and_a_changed_body_is_refused,
    concurrent_requests_with_one_key_execute_once,
    stock_is_never_oversold_under_concurrent_checkouts,
    a_fenced_writer_can_no_longer_commit,
    a_fence_leaves_alone_a_process_that_took_the_failed_writers_pid,
    a_serving_process_ends_what_a_previous_one_left_before_reading,
    a_sku_unknown_to_one_checkout_is_sold_once_it_exists,
);

/// Tests that need a database server the test can shut its platform out of.
mod on_postgres_only {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_shard_whose_database_does_not_answer_refuses_requests_at_once_until_it_rebuilt() {
        if super::common::skip_postgres() {
            return;
        }
        super::a_shard_whose_database_does_not_answer_refuses_requests_at_once_until_it_rebuilt().await
    }
}

async fn a_checkout_reserves_stock_and_payment_sells_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = app.world().await;
    let placed = app.checkout(&w.buyer_token, &[(w.skus[0], 6)]).await;
    let order = &placed.assert_status(201)["orders"][0];
    assert_eq!(order["state"], "pending_payment");
    assert_eq!(order["total_fen"], 6 * 5990);
    // 5 come from the fuller warehouse, the 6th from the other one.
    assert_eq!(app.level(&w.merchant, w.skus[0], w.warehouses[0]).await, (0, 5, 0));
    assert_eq!(app.level(&w.merchant, w.skus[0], w.warehouses[1]).await, (2, 1, 0));

    let id = order["id"].as_i64().unwrap();
    let intent = app
        .pay_checkout(&w.buyer_token, placed.body["checkout_id"].as_i64().unwrap())
        .await;
    let paid = app.get(&format!("/v1/orders/{id}"), &w.buyer_token).await;
    assert_eq!(paid.assert_status(200)["state"], "paid");
    assert_eq!(paid.body["version"], 2);
    assert_eq!(paid.body["paid_by_payment_intent_id"], intent["id"]);
    // Paid, the order is dispatched: no warehouse holds 6, so it is split nearest first —
    // all 3 of Shanghai's (the buyer's city), the other 3 from Chengdu.
    assert_eq!(app.level(&w.merchant, w.skus[0], w.warehouses[0]).await, (2, 0, 3));
    assert_eq!(app.level(&w.merchant, w.skus[0], w.warehouses[1]).await, (0, 0, 3));

    app.post(&format!("/v1/orders/{id}/cancel"), &w.buyer_token, json!({}))
        .await
        .assert_problem(409, "invalid_transition");
    // Paying again finds the checkout's one intent, already captured.
    let again = app
        .open_intent(&w.buyer_token, placed.body["checkout_id"].as_i64().unwrap())
        .await;
    assert_eq!(again.assert_status(201)["id"], intent["id"]);
    assert_eq!(again.body["status"], "captured");
    app.shutdown().await;
}

/// A second shop (a beauty shop in Guangzhou) selling one lipstick SKU at ¥129 with `units`
/// in stock: its merchant token, the SKU, and the warehouse.
async fn lipstick_shop(app: &TestApp, units: i64) -> (String, i64, i64) {
    let (_, merchant) = app.shop("美妆店").await;
    let warehouse = app.warehouse(&merchant, "广州仓", "440111000000").await;
    let lipstick = app.product(&merchant, "口红", &[12900]).await[0];
    app.stock(&merchant, lipstick, warehouse, units).await;
    (merchant, lipstick, warehouse)
}

async fn a_checkout_across_shops_is_one_order_per_shop_under_one_checkout(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = app.world().await;
    let (_, lipstick, _) = lipstick_shop(&app, 10).await;

    let placed = app
        .checkout(&w.buyer_token, &[(w.skus[0], 1), (lipstick, 2), (w.skus[1], 1)])
        .await;
    let body = placed.assert_status(201);
    let orders = body["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 2);
    assert!(orders.iter().all(|o| o["checkout_id"] == body["checkout_id"]));
    assert_eq!(
        orders[0]["lines"].as_array().unwrap().len(),
        2,
        "the first shop's order has its two lines"
    );
    assert_eq!(body["total_fen"], 5990 + 10990 + 2 * 12900);
    app.shutdown().await;
}

/// A crash between the shops of one checkout leaves the parts already placed and no answer.
/// Recovery is the client's retry with the same key: each part carries a reference derived
/// from (caller, key, request, shop), so the retry finds the part placed and places only the
/// missing ones. (Without a retry, the part expires unpaid at the payment timeout, like any
/// order; ARCHITECTURE.md, "Batching, durability and recovery".) The cut is made by placing the
/// first shop's part as the checkout would have, straight through its shard.
async fn a_checkout_across_shops_cut_after_one_part_is_completed_by_its_retry_without_a_second_part(backend: Backend) {
    use miaodan_domain::shard::{Command, OrderLineRequest, PlaceOrder, RequestRef};
    use sha2::{Digest, Sha256};
    let app = TestApp::spawn(backend).await;
    let w = app.world().await;
    let (other, lipstick, wh) = lipstick_shop(&app, 10).await;
    let body = json!({ "lines": [
        { "sku_id": w.skus[0], "quantity": 1 },
        { "sku_id": lipstick, "quantity": 2 },
    ]});
    let key = "cut-between-shops-1";
    // What the checkout's handler derives for the first shop's part.
    let request_sha256 = hex::encode(
        Sha256::new()
            .chain_update(b"POST /v1/checkouts\n")
            .chain_update(serde_json::to_vec(&body).unwrap())
            .finalize(),
    );
    let context = miaodan_server::idempotency::Idempotency {
        id: 0,
        scope: format!("buyer:{}", w.buyer),
        key: key.into(),
        request_sha256,
        clock: app.state().clock.clone(),
    };
    let state = app.state();
    let shop = miaodan_domain::ShopId::new(w.shop).unwrap();
    let cut = PlaceOrder {
        id: state.ids.order().await.unwrap(),
        checkout: state.ids.checkout().await.unwrap(),
        shop,
        buyer: miaodan_domain::BuyerId::new(w.buyer).unwrap(),
        lines: vec![OrderLineRequest {
            sku: miaodan_domain::SkuId::new(w.skus[0]).unwrap(),
            quantity: miaodan_domain::Quantity::new(1).unwrap(),
        }],
        address: miaodan_domain::orders::Address {
            adcode: miaodan_domain::geo::Adcode::parse("310114000000").unwrap(),
            detail: miaodan_domain::orders::AddressDetail::parse("上海路1号").unwrap(),
        },
        payment_timeout_seconds: state.config.payment_timeout_seconds,
        request: Some(RequestRef(context.request_ref(&shop.to_string()))),
        delivery: None,
        client: Default::default(),
    };
    let first_part = cut.id.get();
    state.shards.submit(shop, Command::from(cut), None).await.unwrap();
    assert_eq!(app.level(&w.merchant, w.skus[0], w.warehouses[0]).await, (4, 1, 0));

    let retried = app.post_with_key("/v1/checkouts", &w.buyer_token, key, body).await;
    let orders = retried.assert_status(201)["orders"].as_array().unwrap().clone();
    assert_eq!(orders.len(), 2, "{orders:?}");
    let ids: Vec<i64> = orders.iter().map(|o| o["id"].as_i64().unwrap()).collect();
    assert!(
        ids.contains(&first_part),
        "the part placed before the cut is the checkout's: {ids:?}"
    );
    assert!(
        orders
            .iter()
            .any(|o| o["lines"][0]["sku_id"] == lipstick && o["lines"][0]["quantity"] == 2)
    );
    // The first shop's unit is reserved once, not twice; the other shop's two are reserved.
    assert_eq!(app.level(&w.merchant, w.skus[0], w.warehouses[0]).await, (4, 1, 0));
    assert_eq!(app.level(&other, lipstick, wh).await, (8, 2, 0));
    app.shutdown().await;
}

async fn a_refused_shop_cancels_the_other_shops_orders_before_the_answer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = app.world().await;
    let (_, lipstick, _) = lipstick_shop(&app, 1).await;

    let refused = app.checkout(&w.buyer_token, &[(w.skus[0], 2), (lipstick, 2)]).await;
    refused.assert_problem(409, "insufficient_stock");
    assert_eq!(refused.body["field"], "lines[1].quantity");
    // The first shop's order was placed and then cancelled: nothing stays reserved.
    assert_eq!(app.level(&w.merchant, w.skus[0], w.warehouses[0]).await, (5, 0, 0));
    let orders = app.get("/v1/orders", &w.buyer_token).await;
    let items = orders.assert_status(200)["items"].as_array().unwrap().clone();
    assert!(
        items
            .iter()
            .all(|o| o["state"] == "cancelled" && o["cancel_reason"] == "checkout_failed"),
        "{items:?}"
    );
    app.shutdown().await;
}

async fn cancelling_an_unpaid_order_releases_its_stock(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = app.world().await;
    let id = app.checkout(&w.buyer_token, &[(w.skus[1], 4)]).await.assert_status(201)["orders"][0]["id"]
        .as_i64()
        .unwrap();
    let (_, stranger) = app.buyer("李四").await;
    app.post(&format!("/v1/orders/{id}/cancel"), &stranger, json!({}))
        .await
        .assert_problem(404, "not_found");
    let cancelled = app
        .post(&format!("/v1/orders/{id}/cancel"), &w.buyer_token, json!({}))
        .await;
    assert_eq!(cancelled.assert_status(200)["state"], "cancelled");
    assert_eq!(cancelled.body["cancel_reason"], "buyer_cancelled");
    assert_eq!(app.level(&w.merchant, w.skus[1], w.warehouses[0]).await, (5, 0, 0));
    app.shutdown().await;
}

async fn a_shop_cancels_its_own_unpaid_orders_and_the_platform_any(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = app.world().await;
    let placed = app.checkout(&w.buyer_token, &[(w.skus[1], 4)]).await;
    let id = placed.assert_status(201)["orders"][0]["id"].as_i64().unwrap();
    let cancel = format!("/v1/orders/{id}/cancel");
    let (_, other_merchant) = app.shop("别家小铺").await;
    app.post(&cancel, &other_merchant, json!({}))
        .await
        .assert_problem(404, "not_found");
    assert_eq!(app.level(&w.merchant, w.skus[1], w.warehouses[0]).await, (1, 4, 0));

    let cancelled = app.post(&cancel, &w.merchant, json!({})).await;
    assert_eq!(cancelled.assert_status(200)["state"], "cancelled");
    assert_eq!(cancelled.body["cancel_reason"], "shop_cancelled");
    assert_eq!(app.level(&w.merchant, w.skus[1], w.warehouses[0]).await, (5, 0, 0));
    let seen = app.get(&format!("/v1/orders/{id}"), &w.buyer_token).await;
    assert_eq!(seen.assert_status(200)["cancel_reason"], "shop_cancelled");

    // The platform cancels any unpaid order (after a risk review, say).
    let placed = app.checkout(&w.buyer_token, &[(w.skus[1], 2)]).await;
    let held = placed.assert_status(201)["orders"][0]["id"].as_i64().unwrap();
    let by_platform = app
        .post(&format!("/v1/orders/{held}/cancel"), &app.admin, json!({}))
        .await;
    assert_eq!(by_platform.assert_status(200)["cancel_reason"], "platform_cancelled");
    assert_eq!(app.level(&w.merchant, w.skus[1], w.warehouses[0]).await, (5, 0, 0));

    // A paid order is the buyer's to cancel through after-sales, not the shop's here.
    let placed = app.checkout(&w.buyer_token, &[(w.skus[0], 1)]).await;
    let paid = placed.assert_status(201)["orders"][0]["id"].as_i64().unwrap();
    app.pay_checkout(&w.buyer_token, placed.body["checkout_id"].as_i64().unwrap())
        .await;
    app.post(&format!("/v1/orders/{paid}/cancel"), &w.merchant, json!({}))
        .await
        .assert_problem(409, "invalid_transition");
    app.shutdown().await;
}

async fn an_unpaid_order_expires_and_releases_its_stock_even_across_a_restart(backend: Backend) {
    let mut app = TestApp::spawn_with(backend, |c| c.payment_timeout_seconds = 2).await;
    let w = app.world().await;
    let placed = app.checkout(&w.buyer_token, &[(w.skus[0], 5)]).await;
    let id = placed.assert_status(201)["orders"][0]["id"].as_i64().unwrap();
    assert_eq!(app.level(&w.merchant, w.skus[0], w.warehouses[0]).await, (0, 5, 0));
    // Stop before the order is due, come back after: the rebuilt shard still expires it.
    app.restart().await;
    let mut state = String::new();
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        state = app.get(&format!("/v1/orders/{id}"), &w.buyer_token).await.body["state"]
            .as_str()
            .unwrap()
            .to_string();
        if state == "cancelled" {
            break;
        }
    }
    assert_eq!(state, "cancelled");
    let order = app.get(&format!("/v1/orders/{id}"), &w.buyer_token).await;
    assert_eq!(order.body["cancel_reason"], "payment_timeout");
    assert_eq!(app.level(&w.merchant, w.skus[0], w.warehouses[0]).await, (5, 0, 0));
    app.shutdown().await;
}

async fn an_idempotent_checkout_is_replayed_after_a_restart_and_a_changed_body_is_refused(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let w = app.world().await;
    let body = json!({ "lines": [{ "sku_id": w.skus[0], "quantity": 1 }] });
    let first = app
        .post_with_key("/v1/checkouts", &w.buyer_token, "order-42", body.clone())
        .await;
    first.assert_status(201);
    app.restart().await;
    let again = app
        .post_with_key("/v1/checkouts", &w.buyer_token, "order-42", body.clone())
        .await;
    assert!(again.replayed);
    assert_eq!(again.status, first.status);
    assert_eq!(again.raw, first.raw, "replayed byte for byte");
    let changed = json!({ "lines": [{ "sku_id": w.skus[0], "quantity": 2 }] });
    app.post_with_key("/v1/checkouts", &w.buyer_token, "order-42", changed)
        .await
        .assert_problem(422, "idempotency_key_reused");
    // Errors are stored too: a refused request replays its refusal.
    let too_many = json!({ "lines": [{ "sku_id": w.skus[0], "quantity": 99 }] });
    let refused = app
        .post_with_key("/v1/checkouts", &w.buyer_token, "order-43", too_many.clone())
        .await;
    refused.assert_problem(409, "insufficient_stock");
    let replayed = app
        .post_with_key("/v1/checkouts", &w.buyer_token, "order-43", too_many)
        .await;
    assert_eq!(
        (replayed.status, replayed.raw.clone(), replayed.replayed),
        (refused.status, refused.raw, true)
    );
    // The key is the buyer's own: another buyer with the same key places its own order.
    let (_, other) = app.buyer("王五").await;
    let theirs = app.post_with_key("/v1/checkouts", &other, "order-42", body).await;
    assert!(!theirs.replayed);
    assert_ne!(
        theirs.assert_status(201)["orders"][0]["id"],
        first.body["orders"][0]["id"]
    );
    assert_eq!(app.level(&w.merchant, w.skus[0], w.warehouses[0]).await, (3, 2, 0));
    app.shutdown().await;
}

async fn concurrent_requests_with_one_key_execute_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = app.world().await;
    let body = json!({ "lines": [{ "sku_id": w.skus[1], "quantity": 1 }] });
    let attempts = (0..16).map(|_| app.post_with_key("/v1/checkouts", &w.buyer_token, "same-key", body.clone()));
    let answers = futures::future::join_all(attempts).await;
    let ids: std::collections::BTreeSet<_> = answers
        .iter()
        .map(|a| a.assert_status(201)["orders"][0]["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 1, "one order for one key");
    assert_eq!(
        answers.iter().filter(|a| !a.replayed).count(),
        1,
        "executed once, replayed to the rest"
    );
    let (available, reserved, _) = app.level(&w.merchant, w.skus[1], w.warehouses[0]).await;
    assert_eq!((available, reserved), (4, 1));
    app.shutdown().await;
}

async fn stock_is_never_oversold_under_concurrent_checkouts(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = app.world().await;
    let mut buyers = Vec::new();
    for i in 0..8 {
        buyers.push(app.buyer(&format!("买家{i}")).await.1);
    }
    // 8 units in all (5 + 3) and 40 concurrent taps for one each.
    let line = [(w.skus[0], 1)];
    let taps = (0..40).map(|i| app.checkout(&buyers[i % buyers.len()], &line));
    let answers = futures::future::join_all(taps).await;
    let placed = answers.iter().filter(|a| a.status == 201).count();
    assert_eq!(placed, 8);
    for refused in answers.iter().filter(|a| a.status != 201) {
        refused.assert_problem(409, "insufficient_stock");
    }
    let first = app.level(&w.merchant, w.skus[0], w.warehouses[0]).await;
    let second = app.level(&w.merchant, w.skus[0], w.warehouses[1]).await;
    assert_eq!((first, second), ((0, 5, 0), (0, 3, 0)));
    app.shutdown().await;
}

/// After a commit fails with an unknown outcome, the shard fences its writer before reloading:
/// on PostgreSQL the server process behind it is ended, so a late COMMIT cannot land after the
/// reload. SQLite's outcome is always known, so there is nothing to fence.
async fn a_fenced_writer_can_no_longer_commit(backend: Backend) {
    let (database, _dir) = common::fresh_database(backend).await;
    let store = miaodan_store::Store::open(&database, miaodan_store::Durability::PowerLossSafe)
        .await
        .unwrap();
    let mut writer = store.writer(0).await.unwrap();
    let record = stored_response;
    writer
        .commit_batch(
            &[],
            &[record(1)],
            miaodan_domain::Timestamp::from_unix_ms(1_700_000_000_000),
        )
        .await
        .unwrap();
    let fence = writer.fence();
    assert_eq!(fence.is_some(), backend == Backend::Postgres);
    store.fence(fence).await.unwrap();
    let after = writer
        .commit_batch(
            &[],
            &[record(2)],
            miaodan_domain::Timestamp::from_unix_ms(1_700_000_000_000),
        )
        .await;
    assert_eq!(after.is_err(), backend == Backend::Postgres, "{after:?}");
    assert!(
        store.idempotency_record(1).await.unwrap().is_some(),
        "what committed before the fence stays"
    );
}

/// A stored response to commit, alone in a batch.
fn stored_response(id: i64) -> miaodan_store::records::IdempotencyRecord {
    miaodan_store::records::IdempotencyRecord {
        id,
        scope: "admin".into(),
        key: format!("k{id}"),
        request_sha256: "x".into(),
        status: 200,
        body: "{}".into(),
        created_at: miaodan_domain::Timestamp::from_unix_ms(0),
    }
}

/// A fence ends the failed writer's own server process, and no other: once the database server
/// restarted, that process is gone and its PID may be another's (a shard's new writer, another
/// application's connection). Such a fence returns at once and leaves the other alone; before,
/// it ended whatever had the PID, or, unable to end one of another role, kept its shard from
/// ever recovering.
async fn a_fence_leaves_alone_a_process_that_took_the_failed_writers_pid(backend: Backend) {
    let (database, _dir) = common::fresh_database(backend).await;
    let store = miaodan_store::Store::open(&database, miaodan_store::Durability::PowerLossSafe)
        .await
        .unwrap();
    let mut other = store.writer(0).await.unwrap();
    let Some(theirs) = other.fence() else {
        assert_eq!(backend, Backend::Sqlite, "a PostgreSQL writer can be fenced");
        return;
    };
    // The failed writer ran with the same PID, earlier, on the server before its restart.
    let failed = miaodan_store::Fence {
        backend_started_us: theirs.backend_started_us - 60_000_000,
        ..theirs
    };
    let started = std::time::Instant::now();
    store.fence(Some(failed)).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a fence of a process already gone returns at once, not after {:?}",
        started.elapsed()
    );
    other
        .commit_batch(
            &[],
            &[stored_response(1)],
            miaodan_domain::Timestamp::from_unix_ms(1_700_000_000_000),
        )
        .await
        .expect("the connection that has the PID now still commits");
}

/// A process killed mid-commit leaves its PostgreSQL server processes behind, and a COMMIT they
/// already received may land after the next serving process read the ids in use: that process
/// would then give an id a row already has. Opening to serve ends them first; a command-line
/// tool's connection (opened with `Store::open`) is left alone.
async fn a_serving_process_ends_what_a_previous_one_left_before_reading(backend: Backend) {
    use miaodan_store::{Durability, Store};
    let (database, _dir) = common::fresh_database(backend).await;
    let killed = Store::open_to_serve(&database, Durability::PowerLossSafe)
        .await
        .unwrap();
    let mut left_behind = killed.writer(0).await.unwrap();
    let tool = Store::open(&database, Durability::PowerLossSafe).await.unwrap();
    let record = |id: i64| miaodan_store::records::IdempotencyRecord {
        id,
        scope: "admin".into(),
        key: format!("k{id}"),
        request_sha256: "x".into(),
        status: 200,
        body: "{}".into(),
        created_at: miaodan_domain::Timestamp::from_unix_ms(0),
    };
    let at = miaodan_domain::Timestamp::from_unix_ms(1_700_000_000_000);
    left_behind.commit_batch(&[], &[record(1)], at).await.unwrap();

    let next = Store::open_to_serve(&database, Durability::PowerLossSafe)
        .await
        .unwrap();
    let late = left_behind.commit_batch(&[], &[record(2)], at).await;
    assert_eq!(late.is_err(), backend == Backend::Postgres, "{late:?}");
    assert!(next.idempotency_record(1).await.unwrap().is_some());
    assert!(
        tool.idempotency_record(1).await.unwrap().is_some(),
        "a tool's connection is not a serving process's"
    );
    // The new serving process's own connections are not ended by its own start.
    let mut writer = next.writer(0).await.unwrap();
    writer.commit_batch(&[], &[record(3)], at).await.unwrap();
}

/// Checkouts remember which shop owns each SKU; a SKU a checkout did not find must not be
/// remembered as missing: once the merchant creates it, it sells.
async fn a_sku_unknown_to_one_checkout_is_sold_once_it_exists(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = app.world().await;
    // Both SKUs known now, so the next checkout is answered from memory.
    app.checkout(&w.buyer_token, &[(w.skus[0], 1), (w.skus[1], 1)])
        .await
        .assert_status(201);
    let next = w.skus.iter().max().unwrap() + 1;
    app.checkout(&w.buyer_token, &[(w.skus[0], 1), (next, 1)])
        .await
        .assert_problem(404, "unknown_sku");
    let created = app.product(&w.merchant, "灯影牛肉", &[3990]).await;
    assert_eq!(created, vec![next], "SKU ids are given in order");
    app.stock(&w.merchant, next, w.warehouses[0], 2).await;
    let placed = app.checkout(&w.buyer_token, &[(w.skus[0], 1), (next, 1)]).await;
    let lines = &placed.assert_status(201)["orders"][0]["lines"];
    assert_eq!(lines.as_array().unwrap().len(), 2);
    assert_eq!(app.level(&w.merchant, next, w.warehouses[0]).await, (1, 1, 0));
    app.shutdown().await;
}

/// Lets (or no longer lets) anyone connect to the platform's PostgreSQL database, from another
/// database; shutting connections out also ends the ones the platform holds.
async fn allow_connections(app: &TestApp, allowed: bool) {
    let admin = std::env::var("MIAODAN_TEST_POSTGRES_URL").unwrap();
    let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let database = app.config.database.rsplit('/').next().unwrap().to_string();
    client
        .execute(
            &format!("ALTER DATABASE \"{database}\" ALLOW_CONNECTIONS {allowed}"),
            &[],
        )
        .await
        .unwrap();
    if !allowed {
        client
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                &[&database],
            )
            .await
            .unwrap();
    }
}

/// A shard whose commit failed and whose database then refuses every connection refuses new
/// requests at once, 503 problem+json with `Retry-After`, instead of queueing them until the
/// database is back; once it is, the shard rebuilds and takes them again, and nothing refused
/// meanwhile placed an order. (Flash-sale taps reach their shard without reading a table.)
async fn a_shard_whose_database_does_not_answer_refuses_requests_at_once_until_it_rebuilt() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let (buyer, sale) = common::flash_sale_with_a_buyer(&app).await;
    allow_connections(&app, false).await;
    let mut taps = 0;
    let refused = common::eventually(Duration::from_secs(30), "a tap refused for the outage", || {
        taps += 1;
        let (app, buyer, key) = (&app, &buyer, format!("outage-{taps}"));
        async move {
            // With its address, a tap reads no table before its shard.
            let address = json!({ "address": { "adcode": "310101000000", "detail": "南京东路1号" } });
            let taps = app.http.post(app.url(&format!("/v1/flash-sales/{sale}/taps")));
            let tapped = app.send(taps.bearer_auth(buyer).header("Idempotency-Key", key).json(&address));
            // A bound on a hang, not a measure of speed: a queued tap would wait for the
            // database, which does not come back while the test waits.
            let answer = tokio::time::timeout(Duration::from_secs(20), tapped)
                .await
                .expect("a tap during the outage is answered, not queued");
            let detail = answer.body["detail"].as_str().unwrap_or_default().to_string();
            detail.contains("rebuilding its state").then_some(answer)
        }
    })
    .await;
    refused.assert_problem(503, "unavailable");
    // Refused, not queued: nothing waits in any shard's inbox.
    for shard in 0..app.state().shards.count() as usize {
        assert_eq!(app.state().shards.queued(shard), 0, "shard {shard}");
    }

    allow_connections(&app, true).await;
    // The buyer may buy one unit: taken after the outage, so none of the taps refused during it
    // placed an order.
    let placed = common::eventually(Duration::from_secs(30), "a tap taken after the outage", || {
        let (app, buyer) = (&app, &buyer);
        async move {
            let answer = common::tap(app, buyer, sale, "after-the-outage").await;
            (answer.status() == 201).then_some(())
        }
    });
    placed.await;
    app.shutdown().await;
}
