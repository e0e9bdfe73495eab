//! Replication of secrets to other regions, as AWS's multi-Region secrets: a
//! primary lists its replicas in its attributes; each replica is a read-only
//! copy in its region (same name, same ARN but for the region) that names its
//! primary. The operations (`ops.rs`) change what the primary asks for; the
//! replicator (`sync.rs`), following the outbox on the fleet's leader, makes
//! each replica what its primary is, and reports how that went in the
//! primary's replication status.

pub(crate) mod cross;
mod cross_sync;
mod inbound;
mod ops;
mod plan;
pub mod remote;
mod sync;

pub(crate) use ops::{no_replicas_left, replica_is_read_only};

use coffer_api::types::{ReplicaRegion, ReplicationStatus, Timestamp};
use coffer_api::{validate, ApiError};
use coffer_store::SecretRow;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Where a primary keeps its replicas.
const REPLICAS_ATTR: &str = "Replicas";
/// Where a replica names its primary.
const REPLICA_OF_ATTR: &str = "ReplicaOf";
/// When a replica was promoted to a standalone secret.
const PROMOTED_ATTR: &str = "PromotedMs";

pub(crate) const IN_PROGRESS: &str = "InProgress";
pub(crate) const IN_SYNC: &str = "InSync";
pub(crate) const FAILED: &str = "Failed";

/// One replica a primary asks for, and how its last copy went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Replica {
    pub region: String,
    /// The key the replica is sealed with, as the caller named it (None: the
    /// region's `aws/secretsmanager`).
    pub kms_key_id: Option<String>,
    pub status: String,
    pub message: Option<String>,
    /// Replace a secret of the same name in the region (ForceOverwriteReplicaSecret).
    #[serde(default)]
    pub overwrite: bool,
    /// When it was asked for: only a secret that existed then, whose deletion
    /// the caller was authorized for, may be overwritten.
    #[serde(default)]
    pub asked_ms: i64,
    /// RemoveRegionsFromReplication asked for it to go: the replicator deletes
    /// the replica, then the entry. Hidden from callers meanwhile.
    #[serde(default)]
    pub removing: bool,
}

/// What a replica knows of its primary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ReplicaOf {
    pub primary_arn: String,
    pub primary_region: String,
    /// A cross-account replica (same region, another account), created by its
    /// own account and followed once the primary's owner associates it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cross_account: bool,
    /// Pushed by another deployment's replicator (a remote region's replica),
    /// which alone may change it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub remote: bool,
    /// A cross-account replica's status (`Pending` until associated) and message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The primary's revision this copy was made from: a copy of an older
    /// one (a push delayed in flight, two leaders for a moment) is not
    /// written over it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_revision: Option<i64>,
}

impl ReplicaOf {
    /// The same primary, the same way (whatever revision each copy is of).
    pub(crate) fn same_link(&self, other: &ReplicaOf) -> bool {
        ReplicaOf {
            primary_revision: other.primary_revision,
            ..self.clone()
        } == *other
    }

    /// A cross-region replica's mark.
    pub(crate) fn region(primary_arn: &str, primary_region: &str) -> ReplicaOf {
        ReplicaOf {
            primary_arn: primary_arn.to_string(),
            primary_region: primary_region.to_string(),
            cross_account: false,
            remote: false,
            status: None,
            message: None,
            primary_revision: None,
        }
    }
}

pub(crate) fn replicas(row: &SecretRow) -> Vec<Replica> {
    row.attrs
        .get(REPLICAS_ATTR)
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default()
}

/// Replaces the replica list (none: the attribute goes).
pub(crate) fn set_replicas(row: &mut SecretRow, list: &[Replica]) {
    set_attr(
        &mut row.attrs,
        REPLICAS_ATTR,
        (!list.is_empty()).then(|| json!(list)),
    );
}

pub(crate) fn replica_of(row: &SecretRow) -> Option<ReplicaOf> {
    serde_json::from_value(row.attrs.get(REPLICA_OF_ATTR)?.clone()).ok()
}

pub(crate) fn set_replica_of(attrs: &mut Value, of: Option<&ReplicaOf>) {
    set_attr(attrs, REPLICA_OF_ATTR, of.map(|o| json!(o)));
}

/// Marks a replica promoted (StopReplicationToReplica) at `now`.
pub(crate) fn set_promoted(attrs: &mut Value, now: i64) {
    set_attr(attrs, PROMOTED_ATTR, Some(json!(now)));
}

/// When the secret was promoted from a replica (None: it never was).
pub(crate) fn promoted_ms(row: &SecretRow) -> Option<i64> {
    row.attrs.get(PROMOTED_ATTR).and_then(Value::as_i64)
}

fn set_attr(attrs: &mut Value, key: &str, v: Option<Value>) {
    if !attrs.is_object() {
        *attrs = json!({});
    }
    if let Some(m) = attrs.as_object_mut() {
        match v {
            Some(v) => m.insert(key.into(), v),
            None => m.remove(key),
        };
    }
}

