//! The evaluation set checked against the platform's rules, without the assistant: every
//! scripted action is carried out by hand through the same flows the assistant uses, on its
//! turn, and the conversations are scored as the bench scores them. Each must be resolved: a
//! script whose expected final state the after-sales rules would not give (a cancellation the
//! rules pass to the merchant, a return they refuse) fails here, naming the conversation.

use super::conversations::{self, Conversation, ExpectedAction, ExpectedKind};
use super::world::{BuyerWorld, Seeded, World};
use super::{Answerer, CONVERSATIONS_JSON, WORLD_JSON, converse_as, open};
use crate::bench::env::Env;
use crate::bench::report::histogram;
use miaodan_assistant::understand::{Intent, Lang};
use miaodan_domain::after_sales::request::RequestLine;
use miaodan_domain::after_sales::{Reason, RequestKind};
use miaodan_domain::geo::Adcode;
use miaodan_domain::ids::ConversationId;
use miaodan_domain::orders::{Address, CancelReason};
use miaodan_domain::shard::{CancelOrder, Canceller};
use miaodan_server::flows::after_sales::{self, Ask};
use miaodan_server::flows::assistant::{ActionKind, ActionTaken, Exchange};
use std::collections::BTreeSet;

/// Why the buyer asks, as the scripts say it: a stalled parcel never arrived, damaged goods
/// arrived damaged, the rest is a wrong size or no reason at all.
fn reason_of(kind: RequestKind, state: super::world::Named) -> Reason {
    use super::world::Named;
    match (kind, state) {
        (RequestKind::CancelBeforeShipment, _) => Reason::ChangedMind,
        (RequestKind::ChangeAddress, _) => Reason::WrongAddress,
        (_, Named::Stalled) => Reason::NeverArrived,
        (_, Named::Damaged) => Reason::ArrivedDamaged,
        (RequestKind::Exchange, _) => Reason::WrongSize,
        _ => Reason::NoReason,
    }
}

async fn carry_out(
    env: &Env,
    world: &World,
    seeded: &Seeded,
    copy: &BuyerWorld,
    expected: &ExpectedAction,
) -> ActionTaken {
    let name = expected.order.clone().unwrap_or_default();
    let order = copy.orders.get(&name).copied();
    let done = |kind: ActionKind, refused: Option<String>| ActionTaken {
        kind,
        order,
        request: None,
        refused,
    };
    let (Some(order_id), Some(spec)) = (order, world.order(&name)) else {
        return done(ActionKind::HandOver, None);
    };
    let stored = env.state.store.order(order_id).await.expect("read").expect("seeded");
    match expected.kind {
        ExpectedKind::HandOver => done(ActionKind::HandOver, None),
        ExpectedKind::CancelOrder => {
            let cancel = CancelOrder {
                order: order_id,
                by: Canceller::Buyer(copy.buyer),
                reason: CancelReason::BuyerCancelled,
            };
            let answer = env.state.shards.ask(stored.shop, cancel, None).await.expect("a shard");
            done(ActionKind::CancelOrder, answer.err().map(|r| r.code().to_string()))
        }
        ExpectedKind::OpenRequest(kind) => {
            let sibling = |sku: &str| {
                world
                    .products
                    .iter()
                    .find(|p| p.skus.iter().any(|s| s.name == sku))
                    .and_then(|p| p.skus.iter().find(|s| s.name != sku))
                    .map(|s| seeded.skus[&s.name])
            };
            let ask = Ask {
                buyer: copy.buyer,
                order: order_id,
                kind,
                reason: reason_of(kind, spec.state),
                lines: RequestLine::whole(&stored),
                new_address: (kind == RequestKind::ChangeAddress).then(|| Address {
                    adcode: Adcode::parse("310115000000").expect("Pudong"),
                    detail: crate::bench::text("张江路88号").expect("text"),
                }),
                exchange_for: if kind == RequestKind::Exchange {
                    spec.lines
                        .iter()
                        .filter_map(|(sku, _)| Some((seeded.skus[sku], sibling(sku)?)))
                        .collect()
                } else {
                    vec![]
                },
                client: None,
            };
            let refused = match after_sales::prepare_open(&env.state, ask).await {
                Err(error) => Some(error.to_string()),
                Ok((shop, command)) => match env.state.shards.ask(shop, command, None).await.expect("a shard") {
                    Ok(saved) => {
                        after_sales::refund_if_due(&env.state, &saved).await;
                        after_sales::redirect_if_due(&env.state, &saved).await;
                        None
                    }
                    Err(rejection) => Some(rejection.code().to_string()),
                },
            };
            done(ActionKind::OpenRequest(kind), refused)
        }
    }
}

/// An assistant that understands every turn as the script says and carries out exactly the
/// action it expects, on its turn.
struct Perfect<'a> {
    world: &'a World,
    seeded: &'a Seeded,
    conversation: &'a Conversation,
}

