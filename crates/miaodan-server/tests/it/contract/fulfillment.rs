//! Fulfillment: delivery options, warehouse settings, shortages, dispatch.

use super::support::*;

both_backends!(delivery_options_answer_anyone_per_shop_of_the_cart,);

/// Fulfillment's operations, each with a request that succeeds when made by its role (in this
/// order, on a fresh [`Tenants`]).
pub fn endpoints(app: &TestApp, t: &Tenants) -> Vec<Endpoint> {
    let a = &t.a;
    let endpoint = endpoint_with(app, t);
    let merchant = Some(Role::Merchant);
    vec![
        Endpoint {
            route: "/v1/delivery-options",
            call: Call::public(Method::GET, delivery_options(&[(a.sku, 1)])),
            role: None,
            auth: Auth::Public,
        },
        endpoint(
            "/v1/warehouses/{warehouse_id}/fulfillment",
            Method::GET,
            format!("/v1/warehouses/{}/fulfillment", a.warehouse),
            None,
            merchant,
        ),
        endpoint(
            "/v1/warehouses/{warehouse_id}/fulfillment",
            Method::PUT,
            format!("/v1/warehouses/{}/fulfillment", a.warehouse),
            Some(fulfillment_settings()),
            merchant,
        ),
        endpoint(
            "/v1/warehouses/{warehouse_id}/shortages",
            Method::POST,
            format!("/v1/warehouses/{}/shortages", a.warehouse),
            Some(json!({ "sku_id": a.sku, "missing_units": 1 })),
            merchant,
        ),
        endpoint(
            "/v1/orders/{order_id}/dispatch",
            Method::GET,
            format!("/v1/orders/{}/dispatch", a.paid_order),
            None,
            None,
        ),
    ]
}

