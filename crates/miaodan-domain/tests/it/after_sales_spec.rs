//! Exchanges (换货) through `ShardState::apply`: what an exchange holds, where its replacement
//! goes once the goods are back, what it gives back when it closes without them, and the
//! refusals that change nothing. Stock is checked row by row after every step, and across
//! restarts (the shard's cross-check counts what open exchanges hold).

use crate::common;

use common::*;
use miaodan_domain::after_sales::book::OpenRefusal;
use miaodan_domain::after_sales::commands::{AfterSalesRefusal, SavedRequest};
use miaodan_domain::after_sales::request::{Inspection, RequestLine, Stage};
use miaodan_domain::after_sales::rules::{BuyerRecord, Fired, Verdict};
use miaodan_domain::after_sales::{Reason, RequestKind};
use miaodan_domain::ids::{AfterSalesId, ShipmentId};
use miaodan_domain::logistics::{ShipmentState, TrackingEvent, parse_waybill};
use miaodan_domain::orders::{Order, OrderState};
use miaodan_domain::shard::{
    Command, CreateShipment, OpenRequest, Outcome, PayOrder, ReceiveReturn, RecordTracking, Rejection, ShardCommand,
    WithdrawRequest,
};
use miaodan_domain::{Fen, Timestamp};

const DAY_MS: i64 = 86_400_000;
/// Product 1's SKUs: two sizes at ¥99 (the second short of stock) and a third at ¥129.
const SIZE_M: i64 = 11;
const SIZE_L: i64 = 12;
const DEARER: i64 = 13;
/// Product 2's SKU, also ¥99.
const OTHER_PRODUCT: i64 = 21;

/// Shop 1 with one warehouse; buyer 7's order 1 of two units of size M, paid, shipped and
/// delivered.
fn delivered_world() -> World {
    let mut world = World::default();
    world.shop(1).warehouse(1, 1);
    world.product(1, 1, &[(SIZE_M, 9_900), (SIZE_L, 9_900), (DEARER, 12_900)]);
    world.product(2, 1, &[(OTHER_PRODUCT, 9_900)]);
    for (sku, units) in [(SIZE_M, 3), (SIZE_L, 2), (DEARER, 5), (OTHER_PRODUCT, 5)] {
        world.stock(1, sku, 1, units);
    }
    world.setup(Command::from(place(1, 1, 7, &[(SIZE_M, 2)])));
    world.setup(Command::from(PayOrder {
        order: order_id(1),
        intent: intent_id(1),
    }));
    world.setup(Command::from(CreateShipment {
        id: ShipmentId::new(1).expect("positive"),
        shop: shop_id(1),
        order: order_id(1),
        warehouse: warehouse_id(1),
        carrier: None,
        waybill: parse_waybill("ZT0000000001").expect("a waybill"),
    }));
    world.advance_ms(DAY_MS);
    world.setup(Command::from(RecordTracking {
        shipment: ShipmentId::new(1).expect("positive"),
        event: TrackingEvent {
            event_id: "e1".into(),
            state: ShipmentState::Delivered,
            occurred_at: world.now,
            location: None,
            received_at: world.now,
        },
    }));
    assert_eq!(world.store.orders[&order_id(1)].state, OrderState::Delivered);
    world
}

fn stored_order(world: &World, order: i64) -> Box<Order> {
    Box::new(world.store.orders[&order_id(order)].clone())
}

/// Buyer 7 asks to exchange `(sku, units, wanted)` lines of order 1, delivered a day ago.
fn exchange(world: &mut World, id: i64, reason: Reason, lines: &[(i64, i64, i64)]) -> Result<SavedRequest, Rejection> {
    let command = OpenRequest {
        id: AfterSalesId::new(id).expect("positive"),
        buyer: buyer_id(7),
        kind: RequestKind::Exchange,
        reason,
        lines: lines
            .iter()
            .map(|&(sku, quantity, _)| RequestLine {
                sku: sku_id(sku),
                quantity,
            })
            .collect(),
        stored_order: stored_order(world, 1),
        delivered_at: Some(Timestamp::from_unix_ms(T0.unix_ms() + DAY_MS)),
        refundable: Fen::from_const(19_800),
        buyer_record: BuyerRecord::default(),
        earlier_requests: vec![],
        new_address: None,
        exchange_for: lines
            .iter()
            .map(|&(sku, _, wanted)| (sku_id(sku), sku_id(wanted)))
            .collect(),
        screening: None,
    };
    OpenRequest::answer(world.run(Command::from(command)).0)
}

