//! Flash sales (秒单) through `ShardState::apply`.
//!
//! First the specification, named as sentences: scheduling moves the allotted units from
//! available to reserved (or is refused, in the documented order); a tap is decided
//! `not_started` → `ended` → `limit_reached` → `sold_out` → `ordered`; a flash order cancelled
//! or expired while its sale runs gives its units back to the sale, and after the sale closed
//! releases them to available; the end of a sale returns what it still holds exactly once;
//! paying turns the units sold.
//!
//! Then a state-machine property test: random taps, retried taps, payments, cancellations,
//! clock advances with `ExpireDue`, late schedules and restarts from what the effects made
//! durable, with an auditor that checks after every step that no sale oversells, no buyer
//! passes the limit, stock is conserved and reserved/sold agree with orders and sales, and
//! that every tap is answered as a small model predicts. The same sequence run twice, and run
//! with its restarts skipped, must give identical transcripts.

use crate::common;

use common::*;
use miaodan_domain::flash_sale::{
    self, FLASH_DURATION_SECONDS_MAX, FLASH_UNITS_MAX, FlashSale, FlashSaleId, ScheduleProblem, TapCounts, TapRefusal,
};
use miaodan_domain::inventory::{Allocation, StockLevel};
use miaodan_domain::orders::{CancelReason, Order, OrderLine, OrderState};
use miaodan_domain::shard::{CancelOrder, PayOrder};
use miaodan_domain::shard::{Canceller, Command, Effect, Outcome, Rejection, RequestRef, ScheduleFlashSale, Tap};
use miaodan_domain::{BuyerId, OrderId, Timestamp, WarehouseId};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

// ---------------------------------------------------------------------------------------------
// Specification
// ---------------------------------------------------------------------------------------------

/// The flash-sold SKU (shop 1, ¥19.99 outside the sale) and its flash price.
const SKU: i64 = 1001;
const FLASH_PRICE: i64 = 990;
const TIMEOUT_SECONDS: i64 = 300;
const HOUR: i64 = 3_600_000;
/// The window of the sales in the specification, in ms after `T0` (when they are scheduled).
const START: i64 = 60_000;
const END: i64 = HOUR;

const MUST_END_AFTER_START: ScheduleProblem = ScheduleProblem::EndsBeforeStart;
const AT_MOST_7_DAYS: ScheduleProblem = ScheduleProblem::LastsTooLong;
const ALREADY_ENDED: ScheduleProblem = ScheduleProblem::AlreadyEnded;
const UNITS_OUT_OF_RANGE: ScheduleProblem = ScheduleProblem::UnitsOutOfRange;
const LIMIT_OUT_OF_RANGE: ScheduleProblem = ScheduleProblem::LimitOutOfRange;
const TIMEOUT_OUT_OF_RANGE: ScheduleProblem = ScheduleProblem::PaymentTimeoutOutOfRange;

/// Shop 1 sells product 101 (SKU 1001 at ¥19.99, SKU 1002 at ¥5.00) from warehouses 11 and
/// 12; shop 2 sells product 201 (SKU 2001) from warehouse 21.
///
/// | sku  | warehouse | available |
/// |------|-----------|-----------|
/// | 1001 | 11        | 10        |
/// | 1001 | 12        | 4         |
/// | 2001 | 21        | 10        |
fn shops() -> World {
    let mut world = World::default();
    world
        .shop(1)
        .warehouse(11, 1)
        .warehouse(12, 1)
        .product(101, 1, &[(1001, 1999), (1002, 500)])
        .stock(1, 1001, 11, 10)
        .stock(1, 1001, 12, 4)
        .shop(2)
        .warehouse(21, 2)
        .product(201, 2, &[(2001, 800)])
        .stock(2, 2001, 21, 10);
    world
}

fn sale_id(n: i64) -> FlashSaleId {
    FlashSaleId::new(n).expect("positive flash sale id")
}

fn at(ms_after_t0: i64) -> Timestamp {
    plus_ms(T0, ms_after_t0)
}

fn plus_ms(t: Timestamp, ms: i64) -> Timestamp {
    Timestamp::from_unix_ms(t.unix_ms() + ms)
}

/// Shop 1's sale `id` of SKU 1001 from `warehouse`, running from `START` to `END` at ¥9.90.
fn sale(id: i64, warehouse: i64, units: i64, limit: i64) -> ScheduleFlashSale {
    ScheduleFlashSale {
        id: sale_id(id),
        shop: shop_id(1),
        sku: sku_id(SKU),
        warehouse: warehouse_id(warehouse),
        starts_at: at(START),
        ends_at: at(END),
        price: fen(FLASH_PRICE),
        units,
        per_buyer_limit: limit,
        payment_timeout_seconds: TIMEOUT_SECONDS,
    }
}

/// The sale a schedule must create.
fn scheduled(s: &ScheduleFlashSale, created_at: Timestamp) -> FlashSale {
    FlashSale {
        id: s.id,
        shop: s.shop,
        sku: s.sku,
        warehouse: s.warehouse,
        starts_at: s.starts_at,
        ends_at: s.ends_at,
        price: s.price,
        allotted: s.units,
        remaining: s.units,
        per_buyer_limit: s.per_buyer_limit,
        payment_timeout_seconds: s.payment_timeout_seconds,
        closed: false,
        created_at,
    }
}

/// `shops()` with `schedule` made at `T0`, and the clock moved to `START`.
fn running(schedule: ScheduleFlashSale) -> World {
    let mut world = shops();
    world.setup(Command::from(schedule));
    world.now = at(START);
    world
}

/// `shops()` with sale 1 of `units` from warehouse 11 (limit `limit`) running, at `START`.
/// The refusal of a tap over the per-buyer limit, with how many units the buyer may still take.
fn over_limit(per_buyer_limit: i64, remaining_allowed: i64) -> TapRefusal {
    TapRefusal::LimitReached {
        per_buyer_limit,
        remaining_allowed,
    }
}

fn live_sale(units: i64, limit: i64) -> World {
    running(sale(1, 11, units, limit))
}

fn tap(sale: i64, order: i64, buyer: i64, units: i64) -> Command {
    Command::from(Tap {
        sale: sale_id(sale),
        order: order_id(order),
        checkout: checkout_id(order),
        buyer: buyer_id(buyer),
        quantity: quantity(units),
        address: address(),
        request: None,
        client: Default::default(),
    })
}

fn tap_with_request(sale: i64, order: i64, buyer: i64, units: i64, request: &str) -> Command {
    let Command::FlashSale(flash_sale::Command::Tap(t)) = tap(sale, order, buyer, units) else {
        unreachable!()
    };
    Command::from(Tap {
        request: Some(RequestRef(request.into())),
        ..t
    })
}

fn cancel_by_buyer(order: i64, buyer: i64) -> Command {
    Command::from(CancelOrder {
        order: order_id(order),
        by: Canceller::Buyer(buyer_id(buyer)),
        reason: CancelReason::BuyerCancelled,
    })
}

fn pay(order: i64) -> Command {
    Command::from(PayOrder {
        order: order_id(order),
        intent: intent_id(order),
    })
}

fn placed(outcome: Outcome) -> Order {
    match outcome {
        Outcome::OrderPlaced(order) => order,
        other => panic!("expected the order to be placed, got {other:?}"),
    }
}

fn stock_changed(sku: i64, warehouse: i64, level: StockLevel) -> Effect {
    let shop = if sku >= 2000 { 2 } else { 1 };
    Effect::StockChanged {
        shop: shop_id(shop),
        sku: sku_id(sku),
        warehouse: warehouse_id(warehouse),
        level,
    }
}

fn flash_sale(world: &World, id: i64) -> FlashSale {
    world
        .state
        .flash_sale(sale_id(id))
        .expect("the shard knows the sale")
        .sale
        .clone()
}

fn bought_by(world: &World, sale: i64, buyer: i64) -> i64 {
    world
        .state
        .flash_sale(sale_id(sale))
        .expect("the shard knows the sale")
        .bought_by(buyer_id(buyer))
}

fn with_remaining(sale: &FlashSale, remaining: i64) -> FlashSale {
    FlashSale {
        remaining,
        ..sale.clone()
    }
}

fn closed(sale: &FlashSale) -> FlashSale {
    FlashSale {
        remaining: 0,
        closed: true,
        ..sale.clone()
    }
}

fn cancelled(order: &Order, reason: CancelReason, now: Timestamp) -> Order {
    Order {
        state: OrderState::Cancelled,
        version: order.version + 1,
        cancelled_at: Some(now),
        cancel_reason: Some(reason),
        ..order.clone()
    }
}

fn paid(order: &Order, now: Timestamp) -> Order {
    Order {
        state: OrderState::Paid,
        version: order.version + 1,
        paid_at: Some(now),
        paid_by: Some(intent_id(order.id.get())),
        ..order.clone()
    }
}

/// Everything a refusal must leave as it was.
fn fingerprint(world: &World) -> (miaodan_domain::inventory::Inventory, Vec<Order>, Vec<FlashSale>) {
    let sales = (1..=3)
        .filter_map(|id| world.state.flash_sale(sale_id(id)).map(|b| b.sale.clone()))
        .collect();
    (world.state.inventory().clone(), world.open_orders(), sales)
}

/// Applies `command`, which must be refused with `expected` and leave no trace.
fn assert_refused(world: &mut World, command: Command, expected: Rejection, case: &str) {
    let before = fingerprint(world);
    let (outcome, effects) = world.run(command);
    assert_eq!(outcome, Outcome::Rejected(expected), "{case}");
    assert_eq!(effects, vec![], "{case}: a refusal emits no effects");
    assert_eq!(fingerprint(world), before, "{case}: a refusal changes nothing");
}

