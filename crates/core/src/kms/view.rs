//! KMS's answers as AWS shapes them.

use crate::keyring::customer::{AliasDoc, KeyDoc, KeyState};
use serde_json::{json, Value};

/// Epoch seconds, as JSON 1.1 carries timestamps.
pub(super) fn secs(ms: i64) -> Value {
    json!(ms as f64 / 1000.0)
}

/// `KeyMetadata`; `managed` for the AWS-managed key.
pub(super) fn key_metadata(doc: &KeyDoc, managed: bool) -> Value {
    let mut m = json!({
        "AWSAccountId": doc.account_id,
        "KeyId": doc.key_id,
        "Arn": doc.arn,
        "CreationDate": secs(doc.created_ms),
        "Enabled": doc.state == KeyState::Enabled,
        "Description": doc.description,
        "KeyUsage": "ENCRYPT_DECRYPT",
        "KeyState": doc.state.as_str(),
        "Origin": "AWS_KMS",
        "KeyManager": if managed { "AWS" } else { "CUSTOMER" },
        "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT",
        "KeySpec": "SYMMETRIC_DEFAULT",
        "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"],
        "MultiRegion": false,
    });
    if let Some(material) = doc.materials.last() {
        m["CurrentKeyMaterialId"] = json!(material.id);
    }
    if let Some(d) = doc.deletion_ms {
        m["DeletionDate"] = secs(d);
    }
    if let Some(d) = doc.pending_days {
        m["PendingDeletionWindowInDays"] = json!(d);
    }
    m
}

pub(super) fn alias_entry(a: &AliasDoc) -> Value {
    json!({
        "AliasName": a.name,
        "AliasArn": a.arn,
        "TargetKeyId": a.target_key_id,
        "CreationDate": secs(a.created_ms),
        "LastUpdatedDate": secs(a.updated_ms),
    })
}

/// One page of `items` after `marker` (the last item's sort key), at most `limit`.
pub(super) fn page<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> String,
    marker: Option<&str>,
    limit: Option<i64>,
) -> (Vec<T>, Option<String>) {
    let limit = usize::try_from(limit.unwrap_or(100)).unwrap_or(100);
    let mut rest: Vec<T> = items
        .into_iter()
        .filter(|i| marker.is_none_or(|m| key(i).as_str() > m))
        .collect();
    if rest.len() <= limit {
        return (rest, None);
    }
    rest.truncate(limit);
    let next = rest.last().map(&key);
    (rest, next)
}

/// Adds `NextMarker`/`Truncated` as AWS's list answers carry them.
pub(super) fn with_marker(mut v: Value, next: Option<String>) -> Value {
    v["Truncated"] = json!(next.is_some());
    if let Some(n) = next {
        v["NextMarker"] = json!(n);
    }
    v
}
