//! Settlement days. A Chinese provider closes its books on the Asia/Shanghai calendar day, which is
//! UTC+8 all year (no daylight saving), so a fixed offset is exact.

use crate::error::SimpayError;
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::{self, TimeZone};

const SHANGHAI_OFFSET_HOURS: i8 = 8;
const DAY_MS: i64 = 86_400_000;

fn shanghai() -> TimeZone {
    TimeZone::fixed(tz::offset(SHANGHAI_OFFSET_HOURS))
}

/// The Shanghai calendar day (`YYYY-MM-DD`) of a unix-millisecond instant, as statements name days.
/// Instants outside the years -9999..=9999 are clamped to the nearest representable one.
pub fn shanghai_day(at_ms: i64) -> String {
    let at = Timestamp::from_millisecond(at_ms).unwrap_or(if at_ms < 0 { Timestamp::MIN } else { Timestamp::MAX });
    at.to_zoned(shanghai()).date().to_string()
}

/// The half-open range `[start, end)` of unix milliseconds covered by a Shanghai day `YYYY-MM-DD`.
pub(crate) fn shanghai_day_span_ms(day: &str) -> Result<(i64, i64), SimpayError> {
    let refuse = || SimpayError::InvalidRequest(format!("day {day:?} is not a date YYYY-MM-DD"));
    // The shape is checked first because the date parser also accepts longer ISO 8601 forms.
    let shaped = day.len() == 10
        && day.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if !shaped {
        return Err(refuse());
    }
    let date: Date = day.parse().map_err(|_| refuse())?;
    let start_ms = date
        .to_zoned(shanghai())
        .map_err(|_| refuse())?
        .timestamp()
        .as_millisecond();
    Ok((start_ms, start_ms + DAY_MS))
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2024-06-18T16:00:00Z is midnight of 2024-06-19 in Shanghai.
    const MIDNIGHT_JUNE_19_MS: i64 = 1_718_726_400_000;

    #[test]
    fn a_shanghai_day_starts_at_sixteen_hours_utc_the_day_before() {
        assert_eq!(
            shanghai_day_span_ms("2024-06-19"),
            Ok((MIDNIGHT_JUNE_19_MS, MIDNIGHT_JUNE_19_MS + DAY_MS))
        );
        assert_eq!(shanghai_day(MIDNIGHT_JUNE_19_MS), "2024-06-19");
        assert_eq!(shanghai_day(MIDNIGHT_JUNE_19_MS - 1), "2024-06-18");
        assert_eq!(shanghai_day(MIDNIGHT_JUNE_19_MS + DAY_MS - 1), "2024-06-19");
    }

    #[test]
    fn anything_but_a_real_date_is_refused() {
        for day in [
            "",
            "2024-6-19",
            "2024-06-19T00:00",
            "2024/06/19",
            "2024-02-30",
            "2024-13-01",
            "tomorrow",
        ] {
            assert!(
                matches!(shanghai_day_span_ms(day), Err(SimpayError::InvalidRequest(_))),
                "{day:?} was accepted"
            );
        }
    }
}
