//! simcrowd: a **simulated live-stream crowd**. From a seed it writes one labelled evening of
//! flash-sale traffic: honest buyers and scalper rings of several strategies tapping "buy" on
//! one flash sale, so that miaodan's risk rules can be scored on precision, recall and the
//! share of units that reached scalpers, against traffic whose truth is known. It knows
//! nothing of miaodan.
//!
//! # Map
//! - this file: the spec ([`CrowdSpec`]), the evening ([`Evening`], [`Account`], [`TapEvent`]) and
//!   [`evening`], which draws it;
//! - `honest`: honest buyers, their households and carrier-NAT addresses;
//! - `rings`: one function per [`Strategy`];
//! - `addresses`: flats in real districts (`data/districts.csv`) and the many ways to write one;
//! - `draw`: the shared draws: reaction times, ids, IPs, account ages;
//! - `format`: the JSONL file ([`write_jsonl`], [`read_jsonl`]).
//!
//! # Realism, so that rules cannot win on an artefact
//! Every field a scorer may read is drawn from one distribution shared by honest buyers and the
//! rings that imitate them; a ring differs only in what its strategy really changes. Buyer ids
//! are random and unrelated to the label; devices and credentials have one shape for everyone;
//! honest buyers write addresses in the same variety of styles (prefixes, numerals, dashes,
//! notes) as the address ring; honest households share a flat or a device; many honest buyers
//! share a carrier-NAT /24; some honest accounts are new and some have no `Device-Id` (older
//! apps). Human reaction times are one log-normal table (median ≈ 2 s, tail to a minute) for
//! honest buyers and human-like bots alike.
//!
//! # Determinism
//! The same [`CrowdSpec`] gives the same evening, byte for byte once written. Honest buyers and
//! each ring draw from their own stream (seeded from the spec's seed and their index), so adding
//! a ring does not move the honest crowd.
//!
//! # File format
//! JSON Lines, UTF-8, one object per line, each with a `"type"`; see `FORMAT.md` next to this
//! crate's manifest for every field. In short:
//!
//! ```text
//! {"type":"sale","starts_at_ms":1795399200000,"units":500,"per_buyer_limit":1}
//! {"type":"account","buyer":48213,"created_at_ms":1700000000000,"orders_before":12,"refunds_before":1,"label":"honest"}
//! {"type":"account","buyer":90311,"created_at_ms":1795000000000,"orders_before":0,"refunds_before":0,"label":{"scalper":"millisecond_bot"}}
//! {"type":"tap","at_ms":1795399201873,"buyer":48213,"device":"9f3a…","ip":"117.136.4.21","credential":"cred_…","adcode":"330110000000","detail":"文一西路969号3栋2单元501室"}
//! ```
//!
//! One `sale` line; one `account` line per buyer (the `label` is the truth: **a scorer must never
//! read it**, only the scoring of its decisions does); `tap` lines in time order, each of a buyer
//! with an account line. Times are Unix milliseconds. Unknown fields and unknown types are
//! refused; a reading error names its line.

mod addresses;
mod draw;
mod format;
mod honest;
mod rings;

pub use format::{FormatError, read_jsonl, write_jsonl};

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

/// What evening to draw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrowdSpec {
    pub seed: u64,
    pub honest_buyers: u32,
    pub rings: Vec<RingSpec>,
    pub sale: SaleSpec,
}

/// The flash sale everyone taps on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaleSpec {
    pub starts_at_ms: i64,
    pub units: u32,
    pub per_buyer_limit: u32,
}

/// One scalper ring: its strategy and how many accounts it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingSpec {
    pub strategy: Strategy,
    pub accounts: u32,
}

/// How a scalper ring hides (or does not).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Many accounts on one phone or a few (a phone farm with an auto-clicker).
    SharedDevice,
    /// Every account ships to one flat, written a different way each time.
    AddressVariants,
    /// One card or wallet pays for every account.
    SharedCredential,
    /// A script: new accounts, datacenter IPs, taps within milliseconds of the start at
    /// regular intervals.
    MillisecondBot,
    /// A patient script: aged accounts bought on a market, human reaction times, varied
    /// devices, betrayed only by a small pool of credentials or flats.
    HumanLikeBot,
}

