//! The built-in PostgreSQL single-user rotator against a real PostgreSQL server of
//! the test's own (initdb with scram-sha-256 in a temporary directory), where a
//! wrong password is really refused; logins are checked with psql.

use crate::common::*;
use crate::pgcluster::{Auth, Cluster};
use aws_sdk_secretsmanager::types::RotationRulesType;
use std::process::Command;
use std::time::Duration;

const FUNCTION: &str = "arn:aws:lambda:us-east-1:123456789012:function:coffer-postgres-single-user";
const SUPER: &str = "super-password-for-tests";

/// Can `user` log in with `password` (psql over TCP, scram)?
fn login(pg: &Cluster, user: &str, password: &str) -> bool {
    psql(pg.port, user, password, "SELECT 1")
}

fn psql(port: u16, user: &str, password: &str, sql: &str) -> bool {
    Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            user,
            "-d",
            "postgres",
            "-tAc",
            sql,
        ])
        .env("PGPASSWORD", password)
        .env("PGCONNECT_TIMEOUT", "5")
        .output()
        .is_ok_and(|o| o.status.success())
}

async fn value(c: &aws_sdk_secretsmanager::Client, stage: &str) -> serde_json::Value {
    value_of(c, "db/app", stage).await
}

async fn value_of(c: &aws_sdk_secretsmanager::Client, id: &str, stage: &str) -> serde_json::Value {
    let v = c
        .get_secret_value()
        .secret_id(id)
        .version_stage(stage)
        .send()
        .await
        .unwrap();
    serde_json::from_str(v.secret_string().unwrap()).unwrap()
}

async fn wait_done(c: &aws_sdk_secretsmanager::Client, token: &str) -> bool {
    wait_done_on(c, "db/app", token).await
}