#[test]
fn scheduling_a_sale_moves_its_units_from_available_to_reserved() {
    let mut world = shops();
    let command = sale(1, 11, 4, 2);
    let (outcome, effects) = world.run(Command::from(command.clone()));
    let expected = scheduled(&command, T0);
    assert_eq!(outcome, Outcome::FlashSaleScheduled(expected.clone()));
    assert_eq!(
        effects,
        vec![
            stock_changed(SKU, 11, level(6, 4, 0)),
            Effect::FlashSaleSaved(expected.clone())
        ]
    );
    assert_eq!(
        world.level(SKU, 12),
        level(4, 0, 0),
        "only the sale's warehouse gives units"
    );
    assert_eq!(flash_sale(&world, 1), expected);
    assert_eq!(world.store.flash_sales.get(&sale_id(1)), Some(&expected));

    // The reservation cross-check of a restart counts the units the sale holds.
    world.restart();
    assert_eq!(world.level(SKU, 11), level(6, 4, 0));
    assert_eq!(flash_sale(&world, 1), expected);
}

#[test]
fn a_sale_may_allot_every_available_unit_of_its_warehouse_but_no_more() {
    let mut world = shops();
    world.setup(Command::from(sale(1, 11, 6, 1)));
    // The shop holds 4 more units in warehouse 12, but a sale draws from its own warehouse only.
    assert_refused(
        &mut world,
        Command::from(sale(2, 11, 5, 1)),
        Rejection::InsufficientStock {
            sku: sku_id(SKU),
            requested: 5,
            available: 4,
        },
        "five units of the four left in warehouse 11",
    );
    let (outcome, _) = world.run(Command::from(sale(2, 11, 4, 1)));
    assert!(matches!(outcome, Outcome::FlashSaleScheduled(_)), "{outcome:?}");
    assert_eq!(world.level(SKU, 11), level(0, 10, 0));
    world.restart();
    assert_eq!(world.level(SKU, 11), level(0, 10, 0));
}

#[test]
fn an_ordinary_order_cannot_take_the_units_a_sale_holds() {
    let mut world = shops();
    world.setup(Command::from(sale(1, 11, 8, 1)));
    assert_refused(
        &mut world,
        Command::from(place(1, 1, 7, &[(SKU, 7)])),
        Rejection::InsufficientStock {
            sku: sku_id(SKU),
            requested: 7,
            available: 6,
        },
        "seven units when the sale holds eight of fourteen",
    );
    let order = placed(world.run(Command::from(place(1, 1, 7, &[(SKU, 6)]))).0);
    assert_eq!(
        order.lines[0].unit_price,
        fen(1999),
        "an ordinary order pays the list price"
    );
    assert_eq!(order.flash_sale, None);
    assert_eq!(world.level(SKU, 11), level(0, 10, 0));
    assert_eq!(world.level(SKU, 12), level(0, 4, 0));
    assert_eq!(flash_sale(&world, 1).remaining, 8);
}

#[test]
fn scheduling_refusals_follow_the_documented_precedence() {
    type Change = fn(&mut ScheduleFlashSale);
    let invalid = Rejection::InvalidFlashSale;
    let cases: Vec<(&str, Change, Rejection)> = vec![
        (
            "another shop's SKU",
            |s| s.sku = sku_id(2001),
            Rejection::UnknownSku { sku: sku_id(2001) },
        ),
        (
            "an unknown SKU",
            |s| s.sku = sku_id(9999),
            Rejection::UnknownSku { sku: sku_id(9999) },
        ),
        (
            "an unknown shop",
            |s| s.shop = shop_id(9),
            Rejection::UnknownSku { sku: sku_id(SKU) },
        ),
        (
            "another shop's SKU, with nonsense times and a reused id",
            |s| {
                s.sku = sku_id(2001);
                s.ends_at = s.starts_at;
                s.id = sale_id(1);
            },
            Rejection::UnknownSku { sku: sku_id(2001) },
        ),
        (
            "another shop's warehouse",
            |s| s.warehouse = warehouse_id(21),
            Rejection::UnknownWarehouse,
        ),
        (
            "an unknown warehouse",
            |s| s.warehouse = warehouse_id(99),
            Rejection::UnknownWarehouse,
        ),
        (
            "another shop's warehouse, with a reused id",
            |s| {
                s.warehouse = warehouse_id(21);
                s.id = sale_id(1);
            },
            Rejection::UnknownWarehouse,
        ),
        ("a reused id", |s| s.id = sale_id(1), Rejection::IdInUse),
        (
            "a reused id, with nonsense times and too many units",
            |s| {
                s.id = sale_id(1);
                s.ends_at = s.starts_at;
                s.units = 1_000;
            },
            Rejection::IdInUse,
        ),
        (
            "an end at the start",
            |s| s.ends_at = s.starts_at,
            invalid(MUST_END_AFTER_START),
        ),
        (
            "an end before the start",
            |s| s.ends_at = at(START - 1),
            invalid(MUST_END_AFTER_START),
        ),
        (
            "7 days and 1 ms",
            |s| s.ends_at = plus_ms(s.starts_at.plus_seconds(FLASH_DURATION_SECONDS_MAX), 1),
            invalid(AT_MOST_7_DAYS),
        ),
        (
            "an end now",
            |s| {
                s.starts_at = at(-HOUR);
                s.ends_at = T0;
            },
            invalid(ALREADY_ENDED),
        ),
        (
            "an end in the past",
            |s| {
                s.starts_at = at(-HOUR);
                s.ends_at = at(-1);
            },
            invalid(ALREADY_ENDED),
        ),
        ("zero units", |s| s.units = 0, invalid(UNITS_OUT_OF_RANGE)),
        ("negative units", |s| s.units = -3, invalid(UNITS_OUT_OF_RANGE)),
        (
            "more units than any sale may allot",
            |s| s.units = FLASH_UNITS_MAX + 1,
            invalid(UNITS_OUT_OF_RANGE),
        ),
        ("a zero limit", |s| s.per_buyer_limit = 0, invalid(LIMIT_OUT_OF_RANGE)),
        (
            "a negative limit",
            |s| s.per_buyer_limit = -1,
            invalid(LIMIT_OUT_OF_RANGE),
        ),
        (
            "a limit above the units",
            |s| s.per_buyer_limit = s.units + 1,
            invalid(LIMIT_OUT_OF_RANGE),
        ),
        (
            "a zero payment timeout",
            |s| s.payment_timeout_seconds = 0,
            invalid(TIMEOUT_OUT_OF_RANGE),
        ),
        (
            "a payment timeout of 24 h and 1 s",
            |s| s.payment_timeout_seconds = 24 * 3600 + 1,
            invalid(TIMEOUT_OUT_OF_RANGE),
        ),
        (
            "a nonsense limit and more units than available",
            |s| {
                s.per_buyer_limit = 0;
                s.units = 50;
            },
            invalid(LIMIT_OUT_OF_RANGE),
        ),
        (
            "more units than the warehouse has available",
            |s| s.units = 11,
            Rejection::InsufficientStock {
                sku: sku_id(SKU),
                requested: 11,
                available: 10,
            },
        ),
    ];
    for (case, change, expected) in cases {
        let mut world = shops();
        // Sale 1 exists (from warehouse 12), so id 1 is taken; warehouse 11 has 10 available.
        world.setup(Command::from(sale(1, 12, 2, 1)));
        let mut command = sale(2, 11, 5, 1);
        change(&mut command);
        assert_refused(&mut world, Command::from(command), expected, case);
        assert_eq!(world.store.flash_sales.len(), 1, "{case}: nothing saved");
    }
}

#[test]
fn schedules_at_the_edges_of_the_rules_are_accepted() {
    type Change = fn(&mut ScheduleFlashSale);
    let cases: Vec<(&str, Change)> = vec![
        ("exactly 7 days", |s| {
            s.ends_at = s.starts_at.plus_seconds(FLASH_DURATION_SECONDS_MAX)
        }),
        ("1 ms long", |s| s.ends_at = plus_ms(s.starts_at, 1)),
        ("started an hour ago, ending in 1 ms", |s| {
            s.starts_at = at(-HOUR);
            s.ends_at = at(1);
        }),
        ("one unit", |s| {
            s.units = 1;
            s.per_buyer_limit = 1;
        }),
        ("every available unit", |s| s.units = 10),
        ("a limit equal to the units", |s| s.per_buyer_limit = s.units),
        ("a payment timeout of 1 s", |s| s.payment_timeout_seconds = 1),
        ("a payment timeout of 24 h", |s| s.payment_timeout_seconds = 24 * 3600),
        ("a free flash sale", |s| s.price = fen(0)),
    ];
    for (case, change) in cases {
        let mut world = shops();
        let mut command = sale(1, 11, 5, 1);
        change(&mut command);
        let (outcome, _) = world.run(Command::from(command.clone()));
        assert_eq!(outcome, Outcome::FlashSaleScheduled(scheduled(&command, T0)), "{case}");
        assert_eq!(
            world.level(SKU, 11),
            level(10 - command.units, command.units, 0),
            "{case}"
        );
    }

    // The most units one sale may allot, from a warehouse that holds them.
    let mut world = shops();
    world.stock(1, SKU, 11, FLASH_UNITS_MAX);
    let command = sale(1, 11, FLASH_UNITS_MAX, 1);
    let (outcome, _) = world.run(Command::from(command.clone()));
    assert_eq!(outcome, Outcome::FlashSaleScheduled(scheduled(&command, T0)));
    assert_eq!(world.level(SKU, 11), level(0, FLASH_UNITS_MAX, 0));
}

