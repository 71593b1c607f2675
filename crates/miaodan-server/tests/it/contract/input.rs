//! Malformed input on every endpoint: bodies, path ids, query parameters, sizes, media types.

use super::support::*;

both_backends!(
    every_malformed_body_is_refused_with_a_stable_problem_and_changes_nothing,
    every_path_id_that_is_no_id_is_a_bad_request_and_an_unknown_one_is_not_found,
    every_bad_query_parameter_is_refused_with_a_stable_problem,
    a_body_over_the_limit_is_payload_too_large_on_every_mutating_endpoint,
    a_body_of_exactly_the_limit_is_accepted_and_one_byte_more_is_not,
    a_json_media_type_is_matched_without_regard_to_case_or_parameters,
    text_of_invisible_characters_only_is_refused_like_spaces_only,
    a_query_that_does_not_decode_to_utf8_is_a_bad_request,
    a_header_the_http_parser_refuses_is_answered_as_a_problem_and_changes_nothing,
    an_integer_may_be_written_with_a_zero_fraction_and_a_fraction_is_refused_in_words,
);

async fn every_malformed_body_is_refused_with_a_stable_problem_and_changes_nothing(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenants(&app).await;
    expect_refusals_in_bulk(&app, &t, &wrong_fields(&app, &t)).await;
    for endpoint in mutating(endpoints(&app, &t)) {
        let Endpoint { call, route, .. } = endpoint;
        // Cancel and revoke take no body: whatever is sent is not read.
        if route.ends_with("/cancel") || call.body.is_none() {
            continue;
        }
        if route == WEBHOOK {
            expect_refusals(&app, &t, &webhook_refusals(&call, &app.admin)).await;
            let acknowledged = call.send(&app).await;
            assert_success(&acknowledged, &call.label());
            assert_eq!(acknowledged.body, json!({ "status": "unknown_reference" }));
            let again = call.send(&app).await;
            assert_eq!(again.assert_status(200), &json!({ "status": "duplicate" }));
            continue;
        }
        if route == CARRIER_WEBHOOK {
            expect_refusals(&app, &t, &carrier_webhook_refusals(&call, &app.admin)).await;
            // A waybill the platform does not know has no shipment to apply the event to,
            // however often it comes.
            for _ in 0..2 {
                let acknowledged = call.send(&app).await;
                assert_success(&acknowledged, &call.label());
                assert_eq!(acknowledged.body, json!({ "status": "unknown_waybill" }));
            }
            continue;
        }
        let valid: Value = serde_json::from_slice(call.body.as_ref().unwrap()).unwrap();
        let body_optional = route.ends_with("tokens") || route.ends_with("/taps");
        // One look at what the API shows per endpoint, not per body: the bodies are many, and a
        // change is still pinned to the endpoint.
        expect_refusals_in_bulk(&app, &t, &malformed_bodies(&call, &valid, body_optional)).await;
        // The same endpoint accepts the valid body: the refusals above were the body's fault.
        assert_success(&call.send(&app).await, &call.label());
    }
    app.shutdown().await;
}

