//! Change events: EventBridge-shaped, written to the store's outbox in the same
//! transaction as the change. They name secrets and versions, never values.

use crate::clock::rfc3339;
use crate::context::Caller;
use coffer_store::{IamOp, NewEvent, SecretRow};
use serde_json::{json, Value};

/// The source of IAM change records. They are Coffer's own (not an AWS event
/// shape): they tell every server's caches which identities changed.
pub const IAM_SOURCE: &str = "coffer.iam";
/// The source of secret change events.
pub const SECRETS_SOURCE: &str = "aws.secretsmanager";

/// The outbox record of one IAM write: the entities and access keys it touched.
pub fn iam_change(account: &str, at_ms: i64, ops: &[IamOp]) -> NewEvent {
    let changes: Vec<Value> = ops
        .iter()
        .map(|op| match op {
            IamOp::Put { row, .. } => json!({"kind": row.kind, "name": row.name}),
            IamOp::Delete { kind, name, .. } => json!({"kind": kind, "name": name}),
            IamOp::SetCredentialStatus { access_key_id, .. }
            | IamOp::DeleteCredential { access_key_id } => json!({"accessKeyId": access_key_id}),
            IamOp::InsertCredential(c) => json!({"accessKeyId": c.access_key_id}),
            IamOp::InsertAccount(a) => json!({"accountId": a.account_id}),
        })
        .collect();
    let body = json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": "Coffer IAM Change",
        "source": IAM_SOURCE,
        "account": account,
        "time": rfc3339(at_ms),
        // IAM is global; AWS reports its events in us-east-1.
        "region": "us-east-1",
        "resources": [],
        "detail": { "changes": changes },
    });
    NewEvent {
        at_ms,
        account_id: account.to_string(),
        region: "us-east-1".into(),
        body: body.to_string(),
    }
}

/// The event for one change to one secret, filed under the secret's own
/// account and region (a change made from another account through a resource
/// policy belongs to the owner's stream). `detail` adds operation-specific,
/// non-secret fields (version id, stages, deletion date).
pub fn change(
    caller: &Caller,
    at_ms: i64,
    event_name: &str,
    secret: &SecretRow,
    detail: Value,
) -> NewEvent {
    let (arn, name) = (&secret.arn, &secret.name);
    let mut d = json!({
        "eventSource": "secretsmanager.amazonaws.com",
        "eventName": event_name,
        "secretId": arn,
        "name": name,
        "userIdentity": { "arn": caller.principal_arn, "accountId": caller.account_id },
        "requestID": caller.request_id,
    });
    if let (Value::Object(base), Value::Object(extra)) = (&mut d, detail) {
        base.extend(extra);
    }
    let body = json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": "AWS API Call via CloudTrail",
        "source": SECRETS_SOURCE,
        "account": secret.account_id,
        "time": rfc3339(at_ms),
        "region": secret.region,
        "resources": [arn],
        "detail": d,
    });
    NewEvent {
        at_ms,
        account_id: secret.account_id.clone(),
        region: secret.region.clone(),
        body: body.to_string(),
    }
}
