//! Risk at the edge: what a request says of its sender (its `Device-Id`, its connection's IP
//! prefix) becomes the core's [`ClientSignals`], hashed; and risk's refusals become problems.
//! The decision itself is the shard's ([`miaodan_domain::risk`]); the rules ([`rules`]) and
//! the decisions kept for review ([`decisions`]) are read and changed here.

pub mod challenges;
pub mod decisions;
pub mod rules;

use super::problem::ApiError;
use crate::app::AppState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use miaodan_domain::BuyerId;
use miaodan_domain::orders::Address;
use miaodan_domain::risk::{ClientSignals, Verdict, address_key, fingerprint};
use miaodan_domain::shard::Rejection;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Risk's routes: the rules and the review queue (operators), a sale's report and strict mode
/// (its merchant and operators).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(rules::current_rules, rules::write_rules))
        .routes(routes!(decisions::list_decisions))
        .routes(routes!(decisions::review_decision))
        .routes(routes!(decisions::buyer_risk))
        .routes(routes!(decisions::sale_risk))
        .routes(routes!(decisions::set_sale_risk_mode))
        .routes(routes!(challenges::get_challenge))
        .routes(routes!(challenges::answer_challenge))
}

/// The header a buyer's app sends with its installation's id (any text up to 128 bytes).
pub const DEVICE_ID_HEADER: &str = "device-id";

/// The fingerprint tags of what a request says of its sender, one per kind.
pub const DEVICE_TAG: u8 = 1;
pub const IP_PREFIX_TAG: u8 = 2;
pub use crate::flows::risk::CREDENTIAL_TAG;

/// The longest device id a request may name (its `Device-Id`, or an edge's `device_id`).
pub const DEVICE_ID_BYTES_MAX: usize = 128;

/// The fingerprint risk keeps of a device id; `None` for an empty or overlong one.
pub fn device_fingerprint(id: &[u8]) -> Option<u64> {
    (!id.is_empty() && id.len() <= DEVICE_ID_BYTES_MAX).then(|| fingerprint(DEVICE_TAG, id))
}

/// What the request says of its sender, for risk. Never refuses: a request without a device
/// id or a connection address simply says less.
#[derive(Clone, Copy, Debug, Default)]
pub struct Client(pub ClientSignals);

/// The header a reverse proxy adds with the addresses a request came through, client first.
pub const FORWARDED_FOR_HEADER: &str = "x-forwarded-for";

impl FromRequestParts<AppState> for Client {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Client, Infallible> {
        let device = parts
            .headers
            .get(DEVICE_ID_HEADER)
            .and_then(|value| device_fingerprint(value.as_bytes()));
        let ip_prefix = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(peer)| client_ip(peer.ip(), &parts.headers, &state.config.trusted_proxies))
            .map(ip_prefix);
        Ok(Client(ClientSignals {
            device,
            ip_prefix,
            ..ClientSignals::default()
        }))
    }
}

/// The client's address: the connection's peer, unless the peer is a trusted proxy — then the
/// rightmost address of `X-Forwarded-For` that is not a trusted proxy (the ones left of it
/// were written by the client and prove nothing). A malformed header counts as none.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let forwarded = headers
        .get_all(FORWARDED_FOR_HEADER)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|hop| hop.trim().parse::<IpAddr>())
        .collect::<Result<Vec<IpAddr>, _>>();
    let Ok(hops) = forwarded else { return peer };
    hops.iter()
        .rev()
        .find(|hop| !trusted.contains(hop))
        .copied()
        .unwrap_or(peer)
}

/// Everything risk knows of a buyer's request: what it says of its sender (`client`), the
/// account's opening, the delivery flat's key (worked out here, where every core is, not in
/// the shard), and the credential a one-tap buyer will pay with.
pub async fn signals_of(
    state: &AppState,
    buyer: BuyerId,
    address: &Address,
    client: ClientSignals,
) -> Result<ClientSignals, ApiError> {
    // Risk off scores nothing: the account's age (a read on a buyer's first request) and the
    // flat's key would be worked out for no one.
    if state.config.risk == crate::app::RiskMode::Off {
        return Ok(client);
    }
    Ok(ClientSignals {
        account_opened_at: state.directory.buyer_opened_at(&state.store, buyer).await?,
        address_key: Some(address_key(address.adcode, address.detail.as_str())),
        credential: credential_of(state, buyer),
        ..client
    })
}

