//! The fulfillment documents on disk (see [`crate::json`]): an order's promise
//! (`orders.promise_json`), a dispatch decision (`order_dispatches.decision_json`) and a
//! warehouse's settings (`warehouse_fulfillment.settings_json`).
//!
//! The `V1` types are frozen: field names, order and enum spellings are the bytes on disk.

use crate::StoreError;
use crate::json::{self, id};
use miaodan_domain::fulfillment::{
    Candidate, CarrierId, CutoffRegion, CutoffTime, DispatchDecision, FulfillmentSettings, OperatingHours, ParcelPlan,
    Promise, ServiceLevel, Shift,
};
use miaodan_domain::{Fen, SkuId, Timestamp, WarehouseId};
use serde::{Deserialize, Serialize};

const PROMISE: &str = "promise";
const DECISION: &str = "dispatch decision";
const SETTINGS: &str = "fulfillment settings";

pub(crate) fn encode_promise(promise: &Promise) -> String {
    json::encode(&PromiseV1::from(promise))
}

pub(crate) fn decode_promise(raw: &str) -> Result<Promise, StoreError> {
    json::decode_v1::<PromiseV1, _>(raw, PROMISE)
}

pub(crate) fn encode_decision(decision: &DispatchDecision) -> String {
    json::encode(&DispatchDecisionV1::from(decision))
}

pub(crate) fn decode_decision(raw: &str) -> Result<DispatchDecision, StoreError> {
    json::decode_v1::<DispatchDecisionV1, _>(raw, DECISION)
}

pub(crate) fn encode_settings(settings: &FulfillmentSettings) -> String {
    json::encode(&FulfillmentSettingsV1::from(settings))
}

pub(crate) fn decode_settings(raw: &str) -> Result<FulfillmentSettings, StoreError> {
    json::decode_v1::<FulfillmentSettingsV1, _>(raw, SETTINGS)
}

fn ms(raw: i64) -> Timestamp {
    Timestamp::from_unix_ms(raw)
}

fn fen(raw: i64, what: &str) -> Result<Fen, StoreError> {
    Fen::from_stored(raw).ok_or_else(|| StoreError::corrupt(format!("bad {what} json: negative amount {raw}")))
}

// ---- enums ---------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum ServiceLevelV1 {
    #[serde(rename = "one_hour")]
    OneHour,
    #[serde(rename = "same_day")]
    SameDay,
    #[serde(rename = "next_day")]
    NextDay,
    #[serde(rename = "standard")]
    Standard,
}

impl From<ServiceLevel> for ServiceLevelV1 {
    fn from(level: ServiceLevel) -> Self {
        match level {
            ServiceLevel::OneHour => ServiceLevelV1::OneHour,
            ServiceLevel::SameDay => ServiceLevelV1::SameDay,
            ServiceLevel::NextDay => ServiceLevelV1::NextDay,
            ServiceLevel::Standard => ServiceLevelV1::Standard,
        }
    }
}

impl From<ServiceLevelV1> for ServiceLevel {
    fn from(level: ServiceLevelV1) -> Self {
        match level {
            ServiceLevelV1::OneHour => ServiceLevel::OneHour,
            ServiceLevelV1::SameDay => ServiceLevel::SameDay,
            ServiceLevelV1::NextDay => ServiceLevel::NextDay,
            ServiceLevelV1::Standard => ServiceLevel::Standard,
        }
    }
}

/// Also the carrier of a shipment (see `logistics::stored`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum CarrierV1 {
    #[serde(rename = "sf")]
    Sf,
    #[serde(rename = "jd")]
    Jd,
    #[serde(rename = "zto")]
    Zto,
}

impl From<CarrierId> for CarrierV1 {
    fn from(carrier: CarrierId) -> Self {
        match carrier {
            CarrierId::Sf => CarrierV1::Sf,
            CarrierId::Jd => CarrierV1::Jd,
            CarrierId::Zto => CarrierV1::Zto,
        }
    }
}

