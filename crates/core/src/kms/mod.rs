//! A KMS-compatible API (`TrentService.*`, signed for `kms`): customer-managed
//! symmetric keys, their aliases, key policies, tags and rotation, and the
//! cryptographic operations on them; the account's `aws/secretsmanager` key
//! appears as the AWS-managed key it is.
//!
//! Every call takes the path the other services' take: parse the typed
//! operation, find the key it names, authorize `kms:ACTION` (against the key's
//! policy and the caller's identity, or by identity alone for the operations
//! that name no key), run, audit as `kms.amazonaws.com`.

mod aliases;
mod crypto;
mod keys;
mod view;

use crate::audit::Audited;
use crate::call::Call;
use crate::context::Caller;
use crate::identity::kms::KmsKeys;
use crate::keyring::customer::{self, KeyDoc, KeyState, Named};
use crate::keyring::DEFAULT_ALIAS;
use crate::service::Service;
use coffer_api::kms_ops::{self, KmsAction, KmsOperation};
use coffer_api::{ApiError, ErrorCode};
use coffer_store::Scope;
use serde_json::Value;

impl crate::bus::store::Entity for KeyDoc {}
impl crate::bus::store::Entity for customer::AliasDoc {}

/// `eventSource` of KMS's audit records.
pub const SOURCE: &str = crate::audit::KMS;

/// The key an operation acts on, once found and authorized.
pub(crate) struct Target {
    pub doc: KeyDoc,
    /// The document's revision (None: the AWS-managed key, which is not a document).
    pub revision: Option<i64>,
}

impl Service {
    /// Parses and runs one KMS call (`target` without `TrentService.`); the
    /// answer is the JSON body.
    pub async fn call_kms(
        &self,
        caller: &Caller,
        target: &str,
        body: &[u8],
    ) -> Result<Vec<u8>, ApiError> {
        let (audited, result) = match KmsOperation::parse(target, body) {
            Ok(op) => {
                let call =
                    Call::with_params(caller, op.name(), op.audit_parameters()).audited_as(SOURCE);
                let r = self.run_kms(&call, op).await;
                if call.audited() {
                    return r.map(|v| v.to_string().into_bytes());
                }
                let a = Audited {
                    source: SOURCE,
                    name: call.name,
                    read_only: kms_ops::is_read_only(call.name),
                    params: call.params,
                };
                (a, r)
            }
            Err(e) => {
                let a = Audited {
                    source: SOURCE,
                    name: kms_ops::known(target).unwrap_or("UnknownOperation"),
                    params: Value::Object(serde_json::Map::default()),
                    read_only: false,
                };
                (a, Err(e))
            }
        };
        let now = self.clock.now_ms();
        let answer = self.audit.settle(caller, now, audited, result).await?;
        Ok(answer.to_string().into_bytes())
    }

    async fn run_kms(&self, call: &Call<'_>, op: KmsOperation) -> Result<Value, ApiError> {
        use KmsAction as A;
        let caller = call.caller;
        let action = format!("kms:{}", op.name());
        match op.action {
            // Operations on no key: the caller's identity decides.
            A::CreateKey | A::ListKeys | A::GenerateRandom => {
                let keys = tag_keys(&op);
                self.identity
                    .authorize_service(call, &action, "*", &keys)
                    .await?;
                return match op.action {
                    A::CreateKey => self.create_key(call, &op).await,
                    A::ListKeys => self.list_keys(caller, &op).await,
                    _ => Ok(crypto::generate_random(&op)),
                };
            }
            A::ListAliases if op.req.key_id.is_none() => {
                self.identity
                    .authorize_service(call, &action, "*", &[])
                    .await?;
                return self.list_aliases(caller, None, &op).await;
            }
            A::DeleteAlias => return self.delete_alias(call, &op).await,
            A::Decrypt => return self.decrypt(call, &op).await,
            A::ReEncrypt => return self.re_encrypt(call, &op).await,
            _ => {}
        }
        let id = op.key_id().unwrap_or_default();
        let t = self
            .target_key(caller, id, cross_account(op.action))
            .await?;
        let mut extra = tag_keys(&op);
        extra.extend(resource_tags(&t.doc));
        let keys = KmsKeys {
            via_service: None,
            encryption_context: op.req.encryption_context.as_ref(),
            extra,
        };
        self.identity
            .authorize_kms(caller, &action, &t.doc, &keys)
            .await?;
        match op.action {
            A::CreateAlias | A::UpdateAlias => self.put_alias(call, &op, &t).await,
            A::ListAliases => self.list_aliases(caller, Some(&t.doc), &op).await,
            A::Encrypt => crypto::encrypt(&self.keys, &t.doc, &op),
            A::GenerateDataKey | A::GenerateDataKeyWithoutPlaintext => {
                crypto::generate_data_key(&self.keys, &t.doc, &op)
            }
            _ => self.manage_key(call, &op, t).await,
        }
    }

