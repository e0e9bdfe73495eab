//! Authorization of IAM and STS operations, from their typed requests: IAM's
//! action on the entity's ARN with the request's tag keys; STS's AssumeRole
//! against the role's trust policy; the two STS operations AWS lets anyone call.

use super::secrets::Granted;
use super::{Grant, RoleGrant};
use crate::call::Call;
use crate::identity::iam::{self, RoleDoc};
use crate::identity::Identity;
use coffer_api::iam_ops::IamServed;
use coffer_api::sts_ops::StsServed;
use coffer_api::{ApiError, ErrorCode};
use coffer_policy::{Context, Kind, Policy};

/// Keys for each tag a request sets (`aws:RequestTag/KEY`, `aws:TagKeys`).
pub(super) fn request_tags(keys: &mut Vec<(String, Vec<String>)>, tags: &[(String, String)]) {
    for (k, v) in tags {
        keys.push((format!("aws:RequestTag/{k}"), vec![v.clone()]));
    }
    tag_keys(keys, tags.iter().map(|(k, _)| k.clone()).collect());
}

/// The tags of the IAM entity acted on, under both of IAM's names for them
/// (`aws:ResourceTag/KEY`, `iam:ResourceTag/KEY`): what attribute-based
/// statements such as "roles tagged with my team" test.
pub(super) fn resource_tags(ctx: &mut Context, tags: &[(String, String)]) {
    for (k, v) in tags {
        ctx.set(&format!("aws:ResourceTag/{k}"), v.clone());
        ctx.set(&format!("iam:ResourceTag/{k}"), v.clone());
    }
}

fn tag_keys(keys: &mut Vec<(String, Vec<String>)>, names: Vec<String>) {
    if !names.is_empty() {
        keys.push(("aws:TagKeys".into(), names));
    }
}

/// An ARN and the tags of the entity it names.
type Tagged = (String, Vec<(String, String)>);

