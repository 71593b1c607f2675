//! Wire shapes of the catalog: products, SKUs, their patches and pages.

use crate::clock::rfc3339;
use miaodan_domain::catalog::{Product, Sku};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSkuInput {
    /// Variant name, e.g. `500g装` or `黑色 M码`; 1–60 characters.
    #[schema(min_length = 1, max_length = 60)]
    pub name: String,
    /// Price in fen (1/100 yuan), 0 to 10 000 000 000.
    #[schema(minimum = 0, maximum = 10_000_000_000_i64)]
    pub price_fen: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProduct {
    #[schema(min_length = 1, max_length = 120)]
    pub title: String,
    #[schema(min_length = 1, max_length = 2000)]
    pub description: Option<String>,
    /// GTIN-8/12/13/14 with a valid check digit; the same GTIN across shops is the same product.
    #[schema(pattern = "^([0-9]{8}|[0-9]{12,14})$")]
    pub gtin: Option<String>,
    /// 1 to 100 SKUs.
    #[schema(min_items = 1, max_items = 100)]
    pub skus: Vec<NewSkuInput>,
}

/// Fields to change; an absent field is left as it is, `null` clears an optional one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductPatch {
    #[schema(min_length = 1, max_length = 120)]
    pub title: Option<String>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub gtin: Option<Option<String>>,
    /// `active` or `archived`.
    pub status: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SkuPatch {
    #[schema(min_length = 1, max_length = 60)]
    pub name: Option<String>,
    #[schema(minimum = 0, maximum = 10_000_000_000_i64)]
    pub price_fen: Option<i64>,
    /// `active` or `archived`.
    pub status: Option<String>,
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
mod double_option {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
        Option::<String>::deserialize(d).map(Some)
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SkuView {
    pub id: i64,
    pub product_id: i64,
    pub name: String,
    pub price_fen: i64,
    pub status: String,
}

impl From<&Sku> for SkuView {
    fn from(s: &Sku) -> Self {
        SkuView {
            id: s.id.get(),
            product_id: s.product.get(),
            name: s.name.as_str().into(),
            price_fen: s.price.get(),
            status: s.status.as_str().into(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProductView {
    pub id: i64,
    pub shop_id: i64,
    pub title: String,
    pub description: Option<String>,
    pub gtin: Option<String>,
    pub status: String,
    pub skus: Vec<SkuView>,
    pub created_at: String,
    pub updated_at: String,
}

impl ProductView {
    pub fn new(p: &Product, skus: &[Sku]) -> Self {
        ProductView {
            id: p.id.get(),
            shop_id: p.shop.get(),
            title: p.title.as_str().into(),
            description: p.description.as_ref().map(|d| d.as_str().into()),
            gtin: p.gtin.as_ref().map(|g| g.as_str().into()),
            status: p.status.as_str().into(),
            skus: skus.iter().map(SkuView::from).collect(),
            created_at: rfc3339(p.created_at),
            updated_at: rfc3339(p.updated_at),
        }
    }
}
