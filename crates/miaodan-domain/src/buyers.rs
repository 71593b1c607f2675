//! Buyers: platform-level accounts (not owned by a shop, so not sharded by shop). A buyer has
//! a default delivery address that one-tap orders use.

use crate::catalog::Text;
use crate::ids::BuyerId;
use crate::orders::Address;
use crate::time::Timestamp;

pub type BuyerName = Text<60>;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Buyer {
    pub id: BuyerId,
    pub name: BuyerName,
    pub default_address: Option<Address>,
    pub created_at: Timestamp,
}
