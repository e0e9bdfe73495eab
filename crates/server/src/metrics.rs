//! Prometheus metrics. One recorder per process, installed on first use.

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process's Prometheus handle (None if another recorder was installed).
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| match PrometheusBuilder::new().install_recorder() {
            Ok(h) => Some(h),
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
