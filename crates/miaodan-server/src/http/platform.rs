//! Platform administration: shops, buyers and their API tokens (admin tokens only, except
//! that a merchant may read its own shop and a buyer its own account).

pub mod dto;
mod tokens;

use super::extract::{JsonBody, PathIds, RawBody, optional_json};
use super::page::{ListQuery, NoFilter, Page, PageQuery};
use super::problem::ApiError;
use super::validate;
use crate::app::AppState;
use crate::auth::{Admin, Principal};
use crate::clock::rfc3339;
use crate::idempotency::{self, Reply};
use crate::sequencer::ShardError;
use crate::tokens::{self as lifecycle, LifetimeRefusal, TokenRequest};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use dto::{BuyerView, IssuedToken, NewBuyer, NewShop, NewToken, ShopPatch, ShopView};
use miaodan_domain::buyers::Buyer;
use miaodan_domain::catalog::Shop;
use miaodan_domain::shard::{CreateShop, Rejection, UpdateShop};
use miaodan_domain::{BuyerId, ShopId};
use miaodan_store::records::{Role, TokenScope};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The platform's routes, registered once for the router and the OpenAPI document.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_shop, list_shops))
        .routes(routes!(get_shop, update_shop))
        .routes(routes!(issue_merchant_token))
        .routes(routes!(create_buyer))
        .routes(routes!(get_buyer))
        .routes(routes!(issue_buyer_token))
        .routes(routes!(issue_edge_token))
        .routes(routes!(tokens::list_tokens))
        .routes(routes!(tokens::revoke_token))
}

/// How the platform's refusals are answered (the `code` is the core's [`Rejection::code`]).
pub fn refusal(rejection: &Rejection) -> ApiError {
    let code = rejection.code();
    match rejection {
        Rejection::UnknownShop => ApiError::new(StatusCode::NOT_FOUND, code, "no such shop"),
        Rejection::ShopExists => ApiError::new(StatusCode::CONFLICT, code, "the shop already exists"),
        other => super::problem::misrouted(other),
    }
}

fn render_shop(answer: &Result<Shop, Rejection>) -> Reply {
    match answer {
        Ok(shop) => Reply::json(StatusCode::CREATED, &ShopView::from(shop)),
        Err(rejection) => super::problem::refused(rejection),
    }
}

/// Create a shop.
#[utoipa::path(post, path = "/v1/shops", tag = "platform", request_body = NewShop,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses((status = 201, body = ShopView), (status = 422, body = super::problem::Problem)),
    security(("bearer" = [])))]
pub async fn create_shop(
    State(state): State<AppState>,
    _: Admin,
    headers: HeaderMap,
    body: JsonBody<NewShop>,
) -> Response {
    let request = ("POST", "/v1/shops", &body.raw[..]);
    idempotency::run(&state, Principal::Admin, &headers, request, |idem| async {
        let name = validate::text::<60>(&body.value.name, "name")?;
        let category = body
            .value
            .category
            .as_deref()
            .map(|c| validate::shop_category(c, "category"));
        let category = category.transpose()?.unwrap_or_default();
        let id = new_shop_id(&state, idem.as_ref()).await?;
        idempotency::ask(&state, id, CreateShop { id, name, category }, idem, render_shop).await
    })
    .await
}

/// A new shop's id. A member that shares the shards with others places the shop in its home
/// shard: with an Idempotency-Key, the shard the key names, so that every retry of the key, at
/// any member, is sent to that shard's holder and finds the answer stored there; without one, a
/// shard this member holds. The ids drawn in other shards are skipped.
async fn new_shop_id(state: &AppState, idem: Option<&idempotency::Idempotency>) -> Result<ShopId, ApiError> {
    let shards = &state.shards;
    if state.config.held_shards.is_none() {
        return Ok(state.ids.shop().await?);
    }
    let home = idem.map(|idem| shards.shard_of_text(&format!("{}/{}", idem.scope, idem.key)));
    if let Some(shard) = home.filter(|home| !shards.holds(*home)) {
        return Err(ShardError::HeldElsewhere { shard }.into());
    }
    // Ids come in order from a block: a shard comes round within the shard count.
    for _ in 0..shards.count() * 4 {
        let id = state.ids.shop().await?;
        let shard = shards.shard_of(id);
        if home.map_or(shards.holds(shard), |home| shard == home) {
            return Ok(id);
        }
    }
    Err(ApiError::unavailable("no shop id fell in this member's shards; retry"))
}

