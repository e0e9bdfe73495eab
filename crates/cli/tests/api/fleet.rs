//! Three `coffer server` processes on one PostgreSQL database, as the README
//! starts them (`--dev --database-url … --root-key env`), driven by the AWS SDK:
//! one set of accounts and secrets, changes seen fleet-wide, background work
//! done once, and no acknowledged write lost when servers are killed.

use crate::access::{iam, user};
use crate::agent::{get, json, start_agent_at, PUSH_DEADLINE};
use crate::common::*;
use crate::pgcluster::{Auth, Cluster};
use aws_sdk_secretsmanager as sm;
use coffer_store::postgres::testing::{drop_database, fresh_database};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The fleet's shared root key (any 32 bytes, hex).
pub(crate) const ROOT_KEY: &str =
    "4f1c2a9d7e6b5a4938271605f4e3d2c1b0a99887766554433221100ffeeddccb";

pub(crate) struct Server {
    child: Child,
    pub(crate) endpoint: String,
    dir: tempfile::TempDir,
}

impl Server {
    pub(crate) fn start(url: &str) -> Server {
        Self::start_with_args(url, &[])
    }

    /// Three servers on `url`, started one after another.
    pub(crate) fn three(url: &str) -> (Server, Server, Server) {
        (Self::start(url), Self::start(url), Self::start(url))
    }

    pub(crate) fn start_with_args(url: &str, extra: &[&str]) -> Server {
        Self::try_start_with(url, ROOT_KEY, extra)
            .unwrap_or_else(|log| panic!("the server did not start: {log}"))
    }

    /// A server with `root_key`, or its log if it did not start.
    fn try_start(url: &str, root_key: &str) -> Result<Server, String> {
        Self::try_start_with(url, root_key, &[])
    }

    fn try_start_with(url: &str, root_key: &str, extra: &[&str]) -> Result<Server, String> {
        let dir = tempfile::tempdir().unwrap();
        let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_coffer"))
            .args([
                "server",
                "--dev",
                "--root-key",
                "env",
                "--listen",
                "127.0.0.1:0",
            ])
            .args(["--rotation-interval-secs", "1", "--database-url", url])
            .args(extra)
            .arg("--data-dir")
            .arg(dir.path())
            .env("COFFER_ROOT_KEY", root_key)
            .env("COFFER_DEV_ACCESS_KEY_ID", AKID)
            .env("COFFER_DEV_SECRET_ACCESS_KEY", SECRET)
            .env("COFFER_DEV_ACCOUNT_ID", ACCOUNT)
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        let endpoint = dev_endpoint(&mut child);
        if endpoint.is_empty() {
            let _ = child.wait();
            return Err(std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default());
        }
        Ok(Server {
            child,
            endpoint,
            dir,
        })
    }

