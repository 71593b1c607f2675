//! Lists: every list that can grow pages one way — `limit` and `cursor` in, `{items,
//! next_cursor}` out — as the served document says; a walk over the pages of any list sees
//! every item once; bad paging parameters are refused alike everywhere; and the listings of
//! payment intents and refunds show each caller only its own (per buyer, per shop, per day).

use super::routes::{Operation, documented};
use super::support::*;

both_backends!(
    every_list_the_document_names_takes_a_limit_and_a_cursor_and_answers_a_page,
    every_list_walks_its_pages_with_no_item_twice_or_missed,
    every_list_refuses_a_bad_limit_or_cursor_alike,
    payment_intents_and_refunds_are_listed_per_buyer_per_shop_and_per_day,
);

/// The lists the issue names, at least: each must be paged.
const PAGED: [&str; 13] = [
    "/v1/shops",
    "/v1/warehouses",
    "/v1/skus/{sku_id}/stock",
    "/v1/products",
    "/v1/orders",
    "/v1/orders/{order_id}/refunds",
    "/v1/orders/{order_id}/shipments",
    "/v1/flash-sales",
    "/v1/one-tap-agreements",
    "/v1/package-center/alerts",
    "/v1/payment-intents",
    "/v1/refunds",
    "/v1/reconciliation",
];

/// The documented operations that take a `cursor`: the lists.
async fn documented_lists(app: &TestApp) -> BTreeSet<Operation> {
    let document = app.send(app.http.get(app.url("/openapi.json"))).await.body;
    let mut lists = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        // The API's lists; `/errors` is the fixed table of error codes, not a list that grows.
        let Some(get) = item.get("get").filter(|_| path.starts_with("/v1/")) else {
            continue;
        };
        let names: BTreeSet<&str> = get["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "query")
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        let answer = &get["responses"]["200"]["content"]["application/json"]["schema"];
        let page = answer["$ref"]
            .as_str()
            .is_some_and(|r| r.starts_with("#/components/schemas/Page_"));
        assert_ne!(answer["type"], "array", "GET {path} answers a bare list: {answer}");
        assert_eq!(
            (names.contains("limit"), names.contains("cursor")),
            (page, page),
            "GET {path}: a page takes limit and cursor, and only a page does"
        );
        if page {
            let schema = answer["$ref"].as_str().unwrap().rsplit('/').next().unwrap();
            let schema = &document["components"]["schemas"][schema];
            let required: Vec<&str> = schema["required"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap())
                .collect();
            assert_eq!(required, vec!["items", "next_cursor"], "GET {path}: {schema}");
            lists.insert(("GET".to_string(), path.clone()));
        }
    }
    lists
}

/// The contract's row of each list: a request its role may make.
async fn list_calls(app: &TestApp, t: &Tenants) -> Vec<(String, Call)> {
    let lists = documented_lists(app).await;
    endpoints(app, t)
        .into_iter()
        .filter(|e| lists.contains(&(e.call.method.to_string(), e.route.to_string())))
        .map(|e| (e.route.to_string(), e.call))
        .collect()
}

/// The call with more query parameters.
fn with_query(call: &Call, query: &str) -> Call {
    let mut call = call.clone();
    let separator = if call.path.contains('?') { '&' } else { '?' };
    call.path = format!("{}{separator}{query}", call.path);
    call
}

/// Every item of a list, walking its pages of `limit` items; each page but the last is full.
async fn walk(app: &TestApp, call: &Call, limit: usize) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1000 {
        let query = match &cursor {
            Some(cursor) => format!("limit={limit}&cursor={cursor}"),
            None => format!("limit={limit}"),
        };
        let page = with_query(call, &query);
        let answer = page.send(app).await;
        assert_success(&answer, &page.label());
        let page_items = answer.body["items"].as_array().unwrap().clone();
        assert!(page_items.len() <= limit, "{}", page.label());
        match answer.body["next_cursor"].as_str() {
            Some(next) => {
                assert_eq!(
                    page_items.len(),
                    limit,
                    "{}: a page before the last is full",
                    page.label()
                );
                cursor = Some(next.to_string());
            }
            None => {
                assert_eq!(answer.body["next_cursor"], Value::Null, "{}", page.label());
                items.extend(page_items);
                return items;
            }
        }
        items.extend(page_items);
    }
    panic!("{}: the pages never end", call.label());
}

async fn every_list_the_document_names_takes_a_limit_and_a_cursor_and_answers_a_page(backend: Backend) {
    let app = spawn(backend).await;
    let lists = documented_lists(&app).await;
    let documented = documented(&app).await;
    for path in PAGED {
        let operation = ("GET".to_string(), path.to_string());
        if path == "/v1/reconciliation" {
            // A day's report, not a list: it does not grow with the platform.
            assert!(documented.operations.contains(&operation) && !lists.contains(&operation));
        } else {
            assert!(lists.contains(&operation), "GET {path} is not paged");
        }
    }
    app.shutdown().await;
}

