//! Who may call what: missing or bad tokens, wrong roles, another tenant's objects, listings.

use super::support::*;

both_backends!(
    every_endpoint_refuses_a_missing_or_invalid_token_before_reading_the_body,
    every_role_restricted_endpoint_forbids_the_other_roles,
    another_tenants_objects_answer_like_missing_ones_and_stay_unchanged,
    listings_show_only_the_callers_own_objects,
);

/// Authorization headers that name no caller.
pub fn bad_credentials(app: &TestApp, t: &Tenants) -> Vec<Option<HeaderValue>> {
    let secret = app.admin.rsplit('_').next().unwrap();
    let mut values: Vec<HeaderValue> = [
        "Basic YWRtaW46YWRtaW4=".to_string(),
        "Bearer".into(),
        "Bearer mdn_".into(),
        "Bearer mdn_1".into(),
        "Bearer mdn_1_".into(),
        "Bearer not-a-token".into(),
        "Bearer mdn_abc_def".into(),
        format!("Bearer {}", flip_last(&app.admin)),
        format!("Bearer {}", flip_last(&t.a.merchant)),
        format!("Bearer {}", flip_last(&t.a.buyer_token)),
        format!("Bearer mdn_999999_{secret}"),
        format!("Bearer mdn_-1_{secret}"),
        format!("Bearer mdn_99999999999999999999_{secret}"),
        format!("Token {}", app.admin),
        app.admin.clone(),
    ]
    .iter()
    .map(|v| HeaderValue::from_str(v).unwrap())
    .collect();
    values.push(HeaderValue::from_bytes("Bearer 秒单".as_bytes()).unwrap());
    std::iter::once(None).chain(values.into_iter().map(Some)).collect()
}

async fn every_endpoint_refuses_a_missing_or_invalid_token_before_reading_the_body(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenants(&app).await;
    let mut cases = Vec::new();
    let endpoints = endpoints(&app, &t);
    // The providers' webhooks take a signature, not a token (see `webhook_refusals`), and
    // delivery options are anyone's to ask.
    for endpoint in endpoints.iter().filter(|e| e.auth == Auth::Token) {
        for credentials in bad_credentials(&app, &t) {
            let call = endpoint.call.clone().authorization(credentials);
            cases.push((call.clone(), (401, "unauthorized", None)));
            if call.body.is_some() {
                // Who asks is settled before what is asked.
                cases.push((call.raw(JSON, b"{".to_vec()), (401, "unauthorized", None)));
            }
        }
    }
    expect_refusals_in_bulk(&app, &t, &cases).await;
    for endpoint in endpoints.iter().filter(|e| e.auth == Auth::Public) {
        assert_eq!(endpoint.call.authorization, None, "{}", endpoint.route);
        endpoint.assert_answered(&endpoint.call.send(&app).await);
    }
    app.shutdown().await;
}

