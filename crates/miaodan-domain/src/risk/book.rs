//! The risk book: what one shard remembers of recent requests to score the next one — each
//! buyer's recent taps, each IP prefix's taps this second, and the links between buyers through
//! shared devices, flats and credentials — all bounded, all in memory, rebuilt empty at start
//! (a restart forgets at most a few minutes of velocity; clusters re-form as rings tap again).
//!
//! **Invariant:** assessing a request only reads the request and this book, and changes only
//! this book: a refused request leaves stock, orders and money as they were (the caller asks
//! before it takes anything). The same book and request give the same assessment.

use super::address::{AddressKey, address_key};
use super::hash::{RiskHashKey, RiskHashing};
use super::links::{LinkKey, Links};
use super::passes::{PASSES_MAX, Passes};
use super::rules::{HISTORY_ORDERS_FOR_RATE_MIN, Rule, RuleSet, Signal, Verdict};
use super::{RiskMap, RiskMode, RiskRefusal, RiskSet};
use crate::after_sales::rules::RISK_SCORE_ESCALATE_MIN;
use crate::flash_sale::FlashSaleId;
use crate::ids::{AfterSalesId, BuyerId, OrderId, PaymentIntentId, ShopId};
use crate::orders::Address;
use crate::time::Timestamp;
use std::hash::Hash;

/// What the edge knows of a request's sender besides its buyer, hashed (never the raw device
/// id, address of the connection or card number). Every part is optional.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClientSignals {
    /// The app's `Device-Id`, hashed.
    pub device: Option<u64>,
    /// The connection's IP prefix (/24, or /48 for IPv6), hashed.
    pub ip_prefix: Option<u64>,
    /// The payment credential the buyer would pay with, hashed.
    pub credential: Option<u64>,
    /// When the buyer's account was opened.
    pub account_opened_at: Option<Timestamp>,
    /// The key of the tap's delivery address ([`address_key`]), worked out by the shell before
    /// the command reaches the shard: normalising a Chinese address is the dearest part of a
    /// decision, and the shard decides one tap after the other while the edge has every core.
    /// `None`: the book works it out itself.
    pub address_key: Option<AddressKey>,
    /// The buyer's history, read from storage by the shell for a checkout, a payment or an
    /// after-sales request (never for a tap: the flash sale's path reads no history).
    pub history: Option<BuyerHistory>,
}

/// What the shell sends with a payment attempt or an after-sales request for risk to screen
/// it (nothing while risk is off).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Screening {
    /// The id its decision is kept under if it is kept ([`RiskDecision::id`]).
    pub decision: OrderId,
    pub client: ClientSignals,
}

/// How long after a return's refund its parcel may take to reach the warehouse before the
/// return counts as one without a parcel (a parcel crosses China in at most a week).
pub const RETURN_PARCEL_GRACE_MS: i64 = 10 * DAY_MS;

/// What a buyer's past says, over the platform's look-back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BuyerHistory {
    pub paid_orders: u32,
    /// After-sales requests that ended refunded.
    pub refunded_requests: u32,
    /// Returns refunded on the carrier's first scan whose parcel never reached the warehouse.
    pub returns_without_parcel: u32,
}

impl BuyerHistory {
    /// Refunded requests per paid order, in percent, once the buyer has paid for
    /// [`HISTORY_ORDERS_FOR_RATE_MIN`] orders.
    pub fn refund_rate_percent(&self) -> Option<i64> {
        (self.paid_orders >= HISTORY_ORDERS_FOR_RATE_MIN)
            .then(|| i64::from(self.refunded_requests) * 100 / i64::from(self.paid_orders))
    }
}

/// One request, as risk sees it: a flash-sale tap, a checkout's part, a payment attempt or an
/// after-sales request. Only a tap has a sale start (reaction time is read for taps only).
#[derive(Clone, Copy, Debug)]
pub struct RiskRequest<'a> {
    pub buyer: BuyerId,
    /// What is asked. Taps and checkouts (what takes units) are counted in the buyer's
    /// velocity and rhythm; a payment or an after-sales request is not a tap.
    pub subject: Subject,
    /// The tap's sale's start; `None` for anything but a tap.
    pub sale_starts_at: Option<Timestamp>,
    /// The merchant asked for strict mode on this sale.
    pub strict: bool,
    /// Where the request delivers: `None` for a payment (its orders' flats were linked when
    /// they were placed). With `client.address_key` set, only that key is read.
    pub address: Option<&'a Address>,
    pub client: &'a ClientSignals,
}