/// Waits until `token` is AWSCURRENT and no longer pending (the outcome recorded).
/// False when `PATIENCE` passes first.
async fn wait_done_on(c: &aws_sdk_secretsmanager::Client, id: &str, token: &str) -> bool {
    let started = std::time::Instant::now();
    while started.elapsed() < PATIENCE {
        let d = c.describe_secret().secret_id(id).send().await.unwrap();
        if d.version_ids_to_stages().unwrap().get(token) == Some(&vec!["AWSCURRENT".to_string()]) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn postgres_single_user_rotation_changes_the_real_password() {
    let pg = Cluster::start(Auth::Password(SUPER));
    assert!(psql(
        pg.port,
        "postgres",
        SUPER,
        "CREATE USER app WITH PASSWORD 'first-password'"
    ));
    assert!(login(&pg, "app", "first-password"));
    assert!(
        !login(&pg, "app", "not-the-password"),
        "this server really checks passwords"
    );
    let srv = TestServer::start().await;
    let c = srv.client();
    let secret = serde_json::json!({"engine": "postgres", "host": "127.0.0.1", "port": pg.port,
        "username": "app", "password": "first-password", "dbname": "postgres"});
    c.create_secret()
        .name("db/app")
        .secret_string(secret.to_string())
        .send()
        .await
        .unwrap();
    let rules = RotationRulesType::builder()
        .automatically_after_days(7)
        .build();
    c.rotate_secret()
        .secret_id("db/app")
        .rotation_lambda_arn(FUNCTION)
        .rotation_rules(rules)
        .client_request_token(token(1))
        .send()
        .await
        .unwrap();
    assert!(wait_done(&c, &token(1)).await, "rotation finished");
    let current = value(&c, "AWSCURRENT").await;
    let new_password = current["password"].as_str().unwrap();
    assert_ne!(new_password, "first-password");
    assert!(
        !new_password.contains(['/', '@', '"', '\'', '\\']),
        "AWS's excluded characters"
    );
    assert!(login(&pg, "app", new_password), "AWSCURRENT logs in");
    assert!(
        !login(&pg, "app", "first-password"),
        "the old password is refused"
    );
    assert_eq!(value(&c, "AWSPREVIOUS").await["password"], "first-password");

    // The database is down: setSecret fails, AWSCURRENT still matches the database.
    pg.down();
    c.rotate_secret()
        .secret_id("db/app")
        .client_request_token(token(2))
        .send()
        .await
        .unwrap();
    // The pending version is created; the outcome is recorded once setSecret fails.
    wait_for("the attempt ended", PATIENCE, async || {
        let d = c
            .describe_secret()
            .secret_id("db/app")
            .send()
            .await
            .unwrap();
        d.version_ids_to_stages().unwrap().get(&token(2)).is_some() && !rotating(&srv)
    })
    .await;
    // The raw answer (beyond AWS's model, so SDKs skip it) says which step failed.
    let addr = srv.running().addr;
    let body = br#"{"SecretId":"db/app"}"#;
    let headers = crate::raw::signed(
        addr,
        "DescribeSecret",
        body,
        AKID,
        SECRET,
        "us-east-1",
        std::time::SystemTime::now(),
    );
    let raw = crate::raw::post(addr, &headers, body).await;
    assert_eq!(
        raw.body["CofferRotationFailure"]["Step"], "setSecret",
        "{}",
        raw.body
    );
    assert!(
        !raw.body.to_string().contains(new_password),
        "no secret value in the failure"
    );
    assert_eq!(value(&c, "AWSCURRENT").await["password"], new_password);
    pg.up();
    assert!(
        login(&pg, "app", new_password),
        "database and secret still agree"
    );
    // The next attempt is refused as AWS does and resumes the same token.
    let (code, _) = err(c
        .rotate_secret()
        .secret_id("db/app")
        .client_request_token(token(3))
        .send()
        .await
        .unwrap_err());
    assert_eq!(code, "InvalidRequestException");
    assert!(
        wait_done(&c, &token(2)).await,
        "the resumed rotation finished"
    );
    let newest = value(&c, "AWSCURRENT").await;
    assert!(login(&pg, "app", newest["password"].as_str().unwrap()));
    assert!(!login(&pg, "app", new_password));
    srv.stop().await;
}

/// True while a rotation is running in the server.
fn rotating(srv: &TestServer) -> bool {
    srv.running().service.rotation_running()
}

#[tokio::test]
async fn postgres_alternating_users_switch_between_two_real_users() {
    let pg = Cluster::start(Auth::Password(SUPER));
    assert!(psql(
        pg.port,
        "postgres",
        SUPER,
        "CREATE USER app2 WITH PASSWORD 'p0'"
    ));
    let srv = TestServer::start().await;
    let c = srv.client();
    let base = serde_json::json!({"engine": "postgres", "host": "127.0.0.1", "port": pg.port, "dbname": "postgres"});
    let mut master = base.clone();
    master["username"] = "postgres".into();
    master["password"] = SUPER.into();
    let master_arn = c
        .create_secret()
        .name("db/master")
        .secret_string(master.to_string())
        .send()
        .await
        .unwrap();
    let mut app = base.clone();
    app["username"] = "app2".into();
    app["password"] = "p0".into();
    app["masterarn"] = master_arn.arn().unwrap().into();
    c.create_secret()
        .name("db/app2")
        .secret_string(app.to_string())
        .send()
        .await
        .unwrap();
    let alternating = FUNCTION.replace("single-user", "alternating-users");
    let rules = RotationRulesType::builder()
        .automatically_after_days(7)
        .build();
    c.rotate_secret()
        .secret_id("db/app2")
        .rotation_lambda_arn(&alternating)
        .rotation_rules(rules)
        .client_request_token(token(1))
        .send()
        .await
        .unwrap();
    assert!(wait_done_on(&c, "db/app2", &token(1)).await);
    let first = value_of(&c, "db/app2", "AWSCURRENT").await;
    assert_eq!(first["username"], "app2_clone", "the other user is current");
    assert!(login(
        &pg,
        "app2_clone",
        first["password"].as_str().unwrap()
    ));
    assert!(login(&pg, "app2", "p0"), "the previous user keeps working");
    assert_eq!(
        value_of(&c, "db/app2", "AWSPREVIOUS").await["username"],
        "app2"
    );
    c.rotate_secret()
        .secret_id("db/app2")
        .client_request_token(token(2))
        .send()
        .await
        .unwrap();
    assert!(wait_done_on(&c, "db/app2", &token(2)).await);
    let second = value_of(&c, "db/app2", "AWSCURRENT").await;
    assert_eq!(second["username"], "app2", "back to the first user");
    assert!(login(&pg, "app2", second["password"].as_str().unwrap()));
    assert!(!login(&pg, "app2", "p0"), "with a new password");
    assert!(
        login(&pg, "app2_clone", first["password"].as_str().unwrap()),
        "AWSPREVIOUS still logs in"
    );
    srv.stop().await;
}

/// A secret that asks for TLS (`"ssl": true`) is rotated over TLS, the
/// database's certificate verified against the CA the server is given
/// (`rotation_database_ca_file`); the database refuses `app` on plain
/// connections, so the rotation succeeding shows it used TLS.
#[tokio::test]
async fn postgres_rotation_over_verified_tls() {
    let mut pg = Cluster::start(Auth::Password(SUPER));
    let ca = pg.with_tls(Some("hostnossl all app 0.0.0.0/0 reject"));
    assert!(psql(
        pg.port,
        "postgres",
        SUPER,
        "CREATE USER app WITH PASSWORD 'first-password'"
    ));
    let srv = TestServer::start_with(|o| o.rotation_database_ca_file = Some(ca.clone())).await;
    let c = srv.client();
    let secret = serde_json::json!({"engine": "postgres", "host": "127.0.0.1", "port": pg.port,
        "username": "app", "password": "first-password", "dbname": "postgres", "ssl": true});
    c.create_secret()
        .name("db/app")
        .secret_string(secret.to_string())
        .send()
        .await
        .unwrap();
    let rules = RotationRulesType::builder()
        .automatically_after_days(7)
        .build();
    c.rotate_secret()
        .secret_id("db/app")
        .rotation_lambda_arn(FUNCTION)
        .rotation_rules(rules)
        .client_request_token(token(1))
        .send()
        .await
        .unwrap();
    assert!(wait_done(&c, &token(1)).await, "rotation over TLS finished");
    let new_password = value(&c, "AWSCURRENT").await["password"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        login(&pg, "app", &new_password),
        "AWSCURRENT logs in (over TLS)"
    );
    assert!(!login(&pg, "app", "first-password"));
    srv.stop().await;
}
