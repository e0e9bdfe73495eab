//! Change events: EventBridge-shaped, written to the store's outbox in the same
//! transaction as the change. They name secrets and versions, never values.

use crate::clock::rfc3339;
use crate::context::Caller;
use coffer_store::{IamOp, NewAudit, NewEvent, SecretRow};
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

/// What Secrets Manager itself does (rotation steps, the end of a deletion
/// window): AWS reports these as service events, not API calls.
const SERVICE_EVENTS: &[&str] = &[
    "RotationStarted",
    "RotationSucceeded",
    "RotationFailed",
    "RotationAbandoned",
    "StartSecretVersionDelete",
    "CancelSecretVersionDelete",
    "EndSecretVersionDelete",
    "ReplicationStarted",
    "ReplicationSucceeded",
    "ReplicationFailed",
];

/// The event for one change to one secret, filed under the secret's own
/// account and region (a change made from another account through a resource
/// policy belongs to the owner's stream). Shaped as EventBridge delivers
/// CloudTrail's record of it: `detail-type` "AWS API Call via CloudTrail" for a
/// caller's call, "AWS Service Event via CloudTrail" for the service's own
/// work, and `detail` the record's fields. `detail` adds operation-specific,
/// non-secret fields (version id, stages, deletion date) besides `name` and
/// `secretId`, which are Coffer's (so a pattern can match a secret by name).
pub fn change(
    caller: &Caller,
    at_ms: i64,
    event_name: &str,
    secret: &SecretRow,
    detail: Value,
) -> NewEvent {
    let record = cloudtrail_record(caller, at_ms, event_name, secret, detail);
    envelope(at_ms, secret, record)
}

/// The CloudTrail record of a change (an event's `detail`).
fn cloudtrail_record(
    caller: &Caller,
    at_ms: i64,
    event_name: &str,
    secret: &SecretRow,
    detail: Value,
) -> Value {
    let (arn, name) = (&secret.arn, &secret.name);
    let service = SERVICE_EVENTS.contains(&event_name);
    let mut d = json!({
        "eventVersion": "1.08",
        "eventTime": rfc3339(at_ms),
        "eventSource": "secretsmanager.amazonaws.com",
        "eventName": event_name,
        "awsRegion": secret.region,
        "eventID": uuid::Uuid::new_v4().to_string(),
        "readOnly": false,
        "managementEvent": true,
        "eventCategory": "Management",
        "recipientAccountId": secret.account_id,
        "secretId": arn,
        "name": name,
        "requestID": caller.request_id,
    });
    if service {
        d["eventType"] = json!("AwsServiceEvent");
        d["userIdentity"] =
            json!({ "accountId": secret.account_id, "invokedBy": "secretsmanager.amazonaws.com" });
        d["sourceIPAddress"] = json!("secretsmanager.amazonaws.com");
        d["userAgent"] = json!("secretsmanager.amazonaws.com");
        d["additionalEventData"] = json!({ "SecretId": arn });
    } else {
        d["eventType"] = json!("AwsApiCall");
        d["userIdentity"] = json!({ "arn": caller.principal_arn, "accountId": caller.account_id });
        d["sourceIPAddress"] = json!(caller.source_ip);
        d["userAgent"] = json!(caller.user_agent);
        d["requestParameters"] = json!({ "secretId": arn });
    }
    if let (Value::Object(base), Value::Object(extra)) = (&mut d, detail) {
        base.extend(extra);
    }
    d
}

/// EventBridge's envelope around a secret's CloudTrail record.
fn envelope(at_ms: i64, secret: &SecretRow, record: Value) -> NewEvent {
    let service = record["eventType"] == "AwsServiceEvent";
    let body = json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": if service { "AWS Service Event via CloudTrail" } else { "AWS API Call via CloudTrail" },
        "source": SECRETS_SOURCE,
        "account": secret.account_id,
        "time": rfc3339(at_ms),
        "region": secret.region,
        "resources": [secret.arn],
        "detail": record,
    });
    NewEvent {
        at_ms,
        account_id: secret.account_id.clone(),
        region: secret.region.clone(),
        body: body.to_string(),
    }
}

/// A service event that follows a call's own (RotationStarted after
/// RotateSecret, RotationAbandoned after a value put by hand, a deletion's
/// course), with its audit record: the event's `detail`, which is the
/// CloudTrail record, so LookupEvents finds it as AWS's trail would.
pub fn service_event(
    caller: &Caller,
    at_ms: i64,
    event_name: &str,
    secret: &SecretRow,
    detail: Value,
) -> (NewEvent, NewAudit) {
    let record = cloudtrail_record(caller, at_ms, event_name, secret, detail);
    let audit = NewAudit {
        at_ms,
        body: record.to_string(),
    };
    (envelope(at_ms, secret, record), audit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> SecretRow {
        coffer_store::conformance::secret_row("123456789012", "prod/db")
    }

    fn body(caller: &Caller, name: &str) -> Value {
        let e = change(caller, 0, name, &secret(), json!({"versionId": "v1"}));
        serde_json::from_str(&e.body).unwrap()
    }

    /// A caller's call is an API call; the service's own work (rotation, the
    /// end of a deletion window) a service event, as EventBridge gets them
    /// from CloudTrail.
    #[test]
    fn api_calls_and_service_events_are_told_apart() {
        let caller = Caller::service(
            "123456789012",
            "us-east-1",
            "arn:aws:iam::123456789012:user/u",
            "t",
        );
        let put = body(&caller, "PutSecretValue");
        assert_eq!(put["detail-type"], "AWS API Call via CloudTrail");
        assert_eq!(put["detail"]["eventType"], "AwsApiCall");
        assert_eq!(
            put["detail"]["userIdentity"]["arn"],
            "arn:aws:iam::123456789012:user/u"
        );
        assert_eq!(put["detail"]["versionId"], "v1");
        assert_eq!(put["detail"]["requestParameters"]["secretId"], secret().arn);
        for name in [
            "RotationSucceeded",
            "RotationFailed",
            "RotationStarted",
            "StartSecretVersionDelete",
            "EndSecretVersionDelete",
        ] {
            let e = body(&caller, name);
            assert_eq!(
                e["detail-type"], "AWS Service Event via CloudTrail",
                "{name}"
            );
            assert_eq!(e["detail"]["eventType"], "AwsServiceEvent");
            assert_eq!(
                e["detail"]["userIdentity"]["invokedBy"],
                "secretsmanager.amazonaws.com"
            );
            assert_eq!(e["detail"]["additionalEventData"]["SecretId"], secret().arn);
        }
        assert_eq!(put["detail"]["eventSource"], "secretsmanager.amazonaws.com");
        assert_eq!(put["resources"][0], secret().arn);
    }
}
