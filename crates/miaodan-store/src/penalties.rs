//! Penalties and the deposit (保证金) ledger (migration 20).
//!
//! Penalties and deposit entries are written by the HTTP shell, not by a shard: a writer holds
//! [`Store::penalty_writes`] while it reads a penalty or a balance, decides in the core and
//! writes, so two requests never decide on the same state. One server writes at a time (the
//! store's fence); should a second one append to a ledger at once, the primary key
//! `(shop_id, seq)` refuses one of the two entries, and the table's check refuses a negative
//! balance whatever the code above it does.

use crate::platform::idempotency_statement;
use crate::records::IdempotencyRecord;
use crate::sql::{Conditions, Row, Statement, Value, fen, ms};
use crate::{Store, StoreError};
use miaodan_domain::integrity::penalty::{
    DepositEntryKind, DepositRefusal, Penalty, PenaltyKind, PenaltyState, next_balance,
};
use miaodan_domain::{Fen, ShopId, Timestamp};
use tokio::sync::{Mutex, MutexGuard};

static PENALTY_WRITES: Mutex<()> = Mutex::const_new(());

/// A penalty with what the platform records about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredPenalty {
    pub id: i64,
    pub shop: ShopId,
    pub penalty: Penalty,
    pub reason: String,
    /// The finding it answers (`fake_stock`, …) and what the finding was about (a sale id).
    pub finding_code: Option<String>,
    pub finding_subject: Option<i64>,
    pub issued_at: Timestamp,
    pub appeal_text: Option<String>,
    pub appealed_at: Option<Timestamp>,
    pub decision_note: Option<String>,
    /// Who decided: `admin` for a token, `staff:<id>` for a console session.
    pub decided_by: Option<String>,
    pub decided_at: Option<Timestamp>,
}

/// Which penalties a list covers, newest first.
#[derive(Clone, Copy, Debug)]
pub struct PenaltyFilter {
    pub shop: Option<ShopId>,
    pub state: Option<PenaltyState>,
    /// `expired` is read against this moment.
    pub now: Timestamp,
    pub before: Option<i64>,
    pub limit: i64,
}

/// One line of a shop's deposit ledger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DepositEntry {
    pub shop: ShopId,
    /// 1, 2, 3, … per shop, in the order written.
    pub seq: i64,
    pub kind: DepositEntryKind,
    pub amount: Fen,
    /// The balance after this entry.
    pub balance: Fen,
    pub penalty: Option<i64>,
    pub note: Option<String>,
    pub at: Timestamp,
}

/// An entry to append: the ledger numbers it and computes its balance.
#[derive(Clone, Debug)]
pub struct NewDepositEntry {
    pub shop: ShopId,
    pub kind: DepositEntryKind,
    pub amount: Fen,
    pub penalty: Option<i64>,
    pub note: Option<String>,
    pub at: Timestamp,
}

const PENALTY_COLUMNS: &str = "id, shop_id, kind, units, until_ms, amount_fen, reason, finding_code, finding_subject, \
     state, issued_at, appeal_text, appealed_at, decision_note, decided_by, decided_at";

fn kind_of(r: &dyn Row) -> Result<PenaltyKind, StoreError> {
    let kind = r.text(2)?;
    let missing = || StoreError::corrupt(format!("penalty kind {kind} without its parameter"));
    Ok(match kind.as_str() {
        "warning" => PenaltyKind::Warning,
        "flash_units_cap" => PenaltyKind::FlashUnitsCap {
            units: r.opt_i64(3)?.ok_or_else(missing)?,
        },
        "new_sales_suspended" => PenaltyKind::NewSalesSuspended {
            until: ms(r.opt_i64(4)?.ok_or_else(missing)?),
        },
        "deposit_deduction" => PenaltyKind::DepositDeduction {
            amount: fen(r.opt_i64(5)?.ok_or_else(missing)?)?,
        },
        other => return Err(StoreError::corrupt(format!("unknown penalty kind {other}"))),
    })
}

fn penalty_row(r: &dyn Row) -> Result<StoredPenalty, StoreError> {
    let state = r.text(9)?;
    let state = PenaltyState::parse(&state)
        .filter(|s| *s != PenaltyState::Expired)
        .ok_or_else(|| StoreError::corrupt(format!("unknown penalty state {state}")))?;
    Ok(StoredPenalty {
        id: r.i64(0)?,
        shop: crate::sql::id(r.i64(1)?, ShopId::new)?,
        penalty: Penalty {
            kind: kind_of(r)?,
            state,
        },
        reason: r.text(6)?,
        finding_code: r.opt_text(7)?,
        finding_subject: r.opt_i64(8)?,
        issued_at: ms(r.i64(10)?),
        appeal_text: r.opt_text(11)?,
        appealed_at: r.opt_i64(12)?.map(ms),
        decision_note: r.opt_text(13)?,
        decided_by: r.opt_text(14)?,
        decided_at: r.opt_i64(15)?.map(ms),
    })
}

