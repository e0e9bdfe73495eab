//! Makes records true on a destination server, doing only what differs: a
//! missing secret is created with its current version, then its other
//! labelled versions put under their own ids; an existing one is brought in
//! line field by field (description, tags, versions and labels, policy).
//! What becomes of what the destination has and the record lacks is the
//! [`Fit`]'s to say. Every step looks at the destination as it is, so a run
//! cut short anywhere is finished by the next.

use super::{describe, tally, Outcome, SecretRecord, Summary, VersionRecord};
use aws_sdk_secretsmanager as sm;
use base64::Engine as _;
use sm::operation::describe_secret::{DescribeSecretError, DescribeSecretOutput};
use sm::primitives::Blob;
use std::collections::{HashMap, HashSet};

const CURRENT: &str = "AWSCURRENT";

/// Version id → labels, as DescribeSecret gives them.
type Stages = HashMap<String, Vec<String>>;

/// What a write does with what the destination's secret has beyond the
/// record.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// Add and change only: tags, labels, a description and a policy the
    /// record lacks are kept (a file says nothing of them).
    Merge,
    /// The secret ends as the record has it: tags and labels the record
    /// lacks are removed, the description cleared and the policy deleted
    /// when it has none (the source dropped them since the last run).
    Mirror,
}

/// Writes every record, several at once. A name given twice (a `.env` that
/// sets a variable again) is written once, as its last record says, as the
/// file's readers take it: two writes of one secret at once would race.
pub async fn write_all(
    client: &sm::Client,
    records: Vec<SecretRecord>,
    fit: Fit,
    dry_run: bool,
) -> Summary {
    let stage = if dry_run { "checking" } else { "writing" };
    let work = |r: SecretRecord| {
        let client = client.clone();
        async move {
            let outcome = write_one(&client, &r, fit, dry_run).await;
            (r.name, outcome)
        }
    };
    tally(last_per_name(records), stage, work).await
}

