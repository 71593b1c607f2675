//! Webhooks: every event arrives, signed, possibly late, out of order, twice, or after retries.

use crate::support::{Receiver, SECRET, config, hold, now_s, refund, sale, wait_until_deliveries_settle};
use simpay::signature::{TOLERANCE_SECONDS_DEFAULT, verify};
use simpay::{
    ChargeStatus, Config, DELIVERY_ATTEMPTS_MAX, DeliveryStats, Event, EventData, EventType, Faults, RefundStatus,
    SimPay,
};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

fn with_webhook(receiver: &Receiver, faults: Faults) -> SimPay {
    SimPay::new(Config {
        webhook_url: Some(receiver.url.clone()),
        faults,
        ..config()
    })
}

/// Calls that make one event of every type.
async fn make_every_kind_of_event(simpay: &SimPay, orders: usize) {
    for n in 0..orders {
        let reference = format!("order-{n}");
        simpay.authorize(hold(&reference, 10_000)).await.unwrap();
        simpay.capture(&reference, Some(8_000)).await.unwrap();
        simpay
            .refund(refund(&format!("refund-{n}"), &reference, 3_000))
            .await
            .unwrap();
        simpay
            .refund(refund(&format!("refund-{n}-over"), &reference, 6_000))
            .await
            .unwrap();
        simpay.authorize(hold(&format!("voided-{n}"), 100)).await.unwrap();
        simpay.void(&format!("voided-{n}")).await.unwrap();
        let declined = simpay::AuthorizeRequest {
            credential: simpay::credentials::FRAUD.to_string(),
            ..sale(&format!("declined-{n}"), 100)
        };
        simpay.authorize(declined).await.unwrap();
    }
}

#[tokio::test]
async fn every_event_arrives_signed_late_out_of_order_and_twice_with_the_same_id() {
    let receiver = Receiver::spawn(0, Duration::ZERO).await;
    let faults = Faults {
        duplicate_percent: 100,
        max_notify_delay_ms: 300,
        ..Faults::default()
    };
    let simpay = with_webhook(&receiver, faults);

    make_every_kind_of_event(&simpay, 3).await;
    let stats = wait_until_deliveries_settle(&simpay).await;

    let events = simpay.events();
    let count = u64::try_from(events.len()).unwrap();
    assert_eq!(count, 21);
    let expected = DeliveryStats {
        sent: 2 * count,
        delivered: 2 * count,
        duplicates_sent: count,
        gave_up: 0,
        pending: 0,
    };
    assert_eq!(stats, expected);

    let received = receiver.received();
    let mut copies: BTreeMap<String, Vec<&[u8]>> = BTreeMap::new();
    for request in &received {
        let signature = request.signature.as_deref();
        assert_eq!(
            verify(SECRET, signature, &request.body, now_s(), TOLERANCE_SECONDS_DEFAULT),
            Ok(())
        );
        let event: Event = serde_json::from_slice(&request.body).unwrap();
        copies.entry(event.id).or_default().push(&request.body);
    }
    for event in &events {
        let bodies = &copies[&event.id];
        assert_eq!(bodies.len(), 2, "{} arrived twice", event.id);
        assert_eq!(bodies[0], bodies[1], "both copies of {} are the same bytes", event.id);
        assert_eq!(&serde_json::from_slice::<Event>(bodies[0]).unwrap(), event);
    }
    let kinds: std::collections::BTreeSet<String> = events.iter().map(|event| format!("{:?}", event.kind)).collect();
    assert_eq!(kinds.len(), 6, "every event type was delivered: {kinds:?}");

    let mut first_arrivals: Vec<String> = Vec::new();
    for request in &received {
        let event: Event = serde_json::from_slice(&request.body).unwrap();
        if !first_arrivals.contains(&event.id) {
            first_arrivals.push(event.id);
        }
    }
    let made: Vec<String> = events.iter().map(|event| event.id.clone()).collect();
    assert_ne!(first_arrivals, made, "random delays reorder the events");
}

#[tokio::test]
async fn a_receiver_that_fails_first_gets_the_event_on_a_retry() {
    let receiver = Receiver::spawn(1, Duration::ZERO).await;
    let simpay = with_webhook(&receiver, Faults::default());

    simpay.authorize(sale("order", 100)).await.unwrap();
    let stats = wait_until_deliveries_settle(&simpay).await;

    let received = receiver.received();
    let statuses: Vec<u16> = received.iter().map(|request| request.answered.as_u16()).collect();
    assert_eq!(statuses, [500, 200]);
    assert_eq!(received[0].body, received[1].body);
    for request in &received {
        let signature = request.signature.as_deref();
        assert_eq!(
            verify(SECRET, signature, &request.body, now_s(), TOLERANCE_SECONDS_DEFAULT),
            Ok(())
        );
    }
    let expected = DeliveryStats {
        sent: 2,
        delivered: 1,
        duplicates_sent: 0,
        gave_up: 0,
        pending: 0,
    };
    assert_eq!(stats, expected);
}

