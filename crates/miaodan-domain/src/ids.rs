//! Identifiers. Each entity has its own id type so that a `SkuId` can never be passed where an
//! `OrderId` is expected. Ids are allocated by the shell (never inside the core) and are
//! positive 63-bit integers so that they fit a signed 64-bit database column.
//!
//! Deserialising an id goes through [`TryFrom<i64>`], the same check as `new`: JSON cannot
//! build an id of zero or below.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A raw id that is not positive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidId(pub i64);

impl fmt::Display for InvalidId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an id must be positive, not {}", self.0)
    }
}

impl std::error::Error for InvalidId {}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "i64", into = "i64")]
        pub struct $name(i64);

        impl TryFrom<i64> for $name {
            type Error = InvalidId;

            fn try_from(raw: i64) -> Result<Self, InvalidId> {
                Self::new(raw).ok_or(InvalidId(raw))
            }
        }

        impl From<$name> for i64 {
            fn from(id: $name) -> i64 {
                id.0
            }
        }

        impl $name {
            /// Wraps a raw id; `None` unless it is positive.
            pub fn new(raw: i64) -> Option<Self> {
                (raw > 0).then_some(Self(raw))
            }

            /// The raw id as stored in the database and shown on the wire.
            pub fn get(self) -> i64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A shop (tenant of the merchant role); the unit of sharding.
    ShopId
);
id_type!(
    /// A buyer account.
    BuyerId
);
id_type!(
    /// A product: what a buyer browses; it has one or more SKUs.
    ProductId
);
id_type!(
    /// A stock-keeping unit: the thing that is priced, stocked and ordered.
    SkuId
);
id_type!(
    /// A warehouse of a shop, holding stock per SKU.
    WarehouseId
);
id_type!(
    /// One order: the part of a checkout that one shop fulfils.
    OrderId
);
id_type!(
    /// One checkout: a buyer's single "place order" that became one order per shop.
    CheckoutId
);
id_type!(
    /// The payment of one checkout.
    PaymentIntentId
);
id_type!(
    /// One refund of (part of) one order's payment.
    RefundId
);
id_type!(
    /// One parcel of an order on its way: a carrier's waybill from one warehouse.
    ShipmentId
);
id_type!(
    /// One after-sales request of a buyer on one order.
    AfterSalesId
);
id_type!(
    /// One buyer's conversation with the customer-service assistant.
    ConversationId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_deserialise_only_when_positive() {
        assert_eq!(serde_json::from_str::<ShopId>("7").ok(), ShopId::new(7));
        for refused in ["0", "-3", "\"7\"", "1.5"] {
            assert!(
                serde_json::from_str::<ShopId>(refused).is_err(),
                "{refused} was accepted"
            );
        }
        assert!(serde_json::from_str::<Vec<OrderId>>("[1, 0]").is_err());
    }

    #[test]
    fn ids_serialise_as_their_number() {
        let id = SkuId::new(42).expect("positive");
        assert_eq!(serde_json::to_string(&id).ok().as_deref(), Some("42"));
    }
}
