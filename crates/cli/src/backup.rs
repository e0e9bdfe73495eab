//! `coffer backup` and `coffer restore`: a consistent copy of the SQLite store
//! taken while the server runs, and putting one back.
//!
//! The copy is SQLite's `VACUUM INTO` on a read-only connection: one read
//! transaction, so the copy is the database as of one commit, and writers go
//! on meanwhile (WAL). It holds what the database holds: sealed values, never
//! plaintext, and never the root key, which must be backed up apart from it.

use anyhow::{bail, Context};
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// What a backup holds, as read back from it.
pub struct Contents {
    pub secrets: i64,
    pub versions: i64,
    pub audit_records: i64,
    pub schema_version: i64,
    root_key_check: Option<String>,
}

impl std::fmt::Display for Contents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} secrets, {} versions, {} audit records, schema version {}",
            self.secrets, self.versions, self.audit_records, self.schema_version
        )
    }
}

/// Opens a database file read-only and checks it through: page integrity,
/// a schema this build reads, and its contents.
pub fn inspect(path: &Path) -> anyhow::Result<Contents> {
    let c = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("opening {}", path.display()))?;
    let ok: String = c.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    if ok != "ok" {
        bail!("{} is damaged: {ok}", path.display());
    }
    let meta = |key: &str| -> anyhow::Result<Option<String>> {
        Ok(
            c.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional()?,
        )
    };
    let schema_version: i64 = meta("schema_version")?
        .and_then(|v| v.parse().ok())
        .context("not a Coffer database (no schema version)")?;
    let supported = coffer_store::sqlite::SCHEMA_VERSION;
    if schema_version > supported {
        bail!(
            "{} has schema version {schema_version}; this build reads up to {supported}",
            path.display()
        );
    }
    let count = |table: &str| -> anyhow::Result<i64> {
        Ok(c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?)
    };
    Ok(Contents {
        secrets: count("secrets")?,
        versions: count("versions")?,
        audit_records: count("audit")?,
        schema_version,
        root_key_check: meta("root_key_check")?,
    })
}

/// Writes a consistent copy of `DATA_DIR/coffer.db` to `out` (0600), checks it,
/// and says what it holds.
pub fn backup(data_dir: &Path, out: &Path) -> anyhow::Result<Contents> {
    let db = data_dir.join("coffer.db");
    if !db.exists() {
        bail!("{} does not exist", db.display());
    }
    if out.exists() {
        bail!("{} exists; give a new file", out.display());
    }
    let c = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    c.busy_timeout(std::time::Duration::from_secs(30))?;
    // SQLite creates the copy with the default mode: it is made in a private
    // directory beside `out`, made 0600 there, then moved into place, so it
    // is never readable by others, even for a moment.
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let private = tempfile::Builder::new()
        .prefix(".coffer-backup-")
        .tempdir_in(parent)
        .with_context(|| format!("making a private directory in {}", parent.display()))?;
    std::fs::set_permissions(private.path(), std::fs::Permissions::from_mode(0o700))?;
    let tmp = private.path().join("coffer.db");
    let target = tmp.to_str().context("the output path must be UTF-8")?;
    c.execute("VACUUM INTO ?1", [target])
        .with_context(|| format!("copying into {}", out.display()))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, out).with_context(|| format!("moving the copy to {}", out.display()))?;
    // A passphrase-derived root key needs its salt (not secret) to be derived
    // again: it travels beside the copy.
    let salt = data_dir.join("root.salt");
    if salt.exists() {
        std::fs::copy(&salt, salt_beside(out))
            .with_context(|| format!("copying {}", salt.display()))?;
    }
    inspect(out)
}

/// Where a backup's root-key salt is kept: `OUT.root.salt`.
pub fn salt_beside(backup: &Path) -> std::path::PathBuf {
    let mut p = backup.as_os_str().to_owned();
    p.push(".root.salt");
    p.into()
}

/// Before a restore: the backup's salt into an empty data directory, so a
/// passphrase derives the key the backup was written under.
pub fn restore_salt(data_dir: &Path, from: &Path) -> anyhow::Result<()> {
    let (src, dst) = (salt_beside(from), data_dir.join("root.salt"));
    if src.exists() && !dst.exists() {
        std::fs::create_dir_all(data_dir)?;
        std::fs::copy(&src, &dst).with_context(|| format!("copying {}", src.display()))?;
        std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// Puts a backup in place as `DATA_DIR/coffer.db`. Refused while a server uses
/// the data directory, when the backup was written under another root key
/// than `root`, and (without `replace`) when a database is there; with
/// `replace` the one there is kept beside it, renamed.
pub fn restore(
    data_dir: &Path,
    from: &Path,
    root: &coffer_crypto::Key256,
    replace: bool,
) -> anyhow::Result<Contents> {
    let contents = inspect(from)?;
    let fingerprint = coffer_core::keyring::root_fingerprint(root);
    if contents
        .root_key_check
        .as_deref()
        .is_some_and(|f| f != fingerprint)
    {
        bail!(
            "{} was written under another root key than this one: restored, no secret in it could be read",
            from.display()
        );
    }
    std::fs::create_dir_all(data_dir)?;
    let _lock = crate::run::lock_data_dir(data_dir)?;
    let db = data_dir.join("coffer.db");
    if db.exists() {
        if !replace {
            bail!(
                "{} exists; add --replace to set it aside and restore",
                db.display()
            );
        }
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        for suffix in ["", "-wal", "-shm"] {
            let f = data_dir.join(format!("coffer.db{suffix}"));
            if f.exists() {
                let aside = data_dir.join(format!("coffer.db.replaced-{stamp}{suffix}"));
                std::fs::rename(&f, &aside)?;
            }
        }
    }
    // Copied beside it, synced, then renamed into place: a crash leaves either
    // no database or the whole backup, never half of one.
    let tmp = data_dir.join("coffer.db.restoring");
    std::fs::copy(from, &tmp)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, &db)?;
    std::fs::File::open(data_dir)?.sync_all()?;
    Ok(contents)
}
