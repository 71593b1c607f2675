//! An action being prepared over several messages: which order, then why / where / which SKU,
//! then the buyer's yes. Nothing is carried out before that yes.

use super::resolve::{self, Mention, Pick};
use super::{Action, Conversation, Heard, Request, Turn, say};
use crate::understand::{Intent, Lang, Slots};
use miaodan_domain::after_sales::{Reason, RequestKind};
use miaodan_domain::geo::Adcode;
use miaodan_domain::orders::{Address, AddressDetail, OrderState};
use miaodan_domain::{OrderId, SkuId};
use serde::{Deserialize, Serialize};

/// A message naming another order while a task is pending is read as a correction unless its
/// classifier is at least this sure it asks for another action.
const CORRECTION_BELOW_PERMILLE: u16 = 700;

/// The actions the assistant prepares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    Cancel,
    ChangeAddress,
    RefundOnly,
    ReturnRefund,
    Exchange,
}

impl TaskKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            TaskKind::Cancel => "cancel",
            TaskKind::ChangeAddress => "change_address",
            TaskKind::RefundOnly => "refund_only",
            TaskKind::ReturnRefund => "return_refund",
            TaskKind::Exchange => "exchange",
        }
    }

    fn needs_reason(self) -> bool {
        matches!(self, TaskKind::RefundOnly | TaskKind::ReturnRefund | TaskKind::Exchange)
    }
}

