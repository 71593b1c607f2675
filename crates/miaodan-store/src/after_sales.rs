//! After-sales requests on disk: one row per request, the request whole in `body` (a versioned
//! storage type, see [`crate::json`]) beside the columns it is looked up and listed by.
//!
//! The `V1` types are frozen: field names, order and enum spellings are the bytes on disk. A
//! decision keeps the rule set's version, its mode and every fired rule with its parameters,
//! so it can be explained later exactly as it was made.

mod address;
mod audit;
pub use audit::{AfterSalesAudit, RequestRefund};

use crate::json::{self, id};
use crate::logistics::stored::ShipmentV1;
use crate::records::Keyset;
use crate::sql::{Conditions, Row, ShardOf, Statement, Value};
use crate::{Store, StoreError};
use miaodan_domain::after_sales::commands::SavedRequest;
use miaodan_domain::after_sales::policy::{AfterSalesPolicy, ExemptGoods, ReturnShipping, ShopPolicy};
use miaodan_domain::after_sales::request::{
    Actor, AfterSalesRequest, Inspection, Replacement, RequestLine, ReturnParcel, ReturnPickup, Stage, Step,
};
use miaodan_domain::after_sales::rules::{Decision, Fired, RuleMode, Verdict};
use miaodan_domain::after_sales::{Reason, RequestKind};
use miaodan_domain::fulfillment::network::CarrierId;
use miaodan_domain::ids::AfterSalesId;
use miaodan_domain::inventory::Allocation;
use miaodan_domain::logistics::Shipment;
use miaodan_domain::logistics::shipment::parse_waybill;
use miaodan_domain::{BuyerId, Fen, OrderId, ShopId, SkuId, Timestamp, WarehouseId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

const REQUEST: &str = "after-sales request";

const UPSERT_REQUEST: &str = "INSERT INTO after_sales_requests (id, shop_id, buyer_id, order_id, kind, stage,
    opened_at, body, settled_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
    ON CONFLICT (id{SPREAD_BY shop_id}) DO UPDATE SET stage = excluded.stage, body = excluded.body,
      settled_at_ms = excluded.settled_at_ms";

const INSERT_RETURN_WAYBILL: &str = "INSERT INTO after_sales_return_waybills (carrier, waybill, request_id,
    shop_id) VALUES ($1, $2, $3, $4) ON CONFLICT (carrier, waybill{SPREAD_BY shop_id}) DO NOTHING";

const UPSERT_POLICY: &str = "INSERT INTO after_sales_policies (shop_id, body) VALUES ($1, $2)
    ON CONFLICT (shop_id) DO UPDATE SET body = excluded.body";

/// The after-sales effects of one batch, coalesced per request and per shop's policy (the
/// last state wins).
#[derive(Default)]
pub(crate) struct AfterSalesWrites<'a> {
    requests: BTreeMap<AfterSalesId, &'a SavedRequest>,
    policies: BTreeMap<ShopId, &'a ShopPolicy>,
}

impl<'a> AfterSalesWrites<'a> {
    pub(crate) fn saved(&mut self, saved: &'a SavedRequest) {
        self.requests.insert(saved.id, saved);
    }

    pub(crate) fn policy_saved(&mut self, shop: ShopId, policy: &'a ShopPolicy) {
        self.policies.insert(shop, policy);
    }

    pub(crate) fn push_statements(self, statements: &mut Vec<Statement>) {
        for saved in self.requests.into_values() {
            statements.push(upsert_request(saved));
            if let Some(pickup) = &saved.request.return_pickup {
                statements.push(Statement::new(
                    INSERT_RETURN_WAYBILL,
                    vec![
                        Value::Text(pickup.shipment.carrier.as_str().into()),
                        Value::Text(pickup.shipment.waybill.as_str().into()),
                        Value::I64(saved.id.get()),
                        Value::I64(saved.request.shop.get()),
                    ],
                ));
            }
        }
        statements.extend(self.policies.into_iter().map(|(shop, policy)| {
            Statement::new(
                UPSERT_POLICY,
                vec![
                    Value::I64(shop.get()),
                    Value::Text(json::encode(&PolicyV1::from(policy))),
                ],
            )
        }));
    }
}

