//! The KMS operations Coffer serves (`TrentService.*`, JSON 1.1, model
//! `kms/2014-11-01`): symmetric keys, their aliases, policies, tags, rotation
//! and the cryptographic operations on them. One request shape carries every
//! member the served operations take; [`KmsOperation::parse`] checks each
//! operation's required members and the model's constraints, and refuses what
//! Coffer does not do (asymmetric and HMAC keys, custom key stores, imported
//! material, multi-Region keys, recipients, dry runs) instead of ignoring it.

use crate::error::{ApiError, ErrorCode};
use crate::types::Sensitive;
use crate::validate;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Every operation of the model (metrics and logs name nothing else).
pub const NAMES: &[&str] = &[
    "CancelKeyDeletion",
    "ConnectCustomKeyStore",
    "CreateAlias",
    "CreateCustomKeyStore",
    "CreateGrant",
    "CreateKey",
    "Decapsulate",
    "Decrypt",
    "DeleteAlias",
    "DeleteCustomKeyStore",
    "DeleteImportedKeyMaterial",
    "DeriveSharedSecret",
    "DescribeCustomKeyStores",
    "DescribeKey",
    "DisableKey",
    "DisableKeyRotation",
    "DisconnectCustomKeyStore",
    "EnableKey",
    "EnableKeyRotation",
    "Encapsulate",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateMac",
    "GenerateRandom",
    "GetKeyLastUsage",
    "GetKeyPolicy",
    "GetKeyRotationStatus",
    "GetParametersForImport",
    "GetPublicKey",
    "ImportKeyMaterial",
    "ListAliases",
    "ListGrants",
    "ListKeyPolicies",
    "ListKeyRotations",
    "ListKeys",
    "ListResourceTags",
    "ListRetirableGrants",
    "PutKeyPolicy",
    "ReEncrypt",
    "ReplicateKey",
    "RetireGrant",
    "RevokeGrant",
    "RotateKeyOnDemand",
    "ScheduleKeyDeletion",
    "Sign",
    "TagResource",
    "UntagResource",
    "UpdateAlias",
    "UpdateCustomKeyStore",
    "UpdateKeyDescription",
    "UpdatePrimaryRegion",
    "Verify",
    "VerifyMac",
];

/// The operations served, by the action they are authorized as (`kms:NAME`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KmsAction {
    CreateKey,
    DescribeKey,
    ListKeys,
    UpdateKeyDescription,
    CreateAlias,
    ListAliases,
    UpdateAlias,
    DeleteAlias,
    EnableKey,
    DisableKey,
    ScheduleKeyDeletion,
    CancelKeyDeletion,
    GetKeyPolicy,
    PutKeyPolicy,
    ListKeyPolicies,
    TagResource,
    UntagResource,
    ListResourceTags,
    EnableKeyRotation,
    DisableKeyRotation,
    GetKeyRotationStatus,
    RotateKeyOnDemand,
    Encrypt,
    Decrypt,
    ReEncrypt,
    GenerateDataKey,
    GenerateDataKeyWithoutPlaintext,
    GenerateRandom,
}

const SERVED: &[(KmsAction, &str)] = &[
    (KmsAction::CreateKey, "CreateKey"),
    (KmsAction::DescribeKey, "DescribeKey"),
    (KmsAction::ListKeys, "ListKeys"),
    (KmsAction::UpdateKeyDescription, "UpdateKeyDescription"),
    (KmsAction::CreateAlias, "CreateAlias"),
    (KmsAction::ListAliases, "ListAliases"),
    (KmsAction::UpdateAlias, "UpdateAlias"),
    (KmsAction::DeleteAlias, "DeleteAlias"),
    (KmsAction::EnableKey, "EnableKey"),
    (KmsAction::DisableKey, "DisableKey"),
    (KmsAction::ScheduleKeyDeletion, "ScheduleKeyDeletion"),
    (KmsAction::CancelKeyDeletion, "CancelKeyDeletion"),
    (KmsAction::GetKeyPolicy, "GetKeyPolicy"),
    (KmsAction::PutKeyPolicy, "PutKeyPolicy"),
    (KmsAction::ListKeyPolicies, "ListKeyPolicies"),
    (KmsAction::TagResource, "TagResource"),
    (KmsAction::UntagResource, "UntagResource"),
    (KmsAction::ListResourceTags, "ListResourceTags"),
    (KmsAction::EnableKeyRotation, "EnableKeyRotation"),
    (KmsAction::DisableKeyRotation, "DisableKeyRotation"),
    (KmsAction::GetKeyRotationStatus, "GetKeyRotationStatus"),
    (KmsAction::RotateKeyOnDemand, "RotateKeyOnDemand"),
    (KmsAction::Encrypt, "Encrypt"),
    (KmsAction::Decrypt, "Decrypt"),
    (KmsAction::ReEncrypt, "ReEncrypt"),
    (KmsAction::GenerateDataKey, "GenerateDataKey"),
    (
        KmsAction::GenerateDataKeyWithoutPlaintext,
        "GenerateDataKeyWithoutPlaintext",
    ),
    (KmsAction::GenerateRandom, "GenerateRandom"),
];

