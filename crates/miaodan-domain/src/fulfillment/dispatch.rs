//! Smart dispatch (智能订单分拨): which warehouse(s) send a paid order.
//!
//! Every warehouse of the shop is a candidate. They are ranked by, in order:
//! 1. whether it keeps the order's promise (its delivery with the promised service arrives
//!    by the promised instant; an order sold without a promise is kept by any service);
//! 2. great-circle distance to the address, nearest first;
//! 3. capacity headroom in its processing hour, most first;
//! 4. warehouse id (so the decision is deterministic).
//!
//! The best-ranked warehouse that holds every line takes the whole order. Only when none
//! does is the order split, line by line over the ranking (see [`cover_lines`]). The
//! decision carries every candidate with its figures, so it can be explained afterwards.
//!
//! A promise is judged by when the parcel is *estimated* to arrive, not by what the service
//! would promise a new order now. They differ for one-hour delivery: the promise is the
//! service's bound, an hour from when work could begin at checkout; the estimate is the
//! parcel ready after processing plus the ride to the address (see `arrival`). So an order
//! paid a little after checkout still keeps its one-hour promise when the ride leaves the
//! time, and is at risk once it does not.

use crate::fulfillment::calendar::Calendar;
use crate::fulfillment::capacity::CapacityBook;
use crate::fulfillment::network::{
    CARRIER_SERVICES, CarrierId, CarrierService, ServiceLevel, WarehouseSite, great_circle_km,
};
use crate::fulfillment::promise::{
    Destination, Leg, ONE_HOUR_DELIVERY_MINUTES, PROCESSING_MINUTES, Promise, cover_lines, evaluate_leg,
};
use crate::ids::{SkuId, WarehouseId};
use crate::time::Timestamp;
use std::cmp::Reverse;

/// One warehouse as dispatch saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub warehouse: WarehouseId,
    pub distance_km: u32,
    pub holds_every_line: bool,
    /// Whether it can start on the order within the search horizon at all.
    pub has_capacity: bool,
    pub keeps_promise: bool,
    /// When its delivery with the promised (or, without a promise, its cheapest) service
    /// would arrive.
    pub would_deliver_by: Option<Timestamp>,
    /// Orders its processing hour (and day) can still take.
    pub headroom: u32,
    /// 1 = best.
    pub rank: u32,
    pub chosen: bool,
}

/// One parcel of the decision: what leaves which warehouse, with which service, by when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParcelPlan {
    pub warehouse: WarehouseId,
    pub lines: Vec<(SkuId, i64)>,
    /// The hour of warehouse capacity the parcel takes.
    pub slot_hour: Timestamp,
    pub level: ServiceLevel,
    pub carrier: CarrierId,
    pub pickup_at: Timestamp,
    /// Estimated arrival.
    pub estimated_by: Timestamp,
    pub keeps_promise: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DispatchDecision {
    pub decided_at: Timestamp,
    pub parcels: Vec<ParcelPlan>,
    pub candidates: Vec<Candidate>,
    pub split: bool,
    pub promise_kept: bool,
    /// Why the winner won, in a sentence.
    pub reason: String,
}

pub struct DispatchInput<'a> {
    pub lines: &'a [(SkuId, i64)],
    pub destination: Destination,
    pub promise: Option<Promise>,
    pub now: Timestamp,
}

/// When a parcel sent by `leg` with `service` is estimated to arrive. For one-hour delivery:
/// when it is ready plus the ride, the rider covering the service's longest reach in the
/// time the hour leaves after processing, and nearer addresses in proportion (so at the
/// edge of the reach the estimate is the service's bound itself). Every other service
/// delivers by its hour on the delivery day: its bound is the estimate.
fn arrival(service: &CarrierService, leg: &Leg) -> Timestamp {
    if service.level != ServiceLevel::OneHour {
        return leg.promised_by;
    }
    let ride_ms_max = (ONE_HOUR_DELIVERY_MINUTES - PROCESSING_MINUTES) * 60_000;
    let reach_km = i64::from(service.max_km.max(1));
    let km = i64::from(leg.distance_km).min(reach_km);
    // Rounded up: the estimate never runs ahead of the ride.
    let ride_ms = (ride_ms_max * km + reach_km - 1) / reach_km;
    Timestamp::from_unix_ms(leg.pickup_at.unix_ms() + ride_ms).min(leg.promised_by)
}

