//! The replicator: on the fleet's leader, it follows the outbox and, for each
//! secret that changed and has replicas, makes every replica what its primary
//! is now (metadata, tags, resource policy, labelled versions sealed under the
//! replica region's key). Copying the whole state, not replaying the change,
//! makes it idempotent: a change seen twice, or after a crash, copies nothing
//! the second time. The outcome goes to the primary's replication status.

use super::plan::{
    apply_outcome, may_overwrite, plan, replica_attrs, service_mutation, Desired, DesiredVersion,
    Outcome,
};
use super::{replica_arn, replica_of, replicas, set_replicas, Replica, ReplicaOf, FAILED};
use crate::errors::internal;
use crate::outbox::{changed, FOLLOW_INTERVAL};
use crate::secrets::{NewValue, Secrets};
use coffer_api::ApiError;
use coffer_store::{MutationOp, Scope, Secret, SecretRow, StoreError};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The replicator's place in the outbox.
const CURSOR: &str = "coffer:replication";
/// Events read per batch.
const BATCH: usize = 500;
/// How often copies that failed are tried again.
const RETRY: Duration = Duration::from_secs(5);

/// How often the replicator asks whether this server leads (a query on
/// PostgreSQL): not at every commit it wakes for.
const LEAD_CHECK: Duration = Duration::from_secs(2);
/// Where primaries whose copies failed are kept (`PREFIX` + ARN), for
/// whichever server leads next.
const RETRY_PREFIX: &str = "replication-retry/";
/// How often its place in the outbox is written down: copies are idempotent,
/// so after a restart reading a second of events again costs nothing.
const SAVE_EVERY: Duration = Duration::from_secs(1);

/// What the replicator keeps between passes.
struct Progress {
    /// Its place in the outbox (None: read it from the store first).
    cursor: Option<i64>,
    /// The place last written down, and when.
    saved: (i64, Instant),
    /// Primaries whose copies failed, tried again every [`RETRY`].
    retry: BTreeSet<String>,
    retried: Instant,
    leading: bool,
    lead_checked: Option<Instant>,
}

impl Secrets {
    /// Runs the replicator until `stop` turns true.
    pub fn spawn_replicator(
        self: &Arc<Self>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        let mut commits = self.outbox.commit_signal();
        let mut remote = self.store.change_signal();
        tokio::spawn(async move {
            let mut p = Progress {
                cursor: None,
                saved: (0, Instant::now()),
                retry: BTreeSet::new(),
                retried: Instant::now(),
                leading: false,
                lead_checked: None,
            };
            loop {
                if p.lead_checked.is_none_or(|t| t.elapsed() >= LEAD_CHECK) {
                    p.leading = me.store.lead().await.unwrap_or(false);
                    p.lead_checked = Some(Instant::now());
                    if !p.leading {
                        // Another server may move the cursor meanwhile.
                        p.cursor = None;
                    }
                }
                if p.leading {
                    if let Err(e) = me.replicate_pending(&mut p).await {
                        tracing::warn!(error = %e, "the replicator cannot read the outbox; will retry");
                    }
                }
                tokio::select! {
                    _ = commits.changed() => {}
                    () = changed(&mut remote) => {}
                    () = tokio::time::sleep(FOLLOW_INTERVAL) => {}
                    _ = stop.changed() => {
                        me.save_cursor(&mut p, true).await;
                        return;
                    }
                }
            }
        })
    }

    /// Copies every primary changed since the cursor (and, now and then, those
    /// whose copies failed).
    async fn replicate_pending(&self, p: &mut Progress) -> Result<(), ApiError> {
        // Placed at start-up (`place_replicator`); the beginning of the
        // outbox only if that write was lost.
        let mut cursor = if let Some(c) = p.cursor {
            c
        } else {
            let c = self.store.delivery_cursor(CURSOR).await.map_err(internal)?;
            let c = c.unwrap_or(0);
            p.saved = (c, Instant::now());
            // A new leader takes over the failed copies the last one left.
            let kept = self.store.meta_list(RETRY_PREFIX).await.map_err(internal)?;
            p.retry = kept
                .into_iter()
                .filter_map(|(k, _)| k.strip_prefix(RETRY_PREFIX).map(str::to_string))
                .collect();
            c
        };
        loop {
            let rows = self
                .store
                .events_after(cursor, BATCH)
                .await
                .map_err(internal)?;
            let Some(last) = rows.last().map(|r| r.seq) else {
                break;
            };
            let mut arns: Vec<String> = Vec::new();
            for r in &rows {
                if let Some(arn) = secret_of(r).filter(|a| !arns.contains(a)) {
                    arns.push(arn);
                }
            }
            for arn in arns {
                let ok = self.replicate(&arn).await;
                self.keep_retry(p, &arn, !ok).await;
            }
            cursor = last;
            p.cursor = Some(cursor);
            self.save_cursor(p, false).await;
        }
        if p.retried.elapsed() >= RETRY {
            p.retried = Instant::now();
            for arn in p.retry.clone() {
                if self.replicate(&arn).await {
                    self.keep_retry(p, &arn, false).await;
                }
            }
        }
        Ok(())
    }

