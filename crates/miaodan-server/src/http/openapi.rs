//! The OpenAPI 3 document: its description and tags here, its paths from the routes each
//! capability registers (`http::api`, `utoipa_axum::routes!`), its schemas from the handlers'
//! annotations and the wire types, then the post-processing below ([`finish`]).

use super::{orders, problem};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
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
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "miaodan_session",
                "A console session (POST /v1/sessions): its mutations carry the session's `csrf_token` as \
                 `X-CSRF-Token`, and the member's role must allow the operation (403 `forbidden_for_role`).",
            ))),
        );
    }
}

/// Every refusal is `application/problem+json`: this rewrites the error responses the handlers
/// declare to that media type, and adds the ones every authenticated operation can give
/// (401, 403, 429, 503) and the ones every operation with a body can give (400, 413, 415, 422).
struct ProblemResponses;

impl Modify for ProblemResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        let problem = || {
            ContentBuilder::new()
                .schema(Some(RefOr::Ref(Ref::from_schema_name("Problem"))))
                .build()
        };
        let common: &[(&str, &str)] = &[
            ("401", "Missing or invalid API token (`unauthorized`)"),
            ("403", "The token's role may not use this endpoint (`forbidden`)"),
            (
                "429",
                "The shard's queue is full (`overloaded`); retry after `Retry-After` seconds",
            ),
            ("503", "Unavailable or at capacity (`unavailable`, `server_busy`)"),
        ];
        let with_body: &[(&str, &str)] = &[
            ("400", "Malformed JSON, query or Idempotency-Key"),
            ("408", "The body did not arrive in time (`request_timeout`)"),
            ("413", "Body larger than 256 KiB (`payload_too_large`)"),
            ("415", "Body not sent as application/json (`unsupported_media_type`)"),
            (
                "422",
                "A value breaks a rule of this document; Idempotency-Key reused for another request",
            ),
            ("409", "The current state refuses the request (see GET /errors)"),
        ];
        for (path, item) in openapi.paths.paths.iter_mut() {
            let authenticated = path.starts_with("/v1/");
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                idempotency_key_schema(operation);
                let responses = &mut operation.responses.responses;
                for (status, response) in responses.iter_mut() {
                    if (status.starts_with('4') || status.starts_with('5'))
                        && let RefOr::T(response) = response
                        && let Some(content) = response.content.shift_remove("application/json")
                    {
                        response.content.insert("application/problem+json".into(), content);
                    }
                }
                let mut extra: Vec<(&str, &str)> = Vec::new();
                if authenticated {
                    extra.extend_from_slice(common);
                    extra.push(("404", "No such resource, or another tenant's (`not_found`)"));
                    extra.push(("400", "The request cannot be decoded (see GET /errors)"));
                    extra.push(("422", "A value breaks a rule of this document (see GET /errors)"));
                }
                if operation.request_body.is_some()
                    || operation
                        .parameters
                        .iter()
                        .flatten()
                        .any(|p| p.name == "Idempotency-Key")
                {
                    extra.extend_from_slice(with_body);
                }
                for (status, description) in extra {
                    responses.entry(status.to_string()).or_insert_with(|| {
                        RefOr::T(
                            ResponseBuilder::new()
                                .description(description)
                                .content("application/problem+json", problem())
                                .build(),
                        )
                    });
                }
            }
        }
    }
}

/// A problem's `code` is one of the table's (`GET /errors`, `http/errors.rs`).
struct ProblemCodes;

impl Modify for ProblemCodes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::RefOr;
        use utoipa::openapi::schema::Schema;
        if let Some(components) = openapi.components.as_mut()
            && let Some(RefOr::T(Schema::Object(problem))) = components.schemas.get_mut("Problem")
            && let Some(RefOr::T(Schema::Object(code))) = problem.properties.get_mut("code")
        {
            code.enum_values = Some(super::errors::ERRORS.iter().map(|e| e.code.into()).collect());
        }
    }
}

/// What the document states that the types alone do not: every path parameter is an id (1 to
/// 2⁶³−1) but an `Idempotency-Key`, and a payment intent is confirmed with exactly one of a credential and one-tap pay.
struct Completions;

impl Modify for Completions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::RefOr;
        use utoipa::openapi::Required;
        use utoipa::openapi::path::ParameterIn;
        use utoipa::openapi::schema::{AllOfBuilder, Schema};
        // `schema_with` leaves a query parameter optional; these the handlers require.
        const REQUIRED_QUERY: [(&str, &str); 14] = [
            ("/v1/delivery-options", "adcode"),
            ("/v1/delivery-options", "items"),
            ("/v1/compass/series", "from"),
            ("/v1/compass/series", "to"),
            ("/v1/compass/series", "granularity"),
            ("/v1/compass/regions", "from"),
            ("/v1/compass/regions", "to"),
            ("/v1/compass/skus", "from"),
            ("/v1/compass/skus", "to"),
            ("/v1/compass/fulfillment", "from"),
            ("/v1/compass/fulfillment", "to"),
            ("/v1/compass/after-sales", "from"),
            ("/v1/compass/after-sales", "to"),
            ("/v1/quality-index/ranking", "category"),
        ];
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                for parameter in operation.parameters.iter_mut().flatten() {
                    // Every path parameter is an id but the key whose stored answer is read.
                    if parameter.parameter_in == ParameterIn::Path {
                        parameter.schema = Some(if parameter.name == "key" {
                            super::schema::idempotency_key()
                        } else {
                            super::schema::path_id()
                        });
                    }
                    if REQUIRED_QUERY.contains(&(path.as_str(), parameter.name.as_str())) {
                        parameter.required = Required::True;
                    }
                }
            }
        }
        if let Some(components) = openapi.components.as_mut()
            && let Some(body) = components.schemas.get_mut("ConfirmInput")
        {
            let object = body.clone();
            let both = AllOfBuilder::new()
                .item(object)
                .item(super::schema::confirm_either_of());
            *body = RefOr::T(Schema::AllOf(both.build()));
        }
    }
}

