//! After-sales (售后): what a buyer may ask of an order once it is paid — cancel before
//! shipment, a refund only (仅退款), a return and refund (退货退款), an exchange (换货) or a
//! change of address (改址) — and how each request is decided: first by the flash-refund
//! rules ([`rules`]) under the shop's [`policy`], then, where no rule approves, by the merchant.

pub mod address;
pub mod book;
pub mod commands;
pub mod policy;
pub mod request;
pub mod return_logistics;
pub mod rules;

pub use commands::Command;

/// What the buyer asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum RequestKind {
    /// Cancel a paid order before a carrier collects it: a full refund, units back to stock.
    CancelBeforeShipment,
    /// Money back without sending anything back (not shipped, lost, never arrived, damaged).
    RefundOnly,
    /// Send some or all units back, money back for them.
    ReturnAndRefund,
    /// Send units back for another SKU of the same product.
    Exchange,
    /// Deliver somewhere else, before the carrier collects the parcel.
    ChangeAddress,
}

impl RequestKind {
    pub const ALL: [RequestKind; 5] = [
        RequestKind::CancelBeforeShipment,
        RequestKind::RefundOnly,
        RequestKind::ReturnAndRefund,
        RequestKind::Exchange,
        RequestKind::ChangeAddress,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            RequestKind::CancelBeforeShipment => "cancel",
            RequestKind::RefundOnly => "refund_only",
            RequestKind::ReturnAndRefund => "return_and_refund",
            RequestKind::Exchange => "exchange",
            RequestKind::ChangeAddress => "change_address",
        }
    }

    pub fn parse(raw: &str) -> Option<RequestKind> {
        RequestKind::ALL.into_iter().find(|k| k.as_str() == raw)
    }
}

/// Why the buyer asks, as a code (free text travels beside it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Reason {
    /// No reason needed: the no-reason window (七天无理由).
    NoReason,
    ChangedMind,
    /// The carrier lost the parcel.
    Lost,
    /// The parcel never arrived.
    NeverArrived,
    ArrivedDamaged,
    QualityIssue,
    NotAsDescribed,
    WrongItem,
    WrongSize,
    WrongAddress,
}

impl Reason {
    pub const ALL: [Reason; 10] = [
        Reason::NoReason,
        Reason::ChangedMind,
        Reason::Lost,
        Reason::NeverArrived,
        Reason::ArrivedDamaged,
        Reason::QualityIssue,
        Reason::NotAsDescribed,
        Reason::WrongItem,
        Reason::WrongSize,
        Reason::WrongAddress,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::NoReason => "no_reason",
            Reason::ChangedMind => "changed_mind",
            Reason::Lost => "lost",
            Reason::NeverArrived => "never_arrived",
            Reason::ArrivedDamaged => "arrived_damaged",
            Reason::QualityIssue => "quality_issue",
            Reason::NotAsDescribed => "not_as_described",
            Reason::WrongItem => "wrong_item",
            Reason::WrongSize => "wrong_size",
            Reason::WrongAddress => "wrong_address",
        }
    }

    pub fn parse(raw: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == raw)
    }

    /// The buyer says the goods did not reach them.
    pub const fn says_not_arrived(self) -> bool {
        matches!(self, Reason::Lost | Reason::NeverArrived)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_reasons_read_back_from_their_codes() {
        for kind in RequestKind::ALL {
            assert_eq!(RequestKind::parse(kind.as_str()), Some(kind));
        }
        for reason in Reason::ALL {
            assert_eq!(Reason::parse(reason.as_str()), Some(reason));
        }
        assert_eq!(Reason::parse("because"), None);
    }
}
