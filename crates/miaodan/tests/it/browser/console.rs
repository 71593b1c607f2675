//! The merchant console in a real browser: signing in through its form, every page in both
//! languages without a console error, the live room moving while taps arrive, actions that
//! change the state (ship, refund, approve a return), and the refusals — a wrong password, a
//! role's limits, a request without the CSRF token, another shop's order.
#![allow(clippy::unwrap_used)]

use super::{Browser, Language};
use serde_json::{Value, json};

const PASSWORD: &str = "console-test-1";

/// A request to the server's API with a bearer token: (status, body).
async fn api(browser: &Browser, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method.parse().unwrap(), browser.url(path))
        .bearer_auth(token)
        .header("idempotency-key", format!("browser-test-{}", rand::random::<u64>()));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let answer = request.send().await.unwrap();
    let status = answer.status().as_u16();
    let text = answer.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A staff member of `shop` (or of the platform) with `role`, made with the admin token.
async fn member(browser: &Browser, login: &str, role: &str, shop: Option<i64>) {
    let admin = browser.server.token("ADMIN").to_string();
    let body = json!({ "shop_id": shop, "login": login, "name": login, "role": role, "password": PASSWORD });
    let (status, answer) = api(browser, "POST", "/v1/staff", &admin, Some(body)).await;
    assert_eq!(status, 201, "making staff member {login}: {answer}");
}

/// A browser on a fresh demo server whose shop has a staff member `login` with `role`, and
/// that shop (`None` when browser tests skip).
async fn with_member(language: Language, login: &str, role: &str) -> Option<(Browser, i64)> {
    with_member_serving(language, (login, role), &[]).await
}

/// [`with_member`], the server given more arguments for `miaodan serve`.
async fn with_member_serving(
    language: Language,
    (login, role): (&str, &str),
    arguments: &[&str],
) -> Option<(Browser, i64)> {
    let browser = Browser::start_serving(language, arguments).await?;
    let shop = demo_shop(&browser).await;
    member(&browser, login, role, Some(shop)).await;
    Some((browser, shop))
}

/// Signs in through the console's own form and waits for the overview.
async fn sign_in(browser: &mut Browser, login: &str) {
    browser.goto("/console/").await;
    browser.wait_for_selector("form.sign-in").await;
    browser.fill("input[name=login]", login).await;
    browser.fill("input[name=password]", PASSWORD).await;
    browser.submit("form.sign-in").await;
    browser.wait_for_selector("[data-page=overview] h1").await;
}

/// Waits until the page has no loading placeholder left.
async fn settled(browser: &mut Browser) {
    browser
        .wait_until("loaded", "return document.querySelector('.loading') === null")
        .await;
}

/// The demo merchant's shop: the one its token's products belong to.
async fn demo_shop(browser: &Browser) -> i64 {
    let merchant = browser.server.token("MERCHANT").to_string();
    let (_, products) = api(browser, "GET", "/v1/products?limit=1", &merchant, None).await;
    products["items"][0]["shop_id"].as_i64().unwrap()
}

/// [address, `data-page`, heading in Chinese, heading in English] of every page of an owner.
const OWNER_PAGES: &[(&str, &str, &str, &str)] = &[
    ("/console/", "overview", "今日概览", "Today"),
    ("/console/orders", "orders", "订单", "Orders"),
    ("/console/live", "live-pick", "选择一场秒杀", "Pick a flash sale"),
    ("/console/compass", "compass", "数据罗盘", "Data compass"),
    (
        "/console/package-center",
        "package_center",
        "包裹中心",
        "Package center",
    ),
    ("/console/products", "products", "商品与库存", "Products & stock"),
    ("/console/after-sales", "after-sales", "售后", "After-sales"),
    ("/console/staff", "staff", "员工与日志", "Staff & audit"),
    ("/console/integrity", "integrity", "诚信与保证金", "Integrity & deposit"),
];

async fn every_page_of_an_owner(language: Language) {
    let Some((mut browser, _)) = with_member(language, "li.owner", "owner").await else {
        return;
    };
    sign_in(&mut browser, "li.owner").await;
    let (zh, en) = ("店主", "Owner");
    let who = browser.text_of(".who").await;
    assert!(who.contains(if language == Language::Zh { zh } else { en }), "{who}");
    for (path, page, zh, en) in OWNER_PAGES {
        browser.goto(path).await;
        let heading = format!("[data-page={page}] h1");
        browser.wait_for_selector(&heading).await;
        settled(&mut browser).await;
        let shown = browser.text_of(&heading).await;
        let expected = if language == Language::Zh { zh } else { en };
        assert!(
            shown.starts_with(expected),
            "{path}: heading {shown:?}, expected {expected:?}"
        );
        let other = if language == Language::Zh { en } else { zh };
        assert!(
            !browser.text_of("nav.side").await.contains(other),
            "{path}: the menu mixes languages"
        );
        browser.screenshot(page).await;
    }
    browser.finish().await;
}

#[tokio::test]
async fn every_page_of_an_owner_renders_in_chinese_without_console_errors() {
    every_page_of_an_owner(Language::Zh).await;
}