#[test]
fn a_tap_during_the_sale_places_an_order_at_the_flash_price() {
    let mut world = live_sale(5, 2);
    let before = flash_sale(&world, 1);
    let (outcome, effects) = world.run(tap(1, 1, 7, 2));
    let expected = Order {
        id: order_id(1),
        checkout: checkout_id(1),
        shop: shop_id(1),
        buyer: buyer_id(7),
        lines: vec![OrderLine {
            sku: sku_id(SKU),
            quantity: quantity(2),
            unit_price: fen(FLASH_PRICE),
            allocations: vec![Allocation {
                warehouse: warehouse_id(11),
                quantity: 2,
            }],
        }],
        total: fen(2 * FLASH_PRICE),
        address: address(),
        state: OrderState::PendingPayment,
        version: 1,
        created_at: at(START),
        payment_due_at: at(START + TIMEOUT_SECONDS * 1000),
        paid_at: None,
        paid_by: None,
        cancelled_at: None,
        cancel_reason: None,
        flash_sale: Some(sale_id(1)),
        promise: None,
    };
    assert_eq!(outcome, Outcome::OrderPlaced(expected.clone()));
    assert_eq!(
        effects,
        vec![
            Effect::FlashSaleSaved(with_remaining(&before, 3)),
            Effect::OrderCreated {
                order: expected,
                request: None
            },
        ],
        "the units pass from the sale to the order: no stock row changes"
    );
    assert_eq!(world.level(SKU, 11), level(5, 5, 0));
    assert_eq!(bought_by(&world, 1, 7), 2);
    world.restart();
    assert_eq!(bought_by(&world, 1, 7), 2);
    assert_eq!(flash_sale(&world, 1).remaining, 3);
}

/// One row of the tap table: a sale of `units` with `limit` (running `START`..`END`), taps by
/// `(buyer, units)` at `START`, then at `at` (after an `ExpireDue` if `swept`) buyer 7 taps
/// `units` and must get `expected`.
struct TapCase {
    case: &'static str,
    sale_units: i64,
    limit: i64,
    earlier: &'static [(i64, i64)],
    at: i64,
    swept: bool,
    units: i64,
    expected: Result<(), TapRefusal>,
}

#[test]
fn taps_are_decided_in_the_documented_precedence() {
    use TapRefusal::*;
    let case = |case, sale_units, limit, earlier, at, swept, units, expected| TapCase {
        case,
        sale_units,
        limit,
        earlier,
        at,
        swept,
        units,
        expected,
    };
    // The sale's units and limit; earlier taps (buyer, units) at the start; when buyer 7 taps,
    // whether a sweep ran first, how many units it asks for; the answer.
    #[rustfmt::skip]
    let cases = [
        case("1 ms before the start",              5, 1, &[],               START - 1,  false, 1, Err(NotStarted)),
        case("before the start, over the limit",   5, 1, &[],               START - 1,  false, 2, Err(NotStarted)),
        case("before the start, over the units",   1, 1, &[],               START - 1,  false, 2, Err(NotStarted)),
        case("at the start",                       5, 1, &[],               START,      false, 1, Ok(())),
        case("in the last millisecond",            5, 1, &[],               END - 1,    false, 1, Ok(())),
        case("at the end, not yet swept",          5, 1, &[],               END,        false, 1, Err(Ended)),
        case("at the end, at the limit, sold out", 1, 1, &[(7, 1)],         END,        false, 1, Err(Ended)),
        case("after the sweep closed the sale",    5, 1, &[],               END,        true,  1, Err(Ended)),
        case("an hour after the sweep",            5, 1, &[],               END + HOUR, true,  1, Err(Ended)),
        case("the limit reached, units left",      5, 1, &[(7, 1)],         START + 1,  false, 1, Err(over_limit(1, 0))),
        case("the limit reached and sold out",     2, 1, &[(7, 1), (8, 1)], START + 1,  false, 1, Err(over_limit(1, 0))),
        case("more than the limit at once",        5, 1, &[],               START + 1,  false, 2, Err(over_limit(1, 1))),
        case("over the limit with earlier taps",   5, 3, &[(7, 2)],         START + 1,  false, 2, Err(over_limit(3, 1))),
        case("sold out",                           2, 2, &[(8, 2)],         START + 1,  false, 1, Err(SoldOut)),
        case("fewer units left than asked",        3, 2, &[(8, 2)],         START + 1,  false, 2, Err(SoldOut)),
        case("exactly the units left",             3, 2, &[(8, 2)],         START + 1,  false, 1, Ok(())),
        case("up to the limit with earlier taps",  5, 3, &[(7, 2)],         START + 1,  false, 1, Ok(())),
        case("others' purchases don't count",      3, 1, &[(8, 1), (9, 1)], START + 1,  false, 1, Ok(())),
        case("two units at once",                  5, 2, &[],               START + 1,  false, 2, Ok(())),
    ];
    for c in cases {
        let mut world = live_sale(c.sale_units, c.limit);
        for (n, &(buyer, units)) in c.earlier.iter().enumerate() {
            placed(world.run(tap(1, 100 + n as i64, buyer, units)).0);
        }
        world.now = at(c.at);
        if c.swept {
            world.run(Command::ExpireDue);
        }
        let case = c.case;
        match c.expected {
            Err(refusal) => assert_refused(&mut world, tap(1, 1, 7, c.units), Rejection::Tap(refusal), case),
            Ok(()) => {
                let remaining = flash_sale(&world, 1).remaining;
                let bought = bought_by(&world, 1, 7);
                let order = placed(world.run(tap(1, 1, 7, c.units)).0);
                assert_eq!(order.lines[0].quantity, quantity(c.units), "{case}");
                assert_eq!(flash_sale(&world, 1).remaining, remaining - c.units, "{case}");
                assert_eq!(bought_by(&world, 1, 7), bought + c.units, "{case}");
            }
        }
    }
}

#[test]
fn a_tap_on_an_unknown_sale_is_unknown_flash_sale() {
    let mut world = live_sale(5, 1);
    assert_refused(&mut world, tap(2, 1, 7, 1), Rejection::UnknownFlashSale, "sale 2");
}

#[test]
fn a_tap_with_an_order_id_already_open_is_refused() {
    let mut world = live_sale(5, 1);
    placed(world.run(tap(1, 1, 7, 1)).0);
    assert_refused(&mut world, tap(1, 1, 8, 1), Rejection::IdInUse, "order 1 again");
    assert_refused(
        &mut world,
        tap(2, 1, 8, 1),
        Rejection::IdInUse,
        "order 1 on an unknown sale",
    );
}

#[test]
fn a_retried_tap_gets_the_order_it_already_placed() {
    let mut world = live_sale(1, 1);
    let request = "buyer-7/key-a";
    let (outcome, effects) = world.run(tap_with_request(1, 1, 7, 1, request));
    let first = placed(outcome);
    assert!(effects.contains(&Effect::OrderCreated {
        order: first,
        request: Some(RequestRef(request.into()))
    }));

    // The sale is now sold out and buyer 7 at the limit, yet the retry gets its order.
    let retries = [
        ("the same tap again", tap_with_request(1, 2, 7, 1, request)),
        ("the same request for two units", tap_with_request(1, 3, 7, 2, request)),
        (
            "the same request on an unknown sale",
            tap_with_request(9, 4, 7, 1, request),
        ),
    ];
    for (case, retry) in retries {
        let before = fingerprint(&world);
        let (outcome, effects) = world.run(retry);
        assert_eq!(outcome, Outcome::OrderAlreadyPlaced(order_id(1)), "{case}");
        assert_eq!(effects, vec![], "{case}");
        assert_eq!(fingerprint(&world), before, "{case}");
    }
    assert_refused(
        &mut world,
        tap_with_request(1, 5, 7, 1, "buyer-7/key-b"),
        Rejection::Tap(over_limit(1, 0)),
        "another request of the same buyer",
    );
    assert_refused(
        &mut world,
        tap_with_request(1, 5, 8, 1, "buyer-8/key-a"),
        Rejection::Tap(TapRefusal::SoldOut),
        "another buyer",
    );

    // After payment, the end of the sale and a restart, the answer is the same.
    world.run(pay(1));
    world.now = at(END);
    world.run(Command::ExpireDue);
    world.restart();
    let (outcome, effects) = world.run(tap_with_request(1, 6, 7, 1, request));
    assert_eq!((outcome, effects), (Outcome::OrderAlreadyPlaced(order_id(1)), vec![]));
}

