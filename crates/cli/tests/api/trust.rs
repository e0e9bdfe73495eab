//! Ways past access control found by review, each tried as an attacker would,
//! beside a control call that is rightly allowed: IAM paths taken for part of a
//! name, session tags without `sts:TagSession`, a cross-account write sealed
//! under the writer's key, and public policies dressed up as pinned ones.

use crate::access::{iam, user, ROOT};
use crate::authz_matrix::sm_call;
use crate::common::*;
use crate::raw::{query, request, signed_for, xml};
use serde_json::json;
use std::net::SocketAddr;

const ADMIN_DOC: &str =
    r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#;
const HARMLESS_DOC: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}}"#;

fn trust(actions: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":{actions}}}}}"#
    )
}

/// (HTTP status, error code or "OK").
async fn call(
    addr: SocketAddr,
    service: &str,
    who: (&str, &str),
    p: &[(&str, &str)],
) -> (u16, String) {
    let (status, body) = query(addr, service, p, (who.0, who.1, None)).await;
    let code = if status == 200 {
        "OK".into()
    } else {
        xml(&body, "Code").unwrap_or_default()
    };
    (status, code)
}

#[tokio::test]
async fn iam_paths_are_part_of_the_arn() {
    let srv = TestServer::start().await;
    let addr = srv.running().addr;
    let a = ACCOUNT;
    iam(
        addr,
        &[
            ("Action", "CreatePolicy"),
            ("PolicyName", "AdminPolicy"),
            ("PolicyDocument", ADMIN_DOC),
        ],
    )
    .await;
    iam(
        addr,
        &[
            ("Action", "CreatePolicy"),
            ("PolicyName", "TeamPolicy"),
            ("Path", "/team-a/"),
            ("PolicyDocument", HARMLESS_DOC),
        ],
    )
    .await;
    let admin_trust = trust(r#""sts:AssumeRole""#);
    iam(
        addr,
        &[
            ("Action", "CreateRole"),
            ("RoleName", "Admin"),
            ("AssumeRolePolicyDocument", &admin_trust),
        ],
    )
    .await;
    iam(
        addr,
        &[
            ("Action", "CreateRole"),
            ("RoleName", "dev-web"),
            ("AssumeRolePolicyDocument", &admin_trust),
        ],
    )
    .await;
    let policy = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iam:AttachUserPolicy", "Resource": format!("arn:aws:iam::{a}:user/mallory"),
         "Condition": {"ArnLike": {"iam:PolicyARN": format!("arn:aws:iam::{a}:policy/team-a/*")}}},
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": format!("arn:aws:iam::{a}:role/dev-*")},
        {"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"},
        {"Effect": "Deny", "Action": "iam:GetUser", "Resource": format!("arn:aws:iam::{a}:user/admins/*")}
    ]})
    .to_string();
    let (id, key) = user(addr, "mallory", &[], &policy).await;
    let m = (id.as_str(), key.as_str());

    // The policy at /team-a/ may be attached; the one at / may not be reached by
    // naming it under /team-a/.
    let attach = |arn: String| async move {
        call(
            addr,
            "iam",
            m,
            &[
                ("Action", "AttachUserPolicy"),
                ("UserName", "mallory"),
                ("PolicyArn", &arn),
            ],
        )
        .await
    };
    assert_eq!(
        attach(format!("arn:aws:iam::{a}:policy/team-a/TeamPolicy"))
            .await
            .1,
        "OK"
    );
    let (status, c) = attach(format!("arn:aws:iam::{a}:policy/team-a/AdminPolicy")).await;
    assert_eq!(
        (status, c.as_str()),
        (404, "NoSuchEntity"),
        "AdminPolicy attached through a made-up path"
    );
    assert_eq!(
        attach(format!("arn:aws:iam::{a}:policy/AdminPolicy"))
            .await
            .1,
        "AccessDenied"
    );

    // A role is assumed at its own path only.
    let assume = |arn: String| async move {
        call(
            addr,
            "sts",
            m,
            &[
                ("Action", "AssumeRole"),
                ("RoleArn", &arn),
                ("RoleSessionName", "s1"),
            ],
        )
        .await
    };
    assert_eq!(
        assume(format!("arn:aws:iam::{a}:role/dev-web")).await.1,
        "OK"
    );
    let (status, c) = assume(format!("arn:aws:iam::{a}:role/dev-x/Admin")).await;
    assert_eq!(
        (status, c.as_str()),
        (403, "AccessDenied"),
        "Admin assumed through role/dev-x/Admin"
    );

    // Path-scoped statements match the entity's real path.
    iam(
        addr,
        &[
            ("Action", "CreateUser"),
            ("UserName", "boss"),
            ("Path", "/admins/"),
        ],
    )
    .await;
    iam(addr, &[("Action", "CreateUser"), ("UserName", "intern")]).await;
    assert_eq!(
        call(
            addr,
            "iam",
            m,
            &[("Action", "GetUser"), ("UserName", "intern")]
        )
        .await
        .1,
        "OK"
    );
    assert_eq!(
        call(
            addr,
            "iam",
            m,
            &[("Action", "GetUser"), ("UserName", "boss")]
        )
        .await
        .1,
        "AccessDenied",
        "a deny on user/admins/* did not cover the user at /admins/"
    );
    srv.stop().await;
}

