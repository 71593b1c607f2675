//! This process among the processes serving one database: the shards' leases it holds (see
//! [`miaodan_store::cluster`]: every batch commit checks its shard's lease epoch in its own
//! transaction), their renewal, and its registration as a member.
//!
//! `miaodan serve` alone takes every shard's lease at start, whoever held them
//! ([`Taking::Whatever`]; a former holder still running, say paused, is fenced by the new
//! epochs). A member of a cluster (`miaodan serve --cluster`) takes its share of them
//! ([`placement`]), each only once it was given back or expired, or once its holder's process is
//! gone (its sign of life, a session lock on PostgreSQL, went with its connection:
//! [`Membership::watch_member`]). The leases are renewed every third of their time to live
//! ([`LEASE_TTL_MS`] by default); if renewals fail (the database does not answer) the shards stop
//! taking commands [`LEASE_MARGIN_MS`] before the lease could expire, and take them again once a
//! renewal succeeds. A lease another process took is lost for good: its shard's commits are
//! fenced. The only process stops serving ([`Leases::lost`]); a member of a cluster closes that
//! shard and goes on with the others ([`Leases::lose_shard`]).

pub mod placement;

use miaodan_store::cluster::{Liveness, ShardLease, Taking};
use miaodan_store::{Store, StoreError};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How long a lease lives unless renewed, by default (`Config::lease_ttl_ms`): the longest a
/// cluster waits for a silent holder before another member takes its shards over. The holder
/// renews its leases every third of it.
pub const LEASE_TTL_MS: i64 = 3_000;
/// How long before a lease could expire its holder stops taking commands, when renewals fail
/// (at most a sixth of the time to live): room for the difference between this process's clock
/// and a taker's.
pub const LEASE_MARGIN_MS: i64 = 500;
/// How often a member says it is alive; one silent for [`MEMBER_FORGOTTEN_MS`] is forgotten.
pub const HEARTBEAT_MS: u64 = 1_000;
pub const MEMBER_FORGOTTEN_MS: i64 = 60_000;
/// How often a member looks whether its sign of life's connection still answers.
const LIVENESS_CHECK: Duration = Duration::from_millis(200);
/// How long a holder's sign of life must stay free before another member takes it for gone:
/// longer than the holder takes to take it again after its connection dropped.
pub const GONE_CONFIRM: Duration = Duration::from_secs(1);

/// This build's wire shape: a digest `build.rs` takes of the sources defining what members send
/// each other (`http::cluster::members`). Members register it, so `GET /v1/cluster` shows which
/// run which build.
pub const WIRE_SHAPE: &str = env!("MIAODAN_WIRE_SHAPE");

/// A new member id: random, positive, so that two processes never share one.
pub fn new_member_id() -> i64 {
    (rand::random::<u64>() >> 2) as i64 + 1
}

/// The shards' leases this process holds.
pub struct Leases {
    member: i64,
    /// How long a renewal keeps them.
    ttl_ms: i64,
    held: std::sync::Mutex<Vec<ShardLease>>,
    /// Taken by a renewal and by a lease taken or given back while the process runs: a renewal
    /// never extends a lease just given back.
    changing: tokio::sync::Mutex<()>,
    /// Whether the shards may take commands: the leases are known held for a while yet.
    writable: AtomicBool,
    /// When the leases are known held until (set by each renewal that succeeded).
    valid_until: std::sync::Mutex<Instant>,
    lost: watch::Sender<bool>,
    /// Given back: renewals end.
    given_back: AtomicBool,
    /// Whether the process is a member of a cluster (`Config::cluster`): a lease another
    /// member took is lost alone ([`Leases::lose_shard`]), the others' shards go on.
    apart: bool,
}

