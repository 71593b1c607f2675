//! The customer-service assistant (智能客服) over HTTP: a buyer's conversations, a message in
//! and the assistant's answer out, and the merchant's inbox of conversations handed over.
//!
//! A buyer sees only their own conversations (another buyer's is 404). A merchant sees the
//! conversations handed over to its shop, a platform admin those handed to the platform (no
//! order was talked about). Every answer says what the assistant understood (`understood`) and
//! what it did (`action`), so a client can show the guardrails at work and a bench can score it.

use crate::app::AppState;
use crate::auth::{Buyer, Principal};
use crate::clock::rfc3339;
use crate::flows::assistant::{self, AssistantError, KeptTurn, MESSAGE_CHARS_MAX, Staff};
use crate::http::extract::{JsonBody, PathIds};
use crate::http::page::{ListQuery, NoFilter, Page, PageQuery};
use crate::http::problem::{ApiError, Problem};
use crate::http::risk::Client;
use crate::idempotency::{self, Reply};
use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use miaodan_assistant::understand::Lang;
use miaodan_domain::ids::ConversationId;
use miaodan_store::{StoredConversation, StoredMessage};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start_conversation, list_conversations))
        .routes(routes!(get_conversation))
        .routes(routes!(send_message))
        .routes(routes!(reply_to_conversation))
        .routes(routes!(list_handovers))
}

/// What the assistant understood of the buyer's message it answers.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct UnderstoodView {
    /// `zh` or `en`: the language of the buyer's message, and of the answer.
    pub lang: String,
    /// `track`, `arrival`, `change_address`, `cancel`, `refund_only`, `return_refund`,
    /// `exchange`, `payment`, `refund_status`, `flash_sale`, `coupons`, `greeting`, `thanks`,
    /// `goodbye`, `human`, `affirm`, `deny` or `unknown`.
    pub intent: String,
    /// How sure the classifier was, 0–1000.
    pub confidence_permille: i64,
    /// The buyer's order the turn is about, once the assistant knows which.
    pub order_id: Option<i64>,
}

/// What the assistant carried out on a turn (after the buyer's yes), through the API's own
/// commands.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ActionView {
    /// `cancel_order`, `open_request` or `hand_over`.
    pub kind: String,
    /// For `open_request`: the after-sales kind.
    pub request_kind: Option<String>,
    pub order_id: Option<i64>,
    /// The after-sales request opened.
    pub after_sales_id: Option<i64>,
    /// `null`: done. Otherwise the stable code it was refused with; nothing changed.
    pub refused: Option<String>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MessageView {
    pub seq: i64,
    /// `buyer`, `assistant`, or a person after a hand-over: `merchant` (the shop's customer
    /// service) or `platform`.
    pub author: String,
    pub text: String,
    pub at: String,
    pub understood: Option<UnderstoodView>,
    pub action: Option<ActionView>,
    /// The conversation went to a person on this message.
    pub handed_over: bool,
}

impl From<&StoredMessage> for MessageView {
    fn from(m: &StoredMessage) -> MessageView {
        let action: Option<ActionView> = m.action.as_deref().and_then(|a| serde_json::from_str(a).ok());
        MessageView {
            seq: m.seq,
            author: m.author.as_str().into(),
            text: m.body.clone(),
            at: rfc3339(m.at),
            understood: m.understood.as_deref().and_then(|u| serde_json::from_str(u).ok()),
            handed_over: action.as_ref().is_some_and(|a| a.kind == "hand_over"),
            action,
        }
    }
}

/// Who has a handed-over conversation, and what the assistant understood.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct HandoverView {
    /// The shop whose customer service answers; `null`: the platform's.
    pub shop_id: Option<i64>,
    pub summary: String,
    pub at: String,
}

/// A conversation; `messages` only when one conversation is read.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ConversationView {
    pub id: i64,
    pub buyer_id: i64,
    /// `open`, or `handed_over` (a person from the shop answers).
    pub state: String,
    pub handover: Option<HandoverView>,
    pub created_at: String,
    pub updated_at: String,
    /// Its messages in order (the newest 200 at most); empty in a list.
    pub messages: Vec<MessageView>,
}

fn conversation_view(c: &StoredConversation, messages: &[StoredMessage]) -> ConversationView {
    ConversationView {
        id: c.id.get(),
        buyer_id: c.buyer.get(),
        state: if c.handover.is_some() { "handed_over" } else { "open" }.into(),
        handover: c.handover.as_ref().map(|h| HandoverView {
            shop_id: h.shop.map(|s| s.get()),
            summary: h.summary.clone(),
            at: rfc3339(h.at),
        }),
        created_at: rfc3339(c.created_at),
        updated_at: rfc3339(c.updated_at),
        messages: messages.iter().map(MessageView::from).collect(),
    }
}