#[test]
fn a_flash_order_cancelled_during_the_sale_gives_its_units_back_to_the_sale() {
    let mut world = live_sale(3, 2);
    let order = placed(world.run(tap(1, 1, 7, 2)).0);
    placed(world.run(tap(1, 2, 8, 1)).0);
    assert_refused(
        &mut world,
        tap(1, 3, 9, 1),
        Rejection::Tap(TapRefusal::SoldOut),
        "sold out",
    );
    let stock = world.level(SKU, 11);
    assert_eq!(stock, level(7, 3, 0));
    let sold_out = flash_sale(&world, 1);

    world.advance_ms(10_000);
    let (outcome, effects) = world.run(cancel_by_buyer(1, 7));
    let expected = cancelled(&order, CancelReason::BuyerCancelled, world.now);
    assert_eq!(outcome, Outcome::OrderCancelled(expected.clone()));
    assert_eq!(
        effects,
        vec![
            Effect::OrderTransitioned(expected),
            Effect::FlashSaleSaved(with_remaining(&sold_out, 2)),
        ],
        "the units stay reserved, held by the sale again"
    );
    assert_eq!(world.level(SKU, 11), stock, "the stock row does not change");
    assert_eq!(bought_by(&world, 1, 7), 0);

    // Survives a restart; the buyer may tap again, up to the limit.
    world.restart();
    assert_eq!((flash_sale(&world, 1).remaining, bought_by(&world, 1, 7)), (2, 0));
    placed(world.run(tap(1, 4, 7, 2)).0);
    assert_refused(
        &mut world,
        tap(1, 5, 9, 1),
        Rejection::Tap(TapRefusal::SoldOut),
        "sold out again",
    );
    assert_eq!(world.level(SKU, 11), stock);
}

#[test]
fn a_flash_order_that_expires_during_the_sale_gives_its_units_back_to_the_sale() {
    let mut world = live_sale(1, 1);
    let order = placed(world.run(tap(1, 1, 7, 1)).0);
    world.now = at(START + TIMEOUT_SECONDS * 1000 - 1);
    let (outcome, effects) = world.run(Command::ExpireDue);
    assert_eq!((outcome, effects), (Outcome::Expired { orders: vec![] }, vec![]));

    world.advance_ms(1);
    let sold_out = flash_sale(&world, 1);
    let (outcome, effects) = world.run(Command::ExpireDue);
    assert_eq!(
        outcome,
        Outcome::Expired {
            orders: vec![order_id(1)]
        }
    );
    assert_eq!(
        effects,
        vec![
            Effect::OrderTransitioned(cancelled(&order, CancelReason::PaymentTimeout, world.now)),
            Effect::FlashSaleSaved(with_remaining(&sold_out, 1)),
        ]
    );
    assert_eq!(world.level(SKU, 11), level(9, 1, 0));
    assert_eq!(bought_by(&world, 1, 7), 0);
    placed(world.run(tap(1, 2, 7, 1)).0);
}

#[test]
fn a_flash_order_cancelled_after_its_sale_closed_releases_its_units_to_available() {
    // A one-minute sale whose orders may be paid for five minutes.
    let mut world = running(ScheduleFlashSale {
        ends_at: at(START + 60_000),
        ..sale(1, 11, 5, 2)
    });
    let first = placed(world.run(tap(1, 1, 7, 2)).0);
    let second = placed(world.run(tap(1, 2, 8, 1)).0);
    let live = flash_sale(&world, 1);

    world.now = at(START + 60_000);
    let (outcome, effects) = world.run(Command::ExpireDue);
    assert_eq!(outcome, Outcome::Expired { orders: vec![] });
    assert_eq!(
        effects,
        vec![
            stock_changed(SKU, 11, level(7, 3, 0)),
            Effect::FlashSaleSaved(closed(&live))
        ],
        "the end of the sale returns its two unsold units"
    );

    world.advance_ms(1_000);
    let (outcome, effects) = world.run(cancel_by_buyer(1, 7));
    let expected = cancelled(&first, CancelReason::BuyerCancelled, world.now);
    assert_eq!(outcome, Outcome::OrderCancelled(expected.clone()));
    assert_eq!(
        effects,
        vec![
            Effect::OrderTransitioned(expected),
            stock_changed(SKU, 11, level(9, 1, 0))
        ],
        "the sale is over: the units go back to available, the sale is not touched"
    );
    assert_eq!(flash_sale(&world, 1), closed(&live));
    assert_refused(
        &mut world,
        tap(1, 3, 7, 1),
        Rejection::Tap(TapRefusal::Ended),
        "tap again",
    );

    world.restart();
    world.now = second.payment_due_at;
    let (outcome, effects) = world.run(Command::ExpireDue);
    assert_eq!(
        outcome,
        Outcome::Expired {
            orders: vec![order_id(2)]
        }
    );
    assert_eq!(
        effects,
        vec![
            Effect::OrderTransitioned(cancelled(&second, CancelReason::PaymentTimeout, world.now)),
            stock_changed(SKU, 11, level(10, 0, 0)),
        ]
    );
    world.restart();
    assert_eq!(world.level(SKU, 11), level(10, 0, 0));
}

#[test]
fn an_order_due_in_the_sweep_that_ends_its_sale_returns_its_units_once() {
    // The order is due exactly when the sale ends.
    let mut world = running(ScheduleFlashSale {
        ends_at: at(START + 60_000),
        payment_timeout_seconds: 30,
        ..sale(1, 11, 3, 1)
    });
    world.now = at(START + 30_000);
    let order = placed(world.run(tap(1, 1, 7, 1)).0);
    let live = flash_sale(&world, 1);
    world.now = at(START + 60_000);
    let (outcome, effects) = world.run(Command::ExpireDue);
    assert_eq!(
        outcome,
        Outcome::Expired {
            orders: vec![order_id(1)]
        }
    );
    assert_eq!(
        effects,
        vec![
            Effect::OrderTransitioned(cancelled(&order, CancelReason::PaymentTimeout, world.now)),
            Effect::FlashSaleSaved(with_remaining(&live, 3)),
            stock_changed(SKU, 11, level(10, 0, 0)),
            Effect::FlashSaleSaved(closed(&live)),
        ]
    );
    let (outcome, effects) = world.run(Command::ExpireDue);
    assert_eq!((outcome, effects), (Outcome::Expired { orders: vec![] }, vec![]));
    assert_eq!(world.level(SKU, 11), level(10, 0, 0));
}

#[test]
fn a_flash_order_cancelled_after_the_end_but_before_the_sweep_goes_back_to_the_sale_then_to_stock() {
    let mut world = live_sale(4, 2);
    let order = placed(world.run(tap(1, 1, 7, 2)).0);
    world.now = at(END);
    let (_, effects) = world.run(cancel_by_buyer(1, 7));
    assert_eq!(
        effects,
        vec![
            Effect::OrderTransitioned(cancelled(&order, CancelReason::BuyerCancelled, world.now)),
            Effect::FlashSaleSaved(with_remaining(&flash_sale(&world, 1), 4)),
        ]
    );
    assert_eq!(world.level(SKU, 11), level(6, 4, 0));
    let (_, effects) = world.run(Command::ExpireDue);
    assert_eq!(
        effects,
        vec![
            stock_changed(SKU, 11, level(10, 0, 0)),
            Effect::FlashSaleSaved(closed(&flash_sale(&world, 1))),
        ]
    );
}

#[test]
fn the_end_of_a_sale_returns_its_remaining_units_to_available_exactly_once() {
    let mut world = live_sale(5, 2);
    placed(world.run(tap(1, 1, 7, 2)).0);
    world.run(pay(1));
    assert_eq!(world.level(SKU, 11), level(5, 3, 2));
    let live = flash_sale(&world, 1);

    world.now = at(END - 1);
    let (outcome, effects) = world.run(Command::ExpireDue);
    assert_eq!(
        (outcome, effects),
        (Outcome::Expired { orders: vec![] }, vec![]),
        "not yet"
    );

    world.now = at(END);
    let (outcome, effects) = world.run(Command::ExpireDue);
    assert_eq!(outcome, Outcome::Expired { orders: vec![] });
    assert_eq!(
        effects,
        vec![
            stock_changed(SKU, 11, level(8, 0, 2)),
            Effect::FlashSaleSaved(closed(&live))
        ]
    );

    for (case, after_ms) in [("the same instant", 0), ("an hour later", HOUR)] {
        world.advance_ms(after_ms);
        let (outcome, effects) = world.run(Command::ExpireDue);
        assert_eq!(
            (outcome, effects),
            (Outcome::Expired { orders: vec![] }, vec![]),
            "a second sweep, {case}"
        );
    }
    world.restart();
    let (outcome, effects) = world.run(Command::ExpireDue);
    assert_eq!(
        (outcome, effects),
        (Outcome::Expired { orders: vec![] }, vec![]),
        "after a restart"
    );
    assert_eq!(world.level(SKU, 11), level(8, 0, 2));
    assert_eq!(flash_sale(&world, 1), closed(&live));
}

#[test]
fn a_sold_out_sale_closes_without_touching_stock() {
    let mut world = live_sale(1, 1);
    placed(world.run(tap(1, 1, 7, 1)).0);
    world.run(pay(1));
    let live = flash_sale(&world, 1);
    world.now = at(END);
    let (_, effects) = world.run(Command::ExpireDue);
    assert_eq!(effects, vec![Effect::FlashSaleSaved(closed(&live))]);
    assert_eq!(world.level(SKU, 11), level(9, 0, 1));
}

