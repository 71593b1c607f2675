//! One writer per shard, in batches (group commit).
//!
//! Each shard is a task that owns its [`ShardState`] and its database [`Writer`]. It drains its
//! inbox up to [`BATCH_COMMANDS_MAX`] commands, lets the core decide them one after the other
//! in memory, writes all their effects (and the idempotent responses of their requests) in ONE
//! transaction, and only then answers every request of the batch. So:
//! - no reply leaves before its batch is durable (a crash loses only unanswered requests);
//! - one fsync pays for the whole batch, and a hot SKU costs one row write per batch;
//! - no lock is held across IO, and no two writers ever touch the same stock.
//!
//! If a commit fails, memory is ahead of the database: the shard fails the batch
//! ([`ShardError::CommitFailed`]) and rebuilds its state from the tables (the truth) before
//! taking new commands.
//!
//! **API boundary:** the sequencer speaks domain values and [`ShardError`]; it knows nothing of
//! HTTP. `http/` maps a `ShardError` to problem+json and renders the alerts of [`AlertFeed`].

use crate::clock::Clock;
use crate::cluster::Leases;
use miaodan_domain::ShopId;
use miaodan_domain::Timestamp;
use miaodan_domain::logistics::Alert;
use miaodan_domain::payments;
use miaodan_domain::risk::{RiskHashKey, RiskMode};
use miaodan_domain::shard::{
    Answer, Command, Effect, Outcome, Question, Rejection, RiskChange, ShardCommand, ShardHorizons, ShardQuestion,
    ShardState, ShortageNotice,
};
use miaodan_store::cluster::Taking;
use miaodan_store::records::IdempotencyRecord;
use miaodan_store::sql::Statement;
use miaodan_store::{Store, Writer};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// The most commands decided and committed together.
pub const BATCH_COMMANDS_MAX: usize = 16_384;
/// How often unpaid orders past their due time are cancelled.
pub const EXPIRY_TICK_MS: u64 = 250;
/// The longest a sale's tap counts wait in memory when only refusals (which write nothing)
/// arrive: then the counts are committed on their own. Otherwise they ride with the next
/// batch the shard commits anyway. A crash loses at most the counts of this long.
pub const TAP_COUNTS_FLUSH_MS: u64 = 500;

/// Why a shard did not answer a command with an outcome. None of these is a business refusal
/// (that is an `Outcome::Rejected`); each is worth a retry with the same Idempotency-Key.
// Serialised on the members' wire (`http::cluster::members`): an owner's refusal reaches the
// member that asked as itself.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum ShardError {
    /// The shard's inbox is full (`Limits::shard_queue_max` messages): refused at once, not
    /// queued.
    #[error("the shard's queue is full; retry in {retry_after_seconds} s")]
    Overloaded { retry_after_seconds: u64 },
    /// The shard no longer takes messages: the server is shutting down.
    #[error("the server is stopping")]
    Stopping,
    /// The shard ended before it answered.
    #[error("the shard stopped")]
    Stopped,
    /// The batch (or the failed batch it was decided on top of) did not commit; the shard is
    /// rebuilding its state from the tables.
    #[error("the batch could not be committed")]
    CommitFailed,
    /// The shard lost its database connection with the previous failed batch.
    #[error("the shard has no database connection")]
    NoConnection,
    /// The shard is rebuilding its state from the tables after a failed commit (waiting for
    /// the database, if it does not answer). Refused at once, not queued: a client learns of an
    /// outage at once and retries.
    #[error("the shard is rebuilding its state from the database")]
    Rebuilding,
    /// This process does not hold the shard's lease: another process took it (then this one
    /// stops serving), or renewals failed and it may be about to expire (see [`crate::cluster`]).
    /// Refused at once: a retry, here once a renewal succeeds or at the process that took it
    /// over, is answered.
    #[error("this process does not hold the shard's lease")]
    NotOwner,
    /// The process that owns the shard could not be asked (`http::cluster::members`): it refused
    /// the request (another build: nothing decided), or did not answer (it may have decided it).
    /// The part is not sent again by itself: a keyed request's retry finds what it did (its parts
    /// carry request references, its answer is stored at its home); a request without a key may
    /// have been decided, as after any lost answer.
    #[error("the process that owns the shard could not be asked")]
    OwnerUnreachable,
    /// Another member holds shard `shard`, and what was asked cannot be sent there as a value:
    /// a command with its request's recorder, or a read by closure. Nothing was decided: the
    /// whole request belongs at that member, and the edge sends it there
    /// (`http::cluster::route`).
    #[error("another member holds shard {shard}")]
    HeldElsewhere { shard: usize },
}

/// What a member asks of a shard another member holds: values, not closures, sent over the
/// members' endpoint (`http::cluster::members`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ShardRequest {
    /// One command of `shop`'s, decided and committed like the holder's own.
    Command {
        shop: ShopId,
        command: Command,
    },
    /// Several commands of `shop`'s, decided in order in one batch.
    Bundle {
        shop: ShopId,
        commands: Vec<Command>,
    },
    Question(Question),
    ChangeRisk(RiskChange),
}

/// The holder's answer, of the request's own kind.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ShardReply {
    Outcome(Outcome),
    Outcomes(Vec<Outcome>),
    Answer(Answer),
    Changed,
}

/// The way to the shards other members hold (`cluster::ShardOwners`: their holders found from the
/// leases, asked over the members' endpoint).
pub trait OtherHolders: Send + Sync + 'static {
    /// Sends `request` to shard `index`'s holder and gives its answer.
    fn ask<'a>(
        &'a self,
        index: usize,
        request: &'a ShardRequest,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<ShardReply, ShardError>> + Send + 'a>>;
}

/// A package-center alert as committed, in domain terms: an SLA alert on a shipment, or a
/// warehouse's stock shortage on a paid order. `http/logistics.rs` renders it for the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommittedAlert {
    Sla(Alert),
    Shortage(ShortageNotice),
}

impl CommittedAlert {
    /// The shop whose package center it belongs to.
    pub fn shop(&self) -> ShopId {
        match self {
            CommittedAlert::Sla(alert) => alert.shop,
            CommittedAlert::Shortage(notice) => notice.shop,
        }
    }

