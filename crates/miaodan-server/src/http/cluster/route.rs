//! How a member that shares the shards with others (`Config::held_shards`) answers a request
//! that belongs at another member: the request runs where it arrived until it needs a shard
//! held elsewhere in a way a value cannot carry (a command with the recorder that stores its
//! answer in the deciding batch, a read by closure). There the handler is refused before
//! anything is decided ([`crate::sequencer::ShardError::HeldElsewhere`], naming the shard), and
//! this layer sends the whole request, as it came, to that shard's holder and streams its answer
//! back. What can travel as a value (a checkout's part in another shop, a question every shard
//! is asked, a risk change) does not move the request: it is sent to the holder's shard by the
//! members' endpoint ([`super::members`]).
//!
//! So a request is decided, and its answer stored for its Idempotency-Key, by the member holding
//! its home shard, and every retry of it, wherever it lands, is sent to the same member and
//! finds the stored answer there. A request sent on carries [`FORWARDED_BY`] and is answered
//! where it arrives, never sent on again: two members that disagree on a shard's holder (it
//! just moved) cannot pass it back and forth; the client's retry finds the new holder.

use super::forward::{FORWARDED_BY, Forwarder, kept_body};
use super::members::ShardOwners;
use crate::app::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// A response's mark: the handler needed shard `.0`, which another member holds, and decided
/// nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeldElsewhere(pub usize);

/// The header of an answer refused because another member holds the request's shard: a member
/// that sent the request on to a former holder finds the holder again.
pub const HELD_ELSEWHERE_HEADER: &str = "miaodan-held-elsewhere";

/// The way to the other members' shards, for the routing layer.
#[derive(Clone)]
pub struct ToHolders {
    forwarder: Forwarder,
    owners: Arc<ShardOwners>,
}

impl ToHolders {
    /// The routing of a member that shares the shards with others (`None` for a process
    /// holding every shard: every request is decided where it arrives).
    pub fn of(state: &AppState) -> anyhow::Result<Option<ToHolders>> {
        let (Some(_), Some(secret)) = (&state.config.held_shards, &state.member_secret) else {
            return Ok(None);
        };
        let owners = ShardOwners::new(state.store.clone(), state.shards.count(), secret.clone())?;
        Ok(Some(ToHolders {
            forwarder: Forwarder::new(state.store.clone(), state.membership.id())?,
            owners: Arc::new(owners),
        }))
    }
}

/// Runs the request here; if it needed a shard another member holds, sends it there whole.
pub async fn to_holder(State(to): State<ToHolders>, request: Request, next: Next) -> Response {
    if request.headers().contains_key(FORWARDED_BY) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let body = match kept_body(body).await {
        Ok(body) => body,
        Err(unreadable) => return unreadable,
    };
    let again = copy_of(&parts);
    let answered = next.run(Request::from_parts(parts, Body::from(body.clone()))).await;
    let Some(HeldElsewhere(shard)) = answered.extensions().get::<HeldElsewhere>().copied() else {
        return answered;
    };
    // A holder remembered may have given the shard up since: it says so, decides nothing, and
    // the holder is found again once.
    let mut tried: Option<String> = None;
    loop {
        let Ok(holder) = to.owners.holder(shard).await else {
            return answered;
        };
        if tried.as_ref() == Some(&holder) {
            return answered;
        }
        metrics::counter!("miaodan_requests_sent_to_holder_total").increment(1);
        let replaced = to.owners.holder_replaced(shard, &holder);
        let sent = to.forwarder.send(&holder, (copy_of(&again), body.clone()), replaced);
        match sent.await {
            Ok(response) if response.headers().contains_key(HELD_ELSEWHERE_HEADER) && tried.is_none() => {
                to.owners.forget(shard);
                tried = Some(holder);
            }
            Ok(response) => return response,
            Err(error) => {
                tracing::warn!(%error, shard, %holder, "could not send a request to its shard's holder");
                metrics::counter!("miaodan_forwarding_failures_total").increment(1);
                to.owners.forget(shard);
                // The holder may have decided it: not the refusal that says nothing was.
                return crate::http::problem::ApiError::unavailable(
                    "the shard's holder did not answer; retry with the same Idempotency-Key",
                )
                .into_response();
            }
        }
    }
}

/// What the request is sent on with: its method, address, version, headers and the client's
/// address (for `X-Forwarded-For`).
fn copy_of(parts: &axum::http::request::Parts) -> axum::http::request::Parts {
    let mut copy = Request::new(());
    *copy.method_mut() = parts.method.clone();
    *copy.uri_mut() = parts.uri.clone();
    *copy.version_mut() = parts.version;
    *copy.headers_mut() = parts.headers.clone();
    if let Some(peer) = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
    {
        copy.extensions_mut().insert(*peer);
    }
    copy.into_parts().0
}
