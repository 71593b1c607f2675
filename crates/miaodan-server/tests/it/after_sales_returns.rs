//! Return logistics over HTTP on both backends, driven by the carrier simulator's signed
//! webhooks: an approved return gets a pickup booked with the carrier (waybill, price, who pays
//! what), its events come twice and out of order and apply once, a trusted buyer is refunded at
//! the carrier's first scan (闪电退款) exactly once while the warehouse still inspects, an
//! untrusted one after the inspection, a parcel that never moves expires across a restart, a
//! stalled one goes to the platform, and forged or replayed signatures change nothing.

use super::after_sales::{
    default_policy, futures_sum, no_reason_return, paid_order, refunds_of, request, stages_of, until_stage,
};
use super::common;
use common::{Backend, CARRIER_WEBHOOK_SECRET, TestApp, World, eventually};
use miaodan_server::clock::{Clock, rfc3339};
use serde_json::{Value, json};
use simcarrier::{SimCarrier, TrackingState};
use std::time::Duration;

both_backends!(
    a_trusted_buyers_return_is_refunded_once_at_the_carriers_first_scan_and_still_inspected_on_arrival,
    a_return_over_the_ceiling_is_booked_on_approval_and_refunded_only_after_the_inspection,
    an_approved_return_whose_parcel_never_moves_expires_after_its_window_across_a_restart,
    a_return_that_stops_moving_goes_to_the_platform_which_refunds_it,
    forged_or_replayed_return_webhooks_change_nothing_and_other_tenants_see_no_return,
);

const HOUR_MS: i64 = 3_600_000;

/// A server on `clock` with a carrier simulator served over HTTP (its books and its webhook
/// secret outlive a restart of the server).
async fn spawn(backend: Backend, clock: &Clock) -> (TestApp, SimCarrier) {
    let (carrier, url) = common::serve_carrier_simulator().await;
    let app = TestApp::spawn_with_remote_carrier(backend, clock, &carrier, &url).await;
    (app, carrier)
}

/// A paid order of `units` of the world's second SKU, shipped and delivered now.
async fn delivered_order(app: &TestApp, world: &World, clock: &Clock, carrier: &SimCarrier, units: i64) -> i64 {
    let order = paid_order(app, world, units).await;
    let mut waybill = None;
    for warehouse in world.warehouses {
        let path = format!("/v1/orders/{order}/shipments");
        let answer = app
            .post(&path, &world.merchant, json!({ "warehouse_id": warehouse }))
            .await;
        if answer.status == 201 {
            waybill = Some(answer.body["waybill_no"].as_str().unwrap().to_string());
            break;
        }
    }
    let waybill = waybill.expect("one warehouse holds the order");
    let shipped_at = clock.now();
    clock.advance(60_000);
    super::fulfillment::track(carrier, &waybill, &super::fulfillment::JOURNEY, shipped_at).await;
    eventually(Duration::from_secs(20), "the order delivered", || async {
        (app.order(order).await["state"] == "delivered").then_some(())
    })
    .await;
    order
}

/// Opens a no-reason return of `units` and waits for its pickup to be booked.
async fn booked_return(app: &TestApp, world: &World, order: i64, units: i64) -> (i64, Value) {
    let opened = app
        .post(
            "/v1/after-sales",
            &world.buyer_token,
            no_reason_return(order, world.skus[1], units),
        )
        .await;
    let id = opened.assert_status(201)["id"].as_i64().unwrap();
    let booked = pickup_booked(app, &world.buyer_token, id).await;
    (id, booked)
}

async fn pickup_booked(app: &TestApp, token: &str, id: i64) -> Value {
    eventually(Duration::from_secs(20), "the pickup booked", || async {
        let r = request(app, token, id).await;
        r["return_pickup"].is_object().then_some(r)
    })
    .await
}

fn waybill_of(request: &Value) -> String {
    request["return_pickup"]["waybill"].as_str().unwrap().to_string()
}

/// Plays the return parcel's script up to `state`, its last event at `at_ms`.
async fn advance(carrier: &SimCarrier, waybill: &str, state: TrackingState, at_ms: i64) {
    carrier.advance(waybill, state, at_ms).await.unwrap();
}

fn actors_of(request: &Value) -> Vec<&str> {
    let timeline = request["timeline"].as_array().unwrap();
    timeline.iter().map(|s| s["actor"].as_str().unwrap()).collect()
}

