//! The fulfillment network: how warehouses work (hours, capacity, cutoffs) and what the
//! carriers offer (service levels over distance, transit, pickup schedules, prices).
//!
//! Carriers here are **simulated**: the catalog below is modelled on the public offers of
//! SF-, JD- and ZTO-like express companies, not taken from any contract. A real carrier
//! adapter would supply the same [`CarrierService`] rows.

use crate::fulfillment::calendar::{Calendar, LocalDate, MINUTES_PER_DAY};
use crate::geo::{Adcode, MicroDegrees};
use crate::ids::WarehouseId;
use crate::money::Fen;

/// How fast a parcel arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum ServiceLevel {
    /// Within the hour, inside one city (极速达 / 小时达).
    OneHour,
    /// The same day, inside one city (同城当日达).
    SameDay,
    /// The next day (次日达).
    NextDay,
    /// Standard express: a few days by distance.
    Standard,
}

impl ServiceLevel {
    pub const ALL: [ServiceLevel; 4] = [
        ServiceLevel::OneHour,
        ServiceLevel::SameDay,
        ServiceLevel::NextDay,
        ServiceLevel::Standard,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ServiceLevel::OneHour => "one_hour",
            ServiceLevel::SameDay => "same_day",
            ServiceLevel::NextDay => "next_day",
            ServiceLevel::Standard => "standard",
        }
    }

    pub fn parse(raw: &str) -> Option<ServiceLevel> {
        ServiceLevel::ALL.into_iter().find(|l| l.as_str() == raw)
    }
}

/// A (simulated) carrier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum CarrierId {
    /// SF-like: fast and dear; picks up and delivers every day.
    Sf,
    /// JD-like: own fleet; scheduled delivery windows; every day.
    Jd,
    /// ZTO-like: cheap standard express; picks up and delivers on working days only.
    Zto,
}

impl CarrierId {
    pub const ALL: [CarrierId; 3] = [CarrierId::Sf, CarrierId::Jd, CarrierId::Zto];

    pub fn as_str(self) -> &'static str {
        match self {
            CarrierId::Sf => "sf",
            CarrierId::Jd => "jd",
            CarrierId::Zto => "zto",
        }
    }

    pub fn parse(raw: &str) -> Option<CarrierId> {
        CarrierId::ALL.into_iter().find(|c| c.as_str() == raw)
    }

    pub fn display_name(self) -> &'static str {
        match self {
            CarrierId::Sf => "SF-like express (simulated)",
            CarrierId::Jd => "JD-like logistics (simulated)",
            CarrierId::Zto => "ZTO-like express (simulated)",
        }
    }
}

/// On which days something happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Days {
    Every,
    /// Working days of the official calendar (make-up workdays included, holidays excluded).
    Working,
}

impl Days {
    pub fn includes(self, calendar: &Calendar, date: LocalDate) -> bool {
        match self {
            Days::Every => true,
            Days::Working => calendar.is_working_day(date),
        }
    }
}

/// One service a carrier sells: a level over a reach, with its schedule and price.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CarrierService {
    pub carrier: CarrierId,
    pub level: ServiceLevel,
    /// The farthest great-circle distance served.
    pub max_km: u32,
    /// Only inside the warehouse's own city (prefecture).
    pub same_city_only: bool,
    /// Local minutes at which the carrier collects from a warehouse; empty = on demand
    /// (a rider comes when the parcel is ready).
    pub pickups: &'static [u16],
    pub pickup_days: Days,
    pub delivery_days: Days,
    /// By when (local minute) a parcel is delivered on its delivery day.
    pub deliver_by_minute: u16,
    /// Whether the buyer may book a later two-hour window (预约配送).
    pub schedulable: bool,
    pub base_price: Fen,
    /// Added per started 500 km.
    pub price_per_500km: Fen,
}

const fn fen(raw: i64) -> Fen {
    Fen::from_const(raw)
}

