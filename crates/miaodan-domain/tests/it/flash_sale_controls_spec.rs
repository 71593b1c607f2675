//! The live room's controls of a flash sale through `ShardState::apply`: ending a sale early
//! and topping up its units, named as sentences. Ending closes the sale as its end would
//! (what it holds goes back to available, orders keep their units and payment clocks); a
//! top-up reserves more of the warehouse's available units for the sale. Refusals follow the
//! order documented in `flash_sale::controls` and change nothing.

use crate::common;

use common::*;
use miaodan_domain::Timestamp;
use miaodan_domain::flash_sale::{
    ControlRefusal, FLASH_UNITS_MAX, FlashSale, FlashSaleId, ScheduleProblem, TapRefusal,
};
use miaodan_domain::orders::{CancelReason, Order, OrderState};
use miaodan_domain::shard::Effect;
use miaodan_domain::shard::{
    CancelOrder, Canceller, Command, EndFlashSale, Outcome, PayOrder, Rejection, ScheduleFlashSale, Tap, TopUpFlashSale,
};

const SKU: i64 = 1001;
const START: i64 = 60_000;
const END: i64 = 3_600_000;

/// Shop 1 sells SKU 1001 from warehouse 11 (10 available); shop 2 has a shop of its own.
fn shops() -> World {
    let mut world = World::default();
    world
        .shop(1)
        .warehouse(11, 1)
        .product(101, 1, &[(1001, 1999)])
        .stock(1, 1001, 11, 10)
        .shop(2)
        .warehouse(21, 2)
        .product(201, 2, &[(2001, 800)])
        .stock(2, 2001, 21, 10);
    world
}

fn at(ms_after_t0: i64) -> Timestamp {
    Timestamp::from_unix_ms(T0.unix_ms() + ms_after_t0)
}

fn sale_id(n: i64) -> FlashSaleId {
    FlashSaleId::new(n).expect("positive")
}

/// Shop 1's sale 1 of `units` units (two per buyer at most), scheduled at `T0` for `START`..`END`,
/// with the clock at `now`.
fn world_with_sale(units: i64, now: i64) -> World {
    let mut world = shops();
    world.setup(Command::from(ScheduleFlashSale {
        id: sale_id(1),
        shop: shop_id(1),
        sku: sku_id(SKU),
        warehouse: warehouse_id(11),
        starts_at: at(START),
        ends_at: at(END),
        price: fen(990),
        units,
        per_buyer_limit: units.min(2),
        payment_timeout_seconds: 300,
    }));
    world.now = at(now);
    world
}

fn end(shop: i64) -> Command {
    Command::from(EndFlashSale {
        sale: sale_id(1),
        shop: shop_id(shop),
    })
}

fn top_up(shop: i64, units: i64) -> Command {
    Command::from(TopUpFlashSale {
        sale: sale_id(1),
        shop: shop_id(shop),
        units,
    })
}

fn tap(order: i64, buyer: i64, units: i64) -> Command {
    Command::from(Tap {
        sale: sale_id(1),
        order: order_id(order),
        checkout: checkout_id(order),
        buyer: buyer_id(buyer),
        quantity: quantity(units),
        address: address(),
        request: None,
        client: Default::default(),
    })
}

fn placed(outcome: Outcome) -> Order {
    match outcome {
        Outcome::OrderPlaced(order) => order,
        other => panic!("expected an order, got {other:?}"),
    }
}

fn sale(world: &World) -> FlashSale {
    world
        .state
        .flash_sale(sale_id(1))
        .expect("the shard knows the sale")
        .sale
        .clone()
}

fn stock_changed(available: i64, reserved: i64, sold: i64) -> Effect {
    Effect::StockChanged {
        shop: shop_id(1),
        sku: sku_id(SKU),
        warehouse: warehouse_id(11),
        level: level(available, reserved, sold),
    }
}

/// Applies `command`, which must be refused with `expected` and change nothing.
fn assert_refused(world: &mut World, command: Command, expected: Rejection, case: &str) {
    let before = (world.state.inventory().clone(), world.open_orders(), sale(world));
    let (outcome, effects) = world.run(command);
    assert_eq!(outcome, Outcome::Rejected(expected), "{case}");
    assert_eq!(effects, vec![], "{case}: a refusal emits no effects");
    let after = (world.state.inventory().clone(), world.open_orders(), sale(world));
    assert_eq!(after, before, "{case}: a refusal changes nothing");
}

