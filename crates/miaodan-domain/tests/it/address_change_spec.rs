//! A buyer's change of delivery address (改址) through the shard: before any waybill the order
//! is planned again for the new address (promise re-computed, warehouses ranked again, stock
//! and capacity moved in one command); with waybills but no pickup scan the carriers take it;
//! after pickup the rules refuse; an address no warehouse serves is refused with nothing
//! changed. Monday 2026-11-23, Shanghai time, an ordinary working day.
//!
//! The buyer lives in 黄浦 (Shanghai). Warehouse 12 NEAR is in 虹口 (Shanghai, 5 km), 11 FAR
//! in 东城 (Beijing, about 1 070 km); the new address is 朝阳 (Beijing), a few km from FAR.

use crate::common;

use common::*;
use miaodan_domain::after_sales::address::{AddressOutcome, AddressRefusal};
use miaodan_domain::after_sales::book::OpenRefusal;
use miaodan_domain::after_sales::commands::{AfterSalesRefusal, SavedRequest};
use miaodan_domain::after_sales::policy::{AfterSalesPolicy, ShopPolicy};
use miaodan_domain::after_sales::rules::{BuyerRecord, Fired, RuleMode};
use miaodan_domain::after_sales::{Reason, RequestKind};
use miaodan_domain::fulfillment::capacity::hour_of;
use miaodan_domain::fulfillment::{
    CarrierId, CutoffRegion, CutoffTime, DeliveryChoice, FulfillmentSettings, LocalDate, ServiceLevel,
};
use miaodan_domain::geo::Adcode;
use miaodan_domain::ids::{AfterSalesId, ShipmentId};
use miaodan_domain::inventory::WarehouseName;
use miaodan_domain::logistics::{ShipmentState, TrackingEvent, parse_waybill};
use miaodan_domain::orders::{Address, AddressDetail, Order};
use miaodan_domain::shard::{
    ApproveRequest, Command, ConfigureFulfillment, CreateShipment, CreateWarehouse, Decider, Effect, OpenRequest,
    Outcome, PayOrder, RecordRedirected, RecordTracking, Rejection, SetPolicy,
};
use miaodan_domain::{Timestamp, WarehouseId};

const FAR: i64 = 11;
const NEAR: i64 = 12;
const SKU_A: i64 = 1001;

fn monday(hour: u16, minute: u16) -> Timestamp {
    LocalDate::parse("2026-11-23")
        .expect("a valid date")
        .at_minute(hour * 60 + minute)
}

fn wh(n: i64) -> WarehouseId {
    warehouse_id(n)
}

fn beijing_chaoyang() -> Address {
    Address {
        adcode: Adcode::parse("110105000000").expect("朝阳区 is a known division"),
        detail: AddressDetail::parse("建国路88号").expect("valid street detail"),
    }
}

/// Shop 1 with warehouses FAR and NEAR holding `(sku, warehouse, units)`, and order 1 of
/// buyer 7 for two units with SF same-day delivery, placed at 10:00 and paid at 10:05.
fn paid_order(stock: &[(i64, i64, i64)]) -> (World, Order) {
    let mut world = World {
        now: monday(9, 0),
        ..World::default()
    };
    world.shop(1);
    for (id, location) in [(FAR, "110101000000"), (NEAR, "310109000000")] {
        world.setup(Command::from(CreateWarehouse {
            id: wh(id),
            shop: shop_id(1),
            name: WarehouseName::parse(&format!("warehouse {id}")).expect("valid name"),
            location: Adcode::parse(location).expect("a known division"),
        }));
    }
    world.product(101, 1, &[(SKU_A, 1999)]);
    for &(sku, warehouse, units) in stock {
        world.stock(1, sku, warehouse, units);
    }
    world.now = monday(10, 0);
    let mut order = place(1, 1, 7, &[(SKU_A, 2)]);
    order.delivery = Some(DeliveryChoice {
        level: ServiceLevel::SameDay,
        carrier: CarrierId::Sf,
        window: None,
    });
    world.setup(Command::from(order));
    world.now = monday(10, 5);
    let paid = match world.run(Command::from(PayOrder {
        order: order_id(1),
        intent: intent_id(1),
    })) {
        (Outcome::OrderPaid(order), _) => order,
        other => panic!("not paid: {other:?}"),
    };
    (world, paid)
}

