//! The package center as a work queue over real HTTP: people acknowledge, assign, note and
//! resolve alerts; each step is idempotent with its key, refused with a stable code when
//! impossible, published as an `alert.*` event and pushed on the alerts stream; the list is
//! filtered by level, assignee and acknowledgement. Another shop's alert is not found.
#![allow(clippy::unwrap_used)]

use crate::common;
use crate::fulfillment::{
    AlertStream, BACKGROUND_WAIT, MINUTE_MS, alert_reaching, alerts, clock_at, monday, paid_order,
    pickup_within_an_hour, ship,
};

use common::{Backend, TestApp, World};
use miaodan_server::clock::Clock;
use serde_json::{Value, json};

both_backends!(
    people_acknowledge_assign_note_and_resolve_an_alert_and_the_stream_tells_each_step,
    the_queue_is_filtered_by_level_assignee_and_acknowledgement,
    bad_work_is_refused_and_changes_nothing_and_another_shops_alert_is_not_found,
    an_alert_a_person_resolved_is_raised_again_only_once_it_times_out,
);

/// A shop whose one parcel has not been picked up for 49 minutes of an allowed hour: a
/// warning, listed and streamed (the stream is past it).
struct Warned {
    app: TestApp,
    clock: Clock,
    w: World,
    alert: String,
    stream: AlertStream,
}

async fn warned(backend: Backend) -> Warned {
    let clock = clock_at(monday(9, 10));
    let app = TestApp::spawn_with_manual_carriers(backend, &clock).await;
    let w = app.world().await;
    pickup_within_an_hour(&app, &w.merchant).await;
    let mut stream = AlertStream::open(&app, &w.merchant).await;
    let order = paid_order(&app, &w.buyer_token, &[(w.skus[0], 1)]).await;
    let created = ship(&app, &w.merchant, order, json!({ "warehouse_id": w.warehouses[1] })).await;
    let shipment = created.assert_status(201)["id"].as_i64().unwrap();
    let alert = format!("{shipment}-not_picked_up-1");
    clock.advance(49 * MINUTE_MS);
    let warning = alert_reaching(&app, &w.merchant, &alert, "warning", true).await;
    assert_eq!(stream.next_alert(BACKGROUND_WAIT).await, warning);
    let unworked = [
        "acknowledged_at",
        "acknowledged_by",
        "assignee",
        "resolved_by",
        "resolution_note",
    ];
    for field in unworked {
        assert_eq!(warning[field], Value::Null, "{field}: {warning}");
    }
    assert_eq!(warning["notes"], json!([]));
    Warned {
        app,
        clock,
        w,
        alert,
        stream,
    }
}

fn path(alert: &str, verb: &str) -> String {
    format!("/v1/package-center/alerts/{alert}/{verb}")
}

/// The alert as listed now (open or not).
async fn listed(app: &TestApp, merchant: &str, alert: &str) -> Value {
    let all = alerts(app, merchant, "?state=all").await;
    all.into_iter().find(|a| a["id"] == alert).unwrap()
}

