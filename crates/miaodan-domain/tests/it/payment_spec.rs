//! Specification of the shard's payments: opening an intent for a checkout, attempts and
//! what the provider says about them, the capture that pays the orders (here, or in another
//! shard through `SettleRemoteOrder`), refunds, the intent timers of `ExpireDue` (expiry and
//! eviction), and what a restart remembers. Each scenario states the exact outcome and the
//! exact effects the shell must make durable.

use crate::common;

use common::*;
use miaodan_domain::inventory::StockLevel;
use miaodan_domain::orders::{CancelReason, Order, OrderState};
use miaodan_domain::payments::{
    Charge, ChargeOutcome, DeclineCode, EXPIRY_GRACE_MS, IntentOrder, IntentStatus, PaymentIntent, PaymentRefusal,
    Refund, RefundOutcome, RefundReason, RefundStatus, SETTLED_INTENT_RETENTION_MS, Settlement,
};
use miaodan_domain::shard::{
    BeginPaymentAttempt, CancelOrder, PayOrder, RecordCharge, RecordRefund, RequestRefund, SettleRemoteOrder,
};
use miaodan_domain::shard::{
    Canceller, Command, Effect, IntentOrderRequest, OpenPaymentIntent, Outcome, Rejection, RequestRef,
};
use miaodan_domain::{Fen, Timestamp};

/// The home shop: the shard under test owns it.
const HOME: i64 = 1;
/// Another shop of the platform, owned by another shard.
const AWAY: i64 = 2;
const BUYER: i64 = 7;
/// Shop 1's SKU at ¥10.00, stocked with [`STOCK`] units in warehouse 11.
const SKU: i64 = 1001;
/// Shop 1's second SKU at ¥2.50, stocked with [`STOCK`] units in warehouse 11.
const SKU_CHEAP: i64 = 1002;
const WAREHOUSE: i64 = 11;
const STOCK: i64 = 10;
/// The default payment timeout of the orders here.
const DUE_MS: i64 = 900_000;

/// Shop 1 with product 101 (SKU 1001 at 1000 fen, SKU 1002 at 250 fen), ten units of each in
/// warehouse 11. Shop 2 is not this shard's.
fn world() -> World {
    let mut world = World::default();
    world
        .shop(HOME)
        .warehouse(WAREHOUSE, HOME)
        .product(101, HOME, &[(SKU, 1000), (SKU_CHEAP, 250)])
        .stock(HOME, SKU, WAREHOUSE, STOCK)
        .stock(HOME, SKU_CHEAP, WAREHOUSE, STOCK);
    world
}

/// The shard of shop 2 (SKU 2001 at 800 fen, ten units in warehouse 21).
fn away_world() -> World {
    let mut world = World::default();
    world
        .shop(AWAY)
        .warehouse(21, AWAY)
        .product(201, AWAY, &[(2001, 800)])
        .stock(AWAY, 2001, 21, STOCK);
    world
}

fn at(ms_after_t0: i64) -> Timestamp {
    Timestamp::from_unix_ms(T0.unix_ms() + ms_after_t0)
}

/// Places order `order` of `buyer` in `shop` for `lines` as part of `checkout`.
fn place_order(world: &mut World, order: i64, checkout: i64, shop: i64, lines: &[(i64, i64)]) -> Order {
    let mut command = place(order, shop, BUYER, lines);
    command.checkout = checkout_id(checkout);
    match world.run(Command::from(command)).0 {
        Outcome::OrderPlaced(order) => order,
        other => panic!("expected the order to be placed, got {other:?}"),
    }
}

/// The share of an order as the shell reads it when it opens the checkout's payment.
fn share(order: &Order) -> IntentOrderRequest {
    IntentOrderRequest {
        order: order.id,
        shop: order.shop,
        amount: order.total,
        payment_due_at: order.payment_due_at,
    }
}

/// The share of an order of shop 2 (which this shard cannot check).
fn away_share(order: i64, amount: i64, due: Timestamp) -> IntentOrderRequest {
    IntentOrderRequest {
        order: order_id(order),
        shop: shop_id(AWAY),
        amount: fen(amount),
        payment_due_at: due,
    }
}

fn open(intent: i64, checkout: i64, shares: Vec<IntentOrderRequest>) -> Command {
    Command::from(OpenPaymentIntent {
        id: intent_id(intent),
        checkout: checkout_id(checkout),
        buyer: buyer_id(BUYER),
        orders: shares,
        one_tap: false,
    })
}

fn begin(intent: i64) -> Command {
    Command::from(BeginPaymentAttempt {
        intent: intent_id(intent),
        one_tap: false,
        snapshot: None,
        screening: None,
    })
}

/// What the provider says about `attempt`; refund ids 901.. are there for closed orders.
fn charge(intent: i64, attempt: i64, outcome: ChargeOutcome) -> Command {
    Command::from(RecordCharge {
        intent: intent_id(intent),
        attempt,
        outcome,
        refunds: vec![refund_id(901), refund_id(902), refund_id(903)],
        snapshot: None,
    })
}

fn captured(provider_charge_id: &str, amount: i64) -> ChargeOutcome {
    ChargeOutcome::Captured {
        provider_charge_id: provider_charge_id.into(),
        amount: fen(amount),
    }
}

fn authorized(provider_charge_id: &str, amount: i64) -> ChargeOutcome {
    ChargeOutcome::Authorized {
        provider_charge_id: provider_charge_id.into(),
        amount: fen(amount),
    }
}

fn settle(intent: i64, order: i64, paid: bool) -> Command {
    Command::from(SettleRemoteOrder {
        intent: intent_id(intent),
        order: order_id(order),
        paid,
        refund: refund_id(950),
        snapshot: None,
    })
}

fn request_refund(intent: i64, refund: i64, order: i64, amount: i64) -> Command {
    Command::from(RequestRefund {
        intent: intent_id(intent),
        refund: refund_id(refund),
        order: order_id(order),
        amount: Fen::from_stored(amount).expect("non-negative"),
        reason: RefundReason::Requested,
        request: None,
        snapshot: None,
    })
}

fn record_refund(intent: i64, refund: i64, outcome: RefundOutcome) -> Command {
    Command::from(RecordRefund {
        intent: intent_id(intent),
        refund: refund_id(refund),
        outcome,
        snapshot: None,
    })
}

fn succeeded(provider_refund_id: &str) -> RefundOutcome {
    RefundOutcome::Succeeded {
        provider_refund_id: provider_refund_id.into(),
    }
}

fn intent_of(outcome: Outcome) -> PaymentIntent {
    match outcome {
        Outcome::PaymentIntent(intent) => intent,
        other => panic!("expected a payment intent, got {other:?}"),
    }
}

fn in_memory(world: &World, intent: i64) -> PaymentIntent {
    world
        .state
        .payment_intent(intent_id(intent))
        .cloned()
        .expect("the intent is in memory")
}

