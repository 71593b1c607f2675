//! Delivery promises: which (service level, carrier) a cart can be sold with, and by when it
//! will arrive — computed before the order, from the same rules dispatch keeps after it.
//!
//! For each warehouse that holds the cart and each carrier service that reaches the address:
//! 1. find the warehouse's processing slot: the first open hour, at or after now, with
//!    capacity left in the hour and the day (holidays close warehouses that do not work them);
//! 2. the slot must begin at or before the level's cutoff that day (Asia/Shanghai), else the
//!    order ships on a later day — same-day and one-hour services only ever ship today;
//! 3. the parcel is ready 30 minutes after work begins and leaves with the carrier's next
//!    pickup on a pickup day (ZTO-like carriers do not collect on holidays);
//! 4. it arrives by the service's hour on the delivery day: the same day, the next day, or
//!    after the transit days of its distance band counted on the carrier's delivery days.
//!
//! Only options that pass every step are offered. A cart no single warehouse holds is
//! promised as a split: every parcel must make it, the latest arrival is the promise.

use crate::fulfillment::calendar::{Calendar, LocalDate, local_ms_of_day};
use crate::fulfillment::capacity::{CapacityBook, Slot};
use crate::fulfillment::network::{
    CARRIER_SERVICES, CarrierId, CarrierService, ServiceLevel, WarehouseSite, great_circle_km, point_of,
};
use crate::geo::{Adcode, MicroDegrees};
use crate::ids::{SkuId, WarehouseId};
use crate::money::Fen;
use crate::time::Timestamp;

/// Minutes from the start of work on an order to a parcel ready for the carrier.
pub const PROCESSING_MINUTES: i64 = 30;
/// A one-hour delivery arrives this long after work begins.
pub const ONE_HOUR_DELIVERY_MINUTES: i64 = 60;
/// Days ahead a shipping day is looked for.
const SHIP_DAY_SEARCH: i32 = 8;
/// Scheduled delivery (预约配送): two-hour windows starting at these local hours…
pub const SCHEDULED_WINDOW_START_HOURS: [u16; 6] = [9, 11, 13, 15, 17, 19];
/// …up to this many days after the earliest delivery date.
pub const SCHEDULED_DAYS_AHEAD_MAX: i32 = 7;

/// Where a parcel goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Destination {
    pub adcode: Adcode,
    pub point: MicroDegrees,
}

impl Destination {
    /// `None` for a division without a point in it or around it.
    pub fn of(adcode: Adcode) -> Option<Destination> {
        Some(Destination {
            adcode,
            point: point_of(adcode)?,
        })
    }
}

/// A promise one service can keep from one warehouse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Leg {
    pub warehouse: WarehouseId,
    pub distance_km: u32,
    pub slot: Slot,
    pub ships_on: LocalDate,
    pub pickup_at: Timestamp,
    pub promised_by: Timestamp,
    /// The latest payment time that still keeps this promise (today's or the ship day's cutoff).
    pub cutoff_at: Timestamp,
    pub price: Fen,
}

/// One way the platform can deliver a cart, and what it promises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeliveryOption {
    pub level: ServiceLevel,
    pub carrier: CarrierId,
    /// The (first) warehouse it ships from.
    pub warehouse: WarehouseId,
    /// Parcels: 1 unless no single warehouse holds the cart.
    pub parcels: u8,
    /// From the (farthest) shipping warehouse to the address.
    pub distance_km: u32,
    pub ships_on: LocalDate,
    pub promised_by: Timestamp,
    pub cutoff_at: Timestamp,
    pub price: Fen,
    pub schedulable: bool,
}

/// A two-hour delivery window booked by the buyer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ScheduledWindow {
    pub date: LocalDate,
    pub start_hour: u16,
}

impl ScheduledWindow {
    pub fn starts_at(self) -> Timestamp {
        self.date.at_minute(self.start_hour * 60)
    }

    pub fn ends_at(self) -> Timestamp {
        self.date.at_minute(self.start_hour * 60 + 120)
    }
}

