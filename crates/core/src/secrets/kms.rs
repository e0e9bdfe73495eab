//! Secrets Manager's use of KMS keys, as AWS's: a customer-managed key is used
//! on the caller's behalf, so the caller needs `kms:GenerateDataKey` (to write)
//! or `kms:Decrypt` (to read) on it, through its key policy or its identity,
//! with `kms:ViaService` naming Secrets Manager and the encryption context
//! binding the secret's ARN. The default key needs nothing beyond the secret's
//! own permissions.

use super::{seal_version, NewValue, Secrets};
use crate::context::Caller;
use crate::identity::kms::KmsKeys;
use crate::keyring::{KeyDoc, KmsKey};
use coffer_api::{ApiError, ErrorCode};
use coffer_store::{Scope, Secret, VersionRow};
use std::collections::BTreeMap;
use std::sync::Arc;

/// AWS refuses another account the secrets its default key protects: only a
/// customer-managed key's policy can share it.
pub(crate) fn default_key_is_own(caller: &Caller, owner: &str) -> Result<(), ApiError> {
    if caller.account_id == owner {
        return Ok(());
    }
    Err(ApiError::invalid_request(
        "You can't access a secret from a different AWS account if you encrypt the secret with the default KMS service key.",
    ))
}

impl Secrets {
    /// The key to seal a secret's new versions with; the caller must be allowed
    /// to generate data keys under it.
    pub(crate) async fn sealing_key(
        &self,
        caller: &Caller,
        scope: &Scope,
        named: Option<&str>,
        secret_arn: &str,
    ) -> Result<Arc<KmsKey>, ApiError> {
        let (key, doc) = self.keys.for_encrypt(scope, named).await?;
        match doc {
            Some(doc) => {
                self.authorize_key_use(caller, "kms:GenerateDataKey", &doc, secret_arn)
                    .await?;
            }
            None => default_key_is_own(caller, &scope.account_id)?,
        }
        Ok(key)
    }

    pub(crate) async fn authorize_key_use(
        &self,
        caller: &Caller,
        action: &str,
        doc: &KeyDoc,
        secret_arn: &str,
    ) -> Result<(), ApiError> {
        let ctx = BTreeMap::from([("SecretARN".to_string(), secret_arn.to_string())]);
        let keys = KmsKeys {
            via_service: Some(format!("secretsmanager.{}.amazonaws.com", caller.region)),
            encryption_context: Some(&ctx),
            extra: Vec::new(),
        };
        // The service's own work (a built-in rotator reading and writing the
        // secret) acts for whoever was allowed to configure the rotation; it
        // is audited all the same.
        let decided = if caller.internal {
            Ok(())
        } else {
            self.identity
                .authorize_kms(caller, action, doc, &keys)
                .await
        };
        self.audit_key_use(caller, action, doc, &ctx, decided.as_ref().err())
            .await?;
        decided.map_err(|e| {
            if e.code == ErrorCode::AccessDenied {
                ApiError::new(ErrorCode::AccessDenied, "Access to KMS is not allowed")
            } else {
                e
            }
        })
    }

    /// KMS's own record of the use, as CloudTrail keeps one when Secrets
    /// Manager calls KMS for a caller: the key's owner sees who used its key,
    /// for which secret, and whether the key policy let them.
    async fn audit_key_use(
        &self,
        caller: &Caller,
        action: &str,
        doc: &KeyDoc,
        ctx: &BTreeMap<String, String>,
        refused: Option<&ApiError>,
    ) -> Result<(), ApiError> {
        let name = action.trim_start_matches("kms:");
        let params = serde_json::json!({ "keyId": doc.arn, "encryptionContext": ctx });
        let now = self.clock.now_ms();
        let mut rec =
            crate::audit::record_from(crate::audit::KMS, caller, name, now, params, refused, true);
        rec["userIdentity"]["invokedBy"] = "secretsmanager.amazonaws.com".into();
        rec["resources"] = serde_json::json!([{ "ARN": doc.arn, "type": "AWS::KMS::Key" }]);
        self.audit.append(rec).await
    }
}

/// The versions AWS re-encrypts when a secret's key changes.
const RESEALED: [&str; 3] = ["AWSCURRENT", "AWSPENDING", "AWSPREVIOUS"];

impl Secrets {
    /// The AWSCURRENT, AWSPENDING and AWSPREVIOUS versions of `s` sealed anew
    /// under `kms`, as UpdateSecret does when it changes the key. A version the
    /// caller may not decrypt stays as it is (AWS does the same); older versions
    /// keep their key, so disabling the old key leaves only these readable.
    pub(crate) async fn reseal_under(
        &self,
        caller: &Caller,
        s: &Secret,
        kms: &KmsKey,
    ) -> Result<Vec<VersionRow>, ApiError> {
        let mut out = Vec::new();
        for v in &s.versions {
            if v.kms_key_id == kms.arn || !v.labels.iter().any(|l| RESEALED.contains(&l.as_str())) {
                continue;
            }
            let plain = match self.decrypt_as(s, v, Some(caller)).await {
                Ok(p) => p,
                Err(e)
                    if matches!(
                        e.code,
                        ErrorCode::AccessDenied | ErrorCode::DecryptionFailure
                    ) =>
                {
                    continue;
                }
                Err(e) => return Err(e),
            };
            let value = NewValue::of_stored(&v.value_kind, plain)?;
            let sealed = seal_version(kms, &s.row.arn, &v.version_id, &value, v.created_ms)?;
            out.push(VersionRow {
                kms_key_id: sealed.kms_key_id,
                wrapped_data_key: sealed.wrapped_data_key,
                ciphertext: sealed.ciphertext,
                ..v.clone()
            });
        }
        Ok(out)
    }
}
