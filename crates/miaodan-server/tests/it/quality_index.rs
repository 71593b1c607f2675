//! The merchant quality index (秒单质量指数) over HTTP on both backends: late parcels lower the
//! logistics score and the explanation names them, a spotless shop of the same category ranks
//! above, too little data is said so; a merchant reads only their own shop's index, a buyer
//! none, and only an operator ranks a category.
//!
//! One shop's month is made through the API (orders with a promise, paid, shipped, delivered on
//! time or a week late by the carrier's webhooks, refunded for quality); the others are placed
//! in the compass's aggregates as its reader would have folded them (as the diagnosis tests do),
//! at 10:00 Shanghai a week before now.

use super::common;
use common::{Backend, TestApp, eventually};
use miaodan_domain::time::shanghai::LocalDate;
use miaodan_domain::{ShopId, Timestamp};
use miaodan_server::clock::Clock;
use miaodan_store::CompassFigures;
use miaodan_store::sql::{Statement, Value as SqlValue};
use serde_json::Value;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

both_backends!(
    late_parcels_and_quality_refunds_made_through_the_api_cost_points,
    late_parcels_lower_the_logistics_score_and_the_explanation_names_them,
    a_category_ranks_its_shops_best_first_for_operators_only,
    a_merchant_reads_only_their_own_shops_index,
);

fn now() -> Timestamp {
    LocalDate::from_ymd(2026, 12, 1).unwrap().at_minute(12 * 60)
}

fn a_week_ago() -> i64 {
    LocalDate::from_ymd(2026, 11, 24).unwrap().at_minute(10 * 60).unix_ms()
}

async fn spawn(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |config| config.clock = Clock::starting_at(now())).await
}

/// A month of `paid` paid orders and `delivered` parcels, `late` of them late, in one warehouse.
async fn month(app: &TestApp, shop: i64, paid: i64, delivered: i64, late: i64) {
    let figures = CompassFigures {
        orders: paid,
        units: paid,
        gmv_fen: paid * 1_000,
        paid_orders: paid,
        paid_fen: paid * 1_000,
        ..CompassFigures::default()
    };
    let minutes = BTreeMap::from([((ShopId::new(shop).unwrap(), a_week_ago()), figures)]);
    let parcels = Statement::owned(
        "INSERT INTO compass_warehouses (shop_id, hour_ms, warehouse, dispatched, split_orders, promise_kept,
            shipped, delivered, delivered_late, alerts_raised, alerts_resolved)
         VALUES ($1, $2, 1, $3, 0, $4, $5, $6, $7, 0, 0)"
            .to_string(),
        [
            shop,
            a_week_ago(),
            delivered,
            delivered - late,
            delivered,
            delivered,
            late,
        ]
        .into_iter()
        .map(SqlValue::I64)
        .collect(),
    );
    let store = &app.state().store;
    store
        .record_compass_with(u32::MAX, 0, &minutes, vec![parcels])
        .await
        .unwrap();
}

fn dimension<'a>(index: &'a Value, code: &str) -> &'a Value {
    let dimensions = index["dimensions"].as_array().unwrap();
    dimensions.iter().find(|d| d["dimension"] == code).unwrap()
}

async fn late_parcels_lower_the_logistics_score_and_the_explanation_names_them(backend: Backend) {
    let app = spawn(backend).await;
    let (shop, merchant) = app.shop("迟到小店").await;
    month(&app, shop, 240, 240, 18).await;
    let index = app.get("/v1/quality-index?days=30", &merchant).await;
    let index = index.assert_status(200).clone();
    assert_eq!(
        (index["shop_id"].as_i64(), index["days"].as_i64()),
        (Some(shop), Some(30))
    );
    let logistics = dimension(&index, "logistics_timeliness");
    assert_eq!(logistics["status"], "scored");
    let score = logistics["score"].as_i64().unwrap();
    assert!(score < 100, "{logistics:#}");
    let loss = &logistics["losses"][0];
    assert_eq!(loss["measure"], "late_delivery_rate");
    let explanation = loss["explanation"]["en"].as_str().unwrap();
    assert!(explanation.starts_with("18 of 240 parcels late: −"), "{explanation}");
    assert!(loss["explanation"]["zh"].as_str().unwrap().contains("18 个"));
    // No request was decided by the merchant: after-sales is not scored, and the total is over
    // the other two dimensions.
    let after_sales = dimension(&index, "after_sales_service");
    assert_eq!(
        (after_sales["status"].as_str(), after_sales["score"].as_i64()),
        (Some("insufficient_data"), None)
    );
    assert_eq!(index["scored_weight"], 75);
    assert!(index["total"].as_i64().unwrap() < 100);

    // More late parcels in the same period: the score falls further.
    let worse = Statement::owned(
        "UPDATE compass_warehouses SET delivered_late = 60 WHERE shop_id = $1".to_string(),
        vec![SqlValue::I64(shop)],
    );
    app.state()
        .store
        .record_compass_with(u32::MAX, 0, &BTreeMap::new(), vec![worse])
        .await
        .unwrap();
    let again = app.get("/v1/quality-index", &merchant).await;
    let lower = dimension(again.assert_status(200), "logistics_timeliness")["score"]
        .as_i64()
        .unwrap();
    assert!(lower < score, "{lower} < {score}");
}

