//! Customer-managed keys: their documents in the store, how a caller's KeyId
//! (key id, key ARN, alias name, alias ARN) finds one, and the key material
//! each holds, sealed under the root key. A key keeps every material it ever
//! had: rotation adds one and makes it current, so every blob stays readable.
//!
//! Documents are entities of the store (written with an outbox record and an
//! audit record by the KMS API); they are read fresh on every use, so a key
//! disabled on one server is disabled on all. Unwrapped materials are cached:
//! they never change.

use super::{Keyring, KmsKey, DEFAULT_ALIAS};
use crate::errors::internal;
use base64::Engine;
use coffer_api::{ApiError, ErrorCode};
use coffer_crypto::Key256;
use coffer_store::Scope;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

pub const KEY: &str = "kms-key";
pub const ALIAS: &str = "kms-alias";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyState {
    Enabled,
    Disabled,
    PendingDeletion,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Enabled => "Enabled",
            KeyState::Disabled => "Disabled",
            KeyState::PendingDeletion => "PendingDeletion",
        }
    }
}

/// One key material, sealed under the root key and bound to the key's ARN and
/// its number.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Material {
    /// What AWS calls a key material id: 64 hex digits.
    pub id: String,
    pub wrapped: String,
    pub created_ms: i64,
    /// Made by RotateKeyOnDemand (else by the key's creation or its schedule).
    #[serde(default)]
    pub on_demand: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyDoc {
    pub key_id: String,
    pub arn: String,
    pub account_id: String,
    pub region: String,
    #[serde(default)]
    pub description: String,
    pub created_ms: i64,
    pub state: KeyState,
    pub deletion_ms: Option<i64>,
    pub pending_days: Option<i64>,
    pub policy: String,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    /// The automatic rotation period in days, while automatic rotation is on.
    pub rotation_days: Option<i64>,
    /// When the rotation period last started (turned on, or last rotated).
    pub rotation_from_ms: Option<i64>,
    pub materials: Vec<Material>,
}

impl KeyDoc {
    /// The number of the current material (the newest).
    pub fn current(&self) -> u32 {
        u32::try_from(self.materials.len().saturating_sub(1)).unwrap_or(0)
    }

    /// Whether the key can be used for cryptography now; AWS's error if not.
    pub fn usable(&self) -> Result<(), ApiError> {
        match self.state {
            KeyState::Enabled => Ok(()),
            KeyState::Disabled => Err(ApiError::new(
                ErrorCode::Disabled,
                format!("{} is disabled.", self.arn),
            )),
            KeyState::PendingDeletion => Err(pending_deletion(&self.arn)),
        }
    }
}

pub fn pending_deletion(arn: &str) -> ApiError {
    ApiError::new(
        ErrorCode::KmsInvalidState,
        format!("{arn} is pending deletion."),
    )
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AliasDoc {
    pub name: String,
    pub arn: String,
    pub target_key_id: String,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// The key a KeyId names.
pub enum Named {
    /// The account's AWS-managed `aws/secretsmanager` key.
    Default,
    /// A customer-managed key and its document's revision.
    Customer(Box<KeyDoc>, i64),
}

/// The policy AWS gives a key created without one: the account's IAM policies
/// decide. In AWS's own layout (`" : "`, two-space indent), as GetKeyPolicy shows it.
pub fn default_policy(account: &str) -> String {
    format!(
        "{{\n  \"Version\" : \"2012-10-17\",\n  \"Id\" : \"key-default-1\",\n  \"Statement\" : [ {{\n    \"Sid\" : \"Enable IAM User Permissions\",\n    \"Effect\" : \"Allow\",\n    \"Principal\" : {{\n      \"AWS\" : \"arn:aws:iam::{account}:root\"\n    }},\n    \"Action\" : \"kms:*\",\n    \"Resource\" : \"*\"\n  }} ]\n}}"
    )
}

/// The encryption context as the blob's associated data binds it.
pub fn canonical_context(ctx: Option<&BTreeMap<String, String>>) -> String {
    ctx.map_or_else(String::new, |c| {
        serde_json::to_string(c).unwrap_or_default()
    })
}

/// The encryption context Secrets Manager uses for a version's data key.
pub fn secret_context(secret_arn: &str, version_id: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("SecretARN".to_string(), secret_arn.to_string()),
        ("SecretVersionId".to_string(), version_id.to_string()),
    ])
}

