//! Specification of `ShardState::apply`: what each command does to stock and orders, which
//! effects it emits, and which named rejection it answers with, in the documented order.

use crate::common;

use common::*;
use miaodan_domain::catalog::{ListingStatus, NewSku, ProductChanges, ProductTitle, ShopName, SkuChanges, SkuName};
use miaodan_domain::geo::Adcode;
use miaodan_domain::inventory::{Allocation, MovementCause, STOCK_UNITS_MAX, StockLevel, StockMovement, WarehouseName};
use miaodan_domain::orders::{CancelReason, ORDER_LINES_MAX, Order, OrderLine, OrderState};
use miaodan_domain::shard::{
    AddSku, CancelOrder, CreateProduct, CreateShop, CreateWarehouse, PayOrder, SetStock, UpdateProduct, UpdateSku,
};
use miaodan_domain::shard::{Canceller, Command, Effect, Outcome, PlaceOrder, Rejection, RequestRef};
use miaodan_domain::{Fen, Timestamp};

/// Shop 1 sells product 101 (SKU 1001 at ¥19.99, SKU 1002 at ¥5.00) from warehouses 11 and 12;
/// shop 2 sells product 201 (SKU 2001 at ¥8.00) from warehouse 21.
///
/// | sku  | warehouse | available |
/// |------|-----------|-----------|
/// | 1001 | 11        | 3         |
/// | 1001 | 12        | 5         |
/// | 1002 | 11        | 2         |
/// | 2001 | 21        | 10        |
fn two_shops() -> World {
    let mut world = World::default();
    world
        .shop(1)
        .warehouse(11, 1)
        .warehouse(12, 1)
        .product(101, 1, &[(1001, 1999), (1002, 500)])
        .stock(1, 1001, 11, 3)
        .stock(1, 1001, 12, 5)
        .stock(1, 1002, 11, 2)
        .shop(2)
        .warehouse(21, 2)
        .product(201, 2, &[(2001, 800)])
        .stock(2, 2001, 21, 10);
    world
}

fn placed(outcome: Outcome) -> Order {
    match outcome {
        Outcome::OrderPlaced(order) => order,
        other => panic!("expected the order to be placed, got {other:?}"),
    }
}

/// Applies `command`, which must be refused with `expected` and leave no trace: no effects,
/// the same stock, the same open orders.
fn assert_refused(world: &mut World, command: Command, expected: Rejection, case: &str) {
    let inventory_before = world.state.inventory().clone();
    let open_before = world.open_orders();
    let (outcome, effects) = world.run(command);
    assert_eq!(outcome, Outcome::Rejected(expected), "{case}");
    assert_eq!(effects, vec![], "{case}: a refusal emits no effects");
    assert_eq!(
        world.state.inventory(),
        &inventory_before,
        "{case}: a refusal moves no stock"
    );
    assert_eq!(
        world.open_orders(),
        open_before,
        "{case}: a refusal opens or closes no order"
    );
}

fn cancel(order: i64, by: Canceller) -> Command {
    Command::from(CancelOrder {
        order: order_id(order),
        by,
        reason: CancelReason::BuyerCancelled,
    })
}

fn pay(order: i64) -> Command {
    // The intent does not matter to the order's shard: it records which capture paid it.
    Command::from(PayOrder {
        order: order_id(order),
        intent: intent_id(order),
    })
}

/// The effect that makes one stock row's new level durable; every SKU in these tests is
/// shop 1's unless its id starts with 2.
fn stock_changed(sku: i64, warehouse: i64, level: StockLevel) -> Effect {
    let shop = if sku >= 2000 { 2 } else { 1 };
    Effect::StockChanged {
        shop: shop_id(shop),
        sku: sku_id(sku),
        warehouse: warehouse_id(warehouse),
        level,
    }
}

fn at_ms(ms: i64) -> Timestamp {
    Timestamp::from_unix_ms(ms)
}

/// One row of a place-order table: who orders what, and the refusal it must get.
struct Refusal {
    case: &'static str,
    shop: i64,
    lines: Vec<(i64, i64)>,
    expected: Rejection,
}

fn refusal(case: &'static str, shop: i64, lines: &[(i64, i64)], expected: Rejection) -> Refusal {
    Refusal {
        case,
        shop,
        lines: lines.to_vec(),
        expected,
    }
}

/// One `ExpireDue` at `T0 + after_ms`: the orders it must expire and the stock afterwards.
struct Sweep {
    after_ms: i64,
    expiring: Vec<i64>,
    stock_1001_at_12: StockLevel,
    stock_1002_at_11: StockLevel,
}

