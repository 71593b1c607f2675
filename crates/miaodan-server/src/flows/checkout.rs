//! The checkout saga: one buyer request becomes one order per shop under one checkout id,
//! all-or-none from the buyer's view without a cross-shard transaction.
//!
//! ```text
//! split:  the lines by the shop owning each SKU (remembered; one read of the store for the rest)
//! place:  PlaceOrder per shop, to each shop's shard, concurrently
//!         ├─ all placed (or found placed by an earlier attempt): the checkout
//!         ├─ a shop refused: cancel the parts placed (their stock released), answer the refusal
//!         └─ a shard did not answer: with request references, leave the parts placed (the retry
//!            finds them by reference and completes the checkout; unpaid, they expire anyway);
//!            without, cancel them
//! ```
//!
//! The caller gives each shop's part a request reference derived from its idempotency key, so
//! a retry after a crash or an unavailable shard finds the orders already placed instead of
//! placing them twice.

use crate::app::AppState;
use crate::sequencer::{Recorder, ShardError};
use miaodan_domain::orders::{Address, CancelReason, Order, OrderState};
use miaodan_domain::risk::ClientSignals;
use miaodan_domain::shard::{
    CancelOrder, Canceller, Command, DeliveryChoice, OrderLineRequest, PlaceOrder, Placement, Rejection, RequestRef,
};
use miaodan_domain::{BuyerId, CheckoutId, OrderId, ShopId, SkuId};
use miaodan_store::{Store, StoreError};
use std::collections::{BTreeMap, HashMap};

/// Why a checkout placed no order (or, for the transient ones, may have placed some).
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    /// Line `line` of the request names a SKU no shop sells.
    #[error("line {line}: no such SKU: {sku}")]
    UnknownSku { line: usize, sku: SkuId },
    /// A shop's shard refused its part; `line` is the request's line at fault (the first
    /// line of the part when the refusal names no SKU). The other parts were cancelled.
    #[error("line {line}: refused: {}", .rejection.code())]
    Refused { line: usize, rejection: Rejection },
    /// An earlier attempt with the same request references placed a part that has since been
    /// cancelled (it expired unpaid): the checkout cannot be made whole.
    #[error("an earlier attempt of this checkout was cancelled")]
    EarlierAttemptCancelled,
    /// A part an earlier attempt placed cannot be read back yet.
    #[error("a previously placed order is not readable yet")]
    PlacedOrderNotReadable,
    #[error(transparent)]
    Shard(#[from] ShardError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One shop's share of a checkout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShopPart {
    pub shop: ShopId,
    /// Indexes of the request's lines in this shop's order.
    pub line_indexes: Vec<usize>,
    pub lines: Vec<OrderLineRequest>,
}

/// A checkout to place: its parts (from [`split`]) and what every part shares.
#[derive(Clone, Debug)]
pub struct CheckoutRequest {
    pub buyer: BuyerId,
    pub parts: Vec<ShopPart>,
    pub address: Address,
    /// The buyer's delivery choice per shop, if any.
    pub deliveries: BTreeMap<ShopId, DeliveryChoice>,
    /// A reference per shop that makes a retry find the part already placed (`None`: a
    /// request that cannot be retried safely, whose placed parts are cancelled on failure).
    pub requests: Option<BTreeMap<ShopId, RequestRef>>,
    /// What the request says of its sender, for risk (screened in every part's shard).
    pub client: ClientSignals,
}

/// A placed checkout: one order per shop.
#[derive(Clone, Debug)]
pub struct PlacedCheckout {
    pub checkout: CheckoutId,
    pub orders: Vec<Order>,
    /// Whether the recorder given to [`place_recorded`] stored the answer with the order.
    pub recorded: bool,
}

/// Which shop owns each SKU seen so far. A SKU never changes shop and is never deleted, so
/// what was read once stays true; SKUs not found are not remembered (they may be created).
/// Every checkout needs this, and a read of the store per checkout was a handoff to a
/// blocking thread and back.
#[derive(Default)]
pub struct SkuOwners {
    known: std::sync::Mutex<HashMap<SkuId, ShopId>>,
}

