//! Ids reserved in blocks (migration 0029, `id_blocks`): one row per kind of id holds the next
//! id no process was given. A process reserves a block by raising it in one statement and hands
//! the block's ids out from memory, so processes sharing a database never hand out one id twice,
//! whichever shards they own, and a process that stops leaves a gap, never a reuse.
//!
//! A reservation writes outside any lease: one a fenced process makes only wastes ids, and a
//! process that does not own shard 0 (a cluster member owning other shards) needs ids too.

use crate::records::IdMaxima;
use crate::sql::{Statement, Value};
use crate::{Store, StoreError};

/// What a process hands out ids for: one row of `id_blocks` each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IdKind {
    Shop,
    Buyer,
    Product,
    Sku,
    Warehouse,
    /// An order, and a flash-sale tap's risk decision (which carries the id its order would have
    /// had).
    Order,
    Checkout,
    Token,
    FlashSale,
    PaymentIntent,
    Refund,
    OneTapAgreement,
    Notification,
    Shipment,
    AfterSales,
    DiagnosisReport,
    StaffMember,
    StaffSession,
    AuditEntry,
    Penalty,
    RiskChallenge,
    Conversation,
    /// A stored answer of a request with an `Idempotency-Key`.
    IdempotencyResponse,
    WebhookEndpoint,
    WebhookDelivery,
}

impl IdKind {
    pub const ALL: [IdKind; 25] = [
        IdKind::Shop,
        IdKind::Buyer,
        IdKind::Product,
        IdKind::Sku,
        IdKind::Warehouse,
        IdKind::Order,
        IdKind::Checkout,
        IdKind::Token,
        IdKind::FlashSale,
        IdKind::PaymentIntent,
        IdKind::Refund,
        IdKind::OneTapAgreement,
        IdKind::Notification,
        IdKind::Shipment,
        IdKind::AfterSales,
        IdKind::DiagnosisReport,
        IdKind::StaffMember,
        IdKind::StaffSession,
        IdKind::AuditEntry,
        IdKind::Penalty,
        IdKind::RiskChallenge,
        IdKind::Conversation,
        IdKind::IdempotencyResponse,
        IdKind::WebhookEndpoint,
        IdKind::WebhookDelivery,
    ];

    /// Its row's key in `id_blocks`: stored, so never renamed.
    pub fn as_str(self) -> &'static str {
        match self {
            IdKind::Shop => "shop",
            IdKind::Buyer => "buyer",
            IdKind::Product => "product",
            IdKind::Sku => "sku",
            IdKind::Warehouse => "warehouse",
            IdKind::Order => "order",
            IdKind::Checkout => "checkout",
            IdKind::Token => "token",
            IdKind::FlashSale => "flash_sale",
            IdKind::PaymentIntent => "payment_intent",
            IdKind::Refund => "refund",
            IdKind::OneTapAgreement => "one_tap_agreement",
            IdKind::Notification => "notification",
            IdKind::Shipment => "shipment",
            IdKind::AfterSales => "after_sales",
            IdKind::DiagnosisReport => "diagnosis_report",
            IdKind::StaffMember => "staff_member",
            IdKind::StaffSession => "staff_session",
            IdKind::AuditEntry => "audit_entry",
            IdKind::Penalty => "penalty",
            IdKind::RiskChallenge => "risk_challenge",
            IdKind::Conversation => "conversation",
            IdKind::IdempotencyResponse => "idempotency_response",
            IdKind::WebhookEndpoint => "webhook_endpoint",
            IdKind::WebhookDelivery => "webhook_delivery",
        }
    }

    /// The highest id of this kind among `maxima`.
    fn highest(self, maxima: &IdMaxima) -> i64 {
        match self {
            IdKind::Shop => maxima.shop,
            IdKind::Buyer => maxima.buyer,
            IdKind::Product => maxima.product,
            IdKind::Sku => maxima.sku,
            IdKind::Warehouse => maxima.warehouse,
            IdKind::Order => maxima.order,
            IdKind::Checkout => maxima.checkout,
            IdKind::Token => maxima.token,
            IdKind::FlashSale => maxima.flash_sale,
            IdKind::PaymentIntent => maxima.payment_intent,
            IdKind::Refund => maxima.refund,
            IdKind::OneTapAgreement => maxima.one_tap_agreement,
            IdKind::Notification => maxima.notification,
            IdKind::Shipment => maxima.shipment,
            IdKind::AfterSales => maxima.after_sales,
            IdKind::DiagnosisReport => maxima.diagnosis_report,
            IdKind::StaffMember => maxima.staff_member,
            IdKind::StaffSession => maxima.staff_session,
            IdKind::AuditEntry => maxima.audit_entry,
            IdKind::Penalty => maxima.penalty,
            IdKind::RiskChallenge => maxima.risk_challenge,
            IdKind::Conversation => maxima.conversation,
            IdKind::IdempotencyResponse => maxima.idempotency_response,
            IdKind::WebhookEndpoint => maxima.webhook_endpoint,
            IdKind::WebhookDelivery => maxima.webhook_delivery,
        }
    }
}

/// Raises a kind's next free id to at least `$2`, creating its row.
const RAISE: &str = "INSERT INTO id_blocks (kind, next_free) VALUES ($1, $2)
    ON CONFLICT (kind) DO UPDATE SET next_free =
      CASE WHEN id_blocks.next_free > excluded.next_free THEN id_blocks.next_free ELSE excluded.next_free END";

/// Takes `$2` ids of kind `$1` and answers the first of them.
/// (`CAST`: PostgreSQL would take `$2` for an `INTEGER` from `1 + $2`.)
const RESERVE: &str = "INSERT INTO id_blocks (kind, next_free) VALUES ($1, CAST($2 AS BIGINT) + 1)
    ON CONFLICT (kind) DO UPDATE SET next_free = id_blocks.next_free + $2
    RETURNING next_free - $2";

impl Store {
    /// Reserves `count` (at least 1) consecutive ids of `kind` and answers the first: no other
    /// reservation, by this process or another, is given any of them.
    pub async fn reserve_ids(&self, kind: IdKind, count: i64) -> Result<i64, StoreError> {
        if count < 1 {
            return Err(StoreError::Worker(format!("a block of {count} ids")));
        }
        let statement = Statement::new(RESERVE, vec![Value::Text(kind.as_str().into()), Value::I64(count)]);
        self.execute_returning(statement, |r| r.i64(0))
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::corrupt(format!("no block of {} ids reserved", kind.as_str())))
    }

    /// Raises every kind's next free id above the highest id stored, so no block holds an id in
    /// use: rows written before ids came in blocks, or by hand, or imported. A process runs it as
    /// it opens the store.
    pub async fn align_id_blocks(&self) -> Result<IdMaxima, StoreError> {
        let maxima = self.id_maxima().await?;
        let raises = IdKind::ALL
            .iter()
            .map(|kind| {
                let next_free = kind.highest(&maxima) + 1;
                Statement::new(RAISE, vec![Value::Text(kind.as_str().into()), Value::I64(next_free)])
            })
            .collect();
        self.execute_guarded(Vec::new(), raises).await?;
        Ok(maxima)
    }
}
