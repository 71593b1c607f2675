//! The running platform: its shared state, start-up (open the store, rebuild every shard from
//! the tables, serve HTTP) and graceful shutdown (stop accepting, finish the requests in
//! flight — their batches commit and answer — then stop the shards).

use crate::clock::Clock;
use crate::cluster::placement::HOLDER;
use crate::cluster::{Leases, Membership};
use crate::directory::Directory;
use crate::flows::payments::one_tap::OneTap;
use crate::flows::payments::provider::PaymentProvider;
use crate::flows::payments::simpay_provider::SimpayProvider;
use crate::flows::payments::{self, PROVIDER_CALL_TIMEOUT, Payments};
use crate::http;
use crate::idempotency::{IDEMPOTENCY_RETENTION_SECONDS, IdempotencyLocks};
use crate::ids::Ids;
use crate::language_model::{LanguageModel, LanguageModelConfig, OpenAiCompatible};
use crate::limits::Limits;
use crate::metrics_setup;
use crate::sequencer::Shards;
use crate::tokens::{self, TokenCache, TokenRequest};
use metrics_exporter_prometheus::PrometheusHandle;
use miaodan_domain::orders::PAYMENT_TIMEOUT_SECONDS_DEFAULT;
pub use miaodan_domain::risk::RiskMode;
use miaodan_store::id_blocks::IdKind;
use miaodan_store::records::Role;
use miaodan_store::{Durability, Store};
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The label of the admin token a first start issues.
pub const BOOTSTRAP_LABEL: &str = "first start";

#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    /// A file path / `sqlite://PATH` (embedded) or `postgres://…`.
    pub database: String,
    pub durability: Durability,
    pub shards: u32,
    /// Unpaid orders are cancelled this long after they were placed.
    pub payment_timeout_seconds: i64,
    pub payments: PaymentsConfig,
    pub carriers: crate::carriers::CarriersConfig,
    /// The platform's time. A clone of the same clock keeps the time a test moved across a
    /// restart on this config; a fresh one (the default) reads the wall clock.
    pub clock: Clock,
    /// Timeouts and caps at the request edge (see [`Limits`]).
    pub limits: Limits,
    /// Where `GET /metrics` is served, apart from the API (its figures are platform-wide);
    /// `None` serves no metrics over HTTP. Default: none (`miaodan serve` defaults to
    /// `127.0.0.1:9464`).
    pub metrics_listen: Option<SocketAddr>,
    /// Outgoing webhooks: which hosts may receive them, the receivers' timeout, the retries.
    pub webhooks: crate::webhooks::WebhooksConfig,
    /// Whether risk scores and refuses flash-sale taps. Default here: off (an embedding
    /// program decides); `miaodan serve` turns it on unless told `--risk off|shadow`.
    pub risk: RiskMode,
    /// The reverse proxies in front of this server: a request from one of them is risk-scored
    /// by the client address it names in `X-Forwarded-For` (the rightmost not itself a trusted
    /// proxy), not by the proxy's. Default: none (the connection's peer is the client).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// A language model the assistant may ask about a message its classifier is unsure of (see
    /// [`crate::language_model`]). Default: none — the assistant needs nothing outside the binary.
    pub language_model: Option<LanguageModelConfig>,
    /// This process as a member of a cluster of processes serving one PostgreSQL database
    /// (`miaodan serve --cluster`): it takes the shards' leases only once they were given back
    /// or expired, and its caller keeps its registration alive. `None` (the default): the
    /// platform's only process, which takes the leases whoever held them (see
    /// [`crate::cluster`]).
    pub cluster: Option<crate::cluster::Membership>,
    /// How long this process's shard leases live unless renewed (renewed every third of it):
    /// how long a cluster waits for a silent process before another takes its shards over.
    /// Default: [`crate::cluster::LEASE_TTL_MS`].
    pub lease_ttl_ms: i64,
    /// The shards this process holds, for a member of a cluster that shares the shards with the
    /// others (each shard held by one member; the requests and parts of requests for the others
    /// are sent to their holders: see [`crate::http::cluster::members::ShardOwners`]). `None` (the default):
    /// every shard.
    pub held_shards: Option<Vec<u32>>,
}

/// Which payment provider the platform talks to.
#[derive(Clone, Debug)]
pub enum PaymentsConfig {
    /// The `simpay` simulator in this process; its notifications come to this server's webhook
    /// over loopback HTTP unless `webhooks` is off.
    InProcessSimpay {
        seed: u64,
        faults: simpay::Faults,
        webhooks: bool,
    },
    /// A `simpay` process at `url` (`miaodan simpay`), sharing the webhook `secret`.
    RemoteSimpay { url: String, secret: Vec<u8> },
}

