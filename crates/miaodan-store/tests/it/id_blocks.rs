//! Ids reserved in blocks: processes sharing a database never get one id twice, and a process
//! starting raises the blocks above every id stored, never lowers them.
#![allow(clippy::unwrap_used)]

use miaodan_store::id_blocks::IdKind;

use crate::support::{Backend, Database};

both_backends!(
    processes_reserving_at_once_never_get_the_same_id,
    aligning_raises_the_blocks_above_stored_ids_and_never_lowers_them,
);

/// Two stores on one database (two processes), each reserving blocks of orders and checkouts
/// side by side: every id is handed out once, and each kind counts on from 1.
async fn processes_reserving_at_once_never_get_the_same_id(backend: Backend) {
    let db = Database::fresh(backend).await;
    let (a, b) = (db.open().await, db.open().await);
    let reserve = |store: miaodan_store::Store| async move {
        let mut ids = Vec::new();
        for round in 0..20_i64 {
            let kind = if round % 2 == 0 {
                IdKind::Order
            } else {
                IdKind::Checkout
            };
            let size = 1 + round % 7;
            let first = store.reserve_ids(kind, size).await.unwrap();
            ids.extend((first..first + size).map(|id| (kind.as_str(), id)));
        }
        ids
    };
    let (from_a, from_b) = tokio::join!(tokio::spawn(reserve(a)), tokio::spawn(reserve(b)));
    let mut all: Vec<_> = from_a.unwrap().into_iter().chain(from_b.unwrap()).collect();
    let handed_out = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), handed_out, "an id was handed out twice");
    for kind in [IdKind::Order, IdKind::Checkout] {
        let ids: Vec<i64> = all
            .iter()
            .filter(|(k, _)| *k == kind.as_str())
            .map(|(_, id)| *id)
            .collect();
        assert_eq!(
            ids,
            (1..=ids.len() as i64).collect::<Vec<_>>(),
            "{kind:?} has a gap or a reuse"
        );
    }
    let store = db.open().await;
    assert!(store.reserve_ids(IdKind::Order, 0).await.is_err(), "an empty block");
}

/// Rows written without a reservation (an older build, an import) push the blocks above them;
/// a block already above the stored ids stays where it is.
async fn aligning_raises_the_blocks_above_stored_ids_and_never_lowers_them(backend: Backend) {
    let db = Database::fresh(backend).await;
    let store = db.open().await;
    db.execute("INSERT INTO shops (id, name, created_at) VALUES (41, 'imported', 1700000000000);")
        .await;
    // A stored answer too: members sharing a database take answer ids from blocks like the rest.
    db.execute(
        "INSERT INTO idempotency_responses (id, scope, idempotency_key, request_sha256, status, body, created_at)
         VALUES (70, 'buyer:1', 'k', 'x', 201, '{}', 1700000000000);",
    )
    .await;
    // A webhook endpoint and one of its deliveries, with ids apart, so a swap shows.
    db.execute(
        "INSERT INTO webhook_endpoints (id, shop_id, url, topics, secret, enabled, created_at_ms)
           VALUES (80, 41, 'https://example.com/hook', '[]', 'whsec', 1, 1700000000000);
         INSERT INTO webhook_deliveries (id, endpoint_id, shop_id, shard, seq, at_ms, topic, family, subject, body,
             state, attempts, next_attempt_at_ms)
           VALUES (90, 80, 41, 0, 1, 1700000000000, 'order.placed', 'order', 1, '{}', 'pending', 0, 1700000000000);",
    )
    .await;
    assert_eq!(store.reserve_ids(IdKind::Shop, 1).await.unwrap(), 1, "not aligned yet");
    store.align_id_blocks().await.unwrap();
    assert_eq!(store.reserve_ids(IdKind::Shop, 1).await.unwrap(), 42);
    assert_eq!(store.reserve_ids(IdKind::IdempotencyResponse, 1).await.unwrap(), 71);
    assert_eq!(store.reserve_ids(IdKind::WebhookEndpoint, 1).await.unwrap(), 81);
    assert_eq!(store.reserve_ids(IdKind::WebhookDelivery, 1).await.unwrap(), 91);
    let first_staff = store.reserve_ids(IdKind::StaffMember, 100).await.unwrap();
    store.align_id_blocks().await.unwrap();
    assert_eq!(
        store.reserve_ids(IdKind::Shop, 1).await.unwrap(),
        43,
        "aligning again lowers nothing"
    );
    assert_eq!(
        store.reserve_ids(IdKind::StaffMember, 1).await.unwrap(),
        first_staff + 100
    );
}
