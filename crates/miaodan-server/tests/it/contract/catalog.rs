//! The catalog and inventory: warehouses, products, SKUs, stock.

use super::support::*;

both_backends!(
    warehouses_are_created_and_listed_with_their_division,
    products_are_created_read_searched_and_filtered,
    product_cursor_pagination_visits_every_product_exactly_once,
    patching_a_product_changes_only_the_given_fields_and_archiving_hides_it_from_buyers,
    an_added_sku_can_be_stocked_and_ordered,
    a_sku_price_change_leaves_an_already_placed_order_unchanged,
    stock_is_set_per_warehouse_and_keeps_reserved_units,
);

/// The catalog's and inventory's operations, each with a request that succeeds when made by its role (in this
/// order, on a fresh [`Tenants`]).
pub fn endpoints(app: &TestApp, t: &Tenants) -> Vec<Endpoint> {
    let a = &t.a;
    let endpoint = endpoint_with(app, t);
    let merchant = Some(Role::Merchant);
    vec![
        endpoint(
            "/v1/warehouses",
            Method::POST,
            "/v1/warehouses".into(),
            Some(json!({ "name": "北京仓", "adcode": "110101000000" })),
            merchant,
        ),
        endpoint("/v1/warehouses", Method::GET, "/v1/warehouses".into(), None, merchant),
        endpoint(
            "/v1/products",
            Method::POST,
            "/v1/products".into(),
            Some(json!({ "title": "新品", "skus": [{ "name": "标准", "price_fen": 100 }] })),
            merchant,
        ),
        endpoint("/v1/products", Method::GET, "/v1/products".into(), None, None),
        endpoint(
            "/v1/products/{product_id}",
            Method::GET,
            format!("/v1/products/{}", a.product),
            None,
            None,
        ),
        endpoint(
            "/v1/products/{product_id}",
            Method::PATCH,
            format!("/v1/products/{}", a.product),
            Some(json!({ "title": "新标题" })),
            merchant,
        ),
        endpoint(
            "/v1/products/{product_id}/skus",
            Method::POST,
            format!("/v1/products/{}/skus", a.product),
            Some(json!({ "name": "大包", "price_fen": 100 })),
            merchant,
        ),
        endpoint(
            "/v1/skus/{sku_id}",
            Method::PATCH,
            format!("/v1/skus/{}", a.sku),
            Some(json!({ "price_fen": 6990 })),
            merchant,
        ),
        endpoint(
            "/v1/skus/{sku_id}/stock",
            Method::GET,
            format!("/v1/skus/{}/stock", a.sku),
            None,
            merchant,
        ),
        endpoint(
            "/v1/skus/{sku_id}/stock/{warehouse_id}",
            Method::PUT,
            format!("/v1/skus/{}/stock/{}", a.sku, a.warehouse),
            Some(json!({ "available": 7 })),
            merchant,
        ),
    ]
}

