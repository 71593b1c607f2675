//! Wire values into domain values, each in one place, with the field that was wrong.

use super::dto::AddressInput;
use super::problem::ApiError;
use miaodan_domain::Fen;
use miaodan_domain::after_sales::policy::ExemptGoods;
use miaodan_domain::catalog::{Gtin, ListingStatus, ShopCategory, Text, TextError};
use miaodan_domain::geo::Adcode;
use miaodan_domain::money::PRICE_FEN_MAX;
use miaodan_domain::orders::{Address, AddressDetail};

pub fn text<const MAX: usize>(raw: &str, field: &str) -> Result<Text<MAX>, ApiError> {
    Text::parse(raw).map_err(|error| {
        let detail = match error {
            TextError::Empty => format!("{field} must not be empty or blank (only whitespace or invisible characters)"),
            TextError::TooLong { max_chars } => format!("{field} must be at most {max_chars} characters"),
            TextError::ControlCharacter => format!("{field} must not contain control characters"),
        };
        ApiError::invalid("invalid_field", field, detail)
    })
}

/// An administrative division code: 12 digits (else 422 `invalid_adcode`) of a division
/// that exists (else 404 `unknown_adcode`: a reference to nothing).
pub fn adcode(raw: &str, field: &str) -> Result<Adcode, ApiError> {
    if raw.len() != 12 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        let detail = format!("`{field}` must be a 12-digit administrative division code");
        return Err(ApiError::invalid("invalid_adcode", field, detail));
    }
    Adcode::parse(raw).ok_or_else(|| {
        let detail = format!("no administrative division has the code `{field}` names");
        ApiError::new(axum::http::StatusCode::NOT_FOUND, "unknown_adcode", detail).field(field)
    })
}

pub fn address(input: &AddressInput, field: &str) -> Result<Address, ApiError> {
    Ok(Address {
        adcode: adcode(&input.adcode, &format!("{field}.adcode"))?,
        detail: text::<200>(&input.detail, &format!("{field}.detail"))? as AddressDetail,
    })
}

pub fn price(raw: i64, field: &str) -> Result<Fen, ApiError> {
    Fen::price(raw).ok_or_else(|| {
        ApiError::invalid(
            "invalid_price",
            field,
            format!("a price is 0 to {PRICE_FEN_MAX} fen, got {raw}"),
        )
    })
}

pub fn gtin(raw: &str, field: &str) -> Result<Gtin, ApiError> {
    Gtin::parse(raw).ok_or_else(|| {
        ApiError::invalid(
            "invalid_gtin",
            field,
            "a GTIN is 8, 12, 13 or 14 digits with a valid check digit",
        )
    })
}

pub fn status(raw: &str, field: &str) -> Result<ListingStatus, ApiError> {
    ListingStatus::parse(raw)
        .ok_or_else(|| ApiError::invalid("invalid_field", field, "status is `active` or `archived`"))
}

/// A product's after-sales goods class.
pub fn goods_class(raw: &str, field: &str) -> Result<ExemptGoods, ApiError> {
    ExemptGoods::parse(raw).ok_or_else(|| {
        ApiError::invalid(
            "invalid_field",
            field,
            "goods_class is customised, perishable, digital_delivery or periodical",
        )
    })
}

pub fn shop_category(raw: &str, field: &str) -> Result<ShopCategory, ApiError> {
    ShopCategory::parse(raw).ok_or_else(|| {
        ApiError::invalid(
            "invalid_field",
            field,
            format!("category is one of {}", ShopCategory::NAMES.join(", ")),
        )
    })
}

/// A positive id in a body (`sku_id`, `warehouse_id`): a smaller one breaks the documented
/// minimum, so it is refused before any lookup.
pub fn positive_id(raw: i64, field: &str) -> Result<i64, ApiError> {
    if raw > 0 {
        Ok(raw)
    } else {
        Err(ApiError::invalid(
            "invalid_field",
            field,
            format!("`{field}` must be a positive id"),
        ))
    }
}
