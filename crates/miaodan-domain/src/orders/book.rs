//! The open orders a shard owns: unpaid orders in memory, in payment-due order, and the
//! request references of recent checkouts and taps (so a retried request finds its order).
//!
//! An order enters through [`OrderBook::open`] and leaves through [`OrderBook::close`] with a
//! legal closing transition; paid orders move on to fulfillment, cancelled ones are history.

use super::{InvalidTransition, Order, OrderState, RequestRef};
use crate::flash_sale::FlashSaleId;
use crate::ids::OrderId;
use crate::shard::{Effect, Rejection};
use crate::time::Timestamp;
use std::collections::{BTreeMap, BTreeSet, HashMap};

#[derive(Clone, Debug, Default)]
pub struct OrderBook {
    open: BTreeMap<OrderId, Order>,
    payment_due: BTreeSet<(Timestamp, OrderId)>,
    /// The unpaid orders of each flash sale, in payment-due order: a sale's live room asks how
    /// many wait and which times out next, and must not walk a million open orders to know.
    unpaid_by_sale: BTreeMap<FlashSaleId, BTreeSet<(Timestamp, OrderId)>>,
    /// Looked up, never iterated into output, so hashing keeps decisions deterministic.
    placed_requests: HashMap<RequestRef, (OrderId, Timestamp)>,
}

impl OrderBook {
    /// The open orders and recent request references as storage holds them.
    pub fn restore(open_orders: Vec<Order>, recent_requests: Vec<(RequestRef, OrderId, Timestamp)>) -> OrderBook {
        let mut book = OrderBook::default();
        for order in open_orders {
            assert_eq!(order.state, OrderState::PendingPayment, "snapshot holds a closed order");
            book.payment_due.insert((order.payment_due_at, order.id));
            book.note_unpaid(&order);
            book.open.insert(order.id, order);
        }
        book.placed_requests = recent_requests
            .into_iter()
            .map(|(request, order, at)| (request, (order, at)))
            .collect();
        book
    }

    pub fn get(&self, id: OrderId) -> Option<&Order> {
        self.open.get(&id)
    }

    pub fn contains(&self, id: OrderId) -> bool {
        self.open.contains_key(&id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Order> {
        self.open.values()
    }

    /// The order a request already placed, if it did.
    pub fn placed_by(&self, request: Option<&RequestRef>) -> Option<OrderId> {
        request.and_then(|r| self.placed_requests.get(r)).map(|(id, _)| *id)
    }

    /// How many open orders the book holds.
    pub fn open_count(&self) -> usize {
        self.open.len()
    }

    /// How many request references it remembers (one per keyed order placed within the
    /// retention window, open or not).
    pub fn remembered_requests(&self) -> usize {
        self.placed_requests.len()
    }

    /// Forgets the request references of orders placed before `cutoff`.
    pub fn forget_requests_placed_before(&mut self, cutoff: Timestamp) {
        self.placed_requests.retain(|_, (_, placed_at)| *placed_at >= cutoff);
        // After a burst has aged out, give its room back rather than keep it for the next.
        if self.placed_requests.capacity() > 4 * self.placed_requests.len() {
            self.placed_requests.shrink_to_fit();
        }
    }

    /// Records a new open order: due for payment, deduplicated by its request, made durable.
    pub fn open(&mut self, order: Order, request: Option<RequestRef>, effects: &mut Vec<Effect>) {
        assert_eq!(order.state, OrderState::PendingPayment, "a new order is unpaid");
        self.payment_due.insert((order.payment_due_at, order.id));
        self.note_unpaid(&order);
        if let Some(request) = &request {
            self.placed_requests
                .insert(request.clone(), (order.id, order.created_at));
        }
        effects.push(Effect::OrderCreated {
            order: order.clone(),
            request,
        });
        self.open.insert(order.id, order);
    }

    /// Applies a closing transition to an open order and drops it from the working set.
    pub fn close(
        &mut self,
        id: OrderId,
        effects: &mut Vec<Effect>,
        transition: impl FnOnce(&mut Order) -> Result<(), InvalidTransition>,
    ) -> Result<Order, Rejection> {
        let mut order = self.open.remove(&id).ok_or(Rejection::OrderNotOpen)?;
        if let Err(invalid) = transition(&mut order) {
            unreachable!("an open order refused a closing transition: {invalid:?}");
        }
        self.payment_due.remove(&(order.payment_due_at, id));
        if let Some(sale) = order.flash_sale {
            let unpaid = self.unpaid_by_sale.entry(sale).or_default();
            let removed = unpaid.remove(&(order.payment_due_at, id));
            assert!(
                removed,
                "an open flash-sale order was not among its sale's unpaid orders"
            );
            if unpaid.is_empty() {
                self.unpaid_by_sale.remove(&sale);
            }
        }
        effects.push(Effect::OrderTransitioned(order.clone()));
        Ok(order)
    }

    fn note_unpaid(&mut self, order: &Order) {
        if let Some(sale) = order.flash_sale {
            let unpaid = self.unpaid_by_sale.entry(sale).or_default();
            assert!(unpaid.insert((order.payment_due_at, order.id)), "an order opened twice");
        }
    }

    /// How many orders of flash sale `sale` wait for payment, and when the first of them is due.
    pub fn unpaid_of_sale(&self, sale: FlashSaleId) -> (usize, Option<Timestamp>) {
        self.unpaid_by_sale
            .get(&sale)
            .map_or((0, None), |unpaid| (unpaid.len(), unpaid.first().map(|(due, _)| *due)))
    }

    /// Orders due for payment at or before `now`, earliest first, at most `max`.
    pub fn due(&self, now: Timestamp, max: usize) -> Vec<OrderId> {
        self.payment_due
            .iter()
            .take_while(|(due_at, _)| *due_at <= now)
            .take(max)
            .map(|(_, id)| *id)
            .collect()
    }
}
