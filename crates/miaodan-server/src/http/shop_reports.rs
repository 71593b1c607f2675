//! Whose shop a report about a shop (a diagnosis, the quality index) is read for: a merchant's
//! own, or the one an operator names with `shop_id`. A buyer reads none.

use super::problem::ApiError;
use super::validate;
use crate::app::AppState;
use crate::auth::Principal;
use axum::http::StatusCode;
use miaodan_domain::ShopId;
use miaodan_domain::catalog::Shop;

/// The shop `principal` may read a report about: the merchant's own (`asked` may name it), the
/// one an operator names (without `shop_id` it names none: 404). Another shop is 404 to a
/// merchant; a buyer is refused 403 with `who_reads` ("diagnosis reports are for merchants and
/// operators").
pub async fn shop_reported_to(
    state: &AppState,
    principal: Principal,
    asked: Option<i64>,
    who_reads: &'static str,
) -> Result<Shop, ApiError> {
    let asked = asked.map(|raw| validate::positive_id(raw, "shop_id")).transpose()?;
    let id = match principal {
        Principal::Buyer(_) => return Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", who_reads)),
        // Every request the schema allows is answered as a lookup: without `shop_id` an
        // operator names no shop.
        Principal::Admin => asked.ok_or_else(|| ApiError::not_found("shop (an operator names `shop_id`)"))?,
        Principal::Merchant(own) if asked.is_none_or(|a| a == own.get()) => own.get(),
        Principal::Merchant(_) => return Err(ApiError::not_found("shop")),
    };
    let id = ShopId::new(id).ok_or_else(|| ApiError::not_found("shop"))?;
    state.store.shop(id).await?.ok_or_else(|| ApiError::not_found("shop"))
}
