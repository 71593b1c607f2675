//! Specification of the transaction network: buyers joined by a shared device, address or
//! credential into clusters that merge transitively, counted per key, bounded in memory with
//! the oldest uses forgotten first. Properties: below the bounds a cluster is exactly the buyers
//! a search over the uses reaches; at the bounds nothing grows past them.

use miaodan_domain::BuyerId;
use miaodan_domain::geo::Adcode;
use miaodan_domain::risk::{LinkKey, Links, address_key};

fn buyer(n: i64) -> BuyerId {
    BuyerId::new(n).expect("positive")
}

fn flat(detail: &str) -> LinkKey {
    LinkKey::Address(address_key(Adcode::parse("330110000000").expect("余杭区"), detail))
}

fn roomy() -> Links {
    Links::with_capacity(1_000, 1_000)
}

#[test]
fn an_unseen_buyer_is_a_cluster_of_one() {
    let links = roomy();
    assert_eq!(links.cluster_size(buyer(7)), 1);
    assert_eq!(links.cluster_members(buyer(7), 10), vec![buyer(7)]);
    assert_eq!(links.buyers_of(LinkKey::Device(1)), 0);
}

#[test]
fn clusters_merge_transitively_across_kinds_of_key() {
    let mut links = roomy();
    assert_eq!(links.link(buyer(1), LinkKey::Device(10)), 1);
    assert_eq!(links.link(buyer(2), LinkKey::Device(10)), 2);
    assert_eq!(links.link(buyer(2), flat("科技路88号3-2-501")), 2);
    assert_eq!(links.link(buyer(3), flat("科技路八十八号三栋二单元五零一")), 3);
    for b in [1, 2, 3] {
        assert_eq!(links.cluster_size(buyer(b)), 3, "buyer {b}");
    }
    assert_eq!(links.cluster_members(buyer(1), 10), vec![buyer(1), buyer(2), buyer(3)]);
    assert_eq!(links.cluster_members(buyer(3), 2), vec![buyer(1), buyer(2)]);
}

#[test]
fn two_separate_clusters_join_when_a_key_bridges_them() {
    let mut links = roomy();
    links.link(buyer(1), LinkKey::Device(10));
    links.link(buyer(2), LinkKey::Device(10));
    links.link(buyer(3), LinkKey::Credential(20));
    links.link(buyer(4), LinkKey::Credential(20));
    links.link(buyer(5), LinkKey::Credential(20));
    assert_eq!((links.cluster_size(buyer(1)), links.cluster_size(buyer(5))), (2, 3));
    assert_eq!(links.link(buyer(2), LinkKey::Credential(20)), 5);
    assert_eq!(links.cluster_size(buyer(4)), 5);
}

#[test]
fn buyers_sharing_nothing_stay_apart() {
    let mut links = roomy();
    links.link(buyer(1), LinkKey::Device(10));
    links.link(buyer(2), LinkKey::Device(11));
    links.link(buyer(3), LinkKey::Credential(10));
    for b in [1, 2, 3] {
        assert_eq!(links.cluster_size(buyer(b)), 1, "buyer {b}");
    }
}

#[test]
fn buyers_of_counts_distinct_buyers_once_each() {
    let mut links = roomy();
    for _ in 0..3 {
        links.link(buyer(1), LinkKey::Device(10));
    }
    links.link(buyer(2), LinkKey::Device(10));
    links.link(buyer(2), LinkKey::Device(10));
    links.link(buyer(3), LinkKey::Credential(10));
    assert_eq!(links.buyers_of(LinkKey::Device(10)), 2);
    assert_eq!(links.buyers_of(LinkKey::Credential(10)), 1);
    assert_eq!(
        links.cluster_size(buyer(1)),
        2,
        "repeated uses do not inflate a cluster"
    );
}

#[test]
fn the_same_uses_in_the_same_order_give_the_same_network() {
    let build = || {
        let mut links = Links::with_capacity(64, 64);
        let sizes: Vec<u32> = (1..=500)
            .map(|n: i64| {
                let key = match n % 3 {
                    0 => LinkKey::Device((n % 17) as u64),
                    1 => LinkKey::Credential((n % 29) as u64),
                    _ => LinkKey::Device((n % 41) as u64 + 100),
                };
                links.link(buyer(n % 97 + 1), key)
            })
            .collect();
        let members: Vec<Vec<BuyerId>> = (1..=97).map(|n| links.cluster_members(buyer(n), 100)).collect();
        (sizes, members)
    };
    assert_eq!(build(), build());
}

#[test]
fn when_full_the_oldest_uses_are_forgotten_and_the_bounds_hold() {
    let mut links = Links::with_capacity(10, 10);
    for n in 1..=100 {
        links.link(buyer(n), LinkKey::Device(n as u64));
        assert!(links.remembered_buyers() <= 10, "after buyer {n}");
        assert!(links.remembered_keys() <= 10, "after buyer {n}");
    }
    assert_eq!(links.buyers_of(LinkKey::Device(1)), 0, "the first device is forgotten");
    assert_eq!(
        links.buyers_of(LinkKey::Device(100)),
        1,
        "the newest device is remembered"
    );
}

