//! `miaodan bench cluster`: `miaodan serve --cluster` processes (this binary) sharing the shards
//! of one fresh PostgreSQL database, with one `miaodan simpay`, on loopback, a shop in each shard.
//! Two measures:
//! - **members**: the members start one by one, and with each count keyed one-line checkouts (a
//!   client per buyer, each on a shop of its own) are sent to each shop's holder, then to any
//!   member (a request for another member's shard is sent on there): requests/s and latency of
//!   each, and what sending on adds;
//! - **failover**: the holder of the first shop's shard SIGKILLed again and again; each time, how
//!   long until a checkout sent at the kill (retried at every member, as a client of a cluster
//!   does) is acknowledged.

use super::env::{Connection, problem_code};
use anyhow::Context;
use bytes::Bytes;
use clap::Args;
use miaodan_store::throwaway::ThrowawayDatabase;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

#[derive(Args, Clone)]
pub struct ClusterArgs {
    /// A PostgreSQL server URL; a fresh database is created on it (default:
    /// `MIAODAN_BENCH_POSTGRES_URL`, then `MIAODAN_TEST_POSTGRES_URL`).
    #[arg(long)]
    database: Option<String>,
    /// Processes in the cluster.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(2..=5))]
    members: u16,
    /// Concurrent clients (keep-alive connections), each a buyer of its own.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// How long each round of load lasts.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Rounds of each way of sending (to the holder and to any member alternate).
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Times the holder of the first shop's shard is killed.
    #[arg(long, default_value_t = 5)]
    kills: u32,
    /// Shards the members share (`serve --cluster --shards N`), a shop in each.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(2..=64))]
    shards: u32,
}

const SIMPAY_SECRET: &str = "whsec-bench-cluster";

/// A process this bench started; killed when dropped.
struct Process {
    child: Child,
    address: SocketAddr,
}

impl Process {
    fn base(&self) -> String {
        format!("http://{}", self.address)
    }
}

fn free_address() -> anyhow::Result<SocketAddr> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// Starts this binary with `args` and waits for a stdout line containing `ready`; gives the
/// process and the lines up to it.
async fn start(args: &[String], ready: &str) -> anyhow::Result<(Child, Vec<String>)> {
    let mut child = Command::new(std::env::current_exe()?)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let line = tokio::time::timeout_at(deadline, lines.next_line())
            .await
            .with_context(|| format!("no {ready:?} within a minute"))??
            .with_context(|| format!("exited before {ready:?}: {}", seen.join("\n")))?;
        let done = line.contains(ready);
        seen.push(line);
        if done {
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return Ok((child, seen));
        }
    }
}

struct Cluster {
    database: String,
    simpay: String,
    /// The shards the members share.
    shards: u32,
    members: Vec<Process>,
}

impl Cluster {
    /// Starts a member; the first on a fresh database prints the admin token.
    async fn member(&self, wait_to_hold: bool) -> anyhow::Result<(Process, Option<String>)> {
        let address = free_address()?;
        let args: Vec<String> = [
            "serve",
            "--cluster",
            "--database",
            &self.database,
            "--listen",
            &address.to_string(),
            "--simpay-url",
            &self.simpay,
            "--simpay-secret",
            SIMPAY_SECRET,
            "--metrics-listen",
            "off",
            "--risk",
            "off",
            "--shards",
            &self.shards.to_string(),
        ]
        .map(str::to_string)
        .to_vec();
        let ready = match wait_to_hold {
            true => "now holds shards",
            false => "miaodan is serving",
        };
        let (child, lines) = start(&args, ready).await?;
        let token = lines
            .iter()
            .skip_while(|line| !line.contains("First start"))
            .nth(1)
            .map(|line| line.trim().to_string());
        Ok((Process { child, address }, token))
    }
}

