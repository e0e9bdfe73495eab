//! The proof of authorization.
//!
//! A [`Grant`] is what the identity component's authorizers return when a caller
//! may run an operation on its target, and every handler (Secrets Manager, IAM,
//! STS) takes one. Its fields are private to the `identity` module, so no other
//! code can make one:
//! a handler cannot be reached without going through authorization, and a new
//! operation whose dispatch arm forgets it does not compile.
//!
//! Handlers that need more than the one decision ask the grant, never the policy
//! engine: a retry re-reads the secret and re-authorizes the same action
//! ([`Grant::reload`]); a batch read authorizes `GetSecretValue` per secret
//! ([`Grant::resolve`], [`Grant::permits`]).

use super::secrets::Granted;
use crate::call::Call;
use crate::context::Caller;
use crate::identity::iam::RoleDoc;
use crate::identity::Identity;
use coffer_api::{ApiError, ErrorCode};
use coffer_store::Secret;
use std::sync::Arc;

/// Proof that `call` may run its operation on its target.
pub(crate) struct Grant<'a> {
    pub(super) svc: &'a Identity,
    pub(super) call: &'a Call<'a>,
    /// The operation's action, without the `secretsmanager:` prefix.
    pub(super) action: &'static str,
    /// The request's condition keys, for re-authorization.
    pub(super) keys: Vec<(String, Vec<String>)>,
    pub(super) target: Granted,
}

/// The role an AssumeRole grant was given for, as read when it was authorized.
pub(crate) struct RoleGrant {
    pub account: String,
    pub name: String,
    pub doc: RoleDoc,
}

impl<'a> Grant<'a> {
    pub(super) fn new(
        svc: &'a Identity,
        call: &'a Call<'a>,
        keys: Vec<(String, Vec<String>)>,
        target: Granted,
    ) -> Grant<'a> {
        Grant {
            svc,
            call,
            action: call.name,
            keys,
            target,
        }
    }

    /// The action this grant was given for (without its service prefix).
    pub fn action(&self) -> &'static str {
        self.action
    }

    pub fn call(&self) -> &'a Call<'a> {
        self.call
    }

    pub fn caller(&self) -> &'a Caller {
        self.call.caller
    }

    /// The secret the operation acts on, as it was when authorized. A secret the
    /// caller may see but which does not exist is AWS's ResourceNotFound.
    /// The request named a secret that does not exist (and the caller may know it).
    pub fn missing(&self) -> bool {
        matches!(self.target, Granted::Missing)
    }

    /// The secret the grant holds, if it holds one (CreateSecret's holds none).
    pub fn held_secret(&self) -> Option<&Arc<Secret>> {
        match &self.target {
            Granted::Secret(s) => Some(s),
            _ => None,
        }
    }

    pub fn secret(&self) -> Result<&Arc<Secret>, ApiError> {
        match &self.target {
            Granted::Secret(s) => Ok(s),
            Granted::Missing => Err(ApiError::not_found()),
            _ => {
                tracing::error!(
                    action = self.action,
                    "a grant was asked for a secret it does not hold"
                );
                Err(ApiError::internal())
            }
        }
    }

    /// The role an AssumeRole grant holds.
    pub fn role(&self) -> Result<&RoleGrant, ApiError> {
        if let Granted::Role(r) = &self.target {
            Ok(r)
        } else if let Granted::WebRole(w) = &self.target {
            Ok(&w.role)
        } else {
            tracing::error!(
                action = self.action,
                "a grant was asked for a role it does not hold"
            );
            Err(ApiError::internal())
        }
    }

    /// The web identity and role an AssumeRoleWithWebIdentity grant holds.
    pub fn web_role(&self) -> Result<&super::WebGrant, ApiError> {
        if let Granted::WebRole(w) = &self.target {
            Ok(w)
        } else {
            tracing::error!(
                action = self.action,
                "a grant was asked for a web identity it does not hold"
            );
            Err(ApiError::internal())
        }
    }

    /// The secret re-read (after losing a race to another writer), and the action
    /// authorized again on what is there now: its tags or resource policy may have
    /// changed.
    pub async fn reload(&self) -> Result<Arc<Secret>, ApiError> {
        let arn = &self.secret()?.row.arn;
        match self
            .svc
            .authorize_secret(self.call, self.action, &self.keys, arn)
            .await?
        {
            Granted::Secret(s) => Ok(s),
            _ => Err(ApiError::not_found()),
        }
    }

    /// Another action by the same caller on the secret `id` names, found and
    /// authorized (a batch read's `GetSecretValue` on each of its secrets).
    pub async fn resolve(&self, action: &str, id: &str) -> Result<Arc<Secret>, ApiError> {
        match self
            .svc
            .authorize_secret(self.call, action, &[], id)
            .await?
        {
            Granted::Secret(s) => Ok(s),
            _ => Err(ApiError::not_found()),
        }
    }

    /// Another service's action by the same caller (`lambda:InvokeFunction` on a
    /// rotation function), on a resource of `owner`.
    pub async fn permits_action(
        &self,
        action: &str,
        resource: &str,
        owner: &str,
    ) -> Result<(), ApiError> {
        self.svc
            .authorize_action(self.call, action, &[], None, resource, owner)
            .await
    }

    /// Another action by the same caller on a secret already read.
    pub async fn permits(&self, action: &str, s: &Secret) -> Result<(), ApiError> {
        self.svc
            .authorize(
                self.call,
                action,
                &[],
                Some(s),
                &s.row.arn,
                &s.row.account_id,
            )
            .await
    }
}

impl Identity {
    /// A grant for the service's own work on one secret of its caller's account
    /// (finishing a rotation): internal callers are held to their account.
    pub(crate) async fn internal_grant<'a>(
        &'a self,
        call: &'a Call<'a>,
        arn: &str,
    ) -> Result<Grant<'a>, ApiError> {
        if !call.caller.internal {
            return Err(ApiError::new(
                ErrorCode::AccessDenied,
                "Only the service itself acts without a request.",
            ));
        }
        let target = self.authorize_secret(call, call.name, &[], arn).await?;
        Ok(Grant::new(self, call, vec![], target))
    }
}
