//! `miaodan bench flash-sale --mode edge`: the flash sale's buyers tapping through edge
//! gateways. Each of `concurrency` keep-alive connections is a gateway that carries `--batch`
//! buyers' taps in one `POST /v1/flash-sales/{id}/taps/batch`, every tap keyed with its buyer's
//! key; the retries follow in the gateway's next batch and must get their first answers. A
//! tap's latency is its batch's round trip. The database is audited after, as in http mode.

use super::env::{Connection, Env, problem_code};
use super::flash_sale::{Plan, Sale, buyers_with_tokens};
use super::{FlashSaleArgs, Tally, progress};
use bytes::Bytes;
use miaodan_server::tokens::TokenRequest;
use miaodan_store::records::Role;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// Serves the platform on loopback and sends every buyer's taps through edge gateways.
pub(super) async fn run(
    env: &Env,
    sale: &Sale,
    plans: Arc<Vec<Plan>>,
    buyers: &[i64],
    args: &FlashSaleArgs,
    total: u64,
) -> anyhow::Result<(Tally, f64)> {
    anyhow::ensure!((1..=1_000).contains(&args.batch), "--batch is 1 to 1000");
    // The buyers exist (their tokens go unused: the gateway authenticated them).
    buyers_with_tokens(env, buyers).await?;
    let token = edge_token(env).await?;
    let running = miaodan_server::serve(env.state.clone()).await?;
    let gathered = batches_over_http(running.address, sale, plans, &token, args, total).await;
    running.shutdown().await;
    gathered
}

/// An edge gateway's token, as the platform's admin would issue it.
async fn edge_token(env: &Env) -> anyhow::Result<String> {
    let now = env.state.clock.now();
    let request = TokenRequest::new(Role::Edge, None).labelled("bench edge");
    let (record, token) = miaodan_server::tokens::mint(env.state.ids.token().await?, request, now)?;
    env.state.store.insert_token(&record, None).await?;
    env.state.tokens.remember(record);
    Ok(token)
}

fn body_of(plans: &[Plan]) -> Bytes {
    let taps: Vec<Value> = plans
        .iter()
        .map(|plan| json!({ "buyer_id": plan.buyer, "idempotency_key": format!("tap-{}", plan.buyer) }))
        .collect();
    Bytes::from(json!({ "taps": taps }).to_string())
}

/// Every buyer's taps in batches of `--batch` over `concurrency` gateways' connections.
async fn batches_over_http(
    address: std::net::SocketAddr,
    sale: &Sale,
    plans: Arc<Vec<Plan>>,
    token: &str,
    args: &FlashSaleArgs,
    total: u64,
) -> anyhow::Result<(Tally, f64)> {
    let (concurrency, batch) = (args.common.concurrency, args.batch);
    let path = format!("/v1/flash-sales/{}/taps/batch", sale.id);
    let next = Arc::new(AtomicUsize::new(0));
    let bar = progress(total, "taps");
    let started = Instant::now();
    let workers = (0..concurrency).map(|_| {
        let (next, plans, bar, path) = (next.clone(), plans.clone(), bar.clone(), path.clone());
        async move {
            let mut gateway = Gateway {
                connection: Connection::open(address).await?,
                address,
                path,
                token,
                tally: Tally::default(),
                bar,
            };
            loop {
                let from = next.fetch_add(batch, Ordering::Relaxed);
                let chunk: Vec<Plan> = plans.iter().skip(from).take(batch).copied().collect();
                if chunk.is_empty() {
                    break;
                }
                let firsts = gateway.send(&chunk).await?;
                for result in firsts.iter().flatten() {
                    gateway.count(result);
                }
                let retried: Vec<(Plan, Option<Value>)> = chunk
                    .iter()
                    .zip(firsts)
                    .filter(|(plan, _)| plan.retry)
                    .map(|(plan, first)| (*plan, first))
                    .collect();
                gateway.retry(retried).await?;
            }
            anyhow::Ok(gateway.tally)
        }
    });
    super::gather(workers, started, &bar).await
}

/// One edge gateway: its connection and what it saw.
struct Gateway<'a> {
    connection: Connection,
    address: std::net::SocketAddr,
    path: String,
    token: &'a str,
    tally: Tally,
    bar: indicatif::ProgressBar,
}

impl Gateway<'_> {
    /// Sends one batch; each tap's result (`None` for each when the batch itself failed).
    async fn send(&mut self, plans: &[Plan]) -> anyhow::Result<Vec<Option<Value>>> {
        let sent = Instant::now();
        let answer = self.connection.post(&self.path, self.token, None, body_of(plans)).await;
        let elapsed = sent.elapsed();
        for _ in plans {
            self.tally.record(elapsed);
        }
        self.bar.inc(plans.len() as u64);
        let response = match answer {
            Ok(response) => response,
            Err(_) => {
                self.tally.errors += plans.len() as u64;
                self.connection = Connection::open(self.address).await?;
                return Ok(vec![None; plans.len()]);
            }
        };
        if response.status != 200 {
            let code = problem_code(&response.body);
            plans.iter().for_each(|_| self.tally.refuse(&code));
            return Ok(vec![None; plans.len()]);
        }
        let mut answer: Value = serde_json::from_slice(&response.body)?;
        let results = answer["results"].as_array_mut().map(std::mem::take).unwrap_or_default();
        anyhow::ensure!(results.len() == plans.len(), "one result per tap");
        Ok(results.into_iter().map(Some).collect())
    }

    /// Counts a tap's first answer: an order, or its refusal.
    fn count(&mut self, result: &Value) {
        match result["status"].as_u64() {
            Some(201) => self.tally.ordered += 1,
            Some(_) => self.tally.refuse(result["body"]["code"].as_str().unwrap_or_default()),
            None => self.tally.errors += 1,
        }
    }

    /// Sends the retries of a batch's taps as the next batch: each must get its first answer.
    async fn retry(&mut self, retried: Vec<(Plan, Option<Value>)>) -> anyhow::Result<()> {
        if retried.is_empty() {
            return Ok(());
        }
        let plans: Vec<Plan> = retried.iter().map(|(plan, _)| *plan).collect();
        let answers = self.send(&plans).await?;
        for ((_, first), again) in retried.into_iter().zip(answers) {
            match (first, again) {
                (Some(first), Some(again)) if first == again => {}
                // A first batch that failed was counted; its retry is a first answer.
                (None, Some(again)) => self.count(&again),
                (_, None) => {}
                _ => self.tally.duplicates += 1,
            }
        }
        Ok(())
    }
}
