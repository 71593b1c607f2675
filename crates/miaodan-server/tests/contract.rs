//! The HTTP contract of every operation of `/openapi.json`, over real HTTP on both backends:
//! - every refusal is `application/problem+json` with a stable `code` (and the `field` at
//!   fault), never a 5xx, and changes nothing that any read endpoint shows;
//! - a missing or bad token is 401, a wrong role 403, and another tenant's object answers
//!   exactly like a missing one (404);
//! - every mutating endpoint honours `Idempotency-Key` (but the providers' webhooks, which
//!   deduplicate by event id, and revoking a one-tap agreement, which is idempotent itself);
//! - the payment provider's and the carriers' webhooks read no token: each refuses every
//!   notification whose signature does not verify, and every signed body it cannot read;
//! - delivery options are public: they read no token;
//! - the happy paths the order tests do not cover, and the system endpoints.
//!
//! Every server here pays through a simpay and ships through a simcarrier that the test serves
//! itself, so that the tests know both webhook secrets and can sign notifications. The
//! simcarrier runs in manual time: no parcel moves unless a test says so.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Answer, Backend, TestApp, WALLET};
use futures::future::join_all;
use miaodan_server::carriers::CarriersConfig;
use miaodan_server::http::extract::REQUEST_BODY_BYTES_MAX;
use reqwest::Method;
use reqwest::header::HeaderValue;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

both_backends!(
    every_malformed_body_is_refused_with_a_stable_problem_and_changes_nothing,
    every_bad_path_id_is_not_found_and_changes_nothing,
    every_bad_query_parameter_is_refused_with_a_stable_problem,
    a_body_over_the_limit_is_payload_too_large_on_every_mutating_endpoint,
    a_body_of_exactly_the_limit_is_accepted_and_one_byte_more_is_not,
    a_json_media_type_is_matched_without_regard_to_case_or_parameters,
    every_endpoint_refuses_a_missing_or_invalid_token_before_reading_the_body,
    every_role_restricted_endpoint_forbids_the_other_roles,
    another_tenants_objects_answer_like_missing_ones_and_stay_unchanged,
    listings_show_only_the_callers_own_objects,
    shops_are_created_listed_and_read_by_the_admin_and_their_own_merchant,
    buyers_are_created_and_read_by_the_admin_and_themselves,
    issued_tokens_work_at_once_and_each_is_distinct,
    warehouses_are_created_and_listed_with_their_division,
    products_are_created_read_searched_and_filtered,
    product_cursor_pagination_visits_every_product_exactly_once,
    patching_a_product_changes_only_the_given_fields_and_archiving_hides_it_from_buyers,
    an_added_sku_can_be_stocked_and_ordered,
    a_sku_price_change_leaves_an_already_placed_order_unchanged,
    stock_is_set_per_warehouse_and_keeps_reserved_units,
    orders_are_listed_newest_first_and_filtered_by_state_and_creation_time,
    order_cursor_pagination_visits_every_order_exactly_once_even_with_equal_timestamps,
    system_endpoints_answer_without_a_token,
    the_openapi_document_lists_exactly_the_v1_routes_of_the_router,
    the_contract_exercises_every_documented_operation,
    unknown_routes_and_wrong_methods_are_problems,
    every_mutating_endpoint_replays_a_repeated_key_and_refuses_a_reused_one,
    an_invalid_idempotency_key_is_refused_on_every_mutating_endpoint_and_changes_nothing,
    refusals_decided_by_a_shard_are_replayed_byte_for_byte,
    a_refused_flash_sale_leaves_no_sale_behind,
    a_replayed_token_issuance_does_not_reveal_the_secret,
    delivery_options_answer_anyone_per_shop_of_the_cart,
    a_carrier_event_is_applied_once_and_a_refused_one_changes_nothing,
    the_alert_stream_is_an_event_stream_for_merchants_only,
);

async fn spawn(backend: Backend) -> TestApp {
    let carriers = serve_simcarrier().await;
    TestApp::spawn_with_remote_simpay(backend, |config| config.carriers = carriers).await
}

/// The secret the carriers sign their tracking webhooks with.
const CARRIER_SECRET: &[u8] = b"whsec_miaodan_carrier_tests";

