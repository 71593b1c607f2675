//! Risk's step-up: when risk answers a buyer's tap or checkout `428 risk_challenge`, the buyer is
//! given a challenge — a human check ([`human_check`]) — and a right answer gives them a pass:
//! their next request within [`PASS_TTL_SECONDS`] that risk would challenge goes through as a
//! review instead (once), kept in the review queue as stepped up. A block stays a block.
//!
//! - A buyer has at most one open challenge: a second refusal while one is open answers the
//!   same challenge, so a script hammering the tap does not fill the table.
//! - A challenge takes [`CHALLENGE_ATTEMPTS_MAX`] wrong answers, then it is failed; left past
//!   [`CHALLENGE_TTL_SECONDS`] it is expired. Either way it is closed, and the next refusal
//!   opens a new one.
//! - The pass is stored with the challenge, then announced to every shard (each shard's
//!   `RiskBook` holds every pass: a buyer taps in any shop); a shard that starts reads the running
//!   passes back from the store, and one that could not take the announcement (its inbox full)
//!   challenges the buyer again until then.

pub mod human_check;

use crate::app::AppState;
use crate::risk_policy::announce_pass;
use miaodan_domain::BuyerId;
use miaodan_domain::flash_sale::FlashSaleId;
use miaodan_store::records::IdempotencyRecord;
use miaodan_store::{ChallengeKind, ChallengeState, StoreError, StoredChallenge};

/// How long a buyer has to answer a challenge.
pub const CHALLENGE_TTL_SECONDS: i64 = 300;
/// How long a pass lets the buyer's next challenged request through.
pub const PASS_TTL_SECONDS: i64 = 600;
/// Wrong answers a challenge takes before it is failed.
pub const CHALLENGE_ATTEMPTS_MAX: i64 = 3;
/// The longest answer read, in characters (a longer one is refused as input, not counted).
pub const ANSWER_CHARS_MAX: usize = 64;

/// Why an answer passed nothing.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    /// No such challenge, or another buyer's.
    #[error("no such challenge")]
    NotFound,
    /// A wrong answer; `attempts_left` more may be given (0: the challenge is now failed).
    #[error("wrong answer")]
    Wrong {
        attempts_left: i64,
        challenge: Box<StoredChallenge>,
    },
    /// The challenge was passed, failed or expired already.
    #[error("the challenge is closed")]
    Closed(Box<StoredChallenge>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The challenge a refused request of `buyer` answers: the buyer's open one, or a new one.
pub async fn offer(
    state: &AppState,
    buyer: BuyerId,
    kind: ChallengeKind,
    sale: Option<FlashSaleId>,
) -> Result<StoredChallenge, StoreError> {
    let now = state.clock.now();
    // A script hammering the tap finds its open challenge without queueing behind the writers.
    if let Some(open) = state.store.open_risk_challenge(buyer).await?
        && now < open.expires_at
    {
        return Ok(open);
    }
    let _writes = state.store.challenge_writes().await;
    if let Some(open) = state.store.open_risk_challenge(buyer).await? {
        if now < open.expires_at {
            return Ok(open);
        }
        expire(state, open).await?;
    }
    let check = state.human_check.open();
    let fresh = StoredChallenge {
        id: state.ids.risk_challenge().await?,
        buyer,
        kind,
        sale,
        check_state: check.check_state,
        prompt_en: check.prompt_en,
        prompt_zh: check.prompt_zh,
        attempts: 0,
        state: ChallengeState::Open,
        created_at: now,
        expires_at: now.plus_seconds(CHALLENGE_TTL_SECONDS),
        passed_at: None,
        pass_until: None,
    };
    state.store.insert_risk_challenge(&fresh).await?;
    // Written, or another process's open one was there first: the stored open one is the answer.
    Ok(state.store.open_risk_challenge(buyer).await?.unwrap_or(fresh))
}

async fn expire(state: &AppState, mut challenge: StoredChallenge) -> Result<StoredChallenge, StoreError> {
    challenge.state = ChallengeState::Expired;
    state.store.save_risk_challenge(&challenge, None).await?;
    Ok(challenge)
}

/// `buyer`'s challenge `id`, as it stands at `now` (an open one past its expiry reads expired).
pub async fn challenge_of(state: &AppState, buyer: BuyerId, id: i64) -> Result<Option<StoredChallenge>, StoreError> {
    let found = state.store.risk_challenge(id).await?.filter(|c| c.buyer == buyer);
    Ok(found.map(|mut c| {
        if c.state == ChallengeState::Open && state.clock.now() >= c.expires_at {
            c.state = ChallengeState::Expired;
        }
        c
    }))
}

/// Answers `buyer`'s challenge `id`: the challenge passed, or why not. A wrong or right answer
/// changes the challenge; it is saved together with the response `record` renders for it (one
/// transaction), and a pass is then announced to every shard. An answer to a closed or unknown
/// challenge changes nothing.
pub async fn answer(
    state: &AppState,
    (buyer, id): (BuyerId, i64),
    answer: &str,
    record: impl FnOnce(&Result<StoredChallenge, AnswerError>) -> Option<IdempotencyRecord>,
) -> Result<StoredChallenge, AnswerError> {
    let now = state.clock.now();
    let _writes = state.store.challenge_writes().await;
    let mut challenge = state
        .store
        .risk_challenge(id)
        .await?
        .filter(|c| c.buyer == buyer)
        .ok_or(AnswerError::NotFound)?;
    if challenge.state == ChallengeState::Open && now >= challenge.expires_at {
        challenge = expire(state, challenge).await?;
    }
    if challenge.state != ChallengeState::Open {
        return Err(AnswerError::Closed(Box::new(challenge)));
    }
    let outcome = if state.human_check.verify(&challenge.check_state, answer) {
        challenge.state = ChallengeState::Passed;
        challenge.passed_at = Some(now);
        challenge.pass_until = Some(now.plus_seconds(PASS_TTL_SECONDS));
        Ok(challenge.clone())
    } else {
        challenge.attempts += 1;
        let attempts_left = (CHALLENGE_ATTEMPTS_MAX - challenge.attempts).max(0);
        if attempts_left == 0 {
            challenge.state = ChallengeState::Failed;
        }
        Err(AnswerError::Wrong {
            attempts_left,
            challenge: Box::new(challenge.clone()),
        })
    };
    let response = record(&outcome);
    state.store.save_risk_challenge(&challenge, response.as_ref()).await?;
    if let Some(until) = challenge.pass_until
        && let Err(error) = announce_pass(&state.shards, buyer, until).await
    {
        // The pass is stored and answered: a shard that missed it (its inbox full) challenges
        // the buyer again until it restarts and reads the running passes.
        tracing::warn!(%error, "a risk pass did not reach every shard");
    }
    outcome
}
