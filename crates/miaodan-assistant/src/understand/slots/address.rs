//! An address in a message: the divisions it names, found in the reference table
//! (`miaodan_domain::geo::divisions()`), and the rest as detail.
//!
//! Names are matched with and without their suffix (上海/上海市, 浦东/浦东新区, 西湖区/西湖),
//! longest first. The most precise division wins among those that agree with each other (a
//! district counts only inside the city or province named, by its adcode's prefix); when they
//! disagree, the coarser one named wins (杭州 + 朝阳区 is 杭州). A name two divisions share
//! (西湖区 is in Hangzhou and in Nanchang) with nothing else named falls back to the division
//! both belong to, or to nothing. A place name followed by 路/街 is a street (南京东路), not a
//! division.
//!
//! English: a short table of pinyin for the provinces, the biggest cities and Pudong, so
//! "Shanghai Pudong, 88 Zhangjiang Road" is 浦东新区 with "88 Zhangjiang Road" as detail; other
//! pinyin names are not read (the address is then None).

use crate::understand::SpokenAddress;
use miaodan_domain::geo::{Adcode, divisions};
use std::collections::HashMap;
use std::sync::LazyLock;

/// Pinyin (and common English) names, each to the full Chinese name of its division.
const PINYIN: &[(&str, &str)] = &[
    ("shanghai", "上海市"),
    ("beijing", "北京市"),
    ("tianjin", "天津市"),
    ("chongqing", "重庆市"),
    ("guangzhou", "广州市"),
    ("shenzhen", "深圳市"),
    ("hangzhou", "杭州市"),
    ("nanjing", "南京市"),
    ("suzhou", "苏州市"),
    ("chengdu", "成都市"),
    ("wuhan", "武汉市"),
    ("xi'an", "西安市"),
    ("xian", "西安市"),
    ("changsha", "长沙市"),
    ("zhengzhou", "郑州市"),
    ("qingdao", "青岛市"),
    ("xiamen", "厦门市"),
    ("ningbo", "宁波市"),
    ("dongguan", "东莞市"),
    ("foshan", "佛山市"),
    ("shenyang", "沈阳市"),
    ("dalian", "大连市"),
    ("kunming", "昆明市"),
    ("hefei", "合肥市"),
    ("jinan", "济南市"),
    ("fuzhou", "福州市"),
    ("harbin", "哈尔滨市"),
    ("pudong", "浦东新区"),
    ("guangdong", "广东省"),
    ("zhejiang", "浙江省"),
    ("jiangsu", "江苏省"),
    ("sichuan", "四川省"),
    ("hubei", "湖北省"),
    ("hunan", "湖南省"),
    ("henan", "河南省"),
    ("hebei", "河北省"),
    ("shandong", "山东省"),
    ("fujian", "福建省"),
    ("anhui", "安徽省"),
    ("jiangxi", "江西省"),
    ("yunnan", "云南省"),
    ("guizhou", "贵州省"),
    ("shaanxi", "陕西省"),
    ("shanxi", "山西省"),
    ("liaoning", "辽宁省"),
    ("jilin", "吉林省"),
    ("heilongjiang", "黑龙江省"),
    ("guangxi", "广西壮族自治区"),
    ("hainan", "海南省"),
    ("gansu", "甘肃省"),
    ("qinghai", "青海省"),
    ("ningxia", "宁夏回族自治区"),
    ("xinjiang", "新疆维吾尔自治区"),
    ("tibet", "西藏自治区"),
    ("inner mongolia", "内蒙古自治区"),
    ("hong kong", "香港特别行政区"),
    ("macau", "澳门特别行政区"),
];

/// Suffixes a buyer may leave out, longest first; the ethnic names before 自治区 go too.
const SUFFIXES: &[&str] = &[
    "特别行政区",
    "维吾尔自治区",
    "壮族自治区",
    "回族自治区",
    "自治区",
    "新区",
    "地区",
    "省",
    "市",
    "区",
    "县",
    "盟",
];

/// Short names too common as words to be read as a place.
const NOT_PLACES: &[&str] = &[
    "城区", "郊区", "矿区", "市中", "开发", "高新", "新城", "和平", "新华", "中心", "市辖",
];

/// After a place name, the words that make it a street's name.
const STREET_WORDS: &[&str] = &[
    "路", "街", "大道", "道", "巷", "弄", "东路", "西路", "南路", "北路", "中路", "里",
];

/// Words around the detail that are not part of it.
const NOT_DETAIL: &[&str] = &[
    "改到",
    "改成",
    "送到",
    "换成",
    "寄到",
    "地址",
    "谢谢",
    "麻烦了",
    "麻烦",
    "thanks",
    "thank you",
    "instead",
    "可以吗",
    "行吗",
    "好吗",
    "可以不",
    "行不行",
    "please",
    "吧",
    "哈",
];

