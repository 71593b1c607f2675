//! `miaodan token create | list | revoke`: API tokens, straight on the database (the server
//! need not run; one that runs on the same database refuses a revoked token within
//! `REVOCATION_POLL_MS`).

use crate::StoreArgs;
use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use miaodan_server::clock::{Clock, rfc3339};
use miaodan_server::tokens::{self, TokenRequest, TokenState};
use miaodan_store::Store;
use miaodan_store::records::{Role, TokenFilter, TokenRecord, TokenScope};

#[derive(Subcommand)]
pub enum TokenCommands {
    /// Create a token and print it (it is shown only once).
    Create {
        #[arg(long, value_enum)]
        role: RoleArg,
        /// The shop of a merchant token or the buyer of a buyer token.
        #[arg(long)]
        subject: Option<i64>,
        #[arg(long)]
        label: Option<String>,
        /// How long the token lives, in days (default and maximum per role: buyer 30 / 90,
        /// merchant and edge 90 / 365, admin 30 / 90).
        #[arg(long)]
        expires_in_days: Option<i64>,
        /// A token that may only read (GET requests).
        #[arg(long)]
        read_only: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List tokens, newest first: id, role, shop or buyer, scope, state, dates, label. Never a
    /// secret (only its hash is stored).
    List {
        /// Only tokens of this role.
        #[arg(long, value_enum)]
        role: Option<RoleArg>,
        /// With --role merchant or buyer: only the tokens of this shop or buyer.
        #[arg(long, requires = "role")]
        subject: Option<i64>,
        /// At most this many tokens.
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Revoke a token. A server running on the same database refuses it within a second.
    Revoke {
        /// The token's id (the number after `mdn_` in the token, or the ID of `token list`).
        id: i64,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Admin,
    Merchant,
    Buyer,
    /// A trusted edge gateway: it may only send batches of buyers' taps.
    Edge,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Role {
        match role {
            RoleArg::Admin => Role::Admin,
            RoleArg::Merchant => Role::Merchant,
            RoleArg::Buyer => Role::Buyer,
            RoleArg::Edge => Role::Edge,
        }
    }
}

pub async fn run(command: TokenCommands) -> anyhow::Result<()> {
    match command {
        TokenCommands::Create {
            role,
            subject,
            label,
            expires_in_days,
            read_only,
            store,
        } => {
            let request = TokenRequest {
                role: role.into(),
                subject,
                label,
                scope: if read_only {
                    TokenScope::ReadOnly
                } else {
                    TokenScope::ReadWrite
                },
                lifetime_days: expires_in_days,
            };
            create(request, &store).await
        }
        TokenCommands::List {
            role,
            subject,
            limit,
            store,
        } => {
            anyhow::ensure!((1..=10_000).contains(&limit), "--limit is 1 to 10000");
            let filter = TokenFilter {
                role: role.map(Role::from),
                subject,
                before: None,
                limit,
            };
            list(&filter, &store).await
        }
        TokenCommands::Revoke { id, store } => revoke(id, &store).await,
    }
}

async fn open(store: &StoreArgs) -> anyhow::Result<Store> {
    Store::open(&store.database, store.durability())
        .await
        .with_context(|| format!("opening {}", store.database))
}

/// Refuses a subject that does not fit the role or does not exist.
async fn check_subject(opened: &Store, role: Role, subject: Option<i64>, database: &str) -> anyhow::Result<()> {
    match (role, subject) {
        (Role::Admin | Role::Edge, None) => {}
        (Role::Merchant, Some(shop)) => {
            let exists = match miaodan_domain::ShopId::new(shop) {
                Some(id) => opened.shop(id).await?.is_some(),
                None => false,
            };
            anyhow::ensure!(
                exists,
                "no such shop: {shop} in {database} (--subject is the shop's id)"
            );
        }
        (Role::Buyer, Some(buyer)) => {
            let exists = match miaodan_domain::BuyerId::new(buyer) {
                Some(id) => opened.buyer(id).await?.is_some(),
                None => false,
            };
            anyhow::ensure!(
                exists,
                "no such buyer: {buyer} in {database} (--subject is the buyer's id)"
            );
        }
        _ => anyhow::bail!(
            "--subject is required for merchant (shop id) and buyer (buyer id) tokens, and not allowed for admin and edge"
        ),
    }
    Ok(())
}

async fn create(request: TokenRequest, store: &StoreArgs) -> anyhow::Result<()> {
    let opened = open(store).await?;
    check_subject(&opened, request.role, request.subject, &store.database).await?;
    // A reserved id, as a running server's are: the server may be minting tokens meanwhile.
    opened.align_id_blocks().await?;
    let id = opened.reserve_ids(miaodan_store::id_blocks::IdKind::Token, 1).await?;
    let (record, token) = tokens::mint(id, request, Clock::system().now())
        .map_err(|refusal| anyhow::anyhow!("{refusal}: give --expires-in-days a number of days the role allows"))?;
    opened.insert_token(&record, None).await?;
    println!("{token}");
    eprintln!("token {id}: active until {}", rfc3339(record.expires_at));
    Ok(())
}

/// `merchant of shop 3`, `buyer 7`, `admin`.
fn whose(record: &TokenRecord) -> String {
    match (record.role, record.subject) {
        (Role::Merchant, Some(shop)) => format!("merchant of shop {shop}"),
        (Role::Buyer, Some(buyer)) => format!("buyer {buyer}"),
        (role, _) => role.as_str().to_string(),
    }
}

async fn list(filter: &TokenFilter, store: &StoreArgs) -> anyhow::Result<()> {
    let opened = open(store).await?;
    let now = Clock::system().now();
    let found = opened.tokens(filter).await?;
    println!(
        "{:>6}  {:<20}  {:<10}  {:<7}  {:<24}  {:<24}  {:<24}  LABEL",
        "ID", "WHOSE", "SCOPE", "STATE", "CREATED", "EXPIRES", "LAST USED"
    );
    for record in &found {
        let state = match TokenState::of(record, now) {
            TokenState::Revoked => "revoked",
            TokenState::Expired => "expired",
            TokenState::Active => "active",
        };
        println!(
            "{:>6}  {:<20}  {:<10}  {:<7}  {:<24}  {:<24}  {:<24}  {}",
            record.id,
            whose(record),
            record.scope.as_str(),
            state,
            rfc3339(record.created_at),
            rfc3339(record.expires_at),
            record.last_used_at.map(rfc3339).unwrap_or_else(|| "-".into()),
            record.label.as_deref().unwrap_or("-"),
        );
    }
    if found.len() as i64 == filter.limit {
        eprintln!("(the newest {}; --limit shows more)", filter.limit);
    }
    Ok(())
}

async fn revoke(id: i64, store: &StoreArgs) -> anyhow::Result<()> {
    let opened = open(store).await?;
    let before = opened
        .token(id)
        .await?
        .with_context(|| format!("no such token: {id} in {} (see miaodan token list)", store.database))?;
    if let Some(at) = before.revoked_at {
        println!("token {id} ({}) was already revoked at {}", whose(&before), rfc3339(at));
        return Ok(());
    }
    let revoked = opened.revoke_token(id, Clock::system().now()).await?;
    let at = revoked
        .and_then(|r| r.revoked_at)
        .context("the token was not revoked")?;
    println!(
        "token {id} ({}) revoked at {}; a server running on this database refuses it within {} ms",
        whose(&before),
        rfc3339(at),
        tokens::REVOCATION_POLL_MS
    );
    Ok(())
}
