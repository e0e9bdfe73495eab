//! The built-in MySQL / MariaDB rotators, following AWS's templates for RDS MySQL.
//! The secret is JSON (`engine`, `host`, `port`, `username`, `password`,
//! `dbname`, and `masterarn` for alternating users). Single user: setSecret logs in
//! with the pending, current or previous value (so a retry completes a partial
//! run) and changes its own password (`SET PASSWORD` on MariaDB, `ALTER USER
//! CURRENT_USER()` on MySQL). Alternating users:
//! the master user creates `NAME_clone` (for host `%`) with the current user's
//! grants on first use, and later sets the other user's password.
//!
//! Over TLS when the secret says `"ssl": true` or the server has a
//! `rotation_database_ca_file`: the certificate must then chain to the
//! system's roots (or the driver's built-in Mozilla roots) or that CA, and name
//! the host; the errors say it was over TLS.

use super::call::RotationCall;
use super::db::{login, switch_user, Login, EXCLUDED};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder, SslOpts, Value as Sql};
use serde_json::Value;
use std::time::Duration;

/// A MySQL login (port 3306 unless named), with the server's CA file for
/// the rotators.
fn login_my(rc: &RotationCall<'_>, v: &Value) -> Result<Login, String> {
    let mut l = login(v, 3306)?;
    l.ca_file.clone_from(&rc.svc.functions.database_ca_file);
    Ok(l)
}

/// The system's bundle of trusted roots (Debian's and its kin's path).
const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";

async fn connect(l: &Login) -> Result<Conn, String> {
    let mut opts = OptsBuilder::default()
        .ip_or_hostname(l.host.clone())
        .tcp_port(l.port)
        .user(Some(l.user.clone()))
        .pass(Some(l.password.clone()))
        .db_name(l.dbname.clone())
        .prefer_socket(false);
    let mut how = String::new();
    if l.ssl || l.ca_file.is_some() {
        let mut roots = Vec::new();
        if std::path::Path::new(SYSTEM_ROOTS).exists() {
            roots.push(std::path::PathBuf::from(SYSTEM_ROOTS).into());
        }
        how = " over TLS (certificate checked against the system's roots".into();
        if let Some(ca) = &l.ca_file {
            roots.push(ca.clone().into());
            how.push_str(&format!(" and {}", ca.display()));
        }
        how.push(')');
        opts = opts.ssl_opts(SslOpts::default().with_root_certs(roots));
    }
    let fail = |why: String| {
        format!(
            "cannot log in as {} on {}:{}{how}: {why}",
            l.user, l.host, l.port
        )
    };
    match tokio::time::timeout(Duration::from_secs(5), Conn::new(opts)).await {
        Ok(Ok(c)) => Ok(c),
        // The driver's error names the server's refusal, never the password.
        Ok(Err(e)) => Err(fail(e.to_string())),
        Err(_) => Err(fail("timed out".into())),
    }
}

/// A quoted SQL string literal, in the form the session reads: with
/// `NO_BACKSLASH_ESCAPES` a backslash is an ordinary character, so escaping with
/// one would end the literal early (and let a user name write SQL).
fn lit(s: &str, no_backslash_escapes: bool) -> String {
    Sql::from(s).as_sql(no_backslash_escapes)
}

/// Does this session treat backslashes in literals as ordinary characters?
async fn no_backslash_escapes(c: &mut Conn) -> Result<bool, String> {
    let mode: Option<String> = c
        .query_first("SELECT @@SESSION.sql_mode")
        .await
        .map_err(db_error("reading the SQL mode"))?;
    Ok(mode.is_some_and(|m| m.to_ascii_uppercase().contains("NO_BACKSLASH_ESCAPES")))
}

fn db_error(what: &str) -> impl Fn(mysql_async::Error) -> String + '_ {
    move |e| match e {
        mysql_async::Error::Server(se) => format!("{what} failed: server error {}", se.code),
        _ => format!("{what} failed"),
    }
}

