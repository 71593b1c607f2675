#![allow(clippy::float_arithmetic)] // durations of a report, never money or stock

//! `miaodan bench assistant`: the customer-service assistant (智能客服) scored on scripted
//! conversations. A world — shops, products, a buyer's orders in named states at a given
//! Shanghai time — is seeded on an in-process platform (a temporary SQLite) through the real
//! flows, one copy per conversation; then each conversation's buyer turns are replayed through
//! `flows::assistant::hear`, in-process, and scored: resolution rate, intent and slot accuracy,
//! wrong actions (must be 0), hand-over rate, reply latency (see `assistant/score.rs`).
//!
//! The evaluation set in `crates/miaodan/assistant/` is the default (built in, so the bench
//! runs from anywhere); `--world FILE --conversations FILE` score another set the same way.
//! Both formats are documented in `crates/miaodan/assistant/FORMAT.md`. The evaluation set is
//! written apart from the assistant's training corpus, as buyers talk.

mod conversations;
#[cfg(test)]
mod oracle;
mod score;
mod world;

use super::env::Env;
use super::report::histogram;
use super::{BackendArg, Common, Mode, progress};
use conversations::Conversation;
use hdrhistogram::Histogram;
use miaodan_domain::ids::AfterSalesId;
use miaodan_server::PaymentsConfig;
use miaodan_server::carriers::CarriersConfig;
use miaodan_server::clock::Clock;
use miaodan_server::flows::assistant;
use miaodan_store::AfterSalesFilter;
use miaodan_store::records::Keyset;
use score::{AssistantReport, ConversationScore, Outcome};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Instant;
use world::{BuyerWorld, World};

const WORLD_JSON: &str = include_str!("../../assistant/world.json");
const CONVERSATIONS_JSON: &str = include_str!("../../assistant/conversations.json");

#[derive(clap::Args, Clone)]
pub struct AssistantArgs {
    /// A world in the documented JSON format instead of the built-in one
    /// (crates/miaodan/assistant/FORMAT.md).
    #[arg(long)]
    world: Option<PathBuf>,
    /// Conversations in the documented JSON format instead of the built-in evaluation set.
    #[arg(long)]
    conversations: Option<PathBuf>,
    /// Only the conversations whose name contains this.
    #[arg(long)]
    only: Option<String>,
    /// Print every turn of each failed conversation: what the buyer typed, what the assistant
    /// understood, did and answered.
    #[arg(long)]
    transcripts: bool,
    #[arg(long, default_value_t = 2)]
    shards: u32,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// The file's text, or the built-in one; and what to call it in the report.
fn read(path: Option<&PathBuf>, built_in: &'static str) -> anyhow::Result<(String, String)> {
    match path {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            Ok((text, path.display().to_string()))
        }
        None => Ok((built_in.to_string(), "built-in".to_string())),
    }
}

pub async fn run(args: &AssistantArgs) -> anyhow::Result<()> {
    let (world_json, world_source) = read(args.world.as_ref(), WORLD_JSON)?;
    let (conversations_json, conversations_source) = read(args.conversations.as_ref(), CONVERSATIONS_JSON)?;
    let world = World::parse(&world_json)?;
    let mut conversations = conversations::parse(&conversations_json, &world)?;
    if let Some(only) = &args.only {
        conversations.retain(|c| c.name.contains(only.as_str()));
        anyhow::ensure!(!conversations.is_empty(), "no conversation's name contains {only:?}");
    }
    let report = evaluate(
        &world,
        &conversations,
        args.shards,
        (world_source, conversations_source),
    )
    .await?;
    report.print(args.transcripts);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
        println!("\n  report written to {}", path.display());
    }
    anyhow::ensure!(report.audit_passed, "the audit of the database failed");
    Ok(())
}

/// Seeds the world once per conversation, replays the conversations and scores them.
async fn evaluate(
    world: &World,
    conversations: &[Conversation],
    shards: u32,
    sources: (String, String),
) -> anyhow::Result<AssistantReport> {
    let env = open(world, shards).await?;
    let started = Instant::now();
    let copies = world::seed(&env, world, conversations.len()).await?.copies;
    let seeding_s = started.elapsed().as_secs_f64();
    let mut checks = vec![seeded_check(&env, world, &copies).await?];
    let mut latency = histogram();
    let bar = progress(conversations.len() as u64, "conversations");
    let mut scores = Vec::new();
    for (conversation, copy) in conversations.iter().zip(&copies) {
        scores.push(converse(&env, world, conversation, copy, &mut latency).await);
        bar.inc(1);
    }
    bar.finish_and_clear();
    checks.extend(store_checks(&env).await?);
    Ok(AssistantReport::of(scores, &latency, sources, checks, seeding_s))
}