/// SKUs remembered at most; past it the memory starts over (a platform with more SKUs reads
/// the cold ones again).
const SKU_OWNERS_MAX: usize = 1_000_000;

impl SkuOwners {
    /// The owners of `skus` that are known: those remembered, and those the store has.
    async fn of(&self, store: &Store, skus: &[SkuId]) -> Result<BTreeMap<SkuId, ShopId>, StoreError> {
        let mut owners = BTreeMap::new();
        let mut unknown = Vec::new();
        {
            let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
            for sku in skus {
                match known.get(sku) {
                    Some(shop) => drop(owners.insert(*sku, *shop)),
                    None => unknown.push(*sku),
                }
            }
        }
        if unknown.is_empty() {
            return Ok(owners);
        }
        let found = store.sku_shops(&unknown).await?;
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        if known.len() + found.len() > SKU_OWNERS_MAX {
            known.clear();
        }
        known.extend(found.iter().copied());
        owners.extend(found);
        Ok(owners)
    }
}

/// Splits the lines (one per SKU) by the shop owning each SKU, in shop order.
pub async fn split(state: &AppState, lines: Vec<OrderLineRequest>) -> Result<Vec<ShopPart>, CheckoutError> {
    let skus: Vec<SkuId> = lines.iter().map(|l| l.sku).collect();
    let owners = state.sku_owners.of(&state.store, &skus).await?;
    let mut parts: BTreeMap<ShopId, ShopPart> = BTreeMap::new();
    for (line, request) in lines.into_iter().enumerate() {
        let shop = *owners
            .get(&request.sku)
            .ok_or(CheckoutError::UnknownSku { line, sku: request.sku })?;
        let part = parts.entry(shop).or_insert_with(|| ShopPart {
            shop,
            line_indexes: vec![],
            lines: vec![],
        });
        part.line_indexes.push(line);
        part.lines.push(request);
    }
    Ok(parts.into_values().collect())
}

/// Places every part in its shop's shard; on a refusal, cancels the parts placed.
pub async fn place(state: &AppState, request: CheckoutRequest) -> Result<PlacedCheckout, CheckoutError> {
    place_recorded(state, request, None).await
}

/// [`place`], with a recorder that stores the answer of a one-shop checkout in its order's own
/// batch (when the order is placed now, or refused by its shard), so that answering it costs
/// no second commit. A checkout across shops has no one batch: its caller stores the answer
/// itself, and the recorder is not used.
pub async fn place_recorded(
    state: &AppState,
    request: CheckoutRequest,
    recorder: Option<Recorder>,
) -> Result<PlacedCheckout, CheckoutError> {
    let mut recorder = recorder.filter(|_| request.parts.len() == 1);
    let recording = recorder.is_some();
    let checkout = state.ids.checkout().await?;
    let mut order_ids: Vec<OrderId> = Vec::with_capacity(request.parts.len());
    for _ in &request.parts {
        order_ids.push(state.ids.order().await?);
    }
    let placements = request.parts.iter().zip(order_ids).map(|(part, id)| {
        let command = PlaceOrder {
            id,
            checkout,
            shop: part.shop,
            buyer: request.buyer,
            lines: part.lines.clone(),
            address: request.address.clone(),
            payment_timeout_seconds: state.config.payment_timeout_seconds,
            request: request.requests.as_ref().and_then(|r| r.get(&part.shop).cloned()),
            delivery: request.deliveries.get(&part.shop).copied(),
            client: Box::new(request.client),
        };
        state.shards.ask(part.shop, command, recorder.take())
    });
    let results = futures::future::join_all(placements).await;
    let recorded = recording && matches!(results.as_slice(), [Ok(Ok(Placement::Placed(_)))]);

    let mut placed: Vec<Order> = Vec::new();
    let mut refused: Option<(usize, CheckoutError)> = None;
    let mut transient: Option<CheckoutError> = None;
    for (part, result) in request.parts.iter().zip(results) {
        match placement(state, result).await? {
            Part::Placed(order) => placed.push(order),
            Part::EarlierAttemptCancelled => refused = Some((0, CheckoutError::EarlierAttemptCancelled)),
            Part::Refused(rejection) => {
                let line = line_at_fault(part, &rejection);
                if refused.as_ref().is_none_or(|(first, _)| line < *first) {
                    refused = Some((line, self::refused(part, rejection)));
                }
            }
            Part::Transient(error) => transient = Some(error),
        }
    }

    if let Some((_, error)) = refused {
        compensate(state, &placed).await;
        return Err(error);
    }
    if let Some(error) = transient {
        if request.requests.is_none() {
            compensate(state, &placed).await;
        }
        return Err(error);
    }
    let checkout = placed.first().map_or(checkout, |o| o.checkout);
    Ok(PlacedCheckout {
        checkout,
        orders: placed,
        recorded,
    })
}