    fn of(effect: &Effect) -> Option<CommittedAlert> {
        match effect {
            Effect::AlertSaved(alert) => Some(CommittedAlert::Sla(alert.clone())),
            Effect::AlertWorked { alert, .. } => Some(CommittedAlert::Sla((**alert).clone())),
            Effect::ShortageNoticed(notice) => Some(CommittedAlert::Shortage(notice.clone())),
            _ => None,
        }
    }
}

/// Builds the stored idempotent response from the outcome, so the response is committed in the
/// same transaction as the effects it describes. It runs in the batch's commit task, just before
/// the write, not in the shard task: the shard's one thread is the serial part of the write
/// path, and rendering a response (JSON) needs nothing of the shard's state.
/// `None` stores nothing (the outcome only points at an earlier answer).
pub type Recorder = Box<dyn FnOnce(&Outcome) -> Option<IdempotencyRecord> + Send>;

type Reader = Box<dyn FnOnce(&ShardState, Timestamp) + Send>;

struct Envelope {
    command: Command,
    recorder: Option<Recorder>,
    reply: oneshot::Sender<Result<Outcome, ShardError>>,
}

/// Several commands from one client, decided in order within one batch and answered together.
/// `recorders` is empty, or holds one (optional) recorder per command.
struct Bundle {
    commands: Vec<Command>,
    recorders: Vec<Option<Recorder>>,
    reply: oneshot::Sender<Result<Vec<Outcome>, ShardError>>,
}

enum Message {
    Command(Envelope),
    Bundle(Bundle),
    /// A response to store with the next batch (a request that spanned several shards).
    Record(Box<IdempotencyRecord>, oneshot::Sender<Result<(), ShardError>>),
    /// Rows that belong to no shard's state (a provider notification's log line), written
    /// with the next batch instead of a transaction and an fsync of their own.
    Rows(Vec<Statement>, oneshot::Sender<Result<(), ShardError>>),
    /// A question about the shard's working set (a delivery promise), answered in turn with
    /// the commands, from memory: it sees what the shard has decided, which may still be
    /// committing — fine for an estimate, never used for a decision.
    Read(Reader),
    /// A named question (one a request asks of every shard, or of a shard it does not own),
    /// answered like a `Read`.
    Question(Question, oneshot::Sender<Answer>),
    /// A change to risk's rules, a buyer's pass or a sale's strict mode, made in turn with the
    /// commands: the commands after it are screened by the new rules.
    ChangeRisk(RiskChange, oneshot::Sender<()>),
    Stop(oneshot::Sender<()>),
}

impl Message {
    fn commands(&self) -> usize {
        match self {
            Message::Command(_) => 1,
            Message::Bundle(bundle) => bundle.commands.len(),
            Message::Record(..) | Message::Rows(..) => 1,
            Message::Read(_) | Message::Question(..) | Message::ChangeRisk(..) => 0,
            Message::Stop(_) => 0,
        }
    }
}

pub struct Shards {
    /// Each shard's inbox; `None` for a shard another member holds (a shard moves while the
    /// process runs: [`Shards::open`], [`Shards::give_back`]).
    inboxes: Vec<std::sync::RwLock<Option<mpsc::Sender<Message>>>>,
    /// How the shards other members hold are asked (none when this process holds every one).
    others: Option<Arc<dyn OtherHolders>>,
    /// Each held shard's task.
    tasks: Vec<std::sync::Mutex<Option<JoinHandle<()>>>>,
    /// The shards being given back: a request decided across shards is no longer let through
    /// ([`Shards::decide_here`]) while the requests already let through finish.
    leaving: Vec<AtomicBool>,
    /// What starting a shard takes, kept for a shard that moves here.
    starting: Arc<Starting>,
}

/// What starting a shard's task takes.
struct Starting {
    store: Arc<Store>,
    /// The shards' leases, which every commit checks (see [`crate::cluster`]).
    leases: Arc<Leases>,
    count: u32,
    queue_max: usize,
    /// Risk's mode and this process's hash key: risk's maps are hashed under a secret of this
    /// process, so a client cannot pick ids that collide (see `miaodan_domain::risk::hash`).
    risk: (RiskMode, RiskHashKey),
    alert_feed: AlertFeed,
    clock: Clock,
    /// How many times each shard rebuilt its state from the tables after a failed commit (or
    /// was loaded here after it moved).
    rebuilds: Arc<[AtomicU64]>,
    /// Which shards are rebuilding their state after a failed commit.
    rebuilding: Arc<[AtomicBool]>,
}

impl Starting {
    /// Loads shard `index`, whose lease this process holds, from the tables.
    async fn load(&self, index: u32, now: Timestamp) -> Result<Shard, miaodan_store::StoreError> {
        let lease = self
            .leases
            .lease(index)
            .ok_or_else(|| miaodan_store::StoreError::Worker(format!("shard {index}'s lease is not held here")))?;
        let writer = self.store.writer(index).await?.holding(lease);
        let state = load(&self.store, (index, self.count), self.risk, now).await?;
        Ok(Shard {
            index,
            count: self.count,
            risk: self.risk,
            store: self.store.clone(),
            published_head: writer.outbox_head(),
            writer: Some(writer),
            state,
            last_now: Timestamp::from_unix_ms(0),
            in_flight: None,
            last_expiry: Instant::now(),
            last_tap_counts: Instant::now(),
            alert_feed: self.alert_feed.clone(),
            clock: self.clock.clone(),
            rebuilds: self.rebuilds.clone(),
            rebuilding: self.rebuilding.clone(),
            leases: self.leases.clone(),
        })
    }

    /// Starts `shard`'s task: its inbox and the task.
    fn run(&self, shard: Shard) -> (mpsc::Sender<Message>, JoinHandle<()>) {
        let (sender, receiver) = mpsc::channel(self.queue_max);
        (sender, tokio::spawn(shard.run(receiver)))
    }
}

fn overloaded() -> ShardError {
    metrics::counter!("miaodan_overload_rejections_total").increment(1);
    ShardError::Overloaded {
        retry_after_seconds: crate::limits::RETRY_AFTER_SECONDS,
    }
}