#[test]
fn paying_a_flash_order_turns_its_reserved_units_into_sold() {
    let mut world = live_sale(5, 2);
    let order = placed(world.run(tap(1, 1, 7, 2)).0);
    let live = flash_sale(&world, 1);
    world.advance_ms(20_000);
    let (outcome, effects) = world.run(pay(1));
    let expected = paid(&order, world.now);
    assert_eq!(outcome, Outcome::OrderPaid(expected.clone()));
    assert_eq!(
        effects[..2],
        [
            Effect::OrderTransitioned(expected),
            stock_changed(SKU, 11, level(5, 3, 2))
        ]
    );
    // The sale's warehouse ships it: one order of its capacity, one dispatch record.
    assert!(matches!(&effects[2], Effect::CapacityBooked { warehouse, orders: 1, .. } if warehouse.get() == 11));
    assert!(
        matches!(&effects[3], Effect::OrderDispatched { decision, .. } if decision.parcels.len() == 1 && decision.parcels[0].warehouse.get() == 11)
    );
    assert_eq!(effects.len(), 4);
    assert_eq!(flash_sale(&world, 1), live, "the sale does not change");

    // Paid units still count against the buyer, after a restart too, and cannot be cancelled.
    world.restart();
    assert_eq!(bought_by(&world, 1, 7), 2);
    assert_refused(
        &mut world,
        tap(1, 2, 7, 1),
        Rejection::Tap(over_limit(2, 0)),
        "after paying",
    );
    assert_refused(
        &mut world,
        cancel_by_buyer(1, 7),
        Rejection::OrderNotOpen,
        "cancel a paid order",
    );

    // The end of the sale leaves sold units sold.
    world.now = at(END);
    world.run(Command::ExpireDue);
    assert_eq!(world.level(SKU, 11), level(8, 0, 2));
}

#[test]
fn a_restart_rebuilds_each_sale_and_its_buyers_counts() {
    let mut world = live_sale(6, 2);
    placed(world.run(tap(1, 1, 7, 1)).0);
    world.run(pay(1));
    placed(world.run(tap(1, 2, 8, 2)).0);
    placed(world.run(tap(1, 3, 9, 1)).0);
    world.run(cancel_by_buyer(3, 9));
    let before = fingerprint(&world);
    world.restart();
    assert_eq!(fingerprint(&world), before);
    let counts: Vec<i64> = [7, 8, 9].iter().map(|&b| bought_by(&world, 1, b)).collect();
    assert_eq!(counts, vec![1, 2, 0]);
    assert_refused(&mut world, tap(1, 4, 8, 1), Rejection::Tap(over_limit(2, 0)), "buyer 8");
    placed(world.run(tap(1, 4, 7, 1)).0);
    placed(world.run(tap(1, 5, 9, 2)).0);
    assert_refused(
        &mut world,
        tap(1, 6, 10, 1),
        Rejection::Tap(TapRefusal::SoldOut),
        "buyer 10",
    );
}

// ---------------------------------------------------------------------------------------------
// State-machine property test
// ---------------------------------------------------------------------------------------------

const WAREHOUSES: [i64; 2] = [11, 12];
const BUYERS: i64 = 6;
const OPS_MAX: usize = 80;

/// A sale the property test schedules (at the start, or later by `ScheduleNext`): its window
/// is relative to the clock when it is sent.
#[derive(Clone, Debug)]
struct SaleSpec {
    at_start: bool,
    warehouse: i64,
    units: i64,
    limit: i64,
    starts_in_seconds: i64,
    duration_seconds: i64,
    timeout_seconds: i64,
}

/// Mostly valid sales; one in ten asks for a per-buyer limit above its units.
fn sale_spec() -> impl Strategy<Value = SaleSpec> {
    (1..=6i64)
        .prop_flat_map(|units| {
            (
                prop::sample::select(WAREHOUSES.to_vec()),
                Just(units),
                prop_oneof![9 => 1..=units.min(3), 1 => Just(units + 1)],
                -30..=60i64,
                20..=240i64,
                5..=300i64,
                prop::bool::weighted(0.8),
            )
        })
        .prop_map(
            |(warehouse, units, limit, starts_in_seconds, duration_seconds, timeout_seconds, at_start)| SaleSpec {
                at_start,
                warehouse,
                units,
                limit,
                starts_in_seconds,
                duration_seconds,
                timeout_seconds,
            },
        )
}

#[derive(Clone, Debug)]
enum Op {
    /// `sale` 0 names a sale that is never scheduled; any other value picks one of the specs.
    Tap {
        sale: u8,
        buyer: i64,
        units: i64,
        key: Option<u8>,
    },
    /// Sends again (under a new order id) a tap that ordered with a request reference.
    RetryTap {
        pick: usize,
    },
    /// `pick` chooses among the orders placed so far.
    Pay {
        pick: usize,
    },
    Cancel {
        pick: usize,
        by_owner: bool,
    },
    /// Moves the clock, then sweeps.
    Expire {
        after_seconds: i64,
    },
    /// Moves the clock exactly to one of the coming starts, ends or due times, then sweeps
    /// if `sweep`.
    ToBoundary {
        pick: usize,
        sweep: bool,
    },
    /// Moves the clock without a sweep.
    Advance {
        seconds: i64,
    },
    /// Schedules the first sale of the specs not yet sent, or sends the last one again.
    ScheduleNext,
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => (0..20u8, 1..=BUYERS, 1..=2i64, prop::option::of(0..3u8))
            .prop_map(|(sale, buyer, units, key)| Op::Tap { sale, buyer, units, key }),
        1 => any::<usize>().prop_map(|pick| Op::RetryTap { pick }),
        3 => any::<usize>().prop_map(|pick| Op::Pay { pick }),
        3 => (any::<usize>(), prop::bool::weighted(0.8)).prop_map(|(pick, by_owner)| Op::Cancel { pick, by_owner }),
        3 => (0..=45i64).prop_map(|after_seconds| Op::Expire { after_seconds }),
        1 => (0..=30i64).prop_map(|seconds| Op::Advance { seconds }),
        2 => (any::<usize>(), any::<bool>()).prop_map(|(pick, sweep)| Op::ToBoundary { pick, sweep }),
        2 => Just(Op::ScheduleNext),
        1 => Just(Op::Restart),
    ]
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Restarts {
    Honoured,
    Skipped,
}

struct Harness {
    world: World,
    restarts: Restarts,
    specs: Vec<SaleSpec>,
    /// Which specs have been sent at least once.
    sent: Vec<bool>,
    /// available + reserved + sold per warehouse: what was set, never changed by sales.
    stock_set: BTreeMap<i64, i64>,
    /// The sales the model knows were scheduled, as they were asked for.
    scheduled: BTreeMap<FlashSaleId, ScheduleFlashSale>,
    /// The sales the model knows a sweep has closed.
    closed: BTreeSet<FlashSaleId>,
    /// Taps that ordered with a request reference, for retries.
    keyed_taps: Vec<Tap>,
    /// Orders placed so far, in placement order.
    placed: Vec<(OrderId, BuyerId)>,
    next_order: i64,
    last_sweep: Option<Timestamp>,
    transcript: Vec<String>,
}

impl Harness {
    fn new(stock: [i64; 2], specs: Vec<SaleSpec>, restarts: Restarts) -> Harness {
        let mut world = World::default();
        world.shop(1);
        for warehouse in WAREHOUSES {
            world.warehouse(warehouse, 1);
        }
        world.product(101, 1, &[(SKU, 1999)]);
        for (warehouse, available) in WAREHOUSES.into_iter().zip(stock) {
            world.stock(1, SKU, warehouse, available);
        }
        let mut harness = Harness {
            world,
            restarts,
            sent: vec![false; specs.len()],
            specs,
            stock_set: WAREHOUSES.into_iter().zip(stock).collect(),
            scheduled: BTreeMap::new(),
            closed: BTreeSet::new(),
            keyed_taps: Vec::new(),
            placed: Vec::new(),
            next_order: 1,
            last_sweep: None,
            transcript: Vec::new(),
        };
        for index in 0..harness.specs.len() {
            if harness.specs[index].at_start {
                harness.schedule(index);
            }
        }
        harness.audit();
        harness
    }

    fn step(&mut self, op: &Op) {
        match *op {
            Op::Tap {
                sale,
                buyer,
                units,
                key,
            } => {
                let request = key.map(|key| RequestRef(format!("buyer-{buyer}/tap-{key}")));
                let sale = if sale == 0 {
                    9
                } else {
                    (sale as usize % self.specs.len()) as i64 + 1
                };
                let command = self.new_tap(sale, buyer, units, request);
                self.tap(command);
            }
            Op::RetryTap { pick } => self.retry(pick),
            Op::Pay { pick } => self.pay(pick),
            Op::Cancel { pick, by_owner } => self.cancel(pick, by_owner),
            Op::Expire { after_seconds } => {
                self.world.advance_ms(after_seconds * 1000);
                self.sweep();
            }
            Op::ToBoundary { pick, sweep } => {
                if let Some(instant) = self.next_boundary(pick) {
                    self.world.now = instant;
                    self.transcript.push(format!("moved to {instant:?}"));
                }
                if sweep {
                    self.sweep();
                }
            }
            Op::Advance { seconds } => {
                self.world.advance_ms(seconds * 1000);
                self.transcript.push(format!("advanced {seconds} s"));
            }
            Op::ScheduleNext => self.schedule_next(),
            Op::Restart => self.restart(),
        }
        self.audit();
    }

    /// Applies a command, checks its effects in general and records the answer.
    fn apply(&mut self, command: Command) -> (Outcome, Vec<Effect>) {
        let (outcome, effects) = self.world.run(command);
        for effect in &effects {
            match effect {
                Effect::FlashSaleSaved(sale) => assert!(
                    (0..=sale.allotted).contains(&sale.remaining) && !(sale.closed && sale.remaining != 0),
                    "flash sale {} saved with {} of {} units (closed: {})",
                    sale.id,
                    sale.remaining,
                    sale.allotted,
                    sale.closed
                ),
                Effect::StockChanged { shop, sku, .. } => {
                    assert_eq!((shop.get(), sku.get()), (1, SKU), "a foreign stock row")
                }
                Effect::OrderCreated { .. }
                | Effect::OrderTransitioned(_)
                | Effect::OrderDispatched { .. }
                | Effect::CapacityBooked { .. } => {}
                other => panic!("unexpected effect {other:?}"),
            }
        }
        if matches!(outcome, Outcome::Rejected(_) | Outcome::OrderAlreadyPlaced(_)) {
            assert_eq!(effects, vec![], "{outcome:?} must change nothing");
        }
        self.transcript.push(format!("{outcome:?} {effects:?}"));
        (outcome, effects)
    }