async fn a_category_ranks_its_shops_best_first_for_operators_only(backend: Backend) {
    let app = spawn(backend).await;
    let mut shops = Vec::new();
    for (name, late) in [("慢店", 40), ("快店", 0), ("中店", 10), ("小店", 2)] {
        let (shop, _) = app.shop(name).await;
        month(&app, shop, 300, 300, late).await;
        shops.push(shop);
    }
    let (fast, slow) = (shops[1], shops[0]);
    let first = app
        .get("/v1/quality-index/ranking?category=other&limit=2", &app.admin)
        .await;
    let first = first.assert_status(200).clone();
    assert_eq!(first["items"][0]["shop_id"], fast);
    assert_eq!(first["items"][0]["rank"], 1);
    let cursor = first["next_cursor"].as_str().unwrap();
    let rest = app
        .get(
            &format!("/v1/quality-index/ranking?category=other&limit=2&cursor={cursor}"),
            &app.admin,
        )
        .await;
    let rest = rest.assert_status(200).clone();
    assert_eq!(rest["items"][1]["shop_id"], slow);
    assert!(rest["next_cursor"].is_null());
    // The best shop is at the top of its category; percentiles need three peers, which it has.
    let best = app.get(&format!("/v1/quality-index?shop_id={fast}"), &app.admin).await;
    assert_eq!(best.assert_status(200)["category_percentile"], 100);

    let (_, merchant) = app.shop("看榜的店").await;
    app.get("/v1/quality-index/ranking?category=other", &merchant)
        .await
        .assert_problem(403, "forbidden");
    app.get("/v1/quality-index/ranking?category=nonsense", &app.admin)
        .await
        .assert_problem(422, "invalid_field");
}

async fn a_merchant_reads_only_their_own_shops_index(backend: Backend) {
    let app = spawn(backend).await;
    let (shop, merchant) = app.shop("甲店").await;
    let (other, _) = app.shop("乙店").await;
    let (_, buyer) = app.buyer("买家").await;
    let own = app.get(&format!("/v1/quality-index?shop_id={shop}"), &merchant).await;
    assert_eq!(own.assert_status(200)["total"], Value::Null);
    app.get(&format!("/v1/quality-index?shop_id={other}"), &merchant)
        .await
        .assert_problem(404, "not_found");
    app.get("/v1/quality-index", &buyer)
        .await
        .assert_problem(403, "forbidden");
    app.get("/v1/quality-index", &app.admin)
        .await
        .assert_problem(404, "not_found");
    app.get("/v1/quality-index?days=0", &merchant)
        .await
        .assert_problem(422, "invalid_field");
    app.get("/v1/quality-index?days=93", &merchant)
        .await
        .assert_problem(422, "invalid_field");
}

const DAY_MS: i64 = 86_400_000;

/// Ships a paid order from the warehouse its dispatch chose and plays its carrier journey from
/// now: delivered.
async fn ship_and_deliver(app: &TestApp, clock: &Clock, merchant: &str, order: i64, warehouses: [i64; 2]) {
    let mut waybill = None;
    for warehouse in warehouses {
        let path = format!("/v1/orders/{order}/shipments");
        let shipped = app.post(&path, merchant, json!({ "warehouse_id": warehouse })).await;
        if shipped.status == 201 {
            waybill = Some(shipped.body["waybill_no"].as_str().unwrap().to_string());
            break;
        }
    }
    let waybill = waybill.expect("one warehouse holds the order");
    let from = clock.now();
    clock.advance(60_000);
    super::fulfillment::track(&app.carrier(), &waybill, &super::fulfillment::JOURNEY, from).await;
}

async fn index_of(app: &TestApp, merchant: &str) -> Value {
    app.get("/v1/quality-index?days=30", merchant)
        .await
        .assert_status(200)
        .clone()
}

fn figure(dimension: &Value, name: &str) -> i64 {
    let figures = dimension["figures"].as_array().unwrap();
    figures.iter().find(|f| f["name"] == name).unwrap()["value"]
        .as_i64()
        .unwrap()
}

