//! simcarrier's specification, one test binary: each module is a capability, each test a sentence.
//! Behaviour tests run against both transports (in process and HTTP on loopback) through
//! `support::transports`, so they also prove the two answer alike. Webhooks go to a real receiver
//! on loopback that verifies every signature as it arrives.
#![allow(clippy::unwrap_used)]

mod faults;
mod http;
mod manual;
mod scenarios;
mod signatures;
mod support;
mod timed;
mod waybills;
