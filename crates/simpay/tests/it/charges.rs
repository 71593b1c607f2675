//! Authorizations, captures and voids: idempotency by reference, scripted outcomes, validation
//! and the status transitions.

use crate::support::{hold, now_ms, sale, transports};
use simpay::{AuthorizeRequest, ChargeStatus, DeclineCode, EventType, SimpayError, credentials};

#[tokio::test]
async fn authorizing_twice_with_one_reference_charges_once() {
    for h in transports().await {
        let first = h.client.authorize(sale("order-1", 9_900)).await.unwrap();
        let second = h.client.authorize(sale("order-1", 9_900)).await.unwrap();

        assert_eq!(first, second, "{}", h.transport);
        assert_eq!(first.id, "ch_1");
        assert_eq!((first.status, first.captured_fen), (ChargeStatus::Captured, 9_900));
        assert_eq!(h.client.charge("order-1").await.unwrap(), Some(first.clone()));
        let kinds: Vec<EventType> = h.simpay.events().iter().map(|event| event.kind).collect();
        assert_eq!(kinds, [EventType::ChargeCaptured], "{}: captured once", h.transport);
    }
}

#[tokio::test]
async fn reusing_a_reference_for_another_amount_is_a_conflict_and_changes_nothing() {
    for h in transports().await {
        let original = h.client.authorize(sale("order-1", 9_900)).await.unwrap();

        let conflict = h.client.authorize(sale("order-1", 100)).await;

        assert_eq!(conflict, Err(SimpayError::ReferenceConflict), "{}", h.transport);
        assert_eq!(h.client.charge("order-1").await.unwrap(), Some(original));
        assert_eq!(h.simpay.events().len(), 1, "{}", h.transport);
    }
}

#[tokio::test]
async fn an_ordinary_credential_is_approved_captured_or_only_authorized() {
    for h in transports().await {
        let sold = h.client.authorize(sale("sale", 500)).await.unwrap();
        let held = h.client.authorize(hold("hold", 700)).await.unwrap();

        assert_eq!(
            (sold.status, sold.captured_fen, sold.decline_code),
            (ChargeStatus::Captured, 500, None)
        );
        assert_eq!(
            (held.status, held.captured_fen, held.decline_code),
            (ChargeStatus::Authorized, 0, None)
        );
        assert_eq!(held.id, "ch_2", "{}", h.transport);
        let kinds: Vec<EventType> = h.simpay.events().iter().map(|event| event.kind).collect();
        assert_eq!(kinds, [EventType::ChargeCaptured, EventType::ChargeAuthorized]);
    }
}

#[tokio::test]
async fn scripted_credentials_decline_with_their_code_and_move_no_money() {
    let table = [
        (credentials::INSUFFICIENT_FUNDS, DeclineCode::InsufficientFunds),
        (credentials::FRAUD, DeclineCode::SuspectedFraud),
        (credentials::EXPIRED, DeclineCode::ExpiredCredential),
    ];
    for h in transports().await {
        for (credential, code) in table {
            let request = AuthorizeRequest {
                credential: credential.to_string(),
                ..sale(credential, 1_000)
            };

            let charge = h.client.authorize(request).await.unwrap();

            assert_eq!(charge.status, ChargeStatus::Declined, "{}: {credential}", h.transport);
            assert_eq!(charge.decline_code, Some(code));
            assert_eq!(charge.captured_fen, 0);
            assert!(matches!(
                h.client.capture(credential, None).await,
                Err(SimpayError::InvalidState(_))
            ));
        }
        assert!(
            h.simpay
                .events()
                .iter()
                .all(|event| event.kind == EventType::ChargeDeclined)
        );
    }
}

#[tokio::test]
async fn the_timeout_credential_makes_the_charge_but_the_caller_sees_a_timeout() {
    for h in transports().await {
        let request = AuthorizeRequest {
            credential: credentials::TIMEOUT.to_string(),
            ..sale("order-lost-answer", 2_500)
        };

        let answer = h.client.authorize(request.clone()).await;

        assert_eq!(answer, Err(SimpayError::Timeout), "{}", h.transport);
        let made = h
            .client
            .charge("order-lost-answer")
            .await
            .unwrap()
            .expect("the charge exists");
        assert_eq!((made.status, made.captured_fen), (ChargeStatus::Captured, 2_500));
        // A retry with the same reference learns the outcome and charges nothing more.
        assert_eq!(h.client.authorize(request).await, Ok(made));
        assert_eq!(h.simpay.events().len(), 1);
    }
}

#[tokio::test]
async fn a_request_arriving_after_its_deadline_is_declined_as_expired() {
    for h in transports().await {
        let late = AuthorizeRequest {
            expires_at_ms: Some(now_ms() - 1_000),
            ..sale("late", 1_000)
        };
        let in_time = AuthorizeRequest {
            expires_at_ms: Some(now_ms() + 60_000),
            ..sale("in-time", 1_000)
        };

        let late = h.client.authorize(late).await.unwrap();
        let in_time = h.client.authorize(in_time).await.unwrap();

        assert_eq!(late.status, ChargeStatus::Declined, "{}", h.transport);
        assert_eq!(late.decline_code, Some(DeclineCode::RequestExpired));
        assert_eq!(in_time.status, ChargeStatus::Captured);
    }
}

