//! What a request asks of every shard, not only its own: named values, not closures, so that a
//! shard another process owns can be asked too (a closure cannot cross a process). A question
//! about the request's own shop stays a closure (`Shards::read`): that shard is where the request
//! runs.
//!
//! [`ShardState::answer`] answers a [`Question`] from memory, in turn with the commands; a
//! [`RiskChange`] is announced to every shard's risk book ([`RiskBook::change`]).

use super::ShardState;
use crate::flash_sale::FlashSaleId;
use crate::fulfillment::promise::{DeliveryOption, Destination};
use crate::ids::{BuyerId, ShopId, SkuId};
use crate::risk::{RiskBook, RuleSet};
use crate::shard::Rejection;
use crate::time::Timestamp;
use std::collections::BTreeMap;

/// A question every shard (or a shard the request does not own) is asked.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Question {
    DeliveryOptions(DeliveryOptionsQuestion),
    RiskCluster(RiskClusterQuestion),
}

/// What each shop of this shard selling some of `items` (SKU, quantity) can promise for them to
/// `destination` now.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeliveryOptionsQuestion {
    pub items: Vec<(SkuId, i64)>,
    pub destination: Option<Destination>,
}

/// The buyers risk links to `buyer` in this shard (at most `limit`, itself included).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RiskClusterQuestion {
    pub buyer: BuyerId,
    pub limit: usize,
}

/// A shard's answer to a [`Question`], of the question's own kind.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Answer {
    DeliveryOptions(DeliveryOptionsAnswer),
    RiskCluster(RiskCluster),
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeliveryOptionsAnswer {
    pub shops: Vec<ShopDeliveryOptions>,
    /// The shard's clock when it answered.
    pub at: Timestamp,
}

/// What one shop can promise for the lines of a delivery-options question it sells.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ShopDeliveryOptions {
    pub shop: ShopId,
    pub lines: Vec<(SkuId, i64)>,
    pub options: Result<Vec<DeliveryOption>, Rejection>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RiskCluster {
    /// The cluster's size as this shard knows it.
    pub size: u32,
    pub members: Vec<BuyerId>,
}

/// A question whose answer the shell holds as its own type, as [`super::ShardCommand`] does for
/// commands: [`ShardState::answer`] answers each question with its own kind, so another kind is
/// a broken invariant (a panic), not a case to handle.
pub trait ShardQuestion: Into<Question> {
    type Answer;
    fn narrow(answer: Answer) -> Self::Answer;
}

macro_rules! questions {
    ($($question:ident => $variant:ident($answer:ty);)*) => {
        $(impl From<$question> for Question {
            fn from(question: $question) -> Question {
                Question::$variant(question)
            }
        }

        impl ShardQuestion for $question {
            type Answer = $answer;
            fn narrow(answer: Answer) -> $answer {
                match answer {
                    Answer::$variant(answer) => answer,
                    #[allow(unreachable_patterns)]
                    other => unreachable!("{} was answered {other:?}", stringify!($question)),
                }
            }
        })*
    };
}

questions! {
    DeliveryOptionsQuestion => DeliveryOptions(DeliveryOptionsAnswer);
    RiskClusterQuestion => RiskCluster(RiskCluster);
}

/// A change announced to the risk books: every shard's (rules, a buyer's pass) or the one of a
/// sale's shop (strict mode).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RiskChange {
    /// Take these rules if newer than the book's.
    AdoptRules(RuleSet),
    /// Let the buyer's next challenged request before `until` through as a review.
    GrantPass { buyer: BuyerId, until: Timestamp },
    /// Put a sale in strict mode, or take it out.
    SetStrict { sale: FlashSaleId, strict: bool },
}

impl ShardState {
    /// Answers `question` from what this shard holds at `now`.
    pub fn answer(&self, question: &Question, now: Timestamp) -> Answer {
        match question {
            Question::DeliveryOptions(DeliveryOptionsQuestion { items, destination }) => {
                let mut by_shop: BTreeMap<ShopId, Vec<(SkuId, i64)>> = BTreeMap::new();
                for (sku, quantity) in items {
                    if let Some(found) = self.sku(*sku) {
                        by_shop.entry(found.shop).or_default().push((*sku, *quantity));
                    }
                }
                let shops = by_shop
                    .into_iter()
                    .map(|(shop, lines)| {
                        let options = self.delivery_options(shop, &lines, destination.as_ref(), now);
                        ShopDeliveryOptions { shop, lines, options }
                    })
                    .collect();
                Answer::DeliveryOptions(DeliveryOptionsAnswer { shops, at: now })
            }
            Question::RiskCluster(RiskClusterQuestion { buyer, limit }) => {
                let (size, members) = self.risk().cluster_of(*buyer, *limit);
                Answer::RiskCluster(RiskCluster { size, members })
            }
        }
    }
}

impl RiskBook {
    /// Makes an announced change.
    pub fn change(&mut self, change: RiskChange) {
        match change {
            RiskChange::AdoptRules(rules) => {
                self.adopt_rules(rules);
            }
            RiskChange::GrantPass { buyer, until } => self.grant_pass(buyer, until),
            RiskChange::SetStrict { sale, strict } => self.set_strict(sale, strict),
        }
    }
}
