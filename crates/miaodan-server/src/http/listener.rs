//! The accept loop: HTTP/1.1 connections served by hyper with a header read timeout and a cap
//! on open connections, stopped gracefully. (`axum::serve` takes no configuration, so the loop
//! is written here, on the same hyper and hyper-util parts it uses.)
//!
//! - A request's head must arrive within `Limits::header_read_timeout`, or hyper closes the
//!   connection without an answer; the same timer closes a keep-alive connection left idle.
//! - At most `Limits::connections_max` connections are served at once. One more is answered
//!   503 `server_busy` with `Retry-After` and closed (at most [`CONNECTION_REFUSALS_MAX`] such
//!   answers at once; beyond, the connection is closed at once without one).
//! - On stop: no new connection is accepted, idle connections close, and each busy one closes
//!   once its answer is sent.

use super::problem::ApiError;
use crate::limits::{CONNECTION_REFUSALS_MAX, Limits, RETRY_AFTER_SECONDS};
use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;

/// How long the loop rests after `accept` failed for want of resources (no file descriptor
/// left): accepting again at once would spin.
const ACCEPT_PAUSE_MS: u64 = 100;

/// Serves `router` on `listener` until `stop` completes, then waits for the open connections
/// to finish their answers.
pub async fn serve(listener: TcpListener, router: Router, limits: &Limits, stop: impl Future<Output = ()>) {
    let connections = Arc::new(Semaphore::new(limits.connections_max));
    let refusals = Arc::new(Semaphore::new(CONNECTION_REFUSALS_MAX));
    let builder = builder(limits.header_read_timeout);
    let graceful = GracefulShutdown::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    pause_after(error).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        match connections.clone().try_acquire_owned() {
            Ok(permit) => serve_one(&builder, &graceful, stream, router.clone(), permit),
            Err(_) => refuse(&builder, stream, &refusals, limits.header_read_timeout),
        }
    }
    drop(listener);
    graceful.shutdown().await;
}

fn builder(header_read_timeout: Duration) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    builder
}

/// A failed `accept` that concerns one connection (reset before it was taken) needs nothing;
/// one for want of resources is logged and waited out.
async fn pause_after(error: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(error.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        return;
    }
    tracing::warn!(%error, "could not accept a connection");
    tokio::time::sleep(Duration::from_millis(ACCEPT_PAUSE_MS)).await;
}

fn serve_one(
    builder: &http1::Builder,
    graceful: &GracefulShutdown,
    stream: TcpStream,
    router: Router,
    permit: OwnedSemaphorePermit,
) {
    // The peer's address goes with each request (`ConnectInfo`), for risk's IP prefix.
    let peer = stream.peer_addr().ok();
    let service = router.map_request(move |mut request: hyper::Request<hyper::body::Incoming>| {
        if let Some(peer) = peer {
            request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
        }
        request
    });
    let stream = TokioIo::new(super::malformed::ProblemIo::new(stream));
    let connection = builder.serve_connection(stream, TowerToHyperService::new(service));
    let connection = graceful.watch(connection);
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "connection ended with an error");
        }
        drop(permit);
    });
}

/// The answer to a connection over the cap.
pub fn server_busy(detail: &str) -> ApiError {
    let mut error = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "server_busy", detail);
    error.retry_after_seconds = Some(RETRY_AFTER_SECONDS);
    error
}

/// Reads the request of a connection over the cap and answers it 503 `server_busy`, then
/// closes it; or closes it at once when too many refusals are under way already.
fn refuse(builder: &http1::Builder, stream: TcpStream, refusals: &Arc<Semaphore>, header_read_timeout: Duration) {
    metrics::counter!("miaodan_requests_refused_total", "limit" => "connections").increment(1);
    let Ok(permit) = refusals.clone().try_acquire_owned() else {
        return;
    };
    let mut builder = builder.clone();
    builder.keep_alive(false);
    let service = hyper::service::service_fn(|_request| async {
        let busy = server_busy("the server is at its connection limit; retry shortly");
        Ok::<_, Infallible>(busy.into_response())
    });
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::spawn(async move {
        let _ = tokio::time::timeout(header_read_timeout + Duration::from_secs(1), connection).await;
        drop(permit);
    });
}