pub fn catalog_bodies(t: &Tenants) -> Vec<(Call, Refusal)> {
    let a = &t.a;
    // Products: a title, an optional description and GTIN, and 1 to 100 SKUs with prices.
    let sku = |price: Value| json!({ "name": "标准", "price_fen": price });
    let product = |field: &str, value: Value| {
        let mut body = json!({ "title": "新品", "skus": [sku(json!(100))] });
        body[field] = value;
        body
    };
    let priced = |price: Value| product("skus", json!([sku(price)]));
    let (bad_gtin, bad_price) = (
        refused("invalid_gtin", "gtin"),
        refused("invalid_price", "skus[0].price_fen"),
    );
    let products = vec![
        (json!({ "skus": [sku(json!(100))] }), missing("title")),
        (json!({ "title": "新品" }), missing("skus")),
        (product("skus", json!([])), invalid("skus")),
        (product("skus", json!(vec![sku(json!(100)); 101])), invalid("skus")),
        (product("skus", json!({})), wrong_type("skus")),
        (product("title", json!("")), invalid("title")),
        (product("title", json!(chars(121))), invalid("title")),
        (product("title", json!("a\u{0}b")), invalid("title")),
        (product("title", json!(5)), wrong_type("title")),
        (product("description", json!(chars(2001))), invalid("description")),
        (product("description", json!("bell\u{7}")), invalid("description")),
        (product("gtin", json!("6901234567893")), bad_gtin),
        (product("gtin", json!("69012345678")), bad_gtin),
        (product("gtin", json!("690123456789a")), bad_gtin),
        (product("gtin", json!("")), bad_gtin),
        (product("gtin", json!(6_901_234_567_892_i64)), wrong_type("gtin")),
        (priced(json!(-1)), bad_price),
        (priced(json!(10_000_000_001_i64)), bad_price),
        (priced(json!(i64::MAX)), bad_price),
        (priced(json!(i64::MIN)), bad_price),
        (priced(json!(1e30)), wrong_type("skus[0].price_fen")),
        (
            priced(json!(9_223_372_036_854_775_808_u64)),
            wrong_type("skus[0].price_fen"),
        ),
        (priced(json!(99.5)), wrong_type("skus[0].price_fen")),
        (priced(json!("100")), wrong_type("skus[0].price_fen")),
        (priced(json!(null)), wrong_type("skus[0].price_fen")),
        (
            product("skus", json!([sku(json!(1)), { "name": "", "price_fen": 1 }])),
            invalid("skus[1].name"),
        ),
        (
            product("skus", json!([{ "name": "标准" }])),
            missing("skus[0].price_fen"),
        ),
        (
            product("skus", json!([{ "name": "标准", "price_fen": 1, "stock": 5 }])),
            unknown("skus[0].stock"),
        ),
    ];
    let product_patches = vec![
        (json!({ "title": "" }), invalid("title")),
        (json!({ "title": chars(121) }), invalid("title")),
        (json!({ "title": 5 }), wrong_type("title")),
        (json!({ "description": chars(2001) }), invalid("description")),
        (json!({ "description": 5 }), wrong_type("description")),
        (json!({ "gtin": "6901234567893" }), bad_gtin),
        (json!({ "status": "deleted" }), invalid("status")),
        (json!({ "status": "ACTIVE" }), invalid("status")),
        (json!({ "title": "新标题", "shop_id": t.b.shop }), unknown("shop_id")),
    ];
    // Add a SKU: the whole body is the SKU, so fields are named from its root.
    let price = refused("invalid_price", "price_fen");
    let added = vec![
        (json!({ "price_fen": 1 }), missing("name")),
        (json!({ "name": "大包" }), missing("price_fen")),
        (json!({ "name": "", "price_fen": 1 }), invalid("name")),
        (json!({ "name": "大包", "price_fen": -1 }), price),
        (json!({ "name": "大包", "price_fen": 10_000_000_001_i64 }), price),
        (json!({ "name": "大包", "price_fen": 1e30 }), wrong_type("price_fen")),
        (
            json!({ "name": "大包", "price_fen": 9_223_372_036_854_775_808_u64 }),
            wrong_type("price_fen"),
        ),
    ];
    let sku_patches = vec![
        (json!({ "price_fen": -1 }), price),
        (json!({ "price_fen": 10_000_000_001_i64 }), price),
        (json!({ "price_fen": 1e30 }), wrong_type("price_fen")),
        (
            json!({ "price_fen": 9_223_372_036_854_775_808_u64 }),
            wrong_type("price_fen"),
        ),
        (json!({ "name": "" }), invalid("name")),
        (json!({ "name": chars(61) }), invalid("name")),
        (json!({ "status": "gone" }), invalid("status")),
    ];
    let merchant = |method: Method, path: String| Call::new(method, path, &a.merchant);
    [
        bodies(merchant(Method::POST, "/v1/products".into()), products),
        bodies(
            merchant(Method::PATCH, format!("/v1/products/{}", a.product)),
            product_patches,
        ),
        bodies(
            merchant(Method::POST, format!("/v1/products/{}/skus", a.product)),
            added,
        ),
        bodies(merchant(Method::PATCH, format!("/v1/skus/{}", a.sku)), sku_patches),
    ]
    .concat()
}