fn upsert_request(saved: &SavedRequest) -> Statement {
    let r = &saved.request;
    Statement::new(
        UPSERT_REQUEST,
        vec![
            Value::I64(saved.id.get()),
            Value::I64(r.shop.get()),
            Value::I64(r.buyer.get()),
            Value::I64(r.order.get()),
            Value::Text(r.kind.as_str().into()),
            Value::Text(r.stage.as_str().into()),
            Value::I64(r.opened_at.unix_ms()),
            Value::Text(json::encode(&RequestV1::from(r))),
            Value::OptI64(r.settled_at().map(Timestamp::unix_ms)),
        ],
    )
}

pub(crate) fn request_row(row: &dyn Row) -> Result<SavedRequest, StoreError> {
    let raw = row.i64(0)?;
    let id = id(raw, AfterSalesId::new, REQUEST)?;
    let request = json::decode_v1::<RequestV1, AfterSalesRequest>(&row.text(1)?, REQUEST)?;
    Ok(SavedRequest { id, request })
}

/// A request and its opening time (column 2), for a walk by `(opened_at, id)`.
pub(crate) fn request_page_row(row: &dyn Row) -> Result<(SavedRequest, i64), StoreError> {
    Ok((request_row(row)?, row.i64(2)?))
}

/// Whose requests to list; every field narrows the result.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AfterSalesFilter {
    pub shop: Option<ShopId>,
    pub buyer: Option<BuyerId>,
    pub order: Option<OrderId>,
    /// A stage's wire name (`with_merchant`, `refunded`, …).
    pub stage: Option<&'static str>,
}

impl Store {
    pub async fn after_sales_request(&self, id: AfterSalesId) -> Result<Option<SavedRequest>, StoreError> {
        let statement = Statement::new(
            "SELECT id, body FROM after_sales_requests WHERE id = $1",
            vec![Value::I64(id.get())],
        );
        Ok(self.query(statement, request_row).await?.into_iter().next())
    }

    /// A page of requests, newest first: after `(opened_at ms, id)`.
    pub async fn after_sales_requests(
        &self,
        filter: &AfterSalesFilter,
        page: Keyset<(i64, i64)>,
    ) -> Result<Vec<SavedRequest>, StoreError> {
        let mut conditions = Conditions::default();
        if let Some(shop) = filter.shop {
            conditions.and("shop_id = ?", vec![Value::I64(shop.get())]);
        }
        if let Some(buyer) = filter.buyer {
            conditions.and("buyer_id = ?", vec![Value::I64(buyer.get())]);
        }
        if let Some(order) = filter.order {
            conditions.and("order_id = ?", vec![Value::I64(order.get())]);
        }
        if let Some(stage) = filter.stage {
            conditions.and("stage = ?", vec![Value::Text(stage.into())]);
        }
        if let Some((at, id)) = page.after {
            conditions.and(
                "(opened_at < ? OR (opened_at = ? AND id < ?))",
                vec![Value::I64(at), Value::I64(at), Value::I64(id)],
            );
        }
        let statement = conditions.select(
            "id, body FROM after_sales_requests",
            "ORDER BY opened_at DESC, id DESC",
            page.limit,
        );
        self.query(statement, request_row).await
    }

    /// The request whose booked return parcel has this waybill, if any.
    pub async fn after_sales_by_return_waybill(
        &self,
        carrier: CarrierId,
        waybill: &str,
    ) -> Result<Option<SavedRequest>, StoreError> {
        let statement = Statement::new(
            "SELECT r.id, r.body FROM after_sales_return_waybills w JOIN after_sales_requests r
               ON r.id = w.request_id AND r.shop_id = w.shop_id
             WHERE w.carrier = $1 AND w.waybill = $2",
            vec![Value::Text(carrier.as_str().into()), Value::Text(waybill.into())],
        );
        Ok(self.query(statement, request_row).await?.into_iter().next())
    }

