//! The identity component: accounts, access keys, IAM, STS sessions, and
//! authorization with its caches. It is the only builder of the [`Grant`] that
//! proves an operation was authorized before its handler runs.
//!
//! Authorization sees the caller as a [`Subject`] (built once per access key and
//! IAM generation, then cached), adds the request's condition keys, and decides
//! with AWS's logic and AccessDenied message. Every cache here is dropped by IAM
//! generation, which this server's IAM writes and (through the outbox) other
//! servers' bump.

mod accounts;
mod credentials;
mod grant;
pub(crate) mod iam;
pub(crate) mod kms;
pub(crate) mod oidc_keys;
mod query;
mod secrets;
mod session;
mod sts;
mod web_identity;
mod web_token;

pub(crate) use grant::{Grant, RoleGrant};
pub use oidc_keys::WebIdentityOptions;
pub(crate) use session::SERVICE_PRINCIPAL;
pub(crate) use web_identity::WebGrant;

use crate::audit::AuditLog;
use crate::clock::Clock;
use crate::context::{Caller, Credential};
use crate::errors::internal;
use crate::keyring::Keyring;
use crate::outbox::Outbox;
use coffer_api::{ApiError, ErrorCode};
use coffer_policy::{evaluate, Context, Kind, Policy, Principal, Request};
use coffer_store::Store;
use iam::{RoleDoc, UserDoc};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

pub(super) const CACHE_MAX: usize = 10_000;

/// Accounts, credentials, IAM, STS and authorization, with their caches.
pub struct Identity {
    store: Arc<dyn Store>,
    keys: Arc<Keyring>,
    clock: Arc<dyn Clock>,
    outbox: Arc<Outbox>,
    /// For calls this component answers outside the operation pipelines
    /// (creating accounts).
    audit: Arc<AuditLog>,
    cache: IdentityCache,
    /// The signing keys of OIDC issuers (AssumeRoleWithWebIdentity).
    oidc: oidc_keys::OidcKeys,
}

impl Identity {
    pub fn new(
        store: Arc<dyn Store>,
        keys: Arc<Keyring>,
        clock: Arc<dyn Clock>,
        outbox: Arc<Outbox>,
        audit: Arc<AuditLog>,
        web: &oidc_keys::WebIdentityOptions,
    ) -> Identity {
        let oidc = oidc_keys::OidcKeys::new(web).unwrap_or_else(|e| {
            // The CLI checks the bundle at start-up; without it, only
            // configured JWKS files and no fetching.
            tracing::error!(error = %e, "web identity: cannot load the OIDC CA bundle");
            oidc_keys::OidcKeys::files_only(web)
        });
        Identity {
            store,
            keys,
            clock,
            outbox,
            audit,
            cache: IdentityCache::default(),
            oidc,
        }
    }
}

/// The caller as policies see it.
#[derive(Debug)]
pub struct Subject {
    pub principal: Principal,
    /// `aws:userid`: the account for root, the user id, or `ROLEID:session`.
    pub user_id: String,
    pub user_name: Option<String>,
    /// `aws:PrincipalType`.
    pub kind: &'static str,
    pub tags: Vec<(String, String)>,
    pub policies: Vec<Policy>,
    pub session_policies: Vec<Policy>,
    pub source_identity: Option<String>,
    /// The principal's condition keys, built once and shared by its requests.
    pub keys: Arc<Context>,
}

#[derive(Default)]
struct IdentityCache {
    generation: AtomicU64,
    map: RwLock<HashMap<String, (u64, Arc<Subject>)>>,
    /// The last formatted `aws:CurrentTime` and its second.
    time: RwLock<(i64, String)>,
    /// Parsed resource policies by secret ARN, with the revision they were read at.
    resource_policies: RwLock<HashMap<String, (i64, Arc<Policy>)>>,
    /// Access keys by id, decrypted, with the IAM generation they were read at.
    creds: RwLock<HashMap<String, (u64, Arc<Credential>)>>,
    /// Whether a session's principal still exists as issued, by session key id
    /// and IAM generation.
    sessions: RwLock<HashMap<String, (u64, bool)>>,
}

impl IdentityCache {
    /// The IAM generation: bumped by every IAM change, this process's or (through
    /// the outbox) another server's, so what was cached before it is stale.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// A cached access key, if it was read since the last IAM change.
    pub(crate) fn credential(&self, access_key_id: &str) -> Option<Arc<Credential>> {
        let gen = self.generation();
        let m = self.creds.read().ok()?;
        m.get(access_key_id)
            .filter(|(g, _)| *g == gen)
            .map(|(_, c)| c.clone())
    }

