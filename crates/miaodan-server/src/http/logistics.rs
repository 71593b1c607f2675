//! Logistics over HTTP: shipments with carrier waybills, the carriers' signed tracking
//! webhook, and the package center (包裹中心): SLA rules, alerts, and their live stream.

mod alert_work;
pub mod bulk;
mod stream;

use super::extract::{JsonBody, PathIds, RawBody};
use super::fulfillment::shanghai;
use super::page::{ListQuery, NoFilter, Page, PageQuery};
use super::problem::ApiError;
use super::problem::refused;
use crate::app::AppState;
use crate::auth::{Merchant, Principal};
use crate::carriers::CarrierError;
use crate::clock;
use crate::flows::shipments::{self, ShipParcel, ShipmentError};
use crate::idempotency::{self, Reply};
use crate::sequencer::CommittedAlert;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use miaodan_domain::after_sales::commands::AfterSalesRefusal;
use miaodan_domain::fulfillment::CarrierId;
use miaodan_domain::ids::ShipmentId;
use miaodan_domain::logistics::shipment::{EventOutcome, TrackingNote, parse_waybill, valid_event_id};
use miaodan_domain::logistics::sla::{SLA_LIMIT_SECONDS_MAX, SLA_LIMIT_SECONDS_MIN, SlaRulesProblem};
use miaodan_domain::logistics::work::NOTES_PER_ALERT_MAX;
use miaodan_domain::logistics::{
    Alert, AlertLevel, AlertRule, Shipment, ShipmentState, SlaRules, StaffRef, TrackingEvent, WorkRefusal, Worker,
};
use miaodan_domain::shard::CreateShipment;
use miaodan_domain::shard::{RecordTracking, Rejection, SetSlaRules, ShortageNotice};
use miaodan_domain::{Timestamp, WarehouseId};
use miaodan_store::PackageCenterEntry;
use miaodan_store::records::{AlertFilter, AlertKinds, AlertPosition, AlertWorkFilter, Assignee, Keyset};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Logistics' routes, registered once for the router and the OpenAPI document.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_shipment, list_shipments))
        .routes(routes!(get_shipment))
        .routes(routes!(bulk::bulk_ship))
        .routes(routes!(carrier_webhook))
        .routes(routes!(get_sla_rules, put_sla_rules))
        .routes(routes!(list_alerts))
        .routes(routes!(stream::stream_alerts))
        .routes(routes!(alert_work::acknowledge_alert))
        .routes(routes!(alert_work::assign_alert))
        .routes(routes!(alert_work::note_alert))
        .routes(routes!(alert_work::resolve_alert))
}

