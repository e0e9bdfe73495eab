//! IAM: users, access keys, roles and policies of each account, over the Query
//! protocol's shapes. Entities are stored as JSON documents (`IamRow`), one row per
//! user, role or managed policy; every write bumps the IAM generation so cached
//! identities are rebuilt.

mod holder;
mod keys;
pub(crate) mod policies;
mod roles;
mod users;
pub mod wire;

use crate::context::Caller;
use crate::internal;
use crate::service::Service;
use coffer_api::{ApiError, ErrorCode};
use coffer_policy::{Kind, Policy};
use coffer_store::{IamOp, IamRow, StoreError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use wire::{Node, Params};

/// A user, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserDoc {
    pub id: String,
    pub path: String,
    pub created_ms: i64,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    /// Inline policies by name.
    #[serde(default)]
    pub inline: BTreeMap<String, String>,
    /// Managed policy ARNs.
    #[serde(default)]
    pub attached: Vec<String>,
}

/// A role, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoleDoc {
    pub id: String,
    pub path: String,
    pub created_ms: i64,
    pub trust: String,
    pub max_session_secs: i64,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    #[serde(default)]
    pub inline: BTreeMap<String, String>,
    #[serde(default)]
    pub attached: Vec<String>,
}

/// A customer-managed policy, with its versions.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicyDoc {
    pub id: String,
    pub path: String,
    pub created_ms: i64,
    pub updated_ms: i64,
    #[serde(default)]
    pub description: Option<String>,
    pub default_version: String,
    pub versions: Vec<PolicyVersion>,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicyVersion {
    pub id: String,
    pub doc: String,
    pub created_ms: i64,
}

impl PolicyDoc {
    pub fn default_doc(&self) -> Option<&str> {
        self.versions
            .iter()
            .find(|v| v.id == self.default_version)
            .map(|v| v.doc.as_str())
    }
}

pub const USER: &str = "user";
pub const ROLE: &str = "role";
pub const POLICY: &str = "policy";

/// `arn:aws:iam::ACCOUNT:KIND/PATH-WITHOUT-LEADING-SLASH NAME`.
pub fn entity_arn(account: &str, kind: &str, path: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:{kind}{path}{name}")
}

pub(crate) fn no_such(kind: &str, name: &str) -> ApiError {
    let what = match kind {
        USER => "user",
        ROLE => "role",
        _ => "policy",
    };
    ApiError::new(
        ErrorCode::NoSuchEntity,
        format!("The {what} with name {name} cannot be found."),
    )
}

fn pattern_error(value: &str, field: &str, rule: &str) -> ApiError {
    ApiError::new(
        ErrorCode::Validation,
        format!(
            "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: {rule}"
        ),
    )
}

/// IAM names: `[\w+=,.@-]+`, 1 to `max` characters.
pub(crate) fn check_name(v: &str, field: &str, max: usize) -> Result<(), ApiError> {
    if v.is_empty() || v.chars().count() > max {
        return Err(pattern_error(
            v,
            field,
            &format!("Member must have length less than or equal to {max}"),
        ));
    }
    if !v
        .chars()
        .all(|c| c.is_alphanumeric() || "_+=,.@-".contains(c))
    {
        return Err(pattern_error(
            v,
            field,
            r"Member must satisfy regular expression pattern: [\w+=,.@-]+",
        ));
    }
    Ok(())
}

/// Paths: `/` or `/segments/`, printable ASCII, at most 512 characters.
pub(crate) fn check_path(p: Option<&str>) -> Result<String, ApiError> {
    let p = p.unwrap_or("/");
    let ok = p == "/"
        || (p.len() <= 512
            && p.starts_with('/')
            && p.ends_with('/')
            && p.bytes().all(|b| (0x21..=0x7e).contains(&b)));
    if !ok {
        return Err(pattern_error(
            p,
            "path",
            r"Member must satisfy regular expression pattern: (\u002F)|(\u002F[\u0021-\u007E]+\u002F)",
        ));
    }
    Ok(p.to_string())
}

pub(crate) fn check_tags(tags: &[(String, String)]) -> Result<(), ApiError> {
    if tags.len() > 50 {
        return Err(ApiError::new(
            ErrorCode::IamLimitExceeded,
            "Cannot exceed quota for TagsPerUser: 50.",
        ));
    }
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > 128 || v.chars().count() > 256 {
            return Err(pattern_error(
                k,
                "tags.member.key",
                "Member must have length less than or equal to 128",
            ));
        }
    }
    Ok(())
}

/// Merges tags, later values replacing earlier ones for the same key.
pub(crate) fn merge_tags(into: &mut Vec<(String, String)>, add: Vec<(String, String)>) {
    for (k, v) in add {
        match into.iter_mut().find(|(ek, _)| *ek == k) {
            Some(e) => e.1 = v,
            None => into.push((k, v)),
        }
    }
}

/// Parses a policy the client sent, answering IAM's MalformedPolicyDocument.
pub(crate) fn check_policy(doc: &str, kind: Kind) -> Result<Policy, ApiError> {
    if doc.len() > 131_072 {
        return Err(ApiError::new(
            ErrorCode::IamLimitExceeded,
            "Cannot exceed quota for PolicySize: 131072.",
        ));
    }
    Policy::parse(doc, kind).map_err(|e| ApiError::new(ErrorCode::MalformedPolicyDocument, e.0))
}