impl From<AssistantError> for ApiError {
    fn from(error: AssistantError) -> ApiError {
        match error {
            AssistantError::UnknownConversation => ApiError::not_found("conversation"),
            AssistantError::Busy => ApiError::new(
                StatusCode::CONFLICT,
                "conversation_busy",
                "the assistant is answering another message of this conversation; send this one again once it has",
            ),
            AssistantError::NotHandedOver => ApiError::new(
                StatusCode::CONFLICT,
                "conversation_not_handed_over",
                "the assistant has this conversation: a person answers only once it is handed over",
            ),
            AssistantError::Store(error) => ApiError::from(error),
        }
    }
}

/// How to open a conversation.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartInput {
    /// `zh` or `en`: the greeting's language (the page's). Without it the assistant greets in
    /// both; it always answers in the language the buyer writes.
    #[schema(pattern = "^(zh|en)$")]
    pub lang: Option<String>,
}

fn opened(opened: &assistant::Opened) -> Reply {
    Reply::json(StatusCode::CREATED, &conversation_view(&opened.0, &opened.1))
}

/// Start a conversation with the assistant. Its first message is the assistant's greeting.
#[utoipa::path(post, path = "/v1/assistant/conversations", tag = "assistant", request_body = StartInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses((status = 201, body = ConversationView), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn start_conversation(
    State(state): State<AppState>,
    Buyer(buyer): Buyer,
    headers: HeaderMap,
    body: JsonBody<StartInput>,
) -> Response {
    let (state, body) = (&state, &body);
    let request = ("POST", "/v1/assistant/conversations", &body.raw[..]);
    idempotency::run(state, Principal::Buyer(buyer), &headers, request, |idem| async move {
        let lang = match body.value.lang.as_deref() {
            None => None,
            Some("zh") => Some(Lang::Zh),
            Some("en") => Some(Lang::En),
            Some(_) => return Err(ApiError::invalid("invalid_field", "lang", "`zh` or `en`")),
        };
        let record = move |o: &assistant::Opened| idem.map(|i| i.record(&opened(o)));
        let conversation = assistant::open(state, buyer, lang, record).await?;
        Ok(opened(&conversation))
    })
    .await
}

/// The buyer's conversations, newest first (without their messages).
#[utoipa::path(get, path = "/v1/assistant/conversations", tag = "assistant", params(PageQuery),
    responses((status = 200, body = Page<ConversationView>), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem)),
    security(("bearer" = [])))]
pub async fn list_conversations(
    State(state): State<AppState>,
    Buyer(buyer): Buyer,
    query: ListQuery<NoFilter>,
) -> Result<Json<Page<ConversationView>>, ApiError> {
    let page = query.page;
    let rows = state
        .store
        .conversations(Some(buyer), None, page.keyset("conversations")?)
        .await?;
    Ok(Json(page.page(
        "conversations",
        rows,
        |c| c.id.get(),
        |c| conversation_view(c, &[]),
    )))
}

/// A person who answers handed-over conversations: a merchant (for its shop) or a platform
/// admin. A buyer is refused before anything of the request is read.
pub struct StaffCaller(Staff);

impl FromRequestParts<AppState> for StaffCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Principal::from_request_parts(parts, state).await? {
            Principal::Merchant(shop) => Ok(StaffCaller(Staff::Shop(shop))),
            Principal::Admin => Ok(StaffCaller(Staff::Platform)),
            Principal::Buyer(_) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this endpoint needs a merchant or admin token",
            )),
        }
    }
}

/// Conversations handed over to a person: a merchant's shop's, or (admin) the platform's.
#[utoipa::path(get, path = "/v1/assistant/handovers", tag = "assistant", params(PageQuery),
    responses((status = 200, body = Page<ConversationView>), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem)),
    security(("bearer" = [])))]
pub async fn list_handovers(
    State(state): State<AppState>,
    StaffCaller(staff): StaffCaller,
    query: ListQuery<NoFilter>,
) -> Result<Json<Page<ConversationView>>, ApiError> {
    let handed_to = match staff {
        Staff::Shop(shop) => Some(shop),
        Staff::Platform => None,
    };
    let page = query.page;
    let rows = state
        .store
        .conversations(None, Some(handed_to), page.keyset("handovers")?)
        .await?;
    Ok(Json(page.page(
        "handovers",
        rows,
        |c| c.id.get(),
        |c| conversation_view(c, &[]),
    )))
}

/// A conversation with its messages: the buyer's own, or one handed over to the caller.
#[utoipa::path(get, path = "/v1/assistant/conversations/{conversation_id}", tag = "assistant",
    params(("conversation_id" = i64, Path)),
    responses((status = 200, body = ConversationView), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_conversation(
    State(state): State<AppState>,
    principal: Principal,
    ids: PathIds,
) -> Result<Json<ConversationView>, ApiError> {
    let not_found = || ApiError::not_found("conversation");
    let id = ConversationId::new(ids.one()).ok_or_else(not_found)?;
    let conversation = state.store.conversation(id).await?.ok_or_else(not_found)?;
    let handed_to = conversation.handover.as_ref().map(|h| h.shop);
    let visible = match principal {
        Principal::Buyer(buyer) => conversation.buyer == buyer,
        Principal::Merchant(shop) => handed_to == Some(Some(shop)),
        Principal::Admin => true,
    };
    if !visible {
        return Err(not_found());
    }
    let messages = state.store.conversation_messages(id).await?;
    Ok(Json(conversation_view(&conversation, &messages)))
}

/// A buyer's message.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageInput {
    /// What the buyer writes, in Chinese or English: 1 to 500 characters, not only spaces.
    #[schema(min_length = 1, max_length = 500, pattern = "\\S")]
    pub text: String,
}

