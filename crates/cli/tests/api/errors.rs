//! Bad input gets AWS's error code and message, and changes nothing.

use crate::common::*;
use aws_sdk_secretsmanager::primitives::Blob;

#[tokio::test]
async fn not_found_and_names() {
    let srv = TestServer::start().await;
    let c = srv.client();
    let (code, msg) = err(c
        .get_secret_value()
        .secret_id("missing")
        .send()
        .await
        .unwrap_err());
    assert_eq!(
        (code.as_str(), msg.as_str()),
        (
            "ResourceNotFoundException",
            "Secrets Manager can't find the specified secret."
        )
    );
    let (code, _) = err(c
        .list_secret_version_ids()
        .secret_id("missing")
        .send()
        .await
        .unwrap_err());
    assert_eq!(code, "ResourceNotFoundException");
    for bad in ["Inv Name", " Inv*Name? ", "é"] {
        let (code, msg) = err(c
            .create_secret()
            .name(bad)
            .secret_string("v")
            .send()
            .await
            .unwrap_err());
        assert_eq!(code, "ValidationException", "{bad}");
        assert_eq!(msg, "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!");
    }
    let (code, _) = err(c
        .create_secret()
        .name("n".repeat(513))
        .secret_string("v")
        .send()
        .await
        .unwrap_err());
    assert_eq!(code, "ValidationException");
    assert!(
        c.list_secrets()
            .send()
            .await
            .unwrap()
            .secret_list()
            .is_empty(),
        "nothing half-written"
    );
    srv.stop().await;
}

#[tokio::test]
async fn duplicate_and_conflicting_creates() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_secret()
        .name("dup")
        .secret_string("v")
        .client_request_token(token(1))
        .send()
        .await
        .unwrap();
    // The same token and value again: an idempotent retry.
    let again = c
        .create_secret()
        .name("dup")
        .secret_string("v")
        .client_request_token(token(1))
        .send()
        .await
        .unwrap();
    assert_eq!(again.version_id(), Some(token(1).as_str()));
    let (code, msg) = err(c
        .create_secret()
        .name("dup")
        .secret_string("other")
        .send()
        .await
        .unwrap_err());
    assert_eq!(code, "ResourceExistsException");
    assert_eq!(
        msg,
        "The operation failed because the secret dup already exists."
    );
    let (code, _) = err(c
        .create_secret()
        .name("both")
        .secret_string("s")
        .secret_binary(Blob::new(b"b".to_vec()))
        .send()
        .await
        .unwrap_err());
    assert_eq!(code, "InvalidParameterException");
    c.delete_secret().secret_id("dup").send().await.unwrap();
    let (code, msg) = err(c
        .create_secret()
        .name("dup")
        .secret_string("v")
        .send()
        .await
        .unwrap_err());
    assert_eq!(code, "InvalidRequestException");
    assert_eq!(msg, "You can't create this secret because a secret with this name is already scheduled for deletion.");
    srv.stop().await;
}

#[tokio::test]
async fn value_limits_and_tokens() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_secret()
        .name("big")
        .secret_string("x".repeat(65_536))
        .send()
        .await
        .unwrap();
    let (code, _) = err(c
        .put_secret_value()
        .secret_id("big")
        .secret_string("x".repeat(65_537))
        .send()
        .await
        .unwrap_err());
    assert_eq!(code, "ValidationException");
    let (code, _) = err(c
        .put_secret_value()
        .secret_id("big")
        .secret_string("v")
        .client_request_token("short")
        .send()
        .await
        .unwrap_err());
    assert_eq!(code, "ValidationException");
    let (code, _) = err(c
        .put_secret_value()
        .secret_id("big")
        .send()
        .await
        .unwrap_err());
    assert_eq!(code, "InvalidParameterException");
    let (code, _) = err(c
        .get_secret_value()
        .secret_id("big")
        .version_stage("")
        .send()
        .await
        .unwrap_err());
    assert_eq!(code, "ValidationException");
    let versions = c
        .list_secret_version_ids()
        .secret_id("big")
        .include_deprecated(true)
        .send()
        .await
        .unwrap();
    assert_eq!(
        versions.versions().len(),
        1,
        "failed writes left no version"
    );
    srv.stop().await;
}

#[tokio::test]
async fn put_is_idempotent_per_token() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_secret()
        .name("idem")
        .secret_string("v1")
        .client_request_token(token(1))
        .send()
        .await
        .unwrap();
    let a = c
        .put_secret_value()
        .secret_id("idem")
        .secret_string("v2")
        .client_request_token(token(2))
        .send()
        .await
        .unwrap();
    let b = c
        .put_secret_value()
        .secret_id("idem")
        .secret_string("v2")
        .client_request_token(token(2))
        .send()
        .await
        .unwrap();
    assert_eq!(a.version_id(), b.version_id());
    let (code, msg) = err(c
        .put_secret_value()
        .secret_id("idem")
        .secret_string("v3")
        .client_request_token(token(2))
        .send()
        .await
        .unwrap_err());
    assert_eq!(code, "ResourceExistsException");
    let arn = a.arn().unwrap();
    assert_eq!(
        msg,
        format!(
            "You can't use ClientRequestToken {} because that value is already in use for a version of secret {arn}.",
            token(2)
        )
    );
    // A binary value under a string version's token is another value.
    let (code, _) = err(c
        .put_secret_value()
        .secret_id("idem")
        .secret_binary(Blob::new(b"v2".to_vec()))
        .client_request_token(token(2))
        .send()
        .await
        .unwrap_err());
    assert_eq!(code, "ResourceExistsException");
    let versions = c
        .list_secret_version_ids()
        .secret_id("idem")
        .include_deprecated(true)
        .send()
        .await
        .unwrap();
    assert_eq!(versions.versions().len(), 2);
    srv.stop().await;
}

#[tokio::test]
async fn version_and_stage_lookups() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_secret()
        .name("vs")
        .secret_string("v1")
        .client_request_token(token(1))
        .send()
        .await
        .unwrap();
    let (code, msg) = err(c
        .get_secret_value()
        .secret_id("vs")
        .version_id(token(9))
        .send()
        .await
        .unwrap_err());
    assert_eq!(code, "ResourceNotFoundException");
    assert_eq!(
        msg,
        format!(
            "Secrets Manager can't find the specified secret value for VersionId: {}",
            token(9)
        )
    );
    let (code, msg) = err(c
        .get_secret_value()
        .secret_id("vs")
        .version_stage("AWSPENDING")
        .send()
        .await
        .unwrap_err());
    assert_eq!(code, "ResourceNotFoundException");
    assert_eq!(
        msg,
        "Secrets Manager can't find the specified secret value for staging label: AWSPENDING"
    );
    let (code, msg) = err(c
        .get_secret_value()
        .secret_id("vs")
        .version_id(token(1))
        .version_stage("AWSPREVIOUS")
        .send()
        .await
        .unwrap_err());
    assert_eq!(code, "InvalidRequestException");
    assert_eq!(
        msg,
        "You provided a VersionStage that is not associated to the provided VersionId."
    );
    let ok = c
        .get_secret_value()
        .secret_id("vs")
        .version_id(token(1))
        .version_stage("AWSCURRENT")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.secret_string(), Some("v1"));
    srv.stop().await;
}
