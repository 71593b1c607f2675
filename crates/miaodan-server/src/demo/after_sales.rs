//! The demo's after-sales stories: orders of the demo buyer in the first shop, placed and paid,
//! each with a request in another stage, so that a newcomer sees requests being decided. Every
//! step goes through the flows and shard commands the API uses (checkout, payment with the
//! simpay simulator, shipment, request, the merchant's answer); nothing is written around them.
//!
//! | order | what the buyer asked                       | what happened                                   |
//! |-------|--------------------------------------------|-------------------------------------------------|
//! | 1     | cancel, before shipment                    | the rules approved (`not_yet_picked_up`): refunded, units back in stock |
//! | 2     | refund 4 units (¥516), quality issue       | over the ¥500 the rules approve alone: with the merchant, who has 48 h |
//! | 3     | refund 4 units (¥516), arrived damaged     | with the merchant, who refused: the buyer may appeal for 72 h |
//! | 4     | (shipped) cancel                           | refused by the rules (`already_picked_up`): nothing is opened; try it |
//! | 5     | (delivered) return 1 unit, no reason       | approved (`no_reason_return_in_window`), pickup booked with the carrier; at its first scan refunded at once (`return_scanned_by_carrier`, 闪电退款), then delivered to the warehouse for inspection |
//! | 6, 7  | nothing yet                                | paid, waiting in the warehouse: cancel one yourself |
//!
//! Order 4's parcel carries the merchant's own waybill, one the simulated carrier does not
//! track, so it stays with the carrier: its cancellation is refused whenever it is asked.
//! Order 5's parcel carries one too, reported delivered as the carrier's webhook would; its
//! return parcel is the simulated carrier's, whose signed events (minutes apart on the demo's
//! time scale) move the request. Two refunds in seven paid orders keep the buyer below the rate
//! at which the rules pass a buyer's requests to the merchant, so the newcomer's own first
//! cancellation is approved at once. The ids are those of a fresh database; the stories are told once per database (not
//! again once the demo buyer has a request).

use crate::app::AppState;
use crate::flows::after_sales::{self, Ask};
use crate::flows::checkout::{self, CheckoutRequest};
use crate::flows::payments::{self, PayWith};
use crate::flows::shipments::{self, ShipParcel};
use miaodan_domain::after_sales::commands::SavedRequest;
use miaodan_domain::after_sales::request::RequestLine;
use miaodan_domain::after_sales::{Reason, RequestKind};
use miaodan_domain::logistics::shipment::parse_waybill;
use miaodan_domain::logistics::{Shipment, ShipmentState, TrackingEvent};
use miaodan_domain::orders::{Address, Order};
use miaodan_domain::shard::{Decider, OrderLineRequest, RecordTracking, RefuseRequest};
use miaodan_domain::{BuyerId, Quantity, ShopId, SkuId};
use miaodan_store::AfterSalesFilter;
use miaodan_store::records::Keyset;

/// The credential the demo buyer pays with (simpay approves it).
const WALLET: &str = "wallet-demo";
/// The merchant's own waybill of order 4's parcel (see the module's header).
const OWN_WAYBILL: &str = "DEMO-OWN-000001";
/// The merchant's own waybill of order 5's parcel, delivered before its return.
const DELIVERED_WAYBILL: &str = "DEMO-OWN-000002";

/// Where the stories happen: the demo buyer, the first shop and two of its SKUs.
pub struct Scene {
    pub buyer: BuyerId,
    pub address: Address,
    pub shop: ShopId,
    /// A SKU of at most ¥50, and one of ¥125 to ¥500: four units are over the ¥500 ceiling.
    pub cheap: SkuId,
    pub dear: SkuId,
}

/// What the merchant does with a request the rules passed on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Merchant {
    Waits,
    Refuses,
}

/// Tells the stories unless the demo buyer already has an after-sales request.
pub async fn tell(state: &AppState, scene: &Scene) -> anyhow::Result<()> {
    let filter = AfterSalesFilter {
        buyer: Some(scene.buyer),
        ..AfterSalesFilter::default()
    };
    let page = Keyset { after: None, limit: 1 };
    if !state.store.after_sales_requests(&filter, page).await?.is_empty() {
        return Ok(());
    }
    tracing::info!("telling the demo's after-sales stories");
    let cancelled = paid_order(state, scene, scene.cheap, 1).await?;
    open(state, scene, cancel(&cancelled), Merchant::Waits).await?;
    let waiting = paid_order(state, scene, scene.dear, 4).await?;
    let four_units = refund(&waiting, scene.dear, 4, Reason::QualityIssue);
    open(state, scene, four_units, Merchant::Waits).await?;
    let refused = paid_order(state, scene, scene.dear, 4).await?;
    let damaged = refund(&refused, scene.dear, 4, Reason::ArrivedDamaged);
    open(state, scene, damaged, Merchant::Refuses).await?;
    let shipped = paid_order(state, scene, scene.cheap, 1).await?;
    ship_with_own_waybill(state, scene, shipped, OWN_WAYBILL).await?;
    let returned = paid_order(state, scene, scene.cheap, 1).await?;
    let parcel = ship_with_own_waybill(state, scene, returned.clone(), DELIVERED_WAYBILL).await?;
    report_delivered(state, scene, &parcel).await?;
    open(state, scene, no_reason_return(&returned, scene.cheap), Merchant::Waits).await?;
    for _ in 0..2 {
        paid_order(state, scene, scene.cheap, 1).await?;
    }
    Ok(())
}

