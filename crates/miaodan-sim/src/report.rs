//! What a seed's run reports: its figures, the "sometimes" it reached, and a violation with the
//! command that replays it.

use crate::faults::{Fault, FaultCounts, FaultPlan};
use std::collections::BTreeMap;
use std::fmt;

/// Situations the fault space must reach now and then. A swarm that never reaches one is not
/// testing what it claims to, so the CI run asserts every one of them was seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Sometimes {
    /// A commit failed while answers were waiting for it.
    CommitFailedWithAnswersWaiting,
    /// A retried checkout found the order its lost answer had placed.
    RetryFoundItsOrder,
    /// A checkout whose commit failed (refused, or cut by a crash) placed nothing, and its
    /// retry placed the order.
    RetryPlacedWhatAFailedCommitLost,
    /// An order placed before a crash expired unpaid after it.
    OrderExpiredAfterACrash,
    /// The provider's capture arrived after the order had expired: the money goes back.
    CaptureAfterExpiry,
    /// The provider delivered the same notification again after it was applied.
    NotificationRepeated,
    /// After a rebuild, an attempt that had reached the provider was found there by its
    /// reference and recorded.
    AttemptFoundAfterRestart,
    /// A checkout was refused for want of stock.
    RefusedForStock,
    /// A merchant's stock count was decided but lost with its batch.
    StockCountLost,
    /// A buyer cancelled an order and the cancellation was lost, then sent again.
    CancelRetried,
    /// A refund pending when the process crashed was given back and recorded after it.
    RefundCrossedACrash,
    /// The provider's webhook was applied while the buyer's confirmation still waited for its
    /// own recording of the same charge.
    WebhookBeforeAnswer,
    /// A keyed checkout's retry got the answer stored with its batch, replayed.
    RetryReplayedItsAnswer,
    /// A tap was refused: the sale had no units left.
    TapSoldOut,
    /// A flash order was cancelled or expired unpaid before its sale closed: its units went
    /// back to the sale.
    FlashUnitsBackToSale,
    /// A sale ended holding units, and gave them back to the warehouse's available stock.
    SaleEndedWithUnitsLeft,
}

impl Sometimes {
    pub const ALL: [Sometimes; 16] = [
        Sometimes::CommitFailedWithAnswersWaiting,
        Sometimes::RetryFoundItsOrder,
        Sometimes::RetryPlacedWhatAFailedCommitLost,
        Sometimes::OrderExpiredAfterACrash,
        Sometimes::CaptureAfterExpiry,
        Sometimes::NotificationRepeated,
        Sometimes::AttemptFoundAfterRestart,
        Sometimes::RefusedForStock,
        Sometimes::StockCountLost,
        Sometimes::CancelRetried,
        Sometimes::RefundCrossedACrash,
        Sometimes::WebhookBeforeAnswer,
        Sometimes::RetryReplayedItsAnswer,
        Sometimes::TapSoldOut,
        Sometimes::FlashUnitsBackToSale,
        Sometimes::SaleEndedWithUnitsLeft,
    ];

    pub fn describe(self) -> &'static str {
        match self {
            Sometimes::CommitFailedWithAnswersWaiting => "a commit failed with answers waiting",
            Sometimes::RetryFoundItsOrder => "a retry found the order its lost answer placed",
            Sometimes::RetryPlacedWhatAFailedCommitLost => "a retry placed what a failed commit lost",
            Sometimes::OrderExpiredAfterACrash => "an order placed before a crash expired after it",
            Sometimes::CaptureAfterExpiry => "a capture arrived after its order expired",
            Sometimes::NotificationRepeated => "a provider notification was delivered again",
            Sometimes::AttemptFoundAfterRestart => "a rebuild found an attempt's charge at the provider",
            Sometimes::RefusedForStock => "a checkout was refused for stock",
            Sometimes::StockCountLost => "a merchant's stock count was lost with its batch",
            Sometimes::CancelRetried => "a lost cancellation was sent again",
            Sometimes::RefundCrossedACrash => "a refund pending at a crash was recorded after it",
            Sometimes::WebhookBeforeAnswer => "a webhook was applied before the confirmation's answer",
            Sometimes::RetryReplayedItsAnswer => "a retry got its stored answer replayed",
            Sometimes::TapSoldOut => "a tap was refused: sold out",
            Sometimes::FlashUnitsBackToSale => "an unpaid flash order gave its units back to its sale",
            Sometimes::SaleEndedWithUnitsLeft => "a sale ended holding units and released them",
        }
    }
}

