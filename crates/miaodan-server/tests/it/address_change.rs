//! A change of delivery address (改址) over HTTP on both backends: before any waybill the order
//! is dispatched again for the new address in the same commit (stock and capacity moved, the
//! dispatch explanation and the order's view updated, the old address kept on the request);
//! with a waybill the carrier takes the new address; after the carrier's pickup scan, for
//! another buyer, for a cancelled order, for bad input and for an address no warehouse
//! serves, it is refused with nothing changed; one Idempotency-Key has one effect.
//!
//! The world's buyer lives in 黄浦 (Shanghai); warehouse 0 is in 双流 (Chengdu, 5 units of each
//! SKU), warehouse 1 in 嘉定 (Shanghai, 3 units).

use super::common;
use common::{Backend, TestApp, World, eventually};
use miaodan_server::clock::Clock;
use serde_json::{Value, json};
use std::time::Duration;

both_backends!(
    a_change_before_any_waybill_re_dispatches_the_order_near_the_new_address_once,
    a_change_with_a_waybill_goes_to_the_carrier_and_after_pickup_is_refused_in_both_languages,
    other_tenants_bad_input_and_closed_orders_are_refused_and_change_nothing,
    an_address_no_warehouse_serves_is_refused_and_changes_nothing,
);

/// 锦江区, Chengdu: a few km from warehouse 0.
const CHENGDU: &str = "510104000000";

/// A paid order of `units` of the world's second SKU, sold with ZTO standard delivery.
async fn paid_order(app: &TestApp, world: &World, units: i64) -> i64 {
    let body = json!({
        "lines": [{ "sku_id": world.skus[1], "quantity": units }],
        "deliveries": [{ "shop_id": world.shop, "level": "standard", "carrier": "zto" }],
    });
    let placed = app.post("/v1/checkouts", &world.buyer_token, body).await;
    let placed = placed.assert_status(201).clone();
    let order = placed["orders"][0]["id"].as_i64().unwrap();
    app.pay_checkout(&world.buyer_token, placed["checkout_id"].as_i64().unwrap())
        .await;
    order
}

fn change(order: i64, adcode: &str) -> Value {
    json!({ "order_id": order, "kind": "change_address", "reason": "wrong_address",
            "address": { "adcode": adcode, "detail": "红星路三段1号" } })
}

/// (available, reserved, sold) of the world's second SKU in each warehouse.
async fn levels(app: &TestApp, world: &World) -> [(i64, i64, i64); 2] {
    let sku = world.skus[1];
    [
        app.level(&world.merchant, sku, world.warehouses[0]).await,
        app.level(&world.merchant, sku, world.warehouses[1]).await,
    ]
}

async fn dispatch(app: &TestApp, order: i64) -> Value {
    app.get(&format!("/v1/orders/{order}/dispatch"), &app.admin)
        .await
        .assert_status(200)
        .clone()
}

async fn a_change_before_any_waybill_re_dispatches_the_order_near_the_new_address_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let world = app.world().await;
    let order = paid_order(&app, &world, 2).await;
    let [chengdu, shanghai] = world.warehouses;
    assert_eq!(dispatch(&app, order).await["parcels"][0]["warehouse_id"], shanghai);
    assert_eq!(levels(&app, &world).await, [(5, 0, 0), (1, 0, 2)]);
    let before = app.order(order).await;

    let opened = app
        .post_with_key("/v1/after-sales", &world.buyer_token, "move-1", change(order, CHENGDU))
        .await;
    let body = opened.assert_status(201).clone();
    assert_eq!(body["kind"], "change_address", "{body}");
    assert_eq!(body["stage"], "closed");
    assert_eq!(body["decision"]["rules"][0]["code"], "not_yet_picked_up");
    let timeline: Vec<&str> = body["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert_eq!(timeline, ["approved", "closed"]);
    let moved = &body["address_change"];
    assert_eq!(
        moved["from"]["adcode"], "310101000000",
        "the old address stays on the request"
    );
    assert_eq!(moved["to"]["adcode"], CHENGDU);
    assert_eq!(moved["to"]["division"], "锦江区");
    assert_eq!(moved["outcome"], "redispatched");
    assert_eq!(moved["warehouses_before"], json!([shanghai]));
    assert_eq!(moved["warehouses_after"], json!([chengdu]));
    assert_eq!(moved["promised_by_before"], before["promise"]["promised_by"]);

    // Stock conserved: the two units went back on sale in Shanghai and were sold in Chengdu.
    assert_eq!(levels(&app, &world).await, [(3, 0, 2), (3, 0, 0)]);
    let after = app.order(order).await;
    assert_eq!(after["address"]["adcode"], CHENGDU);
    assert_eq!(after["address"]["detail"], "红星路三段1号");
    assert_eq!(after["state"], "paid");
    assert_eq!(after["version"], before["version"].as_i64().unwrap() + 1);
    assert_eq!(
        (&after["promise"]["level"], &after["promise"]["carrier"]),
        (&json!("standard"), &json!("zto"))
    );
    assert_eq!(after["promise"]["promised_by"], moved["promised_by"]);
    let explained = dispatch(&app, order).await;
    assert_eq!(explained["parcels"][0]["warehouse_id"], chengdu);
    let reason = explained["reason"].as_str().unwrap();
    assert!(
        reason.starts_with(&format!("re-dispatched from warehouse {shanghai} to {chengdu}")),
        "{reason}"
    );

    // The same key replays the answer and changes nothing more; a second change is a new one.
    let replayed = app
        .post_with_key("/v1/after-sales", &world.buyer_token, "move-1", change(order, CHENGDU))
        .await;
    assert!(replayed.replayed);
    assert_eq!(replayed.assert_status(201), &body);
    assert_eq!(levels(&app, &world).await, [(3, 0, 2), (3, 0, 0)]);
    app.post("/v1/after-sales", &world.buyer_token, change(order, CHENGDU))
        .await
        .assert_problem(409, "same_address");

    // The order ships from Chengdu, to Chengdu.
    let shipped = app
        .post(
            &format!("/v1/orders/{order}/shipments"),
            &world.merchant,
            json!({ "warehouse_id": chengdu }),
        )
        .await;
    shipped.assert_status(201);
}