    /// Adds `arn` to the primaries to try again (or takes it off), in memory
    /// and in the store, where the next leader finds it.
    async fn keep_retry(&self, p: &mut Progress, arn: &str, again: bool) {
        if again == p.retry.contains(arn) {
            return;
        }
        let key = format!("{RETRY_PREFIX}{arn}");
        let kept = self.store.meta_put(&key, again.then_some("1")).await;
        if let Err(e) = kept {
            tracing::warn!(%arn, error = %e, "the replicator cannot record a copy to try again");
        }
        if again {
            p.retry.insert(arn.to_string());
        } else {
            p.retry.remove(arn);
        }
    }

    /// Gives a replicator that never ran its place: the outbox's end, before
    /// this server serves a request. Nothing before it needs copying (a
    /// secret gets replicas through a request, and every server places the
    /// replicator before serving any); a place already set stays.
    pub async fn place_replicator(&self) -> Result<(), ApiError> {
        if self
            .store
            .delivery_cursor(CURSOR)
            .await
            .map_err(internal)?
            .is_some()
        {
            return Ok(());
        }
        let latest = self.store.latest_event_seq().await.map_err(internal)?;
        self.store
            .advance_delivery(CURSOR, latest, None)
            .await
            .map_err(internal)
    }

    /// Writes the cursor down if it moved, at most every [`SAVE_EVERY`] (or now).
    async fn save_cursor(&self, p: &mut Progress, now: bool) {
        let Some(c) = p.cursor.filter(|c| *c > p.saved.0) else {
            return;
        };
        if !now && p.saved.1.elapsed() < SAVE_EVERY {
            return;
        }
        match self.store.advance_delivery(CURSOR, c, None).await {
            Ok(()) => p.saved = (c, Instant::now()),
            Err(e) => {
                tracing::warn!(error = %e, "the replicator cannot record its place; will retry");
            }
        }
    }

    /// Brings every replica of `arn` up to date; false if one should be tried again.
    pub(crate) async fn replicate(&self, arn: &str) -> bool {
        let s = match self.store.secret_by_arn_fresh(arn).await {
            Ok(Some(s)) => s,
            Ok(None) => return true,
            Err(e) => {
                tracing::warn!(%arn, error = %e, "the replicator cannot read a primary");
                return false;
            }
        };
        let regional = self.replicate_regions(&s).await;
        let cross = self.replicate_cross(&s).await;
        regional && cross
    }

    /// Brings the replicas of `s` in other regions up to date; false if one
    /// should be tried again.
    async fn replicate_regions(&self, s: &Secret) -> bool {
        let arn = &s.row.arn;
        let list = replicas(&s.row);
        if list.is_empty() {
            return true;
        }
        let mut outcomes = Vec::new();
        for r in &list {
            let o = if r.removing {
                self.remove_replica(s, r).await
            } else {
                self.copy_to(s, r).await
            };
            outcomes.push((r.clone(), o));
        }
        let done = outcomes
            .iter()
            .all(|(_, o)| !matches!(o, Outcome::Failed(_)));
        if let Err(e) = self.record_outcomes(arn, &outcomes).await {
            tracing::warn!(%arn, error = %e, "the replicator cannot record replication status");
            return false;
        }
        done
    }

    /// Makes the replica in `r.region` what `primary` is.
    async fn copy_to(&self, primary: &Secret, r: &Replica) -> Outcome {
        if let Some(o) = self.push_remote(primary, r).await {
            return o;
        }
        let scope = Scope {
            account_id: primary.row.account_id.clone(),
            region: r.region.clone(),
        };
        for _ in 0..8 {
            let desired = match self.desired(primary, r, &scope).await {
                Ok(d) => d,
                Err(o) => return o,
            };
            let overwrite = r.overwrite.then_some(r.asked_ms);
            match self
                .apply_replica(&scope, &desired, overwrite, r.asked_ms)
                .await
            {
                Err(StoreError::Conflict | StoreError::NameTaken) => {}
                Ok(o) => return o,
                Err(e) => return Outcome::Failed(format!("Replication failed: {e}")),
            }
        }
        Outcome::Failed("Replication failed: the replica kept changing; will retry".into())
    }

