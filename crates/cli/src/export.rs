//! `coffer audit export`: the audit trail as JSON lines for a SIEM, oldest
//! first: the store's mutations and the read records and refused calls (the
//! data directory's audit file; in a PostgreSQL store, every server's copy),
//! from `--since` on. Pruning records of Coffer's own are left out. Read-only;
//! the server may be running. Records are streamed: the sources are merged by
//! time a batch at a time (`coffer_core::trail::merged`), so a year's trail
//! is never held in memory.

use anyhow::Context;
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

pub async fn export(o: &ExportOptions, out: &mut impl Write) -> anyhow::Result<usize> {
    anyhow::ensure!(o.format == "jsonl", "--format must be jsonl");
    let now = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
    let from = o
        .since
        .as_deref()
        .map(|s| since_ms(s, now))
        .transpose()?
        .unwrap_or(i64::MIN);
    let store = crate::verify::open_store(
        o.data_dir.as_deref(),
        o.database_url.as_deref(),
        o.database_ca_file.as_deref(),
    )
    .await?;
    let shared = o.database_url.is_some();
    let file = match (&o.data_dir, shared) {
        (Some(dir), false) => Some(dir.join("audit.log")),
        _ => None,
    };
    let mut written = 0;
    let mut failed = None;
    let result = async {
        let sources = coffer_core::trail::sources(&*store, shared, file)
            .await
            .map_err(|e| e.to_string())?;
        coffer_core::trail::merged(sources, |at_ms, r| {
            let keep = r["eventSource"] != "coffer.internal" && at_ms >= from;
            if keep {
                match writeln!(out, "{r}") {
                    Ok(()) => written += 1,
                    Err(e) => failed = Some(e),
                }
            }
            failed.is_none()
        })
        .await
    }
    .await;
    store.close().await?;
    result.map_err(|e| anyhow::anyhow!("reading the audit trail: {e}"))?;
    if let Some(e) = failed {
        return Err(e).context("writing the export");
    }
    Ok(written)
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
