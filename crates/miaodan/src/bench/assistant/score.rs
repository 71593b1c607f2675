#![allow(clippy::float_arithmetic)] // rates and shares of a report, never money or stock

//! Scoring a conversation against its script, turn by turn and at its end, and the report of a
//! run.
//!
//! - **Intent accuracy**: turns whose script names an intent, understood as that intent.
//! - **Slot accuracy**: turns whose script names the order the turn is about, with the
//!   assistant on that order (`Exchange.order`).
//! - **Wrong actions**: an action carried out (not refused) that the script did not expect on
//!   that turn — another kind, request kind or order. A refused attempt changed nothing and is
//!   not one. A hand-over the script did not expect changes no order or money: it fails the
//!   conversation and counts as an unexpected hand-over, not as a wrong action.
//! - **Resolved**: every expected action happened on its turn, no wrong action, no error, the
//!   orders and their after-sales requests end as the script says (read from the store), and the
//!   conversation was handed over exactly when the script says so.

use super::conversations::{Conversation, ExpectedAction, ExpectedKind, Turn, request_kind_name};
use crate::bench::report::Latency;
use miaodan_domain::OrderId;
use miaodan_domain::after_sales::RequestKind;
use miaodan_domain::orders::OrderState;
use miaodan_server::flows::assistant::{ActionKind, ActionTaken, Exchange};
use serde::Serialize;
use std::collections::BTreeMap;

/// One turn as it went, for the report.
#[derive(Clone, Debug, Serialize)]
pub struct TurnRecord {
    pub buyer: String,
    pub reply: String,
    pub intent: String,
    pub order: Option<i64>,
    pub action: Option<String>,
    pub handed_over: bool,
    pub error: Option<String>,
}

/// Why a conversation is not resolved, and on which turn (1-based; 0: opening it; `None`: at
/// its end).
#[derive(Clone, Debug, Serialize)]
pub struct Failure {
    pub turn: Option<usize>,
    pub reason: String,
}

/// What one conversation scored.
#[derive(Debug, Default)]
pub struct ConversationScore {
    pub name: String,
    pub lang: String,
    pub failures: Vec<Failure>,
    /// The script's turns (all of them, heard or not).
    pub turns: u64,
    pub transcript: Vec<TurnRecord>,
    pub handed_over: bool,
    pub intent_turns: u64,
    pub intent_right: u64,
    /// Per expected intent: (turns, right).
    pub by_intent: BTreeMap<String, (u64, u64)>,
    pub slot_turns: u64,
    pub slot_right: u64,
    pub expected_actions: u64,
    pub actions_done: u64,
    pub wrong_actions: u64,
    pub refused_attempts: u64,
    pub unexpected_hand_over: bool,
    pub errors: u64,
}

fn describe(action: &ActionTaken) -> String {
    let kind = match &action.kind {
        ActionKind::CancelOrder => "cancel_order".to_string(),
        ActionKind::OpenRequest(kind) => format!("open_request {}", request_kind_name(*kind)),
        ActionKind::HandOver => "hand_over".to_string(),
    };
    let order = action.order.map(|o| format!(" on #{o}")).unwrap_or_default();
    let refused = action
        .refused
        .as_ref()
        .map(|code| format!(" (refused: {code})"))
        .unwrap_or_default();
    format!("{kind}{order}{refused}")
}

fn describe_expected(expected: &ExpectedAction, orders: &BTreeMap<String, OrderId>) -> String {
    let kind = match expected.kind {
        ExpectedKind::CancelOrder => "cancel_order".to_string(),
        ExpectedKind::OpenRequest(kind) => format!("open_request {}", request_kind_name(kind)),
        ExpectedKind::HandOver => "hand_over".to_string(),
    };
    match &expected.order {
        Some(name) => format!("{kind} on {name} (#{})", orders.get(name).map_or(0, |o| o.get())),
        None => kind,
    }
}

/// Whether `taken` is the action the script expects: the same kind (and request kind), on the
/// same order.
fn is_expected(expected: &ExpectedAction, taken: &ActionTaken, orders: &BTreeMap<String, OrderId>) -> bool {
    let kind = match (expected.kind, &taken.kind) {
        (ExpectedKind::CancelOrder, ActionKind::CancelOrder) | (ExpectedKind::HandOver, ActionKind::HandOver) => true,
        (ExpectedKind::OpenRequest(want), ActionKind::OpenRequest(got)) => want == *got,
        _ => false,
    };
    let order = match &expected.order {
        None => true,
        Some(name) => orders.get(name).is_some_and(|id| taken.order == Some(*id)),
    };
    kind && order
}

