//! Specification of logistics: a shipment following its carrier's tracking events (in any
//! order, with duplicates), its delivery estimate, the package center's SLA rules and the
//! alert book that raises, escalates and resolves alerts from them. Every scenario runs on
//! fixed instants counted from [`BASE`] and states the exact outcome.

use AlertLevel::{TimedOut, Warning};
use ShipmentState::*;
use miaodan_domain::fulfillment::CarrierId;
use miaodan_domain::ids::ShipmentId;
use miaodan_domain::logistics::shipment::{
    EVENT_BEFORE_SHIPMENT_MS, EVENT_CLOCK_SKEW_MS, EVENTS_PER_SHIPMENT_MAX, TrackingNote,
};
use miaodan_domain::logistics::{
    Alert, AlertBook, AlertKey, AlertLevel, AlertRule, Condition, EventOutcome, EventRefusal, Shipment, ShipmentState,
    SlaRules, TrackingEvent, conditions, next_check, parse_waybill, valid_waybill,
};
use miaodan_domain::{OrderId, ShopId, Timestamp, WarehouseId};
use proptest::prelude::*;
use std::collections::BTreeMap;

/// 2026-11-23T02:00:00Z (10:00 in Beijing), when the shipment under test is created.
const BASE: Timestamp = Timestamp::from_unix_ms(1_795_399_200_000);
const MINUTE: i64 = 60 * 1000;
const HOUR: i64 = 60 * MINUTE;
/// Dispatch plans the pickup two hours after the waybill is created...
const PLANNED_PICKUP: i64 = 2 * HOUR;
/// ...and the delivery a day after that.
const PLANNED_DELIVERY: i64 = 26 * HOUR;
/// The buyer was promised delivery within two days.
const PROMISED: i64 = 48 * HOUR;
const SHIPMENT: i64 = 12;

/// Carrier scans as `(event id, state, when after BASE)`.
type Scans = &'static [(&'static str, ShipmentState, i64)];

fn at(ms_after_base: i64) -> Timestamp {
    Timestamp::from_unix_ms(BASE.unix_ms() + ms_after_base)
}

/// Shipment 12 of order 7 (shop 3, warehouse 11, SF), created at [`BASE`].
fn shipment_promised(promised_by: Option<i64>) -> Shipment {
    Shipment::new(
        ShipmentId::new(SHIPMENT).expect("positive"),
        OrderId::new(7).expect("positive"),
        ShopId::new(3).expect("positive"),
        WarehouseId::new(11).expect("positive"),
        CarrierId::Sf,
        parse_waybill("SF1234567890").expect("valid waybill"),
        BASE,
        at(PLANNED_PICKUP),
        at(PLANNED_DELIVERY),
        promised_by.map(at),
    )
}

fn shipment() -> Shipment {
    shipment_promised(Some(PROMISED))
}

fn event(id: &str, state: ShipmentState, occurred: i64) -> TrackingEvent {
    TrackingEvent {
        event_id: id.to_string(),
        state,
        occurred_at: at(occurred),
        location: TrackingNote::parse("杭州转运中心").ok(),
        received_at: at(occurred + MINUTE),
    }
}

/// Applies an event received a minute after it happened.
fn report(shipment: &mut Shipment, id: &str, state: ShipmentState, occurred: i64) -> EventOutcome {
    report_at(shipment, id, state, occurred, occurred + MINUTE)
}

fn report_at(shipment: &mut Shipment, id: &str, state: ShipmentState, occurred: i64, now: i64) -> EventOutcome {
    shipment
        .apply_event(event(id, state, occurred), at(now))
        .unwrap_or_else(|refusal| panic!("{id} refused: {refusal:?}"))
}

fn level(shipment: &Shipment, rule: AlertRule, now: i64) -> Option<AlertLevel> {
    conditions(shipment, &SlaRules::default(), at(now))
        .into_iter()
        .find(|c| c.rule == rule)
        .map(|c| c.level)
}

fn key(rule: AlertRule, occurrence: u32) -> AlertKey {
    AlertKey {
        shipment: ShipmentId::new(SHIPMENT).expect("positive"),
        rule,
        occurrence,
    }
}

/// What the alert book raises for shipment 12 of order 7, shop 3.
fn raised(rule: AlertRule, occurrence: u32, level: AlertLevel, since: i64, deadline: i64, now: i64) -> Alert {
    Alert {
        key: key(rule, occurrence),
        shop: ShopId::new(3).expect("positive"),
        order: OrderId::new(7).expect("positive"),
        shipment: ShipmentId::new(SHIPMENT).expect("positive"),
        rule,
        level,
        since: at(since),
        raised_at: at(now),
        escalated_at: None,
        resolved_at: None,
        deadline: at(deadline),
        notify_buyer: rule == AlertRule::PromiseAtRisk && level == TimedOut,
        work: miaodan_domain::logistics::AlertWork::default(),
    }
}

// ---------------------------------------------------------------------------------------------
// Tracking events
// ---------------------------------------------------------------------------------------------