impl Shards {
    /// Loads the state of every shard whose lease this process holds from the store and starts
    /// its task; each shard's inbox holds at most `queue_max` messages (a command, a bundle, a
    /// response to store, a read). The other shards are asked through `others`.
    pub async fn start(
        (store, leases): (Arc<Store>, Arc<Leases>),
        (count, queue_max): (u32, usize),
        (risk, others): (RiskMode, Option<Arc<dyn OtherHolders>>),
        alert_feed: AlertFeed,
        clock: Clock,
    ) -> Result<Shards, miaodan_store::StoreError> {
        let starting = Arc::new(Starting {
            store,
            leases,
            count,
            queue_max,
            risk: (risk, RiskHashKey::from_bytes(rand::random())),
            alert_feed,
            clock,
            rebuilds: (0..count).map(|_| AtomicU64::new(0)).collect(),
            rebuilding: (0..count).map(|_| AtomicBool::new(false)).collect(),
        });
        // The shards load side by side, each on a task of its own: a start takes as long as
        // the largest shard's load, not the sum, where there are cores to spare.
        let now = starting.clock.now();
        let loads: Vec<_> = (0..count)
            .map(|index| {
                let starting = starting.clone();
                starting
                    .leases
                    .holds(index)
                    .then(|| tokio::spawn(async move { starting.load(index, now).await }))
            })
            .collect();
        let (mut inboxes, mut tasks) = (Vec::new(), Vec::new());
        for (index, loaded) in (0..count).zip(loads) {
            let Some(loaded) = loaded else {
                inboxes.push(std::sync::RwLock::new(None));
                tasks.push(std::sync::Mutex::new(None));
                continue;
            };
            let shard = loaded
                .await
                .map_err(|error| miaodan_store::StoreError::Worker(format!("loading shard {index}: {error}")))??;
            let (sender, task) = starting.run(shard);
            inboxes.push(std::sync::RwLock::new(Some(sender)));
            tasks.push(std::sync::Mutex::new(Some(task)));
        }
        Ok(Shards {
            leaving: (0..count).map(|_| AtomicBool::new(false)).collect(),
            inboxes,
            others,
            tasks,
            starting,
        })
    }

    /// Takes shard `index`'s lease for this process, as `taking` allows (a shard moving here);
    /// false while another live process holds it. The shard takes commands once opened
    /// ([`Shards::open`]): in between, its holder's stored answers can be learnt.
    pub async fn take_lease(&self, index: usize, taking: Taking) -> Result<bool, miaodan_store::StoreError> {
        let (store, leases) = (&self.starting.store, &self.starting.leases);
        Ok(leases.take_one(store, index as u32, taking).await?.is_some())
    }

    /// Loads shard `index`, whose lease this process took ([`Shards::take_lease`]), from the
    /// tables and starts taking its commands. Counted as a rebuild, so that the payment worker
    /// looks up the attempts that may have been in flight at the former holder.
    pub async fn open(&self, index: usize) -> Result<(), miaodan_store::StoreError> {
        if self.holds(index) {
            return Ok(());
        }
        let shard = match self.starting.load(index as u32, self.starting.clock.now()).await {
            Ok(shard) => shard,
            Err(error) => {
                self.starting
                    .leases
                    .give_back_one(&self.starting.store, index as u32)
                    .await;
                return Err(error);
            }
        };
        // A shard lost here before was left rebuilding (its lease gone, it could not).
        self.starting.rebuilding[index].store(false, Ordering::Relaxed);
        // Every other lease may have been lost.
        self.write_under_a_held_lease(None);
        // The outbox readers run at shard 0's holder, under its lease.
        if index == 0
            && let Some(lease) = self.starting.leases.lease(0)
        {
            self.starting.store.hold_for_readers(lease);
        }
        let (sender, task) = self.starting.run(shard);
        *self.tasks[index].lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
        *self.inboxes[index].write().unwrap_or_else(|p| p.into_inner()) = Some(sender);
        self.starting.rebuilds[index].fetch_add(1, Ordering::SeqCst);
        tracing::info!(shard = index, "took a shard over: it takes commands here");
        Ok(())
    }

    /// Gives shard `index` back while the process runs: from now on its messages go to its
    /// holder, it decides and commits what it had queued, stops, and its lease is given back,
    /// for another member to take at once.
    pub async fn give_back(&self, index: usize) {
        if !self.close(index).await {
            return;
        }
        let (store, leases) = (&self.starting.store, &self.starting.leases);
        leases.give_back_one(store, index as u32).await;
        tracing::info!(shard = index, "gave a shard back: its commands go to its next holder");
    }

    /// Closes the shards whose lease another member took ([`Leases::lose_shard`]): their
    /// messages go to that member from now on, and what they had queued is refused (their
    /// commits are fenced). Gives the shards closed.
    pub async fn close_lost(&self) -> Vec<usize> {
        let mut closed = Vec::new();
        for index in 0..self.inboxes.len() {
            if self.holds(index) && self.starting.leases.lost_shard(index as u32) && self.close(index).await {
                tracing::warn!(shard = index, "closed a shard whose lease another member took");
                closed.push(index);
            }
        }
        closed
    }

    /// Stops shard `index` here: from now on its messages go to its holder; it decides and
    /// commits what it had queued (unless its lease is lost), and stops. The platform's own
    /// writes move under another lease held. False if it was not open here.
    async fn close(&self, index: usize) -> bool {
        let inbox = self.inboxes[index].write().unwrap_or_else(|p| p.into_inner()).take();
        let Some(inbox) = inbox else {
            return false;
        };
        let (done, wait) = oneshot::channel();
        if inbox.send(Message::Stop(done)).await.is_ok() {
            let _ = wait.await;
        }
        let task = self.tasks[index].lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task {
            let _ = task.await;
        }
        // Once another member holds this lease, writes under it are fenced.
        self.write_under_a_held_lease(Some(index as u32));
        true
    }

    /// Makes the platform's own writes ([`Store::hold`]) go under a lease this process holds,
    /// other than shard `leaving`'s, unless they already do; left as they are when it holds no
    /// other.
    fn write_under_a_held_lease(&self, leaving: Option<u32>) {
        let (store, leases) = (&self.starting.store, &self.starting.leases);
        let held = leases.held();
        let usable = |lease: &miaodan_store::cluster::ShardLease| Some(lease.shard) != leaving;
        if store
            .held_lease()
            .is_some_and(|now| usable(&now) && held.contains(&now))
        {
            return;
        }
        if let Some(other) = held.iter().find(|lease| usable(lease)) {
            store.hold(*other);
        }
    }

