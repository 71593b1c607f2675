//! Quantities of units on an order line.

use serde::{Deserialize, Serialize};

/// The most units one order line may ask for. A larger request is refused as
/// `invalid_quantity` at the edge, long before it could overflow a total.
pub const LINE_QUANTITY_MAX: i64 = 10_000;

/// A positive number of units, at most [`LINE_QUANTITY_MAX`], deserialisation included
/// (through [`TryFrom<i64>`], the check of [`Quantity::new`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Quantity(i64);

/// A raw quantity outside `1..=LINE_QUANTITY_MAX`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidQuantity(pub i64);

impl std::fmt::Display for InvalidQuantity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a quantity must be 1 to {LINE_QUANTITY_MAX}, not {}", self.0)
    }
}

impl std::error::Error for InvalidQuantity {}

impl TryFrom<i64> for Quantity {
    type Error = InvalidQuantity;

    fn try_from(raw: i64) -> Result<Quantity, InvalidQuantity> {
        Quantity::new(raw).ok_or(InvalidQuantity(raw))
    }
}

impl From<Quantity> for i64 {
    fn from(quantity: Quantity) -> i64 {
        quantity.0
    }
}

impl Quantity {
    pub fn new(raw: i64) -> Option<Quantity> {
        (1..=LINE_QUANTITY_MAX).contains(&raw).then_some(Quantity(raw))
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_quantities_new_accepts_deserialise() {
        assert_eq!(serde_json::from_str::<Quantity>("1").ok(), Quantity::new(1));
        assert_eq!(
            serde_json::from_str::<Quantity>(&LINE_QUANTITY_MAX.to_string()).ok(),
            Quantity::new(LINE_QUANTITY_MAX)
        );
        for refused in ["0".to_string(), "-1".to_string(), (LINE_QUANTITY_MAX + 1).to_string()] {
            assert!(
                serde_json::from_str::<Quantity>(&refused).is_err(),
                "{refused} was accepted"
            );
        }
        assert_eq!(serde_json::to_string(&Quantity(3)).ok().as_deref(), Some("3"));
    }
}
