//! Fulfillment and logistics over real HTTP: delivery promises around the same-day cutoff,
//! checkout with a chosen delivery, warehouse settings and capacity, the dispatch explanation,
//! shipments with simulated carrier waybills and signed tracking webhooks (duplicated, swapped,
//! forged), the package center's SLA alerts (listed, streamed live, across a restart), and
//! stock shortages that re-dispatch paid orders.
//!
//! Every scenario spawns its app on a clock of its own, put on a known Shanghai time — on the
//! next working Monday, see [`the_monday`] — before the app starts (a shard's time never runs
//! backwards), and moves only that clock, so scenarios run in parallel. Carriers are simulated
//! in manual mode: a parcel moves only when the scenario says so, at the instants it names on
//! the platform's clock (the simulator would stamp events with the wall clock, which the platform
//! refuses as an hour or more before the shipment).
#![allow(clippy::unwrap_used)]

use crate::common;

use common::{Answer, Backend, CARRIER_WEBHOOK_SECRET, TestApp, World, eventually};
use miaodan_domain::Timestamp;
use miaodan_domain::fulfillment::calendar::Weekday;
use miaodan_domain::fulfillment::{Calendar, LocalDate};
use miaodan_domain::ids::ShipmentId;
use miaodan_server::clock::{self, Clock};
use serde_json::{Value, json};
use simcarrier::{Faults, SimCarrier, TrackingState};
use std::time::Duration;

both_backends!(
    same_day_delivery_is_offered_until_the_11_00_cutoff_and_not_after_it,
    bad_delivery_option_queries_are_refused_and_a_cart_beyond_stock_gets_no_options,
    a_checkout_with_a_delivery_choice_is_sold_with_its_promise_and_its_price,
    a_delivery_choice_that_cannot_be_kept_is_refused_and_nothing_is_placed,
    a_one_hour_promise_is_kept_when_the_buyer_pays_seconds_after_checkout,
    warehouse_settings_round_trip_and_invalid_settings_change_nothing,
    a_warehouse_at_capacity_takes_the_next_order_an_hour_later_and_shows_its_booked_hours,
    dispatch_explains_the_ranked_candidates_and_a_cart_no_warehouse_holds_ships_in_two_parcels,
    shipments_get_carrier_waybills_and_tracking_delivers_the_order,
    duplicated_and_swapped_tracking_webhooks_are_each_applied_once,
    carrier_webhooks_need_a_fresh_signature_and_an_unknown_waybill_is_acknowledged,
    a_parcel_not_picked_up_warns_then_times_out_live_and_its_pickup_resolves_the_alert,
    an_open_alert_survives_a_restart_and_escalates_and_resolves_after_it,
    a_shortage_redispatches_a_paid_order_and_tells_the_merchant,
    the_alert_stream_sends_the_open_alerts_first_then_ready,
    a_quiet_alert_stream_sends_heartbeats_and_ends_when_the_server_stops,
);

/// The longest a scenario waits for something that happens in the background (a webhook, a
/// timer tick).
pub(super) const BACKGROUND_WAIT: Duration = Duration::from_secs(15);
/// A buyer's default address (上海市黄浦区), see `TestApp::buyer`.
const SHANGHAI_BUYER: &str = "310101000000";
const SHANGHAI_JIADING: &str = "310114000000";
const HANGZHOU_YUHANG: &str = "330110000000";
const CHENGDU_PIDU: &str = "510116000000";
pub(super) const MINUTE_MS: i64 = 60_000;

/// The Monday the scenarios happen on: the first working Monday after today's date in
/// Shanghai by the wall clock. The platform clock is only ever moved ahead
/// of the wall clock: the payment provider runs on the wall clock, and declines a request
/// whose deadline (set on the platform's clock) it sees as past (`request_expired`).
fn the_monday() -> LocalDate {
    static MONDAY: std::sync::OnceLock<LocalDate> = std::sync::OnceLock::new();
    *MONDAY.get_or_init(|| {
        let wall_clock = Timestamp::from_unix_ms(wall_clock_s() * 1000);
        let mut date = LocalDate::of(wall_clock).plus_days(1);
        while date.weekday() != Weekday::Monday || !Calendar::official().is_working_day(date) {
            date = date.plus_days(1);
        }
        date
    })
}

/// An instant on the Monday, Shanghai wall-clock time.
pub(super) fn monday(hour: u16, minute: u16) -> Timestamp {
    on(0, hour, minute)
}

/// An instant `days` days after the Monday, Shanghai wall-clock time.
fn on(days: i32, hour: u16, minute: u16) -> Timestamp {
    the_monday().plus_days(days).at_minute(hour * 60 + minute)
}

/// The date `days` days after the Monday, `YYYY-MM-DD`.
fn date(days: i32) -> String {
    the_monday().plus_days(days).to_string()
}

/// Shanghai wall-clock text `YYYY-MM-DD HH:MM`, `days` days after the Monday.
fn local(days: i32, time: &str) -> String {
    format!("{} {time}", date(days))
}

fn utc(at: Timestamp) -> String {
    clock::rfc3339(at)
}

pub(super) fn instant(text: &Value) -> Timestamp {
    clock::parse_rfc3339(text.as_str().unwrap()).unwrap_or_else(|| panic!("not an instant: {text}"))
}

/// The scenario's own platform clock, reading `at` now (to hand to the app it spawns).
pub(super) fn clock_at(at: Timestamp) -> Clock {
    Clock::starting_at(at)
}

// ---- requests -----------------------------------------------------------------------------

/// `GET /v1/delivery-options` as a buyer who has not signed in.
async fn delivery_options(app: &TestApp, adcode: Option<&str>, items: Option<&str>) -> Answer {
    let mut query = Vec::new();
    if let Some(adcode) = adcode {
        query.push(("adcode", adcode));
    }
    if let Some(items) = items {
        query.push(("items", items));
    }
    app.send(app.http.get(app.url("/v1/delivery-options")).query(&query))
        .await
}

/// The option of one (level, carrier) among a shop's, if offered.
fn offered<'a>(shop: &'a Value, level: &str, carrier: &str) -> Option<&'a Value> {
    shop["options"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["level"] == level && o["carrier"] == carrier)
}

fn levels(shop: &Value) -> Vec<String> {
    shop["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| format!("{}/{}", o["level"].as_str().unwrap(), o["carrier"].as_str().unwrap()))
        .collect()
}

async fn checkout_with(app: &TestApp, buyer: &str, lines: &[(i64, i64)], deliveries: Value) -> Answer {
    let lines: Vec<Value> = lines
        .iter()
        .map(|(sku, quantity)| json!({ "sku_id": sku, "quantity": quantity }))
        .collect();
    app.post(
        "/v1/checkouts",
        buyer,
        json!({ "lines": lines, "deliveries": deliveries }),
    )
    .await
}

/// Checks out `lines` and pays for them; the order's id.
pub(super) async fn paid_order(app: &TestApp, buyer: &str, lines: &[(i64, i64)]) -> i64 {
    let placed = app.checkout(buyer, lines).await;
    let body = placed.assert_status(201);
    let order = body["orders"][0]["id"].as_i64().unwrap();
    app.pay_checkout(buyer, body["checkout_id"].as_i64().unwrap()).await;
    order
}

async fn dispatch(app: &TestApp, token: &str, order: i64) -> Value {
    app.get(&format!("/v1/orders/{order}/dispatch"), token)
        .await
        .assert_status(200)
        .clone()
}

async fn fulfillment(app: &TestApp, merchant: &str, warehouse: i64) -> Value {
    app.get(&format!("/v1/warehouses/{warehouse}/fulfillment"), merchant)
        .await
        .assert_status(200)
        .clone()
}

pub(super) async fn ship(app: &TestApp, merchant: &str, order: i64, body: Value) -> Answer {
    app.post(&format!("/v1/orders/{order}/shipments"), merchant, body).await
}

async fn shipment(app: &TestApp, token: &str, id: i64) -> Value {
    app.get(&format!("/v1/shipments/{id}"), token)
        .await
        .assert_status(200)
        .clone()
}

pub(super) async fn alerts(app: &TestApp, merchant: &str, query: &str) -> Vec<Value> {
    app.get(&format!("/v1/package-center/alerts{query}"), merchant)
        .await
        .assert_status(200)["items"]
        .as_array()
        .unwrap()
        .clone()
}

/// The package-center rules of these scenarios: a parcel must be picked up within an hour
/// (a warning at 48 minutes); the other rules are far off.
pub(super) async fn pickup_within_an_hour(app: &TestApp, merchant: &str) {
    let rules = json!({
        "not_picked_up_within_s": 3600,
        "not_departed_within_s": 43_200,
        "stalled_after_s": 86_400,
        "warn_at_percent": 80,
    });
    let saved = app.put("/v1/package-center/sla-rules", merchant, rules.clone()).await;
    assert_eq!(saved.assert_status(200), &rules);
    assert_eq!(
        app.get("/v1/package-center/sla-rules", merchant)
            .await
            .assert_status(200),
        &rules
    );
}

/// Waits until the shop's alerts include `id` at `level`, open or not as asked.
pub(super) async fn alert_reaching(app: &TestApp, merchant: &str, id: &str, level: &str, open: bool) -> Value {
    eventually(
        BACKGROUND_WAIT,
        &format!("alert {id} {level} (open: {open})"),
        || async move {
            alerts(app, merchant, "?state=all")
                .await
                .into_iter()
                .find(|a| a["id"] == id && a["level"] == level && a["open"] == open)
        },
    )
    .await
}

/// Plays a waybill's script state by state, one event every ten seconds of platform time
/// after `from`: each `advance` names the instant of its one event, so the events are
/// stamped on the platform's clock whatever the wall clock says.
pub(super) async fn track(carrier: &SimCarrier, waybill: &str, states: &[TrackingState], from: Timestamp) {
    for (i, state) in states.iter().enumerate() {
        let at_ms = from.unix_ms() + (i as i64 + 1) * 10_000;
        let played = carrier.advance(waybill, *state, at_ms).await.unwrap();
        assert_eq!(played.len(), 1, "advancing {waybill} to {state:?}: {played:?}");
        assert_eq!((played[0].state, played[0].occurred_at_ms), (*state, at_ms));
    }
}

pub(super) const JOURNEY: [TrackingState; 5] = [
    TrackingState::PickedUp,
    TrackingState::Departed,
    TrackingState::InTransit,
    TrackingState::OutForDelivery,
    TrackingState::Delivered,
];

async fn delivered(app: &TestApp, token: &str, shipment_id: i64) -> Value {
    eventually(BACKGROUND_WAIT, "the shipment delivered", || async move {
        let seen = shipment(app, token, shipment_id).await;
        (seen["state"] == "delivered").then_some(seen)
    })
    .await
}

/// Asserts a shipment holds each event of its journey once, in event-time order.
fn assert_journey(seen: &Value, waybill: &str) {
    let events = seen["events"].as_array().unwrap();
    let ids: Vec<&str> = events.iter().map(|e| e["event_id"].as_str().unwrap()).collect();
    let expected: Vec<String> = (1..=5).map(|n| format!("{waybill}-{n}")).collect();
    assert_eq!(ids, expected, "{seen}");
    let states: Vec<&str> = events.iter().map(|e| e["state"].as_str().unwrap()).collect();
    assert_eq!(
        states,
        ["picked_up", "departed", "in_transit", "out_for_delivery", "delivered"]
    );
    let times: Vec<Timestamp> = events.iter().map(|e| instant(&e["occurred_at"])).collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "event-time order: {seen}");
    assert_eq!(seen["picked_up_at"], events[0]["occurred_at"]);
    assert_eq!(seen["delivered_at"], events[4]["occurred_at"]);
}