async fn every_path_id_that_is_no_id_is_a_bad_request_and_an_unknown_one_is_not_found(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenants(&app).await;
    let (a, admin) = (&t.a, &app.admin);
    let templates: Vec<(Method, String, &str, Option<Value>, &str)> = vec![
        (Method::GET, "/v1/shops/{}".into(), admin, None, "not_found"),
        (
            Method::POST,
            "/v1/shops/{}/tokens".into(),
            admin,
            Some(json!({})),
            "not_found",
        ),
        (Method::GET, "/v1/buyers/{}".into(), admin, None, "not_found"),
        (
            Method::POST,
            "/v1/buyers/{}/tokens".into(),
            admin,
            Some(json!({})),
            "not_found",
        ),
        (Method::GET, "/v1/products/{}".into(), admin, None, "not_found"),
        (
            Method::PATCH,
            "/v1/products/{}".into(),
            &a.merchant,
            Some(json!({ "title": "新标题" })),
            "unknown_product",
        ),
        (
            Method::POST,
            "/v1/products/{}/skus".into(),
            &a.merchant,
            Some(json!({ "name": "大包", "price_fen": 1 })),
            "unknown_product",
        ),
        (
            Method::PATCH,
            "/v1/skus/{}".into(),
            &a.merchant,
            Some(json!({ "price_fen": 1 })),
            "not_found",
        ),
        (Method::GET, "/v1/skus/{}/stock".into(), &a.merchant, None, "not_found"),
        (
            Method::PUT,
            format!("/v1/skus/{{}}/stock/{}", a.warehouse),
            &a.merchant,
            Some(json!({ "available": 1 })),
            "not_found",
        ),
        (
            Method::PUT,
            format!("/v1/skus/{}/stock/{{}}", a.sku),
            &a.merchant,
            Some(json!({ "available": 1 })),
            "unknown_warehouse",
        ),
        (Method::GET, "/v1/orders/{}".into(), admin, None, "not_found"),
        (
            Method::POST,
            "/v1/orders/{}/cancel".into(),
            &a.buyer_token,
            Some(json!({})),
            "not_found",
        ),
        (Method::GET, "/v1/payment-intents/{}".into(), admin, None, "not_found"),
        (
            Method::POST,
            "/v1/payment-intents/{}/confirm".into(),
            &a.buyer_token,
            Some(json!({ "credential": WALLET })),
            "not_found",
        ),
        (
            Method::POST,
            "/v1/orders/{}/refunds".into(),
            &a.merchant,
            Some(json!({ "amount_fen": 1 })),
            "not_found",
        ),
        (Method::GET, "/v1/orders/{}/refunds".into(), admin, None, "not_found"),
        (
            Method::DELETE,
            "/v1/one-tap-agreements/{}".into(),
            &a.buyer_token,
            None,
            "not_found",
        ),
        (
            Method::GET,
            "/v1/flash-sales/{}".into(),
            &a.buyer_token,
            None,
            "not_found",
        ),
        (
            Method::POST,
            "/v1/flash-sales/{}/taps".into(),
            &a.buyer_token,
            Some(json!({})),
            "not_found",
        ),
        (
            Method::GET,
            "/v1/warehouses/{}/fulfillment".into(),
            &a.merchant,
            None,
            "not_found",
        ),
        (
            Method::PUT,
            "/v1/warehouses/{}/fulfillment".into(),
            &a.merchant,
            Some(fulfillment_settings()),
            "unknown_warehouse",
        ),
        (
            Method::POST,
            "/v1/warehouses/{}/shortages".into(),
            &a.merchant,
            Some(json!({ "sku_id": a.sku, "missing_units": 1 })),
            "unknown_warehouse",
        ),
        (Method::GET, "/v1/orders/{}/dispatch".into(), admin, None, "not_found"),
        (
            Method::POST,
            "/v1/orders/{}/shipments".into(),
            &a.merchant,
            Some(json!({ "warehouse_id": a.warehouse })),
            "not_found",
        ),
        (Method::GET, "/v1/orders/{}/shipments".into(), admin, None, "not_found"),
        (Method::GET, "/v1/shipments/{}".into(), admin, None, "not_found"),
        (Method::DELETE, "/v1/tokens/{}".into(), admin, None, "not_found"),
    ];
    let mut cases = Vec::new();
    for (method, template, token, body, missing_code) in &templates {
        // The path parameter is named after the segment before it: `/v1/orders/{order_id}`.
        let before = template.split("/{}").next().unwrap().rsplit('/').next().unwrap();
        let parameter: &'static str = match before {
            "shops" => "shop_id",
            "buyers" => "buyer_id",
            "products" => "product_id",
            "skus" => "sku_id",
            "stock" | "warehouses" => "warehouse_id",
            "orders" => "order_id",
            "payment-intents" => "payment_intent_id",
            "one-tap-agreements" => "agreement_id",
            "flash-sales" => "flash_sale_id",
            "shipments" => "shipment_id",
            "tokens" => "token_id",
            "after-sales" => "request_id",
            other => panic!("which parameter follows /{other}/?"),
        };
        // Ids that cannot name anything are refused before any lookup (400, naming the
        // parameter); an id that could name something but does not is refused by whoever
        // looks it up (404).
        for bad in [
            "abc",
            "0",
            "-5",
            "+5",
            "5%20",
            "1.5",
            "1e3",
            "%20",
            "%FF",
            "%00",
            "99999999999999999999",
            "999999",
        ] {
            let mut call = Call::new(method.clone(), template.replace("{}", bad), token);
            if let Some(body) = body {
                call = call.json(body);
            }
            let refusal = match (bad, *missing_code) {
                ("999999", "unknown_warehouse") => (404, "unknown_warehouse", Some("warehouse_id")),
                ("999999", code) => (404, code, None),
                _ => (400, "invalid_id", Some(parameter)),
            };
            cases.push((call, refusal));
        }
    }
    expect_refusals_in_bulk(&app, &t, &cases).await;
    app.shutdown().await;
}

