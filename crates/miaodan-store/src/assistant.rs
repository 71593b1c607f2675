//! The assistant's conversations on disk (migration 0026): a row per conversation with the
//! dialogue's state, and its messages. A turn — the buyer's message, the assistant's reply and
//! the new dialogue state — is written in one transaction; the messages' primary key
//! (conversation, seq) refuses a second turn written over the same sequence number.

use crate::platform::idempotency_statement;
use crate::records::{IdempotencyRecord, Keyset};
use crate::sql::{Conditions, Row, Statement, Value};
use crate::{Store, StoreError};
use miaodan_domain::ids::ConversationId;
use miaodan_domain::{BuyerId, ShopId, Timestamp};

/// Messages read with a conversation at most; a longer one shows its newest.
pub const MESSAGES_READ_MAX: i64 = 200;

/// A conversation as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredConversation {
    pub id: ConversationId,
    pub buyer: BuyerId,
    /// The pure assistant's state, as JSON.
    pub dialogue: String,
    /// Messages so far: the next message's seq is this plus one.
    pub messages: i64,
    pub handover: Option<Handover>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Who has a handed-over conversation now, and what the assistant understood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handover {
    /// The shop whose customer service answers; `None`: the platform's.
    pub shop: Option<ShopId>,
    pub summary: String,
    pub at: Timestamp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Author {
    Buyer,
    Assistant,
    /// A person of the shop the conversation was handed to.
    Merchant,
    /// A person of the platform (a conversation handed over about no order).
    Platform,
}

impl Author {
    pub fn as_str(self) -> &'static str {
        match self {
            Author::Buyer => "buyer",
            Author::Assistant => "assistant",
            Author::Merchant => "merchant",
            Author::Platform => "platform",
        }
    }

    fn parse(raw: &str) -> Option<Author> {
        [Author::Buyer, Author::Assistant, Author::Merchant, Author::Platform]
            .into_iter()
            .find(|a| a.as_str() == raw)
    }
}

/// One message of a conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMessage {
    pub seq: i64,
    pub author: Author,
    pub body: String,
    pub at: Timestamp,
    /// What the assistant understood of the buyer's message it answers (JSON).
    pub understood: Option<String>,
    /// The action it carried out (JSON).
    pub action: Option<String>,
}

const CONVERSATION_COLUMNS: &str = "id, buyer_id, dialogue, messages, handed_to_shop, handover_summary,
    handed_over_at_ms, created_at_ms, updated_at_ms";

fn conversation(r: &dyn Row) -> Result<StoredConversation, StoreError> {
    let corrupt = |what: &str| StoreError::corrupt(format!("a conversation's {what} is not known"));
    let handover = match r.opt_i64(6)? {
        Some(at) => Some(Handover {
            shop: match r.opt_i64(4)? {
                Some(raw) => Some(ShopId::new(raw).ok_or_else(|| corrupt("shop"))?),
                None => None,
            },
            summary: r.opt_text(5)?.unwrap_or_default(),
            at: Timestamp::from_unix_ms(at),
        }),
        None => None,
    };
    Ok(StoredConversation {
        id: ConversationId::new(r.i64(0)?).ok_or_else(|| corrupt("id"))?,
        buyer: BuyerId::new(r.i64(1)?).ok_or_else(|| corrupt("buyer"))?,
        dialogue: r.text(2)?,
        messages: r.i64(3)?,
        handover,
        created_at: Timestamp::from_unix_ms(r.i64(7)?),
        updated_at: Timestamp::from_unix_ms(r.i64(8)?),
    })
}

fn message(r: &dyn Row) -> Result<StoredMessage, StoreError> {
    Ok(StoredMessage {
        seq: r.i64(0)?,
        author: Author::parse(&r.text(1)?)
            .ok_or_else(|| StoreError::corrupt("a message's author is not known".to_string()))?,
        body: r.text(2)?,
        at: Timestamp::from_unix_ms(r.i64(3)?),
        understood: r.opt_text(4)?,
        action: r.opt_text(5)?,
    })
}

fn insert_message(conversation: ConversationId, m: &StoredMessage) -> Statement {
    Statement::new(
        "INSERT INTO assistant_messages (conversation_id, seq, author, body, at_ms, understood, action)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        vec![
            Value::I64(conversation.get()),
            Value::I64(m.seq),
            Value::Text(m.author.as_str().into()),
            Value::Text(m.body.clone()),
            Value::I64(m.at.unix_ms()),
            Value::OptText(m.understood.clone()),
            Value::OptText(m.action.clone()),
        ],
    )
}

