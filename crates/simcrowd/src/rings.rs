//! Scalper rings, one function per strategy. Every ring account taps at least as often as the
//! sale allows and retries as if refused; what a strategy shares or how it times its taps is the
//! only thing that sets it apart from the honest crowd.

use crate::addresses::{self, Flat};
use crate::draw::{self, DAY_MS, World, chance};
use crate::{CrowdSpec, Draft, DraftTap, Label, RingSpec, Strategy};
use rand::Rng;
use rand::rngs::StdRng;
use std::ops::Range;

pub fn ring(spec: &CrowdSpec, ring: RingSpec, world: &World, rng: &mut StdRng) -> Vec<Draft> {
    let accounts = ring.accounts as usize;
    let members: Vec<(Age, Identity, Timing)> = match ring.strategy {
        Strategy::SharedDevice => shared_device(spec, accounts, world, rng),
        Strategy::AddressVariants => address_variants(spec, accounts, world, rng),
        Strategy::SharedCredential => shared_credential(spec, accounts, world, rng),
        Strategy::MillisecondBot => millisecond_bot(spec, accounts, world, rng),
        Strategy::HumanLikeBot => human_like_bot(spec, accounts, world, rng),
    };
    members
        .into_iter()
        .map(|(age, identity, timing)| draft(spec, ring.strategy, age, identity, timing, rng))
        .collect()
}

/// An account's history before the sale.
struct Age {
    created_at_ms: i64,
    orders_before: u32,
    refunds_before: u32,
}

/// What an account's taps carry.
struct Identity {
    device: Option<String>,
    ip: String,
    credential: Option<String>,
    flat: Flat,
    detail: String,
}

/// When an account taps: its first tap, then retries `gap_ms` apart.
struct Timing {
    first_at_ms: i64,
    gap_ms: Range<i64>,
    retries: Range<u32>,
}

fn draft(
    spec: &CrowdSpec,
    strategy: Strategy,
    age: Age,
    identity: Identity,
    timing: Timing,
    rng: &mut StdRng,
) -> Draft {
    let taps = spec.sale.per_buyer_limit.max(1) + rng.random_range(timing.retries);
    let mut at_ms = timing.first_at_ms;
    let taps = (0..taps)
        .map(|_| {
            let tap = DraftTap {
                at_ms,
                device: identity.device.clone(),
                ip: identity.ip.clone(),
                credential: identity.credential.clone(),
                adcode: identity.flat.district.adcode.to_string(),
                detail: identity.detail.clone(),
            };
            at_ms += rng.random_range(timing.gap_ms.clone());
            tap
        })
        .collect();
    Draft {
        created_at_ms: age.created_at_ms,
        orders_before: age.orders_before,
        refunds_before: age.refunds_before,
        label: Label::Scalper(strategy),
        taps,
    }
}

/// Accounts registered in one batch some weeks before, with a few orders to look used.
fn batch_registered(spec: &CrowdSpec, rng: &mut StdRng) -> impl FnMut(&mut StdRng) -> Age + use<> {
    let batch_at = spec.sale.starts_at_ms - rng.random_range(30 * DAY_MS..200 * DAY_MS);
    move |rng| Age {
        created_at_ms: batch_at + rng.random_range(0..10 * DAY_MS),
        orders_before: rng.random_range(0..=4),
        refunds_before: 0,
    }
}

/// A stranger's own flat, written as anyone would.
fn own_flat(rng: &mut StdRng) -> (Flat, String) {
    let flat = Flat::draw(rng);
    let detail = addresses::honest_detail(&flat, rng);
    (flat, detail)
}

/// A phone farm: many accounts on a few phones on one or a few mobile /24s, an auto-clicker.
fn shared_device(spec: &CrowdSpec, accounts: usize, world: &World, rng: &mut StdRng) -> Vec<(Age, Identity, Timing)> {
    let devices: Vec<String> = (0..(accounts / 25).clamp(1, 5)).map(|_| draw::device_id(rng)).collect();
    let prefixes: Vec<[u8; 3]> = (0..rng.random_range(1..=3))
        .map(|_| world.carrier_prefix(rng))
        .collect();
    let mut age = batch_registered(spec, rng);
    (0..accounts)
        .map(|_| {
            let (flat, detail) = own_flat(rng);
            let prefix = prefixes[rng.random_range(0..prefixes.len())];
            let identity = Identity {
                device: Some(devices[rng.random_range(0..devices.len())].clone()),
                ip: world.ip_in(prefix, rng),
                credential: (!chance(rng, 15)).then(|| draw::credential(rng)),
                flat,
                detail,
            };
            let timing = Timing {
                first_at_ms: spec.sale.starts_at_ms + rng.random_range(30..400),
                gap_ms: 150..400,
                retries: 1..4,
            };
            (age(rng), identity, timing)
        })
        .collect()
}

