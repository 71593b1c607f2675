//! Specification of delivery-address normalisation: the variants of one flat that a scalper
//! ring writes collide in one [`AddressKey`], each fold named by its own test, and different
//! flats never do. Properties: separators and digit forms never change a key; the room
//! number always does.

use miaodan_domain::geo::Adcode;
use miaodan_domain::risk::{AddressKey, address_key, canonical_detail};
use proptest::prelude::*;

/// 余杭区, 杭州市, 浙江省.
fn yuhang() -> Adcode {
    Adcode::parse("330110000000").expect("余杭区 exists")
}

fn key(detail: &str) -> AddressKey {
    address_key(yuhang(), detail)
}

/// Every detail of `variants` has the key of the first one.
fn same_flat(fold: &str, variants: &[&str]) {
    let expected = key(variants[0]);
    for variant in variants {
        assert_eq!(
            key(variant),
            expected,
            "{fold}: {variant:?} reads {:?}, {:?} reads {:?}",
            canonical_detail(variant),
            variants[0],
            canonical_detail(variants[0]),
        );
    }
}

fn different_flats(why: &str, a: &str, b: &str) {
    assert_ne!(
        key(a),
        key(b),
        "{why}: {a:?} and {b:?} both read {:?}",
        canonical_detail(a)
    );
}

#[test]
fn chinese_and_full_width_numerals_are_ascii_digits() {
    same_flat(
        "numerals",
        &[
            "科技路88号3栋2单元501",
            "科技路八十八号三栋二单元五零一",
            "科技路８８号３栋２单元５０１",
            "科技路88号三栋2单元五〇一",
        ],
    );
    same_flat("positional numerals", &["科技路88号12号楼501", "科技路88号十二号楼501"]);
}

#[test]
fn building_markers_are_one_marker() {
    same_flat(
        "building",
        &[
            "科技路88号3栋501",
            "科技路88号3幢501",
            "科技路88号3号楼501",
            "科技路88号3座501",
            "科技路88号3#501",
            "科技路88号3#楼501",
        ],
    );
    same_flat(
        "lettered block",
        &[
            "科技路88号A座1201",
            "科技路88号a座1201",
            "科技路88号Ａ座1201",
            "科技路88号A-1201",
        ],
    );
}

#[test]
fn unit_markers_and_dashed_forms_are_one_form() {
    same_flat(
        "unit",
        &[
            "科技路88号3栋2单元501",
            "科技路88号3-2-501",
            "科技路88号3栋2-501",
            "科技路88号 3 - 2 - 501",
        ],
    );
}

#[test]
fn room_suffixes_are_dropped() {
    same_flat(
        "room",
        &[
            "科技路88号3栋2单元501",
            "科技路88号3栋2单元501室",
            "科技路88号3栋2单元501房",
            "科技路88号3栋2单元501号",
        ],
    );
}

#[test]
fn spaces_punctuation_road_number_suffix_and_case_do_not_matter() {
    same_flat(
        "road number",
        &[
            "科技路88号",
            "科技路88",
            "科技路 88 号",
            "科技路，88号。",
            "科技路88号)",
        ],
    );
    same_flat(
        "case and spaces",
        &["SOHO大厦B座1201", "soho 大厦 b座 1201", "Soho大厦，B-1201"],
    );
    same_flat("padded room", &["科技路88号3-2-0501", "科技路88号3-2-501"]);
}

#[test]
fn a_repeated_division_prefix_is_dropped() {
    same_flat(
        "prefix",
        &[
            "文一西路969号3栋2单元501",
            "浙江省杭州市余杭区文一西路969号3栋2单元501",
            "浙江省 杭州市 余杭区 文一西路969号3栋2单元501",
            "杭州市余杭区文一西路969号3-2-501",
            "浙江杭州余杭区文一西路969号3-2-501",
            "余杭区余杭区文一西路969号3-2-501",
        ],
    );
    assert_eq!(
        canonical_detail("浙江省杭州市余杭区文一西路969号3栋2单元501室"),
        "文1西路969-3-2-501"
    );
}

