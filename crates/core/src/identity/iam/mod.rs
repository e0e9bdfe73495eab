//! IAM: users, access keys, roles and policies of each account, answering the
//! typed operations of `coffer_api::iam_ops` with the Query protocol's element
//! trees. Entities are stored as JSON documents (`IamRow`), one row per user,
//! role or managed policy; every write bumps the IAM generation so cached
//! identities are rebuilt.

mod dispatch;
mod holder;
mod keys;
pub(crate) mod oidc;
pub(crate) mod policies;
mod roles;
mod users;

pub(crate) use users::caller_user_name;

use crate::call::Call;
use crate::errors::internal;
use crate::identity::Identity;
use coffer_api::{ApiError, ErrorCode};
use coffer_policy::{Kind, Policy};
use coffer_store::{IamOp, IamRow, StoreError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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

/// An entity ARN of `account` split into its path and name:
/// `arn:aws:iam::ACCOUNT:KIND/a/b/NAME` → (`/a/b/`, `NAME`). Paths are part of the
/// ARN: a user, role or policy is named by its whole ARN, never by its last
/// segment alone.
pub(crate) fn split_entity_arn<'a>(
    arn: &'a str,
    account: &str,
    kind: &str,
) -> Option<(String, &'a str)> {
    let rest = arn.strip_prefix(&format!("arn:aws:iam::{account}:{kind}/"))?;
    let (dirs, name) = match rest.rsplit_once('/') {
        Some((dirs, name)) => (Some(dirs), name),
        None => (None, rest),
    };
    if name.is_empty() || dirs.is_some_and(|d| d.is_empty() || d.split('/').any(str::is_empty)) {
        return None;
    }
    let path = dirs.map_or_else(|| "/".to_string(), |d| format!("/{d}/"));
    Some((path, name))
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
    let mut seen = std::collections::HashSet::new();
    for (k, v) in tags {
        // Condition keys ignore case: `team` and `Team` would let a policy see
        // one value while the other is stored.
        if !seen.insert(k.to_lowercase()) {
            return Err(ApiError::new(
                ErrorCode::InvalidInput,
                "Duplicate tag keys found. Please note that Tag keys are case insensitive.",
            ));
        }
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

/// Permissions boundaries are not evaluated yet; accepting one and ignoring it
/// would grant more than its author meant, so it is refused.
pub(crate) fn no_boundary(boundary: Option<&str>) -> Result<(), ApiError> {
    match boundary {
        None => Ok(()),
        Some(_) => Err(ApiError::new(
            ErrorCode::InvalidInput,
            "PermissionsBoundary is not supported by this Coffer server yet.",
        )),
    }
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

impl Identity {
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

    /// Applies IAM writes with their outbox record (other servers' caches hear of
    /// the change from it), and invalidates this process's caches at once.
    /// The call's audit record commits in the same transaction as the change.
    pub(crate) async fn iam_commit(
        &self,
        call: &Call<'_>,
        account: &str,
        ops: Vec<IamOp>,
        exists: &str,
    ) -> Result<(), ApiError> {
        let now = self.clock.now_ms();
        let event = crate::events::iam_change(account, now, &ops);
        let r = self.store.iam_write(ops, event, call.audit(now)).await;
        if r.is_ok() {
            call.mark_audited();
        }
        self.iam_changed();
        if r.is_ok() {
            self.outbox.committed();
        }
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
}