/// The shops' SKUs (one per shop: a checkout takes a unit of one) and the buyers; client `i`
/// buys `skus[i % skus.len()]`.
struct World {
    /// (shop, SKU)
    skus: Vec<(i64, i64)>,
    buyers: Vec<String>,
}

async fn call(connection: &mut Connection, path: &str, token: &str, body: Value) -> anyhow::Result<Value> {
    let answer = connection
        .post(path, token, None, Bytes::from(body.to_string()))
        .await?;
    anyhow::ensure!(
        answer.status < 300,
        "{path}: {} {}",
        answer.status,
        String::from_utf8_lossy(&answer.body)
    );
    Ok(serde_json::from_slice(&answer.body)?)
}

/// A shop in each of `shards` shards, each with a SKU in stock, and `buyers` buyers.
async fn build_world(member: SocketAddr, admin: &str, (buyers, shards): (usize, u32)) -> anyhow::Result<World> {
    let mut c = Connection::open(member).await?;
    let mut skus: Vec<(i64, i64)> = Vec::new();
    for _ in 0..shards * 8 {
        let shop = call(&mut c, "/v1/shops", admin, json!({ "name": "直播间小铺" })).await?["id"].clone();
        let shop = shop.as_i64().context("shop id")?;
        if skus
            .iter()
            .any(|(other, _)| other % i64::from(shards) == shop % i64::from(shards))
        {
            continue;
        }
        skus.push((shop, shop_with_stock(&mut c, member, admin, shop).await?));
        if skus.len() == shards as usize {
            break;
        }
    }
    anyhow::ensure!(skus.len() == shards as usize, "no shop landed in some shard");
    let mut tokens = Vec::new();
    for i in 0..buyers {
        let buyer = json!({ "name": format!("买家{i}"),
            "default_address": { "adcode": "310101000000", "detail": format!("南京东路{i}号") } });
        let id = call(&mut c, "/v1/buyers", admin, buyer).await?["id"].clone();
        let token = call(&mut c, &format!("/v1/buyers/{id}/tokens"), admin, json!({})).await?["token"].clone();
        tokens.push(token.as_str().context("token")?.to_string());
    }
    Ok(World { skus, buyers: tokens })
}

/// Sets `shop` up with a warehouse and a SKU in stock; gives the SKU.
async fn shop_with_stock(c: &mut Connection, member: SocketAddr, admin: &str, shop: i64) -> anyhow::Result<i64> {
    let merchant = call(c, &format!("/v1/shops/{shop}/tokens"), admin, json!({})).await?["token"].clone();
    let merchant = merchant.as_str().context("token")?.to_string();
    let warehouse = json!({ "name": "上海仓", "adcode": "310114000000" });
    let warehouse = call(c, "/v1/warehouses", &merchant, warehouse).await?["id"].clone();
    let product = json!({ "title": "麻辣牛肉干", "skus": [{ "name": "原味", "price_fen": 990 }] });
    let product = call(c, "/v1/products", &merchant, product).await?;
    let sku = product["skus"][0]["id"].as_i64().context("sku")?;
    let stock = format!("/v1/skus/{sku}/stock/{warehouse}");
    put_stock(member, &merchant, &stock).await?;
    Ok(sku)
}

async fn put_stock(member: SocketAddr, merchant: &str, path: &str) -> anyhow::Result<()> {
    let answer = reqwest::Client::new()
        .put(format!("http://{member}{path}"))
        .bearer_auth(merchant)
        .json(&json!({ "available": 1_000_000_000 }))
        .send()
        .await?;
    anyhow::ensure!(answer.status().is_success(), "stock: {}", answer.status());
    Ok(())
}

/// One round's figures.
struct Round {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// The checkouts not placed, by what answered them: a status and problem code, or `no
    /// answer` (the connection failed).
    failed: BTreeMap<String, u64>,
}

impl Round {
    fn failed(&self) -> u64 {
        self.failed.values().sum()
    }
}

static KEYS: AtomicU64 = AtomicU64::new(0);

