//! Payments over real HTTP, with faults injected into the provider (`simpay`): declines, lost
//! answers, slow answers, duplicate and late notifications, forged and replayed signatures,
//! concurrent confirmations and refunds, one-tap pay, and the daily reconciliation.
//!
//! After each scenario the books are checked against one oracle ([`assert_books_balance`]):
//! every order paid is paid by a capture, each intent is captured at most once at the
//! provider, the ledger's capture and refunds equal the provider's, and the money captured
//! equals the orders paid plus the shares of closed orders given back.
#![allow(clippy::unwrap_used)]

use crate::common;

use common::{Answer, Backend, TestApp, WALLET, eventually};
use miaodan_server::PaymentsConfig;
use serde_json::{Value, json};
use simpay::{EventData, EventType, Faults, credentials};
use std::collections::BTreeMap;
use std::time::Duration;

both_backends!(
    a_checkout_the_provider_cannot_charge_opens_no_payment_and_answers_no_server_error,
    a_one_shop_checkout_is_paid_by_one_capture_and_its_stock_is_sold,
    a_checkout_across_two_shards_is_paid_by_one_capture_and_every_order_is_paid,
    a_merchant_reads_only_its_own_shops_part_of_a_payment_intent,
    each_decline_is_a_402_with_its_code_and_a_retry_captures_exactly_once,
    a_lost_answer_leaves_the_payment_processing_until_the_worker_asks_and_never_charges_twice,
    a_lost_refund_answer_is_retried_under_its_reference_and_refunds_once,
    concurrent_confirmations_of_one_intent_capture_exactly_once,
    a_confirmation_with_an_idempotency_key_is_replayed_byte_for_byte,
    a_notification_is_applied_only_with_a_fresh_signature_of_its_exact_body,
    duplicate_and_late_notifications_are_applied_once,
    money_captured_for_an_order_cancelled_meanwhile_is_refunded_exactly_once,
    the_share_of_an_order_closed_in_another_shard_is_refunded_and_the_rest_stays_paid,
    a_confirmation_after_the_payment_deadline_is_declined_and_the_order_stays_cancelled,
    partial_refunds_add_up_to_the_order_total_and_each_key_refunds_once,
    concurrent_refunds_never_exceed_the_capture,
    one_tap_agreements_are_created_listed_replaced_and_revoked,
    one_tap_pay_is_captured_within_its_limits_and_refused_beyond_them,
    a_flash_tap_by_a_buyer_with_one_tap_pay_is_paid_in_the_background,
    the_reconciliation_balances_after_payments_and_refunds_and_lists_a_capture_the_ledger_lacks,
    an_intent_opened_before_a_failed_commit_is_paid_once_its_shard_rebuilt,
    bad_payment_input_is_refused_with_stable_problems_and_changes_nothing,
);

/// The longest any scenario waits for something that happens in the background.
const BACKGROUND_WAIT: Duration = Duration::from_secs(20);
/// How slow the provider is while a test does something between its capture and its answer.
const SLOW_PROVIDER_MS: u64 = 3_000;

// ---- the world ----------------------------------------------------------------------------

/// A shop with a merchant token, a warehouse and one SKU stocked with 100 units.
struct Shop {
    id: i64,
    merchant: String,
    warehouse: i64,
    sku: i64,
}

async fn shop(app: &TestApp, name: &str, price_fen: i64) -> Shop {
    let (id, merchant) = app.shop(name).await;
    let warehouse = app.warehouse(&merchant, "总仓", "330110000000").await;
    let sku = app.product(&merchant, &format!("{name}的爆款"), &[price_fen]).await[0];
    app.stock(&merchant, sku, warehouse, 100).await;
    Shop {
        id,
        merchant,
        warehouse,
        sku,
    }
}

/// Two shops whose orders are decided by different shards.
async fn shops_on_two_shards(app: &TestApp) -> (Shop, Shop) {
    let shard = |shop: &Shop| {
        app.state()
            .shards
            .shard_of(miaodan_domain::ShopId::new(shop.id).unwrap())
    };
    let first = shop(app, "川味小铺", 5990).await;
    for i in 0..8 {
        let other = shop(app, &format!("美妆店{i}"), 12900).await;
        if shard(&other) != shard(&first) {
            return (first, other);
        }
    }
    panic!("no two shops on different shards");
}

/// A checkout: its id, its orders' ids (in the order the payment lists them) and its total.
struct Placed {
    checkout: i64,
    orders: Vec<i64>,
    total: i64,
}

