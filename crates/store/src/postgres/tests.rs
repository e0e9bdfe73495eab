use super::testing::{drop_database, fresh_database};
use super::*;
use crate::conformance;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_passes_the_conformance_suite() {
    let url = fresh_database().await;
    let store = Arc::new(PgStore::open(&url, None).await.unwrap());
    conformance::run_all(store.clone()).await;
    store.close().await.unwrap();
    drop_database(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_is_versioned_and_newer_is_refused() {
    let url = fresh_database().await;
    let store = PgStore::open(&url, None).await.unwrap();
    store.close().await.unwrap();
    // Opening again finds the schema current and changes nothing.
    let store = PgStore::open(&url, None).await.unwrap();
    store.close().await.unwrap();
    let c = pool::connect(&Target::new(&url, None).unwrap())
        .await
        .unwrap();
    assert_eq!(schema::current_version(&c).await.unwrap(), SCHEMA_VERSION);
    c.execute(
        "UPDATE coffer_meta SET value = $1 WHERE key = 'schema_version'",
        &[&(SCHEMA_VERSION + 1).to_string()],
    )
    .await
    .unwrap();
    match PgStore::open(&url, None).await {
        Err(StoreError::SchemaTooNew { found, supported }) => {
            assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
        }
        other => panic!("expected SchemaTooNew, got {:?}", other.err()),
    }
    drop(c);
    drop_database(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_starting_at_once_migrate_once() {
    let url = fresh_database().await;
    let opens = (0..4).map(|_| {
        let url = url.clone();
        async move { PgStore::open(&url, None).await }
    });
    let stores: Vec<_> = futures_join(opens).await;
    for s in stores {
        s.expect("every server opens").close().await.unwrap();
    }
    drop_database(&url).await;
}

async fn futures_join<F: std::future::Future + Send + 'static>(
    fs: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send,
{
    let handles: Vec<_> = fs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_server_leads_and_another_takes_over_when_it_goes() {
    let url = fresh_database().await;
    let a = PgStore::open(&url, None).await.unwrap();
    let b = PgStore::open(&url, None).await.unwrap();
    assert!(a.lead().await.unwrap(), "the first to ask leads");
    assert!(!b.lead().await.unwrap(), "only one leads");
    assert!(a.lead().await.unwrap(), "and keeps leading");
    a.close().await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !b.lead().await.unwrap() {
        assert!(std::time::Instant::now() < deadline, "b never took over");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    b.close().await.unwrap();
    drop_database(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_on_one_server_signals_the_others() {
    let url = fresh_database().await;
    let a = PgStore::open(&url, None).await.unwrap();
    let b = PgStore::open(&url, None).await.unwrap();
    let mut heard = b.change_signal().unwrap();
    // The listener announces its (re)connection; wait for it to be listening.
    tokio::time::timeout(Duration::from_secs(5), heard.changed())
        .await
        .expect("listener connects")
        .unwrap();
    let m = conformance::mutation(
        crate::MutationOp::Create,
        conformance::secret_row("111111111111", "signalled"),
        vec![conformance::version("v1", &["AWSCURRENT"])],
    );
    a.commit(m).await.unwrap();
    tokio::time::timeout(Duration::from_secs(2), heard.changed())
        .await
        .expect("b hears a's commit")
        .unwrap();
    a.close().await.unwrap();
    b.close().await.unwrap();
    drop_database(&url).await;
}

#[tokio::test]
async fn an_unreachable_database_is_unavailable_not_a_backend_fault() {
    // Nothing listens on port 1.
    match PgStore::open("postgres://postgres@127.0.0.1:1/none", None).await {
        Err(StoreError::Unavailable(_)) => {}
        other => panic!("expected Unavailable, got {:?}", other.err()),
    }
}

#[test]
fn passwords_are_redacted_from_urls() {
    assert_eq!(
        redact("postgres://coffer:s3cret@db:5432/coffer"),
        "postgres://coffer:****@db:5432/coffer"
    );
    assert_eq!(redact("postgres://db/coffer"), "postgres://db/coffer");
    assert_eq!(
        redact("host=db user=coffer password=s3cret"),
        "host=db user=coffer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_files_are_kept_per_server_and_a_line_once() {
    let url = fresh_database().await;
    let store = PgStore::open(&url, None).await.unwrap();
    let line = |n: i64| crate::ShippedLine {
        line: n,
        prev: format!("p{n}"),
        hash: format!("h{n}"),
        body: format!("{{\"n\":{n}}}"),
    };
    assert_eq!(store.shipped_upto("a").await.unwrap(), 0);
    store.ship_audit("a", vec![line(1), line(2)]).await.unwrap();
    // A batch shipped again after a crash, with the next line.
    store.ship_audit("a", vec![line(2), line(3)]).await.unwrap();
    store.ship_audit("b", vec![line(1)]).await.unwrap();
    assert_eq!(store.shipped_upto("a").await.unwrap(), 3);
    assert_eq!(store.shipped_servers().await.unwrap(), ["a", "b"]);
    let got = store.shipped_lines("a", 1, 10).await.unwrap();
    assert_eq!(got, vec![line(2), line(3)]);

    // Retention: each file keeps its newest line (the shipper resumes after
    // it), and its anchor is stated by a pruning record in the chain.
    let all = crate::Retention {
        events_before_ms: None,
        audit_before_ms: Some(i64::MAX),
        now_ms: 1,
        event_time: "1970-01-01T00:00:00Z".into(),
    };
    let pruned = store.prune_history(&all).await.unwrap();
    assert_eq!(pruned.shipped, 2, "a's lines 1 and 2; b has one line only");
    assert_eq!(store.shipped_upto("a").await.unwrap(), 3);
    assert_eq!(
        store.shipped_lines("a", 0, 10).await.unwrap(),
        vec![line(3)]
    );
    let anchors = store.audit_anchors().await.unwrap();
    let a = &anchors.servers["a"];
    assert_eq!((a.through, a.hash.as_str(), a.pruned), (2, "h2", 2));
    assert!(!anchors.servers.contains_key("b"));
    let records = store.audit_records(0, 10).await.unwrap();
    assert_eq!(
        crate::AuditAnchors::stated_by(&records.last().unwrap().body),
        Some(anchors)
    );
    store.close().await.unwrap();
    drop_database(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_probes_our_sessions() {
    // Without its own keepalives the database would hold a vanished server's
    // sessions, and the background leader's lock, for the system's two hours.
    let url = fresh_database().await;
    let c = pool::connect(&Target::new(&url, None).unwrap())
        .await
        .unwrap();
    for (setting, want) in [
        ("tcp_keepalives_idle", "5"),
        ("tcp_keepalives_interval", "2"),
        ("tcp_keepalives_count", "3"),
    ] {
        let row = c.query_one(&format!("SHOW {setting}"), &[]).await.unwrap();
        assert_eq!(row.get::<_, String>(0), want, "{setting}");
    }
    drop(c);
    drop_database(&url).await;
}