pub fn inventory_bodies(t: &Tenants) -> Vec<(Call, Refusal)> {
    let a = &t.a;
    // Warehouses: a name and a known division.
    let warehouses = vec![
        (json!({}), missing("name")),
        (json!({ "name": "北京仓" }), missing("adcode")),
        (json!({ "name": "", "adcode": "110101000000" }), invalid("name")),
        (
            json!({ "name": "北京仓", "adcode": "999999999999" }),
            (404, "unknown_adcode", Some("adcode")),
        ),
        (
            json!({ "name": "北京仓", "adcode": "abc" }),
            refused("invalid_adcode", "adcode"),
        ),
        (
            json!({ "name": "北京仓", "adcode": 110_101_000_000_i64 }),
            wrong_type("adcode"),
        ),
    ];
    // Stock: 0 to 1 000 000 000 units.
    let stock = refused("invalid_stock", "available");
    let counts = vec![
        (json!({}), missing("available")),
        (json!({ "available": -1 }), stock),
        (json!({ "available": 1_000_000_001 }), stock),
        (json!({ "available": i64::MAX }), stock),
        (json!({ "available": 1e30 }), wrong_type("available")),
        (
            json!({ "available": 9_223_372_036_854_775_808_u64 }),
            wrong_type("available"),
        ),
        (json!({ "available": 2.5 }), wrong_type("available")),
        (json!({ "available": "5" }), wrong_type("available")),
    ];
    let stock_path = format!("/v1/skus/{}/stock/{}", a.sku, a.warehouse);
    [
        bodies(Call::new(Method::POST, "/v1/warehouses", &a.merchant), warehouses),
        bodies(Call::new(Method::PUT, stock_path, &a.merchant), counts),
    ]
    .concat()
}

async fn warehouses_are_created_and_listed_with_their_division(backend: Backend) {
    let app = spawn(backend).await;
    let (shop, merchant) = app.shop("川味小铺").await;
    let first = app
        .post(
            "/v1/warehouses",
            &merchant,
            json!({ "name": "双流仓", "adcode": "510116000000" }),
        )
        .await;
    let first = first.assert_status(201).clone();
    assert_eq!(
        (&first["shop_id"], &first["name"], &first["adcode"], &first["division"]),
        (&json!(shop), &json!("双流仓"), &json!("510116000000"), &json!("双流区"))
    );
    let second = app
        .post(
            "/v1/warehouses",
            &merchant,
            json!({ "name": "嘉定仓", "adcode": "310114000000" }),
        )
        .await;
    let second = second.assert_status(201).clone();
    assert_eq!(second["division"], "嘉定区");
    let listed = app.get("/v1/warehouses", &merchant).await;
    assert_eq!(
        listed.assert_status(200),
        &json!({ "items": [first, second], "next_cursor": null })
    );
    app.shutdown().await;
}

pub const GTIN: &str = "6901234567892";

