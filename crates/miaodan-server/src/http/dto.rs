//! Wire shapes shared by several capabilities (addresses). Each capability's own wire shapes
//! live beside it (`platform/dto.rs`, `orders/dto.rs`, …, or inline in `payments.rs`,
//! `fulfillment.rs`, `logistics.rs`); the problem body is in `problem.rs`.
//! Requests are parsed into domain types in the handlers, in one place each.

use miaodan_domain::orders::Address;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressInput {
    /// 12-digit administrative division code, e.g. `310101000000` (上海市黄浦区).
    #[schema(schema_with = crate::http::schema::adcode)]
    pub adcode: String,
    /// Street, number, building and room; 1–200 characters.
    #[schema(schema_with = crate::http::schema::text::<200>)]
    pub detail: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AddressView {
    pub adcode: String,
    /// Name of the division, e.g. `黄浦区`.
    pub division: Option<String>,
    pub detail: String,
}

impl From<&Address> for AddressView {
    fn from(address: &Address) -> Self {
        AddressView {
            adcode: address.adcode.as_text(),
            division: address.adcode.division().map(|d| d.name.clone()),
            detail: address.detail.as_str().to_string(),
        }
    }
}
