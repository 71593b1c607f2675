//! Diagnosis reports over HTTP on both backends: a week constructed in the compass's
//! aggregates makes the findings it should, with the figures placed; the daily job writes each
//! shop's report once across restarts; the printable page in both languages; another shop's
//! report is not found, a buyer is refused, bad input changes nothing.

use super::common;
use common::{Backend, TestApp, eventually};
use miaodan_domain::time::shanghai::LocalDate;
use miaodan_domain::{ShopId, Timestamp};
use miaodan_server::clock::Clock;
use miaodan_store::CompassFigures;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

both_backends!(
    a_constructed_week_makes_findings_with_the_figures_placed,
    the_daily_job_writes_each_shops_report_once_across_restarts,
    the_page_reads_in_both_languages,
    reports_stay_with_their_shop_and_bad_input_is_refused,
    findings_name_provinces_and_skus_from_the_compass_breadth,
);

/// 2026-12-01 12:00 in Shanghai: "the last 7 days" are 11-24 to 11-30, compared with 11-17 to 11-23.
fn noon() -> Timestamp {
    LocalDate::from_ymd(2026, 12, 1).unwrap().at_minute(12 * 60)
}

fn day(d: u32) -> LocalDate {
    LocalDate::from_ymd(2026, 11, d).unwrap()
}

/// Places figures in the compass's aggregates as the reader would have folded them, at 10:00
/// of `on`. Shard `u32::MAX` is no server's, so the reader's own cursors stay where they are.
async fn place(app: &TestApp, shop: i64, on: LocalDate, figures: CompassFigures) {
    let minute = on.at_minute(10 * 60).unix_ms();
    let minutes = BTreeMap::from([((ShopId::new(shop).unwrap(), minute), figures)]);
    app.state().store.record_compass(u32::MAX, 0, &minutes).await.unwrap();
}

fn week(orders: i64, paid_orders: i64, expired_orders: i64, refunds: i64) -> CompassFigures {
    CompassFigures {
        orders,
        units: orders,
        gmv_fen: orders * 1_000,
        paid_orders,
        paid_fen: paid_orders * 1_000,
        expired_orders,
        refunds,
        refunded_fen: refunds * 1_000,
        ..CompassFigures::default()
    }
}

/// A beauty shop whose conversion fell from 90 % to 60 % while orders held, whose unpaid
/// expiries rose from 2 % to 10 % and whose refunds are 15 % of paid orders; and three beauty
/// peers steady at 2 % refunds. Answers the shop and its merchant's token.
async fn constructed_week(app: &TestApp) -> (i64, String) {
    let (shop, merchant) = app.shop("安安美妆").await;
    let patched = app
        .patch(&format!("/v1/shops/{shop}"), &merchant, json!({ "category": "beauty" }))
        .await;
    assert_eq!(patched.assert_status(200)["category"], "beauty");
    place(app, shop, day(18), week(100, 90, 2, 2)).await;
    place(app, shop, day(25), week(100, 60, 10, 9)).await;
    for name in ["美妆一", "美妆二", "美妆三"] {
        let peer = app
            .post("/v1/shops", &app.admin, json!({ "name": name, "category": "beauty" }))
            .await;
        let peer = peer.assert_status(201)["id"].as_i64().unwrap();
        place(app, peer, day(18), week(400, 360, 8, 8)).await;
        place(app, peer, day(25), week(400, 360, 8, 8)).await;
    }
    (shop, merchant)
}

fn finding<'a>(report: &'a Value, rule: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == rule)
        .unwrap_or_else(|| panic!("no {rule} in {report:#}"))
}

fn figure(finding: &Value, name: &str) -> i64 {
    let figures = finding["figures"].as_array().unwrap();
    let figure = figures.iter().find(|f| f["name"] == name).unwrap();
    figure["value"].as_i64().unwrap()
}

async fn spawn_at(backend: Backend, at: Timestamp) -> TestApp {
    TestApp::spawn_with(backend, |config| config.clock = Clock::starting_at(at)).await
}