async fn checkout(app: &TestApp, buyer: &str, lines: &[(i64, i64)]) -> Placed {
    let placed = app.checkout(buyer, lines).await;
    let body = placed.assert_status(201);
    let mut orders: Vec<i64> = body["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_i64().unwrap())
        .collect();
    orders.sort_unstable();
    Placed {
        checkout: body["checkout_id"].as_i64().unwrap(),
        orders,
        total: body["total_fen"].as_i64().unwrap(),
    }
}

async fn open(app: &TestApp, buyer: &str, checkout: i64) -> Value {
    app.open_intent(buyer, checkout).await.assert_status(201).clone()
}

fn id(value: &Value) -> i64 {
    value["id"].as_i64().unwrap()
}

/// A platform whose in-process simpay sends no notifications: what the platform knows comes
/// from its own calls and from the payment worker only.
async fn spawn_without_webhooks(backend: Backend, adjust: impl FnOnce(&mut miaodan_server::Config)) -> TestApp {
    TestApp::spawn_with(backend, |config| {
        config.payments = PaymentsConfig::InProcessSimpay {
            seed: 7,
            faults: Faults::default(),
            webhooks: false,
        };
        adjust(config);
    })
    .await
}

async fn run_worker(app: &TestApp) {
    miaodan_server::flows::payments::worker::run_once(app.state())
        .await
        .unwrap();
}

fn confirm_in_background(app: &TestApp, buyer: &str, intent: i64, body: Value) -> tokio::task::JoinHandle<Answer> {
    let request = app
        .http
        .post(app.url(&format!("/v1/payment-intents/{intent}/confirm")))
        .bearer_auth(buyer)
        .json(&body);
    tokio::spawn(common::answer(request))
}

// ---- the provider's side ----------------------------------------------------------------

/// The intent a provider reference of ours names (`mdn-{shop}-{intent}-{attempt | r<refund>}`).
fn intent_of_reference(reference: &str) -> Option<i64> {
    let parts: Vec<&str> = reference.split('-').collect();
    match parts.as_slice() {
        ["mdn", _, intent, _] => intent.parse().ok(),
        _ => None,
    }
}

/// Every charge event simpay made about an intent's attempts, in order.
fn charge_events(simpay: &simpay::SimPay, intent: i64) -> Vec<(EventType, simpay::Charge)> {
    simpay
        .events()
        .into_iter()
        .filter_map(|event| match event.data {
            EventData::Charge(charge) if intent_of_reference(&charge.reference) == Some(intent) => {
                Some((event.kind, charge))
            }
            _ => None,
        })
        .collect()
}

/// The references under which the provider captured money for an intent.
fn captures(simpay: &simpay::SimPay, intent: i64) -> Vec<String> {
    charge_events(simpay, intent)
        .into_iter()
        .filter(|(kind, _)| *kind == EventType::ChargeCaptured)
        .map(|(_, charge)| charge.reference)
        .collect()
}

/// Every refund simpay made for an intent's charge.
fn refunds_at_provider(simpay: &simpay::SimPay, intent: i64) -> Vec<simpay::Refund> {
    simpay
        .events()
        .into_iter()
        .filter_map(|event| match event.data {
            EventData::Refund(refund) if intent_of_reference(&refund.reference) == Some(intent) => Some(refund),
            _ => None,
        })
        .collect()
}

/// The money invariants, on the platform's books and against the provider's (which must be
/// quiet: no fault, nothing in flight).
async fn assert_books_balance(app: &TestApp) {
    let audit = app.state().store.audit_payments().await.unwrap();
    assert_eq!(audit.paid_without_capture, 0, "{audit:?}");
    assert_eq!(audit.checkouts_with_two_intents, 0, "{audit:?}");
    assert_eq!(
        audit.captured_fen,
        audit.paid_orders_fen + audit.refunded_closed_orders_fen,
        "captured = paid orders + closed orders' shares given back: {audit:?}"
    );
    let simpay = app.simpay();
    let mut captured: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for event in simpay.events() {
        if let (EventType::ChargeCaptured, EventData::Charge(charge)) = (event.kind, &event.data)
            && let Some(intent) = intent_of_reference(&charge.reference)
        {
            captured.entry(intent).or_default().push(charge.reference.clone());
        }
    }
    let mut provider_captured = 0;
    for (intent, references) in &captured {
        assert_eq!(references.len(), 1, "intent {intent} captured twice: {references:?}");
        let charge = simpay.charge(&references[0]).await.unwrap().unwrap();
        let view = app.intent(*intent).await;
        assert_eq!(view["status"], "captured", "{view}");
        assert_eq!(view["charge"]["reference"], references[0], "{view}");
        assert_eq!(view["charge"]["captured_fen"], charge.captured_fen, "{view}");
        let refunds = view["refunds"].as_array().unwrap();
        assert!(
            refunds.iter().all(|r| r["status"] != "pending"),
            "a refund is still pending: {view}"
        );
        let refunded: i64 = refunds
            .iter()
            .filter(|r| r["status"] == "succeeded")
            .map(|r| r["amount_fen"].as_i64().unwrap())
            .sum();
        assert_eq!(refunded, charge.refunded_fen, "refunds of intent {intent}: {view}");
        provider_captured += charge.captured_fen;
    }
    assert_eq!(
        provider_captured, audit.captured_fen,
        "the provider's captures are the ledger's"
    );
}

// ---- paying -------------------------------------------------------------------------------

async fn a_one_shop_checkout_is_paid_by_one_capture_and_its_stock_is_sold(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = app.world().await;
    // Two units of the first SKU (from the fuller warehouse) and one of the second.
    let placed = checkout(&app, &w.buyer_token, &[(w.skus[0], 2), (w.skus[1], 1)]).await;
    assert_eq!(placed.total, 2 * 5990 + 10990);
    let order = placed.orders[0];

    let opened = open(&app, &w.buyer_token, placed.checkout).await;
    assert_eq!(
        (
            &opened["status"],
            &opened["amount_fen"],
            &opened["currency"],
            &opened["provider"]
        ),
        (
            &json!("requires_confirmation"),
            &json!(placed.total),
            &json!("CNY"),
            &json!("simpay")
        )
    );
    assert_eq!((&opened["attempts"], &opened["charge"]), (&json!(0), &Value::Null));
    assert_eq!(
        opened["orders"],
        json!([{ "order_id": order, "shop_id": w.shop, "amount_fen": placed.total, "settlement": "unpaid" }])
    );
    let intent = id(&opened);
    // One intent per checkout: asking again finds it.
    assert_eq!(id(&open(&app, &w.buyer_token, placed.checkout).await), intent);
    // Its buyer, the shop's merchant and an operator read it; another buyer does not.
    let path = format!("/v1/payment-intents/{intent}");
    for token in [&w.buyer_token, &w.merchant, &app.admin] {
        assert_eq!(app.get(&path, token).await.assert_status(200)["id"], intent);
    }
    let (_, stranger) = app.buyer("李四").await;
    app.get(&path, &stranger).await.assert_problem(404, "not_found");

    let paid = app
        .confirm(&w.buyer_token, intent, json!({ "credential": WALLET }))
        .await;
    let paid = paid.assert_status(200).clone();
    let reference = format!("mdn-{}-{intent}-1", w.shop);
    assert_eq!((&paid["status"], &paid["attempts"]), (&json!("captured"), &json!(1)));
    assert_eq!(paid["charge"]["reference"], reference);
    assert_eq!(
        (&paid["charge"]["authorized_fen"], &paid["charge"]["captured_fen"]),
        (&json!(placed.total), &json!(placed.total))
    );
    assert_eq!(paid["orders"][0]["settlement"], "paid");
    assert_eq!(app.intent(intent).await, paid, "the answer is the intent as stored");

    let order = app.order(order).await;
    assert_eq!(
        (&order["state"], &order["paid_by_payment_intent_id"]),
        (&json!("paid"), &json!(intent))
    );
    assert!(order["paid_at"].is_string(), "{order}");
    // Reserved in the fuller Chengdu warehouse, the units are sold from Shanghai, nearest the
    // buyer and holding the whole order: dispatch moved them in the commit of the capture.
    assert_eq!(app.level(&w.merchant, w.skus[0], w.warehouses[0]).await, (5, 0, 0));
    assert_eq!(app.level(&w.merchant, w.skus[1], w.warehouses[0]).await, (5, 0, 0));
    assert_eq!(app.level(&w.merchant, w.skus[0], w.warehouses[1]).await, (1, 0, 2));
    assert_eq!(app.level(&w.merchant, w.skus[1], w.warehouses[1]).await, (2, 0, 1));

    let simpay = app.simpay();
    let charge = simpay.charge(&reference).await.unwrap().unwrap();
    assert_eq!(
        (charge.status, charge.captured_fen, charge.credential.as_str()),
        (simpay::ChargeStatus::Captured, placed.total, WALLET)
    );
    assert_eq!(captures(&simpay, intent), vec![reference]);
    assert_eq!(charge_events(&simpay, intent).len(), 1, "one call charged once");
    assert_books_balance(&app).await;
    app.shutdown().await;
}

async fn a_checkout_across_two_shards_is_paid_by_one_capture_and_every_order_is_paid(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (first, second) = shops_on_two_shards(&app).await;
    let (_, buyer) = app.buyer("张三").await;
    let placed = checkout(&app, &buyer, &[(first.sku, 1), (second.sku, 2)]).await;
    assert_eq!(placed.orders.len(), 2);
    assert_eq!(placed.total, 5990 + 2 * 12900);

    let opened = open(&app, &buyer, placed.checkout).await;
    let shares: Vec<(i64, i64)> = opened["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["shop_id"].as_i64().unwrap(), o["amount_fen"].as_i64().unwrap()))
        .collect();
    assert_eq!(shares, vec![(first.id, 5990), (second.id, 2 * 12900)]);
    let intent = id(&opened);

    let paid = app.confirm(&buyer, intent, json!({ "credential": WALLET })).await;
    let paid = paid.assert_status(200).clone();
    assert_eq!(paid["status"], "captured");
    assert_eq!(paid["charge"]["captured_fen"], placed.total);
    // The order in the other shard is marked paid before the answer, not eventually.
    let settlements: Vec<&Value> = paid["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| &o["settlement"])
        .collect();
    assert_eq!(settlements, vec!["paid", "paid"]);
    for order in &placed.orders {
        let order = app.order(*order).await;
        assert_eq!(
            (&order["state"], &order["paid_by_payment_intent_id"]),
            (&json!("paid"), &json!(intent))
        );
    }
    assert_eq!(app.level(&first.merchant, first.sku, first.warehouse).await, (99, 0, 1));
    assert_eq!(
        app.level(&second.merchant, second.sku, second.warehouse).await,
        (98, 0, 2)
    );
    assert_eq!(captures(&app.simpay(), intent).len(), 1);
    assert_books_balance(&app).await;
    app.shutdown().await;
}

/// A checkout across two shops is one intent, but each shop's merchant reads only its own
/// part of it: its order, its share of the amount and of the charge, its refunds. The
/// buyer and operators read all of it; a merchant with no order in it reads nothing.
async fn a_merchant_reads_only_its_own_shops_part_of_a_payment_intent(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (first, second) = shops_on_two_shards(&app).await;
    let outsider = shop(&app, "路人店", 990).await;
    let (_, buyer) = app.buyer("张三").await;
    let placed = checkout(&app, &buyer, &[(first.sku, 1), (second.sku, 2)]).await;
    let intent = id(&app.pay_checkout(&buyer, placed.checkout).await);
    let second_order = app.order(placed.orders[1]).await;
    assert_eq!(second_order["shop_id"], json!(second.id));
    let refund = format!("/v1/orders/{}/refunds", placed.orders[1]);
    app.post_with_key(&refund, &second.merchant, "part", json!({ "amount_fen": 700 }))
        .await
        .assert_status(201);

    let path = format!("/v1/payment-intents/{intent}");
    let part = app.get(&path, &first.merchant).await.assert_status(200).clone();
    assert_eq!(part["shop_id"], json!(first.id));
    assert_eq!(part["amount_fen"], json!(5990));
    assert_eq!(part["charge"]["captured_fen"], json!(5990));
    assert_eq!(part["charge"]["authorized_fen"], json!(5990));
    let orders: Vec<(i64, i64)> = part["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["order_id"].as_i64().unwrap(), o["shop_id"].as_i64().unwrap()))
        .collect();
    assert_eq!(orders, vec![(placed.orders[0], first.id)]);
    assert_eq!(part["refunds"], json!([]));

    let other_part = app.get(&path, &second.merchant).await.assert_status(200).clone();
    assert_eq!(other_part["amount_fen"], json!(2 * 12900));
    assert_eq!(other_part["refunds"].as_array().unwrap().len(), 1);

    for whole in [&buyer, &app.admin] {
        let view = app.get(&path, whole).await.assert_status(200).clone();
        assert_eq!(view["shop_id"], Value::Null);
        assert_eq!(view["amount_fen"], json!(placed.total));
        assert_eq!(view["orders"].as_array().unwrap().len(), 2);
        assert_eq!(view["refunds"].as_array().unwrap().len(), 1);
    }
    app.get(&path, &outsider.merchant).await.assert_status(404);
    app.shutdown().await;
}

async fn each_decline_is_a_402_with_its_code_and_a_retry_captures_exactly_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = app.world().await;
    let placed = checkout(&app, &w.buyer_token, &[(w.skus[0], 1)]).await;
    let intent = id(&open(&app, &w.buyer_token, placed.checkout).await);
    let declines = [
        (credentials::INSUFFICIENT_FUNDS, "insufficient_funds"),
        (credentials::FRAUD, "suspected_fraud"),
        (credentials::EXPIRED, "expired_credential"),
    ];
    for (i, (credential, code)) in declines.into_iter().enumerate() {
        let declined = app
            .confirm(&w.buyer_token, intent, json!({ "credential": credential }))
            .await;
        declined.assert_problem(402, code);
        let stored = app.intent(intent).await;
        assert_eq!(
            (&stored["status"], &stored["decline_code"], &stored["attempts"]),
            (&json!("failed"), &json!(code), &json!(i + 1)),
            "{credential}"
        );
        assert_eq!(stored["charge"], Value::Null);
        let order = app.order(placed.orders[0]).await;
        assert_eq!(order["state"], "pending_payment", "a decline leaves the order to pay");
    }
    assert_eq!(app.level(&w.merchant, w.skus[0], w.warehouses[0]).await, (4, 1, 0));

    let paid = app
        .confirm(&w.buyer_token, intent, json!({ "credential": WALLET }))
        .await;
    let paid = paid.assert_status(200).clone();
    assert_eq!(
        (&paid["status"], &paid["attempts"], &paid["decline_code"]),
        (&json!("captured"), &json!(4), &Value::Null)
    );
    assert_eq!(paid["charge"]["reference"], format!("mdn-{}-{intent}-4", w.shop));
    // Confirming a paid intent shows it; it charges nothing.
    let again = app
        .confirm(&w.buyer_token, intent, json!({ "credential": WALLET }))
        .await;
    assert_eq!(again.assert_status(200), &paid);

    let simpay = app.simpay();
    let kinds: Vec<(EventType, String)> = charge_events(&simpay, intent)
        .into_iter()
        .map(|(kind, charge)| (kind, charge.reference))
        .collect();
    let reference = |attempt: i64| format!("mdn-{}-{intent}-{attempt}", w.shop);
    assert_eq!(
        kinds,
        vec![
            (EventType::ChargeDeclined, reference(1)),
            (EventType::ChargeDeclined, reference(2)),
            (EventType::ChargeDeclined, reference(3)),
            (EventType::ChargeCaptured, reference(4)),
        ]
    );
    assert_eq!(app.order(placed.orders[0]).await["state"], "paid");
    assert_books_balance(&app).await;
    app.shutdown().await;
}

async fn a_lost_answer_leaves_the_payment_processing_until_the_worker_asks_and_never_charges_twice(backend: Backend) {
    let app = spawn_without_webhooks(backend, |_| {}).await;
    let w = app.world().await;
    let placed = checkout(&app, &w.buyer_token, &[(w.skus[0], 1)]).await;
    let intent = id(&open(&app, &w.buyer_token, placed.checkout).await);

    // The provider charges, and the answer is lost: the outcome is unknown, not a failure.
    let unknown = app
        .confirm(&w.buyer_token, intent, json!({ "credential": credentials::TIMEOUT }))
        .await;
    let unknown = unknown.assert_status(202).clone();
    assert_eq!(
        (&unknown["status"], &unknown["attempts"], &unknown["charge"]),
        (&json!("processing"), &json!(1), &Value::Null)
    );
    let reference = format!("mdn-{}-{intent}-1", w.shop);
    let simpay = app.simpay();
    assert_eq!(captures(&simpay, intent), vec![reference.clone()], "the money did move");
    assert_eq!(app.order(placed.orders[0]).await["state"], "pending_payment");

    // Meanwhile the buyer tries again: no second charge is started (the worker may already
    // have found the first one, in which case the intent shows it).
    let retried = app
        .confirm(&w.buyer_token, intent, json!({ "credential": WALLET }))
        .await;
    match retried.status.as_u16() {
        409 => retried.assert_problem(409, "payment_intent_state"),
        _ => assert_eq!(retried.assert_status(200)["charge"]["reference"], reference),
    }

    run_worker(&app).await;
    let resolved = app.intent(intent).await;
    assert_eq!(
        (&resolved["status"], &resolved["attempts"]),
        (&json!("captured"), &json!(1))
    );
    assert_eq!(resolved["charge"]["reference"], reference);
    let order = app.order(placed.orders[0]).await;
    assert_eq!(
        (&order["state"], &order["paid_by_payment_intent_id"]),
        (&json!("paid"), &json!(intent))
    );
    assert_eq!(charge_events(&simpay, intent).len(), 1, "never a second charge");
    run_worker(&app).await;
    assert_eq!(app.intent(intent).await, resolved, "a resolved payment stays as it is");
    assert_books_balance(&app).await;
    app.shutdown().await;
}

async fn a_lost_refund_answer_is_retried_under_its_reference_and_refunds_once(backend: Backend) {
    let app = spawn_without_webhooks(backend, |_| {}).await;
    let w = app.world().await;
    let placed = checkout(&app, &w.buyer_token, &[(w.skus[0], 1)]).await;
    let intent = id(&app.pay_checkout(&w.buyer_token, placed.checkout).await);
    let simpay = app.simpay();
    // Every answer of the provider is lost from now on; the calls themselves are carried out.
    simpay.set_faults(Faults {
        timeout_percent: 100,
        ..Faults::default()
    });
    let path = format!("/v1/orders/{}/refunds", placed.orders[0]);
    let refund = app.post(&path, &w.merchant, json!({ "amount_fen": 1000 })).await;
    let refund = refund.assert_status(201).clone();
    assert_eq!(
        (&refund["status"], &refund["amount_fen"], &refund["reason"]),
        (&json!("pending"), &json!(1000), &json!("requested"))
    );
    let at_provider = refunds_at_provider(&simpay, intent);
    assert_eq!(at_provider.len(), 1, "the provider did refund: {at_provider:?}");
    // While answers stay lost, the worker asks again under the same reference: still one refund.
    run_worker(&app).await;
    assert_eq!(refunds_at_provider(&simpay, intent).len(), 1);

    simpay.set_faults(Faults::default());
    run_worker(&app).await;
    let refunds = app.get(&path, &w.merchant).await;
    let refunds = refunds.assert_status(200)["items"].as_array().unwrap().clone();
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0]["id"], refund["id"]);
    assert_eq!(refunds[0]["status"], "succeeded");
    assert_eq!(refunds[0]["provider_refund_id"], json!(at_provider[0].id));
    let refunded = refunds_at_provider(&simpay, intent);
    assert_eq!(refunded.len(), 1, "refunded once: {refunded:?}");
    assert_eq!(refunded[0].amount_fen, 1000);
    assert_books_balance(&app).await;
    app.shutdown().await;
}

async fn concurrent_confirmations_of_one_intent_capture_exactly_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = app.world().await;
    let placed = checkout(&app, &w.buyer_token, &[(w.skus[1], 1)]).await;
    let intent = id(&open(&app, &w.buyer_token, placed.checkout).await);
    // A slow provider keeps the first attempt in flight while the others arrive.
    let simpay = app.simpay();
    simpay.set_faults(Faults {
        latency_ms: 300,
        ..Faults::default()
    });
    let confirmations = (0..8).map(|_| app.confirm(&w.buyer_token, intent, json!({ "credential": WALLET })));
    let answers = futures::future::join_all(confirmations).await;
    simpay.set_faults(Faults::default());
    let reference = format!("mdn-{}-{intent}-1", w.shop);
    let mut captured = 0;
    for answer in &answers {
        match answer.status.as_u16() {
            200 => {
                captured += 1;
                assert_eq!(answer.body["status"], "captured", "{}", answer.raw);
                assert_eq!(answer.body["charge"]["reference"], reference, "{}", answer.raw);
            }
            _ => answer.assert_problem(409, "payment_in_progress"),
        }
    }
    assert!(captured >= 1, "someone saw the capture: {answers:?}");
    assert_eq!(captures(&simpay, intent), vec![reference.clone()]);
    assert_eq!(
        charge_events(&simpay, intent).len(),
        1,
        "one attempt reached the provider"
    );
    // And later ones only show it.
    let later = app
        .confirm(&w.buyer_token, intent, json!({ "credential": credentials::FRAUD }))
        .await;
    assert_eq!(later.assert_status(200)["charge"]["reference"], reference);
    assert_eq!(app.intent(intent).await["attempts"], 1);
    assert_eq!(charge_events(&simpay, intent).len(), 1);
    assert_books_balance(&app).await;
    app.shutdown().await;
}

