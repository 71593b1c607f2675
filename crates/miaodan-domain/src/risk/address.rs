//! Delivery-address normalisation for Chinese addresses: one [`AddressKey`] per flat, however the
//! flat is written. A scalper ring ships many accounts' units to one flat and writes it a
//! different way on every account (三栋二单元五零一, 3-2-501, ３栋2单元501室(放门口)…) so that a
//! plain string comparison sees many addresses; the key folds those variants together while
//! keeping different flats (501 vs 502, building 3 vs 13, road 88 vs 8) apart.
//!
//! The canonical text is a sequence of *atoms* (numbers, runs of ASCII letters) and *text* (the
//! Chinese words of roads and estates). Two atoms in a row are written with a `-` between them,
//! whatever separated them: 栋/幢/号楼/座/#, 单元, 号, 室/房, spaces, punctuation or a dash. So
//! `浙江省杭州市余杭区文一西路969号3栋2单元501室` and `文1西路969 3-2-501` both read
//! `文1西路969-3-2-501`.
//!
//! What is folded, and why:
//! - full-width forms (`３`, `＃`, `（`) are their ASCII forms; ASCII letters are lower case;
//! - Chinese numerals are numbers: digit by digit (五零一 = 501) or positional when the run has
//!   十/百/千 (十二 = 12, 一百零一 = 101), everywhere, also inside names (文一西路 = 文1西路), which
//!   is harmless because every variant is rewritten the same way;
//! - leading zeros of a number (0501 = 501): a room written with its floor padded is one flat;
//! - the markers after a number (栋 幢 号楼 座 # 单元 号 室 房) and every separator are one
//!   boundary. The price: `3栋501` and `3单元501` are one key. Within one road number a complex
//!   names its blocks one way, so such a pair is the same flat written carelessly far more often
//!   than two flats;
//! - the estate's name between the road number and the building (科技路88号阳光花园3栋 =
//!   科技路88号3栋): a road number names one compound, and rings add or leave out the estate;
//! - 楼 alone after a number is a floor (5楼501), not a building: it is dropped when the room
//!   repeats it (16楼1602 = 1602) and kept as text otherwise;
//! - a leading run of division names (浙江省杭州市余杭区…): the [`Adcode`] in the key already
//!   says where the address is. A full name (余杭区) is always removed; a short one (杭州) only
//!   when another division name follows it, so that a road called 杭州路 stays a road;
//! - bracketed notes (`(放门口)`, `【备注】`) and a trailing courier note (收, 放门口, 放快递柜, 谢谢
//!   …): bots append them to make each copy unique, and a note never identifies a flat;
//! - ASCII letters after the last number or a courier note (`501a`, `501收xq`): bots append
//!   random letters. A real flat `501A` then shares the key of `501`; mainland flats rarely
//!   carry a letter after the room, and a shared key only adds a link that the rules weigh, it
//!   never blocks alone. Letters before a number (`A座1201`) name a block and are kept.
//!
//! Not folded (a ring that uses these is seen as several flats): road-name synonyms and
//! abbreviations (文一西路 vs 文一路西段), the estate written instead of the road (阳光花园3栋),
//! an estate name with numerals (万科城二期), 门 as a unit marker, homophones.

use crate::geo::{Adcode, divisions};
use std::collections::HashMap;
use std::sync::OnceLock;

/// The same flat however it is written: equal for variants, different for different flats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct AddressKey(u64);

impl AddressKey {
    /// The 64-bit key: FNV-1a of the division and the canonical detail, the same in every
    /// process and on every platform (it may be stored and compared across runs).
    pub fn get(self) -> u64 {
        self.0
    }
}

/// The key of an address: the division (`Adcode`) plus the canonical detail.
pub fn address_key(adcode: Adcode, detail: &str) -> AddressKey {
    let mut hash = Fnv1a::new();
    hash.write(adcode.as_text().as_bytes());
    // A byte that never occurs in UTF-8 text keeps the division and the detail apart.
    hash.write(&[0xff]);
    hash.write(canonical_detail(detail).as_bytes());
    AddressKey(hash.finish())
}

