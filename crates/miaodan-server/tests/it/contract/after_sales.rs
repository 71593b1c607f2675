//! After-sales: requests on paid orders, the merchant's answer, the buyer's appeal, the
//! platform's decision, withdrawal, a return's parcel and its receipt, the shop's policy.

use super::support::*;

/// After-sales' operations, each with a request that succeeds when made by its role (in this
/// order, on a fresh [`Tenants`]): the refused request is appealed, then decided.
pub fn endpoints(app: &TestApp, t: &Tenants) -> Vec<Endpoint> {
    let a = &t.a;
    let endpoint = endpoint_with(app, t);
    let (buyer, merchant, admin) = (Some(Role::Buyer), Some(Role::Merchant), Some(Role::Admin));
    let step = |id: i64, step: &str| format!("/v1/after-sales/{id}/{step}");
    vec![
        endpoint(
            "/v1/after-sales",
            Method::POST,
            "/v1/after-sales".into(),
            Some(claim(a.claim_order, a.claim_sku)),
            buyer,
        ),
        endpoint("/v1/after-sales", Method::GET, "/v1/after-sales".into(), None, None),
        endpoint(
            "/v1/after-sales/{request_id}",
            Method::GET,
            format!("/v1/after-sales/{}", a.claim_to_approve),
            None,
            None,
        ),
        endpoint(
            "/v1/after-sales/{request_id}/approve",
            Method::POST,
            step(a.claim_to_approve, "approve"),
            None,
            merchant,
        ),
        endpoint(
            "/v1/after-sales/{request_id}/refuse",
            Method::POST,
            step(a.claim_to_refuse, "refuse"),
            None,
            merchant,
        ),
        endpoint(
            "/v1/after-sales/{request_id}/appeal",
            Method::POST,
            step(a.claim_to_refuse, "appeal"),
            None,
            buyer,
        ),
        endpoint(
            "/v1/after-sales/{request_id}/decide",
            Method::POST,
            step(a.claim_appealed, "decide"),
            Some(json!({ "decision": "refuse" })),
            admin,
        ),
        endpoint(
            "/v1/after-sales/{request_id}/withdraw",
            Method::POST,
            step(a.claim_to_withdraw, "withdraw"),
            None,
            buyer,
        ),
        endpoint(
            "/v1/after-sales/{request_id}/return-parcel",
            Method::POST,
            step(a.claim_to_return, "return-parcel"),
            Some(json!({ "carrier": "zto", "waybill": "ZTO-RET-000001" })),
            buyer,
        ),
        endpoint(
            "/v1/after-sales/policy",
            Method::GET,
            "/v1/after-sales/policy".into(),
            None,
            merchant,
        ),
        endpoint(
            "/v1/after-sales/policy",
            Method::PUT,
            "/v1/after-sales/policy".into(),
            Some(policy()),
            merchant,
        ),
        endpoint(
            "/v1/after-sales/{request_id}/receive",
            Method::POST,
            step(a.claim_to_return, "receive"),
            Some(json!({ "inspection": "restock" })),
            merchant,
        ),
    ]
}

/// A policy a shop may set: the platform's default with a 15-day window.
pub fn policy() -> Value {
    json!({ "no_reason_days": 15,
            "exempt_goods": ["customised", "perishable"],
            "return_shipping": "platform_first_weight", "auto_approve_ceiling_fen": 50000,
            "merchant_answer_hours": 48, "buyer_refund_rate_bps_max": 3000, "stalled_hours": 72,
            "mode": "enforced" })
}