impl KmsAction {
    pub fn name(self) -> &'static str {
        SERVED
            .iter()
            .find(|(a, _)| *a == self)
            .map_or("", |(_, n)| n)
    }

    fn of(name: &str) -> Option<Self> {
        SERVED.iter().find(|(_, n)| *n == name).map(|(a, _)| *a)
    }

    /// Operations that use key material (`kms:ViaService` matters to them).
    pub fn is_cryptographic(self) -> bool {
        matches!(
            self,
            Self::Encrypt
                | Self::Decrypt
                | Self::ReEncrypt
                | Self::GenerateDataKey
                | Self::GenerateDataKeyWithoutPlaintext
        )
    }
}

/// The model's name for `name`, if it has such an operation.
pub fn known(name: &str) -> Option<&'static str> {
    NAMES.iter().find(|n| **n == name).copied()
}

/// Whether the operation changes nothing (quotas; the audit record's
/// `readOnly`): as in CloudTrail, the cryptographic operations only read.
pub fn is_read_only(name: &str) -> bool {
    name.starts_with("Describe")
        || name.starts_with("List")
        || name.starts_with("Get")
        || name.starts_with("Generate")
        || matches!(name, "Encrypt" | "Decrypt" | "ReEncrypt")
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KmsTag {
    pub tag_key: String,
    pub tag_value: String,
}

/// A base64 blob member that is not secret (ciphertext).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Blob(pub Vec<u8>);

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use base64::Engine;
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s.as_bytes())
            .map(Blob)
            .map_err(serde::de::Error::custom)
    }
}

impl Serialize for Blob {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use base64::Engine;
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
    }
}

/// Every member the served operations take. Which are required, and which are
/// refused, depends on the operation ([`KmsOperation::parse`]).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KmsRequest {
    pub key_id: Option<String>,
    pub target_key_id: Option<String>,
    pub alias_name: Option<String>,
    pub description: Option<String>,
    pub policy: Option<String>,
    pub policy_name: Option<String>,
    pub bypass_policy_lockout_safety_check: Option<bool>,
    pub key_usage: Option<String>,
    pub customer_master_key_spec: Option<String>,
    pub key_spec: Option<String>,
    pub origin: Option<String>,
    pub custom_key_store_id: Option<String>,
    pub xks_key_id: Option<String>,
    pub multi_region: Option<bool>,
    pub tags: Option<Vec<KmsTag>>,
    pub tag_keys: Option<Vec<String>>,
    pub limit: Option<i64>,
    pub marker: Option<String>,
    pub resource_owners: Option<Vec<String>>,
    pub pending_window_in_days: Option<i64>,
    pub rotation_period_in_days: Option<i64>,
    pub plaintext: Option<Sensitive<Vec<u8>>>,
    pub ciphertext_blob: Option<Blob>,
    pub encryption_context: Option<BTreeMap<String, String>>,
    pub source_encryption_context: Option<BTreeMap<String, String>>,
    pub destination_encryption_context: Option<BTreeMap<String, String>>,
    pub source_key_id: Option<String>,
    pub destination_key_id: Option<String>,
    pub encryption_algorithm: Option<String>,
    pub source_encryption_algorithm: Option<String>,
    pub destination_encryption_algorithm: Option<String>,
    pub number_of_bytes: Option<i64>,
    pub grant_tokens: Option<Vec<String>>,
    pub recipient: Option<Value>,
    pub dry_run: Option<bool>,
    pub dry_run_modifiers: Option<Value>,
}

