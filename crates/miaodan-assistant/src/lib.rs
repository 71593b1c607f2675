//! The customer-service assistant (智能客服), pure: it reads a buyer's message and the facts of
//! the buyer's own orders, and answers — with, at most, one action for the shell to carry out
//! through the same flows as the API. No IO, no clock, no randomness: the shell hands it the
//! time and the facts, so every conversation replays the same way.
//!
//! - [`understand`]: what a message says — its language, the intent (a classifier trained at
//!   start from the corpus in `corpus/`), and its slots (order ids, dates, products, reasons,
//!   addresses, quantities).
//! - [`dialogue`]: a conversation's state across turns — slots filled over several messages, a
//!   confirmation before anything changes, the answer in the buyer's language, the hand-over.

pub mod dialogue;
pub mod understand;