/// Applies `command`, which must be refused with `expected` and change nothing: no effects,
/// the intent in memory, the stock and the open orders as they were.
fn assert_refused(world: &mut World, intent: i64, command: Command, expected: Rejection, case: &str) {
    let intent_before = world.state.payment_intent(intent_id(intent)).cloned();
    let inventory_before = world.state.inventory().clone();
    let open_before = world.open_orders();
    let (outcome, effects) = world.run(command);
    assert_eq!(outcome, Outcome::Rejected(expected), "{case}");
    assert_eq!(effects, vec![], "{case}: a refusal emits no effects");
    assert_eq!(
        world.state.payment_intent(intent_id(intent)).cloned(),
        intent_before,
        "{case}: the intent"
    );
    assert_eq!(world.state.inventory(), &inventory_before, "{case}: the stock");
    assert_eq!(world.open_orders(), open_before, "{case}: the open orders");
}

/// Applies `command`, which must answer with the intent as it stands and write nothing.
fn assert_no_change(world: &mut World, intent: i64, command: Command, case: &str) {
    let before = in_memory(world, intent);
    let (outcome, effects) = world.run(command);
    assert_eq!(outcome, Outcome::PaymentIntent(before.clone()), "{case}");
    assert_eq!(effects, vec![], "{case}: nothing to write");
    assert_eq!(in_memory(world, intent), before, "{case}: the intent");
}

fn stock_changed(sku: i64, level: StockLevel) -> Effect {
    Effect::StockChanged {
        shop: shop_id(HOME),
        sku: sku_id(sku),
        warehouse: warehouse_id(WAREHOUSE),
        level,
    }
}

fn paid(order: &Order, intent: i64, now: Timestamp) -> Order {
    Order {
        state: OrderState::Paid,
        version: order.version + 1,
        paid_at: Some(now),
        paid_by: Some(intent_id(intent)),
        ..order.clone()
    }
}

fn expired(order: &Order, now: Timestamp) -> Order {
    Order {
        state: OrderState::Cancelled,
        version: order.version + 1,
        cancelled_at: Some(now),
        cancel_reason: Some(CancelReason::PaymentTimeout),
        ..order.clone()
    }
}

/// The charge a capture of attempt `attempt` of intent `intent` (homed in shop 1) records.
fn captured_charge(intent: i64, attempt: i64, provider_charge_id: &str, amount: i64, now: Timestamp) -> Charge {
    Charge {
        reference: format!("mdn-{HOME}-{intent}-{attempt}"),
        provider_charge_id: provider_charge_id.into(),
        authorized: fen(amount),
        captured: fen(amount),
        authorized_at: now,
        captured_at: Some(now),
    }
}

fn pending_refund(refund: i64, intent: i64, order: i64, amount: i64, reason: RefundReason, now: Timestamp) -> Refund {
    Refund {
        id: refund_id(refund),
        intent: intent_id(intent),
        order: order_id(order),
        amount: fen(amount),
        reason,
        status: RefundStatus::Pending,
        provider_refund_id: None,
        failure: None,
        request: None,
        created_at: now,
        settled_at: None,
    }
}

/// A checkout of one order (order 1: two units of SKU 1001, 2000 fen, due at `T0 + DUE_MS`)
/// and its intent 1, opened at `T0`.
fn one_order_checkout() -> (World, Order, PaymentIntent) {
    let mut world = world();
    let order = place_order(&mut world, 1, 1, HOME, &[(SKU, 2)]);
    let intent = intent_of(world.run(open(1, 1, vec![share(&order)])).0);
    (world, order, intent)
}

/// A checkout of order 1 (home, 2000 fen) and order 2 (shop 2, 800 fen), with intent 1.
fn two_shop_checkout() -> (World, Order, PaymentIntent) {
    let mut world = world();
    let order = place_order(&mut world, 1, 1, HOME, &[(SKU, 2)]);
    let shares = vec![share(&order), away_share(2, 800, at(DUE_MS))];
    let intent = intent_of(world.run(open(1, 1, shares)).0);
    (world, order, intent)
}

/// Captures intent 1 of `amount` with attempt 1 as `ch_1`.
fn capture(world: &mut World, amount: i64) -> PaymentIntent {
    world.run(begin(1));
    intent_of(world.run(charge(1, 1, captured("ch_1", amount))).0)
}

// ── Opening ────────────────────────────────────────────────────────────────────────────

#[test]
fn opening_an_intent_sums_the_orders_and_must_be_paid_by_the_earliest_due() {
    let mut world = world();
    let first = place_order(&mut world, 1, 1, HOME, &[(SKU, 2)]);
    world.advance_ms(30_000);
    let second = place_order(&mut world, 3, 1, HOME, &[(SKU_CHEAP, 1)]);
    world.advance_ms(1_000);
    let shares = vec![share(&second), away_share(2, 800, at(DUE_MS + 5_000)), share(&first)];

    let (outcome, effects) = world.run(open(1, 1, shares));

    let expected = PaymentIntent {
        id: intent_id(1),
        checkout: checkout_id(1),
        buyer: buyer_id(BUYER),
        // The shop of the checkout's first order (as the shell lists them).
        home_shop: shop_id(HOME),
        amount: fen(250 + 800 + 2000),
        orders: vec![
            IntentOrder {
                order: order_id(3),
                shop: shop_id(HOME),
                amount: fen(250),
                settlement: Settlement::Unpaid,
            },
            IntentOrder {
                order: order_id(2),
                shop: shop_id(AWAY),
                amount: fen(800),
                settlement: Settlement::Unpaid,
            },
            IntentOrder {
                order: order_id(1),
                shop: shop_id(HOME),
                amount: fen(2000),
                settlement: Settlement::Unpaid,
            },
        ],
        status: IntentStatus::RequiresConfirmation,
        attempts: 0,
        one_tap: false,
        charge: None,
        decline: None,
        refunds: vec![],
        // Order 1 was placed first, so it is due first.
        pay_by: at(DUE_MS),
        created_at: world.now,
        updated_at: world.now,
        version: 1,
    };
    assert_eq!(outcome, Outcome::PaymentIntent(expected.clone()));
    assert_eq!(effects, vec![Effect::PaymentIntentSaved(expected.clone())]);
    assert_eq!(in_memory(&world, 1), expected);
}

#[test]
fn opening_the_same_checkout_again_answers_the_first_intent_and_writes_nothing() {
    let (mut world, order, first) = one_order_checkout();
    world.advance_ms(5_000);
    for (case, command) in [
        ("the same request again", open(1, 1, vec![share(&order)])),
        ("a retry with a fresh intent id", open(2, 1, vec![share(&order)])),
    ] {
        let (outcome, effects) = world.run(command);
        assert_eq!(outcome, Outcome::PaymentIntent(first.clone()), "{case}");
        assert_eq!(effects, vec![], "{case}");
    }
    assert_eq!(world.state.payment_intent(intent_id(2)), None);
}

