//! The business calendar of mainland China, in Asia/Shanghai.
//!
//! Cutoffs, pickup schedules and delivery days are rules about the local wall clock. Shanghai
//! has kept UTC+8 without daylight saving since 1991, so a local date and minute are plain
//! integer arithmetic on the instant — no time-zone database in the hot path of a promise.
//! Working days follow the State Council's announcements (`data/china-holidays.csv`): a
//! public holiday is a day off even on a weekday, and a make-up workday (调休) is a working
//! day even on a weekend.

use std::collections::HashMap;
use std::sync::OnceLock;

const HOLIDAYS_CSV: &str = include_str!("../../data/china-holidays.csv");

pub use crate::time::shanghai::{
    LocalDate, MINUTES_PER_DAY, SHANGHAI_OFFSET_MS, Weekday, local_minute, local_ms_of_day,
};

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
    /// Looked up by date, never iterated into output.
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
    use crate::time::Timestamp;

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
