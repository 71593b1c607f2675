//! `miaodan bench` from outside: a small run of a scenario, as a person would start it, ends
//! with the audit of the database passed and the figures it promises in its `--json` summary.
//! Only what the run did is asserted (counts, the audit), never how fast: speed is for
//! BENCHMARKS.md, on a release build.
#![allow(clippy::unwrap_used)]

use serde_json::Value;
use std::process::{Command, Stdio};

/// Runs `miaodan bench <args> --json FILE` and returns the summary it wrote; fails the test,
/// with the command's output, if the run (or its audit) failed.
fn bench(args: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("summary.json");
    let output = Command::new(env!("CARGO_BIN_EXE_miaodan"))
        .arg("bench")
        .args(args)
        .arg("--json")
        .arg(&json)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let printed = format!(
        "miaodan bench {}\nstdout:\n{}\nstderr:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{printed}");
    let summary: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(summary["audit_passed"], true, "{printed}");
    summary
}

fn postgres_url() -> Option<String> {
    match std::env::var("MIAODAN_TEST_POSTGRES_URL") {
        Ok(url) => Some(url),
        Err(_) if std::env::var("MIAODAN_SKIP_POSTGRES").as_deref() == Ok("1") => None,
        Err(_) => panic!("set MIAODAN_TEST_POSTGRES_URL (scripts/test does) or MIAODAN_SKIP_POSTGRES=1"),
    }
}

const SMALL_EVENING: [&str; 12] = [
    "after-sales",
    "--requests",
    "150",
    "--orders",
    "40",
    "--buyers",
    "150",
    "--decisions",
    "20000",
    "--concurrency",
    "3",
    "--shards",
];

/// The evening's requests each got one of the answers the scenario is built to show, the
/// merchant answered every request passed on, and every rule-approved request was refunded.
fn assert_evening(summary: &Value, mode: &str, backend: &str) {
    assert_eq!(
        (&summary["scenario"], &summary["mode"], &summary["backend"]),
        (&Value::from("after-sales"), &Value::from(mode), &Value::from(backend)),
        "{summary}"
    );
    let figures = &summary["after_sales"];
    let count = |name: &str| figures[name].as_u64().unwrap_or_else(|| panic!("{name} in {figures}"));
    assert_eq!(count("rule_decisions"), 20_000);
    assert!(
        figures["rule_decisions_per_s"].as_f64().unwrap_or(0.0) > 0.0,
        "{figures}"
    );
    // 150 requests on earlier orders, and a cancellation of some of the 40 new ones.
    let requests = count("requests");
    assert!((150..=190).contains(&requests), "{figures}");
    let decided = count("approved_by_rules") + count("refused_by_rules") + count("to_merchant");
    assert_eq!(
        decided, requests,
        "every request approved, refused or passed on: {figures}"
    );
    for name in ["approved_by_rules", "refused_by_rules", "to_merchant"] {
        assert!(count(name) > 0, "no request {name}: {figures}");
    }
    assert_eq!(
        count("merchant_approved") + count("merchant_refused"),
        count("to_merchant"),
        "the merchant answered each request passed on: {figures}"
    );
    assert_eq!(count("rule_approved_refunded"), count("approved_by_rules"), "{figures}");
    assert_eq!(summary["errors"], 0, "{summary}");
    assert!(summary["paid_orders"].as_u64().unwrap_or(0) > 0, "{summary}");
}

#[test]
fn an_after_sales_evening_over_http_on_sqlite_passes_its_audit() {
    let summary = bench(&[&SMALL_EVENING[..], &["2", "--mode", "http"]].concat());
    assert_evening(&summary, "http", "sqlite");
}

#[test]
fn an_after_sales_evening_in_the_engine_on_sqlite_passes_its_audit() {
    let summary = bench(&[&SMALL_EVENING[..], &["2", "--mode", "engine"]].concat());
    assert_evening(&summary, "engine", "sqlite");
}

#[test]
fn an_after_sales_evening_over_http_on_postgres_passes_its_audit() {
    let Some(url) = postgres_url() else {
        eprintln!("skipping a PostgreSQL test: MIAODAN_SKIP_POSTGRES=1");
        return;
    };
    let summary = bench(
        &[
            &SMALL_EVENING[..],
            &["2", "--mode", "http", "--backend", "postgres", "--database", &url],
        ]
        .concat(),
    );
    assert_evening(&summary, "http", "postgres");
}

/// The flash sale's taps against the bare endpoint: every request answered (201), none
/// refused, no order made; the run's shape in its summary.
#[test]
fn the_bare_http_endpoint_answers_every_tap_of_the_flash_sales_load() {
    let summary = bench(&["http-baseline", "--buyers", "400", "--concurrency", "4"]);
    assert_eq!(
        (&summary["scenario"], &summary["mode"], &summary["backend"]),
        (
            &Value::from("http-baseline"),
            &Value::from("http"),
            &Value::from("none")
        ),
        "{summary}"
    );
    // 400 taps and the 5 % of buyers who retry (seed 42).
    let requests = summary["requests"].as_u64().unwrap();
    assert!((400..=440).contains(&requests), "{summary}");
    assert_eq!(summary["errors"], 0, "{summary}");
    assert_eq!(summary["orders_created"], 0, "{summary}");
    assert_eq!(summary["concurrency"], 4, "{summary}");
    assert!(summary.get("http_baseline").is_none(), "{summary}");
}

/// `--against-flash-sale` runs the bare endpoint and the real sale alternately: a ratio per
/// round, each sale's audit passed, and the same taps sent to both.
#[test]
fn the_bare_endpoint_and_the_flash_sale_run_side_by_side_with_a_ratio_per_round() {
    let summary = bench(&[
        "http-baseline",
        "--against-flash-sale",
        "--rounds",
        "2",
        "--buyers",
        "300",
        "--units",
        "100",
        "--concurrency",
        "4",
    ]);
    let figures = &summary["http_baseline"];
    let runs = |name: &str| {
        figures[name]
            .as_array()
            .unwrap_or_else(|| panic!("{name} in {figures}"))
            .len()
    };
    for name in [
        "bare_requests_per_s",
        "flash_sale_requests_per_s",
        "ratio_per_round",
        "bare_latency_us",
        "flash_sale_latency_us",
    ] {
        assert_eq!(runs(name), 2, "{name}: {figures}");
    }
    let ratios: Vec<f64> = figures["ratio_per_round"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_f64().unwrap())
        .collect();
    assert!(ratios.iter().all(|r| *r > 0.0), "{figures}");
    let median = figures["ratio_median"].as_f64().unwrap();
    assert!(ratios.contains(&median), "the median is one of the rounds': {figures}");
}

#[test]
fn a_flash_sale_through_edge_gateways_passes_its_audit_with_every_unit_sold_once() {
    let summary = bench(&[
        "flash-sale",
        "--mode",
        "edge",
        "--batch",
        "64",
        "--concurrency",
        "4",
        "--buyers",
        "2000",
        "--units",
        "200",
    ]);
    assert_eq!(summary["mode"], "edge", "{summary}");
    assert_eq!(summary["orders_created"], 200, "{summary}");
    assert_eq!(summary["refusals"]["sold_out"], 1_800, "{summary}");
    assert_eq!(
        (&summary["errors"], &summary["duplicate_orders"]),
        (&Value::from(0), &Value::from(0))
    );
}
