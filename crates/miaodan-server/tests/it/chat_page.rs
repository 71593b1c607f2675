//! The buyer's chat page over HTTP: the shell at `/assistant` with its security headers, the
//! files it names served from the binary, and nothing of the token ever asked of the server.
//! What the page does is tested in a browser (`crates/miaodan/tests/it/browser/chat.rs`).

use crate::common::{Backend, TestApp};

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .map(|value| value.to_str().unwrap().to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn the_page_is_served_with_its_own_files_only_and_sends_no_referrer() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    for path in ["/assistant", "/assistant/"] {
        let response = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(header(&response, "content-type"), "text/html; charset=utf-8");
        let policy = header(&response, "content-security-policy");
        for directive in [
            "default-src 'self'",
            "script-src 'self';",
            "connect-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(policy.contains(directive), "{path}: {policy}");
        }
        assert_eq!(header(&response, "referrer-policy"), "no-referrer");
        assert_eq!(header(&response, "x-frame-options"), "DENY");
        let body = response.text().await.unwrap();
        for file in ["/assistant/assets/chat.js", "/assistant/assets/chat.css"] {
            assert!(body.contains(file), "the shell names {file}");
        }
        assert!(
            !body.contains("http://") && !body.contains("https://"),
            "no other origin"
        );
    }
    for (file, media_type) in [
        ("chat.js", "text/javascript; charset=utf-8"),
        ("chat.css", "text/css; charset=utf-8"),
    ] {
        let response = app
            .http
            .get(app.url(&format!("/assistant/assets/{file}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{file}");
        assert_eq!(header(&response, "content-type"), media_type);
        assert_eq!(header(&response, "x-content-type-options"), "nosniff");
        let text = response.text().await.unwrap();
        assert!(
            !text.contains("http://") && !text.contains("https://"),
            "{file} reaches no other origin"
        );
    }
    let missing = app.http.get(app.url("/assistant/assets/app.js")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    app.shutdown().await;
}

#[tokio::test]
async fn the_script_reads_the_token_from_the_fragment_and_sends_it_only_as_a_bearer_header() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let script = app.http.get(app.url("/assistant/assets/chat.js")).send().await.unwrap();
    let script = script.text().await.unwrap();
    assert!(script.contains("location.hash"), "the token comes from the fragment");
    assert!(script.contains("Authorization: `Bearer ${page.token}`"));
    assert!(
        !script.contains("?token=") && !script.contains("localStorage"),
        "never a query, never kept past the tab"
    );
    app.shutdown().await;
}
