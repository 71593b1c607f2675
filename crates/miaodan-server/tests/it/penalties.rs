//! Penalties, the deposit and the integrity reports over HTTP on both backends: a cap refuses a
//! larger flash sale until it is revoked, a suspension refuses every new one, a deduction comes
//! from the deposit and never past it, a revoked deduction is refunded; appeals are the shop's
//! merchant's, once; another shop's penalty reads as not found and a buyer is refused; bad
//! input is problem+json with its stable code. Fake stock judges an ended sale by its orders'
//! fates and by the stock its merchant moved around it, and broken promises are broken down by
//! warehouse and carrier.

use super::common;
use common::{Backend, TestApp};
use miaodan_domain::Timestamp;
use miaodan_server::clock::{Clock, rfc3339};
use miaodan_store::sql::Statement;
use serde_json::{Value, json};
use std::collections::BTreeMap;

both_backends!(
    a_cap_refuses_a_larger_flash_sale_until_it_is_revoked,
    a_suspension_refuses_every_new_sale,
    a_deduction_comes_from_the_deposit_and_never_past_it_and_a_revoked_one_is_refunded,
    appeals_are_the_shops_merchants_once_and_another_shops_penalty_is_not_found,
    bad_input_is_refused_with_stable_codes_and_changes_nothing,
    an_ended_sale_with_shortages_and_cancellations_is_judged_fake_stock,
    stock_topped_up_before_a_sale_and_pulled_after_it_is_judged_fake_stock,
    broken_promises_are_broken_down_by_warehouse_and_carrier,
);

const HOUR_MS: i64 = 3_600_000;

fn now() -> Timestamp {
    Timestamp::from_unix_ms(1_796_000_000_000)
}

async fn spawn(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |config| config.clock = Clock::starting_at(now())).await
}

/// A shop with a warehouse and one SKU of 100 units: (shop, merchant, sku, warehouse).
async fn stocked_shop(app: &TestApp, name: &str) -> (i64, String, i64, i64) {
    let (shop, merchant) = app.shop(name).await;
    let warehouse = app.warehouse(&merchant, "总仓", "310101000000").await;
    let sku = app.product(&merchant, "牛肉干", &[990]).await[0];
    app.stock(&merchant, sku, warehouse, 100).await;
    (shop, merchant, sku, warehouse)
}

fn sale(sku: i64, warehouse: i64, units: i64) -> Value {
    let at = |hours: i64| rfc3339(Timestamp::from_unix_ms(now().unix_ms() + hours * HOUR_MS));
    json!({ "sku_id": sku, "warehouse_id": warehouse, "starts_at": at(1), "ends_at": at(2),
            "price_fen": 500, "units": units })
}

async fn issue(app: &TestApp, body: Value) -> Value {
    app.post("/v1/penalties", &app.admin, body)
        .await
        .assert_status(201)
        .clone()
}

async fn a_cap_refuses_a_larger_flash_sale_until_it_is_revoked(backend: Backend) {
    let app = spawn(backend).await;
    let (shop, merchant, sku, warehouse) = stocked_shop(&app, "虚标小店").await;
    let cap = issue(
        &app,
        json!({ "shop_id": shop, "kind": "flash_units_cap", "units": 5, "reason": "库存虚标",
                "finding_code": "fake_stock", "finding_subject": 7 }),
    )
    .await;
    assert_eq!(
        (&cap["kind"], &cap["units"], &cap["state"], &cap["finding_code"]),
        (
            &json!("flash_units_cap"),
            &json!(5),
            &json!("in_force"),
            &json!("fake_stock")
        )
    );
    let refused = app.post("/v1/flash-sales", &merchant, sale(sku, warehouse, 10)).await;
    refused.assert_problem(409, "penalty_flash_units_cap");
    assert_eq!(refused.body["field"], "units");
    assert_eq!(app.level(&merchant, sku, warehouse).await.0, 100, "nothing was held");
    let capped = app.post("/v1/flash-sales", &merchant, sale(sku, warehouse, 5)).await;
    let capped = capped.assert_status(201)["id"].as_i64().unwrap();
    // A top-up past the cap is refused too.
    app.post(
        &format!("/v1/flash-sales/{capped}/top-up"),
        &merchant,
        json!({ "units": 1 }),
    )
    .await
    .assert_problem(409, "penalty_flash_units_cap");

    // An appeal does not lift the cap; the operator's revocation does.
    let id = cap["id"].as_i64().unwrap();
    let appealed = app
        .post(
            &format!("/v1/penalties/{id}/appeal"),
            &merchant,
            json!({ "text": "已补货" }),
        )
        .await;
    assert_eq!(appealed.assert_status(200)["state"], "appealed");
    app.post("/v1/flash-sales", &merchant, sale(sku, warehouse, 10))
        .await
        .assert_problem(409, "penalty_flash_units_cap");
    let revoked = app
        .post(
            &format!("/v1/penalties/{id}/decision"),
            &app.admin,
            json!({ "decision": "revoke", "note": "复核：补货属实" }),
        )
        .await;
    let revoked = revoked.assert_status(200);
    assert_eq!(
        (&revoked["state"], &revoked["decided_by"], &revoked["decision_note"]),
        (&json!("revoked"), &json!("admin"), &json!("复核：补货属实"))
    );
    app.post("/v1/flash-sales", &merchant, sale(sku, warehouse, 10))
        .await
        .assert_status(201);
    app.shutdown().await;
}