async fn a_trusted_buyers_return_is_refunded_once_at_the_carriers_first_scan_and_still_inspected_on_arrival(
    backend: Backend,
) {
    let clock = Clock::system();
    let (app, carrier) = spawn(backend, &clock).await;
    let world = app.world().await;
    let sku = world.skus[1];
    let order = delivered_order(&app, &world, &clock, &carrier, 3).await;
    assert_eq!(futures_sum(&app, &world, sku).await, (5, 0, 3));

    // Approved by the rules; the platform books the pickup from the buyer to the warehouse.
    let (id, booked) = booked_return(&app, &world, order, 3).await;
    assert_eq!(booked["stage"], "awaiting_return", "{booked}");
    let pickup = &booked["return_pickup"];
    assert_eq!(pickup["state"], "created", "{pickup}");
    assert_eq!(booked["return_shipping"], "platform_first_weight");
    let (first, rest) = (
        pickup["first_weight_fen"].as_i64().unwrap(),
        pickup["additional_fen"].as_i64().unwrap(),
    );
    assert!(
        first > 0 && rest > 0,
        "3 units × 500 g weigh more than the first kilogram: {pickup}"
    );
    assert_eq!(
        (pickup["platform_pays_fen"].as_i64(), pickup["buyer_pays_fen"].as_i64()),
        (Some(first), Some(rest))
    );
    assert_eq!(pickup["shop_pays_fen"], 0);
    let waybill = waybill_of(&booked);
    let tracking = carrier.tracking(&waybill).expect("the carrier issued it");
    assert_eq!(tracking.waybill.reference, format!("mdn-return-{id}"));
    assert_eq!(tracking.origin_adcode.len(), 12);
    assert!(refunds_of(&app, order).await.is_empty());

    // Every event twice, and held back to come after the next one.
    carrier.set_faults(simcarrier::Faults {
        duplicate_percent: 100,
        reorder_percent: 100,
        delay_ms_max: 0,
    });
    let picked_up_at = clock.now().unix_ms() - 5_000;
    advance(&carrier, &waybill, TrackingState::PickedUp, picked_up_at).await;
    let refunded = until_stage(&app, &world.buyer_token, id, "refunded").await;
    assert_eq!(refunded["scan_decision"]["acted"], "approve", "{refunded}");
    assert_eq!(
        refunded["scan_decision"]["rules"][0]["code"],
        "return_scanned_by_carrier"
    );
    assert_eq!(refunded["return_pickup"]["state"], "picked_up");
    let refunds = refunds_of(&app, order).await;
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0]["amount_fen"], 3 * 10990);

    // The rest of the journey, reordered and duplicated: the parcel arrives at the warehouse.
    clock.advance(60_000);
    advance(
        &carrier,
        &waybill,
        TrackingState::Delivered,
        clock.now().unix_ms() - 1_000,
    )
    .await;
    let arrived = eventually(Duration::from_secs(20), "the parcel arrived", || async {
        let r = request(&app, &world.buyer_token, id).await;
        (r["return_pickup"]["state"] == "delivered" && actors_of(&r).len() == 6).then_some(r)
    })
    .await;
    assert_eq!(
        stages_of(&arrived),
        [
            "approved",
            "awaiting_return",
            "return_in_transit",
            "refunding",
            "refunded",
            "refunded"
        ]
    );
    assert_eq!(actors_of(&arrived)[2..], ["carrier", "rules", "provider", "carrier"]);
    assert!(
        carrier.delivery_stats().duplicates_sent >= 5,
        "{:?}",
        carrier.delivery_stats()
    );

    // The warehouse still inspects: two units back on sale, no second refund.
    let received = app
        .post(
            &format!("/v1/after-sales/{id}/receive"),
            &world.merchant,
            json!({ "inspection": "restock" }),
        )
        .await;
    assert_eq!(received.assert_status(200)["inspection"], "restock");
    assert_eq!(received.body["stage"], "refunded");
    worker_pass(&app).await;
    assert_eq!(refunds_of(&app, order).await.len(), 1, "refunded once");
    assert_eq!(futures_sum(&app, &world, sku).await, (8, 0, 0), "stock conserved");
}

async fn worker_pass(app: &TestApp) {
    miaodan_server::flows::payments::worker::run_once(app.state())
        .await
        .unwrap();
}