async fn a_change_with_a_waybill_goes_to_the_carrier_and_after_pickup_is_refused_in_both_languages(backend: Backend) {
    let clock = Clock::system();
    let app = TestApp::spawn_with_manual_carriers(backend, &clock).await;
    let world = app.world().await;
    let [_, shanghai] = world.warehouses;
    let ship = |order: i64| {
        let app = &app;
        let merchant = world.merchant.clone();
        async move {
            let path = format!("/v1/orders/{order}/shipments");
            let shipped = app.post(&path, &merchant, json!({ "warehouse_id": shanghai })).await;
            shipped.assert_status(201).clone()
        }
    };

    // Waybill issued, not collected: the parcel stays packed in Shanghai, the carrier takes it.
    let order = paid_order(&app, &world, 1).await;
    let shipment = ship(order).await;
    let waybill = shipment["waybill_no"].as_str().unwrap().to_string();
    let stock = levels(&app, &world).await;
    let opened = app
        .post("/v1/after-sales", &world.buyer_token, change(order, CHENGDU))
        .await;
    let id = opened.id();
    let body = opened.assert_status(201).clone();
    assert!(
        ["approved", "closed"].contains(&body["stage"].as_str().unwrap()),
        "{body}"
    );
    let closed = eventually(Duration::from_secs(20), "the carrier took the address", || async {
        let r = app
            .get(&format!("/v1/after-sales/{id}"), &world.buyer_token)
            .await
            .assert_status(200)
            .clone();
        (r["stage"] == "closed").then_some(r)
    })
    .await;
    assert_eq!(closed["address_change"]["outcome"], "redirected", "{closed}");
    assert_eq!(closed["address_change"]["waybills"], json!([waybill]));
    assert_eq!(
        app.carrier().tracking(&waybill).unwrap().destination_adcode,
        CHENGDU,
        "the carrier's waybill goes to Chengdu"
    );
    let after = app.order(order).await;
    assert_eq!(after["address"]["adcode"], CHENGDU);
    assert_eq!(after["promise"]["promised_by"], closed["address_change"]["promised_by"]);
    assert_eq!(dispatch(&app, order).await["parcels"][0]["warehouse_id"], shanghai);
    assert_eq!(levels(&app, &world).await, stock, "a packed parcel moves no stock");

    // Collected: refused by the rules, said in English and Chinese, nothing changed.
    let order = paid_order(&app, &world, 1).await;
    let shipment = ship(order).await;
    let waybill = shipment["waybill_no"].as_str().unwrap().to_string();
    let picked_up_at = clock.now().unix_ms() - 60_000;
    app.carrier()
        .advance(&waybill, simcarrier::TrackingState::PickedUp, picked_up_at)
        .await
        .unwrap();
    let shipment_id = shipment["id"].as_i64().unwrap();
    eventually(Duration::from_secs(20), "the pickup scan recorded", || async {
        let seen = app.get(&format!("/v1/shipments/{shipment_id}"), &world.merchant).await;
        (seen.body["state"] == "picked_up").then_some(())
    })
    .await;
    let refused = app
        .post("/v1/after-sales", &world.buyer_token, change(order, CHENGDU))
        .await;
    refused.assert_problem(409, "refused_by_rules");
    let rule = &refused.body["rules"][0];
    assert_eq!(rule["code"], "already_picked_up", "{}", refused.raw);
    assert!(
        rule["en"].as_str().unwrap().contains("carrier has had the parcel"),
        "{rule}"
    );
    assert!(rule["zh"].as_str().unwrap().contains("交给快递"), "{rule}");
    assert_eq!(app.order(order).await["address"]["adcode"], "310101000000");
}