/// How logistics' refusals are answered (the `code` is the core's [`Rejection::code`]).
pub fn refusal(rejection: &Rejection) -> ApiError {
    let code = rejection.code();
    match rejection {
        Rejection::InvalidSlaRules(problem) => {
            let (field, detail) = sla_rules_problem(*problem);
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail).field(field)
        }
        Rejection::ShipmentExists => ApiError::new(StatusCode::CONFLICT, code, "that parcel has a shipment already"),
        Rejection::WaybillInUse => {
            ApiError::new(StatusCode::CONFLICT, code, "the waybill is on another shipment").field("waybill_no")
        }
        Rejection::UnknownShipment => ApiError::not_found("shipment"),
        Rejection::AlertWork(WorkRefusal::UnknownAlert) => ApiError::not_found("alert"),
        Rejection::AlertWork(WorkRefusal::AlertResolved) => ApiError::new(
            StatusCode::CONFLICT,
            code,
            "the alert is resolved: nothing more can be done to it",
        ),
        Rejection::AlertWork(WorkRefusal::AlreadyAcknowledged) => {
            ApiError::new(StatusCode::CONFLICT, code, "the alert is acknowledged already")
        }
        Rejection::AlertWork(WorkRefusal::NotesFull) => ApiError::new(
            StatusCode::CONFLICT,
            code,
            format!("the alert has {NOTES_PER_ALERT_MAX} notes, the most it keeps"),
        ),
        // Only a carrier's webhook records tracking, and it acknowledges a refused event
        // (`refused`) rather than answer a problem; this is the answer should one be needed.
        Rejection::TrackingRefused(refusal) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "tracking_refused",
            format!("the tracking event was refused: {}", refusal.as_str()),
        ),
        other => super::problem::misrouted(other),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewShipmentInput {
    /// The warehouse the parcel leaves from (one of the order's dispatched parcels).
    #[serde(deserialize_with = "crate::http::extract::integer")]
    #[schema(schema_with = crate::http::schema::id)]
    pub warehouse_id: i64,
    /// `sf`, `jd` or `zto`; defaults to the carrier dispatch planned.
    #[schema(schema_with = crate::http::schema::optional_carrier)]
    pub carrier: Option<String>,
    /// The carrier's waybill number; when absent the (simulated) carrier issues one.
    #[schema(schema_with = crate::http::schema::optional_waybill)]
    pub waybill_no: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TrackingEventView {
    pub event_id: String,
    pub state: String,
    pub occurred_at: String,
    pub location: Option<String>,
    pub received_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ShipmentView {
    pub id: i64,
    pub order_id: i64,
    pub shop_id: i64,
    pub warehouse_id: i64,
    pub carrier: String,
    pub waybill_no: String,
    /// created, picked_up, departed, in_transit, out_for_delivery, delivered, exception, returned.
    pub state: String,
    pub created_at: String,
    pub planned_pickup_at: String,
    pub planned_delivery_by: String,
    pub promised_by: Option<String>,
    /// Our current estimate of arrival (moves with every delay).
    pub estimated_delivery: String,
    pub estimated_delivery_local: String,
    pub picked_up_at: Option<String>,
    pub departed_at: Option<String>,
    pub delivered_at: Option<String>,
    pub returned_at: Option<String>,
    pub last_movement_at: String,
    /// In event-time order, each once.
    pub events: Vec<TrackingEventView>,
}

impl ShipmentView {
    pub fn new(s: &Shipment, now: Timestamp) -> ShipmentView {
        let eta = s.estimated_delivery(now);
        ShipmentView {
            id: s.id.get(),
            order_id: s.order.get(),
            shop_id: s.shop.get(),
            warehouse_id: s.warehouse.get(),
            carrier: s.carrier.as_str().into(),
            waybill_no: s.waybill.as_str().into(),
            state: s.state.as_str().into(),
            created_at: clock::rfc3339(s.created_at),
            planned_pickup_at: clock::rfc3339(s.planned_pickup_at),
            planned_delivery_by: clock::rfc3339(s.planned_delivery_by),
            promised_by: s.promised_by.map(clock::rfc3339),
            estimated_delivery: clock::rfc3339(eta),
            estimated_delivery_local: shanghai(eta),
            picked_up_at: s.picked_up_at.map(clock::rfc3339),
            departed_at: s.departed_at.map(clock::rfc3339),
            delivered_at: s.delivered_at.map(clock::rfc3339),
            returned_at: s.returned_at.map(clock::rfc3339),
            last_movement_at: clock::rfc3339(s.last_movement_at),
            events: s
                .events
                .iter()
                .map(|e| TrackingEventView {
                    event_id: e.event_id.clone(),
                    state: e.state.as_str().into(),
                    occurred_at: clock::rfc3339(e.occurred_at),
                    location: e.location.as_ref().map(|l| l.as_str().into()),
                    received_at: clock::rfc3339(e.received_at),
                })
                .collect(),
        }
    }
}

fn render_shipment(answer: &Result<Shipment, Rejection>) -> Reply {
    match answer {
        Ok(shipment) => Reply::json(StatusCode::CREATED, &ShipmentView::new(shipment, shipment.created_at)),
        Err(rejection) => refused(rejection),
    }
}

/// Hand a parcel of a paid order to a carrier: a shipment with its waybill. The order becomes
/// `shipped` once every parcel of its dispatch has one.
#[utoipa::path(post, path = "/v1/orders/{order_id}/shipments", tag = "logistics", request_body = NewShipmentInput,
    params(("order_id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = ShipmentView), (status = 404, body = super::problem::Problem),
        (status = 409, body = super::problem::Problem), (status = 422, body = super::problem::Problem)),
    security(("bearer" = [])))]
pub async fn create_shipment(
    State(state): State<AppState>,
    Merchant(shop): Merchant,
    ids: PathIds,
    headers: HeaderMap,
    body: JsonBody<NewShipmentInput>,
) -> Response {
    let path = format!("/v1/orders/{}/shipments", ids.one());
    let request = ("POST", path.as_str(), &body.raw[..]);
    idempotency::run(&state, Principal::Merchant(shop), &headers, request, |idem| async {
        let order = super::orders::visible_order(&state, Principal::Merchant(shop), ids.one()).await?;
        let warehouse = WarehouseId::new(super::validate::positive_id(body.value.warehouse_id, "warehouse_id")?)
            .ok_or_else(|| ApiError::invalid("invalid_field", "warehouse_id", "a positive id"))?;
        let carrier = match &body.value.carrier {
            None => None,
            Some(raw) => Some(
                CarrierId::parse(raw).ok_or_else(|| ApiError::invalid("invalid_field", "carrier", "sf, jd or zto"))?,
            ),
        };
        let waybill = match &body.value.waybill_no {
            Some(raw) => Some(parse_waybill(raw).ok_or_else(|| {
                ApiError::invalid(
                    "invalid_field",
                    "waybill_no",
                    "a waybill is 6 to 40 letters, digits or '-'",
                )
            })?),
            None => None,
        };
        let parcel = ShipParcel {
            shop,
            order,
            warehouse,
            carrier,
            waybill,
        };
        let recorder = idem.map(|i| i.recorder_of::<CreateShipment>(render_shipment));
        let answer = shipments::ship(&state, parcel, recorder).await?;
        Ok(render_shipment(&answer))
    })
    .await
}

/// The shipments of an order, with their tracking, by id.
#[utoipa::path(get, path = "/v1/orders/{order_id}/shipments", tag = "logistics",
    params(("order_id" = i64, Path), PageQuery),
    responses((status = 200, body = Page<ShipmentView>), (status = 400, body = super::problem::Problem),
        (status = 404, body = super::problem::Problem)),
    security(("bearer" = [])))]