async fn a_return_over_the_ceiling_is_booked_on_approval_and_refunded_only_after_the_inspection(backend: Backend) {
    let clock = Clock::system();
    let (app, carrier) = spawn(backend, &clock).await;
    let world = app.world().await;
    let sku = world.skus[1];
    let mut shop_pays = default_policy();
    shop_pays["auto_approve_ceiling_fen"] = json!(10_000);
    shop_pays["return_shipping"] = json!("shop");
    app.put("/v1/after-sales/policy", &world.merchant, shop_pays)
        .await
        .assert_status(200);
    let order = delivered_order(&app, &world, &clock, &carrier, 1).await;
    let opened = app
        .post("/v1/after-sales", &world.buyer_token, no_reason_return(order, sku, 1))
        .await;
    let body = opened.assert_status(201).clone();
    assert_eq!(body["stage"], "with_merchant", "{body}");
    assert_eq!(body["return_pickup"], Value::Null, "nothing booked before approval");
    let id = opened.id();

    let approved = app
        .post(&format!("/v1/after-sales/{id}/approve"), &world.merchant, json!({}))
        .await;
    assert_eq!(approved.assert_status(200)["stage"], "awaiting_return");
    let booked = pickup_booked(&app, &world.merchant, id).await;
    let pickup = &booked["return_pickup"];
    let price = pickup["first_weight_fen"].as_i64().unwrap() + pickup["additional_fen"].as_i64().unwrap();
    assert_eq!(pickup["additional_fen"], 0, "one unit is within the first kilogram");
    assert_eq!(pickup["shop_pays_fen"].as_i64(), Some(price), "{pickup}");
    assert_eq!(
        (pickup["platform_pays_fen"].as_i64(), pickup["buyer_pays_fen"].as_i64()),
        (Some(0), Some(0))
    );

    // Over the ceiling at the scan too: in transit, no money yet.
    let waybill = waybill_of(&booked);
    advance(
        &carrier,
        &waybill,
        TrackingState::InTransit,
        clock.now().unix_ms() - 1_000,
    )
    .await;
    let moving = until_stage(&app, &world.buyer_token, id, "return_in_transit").await;
    assert_eq!(moving["scan_decision"]["acted"], "to_merchant", "{moving}");
    assert!(
        moving["due_at"].is_string(),
        "a moving return stalls by a deadline: {moving}"
    );
    assert!(refunds_of(&app, order).await.is_empty());

    clock.advance(60_000);
    advance(
        &carrier,
        &waybill,
        TrackingState::Delivered,
        clock.now().unix_ms() - 1_000,
    )
    .await;
    let arrived = until_stage(&app, &world.buyer_token, id, "received").await;
    assert_eq!(actors_of(&arrived).last(), Some(&"carrier"));
    assert!(refunds_of(&app, order).await.is_empty(), "the warehouse inspects first");
    let written_off = app
        .post(
            &format!("/v1/after-sales/{id}/receive"),
            &world.merchant,
            json!({ "inspection": "write_off" }),
        )
        .await;
    assert_eq!(written_off.assert_status(200)["inspection"], "write_off");
    until_stage(&app, &world.buyer_token, id, "refunded").await;
    worker_pass(&app).await;
    assert_eq!(refunds_of(&app, order).await.len(), 1);
    assert_eq!(
        futures_sum(&app, &world, sku).await,
        (7, 0, 1),
        "written off: still sold"
    );
}

async fn an_approved_return_whose_parcel_never_moves_expires_after_its_window_across_a_restart(backend: Backend) {
    let clock = Clock::system();
    let (mut app, carrier) = spawn(backend, &clock).await;
    let world = app.world().await;
    let order = delivered_order(&app, &world, &clock, &carrier, 1).await;
    let (id, booked) = booked_return(&app, &world, order, 1).await;
    let due = booked["due_at"].as_str().unwrap().to_string();
    let waybill = waybill_of(&booked);

    app.restart().await;
    carrier.set_webhook_url(Some(app.url("/v1/webhooks/carriers")));
    clock.advance(7 * 24 * HOUR_MS - 60_000);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(request(&app, &world.buyer_token, id).await["stage"], "awaiting_return");
    clock.advance(2 * 60_000);
    let closed = until_stage(&app, &world.buyer_token, id, "closed").await;
    assert_eq!(
        closed["timeline"].as_array().unwrap().last().unwrap()["actor"],
        "deadline"
    );
    assert!(rfc3339(clock.now()) > due);

    // A late scan of the unused waybill is acknowledged and changes nothing.
    advance(
        &carrier,
        &waybill,
        TrackingState::PickedUp,
        clock.now().unix_ms() - 1_000,
    )
    .await;
    eventually(Duration::from_secs(20), "the late scan answered", || async {
        let attempts = carrier.delivery_attempts();
        attempts
            .iter()
            .any(|a| a.waybill_no == waybill && a.acknowledged)
            .then_some(())
    })
    .await;
    let after = request(&app, &world.buyer_token, id).await;
    assert_eq!(after["stage"], "closed");
    assert_eq!(after["return_pickup"]["state"], "created");
    assert!(refunds_of(&app, order).await.is_empty());
}

