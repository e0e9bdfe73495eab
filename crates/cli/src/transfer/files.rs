//! Secrets from files other tools write: `.env` files (one secret per
//! variable) and Vault's KV JSON (`vault kv get -format=json`, or an export
//! mapping each path to its data: one secret per path, its data as a JSON
//! object string).

use super::{SecretRecord, VersionRecord};
use anyhow::Context;
use serde_json::Value;

fn record(name: String, value: String) -> SecretRecord {
    SecretRecord {
        name,
        description: None,
        tags: vec![],
        policy: None,
        versions: vec![VersionRecord {
            id: None,
            labels: vec!["AWSCURRENT".into()],
            string: Some(value),
            binary: None,
        }],
    }
}

/// `KEY=value` lines, as dotenv reads them: `#` comments and blank lines
/// skipped, an `export ` prefix allowed, values bare (an inline ` #` starts a
/// comment), in single quotes (taken as written) or double quotes (`\n`,
/// `\"`, `\\` escapes, may span lines).
pub fn dotenv(text: &str, name_prefix: &str) -> anyhow::Result<Vec<SecretRecord>> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let (key, rest) = line
            .split_once('=')
            .with_context(|| format!("line {}: no `=`", n + 1))?;
        let key = key.trim();
        anyhow::ensure!(
            !key.is_empty()
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-'),
            "line {}: {key:?} is not a variable name",
            n + 1
        );
        let rest = rest.trim_start();
        let value = if let Some(q) = rest.strip_prefix('\'') {
            q.split_once('\'')
                .with_context(|| format!("line {}: unclosed quote", n + 1))?
                .0
                .to_string()
        } else if let Some(q) = rest.strip_prefix('"') {
            let mut body = q.to_string();
            while !closed(&body) {
                let (_, more) = lines
                    .next()
                    .with_context(|| format!("line {}: unclosed quote", n + 1))?;
                body.push('\n');
                body.push_str(more);
            }
            unescape(&body)
        } else {
            rest.split(" #").next().unwrap_or("").trim_end().to_string()
        };
        out.push(record(format!("{name_prefix}{key}"), value));
    }
    Ok(out)
}

/// Whether a double-quoted value's closing quote is in `body`.
fn closed(body: &str) -> bool {
    let mut escaped = false;
    for c in body.chars() {
        match (escaped, c) {
            (true, _) => escaped = false,
            (false, '\\') => escaped = true,
            (false, '"') => return true,
            _ => {}
        }
    }
    false
}

fn unescape(body: &str) -> String {
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => break,
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some(other) => out.push(other),
                None => {}
            },
            c => out.push(c),
        }
    }
    out
}

/// Vault KV JSON. `vault kv get -format=json` output (KV v2's `data.data`, or
/// v1's `data`) is one secret, named by `name`; an object mapping paths to
/// data objects is one secret per path, named `name_prefix` + path.
pub fn vault_kv(
    text: &str,
    name: Option<&str>,
    name_prefix: &str,
) -> anyhow::Result<Vec<SecretRecord>> {
    let doc: Value = serde_json::from_str(text).context("not JSON")?;
    let kv_get = doc.get("request_id").is_some() || doc.get("lease_id").is_some();
    if kv_get {
        let data = match doc.pointer("/data/data") {
            Some(d) if d.is_object() => d,
            _ => doc
                .get("data")
                .filter(|d| d.is_object())
                .context("no data object")?,
        };
        let name = name.context(
            "`vault kv get` output does not name its path: give the secret's name with --name",
        )?;
        return Ok(vec![record(
            format!("{name_prefix}{name}"),
            data.to_string(),
        )]);
    }
    let map = doc
        .as_object()
        .context("expected `vault kv get -format=json` output or an object of path → data")?;
    map.iter()
        .map(|(path, data)| {
            let data = data
                .pointer("/data")
                .filter(|d| d.is_object())
                .unwrap_or(data);
            anyhow::ensure!(data.is_object(), "{path}: its data is not an object");
            let path = path.trim_matches('/');
            Ok(record(format!("{name_prefix}{path}"), data.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(r: &[SecretRecord]) -> Vec<(String, String)> {
        r.iter()
            .map(|s| (s.name.clone(), s.versions[0].string.clone().unwrap()))
            .collect()
    }

    #[test]
    fn dotenv_as_dotenv_reads_it() {
        let text = "# comment\n\nexport DB_HOST=db.internal # the primary\nDB_PASS='p#ss \"x\"'\nCERT=\"line1\\nline2\"\nMULTI=\"a\nb\"\nEMPTY=\n";
        let got = values(&dotenv(text, "app/").unwrap());
        assert_eq!(
            got,
            [
                ("app/DB_HOST".into(), "db.internal".into()),
                ("app/DB_PASS".into(), "p#ss \"x\"".into()),
                ("app/CERT".into(), "line1\nline2".into()),
                ("app/MULTI".into(), "a\nb".into()),
                ("app/EMPTY".into(), String::new()),
            ]
        );
        assert!(dotenv("NOEQUALS\n", "").is_err());
        assert!(dotenv("A=\"open\n", "").is_err());
        assert!(dotenv("BAD KEY=x\n", "").is_err());
    }

    #[test]
    fn vault_kv_get_and_exports() {
        let v2 = r#"{"request_id":"r","data":{"data":{"user":"u","pass":"p"},"metadata":{"version":3}}}"#;
        let got = vault_kv(v2, Some("db"), "vault/").unwrap();
        assert_eq!(
            values(&got),
            [("vault/db".into(), r#"{"user":"u","pass":"p"}"#.into())]
        );
        assert!(vault_kv(v2, None, "").is_err(), "a kv get names no path");
        let v1 = r#"{"request_id":"r","lease_id":"","data":{"k":"v"}}"#;
        assert_eq!(
            values(&vault_kv(v1, Some("x"), "").unwrap())[0].1,
            r#"{"k":"v"}"#
        );
        let export = r#"{"secret/app/": {"a": "1"}, "secret/db": {"data": {"b": "2"}}}"#;
        assert_eq!(
            values(&vault_kv(export, None, "").unwrap()),
            [
                ("secret/app".into(), r#"{"a":"1"}"#.into()),
                ("secret/db".into(), r#"{"b":"2"}"#.into()),
            ]
        );
    }
}