impl RiskRequest<'_> {
    /// The request's decision, to keep: `id` is the decision's ([`RiskDecision::id`]),
    /// `ordered` whether the request went ahead.
    pub fn decision(
        &self,
        assessment: Assessment,
        id: OrderId,
        shop: ShopId,
        ordered: bool,
        enforced: bool,
        at: Timestamp,
    ) -> RiskDecision {
        RiskDecision {
            id,
            shop,
            subject: self.subject,
            buyer: self.buyer,
            ordered,
            enforced,
            strict: self.strict,
            assessment,
            at,
        }
    }
}

/// What a kept decision is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    /// A flash-sale tap; the decision's id is its order's.
    Tap { sale: FlashSaleId },
    /// A checkout's part for one shop; the decision's id is its order's.
    Checkout,
    /// An attempt to pay an intent.
    Payment { intent: PaymentIntentId },
    /// A buyer's after-sales request.
    AfterSales { request: AfterSalesId },
}

impl Subject {
    /// The subject of kind `kind` (one of [`Subject::KINDS`]) with its sale or its other id, as
    /// stored; `None` when they do not fit the kind.
    pub fn of(kind: &str, sale: Option<i64>, other_id: Option<i64>) -> Option<Subject> {
        match (kind, sale, other_id) {
            ("tap", Some(sale), None) => FlashSaleId::new(sale).map(|sale| Subject::Tap { sale }),
            ("checkout", None, None) => Some(Subject::Checkout),
            ("payment", None, Some(intent)) => PaymentIntentId::new(intent).map(|intent| Subject::Payment { intent }),
            ("after_sales", None, Some(request)) => {
                AfterSalesId::new(request).map(|request| Subject::AfterSales { request })
            }
            _ => None,
        }
    }

    pub const KINDS: [&'static str; 4] = ["tap", "checkout", "payment", "after_sales"];

    pub fn kind(&self) -> &'static str {
        let index = match self {
            Subject::Tap { .. } => 0,
            Subject::Checkout => 1,
            Subject::Payment { .. } => 2,
            Subject::AfterSales { .. } => 3,
        };
        Subject::KINDS[index]
    }

    /// The tap's sale.
    pub fn sale(&self) -> Option<FlashSaleId> {
        match self {
            Subject::Tap { sale } => Some(*sale),
            _ => None,
        }
    }

    /// The id of what the decision is about, when it is not the decision's own: the intent or
    /// the after-sales request.
    pub fn other_id(&self) -> Option<i64> {
        match self {
            Subject::Payment { intent } => Some(intent.get()),
            Subject::AfterSales { request } => Some(request.get()),
            _ => None,
        }
    }
}

/// A rule that fired, with the value it fired on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FiredRule {
    pub code: String,
    pub signal: Signal,
    pub value: i64,
    pub threshold: i64,
    /// Added to the score (0 for a rule in shadow).
    pub points: u32,
    pub shadow: bool,
}

/// A request's risk: the verdict, the score it came from and the rules that fired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assessment {
    pub verdict: Verdict,
    /// The verdict had the rules in shadow counted too: what they would change if they acted.
    pub shadow_verdict: Verdict,
    pub score: u32,
    pub rule_set_version: u32,
    pub fired: Vec<FiredRule>,
    /// A challenge let through as a review because its buyer had stepped up (held a pass).
    pub stepped_up: bool,
}

/// What screening a request answered: its refusal, if risk refuses it in this mode, and its
/// assessment when it is worth keeping (see [`RiskBook::screen`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Screened {
    pub refusal: Option<RiskRefusal>,
    pub kept: Option<Assessment>,
    /// The score (0 when risk is off).
    pub score: u32,
}