/// Practised people tapping by hand, fast: their reaction is a fraction of a crowd's.
fn practised_timing(spec: &CrowdSpec, rng: &mut StdRng) -> Timing {
    Timing {
        first_at_ms: spec.sale.starts_at_ms + rng.random_range(80..1_500),
        gap_ms: 300..1_500,
        retries: 1..4,
    }
}

/// One or two flats, each written a new way by every account.
fn address_variants(
    spec: &CrowdSpec,
    accounts: usize,
    world: &World,
    rng: &mut StdRng,
) -> Vec<(Age, Identity, Timing)> {
    let flats: Vec<Flat> = (0..rng.random_range(1..=2)).map(|_| Flat::draw(rng)).collect();
    let mut age = batch_registered(spec, rng);
    (0..accounts)
        .map(|_| {
            let flat = flats[rng.random_range(0..flats.len())];
            let identity = Identity {
                device: (!chance(rng, 20)).then(|| draw::device_id(rng)),
                ip: world.person_ip(rng),
                credential: Some(draw::credential(rng)),
                detail: addresses::ring_variant(&flat, rng),
                flat,
            };
            (age(rng), identity, practised_timing(spec, rng))
        })
        .collect()
}

/// One or two cards pay for every account; everything else is each account's own.
fn shared_credential(
    spec: &CrowdSpec,
    accounts: usize,
    world: &World,
    rng: &mut StdRng,
) -> Vec<(Age, Identity, Timing)> {
    let credentials: Vec<String> = (0..rng.random_range(1..=2)).map(|_| draw::credential(rng)).collect();
    let mut age = batch_registered(spec, rng);
    (0..accounts)
        .map(|_| {
            let (flat, detail) = own_flat(rng);
            let identity = Identity {
                device: (!chance(rng, 10)).then(|| draw::device_id(rng)),
                ip: world.person_ip(rng),
                credential: Some(credentials[rng.random_range(0..credentials.len())].clone()),
                flat,
                detail,
            };
            (age(rng), identity, practised_timing(spec, rng))
        })
        .collect()
}

/// A script on cloud servers: accounts opened in the last days, the first tap within a few ms
/// of the start (a little early too: it aims at the start), then a fixed beat.
fn millisecond_bot(spec: &CrowdSpec, accounts: usize, world: &World, rng: &mut StdRng) -> Vec<(Age, Identity, Timing)> {
    let beat_ms = rng.random_range(10..50);
    (0..accounts)
        .map(|_| {
            let (flat, detail) = own_flat(rng);
            let age = Age {
                created_at_ms: spec.sale.starts_at_ms - rng.random_range(60_000..3 * DAY_MS),
                orders_before: 0,
                refunds_before: 0,
            };
            let identity = Identity {
                device: (!chance(rng, 60)).then(|| draw::device_id(rng)),
                ip: world.datacenter_ip(rng),
                credential: Some(draw::credential(rng)),
                flat,
                detail,
            };
            let timing = Timing {
                first_at_ms: spec.sale.starts_at_ms + rng.random_range(-3..=5),
                gap_ms: beat_ms - 1..beat_ms + 2,
                retries: 3..7,
            };
            (age, identity, timing)
        })
        .collect()
}

/// Aged accounts bought on a market, human reaction times, each its own phone (as often an old
/// app without a `Device-Id` as an honest buyer's) and network;
/// betrayed only by a small pool of cards and flats that every account draws from.
fn human_like_bot(spec: &CrowdSpec, accounts: usize, world: &World, rng: &mut StdRng) -> Vec<(Age, Identity, Timing)> {
    let credentials: Vec<String> = (0..rng.random_range(2..=4)).map(|_| draw::credential(rng)).collect();
    let flats: Vec<Flat> = (0..rng.random_range(1..=2)).map(|_| Flat::draw(rng)).collect();
    (0..accounts)
        .map(|_| {
            let pooled_card = chance(rng, 60);
            let pooled_flat = !pooled_card || chance(rng, 40);
            let (flat, detail) = if pooled_flat {
                let flat = flats[rng.random_range(0..flats.len())];
                (flat, addresses::ring_variant(&flat, rng))
            } else {
                own_flat(rng)
            };
            let credential = if pooled_card {
                credentials[rng.random_range(0..credentials.len())].clone()
            } else {
                draw::credential(rng)
            };
            let age = Age {
                created_at_ms: spec.sale.starts_at_ms - rng.random_range(365 * DAY_MS..5 * 365 * DAY_MS),
                orders_before: rng.random_range(3..=60),
                refunds_before: rng.random_range(0..=2),
            };
            let identity = Identity {
                device: (!chance(rng, 8)).then(|| draw::device_id(rng)),
                ip: world.person_ip(rng),
                credential: Some(credential),
                flat,
                detail,
            };
            let timing = Timing {
                first_at_ms: spec.sale.starts_at_ms + draw::human_reaction_ms(rng),
                gap_ms: 800..3_000,
                retries: 1..4,
            };
            (age, identity, timing)
        })
        .collect()
}