    /// The state the replica of `primary` in `scope` should have, with the
    /// values of the versions the replica does not have yet.
    async fn desired(
        &self,
        primary: &Secret,
        r: &Replica,
        scope: &Scope,
    ) -> Result<Desired, Outcome> {
        let arn = replica_arn(&primary.row.arn, &scope.region);
        let existing = self
            .store
            .secret_by_arn_fresh(&arn)
            .await
            .map_err(|e| Outcome::Failed(format!("Replication failed: {e}")))?;
        // A version the replica has under another key (its key changed) is
        // sealed again, so it needs its value too.
        let key = match self.keys.for_encrypt(scope, r.kms_key_id.as_deref()).await {
            Ok((k, _)) => k,
            Err(e) => {
                return Err(Outcome::Failed(format!(
                    "Replication failed: {}",
                    e.message
                )))
            }
        };
        let has = |vid: &str| {
            existing.as_ref().is_some_and(|e| {
                e.versions
                    .iter()
                    .any(|v| v.version_id == vid && v.kms_key_id == key.arn)
            })
        };
        let mut versions = Vec::new();
        for v in primary.versions.iter().filter(|v| !v.labels.is_empty()) {
            let value = if has(&v.version_id) {
                None
            } else {
                let plain = self
                    .decrypt(primary, v)
                    .await
                    .map_err(|e| Outcome::Failed(format!("Replication failed: {}", e.message)))?;
                Some(NewValue::of_stored(&v.value_kind, plain).map_err(|_| {
                    Outcome::Failed("Replication failed: a stored value is not text".into())
                })?)
            };
            versions.push(DesiredVersion {
                version_id: v.version_id.clone(),
                labels: v.labels.clone(),
                created_ms: v.created_ms,
                value,
            });
        }
        let mut row = primary.row.clone();
        row.region.clone_from(&scope.region);
        row.arn = arn;
        row.kms_key_id.clone_from(&r.kms_key_id);
        row.attrs = replica_attrs(&primary.row.attrs);
        Ok(Desired {
            of: ReplicaOf {
                primary_revision: Some(primary.row.revision),
                ..ReplicaOf::region(&primary.row.arn, &primary.row.region)
            },
            row,
            versions,
        })
    }

    /// Writes `d` as the replica in `scope`, creating it if need be (and,
    /// with `overwrite`, replacing a secret of its name that is not it).
    pub(crate) async fn apply_replica(
        &self,
        scope: &Scope,
        d: &Desired,
        overwrite: Option<i64>,
        asked_ms: i64,
    ) -> Result<Outcome, StoreError> {
        let mut existing = self.store.secret_by_arn_fresh(&d.row.arn).await?;
        if let Some(e) = existing.clone() {
            if !replica_of(&e.row).is_some_and(|o| o.same_link(&d.of)) {
                // Promoted since this replica was asked for: the primary lets
                // it go. Promoted before (the region asked for again): a
                // secret of the replica's name, like any other.
                if super::promoted_ms(&e.row).is_none_or(|p| p >= asked_ms) {
                    return Ok(Outcome::Detached);
                }
                if let Some(refused) = may_overwrite(&e.row, overwrite) {
                    return Ok(Outcome::Failed(refused));
                }
                self.purge_for_replica(&e).await?;
                existing = None;
            }
        } else if let Some(named) = self.store.secret_by_name(scope, &d.row.name).await? {
            let Some(other) = self.store.secret_by_arn_fresh(&named.row.arn).await? else {
                return Err(StoreError::Conflict);
            };
            if let Some(refused) = may_overwrite(&other.row, overwrite) {
                return Ok(Outcome::Failed(refused));
            }
            self.purge_for_replica(&other).await?;
        }
        let key = match self
            .keys
            .for_encrypt(scope, d.row.kms_key_id.as_deref())
            .await
        {
            Ok((k, _)) => k,
            Err(e) => {
                return Ok(Outcome::Failed(format!(
                    "Replication failed: {}",
                    e.message
                )))
            }
        };
        let Some(m) = plan(existing.as_deref(), d, &key, self.clock.now_ms())? else {
            return Ok(Outcome::Synced);
        };
        self.store.commit(m).await?;
        self.outbox.committed();
        Ok(Outcome::Synced)
    }

