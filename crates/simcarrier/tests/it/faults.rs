//! Delivery faults: duplicates, reordering, delays and retries happen when their knobs are on, and
//! never when they are off; every attempt is recorded; the seed makes them reproducible.

use crate::support::{AT_MS, Receiver, config, in_process, settled, shipment_with, transports};
use simcarrier::{Config, DELIVERY_ATTEMPTS_MAX, DeliveryStats, Faults, Scenario, SimCarrierClient, TrackingState};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Issues `count` normal waybills and plays each to delivery: five events each. Returns their numbers.
async fn deliver_normal_parcels(client: &SimCarrierClient, count: usize) -> Vec<String> {
    let mut numbers = Vec::new();
    for n in 0..count {
        let waybill = client
            .create_waybill(shipment_with(Scenario::Normal, &format!("shipment-{n}")))
            .await
            .unwrap();
        client
            .advance(&waybill.waybill_no, TrackingState::Delivered, AT_MS)
            .await
            .unwrap();
        numbers.push(waybill.waybill_no);
    }
    numbers
}

/// The ids `<no>-<n>` for the given n, in that order.
fn ids_of(no: &str, order: &[usize]) -> Vec<String> {
    order.iter().map(|n| format!("{no}-{n}")).collect()
}

#[tokio::test]
async fn with_the_faults_off_every_event_arrives_once_and_in_order() {
    for h in transports(config()).await {
        let receiver = Receiver::spawn().await;
        h.client.set_webhook_url(Some(receiver.url.clone())).await.unwrap();

        let numbers = deliver_normal_parcels(&h.client, 8).await;
        let stats = settled(&h.simcarrier).await;

        let arrivals = receiver.ids_by_waybill();
        for no in &numbers {
            assert_eq!(arrivals[no], ids_of(no, &[1, 2, 3, 4, 5]), "{}", h.transport);
        }
        let expected = DeliveryStats {
            sent: 40,
            delivered: 40,
            duplicates_sent: 0,
            held: 0,
            gave_up: 0,
            pending: 0,
        };
        assert_eq!(stats, expected, "{}", h.transport);
        let attempts = h.client.delivery_attempts().await.unwrap();
        assert_eq!(attempts.len(), 40);
        assert!(attempts.iter().all(
            |attempt| (attempt.copy, attempt.attempt, attempt.status, attempt.acknowledged) == (1, 1, Some(200), true)
        ));
    }
}

#[tokio::test]
async fn the_duplicate_fault_delivers_each_event_twice_with_the_same_id_and_bytes() {
    for h in transports(config()).await {
        let receiver = Receiver::spawn().await;
        h.client.set_webhook_url(Some(receiver.url.clone())).await.unwrap();
        let faults = Faults {
            duplicate_percent: 100,
            ..Faults::default()
        };
        h.client.set_faults(faults).await.unwrap();

        let numbers = deliver_normal_parcels(&h.client, 1).await;
        let stats = settled(&h.simcarrier).await;

        let no = &numbers[0];
        assert_eq!(
            receiver.ids_by_waybill()[no],
            ids_of(no, &[1, 1, 2, 2, 3, 3, 4, 4, 5, 5]),
            "{}",
            h.transport
        );
        let received = receiver.received();
        for pair in received.chunks(2) {
            assert_eq!(pair[0].body, pair[1].body, "both copies are the same bytes");
        }
        assert_eq!((stats.sent, stats.delivered, stats.duplicates_sent), (10, 10, 5));
        let copies: Vec<u8> = h
            .client
            .delivery_attempts()
            .await
            .unwrap()
            .iter()
            .map(|attempt| attempt.copy)
            .collect();
        assert_eq!(copies, [1, 2, 1, 2, 1, 2, 1, 2, 1, 2]);
    }
}

#[tokio::test]
async fn the_reorder_fault_delivers_a_held_event_after_the_waybills_next_one() {
    for h in transports(config()).await {
        let receiver = Receiver::spawn().await;
        h.client.set_webhook_url(Some(receiver.url.clone())).await.unwrap();
        let faults = Faults {
            reorder_percent: 100,
            ..Faults::default()
        };
        h.client.set_faults(faults).await.unwrap();

        let numbers = deliver_normal_parcels(&h.client, 2).await;
        let stats = settled(&h.simcarrier).await;

        // Every event is drawn for holding; one that releases a held event goes in its place. The
        // last one has no next event and goes when its hold runs out.
        let arrivals = receiver.ids_by_waybill();
        for no in &numbers {
            assert_eq!(arrivals[no], ids_of(no, &[2, 1, 4, 3, 5]), "{}", h.transport);
        }
        assert_eq!((stats.held, stats.delivered, stats.duplicates_sent), (6, 10, 0));
    }
}

