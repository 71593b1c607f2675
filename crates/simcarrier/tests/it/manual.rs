//! Manual control: `advance` plays the script up to a state at the caller's time, `emit` sends any
//! one event; both reach the webhook in the documented wire shape.

use crate::support::{AT_MS, Receiver, config, ids, settled, shipment_with, states, transports};
use serde_json::{Value, json};
use simcarrier::{Scenario, TrackingState};

const MINUTE_MS: i64 = 60_000;

#[tokio::test]
async fn advance_plays_the_script_up_to_a_state_and_no_further() {
    use TrackingState::*;
    for h in transports(config()).await {
        let waybill = h
            .client
            .create_waybill(shipment_with(Scenario::Normal, "shipment"))
            .await
            .unwrap();
        let no = waybill.waybill_no.as_str();
        let departed_at = waybill.created_at_ms + 300 * MINUTE_MS;
        let delivered_at = departed_at + 2_000 * MINUTE_MS;

        let first = h.client.advance(no, Departed, departed_at).await.unwrap();
        let again = h.client.advance(no, Departed, departed_at).await.unwrap();
        let rest = h.client.advance(no, Delivered, delivered_at).await.unwrap();

        assert_eq!(states(&first), [PickedUp, Departed], "{}", h.transport);
        assert!(again.is_empty(), "a state already passed plays nothing");
        assert_eq!(states(&rest), [InTransit, OutForDelivery, Delivered]);
        assert_eq!(ids(&first), [format!("{no}-1"), format!("{no}-2")]);
        assert_eq!(rest[0].event_id, format!("{no}-3"));

        // The last event of each advance happens at its time, the earlier ones before it, in order,
        // and none before the waybill existed or the previous advance.
        assert_eq!(
            (first[1].occurred_at_ms, rest[2].occurred_at_ms),
            (departed_at, delivered_at)
        );
        let times: Vec<i64> = first.iter().chain(&rest).map(|event| event.occurred_at_ms).collect();
        assert!(times.windows(2).all(|pair| pair[0] <= pair[1]), "{times:?}");
        assert!(times[0] >= waybill.created_at_ms && times[0] < departed_at, "{times:?}");
        assert!(rest[0].occurred_at_ms > departed_at);

        let tracking = h.client.tracking(no).await.unwrap().unwrap();
        assert_eq!(tracking.events, [first, rest].concat());
        assert_eq!((tracking.next_state, tracking.next_due_at_ms), (None, None));
    }
}

#[tokio::test]
async fn advance_stops_at_the_next_occurrence_of_a_state_in_a_detour() {
    use TrackingState::*;
    for h in transports(config()).await {
        let waybill = h
            .client
            .create_waybill(shipment_with(Scenario::ExceptionThenDelivered, "detour"))
            .await
            .unwrap();
        let no = waybill.waybill_no.as_str();

        let to_exception = h.client.advance(no, Exception, AT_MS).await.unwrap();
        let to_delivery = h.client.advance(no, OutForDelivery, AT_MS).await.unwrap();

        assert_eq!(
            states(&to_exception),
            [PickedUp, Departed, InTransit, Exception],
            "{}",
            h.transport
        );
        assert_eq!(states(&to_delivery), [OutForDelivery]);
        let tracking = h.client.tracking(no).await.unwrap().unwrap();
        assert_eq!(tracking.next_state, Some(Delivered));
    }
}

#[tokio::test]
async fn emit_sends_any_event_at_the_given_time_without_moving_the_script() {
    for h in transports(config()).await {
        let receiver = Receiver::spawn().await;
        h.client.set_webhook_url(Some(receiver.url.clone())).await.unwrap();
        let waybill = h
            .client
            .create_waybill(shipment_with(Scenario::Normal, "shipment"))
            .await
            .unwrap();
        let no = waybill.waybill_no.as_str();

        let delivered_early = h.client.emit(no, TrackingState::Delivered, AT_MS + 1).await.unwrap();
        let played = h.client.advance(no, TrackingState::PickedUp, AT_MS + 2).await.unwrap();
        settled(&h.simcarrier).await;

        assert_eq!(
            (delivered_early.state, delivered_early.occurred_at_ms),
            (TrackingState::Delivered, AT_MS + 1),
            "{}",
            h.transport
        );
        assert_eq!(states(&played), [TrackingState::PickedUp], "the script did not move");
        assert_eq!(receiver.events(), [delivered_early, played[0].clone()]);
    }
}

#[tokio::test]
async fn the_webhook_body_has_exactly_the_documented_fields() {
    for h in transports(config()).await {
        let receiver = Receiver::spawn().await;
        h.client.set_webhook_url(Some(receiver.url.clone())).await.unwrap();
        let waybill = h
            .client
            .create_waybill(shipment_with(Scenario::Normal, "shipment"))
            .await
            .unwrap();
        let no = waybill.waybill_no.clone();

        h.client.advance(&no, TrackingState::InTransit, AT_MS).await.unwrap();
        h.client.emit(&no, TrackingState::Exception, AT_MS + 250).await.unwrap();
        settled(&h.simcarrier).await;

        let bodies: Vec<Value> = receiver
            .received()
            .iter()
            .map(|request| serde_json::from_slice(&request.body).unwrap())
            .collect();
        let in_transit = &bodies[2];
        assert_eq!(
            in_transit,
            &json!({
                "carrier": "sf",
                "waybill_no": no,
                "event_id": format!("{no}-3"),
                "state": "in_transit",
                "occurred_at": "2024-06-18T16:00:00Z",
                "location": null,
            }),
            "{}",
            h.transport
        );
        assert_eq!(bodies[0]["state"], "picked_up");
        assert_eq!(bodies[0]["location"], "上海市", "picked up at the origin");
        assert_eq!(bodies[3]["state"], "exception");
        assert_eq!(bodies[3]["occurred_at"], "2024-06-18T16:00:00.25Z");
        assert_eq!(bodies[3]["location"], "深圳市", "an exception at the destination");
    }
}

#[tokio::test]
async fn a_parcel_is_redirected_until_the_carrier_collects_it_and_later_scans_report_the_new_city() {
    use TrackingState::*;
    for h in transports(config()).await {
        let request = shipment_with(Scenario::Normal, "redirected");
        let waybill = h.client.create_waybill(request.clone()).await.unwrap();
        let no = waybill.waybill_no.as_str();
        // 北京市朝阳区 instead of the request's destination.
        let tracking = h.client.redirect(no, "110105000000").await.unwrap();
        assert_eq!(tracking.destination_adcode, "110105000000", "{}", h.transport);
        let again = h.client.redirect(no, "110105000000").await.unwrap();
        assert_eq!(again, tracking, "the same redirect answers the same");
        assert_eq!(
            h.client.create_waybill(request).await.unwrap(),
            waybill,
            "the waybill's creation still replays"
        );
        assert_eq!(
            h.client.redirect("SF000000000000", "110105000000").await,
            Err(simcarrier::SimCarrierError::NotFound)
        );
        let bad = h.client.redirect(no, "beijing").await;
        assert!(
            matches!(bad, Err(simcarrier::SimCarrierError::InvalidRequest(_))),
            "{bad:?}"
        );

        let delivered = h
            .client
            .advance(no, Delivered, waybill.created_at_ms + 3_000 * MINUTE_MS)
            .await
            .unwrap();
        assert_eq!(delivered.last().and_then(|e| e.location.as_deref()), Some("北京市"));
        let refused = h.client.redirect(no, "310101000000").await;
        assert!(
            matches!(refused, Err(simcarrier::SimCarrierError::InvalidState(_))),
            "collected: {refused:?}"
        );
    }
}
