//! The provider-notification log: its lines ride a shard's batch (`Writer::commit_batch_with`),
//! are kept once per event id, and never fail the batch they ride.
#![allow(clippy::unwrap_used)]

use miaodan_domain::Timestamp;
use miaodan_store::LoggedNotification;

use crate::support::{Backend, Database};

both_backends!(
    a_notification_line_rides_a_batch_and_a_repeated_event_id_is_kept_once,
    a_provider_text_the_database_cannot_hold_does_not_fail_the_batch,
);

fn line<'a>(id: i64, event_id: &'a str, event_type: &'a str, outcome: &'a str) -> LoggedNotification<'a> {
    LoggedNotification {
        id,
        provider: "simpay",
        event_id,
        event_type,
        reference: "1:2:1",
        received_at: Timestamp::from_unix_ms(1_700_000_000_000),
        outcome,
    }
}

async fn a_notification_line_rides_a_batch_and_a_repeated_event_id_is_kept_once(backend: Backend) {
    let db = Database::fresh(backend).await;
    let store = db.open().await;
    let mut writer = store.writer(0).await.unwrap();
    assert!(!store.notification_logged("simpay", "evt_1").await.unwrap());
    let at = Timestamp::from_unix_ms(1_700_000_000_000);
    // Two deliveries of one event in one batch, and again in the next: one line, the first.
    let rows = vec![
        line(1, "evt_1", "charge.captured", "applied").row(),
        line(2, "evt_1", "charge.captured", "duplicate").row(),
    ];
    writer.commit_batch_with(&[], &[], rows, at).await.unwrap();
    let again = vec![line(3, "evt_1", "charge.captured", "failed").row()];
    writer.commit_batch_with(&[], &[], again, at).await.unwrap();
    assert!(store.notification_logged("simpay", "evt_1").await.unwrap());
    assert!(!store.notification_logged("simpay", "evt_2").await.unwrap());
    assert_eq!(
        store.notification_outcomes().await.unwrap(),
        vec![("applied".to_string(), 1)]
    );
}

async fn a_provider_text_the_database_cannot_hold_does_not_fail_the_batch(backend: Backend) {
    let db = Database::fresh(backend).await;
    let store = db.open().await;
    let mut writer = store.writer(0).await.unwrap();
    let at = Timestamp::from_unix_ms(1_700_000_000_000);
    // PostgreSQL's text holds no NUL: kept as is, the line would fail the whole batch.
    let rows = vec![line(1, "evt\0nul", "charge\0captured", "applied").row()];
    writer.commit_batch_with(&[], &[], rows, at).await.unwrap();
    assert!(store.notification_logged("simpay", "evt\0nul").await.unwrap());
    assert_eq!(
        store.notification_outcomes().await.unwrap(),
        vec![("applied".to_string(), 1)]
    );
}
