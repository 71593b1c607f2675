//! Wire values into domain values, each in one place, with the field that was wrong.

use super::dto::AddressInput;
use super::problem::ApiError;
use miaodan_domain::Fen;
use miaodan_domain::catalog::{Gtin, ListingStatus, Text, TextError};
use miaodan_domain::geo::Adcode;
use miaodan_domain::money::PRICE_FEN_MAX;
use miaodan_domain::orders::{Address, AddressDetail};

pub fn text<const MAX: usize>(raw: &str, field: &str) -> Result<Text<MAX>, ApiError> {
    Text::parse(raw).map_err(|error| {
        let detail = match error {
            TextError::Empty => format!("{field} must not be empty"),
            TextError::TooLong { max_chars } => format!("{field} must be at most {max_chars} characters"),
            TextError::ControlCharacter => format!("{field} must not contain control characters"),
        };
        ApiError::invalid("invalid_field", field, detail)
    })
}

pub fn adcode(raw: &str, field: &str) -> Result<Adcode, ApiError> {
    Adcode::parse(raw).ok_or_else(|| {
        ApiError::invalid(
            "unknown_adcode",
            field,
            format!("{raw:?} is not a known 12-digit administrative division code"),
        )
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
