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
//! If a commit fails, memory is ahead of the database: the shard answers the batch 503 and
//! rebuilds its state from the tables (the truth) before taking new commands.

use crate::clock;
use crate::http::problem::ApiError;
use miaodan_domain::ShopId;
use miaodan_domain::Timestamp;
use miaodan_domain::shard::{Command, Outcome, ShardState};
use miaodan_store::records::IdempotencyRecord;
use miaodan_store::{Store, Writer};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// The most commands decided and committed together.
pub const BATCH_COMMANDS_MAX: usize = 4_096;
/// Commands a shard's inbox holds; when full, requests are refused 429 at once rather than
/// queued without bound.
pub const INBOX_CAPACITY: usize = 65_536;
/// How often unpaid orders past their due time are cancelled.
pub const EXPIRY_TICK_MS: u64 = 250;
/// How long an order placed with a request reference dedupes a retried checkout.
pub const REQUEST_RETENTION_SECONDS: i64 = 48 * 3600;

/// Builds the stored idempotent response from the outcome, inside the batch, so the response
/// is committed in the same transaction as the effects it describes.
pub type Recorder = Box<dyn FnOnce(&Outcome) -> IdempotencyRecord + Send>;

struct Envelope {
    command: Command,
    recorder: Option<Recorder>,
    reply: oneshot::Sender<Result<Outcome, ApiError>>,
}

enum Message {
    Command(Envelope),
    Stop(oneshot::Sender<()>),
}

pub struct Shards {
    inboxes: Vec<mpsc::Sender<Message>>,
    tasks: std::sync::Mutex<Vec<JoinHandle<()>>>,
}

impl Shards {
    /// Loads every shard's state from the store and starts its task.
    pub async fn start(store: Arc<Store>, count: u32) -> Result<Shards, miaodan_store::StoreError> {
        let mut inboxes = Vec::new();
        let mut tasks = Vec::new();
        for index in 0..count {
            let writer = store.writer().await?;
            let state = load(&store, index, count).await?;
            let (sender, receiver) = mpsc::channel(INBOX_CAPACITY);
            let shard = Shard {
                index,
                count,
                store: store.clone(),
                writer,
                state,
                last_now: Timestamp::from_unix_ms(0),
            };
            tasks.push(tokio::spawn(shard.run(receiver)));
            inboxes.push(sender);
        }
        Ok(Shards {
            inboxes,
            tasks: std::sync::Mutex::new(tasks),
        })
    }

    pub fn count(&self) -> u32 {
        self.inboxes.len() as u32
    }

    pub fn shard_of(&self, shop: ShopId) -> usize {
        (shop.get() as u64 % self.inboxes.len() as u64) as usize
    }

    /// Sends a command to the shard owning `shop` and waits for its durable outcome.
    pub async fn submit(
        &self,
        shop: ShopId,
        command: Command,
        recorder: Option<Recorder>,
    ) -> Result<Outcome, ApiError> {
        let (reply, answer) = oneshot::channel();
        let envelope = Envelope {
            command,
            recorder,
            reply,
        };
        match self.inboxes[self.shard_of(shop)].try_send(Message::Command(envelope)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                metrics::counter!("miaodan_overload_rejections_total").increment(1);
                let mut error = ApiError::new(
                    axum::http::StatusCode::TOO_MANY_REQUESTS,
                    "overloaded",
                    "the shard's queue is full; retry shortly with the same Idempotency-Key",
                );
                error.retry_after_seconds = Some(1);
                return Err(error);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return Err(ApiError::unavailable("the server is stopping")),
        }
        answer.await.map_err(|_| ApiError::unavailable("the shard stopped"))?
    }

    /// Lets every shard finish and commit what it has queued, then stops them.
    pub async fn stop(&self) {
        for inbox in &self.inboxes {
            let (done, wait) = oneshot::channel();
            if inbox.send(Message::Stop(done)).await.is_ok() {
                let _ = wait.await;
            }
        }
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        for task in tasks {
            let _ = task.await;
        }
    }
}

async fn load(store: &Store, index: u32, count: u32) -> Result<ShardState, miaodan_store::StoreError> {
    let since = clock::now().plus_seconds(-REQUEST_RETENTION_SECONDS);
    let snapshot = store.load_shard(index, count, since).await?;
    Ok(ShardState::from_snapshot(snapshot))
}