/// The region of the secret's primary, for a secret that is replicated (a
/// primary with replicas, or a replica); None for one that is not, as AWS.
pub(crate) fn primary_region(row: &SecretRow) -> Option<String> {
    if let Some(of) = replica_of(row).filter(|o| !o.cross_account) {
        return Some(of.primary_region);
    }
    replicas(row)
        .iter()
        .any(|r| !r.removing)
        .then(|| row.region.clone())
}

/// The ARN the replica of `primary_arn` has in `region`: the same but for the region.
pub(crate) fn replica_arn(primary_arn: &str, region: &str) -> String {
    let account = match crate::arn::parse_secret_id(primary_arn) {
        crate::arn::SecretRef::Arn { account, .. } => account,
        crate::arn::SecretRef::Name(_) => "",
    };
    crate::arn::elsewhere(primary_arn, account, region).unwrap_or_else(|| primary_arn.to_string())
}

/// The primary's replicas as callers see them; `accessed` gives a replica's
/// last-accessed day, if it was ever read.
pub(crate) fn statuses(
    row: &SecretRow,
    accessed: impl Fn(&str) -> Option<i64>,
) -> Vec<ReplicationStatus> {
    replicas(row)
        .into_iter()
        .filter(|r| !r.removing)
        .map(|r| ReplicationStatus {
            last_accessed_date: accessed(&r.region).map(Timestamp),
            // AWS names the default key by its alias here.
            kms_key_id: r
                .kms_key_id
                .unwrap_or_else(|| "alias/aws/secretsmanager".into()),
            region: r.region,
            status: r.status,
            status_message: r.message,
        })
        .collect()
}

/// Checks the regions a caller asks to replicate to and makes their entries:
/// each a valid region code, not the primary's own, not asked twice, not
/// replicated already (but for a failed replica, which is tried anew).
pub(crate) fn new_replicas(
    own_region: &str,
    existing: &[Replica],
    asked: &[ReplicaRegion],
    overwrite: bool,
    now: i64,
    served: &dyn Fn(&str) -> bool,
) -> Result<Vec<Replica>, ApiError> {
    let mut out: Vec<Replica> = Vec::new();
    for (i, r) in asked.iter().enumerate() {
        let region = r.region.as_deref().unwrap_or_default();
        region_code(
            region,
            &format!("addReplicaRegions.{}.member.region", i + 1),
        )?;
        if !served(region) && region != own_region {
            return Err(ApiError::invalid_param(format!(
                "Invalid replica region. This deployment neither serves {region} nor has it configured as a remote region."
            )));
        }
        if let Some(k) = &r.kms_key_id {
            validate::optional(Some(k), "kmsKeyId", 0, 2048)?;
        }
        if region == own_region {
            return Err(ApiError::invalid_param("Invalid replica region."));
        }
        if out.iter().any(|o| o.region == region) {
            return Err(ApiError::invalid_param(format!(
                "Invalid replica regions. Region {region} is specified more than once."
            )));
        }
        // A failed replica may be asked for again (the console's "retry").
        if existing
            .iter()
            .any(|e| e.region == region && !e.removing && e.status != FAILED)
        {
            return Err(ApiError::invalid_param(format!(
                "Invalid replica region. The secret is already replicated to {region}."
            )));
        }
        out.push(Replica {
            region: region.to_string(),
            kms_key_id: r.kms_key_id.clone().filter(|k| !k.is_empty()),
            status: IN_PROGRESS.into(),
            message: None,
            overwrite,
            asked_ms: now,
            removing: false,
        });
    }
    Ok(out)
}

/// A region code as the model constrains it: `^([a-z]+-)+\d+$`, 1 to 128 characters.
pub(crate) fn region_code(region: &str, member: &str) -> Result<(), ApiError> {
    let (words, number) = region.rsplit_once('-').unwrap_or(("", region));
    let ok = region.len() <= 128
        && !words.is_empty()
        && words
            .split('-')
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
        && !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit());
    if ok {
        return Ok(());
    }
    Err(ApiError::new(
        coffer_api::ErrorCode::Validation,
        format!(
            "1 validation error detected: Value '{region}' at '{member}' failed to satisfy constraint: Member must satisfy regular expression pattern: ^([a-z]+-)+\\d+$"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_codes() {
        for ok in ["us-east-1", "eu-west-3", "us-gov-west-1", "local-1"] {
            assert!(region_code(ok, "m").is_ok(), "{ok}");
        }
        for bad in [
            "",
            "us-east",
            "US-east-1",
            "us--east-1",
            "-1",
            "us-east-1a",
            "1",
        ] {
            assert!(region_code(bad, "m").is_err(), "{bad}");
        }
    }

    #[test]
    fn replica_arns_differ_in_region_only() {
        assert_eq!(
            replica_arn(
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:a/b-AbCdEf",
                "eu-west-1"
            ),
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:a/b-AbCdEf"
        );
    }
}