/// `arn:aws:kms:REGION:ACCOUNT:RESOURCE` → (region, account, resource).
pub fn split_kms_arn(id: &str) -> Option<(&str, &str, &str)> {
    let mut parts = id.strip_prefix("arn:aws:kms:")?.splitn(3, ':');
    Some((parts.next()?, parts.next()?, parts.next()?))
}

fn not_found_key(arn: &str) -> ApiError {
    ApiError::new(
        ErrorCode::KmsNotFound,
        format!("Key '{arn}' does not exist"),
    )
}

fn not_found_alias(arn: &str) -> ApiError {
    ApiError::new(ErrorCode::KmsNotFound, format!("Alias {arn} is not found."))
}

pub(super) fn material_aad(arn: &str, n: u32) -> String {
    format!("{arn}#material-{n}")
}

impl Keyring {
    /// A document of the store, kept per account under `region/name`.
    async fn doc<T: serde::de::DeserializeOwned>(
        &self,
        kind: &str,
        account: &str,
        region: &str,
        name: &str,
    ) -> Result<Option<(T, i64)>, ApiError> {
        let row = self
            .store
            .iam_get(account, kind, &format!("{region}/{name}"))
            .await
            .map_err(internal)?;
        row.map(|r| Ok((serde_json::from_str(&r.body).map_err(internal)?, r.revision)))
            .transpose()
    }

    pub(crate) async fn key_doc(
        &self,
        account: &str,
        region: &str,
        key_id: &str,
    ) -> Result<Option<(KeyDoc, i64)>, ApiError> {
        self.doc(KEY, account, region, key_id).await
    }

    pub(crate) async fn alias_doc(
        &self,
        account: &str,
        region: &str,
        name: &str,
    ) -> Result<Option<(AliasDoc, i64)>, ApiError> {
        self.doc(ALIAS, account, region, name).await
    }

    /// The key `id` names, seen from `scope` (an ARN may name another account's).
    pub async fn resolve(&self, scope: &Scope, id: &str) -> Result<Named, ApiError> {
        let (account, region, rest) = match split_kms_arn(id) {
            Some((r, a, rest)) => (a.to_string(), r.to_string(), rest.to_string()),
            None if id.starts_with("arn:") => {
                return Err(ApiError::new(
                    ErrorCode::InvalidArn,
                    format!("Invalid arn {id}"),
                ))
            }
            None => (
                scope.account_id.clone(),
                scope.region.clone(),
                id.to_string(),
            ),
        };
        // Keys are regional: an ARN of another region names nothing here.
        if region != scope.region {
            return Err(ApiError::new(
                ErrorCode::KmsNotFound,
                format!("Invalid arn {region}"),
            ));
        }
        let arn_of = |what: &str| format!("arn:aws:kms:{region}:{account}:{what}");
        if rest.starts_with("alias/") {
            if rest == DEFAULT_ALIAS {
                return Ok(Named::Default);
            }
            let Some((alias, _)) = self.alias_doc(&account, &region, &rest).await? else {
                return Err(not_found_alias(&arn_of(&rest)));
            };
            return match self
                .key_doc(&account, &region, &alias.target_key_id)
                .await?
            {
                Some((doc, rev)) => Ok(Named::Customer(Box::new(doc), rev)),
                None => Err(not_found_alias(&arn_of(&rest))),
            };
        }
        let key_id = if id.starts_with("arn:") {
            rest.strip_prefix("key/")
                .ok_or_else(|| ApiError::new(ErrorCode::InvalidArn, format!("Invalid arn {id}")))?
                .to_string()
        } else {
            rest
        };
        if uuid::Uuid::parse_str(&key_id).is_err() || key_id.len() != 36 {
            return Err(ApiError::new(
                ErrorCode::KmsNotFound,
                format!("Invalid keyId '{key_id}'"),
            ));
        }
        if let Some((doc, rev)) = self.key_doc(&account, &region, &key_id).await? {
            return Ok(Named::Customer(Box::new(doc), rev));
        }
        let owner = Scope {
            account_id: account.clone(),
            region: region.clone(),
        };
        if let Some(row) = self
            .store
            .kms_key(&owner, &key_id)
            .await
            .map_err(internal)?
        {
            if row.alias == DEFAULT_ALIAS {
                return Ok(Named::Default);
            }
        }
        Err(not_found_key(&arn_of(&format!("key/{key_id}"))))
    }