fn kind_columns(kind: PenaltyKind) -> (Value, Value, Value) {
    let none = || Value::OptI64(None);
    match kind {
        PenaltyKind::Warning => (none(), none(), none()),
        PenaltyKind::FlashUnitsCap { units } => (Value::OptI64(Some(units)), none(), none()),
        PenaltyKind::NewSalesSuspended { until } => (none(), Value::OptI64(Some(until.unix_ms())), none()),
        PenaltyKind::DepositDeduction { amount } => (none(), none(), Value::OptI64(Some(amount.get()))),
    }
}

/// Issues `p`: what [`Store::append_deposit_entry`] writes with a deduction.
pub fn insert_penalty(p: &StoredPenalty) -> Statement {
    let (units, until, amount) = kind_columns(p.penalty.kind);
    Statement::owned(
        format!(
            "INSERT INTO penalties ({PENALTY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
        ),
        vec![
            Value::I64(p.id),
            Value::I64(p.shop.get()),
            Value::Text(p.penalty.kind.code().into()),
            units,
            until,
            amount,
            Value::Text(p.reason.clone()),
            Value::OptText(p.finding_code.clone()),
            Value::OptI64(p.finding_subject),
            Value::Text(p.penalty.state.as_str().into()),
            Value::I64(p.issued_at.unix_ms()),
            Value::OptText(p.appeal_text.clone()),
            Value::OptI64(p.appealed_at.map(Timestamp::unix_ms)),
            Value::OptText(p.decision_note.clone()),
            Value::OptText(p.decided_by.clone()),
            Value::OptI64(p.decided_at.map(Timestamp::unix_ms)),
        ],
    )
}

/// Writes what an appeal or a decision changes (with a refund, through
/// [`Store::append_deposit_entry`]).
pub fn update_penalty(p: &StoredPenalty) -> Statement {
    Statement::new(
        "UPDATE penalties SET state = $1, appeal_text = $2, appealed_at = $3, decision_note = $4, decided_by = $5,
           decided_at = $6 WHERE id = $7",
        vec![
            Value::Text(p.penalty.state.as_str().into()),
            Value::OptText(p.appeal_text.clone()),
            Value::OptI64(p.appealed_at.map(Timestamp::unix_ms)),
            Value::OptText(p.decision_note.clone()),
            Value::OptText(p.decided_by.clone()),
            Value::OptI64(p.decided_at.map(Timestamp::unix_ms)),
            Value::I64(p.id),
        ],
    )
}

fn entry_row(r: &dyn Row) -> Result<DepositEntry, StoreError> {
    let kind = r.text(2)?;
    Ok(DepositEntry {
        shop: crate::sql::id(r.i64(0)?, ShopId::new)?,
        seq: r.i64(1)?,
        kind: DepositEntryKind::parse(&kind)
            .ok_or_else(|| StoreError::corrupt(format!("unknown deposit entry kind {kind}")))?,
        amount: fen(r.i64(3)?)?,
        balance: fen(r.i64(4)?)?,
        penalty: r.opt_i64(5)?,
        note: r.opt_text(6)?,
        at: ms(r.i64(7)?),
    })
}

const ENTRY_COLUMNS: &str = "shop_id, seq, kind, amount_fen, balance_fen, penalty_id, note, at_ms";

fn insert_entry(e: &DepositEntry) -> Statement {
    Statement::owned(
        format!("INSERT INTO deposit_entries ({ENTRY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"),
        vec![
            Value::I64(e.shop.get()),
            Value::I64(e.seq),
            Value::Text(e.kind.as_str().into()),
            Value::I64(e.amount.get()),
            Value::I64(e.balance.get()),
            Value::OptI64(e.penalty),
            Value::OptText(e.note.clone()),
            Value::I64(e.at.unix_ms()),
        ],
    )
}