#[test]
fn each_scan_moves_the_shipment_along_its_journey_and_fills_its_milestones() {
    let mut shipment = shipment();
    assert_eq!(
        (shipment.state, shipment.version, shipment.last_movement_at),
        (Created, 0, BASE)
    );
    // (event, state, occurred, picked up at, departed at)
    let journey = [
        ("e1", PickedUp, 2 * HOUR, Some(2 * HOUR), None),
        ("e2", Departed, 4 * HOUR, Some(2 * HOUR), Some(4 * HOUR)),
        ("e3", InTransit, 10 * HOUR, Some(2 * HOUR), Some(4 * HOUR)),
        ("e4", OutForDelivery, 24 * HOUR, Some(2 * HOUR), Some(4 * HOUR)),
        ("e5", Delivered, 25 * HOUR, Some(2 * HOUR), Some(4 * HOUR)),
    ];
    for (n, (id, state, occurred, picked_up, departed)) in journey.into_iter().enumerate() {
        assert_eq!(
            report(&mut shipment, id, state, occurred),
            EventOutcome::Applied,
            "{id}"
        );
        assert_eq!(shipment.state, state, "{id}");
        assert_eq!(shipment.picked_up_at, picked_up.map(at), "{id}");
        assert_eq!(shipment.departed_at, departed.map(at), "{id}");
        assert_eq!(shipment.last_movement_at, at(occurred), "{id}");
        assert_eq!(shipment.version, n as i64 + 1, "{id}");
    }
    assert_eq!(shipment.delivered_at, Some(at(25 * HOUR)));
    assert_eq!(shipment.returned_at, None);
    assert!(shipment.is_terminal());
}

#[test]
fn an_exception_implies_pickup_and_a_return_ends_the_shipment() {
    let mut shipment = shipment();
    assert_eq!(report(&mut shipment, "x1", Exception, 3 * HOUR), EventOutcome::Applied);
    assert_eq!(shipment.state, Exception);
    assert_eq!(shipment.picked_up_at, Some(at(3 * HOUR)));
    assert_eq!(shipment.departed_at, None, "an exception may happen before departure");
    assert!(!shipment.is_terminal());

    assert_eq!(report(&mut shipment, "x2", Returned, 30 * HOUR), EventOutcome::Applied);
    assert_eq!(shipment.state, Returned);
    assert_eq!(shipment.returned_at, Some(at(30 * HOUR)));
    assert_eq!((shipment.departed_at, shipment.delivered_at), (None, None));
    assert!(shipment.is_terminal());
}

#[test]
fn a_duplicate_event_is_reported_and_changes_nothing() {
    let mut shipment = shipment();
    report(&mut shipment, "e1", PickedUp, 2 * HOUR);
    let before = shipment.clone();
    // The same event id, even as a different copy and later, is the same event.
    let mut copy = event("e1", InTransit, 5 * HOUR);
    copy.received_at = at(6 * HOUR);
    assert_eq!(shipment.apply_event(copy, at(6 * HOUR)), Ok(EventOutcome::Duplicate));
    assert_eq!(shipment, before);
}

#[test]
fn a_delivery_that_overtakes_its_transit_scans_still_decides_the_state() {
    let mut shipment = shipment();
    assert_eq!(
        report_at(&mut shipment, "e5", Delivered, 25 * HOUR, 25 * HOUR),
        EventOutcome::Applied
    );
    assert_eq!(
        shipment.picked_up_at,
        Some(at(25 * HOUR)),
        "a delivery implies pickup..."
    );
    assert_eq!(shipment.departed_at, Some(at(25 * HOUR)), "...and departure");

    let late = report_at(&mut shipment, "e3", InTransit, 10 * HOUR, 26 * HOUR);
    assert_eq!(late, EventOutcome::LateApplied);
    let late = report_at(&mut shipment, "e1", PickedUp, 2 * HOUR, 26 * HOUR);
    assert_eq!(late, EventOutcome::LateApplied);

    assert_eq!(shipment.state, Delivered);
    assert_eq!(shipment.picked_up_at, Some(at(2 * HOUR)));
    assert_eq!(shipment.departed_at, Some(at(10 * HOUR)));
    assert_eq!(shipment.delivered_at, Some(at(25 * HOUR)));
    assert_eq!(shipment.last_movement_at, at(25 * HOUR));
    assert_eq!(shipment.version, 3);
    let order: Vec<&str> = shipment.events.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(order, ["e1", "e3", "e5"], "kept in event-time order");
}

#[test]
fn a_scan_after_delivery_is_recorded_but_never_reopens_the_shipment() {
    let mut shipment = shipment();
    report(&mut shipment, "e5", Delivered, 25 * HOUR);
    assert_eq!(
        report(&mut shipment, "e6", InTransit, 27 * HOUR),
        EventOutcome::LateApplied
    );
    assert_eq!(shipment.state, Delivered);
    assert_eq!(shipment.last_movement_at, at(27 * HOUR));
    assert_eq!(shipment.version, 2);
}

