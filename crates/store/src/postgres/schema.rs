//! The PostgreSQL schema and its migration chain.
//!
//! As in SQLite, `meta.schema_version` records how far the chain has run and each
//! step commits with its version bump. Servers of a fleet may start at once: the
//! chain runs under an advisory lock, so one of them migrates and the others find
//! the work done. A database from a newer build is refused, never modified.
//!
//! Names are `COLLATE "C"` so that ORDER BY is byte order, as in SQLite, whatever
//! the database's default collation.

use super::error::pg_err;
use crate::{Result, StoreError};
use tokio_postgres::Client;

/// Held while migrating; any 64-bit number unlikely to collide with an
/// application sharing the database.
const MIGRATION_LOCK: i64 = 0x636f_6666_6572_0001;

/// Each entry takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 0 -> 1: the schema of SQLite's version 2, at once.
    r#"
    CREATE TABLE accounts (
        account_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        created_ms BIGINT NOT NULL
    );
    CREATE TABLE credentials (
        access_key_id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL,
        principal_arn TEXT NOT NULL,
        wrapped_secret BYTEA NOT NULL,
        status TEXT NOT NULL,
        created_ms BIGINT NOT NULL
    );
    CREATE INDEX credentials_owner ON credentials (principal_arn);
    CREATE TABLE kms_keys (
        account_id TEXT NOT NULL,
        region TEXT NOT NULL,
        key_id TEXT NOT NULL,
        arn TEXT NOT NULL,
        alias TEXT NOT NULL,
        wrapped BYTEA NOT NULL,
        created_ms BIGINT NOT NULL,
        PRIMARY KEY (account_id, region, key_id),
        UNIQUE (account_id, region, alias)
    );
    CREATE TABLE secrets (
        id BIGSERIAL PRIMARY KEY,
        account_id TEXT NOT NULL,
        region TEXT NOT NULL,
        name TEXT COLLATE "C" NOT NULL,
        arn TEXT NOT NULL UNIQUE,
        description TEXT,
        kms_key_id TEXT,
        kind TEXT,
        created_ms BIGINT NOT NULL,
        last_changed_ms BIGINT NOT NULL,
        last_accessed_ms BIGINT,
        deleted_ms BIGINT,
        purge_after_ms BIGINT,
        tags TEXT,
        attrs JSONB NOT NULL,
        revision BIGINT NOT NULL,
        UNIQUE (account_id, region, name)
    );
    CREATE INDEX secrets_purge ON secrets (purge_after_ms) WHERE purge_after_ms IS NOT NULL;
    CREATE TABLE versions (
        secret_id BIGINT NOT NULL REFERENCES secrets (id),
        version_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        created_ms BIGINT NOT NULL,
        last_accessed_ms BIGINT,
        labels TEXT NOT NULL,
        value_kind TEXT NOT NULL,
        kms_key_id TEXT NOT NULL,
        wrapped_data_key BYTEA NOT NULL,
        ciphertext BYTEA NOT NULL,
        PRIMARY KEY (secret_id, version_id)
    );
    CREATE TABLE audit (
        seq BIGSERIAL PRIMARY KEY,
        at_ms BIGINT NOT NULL,
        body TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE TABLE events (
        seq BIGSERIAL PRIMARY KEY,
        at_ms BIGINT NOT NULL,
        account_id TEXT NOT NULL,
        region TEXT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE TABLE iam (
        account_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        name TEXT COLLATE "C" NOT NULL,
        body TEXT NOT NULL,
        revision BIGINT NOT NULL,
        PRIMARY KEY (account_id, kind, name)
    );
    "#,
    // 1 -> 2: servers' audit files (read records, refused calls), kept where
    // they outlive the server's disk.
    r"
    CREATE TABLE audit_shipped (
        server_id TEXT NOT NULL,
        line BIGINT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (server_id, line)
    );
    ",
    // 2 -> 3: an index per listing order (see SQLite's 2 -> 3).
    r"
    CREATE INDEX secrets_by_created ON secrets (account_id, region, created_ms, id);
    CREATE INDEX secrets_by_changed ON secrets (account_id, region, last_changed_ms, id);
    CREATE INDEX secrets_by_accessed ON secrets (account_id, region, (COALESCE(last_accessed_ms, 0)), id);
    CREATE INDEX secrets_by_name ON secrets (account_id, region, name, id);
    ",
    // 3 -> 4: the word index of ListSecrets' filters (see `words`), filled
    // from the secrets there by `backfill_words`.
    r#"
    CREATE TABLE secret_words (
        account_id TEXT NOT NULL,
        region TEXT NOT NULL,
        field TEXT NOT NULL,
        word TEXT COLLATE "C" NOT NULL,
        secret_id BIGINT NOT NULL,
        PRIMARY KEY (account_id, region, field, word, secret_id)
    );
    CREATE INDEX secret_words_by_secret ON secret_words (secret_id);
    "#,
    // 4 -> 5: see SQLite's 4 -> 5.
    r"
    CREATE INDEX versions_labelled ON versions (secret_id, seq) WHERE labels <> '[]';
    CREATE INDEX versions_by_age ON versions (secret_id, created_ms);
    CREATE INDEX versions_by_seq ON versions (secret_id, seq);
    ",
    // 5 -> 6: every write updates its secret's row and relabels versions; with
    // the default thresholds (20% of the table) a busy secret's dead rows and
    // index entries piled up for minutes between vacuums (measured: a labelled-
    // versions lookup reading 1,900 dead entries for 2 live ones).
    r"
    ALTER TABLE secrets SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 200);
    ALTER TABLE versions SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 200);
    ALTER TABLE secret_words SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 200);
    ",
    // 6 -> 7: when each server's audit line was kept, for retention. Lines
    // kept before this step count from the migration.
    r"
    ALTER TABLE audit_shipped ADD COLUMN at_ms BIGINT NOT NULL
        DEFAULT (extract(epoch FROM now()) * 1000)::bigint;
    ",
    // 7 -> 8: the event bus's delivery (see SQLite's 5 -> 6).
    r"
    CREATE TABLE delivery_cursors (target TEXT PRIMARY KEY, after_seq BIGINT NOT NULL);
    CREATE TABLE dead_letters (
        id BIGSERIAL PRIMARY KEY,
        account_id TEXT NOT NULL,
        target TEXT NOT NULL,
        event_seq BIGINT NOT NULL,
        event TEXT NOT NULL,
        error TEXT NOT NULL,
        attempts BIGINT NOT NULL,
        at_ms BIGINT NOT NULL,
        redrive BOOLEAN NOT NULL DEFAULT false
    );
    CREATE INDEX dead_letters_by_account ON dead_letters (account_id, id);
    CREATE INDEX dead_letters_by_target ON dead_letters (target, id);
    ",
    // 8 -> 9: see SQLite's 6 -> 7 (words split as AWS splits them).
    r"
    DELETE FROM secret_words;
    ",
    // 9 -> 10: the name index carries the listing orders' keys, so that a
    // name prefix's secrets are sorted into another order from the index
    // alone (see `list::few_names`).
    r"
    DROP INDEX secrets_by_name;
    CREATE INDEX secrets_by_name ON secrets (account_id, region, name, id)
        INCLUDE (created_ms, last_changed_ms, last_accessed_ms, deleted_ms);
    ",
];

