//! The `miaodan` command: run the platform, manage API tokens, run benchmarks, run the simpay
//! payment simulator, print reconciliation reports, rebuild the data compass.

mod bench;
mod compass;
mod reconcile;
mod serve_cluster;
mod serve_language_model;
mod serve_limits;
mod sim;
mod token;

use anyhow::Context;
use clap::{Parser, Subcommand};
use miaodan_server::{AppState, Config, PaymentsConfig, demo};
use miaodan_store::Durability;
use std::net::SocketAddr;

/// mimalloc instead of the system's malloc: the shard and the store allocate and free many
/// small objects per order (answers, rows, events) from several threads, and glibc's allocator
/// spent about a quarter of a flash sale's cycles on it (see BENCHMARKS.md, "The write path").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "miaodan", version, about = "秒单 — a 24/7 order platform for live commerce")]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(clap::Args, Clone)]
pub(crate) struct StoreArgs {
    /// The database: a file path (embedded SQLite) or postgres://user@host/db.
    #[arg(long, env = "MIAODAN_DATABASE", default_value = "./data/miaodan.db")]
    pub(crate) database: String,
    /// Run even if the database could lose acknowledged orders on power failure
    /// (SQLite synchronous=NORMAL; PostgreSQL with fsync or synchronous_commit off).
    #[arg(long)]
    accept_data_loss_on_power_failure: bool,
}

impl StoreArgs {
    pub(crate) fn durability(&self) -> Durability {
        if self.accept_data_loss_on_power_failure {
            tracing::warn!("DURABILITY OFF: acknowledged orders may be lost on power failure");
            Durability::AcceptDataLossOnPowerFailure
        } else {
            Durability::PowerLossSafe
        }
    }
}

#[derive(clap::Args)]
struct ServeArgs {
    #[arg(long, env = "MIAODAN_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    #[command(flatten)]
    store: StoreArgs,
    /// Load a demo world (shops, products, stock, buyers) into an empty database and
    /// print tokens to try it with.
    #[arg(long)]
    demo: bool,
    /// Shards (one writer each); shops are spread over them by id.
    #[arg(long, default_value_t = 2)]
    shards: u32,
    /// The simulated carriers' pace: real milliseconds per simulated minute. Default 50 (a
    /// parcel travels in a few minutes); 60000 is real time.
    #[arg(long, value_name = "MS", default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    carrier_minute_ms: u64,
    /// Unpaid orders are cancelled, and their stock released, after this many seconds.
    #[arg(long, default_value_t = 900)]
    payment_timeout_seconds: i64,
    /// Use a separate simpay process (`miaodan simpay`) at this URL instead of the
    /// in-process simulator.
    #[arg(long, env = "MIAODAN_SIMPAY_URL", requires = "simpay_secret")]
    simpay_url: Option<String>,
    /// The webhook signing secret shared with that simpay process.
    #[arg(long, env = "MIAODAN_SIMPAY_SECRET")]
    simpay_secret: Option<String>,
    /// Let webhook endpoints be on any host; by default only loopback hosts (127.0.0.0/8,
    /// ::1, localhost) may receive webhooks.
    #[arg(long, env = "MIAODAN_WEBHOOKS_ALLOW_ANY_HOST")]
    webhooks_allow_any_host: bool,
    #[command(flatten)]
    risk: RiskArgs,
    #[command(flatten)]
    limits: serve_limits::LimitArgs,
    #[command(flatten)]
    language_model: serve_language_model::LanguageModelArgs,
    /// How long this process keeps the shards' leases unless it renews them (every third of
    /// it): how long a silent process holds up another that would take its shards over.
    #[arg(long, default_value_t = miaodan_server::cluster::LEASE_TTL_MS)]
    lease_ttl_ms: i64,
    /// Run as one member of a cluster of processes on one PostgreSQL database: the members
    /// share the shards (each holds an even share, and sends on what the others' shards
    /// decide), and take over those of a member that stops or goes silent. Give every member
    /// the same --shards.
    #[arg(long, conflicts_with = "demo")]
    cluster: bool,
    /// Accepted and ignored: the members always share the shards now. Kept so that a member
    /// started with it by an earlier build's command line still starts in a rolling upgrade.
    #[arg(long, requires = "cluster", hide = true)]
    spread: bool,
    /// The address the other members reach this one at (default: http://LISTEN).
    #[arg(long, requires = "cluster")]
    advertise: Option<String>,
}

