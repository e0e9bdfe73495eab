//! Staging labels move as AWS moves them (cases recorded from real AWS).

use crate::common::*;
use aws_sdk_secretsmanager as sm;
use std::collections::BTreeMap;

async fn stages(c: &sm::Client, id: &str, deprecated: bool) -> BTreeMap<String, Vec<String>> {
    let out = c
        .list_secret_version_ids()
        .secret_id(id)
        .include_deprecated(deprecated)
        .send()
        .await
        .unwrap();
    out.versions()
        .iter()
        .map(|v| {
            (
                v.version_id().unwrap().to_string(),
                v.version_stages().to_vec(),
            )
        })
        .collect()
}

fn map(entries: &[(u32, &[&str])]) -> BTreeMap<String, Vec<String>> {
    entries
        .iter()
        .map(|(t, ls)| {
            (
                token(*t),
                ls.iter().map(std::string::ToString::to_string).collect(),
            )
        })
        .collect()
}

#[tokio::test]
async fn pending_then_promoted_then_cycled() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_secret()
        .name("cycle")
        .secret_string("S0")
        .client_request_token(token(1))
        .send()
        .await
        .unwrap();
    c.put_secret_value()
        .secret_id("cycle")
        .secret_string("S1")
        .client_request_token(token(2))
        .version_stages("AWSCURRENT")
        .version_stages("PUT0")
        .send()
        .await
        .unwrap();
    let p = c
        .put_secret_value()
        .secret_id("cycle")
        .secret_string("S2")
        .client_request_token(token(3))
        .version_stages("AWSPENDING")
        .version_stages("PUT1")
        .send()
        .await
        .unwrap();
    assert_eq!(p.version_stages(), ["AWSPENDING", "PUT1"]);
    assert_eq!(
        stages(&c, "cycle", false).await,
        map(&[
            (1, &["AWSPREVIOUS"]),
            (2, &["AWSCURRENT", "PUT0"]),
            (3, &["AWSPENDING", "PUT1"])
        ])
    );
    // Moving AWSCURRENT without naming its holder is refused.
    let (code, msg) = err(c
        .update_secret_version_stage()
        .secret_id("cycle")
        .version_stage("AWSCURRENT")
        .move_to_version_id(token(3))
        .send()
        .await
        .unwrap_err());
    assert_eq!(code, "InvalidParameterException");
    assert!(
        msg.contains(&format!("currently attached to version {}", token(2))),
        "{msg}"
    );
    c.update_secret_version_stage()
        .secret_id("cycle")
        .version_stage("AWSCURRENT")
        .move_to_version_id(token(3))
        .remove_from_version_id(token(2))
        .send()
        .await
        .unwrap();
    assert_eq!(
        stages(&c, "cycle", false).await,
        map(&[
            (2, &["PUT0", "AWSPREVIOUS"]),
            (3, &["AWSPENDING", "PUT1", "AWSCURRENT"])
        ])
    );
    assert_eq!(
        c.get_secret_value()
            .secret_id("cycle")
            .send()
            .await
            .unwrap()
            .secret_string(),
        Some("S2")
    );
    // A new AWSPENDING takes the label off version 3.
    c.put_secret_value()
        .secret_id("cycle")
        .secret_string("S3")
        .client_request_token(token(4))
        .version_stages("AWSPENDING")
        .version_stages("PUT2")
        .send()
        .await
        .unwrap();
    assert_eq!(
        stages(&c, "cycle", true).await,
        map(&[
            (1, &[]),
            (2, &["PUT0", "AWSPREVIOUS"]),
            (3, &["PUT1", "AWSCURRENT"]),
            (4, &["AWSPENDING", "PUT2"])
        ])
    );
    srv.stop().await;
}

#[tokio::test]
async fn deprecated_versions_are_listed_only_on_request() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_secret()
        .name("dep")
        .secret_string("v1")
        .client_request_token(token(1))
        .send()
        .await
        .unwrap();
    for t in 2..=4 {
        c.put_secret_value()
            .secret_id("dep")
            .secret_string(format!("v{t}"))
            .client_request_token(token(t))
            .send()
            .await
            .unwrap();
    }
    assert_eq!(
        stages(&c, "dep", false).await,
        map(&[(3, &["AWSPREVIOUS"]), (4, &["AWSCURRENT"])])
    );
    assert_eq!(
        stages(&c, "dep", true).await,
        map(&[
            (1, &[]),
            (2, &[]),
            (3, &["AWSPREVIOUS"]),
            (4, &["AWSCURRENT"])
        ])
    );
    // A deprecated version can still be read by id.
    assert_eq!(
        c.get_secret_value()
            .secret_id("dep")
            .version_id(token(1))
            .send()
            .await
            .unwrap()
            .secret_string(),
        Some("v1")
    );
    srv.stop().await;
}

