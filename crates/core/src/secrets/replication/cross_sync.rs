//! The replicator's part of cross-account replication: copying a primary's
//! versions and description into its associated replica (under the replica's
//! own key), and keeping both sides' statuses.

use super::cross::{cross_replicas, set_cross_replicas, CrossReplica, DETACHED};
use super::plan::{plan, Desired, DesiredVersion, Outcome};
use super::sync::status_event;
use super::{replica_of, set_replica_of, FAILED, IN_SYNC};
use crate::errors::internal;
use crate::secrets::{NewValue, Secrets};
use coffer_api::ApiError;
use coffer_store::{Scope, Secret, StoreError};

impl Secrets {
    /// Sets a cross-account replica's status (if it is still `primary_arn`'s).
    pub(super) async fn mark_replica(
        &self,
        replica_arn: &str,
        primary_arn: &str,
        status: &str,
        message: Option<&str>,
    ) -> Result<(), StoreError> {
        self.service_update(replica_arn, |row| {
            let mut of = replica_of(row).filter(|o| o.primary_arn == primary_arn)?;
            if of.status.as_deref() == Some(status) && of.message.as_deref() == message {
                return None;
            }
            of.status = Some(status.into());
            of.message = message.map(str::to_string);
            let mut row = row.clone();
            set_replica_of(&mut row.attrs, Some(&of));
            Some((row, status_event(status == FAILED)))
        })
        .await
    }

    /// The replicator's part: copies `s` into each cross-account replica it
    /// is associated with; false if one should be tried again.
    pub(crate) async fn replicate_cross(&self, s: &Secret) -> bool {
        let list = cross_replicas(&s.row);
        let mut outcomes = Vec::new();
        for c in list.iter().filter(|c| c.status != DETACHED) {
            let o = self.copy_cross(s, c).await;
            if let Outcome::Failed(m) = &o {
                let _ = self
                    .mark_replica(&c.replica_arn, &s.row.arn, FAILED, Some(m))
                    .await;
            }
            outcomes.push((c.replica_arn.clone(), o));
        }
        let done = outcomes
            .iter()
            .all(|(_, o)| !matches!(o, Outcome::Failed(_)));
        if outcomes.is_empty() {
            return true;
        }
        match self.record_cross(&s.row.arn, &outcomes).await {
            Ok(()) => done,
            Err(e) => {
                tracing::warn!(arn = %s.row.arn, error = %e, "the replicator cannot record cross-account status");
                false
            }
        }
    }

    async fn copy_cross(&self, primary: &Secret, c: &CrossReplica) -> Outcome {
        for _ in 0..8 {
            let rep = match self.store.secret_by_arn_fresh(&c.replica_arn).await {
                Ok(Some(r)) => r,
                Ok(None) => {
                    return Outcome::Failed(
                        "Replication failed: the replica secret no longer exists.".into(),
                    )
                }
                Err(e) => return Outcome::Failed(format!("Replication failed: {e}")),
            };
            let Some(mut of) = replica_of(&rep.row)
                .filter(|o| o.cross_account && o.primary_arn == primary.row.arn)
            else {
                return Outcome::Detached;
            };
            of.status = Some(IN_SYNC.into());
            of.message = None;
            of.primary_revision = Some(primary.row.revision);
            let mut versions = Vec::new();
            for v in primary.versions.iter().filter(|v| !v.labels.is_empty()) {
                let has = rep.versions.iter().any(|h| h.version_id == v.version_id);
                let value = if has {
                    None
                } else {
                    let plain = match self.decrypt(primary, v).await {
                        Ok(p) => p,
                        Err(e) => {
                            return Outcome::Failed(format!("Replication failed: {}", e.message))
                        }
                    };
                    NewValue::of_stored(&v.value_kind, plain).ok()
                };
                versions.push(DesiredVersion {
                    version_id: v.version_id.clone(),
                    labels: v.labels.clone(),
                    created_ms: v.created_ms,
                    value,
                });
            }
            let mut row = rep.row.clone();
            row.description.clone_from(&primary.row.description);
            row.last_changed_ms = primary.row.last_changed_ms;
            let scope = Scope {
                account_id: rep.row.account_id.clone(),
                region: rep.row.region.clone(),
            };
            let key = match self
                .keys
                .for_encrypt(&scope, rep.row.kms_key_id.as_deref())
                .await
            {
                Ok((k, _)) => k,
                Err(e) => return Outcome::Failed(format!("Replication failed: {}", e.message)),
            };
            let d = Desired { of, row, versions };
            let m = match plan(Some(&rep), &d, &key, self.clock.now_ms()) {
                Ok(Some(m)) => m,
                Ok(None) => return Outcome::Synced,
                Err(StoreError::Conflict) => continue,
                Err(e) => return Outcome::Failed(format!("Replication failed: {e}")),
            };
            match self.store.commit(m).await {
                Ok(_) => {
                    self.outbox.committed();
                    return Outcome::Synced;
                }
                Err(StoreError::Conflict) => {}
                Err(e) => return Outcome::Failed(format!("Replication failed: {e}")),
            }
        }
        Outcome::Failed("Replication failed: the replica kept changing; will retry".into())
    }

    /// Writes what copying found into the primary's cross-account status.
    async fn record_cross(
        &self,
        arn: &str,
        outcomes: &[(String, Outcome)],
    ) -> Result<(), ApiError> {
        self.service_update(arn, |row| {
            let before = cross_replicas(row);
            let mut list = before.clone();
            for (replica, o) in outcomes {
                let Some(c) = list.iter_mut().find(|c| &c.replica_arn == replica) else {
                    continue;
                };
                (c.status, c.message) = match o {
                    Outcome::Synced => (IN_SYNC.into(), Some("Replication succeeded".into())),
                    Outcome::Failed(m) => (FAILED.into(), Some(m.clone())),
                    Outcome::Detached | Outcome::Removed => (DETACHED.into(), None),
                };
            }
            if list == before {
                return None;
            }
            let failed = list.iter().any(|c| c.status == FAILED);
            let mut row = row.clone();
            set_cross_replicas(&mut row, &list);
            Some((row, status_event(failed)))
        })
        .await
        .map_err(internal)
    }

    /// A promoted cross-account replica: its primary reads `Detached`.
    pub(crate) async fn detach_cross(
        &self,
        primary_arn: &str,
        replica_arn: &str,
    ) -> Result<(), ApiError> {
        self.record_cross(primary_arn, &[(replica_arn.to_string(), Outcome::Detached)])
            .await
    }
}
