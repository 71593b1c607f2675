//! Fulfillment and logistics through the shard: a delivery promise chosen at checkout, smart
//! dispatch when the order is paid, shipments and carrier tracking, the package center's SLA
//! alerts on the `ExpireDue` tick, restarts from what the store holds, and re-dispatch after a
//! warehouse shortage. Everything goes through `Command`s on an explicit clock of Shanghai
//! local instants (Monday 2026-11-23 is an ordinary working day), and every scenario states
//! the exact outcome and effects.
//!
//! The buyer lives in 黄浦 (Shanghai). The shop's warehouses, by distance to the buyer:
//!
//! | warehouse | where        | km   |
//! |-----------|--------------|------|
//! | 12 NEAR   | 上海 虹口    | 5    |
//! | 13 OTHER  | 上海 闵行    | 17   |
//! | 11 FAR    | 北京 东城    | 1070 |
//!
//! SKU 1001 sells at ¥19.99, SKU 1002 at ¥5.00 (product 101 of shop 1).

use crate::common;

use common::*;
use miaodan_domain::fulfillment::{
    Candidate, CarrierId, CutoffRegion, CutoffTime, DispatchDecision, FulfillmentSettings, LocalDate, ParcelPlan,
    Promise, ScheduledWindow, ServiceLevel,
};
use miaodan_domain::geo::Adcode;
use miaodan_domain::ids::ShipmentId;
use miaodan_domain::inventory::{Allocation, StockLevel, WarehouseName};
use miaodan_domain::logistics::{
    Alert, AlertKey, AlertLevel, AlertRule, AlertWork, EventOutcome, Shipment, ShipmentState, SlaRules, TrackingEvent,
    Waybill, parse_waybill,
};
use miaodan_domain::orders::{Order, OrderState};
use miaodan_domain::shard::{
    Command, CreateShipment, DeliveryChoice, Effect, Fulfilling, Outcome, Rejection, ShortageNotice,
};
use miaodan_domain::shard::{
    ConfigureFulfillment, CreateWarehouse, PayOrder, RecordTracking, ReportShortage, SetSlaRules, SetStock,
};
use miaodan_domain::{Timestamp, WarehouseId};

const FAR: i64 = 11;
const NEAR: i64 = 12;
const OTHER: i64 = 13;
const BEIJING_DONGCHENG: &str = "110101000000";
const SHANGHAI_HONGKOU: &str = "310109000000";
const SHANGHAI_MINHANG: &str = "310112000000";

const SKU_A: i64 = 1001;
const SKU_B: i64 = 1002;
const PRICE_A: i64 = 1999;

const MINUTE: i64 = 60_000;
const SECOND: i64 = 1_000;

/// A Shanghai local instant.
fn at(date: &str, hour: u16, minute: u16) -> Timestamp {
    LocalDate::parse(date)
        .expect("a valid date")
        .at_minute(hour * 60 + minute)
}

/// Monday 2026-11-23 at `hour:minute`, Shanghai time.
fn monday(hour: u16, minute: u16) -> Timestamp {
    at("2026-11-23", hour, minute)
}

fn plus_ms(instant: Timestamp, ms: i64) -> Timestamp {
    Timestamp::from_unix_ms(instant.unix_ms() + ms)
}

fn wh(n: i64) -> WarehouseId {
    warehouse_id(n)
}

fn shipment_id(n: i64) -> ShipmentId {
    ShipmentId::new(n).expect("positive shipment id")
}

fn waybill(raw: &str) -> Waybill {
    parse_waybill(raw).expect("a valid waybill")
}

fn location(id: i64) -> &'static str {
    match id {
        FAR => BEIJING_DONGCHENG,
        NEAR => SHANGHAI_HONGKOU,
        OTHER => SHANGHAI_MINHANG,
        other => panic!("no location for warehouse {other}"),
    }
}

/// Shop 1 with the given warehouses (see the table above) and `(sku, warehouse, units)` of
/// stock, set up on Monday at 09:00.
fn shop(warehouses: &[i64], stock: &[(i64, i64, i64)]) -> World {
    let mut world = World {
        now: monday(9, 0),
        ..World::default()
    };
    world.shop(1);
    for &id in warehouses {
        world.setup(Command::from(CreateWarehouse {
            id: wh(id),
            shop: shop_id(1),
            name: WarehouseName::parse(&format!("warehouse {id}")).expect("valid name"),
            location: Adcode::parse(location(id)).expect("a known division"),
        }));
    }
    world.product(101, 1, &[(SKU_A, PRICE_A), (SKU_B, 500)]);
    for &(sku, warehouse, units) in stock {
        world.stock(1, sku, warehouse, units);
    }
    world
}

fn choice(level: ServiceLevel, carrier: CarrierId) -> DeliveryChoice {
    DeliveryChoice {
        level,
        carrier,
        window: None,
    }
}

fn same_day_sf() -> DeliveryChoice {
    choice(ServiceLevel::SameDay, CarrierId::Sf)
}

/// Order `n` of shop 1 by buyer 7 to 黄浦, for `(sku, units)` lines.
fn order(n: i64, lines: &[(i64, i64)], delivery: Option<DeliveryChoice>) -> Command {
    let mut place = place(n, 1, 7, lines);
    place.delivery = delivery;
    Command::from(place)
}

fn pay(n: i64) -> Command {
    Command::from(PayOrder {
        order: order_id(n),
        intent: intent_id(n),
    })
}

fn placed(outcome: Outcome) -> Order {
    match outcome {
        Outcome::OrderPlaced(order) => order,
        other => panic!("expected the order to be placed, got {other:?}"),
    }
}

fn paid(outcome: Outcome) -> Order {
    match outcome {
        Outcome::OrderPaid(order) => order,
        other => panic!("expected the order to be paid, got {other:?}"),
    }
}

fn place_now(world: &mut World, n: i64, lines: &[(i64, i64)], delivery: Option<DeliveryChoice>) -> Order {
    placed(world.run(order(n, lines, delivery)).0)
}

fn pay_now(world: &mut World, n: i64) -> Order {
    paid(world.run(pay(n)).0)
}

fn stock_changed(sku: i64, warehouse: i64, level: StockLevel) -> Effect {
    Effect::StockChanged {
        shop: shop_id(1),
        sku: sku_id(sku),
        warehouse: wh(warehouse),
        level,
    }
}

fn allocated(warehouse: i64, quantity: i64) -> Allocation {
    Allocation {
        warehouse: wh(warehouse),
        quantity,
    }
}

/// The units of `sku` the shop holds in all (available + reserved + sold) over `warehouses`.
fn units_on_books(world: &World, sku: i64, warehouses: &[i64]) -> i64 {
    warehouses.iter().map(|&w| world.level(sku, w).total()).sum()
}

/// The decision the shard holds for a fulfilling order.
fn decision_of(world: &World, order: i64) -> DispatchDecision {
    world
        .state
        .fulfilling(order_id(order))
        .unwrap_or_else(|| panic!("order {order} is not fulfilling"))
        .decision
        .clone()
}

/// `command` must be refused with `expected` and leave no trace: no effects, and the same
/// stock, open orders, fulfilling orders, shipments and open alerts.
fn assert_refused(world: &mut World, command: Command, expected: Rejection, case: &str) {
    let inventory = world.state.inventory().clone();
    let open = world.open_orders();
    let fulfilling: Vec<Fulfilling> = world.state.fulfilling_orders().cloned().collect();
    let shipments: Vec<Shipment> = world.state.shipments().cloned().collect();
    let alerts: Vec<Alert> = world.state.open_alerts().cloned().collect();
    let (outcome, effects) = world.run(command);
    assert_eq!(outcome, Outcome::Rejected(expected), "{case}");
    assert_eq!(effects, vec![], "{case}: a refusal emits no effects");
    assert_eq!(world.state.inventory(), &inventory, "{case}: no stock moves");
    assert_eq!(world.open_orders(), open, "{case}: no order opens or closes");
    let fulfilling_after: Vec<Fulfilling> = world.state.fulfilling_orders().cloned().collect();
    assert_eq!(fulfilling_after, fulfilling, "{case}: no dispatch changes");
    let shipments_after: Vec<Shipment> = world.state.shipments().cloned().collect();
    assert_eq!(shipments_after, shipments, "{case}: no shipment changes");
    let alerts_after: Vec<Alert> = world.state.open_alerts().cloned().collect();
    assert_eq!(alerts_after, alerts, "{case}: no alert changes");
}

fn new_shipment(id: i64, order: i64, warehouse: i64, raw_waybill: &str) -> Command {
    Command::from(CreateShipment {
        id: shipment_id(id),
        shop: shop_id(1),
        order: order_id(order),
        warehouse: wh(warehouse),
        carrier: None,
        waybill: waybill(raw_waybill),
    })
}

fn created(outcome: Outcome) -> Shipment {
    match outcome {
        Outcome::ShipmentSaved(shipment) => shipment,
        other => panic!("expected a shipment, got {other:?}"),
    }
}