/// Signs a carrier webhook body with `secret` at wall-clock `unix_s`.
fn carrier_signature(secret: &[u8], unix_s: i64, body: &[u8]) -> String {
    simcarrier::signature::sign(secret, unix_s, body)
}

fn wall_clock_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn carrier_webhook(app: &TestApp, signature: Option<&str>, body: &[u8]) -> Answer {
    let mut request = app
        .http
        .post(app.url("/v1/webhooks/carriers"))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(signature) = signature {
        request = request.header(simcarrier::SIGNATURE_HEADER, signature);
    }
    app.send(request).await
}

/// The package center's live stream of alerts, read as Server-Sent Events.
pub(super) struct AlertStream {
    response: reqwest::Response,
    buffer: Vec<u8>,
}

impl AlertStream {
    pub(super) async fn open(app: &TestApp, merchant: &str) -> AlertStream {
        let response = app
            .http
            .get(app.url("/v1/package-center/alerts/stream"))
            .bearer_auth(merchant)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"].to_str().unwrap();
        assert!(content_type.starts_with("text/event-stream"), "{content_type}");
        AlertStream {
            response,
            buffer: Vec::new(),
        }
    }

    /// The next block of the stream (an event, or a comment line such as a heartbeat) within
    /// `within`; `None` once the stream has ended.
    async fn next_block(&mut self, within: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buffer.drain(..end + 2).collect();
                return Some(String::from_utf8(block).unwrap());
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .unwrap_or_else(|_| panic!("nothing on the stream within {within:?}"))
                .unwrap()?;
            self.buffer.extend_from_slice(&chunk);
        }
    }

    /// The next event's name and data (comments skipped), within `within`.
    async fn next_event(&mut self, within: Duration) -> (String, Value) {
        loop {
            let block = self.next_block(within).await.expect("the alert stream ended");
            let mut event = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(name) = line.strip_prefix("event:") {
                    event = name.trim().to_string();
                } else if let Some(part) = line.strip_prefix("data:") {
                    data.push_str(part.strip_prefix(' ').unwrap_or(part));
                }
            }
            if !event.is_empty() {
                return (event, serde_json::from_str(&data).unwrap_or(Value::Null));
            }
        }
    }

    /// The next `event: alert`'s data, within `within`.
    pub(super) async fn next_alert(&mut self, within: Duration) -> Value {
        loop {
            let (event, data) = self.next_event(within).await;
            if event == "alert" {
                return data;
            }
        }
    }
}

// ---- delivery options -----------------------------------------------------------------------

async fn same_day_delivery_is_offered_until_the_11_00_cutoff_and_not_after_it(backend: Backend) {
    let clock = clock_at(monday(10, 59));
    let app = TestApp::spawn_with_manual_carriers(backend, &clock).await;
    let w = app.world().await;
    let [chengdu, shanghai] = w.warehouses;

    let answer = delivery_options(&app, Some(SHANGHAI_BUYER), Some(&format!("{}:1", w.skus[0]))).await;
    let body = answer.assert_status(200);
    assert_eq!(body["adcode"], SHANGHAI_BUYER);
    assert_eq!(body["shops"].as_array().unwrap().len(), 1, "{body}");
    let shop = &body["shops"][0];
    assert_eq!(shop["shop_id"], w.shop);
    assert_eq!(shop["items"], json!([{ "sku_id": w.skus[0], "quantity": 1 }]));
    // Fastest first: SF-like same-day from the Shanghai warehouse, by 21:00 today, one minute
    // before its 11:00 cutoff.
    let same_day = &shop["options"][0];
    assert_eq!(
        (&same_day["level"], &same_day["carrier"]),
        (&json!("same_day"), &json!("sf")),
        "{shop}"
    );
    assert_eq!(same_day["ships_from_warehouse_id"], shanghai);
    assert_eq!(same_day["parcels"], 1);
    assert_eq!(same_day["ships_on"], date(0));
    assert_eq!(same_day["promised_by_local"], local(0, "21:00"));
    assert_eq!(same_day["promised_by"], utc(monday(21, 0)));
    assert_eq!(same_day["cutoff_at"], utc(monday(11, 0)));
    assert_eq!(same_day["order_within"], "1 min", "{same_day}");
    let within = same_day["order_within_seconds"].as_i64().unwrap();
    assert!((1..=60).contains(&within), "{same_day}");
    assert_eq!(same_day["price_fen"], 1200);
    assert_eq!(
        (&same_day["schedulable"], &same_day["window_dates"]),
        (&json!(false), &json!([]))
    );
    // The JD-like same-day goes at 11:30 and is delivered by 22:00, in a window if booked.
    let jd = offered(shop, "same_day", "jd").unwrap_or_else(|| panic!("{shop}"));
    assert_eq!(jd["promised_by_local"], local(0, "22:00"));
    assert_eq!(jd["price_fen"], 900);
    assert_eq!(jd["schedulable"], true);
    assert_eq!(jd["window_dates"].as_array().unwrap().len(), 8);
    assert_eq!(jd["window_dates"][0], date(0));
    assert_eq!(jd["window_start_hours"], json!([9, 11, 13, 15, 17, 19]));
    // No warehouse has a one-hour cutoff by default.
    assert!(offered(shop, "one_hour", "sf").is_none(), "{shop}");

    // Four units: only Chengdu holds them, and same-day is for the warehouse's own city.
    let far = delivery_options(&app, Some(SHANGHAI_BUYER), Some(&format!("{}:4", w.skus[0]))).await;
    let far = &far.assert_status(200)["shops"][0];
    assert!(!levels(far).iter().any(|l| l.starts_with("same_day")), "{far}");
    let options = far["options"].as_array().unwrap();
    assert!(!options.is_empty(), "{far}");
    assert!(options.iter().all(|o| o["ships_from_warehouse_id"] == chengdu), "{far}");
    app.shutdown().await;

    // Two minutes later, on a fresh platform: the same-day cutoff has passed.
    clock.travel_to(monday(11, 1));
    let app = TestApp::spawn_with_manual_carriers(backend, &clock).await;
    let w = app.world().await;
    let answer = delivery_options(&app, Some(SHANGHAI_BUYER), Some(&format!("{}:1", w.skus[0]))).await;
    let shop = &answer.assert_status(200)["shops"][0];
    assert!(
        !levels(shop).iter().any(|l| l.starts_with("same_day")),
        "same-day after its cutoff: {:?}",
        levels(shop)
    );
    let next_day = &shop["options"][0];
    assert_eq!(
        (&next_day["level"], &next_day["carrier"]),
        (&json!("next_day"), &json!("sf")),
        "{shop}"
    );
    assert_eq!(next_day["ships_from_warehouse_id"], w.warehouses[1]);
    assert_eq!(next_day["ships_on"], date(0));
    assert_eq!(next_day["promised_by_local"], local(1, "18:00"));
    assert_eq!(next_day["cutoff_at"], utc(monday(16, 0)));
    assert_eq!(next_day["order_within"], "4 h 59 min", "{next_day}");
    assert_eq!(next_day["price_fen"], 1800 + 300, "one started 500 km band");
    app.shutdown().await;
}

