//! `Idempotency-Key` on every mutating endpoint: replays, reuse, invalid keys, shard refusals.

use super::support::*;

both_backends!(
    every_mutating_endpoint_replays_a_repeated_key_and_refuses_a_reused_one,
    an_invalid_idempotency_key_is_refused_on_every_mutating_endpoint_and_changes_nothing,
    refusals_decided_by_a_shard_are_replayed_byte_for_byte,
    a_caller_reads_back_what_its_own_key_produced_and_no_one_elses,
);

pub const STORED_ANSWER: &str = "/v1/idempotency-keys/{key}";

/// Reading back what an `Idempotency-Key` produced: any role, for its own keys (here A's
/// buyer's key of its one-tap agreement).
pub fn stored_answer_endpoints(t: &Tenants) -> Vec<Endpoint> {
    let path = format!("/v1/idempotency-keys/{}", t.a.agreement_key);
    vec![Endpoint {
        route: STORED_ANSWER,
        call: Call::get(path, &t.a.buyer_token),
        role: None,
        auth: Auth::Token,
    }]
}

async fn a_caller_reads_back_what_its_own_key_produced_and_no_one_elses(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenants(&app).await;
    let (a, b) = (&t.a, &t.b);
    let stored = |token: &str, key: &str| Call::get(format!("/v1/idempotency-keys/{key}"), token);
    // A's buyer reads the answer its key got: the agreement as it was created.
    let own = stored(&a.buyer_token, &a.agreement_key).send(&app).await;
    let own = own.assert_status(200).clone();
    assert_eq!(
        (&own["key"], &own["status"], &own["body"]["id"]),
        (&json!(a.agreement_key), &json!(201), &json!(a.agreement))
    );
    assert!(own["stored_at"].as_str().unwrap().ends_with('Z'), "{own}");
    // A retry with the key gets exactly that answer.
    let retried = app
        .post_with_key(
            "/v1/one-tap-agreements",
            &a.buyer_token,
            &a.agreement_key,
            one_tap_agreement("sim-one-tap"),
        )
        .await;
    assert!(retried.replayed);
    assert_eq!(retried.assert_status(201), &own["body"]);
    // Keys are the caller's own: B's key, A's key asked by another role or by B, and a key
    // never used all answer 404 alike; a key that cannot be one is 400.
    let not_found = (404, "not_found", None);
    let cases = vec![
        (stored(&a.buyer_token, &b.agreement_key), not_found),
        (stored(&b.buyer_token, &a.agreement_key), not_found),
        (stored(&a.merchant, &a.agreement_key), not_found),
        (stored(&app.admin, &a.agreement_key), not_found),
        (stored(&a.buyer_token, "never-used"), not_found),
        (
            stored(&a.buyer_token, &"k".repeat(256)),
            (400, "invalid_idempotency_key", Some("key")),
        ),
        (
            stored(&a.buyer_token, "a%20b"),
            (400, "invalid_idempotency_key", Some("key")),
        ),
        (
            stored(&a.buyer_token, "%E7%A7%92"),
            (400, "invalid_idempotency_key", Some("key")),
        ),
        (
            stored(&a.buyer_token, "%FF"),
            (400, "invalid_idempotency_key", Some("key")),
        ),
    ];
    expect_refusals(&app, &t, &cases).await;
    // A refusal decided by a shard is stored like a success; a key with a percent-encoded `/`
    // is read back as it was sent.
    let key = "refund/over-the-capture";
    let refused = app
        .post_with_key(
            &format!("/v1/orders/{}/refunds", a.paid_order),
            &a.merchant,
            key,
            json!({ "amount_fen": 999_999 }),
        )
        .await;
    refused.assert_problem(409, "refund_exceeds_captured");
    let answer = stored(&a.merchant, "refund%2Fover-the-capture").send(&app).await;
    let answer = answer.assert_status(200);
    assert_eq!((&answer["key"], &answer["status"]), (&json!(key), &json!(409)));
    assert_eq!(answer["body"], refused.body);
    // It outlives a restart: the index of keys is rebuilt from the store.
    let mut app = app;
    app.restart().await;
    let again = stored(&a.buyer_token, &a.agreement_key).send(&app).await;
    assert_eq!(again.assert_status(200), &own);
    app.shutdown().await;
}

