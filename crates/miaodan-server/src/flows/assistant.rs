//! The customer-service assistant's flow: read the buyer's own orders, let the pure
//! assistant (`miaodan-assistant`) understand the message and decide, carry out the one action
//! it asks for through the same shard commands and flows as the API, and keep the
//! conversation.

use crate::app::AppState;
use miaodan_assistant::understand::{Intent, Lang, Slots};
use miaodan_domain::after_sales::RequestKind;
use miaodan_domain::ids::{AfterSalesId, ConversationId};
use miaodan_domain::risk::ClientSignals;
use miaodan_domain::{BuyerId, OrderId};

#[derive(Debug, thiserror::Error)]
pub enum AssistantError {
    /// No such conversation of this buyer.
    #[error("no such conversation")]
    UnknownConversation,
    /// Another message of the same conversation is being answered.
    #[error("the conversation is answering another message")]
    Busy,
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
    let _ = (state, buyer);
    Err(AssistantError::UnknownConversation)
}

/// Answers one message of the buyer in one of the buyer's conversations.
pub async fn hear(
    state: &AppState,
    buyer: BuyerId,
    conversation: ConversationId,
    text: &str,
    client: Option<ClientSignals>,
) -> Result<Exchange, AssistantError> {
    let _ = (state, buyer, conversation, text, client);
    Err(AssistantError::UnknownConversation)
}
