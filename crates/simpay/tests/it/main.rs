//! simpay's specification, one test binary: each module is a capability, each test a sentence.
//! Behaviour tests run against both transports (in process and HTTP on loopback) through
//! `support::transports`, so they also prove the two answer alike.
#![allow(clippy::unwrap_used)]

mod charges;
mod faults;
mod http;
mod refunds;
mod statements;
mod support;
mod webhooks;