/// The items without what the walk itself changes: a token's last use is the walk's own
/// request.
fn stable(mut items: Vec<Value>) -> Vec<Value> {
    for item in &mut items {
        if let Some(fields) = item.as_object_mut() {
            fields.remove("last_used_at");
        }
    }
    items
}

async fn every_list_walks_its_pages_with_no_item_twice_or_missed(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenants(&app).await;
    let calls = list_calls(&app, &t).await;
    assert!(calls.len() >= 12, "{}", calls.len());
    let mut walked_across_pages = 0;
    for (route, call) in &calls {
        let whole = with_query(call, "limit=200").send(&app).await;
        assert_success(&whole, &call.label());
        assert_eq!(whole.body["next_cursor"], Value::Null, "{route}: fits one page");
        let whole = stable(whole.body["items"].as_array().unwrap().clone());
        for limit in [1, 2, 3] {
            assert_eq!(stable(walk(&app, call, limit).await), whole, "{route}, {limit} a page");
        }
        if whole.len() > 1 {
            walked_across_pages += 1;
        }
    }
    assert!(
        walked_across_pages >= 5,
        "too few lists of the tenants have two items or more"
    );
    app.shutdown().await;
}

async fn every_list_refuses_a_bad_limit_or_cursor_alike(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenants(&app).await;
    // Cursors another list made: they name a position of that list, not of this one.
    let server = &app;
    let next_cursor = |call: Call| async move {
        let answer = with_query(&call, "limit=1").send(server).await;
        answer.body["next_cursor"].as_str().unwrap().to_string()
    };
    let of_orders = next_cursor(Call::get("/v1/orders", &app.admin)).await;
    let of_shops = next_cursor(Call::get("/v1/shops", &app.admin)).await;
    let out_of_range = (422, "invalid_field", Some("limit"));
    let malformed_limit = (400, "invalid_query", Some("limit"));
    let bad_cursor = (400, "invalid_cursor", Some("cursor"));
    let mut cases = Vec::new();
    for (route, call) in list_calls(&app, &t).await {
        let foreign = if route == "/v1/orders" { &of_shops } else { &of_orders };
        for (query, refusal) in [
            ("limit=0".to_string(), out_of_range),
            ("limit=-1".to_string(), out_of_range),
            ("limit=201".to_string(), out_of_range),
            ("limit=abc".to_string(), malformed_limit),
            ("limit=1.5".to_string(), malformed_limit),
            ("limit=".to_string(), malformed_limit),
            ("limit=1&limit=1".to_string(), malformed_limit),
            ("cursor=".to_string(), bad_cursor),
            ("cursor=abc".to_string(), bad_cursor),
            ("cursor=%00".to_string(), bad_cursor),
            ("cursor=7b7d".to_string(), bad_cursor),
            (format!("cursor={}", "0".repeat(600)), bad_cursor),
            (format!("cursor={foreign}"), bad_cursor),
            ("cursor=a&cursor=b".to_string(), (400, "invalid_query", Some("cursor"))),
            ("bogus=1".to_string(), (400, "invalid_query", Some("bogus"))),
        ] {
            cases.push((with_query(&call, &query), refusal));
        }
    }
    expect_refusals_in_bulk(&app, &t, &cases).await;
    app.shutdown().await;
}

/// The ids of every item of a list (walked a page of 1 at a time, which must agree).
async fn listed_ids(app: &TestApp, path: &str, token: &str) -> Vec<i64> {
    let separator = if path.contains('?') { '&' } else { '?' };
    let whole = listed(app, &format!("{path}{separator}limit=200"), token).await;
    let walked = walk(app, &Call::get(path, token), 1).await;
    assert_eq!(ids(&Value::Array(walked)), whole, "{path}");
    whole
}