async fn products_are_created_read_searched_and_filtered(backend: Backend) {
    let app = spawn(backend).await;
    let (shop_a, a) = app.shop("川味小铺").await;
    let (shop_b, b) = app.shop("面馆").await;
    let (_, buyer) = app.buyer("张三").await;
    let jerky = app
        .post(
            "/v1/products",
            &a,
            json!({
            "title": "Spicy Beef Jerky 麻辣牛肉干",
            "description": "四川特产",
            "gtin": GTIN,
            "skus": [{ "name": "100g", "price_fen": 2990 }, { "name": "500g", "price_fen": 9990 }]
            }),
        )
        .await;
    let jerky = jerky.assert_status(201).clone();
    assert_eq!(
        (
            &jerky["shop_id"],
            &jerky["status"],
            &jerky["gtin"],
            &jerky["description"]
        ),
        (&json!(shop_a), &json!("active"), &json!(GTIN), &json!("四川特产"))
    );
    let skus = jerky["skus"].as_array().unwrap();
    assert_eq!(skus.len(), 2);
    assert!(
        skus.iter()
            .all(|s| s["product_id"] == jerky["id"] && s["status"] == "active")
    );
    assert_eq!(
        (&skus[0]["price_fen"], &skus[1]["price_fen"]),
        (&json!(2990), &json!(9990))
    );
    let cotton = app
        .post(
            "/v1/products",
            &a,
            json!({ "title": "100% 纯棉T恤", "skus": [{ "name": "M", "price_fen": 5900 }] }),
        )
        .await;
    let cotton = cotton.assert_status(201).clone();
    assert_eq!((&cotton["description"], &cotton["gtin"]), (&Value::Null, &Value::Null));
    let noodles = app
        .post(
            "/v1/products",
            &b,
            json!({ "title": "BEEF Noodles 牛肉面", "gtin": GTIN, "skus": [{ "name": "碗", "price_fen": 1800 }] }),
        )
        .await;
    let noodles = noodles.assert_status(201).clone();
    let [jerky_id, cotton_id, noodles_id] = [&jerky, &cotton, &noodles].map(|p| p["id"].as_i64().unwrap());

    // Every role reads a visible product exactly as it was created.
    for token in [&app.admin, &a, &buyer] {
        let read = app.get(&format!("/v1/products/{jerky_id}"), token).await;
        assert_eq!(read.assert_status(200), &jerky);
    }
    let by_gtin = format!("gtin={GTIN}");
    let by_gtin_and_q = format!("gtin={GTIN}&q=noodles");
    let of_b = format!("shop_id={shop_b}");
    let of_a = format!("shop_id={shop_a}");
    let cases: Vec<(&str, &String, Vec<i64>)> = vec![
        ("q=beef", &buyer, vec![jerky_id, noodles_id]),
        ("q=%20%20BEEF%20", &buyer, vec![jerky_id, noodles_id]),
        ("q=牛肉", &buyer, vec![jerky_id, noodles_id]),
        ("q=jerky", &buyer, vec![jerky_id]),
        // Wildcards of SQL are plain characters in a search.
        ("q=%25", &buyer, vec![cotton_id]),
        ("q=_", &buyer, vec![]),
        ("q=%5C", &buyer, vec![]),
        ("q=nothing", &buyer, vec![]),
        // The same GTIN across shops is the same product.
        (&by_gtin, &buyer, vec![jerky_id, noodles_id]),
        (&by_gtin_and_q, &buyer, vec![noodles_id]),
        ("gtin=96385074", &buyer, vec![]),
        (&of_b, &buyer, vec![noodles_id]),
        (&of_a, &app.admin, vec![jerky_id, cotton_id]),
        ("shop_id=999999", &buyer, vec![]),
        ("", &app.admin, vec![jerky_id, cotton_id, noodles_id]),
        ("q=beef", &a, vec![jerky_id]),
        (&by_gtin, &b, vec![noodles_id]),
    ];
    for (query, token, expected) in cases {
        assert_eq!(
            listed(&app, &format!("/v1/products?{query}"), token).await,
            expected,
            "{query}"
        );
    }
    app.shutdown().await;
}

async fn product_cursor_pagination_visits_every_product_exactly_once(backend: Backend) {
    let app = spawn(backend).await;
    let (_, a) = app.shop("川味小铺").await;
    let (_, b) = app.shop("面馆").await;
    let (_, buyer) = app.buyer("张三").await;
    let mut created = Vec::new();
    for i in 0..9 {
        let merchant = if i % 3 == 0 { &b } else { &a };
        let body = json!({ "title": format!("牛肉 {i}"), "skus": [{ "name": "袋", "price_fen": 100 + i }] });
        let product = app.post("/v1/products", merchant, body).await;
        created.push(product.assert_status(201)["id"].as_i64().unwrap());
    }
    for limit in [1, 2, 4, 9, 10] {
        for token in [&buyer, &app.admin] {
            assert_eq!(
                walk_pages(&app, "/v1/products", token, limit).await,
                created,
                "limit {limit}"
            );
        }
    }
    // Pagination keeps its filter.
    let beef_of_a: Vec<i64> = created
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 3 != 0)
        .map(|(_, id)| *id)
        .collect();
    assert_eq!(walk_pages(&app, "/v1/products?q=牛肉", &a, 2).await, beef_of_a);
    app.shutdown().await;
}