    pub(crate) fn client(&self) -> sm::Client {
        client_for(&self.endpoint, "us-east-1", AKID, SECRET)
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.endpoint.trim_start_matches("http://").parse().unwrap()
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// SIGTERM, and the exit status must say it stopped cleanly.
    fn stop(&mut self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
        assert!(self.child.wait().unwrap().success(), "{}", self.log());
    }

    pub(crate) fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) async fn read(c: &sm::Client, id: &str) -> Result<String, String> {
    match c.get_secret_value().secret_id(id).send().await {
        Ok(v) => Ok(v.secret_string().unwrap_or("").to_string()),
        Err(e) => Err(err(e).0),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_servers_serve_one_set_of_accounts_and_secrets() {
    let url = fresh_database().await;
    let (a, b, c) = Server::three(&url);

    create(&a.client(), "fleet/db", "v1").await;
    assert_eq!(read(&b.client(), "fleet/db").await, Ok("v1".into()));
    assert_eq!(read(&c.client(), "fleet/db").await, Ok("v1".into()));

    // A user made through A works on B; its key deleted through A stops working on B.
    let policy = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*"}}"#;
    let (akid, key) = user(a.addr(), "reader", &[], policy).await;
    let on_b = client_for(&b.endpoint, "us-east-1", &akid, &key);
    let on_c = client_for(&c.endpoint, "us-east-1", &akid, &key);
    assert_eq!(read(&on_b, "fleet/db").await, Ok("v1".into()));
    assert_eq!(read(&on_c, "fleet/db").await, Ok("v1".into()));

    // The policy detached through A: refused on C.
    iam(
        a.addr(),
        &[
            ("Action", "DeleteUserPolicy"),
            ("UserName", "reader"),
            ("PolicyName", "p"),
        ],
    )
    .await;
    let took = wait_for("C refuses after the policy went", PATIENCE, async || {
        read(&on_c, "fleet/db").await == Err("AccessDeniedException".into())
    })
    .await;
    eprintln!("policy removal reached C after {took:?}");

    iam(
        a.addr(),
        &[
            ("Action", "DeleteAccessKey"),
            ("UserName", "reader"),
            ("AccessKeyId", akid.as_str()),
        ],
    )
    .await;
    let took = wait_for("B refuses the deleted key", PATIENCE, async || {
        read(&on_b, "fleet/db").await == Err("UnrecognizedClientException".into())
    })
    .await;
    eprintln!("key deletion reached B after {took:?}");
    drop((a, b, c));
    drop_database(&url).await;
}

/// Three servers started at the same moment on a new database, as the README
/// starts them: each records the root key, the dev account and its root
/// credential, or finds what another recorded; all three come up and serve.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_started_at_once_on_a_new_database_all_serve() {
    // A race: several rounds, so a lost one shows.
    for _ in 0..8 {
        let url = fresh_database().await;
        let starts: Vec<_> = (0..3)
            .map(|_| {
                let url = url.clone();
                std::thread::spawn(move || Server::try_start(&url, ROOT_KEY))
            })
            .collect();
        let servers: Vec<Server> = starts
            .into_iter()
            .map(|s| {
                s.join()
                    .unwrap()
                    .unwrap_or_else(|log| panic!("a server did not start: {log}"))
            })
            .collect();
        create(&servers[0].client(), "together", "v1").await;
        for s in &servers {
            assert_eq!(read(&s.client(), "together").await, Ok("v1".into()));
        }
        drop(servers);
        drop_database(&url).await;
    }
}

/// A server given another root key than the fleet's is refused before it
/// writes anything the others could not read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_with_another_root_key_is_refused() {
    let url = fresh_database().await;
    let a = Server::start(&url);
    let other = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    let Err(log) = Server::try_start(&url, other) else {
        panic!("a server with another root key started")
    };
    assert!(
        log.contains("written with a different root key"),
        "the refusal says why: {log}"
    );
    assert_eq!(
        read(&a.client(), "none").await,
        Err("ResourceNotFoundException".into())
    );
    drop(a);
    drop_database(&url).await;
}

/// An agent subscribed to C refreshes when the secret changes through A.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_on_one_server_hears_changes_made_through_another() {
    let url = fresh_database().await;
    let (a, c) = (Server::start(&url), Server::start(&url));
    create(&a.client(), "pushed", "v1").await;
    let agent = start_agent_at(&c.endpoint, "ttl_seconds = 3600", true).await;
    wait_for("the agent subscribed to C", PATIENCE, async || {
        agent.is_subscribed()
    })
    .await;
    assert_eq!(
        json(&get(agent.addr, "/v1/pushed").await.2)["SecretString"],
        "v1"
    );
    a.client()
        .put_secret_value()
        .secret_id("pushed")
        .secret_string("v2")
        .send()
        .await
        .unwrap();
    let took = wait_for(
        "the agent on C serves A's new value",
        PUSH_DEADLINE,
        async || json(&get(agent.addr, "/v1/pushed").await.2)["SecretString"] == "v2",
    )
    .await;
    eprintln!("a put through A reached the agent on C after {took:?}");
    agent.stop().await;
    drop((a, c));
    drop_database(&url).await;
}

/// A secret `name` whose rotation (by the built-in random-password rotator) is
/// due now: its schedule's due time moved into the past in the database itself,
/// as if its day had gone by.
async fn due_rotation(c: &sm::Client, url: &str, name: &str) {
    c.create_secret()
        .name(name)
        .secret_string("v1")
        .send()
        .await
        .unwrap();
    let arn_fn = format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:coffer-random-password");
    c.rotate_secret()
        .secret_id(name)
        .rotation_lambda_arn(arn_fn)
        .rotation_rules(
            sm::types::RotationRulesType::builder()
                .automatically_after_days(1)
                .build(),
        )
        .rotate_immediately(false)
        .send()
        .await
        .unwrap();
    let db = coffer_store::postgres::config(url).unwrap();
    let (client, conn) = db.connect(tokio_postgres_notls()).await.unwrap();
    tokio::spawn(conn);
    let n = client
        .execute(
            "UPDATE secrets SET attrs = jsonb_set(attrs, '{Rotation,DueMs}', '0') WHERE name = $1",
            &[&name],
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
}

async fn versions(c: &sm::Client, id: &str) -> usize {
    c.list_secret_version_ids()
        .secret_id(id)
        .include_deprecated(true)
        .send()
        .await
        .unwrap()
        .versions()
        .len()
}

/// A due rotation runs once, not once per server: each server looks every
/// second, one of them leads; when the leader is killed, a survivor takes the
/// lead and runs the next due rotation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_due_rotation_runs_once_across_the_fleet() {
    let url = fresh_database().await;
    let mut servers = [
        Server::start(&url),
        Server::start(&url),
        Server::start(&url),
    ];
    let c = servers[0].client();
    due_rotation(&c, &url, "rotated").await;
    wait_for("the due rotation ran", PATIENCE, async || {
        versions(&c, "rotated").await > 1
    })
    .await;
    // Three servers look every second: give the others time to (wrongly) run it too.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        versions(&c, "rotated").await,
        2,
        "the rotation ran exactly once"
    );
    // The rotation's own claim is revision-checked, so the count above would
    // hold even if every server scanned; the lock is what makes one server do
    // the fleet's background work.
    let leads = |s: &Server| s.log().contains("runs on this server");
    let leaders: Vec<usize> = (0..3).filter(|&i| leads(&servers[i])).collect();
    assert_eq!(leaders.len(), 1, "exactly one server leads background work");

    // The leader killed: another takes over, and the next due rotation runs.
    servers[leaders[0]].kill9();
    let next = (leaders[0] + 1) % 3;
    let c = servers[next].client();
    due_rotation(&c, &url, "rotated-later").await;
    wait_for(
        "a survivor ran the next due rotation",
        PATIENCE,
        async || versions(&c, "rotated-later").await > 1,
    )
    .await;
    let survivors = (0..3).filter(|&i| i != leaders[0] && leads(&servers[i]));
    assert_eq!(survivors.count(), 1, "one survivor took the lead");
    drop(servers);
    drop_database(&url).await;
}

