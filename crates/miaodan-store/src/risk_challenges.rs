//! Risk's step-up challenges on disk (migration 0025): one row per challenge a buyer was given
//! when risk answered `428 risk_challenge`, with the human check's opaque state, the attempts
//! used and where it stands. At most one is open per buyer (a partial unique index): opening
//! another while one is open finds the open one.
//!
//! Answers are read, decided and written under [`Store::challenge_writes`], so two answers to one
//! challenge sent at once count as two attempts, one after the other.

use crate::platform::idempotency_statement;
use crate::records::IdempotencyRecord;
use crate::sql::{Row, Statement, Value};
use crate::{Store, StoreError};
use miaodan_domain::flash_sale::FlashSaleId;
use miaodan_domain::{BuyerId, Timestamp};
use tokio::sync::{Mutex, MutexGuard};

static CHALLENGE_WRITES: Mutex<()> = Mutex::const_new(());

/// The request a challenge was given for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChallengeKind {
    Tap,
    Checkout,
    Payment,
}

impl ChallengeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChallengeKind::Tap => "tap",
            ChallengeKind::Checkout => "checkout",
            ChallengeKind::Payment => "payment",
        }
    }

    pub fn parse(raw: &str) -> Option<ChallengeKind> {
        [ChallengeKind::Tap, ChallengeKind::Checkout, ChallengeKind::Payment]
            .into_iter()
            .find(|k| k.as_str() == raw)
    }
}

/// Where a challenge stands: open until answered right (passed), answered wrong too often
/// (failed) or left past its expiry (expired).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChallengeState {
    Open,
    Passed,
    Failed,
    Expired,
}

impl ChallengeState {
    pub const ALL: [ChallengeState; 4] = [
        ChallengeState::Open,
        ChallengeState::Passed,
        ChallengeState::Failed,
        ChallengeState::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChallengeState::Open => "open",
            ChallengeState::Passed => "passed",
            ChallengeState::Failed => "failed",
            ChallengeState::Expired => "expired",
        }
    }

    pub fn parse(raw: &str) -> Option<ChallengeState> {
        ChallengeState::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

/// A challenge as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredChallenge {
    pub id: i64,
    pub buyer: BuyerId,
    pub kind: ChallengeKind,
    /// The tap's sale; `None` for a checkout.
    pub sale: Option<FlashSaleId>,
    /// What the human check needs to verify an answer (its adapter's, opaque here).
    pub check_state: String,
    pub prompt_en: String,
    pub prompt_zh: String,
    /// Wrong answers given so far.
    pub attempts: i64,
    pub state: ChallengeState,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub passed_at: Option<Timestamp>,
    /// Until when the pass a right answer gave lets the buyer through.
    pub pass_until: Option<Timestamp>,
}

const COLUMNS: &str = "id, buyer_id, kind, flash_sale, check_state, prompt_en, prompt_zh, attempts, state,
    created_at_ms, expires_at_ms, passed_at_ms, pass_until_ms";

fn challenge(r: &dyn Row) -> Result<StoredChallenge, StoreError> {
    let corrupt = |what: &str| StoreError::corrupt(format!("a risk challenge's {what} is not known"));
    Ok(StoredChallenge {
        id: r.i64(0)?,
        buyer: BuyerId::new(r.i64(1)?).ok_or_else(|| corrupt("buyer"))?,
        kind: ChallengeKind::parse(&r.text(2)?).ok_or_else(|| corrupt("kind"))?,
        sale: match r.opt_i64(3)? {
            Some(raw) => Some(FlashSaleId::new(raw).ok_or_else(|| corrupt("sale"))?),
            None => None,
        },
        check_state: r.text(4)?,
        prompt_en: r.text(5)?,
        prompt_zh: r.text(6)?,
        attempts: r.i64(7)?,
        state: ChallengeState::parse(&r.text(8)?).ok_or_else(|| corrupt("state"))?,
        created_at: Timestamp::from_unix_ms(r.i64(9)?),
        expires_at: Timestamp::from_unix_ms(r.i64(10)?),
        passed_at: r.opt_i64(11)?.map(Timestamp::from_unix_ms),
        pass_until: r.opt_i64(12)?.map(Timestamp::from_unix_ms),
    })
}

