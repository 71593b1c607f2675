//! Processing capacity: orders each warehouse has taken on per local hour and per local day.
//!
//! Capacity is booked by the hour in which the warehouse starts on an order (its *slot*). An
//! order paid while the current hour is full waits for the next open hour with room — which
//! may be after a cutoff, and so changes the promise (see `promise`).

use crate::fulfillment::calendar::{Calendar, LocalDate, local_ms_of_day};
use crate::fulfillment::network::WarehouseSite;
use crate::ids::WarehouseId;
use crate::time::Timestamp;
use std::collections::HashMap;

const HOUR_MS: i64 = 3_600_000;
/// How far ahead a slot is searched: a warehouse closed (or full) for longer offers nothing.
pub const SLOT_SEARCH_HOURS: i64 = 8 * 24;

/// When a warehouse starts on an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    /// The start of the local hour whose capacity the order takes.
    pub hour: Timestamp,
    /// When work begins: the order's own time if its hour has room, else the hour's start.
    pub begins: Timestamp,
    /// Orders the hour (and the day) can still take, before this one.
    pub headroom: u32,
}

/// Orders booked per (warehouse, hour) and per (warehouse, local day).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CapacityBook {
    /// Looked up on every promise and booking, never iterated into output.
    hours: HashMap<(WarehouseId, i64), u32>,
    /// Looked up (and pruned by `retain`), never iterated into output.
    days: HashMap<(WarehouseId, LocalDate), u32>,
}

/// The start of the hour containing `at` (Shanghai is a whole number of hours from UTC).
pub fn hour_of(at: Timestamp) -> Timestamp {
    Timestamp::from_unix_ms(at.unix_ms().div_euclid(HOUR_MS) * HOUR_MS)
}

impl CapacityBook {
    pub fn used_in_hour(&self, warehouse: WarehouseId, hour: Timestamp) -> u32 {
        self.hours
            .get(&(warehouse, hour.unix_ms() / HOUR_MS))
            .copied()
            .unwrap_or(0)
    }

    pub fn used_on_day(&self, warehouse: WarehouseId, date: LocalDate) -> u32 {
        self.days.get(&(warehouse, date)).copied().unwrap_or(0)
    }

    /// Takes one order of capacity in the slot's hour and day.
    pub fn book(&mut self, warehouse: WarehouseId, hour: Timestamp) {
        *self.hours.entry((warehouse, hour.unix_ms() / HOUR_MS)).or_default() += 1;
        *self.days.entry((warehouse, LocalDate::of(hour))).or_default() += 1;
    }

    /// Gives back one order of capacity (an order re-dispatched elsewhere).
    ///
    /// # Panics
    ///
    /// If the hour's or the day's count is already zero: giving back what was never taken is a bug.
    pub fn unbook(&mut self, warehouse: WarehouseId, hour: Timestamp) {
        if let Some(used) = self.hours.get_mut(&(warehouse, hour.unix_ms() / HOUR_MS)) {
            *used = used
                .checked_sub(1)
                .expect("capacity unbooked below zero: an hour gave back an order it never booked");
        }
        if let Some(used) = self.days.get_mut(&(warehouse, LocalDate::of(hour))) {
            *used = used
                .checked_sub(1)
                .expect("capacity unbooked below zero: a day gave back an order it never booked");
        }
    }

    /// Restores a count read back from storage.
    pub fn restore(&mut self, warehouse: WarehouseId, hour: Timestamp, orders: u32) {
        let hour = hour_of(hour);
        *self.hours.entry((warehouse, hour.unix_ms() / HOUR_MS)).or_default() += orders;
        *self.days.entry((warehouse, LocalDate::of(hour))).or_default() += orders;
    }

    /// Forgets hours and days that ended before `now`'s day: nothing books into the past.
    pub fn forget_before(&mut self, now: Timestamp) {
        let today = LocalDate::of(now);
        let first_hour = today.start().unix_ms() / HOUR_MS;
        self.hours.retain(|(_, hour), _| *hour >= first_hour);
        self.days.retain(|(_, date), _| *date >= today);
    }

    /// The first hour at or after `from` in which `site` is open and has room in the hour and
    /// its day; `None` within [`SLOT_SEARCH_HOURS`].
    pub fn next_slot(&self, site: &WarehouseSite, calendar: &Calendar, from: Timestamp) -> Option<Slot> {
        let settings = &site.settings;
        let mut hour = hour_of(from);
        for _ in 0..SLOT_SEARCH_HOURS {
            let date = LocalDate::of(hour);
            let open_day = settings.works_holidays || !calendar.is_holiday(date);
            let minute = (local_ms_of_day(hour) / 60_000) as u16;
            if open_day && settings.hours.open_in_hour(minute) {
                let hour_left = settings
                    .orders_per_hour
                    .saturating_sub(self.used_in_hour(site.id, hour));
                let day_left = settings.orders_per_day.saturating_sub(self.used_on_day(site.id, date));
                let headroom = hour_left.min(day_left);
                if headroom > 0 {
                    let shift_start = settings
                        .hours
                        .shifts
                        .iter()
                        .find(|s| s.start_minute < minute + 60 && minute < s.end_minute)
                        .map(|s| s.start_minute.max(minute))
                        .unwrap_or(minute);
                    let opens = date.at_minute(shift_start);
                    return Some(Slot {
                        hour,
                        begins: from.max(opens),
                        headroom,
                    });
                }
                if day_left == 0 {
                    // The day is full: jump to the next day's first hour.
                    hour = date.plus_days(1).start();
                    continue;
                }
            }
            hour = Timestamp::from_unix_ms(hour.unix_ms() + HOUR_MS);
        }
        None
    }
}
