//! PutSecretValue and UpdateSecret: new versions, and metadata changes.

use super::{label_map, not_deleted, relabels, require_token, seal_version, NewValue};
use crate::call::respond;
use crate::call::Call;
use crate::events;
use crate::identity::Grant;
use crate::keyring::KmsKey;
use crate::labels::{CURRENT, PENDING, PRUNE_MIN_AGE_MS};
use crate::secrets::Secrets;
use coffer_api::types::{
    ArnNameResponse, CreateSecretResponse, PutSecretValueRequest, PutSecretValueResponse,
    UpdateSecretRequest,
};
use coffer_api::{validate, ApiError, ErrorCode};
use coffer_store::{Mutation, MutationOp, Scope, Secret, SecretRow, VersionRow};
use serde_json::json;
use std::sync::Arc;

/// Where a secret lives: its keys and its events are its owner's.
/// The account and region that own `s` (its data keys are theirs).
pub(super) fn owner_scope(s: &Secret) -> Scope {
    Scope {
        account_id: s.row.account_id.clone(),
        region: s.row.region.clone(),
    }
}

/// A token reused with another value: AWS's answer names both.
pub(crate) fn version_exists_error(token: &str, arn: &str) -> ApiError {
    ApiError::new(
        ErrorCode::ResourceExists,
        format!("You can't use ClientRequestToken {token} because that value is already in use for a version of secret {arn}."),
    )
}

/// A version to add: its id, value, the labels to attach, and the key to seal with.
struct NewVersion<'a> {
    token: &'a str,
    value: &'a NewValue,
    stages: &'a [String],
    kms: Arc<KmsKey>,
}

/// Metadata that UpdateSecret changes in the same transaction as its new version.
#[derive(Default, Clone)]
struct MetaEdit {
    description: Option<String>,
    kms_key_id: Option<String>,
    kind: Option<String>,
    /// Existing versions sealed under a new `kms_key_id`.
    reseal: Vec<VersionRow>,
    /// That key, already found and its use authorized (and audited).
    sealing: Option<Arc<KmsKey>>,
}

impl MetaEdit {
    fn is_empty(&self) -> bool {
        self.description.is_none() && self.kms_key_id.is_none() && self.kind.is_none()
    }

    fn apply(&self, row: &mut SecretRow) {
        if let Some(d) = &self.description {
            // An empty description clears it (AWS then omits it).
            row.description = Some(d.clone()).filter(|d| !d.is_empty());
        }
        if let Some(k) = &self.kms_key_id {
            row.kms_key_id = Some(k.clone());
        }
        if let Some(t) = &self.kind {
            row.kind = Some(t.clone());
        }
    }
}

impl Secrets {
    /// The answer to a write whose token names an existing version: the same value
    /// is an idempotent retry, another value is an error.
    async fn replay(
        &self,
        s: &Secret,
        token: &str,
        value: &NewValue,
    ) -> Result<Option<VersionRow>, ApiError> {
        let Some(v) = self.version_of(s, token).await? else {
            return Ok(None);
        };
        let plain = self.decrypt(s, &v).await?;
        if value.same_as(&v.value_kind, &plain) {
            Ok(Some(v))
        } else {
            Err(version_exists_error(token, &s.row.arn))
        }
    }

