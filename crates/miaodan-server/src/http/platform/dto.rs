//! Wire shapes of platform administration: shops, buyers and the tokens issued to them.

use crate::clock::rfc3339;
use crate::http::dto::{AddressInput, AddressView};
use crate::tokens::TokenState;
use miaodan_domain::Timestamp;
use miaodan_domain::buyers::Buyer;
use miaodan_domain::catalog::Shop;
use miaodan_store::records::{Role, TokenRecord, TokenScope};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewShop {
    /// 1–60 characters.
    #[schema(schema_with = crate::http::schema::text::<60>)]
    pub name: String,
    /// What the shop sells; its diagnosis compares it with its category. `other` when absent.
    #[schema(schema_with = crate::http::schema::optional_shop_category)]
    pub category: Option<String>,
}

/// Fields to change; an absent (or `null`) field is left as it is.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShopPatch {
    #[schema(schema_with = crate::http::schema::optional_text::<60>)]
    pub name: Option<String>,
    #[schema(schema_with = crate::http::schema::optional_shop_category)]
    pub category: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ShopView {
    pub id: i64,
    pub name: String,
    /// apparel, beauty, food, electronics, home, baby, sports or other.
    #[schema(schema_with = crate::http::schema::shop_category)]
    pub category: String,
    pub created_at: String,
}

impl From<&Shop> for ShopView {
    fn from(shop: &Shop) -> Self {
        ShopView {
            id: shop.id.get(),
            name: shop.name.as_str().into(),
            category: shop.category.as_str().into(),
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
    /// How long the token lives, in days. Default and maximum per role: buyer 30 / 90,
    /// merchant and edge 90 / 365, admin 30 / 90; more than the maximum is refused
    /// (`token_lifetime_too_long`).
    #[serde(default, deserialize_with = "crate::http::extract::optional_integer")]
    #[schema(minimum = 1, maximum = 365)]
    pub expires_in_days: Option<i64>,
    /// `read_write` (the default) or `read_only` (GET requests only).
    #[schema(value_type = Option<ScopeWire>)]
    pub scope: Option<String>,
}

/// What a token may do on top of its role: everything (`read_write`) or only read (`read_only`).
#[derive(Clone, Copy, Debug, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
#[schema(as = TokenScope)]
pub enum ScopeWire {
    ReadWrite,
    ReadOnly,
}

impl From<TokenScope> for ScopeWire {
    fn from(scope: TokenScope) -> ScopeWire {
        match scope {
            TokenScope::ReadWrite => ScopeWire::ReadWrite,
            TokenScope::ReadOnly => ScopeWire::ReadOnly,
        }
    }
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
    pub scope: ScopeWire,
    /// The token stops working at this instant (RFC 3339).
    pub expires_at: String,
}

/// A token as lists show it: never its secret nor its hash.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    pub id: i64,
    /// `admin`, `merchant`, `buyer` or `edge`.
    pub role: String,
    pub shop_id: Option<i64>,
    pub buyer_id: Option<i64>,
    pub label: Option<String>,
    pub scope: ScopeWire,
    /// `active`, `expired` or `revoked`, now.
    pub state: String,
    pub created_at: String,
    pub expires_at: String,
    /// When a request last presented it. The server writes it at most once a minute, so after a
    /// crash it may be up to a minute old.
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

impl TokenView {
    /// The view of `record` at `now`, with its last use as the server knows it.
    pub fn new(record: &TokenRecord, last_used: Option<Timestamp>, now: Timestamp) -> TokenView {
        let last_used = last_used.max(record.last_used_at);
        TokenView {
            id: record.id,
            role: record.role.as_str().into(),
            shop_id: record.subject.filter(|_| record.role == Role::Merchant),
            buyer_id: record.subject.filter(|_| record.role == Role::Buyer),
            label: record.label.clone(),
            scope: record.scope.into(),
            state: TokenState::of(record, now).as_str().into(),
            created_at: rfc3339(record.created_at),
            expires_at: rfc3339(record.expires_at),
            last_used_at: last_used.map(rfc3339),
            revoked_at: record.revoked_at.map(rfc3339),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TokenQuery {
    /// Only this shop's merchant tokens (admin; a merchant's and a buyer's lists are their own).
    #[param(minimum = 1)]
    pub shop_id: Option<i64>,
    /// Only this buyer's tokens (admin; one of `shop_id` and `buyer_id`).
    #[param(minimum = 1)]
    pub buyer_id: Option<i64>,
}
