//! The simulated carriers' price list (运价): a parcel's price is its first weight (首重, the first
//! kilogram) and the rest (续重, each further kilogram begun), by carrier and by how far it goes
//! (within a province, or to another). The prices are made up in the shape real carriers publish
//! and are the same for every seed: a platform can show them and split them between payers.

use crate::error::SimCarrierError;
use crate::model::Carrier;
use serde::{Deserialize, Serialize};

/// The first weight every carrier prices on its own: one kilogram.
pub const FIRST_WEIGHT_GRAMS: u32 = 1_000;
/// The heaviest parcel quoted (the carriers' express limit): 50 kg.
pub const PARCEL_GRAMS_MAX: u32 = 50_000;

/// The body of `POST /quotes`: a parcel between two adcodes (6 or 12 digits) weighing `weight_grams`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuoteRequest {
    pub carrier: Carrier,
    pub origin_adcode: String,
    pub destination_adcode: String,
    pub weight_grams: u32,
}

/// A parcel's price in fen: the first weight, and the kilograms begun after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    pub carrier: Carrier,
    pub first_weight_fen: i64,
    pub additional_fen: i64,
}

/// `(first kilogram, each further kilogram)` in fen, within a province and beyond it.
fn price_list(carrier: Carrier) -> [(i64, i64); 2] {
    match carrier {
        Carrier::Sf => [(1_200, 200), (2_300, 1_000)],
        Carrier::Jd => [(1_000, 200), (1_800, 800)],
        Carrier::Zto => [(800, 100), (1_000, 500)],
    }
}

/// The price of one parcel; refused for an adcode that is not 6 or 12 digits or a weight of 0 or
/// above [`PARCEL_GRAMS_MAX`].
pub fn quote(request: &QuoteRequest) -> Result<Quote, SimCarrierError> {
    for (field, adcode) in [
        ("origin_adcode", &request.origin_adcode),
        ("destination_adcode", &request.destination_adcode),
    ] {
        if !adcode.bytes().all(|b| b.is_ascii_digit()) || !matches!(adcode.len(), 6 | 12) {
            return Err(SimCarrierError::InvalidRequest(format!(
                "{field} must be 6 or 12 digits, got {adcode:?}"
            )));
        }
    }
    if !(1..=PARCEL_GRAMS_MAX).contains(&request.weight_grams) {
        return Err(SimCarrierError::InvalidRequest(format!(
            "weight_grams must be 1 to {PARCEL_GRAMS_MAX}"
        )));
    }
    let same_province = request.origin_adcode.get(..2) == request.destination_adcode.get(..2);
    let (first, per_kg) = price_list(request.carrier)[usize::from(!same_province)];
    let further_kg = request.weight_grams.saturating_sub(FIRST_WEIGHT_GRAMS).div_ceil(1_000);
    Ok(Quote {
        carrier: request.carrier,
        first_weight_fen: first,
        additional_fen: per_kg * i64::from(further_kg),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(origin: &str, destination: &str, weight_grams: u32) -> QuoteRequest {
        QuoteRequest {
            carrier: Carrier::Zto,
            origin_adcode: origin.into(),
            destination_adcode: destination.into(),
            weight_grams,
        }
    }

    #[test]
    fn a_parcel_pays_its_first_kilogram_and_each_further_kilogram_begun() {
        let cases = [
            ("310101", "310115", 500, 800, 0),
            ("310101", "310115", 1_000, 800, 0),
            ("310101", "310115", 1_001, 800, 100),
            ("310101", "440305", 2_500, 1_000, 1_000),
        ];
        for (origin, destination, grams, first, additional) in cases {
            let quote = quote(&request(origin, destination, grams)).expect("quoted");
            assert_eq!(
                (quote.first_weight_fen, quote.additional_fen),
                (first, additional),
                "{origin} → {destination}, {grams} g"
            );
        }
    }

    #[test]
    fn a_bad_adcode_or_weight_is_refused() {
        assert!(quote(&request("31010", "310115", 500)).is_err());
        assert!(quote(&request("310101", "310115", 0)).is_err());
        assert!(quote(&request("310101", "310115", PARCEL_GRAMS_MAX + 1)).is_err());
    }
}