pub async fn list_shipments(
    State(state): State<AppState>,
    principal: Principal,
    ids: PathIds,
    query: ListQuery<NoFilter>,
) -> Result<Json<Page<ShipmentView>>, ApiError> {
    let order = super::orders::visible_order(&state, principal, ids.one()).await?;
    let page = query.page;
    let shipments = state
        .store
        .shipments_of_order(order.id, page.keyset("shipments")?)
        .await?;
    let now = state.clock.now();
    Ok(Json(page.page(
        "shipments",
        shipments,
        |s| s.id.get(),
        |s| ShipmentView::new(s, now),
    )))
}

/// One shipment, with its tracking (the merchant's own, an admin's, or the buyer's order's).
#[utoipa::path(get, path = "/v1/shipments/{shipment_id}", tag = "logistics",
    params(("shipment_id" = i64, Path)),
    responses((status = 200, body = ShipmentView), (status = 404, body = super::problem::Problem)),
    security(("bearer" = [])))]
pub async fn get_shipment(
    State(state): State<AppState>,
    principal: Principal,
    ids: PathIds,
) -> Result<Json<ShipmentView>, ApiError> {
    let id = ShipmentId::new(ids.one()).ok_or_else(|| ApiError::not_found("shipment"))?;
    let shipment = state
        .store
        .shipment(id)
        .await?
        .ok_or_else(|| ApiError::not_found("shipment"))?;
    super::orders::visible_order(&state, principal, shipment.order.get())
        .await
        .map_err(|_| ApiError::not_found("shipment"))?;
    Ok(Json(ShipmentView::new(&shipment, state.clock.now())))
}

/// What a carrier sends for one tracking event.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CarrierNotification {
    pub carrier: String,
    pub waybill_no: String,
    pub event_id: String,
    pub state: String,
    /// RFC 3339.
    pub occurred_at: String,
    pub location: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CarrierAck {
    /// applied, late_applied, duplicate, unknown_waybill, closed (the order was delivered, or the
    /// return's request closed), refused.
    pub status: String,
}

fn ack(status: &str) -> Response {
    metrics::counter!("miaodan_carrier_notifications_total", "outcome" => status.to_string()).increment(1);
    Json(CarrierAck { status: status.into() }).into_response()
}

