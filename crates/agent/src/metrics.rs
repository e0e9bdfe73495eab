//! The agent's Prometheus counters, rendered by hand (a handful of atomics).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[derive(Default)]
pub struct Metrics {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub upstream_calls: AtomicU64,
    pub upstream_errors: AtomicU64,
    /// Sum of upstream latencies in microseconds (with `upstream_calls`, the mean).
    pub upstream_micros: AtomicU64,
    pub stale_served: AtomicU64,
    pub prefetched: AtomicU64,
    pub refused: AtomicU64,
    /// Change events received from the upstream's stream.
    pub pushes: AtomicU64,
}

impl Metrics {
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut line = |name: &str, help: &str, kind: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
            );
        };
        line(
            "coffer_agent_cache_hits_total",
            "Requests answered from the cache.",
            "counter",
            self.hits.load(Relaxed),
        );
        line(
            "coffer_agent_cache_misses_total",
            "Requests that needed the upstream.",
            "counter",
            self.misses.load(Relaxed),
        );
        line(
            "coffer_agent_upstream_calls_total",
            "Calls made to Secrets Manager.",
            "counter",
            self.upstream_calls.load(Relaxed),
        );
        line(
            "coffer_agent_upstream_errors_total",
            "Upstream calls that failed.",
            "counter",
            self.upstream_errors.load(Relaxed),
        );
        let secs = self.upstream_micros.load(Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "# HELP coffer_agent_upstream_seconds_total Time spent in upstream calls.\n# TYPE coffer_agent_upstream_seconds_total counter\ncoffer_agent_upstream_seconds_total {secs}");
        let mut line = |name: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        };
        line(
            "coffer_agent_stale_served_total",
            "Cached values served because the upstream failed.",
            self.stale_served.load(Relaxed),
        );
        line(
            "coffer_agent_prefetched_total",
            "Secrets loaded into the cache at startup.",
            self.prefetched.load(Relaxed),
        );
        line(
            "coffer_agent_refused_total",
            "Requests refused (token, method, limits, parameters).",
            self.refused.load(Relaxed),
        );
        out
    }
}
