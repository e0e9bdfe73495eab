//! Create, read, write, describe: the happy paths and their AWS shapes.

use crate::common::*;
use aws_sdk_secretsmanager::primitives::Blob;

#[tokio::test]
async fn create_get_put_describe() {
    let srv = TestServer::start().await;
    let c = srv.client();
    let created = c
        .create_secret()
        .name("prod/db")
        .description("the database")
        .secret_string(r#"{"user":"app","password":"p1"}"#)
        .client_request_token(token(1))
        .send()
        .await
        .unwrap();
    let arn = created.arn().unwrap().to_string();
    assert!(
        arn.starts_with(&format!(
            "arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:prod/db-"
        )),
        "{arn}"
    );
    assert_eq!(
        arn.len(),
        format!("arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:prod/db-").len() + 6
    );
    assert_eq!(created.version_id(), Some(token(1).as_str()));

    let got = c
        .get_secret_value()
        .secret_id("prod/db")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.secret_string(),
        Some(r#"{"user":"app","password":"p1"}"#)
    );
    assert_eq!(got.version_stages(), ["AWSCURRENT"]);
    assert_eq!(got.arn(), Some(arn.as_str()));
    assert!(got.created_date().is_some());

    let put = c
        .put_secret_value()
        .secret_id(&arn)
        .secret_string("p2")
        .client_request_token(token(2))
        .send()
        .await
        .unwrap();
    assert_eq!(put.version_stages(), ["AWSCURRENT"]);
    let prev = c
        .get_secret_value()
        .secret_id("prod/db")
        .version_stage("AWSPREVIOUS")
        .send()
        .await
        .unwrap();
    assert_eq!(
        prev.secret_string(),
        Some(r#"{"user":"app","password":"p1"}"#)
    );
    assert_eq!(prev.version_id(), Some(token(1).as_str()));

    let d = c
        .describe_secret()
        .secret_id("prod/db")
        .send()
        .await
        .unwrap();
    assert_eq!(d.description(), Some("the database"));
    assert!(d.deleted_date().is_none());
    assert!(
        d.tags().is_empty(),
        "no Tags on a secret that never had any"
    );
    let stages = d.version_ids_to_stages().unwrap();
    assert_eq!(stages[&token(1)], ["AWSPREVIOUS"]);
    assert_eq!(stages[&token(2)], ["AWSCURRENT"]);
    assert!(d.created_date().is_some() && d.last_changed_date().is_some());
    srv.stop().await;
}

#[tokio::test]
async fn binary_values_round_trip() {
    let srv = TestServer::start().await;
    let c = srv.client();
    let bytes = vec![0u8, 1, 2, 255, 254, 253];
    c.create_secret()
        .name("bin")
        .secret_binary(Blob::new(bytes.clone()))
        .send()
        .await
        .unwrap();
    let got = c.get_secret_value().secret_id("bin").send().await.unwrap();
    assert_eq!(got.secret_binary().unwrap().as_ref(), bytes.as_slice());
    assert!(got.secret_string().is_none());
    // UpdateSecret with a new value makes a new current version.
    let up = c
        .update_secret()
        .secret_id("bin")
        .secret_binary(Blob::new(b"updated1".to_vec()))
        .send()
        .await
        .unwrap();
    assert!(up.version_id().is_some());
    let got = c.get_secret_value().secret_id("bin").send().await.unwrap();
    assert_eq!(got.secret_binary().unwrap().as_ref(), b"updated1");
    srv.stop().await;
}

#[tokio::test]
async fn create_without_value_then_put() {
    let srv = TestServer::start().await;
    let c = srv.client();
    let created = c.create_secret().name("empty").send().await.unwrap();
    assert!(created.version_id().is_none());
    let d = c.describe_secret().secret_id("empty").send().await.unwrap();
    assert!(d.version_ids_to_stages().is_none());
    let (code, msg) = err(c
        .get_secret_value()
        .secret_id("empty")
        .send()
        .await
        .unwrap_err());
    assert_eq!(code, "ResourceNotFoundException");
    assert_eq!(
        msg,
        "Secrets Manager can't find the specified secret value for staging label: AWSCURRENT"
    );
    let put = c
        .put_secret_value()
        .secret_id("empty")
        .secret_string("v")
        .send()
        .await
        .unwrap();
    assert_eq!(put.version_stages(), ["AWSCURRENT"]);
    srv.stop().await;
}

#[tokio::test]
async fn update_secret_metadata_only_makes_no_version() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_secret()
        .name("meta")
        .secret_string("v")
        .send()
        .await
        .unwrap();
    let up = c
        .update_secret()
        .secret_id("meta")
        .description("MyDescription")
        .send()
        .await
        .unwrap();
    assert!(up.version_id().is_none());
    let d = c.describe_secret().secret_id("meta").send().await.unwrap();
    assert_eq!(d.description(), Some("MyDescription"));
    assert_eq!(d.version_ids_to_stages().unwrap().len(), 1);
    // Description and value in one call: one new version, new description.
    let up = c
        .update_secret()
        .secret_id("meta")
        .description("Second")
        .secret_string("v2")
        .send()
        .await
        .unwrap();
    assert!(up.version_id().is_some());
    let d = c.describe_secret().secret_id("meta").send().await.unwrap();
    assert_eq!(d.description(), Some("Second"));
    assert_eq!(d.version_ids_to_stages().unwrap().len(), 2);
    srv.stop().await;
}

#[tokio::test]
async fn found_by_name_full_arn_and_partial_arn() {
    let srv = TestServer::start().await;
    let c = srv.client();
    let arn = c
        .create_secret()
        .name("team/api-key")
        .secret_string("k")
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    let partial = arn[..arn.len() - 7].to_string();
    for id in ["team/api-key", arn.as_str(), partial.as_str()] {
        let got = c.get_secret_value().secret_id(id).send().await.unwrap();
        assert_eq!(got.secret_string(), Some("k"), "{id}");
    }
    let wrong_suffix = format!("{partial}-ZZZZZZ");
    let (code, _) = err(c
        .get_secret_value()
        .secret_id(wrong_suffix)
        .send()
        .await
        .unwrap_err());
    assert_eq!(code, "ResourceNotFoundException");
    // Another account's secret needs that account's resource policy to let the
    // caller in; with none (or no secret), the answer is a denial, as in AWS, so
    // existence does not leak across accounts.
    let other_account = arn.replace(ACCOUNT, "999999999999");
    let (code, _) = err(c
        .get_secret_value()
        .secret_id(other_account)
        .send()
        .await
        .unwrap_err());
    assert_eq!(code, "AccessDeniedException");
    srv.stop().await;
}

#[tokio::test]
async fn regions_are_separate() {
    let srv = TestServer::start().await;
    srv.client()
        .create_secret()
        .name("shared-name")
        .secret_string("east")
        .send()
        .await
        .unwrap();
    let west = srv.client_in("eu-west-1");
    let (code, _) = err(west
        .get_secret_value()
        .secret_id("shared-name")
        .send()
        .await
        .unwrap_err());
    assert_eq!(code, "ResourceNotFoundException");
    let arn = west
        .create_secret()
        .name("shared-name")
        .secret_string("west")
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    assert!(arn.starts_with("arn:aws:secretsmanager:eu-west-1:"));
    assert_eq!(
        west.get_secret_value()
            .secret_id("shared-name")
            .send()
            .await
            .unwrap()
            .secret_string(),
        Some("west")
    );
    assert_eq!(
        srv.client()
            .get_secret_value()
            .secret_id("shared-name")
            .send()
            .await
            .unwrap()
            .secret_string(),
        Some("east")
    );
    srv.stop().await;
}

#[tokio::test]
async fn last_accessed_date_is_day_granular() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_secret()
        .name("touched")
        .secret_string("v")
        .send()
        .await
        .unwrap();
    assert!(c
        .describe_secret()
        .secret_id("touched")
        .send()
        .await
        .unwrap()
        .last_accessed_date()
        .is_none());
    c.get_secret_value()
        .secret_id("touched")
        .send()
        .await
        .unwrap();
    srv.running().service.flush_access().await;
    let d = c
        .describe_secret()
        .secret_id("touched")
        .send()
        .await
        .unwrap();
    let at = d
        .last_accessed_date()
        .expect("LastAccessedDate after a read");
    assert_eq!(at.secs() % 86_400, 0, "truncated to the day");
    assert_eq!(at.subsec_nanos(), 0);
    srv.stop().await;
}

