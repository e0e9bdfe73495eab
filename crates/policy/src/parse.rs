//! The policy grammar: JSON in, a checked `Policy` out. Everything that can be
//! wrong with a document is found here, so evaluation never meets a malformed one.

use crate::condition::{Condition, Operator};
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError(msg.into()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// The `Principal` element: `"*"`, or named principals by type (`AWS`, `Service`,
/// `Federated`, `CanonicalUser`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalSpec {
    Any,
    Named(Vec<(String, Vec<String>)>),
}

/// A list with an optional `Not` form (`Action`/`NotAction`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patterns {
    pub negated: bool,
    pub values: Vec<String>,
    /// Each value split into its six ARN parts once, at parse time, when it is an
    /// ARN pattern without policy variables (the common case, matched per request).
    pub(crate) arn_parts: Vec<Option<[crate::glob::Pat; 6]>>,
    /// Each value classified for matching as a whole (actions).
    pub(crate) pats: Vec<crate::glob::Pat>,
}

impl Patterns {
    fn new(negated: bool, values: Vec<String>) -> Patterns {
        let arn_parts = values
            .iter()
            .map(|v| {
                if v.contains("${") {
                    return None;
                }
                crate::glob::split6(v).map(|p| p.map(crate::glob::Pat::new))
            })
            .collect();
        let pats = values.iter().map(|v| crate::glob::Pat::new(v)).collect();
        Patterns {
            negated,
            values,
            arn_parts,
            pats,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    pub principal: Option<(bool, PrincipalSpec)>,
    pub action: Patterns,
    pub resource: Option<Patterns>,
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub version: String,
    pub statements: Vec<Statement>,
}

/// What kind of policy a document is meant to be: each kind has its own rules
/// about `Principal` and `Resource`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Attached to a user or role, or passed as a session policy.
    Identity,
    /// Attached to a secret.
    Resource,
    /// A role's trust policy: names principals, never resources.
    Trust,
}

impl Policy {
    /// Parses a policy of the given kind.
    pub fn parse(doc: &str, kind: Kind) -> Result<Policy, ParseError> {
        let v: Value = match serde_json::from_str(doc) {
            Ok(v) => v,
            Err(_) => return err("Syntax errors in policy."),
        };
        let Value::Object(obj) = v else {
            return err("Syntax errors in policy.");
        };
        for k in obj.keys() {
            if !matches!(k.as_str(), "Version" | "Id" | "Statement") {
                return err(format!("Policy document has an unknown element: {k}."));
            }
        }
        let version = match obj.get("Version") {
            None => "2008-10-17".to_string(),
            Some(Value::String(s)) if s == "2012-10-17" || s == "2008-10-17" => s.clone(),
            Some(_) => return err("The policy must contain a valid version string"),
        };
        let statements = match obj.get("Statement") {
            Some(Value::Array(a)) if !a.is_empty() => a.iter().collect::<Vec<_>>(),
            Some(s @ Value::Object(_)) => vec![s],
            _ => return err("Policy document must contain at least one Statement."),
        };
        let statements = statements
            .into_iter()
            .map(|s| statement(s, kind))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Policy {
            version,
            statements,
        })
    }
}

fn strings(v: &Value, what: &str) -> Result<Vec<String>, ParseError> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(a) if !a.is_empty() => a
            .iter()
            .map(|x| match x {
                Value::String(s) => Ok(s.clone()),
                _ => err(format!("{what} must contain only strings.")),
            })
            .collect(),
        _ => err(format!(
            "{what} must be a string or a non-empty list of strings."
        )),
    }
}

fn patterns(
    obj: &Map<String, Value>,
    pos: &str,
    neg: &str,
) -> Result<Option<Patterns>, ParseError> {
    match (obj.get(pos), obj.get(neg)) {
        (Some(_), Some(_)) => err(format!("A statement cannot have both {pos} and {neg}.")),
        (Some(v), None) => Ok(Some(Patterns::new(false, strings(v, pos)?))),
        (None, Some(v)) => Ok(Some(Patterns::new(true, strings(v, neg)?))),
        (None, None) => Ok(None),
    }
}

