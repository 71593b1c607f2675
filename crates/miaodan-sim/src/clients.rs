//! The platform's callers: buyers who check out, tap flash sales, cancel and pay; merchants who count their
//! stock; and the provider's notifications. Each request keeps what it asked so that a caller
//! who heard nothing (or an error) can send it again, as a real client retries under the same
//! Idempotency-Key.

use crate::world::{self, BUYERS, SHOPS};
use miaodan_domain::flash_sale::{FlashSaleId, Tap};
use miaodan_domain::orders::{CancelReason, PAYMENT_TIMEOUT_SECONDS_DEFAULT};
use miaodan_domain::payments::{
    BeginPaymentAttempt, IntentOrderRequest, OpenPaymentIntent, PaymentIntent, PaymentIntentId, RecordCharge,
    RecordRefund, RefundId, RefundReason, RequestRefund,
};
use miaodan_domain::shard::{CancelOrder, Canceller, Command, OrderLineRequest, PlaceOrder, RequestRef, SetStock};
use miaodan_domain::{BuyerId, CheckoutId, OrderId, Quantity, ShopId, Timestamp};
use rand::Rng;
use rand::seq::IndexedRandom;
use std::collections::BTreeMap;

/// What a request asks, kept whole so that it can be sent again.
#[derive(Clone, Debug)]
pub enum Ask {
    Place(PlaceOrder),
    /// A buyer's tap on a flash sale: one order at the flash price, if the sale allows it.
    Tap(Tap),
    Cancel(CancelOrder),
    SetStock(SetStock),
    OpenIntent(OpenPaymentIntent),
    BeginAttempt(BeginPaymentAttempt),
    /// A provider's notification (the provider redelivers it until it is answered).
    Notify(RecordCharge),
    RequestRefund(RequestRefund),
    /// What the provider answered to a refund, recorded by the payment worker.
    RecordRefund(RecordRefund),
}

impl Ask {
    /// The intent a payment command is about, and the stored copy it may carry for a shard that
    /// has not loaded it.
    pub fn intent_snapshot(&mut self) -> Option<(PaymentIntentId, &mut Option<Box<PaymentIntent>>)> {
        match self {
            Ask::BeginAttempt(c) => Some((c.intent, &mut c.snapshot)),
            Ask::Notify(c) => Some((c.intent, &mut c.snapshot)),
            Ask::RequestRefund(c) => Some((c.intent, &mut c.snapshot)),
            Ask::RecordRefund(c) => Some((c.intent, &mut c.snapshot)),
            Ask::Place(_) | Ask::Tap(_) | Ask::Cancel(_) | Ask::SetStock(_) | Ask::OpenIntent(_) => None,
        }
    }
}

/// What a checkout or a tap places, as its answer is checked and stored.
pub struct Placement {
    pub shop: ShopId,
    pub buyer: BuyerId,
    /// Order lines the placed order must have.
    pub lines: usize,
    /// The request's reference: the key its answer is stored under.
    pub reference: RequestRef,
}

impl Ask {
    /// What the request places, if it places an order.
    pub fn placement(&self) -> Option<Placement> {
        match self {
            Ask::Place(place) => Some(Placement {
                shop: place.shop,
                buyer: place.buyer,
                lines: place.lines.len(),
                reference: place.request.clone()?,
            }),
            Ask::Tap(tap) => Some(Placement {
                shop: world::shop(tap.sale.get()),
                buyer: tap.buyer,
                lines: 1,
                reference: tap.request.clone()?,
            }),
            _ => None,
        }
    }
}

/// A request as its caller knows it.
#[derive(Clone, Debug)]
pub struct Request {
    pub ask: Ask,
    pub shop: ShopId,
    /// Sent this many times.
    pub sends: u32,
    /// Sends that heard nothing or an error.
    pub unanswered: u32,
    pub answered: bool,
    /// The order ids its sends carried (a retry carries a fresh one, as the server's does).
    pub order_ids: Vec<OrderId>,
    /// A checkout or tap whose answer is stored under its key in its order's batch (as a
    /// one-shop checkout's and a tap's are); the others are found again only by their order's
    /// request reference (as the parts of a checkout across shops are).
    pub keyed: bool,
    /// What the caller heard first, as a stored answer would say it.
    pub first_answer: Option<String>,
}

/// Ids handed out so far, one counter per kind (ids come with commands, never from the core).
#[derive(Default)]
pub struct Ids {
    next: i64,
}