#[derive(Subcommand)]
enum Commands {
    /// Run the HTTP server.
    Serve(ServeArgs),
    /// Run simpay, the payment-provider simulator, as its own process (no money moves).
    Simpay {
        #[arg(long, default_value = "127.0.0.1:7070")]
        listen: SocketAddr,
        /// Where to POST signed notifications, e.g. http://127.0.0.1:8080/v1/webhooks/simpay.
        #[arg(long)]
        webhook_url: Option<String>,
        /// The webhook signing secret (share it with `miaodan serve --simpay-secret`).
        #[arg(long, env = "MIAODAN_SIMPAY_SECRET")]
        secret: String,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Added to every answer.
        #[arg(long, default_value_t = 0)]
        latency_ms: u64,
        /// Share of charges declined at random.
        #[arg(long, default_value_t = 0)]
        decline_percent: u8,
        /// Share of calls carried out but answered with a timeout.
        #[arg(long, default_value_t = 0)]
        timeout_percent: u8,
        /// Share of notifications delivered twice.
        #[arg(long, default_value_t = 0)]
        duplicate_percent: u8,
        /// Notifications wait up to this long, so they arrive late and out of order.
        #[arg(long, default_value_t = 0)]
        max_notify_delay_ms: u64,
    },
    /// Print the reconciliation report of one day from a running server.
    Reconcile {
        /// The running server to ask (`http://host:port`); set it when the server listens
        /// elsewhere than the default (`serve --listen`).
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// A platform (admin) token.
        #[arg(long, env = "MIAODAN_ADMIN_TOKEN")]
        token: String,
        /// The Asia/Shanghai day, YYYY-MM-DD (default: today).
        #[arg(long)]
        date: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Measure throughput and latency, then audit the database (see BENCHMARKS.md).
    Bench(bench::BenchArgs),
    /// Run the deterministic simulator: seeds of shards, store, clock and provider with injected
    /// storage faults, every invariant audited (see TESTING.md).
    Sim(sim::SimArgs),
    /// Print the OpenAPI document the server serves at /openapi.json (JSON, to standard output).
    Openapi,
    /// Maintain the data compass's aggregates.
    Compass {
        #[command(subcommand)]
        command: compass::CompassCommands,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: token::TokenCommands,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // The simulator opens a database per seed, the restart bench the platform again and again:
    // their info lines would bury the report.
    let quiet = match &cli.command {
        Commands::Sim(_) => true,
        Commands::Bench(args) => args.quiet(),
        _ => false,
    };
    let default_filter = if quiet { "warn" } else { "info,tower_http=warn" };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr)
        .init();
    // A failure is told as one line of sentences, the cause chain joined by ": " (not the
    // `Debug` form `fn main() -> Result` would print, with a backtrace when RUST_BACKTRACE is set).
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Risk control's settings of `miaodan serve`.
#[derive(Debug, clap::Args)]
struct RiskArgs {
    /// Risk control on flash-sale taps: `on` refuses the taps it challenges or blocks,
    /// `shadow` scores and counts them but refuses none, `off` scores nothing.
    #[arg(long, value_enum, default_value_t = RiskSetting::On)]
    risk: RiskSetting,
    /// A reverse proxy in front of the server (repeat for several): risk reads the client's
    /// address from the `X-Forwarded-For` it adds, not the proxy's own.
    #[arg(long = "trusted-proxy", value_name = "IP")]
    trusted_proxies: Vec<std::net::IpAddr>,
}

impl RiskArgs {
    fn apply(self, config: &mut Config) {
        config.risk = self.risk.into();
        config.trusted_proxies = self.trusted_proxies;
    }
}

/// `--risk`: [`miaodan_server::app::RiskMode`] on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum RiskSetting {
    On,
    Shadow,
    Off,
}

impl From<RiskSetting> for miaodan_server::app::RiskMode {
    fn from(setting: RiskSetting) -> Self {
        match setting {
            RiskSetting::On => Self::On,
            RiskSetting::Shadow => Self::Shadow,
            RiskSetting::Off => Self::Off,
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Commands::Serve(args) => serve_command(args).await,
        Commands::Simpay {
            listen,
            webhook_url,
            secret,
            seed,
            latency_ms,
            decline_percent,
            timeout_percent,
            duplicate_percent,
            max_notify_delay_ms,
        } => {
            let config = simpay::Config {
                seed,
                secret: secret.into_bytes(),
                webhook_url,
                faults: simpay::Faults {
                    latency_ms,
                    decline_percent,
                    timeout_percent,
                    duplicate_percent,
                    max_notify_delay_ms,
                },
            };
            simpay::run_standalone(listen, config).await?;
            Ok(())
        }
        Commands::Reconcile { url, token, date, json } => reconcile::print(&url, &token, date, json).await,
        Commands::Bench(args) => bench::run(args).await,
        Commands::Sim(args) => sim::run(args).await,
        Commands::Openapi => {
            let document = miaodan_server::http::openapi::document();
            println!("{}", serde_json::to_string_pretty(&document)?);
            Ok(())
        }
        Commands::Compass { command } => compass::run(command).await,
        Commands::Token { command } => token::run(command).await,
    }
}

/// `miaodan serve`: the configuration its arguments give, then the server.
async fn serve_command(args: ServeArgs) -> anyhow::Result<()> {
    let ServeArgs {
        listen,
        store,
        demo,
        shards,
        carrier_minute_ms,
        payment_timeout_seconds,
        simpay_url,
        simpay_secret,
        webhooks_allow_any_host,
        risk,
        limits,
        language_model,
        lease_ttl_ms,
        cluster,
        spread,
        advertise,
    } = args;
    if spread {
        eprintln!("warning: --spread is no longer needed (cluster members always share the shards) and is ignored");
    }
    let mut config = Config::new(listen, store.database.clone());
    config.webhooks.allow_any_host = webhooks_allow_any_host;
    limits.apply(&mut config);
    config.durability = store.durability();
    config.shards = shards;
    config.payment_timeout_seconds = payment_timeout_seconds;
    risk.apply(&mut config);
    config.language_model = language_model.config();
    config.lease_ttl_ms = lease_ttl_ms;
    if demo {
        config.carriers = miaodan_server::carriers::CarriersConfig::demo();
    }
    config.carriers.set_pace(carrier_minute_ms);
    if let Some(payments) = remote_simpay(simpay_url, simpay_secret) {
        config.payments = payments;
    }
    match cluster {
        true => {
            // Each process's in-process simulator would keep charges of its own: after a
            // takeover the shard's new holder could not find the charges the old one made.
            anyhow::ensure!(
                matches!(config.payments, PaymentsConfig::RemoteSimpay { .. }),
                "--cluster needs --simpay-url and --simpay-secret: the members share one payment provider"
            );
            serve_cluster::serve(config, advertise).await
        }
        false => serve(config, demo).await,
    }
}

/// A separate simpay process as the provider, when both its URL and its secret are given
/// (clap requires the secret with the URL).
fn remote_simpay(url: Option<String>, secret: Option<String>) -> Option<PaymentsConfig> {
    let (url, secret) = (url?, secret?);
    Some(PaymentsConfig::RemoteSimpay {
        url,
        secret: secret.into_bytes(),
    })
}

async fn serve(config: Config, with_demo: bool) -> anyhow::Result<()> {
    let database = config.database.clone();
    let state = AppState::open(config)
        .await
        .with_context(|| format!("opening {database}"))?;
    let first_start = state.bootstrap_admin_token().await?;
    if let Some(token) = &first_start {
        println!("First start: a platform (admin) token was created. It is shown only this once:\n  {token}\n");
    }
    let access = if with_demo {
        Some(demo::prepare(&state, first_start.as_ref()).await?)
    } else {
        None
    };
    let running = miaodan_server::serve(state).await?;
    let base = format!("http://{}", running.address);
    tracing::info!(address = %running.address, backend = running.state.store.backend_name(), "miaodan is serving");
    println!("miaodan is serving on {base}  (API reference: {base}/docs/ — OpenAPI: {base}/openapi.json)");
    if let Some(metrics) = running.metrics_address {
        println!("Prometheus metrics: http://{metrics}/metrics  (--metrics-listen ADDR|off)");
    }
    if let Some(access) = access {
        print_demo(&base, &database, &access);
    }
    let leases = running.state.shards.leases().clone();
    tokio::select! {
        _ = wait_for_stop_signal() => tracing::info!("stopping: finishing requests in flight"),
        _ = leases.lost() => {}
    }
    running.shutdown().await;
    anyhow::ensure!(
        !leases.is_lost(),
        "another process took this platform's shards (a second `miaodan serve` on {database}); this one stopped serving"
    );
    Ok(())
}

/// A demo token's line: `NAME=token` when made now, else which token it is and until when.
fn demo_token_line(name: &str, token: &demo::DemoToken, whose: &str) -> String {
    match token {
        demo::DemoToken::Fresh(token) => format!("  {name}={token}   # {whose}"),
        demo::DemoToken::Kept { id, expires_at } => format!(
            "  {name}: token {id} ({whose}), printed when it was made, active until {}",
            miaodan_server::clock::rfc3339(*expires_at)
        ),
    }
}

/// The buyer's chat page with the assistant: the token rides in the fragment, which the
/// browser keeps to itself (never sent to the server, nor in a Referer).
fn chat_line(base: &str, buyer: &demo::DemoToken) -> String {
    let page = miaodan_server::http::chat_page::CHAT_PAGE_PATH;
    match buyer {
        demo::DemoToken::Fresh(token) => format!("  Chat as the buyer (智能客服): {base}{page}#token={token}"),
        demo::DemoToken::Kept { .. } => {
            format!("  Chat as the buyer (智能客服): {base}{page}  (paste the BUYER token there)")
        }
    }
}

/// The console's address and the demo staff's sign-in.
fn console_lines(base: &str, shop_id: i64, access: &demo::DemoAccess) -> String {
    let staff: Vec<String> = access
        .staff
        .iter()
        .map(|(login, role)| format!("{login} ({role})"))
        .collect();
    let password = demo::DEMO_STAFF_PASSWORD;
    format!(
        "Console: {base}/console/\n  Staff of shop {shop_id} and the platform: {staff}\n  \
         DEMO ONLY: every demo account's password is {password}; anyone who read the README knows it.\n  \
         curl -si -X POST {base}/v1/sessions -H 'Content-Type: application/json' \\\n       \
         -d '{{\"login\":\"owner\",\"password\":\"{password}\"}}'",
        staff = staff.join(", ")
    )
}

fn print_demo(base: &str, database: &str, access: &demo::DemoAccess) {
    let (shop_id, shop, merchant) = &access.merchant;
    let (buyer_id, buyer_name, buyer) = &access.buyer;
    let tokens = [
        demo_token_line("ADMIN", &access.admin, "platform admin"),
        demo_token_line("MERCHANT", merchant, &format!("shop {shop_id}, {shop}")),
        demo_token_line("BUYER", buyer, &format!("buyer {buyer_id}, {buyer_name}")),
        chat_line(base, buyer),
    ]
    .join("\n");
    let kept = [&access.admin, merchant, buyer]
        .iter()
        .any(|t| matches!(t, demo::DemoToken::Kept { .. }));
    let console = console_lines(base, *shop_id, access);
    let lost = if kept {
        // A PostgreSQL URL may hold a password: it is not printed.
        let database = if database.contains("://") {
            "<this server's database>"
        } else {
            database
        };
        format!(
            "\n  Lost one? Revoke it (miaodan token revoke ID --database {database}) and start again with --demo for a\n  \
             new one, or make one: miaodan token create --role merchant --subject {shop_id} --database {database}\n"
        )
    } else {
        String::new()
    };
    println!(
        r#"
Demo world loaded. Tokens (each is printed once, when it is made; later starts keep it while it is active):
{tokens}
{lost}
{console}

Try it:
  curl -s '{base}/v1/products?q=%E7%89%9B&limit=3' -H "Authorization: Bearer $BUYER"
  curl -s -X POST {base}/v1/checkouts -H "Authorization: Bearer $BUYER" -H 'Content-Type: application/json' \
       -H 'Idempotency-Key: my-first-order' -d '{{"lines":[{{"sku_id":{sku},"quantity":1}},{{"sku_id":{sku2},"quantity":2}}]}}'
  curl -s '{base}/v1/orders?state=pending_payment' -H "Authorization: Bearer $MERCHANT"
  # pay the checkout (simpay simulator: any credential is approved, except sim_insufficient_funds, …)
  curl -s -X POST {base}/v1/payment-intents -H "Authorization: Bearer $BUYER" -H 'Content-Type: application/json' \
       -d '{{"checkout_id":CHECKOUT_ID}}'
  curl -s -X POST {base}/v1/payment-intents/INTENT_ID/confirm -H "Authorization: Bearer $BUYER" \
       -H 'Content-Type: application/json' -d '{{"credential":"wallet-demo"}}'
  curl -s '{base}/v1/reconciliation' -H "Authorization: Bearer $ADMIN"

Delivery promises, dispatch and parcels (carriers are simulated; a parcel travels in a few minutes):
  curl -s '{base}/v1/delivery-options?adcode={adcode}&items={sku}:1,{sku2}:2'
  # choose one at checkout: add "deliveries":[{{"shop_id":SHOP_ID,"level":"next_day","carrier":"sf"}}] to the body
  curl -s {base}/v1/orders/ORDER_ID/dispatch -H "Authorization: Bearer $MERCHANT"     # why it ships from there
  curl -s -X POST {base}/v1/orders/ORDER_ID/shipments -H "Authorization: Bearer $MERCHANT" \
       -H 'Content-Type: application/json' -d '{{"warehouse_id":WAREHOUSE_ID}}'
  curl -s {base}/v1/orders/ORDER_ID/shipments -H "Authorization: Bearer $MERCHANT"    # tracking, in event-time order
  curl -s '{base}/v1/package-center/alerts?state=all' -H "Authorization: Bearer $MERCHANT"
  curl -sN {base}/v1/package-center/alerts/stream -H "Authorization: Bearer $MERCHANT"  # live (SSE)

After-sales (the demo buyer's orders: one cancelled and refunded at once by the rules, one with the merchant,
one the merchant refused, one a carrier has, so the rules refuse to cancel it):
  curl -s {base}/v1/after-sales -H "Authorization: Bearer $BUYER"
  curl -s '{base}/v1/after-sales?stage=with_merchant' -H "Authorization: Bearer $MERCHANT"   # answer within 48 h
"#,
        adcode = access.buyer_adcode,
        sku = access.example_sku,
        sku2 = access.second_shop_sku,
    );
}

async fn wait_for_stop_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
