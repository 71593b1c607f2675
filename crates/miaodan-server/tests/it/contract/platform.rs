//! Platform administration: shops, buyers and their tokens.

use super::support::*;

both_backends!(
    shops_are_created_listed_and_read_by_the_admin_and_their_own_merchant,
    buyers_are_created_and_read_by_the_admin_and_themselves,
    issued_tokens_work_at_once_and_each_is_distinct,
    a_replayed_token_issuance_does_not_reveal_the_secret,
    the_cluster_view_shows_the_one_process_holding_every_shard,
);

/// The platform's operations, each with a request that succeeds when made by its role (in this
/// order, on a fresh [`Tenants`]).
pub fn endpoints(app: &TestApp, t: &Tenants) -> Vec<Endpoint> {
    let a = &t.a;
    let endpoint = endpoint_with(app, t);
    let admin = Some(Role::Admin);
    vec![
        endpoint(
            "/v1/shops",
            Method::POST,
            "/v1/shops".into(),
            Some(json!({ "name": "新店" })),
            admin,
        ),
        endpoint("/v1/shops", Method::GET, "/v1/shops".into(), None, admin),
        endpoint("/v1/cluster", Method::GET, "/v1/cluster".into(), None, admin),
        endpoint(
            "/v1/shops/{shop_id}",
            Method::GET,
            format!("/v1/shops/{}", a.shop),
            None,
            None,
        ),
        endpoint(
            "/v1/shops/{shop_id}",
            Method::PATCH,
            format!("/v1/shops/{}", a.shop),
            Some(json!({ "category": "food" })),
            None,
        ),
        endpoint(
            "/v1/shops/{shop_id}/tokens",
            Method::POST,
            format!("/v1/shops/{}/tokens", a.shop),
            Some(json!({ "label": "客服" })),
            admin,
        ),
        endpoint(
            "/v1/buyers",
            Method::POST,
            "/v1/buyers".into(),
            Some(json!({ "name": "王五" })),
            admin,
        ),
        endpoint(
            "/v1/buyers/{buyer_id}",
            Method::GET,
            format!("/v1/buyers/{}", a.buyer),
            None,
            None,
        ),
        endpoint(
            "/v1/buyers/{buyer_id}/tokens",
            Method::POST,
            format!("/v1/buyers/{}/tokens", a.buyer),
            Some(json!({})),
            admin,
        ),
        endpoint(
            "/v1/edge-tokens",
            Method::POST,
            "/v1/edge-tokens".into(),
            Some(json!({ "label": "edge-sh-2" })),
            admin,
        ),
    ]
}

pub fn platform_bodies(app: &TestApp, t: &Tenants) -> Vec<(Call, Refusal)> {
    let post = |path: String| Call::new(Method::POST, path, &app.admin);
    // Shops: a name of 1 to 60 characters without control characters.
    let mut shops = vec![(json!({}), missing("name"))];
    for name in [
        json!(""),
        json!("  \t "),
        json!(chars(61)),
        json!("a\u{0}b"),
        json!("a\nb"),
    ]
    .into_iter()
    .chain([json!("\u{7f}"), json!("a\u{1b}[31m")])
    {
        shops.push((json!({ "name": name }), invalid("name")));
    }
    for name in [json!(5), json!(null), json!(["x"])] {
        shops.push((json!({ "name": name }), wrong_type("name")));
    }
    // Buyers: a name, and a default address of a known division.
    let address = |adcode: Value, detail: Value| json!({ "name": "王五", "default_address": { "adcode": adcode, "detail": detail } });
    let unknown_adcode = (404, "unknown_adcode", Some("default_address.adcode"));
    let invalid_adcode = refused("invalid_adcode", "default_address.adcode");
    let buyers = vec![
        (json!({}), missing("name")),
        (json!({ "name": "" }), invalid("name")),
        (address(json!("999999999999"), json!("1号")), unknown_adcode),
        (address(json!("31010100000"), json!("1号")), invalid_adcode),
        (address(json!("3101010000000"), json!("1号")), invalid_adcode),
        (address(json!("31010100000a"), json!("1号")), invalid_adcode),
        (address(json!(""), json!("1号")), invalid_adcode),
        (
            address(json!(310_101_000_000_i64), json!("1号")),
            wrong_type("default_address.adcode"),
        ),
        (
            address(json!("310101000000"), json!("")),
            invalid("default_address.detail"),
        ),
        (
            address(json!("310101000000"), json!(chars(201))),
            invalid("default_address.detail"),
        ),
        (
            address(json!("310101000000"), json!("1号\u{0}")),
            invalid("default_address.detail"),
        ),
        (
            json!({ "name": "王五", "default_address": { "adcode": "310101000000" } }),
            missing("default_address.detail"),
        ),
        (
            json!({ "name": "王五", "default_address": { "adcode": "310101000000", "detail": "1号", "zip": "1" } }),
            unknown("default_address.zip"),
        ),
        (
            json!({ "name": "王五", "default_address": "上海" }),
            wrong_type("default_address"),
        ),
    ];
    // Tokens: an optional label of 1 to 60 characters.
    let labels: Vec<_> = [json!(""), json!(chars(61)), json!("a\u{0}")]
        .into_iter()
        .map(|label| (json!({ "label": label }), invalid("label")))
        .chain([(json!({ "label": 5 }), wrong_type("label"))])
        .collect();
    [
        bodies(post("/v1/shops".into()), shops),
        bodies(post("/v1/buyers".into()), buyers),
        bodies(post(format!("/v1/shops/{}/tokens", t.a.shop)), labels.clone()),
        bodies(post(format!("/v1/buyers/{}/tokens", t.a.buyer)), labels),
    ]
    .concat()
}

