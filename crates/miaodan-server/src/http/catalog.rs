//! Catalog endpoints: merchants create and change products and SKUs of their own shop; every
//! role browses and searches (buyers see only what can be ordered).

pub mod dto;

use super::extract::{JsonBody, PathIds};
use super::page::{ListQuery, Page, PageQuery};
use super::problem::ApiError;
use super::problem::refused;
use super::validate;
use crate::app::AppState;
use crate::auth::{Merchant, Principal};
use crate::idempotency::{self, Reply};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use dto::{NewProduct, NewSkuInput, ProductPatch, ProductView, SkuPatch, SkuView};
use miaodan_domain::catalog::{Gtin, ListingStatus, NewSku, PRODUCT_SKUS_MAX, ProductChanges, SkuChanges};
use miaodan_domain::catalog::{Product, Sku};
use miaodan_domain::shard::Rejection;
use miaodan_domain::shard::SavedProduct;
use miaodan_domain::shard::{AddSku, CreateProduct, UpdateProduct, UpdateSku};
use miaodan_domain::{ProductId, ShopId, SkuId};
use miaodan_store::records::{Keyset, ProductFilter};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The catalog's routes, registered once for the router and the OpenAPI document.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_product, list_products))
        .routes(routes!(get_product, update_product))
        .routes(routes!(add_sku))
        .routes(routes!(update_sku))
}

/// How the catalog's refusals are answered (the `code` is the core's [`Rejection::code`]).
pub fn refusal(rejection: &Rejection) -> ApiError {
    let code = rejection.code();
    match rejection {
        Rejection::UnknownProduct => ApiError::new(StatusCode::NOT_FOUND, code, "no such product"),
        Rejection::UnknownSku { sku } => {
            ApiError::new(StatusCode::NOT_FOUND, code, format!("no such SKU: {sku}")).field("sku_id")
        }
        Rejection::SkuUnavailable { sku } => ApiError::new(
            StatusCode::CONFLICT,
            code,
            format!("SKU {sku} (or its product) is archived and cannot be ordered"),
        )
        .field("sku_id"),
        // Only adding a SKU can reach it (a new product's SKUs are counted at the edge): the
        // product's state refuses a valid request.
        Rejection::TooManySkus => ApiError::new(
            StatusCode::CONFLICT,
            code,
            format!("the product has {PRODUCT_SKUS_MAX} SKUs already"),
        ),
        other => super::problem::misrouted(other),
    }
}

/// A SKU from its input; `prefix` locates the input in the body (`skus[2].`, or empty when
/// the SKU is the whole body), so a refusal names the field as the JSON errors do.
async fn new_sku(state: &AppState, input: &NewSkuInput, prefix: &str) -> Result<NewSku, ApiError> {
    Ok(NewSku {
        id: state.ids.sku().await?,
        name: validate::text::<60>(&input.name, &format!("{prefix}name"))?,
        price: validate::price(input.price_fen, &format!("{prefix}price_fen"))?,
    })
}

fn render_created_product(answer: &Result<SavedProduct, Rejection>) -> Reply {
    match answer {
        Ok(saved) => Reply::json(StatusCode::CREATED, &ProductView::new(&saved.product, &saved.skus)),
        Err(rejection) => refused(rejection),
    }
}

fn render_product(answer: &Result<SavedProduct, Rejection>) -> Reply {
    match answer {
        Ok(saved) => Reply::json(StatusCode::OK, &ProductView::new(&saved.product, &saved.skus)),
        Err(rejection) => refused(rejection),
    }
}

fn render_created_sku(answer: &Result<Sku, Rejection>) -> Reply {
    match answer {
        Ok(sku) => Reply::json(StatusCode::CREATED, &SkuView::from(sku)),
        Err(rejection) => refused(rejection),
    }
}

/// Another shop's SKU is answered like a missing one. The shard stores what this renders as
/// the idempotent response, so a replay is the same 404 as the first answer.
fn render_sku(answer: &Result<Sku, Rejection>) -> Reply {
    match answer {
        Ok(sku) => Reply::json(StatusCode::OK, &SkuView::from(sku)),
        Err(Rejection::UnknownSku { .. }) => ApiError::not_found("SKU").into(),
        Err(rejection) => refused(rejection),
    }
}

/// Create a product with its SKUs.
#[utoipa::path(post, path = "/v1/products", tag = "catalog", request_body = NewProduct,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = ProductView), (status = 422, body = super::problem::Problem)),
    security(("bearer" = [])))]
