//! The secrets component: the Secrets Manager operations, one file per family;
//! the pipeline every call takes (`pipeline.rs`); the sweeper; last-accessed
//! dates; and what the operations share. It owns no authorization: every
//! handler takes the identity component's [`Grant`].

mod access;
mod create;
mod delete;
mod kms;
mod list;
mod pipeline;
mod policy;
mod random;
mod read;
pub mod replication;
mod rotate;
mod stage;
mod tags;
mod write;

use crate::audit::AuditLog;
use crate::call::Call;
use crate::clock::Clock;
use crate::errors::internal;
use crate::events;
use crate::functions::Functions;
use crate::identity::Identity;
use crate::keyring::{display_key_id, Keyring, KmsKey};
use crate::labels::LabelMap;
use crate::outbox::Outbox;
use access::AccessTracker;
use coffer_api::types::{SecretMetadata, Sensitive, Tag, Timestamp};
use coffer_api::{validate, ApiError};
use coffer_crypto::SecretBytes;
use coffer_store::{Mutation, MutationOp, Secret, SecretRow, Store, VersionRow};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A rotation to run: the secret's ARN and the rotation's token.
pub type RotationRequest = (String, String);

/// The Secrets Manager operations and what they need.
pub struct Secrets {
    store: Arc<dyn Store>,
    keys: Arc<Keyring>,
    clock: Arc<dyn Clock>,
    identity: Arc<Identity>,
    audit: Arc<AuditLog>,
    outbox: Arc<Outbox>,
    access: AccessTracker,
    pub(crate) functions: Arc<Functions>,
    /// Rotations RotateSecret asks for, run by the rotation component.
    rotations: tokio::sync::mpsc::UnboundedSender<RotationRequest>,
    /// Regions other deployments serve, that replicas may go to.
    remotes: replication::remote::Remotes,
    /// The regions this deployment serves (None: any).
    local_regions: Option<Vec<String>>,
}

/// What the secrets component is built from.
pub struct SecretsParts {
    pub store: Arc<dyn Store>,
    pub keys: Arc<Keyring>,
    pub clock: Arc<dyn Clock>,
    pub identity: Arc<Identity>,
    pub audit: Arc<AuditLog>,
    pub outbox: Arc<Outbox>,
    pub functions: Arc<Functions>,
    pub rotations: tokio::sync::mpsc::UnboundedSender<RotationRequest>,
    pub remotes: replication::remote::Remotes,
    pub local_regions: Option<Vec<String>>,
}

impl Secrets {
    pub fn new(p: SecretsParts) -> Secrets {
        Secrets {
            store: p.store,
            keys: p.keys,
            clock: p.clock,
            identity: p.identity,
            audit: p.audit,
            outbox: p.outbox,
            access: AccessTracker::default(),
            functions: p.functions,
            rotations: p.rotations,
            remotes: p.remotes,
            local_regions: p.local_regions,
        }
    }

    /// May whoever configured a rotation (`principal_arn`) still read the secret
    /// `arn` (its master)?
    pub(crate) async fn configurer_may_read(
        &self,
        principal_arn: &str,
        session: Option<crate::context::Session>,
        arn: &str,
    ) -> Result<(), ApiError> {
        let secret = self
            .store
            .secret_by_arn(arn)
            .await
            .map_err(crate::errors::internal)?
            .ok_or_else(ApiError::not_found)?;
        self.identity
            .may_still_read(principal_arn, session, &secret)
            .await
    }

    /// Writes queued last-accessed dates (the background flush, tests, shutdown).
    pub async fn flush_access(&self) {
        self.access.flush(&*self.store).await;
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

    /// A stored value, decrypted, as a new value to seal again (another key,
    /// another region).
    pub fn of_stored(kind: &str, plain: SecretBytes) -> Result<NewValue, ApiError> {
        if kind == "binary" {
            return Ok(NewValue::Binary(Sensitive(plain.into_vec())));
        }
        let text = String::from_utf8(plain.into_vec()).map_err(internal)?;
        Ok(NewValue::String(Sensitive(text)))
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
    detail: Value,
    edit: impl FnOnce(&mut SecretRow),
) -> Mutation {
    let mut row = s.row.clone();
    edit(&mut row);
    let op = MutationOp::Update {
        expected_revision: s.row.revision,
    };
    row_change(call, op, row, now, detail)
}

/// A mutation that rewrites only the secret row (metadata, tags, deletion state),
/// with its audit record and change event.
pub(crate) fn row_change(
    call: &Call<'_>,
    op: MutationOp,
    row: SecretRow,
    now: i64,
    detail: Value,
) -> Mutation {
    Mutation {
        also: Vec::new(),
        op,
        event: Some(events::change(call.caller, now, call.name, &row, detail)),
        audit: call.audit(now),
        secret: row,
        insert_versions: vec![],
        relabel: vec![],
        delete_versions: vec![],
        reseal: vec![],
        prune_before_ms: None,
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

impl Secrets {
    /// A version of `s` by id: one of its labelled versions, or (deprecated)
    /// read from the store.
    pub(crate) async fn version_of(
        &self,
        s: &Secret,
        version_id: &str,
    ) -> Result<Option<VersionRow>, ApiError> {
        if let Some(v) = s.versions.iter().find(|v| v.version_id == version_id) {
            return Ok(Some(v.clone()));
        }
        self.store
            .version(s.row.id, version_id)
            .await
            .map_err(internal)
    }
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
    let sealed = if kms.material.is_none() {
        coffer_crypto::seal_value(&kms.key, arn, version_id, value.kind(), value.bytes())
            .map_err(internal)?
    } else {
        // A customer-managed key wraps the data key as KMS's GenerateDataKey
        // would, with Secrets Manager's encryption context.
        let data_key = coffer_crypto::Key256::random();
        coffer_crypto::SealedValue {
            wrapped_data_key: crate::keyring::customer::wrap_data_key(
                kms, arn, version_id, &data_key,
            )?,
            ciphertext: coffer_crypto::seal_with_data_key(
                &data_key,
                arn,
                version_id,
                value.kind(),
                value.bytes(),
            )
            .map_err(internal)?,
        }
    };
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
    let rotation: Option<crate::attrs::RotationState> = row
        .attrs
        .get(crate::attrs::ATTR)
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
        primary_region: replication::primary_region(row),
    }
}
