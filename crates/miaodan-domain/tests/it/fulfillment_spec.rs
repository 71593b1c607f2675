//! Delivery promises and smart dispatch, scenario by scenario, with exact instants.
//!
//! Everything runs on an explicit clock: instants are built from Shanghai local times, so a
//! cutoff at 11:00 is tested at 10:59 and 11:01, holidays and make-up workdays come from the
//! official table, and capacity is booked by hand.

use miaodan_domain::fulfillment::calendar::{Calendar, LocalDate};
use miaodan_domain::fulfillment::capacity::CapacityBook;
use miaodan_domain::fulfillment::dispatch::{DispatchInput, decide_dispatch};
use miaodan_domain::fulfillment::network::{
    CarrierId, CutoffRegion, CutoffTime, FulfillmentSettings, OperatingHours, ServiceLevel, WarehouseSite,
};
use miaodan_domain::fulfillment::promise::{
    DeliveryOption, Destination, Promise, PromiseContext, ScheduledWindow, delivery_options,
};
use miaodan_domain::geo::Adcode;
use miaodan_domain::{SkuId, Timestamp, WarehouseId};
use std::collections::HashMap;

const HUANGPU: &str = "310101000000"; // 上海 黄浦区
const HONGKOU: &str = "310109000000"; // 上海 虹口区
const JINGAN: &str = "310106000000"; // 上海 静安区 (the buyer)
const DONGCHENG: &str = "110101000000"; // 北京 东城区

fn at(date: &str, hour: u16, minute: u16) -> Timestamp {
    LocalDate::parse(date).expect("date").at_minute(hour * 60 + minute)
}

fn wh(n: i64) -> WarehouseId {
    WarehouseId::new(n).expect("positive")
}

fn sku(n: i64) -> SkuId {
    SkuId::new(n).expect("positive")
}

fn site(id: i64, adcode: &str, settings: FulfillmentSettings) -> WarehouseSite {
    WarehouseSite::new(wh(id), Adcode::parse(adcode).expect("known"), settings).expect("has a point")
}

fn buyer() -> Destination {
    Destination::of(Adcode::parse(JINGAN).expect("known")).expect("has a point")
}

struct World {
    sites: Vec<WarehouseSite>,
    stock: HashMap<(SkuId, WarehouseId), i64>,
    capacity: CapacityBook,
    calendar: &'static Calendar,
}

impl World {
    fn new(sites: Vec<WarehouseSite>) -> World {
        World {
            sites,
            stock: HashMap::new(),
            capacity: CapacityBook::default(),
            calendar: Calendar::official(),
        }
    }

    fn stock(mut self, sku_id: i64, warehouse: i64, units: i64) -> World {
        self.stock.insert((sku(sku_id), wh(warehouse)), units);
        self
    }

    fn options(&self, lines: &[(SkuId, i64)], now: Timestamp) -> Vec<DeliveryOption> {
        let context = PromiseContext {
            sites: &self.sites,
            available: |s: SkuId, w: WarehouseId| self.stock.get(&(s, w)).copied().unwrap_or(0),
            capacity: &self.capacity,
            calendar: self.calendar,
            now,
        };
        delivery_options(lines, &buyer(), &context)
    }

    fn option(
        &self,
        lines: &[(SkuId, i64)],
        now: Timestamp,
        level: ServiceLevel,
        carrier: CarrierId,
    ) -> Option<DeliveryOption> {
        self.options(lines, now)
            .into_iter()
            .find(|o| o.level == level && o.carrier == carrier)
    }
}

fn shanghai_world() -> World {
    World::new(vec![site(1, HUANGPU, FulfillmentSettings::standard())]).stock(1, 1, 10)
}

