//! The Query protocol's shapes, protocol-neutral: flattened request parameters in,
//! an element tree out (the HTTP layer wraps it in the response envelope).

use crate::audit::lower_first;
use coffer_api::{ApiError, ErrorCode};
use std::collections::BTreeMap;

/// Form parameters of a Query request (`UserName=bob&Tags.member.1.Key=team`).
#[derive(Debug, Default, Clone)]
pub struct Params(pub BTreeMap<String, String>);

fn null_error(name: &str) -> ApiError {
    ApiError::new(
        ErrorCode::Validation,
        format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
            lower_first(name)
        ),
    )
}

impl Params {
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }

    pub fn required(&self, k: &str) -> Result<&str, ApiError> {
        self.get(k).ok_or_else(|| null_error(k))
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

    pub fn int(&self, k: &str) -> Result<Option<i64>, ApiError> {
        self.get(k)
            .map(|v| {
                v.parse().map_err(|_| {
                    ApiError::new(ErrorCode::Validation, format!("Invalid value for {k}: {v}"))
                })
            })
            .transpose()
    }
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
                kids.iter().for_each(|k| k.render(out));
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

/// ISO 8601 as the Query protocol writes timestamps: whole seconds.
pub fn iso(ms: i64) -> String {
    crate::clock::rfc3339(ms.div_euclid(1000) * 1000)
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
        assert_eq!(iso(0), "1970-01-01T00:00:00Z");
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
}