#[tokio::test]
async fn session_tags_and_source_identity_need_their_own_permission() {
    let srv = TestServer::start().await;
    let addr = srv.running().addr;
    let plain = trust(r#""sts:AssumeRole""#);
    let tagging = trust(r#"["sts:AssumeRole","sts:TagSession","sts:SetSourceIdentity"]"#);
    iam(
        addr,
        &[
            ("Action", "CreateRole"),
            ("RoleName", "plain"),
            ("AssumeRolePolicyDocument", &plain),
        ],
    )
    .await;
    iam(
        addr,
        &[
            ("Action", "CreateRole"),
            ("RoleName", "tagging"),
            ("AssumeRolePolicyDocument", &tagging),
        ],
    )
    .await;
    let allow = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"sts:*","Resource":"*"}}"#;
    let (id, key) = user(addr, "dev", &[], allow).await;
    let who = (id.as_str(), key.as_str());
    let assume = |role: &'static str, extra: &'static [(&'static str, &'static str)]| async move {
        let arn = format!("arn:aws:iam::{ACCOUNT}:role/{role}");
        let mut p = vec![
            ("Action", "AssumeRole"),
            ("RoleArn", arn.as_str()),
            ("RoleSessionName", "s1"),
        ];
        p.extend_from_slice(extra);
        call(addr, "sts", who, &p).await.1
    };
    const TAGS: &[(&str, &str)] = &[
        ("Tags.member.1.Key", "team"),
        ("Tags.member.1.Value", "ops"),
    ];
    const SOURCE: &[(&str, &str)] = &[("SourceIdentity", "alice")];
    assert_eq!(assume("plain", &[]).await, "OK");
    assert_eq!(
        assume("plain", TAGS).await,
        "AccessDenied",
        "session tags without sts:TagSession"
    );
    assert_eq!(
        assume("plain", SOURCE).await,
        "AccessDenied",
        "a source identity without sts:SetSourceIdentity"
    );
    assert_eq!(assume("tagging", TAGS).await, "OK");
    assert_eq!(assume("tagging", SOURCE).await, "OK");
    srv.stop().await;
}

