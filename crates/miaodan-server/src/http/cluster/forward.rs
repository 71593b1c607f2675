//! The answer to every request at a member that holds no shard (one joining, or one whose
//! leases were all taken): the same request, forwarded to shard 0's holder (which answers it, or
//! sends on what another member's shards decide), and its answer streamed back (a live stream
//! too). With no holder (a move under way), one that cannot be reached, one that sends no answer
//! within [`ANSWER_WAIT`], or one replaced by another member while the request waited,
//! `503 unavailable` with `Retry-After`: a client retries with the same Idempotency-Key, here
//! or at any other member, and gets whatever the request did, or has it decided afresh. A
//! forwarded request is marked ([`FORWARDED_BY`]) and never forwarded again, so two members
//! that each believe the other holds shard 0 cannot pass it back and forth.
//!
//! A client that can follow a redirect, and would rather send its requests to a holder itself,
//! asks for one ([`ROUTING`]`: redirect`): it is answered `307 Temporary Redirect` to the same
//! path at shard 0's holder (the method and body are sent again as they were), and saves the
//! hop on every request after.

use crate::http::problem::ApiError;
use crate::http::risk::FORWARDED_FOR_HEADER;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use miaodan_store::Store;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The header a forwarded request carries: the member id of the process that forwarded it.
pub const FORWARDED_BY: &str = "miaodan-forwarded-by";
/// The header by which a client asks to be told where to go (`redirect`) instead of having its
/// request forwarded.
pub const ROUTING: &str = "miaodan-routing";
/// The largest body forwarded (the API's own limit is 256 KiB; a batch of taps is the largest).
const BODY_MAX: usize = 4 * 1024 * 1024;
/// How long shard 0's holder's address is trusted before it is read again.
const HOLDER_TTL: Duration = Duration::from_millis(250);
/// How long a forwarded request waits for the head of the holder's answer (its body, a live
/// stream's included, may take as long as it takes).
const ANSWER_WAIT: Duration = Duration::from_secs(30);

/// The live holder of the leases as last read (member id, address; `None`: nobody holds them),
/// and when it was read.
type KnownHolder = Option<(Instant, Option<(i64, String)>)>;
/// The headers of one connection, not of the request: never passed on (nor those a
/// `Connection` header names).
const HOP_BY_HOP: [&str; 10] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "proxy-authenticate",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
];

/// Forwards requests to shard 0's holder.
#[derive(Clone)]
pub struct Forwarder {
    store: Arc<Store>,
    member: i64,
    client: reqwest::Client,
    holder: Arc<Mutex<KnownHolder>>,
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
            holder: Arc::new(Mutex::new(None)),
        })
    }

    /// The live holder of shard 0's lease: its member id and address, read at most every
    /// [`HOLDER_TTL`].
    async fn holder(&self) -> Option<(i64, String)> {
        if let Ok(known) = self.holder.lock()
            && let Some((at, holder)) = known.as_ref()
            && at.elapsed() < HOLDER_TTL
        {
            return holder.clone();
        }
        let holder = self.read_holder().await;
        if let Ok(mut known) = self.holder.lock() {
            *known = Some((Instant::now(), holder.clone()));
        }
        holder
    }

    async fn read_holder(&self) -> Option<(i64, String)> {
        live_holder(&self.store, 0).await.ok().flatten()
    }

    fn forget_holder(&self) {
        if let Ok(mut known) = self.holder.lock() {
            *known = None;
        }
    }

    /// Resolves once another member than `former` holds shard 0: a request forwarded to a
    /// holder that was paused, or cut off, would otherwise wait for it to come back.
    async fn holder_replaced(&self, former: i64) {
        loop {
            tokio::time::sleep(HOLDER_TTL).await;
            if let Some((holder, _)) = self.holder().await
                && holder != former
            {
                return;
            }
        }
    }

    /// Forwards `request` to shard 0's holder and answers its answer.
    pub async fn forward(&self, request: Request) -> Response {
        if request.headers().contains_key(FORWARDED_BY) {
            return no_holder("the process this request was forwarded to holds no shard either");
        }
        let holder = match self.holder().await {
            Some((holder, address)) if holder != self.member => (holder, address),
            _ => return no_holder("no process holds shard 0 right now (a move is under way)"),
        };
        if wants_redirect(request.headers()) {
            return redirect(&holder.1, request.uri());
        }
        let (parts, body) = request.into_parts();
        let body = match kept_body(body).await {
            Ok(body) => body,
            Err(unreadable) => return unreadable,
        };
        match self
            .send(&holder.1, (parts, body), self.holder_replaced(holder.0))
            .await
        {
            Ok(response) => response,
            Err(error) => {
                tracing::warn!(%error, holder = %holder.1, "could not forward a request to shard 0's holder");
                metrics::counter!("miaodan_forwarding_failures_total").increment(1);
                self.forget_holder();
                no_holder("the process holding shard 0 did not answer")
            }
        }
    }

    /// Sends the request (`parts` and its `body`) to the member serving at `address` and streams
    /// its answer back, unless `replaced` resolves first (that member no longer holds what the
    /// request needs) or the head of its answer does not come within [`ANSWER_WAIT`].
    pub async fn send(
        &self,
        address: &str,
        (parts, body): (axum::http::request::Parts, bytes::Bytes),
        replaced: impl std::future::Future<Output = ()>,
    ) -> Result<Response, String> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip());
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut forwarded = self
            .client
            .request(parts.method.clone(), format!("{address}{path}"))
            .header(FORWARDED_BY, self.member.to_string())
            .body(body);
        for (name, value) in end_to_end(&parts.headers).filter(|(name, _)| *name != FORWARDED_FOR_HEADER) {
            forwarded = forwarded.header(name, value);
        }
        // As any proxy does: the member reads the client's address for risk from here when it
        // trusts this member (`--trusted-proxy`).
        if let Some(forwarded_for) = forwarded_for(&parts.headers, peer) {
            forwarded = forwarded.header(FORWARDED_FOR_HEADER, forwarded_for);
        }
        let began = Instant::now();
        let answer = tokio::select! {
            answer = forwarded.send() => answer.map_err(|e| e.to_string())?,
            () = replaced => return Err("another process took over the shards".into()),
            () = tokio::time::sleep(ANSWER_WAIT) => return Err(format!("no answer within {ANSWER_WAIT:?}")),
        };
        metrics::counter!("miaodan_forwarded_requests_total").increment(1);
        metrics::histogram!("miaodan_forwarding_seconds").record(began.elapsed().as_secs_f64());
        let mut response = Response::builder().status(answer.status());
        for (name, value) in end_to_end(answer.headers()) {
            response = response.header(name, value);
        }
        response
            .body(Body::from_stream(answer.bytes_stream()))
            .map_err(|e| e.to_string())
    }
}