async fn bad_delivery_option_queries_are_refused_and_a_cart_beyond_stock_gets_no_options(backend: Backend) {
    let clock = clock_at(monday(9, 10));
    let app = TestApp::spawn_with_manual_carriers(backend, &clock).await;
    let w = app.world().await;
    let one = format!("{}:1", w.skus[0]);
    type Case<'a> = (Option<&'a str>, Option<&'a str>, u16, &'a str, &'a str);
    let cases: [Case; 9] = [
        (None, Some(&one), 400, "missing_field", "adcode"),
        (Some("31010"), Some(&one), 422, "invalid_adcode", "adcode"),
        (Some("999999999999"), Some(&one), 404, "unknown_adcode", "adcode"),
        (Some(SHANGHAI_BUYER), None, 400, "missing_field", "items"),
        (Some(SHANGHAI_BUYER), Some(""), 422, "invalid_field", "items"),
        (Some(SHANGHAI_BUYER), Some("apples"), 422, "invalid_field", "items"),
        (
            Some(SHANGHAI_BUYER),
            Some(&format!("{}:0", w.skus[0])),
            422,
            "invalid_field",
            "items",
        ),
        (
            Some(SHANGHAI_BUYER),
            Some(&format!("{}:10001", w.skus[0])),
            422,
            "invalid_field",
            "items",
        ),
        (Some(SHANGHAI_BUYER), Some("987654321:1"), 404, "unknown_sku", "items"),
    ];
    for (adcode, items, status, code, field) in cases {
        let answer = delivery_options(&app, adcode, items).await;
        answer.assert_problem(status, code);
        assert_eq!(answer.body["field"], field, "{adcode:?} {items:?}: {}", answer.raw);
    }
    // A known SKU among unknown ones is still an unknown SKU.
    delivery_options(&app, Some(SHANGHAI_BUYER), Some(&format!("{one},987654321:1")))
        .await
        .assert_problem(404, "unknown_sku");

    // More than every warehouse holds together (5 + 3): nothing can be promised.
    let answer = delivery_options(&app, Some(SHANGHAI_BUYER), Some(&format!("{}:9", w.skus[0]))).await;
    let shop = &answer.assert_status(200)["shops"][0];
    assert_eq!(shop["items"], json!([{ "sku_id": w.skus[0], "quantity": 9 }]));
    assert_eq!(shop["options"], json!([]));
    // Repeated SKUs add up: 4 + 4 is the same cart.
    let answer = delivery_options(&app, Some(SHANGHAI_BUYER), Some(&format!("{0}:4,{0}:4", w.skus[0]))).await;
    let shop = &answer.assert_status(200)["shops"][0];
    assert_eq!(shop["items"], json!([{ "sku_id": w.skus[0], "quantity": 8 }]));
    // Eight units are there only across both warehouses: a split, two parcels, the nearer
    // warehouse first, by the services that reach from both.
    let options = shop["options"].as_array().unwrap();
    assert!(!options.is_empty(), "{shop}");
    for option in options {
        assert_eq!(
            (&option["parcels"], &option["ships_from_warehouse_id"]),
            (&json!(2), &json!(w.warehouses[1])),
            "{option}"
        );
    }
    app.shutdown().await;
}

// ---- checkout with a delivery choice --------------------------------------------------------

async fn a_checkout_with_a_delivery_choice_is_sold_with_its_promise_and_its_price(backend: Backend) {
    let clock = clock_at(monday(10, 0));
    let app = TestApp::spawn_with_manual_carriers(backend, &clock).await;
    let w = app.world().await;
    let shanghai = w.warehouses[1];

    let same_day = json!([{ "shop_id": w.shop, "level": "same_day", "carrier": "sf" }]);
    let placed = checkout_with(&app, &w.buyer_token, &[(w.skus[0], 1)], same_day).await;
    let body = placed.assert_status(201).clone();
    let promise = json!({
        "level": "same_day",
        "carrier": "sf",
        "promised_by": utc(monday(21, 0)),
        "promised_by_local": local(0, "21:00"),
        "window_starts_at": null,
        "price_fen": 1200,
    });
    assert_eq!(body["orders"][0]["promise"], promise);
    assert_eq!(body["orders"][0]["total_fen"], 5990 + 1200);
    assert_eq!(body["total_fen"], 5990 + 1200);
    let order = body["orders"][0]["id"].as_i64().unwrap();
    assert_eq!(app.order(order).await["promise"], promise);

    // Paid, it is dispatched with the promised service from the warehouse that keeps it.
    app.pay_checkout(&w.buyer_token, body["checkout_id"].as_i64().unwrap())
        .await;
    let decision = dispatch(&app, &w.buyer_token, order).await;
    assert_eq!(decision["promise"], promise);
    assert_eq!(decision["promise_kept"], true);
    let parcel = &decision["parcels"][0];
    assert_eq!(
        (
            &parcel["warehouse_id"],
            &parcel["level"],
            &parcel["carrier"],
            &parcel["keeps_promise"]
        ),
        (&json!(shanghai), &json!("same_day"), &json!("sf"), &json!(true))
    );
    assert_eq!(
        parcel["pickup_at"],
        utc(monday(12, 0)),
        "ready 10:30, SF collects at noon"
    );
    assert!(
        decision["reason"].as_str().unwrap().contains("keeps the promise"),
        "{decision}"
    );

    // JD-like next day, delivered in a booked window the day after its earliest arrival.
    let window = json!([{
        "shop_id": w.shop, "level": "next_day", "carrier": "jd",
        "scheduled_window": { "date": date(2), "start_hour": 13 },
    }]);
    let placed = checkout_with(&app, &w.buyer_token, &[(w.skus[1], 1)], window).await;
    let order = &placed.assert_status(201)["orders"][0];
    assert_eq!(
        order["promise"],
        json!({
            "level": "next_day",
            "carrier": "jd",
            "promised_by": utc(on(2, 15, 0)),
            "promised_by_local": local(2, "15:00"),
            "window_starts_at": utc(on(2, 13, 0)),
            "price_fen": 1000 + 200,
        })
    );
    assert_eq!(order["total_fen"], 10990 + 1200);
    app.shutdown().await;
}

/// What a new user did: a front warehouse in the buyer's city with one-hour delivery, a
/// checkout with `{"level":"one_hour"}`, payment two seconds later, then the dispatch
/// explanation and a shipment. The promise (an hour from checkout) is kept: the parcel is
/// ready 30 minutes after payment and the 5 km ride takes 10 more, and the package center
/// raises no promise-at-risk alert, so the buyer is told nothing.
async fn a_one_hour_promise_is_kept_when_the_buyer_pays_seconds_after_checkout(backend: Backend) {
    let clock = clock_at(monday(10, 0));
    let app = TestApp::spawn_with_manual_carriers(backend, &clock).await;
    let w = app.world().await;
    let front = app.warehouse(&w.merchant, "虹口前置仓", "310109000000").await;
    app.stock(&w.merchant, w.skus[0], front, 5).await;
    let settings = json!({
        "shifts": [{ "start": "00:00", "end": "24:00" }],
        "orders_per_hour": 2000,
        "orders_per_day": 40000,
        "cutoffs": [{ "level": "one_hour", "region": "same_city", "time": "22:00" }],
    });
    app.put(&format!("/v1/warehouses/{front}/fulfillment"), &w.merchant, settings)
        .await
        .assert_status(200);

    let one_hour = json!([{ "shop_id": w.shop, "level": "one_hour", "carrier": "sf" }]);
    let placed = checkout_with(&app, &w.buyer_token, &[(w.skus[0], 1)], one_hour).await;
    let body = placed.assert_status(201).clone();
    let order = body["orders"][0]["id"].as_i64().unwrap();
    let promised_by = instant(&body["orders"][0]["promise"]["promised_by"]);
    assert!(
        promised_by >= monday(11, 0) && promised_by < monday(11, 1),
        "an hour from checkout: {body}"
    );
    clock.advance(2_000);
    app.pay_checkout(&w.buyer_token, body["checkout_id"].as_i64().unwrap())
        .await;

    let decision = dispatch(&app, &w.merchant, order).await;
    assert_eq!(decision["promise_kept"], true, "{decision}");
    let parcel = &decision["parcels"][0];
    assert_eq!(
        (
            &parcel["warehouse_id"],
            &parcel["level"],
            &parcel["carrier"],
            &parcel["keeps_promise"]
        ),
        (&json!(front), &json!("one_hour"), &json!("sf"), &json!(true)),
        "{decision}"
    );
    let estimated_by = instant(&parcel["estimated_by"]);
    let pickup_at = instant(&parcel["pickup_at"]);
    assert_eq!(
        estimated_by.unix_ms() - pickup_at.unix_ms(),
        10 * MINUTE_MS,
        "a 5 km ride: {decision}"
    );
    assert!(estimated_by <= promised_by, "{decision}");
    assert!(
        decision["reason"].as_str().unwrap().contains("keeps the promise"),
        "{decision}"
    );

    ship(&app, &w.merchant, order, json!({ "warehouse_id": front }))
        .await
        .assert_status(201);
    let raised = alerts(&app, &w.merchant, "?state=all").await;
    assert!(
        raised
            .iter()
            .all(|a| a["rule"] != "promise_at_risk" && a["notify_buyer"] == false),
        "{raised:?}"
    );
    app.shutdown().await;
}

