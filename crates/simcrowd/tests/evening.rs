//! The simulated crowd as its users rely on it: one seed, one evening, byte for byte; the file
//! reads back as written and refuses what is not the format by line; the labels are what the
//! spec asked for; and the honest crowd looks like people, not like the rings.

use miaodan_domain::geo::Adcode;
use miaodan_domain::risk::address_key;
use simcrowd::{CrowdSpec, Evening, Label, RingSpec, SaleSpec, Strategy, evening, read_jsonl, write_jsonl};
use std::collections::{BTreeMap, BTreeSet, HashMap};

const START_MS: i64 = 1_795_399_200_000;

fn spec(seed: u64) -> CrowdSpec {
    CrowdSpec {
        seed,
        honest_buyers: 2_000,
        rings: Strategy::ALL
            .iter()
            .map(|strategy| RingSpec {
                strategy: *strategy,
                accounts: 40,
            })
            .collect(),
        sale: SaleSpec {
            starts_at_ms: START_MS,
            units: 300,
            per_buyer_limit: 1,
        },
    }
}

fn jsonl(evening: &Evening) -> Vec<u8> {
    let mut out = Vec::new();
    write_jsonl(evening, &mut out).expect("writing to memory");
    out
}

fn strategy_of(evening: &Evening) -> HashMap<u64, Label> {
    evening.accounts.iter().map(|a| (a.buyer, a.label)).collect()
}

#[test]
fn the_same_seed_gives_byte_identical_jsonl_and_another_seed_does_not() {
    assert_eq!(jsonl(&evening(&spec(7))), jsonl(&evening(&spec(7))));
    assert_ne!(jsonl(&evening(&spec(7))), jsonl(&evening(&spec(8))));
}

#[test]
fn adding_a_ring_leaves_the_honest_crowd_as_it_was() {
    let alone = CrowdSpec {
        rings: Vec::new(),
        ..spec(7)
    };
    let honest_details = |e: &Evening| -> BTreeSet<(i64, String)> {
        let labels = strategy_of(e);
        e.taps
            .iter()
            .filter(|t| labels[&t.buyer] == Label::Honest)
            .map(|t| (t.at_ms, t.detail.clone()))
            .collect()
    };
    assert_eq!(honest_details(&evening(&alone)), honest_details(&evening(&spec(7))));
}

#[test]
fn written_then_read_gives_the_same_evening() {
    let drawn = evening(&spec(11));
    let read = read_jsonl(&jsonl(&drawn)[..]).expect("its own file reads");
    assert_eq!(read, drawn);
}

#[test]
fn a_malformed_line_is_refused_with_its_line_number() {
    let drawn = evening(&CrowdSpec {
        honest_buyers: 3,
        rings: Vec::new(),
        ..spec(1)
    });
    let text = String::from_utf8(jsonl(&drawn)).expect("UTF-8");
    let lines: Vec<&str> = text.lines().collect();
    let tap = lines
        .iter()
        .position(|l| l.contains("\"type\":\"tap\""))
        .expect("a tap line");
    let with = |at: usize, replacement: &str| {
        let mut edited: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        edited[at] = replacement.to_string();
        edited.join("\n")
    };
    let cases = [
        (with(tap, "{\"type\":\"tap\""), tap + 1, "not a JSON object"),
        (
            with(tap, &lines[tap].replace("\"ip\"", "\"mood\":1,\"ip\"")),
            tap + 1,
            "unknown field",
        ),
        (
            with(tap, &lines[tap].replace("\"tap\"", "\"order\"")),
            tap + 1,
            "unknown type",
        ),
        (
            with(tap, &lines[tap].replace("\"adcode\":\"", "\"adcode\":\"9")),
            tap + 1,
            "12 digits",
        ),
        (
            with(1, &lines[1].replace("\"type\":\"account\",", "")),
            2,
            "no \"type\"",
        ),
        (
            with(tap, &lines[tap].replace("\"buyer\":", "\"buyer\":9")),
            tap + 1,
            "before (or without) their account",
        ),
        (with(0, lines[1]), 2, "a second account line"),
        (with(2, lines[0]), 3, "a second sale line"),
    ];
    for (file, line, message) in cases {
        let error = read_jsonl(file.as_bytes()).expect_err("a malformed file is refused");
        assert_eq!(error.line, line, "{error}");
        assert!(error.message.contains(message), "{error} should say {message:?}");
    }
}

#[test]
fn taps_out_of_time_order_are_refused() {
    let drawn = evening(&CrowdSpec {
        honest_buyers: 50,
        rings: Vec::new(),
        ..spec(1)
    });
    let text = String::from_utf8(jsonl(&drawn)).expect("UTF-8");
    let mut lines: Vec<&str> = text.lines().collect();
    let last = lines.len() - 1;
    lines.swap(last - 1, last);
    let error = read_jsonl(lines.join("\n").as_bytes()).expect_err("out of order");
    assert_eq!(
        (error.line, error.message.contains("time order")),
        (last + 1, true),
        "{error}"
    );
}

#[test]
fn label_counts_match_the_spec() {
    let drawn = evening(&spec(3));
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for account in &drawn.accounts {
        *counts.entry(format!("{:?}", account.label)).or_default() += 1;
    }
    let mut expected: BTreeMap<String, usize> = Strategy::ALL
        .iter()
        .map(|s| (format!("{:?}", Label::Scalper(*s)), 40))
        .collect();
    expected.insert(format!("{:?}", Label::Honest), 2_000);
    assert_eq!(counts, expected);
    let buyers: BTreeSet<u64> = drawn.accounts.iter().map(|a| a.buyer).collect();
    assert_eq!(buyers.len(), drawn.accounts.len(), "buyer ids are distinct");
}