fn last_per_name(records: Vec<SecretRecord>) -> Vec<SecretRecord> {
    let mut seen = HashSet::new();
    let mut out: Vec<SecretRecord> = records
        .into_iter()
        .rev()
        .filter(|r| seen.insert(r.name.clone()))
        .collect();
    out.reverse();
    out
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

/// Makes one record true on the destination.
pub async fn write_one(
    client: &sm::Client,
    r: &SecretRecord,
    fit: Fit,
    dry_run: bool,
) -> Result<Outcome, String> {
    if !r.versions.iter().any(VersionRecord::current) {
        return Err("the record has no AWSCURRENT version".into());
    }
    let Some(existing) = find(client, &r.name).await? else {
        if !dry_run {
            create(client, r, fit).await?;
        }
        return Ok(Outcome::Created);
    };
    if existing.deleted_date().is_some() {
        // Every write would be refused; say why once.
        return Err("scheduled for deletion on the destination (RestoreSecret it first)".into());
    }
    Ok(if update(client, r, &existing, fit, dry_run).await? {
        Outcome::Updated
    } else {
        Outcome::Unchanged
    })
}

/// The destination's secret by that name, if it has one.
async fn find(client: &sm::Client, name: &str) -> Result<Option<DescribeSecretOutput>, String> {
    match client.describe_secret().secret_id(name).send().await {
        Ok(d) => Ok(Some(d)),
        Err(e)
            if e.as_service_error()
                .is_some_and(DescribeSecretError::is_resource_not_found_exception) =>
        {
            Ok(None)
        }
        Err(e) => Err(format!("DescribeSecret: {}", describe(&e))),
    }
}

/// Where the destination's labels are now.
async fn stages_now(client: &sm::Client, name: &str) -> Result<Stages, String> {
    let d = find(client, name)
        .await?
        .ok_or("the secret was deleted on the destination meanwhile")?;
    Ok(d.version_ids_to_stages().cloned().unwrap_or_default())
}

async fn create(client: &sm::Client, r: &SecretRecord, fit: Fit) -> Result<(), String> {
    let current = r
        .versions
        .iter()
        .find(|v| v.current())
        .ok_or("no current version")?;
    let tags: Vec<sm::types::Tag> = r.tags.iter().map(|(k, v)| tag(k, v)).collect();
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
    if let Some(id) = &current.id {
        // What CreateSecret leaves: the current version, labelled AWSCURRENT.
        let stages = Stages::from([(id.clone(), vec![CURRENT.to_string()])]);
        labelled_versions(client, r, stages, fit, false).await?;
    }
    if let Some(p) = &r.policy {
        put_policy(client, &r.name, p).await?;
    }
    Ok(())
}

/// Brings an existing secret in line; whether anything differed.
async fn update(
    client: &sm::Client,
    r: &SecretRecord,
    d: &DescribeSecretOutput,
    fit: Fit,
    dry_run: bool,
) -> Result<bool, String> {
    let mut changed = description(client, r, d, fit, dry_run).await?;
    changed |= tags(client, r, d, fit, dry_run).await?;
    for v in r.versions.iter().filter(|v| v.id.is_none()) {
        changed |= new_value(client, &r.name, v, dry_run).await?;
    }
    let stages = d.version_ids_to_stages().cloned().unwrap_or_default();
    changed |= labelled_versions(client, r, stages, fit, dry_run).await?;
    changed |= policy(client, r, fit, dry_run).await?;
    Ok(changed)
}

async fn description(
    client: &sm::Client,
    r: &SecretRecord,
    d: &DescribeSecretOutput,
    fit: Fit,
    dry_run: bool,
) -> Result<bool, String> {
    // AWS keeps no empty description: empty and none are the same.
    let want = r.description.as_deref().filter(|s| !s.is_empty());
    let have = d.description().filter(|s| !s.is_empty());
    if want == have || (want.is_none() && fit == Fit::Merge) {
        return Ok(false);
    }
    if !dry_run {
        // An empty description clears it.
        client
            .update_secret()
            .secret_id(&r.name)
            .description(want.unwrap_or_default())
            .send()
            .await
            .map_err(|e| format!("UpdateSecret: {}", describe(&e)))?;
    }
    Ok(true)
}

fn tag(key: &str, value: &str) -> sm::types::Tag {
    sm::types::Tag::builder().key(key).value(value).build()
}

async fn tags(
    client: &sm::Client,
    r: &SecretRecord,
    d: &DescribeSecretOutput,
    fit: Fit,
    dry_run: bool,
) -> Result<bool, String> {
    let have: HashMap<&str, &str> = d
        .tags()
        .iter()
        .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()))
        .collect();
    let set: Vec<sm::types::Tag> = r
        .tags
        .iter()
        .filter(|(k, v)| have.get(k.as_str()) != Some(&v.as_str()))
        .map(|(k, v)| tag(k, v))
        .collect();
    let unset: Vec<String> = match fit {
        Fit::Merge => Vec::new(),
        Fit::Mirror => have
            .keys()
            .filter(|k| !r.tags.iter().any(|(want, _)| want == *k))
            .map(|k| (*k).to_string())
            .collect(),
    };
    if set.is_empty() && unset.is_empty() {
        return Ok(false);
    }
    if dry_run {
        return Ok(true);
    }
    if !unset.is_empty() {
        client
            .untag_resource()
            .secret_id(&r.name)
            .set_tag_keys(Some(unset))
            .send()
            .await
            .map_err(|e| format!("UntagResource: {}", describe(&e)))?;
    }
    if !set.is_empty() {
        client
            .tag_resource()
            .secret_id(&r.name)
            .set_tags(Some(set))
            .send()
            .await
            .map_err(|e| format!("TagResource: {}", describe(&e)))?;
    }
    Ok(true)
}

