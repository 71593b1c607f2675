//! Shard leases with fencing: a commit under a lease another process took writes nothing, and a
//! lease is taken from a live holder only by the platform's one process, never by a member.
//! Times are the database's clock.
#![allow(clippy::unwrap_used)]

use miaodan_domain::Timestamp;
use miaodan_store::StoreError;
use miaodan_store::cluster::Taking;
use miaodan_store::records::IdempotencyRecord;
use std::time::Duration;

use crate::support::{Backend, Database};

both_backends!(
    a_writer_whose_lease_was_taken_commits_nothing,
    the_platforms_own_writes_are_fenced_like_the_shards_commits,
    an_outbox_readers_writes_are_fenced_by_shard_zeros_lease,
    a_member_takes_only_leases_given_back_or_expired,
    members_hold_shards_apart_each_under_its_own_epochs,
    members_register_refresh_and_leave,
    a_member_whose_process_is_gone_has_its_live_leases_taken,
    every_process_on_a_database_reads_the_secret_the_first_drew,
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
        .take_leases(1, &[0, 1], 10_000, Taking::Whatever)
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
        .take_leases(2, &[0, 1], 10_000, Taking::Whatever)
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
    assert_eq!((held[0].owner, held[0].epoch), (2, 2));
    assert!(held[0].expires_in_ms > 0 && held[0].expires_in_ms <= 10_000, "{held:?}");
}

/// A store holding shard 0's lease writes (a token's last use: a platform write) while it holds
/// it, and is refused once another process took the lease.
async fn the_platforms_own_writes_are_fenced_like_the_shards_commits(backend: Backend) {
    let db = Database::fresh(backend).await;
    let serving = db.open().await;
    let other = db.open().await;
    let a = serving
        .take_leases(1, &[0], 10_000, Taking::Whatever)
        .await
        .unwrap()
        .unwrap();
    serving.hold(a[0]);
    let used = [(9, Timestamp::from_unix_ms(1_700_000_000_000))];
    serving.record_token_use(&used).await.unwrap();
    other
        .take_leases(2, &[0], 10_000, Taking::Whatever)
        .await
        .unwrap()
        .unwrap();
    let fenced = serving.record_token_use(&used).await;
    assert!(matches!(fenced, Err(StoreError::Fenced(_))), "{fenced:?}");
    // A store that holds no lease (a tool's) writes as before.
    other.record_token_use(&used).await.unwrap();
}

/// A member holding shards 0 and 1, its writes under shard 1's lease and its outbox readers'
/// under shard 0's too: once another member took shard 0, a reader's pass (figures and cursor)
/// is refused and writes nothing, while its other writes go on.
async fn an_outbox_readers_writes_are_fenced_by_shard_zeros_lease(backend: Backend) {
    let db = Database::fresh(backend).await;
    let member = db.open().await;
    let other = db.open().await;
    let held = member
        .take_leases(1, &[0, 1], 10_000, Taking::Whatever)
        .await
        .unwrap()
        .unwrap();
    member.hold(held[1]);
    member.hold_for_readers(held[0]);
    member.advance_outbox_cursor("compass", 0, 5, vec![]).await.unwrap();
    member.give_back_lease(held[0]).await.unwrap();
    other
        .take_leases(2, &[0], 10_000, Taking::Expired)
        .await
        .unwrap()
        .expect("given back");
    let fenced = member.advance_outbox_cursor("compass", 0, 9, vec![]).await;
    assert!(matches!(fenced, Err(StoreError::Fenced(_))), "{fenced:?}");
    assert_eq!(
        member.outbox_cursor("compass").await.unwrap(),
        [(0, 5)],
        "nothing written"
    );
    let used = [(9, Timestamp::from_unix_ms(1_700_000_000_000))];
    member.record_token_use(&used).await.unwrap();
}

/// Two members hold shards apart, each lease under its own epoch; a third member takes none of
/// theirs while they live, and one given back is taken alone, its epoch raised, the others left.
async fn members_hold_shards_apart_each_under_its_own_epochs(backend: Backend) {
    let db = Database::fresh(backend).await;
    let store = db.open().await;
    let even = store.take_leases(1, &[2, 0], 60_000, Taking::Expired).await.unwrap();
    let even = even.expect("nobody held them");
    assert_eq!(
        even.iter().map(|l| (l.shard, l.owner)).collect::<Vec<_>>(),
        [(2, 1), (0, 1)],
        "in the order asked"
    );
    let odd = store.take_leases(2, &[1, 3], 60_000, Taking::Expired).await.unwrap();
    assert!(odd.is_some(), "shards apart: both members hold theirs");
    assert_eq!(store.take_leases(3, &[3], 60_000, Taking::Expired).await.unwrap(), None);
    assert_eq!(
        store.take_leases(3, &[0, 4], 60_000, Taking::Expired).await.unwrap(),
        None
    );
    store.give_back_lease(even[0]).await.unwrap();
    let taken = store.take_leases(3, &[2], 60_000, Taking::Expired).await.unwrap();
    assert_eq!(taken.expect("given back").first().map(|l| l.epoch), Some(2));
    let held = store.shard_leases().await.unwrap();
    assert_eq!(
        held.iter().map(|l| (l.shard, l.owner, l.epoch)).collect::<Vec<_>>(),
        [(0, 1, 1), (1, 2, 1), (2, 3, 2), (3, 2, 1), (4, 0, 0)],
        "shard 4's row was made by the refused taking, never taken"
    );
}

