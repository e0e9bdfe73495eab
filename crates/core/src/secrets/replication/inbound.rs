//! The receiving end of a remote region: another deployment's replicator
//! pushing a replica's state here (`PutReplica`) or taking it away
//! (`DeleteReplica`). The caller is a principal of this deployment, and needs
//! the actions a replica's owner would: `secretsmanager:ReplicateSecretToRegions`
//! (and `PutResourcePolicy` to bring a policy, `DeleteSecret` on a secret it
//! overwrites), or `secretsmanager:RemoveRegionsFromReplication`.

use super::plan::Outcome;
use super::remote::{is_replica_of, local_arn, WireReplica};
use crate::arn::names;
use crate::audit;
use crate::call::Call;
use crate::context::Caller;
use crate::errors::internal;
use crate::secrets::Secrets;
use coffer_api::{validate, ApiError, ErrorCode};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteReplicaRequest {
    primary_arn: String,
}

/// What the audit record keeps of a call: which primary, which secret, which
/// versions; never a value.
fn params(body: &[u8]) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let versions: Vec<&serde_json::Value> = v["Versions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| &x["VersionId"])
        .collect();
    json!({ "primaryArn": v["PrimaryArn"], "name": v["Name"], "versionIds": versions })
}

fn malformed() -> ApiError {
    ApiError::new(
        ErrorCode::SerializationException,
        "The request body is not a valid replication request.",
    )
}