#[test]
fn a_delivery_reported_with_an_older_time_than_a_transit_scan_still_ends_the_shipment() {
    // Clocks of scanners disagree: the last-mile scanner stamps the delivery before the hub's
    // last transit scan. A terminal event is final in event time either way.
    let mut shipment = shipment();
    report(&mut shipment, "e3", InTransit, 20 * HOUR);
    assert_eq!(report(&mut shipment, "e5", Delivered, 19 * HOUR), EventOutcome::Applied);
    assert_eq!(shipment.state, Delivered);
}

#[test]
fn scans_at_the_same_instant_read_in_journey_order_then_by_event_id() {
    let mut shipment = shipment();
    assert_eq!(report(&mut shipment, "b", Departed, 3 * HOUR), EventOutcome::Applied);
    assert_eq!(
        report(&mut shipment, "a", PickedUp, 3 * HOUR),
        EventOutcome::LateApplied
    );
    assert_eq!(shipment.state, Departed);

    // An exception ranks with "in transit": the event id breaks the tie.
    assert_eq!(report(&mut shipment, "k", InTransit, 5 * HOUR), EventOutcome::Applied);
    assert_eq!(report(&mut shipment, "m", Exception, 5 * HOUR), EventOutcome::Applied);
    assert_eq!(
        report(&mut shipment, "j", InTransit, 5 * HOUR),
        EventOutcome::LateApplied
    );
    assert_eq!(shipment.state, Exception);
}

#[test]
fn events_are_refused_in_a_fixed_order_with_exact_boundaries() {
    let now = 10 * HOUR;
    let refused = [
        (event("c1", Created, HOUR), EventRefusal::CreatedIsNotAnEvent),
        (
            event("f1", InTransit, now + EVENT_CLOCK_SKEW_MS + 1),
            EventRefusal::InTheFuture,
        ),
        (
            event("o1", PickedUp, -EVENT_BEFORE_SHIPMENT_MS - 1),
            EventRefusal::BeforeShipment,
        ),
        (event("", PickedUp, HOUR), EventRefusal::BadEventId),
        (event("has space", PickedUp, HOUR), EventRefusal::BadEventId),
        (event(&"x".repeat(65), PickedUp, HOUR), EventRefusal::BadEventId),
        (event("扫描", PickedUp, HOUR), EventRefusal::BadEventId),
        // Several faults: the first in the order wins.
        (event("", Created, now + HOUR), EventRefusal::CreatedIsNotAnEvent),
        (event("", InTransit, now + HOUR), EventRefusal::InTheFuture),
    ];
    let mut shipment = shipment();
    for (event, refusal) in refused {
        assert_eq!(shipment.apply_event(event.clone(), at(now)), Err(refusal), "{event:?}");
    }
    assert_eq!(shipment, self::shipment(), "a refused event leaves no trace");

    let accepted = [
        event("f0", InTransit, now + EVENT_CLOCK_SKEW_MS),
        event("o0", PickedUp, -EVENT_BEFORE_SHIPMENT_MS),
        event(&"x".repeat(64), Departed, HOUR),
    ];
    for event in accepted {
        assert!(shipment.apply_event(event.clone(), at(now)).is_ok(), "{event:?}");
    }
    assert_eq!(shipment.version, 3);
}

#[test]
fn a_carrier_that_loops_is_cut_off_at_the_event_limit() {
    let mut shipment = shipment();
    for n in 0..EVENTS_PER_SHIPMENT_MAX {
        report(&mut shipment, &format!("loop{n}"), InTransit, HOUR + n as i64 * MINUTE);
    }
    let one_more = event("loop-last", InTransit, 20 * HOUR);
    assert_eq!(
        shipment.apply_event(one_more, at(20 * HOUR)),
        Err(EventRefusal::TooManyEvents)
    );
    let again = event("loop0", InTransit, HOUR);
    assert_eq!(shipment.apply_event(again, at(20 * HOUR)), Ok(EventOutcome::Duplicate));
}

#[test]
fn waybills_are_six_to_forty_ascii_letters_digits_and_dashes() {
    let cases = [
        ("SF1234567890", true),
        ("JD-0001-AB", true),
        ("ABC123", true),
        (&"9".repeat(40), true),
        ("AB123", false),
        (&"9".repeat(41), false),
        ("SF 123456", false),
        ("SF_123456", false),
        ("顺丰123456", false),
        ("", false),
    ];
    for (raw, valid) in cases {
        assert_eq!(valid_waybill(raw), valid, "{raw:?}");
        assert_eq!(parse_waybill(raw).is_some(), valid, "{raw:?}");
    }
}

