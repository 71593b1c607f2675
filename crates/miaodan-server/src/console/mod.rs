//! The merchant console (商家后台), served at `/console/`.
//!
//! A small single-page app with no build step: one HTML shell, hand-written ES modules, Preact and
//! htm for the views and Apache ECharts for the charts (both vendored, unmodified, see
//! `assets/vendor/NOTICE.txt`). Everything is embedded in the binary: nothing to install, and no
//! request leaves the machine. The console reads and writes through the same JSON API as programs
//! (`/v1/...`), signed in with a session cookie instead of a bearer token, so every rule, refusal
//! and tenancy check is the API's own; this module only serves files.
//!
//! Every path under `/console/` that is not an asset answers the shell: the app routes on the
//! path, so a page's address can be bookmarked and reloaded.

use crate::app::AppState;
use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

/// One embedded file: its path under `/console/assets/`, its media type and its bytes.
struct Asset {
    path: &'static str,
    media_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! assets {
    ($($path:literal => $media_type:expr),* $(,)?) => {
        &[$(Asset { path: $path, media_type: $media_type, bytes: include_bytes!(concat!("assets/", $path)) }),*]
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file the console serves. A file missing here is a 404; a tidy test checks that every
/// file of `assets/` is listed, so none is forgotten.
const ASSETS: &[Asset] = assets![
    "console.css" => "text/css; charset=utf-8",
    "app.js" => JS,
    "api.js" => JS,
    "i18n.js" => JS,
    "format.js" => JS,
    "ui.js" => JS,
    "charts.js" => JS,
    "pages/sign_in.js" => JS,
    "pages/overview.js" => JS,
    "pages/orders.js" => JS,
    "pages/order.js" => JS,
    "pages/live_room.js" => JS,
    "pages/compass.js" => JS,
    "pages/products.js" => JS,
    "pages/after_sales.js" => JS,
    "pages/platform.js" => JS,
    "pages/staff.js" => JS,
    "pages/package_center.js" => JS,
    "pages/integrity.js" => JS,
    "pages/risk.js" => JS,
    "vendor/preact-htm.js" => JS,
    "vendor/echarts.min.js" => JS,
    "vendor/NOTICE.txt" => "text/plain; charset=utf-8",
];

const SHELL: &str = r#"<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>秒单 · 商家后台</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/console/assets/console.css">
<script type="module" src="/console/assets/app.js"></script>
</head>
<body data-session="{{session}}">
<div id="app"><p class="loading">…</p></div>
<noscript>The console needs JavaScript. 商家后台需要启用 JavaScript。</noscript>
</body>
</html>
"#;

/// No script but our own files, no request to another origin, never framed. ECharts sets inline
/// styles on the elements it draws, hence `style-src 'unsafe-inline'`.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console", get(|| async { Redirect::permanent("/console/") }))
        .route("/console/", get(shell))
        .route("/console/assets/{*path}", get(asset))
        .route("/console/{*page}", get(shell))
}

fn secure_headers(headers: &mut HeaderMap) {
    let fixed = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

/// The shell, telling the app whether the browser sent a session cookie at all: without one the
/// app shows the sign-in form at once, rather than asking the API and logging its 401.
async fn shell(request_headers: HeaderMap) -> Response {
    let has_cookie = crate::http::session_gate::session_secret(&request_headers).is_some();
    let page = SHELL.replace("{{session}}", if has_cookie { "cookie" } else { "none" });
    let mut response = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response();
    let headers = response.headers_mut();
    secure_headers(headers);
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Each asset's ETag: the start of its SHA-256, computed once.
fn etag(index: usize) -> &'static str {
    static ETAGS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let etags = ETAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|asset| format!("\"{}\"", &crate::tokens::sha256_hex(asset.bytes)[..16]))
            .collect()
    });
    &etags[index]
}

/// An embedded file. Assets are revalidated (`no-cache` with an ETag of their content), so a new
/// binary's console is never mixed with an old one's cached modules.
async fn asset(Path(path): Path<String>, request_headers: HeaderMap) -> Response {
    let Some(index) = ASSETS.iter().position(|asset| asset.path == path) else {
        return (StatusCode::NOT_FOUND, "no such console asset").into_response();
    };
    let (asset, etag) = (&ASSETS[index], etag(index));
    let fresh = request_headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|seen| seen.as_bytes() == etag.as_bytes());
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, asset.media_type)], asset.bytes).into_response()
    };
    let headers = response.headers_mut();
    secure_headers(headers);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::ETAG, HeaderValue::from_static(etag));
    response
}
