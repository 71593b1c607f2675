//! The JSON columns on disk, on SQLite and on PostgreSQL: the store writes each one exactly as
//! the release before versioned storage types did (`tests/fixtures/stored-json-v1`, captured
//! from that release), what that release wrote loads back as the same domain values, and a
//! document the domain's constructors would refuse, or of a version this build does not know,
//! is reported as corrupt instead of loading.
#![allow(clippy::unwrap_used)]

pub(crate) mod samples;

use crate::support::{Backend, Database};
use miaodan_domain::catalog::Text;
use miaodan_domain::geo::Adcode;
use miaodan_domain::logistics::Alert;
use miaodan_domain::orders::{Address, Order, OrderState};
use miaodan_domain::shard::ShortageNotice;
use miaodan_domain::shard::{Effect, ShardHorizons};
use miaodan_domain::{BuyerId, CheckoutId, Fen, OrderId, ShopId, Timestamp, WarehouseId};
use miaodan_store::records::{AlertFilter, AlertKinds, AlertWorkFilter, Keyset};
use miaodan_store::{PackageCenterEntry, Store, StoreError};
use std::collections::BTreeMap;

both_backends!(
    the_store_writes_each_json_column_exactly_as_the_release_before_did,
    json_written_by_the_release_before_loads_as_the_same_values,
    json_holding_values_the_domain_refuses_does_not_load,
    a_document_of_a_later_version_is_refused_not_misread,
);

fn fixture(name: &str) -> Vec<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/stored-json-v1")
        .join(format!("{name}.jsonl"));
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn quoted(json: &str) -> String {
    format!("'{}'", json.replace('\'', "''"))
}

fn order(id: i64, shop: ShopId) -> Order {
    Order {
        id: OrderId::new(id).unwrap(),
        checkout: CheckoutId::new(id).unwrap(),
        shop,
        buyer: BuyerId::new(1).unwrap(),
        lines: vec![],
        total: Fen::from_stored(100).unwrap(),
        address: Address {
            adcode: Adcode::from_stored(310_104_000_000),
            detail: Text::from_stored("1 Caoxi Road".into()),
        },
        state: OrderState::PendingPayment,
        version: 1,
        created_at: Timestamp::from_unix_ms(1_000),
        payment_due_at: Timestamp::from_unix_ms(2_000),
        paid_at: None,
        paid_by: None,
        cancelled_at: None,
        cancel_reason: None,
        flash_sale: None,
        promise: None,
    }
}

fn shop(raw: i64) -> ShopId {
    ShopId::new(raw).unwrap()
}

fn warehouse(raw: i64) -> WarehouseId {
    WarehouseId::new(raw).unwrap()
}

/// The first text column of every row `sql` answers.
async fn column(db: &Database, sql: &str) -> Vec<String> {
    db.texts(sql)
        .await
        .into_iter()
        .map(|row| row[0].clone().unwrap())
        .collect()
}

