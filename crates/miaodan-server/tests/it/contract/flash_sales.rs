//! Flash sales: scheduling bodies and refused sales.

use super::support::*;

both_backends!(a_refused_flash_sale_leaves_no_sale_behind,);

pub const TAP_BATCH: &str = "/v1/flash-sales/{flash_sale_id}/taps/batch";

/// A batch of two taps, keyed `{prefix}-a` and `{prefix}-b`: A's buyer's and B's buyer's.
pub fn edge_taps(t: &Tenants, prefix: &str) -> Value {
    json!({ "taps": [
        { "buyer_id": t.a.buyer, "idempotency_key": format!("{prefix}-a") },
        { "buyer_id": t.b.buyer, "idempotency_key": format!("{prefix}-b") },
    ] })
}

/// The flash sales' operations, each with a request that succeeds when made by its role (in this
/// order, on a fresh [`Tenants`]).
pub fn endpoints(app: &TestApp, t: &Tenants) -> Vec<Endpoint> {
    let a = &t.a;
    let endpoint = endpoint_with(app, t);
    let merchant = Some(Role::Merchant);
    let buyer = Some(Role::Buyer);
    vec![
        endpoint(
            "/v1/flash-sales",
            Method::POST,
            "/v1/flash-sales".into(),
            Some(flash_sale(a.sku, a.warehouse, 1)),
            merchant,
        ),
        endpoint("/v1/flash-sales", Method::GET, "/v1/flash-sales".into(), None, None),
        endpoint(
            "/v1/flash-sales/{flash_sale_id}",
            Method::GET,
            format!("/v1/flash-sales/{}", a.sale),
            None,
            None,
        ),
        endpoint(
            "/v1/flash-sales/{flash_sale_id}/taps",
            Method::POST,
            format!("/v1/flash-sales/{}/taps", a.sale),
            Some(json!({})),
            buyer,
        ),
        // A batch of taps from an edge gateway: A's buyer again (over its limit: a result,
        // not a refusal) and B's buyer, who has no tap of A's sale yet.
        endpoint(
            TAP_BATCH,
            Method::POST,
            format!("/v1/flash-sales/{}/taps/batch", a.sale),
            Some(edge_taps(t, "contract")),
            Some(Role::Edge),
        ),
        // The live view and its stream: the sale's merchant and operators (a buyer: see the
        // role test); the stream ends after its first view with `once=true`.
        endpoint(
            LIVE,
            Method::GET,
            format!("/v1/flash-sales/{}/live", a.sale),
            None,
            None,
        ),
        endpoint(
            LIVE_STREAM,
            Method::GET,
            format!("/v1/flash-sales/{}/live/stream?once=true", a.sale),
            None,
            None,
        ),
        // The live room's controls: the sale's merchant or an operator (a buyer: see the role
        // test); a unit more for the spare sale, then its end (last: an ended sale takes none).
        endpoint(
            TOP_UP,
            Method::POST,
            format!("/v1/flash-sales/{}/top-up", a.spare_sale),
            Some(json!({ "units": 1 })),
            None,
        ),
        endpoint(
            END,
            Method::POST,
            format!("/v1/flash-sales/{}/end", a.spare_sale),
            None,
            None,
        ),
        // The sale's risk report and strict mode: its merchant or an operator.
        endpoint(
            SALE_RISK,
            Method::GET,
            format!("/v1/flash-sales/{}/risk", a.sale),
            None,
            None,
        ),
        endpoint(
            SALE_RISK_MODE,
            Method::PUT,
            format!("/v1/flash-sales/{}/risk-mode", a.sale),
            Some(json!({ "strict": false })),
            None,
        ),
    ]
}

pub const SALE_RISK: &str = "/v1/flash-sales/{flash_sale_id}/risk";
pub const SALE_RISK_MODE: &str = "/v1/flash-sales/{flash_sale_id}/risk-mode";

pub const TOP_UP: &str = "/v1/flash-sales/{flash_sale_id}/top-up";
pub const END: &str = "/v1/flash-sales/{flash_sale_id}/end";

pub const LIVE: &str = "/v1/flash-sales/{flash_sale_id}/live";
pub const LIVE_STREAM: &str = "/v1/flash-sales/{flash_sale_id}/live/stream";