async fn a_confirmation_with_an_idempotency_key_is_replayed_byte_for_byte(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = app.world().await;
    let placed = checkout(&app, &w.buyer_token, &[(w.skus[0], 1)]).await;
    let intent = id(&open(&app, &w.buyer_token, placed.checkout).await);
    let path = format!("/v1/payment-intents/{intent}/confirm");
    let fraud = json!({ "credential": credentials::FRAUD });
    let wallet = json!({ "credential": WALLET });

    let declined = app.post_with_key(&path, &w.buyer_token, "pay-1", fraud.clone()).await;
    declined.assert_problem(402, "suspected_fraud");
    let paid = app.post_with_key(&path, &w.buyer_token, "pay-2", wallet.clone()).await;
    assert_eq!(paid.assert_status(200)["status"], "captured");
    assert!(!paid.replayed);
    for (key, body, first) in [("pay-1", &fraud, &declined), ("pay-2", &wallet, &paid)] {
        // The first answer to a key, a decline included, is the answer to its every retry.
        let again = app.post_with_key(&path, &w.buyer_token, key, body.clone()).await;
        assert!(again.replayed, "{key}");
        assert_eq!(
            (again.status, &again.content_type, &again.raw),
            (first.status, &first.content_type, &first.raw),
            "{key}: replayed byte for byte"
        );
    }
    app.post_with_key(&path, &w.buyer_token, "pay-2", fraud.clone())
        .await
        .assert_problem(422, "idempotency_key_reused");
    // Keys are the buyer's own: another buyer's "pay-2" is another request.
    let (_, other) = app.buyer("李四").await;
    let theirs = checkout(&app, &other, &[(w.skus[0], 1)]).await;
    let their_intent = id(&open(&app, &other, theirs.checkout).await);
    let their_path = format!("/v1/payment-intents/{their_intent}/confirm");
    let their_answer = app.post_with_key(&their_path, &other, "pay-2", wallet.clone()).await;
    assert!(!their_answer.replayed);
    assert_eq!(their_answer.assert_status(200)["id"], their_intent);

    // Sixteen concurrent requests with one key confirm once and replay to the rest.
    let third = checkout(&app, &w.buyer_token, &[(w.skus[1], 1)]).await;
    let third_intent = id(&open(&app, &w.buyer_token, third.checkout).await);
    let third_path = format!("/v1/payment-intents/{third_intent}/confirm");
    let attempts = (0..16).map(|_| app.post_with_key(&third_path, &w.buyer_token, "pay-3", wallet.clone()));
    let answers = futures::future::join_all(attempts).await;
    assert_eq!(answers.iter().filter(|a| !a.replayed).count(), 1, "executed once");
    for answer in &answers {
        assert_eq!(answer.assert_status(200)["status"], "captured");
        assert_eq!(answer.raw, answers[0].raw);
    }

    let simpay = app.simpay();
    for intent in [intent, their_intent, third_intent] {
        assert_eq!(captures(&simpay, intent).len(), 1, "intent {intent}");
    }
    assert_eq!(charge_events(&simpay, intent).len(), 2, "one decline, one capture");
    assert_eq!(charge_events(&simpay, third_intent).len(), 1);
    assert_books_balance(&app).await;
    app.shutdown().await;
}

