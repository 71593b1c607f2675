//! The catalog on disk: shops, products and their SKUs, what a starting shard reads back of
//! them, and the catalog's read queries (browsing, search by title or GTIN).
//!
//! Text read back is trusted: it was checked by its constructor when it entered the system.

use crate::records::{Keyset, ProductFilter};
use crate::sql::{Conditions, Row, ShardOf, Statement, Value, fen, id, id_list, ms};
use crate::{Store, StoreError};
use miaodan_domain::after_sales::policy::ExemptGoods;
use miaodan_domain::catalog::{Gtin, ListingStatus, Product, Shop, ShopCategory, Sku, Text};
use miaodan_domain::{ProductId, ShopId, SkuId};

const UPSERT_SHOP: &str = "INSERT INTO shops (id, name, created_at, category) VALUES ($1, $2, $3, $4)
    ON CONFLICT (id) DO UPDATE SET name = excluded.name, category = excluded.category";
const UPSERT_PRODUCT: &str = "INSERT INTO products (id, shop_id, title, description, gtin, status, created_at, updated_at,
    goods_class) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id{SPREAD_BY shop_id}) DO UPDATE SET title = excluded.title,
    description = excluded.description, gtin = excluded.gtin, status = excluded.status, updated_at = excluded.updated_at,
    goods_class = excluded.goods_class";
const UPSERT_SKU: &str = "INSERT INTO skus (id, product_id, shop_id, name, price_fen, status, created_at, updated_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id{SPREAD_BY shop_id}) DO UPDATE SET name = excluded.name,
    price_fen = excluded.price_fen, status = excluded.status, updated_at = excluded.updated_at";

/// The catalog effects of one batch, as upserts in effect order (a later save of the same row
/// overwrites an earlier one, as it did in memory).
#[derive(Default)]
pub(crate) struct CatalogWrites {
    statements: Vec<Statement>,
}

impl CatalogWrites {
    pub(crate) fn shop_saved(&mut self, shop: &Shop) {
        self.statements.push(Statement::new(
            UPSERT_SHOP,
            vec![
                Value::I64(shop.id.get()),
                Value::Text(shop.name.as_str().into()),
                Value::I64(shop.created_at.unix_ms()),
                Value::Text(shop.category.as_str().into()),
            ],
        ));
    }

    pub(crate) fn product_saved(&mut self, p: &Product) {
        self.statements.push(Statement::new(
            UPSERT_PRODUCT,
            vec![
                Value::I64(p.id.get()),
                Value::I64(p.shop.get()),
                Value::Text(p.title.as_str().into()),
                Value::OptText(p.description.as_ref().map(|d| d.as_str().into())),
                Value::OptText(p.gtin.as_ref().map(|g| g.as_str().into())),
                Value::Text(p.status.as_str().into()),
                Value::I64(p.created_at.unix_ms()),
                Value::I64(p.updated_at.unix_ms()),
                Value::OptText(p.goods_class.map(|g| g.as_str().into())),
            ],
        ));
    }

    pub(crate) fn sku_saved(&mut self, s: &Sku) {
        self.statements.push(Statement::new(
            UPSERT_SKU,
            vec![
                Value::I64(s.id.get()),
                Value::I64(s.product.get()),
                Value::I64(s.shop.get()),
                Value::Text(s.name.as_str().into()),
                Value::I64(s.price.get()),
                Value::Text(s.status.as_str().into()),
                Value::I64(s.created_at.unix_ms()),
                Value::I64(s.updated_at.unix_ms()),
            ],
        ));
    }

    pub(crate) fn push_statements(self, statements: &mut Vec<Statement>) {
        statements.extend(self.statements);
    }
}

fn status(raw: &str) -> Result<ListingStatus, StoreError> {
    ListingStatus::parse(raw).ok_or_else(|| StoreError::corrupt(format!("unknown status {raw}")))
}

fn goods_class(raw: &str) -> Result<ExemptGoods, StoreError> {
    ExemptGoods::parse(raw).ok_or_else(|| StoreError::corrupt(format!("unknown goods class {raw}")))
}

pub(crate) const SHOP_COLUMNS: &str = "id, name, created_at, category";
pub(crate) fn shop(row: &dyn Row) -> Result<Shop, StoreError> {
    let category = row.text(3)?;
    Ok(Shop {
        id: id(row.i64(0)?, ShopId::new)?,
        name: Text::from_stored(row.text(1)?),
        category: ShopCategory::parse(&category)
            .ok_or_else(|| StoreError::corrupt(format!("unknown shop category {category}")))?,
        created_at: ms(row.i64(2)?),
    })
}

const PRODUCT_COLUMNS: &str = "id, shop_id, title, description, gtin, status, created_at, updated_at, goods_class";
fn product(row: &dyn Row) -> Result<Product, StoreError> {
    Ok(Product {
        id: id(row.i64(0)?, ProductId::new)?,
        shop: id(row.i64(1)?, ShopId::new)?,
        title: Text::from_stored(row.text(2)?),
        description: row.opt_text(3)?.map(Text::from_stored),
        gtin: row.opt_text(4)?.map(Gtin::from_stored),
        goods_class: row.opt_text(8)?.map(|raw| goods_class(&raw)).transpose()?,
        status: status(&row.text(5)?)?,
        created_at: ms(row.i64(6)?),
        updated_at: ms(row.i64(7)?),
    })
}

const SKU_COLUMNS: &str = "id, product_id, shop_id, name, price_fen, status, created_at, updated_at";
fn sku(row: &dyn Row) -> Result<Sku, StoreError> {
    Ok(Sku {
        id: id(row.i64(0)?, SkuId::new)?,
        product: id(row.i64(1)?, ProductId::new)?,
        shop: id(row.i64(2)?, ShopId::new)?,
        name: Text::from_stored(row.text(3)?),
        price: fen(row.i64(4)?)?,
        status: status(&row.text(5)?)?,
        created_at: ms(row.i64(6)?),
        updated_at: ms(row.i64(7)?),
    })
}