/// An `Idempotency-Key` is 1 to 255 visible ASCII characters (`idempotency::parse_key`).
fn idempotency_key_schema(operation: &mut utoipa::openapi::path::Operation) {
    for parameter in operation.parameters.iter_mut().flatten() {
        if parameter.name == "Idempotency-Key" {
            parameter.schema = Some(super::schema::idempotency_key());
        }
    }
}

/// What the document says besides its paths; the paths come from the routers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "miaodan",
        description = "秒单 — a 24/7 order platform for live commerce. Money is integer fen; times are RFC 3339 UTC. \
            Every error is application/problem+json with a stable `code`. Every mutating endpoint honours \
            `Idempotency-Key`."
    ),
    components(schemas(problem::Problem, orders::dto::OrderView, orders::dto::CheckoutView)),
    tags(
        (name = "platform", description = "Shops, buyers and API tokens (admin)"),
        (name = "catalog", description = "Products and SKUs"),
        (name = "inventory", description = "Warehouses and stock"),
        (name = "orders", description = "Checkout, orders and their state machine"),
        (name = "flash sales", description = "Scheduled deals and one-tap orders (秒单), and each sale's live room (直播间大屏) as JSON or Server-Sent Events"),
        (name = "payments", description = "Payment intents, one-tap pay (免密支付), refunds, provider webhooks, reconciliation"),
        (name = "fulfillment", description = "Delivery promises with cutoffs and holidays, warehouse hours and capacity, smart dispatch and its explanation, shortages"),
        (name = "logistics", description = "Shipments, signed carrier tracking webhooks, package-center SLA alerts and their live stream"),
        (name = "after-sales", description = "Buyer requests after payment (售后): cancel before shipment, refund only; flash refunds decided by explainable rules, the merchant's queue with deadlines, appeals to the platform"),
        (name = "events", description = "The outbox as a feed: every committed change of a shop as a typed event (order.paid, shipment.delivered, after_sales.refunded, …), numbered per shard"),
        (name = "compass", description = "The data compass (电商罗盘): orders, GMV, paid conversion, cancellations, expiries and refunds per minute, hour or Shanghai day; per region, SKU, warehouse and after-sales kind and reason per hour — all folded from the outbox; the current minutes live as Server-Sent Events"),
        (name = "webhooks", description = "Outgoing webhooks: a shop's endpoints receive its events (order.paid, shipment.delivered, …) signed (Miaodan-Signature), at least once, in order per object, retried for 3 days; a delivery log with every attempt, and replay"),
        (name = "staff", description = "The console's staff accounts with roles (owner, operator, customer service, finance, platform admin), sign-in sessions as cookies with CSRF tokens, and the audit log"),
        (name = "integrity", description = "Merchant integrity: the quality index (秒单质量指数) over product quality, logistics timeliness and after-sales service, each explained by its figures, and a category's ranking"),
        (name = "assistant", description = "The customer-service assistant (智能客服): a buyer's conversations in Chinese or English, answered from the buyer's own orders, acting (after the buyer's yes) through the same commands and rules as the API; the conversations handed over to a person"),
        (name = "risk", description = "Risk control (风控): the rules as versioned data with shadow rules, the decisions kept for review and a person's review, a buyer's links, a flash sale's risk report and strict mode"),
        (name = "system", description = "Health, and the processes serving the database with each shard's owner"),
    )
)]
pub struct ApiDoc;

/// The document as served: the routers' paths and schemas with the bearer scheme and the
/// problem responses added. Run once the paths are in (a `modifiers(...)` of [`ApiDoc`]
/// would run before the routers add them).
pub fn finish(mut document: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    BearerAuth.modify(&mut document);
    ProblemResponses.modify(&mut document);
    ProblemCodes.modify(&mut document);
    Completions.modify(&mut document);
    document
}

/// The document `/openapi.json` serves.
pub fn document() -> utoipa::openapi::OpenApi {
    finish(super::api().into_openapi())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn every_operation_has_an_id_of_its_own() {
        // utoipa names an operation after its handler: two handlers of one name in two modules
        // (`list`, `decide`) make a document OpenAPI validators refuse.
        let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let json = serde_json::to_value(document()).unwrap_or_default();
        for (path, item) in json["paths"].as_object().into_iter().flatten() {
            for (method, operation) in item.as_object().into_iter().flatten() {
                if let Some(id) = operation["operationId"].as_str() {
                    seen.entry(id.to_string()).or_default().push(format!("{method} {path}"));
                }
            }
        }
        let repeated: Vec<_> = seen.iter().filter(|(_, at)| at.len() > 1).collect();
        assert!(repeated.is_empty(), "operation ids used twice: {repeated:?}");
        assert!(seen.len() > 100, "{} operations", seen.len());
    }
}
