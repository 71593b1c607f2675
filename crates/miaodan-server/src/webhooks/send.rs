//! One attempt to deliver: the event as JSON, signed, POSTed to the endpoint; its outcome
//! recorded with what follows from it (delivered, tried again later, or given up).

use crate::app::AppState;
use crate::clock::rfc3339;
use miaodan_store::{AfterAttempt, StoreError, WebhookAttempt, WebhookDelivery, WebhookEndpoint};
use serde_json::json;
use std::time::Instant;

/// The event as a receiver gets it: `id` (`<shard>-<seq>`, the same for every retry and
/// replay: a receiver deduplicates on it), `topic`, `shop_id`, `subject`, `occurred_at` and the
/// event's document as `data`.
pub fn payload(delivery: &WebhookDelivery) -> String {
    let data: serde_json::Value = serde_json::from_str(&delivery.body).unwrap_or(serde_json::Value::Null);
    json!({
        "id": event_id(delivery),
        "topic": delivery.topic,
        "shop_id": delivery.shop.get(),
        "subject": delivery.subject,
        "occurred_at": rfc3339(delivery.at),
        "data": data,
    })
    .to_string()
}

fn event_id(delivery: &WebhookDelivery) -> String {
    format!("{}-{}", delivery.shard, delivery.seq)
}

/// `Miaodan-Signature`: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, keyed with
/// the endpoint's secret as written (`whsec_…`, all of it).
pub fn signature_header(secret: &str, at_s: i64, body: &[u8]) -> String {
    webhook_signature::sign(secret.as_bytes(), at_s, body)
}

/// What an attempt came to: the receiver's status, if it answered, and the error, if any.
struct Answer {
    status: Option<i64>,
    error: Option<String>,
}

async fn post(state: &AppState, endpoint: &WebhookEndpoint, delivery: &WebhookDelivery) -> Answer {
    let body = payload(delivery);
    let signed_at_s = state.clock.now().unix_ms().div_euclid(1000);
    let request = state
        .webhooks
        .client
        .post(&endpoint.url)
        .header("content-type", "application/json")
        .header(
            "miaodan-signature",
            signature_header(&endpoint.secret, signed_at_s, body.as_bytes()),
        )
        .header("miaodan-event-id", event_id(delivery))
        .header("miaodan-topic", &delivery.topic)
        .header("miaodan-delivery-id", delivery.id.to_string())
        .body(body);
    match request.send().await {
        Ok(response) if response.status().is_success() => Answer {
            status: Some(i64::from(response.status().as_u16())),
            error: None,
        },
        Ok(response) => Answer {
            status: Some(i64::from(response.status().as_u16())),
            error: Some(format!("the receiver answered {}", response.status().as_u16())),
        },
        Err(error) if error.is_timeout() => Answer {
            status: None,
            error: Some(format!("no answer within {} ms", state.config.webhooks.timeout_ms)),
        },
        Err(error) if error.is_connect() => Answer {
            status: None,
            error: Some("could not connect to the receiver".into()),
        },
        Err(error) => Answer {
            status: None,
            error: Some(format!("the request failed: {error}")),
        },
    }
}

/// Sends one delivery to its endpoint (`None`: the endpoint is gone or disabled, and the
/// delivery is given up) and records the attempt.
pub(super) async fn attempt(
    state: &AppState,
    endpoint: Option<&WebhookEndpoint>,
    delivery: WebhookDelivery,
) -> Result<(), StoreError> {
    let started = Instant::now();
    let answer = match endpoint {
        Some(endpoint) => post(state, endpoint, &delivery).await,
        None => Answer {
            status: None,
            error: Some("the endpoint is disabled".into()),
        },
    };
    let latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    let now = state.clock.now();
    let failures = delivery.attempts + 1;
    let after = if answer.error.is_none() {
        AfterAttempt::Delivered
    } else if endpoint.is_none() {
        AfterAttempt::GiveUp
    } else {
        let schedule = state.config.webhooks.schedule;
        let jitter = rand::random_range(
            -miaodan_domain::webhooks::JITTER_PER_MILLE_MAX..=miaodan_domain::webhooks::JITTER_PER_MILLE_MAX,
        );
        let next = now.unix_ms().saturating_add(schedule.delay_ms(failures, jitter));
        if next > delivery.at.unix_ms().saturating_add(schedule.window_ms) {
            AfterAttempt::GiveUp
        } else {
            AfterAttempt::RetryAt(miaodan_domain::Timestamp::from_unix_ms(next))
        }
    };
    let outcome = match after {
        AfterAttempt::Delivered => "delivered",
        AfterAttempt::RetryAt(_) => "retry",
        AfterAttempt::GiveUp => "failed",
    };
    metrics::counter!("miaodan_webhook_deliveries_total", "outcome" => outcome).increment(1);
    let attempt = WebhookAttempt {
        delivery: delivery.id,
        attempt: failures,
        at: now,
        status: answer.status,
        latency_ms,
        error: answer.error,
    };
    state.store.record_webhook_attempt(&attempt, after).await
}