impl ConversationScore {
    pub fn new(conversation: &Conversation) -> ConversationScore {
        ConversationScore {
            name: conversation.name.clone(),
            lang: conversation.lang.clone(),
            turns: conversation.turns.len() as u64,
            ..ConversationScore::default()
        }
    }

    pub fn resolved(&self) -> bool {
        self.failures.is_empty()
    }

    pub fn fail(&mut self, turn: Option<usize>, reason: impl Into<String>) {
        self.failures.push(Failure {
            turn,
            reason: reason.into(),
        });
    }

    /// Scores turn `index` (from 0): what the buyer typed, and what the assistant answered (or
    /// the error it gave).
    pub fn turn(
        &mut self,
        index: usize,
        turn: &Turn,
        typed: String,
        heard: Result<&Exchange, String>,
        orders: &BTreeMap<String, OrderId>,
    ) {
        let number = Some(index + 1);
        let exchange = match heard {
            Ok(exchange) => exchange,
            Err(error) => {
                self.errors += 1;
                self.count_expectations(turn, None, orders);
                self.fail(number, format!("error: {error}"));
                self.transcript.push(TurnRecord {
                    buyer: typed,
                    reply: String::new(),
                    intent: String::new(),
                    order: None,
                    action: None,
                    handed_over: false,
                    error: Some(error),
                });
                return;
            }
        };
        self.count_expectations(turn, Some(exchange), orders);
        // A hand-over is one whether the answer reports it as its action or only as its flag.
        let hands_over = exchange.handed_over
            || exchange
                .action
                .as_ref()
                .is_some_and(|a| a.kind == ActionKind::HandOver && a.refused.is_none());
        let implied = (hands_over && exchange.action.is_none() && !self.handed_over).then_some(ActionTaken {
            kind: ActionKind::HandOver,
            order: None,
            request: None,
            refused: None,
        });
        let taken = exchange.action.as_ref().or(implied.as_ref());
        self.score_action(number, turn.expect.action.as_ref(), taken, orders);
        if hands_over && !self.handed_over {
            self.handed_over = true;
            let expected = turn
                .expect
                .action
                .as_ref()
                .is_some_and(|a| a.kind == ExpectedKind::HandOver);
            if !expected {
                self.unexpected_hand_over = true;
                self.fail(number, "handed over to a person");
            }
        }
        self.transcript.push(TurnRecord {
            buyer: typed,
            reply: exchange.reply.clone(),
            intent: exchange.intent.as_str().into(),
            order: exchange.order.map(|o| o.get()),
            action: exchange.action.as_ref().map(describe),
            handed_over: exchange.handed_over,
            error: None,
        });
    }

    /// A turn never heard (the conversation could not be opened): its expectations count, as
    /// missed, so that every run's figures share their denominators.
    pub fn unheard(&mut self, turn: &Turn, orders: &BTreeMap<String, OrderId>) {
        self.count_expectations(turn, None, orders);
        if turn.expect.action.is_some() {
            self.expected_actions += 1;
        }
    }

    /// Intent and slot accuracy of a turn; a turn that failed counts as wrong on both.
    fn count_expectations(&mut self, turn: &Turn, exchange: Option<&Exchange>, orders: &BTreeMap<String, OrderId>) {
        if let Some(intent) = turn.expect.intent {
            let right = exchange.is_some_and(|e| e.intent == intent);
            self.intent_turns += 1;
            self.intent_right += u64::from(right);
            let entry = self.by_intent.entry(intent.as_str().into()).or_default();
            entry.0 += 1;
            entry.1 += u64::from(right);
        }
        if let Some(name) = &turn.expect.order {
            let right = exchange.is_some_and(|e| e.order.is_some() && e.order == orders.get(name).copied());
            self.slot_turns += 1;
            self.slot_right += u64::from(right);
        }
    }

