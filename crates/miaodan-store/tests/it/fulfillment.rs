//! Fulfillment through the store, on SQLite and on PostgreSQL: what a batch writes (warehouse
//! settings, dispatch decisions with the allocations they move, booked capacity, promises) is
//! what a starting shard and the read functions get back, the batch's last word per key wins,
//! and a version-2 database migrates without losing its orders.
//!
//! PostgreSQL tests need `MIAODAN_TEST_POSTGRES_URL` (set by `scripts/test`, which starts a
//! server). Without it they fail, unless `MIAODAN_SKIP_POSTGRES=1` says to skip them.
#![allow(clippy::unwrap_used)]

use miaodan_domain::catalog::{Shop, Text};
use miaodan_domain::fulfillment::{
    Candidate, CarrierId, DispatchDecision, FulfillmentSettings, ParcelPlan, Promise, ServiceLevel,
};
use miaodan_domain::geo::Adcode;
use miaodan_domain::inventory::{Allocation, Warehouse};
use miaodan_domain::orders::{Address, Order, OrderLine, OrderState};
use miaodan_domain::payments::PaymentIntentId;
use miaodan_domain::shard::{Effect, Fulfilling, ShardHorizons, ShardSnapshot};
use miaodan_domain::{BuyerId, CheckoutId, Fen, OrderId, Quantity, ShopId, SkuId, Timestamp, WarehouseId};
use miaodan_store::Store;

const HOUR_MS: i64 = 3_600_000;
/// 2026-11-23 00:00 in Asia/Shanghai.
const TODAY_MS: i64 = 1_795_363_200_000;

use crate::support::{Backend, Database};

both_backends!(
    configured_settings_reload_and_the_last_in_a_batch_wins,
    booked_capacity_keeps_the_latest_count_per_hour_and_reloads_from_the_given_hour,
    a_dispatched_order_reloads_with_its_decision_moved_lines_and_promise,
    an_order_placed_paid_and_dispatched_in_one_batch_is_written_whole,
    a_redispatch_replaces_the_decision_and_the_allocations,
    shipped_orders_stay_fulfilling_and_delivered_ones_do_not,
    a_version_2_database_gains_the_promise_column_and_keeps_its_orders,
);

// ---- fixtures -------------------------------------------------------------------------------

fn at(ms: i64) -> Timestamp {
    Timestamp::from_unix_ms(ms)
}

fn hour(n: i64) -> Timestamp {
    at(TODAY_MS + n * HOUR_MS)
}

fn shop_id(raw: i64) -> ShopId {
    ShopId::new(raw).unwrap()
}

fn warehouse_id(raw: i64) -> WarehouseId {
    WarehouseId::new(raw).unwrap()
}

fn order_id(raw: i64) -> OrderId {
    OrderId::new(raw).unwrap()
}

fn sku_id(raw: i64) -> SkuId {
    SkuId::new(raw).unwrap()
}

/// Shop `shop` with warehouses 10·shop and 10·shop + 1.
fn shop_with_warehouses(shop: i64) -> Vec<Effect> {
    let mut effects = vec![Effect::ShopSaved(Shop {
        id: shop_id(shop),
        name: Text::from_stored(format!("shop {shop}")),
        category: Default::default(),
        created_at: at(TODAY_MS),
    })];
    for warehouse in [10 * shop, 10 * shop + 1] {
        effects.push(Effect::WarehouseSaved(Warehouse {
            id: warehouse_id(warehouse),
            shop: shop_id(shop),
            name: Text::from_stored(format!("warehouse {warehouse}")),
            location: Adcode::from_stored(310_101_000_000),
            created_at: at(TODAY_MS),
        }));
    }
    effects
}

fn allocations(at_warehouses: &[(i64, i64)]) -> Vec<Allocation> {
    at_warehouses
        .iter()
        .map(|&(warehouse, quantity)| Allocation {
            warehouse: warehouse_id(warehouse),
            quantity,
        })
        .collect()
}

