//! After-sales over HTTP on both backends: a cancellation before shipment refunded at once
//! with its units back in stock, the merchant's queue with a deadline (silence is consent, on
//! the app's own clock), refusal, appeal and the platform's decision, withdrawal, other
//! tenants, bad input, and money exactly once under retries and worker passes; goods classes
//! per product; exchanges with their held replacement and its zero-price order.

use super::common;
use common::{Backend, TestApp, World, eventually};
use miaodan_server::clock::Clock;
use serde_json::{Value, json};
use std::time::Duration;

both_backends!(
    a_cancellation_before_shipment_is_refunded_at_once_and_its_units_go_back_to_stock,
    a_silent_merchant_is_deemed_to_agree_after_the_deadline,
    a_refused_buyer_appeals_and_the_platform_decides,
    a_buyer_withdraws_a_request_and_the_units_can_be_asked_for_again,
    other_tenants_see_no_request_and_bad_input_changes_nothing,
    retries_and_worker_passes_refund_once,
    a_no_reason_return_is_approved_at_once_and_refunded_once_the_shop_has_received_it,
    a_return_is_refused_outside_its_window_and_its_steps_are_refused_out_of_turn,
    a_shops_policy_lengthens_its_window_names_who_pays_returns_and_survives_a_restart,
    rules_in_shadow_record_their_verdict_and_leave_every_request_to_the_merchant,
    a_policy_outside_the_law_or_the_platforms_limits_is_refused_and_changes_nothing,
    a_refund_the_provider_fails_goes_to_the_platform_and_is_not_retried_blindly,
    a_return_of_goods_not_yet_delivered_is_refused_and_opens_nothing,
    a_flash_order_cancelled_after_payment_gives_the_buyer_their_flash_allowance_back,
    refunded_units_stay_taken_after_a_restart_though_settled_requests_leave_memory,
    a_perishable_products_no_reason_return_is_refused_unless_the_shop_covers_perishables,
    an_exchange_holds_its_replacement_and_sends_it_in_a_zero_price_order_shipped_like_any_order,
    an_exchange_for_another_products_sku_another_price_or_missing_stock_is_refused_and_changes_nothing,
);

const HOUR_MS: i64 = 3_600_000;

/// A paid order of `units` of the world's second SKU (¥109.90 each) for the world's buyer.
pub(super) async fn paid_order(app: &TestApp, world: &World, units: i64) -> i64 {
    paid_order_of(app, world, world.skus[1], units).await
}

/// A paid order of `units` of `sku` for the world's buyer.
async fn paid_order_of(app: &TestApp, world: &World, sku: i64, units: i64) -> i64 {
    let checkout = app.checkout(&world.buyer_token, &[(sku, units)]).await;
    let body = checkout.assert_status(201).clone();
    let order = body["orders"][0]["id"].as_i64().unwrap();
    app.pay_checkout(&world.buyer_token, body["checkout_id"].as_i64().unwrap())
        .await;
    order
}

fn cancel(order: i64) -> Value {
    json!({ "order_id": order, "kind": "cancel", "reason": "changed_mind" })
}

pub(super) fn refund_only(order: i64, sku: i64, quantity: i64) -> Value {
    json!({ "order_id": order, "kind": "refund_only", "reason": "quality_issue",
            "lines": [{ "sku_id": sku, "quantity": quantity }] })
}

pub(super) async fn request(app: &TestApp, token: &str, id: i64) -> Value {
    app.get(&format!("/v1/after-sales/{id}"), token)
        .await
        .assert_status(200)
        .clone()
}

pub(super) async fn until_stage(app: &TestApp, token: &str, id: i64, stage: &str) -> Value {
    eventually(Duration::from_secs(20), stage, || async {
        let r = request(app, token, id).await;
        (r["stage"] == stage).then_some(r)
    })
    .await
}

/// The stages on a request's timeline, in order.
pub(super) fn stages_of(request: &Value) -> Vec<&str> {
    let timeline = request["timeline"].as_array().unwrap();
    timeline.iter().map(|s| s["stage"].as_str().unwrap()).collect()
}

pub(super) async fn refunds_of(app: &TestApp, order: i64) -> Vec<Value> {
    app.get(&format!("/v1/orders/{order}/refunds"), &app.admin)
        .await
        .assert_status(200)["items"]
        .as_array()
        .unwrap()
        .clone()
}

async fn a_cancellation_before_shipment_is_refunded_at_once_and_its_units_go_back_to_stock(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let world = app.world().await;
    let order = paid_order(&app, &world, 2).await;
    let sku = world.skus[1];
    let sold_before: i64 = futures_sum(&app, &world, sku).await.2;
    assert_eq!(sold_before, 2);

    let opened = app.post("/v1/after-sales", &world.buyer_token, cancel(order)).await;
    let body = opened.assert_status(201);
    assert_eq!(body["decision"]["verdict"], "approve", "{body}");
    assert_eq!(body["decision"]["rules"][0]["code"], "not_yet_picked_up");
    assert!(body["decision"]["rules"][0]["zh"].as_str().unwrap().contains("揽收"));
    let id = opened.id();

    let refunded = until_stage(&app, &world.buyer_token, id, "refunded").await;
    let stages = stages_of(&refunded);
    assert_eq!(stages, ["approved", "refunding", "refunded"]);
    let refunds = refunds_of(&app, order).await;
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0]["amount_fen"], 2 * 10990);
    assert_eq!(app.order(order).await["state"], "cancelled");
    let (available, reserved, sold) = futures_sum(&app, &world, sku).await;
    assert_eq!((available, reserved, sold), (8, 0, 0), "every unit back in stock");

    // No shipment for a cancelled order.
    let shipment = app
        .post(
            &format!("/v1/orders/{order}/shipments"),
            &world.merchant,
            json!({ "warehouse_id": world.warehouses[0] }),
        )
        .await;
    assert!(
        ["order_not_dispatched", "no_parcel_at_warehouse"].contains(&shipment.code()),
        "{}",
        shipment.raw
    );
    // Nothing more to ask for this order.
    app.post("/v1/after-sales", &world.buyer_token, cancel(order))
        .await
        .assert_problem(409, "order_not_paid");
}

