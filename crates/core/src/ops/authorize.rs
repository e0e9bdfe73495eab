//! Authorization of Secrets Manager actions: the action name and resource ARN AWS
//! uses, the condition keys of the request and of the secret, and the secret's
//! resource policy.

use crate::service::{Call, Service};
use coffer_api::{ApiError, ErrorCode};
use coffer_policy::{Context, Kind, Policy};
use coffer_store::Secret;
use serde_json::Value;
use std::sync::Arc;

/// Parsed resource policies kept at most.
const POLICY_CACHE_MAX: usize = 10_000;

/// Where a secret's resource policy lives in its attributes.
pub(crate) const POLICY_ATTR: &str = "ResourcePolicy";

/// The request's own condition keys, from its (audit-safe) parameters.
fn request_keys(params: &Value, ctx: &mut Context) {
    let s = |k: &str| params.get(k).and_then(Value::as_str);
    for (param, key) in [
        ("versionId", "secretsmanager:VersionId"),
        ("versionStage", "secretsmanager:VersionStage"),
        ("description", "secretsmanager:Description"),
        ("kmsKeyId", "secretsmanager:KmsKeyId"),
        ("name", "secretsmanager:Name"),
        ("rotationLambdaARN", "secretsmanager:RotationLambdaARN"),
    ] {
        if let Some(v) = s(param) {
            ctx.set(key, v);
        }
    }
    if let Some(b) = params.get("blockPublicPolicy").and_then(Value::as_bool) {
        ctx.set("secretsmanager:BlockPublicPolicy", b.to_string());
    }
    let mut keys = vec![];
    for t in params
        .get("tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let (Some(k), Some(v)) = (
            t.get("key").and_then(Value::as_str),
            t.get("value").and_then(Value::as_str),
        ) {
            ctx.set(&format!("aws:RequestTag/{k}"), v);
            keys.push(k.to_string());
        }
    }
    for k in params
        .get("tagKeys")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        keys.extend(k.as_str().map(str::to_string));
    }
    if !keys.is_empty() {
        ctx.set_many("aws:TagKeys", keys);
    }
    let regions: Vec<String> = params
        .get("addReplicaRegions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("region").and_then(Value::as_str).map(str::to_string))
        .collect();
    if !regions.is_empty() {
        ctx.set_many("secretsmanager:AddReplicaRegions", regions);
    }
}

impl Service {
    /// A secret's resource policy, if it has one: parsed once per revision of the
    /// secret, not on every request that reads it.
    fn resource_policy(&self, s: &Secret) -> Result<Option<Arc<Policy>>, ApiError> {
        let Some(doc) = s.row.attrs.get(POLICY_ATTR).and_then(Value::as_str) else {
            return Ok(None);
        };
        let cache = &self.identities.resource_policies;
        if let Some((rev, p)) = cache.read().ok().and_then(|m| m.get(&s.row.arn).cloned()) {
            if rev == s.row.revision {
                return Ok(Some(p));
            }
        }
        let p = Arc::new(Policy::parse(doc, Kind::Resource).map_err(crate::internal)?);
        if let Ok(mut m) = cache.write() {
            if m.len() >= POLICY_CACHE_MAX {
                m.clear();
            }
            m.insert(s.row.arn.clone(), (s.row.revision, p.clone()));
        }
        Ok(Some(p))
    }

    /// Authorizes `action` (e.g. `secretsmanager:GetSecretValue`) on `resource`,
    /// the secret's ARN (or `*`), owned by `owner`.
    pub(crate) async fn authorize(
        &self,
        call: &Call<'_>,
        action: &str,
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
        request_keys(&call.params, &mut ctx);
        if let Some(s) = secret {
            ctx.set("secretsmanager:SecretId", s.row.arn.clone());
            for (k, v) in s.row.tags.iter().flatten() {
                ctx.set(&format!("aws:ResourceTag/{k}"), v.clone());
                ctx.set(&format!("secretsmanager:ResourceTag/{k}"), v.clone());
            }
            if let Some(l) = s.row.attrs.get("RotationLambdaARN").and_then(Value::as_str) {
                ctx.set("secretsmanager:resource/AllowRotationLambdaArn", l);
            }
        }
        self.decide(
            &id,
            action,
            resource,
            owner,
            policy.as_deref(),
            &ctx,
            ErrorCode::AccessDenied,
        )
    }
}

impl Service {
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
        let call = Call::internal(caller, "DescribeSecret");
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let body: Value = serde_json::from_str(&r.body).unwrap_or_default();
            let Some(arn) = body["resources"][0].as_str() else {
                continue;
            };
            let secret = self.store.secret_by_arn(arn).await.ok().flatten();
            let action = "secretsmanager:DescribeSecret";
            let seen = self
                .authorize(&call, action, secret.as_deref(), arn, &r.account_id)
                .await;
            if seen.is_ok() {
                out.push(r);
            }
        }
        out
    }
}