/// What became of one part.
enum Part {
    Placed(Order),
    EarlierAttemptCancelled,
    Refused(Rejection),
    Transient(CheckoutError),
}

/// What became of one part: an order (new, or found placed by an earlier attempt), a
/// refusal, or a shard that did not answer.
async fn placement(
    state: &AppState,
    result: Result<Result<Placement, Rejection>, ShardError>,
) -> Result<Part, CheckoutError> {
    Ok(match result {
        Ok(Ok(Placement::Placed(order))) => Part::Placed(order),
        Ok(Ok(Placement::AlreadyPlaced(id))) => match state.store.order(id).await? {
            // An earlier attempt's part that has since been cancelled (it expired unpaid)
            // cannot make this checkout whole: the checkout as a whole is refused.
            Some(order) if order.state == OrderState::Cancelled => Part::EarlierAttemptCancelled,
            Some(order) => Part::Placed(order),
            None => Part::Transient(CheckoutError::PlacedOrderNotReadable),
        },
        Ok(Err(rejection)) => Part::Refused(rejection),
        Err(error) => Part::Transient(CheckoutError::Shard(error)),
    })
}

/// A shard's refusal of `part`, as the checkout's refusal (pointing at the line at fault).
pub fn refused(part: &ShopPart, rejection: Rejection) -> CheckoutError {
    CheckoutError::Refused {
        line: line_at_fault(part, &rejection),
        rejection,
    }
}

/// The request line a refusal of `part` points at: the line of the SKU it names (one line
/// per SKU), or the part's first line.
fn line_at_fault(part: &ShopPart, rejection: &Rejection) -> usize {
    let position = names_sku(rejection)
        .and_then(|sku| part.lines.iter().position(|l| l.sku == sku))
        .unwrap_or(0);
    part.line_indexes[position]
}

/// The SKU a refusal names, if it names one.
pub fn names_sku(rejection: &Rejection) -> Option<SkuId> {
    match rejection {
        Rejection::UnknownSku { sku }
        | Rejection::SkuUnavailable { sku }
        | Rejection::InsufficientStock { sku, .. } => Some(*sku),
        _ => None,
    }
}

/// Cancels the placed parts of a refused checkout and releases their stock.
async fn compensate(state: &AppState, placed: &[Order]) {
    let cancellations = placed
        .iter()
        .filter(|o| o.state == OrderState::PendingPayment)
        .map(|order| {
            let command = Command::from(CancelOrder {
                order: order.id,
                by: Canceller::Platform,
                reason: CancelReason::CheckoutFailed,
            });
            state.shards.submit(order.shop, command, None)
        });
    for result in futures::future::join_all(cancellations).await {
        if let Err(error) = result {
            // The order stays pending and expires with the payment timeout.
            tracing::warn!(?error, "could not undo part of a refused checkout");
        }
    }
}
