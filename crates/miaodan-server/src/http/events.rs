//! `GET /v1/events`: the outbox as a feed for programs — every committed change of a shop as
//! an event (`order.paid`, `shipment.delivered`, `after_sales.refunded`, …), oldest first.
//!
//! A merchant reads their shop's events; an operator everyone's, or one shop's. Events are
//! numbered per shard; a cursor keeps the position in each shard's sequence, so a page never
//! skips an event committed late in another shard. Pages follow every list's convention
//! (`next_cursor` is `null` on the last page); to follow the feed, a program keeps the
//! `cursor` of the last event it handled — the position just after it — and polls with it to
//! get only what was committed since. Events are kept for the server's outbox retention
//! (7 days by default).

use super::page::{ListQuery, Page, PageQuery, PageRequest, invalid_cursor};
use super::problem::{ApiError, Problem};
use crate::app::AppState;
use crate::auth::Principal;
use crate::clock::rfc3339;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use miaodan_domain::ShopId;
use miaodan_domain::events::{Family, Topic};
use miaodan_store::{EventFilter, StoredEvent, TopicFilter};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

const LIST: &str = "events";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_events))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Only this family's events (`order`) or this topic's (`order.paid`).
    #[param(schema_with = crate::http::schema::event_topic)]
    pub topic: Option<String>,
    /// Operators only: one shop's events.
    #[param(schema_with = crate::http::schema::id)]
    pub shop_id: Option<i64>,
}

/// One committed change.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    /// The shard whose sequence numbers the event.
    pub shard: u32,
    /// Its place in the shard's sequence: 1, 2, 3, … in commit order.
    pub seq: i64,
    /// When the batch that made it was decided (RFC 3339, UTC).
    pub at: String,
    pub shop_id: i64,
    /// `family.action`: what happened (e.g. `order.paid`).
    pub topic: String,
    /// The id of the object it happened to (the order, the shipment, the request, …).
    pub subject_id: i64,
    /// What a reader needs of the object, by family (an order's lines, total and region; a
    /// stock row's levels; a refund's amount).
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    /// The position just after this event: pass it as `cursor` to read what followed it.
    #[schema(schema_with = crate::http::schema::cursor)]
    pub cursor: String,
}

impl EventView {
    fn of(e: &StoredEvent, cursor: String) -> EventView {
        EventView {
            shard: e.shard,
            seq: e.seq,
            at: rfc3339(e.at),
            shop_id: e.shop.get(),
            topic: e.topic.clone(),
            subject_id: e.subject,
            data: serde_json::from_str(&e.body).unwrap_or(serde_json::Value::Null),
            cursor,
        }
    }
}

/// The operator's or merchant's view of the feed, oldest first.
#[utoipa::path(get, path = "/v1/events", tag = "events", params(EventsQuery, PageQuery),
    responses((status = 200, body = Page<EventView>), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn list_events(
    State(state): State<AppState>,
    principal: Principal,
    ListQuery { page, filter: query }: ListQuery<EventsQuery>,
) -> Result<Json<Page<EventView>>, ApiError> {
    let filter = EventFilter {
        shop: shop_filter(principal, query.shop_id)?,
        topic: query.topic.as_deref().map(parse_topic).transpose()?,
    };
    let positions = positions(&page)?;
    let mut streams = Vec::new();
    for (shard, _) in state.store.outbox_heads().await? {
        let after = positions.get(&shard).copied().unwrap_or(0);
        let rows = state.store.events_after(shard, after, &filter, page.fetch()).await?;
        streams.push(VecDeque::from(rows));
    }
    let (events, more) = merge(streams, page.limit());
    let mut position = positions;
    let items: Vec<EventView> = events
        .iter()
        .map(|event| {
            position.insert(event.shard, event.seq);
            let after = position.iter().map(|(s, q)| (*s, *q)).collect::<Vec<_>>();
            EventView::of(event, super::page::cursor(LIST, &after))
        })
        .collect();
    let next_cursor = if more {
        items.last().map(|e| e.cursor.clone())
    } else {
        None
    };
    Ok(Json(Page { items, next_cursor }))
}

fn shop_filter(principal: Principal, asked: Option<i64>) -> Result<Option<ShopId>, ApiError> {
    let asked = asked
        .map(|raw| ShopId::new(raw).ok_or_else(|| ApiError::invalid("invalid_field", "shop_id", "a shop id")))
        .transpose()?;
    match principal {
        Principal::Admin => Ok(asked),
        Principal::Merchant(shop) if asked.is_none_or(|a| a == shop) => Ok(Some(shop)),
        Principal::Merchant(_) => Err(ApiError::not_found("shop")),
        Principal::Buyer(_) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the event feed is for merchants and operators",
        )),
    }
}

fn parse_topic(raw: &str) -> Result<TopicFilter, ApiError> {
    if let Some(family) = Family::ALL.into_iter().find(|f| f.as_str() == raw) {
        return Ok(TopicFilter::Family(family.as_str()));
    }
    if Topic::all().iter().any(|t| t.to_string() == raw) {
        return Ok(TopicFilter::Exact(raw.to_string()));
    }
    Err(ApiError::invalid(
        "invalid_field",
        "topic",
        "not an event family (`order`) or topic (`order.paid`); GET /openapi.json lists them",
    ))
}

/// Where the cursor left each shard's sequence.
fn positions(page: &PageRequest) -> Result<BTreeMap<u32, i64>, ApiError> {
    let after: Vec<(u32, i64)> = page.after(LIST)?.unwrap_or_default();
    if after.iter().any(|(_, seq)| *seq < 0) {
        return Err(invalid_cursor());
    }
    Ok(after.into_iter().collect())
}

/// The oldest `limit` events of the shards' streams (each in its sequence's order), taking
/// from each stream only a prefix, so a shard's position after the page is its last event
/// taken; and whether events remain.
fn merge(mut streams: Vec<VecDeque<StoredEvent>>, limit: i64) -> (Vec<StoredEvent>, bool) {
    let mut taken = Vec::new();
    while (taken.len() as i64) < limit {
        let next = streams
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.front().map(|e| (e.at, e.shard, i)))
            .min();
        let Some((_, _, i)) = next else { break };
        taken.extend(streams[i].pop_front());
    }
    let more = streams.iter().any(|s| !s.is_empty());
    (taken, more)
}