async fn a_delivery_choice_that_cannot_be_kept_is_refused_and_nothing_is_placed(backend: Backend) {
    let clock = clock_at(monday(10, 0));
    let app = TestApp::spawn_with_manual_carriers(backend, &clock).await;
    let w = app.world().await;
    let (other_shop, _) = app.shop("美妆店").await;
    let stock_before = [
        app.level(&w.merchant, w.skus[0], w.warehouses[0]).await,
        app.level(&w.merchant, w.skus[0], w.warehouses[1]).await,
    ];
    let choice = |level: &str, carrier: &str, window: Value| {
        let mut choice = json!({ "shop_id": w.shop, "level": level, "carrier": carrier });
        if !window.is_null() {
            choice["scheduled_window"] = window;
        }
        json!([choice])
    };
    let window = |date: &str, start_hour: u16| json!({ "date": date, "start_hour": start_hour });
    let cases: Vec<(i64, Value, u16, &str, &str)> = vec![
        // No warehouse of the shop has a one-hour cutoff.
        (
            1,
            choice("one_hour", "sf", Value::Null),
            409,
            "delivery_option_unavailable",
            "deliveries",
        ),
        // Only Chengdu holds four units: same-day cannot reach Shanghai from there.
        (
            4,
            choice("same_day", "sf", Value::Null),
            409,
            "delivery_option_unavailable",
            "deliveries",
        ),
        // SF-like same-day cannot be booked in a window.
        (
            1,
            choice("same_day", "sf", window(&date(0), 19)),
            409,
            "delivery_window_unavailable",
            "deliveries",
        ),
        // JD-like next day arrives by 22:00 on Tuesday: a 19:00–21:00 window that day ends too early…
        (
            1,
            choice("next_day", "jd", window(&date(1), 19)),
            409,
            "delivery_window_unavailable",
            "deliveries",
        ),
        // …10:00 is not a window start…
        (
            1,
            choice("next_day", "jd", window(&date(2), 10)),
            422,
            "invalid_field",
            "deliveries[0].scheduled_window.start_hour",
        ),
        // …and a window more than 7 days after the earliest arrival is too far ahead.
        (
            1,
            choice("next_day", "jd", window(&date(9), 9)),
            409,
            "delivery_window_unavailable",
            "deliveries",
        ),
        (
            1,
            choice("teleport", "sf", Value::Null),
            422,
            "invalid_field",
            "deliveries[0].level",
        ),
        (
            1,
            choice("next_day", "dhl", Value::Null),
            422,
            "invalid_field",
            "deliveries[0].carrier",
        ),
        (
            1,
            choice("next_day", "jd", window("tomorrow", 9)),
            422,
            "invalid_field",
            "deliveries[0].scheduled_window.date",
        ),
        (
            1,
            json!([{ "shop_id": other_shop, "level": "next_day", "carrier": "sf" }]),
            404,
            "unknown_shop",
            "deliveries[0].shop_id",
        ),
    ];
    for (quantity, deliveries, status, code, field) in cases {
        let refused = checkout_with(&app, &w.buyer_token, &[(w.skus[0], quantity)], deliveries.clone()).await;
        refused.assert_problem(status, code);
        assert_eq!(refused.body["field"], field, "{deliveries}: {}", refused.raw);
    }
    // The last day a window can be booked is still fine: Tuesday + 7.
    let furthest = choice("next_day", "jd", window(&date(8), 19));
    let placed = checkout_with(&app, &w.buyer_token, &[(w.skus[1], 1)], furthest).await;
    assert_eq!(
        placed.assert_status(201)["orders"][0]["promise"]["promised_by_local"],
        local(8, "21:00")
    );

    // Nothing of the refused checkouts was placed or reserved.
    let orders = app.get("/v1/orders", &w.buyer_token).await;
    let orders = orders.assert_status(200)["items"].as_array().unwrap().clone();
    assert_eq!(orders.len(), 1, "only the window order: {orders:?}");
    assert_eq!(orders[0]["lines"][0]["sku_id"], w.skus[1]);
    let stock_after = [
        app.level(&w.merchant, w.skus[0], w.warehouses[0]).await,
        app.level(&w.merchant, w.skus[0], w.warehouses[1]).await,
    ];
    assert_eq!(stock_after, stock_before);
    assert_eq!(stock_after, [(5, 0, 0), (3, 0, 0)]);
    app.shutdown().await;
}

// ---- warehouse settings and capacity ------------------------------------------------------

fn standard_settings(orders_per_hour: u32) -> Value {
    json!({
        "shifts": [{ "start": "08:00", "end": "22:00" }],
        "orders_per_hour": orders_per_hour,
        "orders_per_day": 6000,
        "cutoffs": [
            { "level": "same_day", "region": "same_city", "time": "11:00" },
            { "level": "next_day", "region": "any", "time": "16:00" },
            { "level": "standard", "region": "any", "time": "17:00" },
        ],
        "works_holidays": true,
        "carriers": [],
    })
}

/// The settings part of a settings view (without today's load).
fn settings_of(view: &Value) -> Value {
    let mut settings = view.clone();
    let object = settings.as_object_mut().unwrap();
    object.remove("warehouse_id");
    object.remove("today");
    object.remove("booked_today");
    settings
}

async fn warehouse_settings_round_trip_and_invalid_settings_change_nothing(backend: Backend) {
    let clock = clock_at(monday(9, 10));
    let app = TestApp::spawn_with_manual_carriers(backend, &clock).await;
    let w = app.world().await;
    let shanghai = w.warehouses[1];
    let path = format!("/v1/warehouses/{shanghai}/fulfillment");

    // Until the merchant says otherwise: a day shift, 500 orders an hour, three cutoffs.
    let standard = fulfillment(&app, &w.merchant, shanghai).await;
    assert_eq!(standard["warehouse_id"], shanghai);
    assert_eq!(settings_of(&standard), standard_settings(500));
    assert_eq!(standard["booked_today"], 0);
    let today = standard["today"].as_array().unwrap();
    assert_eq!(today.len(), 24);
    assert_eq!(today[0], json!({ "hour": "00:00", "orders": 0, "open": false }));
    let open: Vec<bool> = today.iter().map(|h| h["open"].as_bool().unwrap()).collect();
    assert_eq!(open, (0..24).map(|h| (8..22).contains(&h)).collect::<Vec<_>>());

    let settings = json!({
        "shifts": [{ "start": "07:30", "end": "12:00" }, { "start": "13:00", "end": "24:00" }],
        "orders_per_hour": 40,
        "orders_per_day": 600,
        "cutoffs": [
            { "level": "one_hour", "region": "same_city", "time": "21:00" },
            { "level": "next_day", "region": "same_province", "time": "19:00" },
            { "level": "next_day", "region": "any", "time": "15:30" },
        ],
        "works_holidays": false,
        "carriers": ["sf", "jd"],
    });
    let saved = app.put(&path, &w.merchant, settings.clone()).await;
    let saved = saved.assert_status(200).clone();
    assert_eq!(settings_of(&saved), settings);
    assert_eq!(saved["warehouse_id"], shanghai);
    let hours = saved["today"].as_array().unwrap();
    assert_eq!(
        (hours[7]["open"].as_bool(), hours[12]["open"].as_bool()),
        (Some(true), Some(false))
    );
    assert_eq!(hours[23]["open"], true);
    assert_eq!(fulfillment(&app, &w.merchant, shanghai).await, saved);
    // Leaving the carriers out means every carrier.
    let mut all_carriers = settings.clone();
    all_carriers.as_object_mut().unwrap().remove("carriers");
    let saved = app.put(&path, &w.merchant, all_carriers).await;
    assert_eq!(saved.assert_status(200)["carriers"], json!([]));
    let saved = app.put(&path, &w.merchant, settings.clone()).await;
    let saved = saved.assert_status(200).clone();

    let with = |change: &dyn Fn(&mut Value)| {
        let mut body = settings.clone();
        change(&mut body);
        body
    };
    let cases: Vec<(Value, &str, Option<&str>)> = vec![
        (
            with(&|s| {
                s["shifts"] = json!([{ "start": "08:00", "end": "14:00" }, { "start": "13:00", "end": "20:00" }])
            }),
            "invalid_fulfillment_settings",
            None,
        ),
        (with(&|s| s["shifts"] = json!([])), "invalid_fulfillment_settings", None),
        (
            with(&|s| s["shifts"] = json!([{ "start": "12:00", "end": "08:00" }])),
            "invalid_fulfillment_settings",
            None,
        ),
        (
            with(&|s| s["orders_per_hour"] = json!(0)),
            "invalid_field",
            Some("orders_per_hour"),
        ),
        (
            with(&|s| s["orders_per_day"] = json!(0)),
            "invalid_field",
            Some("orders_per_day"),
        ),
        (
            with(&|s| s["cutoffs"][0] = json!({ "level": "next_day", "region": "any", "time": "10:00" })),
            "invalid_fulfillment_settings",
            None,
        ),
        (
            with(&|s| s["shifts"][0]["end"] = json!("25:00")),
            "invalid_field",
            Some("shifts[0].end"),
        ),
        (
            with(&|s| s["shifts"][1]["start"] = json!("1pm")),
            "invalid_field",
            Some("shifts[1].start"),
        ),
        (
            with(&|s| s["cutoffs"][0]["level"] = json!("warp")),
            "invalid_field",
            Some("cutoffs[0].level"),
        ),
        (
            with(&|s| s["cutoffs"][1]["region"] = json!("moon")),
            "invalid_field",
            Some("cutoffs[1].region"),
        ),
        (
            with(&|s| s["cutoffs"][1]["time"] = json!("7pm")),
            "invalid_field",
            Some("cutoffs[1].time"),
        ),
        (
            with(&|s| s["carriers"] = json!(["dhl"])),
            "invalid_field",
            Some("carriers[0]"),
        ),
        (
            with(&|s| s["carriers"] = json!(["sf", "sf"])),
            "invalid_field",
            Some("carriers[1]"),
        ),
        (
            with(&|s| s["orders_per_hour"] = json!(-1)),
            "invalid_field",
            Some("orders_per_hour"),
        ),
        (
            with(&|s| {
                s.as_object_mut().unwrap().remove("cutoffs");
            }),
            "missing_field",
            Some("cutoffs"),
        ),
    ];
    for (body, code, field) in cases {
        let refused = app.put(&path, &w.merchant, body.clone()).await;
        let status = if code == "missing_field" { 400 } else { 422 };
        refused.assert_problem(status, code);
        if let Some(field) = field {
            assert_eq!(refused.body["field"], field, "{body}: {}", refused.raw);
        }
    }
    assert_eq!(
        fulfillment(&app, &w.merchant, shanghai).await,
        saved,
        "refused settings changed nothing"
    );

    // Another merchant neither reads nor sets them; a buyer is not a merchant.
    let (_, stranger) = app.shop("隔壁店").await;
    app.get(&path, &stranger).await.assert_problem(404, "not_found");
    app.put(&path, &stranger, settings.clone())
        .await
        .assert_problem(404, "unknown_warehouse");
    app.get(&path, &w.buyer_token).await.assert_problem(403, "forbidden");
    app.get("/v1/warehouses/987654321/fulfillment", &w.merchant)
        .await
        .assert_problem(404, "not_found");
    assert_eq!(fulfillment(&app, &w.merchant, shanghai).await, saved);
    app.shutdown().await;
}

