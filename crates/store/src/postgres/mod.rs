//! The fleet backend: PostgreSQL, shared by any number of Coffer servers.
//!
//! Each write is one transaction on a pooled connection ([`write`] says why READ
//! COMMITTED is the right isolation). Reads that need a consistent secret take it
//! in one statement (a join of the secret and its versions), so they see one
//! snapshot without a transaction. Committed changes are announced with NOTIFY;
//! [`signal`] listens, and elects the one server that runs fleet-wide background
//! work.

mod delivery;
mod error;
mod group;
pub mod import;
mod list;
mod pool;
mod prepared;
mod prune;
mod rows;
mod schema;
mod sealed;
mod signal;
pub mod tls;
mod write;

#[cfg(test)]
mod tests;

pub use schema::SCHEMA_VERSION;

use crate::{
    AccessTouch, AccountRow, AuditAnchors, AuditRow, ChainKey, Committed, CredentialRow, EventRow,
    IamOp, IamRow, KmsKeyRow, ListFilter, ListPage, ListQuery, Mutation, NewAudit, NewEvent,
    Pruned, Result, Retention, RootSealed, Scope, SealedRow, Secret, ShippedLine, Store,
    StoreError, VersionRow,
};
use async_trait::async_trait;
use error::pg_err;
use pool::Pool;
use rows::{SECRET_COLS, VERSION_COLS};
use std::sync::Arc;
use std::time::Duration;

/// Connections per server unless configured: requests beyond them wait (then
/// answer "unavailable").
pub const POOL_SIZE: usize = 16;

pub struct PgStore {
    pool: Arc<Pool>,
    key: Option<ChainKey>,
    signal: signal::Signal,
    writer: group::Committer,
}

/// Reads `postgres://…` (or key=value) connection settings, with the timeouts
/// a server needs: a database that does not answer must fail a request, not hang it.
pub fn config(url: &str) -> Result<tokio_postgres::Config> {
    let mut cfg: tokio_postgres::Config = url
        .parse()
        .map_err(|e| StoreError::Backend(format!("invalid database URL: {e}")))?;
    if cfg.get_connect_timeout().is_none() {
        cfg.connect_timeout(Duration::from_secs(5));
    }
    // Short statements only: the JIT's compile time (a quarter of a second
    // measured on a listing) costs far more than it could save.
    // The database's own keepalives on our sessions: a server whose machine
    // vanished sends nothing, so only the database's probes end its sessions
    // and release their locks (above all the background leader's) — within
    // 5 + 3 × 2 s rather than the system's default of two hours.
    let ours = "-c jit=off -c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2 \
                -c tcp_keepalives_count=3";
    let options = match cfg.get_options() {
        Some(o) if !o.is_empty() => format!("{o} {ours}"),
        _ => ours.to_string(),
    };
    cfg.options(options);
    // Our keepalives let us notice a vanished database.
    cfg.keepalives(true)
        .keepalives_idle(Duration::from_secs(10))
        .application_name("coffer");
    Ok(cfg)
}

/// Where to connect, and how: the settings, and verified TLS when the URL says
/// `sslmode=require` (see [`tls`]); otherwise plain.
#[derive(Clone)]
pub struct Target {
    config: tokio_postgres::Config,
    tls: Option<tls::Rustls>,
    pool_size: usize,
}

impl Target {
    /// `ca_file`: PEM certificates to trust besides the system's roots.
    pub fn new(url: &str, ca_file: Option<&std::path::Path>) -> Result<Target> {
        use tokio_postgres::config::SslMode;
        let mut config = config(url)?;
        let tls = if config.get_ssl_mode() == SslMode::Require {
            Some(tls::Rustls::new(ca_file).map_err(StoreError::Backend)?)
        } else {
            if ca_file.is_some() {
                return Err(StoreError::Backend(
                    "a database CA file is given, but the URL does not say sslmode=require".into(),
                ));
            }
            // `prefer` would take any certificate: plain, and said so.
            config.ssl_mode(SslMode::Disable);
            None
        };
        Ok(Target {
            config,
            tls,
            pool_size: POOL_SIZE,
        })
    }

    /// The same target, with `n` pooled connections (at least one).
    #[must_use]
    pub fn with_pool_size(mut self, n: usize) -> Target {
        self.pool_size = n.max(1);
        self
    }
}

