//! The live room over real HTTP on both backends: a sale's live view counts every tap's answer,
//! the orders, units, GMV, payments and provinces to the unit and fen; the live streams (a
//! sale's and a shop's minutes) send a new view after a tap within a bounded deadline; another
//! shop's sale is not found, a buyer is refused, bad input is refused.
#![allow(clippy::unwrap_used)]

use crate::common;

use common::{Backend, TestApp, World, eventually};
use serde_json::{Value, json};
use std::time::Duration;

both_backends!(
    the_live_view_counts_taps_orders_units_gmv_and_provinces,
    the_live_streams_send_a_new_view_after_a_tap,
    the_live_view_is_for_the_sales_merchant_and_operators_and_refuses_bad_input,
    the_live_stream_shows_a_top_up_and_an_end_within_a_second,
);

fn rfc3339_in(seconds: i64) -> String {
    let at = jiff::Timestamp::now() + jiff::SignedDuration::from_millis(seconds * 1000);
    at.to_string()
}

/// A running sale of `units` of the world's first SKU at ¥9.90, two per buyer (at most).
async fn schedule(app: &TestApp, w: &World, units: i64) -> i64 {
    let body = json!({
        "sku_id": w.skus[0], "warehouse_id": w.warehouses[0],
        "starts_at": rfc3339_in(-1), "ends_at": rfc3339_in(3600),
        "price_fen": 990, "units": units, "per_buyer_limit": units.min(2),
    });
    let sale = app.post("/v1/flash-sales", &w.merchant, body).await;
    sale.assert_status(201)["id"].as_i64().unwrap()
}

async fn tap(app: &TestApp, buyer: &str, sale: i64, body: Value) -> common::Answer {
    app.post(&format!("/v1/flash-sales/{sale}/taps"), buyer, body).await
}

async fn live(app: &TestApp, token: &str, sale: i64) -> Value {
    app.get(&format!("/v1/flash-sales/{sale}/live"), token)
        .await
        .assert_status(200)
        .clone()
}

async fn the_live_view_counts_taps_orders_units_gmv_and_provinces(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = app.world().await;
    let sale = schedule(&app, &w, 3).await;
    let chengdu = json!({ "quantity": 2, "address": { "adcode": "510116000000", "detail": "天府大道1号" } });
    tap(&app, &w.buyer_token, sale, chengdu).await.assert_status(201);
    let (_, second) = app.buyer("李四").await;
    let (_, third) = app.buyer("王五").await;
    let placed = tap(&app, &second, sale, json!({})).await;
    let paid_order = placed.assert_status(201)["order"]["id"].as_i64().unwrap();
    tap(&app, &third, sale, json!({})).await.assert_problem(409, "sold_out");
    tap(&app, &w.buyer_token, sale, json!({}))
        .await
        .assert_problem(409, "limit_reached");
    app.pay_order(&second, paid_order).await;

    let view = eventually(Duration::from_secs(20), "the live view to count it all", || async {
        let view = live(&app, &w.merchant, sale).await;
        (view["totals"]["taps"] == 4 && view["totals"]["paid_orders"] == 1).then_some(view)
    })
    .await;
    let totals = &view["totals"];
    assert_eq!(
        (
            &totals["ordered"],
            &totals["sold_out"],
            &totals["limit_reached"],
            &totals["refused_other"]
        ),
        (&json!(2), &json!(1), &json!(1), &json!(0))
    );
    assert_eq!(
        (&totals["orders"], &totals["units"], &totals["gmv_fen"]),
        (&json!(2), &json!(3), &json!(2970))
    );
    assert_eq!(
        (&totals["paid_fen"], &totals["paid_share_bps"]),
        (&json!(990), &json!(5_000))
    );
    assert_eq!(view["units_left"], 0);
    assert_eq!(view["sale"]["status"], "sold_out");
    assert!(view["sold_out_at"].is_string(), "{view}");
    assert_eq!(view["unpaid_orders"], 1);
    assert!(view["next_expiry_at"].is_string(), "{view}");
    let countdown = view["next_expiry_in_seconds"].as_i64().unwrap();
    assert!((0..=300).contains(&countdown), "{countdown}");
    assert_eq!(view["taps_per_second"].as_array().unwrap().len(), 10);
    let minutes = view["minutes"].as_array().unwrap();
    let summed: i64 = minutes.iter().map(|m| m["gmv_fen"].as_i64().unwrap()).sum();
    assert_eq!(summed, 2970);
    // One order each; the tie goes to the smaller adcode.
    assert_eq!(
        view["provinces"],
        json!([
            { "adcode": "310000000000", "name": "上海市", "longitude_micro_degrees": 121_473_662,
              "latitude_micro_degrees": 31_230_372, "orders": 1, "units": 1, "gmv_fen": 990 },
            { "adcode": "510000000000", "name": "四川省", "longitude_micro_degrees": 104_075_809,
              "latitude_micro_degrees": 30_651_239, "orders": 1, "units": 2, "gmv_fen": 1980 },
        ])
    );
    // An operator sees the same figures.
    assert_eq!(live(&app, &app.admin, sale).await["totals"], view["totals"]);
    app.shutdown().await;
}