async fn a_suspension_refuses_every_new_sale(backend: Backend) {
    let app = spawn(backend).await;
    let (shop, merchant, sku, warehouse) = stocked_shop(&app, "停售小店").await;
    let until = rfc3339(Timestamp::from_unix_ms(now().unix_ms() + 24 * HOUR_MS));
    let suspension = issue(
        &app,
        json!({ "shop_id": shop, "kind": "new_sales_suspended", "until": until, "reason": "多次虚标" }),
    )
    .await;
    assert_eq!(suspension["until"], json!(until));
    let refused = app.post("/v1/flash-sales", &merchant, sale(sku, warehouse, 1)).await;
    refused.assert_problem(409, "penalty_sales_suspended");
    let listed = app.get("/v1/penalties?state=in_force", &merchant).await;
    assert_eq!(listed.assert_status(200)["items"].as_array().unwrap().len(), 1);
    let expired = app.get("/v1/penalties?state=expired", &merchant).await;
    assert!(expired.assert_status(200)["items"].as_array().unwrap().is_empty());
    app.shutdown().await;
}

async fn deposit(app: &TestApp, token: &str) -> Value {
    app.get("/v1/deposit", token).await.assert_status(200).clone()
}

async fn a_deduction_comes_from_the_deposit_and_never_past_it_and_a_revoked_one_is_refunded(backend: Backend) {
    let app = spawn(backend).await;
    let (shop, merchant) = app.shop("押金小店").await;
    let empty = deposit(&app, &merchant).await;
    assert_eq!((&empty["balance_fen"], &empty["entries"]), (&json!(0), &json!([])));
    let top_up = app
        .post(
            &format!("/v1/deposits/{shop}/entries"),
            &app.admin,
            json!({ "amount_fen": 10_000, "note": "缴纳保证金" }),
        )
        .await;
    assert_eq!(
        (&top_up.assert_status(201)["balance_fen"], &top_up.body["seq"]),
        (&json!(10_000), &json!(1))
    );
    let deduction = issue(
        &app,
        json!({ "shop_id": shop, "kind": "deposit_deduction", "amount_fen": 3_000, "reason": "超时未发货" }),
    )
    .await;
    assert_eq!(deposit(&app, &merchant).await["balance_fen"], 7_000);

    // Over the balance: refused, and no penalty is issued.
    let over = app
        .post(
            "/v1/penalties",
            &app.admin,
            json!({ "shop_id": shop, "kind": "deposit_deduction", "amount_fen": 7_001, "reason": "超额" }),
        )
        .await;
    over.assert_problem(409, "deposit_insufficient");
    let listed = app.get(&format!("/v1/penalties?shop_id={shop}"), &app.admin).await;
    assert_eq!(listed.assert_status(200)["items"].as_array().unwrap().len(), 1);

    let id = deduction["id"].as_i64().unwrap();
    app.post(
        &format!("/v1/penalties/{id}/decision"),
        &app.admin,
        json!({ "decision": "revoke", "note": "误罚" }),
    )
    .await
    .assert_status(200);
    let after = deposit(&app, &merchant).await;
    assert_eq!(after["balance_fen"], 10_000);
    let kinds: Vec<(&str, i64, i64)> = after["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap(),
                e["amount_fen"].as_i64().unwrap(),
                e["balance_fen"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("refund", 3_000, 10_000),
            ("deduction", 3_000, 7_000),
            ("deposit", 10_000, 10_000)
        ]
    );
    // Revoked once, not again (and no second refund).
    app.post(
        &format!("/v1/penalties/{id}/decision"),
        &app.admin,
        json!({ "decision": "revoke", "note": "再撤" }),
    )
    .await
    .assert_problem(409, "penalty_not_decidable");
    assert_eq!(deposit(&app, &merchant).await["balance_fen"], 10_000);
    app.shutdown().await;
}

