//! `coffer migrate-store`: copies an SQLite store into an empty PostgreSQL
//! one, rows as they are (sealed values, wrapped keys, audit links, ids), in one
//! transaction, then reads both back and compares them table by table.

use super::error::pg_err;
use super::{pool, schema};
use crate::{Result, StoreError};
use rusqlite::types::Value;
use sha2::{Digest, Sha256};
use std::pin::pin;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

/// A column's type on both sides.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Col {
    Int,
    Text,
    Bytes,
    /// Text in SQLite, JSONB in PostgreSQL: compared as parsed JSON.
    Json,
    /// 0/1 in SQLite, BOOLEAN in PostgreSQL.
    Bool,
}

struct Table {
    name: &'static str,
    cols: &'static str,
    types: &'static [Col],
    /// ORDER BY for reading both sides in the same order (text keys in byte order).
    order: &'static str,
    /// Sequence to move past the copied ids, if the table has one.
    serial: Option<&'static str>,
}

use Col::{Bool, Bytes, Int, Json, Text};

/// In the order foreign keys need.
const TABLES: &[Table] = &[
    Table { name: "accounts", cols: "account_id, name, created_ms", types: &[Text, Text, Int], order: "account_id", serial: None },
    Table { name: "credentials", cols: "access_key_id, account_id, principal_arn, wrapped_secret, status, created_ms", types: &[Text, Text, Text, Bytes, Text, Int], order: "access_key_id", serial: None },
    Table { name: "kms_keys", cols: "account_id, region, key_id, arn, alias, wrapped, created_ms", types: &[Text, Text, Text, Text, Text, Bytes, Int], order: "account_id, region, key_id", serial: None },
    Table { name: "iam", cols: "account_id, kind, name, body, revision", types: &[Text, Text, Text, Text, Int], order: "account_id, kind, name", serial: None },
    Table { name: "secrets", cols: "id, account_id, region, name, arn, description, kms_key_id, kind, created_ms, last_changed_ms, last_accessed_ms, deleted_ms, purge_after_ms, tags, attrs, revision", types: &[Int, Text, Text, Text, Text, Text, Text, Text, Int, Int, Int, Int, Int, Text, Json, Int], order: "id", serial: Some("id") },
    Table { name: "versions", cols: "secret_id, version_id, seq, created_ms, last_accessed_ms, labels, value_kind, kms_key_id, wrapped_data_key, ciphertext", types: &[Int, Text, Int, Int, Int, Text, Text, Text, Bytes, Bytes], order: "secret_id, version_id", serial: None },
    Table { name: "secret_words", cols: "account_id, region, field, word, secret_id", types: &[Text, Text, Text, Text, Int], order: "account_id, region, field, word, secret_id", serial: None },
    Table { name: "audit", cols: "seq, at_ms, body, prev_hash, hash", types: &[Int, Int, Text, Text, Text], order: "seq", serial: Some("seq") },
    Table { name: "events", cols: "seq, at_ms, account_id, region, body", types: &[Int, Int, Text, Text, Text], order: "seq", serial: Some("seq") },
    Table { name: "delivery_cursors", cols: "target, after_seq", types: &[Text, Int], order: "target", serial: None },
    Table { name: "dead_letters", cols: "id, account_id, target, event_seq, event, error, attempts, at_ms, redrive", types: &[Int, Text, Text, Int, Text, Text, Int, Int, Bool], order: "id", serial: Some("id") },
];