/// List every shop, by id.
#[utoipa::path(get, path = "/v1/shops", tag = "platform", params(PageQuery),
    responses((status = 200, body = Page<ShopView>), (status = 400, body = super::problem::Problem)),
    security(("bearer" = [])))]
pub async fn list_shops(
    State(state): State<AppState>,
    _: Admin,
    query: ListQuery<NoFilter>,
) -> Result<Json<Page<ShopView>>, ApiError> {
    let page = query.page;
    let shops = state.store.shops_page(page.keyset("shops")?).await?;
    Ok(Json(page.page("shops", shops, |s| s.id.get(), |s| ShopView::from(s))))
}

/// Read a shop (admin, or the shop's own merchant).
#[utoipa::path(get, path = "/v1/shops/{shop_id}", tag = "platform",
    params(("shop_id" = i64, Path)),
    responses((status = 200, body = ShopView), (status = 404, body = super::problem::Problem)),
    security(("bearer" = [])))]
pub async fn get_shop(
    State(state): State<AppState>,
    principal: Principal,
    ids: PathIds,
) -> Result<Json<ShopView>, ApiError> {
    let id = ShopId::new(ids.one()).ok_or_else(|| ApiError::not_found("shop"))?;
    let visible = matches!(principal, Principal::Admin) || principal == Principal::Merchant(id);
    let shop = state
        .store
        .shop(id)
        .await?
        .filter(|_| visible)
        .ok_or_else(|| ApiError::not_found("shop"))?;
    Ok(Json(ShopView::from(&shop)))
}

fn render_updated_shop(answer: &Result<Shop, Rejection>) -> Reply {
    match answer {
        Ok(shop) => Reply::json(StatusCode::OK, &ShopView::from(shop)),
        Err(rejection) => super::problem::refused(rejection),
    }
}

/// Change a shop's name or category (admin, or the shop's own merchant).
#[utoipa::path(patch, path = "/v1/shops/{shop_id}", tag = "platform", request_body = ShopPatch,
    params(("shop_id" = i64, Path), ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses((status = 200, body = ShopView), (status = 403, body = super::problem::Problem),
        (status = 404, body = super::problem::Problem), (status = 422, body = super::problem::Problem)),
    security(("bearer" = [])))]
pub async fn update_shop(
    State(state): State<AppState>,
    principal: Principal,
    ids: PathIds,
    headers: HeaderMap,
    body: JsonBody<ShopPatch>,
) -> Response {
    let path = format!("/v1/shops/{}", ids.one());
    let request = ("PATCH", path.as_str(), &body.raw[..]);
    idempotency::run(&state, principal, &headers, request, |idem| async {
        let id = ShopId::new(ids.one()).ok_or_else(|| ApiError::not_found("shop"))?;
        match principal {
            Principal::Admin => {}
            Principal::Merchant(own) if own == id => {}
            Principal::Merchant(_) => return Err(ApiError::not_found("shop")),
            Principal::Buyer(_) => {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "shops are changed by their merchant",
                ));
            }
        }
        let input = &body.value;
        let name = input
            .name
            .as_deref()
            .map(|n| validate::text::<60>(n, "name"))
            .transpose()?;
        let category = input
            .category
            .as_deref()
            .map(|c| validate::shop_category(c, "category"));
        let command = UpdateShop {
            shop: id,
            name,
            category: category.transpose()?,
        };
        idempotency::ask(&state, id, command, idem, render_updated_shop).await
    })
    .await
}