async fn appeals_are_the_shops_merchants_once_and_another_shops_penalty_is_not_found(backend: Backend) {
    let app = spawn(backend).await;
    let (shop, merchant) = app.shop("甲店").await;
    let (_, other_merchant) = app.shop("乙店").await;
    let (_, buyer) = app.buyer("张三").await;
    let warning = issue(&app, json!({ "shop_id": shop, "kind": "warning", "reason": "预警" })).await;
    let id = warning["id"].as_i64().unwrap();
    let path = format!("/v1/penalties/{id}");
    app.get(&path, &other_merchant).await.assert_problem(404, "not_found");
    app.get(&format!("/v1/penalties?shop_id={shop}"), &other_merchant)
        .await
        .assert_problem(404, "not_found");
    let theirs = app.get("/v1/penalties", &other_merchant).await;
    assert!(theirs.assert_status(200)["items"].as_array().unwrap().is_empty());
    app.post(&format!("{path}/appeal"), &other_merchant, json!({ "text": "不是我" }))
        .await
        .assert_problem(404, "not_found");
    app.get("/v1/penalties", &buyer).await.assert_problem(403, "forbidden");
    app.get("/v1/deposit", &buyer).await.assert_problem(403, "forbidden");
    app.post(&format!("{path}/appeal"), &buyer, json!({ "text": "x" }))
        .await
        .assert_problem(403, "forbidden");
    app.post(
        "/v1/penalties",
        &merchant,
        json!({ "shop_id": shop, "kind": "warning", "reason": "自罚" }),
    )
    .await
    .assert_problem(403, "forbidden");

    // Upholding needs an appeal; the appeal is made once.
    let decide = |decision: &str| json!({ "decision": decision, "note": "维持" });
    app.post(&format!("{path}/decision"), &app.admin, decide("uphold"))
        .await
        .assert_problem(409, "penalty_not_decidable");
    let appealed = app
        .post(&format!("{path}/appeal"), &merchant, json!({ "text": "请复核" }))
        .await;
    assert_eq!(appealed.assert_status(200)["appeal_text"], "请复核");
    app.post(&format!("{path}/appeal"), &merchant, json!({ "text": "再申诉" }))
        .await
        .assert_problem(409, "penalty_not_appealable");
    let upheld = app
        .post(&format!("{path}/decision"), &app.admin, decide("uphold"))
        .await;
    assert_eq!(upheld.assert_status(200)["state"], "upheld");
    // The appeal made with the merchant's token is in the shop's audit log.
    let log = app.get("/v1/audit-log", &merchant).await;
    let routes: Vec<&str> = log.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["route"].as_str().unwrap())
        .collect();
    assert!(routes.contains(&"/v1/penalties/{penalty_id}/appeal"), "{routes:?}");
    let mine = app.get(&path, &merchant).await;
    assert_eq!(
        (&mine.assert_status(200)["state"], &mine.body["appeal_text"]),
        (&json!("upheld"), &json!("请复核"))
    );
    app.shutdown().await;
}