/// A simcarrier in manual time, served over loopback by the test, that pushes no webhooks:
/// every carrier notification of these tests is one the test signs and sends itself.
async fn serve_simcarrier() -> CarriersConfig {
    let simcarrier = simcarrier::SimCarrier::new(simcarrier::Config {
        seed: 7,
        secret: CARRIER_SECRET.to_vec(),
        webhook_url: None,
        time_scale: simcarrier::TimeScale::MANUAL,
        odds: simcarrier::ScenarioOdds::default(),
        faults: simcarrier::Faults::default(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(simcarrier::serve(simcarrier, listener));
    CarriersConfig::Remote {
        url,
        secret: CARRIER_SECRET.to_vec(),
    }
}

// ---- requests ---------------------------------------------------------------------------

/// How a notification to a webhook (the payment provider's, `Simpay-Signature`, or the
/// carriers', `Carrier-Signature`) is signed, when it is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Signature {
    /// No signature header.
    Unsigned,
    /// Signed now with the sender's secret.
    Fresh,
    /// Signed with the sender's secret this many seconds ago (negative: ahead of now).
    Aged(i64),
    /// Signed now with a secret that is not the sender's.
    WrongSecret,
    /// Signed now with the sender's secret, over another body than the one sent.
    Over(&'static [u8]),
    /// This header value, as it is.
    Header(&'static str),
}

/// One request exactly as a client could send it, bytes and headers included.
#[derive(Clone, Debug)]
struct Call {
    method: Method,
    path: String,
    authorization: Option<HeaderValue>,
    content_type: Option<&'static str>,
    key: Option<HeaderValue>,
    body: Option<Vec<u8>>,
    signature: Signature,
}

const JSON: Option<&str> = Some("application/json");

impl Call {
    fn new(method: Method, path: impl Into<String>, token: &str) -> Call {
        Call {
            method,
            path: path.into(),
            authorization: Some(HeaderValue::from_str(&format!("Bearer {token}")).unwrap()),
            content_type: None,
            key: None,
            body: None,
            signature: Signature::Unsigned,
        }
    }

    /// A notification from the provider: no token, a signature.
    fn webhook(body: &Value, signature: Signature) -> Call {
        Call::public(Method::POST, WEBHOOK).json(body).signed(signature)
    }

    /// A tracking event from a carrier: no token, a signature.
    fn carrier_webhook(body: &Value, signature: Signature) -> Call {
        Call::public(Method::POST, CARRIER_WEBHOOK).json(body).signed(signature)
    }

    /// A request without an `Authorization` header.
    fn public(method: Method, path: impl Into<String>) -> Call {
        Call::new(method, path, "").authorization(None)
    }

    fn signed(mut self, signature: Signature) -> Call {
        self.signature = signature;
        self
    }

    fn get(path: impl Into<String>, token: &str) -> Call {
        Call::new(Method::GET, path, token)
    }

    fn json(self, body: &Value) -> Call {
        self.raw(JSON, serde_json::to_vec(body).unwrap())
    }

    fn raw(mut self, content_type: Option<&'static str>, body: impl Into<Vec<u8>>) -> Call {
        self.content_type = content_type;
        self.body = Some(body.into());
        self
    }

    fn authorization(mut self, value: Option<HeaderValue>) -> Call {
        self.authorization = value;
        self
    }

    fn key(mut self, key: HeaderValue) -> Call {
        self.key = Some(key);
        self
    }

    /// How a failing assertion names this request.
    fn label(&self) -> String {
        let body = self
            .body
            .as_ref()
            .map(|b| String::from_utf8_lossy(&b[..b.len().min(120)]).into_owned())
            .unwrap_or_default();
        let signature = match self.signature {
            Signature::Unsigned => String::new(),
            signature => format!(" {signature:?}"),
        };
        format!(
            "{} {}{signature} [{}] {body}",
            self.method,
            self.path,
            self.content_type.unwrap_or("no content type")
        )
    }

    /// The signature header this call is sent with, signed at the moment of sending: the
    /// carriers' for the carriers' webhook, the payment provider's otherwise.
    fn signature_header(&self, app: &TestApp) -> Option<(&'static str, HeaderValue)> {
        type Sign = fn(&[u8], i64, &[u8]) -> String;
        let (name, secret, sign): (&'static str, &[u8], Sign) = if self.path == CARRIER_WEBHOOK {
            (
                simcarrier::SIGNATURE_HEADER,
                CARRIER_SECRET,
                simcarrier::signature::sign,
            )
        } else {
            let secret = app.webhook_secret().expect("contract tests serve simpay themselves");
            (simpay::SIGNATURE_HEADER, secret, simpay::signature::sign)
        };
        let body = self.body.as_deref().unwrap_or_default();
        let now = jiff::Timestamp::now().as_second();
        let header = match self.signature {
            Signature::Unsigned => return None,
            Signature::Fresh => sign(secret, now, body),
            Signature::Aged(seconds) => sign(secret, now - seconds, body),
            Signature::WrongSecret => sign(b"not the sender's secret", now, body),
            Signature::Over(other) => sign(secret, now, other),
            Signature::Header(value) => return Some((name, HeaderValue::from_bytes(value.as_bytes()).unwrap())),
        };
        Some((name, HeaderValue::from_str(&header).unwrap()))
    }

    /// Sends the call and reads the answer (as `common::answer` does, but for event streams).
    async fn send(&self, app: &TestApp) -> Answer {
        let mut request = app.http.request(self.method.clone(), app.url(&self.path));
        if let Some(value) = &self.authorization {
            request = request.header("authorization", value.clone());
        }
        if let Some(content_type) = self.content_type {
            request = request.header("content-type", content_type);
        }
        if let Some(key) = &self.key {
            request = request.header("idempotency-key", key.clone());
        }
        if let Some((name, signature)) = self.signature_header(app) {
            request = request.header(name, signature);
        }
        if let Some(body) = &self.body {
            request = request.body(body.clone());
        }
        let response = request.send().await.unwrap();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let status = response.status();
        let replayed = response.headers().contains_key("idempotent-replayed");
        // An event stream does not end: its answer is its status and headers.
        let raw = if content_type == EVENT_STREAM {
            String::new()
        } else {
            response.text().await.unwrap()
        };
        Answer {
            status,
            body: serde_json::from_str(&raw).unwrap_or(Value::Null),
            content_type,
            replayed,
            raw,
        }
    }
}

const EVENT_STREAM: &str = "text/event-stream";

/// The refusal a request must get: status, `code` and `field`.
type Refusal = (u16, &'static str, Option<&'static str>);

/// Asserts a well-formed problem+json refusal.
#[track_caller]
fn assert_refused(answer: &Answer, (status, code, field): Refusal, case: &str) {
    assert_eq!(answer.status.as_u16(), status, "{case}: status of {}", answer.raw);
    assert_eq!(
        answer.content_type, "application/problem+json",
        "{case}: content type of {}",
        answer.raw
    );
    assert_eq!(answer.code(), code, "{case}: code of {}", answer.raw);
    assert_eq!(answer.body["field"].as_str(), field, "{case}: field of {}", answer.raw);
    assert_eq!(answer.body["status"], status, "{case}: {}", answer.raw);
    assert_eq!(
        answer.body["type"],
        format!("https://miaodan.dev/problems/{code}"),
        "{case}: {}",
        answer.raw
    );
    assert!(
        answer.body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{case}: no detail in {}",
        answer.raw
    );
}

#[track_caller]
fn assert_success(answer: &Answer, case: &str) {
    assert!(answer.status.is_success(), "{case}: {} {}", answer.status, answer.raw);
    assert_eq!(answer.content_type, "application/json", "{case}: {}", answer.raw);
}

fn ids(items: &Value) -> Vec<i64> {
    items
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {items}"))
        .iter()
        .map(|item| item["id"].as_i64().unwrap())
        .collect()
}

/// The ids of the items of a page at `path`.
async fn listed(app: &TestApp, path: &str, token: &str) -> Vec<i64> {
    let page = app.get(path, token).await;
    ids(&page.assert_status(200)["items"])
}

// ---- the world ----------------------------------------------------------------------------

/// One tenant: a shop with its merchant, a warehouse, a product with two stocked SKUs, a live
/// flash sale on the second, and a buyer with a pending order for one unit of the first, a
/// paid (and so dispatched) order for another unit of it, a paid order for one unit of the
/// second that has been handed to a carrier, and a one-tap agreement.
struct Side {
    shop: i64,
    merchant: String,
    warehouse: i64,
    product: i64,
    sku: i64,
    /// The product's second SKU: 3 units, 2 of them held by the flash sale.
    sku2: i64,
    sale: i64,
    buyer: i64,
    buyer_token: String,
    order: i64,
    /// The checkout of `order` (no payment opened).
    checkout: i64,
    /// Paid by `intent`, the payment of `paid_checkout`.
    paid_order: i64,
    paid_checkout: i64,
    intent: i64,
    /// Paid, and shipped from `warehouse` as `shipment` with the waybill `waybill`.
    shipped_order: i64,
    shipment: i64,
    /// The carrier (`sf`, `jd` or `zto`) and waybill number of `shipment`.
    carrier: String,
    waybill: String,
    /// The buyer's one-tap agreement, with limits of 1 fen (see [`one_tap_agreement`]).
    agreement: i64,
}

/// Two tenants, A and B, and a buyer without a default address.
struct Tenants {
    a: Side,
    b: Side,
    homeless_buyer: String,
    /// The Asia/Shanghai day the tenants were made (and paid) on, `YYYY-MM-DD`.
    day: String,
}

async fn side(app: &TestApp, shop_name: &str, title: &str, buyer_name: &str) -> Side {
    let (shop, merchant) = app.shop(shop_name).await;
    let warehouse = app.warehouse(&merchant, "总仓", "510116000000").await;
    let created = app
        .post(
            "/v1/products",
            &merchant,
            json!({ "title": title, "skus": [
                { "name": "标准装", "price_fen": 5990 },
                { "name": "家庭装", "price_fen": 10990 },
            ] }),
        )
        .await;
    let product = created.assert_status(201)["id"].as_i64().unwrap();
    let sku = created.body["skus"][0]["id"].as_i64().unwrap();
    let sku2 = created.body["skus"][1]["id"].as_i64().unwrap();
    app.stock(&merchant, sku, warehouse, 10).await;
    app.stock(&merchant, sku2, warehouse, 3).await;
    let sale = app
        .post("/v1/flash-sales", &merchant, flash_sale(sku2, warehouse, 2))
        .await;
    let sale = sale.assert_status(201)["id"].as_i64().unwrap();
    let (buyer, buyer_token) = app.buyer(buyer_name).await;
    let placed = app.checkout(&buyer_token, &[(sku, 1)]).await;
    let order = placed.assert_status(201)["orders"][0]["id"].as_i64().unwrap();
    let checkout = placed.body["checkout_id"].as_i64().unwrap();
    let paid = app.checkout(&buyer_token, &[(sku, 1)]).await;
    let paid_order = paid.assert_status(201)["orders"][0]["id"].as_i64().unwrap();
    let paid_checkout = paid.body["checkout_id"].as_i64().unwrap();
    let intent = app.pay_checkout(&buyer_token, paid_checkout).await["id"]
        .as_i64()
        .unwrap();
    let shipped = app.checkout(&buyer_token, &[(sku2, 1)]).await;
    let shipped_order = shipped.assert_status(201)["orders"][0]["id"].as_i64().unwrap();
    app.pay_checkout(&buyer_token, shipped.body["checkout_id"].as_i64().unwrap())
        .await;
    let shipment = app
        .post(
            &format!("/v1/orders/{shipped_order}/shipments"),
            &merchant,
            json!({ "warehouse_id": warehouse }),
        )
        .await;
    let shipment = shipment.assert_status(201).clone();
    let agreement = app
        .post("/v1/one-tap-agreements", &buyer_token, one_tap_agreement("sim-one-tap"))
        .await;
    let agreement = agreement.assert_status(201)["id"].as_i64().unwrap();
    Side {
        shop,
        merchant,
        warehouse,
        product,
        sku,
        sku2,
        sale,
        buyer,
        buyer_token,
        order,
        checkout,
        paid_order,
        paid_checkout,
        intent,
        shipped_order,
        shipment: shipment["id"].as_i64().unwrap(),
        carrier: shipment["carrier"].as_str().unwrap().to_string(),
        waybill: shipment["waybill_no"].as_str().unwrap().to_string(),
        agreement,
    }
}

/// A one-tap agreement whose limits (1 fen) no order of these tests is within: a tap never
/// gets paid in the background while a test compares what the API shows.
fn one_tap_agreement(credential: &str) -> Value {
    json!({ "credential": credential, "per_order_limit_fen": 1, "per_day_limit_fen": 1 })
}

/// A signed-looking simpay notification of a capture under `reference`.
fn notification(event_id: &str, reference: &str) -> Value {
    let charge = simpay::Charge {
        id: "ch_contract".into(),
        reference: reference.into(),
        amount_fen: 990,
        captured_fen: 990,
        refunded_fen: 0,
        credential: WALLET.into(),
        status: simpay::ChargeStatus::Captured,
        decline_code: None,
        created_at_ms: 1_700_000_000_000,
        updated_at_ms: 1_700_000_000_000,
    };
    serde_json::to_value(simpay::Event {
        id: event_id.into(),
        kind: simpay::EventType::ChargeCaptured,
        created_at_ms: 1_700_000_000_000,
        data: simpay::EventData::Charge(charge),
    })
    .unwrap()
}

/// The Asia/Shanghai calendar day of now, as the reconciliation names days.
fn shanghai_today() -> String {
    simpay::calendar::shanghai_day(jiff::Timestamp::now().as_millisecond())
}
/// An RFC 3339 instant `seconds` from now.
fn rfc3339_in(seconds: i64) -> String {
    (jiff::Timestamp::now() + jiff::SignedDuration::from_secs(seconds)).to_string()
}

/// A flash sale live for the next hour, one unit per buyer.
fn flash_sale(sku: i64, warehouse: i64, units: i64) -> Value {
    json!({
        "sku_id": sku, "warehouse_id": warehouse, "starts_at": rfc3339_in(-1), "ends_at": rfc3339_in(3600),
        "price_fen": 990, "units": units,
    })
}

async fn tenants(app: &TestApp) -> Tenants {
    let day = shanghai_today();
    let a = side(app, "川味小铺", "麻辣牛肉干", "张三").await;
    let b = side(app, "美妆店", "口红", "李四").await;
    let homeless = app.post("/v1/buyers", &app.admin, json!({ "name": "无址" })).await;
    let homeless = homeless.assert_status(201)["id"].as_i64().unwrap();
    let token = app
        .post(&format!("/v1/buyers/{homeless}/tokens"), &app.admin, json!({}))
        .await;
    Tenants {
        a,
        b,
        homeless_buyer: token.assert_status(201)["token"].as_str().unwrap().to_string(),
        day,
    }
}

/// Buyer ids probed by [`snapshot`]: more than any test creates.
const BUYERS_PROBED: i64 = 12;

/// Everything the read endpoints show, through the admin's and the owners' eyes. Equal
/// snapshots before and after a refused request prove it changed nothing.
async fn snapshot(app: &TestApp, t: &Tenants) -> Value {
    let mut reads = vec![
        Call::get("/v1/shops", &app.admin),
        Call::get("/v1/products?limit=200", &app.admin),
        Call::get("/v1/orders?limit=200", &app.admin),
        Call::get("/v1/flash-sales", &app.admin),
    ];
    for side in [&t.a, &t.b] {
        reads.push(Call::get("/v1/warehouses", &side.merchant));
        for sku in [side.sku, side.sku2] {
            reads.push(Call::get(format!("/v1/skus/{sku}/stock"), &side.merchant));
        }
        reads.push(Call::get(format!("/v1/payment-intents/{}", side.intent), &app.admin));
        reads.push(Call::get(format!("/v1/orders/{}/refunds", side.paid_order), &app.admin));
        reads.push(Call::get("/v1/one-tap-agreements", &side.buyer_token));
        // Fulfillment and logistics: how the warehouse works (and what it booked today), where
        // the paid orders ship from, their shipments, and the package center.
        let merchant = &side.merchant;
        reads.push(Call::get(
            format!("/v1/warehouses/{}/fulfillment", side.warehouse),
            merchant,
        ));
        for order in [side.paid_order, side.shipped_order] {
            reads.push(Call::get(format!("/v1/orders/{order}/dispatch"), &app.admin));
            reads.push(Call::get(format!("/v1/orders/{order}/shipments"), &app.admin));
        }
        reads.push(Call::get("/v1/package-center/sla-rules", merchant));
        reads.push(Call::get("/v1/package-center/alerts?state=all", merchant));
    }
    // The money: what the ledger, the orders and the provider say moved on the tenants' day.
    reads.push(Call::get(format!("/v1/reconciliation?date={}", t.day), &app.admin));
    for buyer in 1..=BUYERS_PROBED {
        reads.push(Call::get(format!("/v1/buyers/{buyer}"), &app.admin));
    }
    let answers = join_all(reads.iter().map(|call| call.send(app))).await;
    Value::Array(
        answers
            .into_iter()
            .map(|a| json!([a.status.as_u16(), a.body]))
            .collect(),
    )
}

/// Sends each call, checks its refusal, and checks that the whole table changed nothing (for
/// tables too long to read everything back after each call).
async fn expect_refusals_in_bulk(app: &TestApp, t: &Tenants, cases: &[(Call, Refusal)]) {
    let before = snapshot(app, t).await;
    for (call, refusal) in cases {
        assert_refused(&call.send(app).await, *refusal, &call.label());
    }
    assert!(
        snapshot(app, t).await == before,
        "a refused request changed what the API shows"
    );
}

/// Sends each call, checks its refusal, and checks that it changed nothing.
async fn expect_refusals(app: &TestApp, t: &Tenants, cases: &[(Call, Refusal)]) {
    let before = snapshot(app, t).await;
    for (call, refusal) in cases {
        let answer = call.send(app).await;
        assert_refused(&answer, *refusal, &call.label());
        assert!(
            snapshot(app, t).await == before,
            "{} changed what the API shows",
            call.label()
        );
    }
}

// ---- the endpoints ------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Admin,
    Merchant,
    Buyer,
}

const ROLES: [Role; 3] = [Role::Admin, Role::Merchant, Role::Buyer];

/// How an endpoint knows its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Auth {
    /// An API token (`Authorization: Bearer …`).
    Token,
    /// A signature over the body: the providers' webhooks.
    Signature,
    /// Nothing: anyone may ask.
    Public,
}

/// One route of the router, with a concrete request to it that its role may make.
struct Endpoint {
    route: &'static str,
    call: Call,
    /// `None`: every role may call it (and sees only its own objects).
    role: Option<Role>,
    auth: Auth,
}

impl Endpoint {
    /// Asserts the answer of a request this endpoint's role may make.
    #[track_caller]
    fn assert_answered(&self, answer: &Answer) {
        if self.route == ALERT_STREAM {
            let case = self.call.label();
            assert_eq!(answer.status, 200, "{case}");
            assert_eq!(answer.content_type, EVENT_STREAM, "{case}");
        } else {
            assert_success(answer, &self.call.label());
        }
    }
}

const WEBHOOK: &str = "/v1/webhooks/simpay";
const CARRIER_WEBHOOK: &str = "/v1/webhooks/carriers";
const REFUNDS: &str = "/v1/orders/{order_id}/refunds";
const ALERT_STREAM: &str = "/v1/package-center/alerts/stream";

fn token_of(app: &TestApp, t: &Tenants, role: Role) -> String {
    match role {
        Role::Admin => app.admin.clone(),
        Role::Merchant => t.a.merchant.clone(),
        Role::Buyer => t.a.buyer_token.clone(),
    }
}

/// Every documented `/v1` operation, by capability, with a request that
/// succeeds when made by its role (in this order, on a fresh [`Tenants`]).
fn endpoints(app: &TestApp, t: &Tenants) -> Vec<Endpoint> {
    let a = &t.a;
    let endpoint = |route, method, path: String, body: Option<Value>, role: Option<Role>| {
        let token = token_of(app, t, role.unwrap_or(Role::Admin));
        let call = Call::new(method, path, &token);
        Endpoint {
            route,
            call: match body {
                Some(body) => call.json(&body),
                None => call,
            },
            role,
            auth: Auth::Token,
        }
    };
    let admin = Some(Role::Admin);
    let merchant = Some(Role::Merchant);
    let buyer = Some(Role::Buyer);
    vec![
        endpoint(
            "/v1/shops",
            Method::POST,
            "/v1/shops".into(),
            Some(json!({ "name": "新店" })),
            admin,
        ),
        endpoint("/v1/shops", Method::GET, "/v1/shops".into(), None, admin),
        endpoint(
            "/v1/shops/{shop_id}",
            Method::GET,
            format!("/v1/shops/{}", a.shop),
            None,
            None,
        ),
        endpoint(
            "/v1/shops/{shop_id}/tokens",
            Method::POST,
            format!("/v1/shops/{}/tokens", a.shop),
            Some(json!({ "label": "客服" })),
            admin,
        ),
        endpoint(
            "/v1/buyers",
            Method::POST,
            "/v1/buyers".into(),
            Some(json!({ "name": "王五" })),
            admin,
        ),
        endpoint(
            "/v1/buyers/{buyer_id}",
            Method::GET,
            format!("/v1/buyers/{}", a.buyer),
            None,
            None,
        ),
        endpoint(
            "/v1/buyers/{buyer_id}/tokens",
            Method::POST,
            format!("/v1/buyers/{}/tokens", a.buyer),
            Some(json!({})),
            admin,
        ),
        endpoint(
            "/v1/warehouses",
            Method::POST,
            "/v1/warehouses".into(),
            Some(json!({ "name": "北京仓", "adcode": "110101000000" })),
            merchant,
        ),
        endpoint("/v1/warehouses", Method::GET, "/v1/warehouses".into(), None, merchant),
        endpoint(
            "/v1/products",
            Method::POST,
            "/v1/products".into(),
            Some(json!({ "title": "新品", "skus": [{ "name": "标准", "price_fen": 100 }] })),
            merchant,
        ),
        endpoint("/v1/products", Method::GET, "/v1/products".into(), None, None),
        endpoint(
            "/v1/products/{product_id}",
            Method::GET,
            format!("/v1/products/{}", a.product),
            None,
            None,
        ),
        endpoint(
            "/v1/products/{product_id}",
            Method::PATCH,
            format!("/v1/products/{}", a.product),
            Some(json!({ "title": "新标题" })),
            merchant,
        ),
        endpoint(
            "/v1/products/{product_id}/skus",
            Method::POST,
            format!("/v1/products/{}/skus", a.product),
            Some(json!({ "name": "大包", "price_fen": 100 })),
            merchant,
        ),
        endpoint(
            "/v1/skus/{sku_id}",
            Method::PATCH,
            format!("/v1/skus/{}", a.sku),
            Some(json!({ "price_fen": 6990 })),
            merchant,
        ),
        endpoint(
            "/v1/skus/{sku_id}/stock",
            Method::GET,
            format!("/v1/skus/{}/stock", a.sku),
            None,
            merchant,
        ),
        endpoint(
            "/v1/skus/{sku_id}/stock/{warehouse_id}",
            Method::PUT,
            format!("/v1/skus/{}/stock/{}", a.sku, a.warehouse),
            Some(json!({ "available": 7 })),
            merchant,
        ),
        endpoint(
            "/v1/checkouts",
            Method::POST,
            "/v1/checkouts".into(),
            Some(json!({ "lines": [{ "sku_id": a.sku, "quantity": 1 }] })),
            buyer,
        ),
        endpoint("/v1/orders", Method::GET, "/v1/orders".into(), None, None),
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
            buyer,
        ),
        endpoint(
            "/v1/payment-intents",
            Method::POST,
            "/v1/payment-intents".into(),
            Some(json!({ "checkout_id": a.paid_checkout })),
            buyer,
        ),
        endpoint(
            "/v1/payment-intents/{payment_intent_id}",
            Method::GET,
            format!("/v1/payment-intents/{}", a.intent),
            None,
            None,
        ),
        endpoint(
            "/v1/payment-intents/{payment_intent_id}/confirm",
            Method::POST,
            format!("/v1/payment-intents/{}/confirm", a.intent),
            Some(json!({ "credential": WALLET })),
            buyer,
        ),
        // A merchant or an operator refunds; a buyer may not (see the role test).
        endpoint(
            REFUNDS,
            Method::POST,
            format!("/v1/orders/{}/refunds", a.paid_order),
            Some(json!({ "amount_fen": 1 })),
            None,
        ),
        endpoint(
            REFUNDS,
            Method::GET,
            format!("/v1/orders/{}/refunds", a.paid_order),
            None,
            None,
        ),
        endpoint(
            "/v1/one-tap-agreements",
            Method::POST,
            "/v1/one-tap-agreements".into(),
            Some(one_tap_agreement("sim-one-tap-renewed")),
            buyer,
        ),
        endpoint(
            "/v1/one-tap-agreements",
            Method::GET,
            "/v1/one-tap-agreements".into(),
            None,
            buyer,
        ),
        endpoint(
            "/v1/one-tap-agreements/{agreement_id}",
            Method::DELETE,
            format!("/v1/one-tap-agreements/{}", a.agreement),
            None,
            buyer,
        ),
        // A notification about a reference the platform never made: acknowledged, not applied.
        Endpoint {
            route: WEBHOOK,
            call: Call::webhook(&notification("evt_contract", "mdn-1-999999-1"), Signature::Fresh),
            role: None,
            auth: Auth::Signature,
        },
        endpoint(
            "/v1/reconciliation",
            Method::GET,
            "/v1/reconciliation".into(),
            None,
            admin,
        ),
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
        Endpoint {
            route: "/v1/delivery-options",
            call: Call::public(Method::GET, delivery_options(&[(a.sku, 1)])),
            role: None,
            auth: Auth::Public,
        },
        endpoint(
            "/v1/warehouses/{warehouse_id}/fulfillment",
            Method::GET,
            format!("/v1/warehouses/{}/fulfillment", a.warehouse),
            None,
            merchant,
        ),
        endpoint(
            "/v1/warehouses/{warehouse_id}/fulfillment",
            Method::PUT,
            format!("/v1/warehouses/{}/fulfillment", a.warehouse),
            Some(fulfillment_settings()),
            merchant,
        ),
        endpoint(
            "/v1/warehouses/{warehouse_id}/shortages",
            Method::POST,
            format!("/v1/warehouses/{}/shortages", a.warehouse),
            Some(json!({ "sku_id": a.sku, "missing_units": 1 })),
            merchant,
        ),
        endpoint(
            "/v1/orders/{order_id}/dispatch",
            Method::GET,
            format!("/v1/orders/{}/dispatch", a.paid_order),
            None,
            None,
        ),
        endpoint(
            "/v1/orders/{order_id}/shipments",
            Method::POST,
            format!("/v1/orders/{}/shipments", a.paid_order),
            Some(json!({ "warehouse_id": a.warehouse })),
            merchant,
        ),
        endpoint(
            "/v1/orders/{order_id}/shipments",
            Method::GET,
            format!("/v1/orders/{}/shipments", a.shipped_order),
            None,
            None,
        ),
        endpoint(
            "/v1/shipments/{shipment_id}",
            Method::GET,
            format!("/v1/shipments/{}", a.shipment),
            None,
            None,
        ),
        // A tracking event for a waybill the platform never saw: acknowledged, not applied.
        Endpoint {
            route: CARRIER_WEBHOOK,
            call: Call::carrier_webhook(
                &tracking_event("sf", "SF0000000000", "evt-contract-1"),
                Signature::Fresh,
            ),
            role: None,
            auth: Auth::Signature,
        },
        endpoint(
            "/v1/package-center/sla-rules",
            Method::GET,
            "/v1/package-center/sla-rules".into(),
            None,
            merchant,
        ),
        endpoint(
            "/v1/package-center/sla-rules",
            Method::PUT,
            "/v1/package-center/sla-rules".into(),
            Some(sla_rules(24 * 3600)),
            merchant,
        ),
        endpoint(
            "/v1/package-center/alerts",
            Method::GET,
            "/v1/package-center/alerts?state=all".into(),
            None,
            merchant,
        ),
        endpoint(ALERT_STREAM, Method::GET, ALERT_STREAM.into(), None, merchant),
    ]
}

/// The delivery options of a cart of (SKU, units) to 上海市黄浦区.
fn delivery_options(items: &[(i64, i64)]) -> String {
    let items: Vec<String> = items.iter().map(|(sku, units)| format!("{sku}:{units}")).collect();
    format!("/v1/delivery-options?adcode=310101000000&items={}", items.join(","))
}

/// How a warehouse works unless told otherwise: a day shift, 500 orders an hour and 6 000 a
/// day, same-day delivery in its city for orders paid by 11:00, next-day and standard
/// delivery anywhere, every carrier.
fn fulfillment_settings() -> Value {
    json!({
        "shifts": [{ "start": "08:00", "end": "22:00" }],
        "orders_per_hour": 500,
        "orders_per_day": 6000,
        "cutoffs": [
            { "level": "same_day", "region": "same_city", "time": "11:00" },
            { "level": "next_day", "region": "any", "time": "16:00" },
            { "level": "standard", "region": "any", "time": "17:00" },
        ],
        "works_holidays": true,
    })
}

/// SLA rules allowing `seconds` for each stage (no parcel of these tests is late by them).
fn sla_rules(seconds: i64) -> Value {
    json!({
        "not_picked_up_within_s": seconds,
        "not_departed_within_s": seconds,
        "stalled_after_s": seconds,
        "warn_at_percent": 80,
    })
}

/// A carrier's tracking event for a waybill: picked up a minute ago in 上海市.
fn tracking_event(carrier: &str, waybill: &str, event_id: &str) -> Value {
    json!({
        "carrier": carrier,
        "waybill_no": waybill,
        "event_id": event_id,
        "state": "picked_up",
        "occurred_at": rfc3339_in(-60),
        "location": "上海市",
    })
}

fn mutating(endpoints: Vec<Endpoint>) -> Vec<Endpoint> {
    endpoints.into_iter().filter(|e| e.call.method != Method::GET).collect()
}

/// Whether an endpoint takes an `Idempotency-Key`: every mutating one but the providers'
/// webhooks (a notification is deduplicated by its event id) and revoking a one-tap agreement
/// (revoking a revoked agreement answers the same agreement).
fn takes_idempotency_key(endpoint: &Endpoint) -> bool {
    endpoint.auth == Auth::Token && endpoint.call.method != Method::GET && endpoint.call.method != Method::DELETE
}

/// One operation of the OpenAPI document: (METHOD, path template).
type Operation = (String, String);

/// The operations `/openapi.json` documents, with what the contract needs to know of each.
struct Documented {
    /// Every operation, `/v1` and system alike.
    operations: BTreeSet<Operation>,
    /// Those that declare the bearer token.
    with_token: BTreeSet<Operation>,
    /// Those that declare a request body.
    with_body: BTreeSet<Operation>,
}

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// Reads the served OpenAPI document: the one list of routes, since each is registered once
/// for the router and the document (`utoipa_axum::routes!`).
async fn documented(app: &TestApp) -> Documented {
    let document = app.send(app.http.get(app.url("/openapi.json"))).await;
    assert_eq!(document.status, 200);
    let mut documented = Documented {
        operations: BTreeSet::new(),
        with_token: BTreeSet::new(),
        with_body: BTreeSet::new(),
    };
    for (path, item) in document.body["paths"].as_object().unwrap() {
        for method in METHODS {
            let Some(operation) = item.get(method.to_lowercase()) else {
                continue;
            };
            let key = (method.to_string(), path.clone());
            if operation["security"].as_array().is_some_and(|s| !s.is_empty()) {
                documented.with_token.insert(key.clone());
            }
            if operation.get("requestBody").is_some() {
                documented.with_body.insert(key.clone());
            }
            documented.operations.insert(key);
        }
    }
    assert!(
        documented.operations.contains(&("POST".into(), "/v1/checkouts".into())),
        "could not read the operations of /openapi.json: {:?}",
        documented.operations
    );
    documented
}

/// The path template of the documented operation a request reaches, if any.
fn operation_of(documented: &BTreeSet<Operation>, call: &Call) -> Option<Operation> {
    let path = call.path.split('?').next().unwrap();
    let segments: Vec<&str> = path.split('/').collect();
    documented
        .iter()
        .find(|(method, template)| {
            let parts: Vec<&str> = template.split('/').collect();
            *method == call.method.as_str()
                && parts.len() == segments.len()
                && parts
                    .iter()
                    .zip(&segments)
                    .all(|(part, segment)| part.starts_with('{') || part == segment)
        })
        .cloned()
}

/// A template's path with `1` for every parameter.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|part| if part.starts_with('{') { "1" } else { part })
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether an answer is the router's own (no route, or not this method), not a handler's.
fn unrouted(answer: &Answer) -> bool {
    answer.status == 405 || (answer.status == 404 && answer.body["detail"] == "no such endpoint; see /openapi.json")
}

// ---- malformed input ----------------------------------------------------------------------

/// The refusals every JSON body endpoint gives to a body that is not its JSON object.
fn malformed_bodies(call: &Call, valid: &Value, body_optional: bool) -> Vec<(Call, Refusal)> {
    let with = |content_type: Option<&'static str>, body: &[u8]| call.clone().raw(content_type, body.to_vec());
    let valid_bytes = serde_json::to_vec(valid).unwrap();
    let concat = |tail: &[u8]| [valid_bytes.as_slice(), tail].concat();
    let mut unknown = valid.clone();
    unknown["bogus"] = json!(1);
    let malformed = (400, "malformed_json", None);
    let not_an_object = (422, "invalid_field", None);
    let unsupported = (415, "unsupported_media_type", None);
    let mut cases = vec![
        (with(JSON, b"{"), malformed),
        (with(JSON, b"{,}"), malformed),
        (with(JSON, b"{\"unterminated"), malformed),
        (with(JSON, b"{'name': 'x'}"), malformed),
        (with(JSON, b"{\"\xff\xfe\": 1}"), malformed),
        (with(JSON, b"{\"\\ud800\": 1}"), malformed),
        (
            with(JSON, &[b"\xef\xbb\xbf".as_slice(), valid_bytes.as_slice()].concat()),
            malformed,
        ),
        (with(JSON, &concat(b" garbage")), malformed),
        (with(JSON, &concat(b"{}")), malformed),
        (with(JSON, b"[]"), not_an_object),
        (with(JSON, b"\"text\""), not_an_object),
        (with(JSON, b"42"), not_an_object),
        (call.clone().json(&unknown), (422, "unknown_field", Some("bogus"))),
        (with(Some("text/plain"), &valid_bytes), unsupported),
        (with(None, &valid_bytes), unsupported),
        (
            with(Some("application/x-www-form-urlencoded"), &valid_bytes),
            unsupported,
        ),
        (with(Some("application/jsonx"), &valid_bytes), unsupported),
        (with(Some("multipart/form-data; boundary=x"), &valid_bytes), unsupported),
    ];
    if !body_optional {
        cases.push((with(JSON, b""), malformed));
        cases.push((with(JSON, b"   "), malformed));
        // An optional body may be `null` (the same as none), as the OpenAPI document says.
        cases.push((with(JSON, b"null"), not_an_object));
    }
    cases
}

fn invalid(field: &'static str) -> Refusal {
    (422, "invalid_field", Some(field))
}

fn missing(field: &'static str) -> Refusal {
    (422, "missing_field", Some(field))
}

fn unknown(field: &'static str) -> Refusal {
    (422, "unknown_field", Some(field))
}

/// A 422 with its own code.
fn refused(code: &'static str, field: &'static str) -> Refusal {
    (422, code, Some(field))
}

/// Text of `n` characters (of three bytes each).
fn chars(n: usize) -> String {
    "字".repeat(n)
}

/// Each body sent as `template`'s body, with the refusal it must get.
fn bodies(template: Call, rows: Vec<(Value, Refusal)>) -> Vec<(Call, Refusal)> {
    rows.into_iter()
        .map(|(body, refusal)| (template.clone().json(&body), refusal))
        .collect()
}

/// Refusals of bodies that are JSON objects but wrong in one field, per endpoint.
fn wrong_fields(app: &TestApp, t: &Tenants) -> Vec<(Call, Refusal)> {
    [
        platform_bodies(app, t),
        catalog_bodies(t),
        inventory_bodies(t),
        checkout_bodies(t),
        flash_sale_bodies(t),
        payment_bodies(t),
        fulfillment_bodies(t),
        logistics_bodies(t),
    ]
    .concat()
}

fn platform_bodies(app: &TestApp, t: &Tenants) -> Vec<(Call, Refusal)> {
    let post = |path: String| Call::new(Method::POST, path, &app.admin);
    // Shops: a name of 1 to 60 characters without control characters.
    let mut shops = vec![(json!({}), missing("name"))];
    for name in [
        json!(""),
        json!("  \t "),
        json!(chars(61)),
        json!("a\u{0}b"),
        json!("a\nb"),
    ]
    .into_iter()
    .chain([
        json!("\u{7f}"),
        json!("a\u{1b}[31m"),
        json!(5),
        json!(null),
        json!(["x"]),
    ]) {
        shops.push((json!({ "name": name }), invalid("name")));
    }
    // Buyers: a name, and a default address of a known division.
    let address = |adcode: Value, detail: Value| json!({ "name": "王五", "default_address": { "adcode": adcode, "detail": detail } });
    let unknown_adcode = refused("unknown_adcode", "default_address.adcode");
    let buyers = vec![
        (json!({}), missing("name")),
        (json!({ "name": "" }), invalid("name")),
        (address(json!("999999999999"), json!("1号")), unknown_adcode),
        (address(json!("31010100000"), json!("1号")), unknown_adcode),
        (address(json!("3101010000000"), json!("1号")), unknown_adcode),
        (address(json!("31010100000a"), json!("1号")), unknown_adcode),
        (address(json!(""), json!("1号")), unknown_adcode),
        (
            address(json!(310_101_000_000_i64), json!("1号")),
            invalid("default_address.adcode"),
        ),
        (
            address(json!("310101000000"), json!("")),
            invalid("default_address.detail"),
        ),
        (
            address(json!("310101000000"), json!(chars(201))),
            invalid("default_address.detail"),
        ),
        (
            address(json!("310101000000"), json!("1号\u{0}")),
            invalid("default_address.detail"),
        ),
        (
            json!({ "name": "王五", "default_address": { "adcode": "310101000000" } }),
            missing("default_address.detail"),
        ),
        (
            json!({ "name": "王五", "default_address": { "adcode": "310101000000", "detail": "1号", "zip": "1" } }),
            unknown("default_address.zip"),
        ),
        (
            json!({ "name": "王五", "default_address": "上海" }),
            invalid("default_address"),
        ),
    ];
    // Tokens: an optional label of 1 to 60 characters.
    let labels: Vec<_> = [json!(""), json!(chars(61)), json!("a\u{0}"), json!(5)]
        .into_iter()
        .map(|label| (json!({ "label": label }), invalid("label")))
        .collect();
    [
        bodies(post("/v1/shops".into()), shops),
        bodies(post("/v1/buyers".into()), buyers),
        bodies(post(format!("/v1/shops/{}/tokens", t.a.shop)), labels.clone()),
        bodies(post(format!("/v1/buyers/{}/tokens", t.a.buyer)), labels),
    ]
    .concat()
}

fn catalog_bodies(t: &Tenants) -> Vec<(Call, Refusal)> {
    let a = &t.a;
    // Products: a title, an optional description and GTIN, and 1 to 100 SKUs with prices.
    let sku = |price: Value| json!({ "name": "标准", "price_fen": price });
    let product = |field: &str, value: Value| {
        let mut body = json!({ "title": "新品", "skus": [sku(json!(100))] });
        body[field] = value;
        body
    };
    let priced = |price: Value| product("skus", json!([sku(price)]));
    let (bad_gtin, bad_price) = (
        refused("invalid_gtin", "gtin"),
        refused("invalid_price", "skus[0].price_fen"),
    );
    let products = vec![
        (json!({ "skus": [sku(json!(100))] }), missing("title")),
        (json!({ "title": "新品" }), missing("skus")),
        (product("skus", json!([])), invalid("skus")),
        (product("skus", json!(vec![sku(json!(100)); 101])), invalid("skus")),
        (product("skus", json!({})), invalid("skus")),
        (product("title", json!("")), invalid("title")),
        (product("title", json!(chars(121))), invalid("title")),
        (product("title", json!("a\u{0}b")), invalid("title")),
        (product("title", json!(5)), invalid("title")),
        (product("description", json!(chars(2001))), invalid("description")),
        (product("description", json!("bell\u{7}")), invalid("description")),
        (product("gtin", json!("6901234567893")), bad_gtin),
        (product("gtin", json!("69012345678")), bad_gtin),
        (product("gtin", json!("690123456789a")), bad_gtin),
        (product("gtin", json!("")), bad_gtin),
        (product("gtin", json!(6_901_234_567_892_i64)), invalid("gtin")),
        (priced(json!(-1)), bad_price),
        (priced(json!(10_000_000_001_i64)), bad_price),
        (priced(json!(i64::MAX)), bad_price),
        (priced(json!(i64::MIN)), bad_price),
        (priced(json!(1e30)), invalid("skus[0].price_fen")),
        (
            priced(json!(9_223_372_036_854_775_808_u64)),
            invalid("skus[0].price_fen"),
        ),
        (priced(json!(99.5)), invalid("skus[0].price_fen")),
        (priced(json!("100")), invalid("skus[0].price_fen")),
        (priced(json!(null)), invalid("skus[0].price_fen")),
        (
            product("skus", json!([sku(json!(1)), { "name": "", "price_fen": 1 }])),
            invalid("skus[1].name"),
        ),
        (
            product("skus", json!([{ "name": "标准" }])),
            missing("skus[0].price_fen"),
        ),
        (
            product("skus", json!([{ "name": "标准", "price_fen": 1, "stock": 5 }])),
            unknown("skus[0].stock"),
        ),
    ];
    let product_patches = vec![
        (json!({ "title": "" }), invalid("title")),
        (json!({ "title": chars(121) }), invalid("title")),
        (json!({ "title": 5 }), invalid("title")),
        (json!({ "description": chars(2001) }), invalid("description")),
        (json!({ "description": 5 }), invalid("description")),
        (json!({ "gtin": "6901234567893" }), bad_gtin),
        (json!({ "status": "deleted" }), invalid("status")),
        (json!({ "status": "ACTIVE" }), invalid("status")),
        (json!({ "title": "新标题", "shop_id": t.b.shop }), unknown("shop_id")),
    ];
    // Add a SKU: the whole body is the SKU, so fields are named from its root.
    let price = refused("invalid_price", "price_fen");
    let added = vec![
        (json!({ "price_fen": 1 }), missing("name")),
        (json!({ "name": "大包" }), missing("price_fen")),
        (json!({ "name": "", "price_fen": 1 }), invalid("name")),
        (json!({ "name": "大包", "price_fen": -1 }), price),
        (json!({ "name": "大包", "price_fen": 10_000_000_001_i64 }), price),
        (json!({ "name": "大包", "price_fen": 1e30 }), invalid("price_fen")),
        (
            json!({ "name": "大包", "price_fen": 9_223_372_036_854_775_808_u64 }),
            invalid("price_fen"),
        ),
    ];
    let sku_patches = vec![
        (json!({ "price_fen": -1 }), price),
        (json!({ "price_fen": 10_000_000_001_i64 }), price),
        (json!({ "price_fen": 1e30 }), invalid("price_fen")),
        (
            json!({ "price_fen": 9_223_372_036_854_775_808_u64 }),
            invalid("price_fen"),
        ),
        (json!({ "name": "" }), invalid("name")),
        (json!({ "name": chars(61) }), invalid("name")),
        (json!({ "status": "gone" }), invalid("status")),
    ];
    let merchant = |method: Method, path: String| Call::new(method, path, &a.merchant);
    [
        bodies(merchant(Method::POST, "/v1/products".into()), products),
        bodies(
            merchant(Method::PATCH, format!("/v1/products/{}", a.product)),
            product_patches,
        ),
        bodies(
            merchant(Method::POST, format!("/v1/products/{}/skus", a.product)),
            added,
        ),
        bodies(merchant(Method::PATCH, format!("/v1/skus/{}", a.sku)), sku_patches),
    ]
    .concat()
}

fn inventory_bodies(t: &Tenants) -> Vec<(Call, Refusal)> {
    let a = &t.a;
    // Warehouses: a name and a known division.
    let warehouses = vec![
        (json!({}), missing("name")),
        (json!({ "name": "北京仓" }), missing("adcode")),
        (json!({ "name": "", "adcode": "110101000000" }), invalid("name")),
        (
            json!({ "name": "北京仓", "adcode": "999999999999" }),
            refused("unknown_adcode", "adcode"),
        ),
        (
            json!({ "name": "北京仓", "adcode": "abc" }),
            refused("unknown_adcode", "adcode"),
        ),
        (
            json!({ "name": "北京仓", "adcode": 110_101_000_000_i64 }),
            invalid("adcode"),
        ),
    ];
    // Stock: 0 to 1 000 000 000 units.
    let stock = refused("invalid_stock", "available");
    let counts = vec![
        (json!({}), missing("available")),
        (json!({ "available": -1 }), stock),
        (json!({ "available": 1_000_000_001 }), stock),
        (json!({ "available": i64::MAX }), stock),
        (json!({ "available": 1e30 }), invalid("available")),
        (
            json!({ "available": 9_223_372_036_854_775_808_u64 }),
            invalid("available"),
        ),
        (json!({ "available": 2.5 }), invalid("available")),
        (json!({ "available": "5" }), invalid("available")),
    ];
    let stock_path = format!("/v1/skus/{}/stock/{}", a.sku, a.warehouse);
    [
        bodies(Call::new(Method::POST, "/v1/warehouses", &a.merchant), warehouses),
        bodies(Call::new(Method::PUT, stock_path, &a.merchant), counts),
    ]
    .concat()
}

fn checkout_bodies(t: &Tenants) -> Vec<(Call, Refusal)> {
    let a = &t.a;
    // Checkout: 1 to 100 lines of known SKUs, each once, of 1 to 10 000 units; a known address.
    let line = |sku: i64, quantity: Value| json!({ "sku_id": sku, "quantity": quantity });
    let lines = |lines: Vec<Value>| json!({ "lines": lines });
    let one = |quantity: Value| lines(vec![line(a.sku, quantity)]);
    let addressed = |address: Value| json!({ "lines": [line(a.sku, json!(1))], "address": address });
    let bad_quantity = refused("invalid_quantity", "lines[0].quantity");
    let unknown_sku = refused("unknown_sku", "lines[0].sku_id");
    let rows = vec![
        (json!({}), missing("lines")),
        (lines(vec![]), invalid("lines")),
        (lines(vec![line(a.sku, json!(1)); 101]), invalid("lines")),
        (json!({ "lines": {} }), invalid("lines")),
        (one(json!(0)), bad_quantity),
        (one(json!(-1)), bad_quantity),
        (one(json!(10_001)), bad_quantity),
        (one(json!(i64::MIN)), bad_quantity),
        (one(json!(1e30)), invalid("lines[0].quantity")),
        (one(json!(9_223_372_036_854_775_808_u64)), invalid("lines[0].quantity")),
        (one(json!(1.5)), invalid("lines[0].quantity")),
        (one(json!("1")), invalid("lines[0].quantity")),
        (
            lines(vec![line(a.sku, json!(1)), line(a.sku2, json!(0))]),
            refused("invalid_quantity", "lines[1].quantity"),
        ),
        (lines(vec![line(0, json!(1))]), unknown_sku),
        (lines(vec![line(-1, json!(1))]), unknown_sku),
        (lines(vec![line(999_999, json!(1))]), unknown_sku),
        (lines(vec![line(i64::MAX, json!(1))]), unknown_sku),
        (
            lines(vec![line(a.sku, json!(1)), line(999_999, json!(1))]),
            refused("unknown_sku", "lines[1].sku_id"),
        ),
        (lines(vec![json!({ "quantity": 1 })]), missing("lines[0].sku_id")),
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
            refused("unknown_adcode", "address.adcode"),
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
    let homeless = vec![(one(json!(1)), missing("address"))];
    [
        bodies(Call::new(Method::POST, "/v1/checkouts", &a.buyer_token), rows),
        bodies(Call::new(Method::POST, "/v1/checkouts", &t.homeless_buyer), homeless),
    ]
    .concat()
}

fn flash_sale_bodies(t: &Tenants) -> Vec<(Call, Refusal)> {
    let a = &t.a;
    // A SKU and a warehouse of the shop, a window of at most 7 days that has not ended, a
    // price, and units the warehouse has.
    let sale = |field: &str, value: Value| {
        let mut body = flash_sale(a.sku, a.warehouse, 1);
        body[field] = value;
        body
    };
    let nonsense = (422, "invalid_flash_sale", None);
    let unknown_sku = refused("unknown_sku", "sku_id");
    let unknown_warehouse = (404, "unknown_warehouse", None);
    let sales = vec![
        (json!({}), missing("sku_id")),
        (sale("sku_id", json!(0)), unknown_sku),
        (sale("sku_id", json!(-1)), unknown_sku),
        (sale("sku_id", json!(999_999)), unknown_sku),
        (sale("sku_id", json!(t.b.sku)), unknown_sku),
        (sale("sku_id", json!("1")), invalid("sku_id")),
        (sale("warehouse_id", json!(0)), unknown_warehouse),
        (sale("warehouse_id", json!(999_999)), unknown_warehouse),
        (sale("warehouse_id", json!(t.b.warehouse)), unknown_warehouse),
        (sale("starts_at", json!("tomorrow")), invalid("starts_at")),
        (sale("starts_at", json!(5)), invalid("starts_at")),
        (sale("ends_at", json!("2026-13-01T00:00:00Z")), invalid("ends_at")),
        (sale("ends_at", json!(rfc3339_in(-5))), nonsense),
        (sale("ends_at", json!(rfc3339_in(-2))), nonsense),
        (sale("ends_at", json!(rfc3339_in(8 * 24 * 3600))), nonsense),
        (sale("price_fen", json!(-1)), refused("invalid_price", "price_fen")),
        (sale("price_fen", json!(1e30)), invalid("price_fen")),
        (sale("units", json!(0)), nonsense),
        (sale("units", json!(-1)), nonsense),
        (sale("units", json!(100_000_001)), nonsense),
        (sale("units", json!(9_223_372_036_854_775_808_u64)), invalid("units")),
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
        (json!({ "quantity": 1e30 }), invalid("quantity")),
        (json!({ "quantity": "1" }), invalid("quantity")),
        (
            json!({ "address": { "adcode": "999999999999", "detail": "1号" } }),
            refused("unknown_adcode", "address.adcode"),
        ),
        (
            json!({ "address": { "adcode": "310101000000" } }),
            missing("address.detail"),
        ),
    ];
    let tap_path = format!("/v1/flash-sales/{}/taps", a.sale);
    [
        bodies(Call::new(Method::POST, "/v1/flash-sales", &a.merchant), sales),
        bodies(Call::new(Method::POST, &tap_path, &a.buyer_token), taps),
        bodies(
            Call::new(Method::POST, &tap_path, &t.homeless_buyer),
            vec![(json!({}), missing("address"))],
        ),
    ]
    .concat()
}

fn payment_bodies(t: &Tenants) -> Vec<(Call, Refusal)> {
    let a = &t.a;
    let not_found = (404, "not_found", None);
    // Open a payment: a checkout of the buyer's own.
    let intents = vec![
        (json!({}), missing("checkout_id")),
        (json!({ "checkout_id": "1" }), invalid("checkout_id")),
        (json!({ "checkout_id": 1.5 }), invalid("checkout_id")),
        (json!({ "checkout_id": null }), invalid("checkout_id")),
        (
            json!({ "checkout_id": 9_223_372_036_854_775_808_u64 }),
            invalid("checkout_id"),
        ),
        (json!({ "checkout_id": 0 }), not_found),
        (json!({ "checkout_id": -1 }), not_found),
        (json!({ "checkout_id": 999_999 }), not_found),
    ];
    // Confirm: a credential of 1 to 200 characters, or one-tap pay, not both.
    let confirmations = vec![
        (json!({}), missing("credential")),
        (json!({ "one_tap": false }), missing("credential")),
        (json!({ "credential": null }), missing("credential")),
        (json!({ "credential": "" }), invalid("credential")),
        (json!({ "credential": chars(201) }), invalid("credential")),
        (json!({ "credential": 5 }), invalid("credential")),
        (json!({ "credential": ["x"] }), invalid("credential")),
        (json!({ "one_tap": "yes" }), invalid("one_tap")),
        (json!({ "one_tap": 1 }), invalid("one_tap")),
        (json!({ "credential": WALLET, "one_tap": true }), invalid("one_tap")),
    ];
    // Refunds: 1 fen up to what is left of the order's payment.
    let amount = refused("invalid_amount", "amount_fen");
    let refunds = vec![
        (json!({}), missing("amount_fen")),
        (json!({ "amount_fen": 0 }), amount),
        (json!({ "amount_fen": -1 }), amount),
        (json!({ "amount_fen": i64::MIN }), amount),
        (json!({ "amount_fen": 10_000_000_001_i64 }), amount),
        (json!({ "amount_fen": 1e30 }), invalid("amount_fen")),
        (json!({ "amount_fen": 1.5 }), invalid("amount_fen")),
        (json!({ "amount_fen": "1" }), invalid("amount_fen")),
        (
            json!({ "amount_fen": 9_223_372_036_854_775_808_u64 }),
            invalid("amount_fen"),
        ),
        (
            json!({ "amount_fen": 5991 }),
            (409, "refund_exceeds_captured", Some("amount_fen")),
        ),
    ];
    // One-tap agreements: a credential, a per-order limit of 1 fen to 1 000 000 yuan and a
    // per-day limit between it and 1 000 000 yuan.
    let agreement = |field: &str, value: Value| {
        let mut body = one_tap_agreement("sim-one-tap");
        body[field] = value;
        body
    };
    let (per_order, per_day) = (
        refused("invalid_amount", "per_order_limit_fen"),
        refused("invalid_amount", "per_day_limit_fen"),
    );
    let agreements = vec![
        (json!({}), missing("credential")),
        (
            json!({ "credential": "c", "per_order_limit_fen": 1 }),
            missing("per_day_limit_fen"),
        ),
        (agreement("credential", json!("")), invalid("credential")),
        (agreement("credential", json!(chars(201))), invalid("credential")),
        (agreement("credential", json!(5)), invalid("credential")),
        (agreement("per_order_limit_fen", json!(0)), per_order),
        (agreement("per_order_limit_fen", json!(-1)), per_order),
        (agreement("per_order_limit_fen", json!(100_000_001)), per_order),
        (
            agreement("per_order_limit_fen", json!("1")),
            invalid("per_order_limit_fen"),
        ),
        (agreement("per_order_limit_fen", json!(2)), per_day),
        (agreement("per_day_limit_fen", json!(0)), per_day),
        (agreement("per_day_limit_fen", json!(100_000_001)), per_day),
        (agreement("per_day_limit_fen", json!(1.5)), invalid("per_day_limit_fen")),
    ];
    let confirm = format!("/v1/payment-intents/{}/confirm", a.intent);
    let refund = |order: i64| Call::new(Method::POST, format!("/v1/orders/{order}/refunds"), &a.merchant);
    [
        bodies(Call::new(Method::POST, "/v1/payment-intents", &a.buyer_token), intents),
        bodies(Call::new(Method::POST, confirm, &a.buyer_token), confirmations),
        bodies(refund(a.paid_order), refunds),
        // Only a paid order has money to give back.
        bodies(
            refund(a.order),
            vec![(json!({ "amount_fen": 1 }), (409, "order_not_paid", None))],
        ),
        bodies(
            Call::new(Method::POST, "/v1/one-tap-agreements", &a.buyer_token),
            agreements,
        ),
    ]
    .concat()
}

fn fulfillment_bodies(t: &Tenants) -> Vec<(Call, Refusal)> {
    let a = &t.a;
    // Warehouse settings: 1 to 4 ordered shifts of HH:MM, 1 to 1 000 000 orders an hour and
    // 1 to 24 000 000 a day, at most 16 cutoffs of a known level and region (one per pair),
    // known carriers, each once.
    let settings = |field: &str, value: Value| {
        let mut body = fulfillment_settings();
        body[field] = value;
        body
    };
    let shift = |start: &str, end: &str| json!({ "start": start, "end": end });
    let shifts = |shifts: Vec<Value>| settings("shifts", json!(shifts));
    let cutoff = |level: &str, region: &str, time: &str| json!({ "level": level, "region": region, "time": time });
    let cutoffs = |cutoffs: Vec<Value>| settings("cutoffs", json!(cutoffs));
    let unworkable = (422, "invalid_fulfillment_settings", None);
    let mut rows = vec![
        (json!({}), missing("shifts")),
        (
            json!({ "shifts": [shift("08:00", "22:00")], "orders_per_day": 1, "cutoffs": [] }),
            missing("orders_per_hour"),
        ),
        (
            json!({ "shifts": [shift("08:00", "22:00")], "orders_per_hour": 1, "orders_per_day": 1 }),
            missing("cutoffs"),
        ),
        (shifts(vec![]), unworkable),
        (shifts(vec![shift("08:00", "09:00"); 5]), unworkable),
        (shifts(vec![shift("22:00", "08:00")]), unworkable),
        (shifts(vec![shift("08:00", "08:00")]), unworkable),
        (
            shifts(vec![shift("08:00", "14:00"), shift("13:00", "22:00")]),
            unworkable,
        ),
        (
            shifts(vec![shift("14:00", "22:00"), shift("08:00", "12:00")]),
            unworkable,
        ),
        (settings("shifts", json!({})), invalid("shifts")),
        (
            settings("shifts", json!([{ "start": "08:00" }])),
            missing("shifts[0].end"),
        ),
        (
            settings(
                "shifts",
                json!([{ "start": "08:00", "end": "22:00", "break": "12:00" }]),
            ),
            unknown("shifts[0].break"),
        ),
        (settings("orders_per_hour", json!(0)), unworkable),
        (settings("orders_per_hour", json!(1_000_001)), unworkable),
        (settings("orders_per_hour", json!(-1)), invalid("orders_per_hour")),
        (
            settings("orders_per_hour", json!(4_294_967_296_i64)),
            invalid("orders_per_hour"),
        ),
        (settings("orders_per_hour", json!(1.5)), invalid("orders_per_hour")),
        (settings("orders_per_hour", json!("500")), invalid("orders_per_hour")),
        (settings("orders_per_day", json!(0)), unworkable),
        (settings("orders_per_day", json!(24_000_001)), unworkable),
        (settings("orders_per_day", json!(null)), invalid("orders_per_day")),
        (cutoffs(vec![cutoff("next_day", "any", "16:00"); 17]), unworkable),
        (
            cutoffs(vec![
                cutoff("next_day", "any", "16:00"),
                cutoff("next_day", "any", "17:00"),
            ]),
            unworkable,
        ),
        (
            cutoffs(vec![cutoff("express", "any", "16:00")]),
            invalid("cutoffs[0].level"),
        ),
        (
            cutoffs(vec![cutoff("NEXT_DAY", "any", "16:00")]),
            invalid("cutoffs[0].level"),
        ),
        (
            cutoffs(vec![cutoff("next_day", "nearby", "16:00")]),
            invalid("cutoffs[0].region"),
        ),
        (
            cutoffs(vec![
                cutoff("next_day", "any", "16:00"),
                cutoff("standard", "any", "5pm"),
            ]),
            invalid("cutoffs[1].time"),
        ),
        (
            settings("cutoffs", json!([{ "level": "next_day", "region": "any" }])),
            missing("cutoffs[0].time"),
        ),
        (settings("works_holidays", json!("yes")), invalid("works_holidays")),
        (settings("carriers", json!("sf")), invalid("carriers")),
        (settings("carriers", json!(["ups"])), invalid("carriers[0]")),
        (settings("carriers", json!(["SF"])), invalid("carriers[0]")),
        (settings("carriers", json!(["sf", "jd", "sf"])), invalid("carriers[2]")),
        (settings("warehouse_id", json!(a.warehouse)), unknown("warehouse_id")),
    ];
    // A time is HH:MM, 00:00 to 24:00.
    for time in [
        "8:00", "08:0", "0800", "08:00:00", "24:01", "25:00", "08:60", "ab:cd", "", "+8:00", "08:-1",
    ] {
        rows.push((shifts(vec![shift(time, "22:00")]), invalid("shifts[0].start")));
        rows.push((shifts(vec![shift("08:00", time)]), invalid("shifts[0].end")));
        rows.push((
            cutoffs(vec![cutoff("next_day", "any", time)]),
            invalid("cutoffs[0].time"),
        ));
    }
    // Shortages: a SKU of the shop, and 1 to the units the warehouse holds that are not with
    // a carrier (8 available and 1 sold of the first SKU; of the second, none available and
    // the 1 sold is with the carrier).
    let bad_count = refused("invalid_shortage", "missing_units");
    let unknown_sku = refused("unknown_sku", "sku_id");
    let shortage = |sku: Value, units: Value| json!({ "sku_id": sku, "missing_units": units });
    let shortages = vec![
        (json!({}), missing("sku_id")),
        (json!({ "sku_id": a.sku }), missing("missing_units")),
        (shortage(json!(0), json!(1)), unknown_sku),
        (shortage(json!(-1), json!(1)), unknown_sku),
        (shortage(json!(999_999), json!(1)), unknown_sku),
        (shortage(json!(t.b.sku), json!(1)), unknown_sku),
        (shortage(json!("1"), json!(1)), invalid("sku_id")),
        (shortage(json!(a.sku), json!(0)), bad_count),
        (shortage(json!(a.sku), json!(-1)), bad_count),
        (shortage(json!(a.sku), json!(i64::MIN)), bad_count),
        (shortage(json!(a.sku), json!(10)), bad_count),
        (shortage(json!(a.sku), json!(i64::MAX)), bad_count),
        (shortage(json!(a.sku2), json!(1)), bad_count),
        (shortage(json!(a.sku), json!(1.5)), invalid("missing_units")),
        (shortage(json!(a.sku), json!("1")), invalid("missing_units")),
        (
            shortage(json!(a.sku), json!(9_223_372_036_854_775_808_u64)),
            invalid("missing_units"),
        ),
        (
            json!({ "sku_id": a.sku, "missing_units": 1, "reason": "damaged" }),
            unknown("reason"),
        ),
    ];
    let merchant = |method: Method, path: String| Call::new(method, path, &a.merchant);
    [
        bodies(
            merchant(Method::PUT, format!("/v1/warehouses/{}/fulfillment", a.warehouse)),
            rows,
        ),
        bodies(
            merchant(Method::POST, format!("/v1/warehouses/{}/shortages", a.warehouse)),
            shortages,
        ),
    ]
    .concat()
}

fn logistics_bodies(t: &Tenants) -> Vec<(Call, Refusal)> {
    let (a, b) = (&t.a, &t.b);
    // Shipments: a warehouse the order sends a parcel from, an optional known carrier, and an
    // optional waybill of 6 to 40 letters, digits or '-'.
    let no_parcel = refused("no_parcel_at_warehouse", "warehouse_id");
    let shipment = |field: &str, value: Value| {
        let mut body = json!({ "warehouse_id": a.warehouse });
        body[field] = value;
        body
    };
    let shipments = vec![
        (json!({}), missing("warehouse_id")),
        (shipment("warehouse_id", json!(0)), invalid("warehouse_id")),
        (shipment("warehouse_id", json!(-1)), invalid("warehouse_id")),
        (shipment("warehouse_id", json!("1")), invalid("warehouse_id")),
        (shipment("warehouse_id", json!(999_999)), no_parcel),
        (shipment("warehouse_id", json!(b.warehouse)), no_parcel),
        (shipment("carrier", json!("ups")), invalid("carrier")),
        (shipment("carrier", json!("SF")), invalid("carrier")),
        (shipment("carrier", json!(5)), invalid("carrier")),
        (shipment("waybill_no", json!("")), invalid("waybill_no")),
        (shipment("waybill_no", json!("SF123")), invalid("waybill_no")),
        (shipment("waybill_no", json!("S".repeat(41))), invalid("waybill_no")),
        (shipment("waybill_no", json!("SF 1234567")), invalid("waybill_no")),
        (shipment("waybill_no", json!("SF1234567\n")), invalid("waybill_no")),
        (shipment("waybill_no", json!("顺丰1234567")), invalid("waybill_no")),
        (shipment("waybill_no", json!(1_234_567_890)), invalid("waybill_no")),
        (shipment("weight_g", json!(500)), unknown("weight_g")),
        // Another shipment's waybill with the same carrier is not this parcel's.
        (
            json!({ "warehouse_id": a.warehouse, "carrier": a.carrier, "waybill_no": a.waybill }),
            (409, "waybill_in_use", Some("waybill_no")),
        ),
    ];
    let shipments_of = |order: i64| Call::new(Method::POST, format!("/v1/orders/{order}/shipments"), &a.merchant);
    // SLA rules: each allowed time 60 s to 30 days, a warning at 1 to 99 % of it.
    let rules = |field: &str, value: Value| {
        let mut body = sla_rules(24 * 3600);
        body[field] = value;
        body
    };
    let unworkable = (422, "invalid_sla_rules", None);
    let mut sla = vec![
        (json!({}), missing("not_picked_up_within_s")),
        (
            json!({ "not_picked_up_within_s": 3600, "not_departed_within_s": 3600, "stalled_after_s": 3600 }),
            missing("warn_at_percent"),
        ),
        (rules("warn_at_percent", json!(0)), unworkable),
        (rules("warn_at_percent", json!(100)), unworkable),
        (rules("warn_at_percent", json!(256)), invalid("warn_at_percent")),
        (rules("warn_at_percent", json!(-1)), invalid("warn_at_percent")),
        (rules("warn_at_percent", json!(80.5)), invalid("warn_at_percent")),
        (rules("shop_id", json!(b.shop)), unknown("shop_id")),
    ];
    for field in ["not_picked_up_within_s", "not_departed_within_s", "stalled_after_s"] {
        sla.push((rules(field, json!(59)), unworkable));
        sla.push((rules(field, json!(30 * 24 * 3600 + 1)), unworkable));
        sla.push((rules(field, json!(0)), unworkable));
        sla.push((rules(field, json!(i64::MIN)), unworkable));
        sla.push((rules(field, json!("3600")), invalid(field)));
        sla.push((rules(field, json!(1e30)), invalid(field)));
    }
    [
        bodies(shipments_of(a.paid_order), shipments),
        // Only a paid order has parcels, and a parcel has one shipment.
        bodies(
            shipments_of(a.order),
            vec![(json!({ "warehouse_id": a.warehouse }), no_parcel)],
        ),
        bodies(
            shipments_of(a.order),
            vec![(
                json!({ "warehouse_id": a.warehouse, "waybill_no": "SF1234567890" }),
                (409, "order_not_dispatched", None),
            )],
        ),
        bodies(
            shipments_of(a.shipped_order),
            vec![(json!({ "warehouse_id": a.warehouse }), (409, "shipment_exists", None))],
        ),
        bodies(Call::new(Method::PUT, "/v1/package-center/sla-rules", &a.merchant), sla),
    ]
    .concat()
}

/// The refusals of a webhook for the signature of a notification (`valid`, signed fresh),
/// which is checked before anything else: a token is no signature, and a signature is one
/// over the raw body, made with the shared secret within 5 minutes of now.
fn signature_refusals(valid: &Call, admin: &str) -> Vec<(Call, Refusal)> {
    let (missing_signature, malformed_signature, bad_signature, stale_signature) = (
        (401, "missing_signature", None),
        (401, "malformed_signature", None),
        (401, "bad_signature", None),
        (401, "stale_signature", None),
    );
    let with_signature = |signature| valid.clone().signed(signature);
    let bearer = HeaderValue::from_str(&format!("Bearer {admin}")).unwrap();
    let admin_token_unsigned = with_signature(Signature::Unsigned).authorization(Some(bearer));
    vec![
        (with_signature(Signature::Unsigned), missing_signature),
        (with_signature(Signature::Header("")), malformed_signature),
        (with_signature(Signature::Header("v1=00")), malformed_signature),
        (with_signature(Signature::Header("t=1700000000")), malformed_signature),
        (with_signature(Signature::Header("t=abc,v1=00")), malformed_signature),
        (with_signature(Signature::Header("t=1,t=2,v1=00")), malformed_signature),
        (
            with_signature(Signature::Header("t=1700000000,v1=zz")),
            malformed_signature,
        ),
        (with_signature(Signature::Header("t=秒,v1=00")), malformed_signature),
        (with_signature(Signature::Header("t=1700000000,v1=00")), bad_signature),
        (with_signature(Signature::WrongSecret), bad_signature),
        (with_signature(Signature::Over(b"{}")), bad_signature),
        (with_signature(Signature::Aged(600)), stale_signature),
        (with_signature(Signature::Aged(-600)), stale_signature),
        // A platform token is no signature.
        (admin_token_unsigned, missing_signature),
    ]
}

/// Signed bodies every webhook refuses as unreadable: not a JSON object of its notification.
fn unreadable_bodies(valid: &Call) -> Vec<(Call, Refusal)> {
    let valid_bytes = valid.body.clone().unwrap();
    let signed = |body: &[u8]| valid.clone().raw(JSON, body.to_vec());
    let unreadable = (422, "malformed_notification", None);
    vec![
        (signed(b"{"), unreadable),
        (signed(b""), unreadable),
        (signed(b"null"), unreadable),
        (signed(b"[]"), unreadable),
        (signed(b"42"), unreadable),
        (signed(b"{}"), unreadable),
        (signed(&[valid_bytes.as_slice(), b" garbage"].concat()), unreadable),
        (
            signed(&[b"\xef\xbb\xbf".as_slice(), valid_bytes.as_slice()].concat()),
            unreadable,
        ),
    ]
}

/// The refusals of the provider's webhook, which reads no token and no media type: only a
/// signature over the raw body, and then the body as a simpay event.
fn webhook_refusals(valid: &Call, admin: &str) -> Vec<(Call, Refusal)> {
    let unreadable = (422, "malformed_notification", None);
    let mut unknown_type: Value = serde_json::from_slice(valid.body.as_ref().unwrap()).unwrap();
    unknown_type["type"] = json!("charge.refunded");
    let signed = |body: &Value| valid.clone().json(body).signed(Signature::Fresh);
    [
        signature_refusals(valid, admin),
        unreadable_bodies(valid),
        vec![
            (signed(&json!({ "id": "evt_1" })), unreadable),
            (signed(&unknown_type), unreadable),
        ],
    ]
    .concat()
}

/// The refusals of the carriers' webhook, which reads no token and no media type: only a
/// signature over the raw body, and then the body as a tracking event of a known carrier, in
/// a known state, at an RFC 3339 instant, with an event id of 1 to 64 visible ASCII characters.
fn carrier_webhook_refusals(valid: &Call, admin: &str) -> Vec<(Call, Refusal)> {
    let unreadable = (422, "malformed_notification", None);
    let event: Value = serde_json::from_slice(valid.body.as_ref().unwrap()).unwrap();
    let with = |field: &str, value: Value| {
        let mut body = event.clone();
        body[field] = value;
        (valid.clone().json(&body).signed(Signature::Fresh), unreadable)
    };
    let without = |field: &str| {
        let mut body = event.clone();
        body.as_object_mut().unwrap().remove(field);
        (valid.clone().json(&body).signed(Signature::Fresh), unreadable)
    };
    [
        signature_refusals(valid, admin),
        unreadable_bodies(valid),
        vec![
            without("carrier"),
            without("waybill_no"),
            without("event_id"),
            without("state"),
            without("occurred_at"),
            with("carrier", json!("ups")),
            with("carrier", json!("SF")),
            with("carrier", json!(1)),
            with("waybill_no", json!(null)),
            with("state", json!("teleported")),
            with("state", json!("PICKED_UP")),
            with("occurred_at", json!("yesterday")),
            with("occurred_at", json!("2026-13-01T00:00:00Z")),
            with("occurred_at", json!(1_700_000_000)),
            with("event_id", json!("")),
            with("event_id", json!("evt 1")),
            with("event_id", json!("e".repeat(65))),
            with("event_id", json!("事件")),
            with("location", json!(5)),
        ],
    ]
    .concat()
}

async fn every_malformed_body_is_refused_with_a_stable_problem_and_changes_nothing(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenants(&app).await;
    expect_refusals(&app, &t, &wrong_fields(&app, &t)).await;
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
        let body_optional = route.ends_with("/tokens") || route.ends_with("/taps");
        expect_refusals(&app, &t, &malformed_bodies(&call, &valid, body_optional)).await;
        // The same endpoint accepts the valid body: the refusals above were the body's fault.
        assert_success(&call.send(&app).await, &call.label());
    }
    app.shutdown().await;
}

async fn every_bad_path_id_is_not_found_and_changes_nothing(backend: Backend) {
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
    ];
    let mut cases = Vec::new();
    for (method, template, token, body, missing_code) in &templates {
        // Ids that cannot name anything are refused before any lookup; an id that could
        // name something but does not is refused by whoever looks it up.
        for bad in [
            "abc",
            "0",
            "-5",
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
            let code = if bad == "999999" { *missing_code } else { "not_found" };
            cases.push((call, (404, code, None)));
        }
    }
    expect_refusals_in_bulk(&app, &t, &cases).await;
    app.shutdown().await;
}