impl Strategy {
    pub const ALL: [Strategy; 5] = [
        Strategy::SharedDevice,
        Strategy::AddressVariants,
        Strategy::SharedCredential,
        Strategy::MillisecondBot,
        Strategy::HumanLikeBot,
    ];
}

/// One drawn evening: who the accounts are and every tap, in time order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evening {
    pub sale: SaleSpec,
    /// Sorted by buyer id.
    pub accounts: Vec<Account>,
    /// Sorted by `at_ms` (then buyer).
    pub taps: Vec<TapEvent>,
}

/// A buyer account as the platform knows it before the sale, with its truth (`label`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    pub buyer: u64,
    pub created_at_ms: i64,
    pub orders_before: u32,
    pub refunds_before: u32,
    pub label: Label,
}

/// The truth about an account: only the scoring reads it, never the scorer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Label {
    Honest,
    Scalper(Strategy),
}

/// One "buy" tap on the flash sale, with what the request carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TapEvent {
    pub at_ms: i64,
    pub buyer: u64,
    /// The `Device-Id` header; `None` from older apps and from scripts that do not send it.
    pub device: Option<String>,
    /// The client's IPv4 address as the platform sees it.
    pub ip: String,
    /// The payment credential (a card or wallet token); `None` when none is on file yet.
    pub credential: Option<String>,
    /// The delivery address's division: 12 digits.
    pub adcode: String,
    /// The delivery address below the division, as the buyer typed it.
    pub detail: String,
}

/// An account and its taps before it has a buyer id (ids are drawn last, for everyone at
/// once, so that an id says nothing about who drew it).
struct Draft {
    created_at_ms: i64,
    orders_before: u32,
    refunds_before: u32,
    label: Label,
    taps: Vec<DraftTap>,
}

struct DraftTap {
    at_ms: i64,
    device: Option<String>,
    ip: String,
    credential: Option<String>,
    adcode: String,
    detail: String,
}

/// Draws the evening of `spec`; the same spec always gives the same evening.
pub fn evening(spec: &CrowdSpec) -> Evening {
    let world = draw::World::new(&mut stream(spec.seed, 0));
    let mut drafts = honest::crowd(spec, &world, &mut stream(spec.seed, 1));
    for (index, ring) in spec.rings.iter().enumerate() {
        let mut rng = stream(spec.seed, 2 + index as u64);
        drafts.extend(rings::ring(spec, *ring, &world, &mut rng));
    }
    let buyers = draw::buyer_ids(drafts.len(), &mut stream(spec.seed, u64::MAX));
    let mut accounts = Vec::with_capacity(drafts.len());
    let mut taps = Vec::new();
    for (draft, buyer) in drafts.into_iter().zip(buyers) {
        accounts.push(Account {
            buyer,
            created_at_ms: draft.created_at_ms,
            orders_before: draft.orders_before,
            refunds_before: draft.refunds_before,
            label: draft.label,
        });
        taps.extend(draft.taps.into_iter().map(|tap| TapEvent {
            at_ms: tap.at_ms,
            buyer,
            device: tap.device,
            ip: tap.ip,
            credential: tap.credential,
            adcode: tap.adcode,
            detail: tap.detail,
        }));
    }
    accounts.sort_by_key(|account| account.buyer);
    taps.sort_by_key(|tap| (tap.at_ms, tap.buyer));
    Evening {
        sale: spec.sale,
        accounts,
        taps,
    }
}

/// The random stream number `index` of `seed` (SplitMix64 of both, so that neighbouring seeds
/// and indexes give unrelated streams).
fn stream(seed: u64, index: u64) -> StdRng {
    let mut z = seed ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    StdRng::seed_from_u64(z ^ (z >> 31))
}