fn receive(world: &mut World, id: i64, inspection: Inspection) -> SavedRequest {
    let command = ReceiveReturn {
        id: AfterSalesId::new(id).expect("positive"),
        shop: shop_id(1),
        inspection,
        stored_order: stored_order(world, 1),
        replacement_order: order_id(50),
        replacement_checkout: checkout_id(50),
    };
    ReceiveReturn::answer(world.run(Command::from(command)).0).expect("received")
}

#[test]
fn an_exchange_holds_its_replacement_and_sends_it_in_a_zero_price_order_once_the_goods_are_back() {
    let mut world = delivered_world();
    assert_eq!(world.level(SIZE_M, 1), level(1, 0, 2));

    let opened = exchange(&mut world, 1, Reason::WrongSize, &[(SIZE_M, 1, SIZE_L)]).expect("opens");
    let r = &opened.request;
    assert_eq!(r.decision.verdict, Verdict::Approve);
    assert_eq!(
        r.decision.fired,
        [Fired::ExchangeForFault {
            reason: Reason::WrongSize
        }]
    );
    assert!(matches!(r.stage, Stage::AwaitingReturn { .. }), "{:?}", r.stage);
    assert_eq!(r.amount, Fen::ZERO, "no money moves");
    assert_eq!(world.level(SIZE_L, 1), level(1, 1, 0), "the replacement is held");

    world.restart();
    assert_eq!(world.level(SIZE_L, 1), level(1, 1, 0), "and still held after a restart");

    let exchanged = receive(&mut world, 1, Inspection::Restock);
    assert_eq!(exchanged.request.stage, Stage::Exchanged);
    assert_eq!(exchanged.request.replacement_order, Some(order_id(50)));
    assert_eq!(
        world.level(SIZE_L, 1),
        level(1, 0, 1),
        "held units are sold to the replacement"
    );
    assert_eq!(
        world.level(SIZE_M, 1),
        level(2, 0, 1),
        "the returned unit is back on sale"
    );

    let replacement = &world.store.orders[&order_id(50)];
    assert_eq!(
        (replacement.state, replacement.total, replacement.paid_by),
        (OrderState::Paid, Fen::ZERO, None)
    );
    assert_eq!(replacement.buyer, buyer_id(7));
    assert_eq!(replacement.address, world.store.orders[&order_id(1)].address);
    let line = &replacement.lines[0];
    assert_eq!(
        (line.sku, line.quantity.get(), line.unit_price),
        (sku_id(SIZE_L), 1, Fen::ZERO)
    );
    assert!(
        world.state.fulfilling(order_id(50)).is_some(),
        "dispatched like any paid order"
    );
    assert!(world.store.dispatches.contains_key(&order_id(50)));

    // The exchanged unit cannot be asked for again; the other one can.
    let again = exchange(&mut world, 2, Reason::WrongSize, &[(SIZE_M, 2, SIZE_L)]);
    assert_eq!(again.map(|_| ()).map_err(|r| r.code()), Err("quantity_not_requestable"));
    world.restart();
    assert_eq!(world.level(SIZE_L, 1), level(1, 0, 1));
}

#[test]
fn an_exchange_that_closes_without_its_goods_releases_the_units_it_held() {
    let mut world = delivered_world();
    let queued = exchange(&mut world, 1, Reason::ChangedMind, &[(SIZE_M, 1, SIZE_L)]).expect("opens");
    assert!(matches!(queued.request.stage, Stage::WithMerchant { .. }));
    assert_eq!(
        world.level(SIZE_L, 1),
        level(1, 1, 0),
        "held while the merchant decides"
    );
    let withdrawn = world.run(Command::from(WithdrawRequest {
        id: AfterSalesId::new(1).expect("positive"),
        buyer: buyer_id(7),
    }));
    assert!(matches!(withdrawn.0, Outcome::AfterSales(_)), "{withdrawn:?}");
    assert_eq!(world.level(SIZE_L, 1), level(2, 0, 0), "withdrawn: released");

    exchange(&mut world, 2, Reason::WrongSize, &[(SIZE_M, 2, SIZE_L)]).expect("opens");
    assert_eq!(world.level(SIZE_L, 1), level(0, 2, 0));
    world.advance_ms(8 * DAY_MS);
    world.run(Command::ExpireDue);
    let expired = &world.store.after_sales[&AfterSalesId::new(2).expect("positive")];
    assert_eq!(expired.stage, Stage::Closed, "the goods never came back");
    assert!(expired.held().next().is_none());
    assert_eq!(world.level(SIZE_L, 1), level(2, 0, 0), "expired: released");
    world.restart();
    assert_eq!(world.level(SIZE_L, 1), level(2, 0, 0));
}