/// What an IAM operation acts on.
enum Resource {
    /// An existing user or role, by name: its ARN carries its stored path.
    Named(&'static str, String),
    /// An entity to create: kind, requested path, name.
    New(&'static str, Option<String>, String),
    /// A managed policy's ARN, as given (the handler finds it at that path only).
    Arn(String),
    /// The account (listing).
    Any,
}

/// What an IAM operation acts on, and the condition keys its request carries.
fn iam_target(
    account: &str,
    caller_user: Option<&str>,
    op: &IamServed,
) -> (Resource, Vec<(String, Vec<String>)>) {
    use IamServed as Op;
    let user = |n: &str| Resource::Named(iam::USER, n.to_string());
    let role = |n: &str| Resource::Named(iam::ROLE, n.to_string());
    // Access-key operations and GetUser default to the calling user.
    let user_or_self = |n: &Option<String>| match n.as_deref().or(caller_user) {
        Some(n) => user(n),
        None => Resource::Any,
    };
    let mut keys = vec![];
    let resource = match op {
        Op::CreateUser(r) => {
            request_tags(&mut keys, &r.tags);
            Resource::New(iam::USER, r.path.clone(), r.user_name.clone())
        }
        Op::TagUser(r) => {
            request_tags(&mut keys, &r.tags);
            user(&r.user_name)
        }
        Op::UntagUser(r) => {
            tag_keys(&mut keys, r.tag_keys.clone());
            user(&r.user_name)
        }
        Op::AttachUserPolicy(r) => {
            keys.push(("iam:PolicyARN".into(), vec![r.policy_arn.clone()]));
            user(&r.user_name)
        }
        Op::DetachUserPolicy(r) => {
            keys.push(("iam:PolicyARN".into(), vec![r.policy_arn.clone()]));
            user(&r.user_name)
        }
        Op::GetUser(r) => user_or_self(&r.user_name),
        Op::DeleteUser(r) => user(&r.user_name),
        Op::PutUserPolicy(r) => user(&r.user_name),
        Op::GetUserPolicy(r) => user(&r.user_name),
        Op::DeleteUserPolicy(r) => user(&r.user_name),
        Op::ListAttachedUserPolicies(r) => user(&r.user_name),
        Op::ListUserPolicies(r) => user(&r.user_name),
        Op::CreateAccessKey(r) => user_or_self(&r.user_name),
        Op::ListAccessKeys(r) => user_or_self(&r.user_name),
        Op::DeleteAccessKey(r) => user_or_self(&r.user_name),
        Op::UpdateAccessKey(r) => user_or_self(&r.user_name),
        Op::CreateRole(r) => {
            request_tags(&mut keys, &r.tags);
            Resource::New(iam::ROLE, r.path.clone(), r.role_name.clone())
        }
        Op::TagRole(r) => {
            request_tags(&mut keys, &r.tags);
            role(&r.role_name)
        }
        Op::UntagRole(r) => {
            tag_keys(&mut keys, r.tag_keys.clone());
            role(&r.role_name)
        }
        Op::AttachRolePolicy(r) => {
            keys.push(("iam:PolicyARN".into(), vec![r.policy_arn.clone()]));
            role(&r.role_name)
        }
        Op::DetachRolePolicy(r) => {
            keys.push(("iam:PolicyARN".into(), vec![r.policy_arn.clone()]));
            role(&r.role_name)
        }
        Op::GetRole(r) => role(&r.role_name),
        Op::DeleteRole(r) => role(&r.role_name),
        Op::UpdateAssumeRolePolicy(r) => role(&r.role_name),
        Op::PutRolePolicy(r) => role(&r.role_name),
        Op::GetRolePolicy(r) => role(&r.role_name),
        Op::DeleteRolePolicy(r) => role(&r.role_name),
        Op::ListAttachedRolePolicies(r) => role(&r.role_name),
        Op::ListRolePolicies(r) => role(&r.role_name),
        Op::CreatePolicy(r) => {
            request_tags(&mut keys, &r.tags);
            Resource::New(iam::POLICY, r.path.clone(), r.policy_name.clone())
        }
        Op::GetPolicy(r) => Resource::Arn(r.policy_arn.clone()),
        Op::DeletePolicy(r) => Resource::Arn(r.policy_arn.clone()),
        Op::GetPolicyVersion(r) => Resource::Arn(r.policy_arn.clone()),
        Op::CreatePolicyVersion(r) => Resource::Arn(r.policy_arn.clone()),
        Op::ListPolicyVersions(r) => Resource::Arn(r.policy_arn.clone()),
        Op::DeletePolicyVersion(r) => Resource::Arn(r.policy_arn.clone()),
        Op::CreateOpenIDConnectProvider(r) => {
            request_tags(&mut keys, &r.tags);
            let name = r.url.strip_prefix("https://").unwrap_or(&r.url);
            Resource::Arn(iam::oidc::provider_arn(account, name))
        }
        Op::TagOpenIDConnectProvider(r) => {
            request_tags(&mut keys, &r.tags);
            Resource::Arn(r.open_id_connect_provider_arn.clone())
        }
        Op::UntagOpenIDConnectProvider(r) => {
            tag_keys(&mut keys, r.tag_keys.clone());
            Resource::Arn(r.open_id_connect_provider_arn.clone())
        }
        Op::GetOpenIDConnectProvider(r) => Resource::Arn(r.open_id_connect_provider_arn.clone()),
        Op::DeleteOpenIDConnectProvider(r) => Resource::Arn(r.open_id_connect_provider_arn.clone()),
        Op::AddClientIDToOpenIDConnectProvider(r) => {
            Resource::Arn(r.open_id_connect_provider_arn.clone())
        }
        Op::RemoveClientIDFromOpenIDConnectProvider(r) => {
            Resource::Arn(r.open_id_connect_provider_arn.clone())
        }
        Op::UpdateOpenIDConnectProviderThumbprint(r) => {
            Resource::Arn(r.open_id_connect_provider_arn.clone())
        }
        Op::ListOpenIDConnectProviderTags(r) => {
            Resource::Arn(r.open_id_connect_provider_arn.clone())
        }
        Op::ListUsers(_)
        | Op::ListRoles(_)
        | Op::ListPolicies(_)
        | Op::ListOpenIDConnectProviders(_) => Resource::Any,
    };
    (resource, keys)
}

fn denied_assume(caller_arn: &str, role_arn: &str) -> ApiError {
    denied_action(caller_arn, "sts:AssumeRole", role_arn)
}

fn denied_action(caller_arn: &str, action: &str, role_arn: &str) -> ApiError {
    ApiError::new(
        ErrorCode::AccessDenied,
        format!(
            "User: {caller_arn} is not authorized to perform: {action} on resource: {role_arn}"
        ),
    )
}

/// `arn:aws:iam::ACCOUNT:role/PATH/NAME` → (account, path, name).
pub(super) fn parse_role_arn(arn: &str) -> Option<(&str, String, &str)> {
    let account = arn.strip_prefix("arn:aws:iam::")?.split(':').next()?;
    if !crate::ids::valid_account_id(account) {
        return None;
    }
    let (path, name) = iam::split_entity_arn(arn, account, iam::ROLE)?;
    Some((account, path, name))
}

impl Identity {
    /// Authorizes an IAM operation: `iam:ACTION` on the entity it names.
    pub(crate) async fn authorize_iam<'a>(
        &'a self,
        call: &'a Call<'a>,
        op: &IamServed,
    ) -> Result<Grant<'a>, ApiError> {
        let caller = call.caller;
        let account = caller.account_id.as_str();
        let (target, keys) = iam_target(account, iam::caller_user_name(caller).as_deref(), op);
        let (resource, tags) = self.resource_arn(account, target).await?;
        let id = self.identity(caller).await?;
        let mut ctx = self.base_context(caller, &id);
        for (k, v) in &keys {
            ctx.set_many(k, v.clone());
        }
        resource_tags(&mut ctx, &tags);
        let action = format!("iam:{}", call.name);
        Self::decide(
            &id,
            &action,
            &resource,
            account,
            None,
            &ctx,
            ErrorCode::AccessDenied,
        )?;
        Ok(Grant::new(self, call, keys, Granted::Account))
    }

