//! Who is calling, from where, in which region: filled in by the HTTP layer after
//! SigV4 verification; and the temporary session a caller may have signed with.

use coffer_crypto::SecretBytes;
use coffer_store::Scope;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub account_id: String,
    pub principal_arn: String,
    pub access_key_id: String,
    /// The region of the request's SigV4 credential scope.
    pub region: String,
    pub source_ip: String,
    pub user_agent: String,
    pub request_id: String,
    /// Set when the caller signed with temporary credentials.
    pub session: Option<Arc<Session>>,
    /// The request arrived over TLS (`aws:SecureTransport`).
    pub secure: bool,
    /// The service itself (the sweeper, rotation), acting within one account; never
    /// set for a request, and private so no other crate can make such a caller.
    pub(crate) internal: bool,
}

impl Caller {
    /// The caller of a request whose signature was verified with `cred`.
    pub fn signed(
        cred: &Credential,
        region: String,
        source_ip: String,
        user_agent: String,
        request_id: String,
        secure: bool,
    ) -> Caller {
        Caller {
            account_id: cred.account_id.clone(),
            principal_arn: cred.principal_arn.clone(),
            access_key_id: cred.access_key_id.clone(),
            region,
            source_ip,
            user_agent,
            request_id,
            session: cred.session.clone(),
            secure,
            internal: false,
        }
    }

    /// The caller of an unsigned request (AssumeRoleWithWebIdentity, whose
    /// token is its credential): no account, principal or key until the
    /// token is verified. Only that operation accepts it.
    pub fn unsigned(
        region: String,
        source_ip: String,
        user_agent: String,
        request_id: String,
        secure: bool,
    ) -> Caller {
        Caller {
            account_id: String::new(),
            principal_arn: String::new(),
            access_key_id: String::new(),
            region,
            source_ip,
            user_agent,
            request_id,
            session: None,
            secure,
            internal: false,
        }
    }

    /// Whether the request was not signed (see [`Caller::unsigned`]).
    pub fn is_unsigned(&self) -> bool {
        self.principal_arn.is_empty() && !self.internal
    }

    /// A principal (a user or the root, by ARN) as authorization sees it when the
    /// service acts on its behalf, later, without a request of its own.
    /// With `session`, the principal is that session, authorized as it was
    /// (its role, policy and tags as they stand now).
    pub(crate) fn on_behalf_of(
        account: &str,
        region: &str,
        principal_arn: &str,
        session: Option<Session>,
    ) -> Caller {
        // The identity cache's key: never a real access key id (AKIA/ASIA), and
        // one per session (two sessions may share an ARN, not a policy).
        let key = session.as_ref().map_or(principal_arn, |s| &s.access_key_id);
        Caller {
            account_id: account.into(),
            principal_arn: principal_arn.into(),
            access_key_id: format!("on-behalf-of:{key}"),
            region: region.into(),
            source_ip: "internal".into(),
            user_agent: "coffer-rotation".into(),
            request_id: uuid::Uuid::new_v4().to_string(),
            session: session.map(Arc::new),
            internal: false,
            secure: false,
        }
    }

    /// The service itself, acting within one account as `principal` (the
    /// rotation service, the sweeper); `agent` names it in the audit trail.
    pub(crate) fn service(account: &str, region: &str, principal: &str, agent: &str) -> Caller {
        Caller {
            account_id: account.into(),
            principal_arn: principal.into(),
            access_key_id: String::new(),
            region: region.into(),
            source_ip: "internal".into(),
            user_agent: agent.into(),
            request_id: uuid::Uuid::new_v4().to_string(),
            session: None,
            // No transport at all; a policy that requires TLS does not match it.
            secure: false,
            internal: true,
        }
    }

    pub fn scope(&self) -> Scope {
        Scope {
            account_id: self.account_id.clone(),
            region: self.region.clone(),
        }
    }
}

/// The role behind an assumed-role session.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RoleRef {
    pub account: String,
    pub name: String,
    pub arn: String,
    pub id: String,
}

/// Everything a session token carries.
#[derive(Clone, Serialize, Deserialize)]
pub struct Session {
    pub access_key_id: String,
    /// The session's secret key; the token is sealed, so it never travels in clear.
    pub secret: String,
    pub account: String,
    /// `arn:aws:sts::A:assumed-role/R/S`, or the user's (or root's) ARN for
    /// GetSessionToken.
    pub arn: String,
    pub role: Option<RoleRef>,
    pub session_name: Option<String>,
    pub issued_ms: i64,
    pub expires_ms: i64,
    /// The inline session policy passed to AssumeRole.
    pub policy: Option<String>,
    pub tags: Vec<(String, String)>,
    pub source_identity: Option<String>,
    /// For a user's GetSessionToken: the user's unique id, so a user deleted and
    /// re-created under the same name does not inherit the old user's sessions
    /// (a role session carries its role's id in `role`).
    #[serde(default)]
    pub user_id: Option<String>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("access_key_id", &self.access_key_id)
            .field("arn", &self.arn)
            .field("expires_ms", &self.expires_ms)
            .finish_non_exhaustive()
    }
}

/// An access key with its secret, as SigV4 verification needs it.
pub struct Credential {
    pub access_key_id: String,
    pub account_id: String,
    pub principal_arn: String,
    pub secret: SecretBytes,
    /// The session, for temporary credentials.
    pub session: Option<Arc<Session>>,
}
