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
        if let Ok(mut p) = self.pending.lock() {
            p.push(AccessTouch {
                secret_id,
                version_id: Some(version_id.to_string()),
                day_ms: day,
            });
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