impl Leases {
    /// Takes the leases of `shards` for `member`; `None` when another live process holds one
    /// of them (never with [`Taking::Whatever`]).
    pub async fn take(
        store: &Store,
        (member, ttl_ms): (i64, i64),
        (shards, apart): (&[u32], bool),
        taking: Taking,
    ) -> Result<Option<Leases>, StoreError> {
        let asked = Instant::now();
        let Some(held) = store.take_leases(member, shards, ttl_ms, taking).await? else {
            return Ok(None);
        };
        let epochs: Vec<(u32, i64)> = held.iter().map(|lease| (lease.shard, lease.epoch)).collect();
        tracing::info!(member, ?epochs, "took the shards' leases");
        metrics::gauge!("miaodan_shard_leases_held").set(held.len() as f64);
        Ok(Some(Leases {
            member,
            ttl_ms,
            held: std::sync::Mutex::new(held),
            changing: tokio::sync::Mutex::new(()),
            writable: AtomicBool::new(true),
            valid_until: std::sync::Mutex::new(asked + held_for(ttl_ms)),
            lost: watch::Sender::new(false),
            given_back: AtomicBool::new(false),
            apart,
        }))
    }

    /// Shard `index`'s lease, which its writer commits under; `None` for a shard another member
    /// holds.
    pub fn lease(&self, index: u32) -> Option<ShardLease> {
        self.held().into_iter().find(|lease| lease.shard == index)
    }

    /// Whether this process holds shard `index`'s lease.
    pub fn holds(&self, index: u32) -> bool {
        self.lease(index).is_some()
    }

    /// The leases this process holds, in the order taken.
    pub fn held(&self) -> Vec<ShardLease> {
        self.held.lock().map(|held| held.clone()).unwrap_or_default()
    }

    /// Takes shard `index`'s lease too, while the process runs (a shard moving here), as `taking`
    /// allows; `None` while another live process holds it.
    pub async fn take_one(&self, store: &Store, index: u32, taking: Taking) -> Result<Option<ShardLease>, StoreError> {
        // Not in `changing`'s turn: a taking may wait for the former holder's write, and the
        // renewals of the leases held must not wait with it.
        if let Some(lease) = self.lease(index) {
            return Ok(Some(lease));
        }
        let Some(taken) = store.take_leases(self.member, &[index], self.ttl_ms, taking).await? else {
            return Ok(None);
        };
        let lease = taken.first().copied();
        if let (Some(lease), Ok(mut held)) = (lease, self.held.lock()) {
            held.push(lease);
            metrics::gauge!("miaodan_shard_leases_held").set(held.len() as f64);
            tracing::info!(
                member = self.member,
                shard = index,
                epoch = lease.epoch,
                "took a shard's lease"
            );
        }
        Ok(lease)
    }

    /// Gives shard `index`'s lease back while the process runs (its shard stopped, everything it
    /// queued committed), so that another member takes it at once.
    pub async fn give_back_one(&self, store: &Store, index: u32) {
        let _turn = self.changing.lock().await;
        let lease = match self.held.lock() {
            Ok(mut held) => {
                let lease = held
                    .iter()
                    .position(|lease| lease.shard == index)
                    .map(|at| held.remove(at));
                metrics::gauge!("miaodan_shard_leases_held").set(held.len() as f64);
                lease
            }
            Err(_) => None,
        };
        if let Some(lease) = lease
            && let Err(error) = store.give_back_lease(lease).await
        {
            tracing::warn!(%error, shard = index, "could not give a shard's lease back; it will expire");
        }
    }

    /// Whether the shards may take commands now.
    pub fn writable(&self) -> bool {
        self.writable.load(Ordering::Relaxed)
    }

    /// Another process took a lease: this one's commits are fenced from now on.
    pub fn lose(&self) {
        self.writable.store(false, Ordering::Relaxed);
        if !self.lost.send_replace(true) {
            tracing::error!(
                member = self.member,
                "another process took this process's shards; it stops serving"
            );
            metrics::gauge!("miaodan_shard_leases_held").set(0.0);
        }
    }

    pub fn is_lost(&self) -> bool {
        *self.lost.borrow()
    }

    /// Another member took shard `index`'s lease: its commits are fenced from now on. A member
    /// that holds every shard stops serving ([`Leases::lose`]); one that shares them forgets
    /// that lease alone, and its shard is closed ([`crate::sequencer::Shards::close_lost`]).
    pub fn lose_shard(&self, index: u32) {
        if !self.apart {
            return self.lose();
        }
        if let Ok(mut held) = self.held.lock()
            && let Some(at) = held.iter().position(|lease| lease.shard == index)
        {
            held.remove(at);
            metrics::gauge!("miaodan_shard_leases_held").set(held.len() as f64);
            metrics::counter!("miaodan_shard_leases_lost_total").increment(1);
            tracing::error!(
                member = self.member,
                shard = index,
                "another member took this member's shard; its commits are fenced"
            );
        }
    }