#[test]
fn a_placed_order_reserves_each_line_from_the_fullest_warehouse_first() {
    let mut world = two_shops();
    let (outcome, effects) = world.run(Command::from(place(1, 1, 7, &[(1001, 7), (1002, 1)])));

    let expected = Order {
        id: order_id(1),
        checkout: checkout_id(1),
        shop: shop_id(1),
        buyer: buyer_id(7),
        lines: vec![
            OrderLine {
                sku: sku_id(1001),
                quantity: quantity(7),
                unit_price: fen(1999),
                // Warehouse 12 holds more, so it gives all it has; 11 gives the rest.
                allocations: vec![
                    Allocation {
                        warehouse: warehouse_id(12),
                        quantity: 5,
                    },
                    Allocation {
                        warehouse: warehouse_id(11),
                        quantity: 2,
                    },
                ],
            },
            OrderLine {
                sku: sku_id(1002),
                quantity: quantity(1),
                unit_price: fen(500),
                allocations: vec![Allocation {
                    warehouse: warehouse_id(11),
                    quantity: 1,
                }],
            },
        ],
        total: fen(7 * 1999 + 500),
        address: address(),
        state: OrderState::PendingPayment,
        version: 1,
        created_at: T0,
        payment_due_at: T0.plus_seconds(15 * 60),
        paid_at: None,
        paid_by: None,
        cancelled_at: None,
        cancel_reason: None,
        flash_sale: None,
        promise: None,
    };
    assert_eq!(outcome, Outcome::OrderPlaced(expected.clone()));
    assert_eq!(
        effects,
        vec![
            stock_changed(1001, 12, level(0, 5, 0)),
            stock_changed(1001, 11, level(1, 2, 0)),
            stock_changed(1002, 11, level(1, 1, 0)),
            Effect::OrderCreated {
                order: expected.clone(),
                request: None
            },
        ]
    );
    assert_eq!(world.open_orders(), vec![expected]);
    assert_eq!(
        world.level(2001, 21),
        level(10, 0, 0),
        "another shop's stock is untouched"
    );
}

#[test]
fn an_order_reserves_all_its_lines_or_none() {
    let cases = [
        refusal(
            "the second line is short",
            1,
            &[(1001, 2), (1002, 3)],
            Rejection::InsufficientStock {
                sku: sku_id(1002),
                requested: 3,
                available: 2,
            },
        ),
        refusal(
            "two lines of one SKU together exceed its stock",
            1,
            &[(1001, 5), (1001, 4)],
            Rejection::InsufficientStock {
                sku: sku_id(1001),
                requested: 4,
                available: 3,
            },
        ),
        refusal(
            "a split line succeeds before a later line is short",
            1,
            &[(1001, 8), (1002, 1), (1002, 2)],
            Rejection::InsufficientStock {
                sku: sku_id(1002),
                requested: 2,
                available: 1,
            },
        ),
        refusal(
            "the last line is unknown",
            1,
            &[(1001, 1), (1002, 1), (9999, 1)],
            Rejection::UnknownSku { sku: sku_id(9999) },
        ),
    ];
    for Refusal {
        case,
        shop,
        lines,
        expected,
    } in cases
    {
        let mut world = two_shops();
        assert_refused(&mut world, Command::from(place(1, shop, 7, &lines)), expected, case);
        assert_eq!(world.level(1001, 11), level(3, 0, 0), "{case}");
        assert_eq!(world.level(1001, 12), level(5, 0, 0), "{case}");
        assert_eq!(world.level(1002, 11), level(2, 0, 0), "{case}");
        // Whatever the refused order had taken was given back: all of it can still be ordered.
        let everything = Command::from(place(2, 1, 7, &[(1001, 8), (1002, 2)]));
        assert_eq!(placed(world.run(everything).0).id, order_id(2), "{case}");
    }
}

#[test]
fn a_checkout_line_for_another_shops_sku_is_unknown_sku() {
    let unknown = |sku: i64| Rejection::UnknownSku { sku: sku_id(sku) };
    let cases = [
        refusal("shop 1 orders shop 2's SKU", 1, &[(2001, 1)], unknown(2001)),
        refusal(
            "shop 2 orders shop 1's SKU after its own",
            2,
            &[(2001, 1), (1001, 1)],
            unknown(1001),
        ),
        refusal("a SKU that exists nowhere", 1, &[(9999, 1)], unknown(9999)),
    ];
    for Refusal {
        case,
        shop,
        lines,
        expected,
    } in cases
    {
        let mut world = two_shops();
        assert_eq!(expected.code(), "unknown_sku");
        assert_refused(&mut world, Command::from(place(1, shop, 7, &lines)), expected, case);
    }
}