async fn every_bad_query_parameter_is_refused_with_a_stable_problem(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenants(&app).await;
    let unparsable = (400, "invalid_query", None);
    let long_search = format!("q={}", "a".repeat(101));
    let products = [
        ("limit=0", (422, "invalid_query", Some("limit"))),
        ("limit=201", (422, "invalid_query", Some("limit"))),
        ("limit=-1", (422, "invalid_query", Some("limit"))),
        ("limit=abc", unparsable),
        ("limit=1e3", unparsable),
        ("limit=99999999999999999999", unparsable),
        ("cursor=abc", (422, "invalid_query", Some("cursor"))),
        ("cursor=", (422, "invalid_query", Some("cursor"))),
        ("shop_id=0", (422, "invalid_query", Some("shop_id"))),
        ("shop_id=-3", (422, "invalid_query", Some("shop_id"))),
        ("shop_id=abc", unparsable),
        ("sort=price", unparsable),
        (&*long_search, (422, "invalid_query", Some("q"))),
        ("q=a%00b", (422, "invalid_query", Some("q"))),
        ("q=a%0Ab", (422, "invalid_query", Some("q"))),
        ("gtin=6901234567893", (422, "invalid_query", Some("gtin"))),
        ("gtin=abc", (422, "invalid_query", Some("gtin"))),
        ("gtin=%00", (422, "invalid_query", Some("gtin"))),
    ];
    let orders = [
        ("limit=0", (422, "invalid_query", Some("limit"))),
        ("limit=201", (422, "invalid_query", Some("limit"))),
        ("limit=abc", unparsable),
        ("state=lost", (422, "invalid_query", Some("state"))),
        ("state=SHIPPED", (422, "invalid_query", Some("state"))),
        ("state=PAID", (422, "invalid_query", Some("state"))),
        ("state=", (422, "invalid_query", Some("state"))),
        ("created_from=yesterday", (422, "invalid_query", Some("created_from"))),
        (
            "created_from=2026-13-01T00:00:00Z",
            (422, "invalid_query", Some("created_from")),
        ),
        ("created_from=2026-01-01", (422, "invalid_query", Some("created_from"))),
        (
            "created_to=2026-01-01T00:00:00",
            (422, "invalid_query", Some("created_to")),
        ),
        ("created_to=%00", (422, "invalid_query", Some("created_to"))),
        ("cursor=abc", (422, "invalid_query", Some("cursor"))),
        ("cursor=1.0", (422, "invalid_query", Some("cursor"))),
        ("cursor=abc.5", (422, "invalid_query", Some("cursor"))),
        ("cursor=1.-5", (422, "invalid_query", Some("cursor"))),
        ("buyer_id=1", unparsable),
        ("limit=1&limit=2", unparsable),
    ];
    // The reconciliation (operators only): a real calendar day, written YYYY-MM-DD.
    let bad_date = (422, "invalid_query", Some("date"));
    let reconciliation = [
        ("date=2026-13-01", bad_date),
        ("date=2026-02-30", bad_date),
        ("date=2026-1-1", bad_date),
        ("date=20260101", bad_date),
        ("date=2026-01-01T00:00:00Z", bad_date),
        ("date=tomorrow", bad_date),
        ("date=", bad_date),
        ("date=%00", bad_date),
        ("bogus=1", unparsable),
        ("date=2026-01-01&date=2026-01-02", unparsable),
    ];
    // Delivery options (public): a known division and 1 to 100 `sku_id:quantity` items of
    // known SKUs, 1 to 10 000 units each.
    let (a, b) = (&t.a, &t.b);
    let items = |items: &str| format!("adcode=310101000000&items={items}");
    let bad_items = (422, "invalid_field", Some("items"));
    let hundred_and_one: Vec<String> = (1..=101).map(|sku| format!("{sku}:1")).collect();
    let hundred_and_one = items(&hundred_and_one.join(","));
    let delivery: Vec<(String, Refusal)> = [
        ("", (422, "missing_field", Some("adcode"))),
        ("items=1:1", (422, "missing_field", Some("adcode"))),
        ("adcode=310101000000", (422, "missing_field", Some("items"))),
        ("adcode=999999999999&items=1:1", (422, "invalid_adcode", Some("adcode"))),
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
        (&items("999999:1"), (422, "unknown_sku", Some("items"))),
        (
            &items(&format!("{}:1,999999:1", a.sku)),
            (422, "unknown_sku", Some("items")),
        ),
        ("bogus=1", unparsable),
        ("adcode=310101000000&adcode=310101000000&items=1:1", unparsable),
    ]
    .into_iter()
    .map(|(query, refusal)| (query.to_string(), refusal))
    .collect();
    // The package center's alerts (merchants only): open or all, a known rule, 1 to 500.
    let alerts = [
        ("state=closed", (422, "invalid_field", Some("state"))),
        ("state=OPEN", (422, "invalid_field", Some("state"))),
        ("state=", (422, "invalid_field", Some("state"))),
        ("rule=late", (422, "invalid_field", Some("rule"))),
        ("rule=", (422, "invalid_field", Some("rule"))),
        ("limit=0", (422, "invalid_field", Some("limit"))),
        ("limit=501", (422, "invalid_field", Some("limit"))),
        ("limit=-1", (422, "invalid_field", Some("limit"))),
        ("limit=abc", unparsable),
        ("limit=99999999999999999999", unparsable),
        ("state=all&state=open", unparsable),
        ("shop_id=1", unparsable),
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
    expect_refusals(&app, &t, &cases).await;
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

// ---- authentication and roles -------------------------------------------------------------

fn flip_last(token: &str) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    let last = chars.last_mut().unwrap();
    *last = if *last == 'a' { 'b' } else { 'a' };
    chars.into_iter().collect()
}

/// Authorization headers that name no caller.
fn bad_credentials(app: &TestApp, t: &Tenants) -> Vec<Option<HeaderValue>> {
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
    }
    app.shutdown().await;
}

