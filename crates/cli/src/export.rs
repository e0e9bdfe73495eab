//! `coffer audit export`: the audit trail as JSON lines for a SIEM, oldest
//! first: the store's mutations and the read records and refused calls (the
//! data directory's audit file; in a PostgreSQL store, every server's copy),
//! from `--since` on. Pruning records of Coffer's own are left out. Read-only;
//! the server may be running.

use anyhow::Context;
use coffer_store::Store;
use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;

pub struct ExportOptions {
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub database_ca_file: Option<PathBuf>,
    /// RFC 3339 time, or an age (`90m`, `24h`, `7d`).
    pub since: Option<String>,
    pub format: String,
}

/// `since` as epoch milliseconds.
pub fn since_ms(since: &str, now_ms: i64) -> anyhow::Result<i64> {
    let age =
        |n: &str, unit: i64| -> Option<i64> { n.parse::<i64>().ok().map(|n| now_ms - n * unit) };
    let relative = match since.chars().last() {
        Some('m') => age(&since[..since.len() - 1], 60_000),
        Some('h') => age(&since[..since.len() - 1], 3_600_000),
        Some('d') => age(&since[..since.len() - 1], 86_400_000),
        _ => None,
    };
    if let Some(ms) = relative {
        return Ok(ms);
    }
    let t = time::OffsetDateTime::parse(since, &time::format_description::well_known::Rfc3339)
        .with_context(|| {
            format!("--since {since:?}: give an RFC 3339 time or an age such as 24h or 7d")
        })?;
    Ok((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

fn time_ms(rec: &Value) -> i64 {
    rec["eventTime"]
        .as_str()
        .and_then(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
        })
        .map_or(0, |t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
}

pub async fn export(o: &ExportOptions, out: &mut impl Write) -> anyhow::Result<usize> {
    anyhow::ensure!(o.format == "jsonl", "--format must be jsonl");
    let now = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
    let from = o
        .since
        .as_deref()
        .map(|s| since_ms(s, now))
        .transpose()?
        .unwrap_or(i64::MIN);
    let store: Box<dyn Store> = match (&o.database_url, &o.data_dir) {
        (Some(url), _) => Box::new(
            coffer_store::postgres::PgStore::open_existing(&coffer_store::postgres::Target::new(
                url,
                o.database_ca_file.as_deref(),
            )?)
            .await
            .with_context(|| coffer_store::postgres::redact(url))?,
        ),
        (None, Some(dir)) => Box::new(coffer_store::sqlite::SqliteStore::open(
            &dir.join("coffer.db"),
        )?),
        (None, None) => anyhow::bail!("give --data-dir, --database-url, or both"),
    };
    let mut records = Vec::new();
    let mut after = 0;
    loop {
        let batch = store.audit_records(after, 1000).await?;
        let Some(last) = batch.last() else { break };
        after = last.seq;
        records.extend(
            batch
                .iter()
                .filter_map(|r| serde_json::from_str::<Value>(&r.body).ok()),
        );
    }
    if o.database_url.is_some() {
        for server in store.shipped_servers().await? {
            let mut after = 0;
            loop {
                let batch = store.shipped_lines(&server, after, 1000).await?;
                let Some(last) = batch.last() else { break };
                after = last.line;
                records.extend(
                    batch
                        .iter()
                        .filter_map(|l| serde_json::from_str::<Value>(&l.body).ok()),
                );
            }
        }
    } else if let Some(dir) = &o.data_dir {
        let text = std::fs::read_to_string(dir.join("audit.log")).unwrap_or_default();
        records.extend(
            text.lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .map(|mut v| v["record"].take()),
        );
    }
    store.close().await?;
    let mut kept: Vec<(i64, Value)> = records
        .into_iter()
        .filter(|r| r["eventSource"] != "coffer.internal")
        .map(|r| (time_ms(&r), r))
        .filter(|(t, _)| *t >= from)
        .collect();
    kept.sort_by_key(|(t, _)| *t);
    for (_, r) in &kept {
        writeln!(out, "{r}")?;
    }
    Ok(kept.len())
}

#[cfg(test)]
mod tests {
    #[test]
    fn since_takes_times_and_ages() {
        let now = 10 * 86_400_000;
        assert_eq!(super::since_ms("24h", now).unwrap(), 9 * 86_400_000);
        assert_eq!(super::since_ms("2d", now).unwrap(), 8 * 86_400_000);
        assert_eq!(super::since_ms("30m", now).unwrap(), now - 1_800_000);
        assert_eq!(
            super::since_ms("1970-01-02T00:00:00Z", now).unwrap(),
            86_400_000
        );
        assert!(super::since_ms("yesterday", now).is_err());
    }
}