#[test]
fn honest_taps_spread_over_seconds_to_a_minute_and_every_ring_account_taps_beyond_the_limit() {
    let limit = 2;
    let drawn = evening(&CrowdSpec {
        sale: SaleSpec {
            per_buyer_limit: limit,
            ..spec(5).sale
        },
        ..spec(5)
    });
    let labels = strategy_of(&drawn);
    let honest: Vec<i64> = drawn
        .taps
        .iter()
        .filter(|t| labels[&t.buyer] == Label::Honest)
        .map(|t| t.at_ms - START_MS)
        .collect();
    let within_a_second = honest.iter().filter(|d| **d < 1_000).count();
    assert!(
        within_a_second * 100 < honest.len() * 50,
        "{within_a_second} of {} in the first second",
        honest.len()
    );
    assert!(within_a_second > 0);
    assert!(honest.iter().any(|d| *d > 20_000), "a long tail");
    let mut taps_per_buyer: HashMap<u64, u32> = HashMap::new();
    for tap in &drawn.taps {
        *taps_per_buyer.entry(tap.buyer).or_default() += 1;
    }
    let honest_retapping = drawn
        .accounts
        .iter()
        .filter(|a| a.label == Label::Honest && taps_per_buyer[&a.buyer] > 1)
        .count();
    assert!(
        (1..1_000).contains(&honest_retapping),
        "some honest buyers tap again: {honest_retapping}"
    );
    for account in drawn.accounts.iter().filter(|a| a.label != Label::Honest) {
        assert!(
            taps_per_buyer[&account.buyer] > limit,
            "{:?} taps and retries",
            account.label
        );
    }
    assert!(
        drawn.taps.windows(2).all(|w| w[0].at_ms <= w[1].at_ms),
        "taps in time order"
    );
}

#[test]
fn millisecond_bots_tap_at_the_start_on_a_regular_beat_from_new_accounts() {
    let drawn = evening(&spec(9));
    let labels = strategy_of(&drawn);
    let bot = Label::Scalper(Strategy::MillisecondBot);
    let first_taps: BTreeMap<u64, i64> = drawn
        .taps
        .iter()
        .rev()
        .filter(|t| labels[&t.buyer] == bot)
        .map(|t| (t.buyer, t.at_ms))
        .collect();
    assert!(first_taps.values().all(|at| (at - START_MS).abs() <= 5));
    for account in drawn.accounts.iter().filter(|a| a.label == bot) {
        assert!(START_MS - account.created_at_ms < 3 * 24 * 3_600_000);
    }
}

#[test]
fn every_address_is_in_a_known_division_and_the_address_ring_mostly_collides() {
    let drawn = evening(&spec(13));
    let labels = strategy_of(&drawn);
    let mut ring_keys: BTreeMap<u64, usize> = BTreeMap::new();
    let mut ring_details = BTreeSet::new();
    for tap in &drawn.taps {
        let adcode = Adcode::parse(&tap.adcode).unwrap_or_else(|| panic!("{} is a division", tap.adcode));
        if labels[&tap.buyer] == Label::Scalper(Strategy::AddressVariants) {
            *ring_keys.entry(address_key(adcode, &tap.detail).get()).or_default() += 1;
            ring_details.insert(tap.detail.clone());
        }
    }
    let ring_taps: usize = ring_keys.values().sum();
    let top_two: usize = {
        let mut sizes: Vec<usize> = ring_keys.values().copied().collect();
        sizes.sort_unstable_by(|a, b| b.cmp(a));
        sizes.iter().take(2).sum()
    };
    assert!(
        ring_details.len() > 10,
        "the ring writes its flat many ways: {ring_details:?}"
    );
    assert!(
        top_two * 100 >= ring_taps * 70,
        "most variants fold: {top_two} of {ring_taps}"
    );
    assert!(ring_keys.len() > 2, "and a few escape the normaliser");
}

#[test]
fn honest_buyers_share_carrier_prefixes_and_some_households_share_a_flat() {
    let drawn = evening(&spec(17));
    let labels = strategy_of(&drawn);
    let honest = drawn.taps.iter().filter(|t| labels[&t.buyer] == Label::Honest);
    let mut buyers_per_prefix: HashMap<String, BTreeSet<u64>> = HashMap::new();
    let mut buyers_per_flat: HashMap<u64, BTreeSet<u64>> = HashMap::new();
    let mut without_device = BTreeSet::new();
    for tap in honest {
        let prefix = tap.ip.rsplit_once('.').map(|(p, _)| p.to_string()).unwrap_or_default();
        buyers_per_prefix.entry(prefix).or_default().insert(tap.buyer);
        let adcode = Adcode::parse(&tap.adcode).expect("a division");
        buyers_per_flat
            .entry(address_key(adcode, &tap.detail).get())
            .or_default()
            .insert(tap.buyer);
        if tap.device.is_none() {
            without_device.insert(tap.buyer);
        }
    }
    assert!(
        buyers_per_prefix.values().any(|b| b.len() >= 10),
        "carrier NAT /24s are shared"
    );
    assert!(
        buyers_per_flat.values().any(|b| (2..=3).contains(&b.len())),
        "households share a flat"
    );
    assert!(!without_device.is_empty(), "some apps send no Device-Id");
}

#[test]
fn the_example_in_format_md_reads() {
    let doc = include_str!("../FORMAT.md");
    let example = doc
        .split("```jsonl\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("an example");
    let read = read_jsonl(example.as_bytes()).unwrap_or_else(|e| panic!("FORMAT.md's example: {e}"));
    assert_eq!((read.accounts.len(), read.taps.len()), (2, 2));
    assert_eq!(read.accounts[1].label, Label::Scalper(Strategy::MillisecondBot));
}