    fn level(&self, warehouse: WarehouseId) -> StockLevel {
        self.world
            .store
            .stock
            .get(&(sku_id(SKU), warehouse))
            .copied()
            .expect("both rows are stocked at the start")
    }

    /// Units in the stored orders of `sale` (of `buyer`, if given) that are not cancelled.
    fn units_held(&self, sale: FlashSaleId, buyer: Option<BuyerId>) -> i64 {
        self.world
            .store
            .orders
            .values()
            .filter(|o| o.flash_sale == Some(sale) && o.state != OrderState::Cancelled)
            .filter(|o| buyer.is_none_or(|b| o.buyer == b))
            .map(|o| o.lines.iter().map(|l| l.quantity.get()).sum::<i64>())
            .sum()
    }

    /// Sends the first spec never sent, or else the last one again.
    fn schedule_next(&mut self) {
        let index = self.sent.iter().position(|sent| !sent).unwrap_or(self.specs.len() - 1);
        self.schedule(index);
    }

    fn schedule(&mut self, index: usize) {
        self.sent[index] = true;
        let spec = self.specs[index].clone();
        let now = self.world.now;
        let starts_at = now.plus_seconds(spec.starts_in_seconds);
        let command = ScheduleFlashSale {
            id: sale_id(index as i64 + 1),
            shop: shop_id(1),
            sku: sku_id(SKU),
            warehouse: warehouse_id(spec.warehouse),
            starts_at,
            ends_at: starts_at.plus_seconds(spec.duration_seconds),
            price: fen(FLASH_PRICE + index as i64),
            units: spec.units,
            per_buyer_limit: spec.limit,
            payment_timeout_seconds: spec.timeout_seconds,
        };
        let before = self.level(command.warehouse);
        let expected = if self.scheduled.contains_key(&command.id) {
            Err(Rejection::IdInUse)
        } else if command.ends_at <= now {
            Err(Rejection::InvalidFlashSale(ALREADY_ENDED))
        } else if command.per_buyer_limit > command.units {
            Err(Rejection::InvalidFlashSale(LIMIT_OUT_OF_RANGE))
        } else if before.available < command.units {
            Err(Rejection::InsufficientStock {
                sku: command.sku,
                requested: command.units,
                available: before.available,
            })
        } else {
            Ok(scheduled(&command, now))
        };
        let (outcome, effects) = self.apply(Command::from(command.clone()));
        match expected {
            Err(rejection) => assert_eq!(outcome, Outcome::Rejected(rejection)),
            Ok(sale) => {
                assert_eq!(outcome, Outcome::FlashSaleScheduled(sale.clone()));
                let after = StockLevel {
                    available: before.available - command.units,
                    reserved: before.reserved + command.units,
                    ..before
                };
                assert_eq!(
                    effects,
                    vec![stock_changed(SKU, spec.warehouse, after), Effect::FlashSaleSaved(sale)]
                );
                self.scheduled.insert(command.id, command);
            }
        }
    }

    fn new_tap(&mut self, sale: i64, buyer: i64, units: i64, request: Option<RequestRef>) -> Tap {
        let id = self.next_order;
        self.next_order += 1;
        Tap {
            sale: sale_id(sale),
            order: order_id(id),
            checkout: checkout_id(id),
            buyer: buyer_id(buyer),
            quantity: quantity(units),
            address: address(),
            request,
            client: Default::default(),
        }
    }

    /// The model of a tap: a replay first, then the sale, then the documented precedence,
    /// all from what the model scheduled and swept and the orders the store holds.
    fn expected_tap(&self, tap: &Tap) -> Result<Option<OrderId>, Rejection> {
        let store = &self.world.store;
        if let Some(order) = tap.request.as_ref().and_then(|r| store.requests.get(r)) {
            return Ok(Some(*order));
        }
        let Some(sale) = self.scheduled.get(&tap.sale) else {
            return Err(Rejection::UnknownFlashSale);
        };
        let now = self.world.now;
        let units = tap.quantity.get();
        let refusal = if now < sale.starts_at {
            Some(TapRefusal::NotStarted)
        } else if now >= sale.ends_at || self.closed.contains(&tap.sale) {
            Some(TapRefusal::Ended)
        } else if self.units_held(tap.sale, Some(tap.buyer)) + units > sale.per_buyer_limit {
            let held = self.units_held(tap.sale, Some(tap.buyer));
            Some(over_limit(sale.per_buyer_limit, (sale.per_buyer_limit - held).max(0)))
        } else if sale.units - self.units_held(tap.sale, None) < units {
            Some(TapRefusal::SoldOut)
        } else {
            None
        };
        match refusal {
            Some(refusal) => Err(Rejection::Tap(refusal)),
            None => Ok(None),
        }
    }

    fn tap(&mut self, tap: Tap) {
        let expected = self.expected_tap(&tap);
        let stored_sale = self.world.store.flash_sales.get(&tap.sale).cloned();
        let now = self.world.now;
        let (outcome, effects) = self.apply(Command::from(tap.clone()));
        match expected {
            Ok(Some(order)) => assert_eq!(outcome, Outcome::OrderAlreadyPlaced(order), "a retried tap"),
            Err(rejection) => assert_eq!(outcome, Outcome::Rejected(rejection), "{tap:?}"),
            Ok(None) => {
                let s = &self.scheduled[&tap.sale];
                let units = tap.quantity.get();
                let order = Order {
                    id: tap.order,
                    checkout: tap.checkout,
                    shop: s.shop,
                    buyer: tap.buyer,
                    lines: vec![OrderLine {
                        sku: s.sku,
                        quantity: tap.quantity,
                        unit_price: s.price,
                        allocations: vec![Allocation {
                            warehouse: s.warehouse,
                            quantity: units,
                        }],
                    }],
                    total: s.price.checked_mul(units).expect("small total"),
                    address: tap.address.clone(),
                    state: OrderState::PendingPayment,
                    version: 1,
                    created_at: now,
                    payment_due_at: now.plus_seconds(s.payment_timeout_seconds),
                    paid_at: None,
                    paid_by: None,
                    cancelled_at: None,
                    cancel_reason: None,
                    flash_sale: Some(s.id),
                    promise: None,
                };
                assert_eq!(outcome, Outcome::OrderPlaced(order.clone()));
                let sale = stored_sale.expect("a scheduled sale is stored");
                let remaining = sale.remaining - units;
                assert_eq!(
                    effects,
                    vec![
                        Effect::FlashSaleSaved(with_remaining(&sale, remaining)),
                        Effect::OrderCreated {
                            order,
                            request: tap.request.clone()
                        },
                    ]
                );
                self.placed.push((tap.order, tap.buyer));
                if tap.request.is_some() {
                    self.keyed_taps.push(tap);
                }
            }
        }
    }

    fn retry(&mut self, pick: usize) {
        if self.keyed_taps.is_empty() {
            self.transcript.push("nothing to retry".into());
            return;
        }
        let original = self.keyed_taps[pick % self.keyed_taps.len()].clone();
        let retry = Tap {
            order: order_id(self.next_order),
            checkout: checkout_id(self.next_order),
            ..original.clone()
        };
        self.next_order += 1;
        assert_eq!(
            self.expected_tap(&retry),
            Ok(Some(original.order)),
            "the model replays a retry"
        );
        self.tap(retry);
    }

    fn picked(&self, pick: usize) -> Option<(OrderId, BuyerId)> {
        (!self.placed.is_empty()).then(|| self.placed[pick % self.placed.len()])
    }

    fn open_in_store(&self, id: OrderId) -> Option<Order> {
        self.world
            .store
            .orders
            .get(&id)
            .filter(|o| o.state == OrderState::PendingPayment)
            .cloned()
    }

    fn sale_of(&self, order: &Order) -> FlashSaleId {
        order.flash_sale.expect("every order here is a flash order")
    }

    fn pay(&mut self, pick: usize) {
        let Some((id, _)) = self.picked(pick) else {
            self.transcript.push("nothing to pay".into());
            return;
        };
        let open = self.open_in_store(id);
        let stock_before: BTreeMap<i64, StockLevel> =
            WAREHOUSES.iter().map(|&w| (w, self.level(warehouse_id(w)))).collect();
        let now = self.world.now;
        let (outcome, effects) = self.apply(Command::from(PayOrder {
            order: id,
            intent: intent_id(id.get()),
        }));
        match open {
            None => assert_eq!(outcome, Outcome::Rejected(Rejection::OrderNotOpen), "paying {id}"),
            Some(order) => {
                let warehouse = self.scheduled[&self.sale_of(&order)].warehouse.get();
                let units = order.lines[0].quantity.get();
                let before = stock_before[&warehouse];
                let after = StockLevel {
                    reserved: before.reserved - units,
                    sold: before.sold + units,
                    ..before
                };
                let expected = paid(&order, now);
                assert_eq!(outcome, Outcome::OrderPaid(expected.clone()));
                assert_eq!(
                    effects[..2],
                    [
                        Effect::OrderTransitioned(expected),
                        stock_changed(SKU, warehouse, after)
                    ]
                );
                // The sale's own warehouse ships it (flash units never move).
                match &effects[2..] {
                    [
                        Effect::CapacityBooked { warehouse: booked, .. },
                        Effect::OrderDispatched { decision, .. },
                    ] => {
                        assert_eq!(booked.get(), warehouse);
                        assert_eq!(decision.parcels.len(), 1);
                        assert_eq!(decision.parcels[0].warehouse.get(), warehouse);
                    }
                    other => panic!("paying {id} dispatched as {other:?}"),
                }
            }
        }
    }

