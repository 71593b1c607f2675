//! After-sales (售后) under `/v1/after-sales`: a buyer opens a request on a paid order (cancel
//! before shipment, refund only, return and refund, or exchange), the flash-refund rules decide it at
//! once or pass it to the merchant with a deadline; the merchant approves or refuses, the
//! buyer may appeal a refusal and an operator decides; the buyer may withdraw. A return's
//! parcel and its inspection are `returns.rs`'s. Every decision is
//! explained in Chinese and English, rendered here from the fired rules' codes and parameters.
//!
//! Another buyer's or shop's request (or order) answers 404, like one that does not exist.

mod address;
mod policy;
mod returns;

use super::dto::AddressInput;
use super::extract::{JsonBody, PathIds, RawBody};
use super::page::{ListQuery, Page, PageQuery, invalid_cursor};
use super::problem::{ApiError, Explanation, Extension, Problem, refused};
use super::validate;
use crate::app::AppState;
use crate::auth::{Admin, Buyer, Merchant, Principal};
use crate::clock::rfc3339;
use crate::flows::after_sales::{self, AfterSalesError, Ask, explain};
use crate::http::risk::Client;
use crate::idempotency::{self, Reply};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use miaodan_domain::after_sales::book::OpenRefusal;
use miaodan_domain::after_sales::commands::{AfterSalesRefusal, SavedRequest};

use miaodan_domain::after_sales::policy::ReturnShipping;
use miaodan_domain::after_sales::request::{Actor, RequestLine, ReturnPickup, Stage};
use miaodan_domain::after_sales::rules::{Decision, Fired, RuleMode};
use miaodan_domain::after_sales::{Reason, RequestKind};
use miaodan_domain::ids::AfterSalesId;
use miaodan_domain::orders::ORDER_LINES_MAX;
use miaodan_domain::quantity::LINE_QUANTITY_MAX;
use miaodan_domain::shard::{
    AppealRequest, ApproveRequest, Decider, RefuseRequest, Rejection, ShardCommand, WithdrawRequest,
};
use miaodan_domain::{OrderId, SkuId};
use miaodan_store::AfterSalesFilter;
use miaodan_store::records::Keyset;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(open_request, list_requests))
        .routes(routes!(get_request))
        .routes(routes!(approve))
        .routes(routes!(refuse))
        .routes(routes!(appeal))
        .routes(routes!(decide))
        .routes(routes!(withdraw))
        .routes(routes!(returns::send_return_parcel))
        .routes(routes!(returns::receive_return))
        .routes(routes!(policy::get_policy, policy::put_policy))
}

/// How after-sales refusals are answered (the `code` is the core's [`Rejection::code`]).
pub fn refusal(rejection: &Rejection) -> ApiError {
    let Rejection::AfterSales(refusal) = rejection else {
        return super::problem::misrouted(rejection);
    };
    let code = rejection.code();
    let conflict = |detail: String| ApiError::new(StatusCode::CONFLICT, code, detail);
    match refusal {
        AfterSalesRefusal::UnknownOrder => ApiError::not_found("order"),
        AfterSalesRefusal::UnknownRequest => ApiError::not_found("after-sales request"),
        AfterSalesRefusal::OrderChanged => conflict("the order changed while the request was read; retry".into()),
        AfterSalesRefusal::StepNotAllowed(step) => conflict(format!(
            "the request is {}: this step is not open to the {}",
            step.stage.as_str(),
            actor_name(step.actor)
        )),
        AfterSalesRefusal::CancellationRequested { request } => conflict(format!(
            "the buyer asked to cancel this order (after-sales request {request}): answer it first"
        )),
        AfterSalesRefusal::Open(open) => open_refusal(open, code),
        AfterSalesRefusal::InvalidPolicy(problem) => {
            let (field, rule) = policy::problem_field(*problem);
            ApiError::invalid(code, field, rule)
        }
        AfterSalesRefusal::Address(refusal) => address::refusal(*refusal),
    }
}