    fn score_action(
        &mut self,
        turn: Option<usize>,
        expected: Option<&ExpectedAction>,
        taken: Option<&ActionTaken>,
        orders: &BTreeMap<String, OrderId>,
    ) {
        if expected.is_some() {
            self.expected_actions += 1;
        }
        let want = || expected.map_or("none".to_string(), |e| describe_expected(e, orders));
        match (expected, taken) {
            (Some(e), Some(t)) if t.refused.is_none() && is_expected(e, t, orders) => self.actions_done += 1,
            (_, Some(t)) if t.refused.is_some() => {
                self.refused_attempts += 1;
                if expected.is_some() {
                    self.fail(turn, format!("expected {}, the attempt was {}", want(), describe(t)));
                }
            }
            (_, Some(t)) if t.kind == ActionKind::HandOver => {
                // Scored as a hand-over (see the module's header).
                if expected.is_some() {
                    self.fail(turn, format!("expected {}, got hand_over", want()));
                }
            }
            (_, Some(t)) => {
                self.wrong_actions += 1;
                self.fail(turn, format!("WRONG ACTION {} (expected {})", describe(t), want()));
            }
            (Some(_), None) => self.fail(turn, format!("expected {}, nothing was done", want())),
            (None, None) => {}
        }
    }

    /// Scores the conversation's end: the orders' states and the requests it opened, read from
    /// the store, against the script (orders it does not name keep the world's state).
    pub fn end(&mut self, conversation: &Conversation, outcome: &Outcome) {
        for (name, (seeded, now)) in &outcome.states {
            let expected = conversation.final_state.orders.get(name).copied().unwrap_or(*seeded);
            if *now != expected {
                self.fail(
                    None,
                    format!("order {name} is {}, expected {}", now.as_str(), expected.as_str()),
                );
            }
        }
        let mut opened = outcome.opened.clone();
        opened.sort_by_key(|(name, kind)| (name.clone(), request_kind_name(*kind)));
        if opened != conversation.final_state.requests {
            let list = |requests: &[(String, RequestKind)]| {
                let names: Vec<String> = requests
                    .iter()
                    .map(|(o, k)| format!("{} on {o}", request_kind_name(*k)))
                    .collect();
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            };
            self.fail(
                None,
                format!(
                    "requests opened: {}; expected: {}",
                    list(&opened),
                    list(&conversation.final_state.requests)
                ),
            );
        }
        if conversation.final_state.handed_over && !self.handed_over {
            self.fail(None, "never handed over, as the script expects");
        }
    }
}

/// How a conversation left the buyer's orders: each order's (seeded, final) state by name, and
/// the after-sales requests opened during it, by order name and kind.
#[derive(Debug, Default)]
pub struct Outcome {
    pub states: BTreeMap<String, (OrderState, OrderState)>,
    pub opened: Vec<(String, RequestKind)>,
}

// ---- the report ------------------------------------------------------------------------------

#[derive(Debug, Default, Serialize)]
pub struct LangFigures {
    pub conversations: u64,
    pub resolved: u64,
}

#[derive(Debug, Serialize)]
pub struct IntentFigures {
    pub turns: u64,
    pub right: u64,
}

#[derive(Debug, Serialize)]
pub struct FailedConversation {
    pub name: String,
    pub lang: String,
    /// The first thing that went wrong, then the rest.
    pub failures: Vec<Failure>,
    pub transcript: Vec<TurnRecord>,
}

/// What `bench assistant` reports: the figures the issue asks for, and the failed conversations
/// with the turn that went wrong.
#[derive(Debug, Serialize)]
pub struct AssistantReport {
    pub scenario: &'static str,
    pub world: String,
    pub conversations_file: String,
    pub conversations: u64,
    pub turns: u64,
    pub resolved: u64,
    pub resolution_rate: f64,
    /// Resolved and never handed over, as the issue counts it: the conversations whose script
    /// asks for a person are resolved by handing over, but not by the assistant alone.
    pub resolved_without_hand_over: u64,
    pub intent_turns: u64,
    pub intent_accuracy: f64,
    pub slot_turns: u64,
    pub slot_accuracy: f64,
    pub expected_actions: u64,
    pub actions_done: u64,
    pub wrong_actions: u64,
    pub refused_attempts: u64,
    pub handed_over: u64,
    pub hand_over_rate: f64,
    pub unexpected_hand_overs: u64,
    pub errors: u64,
    /// The wall time of each `hear` call, in µs.
    pub reply_latency_us: Latency,
    pub by_lang: BTreeMap<String, LangFigures>,
    pub by_intent: BTreeMap<String, IntentFigures>,
    pub failed: Vec<FailedConversation>,
    pub seeding_s: f64,
    pub audit_passed: bool,
    pub audit: Vec<String>,
    pub machine: String,
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
}

