//! Payments over HTTP: a checkout's payment intent, confirming it with a credential or one-tap
//! pay, refunds of paid orders, one-tap agreements, the provider's webhook and the daily
//! reconciliation report. The flows themselves are in `crate::flows::payments`; their
//! [`PaymentError`] becomes problem+json here, once. Listings of intents and refunds are in
//! `lists`.

mod lists;

use super::extract::{JsonBody, PathIds, QueryParams, RawBody};
use super::page::{ListQuery, NoFilter, Page, PageQuery};
use super::problem::ApiError;
use super::validate;
use crate::app::AppState;
use crate::auth::{Admin, Buyer, Principal};
use crate::clock::rfc3339;
use crate::flows::payments::one_tap::OneTapRefusal;
use crate::flows::payments::provider::Notification;
use crate::flows::payments::reconcile::{self, ReconciliationReport};
use crate::flows::payments::{self, PayWith, PaymentError};
use crate::http::risk::Client;
use crate::idempotency::{self, Reply};
use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use miaodan_domain::payments::{IntentStatus, OneTapAgreement, PaymentIntent, PaymentIntentId, PaymentRefusal, Refund};
use miaodan_domain::risk::Verdict;
use miaodan_domain::shard::{Rejection, RequestRef};
use miaodan_domain::{BuyerId, CheckoutId, Fen, ShopId};
use miaodan_store::ChallengeKind;
use miaodan_store::LoggedNotification;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The payments' routes, registered once for the router and the OpenAPI document.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(open_intent, lists::list_intents))
        .routes(routes!(get_intent))
        .routes(routes!(confirm))
        .routes(routes!(refund_order, lists::list_order_refunds))
        .routes(routes!(lists::list_refunds))
        .routes(routes!(create_agreement, list_agreements))
        .routes(routes!(revoke_agreement))
        .routes(routes!(simpay_webhook))
        .routes(routes!(reconciliation))
}

/// How the payments' refusals are answered (the `code` is the core's [`Rejection::code`]).
pub fn refusal(rejection: &Rejection) -> ApiError {
    match rejection {
        Rejection::Payment(refusal) => payment_refusal(refusal),
        Rejection::PaymentIntentNotLoaded => ApiError::not_found("payment intent"),
        other => super::problem::misrouted(other),
    }
}