// ---- tenant isolation ---------------------------------------------------------------------

async fn another_tenants_objects_answer_like_missing_ones_and_stay_unchanged(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenants(&app).await;
    let b = &t.b;
    let pairs = tenant_pairs(&t);
    let before = snapshot(&app, &t).await;
    for (foreign, absent) in &pairs {
        let answer = foreign.send(&app).await;
        assert!(
            [404, 422].contains(&answer.status.as_u16()),
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
    assert_eq!(app.level(&b.merchant, b.sku, b.warehouse).await, (8, 1, 1));
    // B's payment is still captured and unrefunded, and B's agreement still in force.
    let intent = app
        .get(&format!("/v1/payment-intents/{}", b.intent), &b.buyer_token)
        .await;
    assert_eq!(intent.assert_status(200)["status"], "captured");
    assert_eq!(intent.body["refunds"], json!([]));
    let agreements = app.get("/v1/one-tap-agreements", &b.buyer_token).await;
    assert_eq!(ids(agreements.assert_status(200)), vec![b.agreement]);
    assert_eq!(agreements.body[0]["revoked_at"], Value::Null);
    // B's paid order still waits for its shipment, B's shipped one has only its own, and B's
    // warehouse works as it did.
    for (order, expected) in [(b.paid_order, vec![]), (b.shipped_order, vec![b.shipment])] {
        let shipments = app.get(&format!("/v1/orders/{order}/shipments"), &b.merchant).await;
        assert_eq!(ids(shipments.assert_status(200)), expected);
    }
    let settings = app
        .get(&format!("/v1/warehouses/{}/fulfillment", b.warehouse), &b.merchant)
        .await;
    assert_eq!(settings.assert_status(200)["orders_per_hour"], 500);
    app.shutdown().await;
}
/// (another tenant's object, a missing one), for A's merchant and buyer: the answers must be
/// the same, but for a quoted id.
fn tenant_pairs(t: &Tenants) -> Vec<(Call, Call)> {
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
    let pairs = vec![
        (
            merchant(Method::GET, format!("/v1/shops/{}", b.shop), None),
            merchant(Method::GET, format!("/v1/shops/{missing}"), None),
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
    ];
    let (fulfillment, logistics) = (fulfillment_pairs(t), logistics_pairs(t));
    [pairs, fulfillment, logistics].concat()
}

/// (another tenant's object, a missing one) of fulfillment, for A's merchant and buyer.
fn fulfillment_pairs(t: &Tenants) -> Vec<(Call, Call)> {
    let (a, b) = (&t.a, &t.b);
    let missing = 999_999;
    let merchant = |method: Method, path: String, body: Option<Value>| {
        let call = Call::new(method, path, &a.merchant);
        match body {
            Some(body) => call.json(&body),
            None => call,
        }
    };
    let settings = Some(json!({
        "shifts": [{ "start": "00:00", "end": "24:00" }],
        "orders_per_hour": 1, "orders_per_day": 1, "cutoffs": [],
    }));
    let shortage = |sku: i64| Some(json!({ "sku_id": sku, "missing_units": 1 }));
    let mut pairs = vec![
        (
            merchant(Method::GET, format!("/v1/warehouses/{}/fulfillment", b.warehouse), None),
            merchant(Method::GET, format!("/v1/warehouses/{missing}/fulfillment"), None),
        ),
        (
            merchant(
                Method::PUT,
                format!("/v1/warehouses/{}/fulfillment", b.warehouse),
                settings.clone(),
            ),
            merchant(
                Method::PUT,
                format!("/v1/warehouses/{missing}/fulfillment"),
                settings.clone(),
            ),
        ),
        (
            merchant(
                Method::POST,
                format!("/v1/warehouses/{}/shortages", b.warehouse),
                shortage(a.sku),
            ),
            merchant(
                Method::POST,
                format!("/v1/warehouses/{missing}/shortages"),
                shortage(a.sku),
            ),
        ),
        // Another shop's SKU, in the merchant's own warehouse or in the other shop's.
        (
            merchant(
                Method::POST,
                format!("/v1/warehouses/{}/shortages", a.warehouse),
                shortage(b.sku),
            ),
            merchant(
                Method::POST,
                format!("/v1/warehouses/{}/shortages", a.warehouse),
                shortage(missing),
            ),
        ),
        (
            merchant(
                Method::POST,
                format!("/v1/warehouses/{}/shortages", b.warehouse),
                shortage(b.sku),
            ),
            merchant(
                Method::POST,
                format!("/v1/warehouses/{missing}/shortages"),
                shortage(missing),
            ),
        ),
    ];
    for token in [&a.merchant, &a.buyer_token] {
        pairs.push((
            Call::get(format!("/v1/orders/{}/dispatch", b.paid_order), token),
            Call::get(format!("/v1/orders/{missing}/dispatch"), token),
        ));
    }
    pairs
}

/// (another tenant's object, a missing one) of logistics, for A's merchant and buyer.
fn logistics_pairs(t: &Tenants) -> Vec<(Call, Call)> {
    let (a, b) = (&t.a, &t.b);
    let missing = 999_999;
    let ship = |order: i64, warehouse: i64| {
        Call::new(Method::POST, format!("/v1/orders/{order}/shipments"), &a.merchant)
            .json(&json!({ "warehouse_id": warehouse }))
    };
    let mut pairs = vec![
        (ship(b.paid_order, b.warehouse), ship(missing, b.warehouse)),
        (ship(b.paid_order, a.warehouse), ship(missing, a.warehouse)),
        // The merchant's own paid order does not ship from another shop's warehouse.
        (ship(a.paid_order, b.warehouse), ship(a.paid_order, missing)),
    ];
    for token in [&a.merchant, &a.buyer_token] {
        pairs.push((
            Call::get(format!("/v1/orders/{}/shipments", b.shipped_order), token),
            Call::get(format!("/v1/orders/{missing}/shipments"), token),
        ));
        pairs.push((
            Call::get(format!("/v1/shipments/{}", b.shipment), token),
            Call::get(format!("/v1/shipments/{missing}"), token),
        ));
    }
    pairs
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
    assert_eq!(ids(&own.body["items"]), vec![a.product]);

    let orders = app.get("/v1/orders", &a.merchant).await;
    assert_eq!(
        ids(&orders.assert_status(200)["items"]),
        vec![a.shipped_order, a.paid_order, a.order]
    );
    let orders = app.get("/v1/orders", &b.buyer_token).await;
    assert_eq!(
        ids(&orders.assert_status(200)["items"]),
        vec![b.shipped_order, b.paid_order, b.order]
    );
    let orders = app.get("/v1/orders", &t.homeless_buyer).await;
    assert_eq!(ids(&orders.assert_status(200)["items"]), Vec::<i64>::new());
    let orders = app.get("/v1/orders", &app.admin).await;
    assert_eq!(
        ids(&orders.assert_status(200)["items"]),
        vec![
            b.shipped_order,
            b.paid_order,
            b.order,
            a.shipped_order,
            a.paid_order,
            a.order
        ]
    );
    // A paid order is dispatched at once; one whose every parcel has a shipment is shipped.
    for (state, expected) in [
        ("paid", vec![a.paid_order]),
        ("shipped", vec![a.shipped_order]),
        ("delivered", vec![]),
    ] {
        let orders = app.get(&format!("/v1/orders?state={state}"), &a.merchant).await;
        assert_eq!(ids(&orders.assert_status(200)["items"]), expected, "{state}");
    }
    for token in [&a.merchant, &a.buyer_token, &app.admin] {
        let shipments = app
            .get(&format!("/v1/orders/{}/shipments", a.shipped_order), token)
            .await;
        assert_eq!(ids(shipments.assert_status(200)), vec![a.shipment]);
        let shipment = app.get(&format!("/v1/shipments/{}", a.shipment), token).await;
        assert_eq!(shipment.assert_status(200), &shipments.body[0]);
        let dispatch = app.get(&format!("/v1/orders/{}/dispatch", a.paid_order), token).await;
        assert_eq!(dispatch.assert_status(200)["order_id"], a.paid_order);
    }
    for (token, expected) in [
        (&a.buyer_token, vec![a.agreement]),
        (&b.buyer_token, vec![b.agreement]),
        (&t.homeless_buyer, vec![]),
    ] {
        let agreements = app.get("/v1/one-tap-agreements", token).await;
        assert_eq!(ids(agreements.assert_status(200)), expected);
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
        assert_eq!(ids(refunds.assert_status(200)), vec![refund]);
    }
    let refunds = app
        .get(&format!("/v1/orders/{}/refunds", b.paid_order), &app.admin)
        .await;
    assert_eq!(ids(refunds.assert_status(200)), Vec::<i64>::new());

    let warehouses = app.get("/v1/warehouses", &b.merchant).await;
    assert_eq!(ids(warehouses.assert_status(200)), vec![b.warehouse]);
    let sales = app.get("/v1/flash-sales", &a.merchant).await;
    assert_eq!(ids(sales.assert_status(200)), vec![a.sale]);
    for token in [&app.admin, &a.buyer_token] {
        let sales = app.get("/v1/flash-sales", token).await;
        assert_eq!(ids(sales.assert_status(200)), vec![b.sale, a.sale], "newest first");
    }
    // The catalog is public to buyers: they see every shop's active products.
    let catalog = app.get("/v1/products", &a.buyer_token).await;
    assert_eq!(ids(&catalog.assert_status(200)["items"]), vec![a.product, b.product]);
    app.shutdown().await;
}

// ---- platform -----------------------------------------------------------------------------

async fn shops_are_created_listed_and_read_by_the_admin_and_their_own_merchant(backend: Backend) {
    let app = spawn(backend).await;
    let created = app
        .post("/v1/shops", &app.admin, json!({ "name": "  川味小铺  " }))
        .await;
    let shop = created.assert_status(201).clone();
    assert_eq!(shop["name"], "川味小铺", "the name is trimmed");
    assert!(shop["created_at"].as_str().unwrap().ends_with('Z'), "{shop}");
    // 60 characters is the limit, counted in characters, not bytes.
    let long = app
        .post("/v1/shops", &app.admin, json!({ "name": "店".repeat(60) }))
        .await;
    let long = long.assert_status(201).clone();

    let listed = app.get("/v1/shops", &app.admin).await;
    assert_eq!(listed.assert_status(200), &json!([shop, long]));
    let id = shop["id"].as_i64().unwrap();
    let read = app.get(&format!("/v1/shops/{id}"), &app.admin).await;
    assert_eq!(read.assert_status(200), &shop);
    let token = app.post(&format!("/v1/shops/{id}/tokens"), &app.admin, json!({})).await;
    let merchant = token.assert_status(201)["token"].as_str().unwrap().to_string();
    assert_eq!(
        app.get(&format!("/v1/shops/{id}"), &merchant).await.assert_status(200),
        &shop
    );
    app.shutdown().await;
}

async fn buyers_are_created_and_read_by_the_admin_and_themselves(backend: Backend) {
    let app = spawn(backend).await;
    let with_address = app
        .post(
            "/v1/buyers",
            &app.admin,
            json!({ "name": "张三", "default_address": { "adcode": "310101000000", "detail": " 南京东路1号 " } }),
        )
        .await;
    let buyer = with_address.assert_status(201).clone();
    assert_eq!(
        buyer["default_address"],
        json!({ "adcode": "310101000000", "division": "黄浦区", "detail": "南京东路1号" })
    );
    let without = app.post("/v1/buyers", &app.admin, json!({ "name": "李四" })).await;
    assert_eq!(without.assert_status(201)["default_address"], Value::Null);

    let id = buyer["id"].as_i64().unwrap();
    assert_eq!(
        app.get(&format!("/v1/buyers/{id}"), &app.admin)
            .await
            .assert_status(200),
        &buyer
    );
    let token = app
        .post(&format!("/v1/buyers/{id}/tokens"), &app.admin, json!({}))
        .await;
    let own = token.assert_status(201)["token"].as_str().unwrap().to_string();
    assert_eq!(
        app.get(&format!("/v1/buyers/{id}"), &own).await.assert_status(200),
        &buyer
    );
    app.shutdown().await;
}

async fn issued_tokens_work_at_once_and_each_is_distinct(backend: Backend) {
    let app = spawn(backend).await;
    let (shop, _) = app.shop("川味小铺").await;
    let (buyer, _) = app.buyer("张三").await;
    let shop_tokens = format!("/v1/shops/{shop}/tokens");
    // The body is optional: none, blank, or a JSON object with a label.
    let answers = [
        Call::new(Method::POST, &shop_tokens, &app.admin).send(&app).await,
        Call::new(Method::POST, &shop_tokens, &app.admin)
            .raw(None, b" \n".to_vec())
            .send(&app)
            .await,
        Call::new(Method::POST, &shop_tokens, &app.admin)
            .json(&json!({ "label": "直播间助手" }))
            .send(&app)
            .await,
    ];
    let mut tokens = BTreeSet::new();
    for answer in &answers {
        let issued = answer.assert_status(201);
        assert_eq!(
            (&issued["role"], &issued["shop_id"], &issued["buyer_id"]),
            (&json!("merchant"), &json!(shop), &Value::Null)
        );
        let token = issued["token"].as_str().unwrap();
        assert!(token.starts_with(&format!("mdn_{}_", issued["token_id"])), "{issued}");
        tokens.insert(token.to_string());
        app.get("/v1/warehouses", token).await.assert_status(200);
    }
    assert_eq!(tokens.len(), 3, "every issue is a new token");

    let issued = app
        .post(
            &format!("/v1/buyers/{buyer}/tokens"),
            &app.admin,
            json!({ "label": "手机" }),
        )
        .await;
    let issued = issued.assert_status(201).clone();
    assert_eq!((&issued["role"], &issued["buyer_id"]), (&json!("buyer"), &json!(buyer)));
    let token = issued["token"].as_str().unwrap();
    app.get("/v1/orders", token).await.assert_status(200);
    app.get(&format!("/v1/buyers/{buyer}"), token).await.assert_status(200);
    app.get("/v1/warehouses", token).await.assert_problem(403, "forbidden");
    app.shutdown().await;
}

// ---- catalog and inventory ----------------------------------------------------------------

async fn warehouses_are_created_and_listed_with_their_division(backend: Backend) {
    let app = spawn(backend).await;
    let (shop, merchant) = app.shop("川味小铺").await;
    let first = app
        .post(
            "/v1/warehouses",
            &merchant,
            json!({ "name": "双流仓", "adcode": "510116000000" }),
        )
        .await;
    let first = first.assert_status(201).clone();
    assert_eq!(
        (&first["shop_id"], &first["name"], &first["adcode"], &first["division"]),
        (&json!(shop), &json!("双流仓"), &json!("510116000000"), &json!("双流区"))
    );
    let second = app
        .post(
            "/v1/warehouses",
            &merchant,
            json!({ "name": "嘉定仓", "adcode": "310114000000" }),
        )
        .await;
    let second = second.assert_status(201).clone();
    assert_eq!(second["division"], "嘉定区");
    let listed = app.get("/v1/warehouses", &merchant).await;
    assert_eq!(listed.assert_status(200), &json!([first, second]));
    app.shutdown().await;
}

const GTIN: &str = "6901234567892";

async fn products_are_created_read_searched_and_filtered(backend: Backend) {
    let app = spawn(backend).await;
    let (shop_a, a) = app.shop("川味小铺").await;
    let (shop_b, b) = app.shop("面馆").await;
    let (_, buyer) = app.buyer("张三").await;
    let jerky = app
        .post(
            "/v1/products",
            &a,
            json!({
            "title": "Spicy Beef Jerky 麻辣牛肉干",
            "description": "四川特产",
            "gtin": GTIN,
            "skus": [{ "name": "100g", "price_fen": 2990 }, { "name": "500g", "price_fen": 9990 }]
            }),
        )
        .await;
    let jerky = jerky.assert_status(201).clone();
    assert_eq!(
        (
            &jerky["shop_id"],
            &jerky["status"],
            &jerky["gtin"],
            &jerky["description"]
        ),
        (&json!(shop_a), &json!("active"), &json!(GTIN), &json!("四川特产"))
    );
    let skus = jerky["skus"].as_array().unwrap();
    assert_eq!(skus.len(), 2);
    assert!(
        skus.iter()
            .all(|s| s["product_id"] == jerky["id"] && s["status"] == "active")
    );
    assert_eq!(
        (&skus[0]["price_fen"], &skus[1]["price_fen"]),
        (&json!(2990), &json!(9990))
    );
    let cotton = app
        .post(
            "/v1/products",
            &a,
            json!({ "title": "100% 纯棉T恤", "skus": [{ "name": "M", "price_fen": 5900 }] }),
        )
        .await;
    let cotton = cotton.assert_status(201).clone();
    assert_eq!((&cotton["description"], &cotton["gtin"]), (&Value::Null, &Value::Null));
    let noodles = app
        .post(
            "/v1/products",
            &b,
            json!({ "title": "BEEF Noodles 牛肉面", "gtin": GTIN, "skus": [{ "name": "碗", "price_fen": 1800 }] }),
        )
        .await;
    let noodles = noodles.assert_status(201).clone();
    let [jerky_id, cotton_id, noodles_id] = [&jerky, &cotton, &noodles].map(|p| p["id"].as_i64().unwrap());

    // Every role reads a visible product exactly as it was created.
    for token in [&app.admin, &a, &buyer] {
        let read = app.get(&format!("/v1/products/{jerky_id}"), token).await;
        assert_eq!(read.assert_status(200), &jerky);
    }
    let by_gtin = format!("gtin={GTIN}");
    let by_gtin_and_q = format!("gtin={GTIN}&q=noodles");
    let of_b = format!("shop_id={shop_b}");
    let of_a = format!("shop_id={shop_a}");
    let cases: Vec<(&str, &String, Vec<i64>)> = vec![
        ("q=beef", &buyer, vec![jerky_id, noodles_id]),
        ("q=%20%20BEEF%20", &buyer, vec![jerky_id, noodles_id]),
        ("q=牛肉", &buyer, vec![jerky_id, noodles_id]),
        ("q=jerky", &buyer, vec![jerky_id]),
        // Wildcards of SQL are plain characters in a search.
        ("q=%25", &buyer, vec![cotton_id]),
        ("q=_", &buyer, vec![]),
        ("q=%5C", &buyer, vec![]),
        ("q=nothing", &buyer, vec![]),
        // The same GTIN across shops is the same product.
        (&by_gtin, &buyer, vec![jerky_id, noodles_id]),
        (&by_gtin_and_q, &buyer, vec![noodles_id]),
        ("gtin=96385074", &buyer, vec![]),
        (&of_b, &buyer, vec![noodles_id]),
        (&of_a, &app.admin, vec![jerky_id, cotton_id]),
        ("shop_id=999999", &buyer, vec![]),
        ("", &app.admin, vec![jerky_id, cotton_id, noodles_id]),
        ("q=beef", &a, vec![jerky_id]),
        (&by_gtin, &b, vec![noodles_id]),
    ];
    for (query, token, expected) in cases {
        assert_eq!(
            listed(&app, &format!("/v1/products?{query}"), token).await,
            expected,
            "{query}"
        );
    }
    app.shutdown().await;
}

/// Walks every page of a listing; returns the ids in order and checks each page's size.
async fn walk_pages(app: &TestApp, path: &str, token: &str, limit: usize) -> Vec<i64> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let separator = if path.contains('?') { '&' } else { '?' };
        let mut url = format!("{path}{separator}limit={limit}");
        if let Some(cursor) = &cursor {
            url.push_str(&format!("&cursor={cursor}"));
        }
        let page = app.get(&url, token).await;
        let body = page.assert_status(200);
        let items = ids(&body["items"]);
        assert!(items.len() <= limit, "{url}: {items:?}");
        seen.extend(items.iter().copied());
        match body["next_cursor"].as_str() {
            Some(next) => {
                assert_eq!(items.len(), limit, "{url}: a page before the last is full");
                cursor = Some(next.to_string());
            }
            None => return seen,
        }
    }
    panic!("{path}: pagination never ended");
}

async fn product_cursor_pagination_visits_every_product_exactly_once(backend: Backend) {
    let app = spawn(backend).await;
    let (_, a) = app.shop("川味小铺").await;
    let (_, b) = app.shop("面馆").await;
    let (_, buyer) = app.buyer("张三").await;
    let mut created = Vec::new();
    for i in 0..9 {
        let merchant = if i % 3 == 0 { &b } else { &a };
        let body = json!({ "title": format!("牛肉 {i}"), "skus": [{ "name": "袋", "price_fen": 100 + i }] });
        let product = app.post("/v1/products", merchant, body).await;
        created.push(product.assert_status(201)["id"].as_i64().unwrap());
    }
    for limit in [1, 2, 4, 9, 10] {
        for token in [&buyer, &app.admin] {
            assert_eq!(
                walk_pages(&app, "/v1/products", token, limit).await,
                created,
                "limit {limit}"
            );
        }
    }
    // Pagination keeps its filter.
    let beef_of_a: Vec<i64> = created
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 3 != 0)
        .map(|(_, id)| *id)
        .collect();
    assert_eq!(walk_pages(&app, "/v1/products?q=牛肉", &a, 2).await, beef_of_a);
    app.shutdown().await;
}