impl Ids {
    pub fn next(&mut self) -> i64 {
        self.next += 1;
        self.next
    }
}

#[derive(Default)]
pub struct Clients {
    pub requests: BTreeMap<u64, Request>,
    next_request: u64,
    pub ids: Ids,
    /// Orders buyers were told they placed, with the request that placed them.
    pub placed: BTreeMap<OrderId, u64>,
}

impl Clients {
    /// A new request; returns its number.
    pub fn send(&mut self, ask: Ask, shop: ShopId) -> u64 {
        self.next_request += 1;
        let order_ids = match &ask {
            Ask::Place(place) => vec![place.id],
            Ask::Tap(tap) => vec![tap.order],
            _ => Vec::new(),
        };
        self.requests.insert(
            self.next_request,
            Request {
                ask,
                shop,
                sends: 0,
                unanswered: 0,
                answered: false,
                order_ids,
                keyed: false,
                first_answer: None,
            },
        );
        self.next_request
    }

    /// A checkout of one shop: one or two of its SKUs, one to three units each.
    pub fn checkout(&mut self, rng: &mut impl Rng) -> (Ask, ShopId) {
        let shop = world::shop(rng.random_range(1..=SHOPS));
        let skus = world::skus_of(shop);
        let count = rng.random_range(1..=skus.len());
        let lines = skus[..count]
            .iter()
            .map(|&sku| OrderLineRequest {
                sku,
                quantity: Quantity::new(rng.random_range(1..=3)).expect("a valid quantity"),
            })
            .collect();
        let id = self.ids.next();
        let place = PlaceOrder {
            id: OrderId::new(id).expect("positive"),
            checkout: CheckoutId::new(id).expect("positive"),
            shop,
            buyer: world::buyer(rng.random_range(1..=BUYERS)),
            lines,
            address: world::address(),
            payment_timeout_seconds: if rng.random_ratio(1, 2) {
                rng.random_range(60..=600)
            } else {
                PAYMENT_TIMEOUT_SECONDS_DEFAULT
            },
            request: Some(RequestRef(format!("sim-checkout-{id}"))),
            delivery: None,
            client: Default::default(),
        };
        (Ask::Place(place), shop)
    }

    /// A buyer taps one of the running sales for one or two units.
    pub fn tap(&mut self, rng: &mut impl Rng, sales: &[FlashSaleId]) -> Option<(Ask, ShopId)> {
        let &sale = sales.choose(rng)?;
        let shop = world::shop(sale.get());
        let id = self.ids.next();
        let tap = Tap {
            sale,
            order: OrderId::new(id).expect("positive"),
            checkout: CheckoutId::new(id).expect("positive"),
            buyer: world::buyer(rng.random_range(1..=BUYERS)),
            quantity: Quantity::new(rng.random_range(1..=2)).expect("a valid quantity"),
            address: world::address(),
            request: Some(RequestRef(format!("sim-tap-{id}"))),
            client: Default::default(),
        };
        Some((Ask::Tap(tap), shop))
    }

    /// A merchant's count of one of its stock rows.
    pub fn count(&mut self, rng: &mut impl Rng) -> (Ask, ShopId) {
        let shop = world::shop(rng.random_range(1..=SHOPS));
        let rows = world::rows_of(shop);
        let &(sku, warehouse) = rows.choose(rng).expect("every shop has rows");
        let ask = Ask::SetStock(SetStock {
            shop,
            sku,
            warehouse,
            available: rng.random_range(0..=12),
        });
        (ask, shop)
    }

    /// A placed order's buyer cancels it.
    pub fn cancel(
        &self,
        rng: &mut impl Rng,
        orders: &BTreeMap<OrderId, (ShopId, miaodan_domain::BuyerId)>,
    ) -> Option<(Ask, ShopId)> {
        let ids: Vec<&OrderId> = orders.keys().collect();
        let id = **ids.choose(rng)?;
        let (shop, buyer) = orders[&id];
        let ask = Ask::Cancel(CancelOrder {
            order: id,
            by: Canceller::Buyer(buyer),
            reason: CancelReason::BuyerCancelled,
        });
        Some((ask, shop))
    }