/// A decision kept for people to look at (the review queue, a sale's risk report): a request
/// risk refused, let through for review, or that a rule in shadow would have answered
/// otherwise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RiskDecision {
    /// Drawn from the order ids, never reused: a tap's or a checkout's is the id its order has
    /// (or would have had); a payment's and an after-sales request's is one of their own.
    pub id: OrderId,
    pub shop: ShopId,
    pub subject: Subject,
    pub buyer: BuyerId,
    /// The request went ahead: its order placed (a tap's units were there), its payment
    /// attempt begun, its after-sales request opened.
    pub ordered: bool,
    /// Risk was on (the verdict acted); in shadow it was only recorded.
    pub enforced: bool,
    pub strict: bool,
    pub assessment: Assessment,
    pub at: Timestamp,
}

/// A minute, the span of every per-minute count.
pub(crate) const MINUTE_MS: i64 = 60_000;

/// A buyer whose taps keep the same verdict has one decision kept per this many ms: a script
/// tapping a hundred times a second fills the queue with one row a minute, not six thousand.
pub const DECISION_REPEAT_MS: i64 = 60_000;

/// Buyers whose recent taps and links are remembered, and IP prefixes counted, at most.
pub const BUYERS_REMEMBERED_MAX: usize = 1 << 20;
pub const PREFIXES_REMEMBERED_MAX: usize = 1 << 16;
/// Identifiers (devices, flats, credentials) the network links buyers through, at most.
pub const LINK_KEYS_MAX: usize = 1 << 21;

/// A buyer's recent taps: the last four times (for the rhythm) and a sliding minute count.
/// Kept by the network next to the buyer's slot ([`Links::trail_of`]): a tap finds its buyer
/// once, not once in the network and again in a map of trails.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Trail {
    last: [i64; 4],
    seen: u8,
    minute: Window,
    /// The verdict of the last decision kept for this buyer ([`Verdict`] order + 1; 0: none)
    /// and when it was kept.
    kept_verdict: u8,
    kept_at_ms: i64,
}

impl Trail {
    /// Counts a tap at `at_ms`: the buyer's taps in the last minute, and the spread of its last
    /// three gaps between taps (from its fourth tap on).
    fn tapped(&mut self, at_ms: i64) -> (Option<i64>, Option<i64>) {
        self.last.rotate_left(1);
        self.last[3] = at_ms;
        self.seen = self.seen.saturating_add(1);
        let per_minute = self.minute.count(at_ms, MINUTE_MS);
        let rhythm = (self.seen >= 4).then(|| {
            let gaps = [1, 2, 3].map(|i| self.last[i] - self.last[i - 1]);
            gaps.iter().max().copied().unwrap_or(0) - gaps.iter().min().copied().unwrap_or(0)
        });
        (Some(per_minute), rhythm)
    }
}

/// A sliding-window counter over `span` ms: this window's count plus the last window's,
/// weighted by how much of it the sliding window still covers.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Window {
    started_ms: i64,
    this: u32,
    last: u32,
}

impl Window {
    /// Counts one event at `now_ms`; the estimate over the last `span` ms, this one included.
    pub(crate) fn count(&mut self, now_ms: i64, span: i64) -> i64 {
        let elapsed = now_ms - self.started_ms;
        if elapsed >= 2 * span || elapsed < 0 {
            *self = Window {
                started_ms: now_ms - now_ms.rem_euclid(span),
                this: 0,
                last: 0,
            };
        } else if elapsed >= span {
            self.last = self.this;
            self.this = 0;
            self.started_ms += span;
        }
        self.this = self.this.saturating_add(1);
        let into = now_ms - self.started_ms;
        let carried = i64::from(self.last) * (span - into) / span;
        i64::from(self.this) + carried
    }
}

/// A map bounded at `max` entries by two generations: when the young one is full the old one is
/// dropped and the young one becomes old. A key used again moves to the young generation, so
/// what is dropped is what was not seen for a generation.
#[derive(Clone, Debug)]
struct Generations<K, V> {
    // Both looked up, never iterated into output.
    young: RiskMap<K, V>,
    // Looked up, never iterated into output.
    old: RiskMap<K, V>,
    max: usize,
}

impl<K: Hash + Eq + Copy, V: Default> Generations<K, V> {
    fn new(max: usize, key: RiskHashKey) -> Self {
        Generations {
            young: RiskMap::with_hasher(RiskHashing::new(key)),
            old: RiskMap::with_hasher(RiskHashing::new(key)),
            max: max.max(2),
        }
    }

