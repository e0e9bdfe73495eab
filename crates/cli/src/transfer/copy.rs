//! `import aws`: each secret of the source read and written to the
//! destination in turn, several at once. Reading one secret and writing it
//! straight away (rather than reading them all first) means the destination
//! fills from the start, so a run cut short has kept what it did and the
//! next one resumes from there.

use super::write::{self, Fit};
use super::{read, tally, Outcome, Summary};
use aws_sdk_secretsmanager as sm;

/// Copies every secret of `source` (those whose name starts with `prefix`)
/// onto `dest`, each made to mirror the source's (see [`Fit::Mirror`]).
pub async fn copy_all(
    source: &sm::Client,
    dest: &sm::Client,
    prefix: Option<&str>,
    dry_run: bool,
) -> anyhow::Result<Summary> {
    let entries = read::list(source, prefix).await?;
    let stage = if dry_run { "checking" } else { "importing" };
    let work = |e| copy_one(source.clone(), dest.clone(), e, dry_run);
    Ok(tally(entries, stage, work).await)
}

async fn copy_one(
    source: sm::Client,
    dest: sm::Client,
    entry: sm::types::SecretListEntry,
    dry_run: bool,
) -> (String, Result<Outcome, String>) {
    let name = entry.name().unwrap_or_default().to_string();
    let outcome = match read::read_one(&source, &entry).await {
        Ok(r) => write::write_one(&dest, &r, Fit::Mirror, dry_run).await,
        Err(why) => Err(format!("reading the source: {why}")),
    };
    (name, outcome)
}
