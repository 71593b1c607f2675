//! Money. Amounts are integer fen (1/100 yuan, CNY), never floats; arithmetic is checked so an
//! overflow is an explicit outcome rather than a wrapped price.

/// The most a single price may be: 100 million yuan. Keeps `price × quantity × lines` far from
/// `i64::MAX` so that order totals cannot overflow.
pub const PRICE_FEN_MAX: i64 = 10_000_000_000;

/// An amount of CNY in fen. Non-negative by construction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct Fen(i64);

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

    /// `self − other`, or `None` when that would be negative (an amount is never below zero).
    pub fn checked_sub(self, other: Fen) -> Option<Fen> {
        self.0.checked_sub(other.0).filter(|left| *left >= 0).map(Fen)
    }

    /// The sum of amounts, or `None` on overflow.
    pub fn checked_sum(amounts: impl IntoIterator<Item = Fen>) -> Option<Fen> {
        amounts.into_iter().try_fold(Fen::ZERO, Fen::checked_add)
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
    fn subtraction_never_goes_below_zero() {
        assert_eq!(Fen(5).checked_sub(Fen(3)), Some(Fen(2)));
        assert_eq!(Fen(5).checked_sub(Fen(5)), Some(Fen::ZERO));
        assert_eq!(Fen(5).checked_sub(Fen(6)), None);
        assert_eq!(Fen::checked_sum([Fen(1), Fen(2)]), Some(Fen(3)));
        assert_eq!(Fen::checked_sum([Fen(i64::MAX), Fen(1)]), None);
    }
}
