//! What the contract tests share: the servers they spawn, requests exactly as a client sends
//! them, two tenants' worlds, snapshots proving a refusal changed nothing, and the table of
//! every documented operation (each capability contributes its rows, `endpoints()`).

pub use super::access::tenant_pairs;
pub use super::catalog::{catalog_bodies, inventory_bodies};
pub use super::flash_sales::flash_sale_bodies;
pub use super::fulfillment::{fulfillment_bodies, fulfillment_pairs};
pub use super::logistics::{carrier_webhook_refusals, logistics_bodies, logistics_pairs};
pub use super::orders::checkout_bodies;
pub use super::payments::{payment_bodies, webhook_refusals};
pub use super::platform::platform_bodies;
pub use super::tokens::{token_bodies, token_pairs};
pub(crate) use crate::common;
pub use crate::common::{Answer, Backend, TestApp, WALLET};
pub use futures::future::join_all;
pub use miaodan_server::carriers::CarriersConfig;
pub use miaodan_server::http::extract::REQUEST_BODY_BYTES_MAX;
pub use reqwest::Method;
pub use reqwest::header::HeaderValue;
pub use serde_json::{Value, json};
pub use std::collections::BTreeSet;
pub use std::time::Duration;

pub async fn spawn(backend: Backend) -> TestApp {
    let carriers = serve_simcarrier().await;
    TestApp::spawn_with_remote_simpay(backend, |config| {
        config.carriers = carriers;
        config.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await
}

/// The secret the carriers sign their tracking webhooks with.
pub const CARRIER_SECRET: &[u8] = b"whsec_miaodan_carrier_tests";

/// A simcarrier in manual time, served over loopback by the test, that pushes no webhooks:
/// every carrier notification of these tests is one the test signs and sends itself.
pub async fn serve_simcarrier() -> CarriersConfig {
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

/// How a notification to a webhook (the payment provider's, `Simpay-Signature`, or the
/// carriers', `Carrier-Signature`) is signed, when it is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signature {
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
pub struct Call {
    pub method: Method,
    pub path: String,
    pub authorization: Option<HeaderValue>,
    pub content_type: Option<&'static str>,
    pub key: Option<HeaderValue>,
    pub body: Option<Vec<u8>>,
    pub signature: Signature,
    /// A console session's cookie and CSRF token, sent instead of a token.
    pub session: Option<(String, String)>,
}

pub const JSON: Option<&str> = Some("application/json");

impl Call {
    pub fn new(method: Method, path: impl Into<String>, token: &str) -> Call {
        Call {
            method,
            path: path.into(),
            authorization: Some(HeaderValue::from_str(&format!("Bearer {token}")).unwrap()),
            content_type: None,
            key: None,
            body: None,
            signature: Signature::Unsigned,
            session: None,
        }
    }

    /// A request of a console session: its cookie and CSRF token, no `Authorization`.
    pub fn with_session(method: Method, path: impl Into<String>, cookie: &str, csrf: &str) -> Call {
        let mut call = Call::public(method, path);
        call.session = Some((cookie.to_string(), csrf.to_string()));
        call
    }

    /// A notification from the provider: no token, a signature.
    pub fn webhook(body: &Value, signature: Signature) -> Call {
        Call::public(Method::POST, WEBHOOK).json(body).signed(signature)
    }

    /// A tracking event from a carrier: no token, a signature.
    pub fn carrier_webhook(body: &Value, signature: Signature) -> Call {
        Call::public(Method::POST, CARRIER_WEBHOOK).json(body).signed(signature)
    }

    /// A request without an `Authorization` header.
    pub fn public(method: Method, path: impl Into<String>) -> Call {
        Call::new(method, path, "").authorization(None)
    }

    pub fn signed(mut self, signature: Signature) -> Call {
        self.signature = signature;
        self
    }

    pub fn get(path: impl Into<String>, token: &str) -> Call {
        Call::new(Method::GET, path, token)
    }

    pub fn json(self, body: &Value) -> Call {
        self.raw(JSON, serde_json::to_vec(body).unwrap())
    }

    pub fn raw(mut self, content_type: Option<&'static str>, body: impl Into<Vec<u8>>) -> Call {
        self.content_type = content_type;
        self.body = Some(body.into());
        self
    }

    pub fn authorization(mut self, value: Option<HeaderValue>) -> Call {
        self.authorization = value;
        self
    }

    pub fn key(mut self, key: HeaderValue) -> Call {
        self.key = Some(key);
        self
    }

    /// How a failing assertion names this request.
    pub fn label(&self) -> String {
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
    pub fn signature_header(&self, app: &TestApp) -> Option<(&'static str, HeaderValue)> {
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
    pub async fn send(&self, app: &TestApp) -> Answer {
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
        if let Some((cookie, csrf)) = &self.session {
            request = request.header("cookie", cookie).header("x-csrf-token", csrf);
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

pub const EVENT_STREAM: &str = "text/event-stream";

/// The refusal a request must get: status, `code` and `field`.
pub type Refusal = (u16, &'static str, Option<&'static str>);

/// Asserts a well-formed problem+json refusal.
#[track_caller]
pub fn assert_refused(answer: &Answer, (status, code, field): Refusal, case: &str) {
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
    // A detail names the field in words, never in the parser's terms.
    let detail = answer.body["detail"].as_str().unwrap_or_default();
    for internals in [
        "invalid type",
        "expected i64",
        "expected u",
        " at line ",
        "Failed to deserialize",
    ] {
        assert!(
            !detail.contains(internals),
            "{case}: parser internals in {}",
            answer.raw
        );
    }
}

#[track_caller]
pub fn assert_success(answer: &Answer, case: &str) {
    assert!(answer.status.is_success(), "{case}: {} {}", answer.status, answer.raw);
    assert_eq!(answer.content_type, "application/json", "{case}: {}", answer.raw);
}

pub fn ids(items: &Value) -> Vec<i64> {
    items
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {items}"))
        .iter()
        .map(|item| item["id"].as_i64().unwrap())
        .collect()
}

/// The ids of the items of a page at `path`.
pub async fn listed(app: &TestApp, path: &str, token: &str) -> Vec<i64> {
    let page = app.get(path, token).await;
    ids(&page.assert_status(200)["items"])
}

/// One tenant: a shop with its merchant, a warehouse, a product with two stocked SKUs, a live
/// flash sale on the second and a spare one (one unit) on the first, and a buyer with a
/// pending order for one unit of the first, a
/// paid (and so dispatched) order for another unit of it, a paid order for one unit of the
/// second that has been handed to a carrier, and a one-tap agreement.
pub struct Side {
    pub shop: i64,
    pub merchant: String,
    pub warehouse: i64,
    pub product: i64,
    pub sku: i64,
    /// The product's second SKU: 3 units, 2 of them held by the flash sale.
    pub sku2: i64,
    pub sale: i64,
    /// A live sale of one unit of the first SKU, for the live room's controls (topped up, then
    /// ended).
    pub spare_sale: i64,
    pub buyer: i64,
    pub buyer_token: String,
    pub order: i64,
    /// The checkout of `order` (no payment opened).
    pub checkout: i64,
    /// Paid by `intent`, the payment of `paid_checkout`.
    pub paid_order: i64,
    pub paid_checkout: i64,
    pub intent: i64,
    /// Paid, and shipped from `warehouse` as `shipment` with the waybill `waybill`.
    pub shipped_order: i64,
    pub shipment: i64,
    /// The carrier (`sf`, `jd` or `zto`) and waybill number of `shipment`.
    pub carrier: String,
    pub waybill: String,
    /// The buyer's one-tap agreement, with limits of 1 fen (see [`one_tap_agreement`]),
    /// made with the `Idempotency-Key` `agreement_key` (one only this side's buyer used).
    pub agreement: i64,
    pub agreement_key: String,
    /// Paid: 5 units of a ¥600 SKU (over the rules' ceiling, so each unit's refund request
    /// goes to the merchant). Four of its units have requests: `claim_to_approve`,
    /// `claim_to_refuse` (refused, then appealed by the contract) and `claim_to_withdraw` with
    /// the merchant, and `claim_appealed`, refused and appealed, for the platform to decide;
    /// the fifth unit is free for the contract's create. `claim_to_return` is a return of a
    /// sixth unit, on an order of its own that the carrier delivered (goods not received
    /// cannot be sent back), which the merchant approved: it awaits its parcel.
    pub claim_order: i64,
    pub claim_sku: i64,
    pub claim_to_approve: i64,
    pub claim_to_refuse: i64,
    pub claim_to_withdraw: i64,
    pub claim_appealed: i64,
    pub claim_to_return: i64,
    /// The delivered order `claim_to_return` sends a unit of back.
    pub return_order: i64,
    /// The shop's webhook endpoint for orders (to a loopback port no one listens on, so its
    /// deliveries stay pending), a second one the contract deletes, and two of the first one's
    /// deliveries (filled in by [`tenants`]).
    pub webhook_endpoint: i64,
    pub webhook_spare: i64,
    pub webhook_deliveries: [i64; 2],
    /// A diagnosis report of the shop, asked for by its merchant.
    pub report: i64,
    /// A warning issued to the shop (the contract appeals it, then revokes it).
    pub penalty: i64,
    /// The shop's owner (a staff member), its login, and two of its sessions: one the contract
    /// uses (cookie, CSRF token, id), one it revokes (id).
    pub owner: i64,
    pub owner_login: String,
    pub session: (String, String, i64),
    pub spare_session: i64,
    /// A risk challenge of the buyer's on `sale` (the contract's world runs risk off, so it is
    /// opened as a refused tap would open it) and its right answer.
    pub challenge: i64,
    pub challenge_answer: String,
    /// A conversation of the buyer's with the assistant, and one the buyer handed to a person
    /// (the platform's: no order was talked about).
    pub conversation: i64,
    pub handed_conversation: i64,
}

/// Two tenants, A and B, and a buyer without a default address.
pub struct Tenants {
    pub a: Side,
    pub b: Side,
    pub homeless_buyer: String,
    /// The id of a second merchant token of A's shop, used by nothing (the contract revokes it).
    pub spare_token: i64,
    /// The Asia/Shanghai day the tenants were made (and paid) on, `YYYY-MM-DD`.
    pub day: String,
    /// An edge gateway's token (it may send batches of taps, nothing else).
    pub edge: String,
}

pub async fn side(app: &TestApp, shop_name: &str, title: &str, buyer_name: &str) -> Side {
    let (shop, merchant) = app.shop(shop_name).await;
    let webhook_endpoint = super::webhooks::register(app, &merchant).await;
    let webhook_spare = super::webhooks::register(app, &merchant).await;
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
    let spare_sale = app
        .post("/v1/flash-sales", &merchant, flash_sale(sku, warehouse, 1))
        .await;
    let spare_sale = spare_sale.assert_status(201)["id"].as_i64().unwrap();
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
    let agreement_key = format!("agreement-{buyer}");
    let agreement = app
        .post_with_key(
            "/v1/one-tap-agreements",
            &buyer_token,
            &agreement_key,
            one_tap_agreement("sim-one-tap"),
        )
        .await;
    let agreement = agreement.assert_status(201)["id"].as_i64().unwrap();
    let claims = claims(app, &merchant, warehouse, &buyer_token).await;
    let report = app.post("/v1/compass/diagnosis", &merchant, json!({})).await;
    let report = report.assert_status(201)["id"].as_i64().unwrap();
    let penalty = super::penalties::issue_warning(app, shop).await;
    let owner_login = format!("owner-{shop}");
    let owner = app.staff_member(&merchant, Some(shop), &owner_login, "owner").await;
    let session = app.sign_in(&owner_login, common::STAFF_PASSWORD).await;
    let session_id = session.body["session"]["id"].as_i64().unwrap();
    let spare = app.sign_in(&owner_login, common::STAFF_PASSWORD).await;
    let challenge = risk_challenge(app, buyer, sale).await;
    let conversation = app.post("/v1/assistant/conversations", &buyer_token, json!({})).await;
    let conversation = conversation.assert_status(201)["id"].as_i64().unwrap();
    let handed = app.post("/v1/assistant/conversations", &buyer_token, json!({})).await;
    let handed_conversation = handed.assert_status(201)["id"].as_i64().unwrap();
    let asked = format!("/v1/assistant/conversations/{handed_conversation}/messages");
    app.post(&asked, &buyer_token, json!({ "text": "转人工" }))
        .await
        .assert_status(201);
    Side {
        shop,
        merchant,
        warehouse,
        product,
        sku,
        sku2,
        sale,
        spare_sale,
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
        agreement_key,
        claim_order: claims.0,
        claim_sku: claims.1,
        claim_to_approve: claims.2[0],
        claim_to_refuse: claims.2[1],
        claim_to_withdraw: claims.2[2],
        claim_appealed: claims.2[3],
        claim_to_return: claims.2[4],
        return_order: claims.3,
        webhook_endpoint,
        webhook_spare,
        webhook_deliveries: [0, 0],
        report,
        penalty,
        owner,
        owner_login,
        session: (session.cookie, session.csrf, session_id),
        spare_session: spare.body["session"]["id"].as_i64().unwrap(),
        challenge: challenge.0,
        challenge_answer: challenge.1,
        conversation,
        handed_conversation,
    }
}

/// A risk challenge of `buyer` on `sale`, opened as a challenged tap opens one: its id and
/// its right answer (the simulated captcha asks a sum).
async fn risk_challenge(app: &TestApp, buyer: i64, sale: i64) -> (i64, String) {
    use miaodan_server::flows::risk_challenges::offer;
    let buyer = miaodan_domain::BuyerId::new(buyer).unwrap();
    let sale = miaodan_domain::flash_sale::FlashSaleId::new(sale);
    let opened = offer(app.state(), buyer, miaodan_store::ChallengeKind::Tap, sale)
        .await
        .unwrap();
    let sum: u32 = opened
        .prompt_en
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|t| t.parse::<u32>().ok())
        .sum();
    (opened.id, sum.to_string())
}

/// A paid order of 5 units of a ¥600 SKU and four after-sales requests of one unit each, the
/// last refused and appealed, and an approved return of a delivered sixth unit: (order, SKU,
/// requests, the returned unit's order).
async fn claims(app: &TestApp, merchant: &str, warehouse: i64, buyer_token: &str) -> (i64, i64, Vec<i64>, i64) {
    let created = app
        .post(
            "/v1/products",
            merchant,
            json!({ "title": "售后样品", "skus": [{ "name": "大件", "price_fen": 60000 }] }),
        )
        .await;
    let sku = created.assert_status(201)["skus"][0]["id"].as_i64().unwrap();
    app.stock(merchant, sku, warehouse, 6).await;
    let placed = app.checkout(buyer_token, &[(sku, 5)]).await;
    let order = placed.assert_status(201)["orders"][0]["id"].as_i64().unwrap();
    app.pay_checkout(buyer_token, placed.body["checkout_id"].as_i64().unwrap())
        .await;
    let mut requests = Vec::new();
    for _ in 0..4 {
        let opened = app.post("/v1/after-sales", buyer_token, claim(order, sku)).await;
        assert_eq!(opened.assert_status(201)["stage"], "with_merchant", "{}", opened.raw);
        requests.push(opened.id());
    }
    let appealed = requests[3];
    let refused = app
        .post(&format!("/v1/after-sales/{appealed}/refuse"), merchant, json!({}))
        .await;
    refused.assert_status(200);
    let appeal = app
        .post(&format!("/v1/after-sales/{appealed}/appeal"), buyer_token, json!({}))
        .await;
    assert_eq!(appeal.assert_status(200)["stage"], "with_platform");
    let delivered = delivered_order(app, merchant, warehouse, buyer_token, sku).await;
    let mut to_return = claim(delivered, sku);
    to_return["kind"] = "return_and_refund".into();
    let opened = app.post("/v1/after-sales", buyer_token, to_return).await;
    let returned = opened.assert_status(201)["id"].as_i64().unwrap();
    let approved = app
        .post(&format!("/v1/after-sales/{returned}/approve"), merchant, json!({}))
        .await;
    assert_eq!(
        approved.assert_status(200)["stage"],
        "awaiting_return",
        "{}",
        approved.raw
    );
    requests.push(returned);
    (order, sku, requests, delivered)
}

/// A refund-only request for one unit of `sku` of `order`.
/// A paid order of one unit of `sku`, shipped from `warehouse` and delivered: the carrier's
/// signed events (picked up two minutes ago, delivered one minute ago) sent as it would.
async fn delivered_order(app: &TestApp, merchant: &str, warehouse: i64, buyer_token: &str, sku: i64) -> i64 {
    let placed = app.checkout(buyer_token, &[(sku, 1)]).await;
    let order = placed.assert_status(201)["orders"][0]["id"].as_i64().unwrap();
    app.pay_checkout(buyer_token, placed.body["checkout_id"].as_i64().unwrap())
        .await;
    let path = format!("/v1/orders/{order}/shipments");
    let shipment = app.post(&path, merchant, json!({ "warehouse_id": warehouse })).await;
    let shipment = shipment.assert_status(201).clone();
    let (carrier, waybill) = (
        shipment["carrier"].as_str().unwrap(),
        shipment["waybill_no"].as_str().unwrap(),
    );
    for (n, (state, ago)) in [("picked_up", -120), ("delivered", -60)].into_iter().enumerate() {
        let mut event = tracking_event(carrier, waybill, &format!("{waybill}-return-fixture-{n}"));
        event["state"] = state.into();
        event["occurred_at"] = rfc3339_in(ago).into();
        let answer = Call::carrier_webhook(&event, Signature::Fresh).send(app).await;
        assert_eq!(answer.status.as_u16(), 200, "{}", answer.raw);
    }
    common::eventually(Duration::from_secs(20), "the return's order delivered", || async {
        (app.order(order).await["state"] == "delivered").then_some(())
    })
    .await;
    order
}

pub fn claim(order: i64, sku: i64) -> Value {
    json!({ "order_id": order, "kind": "refund_only", "reason": "quality_issue",
            "lines": [{ "sku_id": sku, "quantity": 1 }] })
}

/// A one-tap agreement whose limits (1 fen) no order of these tests is within: a tap never
/// gets paid in the background while a test compares what the API shows.
pub fn one_tap_agreement(credential: &str) -> Value {
    json!({ "credential": credential, "per_order_limit_fen": 1, "per_day_limit_fen": 1 })
}

/// A signed-looking simpay notification of a capture under `reference`.
pub fn notification(event_id: &str, reference: &str) -> Value {
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
pub fn shanghai_today() -> String {
    simpay::calendar::shanghai_day(jiff::Timestamp::now().as_millisecond())
}

/// An RFC 3339 instant `seconds` from now.
pub fn rfc3339_in(seconds: i64) -> String {
    (jiff::Timestamp::now() + jiff::SignedDuration::from_secs(seconds)).to_string()
}

/// A flash sale live for the next hour, one unit per buyer.
pub fn flash_sale(sku: i64, warehouse: i64, units: i64) -> Value {
    json!({
        "sku_id": sku, "warehouse_id": warehouse, "starts_at": rfc3339_in(-1), "ends_at": rfc3339_in(3600),
        "price_fen": 990, "units": units,
    })
}

pub async fn tenants(app: &TestApp) -> Tenants {
    let day = shanghai_today();
    let mut a = side(app, "川味小铺", "麻辣牛肉干", "张三").await;
    let mut b = side(app, "美妆店", "口红", "李四").await;
    for side in [&mut a, &mut b] {
        side.webhook_deliveries = super::webhooks::two_deliveries(app, side).await;
    }
    let homeless = app.post("/v1/buyers", &app.admin, json!({ "name": "无址" })).await;
    let homeless = homeless.assert_status(201)["id"].as_i64().unwrap();
    let token = app
        .post(&format!("/v1/buyers/{homeless}/tokens"), &app.admin, json!({}))
        .await;
    let homeless_buyer = token.assert_status(201)["token"].as_str().unwrap().to_string();
    let spare = app
        .post(
            &format!("/v1/shops/{}/tokens", a.shop),
            &app.admin,
            json!({ "label": "spare" }),
        )
        .await;
    let edge = app
        .post("/v1/edge-tokens", &app.admin, json!({ "label": "edge" }))
        .await;
    Tenants {
        spare_token: spare.assert_status(201)["token_id"].as_i64().unwrap(),
        a,
        b,
        homeless_buyer,
        day,
        edge: edge.assert_status(201)["token"].as_str().unwrap().to_string(),
    }
}

/// Buyer ids probed by [`snapshot`]: more than any test creates.
pub const BUYERS_PROBED: i64 = 12;

/// Everything the read endpoints show, through the admin's and the owners' eyes. Equal
/// snapshots before and after a refused request prove it changed nothing.
pub async fn snapshot(app: &TestApp, t: &Tenants) -> Value {
    let mut reads = vec![
        Call::get("/v1/shops", &app.admin),
        Call::get("/v1/products?limit=200", &app.admin),
        Call::get("/v1/orders?limit=200", &app.admin),
        Call::get("/v1/flash-sales", &app.admin),
        // Not every intent: a tap opens one in the background for a buyer with one-tap pay.
        Call::get("/v1/refunds?limit=200", &app.admin),
    ];
    for side in [&t.a, &t.b] {
        reads.push(Call::get("/v1/warehouses", &side.merchant));
        for sku in [side.sku, side.sku2] {
            reads.push(Call::get(format!("/v1/skus/{sku}/stock"), &side.merchant));
        }
        reads.push(Call::get(format!("/v1/payment-intents/{}", side.intent), &app.admin));
        reads.push(Call::get(format!("/v1/orders/{}/refunds", side.paid_order), &app.admin));
        reads.push(Call::get("/v1/one-tap-agreements", &side.buyer_token));
        reads.push(Call::get(
            format!("/v1/idempotency-keys/{}", side.agreement_key),
            &side.buyer_token,
        ));
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
        reads.push(Call::get("/v1/penalties?limit=200", merchant));
        reads.push(Call::get("/v1/deposit", merchant));
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
pub async fn expect_refusals_in_bulk(app: &TestApp, t: &Tenants, cases: &[(Call, Refusal)]) {
    let before = snapshot(app, t).await;
    for (call, refusal) in cases {
        assert_refused(&call.send(app).await, *refusal, &call.label());
    }
    let labels: Vec<String> = cases.iter().map(|(call, _)| call.label()).collect();
    assert!(
        snapshot(app, t).await == before,
        "one of these refused requests changed what the API shows: {labels:?}"
    );
}

/// Sends each call, checks its refusal, and checks that it changed nothing.
pub async fn expect_refusals(app: &TestApp, t: &Tenants, cases: &[(Call, Refusal)]) {
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Admin,
    Merchant,
    Buyer,
    /// A trusted edge gateway: the batch of taps only.
    Edge,
}

pub const ROLES: [Role; 4] = [Role::Admin, Role::Merchant, Role::Buyer, Role::Edge];

/// How an endpoint knows its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auth {
    /// An API token (`Authorization: Bearer …`).
    Token,
    /// A signature over the body: the providers' webhooks.
    Signature,
    /// Nothing: anyone may ask.
    Public,
    /// A console session's cookie (`miaodan_session`), with its CSRF token.
    Session,
}

/// One route of the router, with a concrete request to it that its role may make.
pub struct Endpoint {
    pub route: &'static str,
    pub call: Call,
    /// `None`: every role may call it (and sees only its own objects).
    pub role: Option<Role>,
    pub auth: Auth,
}

impl Endpoint {
    /// Asserts the answer of a request this endpoint's role may make.
    #[track_caller]
    pub fn assert_answered(&self, answer: &Answer) {
        if STREAMS.contains(&self.route) {
            let case = self.call.label();
            assert_eq!(answer.status, 200, "{case}");
            assert_eq!(answer.content_type, EVENT_STREAM, "{case}");
        } else {
            assert_success(answer, &self.call.label());
        }
    }
}

pub const WEBHOOK: &str = "/v1/webhooks/simpay";
pub const CARRIER_WEBHOOK: &str = "/v1/webhooks/carriers";
pub const REFUNDS: &str = "/v1/orders/{order_id}/refunds";
pub const ALERT_STREAM: &str = "/v1/package-center/alerts/stream";
/// The operations that answer an event stream.
pub const STREAMS: [&str; 3] = [
    ALERT_STREAM,
    "/v1/compass/stream",
    "/v1/flash-sales/{flash_sale_id}/live/stream",
];

pub fn token_of(app: &TestApp, t: &Tenants, role: Role) -> String {
    match role {
        Role::Admin => app.admin.clone(),
        Role::Merchant => t.a.merchant.clone(),
        Role::Buyer => t.a.buyer_token.clone(),
        Role::Edge => t.edge.clone(),
    }
}

/// Every documented `/v1` operation, by capability, with a request that
/// succeeds when made by its role (in this order, on a fresh [`Tenants`]).
pub fn endpoints(app: &TestApp, t: &Tenants) -> Vec<Endpoint> {
    [
        super::platform::endpoints(app, t),
        super::catalog::endpoints(app, t),
        super::orders::endpoints(app, t),
        super::payments::endpoints(app, t),
        super::flash_sales::endpoints(app, t),
        super::fulfillment::endpoints(app, t),
        super::logistics::endpoints(app, t),
        super::after_sales::endpoints(app, t),
        super::events::endpoints(app, t),
        super::webhooks::endpoints(app, t),
        super::idempotency::stored_answer_endpoints(t),
        super::tokens::endpoints(app, t),
        super::staff::endpoints(app, t),
        super::penalties::endpoints(app, t),
        super::assistant::endpoints(app, t),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Makes the row of an endpoint called with a token: its role's, or the admin's when every
/// role may call it.
pub fn endpoint_with<'a>(
    app: &'a TestApp,
    t: &'a Tenants,
) -> impl Fn(&'static str, Method, String, Option<Value>, Option<Role>) -> Endpoint + 'a {
    move |route, method, path, body, role| {
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
    }
}

/// The delivery options of a cart of (SKU, units) to 上海市黄浦区.
pub fn delivery_options(items: &[(i64, i64)]) -> String {
    let items: Vec<String> = items.iter().map(|(sku, units)| format!("{sku}:{units}")).collect();
    format!("/v1/delivery-options?adcode=310101000000&items={}", items.join(","))
}

/// How a warehouse works unless told otherwise: a day shift, 500 orders an hour and 6 000 a
/// day, same-day delivery in its city for orders paid by 11:00, next-day and standard
/// delivery anywhere, every carrier.
pub fn fulfillment_settings() -> Value {
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
pub fn sla_rules(seconds: i64) -> Value {
    json!({
        "not_picked_up_within_s": seconds,
        "not_departed_within_s": seconds,
        "stalled_after_s": seconds,
        "warn_at_percent": 80,
    })
}

/// A carrier's tracking event for a waybill: picked up a minute ago in 上海市.
pub fn tracking_event(carrier: &str, waybill: &str, event_id: &str) -> Value {
    json!({
        "carrier": carrier,
        "waybill_no": waybill,
        "event_id": event_id,
        "state": "picked_up",
        "occurred_at": rfc3339_in(-60),
        "location": "上海市",
    })
}

pub fn mutating(endpoints: Vec<Endpoint>) -> Vec<Endpoint> {
    endpoints.into_iter().filter(|e| e.call.method != Method::GET).collect()
}

/// Whether an endpoint takes an `Idempotency-Key`: every mutating one but the providers'
/// webhooks (a notification is deduplicated by its event id) and the revocations, of a one-tap
/// agreement or a token (revoking a revoked one answers it as it is).
pub fn takes_idempotency_key(endpoint: &Endpoint) -> bool {
    endpoint.auth == Auth::Token && endpoint.call.method != Method::GET && endpoint.call.method != Method::DELETE
}

/// The refusals every JSON body endpoint gives to a body that is not its JSON object.
pub fn malformed_bodies(call: &Call, valid: &Value, body_optional: bool) -> Vec<(Call, Refusal)> {
    let with = |content_type: Option<&'static str>, body: &[u8]| call.clone().raw(content_type, body.to_vec());
    let valid_bytes = serde_json::to_vec(valid).unwrap();
    let concat = |tail: &[u8]| [valid_bytes.as_slice(), tail].concat();
    let mut unknown = valid.clone();
    unknown["bogus"] = json!(1);
    let malformed = (400, "malformed_json", None);
    let not_an_object = (400, "wrong_type", None);
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
        // serde alone would read a struct from an array of its fields in order (found by fuzzing).
        (with(JSON, b"[null]"), not_an_object),
        (with(JSON, b"[\"x\", 1]"), not_an_object),
        (with(JSON, b"\"text\""), not_an_object),
        (with(JSON, b"42"), not_an_object),
        (call.clone().json(&unknown), (400, "unknown_field", Some("bogus"))),
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

pub fn invalid(field: &'static str) -> Refusal {
    (422, "invalid_field", Some(field))
}

/// A value of the wrong JSON type (400): a string for a number, a fraction for an integer, …
pub fn wrong_type(field: &'static str) -> Refusal {
    (400, "wrong_type", Some(field))
}

pub fn missing(field: &'static str) -> Refusal {
    (400, "missing_field", Some(field))
}

pub fn unknown(field: &'static str) -> Refusal {
    (400, "unknown_field", Some(field))
}

/// A 422 with its own code.
pub fn refused(code: &'static str, field: &'static str) -> Refusal {
    (422, code, Some(field))
}

/// Text of `n` characters (of three bytes each).
pub fn chars(n: usize) -> String {
    "字".repeat(n)
}

/// Each body sent as `template`'s body, with the refusal it must get.
pub fn bodies(template: Call, rows: Vec<(Value, Refusal)>) -> Vec<(Call, Refusal)> {
    rows.into_iter()
        .map(|(body, refusal)| (template.clone().json(&body), refusal))
        .collect()
}

/// Refusals of bodies that are JSON objects but wrong in one field, per endpoint.
pub fn wrong_fields(app: &TestApp, t: &Tenants) -> Vec<(Call, Refusal)> {
    [
        platform_bodies(app, t),
        catalog_bodies(t),
        inventory_bodies(t),
        checkout_bodies(t),
        flash_sale_bodies(t),
        payment_bodies(t),
        fulfillment_bodies(t),
        logistics_bodies(t),
        token_bodies(app, t),
    ]
    .concat()
}

/// The refusals of a webhook for the signature of a notification (`valid`, signed fresh),
/// which is checked before anything else: a token is no signature, and a signature is one
/// over the raw body, made with the shared secret within 5 minutes of now.
pub fn signature_refusals(valid: &Call, admin: &str) -> Vec<(Call, Refusal)> {
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
pub fn unreadable_bodies(valid: &Call) -> Vec<(Call, Refusal)> {
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

pub fn flip_last(token: &str) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    let last = chars.last_mut().unwrap();
    *last = if *last == 'a' { 'b' } else { 'a' };
    chars.into_iter().collect()
}

/// Walks every page of a listing; returns the ids in order and checks each page's size.
pub async fn walk_pages(app: &TestApp, path: &str, token: &str, limit: usize) -> Vec<i64> {
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