async fn a_constructed_week_makes_findings_with_the_figures_placed(backend: Backend) {
    let app = spawn_at(backend, noon()).await;
    let (shop, merchant) = constructed_week(&app).await;
    let report = app.post("/v1/compass/diagnosis", &merchant, json!({})).await;
    let report = report.assert_status(201).clone();
    assert_eq!(report["shop_id"], shop);
    assert_eq!(
        (report["category"].as_str(), report["kind"].as_str()),
        (Some("beauty"), Some("on_demand"))
    );
    assert_eq!(
        report["period"],
        json!({ "first_day": "2026-11-24", "last_day": "2026-11-30", "days": 7 })
    );
    assert_eq!(
        report["baseline"],
        json!({ "first_day": "2026-11-17", "last_day": "2026-11-23", "days": 7 })
    );
    assert_eq!(report["peer_shops"], 3);
    let rules: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    // The most severe first, then in the rules' order.
    assert_eq!(
        rules,
        [
            "refund_rate_above_category",
            "paid_conversion_fell",
            "unpaid_expiry_rate_rose"
        ]
    );

    let conversion = finding(&report, "paid_conversion_fell");
    assert_eq!(conversion["severity"], "warning");
    assert_eq!(figure(conversion, "current"), 6_000);
    assert_eq!(figure(conversion, "baseline"), 9_000);
    assert_eq!(figure(conversion, "orders_current"), 100);
    let refunds = finding(&report, "refund_rate_above_category");
    assert_eq!((figure(refunds, "current"), figure(refunds, "peers")), (1_500, 222));
    assert_eq!(refunds["severity"], "critical");
    let expiry = finding(&report, "unpaid_expiry_rate_rose");
    assert_eq!((figure(expiry, "current"), figure(expiry, "baseline")), (1_000, 200));
    assert!(conversion["message"]["zh"].as_str().unwrap().contains("90.00%"));
    assert!(
        conversion["message"]["en"]
            .as_str()
            .unwrap()
            .contains("from 90.00% to 60.00%")
    );

    // The same period asked for by date, and by an operator: the same findings; both stored.
    let asked = json!({ "shop_id": shop, "last_day": "2026-11-30", "days": 7 });
    let again = app.post("/v1/compass/diagnosis", &app.admin, asked).await;
    assert_eq!(again.assert_status(201)["findings"], report["findings"]);
    let read = app
        .get(&format!("/v1/compass/diagnosis/{}", report["id"]), &merchant)
        .await;
    assert_eq!(read.assert_status(200), &report);
    let listed = app
        .get("/v1/compass/diagnosis?from=2026-11-24&to=2026-11-24", &merchant)
        .await;
    let listed = listed.assert_status(200)["reports"].as_array().unwrap().clone();
    // The daily job may have written the same week's daily report too.
    let listed: Vec<&Value> = listed.iter().filter(|r| r["kind"] == "on_demand").collect();
    assert_eq!(listed.len(), 2);
    assert_eq!(
        (listed[0]["critical"].as_i64(), listed[0]["warning"].as_i64()),
        (Some(1), Some(2))
    );
}

/// The daily reports of `shop` as `token` lists them, by the day their period ends.
async fn daily_reports(app: &TestApp, token: &str, shop: i64) -> Vec<String> {
    let list = app
        .get(
            &format!("/v1/compass/diagnosis?from=2026-11-01&to=2026-12-31&shop_id={shop}"),
            token,
        )
        .await;
    let reports = list.assert_status(200)["reports"].as_array().unwrap().clone();
    reports
        .iter()
        .filter(|r| r["kind"] == "daily")
        .map(|r| r["period"]["last_day"].as_str().unwrap().to_string())
        .collect()
}

async fn the_daily_job_writes_each_shops_report_once_across_restarts(backend: Backend) {
    // 00:01 on 12-01: the reports of 11-30 are not due before 00:05.
    let mut app = spawn_at(backend, LocalDate::from_ymd(2026, 12, 1).unwrap().at_minute(1)).await;
    let (shop, merchant) = app.shop("夜猫子小店").await;
    place(&app, shop, day(30), week(50, 45, 1, 0)).await;
    app.config.clock.advance(6 * 60_000);
    let written = eventually(Duration::from_secs(20), "the daily report of 11-30", || async {
        let days = daily_reports(&app, &merchant, shop).await;
        days.contains(&"2026-11-30".to_string()).then_some(days)
    })
    .await;
    assert_eq!(written.iter().filter(|d| *d == "2026-11-30").count(), 1);

    // A shop created after the day's pass gets its report when the job runs again, after the
    // restart …
    let (late, late_merchant) = app.shop("后来的店").await;
    app.restart().await;
    eventually(Duration::from_secs(20), "the new shop's daily report", || async {
        daily_reports(&app, &late_merchant, late)
            .await
            .contains(&"2026-11-30".to_string())
            .then_some(())
    })
    .await;
    // … and the first shop still has one.
    let days = daily_reports(&app, &app.admin, shop).await;
    assert_eq!(days.iter().filter(|d| *d == "2026-11-30").count(), 1, "{days:?}");
    let report = app
        .get("/v1/compass/diagnosis?from=2026-11-24&to=2026-11-24", &merchant)
        .await;
    let report = &report.assert_status(200)["reports"][0];
    assert_eq!(report["period"]["first_day"], "2026-11-24");
}

