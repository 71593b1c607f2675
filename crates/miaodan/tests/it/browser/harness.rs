//! The browser harness: Debian's chromium, headless, driven over WebDriver (`chromedriver` and
//! the `fantoccini` client) against `miaodan serve --demo` on a fresh SQLite database.
//!
//! A [`Browser`] owns its server, its chromedriver (on a free port of 127.0.0.1, in a process
//! group of its own with chromium under it) and its chromium profile directory: tests run in
//! parallel without sharing anything, and dropping a `Browser` (also while a failed test
//! unwinds) kills the server and the whole browser process group and removes the profile.
//!
//! What the page logs comes from chromedriver's browser log (`goog:loggingPrefs`): every
//! `SEVERE` entry is a console error — `console.error`, an uncaught exception, a request that
//! failed (a 404 of an asset, a refused connection) and a Content-Security-Policy refusal. The
//! one left out is the `/favicon.ico` chromium asks our origin for on its own (no page asks for
//! it). Chromium's DevTools commands reach the page through chromedriver (`goog/cdp/execute`):
//! request headers (a bearer token), cookies, and the fonts that drew an element.
#![allow(clippy::unwrap_used)]

use crate::readme_examples::{Server, serve_demo_with};
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The longest a `wait_*` waits before the test fails: generous, because the whole suite
/// (crash tests included) shares two cores with the browsers.
const WAIT_TIMEOUT: Duration = Duration::from_secs(15);
/// The browser's time zone: the platform's business day is Shanghai's, so pages show times
/// as a merchant there sees them, whatever the machine's zone.
const TIME_ZONE: &str = "Asia/Shanghai";
const POLL_INTERVAL: Duration = Duration::from_millis(50);
const DRIVER_START_TIMEOUT: Duration = Duration::from_secs(20);
/// A fixed window, so that screenshots of one page compare between runs.
const WINDOW_SIZE: &str = "--window-size=1280,900";
/// How much of the page's text a failure message quotes.
const PAGE_TEXT_QUOTED_CHARS_MAX: usize = 3000;

/// The language chromium runs in: its UI locale and the `Accept-Language` it sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Language {
    Zh,
    En,
}

impl Language {
    fn locale(self) -> &'static str {
        match self {
            Language::Zh => "zh-CN",
            Language::En => "en-US",
        }
    }

    fn accept_languages(self) -> &'static str {
        match self {
            Language::Zh => "zh-CN,zh",
            Language::En => "en-US,en",
        }
    }
}

/// Whether browser tests skip: only when chromium is missing and `MIAODAN_SKIP_BROWSER=1`
/// says so; a missing chromium without it fails the test.
pub(crate) fn skip_browser() -> bool {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|program| !Path::new(program).exists())
        .collect();
    if missing.is_empty() {
        return false;
    }
    if std::env::var("MIAODAN_SKIP_BROWSER").as_deref() == Ok("1") {
        eprintln!(
            "skipping a browser test: {} missing and MIAODAN_SKIP_BROWSER=1",
            missing.join(", ")
        );
        return true;
    }
    panic!(
        "{} missing: install Debian's chromium chromium-driver fonts-noto-cjk (scripts/test does), \
         or set MIAODAN_SKIP_BROWSER=1 to skip the browser tests",
        missing.join(", ")
    );
}