/// An unpaid order of two lines (3 units of SKU 7, 1 of SKU 8), all reserved at warehouse 10·shop.
fn pending_order(id: i64, shop: i64, promise: Option<Promise>) -> Order {
    let line = |sku: i64, quantity: i64| OrderLine {
        sku: sku_id(sku),
        quantity: Quantity::new(quantity).unwrap(),
        unit_price: Fen::from_stored(1_000).unwrap(),
        allocations: allocations(&[(10 * shop, quantity)]),
    };
    Order {
        id: order_id(id),
        checkout: CheckoutId::new(id).unwrap(),
        shop: shop_id(shop),
        buyer: BuyerId::new(1).unwrap(),
        lines: vec![line(7, 3), line(8, 1)],
        total: Fen::from_stored(4_000 + promise.map_or(0, |p| p.price.get())).unwrap(),
        address: Address {
            adcode: Adcode::from_stored(310_104_000_000),
            detail: Text::from_stored("1 Caoxi Road".into()),
        },
        state: OrderState::PendingPayment,
        version: 1,
        created_at: hour(9),
        payment_due_at: hour(10),
        paid_at: None,
        paid_by: None,
        cancelled_at: None,
        cancel_reason: None,
        flash_sale: None,
        promise,
    }
}

fn promise() -> Promise {
    Promise {
        level: ServiceLevel::SameDay,
        carrier: CarrierId::Sf,
        window_starts_at: Some(hour(19)),
        promised_by: hour(21),
        price: Fen::from_stored(1_200).unwrap(),
    }
}

fn paid(mut order: Order) -> Order {
    order.state = OrderState::Paid;
    order.version += 1;
    order.paid_at = Some(hour(9).plus_seconds(60));
    order.paid_by = Some(PaymentIntentId::new(order.id.get()).unwrap());
    order
}

fn moved_to(mut order: Order, lines: &[&[(i64, i64)]]) -> Order {
    for (line, to) in order.lines.iter_mut().zip(lines) {
        line.allocations = allocations(to);
    }
    order
}

fn transitioned(mut order: Order, state: OrderState) -> Order {
    order.state = state;
    order.version += 1;
    order
}

/// A decision that ships each (warehouse, [(sku, units)]) as one parcel, in the given hour.
fn decision(
    decided_at: Timestamp,
    slot: Timestamp,
    parcels: &[(i64, &[(i64, i64)])],
    reason: &str,
) -> DispatchDecision {
    DispatchDecision {
        decided_at,
        parcels: parcels
            .iter()
            .map(|&(warehouse, lines)| ParcelPlan {
                warehouse: warehouse_id(warehouse),
                lines: lines.iter().map(|&(sku, units)| (sku_id(sku), units)).collect(),
                slot_hour: slot,
                level: ServiceLevel::SameDay,
                carrier: CarrierId::Sf,
                pickup_at: slot.plus_seconds(3_600),
                estimated_by: slot.plus_seconds(6 * 3_600),
                keeps_promise: true,
            })
            .collect(),
        candidates: vec![Candidate {
            warehouse: warehouse_id(parcels[0].0),
            distance_km: 12,
            holds_every_line: parcels.len() == 1,
            has_capacity: true,
            keeps_promise: true,
            would_deliver_by: Some(slot.plus_seconds(6 * 3_600)),
            headroom: 499,
            rank: 1,
            chosen: true,
        }],
        split: parcels.len() > 1,
        promise_kept: true,
        reason: reason.into(),
    }
}

fn settings(orders_per_hour: u32) -> FulfillmentSettings {
    FulfillmentSettings {
        orders_per_hour,
        ..FulfillmentSettings::standard()
    }
}

async fn commit(store: &Store, effects: Vec<Effect>) {
    let mut writer = store.writer(0).await.unwrap();
    writer
        .commit_batch(
            &effects,
            &[],
            miaodan_domain::Timestamp::from_unix_ms(1_700_000_000_000),
        )
        .await
        .unwrap();
}

