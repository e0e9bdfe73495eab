//! The outbox's consumers in this process: the change stream agents subscribe
//! to, and the follower that keeps this process's caches true to what any server
//! sharing the database committed.
//!
//! Every change is written to the outbox in its own transaction: a secret's
//! mutation with its EventBridge-shaped event, an IAM write with a record of the
//! identities and access keys it touched. The follower reads the outbox after
//! each local commit and a few times a second besides, and drops what each
//! change made stale: the secret's cached copy, cached identities and access
//! keys. A revoked key or a changed policy on one server therefore stops working
//! on every server within the follower's poll interval.

use crate::errors::internal;
use crate::events::SECRETS_SOURCE;
use coffer_api::ApiError;
use coffer_store::{EventRow, Store};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// How often the follower looks for changes other servers committed.
pub const FOLLOW_INTERVAL: Duration = Duration::from_millis(250);
/// Events read per batch.
const BATCH: usize = 500;

/// The outbox as this process sees it: the store's change events, and a signal
/// that wakes its consumers when this process commits.
pub struct Outbox {
    store: Arc<dyn Store>,
    /// Bumped after every committed change, so consumers wake at once instead of
    /// waiting for their next poll.
    commits: tokio::sync::watch::Sender<u64>,
}

impl Outbox {
    pub fn new(store: Arc<dyn Store>) -> Outbox {
        Outbox {
            store,
            commits: tokio::sync::watch::Sender::new(0),
        }
    }

    /// Follows the outbox from its newest record until `stop` turns true,
    /// handing every change to `apply` (which drops what it made stale). Once it
    /// knows where it starts, it calls `reset`: whatever was cached before then
    /// (at start-up, or while the store could not be read) is dropped, since
    /// changes committed in that time will never be seen.
    pub fn spawn_follower(
        self: &Arc<Self>,
        apply: impl Fn(&EventRow) + Send + Sync + 'static,
        reset: impl Fn() + Send + Sync + 'static,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let outbox = self.clone();
        let mut commits = self.commit_signal();
        // Other servers' commits, where the store hears of them (PostgreSQL's
        // NOTIFY); polling covers the rest.
        let mut remote = self.store.change_signal();
        tokio::spawn(async move {
            let mut after = loop {
                match outbox.store.latest_event_seq().await {
                    Ok(s) => break s,
                    Err(e) => tracing::warn!(error = %e, "the outbox follower cannot start yet"),
                }
                tokio::select! {
                    () = tokio::time::sleep(FOLLOW_INTERVAL) => {}
                    _ = stop.changed() => return,
                }
            };
            reset();
            loop {
                match outbox.follow_once(after, &apply).await {
                    Ok(seq) if seq > after => {
                        after = seq;
                        // Wakes change streams for changes other servers made;
                        // the follower itself has seen them, and marks its own
                        // bump seen so it does not read the outbox once more for it.
                        outbox.committed();
                        commits.borrow_and_update();
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "reading the outbox failed"),
                }
                tokio::select! {
                    _ = commits.changed() => {}
                    () = changed(&mut remote) => {}
                    () = tokio::time::sleep(FOLLOW_INTERVAL) => {}
                    _ = stop.changed() => return,
                }
            }
        })
    }

    /// Applies every change after `after`; returns the last sequence number seen.
    async fn follow_once(
        &self,
        mut after: i64,
        apply: &impl Fn(&EventRow),
    ) -> Result<i64, ApiError> {
        loop {
            let rows = self
                .store
                .events_after(after, BATCH)
                .await
                .map_err(internal)?;
            for r in &rows {
                apply(r);
                after = r.seq;
            }
            if rows.len() < BATCH {
                return Ok(after);
            }
        }
    }

    /// Change events of `account_id` after `after_seq` (None: the newest seq, so a
    /// new subscriber sees only what happens from now on). Only secret changes:
    /// IAM records are for caches, not for applications.
    pub async fn events_for(
        &self,
        account_id: &str,
        after_seq: Option<i64>,
    ) -> Result<(i64, Vec<EventRow>), ApiError> {
        let after = match after_seq {
            Some(s) => s,
            None => self.store.latest_event_seq().await.map_err(internal)?,
        };
        let rows = self
            .store
            .events_after(after, 200)
            .await
            .map_err(internal)?;
        let last = rows.last().map_or(after, |r| r.seq);
        Ok((
            last,
            rows.into_iter()
                .filter(|r| r.account_id == account_id && source(r) == Some(SECRETS_SOURCE.into()))
                .collect(),
        ))
    }

    /// Whether a subscriber resuming after `after` missed changes: the events
    /// after it were pruned (it is below the horizon), or the outbox never got
    /// that far (a restored or another database). Then the newest sequence
    /// number, to go on from once the subscriber has started over.
    pub async fn gap(&self, after: i64) -> Result<Option<i64>, ApiError> {
        let latest = self.store.latest_event_seq().await.map_err(internal)?;
        let horizon = self.store.event_horizon().await.map_err(internal)?;
        Ok((after < horizon || after > latest).then_some(latest))
    }

    pub(crate) fn committed(&self) {
        self.commits.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Changes when a mutation commits (the change stream waits on it).
    pub fn commit_signal(&self) -> tokio::sync::watch::Receiver<u64> {
        self.commits.subscribe()
    }
}

/// Resolves when the signal changes; never, without one (or once it is gone).
pub(crate) async fn changed(signal: &mut Option<tokio::sync::watch::Receiver<u64>>) {
    if let Some(rx) = signal {
        if rx.changed().await.is_ok() {
            return;
        }
        *signal = None;
    }
    std::future::pending::<()>().await;
}

/// The `source` of an event (`aws.secretsmanager`, `coffer.iam`).
pub fn source(r: &EventRow) -> Option<String> {
    let body: Value = serde_json::from_str(&r.body).ok()?;
    body["source"].as_str().map(str::to_string)
}