/// The simulated carriers' catalog.
pub const CARRIER_SERVICES: [CarrierService; 7] = [
    CarrierService {
        carrier: CarrierId::Sf,
        level: ServiceLevel::OneHour,
        max_km: 15,
        same_city_only: true,
        pickups: &[],
        pickup_days: Days::Every,
        delivery_days: Days::Every,
        deliver_by_minute: MINUTES_PER_DAY,
        schedulable: false,
        base_price: fen(1_500),
        price_per_500km: fen(0),
    },
    CarrierService {
        carrier: CarrierId::Sf,
        level: ServiceLevel::SameDay,
        max_km: 80,
        same_city_only: true,
        pickups: &[10 * 60, 12 * 60, 14 * 60],
        pickup_days: Days::Every,
        delivery_days: Days::Every,
        deliver_by_minute: 21 * 60,
        schedulable: false,
        base_price: fen(1_200),
        price_per_500km: fen(0),
    },
    CarrierService {
        carrier: CarrierId::Sf,
        level: ServiceLevel::NextDay,
        max_km: 1_500,
        same_city_only: false,
        pickups: &[12 * 60, 18 * 60, 21 * 60],
        pickup_days: Days::Every,
        delivery_days: Days::Every,
        deliver_by_minute: 18 * 60,
        schedulable: true,
        base_price: fen(1_800),
        price_per_500km: fen(300),
    },
    CarrierService {
        carrier: CarrierId::Jd,
        level: ServiceLevel::SameDay,
        max_km: 50,
        same_city_only: true,
        pickups: &[11 * 60 + 30, 13 * 60],
        pickup_days: Days::Every,
        delivery_days: Days::Every,
        deliver_by_minute: 22 * 60,
        schedulable: true,
        base_price: fen(900),
        price_per_500km: fen(0),
    },
    CarrierService {
        carrier: CarrierId::Jd,
        level: ServiceLevel::NextDay,
        max_km: 800,
        same_city_only: false,
        pickups: &[17 * 60, 20 * 60],
        pickup_days: Days::Every,
        delivery_days: Days::Every,
        deliver_by_minute: 22 * 60,
        schedulable: true,
        base_price: fen(1_000),
        price_per_500km: fen(200),
    },
    CarrierService {
        carrier: CarrierId::Jd,
        level: ServiceLevel::Standard,
        max_km: 6_000,
        same_city_only: false,
        pickups: &[20 * 60],
        pickup_days: Days::Every,
        delivery_days: Days::Every,
        deliver_by_minute: 22 * 60,
        schedulable: true,
        base_price: fen(800),
        price_per_500km: fen(100),
    },
    CarrierService {
        carrier: CarrierId::Zto,
        level: ServiceLevel::Standard,
        max_km: 6_000,
        same_city_only: false,
        pickups: &[18 * 60],
        pickup_days: Days::Working,
        delivery_days: Days::Working,
        deliver_by_minute: 20 * 60,
        schedulable: false,
        base_price: fen(500),
        price_per_500km: fen(50),
    },
];

impl CarrierService {
    pub fn price_for(&self, km: u32) -> Fen {
        let bands = i64::from(km.div_ceil(500));
        self.price_per_500km
            .checked_mul(bands)
            .and_then(|distance| self.base_price.checked_add(distance))
            .expect("a carrier price list is far from overflow")
    }

    /// Days in transit for standard and next-day services; 0 for same-city services.
    pub fn transit_days(&self, km: u32) -> i32 {
        match self.level {
            ServiceLevel::OneHour | ServiceLevel::SameDay => 0,
            ServiceLevel::NextDay => 1,
            ServiceLevel::Standard => match km {
                0..=300 => 1,
                301..=800 => 2,
                801..=1_500 => 3,
                1_501..=2_500 => 4,
                _ => 5,
            },
        }
    }
}

/// A warehouse's opening hours in local minutes: one or more shifts `[start, end)`. A
/// 24-hour warehouse has the one shift `[0, 1440)`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OperatingHours {
    pub shifts: Vec<Shift>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shift {
    pub start_minute: u16,
    pub end_minute: u16,
}

impl OperatingHours {
    pub fn around_the_clock() -> OperatingHours {
        OperatingHours {
            shifts: vec![Shift {
                start_minute: 0,
                end_minute: MINUTES_PER_DAY,
            }],
        }
    }

    /// Whether the warehouse works during the local hour starting at `hour_minute`
    /// (processing capacity is booked by the hour, so a shift counts the hours it starts in).
    pub fn open_in_hour(&self, hour_minute: u16) -> bool {
        self.shifts
            .iter()
            .any(|s| s.start_minute < hour_minute + 60 && hour_minute < s.end_minute)
    }

    /// Valid: 1–4 shifts, each non-empty, inside the day, in order, not overlapping.
    pub fn is_valid(&self) -> bool {
        !self.shifts.is_empty()
            && self.shifts.len() <= 4
            && self
                .shifts
                .iter()
                .all(|s| s.start_minute < s.end_minute && s.end_minute <= MINUTES_PER_DAY)
            && self.shifts.windows(2).all(|w| w[0].end_minute <= w[1].start_minute)
    }
}

/// Where a cutoff applies, from the warehouse's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CutoffRegion {
    /// Any destination.
    Any,
    /// Destinations in the warehouse's province.
    SameProvince,
    /// Destinations in the warehouse's city (prefecture).
    SameCity,
}