#[tokio::test]
async fn every_page_of_an_owner_renders_in_english_without_console_errors() {
    every_page_of_an_owner(Language::En).await;
}

#[tokio::test]
async fn the_language_switch_turns_the_console_to_the_other_language_and_keeps_it() {
    let Some((mut browser, _)) = with_member(Language::Zh, "switcher", "operator").await else {
        return;
    };
    sign_in(&mut browser, "switcher").await;
    browser.wait_for_text("今日概览").await;
    browser.click("[data-action=language]").await;
    browser.wait_for_text("Today").await;
    browser.goto("/console/orders").await;
    browser.wait_for_selector("[data-page=orders] h1").await;
    assert_eq!(browser.text_of("[data-page=orders] h1").await, "Orders");
    browser.finish().await;
}

#[tokio::test]
async fn a_wrong_password_is_refused_on_the_form_and_signs_nobody_in() {
    let Some((mut browser, _)) = with_member(Language::Zh, "careful", "owner").await else {
        return;
    };
    browser.goto("/console/").await;
    browser.wait_for_selector("form.sign-in").await;
    browser.fill("input[name=login]", "careful").await;
    browser.fill("input[name=password]", "not-the-password").await;
    browser.submit("form.sign-in").await;
    browser.wait_for_text("账号或密码不正确").await;
    browser.screenshot("refused").await;
    browser.goto("/console/orders").await;
    browser.wait_for_selector("form.sign-in").await;
    let errors = browser.take_console_errors().await;
    assert!(
        errors.len() == 1 && errors[0].contains("/v1/sessions") && errors[0].contains("401"),
        "the one error is the refused sign-in: {errors:?}"
    );
    browser.finish().await;
}

/// A live flash sale of the demo shop's first SKU: (sale id, units).
async fn live_sale(browser: &Browser, units: i64) -> i64 {
    let merchant = browser.server.token("MERCHANT").to_string();
    let (_, warehouses) = api(browser, "GET", "/v1/warehouses?limit=1", &merchant, None).await;
    let (_, products) = api(browser, "GET", "/v1/products?limit=1", &merchant, None).await;
    let now = jiff::Timestamp::now();
    let body = json!({
        "sku_id": products["items"][0]["skus"][0]["id"],
        "warehouse_id": warehouses["items"][0]["id"],
        "starts_at": now.checked_sub(jiff::SignedDuration::from_secs(1)).unwrap().to_string(),
        "ends_at": now.checked_add(jiff::SignedDuration::from_secs(3600)).unwrap().to_string(),
        "price_fen": 990,
        "units": units,
        "per_buyer_limit": units,
    });
    let (status, sale) = api(browser, "POST", "/v1/flash-sales", &merchant, Some(body)).await;
    assert_eq!(status, 201, "{sale}");
    sale["id"].as_i64().unwrap()
}

#[tokio::test]
async fn the_live_room_shows_each_tap_within_a_second() {
    let Some((mut browser, _)) = with_member(Language::Zh, "host", "operator").await else {
        return;
    };
    let sale = live_sale(&browser, 5).await;
    sign_in(&mut browser, "host").await;
    browser.goto(&format!("/console/live/{sale}")).await;
    browser.wait_for_selector("[data-live=connected]").await;
    let left = "[data-figure=units-left] .figure-value";
    browser
        .wait_until(
            "5 units left",
            &format!("return document.querySelector('{left}')?.textContent === '5'"),
        )
        .await;
    let buyer = browser.server.token("BUYER").to_string();
    for expected_left in [4, 3] {
        let (status, tapped) = api(
            &browser,
            "POST",
            &format!("/v1/flash-sales/{sale}/taps"),
            &buyer,
            Some(json!({})),
        )
        .await;
        assert_eq!(status, 201, "{tapped}");
        let tapped_at = std::time::Instant::now();
        browser
            .wait_until(
                &format!("{expected_left} units left"),
                &format!("return document.querySelector('{left}')?.textContent === '{expected_left}'"),
            )
            .await;
        let shown_after = tapped_at.elapsed();
        assert!(
            shown_after < std::time::Duration::from_millis(1_500),
            "shown after {shown_after:?}"
        );
    }
    assert_eq!(browser.text_of("[data-figure=orders] .figure-value").await, "2");
    browser.screenshot("live-room").await;
    browser.finish().await;
}

/// A paid order of the demo shop with no parcel yet, and its dispatch's warehouse.
async fn unshipped_paid_order(browser: &Browser) -> (i64, i64) {
    let merchant = browser.server.token("MERCHANT").to_string();
    let (_, orders) = api(browser, "GET", "/v1/orders?state=paid&limit=50", &merchant, None).await;
    for order in orders["items"].as_array().unwrap() {
        let id = order["id"].as_i64().unwrap();
        let (_, parcels) = api(browser, "GET", &format!("/v1/orders/{id}/shipments"), &merchant, None).await;
        let (status, dispatch) = api(browser, "GET", &format!("/v1/orders/{id}/dispatch"), &merchant, None).await;
        if parcels["items"].as_array().unwrap().is_empty()
            && status == 200
            && dispatch["parcels"].as_array().unwrap().len() == 1
        {
            return (id, dispatch["parcels"][0]["warehouse_id"].as_i64().unwrap());
        }
    }
    panic!("the demo has no paid, unshipped order of one parcel: {orders}");
}

