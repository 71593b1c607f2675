//! The assistant's endpoints: a buyer's conversations and messages, the handed-over inbox.

use super::support::*;

pub fn endpoints(app: &TestApp, t: &Tenants) -> Vec<Endpoint> {
    let a = &t.a;
    let endpoint = endpoint_with(app, t);
    let buyer = Some(Role::Buyer);
    vec![
        endpoint(
            "/v1/assistant/conversations",
            Method::POST,
            "/v1/assistant/conversations".into(),
            Some(json!({})),
            buyer,
        ),
        endpoint(
            "/v1/assistant/conversations",
            Method::GET,
            "/v1/assistant/conversations".into(),
            None,
            buyer,
        ),
        // Read by its buyer, a shop it was handed to, or an operator (here: the operator).
        endpoint(
            "/v1/assistant/conversations/{conversation_id}",
            Method::GET,
            format!("/v1/assistant/conversations/{}", a.conversation),
            None,
            None,
        ),
        endpoint(
            "/v1/assistant/conversations/{conversation_id}/messages",
            Method::POST,
            format!("/v1/assistant/conversations/{}/messages", a.conversation),
            Some(json!({ "text": "我的订单到哪了？" })),
            buyer,
        ),
        // A person's answer in a handed-over conversation: the shop's it was handed to, or an
        // operator's (here: the operator, in the platform's).
        endpoint(
            "/v1/assistant/conversations/{conversation_id}/replies",
            Method::POST,
            format!("/v1/assistant/conversations/{}/replies", a.handed_conversation),
            Some(json!({ "text": "您好，我来帮您看看。" })),
            None,
        ),
        // A merchant's inbox of conversations handed to its shop; an operator's of the
        // platform's (here: the operator).
        endpoint(
            "/v1/assistant/handovers",
            Method::GET,
            "/v1/assistant/handovers".into(),
            None,
            None,
        ),
    ]
}