/// The doc comment of `place_order`: the shop, the number of lines, then each line in request
/// order (the SKU belongs to the shop, it and its product are active, enough units are
/// available). The first failing check is the answer.
#[test]
fn order_rejections_follow_the_documented_precedence() {
    let too_many = [(9999, 1); ORDER_LINES_MAX + 1];
    let short = |sku: i64, requested: i64, available: i64| Rejection::InsufficientStock {
        sku: sku_id(sku),
        requested,
        available,
    };
    let cases = [
        refusal(
            "an unknown shop comes before an empty order",
            9,
            &[],
            Rejection::UnknownShop,
        ),
        refusal(
            "an unknown shop comes before unknown SKUs",
            9,
            &[(9999, 1)],
            Rejection::UnknownShop,
        ),
        refusal(
            "an unknown shop comes before a short line",
            9,
            &[(1001, 99)],
            Rejection::UnknownShop,
        ),
        refusal("an order without lines", 1, &[], Rejection::TooManyLines),
        refusal(
            "too many lines come before unknown SKUs",
            1,
            &too_many,
            Rejection::TooManyLines,
        ),
        refusal(
            "an unknown SKU before an archived one",
            1,
            &[(9999, 1), (1003, 1)],
            Rejection::UnknownSku { sku: sku_id(9999) },
        ),
        refusal(
            "an archived SKU before an unknown one",
            1,
            &[(1003, 1), (9999, 1)],
            Rejection::SkuUnavailable { sku: sku_id(1003) },
        ),
        refusal(
            "an archived SKU with no stock is unavailable, not short",
            1,
            &[(1003, 5)],
            Rejection::SkuUnavailable { sku: sku_id(1003) },
        ),
        refusal(
            "a short line before an unknown SKU",
            1,
            &[(1001, 9), (9999, 1)],
            short(1001, 9, 8),
        ),
        refusal(
            "a short line before an archived SKU",
            1,
            &[(1002, 3), (1003, 1)],
            short(1002, 3, 2),
        ),
        refusal(
            "another shop's SKU before a short line",
            1,
            &[(2001, 1), (1001, 9)],
            Rejection::UnknownSku { sku: sku_id(2001) },
        ),
    ];
    for Refusal {
        case,
        shop,
        lines,
        expected,
    } in cases
    {
        let mut world = two_shops();
        world.setup(Command::from(AddSku {
            shop: shop_id(1),
            product: product_id(101),
            sku: NewSku {
                id: sku_id(1003),
                name: SkuName::parse("retired").expect("valid"),
                price: fen(100),
            },
        }));
        world.sku_status(1, 1003, ListingStatus::Archived);
        assert_refused(&mut world, Command::from(place(1, shop, 7, &lines)), expected, case);
    }
}

#[test]
fn an_order_may_have_exactly_order_lines_max_lines() {
    let mut world = two_shops();
    world.stock(1, 1001, 11, ORDER_LINES_MAX as i64);
    let lines = vec![(1001, 1); ORDER_LINES_MAX];
    let order = placed(world.run(Command::from(place(1, 1, 7, &lines))).0);
    assert_eq!(order.lines.len(), ORDER_LINES_MAX);
    assert_eq!(order.total, fen(1999 * ORDER_LINES_MAX as i64));
    assert_eq!(
        world.level(1001, 11).reserved + world.level(1001, 12).reserved,
        ORDER_LINES_MAX as i64
    );
}

#[test]
fn cancelling_releases_exactly_what_was_reserved() {
    let mut world = two_shops();
    // Another order holds units in the same rows; its reservation must survive the cancel.
    placed(world.run(Command::from(place(1, 1, 8, &[(1001, 1), (1002, 1)]))).0);
    let before = [world.level(1001, 11), world.level(1001, 12), world.level(1002, 11)];
    let order = placed(world.run(Command::from(place(2, 1, 7, &[(1001, 6), (1002, 1)]))).0);
    assert_eq!(
        order.lines[0].allocations,
        vec![
            Allocation {
                warehouse: warehouse_id(12),
                quantity: 4
            },
            Allocation {
                warehouse: warehouse_id(11),
                quantity: 2
            },
        ],
        "the line is split, so the release must return units to both warehouses"
    );

    world.advance_ms(30_000);
    let (outcome, effects) = world.run(cancel(2, Canceller::Buyer(buyer_id(7))));

    let mut cancelled = order.clone();
    cancelled.state = OrderState::Cancelled;
    cancelled.version = 2;
    cancelled.cancelled_at = Some(world.now);
    cancelled.cancel_reason = Some(CancelReason::BuyerCancelled);
    assert_eq!(outcome, Outcome::OrderCancelled(cancelled.clone()));
    assert_eq!(
        [world.level(1001, 11), world.level(1001, 12), world.level(1002, 11)],
        before
    );
    assert_eq!(
        effects,
        vec![
            Effect::OrderTransitioned(cancelled),
            stock_changed(1001, 12, before[1]),
            stock_changed(1001, 11, before[0]),
            stock_changed(1002, 11, before[2]),
        ]
    );
    assert_eq!(
        world.open_orders().iter().map(|o| o.id).collect::<Vec<_>>(),
        vec![order_id(1)]
    );

    for (case, command) in [
        ("cancelling twice", cancel(2, Canceller::Buyer(buyer_id(7)))),
        ("paying a cancelled order", pay(2)),
        (
            "cancelling an order that never existed",
            cancel(99, Canceller::Platform),
        ),
    ] {
        assert_refused(&mut world, command, Rejection::OrderNotOpen, case);
    }
}

