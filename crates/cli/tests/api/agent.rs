//! The agent against a real Coffer server: the AWS agent's endpoints, checks and
//! bodies, caching, single flight, serve-stale, and pre-fetching.

use crate::common::*;
use crate::raw::request;
use coffer_agent::{AgentConfig, AgentHandle, SsrfToken};
use std::net::SocketAddr;

pub(crate) const TOKEN: &str = "agent-test-token";

async fn agent(srv: &TestServer, toml: &str) -> AgentHandle {
    start_agent(srv, toml, true).await
}

/// With `push` false the agent has no endpoint to subscribe to, as in front of
/// AWS: TTLs alone decide freshness.
pub(crate) async fn start_agent(srv: &TestServer, toml: &str, push: bool) -> AgentHandle {
    start_agent_at(&srv.endpoint(), toml, push).await
}

/// An agent in front of the server at `endpoint`, with the root credential.
pub(crate) async fn start_agent_at(endpoint: &str, toml: &str, push: bool) -> AgentHandle {
    let cfg = AgentConfig::parse(toml).unwrap();
    let creds = aws_credential_types::Credentials::new(AKID, SECRET, None, None, "agent-test");
    let upstream = coffer_agent::Upstream {
        client: client_for(endpoint, "us-east-1", AKID, SECRET),
        endpoint: push.then(|| endpoint.to_string()),
        region: Some("us-east-1".into()),
        credentials: Some(aws_credential_types::provider::SharedCredentialsProvider::new(creds)),
        trust: coffer_agent::Trust::default(),
    };
    coffer_agent::start(&cfg, SsrfToken::new(TOKEN.into()).unwrap(), upstream, 0)
        .await
        .unwrap()
}

fn token_header() -> Vec<(String, String)> {
    vec![("X-Aws-Parameters-Secrets-Token".into(), TOKEN.into())]
}

pub(crate) async fn get(addr: SocketAddr, path: &str) -> (u16, Vec<(String, String)>, String) {
    request(addr, "GET", path, &token_header(), b"").await
}

pub(crate) fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

pub(crate) fn upstream_calls(a: &AgentHandle) -> u64 {
    a.metrics
        .upstream_calls
        .load(std::sync::atomic::Ordering::SeqCst)
}

