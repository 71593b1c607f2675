//! Quantities of units on an order line.

/// The most units one order line may ask for. A larger request is refused as
/// `invalid_quantity` at the edge, long before it could overflow a total.
pub const LINE_QUANTITY_MAX: i64 = 10_000;

/// A positive number of units, at most [`LINE_QUANTITY_MAX`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct Quantity(i64);

impl Quantity {
    pub fn new(raw: i64) -> Option<Quantity> {
        (1..=LINE_QUANTITY_MAX).contains(&raw).then_some(Quantity(raw))
    }

    pub fn get(self) -> i64 {
        self.0
    }
}