async fn the_page_reads_in_both_languages(backend: Backend) {
    let app = spawn_at(backend, noon()).await;
    let (_, merchant) = constructed_week(&app).await;
    let report = app.post("/v1/compass/diagnosis", &merchant, json!({})).await;
    let report = report.assert_status(201).clone();
    let conversion = finding(&report, "paid_conversion_fell");
    let page = |lang: &str| format!("/v1/compass/diagnosis/{}/report.html{lang}", report["id"]);
    for (query, language) in [("", "zh"), ("?lang=zh", "zh"), ("?lang=en", "en")] {
        let answer = app.get(&page(query), &merchant).await;
        assert_eq!(answer.status, 200);
        assert!(answer.content_type.starts_with("text/html"), "{}", answer.content_type);
        let message = conversion["message"][language].as_str().unwrap().replace('\'', "&#39;");
        assert!(answer.raw.contains(&message), "{language}: {}", answer.raw);
        assert!(
            answer.raw.contains("@media print") && !answer.raw.contains("http://") && !answer.raw.contains("https://")
        );
    }
    let english = app
        .http
        .get(app.url(&format!("/v1/compass/diagnosis/{}", report["id"])));
    let english = english
        .bearer_auth(&merchant)
        .header("accept", "text/html")
        .header("accept-language", "en-GB,en;q=0.9");
    let english = app.send(english).await;
    assert!(english.content_type.starts_with("text/html"));
    assert!(english.raw.contains("Diagnosis report") && english.raw.contains("Suggested action"));
}

async fn reports_stay_with_their_shop_and_bad_input_is_refused(backend: Backend) {
    let app = spawn_at(backend, noon()).await;
    let world = app.world().await;
    let (other, other_merchant) = app.shop("别家小店").await;
    let report = app.post("/v1/compass/diagnosis", &world.merchant, json!({})).await;
    let id = report.assert_status(201)["id"].as_i64().unwrap();
    let one = format!("/v1/compass/diagnosis/{id}");
    app.get(&one, &other_merchant).await.assert_problem(404, "not_found");
    app.get(&format!("{one}/report.html"), &other_merchant)
        .await
        .assert_problem(404, "not_found");
    app.get(&one, &world.buyer_token).await.assert_problem(403, "forbidden");
    app.get(&format!("{one}/report.html"), &world.buyer_token)
        .await
        .assert_problem(403, "forbidden");
    app.get("/v1/compass/diagnosis/999999", &app.admin)
        .await
        .assert_problem(404, "not_found");
    let list = "/v1/compass/diagnosis?from=2026-11-01&to=2026-12-31";
    app.get(list, &world.buyer_token).await.assert_problem(403, "forbidden");
    let others = app.get(list, &other_merchant).await;
    assert!(others.assert_status(200)["reports"].as_array().unwrap().is_empty());
    app.get(&format!("{list}&shop_id={}", world.shop), &other_merchant)
        .await
        .assert_problem(404, "not_found");
    app.post("/v1/compass/diagnosis", &world.buyer_token, json!({}))
        .await
        .assert_problem(403, "forbidden");

    let refused = [
        (&other_merchant, json!({ "shop_id": world.shop }), 404, "not_found"),
        // An operator names the shop: without one there is none to diagnose.
        (&app.admin, json!({}), 404, "not_found"),
        (&world.merchant, json!({ "days": 0 }), 422, "invalid_field"),
        (&world.merchant, json!({ "days": 93 }), 422, "invalid_field"),
        (
            &world.merchant,
            json!({ "last_day": "2026-02-30" }),
            422,
            "invalid_field",
        ),
        (
            &world.merchant,
            json!({ "last_day": "yesterday" }),
            422,
            "invalid_field",
        ),
        (
            &world.merchant,
            json!({ "last_day": "2026-11-30", "colour": "red" }),
            400,
            "unknown_field",
        ),
        (&world.merchant, json!({ "shop_id": 0 }), 422, "invalid_field"),
    ];
    for (token, body, status, code) in refused {
        app.post("/v1/compass/diagnosis", token, body.clone())
            .await
            .assert_problem(status, code);
    }
    let backwards = app
        .get("/v1/compass/diagnosis?from=2026-12-01&to=2026-11-01", &world.merchant)
        .await;
    assert!(backwards.assert_status(200)["reports"].as_array().unwrap().is_empty());
    for query in ["from=yesterday", "to=2026-13-01", "from=2026-02-30"] {
        app.get(&format!("/v1/compass/diagnosis?{query}"), &world.merchant)
            .await
            .assert_problem(422, "invalid_field");
    }
    app.get(&format!("{one}/report.html?lang=fr"), &world.merchant)
        .await
        .assert_problem(422, "invalid_field");
    let bad_category = app
        .patch(
            &format!("/v1/shops/{other}"),
            &other_merchant,
            json!({ "category": "toys" }),
        )
        .await;
    bad_category.assert_problem(422, "invalid_field");
    let not_theirs = app
        .patch(
            &format!("/v1/shops/{}", world.shop),
            &other_merchant,
            json!({ "category": "food" }),
        )
        .await;
    not_theirs.assert_problem(404, "not_found");
    let shop = app.get(&format!("/v1/shops/{other}"), &app.admin).await;
    assert_eq!(shop.assert_status(200)["category"], "other", "nothing changed");
    // Only the reports asked for were written: the refusals changed nothing.
    let listed = app.get(list, &world.merchant).await;
    let on_demand = listed.assert_status(200)["reports"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "on_demand")
        .count();
    assert_eq!(on_demand, 1);
}

