//! One matcher per server: each new outbox event is read once, parsed once,
//! matched against every registered target's rule here, and handed only to
//! the targets it matches. Before it, every target was a task woken for every change to
//! match it itself; with a thousand rules that was a thousand wake-ups per
//! commit (bench/EVENTS_RESULTS.md).
//!
//! The index (`index`) narrows each event to the targets that may match it.
//!
//! A target registers when its worker starts and learns the matcher's
//! position then: events after it come through its queue; events between its
//! stored cursor and that position it reads from the store itself.

use super::index::Index;
use super::pattern::Pattern;
use coffer_store::{EventRow, Store};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

const POLL: Duration = Duration::from_millis(250);
const BATCH: usize = 1000;

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

/// What the matcher needs of a target.
pub(super) struct Interest {
    pub account: String,
    pub region: String,
    pub enabled: bool,
    pub pattern: Option<Pattern>,
}

impl Interest {
    pub(super) fn wants(&self, e: &Seen) -> bool {
        self.enabled
            && e.account_id == self.account
            && e.region == self.region
            && e.event
                .as_ref()
                .is_some_and(|ev| self.pattern.as_ref().is_some_and(|p| p.matches(ev)))
    }
}

type Queue = mpsc::UnboundedSender<Arc<Seen>>;
type Entry = (Arc<Interest>, Queue);

/// The registered targets, and their index (built again after a change).
#[derive(Default)]
struct Registry {
    targets: HashMap<String, Entry>,
    built: Option<(Index, Vec<Entry>)>,
}

impl Registry {
    fn built(&mut self) -> &(Index, Vec<Entry>) {
        let targets = &self.targets;
        self.built.get_or_insert_with(|| {
            let list: Vec<Entry> = targets.values().cloned().collect();
            let interests: Vec<&Interest> = list.iter().map(|(i, _)| &**i).collect();
            (Index::build(&interests), list)
        })
    }
}

pub(super) struct Matcher {
    targets: Mutex<Registry>,
    /// Every event up to here has been handed to the targets it matches.
    pos: AtomicI64,
}

impl Matcher {
    /// Starts matching after the outbox's newest event, woken by `wake` (this
    /// server's commits and those it hears of) and a poll; ends with `stop`.
    pub(super) async fn start(
        store: Arc<dyn Store>,
        mut wake: tokio::sync::watch::Receiver<u64>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> Arc<Matcher> {
        let pos = loop {
            if let Ok(p) = store.latest_event_seq().await {
                break p;
            }
            tokio::time::sleep(POLL).await;
        };
        let m = Arc::new(Matcher {
            targets: Mutex::default(),
            pos: AtomicI64::new(pos),
        });
        let me = m.clone();
        tokio::spawn(async move {
            loop {
                me.pass(&*store).await;
                tokio::select! {
                    _ = wake.changed() => {}
                    () = tokio::time::sleep(POLL) => {}
                    _ = stop.changed() => return,
                }
            }
        });
        m
    }

    /// Reads the outbox once past its position and hands each event to the
    /// targets it matches.
    async fn pass(&self, store: &dyn Store) {
        loop {
            let after = self.pos.load(Ordering::SeqCst);
            let events: Vec<Arc<Seen>> = match store.events_after(after, BATCH).await {
                Ok(rows) => rows.into_iter().map(Seen::of).collect(),
                Err(e) => {
                    tracing::warn!(error = %e, "the event matcher cannot read the outbox; will retry");
                    return;
                }
            };
            let Some(last) = events.last().map(|e| e.seq) else {
                return;
            };
            if let Ok(mut registry) = self.targets.lock() {
                let (index, targets) = registry.built();
                for e in events.iter().filter(|e| e.event.is_some()) {
                    for (interest, queue) in index.candidates(e).into_iter().map(|i| &targets[i]) {
                        if interest.wants(e) {
                            // A worker gone is unregistered by the supervisor.
                            let _ = queue.send(e.clone());
                        }
                    }
                }
                // Under the lock, after the sends: a worker that reads this
                // position and then finds its queue empty has had every match.
                self.pos.store(last, Ordering::SeqCst);
            }
            if events.len() < BATCH {
                return;
            }
        }
    }

    /// Registers a target: its queue, and the position from which the queue
    /// has every match (events up to it are the worker's to read).
    pub(super) fn register(
        &self,
        key: &str,
        interest: Arc<Interest>,
    ) -> (mpsc::UnboundedReceiver<Arc<Seen>>, i64) {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut t = self
            .targets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        t.targets.insert(key.to_string(), (interest, tx));
        t.built = None;
        (rx, self.pos.load(Ordering::SeqCst))
    }

    pub(super) fn unregister(&self, key: &str) {
        if let Ok(mut t) = self.targets.lock() {
            t.targets.remove(key);
            t.built = None;
        }
    }

    /// Where matching stands (read before checking a queue is empty).
    pub(super) fn position(&self) -> i64 {
        self.pos.load(Ordering::SeqCst)
    }
}
