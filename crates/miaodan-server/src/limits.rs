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

/// 10 s for a request's head: ample for a real client, short for a slowloris.
pub const HEADER_READ_TIMEOUT_DEFAULT: Duration = Duration::from_secs(10);
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
        let zero = Duration::ZERO;
        if self.header_read_timeout == zero || self.body_read_timeout == zero {
            Some("read timeouts must be longer than 0")
        } else if self.connections_max == 0 || self.requests_in_flight_max == 0 || self.shard_queue_max == 0 {
            Some("connection, request and shard queue caps must be at least 1")
        } else if self.sse_heartbeat == zero {
            Some("the stream heartbeat must be longer than 0")
        } else {
            None
        }
    }
}
