//! The server's TOML configuration file, with documented defaults. Flags and
//! `COFFER_*` environment variables override it (see `main.rs`).
//!
//! ```toml
//! # Address to listen on.
//! listen = "127.0.0.1:8750"
//! # Where the database, root key, audit log and root credential live.
//! data_dir = "./coffer-data"
//! # A PostgreSQL database to keep accounts and secrets in, instead of the
//! # SQLite file in data_dir: any number of servers with the same database_url
//! # and the same root key (root_key = "env") serve the same accounts and
//! # secrets. The password may be given here, or in PGPASSWORD-style key=value
//! # form; it is never logged.
//! # database_url = "postgres://coffer@db.internal:5432/coffer"
//! # TLS to the database: add `?sslmode=require` to the URL. The server's
//! # certificate is then verified (chain and host name, as libpq's verify-full)
//! # against the system's roots and, if given, this PEM file. Without
//! # sslmode=require connections are plain.
//! # database_ca_file = "/etc/coffer/db-ca.pem"
//! # Connections each server keeps to the database; requests beyond them wait
//! # (then answer ServiceUnavailableException). Each server opens two more (change
//! # notifications, background leadership), so a fleet of N servers needs
//! # N × (database_pool_size + 2) of PostgreSQL's max_connections (default 100).
//! database_pool_size = 16
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
//! # How long change events stay in the outbox (the change stream, and the
//! # caches of servers sharing a database, read them). An agent that was
//! # disconnected for longer is told it missed changes and refreshes every
//! # cached secret. 0 keeps them for ever, else at least 86400 (rule targets
//! # retry an event for up to 24 hours). Default: 7 days.
//! event_retention_secs = 604800
//! # How long audit records (mutations, and the servers' copies of their audit
//! # files in a shared store) stay in the store; pruning leaves a keyed record
//! # that `coffer audit verify` checks. 0 keeps them for ever. Default: 365 days.
//! # The server's own audit.log file is not pruned (rotate it as any log).
//! audit_retention_secs = 31536000
//! # PEM roots that API destinations (EventBridge webhooks) and a TLS NATS
//! # server are verified against, besides the system's.
//! # events_ca_file = "/etc/coffer/webhooks-ca.pem"
//! # Web identity (AssumeRoleWithWebIdentity, Kubernetes service account
//! # tokens): an OIDC provider registered with IAM's CreateOpenIDConnectProvider
//! # has its signing keys fetched from its issuer over HTTPS
//! # (`/.well-known/openid-configuration`, then `jwks_uri`; kept 10 minutes),
//! # trusting the system's roots and `oidc_ca_file`. For an issuer this server
//! # cannot reach (a cluster's private issuer), give its JWKS in a file, read
//! # on each use: `kubectl get --raw /openid/v1/jwks > cluster.jwks`.
//! # Default: no files, no extra roots.
//! # oidc_ca_file = "/etc/coffer/oidc-ca.pem"
//! # [oidc_jwks_files]
//! # "https://kubernetes.default.svc" = "/etc/coffer/cluster.jwks"
//! # The NATS server that rule targets `nats:SUBJECT` publish to (JetStream
//! # stores what a stream captures). `nats://[user:pass@|token@]host:port`;
//! # `tls://…` for TLS (also used whenever the server requires it).
//! # nats_url = "nats://127.0.0.1:4222"
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
//! # it holds credentials of its own). https:// is verified against the
//! # system's roots and ca_file; http:// is for loopback only. With an access
//! # key, each call is signed with SigV4 (service lambda, the secret's region)
//! # as the real Invoke API requires; its secret comes from the variable
//! # secret_access_key_env or the file secret_access_key_file names.
//! # [rotation_functions.my-lambda]
//! # url = "https://lambda.internal:9001"
//! # access_key_id = "AKIA..."
//! # secret_access_key_env = "MY_LAMBDA_SECRET"
//! # ca_file = "/etc/coffer/lambda-ca.pem"
//! # The built-in PostgreSQL and MySQL rotators connect over TLS when a secret says
//! # "ssl": true, verifying the database's certificate (chain and host name)
//! # against the system's roots and this PEM file; set, every rotator uses TLS.
//! # rotation_database_ca_file = "/etc/coffer/rds-ca.pem"
//! # Regions served by another Coffer deployment, that secrets may be
//! # replicated to (ReplicateSecretToRegions, AddReplicaRegions). The
//! # replicator signs its calls with an access key of a principal there, who
//! # needs secretsmanager:ReplicateSecretToRegions (and PutResourcePolicy for
//! # secrets with a policy, RemoveRegionsFromReplication to remove replicas)
//! # on the replicas; they live in that principal's account. The secret key
//! # comes from the variable secret_access_key_env names, or the file
//! # secret_access_key_file names; never from this file. https:// is verified
//! # against the system's roots and ca_file; http:// only to loopback.
//! # [[remote_regions]]
//! # region = "eu-central-1"
//! # endpoint = "https://coffer.eu.internal:8750"
//! # access_key_id = "AKIA…"
//! # secret_access_key_env = "COFFER_EU_SECRET_ACCESS_KEY"
//! # ca_file = "/etc/coffer/eu-ca.pem"
//! # TLS: a PEM certificate chain (the server's certificate first) and its PEM
//! # private key. Both are read again on SIGHUP: new handshakes present the new
//! # pair, open connections go on, and a pair that fails to load is not taken.
//! # tls_cert_file = "/etc/coffer/tls/cert.pem"
//! # tls_key_file = "/etc/coffer/tls/key.pem"
//! # Without TLS, Coffer refuses to listen on an address other than loopback
//! # unless this says so (TLS ends in a proxy in front of it, say).
//! tls_disable = false
//! # Request quotas per principal (a user, the root, a role session), in
//! # requests per second, by family of operations (0: no limit). Each account
//! # gets four times as much, shared by its principals. A call over quota
//! # answers ThrottlingException, which the AWS SDKs back off and retry; the
//! # refusals are counted in coffer_throttled_total. `--dev` serves without
//! # quotas, except those given as flags or COFFER_QUOTA_* variables.
//! quota_reads_per_second = 2000
//! quota_writes_per_second = 200
//! quota_iam_per_second = 50
//! # How long shutdown waits for in-flight requests.
//! drain_timeout_secs = 30
//! # Where the root key comes from: "file" (data_dir/root.key, created 0600),
//! # "env" (the variable named by root_key_env, 32 bytes in hex or base64) or
//! # "passphrase" (that variable holds a passphrase of 12 or more characters;
//! # the key is derived with Argon2id and data_dir/root.salt, which every server
//! # sharing a database needs a copy of).
//! root_key = "file"
//! root_key_env = "COFFER_ROOT_KEY"
//! # The previous root key, held while `coffer key rotate` moves the store from
//! # it to the current one: "auto" (data_dir/root.key.previous when that file
//! # exists, as `coffer key new` leaves it), "none", "file", "env" (the variable
//! # named by previous_root_key_env) or "passphrase" (with
//! # data_dir/root.salt.previous). Remove it once the rotation has finished.
//! previous_root_key = "auto"
//! previous_root_key_env = "COFFER_PREVIOUS_ROOT_KEY"
//! log_level = "info"
//! # "json" for machines, "text" for people.
//! log_format = "json"
//! ```

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileConfig {
    pub listen: String,
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub database_ca_file: Option<PathBuf>,
    pub database_pool_size: usize,
    pub rotation_database_ca_file: Option<PathBuf>,
    pub regions: Vec<String>,
    pub account_id: Option<String>,
    pub max_connections: usize,
    pub max_body_bytes: usize,
    pub max_change_streams: usize,
    pub max_change_streams_per_key: usize,
    pub sweep_interval_secs: u64,
    pub rotation_interval_secs: u64,
    pub event_retention_secs: u64,
    pub audit_retention_secs: u64,
    pub events_ca_file: Option<PathBuf>,
    pub oidc_ca_file: Option<PathBuf>,
    pub oidc_jwks_files: std::collections::BTreeMap<String, PathBuf>,
    pub nats_url: Option<String>,
    pub rotation_functions: std::collections::BTreeMap<String, FunctionConfig>,
    pub remote_regions: Vec<RemoteRegionFile>,
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    pub tls_disable: bool,
    pub drain_timeout_secs: u64,
    pub quota_reads_per_second: f64,
    pub quota_writes_per_second: f64,
    pub quota_iam_per_second: f64,
    pub root_key: String,
    pub root_key_env: String,
    pub previous_root_key: String,
    pub previous_root_key_env: String,
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
    /// Or: a Lambda-compatible endpoint to invoke (`https://host:port`;
    /// `http://` to loopback only).
    #[serde(default)]
    pub url: Option<String>,
    /// The access key its calls are signed with (SigV4, service `lambda`).
    #[serde(default)]
    pub access_key_id: Option<String>,
    #[serde(default)]
    pub secret_access_key_env: Option<String>,
    #[serde(default)]
    pub secret_access_key_file: Option<PathBuf>,
    /// PEM roots the endpoint is verified against, besides the system's.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

impl FunctionConfig {
    /// The access key the function's Invoke calls are signed with, if any.
    pub fn invoke_key(
        &self,
        name: &str,
    ) -> anyhow::Result<Option<(String, coffer_api::types::Sensitive<String>)>> {
        let what = format!("rotation_functions.{name}");
        match &self.access_key_id {
            None => {
                anyhow::ensure!(
                    self.secret_access_key_env.is_none() && self.secret_access_key_file.is_none(),
                    "{what}: a secret access key without access_key_id"
                );
                Ok(None)
            }
            Some(id) => {
                let secret = read_secret(
                    &what,
                    self.secret_access_key_env.as_deref(),
                    self.secret_access_key_file.as_deref(),
                )?;
                Ok(Some((id.clone(), coffer_api::types::Sensitive(secret))))
            }
        }
    }
}

/// A secret key from the variable `env` or the file `file` (exactly one).
fn read_secret(what: &str, env: Option<&str>, file: Option<&Path>) -> anyhow::Result<String> {
    match (env, file) {
        (Some(var), None) => {
            std::env::var(var).map_err(|_| anyhow::anyhow!("{what}: the variable {var} is not set"))
        }
        (None, Some(path)) => Ok(std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("{what}: {}: {e}", path.display()))?
            .trim()
            .to_string()),
        _ => anyhow::bail!(
            "{what}: give exactly one of secret_access_key_env and secret_access_key_file"
        ),
    }
}