#[test]
fn paying_turns_reserved_units_into_sold() {
    let mut world = two_shops();
    let order = placed(world.run(Command::from(place(1, 1, 7, &[(1001, 4)]))).0);
    assert_eq!(world.level(1001, 12), level(1, 4, 0));

    world.advance_ms(60_000);
    let (outcome, effects) = world.run(pay(1));

    let mut paid = order;
    paid.state = OrderState::Paid;
    paid.version = 2;
    paid.paid_at = Some(world.now);
    paid.paid_by = Some(intent_id(1));
    assert_eq!(outcome, Outcome::OrderPaid(paid.clone()));
    assert_eq!(world.level(1001, 12), level(1, 0, 4));
    assert_eq!(world.level(1001, 11), level(3, 0, 0));
    assert_eq!(
        effects[..2],
        [
            Effect::OrderTransitioned(paid.clone()),
            stock_changed(1001, 12, level(1, 0, 4))
        ]
    );
    // Dispatched from warehouse 12, the only one holding 4 units: one order of its capacity.
    match &effects[2..] {
        [
            Effect::CapacityBooked {
                warehouse, orders: 1, ..
            },
            Effect::OrderDispatched { order, decision },
        ] => {
            assert_eq!(*warehouse, warehouse_id(12));
            assert_eq!(order, &paid);
            assert_eq!(decision.parcels[0].warehouse, warehouse_id(12));
            assert_eq!(decision.parcels[0].lines, vec![(sku_id(1001), 4)]);
        }
        other => panic!("not dispatched: {other:?}"),
    }
    assert_eq!(world.open_orders(), vec![]);

    for (case, command) in [
        ("paying twice", pay(1)),
        (
            "the buyer cancelling a paid order",
            cancel(1, Canceller::Buyer(buyer_id(7))),
        ),
        ("the platform cancelling a paid order", cancel(1, Canceller::Platform)),
    ] {
        assert_refused(&mut world, command, Rejection::OrderNotOpen, case);
    }

    // A paid order never expires, even long after its payment was due.
    world.advance_ms(3_600_000);
    let (outcome, effects) = world.run(Command::ExpireDue);
    assert_eq!(outcome, Outcome::Expired { orders: vec![] });
    assert_eq!(effects, vec![]);
    assert_eq!(world.level(1001, 12), level(1, 0, 4));
}

#[test]
fn a_price_change_does_not_touch_a_placed_order() {
    let mut world = two_shops();
    let order = placed(world.run(Command::from(place(1, 1, 7, &[(1001, 2)]))).0);
    let changes = SkuChanges {
        price: Some(fen(2999)),
        ..SkuChanges::default()
    };
    world.setup(Command::from(UpdateSku {
        shop: shop_id(1),
        sku: sku_id(1001),
        changes,
    }));
    let Outcome::OrderPaid(paid) = world.run(pay(1)).0 else {
        panic!("the order should be paid")
    };
    assert_eq!(paid.lines[0].unit_price, fen(1999));
    assert_eq!(paid.total, order.total);
    let second = placed(world.run(Command::from(place(2, 1, 7, &[(1001, 2)]))).0);
    assert_eq!(second.total, fen(2 * 2999), "a new order pays the new price");
}