    fn cancel(&mut self, pick: usize, by_owner: bool) {
        let Some((id, owner)) = self.picked(pick) else {
            self.transcript.push("nothing to cancel".into());
            return;
        };
        let by = if by_owner {
            owner
        } else {
            buyer_id(owner.get() % BUYERS + 1)
        };
        let open = self.open_in_store(id);
        let stock_before: BTreeMap<i64, StockLevel> =
            WAREHOUSES.iter().map(|&w| (w, self.level(warehouse_id(w)))).collect();
        let sales_before = self.world.store.flash_sales.clone();
        let now = self.world.now;
        let (outcome, effects) = self.apply(Command::from(CancelOrder {
            order: id,
            by: Canceller::Buyer(by),
            reason: CancelReason::BuyerCancelled,
        }));
        match open {
            Some(order) if by_owner => {
                let expected = cancelled(&order, CancelReason::BuyerCancelled, now);
                assert_eq!(outcome, Outcome::OrderCancelled(expected.clone()));
                let sale = self.sale_of(&order);
                let units = order.lines[0].quantity.get();
                let warehouse = self.scheduled[&sale].warehouse.get();
                let followed_by = if self.closed.contains(&sale) {
                    let before = stock_before[&warehouse];
                    stock_changed(
                        SKU,
                        warehouse,
                        StockLevel {
                            available: before.available + units,
                            reserved: before.reserved - units,
                            ..before
                        },
                    )
                } else {
                    let before = &sales_before[&sale];
                    Effect::FlashSaleSaved(with_remaining(before, before.remaining + units))
                };
                assert_eq!(effects, vec![Effect::OrderTransitioned(expected), followed_by]);
            }
            _ => assert_eq!(
                outcome,
                Outcome::Rejected(Rejection::OrderNotOpen),
                "buyer {by} cancelling {id}"
            ),
        }
    }

    /// Sweeps at the current clock. The model of `ExpireDue`: the due orders are cancelled in
    /// due order, each giving its units back to its sale (while the sale is not closed) or to
    /// available; then every sale that has ended returns what it still holds, in id order.
    fn sweep(&mut self) {
        let now = self.world.now;
        let store = &self.world.store;
        let mut due: Vec<Order> = store
            .orders_in(OrderState::PendingPayment)
            .filter(|o| o.payment_due_at <= now)
            .cloned()
            .collect();
        due.sort_by_key(|o| (o.payment_due_at, o.id));
        let mut sales = store.flash_sales.clone();
        let mut levels: BTreeMap<WarehouseId, StockLevel> = WAREHOUSES
            .iter()
            .map(|&w| (warehouse_id(w), self.level(warehouse_id(w))))
            .collect();
        let release = |levels: &mut BTreeMap<WarehouseId, StockLevel>, warehouse: WarehouseId, units: i64| {
            let level = levels.get_mut(&warehouse).expect("a known warehouse");
            level.available += units;
            level.reserved -= units;
            stock_changed(SKU, warehouse.get(), *level)
        };
        let mut expected = Vec::new();
        for order in &due {
            expected.push(Effect::OrderTransitioned(cancelled(
                order,
                CancelReason::PaymentTimeout,
                now,
            )));
            let sale = self.sale_of(order);
            let units = order.lines[0].quantity.get();
            if self.closed.contains(&sale) {
                expected.push(release(&mut levels, self.scheduled[&sale].warehouse, units));
            } else {
                let saved = sales.get_mut(&sale).expect("a stored sale");
                saved.remaining += units;
                expected.push(Effect::FlashSaleSaved(saved.clone()));
            }
        }
        let ending: Vec<FlashSaleId> = self
            .scheduled
            .values()
            .filter(|s| s.ends_at <= now && !self.closed.contains(&s.id))
            .map(|s| s.id)
            .collect();
        for id in &ending {
            let sale = &sales[id];
            if sale.remaining > 0 {
                expected.push(release(&mut levels, sale.warehouse, sale.remaining));
            }
            expected.push(Effect::FlashSaleSaved(closed(sale)));
        }
        let (outcome, effects) = self.apply(Command::ExpireDue);
        assert_eq!(
            outcome,
            Outcome::Expired {
                orders: due.iter().map(|o| o.id).collect()
            }
        );
        assert_eq!(effects, expected, "the sweep at {now:?}");
        self.closed.extend(ending);
        self.last_sweep = Some(now);
    }

    /// The instants where something happens (a sale starts or ends, an order falls due) after
    /// the clock: moving to one exactly tests the edges of every window.
    fn next_boundary(&self, pick: usize) -> Option<Timestamp> {
        let now = self.world.now;
        let mut instants: Vec<Timestamp> = self
            .scheduled
            .values()
            .flat_map(|s| [s.starts_at, s.ends_at])
            .chain(
                self.world
                    .store
                    .orders_in(OrderState::PendingPayment)
                    .map(|o| o.payment_due_at),
            )
            .filter(|t| *t > now)
            .collect();
        instants.sort();
        instants.dedup();
        (!instants.is_empty()).then(|| instants[pick % instants.len()])
    }

    fn books(&self) -> Vec<(FlashSale, Vec<i64>)> {
        self.scheduled
            .keys()
            .map(|&id| {
                let book = self.world.state.flash_sale(id).expect("a scheduled sale is in memory");
                let counts = if book.sale.closed {
                    Vec::new()
                } else {
                    (1..=BUYERS).map(|b| book.bought_by(buyer_id(b))).collect()
                };
                (book.sale.clone(), counts)
            })
            .collect()
    }

    fn restart(&mut self) {
        self.transcript.push("restart".into());
        if self.restarts == Restarts::Skipped {
            return;
        }
        let inventory = self.world.state.inventory().clone();
        let open = self.world.open_orders();
        let books = self.books();
        self.world.restart();
        assert_eq!(self.world.state.inventory(), &inventory, "other stock after a restart");
        assert_eq!(self.world.open_orders(), open, "other open orders after a restart");
        assert_eq!(self.books(), books, "other sales or buyer counts after a restart");
    }

    /// The invariants, after every step.
    fn audit(&self) {
        let store = &self.world.store;
        assert_eq!(
            store.flash_sales.keys().collect::<Vec<_>>(),
            self.scheduled.keys().collect::<Vec<_>>(),
            "the stored sales are the scheduled ones"
        );
        let mut held_by_sales: BTreeMap<WarehouseId, i64> = BTreeMap::new();
        for (&id, s) in &self.scheduled {
            let sale = &store.flash_sales[&id];
            let book = self.world.state.flash_sale(id).expect("a scheduled sale is in memory");
            assert_eq!(&book.sale, sale, "sale {id}: memory and store disagree");
            assert_eq!(sale.closed, self.closed.contains(&id), "sale {id} closed");
            assert_eq!(sale.allotted, s.units, "sale {id} allotted");
            let in_orders = self.units_held(id, None);
            assert!(
                in_orders <= sale.allotted,
                "sale {id} oversold: {in_orders} of {}",
                sale.allotted
            );
            if sale.closed {
                assert_eq!(sale.remaining, 0, "closed sale {id} holds units");
            } else {
                assert_eq!(
                    in_orders + sale.remaining,
                    sale.allotted,
                    "sale {id}: units lost or made"
                );
                *held_by_sales.entry(s.warehouse).or_default() += sale.remaining;
            }
            for buyer in (1..=BUYERS).map(buyer_id) {
                let held = self.units_held(id, Some(buyer));
                assert!(
                    held <= s.per_buyer_limit,
                    "buyer {buyer} holds {held} of sale {id}, limit {}",
                    s.per_buyer_limit
                );
                if !sale.closed {
                    assert_eq!(book.bought_by(buyer), held, "buyer {buyer}'s count of sale {id}");
                }
            }
            if let Some(sweep) = self.last_sweep {
                assert!(
                    sale.closed || sale.ends_at > sweep,
                    "sale {id} ended by the sweep at {sweep:?} is still open"
                );
            }
        }
        let mut pending: BTreeMap<WarehouseId, i64> = BTreeMap::new();
        let mut sold: BTreeMap<WarehouseId, i64> = BTreeMap::new();
        for order in store.orders.values() {
            let sale = self.sale_of(order);
            assert!(
                self.scheduled.contains_key(&sale),
                "order {} of an unscheduled sale",
                order.id
            );
            let into = match order.state {
                OrderState::PendingPayment => &mut pending,
                OrderState::Paid | OrderState::Shipped | OrderState::Delivered => &mut sold,
                OrderState::Cancelled => continue,
            };
            for line in &order.lines {
                for allocation in &line.allocations {
                    *into.entry(allocation.warehouse).or_default() += allocation.quantity;
                }
            }
        }
        for warehouse in WAREHOUSES.map(warehouse_id) {
            let level = self.level(warehouse);
            let live = self.world.state.inventory().level(sku_id(SKU), warehouse);
            assert_eq!(live, level, "{warehouse}: memory and store disagree");
            assert!(
                level.available >= 0 && level.reserved >= 0 && level.sold >= 0,
                "{warehouse}: negative stock {level:?}"
            );
            assert_eq!(
                level.total(),
                self.stock_set[&warehouse.get()],
                "{warehouse}: units appeared or vanished"
            );
            let get = |m: &BTreeMap<WarehouseId, i64>| m.get(&warehouse).copied().unwrap_or(0);
            assert_eq!(
                level.reserved,
                get(&pending) + get(&held_by_sales),
                "{warehouse}: reserved is not what pending orders and open sales hold"
            );
            assert_eq!(level.sold, get(&sold), "{warehouse}: sold is not what paid orders hold");
        }
        let open: Vec<Order> = store.orders_in(OrderState::PendingPayment).cloned().collect();
        assert_eq!(
            self.world.open_orders(),
            open,
            "open orders in memory and store disagree"
        );
        if let Some(sweep) = self.last_sweep {
            assert!(
                open.iter().all(|o| o.payment_due_at > sweep),
                "orders due by the sweep at {sweep:?} are still open"
            );
        }
    }
}