// ---- notifications ------------------------------------------------------------------------

async fn post_notification(app: &TestApp, body: &[u8], signature: Option<String>) -> Answer {
    let mut request = app
        .http
        .post(app.url("/v1/webhooks/simpay"))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(signature) = signature {
        request = request.header(simpay::SIGNATURE_HEADER, signature);
    }
    app.send(request).await
}

fn unix_seconds() -> i64 {
    jiff::Timestamp::now().as_second()
}

async fn notification_outcomes(app: &TestApp) -> Vec<(String, i64)> {
    app.state().store.notification_outcomes().await.unwrap()
}

/// A notification as delivered: what the case is, the body, its `Simpay-Signature` header, and
/// the status and code it must get.
type Delivery<'a> = (&'a str, &'a [u8], Option<String>, u16, &'a str);

async fn a_notification_is_applied_only_with_a_fresh_signature_of_its_exact_body(backend: Backend) {
    let app = TestApp::spawn_with_remote_simpay(backend, |_| {}).await;
    let simpay = app.simpay();
    // The test delivers this provider's notifications itself.
    simpay.set_webhook_url(None);
    let secret = app.webhook_secret().unwrap();
    let w = app.world().await;
    let placed = checkout(&app, &w.buyer_token, &[(w.skus[0], 1)]).await;
    let intent = id(&open(&app, &w.buyer_token, placed.checkout).await);
    // The provider charged attempt 1 and the platform never heard the answer (it crashed, say):
    // the notification is its only news of the money.
    let reference = format!("mdn-{}-{intent}-1", w.shop);
    let charge = simpay
        .authorize(simpay::AuthorizeRequest {
            reference: reference.clone(),
            amount_fen: placed.total,
            credential: WALLET.into(),
            capture: true,
            expires_at_ms: None,
        })
        .await
        .unwrap();
    let event = simpay.events().pop().unwrap();
    assert_eq!(event.kind, EventType::ChargeCaptured);
    let body = serde_json::to_vec(&event).unwrap();
    let mut tampered = event.clone();
    if let EventData::Charge(charge) = &mut tampered.data {
        charge.amount_fen += 1;
        charge.captured_fen += 1;
    }
    let tampered = serde_json::to_vec(&tampered).unwrap();
    let sign = |at: i64, over: &[u8]| Some(simpay::signature::sign(secret, at, over));

    let untouched = app.intent(intent).await;
    let cases: Vec<Delivery> = vec![
        ("unsigned", &body, None, 401, "missing_signature"),
        ("garbled", &body, Some("sha256=abc".into()), 401, "malformed_signature"),
        (
            "another secret",
            &body,
            Some(simpay::signature::sign(b"guessed", unix_seconds(), &body)),
            401,
            "bad_signature",
        ),
        (
            "another body",
            &tampered,
            sign(unix_seconds(), &body),
            401,
            "bad_signature",
        ),
        (
            "signed 10 minutes ago",
            &body,
            sign(unix_seconds() - 600, &body),
            401,
            "stale_signature",
        ),
        (
            "signed 10 minutes ahead",
            &body,
            sign(unix_seconds() + 600, &body),
            401,
            "stale_signature",
        ),
        (
            "signed but no event",
            b"{}",
            sign(unix_seconds(), b"{}"),
            422,
            "malformed_notification",
        ),
    ];
    for (case, sent, signature, status, code) in cases {
        let refused = post_notification(&app, sent, signature).await;
        assert_eq!(refused.status.as_u16(), status, "{case}: {}", refused.raw);
        assert_eq!(refused.code(), code, "{case}");
        assert_eq!(refused.content_type, "application/problem+json", "{case}");
        assert_eq!(app.intent(intent).await, untouched, "{case} changed the intent");
    }
    assert_eq!(notification_outcomes(&app).await, vec![], "nothing refused is logged");
    assert_eq!(app.order(placed.orders[0]).await["state"], "pending_payment");

    // The same notification, signed now (or a few minutes ago), is the provider's word.
    let applied = post_notification(&app, &body, sign(unix_seconds(), &body)).await;
    assert_eq!(applied.assert_status(200), &json!({ "status": "applied" }));
    let captured = app.intent(intent).await;
    assert_eq!(
        (&captured["status"], &captured["attempts"]),
        (&json!("captured"), &json!(1))
    );
    assert_eq!(
        (
            &captured["charge"]["reference"],
            &captured["charge"]["provider_charge_id"]
        ),
        (&json!(reference), &json!(charge.id))
    );
    let order = app.order(placed.orders[0]).await;
    assert_eq!(
        (&order["state"], &order["paid_by_payment_intent_id"]),
        (&json!("paid"), &json!(intent))
    );
    for at in [unix_seconds(), unix_seconds() - 240] {
        let again = post_notification(&app, &body, sign(at, &body)).await;
        assert_eq!(again.assert_status(200), &json!({ "status": "duplicate" }));
    }
    assert_eq!(app.intent(intent).await, captured, "a duplicate changes nothing");
    assert_eq!(notification_outcomes(&app).await, vec![("applied".to_string(), 1)]);
    // The buyer, who never saw an answer, confirms again: the payment is shown, not repeated.
    let confirmed = app
        .confirm(&w.buyer_token, intent, json!({ "credential": WALLET }))
        .await;
    assert_eq!(confirmed.assert_status(200)["charge"]["reference"], reference);
    assert_eq!(charge_events(&simpay, intent).len(), 1);
    assert_books_balance(&app).await;
    app.shutdown().await;
}

async fn duplicate_and_late_notifications_are_applied_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let simpay = app.simpay();
    // Every event is delivered twice, each copy after its own random delay: out of order.
    simpay.set_faults(Faults {
        duplicate_percent: 100,
        max_notify_delay_ms: 400,
        ..Faults::default()
    });
    let (first, second) = shops_on_two_shards(&app).await;
    let (_, buyer) = app.buyer("张三").await;
    let one_shop = checkout(&app, &buyer, &[(first.sku, 1)]).await;
    let one_shop_intent = id(&open(&app, &buyer, one_shop.checkout).await);
    app.confirm(&buyer, one_shop_intent, json!({ "credential": credentials::FRAUD }))
        .await
        .assert_problem(402, "suspected_fraud");
    let paid = app
        .confirm(&buyer, one_shop_intent, json!({ "credential": WALLET }))
        .await;
    assert_eq!(paid.assert_status(200)["status"], "captured");
    let two_shops = checkout(&app, &buyer, &[(first.sku, 1), (second.sku, 1)]).await;
    let two_shops_intent = id(&app.pay_checkout(&buyer, two_shops.checkout).await);
    let refunds = format!("/v1/orders/{}/refunds", one_shop.orders[0]);
    for amount in [1000, 500] {
        let refund = app
            .post(&refunds, &first.merchant, json!({ "amount_fen": amount }))
            .await;
        assert_eq!(refund.assert_status(201)["status"], "succeeded");
    }
    let intents = [one_shop_intent, two_shops_intent];
    let mut answered = Vec::new();
    for intent in intents {
        answered.push(app.intent(intent).await);
    }

    let stats = eventually(BACKGROUND_WAIT, "every notification delivered", || {
        let simpay = &simpay;
        async move {
            let stats = simpay.delivery_stats();
            (stats.pending == 0).then_some(stats)
        }
    })
    .await;
    let events = simpay.events().len() as u64;
    assert_eq!(events, 5, "a decline, 2 captures, 2 refunds");
    assert_eq!(
        (stats.gave_up, stats.duplicates_sent, stats.delivered),
        (0, events, 2 * events),
        "every copy acknowledged: {stats:?}"
    );
    // One log row per event, each applied; nothing conflicted with the ledger.
    assert_eq!(
        notification_outcomes(&app).await,
        vec![("applied".to_string(), events as i64)]
    );
    for (intent, before) in intents.iter().zip(&answered) {
        assert_eq!(
            &app.intent(*intent).await,
            before,
            "late copies changed intent {intent}"
        );
    }
    let refunded: Vec<i64> = refunds_at_provider(&simpay, one_shop_intent)
        .iter()
        .map(|r| r.amount_fen)
        .collect();
    assert_eq!(refunded, vec![1000, 500], "no refund twice");
    for order in one_shop.orders.iter().chain(&two_shops.orders) {
        assert_eq!(app.order(*order).await["state"], "paid");
    }
    simpay.set_faults(Faults::default());
    assert_books_balance(&app).await;
    app.shutdown().await;
}

// ---- money that arrives for a closed order ------------------------------------------------

