use super::*;
use crate::conformance;
use crate::MutationOp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("coffer.db")).unwrap());
    conformance::run_all(store.clone()).await;
    store.close().await.unwrap();
}

#[tokio::test]
async fn data_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("coffer.db");
    let store = SqliteStore::open(&path).unwrap();
    let m = conformance::mutation(
        MutationOp::Create,
        conformance::secret_row("111111111111", "kept"),
        vec![conformance::version("v1", &["AWSCURRENT"])],
    );
    store.commit(m).await.unwrap();
    store.close().await.unwrap();
    assert!(store.commit_after_close_fails().await);
    let store = SqliteStore::open(&path).unwrap();
    let scope = Scope {
        account_id: "111111111111".into(),
        region: "us-east-1".into(),
    };
    assert!(store
        .secret_by_name(&scope, "kept")
        .await
        .unwrap()
        .is_some());
    store.close().await.unwrap();
}

#[test]
fn schema_is_versioned_and_newer_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("coffer.db");
    {
        let mut c = Connection::open(&path).unwrap();
        schema::migrate(&mut c).unwrap();
        assert_eq!(schema::current_version(&c).unwrap(), SCHEMA_VERSION);
        // Running the chain again is a no-op.
        schema::migrate(&mut c).unwrap();
        c.execute(
            "UPDATE meta SET value = '999' WHERE key = 'schema_version'",
            [],
        )
        .unwrap();
    }
    match SqliteStore::open(&path) {
        Err(StoreError::SchemaTooNew { found: 999, .. }) => {}
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a newer schema must be refused"),
    }
}

#[test]
fn database_uses_wal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("coffer.db");
    let _store = SqliteStore::open(&path).unwrap();
    let c = Connection::open(&path).unwrap();
    let mode: String = c
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

impl SqliteStore {
    async fn commit_after_close_fails(&self) -> bool {
        self.touch_accessed(vec![]).await.is_err()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_sqlite_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(crate::CachedStore::new(
        SqliteStore::open(&dir.path().join("coffer.db")).unwrap(),
    ));
    conformance::run_all(store.clone()).await;
    store.close().await.unwrap();
}

/// A store written before words were split as AWS splits them gets its word
/// index filled again on upgrade: a camel-case word finds its secret.
#[tokio::test]
async fn upgrading_refills_the_word_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("coffer.db");
    let store = SqliteStore::open(&path).unwrap();
    let mut row = conformance::secret_row("111111111111", "MyApplication");
    row.description = None;
    let mutation = conformance::mutation(MutationOp::Create, row, vec![]);
    store.commit(mutation).await.unwrap();
    store.close().await.unwrap();
    // As an older build left it: no "application" term, schema one step back.
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute("DELETE FROM secret_words WHERE word = 'application'", [])
        .unwrap();
    c.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'schema_version'",
        [(SCHEMA_VERSION - 1).to_string()],
    )
    .unwrap();
    drop(c);
    let _ = SqliteStore::open(&path).unwrap();
    let c = rusqlite::Connection::open(&path).unwrap();
    let n: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM secret_words WHERE word = 'application'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 1);
}