/// Account B writes account A's secret through A's resource policy: the value is
/// sealed under A's key and the event is A's, so after a restart (no key cache)
/// A still reads it.
#[tokio::test]
async fn a_cross_account_write_belongs_to_the_owner() {
    let mut srv = TestServer::start().await;
    let addr = srv.running().addr;
    let body = br#"{"Name":"team-b"}"#;
    let headers = signed_for(
        addr,
        "secretsmanager",
        "/coffer/v1/accounts",
        "application/json",
        body,
        ROOT,
    );
    let (status, _, text) = request(addr, "POST", "/coffer/v1/accounts", &headers, body).await;
    assert_eq!(status, 200, "{text}");
    let b: serde_json::Value = serde_json::from_str(&text).unwrap();
    let b_account = b["AccountId"].as_str().unwrap().to_string();
    let (b_key, b_secret) = (
        b["AccessKeyId"].as_str().unwrap().to_string(),
        b["SecretAccessKey"].as_str().unwrap().to_string(),
    );
    // Under a key shared with B (the default key never crosses accounts).
    let key = key_shared_with(&srv.kms(), &b_account).await;
    let create = json!({"Name": "shared/db", "SecretString": "v1", "ClientRequestToken": token(1), "KmsKeyId": key});
    let (_, c, out) = sm_call(addr, (AKID, SECRET), "CreateSecret", &create).await;
    assert_eq!(c, "OK", "{out}");
    let arn = out["ARN"].as_str().unwrap().to_string();
    let policy = json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{b_account}:root")},
        "Action": ["secretsmanager:PutSecretValue", "secretsmanager:GetSecretValue"], "Resource": "*"}});
    let put_policy = json!({"SecretId": "shared/db", "ResourcePolicy": policy.to_string()});
    assert_eq!(
        sm_call(addr, (AKID, SECRET), "PutResourcePolicy", &put_policy)
            .await
            .1,
        "OK"
    );

    let b_put = json!({"SecretId": arn, "SecretString": "from-b", "ClientRequestToken": token(2)});
    let (_, c, out) = sm_call(
        addr,
        (b_key.as_str(), b_secret.as_str()),
        "PutSecretValue",
        &b_put,
    )
    .await;
    assert_eq!(c, "OK", "{out}");
    srv.restart().await;
    let addr = srv.running().addr;
    let (_, c, out) = sm_call(
        addr,
        (AKID, SECRET),
        "GetSecretValue",
        &json!({"SecretId": "shared/db"}),
    )
    .await;
    assert_eq!(
        (c.as_str(), out["SecretString"].as_str()),
        ("OK", Some("from-b")),
        "{out}"
    );
    // The change is in the owner's change stream, not B's.
    let rows = srv
        .running()
        .service
        .events_for(ACCOUNT, Some(0))
        .await
        .unwrap()
        .1;
    assert!(
        rows.iter().any(|r| r.body.contains("PutSecretValue")),
        "the owner's stream lacks B's write"
    );
    let theirs = srv
        .running()
        .service
        .events_for(&b_account, Some(0))
        .await
        .unwrap()
        .1;
    assert!(theirs.is_empty(), "B's stream has A's secret's events");
    srv.stop().await;
}

#[tokio::test]
async fn block_public_policy_is_not_fooled_by_conditions_or_principal_types() {
    let srv = TestServer::start().await;
    let addr = srv.running().addr;
    let create = json!({"Name": "p/db", "SecretString": "v", "ClientRequestToken": token(1)});
    sm_call(addr, (AKID, SECRET), "CreateSecret", &create).await;
    let put = |principal: serde_json::Value, condition: serde_json::Value| {
        let mut st = json!({"Effect": "Allow", "Principal": principal,
            "Action": "secretsmanager:GetSecretValue", "Resource": "*"});
        if !condition.is_null() {
            st["Condition"] = condition;
        }
        json!({"SecretId": "p/db", "BlockPublicPolicy": true,
               "ResourcePolicy": json!({"Version": "2012-10-17", "Statement": st}).to_string()})
    };
    for (principal, condition) in [
        (json!("*"), json!({"StringLike": {"aws:PrincipalArn": "*"}})),
        (
            json!("*"),
            json!({"StringNotEquals": {"aws:PrincipalAccount": ACCOUNT}}),
        ),
        (
            json!({"Federated": "cognito-identity.amazonaws.com"}),
            serde_json::Value::Null,
        ),
    ] {
        let (_, c, out) = sm_call(
            addr,
            (AKID, SECRET),
            "PutResourcePolicy",
            &put(principal.clone(), condition.clone()),
        )
        .await;
        assert_eq!(c, "PublicPolicyException", "{principal} {condition}: {out}");
    }
    let pinned = json!({"StringEquals": {"aws:PrincipalAccount": ACCOUNT}});
    assert_eq!(
        sm_call(
            addr,
            (AKID, SECRET),
            "PutResourcePolicy",
            &put(json!("*"), pinned)
        )
        .await
        .1,
        "OK"
    );
    srv.stop().await;
}