/// The URL with any password replaced, for logs and messages.
pub fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((auth, host)) => {
                let user = auth.split(':').next().unwrap_or("");
                let hidden = if auth.contains(':') { ":****" } else { "" };
                format!("{scheme}://{user}{hidden}@{host}")
            }
            None => url.to_string(),
        },
        // key=value form: drop the password pair.
        None => url
            .split_whitespace()
            .filter(|kv| !kv.starts_with("password="))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// Every write rewrites its secret's row and relabels versions: without
/// autovacuum their dead rows are never reclaimed, and each write reads past
/// more of them (measured: 146 writes/s at a secret's 2,000th version, 117 at
/// its 20,000th, with autovacuum off; flat with it on). Said once, at start.
async fn warn_without_autovacuum(c: &tokio_postgres::Client) {
    let on = c
        .query_one("SELECT current_setting('autovacuum')", &[])
        .await
        .ok()
        .and_then(|r| r.try_get::<_, String>(0).ok());
    // Once per process, which may open the store more than once.
    static SAID: std::sync::Once = std::sync::Once::new();
    if on.as_deref() == Some("off") {
        SAID.call_once(|| {
            tracing::warn!(
            "PostgreSQL's autovacuum is off: the rows Coffer rewrites are never reclaimed and writes slow down as history grows; turn it on (PostgreSQL's default) or VACUUM the secrets and versions tables regularly"
            );
        });
    }
}

impl PgStore {
    /// Connects, runs migrations, and starts listening for other servers' changes.
    /// New audit links are keyed with `key`.
    pub async fn open(url: &str, key: Option<ChainKey>) -> Result<Self> {
        Self::open_with(&Target::new(url, None)?, key).await
    }

    /// Opens the database `target` names (see [`Self::open`]).
    pub async fn open_with(target: &Target, key: Option<ChainKey>) -> Result<Self> {
        let cfg = target.clone();
        let mut first = pool::connect(&cfg).await?;
        schema::migrate(&mut first).await?;
        warn_without_autovacuum(&first).await;
        drop(first);
        let pool = Arc::new(Pool::new(cfg.clone(), cfg.pool_size));
        Ok(PgStore {
            writer: group::Committer::start(pool.clone(), key),
            pool,
            key,
            signal: signal::Signal::start(cfg),
        })
    }

    /// Opens a database for reading only (audit verification): no migration
    /// runs, and a schema of another version than this build's is refused.
    pub async fn open_existing(target: &Target) -> Result<Self> {
        let cfg = target.clone();
        let first = pool::connect(&cfg).await?;
        let found = schema::current_version(&first).await?;
        if found != SCHEMA_VERSION {
            return Err(StoreError::Backend(format!(
                "the database's schema is version {found}; this build reads version {SCHEMA_VERSION}"
            )));
        }
        drop(first);
        let pool = Arc::new(Pool::new(cfg.clone(), 2));
        Ok(PgStore {
            writer: group::Committer::start(pool.clone(), None),
            pool,
            key: None,
            signal: signal::Signal::start(cfg),
        })
    }

