//! The members' own endpoint, and its client: how one process asks a shard another process of
//! the cluster owns. A request runs where its own shard is; the parts of it outside that shard
//! (a checkout's other shops, a payment's orders elsewhere, the delivery options every shard is
//! asked, a risk change every shard takes) are sent to their shard's owner as values: commands
//! without recorders (a keyed checkout's parts carry request references, so its retry finds
//! them placed), named questions and risk changes. The owner decides them in its shard's turn,
//! like its own.
//!
//! `POST /internal/shards/{index}` takes a [`ShardRequest`] as JSON and answers
//! `Result<`[`ShardReply`]`, `[`ShardError`]`>`. Only a cluster member (`miaodan serve --cluster`)
//! serves it; a plain process answers `404` as for any unknown route. The caller shows:
//! - the members' secret ([`SECRET_HEADER`]): drawn by the first member to ask for it and
//!   read by every other (`Store::member_secret`), so members need no shared configuration; a
//!   caller without it is `401 unauthorized` and nothing is decided;
//! - its wire's shape ([`WIRE_HEADER`], a digest of the sources that define the values sent:
//!   `build.rs`): during a rolling restart two builds meet, and a part sent by a build of another
//!   shape is refused `409 wire_mismatch`, never read wrongly. The caller retries it;
//! - its shard count ([`SHARDS_HEADER`]): members counting shards differently would put a shop in
//!   two different shards, so that is `409 wire_mismatch` too.
//!
//! A part whose answer was lost (the owner stopped, the answer timed out) may have been decided:
//! it is not sent again by itself ([`ShardError::OwnerUnreachable`]); a keyed request's retry
//! finds what it did.
//!
//! Not in the OpenAPI document: no client of the platform calls it.

use crate::app::AppState;
use crate::http::problem::ApiError;
use crate::sequencer::{OtherHolders, ShardError, Shards};
pub use crate::sequencer::{ShardReply, ShardRequest};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use miaodan_store::Store;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Where a member asks another's shard.
pub const PATH: &str = "/internal/shards/{index}";
/// The header carrying the caller's wire shape.
pub const WIRE_HEADER: &str = "miaodan-wire";
/// The header carrying the members' secret.
pub const SECRET_HEADER: &str = "miaodan-member-secret";
/// The header carrying the caller's shard count.
pub const SHARDS_HEADER: &str = "miaodan-shards";
pub use crate::cluster::WIRE_SHAPE;
/// How long a member waits for another's answer: a shard answers within its batch's commit.
const ANSWER_WAIT: Duration = Duration::from_secs(30);

/// `POST /internal/shards/{index}`.
pub async fn serve(
    State(state): State<AppState>,
    Path(index): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match admit(&state, &index, &headers, &body) {
        Ok((index, request)) => Json(answer(&state.shards, index, request).await).into_response(),
        Err(error) => error.into_response(),
    }
}

/// The shard and the request, once the caller showed the secret and its wire is this build's.
fn admit(state: &AppState, index: &str, headers: &HeaderMap, body: &[u8]) -> Result<(usize, ShardRequest), ApiError> {
    // Only a cluster member has the secret: a plain process serves no such endpoint.
    let secret = state.member_secret.as_ref().ok_or_else(crate::http::no_such_endpoint)?;
    let shown = headers.get(SECRET_HEADER).map(|v| v.as_bytes()).unwrap_or_default();
    // Digests compared, not the secrets: how long the comparison takes says nothing of it.
    if Sha256::digest(shown) != Sha256::digest(secret.as_bytes()) {
        let detail = "the members' endpoint needs the members' secret";
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", detail));
    }
    let shape = headers.get(WIRE_HEADER).map(|v| v.as_bytes()).unwrap_or_default();
    if shape != WIRE_SHAPE.as_bytes() {
        return Err(mismatch(format!(
            "this member's wire is {WIRE_SHAPE}, the caller's {}: another build; retry at a member of the caller's build",
            String::from_utf8_lossy(shape)
        )));
    }
    let count = state.shards.count();
    let counted = headers.get(SHARDS_HEADER).map(|v| v.as_bytes()).unwrap_or_default();
    if counted != count.to_string().as_bytes() {
        return Err(mismatch(format!(
            "this member counts {count} shards, the caller {}: shops would be in different shards",
            String::from_utf8_lossy(counted)
        )));
    }
    let index = index
        .parse::<usize>()
        .ok()
        .filter(|i| *i < count as usize)
        .ok_or_else(|| ApiError::not_found("shard"))?;
    let request: ShardRequest = serde_json::from_slice(body)
        .map_err(|error| ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", error.to_string()))?;
    let shop = match &request {
        ShardRequest::Command { shop, .. } | ShardRequest::Bundle { shop, .. } => Some(*shop),
        ShardRequest::Question(_) | ShardRequest::ChangeRisk(_) => None,
    };
    if let Some(shop) = shop.filter(|shop| state.shards.shard_of(*shop) != index) {
        return Err(mismatch(format!(
            "shop {shop} is not in shard {index}: the caller named another shard"
        )));
    }
    Ok((index, request))
}

fn mismatch(detail: String) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "wire_mismatch", detail)
}