#[test]
fn unpaid_orders_expire_at_their_due_time_and_not_before() {
    let mut world = two_shops();
    let with_timeout = |mut command: PlaceOrder, seconds: i64| {
        command.payment_timeout_seconds = seconds;
        Command::from(command)
    };
    placed(world.run(with_timeout(place(1, 1, 7, &[(1001, 1)]), 60)).0);
    placed(world.run(with_timeout(place(3, 1, 8, &[(1002, 2)]), 120)).0);
    // Shop 2's order, placed 30 s later, falls due at the same instant as order 3; the sweep
    // takes both, in order of due time then id.
    world.advance_ms(30_000);
    placed(world.run(with_timeout(place(2, 2, 9, &[(2001, 1)]), 90)).0);
    let start = T0.unix_ms();

    let sweeps = [
        Sweep {
            after_ms: 59_999,
            expiring: vec![],
            stock_1001_at_12: level(4, 1, 0),
            stock_1002_at_11: level(0, 2, 0),
        },
        Sweep {
            after_ms: 60_000,
            expiring: vec![1],
            stock_1001_at_12: level(5, 0, 0),
            stock_1002_at_11: level(0, 2, 0),
        },
        Sweep {
            after_ms: 60_000,
            expiring: vec![],
            stock_1001_at_12: level(5, 0, 0),
            stock_1002_at_11: level(0, 2, 0),
        },
        Sweep {
            after_ms: 119_999,
            expiring: vec![],
            stock_1001_at_12: level(5, 0, 0),
            stock_1002_at_11: level(0, 2, 0),
        },
        Sweep {
            after_ms: 120_000,
            expiring: vec![2, 3],
            stock_1001_at_12: level(5, 0, 0),
            stock_1002_at_11: level(2, 0, 0),
        },
    ];
    for Sweep {
        after_ms,
        expiring,
        stock_1001_at_12,
        stock_1002_at_11,
    } in sweeps
    {
        let now = start + after_ms;
        world.now = at_ms(now);
        let open_before = world.open_orders();
        let (outcome, effects) = world.run(Command::ExpireDue);
        let case = format!("ExpireDue at T0 + {after_ms} ms");
        let expected_ids = expiring.iter().map(|&id| order_id(id)).collect();
        assert_eq!(outcome, Outcome::Expired { orders: expected_ids }, "{case}");
        assert_eq!(world.level(1001, 12), stock_1001_at_12, "{case}");
        assert_eq!(world.level(1002, 11), stock_1002_at_11, "{case}");
        let transitioned: Vec<Order> = effects
            .iter()
            .filter_map(|effect| match effect {
                Effect::OrderTransitioned(order) => Some(order.clone()),
                _ => None,
            })
            .collect();
        let expected: Vec<Order> = open_before
            .into_iter()
            .filter(|order| expiring.contains(&order.id.get()))
            .map(|mut order| {
                order.state = OrderState::Cancelled;
                order.version = 2;
                order.cancelled_at = Some(at_ms(now));
                order.cancel_reason = Some(CancelReason::PaymentTimeout);
                order
            })
            .collect();
        assert_eq!(transitioned, expected, "{case}");
        assert_eq!(
            effects.is_empty(),
            expiring.is_empty(),
            "{case}: an idle sweep emits nothing"
        );
    }
    assert_eq!(world.open_orders(), vec![]);
    assert_eq!(world.level(2001, 21), level(10, 0, 0));
    assert_refused(&mut world, pay(1), Rejection::OrderNotOpen, "paying an expired order");
}

#[test]
fn expiry_survives_a_restart_from_snapshot() {
    let mut world = two_shops();
    let mut due_soon = place(1, 1, 7, &[(1001, 6)]);
    due_soon.payment_timeout_seconds = 60;
    placed(world.run(Command::from(due_soon)).0);
    placed(world.run(Command::from(place(2, 1, 8, &[(1001, 1)]))).0);
    placed(world.run(Command::from(place(3, 1, 9, &[(1002, 1)]))).0);
    world.run(pay(3));

    let inventory_before = world.state.inventory().clone();
    let open_before = world.open_orders();
    world.restart();
    assert_eq!(
        world.state.inventory(),
        &inventory_before,
        "the restarted shard has the same stock"
    );
    assert_eq!(
        world.open_orders(),
        open_before,
        "the restarted shard has the same open orders"
    );
    assert_eq!(world.level(1002, 11), level(1, 0, 1), "sold units survive the restart");

    world.advance_ms(59_999);
    assert_eq!(
        world.run(Command::ExpireDue),
        (Outcome::Expired { orders: vec![] }, vec![])
    );
    world.advance_ms(1);
    let (outcome, _) = world.run(Command::ExpireDue);
    assert_eq!(
        outcome,
        Outcome::Expired {
            orders: vec![order_id(1)]
        }
    );
    // Order 1 took 5 units from warehouse 12 and 1 from 11; order 2 then took 1 from 11.
    assert_eq!(world.level(1001, 12), level(5, 0, 0));
    assert_eq!(world.level(1001, 11), level(2, 1, 0), "order 2 still holds its unit");

    // And the store, restarted again, agrees.
    world.restart();
    assert_eq!(
        world.open_orders().iter().map(|o| o.id).collect::<Vec<_>>(),
        vec![order_id(2)]
    );
    assert_eq!(world.level(1001, 12), level(5, 0, 0));
    assert_eq!(world.level(1001, 11), level(2, 1, 0));
}