fn open_refusal(refusal: &OpenRefusal, code: &'static str) -> ApiError {
    match refusal {
        OpenRefusal::OrderNotPaid { state } => ApiError::new(
            StatusCode::CONFLICT,
            code,
            format!("the order is {}: after-sales needs a paid order", state.as_str()),
        ),
        OpenRefusal::LineNotInOrder { sku } => {
            ApiError::new(StatusCode::CONFLICT, code, format!("SKU {sku} is not in the order")).field("lines")
        }
        OpenRefusal::QuantityNotRequestable { sku, requestable } => ApiError::new(
            StatusCode::CONFLICT,
            code,
            format!("at most {requestable} units of SKU {sku} can still be asked for"),
        )
        .field("lines"),
        OpenRefusal::UnitsHeldByOpenRequest { request } => ApiError::new(
            StatusCode::CONFLICT,
            code,
            format!("after-sales request {request} is still open for these units"),
        ),
        OpenRefusal::AmountAboveRefundable { refundable } => ApiError::new(
            StatusCode::CONFLICT,
            code,
            format!("at most {} fen of this order can still be refunded", refundable.get()),
        ),
        OpenRefusal::ReplacementNotExchangeable { sku } => ApiError::invalid(
            code,
            "lines",
            format!("SKU {sku} is not another SKU on sale of the same product: it cannot be exchanged for"),
        ),
        OpenRefusal::ReplacementPriceDiffers { sku } => ApiError::invalid(
            code,
            "lines",
            format!("SKU {sku} costs another price than was paid: an exchange moves no money"),
        ),
        OpenRefusal::ReplacementOutOfStock { sku, available } => ApiError::new(
            StatusCode::CONFLICT,
            code,
            format!("only {available} units of SKU {sku} are available to exchange for"),
        )
        .field("lines"),
        OpenRefusal::RefusedByRules(decision) => {
            let mut error = ApiError::new(
                StatusCode::CONFLICT,
                code,
                "the after-sales rules refuse this request; see `rules`",
            );
            error.extension = Some(Box::new(Extension::Rules(decision.fired.iter().map(explain).collect())));
            error
        }
    }
}

impl From<AfterSalesError> for ApiError {
    fn from(error: AfterSalesError) -> ApiError {
        match error {
            AfterSalesError::UnknownOrder => ApiError::not_found("order"),
            AfterSalesError::Payment(error) => ApiError::from(error),
            AfterSalesError::Shard(error) => ApiError::from(error),
            AfterSalesError::Store(error) => ApiError::from(error),
            AfterSalesError::Carrier(error) => ApiError::from(error),
            AfterSalesError::Redirect(_) => {
                ApiError::unavailable("the carrier did not take the new address yet; retry")
            }
        }
    }
}

// ---- explanations ---------------------------------------------------------------------------

/// A fired rule as a buyer and a merchant read it, in English and Chinese.
pub fn explain(fired: &Fired) -> Explanation {
    let (en, zh) = explain::fired(fired);
    Explanation {
        code: fired.code().to_string(),
        en,
        zh,
    }
}

// ---- views ----------------------------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub struct LineView {
    pub sku_id: i64,
    pub quantity: i64,
}