    /// Whether shard `index` may no longer commit here: its lease, or every lease, was lost.
    pub fn lost_shard(&self, index: u32) -> bool {
        self.is_lost() || !self.holds(index)
    }

    /// Resolves once a lease is lost.
    pub async fn lost(&self) {
        let mut lost = self.lost.subscribe();
        let _ = lost.wait_for(|lost| *lost).await;
    }

    /// Renews every lease; a lease taken by another process is lost.
    async fn renew(&self, store: &Store) {
        let _turn = self.changing.lock().await;
        let asked = Instant::now();
        for lease in &self.held() {
            match store.renew_lease(*lease, self.ttl_ms).await {
                Ok(()) => {}
                Err(StoreError::Fenced(_)) if self.apart => self.lose_shard(lease.shard),
                Err(StoreError::Fenced(_)) => return self.lose(),
                Err(error) => {
                    metrics::counter!("miaodan_lease_renewal_failures_total").increment(1);
                    tracing::warn!(%error, shard = lease.shard, "could not renew a shard's lease");
                    return;
                }
            }
        }
        if let Ok(mut valid_until) = self.valid_until.lock() {
            *valid_until = asked + held_for(self.ttl_ms);
        }
        let ended = self.is_lost() || self.given_back.load(Ordering::Relaxed);
        if !ended && !self.writable.swap(true, Ordering::Relaxed) {
            tracing::info!("the shards' leases are renewed again; taking commands");
        }
    }

    /// Stops the shards taking commands once the leases may be about to expire.
    fn lapse_if_due(&self) {
        let due = self
            .valid_until
            .lock()
            .map(|until| *until <= Instant::now())
            .unwrap_or(true);
        if due && self.writable.swap(false, Ordering::Relaxed) {
            tracing::error!("the shards' leases could not be renewed; refusing commands until they are");
        }
    }

    /// Gives every lease back (a process that stops, its shards drained and committed), so
    /// another member takes them over at once.
    pub async fn give_back(&self, store: &Store) {
        self.given_back.store(true, Ordering::Relaxed);
        self.writable.store(false, Ordering::Relaxed);
        for lease in &self.held() {
            if let Err(error) = store.give_back_lease(*lease).await {
                tracing::warn!(%error, shard = lease.shard, "could not give a shard's lease back; it will expire");
            }
        }
        metrics::gauge!("miaodan_shard_leases_held").set(0.0);
    }
}

/// How long a renewal sent now keeps the leases known held.
fn held_for(ttl_ms: i64) -> Duration {
    let margin = LEASE_MARGIN_MS.min(ttl_ms / 6);
    Duration::from_millis((ttl_ms - margin).max(1) as u64)
}

/// Renews `leases` every third of their time to live until they are lost or given back, or the
/// platform holding them is gone.
pub fn spawn_renewal(store: Arc<Store>, leases: &Arc<Leases>) -> JoinHandle<()> {
    let held = Arc::downgrade(leases);
    let period = Duration::from_millis((leases.ttl_ms / 3).max(1) as u64);
    let patience = held_for(leases.ttl_ms);
    tokio::spawn(async move {
        let mut every = tokio::time::interval(period);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut check = tokio::time::interval(Duration::from_millis(100));
        loop {
            let renew = tokio::select! {
                _ = every.tick() => true,
                _ = check.tick() => false,
            };
            let Some(leases) = held.upgrade() else { return };
            if leases.is_lost() || leases.given_back.load(Ordering::Relaxed) {
                return;
            }
            match renew {
                // Bounded: a renewal stuck on a connection to a database that went away and came
                // back (seen after a power cut of PostgreSQL: no answer for seconds) would hold up
                // every renewal after it, and the shards would refuse commands all that time. One
                // that cannot end before the leases it renews would lapse is of no use anyway.
                true => {
                    if tokio::time::timeout(patience, leases.renew(&store)).await.is_err() {
                        metrics::counter!("miaodan_lease_renewal_failures_total").increment(1);
                        tracing::warn!("a renewal of the shards' leases did not finish in time; trying again");
                    }
                }
                false => leases.lapse_if_due(),
            }
        }
    })
}

