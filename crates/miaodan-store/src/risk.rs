//! Risk on disk: the rule sets admins wrote (one row per version, never changed), the flash
//! sales in strict mode, and the decisions the shards kept for people to look at — the review
//! queue, a buyer's history, a sale's risk report.
//!
//! A rule set's document is the server's JSON (this module stores it as text and does not read
//! it). A decision's fired rules are JSON this module writes and reads.

use crate::platform::idempotency_statement;
use crate::records::{IdempotencyRecord, Keyset};
use crate::sql::{Conditions, Row, ShardOf, Statement, Value};
use crate::{Store, StoreError};
use miaodan_domain::flash_sale::FlashSaleId;
use miaodan_domain::risk::{BuyerHistory, FiredRule, RETURN_PARCEL_GRACE_MS, RiskDecision, Signal, Subject, Verdict};
use miaodan_domain::{BuyerId, ShopId, Timestamp};
use serde_json::json;

const INSERT_DECISION: &str = "INSERT INTO risk_decisions (id, shop_id, flash_sale, buyer_id, ordered, enforced,
    strict, verdict, shadow_verdict, score, rule_set_version, fired, at_ms, review, kind, subject_id, stepped_up)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)";

const DECISION_COLUMNS: &str = "id, shop_id, flash_sale, buyer_id, ordered, enforced, strict, verdict,
    shadow_verdict, score, rule_set_version, fired, at_ms, review, reviewed_at_ms, review_note, kind, subject_id,
    stepped_up";

/// The decisions of one batch, in the order they were made.
#[derive(Default)]
pub(crate) struct RiskWrites<'a> {
    decisions: Vec<&'a RiskDecision>,
}

impl<'a> RiskWrites<'a> {
    pub(crate) fn decided(&mut self, decision: &'a RiskDecision) {
        self.decisions.push(decision);
    }

    pub(crate) fn push_statements(self, statements: &mut Vec<Statement>) {
        for d in self.decisions {
            let a = &d.assessment;
            let values = vec![
                Value::I64(d.id.get()),
                Value::I64(d.shop.get()),
                Value::OptI64(d.subject.sale().map(|s| s.get())),
                Value::I64(d.buyer.get()),
                Value::I64(i64::from(d.ordered)),
                Value::I64(i64::from(d.enforced)),
                Value::I64(i64::from(d.strict)),
                Value::Text(a.verdict.as_str().into()),
                Value::Text(a.shadow_verdict.as_str().into()),
                Value::I64(i64::from(a.score)),
                Value::I64(i64::from(a.rule_set_version)),
                Value::Text(fired_json(&a.fired)),
                Value::I64(d.at.unix_ms()),
                // Every decision starts in the review queue's `open` state.
                Value::Text("open".into()),
                Value::Text(d.subject.kind().into()),
                Value::OptI64(d.subject.other_id()),
                Value::I64(i64::from(a.stepped_up)),
            ];
            statements.push(Statement::new(INSERT_DECISION, values));
        }
    }
}

fn fired_json(fired: &[FiredRule]) -> String {
    let rules: Vec<serde_json::Value> = fired
        .iter()
        .map(|f| {
            json!({"code": f.code, "signal": f.signal.as_str(), "value": f.value,
                   "threshold": f.threshold, "points": f.points, "shadow": f.shadow})
        })
        .collect();
    serde_json::Value::Array(rules).to_string()
}

fn fired_from_json(text: &str) -> Result<Vec<FiredRule>, StoreError> {
    let corrupt = || StoreError::corrupt(format!("a risk decision's fired rules are not readable: {text}"));
    let rules: Vec<serde_json::Value> = serde_json::from_str(text).map_err(|_| corrupt())?;
    rules
        .iter()
        .map(|rule| {
            let int = |name: &str| rule[name].as_i64().ok_or_else(corrupt);
            Ok(FiredRule {
                code: rule["code"].as_str().ok_or_else(corrupt)?.to_string(),
                signal: rule["signal"].as_str().and_then(Signal::parse).ok_or_else(corrupt)?,
                value: int("value")?,
                threshold: int("threshold")?,
                points: u32::try_from(int("points")?).map_err(|_| corrupt())?,
                shadow: rule["shadow"].as_bool().ok_or_else(corrupt)?,
            })
        })
        .collect()
}

/// A rule set as stored: its version, the server's JSON document, the admin's note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRuleSet {
    pub version: i64,
    pub document: String,
    pub note: String,
    pub created_at: Timestamp,
}