#[test]
fn a_cluster_held_by_a_forgotten_key_falls_apart_and_a_recent_one_stays() {
    let mut links = Links::with_capacity(6, 6);
    // An old ring on device 1, then a recent ring on device 2.
    links.link(buyer(1), LinkKey::Device(1));
    links.link(buyer(2), LinkKey::Device(1));
    links.link(buyer(3), LinkKey::Device(2));
    links.link(buyer(4), LinkKey::Device(2));
    assert_eq!(links.cluster_size(buyer(2)), 2);
    // Strangers tapping push the old ring out.
    for n in 10..14 {
        links.link(buyer(n), LinkKey::Credential(n as u64));
    }
    assert_eq!(links.cluster_size(buyer(1)), 1);
    assert_eq!(links.cluster_size(buyer(2)), 1);
    assert_eq!(links.buyers_of(LinkKey::Device(1)), 0);
    assert_eq!(links.cluster_size(buyer(4)), 2, "the recent ring is still one cluster");
    assert_eq!(links.cluster_members(buyer(3), 10), vec![buyer(3), buyer(4)]);
}

#[test]
fn a_large_ring_is_counted_exactly() {
    let mut links = Links::with_capacity(10_000, 10_000);
    let mut last = 0;
    for n in 1..=2_000 {
        last = links.link(buyer(n), LinkKey::Device((n % 3) as u64));
        links.link(buyer(n), LinkKey::Credential(7));
    }
    assert_eq!(
        last, 2_000,
        "the last buyer joins through the device the others share by credential"
    );
    assert_eq!(links.cluster_size(buyer(1)), 2_000);
    assert_eq!(links.buyers_of(LinkKey::Credential(7)), 2_000);
}

/// A use as drawn: buyer 1–30, one of three kinds of key, key 0–9.
fn uses() -> impl proptest::strategy::Strategy<Value = Vec<(i64, u8, u64)>> {
    proptest::collection::vec((1i64..=30, 0u8..3, 0u64..10), 0..120)
}

fn key_of(kind: u8, n: u64) -> LinkKey {
    match kind {
        0 => LinkKey::Device(n),
        1 => LinkKey::Credential(n),
        _ => LinkKey::Address(address_key(
            Adcode::parse("330110000000").expect("余杭区"),
            &format!("科技路{n}号"),
        )),
    }
}

/// The oracle: buyers reachable from `start` through shared keys, by search over every use.
fn reachable(uses: &[(i64, u8, u64)], start: i64) -> std::collections::BTreeSet<i64> {
    let mut seen = std::collections::BTreeSet::from([start]);
    let mut frontier = vec![start];
    while let Some(buyer) = frontier.pop() {
        for (_, kind, n) in uses.iter().filter(|(b, _, _)| *b == buyer) {
            for (other, _, _) in uses.iter().filter(|(_, k, m)| k == kind && m == n) {
                if seen.insert(*other) {
                    frontier.push(*other);
                }
            }
        }
    }
    seen
}

proptest::proptest! {
    #[test]
    fn below_the_bounds_clusters_are_exactly_the_connected_buyers(uses in uses()) {
        let mut links = roomy();
        for (b, kind, n) in &uses {
            links.link(buyer(*b), key_of(*kind, *n));
        }
        for b in 1..=30 {
            let expected = reachable(&uses, b);
            proptest::prop_assert_eq!(links.cluster_size(buyer(b)) as usize, expected.len(), "buyer {}", b);
            let members: Vec<i64> = links.cluster_members(buyer(b), 100).iter().map(|m| m.get()).collect();
            proptest::prop_assert_eq!(members, expected.into_iter().collect::<Vec<_>>());
        }
        for kind in 0..3 {
            for n in 0..10 {
                let distinct: std::collections::BTreeSet<i64> =
                    uses.iter().filter(|(_, k, m)| *k == kind && *m == n).map(|(b, _, _)| *b).collect();
                proptest::prop_assert_eq!(links.buyers_of(key_of(kind, n)) as usize, distinct.len());
            }
        }
    }

    #[test]
    fn at_the_bounds_the_network_never_holds_more_than_it_may(uses in uses(), max_buyers in 1usize..8, max_keys in 1usize..8) {
        let mut links = Links::with_capacity(max_buyers, max_keys);
        for (b, kind, n) in &uses {
            let size = links.link(buyer(*b), key_of(*kind, *n));
            proptest::prop_assert!(links.remembered_buyers() <= max_buyers);
            proptest::prop_assert!(links.remembered_keys() <= max_keys);
            proptest::prop_assert!(size as usize <= links.remembered_buyers());
            proptest::prop_assert!(links.buyers_of(key_of(*kind, *n)) >= 1, "the use just made is remembered");
        }
    }
}
