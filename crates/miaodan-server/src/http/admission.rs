//! Admission of a request: at most `Limits::requests_in_flight_max` execute at once (one more
//! is answered 503 `server_busy` with `Retry-After`, at once, rather than queued), and each
//! carries the deadline its body must arrive by (`Limits::body_read_timeout`, read by
//! [`super::extract::RawBody`]).

use super::listener::server_busy;
use crate::limits::Limits;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// The requests in flight and the body deadline, shared by every request of a server.
#[derive(Clone, Debug)]
pub struct Admission {
    in_flight: Arc<Semaphore>,
    in_flight_max: usize,
    body_read_timeout: Duration,
}

/// The instant by which a request's body must have arrived.
#[derive(Clone, Copy, Debug)]
pub struct BodyDeadline(pub Instant);

impl Admission {
    pub fn new(limits: &Limits) -> Admission {
        Admission {
            in_flight: Arc::new(Semaphore::new(limits.requests_in_flight_max)),
            in_flight_max: limits.requests_in_flight_max,
            body_read_timeout: limits.body_read_timeout,
        }
    }

    /// How many requests are in flight now.
    pub fn in_flight(&self) -> usize {
        self.in_flight_max - self.in_flight.available_permits()
    }
}

/// Admits a request if one more may be in flight, with its body deadline; refuses it otherwise.
/// The request counts as in flight until its answer's head is ready (a live stream then runs
/// on without counting).
pub async fn admit(State(admission): State<Admission>, mut request: Request, next: Next) -> Response {
    let Ok(_in_flight) = admission.in_flight.clone().try_acquire_owned() else {
        metrics::counter!("miaodan_requests_refused_total", "limit" => "requests_in_flight").increment(1);
        return server_busy("the server is at its limit of requests in flight; retry shortly").into_response();
    };
    let deadline = Instant::now() + admission.body_read_timeout;
    request.extensions_mut().insert(BodyDeadline(deadline));
    next.run(request).await
}