impl Store {
    /// Held while a penalty or a deposit is read, decided on and written (see the module).
    pub async fn penalty_writes(&self) -> MutexGuard<'static, ()> {
        PENALTY_WRITES.lock().await
    }

    pub async fn penalty(&self, id: i64) -> Result<Option<StoredPenalty>, StoreError> {
        let statement = Statement::owned(
            format!("SELECT {PENALTY_COLUMNS} FROM penalties WHERE id = $1"),
            vec![Value::I64(id)],
        );
        Ok(self.query(statement, penalty_row).await?.into_iter().next())
    }

    /// Penalties newest first, filtered.
    pub async fn penalties(&self, filter: &PenaltyFilter) -> Result<Vec<StoredPenalty>, StoreError> {
        let mut conditions = Conditions::default();
        if let Some(shop) = filter.shop {
            conditions.and("shop_id = ?", vec![Value::I64(shop.get())]);
        }
        if let Some(before) = filter.before {
            conditions.and("id < ?", vec![Value::I64(before)]);
        }
        let now = Value::I64(filter.now.unix_ms());
        match filter.state {
            None => {}
            Some(PenaltyState::Expired) => {
                conditions.and(
                    "state <> 'revoked' AND until_ms IS NOT NULL AND until_ms <= ?",
                    vec![now],
                );
            }
            Some(PenaltyState::Revoked) => conditions.and("state = 'revoked'", vec![]),
            Some(state) => conditions.and(
                "state = ? AND (until_ms IS NULL OR until_ms > ?)",
                vec![Value::Text(state.as_str().into()), now],
            ),
        }
        let statement = conditions.select(
            &format!("{PENALTY_COLUMNS} FROM penalties"),
            "ORDER BY id DESC",
            filter.limit,
        );
        self.query(statement, penalty_row).await
    }

    /// `shop`'s penalties that may forbid a sale at `now` (caps and suspensions not revoked
    /// or expired): the core decides which bite.
    pub async fn sale_penalties(&self, shop: ShopId, now: Timestamp) -> Result<Vec<Penalty>, StoreError> {
        let statement = Statement::owned(
            format!(
                "SELECT {PENALTY_COLUMNS} FROM penalties WHERE shop_id = $1 AND state <> 'revoked'
                   AND kind IN ('flash_units_cap', 'new_sales_suspended') AND (until_ms IS NULL OR until_ms > $2)"
            ),
            vec![Value::I64(shop.get()), Value::I64(now.unix_ms())],
        );
        let found = self.query(statement, penalty_row).await?;
        Ok(found.into_iter().map(|p| p.penalty).collect())
    }

    /// Issues a penalty that takes nothing from the deposit (hold [`Store::penalty_writes`]).
    pub async fn issue_penalty(
        &self,
        penalty: &StoredPenalty,
        response: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        let mut statements = vec![insert_penalty(penalty)];
        statements.extend(response.map(idempotency_statement));
        self.execute_atomically(statements).await
    }

    /// Saves an appeal or a decision (hold [`Store::penalty_writes`]).
    pub async fn save_penalty(
        &self,
        penalty: &StoredPenalty,
        response: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        let mut statements = vec![update_penalty(penalty)];
        statements.extend(response.map(idempotency_statement));
        self.execute_atomically(statements).await
    }

    /// `shop`'s latest entry (its balance), if it has any.
    pub async fn last_deposit_entry(&self, shop: ShopId) -> Result<Option<DepositEntry>, StoreError> {
        let statement = Statement::owned(
            format!("SELECT {ENTRY_COLUMNS} FROM deposit_entries WHERE shop_id = $1 ORDER BY seq DESC LIMIT 1"),
            vec![Value::I64(shop.get())],
        );
        Ok(self.query(statement, entry_row).await?.into_iter().next())
    }

    /// `shop`'s latest `limit` entries, newest first.
    pub async fn deposit_entries(&self, shop: ShopId, limit: i64) -> Result<Vec<DepositEntry>, StoreError> {
        let statement = Statement::owned(
            format!("SELECT {ENTRY_COLUMNS} FROM deposit_entries WHERE shop_id = $1 ORDER BY seq DESC LIMIT $2"),
            vec![Value::I64(shop.get()), Value::I64(limit)],
        );
        self.query(statement, entry_row).await
    }

    /// Appends `entry` after the shop's latest, with `with` (the penalty it belongs to) and the
    /// stored answer `response` makes of the entry in the same transaction; a deduction larger
    /// than the balance is refused and writes nothing. The caller holds
    /// [`Store::penalty_writes`].
    pub async fn append_deposit_entry(
        &self,
        entry: NewDepositEntry,
        with: Vec<Statement>,
        response: impl FnOnce(&DepositEntry) -> Option<IdempotencyRecord>,
    ) -> Result<Result<DepositEntry, DepositRefusal>, StoreError> {
        let last = self.last_deposit_entry(entry.shop).await?;
        let (seq, balance) = last.map_or((0, Fen::ZERO), |e| (e.seq, e.balance));
        let balance = match next_balance(balance, entry.kind, entry.amount) {
            Ok(balance) => balance,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let written = DepositEntry {
            shop: entry.shop,
            seq: seq + 1,
            kind: entry.kind,
            amount: entry.amount,
            balance,
            penalty: entry.penalty,
            note: entry.note,
            at: entry.at,
        };
        let mut statements = with;
        statements.push(insert_entry(&written));
        statements.extend(response(&written).as_ref().map(idempotency_statement));
        self.execute_atomically(statements).await?;
        Ok(Ok(written))
    }
}
