//! The routes: every operation `/openapi.json` documents is answered and exercised by the
//! contract, nothing else is answered (but the landing page, the document and its docs page),
//! the system endpoints, and unknown routes or methods as problems.

use super::support::*;

both_backends!(
    system_endpoints_answer_without_a_token,
    the_openapi_document_lists_exactly_the_v1_routes_of_the_router,
    the_contract_exercises_every_documented_operation,
    unknown_routes_and_wrong_methods_are_problems,
);

/// One operation of the OpenAPI document: (METHOD, path template).
pub type Operation = (String, String);

/// The operations `/openapi.json` documents, with what the contract needs to know of each.
pub struct Documented {
    /// Every operation, `/v1` and system alike.
    pub operations: BTreeSet<Operation>,
    /// Those that declare the bearer token.
    pub with_token: BTreeSet<Operation>,
    /// Those that declare a request body.
    pub with_body: BTreeSet<Operation>,
}

pub const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// Reads the served OpenAPI document: the one list of routes, since each is registered once
/// for the router and the document (`utoipa_axum::routes!`).
pub async fn documented(app: &TestApp) -> Documented {
    let document = app.send(app.http.get(app.url("/openapi.json"))).await;
    assert_eq!(document.status, 200);
    let mut documented = Documented {
        operations: BTreeSet::new(),
        with_token: BTreeSet::new(),
        with_body: BTreeSet::new(),
    };
    for (path, item) in document.body["paths"].as_object().unwrap() {
        for method in METHODS {
            let Some(operation) = item.get(method.to_lowercase()) else {
                continue;
            };
            let key = (method.to_string(), path.clone());
            if operation["security"].as_array().is_some_and(|s| !s.is_empty()) {
                documented.with_token.insert(key.clone());
            }
            if operation.get("requestBody").is_some() {
                documented.with_body.insert(key.clone());
            }
            documented.operations.insert(key);
        }
    }
    assert!(
        documented.operations.contains(&("POST".into(), "/v1/checkouts".into())),
        "could not read the operations of /openapi.json: {:?}",
        documented.operations
    );
    documented
}

/// The path template of the documented operation a request reaches, if any.
pub fn operation_of(documented: &BTreeSet<Operation>, call: &Call) -> Option<Operation> {
    let path = call.path.split('?').next().unwrap();
    let segments: Vec<&str> = path.split('/').collect();
    documented
        .iter()
        .find(|(method, template)| {
            let parts: Vec<&str> = template.split('/').collect();
            *method == call.method.as_str()
                && parts.len() == segments.len()
                && parts
                    .iter()
                    .zip(&segments)
                    .all(|(part, segment)| part.starts_with('{') || part == segment)
        })
        .cloned()
}

/// A template's path with `1` for every parameter.
pub fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|part| if part.starts_with('{') { "1" } else { part })
        .collect::<Vec<_>>()
        .join("/")
}

/// Paths one step from the documented ones (`1` for ids): each documented path and each of
/// its prefixes with one segment replaced by another word of the document or an id, or with
/// one more; those a documented path template matches left out.
fn probes(templates: &BTreeSet<&String>) -> BTreeSet<String> {
    let concrete_paths: BTreeSet<String> = templates.iter().map(|t| concrete(t)).collect();
    let mut bases = BTreeSet::new();
    for path in &concrete_paths {
        let parts: Vec<&str> = path.split('/').collect();
        for end in 3..=parts.len() {
            bases.insert(parts[..end].to_vec());
        }
    }
    let mut words: BTreeSet<&str> = bases.iter().flatten().copied().filter(|w| !w.is_empty()).collect();
    words.insert("1");
    let mut probes = BTreeSet::new();
    for base in &bases {
        for word in &words {
            for at in 2..base.len() {
                let mut path = base.clone();
                path[at] = word;
                probes.insert(path.join("/"));
            }
            probes.insert(format!("{}/{word}", base.join("/")));
        }
    }
    probes.retain(|path| {
        let segments: Vec<&str> = path.split('/').collect();
        !templates.iter().any(|template| {
            let parts: Vec<&str> = template.split('/').collect();
            parts.len() == segments.len()
                && parts
                    .iter()
                    .zip(&segments)
                    .all(|(part, segment)| part.starts_with('{') || part == segment)
        })
    });
    probes
}

/// Whether an answer is the router's own (no route, or not this method), not a handler's.
pub fn unrouted(answer: &Answer) -> bool {
    answer.status == 405 || (answer.status == 404 && answer.body["detail"] == "no such endpoint; see /openapi.json")
}