#[test]
fn opening_is_refused_unless_every_home_order_is_the_buyers_open_order_of_the_checkout() {
    let mut world = world();
    let order = place_order(&mut world, 1, 1, HOME, &[(SKU, 2)]);
    let cancelled = place_order(&mut world, 2, 2, HOME, &[(SKU, 1)]);
    world.run(Command::from(CancelOrder {
        order: cancelled.id,
        by: Canceller::Buyer(buyer_id(BUYER)),
        reason: CancelReason::BuyerCancelled,
    }));
    let mut other_buyer = place(3, HOME, 8, &[(SKU, 1)]);
    other_buyer.checkout = checkout_id(1);
    world.run(Command::from(other_buyer));
    let elsewhere = place_order(&mut world, 4, 9, HOME, &[(SKU, 1)]);
    let taken = intent_of(world.run(open(9, 9, vec![share(&elsewhere)])).0);
    assert_eq!(taken.id, intent_id(9), "setup: checkout 9's intent");
    let wrong_amount = IntentOrderRequest {
        amount: fen(1999),
        ..share(&order)
    };
    let never_placed = IntentOrderRequest {
        order: order_id(42),
        ..share(&order)
    };
    let unknown_shop = IntentOrderRequest {
        shop: shop_id(AWAY),
        ..share(&order)
    };

    let cases: Vec<(&str, Command, Rejection)> = vec![
        ("a checkout without orders", open(1, 1, vec![]), Rejection::OrderNotOpen),
        (
            "a cancelled order",
            open(1, 2, vec![share(&cancelled)]),
            Rejection::OrderNotOpen,
        ),
        (
            "another buyer's order",
            open(1, 1, vec![share(&order), share(&world.store.orders[&order_id(3)])]),
            Rejection::OrderNotOpen,
        ),
        (
            "an order of another checkout",
            open(1, 4, vec![share(&order)]),
            Rejection::OrderNotOpen,
        ),
        (
            "a share that is not the order's total",
            open(1, 1, vec![wrong_amount]),
            Rejection::OrderNotOpen,
        ),
        (
            "an order this shard never placed",
            open(1, 1, vec![never_placed]),
            Rejection::OrderNotOpen,
        ),
        (
            "a first order of a shop this shard does not own",
            open(1, 1, vec![unknown_shop]),
            Rejection::UnknownShop,
        ),
        (
            "an intent id already in use",
            open(9, 1, vec![share(&order)]),
            Rejection::IdInUse,
        ),
    ];
    for (case, command, expected) in cases {
        assert_refused(&mut world, 1, command, expected, case);
        assert_eq!(world.state.payment_intent(intent_id(1)), None, "{case}");
    }
}

// ── Attempts ───────────────────────────────────────────────────────────────────────────

#[test]
fn attempts_are_numbered_from_one_and_only_one_is_with_the_provider_at_a_time() {
    let (mut world, _, opened) = one_order_checkout();

    let (outcome, effects) = world.run(begin(1));
    assert_eq!(
        outcome,
        Outcome::AttemptBegun {
            intent: opened.clone(),
            attempt: 1
        }
    );
    assert_eq!(effects, vec![], "an attempt is durable once the provider answers");

    assert_refused(
        &mut world,
        1,
        begin(1),
        Rejection::Payment(PaymentRefusal::AttemptInFlight),
        "a second attempt while the first is in flight",
    );
    assert_eq!(
        Rejection::Payment(PaymentRefusal::AttemptInFlight).code(),
        "payment_in_progress"
    );

    world.run(charge(1, 1, ChargeOutcome::Declined(DeclineCode::InsufficientFunds)));
    let (outcome, effects) = world.run(begin(1));
    let Outcome::AttemptBegun { intent, attempt } = outcome else {
        panic!("expected an attempt, got {outcome:?}");
    };
    assert_eq!((attempt, intent.attempts, effects), (2, 1, vec![]));
    assert_eq!(intent.reference(attempt), format!("mdn-{HOME}-1-2"));
}

#[test]
fn a_capture_pays_the_home_orders_in_the_same_command_and_leaves_the_others_pending() {
    let (mut world, order, opened) = two_shop_checkout();
    assert_eq!(world.level(SKU, WAREHOUSE), level(8, 2, 0));
    world.run(begin(1));
    world.advance_ms(10_000);
    let now = world.now;

    let (outcome, effects) = world.run(charge(1, 1, captured("ch_1", 2800)));

    let paid_order = paid(&order, 1, now);
    let expected = PaymentIntent {
        status: IntentStatus::Captured,
        attempts: 1,
        charge: Some(captured_charge(1, 1, "ch_1", 2800, now)),
        orders: vec![
            IntentOrder {
                settlement: Settlement::Paid,
                ..opened.orders[0].clone()
            },
            IntentOrder {
                settlement: Settlement::Pending,
                ..opened.orders[1].clone()
            },
        ],
        updated_at: now,
        version: 2,
        ..opened
    };
    assert_eq!(outcome, Outcome::PaymentIntent(expected.clone()));
    assert_eq!(
        without_dispatch(&effects),
        vec![
            Effect::OrderTransitioned(paid_order.clone()),
            stock_changed(SKU, level(8, 0, 2)),
            Effect::PaymentIntentSaved(expected.clone()),
        ]
    );
    assert_eq!(world.level(SKU, WAREHOUSE), level(8, 0, 2));
    assert_eq!(world.open_orders(), vec![]);
    assert_eq!(world.store.orders[&order.id], paid_order);
    assert_eq!(in_memory(&world, 1), expected);
    assert!(!expected.is_settled(), "shop 2's order is still to settle");
}

#[test]
fn an_authorization_then_its_capture_pays_the_orders() {
    let (mut world, order, opened) = one_order_checkout();
    world.run(begin(1));
    let authorized_at = world.now;
    let (outcome, effects) = world.run(charge(1, 1, authorized("ch_1", 2000)));
    let held = PaymentIntent {
        status: IntentStatus::Authorized,
        attempts: 1,
        charge: Some(Charge {
            captured: Fen::ZERO,
            captured_at: None,
            ..captured_charge(1, 1, "ch_1", 2000, authorized_at)
        }),
        version: 2,
        ..opened.clone()
    };
    assert_eq!(outcome, Outcome::PaymentIntent(held.clone()));
    assert_eq!(effects, vec![Effect::PaymentIntentSaved(held)]);
    assert_eq!(
        world.open_orders(),
        vec![order.clone()],
        "an authorization pays nothing"
    );
    assert_refused(
        &mut world,
        1,
        begin(1),
        Rejection::Payment(PaymentRefusal::IntentState(IntentStatus::Authorized)),
        "an attempt after an authorization",
    );

    world.advance_ms(1_000);
    let intent = intent_of(world.run(charge(1, 1, captured("ch_1", 2000))).0);
    assert_eq!(intent.status, IntentStatus::Captured);
    assert_eq!(
        intent.charge,
        Some(Charge {
            authorized_at,
            ..captured_charge(1, 1, "ch_1", 2000, world.now)
        })
    );
    assert_eq!(world.store.orders[&order.id], paid(&order, 1, world.now));
}

