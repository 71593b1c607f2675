//! The order list a merchant works from: its filters and search, each alone and combined,
//! paged by cursor, never showing another shop's orders.
#![allow(clippy::unwrap_used)]

use crate::common;

use common::{Backend, TestApp, World};
use serde_json::Value;

both_backends!(
    each_filter_narrows_the_shops_orders_and_filters_combine,
    a_search_finds_an_order_by_id_with_or_without_hash_and_a_buyers_orders,
    another_shops_orders_never_appear_whatever_the_filter,
    a_filtered_list_pages_by_cursor_without_gaps_or_repeats,
    malformed_filters_are_refused_with_the_field_named,
    the_csv_export_is_the_filtered_list_with_a_bom_a_header_and_quoted_fields,
    bulk_shipping_ships_each_paid_order_whole_and_answers_each_refusal,
    bulk_shipping_refuses_an_empty_oversized_or_repeated_list,
);

/// Three orders of one shop, oldest first: A's `sku0×2` (all from warehouse 0), B's `sku1×6`
/// (5 from warehouse 0, 1 from warehouse 1), A's `sku1×1` (warehouse 1); B's is paid.
struct Orders {
    w: World,
    other_buyer: (i64, String),
    ids: [i64; 3],
}

async fn three_orders(app: &TestApp) -> Orders {
    let w = app.world().await;
    let other_buyer = app.buyer("李四").await;
    let first = app.checkout(&w.buyer_token, &[(w.skus[0], 2)]).await;
    let second = app.checkout(&other_buyer.1, &[(w.skus[1], 6)]).await;
    let third = app.checkout(&w.buyer_token, &[(w.skus[1], 1)]).await;
    let id = |a: &common::Answer| a.assert_status(201)["orders"][0]["id"].as_i64().unwrap();
    let ids = [id(&first), id(&second), id(&third)];
    app.pay_order(&other_buyer.1, ids[1]).await;
    Orders { w, other_buyer, ids }
}

/// The ids a list answers, in its order.
async fn listed(app: &TestApp, token: &str, query: &str) -> Vec<i64> {
    let page = app.get(&format!("/v1/orders?{query}"), token).await;
    let items = page.assert_status(200)["items"].as_array().unwrap().clone();
    items.iter().map(|o| o["id"].as_i64().unwrap()).collect()
}

async fn each_filter_narrows_the_shops_orders_and_filters_combine(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let o = three_orders(&app).await;
    let (w, [first, second, third]) = (&o.w, o.ids);
    let m = &w.merchant;
    let cases = [
        (format!("sku_id={}", w.skus[0]), vec![first]),
        (format!("sku_id={}", w.skus[1]), vec![third, second]),
        (format!("buyer_id={}", w.buyer), vec![third, first]),
        (format!("buyer_id={}", o.other_buyer.0), vec![second]),
        (format!("warehouse_id={}", w.warehouses[0]), vec![second, first]),
        (format!("warehouse_id={}", w.warehouses[1]), vec![third, second]),
        ("state=paid".to_string(), vec![second]),
        ("state=pending_payment".to_string(), vec![third, first]),
        (format!("buyer_id={}&sku_id={}", w.buyer, w.skus[1]), vec![third]),
        (format!("state=paid&warehouse_id={}", w.warehouses[1]), vec![second]),
        (format!("state=paid&buyer_id={}", w.buyer), vec![]),
        ("promise_at_risk=false".to_string(), vec![third, second, first]),
        ("promise_at_risk=true".to_string(), vec![]),
        ("flash_sale_id=1".to_string(), vec![]),
    ];
    for (query, expected) in cases {
        assert_eq!(listed(&app, m, &query).await, expected, "{query}");
    }
    app.shutdown().await;
}