fn change_to(order: &Order, id: i64, to: Address) -> Command {
    Command::from(OpenRequest {
        id: AfterSalesId::new(id).expect("positive"),
        buyer: buyer_id(7),
        kind: RequestKind::ChangeAddress,
        reason: Reason::WrongAddress,
        lines: vec![],
        stored_order: Box::new(order.clone()),
        delivered_at: None,
        refundable: order.total,
        buyer_record: BuyerRecord::default(),
        earlier_requests: vec![],
        new_address: Some(to),
        exchange_for: vec![],
        screening: None,
    })
}

fn saved(outcome: Outcome) -> SavedRequest {
    match outcome {
        Outcome::AfterSales(saved) => *saved,
        other => panic!("expected a request, got {other:?}"),
    }
}

fn stages(saved: &SavedRequest) -> Vec<&'static str> {
    saved.request.timeline.iter().map(|s| s.stage.as_str()).collect()
}

/// The units of SKU A on the books (available + reserved + sold) over both warehouses.
fn units_on_books(world: &World) -> i64 {
    [FAR, NEAR].iter().map(|&w| world.level(SKU_A, w).total()).sum()
}

fn ship(world: &mut World, raw_waybill: &str) {
    world.setup(Command::from(CreateShipment {
        id: ShipmentId::new(1).expect("positive"),
        shop: shop_id(1),
        order: order_id(1),
        warehouse: wh(NEAR),
        carrier: None,
        waybill: parse_waybill(raw_waybill).expect("a valid waybill"),
    }));
}

/// `command` is refused with `expected` and changes nothing at all.
fn assert_refused(world: &mut World, command: Command, expected: Rejection) {
    let inventory = world.state.inventory().clone();
    let fulfilling: Vec<_> = world.state.fulfilling_orders().cloned().collect();
    let capacity = world.state.capacity().clone();
    let (outcome, effects) = world.run(command);
    assert_eq!(outcome, Outcome::Rejected(expected));
    assert_eq!(effects, vec![], "a refusal emits no effects");
    assert_eq!(world.state.inventory(), &inventory, "no stock moves");
    assert_eq!(world.state.capacity(), &capacity, "no capacity moves");
    let after: Vec<_> = world.state.fulfilling_orders().cloned().collect();
    assert_eq!(after, fulfilling, "no order or dispatch changes");
    assert_eq!(
        world.state.after_sales().of_order(order_id(1)).count(),
        0,
        "no request opens"
    );
}