async fn a_warehouse_at_capacity_takes_the_next_order_an_hour_later_and_shows_its_booked_hours(backend: Backend) {
    let clock = clock_at(monday(9, 10));
    let app = TestApp::spawn_with_manual_carriers(backend, &clock).await;
    let w = app.world().await;
    let [chengdu, shanghai] = w.warehouses;
    let path = format!("/v1/warehouses/{shanghai}/fulfillment");
    app.put(&path, &w.merchant, standard_settings(1))
        .await
        .assert_status(200);

    let first = paid_order(&app, &w.buyer_token, &[(w.skus[0], 1)]).await;
    let first = dispatch(&app, &w.merchant, first).await;
    assert_eq!(first["parcels"][0]["warehouse_id"], shanghai, "{first}");
    assert_eq!(first["parcels"][0]["slot_hour"], utc(monday(9, 0)));

    // The 09:00 hour is full: the nearest warehouse still wins, an hour later.
    let second = paid_order(&app, &w.buyer_token, &[(w.skus[1], 1)]).await;
    let second = dispatch(&app, &w.merchant, second).await;
    let parcel = &second["parcels"][0];
    assert_eq!(parcel["warehouse_id"], shanghai, "{second}");
    assert_eq!(parcel["slot_hour"], utc(monday(10, 0)));
    let candidate = |id: i64| {
        second["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["warehouse_id"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        (&candidate(shanghai)["rank"], &candidate(shanghai)["headroom"]),
        (&json!(1), &json!(1))
    );
    assert_eq!(candidate(chengdu)["headroom"], 500);

    let load = fulfillment(&app, &w.merchant, shanghai).await;
    assert_eq!(load["booked_today"], 2);
    assert_eq!(load["today"][9], json!({ "hour": "09:00", "orders": 1, "open": true }));
    assert_eq!(load["today"][10], json!({ "hour": "10:00", "orders": 1, "open": true }));
    let booked: i64 = load["today"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["orders"].as_i64().unwrap())
        .sum();
    assert_eq!(booked, 2);
    assert_eq!(fulfillment(&app, &w.merchant, chengdu).await["booked_today"], 0);

    // A third order with the hour at 10:00 full too: 11:00.
    let third = paid_order(&app, &w.buyer_token, &[(w.skus[0], 1)]).await;
    assert_eq!(
        dispatch(&app, &w.merchant, third).await["parcels"][0]["slot_hour"],
        utc(monday(11, 0))
    );
    assert_eq!(fulfillment(&app, &w.merchant, shanghai).await["booked_today"], 3);
    app.shutdown().await;
}

// ---- dispatch -----------------------------------------------------------------------------

/// A shop whose two SKUs are each held by one warehouse only (Shanghai, Hangzhou), with a
/// third, empty warehouse in Chengdu, and a buyer in Shanghai.
struct TwoWarehouseShop {
    shop: i64,
    merchant: String,
    shanghai: i64,
    hangzhou: i64,
    chengdu: i64,
    skus: Vec<i64>,
    buyer: String,
}

async fn two_warehouse_shop(app: &TestApp) -> TwoWarehouseShop {
    let (shop, merchant) = app.shop("两仓小铺").await;
    let shanghai = app.warehouse(&merchant, "上海仓", SHANGHAI_JIADING).await;
    let hangzhou = app.warehouse(&merchant, "杭州仓", HANGZHOU_YUHANG).await;
    let chengdu = app.warehouse(&merchant, "成都仓", CHENGDU_PIDU).await;
    let skus = app.product(&merchant, "龙井茶礼盒", &[1990, 2990]).await;
    app.stock(&merchant, skus[0], shanghai, 10).await;
    app.stock(&merchant, skus[1], hangzhou, 10).await;
    let (_, buyer) = app.buyer("王五").await;
    TwoWarehouseShop {
        shop,
        merchant,
        shanghai,
        hangzhou,
        chengdu,
        skus,
        buyer,
    }
}

async fn dispatch_explains_the_ranked_candidates_and_a_cart_no_warehouse_holds_ships_in_two_parcels(backend: Backend) {
    let clock = clock_at(monday(9, 10));
    let app = TestApp::spawn_with_manual_carriers(backend, &clock).await;
    let w: World = app.world().await;
    let [chengdu, shanghai] = w.warehouses;

    let placed = app.checkout(&w.buyer_token, &[(w.skus[0], 1)]).await;
    let body = placed.assert_status(201).clone();
    let order = body["orders"][0]["id"].as_i64().unwrap();
    let path = format!("/v1/orders/{order}/dispatch");
    app.get(&path, &w.buyer_token).await.assert_problem(404, "not_found");
    // The checkout reserved in the fuller warehouse (Chengdu)…
    assert_eq!(app.level(&w.merchant, w.skus[0], chengdu).await, (4, 1, 0));
    app.pay_checkout(&w.buyer_token, body["checkout_id"].as_i64().unwrap())
        .await;
    // …and payment dispatched it from the nearest one, moving the unit there.
    assert_eq!(app.level(&w.merchant, w.skus[0], chengdu).await, (5, 0, 0));
    assert_eq!(app.level(&w.merchant, w.skus[0], shanghai).await, (2, 0, 1));
    let order_view = app.order(order).await;
    assert_eq!(
        order_view["lines"][0]["allocations"],
        json!([{ "warehouse_id": shanghai, "quantity": 1 }])
    );

    let decision = dispatch(&app, &w.buyer_token, order).await;
    assert_eq!(decision, dispatch(&app, &w.merchant, order).await);
    assert_eq!(decision, dispatch(&app, &app.admin, order).await);
    assert_eq!(decision["order_id"], order);
    assert_eq!(decision["decided_at"], order_view["paid_at"]);
    assert_eq!(
        (&decision["split"], &decision["promise"], &decision["promise_kept"]),
        (&json!(false), &Value::Null, &json!(true))
    );
    assert!(
        decision["rule"].as_str().unwrap().starts_with("keeps the promise"),
        "{decision}"
    );
    let candidates = decision["candidates"].as_array().unwrap();
    assert_eq!(candidates.len(), 2, "{decision}");
    let (near, far) = (&candidates[0], &candidates[1]);
    assert_eq!(
        (&near["warehouse_id"], &near["rank"], &near["chosen"]),
        (&json!(shanghai), &json!(1), &json!(true))
    );
    assert_eq!(
        (&far["warehouse_id"], &far["rank"], &far["chosen"]),
        (&json!(chengdu), &json!(2), &json!(false))
    );
    for candidate in candidates {
        assert_eq!(
            (
                &candidate["holds_every_line"],
                &candidate["has_capacity"],
                &candidate["keeps_promise"]
            ),
            (&json!(true), &json!(true), &json!(true)),
            "{candidate}"
        );
    }
    let (near_km, far_km) = (
        near["distance_km"].as_i64().unwrap(),
        far["distance_km"].as_i64().unwrap(),
    );
    assert!(
        near_km < 80 && far_km > 1_500,
        "Jiading–Huangpu {near_km} km, Pidu–Huangpu {far_km} km"
    );
    assert_eq!(
        decision["reason"],
        format!(
            "warehouse {shanghai} holds every line and can deliver it; it is nearer ({near_km} km) than warehouse {chengdu} ({far_km} km)"
        )
    );
    let parcels = decision["parcels"].as_array().unwrap();
    assert_eq!(parcels.len(), 1);
    assert_eq!(parcels[0]["items"], json!([{ "sku_id": w.skus[0], "quantity": 1 }]));
    assert_eq!(parcels[0]["slot_hour"], utc(monday(9, 0)));
    // Without a promise the cheapest service goes: ZTO-like standard express.
    assert_eq!(
        (&parcels[0]["level"], &parcels[0]["carrier"]),
        (&json!("standard"), &json!("zto"))
    );
    let (_, stranger) = app.buyer("李四").await;
    app.get(&path, &stranger).await.assert_problem(404, "not_found");

    // No warehouse holds both SKUs: one parcel from each, in ranking order.
    let s = two_warehouse_shop(&app).await;
    let order = paid_order(&app, &s.buyer, &[(s.skus[0], 1), (s.skus[1], 2)]).await;
    let decision = dispatch(&app, &s.merchant, order).await;
    assert_eq!(decision["split"], true, "{decision}");
    let parcels = decision["parcels"].as_array().unwrap();
    assert_eq!(parcels.len(), 2, "{decision}");
    assert_eq!(parcels[0]["warehouse_id"], s.shanghai);
    assert_eq!(parcels[0]["items"], json!([{ "sku_id": s.skus[0], "quantity": 1 }]));
    assert_eq!(parcels[1]["warehouse_id"], s.hangzhou);
    assert_eq!(parcels[1]["items"], json!([{ "sku_id": s.skus[1], "quantity": 2 }]));
    let ranked: Vec<(i64, bool)> = decision["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["warehouse_id"].as_i64().unwrap(), c["chosen"].as_bool().unwrap()))
        .collect();
    assert_eq!(ranked, [(s.shanghai, true), (s.hangzhou, true), (s.chengdu, false)]);
    assert!(
        decision["reason"]
            .as_str()
            .unwrap()
            .starts_with("no single warehouse holds every line, so the order is split over"),
        "{decision}"
    );
    assert_eq!(app.level(&s.merchant, s.skus[1], s.hangzhou).await, (8, 0, 2));
    assert_eq!(app.order(order).await["shop_id"], s.shop);
    app.shutdown().await;
}

// ---- shipments and tracking -----------------------------------------------------------------

fn assert_waybill(waybill: &str, carrier: &str) {
    let digits = |s: &str| s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit());
    let shaped = match carrier {
        "sf" => waybill.strip_prefix("SF").is_some_and(digits),
        "jd" => waybill.strip_prefix("JDV").is_some_and(digits),
        "zto" => waybill.starts_with('7') && digits(waybill),
        _ => false,
    };
    assert!(shaped, "{waybill:?} is not a {carrier} waybill");
}

async fn shipments_get_carrier_waybills_and_tracking_delivers_the_order(backend: Backend) {
    let clock = clock_at(monday(9, 10));
    let app = TestApp::spawn_with_manual_carriers(backend, &clock).await;
    let s = two_warehouse_shop(&app).await;
    let placed = app.checkout(&s.buyer, &[(s.skus[0], 1), (s.skus[1], 1)]).await;
    let body = placed.assert_status(201).clone();
    let order = body["orders"][0]["id"].as_i64().unwrap();
    // Not paid, not dispatched: nothing to ship.
    ship(&app, &s.merchant, order, json!({ "warehouse_id": s.shanghai }))
        .await
        .assert_problem(409, "no_parcel_at_warehouse");
    ship(
        &app,
        &s.merchant,
        order,
        json!({ "warehouse_id": s.shanghai, "waybill_no": "SF100000000001" }),
    )
    .await
    .assert_problem(409, "order_not_dispatched");
    app.pay_checkout(&s.buyer, body["checkout_id"].as_i64().unwrap()).await;
    let planned = dispatch(&app, &s.merchant, order).await;
    assert_eq!(planned["parcels"][0]["carrier"], "zto", "{planned}");

    // The planned carrier issues the waybill.
    let first = ship(&app, &s.merchant, order, json!({ "warehouse_id": s.shanghai })).await;
    let first = first.assert_status(201).clone();
    assert_eq!(
        (
            &first["order_id"],
            &first["shop_id"],
            &first["warehouse_id"],
            &first["carrier"],
            &first["state"]
        ),
        (
            &json!(order),
            &json!(s.shop),
            &json!(s.shanghai),
            &json!("zto"),
            &json!("created")
        )
    );
    assert_eq!(first["events"], json!([]));
    assert_eq!(first["planned_pickup_at"], planned["parcels"][0]["pickup_at"]);
    let first_waybill = first["waybill_no"].as_str().unwrap().to_string();
    assert_waybill(&first_waybill, "zto");
    assert_eq!(
        app.order(order).await["state"],
        "paid",
        "one parcel of two is with a carrier"
    );
    ship(&app, &s.merchant, order, json!({ "warehouse_id": s.shanghai }))
        .await
        .assert_problem(409, "shipment_exists");
    ship(&app, &s.merchant, order, json!({ "warehouse_id": s.chengdu }))
        .await
        .assert_problem(409, "no_parcel_at_warehouse");
    ship(
        &app,
        &s.merchant,
        order,
        json!({ "warehouse_id": s.hangzhou, "carrier": "dhl" }),
    )
    .await
    .assert_problem(422, "invalid_field");
    ship(
        &app,
        &s.merchant,
        order,
        json!({ "warehouse_id": s.hangzhou, "waybill_no": "x" }),
    )
    .await
    .assert_problem(422, "invalid_field");
    ship(
        &app,
        &s.merchant,
        order,
        json!({ "warehouse_id": s.hangzhou, "waybill_no": first_waybill, "carrier": "zto" }),
    )
    .await
    .assert_problem(409, "waybill_in_use");
    let (_, stranger) = app.shop("隔壁店").await;
    ship(&app, &stranger, order, json!({ "warehouse_id": s.hangzhou }))
        .await
        .assert_problem(404, "not_found");
    assert_eq!(app.order(order).await["state"], "paid");

    // Another carrier named for the second parcel issues its own kind of waybill; every parcel
    // is now with a carrier.
    let second = ship(
        &app,
        &s.merchant,
        order,
        json!({ "warehouse_id": s.hangzhou, "carrier": "jd" }),
    )
    .await;
    let second = second.assert_status(201).clone();
    assert_eq!(second["carrier"], "jd");
    let second_waybill = second["waybill_no"].as_str().unwrap().to_string();
    assert_waybill(&second_waybill, "jd");
    assert_eq!(app.order(order).await["state"], "shipped");
    let listed = app.get(&format!("/v1/orders/{order}/shipments"), &s.buyer).await;
    let listed: Vec<i64> = listed.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_i64().unwrap())
        .collect();
    assert_eq!(listed.len(), 2);
    assert!(listed.contains(&first["id"].as_i64().unwrap()) && listed.contains(&second["id"].as_i64().unwrap()));

    // The carrier reports the first parcel's journey; the order waits for the second.
    let carrier = app.carrier();
    track(&carrier, &first_waybill, &JOURNEY, instant(&first["created_at"])).await;
    let seen = delivered(&app, &s.buyer, first["id"].as_i64().unwrap()).await;
    assert_journey(&seen, &first_waybill);
    assert_eq!(app.order(order).await["state"], "shipped");
    track(&carrier, &second_waybill, &JOURNEY, instant(&second["created_at"])).await;
    let seen = delivered(&app, &s.merchant, second["id"].as_i64().unwrap()).await;
    assert_journey(&seen, &second_waybill);
    let done = eventually(BACKGROUND_WAIT, "the order delivered", || {
        let app = &app;
        async move {
            let order = app.order(order).await;
            (order["state"] == "delivered").then_some(order)
        }
    })
    .await;
    assert_eq!(done["version"], 4, "placed, paid, shipped, delivered: {done}");
    app.shutdown().await;
}