#[test]
fn a_capture_after_an_order_expired_refunds_its_share_and_sells_nothing() {
    let (mut world, order, opened) = one_order_checkout();
    world.run(begin(1));
    // The order's payment is due; the intent still waits for the grace.
    world.now = at(DUE_MS);
    let (outcome, effects) = world.run(Command::ExpireDue);
    assert_eq!(outcome, Outcome::Expired { orders: vec![order.id] });
    assert_eq!(
        effects,
        vec![
            Effect::OrderTransitioned(expired(&order, world.now)),
            stock_changed(SKU, level(STOCK, 0, 0)),
        ]
    );

    world.advance_ms(1_000);
    let now = world.now;
    let (outcome, effects) = world.run(charge(1, 1, captured("ch_1", 2000)));

    let refund = pending_refund(901, 1, 1, 2000, RefundReason::OrderClosed, now);
    let expected = PaymentIntent {
        status: IntentStatus::Captured,
        attempts: 1,
        charge: Some(captured_charge(1, 1, "ch_1", 2000, now)),
        orders: vec![IntentOrder {
            settlement: Settlement::Refunded,
            ..opened.orders[0].clone()
        }],
        refunds: vec![refund.clone()],
        updated_at: now,
        // The capture, then the refund it opened.
        version: 3,
        ..opened
    };
    assert_eq!(outcome, Outcome::PaymentIntent(expected.clone()));
    assert_eq!(
        effects,
        vec![
            Effect::RefundSaved {
                shop: shop_id(1),
                refund
            },
            Effect::PaymentIntentSaved(expected.clone())
        ]
    );
    assert_eq!(world.level(SKU, WAREHOUSE), level(STOCK, 0, 0), "nothing sold");
    assert_eq!(world.store.orders[&order.id].state, OrderState::Cancelled);
    assert_eq!(expected.refundable(order.id), Some(Fen::ZERO));
}

#[test]
fn the_same_capture_again_changes_nothing() {
    let (mut world, _, _) = one_order_checkout();
    capture(&mut world, 2000);
    world.advance_ms(1_000);
    assert_no_change(
        &mut world,
        1,
        charge(1, 1, captured("ch_1", 2000)),
        "the capture notified again",
    );
    assert_no_change(
        &mut world,
        1,
        charge(1, 2, captured("ch_1", 2000)),
        "the capture found by a lookup of a later reference",
    );
}

#[test]
fn a_second_different_capture_of_a_captured_intent_is_refused() {
    let (mut world, _, _) = one_order_checkout();
    capture(&mut world, 2000);
    for attempt in [1, 2] {
        assert_refused(
            &mut world,
            1,
            charge(1, attempt, captured("ch_2", 2000)),
            Rejection::Payment(PaymentRefusal::ConflictingCapture),
            "another charge captured for the intent",
        );
    }
    assert_eq!(
        Rejection::Payment(PaymentRefusal::ConflictingCapture).code(),
        "conflicting_capture"
    );
    assert_eq!(
        in_memory(&world, 1).charge.map(|c| c.provider_charge_id),
        Some("ch_1".into())
    );
}

#[test]
fn a_capture_of_another_amount_is_refused_and_books_nothing() {
    let (mut world, order, opened) = one_order_checkout();
    world.run(begin(1));
    for (case, outcome) in [
        ("a capture of less", captured("ch_1", 1999)),
        ("a capture of more", captured("ch_1", 2001)),
        ("an authorization of less", authorized("ch_1", 1)),
    ] {
        let amount = match &outcome {
            ChargeOutcome::Captured { amount, .. } | ChargeOutcome::Authorized { amount, .. } => *amount,
            _ => unreachable!(),
        };
        let expected = Rejection::Payment(PaymentRefusal::AmountMismatch {
            expected: fen(2000),
            captured: amount,
        });
        assert_eq!(expected.code(), "capture_amount_mismatch");
        assert_refused(&mut world, 1, charge(1, 1, outcome), expected, case);
        assert_eq!(in_memory(&world, 1), opened, "{case}");
        assert_eq!(world.open_orders(), vec![order.clone()], "{case}");
    }
    // The refusal answered the attempt: it is no longer in flight.
    assert!(matches!(world.run(begin(1)).0, Outcome::AttemptBegun { .. }));
}

#[test]
fn a_declined_attempt_fails_the_intent_and_another_attempt_may_follow() {
    let (mut world, order, opened) = one_order_checkout();
    world.run(begin(1));
    world.advance_ms(2_000);
    let (outcome, effects) = world.run(charge(1, 1, ChargeOutcome::Declined(DeclineCode::InsufficientFunds)));
    let failed = PaymentIntent {
        status: IntentStatus::Failed,
        attempts: 1,
        decline: Some(DeclineCode::InsufficientFunds),
        updated_at: world.now,
        version: 2,
        ..opened
    };
    assert_eq!(outcome, Outcome::PaymentIntent(failed.clone()));
    assert_eq!(effects, vec![Effect::PaymentIntentSaved(failed)]);
    assert_eq!(world.open_orders(), vec![order.clone()]);

    let Outcome::AttemptBegun { attempt, .. } = world.run(begin(1)).0 else {
        panic!("a failed intent takes another attempt");
    };
    assert_eq!(attempt, 2);
    let intent = intent_of(world.run(charge(1, 2, captured("ch_2", 2000))).0);
    assert_eq!(intent.status, IntentStatus::Captured);
    assert_eq!(intent.decline, None, "the capture clears the earlier decline");
    assert_eq!(intent.charge.map(|c| c.reference), Some(format!("mdn-{HOME}-1-2")));
    assert_eq!(world.store.orders[&order.id].paid_by, Some(intent_id(1)));
}

#[test]
fn the_same_decline_again_changes_nothing() {
    let (mut world, _, _) = one_order_checkout();
    world.run(begin(1));
    world.run(charge(1, 1, ChargeOutcome::Declined(DeclineCode::SuspectedFraud)));
    world.advance_ms(1_000);
    assert_no_change(
        &mut world,
        1,
        charge(1, 1, ChargeOutcome::Declined(DeclineCode::SuspectedFraud)),
        "the decline notified again",
    );
    // Also while the next attempt is with the provider.
    world.run(begin(1));
    assert_no_change(
        &mut world,
        1,
        charge(1, 1, ChargeOutcome::Declined(DeclineCode::SuspectedFraud)),
        "the first decline notified again during attempt 2",
    );
    assert_refused(
        &mut world,
        1,
        begin(1),
        Rejection::Payment(PaymentRefusal::AttemptInFlight),
        "attempt 2 is still in flight",
    );
}

