//! A shop's after-sales policy, as data (`/v1/after-sales/policy`, the merchant's own shop):
//! the no-reason window, the goods it excludes, who pays a return's shipping, how far the
//! rules approve alone, how long the merchant has to answer, and whether the rules act
//! (`enforced`) or only record what they would have decided (`shadow`) while the shop tries
//! them. A shop that never set one runs the platform's default.

use super::Problem;
use crate::app::AppState;
use crate::auth::{Merchant, Principal};
use crate::http::extract::JsonBody;
use crate::http::problem::{ApiError, refused};
use crate::idempotency::{self, Reply};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use miaodan_domain::Fen;
use miaodan_domain::after_sales::policy::{AfterSalesPolicy, ExemptGoods, PolicyProblem, ReturnShipping, ShopPolicy};
use miaodan_domain::after_sales::rules::RuleMode;
use miaodan_domain::shard::{Rejection, SetPolicy};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A shop's after-sales policy; every field is required when it is set.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AfterSalesPolicyView {
    /// Days of the no-reason window, counted in Shanghai days from the day after delivery:
    /// 7 (the law's) to 90.
    #[serde(deserialize_with = "crate::http::extract::integer")]
    #[schema(schema_with = crate::http::schema::integer::<7, 90>)]
    pub no_reason_days: i64,
    /// Goods the no-reason window excludes in this shop (each at most once): `customised`,
    /// `perishable`, `digital_delivery`, `periodical`. Leave one out to cover it anyway.
    #[schema(schema_with = crate::http::schema::exempt_goods)]
    pub exempt_goods: Vec<String>,
    /// Who pays a return's shipping: `platform_first_weight`, `shop` or `buyer`.
    #[schema(schema_with = crate::http::schema::return_shipping)]
    pub return_shipping: String,
    /// The most the rules refund without the merchant, per request, in fen (0 to 10 000 000).
    #[serde(deserialize_with = "crate::http::extract::integer")]
    #[schema(schema_with = crate::http::schema::integer::<0, 10_000_000>)]
    pub auto_approve_ceiling_fen: i64,
    /// Hours the merchant has to answer a request the rules passed on (24 to 168); silence is
    /// consent.
    #[serde(deserialize_with = "crate::http::extract::integer")]
    #[schema(schema_with = crate::http::schema::integer::<24, 168>)]
    pub merchant_answer_hours: i64,
    /// A buyer whose refunds exceed this share of their paid orders, in basis points (0 to
    /// 10 000), is decided by the merchant.
    #[serde(deserialize_with = "crate::http::extract::integer")]
    #[schema(schema_with = crate::http::schema::integer::<0, 10_000>)]
    pub buyer_refund_rate_bps_max: i64,
    /// Hours past its promise a motionless parcel counts as lost (24 to 720).
    #[serde(deserialize_with = "crate::http::extract::integer")]
    #[schema(schema_with = crate::http::schema::integer::<24, 720>)]
    pub stalled_hours: i64,
    /// `enforced` (the rules act) or `shadow` (they decide and record, and every request goes
    /// to the merchant).
    #[schema(schema_with = crate::http::schema::rule_mode)]
    pub mode: String,
}

impl From<&ShopPolicy> for AfterSalesPolicyView {
    fn from(s: &ShopPolicy) -> AfterSalesPolicyView {
        let p = &s.policy;
        AfterSalesPolicyView {
            no_reason_days: i64::from(p.no_reason_days),
            exempt_goods: p.exempt.iter().map(|g| g.as_str().into()).collect(),
            return_shipping: p.return_shipping.as_str().into(),
            auto_approve_ceiling_fen: p.auto_approve_ceiling.get(),
            merchant_answer_hours: i64::from(p.merchant_answer_hours),
            buyer_refund_rate_bps_max: i64::from(p.buyer_refund_rate_bps_max),
            stalled_hours: i64::from(p.stalled_hours),
            mode: match s.mode {
                RuleMode::Enforced => "enforced",
                RuleMode::Shadow => "shadow",
            }
            .into(),
        }
    }
}