async fn system_endpoints_answer_without_a_token(backend: Backend) {
    let app = spawn(backend).await;
    let w = app.world().await;
    app.checkout(&w.buyer_token, &[(w.skus[0], 1)]).await.assert_status(201);
    let backend_name = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let health = app.send(app.http.get(app.url("/healthz"))).await;
    assert_eq!(
        health.assert_status(200),
        &json!({ "status": "ok", "backend": backend_name, "shards": 2 })
    );

    // The table of error codes, each with its one status (the README shows the same).
    let errors = app.send(app.http.get(app.url("/errors"))).await;
    let table = serde_json::to_value(miaodan_server::http::errors::ERRORS).unwrap();
    assert_eq!(errors.assert_status(200), &table);
    assert!(
        table
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["code"] == "unknown_sku" && e["status"] == 404)
    );

    // Metrics are served on their own listener, not on the API's address.
    app.send(app.http.get(app.url("/metrics")))
        .await
        .assert_problem(404, "not_found");
    let metrics = app.send(app.http.get(app.metrics_url().unwrap())).await;
    assert_eq!(metrics.status, 200);
    assert!(
        metrics.content_type.starts_with("text/plain"),
        "{}",
        metrics.content_type
    );
    assert!(metrics.raw.contains("miaodan_http_requests_total"), "{}", metrics.raw);
    assert!(
        metrics.raw.contains("route=\"/v1/checkouts\""),
        "requests are counted by route: {}",
        metrics.raw
    );
    assert!(
        metrics
            .raw
            .lines()
            .any(|l| l.starts_with("miaodan_orders{") && l.contains("state=\"pending_payment\"")),
        "{}",
        metrics.raw
    );

    let landing = app.send(app.http.get(app.url("/"))).await;
    assert_eq!(landing.status, 200);
    assert!(
        landing.content_type.starts_with("text/html"),
        "{}",
        landing.content_type
    );
    assert!(landing.raw.contains("href=\"/docs/\""), "{}", landing.raw);
    assert!(landing.raw.contains("href=\"/openapi.json\""), "{}", landing.raw);
    assert!(landing.raw.contains(backend_name) && !landing.raw.contains("{{backend}}"));

    for path in ["/docs/", "/docs"] {
        let docs = app.send(app.http.get(app.url(path))).await;
        assert_eq!(docs.status, 200, "{path}");
        assert!(
            docs.content_type.starts_with("text/html"),
            "{path}: {}",
            docs.content_type
        );
        assert!(docs.raw.to_lowercase().contains("<html"), "{path}");
    }
    app.shutdown().await;
}

async fn the_openapi_document_lists_exactly_the_v1_routes_of_the_router(backend: Backend) {
    let app = spawn(backend).await;
    let document = app.send(app.http.get(app.url("/openapi.json"))).await;
    assert_eq!(document.status, 200);
    assert_eq!(document.content_type, "application/json");
    let document = document.body;
    assert!(document["openapi"].as_str().unwrap().starts_with("3."), "{document}");
    assert!(document["paths"]["/healthz"]["get"].is_object());
    assert!(document["components"]["schemas"]["Problem"].is_object());
    assert!(document["components"]["securitySchemes"]["bearer"].is_object());
    // The document the docs page loads is the same one.
    let docs_copy = app.send(app.http.get(app.url("/openapi-docs.json"))).await;
    assert_eq!(docs_copy.body, document);
    // Besides `/v1`, only the system endpoints are documented (not the landing page, the
    // document itself or the docs page, which are checked in `system_endpoints_…`).
    let documented = documented(&app).await;
    let system: BTreeSet<_> = documented
        .operations
        .iter()
        .filter(|(_, path)| !path.starts_with("/v1/"))
        .cloned()
        .collect();
    let expected = [("GET", "/errors"), ("GET", "/healthz")].map(|(m, p)| (m.to_string(), p.to_string()));
    assert_eq!(system, BTreeSet::from(expected));
    // The server answers every documented operation (with its own refusal of a request
    // without credentials or body, not the router's 404 or 405), and no other method on a
    // documented path.
    let paths: BTreeSet<&String> = documented.operations.iter().map(|(_, path)| path).collect();
    for path in &paths {
        for method in METHODS {
            let call = Call::public(Method::from_bytes(method.as_bytes()).unwrap(), concrete(path));
            let answer = call.send(&app).await;
            if documented.operations.contains(&(method.to_string(), path.to_string())) {
                assert!(
                    !unrouted(&answer),
                    "{method} {path} is documented but not routed: {}",
                    answer.raw
                );
            } else {
                assert_eq!(
                    answer.status, 405,
                    "{method} {path} is answered but not documented: {}",
                    answer.raw
                );
            }
        }
    }
    // Nor is any other path routed that is one step from a documented one: the axum router
    // cannot list its routes, so the probe tries every path made of the document's own words
    // (`shipments`, `tokens`, …) and ids that differs from a documented path (or a prefix of
    // one) in one segment or by one more segment. Each must be the router's 404.
    for path in probes(&paths) {
        let answer = Call::public(Method::GET, path.clone()).send(&app).await;
        assert!(
            answer.status == 404 && unrouted(&answer),
            "{path} is answered but not documented: {} {}",
            answer.status,
            answer.raw
        );
    }
    app.shutdown().await;
}

