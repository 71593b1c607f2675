//! The simulator in CI: a bounded swarm of seeds must break no invariant and reach every
//! "sometimes"; a seed must replay to the same history. `miaodan sim --seeds N` runs the long
//! swarm by hand.

use miaodan_sim::{Backend, Fault, FaultPlan, STEPS_DEFAULT, Sometimes, run_seed, run_seed_with, run_swarm};

/// Seeds the CI swarm runs (`MIAODAN_SIM_SEEDS` changes it; the first is `MIAODAN_SIM_FIRST_SEED`).
fn ci_seeds() -> std::ops::Range<u64> {
    let count = std::env::var("MIAODAN_SIM_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let first = std::env::var("MIAODAN_SIM_FIRST_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    first..first + count
}

#[tokio::test(flavor = "current_thread")]
async fn a_swarm_of_seeds_breaks_no_invariant_and_reaches_every_sometimes() {
    let swarm = run_swarm(&Backend::Sqlite, ci_seeds(), (STEPS_DEFAULT, 1), |_| {}).await;
    println!("{swarm}");
    let violations: Vec<String> = swarm.violations.iter().map(|v| v.to_string()).collect();
    assert!(violations.is_empty(), "{}", violations.join("\n\n"));
    let unreached: Vec<&str> = swarm.unreached().into_iter().map(Sometimes::describe).collect();
    assert!(unreached.is_empty(), "the swarm never reached: {unreached:?}");
    assert!(swarm.faults.total() > 0 && swarm.seeds_without_faults > 0, "{swarm}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_seed_replays_to_the_same_history_and_the_same_tables() {
    let seed = 0x5eed_0001;
    let first = run_seed(seed, 200).await.unwrap_or_else(|v| panic!("{v}"));
    let again = run_seed(seed, 200).await.unwrap_or_else(|v| panic!("{v}"));
    assert_eq!(first.history_hash, again.history_hash);
    assert_eq!(first.state_hash, again.state_hash);
    assert_eq!(
        (first.commands, first.faults.clone()),
        (again.commands, again.faults.clone())
    );
    let other = run_seed(seed + 1, 200).await.unwrap_or_else(|v| panic!("{v}"));
    assert_ne!(first.history_hash, other.history_hash, "another seed, another history");
}

/// The auditor is only worth its silence if it speaks up: a store that answers batches it never
/// wrote is caught, on every seed, within the run.
#[tokio::test(flavor = "current_thread")]
async fn a_planted_lost_write_is_caught_by_the_auditor() {
    for seed in 1..=5 {
        let violation = run_seed_with(seed, STEPS_DEFAULT, FaultPlan::only(Fault::PlantedLostWrite, 50))
            .await
            .expect_err("a lost write must not go unnoticed");
        println!("{violation}");
        assert!(
            ["stock conservation", "memory equals tables", "acknowledged ⇒ durable"].contains(&violation.invariant),
            "{violation}"
        );
        assert!(
            violation.to_string().contains(&format!("sim --seed {seed}")),
            "{violation}"
        );
    }
}

/// The same simulation with PostgreSQL under the store: fewer seeds (each commit is a network
/// round trip and an fsync), the same invariants.
#[tokio::test(flavor = "current_thread")]
async fn a_swarm_on_postgresql_breaks_no_invariant() {
    let admin_url = match std::env::var("MIAODAN_TEST_POSTGRES_URL") {
        Ok(url) => url,
        Err(_) if std::env::var("MIAODAN_SKIP_POSTGRES").as_deref() == Ok("1") => return,
        Err(_) => panic!("set MIAODAN_TEST_POSTGRES_URL (scripts/test does) or MIAODAN_SKIP_POSTGRES=1"),
    };
    let swarm = run_swarm(&Backend::Postgres { admin_url }, 1..13, (STEPS_DEFAULT, 1), |_| {}).await;
    println!("{swarm}");
    let violations: Vec<String> = swarm.violations.iter().map(|v| v.to_string()).collect();
    assert!(violations.is_empty(), "{}", violations.join("\n\n"));
    assert!(swarm.faults.total() > 0 && swarm.restarts > 0, "{swarm}");
}