    /// Authorizes an EventBridge operation: `events:ACTION` on `resource` (a
    /// rule's ARN, or `*`) in the caller's account, with the request's
    /// condition keys (tags).
    pub(crate) async fn authorize_events(
        &self,
        call: &Call<'_>,
        resource: &str,
        keys: &[(String, Vec<String>)],
    ) -> Result<(), ApiError> {
        let action = format!("events:{}", call.name);
        self.authorize_service(call, &action, resource, keys).await
    }

    /// Authorizes `action` (`service:Name`) on `resource` in the caller's own
    /// account, by its identity policies alone.
    pub(crate) async fn authorize_service(
        &self,
        call: &Call<'_>,
        action: &str,
        resource: &str,
        keys: &[(String, Vec<String>)],
    ) -> Result<(), ApiError> {
        let caller = call.caller;
        let id = self.identity(caller).await?;
        let mut ctx = self.base_context(caller, &id);
        for (k, v) in keys {
            ctx.set_many(k, v.clone());
        }
        Self::decide(
            &id,
            action,
            resource,
            &caller.account_id,
            None,
            &ctx,
            ErrorCode::AccessDenied,
        )
    }

    /// The ARN to authorize and the tags of the entity it names: an existing
    /// user or role with its stored path (so path-scoped statements match),
    /// one to create with the path requested (no tags yet: the request's are
    /// `aws:RequestTag`), a policy or OIDC provider by its ARN.
    async fn resource_arn(&self, account: &str, target: Resource) -> Result<Tagged, ApiError> {
        Ok(match target {
            Resource::Named(kind, name) => {
                let found = if kind == iam::USER {
                    self.iam_load::<iam::UserDoc>(account, kind, &name)
                        .await?
                        .map(|(d, _)| (d.path, d.tags))
                } else {
                    self.iam_load::<RoleDoc>(account, kind, &name)
                        .await?
                        .map(|(d, _)| (d.path, d.tags))
                };
                let (path, tags) = found.unwrap_or_else(|| ("/".into(), vec![]));
                (iam::entity_arn(account, kind, &path, &name), tags)
            }
            Resource::New(kind, path, name) => (
                iam::entity_arn(account, kind, path.as_deref().unwrap_or("/"), &name),
                vec![],
            ),
            Resource::Arn(arn) => {
                let tags = self.tags_of_arn(account, &arn).await?;
                (arn, tags)
            }
            Resource::Any => ("*".to_string(), vec![]),
        })
    }

