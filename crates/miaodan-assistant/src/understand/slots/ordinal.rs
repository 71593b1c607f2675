//! "The second one": 第二个, 第2单, the second, 2nd, or a message that is only a digit 1–9 (an
//! answer to "which one?"). 第二天 and 第二次 count days and times, not items, and "the last
//! one" is left to the dialogue, which knows how many there are.

use super::numbers::parse_number;
use regex::Regex;
use std::sync::LazyLock;

/// The largest ordinal read: no buyer picks the 21st of a list in a chat.
const ORDINAL_MAX: i64 = 20;

static ZH: LazyLock<Regex> =
    LazyLock::new(|| Regex::new("第([0-9]+|[一二两三四五六七八九十]+)(.?)").expect("the ordinal pattern is valid"));

static EN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|1st|2nd|3rd|[4-9]th)\b")
        .expect("the ordinal pattern is valid")
});

/// Months and the words that make "first" a time, not an item.
const NOT_AN_ITEM_NEAR: &[&str] = &[
    "jan",
    "feb",
    "mar",
    "apr",
    "may",
    "jun",
    "jul",
    "aug",
    "sep",
    "oct",
    "nov",
    "dec",
    "time",
    "at first",
    "first of all",
];

/// The ordinal in a normalised message, counting from 1.
pub fn ordinal(text: &str) -> Option<u8> {
    let trimmed = text.trim_matches(|c: char| c.is_ascii_punctuation() || c == ' ');
    if trimmed.len() == 1 && trimmed.bytes().all(|b| (b'1'..=b'9').contains(&b)) {
        return trimmed.parse().ok();
    }
    let zh = ZH.captures_iter(text).find_map(|c| {
        let after = c.get(2).map_or("", |m| m.as_str());
        let counts_time = ["天", "次", "周", "年", "月", "期", "名", "季", "轮"].contains(&after);
        (!counts_time).then(|| parse_number(c.get(1)?.as_str())).flatten()
    });
    let en = || {
        if NOT_AN_ITEM_NEAR.iter().any(|word| text.contains(word)) {
            return None;
        }
        let word = EN.captures(text)?.get(1)?.as_str();
        let words = [
            "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
        ];
        words
            .iter()
            .position(|w| *w == word)
            .map(|n| n as i64 + 1)
            .or_else(|| word[..1].parse().ok())
    };
    zh.or_else(en)
        .filter(|n| (1..=ORDINAL_MAX).contains(n))
        .and_then(|n| u8::try_from(n).ok())
}

#[cfg(test)]
mod tests {
    use super::ordinal;

    #[test]
    fn ordinals_are_read_in_both_languages() {
        let cases = [
            ("第一个", 1),
            ("第二个", 2),
            ("第2单", 2),
            ("第二单退款", 2),
            ("要第三件", 3),
            ("the first one", 1),
            ("the second", 2),
            ("2nd one please", 2),
            ("2", 2),
            ("3.", 3),
        ];
        for (text, n) in cases {
            assert_eq!(ordinal(text), Some(n), "{text}");
        }
    }

    #[test]
    fn days_times_dates_and_long_numbers_are_not_ordinals() {
        for text in [
            "第二天就坏了",
            "第一次买",
            "dec 1st",
            "first time buyer",
            "12",
            "0",
            "the last one",
        ] {
            assert_eq!(ordinal(text), None, "{text}");
        }
    }
}