async fn patching_a_product_changes_only_the_given_fields_and_archiving_hides_it_from_buyers(backend: Backend) {
    let app = spawn(backend).await;
    let (_, merchant) = app.shop("川味小铺").await;
    let (_, other) = app.shop("面馆").await;
    let (_, buyer) = app.buyer("张三").await;
    let created = app
        .post(
            "/v1/products",
            &merchant,
            json!({ "title": "牛肉干", "description": "四川特产", "gtin": GTIN, "skus": [{ "name": "袋", "price_fen": 2990 }] }),
        )
        .await;
    let created = created.assert_status(201).clone();
    let id = created["id"].as_i64().unwrap();
    let path = format!("/v1/products/{id}");

    let renamed = app.patch(&path, &merchant, json!({ "title": "  麻辣牛肉干 " })).await;
    let renamed = renamed.assert_status(200).clone();
    assert_eq!(renamed["title"], "麻辣牛肉干");
    for field in ["description", "gtin", "status", "skus", "shop_id", "created_at"] {
        assert_eq!(renamed[field], created[field], "{field} is left as it was");
    }
    let cleared = app.patch(&path, &merchant, json!({ "description": null })).await;
    let cleared = cleared.assert_status(200).clone();
    assert_eq!(
        (&cleared["description"], &cleared["gtin"]),
        (&Value::Null, &json!(GTIN))
    );
    assert_eq!(cleared["title"], "麻辣牛肉干");
    let cleared = app.patch(&path, &merchant, json!({ "gtin": null })).await;
    assert_eq!(cleared.assert_status(200)["gtin"], Value::Null);
    let read = app.get(&path, &merchant).await;
    assert_eq!(read.assert_status(200), cleared.assert_status(200));

    let archived = app.patch(&path, &merchant, json!({ "status": "archived" })).await;
    assert_eq!(archived.assert_status(200)["status"], "archived");
    app.get(&path, &buyer).await.assert_problem(404, "not_found");
    app.get(&path, &other).await.assert_problem(404, "not_found");
    assert_eq!(app.get(&path, &merchant).await.assert_status(200)["status"], "archived");
    assert_eq!(
        app.get(&path, &app.admin).await.assert_status(200)["status"],
        "archived"
    );
    assert_eq!(listed(&app, "/v1/products", &buyer).await, Vec::<i64>::new());
    assert_eq!(listed(&app, "/v1/products", &merchant).await, vec![id]);
    assert_eq!(listed(&app, "/v1/products", &app.admin).await, vec![id]);

    let active = app.patch(&path, &merchant, json!({ "status": "active" })).await;
    assert_eq!(active.assert_status(200)["status"], "active");
    assert_eq!(app.get(&path, &buyer).await.assert_status(200)["title"], "麻辣牛肉干");
    assert_eq!(listed(&app, "/v1/products", &buyer).await, vec![id]);
    app.shutdown().await;
}

async fn an_added_sku_can_be_stocked_and_ordered(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenants(&app).await;
    let a = &t.a;
    let added = app
        .post(
            &format!("/v1/products/{}/skus", a.product),
            &a.merchant,
            json!({ "name": " 家庭装 ", "price_fen": 19990 }),
        )
        .await;
    let sku = added.assert_status(201).clone();
    assert_eq!(
        (&sku["product_id"], &sku["name"], &sku["price_fen"], &sku["status"]),
        (&json!(a.product), &json!("家庭装"), &json!(19990), &json!("active"))
    );
    let id = sku["id"].as_i64().unwrap();
    let product = app.get(&format!("/v1/products/{}", a.product), &a.buyer_token).await;
    assert_eq!(ids(&product.assert_status(200)["skus"]), vec![a.sku, a.sku2, id]);
    app.stock(&a.merchant, id, a.warehouse, 2).await;
    let placed = app.checkout(&a.buyer_token, &[(id, 2)]).await;
    assert_eq!(placed.assert_status(201)["total_fen"], 2 * 19990);
    assert_eq!(app.level(&a.merchant, id, a.warehouse).await, (0, 2, 0));
    app.shutdown().await;
}

