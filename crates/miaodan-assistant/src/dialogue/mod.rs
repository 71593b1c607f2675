//! A conversation across turns: slots filled over several messages, a confirmation before
//! anything changes, answers in the buyer's language, the hand-over to a person.
//!
//! ```text
//! message ─► understand ─► (handed over? injection? a person asked for?)
//!         ─► a pending task: yes → act · no → drop · an answer to its question → fill it
//!         ─► a new intent: questions are answered at once from the facts;
//!            actions become a task: which order → why / where / which SKU → confirm
//!         ─► not understood twice in a row → hand-over
//! ```
//!
//! **Guardrails.** The assistant sees only the [`Facts`] the shell read for the signed-in
//! buyer, so an order id of another buyer is "not among your orders", never a hint that it
//! exists. It proposes an action only for an order the facts hold, carries it out only on the
//! buyer's yes to that exact proposal, and says only what the platform decided: an action's
//! answer is explained from the outcome the flows return ([`Conversation::acted`]), never
//! assumed. A message that tries to change its rules changes nothing.

mod answers;
mod facts;
mod outcome;
mod resolve;
mod say;
mod task;

pub use facts::{Facts, OrderFacts, ProductOptions, SaleFacts, Sibling};
pub use outcome::Outcome;
pub use resolve::Vocabulary;

use crate::understand::{self, Context, Intent, Lang, Understanding};
use miaodan_domain::after_sales::{Reason, RequestKind};
use miaodan_domain::orders::Address;
use miaodan_domain::time::shanghai::LocalDate;
use miaodan_domain::{OrderId, ShopId, SkuId};
use serde::{Deserialize, Serialize};
use task::Task;

/// Messages in a row the assistant did not understand before it hands over.
pub const MISUNDERSTOOD_MAX: u8 = 2;

/// A conversation's state between messages; the shell keeps it (as JSON) with the messages.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    /// The language of the buyer's last message.
    pub lang: Option<Lang>,
    /// The action being prepared, if any.
    task: Option<Task>,
    /// The order last talked about: "it" in the next message.
    focus: Option<OrderId>,
    /// Messages in a row not understood.
    misunderstood: u8,
    /// With the merchant's customer service now: the assistant answers no more.
    pub handed_over: bool,
}

/// What the shell carries out for a turn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Cancel an unpaid order.
    CancelOrder { order: OrderId },
    /// Open an after-sales request (a paid order's cancellation included).
    OpenRequest(Request),
    /// Pass the conversation to the merchant's customer service (the shop of the order talked
    /// about, or the platform's when none was).
    HandOver { shop: Option<ShopId>, summary: String },
}

/// An after-sales request, as the API's `POST /v1/after-sales` takes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub order: OrderId,
    pub kind: RequestKind,
    pub reason: Reason,
    /// `(sku, quantity)` per line; empty for a cancellation or a change of address.
    pub lines: Vec<(SkuId, i64)>,
    pub new_address: Option<Address>,
    /// `(returned, wanted)` per line of an exchange.
    pub exchange_for: Vec<(SkuId, SkuId)>,
}

/// The assistant's answer to one message.
#[derive(Clone, Debug)]
pub struct Turn {
    pub reply: String,
    pub lang: Lang,
    pub understanding: Understanding,
    /// The order the turn is about, once known.
    pub order: Option<OrderId>,
    /// The action to carry out now; its answer comes from [`Conversation::acted`].
    pub action: Option<Action>,
    pub handed_over: bool,
}

/// The assistant's first message in a conversation.
pub fn greeting(lang: Lang) -> String {
    say::pick(
        lang,
        "你好，我是秒单智能客服，24 小时在线。可以帮你查物流、问送达时间、改地址、取消订单、退款退货换货。请问有什么可以帮你？",
        "Hi, I'm miaodan's assistant, here around the clock. I can track a parcel, tell you when it arrives, change an address, cancel an order, and handle refunds, returns and exchanges. How can I help?",
    )
    .to_string()
}

impl Conversation {
    /// Answers one message of the buyer, from `facts` only.
    pub fn hear(&mut self, text: &str, facts: &Facts) -> Turn {
        let vocabulary = Vocabulary::of(facts);
        let understanding = self.understand(text, facts, &vocabulary);
        self.respond(understanding, facts, &vocabulary)
    }

    /// What a message says, read against the buyer's products (`vocabulary`, made once per
    /// message from the facts: [`Vocabulary::of`]) and today's date. (The shell may ask a
    /// language model for a second opinion before [`Conversation::respond`].)
    pub fn understand(&self, text: &str, facts: &Facts, vocabulary: &Vocabulary) -> Understanding {
        let titles = vocabulary.titles();
        let context = Context {
            today: LocalDate::of(facts.now),
            products: &titles,
        };
        understand::understand(text, &context)
    }

