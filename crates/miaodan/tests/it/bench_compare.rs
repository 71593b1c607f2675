//! `scripts/bench-compare` without building or running anything: its table of a comparison
//! kept on disk (`--table DIR`), its regression flag and exit status, and its refusals of
//! arguments it cannot use. The builds and runs themselves are exercised by hand (BENCHMARKS.md).
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/bench-compare")
}

fn bench_compare(args: &[&str]) -> Output {
    Command::new("python3").arg(script()).args(args).output().unwrap()
}

fn summary(requests_per_s: f64, p99: u64) -> Value {
    json!({
        "scenario": "flash-sale",
        "throughput_per_s": requests_per_s,
        "orders_per_s": 0.0,
        "latency_us": {"p50": 1000, "p99": p99, "p999": p99, "max": p99},
    })
}

/// A comparison of one benchmark over two rounds, as the script keeps it: A's runs at
/// `a` requests/s, B's at `b`.
fn kept_comparison(a: [f64; 2], b: [f64; 2]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let revs = [
        ("150fa5f", "150fa5f6ab599af13d50f8ab16108d50d633da4b"),
        ("HEAD", "2b186c7000000000000000000000000000000000"),
    ];
    let meta = json!({
        "revs": revs.iter().map(|(name, commit)| json!({"name": name, "commit": commit, "subject": "a commit"})).collect::<Vec<_>>(),
        "benches": ["flash-sale --mode engine"],
        "rounds": 2,
        "machine": "2 cores",
        "date": "2026-12-06 01:00 UTC",
    });
    std::fs::write(dir.path().join("meta.json"), meta.to_string()).unwrap();
    for round in 0..2 {
        for (side, per_s) in [("A", a[round]), ("B", b[round])] {
            let name = format!("b0-r{round}-{side}.json");
            std::fs::write(dir.path().join(name), summary(per_s, 5_000).to_string()).unwrap();
        }
    }
    dir
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn a_throughput_within_the_threshold_is_no_regression() {
    let kept = kept_comparison([100_000.0, 110_000.0], [96_000.0, 100_000.0]);
    let output = bench_compare(&["--table", kept.path().to_str().unwrap()]);
    let table = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{table}");
    let row = table
        .lines()
        .find(|l| l.trim_start().starts_with("requests/s"))
        .unwrap();
    // Medians 105 000 and 98 000: B/A 0.933, within 10 %.
    assert!(
        row.contains("105 000") && row.contains("98 000") && row.contains("0.933"),
        "{table}"
    );
    assert!(!table.contains("REGRESSION"), "{table}");
    assert!(table.contains("miaodan bench flash-sale --mode engine"), "{table}");
}

#[test]
fn a_throughput_down_beyond_the_threshold_is_flagged_and_exits_3() {
    let kept = kept_comparison([100_000.0, 100_000.0], [80_000.0, 85_000.0]);
    let output = bench_compare(&["--table", kept.path().to_str().unwrap()]);
    let table = stdout(&output);
    assert_eq!(output.status.code(), Some(3), "{table}");
    let row = table
        .lines()
        .find(|l| l.trim_start().starts_with("requests/s"))
        .unwrap();
    assert!(row.contains("0.825") && row.contains("REGRESSION"), "{table}");
    // The same figures under a wider threshold pass.
    let output = bench_compare(&["--table", kept.path().to_str().unwrap(), "--threshold", "20"]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
}

#[test]
fn arguments_it_cannot_use_are_refused_before_anything_is_built() {
    for args in [
        &["--rounds", "0", "HEAD"][..],
        &[][..],
        &["A", "B", "C"][..],
        &["--bench", "flash-sale --json x.json", "HEAD"][..],
        &["--bench", "--mode engine", "HEAD"][..],
        &["--table", "somewhere", "HEAD"][..],
    ] {
        let output = bench_compare(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
    }
    let output = bench_compare(&["--table", "/nonexistent/bench-compare-runs"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
}
