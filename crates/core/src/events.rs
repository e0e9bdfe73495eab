//! Change events: EventBridge-shaped, written to the store's outbox in the same
//! transaction as the change. They name secrets and versions, never values.

use crate::clock::rfc3339;
use crate::context::Caller;
use coffer_store::NewEvent;
use serde_json::{json, Value};

/// The event for one change to one secret. `detail` adds operation-specific,
/// non-secret fields (version id, stages, deletion date).
pub fn change(
    caller: &Caller,
    at_ms: i64,
    event_name: &str,
    arn: &str,
    name: &str,
    detail: Value,
) -> NewEvent {
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
        "source": "aws.secretsmanager",
        "account": caller.account_id,
        "time": rfc3339(at_ms),
        "region": caller.region,
        "resources": [arn],
        "detail": d,
    });
    NewEvent {
        at_ms,
        account_id: caller.account_id.clone(),
        region: caller.region.clone(),
        body: body.to_string(),
    }
}