async fn shops_are_created_listed_and_read_by_the_admin_and_their_own_merchant(backend: Backend) {
    let app = spawn(backend).await;
    let created = app
        .post("/v1/shops", &app.admin, json!({ "name": "  川味小铺  " }))
        .await;
    let shop = created.assert_status(201).clone();
    assert_eq!(shop["name"], "川味小铺", "the name is trimmed");
    assert!(shop["created_at"].as_str().unwrap().ends_with('Z'), "{shop}");
    // 60 characters is the limit, counted in characters, not bytes.
    let long = app
        .post("/v1/shops", &app.admin, json!({ "name": "店".repeat(60) }))
        .await;
    let long = long.assert_status(201).clone();

    let listed = app.get("/v1/shops", &app.admin).await;
    assert_eq!(
        listed.assert_status(200),
        &json!({ "items": [shop, long], "next_cursor": null })
    );
    let id = shop["id"].as_i64().unwrap();
    let read = app.get(&format!("/v1/shops/{id}"), &app.admin).await;
    assert_eq!(read.assert_status(200), &shop);
    let token = app.post(&format!("/v1/shops/{id}/tokens"), &app.admin, json!({})).await;
    let merchant = token.assert_status(201)["token"].as_str().unwrap().to_string();
    assert_eq!(
        app.get(&format!("/v1/shops/{id}"), &merchant).await.assert_status(200),
        &shop
    );
    app.shutdown().await;
}

async fn buyers_are_created_and_read_by_the_admin_and_themselves(backend: Backend) {
    let app = spawn(backend).await;
    let with_address = app
        .post(
            "/v1/buyers",
            &app.admin,
            json!({ "name": "张三", "default_address": { "adcode": "310101000000", "detail": " 南京东路1号 " } }),
        )
        .await;
    let buyer = with_address.assert_status(201).clone();
    assert_eq!(
        buyer["default_address"],
        json!({ "adcode": "310101000000", "division": "黄浦区", "detail": "南京东路1号" })
    );
    let without = app.post("/v1/buyers", &app.admin, json!({ "name": "李四" })).await;
    assert_eq!(without.assert_status(201)["default_address"], Value::Null);

    let id = buyer["id"].as_i64().unwrap();
    assert_eq!(
        app.get(&format!("/v1/buyers/{id}"), &app.admin)
            .await
            .assert_status(200),
        &buyer
    );
    let token = app
        .post(&format!("/v1/buyers/{id}/tokens"), &app.admin, json!({}))
        .await;
    let own = token.assert_status(201)["token"].as_str().unwrap().to_string();
    assert_eq!(
        app.get(&format!("/v1/buyers/{id}"), &own).await.assert_status(200),
        &buyer
    );
    app.shutdown().await;
}