impl Default for PaymentsConfig {
    fn default() -> PaymentsConfig {
        PaymentsConfig::InProcessSimpay {
            seed: 7,
            faults: simpay::Faults::default(),
            webhooks: true,
        }
    }
}

impl Config {
    /// The shards this process holds: [`Config::held_shards`], or every one.
    pub fn shards_held(&self) -> Vec<u32> {
        self.held_shards.clone().unwrap_or_else(|| (0..self.shards).collect())
    }

    pub fn new(listen: SocketAddr, database: impl Into<String>) -> Config {
        Config {
            listen,
            database: database.into(),
            durability: Durability::PowerLossSafe,
            shards: 2,
            payment_timeout_seconds: PAYMENT_TIMEOUT_SECONDS_DEFAULT,
            payments: PaymentsConfig::default(),
            carriers: crate::carriers::CarriersConfig::default(),
            clock: Clock::system(),
            limits: Limits::default(),
            metrics_listen: None,
            webhooks: crate::webhooks::WebhooksConfig::default(),
            risk: RiskMode::Off,
            trusted_proxies: Vec::new(),
            language_model: None,
            cluster: None,
            lease_ttl_ms: crate::cluster::LEASE_TTL_MS,
            held_shards: None,
        }
    }
}

pub struct Inner {
    /// How long this platform took to open, phase by phase.
    pub startup: Startup,
    pub store: Arc<Store>,
    pub shards: Shards,
    pub ids: Ids,
    pub tokens: TokenCache,
    pub idempotency_locks: Arc<IdempotencyLocks>,
    pub directory: Directory,
    pub config: Config,
    pub metrics: PrometheusHandle,
    pub payments: Payments,
    /// Which shop owns each SKU, as checkouts learned it.
    pub sku_owners: crate::flows::checkout::SkuOwners,
    /// The in-process simulator, when that is the provider (to point its webhooks at us, and
    /// for tests and benchmarks to inject faults).
    pub simpay: Option<simpay::SimPay>,
    pub carriers: crate::carriers::Carriers,
    /// Package-center alerts as they commit, for the live stream.
    pub alert_feed: crate::sequencer::AlertFeed,
    /// The compass's live side: recent taps per sale, and the signal its streams wait on.
    pub compass_live: crate::compass::flash_sales::Live,
    /// The assistant's conversations answering a message now.
    pub conversation_turns: crate::flows::assistant::Turns,
    /// This platform's time (see [`Clock`]); everything that needs time reads it here.
    pub clock: Clock,
    /// Turns `true` when the server begins to stop: live streams end, so that their
    /// connections can close.
    pub stopping: tokio::sync::watch::Sender<bool>,
    /// Outgoing webhooks' ids, client and deliveries in flight (see [`crate::webhooks`]).
    pub webhooks: crate::webhooks::Webhooks,
    /// Staff sign-in's memory: the throttle and the dummy hash (see [`crate::staff`]).
    pub staff: crate::staff::Staff,
    /// The human check behind risk's challenges (the simulator unless a vendor's adapter is
    /// plugged in; see [`crate::flows::risk_challenges`]).
    pub human_check: Arc<dyn crate::flows::risk_challenges::human_check::HumanCheck>,
    /// The assistant's optional second opinion ([`Config::language_model`]).
    language_model: Option<Arc<dyn LanguageModel>>,
    /// The requests in flight and their cap (see [`crate::http::admission`]).
    pub admission: crate::http::admission::Admission,
    /// This process as a member (see [`crate::cluster`]).
    pub membership: crate::cluster::Membership,
    /// The secret the members of a cluster serving this database show each other
    /// (`http::cluster::members`); `None` for a process that is no member.
    pub member_secret: Option<String>,
    /// Renews the shards' leases while the platform runs.
    lease_renewal: JoinHandle<()>,
}

/// Another live process holds the shards' leases: a member of a cluster cannot serve yet.
#[derive(Debug, thiserror::Error)]
#[error("another process holds the shards' leases")]
pub struct LeasesHeld;

/// The store a platform serves from, the shards' leases it took, and their renewal (started as
/// soon as they were taken).
type Leased = (Arc<Store>, Arc<Leases>, JoinHandle<()>);