/// A region served by another Coffer deployment (see the file's header).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteRegionFile {
    pub region: String,
    pub endpoint: String,
    pub access_key_id: String,
    #[serde(default)]
    pub secret_access_key_env: Option<String>,
    #[serde(default)]
    pub secret_access_key_file: Option<PathBuf>,
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

impl RemoteRegionFile {
    /// The configuration with its secret key read from where it says.
    pub fn resolve(
        &self,
    ) -> anyhow::Result<coffer_core::secrets::replication::remote::RemoteRegionConfig> {
        let name = &self.region;
        let secret = read_secret(
            &format!("remote region {name}"),
            self.secret_access_key_env.as_deref(),
            self.secret_access_key_file.as_deref(),
        )?;
        let scheme_ok =
            self.endpoint.starts_with("https://") || self.endpoint.starts_with("http://");
        if !scheme_ok {
            anyhow::bail!("remote region {name}: endpoint must be an http:// or https:// URL");
        }
        Ok(
            coffer_core::secrets::replication::remote::RemoteRegionConfig {
                region: self.region.clone(),
                endpoint: self.endpoint.clone(),
                access_key_id: self.access_key_id.clone(),
                secret_access_key: coffer_api::types::Sensitive(secret),
                ca_file: self.ca_file.clone(),
            },
        )
    }
}

