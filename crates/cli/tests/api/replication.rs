//! Multi-Region secrets through the AWS SDK for Rust: replicas in other regions
//! of the same store follow their primary, refuse writes, and become standalone
//! when promoted; on PostgreSQL, with two servers, whichever server leads
//! copies, and both serve the replicas.

use crate::common::*;
use aws_sdk_secretsmanager as sm;
use sm::types::{ReplicaRegionType, StatusType};

async fn status_of(c: &sm::Client, id: &str, region: &str) -> Option<(StatusType, String)> {
    let d = c.describe_secret().secret_id(id).send().await.ok()?;
    let r = d
        .replication_status()
        .iter()
        .find(|r| r.region() == Some(region))?;
    Some((
        r.status()?.clone(),
        r.status_message().unwrap_or("").to_string(),
    ))
}

async fn value(c: &sm::Client, id: &str) -> String {
    match c.get_secret_value().secret_id(id).send().await {
        Ok(v) => v.secret_string().unwrap_or("").to_string(),
        Err(e) => err(e).0,
    }
}

/// One primary in `a`'s us-east-1 replicated to eu-west-1; `b` (the same
/// server, or another on the same database) serves the replica.
async fn replicas_follow(a: &sm::Client, b_primary: &sm::Client, b_replica: &sm::Client) {
    let arn = a
        .create_secret()
        .name("rep/db")
        .secret_string("v1")
        .add_replica_regions(ReplicaRegionType::builder().region("eu-west-1").build())
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    wait_for("the replica is in sync", PATIENCE, async || {
        status_of(a, &arn, "eu-west-1").await.map(|s| s.0) == Some(StatusType::InSync)
    })
    .await;
    assert_eq!(value(b_replica, "rep/db").await, "v1");
    let replica = b_replica
        .describe_secret()
        .secret_id("rep/db")
        .send()
        .await
        .unwrap();
    assert_eq!(replica.primary_region(), Some("us-east-1"));
    assert_eq!(
        replica.arn(),
        Some(arn.replace(":us-east-1:", ":eu-west-1:").as_str())
    );

    // A write on the primary through the other server reaches the replica.
    b_primary
        .put_secret_value()
        .secret_id("rep/db")
        .secret_string("v2")
        .send()
        .await
        .unwrap();
    wait_for("the replica has the new value", PATIENCE, async || {
        value(b_replica, "rep/db").await == "v2"
    })
    .await;

    // The replica refuses writes, with AWS's error, and keeps its value.
    let e = b_replica
        .put_secret_value()
        .secret_id("rep/db")
        .secret_string("mine")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err(e),
        (
            "InvalidParameterException".into(),
            "Operation not permitted on a replica secret. Call must be made in primary secret's region."
                .into()
        )
    );

    // Promoted, it is the region's own secret: writable, no longer followed.
    b_replica
        .stop_replication_to_replica()
        .secret_id("rep/db")
        .send()
        .await
        .unwrap();
    b_replica
        .put_secret_value()
        .secret_id("rep/db")
        .secret_string("failover")
        .send()
        .await
        .unwrap();
    assert_eq!(value(b_replica, "rep/db").await, "failover");
    assert_eq!(status_of(a, &arn, "eu-west-1").await, None);
    a.put_secret_value()
        .secret_id("rep/db")
        .secret_string("v3")
        .send()
        .await
        .unwrap();
    // Give a (wrong) copy time to happen before checking it did not.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(value(b_replica, "rep/db").await, "failover");
}

#[tokio::test]
async fn replicas_follow_their_primary_on_one_server() {
    let srv = TestServer::start().await;
    replicas_follow(&srv.client(), &srv.client(), &srv.client_in("eu-west-1")).await;
    srv.stop().await;
}

#[tokio::test]
async fn replicas_follow_their_primary_across_servers_on_postgres() {
    let url = coffer_store::postgres::testing::fresh_database().await;
    let a = TestServer::start_with(|o| o.database_url = Some(url.clone())).await;
    let (b, _dir) = crate::two_servers::second_server(&a, Some(&url)).await;
    let on_b = |region| client_for(&b.endpoint(), region, AKID, SECRET);
    replicas_follow(&a.client(), &on_b("us-east-1"), &on_b("eu-west-1")).await;
    b.stop().await.unwrap();
    a.stop().await;
    coffer_store::postgres::testing::drop_database(&url).await;
}
