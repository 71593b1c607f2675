//! The pages the server had before the console: the landing page, the API reference and the
//! printable diagnosis report, in Chinese and in English.
#![allow(clippy::unwrap_used)]

use super::{Browser, Language};
use serde_json::{Value, json};

/// `POST /v1/compass/diagnosis` with `token`, and the report's JSON.
async fn diagnose(browser: &Browser, token: &str, body: Value) -> Value {
    let answer = reqwest::Client::new()
        .post(browser.url("/v1/compass/diagnosis"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = answer.status();
    let report: Value = answer.json().await.unwrap();
    assert_eq!(status, 201, "diagnosing {body}: {report}");
    report
}

#[tokio::test]
async fn the_landing_page_renders_and_links_to_the_api_reference() {
    let Some(mut browser) = Browser::start(Language::Zh).await else {
        return;
    };
    browser.goto("/").await;
    browser.wait_for_text("A 24/7 order platform for live commerce").await;
    assert_eq!(browser.text_of("h1").await, "miaodan 秒单");
    assert!(
        browser.text_of(".sub").await.contains("sqlite"),
        "the page names the backend"
    );
    browser.screenshot("landing").await;

    browser.click("a[href='/docs/']").await;
    browser.wait_for_selector(".swagger-ui .opblock-tag").await;
    browser.finish().await;
}

#[tokio::test]
async fn the_api_reference_renders_every_capability_without_console_errors() {
    let Some(mut browser) = Browser::start(Language::En).await else {
        return;
    };
    browser.goto("/docs/").await;
    browser.wait_for_selector(".swagger-ui .info .title").await;
    browser.wait_for_selector(".swagger-ui .opblock-tag").await;
    for tag in ["orders", "flash sales", "compass", "platform"] {
        browser.wait_for_selector(&format!("[data-tag='{tag}']")).await;
    }
    browser.screenshot("docs").await;
    browser.finish().await;
}

/// The report page of a fresh report of the demo merchant's shop, read with its token;
/// `query` is the page's query string (`?lang=…`, or none).
async fn report_page(language: Language, query: &str) -> Option<Browser> {
    let mut browser = Browser::start(language).await?;
    let merchant = browser.server.token("MERCHANT").to_string();
    let report = diagnose(&browser, &merchant, json!({})).await;
    browser.set_bearer(&merchant).await;
    browser
        .goto(&format!("/v1/compass/diagnosis/{}/report.html{query}", report["id"]))
        .await;
    Some(browser)
}

#[tokio::test]
async fn the_diagnosis_report_reads_in_chinese_drawn_with_a_cjk_font() {
    let Some(mut browser) = report_page(Language::Zh, "?lang=zh").await else {
        return;
    };
    browser.wait_for_text("经营诊断报告").await;
    assert!(browser.text_of("h1").await.starts_with("经营诊断报告 · "));
    let meta = browser.text_of(".meta").await;
    assert!(meta.contains("诊断周期") && meta.contains("对比周期"), "{meta}");
    assert!(!browser.page_text().await.contains("Diagnosis report"));
    let fonts = browser.fonts_of("h1").await;
    assert!(
        fonts.iter().any(|family| family.contains("CJK")),
        "the heading's Chinese is drawn with a CJK font, not boxes: {fonts:?}"
    );
    browser.screenshot("report-zh").await;
    browser.finish().await;
}

#[tokio::test]
async fn the_diagnosis_report_reads_in_english_when_asked_in_a_chinese_browser() {
    let Some(mut browser) = report_page(Language::Zh, "?lang=en").await else {
        return;
    };
    browser.wait_for_text("Diagnosis report").await;
    assert!(browser.text_of("h1").await.starts_with("Diagnosis report · "));
    let meta = browser.text_of(".meta").await;
    assert!(meta.contains("Period") && meta.contains("Compared with"), "{meta}");
    assert!(!browser.page_text().await.contains("经营诊断报告"));
    browser.screenshot("report-en").await;
    browser.finish().await;
}

#[tokio::test]
async fn the_diagnosis_report_follows_the_browsers_language_when_the_link_names_none() {
    let Some(mut browser) = report_page(Language::En, "").await else {
        return;
    };
    browser.wait_for_text("Diagnosis report").await;
    assert!(browser.text_of("h1").await.starts_with("Diagnosis report · "));
    browser.finish().await;
}

#[tokio::test]
async fn another_shops_diagnosis_report_reads_as_not_found() {
    let Some(mut browser) = Browser::start(Language::En).await else {
        return;
    };
    let merchant = browser.server.token("MERCHANT").to_string();
    let own = diagnose(&browser, &merchant, json!({})).await;
    let other_shop = if own["shop_id"] == json!(1) { 2 } else { 1 };
    let admin = browser.server.token("ADMIN").to_string();
    let other = diagnose(&browser, &admin, json!({ "shop_id": other_shop })).await;

    browser.set_bearer(&merchant).await;
    let path = format!("/v1/compass/diagnosis/{}/report.html?lang=en", other["id"]);
    browser.goto(&path).await;
    browser.wait_for_text("not_found").await;
    assert!(!browser.page_text().await.contains("Diagnosis report"));
    browser.screenshot("not-found").await;
    let errors = browser.take_console_errors().await;
    let url = browser.url(&path);
    assert!(
        errors.len() == 1 && errors[0].contains(&url) && errors[0].contains("404"),
        "the one error is the page's 404: {errors:?}"
    );
    browser.finish().await;
}
