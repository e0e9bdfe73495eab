//! The replicator: on the fleet's leader, it follows the outbox and, for each
//! secret that changed and has replicas, makes every replica what its primary
//! is now (metadata, tags, resource policy, labelled versions sealed under the
//! replica region's key). Copying the whole state, not replaying the change,
//! makes it idempotent: a change seen twice, or after a crash, copies nothing
//! the second time. The outcome goes to the primary's replication status.

use super::{replica_arn, replica_of, replicas, set_replica_of, set_replicas, Replica, ReplicaOf};
use super::{FAILED, IN_SYNC};
use crate::audit;
use crate::context::Caller;
use crate::errors::internal;
use crate::events;
use crate::outbox::{changed, FOLLOW_INTERVAL};
use crate::secrets::{seal_version, NewValue, Secrets};
use coffer_api::ApiError;
use coffer_store::{
    Mutation, MutationOp, NewAudit, Scope, Secret, SecretRow, StoreError, VersionRow,
};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The replicator's place in the outbox.
const CURSOR: &str = "coffer:replication";
/// Events read per batch.
const BATCH: usize = 500;
/// How often copies that failed are tried again.
const RETRY: Duration = Duration::from_secs(5);
/// Who the replicator is in the audit trail.
const REPLICATOR: &str = "secretsmanager.amazonaws.com";

/// How copying to one replica went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Synced,
    Failed(String),
    /// The replica was promoted to a standalone secret: the primary forgets it.
    Detached,
    /// Removed as RemoveRegionsFromReplication asked: the entry goes.
    Removed,
}

/// What a replica should be: its primary's state. Values are carried only for
/// versions the replica lacks.
pub(crate) struct Desired {
    pub of: ReplicaOf,
    pub row: SecretRow,
    pub versions: Vec<DesiredVersion>,
}

pub(crate) struct DesiredVersion {
    pub version_id: String,
    pub labels: Vec<String>,
    pub created_ms: i64,
    pub value: Option<NewValue>,
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
            let mut retry: BTreeSet<String> = BTreeSet::new();
            let mut retried = Instant::now();
            loop {
                if me.store.lead().await.unwrap_or(false) {
                    let due = retried.elapsed() >= RETRY;
                    if let Err(e) = me.replicate_pending(&mut retry, due).await {
                        tracing::warn!(error = %e, "the replicator cannot read the outbox; will retry");
                    }
                    if due {
                        retried = Instant::now();
                    }
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

    /// Copies every primary changed since the cursor (and, when `retry_due`,
    /// those whose copies failed), then moves the cursor past them.
    async fn replicate_pending(
        &self,
        retry: &mut BTreeSet<String>,
        retry_due: bool,
    ) -> Result<(), ApiError> {
        // A replicator that never ran starts at the beginning of the outbox:
        // a secret created with replicas a moment before must not be missed.
        let mut cursor = self
            .store
            .delivery_cursor(CURSOR)
            .await
            .map_err(internal)?
            .unwrap_or(0);
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
                if self.replicate(&arn).await {
                    retry.remove(&arn);
                } else {
                    retry.insert(arn);
                }
            }
            cursor = last;
            self.store
                .advance_delivery(CURSOR, cursor, None)
                .await
                .map_err(internal)?;
        }
        if retry_due {
            for arn in retry.clone() {
                if self.replicate(&arn).await {
                    retry.remove(&arn);
                }
            }
        }
        Ok(())
    }