    /// The key's value, moved to the young generation (one lookup when it is there already).
    fn entry(&mut self, key: K) -> &mut V {
        if self.young.len() >= self.max / 2 && !self.young.contains_key(&key) {
            let fresh = RiskMap::with_hasher(*self.young.hasher());
            self.old = std::mem::replace(&mut self.young, fresh);
        }
        let Generations { young, old, .. } = self;
        // An empty old generation is not asked: a lookup costs a hash even there.
        young.entry(key).or_insert_with(|| {
            if old.is_empty() {
                V::default()
            } else {
                old.remove(&key).unwrap_or_default()
            }
        })
    }
}

/// The shard's risk memory and its rules.
#[derive(Clone, Debug)]
pub struct RiskBook {
    mode: RiskMode,
    rules: RuleSet,
    prefixes: Generations<u64, Window>,
    links: Links,
    // Looked up, never iterated into output.
    strict_sales: RiskSet<FlashSaleId>,
    passes: Passes,
    /// Verdicts given, by [`Verdict`] order.
    given: [u64; 4],
}

impl Default for RiskBook {
    fn default() -> Self {
        RiskBook::new(RuleSet::standard(), RiskMode::default())
    }
}

const DAY_MS: i64 = 86_400_000;

impl RiskBook {
    /// A book whose maps are hashed under [`RiskHashKey::FIXED`]: for tests and benchmarks (a
    /// server uses [`RiskBook::keyed`]).
    pub fn new(rules: RuleSet, mode: RiskMode) -> RiskBook {
        RiskBook::keyed(rules, mode, RiskHashKey::FIXED)
    }

    /// An empty book whose maps are hashed under `key`, the process's secret.
    pub fn keyed(rules: RuleSet, mode: RiskMode, key: RiskHashKey) -> RiskBook {
        RiskBook {
            mode,
            rules,
            prefixes: Generations::new(PREFIXES_REMEMBERED_MAX, key),
            links: Links::keyed(BUYERS_REMEMBERED_MAX, LINK_KEYS_MAX, key),
            strict_sales: RiskSet::with_hasher(RiskHashing::new(key)),
            passes: Passes::keyed(PASSES_MAX, key),
            given: [0; 4],
        }
    }

    /// Forgets everything and hashes under `key` from now on (a starting shard, before its
    /// first request); the rules and the mode stay.
    pub fn rekey(&mut self, key: RiskHashKey) {
        *self = RiskBook::keyed(self.rules.clone(), self.mode, key);
    }

    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    pub fn mode(&self) -> RiskMode {
        self.mode
    }

    /// Replaces the rules and the mode; what the book remembers stays.
    pub fn set_policy(&mut self, rules: RuleSet, mode: RiskMode) {
        self.rules = rules;
        self.mode = mode;
    }

    /// Takes `rules` if they are newer than the book's: sets announced out of order (two
    /// admins a moment apart) end at the newest. Whether they were taken.
    pub fn adopt_rules(&mut self, rules: RuleSet) -> bool {
        let newer = rules.version > self.rules.version;
        if newer {
            self.rules = rules;
        }
        newer
    }

    /// Lets `buyer`'s next request risk would challenge, before `until`, through as a review
    /// (the buyer stepped up; see [`super::passes`]).
    pub fn grant_pass(&mut self, buyer: BuyerId, until: Timestamp) {
        self.passes.grant(buyer, until);
    }

    /// Puts a sale in strict mode (its thresholds lowered) or takes it out.
    pub fn set_strict(&mut self, sale: FlashSaleId, strict: bool) {
        if strict {
            self.strict_sales.insert(sale);
        } else {
            self.strict_sales.remove(&sale);
        }
    }

    /// Whether a sale is in strict mode (no lookup while no sale is).
    pub fn is_strict(&self, sale: FlashSaleId) -> bool {
        !self.strict_sales.is_empty() && self.strict_sales.contains(&sale)
    }