/// Confirms `intent` while the provider is slow and cancels `order` (as its buyer) after the
/// provider has captured but before its answer reaches the platform; returns the answer.
async fn confirm_while_cancelling(app: &TestApp, buyer: &str, intent: i64, order: i64) -> Answer {
    let simpay = app.simpay();
    simpay.set_faults(Faults {
        latency_ms: SLOW_PROVIDER_MS,
        ..Faults::default()
    });
    let confirming = confirm_in_background(app, buyer, intent, json!({ "credential": WALLET }));
    eventually(BACKGROUND_WAIT, "the provider's capture", || {
        let simpay = &simpay;
        async move { (!captures(simpay, intent).is_empty()).then_some(()) }
    })
    .await;
    // Calls already made keep their latency; later ones (the refund) are quick.
    simpay.set_faults(Faults::default());
    let cancelled = app.post(&format!("/v1/orders/{order}/cancel"), buyer, json!({})).await;
    assert_eq!(
        cancelled.assert_status(200)["state"],
        "cancelled",
        "cancelled while the provider's answer is on its way"
    );
    tokio::time::timeout(BACKGROUND_WAIT, confirming)
        .await
        .expect("the confirmation answers")
        .unwrap()
}

async fn money_captured_for_an_order_cancelled_meanwhile_is_refunded_exactly_once(backend: Backend) {
    // A simpay of the test's own keeps its books across the restart below; it notifies nobody.
    let mut app = TestApp::spawn_with_remote_simpay(backend, |_| {}).await;
    let simpay = app.simpay();
    simpay.set_webhook_url(None);
    let w = app.world().await;
    let placed = checkout(&app, &w.buyer_token, &[(w.skus[0], 1)]).await;
    let order = placed.orders[0];
    let intent = id(&open(&app, &w.buyer_token, placed.checkout).await);

    let answer = confirm_while_cancelling(&app, &w.buyer_token, intent, order).await;
    let paid = answer.assert_status(200).clone();
    assert_eq!(paid["status"], "captured");
    assert_eq!(paid["orders"][0]["settlement"], "refunded");
    let refunds = paid["refunds"].as_array().unwrap();
    assert_eq!(refunds.len(), 1, "{paid}");
    assert_eq!(
        (
            &refunds[0]["order_id"],
            &refunds[0]["amount_fen"],
            &refunds[0]["reason"],
            &refunds[0]["status"]
        ),
        (
            &json!(order),
            &json!(placed.total),
            &json!("order_closed"),
            &json!("succeeded")
        )
    );
    let closed = app.order(order).await;
    assert_eq!(
        (
            &closed["state"],
            &closed["cancel_reason"],
            &closed["paid_by_payment_intent_id"]
        ),
        (&json!("cancelled"), &json!("buyer_cancelled"), &Value::Null)
    );
    assert_eq!(app.level(&w.merchant, w.skus[0], w.warehouses[0]).await, (5, 0, 0));

    // Neither the worker nor a restart gives it back a second time.
    run_worker(&app).await;
    app.restart().await;
    run_worker(&app).await;
    assert_eq!(app.intent(intent).await["refunds"], paid["refunds"]);
    let refunded = refunds_at_provider(&simpay, intent);
    assert_eq!(refunded.len(), 1, "{refunded:?}");
    assert_eq!(refunded[0].amount_fen, placed.total);
    assert_eq!(app.order(order).await["state"], "cancelled");
    assert_books_balance(&app).await;
    app.shutdown().await;
}

async fn the_share_of_an_order_closed_in_another_shard_is_refunded_and_the_rest_stays_paid(backend: Backend) {
    let app = spawn_without_webhooks(backend, |_| {}).await;
    let (first, second) = shops_on_two_shards(&app).await;
    let (_, buyer) = app.buyer("张三").await;
    let placed = checkout(&app, &buyer, &[(first.sku, 1), (second.sku, 1)]).await;
    let opened = open(&app, &buyer, placed.checkout).await;
    let intent = id(&opened);
    // The intent lives with its first order; the second order is another shard's.
    let (home, remote) = (&opened["orders"][0], &opened["orders"][1]);
    assert_eq!(home["shop_id"], first.id);
    let remote_order = remote["order_id"].as_i64().unwrap();

    let answer = confirm_while_cancelling(&app, &buyer, intent, remote_order).await;
    let paid = answer.assert_status(200).clone();
    assert_eq!(paid["status"], "captured");
    assert_eq!(paid["charge"]["captured_fen"], placed.total);
    let settlements: Vec<&Value> = paid["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| &o["settlement"])
        .collect();
    assert_eq!(settlements, vec!["paid", "refunded"]);
    let refunds = paid["refunds"].as_array().unwrap();
    assert_eq!(refunds.len(), 1, "{paid}");
    assert_eq!(
        (
            &refunds[0]["order_id"],
            &refunds[0]["amount_fen"],
            &refunds[0]["reason"],
            &refunds[0]["status"]
        ),
        (
            &json!(remote_order),
            &remote["amount_fen"],
            &json!("order_closed"),
            &json!("succeeded")
        )
    );
    let home_order = app.order(home["order_id"].as_i64().unwrap()).await;
    assert_eq!(
        (&home_order["state"], &home_order["paid_by_payment_intent_id"]),
        (&json!("paid"), &json!(intent))
    );
    let remote_order = app.order(remote_order).await;
    assert_eq!(
        (&remote_order["state"], &remote_order["paid_by_payment_intent_id"]),
        (&json!("cancelled"), &Value::Null)
    );
    assert_eq!(app.level(&first.merchant, first.sku, first.warehouse).await, (99, 0, 1));
    assert_eq!(
        app.level(&second.merchant, second.sku, second.warehouse).await,
        (100, 0, 0)
    );
    run_worker(&app).await;
    let simpay = app.simpay();
    let refunded: Vec<i64> = refunds_at_provider(&simpay, intent)
        .iter()
        .map(|r| r.amount_fen)
        .collect();
    assert_eq!(refunded, vec![12900], "the closed share, once");
    assert_books_balance(&app).await;
    app.shutdown().await;
}

async fn a_confirmation_after_the_payment_deadline_is_declined_and_the_order_stays_cancelled(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.payment_timeout_seconds = 2).await;
    let w = app.world().await;
    let placed = checkout(&app, &w.buyer_token, &[(w.skus[0], 1)]).await;
    let order = placed.orders[0];
    let intent = id(&open(&app, &w.buyer_token, placed.checkout).await);
    eventually(BACKGROUND_WAIT, "the unpaid order's expiry", || {
        let app = &app;
        async move { (app.order(order).await["state"] == "cancelled").then_some(()) }
    })
    .await;
    assert_eq!(app.level(&w.merchant, w.skus[0], w.warehouses[0]).await, (5, 0, 0));

    // The intent still takes an attempt (answers already on their way may land), but the
    // provider refuses to charge past the deadline the charge carries.
    let late = app
        .confirm(&w.buyer_token, intent, json!({ "credential": WALLET }))
        .await;
    late.assert_problem(402, "request_expired");
    let simpay = app.simpay();
    assert_eq!(captures(&simpay, intent), Vec::<String>::new());
    assert_eq!(charge_events(&simpay, intent).len(), 1, "one declined attempt");
    let expired = app.order(order).await;
    assert_eq!(
        (
            &expired["state"],
            &expired["cancel_reason"],
            &expired["paid_by_payment_intent_id"]
        ),
        (&json!("cancelled"), &json!("payment_timeout"), &Value::Null)
    );
    assert_eq!(app.intent(intent).await["decline_code"], "request_expired");
    assert_eq!(app.level(&w.merchant, w.skus[0], w.warehouses[0]).await, (5, 0, 0));
    assert_books_balance(&app).await;
    app.shutdown().await;
}

// ---- refunds ------------------------------------------------------------------------------

async fn partial_refunds_add_up_to_the_order_total_and_each_key_refunds_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = app.world().await;
    let placed = checkout(&app, &w.buyer_token, &[(w.skus[0], 1)]).await;
    let order = placed.orders[0];
    let intent = id(&app.pay_checkout(&w.buyer_token, placed.checkout).await);
    let path = format!("/v1/orders/{order}/refunds");
    let simpay = app.simpay();

    let first = app
        .post_with_key(&path, &w.merchant, "refund-1", json!({ "amount_fen": 1000 }))
        .await;
    let first_refund = first.assert_status(201).clone();
    assert_eq!(
        (
            &first_refund["payment_intent_id"],
            &first_refund["order_id"],
            &first_refund["amount_fen"]
        ),
        (&json!(intent), &json!(order), &json!(1000))
    );
    assert_eq!(
        (&first_refund["reason"], &first_refund["status"]),
        (&json!("requested"), &json!("succeeded"))
    );
    assert!(first_refund["provider_refund_id"].is_string(), "{first_refund}");
    let again = app
        .post_with_key(&path, &w.merchant, "refund-1", json!({ "amount_fen": 1000 }))
        .await;
    assert!(again.replayed);
    assert_eq!((again.status, &again.raw), (first.status, &first.raw));
    app.post_with_key(&path, &w.merchant, "refund-1", json!({ "amount_fen": 2000 }))
        .await
        .assert_problem(422, "idempotency_key_reused");
    assert_eq!(refunds_at_provider(&simpay, intent).len(), 1, "one key, one refund");

    // An operator refunds too; the order's share bounds them all.
    app.post(&path, &app.admin, json!({ "amount_fen": 4000 }))
        .await
        .assert_status(201);
    let too_much = app.post(&path, &w.merchant, json!({ "amount_fen": 991 })).await;
    too_much.assert_problem(409, "refund_exceeds_captured");
    assert_eq!(too_much.body["field"], "amount_fen");
    app.post(&path, &w.merchant, json!({ "amount_fen": 990 }))
        .await
        .assert_status(201);
    // Nothing is left; a refused refund is the answer to its key, too.
    let refused = app
        .post_with_key(&path, &w.merchant, "refund-4", json!({ "amount_fen": 1 }))
        .await;
    refused.assert_problem(409, "refund_exceeds_captured");
    let replayed = app
        .post_with_key(&path, &w.merchant, "refund-4", json!({ "amount_fen": 1 }))
        .await;
    assert!(replayed.replayed);
    assert_eq!((replayed.status, &replayed.raw), (refused.status, &refused.raw));

    // A buyer does not refund; another shop's merchant sees no such order.
    app.post(&path, &w.buyer_token, json!({ "amount_fen": 1 }))
        .await
        .assert_problem(403, "forbidden");
    let (_, other_merchant) = app.shop("别家店").await;
    app.post(&path, &other_merchant, json!({ "amount_fen": 1 }))
        .await
        .assert_problem(404, "not_found");
    let unpaid = checkout(&app, &w.buyer_token, &[(w.skus[1], 1)]).await;
    app.post(
        &format!("/v1/orders/{}/refunds", unpaid.orders[0]),
        &w.merchant,
        json!({ "amount_fen": 1 }),
    )
    .await
    .assert_problem(409, "order_not_paid");

    for token in [&w.merchant, &w.buyer_token, &app.admin] {
        let listed = app.get(&path, token).await;
        let amounts: Vec<&Value> = listed.assert_status(200)["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| &r["amount_fen"])
            .collect();
        assert_eq!(amounts, vec![1000, 4000, 990]);
    }
    // A refund gives money back; the order stays paid (after-sales decide about the goods).
    assert_eq!(app.order(order).await["state"], "paid");
    let charge = simpay
        .charge(&format!("mdn-{}-{intent}-1", w.shop))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(charge.refunded_fen, 5990);
    assert_eq!(refunds_at_provider(&simpay, intent).len(), 3);
    assert_books_balance(&app).await;
    app.shutdown().await;
}