    /// Approved returns still awaited whose pickup is not booked yet, oldest first (the
    /// worker books them: a return approved by a deadline, or a carrier that did not answer).
    pub async fn after_sales_awaiting_pickup(&self, limit: i64) -> Result<Vec<SavedRequest>, StoreError> {
        let statement = Statement::new(
            "SELECT id, body FROM after_sales_requests WHERE stage = 'awaiting_return' AND kind = 'return_and_refund'
             AND id NOT IN (SELECT request_id FROM after_sales_return_waybills) ORDER BY id LIMIT $1",
            vec![Value::I64(limit)],
        );
        let saved = self.query(statement, request_row).await?;
        Ok(saved
            .into_iter()
            .filter(|s| s.request.return_pickup.is_none() && s.request.return_parcel.is_none())
            .collect())
    }

    /// Requests whose refund the payment flow still has to carry out, oldest first.
    pub async fn after_sales_refunding(&self, limit: i64) -> Result<Vec<SavedRequest>, StoreError> {
        let statement = Statement::new(
            "SELECT id, body FROM after_sales_requests WHERE stage = 'refunding' ORDER BY id LIMIT $1",
            vec![Value::I64(limit)],
        );
        self.query(statement, request_row).await
    }

    /// Approved changes of address the carriers still have to take, oldest first (requests
    /// rest in `approved` only while they wait for them).
    pub async fn after_sales_redirecting(&self, limit: i64) -> Result<Vec<SavedRequest>, StoreError> {
        let statement = Statement::new(
            "SELECT id, body FROM after_sales_requests WHERE stage = 'approved' AND kind = 'change_address'
            ORDER BY id LIMIT $1",
            vec![Value::I64(limit)],
        );
        self.query(statement, request_row).await
    }

    /// A buyer's refunded requests (for the rules' view of the buyer's history).
    pub async fn after_sales_refunded_count(&self, buyer: BuyerId) -> Result<i64, StoreError> {
        let statement = Statement::new(
            "SELECT COUNT(*) FROM after_sales_requests WHERE buyer_id = $1 AND stage = 'refunded'",
            vec![Value::I64(buyer.get())],
        );
        self.query_row(statement, |r| r.i64(0), || "no count".into()).await
    }

    /// The orders a buyer has paid (for the rules' view of the buyer's history); an exchange's
    /// replacement order, paid by no payment, is not one.
    pub async fn buyer_paid_orders(&self, buyer: BuyerId) -> Result<i64, StoreError> {
        let statement = Statement::new(
            "SELECT COUNT(*) FROM orders WHERE buyer_id = $1 AND paid_at IS NOT NULL
             AND paid_by_intent_id IS NOT NULL",
            vec![Value::I64(buyer.get())],
        );
        self.query_row(statement, |r| r.i64(0), || "no count".into()).await
    }

    /// The policies the shops of a shard set.
    pub(crate) async fn load_shard_after_sales_policies(
        &self,
        shard: ShardOf,
    ) -> Result<Vec<(ShopId, ShopPolicy)>, StoreError> {
        let statement = Statement::new(
            "SELECT shop_id, body FROM after_sales_policies WHERE shop_id % $1 = $2 ORDER BY shop_id",
            shard.params(),
        );
        self.query(statement, |row| {
            let shop = id(row.i64(0)?, ShopId::new, POLICY)?;
            Ok((shop, json::decode_v1::<PolicyV1, ShopPolicy>(&row.text(1)?, POLICY)?))
        })
        .await
    }

    /// A shard's requests that are not settled (open ones, and returns refunded early whose
    /// parcel is still to be inspected) and those settled after `settled_after`: the ones a
    /// shard still held before it restarted, so that a request opened on a reading taken before
    /// the restart still meets the units a refund took since. Older refunded units are read
    /// per order when a new request asks ([`Store::after_sales_of_order`]), so a shard's start
    /// reads no settled history (rows settled before migration 0027 carry no `settled_at_ms`:
    /// the stage tells most of them apart, the rest are filtered here).
    pub(crate) async fn load_shard_after_sales(
        &self,
        shard: ShardOf,
        settled_after: Timestamp,
    ) -> Result<Vec<(AfterSalesId, AfterSalesRequest)>, StoreError> {
        let mut params = shard.params();
        params.push(Value::I64(settled_after.unix_ms()));
        let statement = Statement::new(
            "SELECT id, body FROM after_sales_requests WHERE shop_id % $1 = $2
               AND ((settled_at_ms IS NULL AND (stage NOT IN ('closed', 'refunded', 'exchanged')
                      OR (stage = 'refunded' AND kind IN ('return_and_refund', 'exchange'))))
                    OR settled_at_ms > $3)
             ORDER BY id",
            params,
        );
        let saved = self.query(statement, request_row).await?;
        Ok(saved
            .into_iter()
            .filter(|s| s.request.settled_at().is_none_or(|at| at > settled_after))
            .map(|s| (s.id, s.request))
            .collect())
    }