    /// The shards' leases this process holds.
    pub fn leases(&self) -> &Arc<Leases> {
        &self.starting.leases
    }

    /// How many times each shard (by index) has rebuilt its state from the tables after a
    /// failed commit. A rebuild restores payment intents as a start does (an attempt possibly
    /// in flight on each one open to payment), so the payment worker then sweeps them again.
    pub fn rebuilds(&self) -> Vec<u64> {
        self.starting
            .rebuilds
            .iter()
            .map(|n| n.load(Ordering::SeqCst))
            .collect()
    }

    pub fn count(&self) -> u32 {
        self.inboxes.len() as u32
    }

    /// Messages waiting in shard `index`'s inbox (none for a shard another member holds).
    pub fn queued(&self, index: usize) -> usize {
        match &*self.inboxes[index].read().unwrap_or_else(|p| p.into_inner()) {
            Some(inbox) => inbox.max_capacity() - inbox.capacity(),
            None => 0,
        }
    }

    /// Whether this process holds shard `index` (it is decided here).
    pub fn holds(&self, index: usize) -> bool {
        self.inboxes
            .get(index)
            .is_some_and(|inbox| inbox.read().unwrap_or_else(|p| p.into_inner()).is_some())
    }

    /// Refuses, before anything is decided, a request whose home is `shop`'s shard when another
    /// member holds it ([`ShardError::HeldElsewhere`]): a request decided across shards, or one
    /// that reads its shard after deciding, is sent whole to its home's holder, which stores its
    /// answer and knows its key, so that every retry reaches the same member.
    pub fn decide_here(&self, shop: ShopId) -> Result<(), ShardError> {
        let shard = self.shard_of(shop);
        let lease_held = self.starting.leases.holds(shard as u32);
        match self.holds(shard) && lease_held && !self.leaving[shard].load(Ordering::SeqCst) {
            true => Ok(()),
            false => Err(ShardError::HeldElsewhere { shard }),
        }
    }

    /// Marks shard `index` as being given back (or no longer): see [`Shards::decide_here`].
    pub fn set_leaving(&self, index: usize, leaving: bool) {
        self.leaving[index].store(leaving, Ordering::SeqCst);
    }

    /// Shard `index` if this process holds it, else one it holds: for rows that are no shard's
    /// state (a stored answer, a logged notification) and may ride any shard's batch.
    fn held_or_any(&self, index: usize) -> usize {
        match self.holds(index) {
            true => index,
            false => (0..self.inboxes.len()).find(|i| self.holds(*i)).unwrap_or(index),
        }
    }

    /// Sends `request` to the holder of shard `index`, another member.
    async fn ask_holder(&self, index: usize, request: ShardRequest) -> Result<ShardReply, ShardError> {
        let others = self.others.as_ref().ok_or(ShardError::HeldElsewhere { shard: index })?;
        metrics::counter!("miaodan_shard_parts_sent_total").increment(1);
        others.ask(index, &request).await
    }

    pub fn shard_of(&self, shop: ShopId) -> usize {
        (shop.get() as u64 % self.inboxes.len() as u64) as usize
    }