/// Operations the contract's tenants cannot call successfully yet: working an alert needs an
/// open alert, which the tenants' world does not raise (its parcels are not late). They are
/// covered by `tests/it/alert_work.rs` (roles, another shop, malformed bodies, idempotency);
/// the contract's world should raise an alert and this list should be emptied.
const NOT_YET_IN_THE_CONTRACT: &[(&str, &str)] = &[
    ("POST", "/v1/package-center/alerts/{alert_id}/acknowledge"),
    ("POST", "/v1/package-center/alerts/{alert_id}/assign"),
    ("POST", "/v1/package-center/alerts/{alert_id}/notes"),
    ("POST", "/v1/package-center/alerts/{alert_id}/resolve"),
    // Reviewing needs a kept risk decision, which the tenants' world (risk off) never makes:
    // covered by `tests/it/risk.rs` (roles, not found, reviewed twice, malformed bodies).
    ("POST", "/v1/risk/decisions/{decision_id}/review"),
];

/// The coverage of the contract, checked against the served document rather than any list
/// kept by hand: every documented `/v1` operation has a row in `endpoints()` (which drives
/// the malformed-body, unauthenticated, wrong-role, oversized-body and idempotency tests),
/// called as the document says (a token where it declares one, a body where it takes one),
/// and every one that names an object by id is tried on another tenant's object.
async fn the_contract_exercises_every_documented_operation(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenants(&app).await;
    let documented = documented(&app).await;
    let v1: BTreeSet<Operation> = documented
        .operations
        .iter()
        .filter(|(_, path)| path.starts_with("/v1/"))
        .filter(|(method, path)| !NOT_YET_IN_THE_CONTRACT.contains(&(method.as_str(), path.as_str())))
        .cloned()
        .collect();
    let endpoints = endpoints(&app, &t);
    let covered: BTreeSet<Operation> = endpoints
        .iter()
        .map(|e| (e.call.method.to_string(), e.route.to_string()))
        .collect();
    assert_eq!(covered, v1, "endpoints() and /openapi.json disagree");
    for endpoint in &endpoints {
        let operation = (endpoint.call.method.to_string(), endpoint.route.to_string());
        assert_eq!(
            operation_of(&v1, &endpoint.call),
            Some(operation.clone()),
            "{} is not a request to {operation:?}",
            endpoint.call.label()
        );
        assert_eq!(
            matches!(endpoint.auth, Auth::Token | Auth::Session),
            documented.with_token.contains(&operation),
            "{operation:?}: the document and the contract disagree on its token"
        );
        if documented.with_body.contains(&operation) {
            assert!(
                endpoint.call.body.is_some(),
                "{operation:?} takes a body; the contract sends none"
            );
        }
    }
    let isolated: BTreeSet<Operation> = tenant_pairs(&t)
        .iter()
        .filter_map(|(foreign, _)| operation_of(&v1, foreign))
        .collect();
    // An id in the path names an object of one tenant, but for the platform's token issuance
    // (the admin's, for any shop or buyer), a tap (any buyer may buy from any shop's sale, and an
    // edge gateway carry any buyer's taps on it) and
    // the platform's decision on an appealed after-sales request or penalty and a deposit's
    // top-up (the admin's, for any shop), and risk's review of a buyer (the admin's, for any
    // buyer).
    let by_id: BTreeSet<Operation> = v1
        .iter()
        .filter(|(_, path)| {
            path.contains('{')
                && !path.ends_with("/tokens")
                && !path.ends_with("/taps")
                && !path.ends_with("/taps/batch")
                && !path.ends_with("/decide")
                && !path.starts_with("/v1/risk/")
                && !path.ends_with("/decision")
                && !path.starts_with("/v1/deposits/")
        })
        .cloned()
        .collect();
    let untried: Vec<_> = by_id.difference(&isolated).collect();
    assert!(untried.is_empty(), "not tried on another tenant's object: {untried:?}");
    app.shutdown().await;
}