async fn patching_a_product_changes_only_the_given_fields_and_archiving_hides_it_from_buyers(backend: Backend) {
    let app = spawn(backend).await;
    let (_, merchant) = app.shop("川味小铺").await;
    let (_, other) = app.shop("面馆").await;
    let (_, buyer) = app.buyer("张三").await;
    let created = app
        .post(
            "/v1/products",
            &merchant,
            json!({ "title": "牛肉干", "description": "四川特产", "gtin": GTIN, "skus": [{ "name": "袋", "price_fen": 2990 }] }),
        )
        .await;
    let created = created.assert_status(201).clone();
    let id = created["id"].as_i64().unwrap();
    let path = format!("/v1/products/{id}");

    let renamed = app.patch(&path, &merchant, json!({ "title": "  麻辣牛肉干 " })).await;
    let renamed = renamed.assert_status(200).clone();
    assert_eq!(renamed["title"], "麻辣牛肉干");
    for field in ["description", "gtin", "status", "skus", "shop_id", "created_at"] {
        assert_eq!(renamed[field], created[field], "{field} is left as it was");
    }
    let cleared = app.patch(&path, &merchant, json!({ "description": null })).await;
    let cleared = cleared.assert_status(200).clone();
    assert_eq!(
        (&cleared["description"], &cleared["gtin"]),
        (&Value::Null, &json!(GTIN))
    );
    assert_eq!(cleared["title"], "麻辣牛肉干");
    let cleared = app.patch(&path, &merchant, json!({ "gtin": null })).await;
    assert_eq!(cleared.assert_status(200)["gtin"], Value::Null);
    let read = app.get(&path, &merchant).await;
    assert_eq!(read.assert_status(200), cleared.assert_status(200));

    let archived = app.patch(&path, &merchant, json!({ "status": "archived" })).await;
    assert_eq!(archived.assert_status(200)["status"], "archived");
    app.get(&path, &buyer).await.assert_problem(404, "not_found");
    app.get(&path, &other).await.assert_problem(404, "not_found");
    assert_eq!(app.get(&path, &merchant).await.assert_status(200)["status"], "archived");
    assert_eq!(
        app.get(&path, &app.admin).await.assert_status(200)["status"],
        "archived"
    );
    assert_eq!(listed(&app, "/v1/products", &buyer).await, Vec::<i64>::new());
    assert_eq!(listed(&app, "/v1/products", &merchant).await, vec![id]);
    assert_eq!(listed(&app, "/v1/products", &app.admin).await, vec![id]);

    let active = app.patch(&path, &merchant, json!({ "status": "active" })).await;
    assert_eq!(active.assert_status(200)["status"], "active");
    assert_eq!(app.get(&path, &buyer).await.assert_status(200)["title"], "麻辣牛肉干");
    assert_eq!(listed(&app, "/v1/products", &buyer).await, vec![id]);
    app.shutdown().await;
}