    /// Brings every replica of `arn` up to date; false if one should be tried again.
    pub(crate) async fn replicate(&self, arn: &str) -> bool {
        let s = match self.store.secret_by_arn(arn).await {
            Ok(Some(s)) => s,
            Ok(None) => return true,
            Err(e) => {
                tracing::warn!(%arn, error = %e, "the replicator cannot read a primary");
                return false;
            }
        };
        let list = replicas(&s.row);
        if list.is_empty() {
            return true;
        }
        let mut outcomes = Vec::new();
        for r in &list {
            let o = if r.removing {
                self.remove_replica(&s, r).await
            } else {
                self.copy_to(&s, r).await
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
        let scope = Scope {
            account_id: primary.row.account_id.clone(),
            region: r.region.clone(),
        };
        for _ in 0..8 {
            let desired = match self.desired(primary, r, &scope).await {
                Ok(d) => d,
                Err(o) => return o,
            };
            match self.apply_replica(&scope, desired, r.overwrite).await {
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
            .secret_by_arn(&arn)
            .await
            .map_err(|e| Outcome::Failed(format!("Replication failed: {e}")))?;
        let has = |vid: &str| {
            existing
                .as_ref()
                .is_some_and(|e| e.versions.iter().any(|v| v.version_id == vid))
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
                primary_arn: primary.row.arn.clone(),
                primary_region: primary.row.region.clone(),
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
        d: Desired,
        overwrite: bool,
    ) -> Result<Outcome, StoreError> {
        let existing = self.store.secret_by_arn(&d.row.arn).await?;
        if let Some(e) = &existing {
            if replica_of(&e.row).as_ref() != Some(&d.of) {
                return Ok(Outcome::Detached);
            }
        } else if let Some(other) = self.store.secret_by_name(scope, &d.row.name).await? {
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
    async fn purge_for_replica(&self, other: &Secret) -> Result<(), StoreError> {
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
        let arn = replica_arn(&primary.row.arn, &r.region);
        for _ in 0..8 {
            let rep = match self.store.secret_by_arn(&arn).await {
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
        for _ in 0..8 {
            let Some(s) = self.store.secret_by_arn(arn).await.map_err(internal)? else {
                return Ok(());
            };
            let before = replicas(&s.row);
            let mut list = before.clone();
            for (asked, o) in outcomes {
                apply_outcome(&mut list, asked, o);
            }
            if list == before {
                return Ok(());
            }
            let failed = list.iter().any(|r| r.status == FAILED);
            let name = if failed {
                "ReplicationFailed"
            } else {
                "ReplicationSucceeded"
            };
            let mut row = s.row.clone();
            set_replicas(&mut row, &list);
            let now = self.clock.now_ms();
            let m = service_mutation(
                &row,
                MutationOp::Update {
                    expected_revision: s.row.revision,
                },
                now,
                name,
            );
            match self.store.commit(m).await {
                Ok(_) => {
                    self.outbox.committed();
                    return Ok(());
                }
                Err(StoreError::Conflict) => {}
                Err(e) => return Err(internal(e)),
            }
        }
        Err(ApiError::internal())
    }

    /// Drops `region` from the primary `arn`'s replicas (its replica was promoted).
    pub(crate) async fn forget_replica(&self, arn: &str, region: &str) -> Result<(), ApiError> {
        let Some(s) = self.store.secret_by_arn(arn).await.map_err(internal)? else {
            return Ok(());
        };
        let Some(r) = replicas(&s.row).into_iter().find(|r| r.region == region) else {
            return Ok(());
        };
        self.record_outcomes(arn, &[(r, Outcome::Detached)]).await
    }
}

/// The entry `asked` was copied for takes the outcome, unless the entry changed
/// meanwhile (removed, or asked for anew): that change is copied next.
fn apply_outcome(list: &mut Vec<Replica>, asked: &Replica, o: &Outcome) {
    let Some(i) = list.iter().position(|r| r.region == asked.region) else {
        return;
    };
    if list[i].removing != asked.removing || list[i].kms_key_id != asked.kms_key_id {
        return;
    }
    match o {
        Outcome::Synced => {
            list[i].status = IN_SYNC.into();
            list[i].message = Some("Replication succeeded".into());
        }
        Outcome::Failed(m) => {
            list[i].status = FAILED.into();
            list[i].message = Some(m.clone());
        }
        Outcome::Detached | Outcome::Removed => {
            list.remove(i);
        }
    }
}

/// Why a secret of the replica's name in its region may not be replaced
/// (None: it may), in AWS's words.
fn may_overwrite(other: &SecretRow, overwrite: bool) -> Option<String> {
    let (name, region) = (&other.name, &other.region);
    if !overwrite {
        return Some(format!(
            "Replication failed: Secret name {name} already exists in region {region}."
        ));
    }
    if !replicas(other).is_empty() {
        return Some(format!(
            "Replication failed: Can't overwrite secret {name} that is currently replicated to other region(s)."
        ));
    }
    replica_of(other).map(|o| {
        format!(
            "Replication failed: Can't overwrite secret {name} that is currently replicated from {}.",
            o.primary_region
        )
    })
}

/// A replica's attributes: its primary's resource policy and rotation
/// configuration (shown, never run: only a primary rotates), no replicas.
fn replica_attrs(primary: &Value) -> Value {
    let mut out = json!({});
    if let Some(p) = primary.get(crate::attrs::POLICY_ATTR) {
        out[crate::attrs::POLICY_ATTR] = p.clone();
    }
    if let Some(r) = primary.get(crate::attrs::ATTR) {
        let mut r = r.clone();
        if let Some(m) = r.as_object_mut() {
            for k in ["DueMs", "Pending", "LastFailure"] {
                m.remove(k);
            }
        }
        out[crate::attrs::ATTR] = r;
    }
    out
}

/// The mutation that makes `existing` (None: nothing yet) what `d` says; None
/// if it is so already.
fn plan(
    existing: Option<&Secret>,
    d: Desired,
    key: &crate::keyring::KmsKey,
    now: i64,
) -> Result<Option<Mutation>, StoreError> {
    let mut row = d.row;
    set_replica_of(&mut row.attrs, Some(&d.of));
    let have: &[VersionRow] = existing.map_or(&[], |e| e.versions.as_slice());
    let mut m = service_mutation(&row, MutationOp::Create, now, "ReplicationSucceeded");
    for v in &d.versions {
        match have.iter().find(|h| h.version_id == v.version_id) {
            Some(h) if h.labels == v.labels => {}
            Some(_) => m.relabel.push((v.version_id.clone(), v.labels.clone())),
            None => {
                // Gone from the replica since its state was read: the next
                // round reads it again.
                let Some(value) = &v.value else {
                    return Err(StoreError::Conflict);
                };
                let mut sealed = seal_version(key, &row.arn, &v.version_id, value, v.created_ms)
                    .map_err(|e| StoreError::Backend(e.message))?;
                sealed.labels.clone_from(&v.labels);
                m.insert_versions.push(sealed);
            }
        }
    }
    m.delete_versions = have
        .iter()
        .filter(|h| !d.versions.iter().any(|v| v.version_id == h.version_id))
        .map(|h| h.version_id.clone())
        .collect();
    if let Some(e) = existing {
        row.id = e.row.id;
        row.revision = e.row.revision;
        row.last_accessed_ms = e.row.last_accessed_ms;
        let same = row == e.row;
        if same
            && m.relabel.is_empty()
            && m.insert_versions.is_empty()
            && m.delete_versions.is_empty()
        {
            return Ok(None);
        }
        m.op = MutationOp::Update {
            expected_revision: e.row.revision,
        };
    } else {
        row.last_accessed_ms = None;
    }
    m.secret = row;
    Ok(Some(m))
}

/// A change the service makes on its own (Secrets Manager's replication), with
/// its audit record and change event named `event_name`.
fn service_mutation(row: &SecretRow, op: MutationOp, now: i64, event_name: &str) -> Mutation {
    let system = Caller::service(
        &row.account_id,
        &row.region,
        REPLICATOR,
        "coffer-replicator",
    );
    let params = json!({ "secretId": row.arn });
    let body = audit::record(&system, event_name, now, params, None, false);
    Mutation {
        also: Vec::new(),
        op,
        event: Some(events::change(&system, now, event_name, row, json!({}))),
        audit: NewAudit {
            at_ms: now,
            body: body.to_string(),
        },
        secret: row.clone(),
        insert_versions: vec![],
        relabel: vec![],
        delete_versions: vec![],
        reseal: vec![],
        prune_before_ms: None,
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