fn payment_refusal(refusal: &PaymentRefusal) -> ApiError {
    let detail = match refusal {
        PaymentRefusal::IntentState(status) => format!("the payment is {}", status.as_str()),
        PaymentRefusal::AttemptInFlight => "a payment attempt for this intent is in progress; retry shortly".into(),
        PaymentRefusal::ConflictingCapture => "the intent was already captured by another charge".into(),
        PaymentRefusal::AmountMismatch { expected, captured } => {
            format!(
                "the provider captured {} fen, not {} fen",
                captured.get(),
                expected.get()
            )
        }
        PaymentRefusal::NotInIntent => "the order is not part of this payment".into(),
        PaymentRefusal::RefundExceedsCaptured { refundable } => {
            format!("at most {} fen of this order can still be refunded", refundable.get())
        }
        PaymentRefusal::UnknownRefund => "no such refund".into(),
    };
    let status = match refusal {
        PaymentRefusal::UnknownRefund => StatusCode::NOT_FOUND,
        _ => StatusCode::CONFLICT,
    };
    let mut error = ApiError::new(status, refusal.code(), detail);
    match refusal {
        PaymentRefusal::AttemptInFlight => error.retry_after_seconds = Some(1),
        PaymentRefusal::RefundExceedsCaptured { .. } => error = error.field("amount_fen"),
        _ => {}
    }
    error
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChargeView {
    /// Our reference for the attempt that charged (the provider's idempotency key).
    pub reference: String,
    pub provider_charge_id: String,
    pub authorized_fen: i64,
    pub captured_fen: i64,
    pub authorized_at: String,
    pub captured_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IntentOrderView {
    pub order_id: i64,
    pub shop_id: i64,
    pub amount_fen: i64,
    /// `unpaid`, `pending` (captured, being marked paid), `paid`, or `refunded` (the order had
    /// closed before the money arrived; its share was given back).
    pub settlement: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RefundView {
    pub id: i64,
    pub payment_intent_id: i64,
    pub order_id: i64,
    pub amount_fen: i64,
    /// `requested` or `order_closed` (automatic).
    pub reason: String,
    /// `pending`, `succeeded` or `failed`.
    pub status: String,
    pub provider_refund_id: Option<String>,
    pub failure: Option<String>,
    pub created_at: String,
    pub settled_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentIntentView {
    pub id: i64,
    pub checkout_id: i64,
    pub buyer_id: i64,
    /// Set when this is one shop's part of the intent (what that shop's merchant reads): the
    /// amounts, orders and refunds are then that shop's only. Absent for the buyer and operators,
    /// who see the whole intent.
    pub shop_id: Option<i64>,
    /// `requires_confirmation`, `processing`, `authorized`, `captured`, `failed`, `expired`, `voided`.
    pub status: String,
    pub amount_fen: i64,
    pub currency: String,
    pub provider: String,
    pub one_tap: bool,
    pub attempts: i64,
    /// The last decline: `insufficient_funds`, `suspected_fraud`, `expired_credential`,
    /// `request_expired`, `not_processed`, `declined`.
    pub decline_code: Option<String>,
    /// The provider will not charge after this instant.
    pub pay_by: String,
    pub charge: Option<ChargeView>,
    pub orders: Vec<IntentOrderView>,
    pub refunds: Vec<RefundView>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Refund> for RefundView {
    fn from(r: &Refund) -> Self {
        RefundView {
            id: r.id.get(),
            payment_intent_id: r.intent.get(),
            order_id: r.order.get(),
            amount_fen: r.amount.get(),
            reason: r.reason.as_str().into(),
            status: r.status.as_str().into(),
            provider_refund_id: r.provider_refund_id.clone(),
            failure: r.failure.clone(),
            created_at: rfc3339(r.created_at),
            settled_at: r.settled_at.map(rfc3339),
        }
    }
}

/// Whose view of an intent to draw. A checkout spanning several shops is one intent; each
/// shop's merchant sees only its own part of it, never another shop's orders, amounts or
/// refunds.
#[derive(Clone, Copy)]
enum IntentScope {
    Whole,
    Shop(ShopId),
}

impl IntentScope {
    fn of(principal: Principal) -> IntentScope {
        match principal {
            Principal::Merchant(shop) => IntentScope::Shop(shop),
            Principal::Admin | Principal::Buyer(_) => IntentScope::Whole,
        }
    }

    fn covers(self, shop: ShopId) -> bool {
        match self {
            IntentScope::Whole => true,
            IntentScope::Shop(own) => own == shop,
        }
    }
}

fn intent_view(state: &AppState, i: &PaymentIntent, scope: IntentScope) -> PaymentIntentView {
    let orders: Vec<IntentOrderView> = i
        .orders
        .iter()
        .filter(|o| scope.covers(o.shop))
        .map(|o| IntentOrderView {
            order_id: o.order.get(),
            shop_id: o.shop.get(),
            amount_fen: o.amount.get(),
            settlement: o.settlement.as_str().into(),
        })
        .collect();
    let amount_fen = match scope {
        IntentScope::Whole => i.amount.get(),
        IntentScope::Shop(_) => orders.iter().map(|o| o.amount_fen).sum(),
    };
    // The provider authorizes and captures the whole intent at once, so a shop's part of
    // the charge is its share whenever the charge is non-zero.
    let part_of = |whole: Fen| {
        if whole.get() == 0 {
            0
        } else {
            amount_fen.min(whole.get())
        }
    };
    PaymentIntentView {
        id: i.id.get(),
        checkout_id: i.checkout.get(),
        buyer_id: i.buyer.get(),
        shop_id: match scope {
            IntentScope::Whole => None,
            IntentScope::Shop(shop) => Some(shop.get()),
        },
        status: i.status.as_str().into(),
        amount_fen,
        currency: "CNY".into(),
        provider: state.payments.provider.name().into(),
        one_tap: i.one_tap,
        attempts: i.attempts,
        decline_code: i.decline.map(|d| d.as_str().into()),
        pay_by: rfc3339(i.pay_by),
        charge: i.charge.as_ref().map(|c| ChargeView {
            reference: c.reference.clone(),
            provider_charge_id: c.provider_charge_id.clone(),
            authorized_fen: part_of(c.authorized),
            captured_fen: part_of(c.captured),
            authorized_at: rfc3339(c.authorized_at),
            captured_at: c.captured_at.map(rfc3339),
        }),
        refunds: i
            .refunds
            .iter()
            .filter(|r| orders.iter().any(|o| o.order_id == r.order.get()))
            .map(RefundView::from)
            .collect(),
        orders,
        created_at: rfc3339(i.created_at),
        updated_at: rfc3339(i.updated_at),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenIntentInput {
    #[serde(deserialize_with = "crate::http::extract::integer")]
    #[schema(schema_with = crate::http::schema::id)]
    pub checkout_id: i64,
}

/// Open the payment of a checkout: one intent covers the checkout's orders awaiting payment.
/// Asking again returns the same intent.
#[utoipa::path(post, path = "/v1/payment-intents", tag = "payments", request_body = OpenIntentInput,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = PaymentIntentView), (status = 404, body = super::problem::Problem),
        (status = 409, body = super::problem::Problem)),
    security(("bearer" = [])))]
pub async fn open_intent(
    State(state): State<AppState>,
    Buyer(buyer): Buyer,
    headers: HeaderMap,
    body: JsonBody<OpenIntentInput>,
) -> Response {
    let request = ("POST", "/v1/payment-intents", &body.raw[..]);
    idempotency::run(&state, Principal::Buyer(buyer), &headers, request, |idem| async {
        let checkout = validate::positive_id(body.value.checkout_id, "checkout_id")?;
        let checkout = CheckoutId::new(checkout).ok_or_else(|| ApiError::not_found("checkout"))?;
        let intent = payments::open_intent(&state, buyer, checkout, false).await?;
        let reply = Reply::json(StatusCode::CREATED, &intent_view(&state, &intent, IntentScope::Whole));
        idempotency::remember(&state, intent.home_shop, idem, reply).await
    })
    .await
}

fn visible(intent: &PaymentIntent, principal: Principal) -> bool {
    match principal {
        Principal::Admin => true,
        Principal::Buyer(buyer) => intent.buyer == buyer,
        Principal::Merchant(shop) => intent.orders.iter().any(|o| o.shop == shop),
    }
}

/// Read a payment intent: its buyer and operators see all of it; the merchant of one of its
/// orders sees only its own shop's part (`shop_id` set), and 404 if it has no order in it.
#[utoipa::path(get, path = "/v1/payment-intents/{payment_intent_id}", tag = "payments",
    params(("payment_intent_id" = i64, Path)),
    responses((status = 200, body = PaymentIntentView), (status = 404, body = super::problem::Problem)),
    security(("bearer" = [])))]
pub async fn get_intent(
    State(state): State<AppState>,
    principal: Principal,
    ids: PathIds,
) -> Result<Json<PaymentIntentView>, ApiError> {
    let id = PaymentIntentId::new(ids.one()).ok_or_else(|| ApiError::not_found("payment intent"))?;
    let intent = payments::read_intent(&state, id).await?;
    if !visible(&intent, principal) {
        return Err(ApiError::not_found("payment intent"));
    }
    Ok(Json(intent_view(&state, &intent, IntentScope::of(principal))))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmInput {
    /// A payment credential from the provider's client SDK. With `simpay`, any string is
    /// approved except the test credentials `sim_insufficient_funds`, `sim_fraud`,
    /// `sim_expired` (declined) and `sim_timeout` (charged, but the answer is lost).
    /// Exactly one of `credential` and `one_tap: true`.
    #[schema(schema_with = crate::http::schema::optional_credential)]
    pub credential: Option<String>,
    /// Pay under the buyer's one-tap agreement instead of a credential.
    #[serde(default)]
    pub one_tap: bool,
}

/// Pay an intent. Answers 200 when captured (the orders are paid), 402 when declined (the
/// buyer may try again), 202 when the provider's answer is unknown (reconciliation will ask it).
/// Risk control screens the attempt first (the credential, the buyer's history, its device):
/// 428 `risk_challenge` or 403 `risk_blocked`, and nothing is charged.
#[utoipa::path(post, path = "/v1/payment-intents/{payment_intent_id}/confirm", tag = "payments",
    request_body = ConfirmInput,
    params(("payment_intent_id" = i64, Path), ("Idempotency-Key" = Option<String>, Header),
        ("Device-Id" = Option<String>, Header, description = "The app's installation id, for risk control")),
    responses((status = 200, body = PaymentIntentView), (status = 202, body = PaymentIntentView),
        (status = 402, body = super::problem::Problem), (status = 403, body = super::problem::Problem),
        (status = 404, body = super::problem::Problem), (status = 409, body = super::problem::Problem),
        (status = 428, body = super::problem::Problem)),
    security(("bearer" = [])))]
pub async fn confirm(
    State(state): State<AppState>,
    Buyer(buyer): Buyer,
    Client(client): Client,
    ids: PathIds,
    headers: HeaderMap,
    body: JsonBody<ConfirmInput>,
) -> Response {
    let path = format!("/v1/payment-intents/{}/confirm", ids.one());
    let request = ("POST", path.as_str(), &body.raw[..]);
    idempotency::run(&state, Principal::Buyer(buyer), &headers, request, |idem| async {
        let id = PaymentIntentId::new(ids.one()).ok_or_else(|| ApiError::not_found("payment intent"))?;
        let pay_with = match (&body.value.credential, body.value.one_tap) {
            (Some(_), true) => {
                return Err(ApiError::invalid(
                    "invalid_field",
                    "one_tap",
                    "give a credential or one_tap, not both",
                ));
            }
            (Some(credential), false) => PayWith::Credential(valid_credential(credential)?),
            (None, true) => PayWith::OneTap,
            (None, false) => {
                return Err(ApiError::invalid(
                    "invalid_field",
                    "credential",
                    "give a `credential`, or `one_tap`: true",
                ));
            }
        };
        let started = std::time::Instant::now();
        let intent = match payments::confirm_or_show_paid(&state, buyer, id, pay_with, Some(client)).await {
            // A challenge carries the check to answer; once passed, the same request is decided
            // afresh (a 428 is not this key's answer).
            Err(PaymentError::Refused(rejection @ Rejection::Risk(refusal)))
                if refusal.verdict == Verdict::Challenge =>
            {
                let refusal = ApiError::from(&rejection);
                let kind = (ChallengeKind::Payment, None);
                return Err(super::risk::challenges::challenged(&state, refusal, buyer, kind).await);
            }
            paid => paid?,
        };
        metrics::histogram!("miaodan_payment_confirm_seconds").record(started.elapsed().as_secs_f64());
        let reply = confirmation_reply(&state, &intent);
        idempotency::remember(&state, intent.home_shop, idem, reply).await
    })
    .await
}

/// A credential: 1 to 200 characters, none a control character (a credential is an opaque
/// token of the provider's, and PostgreSQL refuses text with NUL).
fn valid_credential(raw: &str) -> Result<String, ApiError> {
    let count = raw.chars().count();
    if count == 0 || count > 200 || raw.chars().any(char::is_control) {
        let detail = "`credential` must be 1 to 200 characters, none a control character";
        return Err(ApiError::invalid("invalid_field", "credential", detail));
    }
    Ok(raw.to_string())
}

fn confirmation_reply(state: &AppState, intent: &PaymentIntent) -> Reply {
    match intent.status {
        IntentStatus::Captured | IntentStatus::Authorized => {
            Reply::json(StatusCode::OK, &intent_view(state, intent, IntentScope::Whole))
        }
        IntentStatus::Processing => Reply::json(StatusCode::ACCEPTED, &intent_view(state, intent, IntentScope::Whole)),
        IntentStatus::Failed => {
            let code = intent.decline.map_or("declined", |d| d.as_str());
            ApiError::new(
                StatusCode::PAYMENT_REQUIRED,
                code,
                format!(
                    "the payment was declined ({code}); try another credential before {}",
                    rfc3339(intent.pay_by)
                ),
            )
            .into()
        }
        status => ApiError::new(
            StatusCode::CONFLICT,
            "payment_intent_state",
            format!("the payment is {}", status.as_str()),
        )
        .into(),
    }
}

/// Who may refund: the shop's merchant or an operator. A buyer is refused as on every
/// role-restricted endpoint: before the request's key and body are read.
pub struct Refunder(Principal);

impl FromRequestParts<AppState> for Refunder {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Principal::from_request_parts(parts, state).await? {
            Principal::Buyer(_) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "refunds are issued by the shop's merchant or an operator",
            )),
            principal => Ok(Refunder(principal)),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundInput {
    /// 1 fen up to what is left of the order's payment.
    #[serde(deserialize_with = "crate::http::extract::integer")]
    #[schema(schema_with = crate::http::schema::integer::<1, 10_000_000_000>)]
    pub amount_fen: i64,
}

/// Refund (part of) a paid order, exactly once per request (use an Idempotency-Key). Several
/// partial refunds never add up to more than the order's share of the capture.
#[utoipa::path(post, path = "/v1/orders/{order_id}/refunds", tag = "payments", request_body = RefundInput,
    params(("order_id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = RefundView), (status = 404, body = super::problem::Problem),
        (status = 409, body = super::problem::Problem), (status = 422, body = super::problem::Problem)),
    security(("bearer" = [])))]