async fn the_store_writes_each_json_column_exactly_as_the_release_before_did(backend: Backend) {
    let db = Database::fresh(backend).await;
    let store = db.open().await;
    let mut effects = Vec::new();
    for (i, promise) in samples::promises().into_iter().enumerate() {
        let mut placed = order(1 + i as i64, shop(1));
        placed.promise = Some(promise);
        effects.push(Effect::OrderCreated {
            order: placed,
            request: None,
        });
    }
    for (i, decision) in samples::dispatch_decisions().into_iter().enumerate() {
        effects.push(Effect::OrderDispatched {
            order: order(11 + i as i64, shop(1)),
            decision,
        });
    }
    for (i, settings) in samples::fulfillment_settings().into_iter().enumerate() {
        effects.push(Effect::FulfillmentConfigured {
            shop: shop(1),
            warehouse: warehouse(10 + i as i64),
            settings,
        });
    }
    effects.extend(samples::shipments().into_iter().map(Effect::ShipmentSaved));
    effects.extend(samples::alerts().into_iter().map(Effect::AlertSaved));
    effects.extend(samples::shortage_notices().into_iter().map(Effect::ShortageNoticed));
    for (i, rules) in samples::sla_rules().into_iter().enumerate() {
        effects.push(Effect::SlaRulesSaved {
            shop: shop(1 + i as i64),
            rules,
        });
    }
    store
        .writer(0)
        .await
        .unwrap()
        .commit_batch(
            &effects,
            &[],
            miaodan_domain::Timestamp::from_unix_ms(1_700_000_000_000),
        )
        .await
        .unwrap();

    assert_eq!(
        column(&db, "SELECT promise_json FROM orders ORDER BY id").await,
        fixture("promise")
    );
    assert_eq!(
        column(&db, "SELECT decision_json FROM order_dispatches ORDER BY order_id").await,
        fixture("dispatch_decision")
    );
    assert_eq!(
        column(
            &db,
            "SELECT settings_json FROM warehouse_fulfillment ORDER BY warehouse_id"
        )
        .await,
        fixture("fulfillment_settings")
    );
    assert_eq!(
        column(&db, "SELECT body FROM shipments ORDER BY id").await,
        fixture("shipment")
    );
    let alerts: BTreeMap<String, String> = db
        .texts("SELECT alert_key, body FROM package_alerts")
        .await
        .into_iter()
        .map(|row| (row[0].clone().unwrap(), row[1].clone().unwrap()))
        .collect();
    let in_sample_order: Vec<String> = samples::alerts()
        .iter()
        .map(|a| alerts[&a.key.to_string()].clone())
        .collect();
    assert_eq!(in_sample_order, fixture("alert"));
    assert_eq!(
        column(&db, "SELECT body FROM shortage_notices ORDER BY order_id").await,
        fixture("shortage_notice")
    );
    assert_eq!(
        column(&db, "SELECT body FROM sla_rules ORDER BY shop_id").await,
        fixture("sla_rules")
    );
}

async fn json_written_by_the_release_before_loads_as_the_same_values(backend: Backend) {
    let db = Database::fresh(backend).await;
    let store = db.open().await;
    let mut sql = String::new();
    for (i, json) in fixture("promise").iter().enumerate() {
        sql += &format!(
            "INSERT INTO orders (id, checkout_id, shop_id, buyer_id, state, version, total_fen, adcode, address_detail,
             created_at, payment_due_at, promise_json)
             VALUES ({id}, {id}, 1, 1, 'pending_payment', 1, 100, 310104000000, '1 Caoxi Road', 1000, 2000, {json});",
            id = 1 + i,
            json = quoted(json)
        );
    }
    for (i, json) in fixture("dispatch_decision").iter().enumerate() {
        sql += &format!(
            "INSERT INTO order_dispatches (order_id, shop_id, decided_at, decision_json) VALUES ({}, 1, 0, {});",
            11 + i,
            quoted(json)
        );
    }
    for (i, json) in fixture("fulfillment_settings").iter().enumerate() {
        sql += &format!(
            "INSERT INTO warehouse_fulfillment (warehouse_id, shop_id, settings_json) VALUES ({}, 1, {});",
            10 + i,
            quoted(json)
        );
    }
    for (shipment, json) in samples::shipments().iter().zip(fixture("shipment")) {
        sql += &format!(
            "INSERT INTO shipments (id, shop_id, order_id, warehouse_id, carrier, waybill, state, created_at, version,
             body) VALUES ({}, {}, {}, {}, '{}', '{}', '{}', 0, 0, {});",
            shipment.id.get(),
            shipment.shop.get(),
            shipment.order.get(),
            shipment.warehouse.get(),
            shipment.carrier.as_str(),
            shipment.waybill.as_str(),
            shipment.state.as_str(),
            quoted(&json)
        );
    }
    for (alert, json) in samples::alerts().iter().zip(fixture("alert")) {
        sql += &format!(
            "INSERT INTO package_alerts (alert_key, shop_id, order_id, shipment_id, rule, is_open, raised_at, body)
             VALUES ('{}', {}, {}, {}, '{}', 1, {}, {});",
            alert.key,
            alert.shop.get(),
            alert.order.get(),
            alert.shipment.get(),
            alert.rule.as_str(),
            alert.raised_at.unix_ms(),
            quoted(&json)
        );
    }
    for (notice, json) in samples::shortage_notices().iter().zip(fixture("shortage_notice")) {
        sql += &format!(
            "INSERT INTO shortage_notices (shop_id, order_id, warehouse_id, sku_id, noticed_at, body)
             VALUES ({}, {}, {}, {}, {}, {});",
            notice.shop.get(),
            notice.order.get(),
            notice.warehouse.get(),
            notice.sku.get(),
            notice.at.unix_ms(),
            quoted(&json)
        );
    }
    for (i, json) in fixture("sla_rules").iter().enumerate() {
        sql += &format!(
            "INSERT INTO sla_rules (shop_id, body) VALUES ({}, {});",
            1 + i,
            quoted(json)
        );
    }
    db.execute(&sql).await;

    for (i, promise) in samples::promises().into_iter().enumerate() {
        let loaded = store.order(OrderId::new(1 + i as i64).unwrap()).await.unwrap().unwrap();
        assert_eq!(loaded.promise, Some(promise));
    }
    for (i, decision) in samples::dispatch_decisions().into_iter().enumerate() {
        let order = OrderId::new(11 + i as i64).unwrap();
        assert_eq!(store.dispatch_of(order).await.unwrap(), Some((shop(1), decision)));
    }
    for (i, settings) in samples::fulfillment_settings().into_iter().enumerate() {
        let loaded = store.fulfillment_settings(warehouse(10 + i as i64)).await.unwrap();
        assert_eq!(loaded, Some(settings));
    }
    for shipment in samples::shipments() {
        assert_eq!(store.shipment(shipment.id).await.unwrap(), Some(shipment));
    }
    let (mut alerts, mut notices) = package_center(&store, shop(1), false).await.unwrap();
    alerts.sort_by_key(|a| a.key);
    let mut expected = samples::alerts();
    expected.sort_by_key(|a| a.key);
    assert_eq!(alerts, expected);
    notices.reverse();
    assert_eq!(notices, samples::shortage_notices());
    let mut rules = load(&store).await;
    rules.sort_by_key(|(shop, _)| *shop);
    let expected: Vec<_> = samples::sla_rules()
        .into_iter()
        .enumerate()
        .map(|(i, rules)| (shop(1 + i as i64), rules))
        .collect();
    assert_eq!(rules, expected);
}