#[test]
fn an_unknown_outcome_leaves_the_intent_processing_until_the_provider_answers() {
    let (mut world, order, opened) = one_order_checkout();
    world.run(begin(1));
    let (outcome, effects) = world.run(charge(1, 1, ChargeOutcome::Unknown));
    let processing = PaymentIntent {
        status: IntentStatus::Processing,
        attempts: 1,
        version: 2,
        ..opened
    };
    assert_eq!(outcome, Outcome::PaymentIntent(processing.clone()));
    assert_eq!(effects, vec![Effect::PaymentIntentSaved(processing)]);

    assert_refused(
        &mut world,
        1,
        begin(1),
        Rejection::Payment(PaymentRefusal::IntentState(IntentStatus::Processing)),
        "an attempt while the outcome is unknown",
    );
    assert_eq!(
        Rejection::Payment(PaymentRefusal::IntentState(IntentStatus::Processing)).code(),
        "payment_intent_state"
    );
    assert_no_change(&mut world, 1, charge(1, 1, ChargeOutcome::Unknown), "unknown again");
    assert_no_change(
        &mut world,
        1,
        charge(1, 2, ChargeOutcome::NotFound),
        "not found for an attempt nobody waits on",
    );
    // Far past the deadline: an intent whose money may have moved does not expire.
    world.now = at(DUE_MS + EXPIRY_GRACE_MS + 3_600_000);
    let (_, effects) = world.run(Command::ExpireDue);
    assert_eq!(
        effects,
        vec![
            Effect::OrderTransitioned(expired(&order, world.now)),
            stock_changed(SKU, level(STOCK, 0, 0)),
        ],
        "the order expires, the intent does not"
    );
    assert_eq!(in_memory(&world, 1).status, IntentStatus::Processing);
}

#[test]
fn not_found_for_the_processing_attempt_fails_it_as_not_processed() {
    let (mut world, _, _) = one_order_checkout();
    world.run(begin(1));
    world.run(charge(1, 1, ChargeOutcome::Unknown));
    let processing = in_memory(&world, 1);
    world.advance_ms(60_000);
    let (outcome, effects) = world.run(charge(1, 1, ChargeOutcome::NotFound));
    let failed = PaymentIntent {
        status: IntentStatus::Failed,
        decline: Some(DeclineCode::NotProcessed),
        updated_at: world.now,
        version: processing.version + 1,
        ..processing
    };
    assert_eq!(outcome, Outcome::PaymentIntent(failed.clone()));
    assert_eq!(effects, vec![Effect::PaymentIntentSaved(failed)]);
    assert_eq!(DeclineCode::NotProcessed.as_str(), "not_processed");
    let Outcome::AttemptBegun { attempt, .. } = world.run(begin(1)).0 else {
        panic!("a new attempt after not_processed");
    };
    assert_eq!(attempt, 2, "the unknown attempt's reference is never reused");
}

#[test]
fn the_answer_to_a_processing_attempt_decides_it() {
    for (case, answer, status) in [
        ("a capture", captured("ch_1", 2000), IntentStatus::Captured),
        (
            "a decline",
            ChargeOutcome::Declined(DeclineCode::ExpiredCredential),
            IntentStatus::Failed,
        ),
        ("an authorization", authorized("ch_1", 2000), IntentStatus::Authorized),
    ] {
        let (mut world, _, _) = one_order_checkout();
        world.run(begin(1));
        world.run(charge(1, 1, ChargeOutcome::Unknown));
        let (outcome, effects) = world.run(charge(1, 1, answer));
        assert_eq!(intent_of(outcome).status, status, "{case}");
        assert!(
            matches!(effects.last(), Some(Effect::PaymentIntentSaved(i)) if i.status == status),
            "{case}: {effects:?}"
        );
    }
}

/// Answers that arrive late (for an older attempt, or after a final state) leave the intent
/// where it is and write nothing.
#[test]
fn late_answers_never_move_an_intent_backwards() {
    let late_after_capture = [
        ChargeOutcome::Declined(DeclineCode::InsufficientFunds),
        ChargeOutcome::Unknown,
        ChargeOutcome::NotFound,
        authorized("ch_1", 2000),
        ChargeOutcome::Voided {
            provider_charge_id: "ch_1".into(),
        },
    ];
    for late in late_after_capture {
        let (mut world, _, _) = one_order_checkout();
        capture(&mut world, 2000);
        for attempt in [1, 2] {
            assert_no_change(
                &mut world,
                1,
                charge(1, attempt, late.clone()),
                &format!("{late:?} of attempt {attempt} after the capture"),
            );
        }
    }

    // Attempt 1 was declined, attempt 2 is processing: attempt 1's late news are stale.
    let late_of_attempt_1 = [
        ChargeOutcome::Declined(DeclineCode::InsufficientFunds),
        ChargeOutcome::Declined(DeclineCode::Other),
        ChargeOutcome::Unknown,
        ChargeOutcome::NotFound,
    ];
    for late in late_of_attempt_1 {
        let (mut world, _, _) = one_order_checkout();
        world.run(begin(1));
        world.run(charge(1, 1, ChargeOutcome::Declined(DeclineCode::InsufficientFunds)));
        world.run(begin(1));
        world.run(charge(1, 2, ChargeOutcome::Unknown));
        assert_no_change(&mut world, 1, charge(1, 1, late.clone()), &format!("{late:?}"));
        assert_eq!(in_memory(&world, 1).status, IntentStatus::Processing);
    }

    // An expired intent is not revived by a decline or an unknown outcome.
    for late in [
        ChargeOutcome::Declined(DeclineCode::RequestExpired),
        ChargeOutcome::Unknown,
        ChargeOutcome::NotFound,
    ] {
        let (mut world, _, _) = one_order_checkout();
        world.now = at(DUE_MS + EXPIRY_GRACE_MS);
        world.run(Command::ExpireDue);
        assert_eq!(in_memory(&world, 1).status, IntentStatus::Expired);
        assert_no_change(&mut world, 1, charge(1, 1, late.clone()), &format!("{late:?}"));
    }
}

// ── Orders of other shards ─────────────────────────────────────────────────────────────

#[test]
fn a_two_shop_checkout_is_paid_in_both_shards() {
    let (mut home, order, _) = two_shop_checkout();
    let mut away = away_world();
    let mut remote = place(2, AWAY, BUYER, &[(2001, 1)]);
    remote.checkout = checkout_id(1);
    let Outcome::OrderPlaced(remote) = away.run(Command::from(remote)).0 else {
        panic!("shop 2's order");
    };
    assert_eq!(remote.total, fen(800));

    let captured = capture(&mut home, 2800);
    assert_eq!(captured.orders[1].settlement, Settlement::Pending);

    // The shell pays the other shop's order in its own shard, then reports back.
    away.now = home.now;
    let (outcome, effects) = away.run(Command::from(PayOrder {
        order: remote.id,
        intent: captured.id,
    }));
    let paid_remote = paid(&remote, 1, away.now);
    assert_eq!(outcome, Outcome::OrderPaid(paid_remote.clone()));
    assert_eq!(
        without_dispatch(&effects),
        vec![
            Effect::OrderTransitioned(paid_remote),
            Effect::StockChanged {
                shop: shop_id(AWAY),
                sku: sku_id(2001),
                warehouse: warehouse_id(21),
                level: level(STOCK - 1, 0, 1),
            },
        ]
    );

    home.advance_ms(500);
    let (outcome, effects) = home.run(settle(1, 2, true));
    let settled = PaymentIntent {
        orders: vec![
            captured.orders[0].clone(),
            IntentOrder {
                settlement: Settlement::Paid,
                ..captured.orders[1].clone()
            },
        ],
        updated_at: home.now,
        version: captured.version + 1,
        ..captured.clone()
    };
    assert_eq!(outcome, Outcome::PaymentIntent(settled.clone()));
    assert_eq!(effects, vec![Effect::PaymentIntentSaved(settled.clone())]);
    assert!(settled.is_settled());
    assert_eq!(home.store.orders[&order.id].paid_by, Some(intent_id(1)));
    assert_no_change(&mut home, 1, settle(1, 2, true), "the settlement reported again");
    assert_no_change(&mut home, 1, settle(1, 2, false), "a contradicting late report");
}

