//! `miaodan compass rebuild` on a database: it forgets the compass's figures and its place in
//! the outbox (the server's reader folds the outbox again when it starts; the HTTP tests check
//! the refolded figures equal the first ones).
#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};

#[test]
fn compass_rebuild_resets_the_compass_of_a_database_and_says_what_happens_next() {
    let data = tempfile::tempdir().unwrap();
    let database = data.path().join("miaodan.db");
    let output = Command::new(env!("CARGO_BIN_EXE_miaodan"))
        .args(["compass", "rebuild", "--database", database.to_str().unwrap()])
        .env_remove("MIAODAN_DATABASE")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        stdout.contains("folds the outbox's events again when it starts"),
        "{stdout}"
    );
}
