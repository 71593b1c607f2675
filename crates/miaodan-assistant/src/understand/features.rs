//! What the classifier and the product matcher see of a message: jieba's words, the bigrams of
//! Chinese characters (they survive a typo jieba cuts badly, and "耳机" inside "蓝牙耳机"), the
//! stemmed English words, and one feature for "a number is here". Each feature once, sorted.

use super::segment::{Run, han_words, runs, stem};

/// The features of `text` (already normalised).
pub fn features(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (kind, run) in runs(text) {
        match kind {
            Run::Han => {
                out.extend(han_words(run).map(|w| format!("w:{w}")));
                let chars: Vec<char> = run.chars().collect();
                out.extend(chars.windows(2).map(|pair| format!("b:{}{}", pair[0], pair[1])));
            }
            Run::Latin => out.push(format!("e:{}", stem(run))),
            Run::Digits => out.push("n".to_string()),
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::features;

    #[test]
    fn a_message_gives_words_bigrams_english_stems_and_numbers() {
        let f = features("订单12还没发货 orders");
        for expected in ["w:订单", "b:发货", "b:还没", "e:order", "n"] {
            assert!(f.iter().any(|x| x == expected), "{expected} in {f:?}");
        }
    }
}