/// A refused authentication is in the audit trail: the key id it claimed, where
/// it came from, the error; never the signature.
#[tokio::test]
async fn refused_authentications_are_audited() {
    let srv = TestServer::start().await;
    let addr = srv.running().addr;
    let body = b"{}";
    let now = std::time::SystemTime::now();
    let wrong = crate::raw::signed(
        addr,
        "ListSecrets",
        body,
        AKID,
        "not-the-secret",
        "us-east-1",
        now,
    );
    let r = crate::raw::post(addr, &wrong, body).await;
    assert_eq!(r.error_type(), "InvalidSignatureException");
    let unknown = "AKIAUNKNOWNUNKNOWN00";
    let guess = crate::raw::signed(addr, "GetSecretValue", body, unknown, "x", "us-east-1", now);
    let r = crate::raw::post(addr, &guess, body).await;
    assert_eq!(r.error_type(), "UnrecognizedClientException");
    let (status, _) = query(
        addr,
        "iam",
        &[("Action", "ListUsers")],
        (unknown, "x", None),
    )
    .await;
    assert_eq!(status, 403);

    let log = std::fs::read_to_string(srv.dir.path().join("audit.log")).unwrap();
    let records: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["record"].clone())
        .filter(|r| r["userIdentity"]["type"] == "Unknown")
        .collect();
    let find = |name: &str, code: &str| {
        records
            .iter()
            .find(|r| r["eventName"] == name && r["errorCode"] == code)
            .unwrap_or_else(|| panic!("no audit record of a refused {name} ({code}): {records:?}"))
            .clone()
    };
    let r = find("ListSecrets", "InvalidSignatureException");
    assert_eq!(r["userIdentity"]["accessKeyId"], AKID);
    assert_eq!(r["sourceIPAddress"], "127.0.0.1");
    let r = find("GetSecretValue", "UnrecognizedClientException");
    assert_eq!(r["userIdentity"]["accessKeyId"], unknown);
    let r = find("ListUsers", "UnrecognizedClientException");
    assert_eq!(r["eventSource"], "iam.amazonaws.com");
    let signature = wrong
        .iter()
        .find(|(k, _)| k == "authorization")
        .and_then(|(_, v)| v.split("Signature=").nth(1))
        .unwrap()
        .to_string();
    assert!(
        !log.contains(&signature),
        "a signature reached the audit log"
    );
    srv.stop().await;
}

/// Opens a change stream and keeps it: the first chunk of the answer, and the
/// connection (dropping it closes the stream).
async fn open_stream(addr: SocketAddr, creds: (&str, &str)) -> (String, tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let path = "/coffer/v1/events";
    let headers = crate::raw::signed_method(
        addr,
        "GET",
        "secretsmanager",
        path,
        "text/plain",
        b"",
        (creds.0, creds.1, None),
    );
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\n");
    for (k, v) in &headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), s.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    (String::from_utf8_lossy(&buf[..n]).into_owned(), s)
}

