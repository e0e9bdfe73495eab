//! Authorization of Secrets Manager operations, before they run: the action name
//! and resource ARN AWS uses, the condition keys of the typed request and of the
//! secret, and the secret's resource policy. The answer is a [`Grant`], the proof
//! every handler takes; only this module builds one.

use super::Grant;
use crate::arn::{parse_secret_id, SecretRef};
use crate::attrs::POLICY_ATTR;
use crate::call::Call;
use crate::errors::internal;
use crate::identity::Identity;
use coffer_api::sm_ops::{action, SecretsManagerOperation, Target};
use coffer_api::{ApiError, ErrorCode};
use coffer_policy::{Context, Kind, Policy};
use coffer_store::{Scope, Secret};
use serde_json::Value;
use std::sync::Arc;

/// Parsed resource policies kept at most.
const POLICY_CACHE_MAX: usize = 10_000;

/// What a grant was given for.
pub(crate) enum Granted {
    /// The account (resource `*`).
    Account,
    /// An existing secret, as read when it was authorized.
    Secret(Arc<Secret>),
    /// A secret the caller may act on, and which does not exist.
    Missing,
    /// A role whose trust policy lets the caller assume it.
    Role(Box<super::RoleGrant>),
    /// A role whose trust policy lets a verified web identity assume it.
    WebRole(Box<super::WebGrant>),
}

/// A secret found by the id a caller gave, or the ARN it would have.
struct Lookup {
    found: Option<Arc<Secret>>,
    /// The ARN to authorize when nothing was found (the id's, or a guess).
    guess: String,
    owner: String,
}