async fn people_acknowledge_assign_note_and_resolve_an_alert_and_the_stream_tells_each_step(backend: Backend) {
    let Warned {
        app,
        w,
        alert,
        mut stream,
        ..
    } = warned(backend).await;
    let acknowledge = path(&alert, "acknowledge");
    let first = app.post_with_key(&acknowledge, &w.merchant, "ack-1", json!({})).await;
    let acknowledged = first.assert_status(200).clone();
    assert_eq!(
        acknowledged["acknowledged_by"],
        json!({ "kind": "shop_token", "staff_id": null })
    );
    assert!(acknowledged["acknowledged_at"].is_string(), "{acknowledged}");
    let replayed = app.post_with_key(&acknowledge, &w.merchant, "ack-1", json!({})).await;
    assert_eq!(replayed.assert_status(200), &acknowledged, "one key, one effect");
    app.post(&acknowledge, &w.merchant, json!({}))
        .await
        .assert_problem(409, "alert_already_acknowledged");
    assert_eq!(stream.next_alert(BACKGROUND_WAIT).await, acknowledged);

    let assign = app
        .post(&path(&alert, "assign"), &w.merchant, json!({ "staff_id": 7 }))
        .await;
    assert_eq!(assign.assert_status(200)["assignee"], 7);
    let note = json!({ "text": "已催促快递上门揽收" });
    let noted = app.post(&path(&alert, "notes"), &w.merchant, note).await;
    let noted = noted.assert_status(200).clone();
    assert_eq!(noted["notes"][0]["text"], "已催促快递上门揽收");
    assert_eq!(noted["notes"][0]["by"]["kind"], "shop_token");
    assert_eq!(stream.next_alert(BACKGROUND_WAIT).await["assignee"], 7);
    assert_eq!(stream.next_alert(BACKGROUND_WAIT).await, noted);

    let resolve = json!({ "note": "快递已改约明早揽收" });
    let resolved = app.post(&path(&alert, "resolve"), &app.admin, resolve.clone()).await;
    let resolved = resolved.assert_status(200).clone();
    assert_eq!(
        (&resolved["open"], &resolved["resolution_note"]),
        (&json!(false), &json!("快递已改约明早揽收"))
    );
    assert_eq!(resolved["resolved_by"]["kind"], "platform_admin");
    assert_eq!(
        (&resolved["assignee"], &resolved["notes"]),
        (&json!(7), &noted["notes"])
    );
    assert_eq!(stream.next_alert(BACKGROUND_WAIT).await, resolved);
    assert_eq!(listed(&app, &w.merchant, &alert).await, resolved);
    assert_eq!(alerts(&app, &w.merchant, "").await, Vec::<Value>::new());
    for (verb, body) in [
        ("resolve", resolve),
        ("notes", json!({ "text": "晚了" })),
        ("acknowledge", json!({})),
    ] {
        app.post(&path(&alert, verb), &w.merchant, body)
            .await
            .assert_problem(409, "alert_resolved");
    }
    let topics: Vec<String> = app
        .get(&format!("/v1/events?shop_id={}", w.shop), &w.merchant)
        .await
        .assert_status(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["topic"].as_str().unwrap().to_string())
        .filter(|t| t.starts_with("alert."))
        .collect();
    assert_eq!(
        topics,
        [
            "alert.raised",
            "alert.acknowledged",
            "alert.assigned",
            "alert.noted",
            "alert.resolved"
        ]
    );
}