/// Shard `index` of `count`, as a shard starting today would load it.
async fn load(store: &Store, index: u32, count: u32) -> ShardSnapshot {
    store
        .load_shard(
            index,
            count,
            ShardHorizons {
                capacity_since: at(TODAY_MS),
                ..ShardHorizons::at(at(0))
            },
        )
        .await
        .unwrap()
}

// ---- tests ------------------------------------------------------------------------------------

async fn configured_settings_reload_and_the_last_in_a_batch_wins(backend: Backend) {
    let db = Database::fresh(backend).await;
    let store = db.open().await;
    let mut effects = shop_with_warehouses(1);
    effects.extend(shop_with_warehouses(2));
    for (shop, warehouse, per_hour) in [(1, 10, 100), (2, 20, 50), (1, 10, 120)] {
        effects.push(Effect::FulfillmentConfigured {
            shop: shop_id(shop),
            warehouse: warehouse_id(warehouse),
            settings: settings(per_hour),
        });
    }
    commit(&store, effects).await;

    assert_eq!(
        store.fulfillment_settings(warehouse_id(10)).await.unwrap(),
        Some(settings(120))
    );
    assert_eq!(store.fulfillment_settings(warehouse_id(11)).await.unwrap(), None);
    assert_eq!(
        load(&store, 0, 1).await.warehouse_settings,
        vec![(warehouse_id(10), settings(120)), (warehouse_id(20), settings(50))]
    );
    // Shard membership is the shop's: shop 1 is shard 1 of 2, shop 2 is shard 0.
    assert_eq!(
        load(&store, 1, 2).await.warehouse_settings,
        vec![(warehouse_id(10), settings(120))]
    );
    assert_eq!(
        load(&store, 0, 2).await.warehouse_settings,
        vec![(warehouse_id(20), settings(50))]
    );

    commit(
        &store,
        vec![Effect::FulfillmentConfigured {
            shop: shop_id(1),
            warehouse: warehouse_id(10),
            settings: settings(80),
        }],
    )
    .await;
    assert_eq!(
        store.fulfillment_settings(warehouse_id(10)).await.unwrap(),
        Some(settings(80))
    );
}

async fn booked_capacity_keeps_the_latest_count_per_hour_and_reloads_from_the_given_hour(backend: Backend) {
    let db = Database::fresh(backend).await;
    let store = db.open().await;
    let booked = |warehouse: i64, hour: Timestamp, orders: u32| Effect::CapacityBooked {
        shop: shop_id(warehouse / 10),
        warehouse: warehouse_id(warehouse),
        hour,
        orders,
    };
    let mut effects = shop_with_warehouses(1);
    effects.extend(shop_with_warehouses(2));
    effects.extend([
        booked(10, self::hour(-1), 40),
        booked(10, self::hour(9), 1),
        booked(10, self::hour(9), 2),
        booked(10, self::hour(10), 1),
        booked(20, self::hour(9), 5),
    ]);
    commit(&store, effects).await;

    assert_eq!(
        store.capacity_of(warehouse_id(10), hour(-24), hour(24)).await.unwrap(),
        vec![(hour(-1), 40), (hour(9), 2), (hour(10), 1)]
    );
    // `[from, to)`: the hour starting at `to` is not in it.
    assert_eq!(
        store.capacity_of(warehouse_id(10), hour(9), hour(10)).await.unwrap(),
        vec![(hour(9), 2)]
    );
    assert_eq!(
        load(&store, 0, 1).await.capacity,
        vec![
            (warehouse_id(10), hour(9), 2),
            (warehouse_id(10), hour(10), 1),
            (warehouse_id(20), hour(9), 5),
        ]
    );
    assert_eq!(
        load(&store, 1, 2).await.capacity,
        vec![(warehouse_id(10), hour(9), 2), (warehouse_id(10), hour(10), 1)]
    );

    // A count is absolute: a later batch replaces it, it does not add to it.
    commit(&store, vec![booked(10, hour(9), 3)]).await;
    assert_eq!(
        store.capacity_of(warehouse_id(10), hour(9), hour(10)).await.unwrap(),
        vec![(hour(9), 3)]
    );
}

