//! Regions served by another Coffer deployment, named in the configuration
//! (endpoint and credentials of a principal there). The primary's replicator
//! pushes the replica's whole state to it (`CofferReplication.PutReplica`,
//! signed with SigV4 for `secretsmanager` in the replica's region); the remote
//! seals the values under its own keys and keeps the replica in its own store,
//! so it goes on serving it while the primary's deployment is down. Values
//! travel as GetSecretValue's do: over TLS (plain HTTP only to loopback).

use super::plan::{Desired, DesiredVersion, Outcome};
use super::{replica_of, Replica, ReplicaOf};
use crate::http::Webhooks;
use crate::secrets::{NewValue, Secrets};
use coffer_api::types::Sensitive;
use coffer_api::ApiError;
use coffer_store::{Secret, SecretRow};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::path::PathBuf;

/// The `X-Amz-Target` prefix of the calls between deployments.
pub const TARGET_PREFIX: &str = "CofferReplication.";

/// One remote region as configured.
#[derive(Clone)]
pub struct RemoteRegionConfig {
    pub region: String,
    /// `https://host:port` (`http://` to loopback only).
    pub endpoint: String,
    pub access_key_id: String,
    pub secret_access_key: Sensitive<String>,
    /// PEM roots the endpoint is verified against, besides the system's.
    pub ca_file: Option<PathBuf>,
}

struct RemoteRegion {
    cfg: RemoteRegionConfig,
    http: Webhooks,
}

/// The remote regions of this deployment.
#[derive(Default)]
pub struct Remotes(Vec<RemoteRegion>);

impl Remotes {
    pub fn new(configs: Vec<RemoteRegionConfig>) -> Result<Remotes, String> {
        let mut out = Vec::new();
        for cfg in configs {
            super::region_code(&cfg.region, "region").map_err(|e| e.message)?;
            let what = format!("CA bundle of remote region {}", cfg.region);
            let http = Webhooks::trusting(cfg.ca_file.as_deref(), &what)?;
            out.push(RemoteRegion { cfg, http });
        }
        Ok(Remotes(out))
    }

    pub(crate) fn serves(&self, region: &str) -> bool {
        self.0.iter().any(|r| r.cfg.region == region)
    }

    fn get(&self, region: &str) -> Option<&RemoteRegion> {
        self.0.iter().find(|r| r.cfg.region == region)
    }
}

/// What travels to a remote region: the replica's state, every labelled
/// version with its value.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct WireReplica {
    pub primary_arn: String,
    pub primary_region: String,
    pub name: String,
    pub description: Option<String>,
    pub kind: Option<String>,
    pub tags: Option<Vec<(String, String)>>,
    pub created_ms: i64,
    pub last_changed_ms: i64,
    pub kms_key_id: Option<String>,
    pub attrs: Value,
    pub force_overwrite: bool,
    /// The primary's revision (absent from a deployment that sent none).
    #[serde(default)]
    pub primary_revision: Option<i64>,
    pub versions: Vec<WireVersion>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct WireVersion {
    pub version_id: String,
    pub labels: Vec<String>,
    pub created_ms: i64,
    pub secret_string: Option<Sensitive<String>>,
    pub secret_binary: Option<Sensitive<Vec<u8>>>,
}

impl Secrets {
    /// Copies `primary` to its replica in the remote region `r.region`, if
    /// that region is remote (None: it is not).
    pub(crate) async fn push_remote(&self, primary: &Secret, r: &Replica) -> Option<Outcome> {
        let remote = self.remotes.get(&r.region)?;
        let wire = match self.wire_replica(primary, r).await {
            Ok(w) => w,
            Err(e) => {
                return Some(Outcome::Failed(format!(
                    "Replication failed: {}",
                    e.message
                )))
            }
        };
        let body = serde_json::to_vec(&wire).unwrap_or_default();
        drop(wire);
        Some(match remote.call(self, "PutReplica", body).await {
            Ok(v) => match v["Status"].as_str() {
                Some(super::IN_SYNC) => Outcome::Synced,
                Some("Detached") => Outcome::Detached,
                _ => Outcome::Failed(
                    v["StatusMessage"]
                        .as_str()
                        .unwrap_or("Replication failed")
                        .to_string(),
                ),
            },
            Err(why) => Outcome::Failed(format!("Replication failed: {why}")),
        })
    }

    /// Deletes the replica in the remote region `r.region`, if it is remote.
    pub(crate) async fn remove_remote(&self, primary: &Secret, r: &Replica) -> Option<Outcome> {
        let remote = self.remotes.get(&r.region)?;
        let body = json!({ "PrimaryArn": primary.row.arn })
            .to_string()
            .into_bytes();
        Some(match remote.call(self, "DeleteReplica", body).await {
            Ok(_) => Outcome::Removed,
            Err(why) => Outcome::Failed(format!("Replication failed: {why}")),
        })
    }