#[test]
fn a_change_before_any_waybill_re_dispatches_the_order_to_the_warehouse_nearest_the_new_address() {
    let (mut world, order) = paid_order(&[(SKU_A, FAR, 5), (SKU_A, NEAR, 5)]);
    assert_eq!(world.level(SKU_A, NEAR), level(3, 0, 2), "dispatched near the buyer");
    let near_slot = world
        .state
        .fulfilling(order_id(1))
        .expect("on its way")
        .decision
        .parcels[0]
        .slot_hour;
    let units = units_on_books(&world);

    world.now = monday(10, 30);
    let (outcome, effects) = world.run(change_to(&order, 1, beijing_chaoyang()));
    let saved = saved(outcome);
    assert_eq!(stages(&saved), ["approved", "closed"]);
    let fired: Vec<&str> = saved.request.decision.fired.iter().map(Fired::code).collect();
    assert_eq!(fired, ["not_yet_picked_up"]);
    let change = saved.request.address_change.as_ref().expect("a change of address");
    assert_eq!((&change.from, &change.to), (&order.address, &beijing_chaoyang()));

    // The units went back to available in 虹口 and were taken in 东城; nothing else moved.
    assert_eq!(world.level(SKU_A, NEAR), level(5, 0, 0));
    assert_eq!(world.level(SKU_A, FAR), level(3, 0, 2));
    assert_eq!(units_on_books(&world), units, "stock is conserved");

    let fulfilling = world.state.fulfilling(order_id(1)).expect("still on its way").clone();
    let promise = fulfilling.order.promise.expect("still promised");
    assert_eq!(fulfilling.order.address, beijing_chaoyang());
    assert_eq!(fulfilling.order.version, order.version + 1);
    assert_eq!((promise.level, promise.carrier), (ServiceLevel::SameDay, CarrierId::Sf));
    assert_eq!(
        LocalDate::of(promise.promised_by),
        LocalDate::of(monday(10, 30)),
        "same day in Beijing"
    );
    assert_eq!(
        promise.price,
        order.promise.expect("promised").price,
        "the price paid stays"
    );
    let decision = &fulfilling.decision;
    assert_eq!(decision.parcels.len(), 1);
    assert_eq!(decision.parcels[0].warehouse, wh(FAR));
    assert!(
        decision
            .reason
            .starts_with("re-dispatched from warehouse 12 to 11 after the buyer changed"),
        "{}",
        decision.reason
    );
    assert_eq!(
        saved.request.address_change.as_ref().and_then(|c| c.outcome.clone()),
        Some(AddressOutcome::Redispatched {
            warehouses_before: vec![wh(NEAR)],
            warehouses_after: vec![wh(FAR)],
            promised_by: Some(promise.promised_by),
        })
    );

    // Capacity: the near warehouse's hour given back, one order booked in the far one's.
    assert_eq!(world.state.capacity().used_in_hour(wh(NEAR), near_slot), 0);
    let far_slot = decision.parcels[0].slot_hour;
    assert_eq!(far_slot, hour_of(monday(10, 30)));
    assert_eq!(world.state.capacity().used_in_hour(wh(FAR), far_slot), 1);
    assert!(effects.contains(&Effect::OrderReaddressed(fulfilling.order.clone())));

    // What was written is what the shard holds: a restart reads the same order and decision.
    world.restart();
    assert_eq!(world.state.fulfilling(order_id(1)), Some(&fulfilling));
    assert_eq!(world.level(SKU_A, FAR), level(3, 0, 2));
}

#[test]
fn a_change_that_keeps_the_warehouse_re_promises_without_moving_stock() {
    // 闵行 is still nearest to 虹口: the order stays, its promise is re-computed.
    let (mut world, order) = paid_order(&[(SKU_A, FAR, 5), (SKU_A, NEAR, 5)]);
    let minhang = Address {
        adcode: Adcode::parse("310112000000").expect("闵行区"),
        detail: AddressDetail::parse("莘庄1号").expect("valid"),
    };
    world.now = monday(10, 30);
    let saved = saved(world.run(change_to(&order, 1, minhang.clone())).0);
    assert_eq!(stages(&saved), ["approved", "closed"]);
    assert_eq!(world.level(SKU_A, NEAR), level(3, 0, 2));
    assert_eq!(world.level(SKU_A, FAR), level(5, 0, 0));
    let fulfilling = world.state.fulfilling(order_id(1)).expect("on its way");
    assert_eq!(fulfilling.order.address, minhang);
    assert!(
        fulfilling
            .decision
            .reason
            .starts_with("the buyer changed the delivery address; warehouse 12 still ships it")
    );
}

#[test]
fn an_address_no_warehouse_serves_is_refused_and_nothing_changes() {
    // Both warehouses deliver within their own city only (same-day): Beijing is out of reach
    // of NEAR, and FAR holds nothing.
    let (mut world, order) = paid_order(&[(SKU_A, NEAR, 5)]);
    let mut same_city_only = FulfillmentSettings::standard();
    same_city_only.cutoffs = vec![CutoffTime {
        level: ServiceLevel::SameDay,
        region: CutoffRegion::SameCity,
        minute: 11 * 60,
    }];
    world.setup(Command::from(ConfigureFulfillment {
        shop: shop_id(1),
        warehouse: wh(NEAR),
        settings: same_city_only,
    }));
    world.now = monday(10, 30);
    let refused = Rejection::AfterSales(AfterSalesRefusal::Address(AddressRefusal::NotServed));
    assert_eq!(refused.code(), "address_not_served");
    assert_refused(&mut world, change_to(&order, 1, beijing_chaoyang()), refused);
}

