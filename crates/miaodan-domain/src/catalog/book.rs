//! The catalog a shard owns: its shops, their products and SKUs. Fields are private to the
//! catalog capability; other capabilities read it through the lookups below, which refuse
//! with the same named facts an order would get.

use super::{ListingStatus, Product, Shop, Sku};
use crate::after_sales::policy::ExemptGoods;
use crate::ids::{ProductId, ShopId, SkuId};
use crate::shard::Rejection;
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default)]
pub struct CatalogBook {
    pub(super) shops: BTreeMap<ShopId, Shop>,
    pub(super) products: BTreeMap<ProductId, Product>,
    pub(super) skus: BTreeMap<SkuId, Sku>,
}

impl CatalogBook {
    /// The catalog as storage holds it.
    pub fn restore(shops: Vec<Shop>, products: Vec<Product>, skus: Vec<Sku>) -> CatalogBook {
        CatalogBook {
            shops: shops.into_iter().map(|s| (s.id, s)).collect(),
            products: products.into_iter().map(|p| (p.id, p)).collect(),
            skus: skus.into_iter().map(|s| (s.id, s)).collect(),
        }
    }

    pub fn owns_shop(&self, shop: ShopId) -> bool {
        self.shops.contains_key(&shop)
    }

    /// `Ok` when the shop is this shard's, `unknown_shop` otherwise.
    pub fn known_shop(&self, shop: ShopId) -> Result<(), Rejection> {
        if self.owns_shop(shop) {
            Ok(())
        } else {
            Err(Rejection::UnknownShop)
        }
    }

    pub fn shop_ids(&self) -> impl Iterator<Item = ShopId> + '_ {
        self.shops.keys().copied()
    }

    pub fn sku(&self, id: SkuId) -> Option<&Sku> {
        self.skus.get(&id)
    }

    pub fn sku_ids(&self) -> impl Iterator<Item = SkuId> + '_ {
        self.skus.keys().copied()
    }

    /// The SKU if it belongs to the shop (archived or not).
    pub fn owned_sku(&self, id: SkuId, shop: ShopId) -> Result<&Sku, Rejection> {
        self.skus
            .get(&id)
            .filter(|s| s.shop == shop)
            .ok_or(Rejection::UnknownSku { sku: id })
    }

    /// The SKU if it belongs to the shop and it and its product are on sale.
    pub fn active_sku(&self, id: SkuId, shop: ShopId) -> Result<&Sku, Rejection> {
        let sku = self.owned_sku(id, shop)?;
        let product_active = self
            .products
            .get(&sku.product)
            .is_some_and(|p| p.status == ListingStatus::Active);
        if sku.status != ListingStatus::Active || !product_active {
            return Err(Rejection::SkuUnavailable { sku: id });
        }
        Ok(sku)
    }

    /// The goods class of the product a SKU belongs to (`None` for ordinary goods, or a SKU
    /// this catalog does not know).
    pub fn goods_class_of(&self, sku: SkuId) -> Option<ExemptGoods> {
        let product = self.skus.get(&sku)?.product;
        self.products.get(&product)?.goods_class
    }

    pub(super) fn owned_product(&self, id: ProductId, shop: ShopId) -> Result<&Product, Rejection> {
        self.products
            .get(&id)
            .filter(|p| p.shop == shop)
            .ok_or(Rejection::UnknownProduct)
    }

    pub(super) fn skus_of(&self, product: ProductId) -> Vec<Sku> {
        self.skus.values().filter(|s| s.product == product).cloned().collect()
    }
}