pub async fn create_product(
    State(state): State<AppState>,
    Merchant(shop): Merchant,
    headers: HeaderMap,
    body: JsonBody<NewProduct>,
) -> Response {
    let request = ("POST", "/v1/products", &body.raw[..]);
    idempotency::run(&state, Principal::Merchant(shop), &headers, request, |idem| async {
        let input = &body.value;
        if input.skus.is_empty() || input.skus.len() > PRODUCT_SKUS_MAX {
            return Err(ApiError::invalid(
                "invalid_field",
                "skus",
                "a product has 1 to 100 SKUs",
            ));
        }
        let command = CreateProduct {
            id: state.ids.product().await?,
            shop,
            title: validate::text::<120>(&input.title, "title")?,
            description: input
                .description
                .as_deref()
                .map(|d| validate::text::<2000>(d, "description"))
                .transpose()?,
            gtin: input.gtin.as_deref().map(|g| validate::gtin(g, "gtin")).transpose()?,
            goods_class: input
                .goods_class
                .as_deref()
                .map(|g| validate::goods_class(g, "goods_class"))
                .transpose()?,
            skus: {
                let mut skus = Vec::with_capacity(input.skus.len());
                for (i, sku) in input.skus.iter().enumerate() {
                    skus.push(new_sku(&state, sku, &format!("skus[{i}].")).await?);
                }
                skus
            },
        };
        idempotency::ask(&state, shop, command, idem, render_created_product).await
    })
    .await
}

/// Change a product's title, description, GTIN, after-sales goods class or status.
#[utoipa::path(patch, path = "/v1/products/{product_id}", tag = "catalog", request_body = ProductPatch,
    params(("product_id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = ProductView), (status = 404, body = super::problem::Problem)),
    security(("bearer" = [])))]
pub async fn update_product(
    State(state): State<AppState>,
    Merchant(shop): Merchant,
    ids: PathIds,
    headers: HeaderMap,
    body: JsonBody<ProductPatch>,
) -> Response {
    let path = format!("/v1/products/{}", ids.one());
    let request = ("PATCH", path.as_str(), &body.raw[..]);
    idempotency::run(&state, Principal::Merchant(shop), &headers, request, |idem| async {
        let id = ProductId::new(ids.one()).ok_or_else(|| ApiError::not_found("product"))?;
        let input = &body.value;
        fn text_or_clear(value: &Option<Option<String>>) -> Option<Option<&str>> {
            value.as_ref().map(|inner| inner.as_deref())
        }
        let changes = ProductChanges {
            title: input
                .title
                .as_deref()
                .map(|t| validate::text::<120>(t, "title"))
                .transpose()?,
            description: text_or_clear(&input.description)
                .map(|d| d.map(|d| validate::text::<2000>(d, "description")).transpose())
                .transpose()?,
            gtin: text_or_clear(&input.gtin)
                .map(|g| g.map(|g| validate::gtin(g, "gtin")).transpose())
                .transpose()?,
            goods_class: text_or_clear(&input.goods_class)
                .map(|g| g.map(|g| validate::goods_class(g, "goods_class")).transpose())
                .transpose()?,
            status: input
                .status
                .as_deref()
                .map(|s| validate::status(s, "status"))
                .transpose()?,
        };
        let command = UpdateProduct { id, shop, changes };
        idempotency::ask(&state, shop, command, idem, render_product).await
    })
    .await
}

/// Add a SKU to a product.
#[utoipa::path(post, path = "/v1/products/{product_id}/skus", tag = "catalog", request_body = NewSkuInput,
    params(("product_id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = SkuView), (status = 404, body = super::problem::Problem)),
    security(("bearer" = [])))]
pub async fn add_sku(
    State(state): State<AppState>,
    Merchant(shop): Merchant,
    ids: PathIds,
    headers: HeaderMap,
    body: JsonBody<NewSkuInput>,
) -> Response {
    let path = format!("/v1/products/{}/skus", ids.one());
    let request = ("POST", path.as_str(), &body.raw[..]);
    idempotency::run(&state, Principal::Merchant(shop), &headers, request, |idem| async {
        let product = ProductId::new(ids.one()).ok_or_else(|| ApiError::not_found("product"))?;
        let sku = new_sku(&state, &body.value, "").await?;
        let command = AddSku { shop, product, sku };
        idempotency::ask(&state, shop, command, idem, render_created_sku).await
    })
    .await
}

/// Change a SKU's name, price or status.
#[utoipa::path(patch, path = "/v1/skus/{sku_id}", tag = "catalog", request_body = SkuPatch,
    params(("sku_id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = SkuView), (status = 404, body = super::problem::Problem)),
    security(("bearer" = [])))]
