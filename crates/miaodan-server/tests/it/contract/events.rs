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
    ]
}
