//! The `serve` flags for the request-edge limits and the metrics listener (see README's
//! "Limits and timeouts"); defaults come from `miaodan_server::limits`.

use miaodan_server::Config;
use miaodan_server::limits::{self, Limits};
use std::net::SocketAddr;
use std::time::Duration;

#[derive(clap::Args, Clone, Debug)]
pub struct LimitArgs {
    /// Serve GET /metrics on this address (never on the API's), or `off`.
    #[arg(long, env = "MIAODAN_METRICS_LISTEN", default_value = "127.0.0.1:9464", value_parser = metrics_listen)]
    metrics_listen: MetricsListen,
    /// A request's head must arrive within this; otherwise the connection is closed.
    #[arg(long, default_value_t = limits::HEADER_READ_TIMEOUT_DEFAULT.as_secs())]
    header_read_timeout_seconds: u64,
    /// A request's body must arrive within this (after its head); otherwise 408.
    #[arg(long, default_value_t = limits::BODY_READ_TIMEOUT_DEFAULT.as_secs())]
    body_read_timeout_seconds: u64,
    /// Connections served at once; one more is answered 503 and closed.
    #[arg(long, default_value_t = limits::CONNECTIONS_MAX_DEFAULT)]
    connections_max: usize,
    /// Requests executing at once; one more is answered 503.
    #[arg(long, default_value_t = limits::REQUESTS_IN_FLIGHT_MAX_DEFAULT)]
    requests_in_flight_max: usize,
    /// Messages one shard queues; one more is answered 429.
    #[arg(long, default_value_t = limits::SHARD_QUEUE_MAX_DEFAULT)]
    shard_queue_max: usize,
    /// A quiet live stream sends a heartbeat comment this often.
    #[arg(long, default_value_t = limits::SSE_HEARTBEAT_DEFAULT.as_secs())]
    sse_heartbeat_seconds: u64,
}

/// An address, or `off`.
#[derive(Clone, Copy, Debug)]
struct MetricsListen(Option<SocketAddr>);

fn metrics_listen(raw: &str) -> Result<MetricsListen, String> {
    if raw == "off" {
        return Ok(MetricsListen(None));
    }
    raw.parse()
        .map(|address| MetricsListen(Some(address)))
        .map_err(|_| format!("`{raw}` is neither an address such as 127.0.0.1:9464 nor `off`"))
}

impl LimitArgs {
    /// Sets the limits and the metrics listener of `config`.
    pub fn apply(&self, config: &mut Config) {
        config.metrics_listen = self.metrics_listen.0;
        config.limits = Limits {
            header_read_timeout: Duration::from_secs(self.header_read_timeout_seconds),
            body_read_timeout: Duration::from_secs(self.body_read_timeout_seconds),
            connections_max: self.connections_max,
            requests_in_flight_max: self.requests_in_flight_max,
            shard_queue_max: self.shard_queue_max,
            sse_heartbeat: Duration::from_secs(self.sse_heartbeat_seconds),
        };
    }
}