    /// A session's principal check, if made since the last IAM change.
    fn session_check(&self, access_key_id: &str) -> Option<bool> {
        let gen = self.generation();
        let m = self.sessions.read().ok()?;
        m.get(access_key_id)
            .filter(|(g, _)| *g == gen)
            .map(|(_, ok)| *ok)
    }

    fn remember_session_check(&self, seen: u64, access_key_id: &str, ok: bool) {
        if let Ok(mut m) = self.sessions.write() {
            if self.generation() != seen {
                return;
            }
            if m.len() >= CACHE_MAX {
                m.clear();
            }
            m.insert(access_key_id.to_string(), (seen, ok));
        }
    }

    /// Caches an access key read at generation `seen`; a key read before an IAM
    /// change that raced the read is not cached (it may be the revoked one).
    pub(crate) fn remember_credential(&self, seen: u64, cred: Arc<Credential>) {
        if let Ok(mut m) = self.creds.write() {
            if self.generation() != seen {
                return;
            }
            if m.len() >= CACHE_MAX {
                m.clear();
            }
            m.insert(cred.access_key_id.clone(), (seen, cred));
        }
    }
}

/// The condition keys that depend only on the principal.
fn principal_keys(id: &Subject) -> Context {
    let mut ctx = Context::new();
    let principal_arn = id
        .principal
        .role_arn
        .as_deref()
        .unwrap_or(&id.principal.arn);
    ctx.set("aws:PrincipalArn", principal_arn)
        .set("aws:PrincipalAccount", id.principal.account.clone())
        .set("aws:PrincipalType", id.kind)
        .set("aws:userid", id.user_id.clone());
    if let Some(n) = &id.user_name {
        ctx.set("aws:username", n.clone());
    }
    if let Some(s) = &id.source_identity {
        ctx.set("aws:SourceIdentity", s.clone());
    }
    for (k, v) in &id.tags {
        ctx.set(&format!("aws:PrincipalTag/{k}"), v.clone());
    }
    ctx
}

