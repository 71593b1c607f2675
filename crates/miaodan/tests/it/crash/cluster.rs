//! Three `miaodan serve --cluster` processes sharing the four shards of one PostgreSQL database,
//! and one `miaodan simpay`, under a load of checkouts (half of them paid at once) sent to all
//! three: the holder of the shop's shard is killed (SIGKILL) and another member started, twice,
//! and the others take its shards over; then every process is restarted one after another
//! (SIGTERM, start again). The clients retry an answer of `503` or
//! no answer at all with the same Idempotency-Key at the next process, as a client of a cluster
//! does. Afterwards: every request was decided, every acknowledged order is in the database as
//! acknowledged (paid when its payment was confirmed), there is no other order, stock adds up,
//! and simpay holds at most one capture per payment intent. Prints the failover times and the
//! retries the rolling restart cost.

use super::*;

/// How long a client keeps retrying one request before it counts it as failed.
const RETRY_FOR: Duration = Duration::from_secs(60);
const CLUSTER_CLIENTS: usize = 6;

/// The members' addresses by slot, as the clients see them (a restarted member gets a new port).
struct Members {
    addresses: Mutex<Vec<String>>,
    /// Requests retried (an answer of 503 or none), and those retried while `rolling` is set.
    retries: AtomicU64,
    rolling: AtomicBool,
    rolling_retries: AtomicU64,
}

impl Members {
    fn at(addresses: Vec<String>) -> Members {
        Members {
            addresses: Mutex::new(addresses),
            retries: AtomicU64::new(0),
            rolling: AtomicBool::new(false),
            rolling_retries: AtomicU64::new(0),
        }
    }

    fn address(&self, turn: usize) -> String {
        let addresses = self.addresses.lock().unwrap();
        addresses[turn % addresses.len()].clone()
    }
}

