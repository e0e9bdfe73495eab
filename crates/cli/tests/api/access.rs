//! Access control end to end: IAM over the Query protocol (signed by the official
//! signer), STS through the official `aws-sdk-sts` client, and Secrets Manager
//! calls by the resulting principals through `aws-sdk-secretsmanager`.

use crate::common::*;
use crate::raw::{query, signed_for, xml};
use aws_sdk_sts as sts;
use std::net::SocketAddr;

pub(crate) const ROOT: (&str, &str, Option<&str>) = (AKID, SECRET, None);

pub(crate) async fn iam(addr: SocketAddr, params: &[(&str, &str)]) -> String {
    let (status, body) = query(addr, "iam", params, ROOT).await;
    assert_eq!(status, 200, "{params:?}: {body}");
    body
}

/// Creates a user with tags and an inline policy; returns its access key.
pub(crate) async fn user(
    addr: SocketAddr,
    name: &str,
    tags: &[(&str, &str)],
    policy: &str,
) -> (String, String) {
    let mut p = vec![("Action", "CreateUser"), ("UserName", name)];
    let keys: Vec<(String, String, String, String)> = tags
        .iter()
        .enumerate()
        .map(|(i, (k, v))| {
            (
                format!("Tags.member.{}.Key", i + 1),
                k.to_string(),
                format!("Tags.member.{}.Value", i + 1),
                v.to_string(),
            )
        })
        .collect();
    for (kk, k, vk, v) in &keys {
        p.push((kk, k));
        p.push((vk, v));
    }
    iam(addr, &p).await;
    iam(
        addr,
        &[
            ("Action", "PutUserPolicy"),
            ("UserName", name),
            ("PolicyName", "p"),
            ("PolicyDocument", policy),
        ],
    )
    .await;
    let body = iam(addr, &[("Action", "CreateAccessKey"), ("UserName", name)]).await;
    (
        xml(&body, "AccessKeyId").unwrap(),
        xml(&body, "SecretAccessKey").unwrap(),
    )
}

pub(crate) fn sts_client(
    srv: &TestServer,
    akid: &str,
    secret: &str,
    token: Option<&str>,
) -> sts::Client {
    sts_at(&srv.endpoint(), akid, secret, token)
}

/// An STS client for the server at `endpoint`.
pub(crate) fn sts_at(endpoint: &str, akid: &str, secret: &str, token: Option<&str>) -> sts::Client {
    let creds = aws_credential_types::Credentials::new(
        akid,
        secret,
        token.map(str::to_string),
        None,
        "test",
    );
    let conf = sts::Config::builder()
        .behavior_version(sts::config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(sts::config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .build();
    sts::Client::from_conf(conf)
}

pub(crate) fn session_client(
    srv: &TestServer,
    c: &sts::types::Credentials,
) -> aws_sdk_secretsmanager::Client {
    session_at(&srv.endpoint(), c)
}

/// A Secrets Manager client for the server at `endpoint`, signing with `c`.
pub(crate) fn session_at(
    endpoint: &str,
    c: &sts::types::Credentials,
) -> aws_sdk_secretsmanager::Client {
    let creds = aws_credential_types::Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_string()),
        None,
        "session",
    );
    let conf = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_sdk_secretsmanager::config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .build();
    aws_sdk_secretsmanager::Client::from_conf(conf)
}

pub(crate) async fn secret(srv: &TestServer, name: &str, team: &str) -> String {
    let tag = aws_sdk_secretsmanager::types::Tag::builder()
        .key("Team")
        .value(team)
        .build();
    srv.client()
        .create_secret()
        .name(name)
        .secret_string(format!("value-of-{name}"))
        .tags(tag)
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_string()
}

pub(crate) const TEAM_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
  "Action":["secretsmanager:GetSecretValue","secretsmanager:DescribeSecret","secretsmanager:BatchGetSecretValue"],
  "Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/Team":"${aws:PrincipalTag/Team}"}}},
  {"Effect":"Allow","Action":"secretsmanager:BatchGetSecretValue","Resource":"*"}]}"#;