/// One served KMS request, typed and checked.
#[derive(Debug, Clone)]
pub struct KmsOperation {
    pub action: KmsAction,
    pub req: KmsRequest,
}

fn unsupported(what: &str) -> ApiError {
    ApiError::new(
        ErrorCode::KmsUnsupportedOperation,
        format!("{what} is not supported by Coffer's KMS."),
    )
}

fn violation(field: &str, constraint: &str) -> ApiError {
    ApiError::new(
        ErrorCode::Validation,
        format!("1 validation error detected: Value at '{field}' failed to satisfy constraint: {constraint}"),
    )
}

impl KmsOperation {
    /// Parses a served operation (`name` is the target without `TrentService.`).
    pub fn parse(name: &str, body: &[u8]) -> Result<Self, ApiError> {
        let Some(action) = KmsAction::of(name) else {
            return Err(match known(name) {
                Some(n) => ApiError::new(
                    ErrorCode::KmsUnsupportedOperation,
                    format!("Coffer's KMS does not serve {n}."),
                ),
                None => ApiError::new(ErrorCode::UnknownOperation, ""),
            });
        };
        let req: KmsRequest = crate::sm_ops::from_body(body)?;
        let op = KmsOperation { action, req };
        op.validate()?;
        Ok(op)
    }

    pub fn name(&self) -> &'static str {
        self.action.name()
    }

    /// The key the operation acts on, as the caller named it (None: the
    /// account, or a key only the ciphertext names).
    pub fn key_id(&self) -> Option<&str> {
        use KmsAction as A;
        let r = &self.req;
        match self.action {
            A::CreateAlias | A::UpdateAlias => r.target_key_id.as_deref(),
            A::ReEncrypt => r.destination_key_id.as_deref(),
            A::CreateKey | A::ListKeys | A::GenerateRandom | A::DeleteAlias => None,
            A::ListAliases | A::Decrypt => r.key_id.as_deref(),
            _ => r.key_id.as_deref(),
        }
    }

    /// What the audit record keeps: never plaintext, ciphertext or policies.
    pub fn audit_parameters(&self) -> Value {
        let r = &self.req;
        let mut m = serde_json::Map::new();
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                m.insert(k.to_string(), v);
            }
        };
        put("keyId", r.key_id.clone().map(Value::from));
        put("targetKeyId", r.target_key_id.clone().map(Value::from));
        put("aliasName", r.alias_name.clone().map(Value::from));
        put("description", r.description.clone().map(Value::from));
        put("policyName", r.policy_name.clone().map(Value::from));
        put("keySpec", r.key_spec.clone().map(Value::from));
        put("keyUsage", r.key_usage.clone().map(Value::from));
        put(
            "pendingWindowInDays",
            r.pending_window_in_days.map(Value::from),
        );
        put(
            "rotationPeriodInDays",
            r.rotation_period_in_days.map(Value::from),
        );
        put("numberOfBytes", r.number_of_bytes.map(Value::from));
        put("sourceKeyId", r.source_key_id.clone().map(Value::from));
        put(
            "destinationKeyId",
            r.destination_key_id.clone().map(Value::from),
        );
        put(
            "encryptionContext",
            r.encryption_context
                .as_ref()
                .and_then(|c| serde_json::to_value(c).ok()),
        );
        put(
            "tagKeys",
            r.tag_keys
                .as_ref()
                .and_then(|c| serde_json::to_value(c).ok()),
        );
        Value::Object(m)
    }

    fn validate(&self) -> Result<(), ApiError> {
        use KmsAction as A;
        let r = &self.req;
        self.refuse_unsupported()?;
        let key_id = |field: &str| validate::required(r.key_id.as_deref(), field, 1, 2048);
        match self.action {
            A::CreateKey => {
                validate::optional(r.description.as_deref(), "description", 0, 8192)?;
                validate::optional(r.policy.as_deref(), "policy", 1, 131_072)?;
                tags(r.tags.as_deref())?;
            }
            A::ListKeys => {}
            A::UpdateKeyDescription => {
                key_id("keyId")?;
                validate::required(r.description.as_deref(), "description", 0, 8192)?;
            }
            A::CreateAlias | A::UpdateAlias => {
                alias_name(r.alias_name.as_deref())?;
                validate::required(r.target_key_id.as_deref(), "targetKeyId", 1, 2048)?;
            }
            A::DeleteAlias => alias_name(r.alias_name.as_deref())?,
            A::ListAliases => {
                validate::optional(r.key_id.as_deref(), "keyId", 1, 2048)?;
            }
            A::GetKeyPolicy => {
                key_id("keyId")?;
                validate::optional(r.policy_name.as_deref(), "policyName", 1, 128)?;
            }
            A::PutKeyPolicy => {
                key_id("keyId")?;
                validate::optional(r.policy_name.as_deref(), "policyName", 1, 128)?;
                validate::required(r.policy.as_deref(), "policy", 1, 131_072)?;
            }
            A::ScheduleKeyDeletion => {
                key_id("keyId")?;
                if let Some(d) = r.pending_window_in_days {
                    number(d, "pendingWindowInDays", 1, 365)?;
                    if !(7..=30).contains(&d) {
                        return Err(ApiError::new(
                            ErrorCode::Validation,
                            "PendingWindowInDays must be between 7 and 30",
                        ));
                    }
                }
            }
            A::TagResource => {
                key_id("keyId")?;
                let t = r
                    .tags
                    .as_deref()
                    .ok_or_else(|| violation("tags", "Member must not be null"))?;
                tags(Some(t))?;
            }
            A::UntagResource => {
                key_id("keyId")?;
                let keys = r
                    .tag_keys
                    .as_deref()
                    .ok_or_else(|| violation("tagKeys", "Member must not be null"))?;
                for k in keys {
                    validate::length(k, "tagKeys.member", 1, 128)?;
                }
            }
            A::EnableKeyRotation => {
                key_id("keyId")?;
                if let Some(d) = r.rotation_period_in_days {
                    number(d, "rotationPeriodInDays", 90, 2560)?;
                }
            }
            A::Encrypt => {
                key_id("keyId")?;
                plaintext(r.plaintext.as_ref())?;
                algorithm(r.encryption_algorithm.as_deref())?;
            }
            A::Decrypt => {
                validate::optional(r.key_id.as_deref(), "keyId", 1, 2048)?;
                ciphertext(r.ciphertext_blob.as_ref())?;
                algorithm(r.encryption_algorithm.as_deref())?;
            }
            A::ReEncrypt => {
                ciphertext(r.ciphertext_blob.as_ref())?;
                validate::optional(r.source_key_id.as_deref(), "sourceKeyId", 1, 2048)?;
                validate::required(r.destination_key_id.as_deref(), "destinationKeyId", 1, 2048)?;
                algorithm(r.source_encryption_algorithm.as_deref())?;
                algorithm(r.destination_encryption_algorithm.as_deref())?;
            }
            A::GenerateDataKey | A::GenerateDataKeyWithoutPlaintext => {
                key_id("keyId")?;
                data_key_size(r.number_of_bytes, r.key_spec.as_deref())?;
            }
            A::GenerateRandom => {
                let n = r.number_of_bytes.ok_or_else(|| {
                    ApiError::new(ErrorCode::Validation, "NumberOfBytes is required.")
                })?;
                number(n, "numberOfBytes", 1, 1024)?;
            }
            A::DescribeKey
            | A::EnableKey
            | A::DisableKey
            | A::CancelKeyDeletion
            | A::ListKeyPolicies
            | A::ListResourceTags
            | A::DisableKeyRotation
            | A::GetKeyRotationStatus
            | A::RotateKeyOnDemand => {
                key_id("keyId")?;
            }
        }
        if let Some(l) = r.limit {
            number(l, "limit", 1, 1000)?;
        }
        validate::optional(r.marker.as_deref(), "marker", 1, 1024)?;
        Ok(())
    }

    /// Members whose features Coffer's KMS does not have: refused, never ignored.
    fn refuse_unsupported(&self) -> Result<(), ApiError> {
        let r = &self.req;
        if r.dry_run == Some(true) || r.dry_run_modifiers.is_some() {
            return Err(unsupported("DryRun"));
        }
        if r.recipient.is_some() {
            return Err(unsupported("Recipient (Nitro Enclaves attestation)"));
        }
        if r.custom_key_store_id.is_some() || r.xks_key_id.is_some() {
            return Err(unsupported("A custom key store"));
        }
        if r.multi_region == Some(true) {
            return Err(unsupported("A multi-Region key"));
        }
        if self.action == KmsAction::CreateKey {
            if let Some(o) = r.origin.as_deref().filter(|o| *o != "AWS_KMS") {
                validate::one_of(
                    o,
                    "origin",
                    &["AWS_KMS", "EXTERNAL", "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"],
                )?;
                return Err(unsupported(&format!("Origin {o}")));
            }
            if let Some(u) = r.key_usage.as_deref().filter(|u| *u != "ENCRYPT_DECRYPT") {
                return Err(unsupported(&format!("KeyUsage {u}")));
            }
            for spec in [r.key_spec.as_deref(), r.customer_master_key_spec.as_deref()]
                .into_iter()
                .flatten()
            {
                if spec != "SYMMETRIC_DEFAULT" {
                    return Err(unsupported(&format!("KeySpec {spec}")));
                }
            }
        }
        Ok(())
    }
}