fn run(stock: [i64; 2], specs: &[SaleSpec], ops: &[Op], restarts: Restarts) -> Vec<String> {
    let mut harness = Harness::new(stock, specs.to_vec(), restarts);
    for op in ops {
        harness.step(op);
    }
    harness.transcript
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn flash_sales_never_oversell_and_answer_taps_as_the_model_predicts_across_restarts(
        stock in prop::array::uniform2(prop_oneof![1 => 0..=3i64, 4 => 4..=16i64]),
        specs in prop::collection::vec(sale_spec(), 1..=2),
        ops in prop::collection::vec(op(), 1..=OPS_MAX),
    ) {
        let first = run(stock, &specs, &ops, Restarts::Honoured);
        let again = run(stock, &specs, &ops, Restarts::Honoured);
        prop_assert_eq!(&first, &again, "the same commands gave different answers");
        let unrestarted = run(stock, &specs, &ops, Restarts::Skipped);
        prop_assert_eq!(&first, &unrestarted, "a restart changed an answer");
    }
}

#[test]
fn unpaid_flash_orders_leave_the_shard_memory_when_they_expire() {
    const TAPS: i64 = 1_000;
    let mut world = shops();
    world.stock(1, SKU, 11, TAPS);
    world.setup(Command::from(sale(1, 11, TAPS, 1)));
    world.now = at(START);
    for n in 1..=TAPS {
        placed(world.run(tap_with_request(1, n, n, 1, &format!("tap-{n}"))).0);
    }
    assert_eq!(world.state.orders().open_count(), TAPS as usize);
    assert_eq!(holders(&world), TAPS as usize);

    world.now = at(START + TIMEOUT_SECONDS * 1000);
    let (outcome, _) = world.run(Command::ExpireDue);
    let Outcome::Expired { orders } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(orders.len(), TAPS as usize);
    assert_eq!(world.state.orders().open_count(), 0, "no expired order stays open");
    assert_eq!(holders(&world), 0, "no buyer holds a unit of an expired order");
    assert_eq!(flash_sale(&world, 1).remaining, TAPS);

    // The request references stay for the retention window (a retried tap finds its order),
    // then go too.
    assert_eq!(world.state.orders().remembered_requests(), TAPS as usize);
    world.state.forget_requests_placed_before(plus_ms(world.now, 1));
    assert_eq!(world.state.orders().remembered_requests(), 0);
}

#[test]
fn a_closed_sale_keeps_no_count_of_what_each_buyer_holds() {
    // A one-minute sale whose orders may be paid for five minutes.
    let mut world = running(ScheduleFlashSale {
        ends_at: at(START + 60_000),
        ..sale(1, 11, 5, 2)
    });
    let first = placed(world.run(tap(1, 1, 7, 2)).0);
    world.setup(pay(first.id.get()));
    placed(world.run(tap(1, 2, 8, 1)).0);
    assert_eq!(holders(&world), 2);

    world.now = at(START + 60_000);
    world.run(Command::ExpireDue);
    assert!(flash_sale(&world, 1).closed);
    assert_eq!(holders(&world), 0);
    world.advance_ms(1_000);
    world.setup(cancel_by_buyer(2, 8));
    assert_eq!(holders(&world), 0);
    world.restart();
    assert_eq!(holders(&world), 0, "nor after a restart");
}

/// How many buyers sale 1 counts units for.
fn holders(world: &World) -> usize {
    world
        .state
        .flash_sale(sale_id(1))
        .expect("the shard knows the sale")
        .buyers_holding()
}

// ---------------------------------------------------------------------------------------------
// Tap counts: every answer counted once, published per sale, in memory until then
// ---------------------------------------------------------------------------------------------

/// The counts the shard publishes now (one effect per sale with taps since the last time).
fn published_counts(world: &mut World) -> Vec<(FlashSaleId, TapCounts)> {
    let mut effects = Vec::new();
    world.state.publish_tap_counts(&mut effects);
    effects
        .into_iter()
        .map(|effect| match effect {
            Effect::FlashSaleTapsCounted { sale, counts, .. } => (sale, counts),
            other => panic!("publishing tap counts made {other:?}"),
        })
        .collect()
}

#[test]
fn a_refused_tap_writes_nothing_and_is_counted_until_published() {
    let mut world = live_sale(1, 1);
    world.run(tap(1, 1, 1, 1));
    let (outcome, effects) = world.run(tap(1, 2, 2, 1));
    assert_eq!(outcome, Outcome::Rejected(Rejection::Tap(TapRefusal::SoldOut)));
    assert!(effects.is_empty(), "a refusal wrote {effects:?}");
    assert!(world.state.taps_counted());
    let counts = TapCounts {
        taps: 2,
        ordered: 1,
        sold_out: 1,
        ..TapCounts::default()
    };
    assert_eq!(published_counts(&mut world), vec![(sale_id(1), counts)]);
    assert!(!world.state.taps_counted());
    assert_eq!(published_counts(&mut world), vec![], "published twice");
}

#[test]
fn each_answer_is_counted_under_its_own_name() {
    let mut world = shops();
    world.setup(Command::from(sale(1, 11, 2, 1)));
    world.run(tap(1, 1, 1, 1));
    world.now = at(START);
    world.run(tap(1, 2, 1, 1));
    world.run(tap(1, 3, 1, 1));
    world.run(tap(1, 4, 2, 1));
    world.run(tap(1, 5, 3, 1));
    world.now = at(END);
    world.run(tap(1, 6, 4, 1));
    world.run(tap(9, 7, 4, 1));
    let counts = TapCounts {
        taps: 6,
        ordered: 2,
        sold_out: 1,
        limit_reached: 1,
        other: 2,
    };
    assert_eq!(published_counts(&mut world), vec![(sale_id(1), counts)]);
}

#[test]
fn a_retried_tap_is_not_counted_twice() {
    let mut world = live_sale(5, 1);
    world.run(tap_with_request(1, 1, 1, 1, "r-1"));
    world.run(tap_with_request(1, 2, 1, 1, "r-1"));
    let counts = TapCounts {
        taps: 1,
        ordered: 1,
        ..TapCounts::default()
    };
    assert_eq!(published_counts(&mut world), vec![(sale_id(1), counts)]);
}

#[test]
fn the_counts_of_two_sales_are_published_apart() {
    let mut world = shops();
    world.setup(Command::from(sale(1, 11, 3, 1)));
    world.setup(Command::from(sale(2, 12, 3, 1)));
    world.now = at(START);
    world.run(tap(1, 1, 1, 1));
    world.run(tap(2, 2, 1, 1));
    world.run(tap(2, 3, 1, 1));
    let one = |ordered, limit_reached| TapCounts {
        taps: ordered + limit_reached,
        ordered,
        limit_reached,
        ..TapCounts::default()
    };
    assert_eq!(
        published_counts(&mut world),
        vec![(sale_id(1), one(1, 0)), (sale_id(2), one(1, 1))]
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// N taps of one unit by N buyers against a sale of K units: K order, the rest are sold
    /// out, and the counts say exactly that, however often they were published between.
    #[test]
    fn tap_counts_equal_the_answers_given(
        units in 1..=10i64,
        taps in 0..=40i64,
        publish_every in 1..=8i64,
    ) {
        let mut world = live_sale(units, 1);
        let mut answered = TapCounts::default();
        let mut published = TapCounts::default();
        for n in 1..=taps {
            let (outcome, _) = world.run(tap(1, n, n, 1));
            answered.count(match outcome {
                Outcome::OrderPlaced(_) => Ok(()),
                Outcome::Rejected(Rejection::Tap(refusal)) => Err(refusal),
                other => panic!("a tap was answered {other:?}"),
            });
            if n % publish_every == 0 {
                for (_, c) in published_counts(&mut world) {
                    published = add(published, c);
                }
            }
        }
        for (_, c) in published_counts(&mut world) {
            published = add(published, c);
        }
        prop_assert_eq!(published, answered);
        prop_assert_eq!(published.taps, taps);
        prop_assert_eq!(published.ordered, taps.min(units));
        prop_assert_eq!(published.sold_out, (taps - units).max(0));
        prop_assert_eq!(published.limit_reached + published.other, 0);
    }
}

fn add(a: TapCounts, b: TapCounts) -> TapCounts {
    TapCounts {
        taps: a.taps + b.taps,
        ordered: a.ordered + b.ordered,
        sold_out: a.sold_out + b.sold_out,
        limit_reached: a.limit_reached + b.limit_reached,
        other: a.other + b.other,
    }
}
