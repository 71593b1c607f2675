//! State-machine property test of one shard: random sequences of orders, cancellations,
//! payments, clock advances with `ExpireDue`, merchant stock counts and restarts from what
//! the effects made durable. After every step the auditor checks the invariants of
//! TESTING.md (stock conservation, the reservation lifecycle, the order state machine,
//! tenant isolation) against a model store that knows only the emitted `Effect`s; the same
//! sequence run twice, and run with its restarts skipped, must give identical answers.

use crate::common;

use common::*;
use miaodan_domain::inventory::{MovementCause, StockLevel, StockMovement};
use miaodan_domain::orders::{CancelReason, Order, OrderState};
use miaodan_domain::shard::{CancelOrder, PayOrder, SetStock};
use miaodan_domain::shard::{
    Canceller, Command, EXPIRIES_PER_COMMAND_MAX, Effect, Outcome, PlaceOrder, Rejection, RequestRef,
};
use miaodan_domain::{BuyerId, Fen, OrderId, SkuId, Timestamp, WarehouseId};
use proptest::prelude::*;
use std::collections::BTreeMap;

/// The catalog of the shard under test: `(sku, shop, price in fen)`.
const SKUS: [(i64, i64, i64); 3] = [(1001, 1, 1999), (1002, 1, 500), (2001, 2, 800)];
/// `(warehouse, shop)`: shop 1 has two warehouses, so its lines can split.
const WAREHOUSES: [(i64, i64); 3] = [(11, 1), (12, 1), (21, 2)];
/// Every stock row a merchant may set: the first [`INITIAL_ROWS`] are stocked at the start,
/// the last one first appears through a `SetStock`.
const ROWS: [(i64, i64); 5] = [(1001, 11), (1001, 12), (1002, 11), (2001, 21), (1002, 12)];
const INITIAL_ROWS: usize = 4;
const BUYERS: i64 = 3;
const OPS_MAX: usize = 60;

#[derive(Clone, Copy, Debug)]
enum By {
    Owner,
    AnotherBuyer,
    Platform,
}

#[derive(Clone, Debug)]
enum Op {
    /// `lines` are `(pick, quantity)`: pick 0 is the other shop's SKU, any other pick one of
    /// the shop's own SKUs.
    Place {
        shop: i64,
        buyer: i64,
        lines: Vec<(usize, i64)>,
        timeout_seconds: i64,
        key: Option<u8>,
    },
    /// `pick` chooses among the orders placed so far.
    Cancel {
        pick: usize,
        by: By,
    },
    Pay {
        pick: usize,
    },
    Expire {
        after_seconds: i64,
    },
    SetStock {
        row: usize,
        available: i64,
    },
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    let by = prop_oneof![Just(By::Owner), Just(By::AnotherBuyer), Just(By::Platform)];
    prop_oneof![
        5 => (
            1..=2i64,
            1..=BUYERS,
            prop::collection::vec((0..8usize, 1..=5i64), 1..=3),
            1..=300i64,
            prop::option::of(0..4u8),
        )
            .prop_map(|(shop, buyer, lines, timeout_seconds, key)| Op::Place { shop, buyer, lines, timeout_seconds, key }),
        2 => (any::<usize>(), by).prop_map(|(pick, by)| Op::Cancel { pick, by }),
        2 => any::<usize>().prop_map(|pick| Op::Pay { pick }),
        2 => (0..=200i64).prop_map(|after_seconds| Op::Expire { after_seconds }),
        2 => (0..ROWS.len(), 0..=20i64).prop_map(|(row, available)| Op::SetStock { row, available }),
        1 => Just(Op::Restart),
    ]
}

/// Whether a `Restart` op rebuilds the shard from the store or is skipped; a run of either
/// kind must give the same answers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Restarts {
    Honoured,
    Skipped,
}

/// What the model says a place-order request must come to.
enum Expected {
    Replay(OrderId),
    Refusal(Rejection),
    Placement,
}

struct Harness {
    world: World,
    restarts: Restarts,
    /// available + reserved + sold per stock row, changed only by `SetStock`.
    expected_total: BTreeMap<(SkuId, WarehouseId), i64>,
    /// Orders placed so far, with their buyer, in placement order.
    placed: Vec<(OrderId, BuyerId)>,
    next_order: i64,
    last_sweep: Option<Timestamp>,
    versions: BTreeMap<OrderId, i64>,
    transcript: Vec<String>,
}

