//! Starting servers and building clients for the tests.

use aws_sdk_secretsmanager as sm;
use coffer::run::{RootKeySource, StartOptions};
use coffer::{start, Running};
use coffer_core::ManualClock;
use coffer_server::HttpConfig;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const AKID: &str = "AKIATESTTESTTESTTEST";
pub const SECRET: &str = "test-secret-key-for-integration-tests";
pub const ACCOUNT: &str = "123456789012";

pub struct TestServer {
    pub running: Option<Running>,
    pub clock: ManualClock,
    pub dir: tempfile::TempDir,
}

pub fn options(data_dir: PathBuf, clock: ManualClock) -> StartOptions {
    StartOptions {
        data_dir,
        database: None,
        database_url: None,
        database_ca_file: None,
        database_pool_size: coffer_store::postgres::POOL_SIZE,
        rotation_database_ca_file: None,
        listen: "127.0.0.1:0".parse().unwrap(),
        http: HttpConfig {
            max_body_bytes: 256 * 1024,
            ..HttpConfig::default()
        },
        sweep_interval: Duration::from_hours(1),
        // Tests drive the scheduler themselves (`rotate_due`) with the manual clock.
        rotation_interval: Duration::from_hours(1),
        event_retention: None,
        audit_retention: None,
        events_ca_file: None,
        web_identity: coffer_core::identity::WebIdentityOptions::default(),
        nats_url: None,
        remote_regions: Vec::new(),
        rotation_functions: std::collections::HashMap::default(),
        root_key: RootKeySource::File,
        previous_root_key: None,
        clock: Arc::new(clock),
        account_id: Some(ACCOUNT.into()),
        access_key_id: Some(AKID.into()),
        secret_access_key: Some(SECRET.into()),
        dev: true,
    }
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// Starts with the options adjusted by `edit` (rotation functions, say).
    pub async fn start_with(edit: impl FnOnce(&mut StartOptions)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new();
        let mut opts = options(dir.path().to_path_buf(), clock.clone());
        edit(&mut opts);
        let running = start(opts).await.unwrap();
        TestServer {
            running: Some(running),
            clock,
            dir,
        }
    }

    pub fn running(&self) -> &Running {
        self.running.as_ref().unwrap()
    }

    pub fn endpoint(&self) -> String {
        self.running().endpoint()
    }

    pub fn client(&self) -> sm::Client {
        self.client_in("us-east-1")
    }

    pub fn kms(&self) -> aws_sdk_kms::Client {
        kms_client_for(&self.endpoint(), AKID, SECRET)
    }

    pub fn client_in(&self, region: &str) -> sm::Client {
        client_for(&self.endpoint(), region, AKID, SECRET)
    }

    /// Stops the server and starts a new one on the same data directory.
    pub async fn restart(&mut self) {
        self.running.take().unwrap().stop().await.unwrap();
        let running = start(options(self.dir.path().to_path_buf(), self.clock.clone()))
            .await
            .unwrap();
        self.running = Some(running);
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await.unwrap();
        }
    }
}

/// Creates secret `name` holding `value` through `c`.
pub async fn create(c: &sm::Client, name: &str, value: &str) {
    c.create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .unwrap();
}

pub fn client_for(endpoint: &str, region: &str, akid: &str, secret: &str) -> sm::Client {
    let creds = aws_credential_types::Credentials::new(akid, secret, None, None, "test");
    let conf = sm::Config::builder()
        .behavior_version(sm::config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(sm::config::Region::new(region.to_string()))
        .credentials_provider(creds)
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .build();
    sm::Client::from_conf(conf)
}

/// A KMS client of the AWS SDK for Rust, pointed at the server.
pub fn kms_client_for(endpoint: &str, akid: &str, secret: &str) -> aws_sdk_kms::Client {
    let creds = aws_credential_types::Credentials::new(akid, secret, None, None, "test");
    let conf = aws_sdk_kms::Config::builder()
        .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_sdk_kms::config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_kms::Client::from_conf(conf)
}

/// A new customer-managed key; its id.
pub async fn new_key(kms: &aws_sdk_kms::Client) -> String {
    kms.create_key()
        .description("test")
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_string()
}

/// A new key whose policy also lets `account` decrypt with it; its ARN.
pub async fn key_shared_with(kms: &aws_sdk_kms::Client, account: &str) -> String {
    let arn = kms
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    let policy = kms.get_key_policy().key_id(&arn).send().await.unwrap();
    let mut doc: serde_json::Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
    doc["Statement"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
        "Sid": "Shared", "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
        "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": "*"}));
    kms.put_key_policy()
        .key_id(&arn)
        .policy(doc.to_string())
        .send()
        .await
        .unwrap();
    arn
}

/// The AWS error code and message of a failed call.
pub fn err<E, R>(e: aws_sdk_secretsmanager::error::SdkError<E, R>) -> (String, String)
where
    E: sm::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    use sm::error::ProvideErrorMetadata;
    match e.code() {
        Some(code) => (code.to_string(), e.message().unwrap_or("").to_string()),
        None => panic!("expected a service error, got {e:?}"),
    }
}

pub fn token(n: u32) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

/// How long a test waits for background work (a rotation, a pushed refresh, a
/// prefetch) before it fails: far beyond what any of them takes, so a slow or
/// loaded machine does not fail a correct product.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Polls `check` every 10 ms until it holds and returns how long that took;
/// fails the test, naming `what` was awaited, once `timeout` has passed.
pub async fn wait_for(
    what: &str,
    timeout: Duration,
    mut check: impl AsyncFnMut() -> bool,
) -> Duration {
    let started = Instant::now();
    loop {
        if check().await {
            return started.elapsed();
        }
        assert!(
            started.elapsed() <= timeout,
            "gave up after {timeout:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Reads a `coffer server --dev` process's `export` lines up to the last one and
/// returns its endpoint (empty if it printed none: it did not start).
pub fn dev_endpoint(child: &mut std::process::Child) -> String {
    use std::io::{BufRead, BufReader};
    let mut endpoint = String::new();
    let Some(out) = child.stdout.take() else {
        return endpoint;
    };
    for line in BufReader::new(out).lines() {
        let Ok(line) = line else { break };
        if let Some(e) = line.strip_prefix("export AWS_ENDPOINT_URL=") {
            endpoint = e.to_string();
        }
        if line.starts_with("export AWS_DEFAULT_REGION=") {
            break;
        }
    }
    endpoint
}

/// Runs the `coffer` binary with `args` and `--data-dir DIR`: whether it
/// succeeded, and what it printed (stdout, then stderr).
pub fn coffer_in(args: &[&str], dir: &std::path::Path) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}