/// `concurrency` clients send one-unit checkouts for `seconds`, client `i` to `targets(i)`.
async fn load(world: &Arc<World>, targets: impl Fn(usize) -> SocketAddr, seconds: u64) -> anyhow::Result<Round> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for (i, buyer) in world.buyers.iter().enumerate() {
        let mut connection = Connection::open(targets(i)).await?;
        let sku = world.skus[i % world.skus.len()].1;
        let (stop, buyer) = (stop.clone(), buyer.clone());
        clients.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failed: BTreeMap<String, u64> = BTreeMap::new();
            let body = Bytes::from(json!({ "lines": [{ "sku_id": sku, "quantity": 1 }] }).to_string());
            while !stop.load(Ordering::Relaxed) {
                let key = format!("bench-{}", KEYS.fetch_add(1, Ordering::Relaxed));
                let sent = Instant::now();
                match connection.post("/v1/checkouts", &buyer, Some(&key), body.clone()).await {
                    Ok(answer) if answer.status == 201 => latencies.push(sent.elapsed().as_secs_f64() * 1e3),
                    Ok(answer) => {
                        let what = format!("{} {}", answer.status, problem_code(&answer.body));
                        *failed.entry(what).or_default() += 1
                    }
                    Err(_) => *failed.entry("no answer".to_string()).or_default() += 1,
                }
            }
            (latencies, failed)
        }));
    }
    let began = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let (mut latencies, mut failed) = (Vec::new(), BTreeMap::<String, u64>::new());
    for client in clients {
        let (client_latencies, client_failed) = client.await?;
        latencies.extend(client_latencies);
        for (what, count) in client_failed {
            *failed.entry(what).or_default() += count;
        }
    }
    let elapsed = began.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * q) as usize)
            .copied()
            .unwrap_or(0.0)
    };
    Ok(Round {
        per_second: latencies.len() as f64 / elapsed,
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        failed,
    })
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

fn print_round(label: &str, round: &Round) {
    let what: Vec<String> = round
        .failed
        .iter()
        .map(|(what, count)| format!("{what}: {count}"))
        .collect();
    let what = match what.is_empty() {
        true => String::new(),
        false => format!(" ({})", what.join(", ")),
    };
    println!(
        "  {label:<34} {:>8.0} /s   p50 {:>6.2} ms   p99 {:>6.2} ms   failed {}{what}",
        round.per_second,
        round.p50_ms,
        round.p99_ms,
        round.failed()
    );
}

pub async fn run(args: &ClusterArgs) -> anyhow::Result<()> {
    let admin_url = args
        .database
        .clone()
        .or_else(|| std::env::var("MIAODAN_BENCH_POSTGRES_URL").ok())
        .or_else(|| std::env::var("MIAODAN_TEST_POSTGRES_URL").ok())
        .context("bench cluster needs --database postgres://user@host/db (a server to create the database on)")?;
    let name = format!("miaodan_bench_cluster_{}", std::process::id());
    let database = ThrowawayDatabase::create(&admin_url, &name).await?;
    let simpay_address = free_address()?;
    let simpay_args = [
        "simpay",
        "--listen",
        &simpay_address.to_string(),
        "--secret",
        SIMPAY_SECRET,
    ]
    .map(str::to_string);
    let (_simpay, _) = start(&simpay_args, "simpay listening on").await?;
    let mut cluster = Cluster {
        database: database.url().to_string(),
        simpay: format!("http://{simpay_address}"),
        shards: args.shards,
        members: Vec::new(),
    };
    let (first, token) = cluster.member(true).await?;
    let admin = token.context("the first member printed no admin token")?;
    cluster.members.push(first);
    let world = Arc::new(build_world(cluster.members[0].address, &admin, (args.concurrency, args.shards)).await?);
    println!(
        "cluster bench: up to {} members sharing {} shards (a shop in each) on one PostgreSQL database, \
         {} clients, rounds of {} s",
        args.members, args.shards, args.concurrency, args.seconds
    );
    shared(args, &mut cluster, &world, &admin).await?;
    failover(args, &mut cluster, &world, &admin).await?;
    // The members first: the database is dropped (its connections ended) after them.
    drop(cluster);
    drop(database);
    Ok(())
}