/// A carrier's tracking event, signed (`Carrier-Signature: t=…,v1=hex(HMAC-SHA256(secret,
/// "t.body"))`, 5 minutes' tolerance). Events may come twice or out of order: each is applied
/// once, in event-time order. Acknowledged with what became of it; only a failure to apply
/// it now is answered 503, so the carrier delivers it again. A return waybill the platform
/// booked for an after-sales return comes here too and moves its request (the first scan:
/// `return_in_transit`, and the flash-refund rules; the delivered scan: `received`).
#[utoipa::path(post, path = "/v1/webhooks/carriers", tag = "logistics", request_body = CarrierNotification,
    params(("Carrier-Signature" = String, Header)),
    responses((status = 200, body = CarrierAck), (status = 401, body = super::problem::Problem),
        (status = 422, body = super::problem::Problem)))]
pub async fn carrier_webhook(State(state): State<AppState>, headers: HeaderMap, RawBody(body): RawBody) -> Response {
    let now = state.clock.now();
    if let Err(code) = state.carriers.verify(carrier_signature(&headers), &body) {
        metrics::counter!("miaodan_carrier_notifications_total", "outcome" => code).increment(1);
        tracing::warn!(code, "refused a carrier notification");
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            code,
            "the notification's signature does not verify",
        )
        .into_response();
    }
    let malformed = |detail: &str| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "malformed_notification",
            detail.to_string(),
        )
        .into_response()
    };
    let Ok(notification) = serde_json::from_slice::<CarrierNotification>(&body) else {
        return malformed("the body is not a carrier notification");
    };
    let Some(carrier_id) = CarrierId::parse(&notification.carrier) else {
        return malformed("unknown carrier");
    };
    let (Some(state_reported), Some(occurred_at)) = (
        ShipmentState::parse(&notification.state),
        clock::parse_rfc3339(&notification.occurred_at),
    ) else {
        return malformed("state or occurred_at is not valid");
    };
    if !valid_event_id(&notification.event_id) {
        return malformed("event_id is not 1 to 64 visible ASCII characters");
    }
    let location = notification
        .location
        .as_deref()
        .and_then(|l| TrackingNote::parse(l).ok());
    let event = TrackingEvent {
        event_id: notification.event_id,
        state: state_reported,
        occurred_at,
        location,
        received_at: now,
    };
    let shipment = match state
        .store
        .shipment_by_waybill(carrier_id, &notification.waybill_no)
        .await
    {
        Ok(Some(shipment)) => shipment,
        Ok(None) => return return_parcel_event(&state, carrier_id, &notification.waybill_no, event).await,
        Err(error) => return ApiError::from(error).into_response(),
    };
    let command = RecordTracking {
        shipment: shipment.id,
        event,
    };
    match state.shards.ask(shipment.shop, command, None).await {
        Ok(Ok(tracked)) => ack(applied_status(tracked.applied)),
        Ok(Err(Rejection::UnknownShipment)) => ack("closed"),
        Ok(Err(rejection)) => {
            tracing::warn!(code = rejection.code(), "refused a tracking event");
            ack("refused")
        }
        Err(error) => ApiError::from(error).into_response(),
    }
}

fn applied_status(applied: EventOutcome) -> &'static str {
    match applied {
        EventOutcome::Applied => "applied",
        EventOutcome::LateApplied => "late_applied",
        EventOutcome::Duplicate => "duplicate",
    }
}

