//! Wire shapes of the catalog: products, SKUs, their patches and pages.

use crate::clock::rfc3339;
use miaodan_domain::catalog::{Product, Sku};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSkuInput {
    /// Variant name, e.g. `500g装` or `黑色 M码`; 1–60 characters.
    #[schema(schema_with = crate::http::schema::text::<60>)]
    pub name: String,
    /// Price in fen (1/100 yuan), 0 to 10 000 000 000.
    #[serde(deserialize_with = "crate::http::extract::integer")]
    #[schema(schema_with = crate::http::schema::integer::<0, 10_000_000_000>)]
    pub price_fen: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProduct {
    #[schema(schema_with = crate::http::schema::text::<120>)]
    pub title: String,
    #[schema(schema_with = crate::http::schema::optional_text::<2000>)]
    pub description: Option<String>,
    /// GTIN-8/12/13/14 with a valid check digit; the same GTIN across shops is the same product.
    #[schema(schema_with = crate::http::schema::optional_gtin)]
    pub gtin: Option<String>,
    /// The after-sales goods class the no-reason window may exclude: `customised`,
    /// `perishable`, `digital_delivery` or `periodical`; absent or `null` for ordinary goods.
    #[serde(default)]
    #[schema(schema_with = crate::http::schema::optional_goods_class)]
    pub goods_class: Option<String>,
    /// 1 to 100 SKUs.
    #[schema(min_items = 1, max_items = 100)]
    pub skus: Vec<NewSkuInput>,
}

/// Fields to change; an absent field is left as it is, `null` clears an optional one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductPatch {
    #[schema(schema_with = crate::http::schema::optional_text::<120>)]
    pub title: Option<String>,
    #[serde(default, with = "double_option")]
    #[schema(schema_with = crate::http::schema::optional_text::<2000>)]
    pub description: Option<Option<String>>,
    #[serde(default, with = "double_option")]
    #[schema(schema_with = crate::http::schema::optional_gtin)]
    pub gtin: Option<Option<String>>,
    /// The after-sales goods class (`customised`, `perishable`, `digital_delivery`,
    /// `periodical`); `null` declares the goods ordinary.
    #[serde(default, with = "double_option")]
    #[schema(schema_with = crate::http::schema::optional_goods_class)]
    pub goods_class: Option<Option<String>>,
    /// `active` or `archived`.
    #[schema(schema_with = crate::http::schema::optional_listing_status)]
    pub status: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SkuPatch {
    #[schema(schema_with = crate::http::schema::optional_text::<60>)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "crate::http::extract::optional_integer")]
    #[schema(schema_with = crate::http::schema::optional_integer::<0, 10_000_000_000>)]
    pub price_fen: Option<i64>,
    /// `active` or `archived`.
    #[schema(schema_with = crate::http::schema::optional_listing_status)]
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
    /// The after-sales goods class, or `null` for ordinary goods.
    #[schema(schema_with = crate::http::schema::optional_goods_class)]
    pub goods_class: Option<String>,
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
            goods_class: p.goods_class.map(|g| g.as_str().into()),
            status: p.status.as_str().into(),
            skus: skus.iter().map(SkuView::from).collect(),
            created_at: rfc3339(p.created_at),
            updated_at: rfc3339(p.updated_at),
        }
    }
}
