//! Stored answers of Idempotency-Keys: purged past their retention, a slice at a time.
#![allow(clippy::unwrap_used)]

use miaodan_domain::Timestamp;
use miaodan_store::records::IdempotencyRecord;

use crate::support::{Backend, Database};

both_backends!(purging_forgets_only_answers_older_than_the_cutoff_across_several_slices,);

fn at(ms: i64) -> Timestamp {
    Timestamp::from_unix_ms(1_700_000_000_000 + ms)
}

fn answer(id: i64, created_at: Timestamp) -> IdempotencyRecord {
    IdempotencyRecord {
        id,
        scope: format!("buyer:{}", id % 7),
        key: format!("key-{id}"),
        request_sha256: "0".repeat(64),
        status: 201,
        body: "{}".into(),
        created_at,
    }
}

/// 25 000 answers, two and a half slices: the first 20 000 old but one in their midst, then
/// 5 000 new. The keys stored since the new ones' time are theirs alone; the purge deletes the
/// old ones slice by slice and keeps the new one among them.
async fn purging_forgets_only_answers_older_than_the_cutoff_across_several_slices(backend: Backend) {
    let db = Database::fresh(backend).await;
    let store = db.open().await;
    let mut writer = store.writer(0).await.unwrap();
    let answers: Vec<IdempotencyRecord> = (1..=25_000)
        .map(|id| {
            let new = id == 15_000 || id > 20_000;
            answer(id, if new { at(10_000) } else { at(0) })
        })
        .collect();
    for batch in answers.chunks(5_000) {
        writer.commit_batch(&[], batch, at(10_000)).await.unwrap();
    }
    // Read before the purge, while the old ones are still there.
    let mut since: Vec<i64> = store
        .idempotency_keys_since(at(10_000))
        .await
        .unwrap()
        .into_iter()
        .map(|(id, _, _)| id)
        .collect();
    since.sort_unstable();
    let newer: Vec<i64> = std::iter::once(15_000).chain(20_001..=25_000).collect();
    assert_eq!(since, newer);
    assert!(store.idempotency_keys_since(at(10_001)).await.unwrap().is_empty());
    store.purge_idempotency_records(at(5_000)).await.unwrap();
    let mut kept: Vec<i64> = store
        .idempotency_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|(id, _, _)| id)
        .collect();
    kept.sort_unstable();
    let expected: Vec<i64> = std::iter::once(15_000).chain(20_001..=25_000).collect();
    assert_eq!(kept, expected);
    // Nothing older is left to purge; purging again changes nothing.
    store.purge_idempotency_records(at(5_000)).await.unwrap();
    assert_eq!(store.idempotency_keys().await.unwrap().len(), expected.len());
}
