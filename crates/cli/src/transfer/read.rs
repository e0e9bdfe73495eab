//! Every secret of a server (or those whose name starts with a prefix), with
//! its description, tags, resource policy and labelled versions.

use super::{describe, SecretRecord, VersionRecord};
use crate::progress::Bar;
use aws_sdk_secretsmanager as sm;
use base64::Engine as _;
use sm::types::{Filter, FilterNameStringType};

/// The names and (version id → labels) of every secret, listed page by page.
async fn list(
    client: &sm::Client,
    prefix: Option<&str>,
) -> anyhow::Result<Vec<sm::types::SecretListEntry>> {
    let mut out = Vec::new();
    let mut next = None;
    loop {
        let mut req = client
            .list_secrets()
            .max_results(100)
            .set_next_token(next.take());
        if let Some(p) = prefix {
            req = req.filters(
                Filter::builder()
                    .key(FilterNameStringType::Name)
                    .values(p)
                    .build(),
            );
        }
        let page = req
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("ListSecrets: {}", describe(&e)))?;
        out.extend(page.secret_list().iter().cloned());
        match page.next_token() {
            Some(t) => next = Some(t.to_string()),
            None => return Ok(out),
        }
    }
}

/// Reads every secret; a secret that cannot be read is reported and left
/// out, so one refusal does not stop the others.
pub async fn read_all(
    client: &sm::Client,
    prefix: Option<&str>,
    failed: &mut Vec<(String, String)>,
) -> anyhow::Result<Vec<SecretRecord>> {
    let entries = list(client, prefix).await?;
    let mut bar = Bar::new();
    let mut out = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        let name = e.name().unwrap_or_default().to_string();
        // The name filter is a prefix; a server that matched words instead
        // would give more.
        if prefix.is_some_and(|p| !name.starts_with(p)) {
            continue;
        }
        match read_one(client, e).await {
            Ok(r) => out.push(r),
            Err(why) => failed.push((name, why)),
        }
        bar.show("reading", i + 1, entries.len());
    }
    bar.finish();
    Ok(out)
}

async fn read_one(
    client: &sm::Client,
    e: &sm::types::SecretListEntry,
) -> Result<SecretRecord, String> {
    let name = e.name().unwrap_or_default();
    let id = e.arn().unwrap_or(name);
    let policy = client
        .get_resource_policy()
        .secret_id(id)
        .send()
        .await
        .map_err(|e| format!("GetResourcePolicy: {}", describe(&e)))?
        .resource_policy()
        .map(str::to_string);
    let mut versions = Vec::new();
    let stages = e.secret_versions_to_stages().cloned().unwrap_or_default();
    for (version, labels) in stages {
        let v = client
            .get_secret_value()
            .secret_id(id)
            .version_id(&version)
            .send()
            .await
            .map_err(|e| format!("GetSecretValue: {}", describe(&e)))?;
        let created = v
            .created_date()
            .map_or(0, sm::primitives::DateTime::as_nanos);
        let mut labels = labels;
        labels.sort();
        versions.push((
            created,
            VersionRecord {
                id: Some(version),
                labels,
                string: v.secret_string().map(str::to_string),
                binary: v
                    .secret_binary()
                    .map(|b| base64::engine::general_purpose::STANDARD.encode(b.as_ref())),
            },
        ));
    }
    // Oldest first, the current version last among equals.
    versions.sort_by_key(|(created, v)| (*created, v.current()));
    Ok(SecretRecord {
        name: name.to_string(),
        description: e.description().map(str::to_string),
        tags: e
            .tags()
            .iter()
            .map(|t| {
                (
                    t.key().unwrap_or_default().to_string(),
                    t.value().unwrap_or_default().to_string(),
                )
            })
            .collect(),
        policy,
        versions: versions.into_iter().map(|(_, v)| v).collect(),
    })
}