/// Where a kept decision stands with the people who review them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Review {
    /// Nobody has looked at it yet.
    Open,
    /// A person found the buyer honest.
    Cleared,
    /// A person found the buyer a scalper or a fraud.
    Confirmed,
}

impl Review {
    pub const ALL: [Review; 3] = [Review::Open, Review::Cleared, Review::Confirmed];

    pub fn as_str(self) -> &'static str {
        match self {
            Review::Open => "open",
            Review::Cleared => "cleared",
            Review::Confirmed => "confirmed",
        }
    }

    pub fn parse(raw: &str) -> Option<Review> {
        Review::ALL.into_iter().find(|r| r.as_str() == raw)
    }
}

/// A decision as stored, with where its review stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredDecision {
    pub decision: RiskDecision,
    pub review: Review,
    pub reviewed_at: Option<Timestamp>,
    pub review_note: Option<String>,
}

/// Which kept decisions to list, newest first. Every field narrows the result.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DecisionFilter {
    pub shop: Option<ShopId>,
    pub sale: Option<FlashSaleId>,
    pub buyer: Option<BuyerId>,
    pub verdict: Option<Verdict>,
    pub review: Option<Review>,
    /// One of [`Subject::KINDS`].
    pub kind: Option<&'static str>,
}

/// A sale's kept decisions counted by verdict and by whether they acted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SaleDecisionCounts {
    /// `(verdict, enforced)` → (decisions, those whose tap still ordered, distinct buyers).
    pub by_verdict: Vec<(Verdict, bool, i64, i64, i64)>,
    /// The sale's newest decisions' fired rules (at most [`SALE_RULES_READ_MAX`] decisions).
    pub fired: Vec<Vec<FiredRule>>,
}

/// The most refunded returns of a buyer [`Store::buyer_history`] reads (its newest).
pub const RETURNS_READ_MAX: i64 = 200;

/// The most decisions a sale's risk report reads the fired rules of (its newest).
pub const SALE_RULES_READ_MAX: i64 = 10_000;

fn decision(r: &dyn Row) -> Result<StoredDecision, StoreError> {
    let corrupt = |what: &str| StoreError::corrupt(format!("a risk decision's {what} is not known"));
    let verdict =
        |idx| -> Result<Verdict, StoreError> { Verdict::parse(&r.text(idx)?).ok_or_else(|| corrupt("verdict")) };
    let id = |idx, what: &str| -> Result<i64, StoreError> {
        let raw = r.i64(idx)?;
        (raw > 0).then_some(raw).ok_or_else(|| corrupt(what))
    };
    let assessment = miaodan_domain::risk::Assessment {
        verdict: verdict(7)?,
        shadow_verdict: verdict(8)?,
        score: u32::try_from(r.i64(9)?).map_err(|_| corrupt("score"))?,
        rule_set_version: u32::try_from(r.i64(10)?).map_err(|_| corrupt("rule set version"))?,
        fired: fired_from_json(&r.text(11)?)?,
        stepped_up: r.i64(18)? != 0,
    };
    let decision = RiskDecision {
        id: miaodan_domain::OrderId::new(id(0, "id")?).ok_or_else(|| corrupt("id"))?,
        shop: ShopId::new(id(1, "shop")?).ok_or_else(|| corrupt("shop"))?,
        subject: Subject::of(&r.text(16)?, r.opt_i64(2)?, r.opt_i64(17)?).ok_or_else(|| corrupt("subject"))?,
        buyer: BuyerId::new(id(3, "buyer")?).ok_or_else(|| corrupt("buyer"))?,
        ordered: r.i64(4)? != 0,
        enforced: r.i64(5)? != 0,
        strict: r.i64(6)? != 0,
        assessment,
        at: Timestamp::from_unix_ms(r.i64(12)?),
    };
    Ok(StoredDecision {
        decision,
        review: Review::parse(&r.text(13)?).ok_or_else(|| corrupt("review"))?,
        reviewed_at: r.opt_i64(14)?.map(Timestamp::from_unix_ms),
        review_note: r.opt_text(15)?,
    })
}