    /// Plans one mutation: the metadata edit, and the new version with its labels.
    fn plan(
        call: &Call<'_>,
        s: &Secret,
        now: i64,
        nv: Option<&NewVersion<'_>>,
        edit: &MetaEdit,
    ) -> Result<Option<Mutation>, ApiError> {
        not_deleted(s)?;
        let mut row = s.row.clone();
        edit.apply(&mut row);
        row.last_changed_ms = now;
        let mut m = Mutation {
            also: Vec::new(),
            op: MutationOp::Update {
                expected_revision: s.row.revision,
            },
            event: None,
            audit: call.audit(now),
            secret: row,
            insert_versions: vec![],
            relabel: vec![],
            delete_versions: vec![],
            reseal: edit.reseal.clone(),
            prune_before_ms: None,
        };
        let mut detail = json!({});
        if let Some(nv) = nv {
            if s.versions.iter().any(|v| v.version_id == nv.token) {
                // Someone added this version since we looked: the caller re-checks.
                return Ok(None);
            }
            let before = label_map(s);
            let mut after = before.clone();
            after.add_version(nv.token);
            for stage in nv.stages {
                after.put(nv.token, stage);
            }
            // A version that was both current and pending (a rotation that
            // finished) loses AWSPENDING when a write takes AWSCURRENT from it,
            // as AWS's recorded answers show.
            if let Some(old) = before.holder(CURRENT).filter(|o| *o != nv.token) {
                let was_pending = before
                    .labels_of(old)
                    .is_some_and(|ls| ls.iter().any(|l| l == PENDING));
                if was_pending && after.holder(CURRENT) == Some(nv.token) {
                    after.remove(old, PENDING);
                }
            }
            let abandoned = abandon_rotation(&before, &mut after, nv.token);
            after.check_label_limit()?;
            // The store prunes as AWS does, in the same transaction.
            m.prune_before_ms = Some(now - PRUNE_MIN_AGE_MS);
            let mut version = seal_version(&nv.kms, &s.row.arn, nv.token, nv.value, now)?;
            version.labels = after.labels_of(nv.token).unwrap_or_default().to_vec();
            detail = json!({ "versionId": nv.token, "versionStages": version.labels });
            m.insert_versions.push(version);
            m.relabel = relabels(&before, &after);
            forget_lost_rotation(s, &after, &mut m.secret, now);
            if let Some(pending) = abandoned {
                let detail = json!({ "versionId": pending });
                let abandoned = "RotationAbandoned";
                let e = events::service_event(call.caller, now, abandoned, &m.secret, detail);
                m.also.push(e);
            }
        }
        m.event = Some(events::change(
            call.caller,
            now,
            call.name,
            &m.secret,
            detail,
        ));
        Ok(Some(m))
    }

    /// Adds a version (with retries on conflict) and returns its labels.
    async fn add_version(
        &self,
        g: &Grant<'_>,
        token: &str,
        value: &NewValue,
        stages: &[String],
        edit: &MetaEdit,
    ) -> Result<(Arc<Secret>, Vec<String>), ApiError> {
        let s = g.secret()?.clone();
        not_deleted(&s)?;
        if let Some(v) = self.replay(&s, token, value).await? {
            return Ok((s, v.labels));
        }
        let kms = if let Some(k) = &edit.sealing {
            k.clone()
        } else {
            let key_id = edit.kms_key_id.as_deref().or(s.row.kms_key_id.as_deref());
            // The owner's key, whoever writes: a value sealed under the writer's
            // own (another account's) key could not be opened in the owner's scope.
            self.sealing_key(g.call().caller, &owner_scope(&s), key_id, &s.row.arn)
                .await?
        };
        let nv = NewVersion {
            token,
            value,
            stages,
            kms,
        };
        // The labels the committed plan gave the new version; no re-read needed.
        let mut labels = Vec::new();
        let (s, committed) = self
            .commit_with_retry(g, |s, now| {
                let m = Self::plan(g.call(), s, now, Some(&nv), edit)?;
                if let Some(v) = m.as_ref().and_then(|m| m.insert_versions.first()) {
                    labels.clone_from(&v.labels);
                }
                Ok(m)
            })
            .await?;
        if committed.is_none() {
            // A concurrent writer created this version id first.
            let s = g.reload().await?;
            return match self.replay(&s, token, value).await? {
                Some(v) => Ok((s, v.labels)),
                None => Err(version_exists_error(token, &s.row.arn)),
            };
        }
        Ok((s, labels))
    }

    pub(crate) async fn put_secret_value(
        &self,
        g: &Grant<'_>,
        req: PutSecretValueRequest,
    ) -> Result<Vec<u8>, ApiError> {
        let token =
            validate::version_id(req.client_request_token.as_deref(), "clientRequestToken")?;
        if let Some(rt) = &req.rotation_token {
            validate::length(&rt.0, "rotationToken", 36, 256)?;
        }
        let stages = match req.version_stages {
            Some(st) => {
                validate::version_stages(&st)?;
                st
            }
            None => vec![CURRENT.to_string()],
        };
        let value =
            NewValue::from_request(req.secret_string, req.secret_binary)?.ok_or_else(|| {
                ApiError::invalid_param("You must provide either SecretString or SecretBinary.")
            })?;
        let token = require_token(token)?;
        let (s, labels) = self
            .add_version(g, token, &value, &stages, &MetaEdit::default())
            .await?;
        respond(&PutSecretValueResponse {
            arn: s.row.arn.clone(),
            name: s.row.name.clone(),
            version_id: token.to_string(),
            version_stages: labels,
        })
    }

