//! Which of the context's product titles a message names, best first.
//!
//! A title is named by its nouns — a bilingual glossary of common product nouns (so "the
//! earphones" finds "蓝牙耳机 Pro"), and otherwise the words and character bigrams the title
//! shares with the message — and told apart from its siblings by colour and size (黑色/black,
//! XL, 42码). When no title's noun is named, a colour or size alone names the titles that have
//! it ("换成黑色的": the black sibling).

use crate::understand::features::features;
use regex::Regex;
use std::sync::LazyLock;

/// Product nouns, one concept a row, Chinese and English. Longer names are matched first, so
/// 手机壳 is a phone case and not a phone.
const GLOSSARY: &[&[&str]] = &[
    &["空气炸锅", "air fryer", "airfryer"],
    &["锅", "pan", "pot", "wok"],
    &["碗", "bowl"],
    &["蓝牙", "bluetooth", "wireless"],
    &["运动", "sport", "sports"],
    &["耳机", "耳麦", "earphone", "earbud", "headphone", "headset", "airpods"],
    &["手机壳", "保护壳", "phone case", "phone cover"],
    &["手机", "phone", "smartphone"],
    &["充电器", "充电头", "charger", "adapter"],
    &["数据线", "充电线", "cable"],
    &["充电宝", "移动电源", "power bank", "powerbank"],
    &["鞋", "shoe", "sneaker", "trainer", "boots"],
    &["t恤", "短袖", "t-shirt", "tshirt", "tee"],
    &["衬衫", "shirt", "blouse"],
    &["裤", "pants", "trousers", "jeans", "shorts"],
    &["裙", "dress", "skirt"],
    &["卫衣", "hoodie", "sweatshirt"],
    &["毛衣", "针织衫", "sweater", "jumper", "cardigan"],
    &["羽绒服", "down jacket", "puffer"],
    &["外套", "夹克", "jacket", "coat"],
    &["袜", "sock"],
    &["帽", "hat", "cap", "beanie"],
    &["背包", "书包", "双肩包", "backpack"],
    &["包包", "手提包", "挎包", "handbag", "bag", "purse"],
    &["杯", "cup", "mug", "tumbler", "flask", "thermos"],
    &["手表", "watch", "smartwatch"],
    &["键盘", "keyboard"],
    &["鼠标", "mouse"],
    &["音箱", "音响", "speaker"],
    &["平板", "tablet", "ipad"],
    &["电脑", "laptop", "computer", "notebook"],
    &["口红", "唇膏", "lipstick"],
    &["面膜", "face mask", "sheet mask"],
    &["洗面奶", "cleanser", "face wash"],
    &["零食", "snack"],
    &["茶", "tea"],
    &["咖啡", "coffee"],
    &["枕头", "pillow"],
    &["被子", "毯子", "blanket", "quilt", "duvet"],
    &["毛巾", "towel"],
    &["伞", "umbrella"],
    &["眼镜", "glasses", "sunglasses"],
    &["玩具", "toy"],
    &["台灯", "灯", "lamp"],
    &["风扇", "fan"],
];

/// Colours, one a row: the words that name it in titles and in messages.
const COLOURS: &[&[&str]] = &[
    &["黑色", "黑的", "black"],
    &["白色", "白的", "white"],
    &["红色", "红的", "red"],
    &["蓝色", "蓝的", "blue"],
    &["粉色", "粉红", "粉的", "pink"],
    &["灰色", "灰的", "grey", "gray"],
    &["绿色", "绿的", "green"],
    &["黄色", "黄的", "yellow"],
    &["紫色", "紫的", "purple"],
    &["银色", "银的", "silver"],
    &["金色", "金的", "gold"],
    &["米色", "米白", "beige"],
    &["棕色", "咖啡色", "brown"],
    &["橙色", "orange"],
    &["藏青", "navy"],
];