fn owner_of(sku: SkuId) -> i64 {
    SKUS.iter()
        .find(|(id, _, _)| *id == sku.get())
        .map(|(_, shop, _)| *shop)
        .expect("a SKU of the catalog")
}

fn price_of(sku: SkuId) -> i64 {
    SKUS.iter()
        .find(|(id, _, _)| *id == sku.get())
        .map(|(_, _, price)| *price)
        .expect("a SKU of the catalog")
}

/// Units that orders in `state` hold per stock row, according to the store.
fn held(store: &Store, state: OrderState) -> BTreeMap<(SkuId, WarehouseId), i64> {
    let mut held = BTreeMap::new();
    for order in store.orders_in(state) {
        for line in &order.lines {
            for allocation in &line.allocations {
                *held.entry((line.sku, allocation.warehouse)).or_default() += allocation.quantity;
            }
        }
    }
    held
}

impl Harness {
    fn new(initial: &[i64; INITIAL_ROWS], restarts: Restarts) -> Harness {
        let mut world = World::default();
        for shop in [1, 2] {
            world.shop(shop);
        }
        for (warehouse, shop) in WAREHOUSES {
            world.warehouse(warehouse, shop);
        }
        world.product(101, 1, &[(SKUS[0].0, SKUS[0].2), (SKUS[1].0, SKUS[1].2)]);
        world.product(201, 2, &[(SKUS[2].0, SKUS[2].2)]);
        for (&(sku, warehouse), &available) in ROWS.iter().zip(initial) {
            world.stock(owner_of(sku_id(sku)), sku, warehouse, available);
        }
        let expected_total = world
            .store
            .stock
            .iter()
            .map(|(row, level)| (*row, level.total()))
            .collect();
        Harness {
            world,
            restarts,
            expected_total,
            placed: Vec::new(),
            next_order: 1,
            last_sweep: None,
            versions: BTreeMap::new(),
            transcript: Vec::new(),
        }
    }

    fn step(&mut self, op: &Op) {
        let movements = self.world.store.movements.len();
        match op {
            Op::Place {
                shop,
                buyer,
                lines,
                timeout_seconds,
                key,
            } => {
                self.place(*shop, *buyer, lines, *timeout_seconds, *key);
            }
            Op::Cancel { pick, by } => self.cancel(*pick, *by),
            Op::Pay { pick } => self.pay(*pick),
            Op::Expire { after_seconds } => self.expire(*after_seconds),
            Op::SetStock { row, available } => self.set_stock(*row, *available),
            Op::Restart => self.restart(),
        }
        if !matches!(op, Op::SetStock { .. }) {
            assert_eq!(
                self.world.store.movements.len(),
                movements,
                "only a merchant's count is a stock movement: {op:?}"
            );
        }
        self.audit();
    }

    /// Applies a command, checks its effects against the store as it was before them, and
    /// records the answer.
    fn apply(&mut self, command: Command) -> (Outcome, Vec<Effect>) {
        let before = self.world.store.clone();
        let (outcome, effects) = self.world.run(command);
        check_effects(&before, &effects);
        if matches!(outcome, Outcome::Rejected(_) | Outcome::OrderAlreadyPlaced(_)) {
            assert_eq!(effects, vec![], "{outcome:?} must change nothing");
        }
        self.transcript.push(format!("{outcome:?} {effects:?}"));
        (outcome, effects)
    }