/// (available, reserved, sold) of `sku` summed over the world's warehouses.
pub(super) async fn futures_sum(app: &TestApp, world: &World, sku: i64) -> (i64, i64, i64) {
    let mut total = (0, 0, 0);
    for warehouse in world.warehouses {
        let (a, r, s) = app.level(&world.merchant, sku, warehouse).await;
        total = (total.0 + a, total.1 + r, total.2 + s);
    }
    total
}

async fn a_silent_merchant_is_deemed_to_agree_after_the_deadline(backend: Backend) {
    let clock = Clock::system();
    let app = TestApp::spawn_with(backend, |config| config.clock = clock.clone()).await;
    let world = app.world().await;
    // 5 × ¥109.90 is over the ¥500 the rules approve alone.
    let order = paid_order(&app, &world, 5).await;
    let opened = app
        .post(
            "/v1/after-sales",
            &world.buyer_token,
            refund_only(order, world.skus[1], 5),
        )
        .await;
    let body = opened.assert_status(201).clone();
    assert_eq!(body["stage"], "with_merchant", "{body}");
    let codes: Vec<&str> = body["decision"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["over_auto_approve_ceiling", "not_yet_picked_up"]);
    let id = opened.id();
    let listed = app.get("/v1/after-sales?stage=with_merchant", &world.merchant).await;
    assert_eq!(listed.assert_status(200)["items"][0]["id"], id);

    clock.advance(47 * HOUR_MS);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(request(&app, &world.buyer_token, id).await["stage"], "with_merchant");

    clock.advance(HOUR_MS + 60_000);
    let refunded = until_stage(&app, &world.buyer_token, id, "refunded").await;
    assert_eq!(refunded["timeline"][1]["actor"], "deadline", "{refunded}");
    assert_eq!(refunds_of(&app, order).await.len(), 1);
}

async fn a_refused_buyer_appeals_and_the_platform_decides(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let world = app.world().await;
    let order = paid_order(&app, &world, 5).await;
    let id = app
        .post(
            "/v1/after-sales",
            &world.buyer_token,
            refund_only(order, world.skus[1], 5),
        )
        .await
        .id();
    let path = |step: &str| format!("/v1/after-sales/{id}/{step}");
    // Only the platform decides now, and only after an appeal.
    app.post(&path("decide"), &app.admin, json!({ "decision": "approve" }))
        .await
        .assert_problem(409, "after_sales_step_not_allowed");
    let refused = app.post(&path("refuse"), &world.merchant, json!({})).await;
    assert_eq!(refused.assert_status(200)["stage"], "refused");
    app.post(&path("approve"), &world.merchant, json!({}))
        .await
        .assert_problem(409, "after_sales_step_not_allowed");
    let appealed = app.post(&path("appeal"), &world.buyer_token, json!({})).await;
    assert_eq!(appealed.assert_status(200)["stage"], "with_platform");
    app.post(&path("decide"), &app.admin, json!({ "decision": "maybe" }))
        .await
        .assert_problem(422, "invalid_field");
    let decided = app
        .post(&path("decide"), &app.admin, json!({ "decision": "approve" }))
        .await;
    decided.assert_status(200);
    until_stage(&app, &world.buyer_token, id, "refunded").await;
    assert_eq!(refunds_of(&app, order).await[0]["amount_fen"], 5 * 10990);
}

async fn a_buyer_withdraws_a_request_and_the_units_can_be_asked_for_again(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let world = app.world().await;
    let order = paid_order(&app, &world, 5).await;
    let ask = refund_only(order, world.skus[1], 5);
    let id = app.post("/v1/after-sales", &world.buyer_token, ask.clone()).await.id();
    app.post("/v1/after-sales", &world.buyer_token, ask.clone())
        .await
        .assert_problem(409, "request_already_open");
    let withdrawn = app
        .post(&format!("/v1/after-sales/{id}/withdraw"), &world.buyer_token, json!({}))
        .await;
    assert_eq!(withdrawn.assert_status(200)["stage"], "closed");
    app.post(&format!("/v1/after-sales/{id}/withdraw"), &world.buyer_token, json!({}))
        .await
        .assert_problem(409, "after_sales_step_not_allowed");
    app.post("/v1/after-sales", &world.buyer_token, ask)
        .await
        .assert_status(201);
}

