//! What a replica should be and the mutation that makes it so: planned from
//! the primary's state, applied the same way whether the primary is in this
//! deployment or pushed from another one.

use super::{replica_of, replicas, set_replica_of, Replica, ReplicaOf, FAILED, IN_SYNC};
use crate::audit;
use crate::context::Caller;
use crate::events;
use crate::secrets::{seal_version, NewValue};
use coffer_store::{Mutation, MutationOp, NewAudit, Secret, SecretRow, StoreError, VersionRow};
use serde_json::{json, Value};

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

/// The entry `asked` was copied for takes the outcome, unless the entry changed
/// meanwhile (removed, or asked for anew): that change is copied next.
pub(crate) fn apply_outcome(list: &mut Vec<Replica>, asked: &Replica, o: &Outcome) {
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
/// (None: it may), in AWS's words. `overwrite` is when overwriting was asked
/// for (None: it was not): a secret created since was not part of what the
/// caller was authorized to delete, and stays.
pub(crate) fn may_overwrite(other: &SecretRow, overwrite: Option<i64>) -> Option<String> {
    let (name, region) = (&other.name, &other.region);
    if overwrite.is_none_or(|asked| other.created_ms > asked) {
        return Some(format!(
            "Replication failed: Secret name {name} already exists in region {region}."
        ));
    }
    if !replicas(other).is_empty() || !super::cross::cross_replicas(other).is_empty() {
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
pub(crate) fn replica_attrs(primary: &Value) -> Value {
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
pub(crate) fn plan(
    existing: Option<&Secret>,
    d: &Desired,
    key: &crate::keyring::KmsKey,
    now: i64,
) -> Result<Option<Mutation>, StoreError> {
    let held = existing
        .and_then(|e| replica_of(&e.row))
        .and_then(|o| o.primary_revision);
    if let (Some(held), Some(incoming)) = (held, d.of.primary_revision) {
        if incoming < held {
            // A newer state of the primary is there already (a copy delayed
            // in flight, or two leaders for a moment).
            tracing::info!(replica = %d.row.arn, incoming, held, "an older copy of the primary was not written over a newer one");
            return Ok(None);
        }
    }
    let mut row = d.row.clone();
    set_replica_of(&mut row.attrs, Some(&d.of));
    let have: &[VersionRow] = existing.map_or(&[], |e| e.versions.as_slice());
    let mut m = service_mutation(&row, MutationOp::Create, now, "ReplicationSucceeded");
    for v in &d.versions {
        let h = have.iter().find(|h| h.version_id == v.version_id);
        if h.is_some_and(|h| h.labels == v.labels && h.kms_key_id == key.arn) {
            continue;
        }
        if h.is_some_and(|h| h.labels != v.labels) {
            m.relabel.push((v.version_id.clone(), v.labels.clone()));
        }
        if h.is_some_and(|h| h.kms_key_id == key.arn) {
            continue;
        }
        // New to the replica, or under the key it had before: sealed under
        // its key now. Without a value (the replica changed since its state
        // was read), the next round reads it again.
        let Some(value) = &v.value else {
            return Err(StoreError::Conflict);
        };
        let created = h.map_or(v.created_ms, |h| h.created_ms);
        let mut sealed = seal_version(key, &row.arn, &v.version_id, value, created)
            .map_err(|e| StoreError::Backend(e.message))?;
        if let Some(h) = h {
            m.reseal.push(VersionRow {
                kms_key_id: sealed.kms_key_id,
                wrapped_data_key: sealed.wrapped_data_key,
                ciphertext: sealed.ciphertext,
                ..h.clone()
            });
        } else {
            sealed.labels.clone_from(&v.labels);
            m.insert_versions.push(sealed);
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
        // A newer primary revision alone is written too: what the replica
        // holds must say which state it is, or a delayed older copy with
        // other content would pass the check above.
        let same = row == e.row;
        if same
            && m.relabel.is_empty()
            && m.reseal.is_empty()
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
pub(crate) fn service_mutation(
    row: &SecretRow,
    op: MutationOp,
    now: i64,
    event_name: &str,
) -> Mutation {
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

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_store::conformance::{secret_row, version};

    fn replica(held: Option<i64>, key: &crate::keyring::KmsKey) -> Secret {
        let mut row = secret_row("123456789012", "db");
        row.id = 7;
        row.revision = 3;
        let of = ReplicaOf {
            primary_revision: held,
            ..ReplicaOf::region(
                "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf",
                "eu-west-1",
            )
        };
        set_replica_of(&mut row.attrs, Some(&of));
        let mut v = version("v1", &["AWSCURRENT"]);
        v.kms_key_id.clone_from(&key.arn);
        Secret {
            row,
            versions: vec![v],
        }
    }

    fn desired(revision: i64, description: &str) -> Desired {
        let mut row = secret_row("123456789012", "db");
        row.description = Some(description.into());
        Desired {
            of: ReplicaOf {
                primary_revision: Some(revision),
                ..ReplicaOf::region(
                    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf",
                    "eu-west-1",
                )
            },
            row,
            versions: vec![DesiredVersion {
                version_id: "v1".into(),
                labels: vec!["AWSCURRENT".into()],
                created_ms: 1_000,
                value: None,
            }],
        }
    }

    #[test]
    fn an_older_state_of_the_primary_is_not_written_over_a_newer_one() {
        let key = crate::keyring::KmsKey {
            arn: "arn:aws:kms:us-east-1:123456789012:key/k".into(),
            key: coffer_crypto::Key256::random(),
            material: None,
        };
        let mut held = replica(Some(7), &key);
        held.row.description = Some("seven".into());
        let stale = plan(Some(&held), &desired(5, "five"), &key, 1).unwrap();
        assert!(stale.is_none(), "revision 5 arrives after 7: not written");
        let newer = plan(Some(&held), &desired(8, "eight"), &key, 1).unwrap();
        let m = newer.expect("revision 8 is written");
        assert_eq!(m.secret.description.as_deref(), Some("eight"));
        assert_eq!(
            replica_of(&m.secret).and_then(|o| o.primary_revision),
            Some(8)
        );
        // Only the primary's revision moved: written, so that a delayed copy
        // of revision 8 is refused after it.
        let moved = plan(Some(&held), &desired(9, "seven"), &key, 1)
            .unwrap()
            .expect("the newer revision is recorded");
        let mut after = held.clone();
        after.row = moved.secret;
        assert!(plan(Some(&after), &desired(8, "eight"), &key, 1)
            .unwrap()
            .is_none());
        assert!(
            plan(Some(&after), &desired(9, "seven"), &key, 1)
                .unwrap()
                .is_none(),
            "the same state again: nothing to write"
        );
        // A replica from before revisions were kept takes any state.
        let mut old = replica(None, &key);
        old.row.description = Some("seven".into());
        assert!(plan(Some(&old), &desired(1, "one"), &key, 1)
            .unwrap()
            .is_some());
    }
}