    /// The tags of this account's managed policy or OIDC provider an ARN
    /// names; none for anything else (the handler answers NoSuchEntity).
    async fn tags_of_arn(
        &self,
        account: &str,
        arn: &str,
    ) -> Result<Vec<(String, String)>, ApiError> {
        if let Some((path, name)) = iam::split_entity_arn(arn, account, iam::POLICY) {
            let doc = self
                .iam_load::<iam::PolicyDoc>(account, iam::POLICY, name)
                .await?
                .filter(|(d, _)| d.path == path);
            return Ok(doc.map(|(d, _)| d.tags).unwrap_or_default());
        }
        let own = format!("arn:aws:iam::{account}:{}/", iam::oidc::OIDC);
        if let Some(name) = arn.strip_prefix(&own).filter(|n| !n.is_empty()) {
            let doc = self
                .iam_load::<iam::oidc::OidcDoc>(account, iam::oidc::OIDC, name)
                .await?;
            return Ok(doc.map(|(d, _)| d.tags).unwrap_or_default());
        }
        Ok(vec![])
    }

    /// Authorizes an STS operation. GetCallerIdentity and GetSessionToken need
    /// no permission (as in AWS); AssumeRole needs the role's trust policy to
    /// allow the caller, and the caller's own policies to allow it across accounts.
    pub(crate) async fn authorize_sts<'a>(
        &'a self,
        call: &'a Call<'a>,
        op: &StsServed,
    ) -> Result<Grant<'a>, ApiError> {
        let r = match op {
            StsServed::GetCallerIdentity(_) | StsServed::GetSessionToken(_) => {
                return Ok(Grant::new(self, call, vec![], Granted::Account))
            }
            StsServed::AssumeRoleWithWebIdentity(r) => {
                return self.authorize_web_identity(call, r).await
            }
            StsServed::AssumeRole(r) => r,
        };
        let caller = call.caller;
        let denied = || denied_assume(&caller.principal_arn, &r.role_arn);
        let (account, path, name) = parse_role_arn(&r.role_arn).ok_or_else(denied)?;
        // The role at exactly the path the ARN names: `role/dev-x/Admin` is not
        // the role `Admin` at `/`.
        let Some((role, _)) = self
            .iam_load::<RoleDoc>(account, iam::ROLE, name)
            .await?
            .filter(|(d, _)| d.path == path)
        else {
            return Err(denied());
        };
        let trust = Policy::parse(&role.trust, Kind::Trust).map_err(|_| denied())?;
        let id = self.identity(caller).await?;
        let mut ctx = self.base_context(caller, &id);
        assume_role_keys(&mut ctx, r);
        resource_tags(&mut ctx, &role.tags);
        // Session tags and a source identity are permissions of their own, which
        // the trust policy (and, across accounts, the caller's) must grant too.
        let mut actions = vec!["sts:AssumeRole"];
        if !r.tags.is_empty() || !r.transitive_tag_keys.is_empty() {
            actions.push("sts:TagSession");
        }
        if r.source_identity.is_some() {
            actions.push("sts:SetSourceIdentity");
        }
        for action in actions {
            Self::decide(
                &id,
                action,
                &r.role_arn,
                account,
                Some(&trust),
                &ctx,
                ErrorCode::AccessDenied,
            )
            .map_err(|_| denied_action(&caller.principal_arn, action, &r.role_arn))?;
        }
        // A source identity, once set, follows the session through role chaining.
        let inherited = caller
            .session
            .as_ref()
            .and_then(|s| s.source_identity.as_ref());
        if let (Some(had), Some(asked)) = (inherited, &r.source_identity) {
            if had != asked {
                return Err(ApiError::new(
                    ErrorCode::AccessDenied,
                    "The source identity of a role session cannot be changed in a role chain.",
                ));
            }
        }
        let grant = RoleGrant {
            account: account.to_string(),
            name: name.to_string(),
            doc: role,
        };
        Ok(Grant::new(
            self,
            call,
            vec![],
            Granted::Role(Box::new(grant)),
        ))
    }
}

fn assume_role_keys(ctx: &mut Context, r: &coffer_api::sts_ops::AssumeRoleRequest) {
    ctx.set("sts:RoleSessionName", r.role_session_name.clone());
    if let Some(x) = &r.external_id {
        ctx.set("sts:ExternalId", x.clone());
    }
    if let Some(x) = &r.source_identity {
        ctx.set("sts:SourceIdentity", x.clone());
    }
    let mut keys = vec![];
    request_tags(&mut keys, &r.tags);
    for (k, v) in keys {
        ctx.set_many(&k, v);
    }
    if !r.transitive_tag_keys.is_empty() {
        ctx.set_many("sts:TransitiveTagKeys", r.transitive_tag_keys.clone());
    }
}
