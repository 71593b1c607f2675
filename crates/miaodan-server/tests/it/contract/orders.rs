//! Orders: checkout bodies, listings and their pagination.

use super::support::*;

both_backends!(
    orders_are_listed_newest_first_and_filtered_by_state_and_creation_time,
    order_cursor_pagination_visits_every_order_exactly_once_even_with_equal_timestamps,
);

/// The orders' operations, each with a request that succeeds when made by its role (in this
/// order, on a fresh [`Tenants`]).
pub fn endpoints(app: &TestApp, t: &Tenants) -> Vec<Endpoint> {
    let a = &t.a;
    let endpoint = endpoint_with(app, t);
    let buyer = Some(Role::Buyer);
    vec![
        endpoint(
            "/v1/checkouts",
            Method::POST,
            "/v1/checkouts".into(),
            Some(json!({ "lines": [{ "sku_id": a.sku, "quantity": 1 }] })),
            buyer,
        ),
        endpoint("/v1/orders", Method::GET, "/v1/orders".into(), None, None),
        endpoint(
            "/v1/orders/export.csv",
            Method::GET,
            "/v1/orders/export.csv".into(),
            None,
            None,
        ),
        endpoint(
            "/v1/orders/{order_id}",
            Method::GET,
            format!("/v1/orders/{}", a.order),
            None,
            None,
        ),
        endpoint(
            "/v1/orders/{order_id}/cancel",
            Method::POST,
            format!("/v1/orders/{}/cancel", a.order),
            Some(json!({})),
            None,
        ),
    ]
}

pub fn checkout_bodies(t: &Tenants) -> Vec<(Call, Refusal)> {
    let a = &t.a;
    // Checkout: 1 to 100 lines of known SKUs, each once, of 1 to 10 000 units; a known address.
    let line = |sku: i64, quantity: Value| json!({ "sku_id": sku, "quantity": quantity });
    let lines = |lines: Vec<Value>| json!({ "lines": lines });
    let one = |quantity: Value| lines(vec![line(a.sku, quantity)]);
    let addressed = |address: Value| json!({ "lines": [line(a.sku, json!(1))], "address": address });
    let bad_quantity = refused("invalid_quantity", "lines[0].quantity");
    let unknown_sku = (404, "unknown_sku", Some("lines[0].sku_id"));
    let rows = vec![
        (json!({}), missing("lines")),
        (lines(vec![]), invalid("lines")),
        (lines(vec![line(a.sku, json!(1)); 101]), invalid("lines")),
        (json!({ "lines": {} }), wrong_type("lines")),
        (one(json!(0)), bad_quantity),
        (one(json!(-1)), bad_quantity),
        (one(json!(10_001)), bad_quantity),
        (one(json!(i64::MIN)), bad_quantity),
        (one(json!(1e30)), wrong_type("lines[0].quantity")),
        (
            one(json!(9_223_372_036_854_775_808_u64)),
            wrong_type("lines[0].quantity"),
        ),
        (one(json!(1.5)), wrong_type("lines[0].quantity")),
        (one(json!("1")), wrong_type("lines[0].quantity")),
        (
            lines(vec![line(a.sku, json!(1)), line(a.sku2, json!(0))]),
            refused("invalid_quantity", "lines[1].quantity"),
        ),
        (lines(vec![line(0, json!(1))]), invalid("lines[0].sku_id")),
        (lines(vec![line(-1, json!(1))]), invalid("lines[0].sku_id")),
        (lines(vec![line(999_999, json!(1))]), unknown_sku),
        (lines(vec![line(i64::MAX, json!(1))]), unknown_sku),
        (
            lines(vec![line(a.sku, json!(1)), line(999_999, json!(1))]),
            (404, "unknown_sku", Some("lines[1].sku_id")),
        ),
        (lines(vec![json!({ "quantity": 1 })]), missing("lines[0].sku_id")),
        (lines(vec![json!([a.sku, 1])]), wrong_type("lines[0]")),
        (
            lines(vec![json!({ "sku_id": a.sku, "quantity": 1, "price_fen": 1 })]),
            unknown("lines[0].price_fen"),
        ),
        (
            one(json!(10_000)),
            (409, "insufficient_stock", Some("lines[0].quantity")),
        ),
        // The first line fits; the second does not, and the first's units are not kept.
        (
            lines(vec![line(a.sku, json!(5)), line(a.sku2, json!(4))]),
            (409, "insufficient_stock", Some("lines[1].quantity")),
        ),
        // A refusal names a SKU, so each SKU has one line, and the line at fault is exact.
        (
            lines(vec![
                line(a.sku, json!(5)),
                line(a.sku2, json!(1)),
                line(a.sku, json!(5)),
            ]),
            refused("duplicate_sku", "lines[2].sku_id"),
        ),
        (
            addressed(json!({ "adcode": "999999999999", "detail": "1号" })),
            (404, "unknown_adcode", Some("address.adcode")),
        ),
        (
            addressed(json!({ "adcode": "310101000000", "detail": "" })),
            invalid("address.detail"),
        ),
        (
            addressed(json!({ "adcode": "310101000000", "detail": chars(201) })),
            invalid("address.detail"),
        ),
        (
            addressed(json!({ "adcode": "310101000000" })),
            missing("address.detail"),
        ),
    ];
    // A buyer without a default address must give one.
    let homeless = vec![(one(json!(1)), refused("no_address", "address"))];
    [
        bodies(Call::new(Method::POST, "/v1/checkouts", &a.buyer_token), rows),
        bodies(Call::new(Method::POST, "/v1/checkouts", &t.homeless_buyer), homeless),
    ]
    .concat()
}

