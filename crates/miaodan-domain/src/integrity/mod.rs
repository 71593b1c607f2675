//! Merchant integrity: what the platform learns about a shop from data it already keeps.
//!
//! - [`quality`]: the merchant quality index (秒单质量指数) over product quality, logistics
//!   timeliness and after-sales service, each explained by the figures it came from.
//!
//! Like [`crate::diagnosis`], everything here is a pure function of plain figures the store
//! loads: no clock, no IO, and only ordered iteration, so the same figures give the same index.

pub mod quality;