/// Takes every shard's lease on `store` as `taking` allows ([`LeasesHeld`] if a live process
/// holds one it may not take) and starts renewing them there at once.
async fn take_leases(
    store: Arc<Store>,
    config: &Config,
    member: i64,
    taking: miaodan_store::cluster::Taking,
) -> anyhow::Result<(Arc<Leases>, JoinHandle<()>)> {
    // A member of a cluster holds each lease apart (one taken from it does not end the others),
    // even a member holding every shard.
    let (shards, apart) = (config.shards_held(), config.cluster.is_some());
    let leases = Leases::take(&store, (member, config.lease_ttl_ms), (&shards, apart), taking).await?;
    let leases = Arc::new(leases.ok_or(LeasesHeld)?);
    let renewal = crate::cluster::spawn_renewal(store, &leases);
    Ok((leases, renewal))
}

/// How long a shard given back waits for the requests in flight ([`AppState::give_back_shard`]);
/// past it the shard stays, and a later look tries again.
const GIVE_BACK_PATIENCE: std::time::Duration = std::time::Duration::from_secs(5);

/// Opens the store to serve from, having taken the leases of the shards this process holds
/// (every shard unless [`Config::held_shards`]); every write of the store is made under the first
/// of them ([`Store::hold`]). The only process serving a database ends the connections of the
/// one that served before, whatever it was doing, and takes every lease. A member of a cluster
/// ends nobody's (the others are live) and takes its leases only if they are free
/// ([`LeasesHeld`] otherwise); a former holder paused in the middle of a commit keeps its lease's
/// row locked, which the taking waits for, until PostgreSQL ends that idle transaction (see
/// `idle_in_transaction_session_timeout` in the store).
async fn open_leased(config: &Config, membership: &crate::cluster::Membership) -> anyhow::Result<Leased> {
    let member = membership.id();
    let (store, (leases, renewal)) = match &config.cluster {
        None => {
            let store = Arc::new(Store::open_to_serve(&config.database, config.durability).await?);
            let taken = take_leases(store.clone(), config, member, miaodan_store::cluster::Taking::Whatever).await?;
            (store, taken)
        }
        Some(_) => {
            let store = Arc::new(Store::open(&config.database, config.durability).await?);
            (
                store.clone(),
                take_leases(store, config, member, membership.taking()).await?,
            )
        }
    };
    let first = leases.held().first().copied();
    store.hold(first.ok_or_else(|| anyhow::anyhow!("a platform holds at least one shard"))?);
    if let Some(zero) = leases.lease(0) {
        store.hold_for_readers(zero);
    }
    Ok((store, leases, renewal))
}

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// Purges what is past retention, then loads the fingerprints of the keys kept into the
/// index, while the platform already serves (see [`IdempotencyLocks`]: keyed requests wait for
/// it, nothing else does). The outbox prune keeps each shard's newest pack, so it may run beside
/// the writers, as it does hourly. Gives how many keys were loaded.
async fn load_idempotency_index(
    (store, clock): (&Store, &Clock),
    locks: Arc<IdempotencyLocks>,
    last_response: i64,
) -> anyhow::Result<usize> {
    let cutoff = clock.now().plus_seconds(-IDEMPOTENCY_RETENTION_SECONDS);
    store.purge_idempotency_records(cutoff).await?;
    store
        .prune_outbox(clock.now().plus_seconds(-OUTBOX_RETENTION_SECONDS))
        .await?;
    let mark = store.stored_keys_mark().await?;
    let keys = store.idempotency_keys().await?;
    let count = keys.len();
    let now = clock.now();
    let index = locks.clone();
    // Off the async threads: fingerprinting millions of keys takes a second or more.
    tokio::task::spawn_blocking(move || index.load_index(keys, last_response, now)).await?;
    mark.into_iter().for_each(|mark| locks.note_read(mark));
    Ok(count)
}

