//! Retention on SQLite (see [`crate::retention`]): one job on the writer
//! thread, so pruning commits like any write and never races an append.

use super::writer::append_audit;
use crate::retention::{advance, prunable, AuditAnchors, Link, PRUNE_BATCH};
use crate::{ChainKey, NewAudit, Pruned, Result, Retention, StoreError};
use rusqlite::{params, OptionalExtension, Transaction};

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

pub(super) fn prune(tx: &Transaction<'_>, r: &Retention, key: Option<&ChainKey>) -> Result<Pruned> {
    let mut out = Pruned::default();
    if let Some(cut) = r.events_before_ms {
        let oldest = links(
            tx,
            "SELECT seq, at_ms, '' FROM events ORDER BY seq LIMIT ?1",
        )?;
        let newest = newest(tx, "SELECT COALESCE(MAX(seq), 0) FROM events")?;
        if let Some((last, n)) = prunable(&oldest, cut, newest) {
            tx.execute("DELETE FROM events WHERE seq <= ?1", [last.num])
                .map_err(backend)?;
            set_meta(tx, "event_horizon", &last.num.to_string())?;
            out.events = n;
        }
    }
    if let Some(cut) = r.audit_before_ms {
        let oldest = links(
            tx,
            "SELECT seq, at_ms, hash FROM audit ORDER BY seq LIMIT ?1",
        )?;
        let newest = newest(tx, "SELECT COALESCE(MAX(seq), 0) FROM audit")?;
        if let Some((last, n)) = prunable(&oldest, cut, newest) {
            let mut anchors =
                AuditAnchors::from_json(meta(tx, "audit_anchors").map_err(backend)?.as_deref())?;
            tx.execute("DELETE FROM audit WHERE seq <= ?1", [last.num])
                .map_err(backend)?;
            anchors.records = Some(advance(anchors.records.as_ref(), last, n));
            out.audit = n;
            set_meta(tx, "audit_anchors", &anchors.to_json())?;
            let note = NewAudit {
                at_ms: r.now_ms,
                body: anchors.record(r, out),
            };
            append_audit(tx, &note, key)?;
        }
    }
    Ok(out)
}

pub(super) fn meta(c: &rusqlite::Connection, key: &str) -> rusqlite::Result<Option<String>> {
    c.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()
}

fn set_meta(tx: &Transaction<'_>, key: &str, value: &str) -> Result<()> {
    tx.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )
    .map_err(backend)?;
    Ok(())
}

fn links(tx: &Transaction<'_>, sql: &str) -> Result<Vec<Link>> {
    let mut st = tx.prepare_cached(sql).map_err(backend)?;
    let rows = st
        .query_map([PRUNE_BATCH as i64], |r| {
            Ok(Link {
                num: r.get(0)?,
                at_ms: r.get(1)?,
                hash: r.get(2)?,
            })
        })
        .map_err(backend)?;
    rows.collect::<rusqlite::Result<_>>().map_err(backend)
}

fn newest(tx: &Transaction<'_>, sql: &str) -> Result<i64> {
    tx.query_row(sql, [], |r| r.get(0)).map_err(backend)
}
