//! Honest buyers: people who saw the live stream and tapped. Most tap once, some twice; each
//! has their own phone and card, but a few households share a flat, a tablet or a card, many
//! share a carrier's NAT, and some accounts were opened that week.

use crate::addresses::{self, Flat};
use crate::draw::{self, DAY_MS, World, chance};
use crate::{CrowdSpec, Draft, DraftTap, Label};
use rand::Rng;
use rand::rngs::StdRng;

/// Per cent of honest buyers who start a household of 2–3 accounts (each member is one
/// honest buyer of the evening).
const HOUSEHOLD_PERCENT: u32 = 3;
/// Per cent of buyers on an old app that sends no `Device-Id`.
const NO_DEVICE_PERCENT: u32 = 8;

/// What a household shares.
struct Home {
    flat: Flat,
    device: Option<String>,
    credential: Option<String>,
    ip: Option<String>,
}

pub fn crowd(spec: &CrowdSpec, world: &World, rng: &mut StdRng) -> Vec<Draft> {
    let total = spec.honest_buyers as usize;
    let mut drafts = Vec::with_capacity(total);
    while drafts.len() < total {
        let members = if chance(rng, HOUSEHOLD_PERCENT) {
            rng.random_range(2..=3)
        } else {
            1
        };
        let home = Home {
            flat: Flat::draw(rng),
            device: (members > 1 && chance(rng, 50)).then(|| draw::device_id(rng)),
            credential: (members > 1 && chance(rng, 30)).then(|| draw::credential(rng)),
            ip: (members > 1 && chance(rng, 60)).then(|| world.broadband_ip(rng)),
        };
        for _ in 0..members.min(total - drafts.len()) {
            drafts.push(person(spec, world, &home, rng));
        }
    }
    drafts
}

fn person(spec: &CrowdSpec, world: &World, home: &Home, rng: &mut StdRng) -> Draft {
    let start = spec.sale.starts_at_ms;
    let created_at_ms = start - honest_age_ms(rng);
    let age_days = ((start - created_at_ms) / DAY_MS) as u32;
    let orders_before = rng.random_range(0..=(age_days / 8).clamp(1, 500));
    let refunds_before = orders_before * rng.random_range(0..=8) / 100;
    let device = match &home.device {
        Some(shared) => Some(shared.clone()),
        None => (!chance(rng, NO_DEVICE_PERCENT)).then(|| draw::device_id(rng)),
    };
    let credential = match &home.credential {
        Some(shared) => Some(shared.clone()),
        None => (!chance(rng, 3)).then(|| draw::credential(rng)),
    };
    let ip = home.ip.clone().unwrap_or_else(|| world.person_ip(rng));
    let detail = addresses::honest_detail(&home.flat, rng);
    let mut at_ms = start + draw::human_reaction_ms(rng);
    let mut taps = Vec::new();
    for _ in 0..honest_taps(rng) {
        taps.push(DraftTap {
            at_ms,
            device: device.clone(),
            ip: ip.clone(),
            credential: credential.clone(),
            adcode: home.flat.district.adcode.to_string(),
            detail: detail.clone(),
        });
        at_ms += rng.random_range(300..4_000);
    }
    Draft {
        created_at_ms,
        orders_before,
        refunds_before,
        label: Label::Honest,
        taps,
    }
}

/// Most tap once; an impatient few tap again while the first tap is answered.
fn honest_taps(rng: &mut StdRng) -> u32 {
    match rng.random_range(0..100) {
        0..82 => 1,
        82..97 => 2,
        _ => 3,
    }
}

/// How long before the sale the account was opened: mostly months to years, some that
/// month, a few for this very sale.
fn honest_age_ms(rng: &mut StdRng) -> i64 {
    match rng.random_range(0..100) {
        0..4 => rng.random_range(10 * 60_000..3 * DAY_MS),
        4..12 => rng.random_range(3 * DAY_MS..60 * DAY_MS),
        _ => rng.random_range(60 * DAY_MS..6 * 365 * DAY_MS),
    }
}