async fn a_dispatched_order_reloads_with_its_decision_moved_lines_and_promise(backend: Backend) {
    let db = Database::fresh(backend).await;
    let store = db.open().await;
    let order = pending_order(100, 1, Some(promise()));
    let mut effects = shop_with_warehouses(1);
    effects.push(Effect::OrderCreated {
        order: order.clone(),
        request: None,
    });
    commit(&store, effects).await;
    assert_eq!(store.order(order.id).await.unwrap(), Some(order.clone()));
    assert_eq!(load(&store, 0, 1).await.open_orders, vec![order.clone()]);
    assert_eq!(store.dispatch_of(order.id).await.unwrap(), None);

    // Paid; the first line's units move: 2 to warehouse 11, 1 stays at 10.
    let order = moved_to(paid(order), &[&[(11, 2), (10, 1)], &[(10, 1)]]);
    let decided = decision(
        hour(9),
        hour(10),
        &[(11, &[(7, 2)]), (10, &[(7, 1), (8, 1)])],
        "split: no warehouse holds the cart",
    );
    commit(
        &store,
        vec![
            Effect::OrderTransitioned(order.clone()),
            Effect::OrderDispatched {
                order: order.clone(),
                decision: decided.clone(),
            },
        ],
    )
    .await;

    assert_eq!(store.order(order.id).await.unwrap(), Some(order.clone()));
    assert_eq!(
        store.dispatch_of(order.id).await.unwrap(),
        Some((shop_id(1), decided.clone()))
    );
    let snapshot = load(&store, 0, 1).await;
    assert_eq!(snapshot.open_orders, vec![]);
    assert_eq!(
        snapshot.fulfilling,
        vec![Fulfilling {
            order: order.clone(),
            decision: decided.clone(),
        }]
    );
    assert_eq!(load(&store, 0, 2).await.fulfilling, vec![]);
    assert_eq!(load(&store, 1, 2).await.fulfilling.len(), 1);
}

async fn an_order_placed_paid_and_dispatched_in_one_batch_is_written_whole(backend: Backend) {
    let db = Database::fresh(backend).await;
    let store = db.open().await;
    let placed = pending_order(100, 1, None);
    let order = moved_to(paid(placed.clone()), &[&[(11, 3)], &[(11, 1)]]);
    let decided = decision(
        hour(9),
        hour(9),
        &[(11, &[(7, 3), (8, 1)])],
        "nearest warehouse holding the cart",
    );
    let mut effects = shop_with_warehouses(1);
    effects.extend([
        Effect::OrderCreated {
            order: placed,
            request: None,
        },
        Effect::OrderTransitioned(order.clone()),
        Effect::OrderDispatched {
            order: order.clone(),
            decision: decided.clone(),
        },
        Effect::CapacityBooked {
            shop: shop_id(1),
            warehouse: warehouse_id(11),
            hour: hour(9),
            orders: 1,
        },
    ]);
    commit(&store, effects).await;

    assert_eq!(store.order(order.id).await.unwrap(), Some(order.clone()));
    let snapshot = load(&store, 0, 1).await;
    assert_eq!(
        snapshot.fulfilling,
        vec![Fulfilling {
            order,
            decision: decided,
        }]
    );
    assert_eq!(snapshot.capacity, vec![(warehouse_id(11), hour(9), 1)]);
}

