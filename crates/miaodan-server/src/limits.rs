//! The limits that keep one slow or greedy client from holding the server: how long a request
//! may take to arrive, how many connections and requests are served at once, how much one shard
//! queues, and how often a live stream speaks. Each is enforced by a mechanism (a timer, a
//! semaphore, a bounded channel) and configurable (`Config::limits`, `miaodan serve` flags);
//! README's "Limits and timeouts" says what a client sees when it hits one.

use std::time::Duration;

/// The request-edge limits of a running server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// A request's head (request line and headers) must arrive within this; otherwise the
    /// connection is closed without an answer. An idle keep-alive connection is closed after
    /// it too.
    pub header_read_timeout: Duration,
    /// A request's body must arrive within this, counted from its head; otherwise 408
    /// `request_timeout`.
    pub body_read_timeout: Duration,
    /// Connections served at once; one more is answered 503 `server_busy` and closed.
    pub connections_max: usize,
    /// Requests executing at once; one more is answered 503 `server_busy`.
    pub requests_in_flight_max: usize,
    /// Messages one shard's inbox holds; one more is answered 429 `overloaded`.
    pub shard_queue_max: usize,
    /// A live stream (Server-Sent Events) sends a comment this often when it has nothing to
    /// say, well under the idle timeouts of common proxies (60 s).
    pub sse_heartbeat: Duration,
}

/// 30 s for a request's head (hyper's own default): ample for a real client, and it bounds a
/// slowloris. It also closes a keep-alive connection left idle that long, so a client should
/// keep pooled connections idle for less, or a request it sends on one just as it closes fails
/// (retry it with the same Idempotency-Key).
pub const HEADER_READ_TIMEOUT_DEFAULT: Duration = Duration::from_secs(30);
/// 30 s for a body of at most 256 KiB: 70 kbit/s still makes it.
pub const BODY_READ_TIMEOUT_DEFAULT: Duration = Duration::from_secs(30);
/// Each open connection costs a file descriptor and some 30 KiB of buffers.
pub const CONNECTIONS_MAX_DEFAULT: usize = 4_096;
pub const REQUESTS_IN_FLIGHT_MAX_DEFAULT: usize = 2_048;
/// About 40 ms of a shard's work at the rates measured in BENCHMARKS.md: beyond that, a
/// refusal with `Retry-After` serves a client better than a queue.
pub const SHARD_QUEUE_MAX_DEFAULT: usize = 1_024;
pub const SSE_HEARTBEAT_DEFAULT: Duration = Duration::from_secs(10);
/// Seconds a client refused for capacity (503 `server_busy`, 429 `overloaded`) is asked to
/// wait before it retries.
pub const RETRY_AFTER_SECONDS: u64 = 1;
/// Refusals of connections over [`Limits::connections_max`] answered at once; beyond, a new
/// connection is closed without an answer.
pub const CONNECTION_REFUSALS_MAX: usize = 64;
/// The longest timeout or heartbeat interval accepted: a day (longer is a mistake, and an
/// instant that far out could overflow).
pub const DURATION_MAX: Duration = Duration::from_secs(86_400);

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            header_read_timeout: HEADER_READ_TIMEOUT_DEFAULT,
            body_read_timeout: BODY_READ_TIMEOUT_DEFAULT,
            connections_max: CONNECTIONS_MAX_DEFAULT,
            requests_in_flight_max: REQUESTS_IN_FLIGHT_MAX_DEFAULT,
            shard_queue_max: SHARD_QUEUE_MAX_DEFAULT,
            sse_heartbeat: SSE_HEARTBEAT_DEFAULT,
        }
    }
}

impl Limits {
    /// Why these limits cannot work, if they cannot.
    pub fn problem(&self) -> Option<&'static str> {
        let durations = [self.header_read_timeout, self.body_read_timeout, self.sse_heartbeat];
        let caps = [self.connections_max, self.requests_in_flight_max, self.shard_queue_max];
        if durations.iter().any(|d| d.is_zero() || *d > DURATION_MAX) {
            Some("timeouts and the stream heartbeat must be longer than 0 and at most a day")
        } else if caps
            .iter()
            .any(|&cap| cap == 0 || cap > tokio::sync::Semaphore::MAX_PERMITS)
        {
            Some("connection, request and shard queue caps must be at least 1 (and not absurd)")
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_that_cannot_work_are_refused_and_the_defaults_work() {
        type Change = fn(&mut Limits);
        let cases: [(&str, Change, bool); 8] = [
            ("defaults", |_| {}, true),
            ("no header time", |l| l.header_read_timeout = Duration::ZERO, false),
            ("two days for a body", |l| l.body_read_timeout = 2 * DURATION_MAX, false),
            ("a day for a body", |l| l.body_read_timeout = DURATION_MAX, true),
            ("no heartbeat interval", |l| l.sse_heartbeat = Duration::ZERO, false),
            ("no connection", |l| l.connections_max = 0, false),
            ("no queue", |l| l.shard_queue_max = 0, false),
            ("usize::MAX requests", |l| l.requests_in_flight_max = usize::MAX, false),
        ];
        for (case, change, works) in cases {
            let mut limits = Limits::default();
            change(&mut limits);
            assert_eq!(limits.problem().is_none(), works, "{case}");
        }
    }
}
