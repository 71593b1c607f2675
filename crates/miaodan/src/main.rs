//! The `miaodan` command: run the platform, manage API tokens, run benchmarks, run the simpay
//! payment simulator, print reconciliation reports.

mod bench;
mod reconcile;
mod serve_limits;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use miaodan_server::{AppState, Config, PaymentsConfig, demo};
use miaodan_store::Durability;
use miaodan_store::records::Role;
use std::net::SocketAddr;

#[derive(Parser)]
#[command(name = "miaodan", version, about = "秒单 — a 24/7 order platform for live commerce")]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(clap::Args, Clone)]
struct StoreArgs {
    /// The database: a file path (embedded SQLite) or postgres://user@host/db.
    #[arg(long, env = "MIAODAN_DATABASE", default_value = "./data/miaodan.db")]
    database: String,
    /// Run even if the database could lose acknowledged orders on power failure
    /// (SQLite synchronous=NORMAL; PostgreSQL with fsync or synchronous_commit off).
    #[arg(long)]
    accept_data_loss_on_power_failure: bool,
}

impl StoreArgs {
    fn durability(&self) -> Durability {
        if self.accept_data_loss_on_power_failure {
            tracing::warn!("DURABILITY OFF: acknowledged orders may be lost on power failure");
            Durability::AcceptDataLossOnPowerFailure
        } else {
            Durability::PowerLossSafe
        }
    }
}

#[derive(Subcommand)]
enum Commands {
    /// Run the HTTP server.
    Serve {
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
        #[command(flatten)]
        limits: serve_limits::LimitArgs,
    },
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
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommands,
    },
}

#[derive(Subcommand)]
enum TokenCommands {
    /// Create a token and print it (it is shown only once).
    Create {
        #[arg(long, value_enum)]
        role: RoleArg,
        /// The shop of a merchant token or the buyer of a buyer token.
        #[arg(long)]
        subject: Option<i64>,
        #[arg(long)]
        label: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    Admin,
    Merchant,
    Buyer,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,tower_http=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    // A failure is told as one line of sentences, the cause chain joined by ": " (not the
    // `Debug` form `fn main() -> Result` would print, with a backtrace when RUST_BACKTRACE is set).
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Commands::Serve {
            listen,
            store,
            demo,
            shards,
            payment_timeout_seconds,
            simpay_url,
            simpay_secret,
            limits,
        } => {
            let mut config = Config::new(listen, store.database.clone());
            limits.apply(&mut config);
            config.durability = store.durability();
            config.shards = shards;
            config.payment_timeout_seconds = payment_timeout_seconds;
            if demo {
                config.carriers = miaodan_server::carriers::CarriersConfig::demo();
            }
            if let (Some(url), Some(secret)) = (simpay_url, simpay_secret) {
                config.payments = PaymentsConfig::RemoteSimpay {
                    url,
                    secret: secret.into_bytes(),
                };
            }
            serve(config, demo).await
        }
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
        Commands::Token {
            command:
                TokenCommands::Create {
                    role,
                    subject,
                    label,
                    store,
                },
        } => create_token(role, subject, label, store).await,
    }
}

async fn serve(config: Config, with_demo: bool) -> anyhow::Result<()> {
    let database = config.database.clone();
    let state = AppState::open(config)
        .await
        .with_context(|| format!("opening {database}"))?;
    if let Some(token) = state.bootstrap_admin_token().await? {
        println!("First start: a platform (admin) token was created. It is shown only this once:\n  {token}\n");
    }
    let access = if with_demo {
        Some(demo::prepare(&state).await?)
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
        print_demo(&base, &access);
    }
    wait_for_stop_signal().await;
    tracing::info!("stopping: finishing requests in flight");
    running.shutdown().await;
    Ok(())
}

fn print_demo(base: &str, access: &demo::DemoAccess) {
    println!(
        r#"
Demo world loaded. Tokens (fresh on every start):
  ADMIN={admin}
  MERCHANT={merchant}   # {shop}
  BUYER={buyer}   # {buyer_name}

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
"#,
        adcode = access.buyer_adcode,
        admin = access.admin_token,
        merchant = access.merchant.1,
        shop = access.merchant.0,
        buyer = access.buyer.1,
        buyer_name = access.buyer.0,
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

async fn create_token(
    role: RoleArg,
    subject: Option<i64>,
    label: Option<String>,
    store: StoreArgs,
) -> anyhow::Result<()> {
    let role = match role {
        RoleArg::Admin => Role::Admin,
        RoleArg::Merchant => Role::Merchant,
        RoleArg::Buyer => Role::Buyer,
    };
    let opened = miaodan_store::Store::open(&store.database, store.durability())
        .await
        .with_context(|| format!("opening {}", store.database))?;
    match (role, subject) {
        (Role::Admin, None) => {}
        (Role::Merchant, Some(shop)) => {
            let exists = match miaodan_domain::ShopId::new(shop) {
                Some(id) => opened.shop(id).await?.is_some(),
                None => false,
            };
            anyhow::ensure!(
                exists,
                "no such shop: {shop} in {} (--subject is the shop's id)",
                store.database
            );
        }
        (Role::Buyer, Some(buyer)) => {
            let exists = match miaodan_domain::BuyerId::new(buyer) {
                Some(id) => opened.buyer(id).await?.is_some(),
                None => false,
            };
            anyhow::ensure!(
                exists,
                "no such buyer: {buyer} in {} (--subject is the buyer's id)",
                store.database
            );
        }
        _ => anyhow::bail!(
            "--subject is required for merchant (shop id) and buyer (buyer id) tokens, and not allowed for admin"
        ),
    }
    let id = opened.id_maxima().await?.token + 1;
    let (record, token) =
        miaodan_server::auth::mint(id, role, subject, label, miaodan_server::clock::Clock::system().now());
    opened.insert_token(&record, None).await?;
    println!("{token}");
    Ok(())
}