/// The action an intent asks for, if it asks for one.
pub fn kind_of(intent: Intent) -> Option<TaskKind> {
    match intent {
        Intent::Cancel => Some(TaskKind::Cancel),
        Intent::ChangeAddress => Some(TaskKind::ChangeAddress),
        Intent::RefundOnly => Some(TaskKind::RefundOnly),
        Intent::ReturnRefund => Some(TaskKind::ReturnRefund),
        Intent::Exchange => Some(TaskKind::Exchange),
        _ => None,
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub kind: TaskKind,
    pub order: Option<OrderId>,
    /// The orders the assistant listed and asked the buyer to choose from.
    asked: Vec<OrderId>,
    reason: Option<String>,
    /// The new address: its adcode and detail.
    address: Option<(i64, String)>,
    /// `(sku, quantity)` the buyer named, if fewer than the whole order.
    lines: Vec<(SkuId, i64)>,
    /// The quantity the buyer named, applied once the line is known.
    quantity: Option<i64>,
    /// For an exchange: `(returned, wanted)`.
    wanted: Option<(SkuId, SkuId)>,
    /// The proposal was put to the buyer: a yes carries it out.
    confirming: bool,
}

impl Task {
    pub fn new(kind: TaskKind) -> Task {
        Task {
            kind,
            order: None,
            asked: Vec::new(),
            reason: None,
            address: None,
            lines: Vec::new(),
            quantity: None,
            wanted: None,
            confirming: false,
        }
    }

    fn reason(&self) -> Option<Reason> {
        self.reason.as_deref().and_then(Reason::parse)
    }

    /// Takes what a message says that this task needs; whether it said anything.
    fn absorb(&mut self, slots: &Slots, heard: &Heard<'_>) -> bool {
        let mut took = false;
        if let Some(reason) = slots.reason.filter(|_| self.kind.needs_reason()) {
            self.reason = Some(reason.as_str().to_string());
            took = true;
        }
        if let Some(address) = slots.address.as_ref().filter(|_| self.kind == TaskKind::ChangeAddress) {
            self.address = Some((address.adcode.get(), address.detail.clone()));
            took = true;
        }
        if let Some(quantity) = slots.quantity.filter(|q| *q > 0) {
            self.quantity = Some(quantity);
            took = true;
        }
        if self.kind == TaskKind::Exchange
            && let Some((order, of, sku)) = heard.vocabulary.wanted_instead(slots, self.order)
            && self.order.is_some_and(|o| o == order)
        {
            self.wanted = Some((of, sku));
            took = true;
        }
        for mention in heard.vocabulary.best_mentions(slots) {
            if let Mention::Line { order, sku } = mention
                && self.order == Some(order)
                && !self.lines.iter().any(|(s, _)| *s == sku)
            {
                self.lines.push((sku, 0));
                took = true;
            }
        }
        took
    }
}

impl Conversation {
    /// A message while a task is pending: its yes, its no, an answer to its question or a
    /// correction. `false`: the message is about something else.
    pub(super) fn continue_task(&mut self, heard: &Heard<'_>, turn: &mut Turn) -> bool {
        let Some(task) = self.task.as_mut() else {
            return false;
        };
        let u = &turn.understanding;
        // A yes, or the same request said again ("嗯 确认取消"), to the proposal put.
        let agrees = u.intent == Intent::Affirm || kind_of(u.intent) == Some(task.kind);
        if task.confirming && agrees && u.slots.order_ids.is_empty() && !names_another_order(task, &u.slots, heard) {
            let task = self.task.take().expect("pending");
            turn.order = task.order;
            turn.action = proposal(&task, heard);
            return true;
        }
        let names_order = names_another_order(task, &u.slots, heard);
        if names_order {
            task.order = None;
            task.lines.clear();
            task.wanted = None;
            task.confirming = false;
        }
        // "wait no, I meant the earphones" read as another request, unsure: a correction.
        let new_action = kind_of(u.intent)
            .filter(|k| *k != task.kind)
            .filter(|_| !(names_order && u.confidence_permille < CORRECTION_BELOW_PERMILLE));
        if new_action.is_some() || (!names_order && u.intent == Intent::Deny) {
            if u.intent == Intent::Deny {
                self.task = None;
                turn.reply = say::pick(heard.lang, say::DROPPED_ZH, say::DROPPED_EN).into();
                return true;
            }
            return false;
        }
        let about_else =
            !matches!(u.intent, Intent::Unknown | Intent::Affirm | Intent::Deny) && kind_of(u.intent).is_none();
        let took = task.absorb(&u.slots, heard);
        if !(names_order || took || (task.order.is_none() && !task.asked.is_empty() && u.slots.ordinal.is_some())) {
            if about_else || u.intent == Intent::Unknown {
                return false;
            }
            if task.confirming {
                return false;
            }
        }
        self.work_task(heard, turn);
        true
    }

    /// Moves the task on to its next question, or to the proposal.
    pub(super) fn work_task(&mut self, heard: &Heard<'_>, turn: &mut Turn) {
        let Some(mut task) = self.task.take() else {
            return;
        };
        let slots = turn.understanding.slots.clone();
        if task.order.is_none() {
            let picked = resolve::pick(
                task.kind,
                &slots,
                heard.facts,
                heard.vocabulary,
                &task.asked,
                self.focus,
            );
            match picked {
                Pick::One(order) => {
                    task.order = Some(order);
                    task.asked.clear();
                }
                Pick::Many(orders) => {
                    turn.reply = which_order(heard, task.kind, &orders);
                    task.asked = orders;
                    task.absorb(&slots, heard);
                    self.task = Some(task);
                    return;
                }
                Pick::NotYours(id) => {
                    turn.reply = not_yours(heard.lang, id);
                    return;
                }
                Pick::Unfit(order) => {
                    turn.order = Some(order);
                    turn.reply = why_not(heard, task.kind, order);
                    return;
                }
                Pick::Nothing => {
                    turn.reply = nothing_fits(heard.lang, task.kind);
                    return;
                }
            }
        }
        task.absorb(&slots, heard);
        turn.order = task.order;
        turn.reply = next_question(&mut task, heard);
        self.task = Some(task);
    }
}

/// Whether a message names an order other than the task's (a correction, or the answer to
/// "which one?").
fn names_another_order(task: &Task, slots: &Slots, heard: &Heard<'_>) -> bool {
    let Ok(named) = resolve::named(slots, heard.facts, heard.vocabulary, &task.asked) else {
        return !slots.order_ids.is_empty();
    };
    let Some(first) = named.first() else {
        return false;
    };
    let names_task_order = task.order.is_some_and(|o| named.contains(&o));
    Some(*first) != task.order && !(names_task_order && task.kind == TaskKind::Exchange)
}

/// The next thing the task needs, asked; or the proposal, put to the buyer.
fn next_question(task: &mut Task, heard: &Heard<'_>) -> String {
    let order = task
        .order
        .and_then(|o| heard.facts.order(o))
        .expect("resolved to one of the buyer's orders");
    fill_lines(task, order);
    if task.kind == TaskKind::Exchange && task.wanted.is_none() {
        // One other SKU of the product: it is the one wanted; the proposal names it.
        if let [only] = order.siblings.as_slice() {
            task.wanted = Some((only.of, only.sku));
        }
    }
    match missing_detail(task, heard, order) {
        Some(question) => question,
        None => {
            task.confirming = true;
            confirm_question(task, heard)
        }
    }
}

/// The lines a refund, return or exchange is about: those named, else the whole order; each
/// with the quantity named (at most the line's), else all its units.
fn fill_lines(task: &mut Task, order: &super::OrderFacts) {
    if task.lines.is_empty()
        && matches!(
            task.kind,
            TaskKind::RefundOnly | TaskKind::ReturnRefund | TaskKind::Exchange
        )
    {
        task.lines = order.order.lines.iter().map(|l| (l.sku, 0)).collect();
    }
    for (sku, quantity) in &mut task.lines {
        let ordered = order
            .order
            .lines
            .iter()
            .find(|l| l.sku == *sku)
            .map_or(1, |l| l.quantity.get());
        *quantity = task.quantity.map_or(ordered, |q| q.min(ordered));
    }
}

/// The question for the next detail the task lacks (why, where, which SKU instead), if any.
fn missing_detail(task: &Task, heard: &Heard<'_>, order: &super::OrderFacts) -> Option<String> {
    let lang = heard.lang;
    if task.kind.needs_reason() && task.reason().is_none() {
        return Some(say::either(
            lang,
            || {
                format!(
                    "好的，是订单 {}。请问是什么原因呢？（比如质量问题、收到时坏了、尺码不合适、不想要了）",
                    order.label()
                )
            },
            || {
                format!(
                    "OK, order {}. What's the reason? (e.g. quality issue, arrived damaged, wrong size, changed my mind)",
                    order.label()
                )
            },
        ));
    }
    if task.kind == TaskKind::ChangeAddress && task.address.is_none() {
        return Some(say::either(
            lang,
            || {
                format!(
                    "好的，订单 {}。请告诉我新的收货地址（省市区和详细地址）。",
                    order.label()
                )
            },
            || {
                format!(
                    "OK, order {}. What is the new address (province, city, district and street)?",
                    order.label()
                )
            },
        ));
    }
    if task.kind == TaskKind::Exchange && task.wanted.is_none() {
        let options: Vec<&str> = order.siblings.iter().map(|s| s.title.as_str()).collect();
        if options.is_empty() {
            return Some(say::either(
                lang,
                || {
                    format!(
                        "订单 {} 的商品没有其他规格可换。可以申请退货退款，要吗？",
                        order.label()
                    )
                },
                || {
                    format!(
                        "The goods of order {} come in no other variant to exchange for. Would you like a return and refund instead?",
                        order.label()
                    )
                },
            ));
        }
        return Some(say::either(
            lang,
            || format!("想换成哪一款？可选：{}", options.join("、")),
            || format!("Which one would you like instead? You can pick: {}", options.join(", ")),
        ));
    }
    None
}

fn confirm_question(task: &Task, heard: &Heard<'_>) -> String {
    let lang = heard.lang;
    let order = task.order.and_then(|o| heard.facts.order(o)).expect("resolved");
    let what = match (task.kind, order.order.state) {
        (TaskKind::Cancel, OrderState::PendingPayment) => {
            say::pick(lang, "取消这笔未付款的订单", "cancel this unpaid order").to_string()
        }
        (TaskKind::Cancel, _) => say::pick(
            lang,
            "申请取消订单并全额退款",
            "ask to cancel the order, with a full refund",
        )
        .to_string(),
        (TaskKind::ChangeAddress, _) => {
            let (code, detail) = task.address.clone().unwrap_or_default();
            let place = Adcode::from_stored(code)
                .division()
                .map(|d| d.name.clone())
                .unwrap_or_default();
            say::either(
                lang,
                || format!("把收货地址改为：{place} {detail}"),
                || format!("change the address to: {place} {detail}"),
            )
        }
        (kind, _) => {
            let reason = task.reason().map_or("", |r| say::reason(lang, r));
            let units: i64 = task.lines.iter().map(|(_, q)| q).sum();
            let request = say::kind(lang, kind.request_kind());
            let instead = task
                .wanted
                .and_then(|(_, sku)| order.siblings.iter().find(|s| s.sku == sku))
                .map(|s| s.title.clone());
            match instead {
                Some(title) => say::either(
                    lang,
                    || format!("申请{request}，换成「{title}」（{units} 件，原因：{reason}）"),
                    || format!("open an {request} request for \"{title}\" ({units} unit(s), reason: {reason})"),
                ),
                None => say::either(
                    lang,
                    || format!("申请{request}（{units} 件，原因：{reason}）"),
                    || format!("open a {request} request ({units} unit(s), reason: {reason})"),
                ),
            }
        }
    };
    say::either(
        lang,
        || {
            format!(
                "订单 {}：确认{what}吗？回复“确认”提交，回复“算了”就不办。",
                order.label()
            )
        },
        || {
            format!(
                "Order {}: shall I {what}? Reply \"yes\" to go ahead or \"no\" to stop.",
                order.label()
            )
        },
    )
}

impl TaskKind {
    /// The after-sales kind the task opens (an unpaid order's cancellation is no request).
    fn request_kind(self) -> RequestKind {
        match self {
            TaskKind::Cancel => RequestKind::CancelBeforeShipment,
            TaskKind::ChangeAddress => RequestKind::ChangeAddress,
            TaskKind::RefundOnly => RequestKind::RefundOnly,
            TaskKind::ReturnRefund => RequestKind::ReturnAndRefund,
            TaskKind::Exchange => RequestKind::Exchange,
        }
    }
}

/// The action a confirmed task carries out.
fn proposal(task: &Task, heard: &Heard<'_>) -> Option<Action> {
    let order = heard.facts.order(task.order?)?;
    if task.kind == TaskKind::Cancel && order.order.state == OrderState::PendingPayment {
        return Some(Action::CancelOrder { order: order.order.id });
    }
    let kind = task.kind.request_kind();
    let reason = match task.kind {
        TaskKind::Cancel => Reason::ChangedMind,
        TaskKind::ChangeAddress => Reason::WrongAddress,
        _ => task.reason()?,
    };
    let new_address = match &task.address {
        Some((code, detail)) => Some(Address {
            adcode: Adcode::from_stored(*code),
            detail: AddressDetail::parse(detail).ok()?,
        }),
        None => None,
    };
    let (lines, exchange_for) = match task.kind {
        TaskKind::Cancel | TaskKind::ChangeAddress => (Vec::new(), Vec::new()),
        TaskKind::Exchange => {
            let (returned, wanted) = task.wanted?;
            let quantity = task.lines.iter().find(|(s, _)| *s == returned).map_or(1, |(_, q)| *q);
            (vec![(returned, quantity)], vec![(returned, wanted)])
        }
        _ => (task.lines.clone(), Vec::new()),
    };
    Some(Action::OpenRequest(Request {
        order: order.order.id,
        kind,
        reason,
        lines,
        new_address,
        exchange_for,
    }))
}

fn which_order(heard: &Heard<'_>, kind: TaskKind, orders: &[OrderId]) -> String {
    let lang = heard.lang;
    let list: Vec<String> = orders
        .iter()
        .enumerate()
        .filter_map(|(i, id)| heard.facts.order(*id).map(|o| (i, o)))
        .map(|(i, o)| format!("{}. {}（{}）", i + 1, o.label(), say::order_state(lang, o.order.state)))
        .collect();
    let what = match kind {
        TaskKind::Cancel => say::pick(lang, "取消", "cancel"),
        TaskKind::ChangeAddress => say::pick(lang, "改地址", "readdress"),
        TaskKind::RefundOnly => say::pick(lang, "退款", "refund"),
        TaskKind::ReturnRefund => say::pick(lang, "退货", "return"),
        TaskKind::Exchange => say::pick(lang, "换货", "exchange"),
    };
    say::either(
        lang,
        || {
            format!(
                "你有几笔订单可以{what}，是哪一笔？\n{}\n回复序号、订单号或商品名即可。",
                list.join("\n")
            )
        },
        || {
            format!(
                "Which order would you like to {what}?\n{}\nReply with the number, the order id or the product.",
                list.join("\n")
            )
        },
    )
}

fn not_yours(lang: Lang, id: i64) -> String {
    say::either(
        lang,
        || format!("在你的订单里没有找到订单 #{id}，请核对订单号。"),
        || format!("I can't find order #{id} among your orders; please check the number."),
    )
}

fn nothing_fits(lang: Lang, kind: TaskKind) -> String {
    let what = match kind {
        TaskKind::Cancel => say::pick(lang, "可以取消的订单", "order that can still be cancelled"),
        TaskKind::ChangeAddress => say::pick(
            lang,
            "还能改地址的订单（快递揽收前才能改）",
            "order whose address can still change (only before the carrier collects it)",
        ),
        TaskKind::RefundOnly => say::pick(lang, "可以退款的订单", "paid order to refund"),
        TaskKind::ReturnRefund | TaskKind::Exchange => {
            say::pick(lang, "已签收、可以退换的订单", "delivered order to return or exchange")
        }
    };
    say::either(
        lang,
        || format!("你目前没有{what}。"),
        || format!("You have no {what} right now."),
    )
}

/// Why a request of `kind` cannot be asked on the order the buyer named.
fn why_not(heard: &Heard<'_>, kind: TaskKind, id: OrderId) -> String {
    let lang = heard.lang;
    let Some(o) = heard.facts.order(id) else {
        return not_yours(lang, id.get());
    };
    let label = o.label();
    let state = o.order.state;
    if state == OrderState::Cancelled {
        return say::either(
            lang,
            || format!("订单 {label} 已经取消了。"),
            || format!("Order {label} is already cancelled."),
        );
    }
    if state == OrderState::PendingPayment {
        return say::either(
            lang,
            || format!("订单 {label} 还没付款，不需要退款；要取消它吗？"),
            || format!("Order {label} isn't paid yet, so there is nothing to refund. Shall I cancel it?"),
        );
    }
    if state == OrderState::Delivered && matches!(kind, TaskKind::Cancel | TaskKind::ChangeAddress) {
        return say::either(
            lang,
            || format!("订单 {label} 已经签收，不能取消或改地址了；如需退货退款可以告诉我。"),
            || {
                format!(
                    "Order {label} has been delivered, so it can't be cancelled or readdressed any more; I can start a return if you like."
                )
            },
        );
    }
    if let Some(collected) = o
        .picked_up_at()
        .filter(|_| matches!(kind, TaskKind::Cancel | TaskKind::ChangeAddress))
    {
        let at = say::at(lang, collected);
        return say::either(
            lang,
            || format!("订单 {label} 的包裹已于北京时间 {at} 交给快递，不能再取消或改地址了。签收后可以申请退货退款。"),
            || {
                format!(
                    "A carrier has had the parcel of order {label} since {at} (Beijing time), so it can no longer be cancelled or readdressed. Once it arrives you can return it."
                )
            },
        );
    }
    say::either(
        lang,
        || format!("订单 {label} 还没签收，收到货后才能退货或换货；不想要的话可以申请仅退款。"),
        || {
            format!(
                "Order {label} hasn't been delivered yet: goods can be returned or exchanged once they arrive. You can ask for a refund only instead."
            )
        },
    )
}
