//! The compass over HTTP on both backends: orders, payments and cancellations folded from the
//! outbox into a shop's figures, equal to what the orders say; each merchant sees only their
//! shop; bad ranges refused.

use super::common;
use common::{Backend, TestApp, eventually};
use miaodan_server::clock::rfc3339;
use serde_json::{Value, json};
use std::time::Duration;

both_backends!(
    the_compass_counts_what_the_orders_say,
    each_merchant_sees_only_their_shop_and_bad_ranges_are_refused,
);

/// Today ± a day, by the hour, as `token` sees it (`extra` adds parameters).
async fn series(app: &TestApp, token: &str, extra: &str) -> Value {
    let now = app.config.clock.now();
    let (from, to) = (rfc3339(now.plus_seconds(-86_400)), rfc3339(now.plus_seconds(86_400)));
    app.get(
        &format!("/v1/compass/series?from={from}&to={to}&granularity=hour{extra}"),
        token,
    )
    .await
    .assert_status(200)
    .clone()
}

async fn the_compass_counts_what_the_orders_say(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let world = app.world().await;
    let paid = app.checkout(&world.buyer_token, &[(world.skus[1], 2)]).await;
    let paid = paid.assert_status(201).clone();
    app.pay_checkout(&world.buyer_token, paid["checkout_id"].as_i64().unwrap())
        .await;
    let unpaid = app.checkout(&world.buyer_token, &[(world.skus[0], 3)]).await;
    let unpaid = unpaid.assert_status(201).clone();
    let unpaid_order = unpaid["orders"][0]["id"].as_i64().unwrap();
    app.post(
        &format!("/v1/orders/{unpaid_order}/cancel"),
        &world.buyer_token,
        json!({}),
    )
    .await
    .assert_status(200);

    let totals = eventually(Duration::from_secs(20), "the compass to catch up", || async {
        let s = series(&app, &world.merchant, "").await;
        (s["totals"]["cancelled_orders"] == 1).then_some(s["totals"].clone())
    })
    .await;
    let paid_total = paid["total_fen"].as_i64().unwrap();
    let unpaid_total = unpaid["total_fen"].as_i64().unwrap();
    assert_eq!(totals["orders"], 2);
    assert_eq!(totals["units"], 5);
    assert_eq!(totals["gmv_fen"], paid_total + unpaid_total);
    assert_eq!(totals["paid_orders"], 1);
    assert_eq!(totals["paid_fen"], paid_total);
    assert_eq!(totals["paid_conversion_bps"], 5_000);
    assert_eq!(totals["average_order_fen"], paid_total);
    assert_eq!(totals["expired_orders"], 0);

    // The same from the orders themselves: the compass never double counts.
    let orders = app.get("/v1/orders?limit=200", &world.merchant).await;
    let orders = orders.assert_status(200)["items"].as_array().unwrap().clone();
    let gmv: i64 = orders.iter().map(|o| o["total_fen"].as_i64().unwrap()).sum();
    assert_eq!(totals["gmv_fen"], gmv);
    let now = app.config.clock.now();
    let by_day = format!(
        "/v1/compass/series?from={}&to={}&granularity=day",
        rfc3339(now.plus_seconds(-86_400)),
        rfc3339(now.plus_seconds(86_400))
    );
    let by_day = app.get(&by_day, &world.merchant).await;
    assert_eq!(by_day.assert_status(200)["totals"], totals);
}

async fn each_merchant_sees_only_their_shop_and_bad_ranges_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let world = app.world().await;
    let (other_shop, other_merchant) = app.shop("别家小店").await;
    let checkout = app.checkout(&world.buyer_token, &[(world.skus[1], 1)]).await;
    checkout.assert_status(201);
    eventually(Duration::from_secs(20), "the compass to count the order", || async {
        (series(&app, &app.admin, "").await["totals"]["orders"] == 1).then_some(())
    })
    .await;
    assert_eq!(series(&app, &other_merchant, "").await["totals"]["orders"], 0);
    assert!(
        series(&app, &other_merchant, "").await["buckets"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        series(&app, &app.admin, &format!("&shop_id={}", world.shop)).await["totals"]["orders"],
        1
    );
    assert_eq!(
        series(&app, &app.admin, &format!("&shop_id={other_shop}")).await["totals"]["orders"],
        0
    );

    let now = app.config.clock.now();
    let (from, to) = (rfc3339(now), rfc3339(now.plus_seconds(3 * 86_400)));
    let refused = [
        (format!("from={from}&to={to}&granularity=week"), 422, "invalid_field"),
        (format!("from={to}&to={from}&granularity=hour"), 422, "invalid_field"),
        (format!("from={from}&to={to}&granularity=minute"), 422, "invalid_field"),
        (format!("from=yesterday&to={to}&granularity=hour"), 422, "invalid_field"),
        (format!("to={to}&granularity=hour"), 400, "missing_field"),
        (
            format!("from={from}&to={to}&granularity=hour&colour=red"),
            400,
            "invalid_query",
        ),
    ];
    for (query, status, code) in refused {
        app.get(&format!("/v1/compass/series?{query}"), &world.merchant)
            .await
            .assert_problem(status, code);
    }
    let fine = format!("from={from}&to={to}&granularity=hour");
    app.get(
        &format!("/v1/compass/series?{fine}&shop_id={other_shop}"),
        &world.merchant,
    )
    .await
    .assert_problem(404, "not_found");
    app.get(&format!("/v1/compass/series?{fine}"), &world.buyer_token)
        .await
        .assert_problem(403, "forbidden");
}
