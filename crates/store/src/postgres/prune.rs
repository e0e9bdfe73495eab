//! Retention on PostgreSQL (see [`crate::retention`]). One transaction under
//! the append lock (`write::append`): the chain's head cannot move while its
//! tail is cut and its pruning record appended, and only the fleet's leader
//! prunes.

use super::error::pg_err;
use super::prepared::{Statements, Writer};
use super::write::{append, APPEND_LOCK};
use crate::retention::{advance, prunable, AuditAnchors, Link, PRUNE_BATCH};
use crate::{ChainKey, NewAudit, Pruned, Result, Retention};
use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, Transaction};

pub async fn prune(tx: &Transaction<'_>, r: &Retention, key: Option<&ChainKey>) -> Result<Pruned> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&APPEND_LOCK])
        .await
        .map_err(pg_err)?;
    let mut out = Pruned::default();
    let batch = PRUNE_BATCH as i64;
    if let Some(cut) = r.events_before_ms {
        let oldest = links(
            tx,
            "SELECT seq, at_ms, '' FROM events ORDER BY seq LIMIT $1",
            &[&batch],
        )
        .await?;
        let newest = newest(tx, "SELECT COALESCE(MAX(seq), 0)::bigint FROM events", &[]).await?;
        if let Some((last, n)) = prunable(&oldest, cut, newest) {
            tx.execute("DELETE FROM events WHERE seq <= $1", &[&last.num])
                .await
                .map_err(pg_err)?;
            set_meta(tx, "event_horizon", &last.num.to_string()).await?;
            out.events = n;
        }
    }
    let Some(cut) = r.audit_before_ms else {
        return Ok(out);
    };
    let mut anchors = AuditAnchors::from_json(meta(tx, "audit_anchors").await?.as_deref())?;
    let oldest = links(
        tx,
        "SELECT seq, at_ms, hash FROM audit ORDER BY seq LIMIT $1",
        &[&batch],
    )
    .await?;
    let newest_seq = newest(tx, "SELECT COALESCE(MAX(seq), 0)::bigint FROM audit", &[]).await?;
    if let Some((last, n)) = prunable(&oldest, cut, newest_seq) {
        tx.execute("DELETE FROM audit WHERE seq <= $1", &[&last.num])
            .await
            .map_err(pg_err)?;
        anchors.records = Some(advance(anchors.records.as_ref(), last, n));
        out.audit = n;
    }
    for server in servers(tx).await? {
        let oldest = links(
            tx,
            "SELECT line, at_ms, hash FROM audit_shipped WHERE server_id = $2 ORDER BY line LIMIT $1",
            &[&batch, &server],
        )
        .await?;
        let newest_line = newest(
            tx,
            "SELECT COALESCE(MAX(line), 0)::bigint FROM audit_shipped WHERE server_id = $1",
            &[&server],
        )
        .await?;
        if let Some((last, n)) = prunable(&oldest, cut, newest_line) {
            tx.execute(
                "DELETE FROM audit_shipped WHERE server_id = $1 AND line <= $2",
                &[&server, &last.num],
            )
            .await
            .map_err(pg_err)?;
            let a = advance(anchors.servers.get(&server), last, n);
            anchors.servers.insert(server, a);
            out.shipped += n;
        }
    }
    if out.audit + out.shipped > 0 {
        set_meta(tx, "audit_anchors", &anchors.to_json()).await?;
        let note = NewAudit {
            at_ms: r.now_ms,
            body: anchors.record(r, out),
        };
        let once = Statements::default();
        append(&Writer::new(tx, &once), &[&note], &[], key).await?;
    }
    Ok(out)
}

pub async fn meta(c: &impl GenericClient, key: &str) -> Result<Option<String>> {
    let row = c
        .query_opt("SELECT value FROM coffer_meta WHERE key = $1", &[&key])
        .await
        .map_err(pg_err)?;
    Ok(row.map(|r| r.get(0)))
}

async fn set_meta(tx: &Transaction<'_>, key: &str, value: &str) -> Result<()> {
    tx.execute(
        "INSERT INTO coffer_meta (key, value) VALUES ($1, $2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        &[&key, &value],
    )
    .await
    .map_err(pg_err)?;
    Ok(())
}

async fn servers(tx: &Transaction<'_>) -> Result<Vec<String>> {
    let rows = tx
        .query("SELECT DISTINCT server_id FROM audit_shipped", &[])
        .await
        .map_err(pg_err)?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

async fn links(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Link>> {
    let rows = tx.query(sql, params).await.map_err(pg_err)?;
    Ok(rows
        .iter()
        .map(|r| Link {
            num: r.get(0),
            at_ms: r.get(1),
            hash: r.get(2),
        })
        .collect())
}

async fn newest(tx: &Transaction<'_>, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<i64> {
    let row = tx.query_one(sql, params).await.map_err(pg_err)?;
    Ok(row.get(0))
}
