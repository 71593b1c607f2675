//! The database's account of after-sales money, for benchmarks and tests: what was refunded
//! against what was paid, and which refund belongs to which request.
//!
//! A request's refund carries the request reference `after-sales:{id}` (see the server's
//! after-sales flow), so the link between a request and its money is read here from the two
//! tables, never from memory.

use crate::sql::{Statement, Value};
use crate::{Store, StoreError};
use miaodan_domain::Timestamp;
use miaodan_domain::ids::AfterSalesId;

/// The refund reference of request `a.id`, in SQL both backends accept.
const REQUEST_REF: &str = "'after-sales:' || CAST(a.id AS TEXT)";

/// What [`Store::audit_after_sales`] counts; every count but `requests` and `refunding` must
/// be zero.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AfterSalesAudit {
    pub requests: i64,
    /// Requests whose refund is still with the provider.
    pub refunding: i64,
    /// Orders whose refunds (all but failed ones) add up to more than the order's total.
    pub orders_refunded_above_total: i64,
    /// Payment intents whose refunds add up to more than they captured.
    pub intents_refunded_above_captured: i64,
    /// Requests with more than one refund.
    pub requests_refunded_twice: i64,
    /// Requests `refunded` without a succeeded refund of their own.
    pub refunded_without_money: i64,
    /// Refunds of requests that were never approved (refused, closed, with the merchant).
    pub money_for_unapproved_requests: i64,
}

/// A request's succeeded refund (see [`Store::after_sales_refunds`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRefund {
    pub request: AfterSalesId,
    pub amount_fen: i64,
    pub opened_at: Timestamp,
    pub settled_at: Timestamp,
}

impl Store {
    pub async fn audit_after_sales(&self) -> Result<AfterSalesAudit, StoreError> {
        let sql = format!(
            "SELECT
              (SELECT COUNT(*) FROM after_sales_requests),
              (SELECT COUNT(*) FROM after_sales_requests WHERE stage = 'refunding'),
              (SELECT COUNT(*) FROM orders o WHERE o.total_fen < (SELECT COALESCE(CAST(SUM(r.amount_fen) AS BIGINT), 0)
                 FROM refunds r WHERE r.order_id = o.id AND r.status <> 'failed')),
              (SELECT COUNT(*) FROM payment_intents i WHERE COALESCE(i.captured_fen, 0) <
                 (SELECT COALESCE(CAST(SUM(r.amount_fen) AS BIGINT), 0) FROM refunds r
                  WHERE r.intent_id = i.id AND r.status <> 'failed')),
              (SELECT COUNT(*) FROM (SELECT request_ref FROM refunds WHERE request_ref LIKE 'after-sales:%'
                 GROUP BY request_ref HAVING COUNT(*) > 1) twice),
              (SELECT COUNT(*) FROM after_sales_requests a WHERE a.stage = 'refunded' AND NOT EXISTS
                 (SELECT 1 FROM refunds r WHERE r.request_ref = {REQUEST_REF} AND r.status = 'succeeded')),
              (SELECT COUNT(*) FROM after_sales_requests a JOIN refunds r ON r.request_ref = {REQUEST_REF}
                 WHERE r.status <> 'failed' AND a.stage NOT IN ('refunding', 'refunded'))"
        );
        self.query_row(
            Statement::owned(sql, vec![]),
            |r| {
                Ok(AfterSalesAudit {
                    requests: r.i64(0)?,
                    refunding: r.i64(1)?,
                    orders_refunded_above_total: r.i64(2)?,
                    intents_refunded_above_captured: r.i64(3)?,
                    requests_refunded_twice: r.i64(4)?,
                    refunded_without_money: r.i64(5)?,
                    money_for_unapproved_requests: r.i64(6)?,
                })
            },
            || "no after-sales audit row".into(),
        )
        .await
    }

    /// Every request's succeeded refund, by request id: its amount, when the request was
    /// opened and when the provider's refund settled.
    pub async fn after_sales_refunds(&self) -> Result<Vec<RequestRefund>, StoreError> {
        let sql = format!(
            "SELECT a.id, r.amount_fen, a.opened_at, r.settled_at FROM after_sales_requests a
               JOIN refunds r ON r.request_ref = {REQUEST_REF}
              WHERE r.status = 'succeeded' AND r.settled_at IS NOT NULL ORDER BY a.id"
        );
        self.query(Statement::owned(sql, Vec::<Value>::new()), |r| {
            let id = crate::json::id(r.i64(0)?, AfterSalesId::new, "after-sales request")?;
            Ok(RequestRefund {
                request: id,
                amount_fen: r.i64(1)?,
                opened_at: Timestamp::from_unix_ms(r.i64(2)?),
                settled_at: Timestamp::from_unix_ms(r.i64(3)?),
            })
        })
        .await
    }
}