/// The latest local time at which an order paid that day still leaves that day with `level`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CutoffTime {
    pub level: ServiceLevel,
    pub region: CutoffRegion,
    /// Minutes after local midnight; an order paid at or before it makes the day.
    pub minute: u16,
}

/// How a warehouse works, as its merchant configured it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FulfillmentSettings {
    pub hours: OperatingHours,
    /// Orders the warehouse can pick and pack per hour.
    pub orders_per_hour: u32,
    /// …and per local day.
    pub orders_per_day: u32,
    /// A level without a cutoff is not offered from this warehouse.
    pub cutoffs: Vec<CutoffTime>,
    /// Whether it works on public holidays (weekends always count as days).
    pub works_holidays: bool,
    /// Carriers that collect here (all when empty).
    pub carriers: Vec<CarrierId>,
}

/// The most orders per hour a warehouse may declare.
pub const ORDERS_PER_HOUR_MAX: u32 = 1_000_000;

/// The most cutoffs a warehouse may set.
pub const CUTOFFS_MAX: usize = 16;

/// Why a warehouse's settings were refused, checked in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SettingsProblem {
    /// Shifts must be 1 to 4 non-overlapping ranges within the day, in order.
    Shifts,
    /// `orders_per_hour` is not 1 to [`ORDERS_PER_HOUR_MAX`].
    OrdersPerHour,
    /// `orders_per_day` is not 1 to 24 × [`ORDERS_PER_HOUR_MAX`].
    OrdersPerDay,
    /// More than [`CUTOFFS_MAX`] cutoffs.
    TooManyCutoffs,
    /// A cutoff minute past [`MINUTES_PER_DAY`].
    CutoffMinute,
    /// Two cutoffs for the same level and region.
    DuplicateCutoff,
    /// A carrier listed twice.
    DuplicateCarrier,
}

impl FulfillmentSettings {
    /// What a warehouse does until its merchant says otherwise: a day shift, next-day and
    /// standard service, and same-day inside its city for orders paid by 11:00.
    pub fn standard() -> FulfillmentSettings {
        FulfillmentSettings {
            hours: OperatingHours {
                shifts: vec![Shift {
                    start_minute: 8 * 60,
                    end_minute: 22 * 60,
                }],
            },
            orders_per_hour: 500,
            orders_per_day: 6_000,
            cutoffs: vec![
                CutoffTime {
                    level: ServiceLevel::SameDay,
                    region: CutoffRegion::SameCity,
                    minute: 11 * 60,
                },
                CutoffTime {
                    level: ServiceLevel::NextDay,
                    region: CutoffRegion::Any,
                    minute: 16 * 60,
                },
                CutoffTime {
                    level: ServiceLevel::Standard,
                    region: CutoffRegion::Any,
                    minute: 17 * 60,
                },
            ],
            works_holidays: true,
            carriers: Vec::new(),
        }
    }

    /// Checks what the type cannot: a reason for the first thing wrong.
    pub fn validate(&self) -> Result<(), SettingsProblem> {
        if !self.hours.is_valid() {
            return Err(SettingsProblem::Shifts);
        }
        if self.orders_per_hour == 0 || self.orders_per_hour > ORDERS_PER_HOUR_MAX {
            return Err(SettingsProblem::OrdersPerHour);
        }
        if self.orders_per_day == 0 || self.orders_per_day > ORDERS_PER_HOUR_MAX.saturating_mul(24) {
            return Err(SettingsProblem::OrdersPerDay);
        }
        if self.cutoffs.len() > CUTOFFS_MAX {
            return Err(SettingsProblem::TooManyCutoffs);
        }
        if self.cutoffs.iter().any(|c| c.minute > MINUTES_PER_DAY) {
            return Err(SettingsProblem::CutoffMinute);
        }
        for (i, a) in self.cutoffs.iter().enumerate() {
            if self.cutoffs[..i]
                .iter()
                .any(|b| b.level == a.level && b.region == a.region)
            {
                return Err(SettingsProblem::DuplicateCutoff);
            }
        }
        if self.carriers.len() > CarrierId::ALL.len() {
            return Err(SettingsProblem::DuplicateCarrier);
        }
        Ok(())
    }