#[tokio::test]
async fn an_operator_ships_and_refunds_an_order_from_its_page() {
    let Some((mut browser, _)) = with_member(Language::En, "packer", "owner").await else {
        return;
    };
    let (order, _) = unshipped_paid_order(&browser).await;
    sign_in(&mut browser, "packer").await;
    browser.goto(&format!("/console/orders/{order}")).await;
    browser.wait_for_selector("[data-action=ship]").await;
    browser.click("[data-action=ship]").await;
    browser.wait_for_text("Parcel ").await;
    let merchant = browser.server.token("MERCHANT").to_string();
    let (_, parcels) = api(
        &browser,
        "GET",
        &format!("/v1/orders/{order}/shipments"),
        &merchant,
        None,
    )
    .await;
    assert_eq!(
        parcels["items"].as_array().unwrap().len(),
        1,
        "one parcel handed over: {parcels}"
    );

    browser.fill("input[name=refund]", "1.50").await;
    browser.click("[data-action=refund]").await;
    browser.wait_for_text("Refunded ¥1.50").await;
    let (_, refunds) = api(&browser, "GET", &format!("/v1/orders/{order}/refunds"), &merchant, None).await;
    assert_eq!(refunds["items"][0]["amount_fen"], json!(150), "{refunds}");
    browser.screenshot("order-shipped-refunded").await;
    browser.finish().await;
}