/// Holds this member's sign of life ([`Store::hold_liveness`]; `held` is what the caller took
/// before it could hold a shard) for as long as the process runs: looks every [`LIVENESS_CHECK`] that
/// its connection answers, and takes it again when not.
pub fn spawn_liveness(store: Arc<Store>, member: i64, held: Option<Liveness>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut held = held;
        loop {
            if let Some(liveness) = &held {
                if liveness.still_held().await {
                    tokio::time::sleep(LIVENESS_CHECK).await;
                    continue;
                }
                tracing::warn!(
                    member,
                    "this member's sign of life was lost with its connection; taking it again"
                );
                held = None;
            }
            match store.hold_liveness(member).await {
                Ok(Some(liveness)) => held = Some(liveness),
                Ok(None) => tracing::warn!(member, "this member's sign of life is held by another session"),
                Err(error) => tracing::warn!(%error, "could not take this member's sign of life"),
            }
            if held.is_none() {
                tokio::time::sleep(LIVENESS_CHECK).await;
            }
        }
    })
}

/// What a member saw of another's sign of life: whether it saw it held (that member has one),
/// and since when it is free.
#[derive(Debug, Default)]
struct LifeWatch {
    seen_held: bool,
    free_since: Option<Instant>,
}

/// This process as a member: its id, where it serves, and its role.
#[derive(Clone, Debug)]
pub struct Membership {
    id: i64,
    /// The gone member whose leases this one may take before they expire (0: none), as the
    /// placement found ([`placement`]).
    taking_over_from: Arc<AtomicI64>,
    /// What this member saw of each other member's sign of life, by member id.
    life_watch: Arc<std::sync::Mutex<std::collections::HashMap<i64, LifeWatch>>>,
    /// Since when each shard seen free has been (see [`placement`]).
    free_since: Arc<std::sync::Mutex<std::collections::HashMap<u32, Instant>>>,
    /// No shard is given back before then: one given back in vain (requests in flight held it
    /// up) is not tried again at once.
    give_back_after: Arc<std::sync::Mutex<Option<Instant>>>,
    /// Where it takes requests, and its role (`holder` or `joining`).
    registered: Arc<std::sync::Mutex<(String, String)>>,
}

impl Membership {
    pub fn new(id: i64, address: String, role: &str) -> Membership {
        Membership {
            id,
            taking_over_from: Arc::new(AtomicI64::new(0)),
            life_watch: Arc::default(),
            free_since: Arc::default(),
            give_back_after: Arc::default(),
            registered: Arc::new(std::sync::Mutex::new((address, role.into()))),
        }
    }

    pub fn id(&self) -> i64 {
        self.id
    }

    /// Notes whether `member`'s sign of life is `free` now (`None`: the database did not say);
    /// true once it is gone: seen held before (a process of an older build never holds one),
    /// then free at every look for [`GONE_CONFIRM`] (a holder whose connection dropped with a
    /// database restart takes its sign of life again well within that).
    pub fn watch_member(&self, member: i64, free: Option<bool>, now: Instant) -> bool {
        let Ok(mut watches) = self.life_watch.lock() else {
            return false;
        };
        let watch = watches.entry(member).or_default();
        let Some(free) = free else {
            watch.free_since = None;
            return false;
        };
        if !free {
            *watch = LifeWatch {
                seen_held: true,
                free_since: None,
            };
            return false;
        }
        if !watch.seen_held {
            return false;
        }
        match watch.free_since {
            Some(since) => now - since >= GONE_CONFIRM,
            None => {
                watch.free_since = Some(now);
                false
            }
        }
    }

    /// Notes which shards are free now; gives those seen free, at every look, for `long`.
    pub fn note_free(&self, free: &[u32], now: Instant, long: Duration) -> Vec<u32> {
        let Ok(mut seen) = self.free_since.lock() else {
            return Vec::new();
        };
        seen.retain(|shard, _| free.contains(shard));
        free.iter()
            .filter(|shard| now - *seen.entry(**shard).or_insert(now) >= long)
            .copied()
            .collect()
    }

    /// Whether this member may give a shard back now (see [`Membership::give_back_held_up`]).
    pub fn may_give_back(&self, now: Instant) -> bool {
        self.give_back_after
            .lock()
            .map(|after| after.is_none_or(|after| now >= after))
            .unwrap_or(true)
    }

