//! A connection's `OAuthHttpParameters`: headers, query string and body
//! parameters added to its OAuth token request (an `audience` or `scope`
//! that identity providers ask for, say). Values are kept with the
//! connection's other credentials in its `events!connection/…` secret;
//! DescribeConnection shows a value only when it is not marked secret, as
//! AWS does.

use coffer_api::{ApiError, ErrorCode};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// One parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Param {
    pub key: String,
    pub value: String,
    pub secret: bool,
}

/// The three kinds of parameter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct OAuthHttp {
    pub headers: Vec<Param>,
    pub query: Vec<Param>,
    pub body: Vec<Param>,
}

const KINDS: [&str; 3] = [
    "HeaderParameters",
    "QueryStringParameters",
    "BodyParameters",
];

fn bad(m: &str) -> ApiError {
    ApiError::new(ErrorCode::Validation, m.to_string())
}

fn params(list: &Value, kind: &str) -> Result<Vec<Param>, ApiError> {
    let Some(items) = list.as_array() else {
        return Err(bad(&format!("{kind} must be a list.")));
    };
    if items.len() > 100 {
        return Err(bad(&format!("{kind} has more than 100 parameters.")));
    }
    items
        .iter()
        .map(|p| {
            // Members are named exactly: a `key` twin beside `Key` is refused,
            // not read.
            let members = p.as_object().map(|m| m.keys().cloned().collect::<Vec<_>>());
            if members.is_none_or(|m| {
                m.iter()
                    .any(|k| !matches!(k.as_str(), "Key" | "Value" | "IsValueSecret"))
            }) {
                return Err(bad(&format!(
                    "Each of {kind} is a structure of Key, Value and IsValueSecret."
                )));
            }
            let key = p["Key"].as_str().unwrap_or_default();
            let value = p["Value"].as_str().unwrap_or_default();
            // AWS's patterns: 1 to 512 characters, no control characters.
            let ok = |s: &str| (1..=512).contains(&s.chars().count()) && !s.chars().any(char::is_control);
            if !ok(key) || !ok(value) {
                return Err(bad(&format!(
                    "Each of {kind} needs a Key and a Value of 1 to 512 characters, without control characters."
                )));
            }
            // The client's credentials and the request's own framing are not
            // the caller's to replace.
            const RESERVED: [&str; 5] = [
                "authorization",
                "host",
                "content-length",
                "transfer-encoding",
                "connection",
            ];
            if kind == KINDS[0] && RESERVED.iter().any(|r| key.eq_ignore_ascii_case(r)) {
                return Err(bad(&format!("Header {key} cannot be set in OAuthHttpParameters.")));
            }
            let secret = match &p["IsValueSecret"] {
                Value::Bool(b) => *b,
                Value::Null => false,
                _ => return Err(bad("IsValueSecret must be a boolean.")),
            };
            Ok(Param {
                key: key.to_string(),
                value: value.to_string(),
                secret,
            })
        })
        .collect()
}

impl OAuthHttp {
    /// Reads the request's `OAuthHttpParameters`.
    pub(crate) fn parse(v: &Value) -> Result<OAuthHttp, ApiError> {
        let Some(m) = v.as_object() else {
            return Err(bad("OAuthHttpParameters must be a structure."));
        };
        if let Some(k) = m.keys().find(|k| !KINDS.contains(&k.as_str())) {
            return Err(bad(&format!("Unknown member {k} in OAuthHttpParameters.")));
        }
        let get = |k: &str| m.get(k).map_or(Ok(Vec::new()), |l| params(l, k));
        Ok(OAuthHttp {
            headers: get(KINDS[0])?,
            query: get(KINDS[1])?,
            body: get(KINDS[2])?,
        })
    }

    /// What DescribeConnection shows: secret values left out.
    pub(crate) fn shown(&self) -> Value {
        let list = |ps: &[Param]| -> Value {
            ps.iter()
                .map(|p| {
                    let mut v = json!({"Key": p.key, "IsValueSecret": p.secret});
                    if !p.secret {
                        v["Value"] = Value::String(p.value.clone());
                    }
                    v
                })
                .collect()
        };
        json!({
            "HeaderParameters": list(&self.headers),
            "QueryStringParameters": list(&self.query),
            "BodyParameters": list(&self.body),
        })
    }
}

/// `application/x-www-form-urlencoded` pairs, RFC 3986's unreserved
/// characters kept and everything else percent-encoded.
pub(crate) fn form(pairs: &[(&str, &str)]) -> String {
    fn enc(s: &str, out: &mut String) {
        for b in s.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        enc(k, &mut out);
        out.push('=');
        enc(v, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_checked_and_shown_without_secret_values() {
        let p = OAuthHttp::parse(&json!({
            "HeaderParameters": [{"Key": "X-Tenant", "Value": "t1"}],
            "BodyParameters": [{"Key": "audience", "Value": "hidden", "IsValueSecret": true}],
        }))
        .unwrap();
        assert_eq!(p.headers[0].value, "t1");
        let shown = p.shown().to_string();
        assert!(shown.contains("t1") && !shown.contains("hidden"), "{shown}");
        for bad_one in [
            json!({"HeaderParameters": [{"Key": "Authorization", "Value": "x"}]}),
            json!({"HeaderParameters": [{"Key": "Content-Length", "Value": "0"}]}),
            json!({"BodyParameters": [{"Key": "a", "Value": "x", "key": "b"}]}),
            json!({"BodyParameters": ["a=b"]}),
            json!({"BodyParameters": [{"Key": "", "Value": "x"}]}),
            json!({"BodyParameters": [{"Key": "a\nb", "Value": "x"}]}),
            json!({"Other": []}),
            json!({"QueryStringParameters": "x"}),
        ] {
            assert!(OAuthHttp::parse(&bad_one).is_err(), "{bad_one}");
        }
    }

    #[test]
    fn forms_are_encoded() {
        assert_eq!(
            form(&[("grant_type", "client_credentials"), ("scope", "a b&c=/")]),
            "grant_type=client_credentials&scope=a%20b%26c%3D%2F"
        );
    }
}
