//! The embedded backend: SQLite in WAL mode with `synchronous = FULL`.
//!
//! One writer thread ([`writer`]) owns the only read-write connection and commits in
//! groups; reads use a small pool of read-only connections on the blocking pool. WAL
//! lets readers proceed while the writer commits.

mod delivery;
mod prune;
mod rows;
mod schema;
mod sealed;
mod writer;

pub use schema::SCHEMA_VERSION;

use crate::{
    AccessTouch, AccountRow, AuditAnchors, AuditRow, ChainKey, Committed, CredentialRow, EventRow,
    IamOp, IamRow, KmsKeyRow, ListFilter, ListPage, ListQuery, Mutation, NewAudit, NewEvent,
    Pruned, Result, Retention, RootSealed, Scope, SealedRow, Secret, Store, StoreError, VersionRow,
};
use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};
use writer::Job;

/// Read connections, and so reads at once: more would only queue on two cores, and
/// opening a connection per burst (schema parse, fresh mmap) costs more than waiting.
const READERS: usize = 8;

pub struct SqliteStore {
    path: PathBuf,
    writer: Mutex<Option<mpsc::Sender<Job>>>,
    writer_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    read_permits: Arc<tokio::sync::Semaphore>,
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // In WAL mode a reader's page cache is dropped whenever another connection
    // commits; memory-mapped reads then cost no copy, where read(2) would copy
    // every page again (measured: the largest cost of a put before this).
    conn.execute_batch(
        "PRAGMA foreign_keys = ON; PRAGMA mmap_size = 268435456; PRAGMA cache_size = -16384;",
    )
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and runs migrations;
    /// its audit chain is unkeyed (tests, tools). The server uses [`Self::open_keyed`].
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_keyed(path, None)
    }

    /// Opens the database; new audit links are keyed with `key`.
    pub fn open_keyed(path: &Path, key: Option<ChainKey>) -> Result<Self> {
        let mut conn = Connection::open(path).map_err(backend)?;
        configure(&conn).map_err(backend)?;
        // FULL: each commit is fsynced, so an acknowledged write survives power loss,
        // not only a process crash. Group commit keeps the cost per write low.
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(backend)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Backend(format!(
                "could not enable WAL (got {mode})"
            )));
        }
        conn.execute_batch("PRAGMA synchronous = FULL;")
            .map_err(backend)?;
        schema::migrate(&mut conn)?;
        let (tx, rx) = mpsc::channel(4096);
        let handle = std::thread::Builder::new()
            .name("coffer-store-writer".into())
            .spawn(move || writer::run(conn, rx, key))
            .map_err(backend)?;
        Ok(SqliteStore {
            path: path.to_path_buf(),
            writer: Mutex::new(Some(tx)),
            writer_thread: Mutex::new(Some(handle)),
            readers: Arc::new(Mutex::new(Vec::new())),
            read_permits: Arc::new(tokio::sync::Semaphore::new(READERS)),
        })
    }

    /// Runs `f` on a pooled read-only connection, off the async threads.
    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let pool = self.readers.clone();
        let path = self.path.clone();
        // With a permit there is always a pooled connection or room to open one.
        let permit = self
            .read_permits
            .clone()
            .acquire_owned()
            .await
            .map_err(backend)?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let pooled = pool.lock().map_err(backend)?.pop();
            let conn = if let Some(c) = pooled {
                c
            } else {
                let c = Connection::open_with_flags(
                    &path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(backend)?;
                configure(&c).map_err(backend)?;
                c
            };
            let out = f(&conn).map_err(backend);
            pool.lock().map_err(backend)?.push(conn);
            out
        })
        .await
        .map_err(backend)?
    }

    async fn write<T>(&self, make: impl FnOnce(oneshot::Sender<Result<T>>) -> Job) -> Result<T> {
        let sender = self
            .writer
            .lock()
            .map_err(backend)?
            .clone()
            .ok_or_else(|| StoreError::Backend("store is closed".into()))?;
        let (tx, rx) = oneshot::channel();
        sender
            .send(make(tx))
            .await
            .map_err(|_| StoreError::Backend("store writer stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Backend("store writer stopped".into()))?
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn secret_by_name(&self, scope: &Scope, name: &str) -> Result<Option<Arc<Secret>>> {
        let (a, r, n) = (
            scope.account_id.clone(),
            scope.region.clone(),
            name.to_string(),
        );
        let where_sql = "account_id = ?1 AND region = ?2 AND name = ?3";
        let found = self
            .read(move |c| rows::load_one(c, where_sql, &[&a, &r, &n]))
            .await?;
        Ok(found.map(Arc::new))
    }

    async fn secret_by_arn(&self, arn: &str) -> Result<Option<Arc<Secret>>> {
        let arn = arn.to_string();
        let found = self
            .read(move |c| rows::load_one(c, "arn = ?1", &[&arn]))
            .await?;
        Ok(found.map(Arc::new))
    }

    async fn list_secrets(&self, scope: &Scope) -> Result<Vec<Secret>> {
        let (a, r) = (scope.account_id.clone(), scope.region.clone());
        self.read(move |c| rows::load_scope(c, &a, &r)).await
    }

    async fn list_page(&self, scope: &Scope, q: &ListQuery, keep: ListFilter) -> Result<ListPage> {
        let (a, r, q) = (scope.account_id.clone(), scope.region.clone(), q.clone());
        self.read(move |c| rows::load_page(c, &a, &r, &q, &keep))
            .await
    }

    async fn version(&self, secret_id: i64, version_id: &str) -> Result<Option<VersionRow>> {
        let vid = version_id.to_string();
        self.read(move |c| rows::load_version(c, secret_id, &vid))
            .await
    }

    async fn all_versions(&self, secret_id: i64) -> Result<Vec<VersionRow>> {
        self.read(move |c| rows::load_versions(c, secret_id)).await
    }

    async fn commit(&self, m: Mutation) -> Result<Committed> {
        self.write(|tx| Job::Commit(Box::new(m), tx)).await
    }

    async fn touch_accessed(&self, touches: Vec<AccessTouch>) -> Result<()> {
        self.write(|tx| Job::Touch(touches, tx)).await
    }

    async fn rotation_due(&self, now_ms: i64, interrupted: bool) -> Result<Vec<String>> {
        self.read(move |c| {
            c.prepare_cached(
                "SELECT arn FROM secrets WHERE deleted_ms IS NULL
                   AND (json_extract(attrs, '$.Rotation.DueMs') <= ?1
                        OR (?2 AND json_extract(attrs, '$.Rotation.Pending') IS NOT NULL))",
            )?
            .query_map(rusqlite::params![now_ms, interrupted], |r| r.get(0))?
            .collect()
        })
        .await
    }

    async fn due_for_purge(&self, now_ms: i64) -> Result<Vec<(i64, i64, String)>> {
        self.read(move |c| {
            c.prepare_cached(
                "SELECT id, revision, arn FROM secrets WHERE purge_after_ms IS NOT NULL AND purge_after_ms <= ?1",
            )?
            .query_map([now_ms], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect()
        })
        .await
    }

    async fn kms_key(&self, scope: &Scope, alias: &str) -> Result<Option<KmsKeyRow>> {
        let (a, r, al) = (
            scope.account_id.clone(),
            scope.region.clone(),
            alias.to_string(),
        );
        self.read(move |c| {
            c.prepare_cached(
                "SELECT account_id, region, key_id, arn, alias, wrapped, created_ms FROM kms_keys
                 WHERE account_id = ?1 AND region = ?2 AND (alias = ?3 OR key_id = ?3 OR arn = ?3)",
            )?
            .query_row([&a, &r, &al], |r| {
                Ok(KmsKeyRow {
                    account_id: r.get(0)?,
                    region: r.get(1)?,
                    key_id: r.get(2)?,
                    arn: r.get(3)?,
                    alias: r.get(4)?,
                    wrapped: r.get(5)?,
                    created_ms: r.get(6)?,
                })
            })
            .optional()
        })
        .await
    }

    async fn insert_kms_key(&self, key: KmsKeyRow) -> Result<()> {
        self.write(|tx| Job::InsertKms(key, tx)).await
    }

    async fn credential(&self, access_key_id: &str) -> Result<Option<CredentialRow>> {
        let id = access_key_id.to_string();
        self.read(move |c| {
            c.prepare_cached(
                "SELECT access_key_id, account_id, principal_arn, wrapped_secret, status, created_ms
                 FROM credentials WHERE access_key_id = ?1",
            )?
            .query_row([&id], rows::credential)
            .optional()
        })
        .await
    }

    async fn insert_credential(&self, cred: CredentialRow) -> Result<()> {
        self.write(|tx| Job::InsertCredential(cred, tx)).await
    }

    async fn account(&self, account_id: &str) -> Result<Option<AccountRow>> {
        let id = account_id.to_string();
        self.read(move |c| {
            c.prepare_cached(
                "SELECT account_id, name, created_ms FROM accounts WHERE account_id = ?1",
            )?
            .query_row([&id], |r| {
                Ok(AccountRow {
                    account_id: r.get(0)?,
                    name: r.get(1)?,
                    created_ms: r.get(2)?,
                })
            })
            .optional()
        })
        .await
    }

    async fn insert_account(&self, account: AccountRow) -> Result<()> {
        self.write(|tx| Job::InsertAccount(account, tx)).await
    }

    async fn accounts(&self) -> Result<Vec<AccountRow>> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT account_id, name, created_ms FROM accounts ORDER BY created_ms, account_id",
            )?
            .query_map([], |r| {
                Ok(AccountRow {
                    account_id: r.get(0)?,
                    name: r.get(1)?,
                    created_ms: r.get(2)?,
                })
            })?
            .collect()
        })
        .await
    }

    async fn credentials_of(&self, principal_arn: &str) -> Result<Vec<CredentialRow>> {
        let arn = principal_arn.to_string();
        self.read(move |c| {
            c.prepare_cached(
                "SELECT access_key_id, account_id, principal_arn, wrapped_secret, status, created_ms
                 FROM credentials WHERE principal_arn = ?1 ORDER BY created_ms, access_key_id",
            )?
            .query_map([&arn], rows::credential)?
            .collect()
        })
        .await
    }

    async fn iam_get(&self, account_id: &str, kind: &str, name: &str) -> Result<Option<IamRow>> {
        let key = [account_id.to_string(), kind.to_string(), name.to_string()];
        self.read(move |c| {
            c.prepare_cached(
                "SELECT account_id, kind, name, body, revision FROM iam
                 WHERE account_id = ?1 AND kind = ?2 AND name = ?3",
            )?
            .query_row(key, rows::iam)
            .optional()
        })
        .await
    }

    async fn iam_list(&self, account_id: &str, kind: &str) -> Result<Vec<IamRow>> {
        let key = [account_id.to_string(), kind.to_string()];
        self.read(move |c| {
            c.prepare_cached(
                "SELECT account_id, kind, name, body, revision FROM iam
                 WHERE account_id = ?1 AND kind = ?2 ORDER BY name",
            )?
            .query_map(key, rows::iam)?
            .collect()
        })
        .await
    }

    async fn iam_write(&self, ops: Vec<IamOp>, event: NewEvent, audit: NewAudit) -> Result<()> {
        self.write(|tx| Job::Iam(ops, event, audit, tx)).await
    }

    async fn latest_event_seq(&self) -> Result<i64> {
        self.read(|c| c.query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| r.get(0)))
            .await
    }

    async fn events_after(&self, after_seq: i64, limit: usize) -> Result<Vec<EventRow>> {
        self.read(move |c| {
            c.prepare_cached(
                "SELECT seq, at_ms, account_id, region, body FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )?
            .query_map([after_seq, limit as i64], |r| {
                Ok(EventRow {
                    seq: r.get(0)?,
                    at_ms: r.get(1)?,
                    account_id: r.get(2)?,
                    region: r.get(3)?,
                    body: r.get(4)?,
                })
            })?
            .collect()
        })
        .await
    }

    async fn audit_head(&self) -> Result<Option<(i64, String)>> {
        self.read(|c| {
            c.prepare_cached("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")?
                .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .await
    }

    async fn audit_records(&self, after_seq: i64, limit: usize) -> Result<Vec<AuditRow>> {
        self.read(move |c| {
            c.prepare_cached(
                "SELECT seq, at_ms, body, prev_hash, hash FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )?
            .query_map([after_seq, limit as i64], |r| {
                Ok(AuditRow {
                    seq: r.get(0)?,
                    at_ms: r.get(1)?,
                    body: r.get(2)?,
                    prev_hash: r.get(3)?,
                    hash: r.get(4)?,
                })
            })?
            .collect()
        })
        .await
    }

    async fn prune_history(&self, r: &Retention) -> Result<Pruned> {
        let r = r.clone();
        self.write(|tx| Job::Prune(r, tx)).await
    }

    async fn event_horizon(&self) -> Result<i64> {
        let v = self.read(|c| prune::meta(c, "event_horizon")).await?;
        Ok(v.and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    async fn audit_anchors(&self) -> Result<AuditAnchors> {
        let v = self.read(|c| prune::meta(c, "audit_anchors")).await?;
        AuditAnchors::from_json(v.as_deref())
    }

    async fn delivery_cursor(&self, target: &str) -> Result<Option<i64>> {
        let t = target.to_string();
        self.read(move |c| delivery::cursor(c, &t)).await
    }

    async fn advance_delivery(
        &self,
        target: &str,
        after: i64,
        dead: Option<crate::NewDeadLetter>,
    ) -> Result<()> {
        let w = delivery::DeliveryWrite::Advance {
            target: target.to_string(),
            after,
            dead,
        };
        self.write(|tx| Job::Delivery(w, tx)).await.map(|_| ())
    }

    async fn dead_letters(&self, q: &crate::DeadLetterQuery) -> Result<Vec<crate::DeadLetter>> {
        let q = q.clone();
        self.read(move |c| delivery::dead_letters(c, &q)).await
    }

    async fn redrive_dead_letters(&self, account_id: &str, ids: &[i64]) -> Result<usize> {
        let w = delivery::DeliveryWrite::Redrive {
            account_id: account_id.to_string(),
            ids: ids.to_vec(),
        };
        self.write(|tx| Job::Delivery(w, tx)).await
    }

    async fn settle_dead_letter(&self, id: i64, failure: Option<String>) -> Result<()> {
        let w = delivery::DeliveryWrite::Settle { id, failure };
        self.write(|tx| Job::Delivery(w, tx)).await.map(|_| ())
    }

    async fn meta_get(&self, key: &str) -> Result<Option<String>> {
        let key = key.to_string();
        self.read(move |c| sealed::meta_get(c, &key)).await
    }

    async fn meta_list(&self, prefix: &str) -> Result<Vec<(String, String)>> {
        let prefix = prefix.to_string();
        self.read(move |c| sealed::meta_list(c, &prefix)).await
    }

    async fn meta_put(&self, key: &str, value: Option<&str>) -> Result<()> {
        let w = sealed::SmallWrite::MetaPut(key.into(), value.map(str::to_string));
        self.write(|tx| Job::Small(w, tx)).await.map(|_| ())
    }

    async fn meta_swap(&self, key: &str, from: &str, to: &str) -> Result<bool> {
        let w = sealed::SmallWrite::MetaSwap(key.into(), from.into(), to.into());
        self.write(|tx| Job::Small(w, tx)).await
    }

    async fn root_sealed(
        &self,
        what: RootSealed,
        after: &str,
        limit: usize,
    ) -> Result<Vec<SealedRow>> {
        let after = after.to_string();
        self.read(move |c| sealed::page(c, what, &after, limit))
            .await
    }

    async fn reseal(&self, what: RootSealed, id: &str, old: &[u8], new: &[u8]) -> Result<bool> {
        let w = sealed::SmallWrite::Reseal(what, id.into(), old.to_vec(), new.to_vec());
        self.write(|tx| Job::Small(w, tx)).await
    }

    async fn check_root_key(&self, fingerprint: &str) -> Result<bool> {
        let fp = fingerprint.to_string();
        self.write(|tx| Job::RootKeyCheck(fp, tx)).await
    }

    async fn close(&self) -> Result<()> {
        // Dropping the last sender ends the writer loop after it drains the queue.
        self.writer.lock().map_err(backend)?.take();
        let handle = self.writer_thread.lock().map_err(backend)?.take();
        if let Some(h) = handle {
            tokio::task::spawn_blocking(move || h.join())
                .await
                .map_err(backend)?
                .map_err(|_| StoreError::Backend("store writer panicked".into()))?;
        }
        self.readers.lock().map_err(backend)?.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests;
