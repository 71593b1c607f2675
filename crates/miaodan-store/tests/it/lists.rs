//! Keyset pages on both backends: a walk over the pages of a listing, whatever their size,
//! reads every row once, in the listing's order — also where many rows share a timestamp, and
//! in the package center, which merges two tables and filters one of them by content.
#![allow(clippy::unwrap_used)]

use crate::support::{Backend, Database};
use miaodan_domain::ids::ShipmentId;
use miaodan_domain::logistics::{Alert, AlertKey, AlertLevel, AlertRule};
use miaodan_domain::shard::{Effect, ShortageNotice};
use miaodan_domain::{OrderId, ShopId, SkuId, Timestamp, WarehouseId};
use miaodan_store::records::{AlertFilter, AlertKinds, AlertPosition, AlertWorkFilter, Keyset};
use miaodan_store::{PackageCenterEntry, Store};

both_backends!(
    package_center_pages_see_every_entry_once_in_one_order,
    a_page_of_open_entries_is_full_however_many_closed_notices_lie_between,
);

/// 2026-11-23 09:00 in Asia/Shanghai.
const T0: i64 = 1_795_395_600_000;

fn at(minutes: i64) -> Timestamp {
    Timestamp::from_unix_ms(T0 + minutes * 60_000)
}

fn shop() -> ShopId {
    ShopId::new(1).unwrap()
}

fn alert(shipment: i64, rule: AlertRule, raised: i64, open: bool) -> Alert {
    let shipment_id = ShipmentId::new(shipment).unwrap();
    Alert {
        key: AlertKey {
            shipment: shipment_id,
            rule,
            occurrence: 1,
        },
        shop: shop(),
        order: OrderId::new(100 + shipment).unwrap(),
        shipment: shipment_id,
        rule,
        level: AlertLevel::Warning,
        since: at(0),
        raised_at: at(raised),
        escalated_at: None,
        resolved_at: (!open).then(|| at(raised + 1)),
        deadline: at(raised + 60),
        notify_buyer: false,
        work: miaodan_domain::logistics::AlertWork::default(),
    }
}

fn notice(order: i64, warehouse: i64, sku: i64, noticed: i64, open: bool) -> ShortageNotice {
    ShortageNotice {
        shop: shop(),
        order: OrderId::new(order).unwrap(),
        warehouse: WarehouseId::new(warehouse).unwrap(),
        sku: SkuId::new(sku).unwrap(),
        redispatched_to: if open {
            vec![]
        } else {
            vec![WarehouseId::new(99).unwrap()]
        },
        at: at(noticed),
    }
}

/// Every entry `filter` lists, read in pages of `limit`, each page after the last entry of
/// the page before.
async fn walk(store: &Store, filter: &AlertFilter, limit: i64) -> Vec<PackageCenterEntry> {
    let mut entries = Vec::new();
    let mut after: Option<AlertPosition> = None;
    loop {
        let page = store
            .package_center(
                filter,
                Keyset {
                    after: after.clone(),
                    limit,
                },
            )
            .await
            .unwrap();
        assert!(page.len() as i64 <= limit);
        after = page.last().map(PackageCenterEntry::position);
        let full = page.len() as i64 == limit;
        entries.extend(page);
        if !full {
            return entries;
        }
    }
}

fn at_of(entry: &PackageCenterEntry) -> Timestamp {
    match entry {
        PackageCenterEntry::Sla(alert) => alert.raised_at,
        PackageCenterEntry::Shortage(notice) => notice.at,
    }
}

fn is_open(entry: &PackageCenterEntry) -> bool {
    match entry {
        PackageCenterEntry::Sla(alert) => alert.is_open(),
        PackageCenterEntry::Shortage(notice) => notice.redispatched_to.is_empty(),
    }
}

async fn store_with(backend: Backend, alerts: Vec<Alert>, notices: Vec<ShortageNotice>) -> (Database, Store) {
    let db = Database::fresh(backend).await;
    let store = db.open().await;
    let mut effects: Vec<Effect> = alerts.into_iter().map(Effect::AlertSaved).collect();
    effects.extend(notices.into_iter().map(Effect::ShortageNoticed));
    store
        .writer(0)
        .await
        .unwrap()
        .commit_batch(
            &effects,
            &[],
            miaodan_domain::Timestamp::from_unix_ms(1_700_000_000_000),
        )
        .await
        .unwrap();
    (db, store)
}