fn lifetime_refused(refusal: LifetimeRefusal) -> ApiError {
    match refusal {
        LifetimeRefusal::TooShort => ApiError::invalid("invalid_field", "expires_in_days", refusal.to_string()),
        LifetimeRefusal::TooLong { max_days, .. } => ApiError::invalid(
            "token_lifetime_too_long",
            "expires_in_days",
            format!("{refusal}; ask for {max_days} days or fewer"),
        ),
    }
}

/// What a replayed token issuance shows instead of the secret.
pub const REDACTED_SECRET: &str = "(shown once; issue a new token if it was lost)";

async fn issue(
    state: &AppState,
    role: Role,
    subject: Option<i64>,
    input: NewToken,
    idem: Option<idempotency::Idempotency>,
) -> Result<Reply, ApiError> {
    let label = input
        .label
        .as_deref()
        .map(|l| validate::text::<60>(l, "label"))
        .transpose()?;
    let request = TokenRequest {
        role,
        subject,
        label: label.map(|l| l.as_str().to_string()),
        scope: match input.scope.as_deref() {
            None => TokenScope::ReadWrite,
            Some(raw) => TokenScope::parse(raw)
                .ok_or_else(|| ApiError::invalid("invalid_field", "scope", "scope is `read_write` or `read_only`"))?,
        },
        lifetime_days: input.expires_in_days,
    };
    let (record, token) =
        lifecycle::mint(state.ids.token().await?, request, state.clock.now()).map_err(lifetime_refused)?;
    let view = IssuedToken {
        token_id: record.id,
        token,
        role: role.as_str().into(),
        shop_id: subject.filter(|_| role == Role::Merchant),
        buyer_id: subject.filter(|_| role == Role::Buyer),
        scope: record.scope.into(),
        expires_at: rfc3339(record.expires_at),
    };
    let reply = Reply::json(StatusCode::CREATED, &view);
    // The secret is never stored, not even in the idempotent response: a retry with the same
    // key gets the same status and token id, with the secret redacted.
    let redacted = Reply::json(
        StatusCode::CREATED,
        &IssuedToken {
            token: REDACTED_SECRET.into(),
            ..view
        },
    );
    state
        .store
        .insert_token(&record, idem.map(|i| i.record(&redacted)).as_ref())
        .await?;
    state.tokens.remember(record);
    Ok(reply)
}

/// Issue an API token for a shop's merchant. The token is shown once.
#[utoipa::path(post, path = "/v1/shops/{shop_id}/tokens", tag = "platform", request_body = Option<NewToken>,
    params(("shop_id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = IssuedToken), (status = 404, body = super::problem::Problem)),
    security(("bearer" = [])))]
pub async fn issue_merchant_token(
    State(state): State<AppState>,
    _: Admin,
    ids: PathIds,
    headers: HeaderMap,
    RawBody(raw): RawBody,
) -> Response {
    let path = format!("/v1/shops/{}/tokens", ids.one());
    idempotency::run(
        &state,
        Principal::Admin,
        &headers,
        ("POST", &path, &raw),
        |idem| async {
            let shop = ShopId::new(ids.one()).ok_or_else(|| ApiError::not_found("shop"))?;
            state
                .store
                .shop(shop)
                .await?
                .ok_or_else(|| ApiError::not_found("shop"))?;
            let input = optional_json(&headers, &raw)?;
            issue(&state, Role::Merchant, Some(shop.get()), input, idem).await
        },
    )
    .await
}

/// Create a buyer account.
#[utoipa::path(post, path = "/v1/buyers", tag = "platform", request_body = NewBuyer,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = BuyerView), (status = 422, body = super::problem::Problem)),
    security(("bearer" = [])))]