async fn other_tenants_see_no_request_and_bad_input_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let world = app.world().await;
    let order = paid_order(&app, &world, 5).await;
    let (_, other_buyer) = app.buyer("李四").await;
    let (_, other_merchant) = app.shop("别家小店").await;
    let sku = world.skus[1];

    app.post("/v1/after-sales", &other_buyer, refund_only(order, sku, 1))
        .await
        .assert_problem(404, "not_found");
    let bad: [(Value, u16, &str); 6] = [
        (
            json!({ "order_id": order, "kind": "swap", "reason": "changed_mind" }),
            422,
            "invalid_kind",
        ),
        (
            json!({ "order_id": order, "kind": "refund_only", "reason": "because" }),
            422,
            "invalid_reason",
        ),
        (
            json!({ "order_id": order, "kind": "refund_only", "reason": "lost" }),
            422,
            "invalid_field",
        ),
        (refund_only(order, sku, 0), 422, "invalid_quantity"),
        (refund_only(order, sku, 6), 409, "quantity_not_requestable"),
        (refund_only(order, world.skus[0], 1), 409, "line_not_in_order"),
    ];
    for (body, status, code) in bad {
        app.post("/v1/after-sales", &world.buyer_token, body.clone())
            .await
            .assert_problem(status, code);
    }
    let listed = app.get("/v1/after-sales", &world.buyer_token).await;
    assert_eq!(listed.assert_status(200)["items"], json!([]), "nothing was opened");
    app.post("/v1/after-sales", &world.merchant, refund_only(order, sku, 1))
        .await
        .assert_status(403);

    let id = app
        .post("/v1/after-sales", &world.buyer_token, refund_only(order, sku, 5))
        .await
        .id();
    app.get(&format!("/v1/after-sales/{id}"), &other_buyer)
        .await
        .assert_problem(404, "not_found");
    app.get(&format!("/v1/after-sales/{id}"), &other_merchant)
        .await
        .assert_problem(404, "not_found");
    app.post(&format!("/v1/after-sales/{id}/approve"), &other_merchant, json!({}))
        .await
        .assert_problem(404, "not_found");
    app.post(&format!("/v1/after-sales/{id}/withdraw"), &other_buyer, json!({}))
        .await
        .assert_problem(404, "not_found");
    let theirs = app.get("/v1/after-sales", &other_merchant).await;
    assert_eq!(theirs.assert_status(200)["items"], json!([]));
    app.get("/v1/after-sales?cursor=zz", &world.buyer_token)
        .await
        .assert_problem(400, "invalid_cursor");
    assert_eq!(request(&app, &world.merchant, id).await["stage"], "with_merchant");
}

async fn retries_and_worker_passes_refund_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let world = app.world().await;
    let order = paid_order(&app, &world, 1).await;
    let ask = refund_only(order, world.skus[1], 1);
    let first = app
        .post_with_key("/v1/after-sales", &world.buyer_token, "as-1", ask.clone())
        .await;
    let id = first.id();
    let again = app
        .post_with_key("/v1/after-sales", &world.buyer_token, "as-1", ask)
        .await;
    assert!(again.replayed);
    assert_eq!((again.status, &again.raw), (first.status, &first.raw));
    for _ in 0..3 {
        miaodan_server::flows::payments::worker::run_once(app.state())
            .await
            .unwrap();
    }
    until_stage(&app, &world.buyer_token, id, "refunded").await;
    for _ in 0..2 {
        let saved = app
            .state()
            .store
            .after_sales_request(miaodan_domain::ids::AfterSalesId::new(id).unwrap())
            .await
            .unwrap()
            .unwrap();
        miaodan_server::flows::after_sales::refund(app.state(), &saved)
            .await
            .unwrap();
    }
    let refunds = refunds_of(&app, order).await;
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0]["amount_fen"], 10990);
    assert_eq!(refunds[0]["status"], "succeeded");
}

// ---- returns ------------------------------------------------------------------------------

pub(super) fn no_reason_return(order: i64, sku: i64, quantity: i64) -> Value {
    json!({ "order_id": order, "kind": "return_and_refund", "reason": "no_reason",
            "lines": [{ "sku_id": sku, "quantity": quantity }] })
}

/// A paid order of `units` of the world's second SKU, shipped from its warehouse and
/// delivered by the (manual) carrier simulator at the clock's current time.
async fn delivered_order(app: &TestApp, world: &World, clock: &Clock, units: i64) -> i64 {
    delivered_order_of(app, world, clock, world.skus[1], units).await
}

/// A paid order of `units` of `sku`, shipped and delivered at the clock's current time.
pub(super) async fn delivered_order_of(app: &TestApp, world: &World, clock: &Clock, sku: i64, units: i64) -> i64 {
    let order = paid_order_of(app, world, sku, units).await;
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
    // The journey's five events, ten seconds apart, all in the platform's past.
    let shipped_at = clock.now();
    clock.advance(60_000);
    let journey = &super::fulfillment::JOURNEY;
    super::fulfillment::track(&app.carrier(), &waybill, journey, shipped_at).await;
    eventually(Duration::from_secs(20), "the order delivered", || async {
        (app.order(order).await["state"] == "delivered").then_some(())
    })
    .await;
    order
}

async fn a_no_reason_return_is_approved_at_once_and_refunded_once_the_shop_has_received_it(backend: Backend) {
    let clock = Clock::system();
    let app = TestApp::spawn_with_manual_carriers(backend, &clock).await;
    let world = app.world().await;
    let sku = world.skus[1];
    let order = delivered_order(&app, &world, &clock, 2).await;
    assert_eq!(futures_sum(&app, &world, sku).await, (6, 0, 2));

    let opened = app
        .post("/v1/after-sales", &world.buyer_token, no_reason_return(order, sku, 1))
        .await;
    let body = opened.assert_status(201).clone();
    assert_eq!(body["stage"], "awaiting_return", "{body}");
    assert_eq!(body["decision"]["rules"][0]["code"], "no_reason_return_in_window");
    // Explained in Beijing time, through the last day of the window: delivered today, the
    // window runs 7 whole days from tomorrow.
    let today = miaodan_domain::time::shanghai::LocalDate::of(clock.now());
    let last_day = today.plus_days(7).to_string();
    let rule = &body["decision"]["rules"][0];
    assert!(
        rule["en"]
            .as_str()
            .unwrap()
            .contains(&format!("through {last_day}, Beijing time")),
        "{rule}"
    );
    assert!(
        rule["zh"]
            .as_str()
            .unwrap()
            .contains(&format!("至北京时间 {last_day} 当天结束")),
        "{rule}"
    );
    assert_eq!(body["return_shipping"], "platform_first_weight");
    assert_eq!(body["amount_fen"], 10990);
    assert!(
        body["due_at"].is_string(),
        "the return must be sent by a deadline: {body}"
    );
    let id = opened.id();
    let step = |name: &str| format!("/v1/after-sales/{id}/{name}");

    // The buyer sends the parcel back; nothing is refunded on the buyer's word alone.
    let parcel = json!({ "carrier": "zto", "waybill": "ZTO-RET-20261205" });
    let sent = app
        .post(&step("return-parcel"), &world.buyer_token, parcel.clone())
        .await;
    let sent = sent.assert_status(200).clone();
    assert_eq!(sent["stage"], "return_in_transit");
    assert_eq!(
        sent["return_parcel"],
        json!({ "carrier": "zto", "waybill": "ZTO-RET-20261205" })
    );
    assert_eq!(sent["due_at"], Value::Null);
    assert!(refunds_of(&app, order).await.is_empty());
    app.post(&step("return-parcel"), &world.buyer_token, parcel)
        .await
        .assert_problem(409, "after_sales_step_not_allowed");

    // Another shop cannot receive it; its own merchant receives and restocks it.
    let (_, other_merchant) = app.shop("别家小店").await;
    let restock = json!({ "inspection": "restock" });
    app.post(&step("receive"), &other_merchant, restock.clone())
        .await
        .assert_problem(404, "not_found");
    let received = app.post(&step("receive"), &world.merchant, restock.clone()).await;
    assert_eq!(received.assert_status(200)["inspection"], "restock");
    let refunded = until_stage(&app, &world.buyer_token, id, "refunded").await;
    let stages = stages_of(&refunded);
    assert_eq!(
        stages,
        [
            "approved",
            "awaiting_return",
            "return_in_transit",
            "received",
            "refunding",
            "refunded"
        ]
    );
    let refunds = refunds_of(&app, order).await;
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0]["amount_fen"], 10990);
    // The returned unit is on sale again; the other stays sold.
    assert_eq!(futures_sum(&app, &world, sku).await, (7, 0, 1));
    app.post(&step("receive"), &world.merchant, restock)
        .await
        .assert_problem(409, "after_sales_step_not_allowed");
}

