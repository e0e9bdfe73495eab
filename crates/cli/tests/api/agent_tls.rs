//! The agent in front of a server that serves only HTTPS, under a CA made here:
//! its SDK calls, its change stream and its role assumption (STS) all go over
//! TLS, trusting the CA named by `[coffer] ca_bundle` or `AWS_CA_BUNDLE`; an agent
//! without that CA is refused by the TLS handshake and answers an error.

use crate::agent::{get, json, PUSH_DEADLINE, TOKEN};
use crate::agent_roles::{enc, role};
use crate::common::*;
use crate::tls::{https_client, leaf, new_ca, write_pair, Ca};
use aws_sdk_secretsmanager as sm;
use coffer_agent::{AgentConfig, AgentHandle, SsrfToken};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::SeqCst;

/// A plain server for what the raw helpers set up (IAM roles and users), and a TLS
/// server on the same database for the agent: same accounts, roles and secrets.
struct Servers {
    plain: TestServer,
    tls: coffer::Running,
    ca: Ca,
    /// The CA certificate, where a config or `AWS_CA_BUNDLE` names it.
    ca_file: PathBuf,
    _dir: tempfile::TempDir,
}

impl Servers {
    async fn start() -> Servers {
        let plain = TestServer::start().await;
        let dir = tempfile::tempdir().unwrap();
        let ca = new_ca("agent test CA");
        let (cert, key) = write_pair(dir.path(), &leaf(&ca, "coffer"));
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, &ca.pem).unwrap();
        let data = dir.path().join("tls-data");
        std::fs::create_dir(&data).unwrap();
        std::fs::copy(plain.dir.path().join("root.key"), data.join("root.key")).unwrap();
        let mut opts = options(data, plain.clock.clone());
        opts.database = Some(plain.dir.path().join("coffer.db"));
        opts.http.tls = Some(coffer_server::Tls::load(&cert, &key).unwrap());
        let tls = coffer::start(opts).await.unwrap();
        assert!(tls.endpoint().starts_with("https://"), "{}", tls.endpoint());
        Servers {
            plain,
            tls,
            ca,
            ca_file,
            _dir: dir,
        }
    }

    /// An SDK client of the TLS server that trusts the test CA.
    fn client(&self) -> sm::Client {
        https_client(&self.tls.endpoint(), &self.ca.pem, AKID, SECRET)
    }

    async fn stop(self) {
        self.tls.stop().await.unwrap();
        self.plain.stop().await;
    }
}

/// The agent as `coffer agent` builds it (`coffer_agent::upstream_with`, the
/// function behind the standard chain), pointed at the TLS server; `env` stands
/// for the process environment (`AWS_CA_BUNDLE`).
async fn agent(s: &Servers, toml: &str, env: impl Fn(&str) -> Option<String>) -> AgentHandle {
    let cfg = AgentConfig::parse(toml).unwrap();
    let creds = aws_credential_types::Credentials::new(AKID, SECRET, None, None, "agent-tls");
    let loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(s.tls.endpoint())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(creds)
        // A refused handshake is answered at once rather than after retries.
        .retry_config(aws_config::retry::RetryConfig::disabled());
    let upstream = coffer_agent::upstream_with(&cfg, loader, env)
        .await
        .unwrap();
    assert!(upstream
        .endpoint
        .as_deref()
        .is_some_and(|e| e.starts_with("https://")));
    coffer_agent::start(&cfg, SsrfToken::new(TOKEN.into()).unwrap(), upstream, 0)
        .await
        .unwrap()
}

fn ca_bundle_toml(extra: &str, ca_file: &Path) -> String {
    format!("{extra}\n[coffer]\nca_bundle = \"{}\"\n", ca_file.display())
}