fn event(id: &str, state: ShipmentState, occurred_at: Timestamp) -> TrackingEvent {
    TrackingEvent {
        event_id: id.to_string(),
        state,
        occurred_at,
        location: None,
        received_at: occurred_at,
    }
}

fn tracking(shipment: i64, id: &str, state: ShipmentState, occurred_at: Timestamp) -> Command {
    Command::from(RecordTracking {
        shipment: shipment_id(shipment),
        event: event(id, state, occurred_at),
    })
}

/// Records a carrier scan received a minute after it happened (the clock moves there).
fn scan(
    world: &mut World,
    shipment: i64,
    id: &str,
    state: ShipmentState,
    occurred_at: Timestamp,
) -> (Shipment, EventOutcome, Vec<Effect>) {
    world.now = plus_ms(occurred_at, MINUTE);
    match world.run(tracking(shipment, id, state, occurred_at)) {
        (Outcome::TrackingRecorded { shipment, applied }, effects) => (*shipment, applied, effects),
        other => panic!("scan {id} not recorded: {other:?}"),
    }
}

/// One `ExpireDue` now (no unpaid order is ever due in these scenarios); its effects.
fn expire(world: &mut World) -> Vec<Effect> {
    let (outcome, effects) = world.run(Command::ExpireDue);
    assert_eq!(outcome, Outcome::Expired { orders: vec![] });
    effects
}

fn expire_at(world: &mut World, now: Timestamp) -> Vec<Effect> {
    world.now = now;
    expire(world)
}

/// Tight rules so that alerts come within the hour: pickup within 1 h, departure within 1 h
/// of pickup, no more than 2 h between scans; warnings at 80 %.
fn tight_rules() -> SlaRules {
    SlaRules {
        not_picked_up_within_s: 3600,
        not_departed_within_s: 3600,
        stalled_after_s: 7200,
        warn_at_percent: 80,
    }
}

/// The alert of `rule` on shipment `shipment` of order `order`, as first raised.
struct Raised {
    shipment: i64,
    order: i64,
    rule: AlertRule,
    occurrence: u32,
    level: AlertLevel,
    since: Timestamp,
    deadline: Timestamp,
    raised_at: Timestamp,
}

fn alert(r: Raised) -> Alert {
    Alert {
        key: AlertKey {
            shipment: shipment_id(r.shipment),
            rule: r.rule,
            occurrence: r.occurrence,
        },
        shop: shop_id(1),
        order: order_id(r.order),
        shipment: shipment_id(r.shipment),
        rule: r.rule,
        level: r.level,
        since: r.since,
        raised_at: r.raised_at,
        escalated_at: None,
        resolved_at: None,
        deadline: r.deadline,
        notify_buyer: r.rule == AlertRule::PromiseAtRisk && r.level == AlertLevel::TimedOut,
        work: AlertWork::default(),
    }
}

fn escalated(mut alert: Alert, at: Timestamp) -> Alert {
    alert.level = AlertLevel::TimedOut;
    alert.escalated_at = Some(at);
    alert.notify_buyer = alert.rule == AlertRule::PromiseAtRisk;
    alert
}

fn resolved(mut alert: Alert, at: Timestamp) -> Alert {
    alert.resolved_at = Some(at);
    alert
}

// ---------------------------------------------------------------------------------------------
// 1. Checkout with a delivery choice
// ---------------------------------------------------------------------------------------------

#[test]
fn same_day_chosen_at_10_59_is_promised_by_21_00_and_its_price_is_added_to_the_total() {
    let mut world = shop(&[NEAR], &[(SKU_A, NEAR, 5)]);
    world.now = monday(10, 59);
    let (outcome, effects) = world.run(order(1, &[(SKU_A, 2)], Some(same_day_sf())));
    let order = placed(outcome);

    assert_eq!(
        order.promise,
        Some(Promise {
            level: ServiceLevel::SameDay,
            carrier: CarrierId::Sf,
            window_starts_at: None,
            promised_by: monday(21, 0),
            price: fen(1200),
        }),
        "SF same-day: flat ¥12, delivered by 21:00 the same day"
    );
    assert_eq!(order.total, fen(2 * PRICE_A + 1200), "the goods and the delivery");
    assert_eq!(order.state, OrderState::PendingPayment);
    assert_eq!(order.lines[0].allocations, vec![allocated(NEAR, 2)]);
    assert_eq!(
        effects,
        vec![
            stock_changed(SKU_A, NEAR, level(3, 2, 0)),
            Effect::OrderCreated {
                order: order.clone(),
                request: None,
            },
        ]
    );
    assert_eq!(world.store.orders[&order_id(1)], order, "durable with its promise");
}

#[test]
fn same_day_chosen_at_11_01_is_refused_and_changes_nothing() {
    let mut world = shop(&[NEAR], &[(SKU_A, NEAR, 5)]);
    world.now = monday(11, 1);
    assert_refused(
        &mut world,
        order(1, &[(SKU_A, 2)], Some(same_day_sf())),
        Rejection::DeliveryOptionUnavailable,
        "same-day after the 11:00 cutoff",
    );
    assert_eq!(world.level(SKU_A, NEAR), level(5, 0, 0));
    assert!(world.store.orders.is_empty());
    // One-hour delivery needs a front warehouse with a one-hour cutoff: not offered either.
    assert_refused(
        &mut world,
        order(1, &[(SKU_A, 1)], Some(choice(ServiceLevel::OneHour, CarrierId::Sf))),
        Rejection::DeliveryOptionUnavailable,
        "a service the warehouse does not run",
    );
    // Without a delivery choice the same cart is still placed.
    let order = place_now(&mut world, 1, &[(SKU_A, 2)], None);
    assert_eq!((order.promise, order.total), (None, fen(2 * PRICE_A)));
}

#[test]
fn a_booked_window_must_suit_the_chosen_option() {
    let mut world = shop(&[NEAR], &[(SKU_A, NEAR, 5)]);
    world.now = monday(10, 59);
    let window = |date: &str, start_hour| ScheduledWindow {
        date: LocalDate::parse(date).expect("date"),
        start_hour,
    };
    let with_window = |level, carrier, w| DeliveryChoice {
        level,
        carrier,
        window: Some(w),
    };
    // JD next-day from 虹口 at 10:59: picked up at 17:00, delivered Tuesday by 22:00.
    for (case, chosen) in [
        (
            "SF same-day is not schedulable",
            with_window(ServiceLevel::SameDay, CarrierId::Sf, window("2026-11-23", 19)),
        ),
        (
            "a window ending before the earliest arrival (Tuesday 22:00)",
            with_window(ServiceLevel::NextDay, CarrierId::Jd, window("2026-11-24", 9)),
        ),
        (
            "not a window start hour",
            with_window(ServiceLevel::NextDay, CarrierId::Jd, window("2026-11-26", 10)),
        ),
        (
            "more than a week after the earliest delivery date",
            with_window(ServiceLevel::NextDay, CarrierId::Jd, window("2026-12-02", 9)),
        ),
    ] {
        assert_refused(
            &mut world,
            order(1, &[(SKU_A, 1)], Some(chosen)),
            Rejection::DeliveryWindowUnavailable,
            case,
        );
    }
    let order = place_now(
        &mut world,
        1,
        &[(SKU_A, 1)],
        Some(with_window(
            ServiceLevel::NextDay,
            CarrierId::Jd,
            window("2026-11-26", 9),
        )),
    );
    assert_eq!(
        order.promise,
        Some(Promise {
            level: ServiceLevel::NextDay,
            carrier: CarrierId::Jd,
            window_starts_at: Some(at("2026-11-26", 9, 0)),
            promised_by: at("2026-11-26", 11, 0),
            price: fen(1200),
        }),
        "JD next-day: ¥10 + ¥2 for the first 500 km, delivered in the booked window"
    );
    assert_eq!(order.total, fen(PRICE_A + 1200));
}

// ---------------------------------------------------------------------------------------------
// 2–4. Dispatch at payment
// ---------------------------------------------------------------------------------------------

/// The near warehouse (虹口, 5 km from the buyer) as a front warehouse: its day shift, and
/// one-hour delivery inside the city for orders paid by 21:00.
fn one_hour_front_warehouse(world: &mut World) {
    let mut settings = FulfillmentSettings::standard();
    settings.cutoffs.push(CutoffTime {
        level: ServiceLevel::OneHour,
        region: CutoffRegion::SameCity,
        minute: 21 * 60,
    });
    world.setup(Command::from(ConfigureFulfillment {
        shop: shop_id(1),
        warehouse: wh(NEAR),
        settings,
    }));
}