async fn bad_input_is_refused_with_stable_codes_and_changes_nothing(backend: Backend) {
    let app = spawn(backend).await;
    let (shop, merchant) = app.shop("乱填小店").await;
    let warning = issue(&app, json!({ "shop_id": shop, "kind": "warning", "reason": "预警" })).await;
    let id = warning["id"].as_i64().unwrap();
    let past = rfc3339(Timestamp::from_unix_ms(now().unix_ms() - HOUR_MS));
    let cases = [
        (
            json!({ "shop_id": shop, "kind": "flash_units_cap", "reason": "r" }),
            422,
            "invalid_field",
            "units",
        ),
        (
            json!({ "shop_id": shop, "kind": "warning", "units": 3, "reason": "r" }),
            422,
            "invalid_field",
            "units",
        ),
        (
            json!({ "shop_id": shop, "kind": "flash_units_cap", "units": 0, "reason": "r" }),
            422,
            "invalid_field",
            "units",
        ),
        (
            json!({ "shop_id": shop, "kind": "new_sales_suspended", "until": past, "reason": "r" }),
            422,
            "invalid_field",
            "until",
        ),
        (
            json!({ "shop_id": shop, "kind": "deposit_deduction", "amount_fen": 0, "reason": "r" }),
            422,
            "invalid_field",
            "amount_fen",
        ),
        (
            json!({ "shop_id": shop, "kind": "ban", "reason": "r" }),
            422,
            "invalid_field",
            "kind",
        ),
        (
            json!({ "shop_id": shop, "kind": "warning", "reason": "  " }),
            422,
            "invalid_field",
            "reason",
        ),
        (
            json!({ "shop_id": 999_999, "kind": "warning", "reason": "r" }),
            404,
            "unknown_shop",
            "shop_id",
        ),
        (
            json!({ "shop_id": shop, "kind": "warning" }),
            400,
            "missing_field",
            "reason",
        ),
        (
            json!({ "shop_id": shop, "kind": "warning", "reason": "r", "extra": 1 }),
            400,
            "unknown_field",
            "extra",
        ),
        (
            json!({ "shop_id": "1", "kind": "warning", "reason": "r" }),
            400,
            "wrong_type",
            "shop_id",
        ),
    ];
    for (body, status, code, field) in cases {
        let answer = app.post("/v1/penalties", &app.admin, body.clone()).await;
        answer.assert_problem(status, code);
        assert_eq!(answer.body["field"], field, "{body}");
    }
    let decision = format!("/v1/penalties/{id}/decision");
    app.post(&decision, &app.admin, json!({ "decision": "maybe", "note": "n" }))
        .await
        .assert_problem(422, "invalid_field");
    app.post(&format!("/v1/penalties/{id}/appeal"), &merchant, json!({ "text": "" }))
        .await
        .assert_problem(422, "invalid_field");
    app.post(
        &format!("/v1/deposits/{shop}/entries"),
        &app.admin,
        json!({ "amount_fen": 0 }),
    )
    .await
    .assert_problem(422, "invalid_field");
    app.post("/v1/deposits/999999/entries", &app.admin, json!({ "amount_fen": 1 }))
        .await
        .assert_problem(404, "not_found");
    app.get("/v1/penalties?state=gone", &merchant)
        .await
        .assert_problem(422, "invalid_field");
    app.get("/v1/integrity/fake-stock?days=0", &merchant)
        .await
        .assert_problem(422, "invalid_field");
    app.get("/v1/deposit", &app.admin)
        .await
        .assert_problem(404, "not_found");
    let listed = app.get(&format!("/v1/penalties?shop_id={shop}"), &app.admin).await;
    assert_eq!(
        listed.assert_status(200)["items"].as_array().unwrap().len(),
        1,
        "nothing more was issued"
    );
    assert_eq!(listed.body["items"][0]["state"], "in_force", "nothing was decided");
    assert_eq!(deposit(&app, &merchant).await["balance_fen"], 0);
    app.shutdown().await;
}

/// Runs `sql` (rows the platform would have written) in one transaction.
async fn rows(app: &TestApp, sql: Vec<String>) {
    let statements = sql.into_iter().map(|s| Statement::owned(s, vec![])).collect();
    app.state()
        .store
        .record_compass_with(u32::MAX, 0, &BTreeMap::new(), statements)
        .await
        .unwrap();
}