/// The platform, its clock at the world's start: shards keep their time monotonic, so they must
/// never see a later time before the world's story is told.
async fn open(world: &World, shards: u32) -> anyhow::Result<Env> {
    let common = Common {
        mode: Mode::Engine,
        backend: BackendArg::Sqlite,
        database: None,
        concurrency: 1,
        shards,
        bundle: 1,
        seed: 0,
        json: None,
    };
    let start = world.start();
    Env::open_with(&common, world::payment_timeout_seconds(world), |config| {
        config.clock = Clock::starting_at(start);
        // Parcels move only when the world says so: a stalled one must stay still.
        config.carriers = CarriersConfig::manual();
        // The provider's notifications are signed by the wall clock, which the moved clock is
        // not: every one would be refused as stale. Payments and refunds are answered in the
        // call; the notifications only repeat it.
        config.payments = PaymentsConfig::InProcessSimpay {
            seed: 7,
            faults: simpay::Faults::default(),
            webhooks: false,
        };
    })
    .await
}

/// Every copy's orders in their named states, read back from the store.
async fn seeded_check(env: &Env, world: &World, copies: &[BuyerWorld]) -> anyhow::Result<(bool, String)> {
    let mut problems = Vec::new();
    for copy in copies {
        problems.extend(world::check_seeded(env, world, copy).await?);
    }
    let first = problems.first().map(|p| format!(" (first: {p})")).unwrap_or_default();
    Ok((
        problems.is_empty(),
        format!(
            "seeded orders not in their named state: {} of {}{first}",
            problems.len(),
            copies.len() * world.orders.len()
        ),
    ))
}

/// Stock conserved and no money refunded beyond what was paid, whatever the assistant did.
async fn store_checks(env: &Env) -> anyhow::Result<Vec<(bool, String)>> {
    let stock = env.state.store.audit_stock().await?;
    let money = env.state.store.audit_after_sales().await?;
    Ok(vec![
        (
            stock.negative_rows == 0 && stock.sold == stock.units_in_paid_orders,
            format!(
                "stock rows with a negative count: {}; sold {} = units of paid, shipped and delivered orders {}",
                stock.negative_rows, stock.sold, stock.units_in_paid_orders
            ),
        ),
        (
            money.orders_refunded_above_total == 0
                && money.intents_refunded_above_captured == 0
                && money.requests_refunded_twice == 0,
            format!(
                "orders refunded above their total: {}, payments refunded above their capture: {}, requests refunded twice: {}",
                money.orders_refunded_above_total, money.intents_refunded_above_captured, money.requests_refunded_twice
            ),
        ),
    ])
}

/// The buyer's after-sales requests: (id, order, kind).
async fn requests_of(
    env: &Env,
    copy: &BuyerWorld,
) -> anyhow::Result<
    Vec<(
        AfterSalesId,
        miaodan_domain::OrderId,
        miaodan_domain::after_sales::RequestKind,
    )>,
> {
    let filter = AfterSalesFilter {
        buyer: Some(copy.buyer),
        ..AfterSalesFilter::default()
    };
    let page = Keyset {
        after: None,
        limit: world::REQUESTS_PER_BUYER_MAX,
    };
    let requests = env.state.store.after_sales_requests(&filter, page).await?;
    Ok(requests
        .into_iter()
        .map(|r| (r.id, r.request.order, r.request.kind))
        .collect())
}

/// Who answers the buyer: the platform's assistant (and, for the evaluation set's own check of
/// its scripts in `assistant/oracle.rs`, one that carries out exactly what the script expects).
trait Answerer {
    async fn open(&mut self, env: &Env, copy: &BuyerWorld) -> Result<(), String>;
    async fn answer(
        &mut self,
        env: &Env,
        copy: &BuyerWorld,
        turn: usize,
        typed: &str,
    ) -> Result<assistant::Exchange, String>;
}

/// The platform's assistant, through `flows::assistant` in-process.
#[derive(Default)]
struct Platform {
    conversation: Option<miaodan_domain::ids::ConversationId>,
}

impl Answerer for Platform {
    async fn open(&mut self, env: &Env, copy: &BuyerWorld) -> Result<(), String> {
        let (id, _greeting) = assistant::start(&env.state, copy.buyer)
            .await
            .map_err(|e| e.to_string())?;
        self.conversation = Some(id);
        Ok(())
    }

