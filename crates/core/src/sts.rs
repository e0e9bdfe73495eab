//! STS: AssumeRole (trust policy, external id, session policy and tags, source
//! identity, role chaining's one-hour cap), GetSessionToken, GetCallerIdentity.

use crate::bootstrap::{new_secret_key, random_id};
use crate::context::Caller;
use crate::iam::wire::{iso, Node, Params};
use crate::iam::{self, RoleDoc};
use crate::service::Service;
use crate::session::{RoleRef, Session};
use coffer_api::{ApiError, ErrorCode};
use coffer_policy::{Kind, Policy};

pub const ACTIONS: &[&str] = &["AssumeRole", "GetCallerIdentity", "GetSessionToken"];

pub fn unknown_action(action: &str) -> ApiError {
    ApiError::new(
        ErrorCode::UnknownOperation,
        format!("Could not find operation {action} for version 2011-06-15"),
    )
}

fn validation(msg: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::Validation, msg)
}

fn duration(p: &Params, default: i64, max: i64, chained: bool) -> Result<i64, ApiError> {
    let d = p.int("DurationSeconds")?.unwrap_or(default.min(max));
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

/// `arn:aws:iam::ACCOUNT:role/PATH/NAME` → (account, name).
fn parse_role_arn(arn: &str) -> Option<(&str, &str)> {
    let rest = arn.strip_prefix("arn:aws:iam::")?;
    let (account, res) = rest.split_once(':')?;
    let path = res.strip_prefix("role/")?;
    let name = path.rsplit('/').next()?;
    (crate::bootstrap::valid_account_id(account) && !name.is_empty()).then_some((account, name))
}

impl Service {
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
        }
    }

    pub(crate) async fn sts_dispatch(
        &self,
        caller: &Caller,
        action: &str,
        p: &Params,
    ) -> Result<Vec<Node>, ApiError> {
        match action {
            "GetCallerIdentity" => {
                let id = self.identity(caller).await?;
                Ok(vec![
                    Node::text("UserId", id.user_id.clone()),
                    Node::text("Account", caller.account_id.clone()),
                    Node::text("Arn", caller.principal_arn.clone()),
                ])
            }
            "GetSessionToken" => {
                if caller.session.is_some() {
                    return Err(ApiError::new(
                        ErrorCode::AccessDenied,
                        "Cannot call GetSessionToken with session credentials",
                    ));
                }
                let root = caller.principal_arn.ends_with(":root");
                let secs = duration(p, 43200, if root { 3600 } else { 129600 }, false)?;
                let s = self.new_session(caller, secs);
                Ok(vec![self.credentials_node(&s)?])
            }
            "AssumeRole" => self.assume_role(caller, p).await,
            _ => Err(unknown_action(action)),
        }
    }

    async fn assume_role(&self, caller: &Caller, p: &Params) -> Result<Vec<Node>, ApiError> {
        let role_arn = p.required("RoleArn")?;
        let session_name = p.required("RoleSessionName")?;
        if session_name.len() < 2
            || session_name.len() > 64
            || !session_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
        {
            return Err(validation(format!("1 validation error detected: Value '{session_name}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*")));
        }
        let policy = p.get("Policy");
        if let Some(doc) = policy {
            if doc.len() > 2048 {
                return Err(ApiError::new(
                    ErrorCode::PackedPolicyTooLarge,
                    "Packed size of consolidated session policies exceeds the limit.",
                ));
            }
            Policy::parse(doc, Kind::Identity)
                .map_err(|e| ApiError::new(ErrorCode::MalformedPolicyDocument, e.0))?;
        }
        let tags = p.tags("Tags")?;
        if tags.len() > 50 {
            return Err(validation("1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50"));
        }
        let id = self.identity(caller).await?;
        let denied = || {
            ApiError::new(
                ErrorCode::AccessDenied,
                format!(
                    "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
                    caller.principal_arn
                ),
            )
        };
        let (account, name) = parse_role_arn(role_arn).ok_or_else(denied)?;
        let Some((role, _)) = self.iam_load::<RoleDoc>(account, iam::ROLE, name).await? else {
            return Err(denied());
        };
        let trust = Policy::parse(&role.trust, Kind::Trust).map_err(|_| denied())?;
        let mut ctx = self.base_context(caller, &id);
        ctx.set("sts:RoleSessionName", session_name);
        if let Some(x) = p.get("ExternalId") {
            ctx.set("sts:ExternalId", x);
        }
        if let Some(x) = p.get("SourceIdentity") {
            ctx.set("sts:SourceIdentity", x);
        }
        for (k, v) in &tags {
            ctx.set(&format!("aws:RequestTag/{k}"), v.clone());
        }
        if !tags.is_empty() {
            ctx.set_many("aws:TagKeys", tags.iter().map(|(k, _)| k.clone()).collect());
        }
        self.decide(
            &id,
            "sts:AssumeRole",
            role_arn,
            account,
            Some(&trust),
            &ctx,
            ErrorCode::AccessDenied,
        )
        .map_err(|_| denied())?;
        let chained = caller.session.as_ref().is_some_and(|s| s.role.is_some());
        let max = if chained { 3600 } else { role.max_session_secs };
        let secs = duration(p, 3600, max, chained)?;
        let mut s = self.new_session(caller, secs);
        let arn = iam::entity_arn(account, "role", &role.path, name);
        s.account = account.to_string();
        s.arn = format!("arn:aws:sts::{account}:assumed-role/{name}/{session_name}");
        s.role = Some(RoleRef {
            account: account.into(),
            name: name.into(),
            arn,
            id: role.id.clone(),
        });
        s.session_name = Some(session_name.into());
        s.policy = policy.map(str::to_string);
        s.tags = tags;
        if let Some(x) = p.get("SourceIdentity") {
            s.source_identity = Some(x.to_string());
        }
        let mut out = vec![
            self.credentials_node(&s)?,
            Node::Parent(
                "AssumedRoleUser",
                vec![
                    Node::text("AssumedRoleId", format!("{}:{session_name}", role.id)),
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