async fn every_role_restricted_endpoint_forbids_the_other_roles(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenants(&app).await;
    let endpoints = endpoints(&app, &t);
    let mut cases = Vec::new();
    for endpoint in &endpoints {
        let Some(role) = endpoint.role else { continue };
        for other in ROLES.into_iter().filter(|r| *r != role) {
            let token = token_of(&app, &t, other);
            let call = endpoint
                .call
                .clone()
                .authorization(Some(HeaderValue::from_str(&format!("Bearer {token}")).unwrap()));
            cases.push((call.clone(), (403, "forbidden", None)));
            if call.body.is_some() {
                cases.push((call.raw(JSON, b"{".to_vec()), (403, "forbidden", None)));
            }
        }
    }
    // Refunds are the decision of the shop's merchant or an operator, never of a buyer.
    let refunds = endpoints
        .iter()
        .find(|e| e.route == REFUNDS && e.call.method == Method::POST)
        .unwrap();
    let as_role = |role: Role| {
        let token = token_of(&app, &t, role);
        refunds
            .call
            .clone()
            .authorization(Some(HeaderValue::from_str(&format!("Bearer {token}")).unwrap()))
    };
    cases.push((as_role(Role::Buyer), (403, "forbidden", None)));
    cases.push((as_role(Role::Buyer).raw(JSON, b"{".to_vec()), (403, "forbidden", None)));
    // The event feed is a merchant's (their shop's) or an operator's, never a buyer's.
    let events = endpoints.iter().find(|e| e.route == super::events::EVENTS).unwrap();
    let events_as = |role: Role| {
        let token = token_of(&app, &t, role);
        events
            .call
            .clone()
            .authorization(Some(HeaderValue::from_str(&format!("Bearer {token}")).unwrap()))
    };
    cases.push((events_as(Role::Buyer), (403, "forbidden", None)));
    let compass = endpoints.iter().find(|e| e.route == super::events::COMPASS).unwrap();
    let compass_as = |role: Role| {
        let token = token_of(&app, &t, role);
        compass
            .call
            .clone()
            .authorization(Some(HeaderValue::from_str(&format!("Bearer {token}")).unwrap()))
    };
    cases.push((compass_as(Role::Buyer), (403, "forbidden", None)));
    for route in super::events::COMPASS_BREADTH {
        let breadth = endpoints.iter().find(|e| e.route == route).unwrap();
        let token = token_of(&app, &t, Role::Buyer);
        let call = breadth
            .call
            .clone()
            .authorization(Some(HeaderValue::from_str(&format!("Bearer {token}")).unwrap()));
        cases.push((call, (403, "forbidden", None)));
    }
    // Diagnosis reports and changing a shop are a merchant's (their shop's) or an operator's.
    let merchant_or_operator = [
        super::events::DIAGNOSIS,
        super::events::DIAGNOSIS_REPORT,
        super::events::DIAGNOSIS_PAGE,
        super::events::QUALITY_INDEX,
        "/v1/shops/{shop_id}",
        super::penalties::MERCHANT_OR_OPERATOR[0],
        super::penalties::MERCHANT_OR_OPERATOR[1],
        super::penalties::MERCHANT_OR_OPERATOR[2],
        super::penalties::MERCHANT_OR_OPERATOR[3],
        super::penalties::MERCHANT_OR_OPERATOR[4],
    ];
    for endpoint in endpoints.iter().filter(|e| merchant_or_operator.contains(&e.route)) {
        if endpoint.route == "/v1/shops/{shop_id}" && endpoint.call.method != Method::PATCH {
            continue;
        }
        let token = token_of(&app, &t, Role::Buyer);
        let call = endpoint
            .call
            .clone()
            .authorization(Some(HeaderValue::from_str(&format!("Bearer {token}")).unwrap()));
        cases.push((call, (403, "forbidden", None)));
    }
    // The live room (a sale's live view and stream, a shop's minutes) is not a buyer's either.
    let live_routes = [
        super::flash_sales::LIVE,
        super::flash_sales::LIVE_STREAM,
        super::events::COMPASS_STREAM,
        super::flash_sales::SALE_RISK,
    ];
    let live_as = |route: &str, role: Role| {
        let token = token_of(&app, &t, role);
        let live = endpoints.iter().find(|e| e.route == route).unwrap();
        live.call
            .clone()
            .authorization(Some(HeaderValue::from_str(&format!("Bearer {token}")).unwrap()))
    };
    for route in live_routes {
        cases.push((live_as(route, Role::Buyer), (403, "forbidden", None)));
    }
    // Topping up or ending a sale is its merchant's or an operator's, never a buyer's.
    let controls = [
        super::flash_sales::TOP_UP,
        super::flash_sales::END,
        super::flash_sales::SALE_RISK_MODE,
    ];
    for route in controls {
        let call = live_as(route, Role::Buyer);
        cases.push((call.clone(), (403, "forbidden", None)));
        cases.push((call.raw(JSON, b"{".to_vec()), (403, "forbidden", None)));
    }
    assert!(
        cases.len() >= 2 * 16,
        "every restricted endpoint is tried: {}",
        cases.len()
    );
    expect_refusals_in_bulk(&app, &t, &cases).await;
    // Each endpoint does answer its own role: the refusals above were the role's.
    for endpoint in endpoints.iter().filter(|e| e.role.is_some()) {
        endpoint.assert_answered(&endpoint.call.send(&app).await);
    }
    for role in [Role::Merchant, Role::Admin] {
        let call = as_role(role);
        assert_success(&call.send(&app).await, &call.label());
        let call = events_as(role);
        assert_success(&call.send(&app).await, &call.label());
        let call = compass_as(role);
        assert_success(&call.send(&app).await, &call.label());
        for route in live_routes {
            let call = live_as(route, role);
            assert_eq!(call.send(&app).await.status, 200, "{}", call.label());
        }
        let call = live_as(super::flash_sales::TOP_UP, role);
        assert_success(&call.send(&app).await, &call.label());
    }
    let call = live_as(super::flash_sales::END, Role::Admin);
    assert_success(&call.send(&app).await, &call.label());
    app.shutdown().await;
}