async fn payment_intents_and_refunds_are_listed_per_buyer_per_shop_and_per_day(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenants(&app).await;
    let (a, b) = (&t.a, &t.b);
    // A's buyer checks out from both shops: one intent, an order per shop; each merchant
    // refunds part of its own order, and A's merchant part of A's first paid order.
    let both = app.checkout(&a.buyer_token, &[(a.sku, 1), (b.sku, 1)]).await;
    let both = both.assert_status(201).clone();
    let order_of = |shop: i64| {
        both["orders"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["shop_id"] == shop)
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    let (order_a, order_b) = (order_of(a.shop), order_of(b.shop));
    let shared = app
        .pay_checkout(&a.buyer_token, both["checkout_id"].as_i64().unwrap())
        .await;
    let shared = shared["id"].as_i64().unwrap();
    let server = &app;
    let refund = |merchant: &str, order: i64, fen: i64| {
        let path = format!("/v1/orders/{order}/refunds");
        let merchant = merchant.to_string();
        async move {
            let refunded = server.post(&path, &merchant, json!({ "amount_fen": fen })).await;
            refunded.assert_status(201)["id"].as_i64().unwrap()
        }
    };
    let refund_a = refund(&a.merchant, order_a, 100).await;
    let refund_b = refund(&b.merchant, order_b, 200).await;
    let refund_paid = refund(&a.merchant, a.paid_order, 300).await;
    let (a_first, b_first) = (a.intent, b.intent);

    // Intents, newest first: a buyer's own; a merchant's shop's (of the shared one, only its
    // part); every one for operators.
    let a_intents = listed_ids(&app, "/v1/payment-intents", &a.buyer_token).await;
    assert_eq!(a_intents.first(), Some(&shared));
    assert!(
        a_intents.contains(&a_first) && !a_intents.contains(&b_first),
        "{a_intents:?}"
    );
    let b_intents = listed_ids(&app, "/v1/payment-intents", &b.buyer_token).await;
    assert!(
        b_intents.contains(&b_first) && !b_intents.contains(&shared),
        "{b_intents:?}"
    );
    // Each side's four payments (its paid, shipped and two after-sales orders), and A's shared
    // one.
    assert_eq!(b_intents.len(), 4);
    assert_eq!(a_intents.len(), 5);
    let all = listed_ids(&app, "/v1/payment-intents", &app.admin).await;
    assert_eq!(all.len(), 9);
    assert!(all.windows(2).all(|pair| pair[0] > pair[1]), "newest first: {all:?}");
    for (side, order, refund, fen) in [(a, order_a, refund_a, 100), (b, order_b, refund_b, 200)] {
        let merchants = listed_ids(&app, "/v1/payment-intents", &side.merchant).await;
        let other = if side.shop == a.shop { b_first } else { a_first };
        assert!(
            merchants.contains(&shared) && !merchants.contains(&other),
            "{merchants:?}"
        );
        let page = app.get("/v1/payment-intents?limit=200", &side.merchant).await;
        let part = page.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == shared)
            .unwrap()
            .clone();
        // The list draws the merchant's part as reading the intent does.
        let read = app.get(&format!("/v1/payment-intents/{shared}"), &side.merchant).await;
        assert_eq!(read.assert_status(200), &part);
        assert_eq!(part["shop_id"], side.shop);
        assert_eq!(ids_of(&part["orders"], "order_id"), vec![order]);
        assert_eq!(ids(&part["refunds"]), vec![refund]);
        assert_eq!(part["refunds"][0]["amount_fen"], fen);
    }
    let whole = app.get("/v1/payment-intents?limit=200", &a.buyer_token).await;
    let whole = whole.body["items"][0].clone();
    assert_eq!((whole["id"].as_i64(), &whole["shop_id"]), (Some(shared), &Value::Null));
    assert_eq!(
        ids_of(&whole["orders"], "order_id"),
        vec![order_a.min(order_b), order_a.max(order_b)]
    );

    // Refunds, newest first: of a buyer's payments, of a merchant's shop's orders, every one.
    for (token, expected) in [
        (&a.buyer_token, vec![refund_paid, refund_b, refund_a]),
        (&b.buyer_token, vec![]),
        (&a.merchant, vec![refund_paid, refund_a]),
        (&b.merchant, vec![refund_b]),
        (&app.admin, vec![refund_paid, refund_b, refund_a]),
    ] {
        assert_eq!(listed_ids(&app, "/v1/refunds", token).await, expected);
    }

    // Per day, in Asia/Shanghai: today's are all of them; the day before has none.
    let yesterday: jiff::civil::Date = t.day.parse().unwrap();
    let yesterday = yesterday.yesterday().unwrap().to_string();
    for token in [&a.buyer_token, &a.merchant, &app.admin] {
        for list in ["/v1/payment-intents", "/v1/refunds"] {
            let today = listed_ids(&app, &format!("{list}?date={}", t.day), token).await;
            assert_eq!(today, listed_ids(&app, list, token).await, "{list}");
            let before = listed_ids(&app, &format!("{list}?date={yesterday}"), token).await;
            assert_eq!(before, Vec::<i64>::new(), "{list}");
        }
    }
    let bad_date = (422, "invalid_field", Some("date"));
    let mut cases = Vec::new();
    for list in ["/v1/payment-intents", "/v1/refunds"] {
        for date in ["2026-13-01", "2026-02-30", "2026-1-1", "today", "", "%00"] {
            cases.push((Call::get(format!("{list}?date={date}"), &a.buyer_token), bad_date));
        }
        cases.push((
            Call::get(format!("{list}?buyer_id={}", b.buyer), &a.buyer_token),
            (400, "invalid_query", Some("buyer_id")),
        ));
    }
    expect_refusals_in_bulk(&app, &t, &cases).await;
    app.shutdown().await;
}

/// The values of `field` of every object of a JSON list.
fn ids_of(list: &Value, field: &str) -> Vec<i64> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|item| item[field].as_i64().unwrap())
        .collect()
}
