//! What can go wrong with a commit, how often, and how often it did.
//!
//! Swarm testing: each seed draws its own fault rates (some seeds none at all, some many), so a
//! bug that needs a quiet stretch between two faults and one that needs faults back to back are
//! both within reach of a few thousand seeds.

use rand::Rng;
use std::collections::BTreeMap;

/// One way a batch's commit goes wrong, as the store and the process see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// The database refuses the transaction (it rolls back); the shard fails the batch's
    /// answers and rebuilds from the tables.
    CommitRefused,
    /// The transaction commits but its acknowledgement is lost (the connection dropped): the
    /// shard cannot tell, fails the answers and rebuilds from the tables, which hold the batch.
    OutcomeLost,
    /// The process dies (or the power goes) while the transaction is in flight: it never
    /// commits, nobody is answered, and every shard starts again from the tables.
    CrashMidCommit,
    /// The process dies after the commit, before a single answer left: the tables hold the
    /// batch, nobody heard, and every shard starts again from the tables.
    CrashAfterCommit,
    /// Not a fault but a planted bug, never drawn by the swarm: the batch is not written, yet
    /// its answers go out as if it were. The tests plant it to prove the auditor notices.
    PlantedLostWrite,
}

impl Fault {
    pub const ALL: [Fault; 4] = [
        Fault::CommitRefused,
        Fault::OutcomeLost,
        Fault::CrashMidCommit,
        Fault::CrashAfterCommit,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fault::CommitRefused => "commit refused",
            Fault::OutcomeLost => "commit outcome lost",
            Fault::CrashMidCommit => "crash mid-commit",
            Fault::CrashAfterCommit => "crash after commit",
            Fault::PlantedLostWrite => "planted lost write",
        }
    }

    /// Whether the batch's transaction is in the tables afterwards.
    pub fn committed(self) -> bool {
        matches!(self, Fault::OutcomeLost | Fault::CrashAfterCommit)
    }

    /// Whether the whole process restarts (every shard, every queued request lost).
    pub fn crashes(self) -> bool {
        matches!(self, Fault::CrashMidCommit | Fault::CrashAfterCommit)
    }
}

/// A seed's fault rates, in parts per thousand commits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultPlan {
    per_mille: BTreeMap<Fault, u32>,
}

impl FaultPlan {
    /// Only `fault`, at `per_mille`: for replaying a kind of fault alone, or planting a bug.
    pub fn only(fault: Fault, per_mille: u32) -> FaultPlan {
        FaultPlan {
            per_mille: BTreeMap::from([(fault, per_mille)]),
        }
    }

    /// No faults at all: the baseline every invariant must hold on first.
    pub fn none() -> FaultPlan {
        FaultPlan {
            per_mille: BTreeMap::new(),
        }
    }

    /// A seed's draw: a quarter of seeds run without faults; the others give each kind one of
    /// a few rates, from rare to every few commits.
    pub fn draw(rng: &mut impl Rng) -> FaultPlan {
        if rng.random_ratio(1, 4) {
            return FaultPlan::none();
        }
        const RATES: [u32; 5] = [0, 10, 30, 80, 200];
        let per_mille = Fault::ALL
            .into_iter()
            .map(|fault| (fault, RATES[rng.random_range(0..RATES.len())]))
            .filter(|(_, rate)| *rate > 0)
            .collect();
        FaultPlan { per_mille }
    }

    /// The fault this commit suffers, if any.
    pub fn pick(&self, rng: &mut impl Rng) -> Option<Fault> {
        let roll = rng.random_range(0..1000);
        let mut below = 0;
        for (fault, rate) in &self.per_mille {
            below += rate;
            if roll < below {
                return Some(*fault);
            }
        }
        None
    }

    pub fn rate(&self, fault: Fault) -> u32 {
        self.per_mille.get(&fault).copied().unwrap_or(0)
    }
}

impl std::fmt::Display for FaultPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.per_mille.is_empty() {
            return write!(f, "no faults");
        }
        let rates: Vec<String> = self
            .per_mille
            .iter()
            .map(|(fault, rate)| format!("{} {rate}‰", fault.name()))
            .collect();
        write!(f, "{}", rates.join(", "))
    }
}

/// Faults injected, by kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultCounts(pub BTreeMap<Fault, u64>);

impl FaultCounts {
    pub fn add(&mut self, fault: Fault) {
        *self.0.entry(fault).or_default() += 1;
    }

    pub fn merge(&mut self, other: &FaultCounts) {
        for (fault, count) in &other.0 {
            *self.0.entry(*fault).or_default() += count;
        }
    }

    pub fn get(&self, fault: Fault) -> u64 {
        self.0.get(&fault).copied().unwrap_or(0)
    }

    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }
}