#[test]
fn states_have_stable_wire_names() {
    let names: Vec<&str> = ShipmentState::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(
        names,
        [
            "created",
            "picked_up",
            "departed",
            "in_transit",
            "out_for_delivery",
            "delivered",
            "exception",
            "returned"
        ]
    );
    for state in ShipmentState::ALL {
        assert_eq!(ShipmentState::parse(state.as_str()), Some(state));
    }
    let terminal: Vec<ShipmentState> = ShipmentState::ALL.into_iter().filter(|s| s.is_terminal()).collect();
    assert_eq!(terminal, [Delivered, Returned]);
}

// ---------------------------------------------------------------------------------------------
// Delivery estimate
// ---------------------------------------------------------------------------------------------

#[test]
fn the_estimate_slips_by_the_pickup_delay_and_an_exception_costs_a_day() {
    // (scenario, events, now, estimate); planned pickup +2 h, planned delivery +26 h.
    let cases: [(&str, Scans, i64, i64); 7] = [
        ("waiting, pickup not yet due", &[], HOUR, 26 * HOUR),
        ("waiting, pickup due right now", &[], 2 * HOUR, 26 * HOUR),
        ("waiting, pickup 3 h overdue", &[], 5 * HOUR, 29 * HOUR),
        (
            "picked up 2 h late",
            &[("e1", PickedUp, 4 * HOUR)],
            30 * HOUR,
            28 * HOUR,
        ),
        (
            "picked up early: no gain",
            &[("e1", PickedUp, HOUR)],
            3 * HOUR,
            26 * HOUR,
        ),
        (
            "exception: at least a day from now",
            &[("e1", PickedUp, 2 * HOUR), ("x1", Exception, 10 * HOUR)],
            10 * HOUR,
            34 * HOUR,
        ),
        (
            "delivered: when it was",
            &[("e5", Delivered, 20 * HOUR)],
            40 * HOUR,
            20 * HOUR,
        ),
    ];
    for (scenario, events, now, estimate) in cases {
        let mut shipment = shipment();
        for (id, state, occurred) in events {
            report(&mut shipment, id, *state, *occurred);
        }
        assert_eq!(shipment.estimated_delivery(at(now)), at(estimate), "{scenario}");
    }

    // An exception does not bring a later plan forward: picked up 20 h late, the plan is +46 h.
    let mut shipment = shipment();
    report(&mut shipment, "e1", PickedUp, 22 * HOUR);
    report(&mut shipment, "x1", Exception, 23 * HOUR);
    assert_eq!(shipment.estimated_delivery(at(23 * HOUR)), at(47 * HOUR));
}

// ---------------------------------------------------------------------------------------------
// SLA conditions
// ---------------------------------------------------------------------------------------------

#[test]
fn each_rule_warns_at_exactly_eighty_percent_and_times_out_at_its_limit() {
    // (rule, events, clock start, warning instant, time-out instant), default rules:
    // not picked up 24 h, not departed 12 h, stalled 24 h, warning at 80 %.
    let cases: [(AlertRule, Scans, i64, i64, i64); 4] = [
        (AlertRule::NotPickedUp, &[], 0, 19 * HOUR + 12 * MINUTE, 24 * HOUR),
        (
            AlertRule::NotDeparted,
            &[("e1", PickedUp, 3 * HOUR)],
            3 * HOUR,
            (3 * HOUR) + (9 * HOUR + 36 * MINUTE),
            15 * HOUR,
        ),
        (
            AlertRule::Stalled,
            &[("e1", PickedUp, 2 * HOUR), ("e2", Departed, 4 * HOUR)],
            4 * HOUR,
            (4 * HOUR) + (19 * HOUR + 12 * MINUTE),
            28 * HOUR,
        ),
        // The promise (+48 h) is timed out only strictly after it: delivered at +48 h is on time.
        (
            AlertRule::PromiseAtRisk,
            &[
                ("e1", PickedUp, 2 * HOUR),
                ("e2", Departed, 4 * HOUR),
                ("e3", InTransit, 30 * HOUR),
            ],
            0,
            38 * HOUR + 24 * MINUTE,
            48 * HOUR + 1,
        ),
    ];
    for (rule, events, since, warn, timeout) in cases {
        let mut shipment = shipment();
        for (id, state, occurred) in events {
            report(&mut shipment, id, *state, *occurred);
        }
        let almost = since + (warn - since) * 999 / 1000; // 79.92 % of the limit
        let expected = [
            (almost, None),
            (warn - 1, None),
            (warn, Some(Warning)),
            (timeout - 1, Some(Warning)),
            (timeout, Some(TimedOut)),
        ];
        for (now, level_then) in expected {
            assert_eq!(level(&shipment, rule, now), level_then, "{rule:?} at +{now} ms");
        }
        let condition = conditions(&shipment, &SlaRules::default(), at(timeout))
            .into_iter()
            .find(|c| c.rule == rule)
            .expect("timed out");
        let deadline = if rule == AlertRule::PromiseAtRisk {
            PROMISED
        } else {
            timeout
        };
        assert_eq!(
            condition,
            Condition {
                rule,
                level: TimedOut,
                since: at(since),
                deadline: at(deadline)
            }
        );
    }
}

