//! Every secret of a server (or those whose name starts with a prefix), with
//! its description, tags, resource policy and labelled versions.

use super::{describe, SecretRecord, VersionRecord};
use crate::progress::Bar;
use aws_sdk_secretsmanager as sm;
use base64::Engine as _;
use sm::types::{Filter, FilterNameStringType};

/// Every secret's listing entry (name, description, tags, version id →
/// labels), page by page; with a prefix, only the names that start with it.
pub async fn list(
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
            None => break,
        }
    }
    // The name filter is a prefix; a server that matched words instead would
    // give more.
    out.retain(|e| prefix.is_none_or(|p| e.name().unwrap_or_default().starts_with(p)));
    Ok(out)
}

/// Reads every secret, by name; a secret that cannot be read is reported
/// and left out, so one refusal does not stop the others.
pub async fn read_all(
    client: &sm::Client,
    prefix: Option<&str>,
    failed: &mut Vec<(String, String)>,
) -> anyhow::Result<Vec<SecretRecord>> {
    let entries = list(client, prefix).await?;
    let total = entries.len();
    let mut bar = Bar::new();
    let mut out = Vec::with_capacity(total);
    let mut done = 0;
    let work = |e: sm::types::SecretListEntry| {
        let client = client.clone();
        async move {
            let name = e.name().unwrap_or_default().to_string();
            read_one(&client, &e).await.map_err(|why| (name, why))
        }
    };
    super::bounded(entries, work, |read| {
        match read {
            Ok(r) => out.push(r),
            Err(f) => failed.push(f),
        }
        done += 1;
        bar.show("reading", done, total);
    })
    .await;
    bar.finish();
    // Read in the order they finished; written in a stable one.
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// One secret as the listing and its reads give it.
pub async fn read_one(
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
        // AWS keeps no empty description; some servers may list one.
        description: e
            .description()
            .filter(|d| !d.is_empty())
            .map(str::to_string),
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