#[test]
fn ordering_at_10_59_is_delivered_today_and_at_11_01_it_is_not() {
    let world = shanghai_world();
    let cart = [(sku(1), 1)];
    let before = world.options(&cart, at("2026-11-23", 10, 59));
    let same_day = before
        .iter()
        .find(|o| o.level == ServiceLevel::SameDay && o.carrier == CarrierId::Sf)
        .expect("same-day is offered before the 11:00 cutoff");
    assert_eq!(same_day.promised_by, at("2026-11-23", 21, 0));
    assert_eq!(same_day.cutoff_at, at("2026-11-23", 11, 0), "order within 1 minute");
    assert_eq!(same_day.ships_on.to_string(), "2026-11-23");
    assert_eq!(before[0].level, ServiceLevel::SameDay, "the fastest option comes first");

    let after = world.options(&cart, at("2026-11-23", 11, 1));
    assert!(
        after.iter().all(|o| o.level != ServiceLevel::SameDay),
        "no same-day promise after the cutoff: {after:?}"
    );
    let next_day = after
        .iter()
        .find(|o| o.level == ServiceLevel::NextDay && o.carrier == CarrierId::Sf)
        .expect("next-day is still offered");
    assert_eq!(next_day.promised_by, at("2026-11-24", 18, 0));
    assert_eq!(next_day.cutoff_at, at("2026-11-23", 16, 0));
}

#[test]
fn the_cutoff_minute_itself_still_makes_the_day() {
    let world = shanghai_world();
    let option = world.option(
        &[(sku(1), 1)],
        at("2026-11-23", 11, 0),
        ServiceLevel::SameDay,
        CarrierId::Sf,
    );
    assert_eq!(option.map(|o| o.promised_by), Some(at("2026-11-23", 21, 0)));
}

#[test]
fn next_day_after_its_cutoff_ships_tomorrow_and_arrives_the_day_after() {
    let world = shanghai_world();
    let option = world
        .option(
            &[(sku(1), 1)],
            at("2026-11-23", 16, 1),
            ServiceLevel::NextDay,
            CarrierId::Sf,
        )
        .expect("offered");
    assert_eq!(option.ships_on.to_string(), "2026-11-24");
    assert_eq!(option.promised_by, at("2026-11-25", 18, 0));
    assert_eq!(
        option.cutoff_at,
        at("2026-11-24", 16, 0),
        "the promise holds until tomorrow's cutoff"
    );
}

#[test]
fn a_working_days_carrier_waits_out_a_public_holiday() {
    let world = shanghai_world();
    // Thursday 1 October 2026, National Day: the ZTO-like carrier collects again on Thursday 8th.
    let zto = world
        .option(
            &[(sku(1), 1)],
            at("2026-10-01", 9, 0),
            ServiceLevel::Standard,
            CarrierId::Zto,
        )
        .expect("offered, later");
    assert_eq!(zto.ships_on.to_string(), "2026-10-08");
    assert_eq!(zto.promised_by, at("2026-10-09", 20, 0));
    // The JD-like carrier works through the holiday.
    let jd = world
        .option(
            &[(sku(1), 1)],
            at("2026-10-01", 9, 0),
            ServiceLevel::Standard,
            CarrierId::Jd,
        )
        .expect("offered");
    assert_eq!(jd.ships_on.to_string(), "2026-10-01");
    assert_eq!(jd.promised_by, at("2026-10-02", 22, 0));
}

#[test]
fn a_make_up_workday_is_a_working_day_even_on_a_saturday() {
    let world = shanghai_world();
    // Friday 9 October 2026 after the 17:00 cutoff: Saturday 10th is a make-up workday (调休),
    // so the ZTO-like carrier collects then and delivers on Monday 12th.
    let make_up = world
        .option(
            &[(sku(1), 1)],
            at("2026-10-09", 17, 30),
            ServiceLevel::Standard,
            CarrierId::Zto,
        )
        .expect("offered");
    assert_eq!(make_up.ships_on.to_string(), "2026-10-10");
    assert_eq!(make_up.promised_by, at("2026-10-12", 20, 0));
    // An ordinary Friday: Saturday and Sunday are no working days, it ships on Monday.
    let ordinary = world
        .option(
            &[(sku(1), 1)],
            at("2026-11-20", 17, 30),
            ServiceLevel::Standard,
            CarrierId::Zto,
        )
        .expect("offered");
    assert_eq!(ordinary.ships_on.to_string(), "2026-11-23");
    assert_eq!(ordinary.promised_by, at("2026-11-24", 20, 0));
}

#[test]
fn a_warehouse_that_does_not_work_holidays_ships_after_them() {
    let mut settings = FulfillmentSettings::standard();
    settings.works_holidays = false;
    let world = World::new(vec![site(1, HUANGPU, settings)]).stock(1, 1, 10);
    let options = world.options(&[(sku(1), 1)], at("2026-10-03", 9, 0));
    assert!(
        options.iter().all(|o| o.ships_on.to_string() == "2026-10-08"),
        "{options:?}"
    );
    assert!(options.iter().all(|o| o.level != ServiceLevel::SameDay));
}

