//! The lifecycle of API tokens over a running server: an expired token is refused by the next
//! request though the server cached it, a token revoked by another process (the CLI writes the
//! database directly) is refused within the revocation poll, the last use is kept without a
//! write per request and written at shutdown, and the first start's admin token is issued once.

use crate::common;
use crate::common::{Backend, TestApp};
use miaodan_server::clock::Clock;
use miaodan_server::tokens::REVOCATION_POLL_MS;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

both_backends!(
    an_expired_token_is_refused_at_once_though_the_server_cached_it,
    a_token_revoked_by_another_process_is_refused_within_the_revocation_poll,
    a_tokens_last_use_is_shown_at_once_but_written_only_in_batches,
    the_first_start_issues_one_admin_token_and_no_later_start_issues_another,
);

const DAY_MS: i64 = 86_400_000;

/// A buyer and a token of `body`'s lifetime for it: (token id, token).
async fn buyer_token(app: &TestApp, body: Value) -> (i64, String) {
    let (buyer, _) = app.buyer("张三").await;
    let issued = app.post(&format!("/v1/buyers/{buyer}/tokens"), &app.admin, body).await;
    let token = issued.assert_status(201)["token"].as_str().unwrap().to_string();
    (issued.body["token_id"].as_i64().unwrap(), token)
}

/// Token `id` as the admin's token list shows it.
async fn listed_token(app: &TestApp, id: i64) -> Value {
    let listed = app.get("/v1/tokens", &app.admin).await;
    listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
        .cloned()
        .unwrap()
}

async fn an_expired_token_is_refused_at_once_though_the_server_cached_it(backend: Backend) {
    let clock = Clock::system();
    let app = TestApp::spawn_with(backend, |config| config.clock = clock.clone()).await;
    let (id, token) = buyer_token(&app, json!({ "expires_in_days": 1 })).await;
    app.get("/v1/orders", &token).await.assert_status(200);
    clock.advance(DAY_MS - 60_000);
    app.get("/v1/orders", &token).await.assert_status(200);
    clock.advance(60_000);
    let refused = app.get("/v1/orders", &token).await;
    assert_eq!(refused.assert_status(401)["code"], "unauthorized");
    let detail = refused.body["detail"].as_str().unwrap();
    assert!(detail.contains("expired"), "{detail}");
    // Only the holder of the secret learns why: a wrong secret is merely invalid.
    let wrong = format!("mdn_{id}_{}", "0".repeat(64));
    let invalid = app.get("/v1/orders", &wrong).await;
    assert_eq!(invalid.assert_status(401)["detail"], "the API token is invalid");
    // The list shows it expired.
    let view = listed_token(&app, id).await;
    assert_eq!(view["state"], "expired");
    app.shutdown().await;
}

async fn a_token_revoked_by_another_process_is_refused_within_the_revocation_poll(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (id, token) = buyer_token(&app, json!({})).await;
    app.get("/v1/orders", &token).await.assert_status(200);
    // What `miaodan token revoke` does: a write to the database, nothing told to the server.
    let state = app.state();
    let revoked = state.store.revoke_token(id, state.clock.now()).await.unwrap();
    assert!(revoked.unwrap().revoked_at.is_some());
    let deadline = Instant::now() + Duration::from_millis(10 * REVOCATION_POLL_MS);
    loop {
        let answer = app.get("/v1/orders", &token).await;
        if answer.status == 401 {
            assert!(answer.raw.contains("revoked"), "{}", answer.raw);
            break;
        }
        answer.assert_status(200);
        assert!(Instant::now() < deadline, "a revoked token still works");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.shutdown().await;
}

async fn a_tokens_last_use_is_shown_at_once_but_written_only_in_batches(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let (id, token) = buyer_token(&app, json!({})).await;
    for _ in 0..5 {
        app.get("/v1/orders", &token).await.assert_status(200);
    }
    let listed = app.get("/v1/tokens", &token).await;
    let shown = listed.assert_status(200)["items"][0].clone();
    assert_eq!(shown["id"], id);
    let last_used = shown["last_used_at"].as_str().expect("shown at once").to_string();
    let stored = app.state().store.token(id).await.unwrap().unwrap();
    assert_eq!(stored.last_used_at, None, "no request wrote it");
    // A graceful stop writes what was not written yet.
    app.restart().await;
    let stored = app.state().store.token(id).await.unwrap().unwrap();
    let written = miaodan_server::clock::rfc3339(stored.last_used_at.expect("written at shutdown"));
    assert_eq!(written, last_used);
    let view = listed_token(&app, id).await;
    assert_eq!(view["last_used_at"], json!(last_used));
    app.shutdown().await;
}

async fn the_first_start_issues_one_admin_token_and_no_later_start_issues_another(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    // The harness took the first start's token; asking again issues none.
    assert_eq!(app.state().bootstrap_admin_token().await.unwrap(), None);
    app.restart().await;
    assert_eq!(app.state().bootstrap_admin_token().await.unwrap(), None);
    let listed = app.get("/v1/tokens", &app.admin).await;
    let admins: Vec<&Value> = listed.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["role"] == "admin")
        .collect();
    assert_eq!(admins.len(), 1, "{}", listed.raw);
    assert_eq!(admins[0]["label"], "first start");
    // Not even once it is revoked: the way in is then `miaodan token create --role admin`.
    let revoke = format!("/v1/tokens/{}", admins[0]["id"]);
    let revoked = app
        .send(app.http.delete(app.url(&revoke)).bearer_auth(&app.admin))
        .await;
    revoked.assert_status(200);
    app.restart().await;
    assert_eq!(app.state().bootstrap_admin_token().await.unwrap(), None);
    app.get("/v1/tokens", &app.admin).await.assert_status(401);
    app.shutdown().await;
}
