//! The catalog's commands: they touch the catalog book and nothing else.

use super::{
    CatalogBook, Gtin, ListingStatus, NewSku, PRODUCT_SKUS_MAX, Product, ProductChanges, ProductDescription,
    ProductTitle, Shop, ShopCategory, ShopName, Sku, SkuChanges,
};
use crate::after_sales::policy::ExemptGoods;
use crate::ids::{ProductId, ShopId, SkuId};
use crate::shard::{Effect, Outcome, Rejection};
use crate::time::Timestamp;

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CreateShop {
    pub id: ShopId,
    pub name: ShopName,
    pub category: ShopCategory,
}

/// A shop's name or category changed; `None` leaves a field as it is.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UpdateShop {
    pub shop: ShopId,
    pub name: Option<ShopName>,
    pub category: Option<ShopCategory>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CreateProduct {
    pub id: ProductId,
    pub shop: ShopId,
    pub title: ProductTitle,
    pub description: Option<ProductDescription>,
    pub gtin: Option<Gtin>,
    pub goods_class: Option<ExemptGoods>,
    pub skus: Vec<NewSku>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UpdateProduct {
    pub id: ProductId,
    pub shop: ShopId,
    pub changes: ProductChanges,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AddSku {
    pub shop: ShopId,
    pub product: ProductId,
    pub sku: NewSku,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UpdateSku {
    pub shop: ShopId,
    pub sku: SkuId,
    pub changes: SkuChanges,
}

/// Everything the catalog can be asked to do.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Command {
    CreateShop(CreateShop),
    UpdateShop(UpdateShop),
    CreateProduct(CreateProduct),
    UpdateProduct(UpdateProduct),
    AddSku(AddSku),
    UpdateSku(UpdateSku),
}

impl Command {
    pub(crate) fn apply(
        self,
        book: &mut CatalogBook,
        now: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Result<Outcome, Rejection> {
        match self {
            Command::CreateShop(c) => book.create_shop(c, now, effects),
            Command::UpdateShop(c) => book.update_shop(c, effects),
            Command::CreateProduct(c) => book.create_product(c, now, effects),
            Command::UpdateProduct(c) => book.update_product(c, now, effects),
            Command::AddSku(c) => book.add_sku(c, now, effects),
            Command::UpdateSku(c) => book.update_sku(c, now, effects),
        }
    }
}

impl CatalogBook {
    fn create_shop(&mut self, c: CreateShop, now: Timestamp, effects: &mut Vec<Effect>) -> Result<Outcome, Rejection> {
        if self.shops.contains_key(&c.id) {
            return Err(Rejection::ShopExists);
        }
        let shop = Shop {
            id: c.id,
            name: c.name,
            category: c.category,
            created_at: now,
        };
        self.shops.insert(c.id, shop.clone());
        effects.push(Effect::ShopSaved(shop.clone()));
        Ok(Outcome::ShopCreated(shop))
    }

    fn update_shop(&mut self, c: UpdateShop, effects: &mut Vec<Effect>) -> Result<Outcome, Rejection> {
        let shop = self.shops.get_mut(&c.shop).ok_or(Rejection::UnknownShop)?;
        if let Some(name) = c.name {
            shop.name = name;
        }
        if let Some(category) = c.category {
            shop.category = category;
        }
        effects.push(Effect::ShopSaved(shop.clone()));
        Ok(Outcome::ShopUpdated(shop.clone()))
    }

    fn create_product(
        &mut self,
        c: CreateProduct,
        now: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Result<Outcome, Rejection> {
        self.known_shop(c.shop)?;
        if c.skus.len() > PRODUCT_SKUS_MAX {
            return Err(Rejection::TooManySkus);
        }
        let mut new_ids: Vec<SkuId> = c.skus.iter().map(|s| s.id).collect();
        new_ids.sort();
        new_ids.dedup();
        if self.products.contains_key(&c.id)
            || new_ids.len() != c.skus.len()
            || new_ids.iter().any(|id| self.skus.contains_key(id))
        {
            return Err(Rejection::IdInUse);
        }
        let product = Product {
            id: c.id,
            shop: c.shop,
            title: c.title,
            description: c.description,
            gtin: c.gtin,
            goods_class: c.goods_class,
            status: ListingStatus::Active,
            created_at: now,
            updated_at: now,
        };
        let skus: Vec<Sku> = c
            .skus
            .into_iter()
            .map(|new| Sku {
                id: new.id,
                product: product.id,
                shop: product.shop,
                name: new.name,
                price: new.price,
                status: ListingStatus::Active,
                created_at: now,
                updated_at: now,
            })
            .collect();
        self.products.insert(product.id, product.clone());
        effects.push(Effect::ProductSaved(product.clone()));
        for sku in &skus {
            self.skus.insert(sku.id, sku.clone());
            effects.push(Effect::SkuSaved(sku.clone()));
        }
        Ok(Outcome::ProductSaved { product, skus })
    }

    fn update_product(
        &mut self,
        c: UpdateProduct,
        now: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Result<Outcome, Rejection> {
        let mut product = self.owned_product(c.id, c.shop)?.clone();
        let changes = c.changes;
        if let Some(title) = changes.title {
            product.title = title;
        }
        if let Some(description) = changes.description {
            product.description = description;
        }
        if let Some(gtin) = changes.gtin {
            product.gtin = gtin;
        }
        if let Some(goods_class) = changes.goods_class {
            product.goods_class = goods_class;
        }
        if let Some(status) = changes.status {
            product.status = status;
        }
        product.updated_at = now;
        self.products.insert(c.id, product.clone());
        effects.push(Effect::ProductSaved(product.clone()));
        Ok(Outcome::ProductSaved {
            skus: self.skus_of(c.id),
            product,
        })
    }

    fn add_sku(&mut self, c: AddSku, now: Timestamp, effects: &mut Vec<Effect>) -> Result<Outcome, Rejection> {
        self.owned_product(c.product, c.shop)?;
        if self.skus.values().filter(|s| s.product == c.product).count() >= PRODUCT_SKUS_MAX {
            return Err(Rejection::TooManySkus);
        }
        if self.skus.contains_key(&c.sku.id) {
            return Err(Rejection::IdInUse);
        }
        let sku = Sku {
            id: c.sku.id,
            product: c.product,
            shop: c.shop,
            name: c.sku.name,
            price: c.sku.price,
            status: ListingStatus::Active,
            created_at: now,
            updated_at: now,
        };
        self.skus.insert(sku.id, sku.clone());
        effects.push(Effect::SkuSaved(sku.clone()));
        Ok(Outcome::SkuSaved(sku))
    }

    fn update_sku(&mut self, c: UpdateSku, now: Timestamp, effects: &mut Vec<Effect>) -> Result<Outcome, Rejection> {
        let mut sku = self.owned_sku(c.sku, c.shop)?.clone();
        let changes = c.changes;
        if let Some(name) = changes.name {
            sku.name = name;
        }
        if let Some(price) = changes.price {
            sku.price = price;
        }
        if let Some(status) = changes.status {
            sku.status = status;
        }
        sku.updated_at = now;
        self.skus.insert(c.sku, sku.clone());
        effects.push(Effect::SkuSaved(sku.clone()));
        Ok(Outcome::SkuSaved(sku))
    }
}
