//! A quantity of units: 两件, 2件, 一双, 3 pieces, two items. "Both" is left to the dialogue
//! (both of what it listed), and so is a number without a unit.

use super::numbers::{ENGLISH, parse_english, parse_number};
use regex::Regex;
use std::sync::LazyLock;

static ZH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new("(第?)([0-9]+|[一二两三四五六七八九十]+)\\s*(件|个|双|条|台|份|只|盒|瓶|套|包|支|把|张|本|副|对|袋|箱)")
        .expect("the quantity pattern is valid")
});

static EN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"\b([0-9]+|{}|a|an)\s+(?:pieces?|items?|pcs|units?|pairs?|packs?|box(?:es)?|bottles?|sets?)\b",
        ENGLISH.join("|")
    ))
    .expect("the quantity pattern is valid")
});

/// After 一个, the words that make it a length of time or a count of people (一个星期, 两个人).
const DURATIONS: &[&str] = &["星期", "礼拜", "月", "小时", "钟头", "工作日", "人", "多月", "半月"];

/// The quantity in a normalised message.
pub fn quantity(text: &str) -> Option<i64> {
    let zh = ZH.captures_iter(text).find_map(|c| {
        let ordinal = c.get(1).is_some_and(|m| !m.as_str().is_empty());
        let after = &text[c.get(0)?.end()..];
        let duration = DURATIONS.iter().any(|d| after.starts_with(d));
        (!ordinal && !duration)
            .then(|| parse_number(c.get(2)?.as_str()))
            .flatten()
    });
    let en = || {
        let word = EN.captures(text)?.get(1)?.as_str();
        if word == "a" || word == "an" {
            Some(1)
        } else {
            parse_english(word)
        }
    };
    zh.or_else(en).filter(|n| *n > 0)
}

#[cfg(test)]
mod tests {
    use super::quantity;

    #[test]
    fn quantities_are_read_in_both_languages() {
        let cases = [
            ("退一件", 1),
            ("两件都要退", 2),
            ("2件", 2),
            ("买了两个", 2),
            ("一双鞋", 1),
            ("return 1 piece", 1),
            ("2 items", 2),
            ("three pairs", 3),
        ];
        for (text, n) in cases {
            assert_eq!(quantity(text), Some(n), "{text}");
        }
    }

    #[test]
    fn ordinals_both_and_bare_numbers_are_not_quantities() {
        for text in ["第一个", "both", "退2", "订单12", "都一个星期了", "等了两个月"] {
            assert_eq!(quantity(text), None, "{text}");
        }
    }
}