/// Per endpoint that takes a key: a request, and another request to the same endpoint.
pub fn keyed_pairs(app: &TestApp, t: &Tenants, keyed: &Keyed) -> Vec<(Call, Call)> {
    let (a, b) = (&t.a, &t.b);
    let post = |path: String, token: &str, body: Value| Call::new(Method::POST, path, token).json(&body);
    let patch = |path: String, body: Value| Call::new(Method::PATCH, path, &a.merchant).json(&body);
    let put = |path: String, body: Value| Call::new(Method::PUT, path, &a.merchant).json(&body);
    let admin = &app.admin;
    let stock_path = format!("/v1/skus/{}/stock/{}", a.sku, a.warehouse);
    let [to_cancel, to_pay, other] = keyed.orders;
    let [_, to_pay_checkout, other_checkout] = keyed.checkouts;
    let confirm = format!("/v1/payment-intents/{}/confirm", keyed.intent);
    let refund = format!("/v1/orders/{to_pay}/refunds");
    let settings_path = format!("/v1/warehouses/{}/fulfillment", a.warehouse);
    let mut busier = fulfillment_settings();
    busier["orders_per_hour"] = json!(600);
    let shortage_path = format!("/v1/warehouses/{}/shortages", a.warehouse);
    let ship = format!("/v1/orders/{}/shipments", a.paid_order);
    let step = |id: i64, step: &str| format!("/v1/after-sales/{id}/{step}");
    let (approve_it, refuse_it, withdraw_it) = (a.claim_to_approve, a.claim_to_refuse, a.claim_to_withdraw);
    let mut claimed = claim(a.claim_order, a.claim_sku);
    claimed["reason"] = json!("wrong_item");
    let after_sales = vec![
        (
            post(
                "/v1/after-sales".into(),
                &a.buyer_token,
                claim(a.claim_order, a.claim_sku),
            ),
            post("/v1/after-sales".into(), &a.buyer_token, claimed),
        ),
        (
            post(step(approve_it, "approve"), &a.merchant, json!({})),
            post(step(withdraw_it, "approve"), &a.merchant, json!({})),
        ),
        (
            post(step(refuse_it, "refuse"), &a.merchant, json!({})),
            post(step(withdraw_it, "refuse"), &a.merchant, json!({})),
        ),
        (
            post(step(refuse_it, "appeal"), &a.buyer_token, json!({})),
            post(step(withdraw_it, "appeal"), &a.buyer_token, json!({})),
        ),
        (
            post(step(a.claim_appealed, "decide"), admin, json!({ "decision": "refuse" })),
            post(
                step(a.claim_appealed, "decide"),
                admin,
                json!({ "decision": "approve" }),
            ),
        ),
        (
            post(step(withdraw_it, "withdraw"), &a.buyer_token, json!({})),
            post(step(approve_it, "withdraw"), &a.buyer_token, json!({})),
        ),
        (
            post(
                step(a.claim_to_return, "return-parcel"),
                &a.buyer_token,
                json!({ "carrier": "zto", "waybill": "ZTO-RET-000003" }),
            ),
            post(
                step(a.claim_to_return, "return-parcel"),
                &a.buyer_token,
                json!({ "carrier": "sf", "waybill": "SF-RET-000003" }),
            ),
        ),
        (
            Call::new(Method::PUT, "/v1/after-sales/policy".to_string(), &a.merchant)
                .json(&super::after_sales::policy()),
            Call::new(Method::PUT, "/v1/after-sales/policy".to_string(), &a.merchant).json(&{
                let mut other = super::after_sales::policy();
                other["no_reason_days"] = json!(30);
                other
            }),
        ),
        (
            post(
                step(a.claim_to_return, "receive"),
                &a.merchant,
                json!({ "inspection": "restock" }),
            ),
            post(
                step(a.claim_to_return, "receive"),
                &a.merchant,
                json!({ "inspection": "write_off" }),
            ),
        ),
    ];
    let rules = |note: &str| json!({ "note": note, "rule_set": super::events::standard_rule_set() });
    let answer = format!("/v1/risk/challenges/{}/answer", a.challenge);
    let messages = format!("/v1/assistant/conversations/{}/messages", a.conversation);
    let replies = format!("/v1/assistant/conversations/{}/replies", a.handed_conversation);
    let others = vec![
        (
            post(replies.clone(), admin, json!({ "text": "您好，我来帮您看看。" })),
            post(replies, admin, json!({ "text": "稍等，马上处理。" })),
        ),
        (
            post("/v1/assistant/conversations".into(), &a.buyer_token, json!({})),
            post(
                "/v1/assistant/conversations".into(),
                &a.buyer_token,
                json!({ "lang": "en" }),
            ),
        ),
        (
            post(messages.clone(), &a.buyer_token, json!({ "text": "我的订单到哪了？" })),
            post(messages, &a.buyer_token, json!({ "text": "where is my parcel?" })),
        ),
        (
            post("/v1/risk/rules".into(), admin, rules("同样的规则")),
            post("/v1/risk/rules".into(), admin, rules("又一版")),
        ),
        (
            post(answer.clone(), &a.buyer_token, json!({ "answer": a.challenge_answer })),
            post(answer, &a.buyer_token, json!({ "answer": "0" })),
        ),
        (
            put(
                format!("/v1/flash-sales/{}/risk-mode", a.sale),
                json!({ "strict": true }),
            ),
            put(
                format!("/v1/flash-sales/{}/risk-mode", a.sale),
                json!({ "strict": false }),
            ),
        ),
        (
            patch(format!("/v1/shops/{}", a.shop), json!({ "category": "food" })),
            patch(format!("/v1/shops/{}", a.shop), json!({ "category": "home" })),
        ),
        (
            post("/v1/compass/diagnosis".into(), &a.merchant, json!({})),
            post(
                "/v1/compass/diagnosis".into(),
                &a.merchant,
                json!({ "last_day": "2026-11-07" }),
            ),
        ),
        (
            post("/v1/shops".into(), admin, json!({ "name": "幂等店" })),
            post("/v1/shops".into(), admin, json!({ "name": "别的店" })),
        ),
        (
            post(format!("/v1/shops/{}/tokens", a.shop), admin, json!({ "label": "一" })),
            post(format!("/v1/shops/{}/tokens", a.shop), admin, json!({ "label": "二" })),
        ),
        (
            post("/v1/buyers".into(), admin, json!({ "name": "幂等买家" })),
            post("/v1/buyers".into(), admin, json!({ "name": "别的买家" })),
        ),
        (
            post(format!("/v1/buyers/{}/tokens", a.buyer), admin, json!({})),
            post(format!("/v1/buyers/{}/tokens", b.buyer), admin, json!({})),
        ),
        (
            post("/v1/edge-tokens".into(), admin, json!({ "label": "一" })),
            post("/v1/edge-tokens".into(), admin, json!({ "label": "二" })),
        ),
        (
            post(
                "/v1/warehouses".into(),
                &a.merchant,
                json!({ "name": "北京仓", "adcode": "110101000000" }),
            ),
            post(
                "/v1/warehouses".into(),
                &a.merchant,
                json!({ "name": "天津仓", "adcode": "110101000000" }),
            ),
        ),
        (
            post(
                "/v1/products".into(),
                &a.merchant,
                json!({ "title": "新品", "skus": [{ "name": "标准", "price_fen": 100 }] }),
            ),
            post(
                "/v1/products".into(),
                &a.merchant,
                json!({ "title": "另一新品", "skus": [{ "name": "标准", "price_fen": 100 }] }),
            ),
        ),
        (
            patch(format!("/v1/products/{}", a.product), json!({ "title": "改名" })),
            patch(format!("/v1/products/{}", a.product), json!({ "title": "再改名" })),
        ),
        (
            post(
                format!("/v1/products/{}/skus", a.product),
                &a.merchant,
                json!({ "name": "大包", "price_fen": 100 }),
            ),
            post(
                format!("/v1/products/{}/skus", a.product),
                &a.merchant,
                json!({ "name": "大包", "price_fen": 200 }),
            ),
        ),
        (
            patch(format!("/v1/skus/{}", a.sku), json!({ "price_fen": 6000 })),
            patch(format!("/v1/skus/{}", a.sku), json!({ "price_fen": 7000 })),
        ),
        (
            put(stock_path.clone(), json!({ "available": 20 })),
            put(stock_path.clone(), json!({ "available": 21 })),
        ),
        (
            post(
                "/v1/checkouts".into(),
                &a.buyer_token,
                json!({ "lines": [{ "sku_id": a.sku, "quantity": 1 }] }),
            ),
            post(
                "/v1/checkouts".into(),
                &a.buyer_token,
                json!({ "lines": [{ "sku_id": a.sku, "quantity": 2 }] }),
            ),
        ),
        (
            post(format!("/v1/orders/{to_cancel}/cancel"), &a.buyer_token, json!({})),
            post(format!("/v1/orders/{other}/cancel"), &a.buyer_token, json!({})),
        ),
        (
            post(
                "/v1/payment-intents".into(),
                &a.buyer_token,
                json!({ "checkout_id": to_pay_checkout }),
            ),
            post(
                "/v1/payment-intents".into(),
                &a.buyer_token,
                json!({ "checkout_id": other_checkout }),
            ),
        ),
        (
            post(confirm.clone(), &a.buyer_token, json!({ "credential": "wallet-1" })),
            post(confirm.clone(), &a.buyer_token, json!({ "credential": "wallet-2" })),
        ),
        (
            post(refund.clone(), &a.merchant, json!({ "amount_fen": 100 })),
            post(refund.clone(), &a.merchant, json!({ "amount_fen": 200 })),
        ),
        (
            post(
                "/v1/one-tap-agreements".into(),
                &a.buyer_token,
                one_tap_agreement("sim-one-tap-1"),
            ),
            post(
                "/v1/one-tap-agreements".into(),
                &a.buyer_token,
                one_tap_agreement("sim-one-tap-2"),
            ),
        ),
        (
            post("/v1/flash-sales".into(), &a.merchant, flash_sale(a.sku, a.warehouse, 1)),
            post("/v1/flash-sales".into(), &a.merchant, flash_sale(a.sku, a.warehouse, 2)),
        ),
        (
            post(format!("/v1/flash-sales/{}/taps", a.sale), &a.buyer_token, json!({})),
            post(format!("/v1/flash-sales/{}/taps", b.sale), &a.buyer_token, json!({})),
        ),
        (
            post(
                format!("/v1/flash-sales/{}/taps/batch", a.sale),
                &t.edge,
                super::flash_sales::edge_taps(t, "keyed"),
            ),
            post(
                format!("/v1/flash-sales/{}/taps/batch", b.sale),
                &t.edge,
                super::flash_sales::edge_taps(t, "keyed"),
            ),
        ),
        (
            post(
                format!("/v1/flash-sales/{}/top-up", a.spare_sale),
                &a.merchant,
                json!({ "units": 1 }),
            ),
            post(
                format!("/v1/flash-sales/{}/top-up", a.spare_sale),
                &a.merchant,
                json!({ "units": 2 }),
            ),
        ),
        (
            post(format!("/v1/flash-sales/{}/end", a.spare_sale), &a.merchant, json!({})),
            post(format!("/v1/flash-sales/{}/end", a.sale), &a.merchant, json!({})),
        ),
        (
            put(settings_path.clone(), fulfillment_settings()),
            put(settings_path.clone(), busier),
        ),
        (
            post(
                shortage_path.clone(),
                &a.merchant,
                json!({ "sku_id": a.sku, "missing_units": 1 }),
            ),
            post(
                shortage_path.clone(),
                &a.merchant,
                json!({ "sku_id": a.sku, "missing_units": 2 }),
            ),
        ),
        (
            post(ship.clone(), &a.merchant, json!({ "warehouse_id": a.warehouse })),
            post(
                ship.clone(),
                &a.merchant,
                json!({ "warehouse_id": a.warehouse, "carrier": "jd" }),
            ),
        ),
        (
            post(
                "/v1/shipments/bulk".into(),
                &a.merchant,
                json!({ "order_ids": [a.paid_order] }),
            ),
            post(
                "/v1/shipments/bulk".into(),
                &a.merchant,
                json!({ "order_ids": [a.paid_order, other] }),
            ),
        ),
        (
            put("/v1/package-center/sla-rules".into(), sla_rules(2 * 24 * 3600)),
            put("/v1/package-center/sla-rules".into(), sla_rules(3 * 24 * 3600)),
        ),
    ];
    [
        others,
        after_sales,
        super::webhooks::keyed_pairs(app, t),
        super::staff::keyed_pairs(t),
        super::penalties::keyed_pairs(app, t),
    ]
    .concat()
}