async fn another_tenants_objects_answer_like_missing_ones_and_stay_unchanged(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenants(&app).await;
    let b = &t.b;
    let pairs = tenant_pairs(&t);
    let before = snapshot(&app, &t).await;
    for (foreign, absent) in &pairs {
        let answer = foreign.send(&app).await;
        assert!(
            [404, 409, 422].contains(&answer.status.as_u16()),
            "{}: {}",
            foreign.label(),
            answer.raw
        );
        assert_eq!(answer.content_type, "application/problem+json", "{}", foreign.label());
        let like = absent.send(&app).await;
        // The same answer, but for the id a detail may quote.
        let shape = |a: &Answer| {
            let detail: String = a.body["detail"]
                .as_str()
                .unwrap()
                .chars()
                .filter(|c| !c.is_ascii_digit())
                .collect();
            (
                a.status,
                a.content_type.clone(),
                a.body["code"].clone(),
                a.body["field"].clone(),
                detail,
            )
        };
        assert_eq!(
            shape(&answer),
            shape(&like),
            "{} answers unlike a missing object",
            foreign.label()
        );
    }
    assert!(
        snapshot(&app, &t).await == before,
        "another tenant's object was changed"
    );
    // Nor did the owners' views move: B's order is still pending and its stock untouched.
    let sale = app.get(&format!("/v1/flash-sales/{}", b.sale), &b.merchant).await;
    assert_eq!(sale.assert_status(200)["remaining"], 2);
    let order = app.get(&format!("/v1/orders/{}", b.order), &b.buyer_token).await;
    assert_eq!(order.assert_status(200)["state"], "pending_payment");
    // (Its first SKU: one unit reserved by the order, one by the spare sale, one sold.)
    assert_eq!(app.level(&b.merchant, b.sku, b.warehouse).await, (7, 2, 1));
    // B's payment is still captured and unrefunded, and B's agreement still in force.
    let intent = app
        .get(&format!("/v1/payment-intents/{}", b.intent), &b.buyer_token)
        .await;
    assert_eq!(intent.assert_status(200)["status"], "captured");
    assert_eq!(intent.body["refunds"], json!([]));
    let agreements = app.get("/v1/one-tap-agreements", &b.buyer_token).await;
    assert_eq!(ids(&agreements.assert_status(200)["items"]), vec![b.agreement]);
    assert_eq!(agreements.body["items"][0]["revoked_at"], Value::Null);
    // B's paid order still waits for its shipment, B's shipped one has only its own, and B's
    // warehouse works as it did.
    for (order, expected) in [(b.paid_order, vec![]), (b.shipped_order, vec![b.shipment])] {
        let shipments = app.get(&format!("/v1/orders/{order}/shipments"), &b.merchant).await;
        assert_eq!(ids(&shipments.assert_status(200)["items"]), expected);
    }
    let settings = app
        .get(&format!("/v1/warehouses/{}/fulfillment", b.warehouse), &b.merchant)
        .await;
    assert_eq!(settings.assert_status(200)["orders_per_hour"], 500);
    app.shutdown().await;
}

