//! `coffer import` and `coffer export`: secrets moved between a server that
//! speaks the Secrets Manager API (AWS, another Coffer) and Coffer, or through
//! files (`.env`, Vault KV JSON, an encrypted bundle).
//!
//! Everything becomes [`SecretRecord`]s, which [`write::write_one`] makes true
//! on the destination idempotently: a secret that is already as the record
//! says is left alone, so a rerun changes nothing and an interrupted run
//! resumes where it stopped. Version ids are kept, so a version imported
//! twice is the same version.

pub mod bundle;
pub mod cmd;
pub mod copy;
pub mod files;
pub mod read;
pub mod write;

use crate::progress::Bar;
use aws_sdk_secretsmanager as sm;
use serde::{Deserialize, Serialize};
use std::future::Future;

/// Secrets read or written at once. Each secret is a handful of calls made
/// one after another, so one at a time spends most of a run waiting on round
/// trips; eight keeps well under AWS's request quotas (and the SDK retries
/// a throttled call).
const CONCURRENCY: usize = 8;

/// One secret as moved. No `Debug`: it holds values.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct SecretRecord {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// Labelled versions, oldest first.
    pub versions: Vec<VersionRecord>,
}

/// One version: its id (None: whatever id the destination gives a new
/// value), labels and value.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct VersionRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub labels: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string: Option<String>,
    /// Base64 of a binary value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary: Option<String>,
}

impl VersionRecord {
    pub fn current(&self) -> bool {
        self.labels.iter().any(|l| l == "AWSCURRENT")
    }
}

/// What writing one secret did.
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
}

/// What a run did, per secret.
#[derive(Default)]
pub struct Summary {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// Secrets that could not be written, with the reason.
    pub failed: Vec<(String, String)>,
}

impl Summary {
    /// Counts one secret's outcome.
    pub fn add(&mut self, name: String, outcome: Result<Outcome, String>) {
        match outcome {
            Ok(Outcome::Created) => self.created += 1,
            Ok(Outcome::Updated) => self.updated += 1,
            Ok(Outcome::Unchanged) => self.unchanged += 1,
            Err(why) => self.failed.push((name, why)),
        }
    }

    /// Secrets counted so far.
    pub fn done(&self) -> usize {
        self.created + self.updated + self.unchanged + self.failed.len()
    }

    pub fn line(&self, dry_run: bool) -> String {
        let (c, u) = if dry_run {
            ("would create", "would update")
        } else {
            ("created", "updated")
        };
        format!(
            "{} {c}, {} {u}, {} unchanged, {} failed",
            self.created,
            self.updated,
            self.unchanged,
            self.failed.len()
        )
    }
}

/// Which end of a transfer a client speaks to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Coffer (import's destination, export's source), named by the standard
    /// chain (`AWS_ENDPOINT_URL` and the rest).
    Coffer,
    /// `import aws`'s source: the environment's endpoint is the destination's,
    /// so without `--source-endpoint` the source is AWS itself.
    Source,
}

/// A Secrets Manager client from the standard AWS chain (environment,
/// profile, SSO, container and instance credentials), trusting the system's
/// roots and `AWS_CA_BUNDLE`; `endpoint`, `region` and `profile` override the
/// chain's.
pub async fn client(
    side: Side,
    endpoint: Option<&str>,
    region: Option<&str>,
    profile: Option<&str>,
) -> anyhow::Result<sm::Client> {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(p) = profile {
        // The profile's credentials alone: the default chain would prefer the
        // environment's, which are the destination's.
        loader = loader.profile_name(p).credentials_provider(
            aws_config::profile::ProfileFileCredentialsProvider::builder()
                .profile_name(p)
                .build(),
        );
    }
    if let Some(e) = endpoint {
        loader = loader.endpoint_url(e);
    }
    // The agent's client: the same trust (AWS_CA_BUNDLE) and region rules.
    let cfg = coffer_agent::AgentConfig {
        region: region.map(str::to_string),
        ..coffer_agent::AgentConfig::default()
    };
    let upstream = coffer_agent::upstream_with(&cfg, loader, |k| std::env::var(k).ok())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    anyhow::ensure!(
        upstream.region.is_some(),
        "no region: set AWS_REGION (or --source-region for the source)"
    );
    if side == Side::Source && endpoint.is_none() {
        // `AWS_ENDPOINT_URL` (or a profile's `endpoint_url`) would otherwise
        // point the source at the destination: a copy of Coffer onto itself,
        // signed with the source profile's keys.
        let mut conf = upstream.client.config().to_builder();
        conf.set_endpoint_url(None);
        return Ok(sm::Client::from_conf(conf.build()));
    }
    Ok(upstream.client)
}

/// Runs `work` (a secret's name and what became of it) on every item,
/// counting the outcomes behind a progress bar labelled `stage`.
pub async fn tally<T, Fut>(items: Vec<T>, stage: &str, work: impl Fn(T) -> Fut) -> Summary
where
    Fut: Future<Output = (String, Result<Outcome, String>)> + Send + 'static,
{
    let total = items.len();
    let mut summary = Summary::default();
    let mut bar = Bar::new();
    bounded(items, work, |(name, outcome)| {
        summary.add(name, outcome);
        bar.show(stage, summary.done(), total);
    })
    .await;
    bar.finish();
    summary
}

/// Runs `work` on every item, [`CONCURRENCY`] at a time, and hands each
/// result to `done` as it comes (in the order they finish, so a progress bar
/// moves as the work does). A panic in `work` is raised here.
pub async fn bounded<T, R, Fut>(items: Vec<T>, work: impl Fn(T) -> Fut, mut done: impl FnMut(R))
where
    Fut: Future<Output = R> + Send + 'static,
    R: Send + 'static,
{
    let mut running = tokio::task::JoinSet::new();
    let mut items = items.into_iter();
    for item in items.by_ref().take(CONCURRENCY) {
        running.spawn(work(item));
    }
    while let Some(finished) = running.join_next().await {
        done(finished.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic())));
        if let Some(item) = items.next() {
            running.spawn(work(item));
        }
    }
}

/// An SDK error as one line: the AWS code and message when there is one.
pub fn describe<E>(e: &sm::error::SdkError<E>) -> String
where
    E: sm::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    match e.as_service_error() {
        Some(s) => format!(
            "{}: {}",
            s.code().unwrap_or("error"),
            s.message().unwrap_or_default()
        ),
        None => format!("{}", sm::error::DisplayErrorContext(e)),
    }
}