impl AssistantReport {
    /// Adds up the conversations' scores; `sources` are the world's and the conversations'
    /// files (or `built-in`).
    pub fn of(
        scores: Vec<ConversationScore>,
        latency: &hdrhistogram::Histogram<u64>,
        sources: (String, String),
        checks: Vec<(bool, String)>,
        seeding_s: f64,
    ) -> AssistantReport {
        let sum = |f: &dyn Fn(&ConversationScore) -> u64| scores.iter().map(f).sum::<u64>();
        let conversations = scores.len() as u64;
        let resolved = sum(&|s| u64::from(s.resolved()));
        let (intent_turns, intent_right) = (sum(&|s| s.intent_turns), sum(&|s| s.intent_right));
        let (slot_turns, slot_right) = (sum(&|s| s.slot_turns), sum(&|s| s.slot_right));
        let handed_over = sum(&|s| u64::from(s.handed_over));
        let mut by_lang: BTreeMap<String, LangFigures> = BTreeMap::new();
        let mut by_intent: BTreeMap<String, IntentFigures> = BTreeMap::new();
        for score in &scores {
            let lang = by_lang.entry(score.lang.clone()).or_default();
            lang.conversations += 1;
            lang.resolved += u64::from(score.resolved());
            for (intent, (turns, right)) in &score.by_intent {
                let entry = by_intent
                    .entry(intent.clone())
                    .or_insert(IntentFigures { turns: 0, right: 0 });
                entry.turns += turns;
                entry.right += right;
            }
        }
        AssistantReport {
            scenario: "assistant",
            world: sources.0,
            conversations_file: sources.1,
            conversations,
            turns: sum(&|s| s.turns),
            resolved,
            resolution_rate: share(resolved, conversations),
            resolved_without_hand_over: sum(&|s| u64::from(s.resolved() && !s.handed_over)),
            intent_turns,
            intent_accuracy: share(intent_right, intent_turns),
            slot_turns,
            slot_accuracy: share(slot_right, slot_turns),
            expected_actions: sum(&|s| s.expected_actions),
            actions_done: sum(&|s| s.actions_done),
            wrong_actions: sum(&|s| s.wrong_actions),
            refused_attempts: sum(&|s| s.refused_attempts),
            handed_over,
            hand_over_rate: share(handed_over, conversations),
            unexpected_hand_overs: sum(&|s| u64::from(s.unexpected_hand_over)),
            errors: sum(&|s| s.errors),
            reply_latency_us: Latency::of(latency),
            by_lang,
            by_intent,
            failed: failed(scores),
            seeding_s,
            audit_passed: checks.iter().all(|(ok, _)| *ok),
            audit: checks
                .into_iter()
                .map(|(ok, what)| format!("{} {what}", if ok { "ok  " } else { "FAIL" }))
                .collect(),
            machine: crate::bench::report::machine(),
        }
    }

    pub fn print(&self, transcripts: bool) {
        let percent = |x: f64| format!("{:.1} %", x * 100.0);
        let l = &self.reply_latency_us;
        let rows = [
            (
                "scenario",
                format!("assistant: {} conversations, {} turns", self.conversations, self.turns),
            ),
            (
                "world / conversations",
                format!("{} / {}", self.world, self.conversations_file),
            ),
            (
                "resolved",
                format!(
                    "{} ({} of {}; {} without a hand-over)",
                    percent(self.resolution_rate),
                    self.resolved,
                    self.conversations,
                    self.resolved_without_hand_over
                ),
            ),
            (
                "intent accuracy",
                format!("{} of {} turns", percent(self.intent_accuracy), self.intent_turns),
            ),
            (
                "slot accuracy",
                format!("{} of {} turns", percent(self.slot_accuracy), self.slot_turns),
            ),
            (
                "actions",
                format!(
                    "{} of {} expected done; {} refused attempts",
                    self.actions_done, self.expected_actions, self.refused_attempts
                ),
            ),
            ("WRONG ACTIONS", self.wrong_actions.to_string()),
            (
                "handed over",
                format!(
                    "{} ({}), {} unexpected",
                    percent(self.hand_over_rate),
                    self.handed_over,
                    self.unexpected_hand_overs
                ),
            ),
            ("errors", self.errors.to_string()),
            (
                "reply µs",
                format!("p50 {}  p99 {}  p99.9 {}  max {}", l.p50, l.p99, l.p999, l.max),
            ),
            ("by language", self.by_lang_row()),
            ("seeding", format!("{:.1} s", self.seeding_s)),
            (
                "audit of the database",
                if self.audit_passed { "PASSED" } else { "FAILED" }.to_string(),
            ),
        ];
        crate::bench::report::print_rows(&rows, &self.audit);
        self.print_intents();
        self.print_failed(transcripts);
    }