#[test]
fn the_same_address_or_none_is_refused_before_the_rules() {
    let (mut world, order) = paid_order(&[(SKU_A, NEAR, 5)]);
    world.now = monday(10, 30);
    let same = Rejection::AfterSales(AfterSalesRefusal::Address(AddressRefusal::Unchanged));
    assert_eq!(same.code(), "same_address");
    assert_refused(&mut world, change_to(&order, 1, order.address.clone()), same);
    let mut missing = change_to(&order, 2, beijing_chaoyang());
    if let Command::AfterSales(miaodan_domain::after_sales::Command::Open(open)) = &mut missing {
        open.new_address = None;
    }
    let none = Rejection::AfterSales(AfterSalesRefusal::Address(AddressRefusal::Missing));
    assert_refused(&mut world, missing, none);
}

#[test]
fn a_change_after_the_carriers_pickup_scan_is_refused_by_the_rules() {
    let (mut world, order) = paid_order(&[(SKU_A, FAR, 5), (SKU_A, NEAR, 5)]);
    ship(&mut world, "SF1000000000001");
    world.now = monday(11, 0);
    world.setup(Command::from(RecordTracking {
        shipment: ShipmentId::new(1).expect("positive"),
        event: TrackingEvent {
            event_id: "E1".into(),
            state: ShipmentState::PickedUp,
            occurred_at: monday(10, 50),
            location: None,
            received_at: monday(10, 51),
        },
    }));
    let (outcome, effects) = world.run(change_to(&order, 1, beijing_chaoyang()));
    let Outcome::Rejected(Rejection::AfterSales(AfterSalesRefusal::Open(OpenRefusal::RefusedByRules(decision)))) =
        outcome
    else {
        panic!("expected the rules to refuse, got {outcome:?}");
    };
    assert_eq!(
        decision.fired,
        [Fired::AlreadyPickedUp {
            picked_up_at: monday(10, 50)
        }]
    );
    assert_eq!(effects, vec![]);
    assert_eq!(
        world.state.fulfilling(order_id(1)).map(|f| &f.order.address),
        Some(&order.address)
    );
}

#[test]
fn a_change_with_a_waybill_but_no_pickup_goes_to_the_carrier_and_keeps_the_warehouse() {
    let (mut world, order) = paid_order(&[(SKU_A, FAR, 5), (SKU_A, NEAR, 5)]);
    ship(&mut world, "SF1000000000001");
    let levels = (world.level(SKU_A, NEAR), world.level(SKU_A, FAR));
    world.now = monday(10, 40);
    let (outcome, effects) = world.run(change_to(&order, 1, beijing_chaoyang()));
    let opened = saved(outcome);
    assert_eq!(stages(&opened), ["approved"], "waits for the carrier");
    assert!(opened.request.awaits_address_change());
    assert_eq!(effects.len(), 1, "only the request is saved: {effects:?}");
    let waiting = world.state.fulfilling(order_id(1)).expect("on its way");
    assert_eq!(
        waiting.order.address, order.address,
        "unchanged until the carrier agrees"
    );

    world.now = monday(10, 41);
    let (outcome, effects) = world.run(Command::from(RecordRedirected { id: opened.id }));
    let closed = saved(outcome);
    assert_eq!(stages(&closed), ["approved", "closed"]);
    let fulfilling = world.state.fulfilling(order_id(1)).expect("on its way").clone();
    assert_eq!(fulfilling.order.address, beijing_chaoyang());
    assert_eq!(
        fulfilling.decision.parcels[0].warehouse,
        wh(NEAR),
        "the parcel is packed"
    );
    assert_eq!(
        (world.level(SKU_A, NEAR), world.level(SKU_A, FAR)),
        levels,
        "no stock moves"
    );
    // SF same-day does not leave Shanghai: its next-day service takes it to Beijing tomorrow.
    let promise = fulfilling.order.promise.expect("promised");
    assert_eq!(
        LocalDate::of(promise.promised_by),
        LocalDate::parse("2026-11-24").expect("a date")
    );
    assert_eq!(
        closed.request.address_change.and_then(|c| c.outcome),
        Some(AddressOutcome::Redirected {
            waybills: vec![parse_waybill("SF1000000000001").expect("valid")],
            promised_by: Some(promise.promised_by),
        })
    );
    assert!(effects.contains(&Effect::OrderReaddressed(fulfilling.order.clone())));
}