async fn a_return_is_refused_outside_its_window_and_its_steps_are_refused_out_of_turn(backend: Backend) {
    let clock = Clock::system();
    let app = TestApp::spawn_with_manual_carriers(backend, &clock).await;
    let world = app.world().await;
    let sku = world.skus[1];
    let order = delivered_order(&app, &world, &clock, 2).await;

    // A refund-only request takes no return parcel and no receipt.
    let refund = app
        .post("/v1/after-sales", &world.buyer_token, refund_only(order, sku, 1))
        .await;
    let refund_id = refund.assert_status(201)["id"].as_i64().unwrap();
    let parcel = json!({ "carrier": "sf", "waybill": "SF-RET-000001" });
    app.post(
        &format!("/v1/after-sales/{refund_id}/return-parcel"),
        &world.buyer_token,
        parcel.clone(),
    )
    .await
    .assert_problem(409, "after_sales_step_not_allowed");
    app.post(
        &format!("/v1/after-sales/{refund_id}/withdraw"),
        &world.buyer_token,
        json!({}),
    )
    .await
    .assert_status(200);

    // Bad parcels and inspections are refused before anything is asked.
    let opened = app
        .post("/v1/after-sales", &world.buyer_token, no_reason_return(order, sku, 1))
        .await;
    let id = opened.assert_status(201)["id"].as_i64().unwrap();
    for (body, field) in [
        (json!({ "carrier": "ems", "waybill": "EMS-000001" }), "carrier"),
        (json!({ "carrier": "sf", "waybill": "短" }), "waybill"),
        (json!({ "carrier": "sf", "waybill": "SF 0001 0002" }), "waybill"),
    ] {
        let refused = app
            .post(&format!("/v1/after-sales/{id}/return-parcel"), &world.buyer_token, body)
            .await;
        refused.assert_problem(422, "invalid_field");
        assert_eq!(refused.body["field"], field);
    }
    app.post(
        &format!("/v1/after-sales/{id}/receive"),
        &world.merchant,
        json!({ "inspection": "lost" }),
    )
    .await
    .assert_problem(422, "invalid_field");
    assert_eq!(request(&app, &world.buyer_token, id).await["stage"], "awaiting_return");
    // The buyer may not receive, the merchant may not send.
    app.post(
        &format!("/v1/after-sales/{id}/receive"),
        &world.buyer_token,
        json!({ "inspection": "restock" }),
    )
    .await
    .assert_problem(403, "forbidden");
    app.post(&format!("/v1/after-sales/{id}/return-parcel"), &world.merchant, parcel)
        .await
        .assert_problem(403, "forbidden");
    // A parcel never sent lapses when its deadline passes.
    clock.advance(8 * 24 * HOUR_MS);
    until_stage(&app, &world.buyer_token, id, "closed").await;
    assert_eq!(futures_sum(&app, &world, sku).await, (6, 0, 2), "nothing came back");

    // Past the no-reason window (7 days from the day after delivery), the rules refuse.
    let late = app
        .post("/v1/after-sales", &world.buyer_token, no_reason_return(order, sku, 1))
        .await;
    late.assert_problem(409, "refused_by_rules");
    assert_eq!(late.body["rules"][0]["code"], "no_reason_window_closed", "{}", late.raw);
}

// ---- policies -----------------------------------------------------------------------------

const POLICY: &str = "/v1/after-sales/policy";

pub(super) fn default_policy() -> Value {
    json!({ "no_reason_days": 7,
            "exempt_goods": ["customised", "perishable", "digital_delivery", "periodical"],
            "return_shipping": "platform_first_weight", "auto_approve_ceiling_fen": 50000,
            "merchant_answer_hours": 48, "buyer_refund_rate_bps_max": 3000, "stalled_hours": 72,
            "mode": "enforced" })
}