#[test]
fn a_full_hour_pushes_work_past_the_cutoff_and_the_same_day_promise_goes() {
    let mut settings = FulfillmentSettings::standard();
    settings.orders_per_hour = 2;
    let mut world = World::new(vec![site(1, HUANGPU, settings)]).stock(1, 1, 10);
    let now = at("2026-11-23", 10, 30);
    world.capacity.book(wh(1), at("2026-11-23", 10, 0));
    world.capacity.book(wh(1), at("2026-11-23", 10, 0));
    // 10:xx is full; work starts at 11:00, which still makes the 11:00 cutoff.
    let option = world.option(&[(sku(1), 1)], now, ServiceLevel::SameDay, CarrierId::Sf);
    assert_eq!(option.map(|o| o.promised_by), Some(at("2026-11-23", 21, 0)));
    world.capacity.book(wh(1), at("2026-11-23", 11, 0));
    world.capacity.book(wh(1), at("2026-11-23", 11, 0));
    assert_eq!(
        world.option(&[(sku(1), 1)], now, ServiceLevel::SameDay, CarrierId::Sf),
        None
    );
    assert!(
        world
            .option(&[(sku(1), 1)], now, ServiceLevel::NextDay, CarrierId::Sf)
            .is_some()
    );
}

#[test]
fn a_full_day_moves_every_promise_to_the_next_day() {
    let mut settings = FulfillmentSettings::standard();
    settings.orders_per_day = 1;
    let mut world = World::new(vec![site(1, HUANGPU, settings)]).stock(1, 1, 10);
    world.capacity.book(wh(1), at("2026-11-23", 9, 0));
    let options = world.options(&[(sku(1), 1)], at("2026-11-23", 10, 0));
    assert!(!options.is_empty());
    assert!(
        options.iter().all(|o| o.ships_on.to_string() == "2026-11-24"),
        "{options:?}"
    );
}

#[test]
fn one_hour_delivery_needs_a_front_warehouse_open_now_nearby() {
    let mut front = FulfillmentSettings::standard();
    front.hours = OperatingHours::around_the_clock();
    front.cutoffs.push(CutoffTime {
        level: ServiceLevel::OneHour,
        region: CutoffRegion::SameCity,
        minute: 23 * 60,
    });
    let world = World::new(vec![site(1, HUANGPU, front)]).stock(1, 1, 10);
    let now = at("2026-11-23", 22, 10);
    let one_hour = world
        .option(&[(sku(1), 1)], now, ServiceLevel::OneHour, CarrierId::Sf)
        .expect("a front warehouse 2 km away offers one-hour delivery");
    assert_eq!(one_hour.promised_by, now.plus_seconds(3600));
    assert_eq!(
        world.option(
            &[(sku(1), 1)],
            at("2026-11-23", 23, 1),
            ServiceLevel::OneHour,
            CarrierId::Sf
        ),
        None
    );
    // From Beijing nothing same-city is offered.
    let far = World::new(vec![site(2, DONGCHENG, FulfillmentSettings::standard())]).stock(1, 2, 10);
    let options = far.options(&[(sku(1), 1)], at("2026-11-23", 10, 0));
    assert!(
        options
            .iter()
            .all(|o| matches!(o.level, ServiceLevel::NextDay | ServiceLevel::Standard))
    );
    assert!(
        options
            .iter()
            .any(|o| o.level == ServiceLevel::NextDay && o.carrier == CarrierId::Sf)
    );
    assert!(options.iter().all(|o| o.distance_km > 1_000));
}

