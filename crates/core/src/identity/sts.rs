//! STS: AssumeRole (trust policy, external id, session policy and tags, source
//! identity, role chaining's one-hour cap), GetSessionToken, GetCallerIdentity.

use crate::clock::iso_seconds as iso;
use crate::context::Caller;
use crate::context::{RoleRef, Session};
use crate::identity::iam;
use crate::identity::Grant;
use crate::identity::Identity;
use crate::ids::{new_secret_key, random_id};
use coffer_api::query::Node;
use coffer_api::sts_ops::{AssumeRoleRequest, StsServed};
use coffer_api::{ApiError, ErrorCode};
use coffer_policy::{Kind, Policy};

fn validation(msg: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::Validation, msg)
}

fn duration(asked: Option<i64>, default: i64, max: i64, chained: bool) -> Result<i64, ApiError> {
    let d = asked.unwrap_or(default.min(max));
    if d < 900 {
        return Err(validation(format!("1 validation error detected: Value '{d}' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900")));
    }
    if d > max {
        return Err(validation(if chained {
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.".to_string()
        } else {
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
                .to_string()
        }));
    }
    Ok(d)
}

impl Identity {
    fn credentials_node(&self, s: &Session) -> Result<Node, ApiError> {
        Ok(Node::Parent(
            "Credentials",
            vec![
                Node::text("AccessKeyId", s.access_key_id.clone()),
                Node::text("SecretAccessKey", s.secret.clone()),
                Node::text("SessionToken", self.seal_session(s)?),
                Node::text("Expiration", iso(s.expires_ms)),
            ],
        ))
    }

    pub(crate) fn new_session(&self, caller: &Caller, secs: i64) -> Session {
        let now = self.clock.now_ms();
        Session {
            access_key_id: format!("ASIA{}", random_id(16)),
            secret: String::from_utf8_lossy(new_secret_key().as_slice()).into_owned(),
            account: caller.account_id.clone(),
            arn: caller.principal_arn.clone(),
            role: None,
            session_name: None,
            issued_ms: now,
            expires_ms: now + secs * 1000,
            policy: None,
            tags: vec![],
            source_identity: caller
                .session
                .as_ref()
                .and_then(|s| s.source_identity.clone()),
            user_id: None,
        }
    }

    /// Runs an authorized STS operation.
    pub(crate) async fn dispatch_sts(
        &self,
        g: &Grant<'_>,
        op: StsServed,
    ) -> Result<Vec<Node>, ApiError> {
        let caller = g.caller();
        match op {
            StsServed::GetCallerIdentity(_) => {
                let id = self.identity(caller).await?;
                Ok(vec![
                    Node::text("UserId", id.user_id.clone()),
                    Node::text("Account", caller.account_id.clone()),
                    Node::text("Arn", caller.principal_arn.clone()),
                ])
            }
            StsServed::GetSessionToken(r) => {
                if caller.session.is_some() {
                    return Err(ApiError::new(
                        ErrorCode::AccessDenied,
                        "Cannot call GetSessionToken with session credentials",
                    ));
                }
                let root = caller.principal_arn.ends_with(":root");
                let max = if root { 3600 } else { 129_600 };
                let secs = duration(r.duration_seconds, 43200, max, false)?;
                let mut s = self.new_session(caller, secs);
                let subject = self.identity(caller).await?;
                if subject.kind == "User" {
                    s.user_id = Some(subject.user_id.clone());
                }
                Ok(vec![self.credentials_node(&s)?])
            }
            StsServed::AssumeRole(r) => self.assume_role(g, r).await,
        }
    }

    async fn assume_role(
        &self,
        g: &Grant<'_>,
        r: AssumeRoleRequest,
    ) -> Result<Vec<Node>, ApiError> {
        let caller = g.caller();
        let session_name = r.role_session_name.as_str();
        if session_name.len() < 2
            || session_name.len() > 64
            || !session_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
        {
            return Err(validation(format!("1 validation error detected: Value '{session_name}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*")));
        }
        if !r.policy_arns.is_empty() {
            // Managed session policies would narrow the session; ignoring them
            // would hand out more than the caller asked for.
            return Err(validation(
                "PolicyArns (managed session policies) are not supported by this Coffer server yet; use Policy.",
            ));
        }
        if let Some(doc) = &r.policy {
            if doc.len() > 2048 {
                return Err(ApiError::new(
                    ErrorCode::PackedPolicyTooLarge,
                    "Packed size of consolidated session policies exceeds the limit.",
                ));
            }
            Policy::parse(doc, Kind::Identity)
                .map_err(|e| ApiError::new(ErrorCode::MalformedPolicyDocument, e.0))?;
        }
        if r.tags.len() > 50 {
            return Err(validation("1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50"));
        }
        let role = g.role()?;
        let (account, name) = (role.account.as_str(), role.name.as_str());
        let chained = caller.session.as_ref().is_some_and(|s| s.role.is_some());
        let max = if chained {
            3600
        } else {
            role.doc.max_session_secs
        };
        let secs = duration(r.duration_seconds, 3600, max, chained)?;
        let mut s = self.new_session(caller, secs);
        let arn = iam::entity_arn(account, "role", &role.doc.path, name);
        s.account = account.to_string();
        s.arn = format!("arn:aws:sts::{account}:assumed-role/{name}/{session_name}");
        s.role = Some(RoleRef {
            account: account.into(),
            name: name.into(),
            arn,
            id: role.doc.id.clone(),
        });
        s.session_name = Some(session_name.into());
        s.policy = r.policy;
        s.tags = r.tags;
        if let Some(x) = r.source_identity {
            s.source_identity = Some(x);
        }
        let mut out = vec![
            self.credentials_node(&s)?,
            Node::Parent(
                "AssumedRoleUser",
                vec![
                    Node::text("AssumedRoleId", format!("{}:{session_name}", role.doc.id)),
                    Node::text("Arn", s.arn.clone()),
                ],
            ),
            Node::text(
                "PackedPolicySize",
                if s.policy.is_some() || !s.tags.is_empty() {
                    "6"
                } else {
                    "0"
                },
            ),
        ];
        if let Some(x) = &s.source_identity {
            out.push(Node::text("SourceIdentity", x.clone()));
        }
        Ok(out)
    }
}
