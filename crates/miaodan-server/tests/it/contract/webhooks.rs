//! Outgoing webhooks: a shop's endpoints and their delivery log, managed by its merchant or an
//! operator (a buyer may not: see `crate::webhooks`), another shop's reading as missing.

use super::support::*;

both_backends!(a_buyer_may_not_touch_webhooks_and_a_merchant_manages_their_shops,);

pub const ENDPOINTS: &str = "/v1/webhook-endpoints";
pub const ENDPOINT: &str = "/v1/webhook-endpoints/{endpoint_id}";
pub const ROTATE: &str = "/v1/webhook-endpoints/{endpoint_id}/rotate-secret";
pub const DELIVERIES: &str = "/v1/webhook-endpoints/{endpoint_id}/deliveries";
pub const REPLAY: &str = "/v1/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/replay";

/// Where the contract's endpoints point: a loopback port no one listens on (the discard port),
/// so their deliveries stay pending.
pub const NOWHERE: &str = "http://127.0.0.1:9/contract";

/// Registers an endpoint of the merchant's shop for every order event; answers its id.
pub async fn register(app: &TestApp, merchant: &str) -> i64 {
    let made = app
        .post(ENDPOINTS, merchant, json!({ "url": NOWHERE, "topics": ["order"] }))
        .await;
    made.assert_status(201)["id"].as_i64().unwrap()
}

/// Two deliveries of the side's endpoint (its orders' events), once the fan-out made them.
pub async fn two_deliveries(app: &TestApp, side: &Side) -> [i64; 2] {
    let path = format!("/v1/webhook-endpoints/{}/deliveries?limit=200", side.webhook_endpoint);
    common::eventually(Duration::from_secs(30), "two webhook deliveries", || async {
        let log = app.get(&path, &side.merchant).await;
        let ids = ids(&log.assert_status(200)["items"]);
        (ids.len() >= 2).then(|| [ids[0], ids[1]])
    })
    .await
}

/// The webhooks' operations: called by an operator here; a merchant manages their shop's too.
pub fn endpoints(app: &TestApp, t: &Tenants) -> Vec<Endpoint> {
    let endpoint = endpoint_with(app, t);
    let a = &t.a;
    let one = format!("/v1/webhook-endpoints/{}", a.webhook_endpoint);
    let new = json!({ "url": NOWHERE, "topics": ["order.paid", "shipment"], "shop_id": a.shop });
    vec![
        endpoint(ENDPOINTS, Method::POST, ENDPOINTS.into(), Some(new), None),
        endpoint(
            ENDPOINTS,
            Method::GET,
            format!("{ENDPOINTS}?shop_id={}", a.shop),
            None,
            None,
        ),
        endpoint(ENDPOINT, Method::GET, one.clone(), None, None),
        endpoint(
            ENDPOINT,
            Method::PATCH,
            one.clone(),
            Some(json!({ "description": "ERP", "enabled": true })),
            None,
        ),
        endpoint(
            ENDPOINT,
            Method::DELETE,
            format!("/v1/webhook-endpoints/{}", a.webhook_spare),
            None,
            None,
        ),
        endpoint(ROTATE, Method::POST, format!("{one}/rotate-secret"), None, None),
        endpoint(
            DELIVERIES,
            Method::GET,
            format!("{one}/deliveries?state=pending"),
            None,
            None,
        ),
        endpoint(
            REPLAY,
            Method::POST,
            format!("{one}/deliveries/{}/replay", a.webhook_deliveries[0]),
            None,
            None,
        ),
    ]
}