async fn an_added_sku_can_be_stocked_and_ordered(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenants(&app).await;
    let a = &t.a;
    let added = app
        .post(
            &format!("/v1/products/{}/skus", a.product),
            &a.merchant,
            json!({ "name": " 家庭装 ", "price_fen": 19990 }),
        )
        .await;
    let sku = added.assert_status(201).clone();
    assert_eq!(
        (&sku["product_id"], &sku["name"], &sku["price_fen"], &sku["status"]),
        (&json!(a.product), &json!("家庭装"), &json!(19990), &json!("active"))
    );
    let id = sku["id"].as_i64().unwrap();
    let product = app.get(&format!("/v1/products/{}", a.product), &a.buyer_token).await;
    assert_eq!(ids(&product.assert_status(200)["skus"]), vec![a.sku, a.sku2, id]);
    app.stock(&a.merchant, id, a.warehouse, 2).await;
    let placed = app.checkout(&a.buyer_token, &[(id, 2)]).await;
    assert_eq!(placed.assert_status(201)["total_fen"], 2 * 19990);
    assert_eq!(app.level(&a.merchant, id, a.warehouse).await, (0, 2, 0));
    app.shutdown().await;
}

async fn a_sku_price_change_leaves_an_already_placed_order_unchanged(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenants(&app).await;
    let a = &t.a;
    let sku_path = format!("/v1/skus/{}", a.sku);
    let before = app.get(&format!("/v1/orders/{}", a.order), &a.buyer_token).await;
    let before = before.assert_status(200).clone();
    assert_eq!(before["lines"][0]["unit_price_fen"], 5990);

    let patched = app.patch(&sku_path, &a.merchant, json!({ "price_fen": 6990 })).await;
    let patched = patched.assert_status(200).clone();
    assert_eq!(
        (&patched["price_fen"], &patched["name"]),
        (&json!(6990), &json!("标准装"))
    );
    let after = app.get(&format!("/v1/orders/{}", a.order), &a.buyer_token).await;
    assert_eq!(after.assert_status(200), &before, "a placed order keeps its prices");
    let placed = app.checkout(&a.buyer_token, &[(a.sku, 2)]).await;
    let order = &placed.assert_status(201)["orders"][0];
    assert_eq!(
        (&order["lines"][0]["unit_price_fen"], &order["total_fen"]),
        (&json!(6990), &json!(13980))
    );

    // A renamed and then archived SKU is hidden from buyers and cannot be ordered.
    let renamed = app.patch(&sku_path, &a.merchant, json!({ "name": "经典装" })).await;
    assert_eq!(renamed.assert_status(200)["price_fen"], 6990);
    let archived = app.patch(&sku_path, &a.merchant, json!({ "status": "archived" })).await;
    assert_eq!(archived.assert_status(200)["status"], "archived");
    let product = app.get(&format!("/v1/products/{}", a.product), &a.buyer_token).await;
    assert_eq!(ids(&product.assert_status(200)["skus"]), vec![a.sku2]);
    let product = app.get(&format!("/v1/products/{}", a.product), &a.merchant).await;
    assert_eq!(product.assert_status(200)["skus"][0]["status"], "archived");
    let refused = app.checkout(&a.buyer_token, &[(a.sku, 1)]).await;
    refused.assert_problem(409, "sku_unavailable");
    assert_eq!(refused.body["field"], "lines[0].sku_id");
    let after = app.get(&format!("/v1/orders/{}", a.order), &a.buyer_token).await;
    assert_eq!(after.assert_status(200), &before);
    app.shutdown().await;
}