/// `target/browser-artifacts/<test>/`, emptied: the screenshots of this run only.
fn artifacts_dir() -> PathBuf {
    let binary = Path::new(env!("CARGO_BIN_EXE_miaodan"));
    let target = binary.parent().and_then(Path::parent).unwrap();
    // libtest runs each test on a thread named after it: `browser::pages::some_test`.
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("unnamed").trim_start_matches("browser::");
    let dir = target.join("browser-artifacts").join(test.replace("::", "."));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// chromedriver and, under it, chromium: one process group, killed as one.
struct Driver {
    child: Child,
    port: u16,
    profile: tempfile::TempDir,
}

impl Driver {
    fn start() -> Driver {
        for _ in 0..5 {
            let port = free_port();
            let child = Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .env("TZ", TIME_ZONE)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("starting {CHROMEDRIVER}: {e}"));
            let profile = tempfile::tempdir().unwrap();
            let mut driver = Driver { child, port, profile };
            if driver.listening() {
                return driver;
            }
            // Another process took the port between the probe and the bind: dropped, try another.
        }
        panic!("chromedriver did not listen within {DRIVER_START_TIMEOUT:?} on five ports");
    }

    fn listening(&mut self) -> bool {
        let deadline = Instant::now() + DRIVER_START_TIMEOUT;
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return true;
            }
            if self.child.try_wait().ok().flatten().is_some() {
                return false;
            }
            std::thread::sleep(POLL_INTERVAL);
        }
        false
    }

    fn capabilities(&self, language: Language) -> serde_json::Map<String, Value> {
        let profile = self.profile.path().display();
        let capabilities = json!({
            "browserName": "chrome",
            "goog:loggingPrefs": { "browser": "ALL" },
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                    "--no-first-run", "--hide-scrollbars", WINDOW_SIZE,
                    format!("--lang={}", language.locale()),
                    format!("--user-data-dir={profile}"),
                ],
                "prefs": { "intl.accept_languages": language.accept_languages() },
            },
        });
        capabilities.as_object().unwrap().clone()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The negative pid names the group: chromedriver, chromium and chromium's helpers.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}

/// A chromedriver command fantoccini has no method for, by its path under the session.
#[derive(Debug)]
struct SessionCommand {
    path: &'static str,
    body: Value,
}

impl WebDriverCompatibleCommand for SessionCommand {
    fn endpoint(&self, base_url: &url::Url, session_id: Option<&str>) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!("session/{}/{}", session_id.unwrap_or_default(), self.path))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.body.to_string()))
    }
}

/// A headless chromium on its own `miaodan serve --demo`, for one test.
pub(crate) struct Browser {
    client: Client,
    /// The server the pages come from; its demo tokens are `server.token("MERCHANT")` etc.
    pub(crate) server: Server,
    artifacts: PathBuf,
    /// Console errors read from the browser log and not yet taken by the test.
    errors: Vec<String>,
    /// Dropped last: killing chromium before its profile directory is removed.
    _driver: Driver,
}

impl Browser {
    /// A fresh server and browser in `language`, or `None` when browser tests skip.
    pub(crate) async fn start(language: Language) -> Option<Browser> {
        Browser::start_serving(language, &[]).await
    }

    /// [`Browser::start`], its server given more arguments for `miaodan serve`.
    pub(crate) async fn start_serving(language: Language, arguments: &[&str]) -> Option<Browser> {
        if skip_browser() {
            return None;
        }
        let artifacts = artifacts_dir();
        let server = serve_demo_with(arguments);
        let driver = Driver::start();
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(driver.capabilities(language))
            .connect(&format!("http://127.0.0.1:{}", driver.port))
            .await
            .unwrap_or_else(|e| panic!("no chromium session through chromedriver: {e}"));
        Some(Browser {
            client,
            server,
            artifacts,
            errors: Vec::new(),
            _driver: driver,
        })
    }