#[tokio::test]
async fn an_owner_cancels_an_unpaid_order_and_decides_a_request_from_the_orders_page() {
    let Some((mut browser, shop)) = with_member(Language::En, "keeper", "owner").await else {
        return;
    };
    let merchant = browser.server.token("MERCHANT").to_string();
    let (_, products) = api(&browser, "GET", "/v1/products?limit=50", &merchant, None).await;
    let sku = products["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["shop_id"] == json!(shop))
        .map(|p| p["skus"][0]["id"].clone())
        .expect("the demo shop has a product");
    let buyer = browser.server.token("BUYER").to_string();
    let lines = json!({ "lines": [{ "sku_id": sku, "quantity": 1 }] });
    let (status, placed) = api(&browser, "POST", "/v1/checkouts", &buyer, Some(lines)).await;
    assert_eq!(status, 201, "{placed}");
    let unpaid = placed["orders"][0]["id"].as_i64().unwrap();
    sign_in(&mut browser, "keeper").await;
    browser.goto(&format!("/console/orders/{unpaid}")).await;
    browser.wait_for_selector("[data-action=cancel]").await;
    browser.eval("window.confirm = () => true; return true;").await;
    browser.click("[data-action=cancel]").await;
    browser.wait_for_text("Cancelled (by the shop)").await;
    let (_, order) = api(&browser, "GET", &format!("/v1/orders/{unpaid}"), &merchant, None).await;
    assert_eq!(order["cancel_reason"], json!("shop_cancelled"), "{order}");
    assert!(
        browser
            .eval("return document.querySelector('[data-action=cancel]') === null")
            .await
            == json!(true)
    );

    let (_, waiting) = api(&browser, "GET", "/v1/after-sales?stage=with_merchant", &merchant, None).await;
    let request = &waiting["items"][0];
    let (id, order) = (request["id"].as_i64().unwrap(), request["order_id"].as_i64().unwrap());
    browser.goto(&format!("/console/orders/{order}")).await;
    let card = format!("li[data-request='{id}']");
    browser
        .wait_for_selector(&format!("{card} [data-action=approve]"))
        .await;
    browser.click(&format!("{card} [data-action=approve]")).await;
    browser
        .wait_until(
            "the request is decided on the order's page",
            &format!("return document.querySelector(\"{card}\") !== null && document.querySelector(\"{card} [data-action=approve]\") === null"),
        )
        .await;
    let (_, after) = api(&browser, "GET", &format!("/v1/after-sales/{id}"), &merchant, None).await;
    assert_ne!(after["stage"], json!("with_merchant"), "{after}");
    browser.screenshot("order-cancelled-request-decided").await;
    browser.finish().await;
}

/// The open alert the package center raised on `order`'s parcel, once it is there (the shard
/// checks its parcels every 250 ms).
async fn alert_on(browser: &Browser, order: i64, merchant: &str) -> Value {
    for _ in 0..100 {
        let (_, alerts) = api(browser, "GET", "/v1/package-center/alerts?limit=50", merchant, None).await;
        let found = alerts["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["order_id"] == json!(order));
        if let Some(alert) = found {
            return alert.clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no alert was raised on order {order}'s parcel");
}

#[tokio::test]
async fn an_owner_works_a_package_center_alert_from_acknowledgement_to_resolution() {
    // Carriers in real time: the parcel is not picked up (which would resolve the alert by the
    // rules) while the owner works the alert; at the demo's pace it could be within seconds.
    let real_time = ["--carrier-minute-ms", "60000"];
    let Some((mut browser, _)) = with_member_serving(Language::En, ("dispatcher", "owner"), &real_time).await else {
        return;
    };
    let merchant = browser.server.token("MERCHANT").to_string();
    // Warn at 1 % of a minute without pickup: a parcel handed over now is late in 0.6 s.
    let rules = json!({ "not_picked_up_within_s": 60, "not_departed_within_s": 60,
                        "stalled_after_s": 60, "warn_at_percent": 1 });
    let (status, answer) = api(&browser, "PUT", "/v1/package-center/sla-rules", &merchant, Some(rules)).await;
    assert_eq!(status, 200, "{answer}");
    let (order, warehouse) = unshipped_paid_order(&browser).await;
    let parcel = json!({ "warehouse_id": warehouse });
    let path = format!("/v1/orders/{order}/shipments");
    let (status, answer) = api(&browser, "POST", &path, &merchant, Some(parcel)).await;
    assert_eq!(status, 201, "{answer}");
    let alert = alert_on(&browser, order, &merchant).await;
    assert_eq!(
        (alert["rule"].as_str(), alert["level"].as_str()),
        (Some("not_picked_up"), Some("warning"))
    );
    let id = alert["id"].as_str().unwrap().to_string();

    sign_in(&mut browser, "dispatcher").await;
    browser.goto("/console/package-center").await;
    let row = format!("tr[data-alert='{id}']");
    browser
        .wait_for_selector(&format!("{row} [data-action=acknowledge]"))
        .await;
    browser.click(&format!("{row} [data-action=acknowledge]")).await;
    browser
        .wait_for_selector(&format!("{row} [data-acknowledged=true]"))
        .await;
    browser.click(&format!("{row} [data-action=assign-me]")).await;
    browser
        .wait_for_selector(&format!("{row} [data-action=unassign]"))
        .await;
    // The note and the resolution are asked for with the browser's own prompt.
    browser
        .eval("window.prompt = () => '已催快递上门揽收'; return true;")
        .await;
    browser.click(&format!("{row} [data-action=note]")).await;
    browser.wait_for_text("Notes: 1").await;
    browser.screenshot("package-center-worked").await;
    browser.click(&format!("{row} [data-action=resolve]")).await;
    browser
        .wait_until(
            "the resolved alert leaves the open list",
            &format!("return document.querySelector(\"{row}\") === null"),
        )
        .await;

    let (_, all) = api(
        &browser,
        "GET",
        "/v1/package-center/alerts?state=all&limit=50",
        &merchant,
        None,
    )
    .await;
    let worked = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == json!(id))
        .unwrap();
    assert_eq!(worked["open"], json!(false), "{worked}");
    assert!(worked["acknowledged_at"].is_string(), "{worked}");
    assert_eq!(worked["notes"][0]["text"], json!("已催快递上门揽收"), "{worked}");
    assert_eq!(worked["resolution_note"], json!("已催快递上门揽收"), "{worked}");
    assert_eq!(worked["resolved_by"]["kind"], json!("staff"), "{worked}");
    assert_eq!(worked["assignee"], worked["resolved_by"]["staff_id"], "{worked}");
    browser.finish().await;
}

#[tokio::test]
async fn customer_service_is_refused_setting_stock_and_the_refusal_changes_nothing() {
    let Some((mut browser, _)) = with_member(Language::En, "helper", "customer_service").await else {
        return;
    };
    sign_in(&mut browser, "helper").await;
    assert!(
        !browser.text_of("nav.side").await.contains("Products"),
        "no products in the menu"
    );
    browser.goto("/console/products").await;
    browser.wait_for_selector("[data-action=set-stock]").await;
    let cell = browser
        .eval("return document.querySelector('[data-stock]').dataset.stock")
        .await;
    let (sku, warehouse) = cell
        .as_str()
        .unwrap()
        .split_once(':')
        .map(|(s, w)| (s.to_string(), w.to_string()))
        .unwrap();
    let merchant = browser.server.token("MERCHANT").to_string();
    let before = api(&browser, "GET", &format!("/v1/skus/{sku}/stock"), &merchant, None)
        .await
        .1;
    browser.fill("[data-stock] input", "7").await;
    browser.click("[data-action=set-stock]").await;
    browser.wait_for_text("Your role may not do this").await;
    let after = api(&browser, "GET", &format!("/v1/skus/{sku}/stock"), &merchant, None)
        .await
        .1;
    assert_eq!(before, after, "stock of SKU {sku} in warehouse {warehouse} unchanged");
    let errors = browser.take_console_errors().await;
    assert!(errors.iter().all(|e| e.contains("403")), "only the refusal: {errors:?}");
    browser.finish().await;
}

#[tokio::test]
async fn a_request_without_the_csrf_token_is_refused_even_with_the_session_cookie() {
    let Some((mut browser, _)) = with_member(Language::En, "target", "owner").await else {
        return;
    };
    sign_in(&mut browser, "target").await;
    let answer = browser
        .eval(
            "return (async () => { const r = await fetch('/v1/products', { method: 'POST', \
             credentials: 'same-origin', headers: { 'Content-Type': 'application/json', \
             'Idempotency-Key': 'csrf-probe' }, body: JSON.stringify({ title: 'forged', \
             skus: [{ name: 'x', price_fen: 100 }] }) }); return [r.status, (await r.json()).code]; })();",
        )
        .await;
    assert_eq!(answer, json!([403, "csrf_token_invalid"]));
    let merchant = browser.server.token("MERCHANT").to_string();
    let (_, found) = api(&browser, "GET", "/v1/products?q=forged", &merchant, None).await;
    assert_eq!(found["items"], json!([]), "nothing was made");
    let _ = browser.take_console_errors().await;
    browser.finish().await;
}

#[tokio::test]
async fn another_shops_order_is_not_found_in_the_console() {
    let Some((mut browser, shop)) = with_member(Language::En, "nosy", "owner").await else {
        return;
    };
    // The buyer orders from another shop.
    let admin = browser.server.token("ADMIN").to_string();
    let (_, products) = api(&browser, "GET", "/v1/products?limit=200", &admin, None).await;
    let product = products["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["shop_id"] != json!(shop))
        .expect("the demo has products of another shop");
    let buyer = browser.server.token("BUYER").to_string();
    let lines = json!({ "lines": [{ "sku_id": product["skus"][0]["id"], "quantity": 1 }] });
    let (status, placed) = api(&browser, "POST", "/v1/checkouts", &buyer, Some(lines)).await;
    assert_eq!(status, 201, "{placed}");
    let foreign = placed["orders"][0].clone();
    sign_in(&mut browser, "nosy").await;
    browser.goto(&format!("/console/orders/{}", foreign["id"])).await;
    browser.wait_for_text("No such page or object").await;
    assert!(
        !browser
            .page_text()
            .await
            .contains(foreign["address"]["detail"].as_str().unwrap())
    );
    let errors = browser.take_console_errors().await;
    assert!(
        errors.iter().all(|e| e.contains("404")),
        "only not-found answers: {errors:?}"
    );
    browser.finish().await;
}

#[tokio::test]
async fn an_owner_adds_a_member_and_sees_it_in_the_audit_log() {
    let Some((mut browser, shop)) = with_member(Language::Zh, "boss", "owner").await else {
        return;
    };
    sign_in(&mut browser, "boss").await;
    browser.goto("/console/staff").await;
    browser.wait_for_selector("form[data-form=new-staff]").await;
    browser
        .fill("form[data-form=new-staff] input[name=login]", "new.hire")
        .await;
    browser
        .fill("form[data-form=new-staff] input[name=name]", "新同事")
        .await;
    browser
        .fill("form[data-form=new-staff] input[name=password]", "a-long-password")
        .await;
    browser.submit("form[data-form=new-staff]").await;
    browser.wait_for_selector("tr[data-member='new.hire']").await;
    browser
        .wait_until(
            "the audit log names the new member's creation",
            "return [...document.querySelectorAll('table[data-table=audit] tr')].some(r => \
             r.textContent.includes('boss') && r.textContent.includes('POST /v1/staff') && r.textContent.includes('201'))",
        )
        .await;
    let merchant = browser.server.token("MERCHANT").to_string();
    let (_, staff) = api(
        &browser,
        "GET",
        &format!("/v1/staff?shop_id={shop}&limit=200"),
        &merchant,
        None,
    )
    .await;
    let hire = staff["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["login"] == "new.hire")
        .cloned();
    assert_eq!(
        hire.map(|m| m["role"].clone()),
        Some(json!("operator")),
        "the form offers operator first"
    );
    browser
        .wait_for_selector("table[data-table=sessions] tr[data-session]")
        .await;
    assert!(
        browser.text_of("table[data-table=sessions]").await.contains("boss"),
        "the owner's own session is listed"
    );
    browser.screenshot("staff-and-audit").await;
    browser.finish().await;
}

#[tokio::test]
async fn a_request_waiting_for_the_merchant_is_approved_from_the_after_sales_inbox() {
    let Some((mut browser, _)) = with_member(Language::Zh, "kefu", "customer_service").await else {
        return;
    };
    let merchant = browser.server.token("MERCHANT").to_string();
    let (_, waiting) = api(&browser, "GET", "/v1/after-sales?stage=with_merchant", &merchant, None).await;
    let request = waiting["items"][0]["id"]
        .as_i64()
        .expect("the demo has a request waiting for the merchant");
    sign_in(&mut browser, "kefu").await;
    browser.goto("/console/after-sales").await;
    let card = format!("li[data-request='{request}']");
    browser.wait_for_selector(&format!("{card} [data-deadline]")).await;
    browser.wait_for_text("待商家处理").await;
    browser.screenshot("inbox").await;
    browser.click(&format!("{card} [data-action=approve]")).await;
    browser
        .wait_until(
            "the request leaves the merchant's queue",
            &format!("return document.querySelector(\"{card}\") === null"),
        )
        .await;
    let (_, after) = api(&browser, "GET", &format!("/v1/after-sales/{request}"), &merchant, None).await;
    assert_ne!(after["stage"], json!("with_merchant"), "{after}");
    browser.finish().await;
}

#[tokio::test]
async fn a_platform_admin_sees_the_shops_the_days_reconciliation_and_the_webhooks() {
    let Some(mut browser) = Browser::start(Language::En).await else {
        return;
    };
    member(&browser, "ops", "platform_admin", None).await;
    sign_in(&mut browser, "ops").await;
    assert!(browser.text_of("nav.side").await.contains("Platform"));
    browser.goto("/console/platform").await;
    browser.wait_for_selector("table[data-table=shops] tr[data-shop]").await;
    browser.wait_for_selector("[data-balanced=true]").await;
    settled(&mut browser).await;
    assert!(
        browser
            .text_of("[data-figure=captured] .figure-value")
            .await
            .contains('¥')
    );
    browser.screenshot("platform").await;
    browser.goto("/console/compass").await;
    browser.wait_for_selector("[data-page=compass] h1").await;
    settled(&mut browser).await;
    browser.screenshot("platform-compass").await;
    browser.finish().await;
}

#[tokio::test]
async fn the_live_room_tops_a_sale_up_and_ends_it_early() {
    let Some((mut browser, _)) = with_member(Language::En, "anchor", "operator").await else {
        return;
    };
    let sale = live_sale(&browser, 5).await;
    sign_in(&mut browser, "anchor").await;
    browser.goto(&format!("/console/live/{sale}")).await;
    browser.wait_for_selector("[data-live=connected]").await;
    let left = "[data-figure=units-left] .figure-value";
    browser.fill("input[name=top-up-units]", "3").await;
    browser.click("[data-action=top-up]").await;
    browser
        .wait_until(
            "8 units left",
            &format!("return document.querySelector('{left}')?.textContent === '8'"),
        )
        .await;
    // The confirmation dialog is the browser's own: the test answers it yes.
    browser.eval("window.confirm = () => true; return true;").await;
    browser.click("[data-action=end-sale]").await;
    let buyer = browser.server.token("BUYER").to_string();
    let mut refused = (0, Value::Null);
    for _ in 0..50 {
        refused = api(
            &browser,
            "POST",
            &format!("/v1/flash-sales/{sale}/taps"),
            &buyer,
            Some(json!({})),
        )
        .await;
        if refused.0 == 409 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        (refused.0, refused.1["code"].clone()),
        (409, json!("ended")),
        "{}",
        refused.1
    );
    browser.screenshot("ended").await;
    browser.finish().await;
}

#[tokio::test]
async fn an_operator_changes_a_warehouses_capacity_and_cutoff_from_the_products_page() {
    let Some((mut browser, _)) = with_member(Language::Zh, "planner", "operator").await else {
        return;
    };
    let merchant = browser.server.token("MERCHANT").to_string();
    let (_, warehouses) = api(&browser, "GET", "/v1/warehouses?limit=1", &merchant, None).await;
    let warehouse = warehouses["items"][0]["id"].as_i64().unwrap();
    sign_in(&mut browser, "planner").await;
    browser.goto("/console/products").await;
    let form = format!("form[data-form='settings-{warehouse}']");
    browser.wait_for_selector(&form).await;
    browser.fill(&format!("{form} input[name=per-day]"), "12345").await;
    browser.fill(&format!("{form} input[name=cutoff-0]"), "21:30").await;
    browser.submit(&form).await;
    browser.wait_for_selector(&format!("{form} [data-saved=true]")).await;
    let (_, settings) = api(
        &browser,
        "GET",
        &format!("/v1/warehouses/{warehouse}/fulfillment"),
        &merchant,
        None,
    )
    .await;
    assert_eq!(settings["orders_per_day"], json!(12345), "{settings}");
    assert_eq!(settings["cutoffs"][0]["time"], json!("21:30"), "{settings}");
    browser.screenshot("warehouse-settings").await;
    browser.finish().await;
}

#[tokio::test]
async fn the_order_list_filters_searches_exports_and_ships_the_selected_orders() {
    let Some((mut browser, _)) = with_member(Language::En, "dispatcher", "operator").await else {
        return;
    };
    let (order, _) = unshipped_paid_order(&browser).await;
    sign_in(&mut browser, "dispatcher").await;
    browser.goto("/console/orders").await;
    browser.wait_for_selector("tr[data-order]").await;
    browser.fill("input[name=q]", &format!("#{order}")).await;
    browser.submit("form.filters").await;
    browser
        .wait_until(
            "only the searched order listed",
            &format!(
                "const rows = document.querySelectorAll('tbody tr[data-order]'); \
                      return rows.length === 1 && rows[0].dataset.order === '{order}';"
            ),
        )
        .await;
    let csv = browser
        .eval("return document.querySelector('[data-action=csv]').getAttribute('href')")
        .await;
    assert!(
        csv.as_str().unwrap().contains(&format!("q=%23{order}")),
        "the export keeps the filter: {csv}"
    );
    browser
        .click(&format!("tr[data-order='{order}'] input[type=checkbox]"))
        .await;
    browser.click("[data-action=ship-selected]").await;
    browser
        .wait_for_selector(&format!("li[data-order='{order}'][data-result=shipped]"))
        .await;
    let merchant = browser.server.token("MERCHANT").to_string();
    let (_, parcels) = api(
        &browser,
        "GET",
        &format!("/v1/orders/{order}/shipments"),
        &merchant,
        None,
    )
    .await;
    assert!(!parcels["items"].as_array().unwrap().is_empty(), "shipped: {parcels}");
    browser.screenshot("orders-shipped").await;
    browser.finish().await;
}

#[tokio::test]
async fn an_owner_sees_the_deposit_and_appeals_a_penalty_from_the_integrity_page() {
    let Some((mut browser, shop)) = with_member(Language::Zh, "zhang.owner", "owner").await else {
        return;
    };
    let admin = browser.server.token("ADMIN").to_string();
    let top_up = json!({ "amount_fen": 500_000, "note": "保证金" });
    let (status, _) = api(
        &browser,
        "POST",
        &format!("/v1/deposits/{shop}/entries"),
        &admin,
        Some(top_up),
    )
    .await;
    assert_eq!(status, 201);
    let cap = json!({ "shop_id": shop, "kind": "flash_units_cap", "units": 50, "reason": "秒杀缺货率过高" });
    let (status, penalty) = api(&browser, "POST", "/v1/penalties", &admin, Some(cap)).await;
    assert_eq!(status, 201, "{penalty}");
    let id = penalty["id"].as_i64().unwrap();
    sign_in(&mut browser, "zhang.owner").await;
    browser.goto("/console/integrity").await;
    browser
        .wait_for_selector("[data-page=integrity] [data-figure=deposit-balance]")
        .await;
    settled(&mut browser).await;
    let balance = browser.text_of("[data-figure=deposit-balance]").await;
    assert!(balance.contains("5,000.00"), "{balance}");
    let card = format!("li[data-penalty='{id}']");
    browser.wait_for_text("秒杀限量 50 件").await;
    browser.screenshot("integrity").await;
    browser
        .fill(&format!("{card} textarea[name=appeal-text]"), "缺货系仓库系统故障")
        .await;
    browser.click(&format!("{card} [data-action=appeal]")).await;
    browser
        .wait_until(
            "the penalty reads appealed",
            &format!("return document.querySelector(\"{card}\")?.dataset.state === 'appealed'"),
        )
        .await;
    browser.wait_for_text("申诉：缺货系仓库系统故障").await;
    let merchant = browser.server.token("MERCHANT").to_string();
    let (_, after) = api(&browser, "GET", &format!("/v1/penalties/{id}"), &merchant, None).await;
    assert_eq!(
        (&after["state"], &after["appeal_text"]),
        (&json!("appealed"), &json!("缺货系仓库系统故障"))
    );
    browser.finish().await;
}

/// Waits for the demo's delivered parcel to reach the compass: the promises report's first
/// carrier line with a delivery.
async fn a_carrier_line_with_a_delivery(browser: &Browser, merchant: &str) -> Value {
    for _ in 0..100 {
        let (status, report) = api(browser, "GET", "/v1/integrity/promises?days=30", merchant, None).await;
        assert_eq!(status, 200, "{report}");
        let delivered = report["carriers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["delivered"].as_i64().unwrap_or(0) > 0)
            .cloned();
        if let Some(line) = delivered {
            return line;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("the demo's delivered parcel never reached the compass's carrier figures");
}

#[tokio::test]
async fn an_owner_sees_promises_kept_per_warehouse_and_carrier_on_the_integrity_page() {
    let Some((mut browser, _)) = with_member(Language::En, "wang.owner", "owner").await else {
        return;
    };
    let merchant = browser.server.token("MERCHANT").to_string();
    let line = a_carrier_line_with_a_delivery(&browser, &merchant).await;
    let (warehouse, carrier) = (
        line["warehouse_id"].as_i64().unwrap(),
        line["carrier"].as_str().unwrap(),
    );
    sign_in(&mut browser, "wang.owner").await;
    browser.goto("/console/integrity").await;
    let row = format!("[data-table=promises-by-carrier] tr[data-promise='{warehouse}/{carrier}']");
    browser.wait_for_selector(&row).await;
    settled(&mut browser).await;
    let shown = browser.text_of(&format!("{row} [data-promise-kept]")).await;
    let kept = line["promise_kept_bps"].as_i64().unwrap();
    assert_eq!(shown, format!("{:.1}%", kept as f64 / 100.0), "{line}");
    let text = browser.text_of(&row).await;
    assert!(text.contains(carrier), "{text}");
    browser
        .wait_for_selector(&format!(
            "[data-table=promises-by-warehouse] tr[data-promise='{warehouse}']"
        ))
        .await;
    browser.wait_for_text("By warehouse and carrier service").await;
    browser.screenshot("integrity-promises").await;
    browser.finish().await;
}

/// Six new accounts tap `sale` from one device, each from its own flat: the ring's later taps
/// are refused and kept for review.
async fn a_ring_taps(browser: &Browser, sale: i64) {
    let admin = browser.server.token("ADMIN").to_string();
    for i in 0..6 {
        let address = json!({ "adcode": "310104000000", "detail": format!("漕溪北路{}号", 100 + i) });
        let body = json!({ "name": format!("号{i}"), "default_address": address });
        let (status, buyer) = api(browser, "POST", "/v1/buyers", &admin, Some(body)).await;
        assert_eq!(status, 201, "{buyer}");
        let id = buyer["id"].as_i64().unwrap();
        let path = format!("/v1/buyers/{id}/tokens");
        let (status, token) = api(browser, "POST", &path, &admin, Some(json!({}))).await;
        assert_eq!(status, 201, "{token}");
        let answer = reqwest::Client::new()
            .post(browser.url(&format!("/v1/flash-sales/{sale}/taps")))
            .bearer_auth(token["token"].as_str().unwrap())
            .header("Device-Id", "emulator-7f3a")
            .json(&json!({ "address": address }))
            .send()
            .await
            .unwrap();
        assert!(
            [201, 403, 428].contains(&answer.status().as_u16()),
            "tap {i}: {}",
            answer.status()
        );
    }
}

/// Chooses `value` in the `select` at `css`, as a person would (a change event).
async fn choose(browser: &mut Browser, css: &str, value: &str) {
    let script = format!(
        "const s = document.querySelector(\"{css}\"); s.value = '{value}'; \
         s.dispatchEvent(new Event('change', {{ bubbles: true }})); return true;"
    );
    browser.eval(&script).await;
}

#[tokio::test]
async fn a_platform_admin_reviews_a_refused_tap_from_the_risk_queue_in_chinese() {
    a_platform_admin_reviews_a_refused_tap_from_the_risk_queue(Language::Zh).await;
}

#[tokio::test]
async fn a_platform_admin_reviews_a_refused_tap_from_the_risk_queue_in_english() {
    a_platform_admin_reviews_a_refused_tap_from_the_risk_queue(Language::En).await;
}

async fn a_platform_admin_reviews_a_refused_tap_from_the_risk_queue(language: Language) {
    let Some(mut browser) = Browser::start(language).await else {
        return;
    };
    member(&browser, "risk.admin", "platform_admin", None).await;
    let sale = live_sale(&browser, 5).await;
    a_ring_taps(&browser, sale).await;
    let admin = browser.server.token("ADMIN").to_string();
    let path = format!("/v1/risk/decisions?flash_sale_id={sale}&review=open");
    let (_, open) = api(&browser, "GET", &path, &admin, None).await;
    let first = &open["items"][0];
    let id = first["id"].as_i64().expect("the ring's refusals are kept");

    sign_in(&mut browser, "risk.admin").await;
    browser.click("nav.side [data-nav=risk]").await;
    let row = format!("[data-table=risk-decisions] tr[data-decision='{id}']");
    browser.wait_for_selector(&row).await;
    settled(&mut browser).await;
    browser.click(&format!("{row} [data-action=open]")).await;
    let detail = format!("[data-detail='{id}']");
    browser
        .wait_for_selector(&format!("{detail} tr[data-rule=shared_device]"))
        .await;
    browser
        .wait_for_selector(&format!("{detail} [data-cluster] [data-linked-buyer]"))
        .await;
    let heading = if language == Language::Zh {
        "触发的规则"
    } else {
        "Rules that fired"
    };
    browser.wait_for_text(heading).await;
    browser.screenshot("risk-decision").await;

    choose(&mut browser, &format!("{detail} select[name=outcome]"), "confirmed").await;
    browser
        .fill(&format!("{detail} textarea[name=review-note]"), "同一设备六个新账号")
        .await;
    browser.click(&format!("{detail} [data-action=review]")).await;
    // Reviewed, it leaves the queue of open decisions.
    browser
        .wait_until(
            "the decision leaves the open queue",
            &format!("return document.querySelector(\"{row}\") === null"),
        )
        .await;
    let (_, reviewed) = api(
        &browser,
        "GET",
        &format!("/v1/risk/decisions?buyer_id={}", first["buyer_id"]),
        &admin,
        None,
    )
    .await;
    let reviewed = &reviewed["items"][0];
    assert_eq!(
        (&reviewed["id"], &reviewed["review"], &reviewed["review_note"]),
        (&json!(id), &json!("confirmed"), &json!("同一设备六个新账号"))
    );
    // The filter shows it among the confirmed ones.
    choose(
        &mut browser,
        "[data-form=risk-filters] select[name=review]",
        "confirmed",
    )
    .await;
    browser.click("[data-form=risk-filters] [data-action=filter]").await;
    browser
        .wait_for_selector(&format!("{row}[data-review=confirmed]"))
        .await;
    browser.screenshot("risk-confirmed").await;
    browser.finish().await;
}