#[test]
fn a_one_hour_promise_is_kept_by_a_payment_soon_after_checkout_and_at_risk_once_the_ride_no_longer_fits() {
    // Sold at 10:00 with SF one-hour: delivered by 11:00. Paid `paid_after` later, the parcel
    // is ready 30 minutes after payment and the 5 km ride takes 10 minutes (the service's
    // 15 km reach in the 30 minutes the hour leaves after processing), so the promise is
    // kept by any payment up to 10:20 and lost a millisecond after.
    let cases: [(&str, i64, bool); 5] = [
        ("paid at once", 0, true),
        ("paid 98 ms later", 98, true),
        ("paid two seconds later", 2 * SECOND, true),
        ("paid at 10:20 sharp", 20 * MINUTE, true),
        ("paid a millisecond after 10:20", 20 * MINUTE + 1, false),
    ];
    for (case, paid_after, kept) in cases {
        let mut world = shop(&[NEAR], &[(SKU_A, NEAR, 5)]);
        one_hour_front_warehouse(&mut world);
        world.now = monday(10, 0);
        let order = place_now(
            &mut world,
            1,
            &[(SKU_A, 1)],
            Some(choice(ServiceLevel::OneHour, CarrierId::Sf)),
        );
        let promised_by = order.promise.expect("sold with a promise").promised_by;
        assert_eq!(promised_by, monday(11, 0), "{case}");
        let paid_at = plus_ms(monday(10, 0), paid_after);
        world.now = paid_at;
        pay_now(&mut world, 1);

        let decision = decision_of(&world, 1);
        let parcel = &decision.parcels[0];
        let estimated_by = plus_ms(paid_at, 40 * MINUTE);
        assert_eq!(
            (
                parcel.keeps_promise,
                decision.promise_kept,
                decision.candidates[0].keeps_promise
            ),
            (kept, kept, kept),
            "{case}: estimated by {:?}, promised by {promised_by:?}",
            parcel.estimated_by
        );
        assert_eq!(
            (
                parcel.warehouse,
                parcel.level,
                parcel.carrier,
                parcel.pickup_at,
                parcel.estimated_by
            ),
            (
                wh(NEAR),
                ServiceLevel::OneHour,
                CarrierId::Sf,
                plus_ms(paid_at, 30 * MINUTE),
                estimated_by
            ),
            "{case}"
        );
        assert_eq!(decision.candidates[0].would_deliver_by, Some(estimated_by), "{case}");

        // The package center agrees: a parcel shipped now and picked up on time raises no
        // promise-at-risk alert (and tells the buyer nothing) unless the promise is lost.
        let shipment = ship_now(&mut world, 1);
        assert_eq!(shipment.planned_delivery_by, estimated_by, "{case}");
        expire_at(&mut world, plus_ms(paid_at, 30 * MINUTE));
        scan(
            &mut world,
            1,
            "A-1",
            ShipmentState::PickedUp,
            plus_ms(paid_at, 30 * MINUTE),
        );
        let told_buyer: Vec<Alert> = world
            .state
            .open_alerts()
            .filter(|a| a.rule == AlertRule::PromiseAtRisk && a.notify_buyer)
            .cloned()
            .collect();
        assert_eq!(told_buyer.is_empty(), kept, "{case}: {told_buyer:?}");
    }
}

#[test]
fn payment_dispatches_to_the_nearest_warehouse_that_keeps_the_promise_and_moves_the_units_there() {
    let mut world = shop(&[FAR, NEAR], &[(SKU_A, FAR, 10), (SKU_A, NEAR, 5)]);
    world.now = monday(10, 0);
    let order = place_now(
        &mut world,
        1,
        &[(SKU_A, 2)],
        Some(choice(ServiceLevel::NextDay, CarrierId::Sf)),
    );
    let promise = order.promise.expect("sold with a promise");
    // Both warehouses deliver SF next-day by Tuesday 18:00; the nearer one sets the price.
    assert_eq!(promise.promised_by, at("2026-11-24", 18, 0));
    assert_eq!(promise.price, fen(2100), "¥18 + ¥3 for the first started 500 km");
    assert_eq!(order.total, fen(2 * PRICE_A + 2100));
    // Placement reserves from the fullest warehouse, the far one.
    assert_eq!(order.lines[0].allocations, vec![allocated(FAR, 2)]);
    assert_eq!(world.level(SKU_A, FAR), level(8, 2, 0));
    let books_before = units_on_books(&world, SKU_A, &[FAR, NEAR]);

    world.now = monday(10, 5);
    let (outcome, effects) = world.run(pay(1));

    let mut paid_order = order.clone();
    paid_order.state = OrderState::Paid;
    paid_order.version = 2;
    paid_order.paid_at = Some(monday(10, 5));
    paid_order.paid_by = Some(intent_id(1));
    let mut dispatched = paid_order.clone();
    dispatched.lines[0].allocations = vec![allocated(NEAR, 2)];
    let decision = DispatchDecision {
        decided_at: monday(10, 5),
        parcels: vec![ParcelPlan {
            warehouse: wh(NEAR),
            lines: vec![(sku_id(SKU_A), 2)],
            slot_hour: monday(10, 0),
            level: ServiceLevel::NextDay,
            carrier: CarrierId::Sf,
            pickup_at: monday(12, 0),
            estimated_by: at("2026-11-24", 18, 0),
            keeps_promise: true,
        }],
        candidates: vec![
            Candidate {
                warehouse: wh(NEAR),
                distance_km: 5,
                holds_every_line: true,
                has_capacity: true,
                keeps_promise: true,
                would_deliver_by: Some(at("2026-11-24", 18, 0)),
                headroom: 500,
                rank: 1,
                chosen: true,
            },
            Candidate {
                warehouse: wh(FAR),
                distance_km: 1070,
                holds_every_line: true,
                has_capacity: true,
                keeps_promise: true,
                would_deliver_by: Some(at("2026-11-24", 18, 0)),
                headroom: 500,
                rank: 2,
                chosen: false,
            },
        ],
        split: false,
        promise_kept: true,
        reason: "warehouse 12 holds every line and keeps the promise; it is nearer (5 km) than warehouse 11 (1070 km)"
            .into(),
    };
    assert_eq!(outcome, Outcome::OrderPaid(dispatched.clone()));
    assert_eq!(
        effects,
        vec![
            Effect::OrderTransitioned(paid_order),
            stock_changed(SKU_A, FAR, level(10, 0, 0)),
            stock_changed(SKU_A, NEAR, level(3, 0, 2)),
            Effect::CapacityBooked {
                shop: shop_id(1),
                warehouse: wh(NEAR),
                hour: monday(10, 0),
                orders: 1,
            },
            Effect::OrderDispatched {
                order: dispatched.clone(),
                decision: decision.clone(),
            },
        ]
    );
    // Stock is conserved: each warehouse keeps its units, and the SKU's total is unchanged.
    assert_eq!(world.level(SKU_A, FAR).total(), 10);
    assert_eq!(world.level(SKU_A, NEAR).total(), 5);
    assert_eq!(units_on_books(&world, SKU_A, &[FAR, NEAR]), books_before);
    assert_eq!(
        world.state.fulfilling(order_id(1)),
        Some(&Fulfilling {
            order: dispatched.clone(),
            decision: decision.clone(),
        })
    );
    assert_eq!(world.state.capacity().used_in_hour(wh(NEAR), monday(10, 0)), 1);
    assert_eq!(world.store.dispatches[&order_id(1)], decision);
    assert_eq!(
        world.store.orders[&order_id(1)],
        dispatched,
        "the store holds the moved allocations"
    );
}