    /// The server's address of `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base)
    }

    /// Opens `path` of the server and waits for the page's `load` event.
    pub(crate) async fn goto(&mut self, path: &str) {
        let url = self.url(path);
        self.client
            .goto(&url)
            .await
            .unwrap_or_else(|e| panic!("opening {url}: {e}"));
    }

    /// Sends `Authorization: Bearer <token>` with every request from now on (the API's pages
    /// that are read with a token, such as a diagnosis report).
    pub(crate) async fn set_bearer(&mut self, token: &str) {
        self.devtools("Network.enable", json!({})).await;
        let headers = json!({ "headers": { "Authorization": format!("Bearer {token}") } });
        self.devtools("Network.setExtraHTTPHeaders", headers).await;
    }

    /// Sets the cookie `name` for the server's origin, before or after any page is open.
    pub(crate) async fn set_cookie(&mut self, name: &str, value: &str) {
        let cookie = json!({ "name": name, "value": value, "url": self.server.base });
        let set = self.devtools("Network.setCookie", cookie).await;
        assert_eq!(set["success"], json!(true), "chromium refused the cookie {name}: {set}");
    }

    /// The browser's cookies for the server's origin, HttpOnly ones included, as DevTools
    /// gives them (`name`, `value`, `httpOnly`, `secure`, `sameSite`, `expires`, …).
    pub(crate) async fn cookies(&mut self) -> Vec<Value> {
        let urls = json!({ "urls": [self.server.base] });
        let cookies = self.devtools("Network.getCookies", urls).await;
        cookies["cookies"].as_array().cloned().unwrap_or_default()
    }

    /// A Chrome DevTools Protocol command on the page (through chromedriver), and its answer.
    pub(crate) async fn devtools(&mut self, method: &str, params: Value) -> Value {
        let command = SessionCommand {
            path: "goog/cdp/execute",
            body: json!({ "cmd": method, "params": params }),
        };
        self.client
            .issue_cmd(command)
            .await
            .unwrap_or_else(|e| panic!("DevTools {method}: {e}"))
    }

    /// Runs `script` (a function body: `return …`) in the page and returns its value.
    pub(crate) async fn eval(&mut self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("running {script:?} in the page: {e}"))
    }

    /// What the page shows as text (`document.body.innerText`).
    pub(crate) async fn page_text(&mut self) -> String {
        let text = self.eval("return document.body ? document.body.innerText : ''").await;
        text.as_str().unwrap_or_default().to_string()
    }

    /// Waits until the page shows `text` (at most [`WAIT_TIMEOUT`]).
    pub(crate) async fn wait_for_text(&mut self, text: &str) {
        let deadline = Instant::now() + WAIT_TIMEOUT;
        while Instant::now() < deadline {
            if self.page_text().await.contains(text) {
                return;
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
        self.fail(&format!("the page did not show {text:?} within {WAIT_TIMEOUT:?}"))
            .await
    }

    /// Waits until `script` (a function body, e.g. `return chart.ready`) returns `true` in the
    /// page (at most [`WAIT_TIMEOUT`]); `what` names the condition in the failure message.
    pub(crate) async fn wait_until(&mut self, what: &str, script: &str) {
        let deadline = Instant::now() + WAIT_TIMEOUT;
        while Instant::now() < deadline {
            if self.eval(script).await == json!(true) {
                return;
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
        self.fail(&format!("not {what} within {WAIT_TIMEOUT:?}")).await
    }

    /// Waits until an element matches the CSS selector `css` (at most [`WAIT_TIMEOUT`]).
    pub(crate) async fn wait_for_selector(&mut self, css: &str) {
        let deadline = Instant::now() + WAIT_TIMEOUT;
        while Instant::now() < deadline {
            if self.client.find(Locator::Css(css)).await.is_ok() {
                return;
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
        self.fail(&format!("no element matched {css:?} within {WAIT_TIMEOUT:?}"))
            .await
    }

    async fn element(&mut self, css: &str) -> fantoccini::elements::Element {
        self.wait_for_selector(css).await;
        self.client.find(Locator::Css(css)).await.unwrap()
    }

    /// Clicks the first element matching `css` (once one exists).
    pub(crate) async fn click(&mut self, css: &str) {
        let element = self.element(css).await;
        if let Err(e) = element.click().await {
            self.fail(&format!("clicking {css:?}: {e}")).await
        }
    }

    /// Replaces the value of the input matching `css` with `text`, typed key by key.
    pub(crate) async fn fill(&mut self, css: &str, text: &str) {
        let element = self.element(css).await;
        let typed = match element.clear().await {
            Ok(()) => element.send_keys(text).await,
            Err(e) => Err(e),
        };
        if let Err(e) = typed {
            self.fail(&format!("typing into {css:?}: {e}")).await
        }
    }

    /// Submits the form matching `css` as a click on its submit button would: its `submit`
    /// handlers run (unlike `form.submit()`).
    pub(crate) async fn submit(&mut self, css: &str) {
        let form = self.element(css).await;
        let submitted = self
            .client
            .execute(
                "arguments[0].requestSubmit()",
                vec![serde_json::to_value(form).unwrap()],
            )
            .await;
        if let Err(e) = submitted {
            self.fail(&format!("submitting {css:?}: {e}")).await
        }
    }

    /// The text the first element matching `css` shows (once one exists).
    pub(crate) async fn text_of(&mut self, css: &str) -> String {
        let element = self.element(css).await;
        element
            .text()
            .await
            .unwrap_or_else(|e| panic!("reading the text of {css:?}: {e}"))
    }

    /// The font families chromium drew the text of the first element matching `css` with.
    pub(crate) async fn fonts_of(&mut self, css: &str) -> Vec<String> {
        self.wait_for_selector(css).await;
        let document = self.devtools("DOM.getDocument", json!({})).await;
        let root = document["root"]["nodeId"].clone();
        let node = self
            .devtools("DOM.querySelector", json!({ "nodeId": root, "selector": css }))
            .await;
        self.devtools("CSS.enable", json!({})).await;
        let fonts = self
            .devtools("CSS.getPlatformFontsForNode", json!({ "nodeId": node["nodeId"] }))
            .await;
        let fonts = fonts["fonts"].as_array().cloned().unwrap_or_default();
        fonts
            .iter()
            .filter_map(|font| font["familyName"].as_str().map(str::to_string))
            .collect()
    }

    /// Saves the window as `target/browser-artifacts/<test>/<name>.png`.
    pub(crate) async fn screenshot(&mut self, name: &str) -> PathBuf {
        let png = self
            .client
            .screenshot()
            .await
            .unwrap_or_else(|e| panic!("taking the screenshot {name}: {e}"));
        let path = self.artifacts.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        path
    }

    /// The console errors so far (see the module comment), kept for [`Browser::finish`].
    pub(crate) async fn console_errors(&mut self) -> Vec<String> {
        self.read_browser_log().await;
        self.errors.clone()
    }

    /// The console errors so far, which [`Browser::finish`] then no longer sees: for a test
    /// that expects one (a page answered 404 on purpose).
    pub(crate) async fn take_console_errors(&mut self) -> Vec<String> {
        self.read_browser_log().await;
        std::mem::take(&mut self.errors)
    }

    /// Ends the test: fails it if the page logged a console error, then closes chromium.
    pub(crate) async fn finish(mut self) {
        let errors = self.console_errors().await;
        if !errors.is_empty() {
            self.fail(&format!("console errors:\n  {}", errors.join("\n  "))).await
        }
        self.client
            .close()
            .await
            .unwrap_or_else(|e| panic!("closing chromium: {e}"));
    }

    /// chromedriver hands each log entry out once: what it held is moved into `errors`.
    async fn read_browser_log(&mut self) {
        let command = SessionCommand {
            path: "se/log",
            body: json!({ "type": "browser" }),
        };
        let entries = self
            .client
            .issue_cmd(command)
            .await
            .unwrap_or_else(|e| panic!("reading the browser log: {e}"));
        let favicon = self.url("/favicon.ico");
        for entry in entries.as_array().into_iter().flatten() {
            let message = entry["message"].as_str().unwrap_or_default();
            let severe = entry["level"] == "SEVERE";
            if severe && !(entry["source"] == "network" && message.starts_with(&favicon)) {
                self.errors
                    .push(format!("[{}] {message}", entry["source"].as_str().unwrap_or("?")));
            }
        }
    }

    /// Fails the test with `why`, the page's address and text, after a screenshot `failure.png`.
    async fn fail(&mut self, why: &str) -> ! {
        let url = self
            .client
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default();
        let text: String = self
            .page_text()
            .await
            .chars()
            .take(PAGE_TEXT_QUOTED_CHARS_MAX)
            .collect();
        let shot = self.screenshot("failure").await;
        panic!("{why}\npage: {url} (screenshot {})\npage text:\n{text}", shot.display())
    }
}