async fn a_shops_policy_lengthens_its_window_names_who_pays_returns_and_survives_a_restart(backend: Backend) {
    let clock = Clock::system();
    let mut app = TestApp::spawn_with_manual_carriers(backend, &clock).await;
    let world = app.world().await;
    let sku = world.skus[1];
    assert_eq!(
        app.get(POLICY, &world.merchant).await.assert_status(200),
        &default_policy()
    );

    let mut fifteen_days = default_policy();
    fifteen_days["no_reason_days"] = json!(15);
    fifteen_days["return_shipping"] = json!("shop");
    let set = app.put(POLICY, &world.merchant, fifteen_days.clone()).await;
    assert_eq!(set.assert_status(200), &fifteen_days);
    app.restart().await;
    assert_eq!(app.get(POLICY, &world.merchant).await.assert_status(200), &fifteen_days);

    // Ten days after delivery: past the platform's 7 days, within the shop's 15.
    let order = delivered_order(&app, &world, &clock, 1).await;
    clock.advance(10 * 24 * HOUR_MS);
    let opened = app
        .post("/v1/after-sales", &world.buyer_token, no_reason_return(order, sku, 1))
        .await;
    let body = opened.assert_status(201);
    assert_eq!(body["stage"], "awaiting_return", "{body}");
    assert_eq!(body["return_shipping"], "shop");
    // Another shop still runs the platform's default.
    let (_, other) = app.shop("别家小店").await;
    assert_eq!(app.get(POLICY, &other).await.assert_status(200), &default_policy());
}

async fn rules_in_shadow_record_their_verdict_and_leave_every_request_to_the_merchant(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let world = app.world().await;
    let mut shadow = default_policy();
    shadow["mode"] = json!("shadow");
    app.put(POLICY, &world.merchant, shadow).await.assert_status(200);

    let order = paid_order(&app, &world, 1).await;
    let opened = app.post("/v1/after-sales", &world.buyer_token, cancel(order)).await;
    let body = opened.assert_status(201);
    assert_eq!(body["stage"], "with_merchant", "{body}");
    let decision = &body["decision"];
    assert_eq!(
        (&decision["mode"], &decision["verdict"], &decision["acted"]),
        (&json!("shadow"), &json!("approve"), &json!("to_merchant"))
    );
    assert_eq!(decision["rules"][0]["code"], "not_yet_picked_up");
    assert!(
        refunds_of(&app, order).await.is_empty(),
        "nothing moves on a rule on trial"
    );
    assert_eq!(app.order(order).await["state"], "paid");
}

async fn a_policy_outside_the_law_or_the_platforms_limits_is_refused_and_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let world = app.world().await;
    let with = |field: &str, value: Value| {
        let mut policy = default_policy();
        policy[field] = value;
        policy
    };
    let refused = |field| (422, "invalid_after_sales_policy", field);
    let invalid = |field| (422, "invalid_field", field);
    let cases = [
        (with("no_reason_days", json!(6)), refused("no_reason_days")),
        (with("no_reason_days", json!(91)), refused("no_reason_days")),
        (
            with("exempt_goods", json!(["perishable", "perishable"])),
            refused("exempt_goods"),
        ),
        (with("exempt_goods", json!(["shoes"])), invalid("exempt_goods")),
        (
            with("auto_approve_ceiling_fen", json!(-1)),
            refused("auto_approve_ceiling_fen"),
        ),
        (
            with("merchant_answer_hours", json!(23)),
            refused("merchant_answer_hours"),
        ),
        (
            with("merchant_answer_hours", json!(70000)),
            refused("merchant_answer_hours"),
        ),
        (
            with("buyer_refund_rate_bps_max", json!(10001)),
            refused("buyer_refund_rate_bps_max"),
        ),
        (with("stalled_hours", json!(721)), refused("stalled_hours")),
        (with("return_shipping", json!("seller")), invalid("return_shipping")),
        (with("mode", json!("trial")), invalid("mode")),
        (
            with("no_reason_days", json!("7")),
            (400, "wrong_type", "no_reason_days"),
        ),
    ];
    for (policy, (status, code, field)) in cases {
        let answer = app.put(POLICY, &world.merchant, policy.clone()).await;
        answer.assert_problem(status, code);
        assert_eq!(answer.body["field"], field, "{policy}");
    }
    let mut partial = default_policy();
    partial.as_object_mut().unwrap().remove("mode");
    app.put(POLICY, &world.merchant, partial)
        .await
        .assert_problem(400, "missing_field");
    app.put(POLICY, &world.buyer_token, default_policy())
        .await
        .assert_problem(403, "forbidden");
    assert_eq!(
        app.get(POLICY, &world.merchant).await.assert_status(200),
        &default_policy()
    );
}

// ---- a refund the provider fails -------------------------------------------------------------

async fn a_refund_the_provider_fails_goes_to_the_platform_and_is_not_retried_blindly(backend: Backend) {
    let app = TestApp::spawn_with_remote_simpay(backend, |_| {}).await;
    let world = app.world().await;
    let order = paid_order(&app, &world, 1).await;
    // The money left the charge outside the platform (a refund at the provider's console):
    // the provider can no longer pay the request's refund and fails it.
    let intent = app.order(order).await["paid_by_payment_intent_id"].as_i64().unwrap();
    app.simpay()
        .refund(simpay::RefundRequest {
            reference: "console-refund-1".into(),
            charge_reference: format!("mdn-{}-{intent}-1", world.shop),
            amount_fen: 10990,
        })
        .await
        .unwrap();

    let opened = app
        .post(
            "/v1/after-sales",
            &world.buyer_token,
            refund_only(order, world.skus[1], 1),
        )
        .await;
    let id = opened.id();
    let with_platform = until_stage(&app, &world.buyer_token, id, "with_platform").await;
    let last = with_platform["timeline"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (&last["actor"], &last["stage"]),
        (&json!("provider"), &json!("with_platform"))
    );
    // Worker passes leave it with the platform: no refund is tried again on its own.
    for _ in 0..3 {
        miaodan_server::flows::payments::worker::run_once(app.state())
            .await
            .unwrap();
    }
    assert_eq!(request(&app, &world.buyer_token, id).await["stage"], "with_platform");
    let refunds = refunds_of(&app, order).await;
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0]["status"], "failed");

    // An operator approves again: a new refund is tried (and fails again, the money being
    // gone), so the request comes back to the platform, which closes it.
    let decide = format!("/v1/after-sales/{id}/decide");
    let approve = app.post(&decide, &app.admin, json!({ "decision": "approve" })).await;
    approve.assert_status(200);
    until_stage(&app, &world.buyer_token, id, "with_platform").await;
    assert_eq!(refunds_of(&app, order).await.len(), 2, "one refund per attempt");
    let refuse = app.post(&decide, &app.admin, json!({ "decision": "refuse" })).await;
    refuse.assert_status(200);
    assert_eq!(request(&app, &world.buyer_token, id).await["stage"], "closed");
}