pub async fn refund_order(
    State(state): State<AppState>,
    Refunder(principal): Refunder,
    ids: PathIds,
    headers: HeaderMap,
    body: JsonBody<RefundInput>,
) -> Response {
    let path = format!("/v1/orders/{}/refunds", ids.one());
    let request = ("POST", path.as_str(), &body.raw[..]);
    idempotency::run(&state, principal, &headers, request, |idem| async {
        let amount = Fen::price(body.value.amount_fen)
            .filter(|a| a.get() > 0)
            .ok_or_else(|| ApiError::invalid("invalid_amount", "amount_fen", "an amount is 1 fen or more"))?;
        let order = super::orders::visible_order(&state, principal, ids.one()).await?;
        // Decided, and answered, at the holder of the intent's home (the background refunds of
        // after-sales send theirs there as values instead).
        if let Some(intent) = order.paid_by {
            let (home, _) = payments::home_of(&state, intent).await?;
            state.shards.decide_here(home)?;
        }
        let request = idem.as_ref().map(|i| RequestRef(i.request_ref("refund")));
        let (intent, refund) = match payments::refund_order(&state, order.id, amount, request).await {
            Ok(refunded) => refunded,
            Err(error) => {
                let error = ApiError::from(error);
                // Decided (the order is not paid, or not that much is left to refund): the
                // refusal is the answer to this key, replayed to its retries like any answer.
                if error.status == StatusCode::CONFLICT {
                    return idempotency::remember(&state, order.shop, idem, error.into()).await;
                }
                return Err(error);
            }
        };
        let view = intent
            .refunds
            .iter()
            .find(|r| r.id == refund)
            .map(RefundView::from)
            .ok_or_else(|| ApiError::unavailable("the refund was not recorded; retry"))?;
        let reply = Reply::json(StatusCode::CREATED, &view);
        idempotency::remember(&state, intent.home_shop, idem, reply).await
    })
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgreementInput {
    /// The credential the provider issued for password-free payments.
    #[schema(schema_with = crate::http::schema::credential)]
    pub credential: String,
    /// 1 fen to 1 000 000 yuan.
    #[serde(deserialize_with = "crate::http::extract::integer")]
    #[schema(schema_with = crate::http::schema::integer::<1, 100_000_000>)]
    pub per_order_limit_fen: i64,
    /// At least the per-order limit.
    #[serde(deserialize_with = "crate::http::extract::integer")]
    #[schema(schema_with = crate::http::schema::integer::<1, 100_000_000>)]
    pub per_day_limit_fen: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgreementView {
    pub id: i64,
    pub provider: String,
    /// The credential's last four characters.
    pub credential_hint: String,
    pub per_order_limit_fen: i64,
    pub per_day_limit_fen: i64,
    /// Charged under one-tap pay today (Asia/Shanghai).
    pub spent_today_fen: i64,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

fn agreement_view(state: &AppState, a: &OneTapAgreement) -> AgreementView {
    let chars: Vec<char> = a.credential.chars().collect();
    AgreementView {
        id: a.id,
        provider: a.provider.clone(),
        credential_hint: chars[chars.len().saturating_sub(4)..].iter().collect(),
        per_order_limit_fen: a.per_order_limit.get(),
        per_day_limit_fen: a.per_day_limit.get(),
        spent_today_fen: state.payments.one_tap.spent_today(a.buyer, state.clock.now()).get(),
        created_at: rfc3339(a.created_at),
        revoked_at: a.revoked_at.map(rfc3339),
    }
}

const ONE_TAP_LIMIT_FEN_MAX: i64 = 100_000_000;

/// Agree to one-tap pay (免密支付): flash-sale taps and one-tap confirmations under the limits
/// are charged with no further confirmation. A new agreement replaces the previous one.
#[utoipa::path(post, path = "/v1/one-tap-agreements", tag = "payments", request_body = AgreementInput,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = AgreementView), (status = 422, body = super::problem::Problem)),
    security(("bearer" = [])))]
pub async fn create_agreement(
    State(state): State<AppState>,
    Buyer(buyer): Buyer,
    headers: HeaderMap,
    body: JsonBody<AgreementInput>,
) -> Response {
    let request = ("POST", "/v1/one-tap-agreements", &body.raw[..]);
    idempotency::run(&state, Principal::Buyer(buyer), &headers, request, |idem| async {
        let input = &body.value;
        valid_credential(&input.credential)?;
        let per_order = Fen::price(input.per_order_limit_fen)
            .filter(|f| (1..=ONE_TAP_LIMIT_FEN_MAX).contains(&f.get()))
            .ok_or_else(|| ApiError::invalid("invalid_amount", "per_order_limit_fen", "1 fen to 1 000 000 yuan"))?;
        let per_day = Fen::price(input.per_day_limit_fen)
            .filter(|f| f.get() >= per_order.get() && f.get() <= ONE_TAP_LIMIT_FEN_MAX)
            .ok_or_else(|| {
                ApiError::invalid(
                    "invalid_amount",
                    "per_day_limit_fen",
                    "at least the per-order limit, at most 1 000 000 yuan",
                )
            })?;
        // Its answer is stored in the buyer's key's shard: decided by that shard's holder.
        state.shards.decide_here(buyer_shard_key(buyer))?;
        let now = state.clock.now();
        let previous = state.payments.one_tap.agreement(buyer);
        let agreement = OneTapAgreement {
            id: state.ids.one_tap_agreement().await?,
            buyer,
            provider: state.payments.provider.name().into(),
            credential: input.credential.clone(),
            per_order_limit: per_order,
            per_day_limit: per_day,
            created_at: now,
            revoked_at: None,
        };
        state.store.insert_one_tap_agreement(&agreement).await?;
        if let Some(previous) = previous {
            state.store.revoke_one_tap_agreement(previous.id, now).await?;
        }
        state.payments.one_tap.remember(agreement.clone());
        let reply = Reply::json(StatusCode::CREATED, &agreement_view(&state, &agreement));
        idempotency::remember(&state, buyer_shard_key(buyer), idem, reply).await
    })
    .await
}

/// Any shop id routes a stored response to a shard; the buyer's id spreads them.
fn buyer_shard_key(buyer: BuyerId) -> ShopId {
    ShopId::new(buyer.get()).expect("ids are positive")
}

/// The buyer's one-tap agreements, newest first.
#[utoipa::path(get, path = "/v1/one-tap-agreements", tag = "payments", params(PageQuery),
    responses((status = 200, body = Page<AgreementView>), (status = 400, body = super::problem::Problem)),
    security(("bearer" = [])))]