impl Store {
    /// Held while a challenge is read, answered and written (see the module).
    pub async fn challenge_writes(&self) -> MutexGuard<'static, ()> {
        CHALLENGE_WRITES.lock().await
    }

    /// One challenge.
    pub async fn risk_challenge(&self, id: i64) -> Result<Option<StoredChallenge>, StoreError> {
        let statement = Statement::owned(
            format!("SELECT {COLUMNS} FROM risk_challenges WHERE id = $1"),
            vec![Value::I64(id)],
        );
        Ok(self.query(statement, challenge).await?.pop())
    }

    /// The buyer's open challenge, if it has one (expired or not: the caller tells).
    pub async fn open_risk_challenge(&self, buyer: BuyerId) -> Result<Option<StoredChallenge>, StoreError> {
        let statement = Statement::owned(
            format!("SELECT {COLUMNS} FROM risk_challenges WHERE buyer_id = $1 AND state = 'open'"),
            vec![Value::I64(buyer.get())],
        );
        Ok(self.query(statement, challenge).await?.pop())
    }

    /// Writes a new open challenge, unless its buyer has one open already (then nothing is
    /// written: the caller reads the open one).
    pub async fn insert_risk_challenge(&self, c: &StoredChallenge) -> Result<(), StoreError> {
        let statement = Statement::owned(
            format!(
                "INSERT INTO risk_challenges ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                 ON CONFLICT DO NOTHING"
            ),
            vec![
                Value::I64(c.id),
                Value::I64(c.buyer.get()),
                Value::Text(c.kind.as_str().into()),
                Value::OptI64(c.sale.map(|s| s.get())),
                Value::Text(c.check_state.clone()),
                Value::Text(c.prompt_en.clone()),
                Value::Text(c.prompt_zh.clone()),
                Value::I64(c.attempts),
                Value::Text(c.state.as_str().into()),
                Value::I64(c.created_at.unix_ms()),
                Value::I64(c.expires_at.unix_ms()),
                Value::OptI64(c.passed_at.map(Timestamp::unix_ms)),
                Value::OptI64(c.pass_until.map(Timestamp::unix_ms)),
            ],
        );
        self.execute_atomically(vec![statement]).await
    }

    /// Saves a challenge's attempts and state (hold [`Store::challenge_writes`]), with the
    /// answer's stored response if any.
    pub async fn save_risk_challenge(
        &self,
        c: &StoredChallenge,
        response: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        let statement = Statement::new(
            "UPDATE risk_challenges SET attempts = $1, state = $2, passed_at_ms = $3, pass_until_ms = $4 WHERE id = $5",
            vec![
                Value::I64(c.attempts),
                Value::Text(c.state.as_str().into()),
                Value::OptI64(c.passed_at.map(Timestamp::unix_ms)),
                Value::OptI64(c.pass_until.map(Timestamp::unix_ms)),
                Value::I64(c.id),
            ],
        );
        let mut statements = vec![statement];
        statements.extend(response.map(idempotency_statement));
        self.execute_atomically(statements).await
    }

    /// The passes still running at `now` (a starting shard gives them back to its book).
    pub async fn running_risk_passes(&self, now: Timestamp) -> Result<Vec<(BuyerId, Timestamp)>, StoreError> {
        let statement = Statement::new(
            "SELECT buyer_id, pass_until_ms FROM risk_challenges WHERE state = 'passed' AND pass_until_ms > $1",
            vec![Value::I64(now.unix_ms())],
        );
        let rows = self.query(statement, |r| Ok((r.i64(0)?, r.i64(1)?))).await?;
        Ok(rows
            .into_iter()
            .filter_map(|(buyer, until)| Some((BuyerId::new(buyer)?, Timestamp::from_unix_ms(until))))
            .collect())
    }
}
