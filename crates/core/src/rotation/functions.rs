//! Invoking one step of a rotation function. The built-ins (`coffer-random-password`, `coffer-postgres-*`,
//! `coffer-mysql-*`) run in-process; other names map (by the
//! server's configuration) to executables that receive the Lambda event as JSON on
//! stdin and call back into Coffer with temporary credentials of their execution
//! role, never the root credential.

use super::call::RotationCall;
use super::Rotation;
use crate::functions::{ExternalFunction, Function};
use coffer_store::SecretRow;
use serde_json::json;
use std::time::Duration;

/// How long one step of an external function may run.
const STEP_TIMEOUT: Duration = Duration::from_mins(5);

impl Rotation {
    /// Runs one step. Errors are messages for DescribeSecret and the change event,
    /// so they never carry a secret value.
    pub(crate) async fn invoke(
        &self,
        f: &Function,
        step: &str,
        secret: &SecretRow,
        token: &str,
    ) -> Result<(), String> {
        match f {
            Function::RandomPassword => self.random_step(step, secret, token).await,
            Function::PostgresSingleUser | Function::PostgresAlternatingUsers => {
                let rc = RotationCall {
                    svc: &self.secrets,
                    secret,
                    token,
                };
                if *f == Function::PostgresSingleUser {
                    super::postgres::step(&rc, step).await
                } else {
                    super::postgres::step_alternating(&rc, step).await
                }
            }
            Function::MysqlSingleUser | Function::MysqlAlternatingUsers => {
                let rc = RotationCall {
                    svc: &self.secrets,
                    secret,
                    token,
                };
                let alternating = *f == Function::MysqlAlternatingUsers;
                super::mysql::step(&rc, step, alternating).await
            }
            Function::External(name, ext) => {
                self.external_step(name, ext, step, secret, token).await
            }
        }
    }

    /// The built-in rotator: a new random password, for a plain string secret or
    /// the `password` key of a JSON one.
    async fn random_step(&self, step: &str, s: &SecretRow, token: &str) -> Result<(), String> {
        let rc = RotationCall {
            svc: &self.secrets,
            secret: s,
            token,
        };
        match step {
            "createSecret" => rc.create_pending("").await,
            "setSecret" | "testSecret" => Ok(()),
            "finishSecret" => rc.finish().await,
            other => Err(format!("unknown step {other}")),
        }
    }

    async fn external_step(
        &self,
        name: &str,
        f: &ExternalFunction,
        step: &str,
        s: &SecretRow,
        token: &str,
    ) -> Result<(), String> {
        if f.url.is_some() {
            let event = json!({"Step": step, "SecretId": s.arn, "ClientRequestToken": token,
                "RotationToken": token});
            let call = super::lambda::Invocation {
                function: f,
                name,
                region: &s.region,
                event: &event,
                timeout: STEP_TIMEOUT,
                now_secs: self.clock.now_ms() / 1000,
            };
            return super::lambda::invoke(&call)
                .await
                .map_err(|e| format!("{step}: {e}"));
        }
        let endpoint = self
            .endpoint
            .get()
            .cloned()
            .ok_or("the server's endpoint is not known yet")?;
        let (session, token_text) = self
            .identity
            .execution_session(&s.account_id, &s.region, &f.role_name)
            .await?;
        let event = json!({"Step": step, "SecretId": s.arn, "ClientRequestToken": token,
            "RotationToken": token});
        let (program, args) = f
            .command
            .split_first()
            .ok_or("the function has no command")?;
        let mut command = tokio::process::Command::new(program);
        command.env_clear();
        for name in std::iter::once("PATH").chain(f.pass_env.iter().map(String::as_str)) {
            if let Some(v) = std::env::var_os(name) {
                command.env(name, v);
            }
        }
        let mut child = command
            .args(args)
            .env("AWS_ENDPOINT_URL", &endpoint)
            .env("AWS_REGION", &s.region)
            .env("AWS_DEFAULT_REGION", &s.region)
            .env("AWS_ACCESS_KEY_ID", &session.access_key_id)
            .env("AWS_SECRET_ACCESS_KEY", &session.secret)
            .env("AWS_SESSION_TOKEN", token_text)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("could not start the function: {e}"))?;
        if let Some(mut stdin) = child.stdin.take() {
            use tokio::io::AsyncWriteExt;
            let _ = stdin.write_all(event.to_string().as_bytes()).await;
        }
        let status = tokio::time::timeout(STEP_TIMEOUT, child.wait())
            .await
            .map_err(|_| format!("{step} timed out"))?
            .map_err(|e| e.to_string())?;
        // The function's output may hold secret values: only the status is kept.
        if status.success() {
            Ok(())
        } else {
            Err(format!("{step} exited with {status}"))
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn execution_roles_must_trust_the_service() {
        let role = "arn:aws:iam::123456789012:role/exec";
        let service = r#"{"Statement":{"Effect":"Allow","Principal":{"Service":"secretsmanager.amazonaws.com"},"Action":"sts:AssumeRole"}}"#;
        assert!(crate::identity::trusts_service(
            service,
            role,
            "123456789012"
        ));
        let account = r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"sts:AssumeRole"}}"#;
        assert!(!crate::identity::trusts_service(
            account,
            role,
            "123456789012"
        ));
        assert!(!crate::identity::trusts_service(
            "not json",
            role,
            "123456789012"
        ));
    }
}