async fn concurrent_refunds_never_exceed_the_capture(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = app.world().await;
    let placed = checkout(&app, &w.buyer_token, &[(w.skus[0], 1)]).await;
    let order = placed.orders[0];
    let intent = id(&app.pay_checkout(&w.buyer_token, placed.checkout).await);
    let path = format!("/v1/orders/{order}/refunds");
    // Six refunds of 2 000 fen against 5 990 captured: two fit.
    let requests = (0..6).map(|_| app.post(&path, &w.merchant, json!({ "amount_fen": 2000 })));
    let answers = futures::future::join_all(requests).await;
    let granted = answers.iter().filter(|a| a.status == 201).count();
    for refused in answers.iter().filter(|a| a.status != 201) {
        refused.assert_problem(409, "refund_exceeds_captured");
    }
    assert_eq!(granted, 2, "{answers:?}");
    app.post(&path, &w.merchant, json!({ "amount_fen": 1990 }))
        .await
        .assert_status(201);
    app.post(&path, &w.merchant, json!({ "amount_fen": 1 }))
        .await
        .assert_problem(409, "refund_exceeds_captured");
    let refunded: i64 = refunds_at_provider(&app.simpay(), intent)
        .iter()
        .map(|r| r.amount_fen)
        .sum();
    assert_eq!(refunded, 5990);
    assert_books_balance(&app).await;
    app.shutdown().await;
}

// ---- one-tap pay --------------------------------------------------------------------------

async fn agree(app: &TestApp, buyer: &str, credential: &str, per_order: i64, per_day: i64) -> Value {
    let body = json!({ "credential": credential, "per_order_limit_fen": per_order, "per_day_limit_fen": per_day });
    app.post("/v1/one-tap-agreements", buyer, body)
        .await
        .assert_status(201)
        .clone()
}

async fn spent_today(app: &TestApp, buyer: &str) -> i64 {
    let agreements = app.get("/v1/one-tap-agreements", buyer).await;
    agreements.assert_status(200)["items"][0]["spent_today_fen"]
        .as_i64()
        .unwrap()
}

async fn one_tap_agreements_are_created_listed_replaced_and_revoked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, buyer) = app.buyer("张三").await;
    let created = app
        .post(
            "/v1/one-tap-agreements",
            &buyer,
            json!({ "credential": "sim-one-tap-wallet-7788", "per_order_limit_fen": 10_000, "per_day_limit_fen": 15_000 }),
        )
        .await;
    let first = created.assert_status(201).clone();
    assert!(
        !created.raw.contains("wallet-7788"),
        "the credential is not shown: {}",
        created.raw
    );
    assert_eq!(
        (&first["provider"], &first["credential_hint"]),
        (&json!("simpay"), &json!("7788"))
    );
    assert_eq!(
        (
            &first["per_order_limit_fen"],
            &first["per_day_limit_fen"],
            &first["spent_today_fen"],
            &first["revoked_at"]
        ),
        (&json!(10_000), &json!(15_000), &json!(0), &Value::Null)
    );
    let listed = app.get("/v1/one-tap-agreements", &buyer).await;
    assert_eq!(
        listed.assert_status(200),
        &json!({ "items": [first], "next_cursor": null })
    );

    // A new agreement replaces the old one.
    let second = agree(&app, &buyer, "sim-one-tap-wallet-9900", 5_000, 5_000).await;
    let listed = app.get("/v1/one-tap-agreements", &buyer).await;
    let listed = listed.assert_status(200)["items"].as_array().unwrap().clone();
    assert_eq!(
        listed.iter().map(id).collect::<Vec<_>>(),
        vec![id(&second), id(&first)],
        "newest first"
    );
    assert!(
        listed[1]["revoked_at"].is_string(),
        "the old one is revoked: {listed:?}"
    );
    assert_eq!(listed[0]["revoked_at"], Value::Null);

    // Another buyer neither sees nor revokes it.
    let (_, stranger) = app.buyer("李四").await;
    let theirs = app.get("/v1/one-tap-agreements", &stranger).await;
    assert_eq!(theirs.assert_status(200)["items"], json!([]));
    let path = format!("/v1/one-tap-agreements/{}", id(&second));
    app.send(app.http.delete(app.url(&path)).bearer_auth(&stranger))
        .await
        .assert_problem(404, "not_found");

    let revoked = app.send(app.http.delete(app.url(&path)).bearer_auth(&buyer)).await;
    let revoked = revoked.assert_status(200).clone();
    assert!(revoked["revoked_at"].is_string(), "{revoked}");
    let again = app.send(app.http.delete(app.url(&path)).bearer_auth(&buyer)).await;
    assert_eq!(again.assert_status(200), &revoked, "revoking twice answers the same");

    // Without an agreement in force, one-tap pay is refused and the intent stays payable.
    let w = app.world().await;
    let placed = checkout(&app, &buyer, &[(w.skus[0], 1)]).await;
    let intent = id(&open(&app, &buyer, placed.checkout).await);
    app.confirm(&buyer, intent, json!({ "one_tap": true }))
        .await
        .assert_problem(409, "no_one_tap_agreement");
    let stored = app.intent(intent).await;
    assert_eq!(
        (&stored["status"], &stored["attempts"]),
        (&json!("requires_confirmation"), &json!(0))
    );
    assert_eq!(charge_events(&app.simpay(), intent).len(), 0);
    app.shutdown().await;
}

async fn one_tap_pay_is_captured_within_its_limits_and_refused_beyond_them(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = app.world().await;
    let (cheap, dear) = (w.skus[0], w.skus[1]); // 5 990 and 10 990 fen
    let credential = "sim-one-tap-wallet-1";
    agree(&app, &w.buyer_token, credential, 10_000, 15_000).await;
    let simpay = app.simpay();
    let one_tap = json!({ "one_tap": true });

    let placed = checkout(&app, &w.buyer_token, &[(cheap, 1)]).await;
    let intent = id(&open(&app, &w.buyer_token, placed.checkout).await);
    let paid = app.confirm(&w.buyer_token, intent, one_tap.clone()).await;
    assert_eq!(paid.assert_status(200)["status"], "captured");
    let charge = simpay
        .charge(&format!("mdn-{}-{intent}-1", w.shop))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        charge.credential, credential,
        "charged under the agreement's credential"
    );
    assert_eq!(spent_today(&app, &w.buyer_token).await, 5990);

    // Over the per-order limit: refused, nothing charged, and a credential still pays it.
    let placed = checkout(&app, &w.buyer_token, &[(dear, 1)]).await;
    let intent = id(&open(&app, &w.buyer_token, placed.checkout).await);
    app.confirm(&w.buyer_token, intent, one_tap.clone())
        .await
        .assert_problem(409, "one_tap_per_order_limit");
    assert_eq!(app.intent(intent).await["status"], "requires_confirmation");
    assert_eq!(charge_events(&simpay, intent).len(), 0);
    app.confirm(&w.buyer_token, intent, json!({ "credential": WALLET }))
        .await
        .assert_status(200);
    assert_eq!(
        spent_today(&app, &w.buyer_token).await,
        5990,
        "a credential is not one-tap"
    );

    // Within the day's limit once more (11 980), then over it (17 970 > 15 000).
    let placed = checkout(&app, &w.buyer_token, &[(cheap, 1)]).await;
    let intent = id(&open(&app, &w.buyer_token, placed.checkout).await);
    app.confirm(&w.buyer_token, intent, one_tap.clone())
        .await
        .assert_status(200);
    let placed = checkout(&app, &w.buyer_token, &[(cheap, 1)]).await;
    let over = id(&open(&app, &w.buyer_token, placed.checkout).await);
    app.confirm(&w.buyer_token, over, one_tap.clone())
        .await
        .assert_problem(409, "one_tap_per_day_limit");
    assert_eq!(charge_events(&simpay, over).len(), 0);
    assert_eq!(spent_today(&app, &w.buyer_token).await, 11_980);

    // A declined one-tap payment gives its share of the day back.
    let (_, broke) = app.buyer("李四").await;
    agree(&app, &broke, credentials::INSUFFICIENT_FUNDS, 10_000, 10_000).await;
    let placed = checkout(&app, &broke, &[(cheap, 1)]).await;
    let declined = id(&open(&app, &broke, placed.checkout).await);
    for _ in 0..2 {
        app.confirm(&broke, declined, one_tap.clone())
            .await
            .assert_problem(402, "insufficient_funds");
        assert_eq!(spent_today(&app, &broke).await, 0);
    }
    assert_books_balance(&app).await;
    app.shutdown().await;
}