async fn a_return_that_stops_moving_goes_to_the_platform_which_refunds_it(backend: Backend) {
    let clock = Clock::system();
    let (app, carrier) = spawn(backend, &clock).await;
    let world = app.world().await;
    let mut strict = default_policy();
    strict["auto_approve_ceiling_fen"] = json!(10_000);
    app.put("/v1/after-sales/policy", &world.merchant, strict)
        .await
        .assert_status(200);
    let order = delivered_order(&app, &world, &clock, &carrier, 1).await;
    let id = app
        .post(
            "/v1/after-sales",
            &world.buyer_token,
            no_reason_return(order, world.skus[1], 1),
        )
        .await
        .id();
    app.post(&format!("/v1/after-sales/{id}/approve"), &world.merchant, json!({}))
        .await
        .assert_status(200);
    let booked = pickup_booked(&app, &world.buyer_token, id).await;
    let scanned_at = clock.now().unix_ms() - 1_000;
    advance(&carrier, &waybill_of(&booked), TrackingState::PickedUp, scanned_at).await;
    until_stage(&app, &world.buyer_token, id, "return_in_transit").await;

    clock.advance(72 * HOUR_MS + 60_000);
    let stalled = until_stage(&app, &world.buyer_token, id, "with_platform").await;
    assert_eq!(actors_of(&stalled).last(), Some(&"deadline"));
    let decided = app
        .post(
            &format!("/v1/after-sales/{id}/decide"),
            &app.admin,
            json!({ "decision": "approve" }),
        )
        .await;
    decided.assert_status(200);
    let refunded = until_stage(&app, &world.buyer_token, id, "refunded").await;
    assert_eq!(
        stages_of(&refunded)[4..],
        ["with_platform", "approved", "refunding", "refunded"]
    );
    assert_eq!(refunds_of(&app, order).await.len(), 1);
}

async fn forged_or_replayed_return_webhooks_change_nothing_and_other_tenants_see_no_return(backend: Backend) {
    let clock = Clock::system();
    let (app, carrier) = spawn(backend, &clock).await;
    let world = app.world().await;
    let order = delivered_order(&app, &world, &clock, &carrier, 1).await;
    let (id, booked) = booked_return(&app, &world, order, 1).await;
    let waybill = waybill_of(&booked);
    let body = serde_json::to_vec(&json!({
        "carrier": booked["return_pickup"]["carrier"],
        "waybill_no": waybill,
        "event_id": format!("{waybill}-forged"),
        "state": "picked_up",
        "occurred_at": rfc3339(clock.now()),
        "location": null,
    }))
    .unwrap();
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let post = |signature: String| {
        let request = app
            .http
            .post(app.url("/v1/webhooks/carriers"))
            .header("content-type", "application/json")
            .header(simcarrier::SIGNATURE_HEADER, signature)
            .body(body.clone());
        app.send(request)
    };
    post(simcarrier::signature::sign(b"not the secret", now_s, &body))
        .await
        .assert_problem(401, "bad_signature");
    post(simcarrier::signature::sign(CARRIER_WEBHOOK_SECRET, now_s - 600, &body))
        .await
        .assert_problem(401, "stale_signature");
    let unchanged = request(&app, &world.buyer_token, id).await;
    assert_eq!(unchanged["stage"], "awaiting_return");
    assert_eq!(unchanged["return_pickup"]["state"], "created");
    assert!(refunds_of(&app, order).await.is_empty());

    // A signed copy applies once; the same event again is a duplicate.
    let signed = simcarrier::signature::sign(CARRIER_WEBHOOK_SECRET, now_s, &body);
    assert_eq!(post(signed.clone()).await.assert_status(200)["status"], "applied");
    assert_eq!(post(signed).await.assert_status(200)["status"], "duplicate");
    until_stage(&app, &world.buyer_token, id, "refunded").await;
    assert_eq!(refunds_of(&app, order).await.len(), 1);

    // Another buyer and another shop see no such request.
    let (_, other_merchant) = app.shop("别家小店").await;
    let (_, other_buyer) = app.buyer("李四").await;
    app.get(&format!("/v1/after-sales/{id}"), &other_buyer)
        .await
        .assert_problem(404, "not_found");
    app.get(&format!("/v1/after-sales/{id}"), &other_merchant)
        .await
        .assert_problem(404, "not_found");
    app.post(
        &format!("/v1/after-sales/{id}/receive"),
        &other_merchant,
        json!({ "inspection": "restock" }),
    )
    .await
    .assert_problem(404, "not_found");
}