    /// The cutoff for `level` to a destination, the most specific region first.
    pub fn cutoff_for(&self, level: ServiceLevel, same_city: bool, same_province: bool) -> Option<u16> {
        let mut best: Option<(u8, u16)> = None;
        for cutoff in self.cutoffs.iter().filter(|c| c.level == level) {
            let rank = match cutoff.region {
                CutoffRegion::SameCity if same_city => 3,
                CutoffRegion::SameProvince if same_province => 2,
                CutoffRegion::Any => 1,
                _ => continue,
            };
            if best.is_none_or(|(r, _)| rank > r) {
                best = Some((rank, cutoff.minute));
            }
        }
        best.map(|(_, minute)| minute)
    }

    pub fn uses_carrier(&self, carrier: CarrierId) -> bool {
        self.carriers.is_empty() || self.carriers.contains(&carrier)
    }
}

/// A warehouse as the fulfillment rules see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WarehouseSite {
    pub id: WarehouseId,
    pub location: Adcode,
    pub point: MicroDegrees,
    pub settings: FulfillmentSettings,
}

impl WarehouseSite {
    /// A site at `location`: its point is the division's, or the nearest enclosing division
    /// that has one (a 市辖区 placeholder takes its city's point). `None` when no enclosing
    /// division has a point.
    pub fn new(id: WarehouseId, location: Adcode, settings: FulfillmentSettings) -> Option<WarehouseSite> {
        Some(WarehouseSite {
            id,
            location,
            point: point_of(location)?,
            settings,
        })
    }
}

/// The representative point of a division, falling back to its city's, then its province's.
pub fn point_of(adcode: Adcode) -> Option<MicroDegrees> {
    adcode
        .division()
        .and_then(|d| d.point)
        .or_else(|| adcode.city().division().and_then(|d| d.point))
        .or_else(|| adcode.province().division().and_then(|d| d.point))
}

/// Great-circle (haversine) distance in whole kilometres, rounded up. Floating point is
/// confined here: the distance ranks warehouses and picks a distance band, it is never money.
#[allow(clippy::float_arithmetic)]
pub fn great_circle_km(a: MicroDegrees, b: MicroDegrees) -> u32 {
    const EARTH_RADIUS_KM: f64 = 6_371.0;
    let to_rad = |micro: i64| (micro as f64 / 1_000_000.0).to_radians();
    let (lat1, lat2) = (to_rad(a.latitude), to_rad(b.latitude));
    let dlat = lat2 - lat1;
    let dlon = to_rad(b.longitude) - to_rad(a.longitude);
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    let km = 2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin();
    km.ceil() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(adcode: &str) -> MicroDegrees {
        point_of(Adcode::parse(adcode).expect("known")).expect("has a point")
    }

    #[test]
    fn distances_are_great_circle_kilometres() {
        let shanghai_huangpu = point("310101000000");
        let beijing_dongcheng = point("110101000000");
        let km = great_circle_km(shanghai_huangpu, beijing_dongcheng);
        assert!(
            (1_050..=1_090).contains(&km),
            "Shanghai–Beijing is about 1 070 km, got {km}"
        );
        assert_eq!(great_circle_km(shanghai_huangpu, shanghai_huangpu), 0);
    }

    #[test]
    fn the_most_specific_cutoff_applies() {
        let mut settings = FulfillmentSettings::standard();
        settings.cutoffs.push(CutoffTime {
            level: ServiceLevel::NextDay,
            region: CutoffRegion::SameProvince,
            minute: 19 * 60,
        });
        assert_eq!(settings.cutoff_for(ServiceLevel::NextDay, false, false), Some(16 * 60));
        assert_eq!(settings.cutoff_for(ServiceLevel::NextDay, true, true), Some(19 * 60));
        assert_eq!(settings.cutoff_for(ServiceLevel::SameDay, false, true), None);
        assert_eq!(settings.cutoff_for(ServiceLevel::SameDay, true, true), Some(11 * 60));
        assert_eq!(settings.cutoff_for(ServiceLevel::OneHour, true, true), None);
    }

    #[test]
    fn settings_are_validated() {
        assert_eq!(FulfillmentSettings::standard().validate(), Ok(()));
        let mut overlapping = FulfillmentSettings::standard();
        overlapping.hours.shifts.push(Shift {
            start_minute: 21 * 60,
            end_minute: 23 * 60,
        });
        assert!(overlapping.validate().is_err());
        let mut no_capacity = FulfillmentSettings::standard();
        no_capacity.orders_per_hour = 0;
        assert!(no_capacity.validate().is_err());
    }

    #[test]
    fn prices_grow_by_distance_band() {
        let sf_next_day = CARRIER_SERVICES[2];
        assert_eq!(sf_next_day.price_for(0).get(), 1_800);
        assert_eq!(sf_next_day.price_for(1).get(), 2_100);
        assert_eq!(sf_next_day.price_for(501).get(), 2_400);
    }
}
