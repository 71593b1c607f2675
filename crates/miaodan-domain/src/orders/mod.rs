//! Orders and their state machine.
//!
//! ```text
//!   pending_payment ──pay──► paid ──every parcel has a shipment──► shipped ──all delivered──► delivered
//!         │
//!         └──cancel / expire──► cancelled
//! ```
//! Only these transitions are legal; each bumps the order's `version` by one, so a reader can
//! tell which of two snapshots is newer. Later capabilities (fulfillment, after-sales) extend
//! the machine from `paid`.

mod book;
mod commands;

pub use book::OrderBook;
pub use commands::{CancelOrder, Canceller, Command, OrderLineRequest, PayOrder, PlaceOrder, RequestRef};
pub(crate) use commands::{OrderBooks, cancel, pay};

use crate::catalog::Text;
use crate::flash_sale::FlashSaleId;
use crate::fulfillment::promise::Promise;
use crate::geo::Adcode;
use crate::ids::{BuyerId, CheckoutId, OrderId, ShopId, SkuId};
use crate::inventory::Allocation;
use crate::money::Fen;
use crate::payments::PaymentIntentId;
use crate::quantity::Quantity;
use crate::time::Timestamp;

/// The most lines one order (and one checkout) may have.
pub const ORDER_LINES_MAX: usize = 100;
/// How long an unpaid order holds its stock unless the operator configures otherwise.
pub const PAYMENT_TIMEOUT_SECONDS_DEFAULT: i64 = 15 * 60;

pub type AddressDetail = Text<200>;

/// Where an order is delivered: a known administrative division and the street detail.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Address {
    pub adcode: Adcode,
    pub detail: AddressDetail,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum OrderState {
    PendingPayment,
    Paid,
    /// Every parcel of the order has a carrier shipment.
    Shipped,
    /// Every shipment was delivered.
    Delivered,
    Cancelled,
}

impl OrderState {
    pub const ALL: [OrderState; 5] = [
        OrderState::PendingPayment,
        OrderState::Paid,
        OrderState::Shipped,
        OrderState::Delivered,
        OrderState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderState::PendingPayment => "pending_payment",
            OrderState::Paid => "paid",
            OrderState::Shipped => "shipped",
            OrderState::Delivered => "delivered",
            OrderState::Cancelled => "cancelled",
        }
    }

    pub fn parse(raw: &str) -> Option<OrderState> {
        OrderState::ALL.into_iter().find(|state| state.as_str() == raw)
    }
}

/// Why an order was cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum CancelReason {
    /// The buyer cancelled it before paying.
    BuyerCancelled,
    /// The shop cancelled it before it was paid (the buyer asked by phone, or the shop cannot
    /// ship it).
    ShopCancelled,
    /// The platform cancelled it before it was paid (a risk review found it a scalper's).
    PlatformCancelled,
    /// It was not paid within the payment timeout.
    PaymentTimeout,
    /// Another shop's part of the same checkout could not be placed, so the checkout as a
    /// whole was refused and this part undone.
    CheckoutFailed,
    /// Paid, then cancelled before a carrier collected it by an approved after-sales
    /// request; its payment is refunded.
    AfterSales,
}