#[test]
fn a_remote_order_found_closed_gets_its_whole_share_refunded() {
    let (mut world, _, _) = two_shop_checkout();
    let captured = capture(&mut world, 2800);
    world.advance_ms(500);
    let now = world.now;
    let (outcome, effects) = world.run(settle(1, 2, false));
    let refund = pending_refund(950, 1, 2, 800, RefundReason::OrderClosed, now);
    let expected = PaymentIntent {
        orders: vec![
            captured.orders[0].clone(),
            IntentOrder {
                settlement: Settlement::Refunded,
                ..captured.orders[1].clone()
            },
        ],
        refunds: vec![refund.clone()],
        updated_at: now,
        // The refund, then the settlement.
        version: captured.version + 2,
        ..captured
    };
    assert_eq!(outcome, Outcome::PaymentIntent(expected.clone()));
    assert_eq!(
        effects,
        vec![
            Effect::RefundSaved {
                shop: shop_id(2),
                refund
            },
            Effect::PaymentIntentSaved(expected)
        ]
    );
    assert_no_change(&mut world, 1, settle(1, 2, false), "reported closed again");
    assert_refused(
        &mut world,
        1,
        settle(1, 42, true),
        Rejection::Payment(PaymentRefusal::NotInIntent),
        "an order that is not the intent's",
    );
}

// ── Refunds ────────────────────────────────────────────────────────────────────────────

#[test]
fn partial_refunds_are_allowed_up_to_the_orders_share() {
    let (mut world, _, _) = one_order_checkout();
    let captured = capture(&mut world, 2000);
    world.advance_ms(1_000);
    let now = world.now;

    let (outcome, effects) = world.run(request_refund(1, 1, 1, 300));
    let first = pending_refund(1, 1, 1, 300, RefundReason::Requested, now);
    let expected = PaymentIntent {
        refunds: vec![first.clone()],
        updated_at: now,
        version: captured.version + 1,
        ..captured
    };
    assert_eq!(outcome, Outcome::PaymentIntent(expected.clone()));
    assert_eq!(
        effects,
        vec![
            Effect::RefundSaved {
                shop: shop_id(1),
                refund: first
            },
            Effect::PaymentIntentSaved(expected.clone())
        ]
    );
    assert_eq!(expected.refundable(order_id(1)), Some(fen(1700)));

    let intent = intent_of(world.run(request_refund(1, 2, 1, 1700)).0);
    assert_eq!(intent.refunded(), fen(2000));
    assert_eq!(intent.refundable(order_id(1)), Some(Fen::ZERO));
    assert_refused(
        &mut world,
        1,
        request_refund(1, 3, 1, 1),
        Rejection::Payment(PaymentRefusal::RefundExceedsCaptured { refundable: Fen::ZERO }),
        "one fen more than the share",
    );
}

#[test]
fn a_refund_requested_again_under_the_same_request_opens_once() {
    let (mut world, _, _) = one_order_checkout();
    capture(&mut world, 2000);
    let requested = |refund: i64| {
        Command::from(RequestRefund {
            intent: intent_id(1),
            refund: refund_id(refund),
            order: order_id(1),
            amount: fen(300),
            reason: RefundReason::Requested,
            request: Some(RequestRef("merchant-key-1".into())),
            snapshot: None,
        })
    };
    let first = intent_of(world.run(requested(1)).0);
    assert_eq!(first.refunds.len(), 1);
    assert_eq!(first.refunds[0].request.as_deref(), Some("merchant-key-1"));
    // The retry (after a crash lost its stored answer) carries a fresh id and the same request.
    let (outcome, effects) = world.run(requested(2));
    assert_eq!(
        outcome,
        Outcome::PaymentIntent(first.clone()),
        "the first refund, not a second"
    );
    assert_eq!(effects, vec![], "nothing written");
    assert_eq!(first.refunded(), fen(300));
}

#[test]
fn refunds_beyond_what_an_order_paid_are_refused() {
    let (mut world, _, _) = two_shop_checkout();
    let exceeds = |refundable: i64| {
        Rejection::Payment(PaymentRefusal::RefundExceedsCaptured {
            refundable: fen(refundable),
        })
    };
    assert_refused(
        &mut world,
        1,
        request_refund(1, 1, 1, 100),
        exceeds(0),
        "before the capture",
    );
    capture(&mut world, 2800);
    world.run(request_refund(1, 1, 1, 500));
    let cases: Vec<(&str, Command, Rejection)> = vec![
        ("more than the share left", request_refund(1, 2, 1, 1501), exceeds(1500)),
        (
            "the whole checkout from one order",
            request_refund(1, 2, 1, 2800),
            exceeds(1500),
        ),
        ("nothing at all", request_refund(1, 2, 1, 0), exceeds(1500)),
        (
            "an order another shard has not settled",
            request_refund(1, 2, 2, 1),
            exceeds(0),
        ),
        (
            "an order that is not the intent's",
            request_refund(1, 2, 42, 1),
            Rejection::Payment(PaymentRefusal::NotInIntent),
        ),
        (
            "a refund id already used",
            request_refund(1, 1, 1, 1),
            Rejection::IdInUse,
        ),
    ];
    for (case, command, expected) in cases {
        assert_refused(&mut world, 1, command, expected, case);
    }
    assert_eq!(exceeds(0).code(), "refund_exceeds_captured");
    assert_eq!(
        Rejection::Payment(PaymentRefusal::NotInIntent).code(),
        "order_not_in_payment"
    );
}

