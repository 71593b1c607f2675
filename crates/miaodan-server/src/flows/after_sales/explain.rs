//! The after-sales decisions and refusals in words, Chinese and English: the API's problems
//! and views, the console and the assistant all tell a buyer the same thing.

use miaodan_domain::Timestamp;
use miaodan_domain::after_sales::Reason;
use miaodan_domain::after_sales::address::AddressRefusal;
use miaodan_domain::after_sales::book::OpenRefusal;
use miaodan_domain::after_sales::commands::AfterSalesRefusal;
use miaodan_domain::after_sales::rules::{Decision, Fired};
use miaodan_domain::shard::Rejection;
use miaodan_domain::time::shanghai::{self, LocalDate};

/// A decision's fired rules, told: `(zh, en)`.
pub fn decision(decision: &Decision) -> Vec<(String, String)> {
    decision.fired.iter().map(fired).map(|(en, zh)| (zh, en)).collect()
}

/// Why a buyer's request was refused, told: `(zh, en)`. The rules' own words when they refused
/// it, an address change's reason; otherwise the refusal's stable code.
pub fn refusal(rejection: &Rejection) -> Vec<(String, String)> {
    match rejection {
        Rejection::AfterSales(AfterSalesRefusal::Open(OpenRefusal::RefusedByRules(refused))) => decision(refused),
        Rejection::AfterSales(AfterSalesRefusal::Address(refusal)) => {
            let (en, zh) = address_refusal(*refusal);
            vec![(zh.to_string(), en.to_string())]
        }
        other => vec![(other.code().to_string(), other.code().to_string())],
    }
}

fn yuan(fen: i64) -> String {
    format!("¥{}.{:02}", fen / 100, fen % 100)
}

/// A fired rule as a buyer and a merchant read it: `(en, zh)`.
pub fn fired(fired: &Fired) -> (String, String) {
    match *fired {
        Fired::NoReasonWindowClosed { closed_at } => {
            let day = last_day(closed_at);
            let en = format!("The no-reason return window ended with {day} (Beijing time).");
            (en, format!("无理由退货期已于北京时间 {day} 结束。"))
        }
        Fired::NoReasonExemptGoods { goods } => (
            format!("These goods ({}) are not covered by no-reason returns.", goods.as_str()),
            format!("该类商品（{}）不适用无理由退货。", goods.as_str()),
        ),
        Fired::AlreadyPickedUp { picked_up_at } => {
            let at = beijing(picked_up_at);
            let en = format!("A carrier has had the parcel since {at} (Beijing time).");
            (en, format!("包裹已于北京时间 {at} 交给快递。"))
        }
        Fired::NotYetDelivered => (
            "The carrier has not delivered the order yet: goods not received cannot be sent back.".to_string(),
            "订单尚未签收，未收到的商品无法退货。".to_string(),
        ),
        Fired::OverAutoApproveCeiling { amount, ceiling } => (
            format!(
                "{} is above the {} the rules approve alone: the merchant decides.",
                yuan(amount.get()),
                yuan(ceiling.get())
            ),
            format!(
                "金额 {} 超过自动同意上限 {}，由商家处理。",
                yuan(amount.get()),
                yuan(ceiling.get())
            ),
        ),
        Fired::BuyerRefundsOften { rate_bps, max_bps } => (
            format!(
                "The buyer's refund rate ({}%) is above {}%: the merchant decides.",
                rate_bps / 100,
                max_bps / 100
            ),
            format!("买家退款率 {}% 高于 {}%，由商家处理。", rate_bps / 100, max_bps / 100),
        ),
        Fired::RiskScoreHigh { score } => (
            format!("The risk score {score} is high: the merchant decides."),
            format!("风险评分 {score} 偏高，由商家处理。"),
        ),
        Fired::NotYetPickedUp => (
            "No carrier has collected the order yet: approved at once.".to_string(),
            "订单尚未揽收，立即同意。".to_string(),
        ),
        Fired::StalledPastPromise { hours_without_movement } => (
            format!("The parcel has not moved for {hours_without_movement} h past its promise: refunded."),
            format!("包裹超过承诺时效且 {hours_without_movement} 小时无物流更新，予以退款。"),
        ),
        Fired::NoReasonReturnInWindow { closes_at } => {
            let day = last_day(closes_at);
            let en = format!("Within the no-reason window (through {day}, Beijing time).");
            (en, format!("在无理由退货期内（至北京时间 {day} 当天结束）。"))
        }
        Fired::ReturnScannedByCarrier { scanned_at } => {
            let at = beijing(scanned_at);
            let en = format!("The carrier scanned the return parcel at {at} (Beijing time).");
            (en, format!("退货包裹已于北京时间 {at} 被快递揽收。"))
        }
        Fired::ExchangeForFault { reason } => exchange_for_fault(reason),
    }
}

fn exchange_for_fault(reason: Reason) -> (String, String) {
    let reason = reason.as_str();
    (
        format!("An exchange of delivered goods ({reason}): approved; the replacement leaves once the goods are back."),
        format!("已签收商品换货（{reason}），予以同意；退货收到后即发新货。"),
    )
}

/// An instant as people in China read it: Beijing time, to the minute.
fn beijing(at: Timestamp) -> String {
    let minute = shanghai::local_minute(at);
    format!("{} {:02}:{:02}", LocalDate::of(at), minute / 60, minute % 60)
}

/// The last Beijing day before `ends` (an instant at the start of a day: a window's end).
fn last_day(ends: Timestamp) -> LocalDate {
    LocalDate::of(Timestamp::from_unix_ms(ends.unix_ms() - 1))
}

/// Why a change of address was refused, or could not be carried out, in English and Chinese.
pub fn address_refusal(refusal: AddressRefusal) -> (&'static str, &'static str) {
    match refusal {
        AddressRefusal::Delivered => (
            "The order has been delivered: its address can no longer change.",
            "订单已签收，无法修改收货地址。",
        ),
        AddressRefusal::Missing => ("A change of address names the new address.", "改址需提供新的收货地址。"),
        AddressRefusal::Unchanged => (
            "The new address is the order's address already.",
            "新地址与订单当前收货地址相同。",
        ),
        AddressRefusal::NotServed => (
            "No warehouse of the shop (or, once packed, no service of the parcel's carrier) delivers to the new address.",
            "店铺没有仓库（已打包的包裹则为其快递）能配送到新地址。",
        ),
        AddressRefusal::PickedUp => (
            "A carrier collected the parcel before the change could reach it.",
            "快递已揽收包裹，改址未能送达快递。",
        ),
    }
}
