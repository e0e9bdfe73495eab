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
fn request_tags(keys: &mut Vec<(String, Vec<String>)>, tags: &[(String, String)]) {
    for (k, v) in tags {
        keys.push((format!("aws:RequestTag/{k}"), vec![v.clone()]));
    }
    tag_keys(keys, tags.iter().map(|(k, _)| k.clone()).collect());
}

fn tag_keys(keys: &mut Vec<(String, Vec<String>)>, names: Vec<String>) {
    if !names.is_empty() {
        keys.push(("aws:TagKeys".into(), names));
    }
}

/// What an IAM operation acts on, and the condition keys its request carries.
fn iam_target(
    account: &str,
    caller_user: Option<&str>,
    op: &IamServed,
) -> (String, Vec<(String, Vec<String>)>) {
    use IamServed as Op;
    let user = |n: &str| format!("arn:aws:iam::{account}:user/{n}");
    let role = |n: &str| format!("arn:aws:iam::{account}:role/{n}");
    // Access-key operations and GetUser default to the calling user.
    let user_or_self = |n: &Option<String>| match n.as_deref().or(caller_user) {
        Some(n) => user(n),
        None => "*".to_string(),
    };
    let mut keys = vec![];
    let resource = match op {
        Op::CreateUser(r) => {
            request_tags(&mut keys, &r.tags);
            user(&r.user_name)
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
            role(&r.role_name)
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
            format!("arn:aws:iam::{account}:policy/{}", r.policy_name)
        }
        Op::GetPolicy(r) => r.policy_arn.clone(),
        Op::DeletePolicy(r) => r.policy_arn.clone(),
        Op::GetPolicyVersion(r) => r.policy_arn.clone(),
        Op::CreatePolicyVersion(r) => r.policy_arn.clone(),
        Op::ListPolicyVersions(r) => r.policy_arn.clone(),
        Op::DeletePolicyVersion(r) => r.policy_arn.clone(),
        Op::ListUsers(_) | Op::ListRoles(_) | Op::ListPolicies(_) => "*".to_string(),
    };
    (resource, keys)
}

fn denied_assume(caller_arn: &str, role_arn: &str) -> ApiError {
    ApiError::new(
        ErrorCode::AccessDenied,
        format!("User: {caller_arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"),
    )
}

/// `arn:aws:iam::ACCOUNT:role/PATH/NAME` → (account, name).
fn parse_role_arn(arn: &str) -> Option<(&str, &str)> {
    let rest = arn.strip_prefix("arn:aws:iam::")?;
    let (account, res) = rest.split_once(':')?;
    let path = res.strip_prefix("role/")?;
    let name = path.rsplit('/').next()?;
    (crate::ids::valid_account_id(account) && !name.is_empty()).then_some((account, name))
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
        let (resource, keys) = iam_target(account, iam::caller_user_name(caller).as_deref(), op);
        let id = self.identity(caller).await?;
        let mut ctx = self.base_context(caller, &id);
        for (k, v) in &keys {
            ctx.set_many(k, v.clone());
        }
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
            StsServed::AssumeRole(r) => r,
        };
        let caller = call.caller;
        let denied = || denied_assume(&caller.principal_arn, &r.role_arn);
        let (account, name) = parse_role_arn(&r.role_arn).ok_or_else(denied)?;
        let Some((role, _)) = self.iam_load::<RoleDoc>(account, iam::ROLE, name).await? else {
            return Err(denied());
        };
        let trust = Policy::parse(&role.trust, Kind::Trust).map_err(|_| denied())?;
        let id = self.identity(caller).await?;
        let mut ctx = self.base_context(caller, &id);
        assume_role_keys(&mut ctx, r);
        Self::decide(
            &id,
            "sts:AssumeRole",
            &r.role_arn,
            account,
            Some(&trust),
            &ctx,
            ErrorCode::AccessDenied,
        )
        .map_err(|_| denied())?;
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
