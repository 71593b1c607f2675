//! Risk's policy as data: the rule set in force (the newest an admin wrote, or the one miaodan
//! ships with) as the JSON document the API takes and the store keeps, and how a change
//! reaches every shard.
//!
//! A new rule set is written to the store first, then announced to each shard, which takes it
//! only if it is newer than its own (announcements may cross). A shard that starts or rebuilds
//! reads the store, so a change announced to a shard that was rebuilding is not lost.

use crate::sequencer::{ShardError, Shards};
use miaodan_domain::flash_sale::FlashSaleId;
use miaodan_domain::risk::{Rule, RuleSet, Signal};
use miaodan_domain::shard::RiskChange;
use miaodan_domain::{BuyerId, ShopId, Timestamp};
use miaodan_store::{Store, StoreError, StoredRuleSet};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a rule reads (see README "Risk control" for each).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RiskSignalName {
    BuyerTapsPerMinute,
    DeviceAccounts,
    AddressAccounts,
    CredentialAccounts,
    ClusterSize,
    IpPrefixTapsPerSecond,
    AccountAgeDays,
    MsAfterStart,
    TapRhythmSpreadMs,
    NoDevice,
    RefundRatePercent,
    ReturnsWithoutParcel,
    DeviceRequestsPerMinute,
    AddressRequestsPerMinute,
    CredentialRequestsPerMinute,
}

impl From<RiskSignalName> for Signal {
    fn from(name: RiskSignalName) -> Signal {
        match name {
            RiskSignalName::BuyerTapsPerMinute => Signal::BuyerTapsPerMinute,
            RiskSignalName::DeviceAccounts => Signal::DeviceAccounts,
            RiskSignalName::AddressAccounts => Signal::AddressAccounts,
            RiskSignalName::CredentialAccounts => Signal::CredentialAccounts,
            RiskSignalName::ClusterSize => Signal::ClusterSize,
            RiskSignalName::IpPrefixTapsPerSecond => Signal::IpPrefixTapsPerSecond,
            RiskSignalName::AccountAgeDays => Signal::AccountAgeDays,
            RiskSignalName::MsAfterStart => Signal::MsAfterStart,
            RiskSignalName::TapRhythmSpreadMs => Signal::TapRhythmSpreadMs,
            RiskSignalName::NoDevice => Signal::NoDevice,
            RiskSignalName::RefundRatePercent => Signal::RefundRatePercent,
            RiskSignalName::ReturnsWithoutParcel => Signal::ReturnsWithoutParcel,
            RiskSignalName::DeviceRequestsPerMinute => Signal::DeviceRequestsPerMinute,
            RiskSignalName::AddressRequestsPerMinute => Signal::AddressRequestsPerMinute,
            RiskSignalName::CredentialRequestsPerMinute => Signal::CredentialRequestsPerMinute,
        }
    }
}

impl From<Signal> for RiskSignalName {
    fn from(signal: Signal) -> RiskSignalName {
        match signal {
            Signal::BuyerTapsPerMinute => RiskSignalName::BuyerTapsPerMinute,
            Signal::DeviceAccounts => RiskSignalName::DeviceAccounts,
            Signal::AddressAccounts => RiskSignalName::AddressAccounts,
            Signal::CredentialAccounts => RiskSignalName::CredentialAccounts,
            Signal::ClusterSize => RiskSignalName::ClusterSize,
            Signal::IpPrefixTapsPerSecond => RiskSignalName::IpPrefixTapsPerSecond,
            Signal::AccountAgeDays => RiskSignalName::AccountAgeDays,
            Signal::MsAfterStart => RiskSignalName::MsAfterStart,
            Signal::TapRhythmSpreadMs => RiskSignalName::TapRhythmSpreadMs,
            Signal::NoDevice => RiskSignalName::NoDevice,
            Signal::RefundRatePercent => RiskSignalName::RefundRatePercent,
            Signal::ReturnsWithoutParcel => RiskSignalName::ReturnsWithoutParcel,
            Signal::DeviceRequestsPerMinute => RiskSignalName::DeviceRequestsPerMinute,
            Signal::AddressRequestsPerMinute => RiskSignalName::AddressRequestsPerMinute,
            Signal::CredentialRequestsPerMinute => RiskSignalName::CredentialRequestsPerMinute,
        }
    }
}

/// One rule: when `signal` reaches `threshold` (or falls below it, for an age, a reaction time
/// or a rhythm's spread) it adds `points` to the request's score — or, in shadow, only says
/// what it would have done.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RiskRuleDocument {
    /// Its stable name, shown in every decision it fires in (distinct within the set).
    #[schema(pattern = "^[a-z0-9_]{1,40}$")]
    pub code: String,
    pub signal: RiskSignalName,
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub threshold: i64,
    #[schema(minimum = 0, maximum = 1000)]
    pub points: u32,
    /// Fires and is recorded, adds nothing: watch a new rule on real traffic before it acts.
    #[serde(default)]
    pub shadow: bool,
}

