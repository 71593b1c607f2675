//! Flats in real districts and the many ways people (and rings) write one. Honest buyers and
//! the address ring share one writer, so the style of an address says nothing about its
//! writer; the ring only writes one flat many ways, with some noise a normaliser must fold and
//! a few forms it may miss.

use crate::draw::chance;
use rand::Rng;
use rand::rngs::StdRng;
use std::sync::OnceLock;

/// Urban districts of eighteen large cities; see `data/README.md` for where they come from.
const DISTRICTS_CSV: &str = include_str!("../data/districts.csv");

pub struct District {
    pub adcode: &'static str,
    province: &'static str,
    /// Empty for a municipality's district (北京市东城区).
    city: &'static str,
    district: &'static str,
}

fn districts() -> &'static [District] {
    static TABLE: OnceLock<Vec<District>> = OnceLock::new();
    TABLE.get_or_init(|| {
        DISTRICTS_CSV
            .lines()
            .skip(1)
            .filter_map(|line| {
                let mut fields = line.split(',');
                Some(District {
                    adcode: fields.next()?,
                    province: fields.next()?,
                    city: fields.next()?,
                    district: fields.next()?,
                })
            })
            .collect()
    })
}

const ROADS: &[&str] = &[
    "中山路",
    "人民路",
    "解放路",
    "建设路",
    "文一西路",
    "科技路",
    "长江路",
    "和平路",
    "新华路",
    "胜利路",
    "朝阳路",
    "学院路",
    "青年路",
    "东风路",
    "光明路",
    "延安路",
    "滨江大道",
    "学府街",
    "金沙路",
    "春华路",
];
const ESTATES: &[&str] = &[
    "阳光花园",
    "翠苑小区",
    "金色家园",
    "锦绣华庭",
    "东方名苑",
    "万科城",
    "绿城桂花园",
    "碧桂园",
    "幸福里",
    "和谐家园",
];

/// One flat: a district, a road and number, an estate perhaps, building, unit and room.
#[derive(Clone, Copy)]
pub struct Flat {
    pub district: &'static District,
    road: &'static str,
    road_number: u32,
    estate: Option<&'static str>,
    building: u32,
    unit: u32,
    room: u32,
}

impl Flat {
    pub fn draw(rng: &mut StdRng) -> Flat {
        let table = districts();
        let floor = rng.random_range(1..=33);
        Flat {
            district: &table[rng.random_range(0..table.len())],
            road: ROADS[rng.random_range(0..ROADS.len())],
            road_number: rng.random_range(1..=999),
            estate: chance(rng, 50).then(|| ESTATES[rng.random_range(0..ESTATES.len())]),
            building: rng.random_range(1..=40),
            unit: rng.random_range(1..=6),
            room: floor * 100 + rng.random_range(1..=6),
        }
    }
}

/// How a person writes the numbers of an address.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Numerals {
    Ascii,
    FullWidth,
    Chinese,
}

/// One way of writing a flat.
struct Style {
    /// 0: none; 1: the district; 2: city and district; 3: province, city and district.
    prefix_levels: u8,
    numerals: Numerals,
    building_marker: &'static str,
    /// `单元`, or `-` between building, unit and room.
    unit_word: bool,
    room_suffix: &'static str,
    spaced: bool,
    with_estate: bool,
    note: &'static str,
}

const BUILDING_MARKERS: &[&str] = &["栋", "幢", "号楼", "座", "#"];
const ROOM_SUFFIXES: &[&str] = &["", "室", "号", "房"];
/// Notes people leave for the courier, honest or not.
const COURIER_NOTES: &[&str] = &["(放门口)", "（放快递柜）", "收", " 放驿站", "【工作日送】"];

fn style(rng: &mut StdRng) -> Style {
    let numerals = match rng.random_range(0..100) {
        0..85 => Numerals::Ascii,
        85..93 => Numerals::FullWidth,
        _ => Numerals::Chinese,
    };
    Style {
        prefix_levels: [0, 0, 0, 1, 2, 3][rng.random_range(0..6)],
        numerals,
        building_marker: BUILDING_MARKERS[rng.random_range(0..BUILDING_MARKERS.len())],
        unit_word: chance(rng, 70),
        room_suffix: ROOM_SUFFIXES[rng.random_range(0..ROOM_SUFFIXES.len())],
        spaced: chance(rng, 20),
        with_estate: chance(rng, 60),
        note: if chance(rng, 8) {
            COURIER_NOTES[rng.random_range(0..COURIER_NOTES.len())]
        } else {
            ""
        },
    }
}

