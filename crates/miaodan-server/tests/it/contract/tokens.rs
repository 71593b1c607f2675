//! API tokens: listed and revoked by whoever answers for them (an admin every token, a
//! merchant its shop's, a buyer its own), never showing a secret or a hash; issued with a
//! lifetime their role allows.

use super::support::*;

both_backends!(
    token_lists_show_each_caller_the_tokens_it_answers_for_and_never_a_secret,
    bad_token_list_queries_are_refused_and_change_nothing,
    a_token_revoked_by_whoever_answers_for_it_is_refused_from_the_next_request,
    an_issued_token_lives_its_roles_default_or_what_was_asked_within_the_maximum,
);

/// The token operations, each with a request that succeeds (every role may call them).
pub fn endpoints(app: &TestApp, t: &Tenants) -> Vec<Endpoint> {
    let endpoint = endpoint_with(app, t);
    vec![
        endpoint("/v1/tokens", Method::GET, "/v1/tokens".into(), None, None),
        endpoint(
            "/v1/tokens/{token_id}",
            Method::DELETE,
            format!("/v1/tokens/{}", t.spare_token),
            None,
            None,
        ),
    ]
}

/// The id of a token, `mdn_<id>_<secret>`.
pub fn token_id(token: &str) -> i64 {
    token.split('_').nth(1).unwrap().parse().unwrap()
}

/// Token issuances whose lifetime or scope is wrong.
pub fn token_bodies(app: &TestApp, t: &Tenants) -> Vec<(Call, Refusal)> {
    let post = |path: String| Call::new(Method::POST, path, &app.admin);
    let too_long = refused("token_lifetime_too_long", "expires_in_days");
    let mut any_role = vec![
        (json!({ "expires_in_days": 0 }), invalid("expires_in_days")),
        (json!({ "expires_in_days": -30 }), invalid("expires_in_days")),
        (json!({ "expires_in_days": "30" }), wrong_type("expires_in_days")),
        (json!({ "expires_in_days": 1.5 }), wrong_type("expires_in_days")),
        (json!({ "expires_in_days": 366 }), too_long),
        (json!({ "scope": "admin" }), invalid("scope")),
        (json!({ "scope": "READ_ONLY" }), invalid("scope")),
        (json!({ "scope": "" }), invalid("scope")),
        (json!({ "scope": ["read_only"] }), wrong_type("scope")),
    ];
    let merchant = any_role.clone();
    // A buyer's token lives at most 90 days, a merchant's 365.
    any_role.push((json!({ "expires_in_days": 91 }), too_long));
    any_role.push((json!({ "expires_in_days": 365, "label": "手机" }), too_long));
    [
        bodies(post(format!("/v1/shops/{}/tokens", t.a.shop)), merchant),
        bodies(post(format!("/v1/buyers/{}/tokens", t.a.buyer)), any_role),
    ]
    .concat()
}

/// (another tenant's token, a missing one): revoking either answers alike.
pub fn token_pairs(t: &Tenants) -> Vec<(Call, Call)> {
    let (a, b) = (&t.a, &t.b);
    let revoke = |token: &str, id: i64| Call::new(Method::DELETE, format!("/v1/tokens/{id}"), token);
    let missing = 999_999;
    [
        (&a.merchant, token_id(&b.merchant)),
        (&a.merchant, token_id(&a.buyer_token)),
        (&a.buyer_token, token_id(&b.buyer_token)),
        (&a.buyer_token, token_id(&a.merchant)),
        (&a.buyer_token, t.spare_token),
        (&b.merchant, t.spare_token),
    ]
    .into_iter()
    .map(|(token, id)| (revoke(token, id), revoke(token, missing)))
    .collect()
}

