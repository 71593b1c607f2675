//! Waybill numbers in the simulated carriers' shapes, deterministic from the seed and a per-carrier
//! counter, and never repeated: the counter walks the number space with a fixed stride coprime to
//! it (an odd number not divisible by 5 is coprime to every power of ten), starting from an offset
//! the seed picks, so counter values below the space size map to distinct numbers.
//!
//! | carrier | shape                       | example           | numbers          |
//! |---------|-----------------------------|-------------------|------------------|
//! | `sf`    | `SF` + 12 digits            | `SF104739201385`  | 10¹²             |
//! | `jd`    | `JDV` + 12 digits           | `JDV018273645509` | 10¹²             |
//! | `zto`   | `7` + 11 digits (12 digits) | `773920148851`    | 10¹¹             |

use crate::model::Carrier;

/// A prime, so coprime to every power of ten: the walk visits every number once per cycle.
const STRIDE: u128 = 982_451_653;

/// How many distinct numbers `carrier` has.
pub(crate) fn space(carrier: Carrier) -> u64 {
    match carrier {
        Carrier::Sf | Carrier::Jd => 1_000_000_000_000,
        Carrier::Zto => 100_000_000_000,
    }
}

/// The `counter`-th waybill number of `carrier` under `seed`.
pub(crate) fn waybill_no(carrier: Carrier, seed: u64, counter: u64) -> String {
    let space = space(carrier);
    assert!(
        counter < space,
        "waybill counter {counter} beyond the {carrier:?} number space"
    );
    let offset = splitmix64(seed ^ salt(carrier)) % space;
    let walked = (u128::from(offset) + u128::from(counter) * STRIDE) % u128::from(space);
    let digits = u64::try_from(walked).expect("a remainder below the space fits in u64");
    match carrier {
        Carrier::Sf => format!("SF{digits:012}"),
        Carrier::Jd => format!("JDV{digits:012}"),
        Carrier::Zto => format!("7{digits:011}"),
    }
}

/// Different per carrier, so one seed does not give the three carriers the same digits.
fn salt(carrier: Carrier) -> u64 {
    match carrier {
        Carrier::Sf => 0x5346,
        Carrier::Jd => 0x4a44,
        Carrier::Zto => 0x005a_544f,
    }
}

/// Steele, Lea and Flood's SplitMix64 finalizer: spreads nearby seeds far apart.
fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn numbers_have_each_carriers_shape() {
        for counter in 0..100 {
            let sf = waybill_no(Carrier::Sf, 7, counter);
            assert!(sf.len() == 14 && sf.starts_with("SF") && sf[2..].bytes().all(|b| b.is_ascii_digit()));
            let jd = waybill_no(Carrier::Jd, 7, counter);
            assert!(jd.len() == 15 && jd.starts_with("JDV") && jd[3..].bytes().all(|b| b.is_ascii_digit()));
            let zto = waybill_no(Carrier::Zto, 7, counter);
            assert!(zto.len() == 12 && zto.starts_with('7') && zto.bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn the_same_seed_and_counter_give_the_same_number_and_others_differ() {
        assert_eq!(waybill_no(Carrier::Sf, 7, 3), waybill_no(Carrier::Sf, 7, 3));
        assert_ne!(waybill_no(Carrier::Sf, 7, 3), waybill_no(Carrier::Sf, 8, 3));
        let numbers: HashSet<String> = (0..10_000).map(|n| waybill_no(Carrier::Zto, 7, n)).collect();
        assert_eq!(numbers.len(), 10_000);
    }

    #[test]
    fn the_walk_never_repeats_a_number_in_a_small_space() {
        // The same arithmetic in a space of 10³: every number once.
        let space = 1_000u128;
        let seen: HashSet<u128> = (0..space).map(|n| (417 + n * STRIDE) % space).collect();
        assert_eq!(seen.len(), 1_000);
    }
}