pub fn flash_sale_bodies(t: &Tenants) -> Vec<(Call, Refusal)> {
    let a = &t.a;
    // A SKU and a warehouse of the shop, a window of at most 7 days that has not ended, a
    // price, and units the warehouse has.
    let sale = |field: &str, value: Value| {
        let mut body = flash_sale(a.sku, a.warehouse, 1);
        body[field] = value;
        body
    };
    let nonsense = (422, "invalid_flash_sale", None);
    let unknown_sku = (404, "unknown_sku", Some("sku_id"));
    let unknown_warehouse = (404, "unknown_warehouse", Some("warehouse_id"));
    let sales = vec![
        (json!({}), missing("sku_id")),
        (sale("sku_id", json!(0)), invalid("sku_id")),
        (sale("sku_id", json!(-1)), invalid("sku_id")),
        (sale("sku_id", json!(999_999)), unknown_sku),
        (sale("sku_id", json!(t.b.sku)), unknown_sku),
        (sale("sku_id", json!("1")), wrong_type("sku_id")),
        (sale("warehouse_id", json!(0)), invalid("warehouse_id")),
        (sale("warehouse_id", json!(999_999)), unknown_warehouse),
        (sale("warehouse_id", json!(t.b.warehouse)), unknown_warehouse),
        (sale("starts_at", json!("tomorrow")), invalid("starts_at")),
        (sale("starts_at", json!(5)), wrong_type("starts_at")),
        (sale("ends_at", json!("2026-13-01T00:00:00Z")), invalid("ends_at")),
        (sale("ends_at", json!(rfc3339_in(-5))), nonsense),
        (sale("ends_at", json!(rfc3339_in(-2))), nonsense),
        (sale("ends_at", json!(rfc3339_in(8 * 24 * 3600))), nonsense),
        (sale("price_fen", json!(-1)), refused("invalid_price", "price_fen")),
        (sale("price_fen", json!(1e30)), wrong_type("price_fen")),
        (sale("units", json!(0)), nonsense),
        (sale("units", json!(-1)), nonsense),
        (sale("units", json!(100_000_001)), nonsense),
        (sale("units", json!(9_223_372_036_854_775_808_u64)), wrong_type("units")),
        (sale("units", json!(10_000)), (409, "insufficient_stock", Some("units"))),
        (sale("per_buyer_limit", json!(0)), nonsense),
        (sale("per_buyer_limit", json!(2)), nonsense),
        (sale("payment_timeout_seconds", json!(0)), nonsense),
        (sale("payment_timeout_seconds", json!(24 * 3600 + 1)), nonsense),
    ];
    // Taps: an optional quantity and address.
    let taps = vec![
        (json!({ "quantity": 0 }), refused("invalid_quantity", "quantity")),
        (json!({ "quantity": 10_001 }), refused("invalid_quantity", "quantity")),
        (json!({ "quantity": 1e30 }), wrong_type("quantity")),
        (json!({ "quantity": "1" }), wrong_type("quantity")),
        (
            json!({ "address": { "adcode": "999999999999", "detail": "1号" } }),
            (404, "unknown_adcode", Some("address.adcode")),
        ),
        (
            json!({ "address": { "adcode": "310101000000" } }),
            missing("address.detail"),
        ),
    ];
    let tap_path = format!("/v1/flash-sales/{}/taps", a.sale);
    // Batches of taps: 1 to 1 000 taps, each with a buyer and a key (a tap's own problems are
    // its result, not the batch's).
    let thousand_and_one: Vec<Value> = (0..1_001)
        .map(|i| json!({ "buyer_id": a.buyer, "idempotency_key": format!("many-{i}") }))
        .collect();
    let batches = vec![
        (json!({}), missing("taps")),
        (json!({ "taps": 5 }), wrong_type("taps")),
        (json!({ "taps": [] }), invalid("taps")),
        (json!({ "taps": thousand_and_one }), refused("too_many_taps", "taps")),
        (
            json!({ "taps": [{ "idempotency_key": "k" }] }),
            missing("taps[0].buyer_id"),
        ),
        (
            json!({ "taps": [{ "buyer_id": a.buyer }] }),
            missing("taps[0].idempotency_key"),
        ),
        (
            json!({ "taps": [{ "buyer_id": "1", "idempotency_key": "k" }] }),
            wrong_type("taps[0].buyer_id"),
        ),
    ];
    let batch_path = format!("/v1/flash-sales/{}/taps/batch", a.sale);
    [
        bodies(Call::new(Method::POST, &batch_path, &t.edge), batches),
        bodies(Call::new(Method::POST, "/v1/flash-sales", &a.merchant), sales),
        bodies(Call::new(Method::POST, &tap_path, &a.buyer_token), taps),
        bodies(
            Call::new(Method::POST, &tap_path, &t.homeless_buyer),
            vec![(json!({}), refused("no_address", "address"))],
        ),
    ]
    .concat()
}

async fn a_refused_flash_sale_leaves_no_sale_behind(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenants(&app).await;
    let a = &t.a;
    let before = snapshot(&app, &t).await;
    let refused = app
        .post("/v1/flash-sales", &a.merchant, flash_sale(a.sku, a.warehouse, 10_000))
        .await;
    refused.assert_problem(409, "insufficient_stock");
    assert!(snapshot(&app, &t).await == before, "a refused sale changed something");
    // Ids are handed out in order: the refused sale had the id just before this one.
    let next = app
        .post("/v1/flash-sales", &a.merchant, flash_sale(a.sku, a.warehouse, 1))
        .await;
    let refused_id = next.assert_status(201)["id"].as_i64().unwrap() - 1;
    assert!(refused_id > a.sale.max(t.b.sale), "{refused_id}");
    for path in [
        format!("/v1/flash-sales/{refused_id}/taps"),
        "/v1/flash-sales/999999/taps".to_string(),
    ] {
        let tap = Call::new(Method::POST, path, &a.buyer_token).send(&app).await;
        tap.assert_problem(404, "not_found");
    }
    app.get(&format!("/v1/flash-sales/{refused_id}"), &a.buyer_token)
        .await
        .assert_problem(404, "not_found");
    app.shutdown().await;
}