async fn every_bad_query_parameter_is_refused_with_a_stable_problem(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenants(&app).await;
    let long_search = format!("q={}", "a".repeat(101));
    let products = [
        ("limit=0", (422, "invalid_field", Some("limit"))),
        ("limit=201", (422, "invalid_field", Some("limit"))),
        ("limit=-1", (422, "invalid_field", Some("limit"))),
        ("limit=abc", (400, "invalid_query", Some("limit"))),
        ("limit=1e3", (400, "invalid_query", Some("limit"))),
        ("limit=99999999999999999999", (400, "invalid_query", Some("limit"))),
        ("cursor=abc", (400, "invalid_cursor", Some("cursor"))),
        ("cursor=", (400, "invalid_cursor", Some("cursor"))),
        ("shop_id=0", (422, "invalid_field", Some("shop_id"))),
        ("shop_id=-3", (422, "invalid_field", Some("shop_id"))),
        ("shop_id=abc", (400, "invalid_query", Some("shop_id"))),
        ("sort=price", (400, "invalid_query", Some("sort"))),
        (&*long_search, (422, "invalid_field", Some("q"))),
        ("q=a%00b", (422, "invalid_field", Some("q"))),
        ("q=a%0Ab", (422, "invalid_field", Some("q"))),
        ("gtin=6901234567893", (422, "invalid_field", Some("gtin"))),
        ("gtin=abc", (422, "invalid_field", Some("gtin"))),
        ("gtin=%00", (422, "invalid_field", Some("gtin"))),
    ];
    let orders = [
        ("limit=0", (422, "invalid_field", Some("limit"))),
        ("limit=201", (422, "invalid_field", Some("limit"))),
        ("limit=abc", (400, "invalid_query", Some("limit"))),
        ("state=lost", (422, "invalid_field", Some("state"))),
        ("state=SHIPPED", (422, "invalid_field", Some("state"))),
        ("state=PAID", (422, "invalid_field", Some("state"))),
        ("state=", (422, "invalid_field", Some("state"))),
        ("created_from=yesterday", (422, "invalid_field", Some("created_from"))),
        (
            "created_from=2026-13-01T00:00:00Z",
            (422, "invalid_field", Some("created_from")),
        ),
        ("created_from=2026-01-01", (422, "invalid_field", Some("created_from"))),
        (
            "created_to=2026-01-01T00:00:00",
            (422, "invalid_field", Some("created_to")),
        ),
        ("created_to=%00", (422, "invalid_field", Some("created_to"))),
        ("cursor=abc", (400, "invalid_cursor", Some("cursor"))),
        ("cursor=1.0", (400, "invalid_cursor", Some("cursor"))),
        ("cursor=abc.5", (400, "invalid_cursor", Some("cursor"))),
        ("cursor=1.-5", (400, "invalid_cursor", Some("cursor"))),
        ("shop_id=1", (400, "invalid_query", Some("shop_id"))),
        ("buyer_id=0", (422, "invalid_field", Some("buyer_id"))),
        ("sku_id=abc", (400, "invalid_query", Some("sku_id"))),
        ("warehouse_id=-1", (422, "invalid_field", Some("warehouse_id"))),
        ("flash_sale_id=1.5", (400, "invalid_query", Some("flash_sale_id"))),
        ("promise_at_risk=1", (422, "invalid_field", Some("promise_at_risk"))),
        ("q=%2312a", (422, "invalid_field", Some("q"))),
        ("q=", (422, "invalid_field", Some("q"))),
        ("limit=1&limit=2", (400, "invalid_query", Some("limit"))),
    ];
    // The reconciliation (operators only): a real calendar day, written YYYY-MM-DD.
    let bad_date = (422, "invalid_field", Some("date"));
    let reconciliation = [
        ("date=2026-13-01", bad_date),
        ("date=2026-02-30", bad_date),
        ("date=2026-1-1", bad_date),
        ("date=20260101", bad_date),
        ("date=2026-01-01T00:00:00Z", bad_date),
        ("date=tomorrow", bad_date),
        ("date=", bad_date),
        ("date=%00", bad_date),
        ("bogus=1", (400, "invalid_query", Some("bogus"))),
        ("date=2026-01-01&date=2026-01-02", (400, "invalid_query", Some("date"))),
    ];
    // Delivery options (public): a known division and 1 to 100 `sku_id:quantity` items of
    // known SKUs, 1 to 10 000 units each.
    let (a, b) = (&t.a, &t.b);
    let items = |items: &str| format!("adcode=310101000000&items={items}");
    let bad_items = (422, "invalid_field", Some("items"));
    let hundred_and_one: Vec<String> = (1..=101).map(|sku| format!("{sku}:1")).collect();
    let hundred_and_one = items(&hundred_and_one.join(","));
    let delivery: Vec<(String, Refusal)> = [
        ("", (400, "missing_field", Some("adcode"))),
        ("items=1:1", (400, "missing_field", Some("adcode"))),
        ("adcode=310101000000", (400, "missing_field", Some("items"))),
        ("adcode=999999999999&items=1:1", (404, "unknown_adcode", Some("adcode"))),
        ("adcode=31010100000&items=1:1", (422, "invalid_adcode", Some("adcode"))),
        ("adcode=abc&items=1:1", (422, "invalid_adcode", Some("adcode"))),
        ("adcode=&items=1:1", (422, "invalid_adcode", Some("adcode"))),
        ("adcode=%00&items=1:1", (422, "invalid_adcode", Some("adcode"))),
        (&items(""), bad_items),
        (&items("1"), bad_items),
        (&items("1:"), bad_items),
        (&items(":1"), bad_items),
        (&items("abc:1"), bad_items),
        (&items("0:1"), bad_items),
        (&items("-1:1"), bad_items),
        (&items("99999999999999999999:1"), bad_items),
        (&items(&format!("{}:0", a.sku)), bad_items),
        (&items(&format!("{}:-1", a.sku)), bad_items),
        (&items(&format!("{}:10001", a.sku)), bad_items),
        (&items(&format!("{}:1.5", a.sku)), bad_items),
        (&items(&format!("{}:1:1", a.sku)), bad_items),
        (&items(&format!("{}:1,", a.sku)), bad_items),
        (&items(&format!("{}:1;{}:1", a.sku, a.sku2)), bad_items),
        (&hundred_and_one, bad_items),
        (&items("999999:1"), (404, "unknown_sku", Some("items"))),
        (
            &items(&format!("{}:1,999999:1", a.sku)),
            (404, "unknown_sku", Some("items")),
        ),
        ("bogus=1", (400, "invalid_query", Some("bogus"))),
        (
            "adcode=310101000000&adcode=310101000000&items=1:1",
            (400, "invalid_query", Some("adcode")),
        ),
    ]
    .into_iter()
    .map(|(query, refusal)| (query.to_string(), refusal))
    .collect();
    // The package center's alerts (merchants only): open or all, a known rule, 1 to 200.
    let alerts = [
        ("state=closed", (422, "invalid_field", Some("state"))),
        ("state=OPEN", (422, "invalid_field", Some("state"))),
        ("state=", (422, "invalid_field", Some("state"))),
        ("rule=late", (422, "invalid_field", Some("rule"))),
        ("rule=", (422, "invalid_field", Some("rule"))),
        ("limit=0", (422, "invalid_field", Some("limit"))),
        ("limit=201", (422, "invalid_field", Some("limit"))),
        ("limit=-1", (422, "invalid_field", Some("limit"))),
        ("limit=abc", (400, "invalid_query", Some("limit"))),
        ("limit=99999999999999999999", (400, "invalid_query", Some("limit"))),
        ("state=all&state=open", (400, "invalid_query", Some("state"))),
        ("shop_id=1", (400, "invalid_query", Some("shop_id"))),
    ];
    let mut cases = Vec::new();
    for (query, refusal) in &delivery {
        let path = format!("/v1/delivery-options?{query}");
        cases.push((Call::public(Method::GET, &path), *refusal));
        // A token changes nothing: the options are anyone's to ask.
        cases.push((Call::get(&path, &a.buyer_token), *refusal));
    }
    for (query, refusal) in &alerts {
        for merchant in [&a.merchant, &b.merchant] {
            let path = format!("/v1/package-center/alerts?{query}");
            cases.push((Call::get(path, merchant), *refusal));
        }
    }
    for token in [&app.admin, &t.a.merchant, &t.a.buyer_token] {
        for (query, refusal) in &products {
            cases.push((Call::get(format!("/v1/products?{query}"), token), *refusal));
        }
        for (query, refusal) in &orders {
            cases.push((Call::get(format!("/v1/orders?{query}"), token), *refusal));
        }
    }
    for (query, refusal) in &reconciliation {
        cases.push((Call::get(format!("/v1/reconciliation?{query}"), &app.admin), *refusal));
    }
    expect_refusals_in_bulk(&app, &t, &cases).await;
    app.shutdown().await;
}

