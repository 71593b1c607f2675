//! The compass's breadth over HTTP on both backends: after a constructed run (orders placed,
//! paid, shipped and delivered, one cancelled after payment and refunded through after-sales,
//! one left unpaid, buyers in two cities), its regions, SKUs, warehouses and after-sales
//! figures equal what the orders, shipments and refunds say, to the fen; regions carry names and
//! points; each merchant sees only their shop and a buyer nothing; bad input is refused; and the
//! figures are rebuilt, equal, from the outbox after `reset_compass` (`miaodan compass rebuild`).

use super::common;
use common::{Backend, TestApp, World, eventually};
use miaodan_server::clock::{Clock, rfc3339};
use serde_json::{Value, json};
use std::time::Duration;

both_backends!(
    the_breadth_counts_what_the_orders_shipments_and_refunds_say_and_is_rebuilt_from_the_outbox,
    each_merchant_sees_only_their_shop_and_bad_input_is_refused,
);

const BREADTH: [&str; 4] = ["regions?level=city", "skus?sort=gmv", "fulfillment?", "after-sales?"];

/// Today ± a day, as `token` sees `what` (`regions?level=city`, …).
async fn breadth(app: &TestApp, token: &str, what: &str) -> Value {
    let now = app.config.clock.now();
    let (from, to) = (rfc3339(now.plus_seconds(-86_400)), rfc3339(now.plus_seconds(86_400)));
    let separator = if what.ends_with('?') { "" } else { "&" };
    app.get(&format!("/v1/compass/{what}{separator}from={from}&to={to}"), token)
        .await
        .assert_status(200)
        .clone()
}

fn sum(items: &Value, field: &str) -> i64 {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i[field].as_i64().unwrap())
        .sum()
}

/// The figures of an answer, without the range it was asked for (which moves with the clock).
fn figures_of(mut answer: Value) -> Value {
    let fields = answer.as_object_mut().unwrap();
    fields.remove("from");
    fields.remove("to");
    answer
}

/// A buyer whose default address is in 深圳市南山区.
async fn buyer_in_shenzhen(app: &TestApp) -> String {
    let address = json!({ "adcode": "440305000000", "detail": "科技园1号" });
    let buyer = app
        .post(
            "/v1/buyers",
            &app.admin,
            json!({ "name": "李四", "default_address": address }),
        )
        .await;
    let id = buyer.assert_status(201)["id"].as_i64().unwrap();
    let token = app
        .post(&format!("/v1/buyers/{id}/tokens"), &app.admin, json!({}))
        .await;
    token.assert_status(201)["token"].as_str().unwrap().to_string()
}

/// The run: a delivered order (上海), a paid order cancelled and refunded (深圳), an unpaid one
/// (上海). Answers the cancelled order.
async fn constructed_run(app: &TestApp, world: &World, clock: &Clock) -> i64 {
    super::after_sales::delivered_order_of(app, world, clock, world.skus[1], 2).await;
    let shenzhen = buyer_in_shenzhen(app).await;
    let checkout = app.checkout(&shenzhen, &[(world.skus[0], 1), (world.skus[1], 1)]).await;
    let checkout = checkout.assert_status(201).clone();
    app.pay_checkout(&shenzhen, checkout["checkout_id"].as_i64().unwrap())
        .await;
    let cancelled = checkout["orders"][0]["id"].as_i64().unwrap();
    let cancel = json!({ "order_id": cancelled, "kind": "cancel", "reason": "changed_mind" });
    let opened = app.post("/v1/after-sales", &shenzhen, cancel).await;
    let id = opened.assert_status(201)["id"].as_i64().unwrap();
    super::after_sales::until_stage(app, &shenzhen, id, "refunded").await;
    app.checkout(&world.buyer_token, &[(world.skus[0], 3)])
        .await
        .assert_status(201);
    cancelled
}