/// An open event stream, read event by event.
struct EventStream {
    response: reqwest::Response,
    buffer: String,
}

impl EventStream {
    async fn open(app: &TestApp, path: &str, token: &str) -> EventStream {
        let response = app.http.get(app.url(path)).bearer_auth(token).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"].to_str().unwrap().to_string();
        assert_eq!(content_type, "text/event-stream");
        EventStream {
            response,
            buffer: String::new(),
        }
    }

    /// The data of the next event named `name` (comments and other events skipped), or
    /// `None` when the stream ended.
    async fn next(&mut self, name: &str) -> Option<Value> {
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let event: String = self.buffer.drain(..end + 2).collect();
                let is_named = event.lines().any(|l| l == format!("event: {name}"));
                let data = event.lines().find_map(|l| l.strip_prefix("data: "));
                if let (true, Some(data)) = (is_named, data) {
                    return Some(serde_json::from_str(data).unwrap());
                }
            }
            let chunk = self.response.chunk().await.unwrap()?;
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// The first event named `name` whose data passes `wanted`, within `within`.
    async fn until(&mut self, name: &str, within: Duration, wanted: impl Fn(&Value) -> bool) -> Value {
        let found = async {
            loop {
                let data = self.next(name).await.expect("the stream ended");
                if wanted(&data) {
                    return data;
                }
            }
        };
        tokio::time::timeout(within, found)
            .await
            .unwrap_or_else(|_| panic!("no wanted `{name}` event within {within:?}"))
    }
}

