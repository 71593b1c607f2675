//! A shop's after-sales policy, as data: how long the no-reason window lasts, which goods it
//! excludes, who pays the return parcel, and how far the rules may approve on their own.
//!
//! The defaults are the platform's promise to buyers; a shop may be stricter only where the
//! law lets it (the exempt goods) and more generous anywhere.

use super::request::Deadlines;
use super::rules::RuleMode;
use crate::Fen;
use crate::Timestamp;
use crate::time::shanghai::LocalDate;

/// The days of the no-reason window the law gives buyers of goods bought at a distance.
pub const NO_REASON_DAYS_DEFAULT: u16 = 7;
/// A shop may lengthen the window (15 and 30 days are common promises), not beyond this.
pub const NO_REASON_DAYS_MAX: u16 = 90;
/// What the rules may refund without a merchant, per request: ¥500.
pub const AUTO_APPROVE_CEILING_DEFAULT: Fen = Fen::from_const(50_000);
/// How long a merchant has to answer a request the rules passed on; silence is consent.
pub const MERCHANT_ANSWER_HOURS_DEFAULT: u16 = 48;
/// A buyer whose refunds exceed this share of their paid orders (in basis points) is decided
/// by the merchant, not by the rules: 30 %.
pub const BUYER_REFUND_RATE_BPS_MAX_DEFAULT: u32 = 3_000;
/// ... once they have at least this many paid orders (a first order's refund says nothing).
pub const BUYER_ORDERS_FOR_RATE_MIN: u32 = 5;
/// How long after a parcel's last movement, past its promise, the rules treat it as lost.
pub const STALLED_HOURS_DEFAULT: u16 = 72;
/// How long a buyer whose request the merchant refused may ask the platform to step in.
pub const APPEAL_HOURS: u16 = 72;
/// How long a buyer has to send an approved return.
pub const RETURN_SEND_DAYS: u16 = 7;

/// The most a shop may let its rules approve alone, per request: ¥100 000.
pub const AUTO_APPROVE_CEILING_MAX: Fen = Fen::from_const(10_000_000);
/// A merchant's time to answer: at least a day (a request filed at night is seen), at most a
/// week (a buyer is not kept waiting longer).
pub const MERCHANT_ANSWER_HOURS_MIN: u16 = 24;
pub const MERCHANT_ANSWER_HOURS_MAX: u16 = 168;
/// How long past its promise a motionless parcel counts as lost: 1 to 30 days.
pub const STALLED_HOURS_MIN: u16 = 24;
pub const STALLED_HOURS_MAX: u16 = 720;

const HOUR_MS: i64 = 3_600_000;

/// Goods the no-reason window does not cover (消费者权益保护法 art. 25): the buyer may still
/// ask for a refund with a reason, which the merchant decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum ExemptGoods {
    /// Made to the buyer's order (定作).
    Customised,
    /// Fresh, live or perishable (鲜活易腐).
    Perishable,
    /// Downloaded or unsealed audio-visual products and software (在线下载或者消费者拆封的音像制品、计算机软件).
    DigitalDelivery,
    /// Newspapers and periodicals (交付的报纸、期刊).
    Periodical,
}

impl ExemptGoods {
    pub const ALL: [ExemptGoods; 4] = [
        ExemptGoods::Customised,
        ExemptGoods::Perishable,
        ExemptGoods::DigitalDelivery,
        ExemptGoods::Periodical,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            ExemptGoods::Customised => "customised",
            ExemptGoods::Perishable => "perishable",
            ExemptGoods::DigitalDelivery => "digital_delivery",
            ExemptGoods::Periodical => "periodical",
        }
    }

    pub fn parse(raw: &str) -> Option<ExemptGoods> {
        ExemptGoods::ALL.into_iter().find(|g| g.as_str() == raw)
    }
}

/// Who pays a return parcel's shipping.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ReturnShipping {
    /// The platform pays the first weight (首重) of a no-reason return (运费险-like); the buyer
    /// pays what is above it.
    PlatformFirstWeight,
    /// The shop pays all of it.
    Shop,
    /// The buyer pays all of it.
    Buyer,
}

impl ReturnShipping {
    pub const ALL: [ReturnShipping; 3] = [
        ReturnShipping::PlatformFirstWeight,
        ReturnShipping::Shop,
        ReturnShipping::Buyer,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            ReturnShipping::PlatformFirstWeight => "platform_first_weight",
            ReturnShipping::Shop => "shop",
            ReturnShipping::Buyer => "buyer",
        }
    }

    pub fn parse(raw: &str) -> Option<ReturnShipping> {
        ReturnShipping::ALL.into_iter().find(|r| r.as_str() == raw)
    }
}