/// The secret part of a token.
fn secret(token: &str) -> &str {
    token.rsplit('_').next().unwrap()
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

async fn token_lists_show_each_caller_the_tokens_it_answers_for_and_never_a_secret(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenants(&app).await;
    let (a, b) = (&t.a, &t.b);
    let id = |token: &str| token_id(token);
    let everyone = [
        id(&t.edge),
        t.spare_token,
        id(&t.homeless_buyer),
        id(&b.buyer_token),
        id(&b.merchant),
        id(&a.buyer_token),
        id(&a.merchant),
        id(&app.admin),
    ];
    // (caller, query, the ids listed, newest first)
    let cases: Vec<(&str, String, Vec<i64>)> = vec![
        (&app.admin, String::new(), everyone.to_vec()),
        (
            &app.admin,
            format!("?shop_id={}", a.shop),
            vec![t.spare_token, id(&a.merchant)],
        ),
        (&app.admin, format!("?buyer_id={}", b.buyer), vec![id(&b.buyer_token)]),
        (&app.admin, "?shop_id=999999".into(), vec![]),
        (&a.merchant, String::new(), vec![t.spare_token, id(&a.merchant)]),
        // A merchant's and a buyer's lists are their own whatever they filter on.
        (
            &a.merchant,
            format!("?shop_id={}", b.shop),
            vec![t.spare_token, id(&a.merchant)],
        ),
        (
            &a.merchant,
            format!("?buyer_id={}", a.buyer),
            vec![t.spare_token, id(&a.merchant)],
        ),
        (&b.merchant, String::new(), vec![id(&b.merchant)]),
        (&a.buyer_token, String::new(), vec![id(&a.buyer_token)]),
        (
            &b.buyer_token,
            format!("?buyer_id={}", a.buyer),
            vec![id(&b.buyer_token)],
        ),
    ];
    let known = [
        &app.admin,
        &a.merchant,
        &a.buyer_token,
        &b.merchant,
        &b.buyer_token,
        &t.homeless_buyer,
        &t.edge,
    ];
    for (caller, query, expected) in &cases {
        let page = app.get(&format!("/v1/tokens{query}"), caller).await;
        assert_eq!(ids(&page.assert_status(200)["items"]), *expected, "{query}");
        assert_eq!(page.body["next_cursor"], Value::Null);
        for token in known {
            assert!(!page.raw.contains(secret(token)), "a secret in {}", page.raw);
            assert!(!page.raw.contains(&sha256_hex(secret(token))), "a hash in {}", page.raw);
        }
        for item in page.body["items"].as_array().unwrap() {
            let fields: BTreeSet<&str> = item.as_object().unwrap().keys().map(String::as_str).collect();
            let expected_fields = BTreeSet::from([
                "id",
                "role",
                "shop_id",
                "buyer_id",
                "label",
                "scope",
                "state",
                "created_at",
                "expires_at",
                "last_used_at",
                "revoked_at",
            ]);
            assert_eq!(fields, expected_fields, "{item}");
        }
    }
    assert_eq!(walk_pages(&app, "/v1/tokens", &app.admin, 2).await, everyone.to_vec());

    let listed = app.get(&format!("/v1/tokens?shop_id={}", a.shop), &app.admin).await;
    let [spare, merchant] = listed.body["items"].as_array().unwrap().as_slice() else {
        panic!("{}", listed.raw);
    };
    assert_eq!(
        (&spare["role"], &spare["shop_id"], &spare["buyer_id"], &spare["label"]),
        (&json!("merchant"), &json!(a.shop), &Value::Null, &json!("spare"))
    );
    assert_eq!(
        (&spare["state"], &spare["scope"]),
        (&json!("active"), &json!("read_write"))
    );
    assert_eq!(spare["last_used_at"], Value::Null, "never used");
    assert!(
        merchant["last_used_at"].is_string(),
        "used to build the tenant: {merchant}"
    );
    app.shutdown().await;
}

async fn bad_token_list_queries_are_refused_and_change_nothing(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenants(&app).await;
    let bad_cursor = (400, "invalid_cursor", Some("cursor"));
    let bad_limit = (400, "invalid_query", Some("limit"));
    let queries = [
        ("limit=0", (422, "invalid_field", Some("limit"))),
        ("limit=201", (422, "invalid_field", Some("limit"))),
        ("limit=-1", (422, "invalid_field", Some("limit"))),
        ("limit=abc", bad_limit),
        ("limit=99999999999999999999", bad_limit),
        ("cursor=abc", bad_cursor),
        ("cursor=", bad_cursor),
        ("cursor=0", bad_cursor),
        ("cursor=-4", bad_cursor),
        ("shop_id=0", (422, "invalid_field", Some("shop_id"))),
        ("shop_id=-3", (422, "invalid_field", Some("shop_id"))),
        ("shop_id=abc", (400, "invalid_query", Some("shop_id"))),
        ("buyer_id=0", (422, "invalid_field", Some("buyer_id"))),
        ("buyer_id=1.5", (400, "invalid_query", Some("buyer_id"))),
        ("role=admin", (400, "invalid_query", Some("role"))),
        ("limit=1&limit=2", bad_limit),
    ];
    let mut cases = Vec::new();
    for token in [&app.admin, &t.a.merchant, &t.a.buyer_token] {
        for (query, refusal) in &queries {
            cases.push((Call::get(format!("/v1/tokens?{query}"), token), *refusal));
        }
    }
    let both = format!("/v1/tokens?shop_id={}&buyer_id={}", t.a.shop, t.a.buyer);
    cases.push((Call::get(both, &app.admin), (422, "invalid_field", Some("buyer_id"))));
    expect_refusals_in_bulk(&app, &t, &cases).await;
    app.shutdown().await;
}

/// Issues a token to `path` (`/v1/shops/{id}/tokens` or `/v1/buyers/{id}/tokens`).
async fn issue(app: &TestApp, path: &str, body: Value) -> (i64, String) {
    let issued = app.post(path, &app.admin, body).await;
    let token = issued.assert_status(201)["token"].as_str().unwrap().to_string();
    (issued.body["token_id"].as_i64().unwrap(), token)
}

async fn a_token_revoked_by_whoever_answers_for_it_is_refused_from_the_next_request(backend: Backend) {
    let app = spawn(backend).await;
    let (shop, merchant) = app.shop("川味小铺").await;
    let (_, other_merchant) = app.shop("美妆店").await;
    let (buyer, _) = app.buyer("张三").await;
    let shop_tokens = format!("/v1/shops/{shop}/tokens");
    let buyer_tokens = format!("/v1/buyers/{buyer}/tokens");
    // (who revokes, the token's issuance path, a request the token may make)
    let cases = [
        (Some(merchant.as_str()), &shop_tokens, "/v1/warehouses"),
        (Some(app.admin.as_str()), &shop_tokens, "/v1/warehouses"),
        (Some(app.admin.as_str()), &buyer_tokens, "/v1/orders"),
        // A token may revoke itself (signing out).
        (None, &shop_tokens, "/v1/warehouses"),
        (None, &buyer_tokens, "/v1/orders"),
    ];
    for (revoker, issuance, read) in cases {
        let (id, token) = issue(&app, issuance, json!({})).await;
        // Used once: its record is now in the server's cache.
        app.get(read, &token).await.assert_status(200);
        let revoker = revoker.unwrap_or(&token);
        let path = format!("/v1/tokens/{id}");
        let foreign = Call::new(Method::DELETE, &path, &other_merchant).send(&app).await;
        assert_refused(&foreign, (404, "not_found", None), "another shop's merchant");
        app.get(read, &token).await.assert_status(200);

        let revoked = Call::new(Method::DELETE, &path, revoker).send(&app).await;
        let view = revoked.assert_status(200).clone();
        assert_eq!((&view["id"], &view["state"]), (&json!(id), &json!("revoked")));
        assert!(view["revoked_at"].is_string(), "{view}");
        assert!(!revoked.raw.contains(secret(&token)));
        let refused = app.get(read, &token).await;
        assert_refused(&refused, (401, "unauthorized", None), "a revoked token");
        assert!(refused.raw.contains("revoked"), "{}", refused.raw);
        // Revoking again answers the token as it is.
        let again = Call::new(Method::DELETE, &path, &app.admin).send(&app).await;
        assert_eq!(again.assert_status(200), &view);
    }
    // A read-only token reads, and revokes nothing, itself included.
    let (id, read_only) = issue(&app, &shop_tokens, json!({ "scope": "read_only" })).await;
    app.get("/v1/tokens", &read_only).await.assert_status(200);
    let refused = Call::new(Method::DELETE, format!("/v1/tokens/{id}"), &read_only)
        .send(&app)
        .await;
    assert_refused(&refused, (403, "insufficient_scope", None), "a read-only token");
    app.get("/v1/warehouses", &read_only).await.assert_status(200);
    app.shutdown().await;
}

async fn an_issued_token_lives_its_roles_default_or_what_was_asked_within_the_maximum(backend: Backend) {
    let app = spawn(backend).await;
    let (shop, _) = app.shop("川味小铺").await;
    let (buyer, _) = app.buyer("张三").await;
    let shop_tokens = format!("/v1/shops/{shop}/tokens");
    let buyer_tokens = format!("/v1/buyers/{buyer}/tokens");
    let day_ms = 86_400_000;
    // (issuance path, body, days the token lives)
    let cases = [
        (&shop_tokens, json!({}), 90),
        (&shop_tokens, json!({ "expires_in_days": 365 }), 365),
        (&shop_tokens, json!({ "expires_in_days": 1 }), 1),
        (&buyer_tokens, json!({}), 30),
        (
            &buyer_tokens,
            json!({ "expires_in_days": 90, "scope": "read_only" }),
            90,
        ),
    ];
    for (path, body, days) in cases {
        let issued = app.post(path, &app.admin, body.clone()).await;
        let issued = issued.assert_status(201).clone();
        let created = app.get("/v1/tokens", &app.admin).await;
        let view = created.body["items"][0].clone();
        assert_eq!(view["id"], issued["token_id"], "the newest first");
        assert_eq!(view["expires_at"], issued["expires_at"]);
        assert_eq!(view["scope"], issued["scope"]);
        let ms = |field: &str| {
            let at: jiff::Timestamp = view[field].as_str().unwrap().parse().unwrap();
            at.as_millisecond()
        };
        assert_eq!(ms("expires_at") - ms("created_at"), days * day_ms, "{body}");
    }
    // Beyond the role's maximum: refused, and nothing issued.
    let before = listed(&app, "/v1/tokens", &app.admin).await;
    let too_long = app
        .post(&buyer_tokens, &app.admin, json!({ "expires_in_days": 91 }))
        .await;
    assert_refused(
        &too_long,
        refused("token_lifetime_too_long", "expires_in_days"),
        "91 days for a buyer",
    );
    assert!(too_long.raw.contains("at most 90 days"), "{}", too_long.raw);
    assert_eq!(listed(&app, "/v1/tokens", &app.admin).await, before);
    app.shutdown().await;
}