/// The live holder of shard `index`'s lease, as the leases and the members' registrations say:
/// its member id and address; `None` when the lease is expired or given back, or its holder is
/// not registered.
pub(super) async fn live_holder(
    store: &Store,
    index: usize,
) -> Result<Option<(i64, String)>, miaodan_store::StoreError> {
    let leases = store.shard_leases().await?;
    let live = leases.iter().find(|l| l.shard as usize == index && l.expires_in_ms > 0);
    let Some(owner) = live.map(|l| l.owner) else {
        return Ok(None);
    };
    let members = store.members().await?;
    Ok(members.into_iter().find(|m| m.id == owner).map(|m| (m.id, m.address)))
}

/// A request's body, kept whole to be sent on (at most [`BODY_MAX`]); one that cannot be read
/// is answered `400 unreadable_body`.
pub(super) async fn kept_body(body: Body) -> Result<bytes::Bytes, Response> {
    axum::body::to_bytes(body, BODY_MAX).await.map_err(|_| {
        let detail = "the body could not be read";
        ApiError::new(axum::http::StatusCode::BAD_REQUEST, "unreadable_body", detail).into_response()
    })
}

/// The headers of the message itself, passed on in either direction: not those of one
/// connection (the hop-by-hop ones, those a `Connection` header names) nor its length (the body
/// is sent afresh).
fn end_to_end(headers: &HeaderMap) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> {
    let named = connection_named(headers);
    headers.iter().filter(move |(name, _)| {
        !HOP_BY_HOP.contains(&name.as_str())
            && !named.iter().any(|n| n == name.as_str())
            && *name != header::CONTENT_LENGTH
    })
}

/// The headers a `Connection` header names: of this connection only, like the hop-by-hop ones.
fn connection_named(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect()
}

/// `X-Forwarded-For` with the connection's peer added after the hops it already names.
fn forwarded_for(headers: &HeaderMap, peer: Option<std::net::IpAddr>) -> Option<String> {
    let mut hops: Vec<String> = headers
        .get_all(FORWARDED_FOR_HEADER)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .map(str::to_string)
        .collect();
    hops.extend(peer.map(|peer| peer.to_string()));
    (!hops.is_empty()).then(|| hops.join(", "))
}

fn wants_redirect(headers: &HeaderMap) -> bool {
    headers
        .get(ROUTING)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.trim().eq_ignore_ascii_case("redirect"))
}

/// `307`: the same method and body, sent again to `holder`. A redirect is not a problem, so its
/// body is empty.
fn redirect(holder: &str, uri: &axum::http::Uri) -> Response {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    metrics::counter!("miaodan_redirected_requests_total").increment(1);
    match HeaderValue::try_from(format!("{holder}{path}")) {
        Ok(location) => (
            axum::http::StatusCode::TEMPORARY_REDIRECT,
            [(header::LOCATION, location)],
        )
            .into_response(),
        Err(_) => no_holder("the holder's address is not a valid location"),
    }
}

fn no_holder(detail: &str) -> Response {
    ApiError::unavailable(format!("{detail}; retry with the same Idempotency-Key")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_that_asks_is_sent_to_the_same_path_at_the_holder() {
        let mut headers = HeaderMap::new();
        assert!(!wants_redirect(&headers));
        headers.insert(ROUTING, HeaderValue::from_static(" Redirect "));
        assert!(wants_redirect(&headers));
        headers.insert(ROUTING, HeaderValue::from_static("forward"));
        assert!(!wants_redirect(&headers));
        let uri: axum::http::Uri = "/v1/orders?state=paid&limit=5".parse().expect("a uri");
        let answer = redirect("http://127.0.0.1:8081", &uri);
        assert_eq!(answer.status(), axum::http::StatusCode::TEMPORARY_REDIRECT);
        assert_eq!(
            answer.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()),
            Some("http://127.0.0.1:8081/v1/orders?state=paid&limit=5")
        );
    }

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