async fn a_body_over_the_limit_is_payload_too_large_on_every_mutating_endpoint(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenants(&app).await;
    let ten_megabytes = vec![b' '; 10 * 1024 * 1024];
    // Revoking an agreement takes no body, so it reads none (and refuses none).
    let cases: Vec<_> = mutating(endpoints(&app, &t))
        .into_iter()
        .filter(|e| e.call.body.is_some())
        .map(|e| {
            let call = e.call.raw(JSON, ten_megabytes.clone());
            (call, (413, "payload_too_large", None))
        })
        .collect();
    expect_refusals_in_bulk(&app, &t, &cases).await;
    app.shutdown().await;
}

async fn a_body_of_exactly_the_limit_is_accepted_and_one_byte_more_is_not(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenants(&app).await;
    let padded = |bytes: usize| {
        let mut body = serde_json::to_vec(&json!({ "name": "大店" })).unwrap();
        body.resize(bytes, b' ');
        Call::new(Method::POST, "/v1/shops", &app.admin).raw(JSON, body)
    };
    expect_refusals(
        &app,
        &t,
        &[(padded(REQUEST_BODY_BYTES_MAX + 1), (413, "payload_too_large", None))],
    )
    .await;
    let created = padded(REQUEST_BODY_BYTES_MAX).send(&app).await;
    assert_eq!(created.assert_status(201)["name"], "大店");
    app.shutdown().await;
}