#[test]
fn only_warehouses_with_the_whole_cart_in_stock_promise_and_a_split_is_the_last_resort() {
    let world = World::new(vec![
        site(1, HUANGPU, FulfillmentSettings::standard()),
        site(2, DONGCHENG, FulfillmentSettings::standard()),
    ])
    .stock(1, 1, 5)
    .stock(2, 2, 5);
    let now = at("2026-11-23", 10, 0);
    // Only Shanghai holds SKU 1: same-day is possible.
    let single = world.options(&[(sku(1), 2)], now);
    assert!(single.iter().all(|o| o.warehouse == wh(1) && o.parcels == 1));
    assert!(single.iter().any(|o| o.level == ServiceLevel::SameDay));
    // Both SKUs: no warehouse holds both, so two parcels; Beijing cannot deliver same-day, so
    // the split cannot either, and the promise is the later parcel's.
    let split = world.options(&[(sku(1), 1), (sku(2), 1)], now);
    assert!(!split.is_empty());
    assert!(split.iter().all(|o| o.parcels == 2), "{split:?}");
    assert!(split.iter().all(|o| o.level != ServiceLevel::SameDay));
    // More than the shop holds: nothing is promised.
    assert!(world.options(&[(sku(1), 6)], now).is_empty());
}

#[test]
fn a_scheduled_window_must_be_after_the_earliest_arrival_and_within_a_week() {
    let world = shanghai_world();
    let option = world
        .option(
            &[(sku(1), 1)],
            at("2026-11-23", 10, 0),
            ServiceLevel::NextDay,
            CarrierId::Jd,
        )
        .expect("offered");
    assert_eq!(option.promised_by, at("2026-11-24", 22, 0));
    let window = |date: &str, start_hour| ScheduledWindow {
        date: LocalDate::parse(date).expect("date"),
        start_hour,
    };
    let booked = Promise::of(&option, Some(window("2026-11-26", 9))).expect("a later window");
    assert_eq!(booked.window_starts_at, Some(at("2026-11-26", 9, 0)));
    assert_eq!(booked.promised_by, at("2026-11-26", 11, 0));
    assert_eq!(
        Promise::of(&option, Some(window("2026-11-24", 9))),
        None,
        "before it can arrive"
    );
    assert_eq!(
        Promise::of(&option, Some(window("2026-12-02", 9))),
        None,
        "more than a week out"
    );
    assert_eq!(
        Promise::of(&option, Some(window("2026-11-26", 10))),
        None,
        "not a window start"
    );
    let zto = world
        .option(
            &[(sku(1), 1)],
            at("2026-11-23", 10, 0),
            ServiceLevel::Standard,
            CarrierId::Zto,
        )
        .expect("offered");
    assert_eq!(
        Promise::of(&zto, Some(window("2026-11-27", 9))),
        None,
        "not schedulable"
    );
}

mod dispatch {
    use super::*;

    fn decide(
        world: &World,
        lines: &[(SkuId, i64)],
        promise: Option<Promise>,
        now: Timestamp,
    ) -> miaodan_domain::fulfillment::DispatchDecision {
        let input = DispatchInput {
            lines,
            destination: buyer(),
            promise,
            now,
        };
        let available = |s: SkuId, w: WarehouseId| world.stock.get(&(s, w)).copied().unwrap_or(0);
        decide_dispatch(&input, &world.sites, &available, &world.capacity, world.calendar).expect("dispatched")
    }

    fn next_day_sf(world: &World, now: Timestamp) -> Promise {
        let option = world
            .option(&[(sku(1), 1)], now, ServiceLevel::NextDay, CarrierId::Sf)
            .expect("offered");
        Promise::of(&option, None).expect("no window")
    }

    #[test]
    fn the_nearest_warehouse_that_keeps_the_promise_wins() {
        let world = World::new(vec![
            site(1, DONGCHENG, FulfillmentSettings::standard()),
            site(2, HONGKOU, FulfillmentSettings::standard()),
            site(3, HUANGPU, FulfillmentSettings::standard()),
        ])
        .stock(1, 1, 5)
        .stock(1, 2, 5)
        .stock(1, 3, 5);
        let now = at("2026-11-23", 10, 0);
        let decision = decide(&world, &[(sku(1), 1)], Some(next_day_sf(&world, now)), now);
        assert_eq!(decision.parcels.len(), 1);
        assert_eq!(decision.parcels[0].warehouse, wh(3), "黄浦 is nearest to 静安");
        assert!(decision.promise_kept && !decision.split);
        let ranks: Vec<_> = decision
            .candidates
            .iter()
            .map(|c| (c.warehouse, c.rank, c.chosen))
            .collect();
        assert_eq!(ranks, vec![(wh(3), 1, true), (wh(2), 2, false), (wh(1), 3, false)]);
        assert!(decision.reason.contains("nearer"), "{}", decision.reason);
    }

