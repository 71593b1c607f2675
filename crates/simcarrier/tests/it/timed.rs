//! Timed mode: the clock plays each script step when it is due, `occurred_at` is the instant it was
//! due, and a manual `advance` moves the clock's next step on from the time it gives.

use crate::support::{Receiver, config, in_process, settled, shipment_with, states};
use simcarrier::{
    Config, DELIVERY_MINUTES, DEPARTURE_MINUTES, LINE_HAUL_MINUTES, OUT_FOR_DELIVERY_MINUTES, PICKUP_MINUTES, Scenario,
    TimeScale, TrackingState,
};

#[tokio::test]
async fn with_a_time_scale_the_clock_plays_the_script_and_delivers_each_event_when_due() {
    use TrackingState::*;
    let receiver = Receiver::spawn().await;
    // A simulated minute is a real millisecond: a parcel is delivered within 2.5 s.
    let h = in_process(Config {
        webhook_url: Some(receiver.url.clone()),
        time_scale: TimeScale {
            real_ms_per_sim_minute: 1,
        },
        ..config()
    });

    let waybill = h
        .client
        .create_waybill(shipment_with(Scenario::Normal, "shipment"))
        .await
        .unwrap();
    let events = receiver.wait_for(5).await;
    settled(&h.simcarrier).await;

    assert_eq!(
        states(&events),
        [PickedUp, Departed, InTransit, OutForDelivery, Delivered]
    );
    let tracking = h.simcarrier.tracking(&waybill.waybill_no).unwrap();
    assert_eq!(tracking.events, events, "delivered as made");
    assert_eq!((tracking.next_state, tracking.next_due_at_ms), (None, None));
    // Each step happened its drawn delay after the previous one, at one real ms per minute.
    let mut previous_ms = waybill.created_at_ms;
    let ranges = [
        PICKUP_MINUTES,
        DEPARTURE_MINUTES,
        LINE_HAUL_MINUTES,
        OUT_FOR_DELIVERY_MINUTES,
        DELIVERY_MINUTES,
    ];
    for (event, minutes) in events.iter().zip(ranges) {
        let gap_ms = event.occurred_at_ms - previous_ms;
        let gap_minutes = u32::try_from(gap_ms).unwrap();
        assert!(minutes.contains(&gap_minutes), "{:?} after {gap_ms} ms", event.state);
        previous_ms = event.occurred_at_ms;
    }
}

#[tokio::test]
async fn a_never_picked_up_parcel_reports_nothing_even_with_the_clock_running() {
    let receiver = Receiver::spawn().await;
    let h = in_process(Config {
        webhook_url: Some(receiver.url.clone()),
        time_scale: TimeScale {
            real_ms_per_sim_minute: 1,
        },
        ..config()
    });

    let silent = h
        .client
        .create_waybill(shipment_with(Scenario::NeverPickedUp, "silent"))
        .await
        .unwrap();
    let stalled = h
        .client
        .create_waybill(shipment_with(Scenario::StallAfterPickup, "stalled"))
        .await
        .unwrap();
    let events = receiver.wait_for(1).await;
    // The stalled parcel's pickup is due within 180 ms; nothing else will ever be.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    assert_eq!(states(&events), [TrackingState::PickedUp]);
    assert_eq!(receiver.events(), events);
    assert_eq!(events[0].waybill_no, stalled.waybill_no);
    let tracking = h.simcarrier.tracking(&silent.waybill_no).unwrap();
    assert_eq!((tracking.events.len(), tracking.next_state), (0, None));
}

#[tokio::test]
async fn advancing_a_timed_waybill_schedules_its_next_step_from_the_advance() {
    // A simulated minute is a real second: nothing is due during this test.
    let h = in_process(Config {
        time_scale: TimeScale {
            real_ms_per_sim_minute: 1_000,
        },
        ..config()
    });
    let waybill = h
        .client
        .create_waybill(shipment_with(Scenario::Normal, "shipment"))
        .await
        .unwrap();
    let before = h.simcarrier.tracking(&waybill.waybill_no).unwrap();
    let at_ms = waybill.created_at_ms + 5_000;

    h.client
        .advance(&waybill.waybill_no, TrackingState::InTransit, at_ms)
        .await
        .unwrap();
    let after = h.simcarrier.tracking(&waybill.waybill_no).unwrap();

    let pickup_due = before.next_due_at_ms.unwrap() - waybill.created_at_ms;
    assert!((60_000..=180_000).contains(&pickup_due), "{pickup_due}");
    assert_eq!(after.next_state, Some(TrackingState::OutForDelivery));
    let out_for_delivery_due = after.next_due_at_ms.unwrap() - at_ms;
    assert!(
        (360_000..=1_080_000).contains(&out_for_delivery_due),
        "{out_for_delivery_due}"
    );
}
