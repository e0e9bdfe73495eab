//! Every Secrets Manager operation of the published model, run as a principal
//! that is allowed, one that is denied, and a denied one naming a secret that does
//! not exist. A denied caller learns nothing: AccessDenied whether or not the
//! secret exists, and whether or not the rest of its request is valid.
//! Requests are signed by the official `aws-sigv4` signer and sent raw, so every
//! operation (served or not) gets exactly the body the table gives.

use crate::access::user;
use crate::common::*;
use crate::raw::{post, signed};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::SystemTime;

const ALLOW_ALL: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"secretsmanager:*","Resource":"*"}}"#;
/// A policy that grants something else, so the user is a real IAM user with
/// policies that simply do not cover Secrets Manager.
const ALLOW_OTHER: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iam:GetUser","Resource":"*"}}"#;

const OK: &str = "OK";
const DENIED: &str = "AccessDeniedException";
const NOT_FOUND: &str = "ResourceNotFoundException";
const UNSERVED: &str = "UnknownOperationException";

/// The operations of `secretsmanager/2017-10-17` that Coffer does not serve yet.
const NOT_SERVED: &[&str] = &[];

/// One signed JSON 1.1 call: (HTTP status, error type or "OK", body).
pub(crate) async fn sm_call(
    addr: SocketAddr,
    (akid, key): (&str, &str),
    op: &str,
    body: &Value,
) -> (u16, String, Value) {
    let bytes = body.to_string().into_bytes();
    let headers = signed(addr, op, &bytes, akid, key, "us-east-1", SystemTime::now());
    let r = post(addr, &headers, &bytes).await;
    let code = if r.status == 200 {
        OK.to_string()
    } else {
        r.error_type().to_string()
    };
    (r.status, code, r.body)
}

fn same_account_policy() -> String {
    json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")},
        "Action": "secretsmanager:GetSecretValue", "Resource": "*"}})
    .to_string()
}

/// A request for `op` naming secret `id`; `n` keeps tokens and new names apart.
fn request(op: &str, id: &str, n: u32) -> Value {
    let fresh = token(900 + n);
    match op {
        "BatchGetSecretValue" => json!({"SecretIdList": [id]}),
        "CreateSecret" => json!({"Name": id, "SecretString": "v", "ClientRequestToken": fresh}),
        "DeleteSecret" => json!({"SecretId": id, "RecoveryWindowInDays": 7}),
        "GetRandomPassword" | "ListSecrets" => json!({}),
        "PutResourcePolicy" => json!({"SecretId": id, "ResourcePolicy": same_account_policy()}),
        "ValidateResourcePolicy" => {
            json!({"SecretId": id, "ResourcePolicy": same_account_policy()})
        }
        "PutSecretValue" => {
            json!({"SecretId": id, "SecretString": "v2", "ClientRequestToken": fresh})
        }
        "RotateSecret" => json!({"SecretId": id, "ClientRequestToken": fresh}),
        "TagResource" => json!({"SecretId": id, "Tags": [{"Key": "k", "Value": "v"}]}),
        "UntagResource" => json!({"SecretId": id, "TagKeys": ["k"]}),
        "UpdateSecret" => json!({"SecretId": id, "Description": "d"}),
        "AssociateCrossAccountReplica" | "DisassociateCrossAccountReplica" => json!({
            "SecretId": id,
            "CrossAccountReplicaARN": "arn:aws:secretsmanager:us-east-1:111122223333:secret:r-AbCdEf",
        }),
        "ReplicateSecretToRegions" => {
            json!({"SecretId": id, "AddReplicaRegions": [{"Region": "eu-west-1"}]})
        }
        "RemoveRegionsFromReplication" => {
            json!({"SecretId": id, "RemoveReplicaRegions": ["eu-west-1"]})
        }
        "UpdateSecretVersionStage" => {
            json!({"SecretId": id, "VersionStage": "STAGE", "MoveToVersionId": token(1)})
        }
        _ => json!({"SecretId": id}),
    }
}

/// What an allowed caller gets for `op` on the secret created for it.
fn allowed_answer(op: &str) -> &'static str {
    match op {
        // Rotation is neither configured nor configurable without a function.
        "CancelRotateSecret" | "RotateSecret" => "InvalidRequestException",
        // The secret is not a replica: there is nothing to promote.
        "StopReplicationToReplica" => "InvalidRequestException",
        // The replica named does not exist; the secret has no such replica.
        "AssociateCrossAccountReplica" => NOT_FOUND,
        "DisassociateCrossAccountReplica" => "InvalidParameterException",
        // The table names the secret itself: it exists.
        "CreateSecret" => "ResourceExistsException",
        o if NOT_SERVED.contains(&o) => UNSERVED,
        _ => OK,
    }
}

/// Every operation of the model, served or not.
const ALL: &[&str] = &[
    "AssociateCrossAccountReplica",
    "BatchGetSecretValue",
    "CancelRotateSecret",
    "CreateSecret",
    "DeleteResourcePolicy",
    "DeleteSecret",
    "DescribeSecret",
    "DisassociateCrossAccountReplica",
    "GetRandomPassword",
    "GetResourcePolicy",
    "GetSecretValue",
    "ListResourcePolicies",
    "ListSecretVersionIds",
    "ListSecrets",
    "PutResourcePolicy",
    "PutSecretValue",
    "RemoveRegionsFromReplication",
    "ReplicateSecretToRegions",
    "RestoreSecret",
    "RotateSecret",
    "StopReplicationToReplica",
    "TagResource",
    "UntagResource",
    "UpdateSecret",
    "UpdateSecretVersionStage",
    "ValidateResourcePolicy",
];