    async fn answer(
        &mut self,
        env: &Env,
        copy: &BuyerWorld,
        _turn: usize,
        typed: &str,
    ) -> Result<assistant::Exchange, String> {
        let id = self.conversation.ok_or("no conversation")?;
        assistant::hear(&env.state, copy.buyer, id, typed, None)
            .await
            .map_err(|e| e.to_string())
    }
}

/// Replays one conversation on its buyer's copy of the world and scores it. Nothing here
/// fails the run: an error of the assistant or the store fails the conversation.
async fn converse(
    env: &Env,
    world: &World,
    conversation: &Conversation,
    copy: &BuyerWorld,
    latency: &mut Histogram<u64>,
) -> ConversationScore {
    converse_as(env, world, conversation, copy, latency, &mut Platform::default()).await
}

async fn converse_as(
    env: &Env,
    world: &World,
    conversation: &Conversation,
    copy: &BuyerWorld,
    latency: &mut Histogram<u64>,
    answerer: &mut impl Answerer,
) -> ConversationScore {
    let mut score = ConversationScore::new(conversation);
    let before = match requests_of(env, copy).await {
        Ok(requests) => requests.into_iter().map(|(id, _, _)| id).collect::<BTreeSet<_>>(),
        Err(error) => {
            score.fail(None, format!("reading the requests before: {error}"));
            return score;
        }
    };
    if let Err(error) = answerer.open(env, copy).await {
        score.fail(Some(0), format!("could not open the conversation: {error}"));
        for turn in &conversation.turns {
            score.unheard(turn, &copy.orders);
        }
        return score;
    }
    for (i, turn) in conversation.turns.iter().enumerate() {
        let typed = conversations::render(&turn.buyer, &copy.orders);
        let sent = Instant::now();
        let heard = answerer.answer(env, copy, i, &typed).await;
        let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX).max(1);
        let _ = latency.record(micros.min(latency.high()));
        score.turn(i, turn, typed, heard.as_ref().map_err(Clone::clone), &copy.orders);
    }
    match outcome(env, world, copy, &before).await {
        Ok(outcome) => score.end(conversation, &outcome),
        Err(error) => score.fail(None, format!("reading the outcome: {error}")),
    }
    score
}