/// What an order was sold with: it keeps this promise (dispatch prefers warehouses that do).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Promise {
    pub level: ServiceLevel,
    pub carrier: CarrierId,
    /// The start of a booked window (预约配送), if any.
    pub window_starts_at: Option<Timestamp>,
    /// Delivered by then at the latest.
    pub promised_by: Timestamp,
    pub price: Fen,
}

impl Promise {
    /// The promise of an option, or of an option delivered in a booked window. `None` when
    /// the window is not one the option can keep: not schedulable, not a window of the day,
    /// ending before the option can arrive, or too far ahead.
    pub fn of(option: &DeliveryOption, window: Option<ScheduledWindow>) -> Option<Promise> {
        let Some(window) = window else {
            return Some(Promise {
                level: option.level,
                carrier: option.carrier,
                window_starts_at: None,
                promised_by: option.promised_by,
                price: option.price,
            });
        };
        let earliest = LocalDate::of(option.promised_by);
        let valid = option.schedulable
            && SCHEDULED_WINDOW_START_HOURS.contains(&window.start_hour)
            && window.ends_at() >= option.promised_by
            && window.date <= earliest.plus_days(SCHEDULED_DAYS_AHEAD_MAX);
        valid.then(|| Promise {
            level: option.level,
            carrier: option.carrier,
            window_starts_at: Some(window.starts_at()),
            promised_by: window.ends_at(),
            price: option.price,
        })
    }
}

/// Everything a promise is computed from, borrowed from the shard's state.
pub struct PromiseContext<'a, S: Fn(SkuId, WarehouseId) -> i64> {
    pub sites: &'a [WarehouseSite],
    /// Units of a SKU that can still be taken from a warehouse.
    pub available: S,
    pub capacity: &'a CapacityBook,
    pub calendar: &'a Calendar,
    pub now: Timestamp,
}

/// What one service promises from one warehouse now, if it can keep anything.
pub fn evaluate_leg(
    service: &CarrierService,
    site: &WarehouseSite,
    destination: &Destination,
    distance_km: u32,
    capacity: &CapacityBook,
    calendar: &Calendar,
    now: Timestamp,
) -> Option<Leg> {
    if !site.settings.uses_carrier(service.carrier) || distance_km > service.max_km {
        return None;
    }
    let same_city = site.location.city() == destination.adcode.city();
    if service.same_city_only && !same_city {
        return None;
    }
    let same_province = site.location.province() == destination.adcode.province();
    let cutoff = site.settings.cutoff_for(service.level, same_city, same_province)?;
    let today = LocalDate::of(now);
    let ship_days = match service.level {
        ServiceLevel::OneHour | ServiceLevel::SameDay => 1,
        ServiceLevel::NextDay | ServiceLevel::Standard => SHIP_DAY_SEARCH,
    };
    for offset in 0..ship_days {
        let date = today.plus_days(offset);
        let from = if offset == 0 { now } else { date.start() };
        let slot = capacity.next_slot(site, calendar, from)?;
        if LocalDate::of(slot.begins) != date || local_ms_of_day(slot.begins) > i64::from(cutoff) * 60_000 {
            continue;
        }
        let ready = slot.begins.plus_seconds(PROCESSING_MINUTES * 60);
        let (pickup_at, promised_by) = if service.level == ServiceLevel::OneHour {
            if slot.begins != now {
                return None;
            }
            (ready, now.plus_seconds(ONE_HOUR_DELIVERY_MINUTES * 60))
        } else {
            let Some(pickup_at) = next_pickup(service, calendar, date, ready) else {
                continue;
            };
            let delivered_on = delivery_date(service, calendar, LocalDate::of(pickup_at), distance_km);
            let promised_by = delivered_on.at_minute(service.deliver_by_minute);
            if promised_by <= pickup_at {
                continue;
            }
            (pickup_at, promised_by)
        };
        return Some(Leg {
            warehouse: site.id,
            distance_km,
            slot,
            ships_on: date,
            pickup_at,
            promised_by,
            cutoff_at: date.at_minute(cutoff),
            price: service.price_for(distance_km),
        });
    }
    None
}