#[test]
fn a_full_hour_sends_the_next_promised_order_to_the_other_warehouse_and_an_unpromised_one_to_a_later_slot() {
    let mut world = shop(&[NEAR, OTHER], &[(SKU_A, NEAR, 10), (SKU_A, OTHER, 5)]);
    let mut one_an_hour = FulfillmentSettings::standard();
    one_an_hour.orders_per_hour = 1;
    let (outcome, effects) = world.run(Command::from(ConfigureFulfillment {
        shop: shop_id(1),
        warehouse: wh(NEAR),
        settings: one_an_hour.clone(),
    }));
    assert_eq!(
        outcome,
        Outcome::FulfillmentConfigured {
            warehouse: wh(NEAR),
            settings: one_an_hour.clone(),
        }
    );
    assert_eq!(
        effects,
        vec![Effect::FulfillmentConfigured {
            shop: shop_id(1),
            warehouse: wh(NEAR),
            settings: one_an_hour,
        }]
    );

    // Two same-day orders and one without a promise, all reserved in the (fuller) near one.
    world.now = monday(10, 58);
    for n in [1, 2] {
        let order = place_now(&mut world, n, &[(SKU_A, 1)], Some(same_day_sf()));
        assert_eq!(order.promise.map(|p| p.promised_by), Some(monday(21, 0)));
        assert_eq!(order.lines[0].allocations, vec![allocated(NEAR, 1)]);
    }
    let third = place_now(&mut world, 3, &[(SKU_A, 1)], None);
    assert_eq!(third.lines[0].allocations, vec![allocated(NEAR, 1)]);

    // All paid at 11:00, the cutoff minute itself.
    world.now = monday(11, 0);
    let (_, effects) = world.run(pay(1));
    let first = decision_of(&world, 1);
    assert_eq!(
        first.parcels,
        vec![ParcelPlan {
            warehouse: wh(NEAR),
            lines: vec![(sku_id(SKU_A), 1)],
            slot_hour: monday(11, 0),
            level: ServiceLevel::SameDay,
            carrier: CarrierId::Sf,
            pickup_at: monday(12, 0),
            estimated_by: monday(21, 0),
            keeps_promise: true,
        }]
    );
    let headroom: Vec<_> = first
        .candidates
        .iter()
        .map(|c| (c.warehouse, c.headroom, c.rank))
        .collect();
    assert_eq!(headroom, vec![(wh(NEAR), 1, 1), (wh(OTHER), 500, 2)]);
    assert!(effects.contains(&Effect::CapacityBooked {
        shop: shop_id(1),
        warehouse: wh(NEAR),
        hour: monday(11, 0),
        orders: 1,
    }));

    // The near warehouse's 11:00 hour is full: it could start at 12:00, past the 11:00
    // same-day cutoff, so it cannot keep the promise; the other warehouse can.
    let (_, effects) = world.run(pay(2));
    let second = decision_of(&world, 2);
    assert_eq!(
        second.candidates,
        vec![
            Candidate {
                warehouse: wh(OTHER),
                distance_km: 17,
                holds_every_line: true,
                has_capacity: true,
                keeps_promise: true,
                would_deliver_by: Some(monday(21, 0)),
                headroom: 500,
                rank: 1,
                chosen: true,
            },
            Candidate {
                warehouse: wh(NEAR),
                distance_km: 5,
                holds_every_line: true,
                has_capacity: true,
                keeps_promise: false,
                would_deliver_by: Some(at("2026-11-24", 18, 0)),
                headroom: 1,
                rank: 2,
                chosen: false,
            },
        ]
    );
    assert_eq!(
        second.parcels,
        vec![ParcelPlan {
            warehouse: wh(OTHER),
            lines: vec![(sku_id(SKU_A), 1)],
            slot_hour: monday(11, 0),
            level: ServiceLevel::SameDay,
            carrier: CarrierId::Sf,
            pickup_at: monday(12, 0),
            estimated_by: monday(21, 0),
            keeps_promise: true,
        }]
    );
    assert!(second.promise_kept && !second.split);
    assert_eq!(
        second.reason,
        "warehouse 13 holds every line and keeps the promise; warehouse 12 also holds every line but does not keep the promise"
    );
    assert!(effects.contains(&Effect::CapacityBooked {
        shop: shop_id(1),
        warehouse: wh(OTHER),
        hour: monday(11, 0),
        orders: 1,
    }));
    assert_eq!(
        world.level(SKU_A, NEAR),
        level(8, 1, 1),
        "order 3 still reserved, order 1 sold"
    );
    assert_eq!(world.level(SKU_A, OTHER), level(4, 0, 1), "order 2's unit moved here");

    // Without a promise any service will do: the near warehouse takes it in its next hour.
    let (_, effects) = world.run(pay(3));
    let third = decision_of(&world, 3);
    assert_eq!(
        third.parcels,
        vec![ParcelPlan {
            warehouse: wh(NEAR),
            lines: vec![(sku_id(SKU_A), 1)],
            slot_hour: monday(12, 0),
            level: ServiceLevel::Standard,
            carrier: CarrierId::Zto,
            pickup_at: monday(18, 0),
            estimated_by: at("2026-11-24", 20, 0),
            keeps_promise: true,
        }]
    );
    let headroom: Vec<_> = third
        .candidates
        .iter()
        .map(|c| (c.warehouse, c.headroom, c.rank, c.chosen))
        .collect();
    assert_eq!(headroom, vec![(wh(NEAR), 1, 1, true), (wh(OTHER), 499, 2, false)]);
    assert_eq!(
        third.reason,
        "warehouse 12 holds every line and can deliver it; it is nearer (5 km) than warehouse 13 (17 km)"
    );
    assert!(effects.contains(&Effect::CapacityBooked {
        shop: shop_id(1),
        warehouse: wh(NEAR),
        hour: monday(12, 0),
        orders: 1,
    }));
    let capacity = world.state.capacity();
    assert_eq!(capacity.used_in_hour(wh(NEAR), monday(11, 0)), 1);
    assert_eq!(capacity.used_in_hour(wh(NEAR), monday(12, 0)), 1);
    assert_eq!(capacity.used_in_hour(wh(OTHER), monday(11, 0)), 1);
    assert_eq!(world.level(SKU_A, NEAR), level(8, 0, 2));
    assert_eq!(units_on_books(&world, SKU_A, &[NEAR, OTHER]), 15);
}

/// Order 1 (one SKU A and one SKU B) paid at 10:05 and split: SKU A only in the near
/// warehouse, SKU B only in the far one. Warehouse 13 exists but holds nothing.
fn split_order() -> (World, Order) {
    let mut world = shop(&[FAR, NEAR, OTHER], &[(SKU_A, NEAR, 3), (SKU_B, FAR, 3)]);
    world.now = monday(10, 0);
    place_now(&mut world, 1, &[(SKU_A, 1), (SKU_B, 1)], None);
    world.now = monday(10, 5);
    let order = pay_now(&mut world, 1);
    (world, order)
}

#[test]
fn an_order_whose_skus_are_in_different_warehouses_is_dispatched_as_two_parcels() {
    let mut world = shop(&[FAR, NEAR], &[(SKU_A, NEAR, 3), (SKU_B, FAR, 3)]);
    world.now = monday(10, 0);
    let order = place_now(&mut world, 1, &[(SKU_A, 1), (SKU_B, 1)], None);
    world.now = monday(10, 5);
    let (outcome, effects) = world.run(pay(1));

    let mut paid_order = order;
    paid_order.state = OrderState::Paid;
    paid_order.version = 2;
    paid_order.paid_at = Some(monday(10, 5));
    paid_order.paid_by = Some(intent_id(1));
    assert_eq!(paid_order.lines[0].allocations, vec![allocated(NEAR, 1)]);
    assert_eq!(paid_order.lines[1].allocations, vec![allocated(FAR, 1)]);
    let decision = DispatchDecision {
        decided_at: monday(10, 5),
        parcels: vec![
            ParcelPlan {
                warehouse: wh(NEAR),
                lines: vec![(sku_id(SKU_A), 1)],
                slot_hour: monday(10, 0),
                level: ServiceLevel::Standard,
                carrier: CarrierId::Zto,
                pickup_at: monday(18, 0),
                estimated_by: at("2026-11-24", 20, 0),
                keeps_promise: true,
            },
            ParcelPlan {
                warehouse: wh(FAR),
                lines: vec![(sku_id(SKU_B), 1)],
                slot_hour: monday(10, 0),
                level: ServiceLevel::Standard,
                carrier: CarrierId::Zto,
                pickup_at: monday(18, 0),
                // 1070 km: three working days in transit.
                estimated_by: at("2026-11-26", 20, 0),
                keeps_promise: true,
            },
        ],
        candidates: vec![
            Candidate {
                warehouse: wh(NEAR),
                distance_km: 5,
                holds_every_line: false,
                has_capacity: true,
                keeps_promise: true,
                would_deliver_by: Some(at("2026-11-24", 20, 0)),
                headroom: 500,
                rank: 1,
                chosen: true,
            },
            Candidate {
                warehouse: wh(FAR),
                distance_km: 1070,
                holds_every_line: false,
                has_capacity: true,
                keeps_promise: true,
                would_deliver_by: Some(at("2026-11-26", 20, 0)),
                headroom: 500,
                rank: 2,
                chosen: true,
            },
        ],
        split: true,
        promise_kept: true,
        reason: "no single warehouse holds every line, so the order is split over warehouse 12 (5 km), warehouse 11 (1070 km) in ranking order".into(),
    };
    assert_eq!(outcome, Outcome::OrderPaid(paid_order.clone()));
    assert_eq!(
        effects,
        vec![
            Effect::OrderTransitioned(paid_order.clone()),
            stock_changed(SKU_A, NEAR, level(2, 0, 1)),
            stock_changed(SKU_B, FAR, level(2, 0, 1)),
            Effect::CapacityBooked {
                shop: shop_id(1),
                warehouse: wh(NEAR),
                hour: monday(10, 0),
                orders: 1,
            },
            Effect::CapacityBooked {
                shop: shop_id(1),
                warehouse: wh(FAR),
                hour: monday(10, 0),
                orders: 1,
            },
            Effect::OrderDispatched {
                order: paid_order.clone(),
                decision: decision.clone(),
            },
        ]
    );
    assert_eq!(
        world.state.fulfilling(order_id(1)),
        Some(&Fulfilling {
            order: paid_order,
            decision,
        })
    );
}

// ---------------------------------------------------------------------------------------------
// 5. Shipments and tracking
// ---------------------------------------------------------------------------------------------

