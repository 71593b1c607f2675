//! `miaodan bench http-baseline`: the floor under `bench flash-sale --mode http` — what the same
//! load generator gets from a bare endpoint on the same HTTP stack, with nothing behind it.
//!
//! The bare endpoint is one axum route, `POST /v1/flash-sales/{id}/taps`, served by the same
//! accept loop as `miaodan serve` (`miaodan_server::http::listener::serve`: hyper's HTTP/1, the
//! header timeout, the connection cap) on 127.0.0.1, in this process's tokio runtime (the one
//! `miaodan serve` runs on). It answers every request `201` with a fixed JSON body shaped like a
//! tap's answer ([`TAP_ANSWER`]): no store, no token check, no idempotency, no middleware.
//!
//! The requests are the flash sale's, sent by its own load generator
//! ([`flash_sale::taps_over_http`]): the same buyers and retries from the same seed, the same
//! keep-alive connections (`--concurrency`), each a POST with an `Authorization` bearer token
//! (minted as the sale's are, never stored) and an `Idempotency-Key`, an empty body as a tap's.
//!
//! `--against-flash-sale` runs the bare endpoint and the real flash sale over HTTP alternately
//! (`--rounds` pairs, alternating which goes first, each sale on a fresh database) and reports
//! miaodan / bare per round and their median: only figures of the same run compare on a shared
//! machine. Every run stops taking new taps after `--run-seconds-max`.

use super::flash_sale::{self, HttpTaps, Plan};
use super::report::{Latency, Summary};
use super::{HttpBaselineArgs, Mode, median};
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;
use miaodan_server::limits::Limits;
use miaodan_server::tokens::TokenRequest;
use miaodan_store::records::Role;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// The bare endpoint's answer to every request: a tap's `201` body, ordered.
const TAP_ANSWER: &str = r#"{"result":"ordered","order":{"id":1000001,"shop_id":1,"buyer_id":1,"status":"pending_payment","lines":[{"sku_id":1,"quantity":1,"unit_price_fen":990}],"total_fen":990,"currency":"CNY","expires_at":"2026-12-06T00:05:00Z"}}"#;

/// What `bench http-baseline --against-flash-sale` measures besides what every scenario does.
#[derive(Debug, Default, Serialize, Clone)]
pub struct HttpBaselineFigures {
    /// Requests/s of each run, in round order.
    pub bare_requests_per_s: Vec<f64>,
    pub flash_sale_requests_per_s: Vec<f64>,
    /// Each round's flash sale / bare endpoint, requests/s.
    pub ratio_per_round: Vec<f64>,
    /// The median of `ratio_per_round`.
    pub ratio_median: f64,
    /// Latency of each run, in round order.
    pub bare_latency_us: Vec<Latency>,
    pub flash_sale_latency_us: Vec<Latency>,
}

impl HttpBaselineFigures {
    pub fn rows(&self) -> Vec<(&'static str, String)> {
        let l = |l: &Latency| format!("p50 {}  p99 {}  p99.9 {}", l.p50, l.p99, l.p999);
        let mut rows = Vec::new();
        for (round, ratio) in self.ratio_per_round.iter().enumerate() {
            rows.push((
                "round",
                format!(
                    "{}: bare {:.0} requests/s (µs {}), miaodan {:.0} requests/s (µs {}), miaodan / bare {ratio:.3}",
                    round + 1,
                    self.bare_requests_per_s[round],
                    l(&self.bare_latency_us[round]),
                    self.flash_sale_requests_per_s[round],
                    l(&self.flash_sale_latency_us[round]),
                ),
            ));
        }
        rows.push((
            "miaodan / bare",
            format!(
                "median {:.3} over {} rounds",
                self.ratio_median,
                self.ratio_per_round.len()
            ),
        ));
        rows
    }
}