fn promised_service(promise: &Promise) -> Option<&'static CarrierService> {
    CARRIER_SERVICES
        .iter()
        .find(|s| s.level == promise.level && s.carrier == promise.carrier)
}

/// The leg a warehouse would ship with: the promised service, or — without a promise, or as
/// a fallback when the promised one is out of reach — the cheapest (then fastest) or the
/// fastest service it can run.
fn leg_for(
    site: &WarehouseSite,
    destination: &Destination,
    km: u32,
    promise: Option<&Promise>,
    capacity: &CapacityBook,
    calendar: &Calendar,
    now: Timestamp,
) -> (Option<(&'static CarrierService, Leg)>, bool) {
    // Dispatch looks at estimated arrivals: a leg's `promised_by` becomes its estimate here.
    let evaluate = |service: &'static CarrierService| {
        evaluate_leg(service, site, destination, km, capacity, calendar, now).map(|leg| {
            let estimated = Leg {
                promised_by: arrival(service, &leg),
                ..leg
            };
            (service, estimated)
        })
    };
    if let Some(promise) = promise {
        if let Some((service, leg)) = promised_service(promise).and_then(evaluate)
            && leg.promised_by <= promise.promised_by
        {
            return (Some((service, leg)), true);
        }
        let fastest = CARRIER_SERVICES
            .iter()
            .filter_map(evaluate)
            .min_by_key(|(s, leg)| (leg.promised_by, leg.price, s.level, s.carrier));
        let keeps = fastest.is_some_and(|(_, leg)| leg.promised_by <= promise.promised_by);
        return (fastest, keeps);
    }
    let cheapest = CARRIER_SERVICES
        .iter()
        .filter_map(evaluate)
        .min_by_key(|(s, leg)| (leg.price, leg.promised_by, s.level, s.carrier));
    (cheapest, cheapest.is_some())
}