pub async fn list_agreements(
    State(state): State<AppState>,
    Buyer(buyer): Buyer,
    query: ListQuery<NoFilter>,
) -> Result<Json<Page<AgreementView>>, ApiError> {
    let page = query.page;
    let agreements = state
        .store
        .one_tap_agreements_page(buyer, page.keyset("one_tap_agreements")?)
        .await?;
    let view = |a: &OneTapAgreement| agreement_view(&state, a);
    Ok(Json(page.page("one_tap_agreements", agreements, |a| a.id, view)))
}

/// End a one-tap agreement: later payments need a confirmation again.
#[utoipa::path(delete, path = "/v1/one-tap-agreements/{agreement_id}", tag = "payments",
    params(("agreement_id" = i64, Path)),
    responses((status = 200, body = AgreementView), (status = 404, body = super::problem::Problem)),
    security(("bearer" = [])))]
pub async fn revoke_agreement(
    State(state): State<AppState>,
    Buyer(buyer): Buyer,
    ids: PathIds,
) -> Result<Json<AgreementView>, ApiError> {
    let found = state
        .store
        .one_tap_agreements(Some(buyer))
        .await?
        .into_iter()
        .find(|a| a.id == ids.one() && a.buyer == buyer)
        .ok_or_else(|| ApiError::not_found("one-tap agreement"))?;
    let mut revoked = found;
    if revoked.revoked_at.is_none() {
        let now = state.clock.now();
        state.store.revoke_one_tap_agreement(revoked.id, now).await?;
        revoked.revoked_at = Some(now);
        state.payments.one_tap.remember(revoked.clone());
    }
    Ok(Json(agreement_view(&state, &revoked)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookAck {
    /// What the notification did: `applied`, `duplicate`, `unknown_reference`, `conflict`.
    pub status: String,
}

/// The payment provider's notifications (`simpay`): signed with HMAC-SHA256 over
/// `"<timestamp>.<body>"` in the `Simpay-Signature` header, refused if the signature is wrong
/// or older than 5 minutes. Duplicates and out-of-order deliveries are applied once.
#[utoipa::path(post, path = "/v1/webhooks/simpay", tag = "payments",
    request_body(content = String, content_type = "application/json", description = "A simpay event, as signed"),
    params(("Simpay-Signature" = String, Header, description = "t=<unix seconds>,v1=<hex HMAC-SHA256>")),
    responses((status = 200, body = WebhookAck), (status = 401, body = super::problem::Problem),
        (status = 503, body = super::problem::Problem)))]
pub async fn simpay_webhook(State(state): State<AppState>, headers: HeaderMap, RawBody(body): RawBody) -> Response {
    let provider = state.payments.provider.clone();
    let now = state.clock.now();
    let notification: Notification = match provider.verify_notification(
        headers.get(provider.signature_header()).map(|v| v.as_bytes()),
        &body,
        now,
    ) {
        Ok(notification) => notification,
        Err(error) => {
            metrics::counter!("miaodan_webhook_notifications_total", "outcome" => error.code()).increment(1);
            tracing::warn!(code = error.code(), "refused a provider notification");
            let status = if error.code() == "malformed_notification" {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::UNAUTHORIZED
            };
            return ApiError::new(status, error.code(), "the notification's signature does not verify").into_response();
        }
    };
    let applied = payments::apply_notification(&state, &notification).await;
    if applied == "failed" {
        // Not acknowledged: the provider delivers it again later.
        return ApiError::unavailable("the notification could not be applied yet").into_response();
    }
    let id = match state.ids.notification().await {
        Ok(id) => id,
        // Not acknowledged: the provider delivers it again later.
        Err(error) => return ApiError::from(error).into_response(),
    };
    let logged = LoggedNotification {
        id,
        provider: provider.name(),
        event_id: notification.event_id(),
        event_type: notification.event_type(),
        reference: notification.reference(),
        received_at: now,
        outcome: applied,
    };
    let first = match log_notification(&state, &logged).await {
        Ok(first) => first,
        Err(error) => return error.into_response(),
    };
    let outcome = if first { applied } else { "duplicate" };
    metrics::counter!("miaodan_webhook_notifications_total", "outcome" => outcome).increment(1);
    Json(WebhookAck { status: outcome.into() }).into_response()
}

/// Logs a notification with what it did, once per event id; answers whether it was new. The
/// line rides a shard's next batch (any shard: it is no shard's state), chosen by event id.
async fn log_notification(state: &AppState, logged: &LoggedNotification<'_>) -> Result<bool, ApiError> {
    if state
        .store
        .notification_logged(logged.provider, logged.event_id)
        .await?
    {
        return Ok(false);
    }
    let shard = state.shards.shard_of_text(logged.event_id);
    state.shards.store_rows(shard, vec![logged.row()]).await?;
    Ok(true)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReconciliationQuery {
    /// The Asia/Shanghai day, `YYYY-MM-DD`; today if absent.
    #[param(schema_with = crate::http::schema::date)]
    pub date: Option<String>,
}

/// The day's reconciliation: captured − refunded against the orders' paid amounts, and the
/// provider's statement against the ledger; every mismatch is listed.
#[utoipa::path(get, path = "/v1/reconciliation", tag = "payments", params(ReconciliationQuery),
    responses((status = 200, body = ReconciliationReport), (status = 422, body = super::problem::Problem)),
    security(("bearer" = [])))]