/// An order of `sale` for one unit, paid `paid_hours_ago`, in `state` (cancelled by the shop
/// when `cancelled`).
fn order(
    id: i64,
    shop: i64,
    sale: i64,
    sku: i64,
    state: &str,
    cancel_reason: &str,
    paid_hours_ago: i64,
) -> [String; 2] {
    let paid_at = now().unix_ms() - paid_hours_ago * HOUR_MS;
    let reason = if cancel_reason.is_empty() {
        "NULL".into()
    } else {
        format!("'{cancel_reason}'")
    };
    [
        format!(
            "INSERT INTO orders (id, checkout_id, shop_id, buyer_id, state, version, total_fen, adcode, address_detail,
               created_at, payment_due_at, paid_at, cancelled_at, cancel_reason, request_ref, flash_sale_id)
             VALUES ({id}, {id}, {shop}, 1, '{state}', 2, 500, 310101000000, '南京东路1号', {paid_at}, {paid_at}, {paid_at},
               NULL, {reason}, NULL, {sale})"
        ),
        format!(
            "INSERT INTO order_lines (order_id, line_no, sku_id, quantity, unit_price_fen, allocations, shop_id)
             VALUES ({id}, 0, {sku}, 1, 500, '1:1', {shop})"
        ),
    ]
}

async fn an_ended_sale_with_shortages_and_cancellations_is_judged_fake_stock(backend: Backend) {
    let app = spawn(backend).await;
    let (shop, merchant, sku, warehouse) = stocked_shop(&app, "虚标嫌疑店").await;
    let (sale, started, ended) = (900_001, now().unix_ms() - 100 * HOUR_MS, now().unix_ms() - 99 * HOUR_MS);
    let mut sql = vec![format!(
        "INSERT INTO flash_sales (id, shop_id, sku_id, warehouse_id, starts_at, ends_at, price_fen, allotted, remaining,
           per_buyer_limit, payment_timeout_seconds, closed, created_at)
         VALUES ({sale}, {shop}, {sku}, {warehouse}, {started}, {ended}, 500, 20, 0, 1, 300, 1, {started})"
    )];
    // 10 units sold: 6 delivered, 2 reported short, 1 cancelled by the shop, 1 never shipped.
    for id in 0..6 {
        sql.extend(order(800_000 + id, shop, sale, sku, "delivered", "", 99));
    }
    for id in 6..8 {
        sql.extend(order(800_000 + id, shop, sale, sku, "shipped", "", 99));
        sql.push(format!(
            "INSERT INTO shortage_notices (shop_id, order_id, warehouse_id, sku_id, noticed_at, body)
             VALUES ({shop}, {}, {warehouse}, {sku}, {ended}, '{{}}')",
            800_000 + id
        ));
    }
    sql.extend(order(800_008, shop, sale, sku, "cancelled", "shop_cancelled", 99));
    sql.extend(order(800_009, shop, sale, sku, "paid", "", 99));
    rows(&app, sql).await;

    let report = app.get("/v1/integrity/fake-stock?days=30", &merchant).await;
    let report = report.assert_status(200);
    assert_eq!(
        (&report["sales_fake_stock"], &report["sales_clean"]),
        (&json!(1), &json!(0)),
        "{report:#}"
    );
    let judged = &report["sales"][0];
    assert_eq!(
        (&judged["flash_sale_id"], &judged["verdict"]),
        (&json!(sale), &json!("fake_stock"))
    );
    let figure = |name: &str| {
        judged["figures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .unwrap()["value"]
            .clone()
    };
    assert_eq!(
        (figure("units_announced"), figure("units_sold"), figure("units_short")),
        (json!(20), json!(10), json!(4))
    );
    let verdicts: Vec<(&str, &str)> = judged["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["signal"].as_str().unwrap(), f["verdict"].as_str().unwrap()))
        .collect();
    assert_eq!(
        verdicts,
        vec![
            ("shortage_after_sale", "fake_stock"),
            ("shop_cancelled", "suspicious"),
            ("never_dispatched", "suspicious"),
            ("stock_pulled_after_sale", "clean"),
        ]
    );
    let message = judged["findings"][0]["message"]["en"].as_str().unwrap();
    assert_eq!(
        message,
        "2 of 10 units sold were reported short after the sale (20.0 %)"
    );
    // An operator reads it by shop; another merchant does not.
    let by_operator = app
        .get(&format!("/v1/integrity/fake-stock?shop_id={shop}"), &app.admin)
        .await;
    assert_eq!(by_operator.assert_status(200)["sales_fake_stock"], 1);
    let (_, other) = app.shop("别家").await;
    app.get(&format!("/v1/integrity/fake-stock?shop_id={shop}"), &other)
        .await
        .assert_problem(404, "not_found");
    app.shutdown().await;
}

/// The finding of `signal` in the only sale of a fake-stock report.
fn finding<'a>(report: &'a Value, signal: &str) -> &'a Value {
    report["sales"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["signal"] == signal)
        .unwrap()
}