/// The first pickup on `date` at or after `ready`, on a day the carrier collects.
fn next_pickup(service: &CarrierService, calendar: &Calendar, date: LocalDate, ready: Timestamp) -> Option<Timestamp> {
    if !service.pickup_days.includes(calendar, date) {
        return None;
    }
    service
        .pickups
        .iter()
        .map(|minute| date.at_minute(*minute))
        .find(|at| *at >= ready)
}

pub(crate) fn delivery_date(
    service: &CarrierService,
    calendar: &Calendar,
    shipped_on: LocalDate,
    km: u32,
) -> LocalDate {
    let mut date = shipped_on;
    let mut transit = service.transit_days(km);
    while transit > 0 || !service.delivery_days.includes(calendar, date) {
        date = date.plus_days(1);
        if service.delivery_days.includes(calendar, date) {
            transit -= 1;
        }
        transit = transit.max(0);
    }
    date
}

/// The options a cart can be sold with now, fastest first (then cheapest). One option per
/// (level, carrier): the warehouse with the earliest arrival, then the nearest.
pub fn delivery_options<S: Fn(SkuId, WarehouseId) -> i64>(
    lines: &[(SkuId, i64)],
    destination: &Destination,
    context: &PromiseContext<'_, S>,
) -> Vec<DeliveryOption> {
    let mut best: [Option<DeliveryOption>; CARRIER_SERVICES.len()] = [None; CARRIER_SERVICES.len()];
    let mut any_whole = false;
    for site in context.sites {
        if !lines
            .iter()
            .all(|(sku, qty)| (context.available)(*sku, site.id) >= *qty)
        {
            continue;
        }
        any_whole = true;
        let km = great_circle_km(site.point, destination.point);
        for (index, service) in CARRIER_SERVICES.iter().enumerate() {
            let Some(leg) = evaluate_leg(
                service,
                site,
                destination,
                km,
                context.capacity,
                context.calendar,
                context.now,
            ) else {
                continue;
            };
            let candidate = option_of(service, &leg, 1);
            let better = match &best[index] {
                None => true,
                Some(current) => (leg.promised_by, km) < (current.promised_by, current.distance_km),
            };
            if better {
                best[index] = Some(candidate);
            }
        }
    }
    if !any_whole && let Some(parcels) = plan_split(lines, destination, context) {
        for (index, service) in CARRIER_SERVICES.iter().enumerate() {
            best[index] = split_option(service, &parcels, destination, context);
        }
    }
    let mut options: Vec<DeliveryOption> = best.into_iter().flatten().collect();
    options.sort_by_key(|o| (o.promised_by, o.price, o.level, o.carrier));
    options
}

fn option_of(service: &CarrierService, leg: &Leg, parcels: u8) -> DeliveryOption {
    DeliveryOption {
        level: service.level,
        carrier: service.carrier,
        warehouse: leg.warehouse,
        parcels,
        distance_km: leg.distance_km,
        ships_on: leg.ships_on,
        promised_by: leg.promised_by,
        cutoff_at: leg.cutoff_at,
        price: leg.price,
        schedulable: service.schedulable,
    }
}

/// One parcel of a split: a warehouse and the units it sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedParcel {
    pub warehouse: WarehouseId,
    pub lines: Vec<(SkuId, i64)>,
}

/// Covers a cart no single warehouse holds: nearest warehouses first, each line whole where
/// a warehouse holds it, else split over several. `None` when the shop lacks the units.
pub fn plan_split<S: Fn(SkuId, WarehouseId) -> i64>(
    lines: &[(SkuId, i64)],
    destination: &Destination,
    context: &PromiseContext<'_, S>,
) -> Option<Vec<PlannedParcel>> {
    let mut ranked: Vec<(u32, &WarehouseSite)> = context
        .sites
        .iter()
        .map(|s| (great_circle_km(s.point, destination.point), s))
        .collect();
    ranked.sort_by_key(|(km, s)| (*km, s.id));
    let order: Vec<WarehouseId> = ranked.iter().map(|(_, s)| s.id).collect();
    cover_lines(lines, &order, &context.available)
}