impl Identity {
    /// Authorizes `op` for `call` and returns the proof its handler needs.
    pub(crate) async fn authorize_operation<'a>(
        &'a self,
        call: &'a Call<'a>,
        op: &SecretsManagerOperation,
    ) -> Result<Grant<'a>, ApiError> {
        let action = call.name;
        let keys = op.condition_keys();
        let account = &call.caller.account_id;
        let target = match op.target()? {
            Target::Unserved => return Err(ApiError::unserved(action)),
            Target::Account => {
                self.authorize(call, action, &keys, None, "*", account)
                    .await?;
                if let Some(more) = op.also_requires() {
                    self.authorize(call, more, &keys, None, "*", account)
                        .await?;
                }
                Granted::Account
            }
            Target::NewSecret(name) => {
                let c = call.caller;
                let arn = format!(
                    "arn:aws:secretsmanager:{}:{}:secret:{name}",
                    c.region, c.account_id
                );
                self.authorize(call, action, &keys, None, &arn, account)
                    .await?;
                Granted::Account
            }
            Target::Secret(id) => self.authorize_secret(call, action, &keys, id).await?,
        };
        Ok(Grant::new(self, call, keys, target))
    }

    /// Finds the secret `id` names and authorizes `action` on it. A secret of
    /// another account is found by its ARN, and then its resource policy must let
    /// the caller in; a secret that does not exist is reported as missing only to
    /// a caller allowed to see it.
    pub(super) async fn authorize_secret(
        &self,
        call: &Call<'_>,
        action: &str,
        keys: &[(String, Vec<String>)],
        id: &str,
    ) -> Result<Granted, ApiError> {
        let l = self.lookup(call, id).await?;
        if let Some(s) = l.found {
            self.authorize(call, action, keys, Some(&s), &s.row.arn, &s.row.account_id)
                .await?;
            Ok(Granted::Secret(s))
        } else {
            self.authorize(call, action, keys, None, &l.guess, &l.owner)
                .await?;
            Ok(Granted::Missing)
        }
    }

    /// The secret a `SecretId` names: by name in the caller's scope, by full ARN,
    /// or by partial ARN (the name without its suffix).
    async fn lookup(&self, call: &Call<'_>, secret_id: &str) -> Result<Lookup, ApiError> {
        let scope = call.caller.scope();
        match parse_secret_id(secret_id) {
            SecretRef::Name(name) => Ok(Lookup {
                found: self
                    .store
                    .secret_by_name(&scope, name)
                    .await
                    .map_err(internal)?,
                guess: format!(
                    "arn:aws:secretsmanager:{}:{}:secret:{name}",
                    scope.region, scope.account_id
                ),
                owner: scope.account_id,
            }),
            SecretRef::Arn {
                arn,
                region,
                account,
                resource,
            } => {
                if region != scope.region {
                    return Err(ApiError::not_found());
                }
                let found =
                    if let Some(s) = self.store.secret_by_arn(arn).await.map_err(internal)? {
                        Some(s)
                    } else if looks_complete(resource) {
                        // As AWS reads it: a name ending in `-` and six characters
                        // is a complete ARN's, so no partial-ARN lookup follows.
                        None
                    } else {
                        let owner = Scope {
                            account_id: account.to_string(),
                            region: region.to_string(),
                        };
                        self.store
                            .secret_by_name(&owner, resource)
                            .await
                            .map_err(internal)?
                    };
                Ok(Lookup {
                    found,
                    guess: arn.to_string(),
                    owner: account.to_string(),
                })
            }
        }
    }

    /// A secret's resource policy, if it has one: parsed once per revision of the
    /// secret, not on every request that reads it.
    fn resource_policy(&self, s: &Secret) -> Result<Option<Arc<Policy>>, ApiError> {
        let Some(doc) = s.row.attrs.get(POLICY_ATTR).and_then(Value::as_str) else {
            return Ok(None);
        };
        let cache = &self.cache.resource_policies;
        if let Some((rev, p)) = cache.read().ok().and_then(|m| m.get(&s.row.arn).cloned()) {
            if rev == s.row.revision {
                return Ok(Some(p));
            }
        }
        let p = Arc::new(Policy::parse(doc, Kind::Resource).map_err(internal)?);
        if let Ok(mut m) = cache.write() {
            if m.len() >= POLICY_CACHE_MAX {
                m.clear();
            }
            m.insert(s.row.arn.clone(), (s.row.revision, p.clone()));
        }
        Ok(Some(p))
    }

    /// Authorizes `secretsmanager:{operation}` on a second secret an operation
    /// acts on (a cross-account replica it links), with that secret's policy.
    pub(crate) async fn authorize_on(
        &self,
        call: &Call<'_>,
        operation: &str,
        s: &Secret,
    ) -> Result<(), ApiError> {
        self.authorize(call, operation, &[], Some(s), &s.row.arn, &s.row.account_id)
            .await
    }

    /// Authorizes a further `secretsmanager:{operation}` on a secret the call
    /// is creating, `arn`, in the caller's account.
    pub(crate) async fn authorize_new(
        &self,
        call: &Call<'_>,
        operation: &str,
        arn: &str,
    ) -> Result<(), ApiError> {
        let owner = call.caller.account_id.clone();
        self.authorize(call, operation, &[], None, arn, &owner)
            .await
    }

    /// Authorizes `secretsmanager:{operation}` on `resource` (a secret's ARN, or
    /// `*`) owned by `owner`, with the request's condition keys.
    pub(super) async fn authorize(
        &self,
        call: &Call<'_>,
        operation: &str,
        keys: &[(String, Vec<String>)],
        secret: Option<&Secret>,
        resource: &str,
        owner: &str,
    ) -> Result<(), ApiError> {
        let action = format!("secretsmanager:{operation}");
        self.authorize_action(call, &action, keys, secret, resource, owner)
            .await
    }

    /// Authorizes a full action name (`secretsmanager:GetSecretValue`,
    /// `lambda:InvokeFunction`) on `resource`, owned by `owner`.
    pub(super) async fn authorize_action(
        &self,
        call: &Call<'_>,
        action: &str,
        keys: &[(String, Vec<String>)],
        secret: Option<&Secret>,
        resource: &str,
        owner: &str,
    ) -> Result<(), ApiError> {
        let caller = call.caller;
        // The service itself (rotation, the sweeper) acts within the secret's account.
        if caller.internal {
            return if caller.account_id == owner {
                Ok(())
            } else {
                Err(ApiError::new(
                    ErrorCode::AccessDenied,
                    "Internal callers stay in their account.",
                ))
            };
        }
        let policy = match secret {
            Some(s) => self.resource_policy(s)?,
            None => None,
        };
        // The root of the owning account, and no resource policy: always allowed.
        if policy.is_none()
            && caller.session.is_none()
            && caller.account_id == owner
            && caller.principal_arn.ends_with(":root")
        {
            return Ok(());
        }
        let id = self.identity(caller).await?;
        let mut ctx = self.base_context(caller, &id);
        for (k, v) in keys {
            ctx.set_many(k, v.clone());
        }
        if let Some(s) = secret {
            secret_keys(s, &mut ctx);
        }
        Self::decide(
            &id,
            action,
            resource,
            owner,
            policy.as_deref(),
            &ctx,
            ErrorCode::AccessDenied,
        )
    }

    /// May `principal_arn` (a user or the root of `secret`'s account) still read
    /// `secret`? The rotation engine asks before it reads a master secret on the
    /// behalf of whoever configured the rotation.
    pub(crate) async fn may_still_read(
        &self,
        principal_arn: &str,
        session: Option<crate::context::Session>,
        secret: &Secret,
    ) -> Result<(), ApiError> {
        let r = &secret.row;
        let caller =
            crate::context::Caller::on_behalf_of(&r.account_id, &r.region, principal_arn, session);
        let call = Call::new(&caller, action::GET_SECRET_VALUE);
        self.authorize(
            &call,
            action::GET_SECRET_VALUE,
            &[],
            Some(secret),
            &r.arn,
            &r.account_id,
        )
        .await
    }

    /// May `caller` subscribe to its account's change stream at all
    /// (`secretsmanager:SubscribeChanges`)? Each event is then filtered by
    /// [`Identity::visible_events`].
    pub(crate) async fn authorize_stream(&self, caller: &crate::Caller) -> Result<(), ApiError> {
        let call = Call::new(caller, action::SUBSCRIBE_CHANGES);
        let account = &caller.account_id;
        self.authorize(&call, action::SUBSCRIBE_CHANGES, &[], None, "*", account)
            .await
    }

    /// The change events `caller` may see: those of secrets it may describe
    /// (`secretsmanager:DescribeSecret` on the secret). The account's root sees all.
    pub async fn visible_events(
        &self,
        caller: &crate::Caller,
        rows: Vec<coffer_store::EventRow>,
    ) -> Vec<coffer_store::EventRow> {
        if caller.session.is_none() && caller.principal_arn.ends_with(":root") {
            return rows;
        }
        let call = Call::internal(caller, action::DESCRIBE_SECRET);
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let body: Value = serde_json::from_str(&r.body).unwrap_or_default();
            let Some(arn) = body["resources"][0].as_str() else {
                continue;
            };
            // A read that fails drops the event: deciding without the secret's
            // resource policy could skip its denies.
            let Ok(secret) = self.store.secret_by_arn(arn).await else {
                continue;
            };
            let seen = self
                .authorize(&call, call.name, &[], secret.as_deref(), arn, &r.account_id)
                .await;
            if seen.is_ok() {
                out.push(r);
            }
        }
        out
    }
}

/// The condition keys a secret carries: its id, tags and rotation function.
fn secret_keys(s: &Secret, ctx: &mut Context) {
    ctx.set("secretsmanager:SecretId", s.row.arn.clone());
    for (k, v) in s.row.tags.iter().flatten() {
        ctx.set(&format!("aws:ResourceTag/{k}"), v.clone());
        ctx.set(&format!("secretsmanager:ResourceTag/{k}"), v.clone());
    }
    if let Some(l) = crate::attrs::RotationState::of(s).and_then(|r| r.lambda_arn) {
        ctx.set("secretsmanager:resource/AllowRotationLambdaArn", l);
    }
}

/// Whether an ARN's resource part ends as a complete secret ARN's does (`-`
/// and the six characters of its suffix).
fn looks_complete(resource: &str) -> bool {
    crate::arn::has_suffix(resource)
}