#[test]
fn a_buyer_cannot_cancel_another_buyers_order() {
    let mut world = two_shops();
    placed(world.run(Command::from(place(1, 1, 7, &[(1001, 2)]))).0);
    assert_refused(
        &mut world,
        cancel(1, Canceller::Buyer(buyer_id(8))),
        Rejection::OrderNotOpen,
        "another buyer is told the order is not open, as if it did not exist",
    );
    assert_eq!(world.level(1001, 12), level(3, 2, 0));

    let (outcome, _) = world.run(Command::from(CancelOrder {
        order: order_id(1),
        by: Canceller::Platform,
        reason: CancelReason::CheckoutFailed,
    }));
    let Outcome::OrderCancelled(order) = outcome else {
        panic!("the platform may cancel any open order")
    };
    assert_eq!(order.cancel_reason, Some(CancelReason::CheckoutFailed));

    placed(world.run(Command::from(place(2, 1, 7, &[(1001, 2)]))).0);
    let (outcome, _) = world.run(cancel(2, Canceller::Buyer(buyer_id(7))));
    assert!(
        matches!(outcome, Outcome::OrderCancelled(_)),
        "the buyer may cancel its own order: {outcome:?}"
    );
}

#[test]
fn an_archived_sku_or_product_cannot_be_ordered() {
    type Setup = fn(&mut World);
    let cases: [(&str, Setup, i64, Option<Rejection>); 5] = [
        ("an active SKU", |_| {}, 1001, None),
        (
            "an archived SKU",
            |w| {
                w.sku_status(1, 1001, ListingStatus::Archived);
            },
            1001,
            Some(Rejection::SkuUnavailable { sku: sku_id(1001) }),
        ),
        (
            "an active SKU of an archived product",
            |w| {
                w.product_status(1, 101, ListingStatus::Archived);
            },
            1002,
            Some(Rejection::SkuUnavailable { sku: sku_id(1002) }),
        ),
        (
            "a SKU archived and restored",
            |w| {
                w.sku_status(1, 1001, ListingStatus::Archived)
                    .sku_status(1, 1001, ListingStatus::Active);
            },
            1001,
            None,
        ),
        (
            "a product archived and restored",
            |w| {
                w.product_status(1, 101, ListingStatus::Archived)
                    .product_status(1, 101, ListingStatus::Active);
            },
            1002,
            None,
        ),
    ];
    for (case, setup, sku, expected) in cases {
        let mut world = two_shops();
        setup(&mut world);
        let command = Command::from(place(1, 1, 7, &[(sku, 1)]));
        match expected {
            Some(rejection) => assert_refused(&mut world, command, rejection, case),
            None => {
                placed(world.run(command).0);
            }
        }
    }
}

#[test]
fn archiving_leaves_existing_orders_payable() {
    let mut world = two_shops();
    placed(world.run(Command::from(place(1, 1, 7, &[(1001, 1), (1002, 1)]))).0);
    world
        .sku_status(1, 1001, ListingStatus::Archived)
        .product_status(1, 101, ListingStatus::Archived);
    let (outcome, _) = world.run(pay(1));
    assert!(matches!(outcome, Outcome::OrderPaid(_)), "{outcome:?}");
    assert_eq!(world.level(1002, 11), level(1, 0, 1));
}

#[test]
fn a_retried_request_gets_the_order_it_already_placed() {
    let mut world = two_shops();
    let request = RequestRef("buyer-7/key-a".into());
    let with_request = |id: i64, shop: i64, lines: &[(i64, i64)], request: &RequestRef| -> PlaceOrder {
        PlaceOrder {
            request: Some(request.clone()),
            ..place(id, shop, 7, lines)
        }
    };
    let (outcome, effects) = world.run(Command::from(with_request(1, 1, &[(1001, 2)], &request)));
    let first = placed(outcome);
    assert!(effects.contains(&Effect::OrderCreated {
        order: first,
        request: Some(request.clone())
    }));

    // Retries are answered before any check: the shop, the lines and the stock don't matter.
    let retries: [(&str, PlaceOrder); 4] = [
        ("the same request again", with_request(2, 1, &[(1001, 2)], &request)),
        (
            "the same request naming more units than exist",
            with_request(3, 1, &[(1001, 99)], &request),
        ),
        (
            "the same request naming an unknown shop",
            with_request(4, 9, &[(1001, 2)], &request),
        ),
        ("the same request with no lines", with_request(5, 1, &[], &request)),
    ];
    for (case, retry) in retries {
        let (outcome, effects) = world.run(Command::from(retry));
        assert_eq!(outcome, Outcome::OrderAlreadyPlaced(order_id(1)), "{case}");
        assert_eq!(effects, vec![], "{case}");
        assert_eq!(world.level(1001, 12), level(3, 2, 0), "{case}: reserved once");
    }

    // Even after the order is closed and the shard restarted, the answer is the same.
    world.run(pay(1));
    world.restart();
    let (outcome, effects) = world.run(Command::from(with_request(6, 1, &[(1001, 2)], &request)));
    assert_eq!((outcome, effects), (Outcome::OrderAlreadyPlaced(order_id(1)), vec![]));

    // Another request is another order.
    let other = RequestRef("buyer-7/key-b".into());
    let order = placed(world.run(Command::from(with_request(7, 1, &[(1001, 2)], &other))).0);
    assert_eq!(order.id, order_id(7));
}

