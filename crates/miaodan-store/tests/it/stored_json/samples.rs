//! Domain values covering every variant and every optional field of what the store keeps as
//! JSON. `tests/fixtures/stored-json-v1/*.jsonl` holds what the store wrote for exactly these
//! values before its storage types were versioned (captured at commit 6c5f7e9, one line per
//! value, in this order).
#![allow(dead_code)]

use miaodan_domain::catalog::Text;
use miaodan_domain::fulfillment::{
    Candidate, CarrierId, CutoffRegion, CutoffTime, DispatchDecision, FulfillmentSettings, OperatingHours, ParcelPlan,
    Promise, ServiceLevel, Shift,
};
use miaodan_domain::ids::ShipmentId;
use miaodan_domain::logistics::{
    Alert, AlertKey, AlertLevel, AlertRule, Shipment, ShipmentState, SlaRules, TrackingEvent,
};
use miaodan_domain::shard::ShortageNotice;
use miaodan_domain::{Fen, OrderId, ShopId, SkuId, Timestamp, WarehouseId};

/// 2026-11-23 09:00 in Asia/Shanghai.
const T0: i64 = 1_795_395_600_000;

fn at(minutes: i64) -> Timestamp {
    Timestamp::from_unix_ms(T0 + minutes * 60_000)
}

fn shop(raw: i64) -> ShopId {
    ShopId::new(raw).expect("positive")
}

fn warehouse(raw: i64) -> WarehouseId {
    WarehouseId::new(raw).expect("positive")
}

fn order(raw: i64) -> OrderId {
    OrderId::new(raw).expect("positive")
}

fn sku(raw: i64) -> SkuId {
    SkuId::new(raw).expect("positive")
}

fn shipment_id(raw: i64) -> ShipmentId {
    ShipmentId::new(raw).expect("positive")
}

fn fen(raw: i64) -> Fen {
    Fen::from_stored(raw).expect("non-negative")
}

pub fn promises() -> Vec<Promise> {
    vec![
        Promise {
            level: ServiceLevel::SameDay,
            carrier: CarrierId::Sf,
            window_starts_at: Some(at(600)),
            promised_by: at(720),
            price: fen(1_200),
        },
        Promise {
            level: ServiceLevel::OneHour,
            carrier: CarrierId::Jd,
            window_starts_at: None,
            promised_by: at(60),
            price: fen(0),
        },
        Promise {
            level: ServiceLevel::NextDay,
            carrier: CarrierId::Zto,
            window_starts_at: None,
            promised_by: at(1_800),
            price: fen(800),
        },
        Promise {
            level: ServiceLevel::Standard,
            carrier: CarrierId::Zto,
            window_starts_at: None,
            promised_by: at(4_000),
            price: fen(600),
        },
    ]
}

fn candidate(raw: i64, rank: u32, would_deliver_by: Option<Timestamp>, chosen: bool) -> Candidate {
    Candidate {
        warehouse: warehouse(raw),
        distance_km: 12 * rank,
        holds_every_line: rank == 1,
        has_capacity: rank != 3,
        keeps_promise: would_deliver_by.is_some(),
        would_deliver_by,
        headroom: 500 - rank,
        rank,
        chosen,
    }
}

