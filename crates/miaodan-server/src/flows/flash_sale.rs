//! A flash-sale tap, then one-tap pay: the shard owning the sale decides the tap in arrival
//! order; an order placed for a buyer with a one-tap agreement is paid right after, in the
//! background, within the agreement's limits (otherwise it waits for the buyer to confirm).

use crate::app::AppState;
use crate::flows::payments::pay_by_one_tap_in_background;
use crate::sequencer::{Recorder, ShardError};
use miaodan_domain::flash_sale::FlashSaleId;
use miaodan_domain::orders::{Address, Order};
use miaodan_domain::risk::ClientSignals;
use miaodan_domain::shard::{Placement, Rejection, RequestRef, Tap};
use miaodan_domain::{BuyerId, CheckoutId, OrderId, Quantity};
use miaodan_store::StoreError;

/// Why a tap ordered nothing.
#[derive(Debug, thiserror::Error)]
pub enum TapError {
    #[error("no such flash sale")]
    UnknownSale,
    #[error("the id space is exhausted")]
    IdsExhausted,
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
    let command = Tap {
        sale: request.sale,
        order: OrderId::new(state.ids.order()).ok_or(TapError::IdsExhausted)?,
        checkout: CheckoutId::new(state.ids.checkout()).ok_or(TapError::IdsExhausted)?,
        buyer: request.buyer,
        quantity: request.quantity,
        address: request.address,
        request: request.request,
        client: request.client,
    };
    match state.shards.ask(shop, command, recorder).await? {
        Ok(Placement::Placed(order)) => {
            pay_by_one_tap_in_background(state, request.buyer, order.checkout);
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
