//! STS through the official `aws-sdk-sts` client: AssumeRole with an external id,
//! sessions used by `aws-sdk-secretsmanager`, tampered and expired tokens, session
//! policies, and role chaining's one-hour cap.

use crate::access::{iam, secret, session_client, sts_client, user};
use crate::common::*;
use std::net::SocketAddr;

async fn reader_role(addr: SocketAddr, trust_principal: &str) {
    let trust = format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":{{"AWS":"{trust_principal}"}},"Action":"sts:AssumeRole","Condition":{{"StringEquals":{{"sts:ExternalId":"ext-1"}}}}}}}}"#
    );
    iam(
        addr,
        &[
            ("Action", "CreateRole"),
            ("RoleName", "Reader"),
            ("AssumeRolePolicyDocument", &trust),
            ("MaxSessionDuration", "7200"),
        ],
    )
    .await;
    let read = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["secretsmanager:GetSecretValue","secretsmanager:DescribeSecret"],"Resource":"*"}}"#;
    iam(
        addr,
        &[
            ("Action", "PutRolePolicy"),
            ("RoleName", "Reader"),
            ("PolicyName", "read"),
            ("PolicyDocument", read),
        ],
    )
    .await;
}

#[tokio::test]
async fn assume_role_with_the_official_sts_client() {
    let srv = TestServer::start().await;
    let addr = srv.running().addr;
    secret(&srv, "app/db", "Dev").await;
    let caller_policy = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}}"#;
    let (akid, key) = user(addr, "app", &[], caller_policy).await;
    reader_role(addr, &format!("arn:aws:iam::{ACCOUNT}:user/app")).await;
    let client = sts_client(&srv, &akid, &key, None);
    let who = client.get_caller_identity().send().await.unwrap();
    assert_eq!(
        who.arn(),
        Some(format!("arn:aws:iam::{ACCOUNT}:user/app").as_str())
    );
    let role_arn = format!("arn:aws:iam::{ACCOUNT}:role/Reader");
    let e = client
        .assume_role()
        .role_arn(&role_arn)
        .role_session_name("s1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        e.as_service_error().and_then(|e| e.meta().code()),
        Some("AccessDenied"),
        "no external id"
    );
    let out = client
        .assume_role()
        .role_arn(&role_arn)
        .role_session_name("s1")
        .external_id("ext-1")
        .duration_seconds(3600)
        .send()
        .await
        .unwrap();
    let assumed = out.assumed_role_user().unwrap();
    assert_eq!(
        assumed.arn(),
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/Reader/s1")
    );
    let creds = out.credentials().unwrap();
    assert!(creds.access_key_id().starts_with("ASIA"));
    let sm = session_client(&srv, creds);
    let got = sm
        .get_secret_value()
        .secret_id("app/db")
        .send()
        .await
        .unwrap();
    assert_eq!(got.secret_string(), Some("value-of-app/db"));
    let (code, _) = err(sm.list_secrets().send().await.unwrap_err());
    assert_eq!(code, "AccessDeniedException");
    let session_sts = sts_client(
        &srv,
        creds.access_key_id(),
        creds.secret_access_key(),
        Some(creds.session_token()),
    );
    let who = session_sts.get_caller_identity().send().await.unwrap();
    assert_eq!(who.arn(), Some(assumed.arn()));
    assert!(who.user_id().unwrap().ends_with(":s1"));
    // A tampered token is refused.
    let mut bad = creds.session_token().to_string();
    bad.replace_range(10..11, if &bad[10..11] == "A" { "B" } else { "A" });
    let forged = sts_client(
        &srv,
        creds.access_key_id(),
        creds.secret_access_key(),
        Some(&bad),
    );
    let e = forged.get_caller_identity().send().await.unwrap_err();
    assert_eq!(
        e.as_service_error().and_then(|e| e.meta().code()),
        Some("InvalidClientTokenId")
    );
    // Past its expiry the session is refused.
    srv.clock.advance_ms(3_601_000);
    let (code, msg) = err(sm
        .get_secret_value()
        .secret_id("app/db")
        .send()
        .await
        .unwrap_err());
    assert_eq!(
        (code.as_str(), msg.as_str()),
        (
            "ExpiredTokenException",
            "The security token included in the request is expired"
        )
    );
    let e = session_sts.get_caller_identity().send().await.unwrap_err();
    assert_eq!(
        e.as_service_error().and_then(|e| e.meta().code()),
        Some("ExpiredToken")
    );
    srv.stop().await;
}

#[tokio::test]
async fn session_policy_narrows_and_chaining_is_capped() {
    let srv = TestServer::start().await;
    let addr = srv.running().addr;
    secret(&srv, "app/db", "Dev").await;
    reader_role(addr, &format!("arn:aws:iam::{ACCOUNT}:root")).await;
    let root = sts_client(&srv, AKID, SECRET, None);
    let narrow = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"secretsmanager:DescribeSecret","Resource":"*"}}"#;
    let out = root
        .assume_role()
        .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/Reader"))
        .role_session_name("narrow")
        .external_id("ext-1")
        .policy(narrow)
        .send()
        .await
        .unwrap();
    let sm = session_client(&srv, out.credentials().unwrap());
    sm.describe_secret()
        .secret_id("app/db")
        .send()
        .await
        .unwrap();
    let (code, msg) = err(sm
        .get_secret_value()
        .secret_id("app/db")
        .send()
        .await
        .unwrap_err());
    assert_eq!(code, "AccessDeniedException");
    assert!(msg.contains("because no session policy allows"), "{msg}");
    // Role chaining: a role session assuming a role gets at most one hour.
    let assume = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}}"#;
    iam(
        addr,
        &[
            ("Action", "PutRolePolicy"),
            ("RoleName", "Reader"),
            ("PolicyName", "chain"),
            ("PolicyDocument", assume),
        ],
    )
    .await;
    let out = root
        .assume_role()
        .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/Reader"))
        .role_session_name("wide")
        .external_id("ext-1")
        .send()
        .await
        .unwrap();
    let c = out.credentials().unwrap();
    let chained = sts_client(
        &srv,
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token()),
    );
    let e = chained
        .assume_role()
        .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/Reader"))
        .role_session_name("again")
        .external_id("ext-1")
        .duration_seconds(7200)
        .send()
        .await
        .unwrap_err();
    let meta = e.as_service_error().unwrap().meta();
    assert_eq!(meta.code(), Some("ValidationError"));
    assert!(meta.message().unwrap().contains("role chaining"));
    let again = chained
        .assume_role()
        .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/Reader"))
        .role_session_name("again")
        .external_id("ext-1")
        .send()
        .await
        .unwrap();
    assert!(
        again.credentials().is_some(),
        "chaining within the hour works"
    );
    srv.stop().await;
}