#[tokio::test]
async fn every_operation_allowed_denied_and_missing() {
    let srv = TestServer::start().await;
    let addr = srv.running().addr;
    let root = (AKID, SECRET);
    let (a_id, a_key) = user(addr, "admin", &[], ALLOW_ALL).await;
    let (d_id, d_key) = user(addr, "nobody", &[], ALLOW_OTHER).await;
    let (admin, nobody) = (
        (a_id.as_str(), a_key.as_str()),
        (d_id.as_str(), d_key.as_str()),
    );
    for op in ALL {
        let id = format!("m/{op}");
        let body = json!({"Name": id, "SecretString": "v", "ClientRequestToken": token(1)});
        let (_, code, _) = sm_call(addr, root, "CreateSecret", &body).await;
        assert_eq!(code, OK, "creating {id}");
    }
    for (n, op) in ALL.iter().enumerate() {
        let n = n as u32;
        let unserved = NOT_SERVED.contains(op);
        let id = format!("m/{op}");
        let missing = format!("m/{op}-missing");
        let denied_answer = if unserved { UNSERVED } else { DENIED };

        let (status, code, body) = sm_call(addr, nobody, op, &request(op, &id, n)).await;
        assert_eq!(code, denied_answer, "{op} denied: {body}");
        if !unserved {
            assert_eq!(status, 400, "{op}");
            let msg = body["Message"].as_str().unwrap_or("");
            assert!(
                msg.starts_with(&format!(
                    "User: arn:aws:iam::{ACCOUNT}:user/nobody is not authorized to perform: secretsmanager:{op} on resource: "
                )),
                "{op}: {msg}"
            );
        }
        let (_, code, body) = sm_call(addr, nobody, op, &request(op, &missing, n)).await;
        assert_eq!(code, denied_answer, "{op} denied, secret missing: {body}");

        let (_, code, body) = sm_call(addr, admin, op, &request(op, &missing, 100 + n)).await;
        let expected = match *op {
            _ if unserved => UNSERVED,
            // Nothing to find: these act on the account, or create.
            "GetRandomPassword" | "ListSecrets" | "CreateSecret" => OK,
            // The batch answers, and reports the missing secret in its Errors.
            "BatchGetSecretValue" => OK,
            _ => NOT_FOUND,
        };
        assert_eq!(code, expected, "{op} allowed, secret missing: {body}");
        if *op == "BatchGetSecretValue" {
            assert_eq!(body["Errors"][0]["ErrorCode"], NOT_FOUND, "{body}");
        }

        let (_, code, body) = sm_call(addr, admin, op, &request(op, &id, 200 + n)).await;
        assert_eq!(code, allowed_answer(op), "{op} allowed: {body}");
    }
    srv.stop().await;
}

/// Denial comes before the operation's own validation: a denied caller sending a
/// request that would fail validation still gets AccessDenied, and learns
/// nothing about what the operation would have said.
#[tokio::test]
async fn denial_comes_before_validation() {
    let srv = TestServer::start().await;
    let addr = srv.running().addr;
    let (d_id, d_key) = user(addr, "nobody", &[], ALLOW_OTHER).await;
    let (a_id, a_key) = user(addr, "admin", &[], ALLOW_ALL).await;
    let nobody = (d_id.as_str(), d_key.as_str());
    let admin = (a_id.as_str(), a_key.as_str());
    let body = json!({"Name": "v/a", "SecretString": "v", "ClientRequestToken": token(1)});
    sm_call(addr, (AKID, SECRET), "CreateSecret", &body).await;
    let invalid: &[(&str, Value, &str)] = &[
        // No value at all.
        (
            "PutSecretValue",
            json!({"SecretId": "v/a", "ClientRequestToken": token(2)}),
            "InvalidParameterException",
        ),
        // A recovery window out of range.
        (
            "DeleteSecret",
            json!({"SecretId": "v/a", "RecoveryWindowInDays": 3}),
            "InvalidParameterException",
        ),
        // A description over 2048 characters.
        (
            "CreateSecret",
            json!({"Name": "v/b", "Description": "d".repeat(3000)}),
            "ValidationException",
        ),
        // A password length out of range.
        (
            "GetRandomPassword",
            json!({"PasswordLength": 0}),
            "ValidationException",
        ),
        // Neither a list nor filters.
        (
            "BatchGetSecretValue",
            json!({}),
            "InvalidParameterException",
        ),
        // A tag with an empty key.
        (
            "TagResource",
            json!({"SecretId": "v/a", "Tags": [{"Key": "", "Value": "x"}]}),
            "ValidationException",
        ),
        // A policy that does not parse.
        (
            "PutResourcePolicy",
            json!({"SecretId": "v/a", "ResourcePolicy": "{"}),
            "MalformedPolicyDocumentException",
        ),
    ];
    for (op, body, allowed) in invalid {
        let (_, code, b) = sm_call(addr, nobody, op, body).await;
        assert_eq!(code, DENIED, "{op} denied: {b}");
        let (_, code, b) = sm_call(addr, admin, op, body).await;
        assert_eq!(code, *allowed, "{op} allowed: {b}");
    }
    // The request's identifier is part of parsing it: without one there is
    // nothing to authorize, and everyone is told so.
    for who in [nobody, admin] {
        let (_, code, _) = sm_call(addr, who, "GetSecretValue", &json!({})).await;
        assert_eq!(code, "ValidationException");
    }
    srv.stop().await;
}
