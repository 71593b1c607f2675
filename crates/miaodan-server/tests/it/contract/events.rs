//! Events and the compass: the outbox's feed and the figures folded from it, read by a merchant
//! (their shop's) or an operator (every shop's).

use super::support::*;

pub const EVENTS: &str = "/v1/events";
pub const COMPASS: &str = "/v1/compass/series";
/// The compass's breadth: each reads like the series (a merchant's shop, or an operator's).
pub const COMPASS_BREADTH: [&str; 4] = [
    "/v1/compass/regions",
    "/v1/compass/skus",
    "/v1/compass/fulfillment",
    "/v1/compass/after-sales",
];
const RANGE: &str = "from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z";
pub const COMPASS_STREAM: &str = "/v1/compass/stream";
pub const DIAGNOSIS: &str = "/v1/compass/diagnosis";
pub const DIAGNOSIS_REPORT: &str = "/v1/compass/diagnosis/{report_id}";
pub const DIAGNOSIS_PAGE: &str = "/v1/compass/diagnosis/{report_id}/report.html";
pub const QUALITY_INDEX: &str = "/v1/quality-index";
pub const QUALITY_RANKING: &str = "/v1/quality-index/ranking";

/// The feed's and the compass's operations: called by an operator here; a merchant reads them
/// too and a buyer may not (see the role test).
pub fn endpoints(app: &TestApp, t: &Tenants) -> Vec<Endpoint> {
    let endpoint = endpoint_with(app, t);
    vec![
        endpoint(EVENTS, Method::GET, "/v1/events?topic=order".into(), None, None),
        endpoint(
            COMPASS,
            Method::GET,
            "/v1/compass/series?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z&granularity=hour".into(),
            None,
            None,
        ),
        endpoint(
            COMPASS_BREADTH[0],
            Method::GET,
            format!("/v1/compass/regions?{RANGE}&level=province"),
            None,
            None,
        ),
        endpoint(
            COMPASS_BREADTH[1],
            Method::GET,
            format!("/v1/compass/skus?{RANGE}&top=5&sort=units"),
            None,
            None,
        ),
        endpoint(
            COMPASS_BREADTH[2],
            Method::GET,
            format!("/v1/compass/fulfillment?{RANGE}"),
            None,
            None,
        ),
        endpoint(
            COMPASS_BREADTH[3],
            Method::GET,
            format!("/v1/compass/after-sales?{RANGE}"),
            None,
            None,
        ),
        endpoint(
            COMPASS_STREAM,
            Method::GET,
            "/v1/compass/stream?once=true".into(),
            None,
            None,
        ),
        endpoint(
            DIAGNOSIS,
            Method::POST,
            DIAGNOSIS.into(),
            Some(json!({ "shop_id": t.a.shop })),
            None,
        ),
        endpoint(
            DIAGNOSIS,
            Method::GET,
            format!("{DIAGNOSIS}?from=2026-01-01&to=2026-12-31"),
            None,
            None,
        ),
        endpoint(
            DIAGNOSIS_REPORT,
            Method::GET,
            format!("{DIAGNOSIS}/{}", t.a.report),
            None,
            None,
        ),
        endpoint(
            DIAGNOSIS_PAGE,
            Method::GET,
            format!("{DIAGNOSIS}/{}/report.html?lang=en", t.a.report),
            None,
            None,
        ),
        endpoint(
            QUALITY_INDEX,
            Method::GET,
            format!("{QUALITY_INDEX}?days=30&shop_id={}", t.a.shop),
            None,
            None,
        ),
        endpoint(
            QUALITY_RANKING,
            Method::GET,
            format!("{QUALITY_RANKING}?category=other&days=30"),
            None,
            Some(Role::Admin),
        ),
        // Risk's rules and review queue: operators only. The rules written are the ones in
        // force (a new version of the same rules).
        endpoint(RISK_RULES, Method::GET, RISK_RULES.into(), None, Some(Role::Admin)),
        endpoint(
            RISK_RULES,
            Method::POST,
            RISK_RULES.into(),
            Some(json!({ "note": "the same rules, written again", "rule_set": standard_rule_set() })),
            Some(Role::Admin),
        ),
        endpoint(
            RISK_DECISIONS,
            Method::GET,
            format!("{RISK_DECISIONS}?review=open&verdict=review&shop_id={}", t.a.shop),
            None,
            Some(Role::Admin),
        ),
        endpoint(
            RISK_BUYER,
            Method::GET,
            format!("/v1/risk/buyers/{}", t.a.buyer),
            None,
            Some(Role::Admin),
        ),
        // A risk challenge: its buyer's alone to read and answer (rightly, here).
        endpoint(
            RISK_CHALLENGE,
            Method::GET,
            format!("/v1/risk/challenges/{}", t.a.challenge),
            None,
            Some(Role::Buyer),
        ),
        endpoint(
            RISK_CHALLENGE_ANSWER,
            Method::POST,
            format!("/v1/risk/challenges/{}/answer", t.a.challenge),
            Some(json!({ "answer": t.a.challenge_answer })),
            Some(Role::Buyer),
        ),
    ]
}

pub const RISK_RULES: &str = "/v1/risk/rules";
pub const RISK_DECISIONS: &str = "/v1/risk/decisions";
pub const RISK_BUYER: &str = "/v1/risk/buyers/{buyer_id}";
pub const RISK_CHALLENGE: &str = "/v1/risk/challenges/{challenge_id}";
pub const RISK_CHALLENGE_ANSWER: &str = "/v1/risk/challenges/{challenge_id}/answer";

/// The rules miaodan ships with, as the API writes them.
pub fn standard_rule_set() -> serde_json::Value {
    let rule = |code: &str, signal: &str, threshold: i64, points: i64| json!({ "code": code, "signal": signal, "threshold": threshold, "points": points, "shadow": false });
    json!({
        "rules": [
            rule("tap_velocity", "buyer_taps_per_minute", 10, 30),
            rule("shared_device", "device_accounts", 4, 40),
            rule("no_device", "no_device", 1, 5),
        ],
        "review_at": 30, "challenge_at": 50, "block_at": 80, "strict_percent": 60,
    })
}
