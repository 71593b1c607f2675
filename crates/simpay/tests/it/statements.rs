//! The daily settlement statement: the captures and succeeded refunds of one Shanghai day.

use crate::support::{hold, refund, sale, transports};
use simpay::calendar::shanghai_day;
use simpay::{AuthorizeRequest, EntryKind, SimpayError, credentials};

#[tokio::test]
async fn a_days_statement_lists_its_captures_and_succeeded_refunds_in_order() {
    for h in transports().await {
        let sold = h.client.authorize(sale("sold", 10_000)).await.unwrap();
        h.client.authorize(hold("held-then-captured", 5_000)).await.unwrap();
        h.client.authorize(hold("held-only", 7_000)).await.unwrap();
        h.client.authorize(hold("voided", 7_000)).await.unwrap();
        h.client.void("voided").await.unwrap();
        let declined = AuthorizeRequest {
            credential: credentials::INSUFFICIENT_FUNDS.to_string(),
            ..sale("declined", 7_000)
        };
        h.client.authorize(declined).await.unwrap();
        h.client.capture("held-then-captured", Some(3_000)).await.unwrap();
        h.client.refund(refund("refund-ok", "sold", 2_000)).await.unwrap();
        h.client
            .refund(refund("refund-failed", "held-only", 1_000))
            .await
            .unwrap();

        let today = shanghai_day(sold.created_at_ms);
        let statement = h.client.statement(&today).await.unwrap();

        let lines: Vec<(EntryKind, &str, &str, i64)> = statement
            .iter()
            .map(|e| (e.kind, e.reference.as_str(), e.charge_reference.as_str(), e.amount_fen))
            .collect();
        assert_eq!(
            lines,
            [
                (EntryKind::Capture, "sold", "sold", 10_000),
                (EntryKind::Capture, "held-then-captured", "held-then-captured", 3_000),
                (EntryKind::Refund, "refund-ok", "sold", 2_000),
            ],
            "{}",
            h.transport
        );
        assert!(statement.iter().all(|entry| shanghai_day(entry.at_ms) == today));
        assert!(statement.windows(2).all(|pair| pair[0].at_ms <= pair[1].at_ms));
    }
}

#[tokio::test]
async fn another_days_statement_does_not_list_today() {
    for h in transports().await {
        let sold = h.client.authorize(sale("sold", 10_000)).await.unwrap();
        const DAY_MS: i64 = 86_400_000;

        for day in [
            shanghai_day(sold.created_at_ms - DAY_MS),
            shanghai_day(sold.created_at_ms + DAY_MS),
        ] {
            assert_eq!(h.client.statement(&day).await, Ok(Vec::new()), "{}: {day}", h.transport);
        }
    }
}

#[tokio::test]
async fn a_statement_for_something_that_is_not_a_day_is_refused() {
    for h in transports().await {
        for day in ["", "2024-02-30", "20240619", "2024-06-19/x", "../v1/events"] {
            let answer = h.client.statement(day).await;
            assert!(
                matches!(answer, Err(SimpayError::InvalidRequest(_))),
                "{}: {day:?} gave {answer:?}",
                h.transport
            );
        }
    }
}
