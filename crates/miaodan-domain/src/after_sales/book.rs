//! The after-sales requests of a shard's shops, and the checks a new request must pass before
//! the rules see it.
//!
//! A request names units of its order; units held by an open request, or already refunded, can
//! not be asked for again. The refusals are checked in this order, and the first that applies
//! is the answer: the order is not paid; a line is not in the order; more units than remain
//! requestable; the units are held by an open request; more money than remains refundable.
//!
//! **Memory holds what is still moving.** A settled request (closed, or refunded with nothing
//! left to inspect) leaves the book [`SETTLED_REQUEST_RETENTION_MS`] after it settled, and a
//! starting shard loads the unsettled ones and those settled within that retention, so that
//! its memory is what it was before the restart. Refunded units still count against what can
//! be asked: a new request brings its order's refunded requests from the shell's reading of
//! storage ([`AfterSalesBook::recall`]), as a delivered order's facts come. The retention
//! covers the shell's read: a request opened and refunded between that read and the command
//! is still in memory when the command is decided, even if the shard rebuilt in between.
//! An exchange is then checked line by line (`commands.rs`): the replacement is a SKU on sale
//! of the line's product, at the price paid for the line; and once the rules have not refused
//! it, its units must be available to hold (`replacement_out_of_stock` otherwise).

use super::RequestKind;
use super::policy::ShopPolicy;
use super::request::{AfterSalesRequest, Ask, Deadlines, RequestLine, Stage};
use super::rules::Decision;
use crate::ids::AfterSalesId;
use crate::orders::{Order, OrderState};
use crate::{Fen, OrderId, ShopId, SkuId, Timestamp};
use std::collections::{BTreeMap, BTreeSet};

/// Why a request cannot be opened (before any rule runs), with its wire code.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum OpenRefusal {
    OrderNotPaid {
        state: OrderState,
    },
    LineNotInOrder {
        sku: SkuId,
    },
    QuantityNotRequestable {
        sku: SkuId,
        requestable: i64,
    },
    UnitsHeldByOpenRequest {
        request: AfterSalesId,
    },
    AmountAboveRefundable {
        refundable: Fen,
    },
    /// An exchange line without a replacement, or one that is not a SKU on sale of the same
    /// product as the line (or is the line's own SKU).
    ReplacementNotExchangeable {
        sku: SkuId,
    },
    /// The replacement's price is not what the buyer paid for the line: an exchange moves no
    /// money.
    ReplacementPriceDiffers {
        sku: SkuId,
    },
    /// Not enough units of the replacement are available to hold.
    ReplacementOutOfStock {
        sku: SkuId,
        available: i64,
    },
    /// The rules refused; the decision says which rules and why.
    RefusedByRules(Decision),
}

impl OpenRefusal {
    pub const fn code(&self) -> &'static str {
        match self {
            OpenRefusal::OrderNotPaid { .. } => "order_not_paid",
            OpenRefusal::LineNotInOrder { .. } => "line_not_in_order",
            OpenRefusal::QuantityNotRequestable { .. } => "quantity_not_requestable",
            OpenRefusal::UnitsHeldByOpenRequest { .. } => "request_already_open",
            OpenRefusal::AmountAboveRefundable { .. } => "amount_above_refundable",
            OpenRefusal::ReplacementNotExchangeable { .. } => "replacement_not_exchangeable",
            OpenRefusal::ReplacementPriceDiffers { .. } => "replacement_price_differs",
            OpenRefusal::ReplacementOutOfStock { .. } => "replacement_out_of_stock",
            OpenRefusal::RefusedByRules(_) => "refused_by_rules",
        }
    }
}

/// How long a settled request stays in the shard's memory after it settled: far longer than a
/// shell takes between reading an order's requests and sending its command.
pub const SETTLED_REQUEST_RETENTION_MS: i64 = 10 * 60 * 1000;

/// The shell's reading of an order's requests is older than what the shard knows: a request it
/// read as open has settled and left memory since. The caller retries with a fresh reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StaleReading {
    pub request: AfterSalesId,
}

