//! Authorization of KMS actions on customer-managed keys. A key's policy is the
//! first lock: it must allow the caller, either by naming it (then nothing more
//! is needed in the key's account) or by naming the caller's account, which
//! hands the decision to the account's IAM policies. Across accounts both the
//! key policy and the caller's identity policies must allow. An explicit deny
//! anywhere wins.

use super::Identity;
use crate::context::Caller;
use crate::keyring::KeyDoc;
use coffer_api::{ApiError, ErrorCode};
use coffer_policy::{Kind, Policy};
use std::collections::BTreeMap;

/// Condition keys of one KMS request, beyond those every request carries.
#[derive(Default)]
pub struct KmsKeys<'a> {
    /// `kms:ViaService`: the service that called KMS for the caller.
    pub via_service: Option<String>,
    pub encryption_context: Option<&'a BTreeMap<String, String>>,
    pub extra: Vec<(String, Vec<String>)>,
}

impl Identity {
    /// Authorizes `action` (`kms:Name`) on a customer-managed key.
    pub(crate) async fn authorize_kms(
        &self,
        caller: &Caller,
        action: &str,
        key: &KeyDoc,
        keys: &KmsKeys<'_>,
    ) -> Result<(), ApiError> {
        let id = self.identity(caller).await?;
        let mut ctx = self.base_context(caller, &id);
        ctx.set("kms:CallerAccount", caller.account_id.clone());
        if let Some(via) = &keys.via_service {
            ctx.set("kms:ViaService", via.clone());
        }
        if let Some(ec) = keys.encryption_context {
            for (k, v) in ec {
                ctx.set(&format!("kms:EncryptionContext:{k}"), v.clone());
            }
            ctx.set_many("kms:EncryptionContextKeys", ec.keys().cloned().collect());
        }
        for (k, v) in &keys.extra {
            ctx.set_many(k, v.clone());
        }
        // A policy that no longer parses allows nothing (PutKeyPolicy checks it).
        let policy = Policy::parse(&key.policy, Kind::Resource).map_err(|_| {
            ApiError::new(
                ErrorCode::AccessDenied,
                format!(
                    "User: {} is not authorized to perform: {action} on resource: {} because no resource-based policy allows the {action} action",
                    caller.principal_arn, key.arn
                ),
            )
        })?;
        Self::decide(
            &id,
            action,
            &key.arn,
            &key.account_id,
            Some(&policy),
            &ctx,
            ErrorCode::AccessDenied,
        )
    }
}