async fn the_queue_is_filtered_by_level_assignee_and_acknowledgement(backend: Backend) {
    let Warned { app, w, alert, .. } = warned(backend).await;
    let ids = |listed: Vec<Value>| {
        listed
            .iter()
            .map(|a| a["id"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let only = vec![alert.clone()];
    let none: Vec<String> = Vec::new();
    let before = [
        ("?level=warning", &only),
        ("?level=timed_out", &none),
        ("?assignee=none", &only),
        ("?assignee=7", &none),
        ("?acknowledged=false", &only),
        ("?acknowledged=true", &none),
    ];
    for (query, expected) in before {
        assert_eq!(&ids(alerts(&app, &w.merchant, query).await), expected, "{query}");
    }
    app.post(&path(&alert, "acknowledge"), &w.merchant, json!({}))
        .await
        .assert_status(200);
    app.post(&path(&alert, "assign"), &w.merchant, json!({ "staff_id": 7 }))
        .await
        .assert_status(200);
    let after = [
        ("?assignee=none", &none),
        ("?assignee=7", &only),
        ("?assignee=8", &none),
        ("?acknowledged=false", &none),
        ("?acknowledged=true&assignee=7&level=warning&rule=not_picked_up", &only),
        ("?acknowledged=true&limit=1", &only),
    ];
    for (query, expected) in after {
        assert_eq!(&ids(alerts(&app, &w.merchant, query).await), expected, "{query}");
    }
    app.post(&path(&alert, "assign"), &w.merchant, json!({ "staff_id": null }))
        .await
        .assert_status(200);
    assert_eq!(ids(alerts(&app, &w.merchant, "?assignee=none").await), only);
    for (query, field) in [
        ("?level=severe", "level"),
        ("?assignee=me", "assignee"),
        ("?acknowledged=yes", "acknowledged"),
    ] {
        let refused = app.get(&format!("/v1/package-center/alerts{query}"), &w.merchant).await;
        refused.assert_problem(422, "invalid_field");
        assert_eq!(refused.body["field"], field);
    }
}

async fn bad_work_is_refused_and_changes_nothing_and_another_shops_alert_is_not_found(backend: Backend) {
    let Warned { app, w, alert, .. } = warned(backend).await;
    let before = listed(&app, &w.merchant, &alert).await;
    let (_, other_merchant) = app.shop("隔壁小铺").await;
    let refusals = [
        (
            path(&alert, "acknowledge"),
            other_merchant.as_str(),
            json!({}),
            404,
            "not_found",
        ),
        (
            path("not-an-alert", "acknowledge"),
            &w.merchant,
            json!({}),
            404,
            "not_found",
        ),
        (
            path("99999-stalled-1", "acknowledge"),
            &w.merchant,
            json!({}),
            404,
            "not_found",
        ),
        (path(&alert, "acknowledge"), &w.buyer_token, json!({}), 403, "forbidden"),
        (
            path(&alert, "acknowledge"),
            &w.merchant,
            json!({ "by": 1 }),
            400,
            "unknown_field",
        ),
        (
            path(&alert, "assign"),
            &w.merchant,
            json!({ "staff_id": 0 }),
            422,
            "invalid_field",
        ),
        (
            path(&alert, "assign"),
            &w.merchant,
            json!({ "staff_id": "7" }),
            400,
            "wrong_type",
        ),
        (path(&alert, "assign"), &w.merchant, json!({}), 400, "missing_field"),
        (
            path(&alert, "notes"),
            &w.merchant,
            json!({ "text": "   " }),
            422,
            "invalid_field",
        ),
        (
            path(&alert, "notes"),
            &w.merchant,
            json!({ "text": "字".repeat(501) }),
            422,
            "invalid_field",
        ),
        (path(&alert, "resolve"), &w.merchant, json!({}), 400, "missing_field"),
        (
            path(&alert, "resolve"),
            other_merchant.as_str(),
            json!({ "note": "不是我的" }),
            404,
            "not_found",
        ),
    ];
    for (url, token, body, status, code) in refusals {
        app.post(&url, token, body.clone()).await.assert_problem(status, code);
    }
    assert_eq!(
        listed(&app, &w.merchant, &alert).await,
        before,
        "refusals change nothing"
    );
    let longest = app
        .post(&path(&alert, "notes"), &w.merchant, json!({ "text": "字".repeat(500) }))
        .await;
    assert_eq!(
        longest.assert_status(200)["notes"][0]["text"]
            .as_str()
            .unwrap()
            .chars()
            .count(),
        500
    );
}

async fn an_alert_a_person_resolved_is_raised_again_only_once_it_times_out(backend: Backend) {
    let Warned {
        app, clock, w, alert, ..
    } = warned(backend).await;
    let note = json!({ "note": "快递说十点前来" });
    app.post(&path(&alert, "resolve"), &w.merchant, note)
        .await
        .assert_status(200);
    // Still a warning five minutes on: the person's resolution stands.
    clock.advance(5 * MINUTE_MS);
    let quiet = alerts(&app, &w.merchant, "").await;
    assert_eq!(quiet, Vec::<Value>::new());
    // Past the hour it times out: the next occurrence is raised, unworked.
    clock.advance(7 * MINUTE_MS);
    let again = format!("{}-2", alert.strip_suffix("-1").unwrap());
    let raised = alert_reaching(&app, &w.merchant, &again, "timed_out", true).await;
    assert_eq!(
        (&raised["assignee"], &raised["resolved_by"]),
        (&Value::Null, &Value::Null)
    );
    assert_eq!(listed(&app, &w.merchant, &alert).await["open"], false);
}