#[test]
fn merchant_commands_on_another_shops_product_are_unknown_product() {
    let new_sku = |id: i64| NewSku {
        id: sku_id(id),
        name: SkuName::parse("intruder").expect("valid"),
        price: fen(1),
    };
    let archive_product = ProductChanges {
        status: Some(ListingStatus::Archived),
        ..ProductChanges::default()
    };
    let reprice = SkuChanges {
        price: Some(fen(1)),
        ..SkuChanges::default()
    };
    let cases: Vec<(&str, Command, Rejection)> = vec![
        (
            "shop 2 archives shop 1's product",
            Command::from(UpdateProduct {
                id: product_id(101),
                shop: shop_id(2),
                changes: archive_product.clone(),
            }),
            Rejection::UnknownProduct,
        ),
        (
            "shop 2 adds a SKU to shop 1's product",
            Command::from(AddSku {
                shop: shop_id(2),
                product: product_id(101),
                sku: new_sku(2002),
            }),
            Rejection::UnknownProduct,
        ),
        (
            "a product that exists nowhere",
            Command::from(UpdateProduct {
                id: product_id(999),
                shop: shop_id(1),
                changes: archive_product,
            }),
            Rejection::UnknownProduct,
        ),
        (
            "shop 2 reprices shop 1's SKU",
            Command::from(UpdateSku {
                shop: shop_id(2),
                sku: sku_id(1001),
                changes: reprice,
            }),
            Rejection::UnknownSku { sku: sku_id(1001) },
        ),
        (
            "shop 2 sets stock of shop 1's SKU in its own warehouse",
            Command::from(SetStock {
                shop: shop_id(2),
                sku: sku_id(1001),
                warehouse: warehouse_id(21),
                available: 50,
            }),
            Rejection::UnknownSku { sku: sku_id(1001) },
        ),
        (
            "shop 1 sets stock of its SKU in shop 2's warehouse",
            Command::from(SetStock {
                shop: shop_id(1),
                sku: sku_id(1001),
                warehouse: warehouse_id(21),
                available: 50,
            }),
            Rejection::UnknownWarehouse,
        ),
        (
            "shop 1 sets stock in a warehouse that exists nowhere",
            Command::from(SetStock {
                shop: shop_id(1),
                sku: sku_id(1001),
                warehouse: warehouse_id(99),
                available: 50,
            }),
            Rejection::UnknownWarehouse,
        ),
        (
            "a warehouse for a shop this shard does not own",
            Command::from(CreateWarehouse {
                id: warehouse_id(31),
                shop: shop_id(3),
                name: WarehouseName::parse("elsewhere").expect("valid"),
                location: Adcode::parse("310101000000").expect("known"),
            }),
            Rejection::UnknownShop,
        ),
        (
            "a product for a shop this shard does not own",
            Command::from(CreateProduct {
                id: product_id(301),
                shop: shop_id(3),
                title: ProductTitle::parse("elsewhere").expect("valid"),
                description: None,
                gtin: None,
                goods_class: None,
                skus: vec![new_sku(3001)],
            }),
            Rejection::UnknownShop,
        ),
        (
            "creating a shop twice",
            Command::from(CreateShop {
                id: shop_id(1),
                name: ShopName::parse("again").expect("valid"),
                category: Default::default(),
            }),
            Rejection::ShopExists,
        ),
    ];
    for (case, command, expected) in cases {
        let mut world = two_shops();
        let store_before = format!("{:?}", world.store);
        let sku_before = world.state.sku(sku_id(1001)).cloned();
        assert_refused(&mut world, command, expected, case);
        assert_eq!(world.state.sku(sku_id(1001)).cloned(), sku_before, "{case}");
        assert_eq!(world.state.sku(sku_id(2002)), None, "{case}");
        assert!(!world.state.owns_shop(shop_id(3)), "{case}");
        assert_eq!(
            format!("{:?}", world.store),
            store_before,
            "{case}: nothing was written"
        );
        // Shop 1's product is still orderable: it was not archived behind its back.
        placed(world.run(Command::from(place(1, 1, 7, &[(1002, 1)]))).0);
    }
}

