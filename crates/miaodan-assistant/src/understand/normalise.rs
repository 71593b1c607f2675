//! A buyer's message made regular before it is read: half-width letters, digits and
//! punctuation, ASCII lower case, one space between words, the common typos and homophones of
//! buyers' Chinese corrected, a few traditional characters simplified, and emoji dropped — but
//! 👍 and 👌 kept as "ok", since buyers answer a confirmation with them.
//!
//! Invariant: only ASCII letters change case, so the text keeps its meaning for the slots
//! (an address's detail, a size such as `XL`, compared in lower case on both sides).

/// Typos and homophones, each replaced only where the wrong form has no other meaning a buyer
/// would write: 取笑 (to mock) is corrected only before 订单 or a measure word of orders.
const TYPOS: &[(&str, &str)] = &[
    ("退宽", "退款"),
    ("退欵", "退款"),
    ("推款", "退款"),
    ("退获", "退货"),
    ("退或", "退货"),
    ("换获", "换货"),
    ("物留", "物流"),
    ("物硫", "物流"),
    ("快地", "快递"),
    ("快第", "快递"),
    ("地只", "地址"),
    ("地扯", "地址"),
    ("收获地址", "收货地址"),
    ("取笑订单", "取消订单"),
    ("取笑这单", "取消这单"),
    ("取笑掉", "取消掉"),
    ("订但", "订单"),
    ("定单", "订单"),
    ("优惠卷", "优惠券"),
    ("优慧券", "优惠券"),
    ("积份", "积分"),
    ("秒煞", "秒杀"),
    ("付欵", "付款"),
    ("发获", "发货"),
    ("到那了", "到哪了"),
    ("到那里了", "到哪里了"),
    ("什么时侯", "什么时候"),
    ("神马时候", "什么时候"),
    ("人公", "人工"),
    ("转人供", "转人工"),
    ("谢拉", "谢啦"),
    ("在麼", "在吗"),
];

/// English misspellings buyers type on a phone, word for word.
const ENGLISH_TYPOS: &[(&str, &str)] = &[
    ("odrer", "order"),
    ("ordr", "order"),
    ("oder", "order"),
    ("orde", "order"),
    ("recieve", "receive"),
    ("recieved", "received"),
    ("refnd", "refund"),
    ("refun", "refund"),
    ("reimburse", "refund"),
    ("adress", "address"),
    ("addres", "address"),
    ("adresse", "address"),
    ("cancle", "cancel"),
    ("cancell", "cancel"),
    ("cancelation", "cancellation"),
    ("delivry", "delivery"),
    ("deliverd", "delivered"),
    ("pakage", "package"),
    ("packge", "package"),
    ("parcle", "parcel"),
    ("shiped", "shipped"),
    ("wher", "where"),
    ("whre", "where"),
    ("pls", "please"),
    ("plz", "please"),
    ("thx", "thanks"),
    ("thanx", "thanks"),
    ("ty", "thanks"),
    ("u", "you"),
    ("ur", "your"),
    ("r", "are"),
    ("exchnage", "exchange"),
    ("excange", "exchange"),
    ("coupn", "coupon"),
    ("cupon", "coupon"),
    ("paymnet", "payment"),
    ("retrun", "return"),
    ("retun", "return"),
    ("yess", "yes"),
    ("yup", "yep"),
    ("okey", "ok"),
    ("okay", "ok"),
    ("k", "ok"),
];

/// Traditional characters buyers from Hong Kong and Taiwan write in these topics, one to one.
const TRADITIONAL: &[(char, char)] = &[
    ('訂', '订'),
    ('單', '单'),
    ('換', '换'),
    ('貨', '货'),
    ('號', '号'),
    ('費', '费'),
    ('錢', '钱'),
    ('時', '时'),
    ('麼', '么'),
    ('嗎', '吗'),
    ('發', '发'),
    ('運', '运'),
    ('遞', '递'),
    ('這', '这'),
    ('個', '个'),
    ('們', '们'),
    ('還', '还'),
    ('沒', '没'),
    ('給', '给'),
    ('電', '电'),
    ('機', '机'),
    ('殼', '壳'),
    ('顏', '颜'),
    ('買', '买'),
    ('賣', '卖'),
    ('說', '说'),
    ('請', '请'),
    ('問', '问'),
    ('幫', '帮'),
    ('購', '购'),
    ('碼', '码'),
    ('壞', '坏'),
    ('錯', '错'),
    ('質', '质'),
    ('後', '后'),
    ('來', '来'),
    ('為', '为'),
    ('優', '优'),
    ('積', '积'),
    ('謝', '谢'),
    ('轉', '转'),
    ('詢', '询'),
    ('達', '达'),
    ('際', '际'),
    ('處', '处'),
    ('確', '确'),
    ('認', '认'),
    ('隻', '只'),
    ('雙', '双'),
    ('條', '条'),
    ('爛', '烂'),
    ('過', '过'),
    ('張', '张'),
    ('長', '长'),
    ('區', '区'),
    ('東', '东'),
    ('門', '门'),
    ('開', '开'),
    ('關', '关'),
    ('實', '实'),
    ('兩', '两'),
    ('應', '应'),
    ('該', '该'),
    ('紅', '红'),
    ('藍', '蓝'),
    ('綠', '绿'),
    ('黃', '黄'),
    ('廣', '广'),
    ('灣', '湾'),
];

