//! Keys: creation, listing, and everything done to one key (state, deletion,
//! policy, tags, description, rotation).

use super::view::{key_metadata, page, secs, with_marker};
use super::{customer_only, not_pending, Target};
use crate::call::Call;
use crate::context::Caller;
use crate::identity::kms::KmsKeys;
use crate::keyring::customer::{self, KeyDoc, KeyState, KEY};
use crate::service::Service;
use coffer_api::kms_ops::{KmsAction, KmsOperation};
use coffer_api::{ApiError, ErrorCode};
use coffer_policy::{Kind, Policy};
use serde_json::{json, Value};

const DAY_MS: i64 = 86_400_000;
/// AWS's default automatic rotation period.
const ROTATION_DAYS: i64 = 365;
const ON_DEMAND_ROTATIONS: usize = 10;

fn malformed(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::MalformedPolicyDocument, message)
}

impl Service {
    pub(super) async fn create_key(
        &self,
        call: &Call<'_>,
        op: &KmsOperation,
    ) -> Result<Value, ApiError> {
        let caller = call.caller;
        let now = self.clock.now_ms();
        let key_id = uuid::Uuid::new_v4().to_string();
        let arn = format!(
            "arn:aws:kms:{}:{}:key/{key_id}",
            caller.region, caller.account_id
        );
        let mut doc = KeyDoc {
            key_id: key_id.clone(),
            arn: arn.clone(),
            account_id: caller.account_id.clone(),
            region: caller.region.clone(),
            description: op.req.description.clone().unwrap_or_default(),
            created_ms: now,
            state: KeyState::Enabled,
            deletion_ms: None,
            pending_days: None,
            policy: customer::default_policy(&caller.account_id),
            tags: op
                .req
                .tags
                .iter()
                .flatten()
                .map(|t| (t.tag_key.clone(), t.tag_value.clone()))
                .collect(),
            rotation_days: None,
            rotation_from_ms: None,
            materials: vec![self.keys.new_material(&arn, 0, now, false)?],
        };
        if let Some(p) = &op.req.policy {
            doc.policy.clone_from(p);
            self.check_policy(caller, &doc, op.req.bypass_policy_lockout_safety_check)
                .await?;
        }
        self.save_entity(call, KEY, &key_id, Some(&doc), None)
            .await?;
        Ok(json!({ "KeyMetadata": key_metadata(&doc, false) }))
    }

    /// A policy must parse, and unless the caller bypasses the check, must
    /// still let the caller change it (AWS's lockout safety check).
    async fn check_policy(
        &self,
        caller: &Caller,
        doc: &KeyDoc,
        bypass: Option<bool>,
    ) -> Result<(), ApiError> {
        Policy::parse(&doc.policy, Kind::Resource).map_err(|e| malformed(e.to_string()))?;
        if bypass == Some(true) {
            return Ok(());
        }
        self.identity
            .authorize_kms(caller, "kms:PutKeyPolicy", doc, &KmsKeys::default())
            .await
            .map_err(|_| {
                malformed(
                    "The new key policy will not allow you to update the key policy in the future.",
                )
            })
    }

    pub(super) async fn list_keys(
        &self,
        caller: &Caller,
        op: &KmsOperation,
    ) -> Result<Value, ApiError> {
        let mut keys: Vec<(String, String)> = self
            .entities::<KeyDoc>(caller, KEY)
            .await?
            .into_iter()
            .map(|d| (d.key_id, d.arn))
            .collect();
        if let Some(row) = self
            .store
            .kms_key(&caller.scope(), crate::keyring::DEFAULT_ALIAS)
            .await
            .map_err(crate::errors::internal)?
        {
            keys.push((row.key_id, row.arn));
        }
        keys.sort();
        let (items, next) = page(
            keys,
            |k| k.0.clone(),
            op.req.marker.as_deref(),
            op.req.limit,
        );
        let out: Vec<Value> = items
            .into_iter()
            .map(|(id, arn)| json!({"KeyId": id, "KeyArn": arn}))
            .collect();
        Ok(with_marker(json!({ "Keys": out }), next))
    }

