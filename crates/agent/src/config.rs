//! The agent's configuration file, in either of the formats AWS's agents read:
//! the AWS Secrets Manager Agent's flat keys (`http_port = "2773"`, numbers as
//! strings or integers) and the Workload Credentials Provider's nested form
//! (`[capabilities.secrets_manager]` with `.cache`, `.security`, `.prefetch`, and
//! `[logging]`). Unknown keys are an error, as in both, so a typo never silently
//! falls back to a default. Where both forms set a value, the nested one wins.

mod acm;

use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("reading {0}: {1}")]
    Read(String, String),
    #[error("config file: {0}")]
    Parse(String),
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
}

pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field,
        message: message.into(),
    }
}

/// A secret to fetch at startup.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrefetchSecret {
    pub secret_id: String,
    pub role_arn: Option<String>,
}

/// Secrets carrying a tag key, to fetch at startup.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrefetchTag {
    pub key: String,
    pub role_arn: Option<String>,
}

/// Coffer's addition: a secret (whole, or one key of a JSON secret) rendered to a
/// file, mode 0600 unless `mode` says otherwise, and a command run when its value
/// changes.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSink {
    pub secret_id: String,
    pub path: PathBuf,
    pub json_key: Option<String>,
    pub reload_command: Option<String>,
    /// A second key appended after `json_key` when the secret has it (an ACM
    /// certificate's chain, in fullchain mode).
    #[serde(skip)]
    pub then_key: Option<String>,
    /// The file's mode; 0 is 0600.
    #[serde(skip)]
    pub mode: u32,
    /// `mode = "0640"` in the config: the mode as octal text, for a service
    /// running as another user of the file's group.
    #[serde(rename = "mode", default)]
    pub mode_text: Option<String>,
    /// The role the secret is read as (an ACM certificate's `role_arn`).
    #[serde(skip)]
    pub role_arn: Option<String>,
}

/// A `[[coffer.files]]` mode: octal, owner read and write at least, nothing for
/// other users (a secret readable by every account on the host is no secret).
fn file_mode(text: &str) -> Result<u32, ConfigError> {
    let m = u32::from_str_radix(text, 8)
        .ok()
        .filter(|v| *v <= 0o777)
        .ok_or_else(|| {
            invalid(
                "coffer.files",
                format!("mode {text:?} is not an octal mode up to 0777"),
            )
        })?;
    if m & 0o007 != 0 {
        return Err(invalid(
            "coffer.files",
            format!("mode {text:?} lets every user of the host read or change the secret; give its group access instead (\"0640\")"),
        ));
    }
    if m & 0o600 != 0o600 {
        return Err(invalid(
            "coffer.files",
            format!("mode {text:?} does not let the agent itself rewrite the file; it needs 06x0"),
        ));
    }
    Ok(m)
}

