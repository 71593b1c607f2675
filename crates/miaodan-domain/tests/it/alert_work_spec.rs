//! People working the package center's alerts: acknowledge, assign, note, resolve, and what the
//! rules do with a condition a person resolved while it still held.

use miaodan_domain::catalog::Text;
use miaodan_domain::fulfillment::CarrierId;
use miaodan_domain::ids::ShipmentId;
use miaodan_domain::logistics::work::NOTES_PER_ALERT_MAX;
use miaodan_domain::logistics::{
    Alert, AlertAction, AlertBook, AlertKey, AlertLevel, AlertRule, NoteText, Shipment, ShipmentState, SlaRules,
    StaffRef, TrackingEvent, WorkAlert, WorkRefusal, Worked, Worker, parse_waybill,
};
use miaodan_domain::{OrderId, ShopId, Timestamp, WarehouseId};

const BASE: Timestamp = Timestamp::from_unix_ms(1_795_399_200_000);
const MINUTE: i64 = 60 * 1000;
const HOUR: i64 = 60 * MINUTE;
/// With the default rules, a parcel not picked up is warned of at 80 % of 24 h.
const WARN: i64 = 19 * HOUR + 12 * MINUTE;

fn at(ms_after_base: i64) -> Timestamp {
    Timestamp::from_unix_ms(BASE.unix_ms() + ms_after_base)
}

fn shop() -> ShopId {
    ShopId::new(3).expect("positive")
}

/// Shipment 12 of order 7 (shop 3), created at [`BASE`], with no promise.
fn shipment() -> Shipment {
    Shipment::new(
        ShipmentId::new(12).expect("positive"),
        OrderId::new(7).expect("positive"),
        shop(),
        WarehouseId::new(11).expect("positive"),
        CarrierId::Sf,
        parse_waybill("SF1234567890").expect("valid waybill"),
        BASE,
        at(2 * HOUR),
        at(26 * HOUR),
        None,
    )
}

fn scan(shipment: &mut Shipment, id: &str, state: ShipmentState, occurred: i64) {
    let event = TrackingEvent {
        event_id: id.into(),
        state,
        occurred_at: at(occurred),
        location: None,
        received_at: at(occurred),
    };
    shipment.apply_event(event, at(occurred)).expect("a valid scan");
}

fn staff(id: i64) -> StaffRef {
    StaffRef::new(id).expect("positive")
}

fn note(text: &str) -> NoteText {
    Text::parse(text).expect("a valid note")
}

fn by_staff(alert: AlertKey, action: AlertAction) -> WorkAlert {
    WorkAlert {
        shop: shop(),
        alert,
        by: Worker::Staff(staff(5)),
        action,
    }
}

/// A book with the not-picked-up warning of shipment 12 raised at [`WARN`].
fn warned() -> (AlertBook, Shipment, Alert) {
    let mut book = AlertBook::default();
    let shipment = shipment();
    let raised = book.reconcile(&shipment, &SlaRules::default(), at(WARN));
    assert_eq!(raised.len(), 1);
    let alert = raised[0].clone();
    assert_eq!(
        (alert.rule, alert.level, alert.key.to_string().as_str()),
        (AlertRule::NotPickedUp, AlertLevel::Warning, "12-not_picked_up-1")
    );
    (book, shipment, alert)
}

#[test]
fn acknowledging_an_alert_records_who_and_when_and_happens_once() {
    let (mut book, _, alert) = warned();
    let (acknowledged, worked) = book
        .work(by_staff(alert.key, AlertAction::Acknowledge), at(WARN + MINUTE))
        .expect("acknowledged");
    assert_eq!(worked, Worked::Acknowledged);
    let ack = acknowledged.work.acknowledged.clone().expect("acknowledged");
    assert_eq!((ack.at, ack.by), (at(WARN + MINUTE), Worker::Staff(staff(5))));
    assert!(acknowledged.is_open());
    assert_eq!(
        book.work(by_staff(alert.key, AlertAction::Acknowledge), at(WARN + 2 * MINUTE)),
        Err(WorkRefusal::AlreadyAcknowledged)
    );
    assert_eq!(
        book.open_alert(alert.shipment, alert.rule),
        Some(&acknowledged),
        "the refusal changed nothing"
    );
}

#[test]
fn an_alert_is_assigned_reassigned_and_unassigned_and_stays_open() {
    let (mut book, _, alert) = warned();
    for assignee in [Some(staff(5)), Some(staff(6)), None] {
        let (worked_on, worked) = book
            .work(by_staff(alert.key, AlertAction::Assign(assignee)), at(WARN + MINUTE))
            .expect("assigned");
        assert_eq!((worked, worked_on.work.assignee), (Worked::Assigned, assignee));
        assert!(worked_on.is_open());
    }
}

#[test]
fn notes_are_appended_in_order_up_to_the_limit() {
    let (mut book, _, alert) = warned();
    for i in 0..NOTES_PER_ALERT_MAX {
        let action = AlertAction::Note(note(&format!("called the carrier, try {i}")));
        let (_, worked) = book
            .work(by_staff(alert.key, action), at(WARN + i as i64))
            .expect("noted");
        assert_eq!(worked, Worked::Noted);
    }
    let open = book.open_alert(alert.shipment, alert.rule).expect("open");
    assert_eq!(open.work.notes.len(), NOTES_PER_ALERT_MAX);
    assert_eq!(open.work.notes[0].text.as_str(), "called the carrier, try 0");
    assert_eq!(open.work.notes[1].at, at(WARN + 1));
    let one_more = AlertAction::Note(note("one too many"));
    assert_eq!(
        book.work(by_staff(alert.key, one_more), at(WARN + HOUR)),
        Err(WorkRefusal::NotesFull)
    );
}