async fn a_return_of_goods_not_yet_delivered_is_refused_and_opens_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let world = app.world().await;
    let order = paid_order(&app, &world, 2).await;
    for reason in ["no_reason", "quality_issue"] {
        let ask = json!({ "order_id": order, "kind": "return_and_refund", "reason": reason,
                          "lines": [{ "sku_id": world.skus[1], "quantity": 1 }] });
        let refused = app.post("/v1/after-sales", &world.buyer_token, ask).await;
        refused.assert_problem(409, "refused_by_rules");
        let body = &refused.body;
        assert_eq!(body["rules"][0]["code"], "not_yet_delivered", "{body}");
        assert!(body["rules"][0]["zh"].as_str().unwrap().contains("签收"), "{body}");
    }
    // Nor does a shop trying its rules in shadow get such a return to approve: a merchant could
    // then restock units still on their way to the buyer.
    let mut shadow = default_policy();
    shadow["mode"] = json!("shadow");
    app.put(POLICY, &world.merchant, shadow).await.assert_status(200);
    let ask = json!({ "order_id": order, "kind": "return_and_refund", "reason": "quality_issue",
                      "lines": [{ "sku_id": world.skus[1], "quantity": 1 }] });
    let refused = app.post("/v1/after-sales", &world.buyer_token, ask).await;
    refused.assert_problem(409, "refused_by_rules");
    assert_eq!(refused.body["rules"][0]["code"], "not_yet_delivered", "{}", refused.raw);
    let listed = app.get("/v1/after-sales", &world.merchant).await;
    assert_eq!(
        listed.assert_status(200)["items"],
        json!([]),
        "nothing went to the merchant"
    );
    // A refund without sending anything back is still the buyer's to ask.
    app.post(
        "/v1/after-sales",
        &world.buyer_token,
        refund_only(order, world.skus[1], 1),
    )
    .await
    .assert_status(201);
}

async fn a_flash_order_cancelled_after_payment_gives_the_buyer_their_flash_allowance_back(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let world = app.world().await;
    let (sku, warehouse) = (world.skus[0], world.warehouses[0]);
    let starts_at = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(1);
    let sale = app
        .post(
            "/v1/flash-sales",
            &world.merchant,
            json!({ "sku_id": sku, "warehouse_id": warehouse, "starts_at": starts_at.to_string(),
                    "ends_at": (starts_at + jiff::SignedDuration::from_secs(3600)).to_string(),
                    "price_fen": 990, "units": 2, "per_buyer_limit": 1 }),
        )
        .await;
    let sale = sale.assert_status(201)["id"].as_i64().unwrap();
    let tap_path = format!("/v1/flash-sales/{sale}/taps");
    let tapped = app.post(&tap_path, &world.buyer_token, json!({})).await;
    let order = tapped.assert_status(201)["order"]["id"].as_i64().unwrap();
    app.pay_order(&world.buyer_token, order).await;
    app.post(&tap_path, &world.buyer_token, json!({}))
        .await
        .assert_problem(409, "limit_reached");

    let id = app
        .post("/v1/after-sales", &world.buyer_token, cancel(order))
        .await
        .id();
    until_stage(&app, &world.buyer_token, id, "refunded").await;
    // The cancelled unit went back to the warehouse (as any paid order's), not to the sale:
    // the sale's other unit is still there, and the buyer may take it at once.
    assert_eq!(app.level(&world.merchant, sku, warehouse).await, (4, 1, 0));
    app.post(&tap_path, &world.buyer_token, json!({}))
        .await
        .assert_status(201);
    // A restart counts the same from the orders it reads back.
    app.restart().await;
    let (_, second) = app.buyer("李四").await;
    app.post(&tap_path, &world.buyer_token, json!({}))
        .await
        .assert_problem(409, "limit_reached");
    app.post(&tap_path, &second, json!({}))
        .await
        .assert_problem(409, "sold_out");
    assert_eq!(app.level(&world.merchant, sku, warehouse).await, (4, 1, 0));
}

async fn refunded_units_stay_taken_after_a_restart_though_settled_requests_leave_memory(backend: Backend) {
    // The provider runs apart, so it still holds the charge after the restart.
    let clock = Clock::system();
    let mut app = TestApp::spawn_with_remote_simpay(backend, |config| config.clock = clock.clone()).await;
    let world = app.world().await;
    let order = paid_order(&app, &world, 2).await;
    let sku = world.skus[1];
    let id = app
        .post("/v1/after-sales", &world.buyer_token, refund_only(order, sku, 1))
        .await
        .id();
    until_stage(&app, &world.buyer_token, id, "refunded").await;
    // Within the retention a restart reads the settled request back into memory (the store's
    // migration test checks that window); after it, a restart loads no settled request and the
    // refunded unit is read with the next one. Either way the refunded unit stays taken.
    for wait_ms in [0, 11 * 60_000] {
        clock.advance(wait_ms);
        app.restart().await;
        app.post("/v1/after-sales", &world.buyer_token, refund_only(order, sku, 2))
            .await
            .assert_problem(409, "quantity_not_requestable");
    }
    // A settled request takes no step, in memory or not.
    app.post(&format!("/v1/after-sales/{id}/withdraw"), &world.buyer_token, json!({}))
        .await
        .assert_problem(409, "after_sales_step_not_allowed");
    app.post(
        &format!("/v1/after-sales/{id}/receive"),
        &world.merchant,
        json!({ "inspection": "restock" }),
    )
    .await
    .assert_problem(409, "after_sales_step_not_allowed");
    let second = app
        .post("/v1/after-sales", &world.buyer_token, refund_only(order, sku, 1))
        .await;
    second.assert_status(201);
    until_stage(&app, &world.buyer_token, second.id(), "refunded").await;
    let refunds = refunds_of(&app, order).await;
    assert_eq!(refunds.len(), 2, "one refund per request");
}

