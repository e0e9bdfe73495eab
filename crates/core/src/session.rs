//! Temporary credentials. A session token is the session itself, sealed under the
//! root key: verifying a request needs no lookup, and nothing about a session is
//! stored. Tampering breaks the seal; expiry is checked on every request.

use crate::internal;
use crate::service::{Credential, Service};
use base64::Engine;
use coffer_api::{ApiError, ErrorCode};
use coffer_crypto::SecretBytes;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

const AAD: &[u8] = b"coffer/session/v1";

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

fn invalid_token() -> ApiError {
    ApiError::new(
        ErrorCode::UnrecognizedClient,
        "The security token included in the request is invalid.",
    )
}

impl Service {
    pub(crate) fn seal_session(&self, s: &Session) -> Result<String, ApiError> {
        let json = serde_json::to_vec(s).map_err(internal)?;
        let json = SecretBytes::new(json);
        let sealed = self.keys.seal_root(AAD, json.as_slice())?;
        Ok(base64::engine::general_purpose::STANDARD.encode(sealed))
    }

    /// The credential a session token stands for, if the token is genuine, matches
    /// the access key id, and has not expired.
    pub fn session_credential(
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
        Ok(Arc::new(Credential {
            access_key_id: s.access_key_id.clone(),
            account_id: s.account.clone(),
            principal_arn: s.arn.clone(),
            secret: SecretBytes::new(s.secret.clone().into_bytes()),
            session: Some(Arc::new(s)),
        }))
    }
}