pub fn dispatch_decisions() -> Vec<DispatchDecision> {
    vec![
        DispatchDecision {
            decided_at: at(1),
            parcels: vec![ParcelPlan {
                warehouse: warehouse(10),
                lines: vec![(sku(7), 3), (sku(8), 1)],
                slot_hour: at(60),
                level: ServiceLevel::SameDay,
                carrier: CarrierId::Sf,
                pickup_at: at(120),
                estimated_by: at(480),
                keeps_promise: true,
            }],
            candidates: vec![
                candidate(10, 1, Some(at(480)), true),
                candidate(11, 2, None, false),
                candidate(12, 3, None, false),
            ],
            split: false,
            promise_kept: true,
            reason: "nearest warehouse that keeps the promise".into(),
        },
        DispatchDecision {
            decided_at: at(2),
            parcels: vec![
                ParcelPlan {
                    warehouse: warehouse(10),
                    lines: vec![(sku(7), 2)],
                    slot_hour: at(60),
                    level: ServiceLevel::NextDay,
                    carrier: CarrierId::Jd,
                    pickup_at: at(180),
                    estimated_by: at(1_500),
                    keeps_promise: false,
                },
                ParcelPlan {
                    warehouse: warehouse(11),
                    lines: vec![(sku(7), 1), (sku(9), 40)],
                    slot_hour: at(120),
                    level: ServiceLevel::Standard,
                    carrier: CarrierId::Zto,
                    pickup_at: at(240),
                    estimated_by: at(4_000),
                    keeps_promise: true,
                },
            ],
            candidates: vec![
                candidate(10, 1, Some(at(1_500)), true),
                candidate(11, 2, Some(at(4_000)), true),
            ],
            split: true,
            promise_kept: false,
            reason: "split: no warehouse holds \"every\" line — 无单仓满足".into(),
        },
        DispatchDecision {
            decided_at: at(3),
            parcels: vec![],
            candidates: vec![],
            split: false,
            promise_kept: false,
            reason: String::new(),
        },
    ]
}

pub fn fulfillment_settings() -> Vec<FulfillmentSettings> {
    vec![
        FulfillmentSettings::standard(),
        FulfillmentSettings {
            hours: OperatingHours {
                shifts: vec![
                    Shift {
                        start_minute: 0,
                        end_minute: 360,
                    },
                    Shift {
                        start_minute: 480,
                        end_minute: 1_440,
                    },
                ],
            },
            orders_per_hour: 2_000,
            orders_per_day: 40_000,
            cutoffs: vec![
                CutoffTime {
                    level: ServiceLevel::OneHour,
                    region: CutoffRegion::SameCity,
                    minute: 1_320,
                },
                CutoffTime {
                    level: ServiceLevel::SameDay,
                    region: CutoffRegion::SameProvince,
                    minute: 660,
                },
                CutoffTime {
                    level: ServiceLevel::NextDay,
                    region: CutoffRegion::Any,
                    minute: 1_200,
                },
                CutoffTime {
                    level: ServiceLevel::Standard,
                    region: CutoffRegion::Any,
                    minute: 1_439,
                },
            ],
            works_holidays: true,
            carriers: vec![CarrierId::Sf, CarrierId::Jd, CarrierId::Zto],
        },
        FulfillmentSettings {
            hours: OperatingHours::around_the_clock(),
            orders_per_hour: 1_000_000,
            orders_per_day: 1,
            cutoffs: vec![],
            works_holidays: false,
            carriers: vec![],
        },
    ]
}

fn event(id: &str, state: ShipmentState, minute: i64, location: Option<&str>) -> TrackingEvent {
    TrackingEvent {
        event_id: id.into(),
        state,
        occurred_at: at(minute),
        location: location.map(|l| Text::parse(l).expect("valid note")),
        received_at: at(minute + 1),
    }
}