/// Rows copied and checked, per table.
pub struct Copied {
    pub tables: Vec<(&'static str, usize)>,
}

/// Reports progress: (table, rows done, rows in the table).
pub type Progress<'a> = &'a mut dyn FnMut(&str, usize, usize);

fn sqlite_err(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(format!("reading the SQLite store: {e}"))
}

/// Copies the SQLite store at `from` into the PostgreSQL database at `to`,
/// which must hold no accounts, secrets or audit records yet.
pub async fn copy_sqlite(
    from: &std::path::Path,
    to: &super::Target,
    progress: Progress<'_>,
) -> Result<Copied> {
    let src =
        rusqlite::Connection::open_with_flags(from, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(sqlite_err)?;
    let found: i64 = src
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get::<_, String>(0),
        )
        .map_err(sqlite_err)?
        .parse()
        .unwrap_or(0);
    if found != crate::sqlite::SCHEMA_VERSION {
        return Err(StoreError::Backend(format!(
            "the SQLite store has schema version {found}; start this build's server on it once (it migrates), then copy"
        )));
    }
    let mut pg = pool::connect(to).await?;
    schema::migrate(&mut pg).await?;
    let busy: i64 = pg
        .query_one(
            "SELECT (SELECT count(*) FROM accounts) + (SELECT count(*) FROM secrets) + (SELECT count(*) FROM audit)",
            &[],
        )
        .await
        .map_err(pg_err)?
        .get(0);
    if busy > 0 {
        return Err(StoreError::Backend(
            "the PostgreSQL database already holds a store; give an empty one".into(),
        ));
    }
    // One read transaction on SQLite, one write transaction on PostgreSQL: the
    // copy is of one moment, and lands whole or not at all.
    src.execute_batch("BEGIN").map_err(sqlite_err)?;
    let tx = pg.transaction().await.map_err(pg_err)?;
    // The root key's fingerprint, the audit chain key (kept sealed once the
    // root key has been rotated), and where retention left the outbox and the
    // audit chains.
    for key in [
        "root_key_check",
        "audit_chain_key",
        "event_horizon",
        "audit_anchors",
    ] {
        let value: Option<String> = src
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .ok();
        let Some(value) = value else { continue };
        tx.execute(
            "INSERT INTO coffer_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&key, &value],
        )
        .await
        .map_err(pg_err)?;
    }
    let mut copied = Vec::new();
    for t in TABLES {
        let n = copy_table(&src, &tx, t, progress).await?;
        if let Some(col) = t.serial {
            tx.execute(
                &format!(
                    "SELECT setval(pg_get_serial_sequence('{0}', '{col}'), GREATEST((SELECT max({col}) FROM {0}), 1))",
                    t.name
                ),
                &[],
            )
            .await
            .map_err(pg_err)?;
        }
        copied.push((t.name, n));
    }
    tx.commit().await.map_err(pg_err)?;
    src.execute_batch("COMMIT").map_err(sqlite_err)?;
    for t in TABLES {
        let (a, b) = (digest_sqlite(&src, t)?, digest_pg(&pg, t).await?);
        if a != b {
            return Err(StoreError::Backend(format!(
                "table {} differs after the copy",
                t.name
            )));
        }
    }
    Ok(Copied { tables: copied })
}

/// One row's value as PostgreSQL takes it.
fn param(v: Value, col: Col) -> Box<dyn ToSql + Sync + Send> {
    match (col, v) {
        (Int, Value::Integer(n)) => Box::new(Some(n)),
        (Int, _) => Box::new(None::<i64>),
        (Text | Json, Value::Text(s)) => Box::new(Some(s)),
        (Text | Json, _) => Box::new(None::<String>),
        (Bytes, Value::Blob(b)) => Box::new(Some(b)),
        (Bytes, _) => Box::new(None::<Vec<u8>>),
        (Bool, Value::Integer(n)) => Box::new(Some(n != 0)),
        (Bool, _) => Box::new(None::<bool>),
    }
}

async fn copy_table(
    src: &rusqlite::Connection,
    tx: &tokio_postgres::Transaction<'_>,
    t: &Table,
    progress: Progress<'_>,
) -> Result<usize> {
    let total: i64 = src
        .query_row(&format!("SELECT count(*) FROM {}", t.name), [], |r| {
            r.get(0)
        })
        .map_err(sqlite_err)?;
    let json = t.types.contains(&Json);
    // A JSON column goes through a staging table: binary COPY takes JSONB
    // only from a JSON value, and the text is what SQLite holds.
    let target = if json {
        tx.batch_execute(&format!(
            "CREATE TEMP TABLE import_{0} ON COMMIT DROP AS SELECT {1} FROM {0} WITH NO DATA;
             ALTER TABLE import_{0} ALTER COLUMN attrs TYPE TEXT",
            t.name, t.cols
        ))
        .await
        .map_err(pg_err)?;
        format!("import_{}", t.name)
    } else {
        t.name.to_string()
    };
    let types: Vec<Type> = t
        .types
        .iter()
        .map(|c| match c {
            Int => Type::INT8,
            Text | Json => Type::TEXT,
            Bytes => Type::BYTEA,
            Bool => Type::BOOL,
        })
        .collect();
    let sink = tx
        .copy_in(&format!("COPY {target} ({}) FROM STDIN BINARY", t.cols))
        .await
        .map_err(pg_err)?;
    let mut writer = pin!(BinaryCopyInWriter::new(sink, &types));
    let mut stmt = src
        .prepare(&format!("SELECT {} FROM {}", t.cols, t.name))
        .map_err(sqlite_err)?;
    let mut rows = stmt.query([]).map_err(sqlite_err)?;
    let mut done = 0usize;
    while let Some(r) = rows.next().map_err(sqlite_err)? {
        let mut values = Vec::with_capacity(t.types.len());
        for (i, col) in t.types.iter().enumerate() {
            values.push(param(r.get::<_, Value>(i).map_err(sqlite_err)?, *col));
        }
        let refs: Vec<&(dyn ToSql + Sync)> =
            values.iter().map(|v| &**v as &(dyn ToSql + Sync)).collect();
        writer.as_mut().write(&refs).await.map_err(pg_err)?;
        done += 1;
        if done.is_multiple_of(1000) {
            progress(t.name, done, total as usize);
        }
    }
    writer.as_mut().finish().await.map_err(pg_err)?;
    progress(t.name, done, total as usize);
    if json {
        let select = t.cols.replace("attrs", "attrs::jsonb");
        tx.execute(
            &format!(
                "INSERT INTO {0} ({1}) SELECT {select} FROM import_{0}",
                t.name, t.cols
            ),
            &[],
        )
        .await
        .map_err(pg_err)?;
    }
    Ok(done)
}

/// A value written the same way from either side: JSON parsed and rewritten
/// (PostgreSQL normalises JSONB), bytes in hex.
fn canonical(col: Col, text: Option<String>, int: Option<i64>, bytes: Option<Vec<u8>>) -> String {
    match col {
        Int | Bool => int.map_or("-".into(), |n| n.to_string()),
        Text => text.map_or("-".into(), |s| format!("{}:{s}", s.len())),
        Json => text
            .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
            .map_or("-".into(), |v| v.to_string()),
        Bytes => bytes.map_or("-".into(), hex::encode),
    }
}

fn digest_sqlite(src: &rusqlite::Connection, t: &Table) -> Result<(usize, Vec<u8>)> {
    let mut stmt = src
        .prepare(&format!(
            "SELECT {} FROM {} ORDER BY {}",
            t.cols, t.name, t.order
        ))
        .map_err(sqlite_err)?;
    let mut rows = stmt.query([]).map_err(sqlite_err)?;
    let (mut h, mut n) = (Sha256::new(), 0);
    while let Some(r) = rows.next().map_err(sqlite_err)? {
        for (i, col) in t.types.iter().enumerate() {
            let v: Value = r.get(i).map_err(sqlite_err)?;
            let s = match v {
                Value::Integer(x) => canonical(*col, None, Some(x), None),
                Value::Text(x) => canonical(*col, Some(x), None, None),
                Value::Blob(x) => canonical(*col, None, None, Some(x)),
                _ => "-".into(),
            };
            h.update(s.as_bytes());
            h.update(b"\x1f");
        }
        n += 1;
    }
    Ok((n, h.finalize().to_vec()))
}

async fn digest_pg(pg: &tokio_postgres::Client, t: &Table) -> Result<(usize, Vec<u8>)> {
    let cols = t.cols.replace("attrs", "attrs::text");
    let order: Vec<String> = t
        .order
        .split(", ")
        .map(|c| format!("{c} COLLATE \"C\""))
        .collect();
    // COLLATE applies to text keys only: integer keys are ordered as they are.
    let order = order
        .iter()
        .zip(t.order.split(", "))
        .map(|(with, plain)| {
            let int = t
                .cols
                .split(", ")
                .position(|c| c == plain)
                .is_some_and(|i| t.types[i] == Int);
            if int {
                plain.to_string()
            } else {
                with.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    use futures_util::TryStreamExt;
    let sql = format!("SELECT {cols} FROM {} ORDER BY {order}", t.name);
    // Streamed: a table of millions of rows is never held at once.
    let rows = pg
        .query_raw(&sql, std::iter::empty::<&(dyn ToSql + Sync)>())
        .await
        .map_err(pg_err)?;
    let mut rows = pin!(rows);
    let (mut h, mut n) = (Sha256::new(), 0);
    while let Some(r) = rows.try_next().await.map_err(pg_err)? {
        n += 1;
        for (i, col) in t.types.iter().enumerate() {
            let s = match col {
                Int => canonical(*col, None, r.try_get(i).map_err(pg_err)?, None),
                Text | Json => canonical(*col, r.try_get(i).map_err(pg_err)?, None, None),
                Bytes => canonical(*col, None, None, r.try_get(i).map_err(pg_err)?),
                Bool => {
                    let b: Option<bool> = r.try_get(i).map_err(pg_err)?;
                    canonical(*col, None, b.map(i64::from), None)
                }
            };
            h.update(s.as_bytes());
            h.update(b"\x1f");
        }
    }
    Ok((n, h.finalize().to_vec()))
}