async fn a_redispatch_replaces_the_decision_and_the_allocations(backend: Backend) {
    let db = Database::fresh(backend).await;
    let store = db.open().await;
    let placed = pending_order(100, 1, Some(promise()));
    let first = paid(placed.clone());
    let first_decision = decision(hour(9), hour(9), &[(10, &[(7, 3), (8, 1)])], "first");
    let mut effects = shop_with_warehouses(1);
    effects.extend([
        Effect::OrderCreated {
            order: placed,
            request: None,
        },
        Effect::OrderTransitioned(first.clone()),
        Effect::OrderDispatched {
            order: first.clone(),
            decision: first_decision,
        },
    ]);
    commit(&store, effects).await;

    // A shortage at warehouse 10 moves everything to 11, then (same batch) SKU 8 back to 10.
    let second = moved_to(first.clone(), &[&[(11, 3)], &[(11, 1)]]);
    let third = moved_to(first, &[&[(11, 3)], &[(10, 1)]]);
    let third_decision = decision(hour(10), hour(11), &[(11, &[(7, 3)]), (10, &[(8, 1)])], "third");
    commit(
        &store,
        vec![
            Effect::OrderDispatched {
                order: second.clone(),
                decision: decision(hour(10), hour(10), &[(11, &[(7, 3), (8, 1)])], "second"),
            },
            Effect::OrderDispatched {
                order: third.clone(),
                decision: third_decision.clone(),
            },
        ],
    )
    .await;

    assert_eq!(store.order(third.id).await.unwrap(), Some(third.clone()));
    assert_eq!(
        store.dispatch_of(third.id).await.unwrap(),
        Some((shop_id(1), third_decision.clone()))
    );
    assert_eq!(
        load(&store, 0, 1).await.fulfilling,
        vec![Fulfilling {
            order: third,
            decision: third_decision,
        }]
    );
}

async fn shipped_orders_stay_fulfilling_and_delivered_ones_do_not(backend: Backend) {
    let db = Database::fresh(backend).await;
    let store = db.open().await;
    let mut effects = shop_with_warehouses(1);
    let mut dispatched = Vec::new();
    for id in [100, 101] {
        let placed = pending_order(id, 1, None);
        let order = paid(placed.clone());
        let decided = decision(hour(9), hour(9), &[(10, &[(7, 3), (8, 1)])], "nearest");
        effects.extend([
            Effect::OrderCreated {
                order: placed,
                request: None,
            },
            Effect::OrderTransitioned(order.clone()),
            Effect::OrderDispatched {
                order: order.clone(),
                decision: decided.clone(),
            },
        ]);
        dispatched.push((order, decided));
    }
    // Paid before dispatch existed: no decision, so not on its way as far as a shard knows.
    let legacy = paid(pending_order(102, 1, None));
    effects.push(Effect::OrderCreated {
        order: legacy.clone(),
        request: None,
    });
    commit(&store, effects).await;

    let shipped = transitioned(dispatched[0].0.clone(), OrderState::Shipped);
    let delivered = transitioned(
        transitioned(dispatched[1].0.clone(), OrderState::Shipped),
        OrderState::Delivered,
    );
    commit(
        &store,
        vec![
            Effect::OrderTransitioned(shipped.clone()),
            Effect::OrderTransitioned(delivered.clone()),
        ],
    )
    .await;

    assert_eq!(store.order(shipped.id).await.unwrap(), Some(shipped.clone()));
    assert_eq!(store.order(delivered.id).await.unwrap(), Some(delivered.clone()));
    assert_eq!(
        load(&store, 0, 1).await.fulfilling,
        vec![Fulfilling {
            order: shipped,
            decision: dispatched[0].1.clone(),
        }]
    );
    // Units of shipped and delivered orders stay sold: the audit counts them as paid for.
    assert_eq!(store.audit_stock().await.unwrap().units_in_paid_orders, 3 * 4);
    let by_state = store.order_counts_by_state().await.unwrap();
    assert_eq!(
        by_state,
        vec![
            ("delivered".to_string(), 1),
            ("paid".to_string(), 1),
            ("shipped".to_string(), 1)
        ]
    );
}

