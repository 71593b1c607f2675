//! Penalties, the deposit and the integrity reports: their rows of `endpoints()`, their tenant
//! pairs and their keyed requests (the behaviour is specified in `tests/it/penalties.rs`).

use super::support::*;

pub const PENALTIES: &str = "/v1/penalties";
pub const PENALTY: &str = "/v1/penalties/{penalty_id}";
pub const APPEAL: &str = "/v1/penalties/{penalty_id}/appeal";
pub const DECISION: &str = "/v1/penalties/{penalty_id}/decision";
pub const DEPOSIT_ENTRIES: &str = "/v1/deposits/{shop_id}/entries";
pub const DEPOSIT: &str = "/v1/deposit";
pub const FAKE_STOCK: &str = "/v1/integrity/fake-stock";
pub const PROMISES: &str = "/v1/integrity/promises";

/// A warning for `shop`, as the contract issues them.
pub fn warning(shop: i64, reason: &str) -> Value {
    json!({ "shop_id": shop, "kind": "warning", "reason": reason })
}

/// Issues a warning to `shop` (the side's penalty the contract appeals and decides).
pub async fn issue_warning(app: &TestApp, shop: i64) -> i64 {
    let issued = app.post(PENALTIES, &app.admin, warning(shop, "库存虚标预警")).await;
    issued.assert_status(201)["id"].as_i64().unwrap()
}

/// The operations, each with a request that succeeds when made by its role (in this order:
/// the side's penalty is appealed, then revoked).
pub fn endpoints(app: &TestApp, t: &Tenants) -> Vec<Endpoint> {
    let a = &t.a;
    let endpoint = endpoint_with(app, t);
    let (admin, merchant) = (Some(Role::Admin), Some(Role::Merchant));
    vec![
        endpoint(
            PENALTIES,
            Method::POST,
            PENALTIES.into(),
            Some(warning(a.shop, "警告")),
            admin,
        ),
        endpoint(
            PENALTIES,
            Method::GET,
            format!("{PENALTIES}?shop_id={}&state=in_force", a.shop),
            None,
            None,
        ),
        endpoint(PENALTY, Method::GET, format!("{PENALTIES}/{}", a.penalty), None, None),
        endpoint(
            APPEAL,
            Method::POST,
            format!("{PENALTIES}/{}/appeal", a.penalty),
            Some(json!({ "text": "已补货，请复核" })),
            merchant,
        ),
        endpoint(
            DECISION,
            Method::POST,
            format!("{PENALTIES}/{}/decision", a.penalty),
            Some(json!({ "decision": "revoke", "note": "复核无误" })),
            admin,
        ),
        endpoint(
            DEPOSIT_ENTRIES,
            Method::POST,
            format!("/v1/deposits/{}/entries", a.shop),
            Some(json!({ "amount_fen": 100_000, "note": "保证金" })),
            admin,
        ),
        endpoint(
            DEPOSIT,
            Method::GET,
            format!("{DEPOSIT}?shop_id={}", a.shop),
            None,
            None,
        ),
        endpoint(
            FAKE_STOCK,
            Method::GET,
            format!("{FAKE_STOCK}?days=30&shop_id={}", a.shop),
            None,
            None,
        ),
        endpoint(
            PROMISES,
            Method::GET,
            format!("{PROMISES}?days=30&shop_id={}", a.shop),
            None,
            None,
        ),
    ]
}

/// The routes a merchant or an operator reads, never a buyer.
pub const MERCHANT_OR_OPERATOR: [&str; 5] = [PENALTIES, PENALTY, DEPOSIT, FAKE_STOCK, PROMISES];

/// A's merchant names B's penalty or shop: not found, like a missing one. (Deciding a
/// penalty and topping up a deposit are the operators', for any shop.)
pub fn tenant_pairs(t: &Tenants) -> Vec<(Call, Call)> {
    let (a, b) = (&t.a, &t.b);
    let missing = 999_999;
    let get = |path: String| Call::get(path, &a.merchant);
    let appeal = |id: i64| {
        Call::new(Method::POST, format!("{PENALTIES}/{id}/appeal"), &a.merchant).json(&json!({ "text": "申诉" }))
    };
    let shop_query = |route: &str| {
        (
            get(format!("{route}?shop_id={}", b.shop)),
            get(format!("{route}?shop_id={missing}")),
        )
    };
    vec![
        (
            get(format!("{PENALTIES}/{}", b.penalty)),
            get(format!("{PENALTIES}/{missing}")),
        ),
        (appeal(b.penalty), appeal(missing)),
        shop_query(PENALTIES),
        shop_query(DEPOSIT),
        shop_query(FAKE_STOCK),
        shop_query(PROMISES),
    ]
}

/// Each mutating operation's request and another one to it (for a reused key).
pub fn keyed_pairs(app: &TestApp, t: &Tenants) -> Vec<(Call, Call)> {
    let a = &t.a;
    let admin = |path: String, body: Value| Call::new(Method::POST, path, &app.admin).json(&body);
    let merchant = |path: String, body: Value| Call::new(Method::POST, path, &a.merchant).json(&body);
    let appeal = format!("{PENALTIES}/{}/appeal", a.penalty);
    let decision = format!("{PENALTIES}/{}/decision", a.penalty);
    let deposit = format!("/v1/deposits/{}/entries", a.shop);
    vec![
        (
            admin(PENALTIES.into(), warning(a.shop, "一")),
            admin(PENALTIES.into(), warning(a.shop, "二")),
        ),
        (
            merchant(appeal.clone(), json!({ "text": "一" })),
            merchant(appeal, json!({ "text": "二" })),
        ),
        (
            admin(decision.clone(), json!({ "decision": "revoke", "note": "一" })),
            admin(decision, json!({ "decision": "uphold", "note": "二" })),
        ),
        (
            admin(deposit.clone(), json!({ "amount_fen": 100 })),
            admin(deposit, json!({ "amount_fen": 200 })),
        ),
    ]
}