impl From<CarrierV1> for CarrierId {
    fn from(carrier: CarrierV1) -> Self {
        match carrier {
            CarrierV1::Sf => CarrierId::Sf,
            CarrierV1::Jd => CarrierId::Jd,
            CarrierV1::Zto => CarrierId::Zto,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum CutoffRegionV1 {
    #[serde(rename = "any")]
    Any,
    #[serde(rename = "same_province")]
    SameProvince,
    #[serde(rename = "same_city")]
    SameCity,
}

impl From<CutoffRegion> for CutoffRegionV1 {
    fn from(region: CutoffRegion) -> Self {
        match region {
            CutoffRegion::Any => CutoffRegionV1::Any,
            CutoffRegion::SameProvince => CutoffRegionV1::SameProvince,
            CutoffRegion::SameCity => CutoffRegionV1::SameCity,
        }
    }
}

impl From<CutoffRegionV1> for CutoffRegion {
    fn from(region: CutoffRegionV1) -> Self {
        match region {
            CutoffRegionV1::Any => CutoffRegion::Any,
            CutoffRegionV1::SameProvince => CutoffRegion::SameProvince,
            CutoffRegionV1::SameCity => CutoffRegion::SameCity,
        }
    }
}

// ---- promise -------------------------------------------------------------------------------

/// `orders.promise_json`, version 1 (untagged).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PromiseV1 {
    level: ServiceLevelV1,
    carrier: CarrierV1,
    window_starts_at: Option<i64>,
    promised_by: i64,
    price: i64,
}

impl From<&Promise> for PromiseV1 {
    fn from(p: &Promise) -> Self {
        PromiseV1 {
            level: p.level.into(),
            carrier: p.carrier.into(),
            window_starts_at: p.window_starts_at.map(Timestamp::unix_ms),
            promised_by: p.promised_by.unix_ms(),
            price: p.price.get(),
        }
    }
}

impl TryFrom<PromiseV1> for Promise {
    type Error = StoreError;

    fn try_from(p: PromiseV1) -> Result<Self, StoreError> {
        Ok(Promise {
            level: p.level.into(),
            carrier: p.carrier.into(),
            window_starts_at: p.window_starts_at.map(ms),
            promised_by: ms(p.promised_by),
            price: fen(p.price, PROMISE)?,
        })
    }
}

// ---- dispatch decision ---------------------------------------------------------------------

/// `order_dispatches.decision_json`, version 1 (untagged).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DispatchDecisionV1 {
    decided_at: i64,
    parcels: Vec<ParcelPlanV1>,
    candidates: Vec<CandidateV1>,
    split: bool,
    promise_kept: bool,
    reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ParcelPlanV1 {
    warehouse: i64,
    /// `[sku, units]` pairs.
    lines: Vec<(i64, i64)>,
    slot_hour: i64,
    level: ServiceLevelV1,
    carrier: CarrierV1,
    pickup_at: i64,
    estimated_by: i64,
    keeps_promise: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CandidateV1 {
    warehouse: i64,
    distance_km: u32,
    holds_every_line: bool,
    has_capacity: bool,
    keeps_promise: bool,
    would_deliver_by: Option<i64>,
    headroom: u32,
    rank: u32,
    chosen: bool,
}

impl From<&DispatchDecision> for DispatchDecisionV1 {
    fn from(d: &DispatchDecision) -> Self {
        DispatchDecisionV1 {
            decided_at: d.decided_at.unix_ms(),
            parcels: d.parcels.iter().map(ParcelPlanV1::from).collect(),
            candidates: d.candidates.iter().map(CandidateV1::from).collect(),
            split: d.split,
            promise_kept: d.promise_kept,
            reason: d.reason.clone(),
        }
    }
}

impl From<&ParcelPlan> for ParcelPlanV1 {
    fn from(p: &ParcelPlan) -> Self {
        ParcelPlanV1 {
            warehouse: p.warehouse.get(),
            lines: p.lines.iter().map(|(sku, units)| (sku.get(), *units)).collect(),
            slot_hour: p.slot_hour.unix_ms(),
            level: p.level.into(),
            carrier: p.carrier.into(),
            pickup_at: p.pickup_at.unix_ms(),
            estimated_by: p.estimated_by.unix_ms(),
            keeps_promise: p.keeps_promise,
        }
    }
}

impl From<&Candidate> for CandidateV1 {
    fn from(c: &Candidate) -> Self {
        CandidateV1 {
            warehouse: c.warehouse.get(),
            distance_km: c.distance_km,
            holds_every_line: c.holds_every_line,
            has_capacity: c.has_capacity,
            keeps_promise: c.keeps_promise,
            would_deliver_by: c.would_deliver_by.map(Timestamp::unix_ms),
            headroom: c.headroom,
            rank: c.rank,
            chosen: c.chosen,
        }
    }
}

impl TryFrom<DispatchDecisionV1> for DispatchDecision {
    type Error = StoreError;

    fn try_from(d: DispatchDecisionV1) -> Result<Self, StoreError> {
        Ok(DispatchDecision {
            decided_at: ms(d.decided_at),
            parcels: d
                .parcels
                .into_iter()
                .map(ParcelPlan::try_from)
                .collect::<Result<_, _>>()?,
            candidates: d
                .candidates
                .into_iter()
                .map(Candidate::try_from)
                .collect::<Result<_, _>>()?,
            split: d.split,
            promise_kept: d.promise_kept,
            reason: d.reason,
        })
    }
}

impl TryFrom<ParcelPlanV1> for ParcelPlan {
    type Error = StoreError;

    fn try_from(p: ParcelPlanV1) -> Result<Self, StoreError> {
        Ok(ParcelPlan {
            warehouse: id(p.warehouse, WarehouseId::new, DECISION)?,
            lines: p
                .lines
                .into_iter()
                .map(|(sku, units)| Ok((id(sku, SkuId::new, DECISION)?, units)))
                .collect::<Result<_, StoreError>>()?,
            slot_hour: ms(p.slot_hour),
            level: p.level.into(),
            carrier: p.carrier.into(),
            pickup_at: ms(p.pickup_at),
            estimated_by: ms(p.estimated_by),
            keeps_promise: p.keeps_promise,
        })
    }
}

impl TryFrom<CandidateV1> for Candidate {
    type Error = StoreError;

    fn try_from(c: CandidateV1) -> Result<Self, StoreError> {
        Ok(Candidate {
            warehouse: id(c.warehouse, WarehouseId::new, DECISION)?,
            distance_km: c.distance_km,
            holds_every_line: c.holds_every_line,
            has_capacity: c.has_capacity,
            keeps_promise: c.keeps_promise,
            would_deliver_by: c.would_deliver_by.map(ms),
            headroom: c.headroom,
            rank: c.rank,
            chosen: c.chosen,
        })
    }
}

// ---- warehouse settings --------------------------------------------------------------------

/// `warehouse_fulfillment.settings_json`, version 1 (untagged).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FulfillmentSettingsV1 {
    hours: OperatingHoursV1,
    orders_per_hour: u32,
    orders_per_day: u32,
    cutoffs: Vec<CutoffTimeV1>,
    works_holidays: bool,
    carriers: Vec<CarrierV1>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct OperatingHoursV1 {
    shifts: Vec<ShiftV1>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ShiftV1 {
    start_minute: u16,
    end_minute: u16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CutoffTimeV1 {
    level: ServiceLevelV1,
    region: CutoffRegionV1,
    minute: u16,
}

impl From<&FulfillmentSettings> for FulfillmentSettingsV1 {
    fn from(s: &FulfillmentSettings) -> Self {
        FulfillmentSettingsV1 {
            hours: OperatingHoursV1 {
                shifts: s
                    .hours
                    .shifts
                    .iter()
                    .map(|shift| ShiftV1 {
                        start_minute: shift.start_minute,
                        end_minute: shift.end_minute,
                    })
                    .collect(),
            },
            orders_per_hour: s.orders_per_hour,
            orders_per_day: s.orders_per_day,
            cutoffs: s
                .cutoffs
                .iter()
                .map(|c| CutoffTimeV1 {
                    level: c.level.into(),
                    region: c.region.into(),
                    minute: c.minute,
                })
                .collect(),
            works_holidays: s.works_holidays,
            carriers: s.carriers.iter().copied().map(CarrierV1::from).collect(),
        }
    }
}

/// Settings were validated when the merchant set them; they are taken back as they were.
impl TryFrom<FulfillmentSettingsV1> for FulfillmentSettings {
    type Error = StoreError;

    fn try_from(s: FulfillmentSettingsV1) -> Result<Self, StoreError> {
        Ok(FulfillmentSettings {
            hours: OperatingHours {
                shifts: s
                    .hours
                    .shifts
                    .into_iter()
                    .map(|shift| Shift {
                        start_minute: shift.start_minute,
                        end_minute: shift.end_minute,
                    })
                    .collect(),
            },
            orders_per_hour: s.orders_per_hour,
            orders_per_day: s.orders_per_day,
            cutoffs: s
                .cutoffs
                .into_iter()
                .map(|c| CutoffTime {
                    level: c.level.into(),
                    region: c.region.into(),
                    minute: c.minute,
                })
                .collect(),
            works_holidays: s.works_holidays,
            carriers: s.carriers.into_iter().map(CarrierId::from).collect(),
        })
    }
}
