//! Logistics: shipments, the carriers' webhook, SLA rules, alerts and their stream.

use super::support::*;

both_backends!(
    a_carrier_event_is_applied_once_and_a_refused_one_changes_nothing,
    the_alert_stream_is_an_event_stream_for_merchants_only,
);

/// Logistics' operations, each with a request that succeeds when made by its role (in this
/// order, on a fresh [`Tenants`]).
pub fn endpoints(app: &TestApp, t: &Tenants) -> Vec<Endpoint> {
    let a = &t.a;
    let endpoint = endpoint_with(app, t);
    let merchant = Some(Role::Merchant);
    vec![
        endpoint(
            "/v1/orders/{order_id}/shipments",
            Method::POST,
            format!("/v1/orders/{}/shipments", a.paid_order),
            Some(json!({ "warehouse_id": a.warehouse })),
            merchant,
        ),
        endpoint(
            "/v1/orders/{order_id}/shipments",
            Method::GET,
            format!("/v1/orders/{}/shipments", a.shipped_order),
            None,
            None,
        ),
        endpoint(
            "/v1/shipments/bulk",
            Method::POST,
            "/v1/shipments/bulk".into(),
            Some(json!({ "order_ids": [a.paid_order] })),
            merchant,
        ),
        endpoint(
            "/v1/shipments/{shipment_id}",
            Method::GET,
            format!("/v1/shipments/{}", a.shipment),
            None,
            None,
        ),
        // A tracking event for a waybill the platform never saw: acknowledged, not applied.
        Endpoint {
            route: CARRIER_WEBHOOK,
            call: Call::carrier_webhook(
                &tracking_event("sf", "SF0000000000", "evt-contract-1"),
                Signature::Fresh,
            ),
            role: None,
            auth: Auth::Signature,
        },
        endpoint(
            "/v1/package-center/sla-rules",
            Method::GET,
            "/v1/package-center/sla-rules".into(),
            None,
            merchant,
        ),
        endpoint(
            "/v1/package-center/sla-rules",
            Method::PUT,
            "/v1/package-center/sla-rules".into(),
            Some(sla_rules(24 * 3600)),
            merchant,
        ),
        endpoint(
            "/v1/package-center/alerts",
            Method::GET,
            "/v1/package-center/alerts?state=all".into(),
            None,
            merchant,
        ),
        endpoint(ALERT_STREAM, Method::GET, ALERT_STREAM.into(), None, merchant),
    ]
}

