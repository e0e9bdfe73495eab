//! STS: AssumeRole (trust policy, external id, session policy and tags, source
//! identity, role chaining's one-hour cap), GetSessionToken, GetCallerIdentity.

use crate::clock::iso_seconds as iso;
use crate::context::Caller;
use crate::context::{RoleRef, Session};
use crate::identity::iam;
use crate::identity::Grant;
use crate::identity::Identity;
use crate::identity::RoleGrant;
use crate::ids::{new_secret_key, random_id};
use coffer_api::query::Node;
use coffer_api::sts_ops::{AssumeRoleRequest, AssumeRoleWithWebIdentityRequest, StsServed};
use coffer_api::{ApiError, ErrorCode};
use coffer_policy::{Kind, Policy};
use std::collections::BTreeMap;

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
            source_identity: None,
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
            StsServed::AssumeRoleWithWebIdentity(r) => {
                self.assume_role_with_web_identity(g, r).await
            }
        }
    }

    async fn assume_role(
        &self,
        g: &Grant<'_>,
        r: AssumeRoleRequest,
    ) -> Result<Vec<Node>, ApiError> {
        let caller = g.caller();
        let session_name = r.role_session_name.as_str();
        check_session_name(session_name)?;
        check_session_policy(&r.policy_arns, r.policy.as_deref())?;
        if r.tags.len() > 50 {
            return Err(validation("1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50"));
        }
        let role = g.role()?;
        let chained = caller.session.as_ref().is_some_and(|s| s.role.is_some());
        let max = if chained {
            3600
        } else {
            role.doc.max_session_secs
        };
        let secs = duration(r.duration_seconds, 3600, max, chained)?;
        let mut s = self.role_session(caller, role, session_name, secs);
        s.policy = r.policy;
        s.tags = r.tags;
        // A source identity, once set, follows the session through role
        // chaining (authorization refused a different one).
        s.source_identity = r.source_identity.or_else(|| {
            caller
                .session
                .as_ref()
                .and_then(|c| c.source_identity.clone())
        });
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

    /// A session of `role` named `session_name`, for `secs`.
    fn role_session(
        &self,
        caller: &Caller,
        role: &RoleGrant,
        session_name: &str,
        secs: i64,
    ) -> Session {
        let (account, name) = (role.account.as_str(), role.name.as_str());
        let mut s = self.new_session(caller, secs);
        s.account = account.to_string();
        s.arn = format!("arn:aws:sts::{account}:assumed-role/{name}/{session_name}");
        s.role = Some(RoleRef {
            account: account.into(),
            name: name.into(),
            arn: iam::entity_arn(account, "role", &role.doc.path, name),
            id: role.doc.id.clone(),
        });
        s.session_name = Some(session_name.into());
        s
    }

    /// AssumeRoleWithWebIdentity, once the token and the trust policy let it.
    async fn assume_role_with_web_identity(
        &self,
        g: &Grant<'_>,
        r: AssumeRoleWithWebIdentityRequest,
    ) -> Result<Vec<Node>, ApiError> {
        let session_name = r.role_session_name.as_str();
        check_session_name(session_name)?;
        check_session_policy(&r.policy_arns, r.policy.as_deref())?;
        let web = g.web_role()?;
        let secs = duration(
            r.duration_seconds,
            3600,
            web.role.doc.max_session_secs,
            false,
        )?;
        let mut s = self.role_session(g.caller(), &web.role, session_name, secs);
        s.tags.clone_from(&web.claims.tags);
        s.policy = r.policy;
        let mut out = vec![
            self.credentials_node(&s)?,
            Node::text("SubjectFromWebIdentityToken", web.claims.sub.clone()),
            Node::Parent(
                "AssumedRoleUser",
                vec![
                    Node::text(
                        "AssumedRoleId",
                        format!("{}:{session_name}", web.role.doc.id),
                    ),
                    Node::text("Arn", s.arn.clone()),
                ],
            ),
        ];
        if s.policy.is_some() || !s.tags.is_empty() {
            out.push(Node::text("PackedPolicySize", "6"));
        }
        out.push(Node::text("Provider", web.provider_arn.clone()));
        out.push(Node::text("Audience", web.audience.clone()));
        Ok(out)
    }
}

fn check_session_name(name: &str) -> Result<(), ApiError> {
    if name.len() < 2
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
    {
        return Err(validation(format!("1 validation error detected: Value '{name}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*")));
    }
    Ok(())
}

/// An inline session policy, checked; managed session policies are refused.
fn check_session_policy(
    arns: &[BTreeMap<String, String>],
    doc: Option<&str>,
) -> Result<(), ApiError> {
    if !arns.is_empty() {
        // Managed session policies would narrow the session; ignoring them
        // would hand out more than the caller asked for.
        return Err(validation(
            "PolicyArns (managed session policies) are not supported by this Coffer server yet; use Policy.",
        ));
    }
    if let Some(doc) = doc {
        if doc.len() > 2048 {
            return Err(ApiError::new(
                ErrorCode::PackedPolicyTooLarge,
                "Packed size of consolidated session policies exceeds the limit.",
            ));
        }
        Policy::parse(doc, Kind::Identity)
            .map_err(|e| ApiError::new(ErrorCode::MalformedPolicyDocument, e.0))?;
    }
    Ok(())
}
