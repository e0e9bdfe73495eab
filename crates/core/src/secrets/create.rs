//! CreateSecret.

use super::{require_token, seal_version, NewValue};
use crate::arn::{random_suffix, secret_arn};
use crate::call::respond;
use crate::errors::internal;
use crate::events;
use crate::identity::Grant;
use crate::labels::CURRENT;
use crate::secrets::replication::{set_replica_of, set_replicas};
use crate::secrets::Secrets;
use coffer_api::types::{CreateSecretRequest, CreateSecretResponse};
use coffer_api::{validate, ApiError, ErrorCode};
use coffer_store::{Mutation, MutationOp, SecretRow, StoreError};
use serde_json::json;

impl Secrets {
    pub(crate) async fn create_secret(
        &self,
        g: &Grant<'_>,
        req: CreateSecretRequest,
    ) -> Result<Vec<u8>, ApiError> {
        let call = g.call();
        let name = validate::secret_name(req.name.as_deref())?.to_string();
        let token =
            validate::version_id(req.client_request_token.as_deref(), "clientRequestToken")?;
        validate::optional(req.description.as_deref(), "description", 0, 2048)?;
        validate::optional(req.kms_key_id.as_deref(), "kmsKeyId", 0, 2048)?;
        validate::optional(req.kind.as_deref(), "type", 0, 256)?;
        if let Some(tags) = &req.tags {
            validate::tags(tags)?;
        }
        let scope = call.caller.scope();
        let replicas = self.replicas_for_create(
            &scope.region,
            req.add_replica_regions.as_ref(),
            req.force_overwrite_replica_secret.unwrap_or(false),
        )?;
        let mark = super::replication::cross::replica_mark(&req, &scope)?;
        let value = NewValue::from_request(req.secret_string, req.secret_binary)?;
        let token = match &value {
            Some(_) => Some(require_token(token)?.to_string()),
            None => token.map(str::to_string),
        };
        let named = req.kms_key_id.as_deref().filter(|k| !k.is_empty());
        // Found (or refused) before anything else; the caller's right to use
        // it is checked once the secret's ARN is known.
        let (kms, customer) = self.keys.for_encrypt(&scope, named).await?;
        if mark.is_some() && customer.is_none() {
            return Err(ApiError::invalid_param(
                "You must specify a customer managed KMS key in KmsKeyId to create a cross-account replica.",
            ));
        }

        for _ in 0..2 {
            if let Some(existing) = self
                .store
                .secret_by_name(&scope, &name)
                .await
                .map_err(internal)?
            {
                return self
                    .create_replay(existing, &name, token.as_deref(), value.as_ref())
                    .await;
            }
            let now = self.clock.now_ms();
            let arn = secret_arn(&scope.region, &scope.account_id, &name, &random_suffix());
            if let Some(doc) = &customer {
                self.authorize_key_use(call.caller, "kms:GenerateDataKey", doc, &arn)
                    .await?;
            }
            let mut versions = Vec::new();
            if let (Some(v), Some(t)) = (&value, &token) {
                let mut row = seal_version(&kms, &arn, t, v, now)?;
                row.labels = vec![CURRENT.to_string()];
                versions.push(row);
            }
            let row = SecretRow {
                id: 0,
                account_id: scope.account_id.clone(),
                region: scope.region.clone(),
                name: name.clone(),
                arn: arn.clone(),
                // AWS keeps no empty description: DescribeSecret omits it.
                description: req.description.clone().filter(|d| !d.is_empty()),
                kms_key_id: req.kms_key_id.clone().filter(|k| !k.is_empty()),
                kind: req.kind.clone(),
                created_ms: now,
                last_changed_ms: now,
                last_accessed_ms: None,
                deleted_ms: None,
                purge_after_ms: None,
                tags: req.tags.as_ref().filter(|t| !t.is_empty()).map(|t| {
                    t.iter()
                        .map(|t| {
                            (
                                t.key.clone().unwrap_or_default(),
                                t.value.clone().unwrap_or_default(),
                            )
                        })
                        .collect()
                }),
                attrs: json!({}),
                revision: 0,
            };
            let mut row = row;
            set_replicas(&mut row, &replicas);
            set_replica_of(&mut row.attrs, mark.as_ref());
            // The further permissions AWS asks of these members.
            if !replicas.is_empty() {
                self.identity
                    .authorize_new(call, "ReplicateSecretToRegions", &arn)
                    .await?;
                self.authorize_replicas(g, &row, &replicas).await?;
            }
            if mark.is_some() {
                self.identity
                    .authorize_new(call, "PutResourcePolicy", &arn)
                    .await?;
            }
            let started = super::replication::statuses(&row, |_| None);
            let version_id = versions.first().map(|v| v.version_id.clone());
            let m = Mutation {
                also: Vec::new(),
                op: MutationOp::Create,
                event: Some(events::change(
                    call.caller,
                    now,
                    call.name,
                    &row,
                    json!({ "versionId": version_id }),
                )),
                audit: call.audit(now),
                secret: row,
                insert_versions: versions,
                relabel: vec![],
                delete_versions: vec![],
                reseal: vec![],
                prune_before_ms: None,
            };
            match self.store.commit(m).await {
                Ok(_) => {
                    call.mark_audited();
                    self.outbox.committed();
                    return respond(&CreateSecretResponse {
                        arn,
                        name,
                        version_id,
                        replication_status: (!started.is_empty()).then_some(started),
                    });
                }
                // Lost a race with another create: answer as the winner's replay.
                Err(StoreError::NameTaken) => continue,
                Err(e) => return Err(internal(e)),
            }
        }
        Err(ApiError::internal())
    }

    /// A create whose name exists: an idempotent retry (same token, same value)
    /// succeeds; anything else is AWS's error.
    async fn create_replay(
        &self,
        existing: std::sync::Arc<coffer_store::Secret>,
        name: &str,
        token: Option<&str>,
        value: Option<&NewValue>,
    ) -> Result<Vec<u8>, ApiError> {
        if existing.row.deleted_ms.is_some() {
            return Err(ApiError::invalid_request(
                "You can't create this secret because a secret with this name is already scheduled for deletion.",
            ));
        }
        if let (Some(t), Some(v)) = (token, value) {
            if let Some(ver) = self.version_of(&existing, t).await? {
                let plain = self.decrypt(&existing, &ver).await?;
                if v.same_as(&ver.value_kind, &plain) {
                    return respond(&CreateSecretResponse {
                        arn: existing.row.arn.clone(),
                        name: existing.row.name.clone(),
                        version_id: Some(t.to_string()),
                        replication_status: None,
                    });
                }
                return Err(super::write::version_exists_error(t, &existing.row.arn));
            }
        }
        Err(ApiError::new(
            ErrorCode::ResourceExists,
            format!("The operation failed because the secret {name} already exists."),
        ))
    }
}