    fn place(&mut self, shop: i64, buyer: i64, picks: &[(usize, i64)], timeout_seconds: i64, key: Option<u8>) {
        let own: Vec<i64> = SKUS.iter().filter(|s| s.1 == shop).map(|s| s.0).collect();
        let foreign = SKUS.iter().find(|s| s.1 != shop).map(|s| s.0).expect("two shops");
        let lines: Vec<(i64, i64)> = picks
            .iter()
            .map(|&(pick, units)| (if pick == 0 { foreign } else { own[pick % own.len()] }, units))
            .collect();
        let id = self.next_order;
        self.next_order += 1;
        let command = PlaceOrder {
            payment_timeout_seconds: timeout_seconds,
            request: key.map(|key| RequestRef(format!("buyer-{buyer}/key-{key}"))),
            ..place(id, shop, buyer, &lines)
        };
        let expected = self.expected_placement(&command);
        let now = self.world.now;
        let (outcome, effects) = self.apply(Command::from(command.clone()));
        match expected {
            Expected::Replay(order) => assert_eq!(outcome, Outcome::OrderAlreadyPlaced(order)),
            Expected::Refusal(rejection) => assert_eq!(outcome, Outcome::Rejected(rejection)),
            Expected::Placement => {
                let Outcome::OrderPlaced(order) = outcome else {
                    panic!("expected a placement, got {outcome:?}")
                };
                check_placed(&order, &command, now);
                let created = Effect::OrderCreated {
                    order: order.clone(),
                    request: command.request.clone(),
                };
                assert_eq!(
                    effects.last(),
                    Some(&created),
                    "the order is created after its stock rows"
                );
                self.placed.push((order.id, order.buyer));
            }
        }
    }

    /// The model of `place_order`: a replay first, then each line in order against the
    /// available units the store holds (the shop and line count are always valid here).
    fn expected_placement(&self, command: &PlaceOrder) -> Expected {
        let store = &self.world.store;
        if let Some(order) = command.request.as_ref().and_then(|request| store.requests.get(request)) {
            return Expected::Replay(*order);
        }
        let mut available: BTreeMap<SkuId, i64> = BTreeMap::new();
        for (&(sku, _), level) in &store.stock {
            *available.entry(sku).or_default() += level.available;
        }
        for line in &command.lines {
            if store.skus.get(&line.sku).is_none_or(|sku| sku.shop != command.shop) {
                return Expected::Refusal(Rejection::UnknownSku { sku: line.sku });
            }
            let left = available.entry(line.sku).or_default();
            let requested = line.quantity.get();
            if *left < requested {
                return Expected::Refusal(Rejection::InsufficientStock {
                    sku: line.sku,
                    requested,
                    available: *left,
                });
            }
            *left -= requested;
        }
        Expected::Placement
    }

    fn picked(&self, pick: usize) -> Option<(OrderId, BuyerId)> {
        (!self.placed.is_empty()).then(|| self.placed[pick % self.placed.len()])
    }

    /// The stored order if it is still open.
    fn open_in_store(&self, id: OrderId) -> Option<Order> {
        self.world
            .store
            .orders
            .get(&id)
            .filter(|order| order.state == OrderState::PendingPayment)
            .cloned()
    }

    fn cancel(&mut self, pick: usize, by: By) {
        let Some((id, owner)) = self.picked(pick) else {
            self.transcript.push("nothing to cancel".into());
            return;
        };
        let (canceller, reason) = match by {
            By::Owner => (Canceller::Buyer(owner), CancelReason::BuyerCancelled),
            By::AnotherBuyer => (
                Canceller::Buyer(buyer_id(owner.get() % BUYERS + 1)),
                CancelReason::BuyerCancelled,
            ),
            By::Platform => (Canceller::Platform, CancelReason::CheckoutFailed),
        };
        let open = self.open_in_store(id);
        let now = self.world.now;
        let (outcome, _) = self.apply(Command::from(CancelOrder {
            order: id,
            by: canceller,
            reason,
        }));
        match (open, by) {
            (Some(mut order), By::Owner | By::Platform) => {
                order.state = OrderState::Cancelled;
                order.version += 1;
                order.cancelled_at = Some(now);
                order.cancel_reason = Some(reason);
                assert_eq!(outcome, Outcome::OrderCancelled(order));
            }
            _ => assert_eq!(
                outcome,
                Outcome::Rejected(Rejection::OrderNotOpen),
                "{by:?} cancelling {id}"
            ),
        }
    }

