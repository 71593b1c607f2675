//! The draws every part of the crowd shares, so that honest buyers and rings that imitate them
//! come out of one distribution: human reaction times, ids, devices, credentials, IPs.

use rand::Rng;
use rand::rngs::StdRng;
use std::collections::HashSet;

pub const SECOND_MS: i64 = 1_000;
pub const DAY_MS: i64 = 24 * 60 * 60 * SECOND_MS;

/// Human reaction after the start, in ms, at each percentile 0, 1, …, 100: a log-normal with a
/// median of 2 s and σ = 1.1 (so p99 ≈ 26 s), floored at 100 ms and cut at a minute. A table
/// rather than `exp`/`ln` so that the same seed gives the same milliseconds on every platform.
const REACTION_PERCENTILES_MS: [i64; 101] = [
    100, 155, 209, 253, 292, 328, 362, 394, 426, 458, 488, 519, 549, 579, 609, 640, 670, 700, 731, 761, 792, 824, 855,
    887, 920, 952, 986, 1019, 1053, 1088, 1123, 1159, 1196, 1233, 1271, 1309, 1348, 1388, 1429, 1471, 1514, 1557, 1602,
    1647, 1694, 1742, 1791, 1841, 1893, 1946, 2000, 2056, 2113, 2173, 2234, 2296, 2361, 2428, 2497, 2569, 2643, 2719,
    2799, 2881, 2967, 3056, 3148, 3245, 3345, 3451, 3561, 3676, 3797, 3925, 4059, 4200, 4350, 4508, 4677, 4856, 5048,
    5253, 5474, 5713, 5972, 6254, 6563, 6905, 7284, 7709, 8190, 8741, 9381, 10140, 11061, 12213, 13721, 15832, 19149,
    25845, 60000,
];

/// A human's delay from seeing the sale open to the tap landing.
pub fn human_reaction_ms(rng: &mut StdRng) -> i64 {
    let percentile = rng.random_range(0..100);
    let (low, high) = (
        REACTION_PERCENTILES_MS[percentile],
        REACTION_PERCENTILES_MS[percentile + 1],
    );
    rng.random_range(low..high)
}

fn hex(rng: &mut StdRng, chars: usize) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    (0..chars)
        .map(|_| char::from(DIGITS[rng.random_range(0..16)]))
        .collect()
}

/// A `Device-Id` as apps send it: 16 hex digits.
pub fn device_id(rng: &mut StdRng) -> String {
    hex(rng, 16)
}

/// A payment credential's token (a card or a wallet), one shape for everyone.
pub fn credential(rng: &mut StdRng) -> String {
    format!("cred_{}", hex(rng, 16))
}

/// `count` distinct buyer ids, random 8-digit numbers: an id says nothing about its account.
pub fn buyer_ids(count: usize, rng: &mut StdRng) -> Vec<u64> {
    let mut seen = HashSet::with_capacity(count);
    let mut ids = Vec::with_capacity(count);
    while ids.len() < count {
        let id = rng.random_range(10_000_000..100_000_000u64);
        if seen.insert(id) {
            ids.push(id);
        }
    }
    ids
}

/// The first two octets of mobile carriers' NAT ranges: thousands of phones share each /24.
const CARRIER_NETWORKS: &[[u8; 2]] = &[
    [112, 96],
    [117, 136],
    [223, 104],
    [39, 144],
    [111, 55],
    [183, 192],
    [120, 229],
    [221, 178],
    [36, 112],
    [113, 87],
];
/// Home broadband: a /24 is a neighbourhood, rarely shared by two buyers of one sale.
const BROADBAND_NETWORKS: &[[u8; 2]] = &[[101, 86], [114, 250], [125, 119], [58, 33], [180, 164], [218, 75]];
/// Cloud providers' ranges, where scripts run.
const DATACENTER_NETWORKS: &[[u8; 2]] = &[[47, 96], [47, 98], [121, 40], [120, 55], [119, 29], [139, 196]];

/// How many carrier-NAT /24s the evening's mobile buyers share.
const CARRIER_PREFIXES: usize = 48;
/// How many datacenter /24s the evening's scripts run in.
const DATACENTER_PREFIXES: usize = 6;

/// The network around the sale: the shared NAT and datacenter prefixes.
pub struct World {
    carrier: Vec<[u8; 3]>,
    datacenter: Vec<[u8; 3]>,
}

fn prefixes(networks: &[[u8; 2]], count: usize, rng: &mut StdRng) -> Vec<[u8; 3]> {
    (0..count)
        .map(|_| {
            let [a, b] = networks[rng.random_range(0..networks.len())];
            [a, b, rng.random_range(0..=255)]
        })
        .collect()
}

fn in_prefix([a, b, c]: [u8; 3], rng: &mut StdRng) -> String {
    format!("{a}.{b}.{c}.{}", rng.random_range(1..=254))
}

impl World {
    pub fn new(rng: &mut StdRng) -> World {
        World {
            carrier: prefixes(CARRIER_NETWORKS, CARRIER_PREFIXES, rng),
            datacenter: prefixes(DATACENTER_NETWORKS, DATACENTER_PREFIXES, rng),
        }
    }

    /// One of the evening's carrier-NAT /24s.
    pub fn carrier_prefix(&self, rng: &mut StdRng) -> [u8; 3] {
        self.carrier[rng.random_range(0..self.carrier.len())]
    }

    /// An address behind a carrier's NAT.
    pub fn mobile_ip(&self, rng: &mut StdRng) -> String {
        in_prefix(self.carrier_prefix(rng), rng)
    }

    /// An address in `prefix`.
    pub fn ip_in(&self, prefix: [u8; 3], rng: &mut StdRng) -> String {
        in_prefix(prefix, rng)
    }

    /// A home broadband address.
    pub fn broadband_ip(&self, rng: &mut StdRng) -> String {
        let [a, b] = BROADBAND_NETWORKS[rng.random_range(0..BROADBAND_NETWORKS.len())];
        in_prefix([a, b, rng.random_range(0..=255)], rng)
    }

    /// A cloud server's address.
    pub fn datacenter_ip(&self, rng: &mut StdRng) -> String {
        in_prefix(self.datacenter[rng.random_range(0..self.datacenter.len())], rng)
    }

    /// Where a person taps from: mostly a phone on a carrier, else home Wi-Fi.
    pub fn person_ip(&self, rng: &mut StdRng) -> String {
        if chance(rng, 60) {
            self.mobile_ip(rng)
        } else {
            self.broadband_ip(rng)
        }
    }
}

/// Per cent as a probability, without float arithmetic in the callers.
pub fn chance(rng: &mut StdRng, percent: u32) -> bool {
    rng.random_range(0..100) < percent
}