/// A number member out of its range: KMS's message names the value.
fn number(v: i64, field: &str, min: i64, max: i64) -> Result<(), ApiError> {
    let (op, bound) = if v < min {
        ("greater than or equal to", min)
    } else if v > max {
        ("less than or equal to", max)
    } else {
        return Ok(());
    };
    Err(ApiError::new(
        ErrorCode::Validation,
        format!("1 validation error detected: Value '{v}' at '{field}' failed to satisfy constraint: Member must have value {op} {bound}"),
    ))
}

fn alias_name(v: Option<&str>) -> Result<(), ApiError> {
    let v = validate::required(v, "aliasName", 1, 256)?;
    if !v
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '/' | '_' | '-'))
    {
        return Err(violation(
            "aliasName",
            "Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$",
        ));
    }
    if !v.starts_with("alias/") {
        return Err(ApiError::new(
            ErrorCode::Validation,
            "Alias must start with the prefix \"alias/\". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html",
        ));
    }
    Ok(())
}

fn tags(t: Option<&[KmsTag]>) -> Result<(), ApiError> {
    let t = t.unwrap_or_default();
    let tag_error = |m: &str| ApiError::new(ErrorCode::KmsTag, m);
    for (i, tag) in t.iter().enumerate() {
        let n = i + 1;
        validate::length(&tag.tag_key, &format!("tags.{n}.member.tagKey"), 1, 128)?;
        validate::length(&tag.tag_value, &format!("tags.{n}.member.tagValue"), 0, 256)?;
        if tag.tag_key.starts_with("aws:") {
            return Err(tag_error("Tags beginning with aws: are reserved"));
        }
    }
    let mut keys: Vec<&str> = t.iter().map(|t| t.tag_key.as_str()).collect();
    keys.sort_unstable();
    if keys.windows(2).any(|w| w[0] == w[1]) {
        return Err(tag_error("Duplicate tag keys"));
    }
    if t.len() > 50 {
        return Err(tag_error("Too many tags"));
    }
    Ok(())
}

