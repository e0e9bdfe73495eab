//! Temporary credentials. A session token is the session itself, sealed under the
//! root key: verifying a request needs no lookup, and nothing about a session is
//! stored. Tampering breaks the seal; expiry is checked on every request.

use super::{iam, trusts_service};
use crate::context::{Caller, Credential, RoleRef, Session};
use crate::errors::internal;
use crate::identity::Identity;
use base64::Engine;
use coffer_api::{ApiError, ErrorCode};
use coffer_crypto::SecretBytes;
use std::sync::Arc;

/// The principal rotation runs as.
pub(crate) const SERVICE_PRINCIPAL: &str = "secretsmanager.amazonaws.com";

const AAD: &[u8] = b"coffer/session/v1";
/// How long a rotation function's execution-role credentials live (a step's
/// worth, with margin).
const SESSION_MS: i64 = 900_000;

fn invalid_token() -> ApiError {
    ApiError::new(
        ErrorCode::UnrecognizedClient,
        "The security token included in the request is invalid.",
    )
}

impl Identity {
    pub(crate) fn seal_session(&self, s: &Session) -> Result<String, ApiError> {
        let json = serde_json::to_vec(s).map_err(internal)?;
        let json = SecretBytes::new(json);
        let sealed = self.keys.seal_root(AAD, json.as_slice())?;
        Ok(base64::engine::general_purpose::STANDARD.encode(sealed))
    }

    /// The credential a session token stands for, if the token is genuine, matches
    /// the access key id, has not expired, and its principal is still the one it
    /// was issued to (not deleted, nor deleted and re-created under its name).
    pub async fn session_credential(
        &self,
        access_key_id: &str,
        token: &str,
    ) -> Result<Arc<Credential>, ApiError> {
        let sealed = base64::engine::general_purpose::STANDARD
            .decode(token)
            .map_err(|_| invalid_token())?;
        let json = self
            .keys
            .open_root(AAD, &sealed)
            .map_err(|_| invalid_token())?;
        let s: Session = serde_json::from_slice(json.as_slice()).map_err(|_| invalid_token())?;
        // Not constant-time: the key id is public, and the token is authenticated.
        if s.access_key_id != access_key_id {
            return Err(invalid_token());
        }
        if self.clock.now_ms() >= s.expires_ms {
            return Err(ApiError::new(
                ErrorCode::ExpiredToken,
                "The security token included in the request is expired",
            ));
        }
        if !self.session_principal_lives(&s).await? {
            return Err(invalid_token());
        }
        Ok(Arc::new(Credential {
            access_key_id: s.access_key_id.clone(),
            account_id: s.account.clone(),
            principal_arn: s.arn.clone(),
            secret: SecretBytes::new(s.secret.clone().into_bytes()),
            session: Some(Arc::new(s)),
        }))
    }

    /// Is the user or role a session was issued to still there, with the same
    /// unique id? Answered once per session and IAM generation.
    async fn session_principal_lives(&self, s: &Session) -> Result<bool, ApiError> {
        if let Some(ok) = self.cache.session_check(&s.access_key_id) {
            return Ok(ok);
        }
        let seen = self.cache.generation();
        let ok = if let Some(role) = &s.role {
            self.iam_load::<iam::RoleDoc>(&role.account, iam::ROLE, &role.name)
                .await?
                .is_some_and(|(d, _)| d.id == role.id)
        } else if let Some(id) = &s.user_id {
            let name = super::last_segment(&s.arn);
            self.iam_load::<iam::UserDoc>(&s.account, iam::USER, name)
                .await?
                .is_some_and(|(d, _)| &d.id == id)
        } else {
            true // the account's root: it cannot be re-created
        };
        self.cache
            .remember_session_check(seen, &s.access_key_id, ok);
        Ok(ok)
    }

    /// Temporary credentials of the function's execution role in the secret's account.
    pub(crate) async fn execution_session(
        &self,
        account: &str,
        region: &str,
        role_name: &str,
    ) -> Result<(Session, String), String> {
        let (role, _) = self
            .iam_load::<iam::RoleDoc>(account, iam::ROLE, role_name)
            .await
            .map_err(|e| e.message)?
            .ok_or_else(|| format!("the execution role {role_name} does not exist"))?;
        let arn = iam::entity_arn(account, "role", &role.path, role_name);
        // The role must trust the service, as a Lambda execution role trusts Lambda.
        if !trusts_service(&role.trust, &arn, account) {
            return Err(format!(
                "the execution role {role_name} does not trust secretsmanager.amazonaws.com"
            ));
        }
        let service = Caller::service(account, region, SERVICE_PRINCIPAL, "coffer-rotation");
        let mut session = self.new_session(&service, SESSION_MS / 1000);
        session.arn = format!("arn:aws:sts::{account}:assumed-role/{role_name}/coffer-rotation");
        session.role = Some(RoleRef {
            account: account.to_string(),
            name: role_name.to_string(),
            arn,
            id: role.id.clone(),
        });
        session.session_name = Some("coffer-rotation".into());
        let token = self.seal_session(&session).map_err(|e| e.message)?;
        Ok((session, token))
    }
}
