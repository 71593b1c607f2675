//! The customer-service assistant's flow: read the buyer's own orders, let the pure
//! assistant (`miaodan-assistant`) understand the message and decide, carry out the one action
//! it asks for through the same shard commands and flows as the API, and keep the
//! conversation.
//!
//! ```text
//! hear: lock the conversation (one turn at a time) ─► store: conversation, the buyer's facts
//!       ─► assistant: understand ─► a language model's second opinion on an unsure intent,
//!          if an operator plugged one in (`language_model`)
//!       ─► assistant: respond ─► action? cancel: shard CancelOrder
//!                                      request: after_sales::prepare_open ─► shard OpenRequest
//!                                      hand-over: the conversation's handover row
//!       ─► assistant: acted (the outcome, explained) ─► store: the turn, in one transaction
//! ```
//!
//! **Guardrails in the shell.** Facts are read for the signed-in buyer only; an action is the
//! API's own command with the buyer as its author, so the shard's checks, the after-sales rules
//! and risk apply unchanged, and what the buyer is told is the outcome they returned.

mod facts;

use crate::app::AppState;
use crate::flows::after_sales::{self, AfterSalesError, Ask};
use miaodan_assistant::dialogue::{self, Action, Conversation, Outcome, Request, Turn, Vocabulary};
use miaodan_assistant::understand::{Intent, Lang, Slots};
use miaodan_domain::after_sales::RequestKind;
use miaodan_domain::after_sales::request::RequestLine;
use miaodan_domain::ids::{AfterSalesId, ConversationId};
use miaodan_domain::orders::CancelReason;
use miaodan_domain::risk::ClientSignals;
use miaodan_domain::shard::{CancelOrder, Canceller};
use miaodan_domain::{BuyerId, OrderId};
use miaodan_store::records::IdempotencyRecord;
use miaodan_store::{Author, Handover, StoreError, StoredConversation, StoredMessage};

/// The conversations of a platform answering a message now: turns are taken one at a time per
/// conversation. (A fixed set of locks chosen by id made two conversations sharing one refuse
/// each other as busy.)
#[derive(Debug, Default)]
pub struct Turns(std::sync::Mutex<std::collections::HashSet<ConversationId>>);

/// A conversation's turn, held until dropped.
struct HeldTurn<'a>(&'a Turns, ConversationId);

impl Drop for HeldTurn<'_> {
    fn drop(&mut self) {
        self.0.0.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.1);
    }
}

impl Turns {
    /// Conversation `id`'s turn, or [`AssistantError::Busy`] while another message of it is
    /// answered.
    fn take(&self, id: ConversationId) -> Result<HeldTurn<'_>, AssistantError> {
        match self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(id) {
            true => Ok(HeldTurn(self, id)),
            false => Err(AssistantError::Busy),
        }
    }
}

/// The conversation's turn on `state`'s platform ([`Turns::take`]).
fn take_turn(state: &AppState, id: ConversationId) -> Result<HeldTurn<'_>, AssistantError> {
    state.conversation_turns.take(id)
}