#[test]
fn a_road_named_after_a_city_keeps_its_name() {
    different_flats("a short city name is a road's name here", "杭州路88号", "上海路88号");
    assert_eq!(canonical_detail("杭州路88号"), "杭州路88");
}

#[test]
fn bracketed_notes_courier_notes_and_random_letters_after_the_room_are_noise() {
    same_flat(
        "noise",
        &[
            "科技路88号3栋2单元501",
            "科技路88号3栋2单元501(放门口)",
            "科技路88号3栋2单元501（放门口）",
            "科技路88号3栋2单元501【周末送】",
            "科技路88号3栋2单元501收",
            "科技路88号3栋2单元501室 放门口谢谢",
            "科技路88号3栋2单元501a",
            "科技路88号3栋2单元501XQ",
            "科技路88号3栋2单元501收xq",
            "科技路88号3栋2单元501放驿站k",
        ],
    );
}

#[test]
fn the_estate_between_road_number_and_building_is_dropped() {
    same_flat(
        "estate",
        &[
            "科技路88号3栋2单元501",
            "科技路88号阳光花园3栋2单元501",
            "科技路88号 阳光花园 3-2-501",
            "科技路88号院3栋2单元501",
        ],
    );
    different_flats(
        "the estate without its road is not folded",
        "科技路88号3-2-501",
        "阳光花园3-2-501",
    );
    different_flats(
        "a road name's middle is not an estate",
        "文一西路969号3-2-501",
        "文一东路969号3-2-501",
    );
}

#[test]
fn a_floor_is_not_a_building() {
    different_flats("5楼 is a floor, 5栋 a building", "科技路88号5楼501", "科技路88号5栋501");
    different_flats(
        "a floor the room does not repeat is kept",
        "科技路88号3栋2单元3楼501",
        "科技路88号3栋2单元501",
    );
}

#[test]
fn a_floor_the_room_number_repeats_is_dropped() {
    same_flat(
        "floor",
        &[
            "科技路88号3栋2单元1602",
            "科技路88号3栋2单元16楼1602",
            "科技路88号3-2-16楼1602室",
        ],
    );
}

#[test]
fn different_flats_stay_different() {
    different_flats("room", "科技路88号3栋2单元501", "科技路88号3栋2单元502");
    different_flats("building", "科技路88号3栋2单元501", "科技路88号13栋2单元501");
    different_flats("unit", "科技路88号3栋1单元501", "科技路88号3栋2单元501");
    different_flats("road number", "科技路88号3栋501", "科技路8号3栋501");
    different_flats(
        "road number and building do not run together",
        "科技路88号3栋501",
        "科技路8号83栋501",
    );
    different_flats("road", "科技路88号3栋501", "科创路88号3栋501");
    different_flats(
        "a letter before the room names a block",
        "科技路88号A座1201",
        "科技路88号B座1201",
    );
}

#[test]
fn the_same_detail_in_another_division_is_another_flat() {
    let nanshan = Adcode::parse("440305000000").expect("南山区 exists");
    assert_ne!(address_key(nanshan, "科技路88号3-2-501"), key("科技路88号3-2-501"));
}

#[test]
fn keys_are_stable_across_processes_and_releases() {
    // A stored key must still match after a restart or an upgrade: this pins the hash.
    assert_eq!(canonical_detail("科技路88号3-2-501"), "科技路88-3-2-501");
    assert_eq!(key("科技路88号3-2-501").get(), key("科技路八十八号3栋2单元501室").get());
    assert_eq!(key("科技路88号3-2-501").get(), PINNED_KEY);
}

/// FNV-1a of `330110000000`, the byte 0xff and `科技路88-3-2-501`, computed outside Rust.
const PINNED_KEY: u64 = 4_435_194_847_004_363_307;

