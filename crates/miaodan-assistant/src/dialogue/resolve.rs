//! Which of the buyer's orders a message means: named by id, by product, by the day it was
//! bought, by its place in a list the assistant showed, or as the only one the request fits.

use super::facts::{Facts, OrderFacts};
use super::task::TaskKind;
use crate::understand::{Slots, attributes};
use miaodan_domain::OrderId;
use miaodan_domain::SkuId;
use miaodan_domain::orders::OrderState;
use miaodan_domain::time::shanghai::LocalDate;

/// Every product title the buyer may name, and what each stands for.
#[derive(Clone, Debug, Default)]
pub struct Vocabulary {
    entries: Vec<(String, Mention)>,
}

/// What a product title in a message stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mention {
    /// A line of one of the buyer's orders.
    Line { order: OrderId, sku: SkuId },
    /// Another SKU of a product in one of the buyer's orders (`of`: the ordered SKU).
    Sibling { order: OrderId, of: SkuId, sku: SkuId },
    /// A flash sale (its index in [`Facts::sales`]).
    Sale(usize),
}

impl Vocabulary {
    pub fn of(facts: &Facts) -> Vocabulary {
        let mut entries = Vec::new();
        for o in &facts.orders {
            for (line, title) in o.order.lines.iter().zip(&o.titles) {
                let mention = Mention::Line {
                    order: o.order.id,
                    sku: line.sku,
                };
                entries.push((title.clone(), mention));
            }
            for s in &o.siblings {
                let mention = Mention::Sibling {
                    order: o.order.id,
                    of: s.of,
                    sku: s.sku,
                };
                entries.push((s.title.clone(), mention));
            }
        }
        for (i, sale) in facts.sales.iter().enumerate() {
            entries.push((sale.title.clone(), Mention::Sale(i)));
        }
        Vocabulary { entries }
    }

    pub fn titles(&self) -> Vec<&str> {
        self.entries.iter().map(|(t, _)| t.as_str()).collect()
    }

    /// What the products a message names stand for, best match first.
    pub fn mentions(&self, slots: &Slots) -> Vec<Mention> {
        slots
            .products
            .iter()
            .filter_map(|&i| self.entries.get(i).map(|(_, m)| *m))
            .collect()
    }

    /// The products the message names best (one, or several named equally well).
    pub fn best_mentions(&self, slots: &Slots) -> Vec<Mention> {
        let mut mentions = self.mentions(slots);
        mentions.truncate(slots.products_best.max(1).min(mentions.len()));
        mentions
    }

    /// The orders whose products the message names best, in the order named. Another SKU of
    /// an ordered product names its order too ("the T-shirt in black": the T-shirt order).
    pub fn named_orders(&self, slots: &Slots) -> Vec<OrderId> {
        let mut orders = Vec::new();
        for mention in self.best_mentions(slots) {
            let order = match mention {
                Mention::Line { order, .. } | Mention::Sibling { order, .. } => order,
                Mention::Sale(_) => continue,
            };
            if !orders.contains(&order) {
                orders.push(order);
            }
        }
        orders
    }

    /// The SKU wanted instead in an exchange on `order` (any order when `None`): the sibling with
    /// the most of the colours and sizes the message names, among those that have one the
    /// ordered SKU lacks ("换成黑色的"; "XL太大 换L码"). A message naming none ("the T-shirt")
    /// wants nothing yet.
    pub fn wanted_instead(&self, slots: &Slots, order: Option<OrderId>) -> Option<(OrderId, SkuId, SkuId)> {
        let named = &slots.attributes;
        let mut best: Option<((OrderId, SkuId, SkuId), usize)> = None;
        for &i in &slots.products {
            let Some((title, Mention::Sibling { order: o, of, sku })) = self.entries.get(i) else {
                continue;
            };
            if order.is_some_and(|wanted| wanted != *o) {
                continue;
            }
            let ordered = self.title_of(*o, *of).map(attributes).unwrap_or_default();
            let offered = attributes(title);
            // Named above the ordered SKU itself (its own words, "青花"), or by a colour or size
            // the ordered SKU lacks.
            let ranked_above = self.ranked_before(slots, i, *o, *of);
            let new = ranked_above || offered.iter().any(|a| named.contains(a) && !ordered.contains(a));
            let common = offered.iter().filter(|a| named.contains(a)).count();
            if new && best.as_ref().is_none_or(|(_, most)| common > *most) {
                best = Some(((*o, *of, *sku), common));
            }
        }
        best.map(|(wanted, _)| wanted)
    }

    /// Whether title `i` comes before the line `(order, sku)` in the message's ranking (ties
    /// rank the line first, so "before" is a better match).
    fn ranked_before(&self, slots: &Slots, i: usize, order: OrderId, sku: SkuId) -> bool {
        let line = Mention::Line { order, sku };
        let at = |wanted: &dyn Fn(usize) -> bool| slots.products.iter().position(|&j| wanted(j));
        let sibling_at = at(&|j| j == i);
        let line_at = at(&|j| self.entries.get(j).is_some_and(|(_, m)| *m == line));
        matches!((sibling_at, line_at), (Some(s), Some(l)) if s < l)
    }

