//! A standby's answer to every request: the same request, forwarded to the process that holds
//! the shards' leases (the leader), and the leader's answer streamed back (a live stream too).
//! With no leader (a takeover under way) or one that cannot be reached, `503 unavailable` with
//! `Retry-After`, nothing done: a client retries with the same Idempotency-Key, here or at any
//! other process. A forwarded request is marked ([`FORWARDED_BY`]) and never forwarded again,
//! so two processes that each believe the other leads cannot pass it back and forth.

use crate::http::problem::ApiError;
use crate::http::risk::FORWARDED_FOR_HEADER;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use miaodan_store::Store;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The header a forwarded request carries: the member id of the process that forwarded it.
pub const FORWARDED_BY: &str = "miaodan-forwarded-by";
/// The largest body forwarded (the API's own limit is 256 KiB; a batch of taps is the largest).
const BODY_MAX: usize = 4 * 1024 * 1024;
/// How long the leader's address is trusted before it is read again.
const LEADER_TTL: Duration = Duration::from_millis(250);

/// The leader's address as last read (`None`: no other process leads), and when it was read.
type KnownLeader = Option<(Instant, Option<String>)>;
/// The headers of one connection, not of the request: never passed on.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
];

/// Forwards requests to the leader of the cluster.
#[derive(Clone)]
pub struct Forwarder {
    store: Arc<Store>,
    member: i64,
    client: reqwest::Client,
    leader: Arc<Mutex<KnownLeader>>,
}

impl Forwarder {
    pub fn new(store: Arc<Store>, member: i64) -> anyhow::Result<Forwarder> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(64)
            .build()?;
        Ok(Forwarder {
            store,
            member,
            client,
            leader: Arc::new(Mutex::new(None)),
        })
    }

    /// The address of the live holder of shard 0's lease (every lease has one holder, the
    /// leader), if it is another process.
    async fn leader(&self) -> Option<String> {
        if let Ok(known) = self.leader.lock()
            && let Some((at, address)) = known.as_ref()
            && at.elapsed() < LEADER_TTL
        {
            return address.clone();
        }
        let address = self.read_leader().await;
        if let Ok(mut known) = self.leader.lock() {
            *known = Some((Instant::now(), address.clone()));
        }
        address
    }

    async fn read_leader(&self) -> Option<String> {
        self.read_holder()
            .await
            .and_then(|(owner, address)| (owner != self.member).then_some(address))
    }

    /// The live holder of shard 0's lease and its address, whoever it is.
    async fn read_holder(&self) -> Option<(i64, String)> {
        let now_ms = crate::cluster::wall_ms();
        let leases = self.store.shard_leases().await.ok()?;
        let lease = leases.first().filter(|l| l.expires_at_ms > now_ms)?;
        let members = self.store.members().await.ok()?;
        let holder = members.into_iter().find(|m| m.id == lease.owner)?;
        Some((holder.id, holder.address))
    }

    /// Resolves once another process than the one at `leader` holds the leases: a request
    /// forwarded to a leader that was paused, or cut off, would otherwise wait for it to come
    /// back. Giving up on it is as safe as a crash: once another process took the leases, the
    /// former leader commits nothing more, and the client's retry with the same key gets
    /// whatever it committed before, or has the request decided afresh.
    async fn leader_replaced(&self, leader: &str) {
        loop {
            tokio::time::sleep(LEADER_TTL).await;
            if let Some((_, address)) = self.read_holder().await
                && address != leader
            {
                return;
            }
        }
    }

    /// Forwards `request` to the leader and answers its answer.
    pub async fn forward(&self, request: Request) -> Response {
        if request.headers().contains_key(FORWARDED_BY) {
            return no_leader("the process this request was forwarded to does not hold the shards either");
        }
        let Some(leader) = self.leader().await else {
            return no_leader("no process holds the shards right now (a takeover is under way)");
        };
        match self.send(&leader, request).await {
            Ok(response) => response,
            Err(error) => {
                tracing::warn!(%error, %leader, "could not forward a request to the leader");
                metrics::counter!("miaodan_forwarding_failures_total").increment(1);
                if let Ok(mut known) = self.leader.lock() {
                    *known = None;
                }
                no_leader("the process holding the shards did not answer")
            }
        }
    }

    async fn send(&self, leader: &str, request: Request) -> Result<Response, String> {
        let (parts, body) = request.into_parts();
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip());
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let body = axum::body::to_bytes(body, BODY_MAX)
            .await
            .map_err(|e| format!("reading the body: {e}"))?;
        let mut forwarded = self
            .client
            .request(parts.method.clone(), format!("{leader}{path}"))
            .header(FORWARDED_BY, self.member.to_string())
            .body(body);
        for (name, value) in &parts.headers {
            let passed = !HOP_BY_HOP.contains(&name.as_str()) && name != header::CONTENT_LENGTH;
            if passed && name.as_str() != FORWARDED_FOR_HEADER {
                forwarded = forwarded.header(name, value);
            }
        }
        // As any proxy does: the leader reads the client's address for risk from here when it
        // trusts this member (`--trusted-proxy`).
        if let Some(forwarded_for) = forwarded_for(&parts.headers, peer) {
            forwarded = forwarded.header(FORWARDED_FOR_HEADER, forwarded_for);
        }
        let began = Instant::now();
        let answer = tokio::select! {
            answer = forwarded.send() => answer.map_err(|e| e.to_string())?,
            () = self.leader_replaced(leader) => return Err("another process took over the shards".into()),
        };
        metrics::counter!("miaodan_forwarded_requests_total").increment(1);
        metrics::histogram!("miaodan_forwarding_seconds").record(began.elapsed().as_secs_f64());
        let mut response = Response::builder().status(answer.status());
        for (name, value) in answer.headers() {
            if !HOP_BY_HOP.contains(&name.as_str()) && name != header::CONTENT_LENGTH {
                response = response.header(name, value);
            }
        }
        let leader_header = HeaderValue::from_str(leader).map_err(|e| e.to_string())?;
        response = response.header(HeaderName::from_static("miaodan-leader"), leader_header);
        response
            .body(Body::from_stream(answer.bytes_stream()))
            .map_err(|e| e.to_string())
    }
}

/// `X-Forwarded-For` with the connection's peer added after the hops it already names.
fn forwarded_for(headers: &axum::http::HeaderMap, peer: Option<std::net::IpAddr>) -> Option<String> {
    let mut hops: Vec<String> = headers
        .get_all(FORWARDED_FOR_HEADER)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .map(str::to_string)
        .collect();
    hops.extend(peer.map(|peer| peer.to_string()));
    (!hops.is_empty()).then(|| hops.join(", "))
}

fn no_leader(detail: &str) -> Response {
    ApiError::unavailable(format!("{detail}; retry with the same Idempotency-Key")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peer_is_added_after_the_hops_the_request_names() {
        let peer = Some("10.0.0.7".parse().expect("an address"));
        let mut headers = axum::http::HeaderMap::new();
        assert_eq!(forwarded_for(&headers, peer).as_deref(), Some("10.0.0.7"));
        headers.append(FORWARDED_FOR_HEADER, HeaderValue::from_static("203.0.113.9"));
        headers.append(FORWARDED_FOR_HEADER, HeaderValue::from_static("198.51.100.1, 10.0.0.2"));
        assert_eq!(
            forwarded_for(&headers, peer).as_deref(),
            Some("203.0.113.9, 198.51.100.1, 10.0.0.2, 10.0.0.7")
        );
        assert_eq!(forwarded_for(&axum::http::HeaderMap::new(), None), None);
    }
}