/// Reads `text` into its regular form (see the module's header).
pub fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match regular_char(c) {
            Regular::Char(c) => out.push(c),
            Regular::Text(t) => out.push_str(t),
            Regular::Space => out.push(' '),
            Regular::Dropped => {}
        }
    }
    let mut text = out
        .split_whitespace()
        .map(english_word_corrected)
        .collect::<Vec<_>>()
        .join(" ");
    for (wrong, right) in TYPOS {
        if text.contains(wrong) {
            text = text.replace(wrong, right);
        }
    }
    text
}

/// A word of `ENGLISH_TYPOS` corrected, punctuation around it kept.
fn english_word_corrected(word: &str) -> String {
    let bare = word.trim_matches(|c: char| c.is_ascii_punctuation());
    match ENGLISH_TYPOS.iter().find(|(wrong, _)| *wrong == bare) {
        Some((wrong, right)) => word.replacen(wrong, right, 1),
        None => word.to_string(),
    }
}

enum Regular {
    Char(char),
    Text(&'static str),
    Space,
    Dropped,
}

fn regular_char(c: char) -> Regular {
    match c {
        '👍' | '👌' => Regular::Text(" ok "),
        '\u{3000}' => Regular::Space,
        '。' => Regular::Char('.'),
        '、' => Regular::Char(','),
        '\u{ff01}'..='\u{ff5e}' => {
            let half = char::from_u32(u32::from(c) - 0xfee0).unwrap_or(c);
            Regular::Char(half.to_ascii_lowercase())
        }
        c if c.is_whitespace() => Regular::Space,
        c if is_emoji(c) => Regular::Dropped,
        c => match TRADITIONAL.iter().find(|(t, _)| *t == c) {
            Some((_, simple)) => Regular::Char(*simple),
            None => Regular::Char(c.to_ascii_lowercase()),
        },
    }
}

/// Pictographs, dingbats, variation selectors and joiners: decoration, not words.
fn is_emoji(c: char) -> bool {
    matches!(u32::from(c),
        0x1f000..=0x1faff | 0x2600..=0x27bf | 0xfe00..=0xfe0f | 0x200d | 0x2b50 | 0x2b55)
}

/// Whether `c` is a Chinese character (the CJK unified ideographs and extension A).
pub fn is_han(c: char) -> bool {
    matches!(u32::from(c), 0x4e00..=0x9fff | 0x3400..=0x4dbf)
}

#[cfg(test)]
mod tests {
    use super::normalise;

    #[test]
    fn full_width_letters_digits_and_punctuation_become_half_width_lower_case() {
        assert_eq!(normalise("ＯＲＤＥＲ　＃１２？"), "order #12?");
        assert_eq!(normalise("订单１２，谢谢！"), "订单12,谢谢!");
    }

    #[test]
    fn whitespace_runs_become_one_space() {
        assert_eq!(normalise("  where\t is \n my   order "), "where is my order");
    }

    #[test]
    fn common_typos_and_homophones_are_corrected() {
        assert_eq!(normalise("我要退宽"), "我要退款");
        assert_eq!(normalise("物留到哪了"), "物流到哪了");
        assert_eq!(normalise("快地还没到"), "快递还没到");
        assert_eq!(normalise("改一下地只"), "改一下地址");
        assert_eq!(normalise("帮我取笑订单"), "帮我取消订单");
        assert_eq!(normalise("定单号多少"), "订单号多少");
    }

    #[test]
    fn to_mock_is_left_alone_where_it_is_not_about_an_order() {
        assert_eq!(normalise("你在取笑我吗"), "你在取笑我吗");
    }

    #[test]
    fn english_misspellings_are_corrected_word_for_word() {
        assert_eq!(normalise("wher is my odrer"), "where is my order");
        assert_eq!(normalise("Recieve it ASAP"), "receive it asap");
    }

    #[test]
    fn traditional_characters_are_simplified() {
        assert_eq!(normalise("我的訂單要換貨"), "我的订单要换货");
        assert_eq!(normalise("退貨"), "退货");
    }

    #[test]
    fn emoji_are_dropped_but_thumbs_up_and_ok_hand_read_as_ok() {
        assert_eq!(normalise("到哪了😡😡"), "到哪了");
        assert_eq!(normalise("👍"), "ok");
        assert_eq!(normalise("好的👌"), "好的 ok");
        assert_eq!(normalise("谢谢❤️"), "谢谢");
    }
}