/// Names by their first character, longest first: looked up, never iterated into output.
type Index = HashMap<char, Vec<(String, Vec<Adcode>)>>;

static INDEX: LazyLock<Index> = LazyLock::new(build_index);

fn build_index() -> Index {
    let mut by_name: HashMap<String, Vec<Adcode>> = HashMap::new();
    for division in divisions().values() {
        for name in names_of(&division.name) {
            by_name.entry(name).or_default().push(division.adcode);
        }
    }
    for (pinyin, chinese) in PINYIN {
        let codes = by_name.get(*chinese).cloned().unwrap_or_default();
        by_name.insert((*pinyin).to_string(), codes);
    }
    let mut index: Index = HashMap::new();
    for (name, mut codes) in by_name {
        codes.sort();
        if let Some(first) = name.chars().next() {
            index.entry(first).or_default().push((name, codes));
        }
    }
    for names in index.values_mut() {
        names.sort_by(|(a, _), (b, _)| b.len().cmp(&a.len()).then(a.cmp(b)));
    }
    index
}

/// A division's full name and, where it is two characters or more, its short name.
fn names_of(full: &str) -> Vec<String> {
    if full == "市辖区" || full == "县" || full.chars().count() < 2 {
        return Vec::new();
    }
    let mut names = vec![full.to_string()];
    let short = SUFFIXES
        .iter()
        .find_map(|suffix| full.strip_suffix(suffix))
        .filter(|short| short.chars().count() >= 2 && !NOT_PLACES.contains(short));
    names.extend(short.map(str::to_string));
    names
}

/// A division name found in the text: where it ends and the divisions it may be.
struct Found<'a> {
    start: usize,
    end: usize,
    codes: &'a [Adcode],
}

/// The address in a normalised message; `original` is the message as written, for the
/// detail's letter case.
pub fn address(text: &str, original: &str) -> Option<SpokenAddress> {
    let found = find_names(text);
    let adcode = most_precise(&found)?;
    let last_end = found.iter().map(|f| f.end).max()?;
    let mut spoken = detail(&text[last_end..]);
    if spoken.is_empty() && text.is_ascii() {
        // English puts the street first: "88 Zhangjiang Road, Pudong, Shanghai".
        let first_start = found.iter().map(|f| f.start).min()?;
        let before = &text[..first_start];
        let from = [" to ", ":"]
            .iter()
            .filter_map(|w| before.rfind(w).map(|at| at + w.len()))
            .max();
        spoken = detail(&before[from.unwrap_or(0)..]);
    }
    Some(SpokenAddress {
        adcode,
        detail: recased(&spoken, original),
    })
}

fn find_names(text: &str) -> Vec<Found<'static>> {
    let mut found = Vec::new();
    let mut next = 0;
    for (at, c) in text.char_indices() {
        if at < next {
            continue;
        }
        let Some(names) = INDEX.get(&c) else {
            continue;
        };
        let rest = &text[at..];
        let hit = names
            .iter()
            .find(|(name, codes)| !codes.is_empty() && rest.starts_with(name.as_str()) && is_place(text, at, name));
        if let Some((name, codes)) = hit {
            next = at + name.len();
            found.push(Found {
                start: at,
                end: next,
                codes,
            });
        }
    }
    found
}

/// Whether `name` at `at` stands as a place: not a street's name, and an English name as a
/// whole word.
fn is_place(text: &str, at: usize, name: &str) -> bool {
    let after = &text[at + name.len()..];
    if STREET_WORDS.iter().any(|w| after.starts_with(w)) {
        return false;
    }
    if !name.is_ascii() {
        return true;
    }
    let before = text[..at].chars().next_back();
    !before.is_some_and(|c| c.is_ascii_alphabetic()) && !after.starts_with(|c: char| c.is_ascii_alphabetic())
}

/// 1 for a province, 2 for a city, 3 for a district or county.
fn level(code: Adcode) -> i64 {
    if code == code.province() {
        1
    } else if code == code.city() {
        2
    } else {
        3
    }
}

/// One is inside the other (or they are the same).
fn related(a: Adcode, b: Adcode) -> bool {
    a.province() == b.province() && (level(a) == 1 || level(b) == 1 || a.city() == b.city())
}

