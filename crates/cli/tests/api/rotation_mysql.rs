//! The built-in MySQL rotators against a real MariaDB server of the test's own
//! (mariadb-install-db in a temporary directory, native passwords), where a wrong
//! password is really refused; logins are checked with the mariadb client.

use crate::common::*;
use aws_sdk_secretsmanager::types::RotationRulesType;
use std::process::Command;
use std::time::Duration;

const SINGLE: &str = "arn:aws:lambda:us-east-1:123456789012:function:coffer-mysql-single-user";
const ALTERNATING: &str =
    "arn:aws:lambda:us-east-1:123456789012:function:coffer-mysql-alternating-users";
const ADMIN: &str = "admin-password-for-tests";

/// A throwaway MariaDB server, killed when dropped.
struct Maria {
    dir: tempfile::TempDir,
    port: u16,
    server: std::process::Child,
}

impl Maria {
    fn start() -> Maria {
        Self::start_with(tempfile::tempdir().unwrap(), &[])
    }

    /// A server with a certificate for 127.0.0.1 from a throwaway CA (its PEM
    /// returned) that accepts TLS connections.
    fn start_tls() -> (Maria, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let set = coffer::devtls::DevTls::ensure(&dir.path().join("certs")).unwrap();
        let args = [
            format!("--ssl-cert={}", set.cert_file.display()),
            format!("--ssl-key={}", set.key_file.display()),
            format!("--ssl-ca={}", set.ca_file.display()),
        ];
        (Self::start_with(dir, &args), set.ca_file)
    }