/// The fingerprint of the payment credential the request will be paid with: the buyer's
/// one-tap agreement's (without one, it is paid later with a credential not known yet).
fn credential_of(state: &AppState, buyer: BuyerId) -> Option<u64> {
    if state.config.risk == crate::app::RiskMode::Off {
        return None;
    }
    state
        .payments
        .one_tap
        .with_credential(buyer, crate::flows::risk::credential_fingerprint)
}

/// The fingerprint of an address's network: its /24 (IPv4) or /48 (IPv6), where one household,
/// office or carrier NAT shows up.
pub fn ip_prefix(ip: IpAddr) -> u64 {
    match ip {
        IpAddr::V4(v4) => fingerprint(IP_PREFIX_TAG, &v4.octets()[..3]),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => fingerprint(IP_PREFIX_TAG, &v4.octets()[..3]),
            None => fingerprint(IP_PREFIX_TAG, &v6.octets()[..6]),
        },
    }
}

/// How risk's refusals are answered: a challenge is `428` (the client may step up and ask
/// again; the handler adds the challenge to answer, [`challenges::challenged`]), a block `403`. Neither says which rules fired: that is for the platform's review,
/// not for a script to tune itself against.
pub fn refusal(rejection: &Rejection) -> ApiError {
    let code = rejection.code();
    match rejection {
        Rejection::Risk(refusal) if refusal.verdict == Verdict::Block => ApiError::new(
            StatusCode::FORBIDDEN,
            code,
            "risk control refused this request; nothing is held",
        ),
        Rejection::Risk(_) => ApiError::new(
            StatusCode::PRECONDITION_REQUIRED,
            code,
            "risk control asks the buyer to step up: answer the challenge, then ask again; nothing is held or charged",
        ),
        other => super::problem::misrouted(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trusted_proxy_is_looked_through_and_anyone_else_is_taken_at_their_word() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("an IP address");
        let proxy = ip("10.0.0.2");
        let mut headers = HeaderMap::new();
        // The client wrote the first address itself; the proxy appended the one it saw.
        headers.insert(FORWARDED_FOR_HEADER, "1.2.3.4, 203.0.113.9".parse().expect("a header"));
        assert_eq!(client_ip(proxy, &headers, &[proxy]), ip("203.0.113.9"));
        assert_eq!(client_ip(ip("198.51.100.7"), &headers, &[proxy]), ip("198.51.100.7"));
        // Two proxies in a row: the client is left of both.
        headers.insert(FORWARDED_FOR_HEADER, "203.0.113.9, 10.0.0.3".parse().expect("a header"));
        assert_eq!(client_ip(proxy, &headers, &[proxy, ip("10.0.0.3")]), ip("203.0.113.9"));
        headers.insert(FORWARDED_FOR_HEADER, "not-an-address".parse().expect("a header"));
        assert_eq!(client_ip(proxy, &headers, &[proxy]), proxy);
        assert_eq!(client_ip(proxy, &HeaderMap::new(), &[proxy]), proxy);
    }

    #[test]
    fn addresses_of_one_network_share_a_prefix_and_others_do_not() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("an IP address");
        assert_eq!(ip_prefix(ip("10.1.2.3")), ip_prefix(ip("10.1.2.250")));
        assert_ne!(ip_prefix(ip("10.1.2.3")), ip_prefix(ip("10.1.3.3")));
        assert_eq!(ip_prefix(ip("::ffff:10.1.2.3")), ip_prefix(ip("10.1.2.9")));
        assert_eq!(ip_prefix(ip("2001:db8:1::1")), ip_prefix(ip("2001:db8:1:ffff::2")));
        assert_ne!(ip_prefix(ip("2001:db8:1::1")), ip_prefix(ip("2001:db8:2::1")));
    }
}
