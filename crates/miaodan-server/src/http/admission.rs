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
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// The requests in flight and the body deadline, shared by every request of a server.
#[derive(Clone, Debug)]
pub struct Admission {
    in_flight: Arc<Semaphore>,
    in_flight_max: usize,
    body_read_timeout: Duration,
    earlier: Arc<Earlier>,
}

/// The requests in flight by generation: a request counts in its generation's bucket until its
/// answer's head is ready; [`Admission::wait_for_earlier`] starts a new generation and waits for
/// every other bucket to empty (requests of earlier generations, those a wait that ran out of
/// patience left behind too; a ring of [`GENERATIONS`], so one left behind through as many waits
/// is no longer waited for). No lock on the request path.
#[derive(Debug, Default)]
struct Earlier {
    generation: AtomicU64,
    counts: [AtomicUsize; GENERATIONS],
    /// One wait at a time: a second would start a generation while the first still waits.
    turn: tokio::sync::Mutex<()>,
}

const GENERATIONS: usize = 8;

/// A request counted in its generation until dropped.
struct Counted(Arc<Earlier>, usize);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.counts[self.1].fetch_sub(1, Ordering::SeqCst);
    }
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
            earlier: Arc::default(),
        }
    }

    /// Counts a request in the generation of now, until dropped.
    fn counted(&self) -> Counted {
        let bucket = (self.earlier.generation.load(Ordering::SeqCst) % GENERATIONS as u64) as usize;
        self.earlier.counts[bucket].fetch_add(1, Ordering::SeqCst);
        Counted(self.earlier.clone(), bucket)
    }

    /// Waits until every request admitted before now has its answer (stored, for a keyed one),
    /// or `patience` passed (false). A shard given back waits so: a request decided across
    /// shards that this member's holding of the shard let through stores its answer before the
    /// next holder learns the stored keys.
    pub async fn wait_for_earlier(&self, patience: Duration) -> bool {
        let earlier = &self.earlier;
        let _turn = earlier.turn.lock().await;
        let now = ((earlier.generation.fetch_add(1, Ordering::SeqCst) + 1) % GENERATIONS as u64) as usize;
        let until = Instant::now() + patience;
        let in_flight = |(bucket, count): (usize, &AtomicUsize)| bucket != now && count.load(Ordering::SeqCst) > 0;
        while earlier.counts.iter().enumerate().any(in_flight) {
            if Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        true
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
    let _counted = admission.counted();
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A wait for the earlier requests waits for those admitted before it, not for later ones.
    #[tokio::test]
    async fn a_wait_for_earlier_requests_ends_with_them_and_not_with_later_ones() {
        let admission = Admission::new(&Limits::default());
        let early = admission.counted();
        let waiting = {
            let admission = admission.clone();
            tokio::spawn(async move { admission.wait_for_earlier(Duration::from_secs(10)).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "a request admitted before is in flight");
        let late = admission.counted();
        drop(early);
        assert!(waiting.await.expect("the wait ran"), "the earlier request ended");
        assert!(
            !admission.wait_for_earlier(Duration::from_millis(50)).await,
            "the later request is earlier than this wait, and still in flight"
        );
        // One that ran out of patience leaves `late` behind: the next wait still waits for it.
        assert!(!admission.wait_for_earlier(Duration::from_millis(50)).await);
        drop(late);
        let waiting = {
            let admission = admission.clone();
            tokio::spawn(async move { admission.wait_for_earlier(Duration::from_secs(10)).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let latest = admission.counted();
        assert!(
            waiting.await.expect("the wait ran"),
            "every request admitted before ended; one admitted after is not waited for"
        );
        drop(latest);
    }
}