    fn start_with(dir: tempfile::TempDir, extra: &[String]) -> Maria {
        let data = dir.path().join("data");
        // Two bootstraps at once collide on their temporary tables in /tmp: the
        // tests that start a server take turns here.
        static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let turn = INSTALL
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let out = Command::new("mariadb-install-db")
            .args(["--no-defaults", "--auth-root-authentication-method=normal"])
            .args(["--skip-test-db", "--user=root"])
            .arg(format!("--datadir={}", data.display()))
            .output()
            .expect("mariadb-install-db");
        drop(turn);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let d = dir.path();
        let server = Command::new("mariadbd")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", d.join("sock").display()))
            .arg(format!("--pid-file={}", d.join("pid").display()))
            .arg(format!("--log-error={}", d.join("err").display()))
            .args([
                format!("--port={port}"),
                "--bind-address=127.0.0.1".into(),
                "--user=root".into(),
            ])
            .args(extra)
            .spawn()
            .expect("mariadbd");
        let started = std::time::Instant::now();
        while !d.join("sock").exists() {
            assert!(
                started.elapsed() < PATIENCE,
                "mariadbd opened no socket within {PATIENCE:?}: {}",
                std::fs::read_to_string(d.join("err")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let m = Maria { dir, port, server };
        let setup = format!(
            "CREATE USER 'admin'@'%' IDENTIFIED BY '{ADMIN}'; GRANT ALL PRIVILEGES ON *.* TO 'admin'@'%' WITH GRANT OPTION;"
        );
        assert!(m.socket_sql(&setup), "setting up the server");
        m
    }

    fn socket_sql(&self, sql: &str) -> bool {
        Command::new("mariadb")
            .arg("--no-defaults")
            .arg(format!(
                "--socket={}",
                self.dir.path().join("sock").display()
            ))
            .args(["-u", "root", "-e", sql])
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Can `user` log in over TCP with `password`?
    fn login(&self, user: &str, password: &str) -> bool {
        self.login_with(user, password, &[])
    }

    fn login_with(&self, user: &str, password: &str, extra: &[String]) -> bool {
        Command::new("mariadb")
            .args([
                "--no-defaults",
                "-h",
                "127.0.0.1",
                "-P",
                &self.port.to_string(),
                "-u",
                user,
            ])
            .args(extra)
            .arg(format!("-p{password}"))
            .args(["-e", "SELECT 1"])
            .output()
            .is_ok_and(|o| o.status.success())
    }
}

impl Drop for Maria {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

async fn current(c: &aws_sdk_secretsmanager::Client, id: &str, stage: &str) -> serde_json::Value {
    let v = c
        .get_secret_value()
        .secret_id(id)
        .version_stage(stage)
        .send()
        .await
        .unwrap();
    serde_json::from_str(v.secret_string().unwrap()).unwrap()
}

/// The failure a secret's last rotation attempt recorded (null: none).
async fn last_failure(srv: &TestServer, id: &str) -> serde_json::Value {
    let scope = coffer_store::Scope {
        account_id: ACCOUNT.into(),
        region: "us-east-1".into(),
    };
    let s = srv
        .running()
        .service
        .store()
        .secret_by_name(&scope, id)
        .await
        .unwrap()
        .unwrap();
    s.row.attrs["Rotation"]["LastFailure"].clone()
}

async fn rotate(srv: &TestServer, id: &str, lambda: Option<&str>, t: &str) {
    let c = &srv.client();
    let mut r = c.rotate_secret().secret_id(id).client_request_token(t);
    if let Some(l) = lambda {
        r = r.rotation_lambda_arn(l).rotation_rules(
            RotationRulesType::builder()
                .automatically_after_days(7)
                .build(),
        );
    }
    r.send().await.unwrap();
    let started = std::time::Instant::now();
    while started.elapsed() < PATIENCE {
        let d = c.describe_secret().secret_id(id).send().await.unwrap();
        if d.version_ids_to_stages().unwrap().get(t) == Some(&vec!["AWSCURRENT".to_string()]) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "rotation {t} of {id} did not finish within {PATIENCE:?}: {}",
        last_failure(srv, id).await
    );
}

#[tokio::test]
async fn mysql_single_user_and_alternating_users_on_mariadb() {
    let db = Maria::start();
    assert!(db.socket_sql(
        "CREATE USER 'app'@'%' IDENTIFIED BY 'first'; CREATE USER 'svc'@'%' IDENTIFIED BY 's0'; GRANT SELECT ON mysql.* TO 'svc'@'%';"
    ));
    assert!(db.login("app", "first"));
    assert!(
        !db.login("app", "wrong"),
        "this server really checks passwords"
    );
    let srv = TestServer::start().await;
    let c = srv.client();
    let base = serde_json::json!({"engine": "mysql", "host": "127.0.0.1", "port": db.port});
    let with = |user: &str, pw: &str| {
        let mut v = base.clone();
        v["username"] = user.into();
        v["password"] = pw.into();
        v
    };
    // Single user: the password changes in the database.
    c.create_secret()
        .name("my/app")
        .secret_string(with("app", "first").to_string())
        .send()
        .await
        .unwrap();
    rotate(&srv, "my/app", Some(SINGLE), &token(1)).await;
    let now = current(&c, "my/app", "AWSCURRENT").await;
    let pw = now["password"].as_str().unwrap();
    assert!(db.login("app", pw), "AWSCURRENT logs in");
    assert!(!db.login("app", "first"), "the old password is refused");
    assert_eq!(
        current(&c, "my/app", "AWSPREVIOUS").await["password"],
        "first"
    );

    // Alternating users: the master creates svc_clone with svc's grants.
    let master = c
        .create_secret()
        .name("my/master")
        .secret_string(with("admin", ADMIN).to_string())
        .send()
        .await
        .unwrap();
    let mut svc = with("svc", "s0");
    svc["masterarn"] = master.arn().unwrap().into();
    c.create_secret()
        .name("my/svc")
        .secret_string(svc.to_string())
        .send()
        .await
        .unwrap();
    rotate(&srv, "my/svc", Some(ALTERNATING), &token(2)).await;
    let first = current(&c, "my/svc", "AWSCURRENT").await;
    assert_eq!(first["username"], "svc_clone");
    assert!(db.login("svc_clone", first["password"].as_str().unwrap()));
    assert!(db.login("svc", "s0"), "the previous user keeps working");
    rotate(&srv, "my/svc", None, &token(3)).await;
    let second = current(&c, "my/svc", "AWSCURRENT").await;
    assert_eq!(second["username"], "svc");
    assert!(db.login("svc", second["password"].as_str().unwrap()));
    assert!(!db.login("svc", "s0"));
    assert!(
        db.login("svc_clone", first["password"].as_str().unwrap()),
        "AWSPREVIOUS still logs in"
    );
    srv.stop().await;
}

/// A server in `NO_BACKSLASH_ESCAPES` mode and a user whose name holds a
/// backslash and a quote: the rotator's literals must be quoted the way that
/// session reads them, or the name ends the literal early (and writes SQL).
#[tokio::test]
async fn mysql_names_are_quoted_for_the_sessions_sql_mode() {
    let db = Maria::start();
    // In the default mode: the user `o\'k` (a backslash, then a quote).
    assert!(db.socket_sql(
        r"CREATE USER 'o\\''k'@'%' IDENTIFIED BY 's0'; GRANT SELECT ON mysql.* TO 'o\\''k'@'%';"
    ));
    assert!(db.login(r"o\'k", "s0"));
    assert!(db.socket_sql("SET GLOBAL sql_mode = 'NO_BACKSLASH_ESCAPES';"));
    let srv = TestServer::start().await;
    let c = srv.client();
    let base = serde_json::json!({"engine": "mysql", "host": "127.0.0.1", "port": db.port});
    let mut master = base.clone();
    master["username"] = "admin".into();
    master["password"] = ADMIN.into();
    let master = c
        .create_secret()
        .name("nb/master")
        .secret_string(master.to_string())
        .send()
        .await
        .unwrap();
    let mut app = base.clone();
    app["username"] = r"o\'k".into();
    app["password"] = "s0".into();
    app["masterarn"] = master.arn().unwrap().into();
    c.create_secret()
        .name("nb/app")
        .secret_string(app.to_string())
        .send()
        .await
        .unwrap();
    rotate(&srv, "nb/app", Some(ALTERNATING), &token(4)).await;
    let now = current(&c, "nb/app", "AWSCURRENT").await;
    assert_eq!(now["username"], r"o\'k_clone");
    assert!(db.login(r"o\'k_clone", now["password"].as_str().unwrap()));
    srv.stop().await;
}

/// The rotators connect over TLS when the server has a CA file for them, the
/// database's certificate checked against it: `app` may log in over TLS only
/// (REQUIRE SSL), so a finished rotation shows TLS was used. Without that CA
/// the certificate is not trusted, and the failure says it was over TLS.
#[tokio::test]
async fn mysql_rotation_over_verified_tls() {
    let (db, ca) = Maria::start_tls();
    assert!(db.socket_sql("CREATE USER 'app'@'%' IDENTIFIED BY 'first' REQUIRE SSL;"));
    assert!(
        !db.login_with("app", "first", &["--skip-ssl".to_string()]),
        "plain connections are refused"
    );
    let over_tls = [format!("--ssl-ca={}", ca.display()), "--ssl".to_string()];
    assert!(db.login_with("app", "first", &over_tls));
    let secret = serde_json::json!({"engine": "mysql", "host": "127.0.0.1", "port": db.port,
        "username": "app", "password": "first"});

    // A server that does not trust the database's CA: the secret asks for TLS,
    // the certificate is refused, and the error says so.
    let untrusting = TestServer::start().await;
    let mut asks = secret.clone();
    asks["ssl"] = true.into();
    untrusting
        .client()
        .create_secret()
        .name("my/tls")
        .secret_string(asks.to_string())
        .send()
        .await
        .unwrap();
    untrusting
        .client()
        .rotate_secret()
        .secret_id("my/tls")
        .rotation_lambda_arn(SINGLE)
        .rotation_rules(
            RotationRulesType::builder()
                .automatically_after_days(7)
                .build(),
        )
        .client_request_token(token(1))
        .send()
        .await
        .unwrap();
    wait_for("the rotation fails", PATIENCE, async || {
        last_failure(&untrusting, "my/tls").await.is_object()
    })
    .await;
    let why = last_failure(&untrusting, "my/tls").await.to_string();
    assert!(why.contains("over TLS"), "{why}");
    assert!(!why.contains("first"), "no password in the error: {why}");
    untrusting.stop().await;

    // Given the CA, the server rotates over TLS (the secret does not even ask).
    let srv = TestServer::start_with(|o| o.rotation_database_ca_file = Some(ca.clone())).await;
    srv.client()
        .create_secret()
        .name("my/app")
        .secret_string(secret.to_string())
        .send()
        .await
        .unwrap();
    rotate(&srv, "my/app", Some(SINGLE), &token(2)).await;
    let now = current(&srv.client(), "my/app", "AWSCURRENT").await;
    let pw = now["password"].as_str().unwrap();
    assert!(db.login_with("app", pw, &over_tls), "AWSCURRENT logs in");
    assert!(!db.login_with("app", "first", &over_tls));
    srv.stop().await;
}