/// The shop runs its rules in shadow: every request goes to the merchant.
fn shadow(world: &mut World) {
    world.setup(Command::from(SetPolicy {
        shop: shop_id(1),
        policy: ShopPolicy {
            policy: AfterSalesPolicy::default(),
            mode: RuleMode::Shadow,
        },
    }));
}

fn merchant_approves(id: AfterSalesId) -> Command {
    Command::from(ApproveRequest {
        id,
        by: Decider::Merchant(shop_id(1)),
    })
}

#[test]
fn a_change_the_merchant_approves_is_carried_out_in_the_command_that_approves_it() {
    let (mut world, order) = paid_order(&[(SKU_A, FAR, 5), (SKU_A, NEAR, 5)]);
    shadow(&mut world);
    world.now = monday(10, 30);
    let opened = saved(world.run(change_to(&order, 1, beijing_chaoyang())).0);
    assert_eq!(stages(&opened), ["with_merchant"]);
    assert_eq!(
        world.level(SKU_A, NEAR),
        level(3, 0, 2),
        "nothing moves before the answer"
    );

    world.now = monday(10, 40);
    let approved = saved(world.run(merchant_approves(opened.id)).0);
    assert_eq!(stages(&approved), ["with_merchant", "approved", "closed"]);
    assert_eq!(world.level(SKU_A, NEAR), level(5, 0, 0));
    assert_eq!(world.level(SKU_A, FAR), level(3, 0, 2));
    let fulfilling = world.state.fulfilling(order_id(1)).expect("on its way");
    assert_eq!(fulfilling.order.address, beijing_chaoyang());
}

#[test]
fn a_change_approved_after_the_pickup_scan_closes_without_changing_the_order() {
    let (mut world, order) = paid_order(&[(SKU_A, FAR, 5), (SKU_A, NEAR, 5)]);
    shadow(&mut world);
    world.now = monday(10, 30);
    let opened = saved(world.run(change_to(&order, 1, beijing_chaoyang())).0);
    ship(&mut world, "SF1000000000001");
    world.now = monday(11, 0);
    world.setup(Command::from(RecordTracking {
        shipment: ShipmentId::new(1).expect("positive"),
        event: TrackingEvent {
            event_id: "E1".into(),
            state: ShipmentState::PickedUp,
            occurred_at: monday(10, 50),
            location: None,
            received_at: monday(10, 51),
        },
    }));
    let levels = (world.level(SKU_A, NEAR), world.level(SKU_A, FAR));
    let (outcome, effects) = world.run(merchant_approves(opened.id));
    let closed = saved(outcome);
    assert_eq!(stages(&closed), ["with_merchant", "approved", "closed"]);
    assert_eq!(
        closed.request.address_change.and_then(|c| c.outcome),
        Some(AddressOutcome::NotCarriedOut(AddressRefusal::PickedUp))
    );
    assert_eq!(effects.len(), 1, "only the request is saved: {effects:?}");
    assert_eq!((world.level(SKU_A, NEAR), world.level(SKU_A, FAR)), levels);
    let fulfilling = world.state.fulfilling(order_id(1)).expect("on its way");
    assert_eq!(fulfilling.order.address, order.address);
}