pub async fn create_buyer(
    State(state): State<AppState>,
    _: Admin,
    headers: HeaderMap,
    body: JsonBody<NewBuyer>,
) -> Response {
    let request = ("POST", "/v1/buyers", &body.raw[..]);
    idempotency::run(&state, Principal::Admin, &headers, request, |idem| async {
        let input = &body.value;
        let name = validate::text::<60>(&input.name, "name")?;
        let default_address = input
            .default_address
            .as_ref()
            .map(|a| validate::address(a, "default_address"))
            .transpose()?;
        let id = state.ids.buyer().await?;
        let buyer = Buyer {
            id,
            name,
            default_address,
            created_at: state.clock.now(),
        };
        let reply = Reply::json(StatusCode::CREATED, &BuyerView::from(&buyer));
        state
            .store
            .insert_buyer(&buyer, idem.map(|i| i.record(&reply)).as_ref())
            .await?;
        Ok(reply)
    })
    .await
}

/// Read a buyer (admin, or the buyer itself).
#[utoipa::path(get, path = "/v1/buyers/{buyer_id}", tag = "platform",
    params(("buyer_id" = i64, Path)),
    responses((status = 200, body = BuyerView), (status = 404, body = super::problem::Problem)),
    security(("bearer" = [])))]
pub async fn get_buyer(
    State(state): State<AppState>,
    principal: Principal,
    ids: PathIds,
) -> Result<Json<BuyerView>, ApiError> {
    let id = BuyerId::new(ids.one()).ok_or_else(|| ApiError::not_found("buyer"))?;
    let visible = matches!(principal, Principal::Admin) || principal == Principal::Buyer(id);
    let buyer = state
        .store
        .buyer(id)
        .await?
        .filter(|_| visible)
        .ok_or_else(|| ApiError::not_found("buyer"))?;
    Ok(Json(BuyerView::from(&buyer)))
}

/// Issue an API token for a buyer. The token is shown once.
#[utoipa::path(post, path = "/v1/buyers/{buyer_id}/tokens", tag = "platform", request_body = Option<NewToken>,
    params(("buyer_id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = IssuedToken), (status = 404, body = super::problem::Problem)),
    security(("bearer" = [])))]
pub async fn issue_buyer_token(
    State(state): State<AppState>,
    _: Admin,
    ids: PathIds,
    headers: HeaderMap,
    RawBody(raw): RawBody,
) -> Response {
    let path = format!("/v1/buyers/{}/tokens", ids.one());
    idempotency::run(
        &state,
        Principal::Admin,
        &headers,
        ("POST", &path, &raw),
        |idem| async {
            let buyer = BuyerId::new(ids.one()).ok_or_else(|| ApiError::not_found("buyer"))?;
            state
                .store
                .buyer(buyer)
                .await?
                .ok_or_else(|| ApiError::not_found("buyer"))?;
            let input = optional_json(&headers, &raw)?;
            issue(&state, Role::Buyer, Some(buyer.get()), input, idem).await
        },
    )
    .await
}

/// Issue an API token for a trusted edge gateway: a server of the platform's, close to the
/// viewers, that authenticates buyers itself and carries their taps in batches
/// (`POST /v1/flash-sales/{flash_sale_id}/taps/batch`, the only route it may call). The token is
/// shown once.
#[utoipa::path(post, path = "/v1/edge-tokens", tag = "platform", request_body = Option<NewToken>,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = IssuedToken), (status = 422, body = super::problem::Problem)),
    security(("bearer" = [])))]
pub async fn issue_edge_token(
    State(state): State<AppState>,
    _: Admin,
    headers: HeaderMap,
    RawBody(raw): RawBody,
) -> Response {
    let request = ("POST", "/v1/edge-tokens", &raw[..]);
    idempotency::run(&state, Principal::Admin, &headers, request, |idem| async {
        let input = optional_json(&headers, &raw)?;
        issue(&state, Role::Edge, None, input, idem).await
    })
    .await
}
