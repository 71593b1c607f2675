//! Risk: telling scalper rings and fraud from honest buyers in the order path, in memory, per
//! shard, fast enough to sit in front of a flash sale's tap. A flash sale's first enemy is
//! not load but scripts that tap with hundreds of accounts at the start's millisecond and
//! resell; what gives them away is what their accounts share (a device, a flat, a card) and
//! how they tap.
//!
//! These modules are risk's pure parts, the signals a decision stands on:
//! - [`address`]: one key per flat however its address is written (Chinese address variants);
//! - [`links`]: the transaction network: buyers joined into clusters by shared devices,
//!   addresses and payment credentials, bounded in memory.
//!
//! Like the rest of the core they do no IO and read no clock; every bound is a constant or a
//! constructor argument, and what happens when it is hit is documented where it is enforced.

pub mod address;
pub mod links;

pub use address::{AddressKey, address_key, canonical_detail};
pub use links::{LinkKey, Links};
