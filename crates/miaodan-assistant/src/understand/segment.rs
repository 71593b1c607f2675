//! A normalised message cut into runs — Chinese characters, Latin letters, digits — and the
//! Chinese runs into words by jieba; English words lightly stemmed.
//!
//! Why our own dictionary: jieba-rs's default dictionary (350 000 words) takes 0.51 s to load
//! in a debug build and 0.28 s in release on this machine — every test binary and every
//! server start would pay it, for a vocabulary that is mostly not about orders. `Jieba::empty()`
//! with `corpus/dict.txt` (a few hundred commerce, after-sales and logistics words) loads in
//! well under a millisecond, and jieba's HMM still groups the characters it does not know.

use super::normalise::is_han;
use jieba_rs::Jieba;
use std::sync::LazyLock;

const DICTIONARY: &str = include_str!("../../corpus/dict.txt");

static JIEBA: LazyLock<Jieba> = LazyLock::new(|| {
    let mut jieba = Jieba::empty();
    for line in DICTIONARY.lines() {
        let mut fields = line.split_whitespace();
        if let Some(word) = fields.next() {
            let frequency = fields.next().and_then(|f| f.parse().ok());
            jieba.add_word(word, frequency, None);
        }
    }
    jieba
});

/// The words jieba cuts a run of Chinese characters into.
pub fn han_words(run: &str) -> impl Iterator<Item = &str> {
    JIEBA.cut(run, true).into_iter().map(|token| token.word)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Run {
    Han,
    Latin,
    Digits,
}

/// The maximal runs of Chinese characters, Latin letters (with inner apostrophes) and digits.
pub fn runs(text: &str) -> Vec<(Run, &str)> {
    let mut out = Vec::new();
    let mut current: Option<(Run, usize)> = None;
    for (at, c) in text.char_indices() {
        let kind = run_of(c, current.map(|(k, _)| k));
        match (current, kind) {
            (Some((was, _)), Some(now)) if was == now => {}
            (Some((was, start)), _) => {
                out.push((was, &text[start..at]));
                current = kind.map(|k| (k, at));
            }
            (None, _) => current = kind.map(|k| (k, at)),
        }
    }
    if let Some((kind, start)) = current {
        out.push((kind, &text[start..]));
    }
    for (kind, run) in &mut out {
        if *kind == Run::Latin {
            *run = run.trim_end_matches('\'');
        }
    }
    out
}

fn run_of(c: char, current: Option<Run>) -> Option<Run> {
    if is_han(c) {
        Some(Run::Han)
    } else if c.is_ascii_alphabetic() || (c == '\'' && current == Some(Run::Latin)) {
        Some(Run::Latin)
    } else if c.is_ascii_digit() {
        Some(Run::Digits)
    } else {
        None
    }
}

/// A light English stemmer: enough that "orders", "ordered" and "ordering" meet "order".
pub fn stem(word: &str) -> String {
    let word = word.trim_end_matches("'s").trim_end_matches("n't");
    let n = word.len();
    let cut = |suffix: &str, min: usize| n >= min && word.ends_with(suffix);
    if cut("ies", 5) {
        return format!("{}y", &word[..n - 3]);
    }
    for (suffix, min) in [("ing", 6), ("ed", 5), ("es", 5), ("s", 4)] {
        if cut(suffix, min) && !word.ends_with("ss") {
            return word[..n - suffix.len()].to_string();
        }
    }
    word.to_string()
}

#[cfg(test)]
mod tests {
    use super::{Run, han_words, runs, stem};

    fn han(text: &str) -> Vec<&str> {
        han_words(text).collect()
    }

    #[test]
    fn commerce_words_are_kept_whole() {
        let cut = han("我的蓝牙耳机到哪了能不能退款");
        for word in ["蓝牙耳机", "能不能", "退款"] {
            assert!(cut.contains(&word), "{word} in {cut:?}");
        }
    }

    #[test]
    fn mixed_text_is_cut_into_chinese_english_and_numbers() {
        let cut = runs("我的order 12到哪了, it's ok");
        assert_eq!(
            cut,
            [
                (Run::Han, "我的"),
                (Run::Latin, "order"),
                (Run::Digits, "12"),
                (Run::Han, "到哪了"),
                (Run::Latin, "it's"),
                (Run::Latin, "ok")
            ]
        );
    }

    #[test]
    fn plurals_and_tenses_meet_their_stem() {
        assert_eq!(stem("orders"), "order");
        assert_eq!(stem("ordered"), "order");
        assert_eq!(stem("ordering"), "order");
        assert_eq!(stem("deliveries"), "delivery");
        assert_eq!(stem("address"), "address");
        assert_eq!(stem("is"), "is");
    }
}
