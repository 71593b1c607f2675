//! The members' own endpoint (`POST /internal/shards/{index}`) over real HTTP, through the client
//! a member uses: a shard decides a command sent as a value, a retry of it finds the order its
//! first attempt placed, a question is answered and a risk change made; a caller without the
//! members' secret, of another build, or counting shards differently decides nothing, and a
//! process that is no cluster member serves no such endpoint.

use crate::common;
use crate::common::{Backend, TestApp};
use miaodan_domain::flash_sale::FlashSaleId;
use miaodan_domain::fulfillment::promise::Destination;
use miaodan_domain::geo::Adcode;
use miaodan_domain::orders::{Address, PAYMENT_TIMEOUT_SECONDS_DEFAULT};
use miaodan_domain::quantity::Quantity;
use miaodan_domain::shard::{
    Answer, Command, DeliveryOptionsQuestion, OrderLineRequest, Outcome, PlaceOrder, Question, RequestRef, RiskChange,
};
use miaodan_domain::{BuyerId, OrderId, ShopId, SkuId};
use miaodan_server::cluster::{Membership, new_member_id};
use miaodan_server::http::cluster::members::{
    MemberClient, PATH, SECRET_HEADER, SHARDS_HEADER, ShardReply, ShardRequest, WIRE_HEADER, WIRE_SHAPE,
};
use miaodan_server::sequencer::ShardError;
use serde_json::json;

both_backends!(
    another_members_shard_decides_a_command_its_retry_a_question_and_a_risk_change,
    a_caller_without_the_secret_of_another_build_or_counting_shards_otherwise_decides_nothing,
);

/// Two members sharing the shards need one PostgreSQL database (SQLite serves one process).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_sharing_the_shards_decide_their_own_and_ask_each_others() {
    if common::skip_postgres() {
        return;
    }
    two_members_share_the_shards(Backend::Postgres).await;
}

/// A platform serving as the one member of a cluster (the endpoint is a member's).
async fn member(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |config| {
        config.cluster = Some(Membership::new(new_member_id(), String::new(), "holder"));
    })
    .await
}

/// A shop selling one SKU with 5 units in stock, and a buyer.
async fn world(app: &TestApp) -> (ShopId, SkuId, BuyerId, String) {
    let (shop, merchant) = app.shop("小店").await;
    let warehouse = app.warehouse(&merchant, "上海仓", "310101000000").await;
    let sku = app.product(&merchant, "茶叶", &[1_990]).await[0];
    app.stock(&merchant, sku, warehouse, 5).await;
    let (buyer, token) = app.buyer("张三").await;
    let (shop, sku, buyer) = (ShopId::new(shop), SkuId::new(sku), BuyerId::new(buyer));
    (shop.unwrap(), sku.unwrap(), buyer.unwrap(), token)
}

/// `PlaceOrder` of 2 units under the request reference `reference`, as a checkout's part.
async fn place(app: &TestApp, (shop, sku, buyer): (ShopId, SkuId, BuyerId), reference: &str) -> PlaceOrder {
    let ids = &app.state().ids;
    PlaceOrder {
        id: ids.order().await.unwrap(),
        checkout: ids.checkout().await.unwrap(),
        shop,
        buyer,
        lines: vec![OrderLineRequest {
            sku,
            quantity: Quantity::new(2).unwrap(),
        }],
        address: Address {
            adcode: Adcode::parse("310101000000").unwrap(),
            detail: miaodan_domain::catalog::Text::parse("南京东路1号").unwrap(),
        },
        payment_timeout_seconds: PAYMENT_TIMEOUT_SECONDS_DEFAULT,
        request: Some(RequestRef(reference.into())),
        delivery: None,
        client: Box::default(),
    }
}

fn secret(app: &TestApp) -> String {
    app.state()
        .member_secret
        .clone()
        .expect("a member has the members' secret")
}

async fn order_status(app: &TestApp, order: OrderId, token: &str) -> u16 {
    app.get(&format!("/v1/orders/{order}"), token).await.status.as_u16()
}