    /// Screens a request: its refusal, if risk refuses it in this mode (nothing is scored when
    /// risk is off, nothing refused in shadow), and its assessment when worth keeping — a
    /// verdict other than allow, or one a rule in shadow would change. A tap's or a
    /// checkout's is kept at most once per [`DECISION_REPEAT_MS`] per buyer while the verdict
    /// stays the same (a script taps a hundred times a second); a payment's and an after-sales
    /// request's each time (each is money). A challenge of a buyer holding a pass
    /// ([`RiskBook::grant_pass`]) is let through as a review, stepped up, and kept.
    pub fn screen(&mut self, request: &RiskRequest<'_>, now: Timestamp) -> Screened {
        if self.mode == RiskMode::Off {
            return Screened::default();
        }
        let mut assessment = self.assess(request, now);
        // Only a challenge asks for the pass: the allow path, a flash sale's hot one, pays nothing.
        if assessment.verdict == Verdict::Challenge && self.passes.take(request.buyer, now) {
            assessment.verdict = Verdict::Review;
            assessment.stepped_up = true;
        }
        let refused = self.mode == RiskMode::On && assessment.verdict.refuses();
        let refusal = refused.then_some(RiskRefusal {
            verdict: assessment.verdict,
            score: assessment.score,
        });
        let worth_keeping = assessment.verdict != Verdict::Allow || assessment.shadow_verdict != Verdict::Allow;
        let repeats = matches!(request.subject, Subject::Tap { .. } | Subject::Checkout) && !assessment.stepped_up;
        let keep = worth_keeping && (!repeats || self.keep_once(request.buyer, assessment.verdict, now));
        Screened {
            refusal,
            score: assessment.score,
            kept: keep.then_some(assessment),
        }
    }

    /// Whether a decision of `verdict` for `buyer` at `now` is kept (and notes it if so).
    /// A buyer the network does not remember (a request naming no flat, device or card) has
    /// no trail: its decisions are all kept.
    fn keep_once(&mut self, buyer: BuyerId, verdict: Verdict, now: Timestamp) -> bool {
        let Some(trail) = self.links.trail_of(buyer) else {
            return true;
        };
        let code = verdict as u8 + 1;
        let at = now.unix_ms();
        let keep = trail.kept_verdict != code || at - trail.kept_at_ms >= DECISION_REPEAT_MS;
        if keep {
            trail.kept_verdict = code;
            trail.kept_at_ms = at;
        }
        keep
    }

    /// The buyers linked to `buyer` (its cluster, itself included; at most `limit`) and the
    /// cluster's size, as this book knows them.
    pub fn cluster_of(&self, buyer: BuyerId, limit: usize) -> (u32, Vec<BuyerId>) {
        (self.links.cluster_size(buyer), self.links.cluster_members(buyer, limit))
    }

    /// A score on the 0–1000 scale other capabilities read (after-sales sends a request to its
    /// merchant at [`RISK_SCORE_ESCALATE_MIN`], 700, and over): the rules' review threshold
    /// lands there, so what risk would look at is what after-sales escalates. Monotone in the
    /// score.
    pub fn score_permille(&self, score: u32) -> u16 {
        let review_at = u64::from(self.rules.review_at.max(1));
        let scaled = u64::from(score) * u64::from(RISK_SCORE_ESCALATE_MIN) / review_at;
        u16::try_from(scaled.min(1_000)).unwrap_or(1_000)
    }

    /// Verdicts given since start, in [`Verdict::ALL`] order.
    pub fn verdicts_given(&self) -> [u64; 4] {
        self.given
    }

    /// Buyers remembered now (bounded by [`BUYERS_REMEMBERED_MAX`]).
    pub fn buyers_remembered(&self) -> usize {
        self.links.remembered_buyers()
    }

    /// Scores a request at `now` and remembers it (whatever the verdict: a refused tap is
    /// still a tap the next one is measured against).
    pub fn assess(&mut self, tap: &RiskRequest<'_>, now: Timestamp) -> Assessment {
        let values = self.observe(tap, now);
        let (mut score, mut shadow_score) = (0u32, 0u32);
        let mut fired = Vec::new();
        for rule in &self.rules.rules {
            let value = values[rule.signal as usize];
            if rule.fires(value) {
                let points = if rule.shadow { 0 } else { rule.points };
                score = score.saturating_add(points);
                shadow_score = shadow_score.saturating_add(rule.points);
                fired.push(fired_rule(rule, value.unwrap_or_default(), points));
            }
        }
        let verdict = self.rules.verdict(score, tap.strict);
        self.given[verdict as usize] += 1;
        Assessment {
            verdict,
            shadow_verdict: self.rules.verdict(shadow_score, tap.strict),
            score,
            rule_set_version: self.rules.version,
            fired,
            stepped_up: false,
        }
    }