    /// An order's requests that are not closed (open or refunded), oldest first: what a new
    /// request on the order is checked against. An order has few (each takes a unit at least).
    pub async fn after_sales_of_order(&self, order: OrderId) -> Result<Vec<SavedRequest>, StoreError> {
        let statement = Statement::new(
            "SELECT id, body FROM after_sales_requests WHERE order_id = $1 AND stage <> 'closed' ORDER BY id",
            vec![Value::I64(order.get())],
        );
        self.query(statement, request_row).await
    }
}

// ---- storage types -------------------------------------------------------------------------

const POLICY: &str = "after-sales policy";

/// `after_sales_policies.body`, version 1: money in fen, the mode `enforced` or `shadow`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct PolicyV1 {
    no_reason_days: u16,
    exempt: Vec<String>,
    return_shipping: String,
    auto_approve_ceiling: i64,
    merchant_answer_hours: u16,
    buyer_refund_rate_bps_max: u32,
    stalled_hours: u16,
    shadow: bool,
}

impl From<&ShopPolicy> for PolicyV1 {
    fn from(s: &ShopPolicy) -> PolicyV1 {
        let p = &s.policy;
        PolicyV1 {
            no_reason_days: p.no_reason_days,
            exempt: p.exempt.iter().map(|g| g.as_str().into()).collect(),
            return_shipping: p.return_shipping.as_str().into(),
            auto_approve_ceiling: p.auto_approve_ceiling.get(),
            merchant_answer_hours: p.merchant_answer_hours,
            buyer_refund_rate_bps_max: p.buyer_refund_rate_bps_max,
            stalled_hours: p.stalled_hours,
            shadow: s.mode == RuleMode::Shadow,
        }
    }
}

impl TryFrom<PolicyV1> for ShopPolicy {
    type Error = StoreError;
    fn try_from(p: PolicyV1) -> Result<ShopPolicy, StoreError> {
        let bad = |what: &str, raw: &str| StoreError::corrupt(format!("bad {POLICY} json: unknown {what} {raw:?}"));
        let exempt = p
            .exempt
            .iter()
            .map(|g| ExemptGoods::parse(g).ok_or_else(|| bad("goods", g)))
            .collect::<Result<_, _>>()?;
        let return_shipping =
            ReturnShipping::parse(&p.return_shipping).ok_or_else(|| bad("return shipping", &p.return_shipping))?;
        let policy = AfterSalesPolicy {
            no_reason_days: p.no_reason_days,
            exempt,
            return_shipping,
            auto_approve_ceiling: Fen::from_stored(p.auto_approve_ceiling)
                .ok_or_else(|| bad("ceiling", &p.auto_approve_ceiling.to_string()))?,
            merchant_answer_hours: p.merchant_answer_hours,
            buyer_refund_rate_bps_max: p.buyer_refund_rate_bps_max,
            stalled_hours: p.stalled_hours,
        };
        let mode = if p.shadow { RuleMode::Shadow } else { RuleMode::Enforced };
        Ok(ShopPolicy { policy, mode })
    }
}

fn ms(raw: i64) -> Timestamp {
    Timestamp::from_unix_ms(raw)
}

fn corrupt(what: &str, raw: &str) -> StoreError {
    StoreError::corrupt(format!("bad {REQUEST} json: unknown {what} {raw:?}"))
}