/// Reads through the agent, and a change made on the server reaches the agent's
/// cache through the change stream over https: the TTL is an hour, so only a push
/// explains the new value. A role is assumed through the server's STS over https.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_reads_and_follows_pushes_over_https_with_its_ca_bundle() {
    let s = Servers::start().await;
    let c = s.client();
    c.create_secret()
        .name("tls/db")
        .secret_string("v1")
        .send()
        .await
        .unwrap();
    let a = agent(
        &s,
        &ca_bundle_toml("ttl_seconds = 3600", &s.ca_file),
        |_| None,
    )
    .await;
    wait_for(
        "the agent subscribed to the change stream over https",
        PATIENCE,
        async || a.is_subscribed(),
    )
    .await;
    let (status, _, body) = get(a.addr, "/v1/tls/db").await;
    assert_eq!(
        (status, json(&body)["SecretString"].as_str()),
        (200, Some("v1")),
        "{body}"
    );

    c.put_secret_value()
        .secret_id("tls/db")
        .secret_string("v2")
        .send()
        .await
        .unwrap();
    wait_for(
        "the agent serves the value pushed over https",
        PUSH_DEADLINE,
        async || json(&get(a.addr, "/v1/tls/db").await.2)["SecretString"] == "v2",
    )
    .await;
    assert!(a.metrics.pushes.load(SeqCst) >= 1);

    // Per-request role assumption: STS over https with the same trust.
    let root = format!("arn:aws:iam::{ACCOUNT}:root");
    let reader = role(s.plain.running().addr, "TlsReader", "tls/", &root).await;
    let (status, _, body) = get(a.addr, &format!("/v1/tls/db?roleArn={}", enc(&reader))).await;
    assert_eq!(
        (status, json(&body)["SecretString"].as_str()),
        (200, Some("v2")),
        "{body}"
    );
    a.stop().await;
    s.stop().await;
}

/// Where the trusted CA comes from: `[coffer] ca_bundle`, else `AWS_CA_BUNDLE`;
/// the config key wins; with neither the server's certificate is not trusted and
/// the agent answers an error, never the secret.
#[tokio::test]
async fn without_the_ca_the_agent_is_refused_and_the_config_key_wins() {
    let s = Servers::start().await;
    s.client()
        .create_secret()
        .name("tls/guarded")
        .secret_string("guarded-value")
        .send()
        .await
        .unwrap();
    let right = s.ca_file.to_string_lossy().to_string();
    let env_names_the_ca = move |k: &str| (k == "AWS_CA_BUNDLE").then(|| right.clone());
    let refused = |status: u16, body: &str| {
        assert!(!body.contains("guarded-value"), "{body}");
        assert_eq!(
            (status, json(body)["__type"].as_str()),
            (502, Some("ConnectionError")),
            "{body}"
        );
    };

    // No bundle at all: the system's roots do not know the test CA.
    let a = agent(&s, "", |_| None).await;
    let (status, _, body) = get(a.addr, "/v1/tls/guarded").await;
    refused(status, &body);
    assert!(!a.is_subscribed());
    a.stop().await;

    // AWS_CA_BUNDLE alone.
    let a = agent(&s, "", env_names_the_ca.clone()).await;
    let (status, _, body) = get(a.addr, "/v1/tls/guarded").await;
    assert_eq!(
        (status, json(&body)["SecretString"].as_str()),
        (200, Some("guarded-value")),
        "{body}"
    );
    a.stop().await;

    // The config key names another CA: it wins over the variable, so refused.
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other-ca.pem");
    std::fs::write(&other, new_ca("another CA").pem).unwrap();
    let a = agent(&s, &ca_bundle_toml("", &other), env_names_the_ca).await;
    let (status, _, body) = get(a.addr, "/v1/tls/guarded").await;
    refused(status, &body);
    a.stop().await;

    // A bundle that is not one is an error at start, not a panic later.
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "no certificate here").unwrap();
    let cfg = AgentConfig::parse(&ca_bundle_toml("", &junk)).unwrap();
    let loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    let Err(e) = coffer_agent::upstream_with(&cfg, loader, |_| None).await else {
        panic!("a bundle without certificates was taken");
    };
    assert!(e.to_string().contains("junk.pem"), "{e}");

    s.stop().await;
}