/// A message's text as kept: trimmed, 1 to 500 characters, not only spaces. PostgreSQL keeps no
/// NUL in text: it is stored as the replacement character.
fn message_text(input: &MessageInput) -> Result<String, ApiError> {
    let text = input.text.trim().replace('\0', "\u{FFFD}");
    if text.is_empty() || text.chars().count() > MESSAGE_CHARS_MAX {
        return Err(ApiError::invalid(
            "invalid_field",
            "text",
            format!("a message is 1 to {MESSAGE_CHARS_MAX} characters, not only spaces"),
        ));
    }
    Ok(text)
}

/// One turn: the buyer's message as kept, and the assistant's answer.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TurnView {
    pub buyer: MessageView,
    pub reply: MessageView,
    /// The conversation's state after the turn: `open` or `handed_over`.
    pub state: String,
}

fn turn_reply(turn: &KeptTurn) -> Reply {
    let view = TurnView {
        buyer: MessageView::from(&turn.messages[0]),
        reply: MessageView::from(&turn.messages[1]),
        state: if turn.exchange.handed_over {
            "handed_over"
        } else {
            "open"
        }
        .into(),
    };
    Reply::json(StatusCode::CREATED, &view)
}

/// Send the assistant a message and get its answer. The assistant answers from the buyer's own
/// orders; before it changes anything (a cancellation, an after-sales request) it asks the buyer
/// to confirm, and the action it then carries out goes through the same commands, rules and
/// refusals as the API. A message of a conversation that is answering another is 409
/// `conversation_busy`.
#[utoipa::path(post, path = "/v1/assistant/conversations/{conversation_id}/messages", tag = "assistant",
    request_body = MessageInput,
    params(("conversation_id" = i64, Path), ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses((status = 201, body = TurnView), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn send_message(
    State(state): State<AppState>,
    Buyer(buyer): Buyer,
    Client(client): Client,
    ids: PathIds,
    headers: HeaderMap,
    body: JsonBody<MessageInput>,
) -> Response {
    let path = format!("/v1/assistant/conversations/{}/messages", ids.one());
    let (state, body) = (&state, &body);
    idempotency::run(
        state,
        Principal::Buyer(buyer),
        &headers,
        ("POST", &path, &body.raw[..]),
        |idem| async move {
            let text = message_text(&body.value)?;
            let id = ConversationId::new(ids.one()).ok_or_else(|| ApiError::not_found("conversation"))?;
            let record = move |turn: &KeptTurn| idem.map(|i| i.record(&turn_reply(turn)));
            let turn = assistant::hear_recorded(state, buyer, id, &text, Some(client), record).await?;
            Ok(turn_reply(&turn))
        },
    )
    .await
}

/// A person's answer in a conversation handed over to them: the merchant of the shop it was
/// handed to, or a platform admin. The buyer reads it with the conversation. A conversation the
/// assistant still has is 409 `conversation_not_handed_over`; another shop's is 404.
#[utoipa::path(post, path = "/v1/assistant/conversations/{conversation_id}/replies", tag = "assistant",
    request_body = MessageInput,
    params(("conversation_id" = i64, Path), ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses((status = 201, body = MessageView), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn reply_to_conversation(
    State(state): State<AppState>,
    StaffCaller(staff): StaffCaller,
    ids: PathIds,
    headers: HeaderMap,
    body: JsonBody<MessageInput>,
) -> Response {
    let principal = match staff {
        Staff::Shop(shop) => Principal::Merchant(shop),
        Staff::Platform => Principal::Admin,
    };
    let path = format!("/v1/assistant/conversations/{}/replies", ids.one());
    let (state, body) = (&state, &body);
    idempotency::run(
        state,
        principal,
        &headers,
        ("POST", &path, &body.raw[..]),
        |idem| async move {
            let text = message_text(&body.value)?;
            let id = ConversationId::new(ids.one()).ok_or_else(|| ApiError::not_found("conversation"))?;
            let reply = |m: &StoredMessage| Reply::json(StatusCode::CREATED, &MessageView::from(m));
            let record = move |m: &StoredMessage| idem.map(|i| i.record(&reply(m)));
            let message = assistant::reply_as_staff(state, staff, id, &text, record).await?;
            Ok(reply(&message))
        },
    )
    .await
}