#[test]
fn setting_stock_keeps_reserved_and_sold_units() {
    let mut world = two_shops();
    placed(world.run(Command::from(place(1, 1, 7, &[(1002, 1)]))).0);
    world.run(pay(1));
    placed(world.run(Command::from(place(2, 1, 7, &[(1002, 1)]))).0);
    assert_eq!(world.level(1002, 11), level(0, 1, 1));

    // (available set by the merchant, level afterwards, units moved: none for a count that
    // changes nothing)
    let counts: [(i64, (i64, i64, i64), i64); 5] = [
        (7, (7, 1, 1), 7),
        (0, (0, 1, 1), -7),
        (STOCK_UNITS_MAX, (STOCK_UNITS_MAX, 1, 1), STOCK_UNITS_MAX),
        (2, (2, 1, 1), 2 - STOCK_UNITS_MAX),
        (2, (2, 1, 1), 0),
    ];
    for (available, (a, r, s), delta) in counts {
        let command = Command::from(SetStock {
            shop: shop_id(1),
            sku: sku_id(1002),
            warehouse: warehouse_id(11),
            available,
        });
        let (outcome, effects) = world.run(command);
        let expected = level(a, r, s);
        assert_eq!(
            outcome,
            Outcome::StockSet {
                sku: sku_id(1002),
                warehouse: warehouse_id(11),
                level: expected
            }
        );
        let mut expected_effects = vec![stock_changed(1002, 11, expected)];
        if delta != 0 {
            expected_effects.push(Effect::StockMoved(StockMovement {
                shop: shop_id(1),
                sku: sku_id(1002),
                warehouse: warehouse_id(11),
                delta,
                available_after: available,
                at: world.now,
                cause: MovementCause::MerchantSet,
            }));
        }
        assert_eq!(effects, expected_effects, "count to {available}");
    }
    for invalid in [-1, STOCK_UNITS_MAX + 1, i64::MIN] {
        let command = Command::from(SetStock {
            shop: shop_id(1),
            sku: sku_id(1002),
            warehouse: warehouse_id(11),
            available: invalid,
        });
        assert_refused(
            &mut world,
            command,
            Rejection::InvalidStock,
            &format!("available = {invalid}"),
        );
    }

    // The open order still holds its unit and gives it back on cancel.
    world.run(cancel(2, Canceller::Buyer(buyer_id(7))));
    assert_eq!(world.level(1002, 11), level(3, 0, 1));
    // Stock set in a new warehouse starts a new row.
    world.stock(1, 1002, 12, 4);
    assert_eq!(world.level(1002, 12), level(4, 0, 0));
    let order = placed(world.run(Command::from(place(3, 1, 7, &[(1002, 7)]))).0);
    assert_eq!(order.total, Fen::price(7 * 500).expect("valid"));
}

/// The shell narrows a shard's outcome to the command's own answer type; a refusal stays a
/// refusal, and a retried request finds the order it placed.
#[test]
fn each_command_is_answered_with_its_own_type() {
    use miaodan_domain::shard::{Placement, ShardCommand};
    let mut world = two_shops();
    let first = PlaceOrder {
        request: Some(RequestRef("buyer-7/key-1".into())),
        ..place(1, 1, 7, &[(1001, 4)])
    };
    let placed = PlaceOrder::answer(world.run(Command::from(first.clone())).0);
    let Ok(Placement::Placed(order)) = placed else {
        panic!("the first request places its order: {placed:?}")
    };
    let again = PlaceOrder::answer(
        world
            .run(Command::from(PlaceOrder {
                id: order_id(2),
                ..first
            }))
            .0,
    );
    assert_eq!(again, Ok(Placement::AlreadyPlaced(order.id)));
    let too_many = PlaceOrder::answer(world.run(Command::from(place(3, 1, 7, &[(1001, 99)]))).0);
    assert_eq!(
        too_many,
        Err(Rejection::InsufficientStock {
            sku: sku_id(1001),
            requested: 99,
            available: 4
        })
    );
    let paid = PayOrder::answer(world.run(pay(1)).0).map(|o| o.state);
    assert_eq!(paid, Ok(OrderState::Paid));
}