    /// A shard for work that belongs to none (spreads it by `text`, the same shard each time).
    pub fn shard_of_text(&self, text: &str) -> usize {
        // FNV-1a: stable across runs and platforms, unlike the standard hasher.
        let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3)
        });
        (hash % self.inboxes.len() as u64) as usize
    }

    fn send(&self, shop: ShopId, message: Message) -> Result<(), ShardError> {
        self.send_to(self.shard_of(shop), message)
    }

    fn send_to(&self, index: usize, message: Message) -> Result<(), ShardError> {
        if self.starting.rebuilding[index].load(Ordering::Relaxed) {
            return Err(ShardError::Rebuilding);
        }
        if !self.starting.leases.writable() {
            return Err(ShardError::NotOwner);
        }
        let inbox = self.inboxes[index].read().unwrap_or_else(|p| p.into_inner());
        let Some(inbox) = &*inbox else {
            return Err(ShardError::HeldElsewhere { shard: index });
        };
        match inbox.try_send(message) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => Err(overloaded()),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(ShardError::Stopping),
        }
    }

    /// Sends a command to the shard owning `shop` and waits for its durable outcome.
    pub async fn submit(
        &self,
        shop: ShopId,
        command: Command,
        recorder: Option<Recorder>,
    ) -> Result<Outcome, ShardError> {
        let index = self.shard_of(shop);
        if !self.holds(index) && recorder.is_none() {
            return match self.ask_holder(index, ShardRequest::Command { shop, command }).await? {
                ShardReply::Outcome(outcome) => Ok(outcome),
                _ => Err(ShardError::OwnerUnreachable),
            };
        }
        let (reply, answer) = oneshot::channel();
        self.send(
            shop,
            Message::Command(Envelope {
                command,
                recorder,
                reply,
            }),
        )?;
        answer.await.map_err(|_| ShardError::Stopped)?
    }

    /// Sends one capability's command and narrows its durable outcome to the command's own
    /// answer ([`ShardCommand`]): the answer, or the core's refusal.
    pub async fn ask<C: ShardCommand>(
        &self,
        shop: ShopId,
        command: C,
        recorder: Option<Recorder>,
    ) -> Result<Result<C::Answer, Rejection>, ShardError> {
        let outcome = self.submit(shop, command.into(), recorder).await?;
        Ok(C::answer(outcome))
    }

    /// Sends several commands for one shop at once; they are decided in order, in one batch
    /// (unless the batch is full), and answered together once durable. A gateway that
    /// coalesces requests (and the engine benchmark) uses this to save a hand-off per command.
    pub async fn submit_bundle(&self, shop: ShopId, commands: Vec<Command>) -> Result<Vec<Outcome>, ShardError> {
        self.send_bundle(shop, commands, Vec::new()).await
    }

    /// [`Shards::submit_bundle`], each command with the recorder of its request's response (an
    /// edge gateway's batch of taps: each tap's answer is stored for its buyer's key in the
    /// batch that decides it).
    pub async fn submit_recorded_bundle(
        &self,
        shop: ShopId,
        commands: Vec<(Command, Option<Recorder>)>,
    ) -> Result<Vec<Outcome>, ShardError> {
        let (commands, recorders) = commands.into_iter().unzip();
        self.send_bundle(shop, commands, recorders).await
    }

    async fn send_bundle(
        &self,
        shop: ShopId,
        commands: Vec<Command>,
        recorders: Vec<Option<Recorder>>,
    ) -> Result<Vec<Outcome>, ShardError> {
        let index = self.shard_of(shop);
        if !self.holds(index) && recorders.iter().all(Option::is_none) {
            return match self.ask_holder(index, ShardRequest::Bundle { shop, commands }).await? {
                ShardReply::Outcomes(outcomes) => Ok(outcomes),
                _ => Err(ShardError::OwnerUnreachable),
            };
        }
        let (reply, answer) = oneshot::channel();
        let bundle = Bundle {
            commands,
            recorders,
            reply,
        };
        self.send(shop, Message::Bundle(bundle))?;
        answer.await.map_err(|_| ShardError::Stopped)?
    }

    /// Stores an idempotent response in the next batch of the shard owning `shop` (or of one
    /// this process holds), so a request that spanned shards (a checkout) costs no transaction
    /// of its own.
    pub async fn store_response(&self, shop: ShopId, record: IdempotencyRecord) -> Result<(), ShardError> {
        let (reply, answer) = oneshot::channel();
        let index = self.held_or_any(self.shard_of(shop));
        self.send_to(index, Message::Record(Box::new(record), reply))?;
        answer.await.map_err(|_| ShardError::Stopped)?
    }

    /// Writes `rows` (no shard's state) with the next batch of shard `index`, or of one this
    /// process holds; answers once they are durable.
    pub async fn store_rows(&self, index: usize, rows: Vec<Statement>) -> Result<(), ShardError> {
        let (reply, answer) = oneshot::channel();
        self.send_to(self.held_or_any(index), Message::Rows(rows, reply))?;
        answer.await.map_err(|_| ShardError::Stopped)?
    }

    /// Asks the shard owning `shop` a question about its working set.
    pub async fn read<T: Send + 'static>(
        &self,
        shop: ShopId,
        question: impl FnOnce(&ShardState, Timestamp) -> T + Send + 'static,
    ) -> Result<T, ShardError> {
        self.read_shard(self.shard_of(shop), question).await
    }

    /// Asks shard `index` a question about its working set.
    pub async fn read_shard<T: Send + 'static>(
        &self,
        index: usize,
        question: impl FnOnce(&ShardState, Timestamp) -> T + Send + 'static,
    ) -> Result<T, ShardError> {
        let (reply, answer) = oneshot::channel();
        let reader: Reader = Box::new(move |state, now| {
            let _ = reply.send(question(state, now));
        });
        self.send_to(index, Message::Read(reader))?;
        answer.await.map_err(|_| ShardError::Stopped)
    }

    /// Asks shard `index` a named question about its working set, and narrows the answer to
    /// the question's own kind.
    pub async fn inquire<Q: ShardQuestion>(&self, index: usize, question: Q) -> Result<Q::Answer, ShardError> {
        Ok(Q::narrow(self.inquire_as_sent(index, question.into()).await?))
    }

    /// [`Shards::inquire`] for a question as another member sent it: answered as it is.
    pub async fn inquire_as_sent(&self, index: usize, question: Question) -> Result<Answer, ShardError> {
        if !self.holds(index) {
            return match self.ask_holder(index, ShardRequest::Question(question)).await? {
                ShardReply::Answer(answer) => Ok(answer),
                _ => Err(ShardError::OwnerUnreachable),
            };
        }
        let (reply, answer) = oneshot::channel();
        self.send_to(index, Message::Question(question, reply))?;
        answer.await.map_err(|_| ShardError::Stopped)
    }

    /// Changes risk's memory in shard `index` (its rules, a buyer's pass, a sale's strict
    /// mode), in turn with the commands.
    pub async fn change_risk(&self, index: usize, change: RiskChange) -> Result<(), ShardError> {
        if !self.holds(index) {
            return match self.ask_holder(index, ShardRequest::ChangeRisk(change)).await? {
                ShardReply::Changed => Ok(()),
                _ => Err(ShardError::OwnerUnreachable),
            };
        }
        let (reply, done) = oneshot::channel();
        self.send_to(index, Message::ChangeRisk(change, reply))?;
        done.await.map_err(|_| ShardError::Stopped)
    }

    /// Lets every shard finish and commit what it has queued, then stops them.
    pub async fn stop(&self) {
        for inbox in &self.inboxes {
            let inbox = inbox.read().unwrap_or_else(|p| p.into_inner()).clone();
            let (done, wait) = oneshot::channel();
            if let Some(inbox) = inbox
                && inbox.send(Message::Stop(done)).await.is_ok()
            {
                let _ = wait.await;
            }
        }
        for task in &self.tasks {
            let task = task.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(task) = task {
                let _ = task.await;
            }
        }
    }
}

async fn load(
    store: &Store,
    (index, count): (u32, u32),
    (risk, hash_key): (RiskMode, RiskHashKey),
    now: Timestamp,
) -> Result<ShardState, miaodan_store::StoreError> {
    let snapshot = store.load_shard(index, count, ShardHorizons::at(now)).await?;
    let mut state = ShardState::from_snapshot(snapshot);
    state.risk_mut().rekey(hash_key);
    state.set_risk_policy(crate::risk_policy::rules_in_force(store).await?, risk);
    for sale in store.strict_sales(index, count).await? {
        state.risk_mut().set_strict(sale, true);
    }
    // A buyer who stepped up keeps the pass across a restart (every shard holds every pass).
    for (buyer, until) in store.running_risk_passes(now).await? {
        state.risk_mut().grant_pass(buyer, until);
    }
    Ok(state)
}

