//! The buyer's chat page with the assistant (智能客服), served at `/assistant`: one HTML shell,
//! one script and one stylesheet, embedded in the binary — no framework, nothing fetched from
//! another origin. The page talks to `/v1/assistant/conversations` with the buyer's bearer
//! token, which it reads from the address's fragment (`/assistant#token=…`, never sent to the
//! server) or a form, and keeps in the tab's sessionStorage; this module only serves files.

use crate::app::AppState;
use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The page's address.
pub const CHAT_PAGE_PATH: &str = "/assistant";

const SHELL: &str = include_str!("chat_page/chat.html");

/// (name under `/assistant/assets/`, media type, bytes).
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "chat.js",
        "text/javascript; charset=utf-8",
        include_bytes!("chat_page/chat.js"),
    ),
    (
        "chat.css",
        "text/css; charset=utf-8",
        include_bytes!("chat_page/chat.css"),
    ),
];

/// Only our own files, only our own API, never framed; no `Referer` leaves the page, so
/// nothing of its address travels with a request.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(CHAT_PAGE_PATH, get(shell))
        .route("/assistant/", get(shell))
        .route("/assistant/assets/{name}", get(asset))
}

fn page_headers(headers: &mut HeaderMap) {
    let fixed = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, "no-cache"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

async fn shell() -> Response {
    let mut response = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], SHELL).into_response();
    let headers = response.headers_mut();
    page_headers(headers);
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    response
}

/// An embedded file, revalidated on each load (`no-cache`) so that a new binary's page is never
/// mixed with an old one's cached script.
async fn asset(Path(name): Path<String>) -> Response {
    let Some((_, media_type, bytes)) = ASSETS.iter().find(|(asset, _, _)| *asset == name) else {
        return (StatusCode::NOT_FOUND, "no such asset of the chat page").into_response();
    };
    let mut response = ([(header::CONTENT_TYPE, *media_type)], *bytes).into_response();
    page_headers(response.headers_mut());
    response
}
