//! Understanding one message: its language, what the buyer wants (the intent) and the details
//! given (the slots). The dialogue decides what to do with it; nothing here knows a
//! conversation or the buyer's orders beyond the product titles it is handed to recognise.

mod classifier;
mod features;
mod normalise;
mod rules;
mod segment;
mod slots;
#[cfg(test)]
mod tests;

pub use normalise::normalise;
pub use slots::attributes;

use miaodan_domain::after_sales::Reason;
use miaodan_domain::geo::Adcode;
use miaodan_domain::time::shanghai::LocalDate;
use normalise::is_han;

/// The language a message is written in; the answer is in the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    pub const fn as_str(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }
}

/// What a buyer wants from a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    /// Where is my order / parcel (查物流, 到哪了).
    Track,
    /// When will it arrive, can it arrive today (什么时候到, 今天能到吗).
    Arrival,
    /// Deliver somewhere else (改地址).
    ChangeAddress,
    /// Cancel an order (取消订单).
    Cancel,
    /// Money back without sending anything back (仅退款).
    RefundOnly,
    /// Send it back, money back (退货退款).
    ReturnRefund,
    /// Another size or colour instead (换货).
    Exchange,
    /// What happened to my payment (付款/扣款).
    Payment,
    /// Where is my refund (退款到哪了).
    RefundStatus,
    /// Flash-sale questions: stock left, "limit reached", when it starts (秒杀).
    FlashSale,
    /// Coupons and points (优惠券, 积分).
    Coupons,
    Greeting,
    Thanks,
    Goodbye,
    /// The buyer asks for a person (转人工).
    Human,
    /// Yes, go ahead (好的, 确认).
    Affirm,
    /// No, stop (不用了, 算了).
    Deny,
    /// Nothing the assistant understands.
    Unknown,
}

impl Intent {
    pub const ALL: [Intent; 18] = [
        Intent::Track,
        Intent::Arrival,
        Intent::ChangeAddress,
        Intent::Cancel,
        Intent::RefundOnly,
        Intent::ReturnRefund,
        Intent::Exchange,
        Intent::Payment,
        Intent::RefundStatus,
        Intent::FlashSale,
        Intent::Coupons,
        Intent::Greeting,
        Intent::Thanks,
        Intent::Goodbye,
        Intent::Human,
        Intent::Affirm,
        Intent::Deny,
        Intent::Unknown,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Intent::Track => "track",
            Intent::Arrival => "arrival",
            Intent::ChangeAddress => "change_address",
            Intent::Cancel => "cancel",
            Intent::RefundOnly => "refund_only",
            Intent::ReturnRefund => "return_refund",
            Intent::Exchange => "exchange",
            Intent::Payment => "payment",
            Intent::RefundStatus => "refund_status",
            Intent::FlashSale => "flash_sale",
            Intent::Coupons => "coupons",
            Intent::Greeting => "greeting",
            Intent::Thanks => "thanks",
            Intent::Goodbye => "goodbye",
            Intent::Human => "human",
            Intent::Affirm => "affirm",
            Intent::Deny => "deny",
            Intent::Unknown => "unknown",
        }
    }

    pub fn parse(text: &str) -> Option<Intent> {
        Intent::ALL.into_iter().find(|i| i.as_str() == text)
    }
}

/// What the message is read against: today's date (for 前天, last Tuesday) and the titles of
/// the products the buyer may name (their orders' lines, the other SKUs of those products,
/// the flash sales on now).
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    pub today: LocalDate,
    pub products: &'a [&'a str],
}

/// A span of days, both ends included (前天 is one day; 上周 is seven).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DaySpan {
    pub from: LocalDate,
    pub to: LocalDate,
}

/// An address as the buyer wrote it, found in the reference divisions: the most precise
/// division named, and the rest (street, number, building) as detail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpokenAddress {
    pub adcode: Adcode,
    pub detail: String,
}

/// The details a message gives. Every field is empty when the message does not say it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Slots {
    /// Order ids named (`#12`, `订单12`, `order 12`, `12号订单`).
    pub order_ids: Vec<i64>,
    /// The day or days named (昨天, 前天, 上周, 下周二, yesterday, last week).
    pub days: Option<DaySpan>,
    /// Indexes into [`Context::products`] of the products named, best match first.
    pub products: Vec<usize>,
    /// How many of the first `products` are named equally well (the best match, or a tie
    /// between them: "耳机" names two pairs of earphones alike).
    pub products_best: usize,
    /// The colours and sizes the message names (黑色, xl): what tells SKUs of a product apart.
    pub attributes: Vec<String>,
    /// "The second one" (第二个, 2nd, 2 alone), counting from 1.
    pub ordinal: Option<u8>,
    /// A quantity of units (两件, 2 pieces).
    pub quantity: Option<i64>,
    /// Why the buyer wants money back (坏了 → arrived damaged, 尺码不对 → wrong size).
    pub reason: Option<Reason>,
    pub address: Option<SpokenAddress>,
    /// The buyer asks about today (今天能到吗, today).
    pub today: bool,
    /// The message tries to change the assistant's rules (忽略规则, ignore your instructions).
    pub injection: bool,
}

/// One message, understood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Understanding {
    pub lang: Lang,
    pub intent: Intent,
    /// How sure the classifier is, 0–1000.
    pub confidence_permille: u16,
    pub slots: Slots,
}

/// The characters of a message that are read; the rest is ignored. A chat message longer
/// than this is pasted text, and reading it whole would only cost time.
pub const MESSAGE_CHARS_MAX: usize = 1000;

/// Reads one message: normalised (see [`normalise`]), its language, its intent — by a rule
/// where one is clearer (a person asked for, a bare yes or no), else by the classifier — and
/// its slots.
pub fn understand(text: &str, context: &Context<'_>) -> Understanding {
    let text = match text.char_indices().nth(MESSAGE_CHARS_MAX) {
        Some((end, _)) => &text[..end],
        None => text,
    };
    let normal = normalise(text);
    let lang = if normal.chars().any(is_han) { Lang::Zh } else { Lang::En };
    let (intent, confidence_permille) = intent_of(&normal);
    Understanding {
        lang,
        intent,
        confidence_permille,
        slots: slots::read(&normal, text, context),
    }
}

/// The intent of a normalised message and how sure it is, in permille.
fn intent_of(normal: &str) -> (Intent, u16) {
    if !normal.chars().any(|c| c.is_alphabetic()) {
        // A bare number, or nothing: an answer the dialogue reads from the slots.
        return (Intent::Unknown, 0);
    }
    if let Some(intent) = rules::ruled_intent(normal) {
        return (intent, 1000);
    }
    let prediction = classifier::classify(normal);
    if prediction.confidence_permille < classifier::CONFIDENCE_MIN_PERMILLE {
        return (Intent::Unknown, prediction.confidence_permille);
    }
    (prediction.intent, prediction.confidence_permille)
}