#[test]
fn an_order_ships_when_every_parcel_has_a_shipment_and_is_delivered_when_every_shipment_is() {
    let (mut world, order) = split_order();
    use ShipmentState::*;

    // The near parcel gets its waybill: the carrier and plan come from dispatch.
    world.now = monday(10, 30);
    let (outcome, effects) = world.run(new_shipment(1, 1, NEAR, "ZT100000000001"));
    let s1 = Shipment::new(
        shipment_id(1),
        order_id(1),
        shop_id(1),
        wh(NEAR),
        CarrierId::Zto,
        waybill("ZT100000000001"),
        monday(10, 30),
        monday(18, 0),
        at("2026-11-24", 20, 0),
        None,
    );
    assert_eq!(outcome, Outcome::ShipmentSaved(s1.clone()));
    assert_eq!(effects, vec![Effect::ShipmentSaved(s1.clone())]);
    assert_eq!(
        world.state.fulfilling(order_id(1)).map(|f| f.order.state),
        Some(OrderState::Paid),
        "one parcel of two is with a carrier: not shipped yet"
    );

    // Refusals.
    world.now = monday(10, 35);
    place_now(&mut world, 2, &[(SKU_A, 1)], None);
    let cases = [
        (
            "a warehouse that sends no parcel of the order",
            new_shipment(3, 1, OTHER, "ZT100000000003"),
            Rejection::NoParcelAtWarehouse,
        ),
        (
            "a second shipment for the near parcel",
            new_shipment(3, 1, NEAR, "ZT100000000003"),
            Rejection::ShipmentExists,
        ),
        (
            "an unpaid order",
            new_shipment(3, 2, NEAR, "ZT100000000003"),
            Rejection::OrderNotDispatched,
        ),
        (
            "an order that does not exist",
            new_shipment(3, 99, NEAR, "ZT100000000003"),
            Rejection::OrderNotDispatched,
        ),
        (
            "the same carrier's waybill on the far parcel",
            new_shipment(3, 1, FAR, "ZT100000000001"),
            Rejection::WaybillInUse,
        ),
        (
            "a shipment id already taken",
            new_shipment(1, 1, FAR, "ZT100000000003"),
            Rejection::IdInUse,
        ),
        (
            "tracking for an unknown shipment",
            tracking(99, "X-1", PickedUp, monday(10, 30)),
            Rejection::UnknownShipment,
        ),
    ];
    for (case, command, expected) in cases {
        assert_refused(&mut world, command, expected, case);
    }

    // The far parcel's shipment completes the order: shipped.
    world.now = monday(10, 40);
    let (outcome, effects) = world.run(new_shipment(2, 1, FAR, "ZT100000000002"));
    let s2 = Shipment::new(
        shipment_id(2),
        order_id(1),
        shop_id(1),
        wh(FAR),
        CarrierId::Zto,
        waybill("ZT100000000002"),
        monday(10, 40),
        monday(18, 0),
        at("2026-11-26", 20, 0),
        None,
    );
    let mut shipped = order.clone();
    shipped.state = OrderState::Shipped;
    shipped.version = 3;
    assert_eq!(outcome, Outcome::ShipmentSaved(s2.clone()));
    assert_eq!(
        effects,
        vec![Effect::ShipmentSaved(s2), Effect::OrderTransitioned(shipped.clone())]
    );
    assert_eq!(world.store.orders[&order_id(1)].state, OrderState::Shipped);

    // Tracking, in arrival order. Each applied scan saves the shipment and nothing else.
    let applied = |world: &mut World, shipment, id, state, when| {
        let (after, outcome, effects) = scan(world, shipment, id, state, when);
        assert_eq!(outcome, EventOutcome::Applied, "{id}");
        assert_eq!(after.state, state, "{id}");
        assert_eq!(effects, vec![Effect::ShipmentSaved(after.clone())], "{id}");
        after
    };
    let picked = applied(&mut world, 1, "S1-1", PickedUp, monday(18, 0));
    assert_eq!(picked.picked_up_at, Some(monday(18, 0)));
    applied(&mut world, 2, "S2-1", PickedUp, monday(18, 0));

    // The carrier pushes the pickup again (with another note): a duplicate, nothing changes.
    world.now = monday(18, 10);
    let mut again = event("S1-1", PickedUp, monday(18, 5));
    again.location = miaodan_domain::logistics::TrackingNote::parse("上海虹口网点").ok();
    let (outcome, effects) = world.run(Command::from(RecordTracking {
        shipment: shipment_id(1),
        event: again,
    }));
    assert_eq!(
        outcome,
        Outcome::TrackingRecorded {
            shipment: Box::new(picked.clone()),
            applied: EventOutcome::Duplicate,
        }
    );
    assert_eq!(effects, vec![]);
    assert_eq!(world.state.shipment(shipment_id(1)), Some(&picked));

    applied(&mut world, 1, "S1-2", Departed, monday(19, 0));
    applied(&mut world, 2, "S2-2", Departed, monday(20, 0));
    applied(&mut world, 1, "S1-3", InTransit, monday(23, 0));
    applied(&mut world, 2, "S2-3", InTransit, at("2026-11-24", 2, 0));

    // The near parcel's "delivered" overtakes its "out for delivery".
    let delivered = applied(&mut world, 1, "S1-5", Delivered, at("2026-11-24", 10, 0));
    assert_eq!(delivered.delivered_at, Some(at("2026-11-24", 10, 0)));
    assert_eq!(
        world.state.fulfilling(order_id(1)).map(|f| f.order.state),
        Some(OrderState::Shipped),
        "the far parcel is still on its way"
    );
    let (late, outcome, effects) = scan(&mut world, 1, "S1-4", OutForDelivery, at("2026-11-24", 8, 0));
    assert_eq!(outcome, EventOutcome::LateApplied);
    assert_eq!(
        late.state, Delivered,
        "a late scan does not move a delivered parcel back"
    );
    assert_eq!(late.version, 5);
    let ids: Vec<&str> = late.events.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(ids, ["S1-1", "S1-2", "S1-3", "S1-4", "S1-5"], "kept in event time");
    assert_eq!(effects, vec![Effect::ShipmentSaved(late.clone())]);

    applied(&mut world, 2, "S2-4", InTransit, at("2026-11-25", 12, 0));
    applied(&mut world, 2, "S2-5", OutForDelivery, at("2026-11-26", 9, 0));
    // The last parcel delivered: the order is delivered and leaves the shard's memory.
    let (last, outcome, effects) = scan(&mut world, 2, "S2-6", Delivered, at("2026-11-26", 11, 0));
    assert_eq!(outcome, EventOutcome::Applied);
    let mut done = shipped;
    done.state = OrderState::Delivered;
    done.version = 4;
    assert_eq!(
        effects,
        vec![Effect::ShipmentSaved(last), Effect::OrderTransitioned(done)]
    );
    assert_eq!(world.state.fulfilling(order_id(1)), None);
    assert_eq!(world.state.shipment(shipment_id(1)), None);
    assert_eq!(world.state.shipment(shipment_id(2)), None);
    assert_eq!(world.store.orders[&order_id(1)].state, OrderState::Delivered);
    // A straggler scan for a delivered order's shipment finds nothing on its way.
    world.now = at("2026-11-26", 12, 0);
    assert_refused(
        &mut world,
        tracking(2, "S2-5", OutForDelivery, at("2026-11-26", 9, 0)),
        Rejection::UnknownShipment,
        "a shipment of a delivered order",
    );
    assert_refused(
        &mut world,
        new_shipment(3, 1, NEAR, "ZT100000000003"),
        Rejection::OrderNotDispatched,
        "a shipment for a delivered order",
    );
}

// ---------------------------------------------------------------------------------------------
// 6. SLA alerts on the ExpireDue tick
// ---------------------------------------------------------------------------------------------

/// Orders 1 to `count`, one SKU A each, placed at 10:00 and paid at 10:05 (all dispatched
/// from the near warehouse), with `delivery`.
fn paid_orders(world: &mut World, count: i64, delivery: Option<DeliveryChoice>) {
    world.now = monday(10, 0);
    for n in 1..=count {
        place_now(world, n, &[(SKU_A, 1)], delivery);
    }
    world.now = monday(10, 5);
    for n in 1..=count {
        pay_now(world, n);
    }
}

/// Shipment `n` for the near parcel of order `n`, created now.
fn ship_now(world: &mut World, n: i64) -> Shipment {
    let (outcome, effects) = world.run(new_shipment(n, n, NEAR, &format!("ZT20000000000{n}")));
    let shipment = created(outcome);
    assert_eq!(effects[0], Effect::ShipmentSaved(shipment.clone()));
    shipment
}

fn set_rules(world: &mut World, rules: SlaRules) {
    let (outcome, effects) = world.run(Command::from(SetSlaRules {
        shop: shop_id(1),
        rules,
    }));
    assert_eq!(outcome, Outcome::SlaRulesSaved(rules));
    assert_eq!(
        effects,
        vec![Effect::SlaRulesSaved {
            shop: shop_id(1),
            rules
        }]
    );
}