#[tokio::test]
async fn tag_based_policy_reads_exactly_the_team_secrets() {
    let srv = TestServer::start().await;
    let addr = srv.running().addr;
    secret(&srv, "dev/db", "Dev").await;
    let ops = secret(&srv, "ops/db", "Ops").await;
    let (akid, key) = user(addr, "dev1", &[("Team", "Dev")], TEAM_POLICY).await;
    let c = client_for(&srv.endpoint(), "us-east-1", &akid, &key);
    let got = c
        .get_secret_value()
        .secret_id("dev/db")
        .send()
        .await
        .unwrap();
    assert_eq!(got.secret_string(), Some("value-of-dev/db"));
    let (code, msg) = err(c
        .get_secret_value()
        .secret_id("ops/db")
        .send()
        .await
        .unwrap_err());
    assert_eq!(code, "AccessDeniedException");
    assert_eq!(
        msg,
        format!("User: arn:aws:iam::{ACCOUNT}:user/dev1 is not authorized to perform: secretsmanager:GetSecretValue on resource: {ops} because no identity-based policy allows the secretsmanager:GetSecretValue action")
    );
    let (code, _) = err(c.list_secrets().send().await.unwrap_err());
    assert_eq!(
        code, "AccessDeniedException",
        "ListSecrets needs its own permission"
    );
    let (code, _) = err(c
        .create_secret()
        .name("x")
        .secret_string("y")
        .send()
        .await
        .unwrap_err());
    assert_eq!(code, "AccessDeniedException");
    // A batch reports each denied secret in its Errors list.
    let batch = c
        .batch_get_secret_value()
        .secret_id_list("dev/db")
        .secret_id_list("ops/db")
        .send()
        .await
        .unwrap();
    assert_eq!(batch.secret_values().len(), 1);
    assert_eq!(batch.errors().len(), 1);
    assert_eq!(
        batch.errors()[0].error_code(),
        Some("AccessDeniedException")
    );
    srv.stop().await;
}

#[tokio::test]
async fn explicit_deny_overrides_allow() {
    let srv = TestServer::start().await;
    let addr = srv.running().addr;
    secret(&srv, "prod/db", "Ops").await;
    let policy = r#"{"Version":"2012-10-17","Statement":[
      {"Effect":"Allow","Action":"secretsmanager:*","Resource":"*"},
      {"Effect":"Deny","Action":"secretsmanager:GetSecretValue","Resource":"arn:aws:secretsmanager:*:*:secret:prod/*"}]}"#;
    let (akid, key) = user(addr, "ops", &[], policy).await;
    let c = client_for(&srv.endpoint(), "us-east-1", &akid, &key);
    c.describe_secret()
        .secret_id("prod/db")
        .send()
        .await
        .unwrap();
    let (code, msg) = err(c
        .get_secret_value()
        .secret_id("prod/db")
        .send()
        .await
        .unwrap_err());
    assert_eq!(code, "AccessDeniedException");
    assert!(
        msg.ends_with("with an explicit deny in an identity-based policy"),
        "{msg}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn inactive_and_deleted_keys_are_refused() {
    let srv = TestServer::start().await;
    let addr = srv.running().addr;
    let allow = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"secretsmanager:ListSecrets","Resource":"*"}}"#;
    let (akid, key) = user(addr, "temp", &[], allow).await;
    let c = client_for(&srv.endpoint(), "us-east-1", &akid, &key);
    c.list_secrets().send().await.unwrap();
    let set = |status: &'static str| {
        let akid = akid.clone();
        async move {
            iam(
                addr,
                &[
                    ("Action", "UpdateAccessKey"),
                    ("UserName", "temp"),
                    ("AccessKeyId", &akid),
                    ("Status", status),
                ],
            )
            .await
        }
    };
    set("Inactive").await;
    let (code, _) = err(c.list_secrets().send().await.unwrap_err());
    assert_eq!(code, "UnrecognizedClientException");
    set("Active").await;
    c.list_secrets().send().await.unwrap();
    // A user with a key cannot be deleted until the key is.
    let (status, body) = query(
        addr,
        "iam",
        &[("Action", "DeleteUser"), ("UserName", "temp")],
        ROOT,
    )
    .await;
    assert_eq!(
        (status, xml(&body, "Code").as_deref()),
        (409, Some("DeleteConflict"))
    );
    iam(
        addr,
        &[
            ("Action", "DeleteAccessKey"),
            ("UserName", "temp"),
            ("AccessKeyId", &akid),
        ],
    )
    .await;
    let (code, _) = err(c.list_secrets().send().await.unwrap_err());
    assert_eq!(code, "UnrecognizedClientException");
    srv.stop().await;
}

