//! The assistant's words, in Chinese and English: fixed sentences, and how it names times,
//! money, states and kinds.

use crate::understand::Lang;
use miaodan_domain::after_sales::{Reason, RequestKind};
use miaodan_domain::fulfillment::ServiceLevel;
use miaodan_domain::logistics::ShipmentState;
use miaodan_domain::orders::OrderState;
use miaodan_domain::time::shanghai::{self, LocalDate};
use miaodan_domain::{Fen, Timestamp};

pub fn pick(lang: Lang, zh: &'static str, en: &'static str) -> &'static str {
    match lang {
        Lang::Zh => zh,
        Lang::En => en,
    }
}

/// The Chinese or the English of a formatted sentence.
pub fn either(lang: Lang, zh: impl FnOnce() -> String, en: impl FnOnce() -> String) -> String {
    match lang {
        Lang::Zh => zh(),
        Lang::En => en(),
    }
}

pub const INJECTION_ZH: &str = "我只能按平台规则处理你自己的订单，不能更改规则或金额，刚才的消息没有改变任何东西。需要查物流、退款或退货的话，直接告诉我订单就好。";
pub const INJECTION_EN: &str = "I can only act on your own orders, by the platform's rules; I can't change the rules or the amounts, and that message changed nothing. If you want to track, refund or return an order, just tell me which.";
pub const HANDED_OVER_ZH: &str = "已为你转接商家人工客服，对话记录和你的问题都已转交，客服会在这里回复你。";
pub const HANDED_OVER_EN: &str =
    "I've passed this conversation to a person from the shop, with everything you told me. They will answer you here.";
pub const STILL_HANDED_OVER_ZH: &str = "人工客服已收到这段对话，会尽快在这里回复你。";
pub const STILL_HANDED_OVER_EN: &str = "A person from the shop has this conversation and will answer you here soon.";
pub const NOT_UNDERSTOOD_ZH: &str =
    "抱歉，我没太明白。你可以说“我的订单到哪了”“改地址”“取消订单”“退货退款”，或者说“转人工”。";
pub const NOT_UNDERSTOOD_EN: &str = "Sorry, I didn't quite get that. You can say \"where is my order\", \"change the address\", \"cancel my order\", \"return it\" — or \"talk to a person\".";
pub const DROPPED_ZH: &str = "好的，不办了，什么都没有改变。还有什么可以帮你？";
pub const DROPPED_EN: &str = "OK, I won't do it; nothing changed. Anything else?";

/// An instant as people in China read it: Beijing time, to the minute.
pub fn at(lang: Lang, instant: Timestamp) -> String {
    let (_, month, day) = LocalDate::of(instant).ymd();
    let minute = shanghai::local_minute(instant);
    let (h, m) = (minute / 60, minute % 60);
    either(
        lang,
        || format!("{month}月{day}日 {h:02}:{m:02}"),
        || {
            format!(
                "{} {day}, {h:02}:{m:02}",
                MONTHS[(month as usize).saturating_sub(1) % 12]
            )
        },
    )
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

pub fn yuan(amount: Fen) -> String {
    let fen = amount.get();
    format!("¥{}.{:02}", fen / 100, fen % 100)
}

pub fn order_state(lang: Lang, state: OrderState) -> &'static str {
    match state {
        OrderState::PendingPayment => pick(lang, "待付款", "awaiting payment"),
        OrderState::Paid => pick(lang, "已付款，仓库备货中", "paid, being packed"),
        OrderState::Shipped => pick(lang, "已发货", "shipped"),
        OrderState::Delivered => pick(lang, "已签收", "delivered"),
        OrderState::Cancelled => pick(lang, "已取消", "cancelled"),
    }
}

pub fn parcel_state(lang: Lang, state: ShipmentState) -> &'static str {
    match state {
        ShipmentState::Created => pick(lang, "已打包，等待快递揽收", "packed, waiting for the carrier"),
        ShipmentState::PickedUp => pick(lang, "快递已揽收", "collected by the carrier"),
        ShipmentState::Departed => pick(lang, "已从发货地发出", "left the origin hub"),
        ShipmentState::InTransit => pick(lang, "运输中", "in transit"),
        ShipmentState::OutForDelivery => pick(lang, "派送中", "out for delivery"),
        ShipmentState::Delivered => pick(lang, "已签收", "delivered"),
        ShipmentState::Exception => pick(lang, "运输异常", "held up by a problem on the way"),
        ShipmentState::Returned => pick(lang, "已退回仓库", "returned to the warehouse"),
    }
}

pub fn kind(lang: Lang, kind: RequestKind) -> &'static str {
    match kind {
        RequestKind::CancelBeforeShipment => pick(lang, "取消订单", "cancel the order"),
        RequestKind::RefundOnly => pick(lang, "仅退款", "refund only"),
        RequestKind::ReturnAndRefund => pick(lang, "退货退款", "return and refund"),
        RequestKind::Exchange => pick(lang, "换货", "exchange"),
        RequestKind::ChangeAddress => pick(lang, "修改收货地址", "change the address"),
    }
}

pub fn reason(lang: Lang, reason: Reason) -> &'static str {
    match reason {
        Reason::NoReason => pick(lang, "七天无理由", "no reason (7-day return)"),
        Reason::ChangedMind => pick(lang, "不想要了", "changed my mind"),
        Reason::Lost => pick(lang, "快递丢件", "lost by the carrier"),
        Reason::NeverArrived => pick(lang, "一直没收到", "never arrived"),
        Reason::ArrivedDamaged => pick(lang, "收到时已损坏", "arrived damaged"),
        Reason::QualityIssue => pick(lang, "质量问题", "quality issue"),
        Reason::NotAsDescribed => pick(lang, "与描述不符", "not as described"),
        Reason::WrongItem => pick(lang, "发错货", "wrong item"),
        Reason::WrongSize => pick(lang, "尺码不合适", "wrong size"),
        Reason::WrongAddress => pick(lang, "地址填错了", "wrong address"),
    }
}

pub fn service_level(lang: Lang, level: ServiceLevel) -> &'static str {
    match level {
        ServiceLevel::OneHour => pick(lang, "小时达", "1-hour delivery"),
        ServiceLevel::SameDay => pick(lang, "当日达", "same-day"),
        ServiceLevel::NextDay => pick(lang, "次日达", "next-day"),
        ServiceLevel::Standard => pick(lang, "标准快递", "standard"),
    }
}