    /// Opens the payment of a placed order (its checkout has one order: one shop).
    pub fn open_intent(&mut self, order: &miaodan_domain::orders::Order) -> (Ask, ShopId) {
        let id = self.ids.next();
        let ask = Ask::OpenIntent(OpenPaymentIntent {
            id: miaodan_domain::payments::PaymentIntentId::new(id).expect("positive"),
            checkout: order.checkout,
            buyer: order.buyer,
            orders: vec![IntentOrderRequest {
                order: order.id,
                shop: order.shop,
                amount: order.total,
                payment_due_at: order.payment_due_at,
            }],
            one_tap: false,
        });
        (ask, order.shop)
    }

    /// The merchant gives back part of a paid order (the request's reference makes a retry
    /// refund once).
    pub fn refund(
        &mut self,
        rng: &mut impl Rng,
        order: &miaodan_domain::orders::Order,
        intent: &PaymentIntent,
    ) -> (Ask, ShopId) {
        let id = self.ids.next();
        let most = order.total.get().min(800);
        let ask = Ask::RequestRefund(RequestRefund {
            intent: intent.id,
            refund: RefundId::new(id).expect("positive"),
            order: order.id,
            amount: miaodan_domain::Fen::price(rng.random_range(1..=most)).expect("a valid amount"),
            reason: RefundReason::Requested,
            request: Some(RequestRef(format!("sim-refund-{id}"))),
            // As the server's flow asks: without the stored intent first, with it (read then)
            // only if the shard has not loaded the intent.
            snapshot: None,
        });
        (ask, intent.home_shop)
    }

    /// The command one send of request `number` carries. A stored intent read for this send
    /// goes with this send only: the next one reads afresh, as the server's flow does.
    pub fn command_for(&mut self, number: u64) -> Command {
        let fresh = self.ids.next();
        let request = self.requests.get_mut(&number).expect("a request sent");
        request.sends += 1;
        let command = Self::command_of(&mut request.ask, request.sends, fresh, &mut request.order_ids);
        if let Some((_, snapshot)) = request.ask.intent_snapshot() {
            *snapshot = None;
        }
        command
    }

    fn command_of(ask: &mut Ask, sends: u32, fresh: i64, order_ids: &mut Vec<OrderId>) -> Command {
        match ask {
            Ask::Place(place) => {
                if sends > 1 {
                    place.id = OrderId::new(fresh).expect("positive");
                    order_ids.push(place.id);
                }
                Command::from(place.clone())
            }
            Ask::Tap(tap) => {
                if sends > 1 {
                    tap.order = OrderId::new(fresh).expect("positive");
                    order_ids.push(tap.order);
                }
                Command::from(tap.clone())
            }
            Ask::Cancel(cancel) => Command::from(cancel.clone()),
            Ask::SetStock(count) => Command::from(count.clone()),
            Ask::OpenIntent(open) => Command::from(open.clone()),
            Ask::BeginAttempt(begin) => Command::from(begin.clone()),
            Ask::Notify(charge) => Command::from(charge.clone()),
            Ask::RequestRefund(refund) => {
                // Each send of a refund request gets a fresh refund id, as each HTTP call does:
                // only the request's reference may make a retry refund once.
                if sends > 1 {
                    refund.refund = RefundId::new(fresh).expect("positive");
                }
                Command::from(refund.clone())
            }
            Ask::RecordRefund(refund) => Command::from(refund.clone()),
        }
    }

    /// Requests that heard nothing or an error and may be sent again.
    pub fn unanswered(&self) -> Vec<u64> {
        self.requests
            .iter()
            .filter(|(_, r)| !r.answered && r.unanswered >= r.sends && r.sends > 0)
            .map(|(n, _)| *n)
            .collect()
    }
}

/// Refund ids for the refunds a late capture may open (one per order).
pub fn refund_ids(ids: &mut Ids, orders: usize) -> Vec<RefundId> {
    (0..orders)
        .map(|_| RefundId::new(ids.next()).expect("positive"))
        .collect()
}

/// Milliseconds a step's clock moves: mostly a little, sometimes past every payment timeout.
pub fn clock_step(rng: &mut impl Rng) -> i64 {
    match rng.random_range(0..20) {
        0 => rng.random_range(600_000..=1_800_000),
        1..=4 => rng.random_range(10_000..=120_000),
        _ => rng.random_range(0..=3_000),
    }
}

pub fn after(now: Timestamp, ms: i64) -> Timestamp {
    Timestamp::from_unix_ms(now.unix_ms() + ms)
}