fn fen(raw: i64) -> Result<Fen, StoreError> {
    Fen::from_stored(raw).ok_or_else(|| StoreError::corrupt(format!("bad {REQUEST} json: amount {raw}")))
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct RequestV1 {
    shop: i64,
    buyer: i64,
    order: i64,
    kind: String,
    reason: String,
    lines: Vec<(i64, i64)>,
    amount: i64,
    decision: DecisionV1,
    stage: StageV1,
    /// Who pays a return's shipping; absent in rows written before policies (the default).
    #[serde(default)]
    return_shipping: Option<String>,
    /// `[carrier, waybill]`; absent in rows written before returns could be sent.
    #[serde(default)]
    return_parcel: Option<(String, String)>,
    inspection: Option<String>,
    /// A change of address; absent for other kinds and in rows written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    address_change: Option<address::AddressChangeV1>,
    /// An exchange's replacement lines; absent for other kinds (and in rows written before
    /// exchanges), so their bytes are unchanged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    replacements: Vec<ReplacementV1>,
    /// The order that sent an exchange's replacement, once placed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    replacement_order: Option<i64>,
    opened_at: i64,
    timeline: Vec<StepV1>,
    /// The return pickup the platform booked; absent in rows written before it booked any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    return_pickup: Option<ReturnPickupV1>,
    /// The rules' decision at the carrier's first scan of the booked return parcel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scan_decision: Option<DecisionV1>,
}

/// A booked return pickup: the parcel as a shipment (its events inside), its price in fen.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct ReturnPickupV1 {
    shipment: ShipmentV1,
    first_weight: i64,
    additional: i64,
    stalled_after_ms: i64,
}

/// One exchange line: the SKU sent back, the SKU sent instead, the units, and where the
/// replacement units are held as `[warehouse, units]` pairs (empty once released or sold).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct ReplacementV1 {
    returned: i64,
    sku: i64,
    quantity: i64,
    held: Vec<(i64, i64)>,
}

impl From<&Replacement> for ReplacementV1 {
    fn from(r: &Replacement) -> ReplacementV1 {
        ReplacementV1 {
            returned: r.returned.get(),
            sku: r.sku.get(),
            quantity: r.quantity,
            held: r.held.iter().map(|a| (a.warehouse.get(), a.quantity)).collect(),
        }
    }
}