pub async fn run(args: &HttpBaselineArgs) -> anyhow::Result<Summary> {
    let mut sale = args.sale.clone();
    sale.common.mode = Mode::Http;
    let time_limit = Duration::from_secs(args.run_seconds_max.max(1));
    if !args.against_flash_sale {
        return bare(&sale, time_limit).await;
    }
    let mut figures = HttpBaselineFigures::default();
    let mut last_bare = None;
    let rounds = args.rounds.max(1);
    for round in 0..rounds {
        let bare_first = round % 2 == 0;
        for is_bare in [bare_first, !bare_first] {
            let what = if is_bare { "the bare endpoint" } else { "the flash sale" };
            eprintln!("round {} of {rounds}: {what}", round + 1);
            if is_bare {
                let summary = bare(&sale, time_limit).await?;
                figures.bare_requests_per_s.push(summary.throughput_per_s);
                figures.bare_latency_us.push(summary.latency_us);
                last_bare = Some(summary);
            } else {
                let summary = flash_sale::run_within(&sale, Some(time_limit)).await?;
                anyhow::ensure!(
                    summary.audit_passed,
                    "the flash sale's audit failed: {:?}",
                    summary.audit
                );
                figures.flash_sale_requests_per_s.push(summary.throughput_per_s);
                figures.flash_sale_latency_us.push(summary.latency_us);
            }
        }
        let ratio = figures.flash_sale_requests_per_s[round as usize] / figures.bare_requests_per_s[round as usize];
        figures.ratio_per_round.push(ratio);
    }
    figures.ratio_median = median(&figures.ratio_per_round);
    let mut summary = last_bare.unwrap_or_default();
    summary.http_baseline = Some(figures);
    Ok(summary)
}

/// One run against the bare endpoint: served, tapped by the flash sale's load generator,
/// stopped.
async fn bare(args: &super::FlashSaleArgs, time_limit: Duration) -> anyhow::Result<Summary> {
    let plans = Arc::new(flash_sale::plans(args, args.common.seed));
    let tokens = Arc::new(tokens(&plans)?);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let stopped = async {
            let _ = stopped.await;
        };
        miaodan_server::http::listener::serve(listener, router(), &Limits::default(), stopped).await;
    });
    let taps = HttpTaps {
        address,
        path: "/v1/flash-sales/1/taps".into(),
        total: plans.iter().map(Plan::taps).sum(),
        plans,
        tokens,
        time_limit: Some(time_limit),
    };
    let gathered = flash_sale::taps_over_http(taps, args, None).await;
    let _ = stop.send(());
    let _ = server.await;
    let (tally, duration) = gathered?;
    let checks = vec![
        (
            tally.errors == 0,
            format!("requests failed or answered other than 201: {}", tally.errors),
        ),
        (
            tally.refusals.is_empty(),
            format!("requests refused: {}", tally.refusals.values().sum::<u64>()),
        ),
    ];
    Ok(Summary {
        // Nothing is ordered: the 201s are the bare endpoint's fixed answer.
        orders_created: 0,
        orders_per_s: 0.0,
        ..Summary::of_run("http-baseline", &args.common, "none", &tally, duration, checks)
    })
}

/// The bare endpoint: the tap's route, answered at once.
fn router() -> Router {
    Router::new().route("/v1/flash-sales/{id}/taps", post(answer))
}

async fn answer() -> impl IntoResponse {
    (
        StatusCode::CREATED,
        [(header::CONTENT_TYPE, "application/json")],
        TAP_ANSWER,
    )
}

/// A buyer token for each plan's buyer, at the buyer's number, minted as the flash sale's are
/// (so the header is as long) but never stored: the bare endpoint reads none.
fn tokens(plans: &[Plan]) -> anyhow::Result<Vec<String>> {
    let now = miaodan_server::clock::Clock::system().now();
    let buyers_max = plans.iter().map(|p| p.buyer).max().unwrap_or(0);
    let mut tokens = vec![String::new(); usize::try_from(buyers_max)? + 1];
    for plan in plans {
        let request = TokenRequest::new(Role::Buyer, Some(plan.buyer));
        let (_, token) = miaodan_server::tokens::mint(plan.buyer, request, now)?;
        tokens[usize::try_from(plan.buyer)?] = token;
    }
    Ok(tokens)
}
