//! What the database rotators share: AWS's JSON secret format for a database login,
//! the characters kept out of generated passwords, and the alternating users' names.

use serde_json::Value;

/// Characters AWS's database rotators keep out of generated passwords.
pub const EXCLUDED: &str = "/@\"'\\";

/// A database login, from a secret in AWS's format (`host`, `port`, `username`,
/// `password`, `dbname`).
#[derive(Clone)]
pub struct Login {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub dbname: Option<String>,
    /// TLS asked for by the secret (`"ssl": true`, or `"ssl": "require"`).
    pub ssl: bool,
    /// PEM roots for the database's certificate, from the server's
    /// configuration (`rotation_database_ca_file`); set, it asks for TLS too.
    pub ca_file: Option<std::path::PathBuf>,
}

/// Reads a login; `default_port` when the secret names none.
pub fn login(v: &Value, default_port: u16) -> Result<Login, String> {
    let s = |k: &str| v[k].as_str().map(str::to_string);
    let port = match &v["port"] {
        Value::Number(n) => n.as_u64().and_then(|p| u16::try_from(p).ok()),
        Value::String(p) => p.parse().ok(),
        Value::Null => Some(default_port),
        _ => None,
    }
    .ok_or("the secret's port is not a port number")?;
    Ok(Login {
        host: s("host").ok_or("the secret has no host")?,
        port,
        user: s("username").ok_or("the secret has no username")?,
        password: s("password").ok_or("the secret has no password")?,
        dbname: s("dbname"),
        ssl: match &v["ssl"] {
            Value::Bool(b) => *b,
            Value::String(m) => matches!(m.as_str(), "true" | "require" | "verify-full"),
            _ => false,
        },
        ca_file: None,
    })
}

/// The other user of an alternating pair.
pub fn other_user(name: &str) -> String {
    match name.strip_suffix("_clone") {
        Some(base) => base.to_string(),
        None => format!("{name}_clone"),
    }
}

/// createSecret's edit for alternating users: the pending value names the other user.
pub fn switch_user(v: &mut Value) {
    if let Some(u) = v["username"].as_str() {
        v["username"] = Value::String(other_user(u));
    }
}
