//! The business calendar of mainland China, in Asia/Shanghai.
//!
//! Cutoffs, pickup schedules and delivery days are rules about the local wall clock. Shanghai
//! has kept UTC+8 without daylight saving since 1991, so a local date and minute are plain
//! integer arithmetic on the instant — no time-zone database in the hot path of a promise.
//! Working days follow the State Council's announcements (`data/china-holidays.csv`): a
//! public holiday is a day off even on a weekday, and a make-up workday (调休) is a working
//! day even on a weekend.

use crate::time::Timestamp;
use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

const HOLIDAYS_CSV: &str = include_str!("../../data/china-holidays.csv");

/// Asia/Shanghai's offset from UTC.
pub const SHANGHAI_OFFSET_MS: i64 = 8 * 3600 * 1000;
const DAY_MS: i64 = 24 * 3600 * 1000;
pub const MINUTES_PER_DAY: u16 = 24 * 60;

/// A calendar date in Asia/Shanghai, as days since 1970-01-01.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
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

/// What kind of day a date is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DayKind {
    Workday,
    Weekend,
    /// An official public holiday (法定节假日 and the days off around it).
    Holiday,
    /// A weekend day made a working day to bridge a holiday (调休上班).
    MakeUpWorkday,
}

impl DayKind {
    pub fn is_working(self) -> bool {
        matches!(self, DayKind::Workday | DayKind::MakeUpWorkday)
    }
}

/// The official calendar: the special days; every other day is a workday on Monday–Friday.
#[derive(Clone, Debug, Default)]
pub struct Calendar {
    special: HashMap<LocalDate, DayKind>,
}

impl Calendar {
    /// The calendar compiled from `data/china-holidays.csv`.
    pub fn official() -> &'static Calendar {
        static OFFICIAL: OnceLock<Calendar> = OnceLock::new();
        OFFICIAL.get_or_init(|| {
            let mut special = HashMap::new();
            for line in HOLIDAYS_CSV.lines().skip(1) {
                let mut fields = line.trim().split(',');
                let (Some(date), Some(kind)) = (fields.next(), fields.next()) else {
                    continue;
                };
                let Some(date) = LocalDate::parse(date) else {
                    continue;
                };
                let kind = match kind {
                    "holiday" => DayKind::Holiday,
                    "workday" => DayKind::MakeUpWorkday,
                    _ => continue,
                };
                special.insert(date, kind);
            }
            Calendar { special }
        })
    }

    /// A calendar with only the given special days (tests).
    pub fn with_special_days(days: impl IntoIterator<Item = (LocalDate, DayKind)>) -> Calendar {
        Calendar {
            special: days.into_iter().collect(),
        }
    }

    pub fn day_kind(&self, date: LocalDate) -> DayKind {
        if let Some(kind) = self.special.get(&date) {
            return *kind;
        }
        match date.weekday() {
            Weekday::Saturday | Weekday::Sunday => DayKind::Weekend,
            _ => DayKind::Workday,
        }
    }

    pub fn is_working_day(&self, date: LocalDate) -> bool {
        self.day_kind(date).is_working()
    }

    pub fn is_holiday(&self, date: LocalDate) -> bool {
        self.day_kind(date) == DayKind::Holiday
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> LocalDate {
        LocalDate::parse(text).expect("valid date")
    }

    #[test]
    fn dates_round_trip_through_days_since_epoch() {
        for text in ["1970-01-01", "2000-02-29", "2024-12-31", "2026-11-22", "2100-03-01"] {
            assert_eq!(date(text).to_string(), text);
        }
        assert_eq!(date("1970-01-02").days_since_epoch(), 1);
        assert_eq!(LocalDate::parse("2026-02-29"), None);
        assert_eq!(LocalDate::parse("2026-13-01"), None);
        assert_eq!(LocalDate::parse("26-01-01"), None);
    }

    #[test]
    fn the_local_date_turns_at_shanghai_midnight_not_utc_midnight() {
        // 2026-11-22T15:59:59Z is 23:59:59 in Shanghai; one second later it is the 23rd.
        let before = Timestamp::from_unix_ms(date("2026-11-22").at_minute(MINUTES_PER_DAY).unix_ms() - 1000);
        assert_eq!(LocalDate::of(before).to_string(), "2026-11-22");
        assert_eq!(local_minute(before), 1439);
        let after = before.plus_seconds(1);
        assert_eq!(LocalDate::of(after).to_string(), "2026-11-23");
        assert_eq!(local_minute(after), 0);
        assert_eq!(after.unix_ms(), 1_795_363_200_000, "2026-11-22T16:00:00Z");
    }

    #[test]
    fn weekdays_are_right() {
        assert_eq!(date("2026-11-22").weekday(), Weekday::Sunday);
        assert_eq!(date("2026-11-23").weekday(), Weekday::Monday);
        assert_eq!(date("1970-01-01").weekday(), Weekday::Thursday);
    }

    #[test]
    fn holidays_and_make_up_workdays_come_from_the_official_table() {
        let calendar = Calendar::official();
        // National Day 2026: Thursday 1 October is a holiday; Saturday 10 October is worked.
        assert_eq!(calendar.day_kind(date("2026-10-01")), DayKind::Holiday);
        assert!(
            !calendar.is_working_day(date("2026-10-05")),
            "a Monday inside the holiday"
        );
        assert_eq!(calendar.day_kind(date("2026-10-10")), DayKind::MakeUpWorkday);
        assert!(calendar.is_working_day(date("2026-10-10")));
        // An ordinary week.
        assert_eq!(calendar.day_kind(date("2026-11-23")), DayKind::Workday);
        assert_eq!(calendar.day_kind(date("2026-11-22")), DayKind::Weekend);
    }
}