pub fn logistics_bodies(t: &Tenants) -> Vec<(Call, Refusal)> {
    let (a, b) = (&t.a, &t.b);
    // Shipments: a warehouse the order sends a parcel from, an optional known carrier, and an
    // optional waybill of 6 to 40 letters, digits or '-'.
    let no_parcel = (409, "no_parcel_at_warehouse", Some("warehouse_id"));
    let shipment = |field: &str, value: Value| {
        let mut body = json!({ "warehouse_id": a.warehouse });
        body[field] = value;
        body
    };
    let shipments = vec![
        (json!({}), missing("warehouse_id")),
        (shipment("warehouse_id", json!(0)), invalid("warehouse_id")),
        (shipment("warehouse_id", json!(-1)), invalid("warehouse_id")),
        (shipment("warehouse_id", json!("1")), wrong_type("warehouse_id")),
        (shipment("warehouse_id", json!(999_999)), no_parcel),
        (shipment("warehouse_id", json!(b.warehouse)), no_parcel),
        (shipment("carrier", json!("ups")), invalid("carrier")),
        (shipment("carrier", json!("SF")), invalid("carrier")),
        (shipment("carrier", json!(5)), wrong_type("carrier")),
        (shipment("waybill_no", json!("")), invalid("waybill_no")),
        (shipment("waybill_no", json!("SF123")), invalid("waybill_no")),
        (shipment("waybill_no", json!("S".repeat(41))), invalid("waybill_no")),
        (shipment("waybill_no", json!("SF 1234567")), invalid("waybill_no")),
        (shipment("waybill_no", json!("SF1234567\n")), invalid("waybill_no")),
        (shipment("waybill_no", json!("顺丰1234567")), invalid("waybill_no")),
        (shipment("waybill_no", json!(1_234_567_890)), wrong_type("waybill_no")),
        (shipment("weight_g", json!(500)), unknown("weight_g")),
        // Another shipment's waybill with the same carrier is not this parcel's.
        (
            json!({ "warehouse_id": a.warehouse, "carrier": a.carrier, "waybill_no": a.waybill }),
            (409, "waybill_in_use", Some("waybill_no")),
        ),
    ];
    let shipments_of = |order: i64| Call::new(Method::POST, format!("/v1/orders/{order}/shipments"), &a.merchant);
    // SLA rules: each allowed time 60 s to 30 days, a warning at 1 to 99 % of it.
    let rules = |field: &str, value: Value| {
        let mut body = sla_rules(24 * 3600);
        body[field] = value;
        body
    };
    let unworkable = |field: &'static str| (422, "invalid_sla_rules", Some(field));
    let mut sla = vec![
        (json!({}), missing("not_picked_up_within_s")),
        (
            json!({ "not_picked_up_within_s": 3600, "not_departed_within_s": 3600, "stalled_after_s": 3600 }),
            missing("warn_at_percent"),
        ),
        (rules("warn_at_percent", json!(0)), unworkable("warn_at_percent")),
        (rules("warn_at_percent", json!(100)), unworkable("warn_at_percent")),
        (rules("warn_at_percent", json!(256)), unworkable("warn_at_percent")),
        (rules("warn_at_percent", json!(-1)), unworkable("warn_at_percent")),
        (rules("warn_at_percent", json!(80.5)), wrong_type("warn_at_percent")),
        (rules("shop_id", json!(b.shop)), unknown("shop_id")),
    ];
    for field in ["not_picked_up_within_s", "not_departed_within_s", "stalled_after_s"] {
        sla.push((rules(field, json!(59)), unworkable(field)));
        sla.push((rules(field, json!(30 * 24 * 3600 + 1)), unworkable(field)));
        sla.push((rules(field, json!(0)), unworkable(field)));
        sla.push((rules(field, json!(i64::MIN)), unworkable(field)));
        sla.push((rules(field, json!("3600")), wrong_type(field)));
        sla.push((rules(field, json!(1e30)), wrong_type(field)));
    }
    [
        bodies(shipments_of(a.paid_order), shipments),
        // Only a paid order has parcels, and a parcel has one shipment.
        bodies(
            shipments_of(a.order),
            vec![(json!({ "warehouse_id": a.warehouse }), no_parcel)],
        ),
        bodies(
            shipments_of(a.order),
            vec![(
                json!({ "warehouse_id": a.warehouse, "waybill_no": "SF1234567890" }),
                (409, "order_not_dispatched", None),
            )],
        ),
        bodies(
            shipments_of(a.shipped_order),
            vec![(json!({ "warehouse_id": a.warehouse }), (409, "shipment_exists", None))],
        ),
        bodies(Call::new(Method::PUT, "/v1/package-center/sla-rules", &a.merchant), sla),
    ]
    .concat()
}

/// The refusals of the carriers' webhook, which reads no token and no media type: only a
/// signature over the raw body, and then the body as a tracking event of a known carrier, in
/// a known state, at an RFC 3339 instant, with an event id of 1 to 64 visible ASCII characters.
pub fn carrier_webhook_refusals(valid: &Call, admin: &str) -> Vec<(Call, Refusal)> {
    let unreadable = (422, "malformed_notification", None);
    let event: Value = serde_json::from_slice(valid.body.as_ref().unwrap()).unwrap();
    let with = |field: &str, value: Value| {
        let mut body = event.clone();
        body[field] = value;
        (valid.clone().json(&body).signed(Signature::Fresh), unreadable)
    };
    let without = |field: &str| {
        let mut body = event.clone();
        body.as_object_mut().unwrap().remove(field);
        (valid.clone().json(&body).signed(Signature::Fresh), unreadable)
    };
    [
        signature_refusals(valid, admin),
        unreadable_bodies(valid),
        vec![
            without("carrier"),
            without("waybill_no"),
            without("event_id"),
            without("state"),
            without("occurred_at"),
            with("carrier", json!("ups")),
            with("carrier", json!("SF")),
            with("carrier", json!(1)),
            with("waybill_no", json!(null)),
            with("state", json!("teleported")),
            with("state", json!("PICKED_UP")),
            with("occurred_at", json!("yesterday")),
            with("occurred_at", json!("2026-13-01T00:00:00Z")),
            with("occurred_at", json!(1_700_000_000)),
            with("event_id", json!("")),
            with("event_id", json!("evt 1")),
            with("event_id", json!("e".repeat(65))),
            with("event_id", json!("事件")),
            with("location", json!(5)),
        ],
    ]
    .concat()
}