pub fn fulfillment_bodies(t: &Tenants) -> Vec<(Call, Refusal)> {
    let a = &t.a;
    // Warehouse settings: 1 to 4 ordered shifts of HH:MM, 1 to 1 000 000 orders an hour and
    // 1 to 24 000 000 a day, at most 16 cutoffs of a known level and region (one per pair),
    // known carriers, each once.
    let settings = |field: &str, value: Value| {
        let mut body = fulfillment_settings();
        body[field] = value;
        body
    };
    let shift = |start: &str, end: &str| json!({ "start": start, "end": end });
    let shifts = |shifts: Vec<Value>| settings("shifts", json!(shifts));
    let cutoff = |level: &str, region: &str, time: &str| json!({ "level": level, "region": region, "time": time });
    let cutoffs = |cutoffs: Vec<Value>| settings("cutoffs", json!(cutoffs));
    let unworkable = (422, "invalid_fulfillment_settings", None);
    let mut rows = vec![
        (json!({}), missing("shifts")),
        (
            json!({ "shifts": [shift("08:00", "22:00")], "orders_per_day": 1, "cutoffs": [] }),
            missing("orders_per_hour"),
        ),
        (
            json!({ "shifts": [shift("08:00", "22:00")], "orders_per_hour": 1, "orders_per_day": 1 }),
            missing("cutoffs"),
        ),
        (shifts(vec![]), unworkable),
        (shifts(vec![shift("08:00", "09:00"); 5]), unworkable),
        (shifts(vec![shift("22:00", "08:00")]), unworkable),
        (shifts(vec![shift("08:00", "08:00")]), unworkable),
        (
            shifts(vec![shift("08:00", "14:00"), shift("13:00", "22:00")]),
            unworkable,
        ),
        (
            shifts(vec![shift("14:00", "22:00"), shift("08:00", "12:00")]),
            unworkable,
        ),
        (settings("shifts", json!({})), wrong_type("shifts")),
        (
            settings("shifts", json!([{ "start": "08:00" }])),
            missing("shifts[0].end"),
        ),
        (
            settings(
                "shifts",
                json!([{ "start": "08:00", "end": "22:00", "break": "12:00" }]),
            ),
            unknown("shifts[0].break"),
        ),
        (settings("orders_per_hour", json!(0)), invalid("orders_per_hour")),
        (
            settings("orders_per_hour", json!(1_000_001)),
            invalid("orders_per_hour"),
        ),
        (settings("orders_per_hour", json!(-1)), invalid("orders_per_hour")),
        (
            settings("orders_per_hour", json!(4_294_967_296_i64)),
            invalid("orders_per_hour"),
        ),
        (settings("orders_per_hour", json!(1.5)), wrong_type("orders_per_hour")),
        (settings("orders_per_hour", json!("500")), wrong_type("orders_per_hour")),
        (settings("orders_per_day", json!(0)), invalid("orders_per_day")),
        (settings("orders_per_day", json!(24_000_001)), invalid("orders_per_day")),
        (settings("orders_per_day", json!(null)), wrong_type("orders_per_day")),
        (cutoffs(vec![cutoff("next_day", "any", "16:00"); 17]), unworkable),
        (
            cutoffs(vec![
                cutoff("next_day", "any", "16:00"),
                cutoff("next_day", "any", "17:00"),
            ]),
            unworkable,
        ),
        (
            cutoffs(vec![cutoff("express", "any", "16:00")]),
            invalid("cutoffs[0].level"),
        ),
        (
            cutoffs(vec![cutoff("NEXT_DAY", "any", "16:00")]),
            invalid("cutoffs[0].level"),
        ),
        (
            cutoffs(vec![cutoff("next_day", "nearby", "16:00")]),
            invalid("cutoffs[0].region"),
        ),
        (
            cutoffs(vec![
                cutoff("next_day", "any", "16:00"),
                cutoff("standard", "any", "5pm"),
            ]),
            invalid("cutoffs[1].time"),
        ),
        (
            settings("cutoffs", json!([{ "level": "next_day", "region": "any" }])),
            missing("cutoffs[0].time"),
        ),
        (settings("works_holidays", json!("yes")), wrong_type("works_holidays")),
        (settings("carriers", json!("sf")), wrong_type("carriers")),
        (settings("carriers", json!(["ups"])), invalid("carriers[0]")),
        (settings("carriers", json!(["SF"])), invalid("carriers[0]")),
        (settings("carriers", json!(["sf", "jd", "sf"])), invalid("carriers[2]")),
        (settings("warehouse_id", json!(a.warehouse)), unknown("warehouse_id")),
    ];
    // A time is HH:MM, 00:00 to 24:00.
    for time in [
        "8:00", "08:0", "0800", "08:00:00", "24:01", "25:00", "08:60", "ab:cd", "", "+8:00", "08:-1",
    ] {
        rows.push((shifts(vec![shift(time, "22:00")]), invalid("shifts[0].start")));
        rows.push((shifts(vec![shift("08:00", time)]), invalid("shifts[0].end")));
        rows.push((
            cutoffs(vec![cutoff("next_day", "any", time)]),
            invalid("cutoffs[0].time"),
        ));
    }
    // Shortages: a SKU of the shop, and 1 to the units the warehouse holds that are not with
    // a carrier (8 available and 1 sold of the first SKU; of the second, none available and
    // the 1 sold is with the carrier).
    let too_few = invalid("missing_units");
    let too_many = (409, "shortage_exceeds_stock", Some("missing_units"));
    let unknown_sku = (404, "unknown_sku", Some("sku_id"));
    let shortage = |sku: Value, units: Value| json!({ "sku_id": sku, "missing_units": units });
    let shortages = vec![
        (json!({}), missing("sku_id")),
        (json!({ "sku_id": a.sku }), missing("missing_units")),
        (shortage(json!(0), json!(1)), invalid("sku_id")),
        (shortage(json!(-1), json!(1)), invalid("sku_id")),
        (shortage(json!(999_999), json!(1)), unknown_sku),
        (shortage(json!(t.b.sku), json!(1)), unknown_sku),
        (shortage(json!("1"), json!(1)), wrong_type("sku_id")),
        (shortage(json!(a.sku), json!(0)), too_few),
        (shortage(json!(a.sku), json!(-1)), too_few),
        (shortage(json!(a.sku), json!(i64::MIN)), too_few),
        (shortage(json!(a.sku), json!(10)), too_many),
        (shortage(json!(a.sku), json!(i64::MAX)), too_many),
        (shortage(json!(a.sku2), json!(1)), too_many),
        (shortage(json!(a.sku), json!(1.5)), wrong_type("missing_units")),
        (shortage(json!(a.sku), json!("1")), wrong_type("missing_units")),
        (
            shortage(json!(a.sku), json!(9_223_372_036_854_775_808_u64)),
            wrong_type("missing_units"),
        ),
        (
            json!({ "sku_id": a.sku, "missing_units": 1, "reason": "damaged" }),
            unknown("reason"),
        ),
    ];
    let merchant = |method: Method, path: String| Call::new(method, path, &a.merchant);
    [
        bodies(
            merchant(Method::PUT, format!("/v1/warehouses/{}/fulfillment", a.warehouse)),
            rows,
        ),
        bodies(
            merchant(Method::POST, format!("/v1/warehouses/{}/shortages", a.warehouse)),
            shortages,
        ),
    ]
    .concat()
}

