//! Read-mostly lookups the hot path needs without a database round trip: a buyer's default
//! address (one-tap orders ship there) and which shop owns a flash sale (to find its shard).
//! Both facts never change once written, so a cache filled on first use is always right.

use miaodan_domain::flash_sale::FlashSaleId;
use miaodan_domain::orders::Address;
use miaodan_domain::{BuyerId, ShopId, Timestamp};
use miaodan_store::{Store, StoreError};
use std::collections::HashMap;
use std::sync::RwLock;

#[derive(Default)]
pub struct Directory {
    addresses: RwLock<HashMap<BuyerId, Option<Address>>>,
    /// When each buyer's account was opened (risk weighs new accounts).
    opened: RwLock<HashMap<BuyerId, Timestamp>>,
    sale_shops: RwLock<HashMap<FlashSaleId, ShopId>>,
}

impl Directory {
    /// The buyer's default address; `None` if the buyer has none (or does not exist).
    pub async fn default_address(&self, store: &Store, buyer: BuyerId) -> Result<Option<Address>, StoreError> {
        if let Some(known) = self.addresses.read().ok().and_then(|m| m.get(&buyer).cloned()) {
            return Ok(known);
        }
        Ok(self.read_buyer(store, buyer).await?.0)
    }

    /// When the buyer's account was opened; `None` if the buyer does not exist.
    pub async fn buyer_opened_at(&self, store: &Store, buyer: BuyerId) -> Result<Option<Timestamp>, StoreError> {
        if let Some(known) = self.opened.read().ok().and_then(|m| m.get(&buyer).copied()) {
            return Ok(Some(known));
        }
        Ok(self.read_buyer(store, buyer).await?.1)
    }

    /// Reads the buyer once and remembers both facts.
    async fn read_buyer(
        &self,
        store: &Store,
        buyer: BuyerId,
    ) -> Result<(Option<Address>, Option<Timestamp>), StoreError> {
        let found = store.buyer(buyer).await?;
        let opened = found.as_ref().map(|b| b.created_at);
        let address = found.and_then(|b| b.default_address);
        if let Ok(mut addresses) = self.addresses.write() {
            addresses.insert(buyer, address.clone());
        }
        if let (Some(at), Ok(mut opened_at)) = (opened, self.opened.write()) {
            opened_at.insert(buyer, at);
        }
        Ok((address, opened))
    }

    /// The shop that owns a flash sale, if the sale exists.
    pub async fn sale_shop(&self, store: &Store, sale: FlashSaleId) -> Result<Option<ShopId>, StoreError> {
        if let Some(shop) = self.sale_shops.read().ok().and_then(|m| m.get(&sale).copied()) {
            return Ok(Some(shop));
        }
        let shop = store.flash_sale(sale).await?.map(|s| s.shop);
        if let Some(shop) = shop {
            self.remember_sale(sale, shop);
        }
        Ok(shop)
    }

    /// Warms the cache with a buyer's default address (bulk imports, benchmarks).
    pub fn remember_address(&self, buyer: BuyerId, address: Option<Address>) {
        if let Ok(mut addresses) = self.addresses.write() {
            addresses.insert(buyer, address);
        }
    }

    pub fn remember_sale(&self, sale: FlashSaleId, shop: ShopId) {
        if let Ok(mut shops) = self.sale_shops.write() {
            shops.insert(sale, shop);
        }
    }
}
