//! What one server of a fleet commits reaches the others: a revoked session,
//! a change stream resumed on another server; and what a fleet keeps to itself:
//! its connection count, and no plaintext value anywhere in the database.

use crate::access::{iam, session_at, stream_for, sts_at, user, ROOT};
use crate::common::*;
use crate::fleet::{read, Server};
use coffer_store::postgres::testing::{drop_database, fresh_database};

/// A session issued by B, used on C, revoked through A (AWS's "revoke active
/// sessions": a deny on `aws:TokenIssueTime`) is refused on C.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_revoked_through_one_server_is_refused_on_another() {
    let url = fresh_database().await;
    let (a, b, c) = Server::three(&url);
    create(&a.client(), "fleet/s", "v1").await;
    let trust = format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"sts:AssumeRole"}}}}"#
    );
    let a_addr = a.addr();
    let role_policy = async |name: &str, doc: String| {
        iam(
            a_addr,
            &[
                ("Action", "PutRolePolicy"),
                ("RoleName", "app"),
                ("PolicyName", name),
                ("PolicyDocument", &doc),
            ],
        )
        .await;
    };
    iam(
        a.addr(),
        &[
            ("Action", "CreateRole"),
            ("RoleName", "app"),
            ("AssumeRolePolicyDocument", &trust),
        ],
    )
    .await;
    role_policy("read", r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*"}}"#.into()).await;
    let creds = sts_at(&b.endpoint, AKID, SECRET, None)
        .assume_role()
        .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/app"))
        .role_session_name("app")
        .send()
        .await
        .unwrap()
        .credentials
        .unwrap();
    let on_c = session_at(&c.endpoint, &creds);
    assert_eq!(read(&on_c, "fleet/s").await, Ok("v1".into()));

    let cutoff = (time::OffsetDateTime::now_utc() + time::Duration::minutes(5))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    role_policy("revoke", format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Deny","Action":"*","Resource":"*","Condition":{{"DateLessThan":{{"aws:TokenIssueTime":"{cutoff}"}}}}}}}}"#
    )).await;
    let took = wait_for("C refuses the revoked session", PATIENCE, async || {
        read(&on_c, "fleet/s").await == Err("AccessDeniedException".into())
    })
    .await;
    eprintln!("a session revoked through A was refused on C after {took:?}");
    drop((a, b, c));
    drop_database(&url).await;
}

/// The ids of the `event: change` records of a change stream's text.
/// (The stream's opening comment carries the id it resumes from.)
fn event_ids(stream: &str) -> Vec<i64> {
    let lines: Vec<&str> = stream.lines().collect();
    lines
        .windows(2)
        .filter(|w| w[1] == "event: change")
        .filter_map(|w| w[0].strip_prefix("id: ")?.trim().parse().ok())
        .collect()
}

/// Event ids are the fleet's: a stream read from B up to an id resumes on C
/// from that id, with what was committed through A since, and nothing before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_stream_resumes_by_event_id_on_another_server() {
    let url = fresh_database().await;
    let (a, b, c) = Server::three(&url);
    let put = async |name: &str| {
        create(&a.client(), name, "v").await;
    };
    put("before-1").await;
    put("before-2").await;
    let on_b = stream_for(b.addr(), ROOT, 0).await;
    let seen = event_ids(&on_b);
    assert!(on_b.contains("before-2") && seen.len() >= 2, "{on_b}");
    let last = *seen.iter().max().unwrap();

    put("after-1").await;
    put("after-2").await;
    let on_c = stream_for(c.addr(), ROOT, last).await;
    assert!(
        on_c.contains("after-1") && on_c.contains("after-2"),
        "{on_c}"
    );
    assert!(
        !on_c.contains("before-1") && !on_c.contains("before-2"),
        "nothing up to the id already read: {on_c}"
    );
    assert!(event_ids(&on_c).iter().all(|id| *id > last), "{on_c}");
    drop((a, b, c));
    drop_database(&url).await;
}

/// Connections the server holds in the database (its pool, and one each for
/// change notifications and background leadership).
async fn connections(url: &str) -> i64 {
    let (db, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    db.query_one(
        "SELECT count(*) FROM pg_stat_activity
         WHERE datname = current_database() AND application_name = 'coffer'",
        &[],
    )
    .await
    .unwrap()
    .get(0)
}

/// `--database-pool-size` caps a server's connections, so a fleet can be sized
/// against PostgreSQL's `max_connections`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_keeps_no_more_connections_than_configured() {
    let url = fresh_database().await;
    let srv = Server::start_with_args(&url, &["--database-pool-size", "2"]);
    let c = srv.client();
    let lists = (0..48).map(|_| {
        let c = c.clone();
        tokio::spawn(async move { c.list_secrets().send().await.map(|_| ()) })
    });
    for l in lists.collect::<Vec<_>>() {
        l.await.unwrap().unwrap();
    }
    let held = connections(&url).await;
    assert!(
        (1..=4).contains(&held),
        "{held} connections for a pool of 2"
    );
    drop(srv);
    drop_database(&url).await;
}

/// The value written through the API appears nowhere in the database: not in a
/// table, an index or the dump of either (and not in the server's log).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_plaintext_value_reaches_the_database() {
    let url = fresh_database().await;
    let srv = Server::start(&url);
    let marker = "plaintext-marker-7c1e9a";
    srv.client()
        .create_secret()
        .name("sealed")
        .description("a secret whose value must stay sealed")
        .secret_string(format!("{marker}-first"))
        .send()
        .await
        .unwrap();
    srv.client()
        .put_secret_value()
        .secret_id("sealed")
        .secret_binary(aws_sdk_secretsmanager::primitives::Blob::new(
            format!("{marker}-binary").into_bytes(),
        ))
        .send()
        .await
        .unwrap();
    let (_, user_secret) = {
        let p = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#;
        user(srv.addr(), "u", &[], p).await
    };
    let dump = std::process::Command::new("pg_dump")
        .args(["--data-only", "--no-owner", &url])
        .output()
        .expect("pg_dump runs");
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let dump = String::from_utf8_lossy(&dump.stdout);
    assert!(dump.contains("sealed"), "the dump holds the secret's row");
    assert!(
        !dump.contains(marker),
        "a value in the clear in the database"
    );
    assert!(
        !dump.contains(&user_secret),
        "an access key's secret in the clear"
    );
    assert!(!srv.log().contains(marker), "a value in the server's log");
    drop(srv);
    drop_database(&url).await;
}
