//! `POST /coffer/v1/accounts`: creates an account (Coffer's own API; AWS does this
//! through Organizations). Signed with SigV4 like any Secrets Manager call.

use crate::front::Handler;
use coffer_api::{ApiError, ErrorCode};
use hyper::body::Incoming;
use hyper::Request;
use serde::Deserialize;
use std::net::SocketAddr;

pub const ACCOUNTS_PATH: &str = "/coffer/v1/accounts";

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateAccount {
    name: Option<String>,
}

impl Handler {
    pub(crate) async fn create_account(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
        request_id: &str,
    ) -> Result<Vec<u8>, ApiError> {
        let (parts, body) = self.read_body(req).await?;
        let verified = self
            .authenticate(
                &parts,
                &body,
                &["secretsmanager"],
                "CreateAccount",
                peer,
                request_id,
            )
            .await?;
        let caller = Self::caller(verified, &parts, peer, request_id);
        let input: CreateAccount = serde_json::from_slice(&body).map_err(|_| {
            ApiError::new(
                ErrorCode::SerializationException,
                "Expected a JSON object with a Name.",
            )
        })?;
        let name = input.name.unwrap_or_default();
        let (account, key_id, secret) = self.svc.create_account(&caller, &name).await?;
        let out = serde_json::json!({
            "AccountId": account,
            "Name": name,
            "AccessKeyId": key_id,
            "SecretAccessKey": String::from_utf8_lossy(secret.as_slice()),
        });
        Ok(out.to_string().into_bytes())
    }
}
