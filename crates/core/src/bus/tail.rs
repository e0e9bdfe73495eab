//! The outbox's recent events, read once for every target: a target that is
//! caught up takes the next events from here instead of querying the store
//! itself, so a change costs one outbox read however many targets there are.
//! A target further behind than the tail holds reads the store as before.

use coffer_store::{EventRow, Store};
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::watch;

/// An outbox event, parsed once for every target that looks at it.
pub(super) struct Seen {
    pub seq: i64,
    pub at_ms: i64,
    pub account_id: String,
    pub region: String,
    /// The event, if it is a change to a secret (None: IAM records, or unreadable).
    pub event: Option<Value>,
}

impl Seen {
    pub(super) fn of(row: EventRow) -> Arc<Seen> {
        let event = serde_json::from_str::<Value>(&row.body)
            .ok()
            .filter(|e| e["source"] == crate::events::SECRETS_SOURCE);
        Arc::new(Seen {
            seq: row.seq,
            at_ms: row.at_ms,
            account_id: row.account_id,
            region: row.region,
            event,
        })
    }
}

/// Events kept in memory.
const CAPACITY: usize = 2_000;
const POLL: Duration = Duration::from_millis(250);

pub(super) struct Tail {
    inner: RwLock<Held>,
    changed: watch::Sender<i64>,
}

struct Held {
    /// Every event after `base` is in `events`.
    base: i64,
    events: VecDeque<Arc<Seen>>,
}

impl Tail {
    /// Starts reading the outbox from its newest event on; the task ends with `stop`.
    pub(super) async fn start(
        store: Arc<dyn Store>,
        mut wake: watch::Receiver<u64>,
        mut stop: watch::Receiver<bool>,
    ) -> Arc<Tail> {
        let base = store.latest_event_seq().await.unwrap_or(i64::MAX);
        let tail = Arc::new(Tail {
            inner: RwLock::new(Held {
                base,
                events: VecDeque::new(),
            }),
            changed: watch::Sender::new(base),
        });
        let t = tail.clone();
        tokio::spawn(async move {
            loop {
                t.read(&*store).await;
                tokio::select! {
                    _ = wake.changed() => {}
                    () = tokio::time::sleep(POLL) => {}
                    _ = stop.changed() => return,
                }
            }
        });
        tail
    }

    async fn read(&self, store: &dyn Store) {
        if self.last() == i64::MAX {
            // The store could not say where it stood at start: ask again.
            let Ok(seq) = store.latest_event_seq().await else {
                return;
            };
            if let Ok(mut h) = self.inner.write() {
                h.base = seq;
            }
        }
        loop {
            let last = self.last();
            let rows = match store.events_after(last, 500).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(error = %e, "reading the outbox for delivery failed; will retry");
                    return;
                }
            };
            let (n, newest) = (rows.len(), rows.last().map(|r| r.seq));
            if let Ok(mut h) = self.inner.write() {
                h.events.extend(rows.into_iter().map(Seen::of));
                while h.events.len() > CAPACITY {
                    if let Some(old) = h.events.pop_front() {
                        h.base = old.seq;
                    }
                }
            }
            if let Some(seq) = newest {
                self.changed.send_replace(seq);
            }
            if n < 500 {
                return;
            }
        }
    }

    fn last(&self) -> i64 {
        self.inner
            .read()
            .map_or(i64::MAX, |h| h.events.back().map_or(h.base, |e| e.seq))
    }

    /// Up to `limit` events after `seq`, if the tail holds all of them (None:
    /// read the store).
    pub(super) fn after(&self, seq: i64, limit: usize) -> Option<Vec<Arc<Seen>>> {
        let h = self.inner.read().ok()?;
        if seq < h.base || h.base == i64::MAX {
            return None;
        }
        let start = h.events.partition_point(|e| e.seq <= seq);
        Some(h.events.iter().skip(start).take(limit).cloned().collect())
    }

    /// Changes when new events arrive.
    pub(super) fn subscribe(&self) -> watch::Receiver<i64> {
        self.changed.subscribe()
    }
}