pub fn shipments() -> Vec<Shipment> {
    let waybill = |raw: &str| miaodan_domain::logistics::parse_waybill(raw).expect("valid waybill");
    vec![
        Shipment {
            id: shipment_id(1),
            order: order(100),
            shop: shop(1),
            warehouse: warehouse(10),
            carrier: CarrierId::Sf,
            waybill: waybill("SF1234567890"),
            state: ShipmentState::Created,
            created_at: at(10),
            planned_pickup_at: at(120),
            planned_delivery_by: at(480),
            promised_by: None,
            picked_up_at: None,
            departed_at: None,
            delivered_at: None,
            returned_at: None,
            last_movement_at: at(10),
            events: vec![],
            version: 0,
        },
        Shipment {
            id: shipment_id(2),
            order: order(101),
            shop: shop(2),
            warehouse: warehouse(21),
            carrier: CarrierId::Jd,
            waybill: waybill("JD-0001-ab"),
            state: ShipmentState::Delivered,
            created_at: at(10),
            planned_pickup_at: at(120),
            planned_delivery_by: at(1_500),
            promised_by: Some(at(1_600)),
            picked_up_at: Some(at(130)),
            departed_at: Some(at(200)),
            delivered_at: Some(at(1_400)),
            returned_at: None,
            last_movement_at: at(1_400),
            events: vec![
                event("e1", ShipmentState::PickedUp, 130, Some("上海 徐汇 揽收点")),
                event("e2", ShipmentState::Departed, 200, None),
                event("e3", ShipmentState::InTransit, 400, Some("Hub \"A\"")),
                event("e4", ShipmentState::Exception, 500, Some("label damaged")),
                event("e5", ShipmentState::OutForDelivery, 1_300, None),
                event("e6", ShipmentState::Delivered, 1_400, Some("front desk")),
            ],
            version: 6,
        },
        Shipment {
            id: shipment_id(3),
            order: order(102),
            shop: shop(2),
            warehouse: warehouse(20),
            carrier: CarrierId::Zto,
            waybill: waybill("ZTO778899"),
            state: ShipmentState::Returned,
            created_at: at(10),
            planned_pickup_at: at(120),
            planned_delivery_by: at(4_000),
            promised_by: Some(at(4_100)),
            picked_up_at: Some(at(125)),
            departed_at: None,
            delivered_at: None,
            returned_at: Some(at(900)),
            last_movement_at: at(900),
            events: vec![
                event("z-1", ShipmentState::PickedUp, 125, None),
                event("z-2", ShipmentState::Returned, 900, Some("back to sender")),
            ],
            version: 2,
        },
    ]
}

fn alert(
    shipment: i64,
    rule: AlertRule,
    occurrence: u32,
    level: AlertLevel,
    escalated_at: Option<Timestamp>,
    resolved_at: Option<Timestamp>,
) -> Alert {
    Alert {
        key: AlertKey {
            shipment: shipment_id(shipment),
            rule,
            occurrence,
        },
        shop: shop(1),
        order: order(100 + shipment),
        shipment: shipment_id(shipment),
        rule,
        level,
        since: at(10),
        raised_at: at(200),
        escalated_at,
        resolved_at,
        deadline: at(250),
        notify_buyer: rule == AlertRule::PromiseAtRisk && level == AlertLevel::TimedOut,
        work: miaodan_domain::logistics::AlertWork::default(),
    }
}

pub fn alerts() -> Vec<Alert> {
    vec![
        alert(1, AlertRule::NotPickedUp, 1, AlertLevel::Warning, None, None),
        alert(
            1,
            AlertRule::NotDeparted,
            2,
            AlertLevel::TimedOut,
            Some(at(250)),
            Some(at(300)),
        ),
        alert(2, AlertRule::Stalled, 1, AlertLevel::TimedOut, None, None),
        alert(
            3,
            AlertRule::PromiseAtRisk,
            4_000_000_000,
            AlertLevel::TimedOut,
            Some(at(260)),
            None,
        ),
    ]
}

pub fn shortage_notices() -> Vec<ShortageNotice> {
    vec![
        ShortageNotice {
            shop: shop(1),
            order: order(100),
            warehouse: warehouse(10),
            sku: sku(7),
            redispatched_to: vec![],
            at: at(30),
        },
        ShortageNotice {
            shop: shop(1),
            order: order(101),
            warehouse: warehouse(10),
            sku: sku(8),
            redispatched_to: vec![warehouse(11), warehouse(12)],
            at: at(31),
        },
    ]
}

pub fn sla_rules() -> Vec<SlaRules> {
    vec![
        SlaRules::default(),
        SlaRules {
            not_picked_up_within_s: 60,
            not_departed_within_s: 2_592_000,
            stalled_after_s: 7_200,
            warn_at_percent: 1,
        },
    ]
}
