//! A flash-sale tap, then one-tap pay: the shard owning the sale decides the tap in arrival
//! order; an order placed for a buyer with a one-tap agreement is paid right after, in the
//! background, within the agreement's limits (otherwise it waits for the buyer to confirm).
//! An edge gateway's batch of taps on one sale goes to the sale's shard as one bundle
//! ([`tap_bundle`]), decided in order like as many single taps.

use crate::app::AppState;
use crate::flows::payments::pay_by_one_tap_in_background;
use crate::sequencer::{Recorder, ShardError};
use miaodan_domain::ShopId;
use miaodan_domain::flash_sale::FlashSaleId;
use miaodan_domain::orders::{Address, Order};
use miaodan_domain::risk::ClientSignals;
use miaodan_domain::shard::{Command, Placement, Rejection, RequestRef, ShardCommand, Tap};
use miaodan_domain::{BuyerId, Quantity};
use miaodan_store::StoreError;

/// Why a tap ordered nothing.
#[derive(Debug, thiserror::Error)]
pub enum TapError {
    #[error("no such flash sale")]
    UnknownSale,
    /// The shard refused the tap (`not_started`, `ended`, `limit_reached`, `sold_out`, …).
    #[error("refused: {}", .0.code())]
    Refused(Rejection),
    /// A retry found the order its first attempt placed, but it cannot be read back yet.
    #[error("the order is not readable yet")]
    OrderNotReadable,
    #[error(transparent)]
    Shard(#[from] ShardError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One buyer's tap on a sale.
#[derive(Clone, Debug)]
pub struct TapRequest {
    pub buyer: BuyerId,
    pub sale: FlashSaleId,
    pub quantity: Quantity,
    pub address: Address,
    /// Makes a retry find the order its first attempt placed.
    pub request: Option<RequestRef>,
    /// What the request says of its sender, for risk.
    pub client: ClientSignals,
}

/// Taps; the order placed (or placed by an earlier attempt of the same request). The
/// `recorder`, if any, stores the response in the shard's batch.
pub async fn tap(state: &AppState, request: TapRequest, recorder: Option<Recorder>) -> Result<Order, TapError> {
    let shop = state
        .directory
        .sale_shop(&state.store, request.sale)
        .await?
        .ok_or(TapError::UnknownSale)?;
    let buyer = request.buyer;
    let answer = state
        .shards
        .ask(shop, command_of(state, request).await?, recorder)
        .await?;
    settle(state, buyer, answer).await
}

/// Taps of many buyers on the sale of `shop`, each with the recorder of its request, decided
/// in order as one bundle of the shop's shard (one hand-off, one batch): the answer of each, in
/// order, as [`tap`] would have given it.
pub async fn tap_bundle(
    state: &AppState,
    shop: ShopId,
    taps: Vec<(TapRequest, Option<Recorder>)>,
) -> Result<Vec<Result<Order, TapError>>, TapError> {
    let mut buyers = Vec::with_capacity(taps.len());
    let mut commands = Vec::with_capacity(taps.len());
    for (request, recorder) in taps {
        buyers.push(request.buyer);
        commands.push((Command::from(command_of(state, request).await?), recorder));
    }
    let outcomes = state.shards.submit_recorded_bundle(shop, commands).await?;
    let mut answers = Vec::with_capacity(outcomes.len());
    for (buyer, outcome) in buyers.into_iter().zip(outcomes) {
        answers.push(settle(state, buyer, Tap::answer(outcome)).await);
    }
    Ok(answers)
}

async fn command_of(state: &AppState, request: TapRequest) -> Result<Tap, TapError> {
    Ok(Tap {
        sale: request.sale,
        order: state.ids.order().await?,
        checkout: state.ids.checkout().await?,
        buyer: request.buyer,
        quantity: request.quantity,
        address: request.address,
        request: request.request,
        client: request.client,
    })
}

/// What a tap's answer comes to: the order placed (paid by one tap in the background if the
/// buyer agreed), the order an earlier attempt placed, or the refusal.
async fn settle(state: &AppState, buyer: BuyerId, answer: Result<Placement, Rejection>) -> Result<Order, TapError> {
    match answer {
        Ok(Placement::Placed(order)) => {
            pay_by_one_tap_in_background(state, buyer, order.checkout);
            Ok(order)
        }
        Ok(Placement::AlreadyPlaced(id)) => state.store.order(id).await?.ok_or(TapError::OrderNotReadable),
        Err(rejection) => {
            if let Rejection::Risk(refusal) = rejection {
                metrics::counter!("miaodan_risk_refusals_total", "verdict" => refusal.verdict.as_str()).increment(1);
            }
            Err(TapError::Refused(rejection))
        }
    }
}
