//! Makes records true on a destination server, doing only what differs: a
//! missing secret is created with its current version, then its other
//! labelled versions put under their own ids; an existing one gets the
//! description, tags, versions, labels and policy it lacks. Tags and labels
//! the destination has beyond the record are left as they are.

use super::{describe, SecretRecord, Summary, VersionRecord};
use crate::progress::Bar;
use aws_sdk_secretsmanager as sm;
use base64::Engine as _;
use sm::primitives::Blob;
use std::collections::HashMap;

enum Outcome {
    Created,
    Updated,
    Unchanged,
}

pub async fn write_all(client: &sm::Client, records: &[SecretRecord], dry_run: bool) -> Summary {
    let mut summary = Summary::default();
    let mut bar = Bar::new();
    for (i, r) in records.iter().enumerate() {
        match write_one(client, r, dry_run).await {
            Ok(Outcome::Created) => summary.created += 1,
            Ok(Outcome::Updated) => summary.updated += 1,
            Ok(Outcome::Unchanged) => summary.unchanged += 1,
            Err(why) => summary.failed.push((r.name.clone(), why)),
        }
        bar.show(
            if dry_run { "checking" } else { "writing" },
            i + 1,
            records.len(),
        );
    }
    bar.finish();
    summary
}

fn binary(v: &VersionRecord) -> Result<Option<Blob>, String> {
    v.binary
        .as_deref()
        .map(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b)
                .map(Blob::new)
                .map_err(|_| "a binary value is not base64".to_string())
        })
        .transpose()
}

async fn write_one(
    client: &sm::Client,
    r: &SecretRecord,
    dry_run: bool,
) -> Result<Outcome, String> {
    if !r.versions.iter().any(VersionRecord::current) {
        return Err("the record has no AWSCURRENT version".into());
    }
    let found = client.describe_secret().secret_id(&r.name).send().await;
    let existing = match found {
        Ok(d) => d,
        Err(e)
            if e.as_service_error()
                .is_some_and(sm::operation::describe_secret::DescribeSecretError::is_resource_not_found_exception) =>
        {
            if !dry_run {
                create(client, r).await?;
            }
            return Ok(Outcome::Created);
        }
        Err(e) => return Err(format!("DescribeSecret: {}", describe(&e))),
    };
    let changed = update(client, r, &existing, dry_run).await?;
    Ok(if changed {
        Outcome::Updated
    } else {
        Outcome::Unchanged
    })
}

async fn create(client: &sm::Client, r: &SecretRecord) -> Result<(), String> {
    let current = r
        .versions
        .iter()
        .find(|v| v.current())
        .ok_or("no current version")?;
    let tags: Vec<sm::types::Tag> = r
        .tags
        .iter()
        .map(|(k, v)| sm::types::Tag::builder().key(k).value(v).build())
        .collect();
    client
        .create_secret()
        .name(&r.name)
        .set_description(r.description.clone())
        .set_tags((!tags.is_empty()).then_some(tags))
        .set_secret_string(current.string.clone())
        .set_secret_binary(binary(current)?)
        .set_client_request_token(current.id.clone())
        .send()
        .await
        .map_err(|e| format!("CreateSecret: {}", describe(&e)))?;
    let stages = HashMap::from([(
        current.id.clone().unwrap_or_default(),
        vec!["AWSCURRENT".to_string()],
    )]);
    versions(client, r, &stages, false).await?;
    if let Some(p) = &r.policy {
        put_policy(client, &r.name, p).await?;
    }
    Ok(())
}