impl Store {
    /// Writes a new conversation with its first messages (the assistant's greeting), and the
    /// stored response of its `Idempotency-Key` if any.
    pub async fn insert_conversation(
        &self,
        c: &StoredConversation,
        first: &[StoredMessage],
        response: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        let handover = c.handover.as_ref();
        let statement = Statement::owned(
            format!(
                "INSERT INTO assistant_conversations (state, {CONVERSATION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            ),
            vec![
                Value::Text(if handover.is_some() { "handed_over" } else { "open" }.into()),
                Value::I64(c.id.get()),
                Value::I64(c.buyer.get()),
                Value::Text(c.dialogue.clone()),
                Value::I64(c.messages),
                Value::OptI64(handover.and_then(|h| h.shop).map(|s| s.get())),
                Value::OptText(handover.map(|h| h.summary.clone())),
                Value::OptI64(handover.map(|h| h.at.unix_ms())),
                Value::I64(c.created_at.unix_ms()),
                Value::I64(c.updated_at.unix_ms()),
            ],
        );
        let mut statements = vec![statement];
        statements.extend(first.iter().map(|m| insert_message(c.id, m)));
        statements.extend(response.map(idempotency_statement));
        self.execute_atomically(statements).await
    }

    pub async fn conversation(&self, id: ConversationId) -> Result<Option<StoredConversation>, StoreError> {
        let statement = Statement::owned(
            format!("SELECT {CONVERSATION_COLUMNS} FROM assistant_conversations WHERE id = $1"),
            vec![Value::I64(id.get())],
        );
        Ok(self.query(statement, conversation).await?.pop())
    }

    /// A conversation's messages in order (its newest [`MESSAGES_READ_MAX`] at most).
    pub async fn conversation_messages(&self, id: ConversationId) -> Result<Vec<StoredMessage>, StoreError> {
        let statement = Statement::new(
            "SELECT seq, author, body, at_ms, understood, action FROM assistant_messages
             WHERE conversation_id = $1 ORDER BY seq DESC LIMIT $2",
            vec![Value::I64(id.get()), Value::I64(MESSAGES_READ_MAX)],
        );
        let mut messages = self.query(statement, message).await?;
        messages.reverse();
        Ok(messages)
    }

    /// A page of conversations, newest first: a buyer's own, or those handed over to a shop
    /// (`handed_to`: `Some(None)` the platform's, `Some(Some(shop))` a shop's).
    pub async fn conversations(
        &self,
        buyer: Option<BuyerId>,
        handed_to: Option<Option<ShopId>>,
        page: Keyset<i64>,
    ) -> Result<Vec<StoredConversation>, StoreError> {
        let mut conditions = Conditions::default();
        if let Some(buyer) = buyer {
            conditions.and("buyer_id = ?", vec![Value::I64(buyer.get())]);
        }
        match handed_to {
            Some(Some(shop)) => conditions.and(
                "state = 'handed_over' AND handed_to_shop = ?",
                vec![Value::I64(shop.get())],
            ),
            Some(None) => conditions.and("state = 'handed_over' AND handed_to_shop IS NULL", vec![]),
            None => {}
        }
        if let Some(after) = page.after {
            conditions.and("id < ?", vec![Value::I64(after)]);
        }
        let head = format!("{CONVERSATION_COLUMNS} FROM assistant_conversations");
        self.query(conditions.select(&head, "ORDER BY id DESC", page.limit), conversation)
            .await
    }

    /// Writes one turn: the conversation's new state and the turn's messages, with the
    /// stored response of its `Idempotency-Key` if any. Fails (nothing written) when another
    /// turn took the same sequence numbers first.
    pub async fn save_turn(
        &self,
        c: &StoredConversation,
        messages: &[StoredMessage],
        response: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        let handover = c.handover.as_ref();
        let statement = Statement::new(
            "UPDATE assistant_conversations SET state = $1, dialogue = $2, messages = $3, handed_to_shop = $4,
                handover_summary = $5, handed_over_at_ms = $6, updated_at_ms = $7 WHERE id = $8",
            vec![
                Value::Text(if handover.is_some() { "handed_over" } else { "open" }.into()),
                Value::Text(c.dialogue.clone()),
                Value::I64(c.messages),
                Value::OptI64(handover.and_then(|h| h.shop).map(|s| s.get())),
                Value::OptText(handover.map(|h| h.summary.clone())),
                Value::OptI64(handover.map(|h| h.at.unix_ms())),
                Value::I64(c.updated_at.unix_ms()),
                Value::I64(c.id.get()),
            ],
        );
        let mut statements = vec![statement];
        statements.extend(messages.iter().map(|m| insert_message(c.id, m)));
        statements.extend(response.map(idempotency_statement));
        self.execute_atomically(statements).await
    }
}
