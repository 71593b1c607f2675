//! State-machine property test of payments across two shards: random checkouts (one shop or
//! two), attempts, provider answers (captures with the same or another charge id, captures of
//! a wrong amount, authorizations, voids, declines, unknown outcomes, not-found lookups) for
//! the current, a later or an earlier attempt, settlements relayed to the other shard, refunds
//! of random amounts and their answers, buyer cancellations, clock ticks with `ExpireDue`, and
//! restarts from what the effects made durable.
//!
//! A model shell drives the shards the way the real one does: a command about an intent the
//! shard no longer holds is sent again with the intent as stored. After every step an auditor
//! checks TESTING.md's payment invariants (item 5) and stock conservation (item 1):
//! - captured ≤ authorized ≤ amount; Σ refunds that did not fail ≤ captured, and per order ≤
//!   its share;
//! - an order is paid exactly when its intent is captured and its share settled `paid`, and
//!   `paid_by` names that intent; no order is paid by anything else;
//! - an intent is captured at most once, by the first charge the provider reported;
//! - each provider answer, settlement or refund outcome applied twice writes nothing the
//!   second time;
//! - available + reserved + sold is constant per stock row, and sold = units of paid orders;
//! - what a shard holds in memory is what its effects made durable.

use crate::common;

use common::*;
use miaodan_domain::orders::{CancelReason, OrderState};
use miaodan_domain::payments::{
    ChargeOutcome, DeclineCode, EXPIRY_GRACE_MS, IntentStatus, PaymentIntent, PaymentIntentId, PaymentRefusal,
    RefundId, RefundOutcome, RefundReason, RefundStatus, Settlement,
};
use miaodan_domain::shard::{
    BeginPaymentAttempt, CancelOrder, PayOrder, RecordCharge, RecordRefund, RequestRefund, SettleRemoteOrder,
};
use miaodan_domain::shard::{Canceller, Command, Effect, IntentOrderRequest, OpenPaymentIntent, Outcome, Rejection};
use miaodan_domain::{Fen, OrderId};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use std::cell::RefCell;
use std::collections::BTreeSet;

/// Shard `i` owns shop `i + 1`, which sells one SKU from one warehouse: `(sku, warehouse, price)`.
const CATALOG: [(i64, i64, i64); 2] = [(1001, 11, 300), (2001, 21, 500)];
const STOCK: i64 = 30;
const BUYERS: i64 = 2;
const OPS_MAX: usize = 40;

#[derive(Clone, Debug)]
enum Answer {
    /// Captured under provider charge `charge` (0 or 1: the same or a different charge).
    Captured {
        charge: u8,
    },
    /// Captured one fen more than the intent's amount.
    CapturedWrongAmount,
    Authorized {
        charge: u8,
    },
    /// Voided: the charge the intent points at (`own`) or another one.
    Voided {
        own: bool,
    },
    Declined(DeclineCode),
    Unknown,
    NotFound,
}

/// Which attempt an answer is about, relative to the intent as stored.
#[derive(Clone, Copy, Debug)]
enum Which {
    /// `attempts + 1`: the attempt begun last (or, after a restart, possibly in flight).
    Next,
    /// `attempts`: the latest attempt with a recorded outcome.
    Latest,
    /// `attempts - 1`: a stale one.
    Earlier,
}

#[derive(Clone, Debug)]
enum Op {
    Checkout {
        home: usize,
        both_shops: bool,
        buyer: i64,
        units: (i64, i64),
        timeout_seconds: i64,
    },
    Begin {
        pick: usize,
    },
    Answer {
        pick: usize,
        which: Which,
        answer: Answer,
    },
    /// The shell pays the intent's pending orders in their shard and reports back.
    Relay {
        pick: usize,
    },
    Refund {
        pick: usize,
        order: usize,
        amount: i64,
    },
    RefundAnswer {
        pick: usize,
        refund: usize,
        outcome: u8,
    },
    Cancel {
        pick: usize,
        order: usize,
    },
    Tick {
        seconds: i64,
    },
    Restart {
        shard: usize,
    },
}

