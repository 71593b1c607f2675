//! Shard leases with fencing: a commit under a lease another process took writes nothing, and a
//! lease is taken from a live holder only by the platform's one process, never by a member.
#![allow(clippy::unwrap_used)]

use miaodan_domain::Timestamp;
use miaodan_store::StoreError;
use miaodan_store::cluster::{Member, Taking};
use miaodan_store::records::IdempotencyRecord;

use crate::support::{Backend, Database};

both_backends!(
    a_writer_whose_lease_was_taken_commits_nothing,
    a_member_takes_only_leases_given_back_or_expired,
    members_register_refresh_and_leave,
);

fn answer(id: i64) -> IdempotencyRecord {
    IdempotencyRecord {
        id,
        scope: "buyer:1".into(),
        key: format!("key-{id}"),
        request_sha256: "0".repeat(64),
        status: 201,
        body: "{}".into(),
        created_at: Timestamp::from_unix_ms(1_700_000_000_000),
    }
}

/// Process A holds shard 0 and commits; B (the platform's new only process) takes the lease;
/// A's next commit is refused as fenced and writes nothing, B's commits.
async fn a_writer_whose_lease_was_taken_commits_nothing(backend: Backend) {
    let db = Database::fresh(backend).await;
    let store = db.open().await;
    let at = Timestamp::from_unix_ms(1_700_000_000_000);
    let a = store
        .take_leases(1, 2, 10_000, Taking::Whatever)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        a.iter().map(|l| (l.shard, l.epoch)).collect::<Vec<_>>(),
        [(0, 1), (1, 1)]
    );
    let mut a_writer = store.writer(0).await.unwrap().holding(a[0]);
    a_writer.commit_batch(&[], &[answer(1)], at).await.unwrap();

    let b = store
        .take_leases(2, 2, 10_000, Taking::Whatever)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b[0].epoch, 2, "a taking raises the epoch");
    let fenced = a_writer.commit_batch(&[], &[answer(2)], at).await;
    assert!(matches!(fenced, Err(StoreError::Fenced(_))), "{fenced:?}");
    let mut b_writer = store.writer(0).await.unwrap().holding(b[0]);
    b_writer.commit_batch(&[], &[answer(3)], at).await.unwrap();

    let mut ids: Vec<i64> = store
        .idempotency_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.0)
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, [1, 3], "the fenced commit wrote nothing");
    // A renewal of the lost lease is fenced too; giving it back leaves B's lease alone.
    assert!(matches!(
        store.renew_lease(a[0], 20_000).await,
        Err(StoreError::Fenced(_))
    ));
    store.give_back_lease(a[0]).await.unwrap();
    let held = store.shard_leases().await.unwrap();
    assert_eq!((held[0].owner, held[0].epoch, held[0].expires_at_ms), (2, 2, 10_000));
}

async fn a_member_takes_only_leases_given_back_or_expired(backend: Backend) {
    let db = Database::fresh(backend).await;
    let store = db.open().await;
    let a = store
        .take_leases(1, 2, 10_000, Taking::Expired { now_ms: 5_000 })
        .await
        .unwrap();
    let a = a.expect("nobody held them");
    // Live until 10 000: a member cannot take them, not even one of them.
    let early = store
        .take_leases(2, 2, 20_000, Taking::Expired { now_ms: 9_999 })
        .await
        .unwrap();
    assert_eq!(early, None);
    let held = store.shard_leases().await.unwrap();
    assert!(held.iter().all(|l| l.owner == 1 && l.epoch == 1), "{held:?}");
    // A renewed lease lives on; one given back is free at once.
    store.renew_lease(a[0], 30_000).await.unwrap();
    store.give_back_lease(a[1]).await.unwrap();
    let partly = store
        .take_leases(2, 2, 40_000, Taking::Expired { now_ms: 20_000 })
        .await
        .unwrap();
    assert_eq!(partly, None, "shard 0 is still A's");
    let taken = store
        .take_leases(2, 2, 40_000, Taking::Expired { now_ms: 30_000 })
        .await
        .unwrap();
    let taken = taken.expect("expired and given back");
    assert_eq!(
        taken.iter().map(|l| (l.owner, l.epoch)).collect::<Vec<_>>(),
        [(2, 2), (2, 2)]
    );
}

async fn members_register_refresh_and_leave(backend: Backend) {
    let db = Database::fresh(backend).await;
    let store = db.open().await;
    let member = |id: i64, role: &str, heartbeat_at_ms: i64| Member {
        id,
        address: format!("http://127.0.0.1:{}", 8000 + id),
        role: role.into(),
        started_at_ms: id,
        heartbeat_at_ms,
    };
    store.heartbeat(&member(1, "standby", 100)).await.unwrap();
    store.heartbeat(&member(2, "standby", 100)).await.unwrap();
    store.heartbeat(&member(1, "leader", 900)).await.unwrap();
    assert_eq!(
        store.members().await.unwrap(),
        [member(1, "leader", 900), member(2, "standby", 100)]
    );
    // Member 2 went silent at 100: forgotten with a cutoff after it; member 1 leaves.
    store.forget_members(None, 500).await.unwrap();
    assert_eq!(store.members().await.unwrap(), [member(1, "leader", 900)]);
    store.forget_members(Some(1), 0).await.unwrap();
    assert_eq!(store.members().await.unwrap(), []);
}
