//! Events and the compass: the outbox's feed and the figures folded from it, read by a merchant
//! (their shop's) or an operator (every shop's).

use super::support::*;

pub const EVENTS: &str = "/v1/events";
pub const COMPASS: &str = "/v1/compass/series";
pub const COMPASS_STREAM: &str = "/v1/compass/stream";

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
            COMPASS_STREAM,
            Method::GET,
            "/v1/compass/stream?once=true".into(),
            None,
            None,
        ),
    ]
}