#[test]
fn ending_a_live_sale_returns_its_units_and_later_taps_answer_ended() {
    let mut world = world_with_sale(5, START + 1_000);
    let order = placed(world.run(tap(1, 7, 2)).0);
    world.run(Command::from(PayOrder {
        order: order_id(1),
        intent: intent_id(1),
    }));
    let unpaid = placed(world.run(tap(2, 8, 1)).0);
    assert_eq!(world.level(SKU, 11), level(5, 3, 2));
    let live = sale(&world);

    let (outcome, effects) = world.run(end(1));
    let ended = FlashSale {
        ends_at: world.now,
        remaining: 0,
        closed: true,
        ..live.clone()
    };
    assert_eq!(outcome, Outcome::FlashSaleEnded(ended.clone()));
    assert_eq!(
        effects,
        vec![
            stock_changed(7, 1, 2),
            Effect::FlashSaleEnded {
                sale: ended.clone(),
                returned: 2
            }
        ],
        "the two units the sale held go back to available; the unpaid order keeps its one"
    );
    let (outcome, _) = world.run(tap(3, 9, 1));
    assert_eq!(outcome, Outcome::Rejected(Rejection::Tap(TapRefusal::Ended)));
    assert_eq!(
        world.state.open_order(order_id(2)),
        Some(&unpaid),
        "its payment clock runs on"
    );

    // The unpaid order, paid in time, sells its unit; the paid one is untouched.
    world.run(Command::from(PayOrder {
        order: order_id(2),
        intent: intent_id(2),
    }));
    assert_eq!(world.level(SKU, 11), level(7, 0, 3));
    assert_eq!(order.state, OrderState::PendingPayment);
    world.restart();
    assert_eq!((sale(&world), world.level(SKU, 11)), (ended, level(7, 0, 3)));
    let (outcome, effects) = world.run(Command::ExpireDue);
    assert_eq!(
        (outcome, effects),
        (Outcome::Expired { orders: vec![] }, vec![]),
        "closed once"
    );
}

#[test]
fn an_unpaid_order_of_an_ended_sale_that_expires_releases_its_units_to_available() {
    let mut world = world_with_sale(3, START);
    let order = placed(world.run(tap(1, 7, 1)).0);
    world.run(end(1));
    assert_eq!(world.level(SKU, 11), level(9, 1, 0));
    world.now = order.payment_due_at;
    let (outcome, _) = world.run(Command::ExpireDue);
    assert_eq!(
        outcome,
        Outcome::Expired {
            orders: vec![order_id(1)]
        }
    );
    assert_eq!(world.level(SKU, 11), level(10, 0, 0));
    assert_eq!(sale(&world).remaining, 0, "not back to the ended sale");
}

#[test]
fn ending_a_scheduled_sale_returns_all_its_units_and_it_never_runs() {
    let mut world = world_with_sale(4, START - 10_000);
    let (outcome, effects) = world.run(end(1));
    let ended = sale(&world);
    assert_eq!(outcome, Outcome::FlashSaleEnded(ended.clone()));
    assert_eq!(
        (ended.starts_at, ended.ends_at, ended.remaining, ended.closed),
        (world.now, world.now, 0, true),
        "a sale ended before its start ran for no time"
    );
    assert_eq!(effects[0], stock_changed(10, 0, 0));
    world.now = at(START + 1_000);
    let (outcome, _) = world.run(tap(1, 7, 1));
    assert_eq!(outcome, Outcome::Rejected(Rejection::Tap(TapRefusal::Ended)));
}

#[test]
fn ending_is_refused_for_another_shops_an_ended_or_a_sold_out_sale() {
    let mut world = world_with_sale(2, START);
    let unknown = Command::from(EndFlashSale {
        sale: sale_id(9),
        shop: shop_id(1),
    });
    assert_refused(&mut world, unknown, Rejection::UnknownFlashSale, "unknown");
    assert_refused(&mut world, end(2), Rejection::UnknownFlashSale, "another shop's");
    placed(world.run(tap(1, 7, 2)).0);
    let sold_out = Rejection::FlashSaleControl(ControlRefusal::SoldOut);
    assert_refused(&mut world, end(1), sold_out, "sold out");
    world.now = at(END);
    let ended = Rejection::FlashSaleControl(ControlRefusal::Ended);
    assert_refused(&mut world, end(1), ended.clone(), "time is up, not yet swept");
    world.run(Command::ExpireDue);
    assert_refused(&mut world, end(1), ended, "closed");
}

