//! The flows: operations of several steps (several shards, a provider, a carrier) that HTTP
//! handlers, the workers and — later — a customer-service assistant all call the same way.
//!
//! **API boundary:** a flow takes domain values (already parsed) and returns domain values or
//! its own `thiserror` enum whose variants are named facts (`CheckoutError::Refused`,
//! `PaymentError::NothingToPay`, …). No flow knows status codes, problem+json or idempotency
//! keys; `http/` maps each flow error to problem+json once. (The payment provider adapter still
//! reads a webhook's signature from its `HeaderMap`: the one HTTP type below this module.) Where a flow narrows a shard `Outcome`
//! to the variant it expects, it does so in one function, and an "impossible" outcome becomes
//! an `Unexpected` variant rather than a status code.
//!
//! - [`after_sales`]: gather a buyer's request's facts; refund an approved request once,
//!   through the payment flow.
//! - [`assistant`]: the customer-service assistant: a buyer's message understood, answered
//!   from the buyer's own orders, and its one confirmed action carried out.
//! - [`checkout`]: split a checkout per shop, place each part, cancel the placed parts when
//!   a shop refuses.
//! - [`flash_sale`]: a tap, then one-tap pay in the background for a buyer with an agreement.
//! - [`payments`]: open, confirm, record, settle, refund, apply a provider notification; the
//!   provider adapter, one-tap budgets, the payment worker, reconciliation.
//! - [`risk`]: what risk is told of a buyer's request besides its client's signals (the
//!   account, its history, the credential it pays with).
//! - [`risk_challenges`]: risk's step-up: a challenged buyer answers a human check and gets a
//!   pass, announced to every shard.
//! - [`shipments`]: hand a parcel to a carrier (its waybill) and create the shipment.
//! - [`shortage`]: a warehouse's stock shortage (re-dispatch of the paid orders it hits).

pub mod after_sales;
pub mod assistant;
pub mod checkout;
pub mod flash_sale;
pub mod payments;
pub mod risk;
pub mod risk_challenges;
pub mod shipments;
pub mod shortage;
