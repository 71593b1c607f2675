//! `miaodan openapi` prints the document the server serves at `/openapi.json`, so that tools
//! (`scripts/fuzz-api`: openapi-spec-validator, schemathesis) can read it without a server.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};

#[test]
fn the_openapi_command_prints_the_document_the_server_serves() {
    let output = Command::new(env!("CARGO_BIN_EXE_miaodan"))
        .arg("openapi")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let served = serde_json::to_value(miaodan_server::http::openapi::document()).unwrap();
    assert_eq!(printed, served);
    assert_eq!(printed["openapi"], "3.1.0");
    assert!(printed["paths"]["/v1/checkouts"]["post"].is_object());
}