    /// The key `id` names. Only the cryptographic operations, DescribeKey and a
    /// few reads reach another account's key (by its ARN); managing a key is
    /// for its own account, as in AWS.
    pub(crate) async fn target_key(
        &self,
        caller: &Caller,
        id: &str,
        cross_account: bool,
    ) -> Result<Target, ApiError> {
        let scope = caller.scope();
        match self.keys.resolve(&scope, id).await? {
            Named::Customer(doc, rev) => {
                if !cross_account && doc.account_id != caller.account_id {
                    return Err(ApiError::new(
                        ErrorCode::KmsNotFound,
                        format!("Key '{}' does not exist", doc.arn),
                    ));
                }
                Ok(Target {
                    doc: *doc,
                    revision: Some(rev),
                })
            }
            Named::Default => {
                let owner = owner_scope(&scope, id);
                Ok(Target {
                    doc: self.managed_key_doc(&owner).await?,
                    revision: None,
                })
            }
        }
    }

    /// The AWS-managed `aws/secretsmanager` key as a document: its policy is
    /// AWS's, which lets Secrets Manager use it for the account and lets the
    /// account read its metadata.
    pub(crate) async fn managed_key_doc(&self, scope: &Scope) -> Result<KeyDoc, ApiError> {
        self.keys.default_key(scope).await?;
        let row = self
            .store
            .kms_key(scope, DEFAULT_ALIAS)
            .await
            .map_err(crate::errors::internal)?
            .ok_or_else(ApiError::internal)?;
        Ok(KeyDoc {
            key_id: row.key_id,
            arn: row.arn,
            account_id: row.account_id.clone(),
            region: row.region.clone(),
            description:
                "Default key that protects my Secrets Manager data when no other key is defined"
                    .into(),
            created_ms: row.created_ms,
            state: KeyState::Enabled,
            deletion_ms: None,
            pending_days: None,
            policy: managed_policy(&row.account_id, &row.region),
            tags: Vec::new(),
            rotation_days: Some(365),
            rotation_from_ms: Some(row.created_ms),
            materials: Vec::new(),
        })
    }
}

/// The scope an id names: an ARN's own account and region, else the caller's.
fn owner_scope(scope: &Scope, id: &str) -> Scope {
    match customer::split_kms_arn(id) {
        Some((r, a, _)) => Scope {
            account_id: a.to_string(),
            region: r.to_string(),
        },
        None => scope.clone(),
    }
}

/// Operations AWS lets another account run on a key (the key policy permitting).
fn cross_account(action: KmsAction) -> bool {
    use KmsAction as A;
    matches!(
        action,
        A::DescribeKey
            | A::Encrypt
            | A::Decrypt
            | A::ReEncrypt
            | A::GenerateDataKey
            | A::GenerateDataKeyWithoutPlaintext
            | A::GetKeyRotationStatus
    )
}

/// `aws:RequestTag/…` and `aws:TagKeys` for the tags a request sets.
fn tag_keys(op: &KmsOperation) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let mut names = Vec::new();
    for t in op.req.tags.iter().flatten() {
        out.push((
            format!("aws:RequestTag/{}", t.tag_key),
            vec![t.tag_value.clone()],
        ));
        names.push(t.tag_key.clone());
    }
    names.extend(op.req.tag_keys.iter().flatten().cloned());
    if !names.is_empty() {
        out.push(("aws:TagKeys".into(), names));
    }
    out
}

/// `aws:ResourceTag/…` for the key's tags.
fn resource_tags(doc: &KeyDoc) -> Vec<(String, Vec<String>)> {
    doc.tags
        .iter()
        .map(|(k, v)| (format!("aws:ResourceTag/{k}"), vec![v.clone()]))
        .collect()
}

/// AWS's policy for the `aws/secretsmanager` key.
fn managed_policy(account: &str, region: &str) -> String {
    let via = format!("secretsmanager.{region}.amazonaws.com");
    serde_json::to_string_pretty(&serde_json::json!({
        "Version": "2012-10-17",
        "Id": "auto-secretsmanager-2",
        "Statement": [
            {
                "Sid": "Allow access through AWS Secrets Manager for all principals in the account that are authorized to use AWS Secrets Manager",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:CreateGrant", "kms:DescribeKey"],
                "Resource": "*",
                "Condition": {"StringEquals": {"kms:CallerAccount": account, "kms:ViaService": via}}
            },
            {
                "Sid": "Allow access through AWS Secrets Manager for all principals in the account that are authorized to use AWS Secrets Manager",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": "kms:GenerateDataKey*",
                "Resource": "*",
                "Condition": {"StringEquals": {"kms:CallerAccount": account}, "StringLike": {"kms:ViaService": "secretsmanager.*.amazonaws.com"}}
            },
            {
                "Sid": "Allow direct access to key metadata to the account",
                "Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
                "Action": ["kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant"],
                "Resource": "*"
            }
        ]
    }))
    .unwrap_or_default()
}

/// Refuses changes to the AWS-managed key, as AWS does.
fn customer_only(t: &Target) -> Result<i64, ApiError> {
    t.revision.ok_or_else(|| {
        ApiError::new(
            ErrorCode::KmsUnsupportedOperation,
            format!("{} is an AWS managed key; it cannot be changed.", t.doc.arn),
        )
    })
}

/// A key that is not pending deletion (most changes need that).
fn not_pending(doc: &KeyDoc) -> Result<(), ApiError> {
    if doc.state == KeyState::PendingDeletion {
        return Err(customer::pending_deletion(&doc.arn));
    }
    Ok(())
}
