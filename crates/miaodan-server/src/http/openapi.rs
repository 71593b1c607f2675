//! The OpenAPI 3 document, generated from the handlers' annotations and the wire types.

use super::{catalog, dto, flash_sales, inventory, orders, platform, problem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API token `mdn_<id>_<secret>` of the admin, merchant or buyer role.",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "miaodan",
        description = "秒单 — a 24/7 order platform for live commerce. Money is integer fen; times are RFC 3339 UTC. \
            Every error is application/problem+json with a stable `code`. Every mutating endpoint honours \
            `Idempotency-Key`."
    ),
    modifiers(&BearerAuth),
    paths(
        super::healthz, super::metrics_text,
        platform::create_shop, platform::list_shops, platform::get_shop, platform::issue_merchant_token,
        platform::create_buyer, platform::get_buyer, platform::issue_buyer_token,
        inventory::create_warehouse, inventory::list_warehouses, inventory::set_stock, inventory::get_stock,
        catalog::create_product, catalog::list_products, catalog::get_product, catalog::update_product,
        catalog::add_sku, catalog::update_sku,
        orders::checkout, orders::list_orders, orders::get_order, orders::cancel_order, orders::mark_paid,
        flash_sales::schedule, flash_sales::list, flash_sales::get, flash_sales::tap,
    ),
    components(schemas(problem::Problem, dto::OrderView, dto::CheckoutView)),
    tags(
        (name = "platform", description = "Shops, buyers and API tokens (admin)"),
        (name = "catalog", description = "Products and SKUs"),
        (name = "inventory", description = "Warehouses and stock"),
        (name = "orders", description = "Checkout, orders and their state machine"),
        (name = "flash sales", description = "Scheduled deals and one-tap orders (秒单)"),
        (name = "system", description = "Health and metrics"),
    )
)]
pub struct ApiDoc;