#[test]
fn a_second_end_is_refused_as_ended() {
    let mut world = world_with_sale(2, START);
    world.run(end(1));
    let ended = Rejection::FlashSaleControl(ControlRefusal::Ended);
    assert_refused(&mut world, end(1), ended.clone(), "again");
    assert_refused(&mut world, top_up(1, 1), ended, "a top-up after the end");
}

#[test]
fn a_top_up_reserves_more_units_and_a_sold_out_sale_sells_again() {
    let mut world = world_with_sale(1, START);
    placed(world.run(tap(1, 7, 1)).0);
    let (outcome, _) = world.run(tap(2, 8, 1));
    assert_eq!(outcome, Outcome::Rejected(Rejection::Tap(TapRefusal::SoldOut)));
    let sold_out = sale(&world);

    let (outcome, effects) = world.run(top_up(1, 3));
    let topped = FlashSale {
        allotted: 4,
        remaining: 3,
        ..sold_out
    };
    assert_eq!(outcome, Outcome::FlashSaleToppedUp(topped.clone()));
    assert_eq!(
        effects,
        vec![
            stock_changed(6, 4, 0),
            Effect::FlashSaleToppedUp {
                sale: topped.clone(),
                units: 3
            }
        ]
    );
    placed(world.run(tap(2, 8, 1)).0);
    assert_eq!(sale(&world).remaining, 2);
    world.restart();
    assert_eq!(world.level(SKU, 11), level(6, 4, 0));
    // The end returns what the sale still holds, the top-up's units included.
    world.run(end(1));
    assert_eq!(world.level(SKU, 11), level(8, 2, 0));
}

#[test]
fn a_scheduled_sale_may_be_topped_up_before_it_starts() {
    let mut world = world_with_sale(2, START - 1);
    world.run(top_up(1, 8));
    assert_eq!((sale(&world).allotted, sale(&world).remaining), (10, 10));
    assert_eq!(world.level(SKU, 11), level(0, 10, 0));
}

#[test]
fn top_up_refusals_follow_the_documented_precedence() {
    let mut world = world_with_sale(2, START);
    let ended = Rejection::FlashSaleControl(ControlRefusal::Ended);
    let cases: Vec<(Command, Rejection, &str)> = vec![
        (
            top_up(1, 0),
            Rejection::InvalidFlashSale(ScheduleProblem::UnitsOutOfRange),
            "no units",
        ),
        (
            top_up(2, 0),
            Rejection::InvalidFlashSale(ScheduleProblem::UnitsOutOfRange),
            "no units, another shop",
        ),
        (top_up(2, 1), Rejection::UnknownFlashSale, "another shop's"),
        (
            top_up(1, FLASH_UNITS_MAX - 1),
            Rejection::FlashSaleControl(ControlRefusal::UnitsMaxReached),
            "beyond the most a sale allots",
        ),
        (
            top_up(1, 9),
            Rejection::InsufficientStock {
                sku: sku_id(SKU),
                requested: 9,
                available: 8,
            },
            "more than available",
        ),
    ];
    for (command, expected, case) in cases {
        assert_refused(&mut world, command, expected, case);
    }
    world.run(top_up(1, 8));
    assert_eq!(world.level(SKU, 11), level(0, 10, 0), "every available unit may go");
    world.now = at(END);
    assert_refused(&mut world, top_up(1, 1), ended, "time is up");
}

#[test]
fn a_cancelled_flash_order_gives_its_units_back_to_a_topped_up_sale() {
    let mut world = world_with_sale(1, START);
    placed(world.run(tap(1, 7, 1)).0);
    world.run(top_up(1, 1));
    world.run(Command::from(CancelOrder {
        order: order_id(1),
        by: Canceller::Buyer(buyer_id(7)),
        reason: CancelReason::BuyerCancelled,
    }));
    let now = sale(&world);
    assert_eq!((now.allotted, now.remaining), (2, 2));
    assert_eq!(world.level(SKU, 11), level(8, 2, 0));
}