/// Requests by id, each order's requests in the order they were opened, and the deadlines
/// the shard's timer watches.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AfterSalesBook {
    requests: BTreeMap<AfterSalesId, AfterSalesRequest>,
    by_order: BTreeMap<OrderId, Vec<AfterSalesId>>,
    /// `(due_at, id)` of every request with a deadline: the timer reads the front.
    timers: BTreeSet<(Timestamp, AfterSalesId)>,
    /// The policies shops set; a shop without one runs the platform's default.
    policies: BTreeMap<ShopId, ShopPolicy>,
    /// `(settled_at, id)` of every settled request still in memory: eviction reads the front.
    settled: BTreeSet<(Timestamp, AfterSalesId)>,
}

impl AfterSalesBook {
    /// The requests a starting shard reads back: those not settled, and those settled within
    /// the retention (kept until the eviction that would have taken them had the shard run on).
    pub fn restore(
        requests: impl IntoIterator<Item = (AfterSalesId, AfterSalesRequest)>,
        policies: impl IntoIterator<Item = (ShopId, ShopPolicy)>,
    ) -> AfterSalesBook {
        let mut book = AfterSalesBook {
            policies: policies.into_iter().collect(),
            ..AfterSalesBook::default()
        };
        for (id, request) in requests {
            book.insert(id, request);
        }
        book
    }

    /// Files a request under its order, its deadline and, once settled, its eviction.
    fn insert(&mut self, id: AfterSalesId, request: AfterSalesRequest) {
        self.by_order.entry(request.order).or_default().push(id);
        if let Some(due) = request.due_at() {
            self.timers.insert((due, id));
        }
        if let Some(settled_at) = request.settled_at() {
            self.settled.insert((settled_at, id));
        }
        self.requests.insert(id, request);
    }

    /// Brings an order's requests as the shell read them from storage back into the book
    /// before a new request on the order is checked: the refunded ones (their units stay
    /// taken) that memory no longer holds. A request read as unsettled but gone from memory
    /// settled after the read: the reading is stale.
    pub fn recall(&mut self, order: OrderId, stored: &[(AfterSalesId, AfterSalesRequest)]) -> Result<(), StaleReading> {
        for (id, request) in stored {
            if request.order != order || self.requests.contains_key(id) {
                continue;
            }
            if !request.is_settled() {
                return Err(StaleReading { request: *id });
            }
            if request.stage == Stage::Refunded {
                self.insert(*id, request.clone());
            }
        }
        Ok(())
    }

    /// Forgets the requests settled at or before `cutoff`; returns how many.
    pub fn evict_settled(&mut self, cutoff: Timestamp) -> usize {
        let mut evicted = 0;
        while let Some(&(settled_at, id)) = self.settled.first()
            && settled_at <= cutoff
        {
            self.settled.pop_first();
            let request = self.requests.remove(&id).expect("a settled request is in the book");
            assert!(
                request.is_settled(),
                "after-sales request {id} evicted before it settled"
            );
            if let Some(ids) = self.by_order.get_mut(&request.order) {
                ids.retain(|held| *held != id);
                if ids.is_empty() {
                    self.by_order.remove(&request.order);
                }
            }
            evicted += 1;
        }
        evicted
    }

    /// How many requests the book holds (for memory accounting and tests).
    pub fn len(&self) -> usize {
        self.requests.len()
    }

    pub fn is_empty(&self) -> bool {
        self.requests.is_empty()
    }

    /// The policy `shop` runs: its own, or the platform's default.
    pub fn policy_of(&self, shop: ShopId) -> ShopPolicy {
        self.policies.get(&shop).cloned().unwrap_or_default()
    }

    /// A shop's new policy, checked by the caller. Open requests keep the deadlines they have.
    pub(crate) fn set_policy(&mut self, shop: ShopId, policy: ShopPolicy) {
        self.policies.insert(shop, policy);
    }

    /// Applies one step to a request and keeps its deadline in the timer. `None` when the
    /// request is not in this book.
    pub fn step<T>(
        &mut self,
        id: AfterSalesId,
        step: impl FnOnce(&mut AfterSalesRequest) -> T,
    ) -> Option<(T, &AfterSalesRequest)> {
        let request = self.requests.get_mut(&id)?;
        let before = request.due_at();
        let settled_before = request.settled_at();
        let answer = step(request);
        let after = request.due_at();
        if before != after {
            if let Some(due) = before {
                self.timers.remove(&(due, id));
            }
            if let Some(due) = after {
                self.timers.insert((due, id));
            }
        }
        let settled_after = request.settled_at();
        if settled_before != settled_after {
            if let Some(at) = settled_before {
                self.settled.remove(&(at, id));
            }
            if let Some(at) = settled_after {
                self.settled.insert((at, id));
            }
        }
        Some((answer, &*request))
    }