    /// Every operation on one key that is not cryptography or an alias.
    pub(super) async fn manage_key(
        &self,
        call: &Call<'_>,
        op: &KmsOperation,
        t: Target,
    ) -> Result<Value, ApiError> {
        use KmsAction as A;
        let managed = t.revision.is_none();
        let now = self.clock.now_ms();
        // Reads first: they change nothing and work on the AWS-managed key too.
        match op.action {
            A::DescribeKey => return Ok(json!({ "KeyMetadata": key_metadata(&t.doc, managed) })),
            A::GetKeyPolicy => {
                policy_name(op)?;
                return Ok(json!({"Policy": t.doc.policy, "PolicyName": "default"}));
            }
            A::ListKeyPolicies => {
                return Ok(json!({"PolicyNames": ["default"], "Truncated": false}));
            }
            A::ListResourceTags => {
                let (items, next) = page(
                    t.doc.tags.clone(),
                    |(k, _)| k.clone(),
                    op.req.marker.as_deref(),
                    op.req.limit,
                );
                let tags: Vec<Value> = items
                    .into_iter()
                    .map(|(k, v)| json!({"TagKey": k, "TagValue": v}))
                    .collect();
                return Ok(with_marker(json!({ "Tags": tags }), next));
            }
            A::GetKeyRotationStatus => return Ok(rotation_status(&t.doc)),
            _ => {}
        }
        let revision = customer_only(&t)?;
        let mut doc = t.doc;
        let answer = self.change_key(call.caller, op, &mut doc, now).await?;
        self.save_entity(call, KEY, &doc.key_id.clone(), Some(&doc), Some(revision))
            .await?;
        Ok(answer)
    }

    /// Applies one change to a customer-managed key's document; the answer.
    async fn change_key(
        &self,
        caller: &Caller,
        op: &KmsOperation,
        doc: &mut KeyDoc,
        now: i64,
    ) -> Result<Value, ApiError> {
        use KmsAction as A;
        let r = &op.req;
        match op.action {
            A::EnableKey | A::DisableKey => {
                not_pending(doc)?;
                doc.state = if op.action == A::EnableKey {
                    KeyState::Enabled
                } else {
                    KeyState::Disabled
                };
                Ok(json!({}))
            }
            A::ScheduleKeyDeletion => {
                not_pending(doc)?;
                let days = r.pending_window_in_days.unwrap_or(30);
                doc.state = KeyState::PendingDeletion;
                doc.deletion_ms = Some(now + days * DAY_MS);
                doc.pending_days = Some(days);
                Ok(json!({
                    "KeyId": doc.arn,
                    "DeletionDate": secs(now + days * DAY_MS),
                    "KeyState": "PendingDeletion",
                    "PendingWindowInDays": days,
                }))
            }
            A::CancelKeyDeletion => {
                if doc.state != KeyState::PendingDeletion {
                    return Err(ApiError::new(
                        ErrorCode::KmsInvalidState,
                        format!("{} is not pending deletion.", doc.arn),
                    ));
                }
                // As in AWS, a key saved from deletion comes back disabled.
                doc.state = KeyState::Disabled;
                doc.deletion_ms = None;
                doc.pending_days = None;
                Ok(json!({ "KeyId": doc.arn }))
            }
            A::PutKeyPolicy => {
                policy_name(op)?;
                doc.policy = r.policy.clone().unwrap_or_default();
                self.check_policy(caller, doc, r.bypass_policy_lockout_safety_check)
                    .await?;
                Ok(json!({}))
            }
            A::UpdateKeyDescription => {
                not_pending(doc)?;
                doc.description = r.description.clone().unwrap_or_default();
                Ok(json!({}))
            }
            A::TagResource => {
                not_pending(doc)?;
                for t in r.tags.iter().flatten() {
                    doc.tags.retain(|(k, _)| *k != t.tag_key);
                    doc.tags.push((t.tag_key.clone(), t.tag_value.clone()));
                }
                if doc.tags.len() > 50 {
                    return Err(ApiError::new(ErrorCode::KmsTag, "Too many tags"));
                }
                doc.tags.sort();
                Ok(json!({}))
            }
            A::UntagResource => {
                not_pending(doc)?;
                let gone: Vec<&String> = r.tag_keys.iter().flatten().collect();
                doc.tags.retain(|(k, _)| !gone.contains(&k));
                Ok(json!({}))
            }
            A::EnableKeyRotation | A::DisableKeyRotation => {
                doc.usable()?;
                if op.action == A::EnableKeyRotation {
                    doc.rotation_days = Some(r.rotation_period_in_days.unwrap_or(ROTATION_DAYS));
                    doc.rotation_from_ms = Some(now);
                } else {
                    doc.rotation_days = None;
                    doc.rotation_from_ms = None;
                }
                Ok(json!({}))
            }
            A::RotateKeyOnDemand => {
                doc.usable()?;
                if doc.materials.iter().filter(|m| m.on_demand).count() >= ON_DEMAND_ROTATIONS {
                    return Err(ApiError::new(
                        ErrorCode::LimitExceeded,
                        format!("The on-demand rotations limit has been reached for the given keyId. No more on-demand rotations can be performed for this key: {}", doc.arn),
                    ));
                }
                let n = u32::try_from(doc.materials.len()).unwrap_or(u32::MAX);
                doc.materials
                    .push(self.keys.new_material(&doc.arn, n, now, true)?);
                Ok(json!({ "KeyId": doc.arn }))
            }
            _ => Err(ApiError::internal()),
        }
    }
}