#[test]
fn a_failed_refund_frees_its_amount_for_another() {
    let (mut world, _, _) = one_order_checkout();
    capture(&mut world, 2000);
    world.run(request_refund(1, 1, 1, 2000));
    world.advance_ms(1_000);
    let before = in_memory(&world, 1);

    let outcome = RefundOutcome::Failed {
        reason: "card closed".into(),
    };
    let (answer, effects) = world.run(record_refund(1, 1, outcome));
    let failed = Refund {
        status: RefundStatus::Failed,
        failure: Some("card closed".into()),
        settled_at: Some(world.now),
        ..before.refunds[0].clone()
    };
    let expected = PaymentIntent {
        refunds: vec![failed.clone()],
        updated_at: world.now,
        version: before.version + 1,
        ..before
    };
    assert_eq!(answer, Outcome::PaymentIntent(expected.clone()));
    assert_eq!(
        effects,
        vec![
            Effect::RefundSaved {
                shop: shop_id(1),
                refund: failed
            },
            Effect::PaymentIntentSaved(expected.clone())
        ]
    );
    assert_eq!(expected.refunded(), Fen::ZERO);
    assert_eq!(expected.refundable(order_id(1)), Some(fen(2000)));
    let again = intent_of(world.run(request_refund(1, 2, 1, 2000)).0);
    assert_eq!(again.refunded(), fen(2000));
}

#[test]
fn recording_a_refund_outcome_is_idempotent() {
    let (mut world, _, _) = one_order_checkout();
    capture(&mut world, 2000);
    world.run(request_refund(1, 1, 1, 800));
    assert_no_change(
        &mut world,
        1,
        record_refund(1, 1, RefundOutcome::Unknown),
        "an unknown refund outcome",
    );
    world.advance_ms(1_000);
    let before = in_memory(&world, 1);
    let (_, effects) = world.run(record_refund(1, 1, succeeded("re_1")));
    let done = Refund {
        status: RefundStatus::Succeeded,
        provider_refund_id: Some("re_1".into()),
        settled_at: Some(world.now),
        ..before.refunds[0].clone()
    };
    let expected = PaymentIntent {
        refunds: vec![done.clone()],
        updated_at: world.now,
        version: before.version + 1,
        ..before
    };
    assert_eq!(
        effects,
        vec![
            Effect::RefundSaved {
                shop: shop_id(1),
                refund: done
            },
            Effect::PaymentIntentSaved(expected)
        ]
    );
    world.advance_ms(1_000);
    for (case, outcome) in [
        ("the success again", succeeded("re_1")),
        (
            "a failure after the success",
            RefundOutcome::Failed { reason: "x".into() },
        ),
        ("unknown after the success", RefundOutcome::Unknown),
    ] {
        assert_no_change(&mut world, 1, record_refund(1, 1, outcome), case);
    }
    assert_refused(
        &mut world,
        1,
        record_refund(1, 2, succeeded("re_2")),
        Rejection::Payment(PaymentRefusal::UnknownRefund),
        "a refund the intent never opened",
    );
}

// ── Timers: expiry and eviction ────────────────────────────────────────────────────────

#[test]
fn an_unpaid_intent_expires_only_after_its_deadline_and_the_grace() {
    let (mut world, order, opened) = one_order_checkout();
    world.now = at(DUE_MS);
    let (_, effects) = world.run(Command::ExpireDue);
    assert_eq!(
        effects,
        vec![
            Effect::OrderTransitioned(expired(&order, world.now)),
            stock_changed(SKU, level(STOCK, 0, 0)),
        ],
        "the order is due at the deadline, the intent not yet"
    );
    world.now = at(DUE_MS + EXPIRY_GRACE_MS - 1);
    let (_, effects) = world.run(Command::ExpireDue);
    assert_eq!(effects, vec![], "one millisecond before the grace ends");

    world.now = at(DUE_MS + EXPIRY_GRACE_MS);
    let (outcome, effects) = world.run(Command::ExpireDue);
    let expired_intent = PaymentIntent {
        status: IntentStatus::Expired,
        updated_at: world.now,
        version: 2,
        ..opened
    };
    assert_eq!(outcome, Outcome::Expired { orders: vec![] });
    assert_eq!(effects, vec![Effect::PaymentIntentSaved(expired_intent.clone())]);
    assert_eq!(in_memory(&world, 1), expired_intent);
    assert_refused(
        &mut world,
        1,
        begin(1),
        Rejection::Payment(PaymentRefusal::IntentState(IntentStatus::Expired)),
        "an attempt after expiry",
    );
    let (_, effects) = world.run(Command::ExpireDue);
    assert_eq!(effects, vec![], "expired once");
}

#[test]
fn an_intent_with_an_attempt_in_flight_does_not_expire_until_the_answer() {
    let (mut world, _, _) = one_order_checkout();
    world.run(begin(1));
    world.now = at(DUE_MS + EXPIRY_GRACE_MS + 60_000);
    world.run(Command::ExpireDue);
    assert_eq!(in_memory(&world, 1).status, IntentStatus::RequiresConfirmation);

    world.run(charge(1, 1, ChargeOutcome::Declined(DeclineCode::RequestExpired)));
    assert_eq!(in_memory(&world, 1).status, IntentStatus::Failed);
    world.advance_ms(1);
    let (_, effects) = world.run(Command::ExpireDue);
    let status = |e: &Effect| match e {
        Effect::PaymentIntentSaved(i) => Some(i.status),
        _ => None,
    };
    assert_eq!(
        effects.iter().filter_map(status).collect::<Vec<_>>(),
        vec![IntentStatus::Expired]
    );
}

#[test]
fn a_captured_intent_never_expires() {
    let (mut world, _, _) = two_shop_checkout();
    capture(&mut world, 2800);
    for after in [DUE_MS, DUE_MS + EXPIRY_GRACE_MS, DUE_MS + 24 * 3_600_000] {
        world.now = at(after);
        let (_, effects) = world.run(Command::ExpireDue);
        assert_eq!(effects, vec![], "{after} ms after T0");
        assert_eq!(in_memory(&world, 1).status, IntentStatus::Captured);
    }
}

