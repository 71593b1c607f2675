//! Chinese administrative divisions (行政区划). An address or a warehouse location is an
//! [`Adcode`] that exists in the reference table shipped with this crate
//! (`data/china-adcodes.csv`), so a typo in a postal area is refused at the edge.

use std::collections::BTreeMap;
use std::sync::OnceLock;

const ADCODES_CSV: &str = include_str!("../data/china-adcodes.csv");

/// A 12-digit administrative division code known to the reference table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct Adcode(i64);

/// One division: its name and, where the source has one, a representative point (WGS-84-ish
/// degrees, kept as the micro-degrees of the source so no float enters the domain's
/// arithmetic). Some divisions (the 市辖区 placeholders) have no point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Division {
    pub adcode: Adcode,
    pub name: String,
    pub point: Option<MicroDegrees>,
}

/// A point as (longitude, latitude) in millionths of a degree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MicroDegrees {
    pub longitude: i64,
    pub latitude: i64,
}

impl Adcode {
    /// Parses a 12-digit code and checks it names a known division.
    pub fn parse(text: &str) -> Option<Adcode> {
        if text.len() != 12 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let code = Adcode(text.parse().ok()?);
        divisions().contains_key(&code).then_some(code)
    }

    /// Rebuilds a code read back from storage (it was validated when written).
    pub fn from_stored(raw: i64) -> Adcode {
        Adcode(raw)
    }

    pub fn get(self) -> i64 {
        self.0
    }

    /// The 12-digit text form, e.g. `310101000000`.
    pub fn as_text(self) -> String {
        format!("{:012}", self.0)
    }

    pub fn division(self) -> Option<&'static Division> {
        divisions().get(&self)
    }

    /// The prefecture-level division (city) this code belongs to (itself for a city; for a
    /// municipality such as 上海, its one city code `3101…`).
    pub fn city(self) -> Adcode {
        Adcode(self.0 / 100_000_000 * 100_000_000)
    }

    /// The province-level division this code belongs to (itself for a province).
    pub fn province(self) -> Adcode {
        Adcode(self.0 / 10_000_000_000 * 10_000_000_000)
    }
}

fn parse_micro_degrees(text: &str) -> Option<i64> {
    if text.is_empty() {
        return None;
    }
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let negative = whole.starts_with('-');
    let whole: i64 = whole.trim_start_matches('-').parse().ok()?;
    let mut frac_digits: String = frac.chars().take(6).collect();
    while frac_digits.len() < 6 {
        frac_digits.push('0');
    }
    let micro = whole * 1_000_000 + frac_digits.parse::<i64>().ok()?;
    Some(if negative { -micro } else { micro })
}

/// All divisions by code, parsed once from the embedded CSV.
pub fn divisions() -> &'static BTreeMap<Adcode, Division> {
    static TABLE: OnceLock<BTreeMap<Adcode, Division>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = BTreeMap::new();
        for line in ADCODES_CSV.lines().skip(1) {
            let fields: Vec<&str> = line.trim().split(',').collect();
            let [code, name, lon, lat] = fields[..] else {
                continue;
            };
            let Ok(code) = code.parse() else {
                continue;
            };
            let point = match (parse_micro_degrees(lon), parse_micro_degrees(lat)) {
                (Some(longitude), Some(latitude)) => Some(MicroDegrees { longitude, latitude }),
                _ => None,
            };
            let adcode = Adcode(code);
            table.insert(
                adcode,
                Division {
                    adcode,
                    name: name.to_string(),
                    point,
                },
            );
        }
        table
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_of_the_reference_table_is_loaded() {
        assert_eq!(divisions().len(), 3511);
    }

    #[test]
    fn known_codes_parse_and_unknown_or_malformed_ones_do_not() {
        let huangpu = Adcode::parse("310101000000").expect("黄浦区 exists");
        assert_eq!(huangpu.division().map(|d| d.name.as_str()), Some("黄浦区"));
        assert_eq!(huangpu.province().as_text(), "310000000000");
        for bad in ["", "31010100000", "3101010000000", "31010100000x", "999999000000"] {
            assert_eq!(Adcode::parse(bad), None, "{bad:?} must be refused");
        }
    }

    #[test]
    fn divisions_without_a_point_are_still_known() {
        let placeholder = Adcode::parse("520301000000").expect("a 市辖区 row without coordinates");
        assert_eq!(placeholder.division().and_then(|d| d.point), None);
        let huangpu = Adcode::parse("310101000000")
            .and_then(|a| a.division())
            .and_then(|d| d.point);
        assert!(huangpu.is_some_and(|p| p.longitude > 121_000_000 && p.latitude > 31_000_000));
    }

    #[test]
    fn coordinates_are_kept_as_micro_degrees() {
        assert_eq!(parse_micro_degrees("121.505133"), Some(121_505_133));
        assert_eq!(parse_micro_degrees("31.2646"), Some(31_264_600));
        assert_eq!(parse_micro_degrees("-0.5"), Some(-500_000));
    }
}