async fn duplicated_and_swapped_tracking_webhooks_are_each_applied_once(backend: Backend) {
    let clock = clock_at(monday(9, 10));
    let app = TestApp::spawn_with_manual_carriers(backend, &clock).await;
    let w = app.world().await;
    let order = paid_order(&app, &w.buyer_token, &[(w.skus[0], 1)]).await;
    let created = ship(
        &app,
        &w.merchant,
        order,
        json!({ "warehouse_id": w.warehouses[1], "carrier": "sf" }),
    )
    .await;
    let created = created.assert_status(201).clone();
    let waybill = created["waybill_no"].as_str().unwrap().to_string();
    assert_waybill(&waybill, "sf");
    assert_eq!(app.order(order).await["state"], "shipped");

    // Every event is sent twice, and each adjacent pair arrives swapped.
    let carrier = app.carrier();
    carrier.set_faults(Faults {
        duplicate_percent: 100,
        reorder_percent: 100,
        delay_ms_max: 0,
    });
    track(&carrier, &waybill, &JOURNEY, instant(&created["created_at"])).await;
    let stats = eventually(BACKGROUND_WAIT, "every webhook delivered", || {
        let carrier = &carrier;
        async move {
            let stats = carrier.delivery_stats();
            (stats.pending == 0).then_some(stats)
        }
    })
    .await;
    assert_eq!((stats.duplicates_sent, stats.gave_up), (5, 0), "{stats:?}");
    assert!(stats.held >= 2, "{stats:?}");
    assert_eq!(stats.delivered, 10, "{stats:?}");
    let attempts = carrier.delivery_attempts();
    assert!(
        attempts.iter().all(|a| a.acknowledged && a.status == Some(200)),
        "{attempts:?}"
    );
    let arrival: Vec<&str> = attempts
        .iter()
        .filter(|a| a.copy == 1)
        .map(|a| a.event_id.rsplit('-').next().unwrap())
        .collect();
    assert_ne!(arrival, ["1", "2", "3", "4", "5"], "the fault swaps pairs");

    let id = created["id"].as_i64().unwrap();
    let seen = delivered(&app, &w.merchant, id).await;
    assert_journey(&seen, &waybill);
    let stored = app
        .state()
        .store
        .shipment(ShipmentId::new(id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.version, 5, "one version per distinct event");
    assert_eq!(app.order(order).await["state"], "delivered");
    app.shutdown().await;
}

async fn carrier_webhooks_need_a_fresh_signature_and_an_unknown_waybill_is_acknowledged(backend: Backend) {
    let clock = clock_at(monday(9, 10));
    let (carrier, url) = common::serve_carrier_simulator().await;
    let app = TestApp::spawn_with_remote_carrier(backend, &clock, &carrier, &url).await;
    let w = app.world().await;
    let order = paid_order(&app, &w.buyer_token, &[(w.skus[0], 1)]).await;
    let created = ship(&app, &w.merchant, order, json!({ "warehouse_id": w.warehouses[1] })).await;
    let created = created.assert_status(201).clone();
    let waybill = created["waybill_no"].as_str().unwrap().to_string();
    let id = created["id"].as_i64().unwrap();
    let event = |waybill: &str, event_id: &str| {
        serde_json::to_vec(&json!({
            "carrier": "zto",
            "waybill_no": waybill,
            "event_id": event_id,
            "state": "picked_up",
            "occurred_at": utc(clock.now()),
            "location": "上海市",
        }))
        .unwrap()
    };
    let body = event(&waybill, "scan-1");
    let now_s = wall_clock_s();

    let forged = carrier_signature(b"not the secret", now_s, &body);
    carrier_webhook(&app, Some(&forged), &body)
        .await
        .assert_problem(401, "bad_signature");
    carrier_webhook(&app, None, &body)
        .await
        .assert_problem(401, "missing_signature");
    carrier_webhook(&app, Some("sha256=deadbeef"), &body)
        .await
        .assert_problem(401, "malformed_signature");
    let stale = carrier_signature(CARRIER_WEBHOOK_SECRET, now_s - 600, &body);
    carrier_webhook(&app, Some(&stale), &body)
        .await
        .assert_problem(401, "stale_signature");
    let signed = carrier_signature(CARRIER_WEBHOOK_SECRET, now_s, &body);
    let tampered = event(&waybill, "scan-2");
    carrier_webhook(&app, Some(&signed), &tampered)
        .await
        .assert_problem(401, "bad_signature");
    assert_eq!(
        shipment(&app, &w.merchant, id).await["state"],
        "created",
        "nothing forged applied"
    );

    // Authentic: applied once, then a duplicate.
    let applied = carrier_webhook(&app, Some(&signed), &body).await;
    assert_eq!(applied.assert_status(200), &json!({ "status": "applied" }));
    let again = carrier_webhook(&app, Some(&signed), &body).await;
    assert_eq!(again.assert_status(200), &json!({ "status": "duplicate" }));
    let seen = shipment(&app, &w.merchant, id).await;
    assert_eq!(seen["state"], "picked_up");
    assert_eq!(seen["events"].as_array().unwrap().len(), 1);
    assert_eq!(seen["events"][0]["location"], "上海市");

    // An authentic event about a waybill the platform does not know is acknowledged, so the
    // carrier stops sending it.
    let unknown = event("ZTO-NOT-OURS-1", "scan-1");
    let answer = carrier_webhook(
        &app,
        Some(&carrier_signature(CARRIER_WEBHOOK_SECRET, now_s, &unknown)),
        &unknown,
    )
    .await;
    assert_eq!(answer.assert_status(200), &json!({ "status": "unknown_waybill" }));
    // Authentic but not a notification.
    let junk = b"{\"carrier\":\"zto\"}".to_vec();
    carrier_webhook(
        &app,
        Some(&carrier_signature(CARRIER_WEBHOOK_SECRET, now_s, &junk)),
        &junk,
    )
    .await
    .assert_problem(422, "malformed_notification");
    let mut future = json!({
        "carrier": "zto", "waybill_no": waybill, "event_id": "scan-9", "state": "delivered",
        "occurred_at": utc(clock.now().plus_seconds(3600)), "location": null,
    });
    let future_body = serde_json::to_vec(&future).unwrap();
    let answer = carrier_webhook(
        &app,
        Some(&carrier_signature(CARRIER_WEBHOOK_SECRET, now_s, &future_body)),
        &future_body,
    )
    .await;
    assert_eq!(
        answer.assert_status(200),
        &json!({ "status": "refused" }),
        "an event an hour ahead"
    );
    future["state"] = json!("teleported");
    let future_body = serde_json::to_vec(&future).unwrap();
    carrier_webhook(
        &app,
        Some(&carrier_signature(CARRIER_WEBHOOK_SECRET, now_s, &future_body)),
        &future_body,
    )
    .await
    .assert_problem(422, "malformed_notification");
    let after = shipment(&app, &w.merchant, id).await;
    assert_eq!((&after["state"], &after["events"]), (&seen["state"], &seen["events"]));
    app.shutdown().await;
}

// ---- the package center ---------------------------------------------------------------------

async fn a_parcel_not_picked_up_warns_then_times_out_live_and_its_pickup_resolves_the_alert(backend: Backend) {
    let clock = clock_at(monday(9, 10));
    let app = TestApp::spawn_with_manual_carriers(backend, &clock).await;
    let w = app.world().await;
    for bad in [
        json!({ "not_picked_up_within_s": 10, "not_departed_within_s": 43_200, "stalled_after_s": 86_400, "warn_at_percent": 80 }),
        json!({ "not_picked_up_within_s": 3600, "not_departed_within_s": 43_200, "stalled_after_s": 86_400, "warn_at_percent": 100 }),
    ] {
        app.put("/v1/package-center/sla-rules", &w.merchant, bad)
            .await
            .assert_problem(422, "invalid_sla_rules");
    }
    app.put(
        "/v1/package-center/sla-rules",
        &w.merchant,
        json!({ "not_picked_up_within_s": 3600 }),
    )
    .await
    .assert_problem(400, "missing_field");
    pickup_within_an_hour(&app, &w.merchant).await;
    let mut stream = AlertStream::open(&app, &w.merchant).await;

    let order = paid_order(&app, &w.buyer_token, &[(w.skus[0], 1)]).await;
    let created = ship(&app, &w.merchant, order, json!({ "warehouse_id": w.warehouses[1] })).await;
    let created = created.assert_status(201).clone();
    let shipment_id = created["id"].as_i64().unwrap();
    let created_at = instant(&created["created_at"]);
    let alert_id = format!("{shipment_id}-not_picked_up-1");
    assert_eq!(alerts(&app, &w.merchant, "").await, Vec::<Value>::new());

    // 49 minutes on: past 80 % of the hour, a warning.
    clock.advance(49 * MINUTE_MS);
    let warning = alert_reaching(&app, &w.merchant, &alert_id, "warning", true).await;
    assert_eq!(
        (
            &warning["rule"],
            &warning["order_id"],
            &warning["shipment_id"],
            &warning["shop_id"]
        ),
        (
            &json!("not_picked_up"),
            &json!(order),
            &json!(shipment_id),
            &json!(w.shop)
        )
    );
    assert_eq!(warning["deadline"], utc(created_at.plus_seconds(3600)));
    assert_eq!(
        (&warning["escalated_at"], &warning["resolved_at"]),
        (&Value::Null, &Value::Null)
    );
    assert_eq!(warning["notify_buyer"], false);
    assert!(
        instant(&warning["raised_at"]) >= created_at.plus_seconds(48 * 60),
        "{warning}"
    );
    assert_eq!(alerts(&app, &w.merchant, "").await, vec![warning.clone()]);
    assert_eq!(
        alerts(&app, &w.merchant, "?rule=not_picked_up").await,
        vec![warning.clone()]
    );
    assert_eq!(alerts(&app, &w.merchant, "?rule=stalled").await, Vec::<Value>::new());
    let live = stream.next_alert(BACKGROUND_WAIT).await;
    assert_eq!(live, warning, "the stream tells the alert as listed");

    // Past the hour: the same alert times out.
    clock.advance(12 * MINUTE_MS);
    let timed_out = alert_reaching(&app, &w.merchant, &alert_id, "timed_out", true).await;
    assert_eq!(timed_out["raised_at"], warning["raised_at"]);
    assert!(timed_out["escalated_at"].is_string(), "{timed_out}");
    assert_eq!(alerts(&app, &w.merchant, "").await.len(), 1);
    assert_eq!(stream.next_alert(BACKGROUND_WAIT).await, timed_out);

    // The carrier picks it up: resolved, gone from the open list, kept in the history.
    app.carrier()
        .emit(
            created["waybill_no"].as_str().unwrap(),
            TrackingState::PickedUp,
            clock.now().unix_ms(),
        )
        .await
        .unwrap();
    let resolved = alert_reaching(&app, &w.merchant, &alert_id, "timed_out", false).await;
    assert!(resolved["resolved_at"].is_string(), "{resolved}");
    assert_eq!(resolved["escalated_at"], timed_out["escalated_at"]);
    assert_eq!(alerts(&app, &w.merchant, "").await, Vec::<Value>::new());
    assert_eq!(alerts(&app, &w.merchant, "?state=all").await, vec![resolved.clone()]);
    assert_eq!(stream.next_alert(BACKGROUND_WAIT).await, resolved);
    assert_eq!(shipment(&app, &w.merchant, shipment_id).await["state"], "picked_up");

    // Another shop's stream and list see none of it; bad queries are refused.
    let (_, stranger) = app.shop("隔壁店").await;
    assert_eq!(alerts(&app, &stranger, "?state=all").await, Vec::<Value>::new());
    for (query, code) in [
        ("?state=closed", "invalid_field"),
        ("?limit=0", "invalid_field"),
        ("?limit=201", "invalid_field"),
        ("?rule=late", "invalid_field"),
    ] {
        app.get(&format!("/v1/package-center/alerts{query}"), &w.merchant)
            .await
            .assert_problem(422, code);
    }
    drop(stream);
    app.shutdown().await;
}

async fn an_open_alert_survives_a_restart_and_escalates_and_resolves_after_it(backend: Backend) {
    let clock = clock_at(monday(9, 10));
    let (carrier, url) = common::serve_carrier_simulator().await;
    let mut app = TestApp::spawn_with_remote_carrier(backend, &clock, &carrier, &url).await;
    let w = app.world().await;
    pickup_within_an_hour(&app, &w.merchant).await;
    let order = paid_order(&app, &w.buyer_token, &[(w.skus[0], 1)]).await;
    let created = ship(&app, &w.merchant, order, json!({ "warehouse_id": w.warehouses[1] })).await;
    let created = created.assert_status(201).clone();
    let waybill = created["waybill_no"].as_str().unwrap().to_string();
    let alert_id = format!("{}-not_picked_up-1", created["id"]);

    clock.advance(49 * MINUTE_MS);
    let warning = alert_reaching(&app, &w.merchant, &alert_id, "warning", true).await;

    app.restart().await;
    carrier.set_webhook_url(Some(app.url("/v1/webhooks/carriers")));
    assert_eq!(
        alerts(&app, &w.merchant, "").await,
        vec![warning.clone()],
        "still open, as it was"
    );
    // The rules, too, survived.
    assert_eq!(
        app.get("/v1/package-center/sla-rules", &w.merchant)
            .await
            .assert_status(200)["not_picked_up_within_s"],
        3600
    );

    clock.advance(12 * MINUTE_MS);
    let timed_out = alert_reaching(&app, &w.merchant, &alert_id, "timed_out", true).await;
    assert_eq!(timed_out["raised_at"], warning["raised_at"]);
    assert_eq!(
        alerts(&app, &w.merchant, "?state=all").await.len(),
        1,
        "escalated, not raised again"
    );

    carrier
        .emit(&waybill, TrackingState::PickedUp, clock.now().unix_ms())
        .await
        .unwrap();
    let resolved = alert_reaching(&app, &w.merchant, &alert_id, "timed_out", false).await;
    assert!(resolved["resolved_at"].is_string(), "{resolved}");
    assert_eq!(alerts(&app, &w.merchant, "").await, Vec::<Value>::new());
    app.restart().await;
    carrier.set_webhook_url(Some(app.url("/v1/webhooks/carriers")));
    assert_eq!(
        alerts(&app, &w.merchant, "").await,
        Vec::<Value>::new(),
        "resolved for good"
    );
    assert_eq!(alerts(&app, &w.merchant, "?state=all").await, vec![resolved]);
    app.shutdown().await;
}

async fn the_alert_stream_sends_the_open_alerts_first_then_ready(backend: Backend) {
    let clock = clock_at(monday(9, 10));
    let app = TestApp::spawn_with_manual_carriers(backend, &clock).await;
    let w = app.world().await;
    let [chengdu, shanghai] = w.warehouses;
    let sku = w.skus[0];
    paid_order(&app, &w.buyer_token, &[(sku, 1)]).await;
    // Both warehouses come up short: the paid order has nowhere to ship from, an open alert.
    for (warehouse, missing) in [(shanghai, 3), (chengdu, 5)] {
        app.post(
            &format!("/v1/warehouses/{warehouse}/shortages"),
            &w.merchant,
            json!({ "sku_id": sku, "missing_units": missing }),
        )
        .await
        .assert_status(200);
    }
    let open = alerts(&app, &w.merchant, "").await;
    assert_eq!(open.len(), 1, "{open:?}");

    let mut stream = AlertStream::open(&app, &w.merchant).await;
    assert_eq!(
        stream.next_event(BACKGROUND_WAIT).await,
        ("alert".to_string(), open[0].clone()),
        "the current state comes first, as listed"
    );
    assert_eq!(
        stream.next_event(BACKGROUND_WAIT).await,
        ("ready".to_string(), json!({ "open_alerts": 1 }))
    );
    // Another shop's stream starts from its own (empty) state.
    let (_, stranger) = app.shop("隔壁店").await;
    let mut theirs = AlertStream::open(&app, &stranger).await;
    assert_eq!(
        theirs.next_event(BACKGROUND_WAIT).await,
        ("ready".to_string(), json!({ "open_alerts": 0 }))
    );
    drop((stream, theirs));
    app.shutdown().await;
}

async fn a_quiet_alert_stream_sends_heartbeats_and_ends_when_the_server_stops(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.limits.sse_heartbeat = Duration::from_millis(200);
    })
    .await;
    let (_, merchant) = app.shop("安静的店").await;
    let mut stream = AlertStream::open(&app, &merchant).await;
    assert_eq!(stream.next_event(BACKGROUND_WAIT).await.0, "ready");
    for _ in 0..2 {
        let block = stream.next_block(BACKGROUND_WAIT).await.expect("the stream runs");
        assert!(block.starts_with(':') && block.contains("heartbeat"), "{block:?}");
    }
    // Stopping the server ends the stream, so the stop does not wait for the client.
    let stopping = tokio::spawn(app.shutdown());
    while let Some(block) = stream.next_block(BACKGROUND_WAIT).await {
        assert!(block.starts_with(':'), "only heartbeats until the end: {block:?}");
    }
    tokio::time::timeout(BACKGROUND_WAIT, stopping)
        .await
        .expect("the server stopped with a stream open")
        .unwrap();
}

