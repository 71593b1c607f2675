//! The logistics documents on disk (see [`crate::json`]): a shipment with its tracking events
//! (`shipments.body`), a package-center alert (`package_alerts.body`), a shortage notice
//! (`shortage_notices.body`) and a shop's SLA rules (`sla_rules.body`).
//!
//! The `V1` types are frozen: field names, order and enum spellings are the bytes on disk.
//! Text goes back through its domain constructor (a waybill through `parse_waybill`, a
//! tracking note through `TrackingNote::parse`), as it did when the carrier's event came in.

use super::alert_work::AlertV2;
use crate::StoreError;
use crate::fulfillment::stored::CarrierV1;
use crate::json::{self, id};
use miaodan_domain::ids::ShipmentId;
use miaodan_domain::logistics::{
    Alert, AlertKey, AlertLevel, AlertRule, AlertWork, Shipment, ShipmentState, SlaRules, TrackingEvent, TrackingNote,
    parse_waybill,
};
use miaodan_domain::shard::ShortageNotice;
use miaodan_domain::{OrderId, ShopId, SkuId, Timestamp, WarehouseId};
use serde::{Deserialize, Serialize};

const SHIPMENT: &str = "shipment";
pub(super) const ALERT: &str = "alert";
const SHORTAGE: &str = "shortage notice";
const SLA_RULES: &str = "SLA rules";

pub(crate) fn encode_shipment(shipment: &Shipment) -> String {
    json::encode(&ShipmentV1::from(shipment))
}

pub(crate) fn decode_shipment(raw: &str) -> Result<Shipment, StoreError> {
    json::decode_v1::<ShipmentV1, _>(raw, SHIPMENT)
}

/// An alert nobody worked is written as version 1, as before people could work alerts (a
/// build from then still reads it); a worked one as version 2, with its work.
pub(crate) fn encode_alert(alert: &Alert) -> String {
    if alert.work == AlertWork::default() {
        json::encode(&AlertV1::from(alert))
    } else {
        json::encode(&AlertV2::from(alert))
    }
}

pub(crate) fn decode_alert(raw: &str) -> Result<Alert, StoreError> {
    match json::version(raw, ALERT)? {
        1 => json::parse::<AlertV1>(raw, ALERT)?.try_into(),
        2 => json::parse::<AlertV2>(raw, ALERT)?.try_into(),
        other => Err(json::unknown_version(ALERT, other)),
    }
}

pub(crate) fn encode_shortage(notice: &ShortageNotice) -> String {
    json::encode(&ShortageNoticeV1::from(notice))
}

pub(crate) fn decode_shortage(raw: &str) -> Result<ShortageNotice, StoreError> {
    json::decode_v1::<ShortageNoticeV1, _>(raw, SHORTAGE)
}

pub(crate) fn encode_sla_rules(rules: &SlaRules) -> String {
    json::encode(&SlaRulesV1::from(rules))
}

pub(crate) fn decode_sla_rules(raw: &str) -> Result<SlaRules, StoreError> {
    json::decode_v1::<SlaRulesV1, _>(raw, SLA_RULES)
}

pub(super) fn ms(raw: i64) -> Timestamp {
    Timestamp::from_unix_ms(raw)
}

// ---- enums ---------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum ShipmentStateV1 {
    #[serde(rename = "created")]
    Created,
    #[serde(rename = "picked_up")]
    PickedUp,
    #[serde(rename = "departed")]
    Departed,
    #[serde(rename = "in_transit")]
    InTransit,
    #[serde(rename = "out_for_delivery")]
    OutForDelivery,
    #[serde(rename = "delivered")]
    Delivered,
    #[serde(rename = "exception")]
    Exception,
    #[serde(rename = "returned")]
    Returned,
}

impl From<ShipmentState> for ShipmentStateV1 {
    fn from(state: ShipmentState) -> Self {
        match state {
            ShipmentState::Created => ShipmentStateV1::Created,
            ShipmentState::PickedUp => ShipmentStateV1::PickedUp,
            ShipmentState::Departed => ShipmentStateV1::Departed,
            ShipmentState::InTransit => ShipmentStateV1::InTransit,
            ShipmentState::OutForDelivery => ShipmentStateV1::OutForDelivery,
            ShipmentState::Delivered => ShipmentStateV1::Delivered,
            ShipmentState::Exception => ShipmentStateV1::Exception,
            ShipmentState::Returned => ShipmentStateV1::Returned,
        }
    }
}

