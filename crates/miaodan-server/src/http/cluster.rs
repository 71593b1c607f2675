//! `GET /v1/cluster` (admin): the processes serving this database and who owns each shard,
//! under which epoch, for how long yet (see [`crate::cluster`]); and how a member of a cluster
//! answers while it stands by (`forward`, `switch`); and how members ask each other's shards
//! (`members`).

pub mod forward;
pub mod members;
pub mod route;
pub mod switch;

use super::problem::ApiError;
use crate::app::AppState;
use crate::auth::Admin;
use axum::Json;
use axum::extract::State;
use miaodan_domain::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// `GET /metrics` of a cluster member for as long as the process runs, whatever its role: the
/// figures the process recorded (forwarding while it holds no shard, everything while it holds some).
/// Its histograms are folded every few seconds by the task this starts.
pub fn member_metrics_router() -> axum::Router {
    let handle = crate::metrics_setup::handle();
    crate::metrics_setup::spawn_upkeep(handle.clone());
    axum::Router::new()
        .route(
            "/metrics",
            axum::routing::get(move || {
                let handle = handle.clone();
                async move { handle.render() }
            }),
        )
        .fallback(super::not_found)
}

/// The route, registered once for the router and the OpenAPI document.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_cluster))
}

/// The processes and the shards' owners.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterView {
    /// The member id of the process that answered.
    pub answered_by: i64,
    /// Every registered process, oldest first.
    pub members: Vec<MemberView>,
    /// Every shard's lease, by shard.
    pub shards: Vec<ShardView>,
}

/// A process serving this database.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    pub id: i64,
    /// Where it takes requests.
    pub address: String,
    /// `holder` (it holds shards: every one for a process serving alone, a share of them for a
    /// member of a cluster) or `joining` (a member holding none yet, which forwards).
    pub role: String,
    pub started_at: String,
    /// How long ago it last said it was alive (it says so every second); its lag.
    pub heartbeat_age_ms: i64,
    /// Its wire shape, a digest of what members send each other: members of two shapes (two
    /// builds meeting in a rolling restart) refuse each other's shard requests. Empty for a
    /// member of an older build.
    pub wire: String,
}

/// A shard's lease.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShardView {
    pub shard: u32,
    /// The member holding it (0: never held).
    pub owner: i64,
    /// Raised by each taking of the lease; every commit of the shard checks it.
    pub epoch: i64,
    /// How long the lease lives unless renewed (renewed every third of its time to live); 0 or less: given back
    /// or expired, free to take.
    pub expires_in_ms: i64,
    /// Commands waiting in the shard's queue, when the answering process holds it.
    pub queued: Option<usize>,
}

/// The processes serving this database and each shard's lease: owner, epoch, time to live.
#[utoipa::path(get, path = "/v1/cluster", tag = "system",
    responses((status = 200, body = ClusterView)),
    security(("bearer" = [])))]
pub async fn get_cluster(State(state): State<AppState>, _: Admin) -> Result<Json<ClusterView>, ApiError> {
    let members = state.store.members().await?;
    let leases = state.store.shard_leases().await?;
    let answered_by = state.membership.id();
    let holds = |owner: i64| owner == answered_by && state.shards.leases().writable();
    Ok(Json(ClusterView {
        answered_by,
        members: members
            .into_iter()
            .map(|member| MemberView {
                id: member.id,
                address: member.address,
                role: member.role,
                started_at: crate::clock::rfc3339(Timestamp::from_unix_ms(member.started_at_ms)),
                heartbeat_age_ms: member.heartbeat_age_ms,
                wire: member.wire,
            })
            .collect(),
        shards: leases
            .into_iter()
            .map(|lease| ShardView {
                shard: lease.shard,
                owner: lease.owner,
                epoch: lease.epoch,
                expires_in_ms: lease.expires_in_ms,
                queued: (holds(lease.owner) && lease.shard < state.shards.count())
                    .then(|| state.shards.queued(lease.shard as usize)),
            })
            .collect(),
    }))
}