async fn policy(
    client: &sm::Client,
    r: &SecretRecord,
    fit: Fit,
    dry_run: bool,
) -> Result<bool, String> {
    if r.policy.is_none() && fit == Fit::Merge {
        return Ok(false);
    }
    let have = client
        .get_resource_policy()
        .secret_id(&r.name)
        .send()
        .await
        .map_err(|e| format!("GetResourcePolicy: {}", describe(&e)))?
        .resource_policy()
        .filter(|p| !p.is_empty())
        .map(str::to_string);
    match (&r.policy, have) {
        (None, None) => Ok(false),
        (Some(want), Some(have)) if same_json(&have, want) => Ok(false),
        (Some(want), _) => {
            if !dry_run {
                put_policy(client, &r.name, want).await?;
            }
            Ok(true)
        }
        (None, Some(_)) => {
            if !dry_run {
                client
                    .delete_resource_policy()
                    .secret_id(&r.name)
                    .send()
                    .await
                    .map_err(|e| format!("DeleteResourcePolicy: {}", describe(&e)))?;
            }
            Ok(true)
        }
    }
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

/// Puts the versions with an id the destination lacks (under that id, with
/// their labels), then moves labels until each is on the version the record
/// has it on (and, mirroring, takes off those the record lacks). Whether
/// anything differed.
async fn labelled_versions(
    client: &sm::Client,
    r: &SecretRecord,
    mut stages: Stages,
    fit: Fit,
    dry_run: bool,
) -> Result<bool, String> {
    let missing: Vec<&VersionRecord> = r
        .versions
        .iter()
        .filter(|v| v.id.as_ref().is_some_and(|id| !stages.contains_key(id)))
        .collect();
    let changed = !missing.is_empty() || !plan(&stages, r, fit).is_empty();
    if dry_run || !changed {
        return Ok(changed);
    }
    for v in &missing {
        put_version(client, &r.name, v).await?;
    }
    if !missing.is_empty() {
        // A put moves other labels by the server's rules (a new AWSCURRENT
        // demotes the old one to AWSPREVIOUS and may drop AWSPENDING): read
        // where they ended rather than guess.
        stages = stages_now(client, &r.name).await?;
    }
    let mut moves = plan(&stages, r, fit);
    if let Some(first) = moves.first().filter(|m| m.label == CURRENT) {
        move_label(client, &r.name, first).await?;
        // Moving AWSCURRENT moves AWSPREVIOUS too: read again.
        stages = stages_now(client, &r.name).await?;
        moves = plan(&stages, r, fit);
    }
    for m in &moves {
        move_label(client, &r.name, m).await?;
    }
    Ok(true)
}

async fn put_version(client: &sm::Client, name: &str, v: &VersionRecord) -> Result<(), String> {
    client
        .put_secret_value()
        .secret_id(name)
        .set_client_request_token(v.id.clone())
        .set_secret_string(v.string.clone())
        .set_secret_binary(binary(v)?)
        .set_version_stages(Some(v.labels.clone()))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("PutSecretValue: {}", describe(&e)))
}

/// One UpdateSecretVersionStage: `label` onto `to` (none: only taken off)
/// and off `from`.
#[derive(Debug, PartialEq)]
struct LabelMove {
    label: String,
    to: Option<String>,
    from: Option<String>,
}

/// The label moves that make `stages` as the record has them: each of the
/// record's labels onto its version, AWSCURRENT first (moving it moves
/// AWSPREVIOUS too, so what follows is planned again after it); then,
/// mirroring, every label the record lacks taken off. AWSCURRENT is never
/// taken off: every record has it.
fn plan(stages: &Stages, r: &SecretRecord, fit: Fit) -> Vec<LabelMove> {
    let holder = |label: &str| {
        stages
            .iter()
            .find(|(_, ls)| ls.iter().any(|l| l == label))
            .map(|(id, _)| id.clone())
    };
    let mut moves = Vec::new();
    for v in &r.versions {
        let Some(id) = &v.id else { continue };
        for label in &v.labels {
            let from = holder(label);
            if from.as_ref() != Some(id) {
                moves.push(LabelMove {
                    label: label.clone(),
                    to: Some(id.clone()),
                    from,
                });
            }
        }
    }
    moves.sort_by_key(|m| m.label != CURRENT);
    if fit == Fit::Mirror {
        let wanted: HashSet<&str> = r
            .versions
            .iter()
            .flat_map(|v| v.labels.iter().map(String::as_str))
            .collect();
        for (id, labels) in stages {
            for label in labels.iter().filter(|l| !wanted.contains(l.as_str())) {
                moves.push(LabelMove {
                    label: label.clone(),
                    to: None,
                    from: Some(id.clone()),
                });
            }
        }
    }
    moves
}