async fn other_tenants_bad_input_and_closed_orders_are_refused_and_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let world = app.world().await;
    let order = paid_order(&app, &world, 1).await;
    let (_, other_buyer) = app.buyer("李四").await;
    let stock = levels(&app, &world).await;

    app.post("/v1/after-sales", &other_buyer, change(order, CHENGDU))
        .await
        .assert_problem(404, "not_found");
    let address = json!({ "adcode": CHENGDU, "detail": "红星路三段1号" });
    let bad: [(Value, u16, &str); 7] = [
        (
            json!({ "order_id": order, "kind": "change_address", "reason": "wrong_address" }),
            422,
            "invalid_field",
        ),
        (
            json!({ "order_id": order, "kind": "cancel", "reason": "changed_mind", "address": address }),
            422,
            "invalid_field",
        ),
        (change(order, "5101"), 422, "invalid_adcode"),
        (change(order, "999999999999"), 404, "unknown_adcode"),
        (
            json!({ "order_id": order, "kind": "change_address", "reason": "wrong_address",
                    "address": { "adcode": CHENGDU, "detail": "" } }),
            422,
            "invalid_field",
        ),
        (
            json!({ "order_id": order, "kind": "change_address", "reason": "wrong_address",
                    "address": { "adcode": "310101000000", "detail": "南京东路1号" } }),
            409,
            "same_address",
        ),
        (change(987_654_321, CHENGDU), 404, "not_found"),
    ];
    for (body, status, code) in bad {
        let answer = app.post("/v1/after-sales", &world.buyer_token, body.clone()).await;
        assert_eq!(
            (answer.status.as_u16(), answer.code()),
            (status, code),
            "{body}: {}",
            answer.raw
        );
        assert_eq!(answer.content_type, "application/problem+json");
    }
    assert_eq!(levels(&app, &world).await, stock);
    assert_eq!(app.order(order).await["address"]["adcode"], "310101000000");
    let listed = app.get("/v1/after-sales", &world.buyer_token).await;
    assert_eq!(listed.assert_status(200)["items"], json!([]), "nothing was opened");

    // A cancelled order has nothing left to deliver.
    let cancel = json!({ "order_id": order, "kind": "cancel", "reason": "changed_mind" });
    app.post("/v1/after-sales", &world.buyer_token, cancel)
        .await
        .assert_status(201);
    eventually(Duration::from_secs(20), "the order cancelled", || async {
        (app.order(order).await["state"] == "cancelled").then_some(())
    })
    .await;
    app.post("/v1/after-sales", &world.buyer_token, change(order, CHENGDU))
        .await
        .assert_problem(409, "order_not_paid");
}

async fn an_address_no_warehouse_serves_is_refused_and_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let world = app.world().await;
    // A shop that delivers within each warehouse's own city only, the same day.
    let same_city_only = json!({
        "shifts": [{ "start": "00:00", "end": "24:00" }],
        "orders_per_hour": 2000,
        "orders_per_day": 40000,
        "cutoffs": [{ "level": "same_day", "region": "same_city", "time": "23:59" }],
    });
    for warehouse in world.warehouses {
        app.put(
            &format!("/v1/warehouses/{warehouse}/fulfillment"),
            &world.merchant,
            same_city_only.clone(),
        )
        .await
        .assert_status(200);
    }
    // Sold without a promise to 黄浦, from Shanghai; Chengdu's warehouse holds no units.
    app.stock(&world.merchant, world.skus[1], world.warehouses[0], 0).await;
    let placed = app.checkout(&world.buyer_token, &[(world.skus[1], 1)]).await;
    let placed = placed.assert_status(201).clone();
    let order = placed["orders"][0]["id"].as_i64().unwrap();
    app.pay_checkout(&world.buyer_token, placed["checkout_id"].as_i64().unwrap())
        .await;
    let stock = levels(&app, &world).await;
    let decision = dispatch(&app, order).await;

    let refused = app
        .post("/v1/after-sales", &world.buyer_token, change(order, CHENGDU))
        .await;
    refused.assert_problem(409, "address_not_served");
    assert!(
        refused.body["detail"].as_str().unwrap().contains("配送"),
        "{}",
        refused.raw
    );
    assert_eq!(levels(&app, &world).await, stock);
    assert_eq!(dispatch(&app, order).await, decision);
    assert_eq!(app.order(order).await["address"]["adcode"], "310101000000");
}