pub async fn update_sku(
    State(state): State<AppState>,
    Merchant(shop): Merchant,
    ids: PathIds,
    headers: HeaderMap,
    body: JsonBody<SkuPatch>,
) -> Response {
    let path = format!("/v1/skus/{}", ids.one());
    let request = ("PATCH", path.as_str(), &body.raw[..]);
    idempotency::run(&state, Principal::Merchant(shop), &headers, request, |idem| async {
        let sku = SkuId::new(ids.one()).ok_or_else(|| ApiError::not_found("SKU"))?;
        let input = &body.value;
        let changes = SkuChanges {
            name: input
                .name
                .as_deref()
                .map(|n| validate::text::<60>(n, "name"))
                .transpose()?,
            price: input.price_fen.map(|p| validate::price(p, "price_fen")).transpose()?,
            status: input
                .status
                .as_deref()
                .map(|s| validate::status(s, "status"))
                .transpose()?,
        };
        idempotency::ask(&state, shop, UpdateSku { shop, sku, changes }, idem, render_sku).await
    })
    .await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ProductQuery {
    /// Words of the title to search for.
    #[param(schema_with = crate::http::schema::search)]
    pub q: Option<String>,
    /// Only products with this GTIN (the same product across shops).
    #[param(schema_with = crate::http::schema::gtin)]
    pub gtin: Option<String>,
    /// Only this shop's products (buyers and admins).
    #[param(schema_with = crate::http::schema::id)]
    pub shop_id: Option<i64>,
}

/// The words searched for: at most 100 characters as sent, none of them a control character
/// (no title holds one, and PostgreSQL refuses text with NUL outright); blank searches all.
fn search(raw: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(raw) = raw else { return Ok(None) };
    if raw.chars().count() > 100 {
        return Err(ApiError::invalid("invalid_field", "q", "`q` is at most 100 characters"));
    }
    if raw.chars().any(char::is_control) {
        let detail = "`q` must not contain control characters";
        return Err(ApiError::invalid("invalid_field", "q", detail));
    }
    let trimmed = raw.trim();
    Ok((!trimmed.is_empty()).then(|| trimmed.to_string()))
}

fn gtin_filter(raw: &str) -> Result<Gtin, ApiError> {
    Gtin::parse(raw).ok_or_else(|| {
        let detail = "`gtin` must be 8, 12, 13 or 14 digits with a valid check digit";
        ApiError::invalid("invalid_field", "gtin", detail)
    })
}

/// Browse and search products, by id. Buyers see active products of every shop; a merchant sees
/// all of its own shop's products; an admin sees everything.
#[utoipa::path(get, path = "/v1/products", tag = "catalog", params(ProductQuery, PageQuery),
    responses((status = 200, body = Page<ProductView>), (status = 400, body = super::problem::Problem),
        (status = 422, body = super::problem::Problem)),
    security(("bearer" = [])))]
pub async fn list_products(
    State(state): State<AppState>,
    principal: Principal,
    ListQuery { page, filter: query }: ListQuery<ProductQuery>,
) -> Result<Json<Page<ProductView>>, ApiError> {
    let Keyset { after, limit } = page.keyset::<i64>("products")?;
    let requested_shop = query
        .shop_id
        .map(|s| {
            ShopId::new(s)
                .ok_or_else(|| ApiError::invalid("invalid_field", "shop_id", "`shop_id` must be a positive id"))
        })
        .transpose()?;
    let (shop, active_only) = match principal {
        Principal::Merchant(own) => (Some(own), false),
        Principal::Buyer(_) => (requested_shop, true),
        Principal::Admin => (requested_shop, false),
    };
    let q = search(query.q.as_deref())?;
    let gtin = query.gtin.as_deref().map(gtin_filter).transpose()?;
    let filter = ProductFilter {
        shop,
        active_only,
        query: q,
        gtin: gtin.map(|g| g.as_str().to_string()),
        after,
        limit,
    };
    let found = state.store.products(&filter).await?;
    let view = |(product, skus): &(Product, Vec<Sku>)| {
        let skus: Vec<_> = skus
            .iter()
            .filter(|s| !active_only || s.status == ListingStatus::Active)
            .cloned()
            .collect();
        ProductView::new(product, &skus)
    };
    Ok(Json(page.page("products", found, |(p, _)| p.id.get(), view)))
}

/// Read one product with its SKUs.
#[utoipa::path(get, path = "/v1/products/{product_id}", tag = "catalog",
    params(("product_id" = i64, Path)),
    responses((status = 200, body = ProductView), (status = 404, body = super::problem::Problem)),
    security(("bearer" = [])))]
pub async fn get_product(
    State(state): State<AppState>,
    principal: Principal,
    ids: PathIds,
) -> Result<Json<ProductView>, ApiError> {
    let id = ProductId::new(ids.one()).ok_or_else(|| ApiError::not_found("product"))?;
    let (product, skus) = state
        .store
        .product(id)
        .await?
        .ok_or_else(|| ApiError::not_found("product"))?;
    let visible = match principal {
        Principal::Admin => true,
        Principal::Merchant(shop) => product.shop == shop,
        Principal::Buyer(_) => product.status == ListingStatus::Active,
    };
    if !visible {
        return Err(ApiError::not_found("product"));
    }
    let skus: Vec<_> = match principal {
        Principal::Buyer(_) => skus.into_iter().filter(|s| s.status == ListingStatus::Active).collect(),
        _ => skus,
    };
    Ok(Json(ProductView::new(&product, &skus)))
}