/// How an honest buyer writes their flat: one style of the many people use.
pub fn honest_detail(flat: &Flat, rng: &mut StdRng) -> String {
    write(flat, &style(rng))
}

/// How a ring writes its flat on one more account: a fresh style, usually with bot noise
/// (a note, random letters after the room); one in seven is a rarer form (see
/// `missed_variant`).
pub fn ring_variant(flat: &Flat, rng: &mut StdRng) -> String {
    let mut style = style(rng);
    if chance(rng, 40) {
        style.note = COURIER_NOTES[rng.random_range(0..COURIER_NOTES.len())];
    }
    let mut detail = write(flat, &style);
    if chance(rng, 30) {
        let letters = rng.random_range(1..=2);
        detail.extend((0..letters).map(|_| char::from(b'a' + rng.random_range(0..26u8))));
    }
    if chance(rng, 14) {
        detail = missed_variant(flat, rng);
    }
    detail
}

/// Rarer forms: 门 for the unit, the estate in place of the road, the road without its 路 or
/// 街 (all three beyond what miaodan's normaliser folds today), or the floor spelled out before
/// the room (which it folds).
fn missed_variant(flat: &Flat, rng: &mut StdRng) -> String {
    let estate = flat.estate.unwrap_or("阳光花园");
    let (road, number) = (flat.road, flat.road_number);
    let (b, u, r) = (flat.building, flat.unit, flat.room);
    match rng.random_range(0..4) {
        0 => format!("{road}{number}号{b}栋{u}门{r}"),
        1 => format!("{estate}{b}栋{u}单元{r}"),
        2 => {
            let short_road = road.trim_end_matches(['路', '街']).trim_end_matches("大道");
            format!("{short_road}{number}号{b}栋{u}单元{r}")
        }
        _ => format!("{road}{number}号{b}栋{u}单元{}楼{r}", r / 100),
    }
}

fn write(flat: &Flat, style: &Style) -> String {
    let space = if style.spaced { " " } else { "" };
    let number = |n: u32| numeral(style.numerals, n);
    let mut out = prefix(flat.district, style.prefix_levels);
    out.push_str(flat.road);
    out.push_str(&number(flat.road_number));
    out.push('号');
    out.push_str(space);
    if let (true, Some(estate)) = (style.with_estate, flat.estate) {
        out.push_str(estate);
        out.push_str(space);
    }
    let (building, unit, room) = (
        number(flat.building),
        number(flat.unit),
        room_numeral(style.numerals, flat.room),
    );
    if style.unit_word {
        out.push_str(&format!(
            "{building}{}{space}{unit}单元{space}{room}",
            style.building_marker
        ));
    } else {
        out.push_str(&format!("{building}-{unit}-{room}"));
    }
    out.push_str(style.room_suffix);
    out.push_str(style.note);
    out
}

fn prefix(district: &District, levels: u8) -> String {
    let mut out = String::new();
    if levels >= 3 && !district.city.is_empty() {
        out.push_str(district.province);
    }
    if levels >= 2 {
        out.push_str(if district.city.is_empty() {
            district.province
        } else {
            district.city
        });
    }
    if levels >= 1 {
        out.push_str(district.district);
    }
    out
}

const CHINESE_DIGITS: [char; 10] = ['零', '一', '二', '三', '四', '五', '六', '七', '八', '九'];

/// A number as written: positional in Chinese below a hundred (十二), digit by digit above.
fn numeral(numerals: Numerals, n: u32) -> String {
    match numerals {
        Numerals::Chinese if n < 100 => {
            let (tens, ones) = (n / 10, n % 10);
            let mut out = String::new();
            if tens > 1 {
                out.push(CHINESE_DIGITS[tens as usize]);
            }
            if tens > 0 {
                out.push('十');
            }
            if ones > 0 || tens == 0 {
                out.push(CHINESE_DIGITS[ones as usize]);
            }
            out
        }
        _ => room_numeral(numerals, n),
    }
}

/// A room as written: digit by digit in every form (五零一, ５０１, 501).
fn room_numeral(numerals: Numerals, n: u32) -> String {
    let digits = n.to_string();
    match numerals {
        Numerals::Ascii => digits,
        Numerals::FullWidth => digits
            .chars()
            .map(|c| char::from_u32(c as u32 + 0xfee0).unwrap_or(c))
            .collect(),
        Numerals::Chinese => digits
            .chars()
            .map(|c| CHINESE_DIGITS[c.to_digit(10).unwrap_or(0) as usize])
            .collect(),
    }
}
