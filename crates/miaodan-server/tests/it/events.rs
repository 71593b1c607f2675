//! The outbox's feed over HTTP on both backends: a paid order's life as events in commit
//! order, filtered by family or topic, paged and resumed without loss, each shop seeing only
//! its own; bad input refused.

use super::common;
use common::{Backend, TestApp};
use serde_json::Value;

both_backends!(
    a_paid_order_shows_as_placed_paid_and_dispatched_events_in_commit_order,
    the_feed_pages_and_resumes_without_losing_or_repeating_an_event,
    each_merchant_sees_only_their_shops_events_and_bad_input_is_refused,
);

async fn feed(app: &TestApp, token: &str, query: &str) -> Value {
    app.get(&format!("/v1/events{query}"), token)
        .await
        .assert_status(200)
        .clone()
}

fn topics(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["topic"].as_str().unwrap().to_string())
        .collect()
}

async fn a_paid_order_shows_as_placed_paid_and_dispatched_events_in_commit_order(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let world = app.world().await;
    let checkout = app.checkout(&world.buyer_token, &[(world.skus[1], 2)]).await;
    let body = checkout.assert_status(201).clone();
    let order = body["orders"][0]["id"].as_i64().unwrap();
    app.pay_checkout(&world.buyer_token, body["checkout_id"].as_i64().unwrap())
        .await;

    let orders = feed(&app, &world.merchant, "?topic=order&limit=200").await;
    let of_this: Vec<&Value> = orders["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["subject_id"] == order)
        .collect();
    let names: Vec<&str> = of_this.iter().map(|e| e["topic"].as_str().unwrap()).collect();
    assert_eq!(names, ["order.placed", "order.paid", "order.dispatched"]);
    let placed = &of_this[0]["data"];
    assert_eq!(placed["total"], body["orders"][0]["total_fen"]);
    assert_eq!(placed["lines"][0]["sku"], world.skus[1]);
    assert_eq!(placed["lines"][0]["quantity"], 2);
    assert_eq!(placed["state"], "pending_payment");
    assert_eq!(of_this[1]["data"]["state"], "paid");
    assert!(of_this.windows(2).all(|w| w[0]["seq"].as_i64() < w[1]["seq"].as_i64()));
    assert!(of_this.iter().all(|e| e["shop_id"] == world.shop));

    let paid_only = feed(&app, &world.merchant, "?topic=order.paid").await;
    assert_eq!(topics(&paid_only), ["order.paid"]);
    let captured = feed(&app, &world.merchant, "?topic=payment.captured").await;
    assert_eq!(captured["items"][0]["data"]["amount"], body["total_fen"]);
}

async fn the_feed_pages_and_resumes_without_losing_or_repeating_an_event(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let world = app.world().await;
    let everything = feed(&app, &world.merchant, "?limit=200").await;
    let all = topics(&everything);
    assert!(all.len() >= 5, "a shop, warehouses, a product, SKUs, stock: {all:?}");
    assert!(everything["next_cursor"].is_null());

    // Two at a time, the same events in the same order.
    let mut walked = Vec::new();
    let mut query = "?limit=2".to_string();
    loop {
        let page = feed(&app, &world.merchant, &query).await;
        walked.extend(topics(&page));
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(walked, all);

    // Resuming after the last event gives nothing, then exactly what was committed since.
    let last = everything["items"].as_array().unwrap().last().unwrap();
    let resume = last["cursor"].as_str().unwrap().to_string();
    assert!(topics(&feed(&app, &world.merchant, &format!("?cursor={resume}")).await).is_empty());
    let checkout = app.checkout(&world.buyer_token, &[(world.skus[0], 1)]).await;
    checkout.assert_status(201);
    let since = feed(&app, &world.merchant, &format!("?cursor={resume}")).await;
    let since = topics(&since);
    assert!(since.contains(&"order.placed".to_string()), "{since:?}");
    assert!(since.contains(&"stock.changed".to_string()), "{since:?}");
    assert!(!since.contains(&"shop.saved".to_string()), "{since:?}");
}

async fn each_merchant_sees_only_their_shops_events_and_bad_input_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let world = app.world().await;
    let (other_shop, other_merchant) = app.shop("别家小店").await;

    let theirs = feed(&app, &other_merchant, "?limit=200").await;
    let items = theirs["items"].as_array().unwrap();
    assert!(items.iter().all(|e| e["shop_id"] == other_shop), "{theirs}");
    assert_eq!(topics(&theirs), ["shop.saved"]);
    app.get(&format!("/v1/events?shop_id={}", world.shop), &other_merchant)
        .await
        .assert_problem(404, "not_found");

    // An operator sees every shop, or one.
    let all = feed(&app, &app.admin, "?topic=shop.saved&limit=200").await;
    let shops: Vec<i64> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["shop_id"].as_i64().unwrap())
        .collect();
    assert!(shops.contains(&world.shop) && shops.contains(&other_shop), "{shops:?}");
    let one = feed(&app, &app.admin, &format!("?shop_id={other_shop}&limit=200")).await;
    assert_eq!(topics(&one), ["shop.saved"]);

    app.get("/v1/events", &world.buyer_token)
        .await
        .assert_problem(403, "forbidden");
    app.get("/v1/events?topic=order.teleported", &world.merchant)
        .await
        .assert_problem(422, "invalid_field");
    app.get("/v1/events?colour=red", &world.merchant)
        .await
        .assert_problem(400, "invalid_query");
    app.get("/v1/events?cursor=zz", &world.merchant)
        .await
        .assert_problem(400, "invalid_cursor");
    let wrong_list = hex::encode(serde_json::to_vec(&("orders", [(0, 1)])).unwrap());
    app.get(&format!("/v1/events?cursor={wrong_list}"), &world.merchant)
        .await
        .assert_problem(400, "invalid_cursor");
}