/// The canonical text of `detail` (for explanations: "what we saw as the same flat").
pub fn canonical_detail(detail: &str) -> String {
    let plain = plain_chars(detail);
    let rest = strip_division_prefix(&plain);
    let mut tokens = tokenize(rest);
    drop_estate_name(&mut tokens);
    drop_floor_the_room_repeats(&mut tokens);
    drop_trailing_noise(&mut tokens);
    render(&tokens)
}

/// Words a buyer or a bot appends for the courier; dropped only at the end of the detail.
const COURIER_NOTES: &[&str] = &[
    "收",
    "收件",
    "收货",
    "放门口",
    "放快递柜",
    "放驿站",
    "门口",
    "谢谢",
    "速发",
    "送货上门",
];

/// Division names are removed from the front of a detail this many times at most (province,
/// city, district, and one repetition).
const DIVISION_PREFIXES_MAX: usize = 4;

/// The longest division name, in characters (内蒙古自治区 and the autonomous prefectures are
/// the long ones); a name is looked for only up to this length.
const DIVISION_NAME_CHARS_MAX: usize = 16;

/// Full-width forms to ASCII, ASCII letters to lower case, bracketed notes removed.
fn plain_chars(detail: &str) -> Vec<char> {
    let mut out = Vec::with_capacity(detail.len());
    let mut depth = 0usize;
    for c in detail.chars() {
        let c = half_width(c).to_ascii_lowercase();
        match c {
            '(' | '[' | '{' | '<' | '【' | '〔' | '《' | '〈' | '「' | '『' => depth += 1,
            // A closing bracket without its opening one falls through: a stray separator.
            ')' | ']' | '}' | '>' | '】' | '〕' | '》' | '〉' | '」' | '』' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

fn half_width(c: char) -> char {
    match c {
        '\u{3000}' => ' ',
        '\u{ff01}'..='\u{ff5e}' => char::from_u32(c as u32 - 0xfee0).unwrap_or(c),
        _ => c,
    }
}

fn is_separator(c: char) -> bool {
    !c.is_alphanumeric()
}

/// Whether a name from the table is written in full or without its level word (杭州 for 杭州市).
#[derive(Clone, Copy, PartialEq, Eq)]
enum NameForm {
    Full,
    Short,
}

/// Every division name of the table, full and short; looked up (up to
/// [`DIVISION_NAME_CHARS_MAX`] times per name at the front of a detail), never iterated.
fn division_names() -> &'static HashMap<String, NameForm> {
    static NAMES: OnceLock<HashMap<String, NameForm>> = OnceLock::new();
    NAMES.get_or_init(|| {
        const LEVEL_WORDS: &[&str] = &["特别行政区", "自治区", "自治州", "自治县", "省", "市", "区", "县"];
        let mut names = HashMap::new();
        for division in divisions().values() {
            let name = division.name.as_str();
            if name.chars().count() < 2 {
                continue;
            }
            names.insert(name.to_string(), NameForm::Full);
            let short = LEVEL_WORDS.iter().find_map(|word| name.strip_suffix(word));
            if let Some(short) = short.filter(|s| s.chars().count() >= 2) {
                names.entry(short.to_string()).or_insert(NameForm::Short);
            }
        }
        names
    })
}

/// The longest division name at the start of `text` (after separators), with the number of
/// characters it and the separators before it take.
fn division_name_at(text: &[char]) -> Option<(usize, NameForm)> {
    let skipped = text.iter().take_while(|c| is_separator(**c)).count();
    let names = division_names();
    let mut candidate = String::new();
    let mut found = None;
    for (len, c) in text[skipped..].iter().take(DIVISION_NAME_CHARS_MAX).enumerate() {
        candidate.push(*c);
        if let Some(form) = names.get(&candidate) {
            found = Some((skipped + len + 1, *form));
        }
    }
    found
}

/// `text` without its leading division names; the last name removed must be a full one.
fn strip_division_prefix(text: &[char]) -> &[char] {
    let mut at = 0;
    let mut last_full_end = 0;
    for _ in 0..DIVISION_PREFIXES_MAX {
        let Some((len, form)) = division_name_at(&text[at..]) else {
            break;
        };
        at += len;
        if form == NameForm::Full {
            last_full_end = at;
        }
    }
    &text[last_full_end..]
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Number(String),
    Letters(String),
    Text(String),
}

impl Token {
    fn is_atom(&self) -> bool {
        !matches!(self, Token::Text(_))
    }
}

/// Markers that end a number when they follow it; the longest first (号楼 before 号).
const MARKERS_AFTER_NUMBER: &[&str] = &["号楼", "#楼", "单元", "栋", "幢", "座", "号", "室", "房", "#"];

fn tokenize(text: &[char]) -> Vec<Token> {
    let mut tokens: Vec<Token> = Vec::new();
    // Whether only separators or markers came since the last atom: a marker counts as one
    // only there (座 in 星座花园 is a word).
    let mut after_atom = false;
    let mut at = 0;
    while at < text.len() {
        let c = text[at];
        if after_atom && let Some(len) = marker_at(&text[at..]) {
            at += len;
            continue;
        }
        if is_separator(c) {
            at += 1;
            continue;
        }
        let (token, len) = if let Some((number, len)) = number_at(&text[at..]) {
            (Token::Number(number), len)
        } else if c.is_ascii_lowercase() {
            let len = text[at..].iter().take_while(|c| c.is_ascii_lowercase()).count();
            (Token::Letters(text[at..at + len].iter().collect()), len)
        } else {
            (Token::Text(c.to_string()), 1)
        };
        at += len;
        after_atom = token.is_atom();
        push_token(&mut tokens, token);
    }
    tokens
}

/// Adds a token, joining adjacent texts (a space inside a name changes nothing).
fn push_token(tokens: &mut Vec<Token>, token: Token) {
    if let (Some(Token::Text(last)), Token::Text(next)) = (tokens.last_mut(), &token) {
        last.push_str(next);
        return;
    }
    tokens.push(token);
}

fn marker_at(text: &[char]) -> Option<usize> {
    MARKERS_AFTER_NUMBER.iter().find_map(|marker| {
        let len = marker.chars().count();
        (text.len() >= len && text[..len].iter().copied().eq(marker.chars())).then_some(len)
    })
}

fn chinese_digit(c: char) -> Option<u64> {
    Some(match c {
        '零' | '〇' => 0,
        '一' => 1,
        '二' | '两' => 2,
        '三' => 3,
        '四' => 4,
        '五' => 5,
        '六' => 6,
        '七' => 7,
        '八' => 8,
        '九' => 9,
        _ => return None,
    })
}

fn chinese_unit(c: char) -> Option<u64> {
    Some(match c {
        '十' => 10,
        '百' => 100,
        '千' => 1000,
        _ => return None,
    })
}

/// A number at the start of `text` (ASCII digits, or a run of Chinese numerals), as digits
/// without leading zeros, with the characters it takes.
fn number_at(text: &[char]) -> Option<(String, usize)> {
    let ascii = text.iter().take_while(|c| c.is_ascii_digit()).count();
    if ascii > 0 {
        return Some((without_leading_zeros(text[..ascii].iter().collect()), ascii));
    }
    let len = text
        .iter()
        .take_while(|c| chinese_digit(**c).is_some() || chinese_unit(**c).is_some())
        .count();
    if len == 0 {
        return None;
    }
    let run = &text[..len];
    let digits = if run.iter().any(|c| chinese_unit(*c).is_some()) {
        positional_value(run).to_string()
    } else {
        run.iter()
            .filter_map(|c| chinese_digit(*c))
            .map(|d| char::from(b'0' + d as u8))
            .collect()
    };
    Some((without_leading_zeros(digits), len))
}

/// 十二 = 12, 二十 = 20, 一百零一 = 101, 两千 = 2000 (a leading 十 is 一十).
fn positional_value(run: &[char]) -> u64 {
    let mut total = 0u64;
    let mut digit = None;
    for c in run {
        if let Some(d) = chinese_digit(*c) {
            digit = Some(d);
        } else if let Some(unit) = chinese_unit(*c) {
            total = total.saturating_add(digit.unwrap_or(1).saturating_mul(unit));
            digit = None;
        }
    }
    total.saturating_add(digit.unwrap_or(0))
}

fn without_leading_zeros(digits: String) -> String {
    let trimmed = digits.trim_start_matches('0');
    if trimmed.is_empty() {
        "0".to_string()
    } else {
        trimmed.to_string()
    }
}

/// What a road's name ends with (中山路, 学府街, 滨江大道, 幸福巷, 三里弄, 南锣鼓巷胡同).
const ROAD_SUFFIXES: &[char] = &['路', '街', '道', '巷', '弄', '同'];

/// Drops the estate's name between the road number and the building (科技路88号阳光花园3栋 =
/// 科技路88号3栋): the road number already names the compound.
fn drop_estate_name(tokens: &mut Vec<Token>) {
    let road = tokens.windows(4).position(|w| match w {
        [Token::Text(road), Token::Number(_), Token::Text(_), next] => road.ends_with(ROAD_SUFFIXES) && next.is_atom(),
        _ => false,
    });
    if let Some(at) = road {
        tokens.remove(at + 2);
    }
}

/// Drops a floor that the room number repeats (16楼1602 = 1602); a floor the room does not
/// start with (3楼501) is kept, as it may be what tells two flats apart.
fn drop_floor_the_room_repeats(tokens: &mut Vec<Token>) {
    let floor = tokens.windows(3).position(|w| match w {
        [Token::Number(floor), Token::Text(word), Token::Number(room)] => {
            word == "楼" && room.len() > floor.len() && room.starts_with(floor.as_str())
        }
        _ => false,
    });
    if let Some(at) = floor {
        tokens.drain(at..at + 2);
    }
}

/// Drops courier notes and random letters after the last number (see the module doc).
fn drop_trailing_noise(tokens: &mut Vec<Token>) {
    loop {
        let before_last = tokens.len().checked_sub(2).map(|i| &tokens[i]);
        let noise = match (before_last, tokens.last()) {
            (Some(Token::Number(_)), Some(Token::Letters(_))) => true,
            (Some(Token::Text(note)), Some(Token::Letters(_))) => is_courier_note(note),
            (Some(previous), Some(Token::Text(text))) if previous.is_atom() => is_courier_note(text),
            _ => false,
        };
        if !noise {
            return;
        }
        tokens.pop();
    }
}

/// A text made only of courier notes (收, 放门口谢谢, …).
fn is_courier_note(text: &str) -> bool {
    let mut rest = text;
    while !rest.is_empty() {
        match COURIER_NOTES.iter().find_map(|note| rest.strip_prefix(note)) {
            Some(shorter) => rest = shorter,
            None => return false,
        }
    }
    true
}

fn render(tokens: &[Token]) -> String {
    let mut out = String::new();
    let mut previous_was_atom = false;
    for token in tokens {
        if token.is_atom() && previous_was_atom {
            out.push('-');
        }
        match token {
            Token::Number(s) | Token::Letters(s) | Token::Text(s) => out.push_str(s),
        }
        previous_was_atom = token.is_atom();
    }
    out
}

/// 64-bit FNV-1a, written out so that a key never depends on a library's or a process's hash
/// seed.
struct Fnv1a(u64);

impl Fnv1a {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    fn new() -> Fnv1a {
        Fnv1a(Self::OFFSET_BASIS)
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 ^ u64::from(*byte)).wrapping_mul(Self::PRIME);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_published_test_vectors() {
        for (input, expected) in [
            ("", 0xcbf2_9ce4_8422_2325u64),
            ("a", 0xaf63_dc4c_8601_ec8c),
            ("foobar", 0x8594_4171_f739_67e8),
        ] {
            let mut hash = Fnv1a::new();
            hash.write(input.as_bytes());
            assert_eq!(hash.finish(), expected, "{input:?}");
        }
    }

    #[test]
    fn positional_numerals_read_as_their_value() {
        for (text, value) in [
            ("十", 10),
            ("十二", 12),
            ("二十", 20),
            ("二十三", 23),
            ("一百零一", 101),
            ("两千", 2000),
        ] {
            let run: Vec<char> = text.chars().collect();
            assert_eq!(positional_value(&run), value, "{text}");
        }
    }
}