async fn stock_is_set_per_warehouse_and_keeps_reserved_units(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenants(&app).await;
    let a = &t.a;
    let second = app.warehouse(&a.merchant, "嘉定仓", "310114000000").await;
    let set = app.stock(&a.merchant, a.sku, second, 4).await;
    assert_eq!(
        set,
        json!({ "sku_id": a.sku, "warehouse_id": second, "available": 4, "reserved": 0, "sold": 0 })
    );
    // The first warehouse has 1 unit reserved by A's order and 1 sold: a stock count keeps them.
    let set = app.stock(&a.merchant, a.sku, a.warehouse, 0).await;
    assert_eq!(
        (&set["available"], &set["reserved"], &set["sold"]),
        (&json!(0), &json!(1), &json!(1))
    );
    let levels = app.get(&format!("/v1/skus/{}/stock", a.sku), &a.merchant).await;
    assert_eq!(
        levels.assert_status(200),
        &json!([
            { "sku_id": a.sku, "warehouse_id": a.warehouse, "available": 0, "reserved": 1, "sold": 1 },
            { "sku_id": a.sku, "warehouse_id": second, "available": 4, "reserved": 0, "sold": 0 },
        ])
    );
    let max = app.stock(&a.merchant, a.sku, second, 1_000_000_000).await;
    assert_eq!(max["available"], 1_000_000_000);
    // A SKU never stocked has no rows.
    let fresh = app.product(&a.merchant, "新品", &[100]).await;
    let levels = app.get(&format!("/v1/skus/{}/stock", fresh[0]), &a.merchant).await;
    assert_eq!(levels.assert_status(200), &json!([]));
    app.shutdown().await;
}

// ---- orders -------------------------------------------------------------------------------

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

// ---- system endpoints ---------------------------------------------------------------------

async fn system_endpoints_answer_without_a_token(backend: Backend) {
    let app = spawn(backend).await;
    let w = app.world().await;
    app.checkout(&w.buyer_token, &[(w.skus[0], 1)]).await.assert_status(201);
    let backend_name = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let health = app.send(app.http.get(app.url("/healthz"))).await;
    assert_eq!(
        health.assert_status(200),
        &json!({ "status": "ok", "backend": backend_name, "shards": 2 })
    );

    let metrics = app.send(app.http.get(app.url("/metrics"))).await;
    assert_eq!(metrics.status, 200);
    assert!(
        metrics.content_type.starts_with("text/plain"),
        "{}",
        metrics.content_type
    );
    assert!(metrics.raw.contains("miaodan_http_requests_total"), "{}", metrics.raw);
    assert!(
        metrics.raw.contains("route=\"/v1/checkouts\""),
        "requests are counted by route: {}",
        metrics.raw
    );
    assert!(
        metrics
            .raw
            .lines()
            .any(|l| l.starts_with("miaodan_orders{") && l.contains("state=\"pending_payment\"")),
        "{}",
        metrics.raw
    );

    let landing = app.send(app.http.get(app.url("/"))).await;
    assert_eq!(landing.status, 200);
    assert!(
        landing.content_type.starts_with("text/html"),
        "{}",
        landing.content_type
    );
    assert!(landing.raw.contains("href=\"/docs/\""), "{}", landing.raw);
    assert!(landing.raw.contains("href=\"/openapi.json\""), "{}", landing.raw);
    assert!(landing.raw.contains(backend_name) && !landing.raw.contains("{{backend}}"));

    for path in ["/docs/", "/docs"] {
        let docs = app.send(app.http.get(app.url(path))).await;
        assert_eq!(docs.status, 200, "{path}");
        assert!(
            docs.content_type.starts_with("text/html"),
            "{path}: {}",
            docs.content_type
        );
        assert!(docs.raw.to_lowercase().contains("<html"), "{path}");
    }
    app.shutdown().await;
}