/// (another tenant's object, a missing one), for A's merchant and buyer: the answers must be
/// the same, but for a quoted id.
pub fn tenant_pairs(t: &Tenants) -> Vec<(Call, Call)> {
    let (a, b) = (&t.a, &t.b);
    let missing = 999_999;
    let merchant = |method: Method, path: String, body: Option<Value>| {
        let call = Call::new(method, path, &a.merchant);
        match body {
            Some(body) => call.json(&body),
            None => call,
        }
    };
    let buyer = |method: Method, path: String| {
        let call = Call::new(method.clone(), path, &a.buyer_token);
        if method == Method::POST {
            call.json(&json!({}))
        } else {
            call
        }
    };
    let buyer_json = |path: String, body: Value| Call::new(Method::POST, path, &a.buyer_token).json(&body);
    let title = Some(json!({ "title": "改名" }));
    let sku = Some(json!({ "name": "大包", "price_fen": 1 }));
    let price = Some(json!({ "price_fen": 1 }));
    let stock = Some(json!({ "available": 0 }));
    let category = Some(json!({ "category": "food" }));
    let strict = Some(json!({ "strict": true }));
    let answer = |challenge: i64, text: &str| {
        buyer_json(
            format!("/v1/risk/challenges/{challenge}/answer"),
            json!({ "answer": text }),
        )
    };
    let pairs = vec![
        (
            merchant(
                Method::POST,
                format!("/v1/assistant/conversations/{}/replies", b.handed_conversation),
                Some(json!({ "text": "您好" })),
            ),
            merchant(
                Method::POST,
                format!("/v1/assistant/conversations/{missing}/replies"),
                Some(json!({ "text": "您好" })),
            ),
        ),
        (
            buyer(Method::GET, format!("/v1/assistant/conversations/{}", b.conversation)),
            buyer(Method::GET, format!("/v1/assistant/conversations/{missing}")),
        ),
        (
            buyer_json(
                format!("/v1/assistant/conversations/{}/messages", b.conversation),
                json!({ "text": "取消订单" }),
            ),
            buyer_json(
                format!("/v1/assistant/conversations/{missing}/messages"),
                json!({ "text": "取消订单" }),
            ),
        ),
        (
            buyer(Method::GET, format!("/v1/risk/challenges/{}", b.challenge)),
            buyer(Method::GET, format!("/v1/risk/challenges/{missing}")),
        ),
        (
            answer(b.challenge, &b.challenge_answer),
            answer(missing, &b.challenge_answer),
        ),
        (
            merchant(Method::GET, format!("/v1/flash-sales/{}/risk", b.sale), None),
            merchant(Method::GET, format!("/v1/flash-sales/{missing}/risk"), None),
        ),
        (
            merchant(
                Method::PUT,
                format!("/v1/flash-sales/{}/risk-mode", b.sale),
                strict.clone(),
            ),
            merchant(
                Method::PUT,
                format!("/v1/flash-sales/{missing}/risk-mode"),
                strict.clone(),
            ),
        ),
        (
            merchant(Method::GET, format!("/v1/shops/{}", b.shop), None),
            merchant(Method::GET, format!("/v1/shops/{missing}"), None),
        ),
        (
            merchant(Method::PATCH, format!("/v1/shops/{}", b.shop), category.clone()),
            merchant(Method::PATCH, format!("/v1/shops/{missing}"), category.clone()),
        ),
        (
            merchant(Method::GET, format!("/v1/compass/diagnosis/{}", b.report), None),
            merchant(Method::GET, format!("/v1/compass/diagnosis/{missing}"), None),
        ),
        (
            merchant(
                Method::GET,
                format!("/v1/compass/diagnosis/{}/report.html", b.report),
                None,
            ),
            merchant(
                Method::GET,
                format!("/v1/compass/diagnosis/{missing}/report.html"),
                None,
            ),
        ),
        (
            merchant(Method::GET, format!("/v1/products/{}", b.product), None),
            merchant(Method::GET, format!("/v1/products/{missing}"), None),
        ),
        (
            merchant(Method::PATCH, format!("/v1/products/{}", b.product), title.clone()),
            merchant(Method::PATCH, format!("/v1/products/{missing}"), title.clone()),
        ),
        (
            merchant(Method::POST, format!("/v1/products/{}/skus", b.product), sku.clone()),
            merchant(Method::POST, format!("/v1/products/{missing}/skus"), sku.clone()),
        ),
        (
            merchant(Method::PATCH, format!("/v1/skus/{}", b.sku), price.clone()),
            merchant(Method::PATCH, format!("/v1/skus/{missing}"), price.clone()),
        ),
        (
            merchant(Method::GET, format!("/v1/skus/{}/stock", b.sku), None),
            merchant(Method::GET, format!("/v1/skus/{missing}/stock"), None),
        ),
        (
            merchant(
                Method::PUT,
                format!("/v1/skus/{}/stock/{}", b.sku, a.warehouse),
                stock.clone(),
            ),
            merchant(
                Method::PUT,
                format!("/v1/skus/{missing}/stock/{}", a.warehouse),
                stock.clone(),
            ),
        ),
        (
            merchant(
                Method::PUT,
                format!("/v1/skus/{}/stock/{}", a.sku, b.warehouse),
                stock.clone(),
            ),
            merchant(
                Method::PUT,
                format!("/v1/skus/{}/stock/{missing}", a.sku),
                stock.clone(),
            ),
        ),
        (
            merchant(
                Method::PUT,
                format!("/v1/skus/{}/stock/{}", b.sku, b.warehouse),
                stock.clone(),
            ),
            merchant(
                Method::PUT,
                format!("/v1/skus/{missing}/stock/{missing}"),
                stock.clone(),
            ),
        ),
        (
            merchant(Method::GET, format!("/v1/orders/{}", b.order), None),
            merchant(Method::GET, format!("/v1/orders/{missing}"), None),
        ),
        (
            merchant(Method::GET, format!("/v1/buyers/{}", a.buyer), None),
            merchant(Method::GET, format!("/v1/buyers/{missing}"), None),
        ),
        (
            buyer(Method::GET, format!("/v1/orders/{}", b.order)),
            buyer(Method::GET, format!("/v1/orders/{missing}")),
        ),
        (
            buyer(Method::POST, format!("/v1/orders/{}/cancel", b.order)),
            buyer(Method::POST, format!("/v1/orders/{missing}/cancel")),
        ),
        (
            buyer(Method::GET, format!("/v1/after-sales/{}", b.claim_to_approve)),
            buyer(Method::GET, format!("/v1/after-sales/{missing}")),
        ),
        (
            merchant(
                Method::POST,
                format!("/v1/after-sales/{}/approve", b.claim_to_approve),
                Some(json!({})),
            ),
            merchant(
                Method::POST,
                format!("/v1/after-sales/{missing}/approve"),
                Some(json!({})),
            ),
        ),
        (
            merchant(
                Method::POST,
                format!("/v1/after-sales/{}/refuse", b.claim_to_refuse),
                Some(json!({})),
            ),
            merchant(
                Method::POST,
                format!("/v1/after-sales/{missing}/refuse"),
                Some(json!({})),
            ),
        ),
        (
            buyer(Method::POST, format!("/v1/after-sales/{}/appeal", b.claim_to_refuse)),
            buyer(Method::POST, format!("/v1/after-sales/{missing}/appeal")),
        ),
        (
            buyer(
                Method::POST,
                format!("/v1/after-sales/{}/withdraw", b.claim_to_withdraw),
            ),
            buyer(Method::POST, format!("/v1/after-sales/{missing}/withdraw")),
        ),
        (
            buyer_json(
                format!("/v1/after-sales/{}/return-parcel", b.claim_to_return),
                json!({ "carrier": "zto", "waybill": "ZTO-RET-000002" }),
            ),
            buyer_json(
                format!("/v1/after-sales/{missing}/return-parcel"),
                json!({ "carrier": "zto", "waybill": "ZTO-RET-000002" }),
            ),
        ),
        (
            merchant(
                Method::POST,
                format!("/v1/after-sales/{}/receive", b.claim_to_return),
                Some(json!({ "inspection": "restock" })),
            ),
            merchant(
                Method::POST,
                format!("/v1/after-sales/{missing}/receive"),
                Some(json!({ "inspection": "restock" })),
            ),
        ),
        (
            buyer(Method::GET, format!("/v1/buyers/{}", b.buyer)),
            buyer(Method::GET, format!("/v1/buyers/{missing}")),
        ),
        (
            buyer(Method::GET, format!("/v1/shops/{}", a.shop)),
            buyer(Method::GET, format!("/v1/shops/{missing}")),
        ),
        (
            merchant(Method::GET, format!("/v1/flash-sales/{}", b.sale), None),
            merchant(Method::GET, format!("/v1/flash-sales/{missing}"), None),
        ),
        // Payments: another buyer's intents, checkouts and agreements, another shop's refunds.
        (
            buyer(Method::GET, format!("/v1/payment-intents/{}", b.intent)),
            buyer(Method::GET, format!("/v1/payment-intents/{missing}")),
        ),
        (
            merchant(Method::GET, format!("/v1/payment-intents/{}", b.intent), None),
            merchant(Method::GET, format!("/v1/payment-intents/{missing}"), None),
        ),
        (
            buyer_json(
                format!("/v1/payment-intents/{}/confirm", b.intent),
                json!({ "credential": WALLET }),
            ),
            buyer_json(
                format!("/v1/payment-intents/{missing}/confirm"),
                json!({ "credential": WALLET }),
            ),
        ),
        (
            buyer_json("/v1/payment-intents".into(), json!({ "checkout_id": b.checkout })),
            buyer_json("/v1/payment-intents".into(), json!({ "checkout_id": missing })),
        ),
        (
            buyer_json("/v1/payment-intents".into(), json!({ "checkout_id": b.paid_checkout })),
            buyer_json("/v1/payment-intents".into(), json!({ "checkout_id": missing })),
        ),
        (
            merchant(
                Method::POST,
                format!("/v1/orders/{}/refunds", b.paid_order),
                Some(json!({ "amount_fen": 1 })),
            ),
            merchant(
                Method::POST,
                format!("/v1/orders/{missing}/refunds"),
                Some(json!({ "amount_fen": 1 })),
            ),
        ),
        (
            merchant(Method::GET, format!("/v1/orders/{}/refunds", b.paid_order), None),
            merchant(Method::GET, format!("/v1/orders/{missing}/refunds"), None),
        ),
        (
            buyer(Method::GET, format!("/v1/orders/{}/refunds", b.paid_order)),
            buyer(Method::GET, format!("/v1/orders/{missing}/refunds")),
        ),
        (
            buyer(Method::DELETE, format!("/v1/one-tap-agreements/{}", b.agreement)),
            buyer(Method::DELETE, format!("/v1/one-tap-agreements/{missing}")),
        ),
        // Another buyer's Idempotency-Key is a key this buyer never used.
        (
            buyer(Method::GET, format!("/v1/idempotency-keys/{}", b.agreement_key)),
            buyer(Method::GET, "/v1/idempotency-keys/never-used".into()),
        ),
        // A body naming another shop's SKU or warehouse is a body naming none.
        (
            merchant(
                Method::POST,
                "/v1/flash-sales".into(),
                Some(flash_sale(b.sku, a.warehouse, 1)),
            ),
            merchant(
                Method::POST,
                "/v1/flash-sales".into(),
                Some(flash_sale(missing, a.warehouse, 1)),
            ),
        ),
        (
            merchant(
                Method::POST,
                "/v1/flash-sales".into(),
                Some(flash_sale(a.sku, b.warehouse, 1)),
            ),
            merchant(
                Method::POST,
                "/v1/flash-sales".into(),
                Some(flash_sale(a.sku, missing, 1)),
            ),
        ),
        (
            merchant(Method::GET, format!("/v1/flash-sales/{}/live", b.sale), None),
            merchant(Method::GET, format!("/v1/flash-sales/{missing}/live"), None),
        ),
        (
            merchant(Method::GET, format!("/v1/flash-sales/{}/live/stream", b.sale), None),
            merchant(Method::GET, format!("/v1/flash-sales/{missing}/live/stream"), None),
        ),
        (
            merchant(
                Method::POST,
                format!("/v1/flash-sales/{}/top-up", b.spare_sale),
                Some(json!({ "units": 1 })),
            ),
            merchant(
                Method::POST,
                format!("/v1/flash-sales/{missing}/top-up"),
                Some(json!({ "units": 1 })),
            ),
        ),
        (
            merchant(Method::POST, format!("/v1/flash-sales/{}/end", b.spare_sale), None),
            merchant(Method::POST, format!("/v1/flash-sales/{missing}/end"), None),
        ),
        (
            merchant(Method::GET, format!("/v1/compass/stream?shop_id={}", b.shop), None),
            merchant(Method::GET, format!("/v1/compass/stream?shop_id={missing}"), None),
        ),
    ];
    let (fulfillment, logistics) = (fulfillment_pairs(t), logistics_pairs(t));
    [
        pairs,
        fulfillment,
        logistics,
        token_pairs(t),
        super::webhooks::tenant_pairs(t),
        super::staff::tenant_pairs(t),
        super::penalties::tenant_pairs(t),
    ]
    .concat()
}