async fn load(store: &Store) -> Vec<(ShopId, miaodan_domain::logistics::SlaRules)> {
    let at = Timestamp::from_unix_ms(0);
    store.load_shard(0, 1, ShardHorizons::at(at)).await.unwrap().sla_rules
}

/// Today's first sample of `name`, with `from` replaced by `to` (once, and it must occur).
fn altered(name: &str, from: &str, to: &str) -> String {
    let json = fixture(name).swap_remove(0);
    assert!(json.contains(from), "{from} is not in {json}");
    json.replacen(from, to, 1)
}

fn is_corrupt<T: std::fmt::Debug>(result: Result<T, miaodan_store::StoreError>) -> bool {
    matches!(result, Err(miaodan_store::StoreError::Corrupt(_)))
}

async fn json_holding_values_the_domain_refuses_does_not_load(backend: Backend) {
    let db = Database::fresh(backend).await;
    let store = db.open().await;
    let shipments = [
        (1, altered("shipment", r#""id":1,"#, r#""id":0,"#)),
        (2, altered("shipment", r#""order":100"#, r#""order":-100"#)),
        (
            3,
            altered("shipment", r#""waybill":"SF1234567890""#, r#""waybill":"SF 1""#),
        ),
        (4, altered("shipment", r#""state":"created""#, r#""state":"lost""#)),
        (5, altered("shipment", r#""carrier":"sf""#, r#""carrier":"ems""#)),
    ];
    let mut sql = String::new();
    for (id, json) in &shipments {
        sql += &format!(
            "INSERT INTO shipments (id, shop_id, order_id, warehouse_id, carrier, waybill, state, created_at, version,
             body) VALUES ({id}, 1, 100, 10, 'sf', 'SF1234567890', 'created', 0, 0, {});",
            quoted(json)
        );
    }
    let decision = altered(
        "dispatch_decision",
        r#"{"warehouse":10,"lines":[[7,3]"#,
        r#"{"warehouse":10,"lines":[[0,3]"#,
    );
    sql += &format!(
        "INSERT INTO order_dispatches (order_id, shop_id, decided_at, decision_json) VALUES (11, 1, 0, {});",
        quoted(&decision)
    );
    let promise = altered("promise", r#""price":1200"#, r#""price":-1200"#);
    sql += &format!(
        "INSERT INTO orders (id, checkout_id, shop_id, buyer_id, state, version, total_fen, adcode, address_detail,
         created_at, payment_due_at, promise_json)
         VALUES (1, 1, 1, 1, 'pending_payment', 1, 100, 310104000000, '1 Caoxi Road', 1000, 2000, {});",
        quoted(&promise)
    );
    let alert = altered("alert", r#""shop":1,"#, r#""shop":0,"#);
    sql += &format!(
        "INSERT INTO package_alerts (alert_key, shop_id, order_id, shipment_id, rule, is_open, raised_at, body)
         VALUES ('1-not_picked_up-1', 1, 101, 1, 'not_picked_up', 1, 0, {});",
        quoted(&alert)
    );
    let notice = altered("shortage_notice", r#""redispatched_to":[]"#, r#""redispatched_to":[0]"#);
    sql += &format!(
        "INSERT INTO shortage_notices (shop_id, order_id, warehouse_id, sku_id, noticed_at, body)
         VALUES (1, 100, 10, 7, 0, {});",
        quoted(&notice)
    );
    db.execute(&sql).await;

    for (id, json) in &shipments {
        let id = miaodan_domain::ids::ShipmentId::new(*id).unwrap();
        assert!(is_corrupt(store.shipment(id).await), "{json} loaded");
    }
    assert!(is_corrupt(store.dispatch_of(OrderId::new(11).unwrap()).await));
    assert!(is_corrupt(store.order(OrderId::new(1).unwrap()).await));
    assert!(is_corrupt(package_center(&store, shop(1), false).await));
}

/// A shop's package center, every entry of it: its SLA alerts and its shortage notices, each
/// newest first (`open_only`: open SLA alerts only).
pub async fn package_center(
    store: &Store,
    shop: ShopId,
    open_only: bool,
) -> Result<(Vec<Alert>, Vec<ShortageNotice>), StoreError> {
    let filter = AlertFilter {
        shop,
        open_only,
        kinds: AlertKinds::All,
        level: None,
        work: AlertWorkFilter::default(),
    };
    let page = Keyset {
        after: None,
        limit: 1_000,
    };
    let (mut alerts, mut notices) = (Vec::new(), Vec::new());
    for entry in store.package_center(&filter, page).await? {
        match entry {
            PackageCenterEntry::Sla(alert) => alerts.push(alert),
            PackageCenterEntry::Shortage(notice) => notices.push(notice),
        }
    }
    Ok((alerts, notices))
}

async fn a_document_of_a_later_version_is_refused_not_misread(backend: Backend) {
    let db = Database::fresh(backend).await;
    let store = db.open().await;
    // A later release writes `"v": 2` (and perhaps a different layout); this build must not
    // read it as version 1, even where the rest of the document would parse.
    let settings = fixture("fulfillment_settings")
        .swap_remove(0)
        .replacen('{', r#"{"v":2,"#, 1);
    let rules = fixture("sla_rules").swap_remove(0).replacen('{', r#"{"v":1,"#, 1);
    db.execute(&format!(
        "INSERT INTO warehouse_fulfillment (warehouse_id, shop_id, settings_json) VALUES (10, 1, {});
         INSERT INTO sla_rules (shop_id, body) VALUES (1, {});",
        quoted(&settings),
        quoted(&rules)
    ))
    .await;
    assert!(is_corrupt(store.fulfillment_settings(warehouse(10)).await));
    // An explicit version 1 is version 1.
    db.execute("DELETE FROM warehouse_fulfillment").await;
    assert_eq!(load(&store).await, vec![(shop(1), samples::sla_rules().swap_remove(0))]);
}