    fn pay(&mut self, pick: usize) {
        let Some((id, _)) = self.picked(pick) else {
            self.transcript.push("nothing to pay".into());
            return;
        };
        let open = self.open_in_store(id);
        let now = self.world.now;
        let (outcome, _) = self.apply(Command::from(PayOrder {
            order: id,
            intent: intent_id(id.get()),
        }));
        match open {
            Some(mut order) => {
                order.state = OrderState::Paid;
                order.version += 1;
                order.paid_at = Some(now);
                order.paid_by = Some(intent_id(id.get()));
                // Dispatch may move a paid order's units to the warehouse that ships them
                // (check_effects holds it to the same units per line).
                if let Outcome::OrderPaid(paid) = &outcome {
                    for (line, dispatched) in order.lines.iter_mut().zip(&paid.lines) {
                        line.allocations = dispatched.allocations.clone();
                    }
                }
                assert_eq!(outcome, Outcome::OrderPaid(order));
            }
            None => assert_eq!(outcome, Outcome::Rejected(Rejection::OrderNotOpen), "paying {id}"),
        }
    }

    fn expire(&mut self, after_seconds: i64) {
        self.world.advance_ms(after_seconds * 1000);
        let now = self.world.now;
        let mut due: Vec<(Timestamp, OrderId)> = self
            .world
            .store
            .orders_in(OrderState::PendingPayment)
            .filter(|order| order.payment_due_at <= now)
            .map(|order| (order.payment_due_at, order.id))
            .collect();
        due.sort();
        assert!(
            due.len() <= EXPIRIES_PER_COMMAND_MAX,
            "the workload stays under the sweep limit"
        );
        let (outcome, _) = self.apply(Command::ExpireDue);
        let expected: Vec<OrderId> = due.iter().map(|(_, id)| *id).collect();
        assert_eq!(
            outcome,
            Outcome::Expired {
                orders: expected.clone()
            }
        );
        for id in expected {
            let order = &self.world.store.orders[&id];
            assert_eq!(
                (order.cancel_reason, order.cancelled_at),
                (Some(CancelReason::PaymentTimeout), Some(now))
            );
        }
        self.last_sweep = Some(now);
    }

    fn set_stock(&mut self, row: usize, available: i64) {
        let (sku, warehouse) = (sku_id(ROWS[row].0), warehouse_id(ROWS[row].1));
        let shop = shop_id(owner_of(sku));
        let old = self
            .world
            .store
            .stock
            .get(&(sku, warehouse))
            .copied()
            .unwrap_or_default();
        let (outcome, effects) = self.apply(Command::from(SetStock {
            shop,
            sku,
            warehouse,
            available,
        }));
        let level = StockLevel { available, ..old };
        assert_eq!(outcome, Outcome::StockSet { sku, warehouse, level });
        let mut expected = vec![Effect::StockChanged {
            shop,
            sku,
            warehouse,
            level,
        }];
        // A count that changes the units available is a ledger line; one that does not is none.
        if available != old.available {
            expected.push(Effect::StockMoved(StockMovement {
                shop,
                sku,
                warehouse,
                delta: available - old.available,
                available_after: available,
                at: self.world.now,
                cause: MovementCause::MerchantSet,
            }));
        }
        assert_eq!(effects, expected);
        *self.expected_total.entry((sku, warehouse)).or_default() += available - old.available;
    }

    fn restart(&mut self) {
        self.transcript.push("restart".into());
        if self.restarts == Restarts::Skipped {
            return;
        }
        let inventory = self.world.state.inventory().clone();
        let open = self.world.open_orders();
        self.world.restart();
        assert_eq!(
            self.world.state.inventory(),
            &inventory,
            "the restarted shard has other stock"
        );
        assert_eq!(
            self.world.open_orders(),
            open,
            "the restarted shard has other open orders"
        );
    }