/// The value of the figure `name` in `figures`.
fn figure_of(figures: &Value, name: &str) -> Value {
    figures.as_array().unwrap().iter().find(|f| f["name"] == name).unwrap()["value"].clone()
}

async fn stock_topped_up_before_a_sale_and_pulled_after_it_is_judged_fake_stock(backend: Backend) {
    let app = spawn(backend).await;
    let (shop, merchant, sku, warehouse) = stocked_shop(&app, "临时补货店").await;
    // Counted again an hour before the sale: 400 units more to show.
    app.stock(&merchant, sku, warehouse, 500).await;
    let sale_id = app.post("/v1/flash-sales", &merchant, sale(sku, warehouse, 100)).await;
    let sale_id = sale_id.assert_status(201)["id"].as_i64().unwrap();
    let clean = app.get("/v1/integrity/fake-stock", &merchant).await;
    assert_eq!(clean.assert_status(200)["sales"], json!([]), "the sale has not ended");

    // Three hours on, the sale is over and the merchant counts the shelf empty.
    app.state().clock.advance(3 * HOUR_MS);
    // The sale's 100 unsold units go back on the shelf when its shard next expires what is
    // due, within a tick (250 ms) of real time: wait for it, so that the count read here is
    // the one the removal takes (read before that tick, the removal raced it).
    let mut available = 0;
    for _ in 0..200 {
        available = app.level(&merchant, sku, warehouse).await.0;
        if available == 500 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(available, 500, "the sale's unsold units are back on the shelf");
    app.stock(&merchant, sku, warehouse, 0).await;

    let report = app.get("/v1/integrity/fake-stock?days=30", &merchant).await;
    let report = report.assert_status(200);
    assert_eq!(
        (&report["sales_fake_stock"], &report["sales"][0]["flash_sale_id"]),
        (&json!(1), &json!(sale_id)),
        "{report:#}"
    );
    let pulled = finding(report, "stock_pulled_after_sale");
    assert_eq!(pulled["verdict"], "fake_stock");
    assert_eq!(
        (
            figure_of(&pulled["figures"], "units_added_before"),
            figure_of(&pulled["figures"], "units_removed_after"),
            figure_of(&pulled["figures"], "units"),
        ),
        (json!(500), json!(available), json!(available.min(500)))
    );
    assert_eq!(
        pulled["message"]["en"],
        format!(
            "{} of 100 units announced were added in the 24 h before the sale and removed in the 24 h after it ({}.0 %)",
            available.min(500),
            available.min(500)
        )
    );
    assert!(
        pulled["message"]["zh"]
            .as_str()
            .unwrap()
            .contains("开售前 24 小时内补入"),
        "{pulled}"
    );
    assert_eq!(
        finding(report, "shortage_after_sale")["verdict"],
        "clean",
        "nothing was sold"
    );
    let summary = report["sales"][0]["summary"]["en"].as_str().unwrap();
    assert!(
        summary.ends_with("the sale announced stock that was not there to sell"),
        "{summary}"
    );
    // The operator reads the same finding by shop.
    let by_operator = app
        .get(&format!("/v1/integrity/fake-stock?shop_id={shop}"), &app.admin)
        .await;
    assert_eq!(by_operator.assert_status(200)["sales_fake_stock"], 1);
    app.shutdown().await;
}

async fn broken_promises_are_broken_down_by_warehouse_and_carrier(backend: Backend) {
    let app = spawn(backend).await;
    let (shop, merchant) = app.shop("慢发小店").await;
    let hour = now().unix_ms() - 48 * HOUR_MS;
    let hour = hour - hour.rem_euclid(HOUR_MS);
    let raised = now().unix_ms() - 30 * HOUR_MS;
    let mut sql = vec![
        format!(
            "INSERT INTO compass_warehouses (shop_id, hour_ms, warehouse, dispatched, split_orders, promise_kept,
               shipped, delivered, delivered_late, alerts_raised, alerts_resolved)
             VALUES ({shop}, {hour}, 11, 100, 0, 90, 40, 100, 10, 2, 0),
                    ({shop}, {hour}, 12, 50, 0, 50, 50, 50, 0, 0, 0)"
        ),
        // Warehouse 11's parcels by carrier: sf kept its promises, zto did not (warehouse 12's
        // parcels predate the per-carrier count and have no carrier line of their own).
        format!(
            "INSERT INTO compass_carriers (shop_id, hour_ms, warehouse, carrier, shipped, delivered, delivered_late)
             VALUES ({shop}, {hour}, 11, 'sf', 20, 60, 1),
                    ({shop}, {hour}, 11, 'zto', 20, 40, 9)"
        ),
        format!(
            "INSERT INTO shipments (id, shop_id, order_id, warehouse_id, carrier, waybill, state, created_at, version, body)
             VALUES (700001, {shop}, 1, 11, 'sf', 'SF1', 'created', {hour}, 1, '{{}}'),
                    (700002, {shop}, 2, 11, 'zto', 'ZTO2', 'created', {hour}, 1, '{{}}')"
        ),
    ];
    for (key, shipment, rule, open) in [("a", 700_001, "not_picked_up", 1), ("b", 700_002, "stalled", 0)] {
        sql.push(format!(
            "INSERT INTO package_alerts (alert_key, shop_id, order_id, shipment_id, rule, is_open, raised_at, body)
             VALUES ('{key}', {shop}, 1, {shipment}, '{rule}', {open}, {raised}, '{{}}')"
        ));
    }
    rows(&app, sql).await;
    let report = app.get("/v1/integrity/promises?days=7", &merchant).await;
    let report = report.assert_status(200);
    let warehouses = report["warehouses"].as_array().unwrap();
    assert_eq!(warehouses.len(), 2, "{report:#}");
    let (slow, fine) = (&warehouses[0], &warehouses[1]);
    assert_eq!(
        (
            &slow["warehouse_id"],
            &slow["promise_kept_bps"],
            &slow["late_pickups"],
            &slow["alerts_unresolved"]
        ),
        (&json!(11), &json!(9_000), &json!(1), &json!(1))
    );
    assert_eq!(
        slow["broken"],
        json!(["promises_missed", "late_pickups", "alerts_left_open"])
    );
    assert_eq!(
        (&fine["promise_kept_bps"], &fine["broken"]),
        (&json!(10_000), &json!([]))
    );
    let carriers: Vec<(&str, i64)> = report["carriers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["carrier"].as_str().unwrap(), c["late_pickups"].as_i64().unwrap()))
        .collect();
    assert_eq!(carriers, vec![("sf", 1), ("zto", 0)]);
    // Promise kept per carrier service, judged against the same targets.
    let (sf, zto) = (&report["carriers"][0], &report["carriers"][1]);
    assert_eq!(
        (
            &sf["warehouse_id"],
            &sf["delivered"],
            &sf["delivered_late"],
            &sf["promise_kept_bps"]
        ),
        (&json!(11), &json!(60), &json!(1), &json!(9_833))
    );
    assert_eq!(sf["broken"], json!(["late_pickups", "alerts_left_open"]));
    assert_eq!(
        (
            &zto["shipped"],
            &zto["delivered"],
            &zto["delivered_late"],
            &zto["promise_kept_bps"]
        ),
        (&json!(20), &json!(40), &json!(9), &json!(7_750))
    );
    assert_eq!(zto["broken"], json!(["promises_missed"]));
    assert_eq!(
        zto["explanations"][0]["en"],
        "fewer than 95 % of parcels arrived by their promise"
    );
    // A carrier line with parcels and no alert is listed too.
    rows(
        &app,
        vec![format!(
            "INSERT INTO compass_carriers (shop_id, hour_ms, warehouse, carrier, shipped, delivered, delivered_late)
             VALUES ({shop}, {hour}, 12, 'jd', 50, 50, 0)"
        )],
    )
    .await;
    let report = app.get("/v1/integrity/promises?days=7", &merchant).await;
    let lines: Vec<(i64, &str, Value)> = report.assert_status(200)["carriers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["warehouse_id"].as_i64().unwrap(),
                c["carrier"].as_str().unwrap(),
                c["promise_kept_bps"].clone(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        vec![
            (11, "sf", json!(9_833)),
            (11, "zto", json!(7_750)),
            (12, "jd", json!(10_000))
        ]
    );
    app.shutdown().await;
}