impl Members {
    fn retried(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
        if self.rolling.load(Ordering::Relaxed) {
            self.rolling_retries.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Sends `request` to the members in turn until it is decided, or [`RETRY_FOR`] passed.
async fn decided(members: &Members, world: &World, request: &CheckoutRequest, first: usize) -> Outcome {
    let began = Instant::now();
    let mut turn = first;
    loop {
        let outcome = send_checkout(&Api::new(&members.address(turn)), world, request).await;
        let retry = match &outcome {
            Outcome::Unanswered(_) => true,
            Outcome::Unexpected(answer) => answer.status == 503 || answer.status == 429,
            Outcome::Acked(_) | Outcome::Refused(_) => false,
        };
        if !retry || began.elapsed() > RETRY_FOR {
            return outcome;
        }
        members.retried();
        turn += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// POSTs `body` to `path` under `key` at the members in turn until it is answered with
/// anything but 503, 429, `payment_in_progress` (a shard that just moved looks up the attempts
/// its former holder may have had in flight first) or nothing, or [`RETRY_FOR`] passed.
async fn keyed(members: &Members, token: &str, (path, key): (&str, &str), body: Value, first: usize) -> Answer {
    let began = Instant::now();
    let mut turn = first;
    loop {
        let api = Api::new(&members.address(turn));
        match post_keyed(&api, token, path, key, body.clone()).await {
            Ok(answer) if answer.status == 409 && answer.body["code"] == "payment_in_progress" => {
                assert!(began.elapsed() < RETRY_FOR, "{key}: still {answer:?}");
            }
            Ok(answer) if answer.status != 503 && answer.status != 429 => return answer,
            other => assert!(began.elapsed() < RETRY_FOR, "{key}: still {other:?}"),
        }
        members.retried();
        turn += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Pays `order`'s checkout: opens its intent and confirms it, each under its own key, retried
/// at every member. Gives the intent's id once the payment was confirmed (200).
async fn paid(members: &Members, buyer: &str, order: &Value, first: usize) -> i64 {
    let checkout = order["checkout_id"].as_i64().unwrap();
    let intents = ("/v1/payment-intents", &*format!("intent-{checkout}"));
    let intent = keyed(members, buyer, intents, json!({ "checkout_id": checkout }), first).await;
    assert_eq!(intent.status, 201, "{}", intent.raw);
    let id = intent.body["id"].as_i64().unwrap();
    let path = format!("/v1/payment-intents/{id}/confirm");
    let confirm = (&*path, &*format!("confirm-{checkout}"));
    let confirmed = keyed(
        members,
        buyer,
        confirm,
        json!({ "credential": "wallet-cluster-test" }),
        first + 1,
    )
    .await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.raw);
    id
}

/// Each client's checkouts, and the intents it paid (intent id, order id).
type ClientLog = (Vec<Attempt>, Vec<(i64, i64)>);

fn spawn_cluster_clients(
    members: &Arc<Members>,
    world: &Arc<World>,
    control: &Arc<Control>,
) -> Vec<JoinHandle<ClientLog>> {
    (0..CLUSTER_CLIENTS)
        .map(|client| {
            let (members, world, control) = (members.clone(), world.clone(), control.clone());
            tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(client as u64);
                let (mut attempts, mut payments) = (Vec::new(), Vec::new());
                for n in 0.. {
                    if control.stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let request = random_checkout(&mut rng, &world, format!("cluster-{client}-{n}"));
                    let sent = Instant::now();
                    let outcome = decided(&members, &world, &request, client + n).await;
                    if let Outcome::Acked(answer) = &outcome {
                        control.acked.fetch_add(1, Ordering::Relaxed);
                        if n % 2 == 0 {
                            let (order, buyer) = (&answer.body["orders"][0], &world.buyers[request.buyer].1);
                            let intent = paid(&members, buyer, order, client + n).await;
                            payments.push((intent, order["id"].as_i64().unwrap()));
                        }
                    }
                    let ended = Instant::now();
                    attempts.push(Attempt {
                        request,
                        outcome,
                        sent,
                        ended,
                    });
                }
                (attempts, payments)
            })
        })
        .collect()
}

/// The shards the members share.
const SHARDS: u32 = 4;

/// The slot of the member that holds `shard` now, asked of the first live member, and its
/// member id.
async fn holder_slot(members: &Members, servers: &[Server], admin: &str, shard: usize) -> (usize, i64) {
    for _ in 0..100 {
        let view = servers[0].api().get("/v1/cluster", admin).await;
        if view.status == 200 {
            let owner = view.body["shards"][shard]["owner"].as_i64();
            let holder = view.body["members"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["id"].as_i64() == owner && m["role"] == "holder")
                .and_then(|m| m["address"].as_str().map(str::to_string));
            if let Some(holder) = holder {
                let addresses = members.addresses.lock().unwrap();
                if let Some(slot) = addresses.iter().position(|a| *a == holder) {
                    return (slot, owner.unwrap_or(0));
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no member holds shard {shard}")
}

/// Waits until every one of `shards` shards is held by one of `count` members, evenly (the moves
/// are over).
async fn spread_over(servers: &[Server], admin: &str, (count, shards): (usize, u32)) {
    let mut last = Value::Null;
    for _ in 0..300 {
        let view = servers[0].api().get("/v1/cluster", admin).await;
        if view.status == 200 {
            let held: Vec<i64> = view.body["shards"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|shard| {
                    shard["owner"]
                        .as_i64()
                        .filter(|_| shard["expires_in_ms"].as_i64() > Some(0))
                })
                .collect();
            let mut owners: BTreeMap<i64, usize> = BTreeMap::new();
            for owner in &held {
                *owners.entry(*owner).or_default() += 1;
            }
            let even = owners
                .values()
                .max()
                .zip(owners.values().min())
                .is_some_and(|(most, fewest)| most - fewest <= 1);
            if held.len() == shards as usize && owners.len() == count.min(shards as usize) && even {
                return;
            }
            last = view.body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the shards were not spread over {count} members: {last}")
}

/// How long after `from` a checkout sent then is acknowledged (retried at every member, as the
/// clients do): the time the cluster took to serve again.
async fn until_served(members: &Members, world: &World, from: Instant, key: String) -> (Duration, Attempt) {
    let mut rng = StdRng::seed_from_u64(from.elapsed().as_nanos() as u64);
    let request = random_checkout(&mut rng, world, key);
    let outcome = decided(members, world, &request, 0).await;
    let took = from.elapsed();
    let attempt = Attempt {
        request,
        outcome,
        sent: from,
        ended: Instant::now(),
    };
    (took, attempt)
}

/// A fresh database, its payment provider, and the first member of a cluster of `shards` shards
/// (holding them all), with the admin token it printed.
async fn first_member(shards: u32) -> (Database, SimpayProcess, Server, String) {
    let database = Database::fresh(Backend::Postgres).await;
    let simpay = SimpayProcess::start(0).await;
    let mut first = member(&database, &simpay, shards).await;
    first.wait_for_line("First start", START_TIMEOUT).await;
    let admin = first.wait_for_line("mdn_", START_TIMEOUT).await.trim().to_string();
    (database, simpay, first, admin)
}

async fn member(database: &Database, simpay: &SimpayProcess, shards: u32) -> Server {
    let mut args = simpay.server_args();
    args.extend(["--cluster".into(), "--shards".into(), shards.to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::start(&database.url, &args).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_members_sharing_the_shards_survive_kills_and_a_rolling_restart_with_every_request_decided() {
    if skip_postgres() {
        return;
    }
    let (database, simpay, first, admin) = first_member(SHARDS).await;
    let world = Arc::new(build_world(&first.api(), &admin, SKUS, 1_000_000, BUYERS).await);
    // The member killed holds the shard the load is on.
    let shard = (world.shop % i64::from(SHARDS)) as usize;
    let mut servers = vec![
        first,
        member(&database, &simpay, SHARDS).await,
        member(&database, &simpay, SHARDS).await,
    ];
    spread_over(&servers, &admin, (3, SHARDS)).await;
    let members = Arc::new(Members::at(servers.iter().map(|s| s.base.clone()).collect()));
    let control = Control::new(AfterTrouble::PauseAndGoOn);
    let clients = spawn_cluster_clients(&members, &world, &control);
    tokio::time::sleep(Duration::from_millis(500)).await;

    let (mut failovers, mut probes) = (Vec::new(), Vec::new());
    for _ in 0..2 {
        // Another member starts first and takes its share, so that the time measured is the
        // takeover's alone.
        let successor = member(&database, &simpay, SHARDS).await;
        members.addresses.lock().unwrap().push(successor.base.clone());
        servers.push(successor);
        spread_over(&servers, &admin, (4, SHARDS)).await;
        let (slot, killed_id) = holder_slot(&members, &servers[..], &admin, shard).await;
        let killed = servers.remove(slot);
        members.addresses.lock().unwrap().remove(slot);
        let killed_at = Instant::now();
        killed.kill().await;
        let probe = format!("probe-{}", failovers.len());
        let (took, attempt) = until_served(&members, &world, killed_at, probe).await;
        // Killed, its sign of life went with its connection: the successor did not wait for the
        // leases to expire.
        let (successor, _) = holder_slot(&members, &servers[..], &admin, shard).await;
        servers[successor]
            .wait_for_line(&format!("member {killed_id} was gone"), Duration::from_secs(5))
            .await;
        failovers.push(took);
        probes.push(attempt);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    members.rolling.store(true, Ordering::Relaxed);
    for (slot, server) in servers.iter_mut().enumerate() {
        server.terminate();
        let status = server.wait_exit(Duration::from_secs(60)).await;
        let stderr = server.stderr_text();
        assert!(status.is_some_and(|s| s.success()), "{status:?}; stderr:\n{stderr}");
        *server = member(&database, &simpay, SHARDS).await;
        members.addresses.lock().unwrap()[slot] = server.base.clone();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    members.rolling.store(false, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(300)).await;
    control.stop();
    let logs = tokio::time::timeout(RETRY_FOR * 2, futures::future::join_all(clients))
        .await
        .expect("clients still running");
    let (mut attempts, mut payments) = (Vec::new(), Vec::new());
    for log in logs {
        let (checkouts, paid) = log.unwrap();
        attempts.extend(checkouts);
        payments.extend(paid);
    }

    let mut acked = Vec::new();
    let mut failures = Vec::new();
    for attempt in attempts.iter().chain(&probes) {
        match &attempt.outcome {
            Outcome::Acked(answer) => match acked_order(&attempt.request, &world, answer) {
                Ok(order) => acked.push(order),
                Err(problem) => failures.push(problem),
            },
            other => failures.push(format!("{}: not decided: {other:?}", attempt.request.key)),
        }
    }
    spread_over(&servers, &admin, (3, SHARDS)).await;
    eprintln!(
        "cluster test: {} checkouts acknowledged, {} of them paid; failover after SIGKILL of the shard's holder {:?}; {} retries in all, \
         {} during the rolling restart",
        acked.len(),
        payments.len(),
        failovers,
        members.retries.load(Ordering::Relaxed),
        members.rolling_retries.load(Ordering::Relaxed),
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let api = servers[0].api();
    let orders = all_orders(&api, &admin).await;
    let paid_orders: BTreeMap<i64, i64> = payments.iter().map(|(intent, order)| (*order, *intent)).collect();
    for order in &acked {
        let id = order["id"].as_i64().unwrap();
        let stored = orders
            .get(&id)
            .unwrap_or_else(|| panic!("acknowledged order {id} is lost"));
        match paid_orders.get(&id) {
            Some(intent) => assert_eq!(
                (&stored["state"], &stored["paid_by_payment_intent_id"]),
                (&json!("paid"), &json!(intent)),
                "order {id}"
            ),
            None => assert_eq!(stored, order, "acknowledged order {id}"),
        }
    }
    // One capture per intent: its first attempt's, and no later attempt charged again.
    let shop = orders.values().next().unwrap()["shop_id"].as_i64().unwrap();
    for (intent, _) in &payments {
        let first = simpay.charge(&format!("mdn-{shop}-{intent}-1")).await;
        assert!(first.is_some(), "intent {intent} has no charge");
        assert_eq!(
            simpay.charge(&format!("mdn-{shop}-{intent}-2")).await,
            None,
            "intent {intent} charged twice"
        );
    }
    assert_eq!(orders.len(), acked.len(), "orders no client was answered about");
    let mut tally = Tally::default();
    check_stock(&api, &world, &orders, &mut tally, "after the cluster test").await;
    assert!(tally.failures.is_empty(), "{}", tally.failures.join("\n"));
    for server in servers {
        server.kill().await;
    }
    database.remove().await;
}

/// Two members of a cluster of one shard, whose holder is paused (SIGSTOP) past its lease: the
/// other member, which held nothing and forwarded, takes the shard over; a request it forwarded
/// to the paused holder is given up on and decided by itself; and the former holder, resumed,
/// commits nothing, holds nothing and forwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_paused_holder_of_the_only_shard_is_replaced_and_forwards_once_resumed() {
    if skip_postgres() {
        return;
    }
    let (database, simpay, mut paused, admin) = first_member(1).await;
    let world = Arc::new(build_world(&paused.api(), &admin, 2, 1_000, 4).await);
    let mut taker = member(&database, &simpay, 1).await;
    let at = |base: &str| Members::at(vec![base.to_string()]);
    let mut rng = StdRng::seed_from_u64(35);
    let mut requests = Vec::new();

    signal("STOP", &[paused.pid]);
    let paused_at = Instant::now();
    // Sent to the member holding nothing: forwarded to the paused holder, given up on once the
    // other member took the lease, and decided by it at the client's retry.
    let forwarded = random_checkout(&mut rng, &world, "while-paused".into());
    let outcome = decided(&at(&taker.base), &world, &forwarded, 0).await;
    assert!(matches!(outcome, Outcome::Acked(_)), "{outcome:?}");
    let took = paused_at.elapsed();
    taker.wait_for_line("now holds shards", Duration::from_secs(5)).await;
    requests.push(forwarded);
    // Sent straight to the paused holder: it waits for it to resume, which decides nothing.
    // (Once it stands by, it may also have forwarded the request to the new holder.)
    let (straight, straight_placed) = sent_while_paused(&mut paused, &world, &mut rng, &["this one stands by"]).await;
    requests.push(straight);
    // The former holder now forwards: a checkout sent to it is decided by the new holder.
    let later = random_checkout(&mut rng, &world, "after-the-resume".into());
    assert!(matches!(
        decided(&at(&paused.base), &world, &later, 0).await,
        Outcome::Acked(_)
    ));
    requests.push(later);
    // A client that can follow asks to be told where the holder is: the same path there, which
    // answers it.
    let follower = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let asked = follower
        .get(format!("{}/v1/cluster", paused.base))
        .header("miaodan-routing", "redirect")
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(asked.status(), 307);
    let location = asked.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(location, format!("{}/v1/cluster", taker.base));
    let followed = follower.get(&location).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(followed.status(), 200, "{location}");

    // Nothing else was placed: the request the resumed holder refused is not an order.
    let api = taker.api();
    assert_eq!(all_orders(&api, &admin).await.len(), 2 + usize::from(straight_placed));
    // Each request sent again with its key is one order: replayed, never placed twice.
    let mut acked = Vec::new();
    for request in &requests {
        let Outcome::Acked(answer) = send_checkout(&api, &world, request).await else {
            panic!("{} was not decided", request.key);
        };
        acked.push(acked_order(request, &world, &answer).unwrap());
    }
    let orders = all_orders(&api, &admin).await;
    assert_eq!(orders.len(), requests.len(), "{orders:?}");
    eprintln!("paused-holder test: the other member served {took:?} after the pause");
    for server in [paused, taker] {
        server.kill().await;
    }
    database.remove().await;
}

/// A checkout sent straight to `paused` (a process stopped by SIGSTOP), which is then resumed
/// and says each of `lines` in turn; the checkout is answered as placed or `503` (nothing
/// decided): gives it, and whether it was placed.
async fn sent_while_paused(
    paused: &mut Server,
    world: &Arc<World>,
    rng: &mut StdRng,
    lines: &[&str],
) -> (CheckoutRequest, bool) {
    let straight = random_checkout(rng, world, "to-the-paused".into());
    let waiting = {
        let (api, world, request) = (paused.api(), world.clone(), straight.clone());
        tokio::spawn(async move { send_checkout(&api, &world, &request).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    signal("CONT", &[paused.pid]);
    for line in lines {
        paused.wait_for_line(line, Duration::from_secs(20)).await;
    }
    let answered = waiting.await.unwrap();
    assert!(
        matches!(&answered, Outcome::Acked(_)) || matches!(&answered, Outcome::Unexpected(a) if a.status == 503),
        "{answered:?}"
    );
    (straight, matches!(answered, Outcome::Acked(_)))
}

/// Two members sharing the shards, one paused (SIGSTOP) past its leases: the other takes its
/// shards over and decides the requests sent to it; the paused one, resumed, commits nothing
/// (its shards' commits are fenced), closes those shards, and gets its share again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_paused_member_sharing_the_shards_loses_them_and_gets_its_share_back() {
    if skip_postgres() {
        return;
    }
    let (database, simpay, first, admin) = first_member(SHARDS).await;
    let world = Arc::new(build_world(&first.api(), &admin, 2, 1_000, 4).await);
    let mut servers = vec![first, member(&database, &simpay, SHARDS).await];
    spread_over(&servers, &admin, (2, SHARDS)).await;
    let members = Members::at(servers.iter().map(|s| s.base.clone()).collect());
    let shard = (world.shop % i64::from(SHARDS)) as usize;
    let (slot, _) = holder_slot(&members, &servers, &admin, shard).await;
    let mut paused = servers.remove(slot);
    let taker = servers.remove(0);
    let at = |base: &str| Members::at(vec![base.to_string()]);
    let mut rng = StdRng::seed_from_u64(36);
    let mut requests = Vec::new();

    signal("STOP", &[paused.pid]);
    let paused_at = Instant::now();
    // Sent to the other member: its shop's shard is held by the paused one until its lease
    // expires; then the other takes it and decides it at the client's retry.
    let sent_on = random_checkout(&mut rng, &world, "while-paused".into());
    let outcome = decided(&at(&taker.base), &world, &sent_on, 0).await;
    assert!(matches!(outcome, Outcome::Acked(_)), "{outcome:?}");
    let took = paused_at.elapsed();
    requests.push(sent_on);
    // Sent straight to the paused member: it waits for it to resume, which decides nothing
    // (or sends it on to the shard's holder once its shard is closed). Resumed, its leases'
    // renewals are refused: it closes those shards (and stands by, unless it takes a shard back
    // at once), then takes its share again.
    let resumed = ["another member took", "this member now holds shards"];
    let (straight, straight_placed) = sent_while_paused(&mut paused, &world, &mut rng, &resumed).await;
    requests.push(straight);
    let servers = vec![paused, taker];
    spread_over(&servers, &admin, (2, SHARDS)).await;
    // Sent to the member that was paused, holding its share again: decided.
    let later = random_checkout(&mut rng, &world, "after-the-resume".into());
    let outcome = decided(&at(&servers[0].base), &world, &later, 0).await;
    assert!(matches!(outcome, Outcome::Acked(_)), "{outcome:?}");
    requests.push(later);

    // Nothing else was placed, and each request sent again with its key is one order.
    let api = servers[1].api();
    assert_eq!(all_orders(&api, &admin).await.len(), 2 + usize::from(straight_placed));
    for request in &requests {
        let Outcome::Acked(answer) = send_checkout(&api, &world, request).await else {
            panic!("{} was not decided", request.key);
        };
        acked_order(request, &world, &answer).unwrap();
    }
    assert_eq!(all_orders(&api, &admin).await.len(), requests.len());
    eprintln!("paused-member test: the other member served {took:?} after the pause");
    for server in servers {
        server.kill().await;
    }
    database.remove().await;
}