#[test]
fn a_settled_intent_leaves_memory_after_the_retention_and_a_snapshot_brings_it_back() {
    let (mut world, _, _) = one_order_checkout();
    let captured = capture(&mut world, 2000);
    assert!(captured.is_settled(), "its only order is paid");
    let leaves_at = captured.updated_at.unix_ms() + SETTLED_INTENT_RETENTION_MS;

    world.now = Timestamp::from_unix_ms(leaves_at - 1);
    world.run(Command::ExpireDue);
    assert_eq!(in_memory(&world, 1), captured, "kept during the retention");
    world.now = Timestamp::from_unix_ms(leaves_at);
    let (_, effects) = world.run(Command::ExpireDue);
    assert_eq!(effects, vec![], "leaving memory writes nothing");
    assert_eq!(world.state.payment_intent(intent_id(1)), None);

    let not_loaded = Rejection::PaymentIntentNotLoaded;
    assert_eq!(not_loaded.code(), "payment_intent_not_loaded");
    for (case, command) in [
        ("an attempt", begin(1)),
        ("a capture", charge(1, 1, captured_outcome())),
        ("a refund", request_refund(1, 1, 1, 100)),
        ("a refund outcome", record_refund(1, 1, succeeded("re"))),
        ("a settlement", settle(1, 1, true)),
    ] {
        assert_refused(&mut world, 1, command, not_loaded.clone(), case);
    }

    // The shell resends with the intent as stored.
    let stored = world.store.payment_intent(intent_id(1)).expect("stored");
    assert_eq!(stored, captured);
    let (outcome, effects) = world.run(Command::from(RecordCharge {
        intent: intent_id(1),
        attempt: 1,
        outcome: captured_outcome(),
        refunds: vec![],
        snapshot: Some(Box::new(stored.clone())),
    }));
    assert_eq!(outcome, Outcome::PaymentIntent(stored.clone()));
    assert_eq!(effects, vec![], "a duplicate capture after eviction writes nothing");
    assert_eq!(world.state.payment_intent(intent_id(1)), None);

    let now = world.now;
    let (outcome, effects) = world.run(Command::from(RequestRefund {
        intent: intent_id(1),
        refund: refund_id(1),
        order: order_id(1),
        amount: fen(100),
        reason: RefundReason::Requested,
        request: None,
        snapshot: Some(Box::new(stored.clone())),
    }));
    let refund = pending_refund(1, 1, 1, 100, RefundReason::Requested, now);
    let expected = PaymentIntent {
        refunds: vec![refund.clone()],
        updated_at: now,
        version: stored.version + 1,
        ..stored
    };
    assert_eq!(outcome, Outcome::PaymentIntent(expected.clone()));
    assert_eq!(
        effects,
        vec![
            Effect::RefundSaved {
                shop: shop_id(1),
                refund
            },
            Effect::PaymentIntentSaved(expected.clone())
        ]
    );
    assert_eq!(
        in_memory(&world, 1),
        expected,
        "back in memory while its refund is pending"
    );
}

fn captured_outcome() -> ChargeOutcome {
    captured("ch_1", 2000)
}

#[test]
fn a_snapshot_for_another_intent_is_not_taken() {
    let (mut world, _, _) = one_order_checkout();
    let mut other = in_memory(&world, 1);
    other.id = intent_id(2);
    assert_refused(
        &mut world,
        3,
        Command::from(BeginPaymentAttempt {
            intent: intent_id(3),
            one_tap: false,
            snapshot: Some(Box::new(other)),
            screening: None,
        }),
        Rejection::PaymentIntentNotLoaded,
        "a snapshot of intent 2 for intent 3",
    );
}

// ── Restarts ───────────────────────────────────────────────────────────────────────────

#[test]
fn after_a_restart_an_intent_open_to_attempts_waits_for_the_provider_on_the_next_one() {
    let (mut world, order, _) = one_order_checkout();
    world.run(begin(1));
    world.run(charge(1, 1, ChargeOutcome::Declined(DeclineCode::InsufficientFunds)));
    // Attempt 2 may or may not have reached the provider before the crash.
    world.run(begin(1));
    world.advance_ms(1_000);
    world.restart();
    let before = in_memory(&world, 1);
    assert_eq!((before.status, before.attempts), (IntentStatus::Failed, 1));

    assert_refused(
        &mut world,
        1,
        begin(1),
        Rejection::Payment(PaymentRefusal::AttemptInFlight),
        "an attempt before the provider was asked about attempt 2",
    );
    assert_eq!(world.open_orders(), vec![order]);
    assert_no_change(
        &mut world,
        1,
        charge(1, 1, ChargeOutcome::NotFound),
        "not found for attempt 1",
    );
    assert_refused(
        &mut world,
        1,
        begin(1),
        Rejection::Payment(PaymentRefusal::AttemptInFlight),
        "attempt 1's news say nothing about attempt 2",
    );
    assert_no_change(
        &mut world,
        1,
        charge(1, 2, ChargeOutcome::NotFound),
        "not found for attempt 2",
    );
    let Outcome::AttemptBegun { attempt, .. } = world.run(begin(1)).0 else {
        panic!("attempts are open again");
    };
    assert_eq!(
        attempt, 2,
        "attempt 2 never reached the provider: its reference is free"
    );
}

#[test]
fn after_a_restart_an_unanswered_attempt_blocks_expiry_until_not_found() {
    let (mut world, _, _) = one_order_checkout();
    world.restart();
    world.now = at(DUE_MS + EXPIRY_GRACE_MS);
    world.run(Command::ExpireDue);
    assert_eq!(in_memory(&world, 1).status, IntentStatus::RequiresConfirmation);
    world.run(charge(1, 1, ChargeOutcome::NotFound));
    let (_, effects) = world.run(Command::ExpireDue);
    assert!(
        matches!(effects.as_slice(), [Effect::PaymentIntentSaved(i)] if i.status == IntentStatus::Expired),
        "{effects:?}"
    );
}

#[test]
fn a_restart_keeps_what_is_unsettled_or_recent_and_forgets_settled_intents_after_the_retention() {
    let mut world = world();
    // Intent 1: captured and settled. Intent 2: captured, shop 2's order pending.
    let one = place_order(&mut world, 1, 1, HOME, &[(SKU, 1)]);
    let two = place_order(&mut world, 2, 2, HOME, &[(SKU, 1)]);
    world.run(open(1, 1, vec![share(&one)]));
    world.run(open(2, 2, vec![share(&two), away_share(3, 800, at(DUE_MS))]));
    world.run(charge(1, 1, captured("ch_1", 1000)));
    world.run(charge(2, 1, captured("ch_2", 1800)));
    let captured_one = in_memory(&world, 1);
    let captured_two = in_memory(&world, 2);

    world.now = at(SETTLED_INTENT_RETENTION_MS - 1);
    world.restart();
    assert_eq!(in_memory(&world, 1), captured_one, "settled but recent");
    assert_eq!(in_memory(&world, 2), captured_two);

    world.now = at(SETTLED_INTENT_RETENTION_MS + 1);
    world.restart();
    assert_eq!(world.state.payment_intent(intent_id(1)), None, "settled long ago");
    assert_eq!(in_memory(&world, 2), captured_two, "unsettled intents always come back");
    let (outcome, _) = world.run(open(5, 1, vec![share(&one)]));
    assert_eq!(
        outcome,
        Outcome::Rejected(Rejection::OrderNotOpen),
        "its checkout is paid, not open to another intent"
    );
}

/// The effects of paying, without those of dispatching the paid orders (the fulfillment spec
/// covers those); checks that each paid order was dispatched once.
fn without_dispatch(effects: &[Effect]) -> Vec<Effect> {
    let paid: Vec<_> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::OrderTransitioned(order) if order.state == miaodan_domain::orders::OrderState::Paid => {
                Some(order.id)
            }
            _ => None,
        })
        .collect();
    let dispatched: Vec<_> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::OrderDispatched { order, .. } => Some(order.id),
            _ => None,
        })
        .collect();
    assert_eq!(paid, dispatched, "every paid order is dispatched once");
    effects
        .iter()
        .filter(|e| !matches!(e, Effect::OrderDispatched { .. } | Effect::CapacityBooked { .. }))
        .cloned()
        .collect()
}