/// One exchange line: units of `sku_id` go back, as many of `exchange_for` come instead.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplacementView {
    pub sku_id: i64,
    pub exchange_for: i64,
    pub quantity: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionView {
    pub rule_set_version: u32,
    /// `enforced`, or `shadow` (decided and recorded, not acted on).
    pub mode: String,
    /// The rules' verdict: `approve`, `to_merchant` or `refuse`.
    pub verdict: String,
    /// What the platform did.
    pub acted: String,
    /// Every rule that fired, explained.
    pub rules: Vec<Explanation>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StepView {
    pub at: String,
    /// `buyer`, `rules`, `merchant`, `deadline`, `platform`, `provider`, …
    pub actor: String,
    pub stage: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AfterSalesView {
    pub id: i64,
    pub order_id: i64,
    pub shop_id: i64,
    pub buyer_id: i64,
    /// `cancel`, `refund_only`, `return_and_refund`, `exchange` or `change_address`.
    pub kind: String,
    pub reason: String,
    /// `with_merchant`, `refused`, `with_platform`, `refunding`, `refunded`, `exchanged`,
    /// `closed`, …
    pub stage: String,
    /// The stage's deadline: the merchant's answer (silence is consent) or the buyer's appeal.
    pub due_at: Option<String>,
    pub amount_fen: i64,
    pub lines: Vec<LineView>,
    /// A return's parcel once the buyer has sent it.
    pub return_parcel: Option<ReturnParcelView>,
    /// The return pickup the platform booked with a carrier, once booked: its waybill, tracking
    /// and price, and who pays what of it.
    pub return_pickup: Option<ReturnPickupView>,
    /// What the rules decided at the carrier's first scan of the booked return parcel (闪电退款:
    /// `acted: approve` refunded it then, before it arrived).
    pub scan_decision: Option<DecisionView>,
    /// Who pays a return's shipping, by the shop's policy when the request was opened:
    /// `platform_first_weight` (the platform pays the first weight, 运费险-like: the default),
    /// `shop` or `buyer`; `null` for requests without goods sent back.
    pub return_shipping: Option<String>,
    /// What the merchant's inspection of the returned parcel found: `restock` or `write_off`.
    pub inspection: Option<String>,
    /// A change of address: the order's address before, the new one, and what came of it.
    pub address_change: Option<address::AddressChangeView>,
    /// An exchange's lines and the SKU sent for each (empty for other kinds).
    pub replacements: Vec<ReplacementView>,
    /// The zero-price order that sends an exchange's replacement, once its goods are back:
    /// shipped and tracked like any order (`GET /v1/orders/{id}`).
    pub replacement_order_id: Option<i64>,
    pub opened_at: String,
    pub decision: DecisionView,
    pub timeline: Vec<StepView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReturnParcelView {
    pub carrier: String,
    pub waybill: String,
}

/// A booked return pickup: from the buyer's address to the warehouse the units were sold from.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReturnPickupView {
    /// `sf`, `jd` or `zto` (simulated carriers).
    pub carrier: String,
    pub waybill: String,
    pub warehouse_id: i64,
    /// Where the parcel is, by the carrier's events: `created` (not collected yet), `picked_up`,
    /// `departed`, `in_transit`, `out_for_delivery`, `delivered` (at the warehouse), …
    pub state: String,
    pub picked_up_at: Option<String>,
    pub delivered_at: Option<String>,
    pub last_movement_at: String,
    /// The carrier's price for the first weight (首重), in fen.
    pub first_weight_fen: i64,
    /// The carrier's price for the weight above it (续重), in fen.
    pub additional_fen: i64,
    /// What the platform, the shop and the buyer each pay of it, by the request's
    /// `return_shipping`.
    pub platform_pays_fen: i64,
    pub shop_pays_fen: i64,
    pub buyer_pays_fen: i64,
}

fn pickup_view(pickup: &ReturnPickup, payer: Option<ReturnShipping>) -> ReturnPickupView {
    let s = &pickup.shipment;
    let shares = payer
        .unwrap_or(ReturnShipping::PlatformFirstWeight)
        .shares(pickup.first_weight, pickup.additional);
    ReturnPickupView {
        carrier: s.carrier.as_str().into(),
        waybill: s.waybill.as_str().into(),
        warehouse_id: s.warehouse.get(),
        state: s.state.as_str().into(),
        picked_up_at: s.picked_up_at.map(rfc3339),
        delivered_at: s.delivered_at.map(rfc3339),
        last_movement_at: rfc3339(s.last_movement_at),
        first_weight_fen: pickup.first_weight.get(),
        additional_fen: pickup.additional.get(),
        platform_pays_fen: shares.platform.get(),
        shop_pays_fen: shares.shop.get(),
        buyer_pays_fen: shares.buyer.get(),
    }
}

fn decision_view(d: &Decision) -> DecisionView {
    DecisionView {
        rule_set_version: d.rule_set_version,
        mode: match d.mode {
            RuleMode::Enforced => "enforced",
            RuleMode::Shadow => "shadow",
        }
        .into(),
        verdict: d.verdict.as_str().into(),
        acted: d.acted.as_str().into(),
        rules: d.fired.iter().map(explain).collect(),
    }
}

fn actor_name(actor: Actor) -> &'static str {
    match actor {
        Actor::Buyer => "buyer",
        Actor::Rules => "rules",
        Actor::Merchant => "merchant",
        Actor::Deadline => "deadline",
        Actor::Platform => "platform",
        Actor::Carrier => "carrier",
        Actor::Warehouse => "warehouse",
        Actor::Provider => "provider",
    }
}

impl From<&SavedRequest> for AfterSalesView {
    fn from(saved: &SavedRequest) -> AfterSalesView {
        let r = &saved.request;
        let d = &r.decision;
        AfterSalesView {
            id: saved.id.get(),
            order_id: r.order.get(),
            shop_id: r.shop.get(),
            buyer_id: r.buyer.get(),
            kind: r.kind.as_str().into(),
            reason: r.reason.as_str().into(),
            stage: r.stage.as_str().into(),
            due_at: r.due_at().map(rfc3339),
            amount_fen: r.amount.get(),
            lines: r
                .lines
                .iter()
                .map(|l| LineView {
                    sku_id: l.sku.get(),
                    quantity: l.quantity,
                })
                .collect(),
            return_parcel: r.return_parcel.as_ref().map(|p| ReturnParcelView {
                carrier: p.carrier.as_str().into(),
                waybill: p.waybill.as_str().into(),
            }),
            return_pickup: r.return_pickup.as_ref().map(|p| pickup_view(p, r.return_shipping)),
            scan_decision: r.scan_decision.as_ref().map(decision_view),
            return_shipping: r.return_shipping.map(|s| s.as_str().into()),
            inspection: r.inspection.map(|i| i.as_str().into()),
            address_change: r.address_change.as_ref().map(address::AddressChangeView::from),
            replacements: r
                .replacements
                .iter()
                .map(|x| ReplacementView {
                    sku_id: x.returned.get(),
                    exchange_for: x.sku.get(),
                    quantity: x.quantity,
                })
                .collect(),
            replacement_order_id: r.replacement_order.map(|o| o.get()),
            opened_at: rfc3339(r.opened_at),
            decision: decision_view(d),
            timeline: r
                .timeline
                .iter()
                .map(|s| StepView {
                    at: rfc3339(s.at),
                    actor: actor_name(s.actor).into(),
                    stage: s.stage.as_str().into(),
                })
                .collect(),
        }
    }
}

fn render(answer: &Result<SavedRequest, Rejection>, created: StatusCode) -> Reply {
    match answer {
        Ok(saved) => Reply::json(created, &AfterSalesView::from(saved)),
        Err(rejection) => refused(rejection),
    }
}

// ---- create ---------------------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineInput {
    #[serde(deserialize_with = "crate::http::extract::integer")]
    #[schema(schema_with = crate::http::schema::id)]
    pub sku_id: i64,
    /// 1 to the units of the SKU in the order.
    #[serde(deserialize_with = "crate::http::extract::integer")]
    #[schema(schema_with = crate::http::schema::integer::<1, LINE_QUANTITY_MAX>)]
    pub quantity: i64,
    /// For an `exchange`, required: the SKU wanted instead, another SKU on sale of the same
    /// product at the price paid for the line (422 `replacement_not_exchangeable` or
    /// `replacement_price_differs` otherwise) with units available (409
    /// `replacement_out_of_stock`). Other kinds take none (422 `invalid_field`).
    #[serde(default, deserialize_with = "crate::http::extract::optional_integer")]
    #[schema(schema_with = crate::http::schema::optional_id)]
    pub exchange_for: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenInput {
    #[serde(deserialize_with = "crate::http::extract::integer")]
    #[schema(schema_with = crate::http::schema::id)]
    pub order_id: i64,
    /// `cancel` (before shipment: the whole order), `refund_only` (the lines given, no goods
    /// back), `return_and_refund` (the lines given, sent back after delivery; a no-reason
    /// return is approved at once within the shop's window, 7 days from the day after delivery;
    /// before delivery it is refused, 409 `refused_by_rules` with the rule `not_yet_delivered`),
    /// `exchange` (the lines given, sent back for the SKU each line names in `exchange_for`; no
    /// money moves) or `change_address` (the new `address`).
    #[schema(schema_with = crate::http::schema::after_sales_kind)]
    pub kind: String,
    /// `no_reason`, `changed_mind`, `lost`, `never_arrived`, `arrived_damaged`, `quality_issue`,
    /// `not_as_described`, `wrong_item`, `wrong_size`, `wrong_address`.
    #[schema(schema_with = crate::http::schema::after_sales_reason)]
    pub reason: String,
    /// The units asked about, each SKU once: 1 to 100 lines for `refund_only`,
    /// `return_and_refund` and `exchange` (422 `invalid_field` otherwise), each with
    /// `exchange_for` exactly when the kind is `exchange`; a cancellation or a change of address
    /// covers the whole order and ignores them.
    #[serde(default)]
    #[schema(max_items = 100)]
    pub lines: Vec<LineInput>,
    /// The new delivery address of a `change_address` (required for it, 422 `invalid_field`
    /// for any other kind), checked as checkout checks one: 422 `invalid_adcode` for a code
    /// that is not 12 digits, 404 `unknown_adcode` for one outside the reference divisions.
    #[serde(default)]
    pub address: Option<AddressInput>,
}

fn parse_open(input: &OpenInput, buyer: miaodan_domain::BuyerId) -> Result<Ask, ApiError> {
    let kind = RequestKind::parse(&input.kind).ok_or_else(|| {
        ApiError::invalid(
            "invalid_kind",
            "kind",
            "kind is cancel, refund_only, return_and_refund, exchange or change_address",
        )
    })?;
    let reason = Reason::parse(&input.reason)
        .ok_or_else(|| ApiError::invalid("invalid_reason", "reason", "not a known reason code"))?;
    let order =
        OrderId::new(validate::positive_id(input.order_id, "order_id")?).ok_or_else(|| ApiError::not_found("order"))?;
    let names_lines = matches!(
        kind,
        RequestKind::RefundOnly | RequestKind::ReturnAndRefund | RequestKind::Exchange
    );
    if names_lines && (input.lines.is_empty() || input.lines.len() > ORDER_LINES_MAX) {
        return Err(ApiError::invalid(
            "invalid_field",
            "lines",
            format!("a refund, a return or an exchange names 1 to {ORDER_LINES_MAX} lines"),
        ));
    }
    let mut lines: Vec<RequestLine> = Vec::with_capacity(input.lines.len());
    let mut exchange_for = Vec::new();
    for (i, line) in input.lines.iter().enumerate() {
        let parsed = parse_line(i, line, &lines)?;
        lines.push(parsed);
        match (kind, line.exchange_for.map(SkuId::new)) {
            (RequestKind::Exchange, Some(Some(wanted))) => exchange_for.push((parsed.sku, wanted)),
            (RequestKind::CancelBeforeShipment | RequestKind::ChangeAddress, _)
            | (RequestKind::RefundOnly | RequestKind::ReturnAndRefund, None) => {}
            _ => {
                return Err(ApiError::invalid(
                    "invalid_field",
                    &format!("lines[{i}].exchange_for"),
                    "an exchange names the SKU wanted instead on each line; other kinds name none",
                ));
            }
        }
    }
    let new_address = address::parse_new_address(kind, input.address.as_ref())?;
    Ok(Ask {
        buyer,
        order,
        kind,
        reason,
        lines,
        new_address,
        exchange_for,
        client: None,
    })
}

/// Line `i` of a request: a SKU not named before, and its quantity.
fn parse_line(i: usize, line: &LineInput, before: &[RequestLine]) -> Result<RequestLine, ApiError> {
    let sku = SkuId::new(line.sku_id)
        .filter(|sku| before.iter().all(|l| l.sku != *sku))
        .ok_or_else(|| {
            ApiError::invalid(
                "invalid_field",
                &format!("lines[{i}].sku_id"),
                "a SKU of the order, once",
            )
        })?;
    if !(1..=LINE_QUANTITY_MAX).contains(&line.quantity) {
        return Err(ApiError::invalid(
            "invalid_quantity",
            &format!("lines[{i}].quantity"),
            format!("a quantity is 1 to {}", super::problem::grouped(LINE_QUANTITY_MAX)),
        ));
    }
    Ok(RequestLine {
        sku,
        quantity: line.quantity,
    })
}

/// Open an after-sales request on one of the buyer's paid orders. The rules decide at once:
/// approved (a cancellation closes the order's fulfillment and the refund starts), refused
/// (409 `refused_by_rules`, with the rules explained; nothing is opened), or passed to the
/// merchant with a deadline (silence is consent).
///
/// A `change_address` (改址) names the new `address`. Before any parcel has a waybill, an
/// approved change is carried out in the same commit: the order's address and promise change
/// and the order is dispatched again for it (`GET /v1/orders/{order_id}/dispatch` explains the
/// new decision); the answer is `closed` with `address_change.outcome` `redispatched`. With
/// waybills issued and nothing collected the answer is `approved` while the carriers take the
/// new address on their waybills (`redirected` once they have). After the carrier's pickup scan
/// it is 409 `refused_by_rules` (`already_picked_up`, explained in Chinese and English); a
/// delivered order is 409 `order_already_delivered`, a cancelled one 409 `order_not_paid`, the
/// order's own address 409 `same_address`, an address no warehouse serves 409
/// `address_not_served` — each with nothing changed.
#[utoipa::path(post, path = "/v1/after-sales", tag = "after-sales", request_body = OpenInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses((status = 201, body = AfterSalesView), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn open_request(
    State(state): State<AppState>,
    Buyer(buyer): Buyer,
    Client(client): Client,
    headers: HeaderMap,
    body: JsonBody<OpenInput>,
) -> Response {
    let request = ("POST", "/v1/after-sales", &body.raw[..]);
    idempotency::run(&state, Principal::Buyer(buyer), &headers, request, |idem| async {
        let ask = Ask {
            client: Some(client),
            ..parse_open(&body.value, buyer)?
        };
        let (shop, command) = after_sales::prepare_open(&state, ask).await?;
        let recorder = idem.map(|i| i.recorder_of::<miaodan_domain::shard::OpenRequest>(created));
        let answer = state.shards.ask(shop, command, recorder).await?;
        if let Ok(saved) = &answer {
            after_sales::refund_if_due(&state, saved).await;
            after_sales::book_pickup_if_due(&state, saved).await;
            after_sales::redirect_if_due(&state, saved).await;
        }
        Ok(created(&answer))
    })
    .await
}

