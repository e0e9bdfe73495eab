//! Aliases: friendly names for keys, per account and region. Creating,
//! changing or deleting one needs the action on the alias (identity) and on
//! each key it names (key policy), as in AWS.

use super::view::{alias_entry, page, with_marker};
use super::{customer_only, not_pending, Target};
use crate::call::Call;
use crate::context::Caller;
use crate::identity::kms::KmsKeys;
use crate::keyring::customer::{AliasDoc, KeyDoc, ALIAS};
use crate::keyring::DEFAULT_ALIAS;
use crate::service::Service;
use coffer_api::kms_ops::{KmsAction, KmsOperation};
use coffer_api::{ApiError, ErrorCode};
use serde_json::{json, Value};

fn alias_arn(caller: &Caller, name: &str) -> String {
    format!("arn:aws:kms:{}:{}:{name}", caller.region, caller.account_id)
}

fn not_found(arn: &str) -> ApiError {
    ApiError::new(ErrorCode::KmsNotFound, format!("Alias {arn} is not found."))
}

impl Service {
    /// CreateAlias and UpdateAlias; `t` is the key the alias is to name,
    /// already authorized.
    pub(super) async fn put_alias(
        &self,
        call: &Call<'_>,
        op: &KmsOperation,
        t: &Target,
    ) -> Result<Value, ApiError> {
        let caller = call.caller;
        let name = op.req.alias_name.clone().unwrap_or_default();
        let arn = alias_arn(caller, &name);
        if name.starts_with("alias/aws/") {
            return Err(ApiError::new(ErrorCode::NotAuthorized, ""));
        }
        let action = format!("kms:{}", op.name());
        self.identity
            .authorize_service(call, &action, &arn, &[])
            .await?;
        customer_only(t)?;
        not_pending(&t.doc)?;
        let now = self.clock.now_ms();
        let existing = self
            .keys
            .alias_doc(&caller.account_id, &caller.region, &name)
            .await?;
        let (doc, expected) = match (op.action, existing) {
            (KmsAction::CreateAlias, Some(_)) => {
                return Err(ApiError::new(
                    ErrorCode::AlreadyExists,
                    format!("An alias with the name {arn} already exists"),
                ))
            }
            (KmsAction::CreateAlias, None) => (
                AliasDoc {
                    name: name.clone(),
                    arn,
                    target_key_id: t.doc.key_id.clone(),
                    created_ms: now,
                    updated_ms: now,
                },
                None,
            ),
            (_, None) => return Err(not_found(&arn)),
            (_, Some((mut doc, rev))) => {
                // The key the alias leaves must allow it too.
                let old = self.target_key(caller, &doc.target_key_id, false).await?;
                self.identity
                    .authorize_kms(caller, &action, &old.doc, &KmsKeys::default())
                    .await?;
                doc.target_key_id.clone_from(&t.doc.key_id);
                doc.updated_ms = now;
                (doc, Some(rev))
            }
        };
        self.save_entity(call, ALIAS, &name, Some(&doc), expected)
            .await?;
        Ok(json!({}))
    }

    pub(super) async fn delete_alias(
        &self,
        call: &Call<'_>,
        op: &KmsOperation,
    ) -> Result<Value, ApiError> {
        let caller = call.caller;
        let name = op.req.alias_name.clone().unwrap_or_default();
        let arn = alias_arn(caller, &name);
        self.identity
            .authorize_service(call, "kms:DeleteAlias", &arn, &[])
            .await?;
        let Some((doc, rev)) = self
            .keys
            .alias_doc(&caller.account_id, &caller.region, &name)
            .await?
        else {
            return Err(not_found(&arn));
        };
        if let Some((key, _)) = self
            .keys
            .key_doc(&caller.account_id, &caller.region, &doc.target_key_id)
            .await?
        {
            self.identity
                .authorize_kms(caller, "kms:DeleteAlias", &key, &KmsKeys::default())
                .await?;
        }
        self.save_entity::<AliasDoc>(call, ALIAS, &name, None, Some(rev))
            .await?;
        Ok(json!({}))
    }

    /// ListAliases: the region's aliases, or those naming one key.
    pub(super) async fn list_aliases(
        &self,
        caller: &Caller,
        key: Option<&KeyDoc>,
        op: &KmsOperation,
    ) -> Result<Value, ApiError> {
        let mut all: Vec<AliasDoc> = self.entities::<AliasDoc>(caller, ALIAS).await?;
        if let Some(row) = self
            .store
            .kms_key(&caller.scope(), DEFAULT_ALIAS)
            .await
            .map_err(crate::errors::internal)?
        {
            all.push(AliasDoc {
                name: DEFAULT_ALIAS.into(),
                arn: alias_arn(caller, DEFAULT_ALIAS),
                target_key_id: row.key_id,
                created_ms: row.created_ms,
                updated_ms: row.created_ms,
            });
        }
        if let Some(k) = key {
            all.retain(|a| a.target_key_id == k.key_id);
        }
        all.sort_by(|a, b| a.name.cmp(&b.name));
        let (items, next) = page(
            all,
            |a| a.name.clone(),
            op.req.marker.as_deref(),
            op.req.limit,
        );
        let out: Vec<Value> = items.iter().map(alias_entry).collect();
        Ok(with_marker(json!({ "Aliases": out }), next))
    }

    /// The aliases naming one key (for its deletion).
    pub(super) async fn aliases_of(
        &self,
        caller: &Caller,
        key_id: &str,
    ) -> Result<Vec<AliasDoc>, ApiError> {
        let mut all: Vec<AliasDoc> = self.entities::<AliasDoc>(caller, ALIAS).await?;
        all.retain(|a| a.target_key_id == key_id);
        Ok(all)
    }
}