impl Store {
    /// The newest rule set an admin wrote, if any (the compiled-in version 1 otherwise).
    pub async fn current_risk_rule_set(&self) -> Result<Option<StoredRuleSet>, StoreError> {
        let statement = Statement::new(
            "SELECT version, document, note, created_at_ms FROM risk_rule_sets ORDER BY version DESC LIMIT 1",
            vec![],
        );
        let sets = self
            .query(statement, |r| {
                Ok(StoredRuleSet {
                    version: r.i64(0)?,
                    document: r.text(1)?,
                    note: r.text(2)?,
                    created_at: Timestamp::from_unix_ms(r.i64(3)?),
                })
            })
            .await?;
        Ok(sets.into_iter().next())
    }

    /// Writes a new rule set. The caller numbers it one past the newest and writes one set at
    /// a time; a version written already is an error, never overwritten.
    pub async fn save_risk_rule_set(
        &self,
        set: &StoredRuleSet,
        response: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        let statement = Statement::new(
            "INSERT INTO risk_rule_sets (version, document, note, created_at_ms) VALUES ($1, $2, $3, $4)",
            vec![
                Value::I64(set.version),
                Value::Text(set.document.clone()),
                Value::Text(set.note.clone()),
                Value::I64(set.created_at.unix_ms()),
            ],
        );
        let mut statements = vec![statement];
        statements.extend(response.map(idempotency_statement));
        self.execute_atomically(statements).await
    }

    /// Puts sale `sale` of `shop` in strict mode, or takes it out.
    pub async fn set_sale_strict(
        &self,
        shop: ShopId,
        sale: FlashSaleId,
        strict: bool,
        at: Timestamp,
        response: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        let keys = vec![Value::I64(shop.get()), Value::I64(sale.get())];
        let statement = if strict {
            let mut values = keys;
            values.push(Value::I64(at.unix_ms()));
            Statement::new(
                "INSERT INTO risk_strict_sales (shop_id, flash_sale, set_at_ms) VALUES ($1, $2, $3)
                 ON CONFLICT (shop_id, flash_sale) DO NOTHING",
                values,
            )
        } else {
            Statement::new(
                "DELETE FROM risk_strict_sales WHERE shop_id = $1 AND flash_sale = $2",
                keys,
            )
        };
        let mut statements = vec![statement];
        statements.extend(response.map(idempotency_statement));
        self.execute_atomically(statements).await
    }

    /// Whether sale `sale` of `shop` is in strict mode.
    pub async fn is_sale_strict(&self, shop: ShopId, sale: FlashSaleId) -> Result<bool, StoreError> {
        let statement = Statement::new(
            "SELECT COUNT(*) FROM risk_strict_sales WHERE shop_id = $1 AND flash_sale = $2",
            vec![Value::I64(shop.get()), Value::I64(sale.get())],
        );
        let counts = self.query(statement, |r| r.i64(0)).await?;
        Ok(counts.first().copied().unwrap_or(0) > 0)
    }

    /// The sales in strict mode of the shops of shard `index` of `count`.
    pub async fn strict_sales(&self, index: u32, count: u32) -> Result<Vec<FlashSaleId>, StoreError> {
        let statement = Statement::new(
            "SELECT flash_sale FROM risk_strict_sales WHERE shop_id % $1 = $2",
            ShardOf { index, count }.params(),
        );
        let ids = self.query(statement, |r| r.i64(0)).await?;
        Ok(ids.into_iter().filter_map(FlashSaleId::new).collect())
    }

    /// What a buyer's past says for risk ([`BuyerHistory`]) at `now`: its paid orders, its
    /// refunded requests and, among its newest [`RETURNS_READ_MAX`] refunded returns, those
    /// whose parcel never reached the warehouse. Read for checkouts, payments and after-sales
    /// requests, never for a tap.
    pub async fn buyer_history(&self, buyer: BuyerId, now: Timestamp) -> Result<BuyerHistory, StoreError> {
        let count = |n: i64| u32::try_from(n).unwrap_or(u32::MAX);
        let paid_orders = count(self.buyer_paid_orders(buyer).await?);
        let refunded_requests = count(self.after_sales_refunded_count(buyer).await?);
        let statement = Statement::new(
            "SELECT id, body FROM after_sales_requests WHERE buyer_id = $1 AND kind = 'return_and_refund'
               AND stage IN ('refunding', 'refunded') ORDER BY opened_at DESC, id DESC LIMIT $2",
            vec![Value::I64(buyer.get()), Value::I64(RETURNS_READ_MAX)],
        );
        let returns = self.query(statement, crate::after_sales::request_row).await?;
        let without_parcel = returns
            .iter()
            .filter(|saved| saved.request.refunded_without_parcel(now, RETURN_PARCEL_GRACE_MS))
            .count();
        Ok(BuyerHistory {
            paid_orders,
            refunded_requests,
            returns_without_parcel: count(i64::try_from(without_parcel).unwrap_or(i64::MAX)),
        })
    }

