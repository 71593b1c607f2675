//! Merchant integrity: what the platform learns about a shop from data it already keeps.
//!
//! - [`quality`]: the merchant quality index (秒单质量指数) over product quality, logistics
//!   timeliness and after-sales service, each explained by the figures it came from.
//! - [`fake_stock`]: each ended flash sale judged clean, suspicious or fake stock (库存虚标) from
//!   its shortages, cancellations by the shop, units never dispatched, and stock its merchant
//!   added just before it and removed just after (from the stock ledger).
//! - [`promises`]: broken promises per warehouse and carrier service.
//! - [`penalty`]: penalties, appeals and decisions, what an in-force penalty forbids, and the
//!   deposit (保证金) ledger that never goes negative.
//!
//! Like [`crate::diagnosis`], everything here is a pure function of plain figures the store
//! loads: no clock, no IO, and only ordered iteration, so the same figures give the same index.

pub mod fake_stock;
pub mod penalty;
pub mod promises;
pub mod quality;