async fn a_flash_tap_by_a_buyer_with_one_tap_pay_is_paid_in_the_background(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = app.world().await;
    let sale = app
        .post(
            "/v1/flash-sales",
            &w.merchant,
            json!({
                "sku_id": w.skus[0], "warehouse_id": w.warehouses[0],
                "starts_at": (jiff::Timestamp::now() - jiff::SignedDuration::from_secs(1)).to_string(),
                "ends_at": (jiff::Timestamp::now() + jiff::SignedDuration::from_secs(3600)).to_string(),
                "price_fen": 990, "units": 2, "per_buyer_limit": 1,
            }),
        )
        .await;
    let sale = id(sale.assert_status(201));
    let tap = |buyer: String| {
        let request = app
            .http
            .post(app.url(&format!("/v1/flash-sales/{sale}/taps")))
            .bearer_auth(buyer);
        app.send(request)
    };
    // A buyer without an agreement taps first: the order waits for a confirmation.
    let waiting = tap(w.buyer_token.clone()).await;
    let waiting = waiting.assert_status(201)["order"]["id"].as_i64().unwrap();
    let (_, fan) = app.buyer("粉丝").await;
    let credential = "sim-one-tap-fan";
    agree(&app, &fan, credential, 1_000, 5_000).await;
    let tapped = tap(fan.clone()).await;
    let tapped = tapped.assert_status(201).clone();
    assert_eq!(tapped["order"]["state"], "pending_payment", "the tap answers at once");
    let order = tapped["order"]["id"].as_i64().unwrap();

    let paid = eventually(BACKGROUND_WAIT, "the one-tap payment of the tapped order", || {
        let app = &app;
        async move {
            let order = app.order(order).await;
            (order["state"] == "paid").then_some(order)
        }
    })
    .await;
    let intent = app.intent(paid["paid_by_payment_intent_id"].as_i64().unwrap()).await;
    assert_eq!(
        (&intent["status"], &intent["one_tap"], &intent["amount_fen"]),
        (&json!("captured"), &json!(true), &json!(990))
    );
    assert_eq!(intent["buyer_id"], tapped["order"]["buyer_id"]);
    let reference = intent["charge"]["reference"].as_str().unwrap();
    let charge = app.simpay().charge(reference).await.unwrap().unwrap();
    assert_eq!(charge.credential, credential);
    assert_eq!(spent_today(&app, &fan).await, 990);
    // The sale's two units: one sold, one still held by the waiting order.
    assert_eq!(app.level(&w.merchant, w.skus[0], w.warehouses[0]).await, (3, 1, 1));
    assert_eq!(app.order(waiting).await["state"], "pending_payment");
    assert_books_balance(&app).await;
    app.shutdown().await;
}

// ---- reconciliation -----------------------------------------------------------------------

/// Waits past midnight in Asia/Shanghai if it is less than a minute away, so that everything a
/// test pays falls on one settlement day.
async fn clear_of_shanghai_midnight() {
    let now_ms = jiff::Timestamp::now().as_millisecond();
    let left_ms = 86_400_000 - (now_ms + 8 * 3_600_000).rem_euclid(86_400_000);
    if left_ms < 60_000 {
        tokio::time::sleep(Duration::from_millis(left_ms as u64 + 1_000)).await;
    }
}

fn shanghai_today() -> String {
    simpay::calendar::shanghai_day(jiff::Timestamp::now().as_millisecond())
}

async fn the_reconciliation_balances_after_payments_and_refunds_and_lists_a_capture_the_ledger_lacks(backend: Backend) {
    clear_of_shanghai_midnight().await;
    // Without notifications: one would pay the order this test cancels before it is cancelled.
    let app = spawn_without_webhooks(backend, |_| {}).await;
    let (first, second) = shops_on_two_shards(&app).await;
    let (_, buyer) = app.buyer("张三").await;
    // A one-shop payment, after a decline; a two-shop payment; a partial refund; and money
    // for an order cancelled while it was being paid, given back by itself.
    let one_shop = checkout(&app, &buyer, &[(first.sku, 2)]).await;
    let intent = id(&open(&app, &buyer, one_shop.checkout).await);
    app.confirm(&buyer, intent, json!({ "credential": credentials::EXPIRED }))
        .await
        .assert_problem(402, "expired_credential");
    app.confirm(&buyer, intent, json!({ "credential": WALLET }))
        .await
        .assert_status(200);
    let two_shops = checkout(&app, &buyer, &[(first.sku, 1), (second.sku, 1)]).await;
    app.pay_checkout(&buyer, two_shops.checkout).await;
    app.post(
        &format!("/v1/orders/{}/refunds", one_shop.orders[0]),
        &first.merchant,
        json!({ "amount_fen": 1000 }),
    )
    .await
    .assert_status(201);
    let closed = checkout(&app, &buyer, &[(second.sku, 1)]).await;
    let closed_intent = id(&open(&app, &buyer, closed.checkout).await);
    let answer = confirm_while_cancelling(&app, &buyer, closed_intent, closed.orders[0]).await;
    assert_eq!(answer.assert_status(200)["orders"][0]["settlement"], "refunded");
    assert_books_balance(&app).await;

    let day = shanghai_today();
    let path = format!("/v1/reconciliation?date={day}");
    let report = app.get(&path, &app.admin).await;
    let report = report.assert_status(200).clone();
    let captured = one_shop.total + two_shops.total + closed.total;
    let paid = one_shop.total + two_shops.total;
    assert_eq!(
        report,
        json!({
            "date": day,
            "provider": "simpay",
            "captures": 3,
            "captured_fen": captured,
            "refunds": 2,
            "refunded_fen": 1000 + closed.total,
            "net_fen": captured - 1000 - closed.total,
            "paid_orders": 3,
            "paid_orders_fen": paid,
            "paid_orders_refunded_fen": 1000,
            "orders_net_fen": paid - 1000,
            "provider_captured_fen": captured,
            "provider_refunded_fen": 1000 + closed.total,
            "balanced": true,
            "mismatches": [],
        })
    );
    assert_eq!(
        app.get("/v1/reconciliation", &app.admin).await.body,
        report,
        "today by default"
    );

    // Money the provider took under one of our references that the ledger never heard of.
    let foreign = "mdn-1-999999-1";
    app.simpay()
        .authorize(simpay::AuthorizeRequest {
            reference: foreign.into(),
            amount_fen: 1234,
            credential: WALLET.into(),
            capture: true,
            expires_at_ms: None,
        })
        .await
        .unwrap();
    let report = app.get(&path, &app.admin).await;
    let report = report.assert_status(200).clone();
    assert_eq!(report["balanced"], false);
    assert_eq!(
        (&report["captured_fen"], &report["provider_captured_fen"]),
        (&json!(captured), &json!(captured + 1234))
    );
    let mismatches = report["mismatches"].as_array().unwrap();
    assert_eq!(mismatches.len(), 1, "{report}");
    assert_eq!(
        (&mismatches[0]["kind"], &mismatches[0]["reference"]),
        (&json!("capture_missing_in_ledger"), &json!(foreign))
    );
    // Only operators read it.
    for token in [&buyer, &first.merchant] {
        app.get(&path, token).await.assert_problem(403, "forbidden");
    }
    app.shutdown().await;
}

// ---- bad input ----------------------------------------------------------------------------

/// Everything the payment endpoints and the provider show about the given objects.
async fn payment_state(app: &TestApp, intents: &[i64], orders: &[i64], buyers: &[&String]) -> Value {
    let mut seen = Vec::new();
    for intent in intents {
        seen.push(app.intent(*intent).await);
    }
    for order in orders {
        seen.push(app.order(*order).await);
        let refunds = app.get(&format!("/v1/orders/{order}/refunds"), &app.admin).await;
        seen.push(refunds.assert_status(200).clone());
    }
    for buyer in buyers {
        seen.push(
            app.get("/v1/one-tap-agreements", buyer)
                .await
                .assert_status(200)
                .clone(),
        );
    }
    seen.push(json!(app.simpay().events().len()));
    seen.push(json!(notification_outcomes(app).await));
    Value::Array(seen)
}