    fn by_lang_row(&self) -> String {
        let langs: Vec<String> = self
            .by_lang
            .iter()
            .map(|(lang, f)| format!("{lang} {} of {} resolved", f.resolved, f.conversations))
            .collect();
        langs.join(", ")
    }

    fn print_intents(&self) {
        println!("\n  intent accuracy by expected intent:");
        for (intent, f) in &self.by_intent {
            println!(
                "    {intent:<15} {:>4} of {:<4} ({:.0} %)",
                f.right,
                f.turns,
                share(f.right, f.turns) * 100.0
            );
        }
    }

    fn print_failed(&self, transcripts: bool) {
        if self.failed.is_empty() {
            return;
        }
        println!("\n  failed conversations ({}):", self.failed.len());
        for failed in &self.failed {
            let first = &failed.failures[0];
            let turn = turn_name(first.turn);
            let said = first
                .turn
                .and_then(|t| failed.transcript.get(t.checked_sub(1)?))
                .map(|r| format!(" — buyer: {:?}", r.buyer))
                .unwrap_or_default();
            println!("    {} [{}] {turn}: {}{said}", failed.name, failed.lang, first.reason);
            if transcripts {
                for (i, record) in failed.transcript.iter().enumerate() {
                    println!("        {}. buyer: {}", i + 1, record.buyer);
                    println!(
                        "           assistant [{} order {:?} action {:?}{}]: {}",
                        record.intent,
                        record.order,
                        record.action,
                        if record.handed_over { " handed over" } else { "" },
                        record.error.as_deref().unwrap_or(&record.reply)
                    );
                }
                for more in &failed.failures[1..] {
                    println!("        also {}: {}", turn_name(more.turn), more.reason);
                }
            }
        }
    }
}

/// `turn 3`; `start` for turn 0 (opening the conversation); `end` for its final state.
fn turn_name(turn: Option<usize>) -> String {
    match turn {
        Some(0) => "start".into(),
        Some(t) => format!("turn {t}"),
        None => "end".into(),
    }
}

