//! Refunds: partial refunds bounded by the capture, idempotency by refund reference, and failed
//! refunds that are final.

use crate::support::{hold, refund, sale, transports};
use simpay::{EventType, RefundStatus, SimpayError, refund_failures};

#[tokio::test]
async fn partial_refunds_never_add_up_to_more_than_was_captured() {
    for h in transports().await {
        h.client.authorize(sale("order", 10_000)).await.unwrap();

        let first = h.client.refund(refund("refund-1", "order", 4_000)).await.unwrap();
        let second = h.client.refund(refund("refund-2", "order", 6_000)).await.unwrap();
        let third = h.client.refund(refund("refund-3", "order", 1)).await.unwrap();

        assert_eq!(first.status, RefundStatus::Succeeded, "{}", h.transport);
        assert_eq!((second.status, second.id.as_str()), (RefundStatus::Succeeded, "re_2"));
        assert_eq!(third.status, RefundStatus::Failed);
        assert_eq!(third.failure.as_deref(), Some(refund_failures::EXCEEDS_CAPTURED));
        assert_eq!(h.client.charge("order").await.unwrap().unwrap().refunded_fen, 10_000);
        let kinds: Vec<EventType> = h.simpay.events().iter().skip(1).map(|event| event.kind).collect();
        assert_eq!(
            kinds,
            [
                EventType::RefundSucceeded,
                EventType::RefundSucceeded,
                EventType::RefundFailed
            ]
        );
    }
}

#[tokio::test]
async fn a_partial_capture_bounds_the_refunds_not_the_authorized_amount() {
    for h in transports().await {
        h.client.authorize(hold("order", 10_000)).await.unwrap();
        h.client.capture("order", Some(5_000)).await.unwrap();

        let over = h.client.refund(refund("refund-over", "order", 5_001)).await.unwrap();
        let all = h.client.refund(refund("refund-all", "order", 5_000)).await.unwrap();

        assert_eq!(
            over.failure.as_deref(),
            Some(refund_failures::EXCEEDS_CAPTURED),
            "{}",
            h.transport
        );
        assert_eq!(all.status, RefundStatus::Succeeded);
    }
}

#[tokio::test]
async fn a_refund_reference_returns_its_first_refund_and_refunds_once() {
    for h in transports().await {
        h.client.authorize(sale("order", 10_000)).await.unwrap();
        h.client.authorize(sale("other-order", 10_000)).await.unwrap();

        let first = h.client.refund(refund("refund-1", "order", 3_000)).await.unwrap();
        let again = h.client.refund(refund("refund-1", "order", 3_000)).await.unwrap();
        let other_amount = h.client.refund(refund("refund-1", "order", 2_000)).await;
        let other_charge = h.client.refund(refund("refund-1", "other-order", 3_000)).await;

        assert_eq!(again, first, "{}", h.transport);
        assert_eq!(other_amount, Err(SimpayError::ReferenceConflict));
        assert_eq!(other_charge, Err(SimpayError::ReferenceConflict));
        assert_eq!(h.client.charge("order").await.unwrap().unwrap().refunded_fen, 3_000);
        assert_eq!(h.client.charge("other-order").await.unwrap().unwrap().refunded_fen, 0);
        assert_eq!(h.client.refund_by_reference("refund-1").await.unwrap(), Some(first));
    }
}

#[tokio::test]
async fn a_refund_of_an_uncaptured_charge_fails_and_stays_failed() {
    for h in transports().await {
        h.client.authorize(hold("order", 10_000)).await.unwrap();

        let failed = h.client.refund(refund("refund-1", "order", 1_000)).await.unwrap();
        h.client.capture("order", None).await.unwrap();
        let retried = h.client.refund(refund("refund-1", "order", 1_000)).await.unwrap();

        assert_eq!(failed.status, RefundStatus::Failed, "{}", h.transport);
        assert_eq!(failed.failure.as_deref(), Some(refund_failures::CHARGE_NOT_CAPTURED));
        assert_eq!(retried, failed, "a failed refund is final");
        assert_eq!(h.client.charge("order").await.unwrap().unwrap().refunded_fen, 0);
    }
}

#[tokio::test]
async fn a_refund_of_an_unknown_charge_is_not_found_and_records_nothing() {
    for h in transports().await {
        let answer = h.client.refund(refund("refund-1", "nobody", 1_000)).await;

        assert_eq!(answer, Err(SimpayError::NotFound), "{}", h.transport);
        assert_eq!(h.client.refund_by_reference("refund-1").await, Ok(None));
        assert!(h.simpay.events().is_empty());
    }
}

#[tokio::test]
async fn malformed_refunds_are_refused_and_record_nothing() {
    let too_long = "r".repeat(65);
    for h in transports().await {
        h.client.authorize(sale("order", 10_000)).await.unwrap();
        let table = [
            refund("", "order", 100),
            refund(&too_long, "order", 100),
            refund("refund", "", 100),
            refund("refund", "order", 0),
            refund("refund", "order", -5),
        ];
        for request in table {
            let answer = h.client.refund(request.clone()).await;
            assert!(
                matches!(answer, Err(SimpayError::InvalidRequest(_))),
                "{}: {request:?} gave {answer:?}",
                h.transport
            );
        }
        assert_eq!(h.simpay.events().len(), 1);
        assert_eq!(h.client.charge("order").await.unwrap().unwrap().refunded_fen, 0);
    }
}