fn plaintext(p: Option<&Sensitive<Vec<u8>>>) -> Result<(), ApiError> {
    let p = p.ok_or_else(|| violation("plaintext", "Member must not be null"))?;
    if p.0.is_empty() {
        return Err(violation(
            "plaintext",
            "Member must have length greater than or equal to 1",
        ));
    }
    if p.0.len() > 4096 {
        return Err(violation(
            "plaintext",
            "Member must have length less than or equal to 4096",
        ));
    }
    Ok(())
}

fn ciphertext(c: Option<&Blob>) -> Result<(), ApiError> {
    let c = c.ok_or_else(|| violation("ciphertextBlob", "Member must not be null"))?;
    if c.0.is_empty() {
        return Err(violation(
            "ciphertextBlob",
            "Member must have length greater than or equal to 1",
        ));
    }
    if c.0.len() > 6144 {
        return Err(violation(
            "ciphertextBlob",
            "Member must have length less than or equal to 6144",
        ));
    }
    Ok(())
}

fn algorithm(a: Option<&str>) -> Result<(), ApiError> {
    match a {
        None | Some("SYMMETRIC_DEFAULT") => Ok(()),
        Some(other) => {
            validate::one_of(
                other,
                "encryptionAlgorithm",
                &[
                    "SYMMETRIC_DEFAULT",
                    "RSAES_OAEP_SHA_1",
                    "RSAES_OAEP_SHA_256",
                    "SM2PKE",
                ],
            )?;
            Err(ApiError::new(
                ErrorCode::InvalidKeyUsage,
                format!("The encryption algorithm {other} is not valid for a symmetric key."),
            ))
        }
    }
}