/// The step after which the word index is filled from Rust.
const WORDS_VERSIONS: [i64; 2] = [4, 9];

async fn backfill_words(tx: &tokio_postgres::Transaction<'_>) -> Result<()> {
    let sql = format!("SELECT {} FROM secrets s", super::rows::SECRET_COLS);
    let statements = super::prepared::Statements::default();
    let w = super::prepared::Writer::new(tx, &statements);
    for r in tx.query(&sql, &[]).await.map_err(pg_err)? {
        let row = super::rows::secret(&r)?;
        super::write::words(&w, row.id, &row).await?;
    }
    Ok(())
}

pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

pub async fn current_version(c: &Client) -> Result<i64> {
    c.batch_execute(
        "CREATE TABLE IF NOT EXISTS coffer_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    )
    .await
    .map_err(pg_err)?;
    let row = c
        .query_opt(
            "SELECT value FROM coffer_meta WHERE key = 'schema_version'",
            &[],
        )
        .await
        .map_err(pg_err)?;
    Ok(row
        .and_then(|r| r.get::<_, String>(0).parse().ok())
        .unwrap_or(0))
}

/// Runs every migration the database has not seen yet.
pub async fn migrate(c: &mut Client) -> Result<()> {
    c.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(pg_err)?;
    let out = migrate_locked(c).await;
    // The lock is the session's: give it back even when a step failed.
    let unlocked = c
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(pg_err);
    out.and(unlocked.map(|_| ()))
}

async fn migrate_locked(c: &mut Client) -> Result<()> {
    let found = current_version(c).await?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = c.transaction().await.map_err(pg_err)?;
        tx.batch_execute(sql).await.map_err(pg_err)?;
        if WORDS_VERSIONS.contains(&(i as i64 + 1)) {
            backfill_words(&tx).await?;
        }
        tx.execute(
            "INSERT INTO coffer_meta (key, value) VALUES ('schema_version', $1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&(i as i64 + 1).to_string()],
        )
        .await
        .map_err(pg_err)?;
        tx.commit().await.map_err(pg_err)?;
        tracing::info!(version = i + 1, "applied store migration (postgres)");
    }
    Ok(())
}
