//! Wire shapes of platform administration: shops, buyers and the tokens issued to them.

use crate::clock::rfc3339;
use crate::http::dto::{AddressInput, AddressView};
use miaodan_domain::buyers::Buyer;
use miaodan_domain::catalog::Shop;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewShop {
    /// 1–60 characters.
    #[schema(schema_with = crate::http::schema::text::<60>)]
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ShopView {
    pub id: i64,
    pub name: String,
    pub created_at: String,
}

impl From<&Shop> for ShopView {
    fn from(shop: &Shop) -> Self {
        ShopView {
            id: shop.id.get(),
            name: shop.name.as_str().into(),
            created_at: rfc3339(shop.created_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBuyer {
    #[schema(schema_with = crate::http::schema::text::<60>)]
    pub name: String,
    pub default_address: Option<AddressInput>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BuyerView {
    pub id: i64,
    pub name: String,
    pub default_address: Option<AddressView>,
    pub created_at: String,
}

impl From<&Buyer> for BuyerView {
    fn from(buyer: &Buyer) -> Self {
        BuyerView {
            id: buyer.id.get(),
            name: buyer.name.as_str().into(),
            default_address: buyer.default_address.as_ref().map(AddressView::from),
            created_at: rfc3339(buyer.created_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// A note for humans, e.g. `checkout service`.
    #[schema(schema_with = crate::http::schema::optional_text::<60>)]
    pub label: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedToken {
    pub token_id: i64,
    /// The bearer token. Shown once; only its hash is stored. A retry with the same
    /// Idempotency-Key replays this answer with the secret redacted.
    pub token: String,
    pub role: String,
    pub shop_id: Option<i64>,
    pub buyer_id: Option<i64>,
}