/// Brings an existing secret in line; whether anything differed.
async fn update(
    client: &sm::Client,
    r: &SecretRecord,
    d: &sm::operation::describe_secret::DescribeSecretOutput,
    dry_run: bool,
) -> Result<bool, String> {
    let mut changed = false;
    if r.description.is_some() && r.description.as_deref() != d.description() {
        changed = true;
        if !dry_run {
            client
                .update_secret()
                .secret_id(&r.name)
                .set_description(r.description.clone())
                .send()
                .await
                .map_err(|e| format!("UpdateSecret: {}", describe(&e)))?;
        }
    }
    let have: HashMap<&str, &str> = d
        .tags()
        .iter()
        .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()))
        .collect();
    let missing: Vec<sm::types::Tag> = r
        .tags
        .iter()
        .filter(|(k, v)| have.get(k.as_str()) != Some(&v.as_str()))
        .map(|(k, v)| sm::types::Tag::builder().key(k).value(v).build())
        .collect();
    if !missing.is_empty() {
        changed = true;
        if !dry_run {
            client
                .tag_resource()
                .secret_id(&r.name)
                .set_tags(Some(missing))
                .send()
                .await
                .map_err(|e| format!("TagResource: {}", describe(&e)))?;
        }
    }
    let stages = d.version_ids_to_stages().cloned().unwrap_or_default();
    changed |= versions(client, r, &stages, dry_run).await?;
    if let Some(p) = &r.policy {
        let now = client
            .get_resource_policy()
            .secret_id(&r.name)
            .send()
            .await
            .map_err(|e| format!("GetResourcePolicy: {}", describe(&e)))?;
        let same = now.resource_policy().is_some_and(|have| same_json(have, p));
        if !same {
            changed = true;
            if !dry_run {
                put_policy(client, &r.name, p).await?;
            }
        }
    }
    Ok(changed)
}

fn same_json(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<serde_json::Value>(a),
        serde_json::from_str::<serde_json::Value>(b),
    ) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

async fn put_policy(client: &sm::Client, name: &str, policy: &str) -> Result<(), String> {
    client
        .put_resource_policy()
        .secret_id(name)
        .resource_policy(policy)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("PutResourcePolicy: {}", describe(&e)))
}

/// Puts the versions the destination lacks and moves the labels it has
/// elsewhere; the current version last, so AWSCURRENT moves once.
async fn versions(
    client: &sm::Client,
    r: &SecretRecord,
    stages: &HashMap<String, Vec<String>>,
    dry_run: bool,
) -> Result<bool, String> {
    let mut order: Vec<&VersionRecord> = r.versions.iter().collect();
    order.sort_by_key(|v| v.current());
    let mut changed = false;
    for v in order {
        let Some(id) = &v.id else {
            changed |= new_value(client, &r.name, v, dry_run).await?;
            continue;
        };
        let Some(labels) = stages.get(id) else {
            changed = true;
            if !dry_run {
                client
                    .put_secret_value()
                    .secret_id(&r.name)
                    .client_request_token(id)
                    .set_secret_string(v.string.clone())
                    .set_secret_binary(binary(v)?)
                    .set_version_stages(Some(v.labels.clone()))
                    .send()
                    .await
                    .map_err(|e| format!("PutSecretValue: {}", describe(&e)))?;
            }
            continue;
        };
        for label in v.labels.iter().filter(|l| !labels.contains(l)) {
            changed = true;
            if dry_run {
                continue;
            }
            let holder = stages
                .iter()
                .find(|(_, ls)| ls.contains(label))
                .map(|(id, _)| id.clone());
            client
                .update_secret_version_stage()
                .secret_id(&r.name)
                .version_stage(label)
                .move_to_version_id(id)
                .set_remove_from_version_id(holder)
                .send()
                .await
                .map_err(|e| format!("UpdateSecretVersionStage: {}", describe(&e)))?;
        }
    }
    Ok(changed)
}

/// A value without a version id (from a file): put as a new current version
/// unless the current one holds it already.
async fn new_value(
    client: &sm::Client,
    name: &str,
    v: &VersionRecord,
    dry_run: bool,
) -> Result<bool, String> {
    let now = client.get_secret_value().secret_id(name).send().await;
    let same = match &now {
        Ok(c) => {
            c.secret_string() == v.string.as_deref()
                && c.secret_binary().map(|b| b.as_ref().to_vec())
                    == binary(v)?.map(Blob::into_inner)
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(sm::operation::get_secret_value::GetSecretValueError::is_resource_not_found_exception) =>
        {
            false
        }
        Err(e) => return Err(format!("GetSecretValue: {}", describe(e))),
    };
    if same {
        return Ok(false);
    }
    if !dry_run {
        client
            .put_secret_value()
            .secret_id(name)
            .set_secret_string(v.string.clone())
            .set_secret_binary(binary(v)?)
            .send()
            .await
            .map_err(|e| format!("PutSecretValue: {}", describe(&e)))?;
    }
    Ok(true)
}