    /// The invariants, checked after every step.
    fn audit(&mut self) {
        let store = &self.world.store;
        let reserved = held(store, OrderState::PendingPayment);
        let sold = held(store, OrderState::Paid);
        for (row, level) in &store.stock {
            let (sku, warehouse) = *row;
            let live = self.world.state.inventory().level(sku, warehouse);
            assert_eq!(&live, level, "{sku}@{warehouse}: memory and store disagree");
            assert!(
                level.available >= 0 && level.reserved >= 0 && level.sold >= 0,
                "negative stock {level:?}"
            );
            assert_eq!(
                level.total(),
                self.expected_total[row],
                "{sku}@{warehouse}: units appeared or vanished"
            );
            assert_eq!(
                level.reserved,
                reserved.get(row).copied().unwrap_or(0),
                "{sku}@{warehouse}: reserved"
            );
            assert_eq!(
                level.sold,
                sold.get(row).copied().unwrap_or(0),
                "{sku}@{warehouse}: sold"
            );
        }
        for row in reserved.keys().chain(sold.keys()) {
            assert!(
                store.stock.contains_key(row),
                "orders hold units of a row never written: {row:?}"
            );
        }
        for &(sku, _, _) in &SKUS {
            for (warehouse, _) in self.world.state.inventory().levels_of(sku_id(sku)) {
                assert!(
                    store.stock.contains_key(&(sku_id(sku), warehouse)),
                    "row {sku}@{warehouse} is not durable"
                );
            }
        }
        let pending: Vec<Order> = store.orders_in(OrderState::PendingPayment).cloned().collect();
        assert_eq!(
            self.world.open_orders(),
            pending,
            "open orders in memory and in the store disagree"
        );
        for order in store.orders.values() {
            let fields = (
                order.paid_at.is_some(),
                order.cancelled_at.is_some(),
                order.cancel_reason.is_some(),
            );
            let consistent = match order.state {
                OrderState::PendingPayment => fields == (false, false, false),
                OrderState::Paid | OrderState::Shipped | OrderState::Delivered => fields == (true, false, false),
                OrderState::Cancelled => fields == (false, true, true),
            };
            assert!(consistent, "order {} is {:?} with {fields:?}", order.id, order.state);
            let seen = self.versions.entry(order.id).or_insert(order.version);
            assert!(
                order.version >= *seen,
                "order {} went back from version {seen}",
                order.id
            );
            *seen = order.version;
        }
        if let Some(sweep) = self.last_sweep {
            let overdue: Vec<OrderId> = pending
                .iter()
                .filter(|o| o.payment_due_at <= sweep)
                .map(|o| o.id)
                .collect();
            assert_eq!(
                overdue,
                vec![],
                "orders due by the last sweep at {sweep:?} are still open"
            );
        }
    }
}

/// Each effect against the store before it: orders are created once at version 1 and then
/// make one legal transition each, bumping the version by one; stock rows name their owner.
fn check_effects(before: &Store, effects: &[Effect]) {
    let mut orders = before.orders.clone();
    for effect in effects {
        match effect {
            Effect::OrderCreated { order, .. } => {
                assert!(!orders.contains_key(&order.id), "order {} created twice", order.id);
                assert_eq!((order.state, order.version), (OrderState::PendingPayment, 1));
                orders.insert(order.id, order.clone());
            }
            Effect::OrderTransitioned(order) => {
                let previous = orders.get(&order.id).expect("a transition of a known order");
                assert_eq!(
                    previous.state,
                    OrderState::PendingPayment,
                    "order {} left a final state",
                    order.id
                );
                assert_ne!(order.state, OrderState::PendingPayment, "a transition to where it was");
                assert_eq!(order.version, previous.version + 1, "order {} version", order.id);
                assert_eq!(
                    (&order.lines, order.total),
                    (&previous.lines, previous.total),
                    "a transition changed lines"
                );
                orders.insert(order.id, order.clone());
            }
            Effect::OrderReaddressed(order) => {
                let previous = orders.get(&order.id).expect("a change of address of a known order");
                assert_eq!(order.state, previous.state, "a change of address changed the state");
                assert_eq!(order.version, previous.version + 1, "order {} version", order.id);
                orders.insert(order.id, order.clone());
            }
            Effect::StockChanged { shop, sku, .. } => {
                assert_eq!(shop.get(), owner_of(*sku), "stock of {sku} written under shop {shop}");
            }
            Effect::FlashSaleSaved(sale)
            | Effect::FlashSaleEnded { sale, .. }
            | Effect::FlashSaleToppedUp { sale, .. } => {
                assert!(
                    sale.remaining >= 0 && sale.remaining <= sale.allotted,
                    "flash sale {} units",
                    sale.id
                );
            }
            Effect::OrderDispatched { order, decision } => {
                // Dispatch may move where a paid order's units come from, never what it holds.
                let previous = orders.get(&order.id).expect("a dispatch of a known order");
                assert_eq!(previous.state, OrderState::Paid, "order {} dispatched unpaid", order.id);
                assert_eq!(
                    (order.state, order.version, order.total),
                    (previous.state, previous.version, previous.total)
                );
                for (line, before) in order.lines.iter().zip(&previous.lines) {
                    assert_eq!((line.sku, line.quantity), (before.sku, before.quantity));
                    let moved: i64 = line.allocations.iter().map(|a| a.quantity).sum();
                    assert_eq!(
                        moved,
                        line.quantity.get(),
                        "order {} line {} allocations",
                        order.id,
                        line.sku
                    );
                }
                let parcel_units: i64 = decision
                    .parcels
                    .iter()
                    .flat_map(|p| p.lines.iter())
                    .map(|(_, q)| q)
                    .sum();
                let order_units: i64 = order.lines.iter().map(|l| l.quantity.get()).sum();
                assert_eq!(parcel_units, order_units, "order {} parcels", order.id);
                orders.insert(order.id, order.clone());
            }
            Effect::ShopSaved(_)
            | Effect::WarehouseSaved(_)
            | Effect::ProductSaved(_)
            | Effect::SkuSaved(_)
            | Effect::FulfillmentConfigured { .. }
            | Effect::FlashSaleTapsCounted { .. }
            // A risk decision is a record of a tap's screening: it moves no unit.
            | Effect::RiskDecided(_)
            // The ledger line of a count whose `StockChanged` carries the level.
            | Effect::StockMoved(_)
            | Effect::CapacityBooked { .. } => {}
            Effect::ShipmentSaved(_)
            | Effect::AlertSaved(_)
            | Effect::AlertWorked { .. }
            | Effect::SlaRulesSaved { .. }
            | Effect::ShortageNoticed(_)
            | Effect::AfterSalesSaved(_)
            | Effect::AfterSalesPolicySaved { .. } => {
                panic!("no command of this workload ships, reports a shortage or asks after-sales, yet: {effect:?}")
            }
            Effect::PaymentIntentSaved(_) | Effect::RefundSaved { .. } => {
                panic!("no command of this workload touches a payment, yet it saved {effect:?}")
            }
        }
    }
}