/// The change stream needs `secretsmanager:SubscribeChanges`, and one access key
/// may hold only so many open (8 by default): a principal with no permission
/// cannot tie up the server's connections with streams.
#[tokio::test]
async fn change_streams_are_authorized_and_capped() {
    let srv = TestServer::start().await;
    let addr = srv.running().addr;
    let none = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}}"#;
    let (id, key) = user(addr, "nobody", &[], none).await;
    let (head, _) = open_stream(addr, (&id, &key)).await;
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
    assert!(head.contains("AccessDeniedException"), "{head}");
    let mut held = vec![];
    for _ in 0..8 {
        let (head, conn) = open_stream(addr, (AKID, SECRET)).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        held.push(conn);
    }
    let (head, _) = open_stream(addr, (AKID, SECRET)).await;
    assert!(
        head.contains("ThrottlingException"),
        "a ninth stream for one key: {head}"
    );
    // A closed stream frees its place.
    drop(held.pop());
    let mut again = None;
    for _ in 0..100 {
        let (head, conn) = open_stream(addr, (AKID, SECRET)).await;
        if head.starts_with("HTTP/1.1 200") {
            again = Some(conn);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(again.is_some(), "the freed place was never given back");
    srv.stop().await;
}

/// A session belongs to the user or role it was issued to: deleted and
/// re-created under the same name is another principal, whose sessions these
/// are not.
#[tokio::test]
async fn sessions_end_with_their_principal() {
    let srv = TestServer::start().await;
    let addr = srv.running().addr;
    let list = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"secretsmanager:ListSecrets","Resource":"*"}}"#;
    let (akid, key) = user(addr, "temp", &[], list).await;
    let creds = crate::access::sts_client(&srv, &akid, &key, None)
        .get_session_token()
        .send()
        .await
        .unwrap()
        .credentials
        .unwrap();
    let session = crate::access::session_client(&srv, &creds);
    session.list_secrets().send().await.unwrap();
    for p in [
        vec![
            ("Action", "DeleteUserPolicy"),
            ("UserName", "temp"),
            ("PolicyName", "p"),
        ],
        vec![
            ("Action", "DeleteAccessKey"),
            ("UserName", "temp"),
            ("AccessKeyId", akid.as_str()),
        ],
        vec![("Action", "DeleteUser"), ("UserName", "temp")],
    ] {
        iam(addr, &p).await;
    }
    let (code, _) = err(session.list_secrets().send().await.unwrap_err());
    assert_eq!(
        code, "UnrecognizedClientException",
        "a deleted user's session"
    );
    user(addr, "temp", &[], list).await;
    let (code, _) = err(session.list_secrets().send().await.unwrap_err());
    assert_eq!(
        code, "UnrecognizedClientException",
        "a re-created user inherited the session"
    );
    srv.stop().await;
}

/// AWS's "revoke active sessions": a deny on `aws:TokenIssueTime` before a date
/// stops every session issued earlier, and none issued later.
#[tokio::test]
async fn sessions_issued_before_a_date_can_be_revoked() {
    let srv = TestServer::start().await;
    let addr = srv.running().addr;
    let trust = trust(r#""sts:AssumeRole""#);
    iam(
        addr,
        &[
            ("Action", "CreateRole"),
            ("RoleName", "app"),
            ("AssumeRolePolicyDocument", &trust),
        ],
    )
    .await;
    let list = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"secretsmanager:ListSecrets","Resource":"*"}}"#;
    iam(
        addr,
        &[
            ("Action", "PutRolePolicy"),
            ("RoleName", "app"),
            ("PolicyName", "list"),
            ("PolicyDocument", list),
        ],
    )
    .await;
    let sts = crate::access::sts_client(&srv, AKID, SECRET, None);
    let assume = || async {
        let c = sts
            .assume_role()
            .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/app"))
            .role_session_name("app-session")
            .send()
            .await
            .unwrap()
            .credentials
            .unwrap();
        crate::access::session_client(&srv, &c)
    };
    let old = assume().await;
    old.list_secrets().send().await.unwrap();
    srv.clock.advance_ms(600_000);
    let cutoff = time::OffsetDateTime::now_utc() + time::Duration::minutes(5);
    let cutoff = cutoff
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let revoke = format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Deny","Action":"*","Resource":"*","Condition":{{"DateLessThan":{{"aws:TokenIssueTime":"{cutoff}"}}}}}}}}"#
    );
    iam(
        addr,
        &[
            ("Action", "PutRolePolicy"),
            ("RoleName", "app"),
            ("PolicyName", "revoke"),
            ("PolicyDocument", &revoke),
        ],
    )
    .await;
    let (code, msg) = err(old.list_secrets().send().await.unwrap_err());
    assert_eq!(code, "AccessDeniedException", "{msg}");
    let new = assume().await;
    new.list_secrets().send().await.unwrap();
    srv.stop().await;
}

