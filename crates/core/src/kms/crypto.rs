//! The cryptographic operations: Encrypt, Decrypt, ReEncrypt, GenerateDataKey
//! (with and without plaintext) and GenerateRandom. Blobs name their key, so
//! Decrypt finds it from the blob; the KeyId a caller adds must agree.

use super::Target;
use crate::call::Call;
use crate::identity::kms::KmsKeys;
use crate::keyring::customer::{blob_key_arn, KeyDoc};
use crate::keyring::Keyring;
use crate::service::Service;
use base64::Engine;
use coffer_api::kms_ops::KmsOperation;
use coffer_api::{ApiError, ErrorCode};
use serde_json::{json, Value};
use std::collections::BTreeMap;

const ALGORITHM: &str = "SYMMETRIC_DEFAULT";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn random(n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut out);
    out
}

fn material_id(doc: &KeyDoc, blob: &[u8]) -> Option<String> {
    let (h, _) = coffer_crypto::blob_header(blob).ok()?;
    doc.materials.get(h.material as usize).map(|m| m.id.clone())
}

pub(super) fn encrypt(keys: &Keyring, doc: &KeyDoc, op: &KmsOperation) -> Result<Value, ApiError> {
    let plain = op
        .req
        .plaintext
        .as_ref()
        .map(|p| p.0.as_slice())
        .unwrap_or_default();
    let blob = keys.encrypt_blob(doc, op.req.encryption_context.as_ref(), plain)?;
    Ok(json!({
        "CiphertextBlob": b64(&blob),
        "KeyId": doc.arn,
        "EncryptionAlgorithm": ALGORITHM,
    }))
}

pub(super) fn generate_data_key(
    keys: &Keyring,
    doc: &KeyDoc,
    op: &KmsOperation,
) -> Result<Value, ApiError> {
    let data_key = zeroize::Zeroizing::new(random(op.data_key_len()));
    let blob = keys.encrypt_blob(doc, op.req.encryption_context.as_ref(), &data_key)?;
    let mut v = json!({
        "CiphertextBlob": b64(&blob),
        "KeyId": doc.arn,
    });
    if let Some(m) = doc.materials.last() {
        v["KeyMaterialId"] = json!(m.id);
    }
    if op.action == coffer_api::kms_ops::KmsAction::GenerateDataKey {
        v["Plaintext"] = json!(b64(&data_key));
    }
    Ok(v)
}

pub(super) fn generate_random(op: &KmsOperation) -> Value {
    let n = usize::try_from(op.req.number_of_bytes.unwrap_or(32)).unwrap_or(32);
    json!({ "Plaintext": b64(&random(n)) })
}

/// A blob that is not one of ours, or that its key does not open.
fn invalid_ciphertext() -> ApiError {
    ApiError::new(ErrorCode::InvalidCiphertext, "")
}

impl Service {
    /// The key a blob names, checked against the KeyId the caller gave (if
    /// any) and authorized for `action`.
    async fn blob_key(
        &self,
        call: &Call<'_>,
        blob: &[u8],
        named: Option<&str>,
        context: Option<&BTreeMap<String, String>>,
        action: &str,
    ) -> Result<Target, ApiError> {
        let caller = call.caller;
        let arn = blob_key_arn(blob).ok_or_else(invalid_ciphertext)?;
        let t = self.target_key(caller, &arn, true).await.map_err(|e| {
            if e.code == ErrorCode::KmsNotFound {
                ApiError::new(
                    ErrorCode::AccessDenied,
                    "The ciphertext refers to a customer master key that does not exist, does not exist in this region, or you are not allowed to access.",
                )
            } else {
                e
            }
        })?;
        if let Some(id) = named {
            let asked = self.target_key(caller, id, true).await?;
            if asked.doc.arn != t.doc.arn {
                return Err(ApiError::new(
                    ErrorCode::IncorrectKey,
                    "The key ID in the request does not identify a CMK that can perform this operation.",
                ));
            }
        }
        let keys = KmsKeys {
            via_service: None,
            encryption_context: context,
            extra: Vec::new(),
        };
        self.identity
            .authorize_kms(caller, action, &t.doc, &keys)
            .await?;
        Ok(t)
    }

    pub(super) async fn decrypt(
        &self,
        call: &Call<'_>,
        op: &KmsOperation,
    ) -> Result<Value, ApiError> {
        let r = &op.req;
        let blob = r
            .ciphertext_blob
            .as_ref()
            .map(|b| b.0.as_slice())
            .unwrap_or_default();
        let ctx = r.encryption_context.as_ref();
        let t = self
            .blob_key(call, blob, r.key_id.as_deref(), ctx, "kms:Decrypt")
            .await?;
        let plain = self.keys.decrypt_blob(&t.doc, ctx, blob)?;
        let mut v = json!({
            "KeyId": t.doc.arn,
            "Plaintext": b64(plain.as_slice()),
            "EncryptionAlgorithm": ALGORITHM,
        });
        if let Some(m) = material_id(&t.doc, blob) {
            v["KeyMaterialId"] = json!(m);
        }
        Ok(v)
    }

    pub(super) async fn re_encrypt(
        &self,
        call: &Call<'_>,
        op: &KmsOperation,
    ) -> Result<Value, ApiError> {
        let r = &op.req;
        let blob = r
            .ciphertext_blob
            .as_ref()
            .map(|b| b.0.as_slice())
            .unwrap_or_default();
        let from_ctx = r.source_encryption_context.as_ref();
        let source = self
            .blob_key(
                call,
                blob,
                r.source_key_id.as_deref(),
                from_ctx,
                "kms:ReEncryptFrom",
            )
            .await?;
        let dest_id = r.destination_key_id.as_deref().unwrap_or_default();
        let dest = self.target_key(call.caller, dest_id, true).await?;
        let to_ctx = r.destination_encryption_context.as_ref();
        let keys = KmsKeys {
            via_service: None,
            encryption_context: to_ctx,
            extra: Vec::new(),
        };
        self.identity
            .authorize_kms(call.caller, "kms:ReEncryptTo", &dest.doc, &keys)
            .await?;
        let plain = self.keys.decrypt_blob(&source.doc, from_ctx, blob)?;
        let out = self
            .keys
            .encrypt_blob(&dest.doc, to_ctx, plain.as_slice())?;
        Ok(json!({
            "CiphertextBlob": b64(&out),
            "SourceKeyId": source.doc.arn,
            "KeyId": dest.doc.arn,
            "SourceEncryptionAlgorithm": ALGORITHM,
            "DestinationEncryptionAlgorithm": ALGORITHM,
        }))
    }
}