async fn move_label(client: &sm::Client, name: &str, m: &LabelMove) -> Result<(), String> {
    client
        .update_secret_version_stage()
        .secret_id(name)
        .version_stage(&m.label)
        .set_move_to_version_id(m.to.clone())
        .set_remove_from_version_id(m.from.clone())
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("UpdateSecretVersionStage {}: {}", m.label, describe(&e)))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn version(id: &str, labels: &[&str]) -> VersionRecord {
        VersionRecord {
            id: Some(id.into()),
            labels: labels.iter().map(|l| (*l).to_string()).collect(),
            string: Some(id.into()),
            binary: None,
        }
    }

    fn record(name: &str, versions: Vec<VersionRecord>) -> SecretRecord {
        SecretRecord {
            name: name.into(),
            description: None,
            tags: vec![],
            policy: None,
            versions,
        }
    }

    fn stages(of: &[(&str, &[&str])]) -> Stages {
        of.iter()
            .map(|(id, ls)| {
                let labels = ls.iter().map(|l| (*l).to_string()).collect();
                ((*id).to_string(), labels)
            })
            .collect()
    }

    fn mv(label: &str, to: Option<&str>, from: Option<&str>) -> LabelMove {
        LabelMove {
            label: label.into(),
            to: to.map(str::to_string),
            from: from.map(str::to_string),
        }
    }

    /// After a rotation at the source: AWSCURRENT moves first, and mirroring
    /// takes off the AWSPENDING and the custom label the source dropped.
    #[test]
    fn mirroring_moves_current_first_and_drops_what_the_source_dropped() {
        let r = record(
            "s",
            vec![
                version("v2", &["AWSPREVIOUS"]),
                version("v3", &["AWSCURRENT"]),
            ],
        );
        let have = stages(&[
            ("v1", &["AWSPREVIOUS"]),
            ("v2", &["AWSCURRENT", "blue"]),
            ("v3", &["AWSPENDING"]),
        ]);
        let moves = plan(&have, &r, Fit::Mirror);
        assert_eq!(moves[0], mv("AWSCURRENT", Some("v3"), Some("v2")));
        assert_eq!(moves[1], mv("AWSPREVIOUS", Some("v2"), Some("v1")));
        let mut rest: Vec<_> = moves[2..].iter().map(|m| m.label.as_str()).collect();
        rest.sort_unstable();
        assert_eq!(rest, ["AWSPENDING", "blue"]);
        assert!(moves[2..].iter().all(|m| m.to.is_none()));
        // Merging keeps them.
        assert_eq!(plan(&have, &r, Fit::Merge).len(), 2);
    }

    #[test]
    fn a_secret_as_the_record_has_it_needs_no_move() {
        let r = record(
            "s",
            vec![
                version("v1", &["AWSPREVIOUS"]),
                version("v2", &["AWSCURRENT", "x"]),
            ],
        );
        let have = stages(&[("v1", &["AWSPREVIOUS"]), ("v2", &["x", "AWSCURRENT"])]);
        assert!(plan(&have, &r, Fit::Mirror).is_empty());
    }

    #[test]
    fn a_name_given_twice_is_written_as_its_last_record() {
        let records = vec![
            record("a", vec![version("1", &["AWSCURRENT"])]),
            record("b", vec![version("2", &["AWSCURRENT"])]),
            record("a", vec![version("3", &["AWSCURRENT"])]),
        ];
        let kept: Vec<_> = last_per_name(records)
            .into_iter()
            .map(|r| (r.name, r.versions[0].id.clone().unwrap()))
            .collect();
        assert_eq!(kept, [("b".into(), "2".into()), ("a".into(), "3".into())]);
    }
}
