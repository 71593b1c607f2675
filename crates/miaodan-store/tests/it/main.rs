//! miaodan-store's integration tests, one binary.

mod fulfillment;
