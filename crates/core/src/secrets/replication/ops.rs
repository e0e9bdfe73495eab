//! ReplicateSecretToRegions, RemoveRegionsFromReplication and
//! StopReplicationToReplica. Each changes what is asked for in one
//! transaction; the replicator does the copying.

use super::{
    new_replicas, region_code, replica_arn, replica_of, replicas, set_replica_of, set_replicas,
    statuses, Replica,
};
use crate::call::respond;
use crate::errors::internal;
use crate::identity::Grant;
use crate::secrets::{not_deleted, row_update, Secrets};
use coffer_api::query::null_error;
use coffer_api::types::{
    ArnNameResponse, RemoveRegionsFromReplicationRequest, ReplicaRegion,
    ReplicateSecretToRegionsRequest, ReplicationResponse, SecretIdRequest,
};
use coffer_api::ApiError;
use coffer_store::{Scope, Secret};
use serde_json::json;

/// AWS's answer to a change asked of a replica that only its primary may make.
pub(crate) fn replica_is_read_only() -> ApiError {
    ApiError::invalid_param(
        "Operation not permitted on a replica secret. Call must be made in primary secret's region.",
    )
}

pub(super) fn not_a_replica(s: &Secret) -> Result<(), ApiError> {
    match replica_of(&s.row) {
        Some(_) => Err(replica_is_read_only()),
        None => Ok(()),
    }
}

impl Secrets {
    pub(crate) async fn replicate_secret_to_regions(
        &self,
        g: &Grant<'_>,
        req: ReplicateSecretToRegionsRequest,
    ) -> Result<Vec<u8>, ApiError> {
        let asked = req.add_replica_regions.unwrap_or_default();
        if asked.is_empty() {
            return Err(null_error("addReplicaRegions"));
        }
        let s = g.secret()?.clone();
        not_a_replica(&s)?;
        not_deleted(&s)?;
        let overwrite = req.force_overwrite_replica_secret.unwrap_or(false);
        let served = |r: &str| self.serves_region(r);
        // Taken before authorizing: a secret created after it is not one the
        // caller was authorized to overwrite.
        let asked_at = self.clock.now_ms();
        let existing = replicas(&s.row);
        let added = new_replicas(
            &s.row.region,
            &existing,
            &asked,
            overwrite,
            asked_at,
            &served,
        )?;
        self.authorize_replicas(g, &s.row, &added).await?;
        let call = g.call();
        let mut after = Vec::new();
        let (s, _) = self
            .commit_with_retry(g, |s, now| {
                not_a_replica(s)?;
                not_deleted(s)?;
                let mut list = replicas(&s.row);
                let fresh =
                    new_replicas(&s.row.region, &list, &asked, overwrite, asked_at, &served)?;
                // An entry being removed is replaced: the replicator finishes
                // the removal before it copies again.
                list.retain(|r| !fresh.iter().any(|f| f.region == r.region));
                list.extend(fresh);
                let regions: Vec<&str> = asked.iter().filter_map(|r| r.region.as_deref()).collect();
                after.clone_from(&list);
                Ok(Some(row_update(
                    call,
                    s,
                    now,
                    json!({ "replicaRegions": regions }),
                    |row| set_replicas(row, &list),
                )))
            })
            .await?;
        self.respond_replication(&s, &after).await
    }

    /// What else the caller needs for new replicas of `primary` in this
    /// deployment: the use of each replica's key (AWS: `kms:GenerateDataKey`
    /// on a customer key), and, to overwrite a secret of the same name there,
    /// `secretsmanager:DeleteSecret` on it. Remote regions authorize their
    /// own side when the replica is pushed.
    pub(crate) async fn authorize_replicas(
        &self,
        g: &Grant<'_>,
        primary: &coffer_store::SecretRow,
        added: &[Replica],
    ) -> Result<(), ApiError> {
        for r in added.iter().filter(|r| !self.remotes.serves(&r.region)) {
            let scope = Scope {
                account_id: primary.account_id.clone(),
                region: r.region.clone(),
            };
            let arn = replica_arn(&primary.arn, &r.region);
            self.sealing_key(g.call().caller, &scope, r.kms_key_id.as_deref(), &arn)
                .await?;
            if !r.overwrite {
                continue;
            }
            // Any secret of the name but this primary's own replica: one
            // promoted from it included.
            let named = self.store.secret_by_name(&scope, &primary.name).await;
            let ours =
                |o: &Secret| replica_of(&o.row).is_some_and(|of| of.primary_arn == primary.arn);
            if let Some(other) = named.map_err(internal)?.filter(|o| !ours(o)) {
                self.identity
                    .authorize_on(g.call(), "DeleteSecret", &other)
                    .await?;
            }
        }
        Ok(())
    }

    pub(crate) async fn remove_regions_from_replication(
        &self,
        g: &Grant<'_>,
        req: RemoveRegionsFromReplicationRequest,
    ) -> Result<Vec<u8>, ApiError> {
        let asked = req.remove_replica_regions.unwrap_or_default();
        if asked.is_empty() {
            return Err(null_error("removeReplicaRegions"));
        }
        for (i, r) in asked.iter().enumerate() {
            region_code(r, &format!("removeReplicaRegions.{}.member", i + 1))?;
        }
        not_a_replica(g.secret()?)?;
        let call = g.call();
        let mut after = Vec::new();
        let (s, _) = self
            .commit_with_retry(g, |s, now| {
                not_a_replica(s)?;
                let mut list = replicas(&s.row);
                // A region the secret is not replicated to is nothing to
                // remove: the call can be repeated.
                for r in list.iter_mut().filter(|r| asked.contains(&r.region)) {
                    r.removing = true;
                }
                after.clone_from(&list);
                Ok(Some(row_update(
                    call,
                    s,
                    now,
                    json!({ "replicaRegions": asked }),
                    |row| set_replicas(row, &list),
                )))
            })
            .await?;
        self.respond_replication(&s, &after).await
    }