/// What each party pays of a return parcel's price.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShippingShares {
    pub platform: Fen,
    pub shop: Fen,
    pub buyer: Fen,
}

impl ReturnShipping {
    /// Splits a parcel's price — its first weight (首重) and the rest (续重) — between the
    /// platform, the shop and the buyer; the shares add up to the price.
    pub fn shares(self, first_weight: Fen, additional: Fen) -> ShippingShares {
        let whole = first_weight
            .checked_add(additional)
            .expect("a parcel's price is far from overflow");
        let none = Fen::ZERO;
        match self {
            ReturnShipping::PlatformFirstWeight => ShippingShares {
                platform: first_weight,
                shop: none,
                buyer: additional,
            },
            ReturnShipping::Shop => ShippingShares {
                platform: none,
                shop: whole,
                buyer: none,
            },
            ReturnShipping::Buyer => ShippingShares {
                platform: none,
                shop: none,
                buyer: whole,
            },
        }
    }
}

/// One shop's policy. [`AfterSalesPolicy::default`] is the platform's default promise.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AfterSalesPolicy {
    pub no_reason_days: u16,
    /// Goods the no-reason window excludes in this shop; a shop may cover some of them anyway.
    pub exempt: Vec<ExemptGoods>,
    pub return_shipping: ReturnShipping,
    pub auto_approve_ceiling: Fen,
    pub merchant_answer_hours: u16,
    pub buyer_refund_rate_bps_max: u32,
    pub stalled_hours: u16,
}

impl Default for AfterSalesPolicy {
    fn default() -> AfterSalesPolicy {
        AfterSalesPolicy {
            no_reason_days: NO_REASON_DAYS_DEFAULT,
            exempt: ExemptGoods::ALL.to_vec(),
            return_shipping: ReturnShipping::PlatformFirstWeight,
            auto_approve_ceiling: AUTO_APPROVE_CEILING_DEFAULT,
            merchant_answer_hours: MERCHANT_ANSWER_HOURS_DEFAULT,
            buyer_refund_rate_bps_max: BUYER_REFUND_RATE_BPS_MAX_DEFAULT,
            stalled_hours: STALLED_HOURS_DEFAULT,
        }
    }
}

/// A shop's policy and whether its rules act (`Enforced`) or only record what they would
/// have decided (`Shadow`: every request goes to the merchant meanwhile).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ShopPolicy {
    pub policy: AfterSalesPolicy,
    pub mode: RuleMode,
}

/// What is wrong with a policy a shop asks for, by field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PolicyProblem {
    /// The window is shorter than the law's 7 days or longer than [`NO_REASON_DAYS_MAX`].
    NoReasonDays,
    /// The same goods named twice.
    DuplicateExemptGoods,
    AutoApproveCeiling,
    MerchantAnswerHours,
    BuyerRefundRate,
    StalledHours,
}

impl AfterSalesPolicy {
    /// Whether a shop may run this policy: the law's window at least, and every limit within
    /// what the platform allows.
    pub fn check(&self) -> Result<(), PolicyProblem> {
        if !(NO_REASON_DAYS_DEFAULT..=NO_REASON_DAYS_MAX).contains(&self.no_reason_days) {
            return Err(PolicyProblem::NoReasonDays);
        }
        let mut exempt = self.exempt.clone();
        exempt.sort();
        exempt.dedup();
        if exempt.len() != self.exempt.len() {
            return Err(PolicyProblem::DuplicateExemptGoods);
        }
        if !(Fen::ZERO..=AUTO_APPROVE_CEILING_MAX).contains(&self.auto_approve_ceiling) {
            return Err(PolicyProblem::AutoApproveCeiling);
        }
        if !(MERCHANT_ANSWER_HOURS_MIN..=MERCHANT_ANSWER_HOURS_MAX).contains(&self.merchant_answer_hours) {
            return Err(PolicyProblem::MerchantAnswerHours);
        }
        if self.buyer_refund_rate_bps_max > 10_000 {
            return Err(PolicyProblem::BuyerRefundRate);
        }
        if !(STALLED_HOURS_MIN..=STALLED_HOURS_MAX).contains(&self.stalled_hours) {
            return Err(PolicyProblem::StalledHours);
        }
        Ok(())
    }

    /// The last instant a no-reason request is on time for goods delivered at `delivered_at`.
    /// The window opens the day after delivery (网络购买商品七日无理由退货暂行办法 art. 7) and
    /// counts whole Shanghai days: delivered on the 1st at 23:50, a 7-day window closes at
    /// the end of the 8th.
    pub fn no_reason_window_closes(&self, delivered_at: Timestamp) -> Timestamp {
        let last_day = LocalDate::of(delivered_at).plus_days(i32::from(self.no_reason_days));
        last_day.plus_days(1).start()
    }

