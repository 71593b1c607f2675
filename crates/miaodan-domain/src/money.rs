//! Money. Amounts are integer fen (1/100 yuan, CNY), never floats; arithmetic is checked so an
//! overflow is an explicit outcome rather than a wrapped price.

use serde::{Deserialize, Serialize};

/// The most a single price may be: 100 million yuan. Keeps `price × quantity × lines` far from
/// `i64::MAX` so that order totals cannot overflow.
pub const PRICE_FEN_MAX: i64 = 10_000_000_000;

/// An amount of CNY in fen. Non-negative by construction, deserialisation included (through
/// [`TryFrom<i64>`], the check of [`Fen::from_stored`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Fen(i64);

/// A raw amount below zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NegativeAmount(pub i64);

impl std::fmt::Display for NegativeAmount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "an amount of fen must not be negative, not {}", self.0)
    }
}

impl std::error::Error for NegativeAmount {}

impl TryFrom<i64> for Fen {
    type Error = NegativeAmount;

    fn try_from(raw: i64) -> Result<Fen, NegativeAmount> {
        Fen::from_stored(raw).ok_or(NegativeAmount(raw))
    }
}

impl From<Fen> for i64 {
    fn from(amount: Fen) -> i64 {
        amount.0
    }
}

impl Fen {
    pub const ZERO: Fen = Fen(0);

    /// An amount known at compile time (a price list); negative amounts do not compile.
    pub const fn from_const(raw: i64) -> Fen {
        assert!(raw >= 0, "a negative amount");
        Fen(raw)
    }

    /// A price: `0..=PRICE_FEN_MAX` fen.
    pub fn price(raw: i64) -> Option<Fen> {
        (0..=PRICE_FEN_MAX).contains(&raw).then_some(Fen(raw))
    }

    /// Rebuilds an amount read back from storage, where any non-negative total is valid.
    pub fn from_stored(raw: i64) -> Option<Fen> {
        (raw >= 0).then_some(Fen(raw))
    }

    pub fn get(self) -> i64 {
        self.0
    }

    pub fn checked_add(self, other: Fen) -> Option<Fen> {
        self.0.checked_add(other.0).map(Fen)
    }

    pub fn checked_mul(self, factor: i64) -> Option<Fen> {
        if factor < 0 {
            return None;
        }
        self.0.checked_mul(factor).map(Fen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_bounded_and_non_negative() {
        assert_eq!(Fen::price(-1), None);
        assert_eq!(Fen::price(0), Some(Fen::ZERO));
        assert_eq!(Fen::price(PRICE_FEN_MAX).map(Fen::get), Some(PRICE_FEN_MAX));
        assert_eq!(Fen::price(PRICE_FEN_MAX + 1), None);
    }

    #[test]
    fn arithmetic_overflow_is_none_not_a_wrapped_amount() {
        let big = Fen::from_stored(i64::MAX - 1).expect("non-negative");
        assert_eq!(big.checked_add(Fen(2)), None);
        assert_eq!(big.checked_mul(2), None);
        assert_eq!(Fen(5).checked_mul(-1), None);
    }

    #[test]
    fn a_negative_amount_does_not_deserialise() {
        assert_eq!(serde_json::from_str::<Fen>("0").ok(), Some(Fen::ZERO));
        assert_eq!(serde_json::from_str::<Fen>("990").ok(), Some(Fen(990)));
        assert!(serde_json::from_str::<Fen>("-1").is_err());
        assert!(serde_json::from_str::<Fen>("9.9").is_err());
        assert_eq!(serde_json::to_string(&Fen(990)).ok().as_deref(), Some("990"));
    }
}
