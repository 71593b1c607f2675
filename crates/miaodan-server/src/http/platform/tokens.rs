//! Listing and revoking API tokens. Each caller sees the tokens it answers for: an admin every
//! token, a merchant its shop's, a buyer its own; another tenant's token answers 404. A list
//! shows no secret and no hash: the secret is shown once, when the token is issued.

use super::dto::{TokenQuery, TokenView};
use crate::app::AppState;
use crate::auth::Principal;
use crate::http::extract::PathIds;
use crate::http::page::{ListQuery, Page, PageQuery, PageRequest};
use crate::http::problem::ApiError;
use axum::Json;
use axum::extract::State;
use miaodan_store::records::{Role, TokenFilter, TokenRecord};

/// The name of the token list in its cursors.
const TOKENS: &str = "tokens";

fn positive(raw: Option<i64>, field: &str) -> Result<Option<i64>, ApiError> {
    match raw {
        Some(id) if id < 1 => Err(ApiError::invalid(
            "invalid_field",
            field,
            format!("{field} is a positive id"),
        )),
        other => Ok(other),
    }
}

/// Which tokens a caller's list covers: its own, or for an admin those it filters on.
fn filter_of(principal: Principal, query: &TokenQuery, page: &PageRequest) -> Result<TokenFilter, ApiError> {
    let shop = positive(query.shop_id, "shop_id")?;
    let buyer = positive(query.buyer_id, "buyer_id")?;
    let (role, subject) = match principal {
        Principal::Merchant(own) => (Some(Role::Merchant), Some(own.get())),
        Principal::Buyer(own) => (Some(Role::Buyer), Some(own.get())),
        Principal::Admin => match (shop, buyer) {
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid(
                    "invalid_field",
                    "buyer_id",
                    "filter on shop_id or on buyer_id, not both",
                ));
            }
            (Some(shop), None) => (Some(Role::Merchant), Some(shop)),
            (None, Some(buyer)) => (Some(Role::Buyer), Some(buyer)),
            (None, None) => (None, None),
        },
    };
    Ok(TokenFilter {
        role,
        subject,
        before: page.after::<i64>(TOKENS)?,
        limit: page.fetch(),
    })
}

fn view(state: &AppState, record: &TokenRecord) -> TokenView {
    TokenView::new(record, state.tokens.last_used(record.id), state.clock.now())
}

/// List API tokens, newest first: an admin's list covers every token (or one shop's or one
/// buyer's), a merchant's its shop's tokens, a buyer's its own. No secret or hash is shown.
#[utoipa::path(get, path = "/v1/tokens", tag = "platform", params(TokenQuery, PageQuery),
    responses((status = 200, body = Page<TokenView>), (status = 400, body = crate::http::problem::Problem),
        (status = 422, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
pub async fn list_tokens(
    State(state): State<AppState>,
    principal: Principal,
    ListQuery { page, filter: query }: ListQuery<TokenQuery>,
) -> Result<Json<Page<TokenView>>, ApiError> {
    let found = state.store.tokens(&filter_of(principal, &query, &page)?).await?;
    Ok(Json(page.page(TOKENS, found, |t| t.id, |record| view(&state, record))))
}

/// Revoke an API token: it is refused (401) from the next request on. An admin may revoke any
/// token, a merchant its shop's, a buyer its own; revoking a revoked token answers it as it
/// is.
#[utoipa::path(delete, path = "/v1/tokens/{token_id}", tag = "platform",
    params(("token_id" = i64, Path)),
    responses((status = 200, body = TokenView), (status = 404, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
pub async fn revoke_token(
    State(state): State<AppState>,
    principal: Principal,
    ids: PathIds,
) -> Result<Json<TokenView>, ApiError> {
    let not_found = || ApiError::not_found("token");
    let id = ids.one();
    let found = state
        .store
        .token(id)
        .await?
        .filter(|record| principal.sees_token(record))
        .ok_or_else(not_found)?;
    if found.revoked_at.is_some() {
        return Ok(Json(view(&state, &found)));
    }
    let revoked = state
        .store
        .revoke_token(id, state.clock.now())
        .await?
        .ok_or_else(not_found)?;
    let last_used = state.tokens.last_used(id);
    // After the commit: a request from now on reads the revoked record.
    state.tokens.forget(id);
    Ok(Json(TokenView::new(&revoked, last_used, state.clock.now())))
}
