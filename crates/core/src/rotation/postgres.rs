//! The built-in PostgreSQL rotators, following AWS's templates for RDS PostgreSQL.
//! The secret is JSON (`engine`, `host`, `port`, `username`, `password`,
//! `dbname`, and `masterarn` for alternating users). createSecret stores a new
//! random password as AWSPENDING (alternating users: for the other user,
//! `NAME_clone` or back); setSecret sets it in the database (single user: logging in
//! with the pending, current or previous value, in that order, so a retry after a
//! partial run completes it; alternating users: as the master user, creating the
//! clone with the current user's roles on first use); testSecret logs in with the
//! pending value; finishSecret moves AWSCURRENT.

use super::call::RotationCall;
use super::db::{login, switch_user, Login, EXCLUDED};
use serde_json::Value;
use std::time::Duration;

/// A PostgreSQL login (port 5432 unless named), with the server's CA file for
/// the rotators.
fn login_pg(rc: &RotationCall<'_>, v: &Value) -> Result<Login, String> {
    let mut l = login(v, 5432)?;
    l.ca_file.clone_from(&rc.svc.functions.database_ca_file);
    Ok(l)
}

/// Logs in, over TLS when the secret or the server's configuration asks for it:
/// then the certificate must chain to the system's roots or the CA file and
/// name the host (verify-full), and the errors say so.
async fn connect(l: &Login) -> Result<tokio_postgres::Client, String> {
    let mut cfg = tokio_postgres::Config::new();
    cfg.host(&l.host)
        .port(l.port)
        .user(&l.user)
        .password(&l.password)
        .dbname(l.dbname.as_deref().unwrap_or("postgres"))
        .connect_timeout(Duration::from_secs(5));
    // The error text names the server and the reason, never the password.
    let failed = |how: &str, e: &dyn std::fmt::Display| {
        format!(
            "cannot log in as {} on {}:{}{how}: {e}",
            l.user, l.host, l.port
        )
    };
    if l.ssl || l.ca_file.is_some() {
        let how = match &l.ca_file {
            Some(ca) => format!(
                " over TLS (certificate checked against the system's roots and {})",
                ca.display()
            ),
            None => " over TLS (certificate checked against the system's roots)".to_string(),
        };
        let tls = coffer_store::postgres::tls::Rustls::new(l.ca_file.as_deref())
            .map_err(|e| failed(&how, &e))?;
        cfg.ssl_mode(tokio_postgres::config::SslMode::Require);
        let (client, conn) = cfg
            .connect(tls)
            .await
            .map_err(|e| failed(&how, &error_chain(&e)))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        return Ok(client);
    }
    let (client, conn) = cfg
        .connect(tokio_postgres::NoTls)
        .await
        .map_err(|e| failed("", &e))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

/// An error with its causes (a TLS failure's reason is in its source).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

fn code(e: &tokio_postgres::Error) -> &str {
    e.code().map_or("?", tokio_postgres::error::SqlState::code)
}

/// setSecret for alternating users: the master user creates or alters the other
/// user.
async fn set_alternating(rc: &RotationCall<'_>) -> Result<(), String> {
    let pending_v = rc.value_of("AWSPENDING").await?;
    let pending = login_pg(rc, &pending_v)?;
    if connect(&pending).await.is_ok() {
        return Ok(());
    }
    let current = login_pg(rc, &rc.value_of("AWSCURRENT").await?)?;
    let master_arn = pending_v["masterarn"]
        .as_str()
        .ok_or("the secret has no masterarn")?;
    let master = login_pg(rc, &rc.value_of_secret(master_arn).await?)?;
    let db = Login {
        dbname: current.dbname.clone(),
        ..master
    };
    let client = connect(&db).await?;
    let exists = client
        .query_opt(
            "SELECT 1 FROM pg_roles WHERE rolname = $1",
            &[&pending.user],
        )
        .await
        .map_err(|e| format!("looking up the user failed: {}", code(&e)))?
        .is_some();
    // The third parameter is used by both forms so PostgreSQL can type it.
    let sql = if exists {
        "SELECT format('ALTER USER %I WITH PASSWORD %L', $1::text, $2::text) || left($3::text, 0)"
    } else {
        "SELECT format('CREATE ROLE %I WITH LOGIN PASSWORD %L', $1::text, $2::text) || '; ' || format('GRANT %I TO %I', $3::text, $1::text)"
    };
    let row = client
        .query_one(sql, &[&pending.user, &pending.password, &current.user])
        .await
        .map_err(|e| format!("preparing the user change failed: {}", code(&e)))?;
    let stmt: String = row.get(0);
    client
        .batch_execute(&stmt)
        .await
        .map_err(|e| format!("changing the user failed: {}", code(&e)))?;
    Ok(())
}

/// One step of the alternating-users strategy.
pub(crate) async fn step_alternating(rc: &RotationCall<'_>, name: &str) -> Result<(), String> {
    match name {
        "createSecret" => rc.create_pending_with(EXCLUDED, switch_user).await,
        "setSecret" => set_alternating(rc).await,
        _ => step(rc, name).await,
    }
}

/// One step of the single-user strategy.
pub(crate) async fn step(rc: &RotationCall<'_>, step: &str) -> Result<(), String> {
    match step {
        "createSecret" => rc.create_pending(EXCLUDED).await,
        "setSecret" => {
            let pending = login_pg(rc, &rc.value_of("AWSPENDING").await?)?;
            if connect(&pending).await.is_ok() {
                return Ok(()); // set by an earlier attempt
            }
            let mut admin = None;
            for stage in ["AWSCURRENT", "AWSPREVIOUS"] {
                let Ok(v) = rc.value_of(stage).await else {
                    continue;
                };
                let l = login_pg(rc, &v)?;
                if l.user != pending.user || l.host != pending.host {
                    return Err("the pending secret names another user or host".into());
                }
                if let Ok(c) = connect(&l).await {
                    admin = Some(c);
                    break;
                }
            }
            let client = admin.ok_or(
                "unable to log into the database with the previous, current or pending secret",
            )?;
            // PostgreSQL quotes the name and the literal itself (format %I, %L).
            let row = client
                .query_one(
                    "SELECT format('ALTER USER %I WITH PASSWORD %L', $1::text, $2::text)",
                    &[&pending.user, &pending.password],
                )
                .await
                .map_err(|e| {
                    format!(
                        "preparing the password change failed: {}",
                        e.code().map_or("?", tokio_postgres::error::SqlState::code)
                    )
                })?;
            let stmt: String = row.get(0);
            client.batch_execute(&stmt).await.map_err(|e| {
                format!(
                    "changing the password failed: {}",
                    e.code().map_or("?", tokio_postgres::error::SqlState::code)
                )
            })?;
            Ok(())
        }
        "testSecret" => {
            let pending = login_pg(rc, &rc.value_of("AWSPENDING").await?)?;
            let client = connect(&pending).await?;
            client
                .simple_query("SELECT NOW()")
                .await
                .map_err(|e| format!("the test query failed: {e}"))?;
            Ok(())
        }
        "finishSecret" => rc.finish().await,
        other => Err(format!("unknown step {other}")),
    }
}
