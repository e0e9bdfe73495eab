//! Two servers sharing one database: what one commits, the other's caches must
//! follow (through the outbox), so a revoked key, a new deny, a changed resource
//! policy or a new secret value never survives on the other server. Each
//! server caches credentials, identities, policies and secrets in memory, so
//! without the outbox follower every check below would see the stale answer.

use crate::access::{iam, user};
use crate::common::*;
use aws_sdk_secretsmanager as sm;
use coffer::{start, Running};
use std::time::{Duration, Instant};

/// A second server on the first one's database (and root key), with its own
/// data directory for its audit log and credential file: the first's SQLite
/// file, or the PostgreSQL database at `url`.
pub(crate) async fn second_server(
    first: &TestServer,
    url: Option<&str>,
) -> (Running, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        first.dir.path().join("root.key"),
        dir.path().join("root.key"),
    )
    .unwrap();
    let mut opts = options(dir.path().to_path_buf(), first.clock.clone());
    match url {
        Some(u) => opts.database_url = Some(u.to_string()),
        None => opts.database = Some(first.dir.path().join("coffer.db")),
    }
    (start(opts).await.unwrap(), dir)
}

#[tokio::test]
async fn caches_follow_changes_committed_by_another_server_sqlite() {
    let a = TestServer::start().await;
    let (b, _b_dir) = second_server(&a, None).await;
    caches_follow_changes(&a, &b).await;
    b.stop().await.unwrap();
    a.stop().await;
}

#[tokio::test]
async fn caches_follow_changes_committed_by_another_server_postgres() {
    let url = coffer_store::postgres::testing::fresh_database().await;
    let a = TestServer::start_with(|o| o.database_url = Some(url.clone())).await;
    let (b, _b_dir) = second_server(&a, Some(&url)).await;
    caches_follow_changes(&a, &b).await;
    b.stop().await.unwrap();
    a.stop().await;
    coffer_store::postgres::testing::drop_database(&url).await;
}

/// Polls `check` until it holds; the deadline is generous and is not a claim
/// about speed (the follower's interval is a quarter of a second).
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "{what}: never seen on the other server"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn read(c: &sm::Client, id: &str) -> Result<String, String> {
    match c.get_secret_value().secret_id(id).send().await {
        Ok(v) => Ok(v.secret_string().unwrap_or("").to_string()),
        Err(e) => Err(err(e).0),
    }
}