/// Decides where a paid order ships from. `available` counts the units each warehouse can
/// give (the order's own reservation included). `None` when the shop's warehouses together
/// lack the units or none can start on it.
pub fn decide_dispatch<S: Fn(SkuId, WarehouseId) -> i64>(
    input: &DispatchInput<'_>,
    sites: &[WarehouseSite],
    available: &S,
    capacity: &CapacityBook,
    calendar: &Calendar,
) -> Option<DispatchDecision> {
    let promise = input.promise.as_ref();
    let mut scored: Vec<(Candidate, Option<(&'static CarrierService, Leg)>)> = sites
        .iter()
        .map(|site| {
            let km = great_circle_km(site.point, input.destination.point);
            let slot = capacity.next_slot(site, calendar, input.now);
            let (leg, keeps) = leg_for(site, &input.destination, km, promise, capacity, calendar, input.now);
            let candidate = Candidate {
                warehouse: site.id,
                distance_km: km,
                holds_every_line: input.lines.iter().all(|(sku, qty)| available(*sku, site.id) >= *qty),
                has_capacity: slot.is_some(),
                keeps_promise: keeps,
                would_deliver_by: leg.map(|(_, l)| l.promised_by),
                headroom: slot.map(|s| s.headroom).unwrap_or(0),
                rank: 0,
                chosen: false,
            };
            (candidate, leg)
        })
        .collect();
    scored.sort_by_key(|(c, _)| {
        (
            !c.has_capacity,
            !c.keeps_promise,
            c.distance_km,
            Reverse(c.headroom),
            c.warehouse,
        )
    });
    for (rank, (candidate, _)) in scored.iter_mut().enumerate() {
        candidate.rank = rank as u32 + 1;
    }
    let eligible: Vec<WarehouseId> = scored
        .iter()
        .filter(|(c, _)| c.has_capacity)
        .map(|(c, _)| c.warehouse)
        .collect();
    let whole = scored
        .iter()
        .find(|(c, _)| c.has_capacity && c.holds_every_line)
        .map(|(c, _)| c.warehouse);
    let planned = match whole {
        Some(warehouse) => vec![(warehouse, input.lines.to_vec())],
        None => cover_lines(input.lines, &eligible, available)?
            .into_iter()
            .map(|p| (p.warehouse, p.lines))
            .collect(),
    };
    let mut parcels = Vec::with_capacity(planned.len());
    for (warehouse, lines) in planned {
        let (candidate, leg) = scored.iter_mut().find(|(c, _)| c.warehouse == warehouse)?;
        candidate.chosen = true;
        let site = sites.iter().find(|s| s.id == warehouse)?;
        let (service, leg, keeps) = match leg {
            Some((service, leg)) => (*service, *leg, candidate.keeps_promise),
            None => {
                // No service reaches the address from here in time: ship by the slowest
                // service anyway (the package center raises "promise at risk").
                let slot = capacity.next_slot(site, calendar, input.now)?;
                let fallback = &CARRIER_SERVICES[CARRIER_SERVICES.len() - 1];
                let pickup = slot.begins.plus_seconds(24 * 3600);
                let leg = Leg {
                    warehouse,
                    distance_km: candidate.distance_km,
                    slot,
                    ships_on: crate::fulfillment::calendar::LocalDate::of(pickup),
                    pickup_at: pickup,
                    promised_by: pickup.plus_seconds(7 * 24 * 3600),
                    cutoff_at: slot.begins,
                    price: fallback.price_for(candidate.distance_km),
                };
                (fallback, leg, false)
            }
        };
        parcels.push(ParcelPlan {
            warehouse,
            lines,
            slot_hour: leg.slot.hour,
            level: service.level,
            carrier: service.carrier,
            pickup_at: leg.pickup_at,
            estimated_by: leg.promised_by,
            keeps_promise: keeps,
        });
    }
    let candidates: Vec<Candidate> = scored.into_iter().map(|(c, _)| c).collect();
    let split = parcels.len() > 1;
    let promise_kept = parcels.iter().all(|p| p.keeps_promise);
    let reason = explain(&candidates, split, promise.is_some());
    Some(DispatchDecision {
        decided_at: input.now,
        parcels,
        candidates,
        split,
        promise_kept,
        reason,
    })
}

fn explain(candidates: &[Candidate], split: bool, promised: bool) -> String {
    let chosen: Vec<&Candidate> = candidates.iter().filter(|c| c.chosen).collect();
    let Some(first) = chosen.first() else {
        return "no warehouse could take the order".into();
    };
    if split {
        let list: Vec<String> = chosen
            .iter()
            .map(|c| format!("warehouse {} ({} km)", c.warehouse, c.distance_km))
            .collect();
        return format!(
            "no single warehouse holds every line, so the order is split over {} in ranking order",
            list.join(", ")
        );
    }
    let promise_part = match (promised, first.keeps_promise) {
        (true, true) => "keeps the promise",
        (true, false) => "cannot keep the promise, but no warehouse can (promise at risk)",
        (false, _) => "can deliver it",
    };
    let runner_up = candidates
        .iter()
        .filter(|c| !c.chosen && c.holds_every_line && c.has_capacity)
        .min_by_key(|c| c.rank);
    let versus = match runner_up {
        None => "it is the only warehouse that holds every line".to_string(),
        Some(other) if other.keeps_promise != first.keeps_promise => format!(
            "warehouse {} also holds every line but does not keep the promise",
            other.warehouse
        ),
        Some(other) if other.distance_km != first.distance_km => format!(
            "it is nearer ({} km) than warehouse {} ({} km)",
            first.distance_km, other.warehouse, other.distance_km
        ),
        Some(other) if other.headroom != first.headroom => format!(
            "at the same distance it has more capacity headroom ({} orders) than warehouse {} ({})",
            first.headroom, other.warehouse, other.headroom
        ),
        Some(other) => format!("it ties with warehouse {} and has the lower id", other.warehouse),
    };
    format!(
        "warehouse {} holds every line and {}; {}",
        first.warehouse, promise_part, versus
    )
}
