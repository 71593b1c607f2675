//! A deterministic simulation of miaodan, tested like a database is.
//!
//! The real shard logic decides batches and the real store commits them to a SQLite file (or a
//! PostgreSQL database); between the two, commits fail in every way a process meets
//! ([`Fault`]): refused, committed with the answer lost, cut by a crash mid-commit or after it. Buyers check out, retry, cancel
//! and pay; merchants count stock; a payment provider notifies late, twice, out of order or
//! never; the clock jumps past payment deadlines. After every commit an [`auditor`] checks the
//! invariants of TESTING.md against a god's view built only from committed effects.
//!
//! One `u64` seed drives everything, so a failing seed replays exactly:
//! `cargo run --release -p miaodan -- sim --seed <seed>` (a violation prints the whole command).

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

/// The store a simulation writes to: an embedded SQLite file (the default), or a fresh database
/// per seed on the PostgreSQL server `admin_url` points at.
#[derive(Clone, Debug, Default)]
pub enum Backend {
    #[default]
    Sqlite,
    Postgres {
        admin_url: String,
    },
}

/// Runs one seed for `steps` steps on SQLite, with the fault rates the seed draws.
pub async fn run_seed(seed: u64, steps: u32) -> Result<SeedReport, Violation> {
    run_seed_on(&Backend::Sqlite, seed, steps, None).await
}

/// Runs one seed with `plan`'s fault rates instead of the seed's own draw.
pub async fn run_seed_with(seed: u64, steps: u32, plan: FaultPlan) -> Result<SeedReport, Violation> {
    run_seed_on(&Backend::Sqlite, seed, steps, Some(plan)).await
}

/// Runs one seed on `backend`, with `plan` or the seed's own draw of fault rates.
pub async fn run_seed_on(
    backend: &Backend,
    seed: u64,
    steps: u32,
    plan: Option<FaultPlan>,
) -> Result<SeedReport, Violation> {
    sim::Sim::open(seed, steps, plan, backend).await?.run().await
}

/// The command that replays `seed` as it ran.
pub(crate) fn replay_command(backend: &Backend, seed: u64, steps: u32) -> String {
    let mut command = format!("cargo run --release -p miaodan -- sim --seed {seed}");
    if steps != STEPS_DEFAULT {
        command.push_str(&format!(" --steps {steps}"));
    }
    if let Backend::Postgres { admin_url } = backend {
        command.push_str(&format!(" --postgres {admin_url}"));
    }
    command
}

/// Runs `seeds` (each for `steps` steps) on `backend`, `jobs` seeds at a time (each seed alone
/// stays deterministic; the totals do not depend on the order seeds finish in), calling
/// `progress` after each; a violation is recorded and the swarm goes on.
pub async fn run_swarm(
    backend: &Backend,
    seeds: impl IntoIterator<Item = u64>,
    (steps, jobs): (u32, usize),
    mut progress: impl FnMut(&SwarmReport),
) -> SwarmReport {
    let mut swarm = SwarmReport::default();
    let mut running = tokio::task::JoinSet::new();
    let mut seeds = seeds.into_iter();
    loop {
        while running.len() < jobs.max(1) {
            let Some(seed) = seeds.next() else { break };
            // A panic (an assertion of the core, say) is that seed's violation, not the end.
            let run = tokio::spawn(run_seed_on_owned(backend.clone(), seed, steps));
            let replay = replay_command(backend, seed, steps);
            running.spawn(async move { run.await.unwrap_or_else(|join| Err(panicked(seed, replay, join))) });
        }
        let Some(finished) = running.join_next().await else {
            break;
        };
        let finished = finished.unwrap_or_else(|join| Err(panicked(0, "(the swarm's own task)".into(), join)));
        match finished {
            Ok(run) => swarm.add(&run),
            Err(violation) => {
                swarm.seeds += 1;
                swarm.violations.push(violation);
            }
        }
        progress(&swarm);
    }
    swarm.violations.sort_by_key(|v| v.seed);
    swarm
}

async fn run_seed_on_owned(backend: Backend, seed: u64, steps: u32) -> Result<SeedReport, Violation> {
    run_seed_on(&backend, seed, steps, None).await
}

fn panicked(seed: u64, replay: String, join: tokio::task::JoinError) -> Violation {
    let detail = match join.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a panic".into()),
        Err(join) => join.to_string(),
    };
    Violation {
        seed,
        step: None,
        invariant: "no panic",
        detail,
        replay,
    }
}
