//! Payments: intents, refunds, one-tap agreements, the provider's webhook.

use super::support::*;

/// The payments' operations, each with a request that succeeds when made by its role (in this
/// order, on a fresh [`Tenants`]).
pub fn endpoints(app: &TestApp, t: &Tenants) -> Vec<Endpoint> {
    let a = &t.a;
    let endpoint = endpoint_with(app, t);
    let admin = Some(Role::Admin);
    let buyer = Some(Role::Buyer);
    vec![
        endpoint(
            "/v1/payment-intents",
            Method::POST,
            "/v1/payment-intents".into(),
            Some(json!({ "checkout_id": a.paid_checkout })),
            buyer,
        ),
        endpoint(
            "/v1/payment-intents",
            Method::GET,
            format!("/v1/payment-intents?date={}", t.day),
            None,
            None,
        ),
        endpoint(
            "/v1/refunds",
            Method::GET,
            format!("/v1/refunds?date={}", t.day),
            None,
            None,
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
    ]
}

pub fn payment_bodies(t: &Tenants) -> Vec<(Call, Refusal)> {
    let a = &t.a;
    let not_found = (404, "not_found", None);
    // Open a payment: a checkout of the buyer's own.
    let intents = vec![
        (json!({}), missing("checkout_id")),
        (json!({ "checkout_id": "1" }), wrong_type("checkout_id")),
        (json!({ "checkout_id": 1.5 }), wrong_type("checkout_id")),
        (json!({ "checkout_id": null }), wrong_type("checkout_id")),
        (
            json!({ "checkout_id": 9_223_372_036_854_775_808_u64 }),
            wrong_type("checkout_id"),
        ),
        (json!({ "checkout_id": 0 }), invalid("checkout_id")),
        (json!({ "checkout_id": -1 }), invalid("checkout_id")),
        (json!({ "checkout_id": 999_999 }), not_found),
    ];
    // Confirm: a credential of 1 to 200 characters, or one-tap pay, not both.
    let confirmations = vec![
        (json!({}), invalid("credential")),
        (json!({ "one_tap": false }), invalid("credential")),
        (json!({ "credential": null }), invalid("credential")),
        (json!({ "credential": "" }), invalid("credential")),
        (json!({ "credential": chars(201) }), invalid("credential")),
        (json!({ "credential": 5 }), wrong_type("credential")),
        (json!({ "credential": ["x"] }), wrong_type("credential")),
        (json!({ "one_tap": "yes" }), wrong_type("one_tap")),
        (json!({ "one_tap": 1 }), wrong_type("one_tap")),
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
        (json!({ "amount_fen": 1e30 }), wrong_type("amount_fen")),
        (json!({ "amount_fen": 1.5 }), wrong_type("amount_fen")),
        (json!({ "amount_fen": "1" }), wrong_type("amount_fen")),
        (
            json!({ "amount_fen": 9_223_372_036_854_775_808_u64 }),
            wrong_type("amount_fen"),
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
        (agreement("credential", json!(5)), wrong_type("credential")),
        (agreement("per_order_limit_fen", json!(0)), per_order),
        (agreement("per_order_limit_fen", json!(-1)), per_order),
        (agreement("per_order_limit_fen", json!(100_000_001)), per_order),
        (
            agreement("per_order_limit_fen", json!("1")),
            wrong_type("per_order_limit_fen"),
        ),
        (agreement("per_order_limit_fen", json!(2)), per_day),
        (agreement("per_day_limit_fen", json!(0)), per_day),
        (agreement("per_day_limit_fen", json!(100_000_001)), per_day),
        (
            agreement("per_day_limit_fen", json!(1.5)),
            wrong_type("per_day_limit_fen"),
        ),
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

/// The refusals of the provider's webhook, which reads no token and no media type: only a
/// signature over the raw body, and then the body as a simpay event.
pub fn webhook_refusals(valid: &Call, admin: &str) -> Vec<(Call, Refusal)> {
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