/// Per webhook operation that takes a key: a request, and another one to the same operation.
pub fn keyed_pairs(app: &TestApp, t: &Tenants) -> Vec<(Call, Call)> {
    let a = &t.a;
    let post = |path: String, token: &str, body: Option<Value>| {
        let call = Call::new(Method::POST, path, token);
        match body {
            Some(body) => call.json(&body),
            None => call,
        }
    };
    let one = format!("/v1/webhook-endpoints/{}", a.webhook_endpoint);
    let spare = format!("/v1/webhook-endpoints/{}", a.webhook_spare);
    let patch = |description: &str| {
        Call::new(Method::PATCH, one.clone(), &a.merchant).json(&json!({ "description": description }))
    };
    let new = |topic: &str| json!({ "url": NOWHERE, "topics": [topic], "shop_id": a.shop });
    let replay = |delivery: i64| format!("{one}/deliveries/{delivery}/replay");
    vec![
        (
            post(ENDPOINTS.into(), &app.admin, Some(new("order.paid"))),
            post(ENDPOINTS.into(), &app.admin, Some(new("order.placed"))),
        ),
        (patch("一"), patch("二")),
        (
            post(format!("{one}/rotate-secret"), &a.merchant, None),
            post(format!("{spare}/rotate-secret"), &a.merchant, None),
        ),
        (
            post(replay(a.webhook_deliveries[0]), &a.merchant, None),
            post(replay(a.webhook_deliveries[1]), &a.merchant, None),
        ),
    ]
}

/// (B's endpoint or delivery, a missing one) for A's merchant: answered alike.
pub fn tenant_pairs(t: &Tenants) -> Vec<(Call, Call)> {
    let (a, b) = (&t.a, &t.b);
    let missing = 999_999;
    let call = |method: Method, path: String| Call::new(method, path, &a.merchant);
    let patch = |path: String| call(Method::PATCH, path).json(&json!({ "enabled": false }));
    let theirs = format!("/v1/webhook-endpoints/{}", b.webhook_endpoint);
    let nobodys = format!("/v1/webhook-endpoints/{missing}");
    let mine = format!("/v1/webhook-endpoints/{}", a.webhook_endpoint);
    let b_delivery = b.webhook_deliveries[0];
    vec![
        (call(Method::GET, theirs.clone()), call(Method::GET, nobodys.clone())),
        (patch(theirs.clone()), patch(nobodys.clone())),
        (
            call(Method::DELETE, theirs.clone()),
            call(Method::DELETE, nobodys.clone()),
        ),
        (
            call(Method::POST, format!("{theirs}/rotate-secret")),
            call(Method::POST, format!("{nobodys}/rotate-secret")),
        ),
        (
            call(Method::GET, format!("{theirs}/deliveries")),
            call(Method::GET, format!("{nobodys}/deliveries")),
        ),
        (
            call(Method::POST, format!("{theirs}/deliveries/{b_delivery}/replay")),
            call(Method::POST, format!("{nobodys}/deliveries/{b_delivery}/replay")),
        ),
        (
            call(Method::POST, format!("{mine}/deliveries/{b_delivery}/replay")),
            call(Method::POST, format!("{mine}/deliveries/{missing}/replay")),
        ),
    ]
}

async fn a_buyer_may_not_touch_webhooks_and_a_merchant_manages_their_shops(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenants(&app).await;
    let rows = endpoints(&app, &t);
    let as_token = |call: &Call, token: &str| {
        call.clone()
            .authorization(Some(HeaderValue::from_str(&format!("Bearer {token}")).unwrap()))
    };
    let mut cases = Vec::new();
    for row in &rows {
        let call = as_token(&row.call, &t.a.buyer_token);
        cases.push((call.clone(), (403, "forbidden", None)));
        if call.body.is_some() {
            // Who asks is settled before what is asked.
            cases.push((call.raw(JSON, b"{".to_vec()), (403, "forbidden", None)));
        }
    }
    expect_refusals_in_bulk(&app, &t, &cases).await;
    // The shop's merchant may make every one of these requests about their shop.
    for row in &rows {
        let mut call = as_token(&row.call, &t.a.merchant);
        if row.route == ENDPOINTS && row.call.method == Method::POST {
            call = call.json(&json!({ "url": NOWHERE, "topics": ["refund"] }));
        }
        assert_success(&call.send(&app).await, &call.label());
    }
    app.shutdown().await;
}