#[test]
fn a_resolved_alert_cannot_be_worked_and_an_unknown_or_another_shops_is_unknown() {
    let (mut book, _, alert) = warned();
    let (resolved, worked) = book
        .work(
            by_staff(alert.key, AlertAction::Resolve(note("carrier rebooked"))),
            at(WARN + MINUTE),
        )
        .expect("resolved");
    assert_eq!(worked, Worked::Resolved);
    assert_eq!(resolved.resolved_at, Some(at(WARN + MINUTE)));
    assert!(resolved.resolved_by_person());
    assert_eq!(book.open_alerts().count(), 0);
    let actions = [
        AlertAction::Acknowledge,
        AlertAction::Assign(None),
        AlertAction::Note(note("late")),
        AlertAction::Resolve(note("again")),
    ];
    for action in actions {
        assert_eq!(
            book.work(by_staff(alert.key, action), at(WARN + HOUR)),
            Err(WorkRefusal::AlertResolved)
        );
    }
    let (mut book, _, alert) = warned();
    let never_raised = AlertKey {
        occurrence: 2,
        ..alert.key
    };
    assert_eq!(
        book.work(by_staff(never_raised, AlertAction::Acknowledge), at(WARN)),
        Err(WorkRefusal::UnknownAlert)
    );
    let other_shop = WorkAlert {
        shop: ShopId::new(4).expect("positive"),
        ..by_staff(alert.key, AlertAction::Acknowledge)
    };
    assert_eq!(book.work(other_shop, at(WARN)), Err(WorkRefusal::UnknownAlert));
}

#[test]
fn a_condition_a_person_resolved_is_raised_again_only_when_it_times_out() {
    let rules = SlaRules::default();
    let (mut book, shipment, alert) = warned();
    book.work(
        by_staff(alert.key, AlertAction::Resolve(note("on its way"))),
        at(WARN + MINUTE),
    )
    .expect("resolved");
    assert_eq!(book.reconcile(&shipment, &rules, at(WARN + 2 * MINUTE)), []);
    assert_eq!(
        book.reconcile(&shipment, &rules, at(23 * HOUR)),
        [],
        "still the same warning"
    );

    let again = book.reconcile(&shipment, &rules, at(24 * HOUR));
    let keys: Vec<(String, AlertLevel)> = again.iter().map(|a| (a.key.to_string(), a.level)).collect();
    assert_eq!(keys, [("12-not_picked_up-2".to_string(), AlertLevel::TimedOut)]);
    assert_eq!(again[0].work, Default::default(), "a new alert starts unworked");
}

#[test]
fn a_dismissed_stall_is_forgotten_once_the_parcel_moves_and_a_new_stall_alerts() {
    let rules = SlaRules::default();
    let mut book = AlertBook::default();
    let mut shipment = shipment();
    scan(&mut shipment, "e1", ShipmentState::PickedUp, HOUR);
    scan(&mut shipment, "e2", ShipmentState::Departed, 2 * HOUR);
    let stall_warn = 2 * HOUR + WARN;
    let raised = book.reconcile(&shipment, &rules, at(stall_warn));
    let stall = raised
        .iter()
        .find(|a| a.rule == AlertRule::Stalled)
        .expect("a stall")
        .clone();
    book.work(
        by_staff(stall.key, AlertAction::Resolve(note("asked the hub"))),
        at(stall_warn),
    )
    .expect("resolved");
    assert_eq!(book.reconcile(&shipment, &rules, at(stall_warn + HOUR)), []);

    scan(&mut shipment, "e3", ShipmentState::InTransit, 30 * HOUR);
    assert_eq!(book.reconcile(&shipment, &rules, at(30 * HOUR)), [], "moving: no stall");
    let next = book.reconcile(&shipment, &rules, at(30 * HOUR + WARN));
    let keys: Vec<String> = next.iter().map(|a| a.key.to_string()).collect();
    assert_eq!(keys, ["12-stalled-2"]);
}

#[test]
fn a_restarted_book_remembers_what_a_person_dismissed() {
    let rules = SlaRules::default();
    let (mut book, shipment, alert) = warned();
    let (resolved, _) = book
        .work(
            by_staff(alert.key, AlertAction::Resolve(note("on its way"))),
            at(WARN + MINUTE),
        )
        .expect("resolved");
    let mut restarted = AlertBook::default();
    restarted.restore(resolved);
    assert_eq!(restarted.reconcile(&shipment, &rules, at(23 * HOUR)), []);
    let again = restarted.reconcile(&shipment, &rules, at(24 * HOUR));
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].key.occurrence, 2);
}

#[test]
fn an_alert_the_rules_resolve_keeps_its_work_and_says_the_rules_resolved_it() {
    let rules = SlaRules::default();
    let (mut book, mut shipment, alert) = warned();
    book.work(by_staff(alert.key, AlertAction::Assign(Some(staff(9)))), at(WARN))
        .expect("assigned");
    scan(&mut shipment, "e1", ShipmentState::PickedUp, 20 * HOUR);
    let changed = book.reconcile(&shipment, &rules, at(20 * HOUR));
    let resolved = changed
        .iter()
        .find(|a| a.key == alert.key)
        .expect("resolved by the pickup");
    assert_eq!(resolved.resolved_at, Some(at(20 * HOUR)));
    assert!(!resolved.resolved_by_person());
    assert_eq!(resolved.work.assignee, Some(staff(9)));
}
