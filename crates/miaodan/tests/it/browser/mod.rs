//! Every web page in a real browser: Debian's chromium, headless, against `miaodan serve
//! --demo` on a fresh database ([`harness`]). Each test ends with [`Browser::finish`], which
//! fails it on any console error, and leaves its screenshots in
//! `target/browser-artifacts/<test>/`.
//! - [`harness_checks`]: the harness catches console errors and reaches the page.
//! - [`pages`]: the landing page, the API reference (`/docs/`) and the diagnosis report.
//! - [`chat`]: the buyer's chat with the assistant (`/assistant`): asking in Chinese and English,
//!   the page's language switch, the token from the link's fragment or the form.
//! - [`console`]: the merchant console: sign-in, every page in both languages, the live room,
//!   actions and refusals.

mod chat;
mod console;
mod harness;
mod harness_checks;
mod pages;

pub(crate) use harness::{Browser, Language};