/// Places rows in one of the compass's hourly breadth tables (`columns` after `shop_id,
/// hour_ms`), at 10:00 of `on`, as the reader would have folded them.
async fn place_breadth(app: &TestApp, table: &str, columns: &str, shop: i64, on: LocalDate, values: &[i64]) {
    use miaodan_store::sql::{Statement, Value};
    let hour = on.at_minute(10 * 60).unix_ms();
    let placeholders: Vec<String> = (1..=values.len() + 2).map(|n| format!("${n}")).collect();
    let mut params = vec![Value::I64(shop), Value::I64(hour)];
    params.extend(values.iter().map(|v| Value::I64(*v)));
    let insert = Statement::owned(
        format!(
            "INSERT INTO {table} (shop_id, hour_ms, {columns}) VALUES ({})",
            placeholders.join(", ")
        ),
        params,
    );
    let store = &app.state().store;
    store
        .record_compass_with(u32::MAX, 0, &BTreeMap::new(), vec![insert])
        .await
        .unwrap();
}

async fn findings_name_provinces_and_skus_from_the_compass_breadth(backend: Backend) {
    let app = spawn_at(backend, noon()).await;
    let (shop, merchant) = app.shop("广州小店").await;
    // Buyers in 广州 paid 36 of 40 orders the week before, 20 of 40 this week.
    let regions = "adcode, orders, units, gmv_fen, paid_orders, paid_fen";
    let guangzhou = 440_100_000_000;
    place_breadth(
        &app,
        "compass_regions",
        regions,
        shop,
        day(18),
        &[guangzhou, 40, 40, 40_000, 36, 36_000],
    )
    .await;
    place_breadth(
        &app,
        "compass_regions",
        regions,
        shop,
        day(25),
        &[guangzhou, 40, 40, 40_000, 20, 20_000],
    )
    .await;
    // SKU 77 sold 30 units this week and ran out once.
    let skus = "sku, product, orders, units, gmv_fen, paid_units, refunds, refunded_fen, stock_outs";
    place_breadth(
        &app,
        "compass_skus",
        skus,
        shop,
        day(25),
        &[77, 7, 30, 30, 30_000, 30, 0, 0, 1],
    )
    .await;

    let report = app.post("/v1/compass/diagnosis", &merchant, json!({})).await;
    let report = report.assert_status(201).clone();
    let province = finding(&report, "province_paid_conversion_fell");
    assert_eq!(province["subject"], "广东省");
    assert_eq!(figure(province, "current"), 5_000);
    assert_eq!(figure(province, "baseline"), 9_000);
    let stock_outs = finding(&report, "top_seller_stock_outs");
    assert_eq!(stock_outs["subject"], "SKU 77");
    assert!(stock_outs["message"]["zh"].as_str().unwrap().contains("SKU 77"));
}