async fn a_search_finds_an_order_by_id_with_or_without_hash_and_a_buyers_orders(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let o = three_orders(&app).await;
    let m = &o.w.merchant;
    // An id may be both an order's and a buyer's: the search answers both.
    let matches = |number: i64, order: &Value| order["id"] == number || order["buyer_id"] == number;
    for number in [o.ids[1], o.w.buyer, o.other_buyer.0] {
        for q in [number.to_string(), format!("%23{number}")] {
            let page = app.get(&format!("/v1/orders?q={q}"), m).await;
            let items = page.assert_status(200)["items"].as_array().unwrap().clone();
            assert!(!items.is_empty(), "q={q}");
            assert!(items.iter().all(|order| matches(number, order)), "q={q}: {items:?}");
        }
    }
    let by_buyer = listed(&app, m, &format!("q={}", o.w.buyer)).await;
    assert!(
        by_buyer.contains(&o.ids[0]) && by_buyer.contains(&o.ids[2]),
        "{by_buyer:?}"
    );
    let by_order = listed(&app, m, &format!("q=%23{}", o.ids[1])).await;
    assert!(by_order.contains(&o.ids[1]), "{by_order:?}");
    assert_eq!(listed(&app, m, "q=999999999").await, Vec::<i64>::new());
    app.shutdown().await;
}

async fn another_shops_orders_never_appear_whatever_the_filter(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let o = three_orders(&app).await;
    let (other_shop, other_merchant) = app.shop("隔壁小店").await;
    let warehouse = app.warehouse(&other_merchant, "杭州仓", "330106000000").await;
    let skus = app.product(&other_merchant, "龙井", &[8800]).await;
    app.stock(&other_merchant, skus[0], warehouse, 5).await;
    let theirs = app.checkout(&o.w.buyer_token, &[(skus[0], 1)]).await;
    let theirs = theirs.assert_status(201)["orders"][0]["id"].as_i64().unwrap();
    assert_eq!(
        listed(&app, &o.w.merchant, &format!("buyer_id={}", o.w.buyer)).await,
        vec![o.ids[2], o.ids[0]]
    );
    for query in [
        format!("q={theirs}"),
        format!("sku_id={}", skus[0]),
        format!("warehouse_id={warehouse}"),
    ] {
        assert_eq!(listed(&app, &o.w.merchant, &query).await, Vec::<i64>::new(), "{query}");
    }
    // Theirs sees only theirs, even when asking for the first shop's SKU.
    assert_eq!(
        listed(&app, &other_merchant, &format!("sku_id={}", o.w.skus[0])).await,
        Vec::<i64>::new()
    );
    assert_eq!(
        listed(&app, &other_merchant, &format!("q={theirs}")).await,
        vec![theirs]
    );
    // A buyer sees their own orders only, and nothing when naming another buyer.
    let own = listed(&app, &o.w.buyer_token, &format!("sku_id={}", o.w.skus[1])).await;
    assert_eq!(own, vec![o.ids[2]]);
    let others = listed(&app, &o.w.buyer_token, &format!("buyer_id={}", o.other_buyer.0)).await;
    assert_eq!(others, Vec::<i64>::new());
    // The operator sees every shop's.
    assert_eq!(
        listed(&app, &app.admin, &format!("q={theirs}")).await.first(),
        Some(&theirs)
    );
    assert!(other_shop > 0);
    app.shutdown().await;
}

async fn a_filtered_list_pages_by_cursor_without_gaps_or_repeats(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let o = three_orders(&app).await;
    let m = &o.w.merchant;
    for query in [
        format!("sku_id={}", o.w.skus[1]),
        format!("warehouse_id={}", o.w.warehouses[0]),
        format!("buyer_id={}", o.w.buyer),
        String::from("state=pending_payment"),
    ] {
        let whole = listed(&app, m, &query).await;
        assert_eq!(whole.len(), 2, "{query}");
        let mut walked = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let after = cursor.as_ref().map(|c| format!("&cursor={c}")).unwrap_or_default();
            let page = app.get(&format!("/v1/orders?{query}&limit=1{after}"), m).await;
            let body = page.assert_status(200).clone();
            walked.extend(
                body["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|o| o["id"].as_i64().unwrap()),
            );
            match body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => break,
            }
        }
        assert_eq!(walked, whole, "{query}");
    }
    app.shutdown().await;
}

