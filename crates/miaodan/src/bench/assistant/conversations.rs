//! The scripted conversations of `bench assistant`, read from JSON
//! (`crates/miaodan/assistant/FORMAT.md`): a buyer's turns, what each turn should be
//! understood as and carried out, and the state the buyer's orders should end in. Every name a
//! script uses is resolved against the world when the file is read, so a typo fails the run
//! before anything is seeded, with the conversation, the turn and the field it is in.

use super::world::World;
use miaodan_assistant::understand::Intent;
use miaodan_domain::OrderId;
use miaodan_domain::after_sales::RequestKind;
use miaodan_domain::orders::OrderState;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConversationFile {
    name: String,
    lang: String,
    /// What the conversation tests, for people; the bench does not read it.
    #[serde(default)]
    #[allow(dead_code)]
    note: Option<String>,
    turns: Vec<TurnFile>,
    #[serde(rename = "final", default)]
    final_state: FinalFile,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TurnFile {
    buyer: String,
    #[serde(default)]
    expect: ExpectFile,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ExpectFile {
    #[serde(default)]
    intent: Option<String>,
    #[serde(default)]
    order: Option<String>,
    #[serde(default)]
    action: Option<ActionFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionFile {
    kind: String,
    #[serde(default)]
    request_kind: Option<String>,
    #[serde(default)]
    order: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FinalFile {
    #[serde(default)]
    orders: BTreeMap<String, String>,
    #[serde(default)]
    requests: Vec<RequestFile>,
    #[serde(default)]
    handed_over: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestFile {
    order: String,
    kind: String,
}

/// What the assistant is expected to carry out on a turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpectedKind {
    CancelOrder,
    OpenRequest(RequestKind),
    HandOver,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedAction {
    pub kind: ExpectedKind,
    /// The world order's name; `None` for a hand-over.
    pub order: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expect {
    pub intent: Option<Intent>,
    pub order: Option<String>,
    pub action: Option<ExpectedAction>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Turn {
    /// As written, with `{order_name}` where the buyer types the order's id.
    pub buyer: String,
    pub expect: Expect,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Final {
    /// Orders whose state should differ from the world's, by name.
    pub orders: BTreeMap<String, OrderState>,
    /// The after-sales requests the conversation should open: (order name, kind), sorted.
    pub requests: Vec<(String, RequestKind)>,
    pub handed_over: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conversation {
    pub name: String,
    pub lang: String,
    pub turns: Vec<Turn>,
    pub final_state: Final,
}

/// The request kinds as scripts name them.
pub const REQUEST_KINDS: [(&str, RequestKind); 5] = [
    ("cancel_before_shipment", RequestKind::CancelBeforeShipment),
    ("refund_only", RequestKind::RefundOnly),
    ("return_and_refund", RequestKind::ReturnAndRefund),
    ("exchange", RequestKind::Exchange),
    ("change_address", RequestKind::ChangeAddress),
];

pub fn request_kind_name(kind: RequestKind) -> &'static str {
    REQUEST_KINDS
        .iter()
        .find(|(_, k)| *k == kind)
        .map_or("unknown", |(name, _)| name)
}

fn request_kind(raw: &str, at: &str) -> anyhow::Result<RequestKind> {
    REQUEST_KINDS
        .iter()
        .find(|(name, _)| *name == raw)
        .map(|(_, kind)| *kind)
        .ok_or_else(|| {
            let names: Vec<&str> = REQUEST_KINDS.iter().map(|(n, _)| *n).collect();
            anyhow::anyhow!("{at}: {raw:?} is not a request kind (one of {})", names.join(", "))
        })
}

/// Where in the file: `conversation "cancel_unpaid" (#3), turn 2`.
fn place(index: usize, name: &str) -> String {
    format!("conversations: conversation {name:?} (#{})", index + 1)
}

/// Reads the conversations; every order name, intent and kind must exist. An error names the
/// conversation, the turn and the field.
pub fn parse(json: &str, world: &World) -> anyhow::Result<Vec<Conversation>> {
    let raw: Vec<serde_json::Value> = serde_json::from_str(json)
        .map_err(|e| anyhow::anyhow!("conversations: not a JSON list of conversations: {e}"))?;
    let mut conversations: Vec<Conversation> = Vec::new();
    for (i, value) in raw.into_iter().enumerate() {
        let name = value.get("name").and_then(|n| n.as_str()).unwrap_or("?").to_string();
        let at = place(i, &name);
        let file: ConversationFile = serde_path_to_error::deserialize(value)
            .map_err(|e| anyhow::anyhow!("{at}: {}: {}", e.path(), e.inner()))?;
        if conversations.iter().any(|c| c.name == file.name) {
            anyhow::bail!("{at}: name: another conversation has this name");
        }
        conversations.push(conversation(file, &at, world)?);
    }
    anyhow::ensure!(!conversations.is_empty(), "conversations: the list is empty");
    Ok(conversations)
}

fn conversation(file: ConversationFile, at: &str, world: &World) -> anyhow::Result<Conversation> {
    anyhow::ensure!(
        file.lang == "zh" || file.lang == "en",
        "{at}: lang: {:?} is not zh or en",
        file.lang
    );
    anyhow::ensure!(
        !file.turns.is_empty(),
        "{at}: turns: a conversation has at least one turn"
    );
    // `field` is where the name is, the conversation and turn included.
    let order_name = |name: &str, field: &str| -> anyhow::Result<String> {
        world
            .order(name)
            .map(|o| o.name.clone())
            .ok_or_else(|| anyhow::anyhow!("{field}: the world has no order named {name:?}"))
    };
    let mut turns = Vec::new();
    for (t, turn) in file.turns.into_iter().enumerate() {
        let at = format!("{at}, turn {}", t + 1);
        for name in placeholders(&turn.buyer) {
            order_name(&name, &format!("{at}: buyer: {{{name}}}"))?;
        }
        let expect = expect(turn.expect, &at, &order_name)?;
        turns.push(Turn {
            buyer: turn.buyer,
            expect,
        });
    }
    let mut orders = BTreeMap::new();
    for (name, state) in &file.final_state.orders {
        let field = format!("{at}: final.orders.{name}");
        let parsed = OrderState::parse(state).ok_or_else(|| {
            let names: Vec<&str> = OrderState::ALL.iter().map(|s| s.as_str()).collect();
            anyhow::anyhow!("{field}: {state:?} is not an order state (one of {})", names.join(", "))
        })?;
        orders.insert(order_name(name, &field)?, parsed);
    }
    let mut requests = Vec::new();
    for (r, request) in file.final_state.requests.iter().enumerate() {
        let field = format!("{at}: final.requests[{r}]");
        let kind = request_kind(&request.kind, &format!("{field}.kind"))?;
        requests.push((order_name(&request.order, &format!("{field}.order"))?, kind));
    }
    requests.sort_by_key(|(name, kind)| (name.clone(), request_kind_name(*kind)));
    Ok(Conversation {
        name: file.name,
        lang: file.lang,
        turns,
        final_state: Final {
            orders,
            requests,
            handed_over: file.final_state.handed_over,
        },
    })
}

fn expect(
    file: ExpectFile,
    at: &str,
    order_name: &dyn Fn(&str, &str) -> anyhow::Result<String>,
) -> anyhow::Result<Expect> {
    let intent = match &file.intent {
        None => None,
        Some(raw) => Some(Intent::parse(raw).ok_or_else(|| {
            let names: Vec<&str> = Intent::ALL.iter().map(|i| i.as_str()).collect();
            anyhow::anyhow!(
                "{at}: expect.intent: {raw:?} is not an intent (one of {})",
                names.join(", ")
            )
        })?),
    };
    let order = file
        .order
        .as_deref()
        .map(|name| order_name(name, &format!("{at}: expect.order")))
        .transpose()?;
    let action = match file.action {
        None => None,
        Some(action) => Some(expected_action(action, at, order_name)?),
    };
    Ok(Expect { intent, order, action })
}

fn expected_action(
    file: ActionFile,
    at: &str,
    order_name: &dyn Fn(&str, &str) -> anyhow::Result<String>,
) -> anyhow::Result<ExpectedAction> {
    let kind = match (file.kind.as_str(), &file.request_kind) {
        ("cancel_order", None) => ExpectedKind::CancelOrder,
        ("hand_over", None) => ExpectedKind::HandOver,
        ("open_request", Some(raw)) => {
            ExpectedKind::OpenRequest(request_kind(raw, &format!("{at}: expect.action.request_kind"))?)
        }
        ("open_request", None) => anyhow::bail!("{at}: expect.action.request_kind: open_request needs it"),
        ("cancel_order" | "hand_over", Some(_)) => {
            anyhow::bail!("{at}: expect.action.request_kind: only open_request has one")
        }
        (other, _) => {
            anyhow::bail!("{at}: expect.action.kind: {other:?} is not cancel_order, open_request or hand_over")
        }
    };
    let order = match (&kind, &file.order) {
        (ExpectedKind::HandOver, Some(_)) => anyhow::bail!("{at}: expect.action.order: a hand-over names no order"),
        (ExpectedKind::HandOver, None) => None,
        (_, None) => anyhow::bail!("{at}: expect.action.order: the action needs the order it acts on"),
        (_, Some(name)) => Some(order_name(name, &format!("{at}: expect.action.order"))?),
    };
    Ok(ExpectedAction { kind, order })
}

/// The order names written `{name}` in a buyer's message.
fn placeholders(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { break };
        names.push(after[..close].to_string());
        rest = &after[close + 1..];
    }
    names
}

/// The buyer's message as typed: each `{name}` replaced by the id of the buyer's copy of that
/// order.
pub fn render(text: &str, orders: &BTreeMap<String, OrderId>) -> String {
    let mut typed = text.to_string();
    for name in placeholders(text) {
        if let Some(id) = orders.get(&name) {
            typed = typed.replace(&format!("{{{name}}}"), &id.get().to_string());
        }
    }
    typed
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORLD: &str = r#"{
      "now": "2026-12-05T15:00",
      "shops": [{"name": "s", "title": "小店"}],
      "products": [{"name": "p", "shop": "s", "title": "纯棉T恤", "skus": [{"name": "white_xl", "title": "白色 XL", "price_fen": 7900}]}],
      "warehouses": [{"name": "w", "shop": "s", "title": "杭州仓", "adcode": "330110000000", "stock": {"white_xl": 10}}],
      "buyer": {"name": "小林", "address": {"adcode": "310115000000", "detail": "张江路 100 号"}},
      "orders": [{"name": "tee", "shop": "s", "lines": [{"sku": "white_xl", "quantity": 1}], "placed_ago": "1h", "state": "unpaid"}]
    }"#;

    fn world() -> World {
        World::parse(WORLD).expect("a valid world")
    }

    fn error_of(conversations: &str) -> String {
        match parse(conversations, &world()) {
            Ok(_) => panic!("{conversations} was accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_conversation_reads_its_turns_expectations_and_final_state() {
        let json = r#"[{"name": "cancel", "lang": "zh", "turns": [
            {"buyer": "取消订单{tee}", "expect": {"intent": "cancel", "order": "tee"}},
            {"buyer": "确认", "expect": {"intent": "affirm", "action": {"kind": "cancel_order", "order": "tee"}}}
          ], "final": {"orders": {"tee": "cancelled"}}}]"#;
        let conversations = parse(json, &world()).expect("valid");
        let turn = &conversations[0].turns[1];
        assert_eq!(turn.expect.intent, Some(Intent::Affirm));
        assert_eq!(
            turn.expect.action,
            Some(ExpectedAction {
                kind: ExpectedKind::CancelOrder,
                order: Some("tee".into())
            })
        );
        assert_eq!(conversations[0].final_state.orders["tee"], OrderState::Cancelled);
        let ids = BTreeMap::from([("tee".to_string(), OrderId::new(42).expect("positive"))]);
        assert_eq!(render(&conversations[0].turns[0].buyer, &ids), "取消订单42");
    }

    #[test]
    fn a_conversation_file_error_names_the_conversation_the_turn_and_the_field() {
        let turn = |expect: &str| {
            format!(
                r#"[{{"name": "c", "lang": "en", "turns": [{{"buyer": "hi"}}, {{"buyer": "x", "expect": {expect}}}]}}]"#
            )
        };
        let cases = [
            (
                turn(r#"{"intent": "trak"}"#),
                r#"conversation "c" (#1), turn 2: expect.intent: "trak" is not an intent"#,
            ),
            (
                turn(r#"{"order": "shoes"}"#),
                r#"conversation "c" (#1), turn 2: expect.order: the world has no order named "shoes""#,
            ),
            (
                turn(r#"{"action": {"kind": "open_request", "order": "tee"}}"#),
                r#"conversation "c" (#1), turn 2: expect.action.request_kind: open_request needs it"#,
            ),
            (
                turn(r#"{"action": {"kind": "open_request", "request_kind": "cancel", "order": "tee"}}"#),
                r#"turn 2: expect.action.request_kind: "cancel" is not a request kind"#,
            ),
            (
                turn(r#"{"action": {"kind": "refund", "order": "tee"}}"#),
                r#"turn 2: expect.action.kind: "refund" is not cancel_order, open_request or hand_over"#,
            ),
            (
                turn(r#"{"intnt": "track"}"#),
                r#"conversation "c" (#1): turns[1].expect.intnt: unknown field `intnt`"#,
            ),
            (
                r#"[{"name": "c", "lang": "fr", "turns": [{"buyer": "salut"}]}]"#.to_string(),
                r#"conversation "c" (#1): lang: "fr" is not zh or en"#,
            ),
            (
                r#"[{"name": "c", "lang": "zh", "turns": [{"buyer": "订单{shoes}呢"}]}]"#.to_string(),
                r#"turn 1: buyer: {shoes}: the world has no order named "shoes""#,
            ),
            (
                r#"[{"name": "c", "lang": "zh", "turns": [{"buyer": "hi"}], "final": {"orders": {"tee": "refunded"}}}]"#
                    .to_string(),
                r#"final.orders.tee: "refunded" is not an order state"#,
            ),
        ];
        for (json, expected) in cases {
            let error = error_of(&json);
            assert!(error.contains(expected), "{error}\n  does not say\n{expected}");
        }
    }
}
