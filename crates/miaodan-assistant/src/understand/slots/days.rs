//! The days a message names, relative to today in Asia/Shanghai: 前天, 3天前, 上周二, 这周,
//! 上个月, 12月1日, yesterday, last week, next Tuesday, Dec 1.
//!
//! Weeks run Monday to Sunday. A weekday alone (周二, on Tuesday) is the most recent one, today
//! included; 上周二 / last Tuesday is the Tuesday of last week, 下周二 / next Tuesday of next
//! week. A date without a year is the nearest one (12月28日 read on 3 January is last year's).
//! The rules are tried in order and the first that matches wins, most specific first.

use super::numbers::{ENGLISH, parse_english, parse_number};
use crate::understand::DaySpan;
use miaodan_domain::time::shanghai::{LocalDate, Weekday};
use regex::{Captures, Regex};
use std::sync::LazyLock;

type Rule = fn(&Captures<'_>, LocalDate) -> Option<DaySpan>;

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

static RULES: LazyLock<Vec<(Regex, Rule)>> = LazyLock::new(|| {
    let weekday_zh = "(?:周|星期|礼拜)([一二三四五六日天1-7])";
    let weekday_en = r"\b(mon|tue|wed|thu|fri|sat|sun)(?:day|sday|nesday|rsday|urday|s|rs|r)?\b";
    let month_en =
        r"\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)(?:uary|ruary|ch|il|e|y|ust|tember|t|ober|ember)?\.?";
    let number_en = format!("[0-9]+|{}|a", ENGLISH.join("|"));
    let rules: Vec<(String, Rule)> = vec![
        (format!("(上|下|这|本)个?{weekday_zh}"), week_and_weekday_zh),
        (format!(r"\b(last|next|this)\s+{weekday_en}"), week_and_weekday_en),
        ("([0-9]{1,2}|[一二三四五六七八九十]+)月([0-9]{1,2}|[一二三四五六七八九十]+)[日号]?".to_string(), date_zh),
        (r"(?:^|[^0-9.¥$])([0-9]{1,2})[-/.]([0-9]{1,2})(?:$|[^0-9元块%])".to_string(), date_numeric),
        ("(^|[^0-9#])([0-9]{1,2}|[一二三四五六七八九十]+)[号日](.?)".to_string(), day_of_month),
        (format!(r"{month_en}\s*([0-9]{{1,2}})(?:st|nd|rd|th)?\b"), date_month_day),
        (format!(r"\b([0-9]{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{month_en}"), date_day_month),
        ("([0-9]+|[一二两三四五六七八九十]+)天(?:之|以)?前".to_string(), days_ago_zh),
        (format!(r"\b({number_en})\s+days?\s+ago\b"), days_ago_en),
        (r"大前天|前天|昨天|昨日|昨晚|今天|今日|今晚|大后天|后天|明天|明日|明晚|the day before yesterday|the day after tomorrow|yesterday|today|tonight|tomorrow".to_string(), day_word),
        (weekday_zh.to_string(), weekday_alone),
        (weekday_en.to_string(), weekday_alone),
        ("(上|下|这|本)(?:个)?(?:周|星期|礼拜)|(last|next|this) week".to_string(), week),
        ("(上|这|本|下)个?月|(last|this|next) month".to_string(), month),
    ];
    rules
        .into_iter()
        .map(|(pattern, rule)| (Regex::new(&pattern).expect("the day patterns are valid"), rule))
        .collect()
});

/// The days named in a normalised message, if any.
pub fn days(text: &str, today: LocalDate) -> Option<DaySpan> {
    RULES
        .iter()
        .find_map(|(pattern, rule)| pattern.captures_iter(text).find_map(|c| rule(&c, today)))
}

fn one(day: LocalDate) -> Option<DaySpan> {
    Some(DaySpan { from: day, to: day })
}

fn weekday_index(day: LocalDate) -> i32 {
    match day.weekday() {
        Weekday::Monday => 0,
        Weekday::Tuesday => 1,
        Weekday::Wednesday => 2,
        Weekday::Thursday => 3,
        Weekday::Friday => 4,
        Weekday::Saturday => 5,
        Weekday::Sunday => 6,
    }
}

fn monday_of(day: LocalDate) -> LocalDate {
    day.plus_days(-weekday_index(day))
}

/// Monday is 0; from 一…日 / 1…7 or an English prefix.
fn weekday_named(name: &str) -> Option<i32> {
    let zh = ["一", "二", "三", "四", "五", "六", "日"];
    let en = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let digits = ["1", "2", "3", "4", "5", "6", "7"];
    [&zh[..], &en[..], &digits[..]]
        .iter()
        .find_map(|names| names.iter().position(|n| *n == name))
        .or((name == "天").then_some(6))
        .map(|n| n as i32)
}

/// How many weeks from this one: 上/last −1, 这/本/this 0, 下/next +1.
fn week_offset(word: &str) -> i32 {
    match word {
        "上" | "last" => -1,
        "下" | "next" => 1,
        _ => 0,
    }
}

fn in_week(today: LocalDate, offset: &str, weekday: &str) -> Option<DaySpan> {
    let monday = monday_of(today).plus_days(7 * week_offset(offset));
    one(monday.plus_days(weekday_named(weekday)?))
}

fn week_and_weekday_zh(c: &Captures<'_>, today: LocalDate) -> Option<DaySpan> {
    in_week(today, c.get(1)?.as_str(), c.get(2)?.as_str())
}

fn week_and_weekday_en(c: &Captures<'_>, today: LocalDate) -> Option<DaySpan> {
    in_week(today, c.get(1)?.as_str(), c.get(2)?.as_str())
}

fn weekday_alone(c: &Captures<'_>, today: LocalDate) -> Option<DaySpan> {
    let weekday = weekday_named(c.get(1)?.as_str())?;
    one(today.plus_days(-(weekday_index(today) - weekday).rem_euclid(7)))
}

fn week(c: &Captures<'_>, today: LocalDate) -> Option<DaySpan> {
    let word = c.get(1).or(c.get(2))?.as_str();
    let monday = monday_of(today).plus_days(7 * week_offset(word));
    Some(DaySpan {
        from: monday,
        to: monday.plus_days(6),
    })
}

fn month(c: &Captures<'_>, today: LocalDate) -> Option<DaySpan> {
    let word = c.get(1).or(c.get(2))?.as_str();
    let (year, month, _) = today.ymd();
    let index = year * 12 + month as i32 - 1 + week_offset(word);
    let first_of = |index: i32| LocalDate::from_ymd(index.div_euclid(12), index.rem_euclid(12) as u32 + 1, 1);
    Some(DaySpan {
        from: first_of(index)?,
        to: first_of(index + 1)?.plus_days(-1),
    })
}

fn day_word(c: &Captures<'_>, today: LocalDate) -> Option<DaySpan> {
    let offset = match c.get(0)?.as_str() {
        "大前天" => -3,
        "前天" | "the day before yesterday" => -2,
        "昨天" | "昨日" | "昨晚" | "yesterday" => -1,
        "明天" | "明日" | "明晚" | "tomorrow" => 1,
        "后天" | "the day after tomorrow" => 2,
        "大后天" => 3,
        _ => 0,
    };
    one(today.plus_days(offset))
}

fn days_ago_zh(c: &Captures<'_>, today: LocalDate) -> Option<DaySpan> {
    let n = parse_number(c.get(1)?.as_str()).filter(|n| *n <= 366)?;
    one(today.plus_days(-(n as i32)))
}

fn days_ago_en(c: &Captures<'_>, today: LocalDate) -> Option<DaySpan> {
    let word = c.get(1)?.as_str();
    let n = if word == "a" {
        1
    } else {
        parse_english(word).filter(|n| *n <= 366)?
    };
    one(today.plus_days(-(n as i32)))
}

fn date_zh(c: &Captures<'_>, today: LocalDate) -> Option<DaySpan> {
    nearest_date(
        today,
        parse_number(c.get(1)?.as_str())?,
        parse_number(c.get(2)?.as_str())?,
    )
}

fn date_numeric(c: &Captures<'_>, today: LocalDate) -> Option<DaySpan> {
    nearest_date(
        today,
        c.get(1)?.as_str().parse().ok()?,
        c.get(2)?.as_str().parse().ok()?,
    )
}

fn date_month_day(c: &Captures<'_>, today: LocalDate) -> Option<DaySpan> {
    let name = c.get(1)?.as_str();
    let month = MONTHS.iter().position(|m| *m == name)? as i64 + 1;
    nearest_date(today, month, c.get(2)?.as_str().parse().ok()?)
}

fn date_day_month(c: &Captures<'_>, today: LocalDate) -> Option<DaySpan> {
    let name = c.get(2)?.as_str();
    let month = MONTHS.iter().position(|m| *m == name)? as i64 + 1;
    nearest_date(today, month, c.get(1)?.as_str().parse().ok()?)
}

/// 1号 / 15日 alone: that day of this month, or of the month before or after, whichever is
/// nearest. Not a house number (路88号), an order (12号订单), a building or a line.
fn day_of_month(c: &Captures<'_>, today: LocalDate) -> Option<DaySpan> {
    let before = c.get(1)?.as_str();
    let after = c.get(3)?.as_str();
    let street = ["路", "街", "弄", "道", "巷", "村", "区"].contains(&before);
    let not_a_day = [
        "订", "单", "内", "之", "楼", "栋", "门", "线", "码", "店", "床", "房", "室", "座",
    ]
    .contains(&after);
    if street || not_a_day {
        return None;
    }
    let day = u32::try_from(parse_number(c.get(2)?.as_str())?).ok()?;
    let (year, month, _) = today.ymd();
    let index = year * 12 + month as i32 - 1;
    let distance = |d: LocalDate| (d.days_since_epoch() - today.days_since_epoch()).abs();
    (index - 1..=index + 1)
        .filter_map(|i| LocalDate::from_ymd(i.div_euclid(12), i.rem_euclid(12) as u32 + 1, day))
        .min_by_key(|d| distance(*d))
        .and_then(one)
}

/// The date `month`/`day` of the year that puts it nearest to today.
fn nearest_date(today: LocalDate, month: i64, day: i64) -> Option<DaySpan> {
    let (month, day) = (u32::try_from(month).ok()?, u32::try_from(day).ok()?);
    let (year, _, _) = today.ymd();
    let distance = |d: LocalDate| (d.days_since_epoch() - today.days_since_epoch()).abs();
    [year - 1, year, year + 1]
        .into_iter()
        .filter_map(|y| LocalDate::from_ymd(y, month, day))
        .min_by_key(|d| distance(*d))
        .and_then(one)
}

#[cfg(test)]
mod tests {
    use super::days;
    use crate::understand::DaySpan;
    use miaodan_domain::time::shanghai::LocalDate;

    /// Saturday 5 December 2026.
    fn today() -> LocalDate {
        LocalDate::from_ymd(2026, 12, 5).expect("a date")
    }

    fn day(m: u32, d: u32) -> LocalDate {
        LocalDate::from_ymd(2026, m, d).expect("a date")
    }

    fn span(text: &str) -> Option<(LocalDate, LocalDate)> {
        days(&text.to_lowercase(), today()).map(|DaySpan { from, to }| (from, to))
    }

    #[test]
    fn single_days_named_relative_to_today() {
        let cases = [
            ("今天能到吗", day(12, 5)),
            ("昨天买的", day(12, 4)),
            ("前天下的单", day(12, 3)),
            ("大前天", day(12, 2)),
            ("3天前付的款", day(12, 2)),
            ("三天前", day(12, 2)),
            ("yesterday", day(12, 4)),
            ("the day before yesterday", day(12, 3)),
            ("I paid 3 days ago", day(12, 2)),
            ("two days ago", day(12, 3)),
            ("tomorrow?", day(12, 6)),
        ];
        for (text, expected) in cases {
            assert_eq!(span(text), Some((expected, expected)), "{text}");
        }
    }

    #[test]
    fn weekdays_are_the_most_recent_or_the_one_of_the_week_named() {
        let cases = [
            ("周二买的", day(12, 1)),
            ("星期六", day(12, 5)),
            ("礼拜天", day(11, 29)),
            ("上周二", day(11, 24)),
            ("上个星期五", day(11, 27)),
            ("下周二能到吗", day(12, 8)),
            ("on Tuesday", day(12, 1)),
            ("last tuesday", day(11, 24)),
            ("by next Tuesday?", day(12, 8)),
        ];
        for (text, expected) in cases {
            assert_eq!(span(text), Some((expected, expected)), "{text}");
        }
    }

    #[test]
    fn weeks_run_monday_to_sunday_and_months_whole() {
        assert_eq!(span("上周买的"), Some((day(11, 23), day(11, 29))));
        assert_eq!(span("上礼拜"), Some((day(11, 23), day(11, 29))));
        assert_eq!(span("last week"), Some((day(11, 23), day(11, 29))));
        assert_eq!(span("这周"), Some((day(11, 30), day(12, 6))));
        assert_eq!(span("this week"), Some((day(11, 30), day(12, 6))));
        assert_eq!(span("上个月"), Some((day(11, 1), day(11, 30))));
        assert_eq!(span("last month"), Some((day(11, 1), day(11, 30))));
    }

    #[test]
    fn dates_are_read_in_the_nearest_year() {
        for text in [
            "12月1日",
            "12月1号",
            "12-01",
            "12.1",
            "Dec 1",
            "1 Dec",
            "december 1st",
            "十二月一日",
        ] {
            assert_eq!(span(text), Some((day(12, 1), day(12, 1))), "{text}");
        }
        assert_eq!(span("1号下的单"), Some((day(12, 1), day(12, 1))));
        assert_eq!(span("28号买的"), Some((day(11, 28), day(11, 28))));
        let january = LocalDate::from_ymd(2027, 1, 3).expect("a date");
        assert_eq!(
            days("12月28日", january).map(|s| s.from),
            LocalDate::from_ymd(2026, 12, 28)
        );
    }

    #[test]
    fn prices_and_plain_numbers_are_not_dates() {
        for text in [
            "12.5元",
            "¥12.1",
            "订单12",
            "2件",
            "买了一个",
            "12号订单",
            "文三路10号",
            "3号楼",
        ] {
            assert_eq!(span(text), None, "{text}");
        }
    }
}