/// (another tenant's object, a missing one) of logistics, for A's merchant and buyer.
pub fn logistics_pairs(t: &Tenants) -> Vec<(Call, Call)> {
    let (a, b) = (&t.a, &t.b);
    let missing = 999_999;
    let ship = |order: i64, warehouse: i64| {
        Call::new(Method::POST, format!("/v1/orders/{order}/shipments"), &a.merchant)
            .json(&json!({ "warehouse_id": warehouse }))
    };
    let mut pairs = vec![
        (ship(b.paid_order, b.warehouse), ship(missing, b.warehouse)),
        (ship(b.paid_order, a.warehouse), ship(missing, a.warehouse)),
        // The merchant's own paid order does not ship from another shop's warehouse.
        (ship(a.paid_order, b.warehouse), ship(a.paid_order, missing)),
    ];
    for token in [&a.merchant, &a.buyer_token] {
        pairs.push((
            Call::get(format!("/v1/orders/{}/shipments", b.shipped_order), token),
            Call::get(format!("/v1/orders/{missing}/shipments"), token),
        ));
        pairs.push((
            Call::get(format!("/v1/shipments/{}", b.shipment), token),
            Call::get(format!("/v1/shipments/{missing}"), token),
        ));
    }
    pairs
}

async fn a_carrier_event_is_applied_once_and_a_refused_one_changes_nothing(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenants(&app).await;
    let a = &t.a;
    let event = tracking_event(&a.carrier, &a.waybill, "evt-pickup-1");
    let call = Call::carrier_webhook(&event, Signature::Fresh);
    // Every refusal is about a real parcel, and moves it not.
    expect_refusals(&app, &t, &carrier_webhook_refusals(&call, &app.admin)).await;
    let applied = call.send(&app).await;
    assert_success(&applied, &call.label());
    assert_eq!(applied.body, json!({ "status": "applied" }));
    let shipment = app.get(&format!("/v1/shipments/{}", a.shipment), &a.buyer_token).await;
    let shipment = shipment.assert_status(200).clone();
    assert_eq!(shipment["state"], "picked_up");
    let events: Vec<&Value> = shipment["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["event_id"])
        .collect();
    assert_eq!(events, vec!["evt-pickup-1"]);
    // The same event again (a carrier's retry, freshly signed) is acknowledged, not applied.
    let before = snapshot(&app, &t).await;
    let again = call.send(&app).await;
    assert_eq!(again.assert_status(200), &json!({ "status": "duplicate" }));
    assert!(
        snapshot(&app, &t).await == before,
        "a duplicate event changed something"
    );
    // The waybill number is the carrier's own: another carrier's is another parcel.
    let other_carrier = if a.carrier == "jd" { "zto" } else { "jd" };
    let stranger = Call::carrier_webhook(
        &tracking_event(other_carrier, &a.waybill, "evt-pickup-2"),
        Signature::Fresh,
    );
    let answer = stranger.send(&app).await;
    assert_eq!(answer.assert_status(200), &json!({ "status": "unknown_waybill" }));
    assert!(
        snapshot(&app, &t).await == before,
        "another carrier's event changed something"
    );
    app.shutdown().await;
}

async fn the_alert_stream_is_an_event_stream_for_merchants_only(backend: Backend) {
    let app = spawn(backend).await;
    let t = tenants(&app).await;
    for merchant in [&t.a.merchant, &t.b.merchant] {
        let stream = Call::get(ALERT_STREAM, merchant).send(&app).await;
        assert_eq!(stream.status, 200);
        assert_eq!(stream.content_type, EVENT_STREAM);
    }
    let cases = vec![
        (Call::public(Method::GET, ALERT_STREAM), (401, "unauthorized", None)),
        (
            Call::get(ALERT_STREAM, &flip_last(&t.a.merchant)),
            (401, "unauthorized", None),
        ),
        (Call::get(ALERT_STREAM, &app.admin), (403, "forbidden", None)),
        (Call::get(ALERT_STREAM, &t.a.buyer_token), (403, "forbidden", None)),
    ];
    expect_refusals(&app, &t, &cases).await;
    app.shutdown().await;
}
