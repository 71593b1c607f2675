//! Tracking scripts: the events a waybill will report and the simulated minutes between them, per
//! [`Scenario`]. Pure: the random delays are drawn by the caller (all of them, whatever the
//! scenario, so that the RNG stream does not depend on which scenario was drawn) and come in as
//! [`Delays`].
//!
//! | step                                   | simulated minutes after the previous event |
//! |----------------------------------------|--------------------------------------------|
//! | `picked_up` (after creation)           | 60–180                                     |
//! | `departed`                             | 60–240                                     |
//! | `in_transit`                           | 240–720                                    |
//! | `out_for_delivery` (after in_transit)  | 360–1 080                                  |
//! | `delivered`                            | 30–240                                     |
//! | `exception` (after in_transit)         | 60–240                                     |
//! | `out_for_delivery` (after exception)   | 720–1 440                                  |
//! | `returned` (after exception)           | 1 440–2 880                                |

use crate::model::{Scenario, TrackingState};
use rand::Rng;
use std::ops::RangeInclusive;

pub const PICKUP_MINUTES: RangeInclusive<u32> = 60..=180;
pub const DEPARTURE_MINUTES: RangeInclusive<u32> = 60..=240;
pub const LINE_HAUL_MINUTES: RangeInclusive<u32> = 240..=720;
pub const OUT_FOR_DELIVERY_MINUTES: RangeInclusive<u32> = 360..=1_080;
pub const DELIVERY_MINUTES: RangeInclusive<u32> = 30..=240;
pub const EXCEPTION_MINUTES: RangeInclusive<u32> = 60..=240;
pub const REDELIVERY_MINUTES: RangeInclusive<u32> = 720..=1_440;
pub const RETURN_MINUTES: RangeInclusive<u32> = 1_440..=2_880;

/// One scripted event: its state and how long after the previous event (or the waybill's creation)
/// it happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Step {
    pub state: TrackingState,
    pub delay_minutes: u32,
}

/// One waybill's drawn delays, in simulated minutes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Delays {
    pub pickup: u32,
    pub departure: u32,
    pub line_haul: u32,
    pub out_for_delivery: u32,
    pub delivery: u32,
    pub exception: u32,
    pub redelivery: u32,
    pub return_to_sender: u32,
}

impl Delays {
    /// Draws every delay, always all eight in the same order.
    pub(crate) fn draw(rng: &mut impl Rng) -> Delays {
        Delays {
            pickup: rng.random_range(PICKUP_MINUTES),
            departure: rng.random_range(DEPARTURE_MINUTES),
            line_haul: rng.random_range(LINE_HAUL_MINUTES),
            out_for_delivery: rng.random_range(OUT_FOR_DELIVERY_MINUTES),
            delivery: rng.random_range(DELIVERY_MINUTES),
            exception: rng.random_range(EXCEPTION_MINUTES),
            redelivery: rng.random_range(REDELIVERY_MINUTES),
            return_to_sender: rng.random_range(RETURN_MINUTES),
        }
    }
}

/// The script of `scenario` with `delays`.
pub(crate) fn steps(scenario: Scenario, delays: &Delays) -> Vec<Step> {
    use TrackingState::*;
    let step = |state, delay_minutes| Step { state, delay_minutes };
    let to_line_haul = [
        step(PickedUp, delays.pickup),
        step(Departed, delays.departure),
        step(InTransit, delays.line_haul),
    ];
    let mut steps = Vec::new();
    match scenario {
        Scenario::NeverPickedUp => {}
        Scenario::StallAfterPickup | Scenario::StuckBeforeDeparture => steps.push(to_line_haul[0]),
        Scenario::Normal => {
            steps.extend(to_line_haul);
            steps.push(step(OutForDelivery, delays.out_for_delivery));
            steps.push(step(Delivered, delays.delivery));
        }
        Scenario::ExceptionThenDelivered => {
            steps.extend(to_line_haul);
            steps.push(step(Exception, delays.exception));
            steps.push(step(OutForDelivery, delays.redelivery));
            steps.push(step(Delivered, delays.delivery));
        }
        Scenario::Returned => {
            steps.extend(to_line_haul);
            steps.push(step(Exception, delays.exception));
            steps.push(step(Returned, delays.return_to_sender));
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn drawn_delays_stay_within_their_ranges() {
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..1_000 {
            let delays = Delays::draw(&mut rng);
            assert!(PICKUP_MINUTES.contains(&delays.pickup));
            assert!(DEPARTURE_MINUTES.contains(&delays.departure));
            assert!(LINE_HAUL_MINUTES.contains(&delays.line_haul));
            assert!(OUT_FOR_DELIVERY_MINUTES.contains(&delays.out_for_delivery));
            assert!(DELIVERY_MINUTES.contains(&delays.delivery));
            assert!(EXCEPTION_MINUTES.contains(&delays.exception));
            assert!(REDELIVERY_MINUTES.contains(&delays.redelivery));
            assert!(RETURN_MINUTES.contains(&delays.return_to_sender));
        }
    }

    #[test]
    fn a_detour_redelivers_after_the_redelivery_delay_not_the_first_delivery_delay() {
        let delays = Delays::draw(&mut StdRng::seed_from_u64(2));
        let script = steps(Scenario::ExceptionThenDelivered, &delays);
        assert_eq!(
            script[4],
            Step {
                state: TrackingState::OutForDelivery,
                delay_minutes: delays.redelivery
            }
        );
    }
}