async fn bad_payment_input_is_refused_with_stable_problems_and_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = app.world().await;
    let (buyer, merchant, admin) = (&w.buyer_token, &w.merchant, &app.admin);
    let (_, stranger) = app.buyer("李四").await;
    let (_, other_merchant) = app.shop("别家店").await;
    let paid = checkout(&app, buyer, &[(w.skus[0], 1)]).await;
    let paid_intent = id(&app.pay_checkout(buyer, paid.checkout).await);
    let unpaid = checkout(&app, buyer, &[(w.skus[1], 1)]).await;
    let open_intent = id(&open(&app, buyer, unpaid.checkout).await);
    let agreement = id(&agree(&app, &stranger, "sim-one-tap-stranger", 100, 100).await);

    let post = reqwest::Method::POST;
    let confirm = format!("/v1/payment-intents/{open_intent}/confirm");
    let refund = format!("/v1/orders/{}/refunds", paid.orders[0]);
    let none = Value::Null;
    #[rustfmt::skip]
    let cases: Vec<(reqwest::Method, String, &String, Value, u16, &str)> = vec![
        (post.clone(), "/v1/payment-intents".into(), buyer, json!({}), 400, "missing_field"),
        (post.clone(), "/v1/payment-intents".into(), buyer, json!({ "checkout_id": "1" }), 400, "wrong_type"),
        (post.clone(), "/v1/payment-intents".into(), buyer, json!({ "checkout_id": -1 }), 422, "invalid_field"),
        (post.clone(), "/v1/payment-intents".into(), buyer, json!({ "checkout_id": 999_999 }), 404, "not_found"),
        (post.clone(), "/v1/payment-intents".into(), &stranger, json!({ "checkout_id": unpaid.checkout }), 404, "not_found"),
        (post.clone(), "/v1/payment-intents".into(), merchant, json!({ "checkout_id": unpaid.checkout }), 403, "forbidden"),
        (post.clone(), confirm.clone(), buyer, json!({}), 422, "invalid_field"),
        (post.clone(), confirm.clone(), buyer, json!({ "credential": 5 }), 400, "wrong_type"),
        (post.clone(), confirm.clone(), buyer, json!({ "credential": "" }), 422, "invalid_field"),
        (post.clone(), confirm.clone(), buyer, json!({ "credential": WALLET, "one_tap": true }), 422, "invalid_field"),
        (post.clone(), confirm.clone(), buyer, json!({ "one_tap": true }), 409, "no_one_tap_agreement"),
        (post.clone(), confirm.clone(), &stranger, json!({ "credential": WALLET }), 404, "not_found"),
        (post.clone(), confirm.clone(), admin, json!({ "credential": WALLET }), 403, "forbidden"),
        (post.clone(), "/v1/payment-intents/999999/confirm".into(), buyer, json!({ "credential": WALLET }), 404, "not_found"),
        (post.clone(), "/v1/payment-intents/-1/confirm".into(), buyer, json!({ "credential": WALLET }), 400, "invalid_id"),
        (post.clone(), refund.clone(), merchant, json!({ "amount_fen": -1 }), 422, "invalid_amount"),
        (post.clone(), refund.clone(), merchant, json!({ "amount_fen": 0 }), 422, "invalid_amount"),
        (post.clone(), refund.clone(), merchant, json!({ "amount_fen": "5" }), 400, "wrong_type"),
        (post.clone(), refund.clone(), merchant, json!({ "amount_fen": 1.5 }), 400, "wrong_type"),
        (post.clone(), refund.clone(), merchant, json!({ "amount_fen": 5991 }), 409, "refund_exceeds_captured"),
        (post.clone(), refund.clone(), buyer, json!({ "amount_fen": 1 }), 403, "forbidden"),
        (post.clone(), refund.clone(), &other_merchant, json!({ "amount_fen": 1 }), 404, "not_found"),
        (post.clone(), format!("/v1/orders/{}/refunds", unpaid.orders[0]), merchant, json!({ "amount_fen": 1 }), 409, "order_not_paid"),
        (post.clone(), "/v1/orders/999999/refunds".into(), merchant, json!({ "amount_fen": 1 }), 404, "not_found"),
        (post.clone(), "/v1/one-tap-agreements".into(), buyer, json!({ "credential": "c", "per_order_limit_fen": -5, "per_day_limit_fen": 10 }), 422, "invalid_amount"),
        (post.clone(), "/v1/one-tap-agreements".into(), buyer, json!({ "credential": "c", "per_order_limit_fen": 10, "per_day_limit_fen": 5 }), 422, "invalid_amount"),
        (post.clone(), "/v1/one-tap-agreements".into(), merchant, json!({ "credential": "c", "per_order_limit_fen": 10, "per_day_limit_fen": 10 }), 403, "forbidden"),
        (reqwest::Method::DELETE, format!("/v1/one-tap-agreements/{agreement}"), buyer, none.clone(), 404, "not_found"),
        (reqwest::Method::DELETE, "/v1/one-tap-agreements/abc".into(), buyer, none.clone(), 400, "invalid_id"),
        (reqwest::Method::GET, format!("/v1/payment-intents/{paid_intent}"), &stranger, none.clone(), 404, "not_found"),
        (reqwest::Method::GET, format!("/v1/payment-intents/{paid_intent}"), &other_merchant, none.clone(), 404, "not_found"),
        (reqwest::Method::GET, "/v1/payment-intents/abc".into(), admin, none.clone(), 400, "invalid_id"),
        (reqwest::Method::GET, format!("/v1/orders/{}/refunds", paid.orders[0]), &stranger, none.clone(), 404, "not_found"),
        (reqwest::Method::GET, "/v1/reconciliation?date=2026-02-30".into(), admin, none.clone(), 422, "invalid_field"),
        (reqwest::Method::GET, "/v1/reconciliation".into(), buyer, none.clone(), 403, "forbidden"),
    ];
    let intents = [paid_intent, open_intent];
    let orders = [paid.orders[0], unpaid.orders[0]];
    let before = payment_state(&app, &intents, &orders, &[buyer, &stranger]).await;
    for (method, path, token, body, status, code) in cases {
        let mut request = app.http.request(method.clone(), app.url(&path)).bearer_auth(token);
        if !body.is_null() {
            request = request.json(&body);
        }
        let answer = app.send(request).await;
        assert_eq!(answer.status.as_u16(), status, "{method} {path} {body}: {}", answer.raw);
        assert_eq!(answer.code(), code, "{method} {path} {body}");
        assert_eq!(answer.content_type, "application/problem+json", "{method} {path}");
    }
    // Garbage at the webhook, unsigned or signed with a guess, is refused before it is read.
    for (signature, code) in [
        (None, "missing_signature"),
        (Some("t=1700000000,v1=00".to_string()), "bad_signature"),
        (
            Some(simpay::signature::sign(b"guess", unix_seconds(), b"{")),
            "bad_signature",
        ),
    ] {
        post_notification(&app, b"{", signature).await.assert_problem(401, code);
    }
    assert_eq!(
        payment_state(&app, &intents, &orders, &[buyer, &stranger]).await,
        before,
        "a refused request changed something"
    );
    assert_books_balance(&app).await;
    app.shutdown().await;
}

/// Found by schema fuzzing: a checkout of free items (price 0) opened a payment whose confirmation
/// the provider refused (it charges 1 fen or more), answered 502. Nothing can be charged, so no
/// payment opens: 409 `amount_not_payable`, and the orders are left as they are.
async fn a_checkout_the_provider_cannot_charge_opens_no_payment_and_answers_no_server_error(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, merchant) = app.shop("赠品店").await;
    let warehouse = app.warehouse(&merchant, "总仓", "310101000000").await;
    let skus = app.product(&merchant, "赠品", &[0]).await;
    app.stock(&merchant, skus[0], warehouse, 5).await;
    let (_, buyer) = app.buyer("白拿").await;
    let placed = app.checkout(&buyer, &[(skus[0], 1)]).await;
    let checkout = placed.assert_status(201)["checkout_id"].as_i64().unwrap();
    let order = placed.body["orders"][0]["id"].as_i64().unwrap();
    let opened = app
        .post("/v1/payment-intents", &buyer, json!({ "checkout_id": checkout }))
        .await;
    opened.assert_problem(409, "amount_not_payable");
    let order = app.get(&format!("/v1/orders/{order}"), &buyer).await;
    assert_eq!(order.assert_status(200)["state"], "pending_payment");
    app.shutdown().await;
}

/// Ends every connection the platform holds to its PostgreSQL database (as a restart of the
/// database server does): a shard's next commit fails.
async fn end_the_platforms_connections(app: &TestApp) {
    let (client, connection) = tokio_postgres::connect(&app.config.database, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .unwrap();
}

/// A shard whose commit failed rebuilds its state from the tables, and that restores each intent
/// open to payment as a start does: possibly with an attempt in flight, so neither confirmed
/// (`payment_in_progress`) nor expired until the worker asked the provider. The worker asks after
/// a rebuild too, not only at start: an intent opened before the failure is paid by the buyer's
/// next confirmation (before, it was refused until the process restarted).
async fn an_intent_opened_before_a_failed_commit_is_paid_once_its_shard_rebuilt(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = app.world().await;
    let placed = app.checkout(&w.buyer_token, &[(w.skus[0], 1)]).await;
    let checkout = placed.assert_status(201)["checkout_id"].as_i64().unwrap();
    let intent = app.open_intent(&w.buyer_token, checkout).await;
    let intent = intent.assert_status(201)["id"].as_i64().unwrap();
    if backend == Backend::Postgres {
        let before = app.state().shards.rebuilds();
        end_the_platforms_connections(&app).await;
        eventually(BACKGROUND_WAIT, "a shard rebuilt after a failed commit", || {
            let (app, w, before) = (&app, &w, &before);
            async move {
                // Answered 503 while the commit fails, 201 once the shard has rebuilt.
                app.checkout(&w.buyer_token, &[(w.skus[1], 1)]).await;
                (app.state().shards.rebuilds() != *before).then_some(())
            }
        })
        .await;
    }
    let paid = eventually(BACKGROUND_WAIT, "the intent paid after the rebuild", || {
        let (app, w) = (&app, &w);
        async move {
            let paid = app
                .confirm(&w.buyer_token, intent, json!({ "credential": WALLET }))
                .await;
            (paid.status == 200).then_some(paid)
        }
    })
    .await;
    assert_eq!(paid.body["status"], "captured", "{}", paid.raw);
    assert_books_balance(&app).await;
}