/// Decides `request` in shard `index` of this process. A shard this process does not hold (it
/// moved) is [`ShardError::HeldElsewhere`]: never sent on, so a request never goes round.
pub async fn answer(shards: &Shards, index: usize, request: ShardRequest) -> Result<ShardReply, ShardError> {
    if !shards.holds(index) {
        return Err(ShardError::HeldElsewhere { shard: index });
    }
    Ok(match request {
        ShardRequest::Command { shop, command } => ShardReply::Outcome(shards.submit(shop, command, None).await?),
        ShardRequest::Bundle { shop, commands } => ShardReply::Outcomes(shards.submit_bundle(shop, commands).await?),
        ShardRequest::Question(question) => ShardReply::Answer(shards.inquire_as_sent(index, question).await?),
        ShardRequest::ChangeRisk(change) => {
            shards.change_risk(index, change).await?;
            ShardReply::Changed
        }
    })
}

/// A member's way to another member's shards.
#[derive(Clone)]
pub struct MemberClient {
    http: reqwest::Client,
    secret: String,
}

impl MemberClient {
    /// A client showing `secret` (`Store::member_secret`).
    pub fn new(secret: String) -> anyhow::Result<MemberClient> {
        let http = reqwest::Client::builder()
            .timeout(ANSWER_WAIT)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()?;
        Ok(MemberClient { http, secret })
    }

    /// Sends `request` to shard `index` (of `shards`) at the member serving at `address`
    /// (`http://host:port`). A member that refuses the request (another build, another secret,
    /// another shard count) decided nothing; one that cannot be reached, or whose answer did not
    /// come, may have decided it. Either is [`ShardError::OwnerUnreachable`], and the part (one
    /// that can be repeated safely) is sent again.
    pub async fn send(
        &self,
        address: &str,
        (index, shards): (usize, u32),
        request: &ShardRequest,
    ) -> Result<ShardReply, ShardError> {
        let url = format!(
            "{}{}",
            address.trim_end_matches('/'),
            PATH.replace("{index}", &index.to_string())
        );
        let unreachable = |why: String| {
            tracing::warn!(%url, %why, "a member's shard could not be asked");
            metrics::counter!("miaodan_member_requests_failed_total").increment(1);
            ShardError::OwnerUnreachable
        };
        let response = self
            .http
            .post(&url)
            .header(SECRET_HEADER, &self.secret)
            .header(WIRE_HEADER, WIRE_SHAPE)
            .header(SHARDS_HEADER, shards.to_string())
            .json(request)
            .send()
            .await
            .map_err(|error| unreachable(error.to_string()))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|error| unreachable(error.to_string()))?;
        if status != StatusCode::OK {
            return Err(unreachable(format!("{status}: {}", String::from_utf8_lossy(&body))));
        }
        serde_json::from_slice::<Result<ShardReply, ShardError>>(&body)
            .map_err(|error| unreachable(error.to_string()))?
    }
}

/// How often a request waiting for a shard's holder looks whether it still holds the shard.
const HOLDER_LOOK: std::time::Duration = std::time::Duration::from_millis(250);