/// One flat's parts and how each is written.
#[derive(Clone, Debug)]
struct Written {
    road_number: u32,
    building: u32,
    unit: u32,
    room: u32,
    /// Per number: 0 ASCII, 1 full-width, 2 Chinese digit by digit, 3 positional Chinese.
    forms: [u8; 4],
    /// Building marker: 栋, 幢, 号楼, 座, #.
    building_marker: usize,
    /// Whether the unit is written 单元 (else "-") and the room followed by 室.
    unit_word: bool,
    room_word: bool,
    /// Separators after the road, the road number, the building, the unit.
    separators: [usize; 4],
}

const SEPARATORS: &[&str] = &["", " ", "，", "、", "  ", "\u{3000}", ",", "."];
const BUILDING_MARKERS: &[&str] = &["栋", "幢", "号楼", "座", "#"];

fn written(form: u8, n: u32) -> String {
    const DIGITS: [char; 10] = ['零', '一', '二', '三', '四', '五', '六', '七', '八', '九'];
    match form {
        1 => n
            .to_string()
            .chars()
            .map(|c| char::from_u32(c as u32 + 0xfee0).unwrap_or(c))
            .collect(),
        2 => n
            .to_string()
            .chars()
            .map(|c| DIGITS[c.to_digit(10).unwrap_or(0) as usize])
            .collect(),
        3 if (10..100).contains(&n) => {
            let (tens, ones) = (n / 10, n % 10);
            let mut s = if tens == 1 {
                String::new()
            } else {
                DIGITS[tens as usize].to_string()
            };
            s.push('十');
            if ones > 0 {
                s.push(DIGITS[ones as usize]);
            }
            s
        }
        _ => n.to_string(),
    }
}

impl Written {
    fn detail(&self) -> String {
        let sep = |i: usize| SEPARATORS[self.separators[i]];
        let unit = if self.unit_word { "单元" } else { "-" };
        let room = if self.room_word { "室" } else { "" };
        format!(
            "科技路{}{}号{}{}{}{}{}{}{}{room}",
            sep(0),
            written(self.forms[0], self.road_number),
            sep(1),
            written(self.forms[1], self.building),
            BUILDING_MARKERS[self.building_marker],
            sep(2),
            written(self.forms[2], self.unit),
            unit,
            format_args!("{}{}", sep(3), written(self.forms[3], self.room)),
        )
    }

    fn plain(&self) -> String {
        format!(
            "科技路{}号{}栋{}单元{}",
            self.road_number, self.building, self.unit, self.room
        )
    }
}

fn written_flats() -> impl Strategy<Value = Written> {
    (
        (1u32..200, 1u32..40, 1u32..9, 101u32..3000),
        proptest::array::uniform4(0u8..4),
        (0..BUILDING_MARKERS.len(), any::<bool>(), any::<bool>()),
        proptest::array::uniform4(0..SEPARATORS.len()),
    )
        .prop_map(
            |((road_number, building, unit, room), forms, (building_marker, unit_word, room_word), separators)| {
                Written {
                    road_number,
                    building,
                    unit,
                    room,
                    forms,
                    building_marker,
                    unit_word,
                    room_word,
                    separators,
                }
            },
        )
}

proptest! {
    #[test]
    fn separators_and_digit_forms_never_change_the_key(flat in written_flats()) {
        prop_assert_eq!(
            key(&flat.detail()),
            key(&flat.plain()),
            "{:?} reads {:?}, {:?} reads {:?}",
            flat.detail(), canonical_detail(&flat.detail()), flat.plain(), canonical_detail(&flat.plain()),
        );
    }

    #[test]
    fn changing_the_room_number_always_changes_the_key(flat in written_flats(), other_room in 101u32..3000) {
        prop_assume!(other_room != flat.room);
        let moved = Written { room: other_room, ..flat.clone() };
        prop_assert_ne!(key(&flat.detail()), key(&moved.detail()), "{:?} vs {:?}", flat.detail(), moved.detail());
    }
}
