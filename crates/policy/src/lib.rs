//! IAM policies: the grammar (`parse`), the request context they are judged against
//! (`Context`), and AWS's evaluation logic (`evaluate`). Pure functions only: callers
//! gather the policies and the context, this crate decides.

mod condition;
mod eval;
mod glob;
mod parse;
mod vars;

#[cfg(test)]
mod tests;

pub use condition::{Base, Condition, Operator, SetOp};
pub use eval::{evaluate, Decision, DenySource, Request};
pub use glob::matches as wildcard_matches;
pub use parse::{Effect, Kind, ParseError, Policy, PrincipalSpec, Statement};

use std::collections::HashMap;
use std::sync::Arc;

/// Who is asking, as policies see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// `arn:aws:iam::ACCOUNT:root`, `arn:aws:iam::ACCOUNT:user/NAME` or
    /// `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`.
    pub arn: String,
    pub account: String,
    /// For an assumed-role session, the role's ARN (`arn:aws:iam::ACCOUNT:role/ROLE`),
    /// which resource and trust policies name.
    pub role_arn: Option<String>,
}

impl Principal {
    pub fn is_root(&self) -> bool {
        self.arn == format!("arn:aws:iam::{}:root", self.account)
    }

    /// A web identity: an OIDC provider of the account, as
    /// AssumeRoleWithWebIdentity evaluates a trust policy for it.
    pub fn is_federated(&self) -> bool {
        self.arn
            .strip_prefix(&format!("arn:aws:iam::{}:oidc-provider/", self.account))
            .is_some_and(|rest| !rest.is_empty())
    }
}

/// The request context: condition keys and their values. Keys are matched without
/// regard to case, as AWS does; a key may hold several values (`aws:TagKeys`).
#[derive(Debug, Clone, Default)]
pub struct Context {
    values: HashMap<String, Vec<String>>,
    /// Keys shared by many requests (the principal's), consulted after `values`.
    base: Option<Arc<Context>>,
}

impl Context {
    pub fn new() -> Self {
        Self::default()
    }

    /// A context layered over `base`: keys set here shadow the base's.
    pub fn over(base: Arc<Context>) -> Self {
        Context {
            values: HashMap::new(),
            base: Some(base),
        }
    }

    /// Sets a single-valued key.
    pub fn set(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.values
            .insert(key.to_ascii_lowercase(), vec![value.into()]);
        self
    }

    /// Sets a multi-valued key.
    pub fn set_many(&mut self, key: &str, values: Vec<String>) -> &mut Self {
        self.values.insert(key.to_ascii_lowercase(), values);
        self
    }

    pub fn get(&self, key: &str) -> Option<&[String]> {
        let found = if key.bytes().any(|b| b.is_ascii_uppercase()) {
            self.values.get(&key.to_ascii_lowercase())
        } else {
            self.values.get(key)
        };
        match found {
            Some(v) => Some(v.as_slice()),
            None => self.base.as_ref().and_then(|b| b.get(key)),
        }
    }

    /// The single value of a key, for policy variables.
    pub fn first(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(|v| v.first()).map(String::as_str)
    }
}