#[tokio::test]
async fn the_delay_fault_delays_deliveries_but_keeps_each_waybills_order() {
    let receiver = Receiver::spawn().await;
    let h = in_process(Config {
        webhook_url: Some(receiver.url.clone()),
        faults: Faults {
            delay_ms_max: 100,
            ..Faults::default()
        },
        ..config()
    });

    let started = Instant::now();
    let numbers = deliver_normal_parcels(&h.client, 8).await;
    let answered = started.elapsed();
    settled(&h.simcarrier).await;

    assert!(
        answered < Duration::from_millis(50),
        "calls never wait for deliveries: {answered:?}"
    );
    let latest = receiver
        .received()
        .iter()
        .map(|request| request.at - started)
        .max()
        .unwrap();
    assert!(
        latest >= Duration::from_millis(20),
        "the last arrival came after {latest:?}"
    );
    let arrivals = receiver.ids_by_waybill();
    for no in &numbers {
        assert_eq!(arrivals[no], ids_of(no, &[1, 2, 3, 4, 5]));
    }
}

#[tokio::test]
async fn a_receiver_answering_500_gets_the_event_on_a_retry_and_later_events_wait_for_it() {
    for h in transports(config()).await {
        let receiver = Receiver::failing_first(2).await;
        h.client.set_webhook_url(Some(receiver.url.clone())).await.unwrap();
        let waybill = h
            .client
            .create_waybill(shipment_with(Scenario::Normal, "shipment"))
            .await
            .unwrap();
        let no = waybill.waybill_no.as_str();

        h.client.advance(no, TrackingState::Departed, AT_MS).await.unwrap();
        let stats = settled(&h.simcarrier).await;

        let received = receiver.received();
        let seen: Vec<(String, u16)> = received
            .iter()
            .map(|request| (request.event().event_id, request.answered.as_u16()))
            .collect();
        let expected = [
            (format!("{no}-1"), 500),
            (format!("{no}-1"), 500),
            (format!("{no}-1"), 200),
            (format!("{no}-2"), 200),
        ];
        assert_eq!(seen, expected, "{}", h.transport);
        assert!(
            received.iter().all(|request| request.verified.is_ok()),
            "re-signed on every attempt"
        );
        let attempts: Vec<(u32, Option<u16>, bool)> = h
            .client
            .delivery_attempts()
            .await
            .unwrap()
            .iter()
            .map(|attempt| (attempt.attempt, attempt.status, attempt.acknowledged))
            .collect();
        assert_eq!(
            attempts,
            [
                (1, Some(500), false),
                (2, Some(500), false),
                (3, Some(200), true),
                (1, Some(200), true)
            ]
        );
        assert_eq!((stats.sent, stats.delivered, stats.gave_up), (4, 2, 0));
    }
}

#[tokio::test(start_paused = true)]
async fn an_unreachable_receiver_is_retried_then_given_up() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhooks/carrier", closed.local_addr().unwrap());
    drop(closed);
    let h = in_process(Config {
        webhook_url: Some(url),
        ..config()
    });
    let waybill = h
        .client
        .create_waybill(shipment_with(Scenario::Normal, "shipment"))
        .await
        .unwrap();

    h.client
        .advance(&waybill.waybill_no, TrackingState::PickedUp, AT_MS)
        .await
        .unwrap();
    // Virtual time: the whole backoff schedule passes without the test waiting for it.
    let stats = settled(&h.simcarrier).await;

    let expected = DeliveryStats {
        sent: u64::from(DELIVERY_ATTEMPTS_MAX),
        delivered: 0,
        duplicates_sent: 0,
        held: 0,
        gave_up: 1,
        pending: 0,
    };
    assert_eq!(stats, expected);
    let attempts = h.simcarrier.delivery_attempts();
    let numbered: Vec<u32> = attempts.iter().map(|attempt| attempt.attempt).collect();
    assert_eq!(numbered, (1..=DELIVERY_ATTEMPTS_MAX).collect::<Vec<_>>());
    assert!(
        attempts
            .iter()
            .all(|attempt| attempt.status.is_none() && !attempt.acknowledged)
    );
}

#[tokio::test]
async fn the_same_seed_gives_the_same_faults_for_the_same_calls() {
    let faults = Faults {
        duplicate_percent: 30,
        reorder_percent: 30,
        ..Faults::default()
    };
    let mut runs: Vec<(BTreeMap<String, Vec<String>>, DeliveryStats)> = Vec::new();
    for _ in 0..2 {
        let receiver = Receiver::spawn().await;
        let h = in_process(Config {
            webhook_url: Some(receiver.url.clone()),
            faults: faults.clone(),
            ..config()
        });
        deliver_normal_parcels(&h.client, 6).await;
        let stats = settled(&h.simcarrier).await;
        runs.push((receiver.ids_by_waybill(), stats));
    }

    assert_eq!(runs[0], runs[1]);
    let stats = runs[0].1;
    assert!(stats.duplicates_sent > 0 && stats.held > 0, "{stats:?}");
    assert!(stats.duplicates_sent < 30 && stats.held < 30, "{stats:?}");
}
