//! Injected faults: random declines, lost answers and latency, reproducible from the seed.

use crate::support::{config, hold, in_process, sale, transports};
use simpay::{ChargeStatus, DeclineCode, Faults, SimpayError};
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_full_decline_fault_declines_every_new_authorization_with_a_payer_side_code() {
    for h in transports().await {
        h.client.authorize(sale("before", 100)).await.unwrap();
        let faults = Faults {
            decline_percent: 100,
            ..Faults::default()
        };
        h.client.set_faults(faults).await.unwrap();

        for n in 0..10 {
            let charge = h.client.authorize(sale(&format!("order-{n}"), 100)).await.unwrap();
            assert_eq!(charge.status, ChargeStatus::Declined, "{}", h.transport);
            assert!(DeclineCode::PAYER_SIDE.contains(&charge.decline_code.unwrap()));
        }
        // A replay is not a new authorization: it keeps its approval.
        assert_eq!(
            h.client.authorize(sale("before", 100)).await.unwrap().status,
            ChargeStatus::Captured
        );
    }
}

#[tokio::test]
async fn a_full_timeout_fault_loses_every_answer_but_applies_every_call() {
    for h in transports().await {
        let faults = Faults {
            timeout_percent: 100,
            ..Faults::default()
        };
        h.client.set_faults(faults).await.unwrap();

        assert_eq!(
            h.client.authorize(hold("order", 800)).await,
            Err(SimpayError::Timeout),
            "{}",
            h.transport
        );
        assert_eq!(h.client.capture("order", Some(500)).await, Err(SimpayError::Timeout));
        assert_eq!(
            h.client.charge("order").await.unwrap().unwrap().captured_fen,
            500,
            "reads answer"
        );

        h.client.set_faults(Faults::default()).await.unwrap();
        assert_eq!(h.client.capture("order", None).await.unwrap().captured_fen, 500);
    }
}

#[tokio::test]
async fn latency_delays_every_answer() {
    for h in transports().await {
        let faults = Faults {
            latency_ms: 150,
            ..Faults::default()
        };
        h.client.set_faults(faults).await.unwrap();

        let started = Instant::now();
        h.client.authorize(sale("order", 100)).await.unwrap();
        h.client.charge("order").await.unwrap();

        assert!(
            started.elapsed() >= Duration::from_millis(300),
            "{}: {:?}",
            h.transport,
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn the_same_seed_gives_the_same_faults_for_the_same_calls() {
    let faults = Faults {
        decline_percent: 50,
        timeout_percent: 30,
        ..Faults::default()
    };
    let mut runs = Vec::new();
    for _ in 0..2 {
        let h = in_process(simpay::Config {
            faults: faults.clone(),
            ..config()
        });
        let mut outcomes = Vec::new();
        for n in 0..40 {
            let answer = h.client.authorize(sale(&format!("order-{n}"), 100)).await;
            let charge = h.client.charge(&format!("order-{n}")).await.unwrap().unwrap();
            outcomes.push((answer.is_ok(), charge.status, charge.decline_code));
        }
        runs.push(outcomes);
    }

    assert_eq!(runs[0], runs[1]);
    let declined = runs[0]
        .iter()
        .filter(|(_, status, _)| *status == ChargeStatus::Declined)
        .count();
    let lost = runs[0].iter().filter(|(answered, _, _)| !answered).count();
    assert!(
        (8..=32).contains(&declined),
        "about half declined, got {declined} of 40"
    );
    assert!((4..=24).contains(&lost), "about 30 % lost, got {lost} of 40");
}