/// A buyer's message, at most, in characters.
pub const MESSAGE_CHARS_MAX: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum AssistantError {
    /// No such conversation of this buyer.
    #[error("no such conversation")]
    UnknownConversation,
    /// Another message of the same conversation is being answered.
    #[error("the conversation is answering another message")]
    Busy,
    /// A person may answer only a conversation handed over to them.
    #[error("the conversation was not handed over")]
    NotHandedOver,
    #[error(transparent)]
    Store(#[from] miaodan_store::StoreError),
}

/// What the assistant did for one message of the buyer.
#[derive(Clone, Debug)]
pub struct Exchange {
    pub conversation: ConversationId,
    pub reply: String,
    pub lang: Lang,
    pub intent: Intent,
    pub confidence_permille: u16,
    pub slots: Slots,
    /// The buyer's order this turn is about, once the assistant knows which.
    pub order: Option<OrderId>,
    /// The action carried out on this turn (after the buyer confirmed it), if any.
    pub action: Option<ActionTaken>,
    /// The conversation is with the merchant's customer service now.
    pub handed_over: bool,
}

/// A turn as kept: what the assistant did, and the messages it wrote (the buyer's, then the
/// assistant's).
#[derive(Clone, Debug)]
pub struct KeptTurn {
    pub exchange: Exchange,
    pub messages: [StoredMessage; 2],
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ActionKind {
    /// An unpaid order cancelled.
    CancelOrder,
    /// An after-sales request opened (a paid order's cancellation is `CancelBeforeShipment`).
    OpenRequest(RequestKind),
    /// The conversation passed to the merchant's customer service.
    HandOver,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActionTaken {
    pub kind: ActionKind,
    pub order: Option<OrderId>,
    pub request: Option<AfterSalesId>,
    /// `None`: done; `Some(code)`: refused with this stable code (`refused_by_rules`, …),
    /// nothing changed.
    pub refused: Option<String>,
}

/// Opens a conversation for the buyer; the answer is its id and the assistant's greeting.
pub async fn start(state: &AppState, buyer: BuyerId) -> Result<(ConversationId, String), AssistantError> {
    let (conversation, messages) = open(state, buyer, None, |_| None).await?;
    Ok((conversation.id, messages[0].body.clone()))
}

/// A conversation and its messages.
pub type Opened = (StoredConversation, Vec<StoredMessage>);

/// Opens a conversation: the stored row and its first message, the greeting — in `lang`, or in
/// both languages when the client does not know the buyer's yet — stored with the response
/// `record` makes of it.
pub async fn open(
    state: &AppState,
    buyer: BuyerId,
    lang: Option<Lang>,
    record: impl FnOnce(&Opened) -> Option<IdempotencyRecord>,
) -> Result<Opened, AssistantError> {
    let id = state.ids.conversation().await?;
    let now = state.clock.now();
    let greeting = match lang {
        Some(lang) => dialogue::greeting(lang),
        None => format!("{}\n{}", dialogue::greeting(Lang::Zh), dialogue::greeting(Lang::En)),
    };
    let conversation = StoredConversation {
        id,
        buyer,
        dialogue: dialogue_json(&Conversation::default()),
        messages: 1,
        handover: None,
        created_at: now,
        updated_at: now,
    };
    let messages = vec![StoredMessage {
        seq: 1,
        author: Author::Assistant,
        body: greeting,
        at: now,
        understood: None,
        action: None,
    }];
    let opened = (conversation, messages);
    let response = record(&opened);
    state
        .store
        .insert_conversation(&opened.0, &opened.1, response.as_ref())
        .await?;
    Ok(opened)
}

/// The buyer's conversation, if it is theirs.
pub async fn conversation_of(
    state: &AppState,
    buyer: BuyerId,
    id: ConversationId,
) -> Result<StoredConversation, AssistantError> {
    state
        .store
        .conversation(id)
        .await?
        .filter(|c| c.buyer == buyer)
        .ok_or(AssistantError::UnknownConversation)
}

/// Answers one message of the buyer in one of the buyer's conversations.
pub async fn hear(
    state: &AppState,
    buyer: BuyerId,
    conversation: ConversationId,
    text: &str,
    client: Option<ClientSignals>,
) -> Result<Exchange, AssistantError> {
    Ok(hear_recorded(state, buyer, conversation, text, client, |_| None)
        .await?
        .exchange)
}

/// [`hear`], storing with the turn the response `record` makes of it (an `Idempotency-Key`'s).
pub async fn hear_recorded(
    state: &AppState,
    buyer: BuyerId,
    id: ConversationId,
    text: &str,
    client: Option<ClientSignals>,
    record: impl FnOnce(&KeptTurn) -> Option<IdempotencyRecord>,
) -> Result<KeptTurn, AssistantError> {
    let _turn = take_turn(state, id)?;
    let mut stored = conversation_of(state, buyer, id).await?;
    let mut dialogue: Conversation = serde_json::from_str(&stored.dialogue).unwrap_or_default();
    let mut facts = facts::read(state, buyer).await?;
    let vocabulary = Vocabulary::of(&facts);
    let understanding = dialogue.understand(text, &facts, &vocabulary);
    let understanding = crate::language_model::second_opinion(state.language_model(), text, understanding).await;
    if let Some(sku) = dialogue.options_wanted(&understanding, &facts, &vocabulary) {
        facts.options = facts::options(state, &facts, sku).await?;
    }
    let turn = dialogue.respond(understanding, &facts, &vocabulary);
    let (action, outcome) = carry_out(state, buyer, &turn, client).await?;
    let reply = match &outcome {
        Some(outcome) => dialogue.acted(outcome),
        None => turn.reply.clone(),
    };
    let now = state.clock.now();
    if let Some(Action::HandOver { shop, summary }) = &turn.action {
        stored.handover = Some(Handover {
            shop: *shop,
            summary: summary.clone(),
            at: now,
        });
    }
    let messages = turn_messages(&stored, text, &reply, &turn, action.as_ref(), now);
    stored.dialogue = dialogue_json(&dialogue);
    stored.messages += 2;
    stored.updated_at = now;
    let exchange = Exchange {
        conversation: id,
        reply,
        lang: turn.lang,
        intent: turn.understanding.intent,
        confidence_permille: turn.understanding.confidence_permille,
        slots: turn.understanding.slots.clone(),
        order: turn.order,
        action,
        handed_over: dialogue.handed_over,
    };
    let kept = KeptTurn { exchange, messages };
    let response = record(&kept);
    state
        .store
        .save_turn(&stored, &kept.messages, response.as_ref())
        .await?;
    Ok(kept)
}

fn dialogue_json(dialogue: &Conversation) -> String {
    serde_json::to_string(dialogue).unwrap_or_else(|_| "{}".to_string())
}

/// The turn's two messages: the buyer's, and the assistant's with what it understood and did.
fn turn_messages(
    stored: &StoredConversation,
    text: &str,
    reply: &str,
    turn: &Turn,
    action: Option<&ActionTaken>,
    now: miaodan_domain::Timestamp,
) -> [StoredMessage; 2] {
    let u = &turn.understanding;
    let understood = serde_json::json!({
        "lang": u.lang.as_str(),
        "intent": u.intent.as_str(),
        "confidence_permille": u.confidence_permille,
        "order_id": turn.order.map(OrderId::get),
    });
    let action = action.map(|a| {
        serde_json::json!({
            "kind": match a.kind { ActionKind::CancelOrder => "cancel_order", ActionKind::OpenRequest(_) => "open_request", ActionKind::HandOver => "hand_over" },
            "request_kind": match a.kind { ActionKind::OpenRequest(kind) => Some(kind.as_str()), _ => None },
            "order_id": a.order.map(OrderId::get),
            "after_sales_id": a.request.map(AfterSalesId::get),
            "refused": a.refused,
        })
        .to_string()
    });
    [
        StoredMessage {
            seq: stored.messages + 1,
            author: Author::Buyer,
            body: text.to_string(),
            at: now,
            understood: None,
            action: None,
        },
        StoredMessage {
            seq: stored.messages + 2,
            author: Author::Assistant,
            body: reply.to_string(),
            at: now,
            understood: Some(understood.to_string()),
            action,
        },
    ]
}

/// Carries out the turn's action through the API's own commands; what was done and what the
/// buyer is told of it.
async fn carry_out(
    state: &AppState,
    buyer: BuyerId,
    turn: &Turn,
    client: Option<ClientSignals>,
) -> Result<(Option<ActionTaken>, Option<Outcome>), StoreError> {
    let Some(action) = &turn.action else {
        return Ok((None, None));
    };
    match action {
        Action::HandOver { .. } => {
            let taken = ActionTaken {
                kind: ActionKind::HandOver,
                order: turn.order,
                request: None,
                refused: None,
            };
            Ok((Some(taken), None))
        }
        Action::CancelOrder { order } => Ok(cancel(state, buyer, *order).await),
        Action::OpenRequest(request) => open_request(state, buyer, request, client).await,
    }
}

async fn cancel(state: &AppState, buyer: BuyerId, order: OrderId) -> (Option<ActionTaken>, Option<Outcome>) {
    let mut taken = ActionTaken {
        kind: ActionKind::CancelOrder,
        order: Some(order),
        request: None,
        refused: None,
    };
    let Ok(Some(found)) = state.store.order(order).await else {
        return (None, Some(Outcome::Failed));
    };
    if found.buyer != buyer {
        return (None, Some(Outcome::Failed));
    }
    let command = CancelOrder {
        order,
        by: Canceller::Buyer(buyer),
        reason: CancelReason::BuyerCancelled,
    };
    match state.shards.ask(found.shop, command, None).await {
        Ok(Ok(_)) => (Some(taken), Some(Outcome::Cancelled { order })),
        Ok(Err(rejection)) => {
            taken.refused = Some(rejection.code().to_string());
            let reasons = vec![(rejection.code().to_string(), rejection.code().to_string())];
            let outcome = Outcome::Refused {
                code: rejection.code().to_string(),
                reasons,
            };
            (Some(taken), Some(outcome))
        }
        Err(_) => (None, Some(Outcome::Failed)),
    }
}

async fn open_request(
    state: &AppState,
    buyer: BuyerId,
    request: &Request,
    client: Option<ClientSignals>,
) -> Result<(Option<ActionTaken>, Option<Outcome>), StoreError> {
    let ask = Ask {
        buyer,
        order: request.order,
        kind: request.kind,
        reason: request.reason,
        lines: request
            .lines
            .iter()
            .map(|&(sku, quantity)| RequestLine { sku, quantity })
            .collect(),
        new_address: request.new_address.clone(),
        exchange_for: request.exchange_for.clone(),
        client,
    };
    let mut taken = ActionTaken {
        kind: ActionKind::OpenRequest(request.kind),
        order: Some(request.order),
        request: None,
        refused: None,
    };
    let (shop, command) = match after_sales::prepare_open(state, ask).await {
        Ok(prepared) => prepared,
        Err(AfterSalesError::Store(error)) => return Err(error),
        Err(_) => return Ok((None, Some(Outcome::Failed))),
    };
    let Ok(answer) = state.shards.ask(shop, command, None).await else {
        return Ok((None, Some(Outcome::Failed)));
    };
    match answer {
        Ok(saved) => {
            after_sales::refund_if_due(state, &saved).await;
            after_sales::book_pickup_if_due(state, &saved).await;
            after_sales::redirect_if_due(state, &saved).await;
            taken.request = Some(saved.id);
            let rules = after_sales::explain::decision(&saved.request.decision);
            let outcome = Outcome::Opened {
                id: saved.id,
                request: Box::new(saved.request),
                rules,
            };
            Ok((Some(taken), Some(outcome)))
        }
        Err(rejection) => {
            taken.refused = Some(rejection.code().to_string());
            let reasons = after_sales::explain::refusal(&rejection);
            let outcome = Outcome::Refused {
                code: rejection.code().to_string(),
                reasons,
            };
            Ok((Some(taken), Some(outcome)))
        }
    }
}

/// A person answering a handed-over conversation: of the shop it was handed to, or of the
/// platform (which answers any).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Staff {
    Shop(miaodan_domain::ShopId),
    Platform,
}

/// A person's answer in a conversation handed over to them, kept after the buyer's messages; the
/// conversation stays with people. A conversation the caller may not see is
/// [`AssistantError::UnknownConversation`], one not handed over [`AssistantError::NotHandedOver`].
pub async fn reply_as_staff(
    state: &AppState,
    staff: Staff,
    id: ConversationId,
    text: &str,
    record: impl FnOnce(&StoredMessage) -> Option<IdempotencyRecord>,
) -> Result<StoredMessage, AssistantError> {
    let _turn = take_turn(state, id)?;
    let mut stored = state
        .store
        .conversation(id)
        .await?
        .ok_or(AssistantError::UnknownConversation)?;
    let handed_to = stored.handover.as_ref().map(|h| h.shop);
    match (staff, handed_to) {
        (Staff::Shop(shop), Some(Some(to))) if shop == to => {}
        (Staff::Shop(_), _) => return Err(AssistantError::UnknownConversation),
        (Staff::Platform, Some(_)) => {}
        (Staff::Platform, None) => return Err(AssistantError::NotHandedOver),
    }
    let now = state.clock.now();
    let message = StoredMessage {
        seq: stored.messages + 1,
        author: match staff {
            Staff::Shop(_) => Author::Merchant,
            Staff::Platform => Author::Platform,
        },
        body: text.to_string(),
        at: now,
        understood: None,
        action: None,
    };
    stored.messages += 1;
    stored.updated_at = now;
    let response = record(&message);
    state
        .store
        .save_turn(&stored, std::slice::from_ref(&message), response.as_ref())
        .await?;
    Ok(message)
}

#[cfg(test)]
mod turn_tests {
    use super::*;

    /// One message of a conversation is answered at a time; other conversations are not held
    /// up, whatever their ids.
    #[test]
    fn a_conversations_turn_refuses_only_its_own_next_message() {
        let turns = Turns::default();
        let id = |n| ConversationId::new(n).expect("a positive id");
        let first = turns.take(id(1)).expect("free");
        assert!(matches!(turns.take(id(1)), Err(AssistantError::Busy)));
        let other = turns.take(id(65)).expect("another conversation is not busy");
        drop(first);
        assert!(turns.take(id(1)).is_ok(), "its turn was given back");
        drop(other);
    }
}