    /// A page of kept decisions, newest first.
    pub async fn risk_decisions(
        &self,
        filter: &DecisionFilter,
        page: Keyset<i64>,
    ) -> Result<Vec<StoredDecision>, StoreError> {
        let mut conditions = Conditions::default();
        if let Some(shop) = filter.shop {
            conditions.and("shop_id = ?", vec![Value::I64(shop.get())]);
        }
        if let Some(sale) = filter.sale {
            conditions.and("flash_sale = ?", vec![Value::I64(sale.get())]);
        }
        if let Some(buyer) = filter.buyer {
            conditions.and("buyer_id = ?", vec![Value::I64(buyer.get())]);
        }
        if let Some(verdict) = filter.verdict {
            conditions.and("verdict = ?", vec![Value::Text(verdict.as_str().into())]);
        }
        if let Some(review) = filter.review {
            conditions.and("review = ?", vec![Value::Text(review.as_str().into())]);
        }
        if let Some(kind) = filter.kind {
            conditions.and("kind = ?", vec![Value::Text(kind.into())]);
        }
        if let Some(after) = page.after {
            conditions.and("id < ?", vec![Value::I64(after)]);
        }
        let head = format!("{DECISION_COLUMNS} FROM risk_decisions");
        self.query(conditions.select(&head, "ORDER BY id DESC", page.limit), decision)
            .await
    }

    /// One kept decision.
    pub async fn risk_decision(&self, id: i64) -> Result<Option<StoredDecision>, StoreError> {
        let statement = Statement::owned(
            format!("SELECT {DECISION_COLUMNS} FROM risk_decisions WHERE id = $1"),
            vec![Value::I64(id)],
        );
        Ok(self.query(statement, decision).await?.pop())
    }

    /// Records a person's review of an open decision; a decision reviewed already keeps its
    /// first review (the caller reads it back to tell).
    pub async fn review_risk_decision(
        &self,
        id: i64,
        review: Review,
        note: &str,
        at: Timestamp,
        response: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        let statement = Statement::new(
            "UPDATE risk_decisions SET review = $1, review_note = $2, reviewed_at_ms = $3
             WHERE id = $4 AND review = 'open'",
            vec![
                Value::Text(review.as_str().into()),
                Value::Text(note.into()),
                Value::I64(at.unix_ms()),
                Value::I64(id),
            ],
        );
        let mut statements = vec![statement];
        statements.extend(response.map(idempotency_statement));
        self.execute_atomically(statements).await
    }

    /// Sale `sale`'s kept decisions counted, and its newest decisions' fired rules.
    pub async fn sale_decision_counts(
        &self,
        shop: ShopId,
        sale: FlashSaleId,
    ) -> Result<SaleDecisionCounts, StoreError> {
        let keys = vec![Value::I64(shop.get()), Value::I64(sale.get())];
        let counts = Statement::new(
            "SELECT verdict, enforced, COUNT(*), CAST(SUM(ordered) AS BIGINT), COUNT(DISTINCT buyer_id)
             FROM risk_decisions WHERE shop_id = $1 AND flash_sale = $2 GROUP BY verdict, enforced
             ORDER BY verdict, enforced",
            keys.clone(),
        );
        let by_verdict = self
            .query(counts, |r| {
                let verdict = Verdict::parse(&r.text(0)?)
                    .ok_or_else(|| StoreError::corrupt("a risk decision's verdict is not known".into()))?;
                Ok((verdict, r.i64(1)? != 0, r.i64(2)?, r.i64(3)?, r.i64(4)?))
            })
            .await?;
        let mut values = keys;
        values.push(Value::I64(SALE_RULES_READ_MAX));
        let fired = Statement::new(
            "SELECT fired FROM risk_decisions WHERE shop_id = $1 AND flash_sale = $2 ORDER BY id DESC LIMIT $3",
            values,
        );
        let fired = self.query(fired, |r| fired_from_json(&r.text(0)?)).await?;
        Ok(SaleDecisionCounts { by_verdict, fired })
    }
}
