//! The console's files over HTTP: the shell at every page's address, its security headers, and
//! every module it imports served from the binary. What the pages do is tested in a browser
//! (`crates/miaodan/tests/it/browser/`).

use crate::common::{Backend, TestApp};
use std::collections::BTreeSet;

async fn fetch(app: &TestApp, path: &str) -> reqwest::Response {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url(path))
        .send()
        .await
        .unwrap()
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .map(|value| value.to_str().unwrap().to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn every_page_address_answers_the_shell_with_a_strict_content_security_policy() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    for path in ["/console/", "/console/orders", "/console/orders/12", "/console/live/3"] {
        let response = fetch(&app, path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(header(&response, "content-type"), "text/html; charset=utf-8");
        let policy = header(&response, "content-security-policy");
        assert!(policy.contains("script-src 'self';"), "{path}: {policy}");
        assert!(policy.contains("frame-ancestors 'none'"), "{path}: {policy}");
        assert_eq!(header(&response, "x-frame-options"), "DENY");
        let body = response.text().await.unwrap();
        assert!(body.contains(r#"<script type="module" src="/console/assets/app.js">"#));
    }
    let bare = fetch(&app, "/console").await;
    assert_eq!(bare.status(), 308);
    assert_eq!(header(&bare, "location"), "/console/");
    app.shutdown().await;
}

/// The modules `source` imports (`from './x.js'`, `from '../x.js'`), as asset paths.
fn imports(path: &str, source: &str) -> Vec<String> {
    let folder: Vec<&str> = path.split('/').collect::<Vec<_>>()[..path.matches('/').count()].to_vec();
    source
        .split("from '")
        .skip(1)
        .filter_map(|rest| rest.split_once('\''))
        .map(|(target, _)| {
            let mut parts = folder.clone();
            for step in target.split('/') {
                match step {
                    "." => {}
                    ".." => {
                        parts.pop();
                    }
                    name => parts.push(name),
                }
            }
            parts.join("/")
        })
        .collect()
}

#[tokio::test]
async fn every_module_the_console_imports_is_served_with_its_type_and_revalidated() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let mut pending = vec!["app.js".to_string()];
    let mut seen = BTreeSet::new();
    while let Some(path) = pending.pop() {
        if !seen.insert(path.clone()) {
            continue;
        }
        let response = fetch(&app, &format!("/console/assets/{path}")).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            header(&response, "content-type"),
            "text/javascript; charset=utf-8",
            "{path}"
        );
        assert_eq!(header(&response, "cache-control"), "no-cache", "{path}");
        let etag = header(&response, "etag");
        let source = response.text().await.unwrap();
        pending.extend(imports(&path, &source));
        let again = reqwest::Client::new()
            .get(app.url(&format!("/console/assets/{path}")))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{path} with its own ETag {etag}");
    }
    assert!(
        seen.contains("vendor/preact-htm.js") && seen.contains("pages/orders.js"),
        "{seen:?}"
    );
    let charts = fetch(&app, "/console/assets/vendor/echarts.min.js").await;
    assert_eq!(charts.status(), 200);
    assert_eq!(fetch(&app, "/console/assets/pages/nothing.js").await.status(), 404);
    assert_eq!(fetch(&app, "/console/assets/vendor/").await.status(), 404);
    app.shutdown().await;
}