async fn a_version_2_database_gains_the_promise_column_and_keeps_its_orders(backend: Backend) {
    let db = Database::fresh(backend).await;
    let store = db.open().await;
    let old = paid(pending_order(100, 1, None));
    let mut effects = shop_with_warehouses(1);
    effects.push(Effect::OrderCreated {
        order: old.clone(),
        request: None,
    });
    commit(&store, effects).await;
    drop(store);
    // What version 2 had: no promise column, no fulfillment tables or index (and none of the
    // token lifecycle of version 4, nor the alert work columns of version 18, nor the columns
    // risk's decisions gained in versions 22 and 25, nor when a request settled, version 27, nor
    // a member's wire shape, version 30, nor an order line's shop, version 31).
    db.execute(
        "ALTER TABLE order_lines DROP COLUMN shop_id;
         ALTER TABLE cluster_members DROP COLUMN wire;
         ALTER TABLE after_sales_requests DROP COLUMN settled_at_ms;
         DROP INDEX risk_decisions_by_kind;
         ALTER TABLE risk_decisions DROP COLUMN kind;
         ALTER TABLE risk_decisions DROP COLUMN subject_id;
         ALTER TABLE risk_decisions DROP COLUMN stepped_up;
         DROP INDEX package_alerts_open_by_shop;
         ALTER TABLE package_alerts DROP COLUMN alert_level;
         ALTER TABLE package_alerts DROP COLUMN assignee_staff_id;
         ALTER TABLE package_alerts DROP COLUMN acknowledged_at;
         DROP TABLE diagnosis_reports;
         DROP INDEX shops_by_category;
         ALTER TABLE shops DROP COLUMN category;
         ALTER TABLE products DROP COLUMN goods_class;
         DROP INDEX api_tokens_by_revocation;
         DROP INDEX api_tokens_by_subject;
         DROP TABLE token_revocation_counter;
         ALTER TABLE api_tokens DROP COLUMN expires_at;
         ALTER TABLE api_tokens DROP COLUMN last_used_at;
         ALTER TABLE api_tokens DROP COLUMN scope;
         ALTER TABLE api_tokens DROP COLUMN revocation;
         ALTER TABLE orders DROP COLUMN promise_json;
         DROP INDEX orders_fulfilling;
         DROP INDEX orders_cancelled;
         DROP INDEX order_lines_by_sku;
         DROP TABLE warehouse_fulfillment;
         DROP TABLE order_dispatches;
         DROP TABLE warehouse_capacity;
         UPDATE schema_version SET version = 2;",
    )
    .await;
    if backend == Backend::Postgres {
        // Dropping the shop took the key it widened with it.
        db.execute("ALTER TABLE order_lines ADD PRIMARY KEY (order_id, line_no)")
            .await;
    }
    assert_eq!(db.schema_version().await, 2);

    let store = db.open().await;
    assert_eq!(db.schema_version().await, crate::migrations::current_version());
    assert_eq!(store.order(old.id).await.unwrap(), Some(old.clone()));
    assert_eq!(load(&store, 0, 1).await.fulfilling, vec![]);

    let placed = pending_order(101, 1, Some(promise()));
    let order = paid(placed.clone());
    let decided = decision(hour(9), hour(9), &[(10, &[(7, 3), (8, 1)])], "nearest");
    commit(
        &store,
        vec![
            Effect::OrderCreated {
                order: placed,
                request: None,
            },
            Effect::OrderTransitioned(order.clone()),
            Effect::OrderDispatched {
                order: order.clone(),
                decision: decided.clone(),
            },
            Effect::CapacityBooked {
                shop: shop_id(1),
                warehouse: warehouse_id(10),
                hour: hour(9),
                orders: 1,
            },
        ],
    )
    .await;
    assert_eq!(store.order(order.id).await.unwrap(), Some(order.clone()));
    let snapshot = load(&store, 0, 1).await;
    assert_eq!(
        snapshot.fulfilling,
        vec![Fulfilling {
            order,
            decision: decided
        }]
    );
    assert_eq!(snapshot.capacity, vec![(warehouse_id(10), hour(9), 1)]);
    drop(store);
    // Opening a current database again changes nothing.
    let store = db.open().await;
    assert_eq!(db.schema_version().await, crate::migrations::current_version());
    assert_eq!(store.order(old.id).await.unwrap(), Some(old));
}