/// One seed's run.
#[derive(Clone, Debug)]
pub struct SeedReport {
    pub seed: u64,
    pub plan: FaultPlan,
    pub steps: u32,
    /// Commands the shards decided (retries and provider notifications included).
    pub commands: u64,
    pub commits: u64,
    pub restarts: u64,
    pub simulated_ms: i64,
    pub faults: FaultCounts,
    pub sometimes: BTreeMap<Sometimes, u64>,
    /// What the tables hold at the end, hashed: the same seed gives the same hash.
    pub state_hash: String,
    /// Every answer of the run, hashed in order: the same seed gives the same history.
    pub history_hash: String,
}

impl SeedReport {
    pub fn saw(&mut self, what: Sometimes) {
        *self.sometimes.entry(what).or_default() += 1;
    }
}

/// An invariant broken: which, where, and how to see it again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub seed: u64,
    /// The step it broke at (`None`: a panic, whose step is not known).
    pub step: Option<u32>,
    pub invariant: &'static str,
    pub detail: String,
    /// The command that replays it (its steps and backend included).
    pub replay: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = self
            .step
            .map_or_else(|| "a step not known".to_string(), |step| format!("step {step}"));
        write!(
            f,
            "seed {} broke \"{}\" at {at}: {}\nreplay: {}",
            self.seed, self.invariant, self.detail, self.replay
        )
    }
}

impl std::error::Error for Violation {}

/// Many seeds' runs, summed.
#[derive(Clone, Debug, Default)]
pub struct SwarmReport {
    pub seeds: u64,
    pub seeds_without_faults: u64,
    pub steps: u64,
    pub commands: u64,
    pub commits: u64,
    pub restarts: u64,
    pub simulated_ms: i64,
    pub faults: FaultCounts,
    pub sometimes: BTreeMap<Sometimes, u64>,
    pub violations: Vec<Violation>,
}

impl SwarmReport {
    pub fn add(&mut self, run: &SeedReport) {
        self.seeds += 1;
        if Fault::ALL.iter().all(|fault| run.plan.rate(*fault) == 0) {
            self.seeds_without_faults += 1;
        }
        self.steps += u64::from(run.steps);
        self.commands += run.commands;
        self.commits += run.commits;
        self.restarts += run.restarts;
        self.simulated_ms += run.simulated_ms;
        self.faults.merge(&run.faults);
        for (what, count) in &run.sometimes {
            *self.sometimes.entry(*what).or_default() += count;
        }
    }

    /// The "sometimes" this swarm never reached.
    pub fn unreached(&self) -> Vec<Sometimes> {
        Sometimes::ALL
            .into_iter()
            .filter(|what| !self.sometimes.contains_key(what))
            .collect()
    }
}

impl fmt::Display for SwarmReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hours = self.simulated_ms / 3_600_000;
        let minutes = self.simulated_ms / 60_000 % 60;
        writeln!(
            f,
            "seeds run         {} ({} without faults)",
            self.seeds, self.seeds_without_faults
        )?;
        writeln!(f, "simulated time    {hours} h {minutes:02} min")?;
        writeln!(
            f,
            "steps / commands  {} / {} ({} commits, {} restarts)",
            self.steps, self.commands, self.commits, self.restarts
        )?;
        writeln!(f, "faults injected   {}", self.faults.total())?;
        for fault in Fault::ALL {
            writeln!(f, "  {:<22} {}", fault.name(), self.faults.get(fault))?;
        }
        writeln!(
            f,
            "sometimes reached {} of {}",
            Sometimes::ALL.len() - self.unreached().len(),
            Sometimes::ALL.len()
        )?;
        for what in Sometimes::ALL {
            let count = self.sometimes.get(&what).copied().unwrap_or(0);
            writeln!(f, "  {:<56} {count}", what.describe())?;
        }
        write!(f, "violations        {}", self.violations.len())
    }
}
