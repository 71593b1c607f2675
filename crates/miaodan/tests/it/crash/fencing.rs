//! Fencing on PostgreSQL: a process paused past the moment another one took its shards, then
//! resumed, commits nothing, and stops serving. Its leases live a minute, so it would not learn
//! of the taking from a renewal within the test: only the epoch every commit checks stops it.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_paused_process_whose_shards_were_taken_commits_nothing_when_resumed() {
    if skip_postgres() {
        return;
    }
    let database = Database::fresh(Backend::Postgres).await;
    let mut paused = Server::start(&database.url, &["--lease-ttl-ms", "60000"]).await;
    let admin = paused
        .first_start_token
        .clone()
        .expect("a first start prints an admin token");
    let world = Arc::new(build_world(&paused.api(), &admin, 2, 1_000, 4).await);
    let mut rng = StdRng::seed_from_u64(19);
    let before = random_checkout(&mut rng, &world, "before-the-pause".into());
    assert!(matches!(
        send_checkout(&paused.api(), &world, &before).await,
        Outcome::Acked(_)
    ));

    signal("STOP", &[paused.pid]);
    // Another `miaodan serve` on the same database takes every shard (a new epoch each).
    let taker = Server::start(&database.url, &[]).await;
    let held = taker.api().get("/v1/cluster", &admin).await;
    let shards = held.expect(200)["shards"].as_array().unwrap().clone();
    assert!(shards.iter().all(|s| s["epoch"] == 2), "{shards:?}");
    // Requests reach the paused process (its socket is still open) and wait for it to resume.
    let requests: Vec<CheckoutRequest> = (0..20)
        .map(|n| random_checkout(&mut rng, &world, format!("to-the-paused-{n}")))
        .collect();
    let sent: Vec<_> = requests
        .iter()
        .map(|request| {
            let (api, world, request) = (paused.api(), world.clone(), request.clone());
            tokio::spawn(async move { send_checkout(&api, &world, &request).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    signal("CONT", &[paused.pid]);
    let decided = |outcome: &Outcome| matches!(outcome, Outcome::Acked(_) | Outcome::Refused(_));
    for answer in sent {
        let outcome = answer.await.unwrap();
        assert!(
            !decided(&outcome),
            "a process whose shards were taken decided a checkout: {outcome:?}"
        );
    }
    // Its connections were ended by the taker, so the first commit failed anyway; a shard
    // rebuilds on a new connection after that, and only the epoch stops it committing again.
    // They are sent until the process stops, which only a fenced commit makes it do in time
    // (its leases live a minute: no renewal tells it within the test).
    let mut more = Vec::new();
    let began = Instant::now();
    while paused.exited().is_none() {
        assert!(
            began.elapsed() < Duration::from_secs(20),
            "the fenced process still runs"
        );
        let request = random_checkout(&mut rng, &world, format!("after-the-resume-{}", more.len()));
        let outcome = send_checkout(&paused.api(), &world, &request).await;
        assert!(
            !decided(&outcome),
            "a process whose shards were taken decided a checkout: {outcome:?}"
        );
        more.push(request);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = paused.wait_exit(Duration::from_secs(5)).await.expect("exited");
    let stderr = paused.stderr_text();
    assert!(!status.success(), "{status}; stderr:\n{stderr}");
    assert!(stderr.contains("another process took"), "stderr:\n{stderr}");
    assert!(
        stderr.contains("batch commit fenced"),
        "stopped by a commit's check; stderr:\n{stderr}"
    );

    // Nothing the resumed process was asked is in the database: each checkout sent again with
    // its key to the process that took over is placed now, fresh (not replayed).
    let api = taker.api();
    for request in requests.iter().chain(&more) {
        let Outcome::Acked(answer) = send_checkout(&api, &world, request).await else {
            panic!("{} was not placed by the new owner", request.key);
        };
        assert!(
            !answer.replayed,
            "{} had been stored by the fenced process",
            request.key
        );
    }
    assert_eq!(all_orders(&api, &admin).await.len(), 1 + requests.len() + more.len());
    database.remove().await;
}
