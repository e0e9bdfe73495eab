//! Cross-account replicas (the 2026 model): the replica's account creates it
//! with CreateSecret's `CrossAccountPrimaryARN` and a customer-managed key; the
//! primary's account links it with AssociateCrossAccountReplica, which needs
//! `secretsmanager:AcceptCrossAccountReplication` on the replica (so both
//! accounts consent); from then on the replicator copies the primary's
//! versions and description into it, sealed under the replica's own key. The
//! replica keeps its own name, tags and policy. DisassociateCrossAccountReplica
//! (from the primary) or StopReplicationToReplica (from the replica) ends it:
//! the other side then reads `Detached`.

use super::{replica_of, ReplicaOf, IN_PROGRESS};
use crate::call::respond;
use crate::errors::internal;
use crate::identity::Grant;
use crate::secrets::{not_deleted, row_update, Secrets};
use coffer_api::types::{
    AssociateCrossAccountReplicaRequest, CreateSecretRequest, CrossAccountPrimary,
    CrossAccountReplicaEntry, CrossAccountReplicaResponse, DisassociateCrossAccountReplicaRequest,
};
use coffer_api::{validate, ApiError, ErrorCode};
use coffer_store::{Scope, SecretRow};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Where a primary keeps its cross-account replicas.
const CROSS_ATTR: &str = "CrossAccountReplicas";
pub(crate) const PENDING: &str = "Pending";
pub(crate) const DETACHED: &str = "Detached";

/// One cross-account replica of a primary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CrossReplica {
    pub replica_arn: String,
    pub role_arn: Option<String>,
    pub status: String,
    pub message: Option<String>,
}

pub(crate) fn cross_replicas(row: &SecretRow) -> Vec<CrossReplica> {
    row.attrs
        .get(CROSS_ATTR)
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default()
}

pub(super) fn set_cross_replicas(row: &mut SecretRow, list: &[CrossReplica]) {
    if !row.attrs.is_object() {
        row.attrs = json!({});
    }
    if let Some(m) = row.attrs.as_object_mut() {
        if list.is_empty() {
            m.remove(CROSS_ATTR);
        } else {
            m.insert(CROSS_ATTR.into(), json!(list));
        }
    }
}

/// (region, account) of a secret's full ARN.
fn arn_parts(arn: &str) -> Option<(&str, &str)> {
    match crate::arn::parse_secret_id(arn) {
        crate::arn::SecretRef::Arn {
            region, account, ..
        } => Some((region, account)),
        crate::arn::SecretRef::Name(_) => None,
    }
}

/// The mark CreateSecret's `CrossAccountPrimaryARN` gives the new secret, after
/// AWS's checks (None: not a cross-account replica).
pub(crate) fn replica_mark(
    req: &CreateSecretRequest,
    scope: &Scope,
) -> Result<Option<ReplicaOf>, ApiError> {
    let Some(primary) = req.cross_account_primary_arn.as_deref() else {
        return Ok(None);
    };
    validate::optional(Some(primary), "crossAccountPrimaryARN", 20, 2048)?;
    let forbidden = req.secret_string.is_some()
        || req.secret_binary.is_some()
        || req.description.is_some()
        || req.add_replica_regions.is_some()
        || req.kind.is_some();
    if forbidden {
        return Err(ApiError::invalid_param(
            "You can't include SecretString, SecretBinary, Description, AddReplicaRegions, or Type when you create a cross-account replica.",
        ));
    }
    let Some((region, account)) = arn_parts(primary) else {
        return Err(ApiError::invalid_param(
            "CrossAccountPrimaryARN must be the full ARN of a secret.",
        ));
    };
    if region != scope.region || account == scope.account_id {
        return Err(ApiError::invalid_param(
            "The primary secret must be in the same Region as the replica and in another account.",
        ));
    }
    Ok(Some(ReplicaOf {
        primary_arn: primary.to_string(),
        primary_region: region.to_string(),
        cross_account: true,
        remote: false,
        status: Some(PENDING.into()),
        message: None,
        primary_revision: None,
    }))
}