async fn issued_tokens_work_at_once_and_each_is_distinct(backend: Backend) {
    let app = spawn(backend).await;
    let (shop, _) = app.shop("川味小铺").await;
    let (buyer, _) = app.buyer("张三").await;
    let shop_tokens = format!("/v1/shops/{shop}/tokens");
    // The body is optional: none, blank, or a JSON object with a label.
    let answers = [
        Call::new(Method::POST, &shop_tokens, &app.admin).send(&app).await,
        Call::new(Method::POST, &shop_tokens, &app.admin)
            .raw(None, b" \n".to_vec())
            .send(&app)
            .await,
        Call::new(Method::POST, &shop_tokens, &app.admin)
            .json(&json!({ "label": "直播间助手" }))
            .send(&app)
            .await,
    ];
    let mut tokens = BTreeSet::new();
    for answer in &answers {
        let issued = answer.assert_status(201);
        assert_eq!(
            (&issued["role"], &issued["shop_id"], &issued["buyer_id"]),
            (&json!("merchant"), &json!(shop), &Value::Null)
        );
        let token = issued["token"].as_str().unwrap();
        assert!(token.starts_with(&format!("mdn_{}_", issued["token_id"])), "{issued}");
        tokens.insert(token.to_string());
        app.get("/v1/warehouses", token).await.assert_status(200);
    }
    assert_eq!(tokens.len(), 3, "every issue is a new token");

    let issued = app
        .post(
            &format!("/v1/buyers/{buyer}/tokens"),
            &app.admin,
            json!({ "label": "手机" }),
        )
        .await;
    let issued = issued.assert_status(201).clone();
    assert_eq!((&issued["role"], &issued["buyer_id"]), (&json!("buyer"), &json!(buyer)));
    let token = issued["token"].as_str().unwrap();
    app.get("/v1/orders", token).await.assert_status(200);
    app.get(&format!("/v1/buyers/{buyer}"), token).await.assert_status(200);
    app.get("/v1/warehouses", token).await.assert_problem(403, "forbidden");
    app.shutdown().await;
}

/// A retried token issuance replays status and token id but never the secret, which is
/// stored nowhere (not even as an idempotent response).
async fn a_replayed_token_issuance_does_not_reveal_the_secret(backend: Backend) {
    let app = spawn(backend).await;
    let (shop, _) = app.shop("店").await;
    let path = format!("/v1/shops/{shop}/tokens");
    let first = app.post_with_key(&path, &app.admin, "token-1", json!({})).await;
    let secret = first.assert_status(201)["token"].as_str().unwrap().to_string();
    assert!(secret.starts_with("mdn_"));
    let again = app.post_with_key(&path, &app.admin, "token-1", json!({})).await;
    assert!(again.replayed);
    assert_eq!(again.assert_status(201)["token_id"], first.body["token_id"]);
    assert!(!again.raw.contains(&secret), "the secret is not replayed");
    assert!(!again.body["token"].as_str().unwrap().starts_with("mdn_"));
    // The token itself works.
    app.get("/v1/warehouses", &secret).await.assert_status(200);
    app.shutdown().await;
}

/// The platform's only process registered itself and holds every shard's lease, renewed.
async fn the_cluster_view_shows_the_one_process_holding_every_shard(backend: Backend) {
    let app = spawn(backend).await;
    let view = app.get("/v1/cluster", &app.admin).await;
    let view = view.assert_status(200);
    let me = view["answered_by"].as_i64().unwrap();
    let members = view["members"].as_array().unwrap();
    assert_eq!(members.len(), 1, "{view}");
    assert_eq!(
        (members[0]["id"].as_i64(), members[0]["role"].as_str()),
        (Some(me), Some("holder"))
    );
    assert!(
        members[0]["address"].as_str().unwrap().starts_with("http://127.0.0.1:"),
        "{view}"
    );
    assert_eq!(members[0]["wire"], json!(miaodan_server::cluster::WIRE_SHAPE), "{view}");
    let shards = view["shards"].as_array().unwrap();
    assert_eq!(shards.len(), 2, "{view}");
    for (index, shard) in shards.iter().enumerate() {
        assert_eq!(shard["shard"], json!(index));
        assert_eq!(shard["owner"], json!(me), "{view}");
        assert!(shard["epoch"].as_i64().unwrap() >= 1, "{view}");
        let lives = shard["expires_in_ms"].as_i64().unwrap();
        assert!(lives > 0 && lives <= 3_000, "{view}");
        assert_eq!(shard["queued"], json!(0));
    }
    // Another role may not see it.
    let refused = app.get("/v1/cluster", &tenants(&app).await.a.merchant).await;
    refused.assert_status(403);
}