    /// Up to `max` requests whose deadline is at or before `now`, earliest first.
    pub fn due(&self, now: Timestamp, max: usize) -> Vec<AfterSalesId> {
        self.timers
            .iter()
            .take_while(|(due, _)| *due <= now)
            .take(max)
            .map(|(_, id)| *id)
            .collect()
    }

    /// The open cancellation of `order`, if any: while it is open no parcel may leave.
    pub fn open_cancellation(&self, order: OrderId) -> Option<AfterSalesId> {
        self.of_order(order)
            .find(|(_, r)| r.kind == RequestKind::CancelBeforeShipment && r.stage.is_open())
            .map(|(id, _)| id)
    }

    pub fn request(&self, id: AfterSalesId) -> Option<&AfterSalesRequest> {
        self.requests.get(&id)
    }

    pub fn of_order(&self, order: OrderId) -> impl Iterator<Item = (AfterSalesId, &AfterSalesRequest)> {
        self.by_order
            .get(&order)
            .into_iter()
            .flatten()
            .filter_map(|id| self.requests.get(id).map(|r| (*id, r)))
    }

    /// Units of `sku` in `order` that requests have taken: held by an open request, refunded
    /// or exchanged. A closed request that moved no money gives its units back.
    fn taken(&self, order: OrderId, sku: SkuId) -> i64 {
        self.of_order(order)
            .filter(|(_, r)| r.stage.is_open() || matches!(r.stage, Stage::Refunded | Stage::Exchanged))
            .filter(|(_, r)| r.kind != RequestKind::ChangeAddress)
            .flat_map(|(_, r)| r.lines.iter())
            .filter(|line| line.sku == sku)
            .map(|line| line.quantity)
            .sum()
    }

    /// The lines an ask covers: its own, or for a cancellation or address change, all of the
    /// order's units.
    pub fn lines_of(ask_kind: RequestKind, asked: &[RequestLine], order: &Order) -> Vec<RequestLine> {
        match ask_kind {
            RequestKind::CancelBeforeShipment | RequestKind::ChangeAddress => RequestLine::whole(order),
            _ => asked.to_vec(),
        }
    }

    /// Checks an ask against its order and what the payment can still give back.
    pub fn check(&self, ask: &Ask, order: &Order, refundable: Fen) -> Result<(), OpenRefusal> {
        if !matches!(
            order.state,
            OrderState::Paid | OrderState::Shipped | OrderState::Delivered
        ) {
            return Err(OpenRefusal::OrderNotPaid { state: order.state });
        }
        for line in &ask.lines {
            let ordered = order
                .lines
                .iter()
                .find(|l| l.sku == line.sku)
                .ok_or(OpenRefusal::LineNotInOrder { sku: line.sku })?;
            if ask.kind == RequestKind::ChangeAddress {
                continue;
            }
            let requestable = ordered.quantity.get() - self.taken(order.id, line.sku);
            if line.quantity > requestable {
                return Err(self.held_or_exhausted(order.id, line.sku, requestable));
            }
        }
        if ask.kind == RequestKind::ChangeAddress
            && let Some((request, _)) = self
                .of_order(order.id)
                .find(|(_, r)| r.kind == RequestKind::ChangeAddress && r.stage.is_open())
        {
            return Err(OpenRefusal::UnitsHeldByOpenRequest { request });
        }
        if ask.amount > refundable {
            return Err(OpenRefusal::AmountAboveRefundable { refundable });
        }
        Ok(())
    }

    fn held_or_exhausted(&self, order: OrderId, sku: SkuId, requestable: i64) -> OpenRefusal {
        let holder = self
            .of_order(order)
            .find(|(_, r)| r.stage.is_open() && r.lines.iter().any(|l| l.sku == sku));
        match holder {
            Some((request, _)) if requestable == 0 => OpenRefusal::UnitsHeldByOpenRequest { request },
            _ => OpenRefusal::QuantityNotRequestable { sku, requestable },
        }
    }