/// Configuring a rotation needs `lambda:InvokeFunction` on the function, and an
/// alternating-users rotator reads only a master secret its configurer may
/// read: whoever may rotate one secret cannot have the service read another.
#[tokio::test]
async fn rotation_reads_only_what_its_configurer_may() {
    let srv = TestServer::start().await;
    let addr = srv.running().addr;
    let a = ACCOUNT;
    let root = (AKID, SECRET);
    let create = |name: &str, value: serde_json::Value| json!({"Name": name, "SecretString": value.to_string(), "ClientRequestToken": token(1)});
    let (_, _, master) = sm_call(
        addr,
        root,
        "CreateSecret",
        &create("master/db", json!({"username": "admin", "password": "pw"})),
    )
    .await;
    let master_arn = master["ARN"].as_str().unwrap().to_string();
    let app = json!({"engine": "postgres", "host": "127.0.0.1", "port": 1, "username": "app",
                     "password": "pw", "masterarn": master_arn});
    sm_call(addr, root, "CreateSecret", &create("app/db", app)).await;
    sm_call(addr, root, "CreateSecret", &create("app/plain", json!("v"))).await;
    let rotator = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "secretsmanager:*", "Resource": format!("arn:aws:secretsmanager:*:{a}:secret:app/*")},
        {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": format!("arn:aws:lambda:*:{a}:function:coffer-*")}
    ]});
    let (id, key) = user(addr, "rot", &[], &rotator.to_string()).await;
    let rot = (id.as_str(), key.as_str());
    let rotate = |secret: &str, function: &str, n: u32| {
        json!({"SecretId": secret, "ClientRequestToken": token(100 + n),
               "RotationLambdaARN": format!("arn:aws:lambda:us-east-1:{a}:function:{function}"),
               "RotationRules": {"AutomaticallyAfterDays": 30}})
    };
    let (_, c, out) = sm_call(
        addr,
        rot,
        "RotateSecret",
        &rotate("app/plain", "coffer-random-password", 1),
    )
    .await;
    assert_eq!(c, "OK", "{out}");
    let (_, c, out) = sm_call(
        addr,
        rot,
        "RotateSecret",
        &rotate("app/db", "coffer-postgres-alternating-users", 2),
    )
    .await;
    assert_eq!(
        c, "AccessDeniedException",
        "a rotator reading master/db for a user who may not: {out}"
    );
    assert!(
        out["Message"].as_str().unwrap_or("").contains(&master_arn),
        "{out}"
    );
    // Without lambda:InvokeFunction, no function at all.
    let no_lambda = json!({"Version": "2012-10-17", "Statement":
        {"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"}});
    let (id, key) = user(addr, "rot2", &[], &no_lambda.to_string()).await;
    let (_, c, out) = sm_call(
        addr,
        (id.as_str(), key.as_str()),
        "RotateSecret",
        &rotate("app/plain", "coffer-random-password", 3),
    )
    .await;
    assert_eq!(c, "AccessDeniedException", "{out}");
    assert!(
        out["Message"]
            .as_str()
            .unwrap_or("")
            .contains("lambda:InvokeFunction"),
        "{out}"
    );
    // Another account's function is another account's to grant.
    let (_, c, _) = sm_call(addr, root, "RotateSecret", &json!({"SecretId": "app/plain", "ClientRequestToken": token(104),
        "RotationLambdaARN": "arn:aws:lambda:us-east-1:999999999999:function:coffer-random-password"})).await;
    assert_eq!(c, "AccessDeniedException");
    // The root may read the master, so it may configure the rotation.
    let (_, c, out) = sm_call(
        addr,
        root,
        "RotateSecret",
        &rotate("app/db", "coffer-postgres-alternating-users", 5),
    )
    .await;
    assert_eq!(c, "OK", "{out}");
    srv.stop().await;
}