async fn the_live_streams_send_a_new_view_after_a_tap(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = app.world().await;
    let sale = schedule(&app, &w, 1).await;
    let mut sale_stream = EventStream::open(&app, &format!("/v1/flash-sales/{sale}/live/stream"), &w.merchant).await;
    let mut shop_stream = EventStream::open(&app, "/v1/compass/stream", &w.merchant).await;
    let first = sale_stream.next("live").await.unwrap();
    assert_eq!((&first["totals"]["taps"], &first["units_left"]), (&json!(0), &json!(1)));
    let first_minutes = shop_stream.next("minutes").await.unwrap();
    assert_eq!(first_minutes["minutes"], json!([]));

    tap(&app, &w.buyer_token, sale, json!({})).await.assert_status(201);
    let (_, late) = app.buyer("李四").await;
    tap(&app, &late, sale, json!({})).await.assert_problem(409, "sold_out");

    let within = Duration::from_secs(10);
    let view = sale_stream
        .until("live", within, |v| {
            v["totals"]["taps"] == 2 && v["totals"]["orders"] == 1
        })
        .await;
    assert_eq!(
        (&view["units_left"], &view["totals"]["sold_out"]),
        (&json!(0), &json!(1))
    );
    let minutes = shop_stream
        .until("minutes", within, |v| {
            v["minutes"]
                .as_array()
                .is_some_and(|m| m.iter().any(|m| m["orders"] == 1))
        })
        .await;
    let gmv: i64 = minutes["minutes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["gmv_fen"].as_i64().unwrap())
        .sum();
    assert_eq!(gmv, 990);

    // `once=true` sends the current view and ends.
    let mut once = EventStream::open(
        &app,
        &format!("/v1/flash-sales/{sale}/live/stream?once=true"),
        &app.admin,
    )
    .await;
    assert_eq!(once.next("live").await.unwrap()["totals"]["orders"], 1);
    assert_eq!(once.next("live").await, None);
    let mut once = EventStream::open(&app, "/v1/compass/stream?once=true", &app.admin).await;
    assert!(once.next("minutes").await.is_some());
    assert_eq!(once.next("minutes").await, None);
    app.shutdown().await;
}

async fn the_live_view_is_for_the_sales_merchant_and_operators_and_refuses_bad_input(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = app.world().await;
    let sale = schedule(&app, &w, 2).await;
    let (other_shop, other_merchant) = app.shop("别家小店").await;
    for path in [
        format!("/v1/flash-sales/{sale}/live"),
        format!("/v1/flash-sales/{sale}/live/stream"),
    ] {
        app.get(&path, &other_merchant).await.assert_problem(404, "not_found");
        app.get(&path, &w.buyer_token).await.assert_problem(403, "forbidden");
    }
    let refused = [
        ("/v1/flash-sales/999999/live".to_string(), 404, "not_found"),
        ("/v1/flash-sales/abc/live".to_string(), 400, "invalid_id"),
        ("/v1/flash-sales/0/live/stream".to_string(), 400, "invalid_id"),
        (
            format!("/v1/flash-sales/{sale}/live/stream?once=maybe"),
            422,
            "invalid_field",
        ),
        (
            format!("/v1/flash-sales/{sale}/live/stream?colour=red"),
            400,
            "invalid_query",
        ),
        ("/v1/compass/stream?once=1".to_string(), 422, "invalid_field"),
        ("/v1/compass/stream?shop_id=x".to_string(), 400, "invalid_query"),
        (format!("/v1/compass/stream?shop_id={other_shop}"), 404, "not_found"),
    ];
    for (path, status, code) in refused {
        app.get(&path, &w.merchant).await.assert_problem(status, code);
    }
    app.get("/v1/compass/stream", &w.buyer_token)
        .await
        .assert_problem(403, "forbidden");
    let stream = app
        .get(
            &format!("/v1/compass/stream?shop_id={other_shop}&once=true"),
            &app.admin,
        )
        .await;
    assert_eq!(stream.status, 200);
    app.shutdown().await;
}

async fn the_live_stream_shows_a_top_up_and_an_end_within_a_second(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = app.world().await;
    let sale = schedule(&app, &w, 1).await;
    let mut stream = EventStream::open(&app, &format!("/v1/flash-sales/{sale}/live/stream"), &w.merchant).await;
    let first = stream.next("live").await.unwrap();
    assert_eq!(
        (&first["units_left"], &first["sale"]["status"]),
        (&json!(1), &json!("live"))
    );

    let path = format!("/v1/flash-sales/{sale}/top-up");
    app.post(&path, &w.merchant, json!({ "units": 2 }))
        .await
        .assert_status(200);
    let within = Duration::from_millis(1500);
    let topped = stream.until("live", within, |v| v["units_left"] == 3).await;
    assert_eq!(topped["sale"]["units"], 3);
    assert_eq!(live(&app, &w.merchant, sale).await["units_left"], 3);

    let path = format!("/v1/flash-sales/{sale}/end");
    app.post(&path, &w.merchant, json!({})).await.assert_status(200);
    let ended = stream.until("live", within, |v| v["sale"]["status"] == "ended").await;
    assert_eq!(ended["units_left"], 0);
    app.shutdown().await;
}