/// 32 orders paid (with the slowest delivery promise offered) and shipped through the API: 24
/// delivered at once, 8 a week later (past their promise); then 6 quality refunds the merchant
/// answers, refusing 2, one of which the platform grants on appeal. Late parcels, quality refunds
/// and the overturned refusal each cost their dimension points, and the explanations name them.
async fn late_parcels_and_quality_refunds_made_through_the_api_cost_points(backend: Backend) {
    let clock = Clock::starting_at(super::fulfillment::monday(10, 0));
    let app = TestApp::spawn_with_manual_carriers(backend, &clock).await;
    let world = app.world().await;
    let sku = world.skus[0];
    app.stock(&world.merchant, sku, world.warehouses[0], 100).await;
    app.stock(&world.merchant, sku, world.warehouses[1], 0).await;
    // The slowest option offered to the buyer (in 上海市黄浦区): its promise is the order's.
    let options = app
        .send(
            app.http
                .get(app.url("/v1/delivery-options"))
                .query(&[("adcode", "310101000000"), ("items", &format!("{sku}:1"))]),
        )
        .await;
    let slowest = options.assert_status(200)["shops"][0]["options"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    let choice = json!([{ "shop_id": world.shop, "level": slowest["level"], "carrier": slowest["carrier"] }]);
    let mut orders = Vec::new();
    for _ in 0..32 {
        let lines = json!([{ "sku_id": sku, "quantity": 1 }]);
        let body = json!({ "lines": lines, "deliveries": choice });
        let checkout = app.post("/v1/checkouts", &world.buyer_token, body).await;
        let body = checkout.assert_status(201).clone();
        app.pay_checkout(&world.buyer_token, body["checkout_id"].as_i64().unwrap())
            .await;
        orders.push(body["orders"][0]["id"].as_i64().unwrap());
    }
    for order in &orders[..24] {
        ship_and_deliver(&app, &clock, &world.merchant, *order, world.warehouses).await;
    }
    clock.advance(7 * DAY_MS);
    for order in &orders[24..] {
        ship_and_deliver(&app, &clock, &world.merchant, *order, world.warehouses).await;
    }
    let before = eventually(
        Duration::from_secs(20),
        "the compass to fold the deliveries",
        || async {
            let index = index_of(&app, &world.merchant).await;
            let logistics = dimension(&index, "logistics_timeliness");
            let folded = logistics["status"] == "scored" && figure(logistics, "parcels_delivered") == 32;
            folded.then_some(index)
        },
    )
    .await;
    let logistics = dimension(&before, "logistics_timeliness");
    assert_eq!(figure(logistics, "parcels_late"), 8, "{logistics:#}");
    assert_eq!(logistics["losses"][0]["measure"], "late_delivery_rate");
    let said = logistics["losses"][0]["explanation"]["en"].as_str().unwrap();
    assert!(said.starts_with("8 of 32 parcels late: −"), "{said}");
    let product = dimension(&before, "product_quality");
    assert_eq!(
        (product["score"].as_i64(), figure(product, "paid_orders")),
        (Some(100), 32)
    );

    // Six quality refunds, each waiting for the merchant, who answers three hours later:
    // approves four, refuses two; the buyer appeals both and the platform grants one.
    let mut requests = Vec::new();
    for order in &orders[..6] {
        let ask = super::after_sales::refund_only(*order, sku, 1);
        let opened = app.post("/v1/after-sales", &world.buyer_token, ask).await;
        assert_eq!(opened.assert_status(201)["stage"], "with_merchant");
        requests.push(opened.id());
    }
    clock.advance(3 * 3_600_000);
    for (i, id) in requests.iter().enumerate() {
        let step = if i < 4 { "approve" } else { "refuse" };
        let path = format!("/v1/after-sales/{id}/{step}");
        app.post(&path, &world.merchant, json!({})).await.assert_status(200);
    }
    for (id, decision) in [(requests[4], "approve"), (requests[5], "refuse")] {
        let appeal = format!("/v1/after-sales/{id}/appeal");
        app.post(&appeal, &world.buyer_token, json!({}))
            .await
            .assert_status(200);
        let decide = format!("/v1/after-sales/{id}/decide");
        app.post(&decide, &app.admin, json!({ "decision": decision }))
            .await
            .assert_status(200);
    }
    let after = index_of(&app, &world.merchant).await;
    let product = dimension(&after, "product_quality");
    assert_eq!(figure(product, "quality_returns"), 5, "{product:#}");
    assert_eq!(product["score"], 30);
    assert_eq!(product["losses"][0]["measure"], "quality_return_rate");
    let said = product["losses"][0]["explanation"]["en"].as_str().unwrap();
    assert_eq!(said, "5 of 32 paid orders refunded or returned for quality: −70 points");
    let service = dimension(&after, "after_sales_service");
    assert_eq!(service["status"], "scored", "{service:#}");
    let counts = ["merchant_decisions", "merchant_refusals", "refusals_overturned"].map(|f| figure(service, f));
    assert_eq!(counts, [6, 2, 1]);
    assert_eq!(
        service["measures"][0]["value"], 180,
        "three hours to answer, in minutes"
    );
    assert_eq!(service["losses"][0]["measure"], "overturned_refusal_share");
    let said = service["losses"][0]["explanation"]["en"].as_str().unwrap();
    assert_eq!(said, "1 of 2 refusals overturned by the platform on appeal: −40 points");
    assert_eq!(after["scored_weight"], 100);
    assert!(after["total"].as_i64().unwrap() < before["total"].as_i64().unwrap());
}
