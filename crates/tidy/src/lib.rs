//! Shape checks for the miaodan workspace, run as `cargo nextest run -p tidy`.
//!
//! The checks live in `tests/tidy.rs`; this library is empty on purpose.