/// Where the shards other members hold are: each one's holder, found from the leases and the
/// members' registered addresses (remembered until asking it fails), and the client that asks
/// it over the members' endpoint ([`MemberClient`]).
pub struct ShardOwners {
    store: Arc<Store>,
    count: u32,
    client: MemberClient,
    /// The address of each shard's holder, as last found.
    known: std::sync::Mutex<HashMap<usize, String>>,
}

impl ShardOwners {
    /// Asks the members of the cluster serving `store` (counting `count` shards) with `secret`.
    pub fn new(store: Arc<Store>, count: u32, secret: String) -> anyhow::Result<ShardOwners> {
        Ok(ShardOwners {
            store,
            count,
            client: MemberClient::new(secret)?,
            known: Default::default(),
        })
    }

    /// The address of shard `index`'s holder: remembered, or found now (a live lease, and its
    /// holder's registration).
    pub async fn holder(&self, index: usize) -> Result<String, ShardError> {
        if let Some(address) = self.known.lock().ok().and_then(|known| known.get(&index).cloned()) {
            return Ok(address);
        }
        let address = match super::forward::live_holder(&self.store, index).await {
            Ok(Some((_, address))) => address,
            found => {
                let why = found
                    .err()
                    .map_or("no live lease, or its holder is not registered".into(), |e| {
                        e.to_string()
                    });
                tracing::warn!(shard = index, %why, "the holder of a shard is not known");
                return Err(ShardError::OwnerUnreachable);
            }
        };
        if let Ok(mut known) = self.known.lock() {
            known.insert(index, address.clone());
        }
        Ok(address)
    }

    pub fn forget(&self, index: usize) {
        if let Ok(mut known) = self.known.lock() {
            known.remove(&index);
        }
    }

    /// Resolves once shard `index` is no longer held by the member at `holder`: its lease was
    /// taken (a new epoch: whatever the member asked would commit under the old one is fenced),
    /// or it was already another member's. A lease that merely expired is not enough: its
    /// holder, slow to renew, may still commit under it.
    pub async fn holder_replaced(&self, index: usize, holder: &str) {
        let mut asked: Option<(i64, i64)> = None;
        loop {
            tokio::time::sleep(HOLDER_LOOK).await;
            let Ok(leases) = self.store.shard_leases().await else {
                continue;
            };
            let Some(lease) = leases.iter().find(|lease| lease.shard as usize == index) else {
                continue;
            };
            let now = (lease.owner, lease.epoch);
            let replaced = match asked {
                Some(asked) => asked != now,
                // The member asked was found as this lease's holder; unless it was another's.
                None => match self.store.members().await {
                    Ok(members) => members
                        .iter()
                        .find(|member| member.id == lease.owner)
                        .is_some_and(|owner| owner.address != holder),
                    Err(_) => continue,
                },
            };
            if replaced {
                self.forget(index);
                return;
            }
            asked = Some(now);
        }
    }

    /// Sends `request` to shard `index`'s holder. A member that says it no longer holds the
    /// shard decided nothing: the holder is found again and asked once more. One that could not
    /// be asked is forgotten, and the caller told: it may have decided the part, which is sent
    /// again only by a retry of the whole request (a command without a request reference must
    /// not be repeated blindly).
    async fn ask_holder(&self, index: usize, request: &ShardRequest) -> Result<ShardReply, ShardError> {
        let mut moved = false;
        loop {
            let address = self.holder(index).await?;
            let sent = tokio::select! {
                sent = self.client.send(&address, (index, self.count), request) => sent,
                _ = self.holder_replaced(index, &address) => Err(ShardError::OwnerUnreachable),
            };
            match sent {
                Err(ShardError::HeldElsewhere { .. }) if !moved => {
                    self.forget(index);
                    moved = true;
                }
                Err(error @ (ShardError::HeldElsewhere { .. } | ShardError::OwnerUnreachable)) => {
                    self.forget(index);
                    return Err(error);
                }
                answered => return answered,
            }
        }
    }
}

impl OtherHolders for ShardOwners {
    fn ask<'a>(
        &'a self,
        index: usize,
        request: &'a ShardRequest,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<ShardReply, ShardError>> + Send + 'a>> {
        Box::pin(self.ask_holder(index, request))
    }
}