/// Loads the idempotency index in the background ([`load_idempotency_index`]), once more each
/// second while the store fails, until it is loaded or the platform (the index's owner) is gone.
fn spawn_index_load((store, clock): (Arc<Store>, Clock), locks: &Arc<IdempotencyLocks>, last_response: i64) {
    let index = Arc::downgrade(locks);
    metrics::gauge!("miaodan_idempotency_index_loaded").set(0.0);
    tokio::spawn(async move {
        let began = std::time::Instant::now();
        loop {
            let Some(locks) = index.upgrade() else {
                return;
            };
            match load_idempotency_index((&store, &clock), locks, last_response).await {
                Ok(keys) => {
                    let took_ms = began.elapsed().as_millis() as u64;
                    tracing::info!(keys, took_ms, "idempotency index loaded");
                    metrics::gauge!("miaodan_idempotency_index_loaded").set(1.0);
                    return;
                }
                // An error, not a warning: until the index loads, every keyed request is refused.
                Err(error) => tracing::error!(%error, "could not load the idempotency index; retrying"),
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    });
}

/// How long each phase of [`AppState::open`] took: logged at start, and read by
/// `miaodan bench restart` (a 24-hour service must not restart slower every day). The shards
/// load side by side, as one phase; the idempotency index is not a phase (it loads after
/// `open`, logged on its own).
#[derive(Clone, Debug)]
pub struct Startup {
    began: std::time::Instant,
    at: std::time::Instant,
    phases: Vec<(&'static str, std::time::Duration)>,
}

impl Startup {
    fn begin() -> Startup {
        let now = std::time::Instant::now();
        Startup {
            began: now,
            at: now,
            phases: Vec::new(),
        }
    }

    /// Ends the phase `name` now.
    fn phase(&mut self, name: &'static str) {
        let now = std::time::Instant::now();
        self.phases.push((name, now - self.at));
        self.at = now;
    }

    fn log(&self) {
        let total = self.began.elapsed();
        let phases: Vec<String> = self
            .phases
            .iter()
            .map(|(name, took)| format!("{name} {} ms", took.as_millis()))
            .collect();
        tracing::info!(total_ms = total.as_millis() as u64, phases = %phases.join(", "), "state loaded");
    }

    /// Each phase with how long it took, in order.
    pub fn phases(&self) -> &[(&'static str, std::time::Duration)] {
        &self.phases
    }
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// Refuses a configuration that cannot work, before the store is opened (and migrated); gives
/// the language model it names, if any (a model this build cannot call is such a configuration).
fn checked(config: &Config) -> anyhow::Result<Option<Arc<dyn LanguageModel>>> {
    anyhow::ensure!(config.shards >= 1 && config.shards <= 64, "shards must be 1 to 64");
    anyhow::ensure!(
        (600..=600_000).contains(&config.lease_ttl_ms),
        "the lease time to live must be 600 ms to 600 s"
    );
    if let Some(held) = &config.held_shards {
        anyhow::ensure!(
            config.cluster.is_some(),
            "only a member of a cluster shares the shards with others"
        );
        let mut apart = held.clone();
        apart.sort_unstable();
        apart.dedup();
        anyhow::ensure!(
            !held.is_empty() && apart.len() == held.len() && held.iter().all(|shard| *shard < config.shards),
            "the shards held must be some of 0 to {}, each once",
            config.shards - 1
        );
    }
    anyhow::ensure!(
        config.payment_timeout_seconds >= 1,
        "the payment timeout must be at least 1 s"
    );
    if let Some(problem) = config.limits.problem() {
        anyhow::bail!("limits: {problem}");
    }
    Ok(match &config.language_model {
        Some(model) => Some(Arc::new(OpenAiCompatible::new(model)?) as Arc<dyn LanguageModel>),
        None => None,
    })
}

/// The ids this process hands out, with the first blocks a flash sale needs reserved, and, for
/// a cluster member, the secret the members serving the database show each other.
async fn ids_and_member_secret(store: &Arc<Store>, config: &Config) -> anyhow::Result<(Ids, Option<String>)> {
    let member_secret = match config.cluster {
        Some(_) => Some(store.member_secret(&hex::encode(rand::random::<[u8; 32]>())).await?),
        None => None,
    };
    let ids = Ids::reserving_from(store.clone());
    // A flash sale's first taps (keyed: a new key takes an answer id) wait for no reservation,
    // and reach their shard even while the database is out.
    ids.reserve_first_blocks(&[IdKind::Order, IdKind::Checkout, IdKind::IdempotencyResponse])
        .await?;
    Ok((ids, member_secret))
}

/// How a member that shares the shards with others asks theirs (none for a process holding
/// every shard).
fn other_holders(
    store: &Arc<Store>,
    config: &Config,
    secret: Option<&str>,
) -> anyhow::Result<Option<Arc<dyn crate::sequencer::OtherHolders>>> {
    match (&config.held_shards, secret) {
        (Some(_), Some(secret)) => {
            let owners = crate::http::cluster::members::ShardOwners::new(store.clone(), config.shards, secret.into())?;
            Ok(Some(Arc::new(owners)))
        }
        _ => Ok(None),
    }
}

impl AppState {
    /// Opens the store and rebuilds every shard's memory from it. The idempotency index loads
    /// in the background from here on (see [`IdempotencyLocks`]).
    pub async fn open(config: Config) -> anyhow::Result<AppState> {
        let language_model = checked(&config)?;
        let clock = config.clock.clone();
        let mut startup = Startup::begin();
        let membership = match &config.cluster {
            Some(membership) => membership.clone(),
            None => Membership::new(crate::cluster::new_member_id(), String::new(), HOLDER),
        };
        // The leases are renewed from the moment they are taken: opening and loading may take
        // longer than a lease lives.
        let (store, leases, lease_renewal) = open_leased(&config, &membership).await?;
        // Blocks of ids start above every id stored, whoever wrote it.
        let maxima = store.align_id_blocks().await?;
        startup.phase("store");
        let (ids, member_secret) = ids_and_member_secret(&store, &config).await?;
        let (alert_feed, _) = tokio::sync::broadcast::channel(1024);
        let shards = Shards::start(
            (store.clone(), leases),
            (config.shards, config.limits.shard_queue_max),
            (config.risk, other_holders(&store, &config, member_secret.as_deref())?),
            alert_feed.clone(),
            clock.clone(),
        )
        .await?;
        startup.phase("shards");
        let carriers = crate::carriers::Carriers::new(&config.carriers)?;
        let tokens = TokenCache::following(&store).await?;
        let (provider, simpay) = payment_provider(&config.payments)?;
        let payments = Payments::new(provider, OneTap::load(&store, clock.now()).await?);
        let webhooks = crate::webhooks::Webhooks::new(&config.webhooks)?;
        startup.phase("tokens, payments, webhooks");
        startup.log();
        let admission = crate::http::admission::Admission::new(&config.limits);
        // The index of stored answers loads once the shards have (beside them, the two would
        // share the cores and delay the first answer) and nothing else can fail, and on after
        // the server listens. Half the places of requests in flight may wait for it.
        let last_response = maxima.idempotency_response;
        let waiting_max = (config.limits.requests_in_flight_max / 2).max(1);
        let idempotency_locks = Arc::new(IdempotencyLocks::loading(last_response, waiting_max));
        spawn_index_load((store.clone(), clock.clone()), &idempotency_locks, last_response);
        Ok(AppState(Arc::new(Inner {
            startup,
            store,
            shards,
            ids,
            tokens,
            idempotency_locks,
            directory: Directory::default(),
            config,
            metrics: metrics_setup::handle(),
            payments,
            sku_owners: Default::default(),
            simpay,
            carriers,
            alert_feed,
            compass_live: Default::default(),
            conversation_turns: Default::default(),
            clock,
            stopping: tokio::sync::watch::Sender::new(false),
            webhooks,
            staff: crate::staff::Staff::new()?,
            human_check: Arc::new(crate::flows::risk_challenges::human_check::SimCaptcha),
            language_model,
            admission,
            membership,
            member_secret,
            lease_renewal,
        })))
    }

    /// Takes shard `index` over while the process runs (a shard its former holder gave back, or
    /// whose lease expired, or whose holder is gone, as `taking` allows): takes its lease, learns
    /// the answers stored for Idempotency-Keys until then (the former holder's: a retry of one
    /// of its keys is replayed here, not decided again), then loads the shard and takes its
    /// commands. False while another live member holds it.
    pub async fn take_shard(&self, index: usize, taking: miaodan_store::cluster::Taking) -> anyhow::Result<bool> {
        anyhow::ensure!(index < self.shards.count() as usize, "there is no shard {index}");
        if self.shards.holds(index) && self.shards.leases().holds(index as u32) {
            return Ok(true);
        }
        // Open here, but its lease was lost: closed before it is taken again.
        self.shards.close_lost().await;
        if !self.shards.take_lease(index, taking).await? {
            return Ok(false);
        }
        // The answers its former holder stored since this member last read them.
        if let Err(error) = self.learn_stored_keys().await {
            self.shards.leases().give_back_one(&self.store, index as u32).await;
            return Err(error);
        }
        // A shard that does not load gives its lease back itself.
        self.shards.open(index).await?;
        Ok(true)
    }

    /// Learns the answers stored since this member last read them: every one before its first
    /// read, or once the database went back (its mark behind the latest noted: restored to an
    /// earlier point, or failed over to a replica that had not everything), and the marks start
    /// again from there.
    async fn learn_stored_keys(&self) -> anyhow::Result<()> {
        let locks = self.idempotency_locks.clone();
        let mark = self.store.stored_keys_mark().await?;
        let from = locks.learn_from();
        let went_back = matches!((from, mark), (Some(from), Some(mark)) if mark < from);
        let keys = match from {
            Some(from) if !went_back => self.store.idempotency_keys_after(from).await?,
            _ => self.store.idempotency_keys().await?,
        };
        let (index, now) = (locks.clone(), self.clock.now());
        tokio::task::spawn_blocking(move || index.learn_stored(keys, now)).await?;
        match (mark, went_back) {
            (Some(mark), true) => locks.restart_reads(mark),
            (Some(mark), false) => locks.note_read(mark),
            (None, _) => {}
        }
        Ok(())
    }

    /// Gives shard `index` back while the process runs: no request decided across shards with
    /// its home there is let through any more, and those let through finish (their answers
    /// stored); then it decides and commits what it queued, its lease is given back, and its
    /// requests go to whoever takes it, who learns every answer stored until then. Requests
    /// that do not finish within [`GIVE_BACK_PATIENCE`] keep the shard here (false): one of
    /// them could store its answer after the taker learnt the keys.
    pub async fn give_back_shard(&self, index: usize) -> bool {
        self.shards.set_leaving(index, true);
        let drained = self.admission.wait_for_earlier(GIVE_BACK_PATIENCE).await;
        if drained {
            self.shards.give_back(index).await;
        } else {
            tracing::warn!(
                shard = index,
                "requests in flight did not finish in time: the shard is not given back yet"
            );
        }
        self.shards.set_leaving(index, false);
        drained
    }

    /// The language model the assistant may ask for a second opinion, if one is configured.
    pub fn language_model(&self) -> Option<&dyn LanguageModel> {
        self.0.language_model.as_deref()
    }

    /// Creates a token (for a role, and its shop or buyer), stores its hash, returns its id
    /// and the token itself, shown this once.
    pub async fn issue_token(&self, request: TokenRequest) -> anyhow::Result<(i64, String)> {
        let (record, token) = tokens::mint(self.ids.token().await?, request, self.clock.now())?;
        self.store.insert_token(&record, None).await?;
        let id = record.id;
        self.tokens.remember(record);
        Ok((id, token))
    }

    /// Sends a command and insists it is accepted (set-up of the demo world, benchmarks,
    /// imports): a refusal or an unavailable shard is an error.
    pub async fn submit_accepted(
        &self,
        shop: miaodan_domain::ShopId,
        command: miaodan_domain::shard::Command,
    ) -> anyhow::Result<miaodan_domain::shard::Outcome> {
        let outcome = self
            .shards
            .submit(shop, command, None)
            .await
            .map_err(|e| anyhow::anyhow!("shard: {e}"))?;
        if let miaodan_domain::shard::Outcome::Rejected(rejection) = &outcome {
            anyhow::bail!("command refused: {}", rejection.code());
        }
        Ok(outcome)
    }

    /// An admin token if none was ever issued (the first start): the operator's way in. Later
    /// starts issue none, even once that token expired or was revoked: then
    /// `miaodan token create --role admin`, which needs the database, is the way in.
    pub async fn bootstrap_admin_token(&self) -> anyhow::Result<Option<String>> {
        if self.store.admin_token_issued().await? {
            return Ok(None);
        }
        let request = TokenRequest::new(Role::Admin, None).labelled(BOOTSTRAP_LABEL);
        Ok(Some(self.issue_token(request).await?.1))
    }
}

fn payment_provider(config: &PaymentsConfig) -> anyhow::Result<(Arc<dyn PaymentProvider>, Option<simpay::SimPay>)> {
    Ok(match config {
        PaymentsConfig::InProcessSimpay { seed, faults, .. } => {
            let mut secret = vec![0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut secret);
            let simpay = simpay::SimPay::new(simpay::Config {
                seed: *seed,
                secret: secret.clone(),
                webhook_url: None,
                faults: faults.clone(),
            });
            let client = simpay::SimpayClient::in_process(simpay.clone());
            (Arc::new(SimpayProvider::new(client, secret)), Some(simpay))
        }
        PaymentsConfig::RemoteSimpay { url, secret } => {
            let client = simpay::SimpayClient::http(url.clone(), PROVIDER_CALL_TIMEOUT)
                .map_err(|e| anyhow::anyhow!("simpay url: {e}"))?;
            (Arc::new(SimpayProvider::new(client, secret.clone())), None)
        }
    })
}

/// A server accepting requests; dropping it does not stop it, [`Running::shutdown`] does.
pub struct Running {
    pub address: SocketAddr,
    /// Where `GET /metrics` is served, if anywhere (`Config::metrics_listen`).
    pub metrics_address: Option<SocketAddr>,
    pub state: AppState,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Running {
    /// Stops accepting, lets requests in flight finish (their batches commit), then stops
    /// the shards.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = self.task.await;
    }

    /// Waits until the server stops by itself (it does not, unless its listener fails).
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

/// Starts serving `state` on its configured address (port 0 picks a free one), and its
/// metrics on theirs.
pub async fn serve(state: AppState) -> anyhow::Result<Running> {
    let listener = TcpListener::bind(state.config.listen).await?;
    let address = listener.local_addr()?;
    let platform = Platform::start(&state, address).await?;
    let router = http::router(state.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    let serving_state = state.clone();
    let metrics_address = platform.metrics_address;
    let task = tokio::spawn(async move {
        let stop = async {
            // A process whose shards another process took stops serving at once.
            tokio::select! {
                _ = stopped => {}
                _ = serving_state.shards.leases().lost() => {}
            }
            serving_state.stopping.send_replace(true);
        };
        http::listener::serve(listener, router, &serving_state.config.limits, stop).await;
        platform.stop().await;
    });
    Ok(Running {
        address,
        metrics_address,
        state,
        stop: Some(stop),
        task,
    })
}

/// The platform's work besides answering requests, while it serves: the background tasks, the
/// metrics listener, and (for the only process) its registration as a member.
pub struct Platform {
    state: AppState,
    background: Vec<JoinHandle<()>>,
    /// The platform-wide work, which runs once, at shard 0's holder: the compass, the webhooks'
    /// fan-out, the diagnosis reports ([`Platform::follow_shard_zero`]).
    platform_wide: Vec<JoinHandle<()>>,
    /// Elsewhere, what follows the compass for this member's live streams
    /// ([`crate::compass::follow`]).
    compass_follower: Option<JoinHandle<()>>,
    /// Where `GET /metrics` is served, if anywhere (`Config::metrics_listen`).
    pub metrics_address: Option<SocketAddr>,
    heartbeat: Option<JoinHandle<()>>,
}

impl Platform {
    /// Starts the work of `state` serving at `address` (its simulators' webhooks come there).
    pub async fn start(state: &AppState, address: SocketAddr) -> anyhow::Result<Platform> {
        let (metrics_task, metrics_address) = serve_metrics(state).await?;
        point_simulators_at(state, address);
        // Each member resolves the payments of its own shards' intents.
        let mut background = vec![
            spawn_token_upkeep(state.clone()),
            payments::worker::spawn(state.clone()),
            spawn_housekeeping(state.clone()),
            metrics_setup::spawn_upkeep(state.metrics.clone()),
        ];
        background.extend(metrics_task);
        // A member of a cluster is registered by its caller; the only process registers itself.
        let heartbeat = match state.config.cluster {
            Some(_) => None,
            None => {
                state.membership.set_address(format!("http://{address}"));
                // Registered before it answers a request: `GET /v1/cluster` lists it at once.
                state.membership.beat(&state.store).await;
                Some(state.membership.spawn_heartbeat(state.store.clone()))
            }
        };
        let mut platform = Platform {
            state: state.clone(),
            background,
            platform_wide: Vec::new(),
            compass_follower: None,
            metrics_address,
            heartbeat,
        };
        platform.follow_shard_zero();
        Ok(platform)
    }

    /// Starts the platform-wide work if this process holds shard 0 and it is not running, stops
    /// it if shard 0 moved to another member (which starts it on taking it). Each part resumes
    /// from what it stored: the compass and the webhooks from their place in the outbox. A member
    /// without shard 0 follows the compass instead, for its live streams.
    pub fn follow_shard_zero(&mut self) {
        let state = &self.state;
        let holds_zero = state.shards.holds(0);
        match (holds_zero, self.compass_follower.take()) {
            (true, Some(follower)) => follower.abort(),
            (false, None) => self.compass_follower = Some(crate::compass::follow(state.clone())),
            (_, following) => self.compass_follower = following,
        }
        match (holds_zero, self.platform_wide.is_empty()) {
            (true, true) => {
                self.platform_wide = vec![
                    crate::compass::spawn(state.clone()),
                    crate::webhooks::spawn(state.clone()),
                    crate::diagnosis::spawn(state.clone(), crate::http::diagnosis::stored_body),
                ];
            }
            (false, false) => {
                self.platform_wide.drain(..).for_each(|task| task.abort());
                tracing::info!("shard 0 moved to another member: so does the platform-wide work");
            }
            _ => {}
        }
    }

    /// Stops it, once no request is in flight any more: the shards finish and commit what they
    /// have queued, then their leases are given back, for another member to take at once.
    pub async fn stop(self) {
        let state = &self.state;
        self.background
            .iter()
            .chain(&self.platform_wide)
            .chain(&self.compass_follower)
            .for_each(JoinHandle::abort);
        write_last_token_uses(state).await;
        state.shards.stop().await;
        state.lease_renewal.abort();
        if !state.shards.leases().is_lost() {
            state.shards.leases().give_back(&state.store).await;
        }
        if let Some(heartbeat) = self.heartbeat {
            heartbeat.abort();
            state.membership.leave(&state.store).await;
        }
        tracing::info!("stopped: every acknowledged batch is committed");
    }
}

/// The simulators in this process send their webhooks to this server.
fn point_simulators_at(state: &AppState, address: SocketAddr) {
    if let (Some(simpay), PaymentsConfig::InProcessSimpay { webhooks: true, .. }) =
        (&state.simpay, &state.config.payments)
    {
        simpay.set_webhook_url(Some(format!("http://{address}/v1/webhooks/simpay")));
    }
    if let Some(simulator) = &state.carriers.simulator {
        simulator.set_webhook_url(Some(format!("http://{address}/v1/webhooks/carriers")));
    }
}

/// Serves `GET /metrics` on its own listener, if one is configured.
async fn serve_metrics(state: &AppState) -> anyhow::Result<(Option<JoinHandle<()>>, Option<SocketAddr>)> {
    let Some(listen) = state.config.metrics_listen else {
        return Ok((None, None));
    };
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("metrics listener on {listen}: {e}"))?;
    let address = listener.local_addr()?;
    let (router, limits) = (http::metrics_router(state.clone()), state.config.limits.clone());
    let task = tokio::spawn(async move {
        http::listener::serve(listener, router, &limits, std::future::pending()).await;
    });
    Ok((Some(task), Some(address)))
}

/// Follows revocations made by other processes every [`tokens::REVOCATION_POLL_MS`], and
/// writes the tokens' last uses every [`tokens::LAST_USED_WRITE_SECONDS`].
fn spawn_token_upkeep(state: AppState) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut poll = tokio::time::interval(Duration::from_millis(tokens::REVOCATION_POLL_MS));
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut write = tokio::time::interval(Duration::from_secs(tokens::LAST_USED_WRITE_SECONDS));
        write.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        write.tick().await;
        loop {
            tokio::select! {
                _ = poll.tick() => {
                    if let Err(error) = state.tokens.follow_revocations(&state.store).await {
                        tracing::warn!(%error, "could not read token revocations");
                    }
                }
                _ = write.tick() => write_last_token_uses(&state).await,
            }
        }
    })
}

async fn write_last_token_uses(state: &AppState) {
    let written = state.tokens.write_last_uses(&state.store, state.clock.now()).await;
    if let Err(error) = written {
        tracing::warn!(%error, "could not write when tokens were last used");
    }
}

/// How long committed events stay in the outbox (`GET /v1/events` and every reader): a
/// reader that falls further behind resumes at the oldest event kept.
pub const OUTBOX_RETENTION_SECONDS: i64 = 7 * 24 * 3600;

/// Hourly: prunes this process's index of keys; at shard 0's holder, also purges the stored
/// answers and the outbox past retention.
fn spawn_housekeeping(state: AppState) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut every_hour = tokio::time::interval(Duration::from_secs(3600));
        // The first tick completes at once; the start-up purge is the index load's (see
        // `load_idempotency_index`).
        every_hour.tick().await;
        loop {
            every_hour.tick().await;
            let now = state.clock.now();
            let cutoff = now.plus_seconds(-IDEMPOTENCY_RETENTION_SECONDS);
            // The keys first seen before the cutoff leave the index with their responses; the
            // index is pruned, never rebuilt, so no key noted meanwhile is dropped.
            state.idempotency_locks.checkpoint(now);
            state.idempotency_locks.forget_first_seen_before(cutoff);
            if !state.shards.holds(0) {
                continue;
            }
            let purged = state.store.purge_idempotency_records(cutoff).await;
            if let Err(error) = purged {
                tracing::warn!(%error, "could not purge old idempotency keys");
            }
            match state
                .store
                .prune_outbox(now.plus_seconds(-OUTBOX_RETENTION_SECONDS))
                .await
            {
                Ok(pruned) => metrics::counter!("miaodan_outbox_pruned_events_total").increment(pruned as u64),
                Err(error) => tracing::warn!(%error, "could not prune old outbox events"),
            }
        }
    })
}