/// What a pushed state must be to be kept as a replica: what the primary's own
/// operations would have let it be (so a replica never holds what no
/// operation could write: clashing labels, a policy that does not parse).
fn checked(w: &WireReplica) -> Result<(), ApiError> {
    if w.versions.len() > usize::try_from(coffer_store::KEEP_VERSIONS).unwrap_or(100) {
        return Err(ApiError::invalid_param(
            "A replica carries too many versions.",
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for v in &w.versions {
        validate::version_id(Some(&v.version_id), "versionId")?;
        validate::version_stages(&v.labels)?;
        if !v.labels.iter().all(|l| seen.insert(l.as_str())) {
            return Err(ApiError::invalid_param(
                "A staging label is attached to more than one version.",
            ));
        }
    }
    let tags: Vec<coffer_api::types::Tag> = w
        .tags
        .iter()
        .flatten()
        .map(|(k, v)| coffer_api::types::Tag {
            key: Some(k.clone()),
            value: Some(v.clone()),
        })
        .collect();
    validate::tags(&tags)?;
    if let Some(p) = w.attrs.get(crate::attrs::POLICY_ATTR) {
        let text = p.as_str().unwrap_or_default();
        coffer_policy::Policy::parse(text, coffer_policy::Kind::Resource).map_err(|_| {
            ApiError::new(
                ErrorCode::MalformedPolicyDocument,
                "This resource policy contains a syntax error.",
            )
        })?;
    }
    Ok(())
}

impl Secrets {
    /// Runs one `CofferReplication.*` call and audits it.
    pub async fn call_replication(
        &self,
        caller: &Caller,
        target: &str,
        body: &[u8],
    ) -> Result<Vec<u8>, ApiError> {
        let (name, result) = match target {
            "PutReplica" => ("PutReplica", self.put_replica(caller, body).await),
            "DeleteReplica" => ("DeleteReplica", self.delete_replica(caller, body).await),
            _ => (
                "UnknownOperation",
                Err(ApiError::new(ErrorCode::UnknownOperation, "")),
            ),
        };
        let now = self.clock.now_ms();
        let rec = audit::record(
            caller,
            name,
            now,
            params(body),
            result.as_ref().err(),
            false,
        );
        self.audit.append(rec).await?;
        result
    }

    async fn put_replica(&self, caller: &Caller, body: &[u8]) -> Result<Vec<u8>, ApiError> {
        let wire: WireReplica = serde_json::from_slice(body).map_err(|_| malformed())?;
        let arn = local_arn(&wire.primary_arn, &caller.account_id, &caller.region)
            .ok_or_else(malformed)?;
        validate::secret_name(Some(&wire.name))?;
        if !names(&arn, &wire.name) {
            return Err(malformed());
        }
        // A primary of this deployment has its replicas kept by its own
        // replicator; nobody may push a state for it from outside.
        if self
            .store
            .secret_by_arn(&wire.primary_arn)
            .await
            .map_err(internal)?
            .is_some()
        {
            return Err(ApiError::invalid_request(
                "The primary secret is in this deployment: its replicas are kept by its own replicator.",
            ));
        }
        validate::optional(wire.description.as_deref(), "description", 0, 2048)?;
        let call = Call::new(caller, "PutReplica");
        let overwrite = wire.force_overwrite.to_string();
        let keys = [(
            "secretsmanager:ForceOverwriteReplicaSecret".to_string(),
            vec![overwrite],
        )];
        let id = &self.identity;
        // An existing replica's own resource policy has its say (a deny wins).
        if let Some(existing) = self.store.secret_by_arn(&arn).await.map_err(internal)? {
            id.authorize_on(&call, "ReplicateSecretToRegions", &existing)
                .await?;
        } else {
            let action = "secretsmanager:ReplicateSecretToRegions";
            id.authorize_service(&call, action, &arn, &keys).await?;
        }
        if wire.attrs.get(crate::attrs::POLICY_ATTR).is_some() {
            id.authorize_service(&call, "secretsmanager:PutResourcePolicy", &arn, &[])
                .await?;
        }
        // Authorized first: a caller who may not push learns nothing of what
        // a push would have said.
        checked(&wire)?;
        let scope = caller.scope();
        let (desired, overwrite) = wire.into_desired(&caller.account_id, &caller.region)?;
        // The pusher seals under a key of this account it may use.
        self.sealing_key(caller, &scope, desired.row.kms_key_id.as_deref(), &arn)
            .await?;
        if overwrite {
            let other = self.store.secret_by_name(&scope, &desired.row.name).await;
            if let Some(other) = other.map_err(internal)?.filter(|o| o.row.arn != arn) {
                id.authorize_on(&call, "DeleteSecret", &other).await?;
            }
        }
        let mut outcome = Outcome::Failed("Replication failed: the replica kept changing".into());
        for _ in 0..8 {
            // The overwrite was authorized just now, for what exists now.
            let limit = overwrite.then_some(self.clock.now_ms());
            // A replica promoted here stays promoted: its primary lets it go.
            match self.apply_replica(&scope, &desired, limit, 0).await {
                Ok(o) => {
                    outcome = o;
                    break;
                }
                Err(coffer_store::StoreError::Conflict | coffer_store::StoreError::NameTaken) => {}
                Err(e) => return Err(internal(e)),
            }
        }
        let answer = match outcome {
            Outcome::Synced => json!({ "Status": super::IN_SYNC }),
            Outcome::Detached => json!({ "Status": "Detached" }),
            Outcome::Failed(m) => json!({ "Status": super::FAILED, "StatusMessage": m }),
            Outcome::Removed => json!({}),
        };
        Ok(answer.to_string().into_bytes())
    }

    async fn delete_replica(&self, caller: &Caller, body: &[u8]) -> Result<Vec<u8>, ApiError> {
        let req: DeleteReplicaRequest = serde_json::from_slice(body).map_err(|_| malformed())?;
        let arn = local_arn(&req.primary_arn, &caller.account_id, &caller.region)
            .ok_or_else(malformed)?;
        let call = Call::new(caller, "DeleteReplica");
        self.identity
            .authorize_service(
                &call,
                "secretsmanager:RemoveRegionsFromReplication",
                &arn,
                &[],
            )
            .await?;
        for _ in 0..8 {
            let Some(s) = self
                .store
                .secret_by_arn_fresh(&arn)
                .await
                .map_err(internal)?
            else {
                break;
            };
            if !is_replica_of(&s.row, &req.primary_arn) {
                break;
            }
            match self.purge_for_replica(&s).await {
                Ok(()) => break,
                Err(coffer_store::StoreError::Conflict) => {}
                Err(e) => return Err(internal(e)),
            }
        }
        Ok(b"{}".to_vec())
    }
}
