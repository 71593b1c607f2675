//! Stored answers of Idempotency-Keys: purged past their retention, a slice at a time; read again
//! after a mark (what a member taking a shard learns).
#![allow(clippy::unwrap_used)]

use miaodan_domain::Timestamp;
use miaodan_store::records::IdempotencyRecord;

use crate::support::{Backend, Database};

both_backends!(
    purging_forgets_only_answers_older_than_the_cutoff_across_several_slices,
    the_keys_stored_after_a_mark_are_read_again_whatever_their_stamps,
);

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
/// 5 000 new. The purge deletes the old ones slice by slice and keeps the new one among them.
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

/// The keys stored after a mark (on PostgreSQL, by a transaction after it) are read again, whatever
/// their stamps: a commit that lands late with an old stamp is among them. Which keys stored before
/// the mark are left out depends on the other transactions running on the server at the mark, so
/// only the keys after it are checked. SQLite has no mark: every key is read.
async fn the_keys_stored_after_a_mark_are_read_again_whatever_their_stamps(backend: Backend) {
    let db = Database::fresh(backend).await;
    let store = db.open().await;
    let mut writer = store.writer(0).await.unwrap();
    let before: Vec<IdempotencyRecord> = (1..=100).map(|id| answer(id, at(10_000))).collect();
    writer.commit_batch(&[], &before, at(10_000)).await.unwrap();
    let mark = store.stored_keys_mark().await.unwrap();
    assert_eq!(mark.is_some(), backend == Backend::Postgres);
    let late: Vec<IdempotencyRecord> = (101..=200).map(|id| answer(id, at(0))).collect();
    writer.commit_batch(&[], &late, at(10_000)).await.unwrap();
    let read: std::collections::BTreeSet<i64> = store
        .idempotency_keys_after(mark.unwrap_or(0))
        .await
        .unwrap()
        .into_iter()
        .map(|(id, _, _)| id)
        .collect();
    for id in 101..=200 {
        assert!(read.contains(&id), "key {id}, stored after the mark, was not read");
    }
    if mark.is_none() {
        assert_eq!(read.len(), 200);
    }
    // A later mark moves on: the keys stored after it are read again too.
    let later = store.stored_keys_mark().await.unwrap();
    assert!(later >= mark, "{later:?} < {mark:?}");
    let last = [answer(201, at(0))];
    writer.commit_batch(&[], &last, at(10_000)).await.unwrap();
    let read = store.idempotency_keys_after(later.unwrap_or(0)).await.unwrap();
    assert!(read.iter().any(|(id, _, _)| *id == 201));
}

/// The case the mark is for: a transaction that stored a key before the mark was taken, but
/// committed only after a read that could not see it. The next read after that mark finds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_committed_after_the_read_by_a_transaction_begun_before_the_mark_is_read_after_it() {
    if crate::support::skip_postgres() {
        return;
    }
    let db = Database::fresh(Backend::Postgres).await;
    let store = db.open().await;
    let (late, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    late.batch_execute(
        "BEGIN; INSERT INTO idempotency_responses \
           (id, scope, idempotency_key, request_sha256, status, body, created_at) \
         VALUES (7, 'buyer:1', 'slow', 'x', 201, '{}', 0)",
    )
    .await
    .unwrap();
    let mark = store.stored_keys_mark().await.unwrap().expect("a mark on PostgreSQL");
    let read = store.idempotency_keys().await.unwrap();
    assert!(read.is_empty(), "{read:?}: the key is not committed yet");
    late.batch_execute("COMMIT").await.unwrap();
    let after = store.idempotency_keys_after(mark).await.unwrap();
    assert!(after.iter().any(|(id, _, key)| *id == 7 && key == "slow"), "{after:?}");
    // A mark past every transaction that stored a key (the next one to start) leaves them out:
    // the read is not of every key.
    let next: i64 = late
        .query_one("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint", &[])
        .await
        .unwrap()
        .get(0);
    let none = store.idempotency_keys_after(next).await.unwrap();
    assert!(none.is_empty(), "{none:?}");
    // A mark ahead of the database (one restored to an earlier point) reads every key.
    let ahead = store.idempotency_keys_after(next + 1_000_000).await.unwrap();
    assert!(ahead.iter().any(|(id, _, _)| *id == 7), "{ahead:?}");
}