async fn unknown_routes_and_wrong_methods_are_problems(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenants(&app).await;
    let not_found = (404, "not_found", None);
    let not_allowed = (405, "method_not_allowed", None);
    let mut cases = vec![
        (Call::get("/v1/nope", &app.admin), not_found),
        (Call::get("/v2/orders", &app.admin), not_found),
        (Call::get("/v1/orders/1/lines", &app.admin), not_found),
        (Call::get("/v1/orders/", &app.admin), not_found),
        (Call::new(Method::POST, "/nope", &app.admin).json(&json!({})), not_found),
        (
            Call::get("/v1/shops", "").authorization(None),
            (401, "unauthorized", None),
        ),
        (Call::new(Method::DELETE, "/v1/shops", &app.admin), not_allowed),
        (Call::new(Method::PUT, "/v1/orders", &app.admin), not_allowed),
        (
            Call::new(Method::DELETE, format!("/v1/orders/{}", t.a.order), &app.admin),
            not_allowed,
        ),
        (
            Call::new(Method::GET, format!("/v1/orders/{}/cancel", t.a.order), &app.admin),
            not_allowed,
        ),
        (
            Call::new(Method::PUT, format!("/v1/products/{}", t.a.product), &t.a.merchant),
            not_allowed,
        ),
        (
            Call::new(Method::PUT, "/v1/payment-intents", &t.a.buyer_token),
            not_allowed,
        ),
        (Call::new(Method::POST, "/v1/refunds", &app.admin), not_allowed),
        (
            Call::new(
                Method::DELETE,
                format!("/v1/idempotency-keys/{}", t.a.agreement_key),
                &t.a.buyer_token,
            ),
            not_allowed,
        ),
        (Call::get("/v1/idempotency-keys", &t.a.buyer_token), not_found),
        (
            Call::new(
                Method::PUT,
                format!("/v1/payment-intents/{}/confirm", t.a.intent),
                &t.a.buyer_token,
            ),
            not_allowed,
        ),
        (
            Call::new(Method::DELETE, "/v1/one-tap-agreements", &t.a.buyer_token),
            not_allowed,
        ),
        (Call::get(WEBHOOK, "").authorization(None), not_allowed),
        (Call::new(Method::POST, "/v1/reconciliation", &app.admin), not_allowed),
        (
            Call::get(format!("/v1/orders/{}/refunds/1", t.a.paid_order), &app.admin),
            not_found,
        ),
        (Call::new(Method::POST, "/healthz", &app.admin), not_allowed),
        (Call::new(Method::POST, "/openapi.json", &app.admin), not_allowed),
        (Call::public(Method::POST, "/v1/delivery-options"), not_allowed),
        (
            Call::new(
                Method::DELETE,
                format!("/v1/warehouses/{}/fulfillment", t.a.warehouse),
                &t.a.merchant,
            ),
            not_allowed,
        ),
        (
            Call::get(format!("/v1/warehouses/{}/shortages", t.a.warehouse), &t.a.merchant),
            not_allowed,
        ),
        (
            Call::new(
                Method::POST,
                format!("/v1/orders/{}/dispatch", t.a.paid_order),
                &app.admin,
            ),
            not_allowed,
        ),
        (
            Call::new(Method::DELETE, format!("/v1/shipments/{}", t.a.shipment), &app.admin),
            not_allowed,
        ),
        (Call::get("/v1/shipments", &app.admin), not_found),
        (Call::public(Method::GET, CARRIER_WEBHOOK), not_allowed),
        (
            Call::new(Method::POST, "/v1/package-center/alerts", &t.a.merchant),
            not_allowed,
        ),
        (
            Call::new(Method::DELETE, "/v1/package-center/sla-rules", &t.a.merchant),
            not_allowed,
        ),
        (Call::get("/v1/package-center", &t.a.merchant), not_found),
    ];
    // Unknown routes need no token.
    cases.push((Call::get("/v1/nope", "").authorization(None), not_found));
    expect_refusals_in_bulk(&app, &t, &cases).await;
    app.shutdown().await;
}