    /// Promotes a replica to a standalone secret: it keeps its versions, and
    /// its primary stops copying to it.
    pub(crate) async fn stop_replication_to_replica(
        &self,
        g: &Grant<'_>,
        _req: SecretIdRequest,
    ) -> Result<Vec<u8>, ApiError> {
        let call = g.call();
        let mut primary = None;
        let (s, _) = self
            .commit_with_retry(g, |s, now| {
                let Some(of) = replica_of(&s.row) else {
                    return Err(ApiError::invalid_request(
                        "This secret isn't a replica secret. You can only promote a replica secret.",
                    ));
                };
                primary = Some(of);
                Ok(Some(row_update(call, s, now, json!({}), |row| {
                    set_replica_of(&mut row.attrs, None);
                    super::set_promoted(&mut row.attrs, now);
                    row.last_changed_ms = now;
                })))
            })
            .await?;
        if let Some(of) = primary {
            // The primary forgets the replica now (a cross-account one reads
            // Detached); should this fail, the replicator finds the replica
            // promoted and does it then.
            let told = if of.cross_account {
                self.detach_cross(&of.primary_arn, &s.row.arn).await
            } else {
                self.forget_replica(&of.primary_arn, &s.row.region).await
            };
            if let Err(e) = told {
                tracing::warn!(error = %e, primary = %of.primary_arn, "a promoted replica's primary still lists it");
            }
        }
        respond(&ArnNameResponse {
            arn: s.row.arn.clone(),
            name: s.row.name.clone(),
        })
    }

    /// The answer of a replication operation: the primary's replicas as
    /// `list` (what it committed) has them.
    async fn respond_replication(&self, s: &Secret, list: &[Replica]) -> Result<Vec<u8>, ApiError> {
        let mut now = Secret {
            row: s.row.clone(),
            versions: Vec::new(),
        };
        set_replicas(&mut now.row, list);
        respond(&ReplicationResponse {
            arn: s.row.arn.clone(),
            replication_status: self.replication_statuses(&now).await?,
        })
    }

    /// A primary's replicas, with the day each was last read in its region.
    pub(crate) async fn replication_statuses(
        &self,
        s: &Secret,
    ) -> Result<Vec<coffer_api::types::ReplicationStatus>, ApiError> {
        let mut accessed = std::collections::HashMap::new();
        for r in replicas(&s.row) {
            if r.removing || self.remotes.serves(&r.region) {
                continue;
            }
            let arn = replica_arn(&s.row.arn, &r.region);
            if let Some(rep) = self.store.secret_by_arn(&arn).await.map_err(internal)? {
                let day = self
                    .access
                    .last_day(rep.row.id, None, rep.row.last_accessed_ms);
                accessed.insert(r.region.clone(), day);
            }
        }
        Ok(statuses(&s.row, |region| {
            accessed.get(region).copied().flatten()
        }))
    }
}

impl Secrets {
    /// CreateSecret's AddReplicaRegions, checked before the secret exists.
    pub(crate) fn replicas_for_create(
        &self,
        own_region: &str,
        asked: Option<&Vec<ReplicaRegion>>,
        overwrite: bool,
    ) -> Result<Vec<Replica>, ApiError> {
        let asked = asked.map_or(&[][..], Vec::as_slice);
        let now = self.clock.now_ms();
        new_replicas(own_region, &[], asked, overwrite, now, &|r| {
            self.serves_region(r)
        })
    }

    /// Whether replicas may go to `region`: one this deployment serves, or a
    /// remote region.
    fn serves_region(&self, region: &str) -> bool {
        self.remotes.serves(region)
            || self
                .local_regions
                .as_ref()
                .is_none_or(|l| l.iter().any(|r| r == region))
    }
}

/// AWS refuses to delete a primary that has replicas: they go first. Replicas
/// being removed do not count for a deletion with a recovery window (the
/// replicator goes on removing them while the secret waits), but do for a
/// forced one, which would leave them with no primary to remove them.
pub(crate) fn no_replicas_left(s: &Secret, force: bool) -> Result<(), ApiError> {
    let cross: Vec<String> = super::cross::cross_replicas(&s.row)
        .into_iter()
        .filter(|c| c.status != super::cross::DETACHED)
        .map(|c| c.replica_arn)
        .collect();
    if !cross.is_empty() {
        return Err(ApiError::invalid_param(format!(
            "You can't delete secret {} that still has cross-account replicas [{}]. Disassociate them first.",
            s.row.arn,
            cross.join(", ")
        )));
    }
    let list = replicas(&s.row);
    let regions: Vec<&str> = list
        .iter()
        .filter(|r| force || !r.removing)
        .map(|r| r.region.as_str())
        .collect();
    if regions.is_empty() {
        return Ok(());
    }
    Err(ApiError::invalid_param(format!(
        "You can't delete secret {} that still has replica regions [{}].",
        s.row.arn,
        regions.join(", ")
    )))
}
