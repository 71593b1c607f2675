//! The payments' listings: payment intents and refunds, each of the caller's own — a buyer's
//! checkouts', a merchant's shop's (of an intent spanning shops, only the shop's part, drawn
//! by the one view function [`super::intent_view`]), or every one for operators — newest
//! first, optionally of one Asia/Shanghai day.

use super::super::page::{ListQuery, NoFilter, Page, PageQuery};
use super::super::problem::ApiError;
use super::{IntentScope, PaymentIntentView, RefundView, intent_view};
use crate::app::AppState;
use crate::auth::Principal;
use axum::Json;
use axum::extract::State;
use miaodan_domain::time::shanghai::{self, LocalDate};
use miaodan_store::records::PaymentFilter;
use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PaymentListQuery {
    /// Only those created on this Asia/Shanghai day, `YYYY-MM-DD`.
    #[param(schema_with = crate::http::schema::date)]
    pub date: Option<String>,
}

/// What `principal` may list, narrowed to the day asked for.
fn filter_of(principal: Principal, query: &PaymentListQuery) -> Result<PaymentFilter, ApiError> {
    let mut filter = PaymentFilter::default();
    match principal {
        Principal::Admin => {}
        Principal::Merchant(shop) => filter.shop = Some(shop),
        Principal::Buyer(buyer) => filter.buyer = Some(buyer),
    }
    if let Some(raw) = &query.date {
        let day =
            LocalDate::parse(raw).ok_or_else(|| ApiError::invalid("invalid_field", "date", "a date, YYYY-MM-DD"))?;
        let (from, before) = shanghai::day_bounds(day);
        filter.created_from = Some(from);
        filter.created_before = Some(before);
    }
    Ok(filter)
}

/// Payment intents, newest first: a buyer's own, those with an order of the merchant's shop
/// (only that shop's part of each: `shop_id` set), or (operators) every one.
#[utoipa::path(get, path = "/v1/payment-intents", tag = "payments", params(PaymentListQuery, PageQuery),
    responses((status = 200, body = Page<PaymentIntentView>), (status = 400, body = crate::http::problem::Problem),
        (status = 422, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
pub async fn list_intents(
    State(state): State<AppState>,
    principal: Principal,
    ListQuery { page, filter: query }: ListQuery<PaymentListQuery>,
) -> Result<Json<Page<PaymentIntentView>>, ApiError> {
    let filter = filter_of(principal, &query)?;
    let intents = state
        .store
        .payment_intents_page(&filter, page.keyset("payment_intents")?)
        .await?;
    let scope = IntentScope::of(principal);
    let view = |intent: &_| intent_view(&state, intent, scope);
    Ok(Json(page.page("payment_intents", intents, |i| i.id.get(), view)))
}

/// Refunds, newest first: of a buyer's payments, of the merchant's shop's orders, or
/// (operators) every one.
#[utoipa::path(get, path = "/v1/refunds", tag = "payments", params(PaymentListQuery, PageQuery),
    responses((status = 200, body = Page<RefundView>), (status = 400, body = crate::http::problem::Problem),
        (status = 422, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
pub async fn list_refunds(
    State(state): State<AppState>,
    principal: Principal,
    ListQuery { page, filter: query }: ListQuery<PaymentListQuery>,
) -> Result<Json<Page<RefundView>>, ApiError> {
    let filter = filter_of(principal, &query)?;
    let refunds = state.store.refunds_page(&filter, page.keyset("refunds")?).await?;
    Ok(Json(page.page(
        "refunds",
        refunds,
        |r| r.id.get(),
        |r| RefundView::from(r),
    )))
}

/// The refunds of an order, by id.
#[utoipa::path(get, path = "/v1/orders/{order_id}/refunds", tag = "payments",
    params(("order_id" = i64, Path), PageQuery),
    responses((status = 200, body = Page<RefundView>), (status = 400, body = crate::http::problem::Problem),
        (status = 404, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
pub async fn list_order_refunds(
    State(state): State<AppState>,
    principal: Principal,
    ids: crate::http::extract::PathIds,
    query: ListQuery<NoFilter>,
) -> Result<Json<Page<RefundView>>, ApiError> {
    let order = super::super::orders::visible_order(&state, principal, ids.one()).await?;
    let page = query.page;
    let refunds = state
        .store
        .refunds_of_order(order.id, page.keyset("order_refunds")?)
        .await?;
    Ok(Json(page.page(
        "order_refunds",
        refunds,
        |r| r.id.get(),
        |r| RefundView::from(r),
    )))
}