    /// A new material for key `arn`, number `n`.
    pub(crate) fn new_material(
        &self,
        arn: &str,
        n: u32,
        now: i64,
        on_demand: bool,
    ) -> Result<Material, ApiError> {
        let key = Key256::random();
        let name = material_aad(arn, n);
        let wrapped = self
            .roots
            .seal(|root| coffer_crypto::wrap_kms_key(root, &name, &key))
            .map_err(internal)?;
        let mut id = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut id);
        Ok(Material {
            id: hex::encode(id),
            wrapped: base64::engine::general_purpose::STANDARD.encode(wrapped),
            created_ms: now,
            on_demand,
        })
    }

    /// Material `n` of a key, unwrapped (cached: materials never change).
    pub(crate) fn material(&self, doc: &KeyDoc, n: u32) -> Result<Arc<KmsKey>, ApiError> {
        let name = material_aad(&doc.arn, n);
        if let Some(k) = self.by_arn.read().ok().and_then(|m| m.get(&name).cloned()) {
            return Ok(k);
        }
        let m = doc
            .materials
            .get(n as usize)
            .ok_or_else(|| ApiError::new(ErrorCode::InvalidCiphertext, ""))?;
        let wrapped = base64::engine::general_purpose::STANDARD
            .decode(&m.wrapped)
            .map_err(internal)?;
        let key = self
            .roots
            .open(|root| coffer_crypto::unwrap_kms_key(root, &name, &wrapped))
            .map_err(internal)?;
        let k = Arc::new(KmsKey {
            arn: doc.arn.clone(),
            key,
            material: Some(n),
        });
        if let Ok(mut c) = self.by_arn.write() {
            c.insert(name, k.clone());
        }
        Ok(k)
    }

    /// Encrypt: a blob of `plaintext` under the key's current material.
    pub fn encrypt_blob(
        &self,
        doc: &KeyDoc,
        context: Option<&BTreeMap<String, String>>,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, ApiError> {
        doc.usable()?;
        let k = self.material(doc, doc.current())?;
        coffer_crypto::seal_blob(
            &k.key,
            &doc.arn,
            doc.current(),
            &canonical_context(context),
            plaintext,
        )
        .map_err(internal)
    }

    /// Decrypt: what a blob made by this key holds. A blob of another key,
    /// or of another context, is `InvalidCiphertextException`.
    pub fn decrypt_blob(
        &self,
        doc: &KeyDoc,
        context: Option<&BTreeMap<String, String>>,
        blob: &[u8],
    ) -> Result<coffer_crypto::SecretBytes, ApiError> {
        doc.usable()?;
        let invalid = || ApiError::new(ErrorCode::InvalidCiphertext, "");
        let (header, sealed) = coffer_crypto::blob_header(blob).map_err(|_| invalid())?;
        if header.key_arn != doc.arn {
            return Err(invalid());
        }
        let k = self.material(doc, header.material)?;
        coffer_crypto::open_blob(&k.key, &header, &canonical_context(context), sealed)
            .map_err(|_| invalid())
    }
}

/// A version's data key wrapped under a customer-managed key's material, as
/// KMS's GenerateDataKey would with Secrets Manager's encryption context.
pub fn wrap_data_key(
    kms: &KmsKey,
    secret_arn: &str,
    version_id: &str,
    data_key: &Key256,
) -> Result<Vec<u8>, ApiError> {
    let ctx = secret_context(secret_arn, version_id);
    coffer_crypto::seal_blob(
        &kms.key,
        &kms.arn,
        kms.material.unwrap_or(0),
        &canonical_context(Some(&ctx)),
        data_key.as_bytes(),
    )
    .map_err(internal)
}

/// The key ARN a blob names, if it is one of ours.
pub fn blob_key_arn(blob: &[u8]) -> Option<String> {
    coffer_crypto::blob_header(blob)
        .ok()
        .map(|(h, _)| h.key_arn)
}
