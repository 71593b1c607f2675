//! Numbers as buyers write them: digits, Chinese numerals (两, 十二, 二十三) and English words.

/// The English words for one to twelve.
pub const ENGLISH: [&str; 12] = [
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
];

/// The value of digits or a Chinese numeral up to 999.
pub fn parse_number(text: &str) -> Option<i64> {
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok();
    }
    let mut total = 0;
    let mut digit: Option<i64> = None;
    for c in text.chars() {
        match c {
            '十' => {
                total += digit.unwrap_or(1) * 10;
                digit = None;
            }
            '百' => {
                total += digit? * 100;
                digit = None;
            }
            '零' => digit = None,
            c => digit = Some(chinese_digit(c)?),
        }
    }
    Some(total + digit.unwrap_or(0)).filter(|n| *n > 0 || text == "零")
}

fn chinese_digit(c: char) -> Option<i64> {
    "零一二三四五六七八九"
        .chars()
        .position(|d| d == c)
        .map(|n| n as i64)
        .or((c == '两').then_some(2))
}

/// The value of an English number word (one to twelve) or digits.
pub fn parse_english(word: &str) -> Option<i64> {
    ENGLISH
        .iter()
        .position(|w| *w == word)
        .map(|n| n as i64 + 1)
        .or_else(|| word.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::{parse_english, parse_number};

    #[test]
    fn chinese_numerals_read_as_numbers() {
        for (text, n) in [
            ("两", 2),
            ("十", 10),
            ("十二", 12),
            ("二十三", 23),
            ("一百零五", 105),
            ("3", 3),
        ] {
            assert_eq!(parse_number(text), Some(n), "{text}");
        }
        assert_eq!(parse_number("百"), None);
    }

    #[test]
    fn english_number_words_read_as_numbers() {
        assert_eq!(parse_english("three"), Some(3));
        assert_eq!(parse_english("12"), Some(12));
        assert_eq!(parse_english("many"), None);
    }
}