#[tokio::test(start_paused = true)]
async fn an_unreachable_receiver_is_retried_then_given_up() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhooks", closed.local_addr().unwrap());
    drop(closed);
    let simpay = SimPay::new(Config {
        webhook_url: Some(url),
        ..config()
    });

    simpay.authorize(sale("order", 100)).await.unwrap();
    // Virtual time: the whole backoff schedule passes without the test waiting for it.
    let stats = tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            let stats = simpay.delivery_stats();
            if stats.pending == 0 {
                return stats;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the delivery gives up within its bound");

    let expected = DeliveryStats {
        sent: u64::from(DELIVERY_ATTEMPTS_MAX),
        delivered: 0,
        duplicates_sent: 0,
        gave_up: 1,
        pending: 0,
    };
    assert_eq!(stats, expected);
}

#[tokio::test]
async fn a_slow_receiver_never_slows_the_call_that_made_the_event() {
    let receiver = Receiver::spawn(0, Duration::from_millis(800)).await;
    let simpay = with_webhook(&receiver, Faults::default());

    let started = Instant::now();
    simpay.authorize(sale("order", 100)).await.unwrap();
    simpay.authorize(sale("order-2", 100)).await.unwrap();
    let took = started.elapsed();

    assert!(took < Duration::from_millis(400), "the calls took {took:?}");
    assert_eq!(wait_until_deliveries_settle(&simpay).await.delivered, 2);
}

#[tokio::test]
async fn an_event_carries_its_object_as_it_was_when_the_event_was_made() {
    let simpay = SimPay::new(config());

    simpay.authorize(hold("order", 10_000)).await.unwrap();
    simpay.capture("order", None).await.unwrap();
    simpay.refund(refund("refund", "order", 4_000)).await.unwrap();

    let events = simpay.events();
    let ids: Vec<&str> = events.iter().map(|event| event.id.as_str()).collect();
    assert_eq!(ids, ["evt_1", "evt_2", "evt_3"]);
    let EventData::Charge(authorized) = &events[0].data else {
        panic!("{:?}", events[0])
    };
    let EventData::Charge(captured) = &events[1].data else {
        panic!("{:?}", events[1])
    };
    let EventData::Refund(refunded) = &events[2].data else {
        panic!("{:?}", events[2])
    };
    assert_eq!(
        (events[0].kind, authorized.status, authorized.captured_fen),
        (EventType::ChargeAuthorized, ChargeStatus::Authorized, 0)
    );
    assert_eq!(
        (events[1].kind, captured.status, captured.refunded_fen),
        (EventType::ChargeCaptured, ChargeStatus::Captured, 0)
    );
    assert_eq!(
        (events[2].kind, refunded.status),
        (EventType::RefundSucceeded, RefundStatus::Succeeded)
    );
    assert_eq!(simpay.charge("order").await.unwrap().unwrap().refunded_fen, 4_000);
}

#[tokio::test]
async fn events_made_before_a_webhook_url_is_set_are_not_delivered_and_later_ones_are() {
    let receiver = Receiver::spawn(0, Duration::ZERO).await;
    let simpay = SimPay::new(config());

    simpay.authorize(sale("before", 100)).await.unwrap();
    simpay.set_webhook_url(Some(receiver.url.clone()));
    simpay.authorize(sale("after", 100)).await.unwrap();
    wait_until_deliveries_settle(&simpay).await;

    let references: Vec<String> = receiver
        .received()
        .iter()
        .map(
            |request| match serde_json::from_slice::<Event>(&request.body).unwrap().data {
                EventData::Charge(charge) => charge.reference,
                EventData::Refund(refund) => refund.reference,
            },
        )
        .collect();
    assert_eq!(references, ["after"]);
}

#[tokio::test]
async fn the_wire_shape_of_an_event_is_id_type_created_at_and_data() {
    let receiver = Receiver::spawn(0, Duration::ZERO).await;
    let simpay = with_webhook(&receiver, Faults::default());

    simpay.authorize(sale("order", 100)).await.unwrap();
    wait_until_deliveries_settle(&simpay).await;

    let body: serde_json::Value = serde_json::from_slice(&receiver.received()[0].body).unwrap();
    assert_eq!(body["id"], "evt_1");
    assert_eq!(body["type"], "charge.captured");
    assert!(body["created_at_ms"].is_i64());
    assert_eq!(body["data"]["reference"], "order");
    assert_eq!(body["data"]["status"], "captured");
    assert_eq!(body["data"]["captured_fen"], 100);
    assert_eq!(body["data"]["decline_code"], serde_json::Value::Null);
}