    pub(crate) async fn update_secret(
        &self,
        g: &Grant<'_>,
        req: UpdateSecretRequest,
    ) -> Result<Vec<u8>, ApiError> {
        let token =
            validate::version_id(req.client_request_token.as_deref(), "clientRequestToken")?;
        validate::optional(req.description.as_deref(), "description", 0, 2048)?;
        validate::optional(req.kms_key_id.as_deref(), "kmsKeyId", 0, 2048)?;
        validate::optional(req.kind.as_deref(), "type", 0, 256)?;
        let value = NewValue::from_request(req.secret_string, req.secret_binary)?;
        let token = match &value {
            Some(_) => Some(require_token(token)?),
            None => None,
        };
        let mut edit = MetaEdit {
            description: req.description.clone(),
            kms_key_id: req.kms_key_id.clone().filter(|k| !k.is_empty()),
            kind: req.kind.clone(),
            reseal: Vec::new(),
            sealing: None,
        };
        if let Some(k) = &edit.kms_key_id {
            // Fails early, before anything is written, if the key cannot be used.
            let s = g.secret()?;
            let caller = g.call().caller;
            let kms = self
                .sealing_key(caller, &owner_scope(s), Some(k), &s.row.arn)
                .await?;
            edit.reseal = self.reseal_under(caller, s, &kms).await?;
            edit.sealing = Some(kms);
        }
        if let (Some(v), Some(t)) = (value, token) {
            let stages = [CURRENT.to_string()];
            let (s, _) = self.add_version(g, t, &v, &stages, &edit).await?;
            respond(&CreateSecretResponse {
                arn: s.row.arn.clone(),
                name: s.row.name.clone(),
                version_id: Some(t.to_string()),
                replication_status: None,
            })
        } else {
            let (s, _) = self
                .commit_with_retry(g, |s, now| {
                    if edit.is_empty() {
                        not_deleted(s)?;
                        return Ok(None);
                    }
                    Self::plan(g.call(), s, now, None, &edit)
                })
                .await?;
            respond(&ArnNameResponse {
                arn: s.row.arn.clone(),
                name: s.row.name.clone(),
            })
        }
    }
}

/// A version written by hand that takes AWSCURRENT while another version holds
/// AWSPENDING (a rotation under way) abandons that rotation: AWS removes
/// AWSPENDING, so the next rotation can start, and reports RotationAbandoned.
/// Returns the version that lost AWSPENDING.
fn abandon_rotation(
    before: &crate::labels::LabelMap,
    after: &mut crate::labels::LabelMap,
    new: &str,
) -> Option<String> {
    if after.holder(CURRENT) != Some(new) {
        return None;
    }
    let pending = before.holder(PENDING).filter(|p| *p != new)?;
    // A version both current and pending is a finished rotation, not one under way.
    if before.holder(CURRENT) == Some(pending) {
        return None;
    }
    after.remove(pending, PENDING);
    Some(pending.to_string())
}

/// Forgets the rotation's recorded token when the version it names no longer
/// holds AWSPENDING after this write (abandoned, or the label moved to another
/// version by hand): a rotation still running then finds itself superseded,
/// and the next one starts at the next window instead of retrying, hourly, a
/// version that is no rotation's any more. A token whose version does not
/// exist yet (createSecret has not run) is kept.
fn forget_lost_rotation(
    s: &Secret,
    after: &crate::labels::LabelMap,
    row: &mut SecretRow,
    now: i64,
) {
    let Some(mut state) = crate::attrs::RotationState::of(s) else {
        return;
    };
    let lost = state.pending.as_deref().is_some_and(|p| {
        after
            .labels_of(p)
            .is_some_and(|ls| !ls.iter().any(|l| l == PENDING))
    });
    if lost {
        state.pending = None;
        state.last_failure = None;
        state.plan_next(now);
        state.store(&mut row.attrs);
    }
}
