//! The outbox: each committed effect is an event, numbered without gaps in its shard's
//! sequence, in the same transaction as the effect; superseded effects of one batch are
//! published once; readers keep their place per shard; old events are pruned.
#![allow(clippy::unwrap_used)]

use miaodan_domain::catalog::{Shop, Text};
use miaodan_domain::geo::Adcode;
use miaodan_domain::inventory::{StockLevel, Warehouse};
use miaodan_domain::shard::Effect;
use miaodan_domain::{ShopId, SkuId, Timestamp, WarehouseId};
use miaodan_store::sql::{Statement, Value};

use crate::support::{Backend, Database};

both_backends!(
    every_effect_becomes_an_event_numbered_in_its_shards_sequence,
    a_later_state_of_the_same_stock_row_in_one_batch_is_published_once,
    a_new_writer_continues_the_sequence_where_the_table_ends,
    a_readers_place_moves_with_its_work_in_one_transaction,
    pruning_deletes_only_events_older_than_the_retention,
    pruning_keeps_each_shards_newest_pack_so_its_numbering_goes_on,
    a_batch_of_two_shops_is_numbered_shop_by_shop_and_read_from_any_place,
);

fn at(ms: i64) -> Timestamp {
    Timestamp::from_unix_ms(1_700_000_000_000 + ms)
}

fn shop(id: i64) -> Effect {
    Effect::ShopSaved(Shop {
        id: ShopId::new(id).unwrap(),
        name: Text::from_stored(format!("shop {id}")),
        category: Default::default(),
        created_at: at(0),
    })
}

fn warehouse(shop: i64, id: i64) -> Effect {
    Effect::WarehouseSaved(Warehouse {
        id: WarehouseId::new(id).unwrap(),
        shop: ShopId::new(shop).unwrap(),
        name: Text::from_stored(format!("warehouse {id}")),
        location: Adcode::from_stored(310_101_000_000),
        created_at: at(0),
    })
}

fn stock(shop: i64, sku: i64, warehouse: i64, available: i64) -> Effect {
    Effect::StockChanged {
        shop: ShopId::new(shop).unwrap(),
        sku: SkuId::new(sku).unwrap(),
        warehouse: WarehouseId::new(warehouse).unwrap(),
        level: StockLevel {
            available,
            reserved: 0,
            sold: 0,
        },
    }
}

/// (seq, shop, topic, subject) of every event of `shard`.
async fn events(store: &miaodan_store::Store, shard: u32) -> Vec<(i64, i64, String, i64)> {
    store
        .outbox_after(shard, 0, 1_000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.seq, e.shop.get(), e.topic, e.subject))
        .collect()
}

async fn every_effect_becomes_an_event_numbered_in_its_shards_sequence(backend: Backend) {
    let db = Database::fresh(backend).await;
    let store = db.open().await;
    let mut writer = store.writer(1).await.unwrap();
    writer
        .commit_batch(&[shop(7), warehouse(7, 70)], &[], at(1_000))
        .await
        .unwrap();
    writer
        .commit_batch(&[stock(7, 700, 70, 5)], &[], at(2_000))
        .await
        .unwrap();
    assert_eq!(
        events(&store, 1).await,
        vec![
            (1, 7, "shop.saved".into(), 7),
            (2, 7, "warehouse.saved".into(), 70),
            (3, 7, "stock.changed".into(), 700),
        ]
    );
    let stock_event = &store.outbox_after(1, 2, 10).await.unwrap()[0];
    assert_eq!(stock_event.at, at(2_000));
    let body: serde_json::Value = serde_json::from_str(&stock_event.body).unwrap();
    assert_eq!(body["available"], 5);
    assert_eq!(body["warehouse"], 70);
    assert!(
        events(&store, 0).await.is_empty(),
        "another shard's sequence is its own"
    );
    assert_eq!(store.outbox_heads().await.unwrap(), vec![(1, 3)]);
}

async fn a_batch_of_two_shops_is_numbered_shop_by_shop_and_read_from_any_place(backend: Backend) {
    let db = Database::fresh(backend).await;
    let store = db.open().await;
    let mut writer = store.writer(0).await.unwrap();
    let batch = [
        shop(7),
        shop(8),
        warehouse(7, 70),
        stock(8, 800, 80, 1),
        stock(7, 700, 70, 2),
    ];
    writer.commit_batch(&batch, &[], at(1_000)).await.unwrap();
    writer
        .commit_batch(&[stock(7, 701, 70, 3)], &[], at(2_000))
        .await
        .unwrap();
    // Shop 7's events first (in their effects' order), then shop 8's: one transaction, so no
    // reader could have seen another order.
    assert_eq!(
        events(&store, 0).await,
        vec![
            (1, 7, "shop.saved".into(), 7),
            (2, 7, "warehouse.saved".into(), 70),
            (3, 7, "stock.changed".into(), 700),
            (4, 8, "shop.saved".into(), 8),
            (5, 8, "stock.changed".into(), 800),
            (6, 7, "stock.changed".into(), 701),
        ]
    );
    let seqs = |events: Vec<miaodan_store::StoredEvent>| events.iter().map(|e| e.seq).collect::<Vec<_>>();
    assert_eq!(
        seqs(store.outbox_after(0, 2, 2).await.unwrap()),
        vec![3, 4],
        "from inside a pack, a limit across packs"
    );
    let shop_7 = miaodan_store::EventFilter {
        shop: Some(ShopId::new(7).unwrap()),
        topic: Some(miaodan_store::TopicFilter::Family("stock")),
    };
    assert_eq!(seqs(store.events_after(0, 0, &shop_7, 10).await.unwrap()), vec![3, 6]);
    assert_eq!(seqs(store.events_after(0, 3, &shop_7, 10).await.unwrap()), vec![6]);
    let exact = miaodan_store::EventFilter {
        shop: None,
        topic: Some(miaodan_store::TopicFilter::Exact("shop.saved".into())),
    };
    assert_eq!(seqs(store.events_after(0, 0, &exact, 10).await.unwrap()), vec![1, 4]);
    assert_eq!(store.outbox_heads().await.unwrap(), vec![(0, 6)]);
    assert_eq!(
        store.prune_outbox(at(1_500)).await.unwrap(),
        5,
        "both packs of the first batch"
    );
    assert_eq!(seqs(store.outbox_after(0, 0, 10).await.unwrap()), vec![6]);
}

