//! One seed's run: the real shard logic (`ShardState::apply`) deciding batches, the real store
//! committing them to a SQLite file (or a PostgreSQL database), and between the two a commit that may fail in each of the
//! ways [`Fault`] names. Everything — workload, batch sizes, faults, the clock, the provider —
//! is drawn from one `StdRng` seeded with the run's `u64`, and the simulation awaits one thing
//! at a time, so the same seed gives the same history.

use crate::Backend;
use crate::auditor::{Auditor, Broken};
use crate::clients::{self, Ask, Clients, Placement};
use crate::faults::{Fault, FaultPlan};
use crate::provider::Provider;
use crate::report::{SeedReport, Sometimes, Violation};
use crate::world::{self, SHARDS, SHOPS, START};
use miaodan_domain::flash_sale::FlashSaleId;
use miaodan_domain::orders::OrderState;
use miaodan_domain::payments::{self, IntentStatus};
use miaodan_domain::shard::{Command, Effect, Outcome, Rejection, ShardHorizons, ShardState};
use miaodan_domain::{BuyerId, OrderId, ShopId, SkuId, Timestamp, WarehouseId};
use miaodan_store::records::IdempotencyRecord;
use miaodan_store::sql::Statement;
use miaodan_store::throwaway::ThrowawayDatabase;
use miaodan_store::{Durability, Store, StoreError, Writer};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Commands a batch takes from its inbox at most (the server takes far more; a handful is
/// enough to put several answers behind one commit).
const BATCH_MAX: usize = 6;
/// Rounds of delivering and draining at the end before liveness is judged.
const SETTLE_ROUNDS_MAX: u32 = 50;

struct SimShard {
    index: u32,
    state: ShardState,
    writer: Option<Writer>,
    /// Requests sent to this shard and not yet decided: `(request, command)`.
    inbox: VecDeque<(u64, Command)>,
    rows: Vec<(SkuId, WarehouseId)>,
    /// Commits of this shard, for the cadence of reading it back.
    commits: u64,
}

pub struct Sim {
    step: u32,
    rng: StdRng,
    plan: FaultPlan,
    store: Store,
    shards: Vec<SimShard>,
    now: Timestamp,
    clients: Clients,
    provider: Provider,
    auditor: Auditor,
    report: SeedReport,
    history: Sha256,
    /// Orders buyers hold an answer for and may cancel or pay: their shop and buyer.
    known: BTreeMap<OrderId, (ShopId, BuyerId)>,
    /// When the process last crashed.
    last_crash: Option<Timestamp>,
    /// Provider webhooks `(intent, attempt)` the platform answered once already.
    notified: BTreeSet<(i64, i64)>,
    /// Requests that are a provider's webhook delivery (not a confirmation's own recording).
    webhooks: BTreeSet<u64>,
    /// Confirmations waiting for their charge to be recorded: the recording request, with the
    /// intent, the attempt and the intent's home shop.
    confirming: BTreeMap<u64, (payments::PaymentIntentId, i64, ShopId)>,
    /// Refunds whose provider answer is on its way to being recorded.
    refunding: BTreeSet<payments::RefundId>,
    /// Refunds that were pending when the process crashed.
    refunds_at_crash: BTreeSet<payments::RefundId>,
    /// Requests a shard refused for want of the intent in memory: asked again with it.
    reask: Vec<u64>,
    /// The command that replays this seed.
    replay: String,
    /// The server's in-memory index of stored answers: key → record id (rebuilt at a crash).
    answers: BTreeMap<String, i64>,
    /// The last stored answer's id given.
    next_answer_id: i64,
    /// The flash sales the shops scheduled (taps go to any of them, ended or not).
    sales: Vec<FlashSaleId>,
    /// Last: its tables are removed once the store and shards above have let go of them.
    database: Database,
}

impl Sim {
    /// A fresh database with the world's shops in it, and a shard per index loaded from it.
    pub async fn open(seed: u64, steps: u32, plan: Option<FaultPlan>, backend: &Backend) -> Result<Sim, Violation> {
        let mut rng = StdRng::seed_from_u64(seed);
        let drawn = FaultPlan::draw(&mut rng);
        let plan = plan.unwrap_or(drawn);
        let replay = crate::replay_command(backend, seed, steps);
        let database = Database::fresh(backend, seed)
            .await
            .map_err(|e| setup_failed(seed, &replay, e))?;
        let store = Store::open_to_serve(database.url(), Durability::PowerLossSafe)
            .await
            .map_err(|e| setup_failed(seed, &replay, e))?;
        let report = SeedReport {
            seed,
            plan: plan.clone(),
            steps,
            commands: 0,
            commits: 0,
            restarts: 0,
            simulated_ms: 0,
            faults: Default::default(),
            sometimes: BTreeMap::new(),
            state_hash: String::new(),
            history_hash: String::new(),
        };
        let mut sim = Sim {
            step: 0,
            rng,
            plan,
            store,
            shards: Vec::new(),
            now: START,
            clients: Clients::default(),
            provider: Provider::default(),
            auditor: Auditor::default(),
            report,
            history: Sha256::new(),
            known: BTreeMap::new(),
            last_crash: None,
            notified: BTreeSet::new(),
            webhooks: BTreeSet::new(),
            confirming: BTreeMap::new(),
            refunding: BTreeSet::new(),
            refunds_at_crash: BTreeSet::new(),
            reask: Vec::new(),
            replay,
            answers: BTreeMap::new(),
            next_answer_id: 0,
            sales: Vec::new(),
            database,
        };
        sim.build_world().await.map_err(|broken| sim.violation(broken))?;
        Ok(sim)
    }

    async fn build_world(&mut self) -> Result<(), Broken> {
        for index in 0..SHARDS {
            let rows = (1..=SHOPS)
                .map(world::shop)
                .filter(|shop| world::shard_of(*shop) == index as usize)
                .flat_map(world::rows_of)
                .collect();
            self.shards.push(SimShard {
                index,
                state: ShardState::default(),
                writer: Some(self.store.writer(index).await.map_err(store_broke)?),
                inbox: VecDeque::new(),
                rows,
                commits: 0,
            });
        }
        for shop in (1..=SHOPS).map(world::shop) {
            let rng = &mut self.rng;
            let commands = world::shop_setup(shop, || rng.random_range(0..=8));
            let shard = &mut self.shards[world::shard_of(shop)];
            let mut effects = Vec::new();
            for command in commands {
                let outcome = shard.state.apply(command, self.now, &mut effects);
                if let Outcome::Rejected(rejection) = outcome {
                    return Err(("setup", format!("shop {shop} refused: {rejection:?}")));
                }
            }
            // A flash sale of what the row has, if it has anything.
            let (sku, warehouse) = world::rows_of(shop)[0];
            let available = shard.state.inventory().level(sku, warehouse).available;
            if available > 0 {
                let units = self.rng.random_range(1..=available);
                let terms = world::SaleTerms {
                    units,
                    per_buyer_limit: self.rng.random_range(1..=units.min(3)),
                    lasts_ms: self.rng.random_range(20 * 60_000..=4 * 3_600_000),
                    payment_timeout_seconds: self.rng.random_range(60..=600),
                };
                let outcome = shard
                    .state
                    .apply(world::schedule_sale(shop, &terms), self.now, &mut effects);
                if let Outcome::Rejected(rejection) = outcome {
                    return Err(("setup", format!("shop {shop}'s sale refused: {rejection:?}")));
                }
                self.sales.push(world::flash_sale_of(shop));
            }
            let writer = shard.writer.as_mut().expect("a writer at setup");
            writer
                .commit_batch(&effects, &[], self.now)
                .await
                .map_err(store_broke)?;
            self.auditor.absorb(&effects)?;
        }
        Ok(())
    }

    pub async fn run(mut self) -> Result<SeedReport, Violation> {
        for step in 0..self.report.steps {
            self.step = step;
            if let Err(broken) = self.one_step().await {
                return Err(self.violation(broken));
            }
        }
        match self.finish().await {
            Ok(()) => Ok(self.report),
            Err(broken) => Err(self.violation(broken)),
        }
    }

    fn violation(&self, (invariant, detail): Broken) -> Violation {
        Violation {
            seed: self.report.seed,
            step: Some(self.step),
            invariant,
            detail,
            replay: self.replay.clone(),
        }
    }

    async fn one_step(&mut self) -> Result<(), Broken> {
        self.ask_again_with_stored_intents().await?;
        for _ in 0..self.rng.random_range(0..=3) {
            self.new_request().await?;
        }
        if self.rng.random_ratio(1, 3) {
            let unanswered = self.clients.unanswered();
            if !unanswered.is_empty() {
                let number = unanswered[self.rng.random_range(0..unanswered.len())];
                self.retry(number).await?;
            }
        }
        self.deliver_webhooks();
        for index in 0..self.shards.len() {
            if self.rng.random_ratio(2, 3) {
                self.process(index).await?;
            }
        }
        if self.rng.random_ratio(1, 4) {
            let ms = clients::clock_step(&mut self.rng);
            self.now = clients::after(self.now, ms);
            self.report.simulated_ms += ms;
        }
        Ok(())
    }

    /// Requests a shard refused for want of the intent in memory go again with the stored
    /// intent, read now (as the server's flows do).
    async fn ask_again_with_stored_intents(&mut self) -> Result<(), Broken> {
        for number in std::mem::take(&mut self.reask) {
            let request = self.clients.requests.get_mut(&number).expect("a request sent");
            let (intent, _) = request
                .ask
                .intent_snapshot()
                .expect("only payment commands are asked again");
            let stored = self.store.payment_intent(intent).await.map_err(store_broke)?;
            let request = self.clients.requests.get_mut(&number).expect("a request sent");
            if let (Some(stored), Some((_, snapshot))) = (stored, request.ask.intent_snapshot()) {
                *snapshot = Some(Box::new(stored));
                self.enqueue(number);
            }
        }
        Ok(())
    }

    /// The provider's webhooks due at this step, each sent to its intent's shard.
    fn deliver_webhooks(&mut self) {
        for notification in self.provider.due(self.step) {
            self.send_webhook(notification);
        }
    }

    fn send_webhook(&mut self, n: crate::provider::Notification) {
        let number = self.notify((n.intent, n.shop, 1), n.attempt, n.outcome);
        self.webhooks.insert(number);
    }

    /// Liveness, once the faults stop: every webhook delivered, every queue drained, the clock
    /// past every deadline. Then no unpaid order may be left past its due time and no payment
    /// attempt may still be in flight (a buyer could neither pay nor see the order expire).
    async fn settle(&mut self) -> Result<(), Broken> {
        self.plan = FaultPlan::none();
        for _ in 0..SETTLE_ROUNDS_MAX {
            self.step += 1;
            // The clock first, so that the last round's expiry runs at the final time.
            self.now = clients::after(self.now, 10 * 60 * 1000);
            self.ask_again_with_stored_intents().await?;
            self.deliver_webhooks();
            for index in 0..self.shards.len() {
                self.process(index).await?;
                while !self.shards[index].inbox.is_empty() {
                    self.process(index).await?;
                }
            }
            let quiet = self.shards.iter().all(|s| s.inbox.is_empty());
            if quiet && self.provider.queue.is_empty() && self.reask.is_empty() {
                break;
            }
        }
        for shard in &self.shards {
            let overdue = shard
                .state
                .open_orders()
                .find(|o| o.state == OrderState::PendingPayment && o.payment_due_at <= self.now);
            if let Some(order) = overdue {
                return Err((
                    "liveness",
                    format!("order {} unpaid past its due time after everything settled", order.id),
                ));
            }
            if let Some((intent, attempt)) = shard.state.intents_needing_provider().find(|(_, a)| a.is_some()) {
                return Err((
                    "liveness",
                    format!(
                        "intent {}: attempt {attempt:?} still in flight after everything settled",
                        intent.id
                    ),
                ));
            }
        }
        Ok(())
    }

    /// A new request from a buyer or a merchant, sent to its shop's shard.
    async fn new_request(&mut self) -> Result<(), Broken> {
        let roll = self.rng.random_range(0..100);
        let picked = match roll {
            0..=39 => Some(self.clients.checkout(&mut self.rng)),
            40..=49 => self.clients.tap(&mut self.rng, &self.sales),
            50..=59 => Some(self.clients.count(&mut self.rng)),
            60..=71 => self.clients.cancel(&mut self.rng, &self.known),
            72..=79 => self.refund_something().await?,
            _ => self.pay_something().await?,
        };
        if let Some((ask, shop)) = picked {
            let places_an_order = ask.placement().is_some();
            let number = self.clients.send(ask, shop);
            if places_an_order && self.rng.random_ratio(1, 2) {
                self.clients.requests.get_mut(&number).expect("just sent").keyed = true;
            }
            self.enqueue(number);
        }
        Ok(())
    }

    /// A buyer opens the payment of an order it was told it placed, read as `GET` reads it.
    async fn pay_something(&mut self) -> Result<Option<(Ask, ShopId)>, Broken> {
        let order = self.some_known_order().await?;
        Ok(order.map(|order| self.clients.open_intent(&order)))
    }

    /// One of the orders buyers were told they placed, read as `GET /v1/orders/{id}` reads it.
    async fn some_known_order(&mut self) -> Result<Option<miaodan_domain::orders::Order>, Broken> {
        let ids: Vec<OrderId> = self.known.keys().copied().collect();
        if ids.is_empty() {
            return Ok(None);
        }
        let id = ids[self.rng.random_range(0..ids.len())];
        self.store.order(id).await.map_err(store_broke)
    }

    /// A merchant gives back part of a paid order, the intent read as the server's flow reads it.
    async fn refund_something(&mut self) -> Result<Option<(Ask, ShopId)>, Broken> {
        let Some(order) = self.some_known_order().await? else {
            return Ok(None);
        };
        let Some(intent) = order.paid_by else {
            return Ok(None);
        };
        let intent = self.store.payment_intent(intent).await.map_err(store_broke)?;
        Ok(intent.map(|intent| self.clients.refund(&mut self.rng, &order, &intent)))
    }

    /// A caller sends its request again. A keyed checkout (or tap) whose answer is stored gets
    /// that answer replayed, as `idempotency::run` replays it, and never reaches a shard.
    async fn retry(&mut self, number: u64) -> Result<(), Broken> {
        let request = &self.clients.requests[&number];
        let stored = match (request.ask.placement(), request.keyed) {
            (Some(placement), true) => self.answers.get(&placement.reference.0).copied(),
            _ => None,
        };
        let Some(id) = stored else {
            self.enqueue(number);
            return Ok(());
        };
        let record = self.store.idempotency_record(id).await.map_err(store_broke)?;
        let Some(record) = record else {
            return Err((
                "acknowledged ⇒ durable",
                format!("the stored answer {id} of request {number} is gone"),
            ));
        };
        let committed = self.auditor.answers.get(&record.key).map(|(_, body)| body);
        if committed != Some(&record.body) {
            return Err((
                "idempotency",
                format!("request {number} replayed {:?}, committed {committed:?}", record.body),
            ));
        }
        let request = self.clients.requests.get_mut(&number).expect("a request sent");
        if let Some(first) = &request.first_answer
            && *first != record.body
        {
            return Err((
                "idempotency",
                format!(
                    "request {number} was answered {first:?}, then replayed {:?}",
                    record.body
                ),
            ));
        }
        request.sends += 1;
        request.answered = true;
        self.history.update(format!("{number} replayed {}\n", record.body));
        self.report.saw(Sometimes::RetryReplayedItsAnswer);
        Ok(())
    }

    fn enqueue(&mut self, number: u64) {
        let shop = self.clients.requests[&number].shop;
        let command = self.clients.command_for(number);
        self.shards[world::shard_of(shop)].inbox.push_back((number, command));
    }

    /// One batch of shard `index`: expire what is due, decide up to [`BATCH_MAX`] commands,
    /// commit (or fail to), answer.
    async fn process(&mut self, index: usize) -> Result<(), Broken> {
        let take = self.rng.random_range(1..=BATCH_MAX).min(self.shards[index].inbox.len());
        let now = self.now;
        let mut effects = Vec::new();
        let mut answers = Vec::new();
        let shard = &mut self.shards[index];
        if let Outcome::Expired { orders } = shard.state.apply(Command::ExpireDue, now, &mut effects) {
            let before_crash = |id: &OrderId| {
                let created = self.auditor.orders.get(id).map(|o| o.created_at);
                matches!((created, self.last_crash), (Some(created), Some(crash)) if created < crash)
            };
            if orders.iter().any(before_crash) {
                self.report.saw(Sometimes::OrderExpiredAfterACrash);
            }
        }
        let mut begun = Vec::new();
        for (number, command) in shard.inbox.drain(..take) {
            let begins = matches!(command, Command::Payments(payments::Command::BeginAttempt(_)));
            let outcome = shard.state.apply(command, now, &mut effects);
            // As in the server's sequencer: a begun attempt writes nothing and is answered at
            // once, before the batch commits, so the provider call does not wait.
            if begins && matches!(outcome, Outcome::AttemptBegun { .. }) {
                begun.push((number, outcome));
            } else {
                answers.push((number, outcome));
            }
        }
        self.report.commands += take as u64;
        for (number, outcome) in begun {
            self.hear(number, Some(outcome))?;
        }
        let records: Vec<IdempotencyRecord> = answers
            .iter()
            .filter_map(|(number, outcome)| self.answer_record(*number, outcome, now))
            .collect();
        if effects.is_empty() && records.is_empty() {
            return answers.into_iter().try_for_each(|(n, o)| self.hear(n, Some(o)));
        }
        let fault = self.plan.pick(&mut self.rng);
        self.commit(index, (effects, records), answers, fault).await
    }

    /// The stored answer of a keyed checkout or tap, rendered in its batch as the server's
    /// recorder renders it: a placement or a refusal (a retry that found its order stores
    /// nothing).
    fn answer_record(&mut self, number: u64, outcome: &Outcome, now: Timestamp) -> Option<IdempotencyRecord> {
        let request = &self.clients.requests[&number];
        let (Some(placement), true) = (request.ask.placement(), request.keyed) else {
            return None;
        };
        let (status, body) = match outcome {
            Outcome::OrderPlaced(order) => (201, format!("placed {}", order.id)),
            Outcome::Rejected(rejection) => (409, format!("refused {}", rejection.code())),
            _ => return None,
        };
        self.next_answer_id += 1;
        Some(IdempotencyRecord {
            id: self.next_answer_id,
            scope: format!("buyer:{}", placement.buyer),
            key: placement.reference.0.clone(),
            request_sha256: "sim".into(),
            status,
            body,
            created_at: now,
        })
    }

    async fn commit(
        &mut self,
        index: usize,
        (effects, records): (Vec<Effect>, Vec<IdempotencyRecord>),
        answers: Vec<(u64, Outcome)>,
        fault: Option<Fault>,
    ) -> Result<(), Broken> {
        let now = self.now;
        let writer = self.shards[index]
            .writer
            .as_mut()
            .expect("a shard has its writer between batches");
        let Some(fault) = fault else {
            writer
                .commit_batch(&effects, &records, now)
                .await
                .map_err(store_broke)?;
            self.committed(&effects, &records)?;
            for (number, outcome) in answers {
                self.hear(number, Some(outcome))?;
            }
            self.pay_out_refunds(index);
            return self.audit_shard(index).await;
        };
        self.report.faults.add(fault);
        if fault == Fault::PlantedLostWrite {
            for (number, outcome) in answers {
                self.hear(number, Some(outcome))?;
            }
            return self.audit_shard(index).await;
        }
        match fault {
            Fault::CommitRefused => {
                let refused = writer
                    .commit_batch_with(&effects, &records, vec![refused_statement()], now)
                    .await;
                if refused.is_ok() {
                    return Err(("store", "a transaction with a failing statement committed".into()));
                }
            }
            Fault::OutcomeLost | Fault::CrashAfterCommit => {
                writer
                    .commit_batch(&effects, &records, now)
                    .await
                    .map_err(store_broke)?;
                self.committed(&effects, &records)?;
            }
            Fault::CrashMidCommit | Fault::PlantedLostWrite => {}
        }
        if !fault.committed() && effects.iter().any(|e| matches!(e, Effect::StockMoved(_))) {
            self.report.saw(Sometimes::StockCountLost);
        }
        if !answers.is_empty() && !fault.crashes() {
            self.report.saw(Sometimes::CommitFailedWithAnswersWaiting);
        }
        for (number, _) in answers {
            self.hear(number, None)?;
        }
        if fault.crashes() {
            self.crash().await
        } else {
            self.recover(index).await
        }
    }

    /// A committed batch: the auditor takes it in, and the stored answers join the index the
    /// server keeps in memory.
    fn committed(&mut self, effects: &[Effect], records: &[IdempotencyRecord]) -> Result<(), Broken> {
        self.report.commits += 1;
        for record in records {
            self.answers.insert(record.key.clone(), record.id);
            if self
                .auditor
                .answers
                .insert(record.key.clone(), (record.id, record.body.clone()))
                .is_some()
            {
                return Err(("one effect per key", format!("key {} stored two answers", record.key)));
            }
        }
        let returned_by_itself = |e: &Effect| {
            matches!(e, Effect::RefundSaved { refund, .. }
                if refund.reason == payments::RefundReason::OrderClosed && refund.status == payments::RefundStatus::Pending)
        };
        if effects.iter().any(returned_by_itself) {
            self.report.saw(Sometimes::CaptureAfterExpiry);
        }
        self.auditor.absorb(effects)?;
        for noticed in std::mem::take(&mut self.auditor.noticed) {
            self.report.saw(noticed);
        }
        Ok(())
    }

    /// What a shard must hold after a commit: the auditor's counts, and what the tables give
    /// back when read as a restarting shard reads them.
    async fn audit_shard(&mut self, index: usize) -> Result<(), Broken> {
        self.shards[index].commits += 1;
        let shard = &self.shards[index];
        self.auditor.check_stock(&shard.state, &shard.rows)?;
        self.auditor.check_payments()?;
        self.auditor.check_sales()?;
        // Reading a whole shard back costs more than the rest of a step: every fourth commit of
        // the shard is enough to pin a divergence to a few batches (a rebuild reads the tables
        // anyway, and its stock is checked against the auditor's).
        if !shard.commits.is_multiple_of(4) {
            return Ok(());
        }
        let rebuilt = load(&self.store, shard.index, self.now).await.map_err(store_broke)?;
        let shard = &self.shards[index];
        Auditor::check_rebuilt(&shard.state, &rebuilt, &shard.rows)?;
        self.auditor.check_rebuilt_sales(&shard.state, &rebuilt)?;
        for id in self.auditor.intents.keys() {
            // Memory keeps a settled intent a while, a rebuild loads those changed lately: where
            // both hold one, it must be the same.
            if let (Some(read), Some(held)) = (rebuilt.payment_intent(*id), shard.state.payment_intent(*id))
                && read != held
            {
                return Err((
                    "memory equals tables",
                    format!("intent {id}: tables {read:?}, memory {held:?}"),
                ));
            }
        }
        Ok(())
    }

    /// After a failed commit, as the sequencer does: a new connection, memory rebuilt from the
    /// tables.
    async fn recover(&mut self, index: usize) -> Result<(), Broken> {
        let shard = &mut self.shards[index];
        shard.writer = None;
        shard.writer = Some(self.store.writer(shard.index).await.map_err(store_broke)?);
        shard.state = load(&self.store, shard.index, self.now).await.map_err(store_broke)?;
        self.auditor.check_stock(&shard.state, &shard.rows)?;
        self.resolve_attempts_in_flight(index);
        self.pay_out_refunds(index);
        Ok(())
    }

    /// The payment worker's other duty: refunds the shard holds open are given back at the
    /// provider (once per reference) and what it answers is recorded.
    fn pay_out_refunds(&mut self, index: usize) {
        let owing: Vec<payments::PaymentIntent> = self.shards[index]
            .state
            .intents_needing_provider()
            .filter(|(intent, _)| {
                intent
                    .refunds
                    .iter()
                    .any(|r| r.status == payments::RefundStatus::Pending)
            })
            .map(|(intent, _)| intent.clone())
            .collect();
        for intent in owing {
            for refund in intent
                .refunds
                .iter()
                .filter(|r| r.status == payments::RefundStatus::Pending)
            {
                if !self.refunding.insert(refund.id) {
                    continue;
                }
                let outcome = self.provider.refund(&intent, refund);
                let ask = Ask::RecordRefund(payments::RecordRefund {
                    intent: intent.id,
                    refund: refund.id,
                    outcome,
                    snapshot: None,
                });
                let number = self.clients.send(ask, intent.home_shop);
                self.enqueue(number);
            }
        }
    }

    /// What the server's payment worker does after a rebuild: an attempt that may have reached
    /// the provider is looked up there by its reference, and what the provider says (the
    /// charge, or that it has none) is recorded.
    fn resolve_attempts_in_flight(&mut self, index: usize) {
        let in_flight: Vec<(payments::PaymentIntent, i64)> = self.shards[index]
            .state
            .intents_needing_provider()
            .filter_map(|(intent, attempt)| attempt.map(|attempt| (intent.clone(), attempt)))
            .collect();
        for (intent, attempt) in in_flight {
            let outcome = self.provider.look_up(&intent, attempt);
            if !matches!(outcome, payments::ChargeOutcome::NotFound) {
                self.report.saw(Sometimes::AttemptFoundAfterRestart);
            }
            self.record_charge(&intent, attempt, outcome);
        }
    }

    /// The process dies: every queued request goes unanswered, and a new process opens the
    /// store and loads every shard from the tables.
    async fn crash(&mut self) -> Result<(), Broken> {
        self.report.restarts += 1;
        self.last_crash = Some(self.now);
        let pending = self.auditor.intents.values().flat_map(|intent| &intent.refunds);
        self.refunds_at_crash.extend(
            pending
                .filter(|r| r.status == payments::RefundStatus::Pending)
                .map(|r| r.id),
        );
        let queued: Vec<u64> = self
            .shards
            .iter_mut()
            .flat_map(|shard| shard.inbox.drain(..).map(|(number, _)| number))
            .collect();
        for number in queued {
            self.hear(number, None)?;
        }
        for shard in &mut self.shards {
            shard.writer = None;
        }
        self.store = Store::open_to_serve(self.database.url(), Durability::PowerLossSafe)
            .await
            .map_err(store_broke)?;
        // As the server starts: the index of stored answers is rebuilt from the tables, and ids
        // continue after the largest.
        let stored = self.store.idempotency_keys().await.map_err(store_broke)?;
        self.answers = stored.into_iter().map(|(id, _, key)| (key, id)).collect();
        let committed: BTreeMap<String, i64> = self
            .auditor
            .answers
            .iter()
            .map(|(key, (id, _))| (key.clone(), *id))
            .collect();
        if self.answers != committed {
            return Err((
                "acknowledged ⇒ durable",
                "the stored answers' keys differ from those committed".into(),
            ));
        }
        self.next_answer_id = self.store.id_maxima().await.map_err(store_broke)?.idempotency_response;
        for index in 0..self.shards.len() {
            self.recover(index).await?;
        }
        Ok(())
    }

    /// What request `number`'s caller hears: an answer, or nothing (an error, a timeout).
    fn hear(&mut self, number: u64, outcome: Option<Outcome>) -> Result<(), Broken> {
        self.history.update(format!("{number} {outcome:?}\n"));
        let request = self.clients.requests.get_mut(&number).expect("a request sent");
        let Some(outcome) = outcome else {
            request.unanswered += 1;
            if let Ask::RecordRefund(record) = &request.ask {
                // The worker's next pass asks the provider again (the same reference).
                self.refunding.remove(&record.refund);
            }
            // A confirmation whose recorded charge went unanswered: the buyer heard an error
            // (or nothing) and confirms again.
            if let (Some((intent, _, shop)), Ask::Notify(_)) = (self.confirming.remove(&number), &request.ask) {
                let ask = Ask::BeginAttempt(begin(intent));
                let number = self.clients.send(ask, shop);
                self.enqueue(number);
            }
            return Ok(());
        };
        let retried = request.unanswered > 0;
        // Any answer ends a confirmation's wait for its own recording (a refusal included).
        self.confirming.remove(&number);
        if matches!(outcome, Outcome::Rejected(Rejection::PaymentIntentNotLoaded))
            && request.ask.intent_snapshot().is_some()
        {
            // The server's flow reads the stored intent and asks again with it.
            self.reask.push(number);
            return Ok(());
        }
        request.answered = true;
        let (ask, shop, order_ids) = (request.ask.clone(), request.shop, request.order_ids.clone());
        match (ask, outcome) {
            (ask @ (Ask::Place(_) | Ask::Tap(_)), outcome) => {
                let placement = ask.placement().expect("a checkout or a tap places an order");
                self.placement_heard(number, &placement, &order_ids, outcome, retried)
            }
            (Ask::Cancel(cancel), Outcome::OrderCancelled(_)) => {
                if retried {
                    self.report.saw(Sometimes::CancelRetried);
                }
                self.known.remove(&cancel.order);
                Ok(())
            }
            (Ask::OpenIntent(_), Outcome::PaymentIntent(intent)) => {
                if matches!(intent.status, IntentStatus::RequiresConfirmation | IntentStatus::Failed) {
                    self.begin_attempt(&intent, shop);
                }
                Ok(())
            }
            (Ask::BeginAttempt(_), Outcome::AttemptBegun { intent, attempt }) => {
                self.confirm(&intent, attempt, shop);
                Ok(())
            }
            (Ask::RecordRefund(record), outcome) => {
                self.refunding.remove(&record.refund);
                if matches!(outcome, Outcome::PaymentIntent(_)) && self.refunds_at_crash.remove(&record.refund) {
                    self.report.saw(Sometimes::RefundCrossedACrash);
                }
                Ok(())
            }
            (Ask::Notify(charge), Outcome::PaymentIntent(intent)) => {
                let attempt = (charge.intent, charge.attempt);
                if self.webhooks.contains(&number) {
                    if self.confirming.values().any(|(i, a, _)| (*i, *a) == attempt) {
                        self.report.saw(Sometimes::WebhookBeforeAnswer);
                    }
                    if !self.notified.insert((charge.intent.get(), charge.attempt)) {
                        self.report.saw(Sometimes::NotificationRepeated);
                    }
                }
                if intent.status == IntentStatus::Failed && self.now < intent.pay_by && self.rng.random_ratio(1, 2) {
                    self.begin_attempt(&intent, shop);
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn begin_attempt(&mut self, intent: &payments::PaymentIntent, shop: ShopId) {
        let number = self.clients.send(Ask::BeginAttempt(begin(intent.id)), shop);
        self.enqueue(number);
    }

    /// The confirmation goes on as the server's does: the provider charges the attempt, and the
    /// provider's answer is recorded before the buyer hears back.
    fn confirm(&mut self, intent: &payments::PaymentIntent, attempt: i64, shop: ShopId) {
        let outcome = self
            .provider
            .charge(&mut self.rng, intent, attempt, self.now, self.step);
        if self.rng.random_ratio(1, 4)
            && let Some(early) = self.provider.overtaking(intent.id, attempt)
        {
            self.send_webhook(early);
        }
        let number = self.record_charge(intent, attempt, outcome);
        self.confirming.insert(number, (intent.id, attempt, shop));
    }

    /// Sends what the provider said of `attempt` to the intent's shard, as the server records
    /// a provider's answer; returns the request's number.
    fn record_charge(
        &mut self,
        intent: &payments::PaymentIntent,
        attempt: i64,
        outcome: payments::ChargeOutcome,
    ) -> u64 {
        self.notify((intent.id, intent.home_shop, intent.orders.len()), attempt, outcome)
    }

    /// Sends `outcome` of `attempt` to the shard of the intent's home `shop`, with a refund id
    /// for each of its `orders` (for a capture that finds an order closed); returns the request.
    fn notify(
        &mut self,
        (intent, shop, orders): (payments::PaymentIntentId, ShopId, usize),
        attempt: i64,
        outcome: payments::ChargeOutcome,
    ) -> u64 {
        let refunds = clients::refund_ids(&mut self.clients.ids, orders);
        let ask = Ask::Notify(payments::RecordCharge {
            intent,
            attempt,
            outcome,
            refunds,
            snapshot: None,
        });
        let number = self.clients.send(ask, shop);
        self.enqueue(number);
        number
    }

    /// A checkout's answer: acknowledged orders must be committed, refused ones must not.
    fn placement_heard(
        &mut self,
        number: u64,
        place: &Placement,
        sent_as: &[OrderId],
        outcome: Outcome,
        retried: bool,
    ) -> Result<(), Broken> {
        let heard = match &outcome {
            Outcome::OrderPlaced(order) => format!("placed {}", order.id),
            Outcome::OrderAlreadyPlaced(id) => format!("placed {id}"),
            Outcome::Rejected(rejection) => format!("refused {}", rejection.code()),
            _ => String::new(),
        };
        let request = self.clients.requests.get_mut(&number).expect("a request sent");
        request.first_answer.get_or_insert(heard);
        let placed = match outcome {
            Outcome::OrderPlaced(order) => {
                if retried {
                    self.report.saw(Sometimes::RetryPlacedWhatAFailedCommitLost);
                }
                order.id
            }
            Outcome::OrderAlreadyPlaced(id) => {
                if retried {
                    self.report.saw(Sometimes::RetryFoundItsOrder);
                }
                if !sent_as.contains(&id) {
                    return Err((
                        "one effect per key",
                        format!("request {number} was answered another request's order {id}"),
                    ));
                }
                id
            }
            Outcome::Rejected(rejection) => {
                match rejection.code() {
                    "insufficient_stock" => self.report.saw(Sometimes::RefusedForStock),
                    "sold_out" => self.report.saw(Sometimes::TapSoldOut),
                    _ => {}
                }
                if let Some(id) = sent_as.iter().find(|id| self.auditor.orders.contains_key(id)) {
                    return Err((
                        "nothing refused exists",
                        format!("request {number} was refused, yet order {id} is committed"),
                    ));
                }
                return Ok(());
            }
            other => return Err(("answers", format!("a checkout was answered {other:?}"))),
        };
        match self.auditor.orders.get(&placed) {
            Some(order) if order.buyer == place.buyer && order.lines.len() == place.lines => {}
            other => {
                return Err((
                    "acknowledged ⇒ durable",
                    format!("request {number} was told order {placed}, committed as {other:?}"),
                ));
            }
        }
        self.clients.placed.insert(placed, number);
        self.known.insert(placed, (place.shop, place.buyer));
        Ok(())
    }

    /// The end of the run: every order the auditor holds is in the tables as it holds it; each
    /// checkout placed at most one order; no buyer was charged twice; and the hashes.
    async fn finish(&mut self) -> Result<(), Broken> {
        self.settle().await?;
        let mut state = Sha256::new();
        let stored = self.store.idempotency_keys().await.map_err(store_broke)?;
        if stored.len() != self.auditor.answers.len() {
            return Err((
                "one effect per key",
                format!(
                    "{} stored answers, {} committed",
                    stored.len(),
                    self.auditor.answers.len()
                ),
            ));
        }
        for (key, (id, body)) in &self.auditor.answers {
            let record = self.store.idempotency_record(*id).await.map_err(store_broke)?;
            if record.as_ref().map(|r| (&r.key, &r.body)) != Some((key, body)) {
                return Err((
                    "acknowledged ⇒ durable",
                    format!("stored answer {id}: tables {record:?}, committed {body:?}"),
                ));
            }
            state.update(format!("{key} {id} {body}\n"));
        }
        for (id, expected) in &self.auditor.intents {
            let stored = self.store.payment_intent(*id).await.map_err(store_broke)?;
            if stored.as_ref() != Some(expected) {
                return Err((
                    "acknowledged ⇒ durable",
                    format!("intent {id}: tables {stored:?}, committed {expected:?}"),
                ));
            }
        }
        for (id, expected) in &self.auditor.orders {
            let stored = self.store.order(*id).await.map_err(store_broke)?;
            if stored.as_ref() != Some(expected) {
                return Err((
                    "acknowledged ⇒ durable",
                    format!("order {id}: tables {stored:?}, committed {expected:?}"),
                ));
            }
            state.update(format!("{expected:?}\n"));
        }
        for (number, request) in &self.clients.requests {
            let kept = request
                .order_ids
                .iter()
                .filter(|id| self.auditor.orders.contains_key(id))
                .count();
            if kept > 1 {
                return Err(("one effect per key", format!("request {number} placed {kept} orders")));
            }
        }
        for (intent, refunds) in &self.provider.refunded {
            let given: i64 = refunds.values().sum();
            let captured = self.provider.captured_amount.get(intent).copied().unwrap_or(0);
            if given > captured {
                return Err((
                    "payments",
                    format!("intent {intent}: {given} refunded of {captured} captured"),
                ));
            }
        }
        for (intent, references) in &self.provider.captured {
            if references.len() > 1 {
                return Err((
                    "payments",
                    format!(
                        "intent {intent} was captured {} times: {references:?}",
                        references.len()
                    ),
                ));
            }
        }
        let shards: Vec<(u32, Vec<(SkuId, WarehouseId)>)> =
            self.shards.iter().map(|s| (s.index, s.rows.clone())).collect();
        for (index, rows) in shards {
            let rebuilt = load(&self.store, index, self.now).await.map_err(store_broke)?;
            self.auditor.check_stock(&rebuilt, &rows)?;
            let own = |id: &FlashSaleId| world::shard_of(world::shop(id.get())) == index as usize;
            for (id, expected) in self.auditor.sales.iter().filter(|(id, _)| own(id)) {
                let read = rebuilt.flash_sale(*id).map(|book| &book.sale);
                if read != Some(expected) {
                    return Err((
                        "acknowledged ⇒ durable",
                        format!("sale {id}: tables {read:?}, committed {expected:?}"),
                    ));
                }
            }
            for &(sku, warehouse) in &rows {
                state.update(format!(
                    "{sku} {warehouse} {:?}\n",
                    rebuilt.inventory().level(sku, warehouse)
                ));
            }
        }
        for intent in self.auditor.intents.values() {
            state.update(format!("{intent:?}\n"));
        }
        for sale in self.auditor.sales.values() {
            state.update(format!("{sale:?}\n"));
        }
        self.report.state_hash = hex::encode(state.finalize());
        self.report.history_hash = hex::encode(self.history.clone().finalize());
        Ok(())
    }
}

fn begin(intent: payments::PaymentIntentId) -> payments::BeginPaymentAttempt {
    payments::BeginPaymentAttempt {
        intent,
        one_tap: false,
        snapshot: None,
        screening: None,
    }
}

/// Where a seed's tables live: a SQLite file in a directory of its own, or a database of its
/// own on a PostgreSQL server; either is removed when the seed is done.
enum Database {
    Sqlite { _dir: tempfile::TempDir, url: String },
    Postgres(ThrowawayDatabase),
}

impl Database {
    async fn fresh(backend: &Backend, seed: u64) -> Result<Database, Box<dyn std::error::Error>> {
        match backend {
            Backend::Sqlite => {
                // In memory where the machine has a tmpfs: the store keeps its durability
                // settings, but a simulated crash never loses the page cache, so the fsyncs it
                // asks for would cost most of the run and test nothing.
                let memory = std::path::Path::new("/dev/shm");
                let mut builder = tempfile::Builder::new();
                builder.prefix("miaodan-sim-");
                let dir = if memory.is_dir() {
                    builder.tempdir_in(memory)
                } else {
                    builder.tempdir()
                }?;
                let url = dir.path().join("sim.db").to_string_lossy().into_owned();
                Ok(Database::Sqlite { _dir: dir, url })
            }
            Backend::Postgres { admin_url } => {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.subsec_nanos());
                let name = format!("miaodan_sim_{}_{seed}_{nanos}", std::process::id());
                Ok(Database::Postgres(ThrowawayDatabase::create(admin_url, &name).await?))
            }
        }
    }

    fn url(&self) -> &str {
        match self {
            Database::Sqlite { url, .. } => url,
            Database::Postgres(database) => database.url(),
        }
    }
}

/// Shard `index` as the server's sequencer loads it at start and after a failed commit.
async fn load(store: &Store, index: u32, now: Timestamp) -> Result<ShardState, StoreError> {
    let snapshot = store.load_shard(index, SHARDS, ShardHorizons::at(now)).await?;
    Ok(ShardState::from_snapshot(snapshot))
}

/// A statement the database refuses, so that the batch's transaction really rolls back.
fn refused_statement() -> Statement {
    Statement::new("INSERT INTO sim_refused_commit (nothing) VALUES (1)", Vec::new())
}

fn store_broke(error: StoreError) -> Broken {
    ("store", error.to_string())
}

fn setup_failed(seed: u64, replay: &str, error: impl std::fmt::Display) -> Violation {
    Violation {
        seed,
        step: Some(0),
        invariant: "setup",
        detail: error.to_string(),
        replay: replay.to_string(),
    }
}