fn created(answer: &Result<SavedRequest, Rejection>) -> Reply {
    render(answer, StatusCode::CREATED)
}

fn ok(answer: &Result<SavedRequest, Rejection>) -> Reply {
    render(answer, StatusCode::OK)
}

// ---- read -----------------------------------------------------------------------------------

fn visible(saved: &SavedRequest, principal: Principal) -> bool {
    match principal {
        Principal::Admin => true,
        Principal::Merchant(shop) => saved.request.shop == shop,
        Principal::Buyer(buyer) => saved.request.buyer == buyer,
    }
}

async fn visible_request(state: &AppState, principal: Principal, raw: i64) -> Result<SavedRequest, ApiError> {
    let id = AfterSalesId::new(raw).ok_or_else(|| ApiError::not_found("after-sales request"))?;
    state
        .store
        .after_sales_request(id)
        .await?
        .filter(|s| visible(s, principal))
        .ok_or_else(|| ApiError::not_found("after-sales request"))
}

/// Read one request: its stage, deadline, timeline and the decision explained.
#[utoipa::path(get, path = "/v1/after-sales/{request_id}", tag = "after-sales",
    params(("request_id" = i64, Path)),
    responses((status = 200, body = AfterSalesView), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_request(
    State(state): State<AppState>,
    principal: Principal,
    ids: PathIds,
) -> Result<Json<AfterSalesView>, ApiError> {
    let saved = visible_request(&state, principal, ids.one()).await?;
    Ok(Json(AfterSalesView::from(&saved)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AfterSalesQuery {
    /// Only requests in this stage (`with_merchant`, `refunding`, `refunded`, `closed`, …).
    #[param(schema_with = crate::http::schema::after_sales_stage)]
    pub stage: Option<String>,
    /// Only requests on this order.
    #[param(schema_with = crate::http::schema::id)]
    pub order_id: Option<i64>,
}

/// List requests, newest first: a buyer's own, a merchant's shop's, or (admin) all.
#[utoipa::path(get, path = "/v1/after-sales", tag = "after-sales", params(AfterSalesQuery, PageQuery),
    responses((status = 200, body = Page<AfterSalesView>), (status = 400, body = Problem),
        (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn list_requests(
    State(state): State<AppState>,
    principal: Principal,
    ListQuery { page, filter: query }: ListQuery<AfterSalesQuery>,
) -> Result<Json<Page<AfterSalesView>>, ApiError> {
    let stage = query
        .stage
        .as_deref()
        .map(|s| {
            Stage::NAMES
                .into_iter()
                .find(|known| *known == s)
                .ok_or_else(|| ApiError::invalid("invalid_field", "stage", "not a stage of a request"))
        })
        .transpose()?;
    let order = query
        .order_id
        .map(|raw| OrderId::new(raw).ok_or_else(|| ApiError::invalid("invalid_field", "order_id", "an order id")))
        .transpose()?;
    let Keyset { after, limit } = page.keyset::<(i64, i64)>("after-sales")?;
    if after.is_some_and(|(_, id)| id <= 0) {
        return Err(invalid_cursor());
    }
    let mut filter = AfterSalesFilter {
        stage,
        order,
        ..AfterSalesFilter::default()
    };
    match principal {
        Principal::Admin => {}
        Principal::Merchant(shop) => filter.shop = Some(shop),
        Principal::Buyer(buyer) => filter.buyer = Some(buyer),
    }
    let rows = state
        .store
        .after_sales_requests(&filter, Keyset { after, limit })
        .await?;
    let key = |s: &SavedRequest| (s.request.opened_at.unix_ms(), s.id.get());
    Ok(Json(page.page("after-sales", rows, key, |s| AfterSalesView::from(s))))
}

// ---- steps ----------------------------------------------------------------------------------

/// Runs one step on a request the caller may see: a settled request (closed, or refunded
/// with nothing left to inspect) answers 409 without asking the shard (settled requests leave
/// its memory).
async fn step<C: ShardCommand<Answer = SavedRequest>>(
    state: &AppState,
    principal: Principal,
    raw: i64,
    headers: &HeaderMap,
    (path, raw_body): (String, &[u8]),
    command: impl FnOnce(AfterSalesId) -> C,
) -> Response {
    idempotency::run(state, principal, headers, ("POST", &path, raw_body), |idem| async {
        let saved = visible_request(state, principal, raw).await?;
        if saved.request.is_settled() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "after_sales_step_not_allowed",
                format!("the request is {}", saved.request.stage.as_str()),
            ));
        }
        let shop = saved.request.shop;
        let recorder = idem.map(|i| i.recorder_of::<C>(ok));
        let answer = state.shards.ask(shop, command(saved.id), recorder).await?;
        if let Ok(stepped) = &answer {
            after_sales::refund_if_due(state, stepped).await;
            after_sales::book_pickup_if_due(state, stepped).await;
            after_sales::redirect_if_due(state, stepped).await;
        }
        Ok(ok(&answer))
    })
    .await
}

/// The merchant agrees: a cancellation closes the order's fulfillment and is refunded, a
/// refund goes to the payment provider.
#[utoipa::path(post, path = "/v1/after-sales/{request_id}/approve", tag = "after-sales",
    params(("request_id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = AfterSalesView), (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn approve(
    State(state): State<AppState>,
    Merchant(shop): Merchant,
    ids: PathIds,
    headers: HeaderMap,
    RawBody(raw): RawBody,
) -> Response {
    let path = format!("/v1/after-sales/{}/approve", ids.one());
    step(
        &state,
        Principal::Merchant(shop),
        ids.one(),
        &headers,
        (path, &raw),
        |id| ApproveRequest {
            id,
            by: Decider::Merchant(shop),
        },
    )
    .await
}

/// The merchant refuses; the buyer may appeal to the platform before the appeal deadline.
#[utoipa::path(post, path = "/v1/after-sales/{request_id}/refuse", tag = "after-sales",
    params(("request_id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = AfterSalesView), (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn refuse(
    State(state): State<AppState>,
    Merchant(shop): Merchant,
    ids: PathIds,
    headers: HeaderMap,
    RawBody(raw): RawBody,
) -> Response {
    let path = format!("/v1/after-sales/{}/refuse", ids.one());
    step(
        &state,
        Principal::Merchant(shop),
        ids.one(),
        &headers,
        (path, &raw),
        |id| RefuseRequest {
            id,
            by: Decider::Merchant(shop),
        },
    )
    .await
}

/// The buyer asks the platform to step in after the merchant's refusal (平台介入).
#[utoipa::path(post, path = "/v1/after-sales/{request_id}/appeal", tag = "after-sales",
    params(("request_id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = AfterSalesView), (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn appeal(
    State(state): State<AppState>,
    Buyer(buyer): Buyer,
    ids: PathIds,
    headers: HeaderMap,
    RawBody(raw): RawBody,
) -> Response {
    let path = format!("/v1/after-sales/{}/appeal", ids.one());
    step(
        &state,
        Principal::Buyer(buyer),
        ids.one(),
        &headers,
        (path, &raw),
        |id| AppealRequest { id, buyer },
    )
    .await
}

/// The buyer withdraws a request nobody has acted on yet.
#[utoipa::path(post, path = "/v1/after-sales/{request_id}/withdraw", tag = "after-sales",
    params(("request_id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = AfterSalesView), (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn withdraw(
    State(state): State<AppState>,
    Buyer(buyer): Buyer,
    ids: PathIds,
    headers: HeaderMap,
    RawBody(raw): RawBody,
) -> Response {
    let path = format!("/v1/after-sales/{}/withdraw", ids.one());
    step(
        &state,
        Principal::Buyer(buyer),
        ids.one(),
        &headers,
        (path, &raw),
        |id| WithdrawRequest { id, buyer },
    )
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecideInput {
    /// `approve` or `refuse` (final).
    #[schema(schema_with = crate::http::schema::after_sales_decision)]
    pub decision: String,
}

/// An operator decides an appealed request: approve (the refund starts) or refuse for good.
#[utoipa::path(post, path = "/v1/after-sales/{request_id}/decide", tag = "after-sales", request_body = DecideInput,
    params(("request_id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = AfterSalesView), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn decide(
    State(state): State<AppState>,
    _admin: Admin,
    ids: PathIds,
    headers: HeaderMap,
    body: JsonBody<DecideInput>,
) -> Response {
    let path = format!("/v1/after-sales/{}/decide", ids.one());
    let principal = Principal::Admin;
    match body.value.decision.as_str() {
        "approve" => {
            step(&state, principal, ids.one(), &headers, (path, &body.raw), |id| {
                ApproveRequest {
                    id,
                    by: Decider::Platform,
                }
            })
            .await
        }
        "refuse" => {
            step(&state, principal, ids.one(), &headers, (path, &body.raw), |id| {
                RefuseRequest {
                    id,
                    by: Decider::Platform,
                }
            })
            .await
        }
        _ => axum::response::IntoResponse::into_response(ApiError::invalid(
            "invalid_field",
            "decision",
            "decision is approve or refuse",
        )),
    }
}
