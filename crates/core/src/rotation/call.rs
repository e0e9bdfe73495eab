//! What in-process rotators share: reading a stage's value, creating the pending
//! version, and moving AWSCURRENT, all as the rotation principal through the
//! service's own operations (so they are validated and audited like any call).

use super::rotation_caller;
use crate::password::{generate, PasswordSpec};
use crate::secrets::Secrets;
use coffer_api::types::{
    GetSecretValueRequest, PutSecretValueRequest, SecretIdRequest, Sensitive,
    UpdateSecretVersionStageRequest,
};
use coffer_api::SecretsManagerOperation as Op;
use coffer_store::SecretRow;
use serde_json::Value;

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
    /// Runs one operation as the rotation principal; the answer as JSON.
    async fn run(&self, op: Op) -> Result<Value, String> {
        let caller = rotation_caller(&self.secret.account_id, &self.secret.region);
        let out = self.svc.execute(&caller, op).await.map_err(api_error)?;
        Ok(serde_json::from_slice(&out).unwrap_or(Value::Null))
    }

    /// The string value of a secret's version, by stage (and version id).
    async fn string_value(
        &self,
        arn: &str,
        stage: Option<&str>,
        version_id: Option<&str>,
    ) -> Result<Option<String>, String> {
        let got = self
            .run(Op::GetSecretValue(GetSecretValueRequest {
                secret_id: Some(arn.to_string()),
                version_stage: stage.map(str::to_string),
                version_id: version_id.map(str::to_string),
            }))
            .await?;
        Ok(got["SecretString"].as_str().map(str::to_string))
    }

    /// The value of a stage (AWSPENDING: this rotation's version), parsed as JSON
    /// when it is JSON, else as a JSON string.
    pub async fn value_of(&self, stage: &str) -> Result<Value, String> {
        let version = (stage == "AWSPENDING").then_some(self.token);
        let text = self
            .string_value(&self.secret.arn, Some(stage), version)
            .await?
            .ok_or("the secret has no string value")?;
        Ok(serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// createSecret: the current value with a new random password (the whole
    /// value for a plain string), stored as this rotation's AWSPENDING version.
    pub async fn create_pending(&self, exclude: &str) -> Result<(), String> {
        self.create_pending_with(exclude, |_| {}).await
    }

    /// The value of the master secret, by ARN: only the one approved when the
    /// rotation was configured (whose configurer could read it).
    pub async fn value_of_secret(&self, arn: &str) -> Result<Value, String> {
        let state = crate::attrs::RotationState::of_row(self.secret).unwrap_or_default();
        let approved = state.master_arn;
        let got = self
            .run(Op::GetSecretValue(GetSecretValueRequest {
                secret_id: Some(arn.to_string()),
                version_stage: None,
                version_id: None,
            }))
            .await?;
        if approved.is_none() || got["ARN"].as_str() != approved.as_deref() {
            return Err(format!(
                "the master secret {arn} is not the one approved when rotation was configured; call RotateSecret again"
            ));
        }
        // And only while whoever configured the rotation may still read it.
        if let (Some(by), Some(master)) = (&state.configured_by, &approved) {
            self.svc
                .configurer_may_read(by, state.configured_session.clone(), master)
                .await
                .map_err(|e| {
                    format!(
                        "{by} may no longer read the master secret {master}: {}",
                        e.code.as_str()
                    )
                })?;
        }
        let text = got["SecretString"]
            .as_str()
            .map(str::to_string)
            .ok_or("the master secret has no string value")?;
        serde_json::from_str(&text).map_err(|_| "the master secret is not JSON".to_string())
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
        self.run(Op::PutSecretValue(PutSecretValueRequest {
            secret_id: Some(self.secret.arn.clone()),
            client_request_token: Some(self.token.to_string()),
            secret_string: Some(Sensitive(new)),
            version_stages: Some(vec!["AWSPENDING".into()]),
            ..PutSecretValueRequest::default()
        }))
        .await?;
        Ok(())
    }

    /// finishSecret: AWSCURRENT moves to this rotation's version.
    pub async fn finish(&self) -> Result<(), String> {
        let arn = &self.secret.arn;
        let d = self
            .run(Op::DescribeSecret(SecretIdRequest {
                secret_id: Some(arn.clone()),
            }))
            .await?;
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
        // A value put by hand meanwhile abandoned this rotation (AWSPENDING
        // removed): its version must not take AWSCURRENT from the user's.
        let pending = d["VersionIdsToStages"][self.token]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == "AWSPENDING"));
        if !pending {
            return Err(format!(
                "version {} no longer holds AWSPENDING: the rotation was abandoned",
                self.token
            ));
        }
        self.run(Op::UpdateSecretVersionStage(
            UpdateSecretVersionStageRequest {
                secret_id: Some(arn.clone()),
                version_stage: Some("AWSCURRENT".into()),
                move_to_version_id: Some(self.token.to_string()),
                remove_from_version_id: current,
            },
        ))
        .await?;
        Ok(())
    }
}