/// A placed order is what was asked for, priced from the catalog, held in the shop's own
/// warehouses.
fn check_placed(order: &Order, command: &PlaceOrder, now: Timestamp) {
    assert_eq!(
        (order.id, order.shop, order.buyer),
        (command.id, command.shop, command.buyer)
    );
    assert_eq!(
        (order.state, order.version, order.created_at),
        (OrderState::PendingPayment, 1, now)
    );
    assert_eq!(order.payment_due_at, now.plus_seconds(command.payment_timeout_seconds));
    assert_eq!(order.lines.len(), command.lines.len());
    let mut total = 0;
    for (line, request) in order.lines.iter().zip(&command.lines) {
        assert_eq!((line.sku, line.quantity), (request.sku, request.quantity));
        assert_eq!(line.unit_price.get(), price_of(line.sku));
        total += line.unit_price.get() * line.quantity.get();
        let allocated: i64 = line.allocations.iter().map(|a| a.quantity).sum();
        assert_eq!(
            allocated,
            line.quantity.get(),
            "line of {} is not fully allocated",
            line.sku
        );
        for allocation in &line.allocations {
            assert!(allocation.quantity > 0, "empty allocation {allocation:?}");
            assert!(
                WAREHOUSES.contains(&(allocation.warehouse.get(), order.shop.get())),
                "foreign warehouse"
            );
        }
    }
    assert_eq!(order.total, Fen::from_stored(total).expect("non-negative"));
}

fn run(initial: &[i64; INITIAL_ROWS], ops: &[Op], restarts: Restarts) -> Vec<String> {
    let mut harness = Harness::new(initial, restarts);
    for op in ops {
        harness.step(op);
    }
    harness.transcript
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn stock_is_conserved_and_orders_follow_their_lifecycle_across_restarts(
        initial in prop::array::uniform4(0..=10i64),
        ops in prop::collection::vec(op(), 1..=OPS_MAX),
    ) {
        let first = run(&initial, &ops, Restarts::Honoured);
        let again = run(&initial, &ops, Restarts::Honoured);
        prop_assert_eq!(&first, &again, "the same commands gave different answers");
        let unrestarted = run(&initial, &ops, Restarts::Skipped);
        prop_assert_eq!(&first, &unrestarted, "a restart changed an answer");
    }
}