/// The members sharing the shards, started one by one: with each count, the load sent to each
/// shop's holder, then to any member.
async fn shared(args: &ClusterArgs, cluster: &mut Cluster, world: &Arc<World>, admin: &str) -> anyhow::Result<()> {
    println!("\nmembers sharing the shards: the load sent to each shop's holder, and to any member");
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
    let mut rows = Vec::new();
    for n in 1..=usize::from(args.members) {
        if n > 1 {
            cluster.members.push(cluster.member(false).await?.0);
        }
        spread_over(cluster, admin, &http).await?;
        let (mut to_holder, mut to_any, mut extra) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..args.rounds {
            let holders = shop_holders(cluster, world, admin, &http).await?;
            let straight = load(world, |i| holders[i % holders.len()], args.seconds).await?;
            print_round(&format!("{n} member(s), to the holder"), &straight);
            to_holder.push(straight.per_second);
            let members: Vec<SocketAddr> = cluster.members.iter().map(|m| m.address).collect();
            let round = load(world, |i| members[i % n], args.seconds).await?;
            print_round(&format!("{n} member(s), to any member"), &round);
            to_any.push(round.per_second);
            extra.push(round.p50_ms - straight.p50_ms);
        }
        if n > 1 {
            // Client i sends to member i % n: about (n - 1) / n of the requests are sent on.
            println!(
                "  {n} member(s): sent to any member, {:.0} % of requests are sent on; it adds {:.2} ms at the median",
                (n - 1) as f64 / n as f64 * 100.0,
                median(&mut extra)
            );
        }
        rows.push((n, median(&mut to_holder), median(&mut to_any)));
    }
    let widest = rows.iter().map(|r| r.1.max(r.2)).fold(1.0, f64::max);
    let bar = |per_second: f64| "█".repeat((per_second / widest * 50.0).round() as usize);
    for (n, holder, any) in rows {
        println!("  {n} member(s), to the holder |{:<50}| {holder:.0} /s", bar(holder));
        println!("  {n} member(s), to any member |{:<50}| {any:.0} /s", bar(any));
    }
    Ok(())
}

/// What `GET /v1/cluster` says, asked of the first member.
async fn cluster_view(cluster: &Cluster, admin: &str, http: &reqwest::Client) -> anyhow::Result<Option<Value>> {
    let asked = http
        .get(format!("{}/v1/cluster", cluster.members[0].base()))
        .bearer_auth(admin)
        .send()
        .await;
    match asked {
        Ok(answer) if answer.status().is_success() => Ok(Some(answer.json().await?)),
        _ => Ok(None),
    }
}