async fn the_openapi_document_lists_exactly_the_v1_routes_of_the_router(backend: Backend) {
    let app = spawn(backend).await;
    let document = app.send(app.http.get(app.url("/openapi.json"))).await;
    assert_eq!(document.status, 200);
    assert_eq!(document.content_type, "application/json");
    let document = document.body;
    assert!(document["openapi"].as_str().unwrap().starts_with("3."), "{document}");
    assert!(document["paths"]["/healthz"]["get"].is_object());
    assert!(document["components"]["schemas"]["Problem"].is_object());
    assert!(document["components"]["securitySchemes"]["bearer"].is_object());
    // The document the docs page loads is the same one.
    let docs_copy = app.send(app.http.get(app.url("/openapi-docs.json"))).await;
    assert_eq!(docs_copy.body, document);
    // Besides `/v1`, only the system endpoints are documented (not the landing page, the
    // document itself or the docs page, which are checked in `system_endpoints_…`).
    let documented = documented(&app).await;
    let system: BTreeSet<_> = documented
        .operations
        .iter()
        .filter(|(_, path)| !path.starts_with("/v1/"))
        .cloned()
        .collect();
    let expected = [("GET", "/healthz"), ("GET", "/metrics")].map(|(m, p)| (m.to_string(), p.to_string()));
    assert_eq!(system, BTreeSet::from(expected));
    // The server answers every documented operation (with its own refusal of a request
    // without credentials or body, not the router's 404 or 405), and no other method on a
    // documented path.
    let paths: BTreeSet<&String> = documented.operations.iter().map(|(_, path)| path).collect();
    for path in &paths {
        for method in METHODS {
            let call = Call::public(Method::from_bytes(method.as_bytes()).unwrap(), concrete(path));
            let answer = call.send(&app).await;
            if documented.operations.contains(&(method.to_string(), path.to_string())) {
                assert!(
                    !unrouted(&answer),
                    "{method} {path} is documented but not routed: {}",
                    answer.raw
                );
            } else {
                assert_eq!(
                    answer.status, 405,
                    "{method} {path} is answered but not documented: {}",
                    answer.raw
                );
            }
        }
    }
    // Nor is any path routed on the way to a documented one that is not documented itself
    // (a collection `/v1/shipments` beside `/v1/shipments/{shipment_id}`, say).
    for path in &paths {
        let parts: Vec<&str> = path.split('/').collect();
        for end in 2..parts.len() {
            let prefix = parts[..end].join("/");
            if paths.iter().any(|p| **p == prefix) {
                continue;
            }
            for method in METHODS {
                let call = Call::public(Method::from_bytes(method.as_bytes()).unwrap(), concrete(&prefix));
                let answer = call.send(&app).await;
                assert!(
                    answer.status == 404 && unrouted(&answer),
                    "{method} {prefix} is answered but not documented: {}",
                    answer.raw
                );
            }
        }
    }
    app.shutdown().await;
}

/// The coverage of the contract, checked against the served document rather than any list
/// kept by hand: every documented `/v1` operation has a row in `endpoints()` (which drives
/// the malformed-body, unauthenticated, wrong-role, oversized-body and idempotency tests),
/// called as the document says (a token where it declares one, a body where it takes one),
/// and every one that names an object by id is tried on another tenant's object.
async fn the_contract_exercises_every_documented_operation(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenants(&app).await;
    let documented = documented(&app).await;
    let v1: BTreeSet<Operation> = documented
        .operations
        .iter()
        .filter(|(_, path)| path.starts_with("/v1/"))
        .cloned()
        .collect();
    let endpoints = endpoints(&app, &t);
    let covered: BTreeSet<Operation> = endpoints
        .iter()
        .map(|e| (e.call.method.to_string(), e.route.to_string()))
        .collect();
    assert_eq!(covered, v1, "endpoints() and /openapi.json disagree");
    for endpoint in &endpoints {
        let operation = (endpoint.call.method.to_string(), endpoint.route.to_string());
        assert_eq!(
            operation_of(&v1, &endpoint.call),
            Some(operation.clone()),
            "{} is not a request to {operation:?}",
            endpoint.call.label()
        );
        assert_eq!(
            endpoint.auth == Auth::Token,
            documented.with_token.contains(&operation),
            "{operation:?}: the document and the contract disagree on its token"
        );
        if documented.with_body.contains(&operation) {
            assert!(
                endpoint.call.body.is_some(),
                "{operation:?} takes a body; the contract sends none"
            );
        }
    }
    let isolated: BTreeSet<Operation> = tenant_pairs(&t)
        .iter()
        .filter_map(|(foreign, _)| operation_of(&v1, foreign))
        .collect();
    // An id in the path names an object of one tenant, but for the platform's token issuance
    // (the admin's, for any shop or buyer) and a tap (any buyer may buy from any shop's sale).
    let by_id: BTreeSet<Operation> = v1
        .iter()
        .filter(|(_, path)| path.contains('{') && !path.ends_with("/tokens") && !path.ends_with("/taps"))
        .cloned()
        .collect();
    let untried: Vec<_> = by_id.difference(&isolated).collect();
    assert!(untried.is_empty(), "not tried on another tenant's object: {untried:?}");
    app.shutdown().await;
}

async fn unknown_routes_and_wrong_methods_are_problems(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenants(&app).await;
    let not_found = (404, "not_found", None);
    let not_allowed = (405, "method_not_allowed", None);
    let mut cases = vec![
        (Call::get("/v1/nope", &app.admin), not_found),
        (Call::get("/v2/orders", &app.admin), not_found),
        (Call::get("/v1/orders/1/lines", &app.admin), not_found),
        (Call::get("/v1/orders/", &app.admin), not_found),
        (Call::new(Method::POST, "/nope", &app.admin).json(&json!({})), not_found),
        (
            Call::get("/v1/shops", "").authorization(None),
            (401, "unauthorized", None),
        ),
        (Call::new(Method::DELETE, "/v1/shops", &app.admin), not_allowed),
        (Call::new(Method::PUT, "/v1/orders", &app.admin), not_allowed),
        (
            Call::new(Method::DELETE, format!("/v1/orders/{}", t.a.order), &app.admin),
            not_allowed,
        ),
        (
            Call::new(Method::GET, format!("/v1/orders/{}/cancel", t.a.order), &app.admin),
            not_allowed,
        ),
        (
            Call::new(Method::PUT, format!("/v1/products/{}", t.a.product), &t.a.merchant),
            not_allowed,
        ),
        (Call::get("/v1/payment-intents", &t.a.buyer_token), not_allowed),
        (
            Call::new(
                Method::PUT,
                format!("/v1/payment-intents/{}/confirm", t.a.intent),
                &t.a.buyer_token,
            ),
            not_allowed,
        ),
        (
            Call::new(Method::DELETE, "/v1/one-tap-agreements", &t.a.buyer_token),
            not_allowed,
        ),
        (Call::get(WEBHOOK, "").authorization(None), not_allowed),
        (Call::new(Method::POST, "/v1/reconciliation", &app.admin), not_allowed),
        (
            Call::get(format!("/v1/orders/{}/refunds/1", t.a.paid_order), &app.admin),
            not_found,
        ),
        (Call::new(Method::POST, "/healthz", &app.admin), not_allowed),
        (Call::new(Method::POST, "/openapi.json", &app.admin), not_allowed),
        (Call::public(Method::POST, "/v1/delivery-options"), not_allowed),
        (
            Call::new(
                Method::DELETE,
                format!("/v1/warehouses/{}/fulfillment", t.a.warehouse),
                &t.a.merchant,
            ),
            not_allowed,
        ),
        (
            Call::get(format!("/v1/warehouses/{}/shortages", t.a.warehouse), &t.a.merchant),
            not_allowed,
        ),
        (
            Call::new(
                Method::POST,
                format!("/v1/orders/{}/dispatch", t.a.paid_order),
                &app.admin,
            ),
            not_allowed,
        ),
        (
            Call::new(Method::DELETE, format!("/v1/shipments/{}", t.a.shipment), &app.admin),
            not_allowed,
        ),
        (Call::get("/v1/shipments", &app.admin), not_found),
        (Call::public(Method::GET, CARRIER_WEBHOOK), not_allowed),
        (
            Call::new(Method::POST, "/v1/package-center/alerts", &t.a.merchant),
            not_allowed,
        ),
        (
            Call::new(Method::DELETE, "/v1/package-center/sla-rules", &t.a.merchant),
            not_allowed,
        ),
        (Call::get("/v1/package-center", &t.a.merchant), not_found),
    ];
    // Unknown routes need no token.
    cases.push((Call::get("/v1/nope", "").authorization(None), not_found));
    expect_refusals(&app, &t, &cases).await;
    app.shutdown().await;
}

// ---- idempotency --------------------------------------------------------------------------

/// Per endpoint that takes a key: a request, and another request to the same endpoint.
fn keyed_pairs(app: &TestApp, t: &Tenants, keyed: &Keyed) -> Vec<(Call, Call)> {
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
    vec![
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
            put("/v1/package-center/sla-rules".into(), sla_rules(2 * 24 * 3600)),
            put("/v1/package-center/sla-rules".into(), sla_rules(3 * 24 * 3600)),
        ),
    ]
}

/// Three more pending orders of A's buyer (one to cancel, one to pay, one left alone), their
/// checkouts, and the payment intent opened for the one to pay.
struct Keyed {
    orders: [i64; 3],
    checkouts: [i64; 3],
    intent: i64,
}

async fn three_orders(app: &TestApp, t: &Tenants) -> Keyed {
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
        let expected = match first.body["token"].as_str() {
            Some(secret) => first
                .raw
                .replace(secret, miaodan_server::http::platform::REDACTED_SECRET),
            None => first.raw.clone(),
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
            (404, "unknown_warehouse", None),
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
            (422, "unknown_sku", Some("sku_id")),
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
            (404, "unknown_warehouse", None),
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
            (422, "unknown_sku", Some("sku_id")),
        ),
        (
            as_a(
                Method::POST,
                format!("/v1/warehouses/{}/shortages", a.warehouse),
                json!({ "sku_id": a.sku, "missing_units": 100 }),
            ),
            (422, "invalid_shortage", Some("missing_units")),
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
            (422, "invalid_sla_rules", None),
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

/// A retried token issuance replays status and token id but never the secret, which is
/// stored nowhere (not even as an idempotent response).
async fn a_replayed_token_issuance_does_not_reveal_the_secret(backend: Backend) {
    let app = spawn(backend).await;
    let (shop, _) = app.shop("店").await;
    let path = format!("/v1/shops/{shop}/tokens");
    let first = app.post_with_key(&path, &app.admin, "token-1", json!({})).await;
    let secret = first.assert_status(201)["token"].as_str().unwrap().to_string();
    assert!(secret.starts_with("mdn_"));
    let again = app.post_with_key(&path, &app.admin, "token-1", json!({})).await;
    assert!(again.replayed);
    assert_eq!(again.assert_status(201)["token_id"], first.body["token_id"]);
    assert!(!again.raw.contains(&secret), "the secret is not replayed");
    assert!(!again.body["token"].as_str().unwrap().starts_with("mdn_"));
    // The token itself works.
    app.get("/v1/warehouses", &secret).await.assert_status(200);
    app.shutdown().await;
}

// ---- fulfillment and logistics ------------------------------------------------------------

async fn delivery_options_answer_anyone_per_shop_of_the_cart(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenants(&app).await;
    let (a, b) = (&t.a, &t.b);
    let path = delivery_options(&[(a.sku, 2), (b.sku, 1), (a.sku, 1)]);
    let anonymous = Call::public(Method::GET, &path).send(&app).await;
    assert_success(&anonymous, &path);
    let body = &anonymous.body;
    assert_eq!(
        (&body["adcode"], &body["address_name"]),
        (&json!("310101000000"), &json!("黄浦区"))
    );
    // One entry per shop, each with its own items (one SKU listed twice is one item), in no
    // promised order.
    let mut shops: Vec<(i64, Value)> = body["shops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|shop| (shop["shop_id"].as_i64().unwrap(), shop["items"].clone()))
        .collect();
    shops.sort_by_key(|(shop, _)| *shop);
    let expected = vec![
        (a.shop, json!([{ "sku_id": a.sku, "quantity": 3 }])),
        (b.shop, json!([{ "sku_id": b.sku, "quantity": 1 }])),
    ];
    assert_eq!(shops, expected, "{}", anonymous.raw);
    // Every role asks the same question and gets the same shops (the instants may move on).
    for token in [&app.admin, &a.merchant, &b.buyer_token] {
        let answer = Call::get(&path, token).send(&app).await;
        assert_eq!(answer.assert_status(200)["shops"].as_array().unwrap().len(), 2);
    }
    app.shutdown().await;
}

async fn a_carrier_event_is_applied_once_and_a_refused_one_changes_nothing(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenants(&app).await;
    let a = &t.a;
    let event = tracking_event(&a.carrier, &a.waybill, "evt-pickup-1");
    let call = Call::carrier_webhook(&event, Signature::Fresh);
    // Every refusal is about a real parcel, and moves it not.
    expect_refusals(&app, &t, &carrier_webhook_refusals(&call, &app.admin)).await;
    let applied = call.send(&app).await;
    assert_success(&applied, &call.label());
    assert_eq!(applied.body, json!({ "status": "applied" }));
    let shipment = app.get(&format!("/v1/shipments/{}", a.shipment), &a.buyer_token).await;
    let shipment = shipment.assert_status(200).clone();
    assert_eq!(shipment["state"], "picked_up");
    let events: Vec<&Value> = shipment["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["event_id"])
        .collect();
    assert_eq!(events, vec!["evt-pickup-1"]);
    // The same event again (a carrier's retry, freshly signed) is acknowledged, not applied.
    let before = snapshot(&app, &t).await;
    let again = call.send(&app).await;
    assert_eq!(again.assert_status(200), &json!({ "status": "duplicate" }));
    assert!(
        snapshot(&app, &t).await == before,
        "a duplicate event changed something"
    );
    // The waybill number is the carrier's own: another carrier's is another parcel.
    let other_carrier = if a.carrier == "jd" { "zto" } else { "jd" };
    let stranger = Call::carrier_webhook(
        &tracking_event(other_carrier, &a.waybill, "evt-pickup-2"),
        Signature::Fresh,
    );
    let answer = stranger.send(&app).await;
    assert_eq!(answer.assert_status(200), &json!({ "status": "unknown_waybill" }));
    assert!(
        snapshot(&app, &t).await == before,
        "another carrier's event changed something"
    );
    app.shutdown().await;
}

async fn the_alert_stream_is_an_event_stream_for_merchants_only(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenants(&app).await;
    for merchant in [&t.a.merchant, &t.b.merchant] {
        let stream = Call::get(ALERT_STREAM, merchant).send(&app).await;
        assert_eq!(stream.status, 200);
        assert_eq!(stream.content_type, EVENT_STREAM);
    }
    let cases = vec![
        (Call::public(Method::GET, ALERT_STREAM), (401, "unauthorized", None)),
        (
            Call::get(ALERT_STREAM, &flip_last(&t.a.merchant)),
            (401, "unauthorized", None),
        ),
        (Call::get(ALERT_STREAM, &app.admin), (403, "forbidden", None)),
        (Call::get(ALERT_STREAM, &t.a.buyer_token), (403, "forbidden", None)),
    ];
    expect_refusals(&app, &t, &cases).await;
    app.shutdown().await;
}