// ---- goods classes ---------------------------------------------------------------------------

async fn a_perishable_products_no_reason_return_is_refused_unless_the_shop_covers_perishables(backend: Backend) {
    let clock = Clock::system();
    let app = TestApp::spawn_with_manual_carriers(backend, &clock).await;
    let world = app.world().await;
    let crab = json!({ "title": "阳澄湖大闸蟹", "goods_class": "perishable",
                       "skus": [{ "name": "4对8只", "price_fen": 19900 }] });
    let created = app.post("/v1/products", &world.merchant, crab).await;
    let product = created.assert_status(201).clone();
    assert_eq!(product["goods_class"], "perishable");
    let product_id = product["id"].as_i64().unwrap();
    let sku = product["skus"][0]["id"].as_i64().unwrap();
    app.stock(&world.merchant, sku, world.warehouses[0], 5).await;
    // A class the platform does not know is refused; `null` declares the goods ordinary.
    let path = format!("/v1/products/{product_id}");
    let fresh = app
        .patch(&path, &world.merchant, json!({ "goods_class": "fresh" }))
        .await;
    fresh.assert_problem(422, "invalid_field");
    assert_eq!(fresh.body["field"], "goods_class");
    let ordinary = app.patch(&path, &world.merchant, json!({ "goods_class": null })).await;
    assert_eq!(ordinary.assert_status(200)["goods_class"], Value::Null);
    let perishable = json!({ "goods_class": "perishable" });
    let declared = app.patch(&path, &world.merchant, perishable).await;
    assert_eq!(declared.assert_status(200)["goods_class"], "perishable");

    let order = delivered_order_of(&app, &world, &clock, sku, 1).await;
    let refused = app
        .post("/v1/after-sales", &world.buyer_token, no_reason_return(order, sku, 1))
        .await;
    refused.assert_problem(409, "refused_by_rules");
    assert_eq!(
        refused.body["rules"][0]["code"], "no_reason_exempt_goods",
        "{}",
        refused.raw
    );
    assert!(refused.body["rules"][0]["en"].as_str().unwrap().contains("perishable"));

    // The shop covers perishables in its own policy: the same return is approved.
    let mut covering = default_policy();
    covering["exempt_goods"] = json!(["customised", "digital_delivery", "periodical"]);
    app.put(POLICY, &world.merchant, covering).await.assert_status(200);
    let opened = app
        .post("/v1/after-sales", &world.buyer_token, no_reason_return(order, sku, 1))
        .await;
    let body = opened.assert_status(201);
    assert_eq!(body["stage"], "awaiting_return", "{body}");
    assert_eq!(body["decision"]["rules"][0]["code"], "no_reason_return_in_window");
}

// ---- exchanges ---------------------------------------------------------------------------------

/// A product of the world's shop in three SKUs: sizes M and L at ¥99, XL at ¥129; M and XL
/// stocked in the first warehouse, L split over both. Returns `[m, l, xl]`.
async fn shirts(app: &TestApp, world: &World) -> [i64; 3] {
    let skus = app.product(&world.merchant, "纯棉T恤", &[9900, 9900, 12900]).await;
    let [m, l, xl] = [skus[0], skus[1], skus[2]];
    app.stock(&world.merchant, m, world.warehouses[0], 5).await;
    app.stock(&world.merchant, l, world.warehouses[0], 2).await;
    app.stock(&world.merchant, l, world.warehouses[1], 1).await;
    app.stock(&world.merchant, xl, world.warehouses[0], 5).await;
    [m, l, xl]
}

fn exchange(order: i64, sku: i64, quantity: i64, wanted: i64) -> Value {
    json!({ "order_id": order, "kind": "exchange", "reason": "wrong_size",
            "lines": [{ "sku_id": sku, "quantity": quantity, "exchange_for": wanted }] })
}

