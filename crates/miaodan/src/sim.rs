//! `miaodan sim`: the deterministic simulator's long runs by hand (CI runs a bounded swarm in
//! `crates/miaodan-sim/tests/swarm.rs`). A failing seed is printed with the command that replays it.

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use miaodan_sim::{Backend, STEPS_DEFAULT, SwarmReport};
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct SimArgs {
    /// How many seeds to run (a swarm: each seed draws its own fault rates).
    #[arg(long, default_value_t = 100, conflicts_with = "seed")]
    seeds: u64,
    /// The swarm's first seed; seeds run from it upwards.
    #[arg(long, default_value_t = 1)]
    first_seed: u64,
    /// Replay one seed (as a failure prints it) and print its history's figures.
    #[arg(long)]
    seed: Option<u64>,
    /// Steps each seed runs.
    #[arg(long, default_value_t = STEPS_DEFAULT)]
    steps: u32,
    /// Seeds run at once (each seed alone stays deterministic).
    #[arg(long, default_value_t = 2)]
    jobs: usize,
    /// Run on PostgreSQL instead of SQLite: a database per seed (dropped after it) on the server
    /// this URL points at, e.g. postgres://user@127.0.0.1:5432/postgres.
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,
}

pub async fn run(args: SimArgs) -> anyhow::Result<()> {
    let backend = match args.postgres {
        Some(admin_url) => Backend::Postgres { admin_url },
        None => Backend::Sqlite,
    };
    if let Some(seed) = args.seed {
        let run = miaodan_sim::run_seed_on(&backend, seed, args.steps, None).await?;
        let mut swarm = SwarmReport::default();
        swarm.add(&run);
        println!("seed {seed}: faults per commit: {}", run.plan);
        println!("{swarm}");
        println!(
            "state hash        {}\nhistory hash      {}",
            run.state_hash, run.history_hash
        );
        return Ok(());
    }
    let bar = ProgressBar::new(args.seeds);
    let style = ProgressStyle::with_template("{spinner} seeds [{bar:40}] {pos}/{len} {per_sec} eta {eta} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(200));
    let started = Instant::now();
    let seeds = args.first_seed..args.first_seed.saturating_add(args.seeds);
    let swarm = miaodan_sim::run_swarm(&backend, seeds, (args.steps, args.jobs), |swarm| {
        bar.set_position(swarm.seeds);
        bar.set_message(format!("{} violations", swarm.violations.len()));
    })
    .await;
    bar.finish_and_clear();
    println!("{swarm}");
    println!("wall time         {:.1} s", started.elapsed().as_secs_f64());
    for violation in &swarm.violations {
        println!("\n{violation}");
    }
    if !swarm.violations.is_empty() {
        anyhow::bail!("{} of {} seeds broke an invariant", swarm.violations.len(), swarm.seeds);
    }
    let unreached = swarm.unreached();
    if !unreached.is_empty() {
        let names: Vec<&str> = unreached.iter().map(|s| s.describe()).collect();
        anyhow::bail!("the swarm never reached: {}", names.join("; "));
    }
    Ok(())
}