#[test]
fn a_promise_is_timed_out_as_soon_as_the_estimate_misses_it() {
    let mut waiting = shipment();
    // Not picked up: the estimate (+26 h plus the pickup delay) passes +48 h after +24 h.
    assert_eq!(level(&waiting, AlertRule::PromiseAtRisk, 24 * HOUR), None);
    assert_eq!(level(&waiting, AlertRule::PromiseAtRisk, 24 * HOUR + 1), Some(TimedOut));

    // In an exception at +30 h the parcel is expected no sooner than +54 h.
    report(&mut waiting, "e1", PickedUp, 2 * HOUR);
    report(&mut waiting, "x1", Exception, 30 * HOUR);
    assert_eq!(level(&waiting, AlertRule::PromiseAtRisk, 30 * HOUR), Some(TimedOut));

    // Without a promise there is nothing to put at risk.
    let unpromised = shipment_promised(None);
    assert_eq!(level(&unpromised, AlertRule::PromiseAtRisk, 100 * HOUR), None);
}

#[test]
fn which_rules_watch_a_shipment_depends_on_how_far_it_got() {
    let rules_at = |events: &[(&str, ShipmentState, i64)], now: i64| {
        let mut shipment = shipment();
        for (id, state, occurred) in events {
            report(&mut shipment, id, *state, *occurred);
        }
        let held: Vec<AlertRule> = conditions(&shipment, &SlaRules::default(), at(now))
            .into_iter()
            .map(|c| c.rule)
            .collect();
        held
    };
    use AlertRule::*;
    let late = 200 * HOUR; // every clock has run out
    assert_eq!(rules_at(&[], late), [NotPickedUp, PromiseAtRisk]);
    assert_eq!(
        rules_at(&[("e1", PickedUp, HOUR)], late),
        [NotDeparted, Stalled, PromiseAtRisk]
    );
    assert_eq!(
        rules_at(&[("x1", Exception, HOUR)], late),
        [NotDeparted, Stalled, PromiseAtRisk]
    );
    assert_eq!(rules_at(&[("e2", Departed, HOUR)], late), [Stalled, PromiseAtRisk]);
    assert_eq!(rules_at(&[("e5", Delivered, HOUR)], late), []);
    assert_eq!(rules_at(&[("r1", Returned, HOUR)], late), []);
}

#[test]
fn next_check_names_the_exact_instants_at_which_conditions_change() {
    let rules = SlaRules::default();
    let chain = |shipment: &Shipment, from: i64| {
        let mut instants = Vec::new();
        let mut now = at(from);
        while let Some(next) = next_check(shipment, &rules, now) {
            instants.push(next.unix_ms() - BASE.unix_ms());
            now = next;
        }
        instants
    };
    // Waiting for pickup: warning and time-out of the pickup, then the estimate passes the
    // promise one millisecond after +24 h; after that, every rule has timed out.
    let waiting = shipment();
    assert_eq!(chain(&waiting, 0), [19 * HOUR + 12 * MINUTE, 24 * HOUR, 24 * HOUR + 1]);

    // On its way since +4 h: the stall, then the promise.
    let mut moving = shipment();
    report(&mut moving, "e1", PickedUp, 2 * HOUR);
    report(&mut moving, "e2", Departed, 4 * HOUR);
    assert_eq!(
        chain(&moving, 4 * HOUR),
        [
            23 * HOUR + 12 * MINUTE,
            28 * HOUR,
            38 * HOUR + 24 * MINUTE,
            48 * HOUR + 1
        ]
    );

    // Picked up at +2 h, not departed: its 12 h clock and the stall clock run together.
    let mut collected = shipment();
    report(&mut collected, "e1", PickedUp, 2 * HOUR);
    assert_eq!(
        chain(&collected, 2 * HOUR),
        [
            11 * HOUR + 36 * MINUTE,
            14 * HOUR,
            21 * HOUR + 12 * MINUTE,
            26 * HOUR,
            38 * HOUR + 24 * MINUTE,
            48 * HOUR + 1
        ]
    );

    // In an exception the promise is lost once a day from now passes it: at +24 h + 1 ms.
    let mut stuck = shipment_promised(Some(PROMISED));
    report(&mut stuck, "e1", PickedUp, 2 * HOUR);
    report(&mut stuck, "e2", Departed, 3 * HOUR);
    report(&mut stuck, "x1", Exception, 4 * HOUR);
    assert_eq!(
        next_check(&stuck, &rules, at(23 * HOUR + 12 * MINUTE)),
        Some(at(24 * HOUR + 1))
    );

    let mut delivered = shipment();
    report(&mut delivered, "e5", Delivered, 20 * HOUR);
    assert_eq!(next_check(&delivered, &rules, at(20 * HOUR)), None);
}

// ---------------------------------------------------------------------------------------------
// The alert book
// ---------------------------------------------------------------------------------------------