impl TryFrom<ReplacementV1> for Replacement {
    type Error = StoreError;
    fn try_from(r: ReplacementV1) -> Result<Replacement, StoreError> {
        let held = r
            .held
            .iter()
            .map(|&(warehouse, quantity)| {
                Ok(Allocation {
                    warehouse: id(warehouse, WarehouseId::new, REQUEST)?,
                    quantity,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(Replacement {
            returned: id(r.returned, SkuId::new, REQUEST)?,
            sku: id(r.sku, SkuId::new, REQUEST)?,
            quantity: r.quantity,
            held,
        })
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct DecisionV1 {
    rule_set_version: u32,
    shadow: bool,
    verdict: String,
    acted: String,
    fired: Vec<FiredV1>,
}

/// A fired rule: its code and its parameters (instants in ms, money in fen).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
enum FiredV1 {
    NoReasonWindowClosed {
        closed_at: i64,
    },
    NoReasonExemptGoods {
        goods: String,
    },
    AlreadyPickedUp {
        picked_up_at: i64,
    },
    /// Rule set 2 on; bodies written before it never name it.
    NotYetDelivered,
    OverAutoApproveCeiling {
        amount: i64,
        ceiling: i64,
    },
    BuyerRefundsOften {
        rate_bps: u32,
        max_bps: u32,
    },
    RiskScoreHigh {
        score: u16,
    },
    NotYetPickedUp,
    StalledPastPromise {
        hours_without_movement: i64,
    },
    NoReasonReturnInWindow {
        closes_at: i64,
    },
    ReturnScannedByCarrier {
        scanned_at: i64,
    },
    ExchangeForFault {
        reason: String,
    },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct StageV1 {
    name: String,
    /// The stage's deadline, if it has one.
    due_at: Option<i64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct StepV1 {
    at: i64,
    actor: String,
    stage: StageV1,
}

impl From<&Fired> for FiredV1 {
    fn from(f: &Fired) -> FiredV1 {
        match *f {
            Fired::NoReasonWindowClosed { closed_at } => FiredV1::NoReasonWindowClosed {
                closed_at: closed_at.unix_ms(),
            },
            Fired::NoReasonExemptGoods { goods } => FiredV1::NoReasonExemptGoods {
                goods: goods.as_str().into(),
            },
            Fired::AlreadyPickedUp { picked_up_at } => FiredV1::AlreadyPickedUp {
                picked_up_at: picked_up_at.unix_ms(),
            },
            Fired::NotYetDelivered => FiredV1::NotYetDelivered,
            Fired::OverAutoApproveCeiling { amount, ceiling } => FiredV1::OverAutoApproveCeiling {
                amount: amount.get(),
                ceiling: ceiling.get(),
            },
            Fired::BuyerRefundsOften { rate_bps, max_bps } => FiredV1::BuyerRefundsOften { rate_bps, max_bps },
            Fired::RiskScoreHigh { score } => FiredV1::RiskScoreHigh { score },
            Fired::NotYetPickedUp => FiredV1::NotYetPickedUp,
            Fired::StalledPastPromise { hours_without_movement } => {
                FiredV1::StalledPastPromise { hours_without_movement }
            }
            Fired::NoReasonReturnInWindow { closes_at } => FiredV1::NoReasonReturnInWindow {
                closes_at: closes_at.unix_ms(),
            },
            Fired::ReturnScannedByCarrier { scanned_at } => FiredV1::ReturnScannedByCarrier {
                scanned_at: scanned_at.unix_ms(),
            },
            Fired::ExchangeForFault { reason } => FiredV1::ExchangeForFault {
                reason: reason.as_str().into(),
            },
        }
    }
}

impl TryFrom<FiredV1> for Fired {
    type Error = StoreError;
    fn try_from(f: FiredV1) -> Result<Fired, StoreError> {
        Ok(match f {
            FiredV1::NoReasonWindowClosed { closed_at } => Fired::NoReasonWindowClosed {
                closed_at: ms(closed_at),
            },
            FiredV1::NoReasonExemptGoods { goods } => Fired::NoReasonExemptGoods {
                goods: ExemptGoods::parse(&goods).ok_or_else(|| corrupt("goods", &goods))?,
            },
            FiredV1::AlreadyPickedUp { picked_up_at } => Fired::AlreadyPickedUp {
                picked_up_at: ms(picked_up_at),
            },
            FiredV1::NotYetDelivered => Fired::NotYetDelivered,
            FiredV1::OverAutoApproveCeiling { amount, ceiling } => Fired::OverAutoApproveCeiling {
                amount: fen(amount)?,
                ceiling: fen(ceiling)?,
            },
            FiredV1::BuyerRefundsOften { rate_bps, max_bps } => Fired::BuyerRefundsOften { rate_bps, max_bps },
            FiredV1::RiskScoreHigh { score } => Fired::RiskScoreHigh { score },
            FiredV1::NotYetPickedUp => Fired::NotYetPickedUp,
            FiredV1::StalledPastPromise { hours_without_movement } => {
                Fired::StalledPastPromise { hours_without_movement }
            }
            FiredV1::NoReasonReturnInWindow { closes_at } => Fired::NoReasonReturnInWindow {
                closes_at: ms(closes_at),
            },
            FiredV1::ReturnScannedByCarrier { scanned_at } => Fired::ReturnScannedByCarrier {
                scanned_at: ms(scanned_at),
            },
            FiredV1::ExchangeForFault { reason } => Fired::ExchangeForFault {
                reason: Reason::parse(&reason).ok_or_else(|| corrupt("reason", &reason))?,
            },
        })
    }
}

const VERDICTS: [Verdict; 3] = [Verdict::Approve, Verdict::ToMerchant, Verdict::Refuse];

fn verdict(raw: &str) -> Result<Verdict, StoreError> {
    VERDICTS
        .into_iter()
        .find(|v| v.as_str() == raw)
        .ok_or_else(|| corrupt("verdict", raw))
}

impl From<&Decision> for DecisionV1 {
    fn from(d: &Decision) -> DecisionV1 {
        DecisionV1 {
            rule_set_version: d.rule_set_version,
            shadow: d.mode == RuleMode::Shadow,
            verdict: d.verdict.as_str().into(),
            acted: d.acted.as_str().into(),
            fired: d.fired.iter().map(FiredV1::from).collect(),
        }
    }
}

impl TryFrom<DecisionV1> for Decision {
    type Error = StoreError;
    fn try_from(d: DecisionV1) -> Result<Decision, StoreError> {
        Ok(Decision {
            rule_set_version: d.rule_set_version,
            mode: if d.shadow { RuleMode::Shadow } else { RuleMode::Enforced },
            verdict: verdict(&d.verdict)?,
            acted: verdict(&d.acted)?,
            fired: d.fired.into_iter().map(Fired::try_from).collect::<Result<_, _>>()?,
        })
    }
}

impl From<Stage> for StageV1 {
    fn from(stage: Stage) -> StageV1 {
        let due_at = match stage {
            Stage::WithMerchant { due_at } => Some(due_at),
            Stage::Refused { appeal_by } => Some(appeal_by),
            Stage::AwaitingReturn { expires_at } => Some(expires_at),
            _ => None,
        };
        StageV1 {
            name: stage.as_str().into(),
            due_at: due_at.map(Timestamp::unix_ms),
        }
    }
}

impl TryFrom<StageV1> for Stage {
    type Error = StoreError;
    fn try_from(s: StageV1) -> Result<Stage, StoreError> {
        let due = || {
            s.due_at
                .map(ms)
                .ok_or_else(|| corrupt("stage without its deadline", &s.name))
        };
        Ok(match s.name.as_str() {
            "with_merchant" => Stage::WithMerchant { due_at: due()? },
            "approved" => Stage::Approved,
            "awaiting_return" => Stage::AwaitingReturn { expires_at: due()? },
            "return_in_transit" => Stage::ReturnInTransit,
            "received" => Stage::Received,
            "refused" => Stage::Refused { appeal_by: due()? },
            "with_platform" => Stage::WithPlatform,
            "refunding" => Stage::Refunding,
            "refunded" => Stage::Refunded,
            "exchanged" => Stage::Exchanged,
            "closed" => Stage::Closed,
            other => return Err(corrupt("stage", other)),
        })
    }
}

const ACTORS: [(Actor, &str); 8] = [
    (Actor::Buyer, "buyer"),
    (Actor::Rules, "rules"),
    (Actor::Merchant, "merchant"),
    (Actor::Deadline, "deadline"),
    (Actor::Platform, "platform"),
    (Actor::Carrier, "carrier"),
    (Actor::Warehouse, "warehouse"),
    (Actor::Provider, "provider"),
];

fn actor_name(actor: Actor) -> &'static str {
    ACTORS.iter().find(|(a, _)| *a == actor).map_or("buyer", |(_, n)| n)
}

fn actor(raw: &str) -> Result<Actor, StoreError> {
    ACTORS
        .iter()
        .find(|(_, n)| *n == raw)
        .map(|(a, _)| *a)
        .ok_or_else(|| corrupt("actor", raw))
}

impl From<&AfterSalesRequest> for RequestV1 {
    fn from(r: &AfterSalesRequest) -> RequestV1 {
        RequestV1 {
            shop: r.shop.get(),
            buyer: r.buyer.get(),
            order: r.order.get(),
            kind: r.kind.as_str().into(),
            reason: r.reason.as_str().into(),
            lines: r.lines.iter().map(|l| (l.sku.get(), l.quantity)).collect(),
            amount: r.amount.get(),
            decision: DecisionV1::from(&r.decision),
            stage: StageV1::from(r.stage),
            return_shipping: r.return_shipping.map(|shipping| shipping.as_str().into()),
            return_parcel: r
                .return_parcel
                .as_ref()
                .map(|p| (p.carrier.as_str().into(), p.waybill.as_str().into())),
            inspection: r.inspection.map(|i| i.as_str().into()),
            return_pickup: r.return_pickup.as_ref().map(|p| ReturnPickupV1 {
                shipment: ShipmentV1::from(&p.shipment),
                first_weight: p.first_weight.get(),
                additional: p.additional.get(),
                stalled_after_ms: p.stalled_after_ms,
            }),
            scan_decision: r.scan_decision.as_ref().map(DecisionV1::from),
            address_change: r.address_change.as_ref().map(address::AddressChangeV1::from),
            replacements: r.replacements.iter().map(ReplacementV1::from).collect(),
            replacement_order: r.replacement_order.map(OrderId::get),
            opened_at: r.opened_at.unix_ms(),
            timeline: r
                .timeline
                .iter()
                .map(|s| StepV1 {
                    at: s.at.unix_ms(),
                    actor: actor_name(s.actor).into(),
                    stage: StageV1::from(s.stage),
                })
                .collect(),
        }
    }
}

/// The parcel a buyer said they sent: its carrier and waybill.
fn return_parcel_of((carrier, waybill): &(String, String)) -> Result<ReturnParcel, StoreError> {
    Ok(ReturnParcel {
        carrier: CarrierId::parse(carrier).ok_or_else(|| corrupt("carrier", carrier))?,
        waybill: parse_waybill(waybill).ok_or_else(|| corrupt("waybill", waybill))?,
    })
}

impl TryFrom<ReturnPickupV1> for ReturnPickup {
    type Error = StoreError;
    fn try_from(p: ReturnPickupV1) -> Result<ReturnPickup, StoreError> {
        Ok(ReturnPickup {
            shipment: Shipment::try_from(p.shipment)?,
            first_weight: fen(p.first_weight)?,
            additional: fen(p.additional)?,
            stalled_after_ms: p.stalled_after_ms,
        })
    }
}

impl TryFrom<RequestV1> for AfterSalesRequest {
    type Error = StoreError;
    fn try_from(r: RequestV1) -> Result<AfterSalesRequest, StoreError> {
        let lines = r
            .lines
            .iter()
            .map(|&(sku, quantity)| {
                Ok(RequestLine {
                    sku: id(sku, SkuId::new, REQUEST)?,
                    quantity,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        let inspection = match r.inspection.as_deref() {
            None => None,
            Some(raw) => Some(Inspection::parse(raw).ok_or_else(|| corrupt("inspection", raw))?),
        };
        let kind = RequestKind::parse(&r.kind).ok_or_else(|| corrupt("kind", &r.kind))?;
        let return_shipping = match r.return_shipping.as_deref() {
            Some(name) => Some(ReturnShipping::parse(name).ok_or_else(|| corrupt("return shipping", name))?),
            None if matches!(kind, RequestKind::ReturnAndRefund | RequestKind::Exchange) => {
                Some(ReturnShipping::PlatformFirstWeight)
            }
            None => None,
        };
        let return_parcel = r.return_parcel.as_ref().map(return_parcel_of).transpose()?;
        let timeline = r
            .timeline
            .into_iter()
            .map(|s| {
                Ok(Step {
                    at: ms(s.at),
                    actor: actor(&s.actor)?,
                    stage: Stage::try_from(s.stage)?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        let return_pickup = r.return_pickup.map(ReturnPickup::try_from).transpose()?;
        Ok(AfterSalesRequest {
            return_pickup,
            scan_decision: r.scan_decision.map(Decision::try_from).transpose()?,
            shop: id(r.shop, ShopId::new, REQUEST)?,
            buyer: id(r.buyer, BuyerId::new, REQUEST)?,
            order: id(r.order, OrderId::new, REQUEST)?,
            kind,
            reason: Reason::parse(&r.reason).ok_or_else(|| corrupt("reason", &r.reason))?,
            lines,
            amount: fen(r.amount)?,
            decision: Decision::try_from(r.decision)?,
            stage: Stage::try_from(r.stage)?,
            return_shipping,
            return_parcel,
            inspection,
            address_change: r.address_change.map(TryInto::try_into).transpose()?,
            replacements: r
                .replacements
                .into_iter()
                .map(Replacement::try_from)
                .collect::<Result<_, _>>()?,
            replacement_order: r
                .replacement_order
                .map(|raw| id(raw, OrderId::new, REQUEST))
                .transpose()?,
            opened_at: ms(r.opened_at),
            timeline,
        })
    }
}