#[derive(Debug, Clone, PartialEq)]
pub struct Prefetch {
    pub secrets: Vec<PrefetchSecret>,
    pub filter_tags: Vec<PrefetchTag>,
    /// At most this fraction of `cache_size` is filled by pre-fetching.
    pub cache_buffer_ratio: f32,
    pub max_jitter_seconds: u64,
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentConfig {
    pub log_level: String,
    /// `log_to_file = true`: the file logs go to (`logs/…` under the working
    /// directory); None: stderr.
    pub log_file: Option<PathBuf>,
    pub http_port: u16,
    pub ttl: Duration,
    pub cache_size: usize,
    pub ssrf_headers: Vec<String>,
    pub ssrf_env_variables: Vec<String>,
    pub path_prefix: String,
    pub max_conn: usize,
    pub max_roles: usize,
    pub region: Option<String>,
    pub ignore_transient_errors: bool,
    pub validate_credentials: bool,
    pub credentials_file_path: Option<PathBuf>,
    pub prefetch: Prefetch,
    /// Coffer's addition: how old a cached value may be when it is served because
    /// the upstream is failing (`[coffer] max_stale_seconds`).
    pub max_stale: Duration,
    /// Coffer's addition: `[[coffer.files]]`.
    pub files: Vec<FileSink>,
    /// Coffer's addition (`[coffer] allowed_roles`): the role ARNs (`*` and `?`
    /// wildcards) local callers may have the agent assume. None: any role, as the
    /// AWS agent does.
    pub allowed_roles: Option<Vec<String>>,
    /// Coffer's addition (`[coffer] ca_bundle`): a PEM file of CA certificates an
    /// `https://` upstream is trusted by, besides the system's roots. Wins over
    /// `AWS_CA_BUNDLE` (see `trust`).
    pub ca_bundle: Option<PathBuf>,
    /// Coffer's addition (`[coffer] http_address`, AWS agent issue #68): the
    /// address to listen on. Default 127.0.0.1; another (a sidecar reached
    /// over a pod or task network) still needs the SSRF token on every call.
    pub http_address: std::net::IpAddr,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            log_level: "info".into(),
            log_file: None,
            http_port: 2773,
            ttl: Duration::from_mins(5),
            cache_size: 1000,
            ssrf_headers: vec![
                "X-Aws-Parameters-Secrets-Token".into(),
                "X-Vault-Token".into(),
            ],
            ssrf_env_variables: vec![
                "AWS_TOKEN".into(),
                "AWS_SESSION_TOKEN".into(),
                "AWS_CONTAINER_AUTHORIZATION_TOKEN".into(),
            ],
            path_prefix: "/v1/".into(),
            max_conn: 800,
            max_roles: 20,
            region: None,
            ignore_transient_errors: true,
            validate_credentials: true,
            credentials_file_path: None,
            prefetch: Prefetch {
                secrets: vec![],
                filter_tags: vec![],
                cache_buffer_ratio: 0.8,
                max_jitter_seconds: 0,
            },
            allowed_roles: None,
            ca_bundle: None,
            http_address: std::net::IpAddr::from([127, 0, 0, 1]),
            max_stale: Duration::from_hours(24),
            files: Vec::new(),
        }
    }
}

/// A number given as an integer or as a string, as the AWS agent accepts.
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
enum Num {
    Int(i64),
    Text(String),
}