/// What a starting shard holds of the catalog.
pub(crate) struct ShardCatalog {
    pub shops: Vec<Shop>,
    pub products: Vec<Product>,
    pub skus: Vec<Sku>,
}

impl Store {
    pub(crate) async fn load_shard_catalog(&self, shard: ShardOf) -> Result<ShardCatalog, StoreError> {
        Ok(ShardCatalog {
            shops: self.query(shard.select(SHOP_COLUMNS, "shops", "id"), shop).await?,
            products: self
                .query(shard.select(PRODUCT_COLUMNS, "products", "shop_id"), product)
                .await?,
            skus: self.query(shard.select(SKU_COLUMNS, "skus", "shop_id"), sku).await?,
        })
    }

    pub async fn shop(&self, id: ShopId) -> Result<Option<Shop>, StoreError> {
        let statement = Statement::owned(
            format!("SELECT {SHOP_COLUMNS} FROM shops WHERE id = $1"),
            vec![Value::I64(id.get())],
        );
        Ok(self.query(statement, shop).await?.pop())
    }

    pub async fn shops(&self) -> Result<Vec<Shop>, StoreError> {
        let statement = Statement::owned(format!("SELECT {SHOP_COLUMNS} FROM shops ORDER BY id"), vec![]);
        self.query(statement, shop).await
    }

    /// A page of every shop, by id.
    pub async fn shops_page(&self, page: Keyset<i64>) -> Result<Vec<Shop>, StoreError> {
        let mut conditions = Conditions::default();
        if let Some(after) = page.after {
            conditions.and("id > ?", vec![Value::I64(after)]);
        }
        let head = format!("{SHOP_COLUMNS} FROM shops");
        self.query(conditions.select(&head, "ORDER BY id", page.limit), shop)
            .await
    }

    pub async fn product(&self, id: ProductId) -> Result<Option<(Product, Vec<Sku>)>, StoreError> {
        let statement = Statement::owned(
            format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE id = $1"),
            vec![Value::I64(id.get())],
        );
        let Some(product) = self.query(statement, product).await?.pop() else {
            return Ok(None);
        };
        let skus = self.skus_of(&[product.id]).await?;
        Ok(Some((product, skus)))
    }

    async fn skus_of(&self, products: &[ProductId]) -> Result<Vec<Sku>, StoreError> {
        if products.is_empty() {
            return Ok(Vec::new());
        }
        let statement = Statement::owned(
            format!(
                "SELECT {SKU_COLUMNS} FROM skus WHERE product_id IN ({}) ORDER BY product_id, id",
                id_list(products.iter().map(|p| p.get()))
            ),
            vec![],
        );
        self.query(statement, sku).await
    }

    pub async fn products(&self, filter: &ProductFilter) -> Result<Vec<(Product, Vec<Sku>)>, StoreError> {
        let mut conditions = Conditions::default();
        if let Some(shop) = filter.shop {
            conditions.and("shop_id = ?", vec![Value::I64(shop.get())]);
        }
        if filter.active_only {
            conditions.and(
                "status = 'active' AND EXISTS (SELECT 1 FROM skus WHERE skus.product_id = products.id AND skus.shop_id = products.shop_id
                 AND skus.status = 'active')",
                vec![],
            );
        }
        if let Some(query) = &filter.query {
            let escaped = query.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            let pattern = Value::Text(format!("%{}%", escaped.to_lowercase()));
            conditions.and("LOWER(title) LIKE ? ESCAPE '\\'", vec![pattern]);
        }
        if let Some(gtin) = &filter.gtin {
            conditions.and("gtin = ?", vec![Value::Text(gtin.clone())]);
        }
        if let Some(after) = filter.after {
            conditions.and("id > ?", vec![Value::I64(after)]);
        }
        let head = format!("{PRODUCT_COLUMNS} FROM products");
        let statement = conditions.select(&head, "ORDER BY id", filter.limit);
        let products = self.query(statement, product).await?;
        let ids: Vec<ProductId> = products.iter().map(|p| p.id).collect();
        let mut skus = self.skus_of(&ids).await?;
        Ok(products
            .into_iter()
            .map(|p| {
                let (mine, rest): (Vec<Sku>, Vec<Sku>) = skus.drain(..).partition(|s| s.product == p.id);
                skus = rest;
                (p, mine)
            })
            .collect())
    }

    pub async fn sku(&self, id: SkuId) -> Result<Option<Sku>, StoreError> {
        let statement = Statement::owned(
            format!("SELECT {SKU_COLUMNS} FROM skus WHERE id = $1"),
            vec![Value::I64(id.get())],
        );
        Ok(self.query(statement, sku).await?.pop())
    }

    /// Which shop owns each of these SKUs (unknown ones are absent).
    pub async fn sku_shops(&self, skus: &[SkuId]) -> Result<Vec<(SkuId, ShopId)>, StoreError> {
        if skus.is_empty() {
            return Ok(Vec::new());
        }
        let statement = Statement::owned(
            format!(
                "SELECT id, shop_id FROM skus WHERE id IN ({})",
                id_list(skus.iter().map(|s| s.get()))
            ),
            vec![],
        );
        self.query(statement, |r| {
            let (sku, shop) = (r.i64(0)?, r.i64(1)?);
            match (SkuId::new(sku), ShopId::new(shop)) {
                (Some(sku), Some(shop)) => Ok((sku, shop)),
                _ => Err(StoreError::corrupt(format!("sku {sku} shop {shop}"))),
            }
        })
        .await
    }
}