/// Only `default` names a key policy.
fn policy_name(op: &KmsOperation) -> Result<(), ApiError> {
    match op.req.policy_name.as_deref() {
        None | Some("default") => Ok(()),
        Some(_) => Err(ApiError::new(
            ErrorCode::KmsNotFound,
            "No such policy exists",
        )),
    }
}

fn rotation_status(doc: &KeyDoc) -> Value {
    let mut v = json!({
        "KeyId": doc.arn,
        "KeyRotationEnabled": doc.rotation_days.is_some(),
    });
    if let (Some(days), Some(from)) = (doc.rotation_days, doc.rotation_from_ms) {
        v["RotationPeriodInDays"] = json!(days);
        v["NextRotationDate"] = secs(from + days * DAY_MS);
    }
    v
}

impl Service {
    /// The sweep's part for keys: deletes those whose waiting period ended
    /// (with their aliases) and rotates those whose period came. Returns how
    /// many keys it changed.
    pub async fn sweep_keys(&self) -> usize {
        let Ok(accounts) = self.store.accounts().await else {
            return 0;
        };
        let now = self.clock.now_ms();
        let mut changed = 0;
        for a in accounts {
            let Ok(rows) = self.store.iam_list(&a.account_id, KEY).await else {
                continue;
            };
            for row in rows {
                let Ok(doc) = serde_json::from_str::<KeyDoc>(&row.body) else {
                    continue;
                };
                match self.sweep_key(doc, row.revision, now).await {
                    Ok(true) => changed += 1,
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "a key's deletion or rotation failed; will retry");
                    }
                }
            }
        }
        changed
    }

    async fn sweep_key(&self, mut doc: KeyDoc, revision: i64, now: i64) -> Result<bool, ApiError> {
        let caller = Caller::service(&doc.account_id, &doc.region, super::SOURCE, "coffer-kms");
        if doc.state == KeyState::PendingDeletion && doc.deletion_ms.is_some_and(|d| d <= now) {
            let call = Call::with_params(&caller, "DeleteKey", json!({"keyId": doc.arn}))
                .audited_as(super::SOURCE);
            for alias in self.aliases_of(&caller, &doc.key_id).await? {
                let (_, rev) = self
                    .keys
                    .alias_doc(&doc.account_id, &doc.region, &alias.name)
                    .await?
                    .ok_or_else(ApiError::internal)?;
                self.save_entity::<crate::keyring::customer::AliasDoc>(
                    &call,
                    crate::keyring::customer::ALIAS,
                    &alias.name,
                    None,
                    Some(rev),
                )
                .await?;
            }
            self.save_entity::<KeyDoc>(&call, KEY, &doc.key_id, None, Some(revision))
                .await?;
            return Ok(true);
        }
        let due = match (doc.state, doc.rotation_days, doc.rotation_from_ms) {
            (KeyState::Enabled, Some(days), Some(from)) => from + days * DAY_MS <= now,
            _ => false,
        };
        if !due {
            return Ok(false);
        }
        let n = u32::try_from(doc.materials.len()).unwrap_or(u32::MAX);
        doc.materials
            .push(self.keys.new_material(&doc.arn, n, now, false)?);
        doc.rotation_from_ms = Some(now);
        let call = Call::with_params(&caller, "RotateKey", json!({"keyId": doc.arn}))
            .audited_as(super::SOURCE);
        self.save_entity(&call, KEY, &doc.key_id.clone(), Some(&doc), Some(revision))
            .await?;
        Ok(true)
    }
}