fn tokio_postgres_notls() -> tokio_postgres::NoTls {
    tokio_postgres::NoTls
}

/// `coffer audit verify --database-url` with the fleet's root key.
pub(crate) fn verify(url: &str) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args([
            "audit",
            "verify",
            "--root-key",
            "env",
            "--database-url",
            url,
        ])
        .env("COFFER_ROOT_KEY", ROOT_KEY)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// Every server's read records (and refused calls) end up in the store with
/// their links, so none is lost with a server's disk; `coffer audit verify`
/// checks each server's chain and finds a record changed or removed there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_audit_trail_is_in_the_store_and_verifies() {
    let url = fresh_database().await;
    let mut servers = [Server::start(&url), Server::start(&url)];
    create(&servers[0].client(), "audited", "v1").await;
    for s in &servers {
        assert_eq!(read(&s.client(), "audited").await, Ok("v1".into()));
    }
    let denied = client_for(&servers[1].endpoint, "us-east-1", AKID, "wrong-secret");
    assert!(read(&denied, "audited").await.is_err());
    for s in &mut servers {
        s.stop();
    }
    let (ok, text) = verify(&url);
    assert!(ok, "{text}");
    assert_eq!(text.matches("audit file of server").count(), 2, "{text}");

    let db = coffer_store::postgres::config(&url).unwrap();
    let (client, conn) = db.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    let reads: i64 = client
        .query_one(
            "SELECT count(*) FROM audit_shipped WHERE body LIKE '%\"eventName\":\"GetSecretValue\"%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        reads, 3,
        "both servers' reads, and the call refused with a wrong key, are in the store"
    );
    assert!(!text.contains("v1\""), "no secret value in the output");

    // A record changed in the store (of the server with two): the chain says where.
    client
        .execute(
            "UPDATE audit_shipped SET body = replace(body, 'GetSecretValue', 'ListSecrets')
             WHERE line = 1 AND server_id = (SELECT server_id FROM audit_shipped GROUP BY server_id ORDER BY count(*) DESC LIMIT 1)",
            &[],
        )
        .await
        .unwrap();
    let (ok, text) = verify(&url);
    assert!(!ok && text.contains("breaks the hash chain"), "{text}");
    // A record removed: the gap is found.
    client
        .execute(
            "DELETE FROM audit_shipped WHERE line = 1 AND server_id = (SELECT server_id FROM audit_shipped GROUP BY server_id ORDER BY count(*) DESC LIMIT 1)",
            &[],
        )
        .await
        .unwrap();
    let (ok, text) = verify(&url);
    assert!(!ok && text.contains("audit line 1 is missing"), "{text}");
    drop(servers);
    drop_database(&url).await;
}

