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

use crate::events::{IAM_SOURCE, SECRETS_SOURCE};
use crate::internal;
use crate::service::Service;
use coffer_api::ApiError;
use coffer_store::EventRow;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// How often the follower looks for changes other servers committed.
pub const FOLLOW_INTERVAL: Duration = Duration::from_millis(250);
/// Events read per batch.
const BATCH: usize = 500;

impl Service {
    /// Follows the outbox until `stop` turns true, invalidating caches.
    pub(crate) fn spawn_follower(
        self: &Arc<Self>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let svc = self.clone();
        let mut commits = self.commit_signal();
        tokio::spawn(async move {
            let mut after = match svc.store.latest_event_seq().await {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "the outbox follower cannot start; caches follow only this server's writes");
                    return;
                }
            };
            loop {
                match svc.follow_once(after).await {
                    Ok(seq) => after = seq,
                    Err(e) => tracing::warn!(error = %e, "reading the outbox failed"),
                }
                tokio::select! {
                    _ = commits.changed() => {}
                    _ = tokio::time::sleep(FOLLOW_INTERVAL) => {}
                    _ = stop.changed() => return,
                }
            }
        })
    }

    /// Applies every change after `after`; returns the last sequence number seen.
    pub async fn follow_once(&self, mut after: i64) -> Result<i64, ApiError> {
        loop {
            let rows = self
                .store
                .events_after(after, BATCH)
                .await
                .map_err(internal)?;
            for r in &rows {
                self.invalidate(r);
                after = r.seq;
            }
            if rows.len() < BATCH {
                return Ok(after);
            }
        }
    }

    /// Drops what one committed change made stale.
    fn invalidate(&self, r: &EventRow) {
        let body: Value = serde_json::from_str(&r.body).unwrap_or_default();
        match body["source"].as_str() {
            Some(SECRETS_SOURCE) => {
                if let Some(arn) = body["resources"][0].as_str() {
                    self.store.forget_cached(arn);
                }
            }
            // Identities and access keys are cached by IAM generation: one bump
            // makes every cached one be read again.
            Some(IAM_SOURCE) => self.iam_changed(),
            _ => {}
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
        let last = rows.last().map(|r| r.seq).unwrap_or(after);
        let secret_event = |r: &EventRow| {
            serde_json::from_str::<Value>(&r.body)
                .is_ok_and(|b| b["source"].as_str() == Some(SECRETS_SOURCE))
        };
        Ok((
            last,
            rows.into_iter()
                .filter(|r| r.account_id == account_id && secret_event(r))
                .collect(),
        ))
    }

    pub(crate) fn committed(&self) {
        self.commits.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Changes when a mutation commits (the change stream waits on it).
    pub fn commit_signal(&self) -> tokio::sync::watch::Receiver<u64> {
        self.commits.subscribe()
    }
}