impl Default for FileConfig {
    fn default() -> Self {
        FileConfig {
            listen: "127.0.0.1:8750".into(),
            data_dir: PathBuf::from("./coffer-data"),
            database_url: None,
            database_ca_file: None,
            database_pool_size: 16,
            rotation_database_ca_file: None,
            regions: vec!["us-east-1".into()],
            account_id: None,
            max_connections: 1024,
            max_change_streams: 256,
            max_change_streams_per_key: 8,
            max_body_bytes: 256 * 1024,
            sweep_interval_secs: 60,
            rotation_interval_secs: 60,
            event_retention_secs: 7 * 24 * 3600,
            audit_retention_secs: 365 * 24 * 3600,
            events_ca_file: None,
            oidc_ca_file: None,
            oidc_jwks_files: std::collections::BTreeMap::new(),
            nats_url: None,
            rotation_functions: std::collections::BTreeMap::default(),
            remote_regions: Vec::new(),
            tls_cert_file: None,
            tls_key_file: None,
            tls_disable: false,
            drain_timeout_secs: 30,
            quota_reads_per_second: 2000.0,
            quota_writes_per_second: 200.0,
            quota_iam_per_second: 50.0,
            root_key: "file".into(),
            root_key_env: "COFFER_ROOT_KEY".into(),
            previous_root_key: "auto".into(),
            previous_root_key_env: "COFFER_PREVIOUS_ROOT_KEY".into(),
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
        if let Some(url) = &self.database_url {
            coffer_store::postgres::Target::new(url, self.database_ca_file.as_deref()).map_err(
                |e| anyhow::anyhow!("database_url {}: {e}", coffer_store::postgres::redact(url)),
            )?;
        } else if self.database_ca_file.is_some() {
            anyhow::bail!("database_ca_file is set but database_url is not");
        }
        anyhow::ensure!(
            (1..=1000).contains(&self.database_pool_size),
            "database_pool_size must be between 1 and 1000"
        );
        anyhow::ensure!(
            matches!(self.root_key.as_str(), "file" | "env" | "passphrase"),
            "root_key must be \"file\", \"env\" or \"passphrase\""
        );
        anyhow::ensure!(
            matches!(
                self.previous_root_key.as_str(),
                "auto" | "none" | "file" | "env" | "passphrase"
            ),
            "previous_root_key must be \"auto\", \"none\", \"file\", \"env\" or \"passphrase\""
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
        for (name, v) in [
            ("quota_reads_per_second", self.quota_reads_per_second),
            ("quota_writes_per_second", self.quota_writes_per_second),
            ("quota_iam_per_second", self.quota_iam_per_second),
        ] {
            anyhow::ensure!(
                v.is_finite() && (0.0..=1_000_000.0).contains(&v),
                "{name} must be 0 (no limit) or a rate up to 1000000"
            );
        }
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
                    u.starts_with("https://") || u.starts_with("http://"),
                    "rotation_functions.{name}.url must be an https:// (or, to loopback, http://) address"
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
        match (&self.tls_cert_file, &self.tls_key_file) {
            (Some(_), Some(_)) => anyhow::ensure!(
                !self.tls_disable,
                "tls_disable contradicts tls_cert_file and tls_key_file: set one or the other"
            ),
            (None, None) => {}
            _ => anyhow::bail!("tls_cert_file and tls_key_file go together: set both or neither"),
        }
        // Rule targets read the outbox behind their cursors for as long as
        // their retry policies allow (at most 24 hours): events must outlive that.
        anyhow::ensure!(
            self.event_retention_secs == 0 || self.event_retention_secs >= 86_400,
            "event_retention_secs must be 0 (for ever) or at least 86400 (24 hours, the longest a rule target may retry an event)"
        );
        if let Some(u) = &self.nats_url {
            coffer_core::bus::check_nats_url(u).map_err(|e| anyhow::anyhow!("nats_url: {e}"))?;
        }
        if let Some(p) = &self.events_ca_file {
            coffer_core::bus::check_ca_file(p)
                .map_err(|e| anyhow::anyhow!("events_ca_file: {e}"))?;
        }
        if let Some(p) = &self.oidc_ca_file {
            coffer_core::bus::check_ca_file(p).map_err(|e| anyhow::anyhow!("oidc_ca_file: {e}"))?;
        }
        for (issuer, path) in &self.oidc_jwks_files {
            anyhow::ensure!(
                issuer.starts_with("https://"),
                "oidc_jwks_files: the issuer {issuer:?} must be an https:// URL, as tokens' iss"
            );
            anyhow::ensure!(
                path.is_file(),
                "oidc_jwks_files: {} (for {issuer}) is not a readable file",
                path.display()
            );
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

    /// True when the server will speak TLS.
    pub fn tls(&self) -> bool {
        self.tls_cert_file.is_some()
    }

    /// Refuses plain HTTP on an address other than loopback in normal mode, unless
    /// `tls_disable` says it is meant: requests carry signatures and secret values,
    /// and a setting left out should not put them on the network in clear.
    pub fn check_transport(&self, listen: SocketAddr, dev: bool) -> anyhow::Result<()> {
        if dev || self.tls() || self.tls_disable || listen.ip().to_canonical().is_loopback() {
            return Ok(());
        }
        anyhow::bail!(
            "refusing to serve plain HTTP on {listen}, which is not a loopback address: \
             set tls_cert_file and tls_key_file (--tls-cert-file, --tls-key-file) to serve HTTPS, \
             or tls_disable = true (--tls-disable) if TLS ends in front of Coffer"
        )
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
    fn plain_http_off_loopback_needs_tls_disable() {
        let mut cfg = FileConfig::default();
        let any: SocketAddr = "0.0.0.0:8750".parse().unwrap();
        let e = cfg.check_transport(any, false).unwrap_err().to_string();
        assert!(
            e.contains("refusing to serve plain HTTP on 0.0.0.0:8750"),
            "{e}"
        );
        assert!(e.contains("tls_disable"), "{e}");
        for ok in [
            "127.0.0.1:8750",
            "127.0.0.2:1",
            "[::1]:8750",
            "[::ffff:127.0.0.1]:1",
        ] {
            cfg.check_transport(ok.parse().unwrap(), false).unwrap();
        }
        assert!(cfg
            .check_transport("[::]:8750".parse().unwrap(), false)
            .is_err());
        // Dev mode is the operator's own machine; the explicit opt-out; TLS.
        cfg.check_transport(any, true).unwrap();
        cfg.tls_disable = true;
        cfg.check_transport(any, false).unwrap();
        cfg.tls_disable = false;
        cfg.tls_cert_file = Some("c.pem".into());
        cfg.tls_key_file = Some("k.pem".into());
        cfg.check().unwrap();
        cfg.check_transport(any, false).unwrap();
    }

    #[test]
    fn tls_keys_must_agree() {
        let parse = |t: &str| toml::from_str::<FileConfig>(t).unwrap().check();
        assert!(parse("tls_cert_file = \"c.pem\"").is_err());
        assert!(parse("tls_key_file = \"k.pem\"").is_err());
        let both = "tls_cert_file = \"c.pem\"\ntls_key_file = \"k.pem\"\n";
        parse(both).unwrap();
        let e = parse(&format!("{both}tls_disable = true")).unwrap_err();
        assert!(e.to_string().contains("contradicts"), "{e}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<FileConfig>("listn = \"x\"").is_err());
    }
}
