//! Outgoing webhooks' pure rules: which events an endpoint subscribes to, and when a failed
//! delivery is tried again.
//!
//! A subscription names exact topics (`order.paid`) or whole families (`shipment`), each one
//! of [`Topic::all`] or [`Family::ALL`], each once; an event matches when its topic is named or its
//! family is. The retry schedule doubles from a first delay up to a ceiling, with a jitter the
//! caller draws (the core has no RNG), so endpoints that failed together do not retry together.

use crate::events::{Family, Topic};

/// The most topics or families one endpoint names.
pub const SUBSCRIPTION_TOPICS_MAX: usize = 64;

/// What an endpoint subscribes to: topics and families, sorted, each once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    names: Vec<String>,
}

/// Why a list of topics is no subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubscriptionError {
    Empty,
    TooMany,
    /// Neither a family nor a topic: the name as given.
    Unknown(String),
    /// Named twice.
    Duplicate(String),
}

impl Subscription {
    pub fn parse<S: AsRef<str>>(raw: &[S]) -> Result<Subscription, SubscriptionError> {
        if raw.is_empty() {
            return Err(SubscriptionError::Empty);
        }
        if raw.len() > SUBSCRIPTION_TOPICS_MAX {
            return Err(SubscriptionError::TooMany);
        }
        let topics = Topic::all();
        let mut names = Vec::with_capacity(raw.len());
        for name in raw.iter().map(AsRef::as_ref) {
            let known = Family::ALL.iter().any(|f| f.as_str() == name) || topics.iter().any(|t| t.to_string() == name);
            if !known {
                return Err(SubscriptionError::Unknown(name.to_string()));
            }
            if names.iter().any(|n| n == name) {
                return Err(SubscriptionError::Duplicate(name.to_string()));
            }
            names.push(name.to_string());
        }
        names.sort();
        Ok(Subscription { names })
    }

    /// The names as stored: separated by spaces.
    pub fn to_stored(&self) -> String {
        self.names.join(" ")
    }

    /// Reads back what [`Subscription::to_stored`] wrote (names no longer known are kept: they
    /// match nothing).
    pub fn from_stored(stored: &str) -> Subscription {
        Subscription {
            names: stored
                .split(' ')
                .filter(|n| !n.is_empty())
                .map(str::to_string)
                .collect(),
        }
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Whether an event of `topic` (`family.action`) goes to this endpoint.
    pub fn matches(&self, topic: &str) -> bool {
        let family = topic.split_once('.').map_or(topic, |(family, _)| family);
        self.names.iter().any(|n| n == topic || n == family)
    }
}

/// When failed deliveries are tried again: `first_ms` after the first failure, doubling after
/// each, never more than `ceiling_ms` apart; given up `window_ms` after the event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetrySchedule {
    pub first_ms: i64,
    pub ceiling_ms: i64,
    pub window_ms: i64,
}

/// The jitter's range: ± this many per mille of the delay.
pub const JITTER_PER_MILLE_MAX: i64 = 100;

impl RetrySchedule {
    /// The production schedule: 10 s, 20 s, 40 s, … at most an hour apart, for 3 days (about
    /// 80 attempts).
    pub const DEFAULT: RetrySchedule = RetrySchedule {
        first_ms: 10_000,
        ceiling_ms: 3_600_000,
        window_ms: 3 * 24 * 3_600_000,
    };

    /// The wait after the `failures`-th failure in a row (1 for the first), moved by
    /// `jitter_per_mille` (clamped to ±[`JITTER_PER_MILLE_MAX`]).
    pub fn delay_ms(&self, failures: i64, jitter_per_mille: i64) -> i64 {
        let doublings = u32::try_from((failures - 1).clamp(0, 40)).unwrap_or(40);
        let base = self
            .first_ms
            .checked_mul(1_i64 << doublings)
            .unwrap_or(self.ceiling_ms)
            .min(self.ceiling_ms);
        let jitter = jitter_per_mille.clamp(-JITTER_PER_MILLE_MAX, JITTER_PER_MILLE_MAX);
        (base + base * jitter / 1000).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subscription_names_topics_and_families_once_each() {
        let s = Subscription::parse(&["shipment", "order.paid"]).expect("a subscription");
        assert_eq!(s.names(), ["order.paid", "shipment"]);
        assert_eq!(Subscription::from_stored(&s.to_stored()), s);
        assert_eq!(
            Subscription::parse(&["order.paid", "order.paid"]),
            Err(SubscriptionError::Duplicate("order.paid".into()))
        );
    }

    #[test]
    fn an_event_matches_by_its_topic_or_its_family() {
        let s = Subscription::parse(&["shipment", "order.paid"]).expect("a subscription");
        for (topic, expected) in [
            ("order.paid", true),
            ("order.placed", false),
            ("shipment.delivered", true),
            ("after_sales.refunded", false),
            ("shipment", true),
        ] {
            assert_eq!(s.matches(topic), expected, "{topic}");
        }
    }

    #[test]
    fn an_unknown_or_empty_list_of_topics_is_no_subscription() {
        assert_eq!(Subscription::parse::<&str>(&[]), Err(SubscriptionError::Empty));
        assert_eq!(
            Subscription::parse(&["order.teleported"]),
            Err(SubscriptionError::Unknown("order.teleported".into()))
        );
        let many: Vec<String> = (0..=SUBSCRIPTION_TOPICS_MAX).map(|_| "order".to_string()).collect();
        assert_eq!(Subscription::parse(&many), Err(SubscriptionError::TooMany));
    }

    #[test]
    fn retries_double_up_to_the_ceiling_and_jitter_stays_within_a_tenth() {
        let s = RetrySchedule::DEFAULT;
        let delays: Vec<i64> = (1..=10).map(|n| s.delay_ms(n, 0)).collect();
        assert_eq!(
            delays,
            [
                10_000, 20_000, 40_000, 80_000, 160_000, 320_000, 640_000, 1_280_000, 2_560_000, 3_600_000
            ]
        );
        assert_eq!(s.delay_ms(1_000, 0), 3_600_000);
        assert_eq!(s.delay_ms(1, 100), 11_000);
        assert_eq!(s.delay_ms(1, -5_000), 9_000);
    }

    #[test]
    fn the_default_schedule_retries_for_three_days_in_about_eighty_attempts() {
        let s = RetrySchedule::DEFAULT;
        let (mut waited, mut attempts) = (0, 0);
        while waited < s.window_ms {
            attempts += 1;
            waited += s.delay_ms(attempts, 0);
        }
        assert!((75..=85).contains(&attempts), "{attempts}");
    }
}