/// GenerateDataKey needs exactly one of NumberOfBytes and KeySpec.
fn data_key_size(n: Option<i64>, spec: Option<&str>) -> Result<(), ApiError> {
    if let Some(s) = spec {
        validate::one_of(s, "keySpec", &["AES_256", "AES_128"])?;
    }
    if let Some(n) = n {
        number(n, "numberOfBytes", 1, 1024)?;
    }
    match (n, spec) {
        (Some(_), Some(_)) => Err(ApiError::new(
            ErrorCode::Validation,
            "Please specify either number of bytes or key spec.",
        )),
        (None, None) => Err(ApiError::new(
            ErrorCode::Validation,
            "Please specify either number of bytes or key spec.",
        )),
        _ => Ok(()),
    }
}

impl KmsOperation {
    /// Bytes of data key to generate (validated: one of the two is present).
    pub fn data_key_len(&self) -> usize {
        match (self.req.number_of_bytes, self.req.key_spec.as_deref()) {
            (Some(n), _) => usize::try_from(n).unwrap_or(32),
            (None, Some("AES_128")) => 16,
            _ => 32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(name: &str, body: &str) -> Result<KmsOperation, ApiError> {
        KmsOperation::parse(name, body.as_bytes())
    }

    #[test]
    fn cryptography_only_reads() {
        for n in [
            "Encrypt",
            "Decrypt",
            "ReEncrypt",
            "GenerateDataKey",
            "GenerateRandom",
            "ListKeys",
        ] {
            assert!(is_read_only(n), "{n}");
        }
        for n in [
            "CreateKey",
            "DisableKey",
            "PutKeyPolicy",
            "RotateKeyOnDemand",
        ] {
            assert!(!is_read_only(n), "{n}");
        }
    }

    #[test]
    fn served_and_known() {
        assert!(parse("CreateKey", "{}").is_ok());
        assert_eq!(
            parse("Sign", "{}").unwrap_err().code,
            ErrorCode::KmsUnsupportedOperation
        );
        assert_eq!(
            parse("Nope", "{}").unwrap_err().code,
            ErrorCode::UnknownOperation
        );
        for (_, n) in SERVED {
            assert!(known(n).is_some(), "{n} is in the model");
        }
    }

    #[test]
    fn constraints() {
        let e = parse("DescribeKey", "{}").unwrap_err();
        assert!(e.message.contains("'keyId'"), "{}", e.message);
        let e = parse(
            "CreateAlias",
            r#"{"AliasName":"alias/a b","TargetKeyId":"k"}"#,
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::Validation);
        let e = parse("GenerateDataKey", r#"{"KeyId":"k"}"#).unwrap_err();
        assert_eq!(
            e.message,
            "Please specify either number of bytes or key spec."
        );
        let e = parse("GenerateDataKey", r#"{"KeyId":"k","NumberOfBytes":1025}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::Validation);
        let big = base64_of(&[7u8; 4097]);
        let e = parse(
            "Encrypt",
            &format!(r#"{{"KeyId":"k","Plaintext":"{big}"}}"#),
        )
        .unwrap_err();
        assert!(e.message.contains("less than or equal to 4096"));
        let e = parse("CreateKey", r#"{"KeySpec":"RSA_2048"}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::KmsUnsupportedOperation);
        let e = parse(
            "Encrypt",
            r#"{"KeyId":"k","Plaintext":"YQ==","DryRun":true}"#,
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::KmsUnsupportedOperation);
    }

    #[test]
    fn plaintext_stays_out_of_debug_and_audit() {
        let op = parse(
            "Encrypt",
            r#"{"KeyId":"k","Plaintext":"c2VjcmV0LXZhbHVl","EncryptionContext":{"a":"b"}}"#,
        )
        .unwrap();
        assert!(!format!("{op:?}").contains("secret-value"));
        let a = op.audit_parameters().to_string();
        assert!(
            !a.contains("c2VjcmV0") && a.contains("encryptionContext"),
            "{a}"
        );
    }

    fn base64_of(b: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(b)
    }
}
