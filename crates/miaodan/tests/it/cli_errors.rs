//! What the `miaodan` command says when it cannot do what it was asked: a sentence a person
//! can act on (what it tried, how to change it), never a Rust `Debug` form (`Some(99)`,
//! `Os { code: 111, kind: ConnectionRefused, … }`).
#![allow(clippy::unwrap_used)]

use std::process::{Command, Output, Stdio};

fn miaodan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_miaodan"))
        .args(args)
        .env_remove("MIAODAN_ADMIN_TOKEN")
        .env_remove("MIAODAN_DATABASE")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// A port nothing listens on: bound, then released.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[track_caller]
fn assert_no_debug_noise(message: &str) {
    for noise in ["Some(", "None", "Os {", "kind:", "{ "] {
        assert!(!message.contains(noise), "{noise:?} in {message:?}");
    }
}

#[test]
fn reconcile_against_an_unreachable_server_names_the_url_and_how_to_change_it() {
    let url = format!("http://127.0.0.1:{}", closed_port());
    let output = miaodan(&["reconcile", "--url", &url, "--token", "mdn_1_x", "--date", "2026-11-22"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains(&url), "the URL it tried: {stderr}");
    assert!(stderr.contains("--url"), "how to point it elsewhere: {stderr}");
    assert!(stderr.contains("refused"), "why: {stderr}");
    assert_no_debug_noise(&stderr);
}

#[test]
fn reconcile_help_documents_the_url_option() {
    let output = miaodan(&["reconcile", "--help"]);
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{help}");
    assert!(help.contains("--url <URL>"), "{help}");
    assert!(help.contains("http://127.0.0.1:8080"), "the default: {help}");
}

#[test]
fn a_token_for_a_shop_that_does_not_exist_names_the_shop_plainly() {
    let data = tempfile::tempdir().unwrap();
    let database = data.path().join("miaodan.db");
    let database = database.to_str().unwrap();
    for (role, expected) in [("merchant", "no such shop: 99"), ("buyer", "no such buyer: 99")] {
        let output = miaodan(&[
            "token",
            "create",
            "--role",
            role,
            "--subject",
            "99",
            "--database",
            database,
        ]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{stderr}");
        assert!(stderr.contains(expected), "{role}: {stderr}");
        assert_no_debug_noise(&stderr);
    }
}

#[test]
fn a_language_model_url_this_build_cannot_call_stops_serve_naming_the_flag() {
    let data = tempfile::tempdir().unwrap();
    let database = data.path().join("miaodan.db");
    let output = miaodan(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "off",
        "--database",
        database.to_str().unwrap(),
        "--language-model-url",
        "https://models.example",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("--language-model-url"), "which flag: {stderr}");
    assert!(stderr.contains("http://"), "what it takes: {stderr}");
    assert_no_debug_noise(&stderr);
}