impl CancelReason {
    pub const ALL: [CancelReason; 6] = [
        CancelReason::BuyerCancelled,
        CancelReason::ShopCancelled,
        CancelReason::PlatformCancelled,
        CancelReason::PaymentTimeout,
        CancelReason::CheckoutFailed,
        CancelReason::AfterSales,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CancelReason::BuyerCancelled => "buyer_cancelled",
            CancelReason::ShopCancelled => "shop_cancelled",
            CancelReason::PlatformCancelled => "platform_cancelled",
            CancelReason::PaymentTimeout => "payment_timeout",
            CancelReason::CheckoutFailed => "checkout_failed",
            CancelReason::AfterSales => "after_sales",
        }
    }

    pub fn parse(raw: &str) -> Option<CancelReason> {
        CancelReason::ALL.into_iter().find(|reason| reason.as_str() == raw)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OrderLine {
    pub sku: SkuId,
    pub quantity: Quantity,
    /// The SKU's price when the order was placed; later price changes do not touch it.
    pub unit_price: Fen,
    /// Where the line's units are reserved (and, once paid, sold from).
    pub allocations: Vec<Allocation>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Order {
    pub id: OrderId,
    pub checkout: CheckoutId,
    pub shop: ShopId,
    pub buyer: BuyerId,
    pub lines: Vec<OrderLine>,
    pub total: Fen,
    pub address: Address,
    pub state: OrderState,
    pub version: i64,
    pub created_at: Timestamp,
    /// When an unpaid order is cancelled by the payment timeout.
    pub payment_due_at: Timestamp,
    pub paid_at: Option<Timestamp>,
    /// The payment intent whose capture paid this order.
    pub paid_by: Option<PaymentIntentId>,
    pub cancelled_at: Option<Timestamp>,
    pub cancel_reason: Option<CancelReason>,
    /// The flash sale this order was tapped from, if any.
    pub flash_sale: Option<FlashSaleId>,
    /// The delivery promise it was sold with (the buyer's chosen option), if any. Its price is
    /// part of `total`.
    pub promise: Option<Promise>,
}

/// An illegal transition, reported as data (`invalid_transition` on the wire).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InvalidTransition {
    pub from: OrderState,
    pub to: OrderState,
}

impl Order {
    /// `pending_payment → paid`, by the capture of `intent`.
    pub fn pay(&mut self, intent: PaymentIntentId, now: Timestamp) -> Result<(), InvalidTransition> {
        self.transition(OrderState::Paid)?;
        self.paid_at = Some(now);
        self.paid_by = Some(intent);
        Ok(())
    }

    /// `pending_payment → cancelled`.
    pub fn cancel(&mut self, reason: CancelReason, now: Timestamp) -> Result<(), InvalidTransition> {
        self.transition(OrderState::Cancelled)?;
        self.cancelled_at = Some(now);
        self.cancel_reason = Some(reason);
        Ok(())
    }

    /// `paid → cancelled`: an approved after-sales cancellation before any parcel left.
    pub fn cancel_paid(&mut self, now: Timestamp) -> Result<(), InvalidTransition> {
        if self.state != OrderState::Paid {
            return Err(InvalidTransition {
                from: self.state,
                to: OrderState::Cancelled,
            });
        }
        self.state = OrderState::Cancelled;
        self.version += 1;
        self.cancelled_at = Some(now);
        self.cancel_reason = Some(CancelReason::AfterSales);
        Ok(())
    }

    /// A paid order delivered elsewhere (an approved after-sales change of address): its
    /// address and promise change, its state does not; the version moves on.
    pub fn readdress(&mut self, to: Address, promise: Option<Promise>) {
        self.address = to;
        self.promise = promise;
        self.version += 1;
    }

    /// `paid → shipped`: every parcel is with a carrier.
    pub fn ship(&mut self) -> Result<(), InvalidTransition> {
        self.transition(OrderState::Shipped)
    }

    /// `shipped → delivered`.
    pub fn deliver(&mut self) -> Result<(), InvalidTransition> {
        self.transition(OrderState::Delivered)
    }

    fn transition(&mut self, to: OrderState) -> Result<(), InvalidTransition> {
        let legal = matches!(
            (self.state, to),
            (OrderState::PendingPayment, OrderState::Paid)
                | (OrderState::PendingPayment, OrderState::Cancelled)
                | (OrderState::Paid, OrderState::Shipped)
                | (OrderState::Shipped, OrderState::Delivered)
        );
        if !legal {
            return Err(InvalidTransition { from: self.state, to });
        }
        self.state = to;
        self.version += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order() -> Order {
        Order {
            id: OrderId::new(1).expect("positive"),
            checkout: CheckoutId::new(1).expect("positive"),
            shop: ShopId::new(1).expect("positive"),
            buyer: BuyerId::new(1).expect("positive"),
            lines: vec![],
            total: Fen::ZERO,
            address: Address {
                adcode: Adcode::parse("310101000000").expect("known"),
                detail: AddressDetail::parse("南京东路1号").expect("valid"),
            },
            state: OrderState::PendingPayment,
            version: 1,
            created_at: Timestamp::from_unix_ms(0),
            payment_due_at: Timestamp::from_unix_ms(900_000),
            paid_at: None,
            paid_by: None,
            cancelled_at: None,
            cancel_reason: None,
            flash_sale: None,
            promise: None,
        }
    }

    /// A sale's live room reads how many of its orders wait for payment and which is due first,
    /// from the book's own index; paying or cancelling takes an order out of it.
    #[test]
    fn the_book_knows_each_flash_sales_unpaid_orders_and_the_first_due() {
        let sale = |n| crate::flash_sale::FlashSaleId::new(n).expect("positive");
        let mut book = book::OrderBook::default();
        let mut effects = Vec::new();
        for (id, due_ms, of_sale) in [
            (1, 900_000, Some(1)),
            (2, 600_000, Some(1)),
            (3, 100_000, Some(2)),
            (4, 50_000, None),
        ] {
            let mut placed = order();
            placed.id = OrderId::new(id).expect("positive");
            placed.payment_due_at = Timestamp::from_unix_ms(due_ms);
            placed.flash_sale = of_sale.map(sale);
            book.open(placed, None, &mut effects);
        }
        assert_eq!(
            book.unpaid_of_sale(sale(1)),
            (2, Some(Timestamp::from_unix_ms(600_000)))
        );
        assert_eq!(
            book.unpaid_of_sale(sale(2)),
            (1, Some(Timestamp::from_unix_ms(100_000)))
        );
        assert_eq!(book.unpaid_of_sale(sale(3)), (0, None));
        let now = Timestamp::from_unix_ms(5);
        book.close(OrderId::new(2).expect("positive"), &mut effects, |o| {
            o.pay(PaymentIntentId::new(1).expect("positive"), now)
        })
        .expect("open");
        book.close(OrderId::new(3).expect("positive"), &mut effects, |o| {
            o.cancel(CancelReason::BuyerCancelled, now)
        })
        .expect("open");
        assert_eq!(
            book.unpaid_of_sale(sale(1)),
            (1, Some(Timestamp::from_unix_ms(900_000)))
        );
        assert_eq!(book.unpaid_of_sale(sale(2)), (0, None));
    }

    /// Every (state, action) pair and what must come of it.
    #[test]
    fn only_pending_orders_can_be_paid_or_cancelled() {
        use OrderState::*;
        let now = Timestamp::from_unix_ms(5);
        let cases: [(OrderState, &str, Result<OrderState, InvalidTransition>); 6] = [
            (PendingPayment, "pay", Ok(Paid)),
            (PendingPayment, "cancel", Ok(Cancelled)),
            (Paid, "pay", Err(InvalidTransition { from: Paid, to: Paid })),
            (
                Paid,
                "cancel",
                Err(InvalidTransition {
                    from: Paid,
                    to: Cancelled,
                }),
            ),
            (
                Cancelled,
                "pay",
                Err(InvalidTransition {
                    from: Cancelled,
                    to: Paid,
                }),
            ),
            (
                Cancelled,
                "cancel",
                Err(InvalidTransition {
                    from: Cancelled,
                    to: Cancelled,
                }),
            ),
        ];
        for (from, action, expected) in cases {
            let mut o = order();
            o.state = from;
            let result = match action {
                "pay" => o.pay(PaymentIntentId::new(1).expect("positive"), now),
                _ => o.cancel(CancelReason::BuyerCancelled, now),
            };
            assert_eq!(result.map(|()| o.state), expected, "{from:?} {action}");
            let expected_version = if expected.is_ok() { 2 } else { 1 };
            assert_eq!(o.version, expected_version, "{from:?} {action} version");
        }
    }

    #[test]
    fn a_paid_order_is_shipped_then_delivered_and_never_backwards() {
        use OrderState::*;
        let mut o = order();
        assert_eq!(
            o.ship(),
            Err(InvalidTransition {
                from: PendingPayment,
                to: Shipped
            })
        );
        o.pay(PaymentIntentId::new(1).expect("positive"), Timestamp::from_unix_ms(5))
            .expect("pending pays");
        assert_eq!(
            o.deliver(),
            Err(InvalidTransition {
                from: Paid,
                to: Delivered
            })
        );
        o.ship().expect("paid ships");
        assert_eq!(
            o.cancel(CancelReason::BuyerCancelled, Timestamp::from_unix_ms(6))
                .map(|()| o.state),
            Err(InvalidTransition {
                from: Shipped,
                to: Cancelled
            })
        );
        o.deliver().expect("shipped is delivered");
        assert_eq!((o.state, o.version), (Delivered, 4));
        assert_eq!(
            o.ship(),
            Err(InvalidTransition {
                from: Delivered,
                to: Shipped
            })
        );
    }

    #[test]
    fn state_and_reason_names_round_trip() {
        for state in OrderState::ALL {
            assert_eq!(OrderState::parse(state.as_str()), Some(state));
        }
        for reason in CancelReason::ALL {
            assert_eq!(CancelReason::parse(reason.as_str()), Some(reason));
        }
        assert_eq!(OrderState::parse("sent"), None);
    }
}
