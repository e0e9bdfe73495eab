//! The server's TOML configuration file, with documented defaults. Flags and
//! `COFFER_*` environment variables override it (see `main.rs`).
//!
//! ```toml
//! # Address to listen on.
//! listen = "127.0.0.1:8750"
//! # Where the database, root key, audit log and root credential live.
//! data_dir = "./coffer-data"
//! # Regions served; a request signed for another region is refused.
//! regions = ["us-east-1"]
//! # Account id of the first account, created at first start (random if unset).
//! # account_id = "123456789012"
//! max_connections = 1024
//! max_body_bytes = 262144
//! # Change streams (GET /coffer/v1/events) open at once: in all, and per access
//! # key. Each holds a connection, so they are capped apart from requests.
//! max_change_streams = 256
//! max_change_streams_per_key = 8
//! # How often secrets past their recovery window are purged.
//! sweep_interval_secs = 60
//! # How often the scheduler looks for rotations that are due.
//! rotation_interval_secs = 60
//! # External rotation functions, by the function name a RotationLambdaARN ends
//! # with. Each runs as a program that reads the Lambda event (Step, SecretId,
//! # ClientRequestToken) as JSON on stdin and exits 0 on success; it gets
//! # AWS_ENDPOINT_URL and temporary credentials of `role` (an IAM role of the
//! # secret's account) in an otherwise empty environment: only PATH, and the
//! # server's variables named in `pass_env`, are passed on (never the root key).
//! # The built-in coffer-random-password needs no entry.
//! # [rotation_functions.my-rotator]
//! # command = ["/usr/local/bin/my-rotator", "--verbose"]
//! # role = "my-rotator-execution"
//! # pass_env = ["MY_ROTATOR_CONFIG"]
//! # Or a function behind a Lambda-compatible endpoint (the Invoke API's shape;
//! # it holds credentials of its own):
//! # [rotation_functions.my-lambda]
//! # url = "http://127.0.0.1:9001"
//! # How long shutdown waits for in-flight requests.
//! drain_timeout_secs = 30
//! # Where the root key comes from: "file" (data_dir/root.key, created 0600) or
//! # "env" (the variable named by root_key_env, 32 bytes in hex or base64).
//! root_key = "file"
//! root_key_env = "COFFER_ROOT_KEY"
//! log_level = "info"
//! # "json" for machines, "text" for people.
//! log_format = "json"
//! ```

use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileConfig {
    pub listen: String,
    pub data_dir: PathBuf,
    pub regions: Vec<String>,
    pub account_id: Option<String>,
    pub max_connections: usize,
    pub max_body_bytes: usize,
    pub max_change_streams: usize,
    pub max_change_streams_per_key: usize,
    pub sweep_interval_secs: u64,
    pub rotation_interval_secs: u64,
    pub rotation_functions: std::collections::BTreeMap<String, FunctionConfig>,
    pub drain_timeout_secs: u64,
    pub root_key: String,
    pub root_key_env: String,
    pub log_level: String,
    pub log_format: String,
}

/// An external rotation function.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionConfig {
    /// A program to run (with `role`).
    #[serde(default)]
    pub command: Vec<String>,
    /// The IAM role (in the secret's account) whose credentials the program gets.
    #[serde(default)]
    pub role: Option<String>,
    /// The server's environment variables passed on to the program (besides
    /// PATH and its AWS credentials); nothing else is.
    #[serde(default)]
    pub pass_env: Vec<String>,
    /// Or: a Lambda-compatible endpoint to invoke (`http://host:port`).
    #[serde(default)]
    pub url: Option<String>,
}

impl Default for FileConfig {
    fn default() -> Self {
        FileConfig {
            listen: "127.0.0.1:8750".into(),
            data_dir: PathBuf::from("./coffer-data"),
            regions: vec!["us-east-1".into()],
            account_id: None,
            max_connections: 1024,
            max_change_streams: 256,
            max_change_streams_per_key: 8,
            max_body_bytes: 256 * 1024,
            sweep_interval_secs: 60,
            rotation_interval_secs: 60,
            rotation_functions: std::collections::BTreeMap::default(),
            drain_timeout_secs: 30,
            root_key: "file".into(),
            root_key_env: "COFFER_ROOT_KEY".into(),
            log_level: "info".into(),
            log_format: "json".into(),
        }
    }
}

impl FileConfig {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading config {}: {e}", path.display()))?;
        let cfg: FileConfig =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("config {}: {e}", path.display()))?;
        cfg.check()?;
        Ok(cfg)
    }

    pub fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            matches!(self.root_key.as_str(), "file" | "env"),
            "root_key must be \"file\" or \"env\""
        );
        anyhow::ensure!(
            matches!(self.log_format.as_str(), "json" | "text"),
            "log_format must be \"json\" or \"text\""
        );
        anyhow::ensure!(
            (1..=100_000).contains(&self.max_connections),
            "max_connections must be 1..=100000"
        );
        anyhow::ensure!(
            self.max_change_streams >= 1 && self.max_change_streams <= self.max_connections,
            "max_change_streams must be 1..=max_connections"
        );
        anyhow::ensure!(
            (1..=self.max_change_streams).contains(&self.max_change_streams_per_key),
            "max_change_streams_per_key must be 1..=max_change_streams"
        );
        anyhow::ensure!(
            (1024..=16 * 1024 * 1024).contains(&self.max_body_bytes),
            "max_body_bytes must be 1 KiB..16 MiB"
        );
        anyhow::ensure!(
            self.sweep_interval_secs >= 1,
            "sweep_interval_secs must be at least 1"
        );
        anyhow::ensure!(
            self.rotation_interval_secs >= 1,
            "rotation_interval_secs must be at least 1"
        );
        for (name, f) in &self.rotation_functions {
            match (&f.url, f.command.is_empty(), &f.role) {
                (Some(u), true, _) => anyhow::ensure!(
                    u.starts_with("http://"),
                    "rotation_functions.{name}.url must be an http:// address"
                ),
                (None, false, Some(_)) => {}
                (None, false, None) => {
                    anyhow::bail!("rotation_functions.{name} needs a role for its command")
                }
                _ => anyhow::bail!(
                    "rotation_functions.{name} needs either a command (with a role) or a url"
                ),
            }
        }
        anyhow::ensure!(
            !self.regions.is_empty(),
            "regions must name at least one region"
        );
        if let Some(a) = &self.account_id {
            anyhow::ensure!(
                coffer_core::ids::valid_account_id(a),
                "account_id must be 12 digits"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_example_parses() {
        let doc = include_str!("config.rs");
        let example: String = doc
            .lines()
            .filter_map(|l| l.strip_prefix("//! "))
            .skip_while(|l| !l.starts_with("```toml"))
            .skip(1)
            .take_while(|l| !l.starts_with("```"))
            .fold(String::new(), |mut out, l| {
                out.push_str(l);
                out.push('\n');
                out
            });
        let cfg: FileConfig = toml::from_str(&example).unwrap();
        cfg.check().unwrap();
        assert_eq!(cfg.listen, "127.0.0.1:8750");
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<FileConfig>("listn = \"x\"").is_err());
    }
}