/// Assigns each line to warehouses in `ranked` order: to a warehouse already sending a
/// parcel if it holds the line whole, else to the first that holds it whole, else split
/// over the ranked warehouses. Pure bookkeeping shared by promise and dispatch.
pub fn cover_lines<S: Fn(SkuId, WarehouseId) -> i64>(
    lines: &[(SkuId, i64)],
    ranked: &[WarehouseId],
    available: &S,
) -> Option<Vec<PlannedParcel>> {
    let mut parcels: Vec<PlannedParcel> = Vec::new();
    let taken = |parcels: &[PlannedParcel], sku: SkuId, warehouse: WarehouseId| -> i64 {
        parcels
            .iter()
            .filter(|p| p.warehouse == warehouse)
            .flat_map(|p| p.lines.iter())
            .filter(|(s, _)| *s == sku)
            .map(|(_, q)| *q)
            .sum()
    };
    let left = |parcels: &[PlannedParcel], sku: SkuId, warehouse: WarehouseId| {
        available(sku, warehouse) - taken(parcels, sku, warehouse)
    };
    for (sku, quantity) in lines {
        let (sku, quantity) = (*sku, *quantity);
        let whole = parcels
            .iter()
            .map(|p| p.warehouse)
            .find(|w| left(&parcels, sku, *w) >= quantity)
            .or_else(|| ranked.iter().copied().find(|w| left(&parcels, sku, *w) >= quantity));
        if let Some(warehouse) = whole {
            add_to_parcel(&mut parcels, warehouse, sku, quantity);
            continue;
        }
        let mut remaining = quantity;
        for warehouse in ranked {
            let take = left(&parcels, sku, *warehouse).min(remaining);
            if take > 0 {
                add_to_parcel(&mut parcels, *warehouse, sku, take);
                remaining -= take;
            }
            if remaining == 0 {
                break;
            }
        }
        if remaining > 0 {
            return None;
        }
    }
    Some(parcels)
}

fn add_to_parcel(parcels: &mut Vec<PlannedParcel>, warehouse: WarehouseId, sku: SkuId, quantity: i64) {
    match parcels.iter_mut().find(|p| p.warehouse == warehouse) {
        Some(parcel) => match parcel.lines.iter_mut().find(|(s, _)| *s == sku) {
            Some(line) => line.1 += quantity,
            None => parcel.lines.push((sku, quantity)),
        },
        None => parcels.push(PlannedParcel {
            warehouse,
            lines: vec![(sku, quantity)],
        }),
    }
}

fn split_option<S: Fn(SkuId, WarehouseId) -> i64>(
    service: &CarrierService,
    parcels: &[PlannedParcel],
    destination: &Destination,
    context: &PromiseContext<'_, S>,
) -> Option<DeliveryOption> {
    let mut combined: Option<DeliveryOption> = None;
    for parcel in parcels {
        let site = context.sites.iter().find(|s| s.id == parcel.warehouse)?;
        let km = great_circle_km(site.point, destination.point);
        let leg = evaluate_leg(
            service,
            site,
            destination,
            km,
            context.capacity,
            context.calendar,
            context.now,
        )?;
        let option = option_of(service, &leg, parcels.len().min(usize::from(u8::MAX)) as u8);
        combined = Some(match combined {
            None => option,
            Some(so_far) => DeliveryOption {
                distance_km: so_far.distance_km.max(option.distance_km),
                ships_on: so_far.ships_on.max(option.ships_on),
                promised_by: so_far.promised_by.max(option.promised_by),
                cutoff_at: so_far.cutoff_at.min(option.cutoff_at),
                price: so_far.price.checked_add(option.price)?,
                ..so_far
            },
        });
    }
    combined
}