#[test]
fn a_missed_pickup_warns_escalates_on_the_same_key_and_resolves_on_pickup() {
    let rules = SlaRules::default();
    let mut shipment = shipment_promised(None);
    let mut book = AlertBook::default();
    assert_eq!(book.reconcile(&shipment, &rules, at(19 * HOUR)), []);

    let warn = 19 * HOUR + 12 * MINUTE;
    let warning = raised(AlertRule::NotPickedUp, 1, Warning, 0, 24 * HOUR, warn);
    assert_eq!(book.reconcile(&shipment, &rules, at(warn)), vec![warning.clone()]);
    assert_eq!(book.reconcile(&shipment, &rules, at(warn)), [], "dedup");
    assert_eq!(book.reconcile(&shipment, &rules, at(23 * HOUR)), [], "still a warning");

    let escalated = Alert {
        level: TimedOut,
        escalated_at: Some(at(24 * HOUR)),
        ..warning
    };
    assert_eq!(
        book.reconcile(&shipment, &rules, at(24 * HOUR)),
        vec![escalated.clone()]
    );
    assert_eq!(escalated.key.to_string(), "12-not_picked_up-1");
    assert_eq!(book.reconcile(&shipment, &rules, at(25 * HOUR)), []);

    report(&mut shipment, "e1", PickedUp, 26 * HOUR);
    let resolved = Alert {
        resolved_at: Some(at(26 * HOUR)),
        ..escalated
    };
    assert_eq!(book.reconcile(&shipment, &rules, at(26 * HOUR)), [resolved]);
    assert_eq!(book.open_alerts().count(), 0);
}

#[test]
fn a_new_scan_resolves_a_stall_and_a_later_stall_is_occurrence_two() {
    let rules = SlaRules::default();
    let mut shipment = shipment_promised(None);
    let mut book = AlertBook::default();
    report(&mut shipment, "e1", PickedUp, 2 * HOUR);
    report(&mut shipment, "e2", Departed, 3 * HOUR);

    let warn = 3 * HOUR + 19 * HOUR + 12 * MINUTE;
    let first = raised(AlertRule::Stalled, 1, Warning, 3 * HOUR, 27 * HOUR, warn);
    assert_eq!(book.reconcile(&shipment, &rules, at(warn)), vec![first.clone()]);

    report(&mut shipment, "e3", InTransit, 23 * HOUR);
    let resolved = Alert {
        resolved_at: Some(at(23 * HOUR)),
        ..first
    };
    assert_eq!(book.reconcile(&shipment, &rules, at(23 * HOUR)), [resolved]);

    let warn_again = 23 * HOUR + 19 * HOUR + 12 * MINUTE;
    let second = raised(AlertRule::Stalled, 2, Warning, 23 * HOUR, 47 * HOUR, warn_again);
    assert_eq!(book.reconcile(&shipment, &rules, at(warn_again)), vec![second.clone()]);
    assert_eq!(second.key.to_string(), "12-stalled-2");
}

#[test]
fn a_late_scan_that_is_itself_stale_ends_the_stall_and_starts_another() {
    // Timed out as stalled at +28 h, a scan from +5 h arrives at +40 h: the parcel did move,
    // so the first stall ends; the second has already lasted 35 h and is timed out from the start.
    let rules = SlaRules::default();
    let mut shipment = shipment_promised(None);
    let mut book = AlertBook::default();
    report(&mut shipment, "e1", PickedUp, 2 * HOUR);
    report(&mut shipment, "e2", Departed, 4 * HOUR);
    let first = raised(AlertRule::Stalled, 1, TimedOut, 4 * HOUR, 28 * HOUR, 28 * HOUR);
    assert_eq!(book.reconcile(&shipment, &rules, at(28 * HOUR)), vec![first.clone()]);

    report_at(&mut shipment, "e3", InTransit, 5 * HOUR, 40 * HOUR);
    let resolved = Alert {
        resolved_at: Some(at(40 * HOUR)),
        ..first
    };
    let second = raised(AlertRule::Stalled, 2, TimedOut, 5 * HOUR, 29 * HOUR, 40 * HOUR);
    assert_eq!(book.reconcile(&shipment, &rules, at(40 * HOUR)), [resolved, second]);
}

