//! Rotation functions: what a `RotationLambdaARN` resolves to, and invoking one
//! step of it. The built-ins (`coffer-random-password`, `coffer-postgres-*`,
//! `coffer-mysql-*`) run in-process; other names map (by the
//! server's configuration) to executables that receive the Lambda event as JSON on
//! stdin and call back into Coffer with temporary credentials of their execution
//! role, never the root credential.

use super::call::RotationCall;
use super::rotation_caller;
use crate::service::Service;
use crate::session::{RoleRef, Session};
use coffer_store::SecretRow;
use serde_json::json;
use std::time::Duration;

/// How long one step of an external function may run.
const STEP_TIMEOUT: Duration = Duration::from_secs(300);
/// How long the execution role's credentials live (a step's worth, with margin).
const SESSION_MS: i64 = 900_000;

/// An external rotation function, from the server's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalFunction {
    /// The program and its arguments (empty for an HTTP function).
    pub command: Vec<String>,
    /// A Lambda-compatible endpoint (`http://host:port`) to invoke instead of a
    /// program, with the Lambda Invoke API's request shape. Such a function holds
    /// credentials of its own.
    pub url: Option<String>,
    /// The role (in the secret's account, trusting `secretsmanager.amazonaws.com`)
    /// whose credentials the function gets.
    pub role_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Function {
    RandomPassword,
    PostgresSingleUser,
    PostgresAlternatingUsers,
    MysqlSingleUser,
    MysqlAlternatingUsers,
    /// A configured function, with the name it is configured under.
    External(String, ExternalFunction),
}

/// The function name of a Lambda ARN (`arn:aws:lambda:R:A:function:NAME[:QUALIFIER]`),
/// or the name itself.
pub fn function_name(arn: &str) -> &str {
    match arn.split_once(":function:") {
        Some((_, rest)) => rest.split(':').next().unwrap_or(rest),
        None => arn,
    }
}

impl Service {
    pub fn resolve_function(&self, lambda_arn: &str) -> Option<Function> {
        let name = function_name(lambda_arn);
        match name {
            "coffer-random-password" => return Some(Function::RandomPassword),
            "coffer-postgres-single-user" => return Some(Function::PostgresSingleUser),
            "coffer-postgres-alternating-users" => return Some(Function::PostgresAlternatingUsers),
            "coffer-mysql-single-user" => return Some(Function::MysqlSingleUser),
            "coffer-mysql-alternating-users" => return Some(Function::MysqlAlternatingUsers),
            _ => {}
        }
        self.functions
            .get(name)
            .map(|f| Function::External(name.to_string(), f.clone()))
    }

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
                    svc: self,
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
                    svc: self,
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
            svc: self,
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

    /// Temporary credentials of the function's execution role in the secret's account.
    async fn execution_session(&self, role_name: &str, s: &SecretRow) -> Result<Session, String> {
        let (role, _) = self
            .iam_load::<crate::iam::RoleDoc>(&s.account_id, crate::iam::ROLE, role_name)
            .await
            .map_err(|e| e.message)?
            .ok_or_else(|| format!("the execution role {role_name} does not exist"))?;
        let arn = crate::iam::entity_arn(&s.account_id, "role", &role.path, role_name);
        // The role must trust the service, as a Lambda execution role trusts Lambda.
        if !crate::authz::trusts_service(&role.trust, &arn, &s.account_id) {
            return Err(format!(
                "the execution role {role_name} does not trust secretsmanager.amazonaws.com"
            ));
        }
        let caller = rotation_caller(&s.account_id, &s.region);
        let mut session = self.new_session(&caller, SESSION_MS / 1000);
        session.arn = format!(
            "arn:aws:sts::{}:assumed-role/{role_name}/coffer-rotation",
            s.account_id
        );
        session.role = Some(RoleRef {
            account: s.account_id.clone(),
            name: role_name.to_string(),
            arn,
            id: role.id.clone(),
        });
        session.session_name = Some("coffer-rotation".into());
        Ok(session)
    }

    async fn external_step(
        &self,
        name: &str,
        f: &ExternalFunction,
        step: &str,
        s: &SecretRow,
        token: &str,
    ) -> Result<(), String> {
        if let Some(url) = &f.url {
            let event = json!({"Step": step, "SecretId": s.arn, "ClientRequestToken": token,
                "RotationToken": token});
            return super::lambda::invoke(url, name, &event, STEP_TIMEOUT)
                .await
                .map_err(|e| format!("{step}: {e}"));
        }
        let endpoint = self
            .endpoint
            .get()
            .cloned()
            .ok_or("the server's endpoint is not known yet")?;
        let session = self.execution_session(&f.role_name, s).await?;
        let token_text = self.seal_session(&session).map_err(|e| e.message)?;
        let event = json!({"Step": step, "SecretId": s.arn, "ClientRequestToken": token,
            "RotationToken": token});
        let (program, args) = f
            .command
            .split_first()
            .ok_or("the function has no command")?;
        let mut child = tokio::process::Command::new(program)
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
    use super::function_name;

    #[test]
    fn execution_roles_must_trust_the_service() {
        let role = "arn:aws:iam::123456789012:role/exec";
        let service = r#"{"Statement":{"Effect":"Allow","Principal":{"Service":"secretsmanager.amazonaws.com"},"Action":"sts:AssumeRole"}}"#;
        assert!(crate::authz::trusts_service(service, role, "123456789012"));
        let account = r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"sts:AssumeRole"}}"#;
        assert!(!crate::authz::trusts_service(account, role, "123456789012"));
        assert!(!crate::authz::trusts_service(
            "not json",
            role,
            "123456789012"
        ));
    }

    #[test]
    fn names() {
        let arn = "arn:aws:lambda:us-east-1:123456789012:function:coffer-random-password";
        assert_eq!(function_name(arn), "coffer-random-password");
        assert_eq!(
            function_name(&format!("{arn}:live")),
            "coffer-random-password"
        );
        assert_eq!(function_name("my-rotator"), "my-rotator");
    }
}
