//! The order list by SKU and by state, on both backends: a SKU with more lines than the store
//! reads through its lines' index is listed by another plan (checked per order along the shop's
//! walk), and both plans, like every state's index, list exactly the orders that match, newest
//! first, page after page.
#![allow(clippy::unwrap_used)]

use crate::support::{Backend, Database};
use miaodan_domain::catalog::Text;
use miaodan_domain::geo::Adcode;
use miaodan_domain::inventory::Allocation;
use miaodan_domain::orders::{Address, Order, OrderLine, OrderState};
use miaodan_domain::shard::Effect;
use miaodan_domain::{BuyerId, CheckoutId, Fen, OrderId, Quantity, ShopId, SkuId, Timestamp, WarehouseId};
use miaodan_store::Store;
use miaodan_store::records::OrderFilter;

both_backends!(lists_by_sku_and_state_hold_exactly_the_matching_orders_whatever_the_plan);

/// More lines than the store reads through a SKU's index (2 000).
const HOT_SKU_ORDERS: i64 = 2_100;
const HOT: i64 = 7;
const RARE: i64 = 8;
/// A SKU of the shop nobody bought.
const UNSOLD: i64 = 9;

/// Order `n` of shop 1 (or of shop 2 every 7th): SKU 8 every 300th order, SKU 7 otherwise;
/// cancelled every 11th, paid every 13th, shipped every 17th, unpaid otherwise. Creation times
/// repeat every 50 orders, so the list's tie-break on id matters.
fn order(n: i64) -> Order {
    let sku = if n % 300 == 0 { RARE } else { HOT };
    let state = match n {
        n if n % 11 == 0 => OrderState::Cancelled,
        n if n % 13 == 0 => OrderState::Paid,
        n if n % 17 == 0 => OrderState::Shipped,
        _ => OrderState::PendingPayment,
    };
    let created_at = Timestamp::from_unix_ms(1_795_395_600_000 + (n / 50) * 1_000);
    Order {
        id: OrderId::new(n).unwrap(),
        checkout: CheckoutId::new(n).unwrap(),
        shop: ShopId::new(if n % 7 == 0 { 2 } else { 1 }).unwrap(),
        buyer: BuyerId::new(1 + n % 5).unwrap(),
        lines: vec![OrderLine {
            sku: SkuId::new(sku).unwrap(),
            quantity: Quantity::new(1).unwrap(),
            unit_price: Fen::from_stored(1_000).unwrap(),
            allocations: vec![Allocation {
                warehouse: WarehouseId::new(10).unwrap(),
                quantity: 1,
            }],
        }],
        total: Fen::from_stored(1_000).unwrap(),
        address: Address {
            adcode: Adcode::from_stored(310_104_000_000),
            detail: Text::from_stored("1 Caoxi Road".into()),
        },
        state,
        version: 1,
        created_at,
        payment_due_at: created_at,
        paid_at: None,
        paid_by: None,
        cancelled_at: None,
        cancel_reason: None,
        flash_sale: None,
        promise: None,
    }
}

/// Every order `filter` lists, read in pages of 40 (each after the last of the page before).
async fn walk(store: &Store, filter: OrderFilter) -> Vec<i64> {
    let mut listed = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .orders(&OrderFilter {
                after,
                limit: 40,
                ..filter.clone()
            })
            .await
            .unwrap();
        listed.extend(page.iter().map(|o| o.id.get()));
        match page.last() {
            Some(last) if page.len() == 40 => after = Some((last.created_at, last.id)),
            _ => return listed,
        }
    }
}

/// The ids of `orders` matching `keep`, newest first (by creation, then id).
fn newest_first(orders: &[Order], keep: impl Fn(&Order) -> bool) -> Vec<i64> {
    let mut kept: Vec<&Order> = orders.iter().filter(|o| keep(o)).collect();
    kept.sort_by_key(|o| std::cmp::Reverse((o.created_at, o.id)));
    kept.iter().map(|o| o.id.get()).collect()
}

async fn lists_by_sku_and_state_hold_exactly_the_matching_orders_whatever_the_plan(backend: Backend) {
    let db = Database::fresh(backend).await;
    let store = db.open().await;
    let orders: Vec<Order> = (1..=HOT_SKU_ORDERS).map(order).collect();
    let effects: Vec<Effect> = orders
        .iter()
        .map(|o| Effect::OrderCreated {
            order: o.clone(),
            request: None,
        })
        .collect();
    let mut writer = store.writer(0).await.unwrap();
    writer
        .commit_batch(&effects, &[], Timestamp::from_unix_ms(1_700_000_000_000))
        .await
        .unwrap();

    let shop = ShopId::new(1).unwrap();
    let of_shop = |o: &Order| o.shop == shop;
    let has = |sku: i64| move |o: &Order| o.lines.iter().any(|l| l.sku.get() == sku);
    let base = OrderFilter {
        shop: Some(shop),
        ..OrderFilter::default()
    };
    for sku in [HOT, RARE, UNSOLD] {
        let filter = OrderFilter {
            sku: Some(SkuId::new(sku).unwrap()),
            ..base.clone()
        };
        let expected = newest_first(&orders, |o| of_shop(o) && has(sku)(o));
        assert_eq!(walk(&store, filter.clone()).await, expected, "SKU {sku}");
        for state in OrderState::ALL {
            let filter = OrderFilter {
                state: Some(state),
                ..filter.clone()
            };
            let expected = newest_first(&orders, |o| of_shop(o) && has(sku)(o) && o.state == state);
            assert_eq!(walk(&store, filter).await, expected, "SKU {sku} in state {state:?}");
        }
    }
    let hot_lines = orders.iter().filter(|o| has(HOT)(o)).count();
    assert!(
        hot_lines > 2_000,
        "the hot SKU's {hot_lines} lines are read by the other plan"
    );
    for state in OrderState::ALL {
        let filter = OrderFilter {
            state: Some(state),
            ..base.clone()
        };
        let expected = newest_first(&orders, |o| of_shop(o) && o.state == state);
        assert_eq!(walk(&store, filter).await, expected, "state {state:?}");
    }
    let buyer = BuyerId::new(3).unwrap();
    let filter = OrderFilter {
        buyer: Some(buyer),
        sku: Some(SkuId::new(RARE).unwrap()),
        ..base
    };
    let expected = newest_first(&orders, |o| of_shop(o) && o.buyer == buyer && has(RARE)(o));
    assert_eq!(walk(&store, filter).await, expected);
}