#[test]
fn a_parcel_not_picked_up_warns_at_80_percent_escalates_at_the_limit_and_resolves_on_pickup() {
    let mut world = shop(&[NEAR], &[(SKU_A, NEAR, 5)]);
    world.now = monday(9, 30);
    set_rules(&mut world, tight_rules());
    paid_orders(&mut world, 1, None);
    let created_at = monday(10, 30);
    world.now = created_at;
    ship_now(&mut world, 1);
    let since = |ms| plus_ms(created_at, ms);

    assert_eq!(expire_at(&mut world, since(47 * MINUTE + 59 * SECOND)), vec![]);
    let warning = alert(Raised {
        shipment: 1,
        order: 1,
        rule: AlertRule::NotPickedUp,
        occurrence: 1,
        level: AlertLevel::Warning,
        since: created_at,
        deadline: since(60 * MINUTE),
        raised_at: since(48 * MINUTE),
    });
    assert_eq!(
        expire_at(&mut world, since(48 * MINUTE)),
        vec![Effect::AlertSaved(warning.clone())]
    );
    assert_eq!(expire(&mut world), vec![], "the same tick again saves nothing");
    assert_eq!(expire_at(&mut world, since(60 * MINUTE - 1)), vec![]);

    let timed_out = escalated(warning, since(60 * MINUTE));
    assert_eq!(
        expire_at(&mut world, since(60 * MINUTE)),
        vec![Effect::AlertSaved(timed_out.clone())],
        "escalated in place, same key"
    );
    assert_eq!(expire(&mut world), vec![]);
    assert_eq!(
        expire_at(&mut world, since(65 * MINUTE)),
        vec![],
        "timed out stays timed out"
    );
    let open: Vec<Alert> = world.state.open_alerts().cloned().collect();
    assert_eq!(open, vec![timed_out.clone()]);

    // The pickup resolves it.
    let (after, outcome, effects) = scan(&mut world, 1, "P-1", ShipmentState::PickedUp, since(69 * MINUTE));
    assert_eq!(outcome, EventOutcome::Applied);
    assert_eq!(
        effects,
        vec![
            Effect::ShipmentSaved(after),
            Effect::AlertSaved(resolved(timed_out, since(70 * MINUTE))),
        ]
    );
    assert_eq!(world.state.open_alerts().count(), 0);
    assert_eq!(world.store.alerts.len(), 1, "one alert, raised, escalated and resolved");
}

#[test]
fn not_departed_and_stalled_alerts_run_from_the_pickup_and_the_last_scan() {
    let mut world = shop(&[NEAR], &[(SKU_A, NEAR, 5)]);
    world.now = monday(9, 30);
    set_rules(&mut world, tight_rules());
    paid_orders(&mut world, 1, None);
    world.now = monday(10, 30);
    ship_now(&mut world, 1);
    // Picked up at 11:00 (received 11:01): within the hour, no alert.
    let pickup = monday(11, 0);
    let (_, _, effects) = scan(&mut world, 1, "P-1", ShipmentState::PickedUp, pickup);
    assert_eq!(effects.len(), 1, "only the shipment: {effects:?}");
    let after = |ms| plus_ms(pickup, ms);

    assert_eq!(expire_at(&mut world, after(48 * MINUTE - 1)), vec![]);
    let not_departed = alert(Raised {
        shipment: 1,
        order: 1,
        rule: AlertRule::NotDeparted,
        occurrence: 1,
        level: AlertLevel::Warning,
        since: pickup,
        deadline: after(60 * MINUTE),
        raised_at: after(48 * MINUTE),
    });
    assert_eq!(
        expire_at(&mut world, after(48 * MINUTE)),
        vec![Effect::AlertSaved(not_departed.clone())]
    );
    let not_departed = escalated(not_departed, after(60 * MINUTE));
    assert_eq!(
        expire_at(&mut world, after(60 * MINUTE)),
        vec![Effect::AlertSaved(not_departed.clone())]
    );
    // No scan for 96 minutes (80 % of 2 h): stalled.
    assert_eq!(expire_at(&mut world, after(96 * MINUTE - 1)), vec![]);
    let stalled = alert(Raised {
        shipment: 1,
        order: 1,
        rule: AlertRule::Stalled,
        occurrence: 1,
        level: AlertLevel::Warning,
        since: pickup,
        deadline: after(120 * MINUTE),
        raised_at: after(96 * MINUTE),
    });
    assert_eq!(
        expire_at(&mut world, after(96 * MINUTE)),
        vec![Effect::AlertSaved(stalled.clone())]
    );
    assert_eq!(expire(&mut world), vec![]);

    // It departs: both resolved (the stall's clock restarts at the new scan).
    let departed = after(99 * MINUTE);
    let (shipment, _, effects) = scan(&mut world, 1, "P-2", ShipmentState::Departed, departed);
    let received = after(100 * MINUTE);
    assert_eq!(
        effects,
        vec![
            Effect::ShipmentSaved(shipment),
            Effect::AlertSaved(resolved(not_departed, received)),
            Effect::AlertSaved(resolved(stalled, received)),
        ]
    );
    // A new stall after the departure is a new occurrence.
    let stalled_again = alert(Raised {
        shipment: 1,
        order: 1,
        rule: AlertRule::Stalled,
        occurrence: 2,
        level: AlertLevel::Warning,
        since: departed,
        deadline: plus_ms(departed, 120 * MINUTE),
        raised_at: plus_ms(departed, 96 * MINUTE),
    });
    assert_eq!(expire_at(&mut world, plus_ms(departed, 96 * MINUTE - 1)), vec![]);
    assert_eq!(
        expire_at(&mut world, plus_ms(departed, 96 * MINUTE)),
        vec![Effect::AlertSaved(stalled_again.clone())]
    );
    let (shipment, _, effects) = scan(
        &mut world,
        1,
        "P-3",
        ShipmentState::InTransit,
        plus_ms(departed, 100 * MINUTE),
    );
    assert_eq!(
        effects,
        vec![
            Effect::ShipmentSaved(shipment),
            Effect::AlertSaved(resolved(stalled_again, plus_ms(departed, 101 * MINUTE))),
        ]
    );
    assert_eq!(world.state.open_alerts().count(), 0);
}

#[test]
fn a_promise_is_at_risk_once_the_estimate_passes_it_and_warned_at_80_percent_while_on_track() {
    let mut world = shop(&[NEAR], &[(SKU_A, NEAR, 5)]);
    // Default rules: 24 h to pickup, 12 h to depart, 24 h between scans — none fires today.
    // Two same-day orders promised by 21:00; dispatch plans the pickup at 12:00 and the
    // delivery by 21:00, so there is no slack.
    paid_orders(&mut world, 2, Some(same_day_sf()));
    world.now = monday(10, 30);
    for n in [1, 2] {
        let shipment = ship_now(&mut world, n);
        assert_eq!(
            (
                shipment.planned_pickup_at,
                shipment.planned_delivery_by,
                shipment.promised_by
            ),
            (monday(12, 0), monday(21, 0), Some(monday(21, 0)))
        );
    }
    let (_, _, effects) = scan(&mut world, 2, "B-1", ShipmentState::PickedUp, monday(11, 55));
    assert_eq!(effects.len(), 1, "picked up early: nothing to say");

    // Not picked up at 12:00 sharp is still on time; a millisecond later it is not.
    assert_eq!(expire_at(&mut world, monday(12, 0)), vec![]);
    let at_risk = alert(Raised {
        shipment: 1,
        order: 1,
        rule: AlertRule::PromiseAtRisk,
        occurrence: 1,
        level: AlertLevel::TimedOut,
        since: monday(10, 30),
        deadline: monday(21, 0),
        raised_at: plus_ms(monday(12, 0), 1),
    });
    assert!(
        at_risk.notify_buyer,
        "a promise that will be missed is told to the buyer"
    );
    assert_eq!(
        expire_at(&mut world, plus_ms(monday(12, 0), 1)),
        vec![Effect::AlertSaved(at_risk.clone())]
    );
    assert_eq!(expire(&mut world), vec![]);
    // Picked up 20 minutes late: the estimate is 21:20, still past the promise.
    let (shipment, _, effects) = scan(&mut world, 1, "A-1", ShipmentState::PickedUp, monday(12, 20));
    assert_eq!(shipment.estimated_delivery(world.now), monday(21, 20));
    assert_eq!(
        effects,
        vec![Effect::ShipmentSaved(shipment)],
        "still at risk, unchanged"
    );

    // The on-time parcel is warned at 80 % of the time from its creation (10:30) to 21:00.
    assert_eq!(expire_at(&mut world, plus_ms(monday(18, 54), -1)), vec![]);
    let warning = alert(Raised {
        shipment: 2,
        order: 2,
        rule: AlertRule::PromiseAtRisk,
        occurrence: 1,
        level: AlertLevel::Warning,
        since: monday(10, 30),
        deadline: monday(21, 0),
        raised_at: monday(18, 54),
    });
    assert_eq!(
        expire_at(&mut world, monday(18, 54)),
        vec![Effect::AlertSaved(warning.clone())]
    );
    // Delivered at 20:00: resolved, and the order is delivered.
    let (shipment, _, effects) = scan(&mut world, 2, "B-2", ShipmentState::Delivered, monday(20, 0));
    let delivered = world.store.orders[&order_id(2)].clone();
    assert_eq!((delivered.state, delivered.version), (OrderState::Delivered, 4));
    assert_eq!(
        effects,
        vec![
            Effect::ShipmentSaved(shipment),
            Effect::AlertSaved(resolved(warning, monday(20, 1))),
            Effect::OrderTransitioned(delivered),
        ]
    );
    let open: Vec<Alert> = world.state.open_alerts().cloned().collect();
    assert_eq!(open, vec![at_risk]);
}