    async fn wire_replica(&self, primary: &Secret, r: &Replica) -> Result<WireReplica, ApiError> {
        let mut versions = Vec::new();
        for v in primary.versions.iter().filter(|v| !v.labels.is_empty()) {
            let value = NewValue::of_stored(&v.value_kind, self.decrypt(primary, v).await?)?;
            let (secret_string, secret_binary) = match value {
                NewValue::String(s) => (Some(s), None),
                NewValue::Binary(b) => (None, Some(b)),
            };
            versions.push(WireVersion {
                version_id: v.version_id.clone(),
                labels: v.labels.clone(),
                created_ms: v.created_ms,
                secret_string,
                secret_binary,
            });
        }
        let row = &primary.row;
        Ok(WireReplica {
            primary_arn: row.arn.clone(),
            primary_region: row.region.clone(),
            name: row.name.clone(),
            description: row.description.clone(),
            kind: row.kind.clone(),
            tags: row.tags.clone(),
            created_ms: row.created_ms,
            last_changed_ms: row.last_changed_ms,
            kms_key_id: r.kms_key_id.clone(),
            attrs: super::plan::replica_attrs(&row.attrs),
            force_overwrite: r.overwrite,
            primary_revision: Some(row.revision),
            versions,
        })
    }
}

impl RemoteRegion {
    /// One signed call; the answer's JSON, or why there is none.
    async fn call(&self, secrets: &Secrets, op: &str, body: Vec<u8>) -> Result<Value, String> {
        let target = format!("{TARGET_PREFIX}{op}");
        let now = secrets.clock.now_ms() / 1000;
        let headers = self.signed_headers(&target, &body, now)?;
        let url = format!("{}/", self.cfg.endpoint.trim_end_matches('/'));
        // The endpoint is this deployment's business: the log names it, the
        // status a caller reads does not.
        let answer = match self.http.send("POST", &url, &headers, body).await {
            Ok(a) => a,
            Err(why) => {
                tracing::warn!(region = %self.cfg.region, endpoint = %self.cfg.endpoint, error = %why, "a remote region cannot be reached");
                return Err(format!("region {} cannot be reached", self.cfg.region));
            }
        };
        let v: Value = serde_json::from_slice(&answer.body).unwrap_or_default();
        if answer.status == 200 {
            return Ok(v);
        }
        let code = v["__type"].as_str().unwrap_or("an error");
        let msg = v["Message"]
            .as_str()
            .or(v["message"].as_str())
            .unwrap_or("");
        tracing::warn!(region = %self.cfg.region, endpoint = %self.cfg.endpoint, status = answer.status, code, "a remote region refused a call");
        Err(format!("region {} answered {code}: {msg}", self.cfg.region))
    }

    /// SigV4 headers of a JSON 1.1 call to the endpoint's `/`.
    fn signed_headers(
        &self,
        target: &str,
        body: &[u8],
        now_secs: i64,
    ) -> Result<Vec<(String, String)>, String> {
        let signer = crate::http::Signer {
            access_key_id: &self.cfg.access_key_id,
            secret_access_key: &self.cfg.secret_access_key.0,
            region: &self.cfg.region,
            service: "secretsmanager",
        };
        let url = format!("{}/", self.cfg.endpoint.trim_end_matches('/'));
        signer.sign(
            "POST",
            &url,
            vec![
                ("content-type".into(), "application/x-amz-json-1.1".into()),
                ("x-amz-target".into(), target.to_string()),
            ],
            body,
            now_secs,
        )
    }
}

/// The ARN a replica pushed by another deployment has here: the primary's
/// name and suffix, in the caller's account and region.
pub(crate) fn local_arn(primary_arn: &str, account: &str, region: &str) -> Option<String> {
    crate::arn::elsewhere(primary_arn, account, region)
}

impl WireReplica {
    /// The state to apply here, as the local replicator's would be.
    pub(crate) fn into_desired(
        self,
        account: &str,
        region: &str,
    ) -> Result<(Desired, bool), ApiError> {
        let arn = local_arn(&self.primary_arn, account, region)
            .ok_or_else(|| ApiError::invalid_param("PrimaryArn is not a secret's ARN."))?;
        let mut versions = Vec::new();
        for v in self.versions {
            let value = NewValue::from_request(v.secret_string, v.secret_binary)?;
            versions.push(DesiredVersion {
                version_id: v.version_id,
                labels: v.labels,
                created_ms: v.created_ms,
                value,
            });
        }
        let row = SecretRow {
            id: 0,
            account_id: account.to_string(),
            region: region.to_string(),
            name: self.name,
            arn,
            description: self.description,
            kms_key_id: self.kms_key_id,
            kind: self.kind,
            created_ms: self.created_ms,
            last_changed_ms: self.last_changed_ms,
            last_accessed_ms: None,
            deleted_ms: None,
            purge_after_ms: None,
            tags: self.tags,
            // What a replica keeps of its primary's attributes, and nothing a
            // caller could add (no rotation due here, no replicas of its own).
            attrs: super::plan::replica_attrs(&self.attrs),
            revision: 0,
        };
        Ok((
            Desired {
                of: ReplicaOf {
                    remote: true,
                    primary_revision: self.primary_revision,
                    ..ReplicaOf::region(&self.primary_arn, &self.primary_region)
                },
                row,
                versions,
            },
            self.force_overwrite,
        ))
    }
}

/// Whether `row` is the replica of `primary_arn` (a remote's DeleteReplica
/// removes nothing else).
pub(crate) fn is_replica_of(row: &SecretRow, primary_arn: &str) -> bool {
    replica_of(row).is_some_and(|o| o.primary_arn == primary_arn)
}