    /// A shard could not be given back now: none is tried again for `pause`.
    pub fn give_back_held_up(&self, now: Instant, pause: Duration) {
        if let Ok(mut after) = self.give_back_after.lock() {
            *after = Some(now + pause);
        }
    }

    /// Forgets what it saw of the members not among `members` (those that left).
    pub fn forget_watches_except(&self, members: &[i64]) {
        if let Ok(mut watches) = self.life_watch.lock() {
            watches.retain(|member, _| members.contains(member));
        }
    }

    /// Takes the leases of `gone`, whose process is gone, without waiting for them to expire
    /// ([`Membership::taking`]); `None`: only leases free.
    pub fn take_from(&self, gone: Option<i64>) {
        self.taking_over_from.store(gone.unwrap_or(0), Ordering::SeqCst);
    }

    /// The member whose leases this one takes (or took last) because its process is gone.
    pub fn taking_over_from(&self) -> Option<i64> {
        Some(self.taking_over_from.load(Ordering::SeqCst)).filter(|gone| *gone != 0)
    }

    /// How this member takes the leases: those free, and those of the gone member the
    /// placement found, if any.
    pub fn taking(&self) -> Taking {
        match self.taking_over_from() {
            Some(gone) => Taking::ExpiredOrFrom(gone),
            None => Taking::Expired,
        }
    }

    pub fn set_address(&self, address: String) {
        if let Ok(mut registered) = self.registered.lock() {
            registered.0 = address;
        }
    }

    pub fn set_role(&self, role: &str) {
        if let Ok(mut registered) = self.registered.lock() {
            registered.1 = role.into();
        }
    }

    /// Says now that this process is alive (and forgets the members long silent).
    pub async fn beat(&self, store: &Store) {
        let Ok((address, role)) = self.registered.lock().map(|r| r.clone()) else {
            return;
        };
        let beat = async {
            store.heartbeat(self.id, &address, &role, WIRE_SHAPE).await?;
            store.forget_silent_members(MEMBER_FORGOTTEN_MS).await
        };
        if let Err(error) = beat.await {
            tracing::warn!(%error, "could not register this process as a member");
        }
    }

    /// Says this process is alive every [`HEARTBEAT_MS`], until aborted.
    pub fn spawn_heartbeat(&self, store: Arc<Store>) -> JoinHandle<()> {
        let membership = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_millis(HEARTBEAT_MS));
            loop {
                every.tick().await;
                membership.beat(&store).await;
            }
        })
    }

    /// Removes this process from the members (it stops).
    pub async fn leave(&self, store: &Store) {
        if let Err(error) = store.forget_member(self.id).await {
            tracing::warn!(%error, "could not remove this process from the members");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A holder is gone only if its sign of life was seen held, then stayed free for
    /// [`GONE_CONFIRM`]; an unanswered look proves nothing, and another holder starts afresh.
    #[test]
    fn a_holder_is_gone_only_once_its_sign_of_life_seen_held_stays_free() {
        let member = Membership::new(1, String::new(), "joining");
        let start = Instant::now();
        let at = |later: Duration| start + later;
        let half = GONE_CONFIRM / 2;
        assert!(
            !member.watch_member(7, Some(true), at(Duration::ZERO)),
            "never seen held: an older build's"
        );
        assert!(!member.watch_member(7, Some(true), at(GONE_CONFIRM * 2)));
        assert!(
            !member.watch_member(7, Some(false), at(GONE_CONFIRM * 2)),
            "held: alive"
        );
        let free_from = GONE_CONFIRM * 3;
        assert!(
            !member.watch_member(7, Some(true), at(free_from)),
            "free a moment: it may take it again"
        );
        assert!(
            !member.watch_member(7, None, at(free_from + half)),
            "the database did not say"
        );
        assert!(
            !member.watch_member(7, Some(true), at(free_from + half)),
            "free again: counted afresh"
        );
        assert!(!member.watch_member(7, Some(true), at(free_from + half * 2)));
        assert!(
            member.watch_member(7, Some(true), at(free_from + half * 3)),
            "free throughout: gone"
        );
        assert!(
            !member.watch_member(8, Some(true), at(free_from * 2)),
            "another holder was never seen held"
        );
    }
}
