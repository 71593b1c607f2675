//! The package center live, as Server-Sent Events: first the shop's open alerts (the current
//! state, `event: alert` each, oldest first) and `event: ready`, then every alert as it is
//! raised, escalated or resolved; a comment line (`: heartbeat`) whenever the stream has been
//! quiet for `Limits::sse_heartbeat`, so that no proxy takes it for dead. The stream ends when
//! the server stops.

use super::AlertView;
use crate::app::AppState;
use crate::auth::Merchant;
use crate::http::problem::ApiError;
use crate::sequencer::CommittedAlert;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{Stream, StreamExt};
use miaodan_domain::ShopId;
use miaodan_store::records::{AlertFilter, AlertKinds, AlertWorkFilter, Keyset};
use serde::Serialize;
use std::convert::Infallible;
use tokio::sync::broadcast::{Receiver, error::RecvError};

/// The most open alerts sent on connect (the newest, if there are more; the list has them all).
pub const SNAPSHOT_ALERTS_MAX: i64 = 500;

/// `event: ready`: the current state is sent; what follows is live.
#[derive(Serialize)]
struct Ready {
    open_alerts: usize,
}

/// The package center live: the shop's open alerts first, then every alert of the shop as it
/// is raised, escalated or resolved, as Server-Sent Events (`event: alert`, data: an alert as
/// JSON, `id`: the alert's id). `event: ready` (data `{"open_alerts": n}`) separates the
/// current state from the live part; an alert committed while the stream opens may come twice
/// (dedupe by id). A comment line every 10 s (`--sse-heartbeat-seconds`) when nothing else is
/// sent; a client that falls behind is told with `event: lagged` and should list again.
#[utoipa::path(get, path = "/v1/package-center/alerts/stream", tag = "logistics",
    responses((status = 200, description = "text/event-stream of alerts", content_type = "text/event-stream")),
    security(("bearer" = [])))]
pub async fn stream_alerts(
    State(state): State<AppState>,
    Merchant(shop): Merchant,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    // Subscribed before the state is read, so that no alert falls between the two.
    let live = state.alert_feed.subscribe();
    let current = open_alerts(&state, shop).await?;
    let ready = Event::default()
        .event("ready")
        .json_data(Ready {
            open_alerts: current.len(),
        })
        .unwrap_or_else(|_| Event::default().event("ready"));
    let first: Vec<Event> = current.iter().map(alert_event).chain([ready]).collect();
    let mut stopping = state.stopping.subscribe();
    let stopped = async move {
        let _ = stopping.wait_for(|stopping| *stopping).await;
    };
    let stream = futures::stream::iter(first)
        .chain(live_alerts(live, shop))
        .take_until(stopped)
        .map(Ok);
    let heartbeat = KeepAlive::new()
        .interval(state.config.limits.sse_heartbeat)
        .text("heartbeat");
    Ok(Sse::new(stream).keep_alive(heartbeat))
}

/// The shop's open alerts (SLA alerts and stock shortages), oldest first.
async fn open_alerts(state: &AppState, shop: ShopId) -> Result<Vec<AlertView>, ApiError> {
    let filter = AlertFilter {
        shop,
        open_only: true,
        kinds: AlertKinds::All,
        level: None,
        work: AlertWorkFilter::default(),
    };
    let newest_first = Keyset {
        after: None,
        limit: SNAPSHOT_ALERTS_MAX,
    };
    let entries = state.store.package_center(&filter, newest_first).await?;
    Ok(entries.iter().rev().map(super::alert_view).collect())
}

fn alert_event(alert: &AlertView) -> Event {
    Event::default()
        .event("alert")
        .id(alert.id.clone())
        .json_data(alert)
        .unwrap_or_else(|_| Event::default().event("error"))
}

/// The shop's alerts as they commit.
fn live_alerts(receiver: Receiver<CommittedAlert>, shop: ShopId) -> impl Stream<Item = Event> {
    futures::stream::unfold(receiver, move |mut receiver| async move {
        loop {
            match receiver.recv().await {
                Ok(alert) if alert.shop() == shop => {
                    return Some((alert_event(&AlertView::from(&alert)), receiver));
                }
                Ok(_) => continue,
                Err(RecvError::Lagged(missed)) => {
                    let event = Event::default().event("lagged").data(missed.to_string());
                    return Some((event, receiver));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    })
}
