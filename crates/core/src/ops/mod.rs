//! The Secrets Manager operations, one file per family, their dispatch, and what
//! they share.

mod create;
mod delete;
mod list;
mod policy;
mod random;
mod read;
mod rotate;
mod stage;
mod tags;
mod write;

use crate::authz::Grant;
use crate::events;
use crate::internal;
use crate::keyring::{display_key_id, KmsKey};
use crate::labels::LabelMap;
use crate::service::{Call, Service};
use coffer_api::types::{SecretMetadata, Sensitive, Tag, Timestamp};
use coffer_api::{validate, ApiError, SecretsManagerOperation};
use coffer_crypto::SecretBytes;
use coffer_store::{Mutation, MutationOp, Secret, SecretRow, VersionRow};
use serde_json::Value;
use std::collections::BTreeMap;

impl Service {
    /// Runs an authorized operation. The match is exhaustive and has no
    /// catch-all: an operation added to the model's enum without a handler here
    /// does not compile, and no handler can be called without a [`Grant`].
    pub(crate) async fn dispatch(
        &self,
        g: &Grant<'_>,
        op: SecretsManagerOperation,
    ) -> Result<Vec<u8>, ApiError> {
        use SecretsManagerOperation as Op;
        match op {
            Op::BatchGetSecretValue(r) => self.batch_get_secret_value(g, r).await,
            Op::CancelRotateSecret(r) => self.cancel_rotate_secret(g, r).await,
            Op::CreateSecret(r) => self.create_secret(g, r).await,
            Op::DeleteResourcePolicy(r) => self.delete_resource_policy(g, r).await,
            Op::DeleteSecret(r) => self.delete_secret(g, r).await,
            Op::DescribeSecret(r) => self.describe_secret(g, r).await,
            Op::GetRandomPassword(r) => self.get_random_password(g, r),
            Op::GetResourcePolicy(r) => self.get_resource_policy(g, r).await,
            Op::GetSecretValue(r) => self.get_secret_value(g, r).await,
            Op::ListSecretVersionIds(r) => self.list_secret_version_ids(g, r).await,
            Op::ListSecrets(r) => self.list_secrets(g, r).await,
            Op::PutResourcePolicy(r) => self.put_resource_policy(g, r).await,
            Op::PutSecretValue(r) => self.put_secret_value(g, r).await,
            Op::RestoreSecret(r) => self.restore_secret(g, r).await,
            Op::RotateSecret(r) => self.rotate_secret(g, r).await,
            Op::TagResource(r) => self.tag_resource(g, r).await,
            Op::UntagResource(r) => self.untag_resource(g, r).await,
            Op::UpdateSecret(r) => self.update_secret(g, r).await,
            Op::UpdateSecretVersionStage(r) => self.update_secret_version_stage(g, r).await,
            Op::ValidateResourcePolicy(r) => self.validate_resource_policy(g, r).await,
            // Not served: authorization refuses these before dispatch, with a
            // clear answer; reaching here would be a bug.
            Op::AssociateCrossAccountReplica(_)
            | Op::DisassociateCrossAccountReplica(_)
            | Op::ListResourcePolicies(_)
            | Op::RemoveRegionsFromReplication(_)
            | Op::ReplicateSecretToRegions(_)
            | Op::StopReplicationToReplica(_) => Err(ApiError::internal()),
        }
    }
}

/// A new secret value, exactly one of string or binary.
pub(crate) enum NewValue {
    String(Sensitive<String>),
    Binary(Sensitive<Vec<u8>>),
}

impl NewValue {
    /// Reads the value members of a request; `None` if neither is present.
    pub fn from_request(
        s: Option<Sensitive<String>>,
        b: Option<Sensitive<Vec<u8>>>,
    ) -> Result<Option<NewValue>, ApiError> {
        match (s, b) {
            (Some(_), Some(_)) => Err(ApiError::invalid_param(
                "You can't specify both a binary secret value and a string secret value in the same secret.",
            )),
            (Some(s), None) => {
                validate::value_size(s.0.len(), "secretString")?;
                Ok(Some(NewValue::String(s)))
            }
            (None, Some(b)) => {
                validate::value_size(b.0.len(), "secretBinary")?;
                Ok(Some(NewValue::Binary(b)))
            }
            (None, None) => Ok(None),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            NewValue::String(_) => "string",
            NewValue::Binary(_) => "binary",
        }
    }

    pub fn bytes(&self) -> &[u8] {
        match self {
            NewValue::String(s) => s.0.as_bytes(),
            NewValue::Binary(b) => &b.0,
        }
    }

    /// Constant-time comparison with a stored, decrypted value of a given kind.
    pub fn same_as(&self, kind: &str, plain: &SecretBytes) -> bool {
        kind == self.kind() && SecretBytes::new(self.bytes().to_vec()) == *plain
    }
}

/// The mutation that rewrites `s`'s row as `edit` says (attributes, dates), at the
/// revision it was read at.
pub(crate) fn row_update(
    call: &Call<'_>,
    s: &Secret,
    now: i64,
    event: &str,
    detail: Value,
    edit: impl FnOnce(&mut SecretRow),
) -> Mutation {
    let mut row = s.row.clone();
    edit(&mut row);
    let op = MutationOp::Update {
        expected_revision: s.row.revision,
    };
    row_change(call, op, row, now, event, detail)
}

