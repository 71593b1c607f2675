//! The buyer's chat page (`/assistant`) in a real browser: the demo buyer opens the link with
//! the token in its fragment, asks in Chinese and in English and sees the assistant answer, with
//! the line of what was understood under it; the page's own language switches; a refused action
//! and the hand-over show as such; without a token the page asks for one, and a wrong one is
//! refused in the page's language.
#![allow(clippy::unwrap_used)]

use super::{Browser, Language};
use serde_json::json;

/// How many assistant bubbles the page shows.
const ASSISTANT_TURNS: &str = "document.querySelectorAll('#messages .turn.assistant').length";

/// Types `text` into the message box and presses Enter, then waits for the answer: one more
/// assistant bubble than before, and the page ready for the next message.
async fn ask(browser: &mut Browser, text: &str) {
    let before = browser.eval(&format!("return {ASSISTANT_TURNS}")).await;
    let before = before.as_u64().unwrap();
    browser.fill("#text", &format!("{text}\u{E007}")).await;
    browser
        .wait_until(
            &format!("answered {text:?}"),
            &format!("return {ASSISTANT_TURNS} > {before} && document.body.dataset.state === 'ready'"),
        )
        .await;
}

/// The text of the last assistant bubble's line of what was understood and done.
async fn last_meta(browser: &mut Browser) -> String {
    let meta = browser
        .eval("const m = document.querySelectorAll('#messages .turn.assistant .meta'); return m.length ? m[m.length - 1].innerText : ''")
        .await;
    meta.as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn the_demo_buyer_asks_where_the_order_is_in_chinese_then_in_english() {
    let Some(mut browser) = Browser::start(Language::Zh).await else {
        return;
    };
    let buyer = browser.server.token("BUYER").to_string();
    browser.goto(&format!("/assistant#token={buyer}")).await;
    browser.wait_for_selector("#messages .turn.assistant .bubble").await;
    assert_eq!(browser.text_of("#title").await, "智能客服");
    let address = browser.eval("return location.href").await;
    assert!(
        !address.as_str().unwrap().contains(&buyer),
        "the token left the address bar: {address}"
    );
    let kept = browser
        .eval("return sessionStorage.getItem('miaodan.assistant.token')")
        .await;
    assert_eq!(kept, json!(buyer), "the token is kept for the tab");

    ask(&mut browser, "我的订单到哪了？").await;
    let meta = last_meta(&mut browser).await;
    assert!(meta.contains("理解"), "the answer says what was understood: {meta:?}");
    assert!(browser.page_text().await.contains("我的订单到哪了？"));
    browser.screenshot("asked-in-chinese").await;

    browser.click("#lang-en").await;
    browser.wait_for_text("Customer service").await;
    let meta = last_meta(&mut browser).await;
    assert!(
        meta.contains("Understood"),
        "the line follows the page's language: {meta:?}"
    );
    assert_eq!(browser.eval("return document.documentElement.lang").await, json!("en"));

    ask(&mut browser, "Where is my order?").await;
    let lang = browser
        .eval("const t = document.querySelectorAll('#messages .turn.assistant'); return t[t.length - 1].dataset.lang")
        .await;
    assert_eq!(lang, json!("en"), "an English message is understood as English");
    let typing_hidden = browser.eval("return document.getElementById('typing').hidden").await;
    assert_eq!(typing_hidden, json!(true), "no typing indicator once answered");
    browser.screenshot("asked-in-english").await;

    // A reload resumes the same conversation, from the token the tab kept.
    let turns = browser.eval(&format!("return {ASSISTANT_TURNS}")).await;
    browser.goto("/assistant").await;
    browser
        .wait_until(
            "the conversation resumed",
            &format!("return {ASSISTANT_TURNS} === {turns}"),
        )
        .await;
    browser.finish().await;
}

#[tokio::test]
async fn a_wrong_token_is_refused_in_the_pages_language_and_the_form_takes_a_right_one() {
    let Some(mut browser) = Browser::start(Language::Zh).await else {
        return;
    };
    browser.goto("/assistant").await;
    browser.wait_for_selector("#token-form:not([hidden])").await;
    browser.fill("#token-input", "mdn_not_a_token").await;
    browser.submit("#token-form").await;
    browser.wait_for_text("令牌无效").await;
    let errors = browser.take_console_errors().await;
    assert!(errors.iter().all(|e| e.contains("401")), "only the refusal: {errors:?}");
    browser.screenshot("refused").await;

    let buyer = browser.server.token("BUYER").to_string();
    browser.fill("#token-input", &buyer).await;
    browser.submit("#token-form").await;
    browser.wait_for_selector("#messages .turn.assistant .bubble").await;
    let error_hidden = browser.eval("return document.getElementById('error').hidden").await;
    assert_eq!(error_hidden, json!(true), "the refusal is gone once a token works");
    browser.finish().await;
}

#[tokio::test]
async fn without_a_token_the_page_asks_for_one_in_the_browsers_language_and_switches() {
    let Some(mut browser) = Browser::start(Language::En).await else {
        return;
    };
    browser.goto("/assistant").await;
    browser.wait_for_selector("#token-form:not([hidden])").await;
    assert_eq!(browser.text_of("#title").await, "Customer service");
    assert_eq!(browser.text_of("#token-label").await, "Buyer token");
    browser.screenshot("token-form-en").await;

    browser.click("#lang-zh").await;
    browser.wait_for_text("买家令牌").await;
    assert_eq!(browser.text_of("#title").await, "智能客服");
    let pressed = browser
        .eval("return document.getElementById('lang-zh').getAttribute('aria-pressed')")
        .await;
    assert_eq!(pressed, json!("true"));
    browser.screenshot("token-form-zh").await;
    browser.finish().await;
}

#[tokio::test]
async fn the_line_under_each_answer_shows_a_refused_cancellation_and_the_hand_over() {
    let Some(mut browser) = Browser::start(Language::Zh).await else {
        return;
    };
    let buyer = browser.server.token("BUYER").to_string();
    browser.goto(&format!("/assistant#token={buyer}")).await;
    browser.wait_for_selector("#messages .turn.assistant .bubble").await;

    // The demo buyer's order 4 is with a carrier: the rules refuse its cancellation whenever
    // it is asked (`demo/after_sales.rs`). The assistant asks first, and acts only on a yes.
    ask(&mut browser, "取消4号订单").await;
    let meta = last_meta(&mut browser).await;
    assert!(meta.contains("取消订单") && meta.contains("#4"), "{meta:?}");
    assert!(
        !meta.contains("操作"),
        "nothing is done before the buyer says yes: {meta:?}"
    );
    ask(&mut browser, "好的").await;
    let meta = last_meta(&mut browser).await;
    assert!(
        meta.contains("未执行") && meta.contains("refused_by_rules"),
        "the refusal shows with its code: {meta:?}"
    );
    browser
        .wait_for_selector("#messages .turn.assistant:last-child .meta .refused")
        .await;
    browser.screenshot("refused-cancellation").await;

    ask(&mut browser, "我要转人工").await;
    browser.wait_for_selector("#handover:not([hidden])").await;
    assert!(browser.text_of("#handover").await.contains("已转人工客服"));
    let meta = last_meta(&mut browser).await;
    assert!(meta.contains("转人工 — 已完成"), "{meta:?}");
    browser.click("#lang-en").await;
    browser.wait_for_text("A person from the shop will answer").await;
    browser.screenshot("handed-over").await;
    browser.finish().await;
}
