//! Waybills: issued once per reference, numbered like the carriers' own, scenarios drawn as asked.

use crate::support::{AT_MS, config, in_process, shipment, shipment_with, transports};
use simcarrier::{Carrier, CreateWaybill, Scenario, ScenarioOdds, SimCarrierError, TrackingState, references};
use std::collections::BTreeSet;

#[tokio::test]
async fn the_same_reference_gets_the_same_waybill_and_other_parameters_conflict() {
    for h in transports(config()).await {
        let request = shipment(Carrier::Jd, "shipment-1");

        let first = h.client.create_waybill(request.clone()).await.unwrap();
        let again = h.client.create_waybill(request.clone()).await.unwrap();
        let other_destination = CreateWaybill {
            destination_adcode: "110101000000".to_string(),
            ..request.clone()
        };
        let other_carrier = CreateWaybill {
            carrier: Carrier::Zto,
            ..request.clone()
        };

        assert_eq!(again, first, "{}", h.transport);
        assert_eq!(first.reference, "shipment-1");
        assert_eq!(first.carrier, Carrier::Jd);
        for conflicting in [other_destination, other_carrier] {
            assert_eq!(
                h.client.create_waybill(conflicting).await,
                Err(SimCarrierError::ReferenceConflict),
                "{}",
                h.transport
            );
        }
        let tracking = h.client.tracking(&first.waybill_no).await.unwrap().unwrap();
        assert_eq!(tracking.waybill, first);
        assert!(tracking.events.is_empty());
    }
}

#[tokio::test]
async fn waybill_numbers_have_each_carriers_shape_and_never_repeat() {
    let digits = |text: &str| text.bytes().all(|byte| byte.is_ascii_digit());
    for h in transports(config()).await {
        let mut seen = BTreeSet::new();
        for n in 0..30 {
            for carrier in Carrier::ALL {
                let waybill = h
                    .client
                    .create_waybill(shipment(carrier, &format!("{}-{n}", carrier.as_str())))
                    .await
                    .unwrap();
                let number = waybill.waybill_no.clone();
                let shaped = match carrier {
                    Carrier::Sf => number.len() == 14 && number.starts_with("SF") && digits(&number[2..]),
                    Carrier::Jd => number.len() == 15 && number.starts_with("JDV") && digits(&number[3..]),
                    Carrier::Zto => number.len() == 12 && number.starts_with('7') && digits(&number),
                };
                assert!(shaped, "{}: {carrier:?} {number}", h.transport);
                assert!(seen.insert(number), "{}: a number repeated", h.transport);
            }
        }
    }
}

#[tokio::test]
async fn the_same_seed_issues_the_same_numbers_and_scenarios() {
    let odds = ScenarioOdds {
        never_picked_up_percent: 10,
        stall_after_pickup_percent: 10,
        stuck_before_departure_percent: 10,
        exception_then_delivered_percent: 10,
        returned_percent: 10,
    };
    let mut runs = Vec::new();
    for seed in [7, 7, 8] {
        let h = in_process(simcarrier::Config { seed, odds, ..config() });
        let mut issued = Vec::new();
        for n in 0..40 {
            let waybill = h
                .client
                .create_waybill(shipment(Carrier::Sf, &format!("shipment-{n}")))
                .await
                .unwrap();
            let scenario = h.simcarrier.tracking(&waybill.waybill_no).unwrap().scenario;
            issued.push((waybill.waybill_no, scenario));
        }
        runs.push(issued);
    }

    assert_eq!(runs[0], runs[1]);
    assert_ne!(runs[0], runs[2], "another seed, other numbers");
}

#[tokio::test]
async fn odds_draw_scenarios_and_a_requested_or_magic_scenario_wins_over_the_draw() {
    let odds = ScenarioOdds {
        returned_percent: 100,
        ..ScenarioOdds::default()
    };
    let h = in_process(simcarrier::Config { odds, ..config() });
    let scenario_of = |request: CreateWaybill| {
        let h = &h;
        async move {
            let waybill = h.client.create_waybill(request).await.unwrap();
            h.simcarrier.tracking(&waybill.waybill_no).unwrap().scenario
        }
    };

    let drawn = scenario_of(shipment(Carrier::Sf, "plain")).await;
    let magic = scenario_of(shipment(Carrier::Sf, &format!("{}-1", references::NEVER_PICKED_UP))).await;
    let requested = scenario_of(CreateWaybill {
        scenario: Some(Scenario::Normal),
        ..shipment(Carrier::Sf, &format!("{}-2", references::NEVER_PICKED_UP))
    })
    .await;

    assert_eq!(
        (drawn, magic, requested),
        (Scenario::Returned, Scenario::NeverPickedUp, Scenario::Normal)
    );
}

#[tokio::test]
async fn mixed_odds_draw_each_scenario_about_as_often_as_configured() {
    let odds = ScenarioOdds {
        never_picked_up_percent: 20,
        stall_after_pickup_percent: 20,
        stuck_before_departure_percent: 0,
        exception_then_delivered_percent: 20,
        returned_percent: 20,
    };
    let h = in_process(simcarrier::Config { odds, ..config() });
    let mut counts = std::collections::BTreeMap::new();
    for n in 0..500 {
        let waybill = h
            .client
            .create_waybill(shipment(Carrier::Zto, &format!("shipment-{n}")))
            .await
            .unwrap();
        *counts
            .entry(h.simcarrier.tracking(&waybill.waybill_no).unwrap().scenario)
            .or_insert(0) += 1;
    }

    assert_eq!(counts.get(&Scenario::StuckBeforeDeparture), None, "0 % is never");
    for scenario in [
        Scenario::Normal,
        Scenario::NeverPickedUp,
        Scenario::StallAfterPickup,
        Scenario::ExceptionThenDelivered,
        Scenario::Returned,
    ] {
        let count = counts.get(&scenario).copied().unwrap_or(0);
        assert!(
            (60..=140).contains(&count),
            "{scenario:?}: {count} of 500, expected about 100"
        );
    }
}

#[tokio::test]
async fn a_malformed_request_or_an_unknown_waybill_is_refused() {
    for h in transports(config()).await {
        let bad = [
            shipment(Carrier::Sf, ""),
            CreateWaybill {
                origin_adcode: "Shanghai".to_string(),
                ..shipment(Carrier::Sf, "r")
            },
            CreateWaybill {
                destination_adcode: "4403".to_string(),
                ..shipment(Carrier::Sf, "r")
            },
        ];
        for request in bad {
            let answer = h.client.create_waybill(request.clone()).await;
            assert!(
                matches!(answer, Err(SimCarrierError::InvalidRequest(_))),
                "{}: {request:?} → {answer:?}",
                h.transport
            );
        }

        assert_eq!(h.client.tracking("SF000000000000").await, Ok(None));
        assert_eq!(
            h.client
                .advance("SF000000000000", TrackingState::Delivered, AT_MS)
                .await,
            Err(SimCarrierError::NotFound)
        );
        assert_eq!(
            h.client.emit("", TrackingState::Delivered, AT_MS).await,
            Err(SimCarrierError::NotFound)
        );
        let waybill = h
            .client
            .create_waybill(shipment_with(Scenario::Normal, "r"))
            .await
            .unwrap();
        let beyond_year_9999 = 300_000_000_000_000;
        assert!(matches!(
            h.client
                .emit(&waybill.waybill_no, TrackingState::Delivered, beyond_year_9999)
                .await,
            Err(SimCarrierError::InvalidRequest(_))
        ));
    }
}
