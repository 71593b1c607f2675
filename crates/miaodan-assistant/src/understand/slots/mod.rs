//! The details of a message, one module a slot. Each reads the normalised text and knows
//! nothing of the intent: the dialogue decides which slots matter for what the buyer asked.

mod address;
mod days;
mod numbers;
mod order_ids;
mod ordinal;
mod products;
mod quantity;
mod reason;

pub use address::address;
pub use days::days;
pub use order_ids::order_ids;
pub use ordinal::ordinal;
pub use products::{attributes, scored_products};
pub use quantity::quantity;
pub use reason::reason;

use super::{Context, Slots};

/// Words that ask about today.
const TODAY: &[&str] = &["今天", "今日", "今晚", "today", "tonight"];

/// The slots of a normalised message; `original` is the message as written.
pub fn read(text: &str, original: &str, context: &Context<'_>) -> Slots {
    let scored = scored_products(text, context.products);
    let best = scored.first().map(|(_, score)| *score);
    Slots {
        products_best: scored.iter().take_while(|(_, score)| Some(*score) == best).count(),
        order_ids: bare_order_id(text).map_or_else(|| order_ids(text), |id| vec![id]),
        days: days(text, context.today),
        products: scored.iter().map(|(index, _)| *index).collect(),
        attributes: attributes(text),
        ordinal: ordinal(text),
        quantity: quantity(text),
        reason: reason(text),
        address: address(text, original),
        today: TODAY.iter().any(|word| text.contains(word)),
        injection: super::rules::is_injection(text),
    }
}

/// A message that is only a number of two digits or more (`12`, `#12.`) answers "which order?";
/// a single digit is an ordinal instead.
fn bare_order_id(text: &str) -> Option<i64> {
    let digits = text.trim_matches(|c: char| c.is_ascii_punctuation() || c == ' ');
    (digits.len() >= 2 && digits.len() <= 18 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}
