//! `miaodan serve --cluster`: this process as one member of a cluster of processes serving one
//! PostgreSQL database, sharing its shards with the other members. It listens at once and
//! forwards every request to shard 0's holder until it holds shards of its own; it takes an even
//! share of the leases as soon as one is free ([`placement`]), loads the platform with them from
//! the tables, and serves from then on, sending on what another member's shards decide. A member
//! that joins gets its share from the others, who give shards back one by one; the shards of a
//! member that stops or dies are taken by the others (at once when its process is gone, else
//! once its leases expire). A cluster of one holds every shard. On SIGTERM a member stands by
//! (forwarding), lets its requests in flight finish, stops its shards (every queued command
//! committed) and gives the leases back before it exits: the others take them at once, and no
//! request is lost on the way (a client retries the few `503`s of the move with the same key).
//! A member whose every lease another took (it was paused past them) stands by and asks for its
//! share again.

use miaodan_server::app::{AppState, Config, LeasesHeld, Platform};
use miaodan_server::cluster::placement::{self, HOLDER, JOINING, PLACEMENT_POLL};
use miaodan_server::cluster::{Membership, new_member_id, spawn_liveness};
use miaodan_server::http::cluster::forward::Forwarder;
use miaodan_server::http::cluster::switch::Switch;
use miaodan_store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// How often a member holding nothing looks whether a lease is free for it.
const TAKEOVER_POLL: Duration = Duration::from_millis(200);
/// How long a stopping member waits for the connections it still serves (a forwarded live
/// stream ends only when the member serving it stops).
const LISTENER_DRAIN: Duration = Duration::from_secs(10);
/// How long a member that steps down waits for its requests in flight.
const IN_FLIGHT_WAIT: Duration = Duration::from_secs(30);

pub async fn serve(mut config: Config, advertise: Option<String>) -> anyhow::Result<()> {
    let database = config.database.clone();
    checked(&config, advertise.as_deref())?;
    let listener = TcpListener::bind(config.listen).await?;
    let address = listener.local_addr()?;
    // The member serves its metrics for as long as it runs; the platform, when it holds shards, does
    // not bind a listener of its own.
    let metrics = match config.metrics_listen.take() {
        Some(listen) => Some(serve_metrics(listen, &config).await?),
        None => None,
    };
    let advertise = advertise.unwrap_or_else(|| format!("http://{address}"));
    let store = Arc::new(Store::open(&database, config.durability).await?);
    let (membership, [liveness, heartbeat]) = join(&store, &advertise, JOINING).await?;
    config.cluster = Some(membership.clone());
    let switch = Switch::new(Forwarder::new(store.clone(), membership.id())?);
    let (stop_listening, listening_stopped) = tokio::sync::oneshot::channel::<()>();
    let (router, limits) = (switch.router(), config.limits.clone());
    let listening = tokio::spawn(async move {
        let stop = async {
            let _ = listening_stopped.await;
        };
        miaodan_server::http::listener::serve(listener, router, &limits, stop).await;
    });
    tracing::info!(address = %address, member = membership.id(), "miaodan is serving as a cluster member");
    println!(
        "miaodan is serving on {advertise}  (cluster member {}: it takes its share of the shards, and forwards until it holds one)",
        membership.id(),
    );
    let mut stop = std::pin::pin!(crate::wait_for_stop_signal());
    loop {
        let state = tokio::select! {
            _ = &mut stop => break,
            state = take_share(&store, &config, &membership) => state,
        };
        membership.set_role(HOLDER);
        if let Some(gone) = membership.taking_over_from() {
            println!("member {gone} was gone: this member took its leases without waiting for them to expire");
        }
        let mut platform = serve_shards(&state, address, &switch).await?;
        println!("this member now holds shards {:?} ({advertise})", held(&state));
        let lost = keep_placing(&state, &mut platform, &mut stop).await;
        switch.stand_by();
        step_down(state, platform).await;
        membership.set_role(JOINING);
        if !lost {
            break;
        }
        println!("another member took the shards; this one stands by");
    }
    let _ = stop_listening.send(());
    // Requests in flight finish; a live stream forwarded from another member would not end by
    // itself, so the wait is bounded.
    let _ = tokio::time::timeout(LISTENER_DRAIN, listening).await;
    metrics.iter().for_each(tokio::task::JoinHandle::abort);
    heartbeat.abort();
    membership.leave(&store).await;
    liveness.abort();
    Ok(())
}

/// This process as a new member, holding no shard yet: its sign of life held (before it can
/// hold one: a holder whose sign of life is not held looks gone), and its heartbeat.
async fn join(
    store: &Arc<Store>,
    advertise: &str,
    role: &str,
) -> anyhow::Result<(Membership, [tokio::task::JoinHandle<()>; 2])> {
    let membership = Membership::new(new_member_id(), advertise.to_string(), role);
    let liveness = store.hold_liveness(membership.id()).await?;
    if liveness.is_none() {
        tracing::warn!(
            member = membership.id(),
            "another session holds this member's sign of life; taking it later"
        );
    }
    let liveness = spawn_liveness(store.clone(), membership.id(), liveness);
    let heartbeat = membership.spawn_heartbeat(store.clone());
    Ok((membership, [liveness, heartbeat]))
}

/// Refuses a configuration a member cannot work with.
fn checked(config: &Config, advertise: Option<&str>) -> anyhow::Result<()> {
    anyhow::ensure!(
        Store::names_postgres(&config.database),
        "--cluster needs a PostgreSQL database (postgres://…) that every member shares"
    );
    anyhow::ensure!(
        advertise.is_some() || !config.listen.ip().is_unspecified(),
        "--cluster listening on {} needs --advertise http://HOST:PORT: the address the other members reach this one at",
        config.listen
    );
    Ok(())
}

