//! Prometheus metrics. One recorder per process, installed on first use.

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// How often histogram samples are folded into their summaries.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// The process's Prometheus handle (None if another recorder was installed).
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| match PrometheusBuilder::new().install_recorder() {
            Ok(h) => {
                // Histogram samples wait in the recorder until upkeep folds them
                // into their summaries, which `install_recorder` leaves to us:
                // without it a server nobody scrapes grows by every request
                // (measured: 0.6 MB/s of anonymous memory at 28,000 reads/s).
                let upkeep = h.clone();
                let spawned = std::thread::Builder::new()
                    .name("coffer-metrics-upkeep".into())
                    .spawn(move || loop {
                        std::thread::sleep(UPKEEP_EVERY);
                        upkeep.run_upkeep();
                    });
                if let Err(e) = spawned {
                    tracing::warn!(error = %e, "metrics upkeep thread not started");
                }
                Some(h)
            }
            Err(e) => {
                tracing::warn!(error = %e, "metrics recorder not installed");
                None
            }
        })
        .as_ref()
}

pub fn record(operation: &str, status: u16, code: &str, seconds: f64) {
    let labels = [
        ("operation", operation.to_string()),
        ("status", status.to_string()),
        ("code", code.to_string()),
    ];
    metrics::counter!("coffer_requests_total", &labels).increment(1);
    metrics::histogram!("coffer_request_duration_seconds", "operation" => operation.to_string())
        .record(seconds);
}

pub fn render() -> String {
    handle()
        .map(metrics_exporter_prometheus::PrometheusHandle::render)
        .unwrap_or_default()
}