/// An event of a return waybill the platform booked for an after-sales return: the same signed
/// webhook, applied to the request's parcel (`closed` once the request is closed).
async fn return_parcel_event(state: &AppState, carrier: CarrierId, waybill: &str, event: TrackingEvent) -> Response {
    let saved = match state.store.after_sales_by_return_waybill(carrier, waybill).await {
        Ok(Some(saved)) => saved,
        Ok(None) => return ack("unknown_waybill"),
        Err(error) => return ApiError::from(error).into_response(),
    };
    match crate::flows::after_sales::track_return(state, &saved, event).await {
        Ok(Ok(tracked)) => ack(applied_status(tracked.applied)),
        Ok(Err(Rejection::AfterSales(AfterSalesRefusal::UnknownRequest))) => ack("closed"),
        Ok(Err(rejection)) => {
            tracing::warn!(code = rejection.code(), "refused a return tracking event");
            ack("refused")
        }
        Err(error) => ApiError::from(error).into_response(),
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlaRulesView {
    /// Alert when the carrier has not picked a parcel up this long after its shipment was created.
    #[serde(deserialize_with = "crate::http::extract::integer")]
    #[schema(schema_with = crate::http::schema::integer::<60, 2_592_000>)]
    pub not_picked_up_within_s: i64,
    /// …picked up but not departed the origin this long after pickup.
    #[serde(deserialize_with = "crate::http::extract::integer")]
    #[schema(schema_with = crate::http::schema::integer::<60, 2_592_000>)]
    pub not_departed_within_s: i64,
    /// …no tracking movement for this long once picked up.
    #[serde(deserialize_with = "crate::http::extract::integer")]
    #[schema(schema_with = crate::http::schema::integer::<60, 2_592_000>)]
    pub stalled_after_s: i64,
    /// Warn ("about to time out") at this share of each allowed time (1–99).
    #[serde(deserialize_with = "crate::http::extract::integer")]
    #[schema(schema_with = crate::http::schema::integer::<1, 99>)]
    pub warn_at_percent: i64,
}

impl From<SlaRules> for SlaRulesView {
    fn from(r: SlaRules) -> SlaRulesView {
        SlaRulesView {
            not_picked_up_within_s: r.not_picked_up_within_s,
            not_departed_within_s: r.not_departed_within_s,
            stalled_after_s: r.stalled_after_s,
            warn_at_percent: i64::from(r.warn_at_percent),
        }
    }
}

/// The shop's package-center SLA rules (defaults: 24 h, 12 h, 24 h, warn at 80 %).
#[utoipa::path(get, path = "/v1/package-center/sla-rules", tag = "logistics",
    responses((status = 200, body = SlaRulesView)), security(("bearer" = [])))]
pub async fn get_sla_rules(
    State(state): State<AppState>,
    Merchant(shop): Merchant,
) -> Result<Json<SlaRulesView>, ApiError> {
    let rules = state.shards.read(shop, move |shard, _| shard.sla_rules(shop)).await?;
    Ok(Json(rules.into()))
}

fn render_rules(answer: &Result<SlaRules, Rejection>) -> Reply {
    match answer {
        Ok(rules) => Reply::json(StatusCode::OK, &SlaRulesView::from(*rules)),
        Err(rejection) => refused(rejection),
    }
}

/// Set the shop's SLA rules; every parcel on its way is checked against them at once.
#[utoipa::path(put, path = "/v1/package-center/sla-rules", tag = "logistics", request_body = SlaRulesView,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = SlaRulesView), (status = 422, body = super::problem::Problem)),
    security(("bearer" = [])))]
pub async fn put_sla_rules(
    State(state): State<AppState>,
    Merchant(shop): Merchant,
    headers: HeaderMap,
    body: JsonBody<SlaRulesView>,
) -> Response {
    let request = ("PUT", "/v1/package-center/sla-rules", &body.raw[..]);
    idempotency::run(&state, Principal::Merchant(shop), &headers, request, |idem| async {
        let rules = SlaRules {
            not_picked_up_within_s: body.value.not_picked_up_within_s,
            not_departed_within_s: body.value.not_departed_within_s,
            stalled_after_s: body.value.stalled_after_s,
            // Out of u8's range is out of the rule's range too: the core refuses it.
            warn_at_percent: u8::try_from(body.value.warn_at_percent).unwrap_or(u8::MAX),
        };
        idempotency::ask(&state, shop, SetSlaRules { shop, rules }, idem, render_rules).await
    })
    .await
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AlertView {
    /// Stable id, e.g. `12-stalled-1` (shipment, rule, occurrence) or `order-7-shortage-3`.
    pub id: String,
    /// not_picked_up, not_departed, stalled, promise_at_risk, stock_shortage.
    pub rule: String,
    /// warning (about to time out), timed_out.
    pub level: String,
    pub open: bool,
    pub shop_id: i64,
    pub order_id: i64,
    pub shipment_id: Option<i64>,
    pub raised_at: String,
    pub escalated_at: Option<String>,
    pub resolved_at: Option<String>,
    pub deadline: Option<String>,
    /// Whether the buyer is told too (a promise that is being missed).
    pub notify_buyer: bool,
    pub detail: String,
    /// When someone acknowledged it, and who.
    pub acknowledged_at: Option<String>,
    pub acknowledged_by: Option<WorkerView>,
    /// The staff id it is assigned to.
    pub assignee: Option<i64>,
    /// Oldest first, append-only.
    pub notes: Vec<AlertNoteView>,
    /// Who resolved it: `rule` (the rules saw the condition end) or a person.
    pub resolved_by: Option<WorkerView>,
    /// A person's reason for resolving it.
    pub resolution_note: Option<String>,
}

/// Who did something to an alert.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WorkerView {
    /// rule (the package center's rules), shop_token (a program with the shop's token),
    /// platform_admin, staff (a signed-in staff member: `staff_id`).
    pub kind: String,
    pub staff_id: Option<i64>,
}

