//! Batches of taps from a trusted edge gateway: `POST /v1/flash-sales/{id}/taps/batch`.
//!
//! An edge node close to the viewers authenticates its buyers itself and carries up to
//! [`BATCH_TAPS_MAX`] of their taps on one sale in one request, under its own `edge` token (the
//! platform trusts it for the buyers it names). Each tap is answered exactly as it would have
//! been alone, in the batch's order: the order placed (201, the single tap's body) or the
//! problem (its status and problem+json body, with the same codes).
//!
//! **Invariants:**
//! - Each tap's `idempotency_key` is its buyer's own `Idempotency-Key` for the single tap with
//!   the same body ([`single_body`]): a retry, in a later batch or as the buyer's single tap,
//!   gets the first answer; the same key with another tap is `idempotency_key_reused`.
//! - The taps a batch decides go to the sale's shard as ONE bundle, decided in order like as
//!   many single taps, their answers stored for their keys in the batch that commits them.
//! - A tap refused before deciding (an unknown buyer, a bad key, quantity or address) stores
//!   nothing and holds nothing, as alone; the other taps proceed.

use super::dto::{TapBatchInput, TapInput};
use super::{render_tap, tap_answer};
use crate::app::AppState;
use crate::auth::Edge;
use crate::flows::flash_sale::{self, TapError, TapRequest};
use crate::http::extract::{JsonBody, PathIds};
use crate::http::problem::{ApiError, grouped};
use crate::http::risk::{DEVICE_ID_BYTES_MAX, device_fingerprint};
use crate::idempotency::{self, Claim, Idempotency, KeyedRequest, Reply};
use crate::sequencer::Recorder;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use miaodan_domain::flash_sale::FlashSaleId;
use miaodan_domain::risk::ClientSignals;
use miaodan_domain::shard::Tap;
use miaodan_domain::{BuyerId, ShopId};

/// The most taps one batch carries; more is refused 422 `too_many_taps` (and none is decided).
pub const BATCH_TAPS_MAX: usize = 1_000;