#[tokio::test]
async fn tags_add_replace_remove() {
    let srv = TestServer::start().await;
    let c = srv.client();
    let tag = |k: &str, v: &str| {
        aws_sdk_secretsmanager::types::Tag::builder()
            .key(k)
            .value(v)
            .build()
    };
    c.create_secret()
        .name("tagged")
        .secret_string("v")
        .tags(tag("tag1", "value1"))
        .send()
        .await
        .unwrap();
    c.tag_resource()
        .secret_id("tagged")
        .tags(tag("tag2", "value2"))
        .tags(tag("tag1", "changed"))
        .send()
        .await
        .unwrap();
    let d = c
        .describe_secret()
        .secret_id("tagged")
        .send()
        .await
        .unwrap();
    let got: Vec<_> = d
        .tags()
        .iter()
        .map(|t| (t.key().unwrap(), t.value().unwrap()))
        .collect();
    assert_eq!(got, vec![("tag1", "changed"), ("tag2", "value2")]);
    c.untag_resource()
        .secret_id("tagged")
        .tag_keys("tag1")
        .tag_keys("tag2")
        .send()
        .await
        .unwrap();
    let d = c
        .describe_secret()
        .secret_id("tagged")
        .send()
        .await
        .unwrap();
    assert!(d.tags().is_empty());
    let (code, _) = err(c
        .tag_resource()
        .secret_id("tagged")
        .tags(tag("aws:reserved", "x"))
        .send()
        .await
        .unwrap_err());
    assert_eq!(code, "InvalidParameterException");
    c.delete_secret().secret_id("tagged").send().await.unwrap();
    let (code, msg) = err(c
        .tag_resource()
        .secret_id("tagged")
        .tags(tag("a", "b"))
        .send()
        .await
        .unwrap_err());
    assert_eq!(
        (code.as_str(), msg.as_str()),
        (
            "InvalidRequestException",
            "You can't perform this operation on the secret because it was marked for deletion."
        )
    );
    let (code, _) = err(c
        .untag_resource()
        .secret_id("tagged")
        .tag_keys("a")
        .send()
        .await
        .unwrap_err());
    assert_eq!(code, "InvalidRequestException");
    srv.stop().await;
}

#[tokio::test]
async fn random_passwords() {
    let srv = TestServer::start().await;
    let c = srv.client();
    let p = c.get_random_password().send().await.unwrap();
    assert_eq!(p.random_password().unwrap().chars().count(), 32);
    let p = c
        .get_random_password()
        .password_length(64)
        .exclude_punctuation(true)
        .exclude_characters("abcdef")
        .include_space(true)
        .send()
        .await
        .unwrap();
    let pw = p.random_password().unwrap();
    assert_eq!(pw.chars().count(), 64);
    assert!(pw
        .chars()
        .all(|ch| (ch.is_ascii_alphanumeric() || ch == ' ') && !"abcdef".contains(ch)));
    let (code, _) = err(c
        .get_random_password()
        .password_length(4097)
        .send()
        .await
        .unwrap_err());
    assert_eq!(code, "ValidationException");
    let (code, _) = err(c
        .get_random_password()
        .exclude_lowercase(true)
        .exclude_uppercase(true)
        .exclude_numbers(true)
        .exclude_punctuation(true)
        .send()
        .await
        .unwrap_err());
    assert_eq!(code, "InvalidParameterException");
    srv.stop().await;
}
