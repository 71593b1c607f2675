//! A deterministic simulation of miaodan, tested like a database is.
//!
//! The real shard logic decides batches and the real store commits them to a SQLite file;
//! between the two, commits fail in every way a process meets ([`Fault`]): refused, committed
//! with the answer lost, cut by a crash mid-commit or after it. Buyers check out, retry, cancel
//! and pay; merchants count stock; a payment provider notifies late, twice, out of order or
//! never; the clock jumps past payment deadlines. After every commit an [`auditor`] checks the
//! invariants of TESTING.md against a god's view built only from committed effects.
//!
//! One `u64` seed drives everything, so a failing seed replays exactly:
//! `cargo run -p miaodan -- sim --seed <seed>`.

pub mod auditor;
mod clients;
pub mod faults;
mod provider;
mod report;
mod sim;
mod world;

pub use faults::{Fault, FaultCounts, FaultPlan};
pub use report::{SeedReport, Sometimes, SwarmReport, Violation};

/// Steps one seed runs by default: a few hundred requests, a few simulated hours.
pub const STEPS_DEFAULT: u32 = 300;

/// Runs one seed for `steps` steps, with the fault rates the seed draws.
pub async fn run_seed(seed: u64, steps: u32) -> Result<SeedReport, Violation> {
    sim::Sim::open(seed, steps, None).await?.run().await
}

/// Runs one seed with `plan`'s fault rates instead of the seed's own draw.
pub async fn run_seed_with(seed: u64, steps: u32, plan: FaultPlan) -> Result<SeedReport, Violation> {
    sim::Sim::open(seed, steps, Some(plan)).await?.run().await
}

/// Runs `seeds` (each for `steps` steps), calling `progress` after each; a violation is
/// recorded and the swarm goes on.
pub async fn run_swarm(
    seeds: impl IntoIterator<Item = u64>,
    steps: u32,
    mut progress: impl FnMut(&SwarmReport),
) -> SwarmReport {
    let mut swarm = SwarmReport::default();
    for seed in seeds {
        match run_seed(seed, steps).await {
            Ok(run) => swarm.add(&run),
            Err(violation) => {
                swarm.seeds += 1;
                swarm.violations.push(violation);
            }
        }
        progress(&swarm);
    }
    swarm
}