// ---------------------------------------------------------------------------------------------
// 7. Across a restart
// ---------------------------------------------------------------------------------------------

#[test]
fn alerts_escalate_in_place_and_fire_late_after_a_restart() {
    let mut world = shop(&[NEAR], &[(SKU_A, NEAR, 5)]);
    world.now = monday(9, 30);
    set_rules(&mut world, tight_rules());
    paid_orders(&mut world, 2, None);
    // Shipment 1 is created at 10:30: warns at 11:18, times out at 11:30.
    world.now = monday(10, 30);
    ship_now(&mut world, 1);
    // Shipment 2 is created at 10:50: warns at 11:38, times out at 11:50.
    world.now = monday(10, 50);
    ship_now(&mut world, 2);

    let warning = alert(Raised {
        shipment: 1,
        order: 1,
        rule: AlertRule::NotPickedUp,
        occurrence: 1,
        level: AlertLevel::Warning,
        since: monday(10, 30),
        deadline: monday(11, 30),
        raised_at: monday(11, 18),
    });
    assert_eq!(
        expire_at(&mut world, monday(11, 18)),
        vec![Effect::AlertSaved(warning.clone())]
    );
    let fulfilling_before: Vec<Fulfilling> = world.state.fulfilling_orders().cloned().collect();

    world.now = monday(11, 20);
    world.restart();
    let fulfilling_after: Vec<Fulfilling> = world.state.fulfilling_orders().cloned().collect();
    assert_eq!(fulfilling_after, fulfilling_before, "dispatched orders survive");
    assert_eq!(world.state.sla_rules(shop_id(1)), tight_rules());
    let open: Vec<Alert> = world.state.open_alerts().cloned().collect();
    assert_eq!(open, vec![warning.clone()]);
    assert_eq!(
        expire(&mut world),
        vec![],
        "the first tick after the restart: nothing new"
    );

    // Down again from 11:20 to 11:55: shipment 1 timed out at 11:30, shipment 2 warned at
    // 11:38 and timed out at 11:50, all while nobody ticked.
    world.now = monday(11, 55);
    world.restart();
    let timed_out_2 = alert(Raised {
        shipment: 2,
        order: 2,
        rule: AlertRule::NotPickedUp,
        occurrence: 1,
        level: AlertLevel::TimedOut,
        since: monday(10, 50),
        deadline: monday(11, 50),
        raised_at: monday(11, 55),
    });
    assert_eq!(
        expire(&mut world),
        vec![
            Effect::AlertSaved(escalated(warning, monday(11, 55))),
            Effect::AlertSaved(timed_out_2),
        ],
        "shipment 1's warning escalates under its key; shipment 2's alert is raised timed out"
    );
    assert_eq!(expire(&mut world), vec![]);
    let keys: Vec<String> = world.store.alerts.keys().map(|k| k.to_string()).collect();
    assert_eq!(keys, ["1-not_picked_up-1", "2-not_picked_up-1"], "no duplicate alert");
}

#[test]
fn a_duplicate_tracking_event_is_still_a_duplicate_after_a_restart() {
    let mut world = shop(&[NEAR], &[(SKU_A, NEAR, 5)]);
    paid_orders(&mut world, 1, None);
    world.now = monday(10, 30);
    ship_now(&mut world, 1);
    scan(&mut world, 1, "P-1", ShipmentState::PickedUp, monday(11, 0));
    let (shipment, _, _) = scan(&mut world, 1, "P-2", ShipmentState::Departed, monday(12, 0));
    world.now = monday(12, 30);
    world.restart();
    assert_eq!(world.state.shipment(shipment_id(1)), Some(&shipment));
    for (id, state, when) in [
        ("P-1", ShipmentState::PickedUp, monday(11, 0)),
        ("P-2", ShipmentState::Departed, monday(12, 0)),
    ] {
        let (outcome, effects) = world.run(tracking(1, id, state, when));
        assert_eq!(
            outcome,
            Outcome::TrackingRecorded {
                shipment: Box::new(shipment.clone()),
                applied: EventOutcome::Duplicate,
            },
            "{id}"
        );
        assert_eq!(effects, vec![], "{id}");
    }
    // And a shipment for the same parcel is still refused.
    assert_refused(
        &mut world,
        new_shipment(2, 1, NEAR, "ZT200000000009"),
        Rejection::ShipmentExists,
        "after a restart",
    );
}

// ---------------------------------------------------------------------------------------------
// 8. Shortage re-dispatch
// ---------------------------------------------------------------------------------------------

/// Order 1 of two SKU A, reserved in the (fuller) far warehouse and dispatched at 10:05 to
/// the near one, which holds exactly two.
fn dispatched_to_near() -> World {
    let mut world = shop(&[FAR, NEAR], &[(SKU_A, FAR, 5), (SKU_A, NEAR, 2)]);
    world.now = monday(10, 0);
    place_now(&mut world, 1, &[(SKU_A, 2)], None);
    world.now = monday(10, 5);
    let order = pay_now(&mut world, 1);
    assert_eq!(order.lines[0].allocations, vec![allocated(NEAR, 2)]);
    assert_eq!(world.level(SKU_A, NEAR), level(0, 0, 2));
    assert_eq!(world.level(SKU_A, FAR), level(5, 0, 0));
    world
}

fn shortage(warehouse: i64, sku: i64, missing: i64) -> Command {
    Command::from(ReportShortage {
        shop: shop_id(1),
        warehouse: wh(warehouse),
        sku: sku_id(sku),
        missing,
    })
}

#[test]
fn a_shortage_at_the_dispatching_warehouse_moves_the_order_to_another_that_holds_the_sku() {
    let mut world = dispatched_to_near();
    let before = world.state.fulfilling(order_id(1)).cloned().expect("fulfilling");
    world.now = monday(11, 0);
    let (outcome, effects) = world.run(shortage(NEAR, SKU_A, 1));
    assert_eq!(
        outcome,
        Outcome::ShortageHandled {
            redispatched: vec![order_id(1)],
            unfulfillable: vec![],
        }
    );
    let mut moved = before.order.clone();
    moved.lines[0].allocations = vec![allocated(FAR, 2)];
    let decision = DispatchDecision {
        decided_at: monday(11, 0),
        parcels: vec![ParcelPlan {
            warehouse: wh(FAR),
            lines: vec![(sku_id(SKU_A), 2)],
            slot_hour: monday(11, 0),
            level: ServiceLevel::Standard,
            carrier: CarrierId::Zto,
            pickup_at: monday(18, 0),
            estimated_by: at("2026-11-26", 20, 0),
            keeps_promise: true,
        }],
        candidates: vec![
            Candidate {
                warehouse: wh(NEAR),
                distance_km: 5,
                holds_every_line: false,
                has_capacity: true,
                keeps_promise: true,
                would_deliver_by: Some(at("2026-11-24", 20, 0)),
                headroom: 500,
                rank: 1,
                chosen: false,
            },
            Candidate {
                warehouse: wh(FAR),
                distance_km: 1070,
                holds_every_line: true,
                has_capacity: true,
                keeps_promise: true,
                would_deliver_by: Some(at("2026-11-26", 20, 0)),
                headroom: 500,
                rank: 2,
                chosen: true,
            },
        ],
        split: false,
        promise_kept: true,
        reason: "re-dispatched after warehouse 12 came up short of SKU 1001: warehouse 11 holds every line and can deliver it; it is the only warehouse that holds every line".into(),
    };
    assert_eq!(
        effects,
        vec![
            // The near warehouse's 10:00 booking is given back (and made durable).
            Effect::CapacityBooked {
                shop: shop_id(1),
                warehouse: wh(NEAR),
                hour: monday(10, 0),
                orders: 0,
            },
            Effect::CapacityBooked {
                shop: shop_id(1),
                warehouse: wh(FAR),
                hour: monday(11, 0),
                orders: 1,
            },
            Effect::OrderDispatched {
                order: moved.clone(),
                decision: decision.clone(),
            },
            Effect::ShortageNoticed(ShortageNotice {
                shop: shop_id(1),
                order: order_id(1),
                warehouse: wh(NEAR),
                sku: sku_id(SKU_A),
                redispatched_to: vec![wh(FAR)],
                at: monday(11, 0),
            }),
            stock_changed(SKU_A, FAR, level(3, 0, 2)),
            stock_changed(SKU_A, NEAR, level(1, 0, 0)),
        ]
    );
    // The near warehouse lost exactly the missing unit; the far one's books are unchanged.
    assert_eq!(world.level(SKU_A, NEAR).total(), 2 - 1);
    assert_eq!(world.level(SKU_A, FAR).total(), 5);
    assert_eq!(
        world.state.fulfilling(order_id(1)),
        Some(&Fulfilling { order: moved, decision })
    );
    assert_eq!(
        world.state.capacity().used_in_hour(wh(NEAR), monday(10, 0)),
        0,
        "given back"
    );
    assert_eq!(world.state.capacity().used_in_hour(wh(FAR), monday(11, 0)), 1);
    // The parcel now ships from the far warehouse, not the near one.
    assert_refused(
        &mut world,
        new_shipment(1, 1, NEAR, "ZT300000000001"),
        Rejection::NoParcelAtWarehouse,
        "the near parcel is gone",
    );
    created(world.run(new_shipment(1, 1, FAR, "ZT300000000001")).0);
    assert_eq!(world.store.orders[&order_id(1)].state, OrderState::Shipped);
}