/// Starts the platform's work and answers with it from now on; on a fresh database, prints the
/// first admin token.
async fn serve_shards(state: &AppState, address: std::net::SocketAddr, switch: &Switch) -> anyhow::Result<Platform> {
    let platform = match Platform::start(state, address).await {
        Ok(platform) => platform,
        Err(error) => {
            // The shards go to another member at once rather than after the leases expire.
            state.shards.stop().await;
            state.shards.leases().give_back(&state.store).await;
            return Err(error);
        }
    };
    switch.serve(miaodan_server::http::router(state.clone()));
    // Once, by shard 0's holder: two members sharing the shards from a fresh start would each
    // find no admin token yet.
    if !state.shards.holds(0) {
        return Ok(platform);
    }
    match state.bootstrap_admin_token().await {
        Ok(Some(token)) => {
            println!("First start: a platform (admin) token was created. It is shown only this once:\n  {token}\n")
        }
        Ok(None) => {}
        Err(error) => tracing::error!(%error, "could not issue the first admin token"),
    }
    Ok(platform)
}

/// Serves the member's `GET /metrics` on `listen`.
async fn serve_metrics(listen: std::net::SocketAddr, config: &Config) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("metrics listener on {listen}: {e}"))?;
    println!(
        "Prometheus metrics: http://{}/metrics  (--metrics-listen ADDR|off)",
        listener.local_addr()?
    );
    let (router, limits) = (
        miaodan_server::http::cluster::member_metrics_router(),
        config.limits.clone(),
    );
    Ok(tokio::spawn(async move {
        miaodan_server::http::listener::serve(listener, router, &limits, std::future::pending()).await;
    }))
}

/// Waits until some shards' leases are free and this member is short of its share
/// ([`placement::first_share`]), then takes them and loads the platform with those shards.
async fn take_share(store: &Store, config: &Config, membership: &Membership) -> AppState {
    loop {
        match placement::first_share(store, membership, config.shards).await {
            Ok(moves) if !moves.take.is_empty() => {
                let gone = match moves.take[0].1 {
                    miaodan_store::cluster::Taking::ExpiredOrFrom(gone) => Some(gone),
                    _ => None,
                };
                membership.take_from(gone);
                let mut config = config.clone();
                config.held_shards = Some(moves.take.iter().map(|(shard, _)| *shard).collect());
                match AppState::open(config).await {
                    Ok(state) => return state,
                    Err(error) if error.is::<LeasesHeld>() => {}
                    Err(error) => tracing::warn!(%error, "could not take a share of the shards; retrying"),
                }
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "could not read the cluster's placement; retrying"),
        }
        tokio::time::sleep(TAKEOVER_POLL).await;
    }
}

/// The shards this member holds, by index.
fn held(state: &AppState) -> Vec<u32> {
    let mut held: Vec<u32> = state.shards.leases().held().iter().map(|lease| lease.shard).collect();
    held.sort_unstable();
    held
}

/// Moves this member towards its share every [`PLACEMENT_POLL`] ([`placement::place`]; the
/// platform-wide work follows shard 0), until it is told to stop (false) or another member took
/// every lease it held (true). A move under way is finished before a stop is heard.
async fn keep_placing(
    state: &AppState,
    platform: &mut Platform,
    stop: &mut std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) -> bool {
    let mut every = tokio::time::interval(PLACEMENT_POLL);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.as_mut() => return false,
            _ = every.tick() => {}
        }
        let open_before: Vec<usize> = (0..state.shards.count() as usize)
            .filter(|s| state.shards.holds(*s))
            .collect();
        // A lost shard 0 stops the platform-wide work before any move is made.
        state.shards.close_lost().await;
        platform.follow_shard_zero();
        let placed = placement::place(state).await.unwrap_or_else(|error| {
            tracing::warn!(%error, "could not read the cluster's placement");
            placement::Placed::default()
        });
        // Lost: closed during this look, here or by a taking (whoever saw the lease gone first).
        let lost: Vec<usize> = open_before
            .into_iter()
            .filter(|shard| !state.shards.holds(*shard) && placed.given_back != Some(*shard as u32))
            .collect();
        report(state, &lost, &placed);
        platform.follow_shard_zero();
        let leases = state.shards.leases();
        if leases.is_lost() || leases.held().is_empty() {
            return true;
        }
    }
}

/// Says what a look at the placement changed here.
fn report(state: &AppState, lost: &[usize], placed: &placement::Placed) {
    if !lost.is_empty() {
        println!("another member took shards {lost:?}: this member was paused or cut off past their leases");
    }
    for (shard, taking) in &placed.taken {
        if let miaodan_store::cluster::Taking::ExpiredOrFrom(gone) = taking {
            println!("member {gone} was gone: this member took shard {shard} without waiting for its lease to expire");
        }
    }
    let held = held(state);
    if (placed.changed() || !lost.is_empty()) && !held.is_empty() {
        println!("this member now holds shards {held:?}");
    }
}

/// Stops serving the shards: live streams end, the requests in flight finish, the shards commit what they
/// queued and the leases are given back.
async fn step_down(state: AppState, platform: Platform) {
    state.stopping.send_replace(true);
    let waited = tokio::time::Instant::now();
    while state.admission.in_flight() > 0 && waited.elapsed() < IN_FLIGHT_WAIT {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    platform.stop().await;
    tracing::info!("stepped down: the shards' leases are given back");
}