fn principal(v: &Value, what: &str) -> Result<PrincipalSpec, ParseError> {
    match v {
        Value::String(s) if s == "*" => Ok(PrincipalSpec::Any),
        Value::Object(m) if !m.is_empty() => m
            .iter()
            .map(|(k, v)| {
                if !matches!(
                    k.as_str(),
                    "AWS" | "Service" | "Federated" | "CanonicalUser"
                ) {
                    return err(format!("Invalid principal type in {what}: {k}."));
                }
                Ok((k.clone(), strings(v, what)?))
            })
            .collect::<Result<_, _>>()
            .map(PrincipalSpec::Named),
        _ => err(format!("Invalid {what} element.")),
    }
}

fn statement(v: &Value, kind: Kind) -> Result<Statement, ParseError> {
    let Value::Object(obj) = v else {
        return err("Each Statement must be an object.");
    };
    for k in obj.keys() {
        if !matches!(
            k.as_str(),
            "Sid"
                | "Effect"
                | "Principal"
                | "NotPrincipal"
                | "Action"
                | "NotAction"
                | "Resource"
                | "NotResource"
                | "Condition"
        ) {
            return err(format!("Statement has an unknown element: {k}."));
        }
    }
    let sid = match obj.get("Sid") {
        None => None,
        // IAM wants alphanumeric ids; resource policies (a KMS key's default
        // policy says "Enable IAM User Permissions") take any text.
        Some(Value::String(s))
            if kind != Kind::Identity || s.chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            Some(s.clone())
        }
        Some(_) => return err("Statement IDs (SID) must be alpha-numeric."),
    };
    let effect = match obj.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        _ => return err("Effect must be Allow or Deny."),
    };
    let principal = match (obj.get("Principal"), obj.get("NotPrincipal")) {
        (Some(_), Some(_)) => {
            return err("A statement cannot have both Principal and NotPrincipal.")
        }
        (Some(p), None) => Some((false, principal(p, "Principal")?)),
        (None, Some(p)) => Some((true, principal(p, "NotPrincipal")?)),
        (None, None) => None,
    };
    let action = patterns(obj, "Action", "NotAction")?
        .ok_or_else(|| ParseError("Policy statement must contain actions.".into()))?;
    for a in &action.values {
        if a != "*" && !a.contains(':') {
            return err(format!(
                "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc. ({a})"
            ));
        }
    }
    let resource = patterns(obj, "Resource", "NotResource")?;
    match kind {
        Kind::Identity if principal.is_some() => {
            return err("Policy document should not specify a principal.")
        }
        Kind::Identity if resource.is_none() => {
            return err("Policy statement must contain resources.")
        }
        Kind::Resource | Kind::Trust if principal.is_none() => {
            return err("Policy statement must contain a principal.")
        }
        Kind::Trust if resource.is_some() => return err("Has prohibited field Resource."),
        _ => {}
    }
    let conditions = match obj.get("Condition") {
        None => vec![],
        Some(Value::Object(m)) => conditions(m)?,
        Some(_) => return err("Condition must be an object."),
    };
    Ok(Statement {
        sid,
        effect,
        principal,
        action,
        resource,
        conditions,
    })
}

fn scalar(v: &Value) -> Result<String, ParseError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        _ => err("Condition values must be strings, numbers or booleans."),
    }
}

fn conditions(m: &Map<String, Value>) -> Result<Vec<Condition>, ParseError> {
    let mut out = vec![];
    for (op_name, block) in m {
        let op = Operator::parse(op_name)
            .ok_or_else(|| ParseError(format!("Invalid Condition type : {op_name}.")))?;
        let Value::Object(keys) = block else {
            return err(format!("Condition block {op_name} must be an object."));
        };
        for (key, vals) in keys {
            let values = match vals {
                Value::Array(a) => a.iter().map(scalar).collect::<Result<Vec<_>, _>>()?,
                v => vec![scalar(v)?],
            };
            op.check_values(&values)
                .map_err(|m| ParseError(format!("{op_name}/{key}: {m}")))?;
            // Keys are case-insensitive; the context stores them lower-cased.
            out.push(Condition {
                op: op.clone(),
                key: key.to_ascii_lowercase(),
                values,
            });
        }
    }
    Ok(out)
}
