//! The assistant's optional language model, against a fake OpenAI-compatible server on
//! loopback: what is sent, when it is asked at all, and that every failure leaves the
//! classifier's understanding as it was.

use crate::common::{Backend, TestApp};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use miaodan_assistant::understand::{Intent, Lang, Slots, Understanding};
use miaodan_server::language_model::{
    LanguageModelConfig, OpenAiCompatible, SECOND_OPINION_BELOW_PERMILLE, SECOND_OPINION_CONFIDENCE_PERMILLE,
    second_opinion,
};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the fake model answers every request.
#[derive(Clone, Debug)]
enum Behaviour {
    /// A chat completion whose first choice says this text.
    Says(String),
    /// This status, with a problem-ish body.
    Fails(u16),
    /// This body as it is, with status 200.
    Raw(String),
    /// Says this text after sleeping this long.
    SaysLate(String, Duration),
}

#[derive(Clone, Debug)]
struct Seen {
    path: String,
    authorization: Option<String>,
    body: Value,
}

#[derive(Clone)]
struct FakeModel {
    base_url: String,
    behaviour: Arc<Mutex<Behaviour>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

fn completion(content: &str) -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "model": "fake",
        "choices": [{ "index": 0, "finish_reason": "stop",
                      "message": { "role": "assistant", "content": content } }],
    })
}

async fn answer(State(fake): State<FakeModel>, uri: axum::http::Uri, headers: HeaderMap, body: String) -> Response {
    fake.seen.lock().unwrap().push(Seen {
        path: uri.path().to_string(),
        authorization: headers.get("authorization").map(|v| v.to_str().unwrap().to_string()),
        body: serde_json::from_str(&body).unwrap_or(Value::Null),
    });
    let behaviour = fake.behaviour.lock().unwrap().clone();
    match behaviour {
        Behaviour::Says(content) => axum::Json(completion(&content)).into_response(),
        Behaviour::Fails(status) => (
            StatusCode::from_u16(status).unwrap(),
            axum::Json(json!({ "error": { "message": "the model is down" } })),
        )
            .into_response(),
        Behaviour::Raw(body) => body.into_response(),
        Behaviour::SaysLate(content, after) => {
            tokio::time::sleep(after).await;
            axum::Json(completion(&content)).into_response()
        }
    }
}

impl FakeModel {
    /// Serves every path, so that a request to the wrong one is seen rather than refused.
    async fn start(behaviour: Behaviour) -> FakeModel {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let fake = FakeModel {
            base_url: format!("http://{}", listener.local_addr().unwrap()),
            behaviour: Arc::new(Mutex::new(behaviour)),
            seen: Arc::default(),
        };
        let router = axum::Router::new()
            .fallback(axum::routing::any(answer))
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        fake
    }