async fn a_member_takes_only_leases_given_back_or_expired(backend: Backend) {
    let db = Database::fresh(backend).await;
    let store = db.open().await;
    let a = store.take_leases(1, &[0, 1], 60_000, Taking::Expired).await.unwrap();
    let a = a.expect("nobody held them");
    // Live for a minute: a member cannot take them, not even one of them.
    assert_eq!(
        store.take_leases(2, &[0, 1], 60_000, Taking::Expired).await.unwrap(),
        None
    );
    let held = store.shard_leases().await.unwrap();
    assert!(held.iter().all(|l| l.owner == 1 && l.epoch == 1), "{held:?}");
    assert!(held.iter().all(|l| l.expires_in_ms > 50_000), "{held:?}");
    // One given back is free at once, but shard 0 still lives.
    store.give_back_lease(a[1]).await.unwrap();
    assert_eq!(
        store.take_leases(2, &[0, 1], 60_000, Taking::Expired).await.unwrap(),
        None
    );
    // Renewed for a millisecond, shard 0's lease expires: both are taken, epochs raised.
    store.renew_lease(a[0], 1).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let taken = store.take_leases(2, &[0, 1], 60_000, Taking::Expired).await.unwrap();
    let taken = taken.expect("expired and given back");
    assert_eq!(
        taken.iter().map(|l| (l.owner, l.epoch)).collect::<Vec<_>>(),
        [(2, 2), (2, 2)]
    );
}

async fn members_register_refresh_and_leave(backend: Backend) {
    let db = Database::fresh(backend).await;
    let store = db.open().await;
    store
        .heartbeat(1, "http://127.0.0.1:8001", "standby", "wire-a")
        .await
        .unwrap();
    store
        .heartbeat(2, "http://127.0.0.1:8002", "standby", "wire-b")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(60)).await;
    store
        .heartbeat(1, "http://127.0.0.1:8001", "leader", "wire-a")
        .await
        .unwrap();
    let members = store.members().await.unwrap();
    let seen: Vec<(i64, &str, &str, &str)> = members
        .iter()
        .map(|m| (m.id, &*m.address, &*m.role, &*m.wire))
        .collect();
    assert_eq!(
        seen,
        [
            (1, "http://127.0.0.1:8001", "leader", "wire-a"),
            (2, "http://127.0.0.1:8002", "standby", "wire-b")
        ]
    );
    assert!(members[0].heartbeat_age_ms < members[1].heartbeat_age_ms, "{members:?}");
    assert!(members[1].heartbeat_age_ms >= 50, "{members:?}");
    // Member 2 has been silent for 50 ms and more: forgotten. Then member 1 leaves, and only
    // it: member 3, which beat a moment ago, stays.
    store.forget_silent_members(40).await.unwrap();
    assert_eq!(
        store.members().await.unwrap().iter().map(|m| m.id).collect::<Vec<_>>(),
        [1]
    );
    store
        .heartbeat(3, "http://127.0.0.1:8003", "standby", "wire-a")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    store.forget_member(1).await.unwrap();
    assert_eq!(
        store.members().await.unwrap().iter().map(|m| m.id).collect::<Vec<_>>(),
        [3]
    );
    store.forget_member(3).await.unwrap();
    assert_eq!(store.members().await.unwrap(), []);
}

/// Member 1 holds the leases for a minute and its sign of life: it is not gone while that is
/// held, and is as soon as it is let go (its connection closed, as when its process is killed);
/// member 2 then takes its leases, a minute early, naming it. SQLite serves one process: nobody
/// is ever gone there.
async fn a_member_whose_process_is_gone_has_its_live_leases_taken(backend: Backend) {
    let db = Database::fresh(backend).await;
    let (first, second) = (db.open().await, db.open().await);
    first
        .take_leases(1, &[0, 1], 60_000, Taking::Expired)
        .await
        .unwrap()
        .unwrap();
    let liveness = first.hold_liveness(1).await.unwrap().expect("nobody else holds it");
    if backend == Backend::Postgres {
        assert!(second.hold_liveness(1).await.unwrap().is_none(), "one session holds it");
    }
    assert!(!second.member_gone(1).await.unwrap(), "member 1 holds its sign of life");
    drop(liveness);
    if backend == Backend::Sqlite {
        assert!(!second.member_gone(1).await.unwrap());
        return;
    }
    let mut gone = false;
    for _ in 0..50 {
        gone = second.member_gone(1).await.unwrap();
        if gone {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "member 1's sign of life outlived its connection");
    assert!(
        second
            .take_leases(2, &[0, 1], 60_000, Taking::ExpiredOrFrom(3))
            .await
            .unwrap()
            .is_none(),
        "the leases of a member not named gone stay"
    );
    let taken = second
        .take_leases(2, &[0, 1], 60_000, Taking::ExpiredOrFrom(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.iter().map(|l| l.epoch).collect::<Vec<_>>(), [2, 2]);
}

/// The first process to ask draws the members' secret; every later one, on another connection,
/// reads that same secret whatever it drew.
async fn every_process_on_a_database_reads_the_secret_the_first_drew(backend: Backend) {
    let db = Database::fresh(backend).await;
    let (first, second) = (db.open().await, db.open().await);
    assert_eq!(first.member_secret("drawn-first").await.unwrap(), "drawn-first");
    assert_eq!(second.member_secret("drawn-second").await.unwrap(), "drawn-first");
    assert_eq!(first.member_secret("drawn-again").await.unwrap(), "drawn-first");
}
