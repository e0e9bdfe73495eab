//! Nothing acknowledged is lost by a fleet: not when servers are killed under
//! a write load, not when the database crashes under one; nothing is half
//! applied, and the audit chains verify afterwards.

use crate::common::*;
use crate::fleet::{verify, Server};
use crate::pgcluster::{Auth, Cluster};
use aws_sdk_secretsmanager as sm;
use coffer_store::postgres::testing::{drop_database, fresh_database};
use std::time::Duration;

/// Every acknowledged (version id, value) of `id` reads back with its value.
async fn all_readable(c: &sm::Client, id: &str, acked: &[(String, String)]) {
    for (tok, value) in acked {
        let got = c
            .get_secret_value()
            .secret_id(id)
            .version_id(tok)
            .send()
            .await
            .unwrap_or_else(|e| panic!("acknowledged version {tok} lost: {e:?}"));
        assert_eq!(got.secret_string(), Some(value.as_str()), "version {tok}");
    }
}

/// Writers through all three servers while servers are killed with SIGKILL at
/// random moments (and started again): every acknowledged write is readable
/// afterwards, with its own value, through the servers left; none is half
/// applied (one current version, one previous, every version labelled as its
/// secret's record says); and the audit chains still verify.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_kill_9_of_any_server() {
    use std::sync::{Arc, Mutex};
    let url = fresh_database().await;
    let mut servers = vec![
        Server::start(&url),
        Server::start(&url),
        Server::start(&url),
    ];
    create(&servers[0].client(), "hammered", "v0").await;
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    // Where each writer sends its writes: its server's endpoint, replaced when
    // that server is killed and another started in its place.
    let endpoints: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(
        servers.iter().map(|s| s.endpoint.clone()).collect(),
    ));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..servers.len() {
        let (endpoints, acked, stop) = (endpoints.clone(), acked.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut i = 0u32;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                i += 1;
                let endpoint = endpoints.lock().unwrap()[w].clone();
                let client = client_for(&endpoint, "us-east-1", AKID, SECRET);
                let (tok, value) = (token(w as u32 * 100_000 + i), format!("w{w}-{i}"));
                let put = client
                    .put_secret_value()
                    .secret_id("hammered")
                    .secret_string(&value)
                    .client_request_token(&tok)
                    .send()
                    .await;
                if put.is_ok() {
                    acked.lock().unwrap().push((tok, value));
                } else {
                    // Its server was killed: wait for the next one.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }));
    }
    for round in 0..5u64 {
        let ms = 300 + (u64::from(std::process::id()) * 7919 + round * 104_729) % 700;
        tokio::time::sleep(Duration::from_millis(ms)).await;
        let victim = (round as usize) % 3;
        servers[victim].kill9();
        servers[victim] = Server::start(&url);
        endpoints.lock().unwrap()[victim] = servers[victim].endpoint.clone();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 10,
        "the writers got through ({} writes)",
        acked.len()
    );
    all_readable(&servers[1].client(), "hammered", &acked).await;
    labels_are_whole(&servers[2].client(), "hammered").await;
    drop(servers);
    let (ok, report) = verify(&url);
    assert!(ok, "the audit trail verifies after the kills: {report}");
    drop_database(&url).await;
}

/// Exactly one AWSCURRENT and one AWSPREVIOUS among all of `id`'s versions,
/// and DescribeSecret's map of labels agrees with the versions' list.
async fn labels_are_whole(c: &sm::Client, id: &str) {
    let mut stages: Vec<(String, Vec<String>)> = Vec::new();
    let mut next = None;
    loop {
        let page = c
            .list_secret_version_ids()
            .secret_id(id)
            .include_deprecated(true)
            .max_results(100)
            .set_next_token(next)
            .send()
            .await
            .unwrap();
        for v in page.versions() {
            let mut s = v.version_stages().to_vec();
            s.sort();
            stages.push((v.version_id().unwrap().to_string(), s));
        }
        next = page.next_token().map(str::to_string);
        if next.is_none() {
            break;
        }
    }
    for label in ["AWSCURRENT", "AWSPREVIOUS"] {
        let n = stages
            .iter()
            .filter(|(_, s)| s.iter().any(|l| l == label))
            .count();
        assert_eq!(n, 1, "{label} on {n} versions");
    }
    let described = c.describe_secret().secret_id(id).send().await.unwrap();
    let mut labelled: Vec<_> = stages.into_iter().filter(|(_, s)| !s.is_empty()).collect();
    labelled.sort();
    let mut map: Vec<_> = described
        .version_ids_to_stages()
        .unwrap()
        .iter()
        .map(|(v, s)| {
            let mut s = s.clone();
            s.sort();
            (v.clone(), s)
        })
        .collect();
    map.sort();
    assert_eq!(
        map, labelled,
        "DescribeSecret and ListSecretVersionIds agree"
    );
}

/// The database crashed (`pg_ctl -m immediate`: no shutdown checkpoint, crash
/// recovery at restart) under writers through two servers, and started again:
/// while it is down, writes answer ServiceUnavailableException (never a 500);
/// once it is back both servers serve again by themselves; no acknowledged
/// write is lost, none is half applied, and the audit trail verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_crash_is_unavailable_and_heals_without_losing_writes() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    let pg = Cluster::start(Auth::Trust);
    let servers = [Server::start(&pg.url()), Server::start(&pg.url())];
    create(&servers[0].client(), "outage", "v0").await;
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let codes: Arc<Mutex<std::collections::BTreeSet<String>>> = Arc::default();
    let (stop, since_up) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
    );
    let mut writers = Vec::new();
    for w in 0..4u32 {
        let c = servers[w as usize % 2].client();
        let (acked, codes, stop, since_up) =
            (acked.clone(), codes.clone(), stop.clone(), since_up.clone());
        writers.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                i += 1;
                let (tok, value) = (token(w * 100_000 + i), format!("w{w}-{i}"));
                let put = c
                    .put_secret_value()
                    .secret_id("outage")
                    .secret_string(&value)
                    .client_request_token(&tok)
                    .send()
                    .await;
                match put {
                    Ok(_) => {
                        acked.lock().unwrap().push((tok, value));
                        since_up.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => {
                        codes.lock().unwrap().insert(err(e).0);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
        }));
    }
    wait_for("writes before the crash", PATIENCE, async || {
        since_up.load(Ordering::SeqCst) >= 20
    })
    .await;
    pg.crash();
    let during = servers[1]
        .client()
        .create_secret()
        .name("during")
        .secret_string("x")
        .send()
        .await;
    codes
        .lock()
        .unwrap()
        .insert(during.map_or_else(|e| err(e).0, |_| "created".into()));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    pg.up();
    since_up.store(0, Ordering::SeqCst);
    wait_for("every writer writes again", PATIENCE, async || {
        since_up.load(Ordering::SeqCst) >= 40
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.await.unwrap();
    }
    assert_eq!(
        codes.lock().unwrap().iter().collect::<Vec<_>>(),
        ["ServiceUnavailableException"],
        "every write while the database was down was refused as unavailable"
    );
    let acked = acked.lock().unwrap().clone();
    for s in &servers {
        all_readable(&s.client(), "outage", &acked).await;
    }
    labels_are_whole(&servers[0].client(), "outage").await;
    drop(servers);
    let (ok, report) = verify(&pg.url());
    assert!(ok, "the audit trail verifies after the crash: {report}");
    drop(pg);
}