    fn behave(&self, behaviour: Behaviour) {
        *self.behaviour.lock().unwrap() = behaviour;
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn config(&self, timeout: Duration) -> LanguageModelConfig {
        LanguageModelConfig {
            base_url: format!("{}/", self.base_url),
            api_key: Some("sk-test-key".into()),
            model: "qwen-test".into(),
            timeout,
        }
    }
}

/// What the classifier made of a message: `intent` at `confidence_permille`, about order 12.
fn classified(intent: Intent, confidence_permille: u16) -> Understanding {
    Understanding {
        lang: Lang::Zh,
        intent,
        confidence_permille,
        slots: Slots {
            order_ids: vec![12],
            ..Slots::default()
        },
    }
}

const TEXT: &str = "12号订单的钱什么时候回来";

async fn app_with(fake: &FakeModel, timeout: Duration) -> TestApp {
    let config = fake.config(timeout);
    TestApp::spawn_with(Backend::Sqlite, |c| c.language_model = Some(config)).await
}

/// The count of `miaodan_language_model_calls_total{outcome}` in the app's metrics.
fn calls(app: &TestApp, outcome: &str) -> u64 {
    let text = app.state().metrics.render();
    let prefix = format!("miaodan_language_model_calls_total{{outcome=\"{outcome}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map_or(0, |count| count.trim().parse().unwrap())
}

#[tokio::test]
async fn the_request_names_the_model_and_every_intent_and_carries_the_buyers_text_and_key() {
    let fake = FakeModel::start(Behaviour::Says(r#"{"intent":"refund_status"}"#.into())).await;
    let model = OpenAiCompatible::new(&fake.config(Duration::from_secs(5))).unwrap();
    second_opinion(Some(&model), TEXT, classified(Intent::Unknown, 0)).await;

    let seen = fake.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let request = &seen[0];
    assert_eq!(request.path, "/v1/chat/completions");
    assert_eq!(request.authorization.as_deref(), Some("Bearer sk-test-key"));
    assert_eq!(request.body["model"], "qwen-test");
    assert_eq!(request.body["temperature"], 0);
    let messages = request.body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(messages[0]["role"], "system");
    let system = messages[0]["content"].as_str().unwrap();
    for intent in Intent::ALL {
        assert!(
            system.contains(intent.as_str()),
            "the system message lists {intent:?}: {system}"
        );
    }
    assert!(system.contains(r#"{"intent":"<name>"}"#), "{system}");
    assert_eq!(messages[1], json!({ "role": "user", "content": TEXT }));
}

#[tokio::test]
async fn without_a_key_no_authorization_is_sent() {
    let fake = FakeModel::start(Behaviour::Says(r#"{"intent":"track"}"#.into())).await;
    let mut config = fake.config(Duration::from_secs(5));
    config.api_key = None;
    let model = OpenAiCompatible::new(&config).unwrap();
    let understood = second_opinion(Some(&model), "where's my stuff", classified(Intent::Unknown, 0)).await;
    assert_eq!(understood.intent, Intent::Track);
    assert_eq!(fake.seen()[0].authorization, None);
}

#[tokio::test]
async fn a_named_intent_replaces_an_unsure_classification_and_keeps_its_language_and_slots() {
    let fake = FakeModel::start(Behaviour::Says(" {\"intent\": \"refund_status\"}\n".into())).await;
    let app = app_with(&fake, Duration::from_secs(5)).await;
    let unsure = classified(Intent::RefundOnly, SECOND_OPINION_BELOW_PERMILLE - 1);

    let understood = second_opinion(app.state().language_model(), TEXT, unsure.clone()).await;

    assert_eq!(
        understood,
        Understanding {
            intent: Intent::RefundStatus,
            confidence_permille: SECOND_OPINION_CONFIDENCE_PERMILLE,
            ..unsure
        }
    );
    assert_eq!(calls(&app, "answered"), 1);
}

#[tokio::test]
async fn a_confident_classification_an_injection_or_no_model_is_never_sent() {
    let fake = FakeModel::start(Behaviour::Says(r#"{"intent":"cancel"}"#.into())).await;
    let app = app_with(&fake, Duration::from_secs(5)).await;
    let confident = classified(Intent::Track, SECOND_OPINION_BELOW_PERMILLE);
    let mut injection = classified(Intent::Unknown, 0);
    injection.slots.injection = true;

    for understanding in [confident, injection] {
        let understood = second_opinion(app.state().language_model(), TEXT, understanding.clone()).await;
        assert_eq!(understood, understanding);
    }
    let unsure = classified(Intent::Unknown, 0);
    assert_eq!(second_opinion(None, TEXT, unsure.clone()).await, unsure);
    assert!(fake.seen().is_empty(), "{:?}", fake.seen());
}

#[tokio::test]
async fn garbage_unknown_names_errors_and_timeouts_keep_the_classifiers_understanding() {
    let fake = FakeModel::start(Behaviour::Fails(500)).await;
    let app = app_with(&fake, Duration::from_millis(300)).await;
    let unsure = classified(Intent::Deny, 200);
    let cases = [
        (
            Behaviour::Says("I think the buyer wants a refund.".into()),
            "no_known_intent",
        ),
        (Behaviour::Says(r#"{"intent":"teleport"}"#.into()), "no_known_intent"),
        (Behaviour::Says(r#"{"intent":"Track"}"#.into()), "no_known_intent"),
        (
            Behaviour::Says(r#"{"intent":"track","reply":"Sure!"}"#.into()),
            "no_known_intent",
        ),
        (
            Behaviour::Says("```json\n{\"intent\":\"track\"}\n```".into()),
            "no_known_intent",
        ),
        (Behaviour::Says(r#"{"intent":"unknown"}"#.into()), "unknown"),
        (Behaviour::Raw("<html>not json</html>".into()), "failed"),
        (Behaviour::Fails(500), "failed"),
        (Behaviour::Fails(401), "failed"),
        (
            Behaviour::SaysLate(r#"{"intent":"track"}"#.into(), Duration::from_secs(3)),
            "timed_out",
        ),
    ];
    for (behaviour, outcome) in cases {
        let before = calls(&app, outcome);
        fake.behave(behaviour.clone());
        let understood = second_opinion(app.state().language_model(), TEXT, unsure.clone()).await;
        assert_eq!(understood, unsure, "{behaviour:?}");
        assert_eq!(
            calls(&app, outcome),
            before + 1,
            "{behaviour:?} is counted as {outcome}"
        );
    }
    assert_eq!(calls(&app, "answered"), 0);
}

#[tokio::test]
async fn an_unreachable_model_is_a_failure_not_a_wait() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let refused = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let config = LanguageModelConfig {
        base_url: refused,
        api_key: None,
        model: "m".into(),
        timeout: Duration::from_secs(5),
    };
    let model = OpenAiCompatible::new(&config).unwrap();
    let unsure = classified(Intent::Unknown, 0);
    let started = std::time::Instant::now();
    assert_eq!(second_opinion(Some(&model), TEXT, unsure.clone()).await, unsure);
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_url_this_build_cannot_call_is_refused_at_start_and_the_key_is_never_printed() {
    let config = LanguageModelConfig {
        base_url: "https://models.example/".into(),
        api_key: Some("sk-very-secret".into()),
        model: "m".into(),
        timeout: Duration::from_secs(1),
    };
    let error = OpenAiCompatible::new(&config).err().unwrap().to_string();
    assert!(error.contains("http://"), "{error}");
    let not_a_url = LanguageModelConfig {
        base_url: "localhost:8000".into(),
        ..config.clone()
    };
    assert!(OpenAiCompatible::new(&not_a_url).is_err());
    let printed = format!("{config:?}");
    assert!(!printed.contains("sk-very-secret"), "{printed}");
}

#[tokio::test]
async fn no_model_is_configured_by_default() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    assert!(app.state().language_model().is_none());
    assert!(app.config.language_model.is_none());
}