async fn an_exchange_holds_its_replacement_and_sends_it_in_a_zero_price_order_shipped_like_any_order(backend: Backend) {
    let clock = Clock::system();
    let app = TestApp::spawn_with_manual_carriers(backend, &clock).await;
    let world = app.world().await;
    let [m, l, _] = shirts(&app, &world).await;
    let order = delivered_order_of(&app, &world, &clock, m, 2).await;
    assert_eq!(futures_sum(&app, &world, l).await, (3, 0, 0));

    let ask = exchange(order, m, 1, l);
    let first = app
        .post_with_key("/v1/after-sales", &world.buyer_token, "ex-1", ask.clone())
        .await;
    let body = first.assert_status(201).clone();
    assert_eq!(body["stage"], "awaiting_return", "{body}");
    assert_eq!(body["decision"]["rules"][0]["code"], "exchange_for_fault");
    assert_eq!(body["amount_fen"], 0);
    assert_eq!(
        body["replacements"],
        json!([{ "sku_id": m, "exchange_for": l, "quantity": 1 }])
    );
    assert_eq!(body["replacement_order_id"], Value::Null);
    let again = app
        .post_with_key("/v1/after-sales", &world.buyer_token, "ex-1", ask)
        .await;
    assert!(again.replayed);
    assert_eq!((again.status, &again.raw), (first.status, &first.raw));
    assert_eq!(futures_sum(&app, &world, l).await, (2, 1, 0), "one unit held, once");
    let id = first.id();
    let step = |name: &str| format!("/v1/after-sales/{id}/{name}");

    let parcel = json!({ "carrier": "sf", "waybill": "SF-RET-EXCHANGE-1" });
    let sent = app.post(&step("return-parcel"), &world.buyer_token, parcel).await;
    assert_eq!(sent.assert_status(200)["stage"], "return_in_transit");
    let restock = json!({ "inspection": "restock" });
    let received = app.post(&step("receive"), &world.merchant, restock.clone()).await;
    let received = received.assert_status(200).clone();
    assert_eq!(received["stage"], "exchanged", "{received}");
    assert_eq!(stages_of(&received).last(), Some(&"exchanged"));
    let replacement = received["replacement_order_id"].as_i64().expect("a replacement order");
    app.post(&step("receive"), &world.merchant, restock)
        .await
        .assert_problem(409, "after_sales_step_not_allowed");

    // The held unit is sold to the replacement; the returned one is back on sale.
    assert_eq!(futures_sum(&app, &world, l).await, (2, 0, 1));
    assert_eq!(futures_sum(&app, &world, m).await, (4, 0, 1));
    let placed = app.get(&format!("/v1/orders/{replacement}"), &world.buyer_token).await;
    let placed = placed.assert_status(200).clone();
    assert_eq!(
        (&placed["state"], &placed["total_fen"]),
        (&json!("paid"), &json!(0)),
        "{placed}"
    );
    assert_eq!(placed["paid_by_payment_intent_id"], Value::Null);
    assert_eq!(placed["lines"][0]["sku_id"], l);
    assert!(refunds_of(&app, order).await.is_empty(), "no money moves");
    assert_eq!(
        request(&app, &world.buyer_token, id).await["replacement_order_id"],
        replacement
    );

    // Shipped like any order, from where dispatch put it.
    let mut shipped = false;
    for warehouse in world.warehouses {
        let path = format!("/v1/orders/{replacement}/shipments");
        let answer = app
            .post(&path, &world.merchant, json!({ "warehouse_id": warehouse }))
            .await;
        shipped |= answer.status == 201;
    }
    assert!(shipped, "the replacement ships from one warehouse");
    assert_eq!(app.order(replacement).await["state"], "shipped");

    // Reconciliation sees no payment missing for an order nobody paid for.
    let day = miaodan_domain::time::shanghai::LocalDate::of(clock.now()).to_string();
    let report = app.get(&format!("/v1/reconciliation?date={day}"), &app.admin).await;
    let report = report.assert_status(200).clone();
    let kinds: Vec<&str> = report["mismatches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert!(!kinds.contains(&"paid_without_capture"), "{report}");
}

async fn an_exchange_for_another_products_sku_another_price_or_missing_stock_is_refused_and_changes_nothing(
    backend: Backend,
) {
    let clock = Clock::system();
    let app = TestApp::spawn_with_manual_carriers(backend, &clock).await;
    let world = app.world().await;
    let [m, l, xl] = shirts(&app, &world).await;
    let order = delivered_order_of(&app, &world, &clock, m, 2).await;
    // One unit of size L left, for an exchange of two.
    app.stock(&world.merchant, l, world.warehouses[0], 1).await;
    app.stock(&world.merchant, l, world.warehouses[1], 0).await;

    let mut without = exchange(order, m, 1, l);
    without["lines"][0].as_object_mut().unwrap().remove("exchange_for");
    let mut on_a_return = no_reason_return(order, m, 1);
    on_a_return["lines"][0]["exchange_for"] = json!(l);
    let cases: [(Value, u16, &str); 5] = [
        (
            exchange(order, m, 1, world.skus[1]),
            422,
            "replacement_not_exchangeable",
        ),
        (exchange(order, m, 1, xl), 422, "replacement_price_differs"),
        (exchange(order, m, 2, l), 409, "replacement_out_of_stock"),
        (without, 422, "invalid_field"),
        (on_a_return, 422, "invalid_field"),
    ];
    for (body, status, code) in cases {
        let answer = app.post("/v1/after-sales", &world.buyer_token, body.clone()).await;
        answer.assert_problem(status, code);
        assert!(
            answer.body["field"].as_str().unwrap().starts_with("lines"),
            "{body}: {}",
            answer.raw
        );
    }
    let listed = app.get("/v1/after-sales", &world.buyer_token).await;
    assert_eq!(listed.assert_status(200)["items"], json!([]), "nothing was opened");
    assert_eq!(futures_sum(&app, &world, l).await, (1, 0, 0), "nothing was held");

    // Another buyer cannot ask, another shop cannot see or receive; withdrawing releases.
    let (_, other_buyer) = app.buyer("李四").await;
    let (_, other_merchant) = app.shop("别家小店").await;
    app.post("/v1/after-sales", &other_buyer, exchange(order, m, 1, l))
        .await
        .assert_problem(404, "not_found");
    let id = app
        .post("/v1/after-sales", &world.buyer_token, exchange(order, m, 1, l))
        .await
        .id();
    assert_eq!(futures_sum(&app, &world, l).await, (0, 1, 0));
    app.get(&format!("/v1/after-sales/{id}"), &other_buyer)
        .await
        .assert_problem(404, "not_found");
    app.post(
        &format!("/v1/after-sales/{id}/receive"),
        &other_merchant,
        json!({ "inspection": "restock" }),
    )
    .await
    .assert_problem(404, "not_found");
    let withdrawn = app
        .post(&format!("/v1/after-sales/{id}/withdraw"), &world.buyer_token, json!({}))
        .await;
    assert_eq!(withdrawn.assert_status(200)["stage"], "closed");
    assert_eq!(futures_sum(&app, &world, l).await, (1, 0, 0), "released");
}