#[tokio::test]
async fn drop_in_endpoints_checks_and_bodies() {
    let srv = TestServer::start().await;
    srv.client()
        .create_secret()
        .name("app/db")
        .secret_string(r#"{"password":"p1"}"#)
        .send()
        .await
        .unwrap();
    let a = agent(&srv, "").await;
    let addr = a.addr;
    assert!(addr.ip().is_loopback());

    let (status, _, body) = request(addr, "GET", "/ping", &[], b"").await;
    assert_eq!(
        (status, body.as_str()),
        (200, "healthy"),
        "no token needed for /ping"
    );

    let (status, _, body) = get(addr, "/secretsmanager/get?secretId=app%2Fdb").await;
    assert_eq!(status, 200, "{body}");
    let v = json(&body);
    assert_eq!(v["SecretString"], r#"{"password":"p1"}"#);
    assert_eq!(v["Name"], "app/db");
    assert_eq!(v["VersionStages"][0], "AWSCURRENT");
    assert!(
        v["CreatedDate"].is_string(),
        "the AWS agent sends CreatedDate as a string"
    );
    let (status, _, body) = get(addr, "/v1/app/db").await;
    assert_eq!(
        (status, json(&body)["Name"].as_str()),
        (200, Some("app/db"))
    );

    // The AWS agent's refusals, in its order and words.
    let (status, _, body) = request(addr, "GET", "/v1/app/db", &[], b"").await;
    assert_eq!((status, body.as_str()), (403, "Bad Token"));
    let wrong = vec![("X-Vault-Token".to_string(), "nope".to_string())];
    assert_eq!(request(addr, "GET", "/v1/app/db", &wrong, b"").await.0, 403);
    let vault = vec![("X-Vault-Token".to_string(), TOKEN.to_string())];
    assert_eq!(
        request(addr, "GET", "/v1/app/db", &vault, b"").await.0,
        200,
        "second default header"
    );
    let mut forwarded = token_header();
    forwarded.push(("X-Forwarded-For".into(), "10.0.0.1".into()));
    let (status, _, body) = request(addr, "GET", "/v1/app/db", &forwarded, b"").await;
    assert_eq!((status, body.as_str()), (400, "Forwarded"));
    let (status, _, body) = request(addr, "POST", "/v1/app/db", &token_header(), b"").await;
    assert_eq!((status, body.as_str()), (405, "Not allowed"));
    for (path, msg) in [
        (
            "/secretsmanager/get?versionStage=AWSCURRENT",
            "missing parameter secretId",
        ),
        (
            "/secretsmanager/get?secretId=a&bogus=1",
            "unknown parameter: bogus",
        ),
        (
            "/secretsmanager/get?secretId=a&refreshNow=maybe",
            "invalid refreshNow value",
        ),
        ("/v1/", "missing secret ID"),
    ] {
        let (status, _, body) = get(addr, path).await;
        assert_eq!((status, body.as_str()), (400, msg), "{path}");
    }
    assert_eq!(get(addr, "/elsewhere").await.0, 404);
    a.stop().await;
    srv.stop().await;
}

#[tokio::test]
async fn upstream_errors_keep_their_status_and_code() {
    let srv = TestServer::start().await;
    srv.client()
        .create_secret()
        .name("gone")
        .secret_string("v")
        .send()
        .await
        .unwrap();
    srv.client()
        .delete_secret()
        .secret_id("gone")
        .send()
        .await
        .unwrap();
    let a = agent(&srv, "").await;
    let (status, _, body) = get(a.addr, "/v1/missing").await;
    assert_eq!(status, 400);
    let v = json(&body);
    assert_eq!(v["__type"], "ResourceNotFoundException");
    assert_eq!(
        v["message"],
        "Secrets Manager can't find the specified secret."
    );
    let (status, _, body) = get(a.addr, "/v1/gone").await;
    assert_eq!(
        (status, json(&body)["__type"].as_str()),
        (400, Some("InvalidRequestException"))
    );
    a.stop().await;
    srv.stop().await;
}

#[tokio::test]
async fn cache_ttl_refresh_now_and_versions() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_secret()
        .name("rot")
        .secret_string("v1")
        .send()
        .await
        .unwrap();
    let a = start_agent(&srv, "ttl_seconds = 300", false).await;
    assert_eq!(json(&get(a.addr, "/v1/rot").await.2)["SecretString"], "v1");
    c.put_secret_value()
        .secret_id("rot")
        .secret_string("v2")
        .send()
        .await
        .unwrap();
    assert_eq!(
        json(&get(a.addr, "/v1/rot").await.2)["SecretString"],
        "v1",
        "served from the cache"
    );
    assert_eq!(upstream_calls(&a), 1);
    assert_eq!(
        json(&get(a.addr, "/v1/rot?refreshNow=true").await.2)["SecretString"],
        "v2"
    );
    assert_eq!(json(&get(a.addr, "/v1/rot").await.2)["SecretString"], "v2");
    let prev = get(
        a.addr,
        "/secretsmanager/get?secretId=rot&versionStage=AWSPREVIOUS",
    )
    .await;
    assert_eq!(json(&prev.2)["SecretString"], "v1");
    assert_eq!(upstream_calls(&a), 3);
    a.stop().await;

    // ttl_seconds = 0 turns caching off.
    let a = start_agent(&srv, "ttl_seconds = 0", false).await;
    get(a.addr, "/v1/rot").await;
    get(a.addr, "/v1/rot").await;
    assert_eq!(upstream_calls(&a), 2);
    a.stop().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_upstream_call_however_many_ask() {
    let srv = TestServer::start().await;
    srv.client()
        .create_secret()
        .name("hot")
        .secret_string("v")
        .send()
        .await
        .unwrap();
    let a = agent(&srv, "").await;
    let addr = a.addr;
    let mut tasks = Vec::new();
    for _ in 0..32 {
        tasks.push(tokio::spawn(async move { get(addr, "/v1/hot").await.0 }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!(upstream_calls(&a), 1);
    let (_, _, metrics) = request(addr, "GET", "/metrics", &[], b"").await;
    assert!(
        metrics.contains("coffer_agent_upstream_calls_total 1"),
        "{metrics}"
    );
    assert!(metrics.contains("coffer_agent_cache_hits_total"));
    a.stop().await;
    srv.stop().await;
}

#[tokio::test]
async fn serves_the_last_good_value_during_an_outage() {
    let srv = TestServer::start().await;
    srv.client()
        .create_secret()
        .name("steady")
        .secret_string("v")
        .send()
        .await
        .unwrap();
    srv.client()
        .create_secret()
        .name("never-read")
        .secret_string("x")
        .send()
        .await
        .unwrap();
    let a = agent(&srv, "").await;
    assert_eq!(get(a.addr, "/v1/steady").await.0, 200);
    srv.stop().await;
    let (status, headers, body) = get(a.addr, "/v1/steady?refreshNow=true").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["SecretString"], "v");
    assert!(
        headers.iter().any(|(k, _)| k == "x-coffer-stale-seconds"),
        "{headers:?}"
    );
    let (status, _, body) = get(a.addr, "/v1/never-read").await;
    assert_eq!(
        (status, json(&body)["__type"].as_str()),
        (502, Some("ConnectionError"))
    );
    a.stop().await;
}

#[tokio::test]
async fn prefetch_by_id_and_by_tag() {
    use aws_sdk_secretsmanager::types::Tag;
    let srv = TestServer::start().await;
    let c = srv.client();
    for i in 0..25 {
        c.create_secret()
            .name(format!("listed/{i}"))
            .secret_string(format!("l{i}"))
            .send()
            .await
            .unwrap();
    }
    for i in 0..3 {
        let tag = Tag::builder().key("Prefetch").value("yes").build();
        c.create_secret()
            .name(format!("tagged/{i}"))
            .secret_string(format!("t{i}"))
            .tags(tag)
            .send()
            .await
            .unwrap();
    }
    c.create_secret()
        .name("untagged")
        .secret_string("u")
        .send()
        .await
        .unwrap();
    let ids: Vec<String> = (0..25)
        .map(|i| format!("{{ secret_id = \"listed/{i}\" }}"))
        .collect();
    let toml = format!(
        "[capabilities.secrets_manager.prefetch]\nsecrets = [{}, {{ secret_id = \"missing\" }}]\nfilter_tags = [{{ key = \"Prefetch\" }}]\n",
        ids.join(", ")
    );
    let a = agent(&srv, &toml).await;
    wait_for("the prefetch finished", PATIENCE, async || a.is_ready()).await;
    assert!(a.is_ready(), "prefetch finished");
    assert_eq!(request(a.addr, "GET", "/ready", &[], b"").await.0, 200);
    for path in ["/v1/listed/0", "/v1/listed/24", "/v1/tagged/2"] {
        assert_eq!(get(a.addr, path).await.0, 200, "{path}");
    }
    assert_eq!(
        upstream_calls(&a),
        0,
        "all served from the prefetched cache"
    );
    get(a.addr, "/v1/untagged").await;
    assert_eq!(upstream_calls(&a), 1);
    a.stop().await;
    srv.stop().await;
}

/// How long a pushed change may take to reach the agent here: generous, since a
/// test asserts the behaviour, not the speed (a loaded machine must not fail it);
/// still far below the TTL, so only a push can deliver it. How fast it really is
/// is measured by `coffer-bench push-latency` (bench/push.sh).
pub(crate) const PUSH_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// A change on the server reaches every cached form of the secret in the agent,
/// without refreshNow and long before the TTL (an hour); so does a deletion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_changes_refresh_the_cache_before_the_ttl() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_secret()
        .name("pushed")
        .secret_string("v1")
        .send()
        .await
        .unwrap();
    c.create_secret()
        .name("other")
        .secret_string("o")
        .send()
        .await
        .unwrap();
    let a = agent(&srv, "ttl_seconds = 3600").await;
    wait_for(
        "the agent subscribed to the change stream",
        PATIENCE,
        async || a.is_subscribed(),
    )
    .await;
    let addr = a.addr;
    assert_eq!(json(&get(addr, "/v1/pushed").await.2)["SecretString"], "v1");
    assert_eq!(
        json(&get(addr, "/v1/pushed?versionStage=AWSCURRENT").await.2)["SecretString"],
        "v1"
    );

    c.put_secret_value()
        .secret_id("pushed")
        .secret_string("v2")
        .send()
        .await
        .unwrap();
    wait_for(
        "the agent serves the pushed new value",
        PUSH_DEADLINE,
        async || json(&get(addr, "/v1/pushed").await.2)["SecretString"] == "v2",
    )
    .await;
    // The agent refreshes its cached forms one after another: each within the
    // deadline, none left to the TTL.
    wait_for(
        "every cached form of the secret was refreshed",
        PUSH_DEADLINE,
        async || {
            json(&get(addr, "/v1/pushed?versionStage=AWSCURRENT").await.2)["SecretString"] == "v2"
        },
    )
    .await;

    // A deleted secret stops being served from the cache.
    c.delete_secret().secret_id("pushed").send().await.unwrap();
    wait_for(
        "the deletion reached the agent",
        PUSH_DEADLINE,
        async || get(addr, "/v1/pushed").await.0 == 400,
    )
    .await;
    assert!(a.metrics.pushes.load(std::sync::atomic::Ordering::SeqCst) >= 2);
    a.stop().await;
    srv.stop().await;
}

/// Files for applications that read files: whole secret and one JSON key, mode
/// 0600, rewritten and reloaded when the value changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_sinks_follow_changes() {
    use std::os::unix::fs::PermissionsExt;
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_secret()
        .name("files/db")
        .secret_string(r#"{"username":"app","password":"p1"}"#)
        .send()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (whole, key, reloads) = (
        dir.path().join("db.json"),
        dir.path().join("db.password"),
        dir.path().join("reloads"),
    );
    let toml = format!(
        "ttl_seconds = 3600\n[[coffer.files]]\nsecret_id = \"files/db\"\npath = \"{}\"\n[[coffer.files]]\nsecret_id = \"files/db\"\npath = \"{}\"\njson_key = \"password\"\nreload_command = \"echo reloaded >> {}\"\n",
        whole.display(),
        key.display(),
        reloads.display()
    );
    let a = agent(&srv, &toml).await;
    wait_for("both files are rendered", PATIENCE, async || {
        key.exists() && whole.exists()
    })
    .await;
    assert_eq!(
        std::fs::read_to_string(&whole).unwrap(),
        r#"{"username":"app","password":"p1"}"#
    );
    assert_eq!(std::fs::read_to_string(&key).unwrap(), "p1");
    for f in [&whole, &key] {
        assert_eq!(
            std::fs::metadata(f).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    assert!(!reloads.exists(), "no reload for the first render");
    wait_for(
        "the agent subscribed to the change stream",
        PATIENCE,
        async || a.is_subscribed(),
    )
    .await;
    c.put_secret_value()
        .secret_id("files/db")
        .secret_string(r#"{"username":"app","password":"p2"}"#)
        .send()
        .await
        .unwrap();
    wait_for("the file followed the change", PATIENCE, async || {
        std::fs::read_to_string(&key).is_ok_and(|s| s == "p2")
    })
    .await;
    wait_for("the reload command ran", PATIENCE, async || {
        reloads.exists()
    })
    .await;
    assert_eq!(std::fs::read_to_string(&reloads).unwrap(), "reloaded\n");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(std::result::Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains("coffer-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary files left behind");
    a.stop().await;
    srv.stop().await;
}