async fn a_later_state_of_the_same_stock_row_in_one_batch_is_published_once(backend: Backend) {
    let db = Database::fresh(backend).await;
    let store = db.open().await;
    let mut writer = store.writer(0).await.unwrap();
    let batch = [
        stock(7, 700, 70, 5),
        stock(7, 701, 70, 9),
        stock(7, 700, 70, 4),
        stock(7, 700, 70, 3),
    ];
    writer.commit_batch(&batch, &[], at(1_000)).await.unwrap();
    let stored = store.outbox_after(0, 0, 10).await.unwrap();
    let published: Vec<(i64, i64, i64)> = stored
        .iter()
        .map(|e| {
            let body: serde_json::Value = serde_json::from_str(&e.body).unwrap();
            (e.seq, e.subject, body["available"].as_i64().unwrap())
        })
        .collect();
    assert_eq!(published, vec![(1, 701, 9), (2, 700, 3)]);
}

async fn a_new_writer_continues_the_sequence_where_the_table_ends(backend: Backend) {
    let db = Database::fresh(backend).await;
    let store = db.open().await;
    store
        .writer(0)
        .await
        .unwrap()
        .commit_batch(&[shop(4), shop(8)], &[], at(1_000))
        .await
        .unwrap();
    drop(store);
    let store = db.open().await;
    store
        .writer(0)
        .await
        .unwrap()
        .commit_batch(&[shop(12)], &[], at(2_000))
        .await
        .unwrap();
    let seqs: Vec<(i64, i64)> = events(&store, 0).await.into_iter().map(|e| (e.0, e.3)).collect();
    assert_eq!(seqs, vec![(1, 4), (2, 8), (3, 12)]);
}

async fn a_readers_place_moves_with_its_work_in_one_transaction(backend: Backend) {
    let db = Database::fresh(backend).await;
    let store = db.open().await;
    assert!(store.outbox_cursor("compass").await.unwrap().is_empty());
    store.advance_outbox_cursor("compass", 0, 5, vec![]).await.unwrap();
    store.advance_outbox_cursor("compass", 1, 2, vec![]).await.unwrap();
    store.advance_outbox_cursor("compass", 0, 9, vec![]).await.unwrap();
    assert_eq!(store.outbox_cursor("compass").await.unwrap(), vec![(0, 9), (1, 2)]);
    // Work that fails takes the cursor's move with it.
    let failing = Statement::new("INSERT INTO no_such_table (x) VALUES ($1)", vec![Value::I64(1)]);
    assert!(
        store
            .advance_outbox_cursor("compass", 0, 20, vec![failing])
            .await
            .is_err()
    );
    assert_eq!(store.outbox_cursor("compass").await.unwrap(), vec![(0, 9), (1, 2)]);
    assert!(store.outbox_cursor("webhooks").await.unwrap().is_empty());
}

async fn pruning_deletes_only_events_older_than_the_retention(backend: Backend) {
    let db = Database::fresh(backend).await;
    let store = db.open().await;
    let mut writer = store.writer(0).await.unwrap();
    for (n, ms) in [(1, 1_000), (2, 2_000), (3, 3_000)] {
        writer.commit_batch(&[shop(n)], &[], at(ms)).await.unwrap();
    }
    assert_eq!(store.prune_outbox(at(2_500)).await.unwrap(), 2);
    assert_eq!(events(&store, 0).await, vec![(3, 3, "shop.saved".into(), 3)]);
    assert_eq!(store.prune_outbox(at(2_500)).await.unwrap(), 0);
    writer.commit_batch(&[shop(4)], &[], at(4_000)).await.unwrap();
    assert_eq!(store.outbox_heads().await.unwrap(), vec![(0, 4)]);
}

async fn pruning_keeps_each_shards_newest_pack_so_its_numbering_goes_on(backend: Backend) {
    let db = Database::fresh(backend).await;
    let store = db.open().await;
    let mut writer = store.writer(0).await.unwrap();
    for (n, ms) in [(1, 1_000), (2, 2_000)] {
        writer.commit_batch(&[shop(n)], &[], at(ms)).await.unwrap();
    }
    drop(writer);
    // A database left idle past the retention: everything is old, the newest pack stays.
    assert_eq!(store.prune_outbox(at(1_000_000)).await.unwrap(), 1);
    assert_eq!(events(&store, 0).await, vec![(2, 2, "shop.saved".into(), 2)]);
    let mut writer = store.writer(0).await.unwrap();
    writer.commit_batch(&[shop(3)], &[], at(1_000_001)).await.unwrap();
    assert_eq!(
        store.outbox_heads().await.unwrap(),
        vec![(0, 3)],
        "numbered on, not from 1"
    );
}