#[tokio::test]
async fn removing_and_custom_labels() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_secret()
        .name("custom")
        .secret_string("v1")
        .client_request_token(token(1))
        .send()
        .await
        .unwrap();
    c.put_secret_value()
        .secret_id("custom")
        .secret_string("v2")
        .client_request_token(token(2))
        .version_stages("one")
        .version_stages("two")
        .send()
        .await
        .unwrap();
    let (code, _) = err(c
        .update_secret_version_stage()
        .secret_id("custom")
        .version_stage("AWSCURRENT")
        .remove_from_version_id(token(1))
        .send()
        .await
        .unwrap_err());
    assert_eq!(
        code, "InvalidParameterException",
        "AWSCURRENT cannot just be removed"
    );
    let (code, _) = err(c
        .update_secret_version_stage()
        .secret_id("custom")
        .version_stage("one")
        .remove_from_version_id(token(1))
        .send()
        .await
        .unwrap_err());
    assert_eq!(
        code, "InvalidParameterException",
        "label is not on that version"
    );
    c.update_secret_version_stage()
        .secret_id("custom")
        .version_stage("one")
        .remove_from_version_id(token(2))
        .send()
        .await
        .unwrap();
    assert_eq!(
        stages(&c, "custom", false).await,
        map(&[(1, &["AWSCURRENT"]), (2, &["two"])])
    );
    // A new label can be attached without removing anything.
    c.update_secret_version_stage()
        .secret_id("custom")
        .version_stage("fresh")
        .move_to_version_id(token(1))
        .send()
        .await
        .unwrap();
    assert_eq!(
        stages(&c, "custom", false).await,
        map(&[(1, &["AWSCURRENT", "fresh"]), (2, &["two"])])
    );
    let (code, _) = err(c
        .update_secret_version_stage()
        .secret_id("custom")
        .version_stage("x")
        .move_to_version_id(token(7))
        .send()
        .await
        .unwrap_err());
    assert_eq!(code, "ResourceNotFoundException");
    srv.stop().await;
}

/// Past AWS's limit of 100 versions, deprecated versions older than a day go.
#[tokio::test]
async fn old_deprecated_versions_are_pruned() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_secret()
        .name("many")
        .secret_string("v0")
        .client_request_token(token(0))
        .send()
        .await
        .unwrap();
    for t in 1..=104 {
        srv.clock.advance_ms(60 * 60 * 1000);
        c.put_secret_value()
            .secret_id("many")
            .secret_string(format!("v{t}"))
            .client_request_token(token(t))
            .send()
            .await
            .unwrap();
    }
    let all = stages(&c, "many", true).await;
    assert_eq!(all.len(), 100);
    assert!(
        !all.contains_key(&token(0)) && !all.contains_key(&token(4)),
        "the oldest went first"
    );
    assert!(all.contains_key(&token(5)));
    assert_eq!(all[&token(104)], ["AWSCURRENT"]);
    assert_eq!(all[&token(103)], ["AWSPREVIOUS"]);
    srv.stop().await;
}

/// A version without labels is not carried with its secret but read from the
/// store: GetSecretValue by its id, a label moved onto it, and a put repeating
/// its token (the same value is a retry, another is refused).
#[tokio::test]
async fn deprecated_versions_stay_reachable_by_id() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_secret()
        .name("old")
        .secret_string("S1")
        .client_request_token(token(1))
        .send()
        .await
        .unwrap();
    for (t, v) in [(2, "S2"), (3, "S3")] {
        c.put_secret_value()
            .secret_id("old")
            .secret_string(v)
            .client_request_token(token(t))
            .send()
            .await
            .unwrap();
    }
    assert_eq!(
        stages(&c, "old", true).await,
        map(&[(1, &[]), (2, &["AWSPREVIOUS"]), (3, &["AWSCURRENT"])])
    );
    let v1 = c
        .get_secret_value()
        .secret_id("old")
        .version_id(token(1))
        .send()
        .await
        .unwrap();
    assert_eq!(v1.secret_string(), Some("S1"));
    assert!(v1.version_stages().is_empty());

    // A retry of the first version's put is answered as done; another value
    // under its token is refused.
    c.put_secret_value()
        .secret_id("old")
        .secret_string("S1")
        .client_request_token(token(1))
        .send()
        .await
        .unwrap();
    let (code, _) = err(c
        .put_secret_value()
        .secret_id("old")
        .secret_string("other")
        .client_request_token(token(1))
        .send()
        .await
        .unwrap_err());
    assert_eq!(code, "ResourceExistsException");

    c.update_secret_version_stage()
        .secret_id("old")
        .version_stage("AWSCURRENT")
        .move_to_version_id(token(1))
        .remove_from_version_id(token(3))
        .send()
        .await
        .unwrap();
    let now = c.get_secret_value().secret_id("old").send().await.unwrap();
    assert_eq!(now.secret_string(), Some("S1"));
    assert_eq!(
        stages(&c, "old", true).await,
        map(&[(1, &["AWSCURRENT"]), (2, &[]), (3, &["AWSPREVIOUS"])])
    );
    srv.stop().await;
}