#[tokio::test]
async fn another_account_reads_through_a_resource_policy() {
    let srv = TestServer::start().await;
    let addr = srv.running().addr;
    // Account B, created by the first account's root.
    let body = br#"{"Name":"team-b"}"#;
    let headers = signed_for(
        addr,
        "secretsmanager",
        "/coffer/v1/accounts",
        "application/json",
        body,
        ROOT,
    );
    let (status, _, text) =
        crate::raw::request(addr, "POST", "/coffer/v1/accounts", &headers, body).await;
    assert_eq!(status, 200, "{text}");
    let b: serde_json::Value = serde_json::from_str(&text).unwrap();
    let (b_account, b_key, b_secret) = (
        b["AccountId"].as_str().unwrap().to_string(),
        b["AccessKeyId"].as_str().unwrap().to_string(),
        b["SecretAccessKey"].as_str().unwrap().to_string(),
    );
    let b_root = (b_key.as_str(), b_secret.as_str(), None);
    // The secret is under a key shared with B: the default key never crosses accounts.
    let key = key_shared_with(&srv.kms(), &b_account).await;
    let arn = srv
        .client()
        .create_secret()
        .name("shared/db")
        .secret_string("value-of-shared/db")
        .kms_key_id(&key)
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    // B's root cannot create accounts.
    let headers = signed_for(
        addr,
        "secretsmanager",
        "/coffer/v1/accounts",
        "application/json",
        body,
        b_root,
    );
    let (status, _, _) =
        crate::raw::request(addr, "POST", "/coffer/v1/accounts", &headers, body).await;
    assert_eq!(status, 400);
    // In B: a role its root may assume, allowed to read any secret.
    let trust = format!(
        r#"{{"Statement":{{"Effect":"Allow","Principal":{{"AWS":"{b_account}"}},"Action":"sts:AssumeRole"}}}}"#
    );
    for params in [
        vec![
            ("Action", "CreateRole"),
            ("RoleName", "Reader"),
            ("AssumeRolePolicyDocument", trust.as_str()),
        ],
        vec![
            ("Action", "PutRolePolicy"),
            ("RoleName", "Reader"),
            ("PolicyName", "r"),
            (
                "PolicyDocument",
                r#"{"Statement":{"Effect":"Allow","Action":["secretsmanager:GetSecretValue","kms:Decrypt"],"Resource":"*"}}"#,
            ),
        ],
    ] {
        let (status, text) = query(addr, "iam", &params, b_root).await;
        assert_eq!(status, 200, "{text}");
    }
    let out = sts_client(&srv, &b_key, &b_secret, None)
        .assume_role()
        .role_arn(format!("arn:aws:iam::{b_account}:role/Reader"))
        .role_session_name("xs")
        .send()
        .await
        .unwrap();
    let reader = session_client(&srv, out.credentials().unwrap());
    let (code, msg) = err(reader
        .get_secret_value()
        .secret_id(&arn)
        .send()
        .await
        .unwrap_err());
    assert_eq!(code, "AccessDeniedException", "no resource policy yet");
    assert!(
        msg.contains("because no resource-based policy allows"),
        "{msg}"
    );
    // A public policy is refused when BlockPublicPolicy is set.
    let public = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"secretsmanager:GetSecretValue","Resource":"*"}}"#;
    let (code, _) = err(srv
        .client()
        .put_resource_policy()
        .secret_id(&arn)
        .resource_policy(public)
        .block_public_policy(true)
        .send()
        .await
        .unwrap_err());
    assert_eq!(code, "PublicPolicyException");
    let grant = format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{b_account}:role/Reader"}},"Action":"secretsmanager:GetSecretValue","Resource":"*"}}}}"#
    );
    // BlockPublicPolicy also refuses grants to principals outside the account, so
    // sharing with another account is an explicit choice.
    let (code, _) = err(srv
        .client()
        .put_resource_policy()
        .secret_id(&arn)
        .resource_policy(&grant)
        .block_public_policy(true)
        .send()
        .await
        .unwrap_err());
    assert_eq!(code, "PublicPolicyException");
    srv.client()
        .put_resource_policy()
        .secret_id(&arn)
        .resource_policy(&grant)
        .send()
        .await
        .unwrap();
    let got = reader
        .get_secret_value()
        .secret_id(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(got.secret_string(), Some("value-of-shared/db"));
    // By name the caller looks in its own account, where there is no such secret
    // (and its role may read any secret of its own, so it learns that).
    let (code, _) = err(reader
        .get_secret_value()
        .secret_id("shared/db")
        .send()
        .await
        .unwrap_err());
    assert_eq!(code, "ResourceNotFoundException");
    let (code, _) = err(reader
        .describe_secret()
        .secret_id(&arn)
        .send()
        .await
        .unwrap_err());
    assert_eq!(
        code, "AccessDeniedException",
        "the policy grants reads only"
    );
    let policy = srv
        .client()
        .get_resource_policy()
        .secret_id(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(policy.resource_policy(), Some(grant.as_str()));
    srv.client()
        .delete_resource_policy()
        .secret_id(&arn)
        .send()
        .await
        .unwrap();
    let (code, _) = err(reader
        .get_secret_value()
        .secret_id(&arn)
        .send()
        .await
        .unwrap_err());
    assert_eq!(code, "AccessDeniedException");
    srv.stop().await;
}

/// Reads a change stream for a while and returns what arrived.
pub(crate) async fn stream_for(
    addr: SocketAddr,
    creds: (&str, &str, Option<&str>),
    after: i64,
) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let path = format!("/coffer/v1/events?after={after}");
    let headers = crate::raw::signed_method(
        addr,
        "GET",
        "secretsmanager",
        &path,
        "text/plain",
        b"",
        creds,
    );
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\n");
    for (k, v) in &headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(700);
    while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn change_stream_and_filtered_batches_follow_permissions() {
    let srv = TestServer::start().await;
    let addr = srv.running().addr;
    secret(&srv, "dev/one", "Dev").await;
    secret(&srv, "ops/one", "Ops").await;
    let (akid, key) = user(addr, "dev2", &[("Team", "Dev")], TEAM_POLICY).await;
    // Subscribing is a permission of its own; each event is then filtered.
    let stream = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"secretsmanager:SubscribeChanges","Resource":"*"}}"#;
    iam(
        addr,
        &[
            ("Action", "PutUserPolicy"),
            ("UserName", "dev2"),
            ("PolicyName", "stream"),
            ("PolicyDocument", stream),
        ],
    )
    .await;
    let seen = stream_for(addr, (&akid, &key, None), 0).await;
    assert!(seen.contains("dev/one"), "{seen}");
    assert!(
        !seen.contains("ops/one"),
        "a secret the user may not describe stays hidden: {seen}"
    );
    let all = stream_for(addr, ROOT, 0).await;
    assert!(all.contains("dev/one") && all.contains("ops/one"));
    // BatchGetSecretValue by filters needs ListSecrets as well.
    let c = client_for(&srv.endpoint(), "us-east-1", &akid, &key);
    let filter = aws_sdk_secretsmanager::types::Filter::builder()
        .key(aws_sdk_secretsmanager::types::FilterNameStringType::Name)
        .values("dev")
        .build();
    let (code, msg) = err(c
        .batch_get_secret_value()
        .filters(filter)
        .send()
        .await
        .unwrap_err());
    assert_eq!(code, "AccessDeniedException");
    assert!(msg.contains("secretsmanager:ListSecrets"), "{msg}");
    srv.stop().await;
}