static SIZE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:^|[^a-z0-9])(xxs|xs|s|m|l|xl|xxl|xxxl|[2-5]xl)(?:$|[^a-z0-9])|([0-9]{2})\s*码|size\s*([0-9]{2})")
        .expect("the size pattern is valid")
});

/// What a text says about a product.
struct Named {
    concepts: Vec<usize>,
    colours: Vec<usize>,
    sizes: Vec<String>,
    features: Vec<String>,
}

/// The titles named by a normalised message, best first, as indexes into `titles`.
#[cfg(test)]
pub fn products(text: &str, titles: &[&str]) -> Vec<usize> {
    scored_products(text, titles)
        .into_iter()
        .map(|(index, _)| index)
        .collect()
}

/// [`products`] with each title's score: titles with the best score are named equally well.
pub fn scored_products(text: &str, titles: &[&str]) -> Vec<(usize, i64)> {
    let message = named(text);
    let mut scored: Vec<(usize, i64, bool)> = titles
        .iter()
        .enumerate()
        .map(|(index, title)| {
            let title = named(&title.to_lowercase());
            let nouns = shared(&message.concepts, &title.concepts) * 3 + shared(&message.features, &title.features);
            let attributes = attribute_score(&message, &title);
            (index, nouns * 100 + attributes, nouns > 0)
        })
        .collect();
    let by_noun = scored.iter().any(|(_, _, noun)| *noun);
    scored.retain(|(_, score, noun)| if by_noun { *noun } else { *score > 0 });
    scored.sort_by_key(|(index, score, _)| (-score, *index));
    scored.into_iter().map(|(index, score, _)| (index, score)).collect()
}

/// The colours (by their first name in the table) and sizes a text names: what tells one SKU of
/// a product from another.
pub fn attributes(text: &str) -> Vec<String> {
    let named = named(&text.to_lowercase());
    let mut attributes: Vec<String> = named.colours.iter().map(|&row| COLOURS[row][0].to_string()).collect();
    attributes.extend(named.sizes);
    attributes
}

/// +10 for each colour or size in common, −10 for a colour or size the message names that the
/// title contradicts.
fn attribute_score(message: &Named, title: &Named) -> i64 {
    let colour = shared(&message.colours, &title.colours);
    let size = shared(&message.sizes, &title.sizes);
    let contradicts = |m: usize, t: usize, common: i64| i64::from(m > 0 && t > 0 && common == 0);
    let wrong = contradicts(message.colours.len(), title.colours.len(), colour)
        + contradicts(message.sizes.len(), title.sizes.len(), size);
    (colour + size - wrong) * 10
}

fn shared<T: PartialEq>(a: &[T], b: &[T]) -> i64 {
    a.iter().filter(|x| b.contains(x)).count() as i64
}

fn named(text: &str) -> Named {
    let (concepts, rest) = found(text, &GLOSSARY_NAMES);
    let (colours, rest) = found(&rest, &COLOUR_NAMES);
    let sizes: Vec<String> = SIZE
        .captures_iter(&rest)
        .filter_map(|c| c.iter().skip(1).flatten().next().map(|m| m.as_str().to_string()))
        .collect();
    let rest = SIZE.replace_all(&rest, " ");
    let features = features(&rest)
        .into_iter()
        .filter(|f| f != "n" && !is_size_word(f))
        .collect();
    Named {
        concepts,
        colours,
        sizes,
        features,
    }
}

fn is_size_word(feature: &str) -> bool {
    feature
        .strip_prefix("e:")
        .is_some_and(|w| SIZE.is_match(w) || w.len() <= 1)
}

static GLOSSARY_NAMES: LazyLock<Vec<(&str, usize)>> = LazyLock::new(|| longest_first(GLOSSARY));
static COLOUR_NAMES: LazyLock<Vec<(&str, usize)>> = LazyLock::new(|| longest_first(COLOURS));

/// Every name of a table with its row, longest first.
fn longest_first(table: &[&'static [&'static str]]) -> Vec<(&'static str, usize)> {
    let mut names: Vec<(&str, usize)> = table
        .iter()
        .enumerate()
        .flat_map(|(row, names)| names.iter().map(move |name| (*name, row)))
        .collect();
    names.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
    names
}