/// An SQLite store copied into PostgreSQL with `coffer migrate-store`: a server
/// on the copy (same root key) serves the same secrets, versions, users and
/// keys, and the audit chain still verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_store_copies_sqlite_into_postgres() {
    use crate::durability::{sigterm, spawn_binary};
    let dir = tempfile::tempdir().unwrap();
    let (data, log) = (dir.path().join("data"), dir.path().join("server.log"));
    let mut old = spawn_binary(&data, &log);
    let c = client_for(&old.endpoint, "us-east-1", AKID, SECRET);
    c.create_secret()
        .name("moved/db")
        .secret_string("v1")
        .description("the database")
        .tags(sm::types::Tag::builder().key("team").value("ops").build())
        .send()
        .await
        .unwrap();
    c.put_secret_value()
        .secret_id("moved/db")
        .secret_string("v2")
        .send()
        .await
        .unwrap();
    c.create_secret()
        .name("gone")
        .secret_string("x")
        .send()
        .await
        .unwrap();
    c.delete_secret().secret_id("gone").send().await.unwrap();
    let addr: SocketAddr = old.endpoint.trim_start_matches("http://").parse().unwrap();
    let policy = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*"}}"#;
    let (akid, key) = user(addr, "reader", &[], policy).await;
    sigterm(&mut old);
    // Delivery bookkeeping comes along too (its own check compares every row).
    let db = rusqlite::Connection::open(data.join("coffer.db")).unwrap();
    db.execute_batch(
        "INSERT INTO delivery_cursors VALUES ('123456789012/us-east-1/r/t', 7);
         INSERT INTO dead_letters (account_id, target, event_seq, event, error, attempts, at_ms, redrive)
           VALUES ('123456789012', '123456789012/us-east-1/r/t', 7, '{}', 'HTTP 500', 3, 1, 1);",
    )
    .unwrap();
    drop(db);

    let url = fresh_database().await;
    let run = |args: &[&str]| coffer_in(args, &data);
    // The root key was rotated before the move: the audit chain key kept in
    // the store comes along, so the chains still verify under the new key.
    let (ok, text) = run(&["key", "new"]);
    assert!(ok, "{text}");
    let (ok, text) = run(&["key", "rotate"]);
    assert!(ok && text.contains("root key rotated"), "{text}");
    let (ok, text) = run(&["migrate-store", "--to", &url]);
    assert!(ok && text.contains("compared every table"), "{text}");
    let (ok, text) = run(&["migrate-store", "--to", &url]);
    assert!(!ok && text.contains("already holds a store"), "{text}");

    let root_key = std::fs::read_to_string(data.join("root.key")).unwrap();
    let new = Server::try_start(&url, root_key.trim()).unwrap_or_else(|log| panic!("{log}"));
    let c = new.client();
    assert_eq!(read(&c, "moved/db").await, Ok("v2".into()));
    let prev = c
        .get_secret_value()
        .secret_id("moved/db")
        .version_stage("AWSPREVIOUS")
        .send()
        .await
        .unwrap();
    assert_eq!(prev.secret_string(), Some("v1"));
    let listed = c
        .list_secrets()
        .include_planned_deletion(true)
        .filters(
            sm::types::Filter::builder()
                .key(sm::types::FilterNameStringType::TagValue)
                .values("ops")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(listed.secret_list().len(), 1, "the word index came along");
    let gone = c.describe_secret().secret_id("gone").send().await.unwrap();
    assert!(
        gone.deleted_date().is_some(),
        "still scheduled for deletion"
    );
    let reader = client_for(&new.endpoint, "us-east-1", &akid, &key);
    assert_eq!(read(&reader, "moved/db").await, Ok("v2".into()));
    drop(new);
    let out = Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args([
            "audit",
            "verify",
            "--root-key",
            "env",
            "--database-url",
            &url,
        ])
        .env("COFFER_ROOT_KEY", root_key.trim())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop_database(&url).await;
}

/// TLS to the database: with `sslmode=require` the server's certificate is
/// verified against the CA given (the connections are then encrypted); without
/// that CA the server refuses to start, as it does for a CA file given without
/// `sslmode=require`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_to_the_database_is_verified() {
    let mut pg = Cluster::start(Auth::Trust);
    let ca = pg.with_tls(None);
    let url = format!("{}?sslmode=require", pg.url());
    let Err(log) = Server::try_start(&url, ROOT_KEY) else {
        panic!("a server trusting no CA for the database started");
    };
    assert!(
        log.contains("certificate") || log.contains("UnknownIssuer"),
        "{log}"
    );
    let ca_arg = ca.to_str().unwrap();
    let plain = pg.url();
    let Err(log) = Server::try_start_with(&plain, ROOT_KEY, &["--database-ca-file", ca_arg]) else {
        panic!("a CA file without sslmode=require was taken");
    };
    assert!(log.contains("sslmode=require"), "{log}");

    let srv = Server::start_with_args(&url, &["--database-ca-file", ca_arg]);
    let c = srv.client();
    c.create_secret()
        .name("over-tls")
        .secret_string("v")
        .send()
        .await
        .unwrap();
    assert_eq!(read(&c, "over-tls").await, Ok("v".into()));
    let db = coffer_store::postgres::config(&plain).unwrap();
    let (client, conn) = db.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    let encrypted: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
             WHERE a.application_name = 'coffer' AND s.ssl",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(encrypted >= 1, "the server's connections are encrypted");
    drop(srv);
    drop(pg);
}