async fn a_json_media_type_is_matched_without_regard_to_case_or_parameters(backend: Backend) {
    let app = spawn(backend).await;
    for (i, content_type) in [
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/json ; charset=UTF-8",
    ]
    .into_iter()
    .enumerate()
    {
        let body = serde_json::to_vec(&json!({ "name": format!("店{i}") })).unwrap();
        let call = Call::new(Method::POST, "/v1/shops", &app.admin).raw(Some(content_type), body);
        assert_eq!(call.send(&app).await.assert_status(201)["name"], format!("店{i}"));
    }
    app.shutdown().await;
}

async fn text_of_invisible_characters_only_is_refused_like_spaces_only(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenants(&app).await;
    let merchant = &t.a.merchant;
    let mut cases = Vec::new();
    for blank in ["   ", "\u{200B}\u{200B}\u{200B}", " \u{FEFF}\u{200D} ", "\u{3164}"] {
        let product = json!({ "title": blank, "skus": [{ "name": "标准装", "price_fen": 1 }] });
        cases.push((
            Call::new(Method::POST, "/v1/products", merchant).json(&product),
            invalid("title"),
        ));
        let sku = json!({ "title": "牛肉干", "skus": [{ "name": blank, "price_fen": 1 }] });
        let sku_name = invalid("skus[0].name");
        cases.push((Call::new(Method::POST, "/v1/products", merchant).json(&sku), sku_name));
        let shop = Call::new(Method::POST, "/v1/shops", &app.admin).json(&json!({ "name": blank }));
        cases.push((shop, invalid("name")));
    }
    expect_refusals_in_bulk(&app, &t, &cases).await;
    // Invisible characters inside visible text are kept (a family emoji joins with U+200D).
    let family = "👨\u{200D}👩\u{200D}👧 礼盒";
    let product = json!({ "title": family, "skus": [{ "name": "标准装", "price_fen": 1 }] });
    let created = app.post("/v1/products", merchant, product).await;
    assert_eq!(created.assert_status(201)["title"], family);
    app.shutdown().await;
}