impl Num {
    fn get(&self, field: &'static str) -> Result<i64, ConfigError> {
        match self {
            Num::Int(n) => Ok(*n),
            Num::Text(s) => s
                .trim()
                .parse()
                .map_err(|_| invalid(field, format!("not a number: {s:?}"))),
        }
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Input {
    log_level: Option<String>,
    log_to_file: Option<bool>,
    http_address: Option<String>,
    http_port: Option<Num>,
    ttl_seconds: Option<Num>,
    cache_size: Option<Num>,
    ssrf_headers: Option<Vec<String>>,
    ssrf_env_variables: Option<Vec<String>>,
    path_prefix: Option<String>,
    max_conn: Option<Num>,
    max_roles: Option<Num>,
    region: Option<String>,
    ignore_transient_errors: Option<bool>,
    validate_credentials: Option<bool>,
    credentials_file_path: Option<PathBuf>,
    prefetch: Option<PrefetchInput>,
    capabilities: Option<Capabilities>,
    logging: Option<Logging>,
    coffer: Option<CofferInput>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Capabilities {
    secrets_manager: Option<NestedSm>,
    acm: Option<acm::AcmInput>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct NestedSm {
    enabled: Option<bool>,
    http_port: Option<Num>,
    cache: Option<CacheInput>,
    security: Option<SecurityInput>,
    path_prefix: Option<String>,
    max_conn: Option<Num>,
    max_roles: Option<Num>,
    region: Option<String>,
    ignore_transient_errors: Option<bool>,
    validate_credentials: Option<bool>,
    prefetch: Option<PrefetchInput>,
    credentials_file_path: Option<PathBuf>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CacheInput {
    ttl_seconds: Option<Num>,
    cache_size: Option<Num>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SecurityInput {
    ssrf_headers: Option<Vec<String>>,
    ssrf_env_variables: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Logging {
    log_level: Option<String>,
    log_to_file: Option<bool>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct PrefetchInput {
    cache_buffer_ratio: Option<f32>,
    max_jitter_seconds: Option<u64>,
    #[serde(default)]
    filter_tags: Vec<PrefetchTag>,
    #[serde(default)]
    secrets: Vec<PrefetchSecret>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CofferInput {
    max_stale_seconds: Option<u64>,
    allowed_roles: Option<Vec<String>>,
    ca_bundle: Option<PathBuf>,
    http_address: Option<String>,
    #[serde(default)]
    files: Vec<FileSink>,
}

/// A number that must lie in `min..=max`, as the AWS agent checks it.
fn in_range(
    n: Option<Num>,
    field: &'static str,
    min: i64,
    max: i64,
) -> Result<Option<i64>, ConfigError> {
    let Some(n) = n else { return Ok(None) };
    let v = n.get(field)?;
    if !(min..=max).contains(&v) {
        return Err(invalid(field, format!("must be from {min} to {max}")));
    }
    Ok(Some(v))
}

impl AgentConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::Read(path.display().to_string(), e.to_string()))?;
        Self::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let input: Input = toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        let (nested, acm) = match input.capabilities {
            Some(c) => (c.secrets_manager.unwrap_or_default(), c.acm),
            None => (NestedSm::default(), None),
        };
        let certificate_files = match acm {
            Some(a) => acm::files(a)?,
            None => vec![],
        };
        if nested.enabled == Some(false) {
            return Err(invalid(
                "capabilities.secrets_manager.enabled",
                "the agent serves Secrets Manager only; it cannot be disabled",
            ));
        }
        let mut c = AgentConfig::default();
        // Set to true, logs go to a file as the AWS agent writes them; unset,
        // to stderr, where systemd and container runtimes collect them.
        if input
            .logging
            .as_ref()
            .and_then(|l| l.log_to_file)
            .or(input.log_to_file)
            == Some(true)
        {
            c.log_file = Some(PathBuf::from("logs/secrets_manager_agent.log"));
        }
        let cache = nested.cache.unwrap_or_default();
        let security = nested.security.unwrap_or_default();
        if let Some(l) = input.logging.and_then(|l| l.log_level).or(input.log_level) {
            c.log_level = match l.to_lowercase().as_str() {
                "debug" | "info" | "warn" | "error" => l.to_lowercase(),
                "none" => "off".into(),
                _ => {
                    return Err(invalid(
                        "log_level",
                        "must be debug, info, warn, error or none",
                    ))
                }
            };
        }
        if let Some(n) = nested.http_port.or(input.http_port) {
            let p = n.get("http_port")?;
            if !(0..=65535).contains(&p) || (1..1024).contains(&p) {
                return Err(invalid(
                    "http_port",
                    "must be a port number from 1024 to 65535",
                ));
            }
            c.http_port = p as u16;
        }
        if let Some(t) = in_range(
            cache.ttl_seconds.or(input.ttl_seconds),
            "ttl_seconds",
            0,
            3600,
        )? {
            c.ttl = Duration::from_secs(t as u64);
        }
        if let Some(n) = in_range(cache.cache_size.or(input.cache_size), "cache_size", 1, 1000)? {
            c.cache_size = n as usize;
        }
        if let Some(n) = in_range(nested.max_conn.or(input.max_conn), "max_conn", 1, 1000)? {
            c.max_conn = n as usize;
        }
        if let Some(n) = in_range(nested.max_roles.or(input.max_roles), "max_roles", 1, 1000)? {
            c.max_roles = n as usize;
        }
        if let Some(h) = security.ssrf_headers.or(input.ssrf_headers) {
            if h.is_empty() {
                return Err(invalid("ssrf_headers", "must name at least one header"));
            }
            c.ssrf_headers = h;
        }
        if let Some(v) = security.ssrf_env_variables.or(input.ssrf_env_variables) {
            if v.is_empty() {
                return Err(invalid(
                    "ssrf_env_variables",
                    "must name at least one variable",
                ));
            }
            c.ssrf_env_variables = v;
        }
        if let Some(p) = nested.path_prefix.or(input.path_prefix) {
            if !p.starts_with('/') {
                return Err(invalid("path_prefix", "must start with /"));
            }
            c.path_prefix = p;
        }
        c.region = nested.region.or(input.region);
        c.ignore_transient_errors = nested
            .ignore_transient_errors
            .or(input.ignore_transient_errors)
            .unwrap_or(true);
        c.validate_credentials = nested
            .validate_credentials
            .or(input.validate_credentials)
            .unwrap_or(true);
        c.credentials_file_path = nested.credentials_file_path.or(input.credentials_file_path);
        if let Some(p) = nested.prefetch.or(input.prefetch) {
            let ratio = p.cache_buffer_ratio.unwrap_or(0.8);
            if !(0.1..=1.0).contains(&ratio) {
                return Err(invalid(
                    "prefetch.cache_buffer_ratio",
                    "must be from 0.1 to 1.0",
                ));
            }
            let jitter = p.max_jitter_seconds.unwrap_or(0);
            if jitter > 10 {
                return Err(invalid(
                    "prefetch.max_jitter_seconds",
                    "must be from 0 to 10",
                ));
            }
            if p.secrets.iter().any(|s| s.secret_id.is_empty())
                || p.filter_tags.iter().any(|t| t.key.is_empty())
            {
                return Err(invalid("prefetch", "secret_id and key must not be empty"));
            }
            c.prefetch = Prefetch {
                secrets: p.secrets,
                filter_tags: p.filter_tags,
                cache_buffer_ratio: ratio,
                max_jitter_seconds: jitter,
            };
        }
        let mut coffer = input.coffer.unwrap_or_default();
        if let Some(a) = coffer.http_address.as_ref().or(input.http_address.as_ref()) {
            c.http_address = a.parse().map_err(|_| {
                invalid(
                    "coffer.http_address",
                    "must be an IP address (127.0.0.1, 0.0.0.0, ::1, ...)",
                )
            })?;
        }
        if let Some(s) = coffer.max_stale_seconds {
            c.max_stale = Duration::from_secs(s);
        }
        if let Some(allowed) = coffer.allowed_roles {
            let prefetched = c
                .prefetch
                .secrets
                .iter()
                .filter_map(|s| s.role_arn.as_deref());
            let tagged = c
                .prefetch
                .filter_tags
                .iter()
                .filter_map(|t| t.role_arn.as_deref());
            if let Some(r) = prefetched
                .chain(tagged)
                .find(|r| !crate::roles::allowed(&allowed, r))
            {
                return Err(invalid(
                    "coffer.allowed_roles",
                    format!("the prefetch role {r} is not in the list"),
                ));
            }
            c.allowed_roles = Some(allowed);
        }
        if coffer
            .ca_bundle
            .as_ref()
            .is_some_and(|p| p.as_os_str().is_empty())
        {
            return Err(invalid("coffer.ca_bundle", "must name a file"));
        }
        c.ca_bundle = coffer.ca_bundle;
        for f in &mut coffer.files {
            if f.secret_id.is_empty() || !f.path.is_absolute() {
                return Err(invalid(
                    "coffer.files",
                    "each file needs a secret_id and an absolute path",
                ));
            }
            if let Some(m) = &f.mode_text {
                f.mode = file_mode(m)?;
            }
        }
        c.files = coffer.files;
        c.files.extend(certificate_files);
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_aws_agent() {
        let c = AgentConfig::parse("").unwrap();
        assert_eq!(c, AgentConfig::default());
        assert_eq!(
            (c.http_port, c.ttl.as_secs(), c.cache_size, c.max_conn),
            (2773, 300, 1000, 800)
        );
    }

    #[test]
    fn flat_aws_agent_file() {
        let c = AgentConfig::parse(
            r#"
            log_level = "DEBUG"
            http_port = "2775"
            ttl_seconds = "60"
            cache_size = 100
            ssrf_headers = ["X-Custom-Token"]
            ssrf_env_variables = ["MY_TOKEN"]
            path_prefix = "/secrets/"
            max_conn = "10"
            region = "eu-west-1"
            ignore_transient_errors = false
            validate_credentials = false
            "#,
        )
        .unwrap();
        assert_eq!(
            (c.http_port, c.ttl.as_secs(), c.cache_size, c.max_conn),
            (2775, 60, 100, 10)
        );
        assert_eq!(c.ssrf_headers, ["X-Custom-Token"]);
        assert_eq!(c.path_prefix, "/secrets/");
        assert_eq!(c.region.as_deref(), Some("eu-west-1"));
        assert!(!c.ignore_transient_errors && !c.validate_credentials);
        assert_eq!(c.log_level, "debug");
    }

    #[test]
    fn nested_workload_provider_file() {
        let c = AgentConfig::parse(
            r#"
            [logging]
            log_level = "warn"

            [capabilities.secrets_manager]
            http_port = 2800
            max_roles = 5

            [capabilities.secrets_manager.cache]
            ttl_seconds = 120
            cache_size = 500

            [capabilities.secrets_manager.security]
            ssrf_headers = ["X-Token"]

            [capabilities.secrets_manager.prefetch]
            cache_buffer_ratio = 0.5
            secrets = [{ secret_id = "prod/db" }, { secret_id = "x", role_arn = "arn:aws:iam::1:role/r" }]
            filter_tags = [{ key = "Team" }]
            "#,
        )
        .unwrap();
        assert_eq!(
            (c.http_port, c.ttl.as_secs(), c.cache_size, c.max_roles),
            (2800, 120, 500, 5)
        );
        assert_eq!(c.ssrf_headers, ["X-Token"]);
        assert_eq!(c.prefetch.secrets.len(), 2);
        assert_eq!(c.prefetch.filter_tags[0].key, "Team");
        assert!((c.prefetch.cache_buffer_ratio - 0.5).abs() < f32::EPSILON);
        assert_eq!(c.log_level, "warn");
    }

    #[test]
    fn coffer_file_sinks() {
        let c = AgentConfig::parse(
            "[coffer]\nmax_stale_seconds = 60\n[[coffer.files]]\nsecret_id = \"db\"\npath = \"/run/db\"\njson_key = \"password\"\n",
        )
        .unwrap();
        assert_eq!(c.files[0].json_key.as_deref(), Some("password"));
        assert_eq!(c.max_stale.as_secs(), 60);
        assert_eq!(c.ca_bundle, None);
        let c = AgentConfig::parse("[coffer]\nca_bundle = \"/etc/coffer/ca.pem\"\n").unwrap();
        assert_eq!(c.ca_bundle, Some(PathBuf::from("/etc/coffer/ca.pem")));
        assert!(AgentConfig::parse("[coffer]\nca_bundle = \"\"\n").is_err());
        assert_eq!(c.http_address.to_string(), "127.0.0.1");
        let c = AgentConfig::parse("[coffer]\nhttp_address = \"0.0.0.0\"\n").unwrap();
        assert_eq!(c.http_address.to_string(), "0.0.0.0");
        assert!(AgentConfig::parse("[coffer]\nhttp_address = \"localhost:1\"\n").is_err());
        assert!(
            AgentConfig::parse("[[coffer.files]]\nsecret_id = \"db\"\npath = \"relative\"\n")
                .is_err()
        );
    }

    #[test]
    fn a_file_sink_mode_opens_the_file_to_its_group_and_no_further() {
        let sink = |mode: &str| {
            AgentConfig::parse(&format!(
                "[[coffer.files]]\nsecret_id = \"db\"\npath = \"/run/db\"\nmode = \"{mode}\"\n"
            ))
        };
        assert_eq!(sink("0640").unwrap().files[0].mode, 0o640);
        assert_eq!(sink("600").unwrap().files[0].mode, 0o600);
        for (bad, says) in [
            ("0644", "every user"),
            ("0606", "every user"),
            ("0440", "rewrite"),
            ("0888", "octal"),
            ("rw-r-----", "octal"),
            ("01640", "octal"),
        ] {
            let e = sink(bad).unwrap_err().to_string();
            assert!(e.contains("coffer.files") && e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn bad_values_and_unknown_keys_are_clear_errors() {
        for (text, field) in [
            ("ttl_seconds = 3601", "ttl_seconds"),
            ("cache_size = 0", "cache_size"),
            ("http_port = 80", "http_port"),
            ("max_conn = \"x\"", "max_conn"),
            ("path_prefix = \"v1\"", "path_prefix"),
            ("ssrf_headers = []", "ssrf_headers"),
            ("log_level = \"loud\"", "log_level"),
        ] {
            match AgentConfig::parse(text) {
                Err(ConfigError::Invalid { field: f, .. }) => assert_eq!(f, field, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
        match AgentConfig::parse("ttl_secs = 5") {
            Err(ConfigError::Parse(m)) => assert!(m.contains("ttl_secs"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            AgentConfig::parse("[capabilities.secrets_manager.cache]\nttl = 1"),
            Err(ConfigError::Parse(_))
        ));
    }
}