    async fn load(
        &self,
        where_sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Secret>> {
        let sql = format!(
            "SELECT {SECRET_COLS}, {VERSION_COLS} FROM secrets s
             LEFT JOIN versions v ON v.secret_id = s.id AND v.labels <> '[]'
             WHERE {where_sql} ORDER BY s.name, s.id, v.seq"
        );
        let conn = self.pool.get().await?;
        // A few fixed conditions: prepared once per connection.
        let statement = conn.prepared(&sql).await?;
        let rows = conn.query(&statement, params).await.map_err(pg_err)?;
        rows::secrets_joined(&rows)
    }

    async fn load_one(
        &self,
        where_sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Option<Arc<Secret>>> {
        Ok(self
            .load(where_sql, params)
            .await?
            .into_iter()
            .next()
            .map(Arc::new))
    }
}

/// Runs `$body` in a transaction on a pooled connection and commits it; a
/// failed step rolls the whole transaction back (dropping it does).
macro_rules! transact {
    ($self:ident, |$tx:ident| $body:expr) => {{
        let mut conn = $self.pool.get().await?;
        let $tx = conn.transaction().await.map_err(pg_err)?;
        let out = $body.await?;
        $tx.commit().await.map_err(pg_err)?;
        Ok(out)
    }};
}

#[async_trait]
impl Store for PgStore {
    async fn secret_by_name(&self, scope: &Scope, name: &str) -> Result<Option<Arc<Secret>>> {
        self.load_one(
            "s.account_id = $1 AND s.region = $2 AND s.name = $3",
            &[&scope.account_id, &scope.region, &name],
        )
        .await
    }

    async fn secret_by_arn(&self, arn: &str) -> Result<Option<Arc<Secret>>> {
        self.load_one("s.arn = $1", &[&arn]).await
    }

    async fn list_secrets(&self, scope: &Scope) -> Result<Vec<Secret>> {
        self.load(
            "s.account_id = $1 AND s.region = $2",
            &[&scope.account_id, &scope.region],
        )
        .await
    }

    async fn list_page(&self, scope: &Scope, q: &ListQuery, keep: ListFilter) -> Result<ListPage> {
        list::page(&self.pool, scope, q, &keep).await
    }

    async fn version(&self, secret_id: i64, version_id: &str) -> Result<Option<VersionRow>> {
        let conn = self.pool.get().await?;
        let sql = format!(
            "SELECT {VERSION_COLS} FROM versions v WHERE v.secret_id = $1 AND v.version_id = $2"
        );
        let row = conn
            .query_opt(&sql, &[&secret_id, &version_id])
            .await
            .map_err(pg_err)?;
        Ok(match row {
            Some(r) => rows::version_at(&r, 0)?,
            None => None,
        })
    }

    async fn all_versions(&self, secret_id: i64) -> Result<Vec<VersionRow>> {
        let conn = self.pool.get().await?;
        let sql =
            format!("SELECT {VERSION_COLS} FROM versions v WHERE v.secret_id = $1 ORDER BY v.seq");
        let found = conn.query(&sql, &[&secret_id]).await.map_err(pg_err)?;
        let mut out = Vec::with_capacity(found.len());
        for r in &found {
            out.extend(rows::version_at(r, 0)?);
        }
        Ok(out)
    }

    async fn commit(&self, m: Mutation) -> Result<Committed> {
        self.writer.commit(m).await
    }

    async fn touch_accessed(&self, touches: Vec<AccessTouch>) -> Result<()> {
        transact!(self, |tx| write::touches(&tx, &touches))
    }

    async fn rotation_due(&self, now_ms: i64, interrupted: bool) -> Result<Vec<String>> {
        let conn = self.pool.get().await?;
        let rows = conn
            .query(
                "SELECT arn FROM secrets WHERE deleted_ms IS NULL
                   AND ((attrs #>> '{Rotation,DueMs}')::numeric <= $1::bigint
                        OR ($2 AND attrs #>> '{Rotation,Pending}' IS NOT NULL))",
                &[&now_ms, &interrupted],
            )
            .await
            .map_err(pg_err)?;
        rows.iter().map(|r| r.try_get(0).map_err(pg_err)).collect()
    }

    async fn due_for_purge(&self, now_ms: i64) -> Result<Vec<(i64, i64, String)>> {
        let conn = self.pool.get().await?;
        let rows = conn
            .query(
                "SELECT id, revision, arn FROM secrets WHERE purge_after_ms IS NOT NULL AND purge_after_ms <= $1",
                &[&now_ms],
            )
            .await
            .map_err(pg_err)?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get(0).map_err(pg_err)?,
                    r.try_get(1).map_err(pg_err)?,
                    r.try_get(2).map_err(pg_err)?,
                ))
            })
            .collect()
    }

    async fn kms_key(&self, scope: &Scope, alias: &str) -> Result<Option<KmsKeyRow>> {
        let conn = self.pool.get().await?;
        let sql = format!(
            "SELECT {} FROM kms_keys WHERE account_id = $1 AND region = $2
               AND (alias = $3 OR key_id = $3 OR arn = $3)",
            rows::KMS_COLS
        );
        let row = conn
            .query_opt(&sql, &[&scope.account_id, &scope.region, &alias])
            .await
            .map_err(pg_err)?;
        row.as_ref().map(rows::kms).transpose()
    }

    async fn insert_kms_key(&self, key: KmsKeyRow) -> Result<()> {
        transact!(self, |tx| write::kms(&tx, &key))
    }

    async fn credential(&self, access_key_id: &str) -> Result<Option<CredentialRow>> {
        let conn = self.pool.get().await?;
        let sql = format!(
            "SELECT {} FROM credentials WHERE access_key_id = $1",
            rows::CREDENTIAL_COLS
        );
        let row = conn
            .query_opt(&sql, &[&access_key_id])
            .await
            .map_err(pg_err)?;
        row.as_ref().map(rows::credential).transpose()
    }

    async fn insert_credential(&self, cred: CredentialRow) -> Result<()> {
        transact!(self, |tx| write::credential(&tx, &cred))
    }

    async fn account(&self, account_id: &str) -> Result<Option<AccountRow>> {
        let conn = self.pool.get().await?;
        let row = conn
            .query_opt(
                "SELECT account_id, name, created_ms FROM accounts WHERE account_id = $1",
                &[&account_id],
            )
            .await
            .map_err(pg_err)?;
        row.as_ref().map(rows::account).transpose()
    }

    async fn insert_account(&self, account: AccountRow) -> Result<()> {
        transact!(self, |tx| write::account(&tx, &account))
    }

    async fn accounts(&self) -> Result<Vec<AccountRow>> {
        let conn = self.pool.get().await?;
        let rows = conn
            .query(
                "SELECT account_id, name, created_ms FROM accounts ORDER BY created_ms, account_id",
                &[],
            )
            .await
            .map_err(pg_err)?;
        rows::all(&rows, rows::account)
    }

    async fn credentials_of(&self, principal_arn: &str) -> Result<Vec<CredentialRow>> {
        let conn = self.pool.get().await?;
        let sql = format!(
            "SELECT {} FROM credentials WHERE principal_arn = $1 ORDER BY created_ms, access_key_id",
            rows::CREDENTIAL_COLS
        );
        let rows = conn.query(&sql, &[&principal_arn]).await.map_err(pg_err)?;
        rows::all(&rows, rows::credential)
    }

    async fn iam_get(&self, account_id: &str, kind: &str, name: &str) -> Result<Option<IamRow>> {
        let conn = self.pool.get().await?;
        let sql = format!(
            "SELECT {} FROM iam WHERE account_id = $1 AND kind = $2 AND name = $3",
            rows::IAM_COLS
        );
        let row = conn
            .query_opt(&sql, &[&account_id, &kind, &name])
            .await
            .map_err(pg_err)?;
        row.as_ref().map(rows::iam).transpose()
    }

    async fn iam_list(&self, account_id: &str, kind: &str) -> Result<Vec<IamRow>> {
        let conn = self.pool.get().await?;
        let sql = format!(
            "SELECT {} FROM iam WHERE account_id = $1 AND kind = $2 ORDER BY name",
            rows::IAM_COLS
        );
        let rows = conn
            .query(&sql, &[&account_id, &kind])
            .await
            .map_err(pg_err)?;
        rows::all(&rows, rows::iam)
    }

    async fn iam_write(&self, ops: Vec<IamOp>, event: NewEvent, audit: NewAudit) -> Result<()> {
        let key = self.key;
        transact!(self, |tx| write::iam(
            &tx,
            &ops,
            &event,
            &audit,
            key.as_ref()
        ))
    }

    async fn latest_event_seq(&self) -> Result<i64> {
        let conn = self.pool.get().await?;
        let row = conn
            .query_one("SELECT COALESCE(MAX(seq), 0)::bigint FROM events", &[])
            .await
            .map_err(pg_err)?;
        row.try_get(0).map_err(pg_err)
    }

    async fn events_after(&self, after_seq: i64, limit: usize) -> Result<Vec<EventRow>> {
        let conn = self.pool.get().await?;
        let rows = conn
            .query(
                "SELECT seq, at_ms, account_id, region, body FROM events WHERE seq > $1 ORDER BY seq LIMIT $2",
                &[&after_seq, &(limit as i64)],
            )
            .await
            .map_err(pg_err)?;
        rows::all(&rows, rows::event)
    }

    async fn audit_head(&self) -> Result<Option<(i64, String)>> {
        let conn = self.pool.get().await?;
        let row = conn
            .query_opt("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", &[])
            .await
            .map_err(pg_err)?;
        row.map(|r| Ok((r.try_get(0).map_err(pg_err)?, r.try_get(1).map_err(pg_err)?)))
            .transpose()
    }

    async fn audit_records(&self, after_seq: i64, limit: usize) -> Result<Vec<AuditRow>> {
        let conn = self.pool.get().await?;
        let rows = conn
            .query(
                "SELECT seq, at_ms, body, prev_hash, hash FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2",
                &[&after_seq, &(limit as i64)],
            )
            .await
            .map_err(pg_err)?;
        rows::all(&rows, rows::audit)
    }

    async fn ship_audit(&self, server_id: &str, lines: Vec<ShippedLine>) -> Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        let (mut nums, mut prevs, mut hashes, mut bodies) = (vec![], vec![], vec![], vec![]);
        for l in lines {
            nums.push(l.line);
            prevs.push(l.prev);
            hashes.push(l.hash);
            bodies.push(l.body);
        }
        // One statement for the batch: arrays unnested into rows.
        let conn = self.pool.get().await?;
        conn.execute(
            "INSERT INTO audit_shipped (server_id, line, prev_hash, hash, body)
             SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[])
             ON CONFLICT (server_id, line) DO NOTHING",
            &[&server_id, &nums, &prevs, &hashes, &bodies],
        )
        .await
        .map_err(pg_err)?;
        Ok(())
    }

    async fn shipped_upto(&self, server_id: &str) -> Result<i64> {
        let conn = self.pool.get().await?;
        let row = conn
            .query_one(
                "SELECT COALESCE(MAX(line), 0)::bigint FROM audit_shipped WHERE server_id = $1",
                &[&server_id],
            )
            .await
            .map_err(pg_err)?;
        row.try_get(0).map_err(pg_err)
    }

    async fn shipped_lines(
        &self,
        server_id: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<ShippedLine>> {
        let conn = self.pool.get().await?;
        let rows = conn
            .query(
                "SELECT line, prev_hash, hash, body FROM audit_shipped
                 WHERE server_id = $1 AND line > $2 ORDER BY line LIMIT $3",
                &[&server_id, &after, &(limit as i64)],
            )
            .await
            .map_err(pg_err)?;
        rows::all(&rows, rows::shipped)
    }

    async fn shipped_servers(&self) -> Result<Vec<String>> {
        let conn = self.pool.get().await?;
        let rows = conn
            .query(
                "SELECT DISTINCT server_id FROM audit_shipped ORDER BY server_id",
                &[],
            )
            .await
            .map_err(pg_err)?;
        rows.iter().map(|r| r.try_get(0).map_err(pg_err)).collect()
    }

    async fn prune_history(&self, r: &Retention) -> Result<Pruned> {
        let key = self.key;
        transact!(self, |tx| prune::prune(&tx, r, key.as_ref()))
    }

    async fn event_horizon(&self) -> Result<i64> {
        let conn = self.pool.get().await?;
        let v = prune::meta(&*conn, "event_horizon").await?;
        Ok(v.and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    async fn audit_anchors(&self) -> Result<AuditAnchors> {
        let conn = self.pool.get().await?;
        AuditAnchors::from_json(prune::meta(&*conn, "audit_anchors").await?.as_deref())
    }

    async fn delivery_cursor(&self, target: &str) -> Result<Option<i64>> {
        self.cursor(target).await
    }

    async fn advance_delivery(
        &self,
        target: &str,
        after: i64,
        dead: Option<crate::NewDeadLetter>,
    ) -> Result<()> {
        self.advance(target, after, dead).await
    }

    async fn dead_letters(&self, q: &crate::DeadLetterQuery) -> Result<Vec<crate::DeadLetter>> {
        self.letters(q).await
    }

    async fn redrive_dead_letters(&self, account_id: &str, ids: &[i64]) -> Result<usize> {
        self.redrive(account_id, ids).await
    }

    async fn settle_dead_letter(&self, id: i64, failure: Option<String>) -> Result<()> {
        self.settle(id, failure).await
    }

    async fn meta_get(&self, key: &str) -> Result<Option<String>> {
        self.meta_value(key).await
    }

    async fn meta_list(&self, prefix: &str) -> Result<Vec<(String, String)>> {
        self.meta_prefixed(prefix).await
    }

    async fn meta_put(&self, key: &str, value: Option<&str>) -> Result<()> {
        self.meta_write(key, value).await
    }

    async fn meta_swap(&self, key: &str, from: &str, to: &str) -> Result<bool> {
        self.meta_cas(key, from, to).await
    }

    async fn root_sealed(
        &self,
        what: RootSealed,
        after: &str,
        limit: usize,
    ) -> Result<Vec<SealedRow>> {
        self.sealed_page(what, after, limit).await
    }

    async fn reseal(&self, what: RootSealed, id: &str, old: &[u8], new: &[u8]) -> Result<bool> {
        self.reseal_one(what, id, old, new).await
    }

    async fn check_root_key(&self, fingerprint: &str) -> Result<bool> {
        let conn = self.pool.get().await?;
        // One statement: of servers starting at once, the first to insert wins
        // and the others compare with what it recorded.
        let row = conn
            .query_one(
                "WITH ins AS (INSERT INTO coffer_meta (key, value) VALUES ('root_key_check', $1)
                              ON CONFLICT (key) DO NOTHING RETURNING value)
                 SELECT COALESCE((SELECT value FROM ins),
                                 (SELECT value FROM coffer_meta WHERE key = 'root_key_check'))",
                &[&fingerprint],
            )
            .await
            .map_err(pg_err)?;
        let mut recorded: Option<String> = row.try_get(0).map_err(pg_err)?;
        if recorded.is_none() {
            // Another server inserted it at the same moment: the insert waited
            // for its commit and did nothing, but this statement's snapshot is
            // older than that commit. A new statement sees it.
            recorded = conn
                .query_opt(
                    "SELECT value FROM coffer_meta WHERE key = 'root_key_check'",
                    &[],
                )
                .await
                .map_err(pg_err)?
                .map(|r| r.get(0));
        }
        Ok(recorded.as_deref() == Some(fingerprint))
    }

    fn change_signal(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        Some(self.signal.changes())
    }

    async fn lead(&self) -> Result<bool> {
        self.signal.lead().await
    }

    async fn close(&self) -> Result<()> {
        self.signal.stop().await;
        self.pool.close();
        Ok(())
    }
}

/// Throwaway databases on a real PostgreSQL server, for tests: each test gets
/// its own, so tests run in parallel and start empty.
#[cfg(any(test, feature = "conformance"))]
pub mod testing {
    use super::pool;

    /// The server tests use: `COFFER_TEST_DATABASE_URL`, or the local one.
    pub fn server_url() -> String {
        std::env::var("COFFER_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
    }

    /// Creates an empty database and returns its URL.
    pub async fn fresh_database() -> String {
        let admin = server_url();
        let cfg = super::Target::new(&admin, None).expect("COFFER_TEST_DATABASE_URL parses");
        let client = pool::connect(&cfg)
            .await
            .unwrap_or_else(|e| panic!("tests need PostgreSQL at {}: {e}", super::redact(&admin)));
        drop_orphans(&client).await;
        let name = format!("coffer_test_{}", uuid_like());
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create test database");
        match admin.rsplit_once('/') {
            Some((base, _)) if admin.contains("://") => format!("{base}/{name}"),
            _ => format!("{admin} dbname={name}"),
        }
    }

    /// Drops a database made by [`fresh_database`] (its connections are ended).
    pub async fn drop_database(url: &str) {
        let cfg = super::Target::new(&server_url(), None).expect("URL parses");
        let Some(name) = url.rsplit(['/', '=']).next() else {
            return;
        };
        if let Ok(client) = pool::connect(&cfg).await {
            let _ = client
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
        }
    }

    /// Drops the databases of test processes that are gone (a failed test
    /// leaves its database behind): names carry the process id that made them.
    async fn drop_orphans(client: &tokio_postgres::Client) {
        let Ok(rows) = client
            .query(
                "SELECT datname FROM pg_database WHERE datname LIKE 'coffer_test_%'",
                &[],
            )
            .await
        else {
            return;
        };
        for r in rows {
            let name: String = r.get(0);
            let pid = name
                .trim_start_matches("coffer_test_")
                .split('_')
                .next()
                .and_then(|p| p.parse::<u32>().ok());
            let alive = pid.is_some_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists());
            if !alive {
                let _ = client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
            }
        }
    }

    fn uuid_like() -> String {
        use std::time::{SystemTime, UNIX_EPOCH};
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{}_{nanos}_{n}", std::process::id())
    }
}
