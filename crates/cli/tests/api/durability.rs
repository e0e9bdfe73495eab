//! Restarts, concurrent writers, crashes, and secrets never reaching disk or logs
//! in clear.

use crate::common::*;
use std::collections::HashSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};

#[tokio::test]
async fn restart_keeps_secrets_and_credentials() {
    let mut srv = TestServer::start().await;
    srv.client()
        .create_secret()
        .name("kept")
        .secret_string("v1")
        .send()
        .await
        .unwrap();
    srv.client()
        .put_secret_value()
        .secret_id("kept")
        .secret_string("v2")
        .send()
        .await
        .unwrap();
    srv.restart().await;
    let c = srv.client();
    assert_eq!(
        c.get_secret_value()
            .secret_id("kept")
            .send()
            .await
            .unwrap()
            .secret_string(),
        Some("v2")
    );
    assert_eq!(
        c.get_secret_value()
            .secret_id("kept")
            .version_stage("AWSPREVIOUS")
            .send()
            .await
            .unwrap()
            .secret_string(),
        Some("v1")
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_lose_nothing() {
    let srv = TestServer::start().await;
    srv.client()
        .create_secret()
        .name("hot")
        .secret_string("v0")
        .send()
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for w in 0..8u32 {
        let c = srv.client();
        tasks.push(tokio::spawn(async move {
            for i in 0..10u32 {
                c.put_secret_value()
                    .secret_id("hot")
                    .secret_string(format!("w{w}-{i}"))
                    .client_request_token(token(w * 100 + i))
                    .send()
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let c = srv.client();
    let mut versions = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let out = c
            .list_secret_version_ids()
            .secret_id("hot")
            .include_deprecated(true)
            .max_results(50)
            .set_next_token(next.clone())
            .send()
            .await
            .unwrap();
        versions.extend(out.versions().to_vec());
        next = out.next_token().map(str::to_string);
        if next.is_none() {
            break;
        }
    }
    assert_eq!(versions.len(), 81);
    let ids: HashSet<_> = versions
        .iter()
        .map(|v| v.version_id().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 81);
    let current = versions
        .iter()
        .filter(|v| v.version_stages().contains(&"AWSCURRENT".to_string()))
        .count();
    let previous = versions
        .iter()
        .filter(|v| v.version_stages().contains(&"AWSPREVIOUS".to_string()))
        .count();
    assert_eq!((current, previous), (1, 1));

    // Racing creates of one name, each with its own token or none at all: exactly
    // one wins, and every loser gets AWS's ResourceExistsException.
    let outcomes = race_creates(&c, "race", |i| {
        let token = (i % 2 == 0).then(|| token(1000 + i));
        (format!("value-{i}"), token)
    })
    .await;
    let winners: Vec<_> = outcomes.iter().filter(|o| o.result.is_ok()).collect();
    assert_eq!(winners.len(), 1, "exactly one create wins: {outcomes:?}");
    for o in outcomes.iter().filter(|o| o.result.is_err()) {
        assert_eq!(
            o.result.as_ref().unwrap_err(),
            &(
                "ResourceExistsException".to_string(),
                "The operation failed because the secret race already exists.".to_string()
            ),
            "racer {} lost with AWS's code and message",
            o.racer
        );
    }
    let stored = c.get_secret_value().secret_id("race").send().await.unwrap();
    assert_eq!(
        stored.secret_string(),
        Some(winners[0].value.as_str()),
        "the winner's value is the one stored"
    );
    let versions = c
        .list_secret_version_ids()
        .secret_id("race")
        .include_deprecated(true)
        .send()
        .await
        .unwrap();
    assert_eq!(
        versions.versions().len(),
        1,
        "losers left no version behind"
    );
    srv.stop().await;
}

/// Racing retries of one create (the same token): with the same value every one
/// is the idempotent success AWS gives, all naming the one secret and version;
/// with different values only the first succeeds and every other is refused with
/// ResourceExistsException.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_creates_with_one_token() {
    let srv = TestServer::start().await;
    let c = srv.client();

    let outcomes = race_creates(&c, "retried", |_| ("same".into(), Some(token(7)))).await;
    let mut arns = HashSet::new();
    for o in &outcomes {
        let (arn, version) = o
            .result
            .as_ref()
            .unwrap_or_else(|e| panic!("racer {} failed an idempotent retry: {e:?}", o.racer));
        assert_eq!(
            version.as_deref(),
            Some(token(7).as_str()),
            "racer {}",
            o.racer
        );
        arns.insert(arn.clone());
    }
    assert_eq!(arns.len(), 1, "every retry names the one secret: {arns:?}");
    let versions = c
        .list_secret_version_ids()
        .secret_id("retried")
        .include_deprecated(true)
        .send()
        .await
        .unwrap();
    assert_eq!(versions.versions().len(), 1);
    assert_eq!(versions.versions()[0].version_id(), Some(token(7).as_str()));
    assert_eq!(
        c.list_secrets().send().await.unwrap().secret_list().len(),
        1,
        "one secret, not one per racer"
    );

    let outcomes = race_creates(&c, "conflict", |i| (format!("value-{i}"), Some(token(8)))).await;
    let winners: Vec<_> = outcomes.iter().filter(|o| o.result.is_ok()).collect();
    assert_eq!(winners.len(), 1, "exactly one create wins: {outcomes:?}");
    let winner_arn = &winners[0].result.as_ref().unwrap().0;
    for o in outcomes.iter().filter(|o| o.result.is_err()) {
        // AWS names the token and the secret whose version holds it.
        assert_eq!(
            o.result.as_ref().unwrap_err(),
            &(
                "ResourceExistsException".to_string(),
                format!(
                    "You can't use ClientRequestToken {} because that value is already in use for a version of secret {winner_arn}.",
                    token(8)
                )
            ),
            "racer {} (same token, another value) lost with AWS's code and message",
            o.racer
        );
    }
    let stored = c
        .get_secret_value()
        .secret_id("conflict")
        .send()
        .await
        .unwrap();
    assert_eq!(stored.secret_string(), Some(winners[0].value.as_str()));
    assert_eq!(stored.version_id(), Some(token(8).as_str()));
    srv.stop().await;
}

/// One racer's create: the value it sent and what it got back, (ARN, VersionId)
/// or (code, message).
#[derive(Debug)]
struct Outcome {
    racer: u32,
    value: String,
    result: Result<(String, Option<String>), (String, String)>,
}

const RACERS: u32 = 8;

/// Starts `RACERS` creates of `name` at once (released together by a barrier);
/// `request(i)` gives racer i's value and token. Without a token the SDK sends a
/// fresh one of its own, as it does for any caller that gives none.
async fn race_creates(
    c: &aws_sdk_secretsmanager::Client,
    name: &str,
    request: impl Fn(u32) -> (String, Option<String>),
) -> Vec<Outcome> {
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(RACERS as usize));
    let mut tasks = Vec::new();
    for racer in 0..RACERS {
        let (c, barrier, name) = (c.clone(), barrier.clone(), name.to_string());
        let (value, token) = request(racer);
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let result = c
                .create_secret()
                .name(name)
                .secret_string(&value)
                .set_client_request_token(token)
                .send()
                .await
                .map(|o| {
                    (
                        o.arn().unwrap_or_default().to_string(),
                        o.version_id().map(str::to_string),
                    )
                })
                .map_err(err);
            Outcome {
                racer,
                value,
                result,
            }
        }));
    }
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    outcomes
}

/// The real binary in dev mode, its endpoint read from its `export` lines.
pub(crate) struct Binary {
    pub(crate) child: Child,
    pub(crate) endpoint: String,
}

pub(crate) fn spawn_binary(data_dir: &Path, log: &Path) -> Binary {
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args(["server", "--dev", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env("COFFER_DEV_ACCESS_KEY_ID", AKID)
        .env("COFFER_DEV_SECRET_ACCESS_KEY", SECRET)
        .env("COFFER_DEV_ACCOUNT_ID", ACCOUNT)
        .env("RUST_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log_file))
        .spawn()
        .unwrap();
    let endpoint = dev_endpoint(&mut child);
    assert!(!endpoint.is_empty(), "no endpoint printed");
    Binary { child, endpoint }
}

pub(crate) fn sigterm(b: &mut Binary) {
    let ok = Command::new("kill")
        .args(["-TERM", &b.child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let status = b.child.wait().unwrap();
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let data = dir.path().join("data");
    let mut b = spawn_binary(&data, &log);
    let c = client_for(&b.endpoint, "us-east-1", AKID, SECRET);
    c.create_secret()
        .name("crash")
        .secret_string("v0")
        .send()
        .await
        .unwrap();
    for i in 1..=40 {
        c.put_secret_value()
            .secret_id("crash")
            .secret_string(format!("v{i}"))
            .client_request_token(token(i))
            .send()
            .await
            .unwrap();
    }
    b.child.kill().unwrap(); // SIGKILL: no shutdown code runs.
    b.child.wait().unwrap();
    let mut b = spawn_binary(&data, &log);
    let c = client_for(&b.endpoint, "us-east-1", AKID, SECRET);
    let got = c
        .get_secret_value()
        .secret_id("crash")
        .send()
        .await
        .unwrap();
    assert_eq!(got.secret_string(), Some("v40"));
    assert_eq!(got.version_id(), Some(token(40).as_str()));
    let all = c
        .list_secret_version_ids()
        .secret_id("crash")
        .include_deprecated(true)
        .send()
        .await
        .unwrap();
    assert_eq!(all.versions().len(), 41);
    sigterm(&mut b);
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[tokio::test]
async fn secret_values_never_reach_disk_or_logs_in_clear() {
    use aws_sdk_secretsmanager::primitives::Blob;
    use base64::Engine as _;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let data = dir.path().join("data");
    let mut b = spawn_binary(&data, &log);
    let c = client_for(&b.endpoint, "us-east-1", AKID, SECRET);
    let marker = format!("MARKER{}", uuid_like());
    let json_value = format!(r#"{{"username":"app","password":"{marker}-json"}}"#);
    c.create_secret()
        .name("m1")
        .secret_string(format!("{marker}-plain"))
        .send()
        .await
        .unwrap();
    c.create_secret()
        .name("m2")
        .secret_string(&json_value)
        .send()
        .await
        .unwrap();
    c.create_secret()
        .name("m3")
        .secret_binary(Blob::new(format!("{marker}-binary").into_bytes()))
        .send()
        .await
        .unwrap();
    c.put_secret_value()
        .secret_id("m1")
        .secret_string(format!("{marker}-v2"))
        .send()
        .await
        .unwrap();
    c.update_secret()
        .secret_id("m2")
        .secret_string(format!("{marker}-v3"))
        .send()
        .await
        .unwrap();
    for id in ["m1", "m2", "m3"] {
        c.get_secret_value().secret_id(id).send().await.unwrap();
    }
    c.batch_get_secret_value()
        .secret_id_list("m1")
        .secret_id_list("m2")
        .send()
        .await
        .unwrap();
    // A failed write carrying a value is logged and audited too.
    let _ = c
        .put_secret_value()
        .secret_id("missing")
        .secret_string(format!("{marker}-failed"))
        .send()
        .await;
    sigterm(&mut b);

    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{marker}-binary"));
    let needles = [marker.as_bytes(), b64.as_bytes()];
    let mut files = Vec::new();
    files_under(dir.path(), &mut files);
    assert!(
        files.iter().any(|f| f.ends_with("coffer.db"))
            && files.iter().any(|f| f.ends_with("audit.log"))
    );
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(
        log_text.contains("GetSecretValue"),
        "the log captured the traffic (trace level)"
    );
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        for n in needles {
            assert!(
                !contains(&bytes, n),
                "{} contains a secret value",
                f.display()
            );
        }
    }
}

fn uuid_like() -> String {
    use rand::Rng;
    let mut r = rand::thread_rng();
    (0..16)
        .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[r.gen_range(0..36)]))
        .collect()
}