    /// The SKU whose delivery options the answer needs, if the message asks when something the
    /// buyer has not ordered would arrive ("这个今天下单能到吗", a flash sale's product, another
    /// SKU of one they bought). The shell reads them into [`Facts::options`].
    pub fn options_wanted(
        &self,
        understanding: &Understanding,
        facts: &Facts,
        vocabulary: &Vocabulary,
    ) -> Option<miaodan_domain::SkuId> {
        if understanding.intent != Intent::Arrival {
            return None;
        }
        let named = vocabulary.best_mentions(&understanding.slots);
        // A product the buyer ordered is asked about as their order.
        if named.iter().any(|m| matches!(m, resolve::Mention::Line { .. })) {
            return None;
        }
        named.into_iter().find_map(|mention| match mention {
            resolve::Mention::Sale(i) => facts.sales.get(i).map(|s| s.sale.sku),
            resolve::Mention::Sibling { sku, .. } => Some(sku),
            resolve::Mention::Line { .. } => None,
        })
    }

    /// The answer to a message understood as `understanding`.
    pub fn respond(&mut self, understanding: Understanding, facts: &Facts, vocabulary: &Vocabulary) -> Turn {
        let lang = understanding.lang;
        self.lang = Some(lang);
        let mut turn = Turn {
            reply: String::new(),
            lang,
            understanding,
            order: None,
            action: None,
            handed_over: self.handed_over,
        };
        let heard = Heard {
            facts,
            vocabulary,
            lang,
        };
        self.answer(&heard, &mut turn);
        if turn.order.is_none() {
            turn.order = self.task.as_ref().and_then(|t| t.order).or(self.focus);
        }
        if let Some(order) = turn.order {
            self.focus = Some(order);
        }
        turn.handed_over = self.handed_over;
        turn
    }

    fn answer(&mut self, heard: &Heard<'_>, turn: &mut Turn) {
        let lang = heard.lang;
        let intent = turn.understanding.intent;
        if self.handed_over {
            turn.reply = say::pick(lang, say::STILL_HANDED_OVER_ZH, say::STILL_HANDED_OVER_EN).into();
            return;
        }
        if turn.understanding.slots.injection {
            self.task = None;
            turn.reply = say::pick(lang, say::INJECTION_ZH, say::INJECTION_EN).into();
            return;
        }
        if intent == Intent::Human {
            return self.hand_over(
                heard,
                turn,
                say::pick(lang, "买家要求转人工", "the buyer asked for a person"),
            );
        }
        if self.task.is_some() && self.continue_task(heard, turn) {
            self.misunderstood = 0;
            return;
        }
        self.fresh(heard, turn);
    }

    /// A message that is not an answer to a pending task.
    fn fresh(&mut self, heard: &Heard<'_>, turn: &mut Turn) {
        let lang = heard.lang;
        let intent = turn.understanding.intent;
        if intent == Intent::Unknown || (matches!(intent, Intent::Affirm | Intent::Deny) && self.task.is_none()) {
            if intent != Intent::Unknown {
                turn.reply = say::pick(
                    lang,
                    "好的。还有什么可以帮你？",
                    "All right. Anything else I can help with?",
                )
                .into();
                return;
            }
            self.misunderstood += 1;
            if self.misunderstood >= MISUNDERSTOOD_MAX {
                let why = say::pick(
                    lang,
                    "多次未能理解买家的问题",
                    "the assistant did not understand the buyer twice",
                );
                return self.hand_over(heard, turn, why);
            }
            turn.reply = say::pick(lang, say::NOT_UNDERSTOOD_ZH, say::NOT_UNDERSTOOD_EN).into();
            return;
        }
        self.misunderstood = 0;
        match task::kind_of(intent) {
            Some(kind) => {
                self.task = Some(Task::new(kind));
                self.work_task(heard, turn);
            }
            None => {
                self.task = None;
                answers::answer(intent, heard, &self.focus, turn);
            }
        }
    }

    fn hand_over(&mut self, heard: &Heard<'_>, turn: &mut Turn, why: &str) {
        let order = self.task.as_ref().and_then(|t| t.order).or(self.focus);
        let shop = order.and_then(|o| heard.facts.order(o)).map(|o| o.order.shop);
        let mut summary = why.to_string();
        if let Some(task) = &self.task {
            summary.push_str(&format!("; {}", task.kind.as_str()));
        }
        if let Some(order) = order {
            summary.push_str(&format!("; #{order}"));
        }
        self.task = None;
        self.handed_over = true;
        turn.order = order;
        turn.action = Some(Action::HandOver { shop, summary });
        turn.reply = say::pick(heard.lang, say::HANDED_OVER_ZH, say::HANDED_OVER_EN).into();
    }
}

/// What every step of a turn reads.
pub(crate) struct Heard<'a> {
    pub facts: &'a Facts,
    pub vocabulary: &'a Vocabulary,
    pub lang: Lang,
}