async fn malformed_filters_are_refused_with_the_field_named(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, merchant) = app.shop("小店").await;
    for (query, field) in [
        ("sku_id=0", "sku_id"),
        ("warehouse_id=-3", "warehouse_id"),
        ("flash_sale_id=0", "flash_sale_id"),
        ("buyer_id=0", "buyer_id"),
        ("promise_at_risk=yes", "promise_at_risk"),
        ("q=abc", "q"),
        ("q=%23", "q"),
        ("q=0123", "q"),
        ("state=lost", "state"),
    ] {
        let answer = app.get(&format!("/v1/orders?{query}"), &merchant).await;
        answer.assert_problem(422, "invalid_field");
        assert_eq!(answer.body["field"], field, "{query}");
    }
    app.get("/v1/orders?sku_id=x", &merchant)
        .await
        .assert_problem(400, "invalid_query");
    app.shutdown().await;
}

/// The export's answer: status, content type, content disposition and body.
async fn export(app: &TestApp, token: &str, query: &str) -> (u16, String, String, Vec<u8>) {
    let url = app.url(&format!("/v1/orders/export.csv?{query}"));
    let response = app.http.get(url).bearer_auth(token).send().await.unwrap();
    let header = |name: &str| {
        let value = response.headers().get(name).map(|v| v.to_str().unwrap().to_string());
        value.unwrap_or_default()
    };
    let (kind, disposition) = (header("content-type"), header("content-disposition"));
    let status = response.status().as_u16();
    (status, kind, disposition, response.bytes().await.unwrap().to_vec())
}

/// The records of a CSV body after its byte-order mark, the header first.
fn records(body: &[u8]) -> Vec<Vec<String>> {
    let text = body
        .strip_prefix("\u{feff}".as_bytes())
        .expect("a UTF-8 byte-order mark");
    let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(text);
    reader
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect()
}

async fn the_csv_export_is_the_filtered_list_with_a_bom_a_header_and_quoted_fields(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let o = three_orders(&app).await;
    let (w, m) = (&o.w, &o.w.merchant);
    let detail = "南京东路1号, 3楼 \"前台\" 收";
    let body = serde_json::json!({
        "lines": [{ "sku_id": w.skus[0], "quantity": 2 }],
        "address": { "adcode": "310101000000", "detail": detail },
    });
    let quoted = app.post("/v1/checkouts", &w.buyer_token, body).await;
    let quoted = quoted.assert_status(201)["orders"][0]["id"].as_i64().unwrap();

    let (status, kind, disposition, body) = export(&app, m, &format!("sku_id={}", w.skus[0])).await;
    assert_eq!((status, kind.as_str()), (200, "text/csv; charset=utf-8"));
    assert!(
        disposition.starts_with("attachment; filename=\"orders-") && disposition.ends_with(".csv\""),
        "{disposition}"
    );
    let rows = records(&body);
    assert_eq!(rows[0][0], "order_id");
    assert_eq!(rows.len(), 3, "the header and the SKU's two orders: {rows:?}");
    let ids: Vec<i64> = rows[1..].iter().map(|r| r[0].parse().unwrap()).collect();
    assert_eq!(ids, vec![quoted, o.ids[0]]);
    let newest = &rows[1];
    let column = |name: &str| rows[0].iter().position(|h| h.starts_with(name)).unwrap();
    assert_eq!(newest[column("address")], detail);
    assert_eq!(newest[column("items")], format!("{}×2", w.skus[0]));
    assert_eq!(newest[column("total_yuan")], "119.80");
    assert_eq!(newest[column("province")], "上海市");
    assert_eq!(newest[column("state")], "pending_payment");
    assert!(String::from_utf8_lossy(&body).contains("\"南京东路1号, 3楼 \"\"前台\"\" 收\""));

    // Everything of the shop, and nothing of it for another shop.
    assert_eq!(records(&export(&app, m, "").await.3).len(), 5);
    let (_, other) = app.shop("隔壁小店").await;
    assert_eq!(records(&export(&app, &other, "").await.3).len(), 1);
    let (status, kind, _, _) = export(&app, m, "sku_id=0").await;
    assert_eq!((status, kind.as_str()), (422, "application/problem+json"));
    app.shutdown().await;
}

