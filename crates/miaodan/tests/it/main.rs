//! The `miaodan` command from outside: one test binary (a module per concern) so the suite
//! compiles and links once.
//! - [`crash`]: SIGKILL and SIGTERM of the real server under load, and SIGKILL of PostgreSQL under
//!   the running server, reconciled against the database.
//! - [`compass_command`]: `miaodan compass rebuild` resets the compass's figures.
//! - [`cli_errors`]: what the command says when it cannot do what it was asked.
//! - [`readme_examples`]: every server example of the README, run as written against `serve --demo`.
//! - [`openapi_command`]: `miaodan openapi` prints the served document.
//! - [`browser`]: every web page in headless chromium, screenshots under `target/browser-artifacts/`.
//! - [`bench`]: small runs of `miaodan bench` scenarios end with their audit passed.
//! - [`bench_compare`]: `scripts/bench-compare`'s table, regression flag and argument checks.

mod bench;
mod bench_compare;
mod browser;
mod cli_errors;
mod compass_command;
mod crash;
mod openapi_command;
mod readme_examples;
