//! Events: the outbox's feed, read by a merchant (their shop's) or an operator (every shop's).

use super::support::*;

pub const EVENTS: &str = "/v1/events";

/// The feed's operation: called by an operator here; a merchant reads it too and a buyer may
/// not (see the role test).
pub fn endpoints(app: &TestApp, t: &Tenants) -> Vec<Endpoint> {
    let endpoint = endpoint_with(app, t);
    vec![endpoint(
        EVENTS,
        Method::GET,
        "/v1/events?topic=order".into(),
        None,
        None,
    )]
}
