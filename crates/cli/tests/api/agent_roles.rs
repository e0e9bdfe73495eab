//! The agent's role assumption against the server's STS: per request (`roleArn`)
//! and per prefetch entry, each role's answers cached apart, idle roles evicted
//! past `max_roles`.

use crate::access::iam;
use crate::agent::{get, json, start_agent, upstream_calls};
use crate::common::*;
use aws_sdk_secretsmanager::types::Tag;
use std::net::SocketAddr;

/// A role the test account's root may assume, reading the secrets under `prefix`.
pub(crate) async fn role(addr: SocketAddr, name: &str, prefix: &str, trusted: &str) -> String {
    let trust = format!(
        r#"{{"Statement":{{"Effect":"Allow","Principal":{{"AWS":"{trusted}"}},"Action":"sts:AssumeRole"}}}}"#
    );
    iam(
        addr,
        &[
            ("Action", "CreateRole"),
            ("RoleName", name),
            ("AssumeRolePolicyDocument", &trust),
        ],
    )
    .await;
    let read = format!(
        r#"{{"Statement":[{{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"arn:aws:secretsmanager:*:*:secret:{prefix}*"}},{{"Effect":"Allow","Action":"secretsmanager:BatchGetSecretValue","Resource":"*"}}]}}"#
    );
    iam(
        addr,
        &[
            ("Action", "PutRolePolicy"),
            ("RoleName", name),
            ("PolicyName", "read"),
            ("PolicyDocument", &read),
        ],
    )
    .await;
    format!("arn:aws:iam::{ACCOUNT}:role/{name}")
}

pub(crate) fn enc(s: &str) -> String {
    s.replace(':', "%3A").replace('/', "%2F")
}

#[tokio::test]
async fn role_per_request_and_per_prefetch_entry() {
    let srv = TestServer::start().await;
    let addr = srv.running().addr;
    let c = srv.client();
    for (name, team) in [("team-a/db", "A"), ("team-b/db", "B")] {
        let tag = Tag::builder().key("Team").value(team).build();
        c.create_secret()
            .name(name)
            .secret_string(format!("value-{team}"))
            .tags(tag)
            .send()
            .await
            .unwrap();
    }
    let root = format!("arn:aws:iam::{ACCOUNT}:root");
    let reader_a = role(addr, "ReaderA", "team-a/", &root).await;
    let reader_b = role(addr, "ReaderB", "team-b/", &root).await;
    let untrusted = role(addr, "Nobody", "team-a/", "arn:aws:iam::999999999999:root").await;
    let toml = format!(
        "[capabilities.secrets_manager]\nmax_roles = 1\n[capabilities.secrets_manager.prefetch]\nsecrets = [{{ secret_id = \"team-a/db\", role_arn = \"{reader_a}\" }}]\n"
    );
    let a = start_agent(&srv, &toml, true).await;
    wait_for(
        "the prefetch through the role finished",
        PATIENCE,
        async || a.is_ready(),
    )
    .await;
    assert!(a.is_ready());
    // Prefetched through the role: served from the cache.
    let (status, _, body) = get(a.addr, &format!("/v1/team-a/db?roleArn={}", enc(&reader_a))).await;
    assert_eq!(
        (status, json(&body)["SecretString"].as_str()),
        (200, Some("value-A"))
    );
    assert_eq!(
        upstream_calls(&a),
        0,
        "served from the prefetched role cache"
    );
    // The role may not read team B's secret, even once the agent's own credentials
    // have cached it: each role's answers are kept apart.
    let (status, _, body) = get(a.addr, "/v1/team-b/db").await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = get(a.addr, &format!("/v1/team-b/db?roleArn={}", enc(&reader_a))).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(json(&body)["__type"], "AccessDeniedException");
    // Another role evicts the idle one (max_roles = 1), and its answers with it.
    let (status, _, body) = get(a.addr, &format!("/v1/team-b/db?roleArn={}", enc(&reader_b))).await;
    assert_eq!(
        (status, json(&body)["SecretString"].as_str()),
        (200, Some("value-B"))
    );
    let before = upstream_calls(&a);
    let (status, _, _) = get(a.addr, &format!("/v1/team-a/db?roleArn={}", enc(&reader_a))).await;
    assert_eq!(status, 200, "the evicted role is assumed again");
    assert_eq!(
        upstream_calls(&a),
        before + 1,
        "its cached answer went with it"
    );
    // A role the agent may not assume, and a malformed one.
    let (status, _, body) = get(
        a.addr,
        &format!("/v1/team-a/db?roleArn={}", enc(&untrusted)),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(json(&body)["__type"], "AccessDeniedException");
    let (status, _, body) = get(a.addr, "/v1/team-a/db?roleArn=reader").await;
    assert_eq!(status, 400, "{body}");
    a.stop().await;
    srv.stop().await;
}

/// `[coffer] allowed_roles`: a local caller may have the agent assume only the
/// roles listed (wildcards allowed); others answer AccessDenied, as the AWS
/// agent shapes its errors, before any STS call.
#[tokio::test]
async fn only_listed_roles_are_assumed() {
    let srv = TestServer::start().await;
    let addr = srv.running().addr;
    srv.client()
        .create_secret()
        .name("team-a/db")
        .secret_string("value-A")
        .send()
        .await
        .unwrap();
    let root = format!("arn:aws:iam::{ACCOUNT}:root");
    let listed = role(addr, "app-reader", "team-a/", &root).await;
    let other = role(addr, "Admin-reader", "team-a/", &root).await;
    let toml = format!("[coffer]\nallowed_roles = [\"arn:aws:iam::{ACCOUNT}:role/app-*\"]\n");
    let a = start_agent(&srv, &toml, true).await;
    let (status, _, body) = get(a.addr, &format!("/v1/team-a/db?roleArn={}", enc(&listed))).await;
    assert_eq!(
        (status, json(&body)["SecretString"].as_str()),
        (200, Some("value-A")),
        "{body}"
    );
    let calls = upstream_calls(&a);
    let (status, _, body) = get(a.addr, &format!("/v1/team-a/db?roleArn={}", enc(&other))).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("AccessDeniedException"), "{body}");
    assert_eq!(
        upstream_calls(&a),
        calls,
        "a refused role made no upstream call"
    );
    a.stop().await;
    srv.stop().await;
}