    /// How long the steps of a request may take under this policy.
    pub fn deadlines(&self) -> Deadlines {
        Deadlines {
            merchant_answer_ms: i64::from(self.merchant_answer_hours) * HOUR_MS,
            appeal_ms: i64::from(APPEAL_HOURS) * HOUR_MS,
            return_ms: i64::from(RETURN_SEND_DAYS) * 24 * HOUR_MS,
        }
    }

    pub fn is_exempt(&self, goods: ExemptGoods) -> bool {
        self.exempt.contains(&goods)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shanghai(y: i32, m: u32, d: u32, hh: u16, mm: u16) -> Timestamp {
        LocalDate::from_ymd(y, m, d)
            .expect("a real date")
            .at_minute(hh * 60 + mm)
    }

    #[test]
    fn the_no_reason_window_counts_whole_shanghai_days_from_the_day_after_delivery() {
        let policy = AfterSalesPolicy::default();
        let cases = [
            (shanghai(2026, 12, 1, 23, 50), shanghai(2026, 12, 9, 0, 0)),
            (shanghai(2026, 12, 1, 0, 0), shanghai(2026, 12, 9, 0, 0)),
            (shanghai(2026, 12, 28, 9, 0), shanghai(2027, 1, 5, 0, 0)),
        ];
        for (delivered, closes) in cases {
            assert_eq!(
                policy.no_reason_window_closes(delivered),
                closes,
                "delivered {delivered:?}"
            );
        }
    }

    #[test]
    fn a_shop_may_lengthen_the_window() {
        let policy = AfterSalesPolicy {
            no_reason_days: 15,
            ..AfterSalesPolicy::default()
        };
        assert_eq!(
            policy.no_reason_window_closes(shanghai(2026, 12, 1, 12, 0)),
            shanghai(2026, 12, 17, 0, 0)
        );
    }

    #[test]
    fn a_policy_keeps_the_laws_window_and_the_platforms_limits() {
        assert_eq!(AfterSalesPolicy::default().check(), Ok(()));
        type Change = fn(&mut AfterSalesPolicy);
        let cases: [(Change, PolicyProblem); 7] = [
            (|p| p.no_reason_days = 6, PolicyProblem::NoReasonDays),
            (
                |p| p.no_reason_days = NO_REASON_DAYS_MAX + 1,
                PolicyProblem::NoReasonDays,
            ),
            (
                |p| p.exempt = vec![ExemptGoods::Perishable, ExemptGoods::Perishable],
                PolicyProblem::DuplicateExemptGoods,
            ),
            (
                |p| p.auto_approve_ceiling = Fen::from_const(AUTO_APPROVE_CEILING_MAX.get() + 1),
                PolicyProblem::AutoApproveCeiling,
            ),
            (|p| p.merchant_answer_hours = 23, PolicyProblem::MerchantAnswerHours),
            (|p| p.buyer_refund_rate_bps_max = 10_001, PolicyProblem::BuyerRefundRate),
            (|p| p.stalled_hours = STALLED_HOURS_MAX + 1, PolicyProblem::StalledHours),
        ];
        for (change, problem) in cases {
            let mut policy = AfterSalesPolicy::default();
            change(&mut policy);
            assert_eq!(policy.check(), Err(problem), "{policy:?}");
        }
        let generous = AfterSalesPolicy {
            no_reason_days: 30,
            exempt: vec![],
            auto_approve_ceiling: Fen::ZERO,
            ..AfterSalesPolicy::default()
        };
        assert_eq!(generous.check(), Ok(()));
    }

    #[test]
    fn the_platform_pays_a_returns_first_weight_and_the_buyer_the_rest_unless_the_shop_or_buyer_pays_all() {
        let (first, rest) = (Fen::from_const(800), Fen::from_const(300));
        let cases = [
            (ReturnShipping::PlatformFirstWeight, (800, 0, 300)),
            (ReturnShipping::Shop, (0, 1_100, 0)),
            (ReturnShipping::Buyer, (0, 0, 1_100)),
        ];
        for (payer, (platform, shop, buyer)) in cases {
            let shares = payer.shares(first, rest);
            assert_eq!(
                (shares.platform.get(), shares.shop.get(), shares.buyer.get()),
                (platform, shop, buyer),
                "{payer:?}"
            );
        }
    }

    #[test]
    fn exempt_goods_read_back_from_their_codes() {
        for goods in ExemptGoods::ALL {
            assert_eq!(ExemptGoods::parse(goods.as_str()), Some(goods));
        }
        assert_eq!(ExemptGoods::parse("shoes"), None);
        for payer in ReturnShipping::ALL {
            assert_eq!(ReturnShipping::parse(payer.as_str()), Some(payer));
        }
        assert_eq!(ReturnShipping::parse("seller"), None);
    }
}
