//! The SQLite schema and its migration chain.
//!
//! `meta.schema_version` records how far the chain has run. Each step runs in one
//! transaction with the version bump, so a crash mid-migration leaves the old
//! schema intact. A database from a newer build is refused, never modified.

use crate::{Result, StoreError};
use rusqlite::{Connection, OptionalExtension};

/// Each entry takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 0 -> 1: the initial schema.
    r"
    CREATE TABLE accounts (
        account_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        created_ms INTEGER NOT NULL
    );
    CREATE TABLE credentials (
        access_key_id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL,
        principal_arn TEXT NOT NULL,
        wrapped_secret BLOB NOT NULL,
        status TEXT NOT NULL,
        created_ms INTEGER NOT NULL
    );
    CREATE TABLE kms_keys (
        account_id TEXT NOT NULL,
        region TEXT NOT NULL,
        key_id TEXT NOT NULL,
        arn TEXT NOT NULL,
        alias TEXT NOT NULL,
        wrapped BLOB NOT NULL,
        created_ms INTEGER NOT NULL,
        PRIMARY KEY (account_id, region, key_id),
        UNIQUE (account_id, region, alias)
    );
    CREATE TABLE secrets (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        account_id TEXT NOT NULL,
        region TEXT NOT NULL,
        name TEXT NOT NULL,
        arn TEXT NOT NULL UNIQUE,
        description TEXT,
        kms_key_id TEXT,
        kind TEXT,
        created_ms INTEGER NOT NULL,
        last_changed_ms INTEGER NOT NULL,
        last_accessed_ms INTEGER,
        deleted_ms INTEGER,
        purge_after_ms INTEGER,
        tags TEXT,
        attrs TEXT NOT NULL,
        revision INTEGER NOT NULL,
        UNIQUE (account_id, region, name)
    );
    CREATE INDEX secrets_purge ON secrets (purge_after_ms) WHERE purge_after_ms IS NOT NULL;
    -- WITHOUT ROWID clusters a secret's versions together, so loading a secret is
    -- one range scan; `seq` keeps their creation order.
    CREATE TABLE versions (
        secret_id INTEGER NOT NULL REFERENCES secrets (id),
        version_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        created_ms INTEGER NOT NULL,
        last_accessed_ms INTEGER,
        labels TEXT NOT NULL,
        value_kind TEXT NOT NULL,
        kms_key_id TEXT NOT NULL,
        wrapped_data_key BLOB NOT NULL,
        ciphertext BLOB NOT NULL,
        PRIMARY KEY (secret_id, version_id)
    ) WITHOUT ROWID;
    CREATE TABLE audit (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        at_ms INTEGER NOT NULL,
        body TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        at_ms INTEGER NOT NULL,
        account_id TEXT NOT NULL,
        region TEXT NOT NULL,
        body TEXT NOT NULL
    );
    ",
    // 1 -> 2: IAM users, roles and managed policies, and access keys by owner.
    r"
    CREATE TABLE iam (
        account_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        body TEXT NOT NULL,
        revision INTEGER NOT NULL,
        PRIMARY KEY (account_id, kind, name)
    ) WITHOUT ROWID;
    CREATE INDEX credentials_owner ON credentials (principal_arn);
    ",
    // 2 -> 3: an index per listing order, so a page walks its order from the
    // page's position instead of sorting the account.
    r"
    CREATE INDEX secrets_by_created ON secrets (account_id, region, created_ms, id);
    CREATE INDEX secrets_by_changed ON secrets (account_id, region, last_changed_ms, id);
    CREATE INDEX secrets_by_accessed ON secrets (account_id, region, COALESCE(last_accessed_ms, 0), id);
    ",
    // 3 -> 4: the word index of ListSecrets' filters (see `words`), filled
    // from the secrets there by `backfill_words`.
    r"
    CREATE TABLE secret_words (
        account_id TEXT NOT NULL,
        region TEXT NOT NULL,
        field TEXT NOT NULL,
        word TEXT NOT NULL,
        secret_id INTEGER NOT NULL,
        PRIMARY KEY (account_id, region, field, word, secret_id)
    ) WITHOUT ROWID;
    CREATE INDEX secret_words_by_secret ON secret_words (secret_id);
    ",
    // 4 -> 5: a secret's labelled versions found without reading the others,
    // and its oldest versions by age, for pruning.
    r"
    CREATE INDEX versions_labelled ON versions (secret_id, seq) WHERE labels <> '[]';
    CREATE INDEX versions_by_age ON versions (secret_id, created_ms);
    CREATE INDEX versions_by_seq ON versions (secret_id, seq);
    ",
    // 5 -> 6: the event bus's delivery: each target's place in the outbox,
    // and the events targets gave up on.
    r"
    CREATE TABLE delivery_cursors (target TEXT PRIMARY KEY, after_seq INTEGER NOT NULL) WITHOUT ROWID;
    CREATE TABLE dead_letters (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        account_id TEXT NOT NULL,
        target TEXT NOT NULL,
        event_seq INTEGER NOT NULL,
        event TEXT NOT NULL,
        error TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        at_ms INTEGER NOT NULL,
        redrive INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX dead_letters_by_account ON dead_letters (account_id, id);
    CREATE INDEX dead_letters_by_target ON dead_letters (target, id);
    ",
    // 6 -> 7: words split as AWS splits them (also at `lower→Upper` changes);
    // the index is filled again from Rust.
    r"
    DELETE FROM secret_words;
    ",
];

/// The steps after which the word index is filled from Rust.
const WORDS_VERSIONS: [i64; 2] = [4, 7];

fn backfill_words(tx: &rusqlite::Transaction<'_>) -> Result<()> {
    let sql = format!("SELECT {} FROM secrets", super::rows::SECRET_COLS);
    let rows = tx
        .prepare(&sql)
        .and_then(|mut st| {
            st.query_map([], super::rows::secret_row)?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(backend)?;
    for row in &rows {
        super::writer::write_words(tx, row.id, row)?;
    }
    Ok(())
}

pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

pub fn current_version(conn: &Connection) -> Result<i64> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    )
    .map_err(backend)?;
    let v: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(backend)?;
    Ok(v.and_then(|s| s.parse().ok()).unwrap_or(0))
}

/// Runs every migration the database has not seen yet.
pub fn migrate(conn: &mut Connection) -> Result<()> {
    let found = current_version(conn)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction().map_err(backend)?;
        tx.execute_batch(sql).map_err(backend)?;
        if WORDS_VERSIONS.contains(&(i as i64 + 1)) {
            backfill_words(&tx)?;
        }
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [(i as i64 + 1).to_string()],
        )
        .map_err(backend)?;
        tx.commit().map_err(backend)?;
        tracing::info!(version = i + 1, "applied store migration");
    }
    Ok(())
}