/// A mutation that rewrites only the secret row (metadata, tags, deletion state),
/// with its audit record and change event.
pub(crate) fn row_change(
    call: &Call<'_>,
    op: MutationOp,
    row: SecretRow,
    now: i64,
    event: &str,
    detail: Value,
) -> Mutation {
    Mutation {
        op,
        event: Some(events::change(
            call.caller,
            now,
            event,
            &row.arn,
            &row.name,
            detail,
        )),
        audit: call.audit(now),
        secret: row,
        insert_versions: vec![],
        relabel: vec![],
        delete_versions: vec![],
    }
}

pub(crate) fn require_token(token: Option<&str>) -> Result<&str, ApiError> {
    token.ok_or_else(|| {
        ApiError::invalid_request(
            "You must provide a ClientRequestToken value. We recommend a UUID-type value.",
        )
    })
}

pub(crate) fn not_deleted(s: &Secret) -> Result<(), ApiError> {
    if s.row.deleted_ms.is_some() {
        return Err(ApiError::marked_for_deletion());
    }
    Ok(())
}

pub(crate) fn label_map(s: &Secret) -> LabelMap {
    LabelMap(
        s.versions
            .iter()
            .map(|v| (v.version_id.clone(), v.labels.clone()))
            .collect(),
    )
}

/// The versions whose labels differ between `before` and `after`.
pub(crate) fn relabels(before: &LabelMap, after: &LabelMap) -> Vec<(String, Vec<String>)> {
    after
        .0
        .iter()
        .filter(|(v, ls)| before.labels_of(v).is_some_and(|old| old != ls.as_slice()))
        .cloned()
        .collect()
}

/// Encrypts a new version's value.
pub(crate) fn seal_version(
    kms: &KmsKey,
    arn: &str,
    version_id: &str,
    value: &NewValue,
    now: i64,
) -> Result<VersionRow, ApiError> {
    let sealed = coffer_crypto::seal_value(&kms.key, arn, version_id, value.kind(), value.bytes())
        .map_err(internal)?;
    Ok(VersionRow {
        version_id: version_id.to_string(),
        created_ms: now,
        last_accessed_ms: None,
        labels: Vec::new(),
        value_kind: value.kind().to_string(),
        kms_key_id: kms.arn.clone(),
        wrapped_data_key: sealed.wrapped_data_key,
        ciphertext: sealed.ciphertext,
    })
}

/// The labelled versions as DescribeSecret and ListSecrets show them.
pub(crate) fn versions_to_stages(s: &Secret) -> Option<BTreeMap<String, Vec<String>>> {
    let m: BTreeMap<_, _> = s
        .versions
        .iter()
        .filter(|v| !v.labels.is_empty())
        .map(|v| (v.version_id.clone(), v.labels.clone()))
        .collect();
    (!m.is_empty()).then_some(m)
}

pub(crate) fn tags_out(row: &SecretRow) -> Option<Vec<Tag>> {
    row.tags.as_ref().map(|t| {
        t.iter()
            .map(|(k, v)| Tag {
                key: Some(k.clone()),
                value: Some(v.clone()),
            })
            .collect()
    })
}

pub(crate) fn metadata(row: &SecretRow) -> SecretMetadata {
    let rotation: Option<crate::rotation::RotationState> = row
        .attrs
        .get(crate::rotation::ATTR)
        .and_then(|v| serde_json::from_value(v.clone()).ok());
    SecretMetadata {
        arn: row.arn.clone(),
        name: row.name.clone(),
        kind: row.kind.clone(),
        description: row.description.clone(),
        kms_key_id: row.kms_key_id.as_deref().map(|k| display_key_id(Some(k))),
        rotation_enabled: rotation.as_ref().map(|r| r.enabled),
        rotation_lambda_arn: rotation.as_ref().and_then(|r| r.lambda_arn.clone()),
        rotation_rules: rotation.as_ref().and_then(|r| r.rules.clone()),
        last_rotated_date: rotation
            .as_ref()
            .and_then(|r| r.last_rotated_ms)
            .map(Timestamp),
        rotation_failure: rotation
            .as_ref()
            .filter(|r| r.pending.is_some())
            .and_then(|r| r.last_failure.as_ref())
            .map(|f| serde_json::json!({"Step": f.step, "Message": f.message, "Date": f.at_ms / 1000})),
        next_rotation_date: rotation
            .as_ref()
            .filter(|r| r.enabled)
            .and_then(|r| r.next_ms)
            .map(Timestamp),
        last_changed_date: Some(Timestamp(row.last_changed_ms)),
        last_accessed_date: row.last_accessed_ms.map(Timestamp),
        deleted_date: row.deleted_ms.map(Timestamp),
        tags: tags_out(row),
        owning_service: None,
        created_date: Some(Timestamp(row.created_ms)),
        primary_region: None,
    }
}