async fn bulk_shipping_ships_each_paid_order_whole_and_answers_each_refusal(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let o = three_orders(&app).await;
    let (_, other_merchant) = app.shop("隔壁小店").await;
    let m = &o.w.merchant;
    let [unpaid, paid, _] = o.ids;
    let body = serde_json::json!({ "order_ids": [paid, unpaid, 999_999_999] });
    let answer = app.post_with_key("/v1/shipments/bulk", m, "bulk-1", body.clone()).await;
    let results = answer.assert_status(200)["results"].as_array().unwrap().clone();
    let outcome = |r: &Value| (r["order_id"].as_i64().unwrap(), r["result"].clone(), r["code"].clone());
    let outcomes: Vec<_> = results.iter().map(outcome).collect();
    assert_eq!(
        outcomes,
        vec![
            (paid, "shipped".into(), Value::Null),
            (unpaid, "refused".into(), "order_not_dispatched".into()),
            (999_999_999, "refused".into(), "not_found".into()),
        ]
    );
    // The paid order's two parcels (two warehouses) left together, and it is shipped.
    let shipments = results[0]["shipment_ids"].as_array().unwrap().clone();
    assert_eq!(shipments.len(), 2, "{results:?}");
    assert_eq!(app.order(paid).await["state"], "shipped");
    assert_eq!(app.order(unpaid).await["state"], "pending_payment");
    let listed = app.get(&format!("/v1/orders/{paid}/shipments"), m).await;
    assert_eq!(listed.assert_status(200)["items"].as_array().unwrap().len(), 2);

    // The key replays the answer; a new request finds the order shipped, with its shipments.
    let replayed = app.post_with_key("/v1/shipments/bulk", m, "bulk-1", body).await;
    assert!(replayed.replayed);
    assert_eq!(replayed.raw, answer.raw);
    let again = app
        .post("/v1/shipments/bulk", m, serde_json::json!({ "order_ids": [paid] }))
        .await;
    let again = again.assert_status(200)["results"][0].clone();
    assert_eq!(again["result"], "shipped");
    let mut ids: Vec<i64> = again["shipment_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_i64().unwrap())
        .collect();
    let mut first: Vec<i64> = shipments.iter().map(|i| i.as_i64().unwrap()).collect();
    ids.sort_unstable();
    first.sort_unstable();
    assert_eq!(ids, first);
    // Another shop cannot ship it, nor learn that it exists.
    let theirs = app
        .post(
            "/v1/shipments/bulk",
            &other_merchant,
            serde_json::json!({ "order_ids": [o.ids[2]] }),
        )
        .await;
    assert_eq!(theirs.assert_status(200)["results"][0]["code"], "not_found");
    app.shutdown().await;
}

async fn bulk_shipping_refuses_an_empty_oversized_or_repeated_list(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let o = three_orders(&app).await;
    let m = &o.w.merchant;
    let many: Vec<i64> = (1..=101).collect();
    for (ids, field) in [
        (serde_json::json!([]), "order_ids"),
        (serde_json::json!(many), "order_ids"),
        (serde_json::json!([o.ids[1], o.ids[1]]), "order_ids[1]"),
        (serde_json::json!([0]), "order_ids[0]"),
    ] {
        let answer = app
            .post("/v1/shipments/bulk", m, serde_json::json!({ "order_ids": ids }))
            .await;
        answer.assert_problem(422, "invalid_field");
        assert_eq!(answer.body["field"], field);
    }
    app.post("/v1/shipments/bulk", m, serde_json::json!({ "order_ids": [1.5] }))
        .await
        .assert_problem(400, "wrong_type");
    let buyer = app
        .post(
            "/v1/shipments/bulk",
            &o.w.buyer_token,
            serde_json::json!({ "order_ids": [o.ids[1]] }),
        )
        .await;
    assert_eq!(buyer.status.as_u16(), 403, "{}", buyer.raw);
    assert_eq!(app.order(o.ids[1]).await["state"], "paid");
    app.shutdown().await;
}