async fn another_members_shard_decides_a_command_its_retry_a_question_and_a_risk_change(backend: Backend) {
    let app = member(backend).await;
    let (shop, sku, buyer, token) = world(&app).await;
    let index = (app.state().shards.shard_of(shop), app.state().shards.count());
    let client = MemberClient::new(secret(&app)).unwrap();
    let address = app.url("");

    let first = place(&app, (shop, sku, buyer), "checkout-1/shop-part").await;
    let placed = first.id;
    let sent = ShardRequest::Command {
        shop,
        command: Command::from(first),
    };
    let reply = client.send(&address, index, &sent).await.unwrap();
    let ShardReply::Outcome(Outcome::OrderPlaced(order)) = reply else {
        panic!("not placed: {reply:?}");
    };
    assert_eq!((order.id, order.shop, order.buyer), (placed, shop, buyer));
    assert_eq!(
        order_status(&app, placed, &token).await,
        200,
        "the buyer sees the order"
    );

    // The caller did not hear the answer and sends the part again (a new order id, the same
    // request reference): the order its first attempt placed, and no second one.
    let again = place(&app, (shop, sku, buyer), "checkout-1/shop-part").await;
    let not_placed = again.id;
    let sent = ShardRequest::Command {
        shop,
        command: Command::from(again),
    };
    let reply = client.send(&address, index, &sent).await.unwrap();
    assert_eq!(reply, ShardReply::Outcome(Outcome::OrderAlreadyPlaced(placed)));
    assert_eq!(order_status(&app, not_placed, &token).await, 404);

    // A question every shard is asked: the shop's options for its SKU, 3 units left.
    let question = Question::from(DeliveryOptionsQuestion {
        items: vec![(sku, 3)],
        destination: Destination::of(Adcode::parse("310104000000").unwrap()),
    });
    let reply = client
        .send(&address, index, &ShardRequest::Question(question))
        .await
        .unwrap();
    let ShardReply::Answer(Answer::DeliveryOptions(options)) = reply else {
        panic!("not the options: {reply:?}");
    };
    assert_eq!(options.shops.len(), 1);
    assert_eq!(options.shops[0].shop, shop);
    assert!(!options.shops[0].options.as_ref().unwrap().is_empty(), "{options:?}");

    let sale = FlashSaleId::new(77).unwrap();
    let strict = RiskChange::SetStrict { sale, strict: true };
    let reply = client
        .send(&address, index, &ShardRequest::ChangeRisk(strict))
        .await
        .unwrap();
    assert_eq!(reply, ShardReply::Changed);
    let shards = &app.state().shards;
    let now_strict = shards
        .read_shard(index.0, move |s, _| s.risk().is_strict(sale))
        .await
        .unwrap();
    assert!(now_strict, "the shard's risk book took the change");
}