fn no_reason_return(order: &Order, sku: SkuId) -> Ask {
    Ask {
        buyer: order.buyer,
        order: order.id,
        kind: RequestKind::ReturnAndRefund,
        reason: Reason::NoReason,
        lines: vec![RequestLine { sku, quantity: 1 }],
        new_address: None,
        exchange_for: vec![],
        client: None,
    }
}

/// The carrier's pickup and delivery of a parcel, as its tracking webhook reports them.
async fn report_delivered(state: &AppState, scene: &Scene, parcel: &Shipment) -> anyhow::Result<()> {
    let now = state.clock.now();
    for (n, reported) in [ShipmentState::PickedUp, ShipmentState::Delivered]
        .into_iter()
        .enumerate()
    {
        let event = TrackingEvent {
            event_id: format!("{}-{}", parcel.waybill.as_str(), n + 1),
            state: reported,
            occurred_at: now,
            location: None,
            received_at: now,
        };
        let command = RecordTracking {
            shipment: parcel.id,
            event,
        };
        state
            .shards
            .ask(scene.shop, command, None)
            .await?
            .map_err(|r| anyhow::anyhow!("the demo's tracking event was refused: {}", r.code()))?;
    }
    Ok(())
}

fn cancel(order: &Order) -> Ask {
    Ask {
        buyer: order.buyer,
        order: order.id,
        kind: RequestKind::CancelBeforeShipment,
        reason: Reason::ChangedMind,
        lines: vec![],
        new_address: None,
        exchange_for: vec![],
        client: None,
    }
}

fn refund(order: &Order, sku: SkuId, quantity: i64, reason: Reason) -> Ask {
    Ask {
        buyer: order.buyer,
        order: order.id,
        kind: RequestKind::RefundOnly,
        reason,
        lines: vec![RequestLine { sku, quantity }],
        new_address: None,
        exchange_for: vec![],
        client: None,
    }
}

/// A checkout of `quantity` units of `sku`, paid with simpay.
async fn paid_order(state: &AppState, scene: &Scene, sku: SkuId, quantity: i64) -> anyhow::Result<Order> {
    let quantity = Quantity::new(quantity).ok_or_else(|| anyhow::anyhow!("demo quantity {quantity}"))?;
    let parts = checkout::split(state, vec![OrderLineRequest { sku, quantity }]).await?;
    let request = CheckoutRequest {
        buyer: scene.buyer,
        parts,
        address: scene.address.clone(),
        deliveries: Default::default(),
        requests: None,
        // The demo's own checkouts say nothing of a device: seven in a row stay under every rule.
        client: Default::default(),
    };
    let placed = checkout::place(state, request).await?;
    let intent = payments::open_intent(state, scene.buyer, placed.checkout, false).await?;
    let pay_with = PayWith::Credential(WALLET.into());
    payments::confirm(state, scene.buyer, intent.id, pay_with, None).await?;
    placed
        .orders
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("the demo checkout placed no order"))
}

/// Opens a request as `POST /v1/after-sales` does, and lets the merchant answer it.
async fn open(state: &AppState, scene: &Scene, ask: Ask, merchant: Merchant) -> anyhow::Result<()> {
    let (shop, command) = after_sales::prepare_open(state, ask).await?;
    let saved = state
        .shards
        .ask(shop, command, None)
        .await?
        .map_err(|r| anyhow::anyhow!("the demo's request was refused: {}", r.code()))?;
    after_sales::refund_if_due(state, &saved).await;
    after_sales::book_pickup_if_due(state, &saved).await;
    if merchant == Merchant::Refuses {
        refuse(state, scene, &saved).await?;
    }
    Ok(())
}

/// The merchant's refusal, as `POST /v1/after-sales/{id}/refuse` gives it.
async fn refuse(state: &AppState, scene: &Scene, saved: &SavedRequest) -> anyhow::Result<()> {
    let refusal = RefuseRequest {
        id: saved.id,
        by: Decider::Merchant(scene.shop),
    };
    state
        .shards
        .ask(scene.shop, refusal, None)
        .await?
        .map_err(|r| anyhow::anyhow!("the demo merchant's refusal was refused: {}", r.code()))?;
    Ok(())
}

/// Hands the order's parcel over with the merchant's own waybill.
async fn ship_with_own_waybill(
    state: &AppState,
    scene: &Scene,
    order: Order,
    own_waybill: &str,
) -> anyhow::Result<Shipment> {
    let waybill = parse_waybill(own_waybill).ok_or_else(|| anyhow::anyhow!("demo waybill {own_waybill}"))?;
    // The warehouse the dispatch at payment chose (it rewrote the order's allocations).
    let dispatched = state.store.order(order.id).await?;
    let warehouse = dispatched
        .as_ref()
        .and_then(|o| o.lines.first())
        .and_then(|l| l.allocations.first())
        .map(|a| a.warehouse)
        .ok_or_else(|| anyhow::anyhow!("the demo's order {} is not dispatched", order.id))?;
    let parcel = ShipParcel {
        shop: scene.shop,
        order,
        warehouse,
        carrier: None,
        waybill: Some(waybill),
    };
    let shipment = shipments::ship(state, parcel, None)
        .await?
        .map_err(|r| anyhow::anyhow!("the demo's shipment was refused: {}", r.code()))?;
    Ok(shipment)
}
