//! The demo world holds what the README and `serve --demo`'s printed examples promise a
//! newcomer: the demo buyer's after-sales requests, each decided in its own way and explained
//! (a return refunded at the carrier's first scan among them), told once however many times
//! the demo starts.

use super::common;
use common::{Backend, TestApp, eventually};
use miaodan_server::demo::{self, DemoToken};
use serde_json::{Value, json};
use std::time::Duration;

both_backends!(
    the_demo_buyer_finds_requests_decided_by_the_rules_and_by_the_merchant_once,
    the_demo_staff_sign_in_with_the_demo_password_and_are_made_once,
);

fn fresh(token: &DemoToken) -> String {
    match token {
        DemoToken::Fresh(token) => token.clone(),
        DemoToken::Kept { id, .. } => panic!("token {id} was made by an earlier start"),
    }
}

/// (order, kind, stage, codes of the rules that fired) of each request, newest first.
fn stories(listed: &Value) -> Vec<(i64, String, String, Vec<String>)> {
    let text = |v: &Value| v.as_str().unwrap().to_string();
    listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let rules = r["decision"]["rules"].as_array().unwrap();
            for rule in rules {
                assert!(
                    !text(&rule["en"]).is_empty() && !text(&rule["zh"]).is_empty(),
                    "every rule explained in English and Chinese: {rule}"
                );
            }
            let codes = rules.iter().map(|rule| text(&rule["code"])).collect();
            (
                r["order_id"].as_i64().unwrap(),
                text(&r["kind"]),
                text(&r["stage"]),
                codes,
            )
        })
        .collect()
}

async fn the_demo_buyer_finds_requests_decided_by_the_rules_and_by_the_merchant_once(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let access = demo::prepare(app.state(), None).await.unwrap();
    let (buyer, merchant) = (fresh(&access.buyer.2), fresh(&access.merchant.2));
    // Order 5's return: its pickup booked with the (timed) carrier simulator, whose first scan
    // refunds it before it arrives.
    let returned = eventually(Duration::from_secs(30), "the return refunded on its scan", || async {
        let listed = app
            .get("/v1/after-sales?order_id=5", &buyer)
            .await
            .assert_status(200)
            .clone();
        let request = listed["items"][0].clone();
        (request["stage"] == "refunded").then_some(request)
    })
    .await;
    assert_eq!(
        returned["scan_decision"]["rules"][0]["code"], "return_scanned_by_carrier",
        "{returned}"
    );
    assert!(returned["return_pickup"]["waybill"].is_string(), "{returned}");
    assert!(
        returned["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["actor"] == "carrier")
    );
    let listed = app.get("/v1/after-sales", &buyer).await.assert_status(200).clone();
    let passed_on = ["over_auto_approve_ceiling", "not_yet_picked_up"]
        .map(String::from)
        .to_vec();
    let expected = vec![
        (
            5,
            "return_and_refund".to_string(),
            "refunded".to_string(),
            vec!["no_reason_return_in_window".to_string()],
        ),
        (3, "refund_only".to_string(), "refused".to_string(), passed_on.clone()),
        (2, "refund_only".to_string(), "with_merchant".to_string(), passed_on),
        (
            1,
            "cancel".to_string(),
            "refunded".to_string(),
            vec!["not_yet_picked_up".to_string()],
        ),
    ];
    assert_eq!(stories(&listed), expected, "{listed}");
    let items = &listed["items"].as_array().unwrap()[1..];
    assert!(
        items[0]["due_at"].is_string(),
        "the buyer may still appeal: {}",
        items[0]
    );
    assert_eq!(items[0]["timeline"][1]["actor"], "merchant");
    assert!(items[1]["due_at"].is_string(), "the merchant's deadline: {}", items[1]);

    // The cancellation approved by the rules: the order is closed and refunded once, in full.
    assert_eq!(app.order(1).await["state"], "cancelled");
    let refunds = app.get("/v1/orders/1/refunds", &app.admin).await;
    let refunds = refunds.assert_status(200)["items"].as_array().unwrap().clone();
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0]["amount_fen"], items[2]["amount_fen"]);
    assert_eq!(refunds[0]["status"], "succeeded");

    // The merchant's queue holds the request it has not answered.
    let queue = app.get("/v1/after-sales?stage=with_merchant", &merchant).await;
    assert_eq!(queue.assert_status(200)["items"][0]["id"], items[1]["id"]);

    // Order 4 is with a carrier: the rules refuse to cancel it, say why, and open nothing.
    let cancel = json!({ "order_id": 4, "kind": "cancel", "reason": "changed_mind" });
    let refused = app.post("/v1/after-sales", &buyer, cancel).await;
    refused.assert_problem(409, "refused_by_rules");
    assert_eq!(refused.body["rules"][0]["code"], "already_picked_up", "{}", refused.raw);
    assert_eq!(app.order(4).await["state"], "shipped");

    // Another start tells nothing again.
    app.restart().await;
    let again = demo::prepare(app.state(), None).await.unwrap();
    assert!(matches!(again.buyer.2, DemoToken::Kept { .. }));
    let listed = app.get("/v1/after-sales", &buyer).await.assert_status(200).clone();
    assert_eq!(stories(&listed), expected, "{listed}");
    let orders = app.get("/v1/orders", &merchant).await;
    assert_eq!(orders.assert_status(200)["items"].as_array().unwrap().len(), 7);
}

async fn the_demo_staff_sign_in_with_the_demo_password_and_are_made_once(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let access = demo::prepare(app.state(), None).await.unwrap();
    let logins: Vec<&str> = access.staff.iter().map(|(login, _)| login.as_str()).collect();
    assert_eq!(logins, ["owner", "operator", "service", "finance", "admin"]);
    let shop = access.merchant.0;
    for (login, role) in &access.staff {
        let session = app.sign_in(login, demo::DEMO_STAFF_PASSWORD).await;
        assert_eq!(session.body["staff"]["role"], role.as_str());
        let expected_shop = if login == "admin" { json!(null) } else { json!(shop) };
        assert_eq!(session.body["staff"]["shop_id"], expected_shop, "{login}");
    }
    app.restart().await;
    demo::prepare(app.state(), None).await.unwrap();
    let staff = app.get("/v1/staff", &app.admin).await;
    assert_eq!(staff.assert_status(200)["items"].as_array().unwrap().len(), 5);
    app.sign_in("owner", demo::DEMO_STAFF_PASSWORD).await;
}