#[test]
fn a_timed_out_alert_never_goes_back_to_a_warning() {
    // Not picked up by +24 h + 1 ms, the estimate misses the promise: timed out. Then a pickup
    // scan from +3 h arrives late: the estimate is back to +27 h, only a warning by now — but
    // the alert the buyer was told about stays timed out until the parcel is delivered.
    let rules = SlaRules::default();
    let mut shipment = shipment();
    let mut book = AlertBook::default();
    let changed = book.reconcile(&shipment, &rules, at(24 * HOUR + 1));
    let promise = raised(AlertRule::PromiseAtRisk, 1, TimedOut, 0, PROMISED, 24 * HOUR + 1);
    assert!(promise.notify_buyer);
    assert_eq!(
        changed,
        [
            raised(AlertRule::NotPickedUp, 1, TimedOut, 0, 24 * HOUR, 24 * HOUR + 1),
            promise.clone()
        ]
    );

    report_at(&mut shipment, "e1", PickedUp, 3 * HOUR, 39 * HOUR);
    assert_eq!(level(&shipment, AlertRule::PromiseAtRisk, 39 * HOUR), Some(Warning));
    let changed = book.reconcile(&shipment, &rules, at(39 * HOUR));
    let rules_changed: Vec<(AlertRule, bool)> = changed.iter().map(|a| (a.rule, a.is_open())).collect();
    assert_eq!(
        rules_changed,
        [
            (AlertRule::NotPickedUp, false),
            (AlertRule::NotDeparted, true),
            (AlertRule::Stalled, true)
        ]
    );
    assert_eq!(
        book.open_alert(promise.shipment, AlertRule::PromiseAtRisk),
        Some(&promise)
    );
}

#[test]
fn a_promise_warning_is_for_the_merchant_and_its_escalation_tells_the_buyer() {
    let rules = SlaRules::default();
    let mut shipment = shipment();
    let mut book = AlertBook::default();
    report(&mut shipment, "e1", PickedUp, 2 * HOUR);
    report(&mut shipment, "e2", Departed, 3 * HOUR);
    report(&mut shipment, "e3", InTransit, 30 * HOUR);
    let warn = 38 * HOUR + 24 * MINUTE;
    let warning = raised(AlertRule::PromiseAtRisk, 1, Warning, 0, PROMISED, warn);
    assert!(!warning.notify_buyer);
    assert_eq!(book.reconcile(&shipment, &rules, at(warn)), vec![warning.clone()]);
    assert_eq!(
        book.reconcile(&shipment, &rules, at(PROMISED)),
        [],
        "delivery at the promise is on time"
    );

    let escalated = Alert {
        level: TimedOut,
        escalated_at: Some(at(PROMISED + 1)),
        notify_buyer: true,
        ..warning
    };
    assert_eq!(book.reconcile(&shipment, &rules, at(PROMISED + 1)), [escalated]);
}

#[test]
fn delivery_resolves_every_open_alert() {
    let rules = SlaRules::default();
    let mut shipment = shipment();
    let mut book = AlertBook::default();
    report(&mut shipment, "e1", PickedUp, 3 * HOUR);
    let opened = book.reconcile(&shipment, &rules, at(45 * HOUR));
    let open: Vec<(AlertRule, AlertLevel)> = opened.iter().map(|a| (a.rule, a.level)).collect();
    assert_eq!(
        open,
        [
            (AlertRule::NotDeparted, TimedOut),
            (AlertRule::Stalled, TimedOut),
            (AlertRule::PromiseAtRisk, Warning)
        ]
    );

    report(&mut shipment, "e5", Delivered, 46 * HOUR);
    let resolved = book.reconcile(&shipment, &rules, at(46 * HOUR));
    let expected: Vec<Alert> = opened
        .into_iter()
        .map(|alert| Alert {
            resolved_at: Some(at(46 * HOUR)),
            ..alert
        })
        .collect();
    assert_eq!(resolved, expected);
    assert_eq!(book.open_alerts().count(), 0);
    assert_eq!(book.reconcile(&shipment, &rules, at(100 * HOUR)), []);
}

#[test]
fn a_book_restored_from_its_alerts_changes_nothing_and_carries_on_the_same() {
    let rules = SlaRules::default();
    let mut shipment = shipment();
    let mut book = AlertBook::default();
    // What the store holds: the latest version of every alert, by key.
    let mut stored: BTreeMap<AlertKey, Alert> = BTreeMap::new();
    let mut persist = |changed: Vec<Alert>| {
        for alert in changed {
            stored.insert(alert.key, alert);
        }
    };
    report(&mut shipment, "e1", PickedUp, 2 * HOUR);
    report(&mut shipment, "e2", Departed, 3 * HOUR);
    persist(book.reconcile(&shipment, &rules, at(27 * HOUR)));
    report(&mut shipment, "e3", InTransit, 27 * HOUR + MINUTE);
    persist(book.reconcile(&shipment, &rules, at(27 * HOUR + MINUTE)));
    persist(book.reconcile(&shipment, &rules, at(40 * HOUR)));
    persist(book.reconcile(&shipment, &rules, at(47 * HOUR)));
    let history: Vec<(String, bool)> = stored.values().map(|a| (a.key.to_string(), a.is_open())).collect();
    let expected = [
        ("12-stalled-1", false),
        ("12-stalled-2", true),
        ("12-promise_at_risk-1", true),
    ];
    assert_eq!(history, expected.map(|(key, open)| (key.to_string(), open)));

    let mut restored = AlertBook::default();
    for alert in stored.values() {
        restored.restore(alert.clone());
    }
    assert_eq!(restored.reconcile(&shipment, &rules, at(47 * HOUR)), []);
    assert!(restored.open_alerts().eq(book.open_alerts()));

    for now in [48 * HOUR, 48 * HOUR + 1, 60 * HOUR] {
        assert_eq!(
            restored.reconcile(&shipment, &rules, at(now)),
            book.reconcile(&shipment, &rules, at(now)),
            "at +{now} ms"
        );
    }
}

