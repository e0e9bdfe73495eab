//! What in-process rotators share: reading a stage's value, creating the pending
//! version, and moving AWSCURRENT, all as the rotation principal through the
//! service's own operations (so they are validated and audited like any call).

use super::rotation_caller;
use crate::password::{generate, PasswordSpec};
use crate::secrets::Secrets;
use coffer_store::SecretRow;
use serde_json::{json, Value};

/// What an in-process rotator works with: the secrets component's operations,
/// called as the rotation principal, on one secret and one rotation token.
pub(crate) struct RotationCall<'a> {
    pub svc: &'a Secrets,
    pub secret: &'a SecretRow,
    pub token: &'a str,
}

fn api_error(e: coffer_api::ApiError) -> String {
    format!("{}: {}", e.code.as_str(), e.message)
}

impl RotationCall<'_> {
    async fn call(&self, op: &str, body: Value) -> Result<Value, coffer_api::ApiError> {
        let caller = rotation_caller(&self.secret.account_id, &self.secret.region);
        let out = self
            .svc
            .call(&caller, op, body.to_string().as_bytes())
            .await?;
        Ok(serde_json::from_slice(&out).unwrap_or(Value::Null))
    }

    /// The value of a stage (AWSPENDING: this rotation's version), parsed as JSON
    /// when it is JSON, else as a JSON string.
    pub async fn value_of(&self, stage: &str) -> Result<Value, String> {
        let mut req = json!({"SecretId": self.secret.arn, "VersionStage": stage});
        if stage == "AWSPENDING" {
            req["VersionId"] = Value::String(self.token.to_string());
        }
        let got = self.call("GetSecretValue", req).await.map_err(api_error)?;
        let text = got["SecretString"]
            .as_str()
            .ok_or("the secret has no string value")?;
        Ok(serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string())))
    }

    /// createSecret: the current value with a new random password (the whole
    /// value for a plain string), stored as this rotation's AWSPENDING version.
    pub async fn create_pending(&self, exclude: &str) -> Result<(), String> {
        self.create_pending_with(exclude, |_| {}).await
    }

    /// The value of another secret (a master secret), by ARN.
    pub async fn value_of_secret(&self, arn: &str) -> Result<Value, String> {
        let req = json!({"SecretId": arn});
        let got = self.call("GetSecretValue", req).await.map_err(api_error)?;
        let text = got["SecretString"]
            .as_str()
            .ok_or("the master secret has no string value")?;
        serde_json::from_str(text).map_err(|_| "the master secret is not JSON".to_string())
    }

    /// Like `create_pending`, with `edit` applied to a JSON value first
    /// (alternating users switch the user name).
    pub async fn create_pending_with(
        &self,
        exclude: &str,
        edit: impl FnOnce(&mut Value),
    ) -> Result<(), String> {
        if self.value_of("AWSPENDING").await.is_ok() {
            return Ok(()); // created by an earlier attempt
        }
        let spec = PasswordSpec {
            exclude_characters: exclude.to_string(),
            ..PasswordSpec::default()
        };
        let password = generate(&spec).map_err(api_error)?;
        let new = match self.value_of("AWSCURRENT").await? {
            mut v @ Value::Object(_) => {
                edit(&mut v);
                v["password"] = Value::String(password);
                v.to_string()
            }
            _ => password,
        };
        let put = json!({"SecretId": self.secret.arn, "ClientRequestToken": self.token,
            "SecretString": new, "VersionStages": ["AWSPENDING"]});
        self.call("PutSecretValue", put).await.map_err(api_error)?;
        Ok(())
    }

    /// finishSecret: AWSCURRENT moves to this rotation's version.
    pub async fn finish(&self) -> Result<(), String> {
        let arn = &self.secret.arn;
        let d = self
            .call("DescribeSecret", json!({"SecretId": arn}))
            .await
            .map_err(api_error)?;
        let current = d["VersionIdsToStages"]
            .as_object()
            .and_then(|m| {
                m.iter().find(|(_, st)| {
                    st.as_array()
                        .is_some_and(|a| a.iter().any(|x| x == "AWSCURRENT"))
                })
            })
            .map(|(v, _)| v.clone());
        if current.as_deref() == Some(self.token) {
            return Ok(());
        }
        let mut body = json!({"SecretId": arn, "VersionStage": "AWSCURRENT",
            "MoveToVersionId": self.token});
        if let Some(c) = current {
            body["RemoveFromVersionId"] = Value::String(c);
        }
        self.call("UpdateSecretVersionStage", body)
            .await
            .map_err(api_error)?;
        Ok(())
    }
}