async fn orders_are_listed_newest_first_and_filtered_by_state_and_creation_time(backend: Backend) {
    let app = spawn(backend).await;
    let w = app.world().await;
    let mut placed = Vec::new();
    for _ in 0..3 {
        let order = app.checkout(&w.buyer_token, &[(w.skus[0], 1)]).await;
        placed.push(order.assert_status(201)["orders"][0].clone());
        // Distinct creation instants (milliseconds) for the time filters.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let id = |i: usize| placed[i]["id"].as_i64().unwrap();
    let at = |i: usize| placed[i]["created_at"].as_str().unwrap().to_string();
    app.pay_order(&w.buyer_token, id(0)).await;
    app.post(&format!("/v1/orders/{}/cancel", id(1)), &w.buyer_token, json!({}))
        .await
        .assert_status(200);
    let (_, stranger) = app.buyer("李四").await;
    let (buyer, merchant, admin) = (&w.buyer_token, &w.merchant, &app.admin);
    let cases: Vec<(String, &String, Vec<i64>)> = vec![
        (String::new(), buyer, vec![id(2), id(1), id(0)]),
        ("state=paid".into(), buyer, vec![id(0)]),
        ("state=cancelled".into(), merchant, vec![id(1)]),
        ("state=pending_payment".into(), admin, vec![id(2)]),
        (format!("created_from={}", at(1)), buyer, vec![id(2), id(1)]),
        (format!("created_to={}", at(1)), buyer, vec![id(0)]),
        (
            format!("created_from={}&created_to={}", at(1), at(2)),
            merchant,
            vec![id(1)],
        ),
        (format!("created_from={}&state=paid", at(1)), merchant, vec![]),
        (
            "created_from=2000-01-01T00:00:00Z".into(),
            admin,
            vec![id(2), id(1), id(0)],
        ),
        ("created_to=2000-01-01T00:00:00Z".into(), admin, vec![]),
        ("limit=2".into(), buyer, vec![id(2), id(1)]),
        (String::new(), &stranger, vec![]),
    ];
    for (query, token, expected) in cases {
        assert_eq!(
            listed(&app, &format!("/v1/orders?{query}"), token).await,
            expected,
            "{query}"
        );
    }
    let paid = app.get("/v1/orders?state=paid", buyer).await;
    assert!(paid.body["items"][0]["paid_at"].is_string(), "{}", paid.raw);
    app.shutdown().await;
}

async fn order_cursor_pagination_visits_every_order_exactly_once_even_with_equal_timestamps(backend: Backend) {
    let app = spawn(backend).await;
    let w = app.world().await;
    app.stock(&w.merchant, w.skus[0], w.warehouses[0], 100).await;
    // Concurrent checkouts land in one batch of the shard, often at one instant.
    let line = [(w.skus[0], 1)];
    let taps = (0..12).map(|_| app.checkout(&w.buyer_token, &line));
    for answer in join_all(taps).await {
        answer.assert_status(201);
    }
    let all = app.get("/v1/orders?limit=200", &w.buyer_token).await;
    let all = all.assert_status(200)["items"].clone();
    let expected = ids(&all);
    assert_eq!(expected.len(), 12);
    let keys: Vec<(jiff::Timestamp, i64)> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["created_at"].as_str().unwrap().parse().unwrap(),
                o["id"].as_i64().unwrap(),
            )
        })
        .collect();
    assert!(
        keys.windows(2).all(|pair| pair[0] > pair[1]),
        "newest first, then by id: {keys:?}"
    );
    for limit in [1, 2, 5, 12, 13] {
        for token in [&w.buyer_token, &w.merchant, &app.admin] {
            assert_eq!(
                walk_pages(&app, "/v1/orders", token, limit).await,
                expected,
                "limit {limit}"
            );
        }
    }
    assert_eq!(
        walk_pages(&app, "/v1/orders?state=pending_payment", &w.merchant, 5).await,
        expected
    );
    app.shutdown().await;
}