#[test]
fn alert_keys_are_written_and_read_back() {
    let cases = [
        ("12-stalled-1", Some(key(AlertRule::Stalled, 1))),
        ("12-not_picked_up-3", Some(key(AlertRule::NotPickedUp, 3))),
        ("12-promise_at_risk-10", Some(key(AlertRule::PromiseAtRisk, 10))),
        ("12-stalled-0", None),
        ("0-stalled-1", None),
        ("12-late-1", None),
        ("12-stalled-1-2", None),
        ("12-stalled", None),
    ];
    for (raw, parsed) in cases {
        assert_eq!(AlertKey::parse(raw), parsed, "{raw}");
        if let Some(key) = parsed {
            assert_eq!(key.to_string(), raw);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

/// Up to 8 distinct events (ids `e0`..), at instants that often tie, in any non-created state.
fn events() -> impl Strategy<Value = Vec<TrackingEvent>> {
    let state = prop::sample::select(&ShipmentState::ALL[1..]);
    prop::collection::vec((state, 0..12_i64), 1..8).prop_map(|drafts| {
        drafts
            .into_iter()
            .enumerate()
            .map(|(n, (state, quarter_hours))| event(&format!("e{n}"), state, quarter_hours * 15 * MINUTE))
            .collect()
    })
}

/// The events and an arrival order: each at least once, some twice or more, shuffled.
fn deliveries() -> impl Strategy<Value = (Vec<TrackingEvent>, Vec<usize>)> {
    events().prop_flat_map(|events| {
        let n = events.len();
        let repeats = prop::collection::vec(0..n, 0..n * 2);
        (Just(events), repeats).prop_flat_map(move |(events, repeats)| {
            let arrivals: Vec<usize> = (0..n).chain(repeats).collect();
            (Just(events), Just(arrivals).prop_shuffle())
        })
    })
}

proptest! {
    #[test]
    fn the_same_events_in_any_order_with_duplicates_give_the_same_shipment((events, arrivals) in deliveries()) {
        let now = at(100 * HOUR);
        let mut in_order = shipment();
        for event in &events {
            prop_assert!(in_order.apply_event(event.clone(), now).is_ok());
        }
        let mut shuffled = shipment();
        let mut applied = 0;
        for &i in &arrivals {
            match shuffled.apply_event(events[i].clone(), now) {
                Ok(EventOutcome::Duplicate) => {}
                Ok(_) => applied += 1,
                Err(refusal) => prop_assert!(false, "refused: {refusal:?}"),
            }
        }
        prop_assert_eq!(applied, events.len());
        prop_assert_eq!(shuffled.version, events.len() as i64);
        prop_assert_eq!(&shuffled, &in_order);
    }

    #[test]
    fn conditions_hold_still_until_next_check_and_change_there(
        events in prop::collection::vec((prop::sample::select(&ShipmentState::ALL[1..]), 0..96_i64), 0..4),
        pickup_h in 0..48_i64,
        transit_h in 0..72_i64,
        promise_h in prop::option::of(0..120_i64),
        wait_min in 0..(100 * 60_i64),
        percent in 1..=99_u8,
    ) {
        let rules = SlaRules { warn_at_percent: percent, ..SlaRules::default() };
        let mut shipment = Shipment::new(
            ShipmentId::new(SHIPMENT).expect("positive"),
            OrderId::new(7).expect("positive"),
            ShopId::new(3).expect("positive"),
            WarehouseId::new(11).expect("positive"),
            CarrierId::Jd,
            parse_waybill("JD0001234567").expect("valid"),
            BASE,
            at(pickup_h * HOUR),
            at((pickup_h + transit_h) * HOUR),
            promise_h.map(|h| at(h * HOUR)),
        );
        for (n, (state, hours)) in events.into_iter().enumerate() {
            let applied = shipment.apply_event(event(&format!("e{n}"), state, hours * HOUR), at(200 * HOUR));
            prop_assert!(applied.is_ok());
        }
        let now = shipment.last_movement_at.max(BASE).unix_ms() + wait_min * MINUTE;
        let now = Timestamp::from_unix_ms(now);
        let current = conditions(&shipment, &rules, now);
        match next_check(&shipment, &rules, now) {
            Some(next) => {
                prop_assert!(next > now);
                let just_before = Timestamp::from_unix_ms(next.unix_ms() - 1);
                prop_assert_eq!(&conditions(&shipment, &rules, just_before), &current);
                prop_assert_ne!(&conditions(&shipment, &rules, next), &current);
            }
            None => {
                let much_later = now.plus_seconds(60 * 24 * 60 * 60);
                prop_assert_eq!(&conditions(&shipment, &rules, much_later), &current);
            }
        }
    }
}