async fn a_query_that_does_not_decode_to_utf8_is_a_bad_request(backend: Backend) {
    let app = spawn(backend).await;
    let bad = (400, "invalid_query", None);
    for query in ["q=%C0%AF", "q=%FF", "q=%E7%89", "gtin=%ED%A0%80"] {
        let answer = Call::get(format!("/v1/products?{query}"), &app.admin).send(&app).await;
        assert_refused(&answer, bad, query);
    }
    // Percent-encoded UTF-8 is read as such.
    let answer = Call::get("/v1/products?q=%E7%89%9B", &app.admin).send(&app).await;
    assert_success(&answer, "q=牛");
    app.shutdown().await;
}

/// hyper refuses a control character in a header value before any handler runs; the answer is
/// a problem like every other refusal, not a bare status.
async fn a_header_the_http_parser_refuses_is_answered_as_a_problem_and_changes_nothing(backend: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn(backend).await;
    let shops_before = app.get("/v1/shops", &app.admin).await.assert_status(200).clone();
    let address = app.base.trim_start_matches("http://").to_string();
    for key in [&b"a\x01b"[..], b"\x7f", b"key\x00"] {
        let body = br#"{"name":"new shop"}"#;
        let mut request = format!(
            "POST /v1/shops HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nIdempotency-Key: ",
            app.admin,
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(key);
        request.extend_from_slice(b"\r\n\r\n");
        request.extend_from_slice(body);
        let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        stream.write_all(&request).await.unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.unwrap();
        let answer = String::from_utf8(answer).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 400 "), "{key:?}: {answer}");
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/problem+json"),
            "{key:?}: {answer}"
        );
        let problem: Value = serde_json::from_str(body).unwrap();
        assert_eq!(problem["code"], "malformed_request", "{key:?}: {answer}");
        assert_eq!(problem["status"], 400, "{key:?}: {answer}");
    }
    assert_eq!(app.get("/v1/shops", &app.admin).await.assert_status(200), &shops_before);
    app.shutdown().await;
}

/// JSON Schema's `integer` is any number whose fraction is zero, so `5.0` is the integer 5; a
/// fraction is the wrong type, said in words that name the field (not "invalid type: floating
/// point `7.5`, expected i64 at line 1 column 16").
async fn an_integer_may_be_written_with_a_zero_fraction_and_a_fraction_is_refused_in_words(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenants(&app).await;
    let a = &t.a;
    let path = format!("/v1/skus/{}/stock/{}", a.sku, a.warehouse);
    let set = |body: &str| Call::new(Method::PUT, &path, &a.merchant).raw(JSON, body.as_bytes().to_vec());
    let stocked = set(r#"{"available": 7.0}"#).send(&app).await;
    assert_eq!(stocked.assert_status(200)["available"], 7);
    let exponent = set(r#"{"available": 8e0}"#).send(&app).await;
    assert_eq!(exponent.assert_status(200)["available"], 8);
    let refused = set(r#"{"available": 7.5}"#).send(&app).await;
    assert_refused(&refused, wrong_type("available"), "7.5");
    assert_eq!(
        refused.body["detail"],
        "`available` must be an integer (a number without a fraction, within 64 bits)"
    );
    app.shutdown().await;
}