impl WorkerView {
    fn rule() -> WorkerView {
        WorkerView {
            kind: "rule".into(),
            staff_id: None,
        }
    }
}

impl From<Worker> for WorkerView {
    fn from(worker: Worker) -> WorkerView {
        let (kind, staff_id) = match worker {
            Worker::ShopToken => ("shop_token", None),
            Worker::PlatformAdmin => ("platform_admin", None),
            Worker::Staff(staff) => ("staff", Some(staff.get())),
        };
        WorkerView {
            kind: kind.into(),
            staff_id,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AlertNoteView {
    pub at: String,
    pub by: WorkerView,
    pub text: String,
}

impl From<&Alert> for AlertView {
    fn from(a: &Alert) -> AlertView {
        let detail = match a.rule {
            AlertRule::NotPickedUp => "the carrier has not picked the parcel up",
            AlertRule::NotDeparted => "the parcel was picked up but has not left the origin",
            AlertRule::Stalled => "no tracking movement",
            AlertRule::PromiseAtRisk => "the estimated delivery is after the promised time",
        };
        let w = &a.work;
        AlertView {
            id: a.key.to_string(),
            rule: a.rule.as_str().into(),
            level: a.level.as_str().into(),
            open: a.is_open(),
            shop_id: a.shop.get(),
            order_id: a.order.get(),
            shipment_id: Some(a.shipment.get()),
            raised_at: clock::rfc3339(a.raised_at),
            escalated_at: a.escalated_at.map(clock::rfc3339),
            resolved_at: a.resolved_at.map(clock::rfc3339),
            deadline: Some(clock::rfc3339(a.deadline)),
            notify_buyer: a.notify_buyer,
            detail: format!("{detail} (deadline {})", shanghai(a.deadline)),
            acknowledged_at: w.acknowledged.as_ref().map(|ack| clock::rfc3339(ack.at)),
            acknowledged_by: w.acknowledged.as_ref().map(|ack| ack.by.into()),
            assignee: w.assignee.map(StaffRef::get),
            notes: w
                .notes
                .iter()
                .map(|n| AlertNoteView {
                    at: clock::rfc3339(n.at),
                    by: n.by.into(),
                    text: n.text.as_str().into(),
                })
                .collect(),
            resolved_by: match (&w.resolution, a.resolved_at) {
                (Some(resolution), _) => Some(resolution.by.into()),
                (None, Some(_)) => Some(WorkerView::rule()),
                (None, None) => None,
            },
            resolution_note: w.resolution.as_ref().map(|r| r.note.as_str().into()),
        }
    }
}

impl From<&CommittedAlert> for AlertView {
    fn from(alert: &CommittedAlert) -> AlertView {
        match alert {
            CommittedAlert::Sla(alert) => AlertView::from(alert),
            CommittedAlert::Shortage(notice) => AlertView::from(notice),
        }
    }
}

impl From<&ShortageNotice> for AlertView {
    fn from(n: &ShortageNotice) -> AlertView {
        let detail = if n.redispatched_to.is_empty() {
            format!(
                "warehouse {} came up short of SKU {}; no other warehouse can take the parcel: restock or refund",
                n.warehouse, n.sku
            )
        } else {
            let to: Vec<String> = n.redispatched_to.iter().map(|w| w.to_string()).collect();
            format!(
                "warehouse {} came up short of SKU {}; the parcel was re-dispatched to warehouse {}",
                n.warehouse,
                n.sku,
                to.join(", ")
            )
        };
        AlertView {
            id: format!("order-{}-shortage-{}", n.order, n.at.unix_ms()),
            rule: "stock_shortage".into(),
            level: miaodan_store::shortage_level(n).as_str().into(),
            open: n.redispatched_to.is_empty(),
            shop_id: n.shop.get(),
            order_id: n.order.get(),
            shipment_id: None,
            raised_at: clock::rfc3339(n.at),
            escalated_at: None,
            resolved_at: (!n.redispatched_to.is_empty()).then(|| clock::rfc3339(n.at)),
            deadline: None,
            notify_buyer: false,
            detail,
            acknowledged_at: None,
            acknowledged_by: None,
            assignee: None,
            notes: Vec::new(),
            resolved_by: (!n.redispatched_to.is_empty()).then(WorkerView::rule),
            resolution_note: None,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AlertQuery {
    /// `open` (default) or `all`.
    #[param(schema_with = crate::http::schema::optional_alert_state)]
    pub state: Option<String>,
    /// Only this rule.
    #[param(schema_with = crate::http::schema::optional_alert_rule)]
    pub rule: Option<String>,
    /// Only this level (severity): `warning` or `timed_out`.
    #[param(schema_with = crate::http::schema::optional_alert_level)]
    pub level: Option<String>,
    /// Only alerts assigned to this staff id, or `none` for unassigned ones (SLA alerts only).
    #[param(schema_with = crate::http::schema::optional_alert_assignee)]
    pub assignee: Option<String>,
    /// Only acknowledged (`true`) or unacknowledged (`false`) alerts (SLA alerts only).
    #[param(schema_with = crate::http::schema::optional_acknowledged)]
    pub acknowledged: Option<String>,
}

/// The work filters of a listing: `assignee` and `acknowledged`.
fn work_filter(query: &AlertQuery) -> Result<AlertWorkFilter, ApiError> {
    let assignee = match query.assignee.as_deref() {
        None => None,
        Some("none") => Some(Assignee::Nobody),
        Some(raw) => Some(Assignee::Staff(
            raw.parse::<i64>()
                .ok()
                .and_then(StaffRef::new)
                .ok_or_else(|| ApiError::invalid("invalid_field", "assignee", "none or a staff id"))?,
        )),
    };
    let acknowledged = match query.acknowledged.as_deref() {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return Err(ApiError::invalid("invalid_field", "acknowledged", "true or false")),
    };
    Ok(AlertWorkFilter { assignee, acknowledged })
}

/// Where a page of the package center ends: an SLA alert's (raised at, key) or a shortage
/// notice's (noticed at, order, warehouse, SKU).
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum AlertCursor {
    Sla(i64, String),
    Shortage(i64, i64, i64, i64),
}

impl From<AlertCursor> for AlertPosition {
    fn from(cursor: AlertCursor) -> AlertPosition {
        match cursor {
            AlertCursor::Sla(at, key) => AlertPosition::Sla {
                at: Timestamp::from_unix_ms(at),
                key,
            },
            AlertCursor::Shortage(at, order, warehouse, sku) => AlertPosition::Shortage {
                at: Timestamp::from_unix_ms(at),
                order,
                warehouse,
                sku,
            },
        }
    }
}

fn alert_cursor(entry: &PackageCenterEntry) -> AlertCursor {
    match entry.position() {
        AlertPosition::Sla { at, key } => AlertCursor::Sla(at.unix_ms(), key),
        AlertPosition::Shortage {
            at,
            order,
            warehouse,
            sku,
        } => AlertCursor::Shortage(at.unix_ms(), order, warehouse, sku),
    }
}

fn alert_view(entry: &PackageCenterEntry) -> AlertView {
    match entry {
        PackageCenterEntry::Sla(alert) => AlertView::from(alert),
        PackageCenterEntry::Shortage(notice) => AlertView::from(notice),
    }
}

/// The package center: the shop's alerts and shortage notices, newest first; narrowed by
/// state, rule, level, assignee and acknowledgement (the last two list SLA alerts only).
#[utoipa::path(get, path = "/v1/package-center/alerts", tag = "logistics", params(AlertQuery, PageQuery),
    responses((status = 200, body = Page<AlertView>), (status = 400, body = super::problem::Problem),
        (status = 422, body = super::problem::Problem)),
    security(("bearer" = [])))]
pub async fn list_alerts(
    State(state): State<AppState>,
    Merchant(shop): Merchant,
    ListQuery { page, filter: query }: ListQuery<AlertQuery>,
) -> Result<Json<Page<AlertView>>, ApiError> {
    let open_only = match query.state.as_deref() {
        None | Some("open") => true,
        Some("all") => false,
        Some(_) => return Err(ApiError::invalid("invalid_field", "state", "open or all")),
    };
    let kinds = match query.rule.as_deref() {
        None => AlertKinds::All,
        Some("stock_shortage") => AlertKinds::Shortages,
        Some(rule) => AlertKinds::Sla(AlertRule::parse(rule).ok_or_else(|| {
            ApiError::invalid(
                "invalid_field",
                "rule",
                "not_picked_up, not_departed, stalled, promise_at_risk or stock_shortage",
            )
        })?),
    };
    let level = match query.level.as_deref() {
        None => None,
        Some(raw) => Some(
            AlertLevel::parse(raw)
                .ok_or_else(|| ApiError::invalid("invalid_field", "level", "warning or timed_out"))?,
        ),
    };
    let work = work_filter(&query)?;
    let Keyset { after, limit } = page.keyset::<AlertCursor>("alerts")?;
    let keyset = Keyset {
        after: after.map(AlertPosition::from),
        limit,
    };
    let filter = AlertFilter {
        shop,
        open_only,
        kinds,
        level,
        work,
    };
    let entries = state.store.package_center(&filter, keyset).await?;
    Ok(Json(page.page("alerts", entries, alert_cursor, alert_view)))
}

/// The field an SLA rules problem is about, and the rule in words.
fn sla_rules_problem(problem: SlaRulesProblem) -> (&'static str, String) {
    let field = match problem {
        SlaRulesProblem::NotPickedUpWithin => "not_picked_up_within_s",
        SlaRulesProblem::NotDepartedWithin => "not_departed_within_s",
        SlaRulesProblem::StalledAfter => "stalled_after_s",
        SlaRulesProblem::WarnAtPercent => return ("warn_at_percent", "`warn_at_percent` must be 1 to 99".into()),
    };
    let detail = format!(
        "`{field}` must be {SLA_LIMIT_SECONDS_MIN} s to {} days",
        SLA_LIMIT_SECONDS_MAX / 86_400
    );
    (field, detail)
}

/// A carrier that issued no waybill: 503, worth a retry with the same Idempotency-Key.
impl From<CarrierError> for ApiError {
    fn from(error: CarrierError) -> ApiError {
        match error {
            CarrierError::Refused(_) => ApiError::unavailable("the carrier could not issue a waybill; retry"),
            CarrierError::Timeout => ApiError::unavailable("the carrier did not answer in time; retry"),
        }
    }
}

/// The shipment flow's failure as problem+json, once.
impl From<ShipmentError> for ApiError {
    fn from(error: ShipmentError) -> ApiError {
        match error {
            ShipmentError::NoParcelAtWarehouse => ApiError::new(
                StatusCode::CONFLICT,
                "no_parcel_at_warehouse",
                "the order sends no parcel from that warehouse (see GET /v1/orders/{id}/dispatch)",
            )
            .field("warehouse_id"),
            ShipmentError::Store(error) => ApiError::from(error),
            ShipmentError::Carrier(error) => ApiError::from(error),
            ShipmentError::UnusableWaybill => ApiError::unavailable("the carrier issued an unusable waybill"),
            ShipmentError::Shard(error) => ApiError::from(error),
        }
    }
}

/// The raw value of the carrier's signature header, if the request had one.
fn carrier_signature(headers: &HeaderMap) -> Option<&[u8]> {
    headers.get(simcarrier::SIGNATURE_HEADER).map(|v| v.as_bytes())
}