/// The last segment of an IAM ARN's resource part (`user/path/NAME` → `NAME`).
fn last_segment(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

impl Identity {
    /// Called after every IAM write: cached identities are rebuilt on next use.
    pub(crate) fn iam_changed(&self) {
        self.cache.generation.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) async fn identity(&self, caller: &Caller) -> Result<Arc<Subject>, ApiError> {
        let gen = self.cache.generation.load(Ordering::SeqCst);
        if let Some((g, id)) = self
            .cache
            .map
            .read()
            .ok()
            .and_then(|m| m.get(&caller.access_key_id).cloned())
        {
            if g == gen {
                return Ok(id);
            }
        }
        let mut id = self.build_identity(caller).await?;
        id.keys = Arc::new(principal_keys(&id));
        let id = Arc::new(id);
        if let Ok(mut m) = self.cache.map.write() {
            if m.len() >= CACHE_MAX {
                m.clear();
            }
            m.insert(caller.access_key_id.clone(), (gen, id.clone()));
        }
        Ok(id)
    }

    async fn build_identity(&self, caller: &Caller) -> Result<Subject, ApiError> {
        let account = caller.account_id.clone();
        let root = format!("arn:aws:iam::{account}:root");
        let session = caller.session.as_deref();
        let mut id = Subject {
            principal: Principal {
                arn: caller.principal_arn.clone(),
                account: account.clone(),
                role_arn: None,
            },
            user_id: account.clone(),
            user_name: None,
            kind: "Account",
            tags: vec![],
            policies: vec![],
            session_policies: vec![],
            source_identity: session.and_then(|s| s.source_identity.clone()),
            keys: Arc::default(),
        };
        if let Some(role) = session.and_then(|s| s.role.as_ref()) {
            let s = session.expect("role implies session");
            id.principal.role_arn = Some(role.arn.clone());
            id.kind = "AssumedRole";
            id.user_id = format!("{}:{}", role.id, s.session_name.clone().unwrap_or_default());
            if let Some((doc, _)) = self
                .iam_load::<RoleDoc>(&role.account, iam::ROLE, &role.name)
                .await?
            {
                // A role deleted and re-created under the same name is another role.
                if doc.id == role.id {
                    id.tags = doc.tags.clone();
                    id.policies = self
                        .policies_of(&role.account, &doc.inline, &doc.attached)
                        .await?;
                }
            }
            iam::merge_tags(&mut id.tags, s.tags.clone());
            if let Some(p) = &s.policy {
                id.session_policies = vec![Policy::parse(p, Kind::Identity).map_err(internal)?];
            }
            return Ok(id);
        }
        if caller.principal_arn == root {
            return Ok(id);
        }
        let name = last_segment(&caller.principal_arn).to_string();
        id.kind = "User";
        id.user_name = Some(name.clone());
        if let Some((doc, _)) = self.iam_load::<UserDoc>(&account, iam::USER, &name).await? {
            id.user_id = doc.id.clone();
            id.tags = doc.tags.clone();
            id.policies = self
                .policies_of(&account, &doc.inline, &doc.attached)
                .await?;
        }
        Ok(id)
    }

    async fn policies_of(
        &self,
        account: &str,
        inline: &std::collections::BTreeMap<String, String>,
        attached: &[String],
    ) -> Result<Vec<Policy>, ApiError> {
        let mut docs: Vec<String> = inline.values().cloned().collect();
        for arn in attached {
            match self.policy_by_arn(account, arn).await {
                Ok((_, p, _)) => docs.extend(p.default_doc().map(str::to_string)),
                // Gone since it was attached: it grants nothing.
                Err(e) if e.code == ErrorCode::NoSuchEntity => {}
                Err(e) => return Err(e),
            }
        }
        Ok(docs
            .iter()
            .filter_map(|d| match Policy::parse(d, Kind::Identity) {
                Ok(p) => Some(p),
                Err(e) => {
                    tracing::warn!(error = %e, "skipping a stored policy that no longer parses");
                    None
                }
            })
            .collect())
    }

    /// The condition keys every request carries.
    fn base_context(&self, caller: &Caller, id: &Subject) -> Context {
        let mut ctx = Context::over(id.keys.clone());
        self.request_keys(&mut ctx, caller);
        ctx
    }

    /// The keys of the request itself, whoever makes it (an unsigned web
    /// identity too): where from, which region, when, over what.
    fn request_keys(&self, ctx: &mut Context, caller: &Caller) {
        ctx.set("aws:SourceIp", caller.source_ip.clone())
            .set("aws:RequestedRegion", caller.region.clone())
            .set("aws:CurrentTime", self.current_time())
            .set("aws:EpochTime", (self.clock.now_ms() / 1000).to_string())
            // Per request, not per identity: one principal calls over both.
            .set(
                "aws:SecureTransport",
                if caller.secure { "true" } else { "false" },
            );
        // When temporary credentials were issued: a deny on sessions issued before
        // a date revokes them (AWS's "revoke active sessions").
        if let Some(s) = &caller.session {
            ctx.set("aws:TokenIssueTime", crate::clock::iso_seconds(s.issued_ms));
        }
    }

    /// `aws:CurrentTime`, formatted once per second rather than per request.
    fn current_time(&self) -> String {
        let secs = self.clock.now_ms().div_euclid(1000);
        if let Ok(g) = self.cache.time.read() {
            if g.0 == secs {
                return g.1.clone();
            }
        }
        let s = crate::clock::iso_seconds(secs * 1000);
        if let Ok(mut g) = self.cache.time.write() {
            *g = (secs, s.clone());
        }
        s
    }

    /// Decides one action on one resource; AccessDenied with AWS's message if not.
    #[allow(clippy::too_many_arguments)]
    fn decide(
        id: &Subject,
        action: &str,
        resource: &str,
        resource_account: &str,
        resource_policy: Option<&Policy>,
        ctx: &Context,
        code: ErrorCode,
    ) -> Result<(), ApiError> {
        // Root in its own account with no resource policy: nothing can deny it.
        if resource_policy.is_none()
            && id.principal.is_root()
            && id.principal.account == resource_account
        {
            return Ok(());
        }
        let d = evaluate(&Request {
            principal: &id.principal,
            action,
            resource,
            resource_account,
            context: ctx,
            identity: &id.policies,
            session: &id.session_policies,
            resource_policy,
            // A role is assumed, and its session tagged or given a source
            // identity, only if its trust policy says so.
            // A KMS key's policy works the same way: it must allow, by
            // naming the caller or its account (which defers to IAM).
            resource_must_allow: action.starts_with("sts:") || action.starts_with("kms:"),
        });
        if d.allowed() {
            return Ok(());
        }
        Err(ApiError::new(
            code,
            format!(
                "User: {} is not authorized to perform: {action} on resource: {resource} {}",
                id.principal.arn,
                d.reason(action)
            ),
        ))
    }
}

/// Does a trust policy let the rotation service assume the role?
pub(crate) fn trusts_service(trust: &str, role_arn: &str, account: &str) -> bool {
    let Ok(policy) = Policy::parse(trust, Kind::Trust) else {
        return false;
    };
    let service = Principal {
        arn: session::SERVICE_PRINCIPAL.into(),
        account: account.into(),
        role_arn: None,
    };
    evaluate(&Request {
        principal: &service,
        action: "sts:AssumeRole",
        resource: role_arn,
        resource_account: account,
        context: &Context::new(),
        identity: &[],
        session: &[],
        resource_policy: Some(&policy),
        resource_must_allow: true,
    })
    .allowed()
}
