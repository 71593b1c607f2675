//! Staff accounts and console sessions over HTTP: sign-in and sign-out, failures answered
//! alike and throttled, the session as the API's credential (its shop only), CSRF and role
//! checks that refuse and change nothing, disabled members and expired sessions, the audit log,
//! and the tenancy of every staff endpoint.

use crate::common;
use crate::common::{Backend, STAFF_PASSWORD, TestApp, World};
use miaodan_server::clock::Clock;
use miaodan_server::staff::{SESSION_ABSOLUTE_SECONDS, SESSION_IDLE_SECONDS};
use reqwest::Method;
use serde_json::{Value, json};

both_backends!(
    signing_in_sets_a_secure_http_only_cookie_and_signing_out_ends_the_session,
    a_wrong_password_an_unknown_login_and_a_disabled_member_answer_alike,
    five_failed_sign_ins_throttle_the_login_with_retry_after,
    a_session_reads_its_own_shop_and_another_shops_order_is_not_found,
    a_mutation_without_the_sessions_csrf_token_or_from_another_origin_is_refused_and_changes_nothing,
    each_role_may_do_its_work_and_is_refused_the_rest,
    disabling_a_member_ends_its_sessions_at_once,
    a_session_ends_after_twelve_idle_hours_or_seven_days,
    the_audit_log_records_accepted_and_refused_mutations_with_the_member,
    staff_sessions_and_the_audit_log_keep_shops_apart,
    a_platform_admin_session_acts_as_the_admin,
);

/// A shop with stock and a placed order, its owner, and one member per other role.
async fn staffed_world(app: &TestApp) -> (World, i64) {
    let world = app.world().await;
    for (login, role) in [
        ("owner", "owner"),
        ("operator", "operator"),
        ("service", "customer_service"),
        ("finance", "finance"),
    ] {
        app.staff_member(&world.merchant, Some(world.shop), login, role).await;
    }
    let placed = app.checkout(&world.buyer_token, &[(world.skus[0], 1)]).await;
    let order = placed.assert_status(201)["orders"][0]["id"].as_i64().unwrap();
    (world, order)
}