async fn a_caller_without_the_secret_of_another_build_or_counting_shards_otherwise_decides_nothing(backend: Backend) {
    let app = member(backend).await;
    let (shop, sku, buyer, token) = world(&app).await;
    let index = app.state().shards.shard_of(shop);
    let count = app.state().shards.count() as usize;
    let command = place(&app, (shop, sku, buyer), "checkout-2/shop-part").await;
    let order = command.id;
    let request = ShardRequest::Command {
        shop,
        command: Command::from(command),
    };
    let url = |index: usize| app.url(&PATH.replace("{index}", &index.to_string()));
    let http = reqwest::Client::new();
    let counted = count.to_string();
    let send_counting = |index: usize, (secret, shape, shards): (&str, &str, &str), body: String| {
        http.post(url(index))
            .header(SECRET_HEADER, secret)
            .header(WIRE_HEADER, shape)
            .header(SHARDS_HEADER, shards)
            .header("content-type", "application/json")
            .body(body)
    };
    let send =
        |index: usize, secret: &str, shape: &str, body: String| send_counting(index, (secret, shape, &counted), body);
    let body = serde_json::to_string(&request).unwrap();
    let secret = secret(&app);

    let refusals = [
        (
            send(index, "not-the-secret", WIRE_SHAPE, body.clone()),
            401,
            "unauthorized",
        ),
        (
            send(index, &secret, "0123456789abcdef", body.clone()),
            409,
            "wire_mismatch",
        ),
        (
            send((index + 1) % count, &secret, WIRE_SHAPE, body.clone()),
            409,
            "wire_mismatch",
        ),
        (send(count, &secret, WIRE_SHAPE, body.clone()), 404, "not_found"),
        (
            send(index, &secret, WIRE_SHAPE, json!({"Command": {}}).to_string()),
            400,
            "malformed_json",
        ),
    ];
    assert!(count > 1, "a shop in another shard needs two shards");
    for (request, status, code) in refusals {
        common::answer(request).await.assert_problem(status, code);
    }
    // The client a member uses takes a refusal as an owner it could not ask: retried, never read.
    let stranger = MemberClient::new("not-the-secret".into()).unwrap();
    let refused = stranger.send(&app.url(""), (index, count as u32), &request).await;
    assert_eq!(refused, Err(ShardError::OwnerUnreachable));
    assert_eq!(order_status(&app, order, &token).await, 404, "nothing was placed");
    // The same request with the secret and this build's shape is decided.
    let decided = common::answer(send(index, &secret, WIRE_SHAPE, body)).await;
    assert!(
        decided.assert_status(200)["Ok"]["Outcome"]["OrderPlaced"].is_object(),
        "{}",
        decided.raw
    );
    assert_eq!(order_status(&app, order, &token).await, 200);

    // A process that is no cluster member has no secret and serves no such endpoint, whatever
    // the caller shows (here the member's own secret).
    let alone = TestApp::spawn(backend).await;
    assert_eq!(alone.state().member_secret, None);
    let asked = http
        .post(alone.url(&PATH.replace("{index}", "0")))
        .header(SECRET_HEADER, &secret)
        .header(WIRE_HEADER, WIRE_SHAPE)
        .header(SHARDS_HEADER, alone.state().shards.count().to_string())
        .body(json!({"Question": {"RiskCluster": {"buyer": 1, "limit": 1}}}).to_string());
    common::answer(asked).await.assert_problem(404, "not_found");
}

/// Each shard's holder, as `GET /v1/cluster` at `app` shows them.
async fn shard_holders(app: &TestApp) -> Vec<i64> {
    let cluster = app.get("/v1/cluster", &app.admin).await;
    cluster.assert_status(200)["shards"]
        .as_array()
        .unwrap_or_else(|| panic!("no shards in {}", cluster.raw))
        .iter()
        .map(|shard| shard["owner"].as_i64().unwrap())
        .collect()
}

/// Registers `app`'s member where it serves, as `miaodan serve --cluster` does.
async fn register(app: &TestApp) {
    let state = app.state();
    state.membership.set_address(app.url(""));
    state.membership.beat(&state.store).await;
}

/// A shop with a SKU and 5 units of it in a Shanghai warehouse, in shard `shard` of `app`'s
/// (shops are made until one falls there); the shop, its SKU, its merchant's token.
async fn shop_in_shard(app: &TestApp, shard: usize) -> (ShopId, i64, String) {
    loop {
        let (shop, merchant) = app.shop("分店").await;
        let shop = ShopId::new(shop).unwrap();
        if app.state().shards.shard_of(shop) != shard {
            continue;
        }
        let warehouse = app.warehouse(&merchant, "上海仓", "310101000000").await;
        let sku = app.product(&merchant, "茶叶", &[1_990]).await[0];
        app.stock(&merchant, sku, warehouse, 5).await;
        return (shop, sku, merchant);
    }
}