/// The rows named in `text`, and the text with the names found blanked out (so a shorter
/// name cannot be found inside a longer one, nor count again as a word of the title).
fn found(text: &str, names: &[(&str, usize)]) -> (Vec<usize>, String) {
    let mut rest = text.to_string();
    let mut rows = Vec::new();
    for (name, row) in names {
        while let Some((at, len)) = find_word(&rest, name) {
            rest.replace_range(at..at + len, &" ".repeat(len));
            if !rows.contains(row) {
                rows.push(*row);
            }
        }
    }
    (rows, rest)
}

/// Where `name` occurs in `text` and how long it is there; an English name only as a word,
/// its plural included.
fn find_word(text: &str, name: &str) -> Option<(usize, usize)> {
    if !name.is_ascii() {
        return text.find(name).map(|at| (at, name.len()));
    }
    text.match_indices(name).find_map(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = &text[at + name.len()..];
        let plural = ["es", "s"]
            .into_iter()
            .find(|s| after.starts_with(s))
            .map_or(0, str::len);
        let after = &after[plural..];
        let whole =
            !before.is_some_and(|c| c.is_ascii_alphabetic()) && !after.starts_with(|c: char| c.is_ascii_alphabetic());
        whole.then_some((at, name.len() + plural))
    })
}

#[cfg(test)]
mod tests {
    use super::products;

    const TITLES: [&str; 7] = [
        "蓝牙耳机 Pro 黑色",
        "蓝牙耳机 Pro 白色",
        "纯棉T恤 白色 XL",
        "纯棉T恤 白色 L",
        "Wireless earbuds",
        "跑步鞋 42码",
        "手机壳 透明",
    ];

    #[test]
    fn the_earphones_find_the_bluetooth_earphones_line() {
        let found = products("where are the earphones", &TITLES);
        assert_eq!(found, [0, 1, 4]);
        assert_eq!(products("我的耳机到哪了", &TITLES), [0, 1, 4]);
    }

    #[test]
    fn a_text_names_its_colours_and_sizes_by_one_name_each() {
        assert_eq!(super::attributes("换成黑的 L码"), ["黑色", "l"]);
        assert_eq!(super::attributes("the white XL tees"), ["白色", "xl"]);
        assert_eq!(super::attributes("T恤那个"), Vec::<String>::new());
    }

    #[test]
    fn wireless_and_bluetooth_name_the_same_goods() {
        assert_eq!(products("the wireless ones", &TITLES), [0, 1, 4]);
    }

    #[test]
    fn a_colour_picks_the_sibling_of_that_colour_first() {
        assert_eq!(products("黑色的耳机", &TITLES)[0], 0);
        assert_eq!(products("the white earphones", &TITLES)[0], 1);
    }

    #[test]
    fn a_colour_alone_names_the_titles_of_that_colour() {
        assert_eq!(products("换成黑色的", &TITLES), [0]);
    }

    #[test]
    fn a_size_picks_the_sibling_of_that_size_first() {
        assert_eq!(products("t恤换成l码", &TITLES)[0], 3);
        assert_eq!(products("the tee in xl", &TITLES)[0], 2);
        assert_eq!(products("鞋子42码", &TITLES), [5]);
    }

    #[test]
    fn a_phone_case_is_not_a_phone_and_a_message_about_nothing_names_nothing() {
        assert_eq!(products("手机壳裂了", &TITLES), [6]);
        assert_eq!(products("我要退款", &TITLES), Vec::<usize>::new());
        assert_eq!(products("where is my order 12", &TITLES), Vec::<usize>::new());
    }

    #[test]
    fn the_words_of_a_title_name_it_without_the_glossary() {
        assert_eq!(products("纯棉的那件", &TITLES)[..2], [2, 3]);
        assert_eq!(products("the pro ones", &TITLES), [0, 1]);
    }
}