    /// Records the tap in the book and computes every signal's value (`None` where the
    /// request does not say, or too little is known yet), in [`Signal::ALL`] order.
    fn observe(&mut self, tap: &RiskRequest<'_>, now: Timestamp) -> [Option<i64>; Signal::ALL.len()] {
        let at = now.unix_ms();
        let client = tap.client;
        let key = client.address_key.or_else(|| {
            tap.address
                .map(|address| address_key(address.adcode, address.detail.as_str()))
        });
        // Each link answers the buyer's cluster size after it, the key's buyers and its requests
        // this minute: the largest cluster answered is the cluster (the last one, unless a
        // link in between made the network forget uses).
        let mut link = |key: Option<LinkKey>| key.map(|key| self.links.link_at(tap.buyer, key, at));
        let linked = [
            link(key.map(LinkKey::Address)),
            link(client.device.map(LinkKey::Device)),
            link(client.credential.map(LinkKey::Credential)),
        ];
        let [address, device, credential] = linked.map(|l| l.map(|l| i64::from(l.key_buyers)));
        let [address_rate, device_rate, credential_rate] = linked.map(|l| l.map(|l| i64::from(l.key_per_minute)));
        let cluster = linked.iter().flatten().map(|l| i64::from(l.cluster)).max();
        // Taps and checkouts (what takes units) count in the buyer's velocity and rhythm; the
        // trail is the one the links just touched (a tap always names its flat).
        let takes_units = matches!(tap.subject, Subject::Tap { .. } | Subject::Checkout);
        let trail = if takes_units {
            self.links.trail_of(tap.buyer)
        } else {
            None
        };
        let (per_minute, rhythm) = trail.map_or((None, None), |trail| trail.tapped(at));
        let history = client.history;
        let prefix = client.ip_prefix.map(|p| self.prefixes.entry(p).count(at, 1_000));
        let age = client
            .account_opened_at
            .map(|opened| (at - opened.unix_ms()).max(0) / DAY_MS);
        [
            per_minute,
            device,
            address,
            credential,
            cluster,
            prefix,
            age,
            // Before the start a tap is refused by the sale itself; its reaction means nothing.
            tap.sale_starts_at
                .map(Timestamp::unix_ms)
                .filter(|start| at >= *start)
                .map(|start| at - start),
            rhythm,
            Some(i64::from(client.device.is_none())),
            history.and_then(|h| h.refund_rate_percent()),
            history.map(|h| i64::from(h.returns_without_parcel)),
            device_rate,
            address_rate,
            credential_rate,
        ]
    }
}

fn fired_rule(rule: &Rule, value: i64, points: u32) -> FiredRule {
    FiredRule {
        code: rule.code.clone(),
        signal: rule.signal,
        value,
        threshold: rule.threshold,
        points,
        shadow: rule.shadow,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buyers_trail_outlives_a_rebuild_of_the_network_under_its_new_slot() {
        let buyer = |n: i64| BuyerId::new(n).expect("positive");
        let mut links = Links::with_capacity(8, 8);
        for n in 1..=4 {
            links.link(buyer(n), LinkKey::Device(n as u64));
            if let Some(trail) = links.trail_of(buyer(n)) {
                trail.seen = n as u8;
            }
        }
        // Each later buyer passes a bound: the oldest uses go, the rest are replayed.
        for n in 5..=12 {
            links.link(buyer(n), LinkKey::Device(n as u64));
        }
        assert!(links.trail_of(buyer(1)).is_none(), "the oldest buyer is forgotten");
        let kept: Vec<u8> = (5..=12)
            .filter_map(|n| links.trail_of(buyer(n)).map(|t| t.seen))
            .collect();
        assert_eq!(kept.len(), links.remembered_buyers());
        // A buyer tapping again finds the trail it had.
        let last = links.trail_of(buyer(12)).expect("the newest buyer is remembered");
        last.seen = 42;
        links.link(buyer(13), LinkKey::Device(13));
        assert_eq!(links.trail_of(buyer(12)).map(|t| t.seen), Some(42));
    }
}
