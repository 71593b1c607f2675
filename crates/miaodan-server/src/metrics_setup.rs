//! Prometheus metrics. The recorder is process-wide (the `metrics` facade has one global
//! recorder), so it is installed once and every server in the process shares it.

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

pub fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    10.0, 100.0, 1000.0, 4096.0,
                ])
                .unwrap_or_else(|_| PrometheusBuilder::new())
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (an embedding program); then the
            // metrics go there and /metrics shows only what this handle sees.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// How often recorded histogram samples are folded into their buckets.
const UPKEEP_INTERVAL_SECONDS: u64 = 5;

/// Folds the recorded histogram samples into their buckets every few seconds. Without it the
/// recorder keeps every sample until `/metrics` is next read: 8 bytes a request, without bound
/// on a server nobody scrapes.
pub fn spawn_upkeep(handle: PrometheusHandle) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(UPKEEP_INTERVAL_SECONDS));
        loop {
            every.tick().await;
            handle.run_upkeep();
        }
    })
}