impl Answerer for Perfect<'_> {
    async fn open(&mut self, _env: &Env, _copy: &BuyerWorld) -> Result<(), String> {
        Ok(())
    }

    async fn answer(&mut self, env: &Env, copy: &BuyerWorld, turn: usize, _typed: &str) -> Result<Exchange, String> {
        let turn = &self.conversation.turns[turn];
        let action = match &turn.expect.action {
            Some(expected) => Some(carry_out(env, self.world, self.seeded, copy, expected).await),
            None => None,
        };
        let order = turn
            .expect
            .order
            .as_ref()
            .or(turn.expect.action.as_ref().and_then(|a| a.order.as_ref()))
            .and_then(|name| copy.orders.get(name).copied());
        Ok(Exchange {
            conversation: ConversationId::new(1).expect("positive"),
            reply: String::new(),
            lang: if self.conversation.lang == "zh" {
                Lang::Zh
            } else {
                Lang::En
            },
            intent: turn.expect.intent.unwrap_or(Intent::Unknown),
            confidence_permille: 1_000,
            slots: Default::default(),
            order,
            handed_over: action.as_ref().is_some_and(|a| a.kind == ActionKind::HandOver),
            action,
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_evaluation_set_is_resolved_by_its_own_expected_actions_under_the_rules() {
    let world = World::parse(WORLD_JSON).expect("the built-in world");
    let all = conversations::parse(CONVERSATIONS_JSON, &world).expect("the built-in conversations");
    // Only the conversations that change something need the rules' word.
    let acting: Vec<&Conversation> = all
        .iter()
        .filter(|c| c.turns.iter().any(|t| t.expect.action.is_some()))
        .collect();
    let env = open(&world, 2).await.expect("the platform");
    let seeded = super::world::seed(&env, &world, acting.len()).await.expect("seeded");
    let mut failed = Vec::new();
    let mut latency = histogram();
    for (conversation, copy) in acting.iter().zip(&seeded.copies) {
        let mut perfect = Perfect {
            world: &world,
            seeded: &seeded,
            conversation,
        };
        let score = converse_as(&env, &world, conversation, copy, &mut latency, &mut perfect).await;
        if !score.resolved() {
            failed.push(format!("{}: {:?}", score.name, score.failures));
        }
    }
    assert!(failed.is_empty(), "{failed:#?}");
}

#[test]
fn the_evaluation_set_covers_both_languages_and_every_intent() {
    let world = World::parse(WORLD_JSON).expect("the built-in world");
    let all = conversations::parse(CONVERSATIONS_JSON, &world).expect("the built-in conversations");
    assert!(all.len() >= 100, "{} conversations", all.len());
    let zh = all.iter().filter(|c| c.lang == "zh").count();
    assert!(
        zh * 10 >= all.len() * 4 && zh * 10 <= all.len() * 6,
        "{zh} of {} in Chinese",
        all.len()
    );
    let intents: BTreeSet<&str> = all
        .iter()
        .flat_map(|c| c.turns.iter().filter_map(|t| t.expect.intent))
        .map(|i| i.as_str())
        .collect();
    let missing: Vec<&str> = Intent::ALL
        .iter()
        .map(|i| i.as_str())
        .filter(|i| !intents.contains(i))
        .collect();
    assert!(missing.is_empty(), "intents no turn expects: {missing:?}");
    let states: BTreeSet<&str> = world.orders.iter().map(|o| o.state.as_str()).collect();
    assert_eq!(states.len(), super::world::Named::ALL.len(), "{states:?}");
}

/// The refusals the set scripts ("explained, nothing changes"): what a buyer asks there, carried
/// out by hand, is refused by the rules, so an assistant that tries it changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_refusal_scripts_ask_is_refused_by_the_rules() {
    let world = World::parse(WORLD_JSON).expect("the built-in world");
    let env = open(&world, 1).await.expect("the platform");
    let seeded = super::world::seed(&env, &world, 1).await.expect("seeded");
    let copy = &seeded.copies[0];
    let refused = [
        (
            "a paid parcel on its way is not cancelled",
            RequestKind::CancelBeforeShipment,
            "earbuds_in_transit",
        ),
        (
            "a parcel with a waybill is not cancelled",
            RequestKind::CancelBeforeShipment,
            "pan_dispatched",
        ),
        (
            "a collected parcel's address does not change",
            RequestKind::ChangeAddress,
            "earbuds_in_transit",
        ),
        (
            "goods not yet delivered are not returned",
            RequestKind::ReturnAndRefund,
            "earbuds_in_transit",
        ),
        (
            "no reason after 7 days is not a return",
            RequestKind::ReturnAndRefund,
            "phone_case_delivered_old",
        ),
    ];
    for (why, kind, order) in refused {
        let attempt = ExpectedAction {
            kind: ExpectedKind::OpenRequest(kind),
            order: Some(order.to_string()),
        };
        let taken = carry_out(&env, &world, &seeded, copy, &attempt).await;
        assert!(taken.refused.is_some(), "{why}: {taken:?}");
    }
    let problems = super::world::check_seeded(&env, &world, copy).await.expect("read back");
    assert!(problems.is_empty(), "{problems:?}");
}
