//! `GET /v1/compass/stream`: a shop's figures of the current minute and the minute before, as
//! Server-Sent Events, sent whenever they change — within a second of the commit that changed
//! them, as the compass reader (every 250 ms) folds it and raises its signal. A merchant
//! watches their shop; an operator one shop (`shop_id`) or every shop summed.

use super::compass::{BucketView, shop_of};
use super::extract::QueryParams;
use super::problem::{ApiError, Problem};
use crate::app::AppState;
use crate::auth::Principal;
use crate::clock::rfc3339;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use miaodan_domain::{ShopId, Timestamp};
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::time::Duration;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

const MINUTE_MS: i64 = 60_000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(compass_stream))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CompassStreamQuery {
    /// Operators only: one shop's figures (else every shop's, summed).
    #[param(schema_with = crate::http::schema::id)]
    pub shop_id: Option<i64>,
    /// `true`: send the current figures, then end the stream.
    #[param(schema_with = crate::http::schema::stream_once)]
    pub once: Option<String>,
}

/// `event: minutes`: the minute before and the current one (a minute with nothing in it
/// is absent), oldest first.
#[derive(Debug, Serialize, ToSchema, PartialEq)]
pub struct LiveMinutesView {
    pub minutes: Vec<BucketView>,
    /// When the figures were read (RFC 3339).
    pub as_of: String,
}

/// The shop's figures per minute as they change: `event: minutes` at once, then whenever the
/// current or the previous minute changes (at most 4 a second); a comment line every 10 s
/// (`--sse-heartbeat-seconds`) when nothing else is sent. `once=true` ends the stream after
/// the first event. The stream ends when the server stops.
#[utoipa::path(get, path = "/v1/compass/stream", tag = "compass", params(CompassStreamQuery),
    responses((status = 200, description = "text/event-stream of the current minutes (`event: minutes`)", content_type = "text/event-stream"),
        (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn compass_stream(
    State(state): State<AppState>,
    principal: Principal,
    QueryParams(query): QueryParams<CompassStreamQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let shop = shop_of(principal, query.shop_id)?;
    let once = super::flash_sales::live::StreamQuery { once: query.once }.once()?;
    let changes = state.compass_live.subscribe();
    let first = minutes(&state, shop).await?;
    let heartbeat = KeepAlive::new()
        .interval(state.config.limits.sse_heartbeat)
        .text("heartbeat");
    let views = minute_views(state.clone(), shop, changes, first);
    let views = if once { views.take(1).boxed() } else { views.boxed() };
    Ok(Sse::new(until_stopping(&state, views)).keep_alive(heartbeat))
}

/// Ends a live stream when the server begins to stop.
pub fn until_stopping(
    state: &AppState,
    events: BoxStream<'static, Event>,
) -> impl Stream<Item = Result<Event, Infallible>> + use<> {
    let mut stopping = state.stopping.subscribe();
    let stopped = async move {
        let _ = stopping.wait_for(|stopping| *stopping).await;
    };
    events.take_until(stopped).map(Ok)
}

async fn minutes(state: &AppState, shop: Option<ShopId>) -> Result<LiveMinutesView, ApiError> {
    let now = state.clock.now().unix_ms();
    let current = now - now.rem_euclid(MINUTE_MS);
    let from = Timestamp::from_unix_ms(current - MINUTE_MS);
    let to = Timestamp::from_unix_ms(current + MINUTE_MS);
    let rows = state.store.compass_series(shop, from, to, MINUTE_MS).await?;
    Ok(LiveMinutesView {
        minutes: rows
            .iter()
            .map(|(start, figures)| BucketView {
                start: rfc3339(*start),
                figures: figures.into(),
            })
            .collect(),
        as_of: rfc3339(Timestamp::from_unix_ms(now)),
    })
}

fn minutes_event(view: &LiveMinutesView) -> Event {
    Event::default()
        .event("minutes")
        .json_data(view)
        .unwrap_or_else(|_| Event::default().event("error"))
}

/// The first figures, then the figures each time the compass changed them.
fn minute_views(
    state: AppState,
    shop: Option<ShopId>,
    changes: tokio::sync::watch::Receiver<u64>,
    first: LiveMinutesView,
) -> impl Stream<Item = Event> {
    let gap = Duration::from_millis(1000 / super::flash_sales::live::STREAM_UPDATES_PER_SECOND_MAX);
    let start = (state, changes, None::<Vec<BucketView>>, Some(first));
    futures::stream::unfold(start, move |(state, mut changes, last, first)| async move {
        if let Some(first) = first {
            let event = minutes_event(&first);
            return Some((event, (state, changes, Some(first.minutes), None)));
        }
        let last = last?;
        loop {
            tokio::time::sleep(gap).await;
            changes.changed().await.ok()?;
            let Ok(view) = minutes(&state, shop).await else {
                continue;
            };
            if view.minutes != last {
                let event = minutes_event(&view);
                return Some((event, (state, changes, Some(view.minutes), None)));
            }
        }
    })
}
