//! Scenarios: each tracking script reports its own sequence of events, to the caller and to the
//! webhook, whichever way the scenario was chosen.

use crate::support::{AT_MS, Receiver, config, settled, shipment, shipment_with, states, transports};
use simcarrier::{Carrier, Scenario, TrackingState, references};

/// Every scenario and everything it will ever report, as a carrier would.
fn sequences() -> Vec<(Scenario, Vec<TrackingState>)> {
    use TrackingState::*;
    vec![
        (
            Scenario::Normal,
            vec![PickedUp, Departed, InTransit, OutForDelivery, Delivered],
        ),
        (Scenario::NeverPickedUp, vec![]),
        (Scenario::StallAfterPickup, vec![PickedUp]),
        (Scenario::StuckBeforeDeparture, vec![PickedUp]),
        (
            Scenario::ExceptionThenDelivered,
            vec![PickedUp, Departed, InTransit, Exception, OutForDelivery, Delivered],
        ),
        (
            Scenario::Returned,
            vec![PickedUp, Departed, InTransit, Exception, Returned],
        ),
    ]
}

#[tokio::test]
async fn each_scenario_reports_its_own_event_sequence_to_the_caller_and_the_webhook() {
    for h in transports(config()).await {
        let receiver = Receiver::spawn().await;
        h.client.set_webhook_url(Some(receiver.url.clone())).await.unwrap();
        let mut issued = Vec::new();

        for (scenario, expected) in sequences() {
            let reference = format!("{scenario:?}");
            let waybill = h
                .client
                .create_waybill(shipment_with(scenario, &reference))
                .await
                .unwrap();

            // Advancing to the final state plays everything the script has, and only once.
            let played = h
                .client
                .advance(&waybill.waybill_no, TrackingState::Delivered, AT_MS)
                .await
                .unwrap();
            let replayed = h
                .client
                .advance(&waybill.waybill_no, TrackingState::Returned, AT_MS)
                .await
                .unwrap();

            assert_eq!(states(&played), expected, "{}: {scenario:?}", h.transport);
            assert!(
                replayed.is_empty(),
                "{}: {scenario:?} replayed {replayed:?}",
                h.transport
            );
            let tracking = h.client.tracking(&waybill.waybill_no).await.unwrap().unwrap();
            assert_eq!((tracking.scenario, tracking.next_state), (scenario, None));
            issued.push((waybill.waybill_no, scenario, expected));
        }
        settled(&h.simcarrier).await;

        let delivered = receiver.states_by_waybill();
        for (waybill_no, scenario, expected) in issued {
            let arrived = delivered.get(&waybill_no).cloned().unwrap_or_default();
            assert_eq!(arrived, expected, "{}: {scenario:?} over the webhook", h.transport);
        }
        assert!(receiver.received().iter().all(|request| request.verified.is_ok()));
    }
}

#[tokio::test]
async fn a_magic_reference_chooses_the_scenario() {
    let table = [
        (references::NORMAL, Scenario::Normal),
        (references::NEVER_PICKED_UP, Scenario::NeverPickedUp),
        (references::STALL_AFTER_PICKUP, Scenario::StallAfterPickup),
        (references::STUCK_BEFORE_DEPARTURE, Scenario::StuckBeforeDeparture),
        (references::EXCEPTION_THEN_DELIVERED, Scenario::ExceptionThenDelivered),
        (references::RETURNED, Scenario::Returned),
    ];
    for h in transports(config()).await {
        for (prefix, scenario) in table {
            let reference = format!("{prefix}-order-1");
            let waybill = h
                .client
                .create_waybill(shipment(Carrier::Zto, &reference))
                .await
                .unwrap();

            let played = h
                .client
                .advance(&waybill.waybill_no, TrackingState::Delivered, AT_MS)
                .await
                .unwrap();

            let expected = sequences()
                .into_iter()
                .find(|(candidate, _)| *candidate == scenario)
                .map(|(_, sequence)| sequence)
                .unwrap();
            assert_eq!(states(&played), expected, "{}: {reference}", h.transport);
        }
    }
}