pub async fn reconciliation(
    State(state): State<AppState>,
    _: Admin,
    QueryParams(query): QueryParams<ReconciliationQuery>,
) -> Result<Json<ReconciliationReport>, ApiError> {
    let date = match query.date {
        Some(date) => date,
        None => miaodan_domain::time::shanghai::LocalDate::of(state.clock.now()).to_string(),
    };
    if reconcile::day_bounds(&date).is_none() {
        return Err(ApiError::invalid(
            "invalid_field",
            "date",
            "`date` must be a calendar date, YYYY-MM-DD",
        ));
    }
    let report = reconcile::report(&state, &date).await.map_err(|error| {
        tracing::warn!(%error, "reconciliation failed");
        ApiError::unavailable(format!("the reconciliation could not be made: {error}"))
    })?;
    Ok(Json(report))
}

/// A payment flow's failure as problem+json: the one place its variants get a status and code.
impl From<PaymentError> for ApiError {
    fn from(error: PaymentError) -> ApiError {
        match error {
            PaymentError::UnknownIntent => ApiError::not_found("payment intent"),
            PaymentError::UnknownCheckout => ApiError::not_found("checkout"),
            PaymentError::UnknownOrder => ApiError::not_found("order"),
            PaymentError::NothingToPay => ApiError::new(
                StatusCode::CONFLICT,
                "nothing_to_pay",
                "no order of this checkout awaits payment (paid, cancelled or expired)",
            ),
            PaymentError::AmountNotPayable { amount_fen } => ApiError::new(
                StatusCode::CONFLICT,
                "amount_not_payable",
                format!(
                    "the payment provider does not charge {amount_fen} fen (nothing to charge, or more than it takes)"
                ),
            ),
            PaymentError::OrderNotPaid => ApiError::new(
                StatusCode::CONFLICT,
                "order_not_paid",
                "the order has no captured payment to refund",
            ),
            PaymentError::Refused(rejection) => ApiError::from(&rejection),
            PaymentError::OneTap(refusal) => one_tap_refusal(refusal),
            PaymentError::ProviderRefused(_) => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "provider_refused",
                "the payment provider refused the request; nothing was charged",
            ),
            PaymentError::Shard(error) => ApiError::from(error),
            PaymentError::Store(error) => ApiError::from(error),
        }
    }
}

fn one_tap_refusal(refusal: OneTapRefusal) -> ApiError {
    match refusal {
        OneTapRefusal::NoAgreement => ApiError::new(
            StatusCode::CONFLICT,
            "no_one_tap_agreement",
            "the buyer has no active one-tap agreement; confirm with a credential",
        ),
        OneTapRefusal::OverLimit {
            limit,
            amount,
            per_order_limit,
            per_day_limit,
            spent_today,
        } => ApiError::new(
            StatusCode::CONFLICT,
            limit.code(),
            format!(
                "{} fen is over the one-tap limits ({} per order, {} per day, {} spent today); confirm with a credential",
                amount.get(),
                per_order_limit.get(),
                per_day_limit.get(),
                spent_today.get()
            ),
        ),
    }
}