#[test]
fn an_exchange_for_another_products_sku_another_price_or_missing_stock_is_refused_and_changes_nothing() {
    let mut world = delivered_world();
    let before = world.store.stock.clone();
    let cases: [(&str, (i64, i64, i64), Rejection); 4] = [
        (
            "a SKU of another product",
            (SIZE_M, 1, OTHER_PRODUCT),
            open_refused(OpenRefusal::ReplacementNotExchangeable {
                sku: sku_id(OTHER_PRODUCT),
            }),
        ),
        (
            "the line's own SKU",
            (SIZE_M, 1, SIZE_M),
            open_refused(OpenRefusal::ReplacementNotExchangeable { sku: sku_id(SIZE_M) }),
        ),
        (
            "a SKU at another price",
            (SIZE_M, 1, DEARER),
            open_refused(OpenRefusal::ReplacementPriceDiffers { sku: sku_id(DEARER) }),
        ),
        (
            "more units than are available",
            (SIZE_M, 2, SIZE_L),
            open_refused(OpenRefusal::ReplacementOutOfStock {
                sku: sku_id(SIZE_L),
                available: 1,
            }),
        ),
    ];
    world.stock(1, SIZE_L, 1, 1);
    let before_l = world.store.stock[&(sku_id(SIZE_L), warehouse_id(1))];
    for (i, (name, line, refusal)) in cases.into_iter().enumerate() {
        let (outcome, effects) = world.run(Command::from(open_command(&world, 10 + i as i64, line)));
        assert_eq!(outcome, Outcome::Rejected(refusal), "{name}");
        assert_eq!(effects, vec![], "{name}");
    }
    assert_eq!(world.store.stock[&(sku_id(SIZE_L), warehouse_id(1))], before_l);
    assert_eq!(
        world.store.stock[&(sku_id(SIZE_M), warehouse_id(1))],
        before[&(sku_id(SIZE_M), warehouse_id(1))]
    );
    assert!(world.store.after_sales.is_empty());
}

fn open_refused(refusal: OpenRefusal) -> Rejection {
    Rejection::AfterSales(AfterSalesRefusal::Open(refusal))
}

fn open_command(world: &World, id: i64, (sku, quantity, wanted): (i64, i64, i64)) -> OpenRequest {
    OpenRequest {
        id: AfterSalesId::new(id).expect("positive"),
        buyer: buyer_id(7),
        kind: RequestKind::Exchange,
        reason: Reason::WrongSize,
        lines: vec![RequestLine {
            sku: sku_id(sku),
            quantity,
        }],
        stored_order: stored_order(world, 1),
        delivered_at: Some(Timestamp::from_unix_ms(T0.unix_ms() + DAY_MS)),
        refundable: Fen::from_const(19_800),
        buyer_record: BuyerRecord::default(),
        earlier_requests: vec![],
        new_address: None,
        exchange_for: vec![(sku_id(sku), sku_id(wanted))],
        screening: None,
    }
}

#[test]
fn a_merchant_may_receive_an_exchange_only_as_its_own_shop() {
    let mut world = delivered_world();
    exchange(&mut world, 1, Reason::WrongItem, &[(SIZE_M, 1, SIZE_L)]).expect("opens");
    let by_another_shop = ReceiveReturn {
        id: AfterSalesId::new(1).expect("positive"),
        shop: shop_id(2),
        inspection: Inspection::Restock,
        stored_order: stored_order(&world, 1),
        replacement_order: order_id(50),
        replacement_checkout: checkout_id(50),
    };
    let (outcome, effects) = world.run(Command::from(by_another_shop));
    assert_eq!(
        outcome,
        Outcome::Rejected(Rejection::AfterSales(AfterSalesRefusal::UnknownRequest))
    );
    assert_eq!(effects, vec![]);
    assert!(!world.store.orders.contains_key(&order_id(50)));
}