fn answer() -> impl Strategy<Value = Answer> {
    let code = prop::sample::select(DeclineCode::ALL.to_vec());
    prop_oneof![
        4 => (0u8..2).prop_map(|charge| Answer::Captured { charge }),
        1 => Just(Answer::CapturedWrongAmount),
        2 => (0u8..2).prop_map(|charge| Answer::Authorized { charge }),
        2 => any::<bool>().prop_map(|own| Answer::Voided { own }),
        3 => code.prop_map(Answer::Declined),
        2 => Just(Answer::Unknown),
        2 => Just(Answer::NotFound),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let which = prop_oneof![3 => Just(Which::Next), 2 => Just(Which::Latest), 1 => Just(Which::Earlier)];
    prop_oneof![
        3 => (0..2usize, any::<bool>(), 1..=BUYERS, (1..=3i64, 1..=3i64), prop::sample::select(vec![60i64, 120, 600]))
            .prop_map(|(home, both_shops, buyer, units, timeout_seconds)| Op::Checkout {
                home,
                both_shops,
                buyer,
                units,
                timeout_seconds,
            }),
        3 => any::<usize>().prop_map(|pick| Op::Begin { pick }),
        6 => (any::<usize>(), which, answer()).prop_map(|(pick, which, answer)| Op::Answer { pick, which, answer }),
        2 => any::<usize>().prop_map(|pick| Op::Relay { pick }),
        2 => (any::<usize>(), 0..2usize, 0..=1_600i64).prop_map(|(pick, order, amount)| Op::Refund {
            pick,
            order,
            amount,
        }),
        2 => (any::<usize>(), any::<usize>(), 0u8..3).prop_map(|(pick, refund, outcome)| Op::RefundAnswer {
            pick,
            refund,
            outcome,
        }),
        1 => (any::<usize>(), 0..2usize).prop_map(|(pick, order)| Op::Cancel { pick, order }),
        2 => prop::sample::select(vec![1i64, 30, 61, 200, 700]).prop_map(|seconds| Op::Tick { seconds }),
        1 => (0..2usize).prop_map(|shard| Op::Restart { shard }),
    ]
}

/// One order of a tracked intent: where it lives and who placed it.
#[derive(Clone, Debug)]
struct Share {
    order: OrderId,
    shard: usize,
    buyer: i64,
}

#[derive(Clone, Debug)]
struct Tracked {
    id: PaymentIntentId,
    home: usize,
    shares: Vec<Share>,
    /// The provider charge that captured the intent, once one did.
    capture: Option<String>,
}

struct Sim {
    shards: [World; 2],
    intents: Vec<Tracked>,
    next_order: i64,
    next_refund: i64,
    /// The paths the workload took, for the coverage check.
    seen: BTreeSet<String>,
}

impl Sim {
    fn new() -> Sim {
        let mut shards = [World::default(), World::default()];
        for (index, world) in shards.iter_mut().enumerate() {
            let shop = index as i64 + 1;
            let (sku, warehouse, price) = CATALOG[index];
            world
                .shop(shop)
                .warehouse(warehouse, shop)
                .product(100 * shop + 1, shop, &[(sku, price)])
                .stock(shop, sku, warehouse, STOCK);
        }
        Sim {
            shards,
            intents: Vec::new(),
            next_order: 1,
            next_refund: 1,
            seen: BTreeSet::new(),
        }
    }

    fn step(&mut self, op: &Op) {
        match op.clone() {
            Op::Checkout {
                home,
                both_shops,
                buyer,
                units,
                timeout_seconds,
            } => self.checkout(home, both_shops, buyer, units, timeout_seconds),
            Op::Begin { pick } => self.begin(pick),
            Op::Answer { pick, which, answer } => self.answer(pick, which, answer),
            Op::Relay { pick } => self.relay(pick),
            Op::Refund { pick, order, amount } => self.refund(pick, order, amount),
            Op::RefundAnswer { pick, refund, outcome } => self.refund_answer(pick, refund, outcome),
            Op::Cancel { pick, order } => self.cancel(pick, order),
            Op::Tick { seconds } => self.tick(seconds),
            Op::Restart { shard } => {
                self.shards[shard].restart();
                self.saw("restart");
            }
        }
        self.audit();
    }

    fn saw(&mut self, path: &str) {
        self.seen.insert(path.to_string());
    }

    fn picked(&self, pick: usize) -> Option<usize> {
        (!self.intents.is_empty()).then(|| pick % self.intents.len())
    }

    fn fresh_refund(&mut self) -> RefundId {
        self.next_refund += 1;
        refund_id(self.next_refund)
    }

    /// The intent as its home shard's store holds it.
    fn stored(&self, t: usize) -> PaymentIntent {
        let tracked = &self.intents[t];
        self.shards[tracked.home]
            .store
            .payment_intent(tracked.id)
            .expect("every opened intent is stored")
    }

    /// Sends a payment command to the intent's home shard; when the shard no longer holds the
    /// intent, sends it again with the intent as stored, as the shell does. Every intent a
    /// command saves must be consistent and newer than the stored one.
    fn send(&mut self, t: usize, make: impl Fn(Option<Box<PaymentIntent>>) -> Command) -> (Outcome, Vec<Effect>) {
        let Tracked { id, home, .. } = self.intents[t];
        let before = self.stored(t);
        let world = &mut self.shards[home];
        let (mut outcome, mut effects) = world.run(make(None));
        if outcome == Outcome::Rejected(Rejection::PaymentIntentNotLoaded) {
            assert_eq!(effects, vec![], "a refusal writes nothing");
            assert_eq!(
                world.state.payment_intent(id),
                None,
                "refused as not loaded, yet in memory"
            );
            (outcome, effects) = world.run(make(Some(Box::new(before.clone()))));
            self.seen.insert("resent_with_snapshot".into());
            assert_ne!(
                outcome,
                Outcome::Rejected(Rejection::PaymentIntentNotLoaded),
                "with its snapshot"
            );
        }
        if matches!(outcome, Outcome::Rejected(_)) {
            assert_eq!(effects, vec![], "a refusal writes nothing: {outcome:?}");
        }
        for effect in &effects {
            if let Effect::PaymentIntentSaved(saved) = effect {
                assert_eq!(saved.id, id, "a command about intent {id} saved another");
                saved.assert_consistent();
                assert!(saved.version > before.version, "intent {id}'s version went backwards");
            }
        }
        (outcome, effects)
    }

    /// Sends the same command a second time: it must write nothing.
    fn send_again(&mut self, t: usize, make: impl Fn(Option<Box<PaymentIntent>>) -> Command, what: &str) {
        let (outcome, effects) = self.send(t, make);
        assert_eq!(effects, vec![], "{what} applied twice: {outcome:?}");
    }

    fn checkout(&mut self, home: usize, both_shops: bool, buyer: i64, units: (i64, i64), timeout_seconds: i64) {
        let checkout = self.next_order;
        let mut shares = Vec::new();
        let mut requests = Vec::new();
        let shards = if both_shops { vec![home, 1 - home] } else { vec![home] };
        for (shard, units) in shards.into_iter().zip([units.0, units.1]) {
            let id = self.next_order;
            self.next_order += 1;
            let shop = shard as i64 + 1;
            let mut command = place(id, shop, buyer, &[(CATALOG[shard].0, units)]);
            command.checkout = checkout_id(checkout);
            command.payment_timeout_seconds = timeout_seconds;
            match self.shards[shard].run(Command::from(command)).0 {
                Outcome::OrderPlaced(order) => {
                    requests.push(IntentOrderRequest {
                        order: order.id,
                        shop: order.shop,
                        amount: order.total,
                        payment_due_at: order.payment_due_at,
                    });
                    shares.push(Share {
                        order: order.id,
                        shard,
                        buyer,
                    });
                }
                Outcome::Rejected(Rejection::InsufficientStock { .. }) if !shares.is_empty() => {}
                Outcome::Rejected(Rejection::InsufficientStock { .. }) => return,
                other => panic!("placing order {id}: {other:?}"),
            }
        }
        let id = intent_id(checkout);
        let amount = requests.iter().map(|r| r.amount.get()).sum::<i64>();
        let pay_by = requests.iter().map(|r| r.payment_due_at).min().expect("an order");
        let (outcome, effects) = self.shards[home].run(Command::from(OpenPaymentIntent {
            id,
            checkout: checkout_id(checkout),
            buyer: buyer_id(buyer),
            orders: requests,
            one_tap: false,
        }));
        let Outcome::PaymentIntent(intent) = outcome else {
            panic!("opening intent {id}: {outcome:?}");
        };
        assert_eq!(
            (intent.id, intent.status, intent.amount.get(), intent.pay_by),
            (id, IntentStatus::RequiresConfirmation, amount, pay_by)
        );
        assert_eq!(effects, vec![Effect::PaymentIntentSaved(intent)]);
        self.intents.push(Tracked {
            id,
            home,
            shares,
            capture: None,
        });
    }

    fn begin(&mut self, pick: usize) {
        let Some(t) = self.picked(pick) else { return };
        let before = self.stored(t);
        let id = before.id;
        let (outcome, _) = self.send(t, |snapshot| {
            Command::from(BeginPaymentAttempt {
                intent: id,
                one_tap: false,
                snapshot,
                screening: None,
            })
        });
        match outcome {
            Outcome::AttemptBegun { attempt, .. } => {
                assert!(
                    before.status.accepts_attempt(),
                    "an attempt on a {:?} intent",
                    before.status
                );
                assert_eq!(attempt, before.attempts + 1, "attempts are numbered in order");
                self.saw("attempt_begun");
            }
            Outcome::Rejected(Rejection::Payment(PaymentRefusal::AttemptInFlight)) => {
                self.saw("attempt_in_flight_refused");
            }
            Outcome::Rejected(Rejection::Payment(PaymentRefusal::IntentState(status))) => {
                assert_eq!(status, before.status);
                assert!(!status.accepts_attempt());
                self.saw("attempt_refused_by_state");
            }
            other => panic!("beginning an attempt of {id}: {other:?}"),
        }
    }

    fn answer(&mut self, pick: usize, which: Which, answer: Answer) {
        let Some(t) = self.picked(pick) else { return };
        let before = self.stored(t);
        let id = before.id;
        let attempt = match which {
            Which::Next => before.attempts + 1,
            Which::Latest => before.attempts.max(1),
            Which::Earlier => (before.attempts - 1).max(1),
        };
        let charge = |k: u8| format!("ch-{id}-{k}");
        let outcome = match answer {
            Answer::Captured { charge: k } => ChargeOutcome::Captured {
                provider_charge_id: charge(k),
                amount: before.amount,
            },
            Answer::CapturedWrongAmount => ChargeOutcome::Captured {
                provider_charge_id: charge(0),
                amount: before.amount.checked_add(fen(1)).expect("small"),
            },
            Answer::Authorized { charge: k } => ChargeOutcome::Authorized {
                provider_charge_id: charge(k),
                amount: before.amount,
            },
            Answer::Voided { own } => ChargeOutcome::Voided {
                provider_charge_id: match (&before.charge, own) {
                    (Some(held), true) => held.provider_charge_id.clone(),
                    _ => charge(9),
                },
            },
            Answer::Declined(code) => ChargeOutcome::Declined(code),
            Answer::Unknown => ChargeOutcome::Unknown,
            Answer::NotFound => ChargeOutcome::NotFound,
        };
        let refunds: Vec<RefundId> = before.orders.iter().map(|_| self.fresh_refund()).collect();
        let make = |snapshot| {
            Command::from(RecordCharge {
                intent: id,
                attempt,
                outcome: outcome.clone(),
                refunds: refunds.clone(),
                snapshot,
            })
        };
        let (result, effects) = self.send(t, make);
        let after = self.stored(t);
        if let ChargeOutcome::Captured {
            provider_charge_id,
            amount,
        } = &outcome
        {
            let path = self.check_capture(t, &before, provider_charge_id, *amount, &result);
            self.saw(path);
            if path == "captured" {
                self.check_capture_effects(t, &before, &effects);
                self.intents[t].capture = Some(provider_charge_id.clone());
            }
        } else {
            assert!(!matches!(result, Outcome::Rejected(_)), "{outcome:?}: {result:?}");
            let moved_back = before.status.is_final() && after != before;
            assert!(
                !moved_back || (before.status == IntentStatus::Expired && after.status == IntentStatus::Authorized),
                "a late {outcome:?} moved a {:?} intent to {:?}",
                before.status,
                after.status
            );
        }
        if after.status != before.status {
            self.saw(&format!("status:{}", after.status.as_str()));
        }
        if after.orders.iter().any(|o| o.settlement == Settlement::Refunded)
            && !before.orders.iter().any(|o| o.settlement == Settlement::Refunded)
        {
            self.saw("closed_order_refunded_at_capture");
        }
        self.send_again(t, make, &format!("{outcome:?} of attempt {attempt}"));
    }

    /// Checks the answer to a capture; returns which path it took (`captured` when it
    /// captured the intent now).
    fn check_capture(
        &self,
        t: usize,
        before: &PaymentIntent,
        charge: &str,
        amount: Fen,
        result: &Outcome,
    ) -> &'static str {
        match &self.intents[t].capture {
            Some(first) if first == charge => {
                assert_eq!(result, &Outcome::PaymentIntent(before.clone()), "the capture again");
                "duplicate_capture"
            }
            Some(_) => {
                assert_eq!(
                    result,
                    &Outcome::Rejected(Rejection::Payment(PaymentRefusal::ConflictingCapture)),
                    "a second capture"
                );
                "conflicting_capture"
            }
            None if amount != before.amount => {
                assert_eq!(
                    result,
                    &Outcome::Rejected(Rejection::Payment(PaymentRefusal::AmountMismatch {
                        expected: before.amount,
                        captured: amount,
                    }))
                );
                "amount_mismatch"
            }
            None => {
                let Outcome::PaymentIntent(intent) = result else {
                    panic!("a first capture of {}: {result:?}", before.id);
                };
                assert_eq!(intent.status, IntentStatus::Captured);
                "captured"
            }
        }
    }

    /// The first capture pays the home orders still open, by this intent, in the same command;
    /// orders of the other shard wait; closed home orders get their share back.
    fn check_capture_effects(&self, t: usize, before: &PaymentIntent, effects: &[Effect]) {
        let tracked = &self.intents[t];
        let after = self.stored(t);
        for (share, settled) in tracked.shares.iter().zip(&after.orders) {
            assert_eq!(share.order, settled.order);
            let order = &self.shards[share.shard].store.orders[&share.order];
            let expected = if share.shard != tracked.home {
                Settlement::Pending
            } else if order.state == OrderState::Paid {
                let transitioned = effects
                    .iter()
                    .any(|e| matches!(e, Effect::OrderTransitioned(o) if o.id == share.order && o.paid_by == Some(before.id)));
                assert!(transitioned, "order {} paid outside the capture", share.order);
                Settlement::Paid
            } else {
                Settlement::Refunded
            };
            assert_eq!(settled.settlement, expected, "order {}", share.order);
        }
    }

    fn relay(&mut self, pick: usize) {
        let Some(t) = self.picked(pick) else { return };
        let before = self.stored(t);
        let id = before.id;
        for share in self.intents[t].shares.clone() {
            let pending = before
                .orders
                .iter()
                .any(|o| o.order == share.order && o.settlement == Settlement::Pending);
            if !pending {
                continue;
            }
            let was_open = self.shards[share.shard].state.open_order(share.order).is_some();
            let (paid, _) = self.shards[share.shard].run(Command::from(PayOrder {
                order: share.order,
                intent: id,
            }));
            let paid = match paid {
                Outcome::OrderPaid(order) => {
                    assert_eq!(order.paid_by, Some(id));
                    true
                }
                Outcome::Rejected(Rejection::OrderNotOpen) => false,
                other => panic!("paying order {} of {id}: {other:?}", share.order),
            };
            assert_eq!(paid, was_open);
            let refund = self.fresh_refund();
            let make = |snapshot| {
                Command::from(SettleRemoteOrder {
                    intent: id,
                    order: share.order,
                    paid,
                    refund,
                    snapshot,
                })
            };
            let (outcome, _) = self.send(t, make);
            let Outcome::PaymentIntent(intent) = outcome else {
                panic!("settling order {} of {id}: {outcome:?}", share.order);
            };
            let settlement = intent
                .orders
                .iter()
                .find(|o| o.order == share.order)
                .map(|o| o.settlement);
            let expected = if paid { Settlement::Paid } else { Settlement::Refunded };
            assert_eq!(settlement, Some(expected));
            self.saw(if paid { "remote_paid" } else { "remote_refunded" });
            self.send_again(t, make, "a settlement");
        }
    }

    fn refund(&mut self, pick: usize, order: usize, amount: i64) {
        let Some(t) = self.picked(pick) else { return };
        let before = self.stored(t);
        let id = before.id;
        let Some(share) = before.orders.get(order % before.orders.len()).cloned() else {
            return;
        };
        let amount = Fen::from_stored(amount).expect("non-negative");
        let refund = self.fresh_refund();
        let make = |snapshot| {
            Command::from(RequestRefund {
                intent: id,
                refund,
                order: share.order,
                amount,
                reason: RefundReason::Requested,
                request: None,
                snapshot,
            })
        };
        let (outcome, effects) = self.send(t, make);
        let refundable = if share.settlement == Settlement::Paid {
            before.refundable(share.order).expect("the intent's order")
        } else {
            Fen::ZERO
        };
        if amount == Fen::ZERO || amount > refundable {
            assert_eq!(
                outcome,
                Outcome::Rejected(Rejection::Payment(PaymentRefusal::RefundExceedsCaptured { refundable })),
                "refunding {amount:?} of order {} ({:?})",
                share.order,
                share.settlement
            );
            self.saw(if refundable == Fen::ZERO {
                "refund_of_nothing_refused"
            } else {
                "refund_exceeding_refused"
            });
        } else {
            let Outcome::PaymentIntent(intent) = &outcome else {
                panic!("refunding {amount:?} of order {}: {outcome:?}", share.order);
            };
            let opened = intent.refunds.last().cloned().expect("the refund");
            assert_eq!(
                (opened.id, opened.order, opened.amount, opened.status),
                (refund, share.order, amount, RefundStatus::Pending)
            );
            assert_eq!(
                effects.first(),
                Some(&Effect::RefundSaved {
                    shop: share.shop,
                    refund: opened
                })
            );
            self.saw("refund_opened");
        }
        let opened = !matches!(outcome, Outcome::Rejected(_));
        let (again, effects) = self.send(t, make);
        assert_eq!(effects, vec![], "a refund requested twice");
        if opened {
            assert_eq!(again, Outcome::Rejected(Rejection::IdInUse), "the same refund id again");
        }
    }

    fn refund_answer(&mut self, pick: usize, refund: usize, outcome: u8) {
        let Some(t) = self.picked(pick) else { return };
        let before = self.stored(t);
        let Some(target) = before.refunds.get(refund % before.refunds.len().max(1)).cloned() else {
            return;
        };
        let id = before.id;
        let answer = match outcome {
            0 => RefundOutcome::Succeeded {
                provider_refund_id: format!("re-{}", target.id),
            },
            1 => RefundOutcome::Failed {
                reason: "declined by the bank".into(),
            },
            _ => RefundOutcome::Unknown,
        };
        let make = |snapshot| {
            Command::from(RecordRefund {
                intent: id,
                refund: target.id,
                outcome: answer.clone(),
                snapshot,
            })
        };
        let (_, effects) = self.send(t, make);
        let changes = target.status == RefundStatus::Pending && answer != RefundOutcome::Unknown;
        if changes {
            self.saw("refund_settled");
        }
        assert_eq!(
            !effects.is_empty(),
            changes,
            "{answer:?} for a {:?} refund",
            target.status
        );
        self.send_again(t, make, "a refund outcome");
    }

    fn cancel(&mut self, pick: usize, order: usize) {
        let Some(t) = self.picked(pick) else { return };
        let share = self.intents[t].shares[order % self.intents[t].shares.len()].clone();
        let world = &mut self.shards[share.shard];
        let was_open = world.state.open_order(share.order).is_some();
        let (outcome, _) = world.run(Command::from(CancelOrder {
            order: share.order,
            by: Canceller::Buyer(buyer_id(share.buyer)),
            reason: CancelReason::BuyerCancelled,
        }));
        match outcome {
            Outcome::OrderCancelled(_) => assert!(was_open),
            Outcome::Rejected(Rejection::OrderNotOpen) => assert!(!was_open),
            other => panic!("cancelling {}: {other:?}", share.order),
        }
    }

    fn tick(&mut self, seconds: i64) {
        let mut expired = false;
        for world in &mut self.shards {
            world.advance_ms(seconds * 1000);
            let (_, effects) = world.run(Command::ExpireDue);
            expired |= effects
                .iter()
                .any(|e| matches!(e, Effect::PaymentIntentSaved(i) if i.status == IntentStatus::Expired));
        }
        if expired {
            self.saw("intent_expired");
        }
        let evicted = self
            .intents
            .iter()
            .any(|t| self.shards[t.home].state.payment_intent(t.id).is_none());
        if evicted {
            self.saw("intent_evicted");
        }
    }

    /// The invariants, checked against the durable stores (and memory against them).
    fn audit(&self) {
        for (index, world) in self.shards.iter().enumerate() {
            self.audit_stock(index, world);
            for order in world.store.orders_in(OrderState::Paid) {
                let intent = order.paid_by.expect("a paid order names its payment");
                assert!(
                    self.intents
                        .iter()
                        .any(|t| t.id == intent && t.shares.iter().any(|s| s.order == order.id)),
                    "order {} paid by {intent}, which does not pay it",
                    order.id
                );
            }
        }
        for t in 0..self.intents.len() {
            self.audit_intent(t);
        }
    }

    fn audit_stock(&self, index: usize, world: &World) {
        let (sku, warehouse, _) = CATALOG[index];
        let level = world.level(sku, warehouse);
        assert_eq!(
            world.store.stock[&(sku_id(sku), warehouse_id(warehouse))],
            level,
            "durable stock"
        );
        assert!(level.available >= 0);
        assert_eq!(
            level.available + level.reserved + level.sold,
            STOCK,
            "stock of {sku} conserved"
        );
        let units = |state| {
            world
                .store
                .orders_in(state)
                .map(|o| o.lines.iter().map(|l| l.quantity.get()).sum::<i64>())
                .sum::<i64>()
        };
        assert_eq!(
            level.sold,
            units(OrderState::Paid),
            "sold units of {sku} = units of paid orders"
        );
        assert_eq!(
            level.reserved,
            units(OrderState::PendingPayment),
            "reserved units of {sku}"
        );
    }

    fn audit_intent(&self, t: usize) {
        let tracked = &self.intents[t];
        let intent = self.stored(t);
        if let Some(in_memory) = self.shards[tracked.home].state.payment_intent(tracked.id) {
            assert_eq!(
                in_memory, &intent,
                "intent {} in memory differs from the store",
                tracked.id
            );
        }
        intent.assert_consistent();
        let captured = intent.charge.as_ref().map_or(Fen::ZERO, |c| c.captured);
        if let Some(charge) = &intent.charge {
            assert!(charge.captured <= charge.authorized && charge.authorized <= intent.amount);
        }
        assert!(
            intent.refunded() <= captured,
            "refunds of {} exceed the capture",
            intent.id
        );
        assert_eq!(
            intent.status == IntentStatus::Captured,
            tracked.capture.is_some(),
            "intent {} is {:?}",
            intent.id,
            intent.status
        );
        if let Some(first) = &tracked.capture {
            let charge = intent.charge.as_ref().expect("a captured intent has its charge");
            assert_eq!((&charge.provider_charge_id, charge.captured), (first, intent.amount));
        }
        if intent.status == IntentStatus::Expired {
            assert!(
                intent.updated_at.unix_ms() >= intent.pay_by.unix_ms() + EXPIRY_GRACE_MS,
                "intent {} expired before its deadline and grace",
                intent.id
            );
        }
        for (share, settled) in tracked.shares.iter().zip(&intent.orders) {
            assert_eq!(share.order, settled.order);
            let remote = share.shard != tracked.home;
            self.audit_share(&intent, share, remote, settled.settlement, settled.amount);
        }
    }

    fn audit_share(&self, intent: &PaymentIntent, share: &Share, remote: bool, settlement: Settlement, amount: Fen) {
        let order = &self.shards[share.shard].store.orders[&share.order];
        let captured = intent.status == IntentStatus::Captured;
        let paid = order.state == OrderState::Paid;
        assert_eq!(
            paid,
            captured && settlement == Settlement::Paid,
            "order {} paid",
            order.id
        );
        if paid {
            assert_eq!(order.paid_by, Some(intent.id));
        }
        assert_eq!(
            settlement == Settlement::Unpaid,
            !captured,
            "order {}: {settlement:?}",
            order.id
        );
        let refunds: Vec<_> = intent.refunds.iter().filter(|r| r.order == order.id).collect();
        let kept = refunds
            .iter()
            .filter(|r| r.status != RefundStatus::Failed)
            .map(|r| r.amount.get())
            .sum::<i64>();
        assert!(kept <= amount.get(), "refunds of order {} exceed its share", order.id);
        match settlement {
            Settlement::Pending => assert!(remote, "home order {} left pending", order.id),
            Settlement::Refunded => {
                assert_eq!(order.state, OrderState::Cancelled);
                let closed: Vec<_> = refunds
                    .iter()
                    .filter(|r| r.reason == RefundReason::OrderClosed)
                    .map(|r| r.amount)
                    .collect();
                assert_eq!(closed, vec![amount], "order {}'s whole share refunded once", order.id);
            }
            Settlement::Unpaid | Settlement::Paid => {
                assert!(refunds.iter().all(|r| r.reason == RefundReason::Requested));
            }
        }
    }
}