/// Member A holds shard 0, member B shard 1. A request at A asks B's shard for what it needs as
/// values: the delivery options gather both shards' shops, a checkout across a shop of each
/// places both orders (B's part decided at B), a risk change reaches B's shard. A keyed request
/// that must be decided in B's shard with its answer (a stock change, a shop whose key names
/// B's shard) is sent to B whole, and its retries at either member replay B's answer. A member
/// asked for a shard it does not hold decides nothing there. Then shard 1 moves from B to A while
/// both run: A has B's orders and replays B's stored answers, and B sends shard 1's requests to A.
/// B's live streams move with the compass A's reader folds.
async fn two_members_share_the_shards(backend: Backend) {
    let mut a = member(backend).await;
    let (x, x_sku, _) = shop_in_shard(&a, 0).await;
    let (y, y_sku, y_merchant) = shop_in_shard(&a, 1).await;
    // Made after Y: a checkout of Y's and Z's is homed in Y's shard, the lower shop's.
    let (_, z_sku, _) = shop_in_shard(&a, 0).await;
    let (_, buyer) = a.buyer("张三").await;
    // A gives shard 1 back and keeps shard 0; B takes shard 1.
    a.config.held_shards = Some(vec![0]);
    a.restart().await;
    let b = a
        .beside(|config| {
            config.cluster = Some(Membership::new(new_member_id(), String::new(), "holder"));
            config.held_shards = Some(vec![1]);
        })
        .await;
    register(&a).await;
    register(&b).await;
    assert!(a.state().shards.holds(0) && !a.state().shards.holds(1));
    assert!(b.state().shards.holds(1) && !b.state().shards.holds(0));
    assert_eq!(
        shard_holders(&a).await,
        [a.state().membership.id(), b.state().membership.id()]
    );
    // B's live streams follow the compass, whose reader runs at A (shard 0's holder).
    let mut live_at_b = b.state().compass_live.subscribe();
    live_at_b.borrow_and_update();

    // Every shard's shops, B's answered at B.
    let items = format!("{x_sku}:1,{y_sku}:1");
    let asked = a
        .http
        .get(a.url("/v1/delivery-options"))
        .query(&[("adcode", "310104000000"), ("items", items.as_str())]);
    let options = a.send(asked).await;
    let mut shops: Vec<i64> = options.assert_status(200)["shops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|shop| shop["shop_id"].as_i64().unwrap())
        .collect();
    shops.sort_unstable();
    assert_eq!(shops, [x.get(), y.get()], "{}", options.raw);

    // A checkout across both shops: its part in shop Y is decided in B's shard.
    let placed = a.checkout(&buyer, &[(x_sku, 1), (y_sku, 2)]).await;
    let orders = placed.assert_status(201)["orders"].as_array().unwrap().clone();
    let y_order = orders
        .iter()
        .find(|order| order["shop_id"] == y.get())
        .unwrap_or_else(|| panic!("no order in shop Y: {}", placed.raw));
    let y_order = OrderId::new(y_order["id"].as_i64().unwrap()).unwrap();
    let in_b = b
        .state()
        .shards
        .read(y, move |state, _| {
            state.orders().get(y_order).map(|order| order.lines.len())
        })
        .await
        .unwrap();
    assert_eq!(in_b, Some(1), "B's shard holds the order it placed");
    tokio::time::timeout(std::time::Duration::from_secs(10), live_at_b.changed())
        .await
        .expect("B's live streams were told of the orders A's compass folded")
        .expect("B's platform runs");

    // A keyed checkout homed in B's shard (Y's, its first shop) is decided at B, which stores its
    // answer: its retry at A is sent there too, and replayed.
    let across = |app: &TestApp| {
        let lines = json!([{ "sku_id": y_sku, "quantity": 1 }, { "sku_id": z_sku, "quantity": 1 }]);
        app.http
            .post(app.url("/v1/checkouts"))
            .bearer_auth(&buyer)
            .header("Idempotency-Key", "across-1")
            .json(&json!({ "lines": lines }))
    };
    let first = a.send(across(&a)).await;
    assert!(!first.replayed, "{}", first.raw);
    let checkout = first.assert_status(201)["checkout_id"].clone();
    let across_orders: Vec<i64> = first.body["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|order| order["id"].as_i64().unwrap())
        .collect();
    assert_eq!(across_orders.len(), 2, "{}", first.raw);
    for app in [&a, &b] {
        let again = app.send(across(app)).await;
        assert!(again.replayed, "{}", again.raw);
        assert_eq!(again.assert_status(201)["checkout_id"], checkout);
    }

    // Its payment is homed there too: opened and paid at B through A (Z's order, in A's shard,
    // marked paid as a value sent there), the opening's retry replayed.
    let open = |app: &TestApp| {
        app.http
            .post(app.url("/v1/payment-intents"))
            .bearer_auth(&buyer)
            .header("Idempotency-Key", "pay-across-1")
            .json(&json!({ "checkout_id": checkout }))
    };
    let intent = a.send(open(&a)).await.assert_status(201)["id"].clone();
    let again = a.send(open(&a)).await;
    assert!(again.replayed, "{}", again.raw);
    assert_eq!(again.assert_status(201)["id"], intent);
    let paid = a
        .confirm(
            &buyer,
            intent.as_i64().unwrap(),
            json!({ "credential": common::WALLET }),
        )
        .await;
    assert_eq!(paid.assert_status(200)["status"], "captured", "{}", paid.raw);
    for order in &across_orders {
        let seen = a.get(&format!("/v1/orders/{order}"), &buyer).await;
        assert_eq!(seen.assert_status(200)["state"], "paid", "{}", seen.raw);
    }

    // A risk change A makes in every shard reaches B's.
    let sale = FlashSaleId::new(78).unwrap();
    for shard in 0..2 {
        let strict = RiskChange::SetStrict { sale, strict: true };
        a.state().shards.change_risk(shard, strict).await.unwrap();
    }
    let strict_at_b = b
        .state()
        .shards
        .read_shard(1, move |state, _| state.risk().is_strict(sale))
        .await
        .unwrap();
    assert!(strict_at_b, "B's shard took A's risk change");

    // Y's stock is B's to decide. Without a key, A sends the change to B as a value. With a
    // key its answer must be stored in the batch that decides it, at B: A sends the whole
    // request there, and a retry at either member is answered with the answer B stored.
    let warehouse = b.get(&format!("/v1/skus/{y_sku}/stock"), &y_merchant).await;
    let warehouse = warehouse.assert_status(200)["items"][0]["warehouse_id"]
        .as_i64()
        .unwrap();
    let path = format!("/v1/skus/{y_sku}/stock/{warehouse}");
    a.put(&path, &y_merchant, json!({ "available": 9 }))
        .await
        .assert_status(200);
    assert_eq!(b.level(&y_merchant, y_sku, warehouse).await.0, 9, "decided at B");
    let keyed = |app: &TestApp, key: &str, available: i64| {
        app.http
            .put(app.url(&path))
            .bearer_auth(&y_merchant)
            .header("Idempotency-Key", key)
            .json(&json!({ "available": available }))
    };
    let sent_on = a.send(keyed(&a, "stock-y-1", 4)).await;
    assert!(!sent_on.replayed, "{}", sent_on.raw);
    assert_eq!(sent_on.assert_status(200)["available"], 4);
    assert_eq!(b.level(&y_merchant, y_sku, warehouse).await.0, 4);
    b.put(&path, &y_merchant, json!({ "available": 7 }))
        .await
        .assert_status(200);
    for app in [&a, &b] {
        let again = app.send(keyed(app, "stock-y-1", 4)).await;
        assert!(again.replayed, "the answer B stored: {}", again.raw);
        assert_eq!(again.assert_status(200)["available"], 4);
    }
    assert_eq!(
        b.level(&y_merchant, y_sku, warehouse).await.0,
        7,
        "no retry decided again"
    );
    // A request already sent on by a member is answered where it arrives, never sent on again.
    let twice = keyed(&a, "stock-y-2", 1).header("miaodan-forwarded-by", "1");
    a.send(twice).await.assert_problem(503, "unavailable");
    assert_eq!(b.level(&y_merchant, y_sku, warehouse).await.0, 7, "nothing changed");

    // A new shop with a key lives in the shard its key names: every retry, at either member,
    // reaches that shard's holder and is answered with the same shop.
    let key = (0..)
        .map(|n| format!("shop-{n}"))
        .find(|key| a.state().shards.shard_of_text(&format!("admin/{key}")) == 1)
        .unwrap();
    let create = |app: &TestApp| {
        app.http
            .post(app.url("/v1/shops"))
            .bearer_auth(&app.admin)
            .header("Idempotency-Key", &key)
            .json(&json!({ "name": "新店" }))
    };
    let created = a.send(create(&a)).await;
    let shop = ShopId::new(created.assert_status(201)["id"].as_i64().unwrap()).unwrap();
    assert_eq!(a.state().shards.shard_of(shop), 1, "in the key's shard, B's");
    for app in [&a, &b, &a] {
        let again = app.send(create(app)).await;
        assert!(again.replayed, "{}", again.raw);
        assert_eq!(again.assert_status(201)["id"], shop.get());
    }
    let unkeyed = a.post("/v1/shops", &a.admin, json!({ "name": "无键店" })).await;
    let unkeyed = ShopId::new(unkeyed.assert_status(201)["id"].as_i64().unwrap()).unwrap();
    assert_eq!(
        a.state().shards.shard_of(unkeyed),
        0,
        "without a key, in a shard of A's"
    );

    // A member asked for a shard it does not hold decides nothing there.
    let client = MemberClient::new(secret(&a)).unwrap();
    let question = Question::from(DeliveryOptionsQuestion {
        items: vec![(SkuId::new(y_sku).unwrap(), 1)],
        destination: Destination::of(Adcode::parse("310104000000").unwrap()),
    });
    let misdirected = client.send(&a.url(""), (1, 2), &ShardRequest::Question(question)).await;
    assert_eq!(misdirected, Err(ShardError::HeldElsewhere { shard: 1 }));

    // Shard 1 moves to A while both run: B commits what it queued and gives it back, A learns
    // the answers B stored and loads the shard from the tables.
    assert!(b.state().give_back_shard(1).await, "nothing in flight holds it up");
    assert!(!b.state().shards.holds(1));
    assert!(
        a.state()
            .take_shard(1, miaodan_store::cluster::Taking::Expired)
            .await
            .unwrap(),
        "given back: free to take"
    );
    assert!(
        !b.state()
            .take_shard(1, miaodan_store::cluster::Taking::Expired)
            .await
            .unwrap(),
        "A holds it now"
    );
    let in_a = a
        .state()
        .shards
        .read(y, move |state, _| state.orders().get(y_order).is_some())
        .await
        .unwrap();
    assert!(in_a, "A loaded the order B placed");
    for app in [&a, &b] {
        let again = app.send(keyed(app, "stock-y-1", 4)).await;
        assert!(again.replayed, "the answer B stored, replayed by A: {}", again.raw);
        let again = app.send(across(app)).await;
        assert!(again.replayed, "{}", again.raw);
        assert_eq!(again.assert_status(201)["checkout_id"], checkout);
        let again = app.send(open(app)).await;
        assert!(again.replayed, "{}", again.raw);
        let again = app.send(create(app)).await;
        assert!(again.replayed, "{}", again.raw);
        assert_eq!(again.assert_status(201)["id"], shop.get());
    }
    // B sends the requests of shard 1 to A now, reads included.
    assert_eq!(
        b.level(&y_merchant, y_sku, warehouse).await.0,
        7,
        "no retry decided again"
    );
    b.send(keyed(&b, "stock-y-3", 6)).await.assert_status(200);
    assert_eq!(a.level(&y_merchant, y_sku, warehouse).await.0, 6);
    assert_eq!(shard_holders(&b).await, [a.state().membership.id(); 2]);
    drop(b);
}