#[tokio::test]
async fn malformed_authorizations_are_refused_and_record_nothing() {
    let too_long = "r".repeat(65);
    let table = [
        ("", 100),
        (".", 100),
        ("..", 100),
        (too_long.as_str(), 100),
        ("zero", 0),
        ("negative", -100),
        ("too-much", 1_000_000_000_001),
    ];
    for h in transports().await {
        for (reference, amount_fen) in table {
            let refused = h.client.authorize(sale(reference, amount_fen)).await;

            assert!(
                matches!(refused, Err(SimpayError::InvalidRequest(_))),
                "{}: {reference:?} {amount_fen} gave {refused:?}",
                h.transport
            );
            assert_eq!(h.client.charge(reference).await.unwrap(), None);
        }
        assert!(h.simpay.events().is_empty());
        // The bounds themselves are accepted.
        assert!(
            h.client
                .authorize(sale(&"r".repeat(64), 1_000_000_000_000))
                .await
                .is_ok()
        );
        assert!(h.client.authorize(sale("one-fen", 1)).await.is_ok());
    }
}

#[tokio::test]
async fn a_capture_takes_all_or_part_of_an_authorization_once() {
    for h in transports().await {
        h.client.authorize(hold("part", 10_000)).await.unwrap();
        h.client.authorize(hold("whole", 10_000)).await.unwrap();

        let part = h.client.capture("part", Some(6_000)).await.unwrap();
        let again = h.client.capture("part", Some(10_000)).await.unwrap();
        let whole = h.client.capture("whole", None).await.unwrap();

        assert_eq!(
            (part.status, part.captured_fen),
            (ChargeStatus::Captured, 6_000),
            "{}",
            h.transport
        );
        assert_eq!(again, part, "a repeated capture returns the first");
        assert_eq!(whole.captured_fen, 10_000);
        let captures = h
            .simpay
            .events()
            .iter()
            .filter(|event| event.kind == EventType::ChargeCaptured)
            .count();
        assert_eq!(captures, 2);
    }
}

#[tokio::test]
async fn a_capture_of_nothing_or_more_than_was_authorized_is_refused() {
    for h in transports().await {
        h.client.authorize(hold("order", 10_000)).await.unwrap();

        for amount_fen in [0, -1, 10_001] {
            let refused = h.client.capture("order", Some(amount_fen)).await;
            assert!(
                matches!(refused, Err(SimpayError::InvalidRequest(_))),
                "{}: {amount_fen}",
                h.transport
            );
        }
        assert_eq!(
            h.client.charge("order").await.unwrap().unwrap().status,
            ChargeStatus::Authorized
        );
    }
}

#[tokio::test]
async fn a_void_releases_an_authorization_which_then_cannot_be_captured() {
    for h in transports().await {
        h.client.authorize(hold("order", 3_000)).await.unwrap();

        let voided = h.client.void("order").await.unwrap();
        let again = h.client.void("order").await.unwrap();
        let capture = h.client.capture("order", None).await;

        assert_eq!(voided.status, ChargeStatus::Voided, "{}", h.transport);
        assert_eq!(again, voided);
        assert!(matches!(capture, Err(SimpayError::InvalidState(_))), "{capture:?}");
        let kinds: Vec<EventType> = h.simpay.events().iter().map(|event| event.kind).collect();
        assert_eq!(kinds, [EventType::ChargeAuthorized, EventType::ChargeVoided]);
    }
}

#[tokio::test]
async fn a_captured_or_declined_charge_cannot_be_voided() {
    for h in transports().await {
        h.client.authorize(sale("captured", 3_000)).await.unwrap();
        let declined = AuthorizeRequest {
            credential: credentials::FRAUD.to_string(),
            ..hold("declined", 3_000)
        };
        h.client.authorize(declined).await.unwrap();

        for reference in ["captured", "declined"] {
            let refused = h.client.void(reference).await;
            assert!(
                matches!(refused, Err(SimpayError::InvalidState(_))),
                "{}: {refused:?}",
                h.transport
            );
        }
        assert_eq!(
            h.client.charge("captured").await.unwrap().unwrap().status,
            ChargeStatus::Captured
        );
    }
}

#[tokio::test]
async fn an_unknown_reference_is_not_found() {
    for h in transports().await {
        assert_eq!(h.client.charge("nobody").await, Ok(None), "{}", h.transport);
        assert_eq!(h.client.capture("nobody", None).await, Err(SimpayError::NotFound));
        assert_eq!(h.client.void("nobody").await, Err(SimpayError::NotFound));
        assert_eq!(h.client.capture("", None).await, Err(SimpayError::NotFound));
        assert_eq!(h.client.charge("").await, Ok(None));
    }
}