    /// Deletes a secret a replica with `ForceOverwriteReplicaSecret` replaces.
    pub(crate) async fn purge_for_replica(&self, other: &Secret) -> Result<(), StoreError> {
        let now = self.clock.now_ms();
        let m = service_mutation(
            &other.row,
            MutationOp::Purge {
                expected_revision: other.row.revision,
            },
            now,
            "DeleteSecret",
        );
        self.store.commit(m).await?;
        self.outbox.committed();
        Ok(())
    }

    /// Deletes the replica in `r.region`, if it is still `primary`'s.
    async fn remove_replica(&self, primary: &Secret, r: &Replica) -> Outcome {
        if let Some(o) = self.remove_remote(primary, r).await {
            return o;
        }
        let arn = replica_arn(&primary.row.arn, &r.region);
        for _ in 0..8 {
            let rep = match self.store.secret_by_arn_fresh(&arn).await {
                Ok(Some(rep)) => rep,
                Ok(None) => return Outcome::Removed,
                Err(e) => return Outcome::Failed(format!("Replication failed: {e}")),
            };
            if replica_of(&rep.row).is_none_or(|o| o.primary_arn != primary.row.arn) {
                return Outcome::Removed;
            }
            match self.purge_for_replica(&rep).await {
                Ok(()) => return Outcome::Removed,
                Err(StoreError::Conflict) => {}
                Err(e) => return Outcome::Failed(format!("Replication failed: {e}")),
            }
        }
        Outcome::Failed("Replication failed: the replica kept changing; will retry".into())
    }

    /// Writes what copying found into the primary's replication status, if
    /// that changes it.
    async fn record_outcomes(
        &self,
        arn: &str,
        outcomes: &[(Replica, Outcome)],
    ) -> Result<(), ApiError> {
        self.service_update(arn, |row| {
            let before = replicas(row);
            let mut list = before.clone();
            for (asked, o) in outcomes {
                apply_outcome(&mut list, asked, o);
            }
            if list == before {
                return None;
            }
            let failed = list.iter().any(|r| r.status == FAILED);
            let mut row = row.clone();
            set_replicas(&mut row, &list);
            Some((row, status_event(failed)))
        })
        .await
        .map_err(internal)
    }

    /// Rewrites the secret `arn`'s row as `edit` says, as the service, reading
    /// it again whenever another writer got there first. `edit` answers the
    /// new row and the event's name, or None when nothing changes.
    pub(crate) async fn service_update(
        &self,
        arn: &str,
        edit: impl Fn(&SecretRow) -> Option<(SecretRow, &'static str)>,
    ) -> Result<(), StoreError> {
        for _ in 0..8 {
            let Some(s) = self.store.secret_by_arn_fresh(arn).await? else {
                return Ok(());
            };
            let Some((row, name)) = edit(&s.row) else {
                return Ok(());
            };
            let op = MutationOp::Update {
                expected_revision: s.row.revision,
            };
            let m = service_mutation(&row, op, self.clock.now_ms(), name);
            match self.store.commit(m).await {
                Ok(_) => {
                    self.outbox.committed();
                    return Ok(());
                }
                Err(StoreError::Conflict) => {}
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Conflict)
    }

    /// Drops `region` from the primary `arn`'s replicas (its replica was promoted).
    pub(crate) async fn forget_replica(&self, arn: &str, region: &str) -> Result<(), ApiError> {
        let Some(s) = self
            .store
            .secret_by_arn_fresh(arn)
            .await
            .map_err(internal)?
        else {
            return Ok(());
        };
        let Some(r) = replicas(&s.row).into_iter().find(|r| r.region == region) else {
            return Ok(());
        };
        self.record_outcomes(arn, &[(r, Outcome::Detached)]).await
    }
}

/// The service event that reports a replication status.
pub(crate) fn status_event(failed: bool) -> &'static str {
    if failed {
        "ReplicationFailed"
    } else {
        "ReplicationSucceeded"
    }
}

/// The secret an outbox record is about, if it is a secret change.
fn secret_of(r: &coffer_store::EventRow) -> Option<String> {
    let body: Value = serde_json::from_str(&r.body).ok()?;
    if body["source"] != crate::events::SECRETS_SOURCE {
        return None;
    }
    body["resources"][0].as_str().map(str::to_string)
}
