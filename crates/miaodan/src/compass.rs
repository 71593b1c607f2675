//! `miaodan compass rebuild`: the compass's aggregates are a projection of the outbox, so they
//! can be thrown away and folded again. The command forgets them — minutes, breadth, the
//! reader's memory — and the reader's cursor, in one transaction; the server's compass reader
//! then folds every event the outbox still keeps (7 days by default) the next time it runs.
//! Run it while the server is stopped: a fold in flight would write figures past the reset.

use crate::StoreArgs;
use anyhow::Context;
use clap::Subcommand;
use miaodan_store::Store;

#[derive(Subcommand)]
pub(crate) enum CompassCommands {
    /// Forget the compass's figures and fold the outbox again from its oldest kept event
    /// (with the server stopped; it refolds when it starts).
    Rebuild {
        #[command(flatten)]
        store: StoreArgs,
    },
}

pub(crate) async fn run(command: CompassCommands) -> anyhow::Result<()> {
    match command {
        CompassCommands::Rebuild { store } => {
            let opened = Store::open(&store.database, store.durability())
                .await
                .with_context(|| format!("opening {}", store.database))?;
            opened.reset_compass().await?;
            println!(
                "The compass's figures are forgotten; the server folds the outbox's events again when it starts \
                 (events older than the outbox's retention are gone, and so are their figures)."
            );
            Ok(())
        }
    }
}
