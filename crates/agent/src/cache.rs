//! The cache: answers stored as ready-to-send bytes, one upstream call per key
//! however many clients ask at once, and the last good answer served (within a
//! staleness bound) while the upstream is failing.

use crate::metrics::Metrics;
use crate::upstream::UpstreamError;
use bytes::Bytes;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// (secret id as asked, version id, version stage, role assumed to read it).
pub type Key = (String, Option<String>, Option<String>, Option<String>);

struct Entry {
    body: Bytes,
    fetched: Instant,
}

pub enum Answer {
    Fresh(Bytes),
    /// A cached answer served because the upstream failed; with its age.
    Stale(Bytes, Duration),
}

pub struct Cache {
    entries: RwLock<HashMap<Key, Entry>>,
    flights: Mutex<HashMap<Key, Arc<tokio::sync::Mutex<()>>>>,
    ttl: Duration,
    capacity: usize,
    max_stale: Duration,
    serve_stale: bool,
    metrics: Arc<Metrics>,
}

impl Cache {
    pub fn new(
        ttl: Duration,
        capacity: usize,
        max_stale: Duration,
        serve_stale: bool,
        metrics: Arc<Metrics>,
    ) -> Self {
        Cache {
            entries: RwLock::default(),
            flights: Mutex::default(),
            ttl,
            capacity: capacity.max(1),
            max_stale,
            serve_stale,
            metrics,
        }
    }

    fn fresh(&self, key: &Key, since: Option<Instant>) -> Option<Bytes> {
        let entries = self.entries.read().ok()?;
        let e = entries.get(key)?;
        let ok = match since {
            // Someone fetched it while we waited for the flight: that is fresh enough.
            Some(t) => e.fetched >= t,
            None => !self.ttl.is_zero() && e.fetched.elapsed() < self.ttl,
        };
        ok.then(|| e.body.clone())
    }

    pub fn insert(&self, key: Key, body: Bytes) {
        let Ok(mut entries) = self.entries.write() else {
            return;
        };
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            if let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, e)| e.fetched)
                .map(|(k, _)| k.clone())
            {
                entries.remove(&oldest);
            }
        }
        entries.insert(
            key,
            Entry {
                body,
                fetched: Instant::now(),
            },
        );
    }

    /// The cached keys naming any of `ids` (whatever version or stage they ask for).
    pub fn keys_for(&self, ids: &[&str]) -> Vec<Key> {
        self.entries
            .read()
            .map(|e| {
                e.keys()
                    .filter(|k| ids.contains(&k.0.as_str()))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every cached key.
    pub fn keys(&self) -> Vec<Key> {
        self.entries
            .read()
            .map(|e| e.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Drops every answer read through `role` (when the role is evicted).
    pub fn remove_role(&self, role: &str) {
        if let Ok(mut e) = self.entries.write() {
            e.retain(|k, _| k.3.as_deref() != Some(role));
        }
    }

    pub fn remove(&self, key: &Key) {
        if let Ok(mut e) = self.entries.write() {
            e.remove(key);
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.read().map_or(0, |e| e.len())
    }

    fn flight(&self, key: &Key) -> Arc<tokio::sync::Mutex<()>> {
        let mut flights = self
            .flights
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if flights.len() > self.capacity * 4 {
            flights.retain(|_, f| Arc::strong_count(f) > 1);
        }
        flights.entry(key.clone()).or_default().clone()
    }

    /// The answer for `key`: cached if fresh (and not `refresh_now`), else from
    /// `fetch`, which runs once however many callers are waiting for the key.
    pub async fn get<F, Fut>(
        &self,
        key: Key,
        refresh_now: bool,
        fetch: F,
    ) -> Result<Answer, UpstreamError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Bytes, UpstreamError>>,
    {
        if !refresh_now {
            if let Some(b) = self.fresh(&key, None) {
                self.metrics.hits.fetch_add(1, Relaxed);
                return Ok(Answer::Fresh(b));
            }
        }
        self.metrics.misses.fetch_add(1, Relaxed);
        let asked = Instant::now();
        let flight = self.flight(&key);
        let _turn = flight.lock().await;
        if let Some(b) = self.fresh(&key, Some(asked)) {
            return Ok(Answer::Fresh(b));
        }
        match fetch().await {
            Ok(body) => {
                self.insert(key, body.clone());
                Ok(Answer::Fresh(body))
            }
            Err(e) if e.transient && self.serve_stale => {
                let entries = self.entries.read().map_err(|_| e.clone())?;
                match entries.get(&key) {
                    Some(old) if old.fetched.elapsed() <= self.max_stale => {
                        self.metrics.stale_served.fetch_add(1, Relaxed);
                        tracing::warn!(secret_id = %key.0, status = e.status, "upstream failing; serving the cached value");
                        Ok(Answer::Stale(old.body.clone(), old.fetched.elapsed()))
                    }
                    _ => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn key(id: &str) -> Key {
        (id.to_string(), None, None, None)
    }

    fn cache(ttl: u64, cap: usize) -> Cache {
        Cache::new(
            Duration::from_secs(ttl),
            cap,
            Duration::from_mins(1),
            true,
            Arc::default(),
        )
    }

    #[tokio::test]
    async fn one_upstream_call_for_many_waiters() {
        let c = Arc::new(cache(300, 10));
        let calls = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let (c, calls) = (c.clone(), calls.clone());
            tasks.push(tokio::spawn(async move {
                let r = c
                    .get(key("s"), false, || async {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::task::yield_now().await;
                        Ok(Bytes::from_static(b"v"))
                    })
                    .await;
                matches!(r, Ok(Answer::Fresh(b)) if b == "v")
            }));
        }
        for t in tasks {
            assert!(t.await.unwrap());
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn stale_only_for_transient_errors() {
        let c = cache(300, 10);
        c.insert(key("s"), Bytes::from_static(b"old"));
        let transient = crate::upstream::error(502, "ConnectionError", "Read Error", true);
        let r = c.get(key("s"), true, || async { Err(transient) }).await;
        assert!(matches!(r, Ok(Answer::Stale(b, _)) if b == "old"));
        let definite = crate::upstream::error(400, "ResourceNotFoundException", "gone", false);
        assert!(c
            .get(key("s"), true, || async { Err(definite) })
            .await
            .is_err());
    }

    #[tokio::test]
    async fn capacity_evicts_the_oldest() {
        let c = cache(300, 2);
        c.insert(key("a"), Bytes::from_static(b"a"));
        c.insert(key("b"), Bytes::from_static(b"b"));
        c.insert(key("c"), Bytes::from_static(b"c"));
        assert_eq!(c.len(), 2);
        assert!(c.fresh(&key("a"), None).is_none());
        assert!(c.fresh(&key("c"), None).is_some());
    }

    #[tokio::test]
    async fn ttl_zero_always_fetches() {
        let c = cache(0, 10);
        c.insert(key("s"), Bytes::from_static(b"old"));
        let r = c
            .get(key("s"), false, || async { Ok(Bytes::from_static(b"new")) })
            .await;
        assert!(matches!(r, Ok(Answer::Fresh(b)) if b == "new"));
    }
}