// ---- shortages --------------------------------------------------------------------------------

async fn a_shortage_redispatches_a_paid_order_and_tells_the_merchant(backend: Backend) {
    let clock = clock_at(monday(9, 10));
    let app = TestApp::spawn_with_manual_carriers(backend, &clock).await;
    let w = app.world().await;
    let [chengdu, shanghai] = w.warehouses;
    let sku = w.skus[0];
    let order = paid_order(&app, &w.buyer_token, &[(sku, 1)]).await;
    assert_eq!(
        dispatch(&app, &w.merchant, order).await["parcels"][0]["warehouse_id"],
        shanghai
    );
    assert_eq!(app.level(&w.merchant, sku, shanghai).await, (2, 0, 1));
    let report = |warehouse: i64, missing: i64| {
        let app = &app;
        let merchant = w.merchant.clone();
        async move {
            app.post(
                &format!("/v1/warehouses/{warehouse}/shortages"),
                &merchant,
                json!({ "sku_id": sku, "missing_units": missing }),
            )
            .await
        }
    };
    for (missing, status, code) in [(0, 422, "invalid_field"), (4, 409, "shortage_exceeds_stock")] {
        let refused = report(shanghai, missing).await;
        refused.assert_problem(status, code);
        assert_eq!(refused.body["field"], "missing_units");
    }
    let (_, stranger) = app.shop("隔壁店").await;
    app.post(
        &format!("/v1/warehouses/{shanghai}/shortages"),
        &stranger,
        json!({ "sku_id": sku, "missing_units": 1 }),
    )
    .await
    .assert_problem(404, "unknown_sku");
    assert_eq!(
        app.level(&w.merchant, sku, shanghai).await,
        (2, 0, 1),
        "refused reports change nothing"
    );

    // All three units in Shanghai are gone, the paid one included: it ships from Chengdu.
    let handled = report(shanghai, 3).await;
    assert_eq!(
        handled.assert_status(200),
        &json!({ "redispatched_order_ids": [order], "unfulfillable_order_ids": [] })
    );
    assert_eq!(app.level(&w.merchant, sku, shanghai).await, (0, 0, 0));
    assert_eq!(app.level(&w.merchant, sku, chengdu).await, (4, 0, 1));
    let decision = dispatch(&app, &w.buyer_token, order).await;
    let parcels = decision["parcels"].as_array().unwrap();
    assert_eq!(parcels.len(), 1, "{decision}");
    assert_eq!(parcels[0]["warehouse_id"], chengdu);
    assert_eq!(parcels[0]["items"], json!([{ "sku_id": sku, "quantity": 1 }]));
    assert!(
        decision["reason"].as_str().unwrap().starts_with(&format!(
            "re-dispatched after warehouse {shanghai} came up short of SKU {sku}"
        )),
        "{decision}"
    );
    assert_eq!(
        app.order(order).await["lines"][0]["allocations"],
        json!([{ "warehouse_id": chengdu, "quantity": 1 }])
    );
    // The merchant is told; the notice is settled at once (the parcel found a home).
    let notices = alerts(&app, &w.merchant, "?state=all&rule=stock_shortage").await;
    assert_eq!(notices.len(), 1, "{notices:?}");
    let notice = &notices[0];
    assert_eq!(
        (&notice["rule"], &notice["level"], &notice["open"], &notice["order_id"]),
        (
            &json!("stock_shortage"),
            &json!("warning"),
            &json!(false),
            &json!(order)
        )
    );
    assert!(
        notice["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("re-dispatched to warehouse {chengdu}")),
        "{notice}"
    );
    assert_eq!(alerts(&app, &w.merchant, "").await, Vec::<Value>::new());
    // The parcel now leaves Chengdu: a shipment from Shanghai is refused.
    ship(&app, &w.merchant, order, json!({ "warehouse_id": shanghai }))
        .await
        .assert_problem(409, "no_parcel_at_warehouse");

    // Chengdu comes up short too, and no warehouse holds the SKU any more: restock or refund.
    let handled = report(chengdu, 5).await;
    assert_eq!(
        handled.assert_status(200),
        &json!({ "redispatched_order_ids": [], "unfulfillable_order_ids": [order] })
    );
    let open = alerts(&app, &w.merchant, "").await;
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(
        (&open[0]["rule"], &open[0]["level"], &open[0]["open"]),
        (&json!("stock_shortage"), &json!("timed_out"), &json!(true))
    );
    let decision = dispatch(&app, &w.merchant, order).await;
    assert_eq!(decision["promise_kept"], false);
    assert!(
        decision["reason"].as_str().unwrap().contains("restock or refund"),
        "{decision}"
    );
    app.shutdown().await;
}