async fn listings_show_only_the_callers_own_objects(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenants(&app).await;
    let (a, b) = (&t.a, &t.b);
    for query in ["", "?shop_id=", "?q=口红"] {
        let query = if query == "?shop_id=" {
            format!("?shop_id={}", b.shop)
        } else {
            query.to_string()
        };
        let products = app.get(&format!("/v1/products{query}"), &a.merchant).await;
        let items = &products.assert_status(200)["items"];
        assert!(
            items.as_array().unwrap().iter().all(|p| p["shop_id"] == a.shop),
            "{query}: {items}"
        );
    }
    let own = app.get("/v1/products", &a.merchant).await;
    // The side's product, and the one its after-sales order bought.
    assert_eq!(ids(&own.body["items"])[0], a.product);
    assert_eq!(ids(&own.body["items"]).len(), 2);

    let orders = app.get("/v1/orders", &a.merchant).await;
    assert_eq!(
        ids(&orders.assert_status(200)["items"]),
        vec![a.return_order, a.claim_order, a.shipped_order, a.paid_order, a.order]
    );
    let orders = app.get("/v1/orders", &b.buyer_token).await;
    assert_eq!(
        ids(&orders.assert_status(200)["items"]),
        vec![b.return_order, b.claim_order, b.shipped_order, b.paid_order, b.order]
    );
    let orders = app.get("/v1/orders", &t.homeless_buyer).await;
    assert_eq!(ids(&orders.assert_status(200)["items"]), Vec::<i64>::new());
    let orders = app.get("/v1/orders", &app.admin).await;
    assert_eq!(
        ids(&orders.assert_status(200)["items"]),
        vec![
            b.return_order,
            b.claim_order,
            b.shipped_order,
            b.paid_order,
            b.order,
            a.return_order,
            a.claim_order,
            a.shipped_order,
            a.paid_order,
            a.order
        ]
    );
    // A paid order is dispatched at once; one whose every parcel has a shipment is shipped.
    for (state, expected) in [
        ("paid", vec![a.claim_order, a.paid_order]),
        ("shipped", vec![a.shipped_order]),
        ("delivered", vec![a.return_order]),
    ] {
        let orders = app.get(&format!("/v1/orders?state={state}"), &a.merchant).await;
        assert_eq!(ids(&orders.assert_status(200)["items"]), expected, "{state}");
    }
    for token in [&a.merchant, &a.buyer_token, &app.admin] {
        let shipments = app
            .get(&format!("/v1/orders/{}/shipments", a.shipped_order), token)
            .await;
        assert_eq!(ids(&shipments.assert_status(200)["items"]), vec![a.shipment]);
        let shipment = app.get(&format!("/v1/shipments/{}", a.shipment), token).await;
        assert_eq!(shipment.assert_status(200), &shipments.body["items"][0]);
        let dispatch = app.get(&format!("/v1/orders/{}/dispatch", a.paid_order), token).await;
        assert_eq!(dispatch.assert_status(200)["order_id"], a.paid_order);
    }
    for (token, expected) in [
        (&a.buyer_token, vec![a.agreement]),
        (&b.buyer_token, vec![b.agreement]),
        (&t.homeless_buyer, vec![]),
    ] {
        let agreements = app.get("/v1/one-tap-agreements", token).await;
        assert_eq!(ids(&agreements.assert_status(200)["items"]), expected);
    }
    let refunded = app
        .post(
            &format!("/v1/orders/{}/refunds", a.paid_order),
            &a.merchant,
            json!({ "amount_fen": 5 }),
        )
        .await;
    let refund = refunded.assert_status(201)["id"].as_i64().unwrap();
    for token in [&a.merchant, &a.buyer_token, &app.admin] {
        let refunds = app.get(&format!("/v1/orders/{}/refunds", a.paid_order), token).await;
        assert_eq!(ids(&refunds.assert_status(200)["items"]), vec![refund]);
    }
    let refunds = app
        .get(&format!("/v1/orders/{}/refunds", b.paid_order), &app.admin)
        .await;
    assert_eq!(ids(&refunds.assert_status(200)["items"]), Vec::<i64>::new());

    let warehouses = app.get("/v1/warehouses", &b.merchant).await;
    assert_eq!(ids(&warehouses.assert_status(200)["items"]), vec![b.warehouse]);
    let sales = app.get("/v1/flash-sales", &a.merchant).await;
    assert_eq!(ids(&sales.assert_status(200)["items"]), vec![a.spare_sale, a.sale]);
    for token in [&app.admin, &a.buyer_token] {
        let sales = app.get("/v1/flash-sales", token).await;
        assert_eq!(
            ids(&sales.assert_status(200)["items"]),
            vec![b.spare_sale, b.sale, a.spare_sale, a.sale],
            "newest first"
        );
    }
    // The catalog is public to buyers: they see every shop's active products (each side's own,
    // then the one its after-sales order bought).
    let catalog = app.get("/v1/products", &a.buyer_token).await;
    let seen = ids(&catalog.assert_status(200)["items"]);
    assert_eq!(seen.len(), 4);
    assert!(seen.contains(&a.product) && seen.contains(&b.product), "{seen:?}");
    app.shutdown().await;
}
