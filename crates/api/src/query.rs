//! The AWS Query protocol's wire types (IAM, STS), protocol-neutral: flattened
//! form parameters in, an element tree out (the HTTP layer wraps it in the
//! response envelope).
//!
//! The typed operations in [`crate::iam_ops`] and [`crate::sts_ops`] are parsed
//! from [`Params`] with the readers here.

use crate::error::{ApiError, ErrorCode};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Form parameters of a Query request (`UserName=bob&Tags.member.1.Key=team`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Params(pub BTreeMap<String, String>);

/// `SecretId` -> `secretId`: how AWS names a member in validation messages and
/// CloudTrail names it in `requestParameters`.
pub fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// AWS's error for a required member that was not sent.
pub fn null_error(member: &str) -> ApiError {
    ApiError::new(
        ErrorCode::Validation,
        format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
            lower_first(member)
        ),
    )
}

/// Whether an operation only reads (`readOnly` in the audit record).
pub fn read_only(operation: &str) -> bool {
    ["Get", "List", "Simulate", "Decode"]
        .iter()
        .any(|p| operation.starts_with(p))
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Params {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Params(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

impl Params {
    /// A form-encoded request body (`application/x-www-form-urlencoded`). A
    /// repeated key keeps its last value.
    pub fn from_form(body: &[u8]) -> Params {
        form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    /// The `Action` parameter; missing or empty is `UnknownOperation`.
    pub fn action(&self) -> Result<&str, ApiError> {
        self.get("Action")
            .filter(|a| !a.is_empty())
            .ok_or_else(|| ApiError::new(ErrorCode::UnknownOperation, "Missing Action"))
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }

    pub fn required(&self, k: &str) -> Result<&str, ApiError> {
        self.get(k).ok_or_else(|| null_error(k))
    }

    /// Whether member `k` was sent at all: `k` itself (a scalar, or an empty
    /// list, which SDKs send as `k=`) or any `k.…` (a list's entries).
    pub fn has(&self, k: &str) -> bool {
        let head = format!("{k}.");
        self.0.contains_key(k)
            || self
                .0
                .range(head.clone()..)
                .next()
                .is_some_and(|(key, _)| key.starts_with(&head))
    }

    /// The null error for the first of `members` (in order) that was not sent.
    pub fn require(&self, members: &[&str]) -> Result<(), ApiError> {
        match members.iter().find(|m| !self.has(m)) {
            Some(m) => Err(null_error(m)),
            None => Ok(()),
        }
    }

    /// `Prefix.member.1`, `Prefix.member.2`, ... in order.
    pub fn list(&self, prefix: &str) -> Vec<String> {
        (1..)
            .map_while(|i| {
                self.get(&format!("{prefix}.member.{i}"))
                    .map(str::to_string)
            })
            .collect()
    }

    /// `Tags.member.N.Key` / `.Value` pairs.
    pub fn tags(&self, prefix: &str) -> Result<Vec<(String, String)>, ApiError> {
        let mut out = vec![];
        for i in 1.. {
            let Some(k) = self.get(&format!("{prefix}.member.{i}.Key")) else {
                break;
            };
            let v = self
                .get(&format!("{prefix}.member.{i}.Value"))
                .ok_or_else(|| null_error("value"))?;
            out.push((k.to_string(), v.to_string()));
        }
        Ok(out)
    }

    /// A list of structures: `Prefix.member.N.Field`, one map of `Field` to value
    /// per entry, in order.
    pub fn structs(&self, prefix: &str) -> Vec<BTreeMap<String, String>> {
        let mut out = vec![];
        for i in 1.. {
            let head = format!("{prefix}.member.{i}.");
            let fields: BTreeMap<String, String> = self
                .0
                .range(head.clone()..)
                .take_while(|(k, _)| k.starts_with(&head))
                .map(|(k, v)| (k[head.len()..].to_string(), v.clone()))
                .collect();
            if fields.is_empty() {
                break;
            }
            out.push(fields);
        }
        out
    }

    pub fn int(&self, k: &str) -> Result<Option<i64>, ApiError> {
        self.get(k)
            .map(|v| {
                v.parse().map_err(|_| {
                    ApiError::new(ErrorCode::Validation, format!("Invalid value for {k}: {v}"))
                })
            })
            .transpose()
    }

    /// `true` or `false`, as AWS's SDKs write booleans.
    pub fn bool(&self, k: &str) -> Result<Option<bool>, ApiError> {
        self.get(k)
            .map(|v| match v {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(ApiError::new(
                    ErrorCode::Validation,
                    format!("Invalid value for {k}: {v}"),
                )),
            })
            .transpose()
    }
}

/// Tags as CloudTrail records them: `[{"key": .., "value": ..}]`.
pub fn audit_tags(tags: &[(String, String)]) -> Value {
    tags.iter()
        .map(|(k, v)| serde_json::json!({ "key": k, "value": v }))
        .collect()
}

/// A list of structures as CloudTrail records it: camelCase field names.
pub fn audit_structs(items: &[BTreeMap<String, String>]) -> Value {
    items
        .iter()
        .map(|fields| {
            Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| (lower_first(k), Value::String(v.clone())))
                    .collect::<Map<String, Value>>(),
            )
        })
        .collect()
}

/// An XML element: text or children.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Text(&'static str, String),
    Parent(&'static str, Vec<Node>),
}

impl Node {
    pub fn text(name: &'static str, v: impl Into<String>) -> Node {
        Node::Text(name, v.into())
    }

    /// A list in the Query protocol's form: `<Name><member>..</member></Name>`.
    pub fn members(name: &'static str, items: Vec<Vec<Node>>) -> Node {
        Node::Parent(
            name,
            items
                .into_iter()
                .map(|i| Node::Parent("member", i))
                .collect(),
        )
    }

    pub fn tags(tags: &[(String, String)]) -> Node {
        Node::members(
            "Tags",
            tags.iter()
                .map(|(k, v)| vec![Node::text("Key", k.clone()), Node::text("Value", v.clone())])
                .collect(),
        )
    }

    pub fn render(&self, out: &mut String) {
        match self {
            Node::Text(n, v) => {
                out.push('<');
                out.push_str(n);
                out.push('>');
                escape_into(v, out);
                out.push_str("</");
                out.push_str(n);
                out.push('>');
            }
            Node::Parent(n, kids) => {
                out.push('<');
                out.push_str(n);
                out.push('>');
                for k in kids {
                    k.render(out);
                }
                out.push_str("</");
                out.push_str(n);
                out.push('>');
            }
        }
    }
}

pub fn escape_into(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}

/// IAM returns policy documents URL-encoded (RFC 3986), and AWS's SDKs decode them.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3 / 2);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_escapes() {
        let n = Node::Parent(
            "User",
            vec![
                Node::text("UserName", "a<b&c"),
                Node::tags(&[("k".into(), "v".into())]),
            ],
        );
        let mut s = String::new();
        n.render(&mut s);
        assert_eq!(
            s,
            "<User><UserName>a&lt;b&amp;c</UserName><Tags><member><Key>k</Key><Value>v</Value></member></Tags></User>"
        );
        assert_eq!(url_encode("{\"a\": 1}"), "%7B%22a%22%3A%201%7D");
    }

    #[test]
    fn params() {
        let mut p = Params::default();
        for (k, v) in [
            ("Tags.member.1.Key", "team"),
            ("Tags.member.1.Value", "dev"),
            ("Tags.member.2.Key", "env"),
            ("Tags.member.2.Value", "prod"),
            ("PolicyArns.member.1", "arn:a"),
        ] {
            p.0.insert(k.into(), v.into());
        }
        assert_eq!(p.tags("Tags").unwrap().len(), 2);
        assert_eq!(p.list("PolicyArns"), ["arn:a"]);
        assert_eq!(
            p.required("UserName").unwrap_err().message,
            "1 validation error detected: Value null at 'userName' failed to satisfy constraint: Member must not be null"
        );
    }

    #[test]
    fn form_bodies_and_scalars() {
        let p = Params::from_form(
            b"Action=CreateUser&UserName=a%2Bb+c&MaxItems=10&Bad=x&OnlyAttached=true&No=false&Odd=TRUE",
        );
        assert_eq!(p.action().unwrap(), "CreateUser");
        assert_eq!(p.get("UserName"), Some("a+b c"));
        assert_eq!(p.int("MaxItems").unwrap(), Some(10));
        assert_eq!(p.int("Missing").unwrap(), None);
        assert_eq!(
            p.int("Bad").unwrap_err().message,
            "Invalid value for Bad: x"
        );
        assert_eq!(p.bool("OnlyAttached").unwrap(), Some(true));
        assert_eq!(p.bool("No").unwrap(), Some(false));
        assert_eq!(p.bool("Missing").unwrap(), None);
        assert_eq!(p.bool("Odd").unwrap_err().code, ErrorCode::Validation);
        for body in [&b""[..], b"Action="] {
            let e = Params::from_form(body).action().unwrap_err();
            assert_eq!(
                (e.code, e.message.as_str()),
                (ErrorCode::UnknownOperation, "Missing Action")
            );
        }
    }

    #[test]
    fn presence_and_structures() {
        let p: Params = [
            ("TagKeys", ""),
            ("PolicyArns.member.1.arn", "arn:a"),
            ("PolicyArns.member.2.arn", "arn:b"),
            ("PolicyArnsX", "not a member"),
        ]
        .into_iter()
        .collect();
        assert!(p.has("TagKeys") && p.has("PolicyArns") && !p.has("Tags"));
        assert!(p.list("TagKeys").is_empty());
        let arns = p.structs("PolicyArns");
        assert_eq!(arns.len(), 2);
        assert_eq!(arns[1]["arn"], "arn:b");
        assert_eq!(
            p.require(&["TagKeys", "RoleName"]).unwrap_err().message,
            "1 validation error detected: Value null at 'roleName' failed to satisfy constraint: Member must not be null"
        );
        assert_eq!(
            audit_structs(&arns),
            serde_json::json!([{ "arn": "arn:a" }, { "arn": "arn:b" }])
        );
        assert_eq!(
            audit_tags(&[("k".into(), "v".into())]),
            serde_json::json!([{ "key": "k", "value": "v" }])
        );
        assert!(read_only("GetCallerIdentity") && read_only("SimulatePrincipalPolicy"));
        assert!(!read_only("GenerateCredentialReport") && !read_only("CreateUser"));
    }
}