/// Three more pending orders of A's buyer (one to cancel, one to pay, one left alone), their
/// checkouts, and the payment intent opened for the one to pay.
pub struct Keyed {
    pub orders: [i64; 3],
    pub checkouts: [i64; 3],
    pub intent: i64,
}

pub async fn three_orders(app: &TestApp, t: &Tenants) -> Keyed {
    let (mut orders, mut checkouts) = ([0; 3], [0; 3]);
    for i in 0..3 {
        let placed = app.checkout(&t.a.buyer_token, &[(t.a.sku, 1)]).await;
        orders[i] = placed.assert_status(201)["orders"][0]["id"].as_i64().unwrap();
        checkouts[i] = placed.body["checkout_id"].as_i64().unwrap();
    }
    let opened = app.open_intent(&t.a.buyer_token, checkouts[1]).await;
    let intent = opened.assert_status(201)["id"].as_i64().unwrap();
    Keyed {
        orders,
        checkouts,
        intent,
    }
}

async fn every_mutating_endpoint_replays_a_repeated_key_and_refuses_a_reused_one(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenants(&app).await;
    let keyed = three_orders(&app, &t).await;
    let pairs = keyed_pairs(&app, &t, &keyed);
    assert_eq!(
        pairs.len(),
        endpoints(&app, &t).iter().filter(|e| takes_idempotency_key(e)).count(),
        "one pair per endpoint that takes a key"
    );
    for (i, (request, other)) in pairs.into_iter().enumerate() {
        // Keys are the caller's, not the endpoint's: one per request, each as long as allowed.
        let key = HeaderValue::from_str(&format!("{}-{i:04}", "k".repeat(250))).unwrap();
        let case = request.label();
        let first = request.clone().key(key.clone()).send(&app).await;
        assert_success(&first, &case);
        assert!(!first.replayed, "{case}: the first answer is no replay");
        let done = snapshot(&app, &t).await;
        let again = request.clone().key(key.clone()).send(&app).await;
        assert!(again.replayed, "{case}: idempotent-replayed is set");
        // A token's secret is never stored, so its replay is the first answer with the
        // secret redacted (see `a_replayed_token_issuance_does_not_reveal_the_secret`).
        // So is a webhook endpoint's signing secret.
        let expected = match (first.body["token"].as_str(), first.body["secret"].as_str()) {
            (Some(secret), _) => first
                .raw
                .replace(secret, miaodan_server::http::platform::REDACTED_SECRET),
            (None, Some(secret)) => first
                .raw
                .replace(secret, miaodan_server::http::webhooks::REDACTED_SECRET),
            (None, None) => first.raw.clone(),
        };
        assert_eq!(
            (again.status, &again.content_type, &again.raw),
            (first.status, &first.content_type, &expected),
            "{case}: replayed byte for byte"
        );
        assert!(snapshot(&app, &t).await == done, "{case}: a replay changed something");
        let reused = other.clone().key(key.clone()).send(&app).await;
        assert_refused(
            &reused,
            (422, "idempotency_key_reused", Some("Idempotency-Key")),
            &other.label(),
        );
        assert!(
            snapshot(&app, &t).await == done,
            "{case}: a reused key changed something"
        );
    }
    // The cancelled order stayed cancelled and the paid one paid (once, with one refund of
    // 100 fen); the third is untouched.
    let intent = app
        .get(&format!("/v1/payment-intents/{}", keyed.intent), &app.admin)
        .await;
    assert_eq!(intent.assert_status(200)["status"], "captured");
    assert_eq!(intent.body["attempts"], 1);
    let refunds: Vec<_> = intent.body["refunds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["amount_fen"])
        .collect();
    assert_eq!(refunds, vec![&json!(100)]);
    let mut states = Vec::new();
    for id in keyed.orders {
        states.push(app.get(&format!("/v1/orders/{id}"), &t.a.buyer_token).await.body["state"].clone());
    }
    assert_eq!(
        states,
        vec![json!("cancelled"), json!("paid"), json!("pending_payment")]
    );
    app.shutdown().await;
}

async fn an_invalid_idempotency_key_is_refused_on_every_mutating_endpoint_and_changes_nothing(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenants(&app).await;
    let keyed = three_orders(&app, &t).await;
    let bad_keys = [
        HeaderValue::from_static(""),
        HeaderValue::from_str(&"k".repeat(256)).unwrap(),
        HeaderValue::from_str(&"k".repeat(300)).unwrap(),
        HeaderValue::from_bytes("键".as_bytes()).unwrap(),
        HeaderValue::from_static("two words"),
        HeaderValue::from_static("tab\there"),
    ];
    let mut cases = Vec::new();
    for (request, _) in keyed_pairs(&app, &t, &keyed) {
        for key in &bad_keys {
            let refusal = (400, "invalid_idempotency_key", Some("Idempotency-Key"));
            cases.push((request.clone().key(key.clone()), refusal));
        }
    }
    expect_refusals_in_bulk(&app, &t, &cases).await;
    app.shutdown().await;
}

async fn refusals_decided_by_a_shard_are_replayed_byte_for_byte(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenants(&app).await;
    let (a, b) = (&t.a, &t.b);
    let as_a = |method: Method, path: String, body: Value| Call::new(method, path, &a.merchant).json(&body);
    let cases = vec![
        (
            as_a(Method::PATCH, format!("/v1/skus/{}", b.sku), json!({ "price_fen": 1 })),
            (404, "not_found", None),
        ),
        (
            as_a(
                Method::PATCH,
                format!("/v1/products/{}", b.product),
                json!({ "title": "改" }),
            ),
            (404, "unknown_product", None),
        ),
        (
            as_a(
                Method::POST,
                format!("/v1/products/{}/skus", b.product),
                json!({ "name": "大包", "price_fen": 1 }),
            ),
            (404, "unknown_product", None),
        ),
        (
            as_a(
                Method::PUT,
                format!("/v1/skus/{}/stock/{}", b.sku, a.warehouse),
                json!({ "available": 1 }),
            ),
            (404, "not_found", None),
        ),
        (
            as_a(
                Method::PUT,
                format!("/v1/skus/{}/stock/{}", a.sku, b.warehouse),
                json!({ "available": 1 }),
            ),
            (404, "unknown_warehouse", Some("warehouse_id")),
        ),
        (
            as_a(
                Method::PUT,
                format!("/v1/skus/{}/stock/{}", a.sku, a.warehouse),
                json!({ "available": -1 }),
            ),
            (422, "invalid_stock", Some("available")),
        ),
        (
            Call::new(Method::POST, "/v1/checkouts", &a.buyer_token)
                .json(&json!({ "lines": [{ "sku_id": a.sku, "quantity": 100 }] })),
            (409, "insufficient_stock", Some("lines[0].quantity")),
        ),
        (
            as_a(
                Method::POST,
                "/v1/flash-sales".into(),
                flash_sale(a.sku, a.warehouse, 100),
            ),
            (409, "insufficient_stock", Some("units")),
        ),
        (
            as_a(
                Method::POST,
                "/v1/flash-sales".into(),
                flash_sale(b.sku, a.warehouse, 1),
            ),
            (404, "unknown_sku", Some("sku_id")),
        ),
        (
            as_a(
                Method::POST,
                format!("/v1/orders/{}/refunds", a.paid_order),
                json!({ "amount_fen": 5991 }),
            ),
            (409, "refund_exceeds_captured", Some("amount_fen")),
        ),
        (
            as_a(
                Method::PUT,
                format!("/v1/warehouses/{}/fulfillment", b.warehouse),
                fulfillment_settings(),
            ),
            (404, "unknown_warehouse", Some("warehouse_id")),
        ),
        (
            as_a(
                Method::PUT,
                format!("/v1/warehouses/{}/fulfillment", a.warehouse),
                json!({ "shifts": [], "orders_per_hour": 1, "orders_per_day": 1, "cutoffs": [] }),
            ),
            (422, "invalid_fulfillment_settings", None),
        ),
        (
            as_a(
                Method::POST,
                format!("/v1/warehouses/{}/shortages", a.warehouse),
                json!({ "sku_id": b.sku, "missing_units": 1 }),
            ),
            (404, "unknown_sku", Some("sku_id")),
        ),
        (
            as_a(
                Method::POST,
                format!("/v1/warehouses/{}/shortages", a.warehouse),
                json!({ "sku_id": a.sku, "missing_units": 100 }),
            ),
            (409, "shortage_exceeds_stock", Some("missing_units")),
        ),
        (
            as_a(
                Method::POST,
                format!("/v1/orders/{}/shipments", a.order),
                json!({ "warehouse_id": a.warehouse, "waybill_no": "SF1234567890" }),
            ),
            (409, "order_not_dispatched", None),
        ),
        (
            as_a(
                Method::POST,
                format!("/v1/orders/{}/shipments", a.shipped_order),
                json!({ "warehouse_id": a.warehouse }),
            ),
            (409, "shipment_exists", None),
        ),
        (
            as_a(Method::PUT, "/v1/package-center/sla-rules".into(), sla_rules(1)),
            (422, "invalid_sla_rules", Some("not_picked_up_within_s")),
        ),
    ];
    let before = snapshot(&app, &t).await;
    for (i, (call, refusal)) in cases.into_iter().enumerate() {
        let call = call.key(HeaderValue::from_str(&format!("refused-{i}")).unwrap());
        let first = call.send(&app).await;
        assert_refused(&first, refusal, &call.label());
        let again = call.send(&app).await;
        assert_refused(&again, refusal, &call.label());
        assert!(again.replayed, "{}: the refusal is stored", call.label());
        assert_eq!(again.raw, first.raw, "{}: replayed byte for byte", call.label());
    }
    assert!(snapshot(&app, &t).await == before, "a refusal changed something");
    app.shutdown().await;
}