struct Shard {
    index: u32,
    count: u32,
    store: Arc<Store>,
    writer: Writer,
    state: ShardState,
    last_now: Timestamp,
}

impl Shard {
    async fn run(mut self, mut inbox: mpsc::Receiver<Message>) {
        let mut ticker = tokio::time::interval(Duration::from_millis(EXPIRY_TICK_MS));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let mut batch = Vec::new();
            let mut stop = None;
            let tick = tokio::select! {
                message = inbox.recv() => match message {
                    Some(Message::Command(envelope)) => { batch.push(envelope); false }
                    Some(Message::Stop(done)) => { stop = Some(done); false }
                    None => return,
                },
                _ = ticker.tick() => true,
            };
            while stop.is_none() && batch.len() < BATCH_COMMANDS_MAX {
                match inbox.try_recv() {
                    Ok(Message::Command(envelope)) => batch.push(envelope),
                    Ok(Message::Stop(done)) => stop = Some(done),
                    Err(_) => break,
                }
            }
            self.process(batch, tick).await;
            if let Some(done) = stop {
                let _ = done.send(());
                return;
            }
        }
    }

    fn now(&mut self) -> Timestamp {
        self.last_now = self.last_now.max(clock::now());
        self.last_now
    }

    async fn process(&mut self, batch: Vec<Envelope>, tick: bool) {
        let now = self.now();
        let mut effects = Vec::new();
        let mut records = Vec::new();
        if tick {
            if let Outcome::Expired { orders } = self.state.apply(Command::ExpireDue, now, &mut effects) {
                metrics::counter!("miaodan_orders_expired_total").increment(orders.len() as u64);
            }
            self.state
                .forget_requests_placed_before(now.plus_seconds(-REQUEST_RETENTION_SECONDS));
        }
        let mut replies = Vec::with_capacity(batch.len());
        for envelope in batch {
            let outcome = self.state.apply(envelope.command, now, &mut effects);
            count_outcome(&outcome);
            if let Some(recorder) = envelope.recorder {
                records.push(recorder(&outcome));
            }
            replies.push((envelope.reply, outcome));
        }
        if effects.is_empty() && records.is_empty() {
            for (reply, outcome) in replies {
                let _ = reply.send(Ok(outcome));
            }
            return;
        }
        metrics::histogram!("miaodan_batch_commands").record(replies.len() as f64);
        metrics::histogram!("miaodan_batch_effects").record(effects.len() as f64);
        let started = Instant::now();
        let committed = self.writer.commit_batch(&effects, &records).await;
        metrics::histogram!("miaodan_commit_seconds").record(started.elapsed().as_secs_f64());
        match committed {
            Ok(()) => {
                for (reply, outcome) in replies {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(error) => {
                tracing::error!(shard = self.index, %error, "batch commit failed; rebuilding shard state from the database");
                metrics::counter!("miaodan_commit_failures_total").increment(1);
                for (reply, _) in replies {
                    let _ = reply.send(Err(ApiError::unavailable("the batch could not be committed; retry")));
                }
                self.recover().await;
            }
        }
    }

    /// Rebuilds memory from the tables after a failed commit, retrying until the database
    /// answers. Requests queue meanwhile (and are refused 429 once the inbox is full).
    async fn recover(&mut self) {
        let mut delay = Duration::from_millis(100);
        loop {
            let rebuilt = async {
                self.writer = self.store.writer().await?;
                load(&self.store, self.index, self.count).await
            };
            match rebuilt.await {
                Ok(state) => {
                    self.state = state;
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

fn count_outcome(outcome: &Outcome) {
    let (name, label) = match outcome {
        Outcome::OrderPlaced(_) => ("miaodan_orders_total", "placed"),
        Outcome::OrderPaid(_) => ("miaodan_orders_total", "paid"),
        Outcome::OrderCancelled(_) => ("miaodan_orders_total", "cancelled"),
        Outcome::Rejected(rejection) => ("miaodan_rejections_total", rejection.code()),
        _ => return,
    };
    metrics::counter!(name, "kind" => label).increment(1);
}