fn run(ops: &[Op]) -> Sim {
    let mut sim = Sim::new();
    for op in ops {
        sim.step(op);
    }
    sim
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op(), 1..=OPS_MAX)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn payments_keep_money_and_stock_invariants(ops in ops()) {
        // Every step is audited inside; a broken invariant panics and proptest shrinks `ops`.
        run(&ops);
    }
}

/// The workload is only as good as the paths it reaches: with a fixed seed, the cases of the
/// property above go through every payment path at least once.
#[test]
fn the_payment_workload_reaches_every_path() {
    let seen = RefCell::new(BTreeSet::new());
    let mut runner = TestRunner::deterministic();
    for _ in 0..128 {
        let ops = ops().new_tree(&mut runner).expect("a case").current();
        seen.borrow_mut().extend(run(&ops).seen);
    }
    let expected = [
        "amount_mismatch",
        "attempt_begun",
        "attempt_in_flight_refused",
        "attempt_refused_by_state",
        "captured",
        "closed_order_refunded_at_capture",
        "conflicting_capture",
        "duplicate_capture",
        "intent_evicted",
        "intent_expired",
        "refund_exceeding_refused",
        "refund_of_nothing_refused",
        "refund_opened",
        "refund_settled",
        "remote_paid",
        "remote_refunded",
        "resent_with_snapshot",
        "restart",
        "status:authorized",
        "status:captured",
        "status:failed",
        "status:processing",
        "status:voided",
    ];
    let seen = seen.into_inner();
    let missing: Vec<_> = expected.iter().filter(|path| !seen.contains(**path)).collect();
    assert!(missing.is_empty(), "paths never taken: {missing:?} (seen: {seen:?})");
}
