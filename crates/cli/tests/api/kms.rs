//! Customer-managed keys through the AWS SDK for Rust's KMS client: their
//! material survives restarts, rotation keeps old ciphertext readable, and the
//! waiting period of a deletion ends on the manual clock with the key gone
//! (its secrets then unreadable, as in AWS).

use crate::common::*;

fn kms_code<E: aws_sdk_kms::error::ProvideErrorMetadata, R>(
    e: aws_sdk_kms::error::SdkError<E, R>,
) -> String {
    aws_sdk_kms::error::ProvideErrorMetadata::code(&e)
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn key_material_survives_a_restart_and_rotation() {
    let mut srv = TestServer::start().await;
    let kms = srv.kms();
    let key = new_key(&kms).await;
    let blob = kms
        .encrypt()
        .key_id(&key)
        .plaintext(aws_sdk_kms::primitives::Blob::new("before"))
        .send()
        .await
        .unwrap()
        .ciphertext_blob()
        .unwrap()
        .clone();
    srv.client()
        .create_secret()
        .name("s")
        .secret_string("v1")
        .kms_key_id(&key)
        .send()
        .await
        .unwrap();
    srv.restart().await;
    let kms = srv.kms();
    let plain = kms
        .decrypt()
        .ciphertext_blob(blob.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(plain.plaintext().unwrap().as_ref(), b"before");

    // Automatic rotation on the manual clock: due after its period, once.
    kms.enable_key_rotation()
        .key_id(&key)
        .rotation_period_in_days(90)
        .send()
        .await
        .unwrap();
    let material = |kms: aws_sdk_kms::Client, key: String| async move {
        kms.describe_key()
            .key_id(key)
            .send()
            .await
            .unwrap()
            .key_metadata()
            .unwrap()
            .current_key_material_id()
            .unwrap()
            .to_string()
    };
    let first = material(kms.clone(), key.clone()).await;
    let svc = srv.running().service.clone();
    assert_eq!(svc.sweep_keys().await, 0, "not due yet");
    srv.clock.advance_days(91);
    assert_eq!(svc.sweep_keys().await, 1, "due after 90 days");
    assert_eq!(svc.sweep_keys().await, 0, "and rotated once");
    let second = material(kms.clone(), key.clone()).await;
    assert_ne!(first, second);
    let plain = kms.decrypt().ciphertext_blob(blob).send().await.unwrap();
    assert_eq!(plain.plaintext().unwrap().as_ref(), b"before");
    let c = srv.client();
    c.put_secret_value()
        .secret_id("s")
        .secret_string("v2")
        .send()
        .await
        .unwrap();
    let prev = c
        .get_secret_value()
        .secret_id("s")
        .version_stage("AWSPREVIOUS")
        .send()
        .await
        .unwrap();
    assert_eq!(prev.secret_string(), Some("v1"));
    srv.stop().await;
}

#[tokio::test]
async fn a_deleted_key_takes_its_aliases_and_leaves_its_secrets_unreadable() {
    let srv = TestServer::start().await;
    let kms = srv.kms();
    let key = new_key(&kms).await;
    kms.create_alias()
        .alias_name("alias/doomed")
        .target_key_id(&key)
        .send()
        .await
        .unwrap();
    let c = srv.client();
    c.create_secret()
        .name("s")
        .secret_string("v")
        .kms_key_id("alias/doomed")
        .send()
        .await
        .unwrap();
    kms.schedule_key_deletion()
        .key_id(&key)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    let e = kms
        .encrypt()
        .key_id(&key)
        .plaintext(aws_sdk_kms::primitives::Blob::new("x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(kms_code(e), "KMSInvalidStateException");
    let svc = srv.running().service.clone();
    srv.clock.advance_days(6);
    assert_eq!(svc.sweep_keys().await, 0, "the window has a day to go");
    srv.clock.advance_days(2);
    assert_eq!(svc.sweep_keys().await, 1);
    let e = kms.describe_key().key_id(&key).send().await.unwrap_err();
    assert_eq!(kms_code(e), "NotFoundException");
    let aliases = kms.list_aliases().send().await.unwrap();
    assert!(aliases
        .aliases()
        .iter()
        .all(|a| a.alias_name() != Some("alias/doomed")));
    let (code, _) = err(c
        .get_secret_value()
        .secret_id("s")
        .send()
        .await
        .unwrap_err());
    assert_eq!(code, "DecryptionFailure");
    srv.stop().await;
}

/// UpdateSecret with a new key re-encrypts AWSCURRENT, AWSPENDING and
/// AWSPREVIOUS under it (as AWS does); older versions keep the old key, so
/// with the old key disabled only those three stay readable.
#[tokio::test]
async fn changing_a_secrets_key_reseals_its_labelled_versions() {
    let srv = TestServer::start().await;
    let kms = srv.kms();
    let (old, new) = (new_key(&kms).await, new_key(&kms).await);
    let c = srv.client();
    c.create_secret()
        .name("s")
        .secret_string("v1")
        .kms_key_id(&old)
        .send()
        .await
        .unwrap();
    let first = c
        .get_secret_value()
        .secret_id("s")
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_string();
    for v in ["v2", "v3"] {
        c.put_secret_value()
            .secret_id("s")
            .secret_string(v)
            .send()
            .await
            .unwrap();
    }
    c.update_secret()
        .secret_id("s")
        .kms_key_id(&new)
        .send()
        .await
        .unwrap();
    kms.disable_key().key_id(&old).send().await.unwrap();
    let value = |stage: &'static str| {
        let c = c.clone();
        async move {
            c.get_secret_value()
                .secret_id("s")
                .version_stage(stage)
                .send()
                .await
                .unwrap()
                .secret_string()
                .unwrap()
                .to_string()
        }
    };
    assert_eq!(value("AWSCURRENT").await, "v3");
    assert_eq!(value("AWSPREVIOUS").await, "v2");
    let (code, _) = err(c
        .get_secret_value()
        .secret_id("s")
        .version_id(&first)
        .send()
        .await
        .unwrap_err());
    assert_eq!(
        code, "DecryptionFailure",
        "an unlabelled version keeps the old key"
    );
    let d = c.describe_secret().secret_id("s").send().await.unwrap();
    assert_eq!(d.kms_key_id(), Some(new.as_str()));
    srv.stop().await;
}