/// Taps of many buyers on one flash sale, from a trusted edge gateway: 200 with one result per
/// tap, in order — the status and body the tap would have got alone (201 and the order, or a
/// problem: `sold_out`, `limit_reached`, `not_started`, `ended`, `risk_blocked`,
/// `risk_challenge`, `not_found` for an unknown buyer, `idempotency_key_reused`, …). Each
/// tap's `idempotency_key` is its buyer's, as on `POST /v1/flash-sales/{flash_sale_id}/taps`.
#[utoipa::path(post, path = "/v1/flash-sales/{flash_sale_id}/taps/batch", tag = "flash sales",
    request_body = TapBatchInput,
    params(("flash_sale_id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = super::dto::TapBatchView),
        (status = 403, description = "not an edge gateway's token", body = crate::http::problem::Problem),
        (status = 404, description = "no such flash sale", body = crate::http::problem::Problem),
        (status = 422, description = "`too_many_taps`, or no tap", body = crate::http::problem::Problem),
        (status = 429, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
pub async fn tap_batch(
    State(state): State<AppState>,
    edge: Edge,
    ids: PathIds,
    headers: HeaderMap,
    body: JsonBody<TapBatchInput>,
) -> Response {
    let path = format!("/v1/flash-sales/{}/taps/batch", ids.one());
    let request = ("POST", path.as_str(), &body.raw[..]);
    let response = idempotency::run_in_scope(&state, edge.scope(), &headers, request, |idem| async {
        let taps = &body.value.taps;
        if taps.is_empty() {
            return Err(ApiError::invalid(
                "invalid_field",
                "taps",
                "a batch carries at least one tap",
            ));
        }
        if taps.len() > BATCH_TAPS_MAX {
            let detail = format!("a batch carries at most {} taps", grouped(BATCH_TAPS_MAX as i64));
            return Err(ApiError::invalid("too_many_taps", "taps", detail));
        }
        let sale = FlashSaleId::new(ids.one()).ok_or_else(|| ApiError::not_found("flash sale"))?;
        let shop = state
            .directory
            .sale_shop(&state.store, sale)
            .await?
            .ok_or_else(|| ApiError::not_found("flash sale"))?;
        state.shards.decide_here(shop)?;
        let results = answer_taps(&state, (sale, shop), taps).await?;
        let reply = Reply {
            status: StatusCode::OK,
            body: results_body(taps, &results),
        };
        idempotency::remember(&state, shop, idem, reply).await
    })
    .await;
    json_ok(response)
}

/// A batch's answer is JSON even when it is made of problems: only a refusal of the whole batch
/// is problem+json.
fn json_ok(mut response: Response) -> Response {
    if response.status() == StatusCode::OK {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    response.into_response()
}

/// The body of the single tap a batch's tap stands for: none without `quantity` and `address`,
/// else those two as compact JSON in that order (`{"quantity":2}`).
pub fn single_body(tap: &super::dto::EdgeTapInput) -> Vec<u8> {
    if tap.quantity.is_none() && tap.address.is_none() {
        return Vec::new();
    }
    let input = TapInput {
        quantity: tap.quantity,
        address: tap.address.clone(),
    };
    serde_json::to_vec(&input).unwrap_or_default()
}

/// A tap on its way: refused already (its answer), the same as an earlier one, or to decide.
enum Step {
    Answered(Reply),
    SameAs(usize),
    Decide(Box<TapRequest>, Option<Idempotency>),
}

/// Answers every tap of a batch, in order.
async fn answer_taps(
    state: &AppState,
    (sale, shop): (FlashSaleId, ShopId),
    taps: &[super::dto::EdgeTapInput],
) -> Result<Vec<Reply>, ApiError> {
    let path = format!("/v1/flash-sales/{sale}/taps");
    let bodies: Vec<Vec<u8>> = taps.iter().map(single_body).collect();
    let mut buyers = Vec::with_capacity(taps.len());
    for tap in taps {
        buyers.push(known_buyer(state, tap).await);
    }
    let mut indices = Vec::new();
    let mut requests = Vec::new();
    for (i, buyer) in buyers.iter().enumerate() {
        if let Ok(buyer) = buyer {
            let scope = crate::auth::Principal::Buyer(*buyer).scope();
            let request = ("POST", path.as_str(), bodies[i].as_slice());
            let key = taps[i].idempotency_key.as_str();
            indices.push(i);
            requests.push(KeyedRequest { scope, key, request });
        }
    }
    // The keys stay locked until every tap is answered (and its answer stored).
    let (_keys, claims) = idempotency::claim_batch(state, &requests).await;
    let mut claimed: Vec<Option<Result<Claim, ApiError>>> = (0..taps.len()).map(|_| None).collect();
    for (index, claim) in indices.iter().zip(claims) {
        claimed[*index] = Some(claim);
    }
    let mut steps = Vec::with_capacity(taps.len());
    for ((tap, buyer), claim) in taps.iter().zip(buyers).zip(claimed) {
        let step = match (buyer, claim) {
            (Err(error), _) => Step::Answered(error.into()),
            (Ok(buyer), Some(Ok(Claim::Fresh(idem)))) => prepare(state, (buyer, sale), tap, Some(idem)).await,
            (Ok(_), Some(Ok(Claim::Answered(reply)))) => Step::Answered(reply),
            (Ok(_), Some(Ok(Claim::SameAs(earlier)))) => Step::SameAs(indices[earlier]),
            (Ok(_), Some(Err(error))) => Step::Answered(error.into()),
            (Ok(_), None) => Step::Answered(ApiError::unavailable("the tap's key was not claimed").into()),
        };
        steps.push(step);
    }
    decide(state, (sale, shop), steps).await
}

/// The buyer a tap names, if the platform knows it: an unknown one is that tap's 404, and a key
/// that cannot be one its 400, before any key is claimed.
async fn known_buyer(state: &AppState, tap: &super::dto::EdgeTapInput) -> Result<BuyerId, ApiError> {
    let not_found = || ApiError::not_found("buyer").field("buyer_id");
    let buyer = BuyerId::new(tap.buyer_id).ok_or_else(not_found)?;
    if !idempotency::is_valid_key(&tap.idempotency_key) {
        return Err(idempotency::invalid_key("idempotency_key"));
    }
    match state.directory.buyer_opened_at(&state.store, buyer).await? {
        Some(_) => Ok(buyer),
        None => Err(not_found()),
    }
}

/// A tap's request as the single tap's handler builds it; a refusal is its answer.
async fn prepare(
    state: &AppState,
    (buyer, sale): (BuyerId, FlashSaleId),
    tap: &super::dto::EdgeTapInput,
    idem: Option<Idempotency>,
) -> Step {
    let built = async {
        let client = ClientSignals {
            device: device_of(tap.device_id.as_deref())?,
            ..ClientSignals::default()
        };
        let input = (tap.quantity, tap.address.as_ref());
        super::tap_request(state, (buyer, sale), input, client, idem.as_ref()).await
    };
    match built.await {
        Ok(request) => Step::Decide(Box::new(request), idem),
        Err(error) => Step::Answered(error.into()),
    }
}

/// The fingerprint of the device an edge names for a tap, as a single tap's `Device-Id`; one
/// that cannot be a device id is the tap's 422.
fn device_of(raw: Option<&str>) -> Result<Option<u64>, ApiError> {
    let Some(id) = raw else { return Ok(None) };
    match device_fingerprint(id.as_bytes()) {
        Some(device) => Ok(Some(device)),
        None => Err(ApiError::invalid(
            "invalid_field",
            "device_id",
            format!("a device id is 1 to {DEVICE_ID_BYTES_MAX} bytes"),
        )),
    }
}

/// Sends the taps to decide to the sale's shard as one bundle, and puts every answer in place.
async fn decide(
    state: &AppState,
    (sale, shop): (FlashSaleId, ShopId),
    steps: Vec<Step>,
) -> Result<Vec<Reply>, ApiError> {
    let mut decided = Vec::new();
    let mut bundle: Vec<(TapRequest, Option<Recorder>)> = Vec::new();
    for (index, step) in steps.iter().enumerate() {
        if let Step::Decide(request, idem) = step {
            let recorder = idem.clone().map(|i| i.recorder_of::<Tap>(render_tap));
            bundle.push(((**request).clone(), recorder));
            decided.push((index, request.buyer));
        }
    }
    let mut answers = vec![None; steps.len()];
    if !bundle.is_empty() {
        let outcomes = flash_sale::tap_bundle(state, shop, bundle)
            .await
            .map_err(ApiError::from)?;
        for ((index, buyer), outcome) in decided.into_iter().zip(outcomes) {
            let answer = tap_answer(state, (buyer, sale), outcome).await;
            answers[index] = Some(answer.unwrap_or_else(Reply::from));
        }
    }
    let mut replies: Vec<Reply> = Vec::with_capacity(steps.len());
    for (index, step) in steps.into_iter().enumerate() {
        let reply = match step {
            Step::Answered(reply) => reply,
            Step::SameAs(earlier) => replies[earlier].clone(),
            Step::Decide(..) => answers[index]
                .take()
                .unwrap_or_else(|| ApiError::from(TapError::OrderNotReadable).into()),
        };
        replies.push(reply);
    }
    Ok(replies)
}

/// `{"results":[{"idempotency_key":…,"status":…,"body":…},…]}`, each body as the single tap's
/// answer was rendered (and stored): written as it is, not parsed again.
fn results_body(taps: &[super::dto::EdgeTapInput], replies: &[Reply]) -> String {
    let mut body = String::with_capacity(replies.iter().map(|r| r.body.len() + 64).sum::<usize>() + 16);
    body.push_str("{\"results\":[");
    for (i, (tap, reply)) in taps.iter().zip(replies).enumerate() {
        if i > 0 {
            body.push(',');
        }
        let key = serde_json::to_string(&tap.idempotency_key).unwrap_or_else(|_| "\"\"".into());
        body.push_str(&format!(
            "{{\"idempotency_key\":{key},\"status\":{},\"body\":{}}}",
            reply.status.as_u16(),
            reply.body
        ));
    }
    body.push_str("]}");
    body
}
