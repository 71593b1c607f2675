//! The Asia/Shanghai calendar: the one place the platform turns an instant into a local date
//! or minute. Cutoffs, pickup schedules, delivery days, the one-tap day's spending and the
//! day's reconciliation all count in it.
//!
//! Shanghai has kept UTC+8 without daylight saving since 1991, so a local date and minute are
//! plain integer arithmetic on the instant — no time-zone database in the hot path.

use super::Timestamp;
use std::fmt;

/// Asia/Shanghai's offset from UTC.
pub const SHANGHAI_OFFSET_MS: i64 = 8 * 3600 * 1000;
pub const DAY_MS: i64 = 24 * 3600 * 1000;
pub const MINUTES_PER_DAY: u16 = 24 * 60;

/// A calendar date in Asia/Shanghai, as days since 1970-01-01.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct LocalDate(i32);

/// Monday is 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weekday {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl LocalDate {
    /// The date of `year-month-day`, if it exists.
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Option<LocalDate> {
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        // Howard Hinnant's days_from_civil.
        let y = if month <= 2 { year - 1 } else { year };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = month as i32;
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i32 - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        Some(LocalDate(era * 146_097 + doe - 719_468))
    }

    /// Parses `YYYY-MM-DD`.
    pub fn parse(text: &str) -> Option<LocalDate> {
        let mut parts = text.split('-');
        let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return None;
        }
        // Digits only: `parse` would also take a sign (`+026`).
        if !text.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
            return None;
        }
        LocalDate::from_ymd(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
    }

    /// The Shanghai date of an instant.
    pub fn of(at: Timestamp) -> LocalDate {
        LocalDate((at.unix_ms() + SHANGHAI_OFFSET_MS).div_euclid(DAY_MS) as i32)
    }

    pub fn days_since_epoch(self) -> i32 {
        self.0
    }

    pub fn from_days_since_epoch(days: i32) -> LocalDate {
        LocalDate(days)
    }

    /// (year, month, day).
    pub fn ymd(self) -> (i32, u32, u32) {
        // Howard Hinnant's civil_from_days.
        let z = self.0 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i32::from(month <= 2);
        (year, month, day)
    }

    pub fn weekday(self) -> Weekday {
        // 1970-01-01 was a Thursday.
        match (self.0 + 3).rem_euclid(7) {
            0 => Weekday::Monday,
            1 => Weekday::Tuesday,
            2 => Weekday::Wednesday,
            3 => Weekday::Thursday,
            4 => Weekday::Friday,
            5 => Weekday::Saturday,
            _ => Weekday::Sunday,
        }
    }

    pub fn plus_days(self, days: i32) -> LocalDate {
        LocalDate(self.0 + days)
    }

    /// The instant of `minute` (minutes after local midnight, up to 1440 = the next midnight)
    /// on this date.
    pub fn at_minute(self, minute: u16) -> Timestamp {
        Timestamp::from_unix_ms(i64::from(self.0) * DAY_MS - SHANGHAI_OFFSET_MS + i64::from(minute) * 60_000)
    }

    /// Local midnight at the start of this date.
    pub fn start(self) -> Timestamp {
        self.at_minute(0)
    }
}

impl fmt::Display for LocalDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// Milliseconds after local midnight of an instant's Shanghai date.
pub fn local_ms_of_day(at: Timestamp) -> i64 {
    (at.unix_ms() + SHANGHAI_OFFSET_MS).rem_euclid(DAY_MS)
}

/// Whole minutes after local midnight (0..1440).
pub fn local_minute(at: Timestamp) -> u16 {
    (local_ms_of_day(at) / 60_000) as u16
}

/// The instants `[start, end)` of a Shanghai date.
pub fn day_bounds(date: LocalDate) -> (Timestamp, Timestamp) {
    (date.start(), date.plus_days(1).start())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shanghai_days_turn_at_16_utc_and_their_bounds_say_so() {
        let day0 = LocalDate::of(Timestamp::from_unix_ms(16 * 3_600_000 - 1));
        let day1 = LocalDate::of(Timestamp::from_unix_ms(16 * 3_600_000));
        assert_eq!((day0.days_since_epoch(), day1.days_since_epoch()), (0, 1));
        let (start, end) = day_bounds(day1);
        assert_eq!((start.unix_ms(), end.unix_ms()), (16 * 3_600_000, 40 * 3_600_000));
        assert_eq!(day1.to_string(), "1970-01-02");
    }
}
