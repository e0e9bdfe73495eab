//! The store's settings (`meta`) and the values sealed directly under the root
//! key, as a root-key rotation reads and re-seals them.

use super::backend;
use crate::{Result, RootSealed, SealedRow};
use rusqlite::{params, Connection, OptionalExtension, Transaction};

/// A write of this module, done by the writer thread.
pub enum SmallWrite {
    MetaPut(String, Option<String>),
    MetaSwap(String, String, String),
    Reseal(RootSealed, String, Vec<u8>, Vec<u8>),
}

pub fn meta_get(c: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    c.prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()
}

pub fn meta_list(c: &Connection, prefix: &str) -> rusqlite::Result<Vec<(String, String)>> {
    // A range rather than LIKE: `_` and `%` in a prefix mean themselves.
    let end = format!("{prefix}\u{10ffff}");
    c.prepare_cached("SELECT key, value FROM meta WHERE key >= ?1 AND key < ?2 ORDER BY key")?
        .query_map([prefix, end.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect()
}

pub fn page(
    c: &Connection,
    what: RootSealed,
    after: &str,
    limit: usize,
) -> rusqlite::Result<Vec<SealedRow>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let row = |r: &rusqlite::Row<'_>| {
        Ok(SealedRow {
            id: r.get(0)?,
            bytes: r.get(1)?,
        })
    };
    match what {
        RootSealed::KmsKeys => c
            .prepare_cached(
                "SELECT arn, wrapped FROM kms_keys WHERE arn > ?1 ORDER BY arn LIMIT ?2",
            )?
            .query_map(params![after, limit], row)?
            .collect(),
        RootSealed::Credentials => c
            .prepare_cached(
                "SELECT access_key_id, wrapped_secret FROM credentials
                 WHERE access_key_id > ?1 ORDER BY access_key_id LIMIT ?2",
            )?
            .query_map(params![after, limit], row)?
            .collect(),
        RootSealed::IamDocs(kind) => {
            let (account, name) = after.split_once('/').unwrap_or((after, ""));
            c.prepare_cached(
                "SELECT account_id || '/' || name, CAST(body AS BLOB) FROM iam
                 WHERE kind = ?1 AND (account_id, name) > (?2, ?3)
                 ORDER BY account_id, name LIMIT ?4",
            )?
            .query_map(params![kind, account, name, limit], row)?
            .collect()
        }
    }
}

pub fn write(tx: &Transaction<'_>, w: &SmallWrite) -> Result<bool> {
    let changed = match w {
        SmallWrite::MetaPut(key, Some(value)) => tx.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![key, value],
        ),
        SmallWrite::MetaPut(key, None) => tx.execute("DELETE FROM meta WHERE key = ?1", [key]),
        SmallWrite::MetaSwap(key, from, to) => tx.execute(
            "UPDATE meta SET value = ?3 WHERE key = ?1 AND value = ?2",
            params![key, from, to],
        ),
        SmallWrite::Reseal(what, id, old, new) => reseal(tx, *what, id, old, new),
    }
    .map_err(backend)?;
    Ok(changed > 0)
}

fn reseal(
    tx: &Transaction<'_>,
    what: RootSealed,
    id: &str,
    old: &[u8],
    new: &[u8],
) -> rusqlite::Result<usize> {
    match what {
        RootSealed::KmsKeys => tx.execute(
            "UPDATE kms_keys SET wrapped = ?3 WHERE arn = ?1 AND wrapped = ?2",
            params![id, old, new],
        ),
        RootSealed::Credentials => tx.execute(
            "UPDATE credentials SET wrapped_secret = ?3 WHERE access_key_id = ?1 AND wrapped_secret = ?2",
            params![id, old, new],
        ),
        RootSealed::IamDocs(kind) => {
            let (account, name) = id.split_once('/').unwrap_or((id, ""));
            let (Ok(old), Ok(new)) = (std::str::from_utf8(old), std::str::from_utf8(new)) else {
                return Ok(0);
            };
            tx.execute(
                "UPDATE iam SET body = ?5, revision = revision + 1
                 WHERE account_id = ?1 AND kind = ?2 AND name = ?3 AND body = ?4",
                params![account, kind, name, old, new],
            )
        }
    }
}