impl From<ShipmentStateV1> for ShipmentState {
    fn from(state: ShipmentStateV1) -> Self {
        match state {
            ShipmentStateV1::Created => ShipmentState::Created,
            ShipmentStateV1::PickedUp => ShipmentState::PickedUp,
            ShipmentStateV1::Departed => ShipmentState::Departed,
            ShipmentStateV1::InTransit => ShipmentState::InTransit,
            ShipmentStateV1::OutForDelivery => ShipmentState::OutForDelivery,
            ShipmentStateV1::Delivered => ShipmentState::Delivered,
            ShipmentStateV1::Exception => ShipmentState::Exception,
            ShipmentStateV1::Returned => ShipmentState::Returned,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum AlertRuleV1 {
    #[serde(rename = "not_picked_up")]
    NotPickedUp,
    #[serde(rename = "not_departed")]
    NotDeparted,
    #[serde(rename = "stalled")]
    Stalled,
    #[serde(rename = "promise_at_risk")]
    PromiseAtRisk,
}

impl From<AlertRule> for AlertRuleV1 {
    fn from(rule: AlertRule) -> Self {
        match rule {
            AlertRule::NotPickedUp => AlertRuleV1::NotPickedUp,
            AlertRule::NotDeparted => AlertRuleV1::NotDeparted,
            AlertRule::Stalled => AlertRuleV1::Stalled,
            AlertRule::PromiseAtRisk => AlertRuleV1::PromiseAtRisk,
        }
    }
}

impl From<AlertRuleV1> for AlertRule {
    fn from(rule: AlertRuleV1) -> Self {
        match rule {
            AlertRuleV1::NotPickedUp => AlertRule::NotPickedUp,
            AlertRuleV1::NotDeparted => AlertRule::NotDeparted,
            AlertRuleV1::Stalled => AlertRule::Stalled,
            AlertRuleV1::PromiseAtRisk => AlertRule::PromiseAtRisk,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum AlertLevelV1 {
    #[serde(rename = "warning")]
    Warning,
    #[serde(rename = "timed_out")]
    TimedOut,
}

impl From<AlertLevel> for AlertLevelV1 {
    fn from(level: AlertLevel) -> Self {
        match level {
            AlertLevel::Warning => AlertLevelV1::Warning,
            AlertLevel::TimedOut => AlertLevelV1::TimedOut,
        }
    }
}

impl From<AlertLevelV1> for AlertLevel {
    fn from(level: AlertLevelV1) -> Self {
        match level {
            AlertLevelV1::Warning => AlertLevel::Warning,
            AlertLevelV1::TimedOut => AlertLevel::TimedOut,
        }
    }
}

// ---- shipment ------------------------------------------------------------------------------

/// `shipments.body`, version 1 (untagged).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ShipmentV1 {
    id: i64,
    order: i64,
    shop: i64,
    warehouse: i64,
    carrier: CarrierV1,
    waybill: String,
    state: ShipmentStateV1,
    created_at: i64,
    planned_pickup_at: i64,
    planned_delivery_by: i64,
    promised_by: Option<i64>,
    picked_up_at: Option<i64>,
    departed_at: Option<i64>,
    delivered_at: Option<i64>,
    returned_at: Option<i64>,
    last_movement_at: i64,
    events: Vec<TrackingEventV1>,
    version: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TrackingEventV1 {
    event_id: String,
    state: ShipmentStateV1,
    occurred_at: i64,
    location: Option<String>,
    received_at: i64,
}

impl From<&Shipment> for ShipmentV1 {
    fn from(s: &Shipment) -> Self {
        ShipmentV1 {
            id: s.id.get(),
            order: s.order.get(),
            shop: s.shop.get(),
            warehouse: s.warehouse.get(),
            carrier: s.carrier.into(),
            waybill: s.waybill.as_str().into(),
            state: s.state.into(),
            created_at: s.created_at.unix_ms(),
            planned_pickup_at: s.planned_pickup_at.unix_ms(),
            planned_delivery_by: s.planned_delivery_by.unix_ms(),
            promised_by: s.promised_by.map(Timestamp::unix_ms),
            picked_up_at: s.picked_up_at.map(Timestamp::unix_ms),
            departed_at: s.departed_at.map(Timestamp::unix_ms),
            delivered_at: s.delivered_at.map(Timestamp::unix_ms),
            returned_at: s.returned_at.map(Timestamp::unix_ms),
            last_movement_at: s.last_movement_at.unix_ms(),
            events: s.events.iter().map(TrackingEventV1::from).collect(),
            version: s.version,
        }
    }
}

impl From<&TrackingEvent> for TrackingEventV1 {
    fn from(e: &TrackingEvent) -> Self {
        TrackingEventV1 {
            event_id: e.event_id.clone(),
            state: e.state.into(),
            occurred_at: e.occurred_at.unix_ms(),
            location: e.location.as_ref().map(|l| l.as_str().into()),
            received_at: e.received_at.unix_ms(),
        }
    }
}

impl TryFrom<ShipmentV1> for Shipment {
    type Error = StoreError;

    fn try_from(s: ShipmentV1) -> Result<Self, StoreError> {
        let waybill = parse_waybill(&s.waybill)
            .ok_or_else(|| StoreError::corrupt(format!("bad {SHIPMENT} json: waybill {:?}", s.waybill)))?;
        Ok(Shipment {
            id: id(s.id, ShipmentId::new, SHIPMENT)?,
            order: id(s.order, OrderId::new, SHIPMENT)?,
            shop: id(s.shop, ShopId::new, SHIPMENT)?,
            warehouse: id(s.warehouse, WarehouseId::new, SHIPMENT)?,
            carrier: s.carrier.into(),
            waybill,
            state: s.state.into(),
            created_at: ms(s.created_at),
            planned_pickup_at: ms(s.planned_pickup_at),
            planned_delivery_by: ms(s.planned_delivery_by),
            promised_by: s.promised_by.map(ms),
            picked_up_at: s.picked_up_at.map(ms),
            departed_at: s.departed_at.map(ms),
            delivered_at: s.delivered_at.map(ms),
            returned_at: s.returned_at.map(ms),
            last_movement_at: ms(s.last_movement_at),
            events: s
                .events
                .into_iter()
                .map(TrackingEvent::try_from)
                .collect::<Result<_, _>>()?,
            version: s.version,
        })
    }
}

impl TryFrom<TrackingEventV1> for TrackingEvent {
    type Error = StoreError;

    fn try_from(e: TrackingEventV1) -> Result<Self, StoreError> {
        let location = match e.location {
            Some(raw) => Some(
                TrackingNote::parse(&raw)
                    .map_err(|_| StoreError::corrupt(format!("bad {SHIPMENT} json: location {raw:?}")))?,
            ),
            None => None,
        };
        Ok(TrackingEvent {
            event_id: e.event_id,
            state: e.state.into(),
            occurred_at: ms(e.occurred_at),
            location,
            received_at: ms(e.received_at),
        })
    }
}

// ---- alert ---------------------------------------------------------------------------------

/// `package_alerts.body`, version 1 (untagged).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AlertV1 {
    key: AlertKeyV1,
    shop: i64,
    order: i64,
    shipment: i64,
    rule: AlertRuleV1,
    level: AlertLevelV1,
    since: i64,
    raised_at: i64,
    escalated_at: Option<i64>,
    resolved_at: Option<i64>,
    deadline: i64,
    notify_buyer: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AlertKeyV1 {
    shipment: i64,
    rule: AlertRuleV1,
    occurrence: u32,
}

impl From<&Alert> for AlertV1 {
    fn from(a: &Alert) -> Self {
        AlertV1 {
            key: AlertKeyV1 {
                shipment: a.key.shipment.get(),
                rule: a.key.rule.into(),
                occurrence: a.key.occurrence,
            },
            shop: a.shop.get(),
            order: a.order.get(),
            shipment: a.shipment.get(),
            rule: a.rule.into(),
            level: a.level.into(),
            since: a.since.unix_ms(),
            raised_at: a.raised_at.unix_ms(),
            escalated_at: a.escalated_at.map(Timestamp::unix_ms),
            resolved_at: a.resolved_at.map(Timestamp::unix_ms),
            deadline: a.deadline.unix_ms(),
            notify_buyer: a.notify_buyer,
        }
    }
}

impl TryFrom<AlertV1> for Alert {
    type Error = StoreError;

    fn try_from(a: AlertV1) -> Result<Self, StoreError> {
        Ok(Alert {
            key: AlertKey {
                shipment: id(a.key.shipment, ShipmentId::new, ALERT)?,
                rule: a.key.rule.into(),
                occurrence: a.key.occurrence,
            },
            shop: id(a.shop, ShopId::new, ALERT)?,
            order: id(a.order, OrderId::new, ALERT)?,
            shipment: id(a.shipment, ShipmentId::new, ALERT)?,
            rule: a.rule.into(),
            level: a.level.into(),
            since: ms(a.since),
            raised_at: ms(a.raised_at),
            escalated_at: a.escalated_at.map(ms),
            resolved_at: a.resolved_at.map(ms),
            deadline: ms(a.deadline),
            notify_buyer: a.notify_buyer,
            work: AlertWork::default(),
        })
    }
}

// ---- shortage notice -----------------------------------------------------------------------

/// `shortage_notices.body`, version 1 (untagged).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ShortageNoticeV1 {
    shop: i64,
    order: i64,
    warehouse: i64,
    sku: i64,
    redispatched_to: Vec<i64>,
    at: i64,
}

impl From<&ShortageNotice> for ShortageNoticeV1 {
    fn from(n: &ShortageNotice) -> Self {
        ShortageNoticeV1 {
            shop: n.shop.get(),
            order: n.order.get(),
            warehouse: n.warehouse.get(),
            sku: n.sku.get(),
            redispatched_to: n.redispatched_to.iter().map(|w| w.get()).collect(),
            at: n.at.unix_ms(),
        }
    }
}

impl TryFrom<ShortageNoticeV1> for ShortageNotice {
    type Error = StoreError;

    fn try_from(n: ShortageNoticeV1) -> Result<Self, StoreError> {
        Ok(ShortageNotice {
            shop: id(n.shop, ShopId::new, SHORTAGE)?,
            order: id(n.order, OrderId::new, SHORTAGE)?,
            warehouse: id(n.warehouse, WarehouseId::new, SHORTAGE)?,
            sku: id(n.sku, SkuId::new, SHORTAGE)?,
            redispatched_to: n
                .redispatched_to
                .into_iter()
                .map(|w| id(w, WarehouseId::new, SHORTAGE))
                .collect::<Result<_, _>>()?,
            at: ms(n.at),
        })
    }
}

// ---- SLA rules -----------------------------------------------------------------------------

/// `sla_rules.body`, version 1 (untagged).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SlaRulesV1 {
    not_picked_up_within_s: i64,
    not_departed_within_s: i64,
    stalled_after_s: i64,
    warn_at_percent: u8,
}

impl From<&SlaRules> for SlaRulesV1 {
    fn from(r: &SlaRules) -> Self {
        SlaRulesV1 {
            not_picked_up_within_s: r.not_picked_up_within_s,
            not_departed_within_s: r.not_departed_within_s,
            stalled_after_s: r.stalled_after_s,
            warn_at_percent: r.warn_at_percent,
        }
    }
}

/// Rules were validated when the merchant set them; they are taken back as they were.
impl TryFrom<SlaRulesV1> for SlaRules {
    type Error = StoreError;

    fn try_from(r: SlaRulesV1) -> Result<Self, StoreError> {
        Ok(SlaRules {
            not_picked_up_within_s: r.not_picked_up_within_s,
            not_departed_within_s: r.not_departed_within_s,
            stalled_after_s: r.stalled_after_s,
            warn_at_percent: r.warn_at_percent,
        })
    }
}