struct Shard {
    index: u32,
    count: u32,
    /// Risk's mode and hash key, kept for a rebuild after a failed commit.
    risk: (RiskMode, RiskHashKey),
    store: Arc<Store>,
    /// The shard's connection; out on loan to the commit task while a batch is committing.
    writer: Option<Writer>,
    /// The outbox head the events counter has counted up to.
    published_head: i64,
    state: ShardState,
    last_now: Timestamp,
    /// The batch being committed, whose answers wait for it.
    in_flight: Option<InFlight>,
    /// When unpaid orders were last expired: a busy inbox must not starve the expiry tick.
    last_expiry: Instant,
    /// When the sales' tap counts were last published.
    last_tap_counts: Instant,
    alert_feed: AlertFeed,
    clock: Clock,
    /// Every shard's count of rebuilds (see [`Shards::rebuilds`]); this one counts at its index.
    rebuilds: Arc<[AtomicU64]>,
    /// Every shard's rebuilding flag (see [`Shards::send_to`]); this one sets its index's.
    rebuilding: Arc<[AtomicBool]>,
    leases: Arc<Leases>,
}

/// What a commit task gives back: the connection, whether the batch committed, and the batch's
/// answers (which went with it to have their stored responses rendered).
type CommitDone = (Writer, Result<(), miaodan_store::StoreError>, Vec<Pending>);

/// A commit running in its own task while the shard decides the next batch in memory.
type Committed = Result<CommitDone, tokio::task::JoinError>;

/// A batch's commit task: renders the stored responses of its answers' requests, then writes
/// them with the effects in one transaction. The responses are rendered from the very outcomes
/// the answers carry to their handlers, so what is stored is what the handlers send.
async fn commit(
    mut writer: Writer,
    (effects, mut records, rows): (Vec<Effect>, Vec<IdempotencyRecord>, Vec<Statement>),
    mut pending: Vec<Pending>,
    now: Timestamp,
) -> CommitDone {
    for answer in &mut pending {
        answer.record_into(&mut records);
    }
    let committed = writer.commit_batch_with(&effects, &records, rows, now).await;
    (writer, committed, pending)
}

struct InFlight {
    task: JoinHandle<CommitDone>,
    /// Answers of later batches that wrote nothing but may rest on this one: sent after it.
    waiting: Vec<Pending>,
    started: Instant,
}

/// An answer waiting for its batch to commit, with the recorder of each command's response
/// (run by the commit task). `One` is nearly every answer, so it holds its outcome inline:
/// boxing it to shrink the rare variants would cost an allocation per command.
#[allow(clippy::large_enum_variant)]
enum Pending {
    One(oneshot::Sender<Result<Outcome, ShardError>>, Outcome, Option<Recorder>),
    /// `recorders` is empty, or holds one (optional) recorder per outcome.
    Many(
        oneshot::Sender<Result<Vec<Outcome>, ShardError>>,
        Vec<Outcome>,
        Vec<Option<Recorder>>,
    ),
    Stored(oneshot::Sender<Result<(), ShardError>>),
    /// Package-center alerts of the batch, told to live subscribers once durable.
    Publish(AlertFeed, Vec<CommittedAlert>),
}

/// Where committed alerts go: every subscriber of the package center's live stream.
pub type AlertFeed = tokio::sync::broadcast::Sender<CommittedAlert>;

impl Pending {
    /// Whether a response is still to be stored for this answer (so its batch must commit).
    fn records(&self) -> bool {
        match self {
            Pending::One(_, _, recorder) => recorder.is_some(),
            Pending::Many(_, _, recorders) => recorders.iter().any(Option::is_some),
            Pending::Stored(_) | Pending::Publish(..) => false,
        }
    }

    /// Renders the responses to store for this answer's requests into `records`.
    fn record_into(&mut self, records: &mut Vec<IdempotencyRecord>) {
        match self {
            Pending::One(_, outcome, recorder) => {
                if let Some(recorder) = recorder.take() {
                    records.extend(recorder(outcome));
                }
            }
            Pending::Many(_, outcomes, recorders) => {
                for (outcome, recorder) in outcomes.iter().zip(recorders.iter_mut()) {
                    if let Some(recorder) = recorder.take() {
                        records.extend(recorder(outcome));
                    }
                }
            }
            Pending::Stored(_) | Pending::Publish(..) => {}
        }
    }

    fn send(self) {
        match self {
            Pending::One(reply, outcome, _) => {
                let _ = reply.send(Ok(outcome));
            }
            Pending::Many(reply, outcomes, _) => {
                let _ = reply.send(Ok(outcomes));
            }
            Pending::Stored(reply) => {
                let _ = reply.send(Ok(()));
            }
            Pending::Publish(feed, alerts) => {
                for alert in alerts {
                    // No subscriber is not an error: the alerts are in the table anyway.
                    let _ = feed.send(alert);
                }
            }
        }
    }

    fn fail(self, error: &ShardError) {
        match self {
            Pending::One(reply, ..) => {
                let _ = reply.send(Err(error.clone()));
            }
            Pending::Many(reply, ..) => {
                let _ = reply.send(Err(error.clone()));
            }
            Pending::Stored(reply) => {
                let _ = reply.send(Err(error.clone()));
            }
            Pending::Publish(..) => {}
        }
    }
}

/// Outcomes of one batch by kind, so metrics cost one update per batch, not per command.
#[derive(Default)]
struct OutcomeCounts {
    placed: u64,
    paid: u64,
    cancelled: u64,
    rejected: std::collections::BTreeMap<&'static str, u64>,
}

impl OutcomeCounts {
    fn count(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::OrderPlaced(_) => self.placed += 1,
            Outcome::OrderPaid(_) => self.paid += 1,
            Outcome::OrderCancelled(_) => self.cancelled += 1,
            Outcome::Rejected(rejection) => *self.rejected.entry(rejection.code()).or_default() += 1,
            _ => {}
        }
    }

    fn publish(self) {
        for (kind, n) in [
            ("placed", self.placed),
            ("paid", self.paid),
            ("cancelled", self.cancelled),
        ] {
            if n > 0 {
                metrics::counter!("miaodan_orders_total", "kind" => kind).increment(n);
            }
        }
        for (code, n) in self.rejected {
            metrics::counter!("miaodan_rejections_total", "kind" => code).increment(n);
        }
    }
}

