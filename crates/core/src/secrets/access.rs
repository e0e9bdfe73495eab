//! LastAccessedDate without a write per read.
//!
//! AWS reports the date only to the day, so the tracker remembers, per secret and
//! version, the last day it recorded, and queues a store update only when the day
//! changes. A background task flushes the queue.

use crate::clock::day_of;
use coffer_store::{AccessTouch, Store};
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Default)]
pub struct AccessTracker {
    seen: Mutex<HashMap<(i64, String), i64>>,
    /// The newest day recorded per secret: answers show it before the flush.
    by_secret: Mutex<HashMap<i64, i64>>,
    pending: Mutex<Vec<AccessTouch>>,
}

impl AccessTracker {
    /// Notes a read of `version_id` of secret `secret_id` at `now_ms`. `known_day`
    /// is the day the store already has, so restarts do not re-write it.
    pub fn record(&self, secret_id: i64, version_id: &str, known_day: Option<i64>, now_ms: i64) {
        let day = day_of(now_ms);
        if known_day.is_some_and(|d| d >= day) {
            return;
        }
        let Ok(mut seen) = self.seen.lock() else {
            return;
        };
        let slot = seen
            .entry((secret_id, version_id.to_string()))
            .or_insert(i64::MIN);
        if *slot >= day {
            return;
        }
        *slot = day;
        if let Ok(mut b) = self.by_secret.lock() {
            let d = b.entry(secret_id).or_insert(day);
            *d = (*d).max(day);
        }
        if let Ok(mut p) = self.pending.lock() {
            p.push(AccessTouch {
                secret_id,
                version_id: Some(version_id.to_string()),
                day_ms: day,
            });
        }
    }

    /// LastAccessedDate as a read on this server left it, flushed or not: AWS
    /// shows the date right after the read. `version` None: the secret's.
    pub fn last_day(
        &self,
        secret_id: i64,
        version: Option<&str>,
        stored: Option<i64>,
    ) -> Option<i64> {
        let seen = match version {
            Some(v) => self
                .seen
                .lock()
                .ok()
                .and_then(|m| m.get(&(secret_id, v.to_string())).copied()),
            None => self
                .by_secret
                .lock()
                .ok()
                .and_then(|m| m.get(&secret_id).copied()),
        };
        match (stored, seen.filter(|d| *d != i64::MIN)) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    /// Writes queued touches to the store.
    pub async fn flush(&self, store: &dyn Store) {
        let batch = match self.pending.lock() {
            Ok(mut p) if !p.is_empty() => std::mem::take(&mut *p),
            _ => return,
        };
        if let Err(e) = store.touch_accessed(batch).await {
            tracing::warn!(error = %e, "could not record last-accessed dates");
        }
    }
}