/// An IAM change and its audit record commit together, in the store's chain (a
/// change cannot be committed and its record lost); reads and refusals go to the
/// audit file, each call recorded once.
#[tokio::test]
async fn iam_changes_are_audited_in_their_transaction() {
    let srv = TestServer::start().await;
    let addr = srv.running().addr;
    iam(addr, &[("Action", "CreateUser"), ("UserName", "audited")]).await;
    iam(addr, &[("Action", "GetUser"), ("UserName", "audited")]).await;
    iam(
        addr,
        &[("Action", "CreateAccessKey"), ("UserName", "audited")],
    )
    .await;
    let body = br#"{"Name":"audited-account"}"#;
    let path = "/coffer/v1/accounts";
    let headers = signed_for(addr, "secretsmanager", path, "application/json", body, ROOT);
    let (status, _, text) = request(addr, "POST", path, &headers, body).await;
    assert_eq!(status, 200, "{text}");
    let store = srv.running().service.store().clone();
    let records = store.audit_records(0, 10_000).await.unwrap();
    let in_store = |name: &str| {
        records
            .iter()
            .filter(|r| r.body.contains(&format!("\"eventName\":\"{name}\"")))
            .count()
    };
    assert_eq!(
        in_store("CreateUser"),
        1,
        "the change's record is in its transaction"
    );
    assert_eq!(in_store("GetUser"), 0, "reads are not store writes");
    assert_eq!(in_store("CreateAccessKey"), 1, "a new key is a change");
    assert_eq!(in_store("CreateAccount"), 1, "a new account too");
    assert!(
        records.iter().all(|r| r.hash.starts_with("k1:")),
        "the store's chain is keyed"
    );
    let log = std::fs::read_to_string(srv.dir.path().join("audit.log")).unwrap();
    for name in ["CreateUser", "CreateAccessKey", "CreateAccount"] {
        assert!(
            !log.contains(&format!("\"eventName\":\"{name}\"")),
            "{name} recorded twice"
        );
    }
    let secret = serde_json::from_str::<serde_json::Value>(&text).unwrap()["SecretAccessKey"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        records.iter().all(|r| !r.body.contains(&secret)),
        "no secret key in the audit trail"
    );
    assert!(log.contains("\"eventName\":\"GetUser\""));
    srv.stop().await;
}

/// The master secret is read on the configurer's behalf at every run, and only
/// while they may still read it: revoking their access stops the rotator too.
#[tokio::test]
async fn a_rotator_stops_reading_what_its_configurer_lost() {
    rotator_loses_the_master(false).await;
}

/// The same through a role session: the session is kept (never its secret) and
/// authorized again at each run with its role's policies as they stand.
#[tokio::test]
async fn a_rotator_stops_reading_what_its_configuring_session_lost() {
    rotator_loses_the_master(true).await;
}