async fn set_single(rc: &RotationCall<'_>) -> Result<(), String> {
    let pending = login_my(rc, &rc.value_of("AWSPENDING").await?)?;
    if let Ok(c) = connect(&pending).await {
        let _ = c.disconnect().await;
        return Ok(()); // set by an earlier attempt
    }
    let mut conn = None;
    let mut last = String::new();
    for stage in ["AWSCURRENT", "AWSPREVIOUS"] {
        let Ok(v) = rc.value_of(stage).await else {
            continue;
        };
        let l = login_my(rc, &v)?;
        if l.user != pending.user || l.host != pending.host {
            return Err("the pending secret names another user or host".into());
        }
        match connect(&l).await {
            Ok(c) => {
                conn = Some(c);
                break;
            }
            Err(e) => last = e,
        }
    }
    let mut c = conn.ok_or_else(|| {
        format!(
            "unable to log into the database with the previous, current or pending secret ({last})"
        )
    })?;
    // MariaDB lets a user change its own password only with SET PASSWORD; MySQL
    // 5.7+ dropped PASSWORD() and uses ALTER USER (AWS's template does the same).
    let version: Option<String> = c
        .query_first("SELECT VERSION()")
        .await
        .map_err(db_error("reading the server version"))?;
    let raw = no_backslash_escapes(&mut c).await?;
    let stmt = if version.is_some_and(|v| v.contains("MariaDB")) {
        format!("SET PASSWORD = PASSWORD({})", lit(&pending.password, raw))
    } else {
        format!(
            "ALTER USER CURRENT_USER() IDENTIFIED BY {}",
            lit(&pending.password, raw)
        )
    };
    c.query_drop(stmt)
        .await
        .map_err(db_error("changing the password"))?;
    let _ = c.disconnect().await;
    Ok(())
}

async fn set_alternating(rc: &RotationCall<'_>) -> Result<(), String> {
    let pending_v = rc.value_of("AWSPENDING").await?;
    let pending = login_my(rc, &pending_v)?;
    if let Ok(c) = connect(&pending).await {
        let _ = c.disconnect().await;
        return Ok(());
    }
    let current = login_my(rc, &rc.value_of("AWSCURRENT").await?)?;
    let master_arn = pending_v["masterarn"]
        .as_str()
        .ok_or("the secret has no masterarn")?;
    let master = login_my(rc, &rc.value_of_secret(master_arn).await?)?;
    let mut c = connect(&master).await?;
    let exists: Option<String> = c
        .exec_first(
            "SELECT User FROM mysql.user WHERE User = ?",
            (pending.user.as_str(),),
        )
        .await
        .map_err(db_error("looking up the user"))?;
    let raw = no_backslash_escapes(&mut c).await?;
    let who = format!("{}@'%'", lit(&pending.user, raw));
    if exists.is_some() {
        let stmt = format!(
            "ALTER USER {who} IDENTIFIED BY {}",
            lit(&pending.password, raw)
        );
        c.query_drop(stmt)
            .await
            .map_err(db_error("changing the password"))?;
    } else {
        let stmt = format!(
            "CREATE USER {who} IDENTIFIED BY {}",
            lit(&pending.password, raw)
        );
        c.query_drop(stmt)
            .await
            .map_err(db_error("creating the user"))?;
        let grants: Vec<String> = c
            .query(format!("SHOW GRANTS FOR {}@'%'", lit(&current.user, raw)))
            .await
            .map_err(db_error("reading the current user's grants"))?;
        for g in grants {
            // Everything before " TO " is the privilege; what follows (the grantee,
            // its password hash) is replaced by the new user.
            let Some((privilege, _)) = g.split_once(" TO ") else {
                continue;
            };
            c.query_drop(format!("{privilege} TO {who}"))
                .await
                .map_err(db_error("copying a grant"))?;
        }
    }
    let _ = c.disconnect().await;
    Ok(())
}

async fn test(rc: &RotationCall<'_>) -> Result<(), String> {
    let pending = login_my(rc, &rc.value_of("AWSPENDING").await?)?;
    let mut c = connect(&pending).await?;
    c.query_drop("SELECT NOW()")
        .await
        .map_err(db_error("the test query"))?;
    let _ = c.disconnect().await;
    Ok(())
}

/// One step; `alternating` picks the strategy.
pub(crate) async fn step(
    rc: &RotationCall<'_>,
    name: &str,
    alternating: bool,
) -> Result<(), String> {
    match (name, alternating) {
        ("createSecret", false) => rc.create_pending(EXCLUDED).await,
        ("createSecret", true) => rc.create_pending_with(EXCLUDED, switch_user).await,
        ("setSecret", false) => set_single(rc).await,
        ("setSecret", true) => set_alternating(rc).await,
        ("testSecret", _) => test(rc).await,
        ("finishSecret", _) => rc.finish().await,
        (other, _) => Err(format!("unknown step {other}")),
    }
}