impl Shard {
    async fn run(mut self, mut inbox: mpsc::Receiver<Message>) {
        let mut ticker = tokio::time::interval(Duration::from_millis(EXPIRY_TICK_MS));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let mut batch = Vec::new();
            let mut commands = 0;
            let mut stop = None;
            let tick = tokio::select! {
                biased;
                committed = async { (&mut self.in_flight.as_mut().expect("checked by the precondition").task).await },
                    if self.in_flight.is_some() => {
                    let in_flight = self.in_flight.take().expect("checked by the precondition");
                    self.settle(in_flight.waiting, in_flight.started, committed).await;
                    continue;
                }
                message = inbox.recv() => match message {
                    Some(Message::Stop(done)) => { stop = Some(done); false }
                    Some(message) => { commands += message.commands(); batch.push(message); false }
                    None => { self.drain().await; return }
                },
                _ = ticker.tick() => true,
            };
            while stop.is_none() && commands < BATCH_COMMANDS_MAX {
                match inbox.try_recv() {
                    Ok(Message::Stop(done)) => stop = Some(done),
                    Ok(message) => {
                        commands += message.commands();
                        batch.push(message);
                    }
                    Err(_) => break,
                }
            }
            self.process(batch, commands, tick).await;
            if let Some(done) = stop {
                self.drain().await;
                let _ = done.send(());
                return;
            }
        }
    }

    fn now(&mut self) -> Timestamp {
        self.last_now = self.last_now.max(self.clock.now());
        self.last_now
    }

    /// Decides one command; its answer, to send once the batch commits (`None`: sent already).
    fn decide_command(
        &mut self,
        envelope: Envelope,
        now: Timestamp,
        (effects, records): (&mut Vec<Effect>, &mut Vec<IdempotencyRecord>),
        counts: &mut OutcomeCounts,
    ) -> Option<Pending> {
        let begins_attempt = matches!(envelope.command, Command::Payments(payments::Command::BeginAttempt(_)));
        let outcome = self.state.apply(envelope.command, now, effects);
        // A started payment attempt writes nothing and reveals only what the buyer already holds a
        // durable answer about (the intent's amount and attempt count; an attempt number reused
        // after a failed commit names the same provider charge), so it is answered at once: the
        // provider call does not wait for other requests' commit. A refusal may rest on a capture
        // still committing ("already captured"), so it waits like any other answer.
        let answer_now = begins_attempt && matches!(outcome, Outcome::AttemptBegun { .. });
        counts.count(&outcome);
        let mut answer = Pending::One(envelope.reply, outcome, envelope.recorder);
        if answer_now {
            // Sent before the commit task exists: its response, if any, is rendered here.
            answer.record_into(records);
            answer.send();
            return None;
        }
        Some(answer)
    }

    /// Decides a bundle's commands in order; their answers, to send once the batch commits.
    fn decide_bundle(
        &mut self,
        bundle: Bundle,
        now: Timestamp,
        effects: &mut Vec<Effect>,
        counts: &mut OutcomeCounts,
    ) -> Pending {
        let outcomes: Vec<Outcome> = bundle
            .commands
            .into_iter()
            .map(|command| self.state.apply(command, now, effects))
            .collect();
        outcomes.iter().for_each(|o| counts.count(o));
        Pending::Many(bundle.reply, outcomes, bundle.recorders)
    }

    /// Decides a batch in memory, then commits it — pipelined: the decisions of this batch
    /// overlap the previous batch's commit, and this commit starts once that one is done.
    /// Answers wait for their own batch's commit, and a batch's answers never leave before
    /// those of a batch it may depend on.
    async fn process(&mut self, batch: Vec<Message>, commands: usize, tick: bool) {
        let now = self.now();
        let mut effects = Vec::new();
        let mut records = Vec::new();
        let mut rows = Vec::new();
        let mut counts = OutcomeCounts::default();
        self.expire_due(tick, now, &mut effects);
        let mut pending = Vec::with_capacity(batch.len());
        for message in batch {
            match message {
                Message::Command(envelope) => {
                    let written = (&mut effects, &mut records);
                    pending.extend(self.decide_command(envelope, now, written, &mut counts));
                }
                Message::Bundle(bundle) => {
                    pending.push(self.decide_bundle(bundle, now, &mut effects, &mut counts));
                }
                Message::Record(record, reply) => {
                    records.push(*record);
                    pending.push(Pending::Stored(reply));
                }
                Message::Rows(more, reply) => {
                    rows.extend(more);
                    pending.push(Pending::Stored(reply));
                }
                in_memory => self.serve_in_memory(in_memory, now),
            }
        }
        counts.publish();
        let records_due = !records.is_empty() || pending.iter().any(Pending::records);
        self.publish_tap_counts(&mut effects, records_due);
        self.publish_alerts(&effects, &mut pending);
        if effects.is_empty() && !records_due && rows.is_empty() {
            // Nothing to write, but the answers may rest on the batch still committing (a
            // "sold out" because it sold the last unit): they wait for it.
            match &mut self.in_flight {
                Some(in_flight) => in_flight.waiting.extend(pending),
                None => pending.into_iter().for_each(Pending::send),
            }
            return;
        }
        if let Some(previous) = self.in_flight.take() {
            let committed = previous.task.await;
            if !self.settle(previous.waiting, previous.started, committed).await {
                // This batch was decided on top of the failed one; the state it changed is gone.
                pending.into_iter().for_each(|p| p.fail(&ShardError::CommitFailed));
                return;
            }
        }
        metrics::histogram!("miaodan_batch_commands").record(commands as f64);
        metrics::histogram!("miaodan_batch_effects").record(effects.len() as f64);
        let Some(writer) = self.writer.take() else {
            if self.leases.lost_shard(self.index) {
                pending.into_iter().for_each(|p| p.fail(&ShardError::NotOwner));
                return;
            }
            pending.into_iter().for_each(|p| p.fail(&ShardError::NoConnection));
            self.recover().await;
            return;
        };
        self.in_flight = Some(InFlight {
            task: tokio::spawn(commit(writer, (effects, records, rows), pending, now)),
            waiting: Vec::new(),
            started: Instant::now(),
        });
    }

    /// Serves a message that writes nothing, in turn with the commands: a read, a question, a
    /// change to risk's memory.
    fn serve_in_memory(&mut self, message: Message, now: Timestamp) {
        match message {
            Message::Read(reader) => reader(&self.state, now),
            Message::Question(question, reply) => {
                let _ = reply.send(self.state.answer(&question, now));
            }
            Message::ChangeRisk(change, reply) => {
                self.state.risk_mut().change(change);
                let _ = reply.send(());
            }
            Message::Command(_) | Message::Bundle(_) | Message::Record(..) | Message::Rows(..) | Message::Stop(_) => {}
        }
    }

    /// Expires what is due, on the tick or once a tick has passed: under sustained load the
    /// inbox always wins the select, and expiry must still run on time.
    fn expire_due(&mut self, tick: bool, now: Timestamp, effects: &mut Vec<Effect>) {
        if !tick && self.last_expiry.elapsed() < Duration::from_millis(EXPIRY_TICK_MS) {
            return;
        }
        self.last_expiry = Instant::now();
        if let Outcome::Expired { orders } = self.state.apply(Command::ExpireDue, now, effects) {
            metrics::counter!("miaodan_orders_expired_total").increment(orders.len() as u64);
        }
        self.state
            .forget_requests_placed_before(ShardHorizons::requests_since(now));
    }

    /// Tells the batch's package-center alerts to live subscribers once it is durable.
    fn publish_alerts(&self, effects: &[Effect], pending: &mut Vec<Pending>) {
        let alerts: Vec<CommittedAlert> = effects.iter().filter_map(CommittedAlert::of).collect();
        if !alerts.is_empty() {
            pending.push(Pending::Publish(self.alert_feed.clone(), alerts));
        }
    }

    /// Adds the sales' tap counts to a batch that commits anyway (`effects` to write, or
    /// `records_due`), or on their own once they waited [`TAP_COUNTS_FLUSH_MS`].
    fn publish_tap_counts(&mut self, effects: &mut Vec<Effect>, records_due: bool) {
        if !self.state.taps_counted() {
            return;
        }
        let waited = self.last_tap_counts.elapsed() >= Duration::from_millis(TAP_COUNTS_FLUSH_MS);
        if effects.is_empty() && !records_due && !waited {
            return;
        }
        self.state.publish_tap_counts(effects);
        self.last_tap_counts = Instant::now();
    }

    /// Waits for the batch still committing, if any, and answers it.
    async fn drain(&mut self) {
        if let Some(in_flight) = self.in_flight.take() {
            let committed = in_flight.task.await;
            self.settle(in_flight.waiting, in_flight.started, committed).await;
        }
    }

    /// Answers a committed batch, then the answers `waiting` on it; or fails them all and
    /// rebuilds the shard from the tables. Returns whether the batch committed.
    async fn settle(&mut self, waiting: Vec<Pending>, started: Instant, committed: Committed) -> bool {
        metrics::histogram!("miaodan_commit_seconds").record(started.elapsed().as_secs_f64());
        let (error, pending) = match committed {
            Ok((writer, Ok(()), pending)) => {
                // Events per second per shard is the rate of the counter.
                let shard = self.index.to_string();
                let head = writer.outbox_head();
                let gauge = metrics::gauge!("miaodan_outbox_head", "shard" => shard.clone());
                metrics::counter!("miaodan_outbox_events_total", "shard" => shard)
                    .increment(u64::try_from(head - self.published_head).unwrap_or(0));
                gauge.set(head as f64);
                self.published_head = head;
                self.writer = Some(writer);
                pending.into_iter().chain(waiting).for_each(Pending::send);
                return true;
            }
            Ok((_, Err(miaodan_store::StoreError::Fenced(_)), pending)) => {
                // Another process took the shard: nothing of the batch was written, and this
                // process must not write it again.
                self.leases.lose_shard(self.index);
                tracing::error!(
                    shard = self.index,
                    "batch commit fenced: another process holds the shard's lease"
                );
                pending
                    .into_iter()
                    .chain(waiting)
                    .for_each(|p| p.fail(&ShardError::NotOwner));
                return false;
            }
            Ok((writer, Err(error), pending)) => {
                self.writer = Some(writer);
                (error.to_string(), pending)
            }
            // The batch's own answers went down with the task: their callers see the shard
            // stop answering (`ShardError::Stopped`), equally worth a retry.
            Err(join) => (join.to_string(), Vec::new()),
        };
        tracing::error!(shard = self.index, %error, "batch commit failed; rebuilding shard state from the database");
        metrics::counter!("miaodan_commit_failures_total").increment(1);
        pending
            .into_iter()
            .chain(waiting)
            .for_each(|p| p.fail(&ShardError::CommitFailed));
        self.recover().await;
        false
    }

    /// Rebuilds memory from the tables after a failed commit, retrying until the database
    /// answers. Requests queued before it began wait for the rebuild; new ones are refused at
    /// once (503) until it is done, however long the database takes to answer (a connection
    /// attempt to a host that drops packets may hang for minutes).
    async fn recover(&mut self) {
        self.rebuilding[self.index as usize].store(true, Ordering::Relaxed);
        let mut delay = Duration::from_millis(100);
        let mut fence = self.writer.take().and_then(|failed| failed.fence());
        while !self.leases.lost_shard(self.index) {
            let rebuilt = async {
                self.store.fence(fence).await?;
                fence = None;
                let lease = self.leases.lease(self.index).ok_or_else(|| {
                    miaodan_store::StoreError::Worker(format!("shard {} is not held here", self.index))
                })?;
                let writer = self.store.writer(self.index).await?.holding(lease);
                let state = load(&self.store, (self.index, self.count), self.risk, self.clock.now()).await?;
                Ok::<_, miaodan_store::StoreError>((writer, state))
            };
            match rebuilt.await {
                Ok((writer, state)) => {
                    self.published_head = writer.outbox_head();
                    self.writer = Some(writer);
                    self.state = state;
                    self.rebuilds[self.index as usize].fetch_add(1, Ordering::SeqCst);
                    self.rebuilding[self.index as usize].store(false, Ordering::Relaxed);
                    return;
                }
                Err(error) => {
                    tracing::error!(shard = self.index, %error, "shard recovery failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}