fn most_precise(found: &[Found<'_>]) -> Option<Adcode> {
    let mut ranked: Vec<((bool, usize, i64), Adcode)> = Vec::new();
    for (i, f) in found.iter().enumerate() {
        for code in f.codes {
            let others = found.iter().enumerate().filter(|(j, _)| *j != i);
            let agreeing = others
                .clone()
                .filter(|(_, o)| o.codes.iter().any(|c| related(*c, *code)))
                .count();
            let agrees_with_all = agreeing == found.len() - 1;
            let precision = if agrees_with_all { level(*code) } else { -level(*code) };
            ranked.push(((agrees_with_all, agreeing, precision), *code));
        }
    }
    let best = ranked.iter().map(|(key, _)| *key).max()?;
    let mut tied: Vec<Adcode> = ranked.iter().filter(|(key, _)| *key == best).map(|(_, c)| *c).collect();
    tied.dedup();
    common_division(&tied)
}

/// The one division all of `codes` are or belong to, if there is one.
fn common_division(codes: &[Adcode]) -> Option<Adcode> {
    let first = *codes.first()?;
    if codes.iter().all(|c| *c == first) {
        return Some(first);
    }
    [first.city(), first.province()]
        .into_iter()
        .find(|ancestor| codes.iter().all(|c| related(*c, *ancestor)) && ancestor.division().is_some())
}

/// The street, number and building: what follows the last division, without the words and
/// punctuation around it.
fn detail(rest: &str) -> String {
    let mut detail = rest.trim();
    loop {
        let before = detail;
        detail = detail.trim_matches(|c: char| c.is_ascii_punctuation() || c.is_whitespace() || c == '的');
        for word in NOT_DETAIL {
            detail = detail.strip_prefix(word).unwrap_or(detail);
            detail = detail.strip_suffix(word).unwrap_or(detail);
        }
        if detail == before {
            return detail.to_string();
        }
    }
}

/// `detail` with the letter case the buyer wrote (the normalised text is lower case), when the
/// original holds it letter for letter.
fn recased(detail: &str, original: &str) -> String {
    if !detail.bytes().any(|b| b.is_ascii_alphabetic()) {
        return detail.to_string();
    }
    original
        .char_indices()
        .filter_map(|(at, _)| original.get(at..at + detail.len()))
        .find(|candidate| candidate.eq_ignore_ascii_case(detail))
        .map_or_else(|| detail.to_string(), str::to_string)
}

#[cfg(test)]
mod tests {
    use super::address;
    use miaodan_domain::geo::Adcode;

    fn read(text: &str) -> Option<(i64, String)> {
        address(&text.to_lowercase(), text).map(|a| (a.adcode.get(), a.detail))
    }

    #[test]
    fn a_district_and_the_street_after_it_are_read() {
        assert_eq!(
            read("地址改到上海浦东张江路88号3栋"),
            Some((310115000000, "张江路88号3栋".into()))
        );
        assert_eq!(
            read("改成上海市浦东新区张江路88号,谢谢"),
            Some((310115000000, "张江路88号".into()))
        );
        assert_eq!(
            read("送到杭州西湖区文三路100号"),
            Some((330106000000, "文三路100号".into()))
        );
    }

    #[test]
    fn a_city_alone_is_the_city_and_a_province_alone_the_province() {
        assert_eq!(read("寄到杭州").map(|a| a.0), Some(330100000000));
        assert_eq!(read("浙江省").map(|a| a.0), Some(330000000000));
    }

    #[test]
    fn a_district_of_another_city_gives_way_to_the_city_named() {
        assert_eq!(read("杭州朝阳区").map(|a| a.0), Some(330100000000));
    }

    #[test]
    fn a_district_name_two_cities_share_needs_its_city() {
        assert_eq!(read("杭州市西湖区").map(|a| a.0), Some(330106000000));
        let alone = read("西湖区").map(|a| a.0);
        assert!(alone.is_none_or(|code| Adcode::from_stored(code).division().is_some()));
    }

    #[test]
    fn a_street_named_after_a_city_is_not_that_city() {
        assert_eq!(
            read("上海黄浦区南京东路100号"),
            Some((310101000000, "南京东路100号".into()))
        );
    }

    #[test]
    fn english_addresses_are_read_for_the_big_cities() {
        assert_eq!(
            read("Shanghai Pudong, 88 Zhangjiang Road"),
            Some((310115000000, "88 Zhangjiang Road".into()))
        );
        assert_eq!(read("ship it to Hangzhou").map(|a| a.0), Some(330100000000));
        assert_eq!(
            read("Ship it to 88 Zhangjiang Road, Pudong, Shanghai instead"),
            Some((310115000000, "88 Zhangjiang Road".into()))
        );
    }

    #[test]
    fn a_message_without_a_place_has_no_address() {
        assert_eq!(read("我要退款"), None);
        assert_eq!(read("where is my order"), None);
    }
}