    fn title_of(&self, order: OrderId, sku: SkuId) -> Option<&str> {
        self.entries
            .iter()
            .find_map(|(title, m)| (*m == Mention::Line { order, sku }).then_some(title.as_str()))
    }
}

/// What a message says about which order it means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pick {
    /// This order.
    One(OrderId),
    /// One of these: ask which.
    Many(Vec<OrderId>),
    /// An id that is not among the buyer's orders.
    NotYours(i64),
    /// The orders named, none of which the request fits: explain why for the first.
    Unfit(OrderId),
    /// Nothing named, and no order fits the request.
    Nothing,
}

/// Which order a request of `kind` means. `asked`: the list the assistant showed last
/// (an ordinal counts in it); `focus`: the order talked about before ("it").
pub fn pick(
    kind: TaskKind,
    slots: &Slots,
    facts: &Facts,
    vocabulary: &Vocabulary,
    asked: &[OrderId],
    focus: Option<OrderId>,
) -> Pick {
    let named = match named(slots, facts, vocabulary, asked) {
        Ok(named) => named,
        Err(id) => return Pick::NotYours(id),
    };
    let fits = |id: &OrderId| facts.order(*id).is_some_and(|o| fits(kind, o));
    if !named.is_empty() {
        let fitting: Vec<OrderId> = named.iter().copied().filter(fits).collect();
        return match fitting.len() {
            0 => Pick::Unfit(named[0]),
            1 => Pick::One(fitting[0]),
            _ => Pick::Many(fitting),
        };
    }
    if !asked.is_empty() {
        return Pick::Many(asked.to_vec());
    }
    if let Some(focus) = focus.filter(fits) {
        return Pick::One(focus);
    }
    let fitting: Vec<OrderId> = facts.orders.iter().map(|o| o.order.id).filter(fits).collect();
    match fitting.len() {
        0 => Pick::Nothing,
        1 => Pick::One(fitting[0]),
        _ => Pick::Many(fitting.into_iter().take(LIST_MAX).collect()),
    }
}

/// Orders offered in one list at most.
pub const LIST_MAX: usize = 8;

/// The orders a message names, by every way it can name them; `Err(id)`: an id that is not
/// the buyer's.
pub fn named(slots: &Slots, facts: &Facts, vocabulary: &Vocabulary, asked: &[OrderId]) -> Result<Vec<OrderId>, i64> {
    let mut named = Vec::new();
    for &raw in &slots.order_ids {
        match facts.orders.iter().find(|o| o.order.id.get() == raw) {
            Some(o) => named.push(o.order.id),
            None => return Err(raw),
        }
    }
    if let Some(n) = slots.ordinal.filter(|_| named.is_empty() && !asked.is_empty())
        && let Some(id) = asked.get(usize::from(n).saturating_sub(1))
    {
        named.push(*id);
    }
    let by_product = vocabulary.named_orders(slots);
    if named.is_empty() && !by_product.is_empty() {
        // Within the list the buyer was shown, if the product is there; else wherever it is.
        let listed: Vec<OrderId> = by_product.iter().copied().filter(|id| asked.contains(id)).collect();
        named = if listed.is_empty() { by_product } else { listed };
    }
    if let Some(days) = slots.days {
        let placed_within = |id: &OrderId| {
            facts.order(*id).is_some_and(|o| {
                let day = LocalDate::of(o.order.created_at);
                days.from <= day && day <= days.to
            })
        };
        if named.is_empty() {
            named = facts.orders.iter().map(|o| o.order.id).filter(placed_within).collect();
        } else if named.iter().any(placed_within) {
            named.retain(placed_within);
        }
    }
    Ok(named)
}

/// Whether a request of `kind` can be asked on the order at all (the rules then decide it).
pub fn fits(kind: TaskKind, o: &OrderFacts) -> bool {
    let state = o.order.state;
    let collected = o.picked_up_at().is_some();
    match kind {
        TaskKind::Cancel => {
            state == OrderState::PendingPayment
                || (matches!(state, OrderState::Paid | OrderState::Shipped) && !collected)
        }
        TaskKind::ChangeAddress => matches!(state, OrderState::Paid | OrderState::Shipped) && !collected,
        TaskKind::RefundOnly => matches!(state, OrderState::Paid | OrderState::Shipped | OrderState::Delivered),
        TaskKind::ReturnRefund | TaskKind::Exchange => state == OrderState::Delivered,
    }
}

/// The orders a question about delivery is about: those on their way, else the latest
/// delivered one.
pub fn in_flight(facts: &Facts) -> Vec<&OrderFacts> {
    let moving: Vec<&OrderFacts> = facts
        .orders
        .iter()
        .filter(|o| matches!(o.order.state, OrderState::Paid | OrderState::Shipped))
        .take(LIST_MAX)
        .collect();
    if !moving.is_empty() {
        return moving;
    }
    facts
        .orders
        .iter()
        .filter(|o| o.order.state == OrderState::Delivered)
        .take(1)
        .collect()
}