async fn signing_in_sets_a_secure_http_only_cookie_and_signing_out_ends_the_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (world, _) = staffed_world(&app).await;
    let response = app
        .http
        .post(app.url("/v1/sessions"))
        .json(&json!({ "login": "owner", "password": STAFF_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let cookie = response.headers()["set-cookie"].to_str().unwrap().to_string();
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/", "Max-Age=604800"] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    let secret = cookie.split(';').next().unwrap().trim_start_matches("miaodan_session=");
    assert_eq!(secret.len(), 64, "a 256-bit secret in hex");

    let session = app.sign_in("owner", STAFF_PASSWORD).await;
    assert_eq!(session.body["staff"]["login"], "owner");
    assert_eq!(session.body["staff"]["role"], "owner");
    assert_eq!(session.body["staff"]["shop_id"], world.shop);
    let current = app.session_get("/v1/sessions/current", &session).await;
    assert_eq!(current.assert_status(200)["csrf_token"], session.csrf.as_str());
    assert_eq!(current.body["session"]["id"], session.body["session"]["id"]);

    let signed_out = app
        .send(app.with_session(Method::DELETE, "/v1/sessions/current", &session))
        .await;
    assert_eq!(signed_out.status, 204);
    app.session_get("/v1/sessions/current", &session)
        .await
        .assert_problem(401, "unauthorized");
    app.session_get("/v1/orders", &session)
        .await
        .assert_problem(401, "unauthorized");
    // Without a cookie, the current session is nobody's.
    let anonymous = app.send(app.http.get(app.url("/v1/sessions/current"))).await;
    anonymous.assert_problem(401, "unauthorized");
}

async fn a_wrong_password_an_unknown_login_and_a_disabled_member_answer_alike(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let world = app.world().await;
    app.staff_member(&world.merchant, Some(world.shop), "owner", "owner")
        .await;
    let gone = app
        .staff_member(&world.merchant, Some(world.shop), "gone", "operator")
        .await;
    app.patch(
        &format!("/v1/staff/{gone}"),
        &world.merchant,
        json!({ "disabled": true }),
    )
    .await
    .assert_status(200);
    let attempt = |login: &'static str, password: &'static str| {
        let request = app
            .http
            .post(app.url("/v1/sessions"))
            .json(&json!({ "login": login, "password": password }));
        async move {
            let started = std::time::Instant::now();
            let answer = crate::common::answer(request).await;
            (answer, started.elapsed())
        }
    };
    let (wrong, wrong_took) = attempt("owner", "not-the-password").await;
    let (unknown, unknown_took) = attempt("nobody-here", STAFF_PASSWORD).await;
    let (disabled, _) = attempt("gone", STAFF_PASSWORD).await;
    wrong.assert_problem(401, "sign_in_failed");
    assert_eq!(
        wrong.raw, unknown.raw,
        "the same body for a wrong password and an unknown login"
    );
    assert_eq!(wrong.raw, disabled.raw, "the same body for a disabled member");
    // An unknown login is checked against a dummy hash: it costs a verification too.
    assert!(
        unknown_took * 4 >= wrong_took,
        "unknown {unknown_took:?} vs wrong {wrong_took:?}"
    );
}

async fn five_failed_sign_ins_throttle_the_login_with_retry_after(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let world = app.world().await;
    app.staff_member(&world.merchant, Some(world.shop), "owner", "owner")
        .await;
    let try_sign_in = |password: &'static str| {
        app.send(
            app.http
                .post(app.url("/v1/sessions"))
                .json(&json!({ "login": "owner", "password": password })),
        )
    };
    for _ in 0..5 {
        try_sign_in("wrong-password")
            .await
            .assert_problem(401, "sign_in_failed");
    }
    let response = app
        .http
        .post(app.url("/v1/sessions"))
        .json(&json!({ "login": "owner", "password": STAFF_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429, "even the right password waits");
    let retry_after: i64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "sign_in_throttled");
    // Another login is not throttled by this one's failures.
    app.staff_member(&world.merchant, Some(world.shop), "finance", "finance")
        .await;
    app.sign_in("finance", STAFF_PASSWORD).await;
}

async fn a_session_reads_its_own_shop_and_another_shops_order_is_not_found(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, order) = staffed_world(&app).await;
    let other = app.world().await;
    let theirs = app.checkout(&other.buyer_token, &[(other.skus[0], 1)]).await;
    let theirs = theirs.assert_status(201)["orders"][0]["id"].as_i64().unwrap();
    for login in ["owner", "operator", "service", "finance"] {
        let session = app.sign_in(login, STAFF_PASSWORD).await;
        let mine = app.session_get(&format!("/v1/orders/{order}"), &session).await;
        assert_eq!(mine.assert_status(200)["id"], order, "{login}");
        app.session_get(&format!("/v1/orders/{theirs}"), &session)
            .await
            .assert_problem(404, "not_found");
        let listed = app.session_get("/v1/orders", &session).await;
        let ids: Vec<i64> = listed.assert_status(200)["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, vec![order], "{login}");
    }
}

async fn a_mutation_without_the_sessions_csrf_token_or_from_another_origin_is_refused_and_changes_nothing(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let (world, _) = staffed_world(&app).await;
    let session = app.sign_in("owner", STAFF_PASSWORD).await;
    let other = app.sign_in("operator", STAFF_PASSWORD).await;
    let request = || {
        app.http
            .post(app.url("/v1/products"))
            .header("cookie", &session.cookie)
            .json(&new_product())
    };
    let refusals = [
        request(),
        request().header("x-csrf-token", ""),
        request().header("x-csrf-token", "0".repeat(64)),
        // Another session's token is not this session's.
        request().header("x-csrf-token", &other.csrf),
        request()
            .header("x-csrf-token", &session.csrf)
            .header("origin", "http://evil.example"),
        request().header("x-csrf-token", &session.csrf).header("origin", "null"),
    ];
    for refused in refusals {
        app.send(refused).await.assert_problem(403, "csrf_token_invalid");
    }
    assert_eq!(product_count(&app, &world).await, 1);
    // The same request with the token (and this server as its origin) is accepted.
    let origin = app.base.clone();
    let accepted = app
        .send(request().header("x-csrf-token", &session.csrf).header("origin", origin))
        .await;
    accepted.assert_status(201);
    assert_eq!(product_count(&app, &world).await, 2);
}

fn new_product() -> Value {
    json!({ "title": "新品", "skus": [{ "name": "默认", "price_fen": 990 }] })
}

async fn product_count(app: &TestApp, world: &World) -> usize {
    let products = app.get("/v1/products", &world.merchant).await;
    products.assert_status(200)["items"].as_array().unwrap().len()
}

async fn each_role_may_do_its_work_and_is_refused_the_rest(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (world, _) = staffed_world(&app).await;
    let product = new_product();
    let staff = json!({ "login": "newbie", "name": "新人", "role": "finance", "password": STAFF_PASSWORD });
    // (login, method, path, body, allowed)
    let cases = [
        ("operator", Method::POST, "/v1/products", product.clone(), true),
        ("service", Method::POST, "/v1/products", product.clone(), false),
        ("finance", Method::POST, "/v1/products", product.clone(), false),
        ("finance", Method::POST, "/v1/staff", staff.clone(), false),
        ("operator", Method::POST, "/v1/staff", staff.clone(), false),
        (
            "service",
            Method::PUT,
            "/v1/package-center/sla-rules",
            sla_rules(),
            true,
        ),
        (
            "finance",
            Method::PUT,
            "/v1/package-center/sla-rules",
            sla_rules(),
            false,
        ),
        ("owner", Method::POST, "/v1/staff", staff.clone(), true),
        // A shop's owner is no platform: shops are the admin's.
        ("owner", Method::POST, "/v1/shops", json!({ "name": "另一家" }), false),
    ];
    for (login, method, path, body, allowed) in cases {
        let session = app.sign_in(login, STAFF_PASSWORD).await;
        let answer = app.session_send(method.clone(), path, &session, body).await;
        if allowed {
            assert!(answer.status.is_success(), "{login} {method} {path}: {}", answer.raw);
        } else {
            answer.assert_problem(403, "forbidden_for_role");
            assert!(
                answer.body["detail"].as_str().unwrap().contains('`'),
                "names the permission"
            );
        }
    }
    // Refused mutations changed nothing: one product (the world's) and one new one.
    assert_eq!(product_count(&app, &world).await, 2);
    // Everyone reads the shop; the audit log is the owner's.
    for login in ["operator", "service", "finance"] {
        let session = app.sign_in(login, STAFF_PASSWORD).await;
        app.session_get("/v1/products", &session).await.assert_status(200);
        app.session_get("/v1/warehouses", &session).await.assert_status(200);
        app.session_get("/v1/audit-log", &session)
            .await
            .assert_problem(403, "forbidden_for_role");
    }
}

fn sla_rules() -> Value {
    json!({
        "not_picked_up_within_s": 3600,
        "not_departed_within_s": 3600,
        "stalled_after_s": 3600,
        "warn_at_percent": 80,
    })
}

async fn disabling_a_member_ends_its_sessions_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (world, _) = staffed_world(&app).await;
    let owner = app.sign_in("owner", STAFF_PASSWORD).await;
    let operator = app.sign_in("operator", STAFF_PASSWORD).await;
    app.session_get("/v1/orders", &operator).await.assert_status(200);
    let operator_id = operator.body["staff"]["id"].as_i64().unwrap();
    let listed = app
        .session_get(&format!("/v1/sessions?staff_id={operator_id}"), &owner)
        .await;
    assert_eq!(listed.assert_status(200)["items"].as_array().unwrap().len(), 1);
    let disabled = app
        .session_send(
            Method::PATCH,
            &format!("/v1/staff/{operator_id}"),
            &owner,
            json!({ "disabled": true }),
        )
        .await;
    assert!(disabled.assert_status(200)["disabled_at"].is_string());
    app.session_get("/v1/orders", &operator)
        .await
        .assert_problem(401, "unauthorized");
    let listed = app
        .session_get(&format!("/v1/sessions?staff_id={operator_id}"), &owner)
        .await;
    assert_eq!(listed.assert_status(200)["items"], json!([]));
    // Revoking one session of another member ends it too.
    let service = app.sign_in("service", STAFF_PASSWORD).await;
    let service_session = service.body["session"]["id"].as_i64().unwrap();
    let revoked = app
        .send(app.with_session(Method::DELETE, &format!("/v1/sessions/{service_session}"), &owner))
        .await;
    assert!(revoked.assert_status(200)["revoked_at"].is_string());
    app.session_get("/v1/orders", &service)
        .await
        .assert_problem(401, "unauthorized");
    // Enabled again, the member signs in anew.
    app.patch(
        &format!("/v1/staff/{operator_id}"),
        &world.merchant,
        json!({ "disabled": false }),
    )
    .await
    .assert_status(200);
    app.sign_in("operator", STAFF_PASSWORD).await;
}

async fn a_session_ends_after_twelve_idle_hours_or_seven_days(backend: Backend) {
    let clock = Clock::system();
    let app = TestApp::spawn_with(backend, |config| config.clock = clock.clone()).await;
    staffed_world(&app).await;
    let idle = app.sign_in("operator", STAFF_PASSWORD).await;
    clock.advance(SESSION_IDLE_SECONDS * 1000 - 60_000);
    app.session_get("/v1/orders", &idle).await.assert_status(200);
    clock.advance(SESSION_IDLE_SECONDS * 1000 - 60_000);
    app.session_get("/v1/orders", &idle).await.assert_status(200);
    clock.advance(SESSION_IDLE_SECONDS * 1000);
    let expired = app.session_get("/v1/orders", &idle).await;
    expired.assert_problem(401, "unauthorized");
    assert!(expired.body["detail"].as_str().unwrap().contains("expired"));

    // Used every few hours, a session still ends seven days after sign-in.
    let busy = app.sign_in("service", STAFF_PASSWORD).await;
    let step_ms = 6 * 3600 * 1000;
    let mut elapsed_ms = 0;
    while elapsed_ms + step_ms < SESSION_ABSOLUTE_SECONDS * 1000 {
        clock.advance(step_ms);
        elapsed_ms += step_ms;
        app.session_get("/v1/orders", &busy).await.assert_status(200);
    }
    clock.advance(SESSION_ABSOLUTE_SECONDS * 1000 - elapsed_ms);
    app.session_get("/v1/orders", &busy)
        .await
        .assert_problem(401, "unauthorized");
}

async fn the_audit_log_records_accepted_and_refused_mutations_with_the_member(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (world, _) = staffed_world(&app).await;
    let owner = app.sign_in("owner", STAFF_PASSWORD).await;
    let finance = app.sign_in("finance", STAFF_PASSWORD).await;
    let finance_id = finance.body["staff"]["id"].as_i64().unwrap();
    let path = format!("/v1/skus/{}", world.skus[0]);
    let change = json!({ "price_fen": 1990 });
    // Refused for the role, refused for CSRF, then accepted.
    app.session_send(Method::PATCH, &path, &finance, change.clone())
        .await
        .assert_problem(403, "forbidden_for_role");
    let no_csrf = app
        .http
        .patch(app.url(&path))
        .header("cookie", &owner.cookie)
        .json(&change);
    app.send(no_csrf).await.assert_problem(403, "csrf_token_invalid");
    app.session_send(Method::PATCH, &path, &owner, change)
        .await
        .assert_status(200);
    // Reads are not audited.
    app.session_get("/v1/orders", &owner).await.assert_status(200);

    let log = app.session_get("/v1/audit-log", &owner).await;
    let items = log.assert_status(200)["items"].as_array().unwrap().clone();
    let owner_id = owner.body["staff"]["id"].as_i64().unwrap();
    let seen: Vec<(i64, &str, &str, i64)> = items
        .iter()
        .filter(|e| e["route"] == "/v1/skus/{sku_id}")
        .map(|e| {
            assert_eq!(e["shop_id"], world.shop);
            assert_eq!(e["path"], path.as_str());
            (
                e["staff_id"].as_i64().unwrap(),
                e["method"].as_str().unwrap(),
                e["route"].as_str().unwrap(),
                e["status"].as_i64().unwrap(),
            )
        })
        .collect();
    let route = "/v1/skus/{sku_id}";
    assert_eq!(
        seen,
        vec![
            (owner_id, "PATCH", route, 200),
            (owner_id, "PATCH", route, 403),
            (finance_id, "PATCH", route, 403)
        ],
        "newest first"
    );
    // Staff management with a token is audited too, with no member.
    app.staff_member(&world.merchant, Some(world.shop), "newbie", "finance")
        .await;
    let only_finance = app
        .session_get(&format!("/v1/audit-log?staff_id={finance_id}&limit=1"), &owner)
        .await;
    let page = only_finance.assert_status(200);
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert!(page["next_cursor"].is_null());
    let newest = app.get("/v1/audit-log?limit=1", &world.merchant).await;
    let newest = &newest.assert_status(200)["items"][0];
    assert_eq!(
        (newest["route"].as_str(), newest["status"].as_i64()),
        (Some("/v1/staff"), Some(201))
    );
    assert!(newest["staff_id"].is_null());
}

async fn staff_sessions_and_the_audit_log_keep_shops_apart(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (world, _) = staffed_world(&app).await;
    let (other_shop, other_merchant) = app.shop("别家").await;
    let theirs = app
        .staff_member(&other_merchant, Some(other_shop), "their-owner", "owner")
        .await;
    let their_session = app.sign_in("their-owner", STAFF_PASSWORD).await;
    let their_session_id = their_session.body["session"]["id"].as_i64().unwrap();
    let owner = app.sign_in("owner", STAFF_PASSWORD).await;
    let newbie = |shop: Option<i64>, role: &str| json!({ "shop_id": shop, "login": "newbie", "name": "新人", "role": role, "password": STAFF_PASSWORD });
    // With the merchant token and with the owner's session alike.
    for (token, session) in [(Some(world.merchant.as_str()), None), (None, Some(&owner))] {
        let call = |method: Method, path: String, body: Option<Value>| {
            let request = match (token, session) {
                (Some(token), _) => app.http.request(method, app.url(&path)).bearer_auth(token),
                (None, Some(session)) => app.with_session(method, &path, session),
                _ => unreachable!(),
            };
            let request = match body {
                Some(body) => request.json(&body),
                None => request,
            };
            app.send(request)
        };
        call(
            Method::POST,
            "/v1/staff".into(),
            Some(newbie(Some(other_shop), "finance")),
        )
        .await
        .assert_problem(404, "not_found");
        call(Method::POST, "/v1/staff".into(), Some(newbie(None, "platform_admin")))
            .await
            .assert_problem(422, "invalid_field");
        call(
            Method::PATCH,
            format!("/v1/staff/{theirs}"),
            Some(json!({ "disabled": true })),
        )
        .await
        .assert_problem(404, "not_found");
        call(Method::GET, format!("/v1/staff?shop_id={other_shop}"), None)
            .await
            .assert_problem(404, "not_found");
        call(Method::GET, format!("/v1/sessions?shop_id={other_shop}"), None)
            .await
            .assert_problem(404, "not_found");
        call(Method::GET, format!("/v1/audit-log?shop_id={other_shop}"), None)
            .await
            .assert_problem(404, "not_found");
        call(Method::DELETE, format!("/v1/sessions/{their_session_id}"), None)
            .await
            .assert_problem(404, "not_found");
        let listed = call(Method::GET, "/v1/staff".into(), None).await;
        let shops: Vec<&Value> = listed.assert_status(200)["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| &m["shop_id"])
            .collect();
        assert!(shops.iter().all(|s| **s == world.shop), "{shops:?}");
    }
    // Their session still works; their member is enabled.
    app.session_get("/v1/orders", &their_session).await.assert_status(200);
    // A buyer manages no staff.
    app.get("/v1/staff", &world.buyer_token)
        .await
        .assert_problem(403, "forbidden");
    // A login is the platform's: taken in one shop, refused in another.
    let taken = app
        .post(
            "/v1/staff",
            &other_merchant,
            json!({ "login": "owner", "name": "x", "role": "owner", "password": STAFF_PASSWORD }),
        )
        .await;
    taken.assert_problem(409, "login_taken");
    let short = app
        .post(
            "/v1/staff",
            &other_merchant,
            json!({ "login": "shorty", "name": "x", "role": "owner", "password": "123456789" }),
        )
        .await;
    short.assert_problem(422, "invalid_field");
}

async fn a_platform_admin_session_acts_as_the_admin(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (world, order) = staffed_world(&app).await;
    app.staff_member(&app.admin, None, "admin", "platform_admin").await;
    let admin = app.sign_in("admin", STAFF_PASSWORD).await;
    assert!(admin.body["staff"]["shop_id"].is_null());
    app.session_get(&format!("/v1/orders/{order}"), &admin)
        .await
        .assert_status(200);
    let shop = app
        .session_send(Method::POST, "/v1/shops", &admin, json!({ "name": "新店" }))
        .await;
    shop.assert_status(201);
    let everyone = app.session_get("/v1/staff", &admin).await;
    assert_eq!(everyone.assert_status(200)["items"].as_array().unwrap().len(), 5);
    let one_shop = app
        .session_get(&format!("/v1/staff?shop_id={}", world.shop), &admin)
        .await;
    assert_eq!(one_shop.assert_status(200)["items"].as_array().unwrap().len(), 4);
    let log = app.session_get("/v1/audit-log?limit=1", &admin).await;
    let line = &log.assert_status(200)["items"][0];
    assert_eq!(line["route"], "/v1/shops");
    assert!(line["shop_id"].is_null(), "a platform action");
}