#[test]
fn a_shortage_no_warehouse_can_cover_leaves_the_order_unfulfillable() {
    let mut world = shop(&[FAR, NEAR], &[(SKU_A, FAR, 5), (SKU_B, NEAR, 1)]);
    world.now = monday(10, 0);
    let order = place_now(&mut world, 1, &[(SKU_B, 1)], None);
    world.now = monday(10, 5);
    pay_now(&mut world, 1);
    assert_eq!(world.level(SKU_B, NEAR), level(0, 0, 1));

    world.now = monday(11, 0);
    let (outcome, effects) = world.run(shortage(NEAR, SKU_B, 1));
    assert_eq!(
        outcome,
        Outcome::ShortageHandled {
            redispatched: vec![],
            unfulfillable: vec![order_id(1)],
        }
    );
    let fulfilling = world.state.fulfilling(order_id(1)).cloned().expect("still fulfilling");
    assert_eq!(fulfilling.order.lines[0].allocations, vec![], "its unit is nowhere");
    assert_eq!(fulfilling.order.state, OrderState::Paid);
    assert_eq!(fulfilling.order.lines[0].quantity, order.lines[0].quantity);
    assert_eq!(fulfilling.decision.parcels, vec![]);
    assert!(!fulfilling.decision.promise_kept);
    assert_eq!(fulfilling.decision.decided_at, monday(11, 0));
    assert_eq!(
        fulfilling.decision.reason,
        "warehouse 12 came up short of SKU 1002 and no warehouse can take the parcel: the merchant must restock or refund"
    );
    assert_eq!(
        effects,
        vec![
            Effect::CapacityBooked {
                shop: shop_id(1),
                warehouse: wh(NEAR),
                hour: monday(10, 0),
                orders: 0,
            },
            Effect::OrderDispatched {
                order: fulfilling.order.clone(),
                decision: fulfilling.decision.clone(),
            },
            Effect::ShortageNoticed(ShortageNotice {
                shop: shop_id(1),
                order: order_id(1),
                warehouse: wh(NEAR),
                sku: sku_id(SKU_B),
                redispatched_to: vec![],
                at: monday(11, 0),
            }),
            stock_changed(SKU_B, NEAR, level(0, 0, 0)),
        ]
    );
    assert_eq!(world.state.capacity().used_in_hour(wh(NEAR), monday(10, 0)), 0);
    assert_eq!(world.store.shortages.len(), 1);
}

#[test]
fn a_shortage_covered_by_unsold_units_redispatches_nothing() {
    let mut world = shop(&[FAR, NEAR], &[(SKU_A, FAR, 1), (SKU_A, NEAR, 5)]);
    world.now = monday(10, 0);
    place_now(&mut world, 1, &[(SKU_A, 2)], None);
    world.now = monday(10, 5);
    pay_now(&mut world, 1);
    assert_eq!(world.level(SKU_A, NEAR), level(3, 0, 2));
    let before = world.state.fulfilling(order_id(1)).cloned();

    world.now = monday(11, 0);
    let (outcome, effects) = world.run(shortage(NEAR, SKU_A, 3));
    assert_eq!(
        outcome,
        Outcome::ShortageHandled {
            redispatched: vec![],
            unfulfillable: vec![],
        }
    );
    assert_eq!(effects, vec![stock_changed(SKU_A, NEAR, level(0, 0, 2))]);
    assert_eq!(world.state.fulfilling(order_id(1)).cloned(), before);

    // Once the parcel is with a carrier, its units are not the warehouse's to lose.
    created(world.run(new_shipment(1, 1, NEAR, "ZT400000000001")).0);
    assert_refused(
        &mut world,
        shortage(NEAR, SKU_A, 1),
        Rejection::InvalidStock,
        "the only units on the books there are shipped",
    );
    assert_refused(
        &mut world,
        shortage(NEAR, SKU_A, 0),
        Rejection::InvalidStock,
        "nothing missing",
    );
}

#[test]
fn capacity_given_back_by_a_redispatch_stays_free_after_a_restart() {
    let mut world = dispatched_to_near();
    world.now = monday(10, 30);
    world.run(shortage(NEAR, SKU_A, 1));
    assert_eq!(world.state.capacity().used_in_hour(wh(NEAR), monday(10, 0)), 0);
    world.restart();
    assert_eq!(
        world.state.capacity().used_in_hour(wh(NEAR), monday(10, 0)),
        0,
        "the near warehouse's 10:00 hour holds no order after the re-dispatch"
    );
}

#[test]
fn a_shortage_redispatches_an_order_that_lists_one_sku_on_two_lines() {
    let mut world = shop(&[FAR, NEAR], &[(SKU_A, FAR, 5), (SKU_A, NEAR, 2)]);
    world.now = monday(10, 0);
    place_now(&mut world, 1, &[(SKU_A, 1), (SKU_A, 1)], None);
    world.now = monday(10, 5);
    let order = pay_now(&mut world, 1);
    assert_eq!(order.lines[0].allocations, vec![allocated(NEAR, 1)]);
    assert_eq!(order.lines[1].allocations, vec![allocated(NEAR, 1)]);

    // The near warehouse has one of the two units: the order needs 2, so it moves far.
    world.now = monday(11, 0);
    let (outcome, _) = world.run(shortage(NEAR, SKU_A, 1));
    assert_eq!(
        outcome,
        Outcome::ShortageHandled {
            redispatched: vec![order_id(1)],
            unfulfillable: vec![],
        }
    );
    let fulfilling = world.state.fulfilling(order_id(1)).cloned().expect("fulfilling");
    assert_eq!(fulfilling.order.lines[0].allocations, vec![allocated(FAR, 1)]);
    assert_eq!(fulfilling.order.lines[1].allocations, vec![allocated(FAR, 1)]);
    assert_eq!(world.level(SKU_A, NEAR), level(1, 0, 0));
    assert_eq!(world.level(SKU_A, FAR), level(3, 0, 2));
}

#[test]
fn a_redispatched_parcel_can_always_be_shipped() {
    // One SKU A from the near warehouse (its only unit), one SKU B from the far one.
    let mut world = shop(&[FAR, NEAR], &[(SKU_A, NEAR, 1), (SKU_B, FAR, 1)]);
    world.now = monday(10, 0);
    place_now(&mut world, 1, &[(SKU_A, 1), (SKU_B, 1)], None);
    world.now = monday(10, 5);
    pay_now(&mut world, 1);
    assert!(decision_of(&world, 1).split);
    world.now = monday(10, 30);
    created(world.run(new_shipment(1, 1, FAR, "ZT500000000001")).0);
    // The merchant restocks SKU A far away; then the near warehouse finds its unit missing.
    world.setup(Command::from(SetStock {
        shop: shop_id(1),
        sku: sku_id(SKU_A),
        warehouse: wh(FAR),
        available: 5,
    }));
    world.now = monday(11, 0);
    let (outcome, _) = world.run(shortage(NEAR, SKU_A, 1));
    assert_eq!(
        outcome,
        Outcome::ShortageHandled {
            redispatched: vec![order_id(1)],
            unfulfillable: vec![],
        }
    );
    // SKU A is only in the far warehouse now, whose SKU B parcel is already with the carrier.
    let decision = decision_of(&world, 1);
    let warehouses: Vec<(WarehouseId, Vec<(miaodan_domain::SkuId, i64)>)> = decision
        .parcels
        .iter()
        .map(|p| (p.warehouse, p.lines.clone()))
        .collect();
    assert_eq!(
        warehouses,
        vec![(wh(FAR), vec![(sku_id(SKU_B), 1)]), (wh(FAR), vec![(sku_id(SKU_A), 1)])]
    );
    // The re-dispatched unit must be able to leave: its shipment is accepted and the order,
    // every unit now with a carrier, is shipped.
    let (outcome, _) = world.run(new_shipment(2, 1, FAR, "ZT500000000002"));
    assert!(
        matches!(outcome, Outcome::ShipmentSaved(_)),
        "the re-dispatched SKU A parcel cannot get a shipment: {outcome:?}"
    );
    assert_eq!(world.store.orders[&order_id(1)].state, OrderState::Shipped);
}