async fn a_sku_price_change_leaves_an_already_placed_order_unchanged(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenants(&app).await;
    let a = &t.a;
    let sku_path = format!("/v1/skus/{}", a.sku);
    let before = app.get(&format!("/v1/orders/{}", a.order), &a.buyer_token).await;
    let before = before.assert_status(200).clone();
    assert_eq!(before["lines"][0]["unit_price_fen"], 5990);

    let patched = app.patch(&sku_path, &a.merchant, json!({ "price_fen": 6990 })).await;
    let patched = patched.assert_status(200).clone();
    assert_eq!(
        (&patched["price_fen"], &patched["name"]),
        (&json!(6990), &json!("标准装"))
    );
    let after = app.get(&format!("/v1/orders/{}", a.order), &a.buyer_token).await;
    assert_eq!(after.assert_status(200), &before, "a placed order keeps its prices");
    let placed = app.checkout(&a.buyer_token, &[(a.sku, 2)]).await;
    let order = &placed.assert_status(201)["orders"][0];
    assert_eq!(
        (&order["lines"][0]["unit_price_fen"], &order["total_fen"]),
        (&json!(6990), &json!(13980))
    );

    // A renamed and then archived SKU is hidden from buyers and cannot be ordered.
    let renamed = app.patch(&sku_path, &a.merchant, json!({ "name": "经典装" })).await;
    assert_eq!(renamed.assert_status(200)["price_fen"], 6990);
    let archived = app.patch(&sku_path, &a.merchant, json!({ "status": "archived" })).await;
    assert_eq!(archived.assert_status(200)["status"], "archived");
    let product = app.get(&format!("/v1/products/{}", a.product), &a.buyer_token).await;
    assert_eq!(ids(&product.assert_status(200)["skus"]), vec![a.sku2]);
    let product = app.get(&format!("/v1/products/{}", a.product), &a.merchant).await;
    assert_eq!(product.assert_status(200)["skus"][0]["status"], "archived");
    let refused = app.checkout(&a.buyer_token, &[(a.sku, 1)]).await;
    refused.assert_problem(409, "sku_unavailable");
    assert_eq!(refused.body["field"], "lines[0].sku_id");
    let after = app.get(&format!("/v1/orders/{}", a.order), &a.buyer_token).await;
    assert_eq!(after.assert_status(200), &before);
    app.shutdown().await;
}

async fn stock_is_set_per_warehouse_and_keeps_reserved_units(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenants(&app).await;
    let a = &t.a;
    let second = app.warehouse(&a.merchant, "嘉定仓", "310114000000").await;
    let set = app.stock(&a.merchant, a.sku, second, 4).await;
    assert_eq!(
        set,
        json!({ "sku_id": a.sku, "warehouse_id": second, "available": 4, "reserved": 0, "sold": 0 })
    );
    // The first warehouse has 1 unit reserved by A's order, 1 by A's spare flash sale and 1
    // sold: a stock count keeps them.
    let set = app.stock(&a.merchant, a.sku, a.warehouse, 0).await;
    assert_eq!(
        (&set["available"], &set["reserved"], &set["sold"]),
        (&json!(0), &json!(2), &json!(1))
    );
    let levels = app.get(&format!("/v1/skus/{}/stock", a.sku), &a.merchant).await;
    assert_eq!(
        levels.assert_status(200)["items"],
        json!([
            { "sku_id": a.sku, "warehouse_id": a.warehouse, "available": 0, "reserved": 2, "sold": 1 },
            { "sku_id": a.sku, "warehouse_id": second, "available": 4, "reserved": 0, "sold": 0 },
        ])
    );
    let max = app.stock(&a.merchant, a.sku, second, 1_000_000_000).await;
    assert_eq!(max["available"], 1_000_000_000);
    // A SKU never stocked has no rows.
    let fresh = app.product(&a.merchant, "新品", &[100]).await;
    let levels = app.get(&format!("/v1/skus/{}/stock", fresh[0]), &a.merchant).await;
    assert_eq!(levels.assert_status(200), &json!({ "items": [], "next_cursor": null }));
    app.shutdown().await;
}
