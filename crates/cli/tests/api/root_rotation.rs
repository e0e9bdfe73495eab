//! `coffer key rotate`: a store moved to a new root key while its server
//! serves, killed half way and resumed, after which the old key opens nothing.

use crate::access::{iam, user};
use crate::common::*;
use coffer::run::RootKeySource;
use coffer::start;
use coffer_core::keyring::rotate;
use coffer_store::Store;
use std::path::Path;

const SECRETS: usize = 10_000;
const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-south-1"];

fn name(i: usize) -> String {
    format!("app/{i:05}")
}

/// Creates the secrets from eight tasks at once (the writer batches them).
async fn create_secrets(srv: &TestServer) {
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..8 {
        let clients: Vec<_> = REGIONS.iter().map(|r| srv.client_in(r)).collect();
        tasks.spawn(async move {
            for i in (t..SECRETS).step_by(8) {
                clients[i % REGIONS.len()]
                    .create_secret()
                    .name(name(i))
                    .secret_string(format!("value-{i}"))
                    .send()
                    .await
                    .unwrap();
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
}

/// Every secret, read back in batches of 20 per region.
async fn read_all(srv: &TestServer) {
    for (r, region) in REGIONS.iter().enumerate() {
        let client = srv.client_in(region);
        let ids: Vec<usize> = (r..SECRETS).step_by(REGIONS.len()).collect();
        for chunk in ids.chunks(20) {
            let out = client
                .batch_get_secret_value()
                .set_secret_id_list(Some(chunk.iter().map(|&i| name(i)).collect()))
                .send()
                .await
                .unwrap();
            assert!(out.errors().is_empty(), "{:?}", out.errors());
            let mut got: Vec<(String, String)> = out
                .secret_values()
                .iter()
                .map(|v| {
                    (
                        v.name().unwrap().to_string(),
                        v.secret_string().unwrap().to_string(),
                    )
                })
                .collect();
            got.sort();
            let want: Vec<(String, String)> = chunk
                .iter()
                .map(|&i| (name(i), format!("value-{i}")))
                .collect();
            assert_eq!(got, want);
        }
    }
}

async fn start_holding_both(srv: &mut TestServer) {
    if let Some(r) = srv.running.take() {
        r.stop().await.unwrap();
    }
    let mut opts = options(srv.dir.path().to_path_buf(), srv.clock.clone());
    opts.previous_root_key = RootKeySource::previous("auto", "", srv.dir.path()).unwrap();
    assert!(
        opts.previous_root_key.is_some(),
        "coffer key new left root.key.previous"
    );
    srv.running = Some(start(opts).await.unwrap());
}

fn key_file(path: &Path) -> coffer_crypto::Key256 {
    coffer_crypto::load_or_create_key_file(path).unwrap()
}

/// How many root-sealed values in the store `key` opens.
async fn opened_by(dir: &Path, key: &coffer_crypto::Key256, all: bool) -> (usize, usize) {
    let store = coffer_store::sqlite::SqliteStore::open(&dir.join("coffer.db")).unwrap();
    let (mut total, mut opened) = (0, 0);
    for place in rotate::PLACES {
        for row in store.root_sealed(place, "", 100_000).await.unwrap() {
            total += 1;
            opened += usize::from(rotate::opens_with(place, &row, key, all));
        }
    }
    store.close().await.unwrap();
    (total, opened)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_killed_half_way_resumes_and_the_old_key_opens_nothing() {
    let mut srv = TestServer::start().await;
    let dir = srv.dir.path().to_path_buf();
    create_secrets(&srv).await;
    // What the root key seals besides the regions' default keys: customer
    // managed keys (one with two materials, a secret under each) and access keys.
    let kms = srv.kms();
    let k1 = new_key(&kms).await;
    kms.rotate_key_on_demand().key_id(&k1).send().await.unwrap();
    let k2 = new_key(&kms).await;
    for (n, k) in [("cmk/one", &k1), ("cmk/two", &k2)] {
        srv.client()
            .create_secret()
            .name(n)
            .kms_key_id(k)
            .secret_string(format!("under {k}"))
            .send()
            .await
            .unwrap();
    }
    let addr = srv.running().addr;
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#;
    let mut users = Vec::new();
    for u in 0..30 {
        users.push(user(addr, &format!("user{u}"), &[], policy).await);
    }
    let old = key_file(&dir.join("root.key"));
    let (total, by_old) = opened_by(&dir, &old, false).await;
    assert_eq!(total, by_old, "before: the old key opens everything");
    assert!(
        total >= 36,
        "3 default keys, 2 customer keys, 31 access keys: {total}"
    );

    let (ok, out) = coffer_in(&["key", "new"], &dir);
    assert!(ok, "{out}");
    let new = key_file(&dir.join("root.key"));
    start_holding_both(&mut srv).await;
    // Killed half way, while the server serves.
    let half = (total / 2).to_string();
    let (ok, out) = coffer_in(&["key", "rotate", "--abort-after", &half], &dir);
    assert!(!ok, "the run was meant to die: {out}");
    assert!(out.contains("stopping dead"), "{out}");
    let (_, by_new) = opened_by(&dir, &new, true).await;
    assert!(
        by_new > 0 && by_new < total,
        "half way: {by_new} of {total}"
    );
    // Half way, everything is readable, and access keys of both kinds work.
    srv.client()
        .get_secret_value()
        .secret_id("cmk/one")
        .send()
        .await
        .unwrap();
    for (akid, secret) in [users.first().unwrap(), users.last().unwrap()] {
        read_as(&srv, akid, secret).await;
    }

    let (ok, out) = coffer_in(&["key", "rotate"], &dir);
    assert!(ok, "{out}");
    assert!(out.contains("root key rotated"), "{out}");
    read_all(&srv).await;
    for n in ["cmk/one", "cmk/two"] {
        srv.client()
            .get_secret_value()
            .secret_id(n)
            .send()
            .await
            .unwrap();
    }
    for (akid, secret) in &users {
        read_as(&srv, akid, secret).await;
    }
    // Values made after the switch are sealed under the new key.
    let addr = srv.running().addr;
    iam(addr, &[("Action", "CreateUser"), ("UserName", "late")]).await;
    iam(addr, &[("Action", "CreateAccessKey"), ("UserName", "late")]).await;
    srv.running.take().unwrap().stop().await.unwrap();

    let (total, by_old) = opened_by(&dir, &old, false).await;
    assert_eq!(by_old, 0, "the old key opens nothing of {total}");
    assert_eq!(opened_by(&dir, &new, true).await, (total, total));
    let (ok, out) = coffer_in(&["audit", "verify"], &dir);
    assert!(ok, "the audit chains verify after the rotation: {out}");

    // A server given only the old key is refused; with the new key alone it serves.
    std::fs::remove_file(dir.join("root.key.previous")).unwrap();
    std::fs::remove_file(dir.join("root.key")).unwrap();
    write_key(&dir.join("root.key"), &old);
    let refused = start(options(dir.clone(), srv.clock.clone())).await;
    let err = refused.err().expect("the old key is refused").to_string();
    assert!(err.contains("rotated"), "{err}");
    std::fs::remove_file(dir.join("root.key")).unwrap();
    write_key(&dir.join("root.key"), &new);
    srv.running = Some(
        start(options(dir.clone(), srv.clock.clone()))
            .await
            .unwrap(),
    );
    let v = srv
        .client_in("eu-west-1")
        .get_secret_value()
        .secret_id(name(1))
        .send()
        .await
        .unwrap();
    assert_eq!(v.secret_string(), Some("value-1"));
    srv.stop().await;
}

/// A read with a user's access key (its secret sealed under the root key).
async fn read_as(srv: &TestServer, akid: &str, secret: &str) {
    client_for(&srv.endpoint(), "us-east-1", akid, secret)
        .get_secret_value()
        .secret_id(name(0))
        .send()
        .await
        .unwrap();
}

fn write_key(path: &Path, key: &coffer_crypto::Key256) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .unwrap();
    writeln!(f, "{}", hex_of(key.as_bytes())).unwrap();
}

fn hex_of(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