    /// The replacement units open exchanges hold, per stock row (the restart cross-check counts
    /// them with the open orders' reservations).
    pub fn holdings(&self) -> impl Iterator<Item = ((SkuId, crate::WarehouseId), i64)> + '_ {
        self.requests
            .values()
            .flat_map(|r| r.held().map(|(sku, a)| ((sku, a.warehouse), a.quantity)))
    }

    /// Opens a checked ask under the rules' decision.
    pub fn open(
        &mut self,
        id: AfterSalesId,
        ask: Ask,
        decision: Decision,
        at: Timestamp,
        deadlines: Deadlines,
    ) -> Result<&AfterSalesRequest, OpenRefusal> {
        assert!(!self.requests.contains_key(&id), "after-sales id {id} used twice");
        let request = AfterSalesRequest::open(ask, decision, at, deadlines).map_err(OpenRefusal::RefusedByRules)?;
        self.insert(id, request);
        Ok(self.requests.get(&id).expect("inserted above"))
    }

    /// The earliest instant a request's deadline falls due.
    pub fn next_due(&self) -> Option<Timestamp> {
        self.timers.first().map(|(due, _)| *due)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::after_sales::Reason;
    use crate::after_sales::request::tests::{DEADLINES, decision};
    use crate::after_sales::rules::Verdict;
    use crate::geo::Adcode;
    use crate::orders::{Address, AddressDetail, OrderLine};
    use crate::{BuyerId, CheckoutId, Quantity, ShopId};

    fn sku(raw: i64) -> SkuId {
        SkuId::new(raw).expect("positive")
    }

    fn paid_order(lines: &[(i64, i64)]) -> Order {
        Order {
            id: OrderId::new(1).expect("positive"),
            checkout: CheckoutId::new(1).expect("positive"),
            shop: ShopId::new(1).expect("positive"),
            buyer: BuyerId::new(1).expect("positive"),
            lines: lines
                .iter()
                .map(|&(s, q)| OrderLine {
                    sku: sku(s),
                    quantity: Quantity::new(q).expect("a quantity"),
                    unit_price: Fen::from_const(1_000),
                    allocations: vec![],
                })
                .collect(),
            total: Fen::from_const(1_000 * lines.iter().map(|l| l.1).sum::<i64>()),
            address: Address {
                adcode: Adcode::parse("310101000000").expect("known"),
                detail: AddressDetail::parse("南京东路1号").expect("valid"),
            },
            state: OrderState::Delivered,
            version: 1,
            created_at: Timestamp::from_unix_ms(0),
            payment_due_at: Timestamp::from_unix_ms(900_000),
            paid_at: Some(Timestamp::from_unix_ms(1)),
            paid_by: None,
            cancelled_at: None,
            cancel_reason: None,
            flash_sale: None,
            promise: None,
        }
    }

    fn ask(kind: RequestKind, lines: &[(i64, i64)], amount_fen: i64) -> Ask {
        Ask {
            shop: ShopId::new(1).expect("positive"),
            buyer: BuyerId::new(1).expect("positive"),
            order: OrderId::new(1).expect("positive"),
            kind,
            reason: Reason::QualityIssue,
            lines: lines
                .iter()
                .map(|&(s, q)| RequestLine {
                    sku: sku(s),
                    quantity: q,
                })
                .collect(),
            amount: Fen::from_const(amount_fen),
            return_shipping: super::super::policy::ReturnShipping::PlatformFirstWeight,
            address_change: None,
            replacements: vec![],
        }
    }

    fn id(raw: i64) -> AfterSalesId {
        AfterSalesId::new(raw).expect("positive")
    }

    #[test]
    fn a_request_is_refused_by_the_first_check_that_applies() {
        let order = paid_order(&[(1, 2), (2, 1)]);
        let mut book = AfterSalesBook::default();
        let held = ask(RequestKind::ReturnAndRefund, &[(1, 1)], 1_000);
        book.open(
            id(1),
            held,
            decision(Verdict::ToMerchant),
            Timestamp::from_unix_ms(5),
            DEADLINES,
        )
        .expect("opens");
        let unpaid = Order {
            state: OrderState::PendingPayment,
            ..order.clone()
        };
        let return_of = |lines: &[(i64, i64)], amount| ask(RequestKind::ReturnAndRefund, lines, amount);
        let cases: [(&str, &Order, Ask, Result<(), &str>); 6] = [
            (
                "an unpaid order",
                &unpaid,
                return_of(&[(1, 1)], 1_000),
                Err("order_not_paid"),
            ),
            (
                "a SKU not in the order",
                &order,
                return_of(&[(9, 1)], 1_000),
                Err("line_not_in_order"),
            ),
            (
                "more units than ordered",
                &order,
                return_of(&[(2, 2)], 2_000),
                Err("quantity_not_requestable"),
            ),
            (
                "the units an open request holds",
                &order,
                return_of(&[(1, 2)], 2_000),
                Err("quantity_not_requestable"),
            ),
            (
                "more money than refundable",
                &order,
                return_of(&[(1, 1)], 1_500),
                Err("amount_above_refundable"),
            ),
            ("the unit still free", &order, return_of(&[(1, 1)], 1_000), Ok(())),
        ];
        let refundable = Fen::from_const(1_200);
        for (name, order, ask, expected) in cases {
            assert_eq!(
                book.check(&ask, order, refundable).map_err(|r| r.code()),
                expected,
                "{name}"
            );
        }
    }

    #[test]
    fn units_held_by_an_open_request_are_named_and_freed_when_it_closes() {
        let order = paid_order(&[(1, 1)]);
        let mut book = AfterSalesBook::default();
        let at = Timestamp::from_unix_ms(5);
        let first = ask(RequestKind::ReturnAndRefund, &[(1, 1)], 1_000);
        book.open(id(7), first.clone(), decision(Verdict::ToMerchant), at, DEADLINES)
            .expect("opens");
        assert_eq!(
            book.check(&first, &order, Fen::from_const(1_000)),
            Err(OpenRefusal::UnitsHeldByOpenRequest { request: id(7) })
        );
        book.step(id(7), |r| r.withdraw(at))
            .expect("opened")
            .0
            .expect("withdrawable");
        assert_eq!(book.check(&first, &order, Fen::from_const(1_000)), Ok(()));
    }

    #[test]
    fn refunded_units_cannot_be_asked_for_again() {
        let order = paid_order(&[(1, 1)]);
        let mut book = AfterSalesBook::default();
        let at = Timestamp::from_unix_ms(5);
        let refund = ask(RequestKind::RefundOnly, &[(1, 1)], 1_000);
        book.open(id(1), refund.clone(), decision(Verdict::Approve), at, DEADLINES)
            .expect("opens");
        book.step(id(1), |r| r.refunded(at))
            .expect("opened")
            .0
            .expect("refunding");
        assert_eq!(
            book.check(&refund, &order, Fen::from_const(1_000))
                .map_err(|r| r.code()),
            Err("quantity_not_requestable")
        );
    }

    #[test]
    fn a_settled_request_leaves_memory_after_the_retention_and_its_refunded_units_stay_taken() {
        let order = paid_order(&[(1, 2)]);
        let mut book = AfterSalesBook::default();
        let at = Timestamp::from_unix_ms(5);
        let refund = ask(RequestKind::RefundOnly, &[(1, 1)], 1_000);
        book.open(id(1), refund.clone(), decision(Verdict::Approve), at, DEADLINES)
            .expect("opens");
        let withdrawn = ask(RequestKind::RefundOnly, &[(1, 1)], 1_000);
        book.open(id(2), withdrawn, decision(Verdict::ToMerchant), at, DEADLINES)
            .expect("opens");
        book.step(id(2), |r| r.withdraw(at))
            .expect("opened")
            .0
            .expect("withdrawable");
        book.step(id(1), |r| r.refunded(at))
            .expect("opened")
            .0
            .expect("refunding");
        let stored = vec![(id(1), book.request(id(1)).expect("in memory").clone())];

        assert_eq!(
            book.evict_settled(Timestamp::from_unix_ms(4)),
            0,
            "not before it settled"
        );
        assert_eq!(book.evict_settled(at), 2);
        assert!(book.is_empty() && book.of_order(order.id).next().is_none());
        // Brought back from the shell's reading, the refunded unit is taken again; the other
        // is free.
        book.recall(order.id, &stored).expect("a fresh reading");
        let two = ask(RequestKind::RefundOnly, &[(1, 2)], 2_000);
        assert_eq!(
            book.check(&two, &order, Fen::from_const(2_000)).map_err(|r| r.code()),
            Err("quantity_not_requestable")
        );
        assert_eq!(book.check(&refund, &order, Fen::from_const(1_000)), Ok(()));
        assert_eq!(book.evict_settled(at), 1, "a recalled request leaves again");
    }

    /// Opens a refund-only request of `units` of SKU 1 that the rules approve, and records it
    /// refunded; gives the request as it was while refunding.
    fn approve_and_refund(
        book: &mut AfterSalesBook,
        request: AfterSalesId,
        units: i64,
        at: Timestamp,
    ) -> AfterSalesRequest {
        let amount = 1_000 * units;
        book.open(
            request,
            ask(RequestKind::RefundOnly, &[(1, units)], amount),
            decision(Verdict::Approve),
            at,
            DEADLINES,
        )
        .expect("opens");
        let refunding = book.request(request).expect("in memory").clone();
        book.step(request, |r| r.refunded(at))
            .expect("opened")
            .0
            .expect("refunding");
        refunding
    }

    #[test]
    fn a_reading_that_shows_open_a_request_memory_has_forgotten_is_stale() {
        let order = paid_order(&[(1, 1)]);
        let mut book = AfterSalesBook::default();
        let at = Timestamp::from_unix_ms(5);
        let read_while_refunding = vec![(id(1), approve_and_refund(&mut book, id(1), 1, at))];
        assert_eq!(book.recall(order.id, &read_while_refunding), Ok(()), "still in memory");
        book.evict_settled(at);
        assert_eq!(
            book.recall(order.id, &read_while_refunding),
            Err(StaleReading { request: id(1) })
        );
    }

    /// Found by the after-sales property test: a reading taken before a refund, applied after
    /// the shard rebuilt, must still meet the refunded units. A start reads back what settled
    /// within the retention, so the restored book refuses them as the running one did.
    #[test]
    fn a_book_restored_with_a_request_settled_within_the_retention_keeps_its_units_taken() {
        let order = paid_order(&[(1, 3)]);
        let mut book = AfterSalesBook::default();
        let at = Timestamp::from_unix_ms(5);
        let read_before_the_refund: Vec<(AfterSalesId, AfterSalesRequest)> = vec![];
        approve_and_refund(&mut book, id(1), 1, at);
        let settled = (id(1), book.request(id(1)).expect("in memory").clone());

        let mut restored = AfterSalesBook::restore([settled], []);
        assert_eq!(restored, book, "the restart rebuilt what the shard held");
        restored
            .recall(order.id, &read_before_the_refund)
            .expect("nothing read open");
        let all_three = ask(RequestKind::RefundOnly, &[(1, 3)], 3_000);
        assert_eq!(
            restored
                .check(&all_three, &order, Fen::from_const(3_000))
                .map_err(|r| r.code()),
            Err("quantity_not_requestable")
        );
    }

    #[test]
    fn a_cancellation_covers_every_unit_of_the_order() {
        let order = paid_order(&[(1, 2), (2, 1)]);
        let lines = AfterSalesBook::lines_of(RequestKind::CancelBeforeShipment, &[], &order);
        assert_eq!(
            lines,
            vec![
                RequestLine {
                    sku: sku(1),
                    quantity: 2
                },
                RequestLine {
                    sku: sku(2),
                    quantity: 1
                }
            ]
        );
    }

    #[test]
    fn a_refusal_by_the_rules_opens_nothing_and_the_next_deadline_is_known() {
        let mut book = AfterSalesBook::default();
        let at = Timestamp::from_unix_ms(5);
        let refused = book.open(
            id(1),
            ask(RequestKind::RefundOnly, &[(1, 1)], 1_000),
            decision(Verdict::Refuse),
            at,
            DEADLINES,
        );
        assert_eq!(refused.map(|_| ()).map_err(|r| r.code()), Err("refused_by_rules"));
        assert_eq!(book.request(id(1)), None);
        assert_eq!(book.next_due(), None);
        book.open(
            id(2),
            ask(RequestKind::RefundOnly, &[(1, 1)], 1_000),
            decision(Verdict::ToMerchant),
            at,
            DEADLINES,
        )
        .expect("opens");
        assert_eq!(
            book.next_due(),
            Some(Timestamp::from_unix_ms(5 + DEADLINES.merchant_answer_ms))
        );
    }
}