async fn the_breadth_counts_what_the_orders_shipments_and_refunds_say_and_is_rebuilt_from_the_outbox(backend: Backend) {
    let clock = Clock::system();
    let mut app = TestApp::spawn_with_manual_carriers(backend, &clock).await;
    let world = app.world().await;
    let cancelled = constructed_run(&app, &world, &clock).await;
    let after_sales = eventually(Duration::from_secs(20), "the compass to fold the run", || async {
        let a = breadth(&app, &world.merchant, "after-sales?").await;
        let regions = breadth(&app, &world.merchant, "regions?level=city").await;
        let refunded = a["totals"]["refunded"] == 1 && a["orders"] == 3;
        (refunded && sum(&regions["regions"], "orders") == 3).then_some(a)
    })
    .await;

    // What the orders say.
    let orders = app.get("/v1/orders?limit=200", &world.merchant).await;
    let orders = orders.assert_status(200)["items"].as_array().unwrap().clone();
    let total = |o: &Value| o["total_fen"].as_i64().unwrap();
    let gmv: i64 = orders.iter().map(total).sum();
    let paid: Vec<&Value> = orders.iter().filter(|o| o["paid_at"].is_string()).collect();
    let paid_fen: i64 = paid.iter().map(|o| total(o)).sum();
    assert_eq!((orders.len(), paid.len()), (3, 2));

    let regions = breadth(&app, &world.merchant, "regions?level=city").await["regions"].clone();
    assert_eq!(sum(&regions, "gmv_fen"), gmv);
    assert_eq!(sum(&regions, "paid_fen"), paid_fen);
    assert_eq!(sum(&regions, "paid_orders"), 2);
    assert_eq!(sum(&regions, "units"), 2 + 2 + 3);
    let names: Vec<&str> = regions
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"上海市") && names.contains(&"深圳市"), "{regions}");
    let shenzhen = regions
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "深圳市")
        .unwrap();
    assert_eq!(shenzhen["adcode"], "440300000000");
    assert_eq!(
        (shenzhen["orders"].as_i64(), shenzhen["paid_conversion_bps"].as_i64()),
        (Some(1), Some(10_000))
    );
    let (lat, lng) = (shenzhen["lat"].as_f64().unwrap(), shenzhen["lng"].as_f64().unwrap());
    assert!(
        (22.0..23.0).contains(&lat) && (113.0..115.0).contains(&lng),
        "{shenzhen}"
    );
    let provinces = breadth(&app, &world.merchant, "regions?level=province").await["regions"].clone();
    let province_names: Vec<&str> = provinces
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(province_names.len(), 2);
    assert!(province_names.contains(&"广东省"), "{provinces}");
    assert_eq!(sum(&provinces, "gmv_fen"), gmv);

    let skus = breadth(&app, &world.merchant, "skus?sort=units&top=10").await["skus"].clone();
    assert_eq!(sum(&skus, "gmv_fen"), gmv, "every order's total is its lines'");
    assert_eq!(sum(&skus, "units"), 7);
    assert_eq!(sum(&skus, "paid_units"), 4);
    let first = &skus[0];
    assert_eq!(
        (first["sku_id"].as_i64(), first["units"].as_i64()),
        (Some(world.skus[0]), Some(4))
    );
    assert_eq!(first["title"], "麻辣牛肉干");
    let refunds = super::after_sales::refunds_of(&app, cancelled).await;
    let refunded_fen: i64 = refunds.iter().map(|r| r["amount_fen"].as_i64().unwrap()).sum();
    assert_eq!(sum(&skus, "refunded_fen"), refunded_fen);
    assert_eq!(sum(&skus, "refunds"), 1);

    let totals = &after_sales["totals"];
    assert_eq!(
        (totals["requested"].as_i64(), totals["approved"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(totals["refunded_fen"], refunded_fen);
    assert_eq!(after_sales["by_kind_and_reason"][0]["kind"], "cancel");
    assert_eq!(after_sales["by_kind_and_reason"][0]["reason"], "changed_mind");
    assert_eq!(after_sales["requests_per_order_bps"], 10_000 / 3);

    // Both paid orders were dispatched; one parcel was shipped and delivered.
    let warehouses = eventually(Duration::from_secs(20), "the delivery folded", || async {
        let f = breadth(&app, &world.merchant, "fulfillment?").await;
        (sum(&f["warehouses"], "delivered") == 1).then_some(f["warehouses"].clone())
    })
    .await;
    assert_eq!(sum(&warehouses, "dispatched"), 2);
    assert_eq!(sum(&warehouses, "shipped"), 1);
    for w in warehouses.as_array().unwrap() {
        assert!(world.warehouses.contains(&w["warehouse_id"].as_i64().unwrap()), "{w}");
    }

    // Lost aggregates are rebuilt from the outbox: the same figures after a reset.
    let mut before = Vec::new();
    for what in BREADTH {
        before.push(figures_of(breadth(&app, &world.merchant, what).await));
    }
    app.restart_after(|database| async move {
        let store = miaodan_store::Store::open(&database, miaodan_store::Durability::PowerLossSafe)
            .await
            .unwrap();
        store.reset_compass().await.unwrap();
        let (from, to) = (
            miaodan_domain::Timestamp::from_unix_ms(0),
            miaodan_domain::Timestamp::from_unix_ms(i64::MAX),
        );
        let level = miaodan_store::RegionLevel::City;
        assert!(store.compass_regions(None, from, to, level).await.unwrap().is_empty());
        assert!(
            store
                .outbox_cursor(miaodan_store::COMPASS_READER)
                .await
                .unwrap()
                .is_empty()
        );
    })
    .await;
    eventually(Duration::from_secs(20), "the compass to refold the outbox", || async {
        let mut after = Vec::new();
        for what in BREADTH {
            after.push(figures_of(breadth(&app, &world.merchant, what).await));
        }
        (after == before).then_some(())
    })
    .await;
}

async fn each_merchant_sees_only_their_shop_and_bad_input_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let world = app.world().await;
    let (other_shop, other_merchant) = app.shop("别家小店").await;
    app.checkout(&world.buyer_token, &[(world.skus[1], 1)])
        .await
        .assert_status(201);
    eventually(Duration::from_secs(20), "the compass to count the order", || async {
        let regions = breadth(&app, &app.admin, "regions?level=province").await;
        (sum(&regions["regions"], "orders") == 1).then_some(())
    })
    .await;
    for what in ["regions?level=province", "skus?top=5"] {
        let list = what.split('?').next().unwrap();
        let mine = breadth(&app, &world.merchant, what).await;
        assert_eq!(mine[list].as_array().unwrap().len(), 1, "{mine}");
        let theirs = breadth(&app, &other_merchant, what).await;
        assert!(theirs[list].as_array().unwrap().is_empty(), "{theirs}");
        let one = breadth(&app, &app.admin, &format!("{what}&shop_id={}", world.shop)).await;
        assert_eq!(one[list], mine[list]);
        let other = breadth(&app, &app.admin, &format!("{what}&shop_id={other_shop}")).await;
        assert!(other[list].as_array().unwrap().is_empty());
    }
    let theirs = breadth(&app, &other_merchant, "after-sales?").await;
    assert_eq!(theirs["orders"], 0);

    let now = app.config.clock.now();
    let (from, to) = (rfc3339(now), rfc3339(now.plus_seconds(3_600)));
    let too_far = rfc3339(now.plus_seconds(367 * 86_400));
    let refused = [
        (
            format!("regions?from={from}&to={to}&level=country"),
            422,
            "invalid_field",
        ),
        (format!("skus?from={from}&to={to}&top=0"), 422, "invalid_field"),
        (format!("skus?from={from}&to={to}&top=101"), 422, "invalid_field"),
        (format!("skus?from={from}&to={to}&sort=price"), 422, "invalid_field"),
        (format!("fulfillment?from={from}&to={too_far}"), 422, "invalid_field"),
        (
            format!("fulfillment?from={from}&to={to}&warehouse_id=0"),
            422,
            "invalid_field",
        ),
        (format!("after-sales?from={to}&to={from}"), 422, "invalid_field"),
        (format!("after-sales?from=yesterday&to={to}"), 422, "invalid_field"),
        (format!("regions?to={to}"), 400, "missing_field"),
        (format!("skus?from={from}&to={to}&colour=red"), 400, "invalid_query"),
    ];
    for (query, status, code) in refused {
        app.get(&format!("/v1/compass/{query}"), &world.merchant)
            .await
            .assert_problem(status, code);
    }
    for what in ["regions", "skus", "fulfillment", "after-sales"] {
        let path = format!("/v1/compass/{what}?from={from}&to={to}");
        app.get(&format!("{path}&shop_id={other_shop}"), &world.merchant)
            .await
            .assert_problem(404, "not_found");
        app.get(&path, &world.buyer_token)
            .await
            .assert_problem(403, "forbidden");
    }
}