async fn caches_follow_changes(a: &TestServer, b: &Running) {
    let addr = a.running().addr;
    let policy = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*"}}"#;
    let (akid, key) = user(addr, "reader", &[], policy).await;
    a.client()
        .create_secret()
        .name("shared/db")
        .secret_string("v1")
        .send()
        .await
        .unwrap();
    let on_b = client_for(&b.endpoint(), "us-east-1", &akid, &key);
    // B caches the credential, the identity and the secret.
    assert_eq!(read(&on_b, "shared/db").await, Ok("v1".into()));

    a.client()
        .put_secret_value()
        .secret_id("shared/db")
        .secret_string("v2")
        .send()
        .await
        .unwrap();
    eventually("a new value", || async {
        read(&on_b, "shared/db").await == Ok("v2".into())
    })
    .await;

    // A secret B never reads a value of (so no last-accessed write flushes its
    // cached copy by the way): its metadata must follow too.
    a.client()
        .create_secret()
        .name("shared/meta")
        .send()
        .await
        .unwrap();
    let root_b = client_for(&b.endpoint(), "us-east-1", AKID, SECRET);
    let describe = || async {
        let d = root_b
            .describe_secret()
            .secret_id("shared/meta")
            .send()
            .await;
        d.ok().and_then(|d| d.description().map(str::to_string))
    };
    assert_eq!(describe().await, None);
    a.client()
        .update_secret()
        .secret_id("shared/meta")
        .description("moved")
        .send()
        .await
        .unwrap();
    eventually("a new description", || async {
        describe().await.as_deref() == Some("moved")
    })
    .await;

    let deny = r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"secretsmanager:GetSecretValue","Resource":"*"}}"#;
    iam(
        addr,
        &[
            ("Action", "PutUserPolicy"),
            ("UserName", "reader"),
            ("PolicyName", "deny"),
            ("PolicyDocument", deny),
        ],
    )
    .await;
    eventually("a new deny", || async {
        read(&on_b, "shared/db").await == Err("AccessDeniedException".into())
    })
    .await;
    iam(
        addr,
        &[
            ("Action", "DeleteUserPolicy"),
            ("UserName", "reader"),
            ("PolicyName", "deny"),
        ],
    )
    .await;
    eventually("a removed deny", || async {
        read(&on_b, "shared/db").await.is_ok()
    })
    .await;

    // A resource policy that denies the reader, put on A.
    let arn = format!("arn:aws:iam::{ACCOUNT}:user/reader");
    let resource = format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Deny","Principal":{{"AWS":"{arn}"}},"Action":"secretsmanager:GetSecretValue","Resource":"*"}}}}"#
    );
    a.client()
        .put_resource_policy()
        .secret_id("shared/db")
        .resource_policy(resource)
        .send()
        .await
        .unwrap();
    eventually("a new resource policy", || async {
        read(&on_b, "shared/db").await == Err("AccessDeniedException".into())
    })
    .await;
    a.client()
        .delete_resource_policy()
        .secret_id("shared/db")
        .send()
        .await
        .unwrap();
    eventually("a removed resource policy", || async {
        read(&on_b, "shared/db").await.is_ok()
    })
    .await;

    // The key deactivated, then deleted, on A.
    let set = [
        ("Action", "UpdateAccessKey"),
        ("UserName", "reader"),
        ("AccessKeyId", akid.as_str()),
        ("Status", "Inactive"),
    ];
    iam(addr, &set).await;
    eventually("an inactive key", || async {
        read(&on_b, "shared/db").await == Err("UnrecognizedClientException".into())
    })
    .await;
    let set = [
        ("Action", "UpdateAccessKey"),
        ("UserName", "reader"),
        ("AccessKeyId", akid.as_str()),
        ("Status", "Active"),
    ];
    iam(addr, &set).await;
    eventually("a reactivated key", || async {
        read(&on_b, "shared/db").await.is_ok()
    })
    .await;
    iam(
        addr,
        &[
            ("Action", "DeleteAccessKey"),
            ("UserName", "reader"),
            ("AccessKeyId", akid.as_str()),
        ],
    )
    .await;
    eventually("a deleted key", || async {
        read(&on_b, "shared/db").await == Err("UnrecognizedClientException".into())
    })
    .await;

    // A secret deleted on A is gone on B.
    a.client()
        .delete_secret()
        .secret_id("shared/db")
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    eventually("a deleted secret", || async {
        read(&root_b, "shared/db").await == Err("ResourceNotFoundException".into())
    })
    .await;
}

/// Customer-managed keys on two servers sharing PostgreSQL: material made on
/// one opens on the other, and a key disabled through one server is disabled
/// on the other at once (key documents are read on every use, never cached).
#[tokio::test]
async fn a_key_changed_through_one_server_holds_on_the_other_postgres() {
    let url = coffer_store::postgres::testing::fresh_database().await;
    let a = TestServer::start_with(|o| o.database_url = Some(url.clone())).await;
    let (b, _b_dir) = second_server(&a, Some(&url)).await;
    let key = new_key(&a.kms()).await;
    a.client()
        .create_secret()
        .name("shared/key")
        .secret_string("v1")
        .kms_key_id(&key)
        .send()
        .await
        .unwrap();
    let on_b = client_for(&b.endpoint(), "us-east-1", AKID, SECRET);
    let read = || async {
        on_b.get_secret_value()
            .secret_id("shared/key")
            .send()
            .await
            .map(|o| o.secret_string().unwrap_or_default().to_string())
            .map_err(err)
    };
    assert_eq!(read().await.unwrap(), "v1");
    a.kms().disable_key().key_id(&key).send().await.unwrap();
    assert_eq!(read().await.unwrap_err().0, "DecryptionFailure");
    // Enabled and rotated through the other server, then written through the first.
    let kms_b = kms_client_for(&b.endpoint(), AKID, SECRET);
    kms_b.enable_key().key_id(&key).send().await.unwrap();
    kms_b
        .rotate_key_on_demand()
        .key_id(&key)
        .send()
        .await
        .unwrap();
    a.client()
        .put_secret_value()
        .secret_id("shared/key")
        .secret_string("v2")
        .send()
        .await
        .unwrap();
    // The secret itself is cached on B until its outbox follower hears of the
    // write (a fraction of a second); the key's new material must open there.
    eventually("the value written under the rotated key", || async {
        read().await.as_deref() == Ok("v2")
    })
    .await;
    b.stop().await.unwrap();
    a.stop().await;
    coffer_store::postgres::testing::drop_database(&url).await;
}