async fn package_center_pages_see_every_entry_once_in_one_order(backend: Backend) {
    // Alerts and notices at one instant (minute 200) and a few apart; keys whose text order is
    // not their numeric one (shipment 10 before 9); open and resolved ones.
    let rules = [AlertRule::NotPickedUp, AlertRule::Stalled, AlertRule::PromiseAtRisk];
    let mut alerts = Vec::new();
    for shipment in 1..=12 {
        let rule = rules[shipment as usize % rules.len()];
        let raised = if shipment % 4 == 0 { 190 + shipment } else { 200 };
        alerts.push(alert(shipment, rule, raised, shipment % 3 != 0));
    }
    let mut notices = Vec::new();
    for (i, order) in [7, 7, 8, 30, 300].into_iter().enumerate() {
        let noticed = if i == 3 { 150 } else { 200 };
        notices.push(notice(order, 10 + i as i64 % 2, 5 + i as i64, noticed, i % 2 == 0));
    }
    let (_db, store) = store_with(backend, alerts.clone(), notices.clone()).await;
    for (open_only, kinds) in [
        (false, AlertKinds::All),
        (true, AlertKinds::All),
        (false, AlertKinds::Sla(AlertRule::Stalled)),
        (true, AlertKinds::Sla(AlertRule::NotPickedUp)),
        (false, AlertKinds::Shortages),
        (true, AlertKinds::Shortages),
    ] {
        let filter = AlertFilter {
            shop: shop(),
            open_only,
            kinds,
            level: None,
            work: AlertWorkFilter::default(),
        };
        let whole = walk(&store, &filter, 1_000).await;
        let expected_len = match kinds {
            AlertKinds::All => {
                alerts.iter().filter(|a| !open_only || a.is_open()).count()
                    + notices
                        .iter()
                        .filter(|n| !open_only || n.redispatched_to.is_empty())
                        .count()
            }
            AlertKinds::Sla(rule) => alerts
                .iter()
                .filter(|a| a.rule == rule && (!open_only || a.is_open()))
                .count(),
            AlertKinds::Shortages => notices
                .iter()
                .filter(|n| !open_only || n.redispatched_to.is_empty())
                .count(),
        };
        assert_eq!(whole.len(), expected_len, "{kinds:?}, open only: {open_only}");
        assert!(whole.iter().all(|e| !open_only || is_open(e)));
        // Newest first; at one instant SLA alerts before notices.
        let rank = |e: &PackageCenterEntry| {
            (
                std::cmp::Reverse(at_of(e)),
                matches!(e, PackageCenterEntry::Shortage(_)),
            )
        };
        assert!(
            whole.windows(2).all(|pair| rank(&pair[0]) <= rank(&pair[1])),
            "{whole:?}"
        );
        for limit in 1..=5 {
            assert_eq!(walk(&store, &filter, limit).await, whole, "{kinds:?}, {limit} a page");
        }
    }
}

async fn a_page_of_open_entries_is_full_however_many_closed_notices_lie_between(backend: Backend) {
    // Forty resolved notices between two open ones, all at one instant.
    let mut notices: Vec<ShortageNotice> = (1..=40).map(|order| notice(order, 10, 5, 100, false)).collect();
    notices.push(notice(41, 10, 5, 100, true));
    notices.push(notice(1, 11, 5, 100, true));
    let (_db, store) = store_with(backend, vec![alert(1, AlertRule::Stalled, 50, true)], notices).await;
    let filter = AlertFilter {
        shop: shop(),
        open_only: true,
        kinds: AlertKinds::All,
        level: None,
        work: AlertWorkFilter::default(),
    };
    let first = store
        .package_center(&filter, Keyset { after: None, limit: 2 })
        .await
        .unwrap();
    let orders: Vec<i64> = first
        .iter()
        .map(|e| match e {
            PackageCenterEntry::Shortage(n) => n.order.get(),
            PackageCenterEntry::Sla(_) => 0,
        })
        .collect();
    assert_eq!(orders, vec![1, 41], "by order, then warehouse: {first:?}");
    let rest = walk(&store, &filter, 1).await;
    assert_eq!(rest.len(), 3);
    assert!(matches!(rest[2], PackageCenterEntry::Sla(_)));
}