/// Waits until every shard's lease is held, evenly, by as many members as run (or all the
/// shards): the moves are over.
async fn spread_over(cluster: &Cluster, admin: &str, http: &reqwest::Client) -> anyhow::Result<()> {
    let shards = cluster.shards as usize;
    let want = cluster.members.len().min(shards);
    for _ in 0..600 {
        if let Some(view) = cluster_view(cluster, admin, http).await? {
            let held: Vec<&Value> = view["shards"]
                .as_array()
                .context("shards")?
                .iter()
                .filter(|shard| shard["expires_in_ms"].as_i64() > Some(0))
                .map(|shard| &shard["owner"])
                .collect();
            let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
            for owner in &held {
                *counts.entry(owner.to_string()).or_default() += 1;
            }
            let (fewest, most) = (counts.values().min(), counts.values().max());
            let even = fewest.zip(most).is_some_and(|(fewest, most)| most - fewest <= 1);
            if held.len() == shards && counts.len() == want && even {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("the shards were not spread over {want} members within a minute")
}

/// Each shop's holder's address, in the order of the world's shops.
async fn shop_holders(
    cluster: &Cluster,
    world: &World,
    admin: &str,
    http: &reqwest::Client,
) -> anyhow::Result<Vec<SocketAddr>> {
    let shards = i64::from(cluster.shards);
    let mut holders = Vec::new();
    for (shop, _) in &world.skus {
        let index = holder_index(cluster, admin, http, (shop % shards) as usize).await?;
        holders.push(cluster.members[index].address);
    }
    Ok(holders)
}

/// The index of the member that holds `shard` now.
async fn holder_index(cluster: &Cluster, admin: &str, http: &reqwest::Client, shard: usize) -> anyhow::Result<usize> {
    for _ in 0..300 {
        if let Some(view) = cluster_view(cluster, admin, http).await? {
            let owner = &view["shards"][shard]["owner"];
            let members = view["members"].as_array().context("members")?;
            let holder = members.iter().find(|m| &m["id"] == owner && m["role"] == "holder");
            let address = holder.and_then(|m| m["address"].as_str());
            if let Some(index) = cluster.members.iter().position(|m| Some(&*m.base()) == address) {
                return Ok(index);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("no member holds shard {shard}")
}

/// How long until a checkout sent now, retried at every member in turn, is acknowledged.
async fn until_served(cluster: &Cluster, world: &World, key: &str, http: &reqwest::Client) -> anyhow::Result<Duration> {
    let began = Instant::now();
    let body = json!({ "lines": [{ "sku_id": world.skus[0].1, "quantity": 1 }] });
    for turn in 0.. {
        let member = &cluster.members[turn % cluster.members.len()];
        let sent = http
            .post(format!("{}/v1/checkouts", member.base()))
            .bearer_auth(&world.buyers[0])
            .header("idempotency-key", key)
            .json(&body)
            .send()
            .await;
        if sent.is_ok_and(|answer| answer.status().as_u16() == 201) {
            return Ok(began.elapsed());
        }
        anyhow::ensure!(
            began.elapsed() < Duration::from_secs(60),
            "not served a minute after the kill"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    unreachable!("the loop returns")
}

/// The holder of the first shop's shard SIGKILLed `--kills` times (a member started first to
/// keep the count).
async fn failover(args: &ClusterArgs, cluster: &mut Cluster, world: &World, admin: &str) -> anyhow::Result<()> {
    println!(
        "\nfailover: the holder of the first shop's shard SIGKILLed {} times; time until a checkout sent at the kill is acknowledged",
        args.kills
    );
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
    let bar = indicatif::ProgressBar::new(u64::from(args.kills));
    let mut times = Vec::new();
    for kill in 0..args.kills {
        let shard = (world.skus[0].0 % i64::from(cluster.shards)) as usize;
        // Another member starts first (a member sharing the shards takes its share), so that
        // the time measured is the takeover's alone.
        let (joining, _) = cluster.member(false).await?;
        cluster.members.push(joining);
        spread_over(cluster, admin, &http).await?;
        let holder = holder_index(cluster, admin, &http, shard).await?;
        let mut killed = cluster.members.remove(holder);
        killed.child.start_kill()?;
        let _ = killed.child.wait().await;
        let took = until_served(cluster, world, &format!("failover-{kill}"), &http).await?;
        times.push(took.as_secs_f64() * 1e3);
        bar.inc(1);
        // Let the new holder settle before the next kill.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    bar.finish_and_clear();
    let widest = times.iter().copied().fold(1.0, f64::max);
    for (kill, ms) in times.iter().enumerate() {
        let width = (ms / widest * 50.0).round() as usize;
        println!("  kill {:>2} |{:<50}| {ms:.0} ms", kill + 1, "█".repeat(width));
    }
    let max = widest;
    println!("  failover p50 {:.0} ms, max {max:.0} ms", median(&mut times));
    Ok(())
}