/// The orders' states (seeded, now) and the requests opened since `before`.
async fn outcome(
    env: &Env,
    world: &World,
    copy: &BuyerWorld,
    before: &BTreeSet<AfterSalesId>,
) -> anyhow::Result<Outcome> {
    let name_of: BTreeMap<_, _> = copy.orders.iter().map(|(name, id)| (*id, name.clone())).collect();
    let mut states = BTreeMap::new();
    for (name, id) in &copy.orders {
        let order = env
            .state
            .store
            .order(*id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("order {id} is gone"))?;
        let seeded = world.order(name).map_or(order.state, |o| o.state.order_state());
        states.insert(name.clone(), (seeded, order.state));
    }
    let opened = requests_of(env, copy)
        .await?
        .into_iter()
        .filter(|(id, _, _)| !before.contains(id))
        .map(|(_, order, kind)| {
            (
                name_of.get(&order).cloned().unwrap_or_else(|| format!("#{order}")),
                kind,
            )
        })
        .collect();
    Ok(Outcome { states, opened })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One shop, a T-shirt in two colours, and an order in every named state.
    const TINY_WORLD: &str = r#"{
      "now": "2026-12-05T15:00",
      "shops": [{"name": "tees", "title": "棉朵朵服饰", "category": "apparel"}],
      "products": [{"name": "tee", "shop": "tees", "title": "纯棉T恤", "skus": [
        {"name": "tee_white_xl", "title": "白色 XL", "price_fen": 7900},
        {"name": "tee_black_xl", "title": "黑色 XL", "price_fen": 7900}]}],
      "warehouses": [{"name": "hz", "shop": "tees", "title": "杭州仓", "adcode": "330110000000",
        "stock": {"tee_white_xl": 20, "tee_black_xl": 20}}],
      "buyer": {"name": "小林", "address": {"adcode": "310101000000", "detail": "南京东路 100 号"}},
      "orders": [
        {"name": "unpaid", "shop": "tees", "lines": [{"sku": "tee_white_xl", "quantity": 1}], "placed_ago": "2h", "state": "unpaid"},
        {"name": "paid", "shop": "tees", "lines": [{"sku": "tee_white_xl", "quantity": 1}], "placed_ago": "1d", "state": "paid"},
        {"name": "dispatched", "shop": "tees", "lines": [{"sku": "tee_black_xl", "quantity": 1}], "placed_ago": "1d", "state": "dispatched", "shipped_ago": "3h"},
        {"name": "in_transit", "shop": "tees", "lines": [{"sku": "tee_white_xl", "quantity": 2}], "placed_ago": "3d", "state": "in_transit",
         "tracking": [{"state": "picked_up", "ago": "2d20h", "location": "杭州"}, {"state": "in_transit", "ago": "1d", "location": "苏州"}]},
        {"name": "stalled", "shop": "tees", "lines": [{"sku": "tee_white_xl", "quantity": 1}], "placed_ago": "9d", "state": "stalled", "stalled_days": 5},
        {"name": "delivered", "shop": "tees", "lines": [{"sku": "tee_white_xl", "quantity": 1}], "placed_ago": "6d", "state": "delivered", "delivered_ago": "3d"},
        {"name": "damaged", "shop": "tees", "lines": [{"sku": "tee_black_xl", "quantity": 1}], "placed_ago": "4d", "state": "damaged", "delivered_ago": "1d"},
        {"name": "cancelled", "shop": "tees", "lines": [{"sku": "tee_white_xl", "quantity": 1}], "placed_ago": "4d", "state": "cancelled"},
        {"name": "refunded", "shop": "tees", "lines": [{"sku": "tee_white_xl", "quantity": 1}], "placed_ago": "10d", "state": "refunded", "delivered_ago": "8d"}
      ]
    }"#;

    const THREE_CONVERSATIONS: &str = r#"[
      {"name": "track", "lang": "zh", "turns": [{"buyer": "订单{in_transit}到哪了", "expect": {"intent": "track", "order": "in_transit"}}]},
      {"name": "cancel", "lang": "en", "turns": [
        {"buyer": "cancel order {unpaid} pls", "expect": {"intent": "cancel", "order": "unpaid"}},
        {"buyer": "yes", "expect": {"intent": "affirm", "action": {"kind": "cancel_order", "order": "unpaid"}}}],
       "final": {"orders": {"unpaid": "cancelled"}}},
      {"name": "human", "lang": "zh", "turns": [{"buyer": "转人工", "expect": {"intent": "human", "action": {"kind": "hand_over"}}}],
       "final": {"handed_over": true}}
    ]"#;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_world_is_seeded_in_every_named_state_for_each_buyer() {
        let world = World::parse(TINY_WORLD).expect("the tiny world");
        let env = open(&world, 1).await.expect("the platform");
        let copies = world::seed(&env, &world, 3).await.expect("seeded").copies;
        for copy in &copies {
            assert_eq!(copy.orders.len(), world.orders.len());
            let problems = world::check_seeded(&env, &world, copy).await.expect("read back");
            assert!(problems.is_empty(), "{problems:#?}");
        }
        let ids: BTreeSet<_> = copies.iter().flat_map(|c| c.orders.values()).collect();
        assert_eq!(ids.len(), 3 * world.orders.len(), "each buyer has orders of its own");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_bench_runs_files_and_writes_a_report_of_each_conversation() {
        let dir = tempfile::tempdir().expect("a directory");
        let file = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).expect("written");
            path
        };
        let args = AssistantArgs {
            world: Some(file("world.json", TINY_WORLD)),
            conversations: Some(file("conversations.json", THREE_CONVERSATIONS)),
            only: None,
            transcripts: true,
            shards: 1,
            json: Some(dir.path().join("report.json")),
        };
        run(&args).await.expect("the run and its audit");
        let report = std::fs::read(dir.path().join("report.json")).expect("the report");
        let report: serde_json::Value = serde_json::from_slice(&report).expect("json");
        assert_eq!(report["scenario"], "assistant");
        assert_eq!(
            (report["conversations"].as_u64(), report["turns"].as_u64()),
            (Some(3), Some(4))
        );
        assert_eq!(
            (report["intent_turns"].as_u64(), report["slot_turns"].as_u64()),
            (Some(4), Some(2))
        );
        assert_eq!(report["expected_actions"], 2);
        assert_eq!(report["wrong_actions"], 0);
        assert_eq!(report["audit_passed"], true, "{report}");
        for figure in ["resolution_rate", "intent_accuracy", "slot_accuracy", "hand_over_rate"] {
            assert!(report[figure].is_number(), "{figure}: {report}");
        }
        assert!(report["reply_latency_us"]["p99"].is_number(), "{report}");
        assert_eq!(report["by_lang"]["zh"]["conversations"], 2);
        let failed = report["failed"].as_array().expect("a list");
        assert_eq!(failed.len() as u64 + report["resolved"].as_u64().expect("a count"), 3);
        for conversation in failed {
            assert!(conversation["failures"][0]["reason"].is_string(), "{conversation}");
        }
    }
}