impl Secrets {
    pub(crate) async fn associate_cross_account_replica(
        &self,
        g: &Grant<'_>,
        req: AssociateCrossAccountReplicaRequest,
    ) -> Result<Vec<u8>, ApiError> {
        let arn = req.cross_account_replica_arn.as_deref();
        let replica_arn = validate::required(arn, "crossAccountReplicaARN", 20, 2048)?.to_string();
        if let Some(r) = &req.replica_restriction {
            validate::one_of(r, "replicaRestriction", &["SameOrg", "NoRestriction"])?;
        }
        let s = g.secret()?.clone();
        super::ops::not_a_replica(&s)?;
        not_deleted(&s)?;
        let (region, account) = arn_parts(&replica_arn).ok_or_else(|| {
            ApiError::invalid_param("CrossAccountReplicaARN must be the full ARN of a secret.")
        })?;
        if region != s.row.region || account == s.row.account_id {
            return Err(ApiError::invalid_param(
                "The replica secret must be in the same Region as the primary secret and in another account.",
            ));
        }
        if let Some(role) = &req.replication_role_arn {
            let own = format!("arn:aws:iam::{}:role/", s.row.account_id);
            if !role.starts_with(&own) {
                return Err(ApiError::invalid_param(
                    "ReplicationRoleARN must name a role in the primary secret's account.",
                ));
            }
        }
        let replica = self
            .store
            .secret_by_arn(&replica_arn)
            .await
            .map_err(internal)?
            .ok_or_else(ApiError::not_found)?;
        // The replica's owner said yes by creating it; the caller must be let
        // in by it (its policy) to link it.
        self.identity
            .authorize_on(g.call(), "AcceptCrossAccountReplication", &replica)
            .await?;
        let linked =
            replica_of(&replica.row).is_some_and(|o| o.cross_account && o.primary_arn == s.row.arn);
        if !linked {
            return Err(ApiError::invalid_request(format!(
                "The secret {replica_arn} isn't a cross-account replica of this primary secret."
            )));
        }
        let call = g.call();
        self.commit_with_retry(g, |s, now| {
            let mut list = cross_replicas(&s.row);
            if list
                .iter()
                .any(|c| c.replica_arn != replica_arn && c.status != DETACHED)
            {
                return Err(ApiError::new(
                    ErrorCode::LimitExceeded,
                    "A primary secret can have at most one cross-account replica.",
                ));
            }
            // Idempotent: associating again repairs (copies anew).
            list.retain(|c| c.replica_arn != replica_arn);
            list.push(CrossReplica {
                replica_arn: replica_arn.clone(),
                role_arn: req.replication_role_arn.clone(),
                status: IN_PROGRESS.into(),
                message: None,
            });
            let detail = json!({ "crossAccountReplicaARN": replica_arn });
            Ok(Some(row_update(call, s, now, detail, |row| {
                set_cross_replicas(row, &list);
            })))
        })
        .await?;
        respond(&CrossAccountReplicaResponse {
            arn: s.row.arn.clone(),
            cross_account_replica_arn: replica_arn,
            replication_status: Some(IN_PROGRESS.into()),
        })
    }

    pub(crate) async fn disassociate_cross_account_replica(
        &self,
        g: &Grant<'_>,
        req: DisassociateCrossAccountReplicaRequest,
    ) -> Result<Vec<u8>, ApiError> {
        let arn = req.cross_account_replica_arn.as_deref();
        let replica_arn = validate::required(arn, "crossAccountReplicaARN", 20, 2048)?.to_string();
        super::ops::not_a_replica(g.secret()?)?;
        let call = g.call();
        let (s, _) = self
            .commit_with_retry(g, |s, now| {
                let mut list = cross_replicas(&s.row);
                let before = list.len();
                list.retain(|c| c.replica_arn != replica_arn);
                if list.len() == before {
                    return Err(ApiError::invalid_param(format!(
                        "The secret isn't replicated to {replica_arn}."
                    )));
                }
                let detail = json!({ "crossAccountReplicaARN": replica_arn });
                Ok(Some(row_update(call, s, now, detail, |row| {
                    set_cross_replicas(row, &list);
                })))
            })
            .await?;
        if let Err(e) = self
            .mark_replica(&replica_arn, &s.row.arn, DETACHED, None)
            .await
        {
            tracing::warn!(error = %e, replica = %replica_arn, "a disassociated replica still shows its primary's status");
        }
        respond(&CrossAccountReplicaResponse {
            arn: s.row.arn.clone(),
            cross_account_replica_arn: replica_arn,
            replication_status: None,
        })
    }
}

/// DescribeSecret's view of a secret's cross-account links: (its primary, if it
/// is a replica; its replicas, if it is a primary).
pub(crate) fn describe(
    row: &SecretRow,
) -> (
    Option<CrossAccountPrimary>,
    Option<Vec<CrossAccountReplicaEntry>>,
) {
    let primary = replica_of(row)
        .filter(|o| o.cross_account)
        .map(|o| CrossAccountPrimary {
            primary_secret_arn: o.primary_arn,
            replication_status: o.status.unwrap_or_else(|| PENDING.into()),
            status_message: o.message,
        });
    let replicas: Vec<CrossAccountReplicaEntry> = cross_replicas(row)
        .into_iter()
        .map(|c| CrossAccountReplicaEntry {
            replica_secret_arn: c.replica_arn,
            replication_role_arn: c.role_arn,
            replication_status: c.status,
            status_message: c.message,
        })
        .collect();
    (primary, (!replicas.is_empty()).then_some(replicas))
}