fn failed(scores: Vec<ConversationScore>) -> Vec<FailedConversation> {
    scores
        .into_iter()
        .filter(|s| !s.resolved())
        .map(|s| FailedConversation {
            name: s.name,
            lang: s.lang,
            failures: s.failures,
            transcript: s.transcript,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::assistant::conversations::{Expect, Final};
    use miaodan_assistant::understand::{Intent, Lang};
    use miaodan_domain::ids::ConversationId;

    fn id(n: i64) -> OrderId {
        OrderId::new(n).expect("positive")
    }

    fn orders() -> BTreeMap<String, OrderId> {
        BTreeMap::from([("mug".to_string(), id(1)), ("tee".to_string(), id(2))])
    }

    fn taken(kind: ActionKind, order: i64, refused: Option<&str>) -> Option<ActionTaken> {
        Some(ActionTaken {
            kind,
            order: Some(id(order)),
            request: None,
            refused: refused.map(str::to_string),
        })
    }

    fn exchange(action: Option<ActionTaken>, handed_over: bool) -> Exchange {
        Exchange {
            conversation: ConversationId::new(1).expect("positive"),
            reply: "好的".into(),
            lang: Lang::Zh,
            intent: Intent::Affirm,
            confidence_permille: 900,
            slots: Default::default(),
            order: Some(id(1)),
            action,
            handed_over,
        }
    }

    fn turn(action: Option<ExpectedKind>) -> Turn {
        Turn {
            buyer: "确认".into(),
            expect: Expect {
                intent: Some(Intent::Affirm),
                order: Some("mug".into()),
                action: action.map(|kind| ExpectedAction {
                    kind,
                    order: (kind != ExpectedKind::HandOver).then(|| "mug".to_string()),
                }),
            },
        }
    }

    /// (what the script expects, what the assistant did, handed over) → (wrong actions,
    /// refused attempts, actions done, resolved after the turn).
    #[test]
    fn only_an_unexpected_action_carried_out_is_a_wrong_action() {
        let cancel = Some(ExpectedKind::CancelOrder);
        let cases = [
            (
                "the expected action",
                cancel,
                taken(ActionKind::CancelOrder, 1, None),
                false,
                (0, 0, 1, true),
            ),
            ("nothing expected, nothing done", None, None, false, (0, 0, 0, true)),
            (
                "an action nobody asked for",
                None,
                taken(ActionKind::CancelOrder, 1, None),
                false,
                (1, 0, 0, false),
            ),
            (
                "the right kind on another order",
                cancel,
                taken(ActionKind::CancelOrder, 2, None),
                false,
                (1, 0, 0, false),
            ),
            (
                "another request kind",
                Some(ExpectedKind::OpenRequest(RequestKind::ReturnAndRefund)),
                taken(ActionKind::OpenRequest(RequestKind::RefundOnly), 1, None),
                false,
                (1, 0, 0, false),
            ),
            (
                "a refused attempt changed nothing",
                None,
                taken(
                    ActionKind::OpenRequest(RequestKind::RefundOnly),
                    1,
                    Some("refused_by_rules"),
                ),
                false,
                (0, 1, 0, true),
            ),
            (
                "the expected action refused",
                cancel,
                taken(ActionKind::CancelOrder, 1, Some("invalid_transition")),
                false,
                (0, 1, 0, false),
            ),
            ("the expected action not done", cancel, None, false, (0, 0, 0, false)),
            (
                "an unexpected hand-over",
                None,
                taken(ActionKind::HandOver, 1, None),
                true,
                (0, 0, 0, false),
            ),
            (
                "the expected hand-over",
                Some(ExpectedKind::HandOver),
                taken(ActionKind::HandOver, 1, None),
                true,
                (0, 0, 1, true),
            ),
            (
                "a hand-over told only by its flag",
                Some(ExpectedKind::HandOver),
                None,
                true,
                (0, 0, 1, true),
            ),
            (
                "an unexpected hand-over told only by its flag",
                None,
                None,
                true,
                (0, 0, 0, false),
            ),
        ];
        let conversation = Conversation {
            name: "c".into(),
            lang: "zh".into(),
            turns: vec![],
            final_state: Final::default(),
        };
        for (name, expected, done, handed_over, (wrong, refused, actions, resolved)) in cases {
            let mut score = ConversationScore::new(&conversation);
            let answer = exchange(done, handed_over);
            score.turn(0, &turn(expected), "确认".into(), Ok(&answer), &orders());
            assert_eq!(
                (
                    score.wrong_actions,
                    score.refused_attempts,
                    score.actions_done,
                    score.resolved()
                ),
                (wrong, refused, actions, resolved),
                "{name}: {:?}",
                score.failures
            );
            assert_eq!((score.intent_right, score.slot_right), (1, 1), "{name}");
        }
    }

    #[test]
    fn an_error_fails_the_turn_and_counts_its_expectations_as_missed() {
        let conversation = Conversation {
            name: "c".into(),
            lang: "en".into(),
            turns: vec![],
            final_state: Final::default(),
        };
        let mut score = ConversationScore::new(&conversation);
        score.turn(
            0,
            &turn(None),
            "yes".into(),
            Err("no such conversation".into()),
            &orders(),
        );
        assert_eq!((score.errors, score.intent_turns, score.intent_right), (1, 1, 0));
        assert_eq!(score.failures[0].turn, Some(1));
        assert!(score.failures[0].reason.contains("no such conversation"));
    }

    #[test]
    fn the_end_compares_every_orders_state_and_the_requests_opened() {
        let conversation = Conversation {
            name: "c".into(),
            lang: "zh".into(),
            turns: vec![],
            final_state: Final {
                orders: BTreeMap::from([("mug".to_string(), OrderState::Cancelled)]),
                requests: vec![],
                handed_over: false,
            },
        };
        let mut score = ConversationScore::new(&conversation);
        let outcome = Outcome {
            states: BTreeMap::from([
                ("mug".to_string(), (OrderState::PendingPayment, OrderState::Cancelled)),
                ("tee".to_string(), (OrderState::Delivered, OrderState::Delivered)),
            ]),
            opened: vec![],
        };
        score.end(&conversation, &outcome);
        assert!(score.resolved(), "{:?}", score.failures);
        let changed = Outcome {
            states: BTreeMap::from([("tee".to_string(), (OrderState::Delivered, OrderState::Cancelled))]),
            opened: vec![("tee".to_string(), RequestKind::ReturnAndRefund)],
        };
        let mut score = ConversationScore::new(&conversation);
        score.end(&conversation, &changed);
        let reasons: Vec<&str> = score.failures.iter().map(|f| f.reason.as_str()).collect();
        assert_eq!(
            reasons,
            [
                "order tee is cancelled, expected delivered",
                "requests opened: return_and_refund on tee; expected: none"
            ]
        );
    }
}