impl Service {
    pub(crate) async fn iam_load<T: DeserializeOwned>(
        &self,
        account: &str,
        kind: &str,
        name: &str,
    ) -> Result<Option<(T, i64)>, ApiError> {
        let Some(row) = self
            .store
            .iam_get(account, kind, name)
            .await
            .map_err(internal)?
        else {
            return Ok(None);
        };
        let doc = serde_json::from_str(&row.body).map_err(internal)?;
        Ok(Some((doc, row.revision)))
    }

    pub(crate) async fn iam_require<T: DeserializeOwned>(
        &self,
        account: &str,
        kind: &str,
        name: &str,
    ) -> Result<(T, i64), ApiError> {
        self.iam_load(account, kind, name)
            .await?
            .ok_or_else(|| no_such(kind, name))
    }

    pub(crate) fn iam_put<T: Serialize>(
        account: &str,
        kind: &str,
        name: &str,
        doc: &T,
        expected_revision: Option<i64>,
    ) -> Result<IamOp, ApiError> {
        Ok(IamOp::Put {
            row: IamRow {
                account_id: account.into(),
                kind: kind.into(),
                name: name.into(),
                body: serde_json::to_string(doc).map_err(internal)?,
                revision: 0,
            },
            expected_revision,
        })
    }

    /// Applies IAM writes and invalidates cached identities.
    pub(crate) async fn iam_commit(&self, ops: Vec<IamOp>, exists: &str) -> Result<(), ApiError> {
        let r = self.store.iam_write(ops).await;
        self.iam_changed();
        match r {
            Ok(()) => Ok(()),
            Err(StoreError::Duplicate) => Err(ApiError::new(ErrorCode::EntityAlreadyExists, exists)),
            Err(StoreError::Conflict) => Err(ApiError::new(
                ErrorCode::ConcurrentModification,
                "The request was rejected because multiple requests to change this object were submitted simultaneously. Wait a few minutes and submit your request again.",
            )),
            Err(e) => Err(internal(e)),
        }
    }

    /// Runs one IAM action. Authorization has already been checked by the caller.
    pub(crate) async fn iam_dispatch(
        &self,
        caller: &Caller,
        action: &str,
        p: &Params,
    ) -> Result<Vec<Node>, ApiError> {
        match action {
            "CreateUser"
            | "GetUser"
            | "ListUsers"
            | "DeleteUser"
            | "TagUser"
            | "UntagUser"
            | "PutUserPolicy"
            | "GetUserPolicy"
            | "DeleteUserPolicy"
            | "AttachUserPolicy"
            | "DetachUserPolicy"
            | "ListAttachedUserPolicies"
            | "ListUserPolicies" => self.user_action(caller, action, p).await,
            "CreateAccessKey" | "ListAccessKeys" | "DeleteAccessKey" | "UpdateAccessKey" => {
                self.key_action(caller, action, p).await
            }
            "CreateRole"
            | "GetRole"
            | "ListRoles"
            | "DeleteRole"
            | "UpdateAssumeRolePolicy"
            | "TagRole"
            | "UntagRole"
            | "PutRolePolicy"
            | "GetRolePolicy"
            | "DeleteRolePolicy"
            | "AttachRolePolicy"
            | "DetachRolePolicy"
            | "ListAttachedRolePolicies"
            | "ListRolePolicies" => self.role_action(caller, action, p).await,
            "CreatePolicy"
            | "GetPolicy"
            | "GetPolicyVersion"
            | "ListPolicies"
            | "DeletePolicy"
            | "CreatePolicyVersion"
            | "ListPolicyVersions"
            | "DeletePolicyVersion" => self.policy_action(caller, action, p).await,
            _ => Err(unknown_action(action)),
        }
    }
}

pub fn unknown_action(action: &str) -> ApiError {
    ApiError::new(
        ErrorCode::UnknownOperation,
        format!("Could not find operation {action} for version 2010-05-08"),
    )
}

/// The IAM actions this server answers.
pub const ACTIONS: &[&str] = &[
    "CreateUser",
    "GetUser",
    "ListUsers",
    "DeleteUser",
    "TagUser",
    "UntagUser",
    "PutUserPolicy",
    "GetUserPolicy",
    "DeleteUserPolicy",
    "AttachUserPolicy",
    "DetachUserPolicy",
    "ListAttachedUserPolicies",
    "ListUserPolicies",
    "CreateAccessKey",
    "ListAccessKeys",
    "DeleteAccessKey",
    "UpdateAccessKey",
    "CreateRole",
    "GetRole",
    "ListRoles",
    "DeleteRole",
    "UpdateAssumeRolePolicy",
    "TagRole",
    "UntagRole",
    "PutRolePolicy",
    "GetRolePolicy",
    "DeleteRolePolicy",
    "AttachRolePolicy",
    "DetachRolePolicy",
    "ListAttachedRolePolicies",
    "ListRolePolicies",
    "CreatePolicy",
    "GetPolicy",
    "GetPolicyVersion",
    "ListPolicies",
    "DeletePolicy",
    "CreatePolicyVersion",
    "ListPolicyVersions",
    "DeletePolicyVersion",
];

/// The resource an IAM action acts on, for authorization.
pub fn action_resource(account: &str, action: &str, p: &Params) -> String {
    let named = |kind: &str, key: &str| match p.get(key) {
        Some(n) => format!("arn:aws:iam::{account}:{kind}/{n}"),
        None => "*".to_string(),
    };
    if action.contains("User") || action.contains("AccessKey") {
        return named("user", "UserName");
    }
    if action.contains("Role") {
        return named("role", "RoleName");
    }
    if let Some(arn) = p.get("PolicyArn") {
        return arn.to_string();
    }
    if action == "CreatePolicy" {
        return named("policy", "PolicyName");
    }
    "*".into()
}
