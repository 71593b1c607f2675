//! Staff accounts, console sessions and the audit log: managed by the shop's merchant (token)
//! or owner (session) and the platform, another shop's member or session reading as missing;
//! the current session answers only to its cookie.

use super::support::*;

both_backends!(the_current_session_answers_only_to_its_cookie,);

pub const STAFF: &str = "/v1/staff";
pub const MEMBER: &str = "/v1/staff/{staff_id}";
pub const SESSIONS: &str = "/v1/sessions";
pub const CURRENT: &str = "/v1/sessions/current";
pub const SESSION: &str = "/v1/sessions/{session_id}";
pub const AUDIT_LOG: &str = "/v1/audit-log";

/// The staff operations: management called by an operator here (a merchant manages their
/// shop's too), sign-in by anyone, the current session by its cookie.
pub fn endpoints(app: &TestApp, t: &Tenants) -> Vec<Endpoint> {
    let endpoint = endpoint_with(app, t);
    let a = &t.a;
    let (cookie, csrf, _) = &a.session;
    let new = json!({ "shop_id": a.shop, "login": format!("finance-{}", a.shop), "name": "财务",
        "role": "finance", "password": common::STAFF_PASSWORD });
    let sign_in = json!({ "login": a.owner_login, "password": common::STAFF_PASSWORD });
    let session = |method: Method| Endpoint {
        route: CURRENT,
        call: Call::with_session(method, CURRENT, cookie, csrf),
        role: None,
        auth: Auth::Session,
    };
    vec![
        endpoint(STAFF, Method::POST, STAFF.into(), Some(new), None),
        endpoint(STAFF, Method::GET, format!("{STAFF}?shop_id={}", a.shop), None, None),
        endpoint(
            MEMBER,
            Method::PATCH,
            format!("/v1/staff/{}", a.owner),
            Some(json!({ "name": "店长" })),
            None,
        ),
        endpoint(
            AUDIT_LOG,
            Method::GET,
            format!("{AUDIT_LOG}?shop_id={}", a.shop),
            None,
            None,
        ),
        endpoint(
            SESSIONS,
            Method::GET,
            format!("{SESSIONS}?shop_id={}", a.shop),
            None,
            None,
        ),
        endpoint(
            SESSION,
            Method::DELETE,
            format!("/v1/sessions/{}", a.spare_session),
            None,
            None,
        ),
        Endpoint {
            route: SESSIONS,
            call: Call::public(Method::POST, SESSIONS).json(&sign_in),
            role: None,
            auth: Auth::Public,
        },
        session(Method::GET),
        session(Method::DELETE),
    ]
}

/// A's merchant names B's member or session: not found, like a missing one.
pub fn tenant_pairs(t: &Tenants) -> Vec<(Call, Call)> {
    let (a, b) = (&t.a, &t.b);
    let missing = 999_999;
    let rename = json!({ "name": "改名" });
    let patch = |id: i64| Call::new(Method::PATCH, format!("/v1/staff/{id}"), &a.merchant).json(&rename);
    let revoke = |id: i64| Call::new(Method::DELETE, format!("/v1/sessions/{id}"), &a.merchant);
    vec![
        (patch(b.owner), patch(missing)),
        (revoke(b.spare_session), revoke(missing)),
    ]
}

async fn the_current_session_answers_only_to_its_cookie(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenants(&app).await;
    let (cookie, csrf, id) = &t.a.session;
    let current = Call::with_session(Method::GET, CURRENT, cookie, csrf).send(&app).await;
    assert_eq!(current.assert_status(200)["session"]["id"], *id);
    let forged = "miaodan_session=".to_string() + &"0".repeat(64);
    for call in [
        Call::public(Method::GET, CURRENT),
        Call::with_session(Method::GET, CURRENT, &forged, csrf),
        Call::get(CURRENT, &t.a.merchant),
        Call::public(Method::DELETE, CURRENT),
    ] {
        call.send(&app).await.assert_problem(401, "unauthorized");
    }
    // Without its CSRF token, signing out is refused and the session lives on.
    let mut no_csrf = Call::with_session(Method::DELETE, CURRENT, cookie, "");
    no_csrf.session = Some((cookie.clone(), String::new()));
    no_csrf.send(&app).await.assert_problem(403, "csrf_token_invalid");
    let still = Call::with_session(Method::GET, CURRENT, cookie, csrf).send(&app).await;
    still.assert_status(200);
    app.shutdown().await;
}

/// A staff request, and another request to the same operation (for a reused key).
pub fn keyed_pairs(t: &Tenants) -> Vec<(Call, Call)> {
    let a = &t.a;
    let new = |login: &str| {
        Call::new(Method::POST, STAFF, &a.merchant).json(&json!({ "login": login, "name": "客服",
            "role": "customer_service", "password": common::STAFF_PASSWORD }))
    };
    let rename = |name: &str| {
        Call::new(Method::PATCH, format!("/v1/staff/{}", a.owner), &a.merchant).json(&json!({ "name": name }))
    };
    vec![
        (
            new(&format!("keyed-{}", a.shop)),
            new(&format!("keyed-other-{}", a.shop)),
        ),
        (rename("店长"), rename("老板")),
    ]
}
