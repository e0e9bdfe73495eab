//! Rotation functions by name: the built-ins and the server's configured
//! external ones. What a `RotationLambdaARN` resolves to is decided here, both
//! when RotateSecret is called and when the rotation engine runs a step.

use coffer_api::{ApiError, ErrorCode};
use std::collections::HashMap;

/// An external rotation function, from the server's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalFunction {
    /// The program and its arguments (empty for an HTTP function).
    pub command: Vec<String>,
    /// The server's environment variables the program gets besides PATH and its
    /// AWS settings; it inherits nothing else (the root key above all).
    pub pass_env: Vec<String>,
    /// A Lambda-compatible endpoint (`https://host:port`; `http://` to
    /// loopback only) to invoke instead of a program, with the Lambda Invoke
    /// API's request shape. Such a function holds credentials of its own.
    pub url: Option<String>,
    /// The access key the Invoke calls are signed with (SigV4, service
    /// `lambda`, the secret's region), as the real Invoke API requires.
    pub invoke_key: Option<(String, coffer_api::types::Sensitive<String>)>,
    /// PEM roots the endpoint's certificate is verified against, besides the
    /// system's.
    pub ca_file: Option<std::path::PathBuf>,
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

impl Function {
    /// Does the function read a master secret (`masterarn`) to do its work?
    pub fn uses_master(&self) -> bool {
        matches!(
            self,
            Function::PostgresAlternatingUsers | Function::MysqlAlternatingUsers
        )
    }
}

/// The functions a server knows.
#[derive(Debug, Default)]
pub struct Functions {
    /// External functions by name, from the configuration.
    pub external: HashMap<String, ExternalFunction>,
    /// PEM roots the built-in database rotators trust for the databases'
    /// certificates; set, they always connect over TLS.
    pub database_ca_file: Option<std::path::PathBuf>,
}

impl Functions {
    /// What a `RotationLambdaARN` (or a bare function name) names, if anything.
    pub fn resolve(&self, lambda_arn: &str) -> Option<Function> {
        let name = function_name(lambda_arn);
        match name {
            "coffer-random-password" => return Some(Function::RandomPassword),
            "coffer-postgres-single-user" => return Some(Function::PostgresSingleUser),
            "coffer-postgres-alternating-users" => return Some(Function::PostgresAlternatingUsers),
            "coffer-mysql-single-user" => return Some(Function::MysqlSingleUser),
            "coffer-mysql-alternating-users" => return Some(Function::MysqlAlternatingUsers),
            _ => {}
        }
        self.external
            .get(name)
            .map(|f| Function::External(name.to_string(), f.clone()))
    }
}

/// The error for a function name that resolves to nothing (as AWS answers).
pub fn cannot_invoke() -> ApiError {
    ApiError::new(
        ErrorCode::AccessDenied,
        "Secrets Manager cannot invoke the specified Lambda function. Ensure that the function policy grants access to the principal secretsmanager.amazonaws.com.",
    )
}

/// The function name of a Lambda ARN (`arn:aws:lambda:R:A:function:NAME[:QUALIFIER]`),
/// or the name itself.
pub fn function_name(arn: &str) -> &str {
    match arn.split_once(":function:") {
        Some((_, rest)) => rest.split(':').next().unwrap_or(rest),
        None => arn,
    }
}

#[cfg(test)]
mod tests {
    use super::function_name;

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