/// (another tenant's object, a missing one) of fulfillment, for A's merchant and buyer.
pub fn fulfillment_pairs(t: &Tenants) -> Vec<(Call, Call)> {
    let (a, b) = (&t.a, &t.b);
    let missing = 999_999;
    let merchant = |method: Method, path: String, body: Option<Value>| {
        let call = Call::new(method, path, &a.merchant);
        match body {
            Some(body) => call.json(&body),
            None => call,
        }
    };
    let settings = Some(json!({
        "shifts": [{ "start": "00:00", "end": "24:00" }],
        "orders_per_hour": 1, "orders_per_day": 1, "cutoffs": [],
    }));
    let shortage = |sku: i64| Some(json!({ "sku_id": sku, "missing_units": 1 }));
    let mut pairs = vec![
        (
            merchant(Method::GET, format!("/v1/warehouses/{}/fulfillment", b.warehouse), None),
            merchant(Method::GET, format!("/v1/warehouses/{missing}/fulfillment"), None),
        ),
        (
            merchant(
                Method::PUT,
                format!("/v1/warehouses/{}/fulfillment", b.warehouse),
                settings.clone(),
            ),
            merchant(
                Method::PUT,
                format!("/v1/warehouses/{missing}/fulfillment"),
                settings.clone(),
            ),
        ),
        (
            merchant(
                Method::POST,
                format!("/v1/warehouses/{}/shortages", b.warehouse),
                shortage(a.sku),
            ),
            merchant(
                Method::POST,
                format!("/v1/warehouses/{missing}/shortages"),
                shortage(a.sku),
            ),
        ),
        // Another shop's SKU, in the merchant's own warehouse or in the other shop's.
        (
            merchant(
                Method::POST,
                format!("/v1/warehouses/{}/shortages", a.warehouse),
                shortage(b.sku),
            ),
            merchant(
                Method::POST,
                format!("/v1/warehouses/{}/shortages", a.warehouse),
                shortage(missing),
            ),
        ),
        (
            merchant(
                Method::POST,
                format!("/v1/warehouses/{}/shortages", b.warehouse),
                shortage(b.sku),
            ),
            merchant(
                Method::POST,
                format!("/v1/warehouses/{missing}/shortages"),
                shortage(missing),
            ),
        ),
    ];
    for token in [&a.merchant, &a.buyer_token] {
        pairs.push((
            Call::get(format!("/v1/orders/{}/dispatch", b.paid_order), token),
            Call::get(format!("/v1/orders/{missing}/dispatch"), token),
        ));
    }
    pairs
}

async fn delivery_options_answer_anyone_per_shop_of_the_cart(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenants(&app).await;
    let (a, b) = (&t.a, &t.b);
    let path = delivery_options(&[(a.sku, 2), (b.sku, 1), (a.sku, 1)]);
    let anonymous = Call::public(Method::GET, &path).send(&app).await;
    assert_success(&anonymous, &path);
    let body = &anonymous.body;
    assert_eq!(
        (&body["adcode"], &body["address_name"]),
        (&json!("310101000000"), &json!("黄浦区"))
    );
    // One entry per shop, each with its own items (one SKU listed twice is one item), in no
    // promised order.
    let mut shops: Vec<(i64, Value)> = body["shops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|shop| (shop["shop_id"].as_i64().unwrap(), shop["items"].clone()))
        .collect();
    shops.sort_by_key(|(shop, _)| *shop);
    let expected = vec![
        (a.shop, json!([{ "sku_id": a.sku, "quantity": 3 }])),
        (b.shop, json!([{ "sku_id": b.sku, "quantity": 1 }])),
    ];
    assert_eq!(shops, expected, "{}", anonymous.raw);
    // Every role asks the same question and gets the same shops (the instants may move on).
    for token in [&app.admin, &a.merchant, &b.buyer_token] {
        let answer = Call::get(&path, token).send(&app).await;
        assert_eq!(answer.assert_status(200)["shops"].as_array().unwrap().len(), 2);
    }
    app.shutdown().await;
}
