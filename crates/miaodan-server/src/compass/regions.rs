//! Where buyers are: orders placed and paid per city (`compass_regions`), from the district
//! adcode of each order's address. A province's figures are its cities' summed at query time.
//!
//! A city is the district's prefecture-level division; where there is none — a county-level
//! city governed by its province directly (省直辖县级行政区划, e.g. 仙桃) — the district itself
//! stands for its city. A municipality's city (上海's `310100…`, named 市辖区 in the reference
//! table) is shown under the municipality's name.

use super::dimensions::Folding;
use miaodan_domain::geo::{Adcode, MicroDegrees};
use miaodan_store::{CompassDimensions, OrderBodyV1, RegionFigures};

/// What an order event adds to its region.
pub(super) fn fold(folding: &Folding<'_>, dimensions: &mut CompassDimensions) {
    let added = match folding.action() {
        "placed" | "paid" => folding.body::<OrderBodyV1>(),
        _ => None,
    };
    let Some(order) = added else { return };
    let figures = if folding.action() == "placed" {
        RegionFigures {
            orders: 1,
            units: order.lines.iter().map(|l| l.quantity).sum(),
            gmv_fen: order.total,
            ..RegionFigures::default()
        }
    } else {
        RegionFigures {
            paid_orders: 1,
            paid_fen: order.total,
            ..RegionFigures::default()
        }
    };
    let key = (folding.event.shop, folding.hour, city_of(order.adcode));
    dimensions.regions.entry(key).or_default().add(&figures);
}

/// The city-level adcode a district belongs to (see the module's header).
pub fn city_of(adcode: i64) -> i64 {
    let district = Adcode::from_stored(adcode);
    let city = district.city();
    let placeholder = city
        .division()
        .is_none_or(|d| d.name.ends_with("行政区划") || d.point.is_none() && d.name != "市辖区");
    if placeholder { district.get() } else { city.get() }
}

/// A region's name and, where the reference table has one, its point.
pub fn label(adcode: i64) -> (String, Option<MicroDegrees>) {
    let code = Adcode::from_stored(adcode);
    let Some(division) = code.division() else {
        return (code.as_text(), None);
    };
    if division.name == "市辖区" {
        let name = code
            .province()
            .division()
            .map_or_else(|| code.as_text(), |p| p.name.clone());
        return (name, division.point);
    }
    (division.name.clone(), division.point)
}

#[cfg(test)]
mod tests {
    use super::super::dimensions::{fold as fold_all, test_support::*};
    use super::*;
    use miaodan_store::CompassMemory;
    use serde_json::json;

    fn order(adcode: i64, total: i64, quantities: &[i64]) -> serde_json::Value {
        let lines: Vec<_> = quantities
            .iter()
            .map(|q| json!({"sku": 1, "quantity": q, "unit_price": 100}))
            .collect();
        json!({"order": 1, "checkout": 1, "buyer": 1, "state": "pending_payment", "total": total,
               "adcode": adcode, "flash_sale": null, "lines": lines, "created_at": HOUR,
               "paid_at": null, "cancel_reason": null})
    }

    #[test]
    fn orders_count_in_the_city_of_their_district_and_payments_in_the_hour_they_were_paid() {
        let events = [
            event(1, 5, "order.placed", 1, order(310_101_000_000, 500, &[2, 3])),
            event(2, 6, "order.placed", 2, order(310_104_000_000, 300, &[1])),
            event(3, 65, "order.paid", 1, order(310_101_000_000, 500, &[2, 3])),
            event(4, 66, "order.cancelled", 2, order(310_104_000_000, 300, &[1])),
        ];
        let d = fold_all(&events, CompassMemory::default());
        let shanghai = 310_100_000_000;
        let first = RegionFigures {
            orders: 2,
            units: 6,
            gmv_fen: 800,
            ..RegionFigures::default()
        };
        let second = RegionFigures {
            paid_orders: 1,
            paid_fen: 500,
            ..RegionFigures::default()
        };
        assert_eq!(d.regions.get(&(shop(), HOUR, shanghai)), Some(&first));
        assert_eq!(d.regions.get(&(shop(), HOUR + 3_600_000, shanghai)), Some(&second));
        assert_eq!(d.regions.len(), 2);
    }

    #[test]
    fn a_district_stands_for_its_city_only_when_its_province_governs_it_directly() {
        assert_eq!(city_of(440_305_000_000), 440_300_000_000, "南山区 is in 深圳市");
        assert_eq!(city_of(310_101_000_000), 310_100_000_000, "黄浦区 is in 上海's city");
        assert_eq!(
            city_of(429_004_000_000),
            429_004_000_000,
            "仙桃 has no prefecture above it"
        );
    }

    #[test]
    fn regions_are_named_and_placed_for_maps_and_a_municipality_by_its_own_name() {
        let (name, point) = label(440_300_000_000);
        assert_eq!(name, "深圳市");
        assert!(point.is_some_and(|p| p.longitude > 113_000_000 && p.latitude > 22_000_000));
        assert_eq!(label(310_100_000_000).0, "上海市");
        assert_eq!(label(440_000_000_000).0, "广东省");
    }
}
