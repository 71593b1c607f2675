//! Identifiers. Each entity has its own id type so that a `SkuId` can never be passed where an
//! `OrderId` is expected. Ids are allocated by the shell (never inside the core) and are
//! positive 63-bit integers so that they fit a signed 64-bit database column.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(i64);

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
