//! The harness itself: what every page test relies on — that a console error, an uncaught
//! exception, a 404 of an asset and a Content-Security-Policy refusal are caught, and that
//! the language, the time zone, typing, submitting and cookies reach the page — checked on
//! the landing page with elements the test adds.
#![allow(clippy::unwrap_used)]

use super::{Browser, Language};
use serde_json::json;

#[tokio::test]
async fn console_errors_catch_console_error_uncaught_exceptions_missing_assets_and_csp_refusals() {
    let Some(mut browser) = Browser::start(Language::En).await else {
        return;
    };
    browser.goto("/").await;
    assert_eq!(browser.console_errors().await, Vec::<String>::new());
    browser
        .eval(
            "const script = document.createElement('script');
             script.src = '/no-such-asset.js';
             document.head.appendChild(script);
             console.error('the console said no');
             setTimeout(() => { throw new Error('nobody caught this'); }, 0);
             document.head.insertAdjacentHTML('beforeend',
               `<meta http-equiv=\"Content-Security-Policy\" content=\"script-src 'self'\">`);
             const inline = document.createElement('script');
             inline.textContent = 'console.log(1)';
             document.body.appendChild(inline);
             return null;",
        )
        .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut errors = Vec::new();
    while errors.len() < 4 && std::time::Instant::now() < deadline {
        errors.extend(browser.take_console_errors().await);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let all = errors.join("\n");
    assert!(all.contains("/no-such-asset.js") && all.contains("404"), "{all}");
    assert!(all.contains("the console said no"), "{all}");
    assert!(all.contains("Uncaught Error: nobody caught this"), "{all}");
    assert!(all.contains("violates the following Content Security Policy"), "{all}");
    assert_eq!(errors.len(), 4, "{all}");
    browser.finish().await;
}

#[tokio::test]
async fn the_page_sees_the_language_time_zone_cookies_typing_and_submitting() {
    let Some(mut browser) = Browser::start(Language::Zh).await else {
        return;
    };
    browser.set_cookie("miaodan_check", "一二三").await;
    browser.goto("/").await;
    let languages = browser.eval("return navigator.languages[0]").await;
    assert_eq!(languages, "zh-CN", "the browser runs in Chinese");
    let zone = browser
        .eval("return Intl.DateTimeFormat().resolvedOptions().timeZone")
        .await;
    assert_eq!(zone, "Asia/Shanghai", "the browser shows times as in Shanghai");
    browser
        .eval(
            "document.body.insertAdjacentHTML('beforeend',
               '<form id=ask><input id=buyer><button>go</button></form><p id=said></p>');
             document.getElementById('ask').addEventListener('submit', (event) => {
               event.preventDefault();
               document.getElementById('said').textContent =
                 'asked for ' + document.getElementById('buyer').value + ' with ' + document.cookie;
             });
             return null;",
        )
        .await;
    browser.fill("#buyer", "placeholder").await;
    browser.fill("#buyer", "张三").await;
    browser.submit("#ask").await;
    let said = "return document.getElementById('said').textContent !== ''";
    browser.wait_until("answered", said).await;
    browser.wait_for_text("asked for 张三 with miaodan_check=").await;
    let cookies = browser.cookies().await;
    let check = cookies.iter().find(|cookie| cookie["name"] == "miaodan_check");
    assert_eq!(
        check.map(|cookie| cookie["value"].clone()),
        Some(json!("一二三")),
        "{cookies:?}"
    );
    browser.finish().await;
}