/// The words of a policy, parsed; its numbers are the core's to check (a number out of a
/// field's type is out of its range too, so it saturates and is refused there).
fn parse(view: &AfterSalesPolicyView) -> Result<ShopPolicy, ApiError> {
    let invalid = |field: &str, detail: &str| ApiError::invalid("invalid_field", field, detail);
    let exempt = view
        .exempt_goods
        .iter()
        .map(|g| ExemptGoods::parse(g))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| {
            invalid(
                "exempt_goods",
                "exempt goods are customised, perishable, digital_delivery or periodical",
            )
        })?;
    let return_shipping = ReturnShipping::parse(&view.return_shipping)
        .ok_or_else(|| invalid("return_shipping", "platform_first_weight, shop or buyer"))?;
    let mode = match view.mode.as_str() {
        "enforced" => RuleMode::Enforced,
        "shadow" => RuleMode::Shadow,
        _ => return Err(invalid("mode", "enforced or shadow")),
    };
    let small = |raw: i64| u16::try_from(raw).unwrap_or(u16::MAX);
    let policy = AfterSalesPolicy {
        no_reason_days: small(view.no_reason_days),
        exempt,
        return_shipping,
        auto_approve_ceiling: Fen::from_stored(view.auto_approve_ceiling_fen).unwrap_or(Fen::from_const(i64::MAX)),
        merchant_answer_hours: small(view.merchant_answer_hours),
        buyer_refund_rate_bps_max: u32::try_from(view.buyer_refund_rate_bps_max).unwrap_or(u32::MAX),
        stalled_hours: small(view.stalled_hours),
    };
    Ok(ShopPolicy { policy, mode })
}

/// The field a policy problem is about, and the rule in words.
pub fn problem_field(problem: PolicyProblem) -> (&'static str, &'static str) {
    match problem {
        PolicyProblem::NoReasonDays => ("no_reason_days", "the no-reason window is 7 to 90 days"),
        PolicyProblem::DuplicateExemptGoods => ("exempt_goods", "each exempt goods at most once"),
        PolicyProblem::AutoApproveCeiling => ("auto_approve_ceiling_fen", "0 to 10 000 000 fen"),
        PolicyProblem::MerchantAnswerHours => ("merchant_answer_hours", "24 to 168 hours"),
        PolicyProblem::BuyerRefundRate => ("buyer_refund_rate_bps_max", "0 to 10 000 basis points"),
        PolicyProblem::StalledHours => ("stalled_hours", "24 to 720 hours"),
    }
}

/// The after-sales policy the merchant's shop runs (the platform's default until it sets one).
#[utoipa::path(get, path = "/v1/after-sales/policy", tag = "after-sales",
    responses((status = 200, body = AfterSalesPolicyView)), security(("bearer" = [])))]
pub async fn get_policy(
    State(state): State<AppState>,
    Merchant(shop): Merchant,
) -> Result<Json<AfterSalesPolicyView>, ApiError> {
    let policy = state
        .shards
        .read(shop, move |shard, _| shard.after_sales_policy(shop))
        .await?;
    Ok(Json(AfterSalesPolicyView::from(&policy)))
}

fn render(answer: &Result<ShopPolicy, Rejection>) -> Reply {
    match answer {
        Ok(policy) => Reply::json(StatusCode::OK, &AfterSalesPolicyView::from(policy)),
        Err(rejection) => refused(rejection),
    }
}

/// Set the merchant's shop's after-sales policy. The next request is decided under it;
/// requests already open keep their deadlines. `shadow` lets a shop watch what its rules
/// would decide (each request's decision says so) before it lets them act.
#[utoipa::path(put, path = "/v1/after-sales/policy", tag = "after-sales", request_body = AfterSalesPolicyView,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = AfterSalesPolicyView), (status = 400, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn put_policy(
    State(state): State<AppState>,
    Merchant(shop): Merchant,
    headers: HeaderMap,
    body: JsonBody<AfterSalesPolicyView>,
) -> Response {
    let request = ("PUT", "/v1/after-sales/policy", &body.raw[..]);
    idempotency::run(&state, Principal::Merchant(shop), &headers, request, |idem| async {
        let policy = parse(&body.value)?;
        idempotency::ask(&state, shop, SetPolicy { shop, policy }, idem, render).await
    })
    .await
}
