//! One-tap pay (免密支付): the buyers' agreements and what each has spent today under them.
//!
//! The per-day limit spans every shard a buyer buys from, so it is kept here, in the one
//! process that owns all shards, behind a mutex: reserving is check-and-add in one step. It is
//! rebuilt at start from the intents charged today under an agreement, which are durable
//! before (or, for an unknown outcome, as soon as) they can have charged.

use miaodan_domain::payments::{OneTapAgreement, OneTapLimit};
use miaodan_domain::time::shanghai::LocalDate;
use miaodan_domain::{BuyerId, Fen, Timestamp};
use miaodan_store::{Store, StoreError};
use std::collections::HashMap;
use std::sync::Mutex;

/// Why one-tap pay cannot pay this amount for this buyer now (the buyer confirms instead).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OneTapRefusal {
    #[error("the buyer has no active one-tap agreement")]
    NoAgreement,
    #[error("{} fen is over the one-tap limits ({})", .amount.get(), .limit.code())]
    OverLimit {
        limit: OneTapLimit,
        amount: Fen,
        per_order_limit: Fen,
        per_day_limit: Fen,
        spent_today: Fen,
    },
}

#[derive(Default)]
pub struct OneTap {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// The active agreement of each buyer (a newer one replaces an older one).
    agreements: HashMap<BuyerId, OneTapAgreement>,
    /// Fen reserved or charged per buyer on a Shanghai day.
    spent: HashMap<BuyerId, (LocalDate, i64)>,
}

impl OneTap {
    pub async fn load(store: &Store, now: Timestamp) -> Result<OneTap, StoreError> {
        let mut inner = Inner::default();
        for agreement in store.one_tap_agreements(None).await? {
            if agreement.revoked_at.is_none() {
                inner.agreements.insert(agreement.buyer, agreement);
            }
        }
        let today = LocalDate::of(now);
        for (buyer, spent) in store.one_tap_spent_since(today.start()).await? {
            inner.spent.insert(buyer, (today, spent));
        }
        Ok(OneTap {
            inner: Mutex::new(inner),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn agreement(&self, buyer: BuyerId) -> Option<OneTapAgreement> {
        self.lock().agreements.get(&buyer).cloned()
    }

    /// `read` of the credential the buyer's agreement pays with, if it has one (risk reads its
    /// fingerprint on every tap: nothing is cloned).
    pub fn with_credential<T>(&self, buyer: BuyerId, read: impl FnOnce(&str) -> T) -> Option<T> {
        self.lock().agreements.get(&buyer).map(|a| read(&a.credential))
    }

    pub fn remember(&self, agreement: OneTapAgreement) {
        let mut inner = self.lock();
        if agreement.revoked_at.is_some() {
            if inner.agreements.get(&agreement.buyer).map(|a| a.id) == Some(agreement.id) {
                inner.agreements.remove(&agreement.buyer);
            }
        } else {
            inner.agreements.insert(agreement.buyer, agreement);
        }
    }

    /// What the buyer has spent today under one-tap pay.
    pub fn spent_today(&self, buyer: BuyerId, now: Timestamp) -> Fen {
        let today = LocalDate::of(now);
        let spent = match self.lock().spent.get(&buyer) {
            Some((day, spent)) if *day == today => *spent,
            _ => 0,
        };
        Fen::from_stored(spent).unwrap_or(Fen::ZERO)
    }

    /// Checks `amount` against the buyer's agreement and today's spending, and reserves it.
    pub fn reserve(&self, buyer: BuyerId, amount: Fen, now: Timestamp) -> Result<OneTapAgreement, OneTapRefusal> {
        let today = LocalDate::of(now);
        let mut inner = self.lock();
        let agreement = inner
            .agreements
            .get(&buyer)
            .cloned()
            .ok_or(OneTapRefusal::NoAgreement)?;
        let entry = inner.spent.entry(buyer).or_insert((today, 0));
        if entry.0 != today {
            *entry = (today, 0);
        }
        let spent = Fen::from_stored(entry.1).unwrap_or(Fen::ZERO);
        if let Err(limit) = agreement.allows(amount, spent) {
            return Err(OneTapRefusal::OverLimit {
                limit,
                amount,
                per_order_limit: agreement.per_order_limit,
                per_day_limit: agreement.per_day_limit,
                spent_today: spent,
            });
        }
        entry.1 += amount.get();
        Ok(agreement)
    }

    /// Gives back a reservation whose charge did not happen.
    pub fn release(&self, buyer: BuyerId, amount: Fen, reserved_at: Timestamp) {
        let mut inner = self.lock();
        if let Some((day, spent)) = inner.spent.get_mut(&buyer)
            && *day == LocalDate::of(reserved_at)
        {
            *spent = (*spent - amount.get()).max(0);
        }
    }
}
