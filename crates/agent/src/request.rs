//! Parsing the two request forms: `/secretsmanager/get?secretId=…` and
//! `{path_prefix}NAME?…`, with the AWS agent's 400 messages.

/// A GetSecretValue request as the agent reads it.
#[derive(Debug, PartialEq, Eq)]
pub struct Query {
    pub secret_id: String,
    pub version_id: Option<String>,
    pub version_stage: Option<String>,
    pub refresh_now: bool,
    pub role_arn: Option<String>,
    /// Coffer's: answer one key of a JSON secret (`jsonKey=password`).
    pub json_key: Option<String>,
}

/// A refused request: status and plain-text message.
pub type Refusal = (u16, String);

fn bad(msg: impl Into<String>) -> Refusal {
    (400, msg.into())
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a byte.
pub fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn refresh(v: &str) -> Result<bool, Refusal> {
    match v.to_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(bad("invalid refreshNow value")),
    }
}

/// Reads the query string; `with_secret_id` allows the `secretId` parameter.
fn params(query: &str, q: &mut Query, with_secret_id: bool) -> Result<(), Refusal> {
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (decode(k), decode(v));
        match k.as_str() {
            "secretId" if with_secret_id => q.secret_id = v,
            "versionId" => q.version_id = Some(v),
            "versionStage" => q.version_stage = Some(v),
            "refreshNow" => q.refresh_now = refresh(&v)?,
            "roleArn" => q.role_arn = Some(v),
            "jsonKey" => q.json_key = Some(v),
            other => return Err(bad(format!("unknown parameter: {other}"))),
        }
    }
    Ok(())
}

fn empty() -> Query {
    Query {
        secret_id: String::new(),
        version_id: None,
        version_stage: None,
        refresh_now: false,
        role_arn: None,
        json_key: None,
    }
}

/// A JSON secret's value as a program is given it (`jsonKey`, file sinks,
/// `agent exec`'s variables): a string as it is, any other value as JSON.
pub fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One key of the secret in a GetSecretValue `body`, as [`json_text`] gives
/// it. The secret must be a JSON object holding the key.
pub fn json_key(body: &[u8], key: &str) -> Result<String, Refusal> {
    let answer: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| (500, "unreadable answer".to_string()))?;
    let secret = answer["SecretString"]
        .as_str()
        .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
        .filter(serde_json::Value::is_object)
        .ok_or_else(|| bad("jsonKey: the secret is not a JSON object"))?;
    secret
        .get(key)
        .map(json_text)
        .ok_or_else(|| (404, format!("jsonKey: the secret has no key {key}")))
}

/// `/secretsmanager/get?secretId=…`
pub fn from_query(query: &str) -> Result<Query, Refusal> {
    let mut q = empty();
    params(query, &mut q, true)?;
    if q.secret_id.is_empty() {
        return Err(bad("missing parameter secretId"));
    }
    Ok(q)
}

/// `{prefix}NAME?…`; the name may contain `/` and percent-encoded characters.
pub fn from_path(path: &str, query: &str, prefix: &str) -> Result<Query, Refusal> {
    let id = path.get(prefix.len()..).map(decode).unwrap_or_default();
    if id.is_empty() {
        return Err(bad("missing secret ID"));
    }
    let mut q = empty();
    q.secret_id = id;
    params(query, &mut q, false)?;
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_form() {
        let q = from_query("secretId=prod%2Fdb&versionStage=AWSPREVIOUS&refreshNow=TRUE").unwrap();
        assert_eq!(q.secret_id, "prod/db");
        assert_eq!(q.version_stage.as_deref(), Some("AWSPREVIOUS"));
        assert!(q.refresh_now);
        assert_eq!(
            from_query("versionId=x").unwrap_err(),
            (400, "missing parameter secretId".to_string())
        );
        assert_eq!(
            from_query("secretId=a&abc=1").unwrap_err(),
            (400, "unknown parameter: abc".to_string())
        );
        assert_eq!(
            from_query("secretId=a&refreshNow=123").unwrap_err(),
            (400, "invalid refreshNow value".to_string())
        );
    }

    #[test]
    fn path_form() {
        let q = from_path("/v1/prod/db", "versionId=v1", "/v1/").unwrap();
        assert_eq!(
            (q.secret_id.as_str(), q.version_id.as_deref()),
            ("prod/db", Some("v1"))
        );
        assert_eq!(
            from_path("/v1/", "", "/v1/").unwrap_err(),
            (400, "missing secret ID".to_string())
        );
        assert_eq!(from_path("/v1/a", "secretId=b", "/v1/").unwrap_err().0, 400);
    }

    #[test]
    fn one_key_of_a_json_secret() {
        let body = br#"{"SecretString":"{\"user\":\"u\",\"port\":5432}"}"#;
        assert_eq!(json_key(body, "user").unwrap(), "u");
        assert_eq!(json_key(body, "port").unwrap(), "5432");
        assert_eq!(json_key(body, "nope").unwrap_err().0, 404);
        assert_eq!(
            json_key(br#"{"SecretString":"plain"}"#, "user")
                .unwrap_err()
                .0,
            400
        );
        let q = from_query("secretId=a&jsonKey=pass%20word").unwrap();
        assert_eq!(q.json_key.as_deref(), Some("pass word"));
    }

    #[test]
    fn decoding() {
        assert_eq!(decode("a+b%20c%2F%zz%"), "a b c/%zz%");
    }
}