    #[test]
    fn keeping_the_promise_beats_being_near() {
        // Standard service only: a faster service would keep a next-day promise too.
        let mut no_next_day = FulfillmentSettings::standard();
        no_next_day.cutoffs.retain(|c| c.level == ServiceLevel::Standard);
        let world = World::new(vec![
            site(1, HUANGPU, no_next_day),
            site(2, HONGKOU, FulfillmentSettings::standard()),
        ])
        .stock(1, 1, 5)
        .stock(1, 2, 5);
        let now = at("2026-11-23", 10, 0);
        let decision = decide(&world, &[(sku(1), 1)], Some(next_day_sf(&world, now)), now);
        assert_eq!(decision.parcels[0].warehouse, wh(2));
        let near = decision
            .candidates
            .iter()
            .find(|c| c.warehouse == wh(1))
            .expect("considered");
        assert!(!near.keeps_promise && near.distance_km < decision.candidates[0].distance_km);
        assert!(
            decision.reason.contains("does not keep the promise"),
            "{}",
            decision.reason
        );
    }

    #[test]
    fn at_equal_distance_the_warehouse_with_more_headroom_wins() {
        let mut world = World::new(vec![
            site(1, HUANGPU, FulfillmentSettings::standard()),
            site(2, HUANGPU, FulfillmentSettings::standard()),
        ])
        .stock(1, 1, 5)
        .stock(1, 2, 5);
        let now = at("2026-11-23", 10, 0);
        world.capacity.book(wh(1), at("2026-11-23", 10, 0));
        let decision = decide(&world, &[(sku(1), 1)], None, now);
        assert_eq!(decision.parcels[0].warehouse, wh(2));
        assert!(decision.reason.contains("headroom"), "{}", decision.reason);
    }

    #[test]
    fn a_warehouse_missing_a_line_does_not_take_the_order_while_another_holds_it_all() {
        let world = World::new(vec![
            site(1, HUANGPU, FulfillmentSettings::standard()),
            site(2, DONGCHENG, FulfillmentSettings::standard()),
        ])
        .stock(1, 1, 5)
        .stock(1, 2, 5)
        .stock(2, 2, 5);
        let decision = decide(&world, &[(sku(1), 1), (sku(2), 1)], None, at("2026-11-23", 10, 0));
        assert_eq!(decision.parcels.len(), 1);
        assert_eq!(decision.parcels[0].warehouse, wh(2));
    }

    #[test]
    fn an_order_is_split_only_when_no_warehouse_holds_every_line() {
        let world = World::new(vec![
            site(1, HUANGPU, FulfillmentSettings::standard()),
            site(2, DONGCHENG, FulfillmentSettings::standard()),
        ])
        .stock(1, 1, 5)
        .stock(2, 2, 5)
        .stock(3, 1, 2)
        .stock(3, 2, 2);
        let decision = decide(
            &world,
            &[(sku(1), 1), (sku(2), 1), (sku(3), 3)],
            None,
            at("2026-11-23", 10, 0),
        );
        assert!(decision.split);
        let parcels: Vec<_> = decision
            .parcels
            .iter()
            .map(|p| (p.warehouse, p.lines.clone()))
            .collect();
        assert_eq!(
            parcels,
            vec![
                (wh(1), vec![(sku(1), 1), (sku(3), 2)]),
                (wh(2), vec![(sku(2), 1), (sku(3), 1)]),
            ]
        );
    }

    #[test]
    fn with_no_warehouse_able_to_keep_it_the_promise_is_reported_at_risk() {
        let world = World::new(vec![site(1, DONGCHENG, FulfillmentSettings::standard())]).stock(1, 1, 5);
        let now = at("2026-11-23", 10, 0);
        // A same-day promise sold from Shanghai stock that has since gone.
        let promise = Promise {
            level: ServiceLevel::SameDay,
            carrier: CarrierId::Sf,
            window_starts_at: None,
            promised_by: at("2026-11-23", 21, 0),
            price: miaodan_domain::Fen::ZERO,
        };
        let decision = decide(&world, &[(sku(1), 1)], Some(promise), now);
        assert!(!decision.promise_kept);
        assert_eq!(decision.parcels[0].warehouse, wh(1));
        assert!(decision.parcels[0].estimated_by > promise.promised_by);
        assert!(decision.reason.contains("at risk"), "{}", decision.reason);
    }
}