async fn rotator_loses_the_master(via_role: bool) {
    let srv = TestServer::start().await;
    let addr = srv.running().addr;
    let a = ACCOUNT;
    let root = (AKID, SECRET);
    let create = |name: &str, value: serde_json::Value| json!({"Name": name, "SecretString": value.to_string(), "ClientRequestToken": token(1)});
    let (_, _, master) = sm_call(
        addr,
        root,
        "CreateSecret",
        &create(
            "master/db",
            json!({"username": "admin", "password": "pw", "host": "127.0.0.1", "port": 1}),
        ),
    )
    .await;
    let master_arn = master["ARN"].as_str().unwrap().to_string();
    let app = json!({"engine": "postgres", "host": "127.0.0.1", "port": 1, "username": "app",
                     "password": "pw", "masterarn": master_arn});
    sm_call(addr, root, "CreateSecret", &create("app/db", app)).await;
    let policy = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"},
        {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*"}
    ]});
    let lambda = format!("arn:aws:lambda:us-east-1:{a}:function:coffer-postgres-alternating-users");
    let (kind, put_policy, name) = if via_role {
        configure_as_role(&srv, &policy.to_string(), &lambda).await;
        ("RoleName", "PutRolePolicy", "dba-role")
    } else {
        let (id, key) = user(addr, "dba", &[], &policy.to_string()).await;
        let rotate = json!({"SecretId": "app/db", "ClientRequestToken": token(200),
            "RotationLambdaARN": lambda, "RotationRules": {"AutomaticallyAfterDays": 30}});
        let (_, c, out) = sm_call(addr, (id.as_str(), key.as_str()), "RotateSecret", &rotate).await;
        assert_eq!(c, "OK", "{out}");
        ("UserName", "PutUserPolicy", "dba")
    };
    let failure = || async {
        let (_, _, d) = sm_call(addr, root, "DescribeSecret", &json!({"SecretId": "app/db"})).await;
        d["CofferRotationFailure"]["Message"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    // The first attempt reads the master (allowed) and fails only at the database.
    let mut first = String::new();
    for _ in 0..500 {
        first = failure().await;
        if !first.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        !first.is_empty() && !first.contains("may no longer read"),
        "{first}"
    );
    let deny = format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Deny","Action":"secretsmanager:GetSecretValue","Resource":"{master_arn}"}}}}"#
    );
    iam(
        addr,
        &[
            ("Action", put_policy),
            (kind, name),
            ("PolicyName", "deny"),
            ("PolicyDocument", &deny),
        ],
    )
    .await;
    srv.clock.advance_ms(2 * 3_600_000);
    srv.running().service.rotate_due().await;
    let second = failure().await;
    assert!(
        second.contains("may no longer read the master secret"),
        "{second}"
    );
    srv.stop().await;
}

/// Root assumes `dba-role` (with `policy`) and configures rotation of app/db
/// through that session.
async fn configure_as_role(srv: &TestServer, policy: &str, lambda: &str) {
    let addr = srv.running().addr;
    let trust_doc = trust(r#""sts:AssumeRole""#);
    iam(
        addr,
        &[
            ("Action", "CreateRole"),
            ("RoleName", "dba-role"),
            ("AssumeRolePolicyDocument", &trust_doc),
        ],
    )
    .await;
    iam(
        addr,
        &[
            ("Action", "PutRolePolicy"),
            ("RoleName", "dba-role"),
            ("PolicyName", "p"),
            ("PolicyDocument", policy),
        ],
    )
    .await;
    let creds = crate::access::sts_client(srv, AKID, SECRET, None)
        .assume_role()
        .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/dba-role"))
        .role_session_name("dba")
        .send()
        .await
        .unwrap()
        .credentials
        .unwrap();
    crate::access::session_client(srv, &creds)
        .rotate_secret()
        .secret_id("app/db")
        .client_request_token(token(200))
        .rotation_lambda_arn(lambda)
        .rotation_rules(
            aws_sdk_secretsmanager::types::RotationRulesType::builder()
                .automatically_after_days(30)
                .build(),
        )
        .send()
        .await
        .unwrap();
}