/// A rule set: its rules and the scores at which a request is reviewed, challenged or blocked
/// (`0 < review_at ≤ challenge_at ≤ block_at`); a sale in strict mode scales the three by
/// `strict_percent`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RiskRuleSetDocument {
    /// At most 32, with distinct codes.
    #[schema(max_items = 32)]
    pub rules: Vec<RiskRuleDocument>,
    #[schema(minimum = 1, maximum = 4_294_967_295_u64)]
    pub review_at: u32,
    #[schema(minimum = 1, maximum = 4_294_967_295_u64)]
    pub challenge_at: u32,
    #[schema(minimum = 1, maximum = 4_294_967_295_u64)]
    pub block_at: u32,
    #[schema(minimum = 1, maximum = 100)]
    pub strict_percent: u32,
}

impl RiskRuleSetDocument {
    pub fn of(set: &RuleSet) -> RiskRuleSetDocument {
        RiskRuleSetDocument {
            rules: set
                .rules
                .iter()
                .map(|r| RiskRuleDocument {
                    code: r.code.clone(),
                    signal: r.signal.into(),
                    threshold: r.threshold,
                    points: r.points,
                    shadow: r.shadow,
                })
                .collect(),
            review_at: set.review_at,
            challenge_at: set.challenge_at,
            block_at: set.block_at,
            strict_percent: set.strict_percent,
        }
    }

    /// The rule set this document describes, as version `version` (not yet checked).
    pub fn rule_set(&self, version: u32) -> RuleSet {
        RuleSet {
            version,
            rules: self
                .rules
                .iter()
                .map(|r| Rule {
                    code: r.code.clone(),
                    signal: r.signal.into(),
                    threshold: r.threshold,
                    points: r.points,
                    shadow: r.shadow,
                })
                .collect(),
            review_at: self.review_at,
            challenge_at: self.challenge_at,
            block_at: self.block_at,
            strict_percent: self.strict_percent,
        }
    }
}

/// The rule set in force: the newest stored, or the one miaodan ships with.
pub async fn rules_in_force(store: &Store) -> Result<RuleSet, StoreError> {
    rule_set_of(store.current_risk_rule_set().await?.as_ref())
}

/// The rule set a stored version describes, checked; the one miaodan ships with for none.
pub fn rule_set_of(stored: Option<&StoredRuleSet>) -> Result<RuleSet, StoreError> {
    let Some(stored) = stored else {
        return Ok(RuleSet::standard());
    };
    let corrupt = |why: String| StoreError::Corrupt(format!("risk rule set {}: {why}", stored.version));
    let document: RiskRuleSetDocument = serde_json::from_str(&stored.document).map_err(|e| corrupt(e.to_string()))?;
    let version = u32::try_from(stored.version).map_err(|e| corrupt(e.to_string()))?;
    let set = document.rule_set(version);
    set.check().map_err(|problem| corrupt(format!("{problem:?}")))?;
    Ok(set)
}

/// Announces `rules` to every shard (each takes them if newer). A shard that cannot take the
/// message now (its inbox full) reads the rules when it next rebuilds; the caller answers the
/// error so the admin retries.
pub async fn announce_rules(shards: &Shards, rules: &RuleSet) -> Result<(), ShardError> {
    for index in 0..shards.count() as usize {
        shards.change_risk(index, RiskChange::AdoptRules(rules.clone())).await?;
    }
    Ok(())
}

/// Gives `buyer` a pass until `until` in every shard (a buyer taps in any shop): their next
/// request there that risk would challenge goes through as a review. A shard that cannot take
/// the message now reads the running passes when it next starts; the caller answers the error.
pub async fn announce_pass(shards: &Shards, buyer: BuyerId, until: Timestamp) -> Result<(), ShardError> {
    for index in 0..shards.count() as usize {
        shards
            .change_risk(index, RiskChange::GrantPass { buyer, until })
            .await?;
    }
    Ok(())
}

/// Puts sale `sale` of `shop` in strict mode, or takes it out, in the shard that owns it.
pub async fn announce_strict(shards: &Shards, shop: ShopId, sale: FlashSaleId, strict: bool) -> Result<(), ShardError> {
    let index = shards.shard_of(shop);
    shards.change_risk(index, RiskChange::SetStrict { sale, strict }).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_signal_has_a_name_that_reads_back_as_itself() {
        for signal in Signal::ALL {
            let name = RiskSignalName::from(signal);
            assert_eq!(Signal::from(name), signal);
            let json = serde_json::to_value(name).unwrap_or_default();
            assert_eq!(json, signal.as_str());
        }
    }

    #[test]
    fn the_standard_set_reads_back_from_its_document() {
        let set = RuleSet::standard();
        assert_eq!(RiskRuleSetDocument::of(&set).rule_set(set.version), set);
    }
}
