//! The human check behind a challenge, as a vendor adapter would give it: open a check (what the
//! client shows, in English and Chinese, and what the adapter needs later to verify an answer)
//! and verify an answer against it. A real captcha or verification vendor implements
//! [`HumanCheck`]; the default is [`SimCaptcha`], a simulator that asks a sum.

use crate::tokens::sha256_hex;
use rand::Rng;

/// A check opened for one challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenedCheck {
    pub prompt_en: String,
    pub prompt_zh: String,
    /// What [`HumanCheck::verify`] needs, stored with the challenge (opaque to everyone else;
    /// never the answer itself).
    pub check_state: String,
}

/// What a captcha or verification vendor's adapter implements.
pub trait HumanCheck: Send + Sync {
    /// Opens a check for a challenge.
    fn open(&self) -> OpenedCheck;
    /// Whether `answer` passes the check `check_state` describes.
    fn verify(&self, check_state: &str, answer: &str) -> bool;
}

/// A simulator, not a captcha: it asks the sum of two numbers from 1 to 9 ("7 + 5 = ?"), which
/// any script can compute. It stands in for a vendor in development, demos and tests, and shows
/// the shape an adapter has: the expected answer is kept only as a salted SHA-256 digest, so the
/// table of challenges does not hold the answers. No network.
#[derive(Clone, Copy, Debug, Default)]
pub struct SimCaptcha;

/// The prefix of a [`SimCaptcha`] check's state, with its version.
const SIM_STATE_PREFIX: &str = "simcaptcha1";

fn digest(salt: &str, answer: &str) -> String {
    sha256_hex(format!("{salt}\n{answer}").as_bytes())
}

impl HumanCheck for SimCaptcha {
    fn open(&self) -> OpenedCheck {
        let mut rng = rand::rng();
        let (a, b): (u32, u32) = (rng.random_range(1..=9), rng.random_range(1..=9));
        let salt = hex::encode(rng.random::<[u8; 16]>());
        OpenedCheck {
            prompt_en: format!("{a} + {b} = ?"),
            prompt_zh: format!("{a} 加 {b} 等于多少？"),
            check_state: format!("{SIM_STATE_PREFIX}:{salt}:{}", digest(&salt, &(a + b).to_string())),
        }
    }

    fn verify(&self, check_state: &str, answer: &str) -> bool {
        let mut parts = check_state.split(':');
        let (Some(SIM_STATE_PREFIX), Some(salt), Some(expected), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        digest(salt, answer.trim()) == expected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sum a [`SimCaptcha`] prompt asks, worked out as a client would.
    fn solve(prompt: &str) -> String {
        let terms: Vec<u32> = prompt
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|t| t.parse().ok())
            .collect();
        terms.iter().sum::<u32>().to_string()
    }

    #[test]
    fn the_sum_passes_and_anything_else_fails() {
        let check = SimCaptcha.open();
        let right = solve(&check.prompt_en);
        assert!(SimCaptcha.verify(&check.check_state, &right));
        assert!(SimCaptcha.verify(&check.check_state, &format!(" {right} ")));
        assert!(!SimCaptcha.verify(&check.check_state, "99"));
        assert!(!SimCaptcha.verify(&check.check_state, ""));
        assert!(!SimCaptcha.verify("not a state", &right));
    }

    #[test]
    fn the_state_holds_a_digest_not_the_answer() {
        let check = SimCaptcha.open();
        let right = solve(&check.prompt_en);
        let stored: Vec<&str> = check.check_state.split(':').collect();
        assert_eq!(stored.len(), 3);
        assert_ne!(stored[2], right);
        assert_eq!(solve(&check.prompt_zh), right, "both prompts ask the same sum");
    }
}
